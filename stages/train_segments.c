/* train_segments.c — distributed k-means and the `mkt train segments` stage.
 *
 * Rank independence: every per-row computation (distance, nearest centre) is
 * a pure function of the row and the centres; every reduction that feeds a
 * centre is an exact sum (mkt_xsum); k-means++ draws its next centre by
 * comparing a random target with exact prefix sums of the squared distances
 * in dense user order, so the same user is chosen whatever the split.  Hence
 * 1, 2 or 4 ranks give bitwise identical centres and assignments.
 *
 * Owns the segments group of the model file; must not compute features. */
#include "train_segments.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iocheck.h"
#include "exactsum.h"
#include "h5store.h"
#include "kmeans.h"
#include "metrics_json.h"
#include "model_io.h"
#include "par.h"
#include "rng.h"
#include "schema.h"

/* Row g of the global order, on every rank (one rank contributes it). */
static void fetch_row(const double *x, int64_t n_local, int64_t offset, int d, int64_t g, MPI_Comm comm, double *out)
{
    double *part = mkt_xcalloc((size_t)d, sizeof(double));
    if (g >= offset && g < offset + n_local)
        memcpy(part, x + (size_t)(g - offset) * (size_t)d, sizeof(double) * (size_t)d);
    MKT_MPI(MPI_Allreduce(part, out, d, MPI_DOUBLE, MPI_SUM, comm));
    free(part);
}

/* Seeding step: the global index drawn with probability w_i / sum w. */
static int64_t draw_weighted(const double *w, int64_t n_local, int64_t offset, double u, MPI_Comm comm)
{
    int rank, nranks;
    MKT_MPI(MPI_Comm_rank(comm, &rank));
    MKT_MPI(MPI_Comm_size(comm, &nranks));
    mkt_xsum mine;
    mkt_xsum_init(&mine);
    for (int64_t i = 0; i < n_local; i++)
        if (w[i] > 0)
            mkt_xsum_add(&mine, w[i]);
    mkt_xsum_normalize(&mine);
    mkt_xsum *all = mkt_xmalloc(sizeof(mkt_xsum) * (size_t)nranks);
    MKT_MPI(MPI_Allgather(&mine, (int)MKT_XSUM_WORDS, MPI_INT64_T, all, (int)MKT_XSUM_WORDS, MPI_INT64_T, comm));
    mkt_xsum total, before;
    mkt_xsum_init(&total);
    mkt_xsum_init(&before);
    for (int r = 0; r < nranks; r++) {
        mkt_xsum_merge(&total, &all[r]);
        if (r < rank)
            mkt_xsum_merge(&before, &all[r]);
    }
    free(all);
    double tv = mkt_xsum_value(&total);
    int64_t pick = INT64_MAX, last = -1;
    if (tv > 0) {
        int64_t i = mkt_kmeans_pick(w, n_local, &before, u * tv);
        if (i >= 0)
            pick = offset + i;
        for (int64_t j = n_local - 1; j >= 0; j--)
            if (w[j] > 0) {
                last = offset + j;
                break;
            }
    }
    int64_t gpick, glast;
    MKT_MPI(MPI_Allreduce(&pick, &gpick, 1, MPI_INT64_T, MPI_MIN, comm));
    MKT_MPI(MPI_Allreduce(&last, &glast, 1, MPI_INT64_T, MPI_MAX, comm));
    if (gpick != INT64_MAX)
        return gpick;
    return glast; /* rounding put the target at the very end; -1 if every weight is 0 */
}

static int64_t reassign(const double *x, int64_t n_local, int d, int k, const double *centers, int32_t *assign,
                        double *dist2, MPI_Comm comm)
{
    int64_t changes = 0, all = 0;
    for (int64_t i = 0; i < n_local; i++) {
        int c = mkt_kmeans_nearest(x + (size_t)i * (size_t)d, centers, k, d, dist2 ? &dist2[i] : NULL);
        if (c != assign[i])
            changes++;
        assign[i] = c;
    }
    MKT_MPI(MPI_Allreduce(&changes, &all, 1, MPI_INT64_T, MPI_SUM, comm));
    return all;
}

