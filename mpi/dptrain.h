/* dptrain.h — data-parallel training of a binary classifier whose weights
 * are bitwise identical on any number of ranks.
 *
 * Owns minibatch selection, the exact gradient reduction, the optimizers
 * (SGD with momentum, Adam, full-batch L-BFGS), L2, class weights and early
 * stopping on validation log loss.  Must not define models (src/linmodel.c,
 * src/mlp.c) or read files.
 *
 * Determinism: each rank holds a contiguous slice of the global training
 * examples (rank r's rows follow rank r−1's).  Minibatches are slices of a
 * permutation of global example indices drawn from (seed, MKT_STREAM_SPLIT,
 * epoch), the same on every rank.  Each rank evaluates the per-example
 * gradients of its own members of the batch (a per-example result depends
 * only on the parameters and the example), adds weight·gradient into mkt_xsum
 * accumulators, and one mkt_allreduce_xsum per step merges them exactly.
 * Every rank then holds the same gradient bits and applies the same update. */
#ifndef MKT_DPTRAIN_H
#define MKT_DPTRAIN_H

#include <jansson.h>
#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

/* A model: loss of one example and, when grad is not NULL, its gradient
 * (overwriting grad[0..nparams)); work has work_doubles scratch doubles. */
typedef struct {
    const void *ctx;
    int64_t nparams;
    size_t work_doubles;
    double (*loss_grad)(const void *ctx, const double *params, const double *x, int y, double *grad, double *work);
    double (*logit)(const void *ctx, const double *params, const double *x, double *work);
} mkt_dp_model;

/* This rank's rows: x [n × d] row-major, labels y (0/1). */
typedef struct {
    const double *x;
    const int *y;
    int64_t n;
    int d;
} mkt_dp_data;

typedef enum { MKT_DP_SGD = 0, MKT_DP_ADAM = 1, MKT_DP_LBFGS = 2 } mkt_dp_optimizer;

typedef struct {
    mkt_dp_optimizer optimizer;
    int epochs;         /* L-BFGS: iterations */
    int64_t batch;      /* global minibatch size (SGD, Adam) */
    double lr;          /* step size (SGD, Adam) */
    double momentum;    /* SGD */
    double beta1, beta2, adam_eps;
    double l2;          /* adds l2/2 · ||params||² to the mean loss */
    double pos_weight;  /* weight of label-1 examples (label 0: 1) */
    int patience;       /* epochs without better validation loss before stopping; 0: never stop early */
    int lbfgs_memory;
    uint64_t seed;
    const char *stage;  /* progress line prefix; NULL: quiet */
} mkt_dp_config;

void mkt_dp_config_defaults(mkt_dp_config *c);

typedef struct {
    int epochs_run, best_epoch;  /* best_epoch: 1-based epoch whose parameters were kept (0: initial) */
    double train_loss;           /* weighted mean training loss (with L2) at the kept parameters' epoch */
    double val_loss, val_auc;    /* at the kept parameters; NAN without validation rows */
    double seconds;
    double examples_per_second;  /* training examples processed per second, all ranks together */
} mkt_dp_result;

/* Collective. Train `params` (initialized by the caller) on `train`, early
 * stopping on `valid` (may have no rows anywhere).  Appends one object per
 * epoch {epoch, train_loss, val_loss, val_auc, seconds} to `history` (a JSON
 * array, may be NULL).  The final params are the best by validation loss. */
void mkt_dp_train(const mkt_dp_model *m, const mkt_dp_config *c, const mkt_dp_data *train,
                  const mkt_dp_data *valid, double *params, mkt_dp_result *res, json_t *history, MPI_Comm comm);

/* Collective. Probabilities of every rank's rows, gathered on every rank in
 * rank order (global row order): *p and *y malloc'd, *n the global count. */
void mkt_dp_predict_all(const mkt_dp_model *m, const double *params, const mkt_dp_data *data, double **p, int **y,
                        int64_t *n, MPI_Comm comm);

/* Collective. Exact weighted-mean loss over all ranks' rows of data (class
 * weights as in c, no L2). */
double mkt_dp_mean_loss(const mkt_dp_model *m, const mkt_dp_config *c, const double *params,
                        const mkt_dp_data *data, MPI_Comm comm);

#endif
