/* train_regression.c — `mkt train effect` and `mkt train elasticity`.
 *
 * Owns the two regression designs and their model groups (docs/regression.md):
 * each rank reads its block of rows (campaign rows, or the purchase events
 * of its block of items), builds its rows of the design, and the distributed
 * least squares (mpi/scalapack_ls.c) solves over all ranks.  Column
 * statistics used to build the design (attribute means and standard
 * deviations, per-category counts) are exact sums, so the design is the same
 * for any rank count.  Must not parse options or solve anything itself. */
#include "train_regression.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "events.h"
#include "iocheck.h"
#include "metrics_json.h"
#include "model_io.h"
#include "par.h"
#include "schema.h"

static json_t *real_or_null(double v) { return isfinite(v) ? json_real(v) : json_null(); }

/* Collective. The checks every regression stage starts with (its command
 * name in the messages), then the store opened for reading. */
static hid_t open_store(const mkt_regression_options *opt, const char *cmd, MPI_Comm comm)
{
    if (!opt->store)
        mkt_fail_all(MKT_EXIT_USAGE, "%s: --store STORE.h5 is required", cmd);
    if (!opt->out)
        mkt_fail_all(MKT_EXIT_USAGE, "%s: --out MODEL.h5 is required", cmd);
    return mkt_h5_open(opt->store, 0, comm);
}

void mkt_regression_options_init(mkt_regression_options *opt)
{
    memset(opt, 0, sizeof *opt);
    mkt_ls_config_defaults(&opt->config);
}

/* Collective (every rank holds the same options). A bad option: one usage
 * error, named after the stage (train_effect, train_elasticity). */
static void check_options(const mkt_regression_options *opt, const char *stage)
{
    const char *bad = mkt_ls_check_config(&opt->config);
    if (bad)
        mkt_fail_all(MKT_EXIT_USAGE, "%s: %s", stage, bad);
}

static mkt_ls_method solve_method(const mkt_regression_options *opt)
{
    mkt_ls_method m = MKT_LS_GELS;
    mkt_ls_method_parse(opt->config.method, &m);
    return m;
}

static const char *method_name(const mkt_regression_options *opt)
{
    return solve_method(opt) == MKT_LS_GELS ? "gels" : "normal";
}

/* The slowest rank's seconds of each phase (n of them) into metrics under `keys`. */
static void set_max_seconds(json_t *metrics, const double *secs, const char *const *keys, int n, MPI_Comm comm)
{
    double mx[4];
    MKT_MPI(MPI_Allreduce(secs, mx, n, MPI_DOUBLE, MPI_MAX, comm));
    for (int k = 0; k < n; k++)
        mkt_metrics_set_real(metrics, keys[k], mx[k]);
}

/* ---------- campaign effect on spend ---------- */

/* This rank's campaign rows and the column statistics of the design. */
typedef struct {
    int64_t N, T, A;       /* campaign rows, arms, attributes */
    char **arms, **anames; /* arm and attribute names */
    int64_t begin, nl;     /* this rank's rows [begin, begin + nl) */
    int32_t *tr;
    double *spend, *attrs; /* nl; nl x A */
    double *mean, *sd;     /* per attribute (population), exact sums */
    int *keep, K;          /* the attributes that vary */
} effect_data;

