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

#include "mf.h"

/* The options of `mkt train mf` and `mkt eval mf`, filled by their option
 * tables (cli/cmd_mf.c): the model's hyper-parameters (config, defaults
 * mkt_mf_config_defaults) and what the stage itself needs. */
typedef struct {
    const char *store, *out, *model;
    mkt_mf_config config;
    /* the text-valued options, parsed into config by mkt_mf_config_parse
     * (NULL: config's value stands) */
    const char *lambda, *solver, *exchange;
    const char *checkpoint;   /* NULL: "<out>.mf.ckpt.h5" */
    int64_t checkpoint_every; /* iterations between checkpoints; 0: only on SIGTERM/SIGUSR1 */
    int resume;               /* continue from the checkpoint when it exists */
    int64_t until_ts;         /* use only the events with ts < until_ts; MKT_MF_ALL_EVENTS: all */
    const char *test;         /* eval: a test store ingested against the training store (NULL: the hold-out) */
} mkt_mf_options;

/* until_ts of a run that uses every event. */
#define MKT_MF_ALL_EVENTS INT64_MIN

/* The options' defaults (config by mkt_mf_config_defaults, every event). */
void mkt_mf_options_defaults(mkt_mf_options *o);

/* Implicit mode: about this many users (a hash sample) give their last
 * training item to the validation split (early stopping, lambda auto). */
#define MKT_MF_VALID_USERS 2000

/* Collective. Train and write /models/mf to opt->out; metrics into `metrics`.
 * Returns 0, or MKT_EXIT_PREEMPTED after a SIGTERM/SIGUSR1 made every rank
 * write a checkpoint (docs/checkpoints.md); then metrics has
 * "preempted_at_iteration" and no model was written. */
int mkt_mf_train_run(const mkt_mf_options *opt, MPI_Comm comm, json_t *metrics);
/* Collective. Held-out metrics of the model opt->model on opt->store (the
 * split and weights are taken from the model's attributes). */
int mkt_mf_eval_run(const mkt_mf_options *opt, MPI_Comm comm, json_t *metrics);

#endif
