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
    int64_t *indptr = mkt_xmalloc(sizeof(int64_t) * (size_t)(n + 1));
    mkt_h5_read_rows(f, MKT_EVENTS_BY_USER_INDPTR, H5T_NATIVE_INT64, b.begin, n + 1, indptr);
    int64_t *ptr = mkt_xcalloc((size_t)(n + 1), sizeof(int64_t));
    int64_t cap = 1024, used = 0;
    int32_t *items = mkt_xmalloc(sizeof(int32_t) * (size_t)cap);
    int64_t *hptr = mkt_xcalloc((size_t)(n + 1), sizeof(int64_t));
    int64_t hcap = 1024, hused = 0, hfrom = from - (int64_t)RF_DAYS * DAY;
    int32_t *hitems = mkt_xmalloc(sizeof(int32_t) * (size_t)hcap), *hdays = mkt_xmalloc(sizeof(int32_t) * (size_t)hcap);
    int64_t *hlast = mkt_xmalloc(sizeof(int64_t) * (size_t)hcap); /* day of the last counted purchase */
    int64_t *ts = mkt_xmalloc(sizeof(int64_t) * EVENT_CHUNK);
    int32_t *type = mkt_xmalloc(sizeof(int32_t) * EVENT_CHUNK), *qty = mkt_xmalloc(sizeof(int32_t) * EVENT_CHUNK);
    int32_t *it = mkt_xmalloc(sizeof(int32_t) * EVENT_CHUNK);
    int64_t u = 0;
    for (int64_t at = indptr[0]; at < indptr[n]; at += EVENT_CHUNK) {
        int64_t cnt = indptr[n] - at < EVENT_CHUNK ? indptr[n] - at : EVENT_CHUNK;
        mkt_h5_read_rows(f, MKT_EVENTS_BY_USER_TS, H5T_NATIVE_INT64, at, cnt, ts);
        mkt_h5_read_rows(f, MKT_EVENTS_BY_USER_TYPE, H5T_NATIVE_INT32, at, cnt, type);
        mkt_h5_read_rows(f, MKT_EVENTS_BY_USER_QTY, H5T_NATIVE_INT32, at, cnt, qty);
        mkt_h5_read_rows(f, MKT_EVENTS_BY_USER_ITEM, H5T_NATIVE_INT32, at, cnt, it);
        for (int64_t k = 0; k < cnt; k++) {
            int64_t row = at + k;
            while (u < n && indptr[u + 1] <= row) {
                ptr[++u] = used; /* user u starts where its predecessors ended */
                hptr[u] = hused;
            }
            if (u >= n)
                mkt_fail("%s: /events/by_user/indptr does not cover row %lld", store, (long long)row);
            if (!(type[k] == MKT_EV_PURCHASE && qty[k] > 0 && ts[k] >= hfrom && ts[k] < to))
                continue;
            if (it[k] < 0 || it[k] >= nitems)
                mkt_fail("%s: /events/by_user/item %d is not an item (0..%lld)", store, it[k], (long long)nitems - 1);
            if (ts[k] < from) { /* before the cutoff: the rule's history */
                int64_t q = hptr[u], day = ts[k] / DAY;
                while (q < hused && hitems[q] != it[k])
                    q++;
                if (q == hused) {
                    if (hused == hcap) {
                        hcap *= 2;
                        hitems = mkt_xrealloc(hitems, sizeof(int32_t) * (size_t)hcap);
                        hdays = mkt_xrealloc(hdays, sizeof(int32_t) * (size_t)hcap);
                        hlast = mkt_xrealloc(hlast, sizeof(int64_t) * (size_t)hcap);
                    }
                    hitems[hused] = it[k];
                    hdays[hused] = 0;
                    hlast[hused++] = INT64_MIN;
                }
                if (hlast[q] != day) {
                    hdays[q]++;
                    hlast[q] = day;
                }
                continue;
            }
            int seen = 0;
            for (int64_t q = ptr[u]; q < used && !seen; q++)
                seen = items[q] == it[k];
            if (seen)
                continue;
            if (used == cap) {
                cap *= 2;
                items = mkt_xrealloc(items, sizeof(int32_t) * (size_t)cap);
            }
            items[used++] = it[k];
        }
    }
    while (u < n) {
        ptr[++u] = used;
        hptr[u] = hused;
    }
    free(indptr);
    free(ts);
    free(type);
    free(qty);
    free(it);
    free(hlast);
    *ptr_out = ptr;
    *items_out = items;
    *hptr_out = hptr;
    *hitems_out = hitems;
    *hdays_out = hdays;
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