/* Collective. Read this rank's block of /campaigns and check it. */
static void effect_read(const mkt_regression_options *opt, effect_data *e, MPI_Comm comm)
{
    int rank, nranks;
    MKT_MPI(MPI_Comm_rank(comm, &rank));
    MKT_MPI(MPI_Comm_size(comm, &nranks));
    memset(e, 0, sizeof *e);
    hid_t f = open_store(opt, "train effect", comm);
    if (!mkt_h5_exists(f, MKT_CAMPAIGNS_SPEND) || !mkt_h5_exists(f, MKT_CAMPAIGNS_TREATMENT) ||
        !mkt_h5_exists(f, MKT_IDS_TREATMENTS))
        mkt_fail_all(MKT_EXIT_ERROR, "train effect: %s has no campaign log (/campaigns); ingest one with --campaign",
                     opt->store);
    int64_t N = e->N = mkt_h5_rows(f, MKT_CAMPAIGNS_SPEND, NULL);
    int64_t T = e->T = mkt_h5_rows(f, MKT_IDS_TREATMENTS, NULL);
    int64_t A = 0;
    if (mkt_h5_exists(f, MKT_CAMPAIGNS_ATTRS))
        mkt_h5_rows(f, MKT_CAMPAIGNS_ATTRS, &A);
    e->A = A;
    if (T < 2)
        mkt_fail_all(MKT_EXIT_ERROR, "train effect: %s has %lld campaign arms; need a control and a treatment",
                     opt->store, (long long)T);
    e->arms = mkt_h5_read_strings(f, MKT_IDS_TREATMENTS, 0, T);
    e->anames = A > 0 ? mkt_h5_read_strings(f, MKT_CAMPAIGNS_ATTR_NAMES, 0, A) : NULL;
    mkt_block b = mkt_block_of(N, nranks, rank);
    int64_t nl = e->nl = b.end - b.begin;
    e->begin = b.begin;
    e->tr = mkt_xcalloc((size_t)nl + 1, sizeof(int32_t));
    e->spend = mkt_xcalloc((size_t)nl + 1, sizeof(double));
    e->attrs = mkt_xcalloc((size_t)(nl * A) + 1, sizeof(double));
    mkt_h5_read_rows(f, MKT_CAMPAIGNS_TREATMENT, H5T_NATIVE_INT32, b.begin, nl, e->tr);
    mkt_h5_read_rows(f, MKT_CAMPAIGNS_SPEND, H5T_NATIVE_DOUBLE, b.begin, nl, e->spend);
    if (A > 0)
        mkt_h5_read_rows(f, MKT_CAMPAIGNS_ATTRS, H5T_NATIVE_DOUBLE, b.begin, nl, e->attrs);
    mkt_h5_close(f);
    for (int64_t i = 0; i < nl; i++) {
        if (e->tr[i] < 0 || e->tr[i] >= T)
            mkt_fail("train effect: %s: /campaigns/treatment[%lld] = %d is not an arm (0..%lld)", opt->store,
                     (long long)(b.begin + i), e->tr[i], (long long)(T - 1));
        if (!isfinite(e->spend[i]))
            mkt_fail("train effect: %s: /campaigns/spend[%lld] is not finite", opt->store, (long long)(b.begin + i));
    }
}

/* Collective. Attribute means and standard deviations (population), exact
 * sums; the attributes that vary are kept. */
static void effect_attr_stats(effect_data *e, MPI_Comm comm)
{
    int64_t N = e->N, A = e->A, nl = e->nl;
    double *loc = mkt_xcalloc((size_t)(nl * 2 * A) + 1, sizeof(double));
    for (int64_t i = 0; i < nl; i++)
        for (int64_t a = 0; a < A; a++) {
            double v = e->attrs[i * A + a];
            loc[i * 2 * A + a] = v;
            loc[i * 2 * A + A + a] = v * v;
        }
    double *sums = mkt_xcalloc((size_t)(2 * A) + 1, sizeof(double));
    mkt_allreduce_exact_rows(loc, nl, (int)(2 * A), sums, comm);
    free(loc);
    double *mean = e->mean = mkt_xcalloc((size_t)A + 1, sizeof(double));
    double *sd = e->sd = mkt_xcalloc((size_t)A + 1, sizeof(double));
    e->keep = mkt_xcalloc((size_t)A + 1, sizeof(int));
    e->K = 0;
    for (int64_t a = 0; a < A; a++) {
        mean[a] = N > 0 ? sums[a] / (double)N : 0;
        double var = N > 0 ? sums[A + a] / (double)N - mean[a] * mean[a] : 0;
        sd[a] = var > 0 ? sqrt(var) : 0;
        if (sd[a] > 1e-9 * fmax(1.0, fabs(mean[a])))
            e->keep[e->K++] = (int)a;
    }
    free(sums);
}

/* The design: intercept | K attrs | (T-1) arms | (T-1) x K interactions;
 * *names its d column names; returns this rank's rows [nl x d]. */
