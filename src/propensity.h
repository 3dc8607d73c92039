/* propensity.h — the hyper-parameters of the propensity models (`mkt train
 * propensity`): what is predicted, the model's shape, its optimizer and the
 * split of the users, with one place for their defaults and one check.
 *
 * Owns mkt_propensity_config, its defaults and its checks (each message
 * starts with the option's name), and the reading of its text fields (--l2,
 * --hidden).  Must not: call MPI, touch files, print, or hold paths (the
 * stage's options do: stages/train_propensity.h).  The models themselves are
 * src/linmodel.c and src/mlp.c, the optimizers mpi/dptrain.c. */
#ifndef MKT_PROPENSITY_H
#define MKT_PROPENSITY_H

#include <stdint.h>

#include "gbdt.h"

typedef struct {
    int64_t horizon_days;       /* label: a purchase within this many days after the cutoff */
    const char *target;         /* "user" (will the user buy?) or "user_item" (will the user buy this item?) */
    const char *model;          /* "logistic", "mlp" or "gbdt" (boosted trees, target user) */
    const char *hidden;         /* mlp: 1 to 3 hidden layer sizes, e.g. "32,16" */
    const char *optimizer;      /* "lbfgs", "adam" or "sgd" */
    int epochs, patience;       /* passes (lbfgs: iterations); epochs without a better validation loss (0: never) */
    int64_t batch;              /* global minibatch size (adam, sgd) */
    double lr;                  /* learning rate (adam, sgd) */
    const char *l2;             /* a number in [0, 1e6], or "auto" (NULL: auto): chosen by validation log loss */
    double pos_weight;          /* class weight of buyers */
    double valid_fraction;      /* share of users for early stopping and the selection metric */
    double test_fraction;       /* share of users for the reported held-out metrics (> 0) */
    double tol;                 /* lbfgs: stop when |gradient| <= tol·|initial gradient| (0: off) */
    uint64_t seed;              /* of the split, the batches and the initial weights */
    int windows;                /* 1: one cutoff; W > 1: train on W − 1 windows rolled back by the stride */
    int64_t window_stride_days; /* 0: horizon_days; else >= horizon_days (no label leakage) */
    double dropout;             /* mlp: dropout probability of hidden units (adam, sgd) */
    int dp;                     /* differentially private steps (adam, sgd) */
    double dp_clip, dp_noise, dp_delta; /* clip norm C, noise multiplier σ, δ of the reported (ε, δ) */
    int negatives;              /* user_item: sampled negative items per purchased item */
    mkt_gbdt_config gbdt;       /* model gbdt: the trees (src/gbdt.h; its seed is not used: --seed is) */
} mkt_propensity_config;

void mkt_propensity_config_defaults(mkt_propensity_config *c);
/* NULL if the configuration is usable, else a message that starts with the
 * bad option's name, e.g. "model: 'forest' is not logistic, mlp or gbdt" (a
 * thread-local buffer, valid until the next call on the same thread). */
const char *mkt_propensity_check_config(const mkt_propensity_config *c);

/* 1 when l2 is chosen by validation (l2 NULL or "auto"). */
int mkt_propensity_l2_auto(const mkt_propensity_config *c);
/* The fixed l2 of a checked configuration that is not auto. */
double mkt_propensity_l2_value(const mkt_propensity_config *c);
/* The hidden layer sizes of "32,16" into sizes (MKT_MLP_MAX_HIDDEN of them);
 * returns their number, or -1 if s is not 1 to MKT_MLP_MAX_HIDDEN sizes in
 * [1, 4096]. */
int mkt_propensity_parse_hidden(const char *s, int *sizes);

#endif
