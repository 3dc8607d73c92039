/* eval_mf.c — held-out evaluation of an ALS model (`mkt eval mf`) and the
 * reports both `mkt train mf` and `mkt eval mf` write: the explicit errors
 * beside the global mean and the biases-only baseline, the top-K metrics
 * beside popularity.  The reductions are in mpi/als.c; it reads the model
 * through io/ and must not write a model. */
#include "mf_stage.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "h5store.h"
#include "iocheck.h"
#include "metrics_json.h"
#include "schema.h"
#include "teststore.h"

#define STAGE MKT_MF_STAGE

/* The five means of q and the coverage, named @k. */
static void set_quality(json_t *obj, const double q[5], int64_t covered, int64_t items, int k)
{
    static const char *names[5] = {"hr", "precision", "recall", "ndcg", "map"};
    char key[32];
    for (int j = 0; j < 5; j++) {
        snprintf(key, sizeof key, "%s@%d", names[j], k);
        mkt_metrics_set_real(obj, key, q[j]);
    }
    snprintf(key, sizeof key, "coverage@%d", k);
    mkt_metrics_set_real(obj, key, items > 0 ? (double)covered / (double)items : 0);
}

void mkt_mf_ranking_report(const mkt_mf_options *o, const mkt_als_data *d, const double *X, const double *Y, int k,
                           int stride, MPI_Comm comm, json_t *metrics)
{
    int K = o->config.topk;
    mkt_als_ranking q = mkt_als_ranking_eval(d, X, Y, k, stride, K, comm);
    mkt_metrics_set_int(metrics, "users_evaluated", q.users);
    mkt_metrics_set_int(metrics, "k", K);
    set_quality(mkt_metrics_child(metrics, "model"), q.quality[0], q.covered[0], d->I, K);
    set_quality(mkt_metrics_child(metrics, "popularity"), q.quality[1], q.covered[1], d->I, K);
    mkt_log(STAGE, "held-out HR@%d %.4f (popularity %.4f) over %lld users", K, q.quality[0][0], q.quality[1][0],
            (long long)q.users);
}

void mkt_mf_explicit_report(const mkt_mf_options *o, const mkt_als_data *d, const double *X, const double *Y, int k,
                            const char *what, MPI_Comm comm, json_t *metrics)
{
    double err[3], gm[2], be[3];
    mkt_als_explicit_errors(d, X, Y, k, NULL, comm, err);
    mkt_als_global_mean_errors(d, comm, gm);
    double *bx = mkt_xmalloc(sizeof(double) * (size_t)(d->U + 1)), *by = mkt_xmalloc(sizeof(double) * (size_t)(d->I + 1));
    double bl = mkt_mf_bias_baseline(o, d, bx, by, comm);
    mkt_als_explicit_errors(d, bx + d->ub.begin, by, 0, NULL, comm, be);
    free(bx);
    free(by);
    mkt_metrics_set_real(metrics, "rmse", err[1]);
    mkt_metrics_set_real(metrics, "mae", err[2]);
    json_t *b = mkt_metrics_child(metrics, "baseline");
    mkt_metrics_set_real(b, "global_mean_rmse", gm[0]);
    mkt_metrics_set_real(b, "global_mean_mae", gm[1]);
    mkt_metrics_set_real(b, "bias_rmse", be[1]);
    mkt_metrics_set_real(b, "bias_mae", be[2]);
    mkt_metrics_set_real(b, "bias_lambda", bl);
    mkt_log(STAGE, "%s RMSE %.4f MAE %.4f over %lld ratings (biases only %.4f, global mean %.4f)%s", what, err[1],
            err[2], (long long)d->n_test, be[1], gm[0],
            err[1] < be[1] ? ""
                           : "  -- NOT better than biases only: try --lambda auto, another --factors, or more data");
}