int mkt_kmeans_fit(const double *x, int64_t n_local, int d, int k, uint64_t seed, int max_iters, MPI_Comm comm,
                   double *centers, int32_t *assign)
{
    int64_t n = 0;
    int64_t offset = mkt_exscan_count(n_local, &n, comm);
    if (k < 1 || n < k)
        mkt_fail_all(MKT_EXIT_ERROR, "k-means: %lld rows for k = %d clusters", (long long)n, k);

    /* k-means++ seeding */
    double *d2 = mkt_xmalloc(sizeof(double) * (size_t)(n_local > 0 ? n_local : 1));
    mkt_rng r;
    mkt_rng_init(&r, seed, MKT_STREAM_MODEL, 0);
    int64_t first = (int64_t)mkt_rng_below(&r, (uint64_t)n);
    fetch_row(x, n_local, offset, d, first, comm, centers);
    for (int64_t i = 0; i < n_local; i++)
        mkt_kmeans_nearest(x + (size_t)i * (size_t)d, centers, 1, d, &d2[i]);
    for (int c = 1; c < k; c++) {
        mkt_rng_init(&r, seed, MKT_STREAM_MODEL, (uint64_t)c);
        int64_t g = draw_weighted(d2, n_local, offset, mkt_rng_uniform(&r), comm);
        if (g < 0)
            g = c; /* every row coincides with a centre: any distinct row will do */
        double *ctr = centers + (size_t)c * (size_t)d;
        fetch_row(x, n_local, offset, d, g, comm, ctr);
        for (int64_t i = 0; i < n_local; i++) {
            double e;
            mkt_kmeans_nearest(x + (size_t)i * (size_t)d, ctr, 1, d, &e);
            if (e < d2[i])
                d2[i] = e;
        }
    }
    free(d2);

    /* Lloyd steps with exact centroids */
    for (int64_t i = 0; i < n_local; i++)
        assign[i] = -1;
    reassign(x, n_local, d, k, centers, assign, NULL, comm);
    size_t kd = (size_t)k * (size_t)d;
    mkt_xsum *acc = mkt_xmalloc(sizeof(mkt_xsum) * kd);
    int64_t *cnt = mkt_xmalloc(sizeof(int64_t) * (size_t)k);
    int it = 0;
    while (it < max_iters) {
        it++;
        for (size_t j = 0; j < kd; j++)
            mkt_xsum_init(&acc[j]);
        memset(cnt, 0, sizeof(int64_t) * (size_t)k);
        for (int64_t i = 0; i < n_local; i++) {
            cnt[assign[i]]++;
            for (int j = 0; j < d; j++)
                mkt_xsum_add(&acc[(size_t)assign[i] * (size_t)d + (size_t)j], x[(size_t)i * (size_t)d + (size_t)j]);
        }
        mkt_allreduce_xsum(acc, (int)kd, comm);
        MKT_MPI(MPI_Allreduce(MPI_IN_PLACE, cnt, k, MPI_INT64_T, MPI_SUM, comm));
        for (int c = 0; c < k; c++)
            if (cnt[c] > 0) /* an empty cluster keeps its centre */
                for (int j = 0; j < d; j++)
                    centers[(size_t)c * (size_t)d + (size_t)j] =
                        mkt_xsum_value(&acc[(size_t)c * (size_t)d + (size_t)j]) / (double)cnt[c];
        if (reassign(x, n_local, d, k, centers, assign, NULL, comm) == 0)
            break;
    }
    free(acc);
    free(cnt);
    return it;
}

/* ---------- the stage ---------- */

static const char *const segment_features[] = {"recency_purchase_days", "purchases",  "spend",
                                               "tenure_days",           "active_days", "conv_view_purchase",
                                               "price_ratio_category"};
#define NSEG_FEATURES ((int)(sizeof segment_features / sizeof segment_features[0]))

/* This rank's users in the standardized segment features. */
typedef struct {
    int64_t U, begin, nl;     /* users; this rank's [begin, begin + nl) */
    double mean[NSEG_FEATURES], sd[NSEG_FEATURES];
    double *z;                /* nl x NSEG_FEATURES, standardized */
    double *spend;            /* nl: raw spend */
} segment_rows;

/* Collective. Read this rank's block of /features/users: the segment
 * features standardized with the store's feature statistics. */
