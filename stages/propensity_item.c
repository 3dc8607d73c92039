/* propensity_item.c — `mkt train propensity --target user_item`: will this
 * user buy this item?  Examples are each item a user bought in the label
 * window and sampled negatives, with user and item features and optionally
 * the factor score of a /models/mf; writes /models/propensity_item.  Must
 * not: define models or optimizers, or let the model depend on the rank
 * count (negatives are drawn from a stream of (seed, user)). */
#include "propensity_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exactsum.h"
#include "iocheck.h"
#include "metrics.h"
#include "metrics_json.h"
#include "mkt_types.h"
#include "rng.h"


/* ---------- "will this user buy this item?" (target user_item) ---------- */

#define ITEM_GROUP MKT_MODELS_PROPENSITY_ITEM
#define STREAM_NEGATIVES UINT64_C(0x6e656761746976) /* rng purpose of sampled negative items */

/* read_purchased_items' state over the events: CSR of the items bought in
 * the label window and of the rule's history before it */
typedef struct {
    const char *store;
    int64_t nitems, from, to, hfrom, cur; /* cur: the user whose rows are being filled */
    int64_t *ptr, *hptr, *hlast;          /* hlast: day of the last counted purchase */
    int64_t cap, used, hcap, hused;
    int32_t *items, *hitems, *hdays;
} item_scan;

/* before the cutoff: one more day the user bought `item` (the rule's history) */
static void item_history(item_scan *s, int64_t u, int64_t ts, int32_t item)
{
    int64_t q = s->hptr[u], day = ts / DAY;
    while (q < s->hused && s->hitems[q] != item)
        q++;
    if (q == s->hused) {
        if (s->hused == s->hcap) {
            s->hcap *= 2;
            s->hitems = mkt_xrealloc(s->hitems, sizeof(int32_t) * (size_t)s->hcap);
            s->hdays = mkt_xrealloc(s->hdays, sizeof(int32_t) * (size_t)s->hcap);
            s->hlast = mkt_xrealloc(s->hlast, sizeof(int64_t) * (size_t)s->hcap);
        }
        s->hitems[s->hused] = item;
        s->hdays[s->hused] = 0;
        s->hlast[s->hused++] = INT64_MIN;
    }
    if (s->hlast[q] != day) {
        s->hdays[q]++;
        s->hlast[q] = day;
    }
}

static void item_event(void *arg, int64_t u, int64_t ts, int32_t type, int32_t qty, int32_t item)
{
    item_scan *s = arg;
    while (s->cur < u) {
        s->ptr[++s->cur] = s->used; /* user u starts where its predecessors ended */
        s->hptr[s->cur] = s->hused;
    }
    if (!(type == MKT_EV_PURCHASE && qty > 0 && ts >= s->hfrom && ts < s->to))
        return;
    if (item < 0 || item >= s->nitems)
        mkt_fail("%s: /events/by_user/item %d is not an item (0..%lld)", s->store, item, (long long)s->nitems - 1);
    if (ts < s->from) {
        item_history(s, u, ts, item);
        return;
    }
    int seen = 0;
    for (int64_t q = s->ptr[u]; q < s->used && !seen; q++)
        seen = s->items[q] == item;
    if (seen)
        return;
    if (s->used == s->cap) {
        s->cap *= 2;
        s->items = mkt_xrealloc(s->items, sizeof(int32_t) * (size_t)s->cap);
    }
    s->items[s->used++] = item;
}

/* Independent. Distinct items each local user purchased (qty > 0) with ts in
 * [from, to), in order of first purchase: CSR (*ptr [n+1], *items).  And
 * for the recency-frequency rule, the items each user purchased in the
 * RF_DAYS days before `from` with the number of distinct days: CSR (*hptr,
 * *hitems, *hdays) (events are sorted by ts within a user). */
static void read_purchased_items(hid_t f, const char *store, mkt_block b, int64_t nitems, int64_t from,
                                 int64_t to, int64_t **ptr_out, int32_t **items_out, int64_t **hptr_out,
                                 int32_t **hitems_out, int32_t **hdays_out)
{
    int64_t n = b.end - b.begin;
    item_scan s = {store, nitems, from, to, from - (int64_t)RF_DAYS * DAY, 0, NULL, NULL, NULL, 1024, 0, 1024, 0,
                   NULL, NULL, NULL};
    s.ptr = mkt_xcalloc((size_t)(n + 1), sizeof(int64_t));
    s.items = mkt_xmalloc(sizeof(int32_t) * (size_t)s.cap);
    s.hptr = mkt_xcalloc((size_t)(n + 1), sizeof(int64_t));
    s.hitems = mkt_xmalloc(sizeof(int32_t) * (size_t)s.hcap);
    s.hdays = mkt_xmalloc(sizeof(int32_t) * (size_t)s.hcap);
    s.hlast = mkt_xmalloc(sizeof(int64_t) * (size_t)s.hcap);
    prop_scan_user_events(f, store, b, 1, item_event, &s);
    while (s.cur < n) {
        s.ptr[++s.cur] = s.used;
        s.hptr[s.cur] = s.hused;
    }
    free(s.hlast);
    *ptr_out = s.ptr;
    *items_out = s.items;
    *hptr_out = s.hptr;
    *hitems_out = s.hitems;
    *hdays_out = s.hdays;
}

