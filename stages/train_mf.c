/* train_mf.c — the ALS training stage (`mkt train mf`): the options, the
 * training loop around the half-steps of mpi/als.c (explicit: biased model
 * r̂ = μ + b_u + b_i + p_u·q_i; implicit: confidence 1 + α·r_ui), early
 * stopping on the validation split, --lambda auto, checkpoints and resume,
 * the metrics, and the /models/mf group.
 *
 * The data are read by stages/mkt_als_data.c, the held-out reports are in
 * stages/eval_mf.c, the factor exchange and the exact reductions in
 * mpi/als.c, the per-row arithmetic in src/mf.c.  It must not call MPI
 * collectives of its own for the factors (mpi/als.c owns the exchange). */
#include "mf_stage.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "h5store.h"
#include "iocheck.h"
#include "metrics_json.h"
#include "mf.h"
#include "model_io.h"
#include "schema.h"

#define STAGE MKT_MF_STAGE
_Static_assert((int)MKT_MF_EXCHANGE_AUTO == (int)MKT_ALS_EXCHANGE_AUTO &&
                   (int)MKT_MF_EXCHANGE_ALLGATHER == (int)MKT_ALS_EXCHANGE_ALLGATHER &&
                   (int)MKT_MF_EXCHANGE_TARGETED == (int)MKT_ALS_EXCHANGE_TARGETED,
               "the config's exchange is passed to mkt_als_plans_build as it is");
#define ITEM_SALT (1ULL << 40) /* item rows draw from stream index ITEM_SALT + i */

/* Early stopping on the validation split: the factors at the iteration
 * with the lowest validation loss so far are kept (full matrices, as the
 * live ones), and training stops `patience` iterations after it (0: runs
 * every iteration).  Unused when there is no validation split. */
typedef struct {
    int patience;
    int best_it;      /* 0: no iteration evaluated yet */
    double best_loss; /* validation loss at best_it: explicit RMSE, implicit minus NDCG@topk */
    double *X, *Y;    /* factors at best_it */
} mf_early;

/* Forget the best iteration (before a new training from scratch). */
static void early_reset(mf_early *e)
{
    e->best_it = 0;
    e->best_loss = INFINITY;
}

static void early_init(mf_early *e, int patience, int64_t U, int64_t I, int s)
{
    e->patience = patience;
    early_reset(e);
    e->X = mkt_xmalloc(sizeof(double) * (size_t)(U * s + 1));
    e->Y = mkt_xmalloc(sizeof(double) * (size_t)(I * s + 1));
}

static void early_free(mf_early *e)
{
    free(e->X);
    free(e->Y);
}

/* At the end of a training whose last iteration was `last`: the best
 * iteration's factors into X and Y, when another iteration was the best
 * (nothing when e is NULL). */
static void early_restore(const mf_early *e, int last, double *X, double *Y, int64_t U, int64_t I, int s)
{
    if (!e || e->best_it == 0 || e->best_it == last)
        return;
    memcpy(X, e->X, sizeof(double) * (size_t)(U * s));
    memcpy(Y, e->Y, sizeof(double) * (size_t)(I * s));
}

/* The iteration `it` gave validation loss v: keeps its factors when better
 * than the best so far; returns 1 when training should stop. */
static int early_update(mf_early *e, int it, double v, const double *X, const double *Y, int64_t U, int64_t I, int s)
{
    if (e->best_it == 0 || v < e->best_loss) {
        e->best_it = it;
        e->best_loss = v;
        memcpy(e->X, X, sizeof(double) * (size_t)(U * s));
        memcpy(e->Y, Y, sizeof(double) * (size_t)(I * s));
        return 0;
    }
    return e->patience > 0 && it - e->best_it >= e->patience;
}

/* Checkpointing and phase timing of the main training run: NULL for runs
 * that neither checkpoint nor report (the bias-only baseline). */
typedef struct {
    mkt_ckpt *ck;
    const mkt_ckpt_config *cfg;
    int start;               /* iterations already done (resumed from a checkpoint) */
    double solve, exchange;  /* this rank's seconds in the row solves and in the factor exchanges */
    double wall;             /* this rank's seconds in the iterations (before checkpoints) */
    const mkt_als_plan *px, *py; /* exchange of user rows and of item rows */
    double bytes;            /* this rank's received bytes in the exchanges */
} mf_ckpt_ctx;
/* One iteration's entry in the metrics history (appended; the caller may
 * add the iteration's errors to the returned object). */
static json_t *iteration_record(json_t *history, int it, double seconds, const double ph[2])
{
    json_t *h = json_object();
    mkt_metrics_set_int(h, "iteration", it);
    mkt_metrics_set_real(h, "seconds", seconds);
    mkt_metrics_set_real(h, "seconds_solve", ph[0]);
    mkt_metrics_set_real(h, "seconds_exchange", ph[1]);
    json_array_append_new(history, h);
    return h;
}

/* Adds an iteration's phase seconds (solve, exchange) and its wall time
 * since `started` to the run's totals; nothing for untimed runs. */
static void phase_account(mf_ckpt_ctx *ck, const double ph[2], double started)
{
    if (!ck)
        return;
    ck->solve += ph[0];
    ck->exchange += ph[1];
    ck->wall += mkt_now() - started;
}
/* Collective. Everything a continuation needs: both factor matrices in
 * global row order (so any rank count can resume), the history so far and,
 * with early stopping, the best iteration's factors and its error.  ALS
 * keeps no other state between iterations. */