static void segments_read(const mkt_segments_options *opt, segment_rows *s, MPI_Comm comm)
{
    int rank, nranks;
    MKT_MPI(MPI_Comm_rank(comm, &rank));
    MKT_MPI(MPI_Comm_size(comm, &nranks));
    if (!opt->store)
        mkt_fail_all(MKT_EXIT_USAGE, "train segments: --store STORE.h5 is required");
    if (!opt->out)
        mkt_fail_all(MKT_EXIT_USAGE, "train segments: --out MODEL.h5 is required");
    hid_t f = mkt_h5_open(opt->store, 0, comm);
    if (!mkt_h5_exists(f, MKT_FEATURES_USERS) || !mkt_h5_exists(f, MKT_FEATURES_USER_STATS) ||
        !mkt_h5_exists(f, MKT_FEATURES_USER_NAMES))
        mkt_fail_all(MKT_EXIT_ERROR, "train segments: %s has no /features; run `mkt features --store %s` first",
                     opt->store, opt->store);
    int64_t F = 0;
    int64_t U = s->U = mkt_h5_rows(f, MKT_FEATURES_USERS, &F);
    char **fnames = mkt_h5_read_strings(f, MKT_FEATURES_USER_NAMES, 0, F);
    double *stats = mkt_xmalloc(sizeof(double) * (size_t)(4 * F));
    mkt_h5_read_rows(f, MKT_FEATURES_USER_STATS, H5T_NATIVE_DOUBLE, 0, 4, stats);
    int d = NSEG_FEATURES, colof[NSEG_FEATURES];
    double *mean = s->mean, *sd = s->sd;
    for (int j = 0; j < d; j++) {
        colof[j] = -1;
        for (int64_t c = 0; c < F; c++)
            if (!strcmp(fnames[c], segment_features[j]))
                colof[j] = (int)c;
        if (colof[j] < 0)
            mkt_fail_all(MKT_EXIT_ERROR, "train segments: %s: /features/user_names lacks '%s'; rerun mkt features",
                         opt->store, segment_features[j]);
        mean[j] = stats[colof[j]];
        sd[j] = stats[F + colof[j]];
    }
    mkt_h5_free_strings(fnames, F);
    free(stats);
    mkt_block b = mkt_block_of(U, nranks, rank);
    int64_t nl = s->nl = b.end - b.begin;
    s->begin = b.begin;
    double *raw = mkt_xcalloc((size_t)(nl * F) + 1, sizeof(double));
    mkt_h5_read_rows(f, MKT_FEATURES_USERS, H5T_NATIVE_DOUBLE, b.begin, nl, raw);
    mkt_h5_close(f);
    s->z = mkt_xcalloc((size_t)(nl * d) + 1, sizeof(double));
    s->spend = mkt_xcalloc((size_t)nl + 1, sizeof(double));
    for (int64_t i = 0; i < nl; i++) {
        for (int j = 0; j < d; j++)
            s->z[i * d + j] = sd[j] > 0 ? (raw[i * F + colof[j]] - mean[j]) / sd[j] : 0;
        s->spend[i] = raw[i * F + colof[2]];
    }
    free(raw);
}

/* Collective. Users per segment (sizes) and their mean spend, exact sums. */
static void segment_sizes(const segment_rows *s, const int32_t *assign, int k, int64_t *sizes, double *mean_spend,
                          MPI_Comm comm)
{
    mkt_xsum *ssum = mkt_xmalloc(sizeof(mkt_xsum) * (size_t)k);
    for (int c = 0; c < k; c++)
        mkt_xsum_init(&ssum[c]);
    for (int64_t i = 0; i < s->nl; i++) {
        sizes[assign[i]]++;
        mkt_xsum_add(&ssum[assign[i]], s->spend[i]);
    }
    MKT_MPI(MPI_Allreduce(MPI_IN_PLACE, sizes, k, MPI_INT64_T, MPI_SUM, comm));
    mkt_allreduce_xsum(ssum, k, comm);
    for (int c = 0; c < k; c++)
        mean_spend[c] = sizes[c] > 0 ? mkt_xsum_value(&ssum[c]) / (double)sizes[c] : 0;
    free(ssum);
}

/* A fitted segmentation: k centroids (original and standardized units),
 * names, sizes, mean spend, this rank's assignments. */
typedef struct {
    int k, iters;
    const double *co, *cz;
    char (*names)[MKT_SEGMENT_NAME_LEN];
    const int64_t *sizes;
    const double *mean_spend;
    const int32_t *assign;
} segment_fit;