/* Collective. Standardize column j of the n rows of x (stride d) with the
 * exact mean and std over all ranks' rows; returns them in *mean, *std. */
static void standardize_column(double *x, int64_t n, int d, int j, double *mean, double *std, MPI_Comm comm)
{
    mkt_xsum acc[3];
    for (int k = 0; k < 3; k++)
        mkt_xsum_init(&acc[k]);
    for (int64_t i = 0; i < n; i++) {
        double v = x[i * d + j];
        mkt_xsum_add(&acc[0], 1.0);
        mkt_xsum_add(&acc[1], v);
        mkt_xsum_add(&acc[2], v * v);
    }
    mkt_allreduce_xsum(acc, 3, comm);
    double cnt = mkt_xsum_value(&acc[0]);
    double mu = cnt > 0 ? mkt_xsum_value(&acc[1]) / cnt : 0;
    double var = cnt > 0 ? mkt_xsum_value(&acc[2]) / cnt - mu * mu : 0;
    double sd = var > 0 ? sqrt(var) : 0;
    for (int64_t i = 0; i < n; i++)
        x[i * d + j] = sd > 0 ? (x[i * d + j] - mu) / sd : 0.0;
    *mean = mu;
    *std = sd;
}

/* Copy rows of x (stride d) dropping the last column. */
static double *drop_last_column(const double *x, int64_t n, int d)
{
    double *o = mkt_xmalloc(sizeof(double) * (size_t)(n * (d - 1) + 1));
    for (int64_t i = 0; i < n; i++)
        memcpy(o + i * (d - 1), x + i * d, sizeof(double) * (size_t)(d - 1));
    return o;
}

/* Collective. Train a fresh model of `inputs` inputs, early stopping on
 * `valid`; the kept parameters' probabilities of the `test` rows (global row
 * order) and their AUC. */
static double fit_item_model(const model_ctx *base, const mkt_dp_config *c, int inputs, const mkt_dp_data *train,
                             const mkt_dp_data *valid, const mkt_dp_data *test, double **params_out,
                             mkt_dp_result *res, json_t *history, double **vp, int **vy, int64_t *vn, MPI_Comm comm)
{
    model_ctx ctx = *base;
    ctx.mlp.inputs = inputs;
    mkt_dp_model m = prop_make_model(&ctx);
    double *params = mkt_xcalloc((size_t)m.nparams, sizeof(double));
    if (ctx.mlp.hidden > 0)
        mkt_mlp_init_params(&ctx.mlp, ctx.seed, params);
    unsigned char *unpen = prop_intercepts(&ctx, m.nparams);
    mkt_dp_config cu = *c;
    cu.unpenalized = unpen;
    mkt_dp_train(&m, &cu, train, valid, params, res, history ? prop_history_append : NULL, history, comm);
    free(unpen);
    mkt_dp_predict_all(&m, params, test, vp, vy, vn, comm);
    *params_out = params;
    return mkt_auc(*vp, *vy, *vn);
}

/* One run of target user_item: what the steps below hand each other. */
typedef struct {
    model_ctx ctx;
    mkt_dp_config cm; /* the model's fit (l2 resolved, checkpoints hooked) */
    int64_t cutoff;
    const char *group;
    /* the store's features: this rank's users, every item */
    mkt_block b;
    int64_t n, users, nitems, du, di;
    double *xu, *xi, *ustats, *istats;
    char **unames, **inames;
    int64_t *ptr, *hptr; /* read_purchased_items' CSR */
    int32_t *pos, *hitems, *hdays;
    int64_t pop_col;
    double pop_max;
    /* the factor model: mu + b_u + b_i + p_u . q_i */
    int has_mf;
    int64_t K;
    double *pu, *qi, *bu, *bi, mu;
    /* the examples */
    int d;
    double *xt, *xv, *xs, *rs;
    int *yt, *yv, *ys;
    int64_t nt, nv, ns, cnt[6];
    double mf_mean, mf_std;
    /* the fits and their test rows */
    json_t *history;
    mkt_dp_result res, res0;
    double *params, *vp, *params0, *vp0;
    int *vy, *vy0;
    int64_t vn, vn0;
    ckpt_run cr;
    double auc, auc0, ll, train_rate, rf_auc, base_ll;
    double t_train; /* when the fit began */
    json_t *vm, *bm;
    int gbdt;                       /* model gbdt: forests instead of params */
    mkt_gbdt_model forest, forest0; /* forest0: without the factor score */
} item_run;

/* Collective. The store's user and item features with their stats, the
 * items each local user bought, the rule's item popularity. */