static void write_checkpoint(mf_ckpt_ctx *c, int it, const mkt_als_data *d, int s, const double *Xfull,
                             const double *Yfull, json_t *history, const mf_early *early, MPI_Comm comm)
{
    mkt_h5out w;
    hid_t f = mkt_ckpt_begin(c->ck, &w, "mf", it, c->cfg, comm);
    mkt_ckpt_write_full(f, "user_factors", Xfull, d->U, s, comm);
    mkt_ckpt_write_full(f, "item_factors", Yfull, d->I, s, comm);
    json_t *h = history ? json_incref(history) : json_array();
    mkt_ckpt_write_json(f, "history", h, comm);
    json_decref(h);
    if (early && early->best_it > 0) {
        mkt_ckpt_write_full(f, "best_user_factors", early->X, d->U, s, comm);
        mkt_ckpt_write_full(f, "best_item_factors", early->Y, d->I, s, comm);
        json_t *b = json_pack("{s:i, s:f}", "best_iteration", early->best_it, "best_validation_loss", early->best_loss);
        mkt_ckpt_write_json(f, "early_stopping", b, comm);
        json_decref(b);
    }
    mkt_ckpt_commit(c->ck, &w);
    mkt_log_detail(STAGE, "checkpoint %s written at iteration %d", c->ck->path, it);
}

/* Collective, at the end of iteration it: 1 when the run must stop
 * (preempted; the checkpoint is written). */
static int after_iteration(mf_ckpt_ctx *c, int it, int total, const mkt_als_data *d, int s, double *Xfull,
                           double *Yfull, json_t *history, mf_early *early, MPI_Comm comm)
{
    if (!c || !c->ck)
        return 0;
    int act = mkt_ckpt_step(c->ck, it, total, comm);
    if (act != MKT_CKPT_CONTINUE) {
        /* the checkpoint holds every row (any rank count resumes it) */
        if (c->px->targeted) {
            mkt_als_gather_rows(Xfull, d->U, s, comm);
            if (early && early->best_it > 0)
                mkt_als_gather_rows(early->X, d->U, s, comm);
        }
        if (c->py->targeted) {
            mkt_als_gather_rows(Yfull, d->I, s, comm);
            if (early && early->best_it > 0)
                mkt_als_gather_rows(early->Y, d->I, s, comm);
        }
        write_checkpoint(c, it, d, s, Xfull, Yfull, history, early, comm);
    }
    return act == MKT_CKPT_STOP;
}

/* The start of a training (stride s): the factors are initialized unless
 * resumed, *early becomes NULL without a validation split.  Returns the
 * iterations already done. */
static int als_begin(const mkt_mf_options *o, const mkt_als_data *d, int k, int s, double *Xfull, double *Yfull,
                     const mf_ckpt_ctx *ck, mf_early **early)
{
    int start = ck ? ck->start : 0;
    if (d->n_valid == 0)
        *early = NULL;
    if (start == 0) {
        mkt_mf_init_factors(Xfull, 0, d->U, k, s, o->config.seed, 0);
        mkt_mf_init_factors(Yfull, 0, d->I, k, s, o->config.seed, ITEM_SALT);
    }
    return start;
}

/* Collective. The end of iteration it (stride s) that started at ts: its
 * phase times, and a checkpoint when one is due.  Returns 1 when training
 * stops: preempted (*stopped = it, the checkpoint written) or, with stop,
 * by early stopping (said when verbose). */
static int iteration_end(mf_ckpt_ctx *ck, int it, const mkt_mf_options *o, const mkt_als_data *d, int s, double *Xfull,
                         double *Yfull, json_t *history, mf_early *early, const double ph[2], double ts, int stop,
                         int verbose, int *stopped, MPI_Comm comm)
{
    phase_account(ck, ph, ts);
    if (after_iteration(ck, it, o->config.iters, d, s, Xfull, Yfull, history, early, comm)) {
        *stopped = it;
        return 1;
    }
    if (stop && verbose) /* implicit runs minimise minus the NDCG */
        mkt_log(STAGE, "early stop after iteration %d: no better validation %s for %d iterations (best %.4f "
                "at iteration %d)", it, o->config.implicit ? "NDCG" : "RMSE", early->patience,
                o->config.implicit ? -early->best_loss : early->best_loss, early->best_it);
    return stop;
}

/* Collective. Biased ALS with k factors (k = 0: biases only) and o->config.lambda.
 * Xfull [U x (k+1)] and Yfull [I x (k+1)] are initialized here (unless
 * resumed: then they hold the checkpoint's factors) and hold the model on
 * return on every rank.  With `early` (not NULL, and validation ratings
 * present) each iteration's validation RMSE is measured, training stops
 * early->patience iterations after the best one, and Xfull and Yfull hold
 * the best iteration's factors on return.  history (may be NULL) gets one
 * object per iteration.  Returns 0, or the iteration at which a signal
 * stopped it after a checkpoint. */
