/* train_mf.h — distributed alternating least squares (`mkt train mf`) and
 * its held-out evaluation (`mkt eval mf`).
 *
 * Each rank owns a block of users (rows of /events/by_user) and a block of
 * items (rows of /events/by_item).  After each half-step the updated rows
 * reach the ranks that read them (MPI_Allgatherv of the blocks, or an
 * MPI_Alltoallv of only the referenced rows); every row's solve therefore
 * sees the same inputs on any number of ranks and with either exchange, and
 * the model is bitwise identical for 1, 2, 4... ranks (docs/mf.md).
 * Both functions are Collective. */
#ifndef MKT_MF_TRAIN_H
#define MKT_MF_TRAIN_H

#include <jansson.h>
#include <mpi.h>
#include <stdint.h>

#include "als.h"

typedef struct {
    const char *store, *out, *model;
    int rank, iters, implicit, topk;
    double lambda, alpha, holdout;
    double weight[5]; /* implicit weights of view, click, cart, fav, purchase */
    double weight_rating;    /* implicit: a rating adds weight_rating * value (or weight_rating, see below) */
    double rating_threshold; /* implicit: > 0: only ratings >= it count, each as weight_rating */
    uint64_t seed;
    const char *checkpoint; /* NULL: "<out>.mf.ckpt.h5" */
    int64_t checkpoint_every; /* iterations between checkpoints; 0: only on SIGTERM/SIGUSR1 */
    int resume;             /* continue from the checkpoint when it exists */
    int cg;                 /* implicit: conjugate gradient instead of Cholesky */
    int cg_iters;           /* CG steps per row and half-step (warm start) */
    int exchange;           /* MKT_MF_EXCHANGE_* */
    int has_until;          /* use only the events with ts < until_ts (else all) */
    int64_t until_ts;       /* seconds since the epoch, UTC */
    int lambda_auto;        /* choose lambda by validation RMSE (explicit) before training */
    double valid_fraction;  /* explicit: share of the non-held-out ratings used for validation (0: none) */
    int patience;           /* stop after this many iterations without a better validation error (0: never) */
    const char *test;       /* eval: a test store ingested against the training store (NULL: the hold-out) */
} mkt_mf_options;

/* How a half-step's updated factor rows reach the ranks that need them:
 * chosen by estimated volume, all rows to every rank, or only the rows a
 * rank's observations reference (docs/mf.md). */
/* Implicit mode: about this many users (a hash sample) give their last
 * training item to the validation split (early stopping, lambda auto). */
#define MKT_MF_VALID_USERS 2000

enum {
    MKT_MF_EXCHANGE_AUTO = MKT_ALS_EXCHANGE_AUTO,
    MKT_MF_EXCHANGE_ALLGATHER = MKT_ALS_EXCHANGE_ALLGATHER,
    MKT_MF_EXCHANGE_TARGETED = MKT_ALS_EXCHANGE_TARGETED
};

/* Collective. Train and write /models/mf to opt->out; metrics into `metrics`.
 * Returns 0, or MKT_EXIT_PREEMPTED after a SIGTERM/SIGUSR1 made every rank
 * write a checkpoint (docs/checkpoints.md); then metrics has
 * "preempted_at_iteration" and no model was written. */
int mkt_mf_train_run(const mkt_mf_options *opt, MPI_Comm comm, json_t *metrics);
/* Collective. Held-out metrics of the model opt->model on opt->store (the
 * split and weights are taken from the model's attributes). */
int mkt_mf_eval_run(const mkt_mf_options *opt, MPI_Comm comm, json_t *metrics);

#endif