static void item_read_features(const mkt_propensity_options *o, item_run *R, MPI_Comm comm)
{
    int rank, nranks;
    MKT_MPI(MPI_Comm_rank(comm, &rank));
    MKT_MPI(MPI_Comm_size(comm, &nranks));
    const char *group = R->group;
    hid_t f = mkt_h5_open(o->store, 0, comm);
    char path[600];
    int64_t du = 0, di = 0;
    snprintf(path, sizeof path, "%s/users", group);
    int64_t users = mkt_h5_rows(f, path, &du);
    snprintf(path, sizeof path, "%s/items", group);
    int64_t nitems = mkt_h5_rows(f, path, &di);
    if (users != mkt_h5_rows(f, MKT_EVENTS_BY_USER_INDPTR, NULL) - 1)
        mkt_fail_all(MKT_EXIT_ERROR, "%s: %s/users has %lld rows, the store another user count", o->store, group,
                     (long long)users);
    if (nitems < 2)
        mkt_fail_all(MKT_EXIT_ERROR, "%s: %s/items has %lld rows: too few items to sample negatives", o->store,
                     group, (long long)nitems);
    mkt_block b = mkt_block_of(users, nranks, rank);
    int64_t n = b.end - b.begin;
    R->b = b;
    R->n = n;
    R->users = users;
    R->nitems = nitems;
    R->du = du;
    R->di = di;
    R->xu = mkt_xmalloc(sizeof(double) * (size_t)(n * du + 1));
    R->xi = mkt_xmalloc(sizeof(double) * (size_t)(nitems * di + 1));
    R->ustats = mkt_xmalloc(sizeof(double) * (size_t)(4 * du));
    R->istats = mkt_xmalloc(sizeof(double) * (size_t)(4 * di));
    snprintf(path, sizeof path, "%s/users", group);
    mkt_h5_read_rows(f, path, H5T_NATIVE_DOUBLE, b.begin, n, R->xu);
    snprintf(path, sizeof path, "%s/items", group);
    mkt_h5_read_rows(f, path, H5T_NATIVE_DOUBLE, 0, nitems, R->xi);
    snprintf(path, sizeof path, "%s/user_stats", group);
    mkt_h5_read_rows(f, path, H5T_NATIVE_DOUBLE, 0, 4, R->ustats);
    snprintf(path, sizeof path, "%s/item_stats", group);
    mkt_h5_read_rows(f, path, H5T_NATIVE_DOUBLE, 0, 4, R->istats);
    snprintf(path, sizeof path, "%s/user_names", group);
    R->unames = mkt_h5_read_strings(f, path, 0, du);
    snprintf(path, sizeof path, "%s/item_names", group);
    R->inames = mkt_h5_read_strings(f, path, 0, di);
    read_purchased_items(f, o->store, b, nitems, R->cutoff, R->cutoff + o->config.horizon_days * DAY, &R->ptr, &R->pos,
                         &R->hptr, &R->hitems, &R->hdays);
    mkt_h5_close(f);
    /* the rule's tie-break: the item's purchases before the cutoff (item feature "purchases") */
    R->pop_col = -1;
    for (int64_t j = 0; j < di; j++)
        if (!strcmp(R->inames[j], "purchases"))
            R->pop_col = j;
    R->pop_max = 0;
    for (int64_t i = 0; R->pop_col >= 0 && i < nitems; i++)
        if (R->xi[i * di + R->pop_col] > R->pop_max)
            R->pop_max = R->xi[i * di + R->pop_col];
}

/* Collective. With --mf-model: the factor model's parameters of this rank's
 * users and of every item. */
static void item_read_mf(const mkt_propensity_options *o, item_run *R, MPI_Comm comm)
{
    R->has_mf = o->mf_model && *o->mf_model;
    if (!R->has_mf)
        return;
    int64_t cutoff = R->cutoff, n = R->n, nitems = R->nitems;
    hid_t mf = mkt_h5_open(o->mf_model, 0, comm);
    if (!mkt_h5_exists(mf, MKT_MODELS_MF))
        mkt_fail_all(MKT_EXIT_ERROR, "%s: no /models/mf group (mf-model must be a file written by train mf)",
                     o->mf_model);
    /* The factor score is a feature: the factors must not have seen the
     * label window (a model without until_ts saw the whole log). */
    int64_t until = mkt_h5_attr_get_int(mf, MKT_MODELS_MF, "until_ts", INT64_MAX);
    if (until > cutoff)
        mkt_fail_all(MKT_EXIT_USAGE,
                     "%s: /models/mf was trained on events up to %s (until_ts), past the cutoff %lld: its factor "
                     "score would see the label window; retrain it with `mkt train mf --until %lld`",
                     o->mf_model, until == INT64_MAX ? "the end of the log" : "its until_ts", (long long)cutoff,
                     (long long)cutoff);
    int64_t ku = 0, ki = 0;
    int64_t mu_rows = mkt_h5_rows(mf, MKT_MODELS_MF_USER_FACTORS, &ku);
    int64_t mi_rows = mkt_h5_rows(mf, MKT_MODELS_MF_ITEM_FACTORS, &ki);
    if (mu_rows != R->users || mi_rows != nitems || ku != ki)
        mkt_fail_all(MKT_EXIT_ERROR,
                     "%s: /models/mf has %lld users x %lld items (rank %lld/%lld); the store has %lld x %lld",
                     o->mf_model, (long long)mu_rows, (long long)mi_rows, (long long)ku, (long long)ki,
                     (long long)R->users, (long long)nitems);
    int64_t K = R->K = ku;
    R->pu = mkt_xmalloc(sizeof(double) * (size_t)(n * K + 1));
    R->qi = mkt_xmalloc(sizeof(double) * (size_t)(nitems * K + 1));
    R->bu = mkt_xmalloc(sizeof(double) * (size_t)(n + 1));
    R->bi = mkt_xmalloc(sizeof(double) * (size_t)(nitems + 1));
    mkt_h5_read_rows(mf, MKT_MODELS_MF_USER_FACTORS, H5T_NATIVE_DOUBLE, R->b.begin, n, R->pu);
    mkt_h5_read_rows(mf, MKT_MODELS_MF_ITEM_FACTORS, H5T_NATIVE_DOUBLE, 0, nitems, R->qi);
    mkt_h5_read_rows(mf, MKT_MODELS_MF_USER_BIAS, H5T_NATIVE_DOUBLE, R->b.begin, n, R->bu);
    mkt_h5_read_rows(mf, MKT_MODELS_MF_ITEM_BIAS, H5T_NATIVE_DOUBLE, 0, nitems, R->bi);
    R->mu = mkt_h5_attr_get_double(mf, MKT_MODELS_MF, "global_mean", 0);
    mkt_h5_close(mf);
}