static int als_explicit(const mkt_mf_options *o, const mkt_als_data *d, int k, double *Xfull, double *Yfull,
                        json_t *history, int verbose, mf_ckpt_ctx *ck, mf_early *early, MPI_Comm comm)
{
    int s = k + 1, start = als_begin(o, d, k, s, Xfull, Yfull, ck, &early), stopped = 0, last = start;
    const mkt_als_plan *px = ck ? ck->px : NULL, *py = ck ? ck->py : NULL;
    double *bytes = ck ? &ck->bytes : NULL;
    double t0 = mkt_now();
    double ph[2] = {0, 0}; /* solve, exchange seconds of this iteration */
    mkt_als_solver sv = {k, o->config.lambda, 0, 0, 0};
    for (int it = start + 1; it <= o->config.iters; it++) {
        double ts = mkt_now();
        ph[0] = ph[1] = 0;
        mkt_xsum sse; /* the training error of the finished iteration */
        mkt_als_explicit_iteration(d, &sv, Xfull, Yfull, px, py, bytes, ph, &sse, comm);
        last = it;
        int stop = 0;
        double vr = NAN;
        if (early) {
            vr = mkt_als_rows_rmse(d, &d->uvalid, d->n_valid, Xfull + d->ub.begin * s, Yfull, k, comm);
            stop = early_update(early, it, vr, Xfull, Yfull, d->U, d->I, s);
        }
        if (history || verbose) {
            double err[3];
            mkt_als_explicit_errors(d, Xfull + d->ub.begin * s, Yfull, k, &sse, comm, err);
            double now = mkt_now(), per = (now - t0) / (it - start);
            if (verbose)
                mkt_log_detail(STAGE, "iteration %d/%d  train RMSE %.4f  validation RMSE %.4f  held-out RMSE %.4f  %.2fs  ETA %.0fs",
                        it, o->config.iters, err[0], vr, err[1], now - ts, per * (o->config.iters - it));
            if (history) {
                json_t *h = iteration_record(history, it, now - ts, ph);
                mkt_metrics_set_real(h, "train_rmse", err[0]);
                if (early)
                    mkt_metrics_set_real(h, "validation_rmse", vr);
                mkt_metrics_set_real(h, "rmse", err[1]);
                mkt_metrics_set_real(h, "mae", err[2]);
            }
        }
        if (iteration_end(ck, it, o, d, s, Xfull, Yfull, history, early, ph, ts, stop, verbose, &stopped, comm))
            break;
    }
    if (!stopped)
        early_restore(early, last, Xfull, Yfull, d->U, d->I, s);
    return stopped;
}

static int als_implicit(const mkt_mf_options *o, const mkt_als_data *d, int k, double *Xfull, double *Yfull,
                        json_t *history, int verbose, mf_ckpt_ctx *ck, mf_early *early, MPI_Comm comm);

/* Collective. One early-stopped training (explicit or implicit) with this lambda and k
 * factors, no checkpoints: its best validation RMSE (and *best_it). X, Y
 * and e are work space of the run's sizes; px, py the exchange plans (NULL:
 * allgather). */
static double lambda_trial(const mkt_mf_options *o, const mkt_als_data *d, int k, double lambda, double *X, double *Y,
                           mf_early *e, const mkt_als_plan *px, const mkt_als_plan *py, int *best_it, MPI_Comm comm)
{
    mkt_mf_options t = *o;
    t.config.lambda = lambda;
    early_reset(e);
    mf_ckpt_ctx c = {NULL, NULL, 0, 0, 0, 0, px, py, 0};
    if (o->config.implicit)
        als_implicit(&t, d, k, X, Y, NULL, 0, &c, e, comm);
    else
        als_explicit(&t, d, k, X, Y, NULL, 0, &c, e, comm);
    *best_it = e->best_it;
    return e->best_loss;
}

/* The state of a lambda search: the run's inputs and work space, and the
 * best trial so far. */
typedef struct {
    const mkt_mf_options *o;
    const mkt_als_data *d;
    int k;
    double *X, *Y;
    mf_early *e;
    const mkt_als_plan *px, *py;
    json_t *trials; /* one object per trial (may be NULL) */
    const char *what;
    MPI_Comm comm;
    double best_lambda, best_loss;
    int ntried;
} lambda_walk;

/* Collective. One trial of the search: its validation RMSE. */
static double walk_try(lambda_walk *w, double lambda)
{
    int bi;
    double v = lambda_trial(w->o, w->d, w->k, lambda, w->X, w->Y, w->e, w->px, w->py, &bi, w->comm);
    w->ntried++;
    const char *name = w->o->config.implicit ? "validation_ndcg" : "validation_rmse";
    double shown = w->o->config.implicit ? -v : v; /* implicit trials minimise minus the NDCG */
    mkt_log_detail(STAGE, "lambda auto (%s): lambda %.4g  %s %.5f  best iteration %d", w->what, lambda, name, shown, bi);
    if (w->trials)
        json_array_append_new(w->trials, json_pack("{s:f, s:f, s:i}", "lambda", lambda, name, shown, "best_iteration", bi));
    if (v < w->best_loss) {
        w->best_loss = v;
        w->best_lambda = lambda;
    }
    return v;
}

/* Collective. --lambda auto: the lambda with the lowest validation RMSE.
 * A walk over half-decades (0.001 ... 10, starting at 0.1) moves towards
 * the better neighbour until the error rises, then the two quarter-decade
 * points beside the best are tried; every trial is an early-stopped
 * training from the same initial factors, so the choice is the same on any
 * rank count. */
