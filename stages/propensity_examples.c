/* propensity_examples.c — the examples of `mkt train propensity` and `mkt
 * eval propensity`: which features and labels a user gets for a cutoff
 * (labels and the recency-frequency rule's score from the events), the split
 * of the users into training, validation and test sets by hash of (seed,
 * user), rolling training windows and the LIBSVM export.  Must not: train,
 * write a model or compute metrics (train_propensity.c, eval_propensity.c);
 * nothing here may depend on the rank count but the local blocks. */
#include "propensity_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "events.h"
#include "iocheck.h"
#include "features_stage.h"
#include "metrics_json.h"
#include "mkt_types.h"
#include "rng.h"

int prop_split_of(uint64_t seed, int64_t user, double test_fraction, double valid_fraction)
{
    uint64_t h = mkt_hash64(mkt_hash64(seed ^ UINT64_C(0x70726f70656e7369)) ^ (uint64_t)user);
    double u = (double)(h >> 11) * 0x1.0p-53;
    return u < test_fraction ? SPLIT_TEST : u < test_fraction + valid_fraction ? SPLIT_VALID : SPLIT_TRAIN;
}

/* The recency-frequency rule (a baseline, docs/propensity.md): distinct days
 * with a purchase in the RF_DAYS days before the cutoff, ties broken by the
 * recency of the last purchase before the cutoff (more recent first); 0 for
 * a user who never bought. */
static double rf_score(int64_t days_in_window, int64_t last_purchase_ts, int64_t cutoff)
{
    if (last_purchase_ts == INT64_MIN)
        return 0.0;
    double recency_days = (double)(cutoff - last_purchase_ts) / DAY;
    return (double)days_in_window + 1.0 / (2.0 + recency_days);
}

const char *prop_group_name(const mkt_propensity_options *o)
{
    return o->features_group && *o->features_group ? o->features_group : MKT_FEATURES_PROPENSITY;
}

/* Collective. The store's end_ts (the end of its log). */
int64_t prop_store_end_ts(const char *store, MPI_Comm comm)
{
    hid_t f = mkt_h5_open(store, 0, comm);
    int64_t end = mkt_h5_attr_get_int(f, ".", "end_ts", INT64_MIN);
    mkt_h5_close(f);
    if (end == INT64_MIN)
        mkt_fail_all(MKT_EXIT_ERROR, "%s: no end_ts attribute on the root group (not an mkt store?)", store);
    return end;
}

/* Collective. Make sure GROUP holds features cut at `cutoff` (compute them
 * with mkt_features_run when absent or cut elsewhere). Returns 1 if computed. */
int prop_ensure_features(const char *store, const char *group, int64_t cutoff, int progress, MPI_Comm comm,
                           json_t *metrics)
{
    hid_t f = mkt_h5_open(store, 0, comm);
    int have = mkt_h5_exists(f, group) && mkt_h5_attr_get_int(f, group, "has_cutoff", 0) == 1 &&
               mkt_h5_attr_get_int(f, group, "cutoff_ts", INT64_MIN) == cutoff;
    mkt_h5_close(f);
    if (have)
        return 0;
    mkt_features_options fo;
    mkt_features_options_init(&fo);
    fo.store = store;
    fo.group = group;
    fo.cutoff_ts = cutoff;
    fo.has_cutoff = 1;
    fo.progress = progress;
    mkt_features_run(&fo, comm, metrics ? mkt_metrics_child(metrics, "features") : NULL);
    return 1;
}

void prop_examples_free(examples *e)
{
    mkt_h5_free_strings(e->names, e->d);
    free(e->mean);
    free(e->std);
    free(e->xt);
    free(e->xv);
    free(e->xs);
    free(e->yt);
    free(e->yv);
    free(e->ys);
    free(e->rs);
}

/* Independent. Calls fn for every event of this rank's users (block b; u
 * is the user's index in the block), in store order (by user, ts ascending
 * within a user), reading /events/by_user's ts, type, qty and (with_item)
 * item columns in chunks of EVENT_CHUNK rows; item is -1 without with_item. */
void prop_scan_user_events(hid_t f, const char *store, mkt_block b, int with_item, prop_event_fn fn, void *ctx)
{
    int64_t n = b.end - b.begin;
    int64_t *indptr = mkt_events_indptr(f, MKT_BY_USER, b.begin, n);
    unsigned cols = MKT_COL_TS | MKT_COL_TYPE | MKT_COL_QTY | (with_item ? MKT_COL_ITEM : 0);
    mkt_event_cols ev = {0};
    int64_t u = 0;
    for (int64_t at = indptr[0]; at < indptr[n]; at += EVENT_CHUNK) {
        int64_t cnt = indptr[n] - at < EVENT_CHUNK ? indptr[n] - at : EVENT_CHUNK;
        mkt_events_read(f, MKT_BY_USER, cols, at, cnt, &ev);
        for (int64_t k = 0; k < cnt; k++) {
            int64_t row = at + k;
            while (u < n && indptr[u + 1] <= row)
                u++;
            if (u >= n)
                mkt_fail("%s: /events/by_user/indptr does not cover row %lld", store, (long long)row);
            fn(ctx, u, ev.ts[k], ev.type[k], ev.qty[k], with_item ? ev.item[k] : -1);
        }
    }
    free(indptr);
    mkt_event_cols_free(&ev);
}