static double *effect_design(const effect_data *e, int *d_out, char ***names_out)
{
    int K = e->K, d = 1 + K + (int)(e->T - 1) * (1 + K);
    const int *keep = e->keep;
    char **names = mkt_xcalloc((size_t)d, sizeof(char *));
    int c = 0;
    names[c++] = mkt_xstrdup("intercept");
    for (int k = 0; k < K; k++)
        names[c++] = mkt_xstrdup(e->anames[keep[k]]);
    for (int64_t t = 1; t < e->T; t++) {
        char buf[512];
        snprintf(buf, sizeof buf, "arm:%s", e->arms[t]);
        names[c++] = mkt_xstrdup(buf);
        for (int k = 0; k < K; k++) {
            snprintf(buf, sizeof buf, "arm:%s x %s", e->arms[t], e->anames[keep[k]]);
            names[c++] = mkt_xstrdup(buf);
        }
    }
    double *x = mkt_xcalloc((size_t)(e->nl * d) + 1, sizeof(double));
    for (int64_t i = 0; i < e->nl; i++) {
        double *row = x + i * d;
        row[0] = 1;
        for (int k = 0; k < K; k++)
            row[1 + k] = (e->attrs[i * e->A + keep[k]] - e->mean[keep[k]]) / e->sd[keep[k]];
        if (e->tr[i] > 0) {
            double *blk = row + 1 + K + (e->tr[i] - 1) * (1 + K);
            blk[0] = 1;
            for (int k = 0; k < K; k++)
                blk[1 + k] = row[1 + k];
        }
    }
    *d_out = d;
    *names_out = names;
    return x;
}

/* Collective. R^2 of the fit from the total sum of squares (exact). */
static double effect_r2(const effect_data *e, double rss, MPI_Comm comm)
{
    mkt_xsum acc[2];
    mkt_xsum_init(&acc[0]);
    mkt_xsum_init(&acc[1]);
    for (int64_t i = 0; i < e->nl; i++) {
        mkt_xsum_add(&acc[0], e->spend[i]);
        mkt_xsum_add(&acc[1], e->spend[i] * e->spend[i]);
    }
    mkt_allreduce_xsum(acc, 2, comm);
    double ybar = mkt_xsum_value(&acc[0]) / (double)e->N;
    double tss = mkt_xsum_value(&acc[1]) - (double)e->N * ybar * ybar;
    return tss > 0 ? 1 - rss / tss : 0;
}

/* Collective. /models/effect in opt->out. */
static void effect_write(const mkt_regression_options *opt, const effect_data *e, int d, char **names,
                         const mkt_ls_result *res, double r2, MPI_Comm comm)
{
    int K = e->K;
    double *kmean = mkt_xcalloc((size_t)K + 1, sizeof(double)), *ksd = mkt_xcalloc((size_t)K + 1, sizeof(double));
    char **knames = mkt_xcalloc((size_t)K + 1, sizeof(char *));
    for (int k = 0; k < K; k++) {
        kmean[k] = e->mean[e->keep[k]];
        ksd[k] = e->sd[e->keep[k]];
        knames[k] = e->anames[e->keep[k]];
    }
    mkt_effect_save_args a = {.features = d,
                              .attrs = K,
                              .arms = e->T,
                              .n = e->N,
                              .coef = res->coef,
                              .stderr_ = res->stderr_,
                              .names = names,
                              .attr_mean = kmean,
                              .attr_std = ksd,
                              .attr_names = knames,
                              .arm_names = e->arms,
                              .method = method_name(opt)};
    mkt_model_writer w;
    mkt_model_begin(&w, opt->out, MKT_MODELS_EFFECT, comm);
    mkt_effect_save(w.file, w.group, &a, comm);
    mkt_h5_attr_set_double(w.file, w.group, "rss", res->rss);
    mkt_h5_attr_set_double(w.file, w.group, "sigma2", res->sigma2);
    mkt_h5_attr_set_double(w.file, w.group, "r2", r2);
    mkt_h5_attr_set_double(w.file, w.group, "lambda", opt->config.lambda);
    mkt_model_end(&w, comm);
    free(kmean);
    free(ksd);
    free(knames);
}

/* The fit's numbers into metrics (coefficients and treatment effects). */
static void effect_metrics(const mkt_regression_options *opt, const effect_data *e, int d, char **names,
                           const mkt_ls_result *res, double r2, json_t *metrics)
{
    int K = e->K;
    mkt_metrics_set_int(metrics, "n", e->N);
    mkt_metrics_set_int(metrics, "d", d);
    mkt_metrics_set_str(metrics, "method", method_name(opt));
    mkt_metrics_set_real(metrics, "lambda", opt->config.lambda);
    mkt_metrics_set_real(metrics, "rss", res->rss);
    mkt_metrics_set_real(metrics, "sigma2", res->sigma2);
    mkt_metrics_set_real(metrics, "r2", r2);
    json_t *co = mkt_metrics_child(metrics, "coefficients");
    for (int j = 0; j < d; j++) {
        json_t *c = mkt_metrics_child(co, names[j]);
        json_object_set_new(c, "coef", real_or_null(res->coef[j]));
        json_object_set_new(c, "stderr", real_or_null(res->stderr_[j]));
    }
    json_t *te = mkt_metrics_child(metrics, "treatment_effects");
    for (int64_t t = 1; t < e->T; t++) {
        int j = 1 + K + (int)(t - 1) * (1 + K);
        json_t *c = mkt_metrics_child(te, e->arms[t]);
        json_object_set_new(c, "effect_at_mean", real_or_null(res->coef[j]));
        json_object_set_new(c, "stderr", real_or_null(res->stderr_[j]));
        json_object_set_new(c, "z", real_or_null(res->stderr_[j] > 0 ? res->coef[j] / res->stderr_[j] : NAN));
    }
}