int mkt_mf_eval_run(const mkt_mf_options *cli, MPI_Comm comm, json_t *metrics)
{
    double t0 = mkt_now();
    int rank, nranks;
    MKT_MPI(MPI_Comm_rank(comm, &rank));
    MKT_MPI(MPI_Comm_size(comm, &nranks));
    if (!cli->model)
        mkt_fail_all(MKT_EXIT_USAGE, "--model MODEL.h5 is required");
    if (!cli->store)
        mkt_fail_all(MKT_EXIT_USAGE, "--store STORE.h5 is required");
    if (cli->test) /* before either file is opened collectively */
        mkt_store_check_test_of(cli->store, cli->test, comm);
    hid_t m = mkt_h5_open(cli->model, 0, comm);
    if (!mkt_h5_exists(m, MKT_MODELS_MF_USER_FACTORS))
        mkt_fail_all(MKT_EXIT_ERROR, "%s has no /models/mf (train one with `mkt train mf`)", cli->model);
    const char *g = MKT_MODELS_MF;
    mkt_mf_options o = *cli;
    static const char *wn[5] = {"weight_view", "weight_click", "weight_cart", "weight_fav", "weight_purchase"};
    /* the factor count is stored as "rank", its former name, for the model files written before */
    o.config.factors = (int)mkt_h5_attr_get_int(m, g, "rank", 0);
    o.config.implicit = (int)mkt_h5_attr_get_int(m, g, "implicit", 0);
    o.config.seed = (uint64_t)mkt_h5_attr_get_int(m, g, "seed", 0);
    o.config.holdout = mkt_h5_attr_get_double(m, g, "holdout", 0.1);
    o.config.valid_fraction = mkt_h5_attr_get_double(m, g, "valid_fraction", 0);
    o.config.patience = (int)mkt_h5_attr_get_int(m, g, "patience", 0);
    o.config.iters = (int)mkt_h5_attr_get_int(m, g, "iters", 10); /* for the biases-only baseline */
    o.config.lambda_auto = (int)mkt_h5_attr_get_int(m, g, "lambda_auto", 0);
    o.config.alpha = mkt_h5_attr_get_double(m, g, "alpha", 0);
    o.config.lambda = mkt_h5_attr_get_double(m, g, "lambda", 0);
    for (int j = 0; j < 5; j++)
        o.config.weight[j] = mkt_h5_attr_get_double(m, g, wn[j], 0);
    o.config.weight_rating = mkt_h5_attr_get_double(m, g, "weight_rating", 0);
    o.config.rating_threshold = mkt_h5_attr_get_double(m, g, "rating_threshold", 0);
    /* the same events as training: those before the model's until_ts */
    o.until_ts = mkt_h5_attr_get_int(m, g, "until_ts", MKT_MF_ALL_EVENTS);
    int64_t mu_u = mkt_h5_attr_get_int(m, g, "users", -1), mu_i = mkt_h5_attr_get_int(m, g, "items", -1);
    int k = o.config.factors, s = o.config.implicit ? k : k + 1;
    mkt_als_data d;
    mkt_mf_load(&o, comm, &d);
    if (mu_u != d.U || mu_i != d.I)
        mkt_fail_all(MKT_EXIT_ERROR, "model %s was trained on %lld users x %lld items, store %s has %lld x %lld",
                     cli->model, (long long)mu_u, (long long)mu_i, cli->store, (long long)d.U, (long long)d.I);
    if (cli->test)
        mkt_mf_load_test(&o, cli->test, &d, comm);
    else if (d.n_test == 0)
        mkt_fail_all(MKT_EXIT_ERROR,
                     "%s has no held-out %s for model %s (trained with --holdout 0?): give a test store with --test",
                     cli->store, o.config.implicit ? "items" : "ratings", cli->model);
    int64_t nl = d.ub.end - d.ub.begin;
    double *uf = mkt_xmalloc(sizeof(double) * (size_t)(nl * k + 1)), *ub = mkt_xmalloc(sizeof(double) * (size_t)(nl + 1));
    double *itf = mkt_xmalloc(sizeof(double) * (size_t)(d.I * k + 1)), *ib = mkt_xmalloc(sizeof(double) * (size_t)(d.I + 1));
    mkt_h5_read_rows(m, MKT_MODELS_MF_USER_FACTORS, H5T_NATIVE_DOUBLE, d.ub.begin, nl, uf);
    mkt_h5_read_rows(m, MKT_MODELS_MF_USER_BIAS, H5T_NATIVE_DOUBLE, d.ub.begin, nl, ub);
    mkt_h5_read_rows(m, MKT_MODELS_MF_ITEM_FACTORS, H5T_NATIVE_DOUBLE, 0, d.I, itf);
    mkt_h5_read_rows(m, MKT_MODELS_MF_ITEM_BIAS, H5T_NATIVE_DOUBLE, 0, d.I, ib);
    mkt_h5_close(m);
    double *X = mkt_xmalloc(sizeof(double) * (size_t)(nl * s + 1)), *Y = mkt_xmalloc(sizeof(double) * (size_t)(d.I * s + 1));
    for (int64_t r = 0; r < nl; r++) {
        memcpy(X + r * s, uf + r * k, sizeof(double) * (size_t)k);
        if (s > k)
            X[r * s + k] = ub[r];
    }
    for (int64_t i = 0; i < d.I; i++) {
        memcpy(Y + i * s, itf + i * k, sizeof(double) * (size_t)k);
        if (s > k)
            Y[i * s + k] = ib[i];
    }
    mkt_metrics_set_int(metrics, "users", d.U);
    mkt_metrics_set_int(metrics, "items", d.I);
    mkt_metrics_set_int(metrics, "heldout_entries", d.n_test);
    mkt_metrics_set_str(metrics, "mode", o.config.implicit ? "implicit" : "explicit");
    if (cli->test)
        mkt_metrics_set_str(metrics, "test_store", cli->test);
    if (!o.config.implicit) {
        mkt_mf_explicit_report(&o, &d, X, Y, k, cli->test ? "test-store" : "held-out", comm, metrics);
    } else {
        mkt_mf_ranking_report(&o, &d, X, Y, k, s, comm, metrics);
    }
    double secs = mkt_now() - t0;
    MKT_MPI(MPI_Allreduce(MPI_IN_PLACE, &secs, 1, MPI_DOUBLE, MPI_MAX, comm));
    mkt_metrics_set_real(metrics, "seconds", secs);
    free(uf);
    free(ub);
    free(itf);
    free(ib);
    free(X);
    free(Y);
    mkt_mf_data_free(&d);
    return 0;
}