static double lambda_search(lambda_walk *w)
{
    enum { NG = 9 };
    double grid[NG], err[NG];
    /* explicit (weighted lambda): 0.001 ... 10; implicit: 0.01 ... 100 */
    double lo = w->o->config.implicit ? -2.0 : -3.0;
    for (int j = 0; j < NG; j++)
        grid[j] = pow(10.0, lo + 0.5 * j);
    w->best_lambda = 0;
    w->best_loss = INFINITY;
    w->ntried = 0;
    int at = 4; /* 0.1 */
    err[at] = walk_try(w, grid[at]);
    err[at - 1] = walk_try(w, grid[at - 1]);
    err[at + 1] = walk_try(w, grid[at + 1]);
    int dir = err[at - 1] < err[at] && err[at - 1] <= err[at + 1] ? -1 : err[at + 1] < err[at] ? 1 : 0;
    if (dir != 0) {
        at += dir;
        while (at + dir >= 0 && at + dir < NG) {
            err[at + dir] = walk_try(w, grid[at + dir]);
            if (!(err[at + dir] < err[at]))
                break;
            at += dir;
        }
    }
    double centre = w->best_lambda;
    walk_try(w, centre * pow(10.0, -0.25));
    walk_try(w, centre * pow(10.0, 0.25));
    mkt_log(STAGE, "lambda auto (%s): chose %.4g (validation %s %.5f) after %d trials", w->what, w->best_lambda,
            w->o->config.implicit ? "NDCG" : "RMSE", w->o->config.implicit ? -w->best_loss : w->best_loss, w->ntried);
    return w->best_lambda;
}

/* Collective. Implicit ALS with k factors: Xfull [U x k], Yfull [I x k];
 * resuming, early stopping (on minus the validation NDCG@topk) and the
 * return value as for als_explicit. */
static int als_implicit(const mkt_mf_options *o, const mkt_als_data *d, int k, double *Xfull, double *Yfull,
                        json_t *history, int verbose, mf_ckpt_ctx *ck, mf_early *early, MPI_Comm comm)
{
    int start = als_begin(o, d, k, k, Xfull, Yfull, ck, &early), stopped = 0, last = start;
    const mkt_als_plan *px = ck ? ck->px : NULL, *py = ck ? ck->py : NULL;
    double *bytes = ck ? &ck->bytes : NULL;
    double *g = mkt_xmalloc(sizeof(double) * (size_t)(k * k));
    double t0 = mkt_now();
    mkt_als_solver sv = {k, o->config.lambda, o->config.alpha, o->config.cg, o->config.cg_iters};
    for (int it = start + 1; it <= o->config.iters; it++) {
        double ts = mkt_now(), ph[2] = {0, 0};
        mkt_als_implicit_iteration(d, &sv, Xfull, Yfull, g, px, py, bytes, ph, comm);
        last = it;
        int stop = 0;
        double vn = NAN;
        if (early) {
            if (py && py->targeted) /* the validation ranks every item: all item rows, fresh */
                mkt_als_gather_rows(Yfull, d->I, k, comm);
            vn = mkt_als_valid_ndcg(d, Xfull + d->ub.begin * k, Yfull, k, o->config.topk, comm);
            stop = early_update(early, it, -vn, Xfull, Yfull, d->U, d->I, k);
        }
        double now = mkt_now(), per = (now - t0) / (it - start);
        if (verbose)
            mkt_log_detail(STAGE, "iteration %d/%d  validation NDCG@%d %.4f  %.2fs  ETA %.0fs", it, o->config.iters,
                           o->config.topk, vn,
                    now - ts, per * (o->config.iters - it));
        if (history) {
            json_t *h = iteration_record(history, it, now - ts, ph);
            if (early)
                mkt_metrics_set_real(h, "validation_ndcg", vn);
        }
        if (iteration_end(ck, it, o, d, k, Xfull, Yfull, history, early, ph, ts, stop, verbose, &stopped, comm))
            break;
    }
    free(g);
    if (!stopped)
        early_restore(early, last, Xfull, Yfull, d->U, d->I, k);
    return stopped;
}

/* Collective. The biases-only baseline (the same ALS with K = 0) into bx
 * [U] and by [I]: its own lambda chosen the same way when the model's was
 * (o->config.lambda_auto), else o->config.lambda, and the same early stopping.  Returns
 * its lambda. */
double mkt_mf_bias_baseline(const mkt_mf_options *o, const mkt_als_data *d, double *bx, double *by, MPI_Comm comm)
{
    int use_early = d->n_valid > 0;
    mf_early e;
    early_init(&e, o->config.patience, use_early ? d->U : 0, use_early ? d->I : 0, 1);
    mkt_mf_options bo = *o;
    if (o->config.lambda_auto) {
        lambda_walk w = {o, d, 0, bx, by, &e, NULL, NULL, NULL, "biases only", comm, 0, 0, 0};
        bo.config.lambda = lambda_search(&w);
    }
    early_reset(&e);
    als_explicit(&bo, d, 0, bx, by, NULL, 0, NULL, use_early ? &e : NULL, comm);
    early_free(&e);
    return bo.config.lambda;
}

/* Column k (the bias) of rows [b.begin, b.end) of full (stride s) as a
 * block; zeros when s == k (implicit models have no biases). */
static double *block_bias(const double *full, mkt_block b, int s, int k)
{
    int64_t n = b.end - b.begin;
    double *out = mkt_xmalloc(sizeof(double) * (size_t)(n + 1));
    for (int64_t r = 0; r < n; r++)
        out[r] = k < s ? full[(b.begin + r) * s + k] : 0;
    return out;
}

