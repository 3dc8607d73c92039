/* gbdt_train.h — data-parallel training of gradient-boosted trees whose
 * forest is bitwise identical on any number of ranks (docs/trees.md).
 *
 * Each rank holds some rows.  The trainer cuts every feature into at most
 * cfg->max_bins bins from a sample of rows chosen by a hash of their ids
 * (so the same sample on any ranks), gathered and sorted on every rank;
 * builds, per tree level, the gradient/hessian histograms of its own rows for
 * the smaller child of each split (the larger one is the parent minus it),
 * merges them with one MPI_Allreduce of integers (gradients quantized with a
 * power-of-two scale chosen from global maxima), and every rank then finds
 * the same splits from the same sums.  Row and column subsamples are drawn
 * from (seed, round, row id) and (seed, round).  Losses for early stopping
 * and the learning curve are exact sums (mkt_xsum).
 *
 * Owns the sketch, the growth of a tree, the boosting loop, early stopping
 * and the state a checkpoint needs.  Must not: read or write files, define
 * the model's layout (src/gbdt.h). */
#ifndef MKT_GBDT_TRAIN_H
#define MKT_GBDT_TRAIN_H

#include <mpi.h>
#include <stdint.h>

#include "gbdt.h"

/* This rank's rows. */
typedef struct {
    const double *x;   /* [n × d] row-major; NaN = missing */
    const double *y;   /* label: 0/1 for the logistic loss, any finite value for squared */
    const double *w;   /* NULL: every row weighs 1; else weights >= 0 */
    const int64_t *id; /* NULL: the row's global position (rank r's rows follow rank r − 1's); else an id
                          independent of the rank count, unique per row */
    int64_t n;         /* rows of this rank; training rows at most 2^32 − 1 per rank */
    int d;
} mkt_gbdt_data;

/* One round's figures, handed to the history callback. */
typedef struct {
    int round;         /* trees so far (1-based round) */
    double train_loss; /* weighted mean loss of the training rows (log loss or squared error) */
    double val_loss;   /* NAN without validation rows */
    double seconds;    /* since training started */
} mkt_gbdt_round;
typedef void (*mkt_gbdt_history_fn)(const mkt_gbdt_round *r, void *ctx);

/* The whole state between two rounds: with it training continues with the
 * same bits (checkpoints).  model holds every tree grown so far. */
typedef struct {
    mkt_gbdt_model *model;
    int rounds;      /* trees grown */
    int best_round;  /* trees of the best model by validation loss (rounds without validation) */
    double best_val; /* its validation loss (INFINITY before any) */
    int since_best;
} mkt_gbdt_state;

/* Called on every rank after each round; return 1 to stop (all ranks must
 * agree).  The state is the one to save. */
typedef int (*mkt_gbdt_round_hook)(void *arg, const mkt_gbdt_state *st);

typedef struct {
    const char *stage;                /* progress line prefix; NULL: quiet */
    const mkt_gbdt_state *resume;     /* NULL, or a saved state whose model has resume->rounds trees */
    mkt_gbdt_round_hook after_round;  /* NULL, or called after each round */
    void *hook_arg;
    mkt_gbdt_history_fn history;      /* NULL, or called after each round */
    void *history_ctx;
} mkt_gbdt_hooks;

typedef struct {
    int stopped;                /* 1: after_round stopped training (the model keeps every tree grown) */
    int rounds_run, best_round; /* trees grown; trees kept */
    double train_loss, val_loss; /* at the kept model; val_loss NAN without validation rows */
    double base_score;
    double seconds, seconds_sketch;
    int64_t train_rows;         /* all ranks */
    double rows_per_second;     /* training rows × rounds per second, all ranks together */
    int bins_max;               /* the largest bin count of a feature */
} mkt_gbdt_result;

/* Collective. Train a forest on train, early stopping on valid (may have no
 * rows anywhere).  *model is initialized here (free with
 * mkt_gbdt_model_free); with hooks->resume it starts as a copy of the saved
 * model.  The config must have passed mkt_gbdt_check_config. */
void mkt_gbdt_train(const mkt_gbdt_config *c, const mkt_gbdt_data *train, const mkt_gbdt_data *valid,
                    const mkt_gbdt_hooks *hooks, mkt_gbdt_model *model, mkt_gbdt_result *res, MPI_Comm comm);

/* Collective. The exact weighted mean loss of the model on data (all ranks'
 * rows); NAN when there are none. */
double mkt_gbdt_mean_loss(const mkt_gbdt_model *m, const mkt_gbdt_data *data, MPI_Comm comm);

/* Collective. The cuts of every feature from data, as the trainer computes
 * them: cuts [d × (max_bins − 1)], ncuts [d].  For tests and reports. */
void mkt_gbdt_sketch(const mkt_gbdt_config *c, const mkt_gbdt_data *data, double *cuts, int *ncuts, MPI_Comm comm);

#endif