/* read_labels' state over the events */
typedef struct {
    int *label;
    double *rf;
    int64_t from, to, rf_from;
    int64_t rf_user, rf_days, rf_last;
} label_scan;

static void label_event(void *arg, int64_t u, int64_t ts, int32_t type, int32_t qty, int32_t item)
{
    label_scan *s = arg;
    (void)item;
    if (type == MKT_EV_PURCHASE && qty > 0 && ts >= s->from && ts < s->to)
        s->label[u] = 1;
    if (s->rf && type == MKT_EV_PURCHASE && qty > 0 && ts < s->from) {
        if (u != s->rf_user) {
            if (s->rf_user >= 0)
                s->rf[s->rf_user] = rf_score(s->rf_days, s->rf_last, s->from);
            s->rf_user = u;
            s->rf_days = 0;
            s->rf_last = INT64_MIN;
        }
        /* a new day in the window (ts ascending within the user) */
        if (ts >= s->rf_from && (s->rf_last < s->rf_from || ts / DAY != s->rf_last / DAY))
            s->rf_days++;
        s->rf_last = ts;
    }
}

/* Independent. label[u] = 1 iff user b.begin+u has a purchase (qty > 0) with
 * ts in [from, to); rf (when not NULL): the user's recency-frequency rule
 * score at cutoff `from` (events are sorted by ts within a user). */
static void read_labels(hid_t f, const char *store, mkt_block b, int64_t from, int64_t to, int *label, double *rf)
{
    int64_t n = b.end - b.begin;
    memset(label, 0, sizeof(int) * (size_t)n);
    for (int64_t v = 0; rf && v < n; v++)
        rf[v] = 0.0; /* never bought before the cutoff */
    label_scan s = {label, rf, from, to, from - (int64_t)RF_DAYS * DAY, -1, 0, INT64_MIN};
    prop_scan_user_events(f, store, b, 0, label_event, &s);
    if (rf && s.rf_user >= 0)
        rf[s.rf_user] = rf_score(s.rf_days, s.rf_last, from);
}

/* Collective. Load this rank's block of users: standardized features (with
 * mean/std from the group, or the given ones), labels for [cutoff, cutoff+H),
 * split by hash into training, validation and test users — or, with
 * all_test (a separate test store), every user with an event in the store
 * is a test user and the others are left out; the test users also get the
 * recency-frequency rule's score. */