static void effect_free(effect_data *e)
{
    free(e->keep);
    free(e->mean);
    free(e->sd);
    free(e->tr);
    free(e->spend);
    free(e->attrs);
    mkt_h5_free_strings(e->arms, e->T);
    if (e->anames)
        mkt_h5_free_strings(e->anames, e->A);
}

int mkt_effect_run(const mkt_regression_options *opt, MPI_Comm comm, json_t *metrics)
{
    check_options(opt, "train_effect");
    double t0 = mkt_now();
    effect_data e;
    effect_read(opt, &e, comm);
    effect_attr_stats(&e, comm);
    int d;
    char **names;
    double *x = effect_design(&e, &d, &names);
    double t_read = mkt_now() - t0;

    double t1 = mkt_now();
    mkt_ls_result res;
    mkt_ls_solve(x, e.spend, e.nl, d, opt->config.lambda, solve_method(opt), opt->config.block, comm, &res);
    double t_solve = mkt_now() - t1;
    double r2 = effect_r2(&e, res.rss, comm);

    double t2 = mkt_now();
    effect_write(opt, &e, d, names, &res, r2, comm);
    double t_write = mkt_now() - t2;

    if (metrics) {
        effect_metrics(opt, &e, d, names, &res, r2, metrics);
        static const char *const keys[4] = {"seconds_read", "seconds_solve", "seconds_write", "seconds_total"};
        double secs[4] = {t_read, t_solve, t_write, mkt_now() - t0};
        set_max_seconds(metrics, secs, keys, 4, comm);
    }
    mkt_log("train effect", "%lld campaign rows, %d coefficients, R^2 %.4f", (long long)e.N, d, r2);

    mkt_ls_result_free(&res);
    for (int j = 0; j < d; j++)
        free(names[j]);
    free(names);
    free(x);
    effect_free(&e);
    return MKT_EXIT_OK;
}

/* ---------- price elasticity per category ---------- */

typedef struct {
    double logq, logp;
    int32_t cat, dow;
} price_row;

/* Monday = 0 .. Sunday = 6 of a UTC timestamp (1970-01-01 was a Thursday). */
static int day_of_week(int64_t ts)
{
    int64_t day = ts >= 0 ? ts / 86400 : -((-ts + 86399) / 86400);
    return (int)(((day + 3) % 7 + 7) % 7);
}

/* Purchases (qty > 0, value > 0) of this rank's items, read in chunks. */
static price_row *read_purchases(hid_t f, mkt_block b, const int32_t *cat, int64_t C, int64_t *nrows)
{
    int64_t nl = b.end - b.begin;
    int64_t *indptr = mkt_events_indptr(f, MKT_BY_ITEM, b.begin, nl);
    int64_t cap = 1024, n = 0;
    price_row *rows = mkt_xmalloc(sizeof(price_row) * (size_t)cap);
    const int64_t chunk = (int64_t)1 << 20;
    mkt_event_cols ev = {0};
    int64_t item = 0;
    for (int64_t at = indptr[0]; at < indptr[nl]; at += chunk) {
        int64_t m = indptr[nl] - at < chunk ? indptr[nl] - at : chunk;
        mkt_events_read(f, MKT_BY_ITEM, MKT_COL_TYPE | MKT_COL_QTY | MKT_COL_VALUE | MKT_COL_TS, at, m, &ev);
        const int32_t *type = ev.type, *qty = ev.qty;
        const double *value = ev.value;
        const int64_t *ts = ev.ts;
        for (int64_t e = 0; e < m; e++) {
            while (item < nl && at + e >= indptr[item + 1])
                item++;
            if (type[e] != 4 || qty[e] <= 0 || !(value[e] > 0) || !isfinite(value[e]))
                continue;
            int32_t c = cat[item];
            if (c < 0 || c >= C)
                continue;
            if (n == cap) {
                cap *= 2;
                rows = mkt_xrealloc(rows, sizeof(price_row) * (size_t)cap);
            }
            rows[n].logq = log((double)qty[e]);
            rows[n].logp = log(value[e] / qty[e]);
            rows[n].cat = c;
            rows[n].dow = day_of_week(ts[e]);
            n++;
        }
    }
    mkt_event_cols_free(&ev);
    free(indptr);
    *nrows = n;
    return rows;
}

