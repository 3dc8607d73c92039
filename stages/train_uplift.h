/* train_uplift.h — the `train uplift` and `eval uplift` stages: fit per-user
 * promotion effects (T-, S-, X-, DR-learner, transformed outcome) on a store's
 * randomized campaign log, with exact cross-rank sums, and measure them on a
 * hash-selected hold-out.
 *
 * This module owns reading /campaigns (and /truth when present), the
 * distributed Newton/ridge fits, /models/uplift in the model file and the
 * held-out metrics.  The arithmetic lives in src/uplift.c; option parsing in
 * cli/cmd_uplift.c.  It must not write to the store. */
#ifndef MKT_UPLIFT_TRAIN_H
#define MKT_UPLIFT_TRAIN_H

#include <jansson.h>
#include <mpi.h>
#include <stdint.h>

typedef struct {
    const char *store;   /* campaign store to read */
    const char *model;   /* model file: written by train, read by eval */
    const char *outcome; /* binary outcome: "conversion" or "visit" */
    int method;          /* uplift_method */
    double holdout;      /* share of users held out */
    double l2;           /* ridge penalty (all coefficients but the intercept) */
    double l2_effect;    /* < 0: l2; else the penalty of the effect regressions (transformed outcome, X stage 2,
                          * DR's final ridge), whose responses are on another scale than the outcome models' */
    uint64_t seed;       /* hold-out hash seed */
    int squares;         /* add squares of standardized non-binary numeric attributes */
    int max_iter;        /* Newton iterations at most */
    double tol;          /* stop when max |step| < tol */
    const char *checkpoint;   /* NULL: "<model>.uplift.ckpt.h5" (train only) */
    int64_t checkpoint_every; /* Newton steps between checkpoints; 0: only on SIGTERM/SIGUSR1 */
    int resume;               /* continue from the checkpoint when it exists */
    double valid_fraction;    /* share of the non-held-out users in the validation split (0: none) */
    int folds;                /* cross-fitting folds of the DR-learner (>= 2) */
    const char *test_store;   /* eval: measure on every row of this store instead of the hold-out */
    int observational;        /* 1: arms were targeted, not randomized: fitted propensities, overlap trimming */
    double trim;              /* observational: rows whose propensity is outside [trim, 1 - trim] are left out */
} mkt_uplift_options;

/* Collective. Fit, write /models/uplift into o->model, measure the hold-out;
 * fills `metrics`.  Returns an exit status: MKT_EXIT_PREEMPTED after a
 * SIGTERM/SIGUSR1 made every rank write a checkpoint (docs/checkpoints.md);
 * then metrics has "preempted_at_iteration" and no model was written. */
int mkt_uplift_train(const mkt_uplift_options *o, MPI_Comm comm, json_t *metrics);
/* Collective. Read /models/uplift from o->model and recompute the held-out
 * metrics on o->store (hold-out share, seed and outcome come from the model),
 * or, with o->test_store, on every campaign row of that store (its arms and
 * attributes must be the model's).  Fails on a split without rows. */
int mkt_uplift_eval(const mkt_uplift_options *o, MPI_Comm comm, json_t *metrics);

#endif