int prop_train_user_item(const mkt_propensity_options *o, const model_ctx *ctx_in, const mkt_dp_config *c,
                           MPI_Comm comm, json_t *metrics)
{
    double t0 = mkt_now();
    int rank, nranks;
    MKT_MPI(MPI_Comm_rank(comm, &rank));
    MKT_MPI(MPI_Comm_size(comm, &nranks));
    if (o->negatives < 1)
        mkt_fail_all(MKT_EXIT_USAGE, "train propensity: negatives: %d is not >= 1", o->negatives);
    model_ctx ctx = *ctx_in;
    int64_t end = prop_store_end_ts(o->store, comm);
    int64_t cutoff = o->has_cutoff ? o->cutoff_ts : end - o->horizon_days * DAY;
    const char *group = prop_group_name(o);
    prop_ensure_features(o->store, group, cutoff, o->progress, comm, metrics);

    /* user and item features with their stats */
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
    double *xu = mkt_xmalloc(sizeof(double) * (size_t)(n * du + 1));
    double *xi = mkt_xmalloc(sizeof(double) * (size_t)(nitems * di + 1));
    double *ustats = mkt_xmalloc(sizeof(double) * (size_t)(4 * du)), *istats = mkt_xmalloc(sizeof(double) * (size_t)(4 * di));
    snprintf(path, sizeof path, "%s/users", group);
    mkt_h5_read_rows(f, path, H5T_NATIVE_DOUBLE, b.begin, n, xu);
    snprintf(path, sizeof path, "%s/items", group);
    mkt_h5_read_rows(f, path, H5T_NATIVE_DOUBLE, 0, nitems, xi);
    snprintf(path, sizeof path, "%s/user_stats", group);
    mkt_h5_read_rows(f, path, H5T_NATIVE_DOUBLE, 0, 4, ustats);
    snprintf(path, sizeof path, "%s/item_stats", group);
    mkt_h5_read_rows(f, path, H5T_NATIVE_DOUBLE, 0, 4, istats);
    snprintf(path, sizeof path, "%s/user_names", group);
    char **unames = mkt_h5_read_strings(f, path, 0, du);
    snprintf(path, sizeof path, "%s/item_names", group);
    char **inames = mkt_h5_read_strings(f, path, 0, di);
    int64_t *ptr, *hptr;
    int32_t *pos, *hitems, *hdays;
    read_purchased_items(f, o->store, b, nitems, cutoff, cutoff + o->horizon_days * DAY, &ptr, &pos, &hptr, &hitems,
                         &hdays);
    mkt_h5_close(f);
    /* the rule's tie-break: the item's purchases before the cutoff (item feature "purchases") */
    int64_t pop_col = -1;
    for (int64_t j = 0; j < di; j++)
        if (!strcmp(inames[j], "purchases"))
            pop_col = j;
    double pop_max = 0;
    for (int64_t i = 0; pop_col >= 0 && i < nitems; i++)
        if (xi[i * di + pop_col] > pop_max)
            pop_max = xi[i * di + pop_col];

    /* the factor model: mu + b_u + b_i + p_u . q_i */
    int has_mf = o->mf_model && *o->mf_model;
    int64_t K = 0;
    double *pu = NULL, *qi = NULL, *bu = NULL, *bi = NULL, mu = 0;
    if (has_mf) {
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
        if (mu_rows != users || mi_rows != nitems || ku != ki)
            mkt_fail_all(MKT_EXIT_ERROR,
                         "%s: /models/mf has %lld users x %lld items (rank %lld/%lld); the store has %lld x %lld",
                         o->mf_model, (long long)mu_rows, (long long)mi_rows, (long long)ku, (long long)ki,
                         (long long)users, (long long)nitems);
        K = ku;
        pu = mkt_xmalloc(sizeof(double) * (size_t)(n * K + 1));
        qi = mkt_xmalloc(sizeof(double) * (size_t)(nitems * K + 1));
        bu = mkt_xmalloc(sizeof(double) * (size_t)(n + 1));
        bi = mkt_xmalloc(sizeof(double) * (size_t)(nitems + 1));
        mkt_h5_read_rows(mf, MKT_MODELS_MF_USER_FACTORS, H5T_NATIVE_DOUBLE, b.begin, n, pu);
        mkt_h5_read_rows(mf, MKT_MODELS_MF_ITEM_FACTORS, H5T_NATIVE_DOUBLE, 0, nitems, qi);
        mkt_h5_read_rows(mf, MKT_MODELS_MF_USER_BIAS, H5T_NATIVE_DOUBLE, b.begin, n, bu);
        mkt_h5_read_rows(mf, MKT_MODELS_MF_ITEM_BIAS, H5T_NATIVE_DOUBLE, 0, nitems, bi);
        mu = mkt_h5_attr_get_double(mf, MKT_MODELS_MF, "global_mean", 0);
        mkt_h5_close(mf);
    }

    /* examples, user by user: each purchased item, then its sampled negatives */
    int d = (int)(du + di + (has_mf ? 1 : 0));
    int64_t maxrows = ptr[n] * (1 + o->negatives);
    double *xt = mkt_xmalloc(sizeof(double) * (size_t)(maxrows * d + 1)), *xv = mkt_xmalloc(sizeof(double) * (size_t)(maxrows * d + 1));
    double *xs = mkt_xmalloc(sizeof(double) * (size_t)(maxrows * d + 1)), *rs = mkt_xmalloc(sizeof(double) * (size_t)(maxrows + 1));
    int *yt = mkt_xmalloc(sizeof(int) * (size_t)(maxrows + 1)), *yv = mkt_xmalloc(sizeof(int) * (size_t)(maxrows + 1));
    int *ys = mkt_xmalloc(sizeof(int) * (size_t)(maxrows + 1));
    int64_t nt = 0, nv = 0, ns = 0;
    for (int64_t u = 0; u < n; u++) {
        int set = prop_split_of(o->seed, b.begin + u, o->test_fraction, o->valid_fraction);
        mkt_rng r;
        mkt_rng_init(&r, o->seed, STREAM_NEGATIVES, (uint64_t)(b.begin + u));
        for (int64_t q = ptr[u]; q < ptr[u + 1]; q++)
            for (int k = 0; k <= o->negatives; k++) {
                int32_t item = pos[q];
                if (k > 0) { /* an item the user did not buy in the window (20 tries, then any) */
                    for (int tries = 0; tries < 20; tries++) {
                        item = (int32_t)mkt_rng_below(&r, (uint64_t)nitems);
                        int bought = 0;
                        for (int64_t z = ptr[u]; z < ptr[u + 1] && !bought; z++)
                            bought = pos[z] == item;
                        if (!bought)
                            break;
                    }
                }
                double *row = set == SPLIT_TEST ? xs + ns * d : set == SPLIT_VALID ? xv + nv * d : xt + nt * d;
                for (int64_t j = 0; j < du; j++) {
                    double s = ustats[du + j], z = s > 0 ? (xu[u * du + j] - ustats[j]) / s : 0.0;
                    row[j] = isfinite(z) ? z : 0.0;
                }
                for (int64_t j = 0; j < di; j++) {
                    double s = istats[di + j], z = s > 0 ? (xi[(int64_t)item * di + j] - istats[j]) / s : 0.0;
                    row[du + j] = isfinite(z) ? z : 0.0;
                }
                if (has_mf) {
                    double sc = mu + bu[u] + bi[item];
                    for (int64_t j = 0; j < K; j++)
                        sc += pu[u * K + j] * qi[(int64_t)item * K + j];
                    row[d - 1] = isfinite(sc) ? sc : 0.0;
                }
                if (set == SPLIT_TEST) {
                    double days = 0;
                    for (int64_t z = hptr[u]; z < hptr[u + 1]; z++)
                        if (hitems[z] == item)
                            days = hdays[z];
                    double pop = pop_col >= 0 ? xi[(int64_t)item * di + pop_col] : 0;
                    rs[ns] = days + (pop > 0 ? 0.5 * pop / (pop_max + 1) : 0.0);
                    ys[ns++] = k == 0;
                } else if (set == SPLIT_VALID) {
                    yv[nv++] = k == 0;
                } else {
                    yt[nt++] = k == 0;
                }
            }
    }
    /* the factor score's scale comes from the training rows; the other rows use it */
    double mf_mean = 0, mf_std = 0;
    if (has_mf) {
        standardize_column(xt, nt, d, d - 1, &mf_mean, &mf_std, comm);
        for (int64_t i = 0; i < nv; i++)
            xv[i * d + d - 1] = mf_std > 0 ? (xv[i * d + d - 1] - mf_mean) / mf_std : 0.0;
        for (int64_t i = 0; i < ns; i++)
            xs[i * d + d - 1] = mf_std > 0 ? (xs[i * d + d - 1] - mf_mean) / mf_std : 0.0;
    }
    int64_t cnt[6] = {nt, nv, ns, 0, 0, 0};
    for (int64_t i = 0; i < nt; i++)
        cnt[3] += yt[i];
    for (int64_t i = 0; i < nv; i++)
        cnt[4] += yv[i];
    for (int64_t i = 0; i < ns; i++)
        cnt[5] += ys[i];
    MKT_MPI(MPI_Allreduce(MPI_IN_PLACE, cnt, 6, MPI_INT64_T, MPI_SUM, comm));
    if (cnt[3] == 0)
        mkt_fail_all(MKT_EXIT_ERROR,
                     "%s: no purchases in the %lld days after cutoff %lld among training users: nothing to learn",
                     o->store, (long long)o->horizon_days, (long long)cutoff);
    prop_require_test_rows(STAGE_TRAIN, "user x item rows", cnt[2], cnt[5], o->test_fraction, cutoff, o->horizon_days);
    mkt_log(STAGE_TRAIN, "user x item: %lld training examples (%lld purchased), %lld validation (%lld), %lld test "
                         "(%lld), %d negatives per purchase, %d features%s",
            (long long)cnt[0], (long long)cnt[3], (long long)cnt[1], (long long)cnt[4], (long long)cnt[2],
            (long long)cnt[5], o->negatives, d, has_mf ? " (with the factor score)" : "");

    mkt_dp_data train = {xt, yt, nt, d}, valid = {xv, yv, nv, d}, test = {xs, ys, ns, d};
    json_t *history = json_array();
    mkt_dp_result res, res0;
    double *params, *vp, *params0 = NULL, *vp0 = NULL;
    int *vy, *vy0 = NULL;
    int64_t vn, vn0;
    /* checkpoints of the model's fit (the comparison fit without the factor
     * score, which is not stored, is run again after a resume) */
    mkt_dp_config cm = *c;
    model_ctx mctx0 = ctx;
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
        cm.unpenalized = unpen;
        cm.l2 = prop_resolve_l2(o, &m_main, &cm, init, &train, &valid, metrics, comm);
        cm.unpenalized = NULL;
        free(unpen);
        free(init);
    }
    ckpt_run cr;
    mkt_ckpt_init(&cr.ck, STAGE_TRAIN, o->checkpoint, o->out, "propensity_item", o->checkpoint_every, o->resume);
    prop_options_config(o, &ctx, &cm, "propensity-item-3", group, cutoff, np_main, &cr.cfg);
    mkt_ckpt_config_int(&cr.cfg, "negatives", o->negatives);
    if (has_mf)
        mkt_ckpt_config_path(&cr.cfg, "mf_model", o->mf_model);
    else
        mkt_ckpt_config_str(&cr.cfg, "mf_model", "");
    mkt_ckpt_config_int(&cr.cfg, "train_examples", cnt[0]);
    mkt_ckpt_config_int(&cr.cfg, "validation_examples", cnt[1]);
    mkt_ckpt_config_int(&cr.cfg, "test_examples", cnt[2]);
    mkt_ckpt_config_int(&cr.cfg, "positives", cnt[3]);
    prop_ckpt_attach(&cr, np_main, &cm, history, metrics, comm);
    double t_train = mkt_now();
    double auc = fit_item_model(&ctx, &cm, d, &train, &valid, &test, &params, &res, history, &vp, &vy, &vn, comm);
    if (prop_ckpt_detach(&cr, &cm, &res, metrics)) {
        /* the process ends with the preemption status: only the large arrays */
        json_decref(history);
        mkt_ckpt_config_free(&cr.cfg);
        mkt_ckpt_free(&cr.ck);
        free(params);
        free(vp);
        free(vy);
        free(xt);
        free(xv);
        free(xs);
        free(rs);
        free(yt);
        free(yv);
        free(ys);
        return MKT_EXIT_PREEMPTED;
    }
    double auc0 = NAN;
    if (has_mf) { /* the same model without the factor score, for comparison */
        double *xt0 = drop_last_column(xt, nt, d), *xv0 = drop_last_column(xv, nv, d);
        double *xs0 = drop_last_column(xs, ns, d);
        mkt_dp_data train0 = {xt0, yt, nt, d - 1}, valid0 = {xv0, yv, nv, d - 1}, test0 = {xs0, ys, ns, d - 1};
        mkt_dp_config c0 = cm;
        c0.stage = NULL;
        c0.after_epoch = NULL;
        c0.hook_arg = NULL;
        c0.resume = NULL;
        auc0 = fit_item_model(&ctx, &c0, d - 1, &train0, &valid0, &test0, &params0, &res0, NULL, &vp0, &vy0, &vn0,
                              comm);
        free(xt0);
        free(xv0);
        free(xs0);
        mkt_log(STAGE_TRAIN, "test AUC %.4f with the factor score, %.4f without", auc, auc0);
    }
    double t_trained = mkt_now();
    /* the validation rows' quality at the kept parameters */
    json_t *vm = json_object();
    if (cnt[1] > 0) {
        model_ctx mv = ctx;
        mv.mlp.inputs = d;
        mkt_dp_model mm = prop_make_model(&mv);
        double *pv;
        int *py;
        int64_t pn;
        mkt_dp_predict_all(&mm, params, &valid, &pv, &py, &pn, comm);
        prop_quality_metrics(vm, pv, py, pn);
        free(pv);
        free(py);
    }
    /* vp, vy: the test rows; the baselines on them */
    double ll = mkt_log_loss(vp, vy, vn);
    json_t *bm = json_object();
    int64_t rn;
    double *rall = prop_gather_doubles(rs, ns, &rn, comm), rf_auc, base_ll;
    double train_rate = (double)cnt[3] / (double)cnt[0];
    prop_baseline_metrics(bm, train_rate, vy, rall, RF_RULE_ITEM, vn, &rf_auc, &base_ll);
    free(rall);

    /* the model file */
    double *mean = mkt_xmalloc(sizeof(double) * (size_t)d), *std = mkt_xmalloc(sizeof(double) * (size_t)d);
    char **names = mkt_xmalloc(sizeof(char *) * (size_t)d);
    for (int64_t j = 0; j < du; j++) {
        mean[j] = ustats[j];
        std[j] = ustats[du + j];
        names[j] = mkt_xmalloc(strlen(unames[j]) + 6);
        sprintf(names[j], "user_%s", unames[j]);
    }
    for (int64_t j = 0; j < di; j++) {
        mean[du + j] = istats[j];
        std[du + j] = istats[di + j];
        names[du + j] = mkt_xmalloc(strlen(inames[j]) + 6);
        sprintf(names[du + j], "item_%s", inames[j]);
    }
    if (has_mf) {
        mean[d - 1] = mf_mean;
        std[d - 1] = mf_std;
        names[d - 1] = mkt_xmalloc(16);
        strcpy(names[d - 1], "mf_score");
    }
    int8_t *vlabel = mkt_xmalloc((size_t)(vn + 1));
    for (int64_t i = 0; i < vn; i++)
        vlabel[i] = (int8_t)(vy[i] != 0);
    model_ctx mctx = ctx;
    mctx.mlp.inputs = d;
    int64_t nparams = prop_make_model(&mctx).nparams;
    mkt_model_writer w;
    mkt_model_begin(&w, o->out, ITEM_GROUP, comm);
    hid_t of = w.file;
    const char *g = w.group;
    model_common mc = {params, mean, std, vp, vlabel, names, nparams, d, vn, cutoff, &res, group, auc, ll,
                       train_rate, rf_auc};
    prop_write_model_common(of, g, o, &ctx, &mc, cm.l2, comm);
    mkt_h5_attr_set_string(of, g, "target", "user_item");
    mkt_h5_attr_set_int(of, g, "user_inputs", du);
    mkt_h5_attr_set_int(of, g, "item_inputs", di);
    mkt_h5_attr_set_int(of, g, "mf_score", has_mf);
    mkt_h5_attr_set_int(of, g, "negatives", o->negatives);
    mkt_h5_attr_set_double(of, g, "test_auc_without_mf", auc0);
    mkt_model_end(&w, comm);
    mkt_ckpt_remove(&cr.ck, comm);
    mkt_ckpt_config_free(&cr.cfg);
    mkt_ckpt_free(&cr.ck);
    double t_end = mkt_now();
    prop_log_result(STAGE_TRAIN, auc, ll, base_ll, rf_auc, &res, o->out, ITEM_GROUP, t_end - t0);
    if (metrics) {
        mkt_metrics_set_str(metrics, "target", "user_item");
        mkt_metrics_set_str(metrics, "model", ctx.mlp.hidden ? "mlp" : "logistic");
        mkt_metrics_set_str(metrics, "optimizer", o->optimizer);
        mkt_metrics_set_int(metrics, "parameters", nparams);
        mkt_metrics_set_int(metrics, "users", users);
        mkt_metrics_set_int(metrics, "items", nitems);
        mkt_metrics_set_int(metrics, "features", d);
        mkt_metrics_set_int(metrics, "mf_score", has_mf);
        mkt_metrics_set_int(metrics, "negatives", o->negatives);
        mkt_metrics_set_int(metrics, "cutoff_ts", cutoff);
        mkt_metrics_set_int(metrics, "horizon_days", o->horizon_days);
        mkt_metrics_set_int(metrics, "train_examples", cnt[0]);
        mkt_metrics_set_int(metrics, "train_positives", cnt[3]);
        mkt_metrics_set_int(metrics, "validation_examples", cnt[1]);
        mkt_metrics_set_int(metrics, "test_examples", cnt[2]);
        mkt_metrics_set_real(metrics, "valid_fraction", o->valid_fraction);
        mkt_metrics_set_real(metrics, "test_fraction", o->test_fraction);
        mkt_metrics_set_int(metrics, "epochs_run", res.epochs_run);
        mkt_metrics_set_int(metrics, "best_epoch", res.best_epoch);
        mkt_metrics_set_real(metrics, "train_loss", res.train_loss);
        mkt_metrics_set_real(metrics, "examples_per_second", res.examples_per_second);
        json_t *tm = mkt_metrics_child(metrics, "test");
        prop_quality_metrics(tm, vp, vy, vn);
        if (cnt[1] > 0) {
            json_object_set_new(metrics, "validation", vm);
            vm = NULL;
        }
        json_object_set_new(metrics, "baseline", bm);
        bm = NULL;
        prop_selection_metrics(metrics, &res);
        if (has_mf)
            mkt_metrics_set_real(metrics, "auc_without_mf", auc0);
        json_object_set_new(metrics, "history", history);
        history = NULL;
        mkt_metrics_set_real(metrics, "seconds_train", t_trained - t_train);
        mkt_metrics_set_real(metrics, "seconds_total", t_end - t0);
        mkt_metrics_set_str(metrics, "out", o->out);
    }
    json_decref(history);
    json_decref(bm);
    json_decref(vm);
    mkt_h5_free_strings(names, d);
    mkt_h5_free_strings(unames, du);
    mkt_h5_free_strings(inames, di);
    free(mean);
    free(std);
    free(vlabel);
    free(params);
    free(params0);
    free(vp);
    free(vy);
    free(vp0);
    free(vy0);
    free(xt);
    free(xv);
    free(xs);
    free(rs);
    free(yt);
    free(yv);
    free(ys);
    free(xu);
    free(hptr);
    free(hitems);
    free(hdays);
    free(xi);
    free(ustats);
    free(istats);
    free(ptr);
    free(pos);
    free(pu);
    free(qi);
    free(bu);
    free(bi);
    /* a signal after the last epoch: the model is complete, but the job was
     * asked to stop, so it says so with the preemption status */
    int late = mkt_ckpt_agree_signal(comm);
    mkt_ckpt_signals_restore();
    if (late) {
        mkt_log(STAGE_TRAIN, "preempted after the last epoch: the model %s is complete; nothing to resume", o->out);
        return MKT_EXIT_PREEMPTED;
    }
    return MKT_EXIT_OK;
}