void prop_load_examples(const char *store, const char *group, int64_t cutoff, int64_t horizon_days,
                          uint64_t seed, double test_fraction, double valid_fraction, const double *mean,
                          const double *std, int all_test, examples *e, MPI_Comm comm)
{
    int rank, nranks;
    MKT_MPI(MPI_Comm_rank(comm, &rank));
    MKT_MPI(MPI_Comm_size(comm, &nranks));
    memset(e, 0, sizeof *e);
    hid_t f = mkt_h5_open(store, 0, comm);
    char path[512];
    snprintf(path, sizeof path, "%s/users", group);
    int64_t cols = 0;
    int64_t users = mkt_h5_rows(f, path, &cols);
    if (users != mkt_h5_rows(f, MKT_EVENTS_BY_USER_INDPTR, NULL) - 1)
        mkt_fail("%s: %s has %lld rows but the store has %lld users", store, path, (long long)users,
                 (long long)(mkt_h5_rows(f, MKT_EVENTS_BY_USER_INDPTR, NULL) - 1));
    e->d = (int)cols;
    e->users = users;
    snprintf(path, sizeof path, "%s/user_names", group);
    e->names = mkt_h5_read_strings(f, path, 0, cols);
    e->mean = mkt_xmalloc(sizeof(double) * (size_t)cols);
    e->std = mkt_xmalloc(sizeof(double) * (size_t)cols);
    if (mean) {
        memcpy(e->mean, mean, sizeof(double) * (size_t)cols);
        memcpy(e->std, std, sizeof(double) * (size_t)cols);
    } else {
        double *stats = mkt_xmalloc(sizeof(double) * (size_t)(4 * cols));
        snprintf(path, sizeof path, "%s/user_stats", group);
        mkt_h5_read_rows(f, path, H5T_NATIVE_DOUBLE, 0, 4, stats);
        memcpy(e->mean, stats, sizeof(double) * (size_t)cols);
        memcpy(e->std, stats + cols, sizeof(double) * (size_t)cols);
        free(stats);
    }
    mkt_block b = mkt_block_of(users, nranks, rank);
    int64_t n = b.end - b.begin;
    e->local_users = n;
    double *x = mkt_xmalloc(sizeof(double) * (size_t)(n * cols + 1));
    snprintf(path, sizeof path, "%s/users", group);
    mkt_h5_read_rows(f, path, H5T_NATIVE_DOUBLE, b.begin, n, x);
    int *label = mkt_xmalloc(sizeof(int) * (size_t)(n + 1));
    double *rf = mkt_xmalloc(sizeof(double) * (size_t)(n + 1));
    read_labels(f, store, b, cutoff, cutoff + horizon_days * DAY, label, rf);
    int64_t *indptr = NULL;
    if (all_test) {
        indptr = mkt_events_indptr(f, MKT_BY_USER, b.begin, n);
    }
    mkt_h5_close(f);

    e->xt = mkt_xmalloc(sizeof(double) * (size_t)(n * cols + 1));
    e->xv = mkt_xmalloc(sizeof(double) * (size_t)(n * cols + 1));
    e->xs = mkt_xmalloc(sizeof(double) * (size_t)(n * cols + 1));
    e->yt = mkt_xmalloc(sizeof(int) * (size_t)(n + 1));
    e->yv = mkt_xmalloc(sizeof(int) * (size_t)(n + 1));
    e->ys = mkt_xmalloc(sizeof(int) * (size_t)(n + 1));
    e->rs = mkt_xmalloc(sizeof(double) * (size_t)(n + 1));
    for (int64_t u = 0; u < n; u++) {
        if (all_test && indptr[u + 1] <= indptr[u])
            continue; /* not in the test store */
        int set = all_test ? SPLIT_TEST : prop_split_of(seed, b.begin + u, test_fraction, valid_fraction);
        double *dst = set == SPLIT_TEST ? e->xs + e->ns * cols
                      : set == SPLIT_VALID ? e->xv + e->nv * cols
                                           : e->xt + e->nt * cols;
        for (int64_t j = 0; j < cols; j++) {
            double z = e->std[j] > 0 ? (x[u * cols + j] - e->mean[j]) / e->std[j] : 0.0;
            dst[j] = isfinite(z) ? z : 0.0;
        }
        if (set == SPLIT_TEST) {
            e->rs[e->ns] = rf[u];
            e->ys[e->ns++] = label[u];
        } else if (set == SPLIT_VALID) {
            e->yv[e->nv++] = label[u];
        } else {
            e->yt[e->nt++] = label[u];
        }
        e->positives_local += label[u];
    }
    free(x);
    free(label);
    free(rf);
    free(indptr);
}

void prop_log_examples(const char *stage, const examples *e, int64_t cutoff, int64_t horizon, MPI_Comm comm)
{
    int64_t c[4] = {e->nt, e->nv, e->ns, e->positives_local};
    MKT_MPI(MPI_Allreduce(MPI_IN_PLACE, c, 4, MPI_INT64_T, MPI_SUM, comm));
    mkt_log(stage, "%lld users (%lld train, %lld validation, %lld test), %d features, cutoff %lld, horizon %lld "
                   "days, %.2f%% buy",
            (long long)e->users, (long long)c[0], (long long)c[1], (long long)c[2], e->d, (long long)cutoff,
            (long long)horizon, e->users ? 100.0 * (double)c[3] / (double)e->users : 0.0);
}

/* Collective. Global count and positives of n local labels y. */
void prop_count_global(const int *y, int64_t n, int64_t out[2], MPI_Comm comm)
{
    out[0] = n;
    out[1] = 0;
    for (int64_t i = 0; i < n; i++)
        out[1] += y[i] != 0;
    MKT_MPI(MPI_Allreduce(MPI_IN_PLACE, out, 2, MPI_INT64_T, MPI_SUM, comm));
}

/* One entry of the metrics' "windows" list. */
json_t *prop_window_json(int k, int64_t cutoff, int64_t horizon_days, const char *group, const char *role,
                           const int64_t train[2], const int64_t valid[2], const int64_t test[2])
{
    json_t *w = json_object();
    mkt_metrics_set_int(w, "window", k);
    mkt_metrics_set_str(w, "role", role);
    mkt_metrics_set_int(w, "cutoff_ts", cutoff);
    mkt_metrics_set_int(w, "label_end_ts", cutoff + horizon_days * DAY);
    mkt_metrics_set_str(w, "features_group", group);
    mkt_metrics_set_int(w, "train_examples", train[0]);
    mkt_metrics_set_int(w, "train_positives", train[1]);
    mkt_metrics_set_int(w, "validation_examples", valid[0]);
    mkt_metrics_set_int(w, "validation_positives", valid[1]);
    mkt_metrics_set_int(w, "test_examples", test[0]);
    mkt_metrics_set_int(w, "test_positives", test[1]);
    return w;
}

