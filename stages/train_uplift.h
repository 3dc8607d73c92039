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

#include <hdf5.h>
#include <jansson.h>
#include <mpi.h>
#include <stdint.h>

#include "uplift.h"

typedef struct {
    mkt_uplift_config config; /* train: the hyper-parameters (src/uplift.h); eval reads them from the model */
    const char *store;        /* campaign store to read */
    const char *model;        /* model file: written by train, read by eval */
    const char *checkpoint;   /* NULL: "<model>.uplift.ckpt.h5" (train only) */
    int64_t checkpoint_every; /* Newton steps between checkpoints; 0: only on SIGTERM/SIGUSR1 */
    int resume;               /* continue from the checkpoint when it exists */
    const char *test_store;   /* eval: measure on every row of this store instead of the hold-out */
} mkt_uplift_options;

/* Sets the defaults of every option (mkt_uplift_config_defaults, a checkpoint
 * every 5 Newton steps; no store or model). */
void mkt_uplift_options_init(mkt_uplift_options *o);

/* Collective. Check o->config (a bad field: one usage error naming it), fit,
 * write /models/uplift into o->model, measure the hold-out;
 * fills `metrics`.  Returns an exit status: MKT_EXIT_PREEMPTED after a
 * SIGTERM/SIGUSR1 made every rank write a checkpoint (docs/checkpoints.md);
 * then metrics has "preempted_at_iteration" and no model was written. */
int mkt_uplift_train(const mkt_uplift_options *o, MPI_Comm comm, json_t *metrics);
/* Collective. Read /models/uplift from o->model and recompute the held-out
 * metrics on o->store (hold-out share, seed and outcome come from the model),
 * or, with o->test_store, on every campaign row of that store (its arms and
 * attributes must be the model's).  Fails on a split without rows. */
int mkt_uplift_eval(const mkt_uplift_options *o, MPI_Comm comm, json_t *metrics);

/* Independent. A gbdt uplift model's (mkt_uplift_model.gbdt) effects of
 * outcome oname ("conversion", ..., or "spend"; logistic: probabilities) at
 * rows X [n x d] of its feature layout: eff [n x (T - 1)], and the control
 * arm's outcome base [n] (NULL: not wanted).  Forests read and checked; a bad
 * one ends the job naming the file and group. */
void mkt_uplift_gbdt_predict(hid_t f, const char *file, int method, const char *oname, int logistic, int T, int d,
                             const double *X, int64_t n, double *eff, double *base);

#endif