/* The features of (local user u, item): standardized user and item
 * features, then the raw factor score (standardized later). */
static void item_row(const item_run *R, int64_t u, int32_t item, double *row)
{
    int64_t du = R->du, di = R->di, K = R->K;
    for (int64_t j = 0; j < du; j++) {
        double s = R->ustats[du + j], z = s > 0 ? (R->xu[u * du + j] - R->ustats[j]) / s : 0.0;
        row[j] = isfinite(z) ? z : 0.0;
    }
    for (int64_t j = 0; j < di; j++) {
        double s = R->istats[di + j], z = s > 0 ? (R->xi[(int64_t)item * di + j] - R->istats[j]) / s : 0.0;
        row[du + j] = isfinite(z) ? z : 0.0;
    }
    if (R->has_mf) {
        double sc = R->mu + R->bu[u] + R->bi[item];
        for (int64_t j = 0; j < K; j++)
            sc += R->pu[u * K + j] * R->qi[(int64_t)item * K + j];
        row[R->d - 1] = isfinite(sc) ? sc : 0.0;
    }
}

/* The recency-frequency rule's score of (local user u, item): days the user
 * bought it before the cutoff, ties by the item's popularity. */
static double item_rf(const item_run *R, int64_t u, int32_t item)
{
    double days = 0;
    for (int64_t z = R->hptr[u]; z < R->hptr[u + 1]; z++)
        if (R->hitems[z] == item)
            days = R->hdays[z];
    double pop = R->pop_col >= 0 ? R->xi[(int64_t)item * R->di + R->pop_col] : 0;
    return days + (pop > 0 ? 0.5 * pop / (R->pop_max + 1) : 0.0);
}

/* Examples, user by user: each purchased item, then its sampled negatives. */
static void item_examples(const mkt_propensity_options *o, item_run *R)
{
    int d = R->d = (int)(R->du + R->di + (R->has_mf ? 1 : 0));
    int64_t n = R->n, *ptr = R->ptr;
    int32_t *pos = R->pos;
    int64_t maxrows = ptr[n] * (1 + o->config.negatives);
    R->xt = mkt_xmalloc(sizeof(double) * (size_t)(maxrows * d + 1));
    R->xv = mkt_xmalloc(sizeof(double) * (size_t)(maxrows * d + 1));
    R->xs = mkt_xmalloc(sizeof(double) * (size_t)(maxrows * d + 1));
    R->rs = mkt_xmalloc(sizeof(double) * (size_t)(maxrows + 1));
    R->yt = mkt_xmalloc(sizeof(int) * (size_t)(maxrows + 1));
    R->yv = mkt_xmalloc(sizeof(int) * (size_t)(maxrows + 1));
    R->ys = mkt_xmalloc(sizeof(int) * (size_t)(maxrows + 1));
    for (int64_t u = 0; u < n; u++) {
        int set = prop_split_of(o->config.seed, R->b.begin + u, o->config.test_fraction, o->config.valid_fraction);
        mkt_rng r;
        mkt_rng_init(&r, o->config.seed, STREAM_NEGATIVES, (uint64_t)(R->b.begin + u));
        for (int64_t q = ptr[u]; q < ptr[u + 1]; q++)
            for (int k = 0; k <= o->config.negatives; k++) {
                int32_t item = pos[q];
                if (k > 0) { /* an item the user did not buy in the window (20 tries, then any) */
                    for (int tries = 0; tries < 20; tries++) {
                        item = (int32_t)mkt_rng_below(&r, (uint64_t)R->nitems);
                        int bought = 0;
                        for (int64_t z = ptr[u]; z < ptr[u + 1] && !bought; z++)
                            bought = pos[z] == item;
                        if (!bought)
                            break;
                    }
                }
                double *row = set == SPLIT_TEST    ? R->xs + R->ns * d
                              : set == SPLIT_VALID ? R->xv + R->nv * d
                                                   : R->xt + R->nt * d;
                item_row(R, u, item, row);
                if (set == SPLIT_TEST) {
                    R->rs[R->ns] = item_rf(R, u, item);
                    R->ys[R->ns++] = k == 0;
                } else if (set == SPLIT_VALID) {
                    R->yv[R->nv++] = k == 0;
                } else {
                    R->yt[R->nt++] = k == 0;
                }
            }
    }
}