/* The first k columns of rows [b.begin, b.end) of full (stride s) made a
 * contiguous block in place, where those rows start (no copy: the model
 * file is the last reader of the factors).  Returns the block. */
static double *block_factors_in_place(double *full, mkt_block b, int s, int k)
{
    double *dst = full + b.begin * s;
    for (int64_t r = 1; k < s && r < b.end - b.begin; r++)
        memmove(dst + r * k, dst + r * s, sizeof(double) * (size_t)k);
    return dst;
}

/* Collective. /models/mf from the full factor matrices, which it overwrites
 * (each rank's block is compacted in place to k columns). */
static void write_model(const mkt_mf_options *o, const mkt_als_data *d, double *Xfull, double *Yfull, int k, int s,
                        int best_iteration, MPI_Comm comm)
{
    double *ubias = block_bias(Xfull, d->ub, s, k), *ibias = block_bias(Yfull, d->ib, s, k);
    mkt_mf_save_args a = {.model = {d->U, d->I, k, 1, 1, o->config.implicit ? 0 : d->mu},
                          .implicit = o->config.implicit,
                          .until_ts = d->until_ts,
                          .user_factors = block_factors_in_place(Xfull, d->ub, s, k),
                          .user_bias = ubias,
                          .user_begin = d->ub.begin,
                          .user_n = d->ub.end - d->ub.begin,
                          .item_factors = block_factors_in_place(Yfull, d->ib, s, k),
                          .item_bias = ibias,
                          .item_begin = d->ib.begin,
                          .item_n = d->ib.end - d->ib.begin};
    mkt_model_writer w;
    mkt_model_begin(&w, o->out, MKT_MODELS_MF, comm);
    mkt_mf_save(w.file, w.group, &a, comm);
    free(ubias);
    free(ibias);
    static const char *wn[5] = {"weight_view", "weight_click", "weight_cart", "weight_fav", "weight_purchase"};
    mkt_h5_attr_set_double(w.file, w.group, "lambda", o->config.lambda);
    mkt_h5_attr_set_int(w.file, w.group, "iters", o->config.iters);
    mkt_h5_attr_set_double(w.file, w.group, "alpha", o->config.alpha);
    mkt_h5_attr_set_double(w.file, w.group, "holdout", o->config.holdout);
    mkt_h5_attr_set_double(w.file, w.group, "valid_fraction", o->config.valid_fraction);
    mkt_h5_attr_set_double(w.file, w.group, "weight_rating", o->config.weight_rating);
    mkt_h5_attr_set_double(w.file, w.group, "rating_threshold", o->config.rating_threshold);
    mkt_h5_attr_set_int(w.file, w.group, "patience", o->config.patience);
    mkt_h5_attr_set_int(w.file, w.group, "best_iteration", best_iteration);
    mkt_h5_attr_set_int(w.file, w.group, "lambda_auto", o->config.lambda_auto);
    for (int j = 0; j < 5; j++)
        mkt_h5_attr_set_double(w.file, w.group, wn[j], o->config.weight[j]);
    mkt_h5_attr_set_int(w.file, w.group, "seed", (int64_t)o->config.seed);
    mkt_model_end(&w, comm);
}

/* Everything the trained factors depend on: a checkpoint is only resumed by
 * a run with the same values (iters may differ: ALS has no schedule). */
static void mf_config(const mkt_mf_options *o, const mkt_als_data *d, mkt_ckpt_config *cfg)
{
    static const char *wn[5] = {"weight_view", "weight_click", "weight_cart", "weight_fav", "weight_purchase"};
    mkt_ckpt_config_init(cfg);
    /* options first, so a changed option is the key named, then the data */
    mkt_ckpt_config_str(cfg, "state_layout", "mf-1");
    mkt_ckpt_config_path(cfg, "store", o->store);
    mkt_ckpt_config_str(cfg, "implicit", o->config.implicit ? "1" : "0");
    mkt_ckpt_config_int(cfg, "rank", o->config.factors); /* the factor count; "rank" keeps checkpoints resumable */
    mkt_ckpt_config_double(cfg, "lambda", o->config.lambda);
    mkt_ckpt_config_int(cfg, "seed", (int64_t)o->config.seed);
    if (o->config.implicit) {
        mkt_ckpt_config_double(cfg, "alpha", o->config.alpha);
        mkt_ckpt_config_str(cfg, "solver", o->config.cg ? "cg" : "cholesky");
        if (o->config.cg)
            mkt_ckpt_config_int(cfg, "cg_iters", o->config.cg_iters);
        for (int j = 0; j < 5; j++)
            mkt_ckpt_config_double(cfg, wn[j], o->config.weight[j]);
        mkt_ckpt_config_double(cfg, "weight_rating", o->config.weight_rating);
        mkt_ckpt_config_double(cfg, "rating_threshold", o->config.rating_threshold);
    } else {
        mkt_ckpt_config_double(cfg, "holdout", o->config.holdout);
        mkt_ckpt_config_double(cfg, "valid_fraction", o->config.valid_fraction);
        mkt_ckpt_config_int(cfg, "patience", o->config.patience);
    }
    if (o->until_ts != MKT_MF_ALL_EVENTS)
        mkt_ckpt_config_int(cfg, "until_ts", o->until_ts);
    mkt_ckpt_config_int(cfg, "users", d->U);
    mkt_ckpt_config_int(cfg, "items", d->I);
    mkt_ckpt_config_int(cfg, "train_entries", d->n_train);
    mkt_ckpt_config_int(cfg, "heldout_entries", d->n_test);
    if (!o->config.implicit)
        mkt_ckpt_config_double(cfg, "global_mean", d->mu);
}