/* Collective. /models/segments in opt->out. */
static void segments_write(const mkt_segments_options *opt, const segment_rows *s, const segment_fit *m,
                           MPI_Comm comm)
{
    int k = m->k;
    char **nm = mkt_xcalloc((size_t)k, sizeof(char *));
    for (int c = 0; c < k; c++)
        nm[c] = m->names[c];
    mkt_segments_save_args a = {.model = {s->U, k},
                                .features = NSEG_FEATURES,
                                .centroids = m->co,
                                .centroids_std = m->cz,
                                .sizes = m->sizes,
                                .mean_spend = m->mean_spend,
                                .names = nm,
                                .feature_names = (char *const *)segment_features,
                                .feature_mean = s->mean,
                                .feature_std = s->sd,
                                .assignment = m->assign,
                                .begin = s->begin,
                                .n = s->nl,
                                .seed = (int64_t)opt->config.seed,
                                .iterations = m->iters};
    mkt_model_writer w;
    mkt_model_begin(&w, opt->out, MKT_MODELS_SEGMENTS, comm);
    mkt_segments_save(w.file, w.group, &a, comm);
    mkt_model_end(&w, comm);
    free(nm);
}

void mkt_segments_options_init(mkt_segments_options *opt)
{
    memset(opt, 0, sizeof *opt);
    mkt_kmeans_config_defaults(&opt->config);
}

int mkt_segments_run(const mkt_segments_options *opt, MPI_Comm comm, json_t *metrics)
{
    const char *bad = mkt_kmeans_check_config(&opt->config);
    if (bad)
        mkt_fail_all(MKT_EXIT_USAGE, "train segments: %s", bad);
    double t0 = mkt_now();
    segment_rows s;
    segments_read(opt, &s, comm);
    int d = NSEG_FEATURES;
    const double *mean = s.mean, *sd = s.sd;
    double t_read = mkt_now() - t0;

    double t1 = mkt_now();
    int k = opt->config.k;
    double *cz = mkt_xcalloc((size_t)(k * d), sizeof(double));
    int32_t *assign = mkt_xcalloc((size_t)s.nl + 1, sizeof(int32_t));
    int iters = mkt_kmeans_fit(s.z, s.nl, d, k, opt->config.seed, opt->config.iters, comm, cz, assign);
    double t_fit = mkt_now() - t1;
    free(s.z);

    double *co = mkt_xcalloc((size_t)(k * d), sizeof(double));
    for (int c = 0; c < k; c++)
        for (int j = 0; j < d; j++)
            co[c * d + j] = cz[c * d + j] * sd[j] + mean[j];
    mkt_segment_roles roles = {2, 1, 0, 3, 6};
    char(*names)[MKT_SEGMENT_NAME_LEN] = mkt_xcalloc((size_t)k, MKT_SEGMENT_NAME_LEN);
    mkt_kmeans_name(cz, co, k, d, &roles, names);

    int64_t *sizes = mkt_xcalloc((size_t)k, sizeof(int64_t));
    double *mean_spend = mkt_xcalloc((size_t)k, sizeof(double));
    segment_sizes(&s, assign, k, sizes, mean_spend, comm);
    free(s.spend);

    double t2 = mkt_now();
    segment_fit m = {k, iters, co, cz, names, sizes, mean_spend, assign};
    segments_write(opt, &s, &m, comm);
    double t_write = mkt_now() - t2;

    if (metrics) {
        mkt_metrics_set_int(metrics, "users", s.U);
        mkt_metrics_set_int(metrics, "k", k);
        mkt_metrics_set_int(metrics, "iterations", iters);
        json_t *segs = json_array();
        for (int c = 0; c < k; c++) {
            json_t *e = json_object();
            mkt_metrics_set_str(e, "name", names[c]);
            mkt_metrics_set_int(e, "size", sizes[c]);
            mkt_metrics_set_real(e, "mean_spend", mean_spend[c]);
            json_t *cen = mkt_metrics_child(e, "centroid");
            for (int j = 0; j < d; j++)
                mkt_metrics_set_real(cen, segment_features[j], co[c * d + j]);
            json_array_append_new(segs, e);
        }
        json_object_set_new(metrics, "segments", segs);
        double secs[4] = {t_read, t_fit, t_write, mkt_now() - t0}, mx[4];
        MKT_MPI(MPI_Allreduce(secs, mx, 4, MPI_DOUBLE, MPI_MAX, comm));
        mkt_metrics_set_real(metrics, "seconds_read", mx[0]);
        mkt_metrics_set_real(metrics, "seconds_fit", mx[1]);
        mkt_metrics_set_real(metrics, "seconds_write", mx[2]);
        mkt_metrics_set_real(metrics, "seconds_total", mx[3]);
    }
    for (int c = 0; c < k; c++)
        mkt_log("train segments", "segment %d %-30s %8lld users, mean spend %.2f", c, names[c], (long long)sizes[c],
                mean_spend[c]);
    free(names);
    free(sizes);
    free(mean_spend);
    free(co);
    free(cz);
    free(assign);
    return MKT_EXIT_OK;
}