/* Collective. The factor score standardized (its scale comes from the
 * training rows; the other rows use it), the rows counted and checked. */
static void item_standardize_count(const mkt_propensity_options *o, item_run *R, MPI_Comm comm)
{
    int d = R->d;
    R->mf_mean = 0;
    R->mf_std = 0;
    if (R->has_mf) {
        standardize_column(R->xt, R->nt, d, d - 1, &R->mf_mean, &R->mf_std, comm);
        double mf_mean = R->mf_mean, mf_std = R->mf_std;
        for (int64_t i = 0; i < R->nv; i++)
            R->xv[i * d + d - 1] = mf_std > 0 ? (R->xv[i * d + d - 1] - mf_mean) / mf_std : 0.0;
        for (int64_t i = 0; i < R->ns; i++)
            R->xs[i * d + d - 1] = mf_std > 0 ? (R->xs[i * d + d - 1] - mf_mean) / mf_std : 0.0;
    }
    int64_t *cnt = R->cnt;
    cnt[0] = R->nt;
    cnt[1] = R->nv;
    cnt[2] = R->ns;
    cnt[3] = cnt[4] = cnt[5] = 0;
    for (int64_t i = 0; i < R->nt; i++)
        cnt[3] += R->yt[i];
    for (int64_t i = 0; i < R->nv; i++)
        cnt[4] += R->yv[i];
    for (int64_t i = 0; i < R->ns; i++)
        cnt[5] += R->ys[i];
    MKT_MPI(MPI_Allreduce(MPI_IN_PLACE, cnt, 6, MPI_INT64_T, MPI_SUM, comm));
    if (cnt[3] == 0)
        mkt_fail_all(MKT_EXIT_ERROR,
                     "%s: no purchases in the %lld days after cutoff %lld among training users: nothing to learn",
                     o->store, (long long)o->config.horizon_days, (long long)R->cutoff);
    prop_require_test_rows(STAGE_TRAIN, "user x item rows", cnt[2], cnt[5], o->config.test_fraction, R->cutoff,
                           o->config.horizon_days);
    mkt_log(STAGE_TRAIN, "user x item: %lld training examples (%lld purchased), %lld validation (%lld), %lld test "
                         "(%lld), %d negatives per purchase, %d features%s",
            (long long)cnt[0], (long long)cnt[3], (long long)cnt[1], (long long)cnt[4], (long long)cnt[2],
            (long long)cnt[5], o->config.negatives, d, R->has_mf ? " (with the factor score)" : "");
}

static void item_columns(const item_run *R, double **mean_out, double **std_out, char ***names_out);
static void item_free(item_run *R);

/* This rank's rows of R as examples of d columns (the first d of R's; the
 * arrays are R's, or copies without the factor score when d < R->d). */
static examples item_view(const item_run *R, int d, char **names)
{
    examples e;
    memset(&e, 0, sizeof e);
    e.d = d;
    e.names = names;
    e.xt = d < R->d ? drop_last_column(R->xt, R->nt, R->d) : R->xt;
    e.xv = d < R->d ? drop_last_column(R->xv, R->nv, R->d) : R->xv;
    e.xs = d < R->d ? drop_last_column(R->xs, R->ns, R->d) : R->xs;
    e.yt = R->yt;
    e.yv = R->yv;
    e.ys = R->ys;
    e.nt = R->nt;
    e.nv = R->nv;
    e.ns = R->ns;
    e.users = R->users;
    e.local_users = R->n;
    for (int64_t i = 0; i < R->nt; i++)
        e.positives_local += R->yt[i] != 0;
    for (int64_t i = 0; i < R->nv; i++)
        e.positives_local += R->yv[i] != 0;
    for (int64_t i = 0; i < R->ns; i++)
        e.positives_local += R->ys[i] != 0;
    return e;
}

/* Collective. Model gbdt (propensity_gbdt.c): the forest with checkpoints,
 * its test rows' probabilities; 1 when a signal stopped it (as item_fit). */
static int item_fit_gbdt(const mkt_propensity_options *o, item_run *R, json_t *metrics, MPI_Comm comm)
{
    double *mean, *std;
    char **names;
    item_columns(R, &mean, &std, &names);
    examples e = item_view(R, R->d, names);
    R->history = json_array();
    R->t_train = mkt_now();
    int stopped = prop_gbdt_fit(o, &e, "propensity_item", R->group, R->cutoff, &R->cr, &R->forest, &R->res,
                                R->history, metrics, comm);
    mkt_h5_free_strings(names, R->d);
    free(mean);
    free(std);
    if (stopped) {
        json_decref(R->history);
        R->history = NULL;
        mkt_ckpt_config_free(&R->cr.cfg);
        mkt_ckpt_free(&R->cr.ck);
        R->gbdt = 0; /* no forest to free */
        item_free(R);
        return 1;
    }
    mkt_dp_model fm = prop_forest_model(&R->forest);
    mkt_dp_data test = {R->xs, R->ys, R->ns, R->d};
    mkt_dp_predict_all(&fm, NULL, &test, &R->vp, &R->vy, &R->vn, comm);
    R->auc = mkt_auc(R->vp, R->vy, R->vn);
    return 0;
}