void mkt_mf_options_defaults(mkt_mf_options *o)
{
    memset(o, 0, sizeof *o);
    mkt_mf_config_defaults(&o->config);
    o->checkpoint_every = 5;
    o->until_ts = MKT_MF_ALL_EVENTS;
}

/* The state of one `mkt train mf` run, from the data read to the model
 * written. */
typedef struct {
    mkt_mf_options o; /* the options, with --lambda auto's choice */
    mkt_als_data d;
    int k, s;         /* factors, and the stride of a factor row (explicit: + the bias) */
    double *X, *Y;    /* full factor matrices (user and item rows) */
    json_t *history, *trials;
    mkt_ckpt ck;
    mkt_ckpt_config cfg;
    mkt_als_plan px, py; /* exchange of user rows and of item rows */
    mf_early early;
    int use_early;       /* there is a validation split */
    mf_ckpt_ctx cc;
} mf_run;

static void run_free(mf_run *r)
{
    json_decref(r->history);
    json_decref(r->trials);
    early_free(&r->early);
    mkt_ckpt_config_free(&r->cfg);
    mkt_ckpt_free(&r->ck);
    mkt_als_plan_free(&r->px);
    mkt_als_plan_free(&r->py);
    free(r->X);
    free(r->Y);
    mkt_mf_data_free(&r->d);
}

/* Collective. Continue from the checkpoint when asked and a matching one
 * exists: the factors, the history and the early-stopping record. */
static void resume_checkpoint(mf_run *r, MPI_Comm comm)
{
    mkt_ckpt *ck = &r->ck;
    mkt_als_data *d = &r->d;
    int s = r->s;
    hid_t cf = mkt_ckpt_open_resume(ck, "mf", &r->cfg, &r->cc.start, comm);
    if (cf < 0)
        return;
    if (r->cc.start > r->o.config.iters)
        mkt_fail_all(MKT_EXIT_USAGE, "checkpoint %s is at iteration %d, past --iters %d", ck->path, r->cc.start,
                     r->o.config.iters);
    mkt_ckpt_read_full(cf, ck->path, "user_factors", r->X, d->U, s);
    mkt_ckpt_read_full(cf, ck->path, "item_factors", r->Y, d->I, s);
    json_t *h = mkt_ckpt_read_json(cf, ck->path, "history");
    if (!json_is_array(h))
        mkt_fail_all(MKT_EXIT_ERROR, "checkpoint %s: history is not a list (corrupt)", ck->path);
    json_array_extend(r->history, h);
    json_decref(h);
    if (r->use_early && mkt_h5_exists(cf, "best_user_factors")) {
        mkt_ckpt_read_full(cf, ck->path, "best_user_factors", r->early.X, d->U, s);
        mkt_ckpt_read_full(cf, ck->path, "best_item_factors", r->early.Y, d->I, s);
        json_t *b = mkt_ckpt_read_json(cf, ck->path, "early_stopping");
        json_t *bi = json_object_get(b, "best_iteration"), *br = json_object_get(b, "best_validation_loss");
        if (!json_is_integer(bi) || !json_is_number(br) || json_integer_value(bi) < 1 ||
            json_integer_value(bi) > r->cc.start)
            mkt_fail_all(MKT_EXIT_ERROR, "checkpoint %s: early_stopping is not a valid record (corrupt)", ck->path);
        r->early.best_it = (int)json_integer_value(bi);
        r->early.best_loss = json_number_value(br);
        json_decref(b);
    }
    mkt_h5_close(cf);
}

/* The validation value the written factors reached, as the selection
 * record of the metrics. */
static void set_selection(json_t *metrics, const char *metric, double value, const char *goal)
{
    json_t *sel = mkt_metrics_child(metrics, "selection");
    mkt_metrics_set_str(sel, "metric", metric);
    mkt_metrics_set_real(sel, "value", value);
    mkt_metrics_set_str(sel, "goal", goal);
    mkt_metrics_set_str(sel, "split", "validation");
}

/* Collective. The trained model's description and quality into metrics
 * (lambda_auto: as the user asked, before the choice). */