/* The columns of the elasticity design, from exact sums over all purchases. */
typedef struct {
    int64_t C;     /* categories */
    int64_t *ncat; /* purchases per category */
    int *col;      /* index among fitted categories, -1 if not fitted */
    int K;         /* fitted categories: 3 or more purchases at two or more prices */
    int dowcol[7]; /* weekday dummy column, -1: none (the base, or no purchases) */
    int D;         /* weekday columns */
} price_columns;

/* Collective. Per category: count, sum log p, sum log p^2; per weekday:
 * count (exact); the fitted categories and weekday columns from them. */
static void price_design_columns(const price_row *rows, int64_t nl, int64_t C, price_columns *pc, MPI_Comm comm)
{
    int nst = (int)(3 * C + 7);
    mkt_xsum *acc = mkt_xmalloc(sizeof(mkt_xsum) * (size_t)nst);
    for (int s = 0; s < nst; s++)
        mkt_xsum_init(&acc[s]);
    for (int64_t i = 0; i < nl; i++) {
        mkt_xsum_add(&acc[3 * rows[i].cat], 1);
        mkt_xsum_add(&acc[3 * rows[i].cat + 1], rows[i].logp);
        mkt_xsum_add(&acc[3 * rows[i].cat + 2], rows[i].logp * rows[i].logp);
        mkt_xsum_add(&acc[3 * C + rows[i].dow], 1);
    }
    mkt_allreduce_xsum(acc, nst, comm);
    pc->C = C;
    pc->ncat = mkt_xcalloc((size_t)C + 1, sizeof(int64_t));
    pc->col = mkt_xcalloc((size_t)C + 1, sizeof(int));
    pc->K = 0;
    for (int64_t c = 0; c < C; c++) {
        pc->ncat[c] = (int64_t)mkt_xsum_value(&acc[3 * c]);
        double m = pc->ncat[c] > 0 ? mkt_xsum_value(&acc[3 * c + 1]) / (double)pc->ncat[c] : 0;
        double var = pc->ncat[c] > 0 ? mkt_xsum_value(&acc[3 * c + 2]) / (double)pc->ncat[c] - m * m : 0;
        pc->col[c] = (pc->ncat[c] >= 3 && var > 1e-10) ? pc->K++ : -1;
    }
    /* weekday dummies: the first weekday (from Monday) with purchases is the
     * base; weekdays without purchases get no column */
    int base = -1;
    pc->D = 0;
    for (int w = 0; w < 7; w++) {
        int present = mkt_xsum_value(&acc[3 * C + w]) > 0;
        if (present && base < 0)
            base = w;
        pc->dowcol[w] = (present && w != base) ? pc->D++ : -1;
    }
    free(acc);
}

/* Collective. /models/elasticity in opt->out. */
static void elasticity_write(const mkt_regression_options *opt, const price_columns *pc, char **cnames,
                             const double *el, const double *se, const mkt_ls_result *res, MPI_Comm comm)
{
    mkt_elasticity_save_args a = {.categories = pc->C,
                                  .elasticity = el,
                                  .stderr_ = se,
                                  .n = pc->ncat,
                                  .names = cnames,
                                  .method = method_name(opt)};
    mkt_model_writer w;
    mkt_model_begin(&w, opt->out, MKT_MODELS_ELASTICITY, comm);
    mkt_elasticity_save(w.file, w.group, &a, comm);
    mkt_h5_attr_set_int(w.file, w.group, "rows", res->n);
    mkt_h5_attr_set_int(w.file, w.group, "fitted_categories", pc->K);
    mkt_h5_attr_set_double(w.file, w.group, "rss", res->rss);
    mkt_h5_attr_set_double(w.file, w.group, "sigma2", res->sigma2);
    mkt_model_end(&w, comm);
}