/* Collective. Rolling windows (o->config.windows > 1): replace e's training rows by
 * the training users' rows at cutoffs T − k·S, k = 1..W−1 (features from
 * GROUP_w<k>, standardized with window 0's mean and std), interleaved user by
 * user — row (user u, window k) — so the global row order depends on the
 * users only, never on the rank count.  e's validation and test rows
 * (window 0) stay. */
void prop_load_training_windows(const mkt_propensity_options *o, const char *group, int64_t cutoff,
                                  int64_t stride_days, examples *e, json_t *windows, MPI_Comm comm)
{
    int W = o->config.windows;
    int64_t per = e->nt;
    double *xt = mkt_xmalloc(sizeof(double) * (size_t)(per * (W - 1) * e->d + 1));
    int *yt = mkt_xmalloc(sizeof(int) * (size_t)(per * (W - 1) + 1));
    for (int k = 1; k < W; k++) {
        int64_t ck = cutoff - (int64_t)k * stride_days * DAY;
        char gk[600];
        snprintf(gk, sizeof gk, "%s_w%d", group, k);
        prop_ensure_features(o->store, gk, ck, o->progress, comm, NULL);
        examples ek;
        prop_load_examples(o->store, gk, ck, o->config.horizon_days, o->config.seed, o->config.test_fraction, o->config.valid_fraction, e->mean,
                      e->std, 0, &ek, comm);
        if (ek.d != e->d || ek.nt != per)
            mkt_fail("%s: %s has %d features and %lld training users; window 0 has %d and %lld", o->store, gk,
                     ek.d, (long long)ek.nt, e->d, (long long)per);
        for (int64_t i = 0; i < per; i++) {
            int64_t row = i * (W - 1) + (k - 1);
            memcpy(xt + row * e->d, ek.xt + i * e->d, sizeof(double) * (size_t)e->d);
            yt[row] = ek.yt[i];
        }
        int64_t tr[2], none[2] = {0, 0};
        prop_count_global(ek.yt, ek.nt, tr, comm);
        if (windows)
            json_array_append_new(windows, prop_window_json(k, ck, o->config.horizon_days, gk, "train", tr, none, none));
        mkt_log(STAGE_TRAIN, "window %d: cutoff %lld, %lld training examples, %lld buy", k, (long long)ck,
                (long long)tr[0], (long long)tr[1]);
        prop_examples_free(&ek);
    }
    free(e->xt);
    free(e->yt);
    e->xt = xt;
    e->yt = yt;
    e->nt = per * (W - 1);
}

/* Collective. Append this rank's rows as LIBSVM text ("label 1:x1 2:x2 ...",
 * zeros left out, %.17g so the values read back exactly) to PATH, rank after
 * rank, so the file is in global row order; rank 0 truncates it first. */
void prop_export_libsvm(const char *path, const double *x, const int *y, int64_t n, int d, MPI_Comm comm)
{
    int rank, nranks, token = 0;
    MKT_MPI(MPI_Comm_rank(comm, &rank));
    MKT_MPI(MPI_Comm_size(comm, &nranks));
    if (rank > 0)
        MKT_MPI(MPI_Recv(&token, 1, MPI_INT, rank - 1, 0, comm, MPI_STATUS_IGNORE));
    int ok = token == 0;
    if (ok) {
        FILE *fp = fopen(path, rank == 0 ? "w" : "a");
        ok = fp != NULL;
        for (int64_t i = 0; ok && i < n; i++) {
            fputs(y[i] ? "1" : "0", fp);
            for (int j = 0; j < d; j++)
                if (x[i * d + j] != 0)
                    fprintf(fp, " %d:%.17g", j + 1, x[i * d + j]);
            ok = fputc('\n', fp) != EOF;
        }
        if (fp && fclose(fp) != 0)
            ok = 0;
    }
    token = ok ? 0 : 1;
    if (rank + 1 < nranks)
        MKT_MPI(MPI_Send(&token, 1, MPI_INT, rank + 1, 0, comm));
    MKT_MPI(MPI_Bcast(&token, 1, MPI_INT, nranks - 1, comm));
    if (token)
        mkt_fail_all(MKT_EXIT_ERROR, "train propensity: export: cannot write %s", path);
}
