/* mf_train.h — distributed alternating least squares (`mkt train mf`) and
 * its held-out evaluation (`mkt eval mf`).
 *
 * Each rank owns a block of users (rows of /events/by_user) and a block of
 * items (rows of /events/by_item).  After each half-step the updated block is
 * MPI_Allgatherv'd so every rank holds all factors of the other side; every
 * row's solve therefore sees the same inputs on any number of ranks and the
 * model is bitwise identical for 1, 2, 4... ranks (docs/mf.md).
 * Both functions are Collective. */
#ifndef MKT_MF_TRAIN_H
#define MKT_MF_TRAIN_H

#include <jansson.h>
#include <mpi.h>
#include <stdint.h>

typedef struct {
    const char *store, *out, *model;
    int rank, iters, implicit, topk;
    double lambda, alpha, holdout;
    double weight[5]; /* implicit weights of view, click, cart, fav, purchase */
    uint64_t seed;
    const char *checkpoint; /* NULL: "<out>.mf.ckpt.h5" */
    int64_t checkpoint_every; /* iterations between checkpoints; 0: only on SIGTERM/SIGUSR1 */
    int resume;             /* continue from the checkpoint when it exists */
} mkt_mf_options;

/* Collective. Train and write /models/mf to opt->out; metrics into `metrics`.
 * Returns 0, or MKT_EXIT_PREEMPTED after a SIGTERM/SIGUSR1 made every rank
 * write a checkpoint (docs/checkpoints.md); then metrics has
 * "preempted_at_iteration" and no model was written. */
int mkt_mf_train_run(const mkt_mf_options *opt, MPI_Comm comm, json_t *metrics);
/* Collective. Held-out metrics of the model opt->model on opt->store (the
 * split and weights are taken from the model's attributes). */
int mkt_mf_eval_run(const mkt_mf_options *opt, MPI_Comm comm, json_t *metrics);

#endif