/* Collective. The model's fit, with --l2 auto and checkpoints (the
 * comparison fit without the factor score, which is not stored, is run again
 * after a resume); 1 when a signal stopped it (the large arrays are then
 * freed: the process ends with the preemption status). */
static int item_fit(const mkt_propensity_options *o, const mkt_dp_config *c, item_run *R, json_t *metrics,
                    MPI_Comm comm)
{
    if (R->gbdt)
        return item_fit_gbdt(o, R, metrics, comm);
    int d = R->d;
    mkt_dp_data train = {R->xt, R->yt, R->nt, d}, valid = {R->xv, R->yv, R->nv, d}, test = {R->xs, R->ys, R->ns, d};
    R->history = json_array();
    R->cm = *c;
    model_ctx mctx0 = R->ctx;
    mctx0.mlp.inputs = d;
    mkt_dp_model m_main = prop_make_model(&mctx0);
    int64_t np_main = m_main.nparams;
    {
        /* --l2 auto: chosen once, for the model with every feature; the
         * comparison fit without the factor score uses the same l2 */
        double *init = mkt_xcalloc((size_t)np_main, sizeof(double));
        if (mctx0.mlp.hidden > 0)
            mkt_mlp_init_params(&mctx0.mlp, mctx0.seed, init);
        unsigned char *unpen = prop_intercepts(&mctx0, np_main);
        R->cm.unpenalized = unpen;
        R->cm.l2 = prop_resolve_l2(o, &m_main, &R->cm, init, &train, &valid, metrics, comm);
        R->cm.unpenalized = NULL;
        free(unpen);
        free(init);
    }
    ckpt_run *cr = &R->cr;
    mkt_ckpt_init(&cr->ck, STAGE_TRAIN, o->checkpoint, o->out, "propensity_item", o->checkpoint_every, o->resume);
    prop_options_config(o, &R->ctx, &R->cm, "propensity-item-3", R->group, R->cutoff, np_main, &cr->cfg);
    mkt_ckpt_config_int(&cr->cfg, "negatives", o->config.negatives);
    if (R->has_mf)
        mkt_ckpt_config_path(&cr->cfg, "mf_model", o->mf_model);
    else
        mkt_ckpt_config_str(&cr->cfg, "mf_model", "");
    mkt_ckpt_config_int(&cr->cfg, "train_examples", R->cnt[0]);
    mkt_ckpt_config_int(&cr->cfg, "validation_examples", R->cnt[1]);
    mkt_ckpt_config_int(&cr->cfg, "test_examples", R->cnt[2]);
    mkt_ckpt_config_int(&cr->cfg, "positives", R->cnt[3]);
    prop_ckpt_attach(cr, np_main, &R->cm, R->history, metrics, comm);
    R->t_train = mkt_now();
    R->auc = fit_item_model(&R->ctx, &R->cm, d, &train, &valid, &test, &R->params, &R->res, R->history, &R->vp,
                            &R->vy, &R->vn, comm);
    if (prop_ckpt_detach(cr, &R->cm, &R->res, metrics)) {
        json_decref(R->history);
        mkt_ckpt_config_free(&cr->cfg);
        mkt_ckpt_free(&cr->ck);
        free(R->params);
        free(R->vp);
        free(R->vy);
        free(R->xt);
        free(R->xv);
        free(R->xs);
        free(R->rs);
        free(R->yt);
        free(R->yv);
        free(R->ys);
        return 1;
    }
    return 0;
}

/* Collective. The same model without the factor score, for comparison. */
static void item_fit_without_mf(const mkt_propensity_options *o, item_run *R, MPI_Comm comm)
{
    int d = R->d;
    if (R->gbdt) {
        examples e = item_view(R, d - 1, NULL);
        prop_gbdt_fit_quiet(o, &e, &R->forest0, comm);
        mkt_dp_model fm = prop_forest_model(&R->forest0);
        mkt_dp_data test0 = {e.xs, R->ys, R->ns, d - 1};
        mkt_dp_predict_all(&fm, NULL, &test0, &R->vp0, &R->vy0, &R->vn0, comm);
        R->auc0 = mkt_auc(R->vp0, R->vy0, R->vn0);
        mkt_gbdt_model_free(&R->forest0);
        free(e.xt);
        free(e.xv);
        free(e.xs);
        mkt_log(STAGE_TRAIN, "test AUC %.4f with the factor score, %.4f without", R->auc, R->auc0);
        return;
    }
    double *xt0 = drop_last_column(R->xt, R->nt, d), *xv0 = drop_last_column(R->xv, R->nv, d);
    double *xs0 = drop_last_column(R->xs, R->ns, d);
    mkt_dp_data train0 = {xt0, R->yt, R->nt, d - 1}, valid0 = {xv0, R->yv, R->nv, d - 1},
                test0 = {xs0, R->ys, R->ns, d - 1};
    mkt_dp_config c0 = R->cm;
    c0.stage = NULL;
    c0.after_epoch = NULL;
    c0.hook_arg = NULL;
    c0.resume = NULL;
    R->auc0 = fit_item_model(&R->ctx, &c0, d - 1, &train0, &valid0, &test0, &R->params0, &R->res0, NULL, &R->vp0,
                             &R->vy0, &R->vn0, comm);
    free(xt0);
    free(xv0);
    free(xs0);
    mkt_log(STAGE_TRAIN, "test AUC %.4f with the factor score, %.4f without", R->auc, R->auc0);
}