static void report_quality(mf_run *r, int lambda_auto, MPI_Comm comm, json_t *metrics)
{
    const mkt_mf_options *o = &r->o;
    const mkt_als_data *d = &r->d;
    int k = r->k, s = r->s;
    mkt_metrics_set_int(metrics, "users", d->U);
    mkt_metrics_set_int(metrics, "items", d->I);
    mkt_metrics_set_int(metrics, "train_entries", d->n_train);
    mkt_metrics_set_int(metrics, "heldout_entries", d->n_test);
    if (d->until_ts != INT64_MIN)
        mkt_metrics_set_int(metrics, "until_ts", d->until_ts);
    mkt_metrics_set_int(metrics, "rank", k); /* the factor count, under the key readers know */
    mkt_metrics_set_int(metrics, "iters", o->config.iters);
    mkt_metrics_set_real(metrics, "lambda", o->config.lambda);
    mkt_metrics_set_str(metrics, "lambda_mode", lambda_auto ? "auto" : "fixed");
    if (o->config.lambda_auto)
        json_object_set(metrics, "lambda_search", r->trials);
    mkt_metrics_set_int(metrics, "validation_entries", d->n_valid);
    mkt_metrics_set_int(metrics, "iterations_run", (int)json_array_size(r->history));
    mkt_metrics_set_str(metrics, "mode", o->config.implicit ? "implicit" : "explicit");
    if (!o->config.implicit) {
        double err[3];
        mkt_als_explicit_errors(d, r->X + d->ub.begin * s, r->Y, k, NULL, comm, err);
        if (r->use_early) {
            double vr = r->early.best_loss; /* the written factors' validation RMSE */
            mkt_metrics_set_real(metrics, "validation_rmse", vr);
            mkt_metrics_set_int(metrics, "best_iteration", r->early.best_it);
            set_selection(metrics, "rmse", vr, "min");
        }
        mkt_metrics_set_real(metrics, "global_mean", d->mu);
        mkt_metrics_set_real(metrics, "train_rmse", err[0]);
        if (d->n_test > 0) {
            mkt_mf_explicit_report(o, d, r->X + d->ub.begin * s, r->Y, k, "held-out", comm, metrics);
        } else {
            mkt_log(STAGE, "no held-out ratings (--holdout 0): score the model on a test store with `mkt eval mf "
                           "--test TEST.h5`");
        }
    } else {
        mkt_metrics_set_real(metrics, "alpha", o->config.alpha);
        mkt_metrics_set_str(metrics, "solver", o->config.cg ? "cg" : "cholesky");
        if (o->config.cg)
            mkt_metrics_set_int(metrics, "cg_iters", o->config.cg_iters);
        if (r->use_early) {
            double vn = -r->early.best_loss; /* the written factors' validation NDCG */
            char key[32];
            snprintf(key, sizeof key, "ndcg@%d", o->config.topk);
            json_t *v = mkt_metrics_child(metrics, "validation");
            mkt_metrics_set_real(v, key, vn);
            mkt_metrics_set_int(metrics, "best_iteration", r->early.best_it);
            set_selection(metrics, key, vn, "max");
        }
        mkt_mf_ranking_report(o, d, r->X + d->ub.begin * s, r->Y, k, s, comm, metrics);
    }
}

/* Collective. Where the time went (t_train: seconds in the iterations, t0:
 * the run's start), the solve FLOPs and the bytes exchanged, into metrics. */
static void report_performance(const mf_run *r, double t_train, double t0, MPI_Comm comm, json_t *metrics)
{
    const mkt_mf_options *o = &r->o;
    const mf_ckpt_ctx *cc = &r->cc;
    int ran = o->config.iters - cc->start, per = ran > 0 ? ran : 1, s = r->s;
    double secs[5] = {t_train / per, mkt_now() - t0, cc->solve / per, cc->exchange / per,
                      (cc->wall - cc->solve - cc->exchange) / per};
    MKT_MPI(MPI_Allreduce(MPI_IN_PLACE, secs, 5, MPI_DOUBLE, MPI_MAX, comm));
    mkt_metrics_set_real(metrics, "seconds_per_iteration", secs[0]);
    mkt_metrics_set_real(metrics, "seconds", secs[1]);
    /* where an iteration's time goes (max over ranks of each rank's mean;
     * exchange includes waiting for the slowest rank), and the solve FLOPs */
    json_t *phase = mkt_metrics_child(metrics, "phase_seconds_per_iteration");
    mkt_metrics_set_real(phase, "solve", secs[2]);
    mkt_metrics_set_real(phase, "exchange", secs[3]);
    mkt_metrics_set_real(phase, "other", secs[4]);
    int cgi = o->config.implicit && o->config.cg ? o->config.cg_iters : 0;
    double flops = mkt_als_half_step_flops(&r->d.utrain, s, o->config.implicit, r->d.I, cgi) +
                   mkt_als_half_step_flops(&r->d.itrain, s, o->config.implicit, r->d.U, cgi);
    MKT_MPI(MPI_Allreduce(MPI_IN_PLACE, &flops, 1, MPI_DOUBLE, MPI_SUM, comm));
    mkt_metrics_set_real(metrics, "solve_flops_per_iteration", flops);
    /* communication: the mode of each side, the bytes all ranks received per
     * iteration (measured), and both modes' volumes estimated from the plans */
    double bytes = cc->bytes;
    MKT_MPI(MPI_Allreduce(MPI_IN_PLACE, &bytes, 1, MPI_DOUBLE, MPI_SUM, comm));
    json_t *ex = mkt_metrics_child(metrics, "exchange");
    mkt_metrics_set_str(ex, "user_rows", r->px.targeted ? "targeted" : "allgather");
    mkt_metrics_set_str(ex, "item_rows", r->py.targeted ? "targeted" : "allgather");
    mkt_metrics_set_real(ex, "bytes_per_iteration", bytes / per);
    mkt_metrics_set_real(ex, "allgather_bytes_per_iteration", r->px.bytes_allgather + r->py.bytes_allgather);
    mkt_metrics_set_real(ex, "targeted_bytes_per_iteration", r->px.bytes_targeted + r->py.bytes_targeted);
    mkt_metrics_set_real(metrics, "solve_gflops_per_second", secs[2] > 0 ? flops / secs[2] / 1e9 : 0);
    int nranks;
    MKT_MPI(MPI_Comm_size(comm, &nranks));
    mkt_metrics_set_real(metrics, "solve_gflops_per_second_per_rank",
                         secs[2] > 0 ? flops / secs[2] / 1e9 / nranks : 0);
}