int mkt_elasticity_run(const mkt_regression_options *opt, MPI_Comm comm, json_t *metrics)
{
    check_options(opt, "train_elasticity");
    double t0 = mkt_now();
    int rank, nranks;
    MKT_MPI(MPI_Comm_rank(comm, &rank));
    MKT_MPI(MPI_Comm_size(comm, &nranks));
    hid_t f = open_store(opt, "train elasticity", comm);
    if (!mkt_h5_exists(f, MKT_EVENTS_BY_ITEM_INDPTR) || !mkt_h5_exists(f, MKT_ITEMS_CATEGORY))
        mkt_fail_all(MKT_EXIT_ERROR, "train elasticity: %s has no /events/by_item or /items/category", opt->store);
    int64_t I = mkt_h5_rows(f, MKT_ITEMS_CATEGORY, NULL);
    int64_t C = mkt_h5_rows(f, MKT_IDS_CATEGORIES, NULL);
    char **cnames = mkt_h5_read_strings(f, MKT_IDS_CATEGORIES, 0, C);
    mkt_block b = mkt_block_of(I, nranks, rank);
    int32_t *cat = mkt_xcalloc((size_t)(b.end - b.begin) + 1, sizeof(int32_t));
    mkt_h5_read_rows(f, MKT_ITEMS_CATEGORY, H5T_NATIVE_INT32, b.begin, b.end - b.begin, cat);
    int64_t nl = 0;
    price_row *rows = read_purchases(f, b, cat, C, &nl);
    mkt_h5_close(f);
    free(cat);

    price_columns pc;
    price_design_columns(rows, nl, C, &pc, comm);
    int K = pc.K, D = pc.D;
    const int *col = pc.col, *dowcol = pc.dowcol;
    if (K == 0)
        mkt_fail_all(MKT_EXIT_ERROR,
                     "train elasticity: no category has 3 or more purchases at two or more prices in %s", opt->store);

    /* design: K category intercepts | K category x log price | D weekdays;
     * only rows of fitted categories */
    int d = 2 * K + D;
    double *x = mkt_xcalloc((size_t)(nl * d) + 1, sizeof(double));
    double *y = mkt_xcalloc((size_t)nl + 1, sizeof(double));
    int64_t m = 0;
    for (int64_t i = 0; i < nl; i++) {
        int k = col[rows[i].cat];
        if (k < 0)
            continue;
        double *r = x + m * d;
        r[k] = 1;
        r[K + k] = rows[i].logp;
        if (dowcol[rows[i].dow] >= 0)
            r[2 * K + dowcol[rows[i].dow]] = 1;
        y[m++] = rows[i].logq;
    }
    free(rows);
    double t_read = mkt_now() - t0;
    double t1 = mkt_now();
    mkt_ls_result res;
    mkt_ls_solve(x, y, m, d, opt->config.lambda, solve_method(opt), opt->config.block, comm, &res);
    double t_solve = mkt_now() - t1;

    double *el = mkt_xcalloc((size_t)C + 1, sizeof(double)), *se = mkt_xcalloc((size_t)C + 1, sizeof(double));
    for (int64_t c = 0; c < C; c++) {
        el[c] = col[c] >= 0 ? res.coef[K + col[c]] : NAN;
        se[c] = col[c] >= 0 ? res.stderr_[K + col[c]] : NAN;
    }
    elasticity_write(opt, &pc, cnames, el, se, &res, comm);

    if (metrics) {
        mkt_metrics_set_int(metrics, "rows", res.n);
        mkt_metrics_set_int(metrics, "d", d);
        mkt_metrics_set_int(metrics, "categories", C);
        mkt_metrics_set_int(metrics, "fitted_categories", K);
        mkt_metrics_set_str(metrics, "method", method_name(opt));
        mkt_metrics_set_real(metrics, "rss", res.rss);
        json_t *per = mkt_metrics_child(metrics, "per_category");
        for (int64_t c = 0; c < C; c++) {
            json_t *e = mkt_metrics_child(per, cnames[c]);
            json_object_set_new(e, "elasticity", real_or_null(el[c]));
            json_object_set_new(e, "stderr", real_or_null(se[c]));
            json_object_set_new(e, "n", json_integer(pc.ncat[c]));
        }
        static const char *const keys[3] = {"seconds_read", "seconds_solve", "seconds_total"};
        double secs[3] = {t_read, t_solve, mkt_now() - t0};
        set_max_seconds(metrics, secs, keys, 3, comm);
    }
    mkt_log("train elasticity", "%lld purchases, %d of %lld categories fitted", (long long)res.n, K, (long long)C);
    mkt_ls_result_free(&res);
    free(el);
    free(se);
    free(x);
    free(y);
    free(pc.col);
    free(pc.ncat);
    mkt_h5_free_strings(cnames, C);
    return MKT_EXIT_OK;
}