/* Collective. The validation rows' quality at the kept parameters; the test
 * rows (vp, vy) beside the baselines. */
static void item_evaluate(item_run *R, MPI_Comm comm)
{
    int d = R->d;
    R->vm = json_object();
    if (R->cnt[1] > 0) {
        mkt_dp_data valid = {R->xv, R->yv, R->nv, d};
        model_ctx mv = R->ctx;
        mv.mlp.inputs = d;
        mkt_dp_model mm = R->gbdt ? prop_forest_model(&R->forest) : prop_make_model(&mv);
        double *pv;
        int *py;
        int64_t pn;
        mkt_dp_predict_all(&mm, R->params, &valid, &pv, &py, &pn, comm);
        prop_quality_metrics(R->vm, pv, py, pn);
        if (R->gbdt) /* the dp trainer reports it for the other models */
            R->res.val_auc = mkt_auc(pv, py, pn);
        free(pv);
        free(py);
    }
    R->ll = mkt_log_loss(R->vp, R->vy, R->vn);
    R->bm = json_object();
    int64_t rn;
    double *rall = prop_gather_doubles(R->rs, R->ns, &rn, comm);
    R->train_rate = (double)R->cnt[3] / (double)R->cnt[0];
    prop_baseline_metrics(R->bm, R->train_rate, R->vy, rall, RF_RULE_ITEM, R->vn, &R->rf_auc, &R->base_ll);
    free(rall);
}

/* The columns' normalization and names (user_*, item_*, mf_score); free
 * them (names with mkt_h5_free_strings). */
static void item_columns(const item_run *R, double **mean_out, double **std_out, char ***names_out)
{
    int d = R->d;
    int64_t du = R->du, di = R->di;
    double *mean = mkt_xmalloc(sizeof(double) * (size_t)d), *std = mkt_xmalloc(sizeof(double) * (size_t)d);
    char **names = mkt_xmalloc(sizeof(char *) * (size_t)d);
    for (int64_t j = 0; j < du; j++) {
        mean[j] = R->ustats[j];
        std[j] = R->ustats[du + j];
        names[j] = mkt_xmalloc(strlen(R->unames[j]) + 6);
        sprintf(names[j], "user_%s", R->unames[j]);
    }
    for (int64_t j = 0; j < di; j++) {
        mean[du + j] = R->istats[j];
        std[du + j] = R->istats[di + j];
        names[du + j] = mkt_xmalloc(strlen(R->inames[j]) + 6);
        sprintf(names[du + j], "item_%s", R->inames[j]);
    }
    if (R->has_mf) {
        mean[d - 1] = R->mf_mean;
        std[d - 1] = R->mf_std;
        names[d - 1] = mkt_xmalloc(16);
        strcpy(names[d - 1], "mf_score");
    }
    *mean_out = mean;
    *std_out = std;
    *names_out = names;
}

/* Collective. The model file; returns the model's parameter count. */
static int64_t item_write_model(const mkt_propensity_options *o, const item_run *R, MPI_Comm comm)
{
    int d = R->d;
    int64_t du = R->du, di = R->di;
    double *mean, *std;
    char **names;
    item_columns(R, &mean, &std, &names);
    int8_t *vlabel = mkt_xmalloc((size_t)(R->vn + 1));
    for (int64_t i = 0; i < R->vn; i++)
        vlabel[i] = (int8_t)(R->vy[i] != 0);
    model_ctx mctx = R->ctx;
    mctx.mlp.inputs = d;
    int64_t nparams = R->gbdt ? 0 : prop_make_model(&mctx).nparams;
    mkt_model_writer w;
    mkt_model_begin(&w, o->out, ITEM_GROUP, comm);
    hid_t of = w.file;
    const char *g = w.group;
    model_common mc = {R->params, mean,      std,     R->vp,   vlabel,        names,     nparams, d,
                       R->vn,     R->cutoff, &R->res, R->group, R->auc, R->ll, R->train_rate, R->rf_auc,
                       R->gbdt ? &R->forest : NULL};
    prop_write_model_common(of, g, o, &R->ctx, &mc, R->cm.l2, comm);
    if (R->gbdt)
        prop_gbdt_write_attrs(of, g, &o->config, &R->forest);
    mkt_h5_attr_set_string(of, g, "target", "user_item");
    mkt_h5_attr_set_int(of, g, "user_inputs", du);
    mkt_h5_attr_set_int(of, g, "item_inputs", di);
    mkt_h5_attr_set_int(of, g, "mf_score", R->has_mf);
    mkt_h5_attr_set_int(of, g, "negatives", o->config.negatives);
    mkt_h5_attr_set_double(of, g, "test_auc_without_mf", R->auc0);
    mkt_model_end(&w, comm);
    mkt_h5_free_strings(names, d);
    free(mean);
    free(std);
    free(vlabel);
    return nparams;
}