int mkt_mf_train_run(const mkt_mf_options *opt, MPI_Comm comm, json_t *metrics)
{
    double t0 = mkt_now();
    mf_run run, *r = &run;
    memset(r, 0, sizeof *r);
    r->o = *opt; /* with lambda auto: the lambda found */
    const mkt_mf_options *o = &r->o;
    const char *bad = mkt_mf_config_parse(&r->o.config, opt->lambda, opt->solver, opt->exchange);
    if (!bad)
        bad = mkt_mf_check_config(&o->config);
    if (bad)
        mkt_fail_all(MKT_EXIT_USAGE, "%s", bad); /* the text the option checks always had */
    if (!o->out)
        mkt_fail_all(MKT_EXIT_USAGE, "--out MODEL.h5 is required");
    mkt_als_data *d = &r->d;
    mkt_mf_load(o, comm, d);
    int k = r->k = o->config.factors, s = r->s = o->config.implicit ? k : k + 1;
    mkt_log(STAGE, "%lld users, %lld items, %lld training and %lld held-out %s; %d factors, %d iterations",
            (long long)d->U, (long long)d->I, (long long)d->n_train, (long long)d->n_test,
            o->config.implicit ? "user-item pairs" : "ratings", k, o->config.iters);
    if (o->until_ts != MKT_MF_ALL_EVENTS)
        mkt_log(STAGE, "events before %lld (--until) only", (long long)o->until_ts);
    r->X = mkt_xmalloc(sizeof(double) * (size_t)(d->U * s + 1));
    r->Y = mkt_xmalloc(sizeof(double) * (size_t)(d->I * s + 1));
    r->history = json_array();

    /* checkpoints: resume when asked and a matching one exists */
    mkt_ckpt_init(&r->ck, STAGE, o->checkpoint, o->out, "mf", o->checkpoint_every, o->resume);
    mkt_ckpt_signals_install();
    /* exchange plans: the item rows the user step reads (training and
     * held-out ratings, the Gram chunks), the user rows the item step reads */
    mkt_als_plans_build(d, o->config.implicit, s, o->config.exchange, &r->px, &r->py, comm);
    mkt_mf_memlog("plans");
    /* early stopping on the validation split */
    r->use_early = d->n_valid > 0;
    early_init(&r->early, o->config.patience, r->use_early ? d->U : 0, r->use_early ? d->I : 0, s);
    r->trials = json_array();
    if (o->config.lambda_auto) {
        double ts = mkt_now();
        lambda_walk w = {o, d, k, r->X, r->Y, &r->early, &r->px, &r->py, r->trials, "model", comm, 0, 0, 0};
        r->o.config.lambda = lambda_search(&w);
        mkt_metrics_set_real(metrics, "seconds_lambda_search", mkt_now() - ts);
    }
    mf_config(o, d, &r->cfg);
    r->cc = (mf_ckpt_ctx){&r->ck, &r->cfg, 0, 0, 0, 0, &r->px, &r->py, 0};
    early_reset(&r->early);
    resume_checkpoint(r, comm);
    mkt_metrics_set_str(metrics, "checkpoint", r->ck.path);
    mkt_metrics_set_int(metrics, "resumed_from_iteration", r->cc.start);

    double t1 = mkt_now();
    mf_early *early = r->use_early ? &r->early : NULL;
    int stopped = !o->config.implicit ? als_explicit(o, d, k, r->X, r->Y, r->history, 1, &r->cc, early, comm)
                               : als_implicit(o, d, k, r->X, r->Y, r->history, 1, &r->cc, early, comm);
    double t_train = mkt_now() - t1;
    mkt_mf_memlog("trained");
    /* evaluation and the model file read every row */
    if (r->px.targeted)
        mkt_als_gather_rows(r->X, d->U, s, comm);
    if (r->py.targeted)
        mkt_als_gather_rows(r->Y, d->I, s, comm);
    mkt_metrics_set_int(metrics, "checkpoints_written", r->ck.written);
    if (stopped) {
        mkt_metrics_set_int(metrics, "preempted_at_iteration", stopped);
        mkt_ckpt_preempted(&r->ck, stopped);
        run_free(r);
        return MKT_EXIT_PREEMPTED;
    }
    report_quality(r, o->config.lambda_auto, comm, metrics);
    mkt_mf_memlog("evaluated");
    json_object_set_new(metrics, "history", r->history);
    int iterations = (int)json_array_size(r->history);
    r->history = NULL; /* metrics owns it */
    write_model(o, d, r->X, r->Y, k, s, r->use_early ? r->early.best_it : iterations, comm);
    mkt_mf_memlog("model written");
    mkt_ckpt_remove(&r->ck, comm);
    report_performance(r, t_train, t0, comm, metrics);
    /* a signal after the last iteration: the model is complete, but the job
     * was asked to stop, so it says so with the preemption status */
    int late = mkt_ckpt_agree_signal(comm);
    mkt_ckpt_signals_restore();
    if (late)
        mkt_log(STAGE, "preempted after the last iteration: the model %s is complete; nothing to resume", o->out);
    run_free(r);
    return late ? MKT_EXIT_PREEMPTED : 0;
}