/* The metrics JSON of a user_item run (the JSON parts of R move into it). */
static void item_metrics(const mkt_propensity_options *o, item_run *R, int64_t nparams, double seconds_train,
                         double seconds_total, json_t *metrics)
{
    const mkt_dp_result *res = &R->res;
    mkt_metrics_set_str(metrics, "target", "user_item");
    mkt_metrics_set_str(metrics, "model", R->gbdt ? "gbdt" : R->ctx.mlp.hidden ? "mlp" : "logistic");
    if (!R->gbdt) {
        mkt_metrics_set_str(metrics, "optimizer", o->config.optimizer);
        mkt_metrics_set_int(metrics, "parameters", nparams);
    }
    mkt_metrics_set_int(metrics, "users", R->users);
    mkt_metrics_set_int(metrics, "items", R->nitems);
    mkt_metrics_set_int(metrics, "features", R->d);
    mkt_metrics_set_int(metrics, "mf_score", R->has_mf);
    mkt_metrics_set_int(metrics, "negatives", o->config.negatives);
    mkt_metrics_set_int(metrics, "cutoff_ts", R->cutoff);
    mkt_metrics_set_int(metrics, "horizon_days", o->config.horizon_days);
    mkt_metrics_set_int(metrics, "train_examples", R->cnt[0]);
    mkt_metrics_set_int(metrics, "train_positives", R->cnt[3]);
    mkt_metrics_set_int(metrics, "validation_examples", R->cnt[1]);
    mkt_metrics_set_int(metrics, "test_examples", R->cnt[2]);
    prop_split_fit_metrics(metrics, &o->config, res);
    json_t *tm = mkt_metrics_child(metrics, "test");
    prop_quality_metrics(tm, R->vp, R->vy, R->vn);
    if (R->cnt[1] > 0) {
        json_object_set_new(metrics, "validation", R->vm);
        R->vm = NULL;
    }
    json_object_set_new(metrics, "baseline", R->bm);
    R->bm = NULL;
    prop_selection_metrics(metrics, res);
    if (R->has_mf)
        mkt_metrics_set_real(metrics, "auc_without_mf", R->auc0);
    json_object_set_new(metrics, "history", R->history);
    R->history = NULL;
    mkt_metrics_set_real(metrics, "seconds_train", seconds_train);
    mkt_metrics_set_real(metrics, "seconds_total", seconds_total);
    mkt_metrics_set_str(metrics, "out", o->out);
}

static void item_free(item_run *R)
{
    json_decref(R->history);
    json_decref(R->bm);
    json_decref(R->vm);
    mkt_h5_free_strings(R->unames, R->du);
    mkt_h5_free_strings(R->inames, R->di);
    double *d[] = {R->params, R->params0, R->vp, R->vp0, R->xt, R->xv, R->xs, R->rs, R->xu, R->xi, R->ustats,
                   R->istats, R->pu, R->qi, R->bu, R->bi};
    for (size_t k = 0; k < sizeof d / sizeof d[0]; k++)
        free(d[k]);
    free(R->vy);
    free(R->vy0);
    free(R->yt);
    free(R->yv);
    free(R->ys);
    free(R->hptr);
    free(R->hitems);
    free(R->hdays);
    free(R->ptr);
    free(R->pos);
    if (R->gbdt)
        mkt_gbdt_model_free(&R->forest);
}

int prop_train_user_item(const mkt_propensity_options *o, const model_ctx *ctx_in, const mkt_dp_config *c,
                         MPI_Comm comm, json_t *metrics)
{
    double t0 = mkt_now();
    item_run R;
    memset(&R, 0, sizeof R);
    R.ctx = *ctx_in;
    R.auc0 = NAN;
    R.gbdt = !strcmp(o->config.model, "gbdt");
    int64_t end = prop_store_end_ts(o->store, comm);
    R.cutoff = o->cutoff_ts != MKT_PROPENSITY_NO_CUTOFF ? o->cutoff_ts : end - o->config.horizon_days * DAY;
    R.group = prop_group_name(o);
    prop_ensure_features(o->store, R.group, R.cutoff, o->progress, comm, metrics);
    item_read_features(o, &R, comm);
    item_read_mf(o, &R, comm);
    item_examples(o, &R);
    item_standardize_count(o, &R, comm);
    if (item_fit(o, c, &R, metrics, comm))
        return MKT_EXIT_PREEMPTED;
    if (R.has_mf)
        item_fit_without_mf(o, &R, comm);
    double t_trained = mkt_now();
    item_evaluate(&R, comm);
    int64_t nparams = item_write_model(o, &R, comm);
    mkt_ckpt_remove(&R.cr.ck, comm);
    mkt_ckpt_config_free(&R.cr.cfg);
    mkt_ckpt_free(&R.cr.ck);
    double t_end = mkt_now();
    prop_log_result(STAGE_TRAIN, R.auc, R.ll, R.base_ll, R.rf_auc, &R.res, o->out, ITEM_GROUP, t_end - t0);
    if (metrics)
        item_metrics(o, &R, nparams, t_trained - R.t_train, t_end - t0, metrics);
    item_free(&R);
    return prop_finish_run(o, comm);
}
