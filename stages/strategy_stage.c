/* strategy_stage.c — the `mkt strategy` stage: reads the store, the models
 * and (optionally) a `mkt gen` truth store, builds every user's strategy and
 * its predicted value, solves the budget, computes the reference policies,
 * bootstrap intervals, budget curve and off-policy estimates, and writes
 * /strategy, the CSV export and the metrics (docs/strategy.md).
 *
 * Each rank handles its block of dense users (mkt_block_of); everything per
 * user is a pure function of that user's data and of arrays every rank holds
 * identically (items, factors, coefficients); every reduction is exact
 * (mpi/strategy_par.c), so the output is the same on any number of ranks.
 * Must not: hold per-user data of other ranks' users, or compute the
 * economics itself (src/strategy.c). */
#include "strategy_stage.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "iocheck.h"
#include "exactsum.h"
#include "gen.h"
#include "h5store.h"
#include "metrics_json.h"
#include "mkt_types.h"
#include "mlp.h"
#include "par.h"
#include "schema.h"
#include "strategy_par.h"
#include "uplift.h"

#define STAGE "strategy"
#define MSG_CAP 2048

enum { POL_STRATEGY = 0, POL_NONE, POL_CHEAPEST, POL_PROPENSITY, NPOL };
static const char *const policy_names[NPOL] = {"strategy", "no_promotion", "cheapest_promotion",
                                               "propensity_rank"};

static void *xalloc(size_t count, size_t size) { return mkt_xcalloc(count > 0 ? count : 1, size); }

typedef struct {
    int rank, nranks;
    int64_t N, I, n, begin; /* users, items, this rank's users [begin, begin + n) */
    int T, na, C;           /* arms (0 = control), promotion arms, categories */
    int64_t end_ts;
    char **arms, **user_ids, **item_ids, **segment_names;
    int nsegments;
    double *price, *cost;   /* [I] */
    int32_t *category;      /* [I] */
    /* per local user */
    double *days_since;     /* days since the last purchase (+inf: never) */
    int64_t *ev_ptr;        /* [n + 1] into ev_item */
    int32_t *ev_item;       /* purchased items of the local users */
    int32_t *segment;       /* [n] */
    double *p0, *r0;        /* predicted base conversion and spend */
    double *order_value;    /* expected gross basket of a converter */
    double *dconv, *dspend; /* [n x na] */
    double *propensity;     /* [n] or NULL */
    int64_t *items;         /* [n x K] */
    double *item_scores, *prices;
    const char *items_method; /* how the item lists were found */
    strat_mf_stats items_stats;
    double items_seconds;     /* this rank's time for them */
    double items_cpu_seconds; /* and the CPU time of its process (all threads) */
    strat_arm_cost *costs;  /* [na] */
    strat_arm_value *val;   /* [n x na] */
    strat_arm_value *tval;  /* [n x na] truth or NULL */
    unsigned char *eligible;
    /* the uplift model */
    int method;
    uint64_t uplift_seed;
    double uplift_holdout;
    int64_t attrs_from_users, attrs_from_campaign, attrs_missing;
    double control_conv, control_spend;
    /* campaign rows of the local users */
    int64_t crow_begin, ncrow;
    int32_t *c_user, *c_treat, *c_conv;
    double *c_spend, *c_attrs;
    int c_A;
    /* the refitted effect model (effects = shrunk) */
    int dim, R;             /* features; refits */
    double *ux;             /* [n x dim] features of the local users */
    double *rcc, *rcs;      /* replicate coefficients, conversion and spend [R x T x dim] */
    double *kc, *ks;        /* [n x na] shrinkage weights */
    double *rmc, *rms;      /* arm means of the replicate effects [R x na] */
} strat_data;

/* ---------- small readers ---------- */

static int64_t rows_or_fail(hid_t f, const char *file, const char *name, int64_t *cols)
{
    if (!mkt_h5_exists(f, name))
        mkt_fail_all(MKT_EXIT_ERROR, "strategy: %s has no dataset %s", file, name);
    return mkt_h5_rows(f, name, cols);
}

static int strings_equal(char **a, char **b, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        if (strcmp(a[i], b[i]) != 0)
            return 0;
    return 1;
}

/* Collective: 1 if every rank says 1. */
static int all_true(int v, MPI_Comm comm)
{
    MKT_MPI(MPI_Allreduce(MPI_IN_PLACE, &v, 1, MPI_INT, MPI_MIN, comm));
    return v;
}

/* ---------- store: ids, items, events, campaign rows ---------- */

static void load_store(strat_data *d, const mkt_strategy_options *o, MPI_Comm comm)
{
    hid_t f = mkt_h5_open(o->store, 0, comm);
    d->N = rows_or_fail(f, o->store, MKT_IDS_USERS, NULL);
    d->I = rows_or_fail(f, o->store, MKT_IDS_ITEMS, NULL);
    if (!mkt_h5_exists(f, MKT_IDS_TREATMENTS) || !mkt_h5_exists(f, MKT_CAMPAIGNS_USER))
        mkt_fail_all(MKT_EXIT_ERROR, "strategy: %s has no campaign log (/ids/treatments, /campaigns)", o->store);
    d->T = (int)mkt_h5_rows(f, MKT_IDS_TREATMENTS, NULL);
    if (d->T < 2)
        mkt_fail_all(MKT_EXIT_ERROR, "strategy: %s: the campaign has %d arm(s); need control and a promotion",
                     o->store, d->T);
    d->na = d->T - 1;
    d->arms = mkt_h5_read_strings(f, MKT_IDS_TREATMENTS, 0, d->T);
    d->end_ts = mkt_h5_attr_get_int(f, ".", "end_ts", 0);
    mkt_block ub = mkt_block_of(d->N, d->nranks, d->rank);
    d->begin = ub.begin;
    d->n = ub.end - ub.begin;
    d->user_ids = mkt_h5_read_strings(f, MKT_IDS_USERS, d->begin, d->n);
    d->item_ids = mkt_h5_read_strings(f, MKT_IDS_ITEMS, 0, d->I);
    d->price = xalloc((size_t)d->I, sizeof(double));
    d->cost = xalloc((size_t)d->I, sizeof(double));
    d->category = xalloc((size_t)d->I, sizeof(int32_t));
    mkt_h5_read_rows(f, MKT_ITEMS_PRICE, H5T_NATIVE_DOUBLE, 0, d->I, d->price);
    mkt_h5_read_rows(f, MKT_ITEMS_COST, H5T_NATIVE_DOUBLE, 0, d->I, d->cost);
    mkt_h5_read_rows(f, MKT_ITEMS_CATEGORY, H5T_NATIVE_INT32, 0, d->I, d->category);
    d->C = mkt_h5_exists(f, MKT_IDS_CATEGORIES) ? (int)mkt_h5_rows(f, MKT_IDS_CATEGORIES, NULL) : 0;
    for (int64_t i = 0; i < d->I; i++)
        if (d->category[i] >= d->C)
            d->C = d->category[i] + 1;

    /* purchases of the local users: the items to leave out, the last purchase time */
    int64_t *indptr = xalloc((size_t)d->n + 1, sizeof(int64_t));
    mkt_h5_read_rows(f, MKT_EVENTS_BY_USER_INDPTR, H5T_NATIVE_INT64, d->begin, d->n + 1, indptr);
    int64_t e0 = indptr[0], ne = indptr[d->n] - indptr[0];
    int32_t *item = xalloc((size_t)ne, sizeof(int32_t)), *type = xalloc((size_t)ne, sizeof(int32_t));
    int32_t *qty = xalloc((size_t)ne, sizeof(int32_t));
    int64_t *ts = xalloc((size_t)ne, sizeof(int64_t));
    if (ne > 0) {
        mkt_h5_read_rows(f, MKT_EVENTS_BY_USER_ITEM, H5T_NATIVE_INT32, e0, ne, item);
        mkt_h5_read_rows(f, MKT_EVENTS_BY_USER_TYPE, H5T_NATIVE_INT32, e0, ne, type);
        mkt_h5_read_rows(f, MKT_EVENTS_BY_USER_QTY, H5T_NATIVE_INT32, e0, ne, qty);
        mkt_h5_read_rows(f, MKT_EVENTS_BY_USER_TS, H5T_NATIVE_INT64, e0, ne, ts);
    }
    d->ev_ptr = xalloc((size_t)d->n + 1, sizeof(int64_t));
    d->ev_item = xalloc((size_t)ne, sizeof(int32_t));
    d->days_since = xalloc((size_t)d->n, sizeof(double));
    int64_t k = 0;
    for (int64_t u = 0; u < d->n; u++) {
        d->ev_ptr[u] = k;
        int64_t last = INT64_MIN;
        for (int64_t j = indptr[u] - e0; j < indptr[u + 1] - e0; j++)
            if (type[j] == MKT_EV_PURCHASE && qty[j] > 0) {
                if (item[j] >= 0 && item[j] < d->I)
                    d->ev_item[k++] = item[j];
                if (ts[j] > last)
                    last = ts[j];
            }
        d->days_since[u] = last == INT64_MIN ? INFINITY : (double)(d->end_ts - last) / 86400.0;
    }
    d->ev_ptr[d->n] = k;
    free(indptr);
    free(item);
    free(type);
    free(qty);
    free(ts);

    /* campaign rows of the local users (sorted by user) */
    int64_t Nc = mkt_h5_rows(f, MKT_CAMPAIGNS_USER, NULL);
    int32_t *cu = xalloc((size_t)Nc, sizeof(int32_t));
    mkt_h5_read_rows(f, MKT_CAMPAIGNS_USER, H5T_NATIVE_INT32, 0, Nc, cu);
    int64_t lo = 0, hi = 0;
    while (lo < Nc && cu[lo] < d->begin)
        lo++;
    hi = lo;
    while (hi < Nc && cu[hi] < d->begin + d->n)
        hi++;
    for (int64_t j = 1; j < Nc; j++)
        if (cu[j] < cu[j - 1])
            mkt_fail("strategy: %s: /campaigns/user is not sorted by user (row %lld)", o->store, (long long)j);
    d->crow_begin = lo;
    d->ncrow = hi - lo;
    d->c_user = xalloc((size_t)d->ncrow, sizeof(int32_t));
    memcpy(d->c_user, cu + lo, sizeof(int32_t) * (size_t)d->ncrow);
    free(cu);
    d->c_treat = xalloc((size_t)d->ncrow, sizeof(int32_t));
    d->c_conv = xalloc((size_t)d->ncrow, sizeof(int32_t));
    d->c_spend = xalloc((size_t)d->ncrow, sizeof(double));
    int64_t acols = 0;
    if (mkt_h5_exists(f, MKT_CAMPAIGNS_ATTRS))
        mkt_h5_rows(f, MKT_CAMPAIGNS_ATTRS, &acols);
    d->c_A = (int)acols;
    d->c_attrs = xalloc((size_t)d->ncrow * (size_t)(acols > 0 ? acols : 1), sizeof(double));
    if (d->ncrow > 0) {
        mkt_h5_read_rows(f, MKT_CAMPAIGNS_TREATMENT, H5T_NATIVE_INT32, lo, d->ncrow, d->c_treat);
        mkt_h5_read_rows(f, MKT_CAMPAIGNS_CONVERSION, H5T_NATIVE_INT32, lo, d->ncrow, d->c_conv);
        mkt_h5_read_rows(f, MKT_CAMPAIGNS_SPEND, H5T_NATIVE_DOUBLE, lo, d->ncrow, d->c_spend);
        if (acols > 0)
            mkt_h5_read_rows(f, MKT_CAMPAIGNS_ATTRS, H5T_NATIVE_DOUBLE, lo, d->ncrow, d->c_attrs);
    }
    for (int64_t j = 0; j < d->ncrow; j++)
        if (d->c_treat[j] < 0 || d->c_treat[j] >= d->T)
            mkt_fail("strategy: %s: campaign row %lld has treatment %d (arms: %d)", o->store,
                     (long long)(lo + j), d->c_treat[j], d->T);
    /* control means over the whole log (fallback base rates) */
    mkt_xsum acc[3];
    for (int j = 0; j < 3; j++)
        mkt_xsum_init(&acc[j]);
    for (int64_t j = 0; j < d->ncrow; j++)
        if (d->c_treat[j] == 0) {
            mkt_xsum_add(&acc[0], 1.0);
            mkt_xsum_add(&acc[1], d->c_conv[j] != 0);
            mkt_xsum_add(&acc[2], d->c_spend[j]);
        }
    mkt_allreduce_xsum(acc, 3, comm);
    double nc = mkt_xsum_value(&acc[0]);
    d->control_conv = nc > 0 ? mkt_xsum_value(&acc[1]) / nc : 0;
    d->control_spend = nc > 0 ? mkt_xsum_value(&acc[2]) / nc : 0;
    mkt_h5_close(f);
}

/* ---------- the uplift model: p0, r0 and the effects per local user ---------- */

/* Gross basket of a converting campaign row: what was paid plus the discount
 * its arm gave (by the arm's cost assumptions). */
static double gross_basket(const strat_data *d, int arm, double spend)
{
    if (arm <= 0)
        return spend;
    const strat_arm_cost *c = &d->costs[arm - 1];
    if (c->kind == STRAT_COST_PERCENT)
        return spend / (1.0 - c->value / 100.0);
    if (c->kind == STRAT_COST_COUPON)
        return spend + c->value;
    return spend;
}

/* Order value model: ridge regression (l2 = 1, intercept free) of the gross
 * basket on the uplift features over every converting campaign row, with
 * exact sums; each user's prediction is kept within [0.2, 5] x the mean
 * basket.  Fewer converters than twice the features: the mean basket. */
static void fit_order_value(strat_data *d, const uplift_features *fs, int dim, const double *uattrs, json_t *metrics,
                            MPI_Comm comm)
{
    int nA = dim * dim + dim + 2;
    mkt_xsum *acc = xalloc((size_t)nA, sizeof(mkt_xsum));
    for (int j = 0; j < nA; j++)
        mkt_xsum_init(&acc[j]);
    double *x = xalloc((size_t)dim, sizeof(double));
    for (int64_t j = 0; j < d->ncrow; j++) {
        if (!d->c_conv[j] || !(d->c_spend[j] > 0))
            continue;
        double y = gross_basket(d, d->c_treat[j], d->c_spend[j]);
        uplift_feature_row(fs, d->c_attrs + j * d->c_A, x);
        for (int a = 0; a < dim; a++) {
            for (int b = a; b < dim; b++)
                mkt_xsum_add(&acc[a * dim + b], x[a] * x[b]);
            mkt_xsum_add(&acc[dim * dim + a], y * x[a]);
        }
        mkt_xsum_add(&acc[dim * dim + dim], 1.0);
        mkt_xsum_add(&acc[dim * dim + dim + 1], y);
    }
    mkt_allreduce_xsum(acc, nA, comm);
    double n = mkt_xsum_value(&acc[dim * dim + dim]);
    double mean = n > 0 ? mkt_xsum_value(&acc[dim * dim + dim + 1]) / n : 0.0;
    double *A = xalloc((size_t)dim * (size_t)dim, sizeof(double)), *b = xalloc((size_t)dim, sizeof(double));
    double *beta = xalloc((size_t)dim, sizeof(double));
    for (int j = 0; j < dim * dim; j++)
        A[j] = mkt_xsum_value(&acc[j]);
    for (int j = 0; j < dim; j++)
        b[j] = mkt_xsum_value(&acc[dim * dim + j]);
    double step = 0;
    int fitted = n >= 2.0 * dim && uplift_newton_solve(A, b, dim, 1.0, NULL, 1, beta, &step) == 0;
    d->order_value = xalloc((size_t)d->n, sizeof(double));
    for (int64_t u = 0; u < d->n; u++) {
        double v = mean;
        if (fitted) {
            uplift_feature_row(fs, uattrs + u * d->c_A, x);
            v = 0;
            for (int j = 0; j < dim; j++)
                v += beta[j] * x[j];
            v = v < 0.2 * mean ? 0.2 * mean : (v > 5 * mean ? 5 * mean : v);
        }
        d->order_value[u] = v;
    }
    json_t *ov = mkt_metrics_child(metrics, "order_value");
    mkt_metrics_set_int(ov, "converting_rows", (long long)n);
    mkt_metrics_set_real(ov, "mean_gross_basket", mean);
    mkt_metrics_set_str(ov, "model", fitted ? "ridge on the uplift features" : "mean basket (too few converters)");
    free(A);
    free(b);
    free(beta);
    free(x);
    free(acc);
}

/* Effects of the refitted T-learner for one user (features x): base
 * conversion and spend, conversion and spend effects of every arm. */
static void refit_user(const strat_data *d, const double *cc, const double *cs, const double *x, double *p0,
                       double *r0, double *dc, double *ds)
{
    uplift_effects(UPLIFT_T_LEARNER, 1, cc, d->T, d->dim, x, dc);
    uplift_effects(UPLIFT_T_LEARNER, 0, cs, d->T, d->dim, x, ds);
    double lc = 0, ls = 0;
    for (int j = 0; j < d->dim; j++) {
        lc += cc[j] * x[j];
        ls += cs[j] * x[j];
    }
    *p0 = uplift_sigmoid(lc);
    *r0 = ls > 0 ? ls : 0;
}

/* effects = shrunk: the uplift model's specification (features, l2) refitted
 * as a T-learner on every campaign row, then R refits on Poisson(1)
 * reweighted users; each user's effect of each arm is shrunk toward the
 * arm's mean by strat_shrink_factor(spread of the effects across users minus
 * the mean refit variance, this user's refit variance).  Sets p0, r0, dconv,
 * dspend and keeps what the refit intervals need. */
static void fit_effects(strat_data *d, const uplift_features *fs, double l2, int max_iter, double tol,
                        const mkt_strategy_options *o, json_t *metrics, MPI_Comm comm)
{
    int T = d->T, na = d->na, dim = d->dim, R = o->refits;
    d->R = R;
    /* this rank's block of whole chunks of campaign rows */
    hid_t f = mkt_h5_open(o->store, 0, comm);
    int64_t Nc = mkt_h5_rows(f, MKT_CAMPAIGNS_USER, NULL), first = 0, nr = 0;
    mkt_strat_fit_block(Nc, d->nranks, d->rank, &first, &nr);
    int32_t *user = xalloc((size_t)nr, sizeof(int32_t)), *arm = xalloc((size_t)nr, sizeof(int32_t));
    int32_t *conv = xalloc((size_t)nr, sizeof(int32_t));
    double *yc = xalloc((size_t)nr, sizeof(double)), *ys = xalloc((size_t)nr, sizeof(double));
    double *attrs = xalloc((size_t)nr * (size_t)(d->c_A > 0 ? d->c_A : 1), sizeof(double));
    if (nr > 0) {
        mkt_h5_read_rows(f, MKT_CAMPAIGNS_USER, H5T_NATIVE_INT32, first, nr, user);
        mkt_h5_read_rows(f, MKT_CAMPAIGNS_TREATMENT, H5T_NATIVE_INT32, first, nr, arm);
        mkt_h5_read_rows(f, MKT_CAMPAIGNS_CONVERSION, H5T_NATIVE_INT32, first, nr, conv);
        mkt_h5_read_rows(f, MKT_CAMPAIGNS_SPEND, H5T_NATIVE_DOUBLE, first, nr, ys);
        if (d->c_A > 0)
            mkt_h5_read_rows(f, MKT_CAMPAIGNS_ATTRS, H5T_NATIVE_DOUBLE, first, nr, attrs);
    }
    mkt_h5_close(f);
    double *X = xalloc((size_t)nr * (size_t)dim, sizeof(double));
    for (int64_t i = 0; i < nr; i++) {
        yc[i] = conv[i] != 0;
        if (!isfinite(ys[i]))
            ys[i] = 0;
        uplift_feature_row(fs, attrs + i * d->c_A, X + i * dim);
    }
    free(attrs);
    free(conv);
    uint8_t *w = xalloc((size_t)R * (size_t)nr, 1), *wu = xalloc((size_t)(R > 0 ? R : 1), 1);
    for (int64_t i = 0; i < nr; i++) {
        strat_refit_weights(o->seed, user[i], R, wu);
        for (int b = 0; b < R; b++)
            w[(size_t)b * (size_t)nr + (size_t)i] = wu[b];
    }
    free(wu);
    free(user);
    mkt_strat_fit_rows rc = {nr, first, dim, X, arm, yc}, rs = {nr, first, dim, X, arm, ys};
    size_t cl = (size_t)T * (size_t)dim;
    double *cc = xalloc(cl, sizeof(double)), *cs = xalloc(cl, sizeof(double));
    if (mkt_strat_fit_t(&rc, T, NULL, 0, l2, max_iter, tol, cc, comm) != 0 ||
        mkt_strat_fit_t(&rs, T, NULL, 1, l2, 1, tol, cs, comm) != 0)
        mkt_fail_all(MKT_EXIT_ERROR, "strategy: the effect model cannot be refitted on the campaign log of %s (an arm "
                     "without rows?); use effects = model", o->store);
    d->rcc = xalloc((size_t)R * cl, sizeof(double));
    d->rcs = xalloc((size_t)R * cl, sizeof(double));
    int failed = 0;
    for (int b = 0; b < R; b++) {
        double *bc = d->rcc + (size_t)b * cl, *bs = d->rcs + (size_t)b * cl;
        memcpy(bc, cc, sizeof(double) * cl); /* Newton from the full fit */
        const uint8_t *wb = w + (size_t)b * (size_t)nr;
        failed += mkt_strat_fit_t(&rc, T, wb, 0, l2, max_iter, tol, bc, comm) != 0;
        failed += mkt_strat_fit_t(&rs, T, wb, 1, l2, 1, tol, bs, comm) != 0;
    }
    free(w);
    free(X);
    free(arm);
    free(yc);
    free(ys);
    if (failed)
        mkt_fail_all(MKT_EXIT_ERROR, "strategy: %d refits of the effect model failed (too few campaign rows per arm?); "
                     "use effects = model", failed);

    /* point effects, per-user refit variance, arm means */
    size_t nv = (size_t)d->n * (size_t)na;
    double *vc = xalloc(nv, sizeof(double)), *vs = xalloc(nv, sizeof(double));
    double *sc = xalloc(nv, sizeof(double)), *ss = xalloc(nv, sizeof(double));
    double *ec = xalloc((size_t)na, sizeof(double)), *es = xalloc((size_t)na, sizeof(double));
    double p0, r0;
    enum { SC, SC2, NC, SS, SS2, NS, NSUM };
    size_t nacc = (size_t)na * NSUM + 2 * (size_t)R * (size_t)na;
    mkt_xsum *acc = xalloc(nacc, sizeof(mkt_xsum));
    for (size_t j = 0; j < nacc; j++)
        mkt_xsum_init(&acc[j]);
    mkt_xsum *rep = acc + (size_t)na * NSUM; /* [R x na] conversion, then [R x na] spend */
    for (int64_t u = 0; u < d->n; u++) {
        const double *x = d->ux + u * dim;
        double *dc = d->dconv + u * na, *ds = d->dspend + u * na;
        refit_user(d, cc, cs, x, &d->p0[u], &d->r0[u], dc, ds);
        for (int b = 0; b < R; b++) {
            refit_user(d, d->rcc + (size_t)b * cl, d->rcs + (size_t)b * cl, x, &p0, &r0, ec, es);
            for (int t = 0; t < na; t++) {
                sc[u * na + t] += ec[t];
                vc[u * na + t] += ec[t] * ec[t];
                ss[u * na + t] += es[t];
                vs[u * na + t] += es[t] * es[t];
                mkt_xsum_add(&rep[(size_t)b * (size_t)na + (size_t)t], ec[t]);
                mkt_xsum_add(&rep[(size_t)(R + b) * (size_t)na + (size_t)t], es[t]);
            }
        }
        for (int t = 0; t < na; t++) {
            size_t j = (size_t)u * (size_t)na + (size_t)t;
            double mc = sc[j] / R, ms = ss[j] / R;
            vc[j] = vc[j] / R - mc * mc;
            vs[j] = vs[j] / R - ms * ms;
            vc[j] = vc[j] > 0 ? vc[j] : 0;
            vs[j] = vs[j] > 0 ? vs[j] : 0;
            mkt_xsum *a = acc + (size_t)t * NSUM;
            mkt_xsum_add(&a[SC], dc[t]);
            mkt_xsum_add(&a[SC2], dc[t] * dc[t]);
            mkt_xsum_add(&a[NC], vc[j]);
            mkt_xsum_add(&a[SS], ds[t]);
            mkt_xsum_add(&a[SS2], ds[t] * ds[t]);
            mkt_xsum_add(&a[NS], vs[j]);
        }
    }
    for (size_t j = 0; j < nacc; j += 4096)
        mkt_allreduce_xsum(acc + j, (int)(nacc - j < 4096 ? nacc - j : 4096), comm);
    double N = (double)d->N;
    d->rmc = xalloc((size_t)R * (size_t)na, sizeof(double));
    d->rms = xalloc((size_t)R * (size_t)na, sizeof(double));
    for (int b = 0; b < R; b++)
        for (int t = 0; t < na; t++) {
            d->rmc[b * na + t] = mkt_xsum_value(&rep[(size_t)b * (size_t)na + (size_t)t]) / N;
            d->rms[b * na + t] = mkt_xsum_value(&rep[(size_t)(R + b) * (size_t)na + (size_t)t]) / N;
        }
    d->kc = xalloc(nv, sizeof(double));
    d->ks = xalloc(nv, sizeof(double));
    json_t *em = mkt_metrics_child(metrics, "effects");
    mkt_metrics_set_str(em, "model", "T-learner refitted on every campaign row, shrunk per user (empirical Bayes)");
    mkt_metrics_set_int(em, "rows", Nc);
    mkt_metrics_set_int(em, "refits", R);
    mkt_metrics_set_real(em, "l2", l2);
    for (int t = 0; t < na; t++) {
        mkt_xsum *a = acc + (size_t)t * NSUM;
        double mc = mkt_xsum_value(&a[SC]) / N, ms = mkt_xsum_value(&a[SS]) / N;
        double sig_c = mkt_xsum_value(&a[SC2]) / N - mc * mc - mkt_xsum_value(&a[NC]) / N;
        double sig_s = mkt_xsum_value(&a[SS2]) / N - ms * ms - mkt_xsum_value(&a[NS]) / N;
        mkt_xsum ks;
        mkt_xsum_init(&ks);
        for (int64_t u = 0; u < d->n; u++) {
            size_t j = (size_t)u * (size_t)na + (size_t)t;
            d->kc[j] = strat_shrink_factor(sig_c, vc[j]);
            d->ks[j] = strat_shrink_factor(sig_s, vs[j]);
            d->dconv[j] = strat_shrink(d->dconv[j], mc, d->kc[j]);
            d->dspend[j] = strat_shrink(d->dspend[j], ms, d->ks[j]);
            mkt_xsum_add(&ks, d->kc[j]);
        }
        mkt_allreduce_xsum(&ks, 1, comm);
        json_t *e = mkt_metrics_child(em, d->arms[t + 1]);
        mkt_metrics_set_real(e, "mean_conversion_effect", mc);
        mkt_metrics_set_real(e, "conversion_effect_signal_sd", sig_c > 0 ? sqrt(sig_c) : 0.0);
        mkt_metrics_set_real(e, "conversion_effect_noise_sd", sqrt(mkt_xsum_value(&a[NC]) / N));
        mkt_metrics_set_real(e, "mean_shrinkage_weight", mkt_xsum_value(&ks) / N);
        mkt_metrics_set_real(e, "mean_spend_effect", ms);
        mkt_log_detail(STAGE, "effects of %s: mean %.4f, spread across users (signal) sd %.4f, refit noise sd %.4f: "
                "weight %.3f on the user's own effect on average",
                d->arms[t + 1], mc, sig_c > 0 ? sqrt(sig_c) : 0.0, sqrt(mkt_xsum_value(&a[NC]) / N),
                mkt_xsum_value(&ks) / N);
    }
    free(acc);
    free(vc);
    free(vs);
    free(sc);
    free(ss);
    free(ec);
    free(es);
    free(cc);
    free(cs);
}

static void load_uplift(strat_data *d, hid_t m, const mkt_strategy_options *o, json_t *metrics, MPI_Comm comm)
{
    const char *g = MKT_MODELS_UPLIFT;
    if (!mkt_h5_exists(m, g))
        mkt_fail_all(MKT_EXIT_ERROR, "strategy: %s has no /models/uplift (run mkt train uplift)", o->models);
    char *outcome = mkt_h5_attr_get_string(m, g, "outcome");
    char *method_name = mkt_h5_attr_get_string(m, g, "method");
    d->method = method_name ? uplift_method_parse(method_name) : -1;
    if (d->method < 0 || !outcome)
        mkt_fail_all(MKT_EXIT_ERROR, "strategy: %s: /models/uplift lacks its method/outcome attributes", o->models);
    if (strcmp(outcome, "conversion") != 0)
        mkt_fail_all(MKT_EXIT_ERROR,
                     "strategy: %s: /models/uplift models '%s'; the strategy needs the conversion outcome "
                     "(mkt train uplift --outcome conversion)",
                     o->models, outcome);
    d->uplift_seed = (uint64_t)mkt_h5_attr_get_int(m, g, "seed", 0);
    d->uplift_holdout = mkt_h5_attr_get_double(m, g, "holdout", 0);
    int dim = (int)mkt_h5_attr_get_int(m, g, "features", 0);
    int A = (int)mkt_h5_attr_get_int(m, g, "attrs", 0);
    int64_t rows, cols = 0;
    rows = rows_or_fail(m, o->models, MKT_MODELS_UPLIFT_ARMS, NULL);
    char **marms = mkt_h5_read_strings(m, MKT_MODELS_UPLIFT_ARMS, 0, rows);
    if (rows != d->T || !strings_equal(marms, d->arms, d->T))
        mkt_fail_all(MKT_EXIT_ERROR, "strategy: the arms of /models/uplift in %s differ from /ids/treatments of %s",
                     o->models, o->store);
    mkt_h5_free_strings(marms, rows);
    uplift_features fs = {A, xalloc((size_t)A, sizeof(uplift_attr_spec))};
    char **anames = NULL;
    if (A > 0) {
        double *spec = xalloc((size_t)A * UPLIFT_SPEC_COLS, sizeof(double));
        rows = rows_or_fail(m, o->models, MKT_MODELS_UPLIFT_FEATURE_SPEC, &cols);
        if (rows != A || cols != UPLIFT_SPEC_COLS)
            mkt_fail_all(MKT_EXIT_ERROR, "strategy: %s: /models/uplift/feature_spec is %lld x %lld, expected %d x %d",
                         o->models, (long long)rows, (long long)cols, A, UPLIFT_SPEC_COLS);
        mkt_h5_read_rows(m, MKT_MODELS_UPLIFT_FEATURE_SPEC, H5T_NATIVE_DOUBLE, 0, A, spec);
        uplift_spec_decode(spec, &fs);
        free(spec);
        anames = mkt_h5_read_strings(m, MKT_MODELS_UPLIFT_ATTR_NAMES, 0, A);
    }
    if (uplift_feature_dim(&fs) != dim)
        mkt_fail_all(MKT_EXIT_ERROR, "strategy: %s: /models/uplift feature layout does not match (%d vs %d)",
                     o->models, uplift_feature_dim(&fs), dim);
    if (A != d->c_A)
        mkt_fail_all(MKT_EXIT_ERROR, "strategy: /models/uplift has %d attributes, the campaign log of %s has %d", A,
                     o->store, d->c_A);
    const char *cn = MKT_MODELS_UPLIFT_COEF_CONVERSION, *sn = MKT_MODELS_UPLIFT_COEF_SPEND;
    for (int j = 0; j < 2; j++) {
        rows = rows_or_fail(m, o->models, j ? sn : cn, &cols);
        if (rows != d->T || cols != dim)
            mkt_fail_all(MKT_EXIT_ERROR, "strategy: %s: %s is %lld x %lld, expected %d x %d", o->models, j ? sn : cn,
                         (long long)rows, (long long)cols, d->T, dim);
    }
    double *cc = xalloc((size_t)d->T * (size_t)dim, sizeof(double));
    double *cs = xalloc((size_t)d->T * (size_t)dim, sizeof(double));
    mkt_h5_read_rows(m, cn, H5T_NATIVE_DOUBLE, 0, d->T, cc);
    mkt_h5_read_rows(m, sn, H5T_NATIVE_DOUBLE, 0, d->T, cs);

    /* attributes of every local user: /users/attrs (mkt gen stores), else the user's last campaign row */
    double *uattrs = xalloc((size_t)d->n * (size_t)(A > 0 ? A : 1), sizeof(double));
    for (int64_t i = 0; i < d->n * A; i++)
        uattrs[i] = NAN;
    unsigned char *have = xalloc((size_t)d->n, 1);
    hid_t s = mkt_h5_open(o->store, 0, comm);
    int use_users = 0;
    if (A > 0 && mkt_h5_exists(s, MKT_USERS_ATTRS) && mkt_h5_exists(s, MKT_USERS_ATTR_NAMES)) {
        int64_t ucols = 0, urows = mkt_h5_rows(s, MKT_USERS_ATTRS, &ucols);
        if (urows == d->N && ucols == A) {
            char **un = mkt_h5_read_strings(s, MKT_USERS_ATTR_NAMES, 0, A);
            use_users = strings_equal(un, anames, A);
            mkt_h5_free_strings(un, A);
        }
        if (use_users) {
            mkt_h5_read_rows(s, MKT_USERS_ATTRS, H5T_NATIVE_DOUBLE, d->begin, d->n, uattrs);
            memset(have, 1, (size_t)d->n);
        }
    }
    mkt_h5_close(s);
    if (!use_users)
        for (int64_t j = 0; j < d->ncrow; j++) {
            int64_t u = d->c_user[j] - d->begin;
            memcpy(uattrs + u * A, d->c_attrs + j * A, sizeof(double) * (size_t)A);
            have[u] = 1;
        }
    d->p0 = xalloc((size_t)d->n, sizeof(double));
    d->r0 = xalloc((size_t)d->n, sizeof(double));
    d->dconv = xalloc((size_t)d->n * (size_t)d->na, sizeof(double));
    d->dspend = xalloc((size_t)d->n * (size_t)d->na, sizeof(double));
    double *x = xalloc((size_t)dim, sizeof(double));
    d->dim = dim;
    d->ux = xalloc((size_t)d->n * (size_t)dim, sizeof(double));
    for (int64_t u = 0; u < d->n; u++) {
        if (have[u])
            use_users ? d->attrs_from_users++ : d->attrs_from_campaign++;
        else
            d->attrs_missing++;
        uplift_feature_row(&fs, uattrs + u * A, x);
        memcpy(d->ux + u * dim, x, sizeof(double) * (size_t)dim);
        uplift_effects(d->method, 1, cc, d->T, dim, x, d->dconv + u * d->na);
        uplift_effects(d->method, 0, cs, d->T, dim, x, d->dspend + u * d->na);
        if (d->method == UPLIFT_TRANSFORMED) {
            d->p0[u] = d->control_conv;
            d->r0[u] = d->control_spend;
        } else {
            double lc = 0, ls = 0;
            for (int j = 0; j < dim; j++) {
                lc += cc[j] * x[j];
                ls += cs[j] * x[j];
            }
            d->p0[u] = uplift_sigmoid(lc);
            d->r0[u] = ls > 0 ? ls : 0;
        }
    }
    if (o->shrunk)
        fit_effects(d, &fs, mkt_h5_attr_get_double(m, g, "l2", 1.0), (int)mkt_h5_attr_get_int(m, g, "max_iter", 25),
                    mkt_h5_attr_get_double(m, g, "tol", 1e-9), o, metrics, comm);
    else
        mkt_metrics_set_str(mkt_metrics_child(metrics, "effects"), "model",
                            "the coefficients of /models/uplift as they are");
    fit_order_value(d, &fs, dim, uattrs, metrics, comm);
    int64_t cnt[3] = {d->attrs_from_users, d->attrs_from_campaign, d->attrs_missing};
    MKT_MPI(MPI_Allreduce(MPI_IN_PLACE, cnt, 3, MPI_INT64_T, MPI_SUM, comm));
    json_t *um = mkt_metrics_child(metrics, "uplift_model");
    mkt_metrics_set_str(um, "method", method_name);
    mkt_metrics_set_int(um, "users_attributes_from_store", cnt[0]);
    mkt_metrics_set_int(um, "users_attributes_from_campaign", cnt[1]);
    mkt_metrics_set_int(um, "users_without_attributes", cnt[2]);
    mkt_metrics_set_real(um, "control_conversion_rate", d->control_conv);
    mkt_metrics_set_real(um, "control_mean_spend", d->control_spend);
    if (cnt[2] > 0)
        mkt_log(STAGE, "%lld users have no campaign row: their effects are predicted at the mean attributes",
                (long long)cnt[2]);
    free(x);
    free(have);
    free(uattrs);
    free(cc);
    free(cs);
    if (anames)
        mkt_h5_free_strings(anames, A);
    free(fs.attr);
    free(outcome);
    free(method_name);
}

/* ---------- the factorization model: top-K unseen items ---------- */

/* CPU time of this process (on a shared machine the wall time of a rank
 * includes the time others hold its core). */
static double cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void load_mf_topk(strat_data *d, hid_t m, const mkt_strategy_options *o)
{
    if (!mkt_h5_exists(m, MKT_MODELS_MF))
        mkt_fail_all(MKT_EXIT_ERROR, "strategy: %s has no /models/mf (run mkt train mf)", o->models);
    int64_t K = 0, Ku = 0;
    int64_t ri = rows_or_fail(m, o->models, MKT_MODELS_MF_ITEM_FACTORS, &K);
    int64_t ru = rows_or_fail(m, o->models, MKT_MODELS_MF_USER_FACTORS, &Ku);
    if (ri != d->I || ru != d->N || K != Ku)
        mkt_fail_all(MKT_EXIT_ERROR,
                     "strategy: /models/mf in %s is for %lld users x %lld items (rank %lld/%lld), the store %s has "
                     "%lld x %lld",
                     o->models, (long long)ru, (long long)ri, (long long)Ku, (long long)K, o->store,
                     (long long)d->N, (long long)d->I);
    double mu = mkt_h5_attr_get_double(m, MKT_MODELS_MF, "global_mean", 0.0);
    double *q = xalloc((size_t)(d->I * K), sizeof(double)), *bi = xalloc((size_t)d->I, sizeof(double));
    double *p = xalloc((size_t)(d->n * K), sizeof(double)), *bu = xalloc((size_t)d->n, sizeof(double));
    mkt_h5_read_rows(m, MKT_MODELS_MF_ITEM_FACTORS, H5T_NATIVE_DOUBLE, 0, d->I, q);
    mkt_h5_read_rows(m, MKT_MODELS_MF_USER_FACTORS, H5T_NATIVE_DOUBLE, d->begin, d->n, p);
    if (mkt_h5_exists(m, MKT_MODELS_MF_ITEM_BIAS))
        mkt_h5_read_rows(m, MKT_MODELS_MF_ITEM_BIAS, H5T_NATIVE_DOUBLE, 0, d->I, bi);
    if (mkt_h5_exists(m, MKT_MODELS_MF_USER_BIAS))
        mkt_h5_read_rows(m, MKT_MODELS_MF_USER_BIAS, H5T_NATIVE_DOUBLE, d->begin, d->n, bu);
    int k = o->k;
    d->items = xalloc((size_t)d->n * (size_t)k, sizeof(int64_t));
    d->item_scores = xalloc((size_t)d->n * (size_t)k, sizeof(double));
    double t0 = mkt_now(), c0 = cpu_seconds();
    const char *how = getenv("MKT_STRATEGY_ITEMS");
    if (how && *how && strcmp(how, "reference") != 0 && strcmp(how, "blocked") != 0)
        mkt_fail("strategy: environment variable MKT_STRATEGY_ITEMS='%s': expected 'blocked' (the default) or "
                 "'reference' (the former method, for bench/strategy_speed.sh)",
                 how);
    if (how && strcmp(how, "reference") == 0) {
        /* the former method, for bench/strategy_speed.sh: every score a scalar dot product, the former selection */
        double *score = xalloc((size_t)d->I, sizeof(double));
        unsigned char *excl = xalloc((size_t)d->I, 1);
        int32_t *top = xalloc((size_t)k, sizeof(int32_t));
        for (int64_t u = 0; u < d->n; u++) {
            const double *pu = p + u * K;
            for (int64_t i = 0; i < d->I; i++) {
                const double *qi = q + i * K;
                double s = mu + bu[u] + bi[i];
                for (int64_t j = 0; j < K; j++)
                    s += pu[j] * qi[j];
                score[i] = s;
            }
            for (int64_t j = d->ev_ptr[u]; j < d->ev_ptr[u + 1]; j++)
                excl[d->ev_item[j]] = 1;
            int got = strat_topk_diverse_reference(score, d->I, excl, d->category, d->C, o->max_per_category, k, top);
            for (int64_t j = d->ev_ptr[u]; j < d->ev_ptr[u + 1]; j++)
                excl[d->ev_item[j]] = 0;
            for (int j = 0; j < k; j++) {
                d->items[u * k + j] = j < got ? top[j] : -1;
                d->item_scores[u * k + j] = j < got ? score[top[j]] : 0.0;
            }
        }
        free(top);
        free(excl);
        free(score);
        d->items_method = "reference";
    } else {
        /* blocks of users against tiles of items in sgemm, then the exact lists (src/strategy.c) */
        strat_mf_items mi = {q, bi, d->I, (int)K, mu, d->category, d->C, o->max_per_category};
        if (strat_mf_topk(&mi, p, bu, d->n, d->ev_ptr, d->ev_item, k, d->items, d->item_scores, &d->items_stats) != 0)
            mkt_fail("strategy: out of memory ranking the items of %lld users", (long long)d->n);
        d->items_method = "blocked products";
    }
    d->items_seconds = mkt_now() - t0;
    d->items_cpu_seconds = cpu_seconds() - c0;
    free(q);
    free(bi);
    free(p);
    free(bu);
}

/* ---------- prices ---------- */

static void set_prices(strat_data *d, hid_t m, const mkt_strategy_options *o, json_t *metrics, MPI_Comm comm)
{
    int k = o->k;
    double *elast = NULL;
    const char *note = "";
    int use_elasticity = strcmp(o->pricing, "elasticity") == 0;
    if (use_elasticity) {
        if (!mkt_h5_exists(m, MKT_MODELS_ELASTICITY_ELASTICITY)) {
            note = "no /models/elasticity in the model file: every price from the interest rule";
            use_elasticity = 0;
        } else if (mkt_h5_rows(m, MKT_MODELS_ELASTICITY_ELASTICITY, NULL) != d->C) {
            note = "/models/elasticity has another number of categories than the store: interest rule used";
            use_elasticity = 0;
        } else {
            elast = xalloc((size_t)d->C, sizeof(double));
            mkt_h5_read_rows(m, MKT_MODELS_ELASTICITY_ELASTICITY, H5T_NATIVE_DOUBLE, 0, d->C, elast);
        }
    }
    d->prices = xalloc((size_t)d->n * (size_t)k, sizeof(double));
    int64_t fallback = 0, priced = 0;
    for (int64_t u = 0; u < d->n; u++) {
        double smax = d->item_scores[u * k];
        for (int j = 0; j < k; j++) {
            int64_t it = d->items[u * k + j];
            if (it < 0)
                continue;
            priced++;
            double base = d->price[it], pr = NAN;
            if (use_elasticity) {
                int c = d->category[it];
                pr = strat_price_elasticity(base, d->cost[it], c >= 0 && c < d->C ? elast[c] : NAN, o->min_factor,
                                            o->max_factor);
            }
            if (isnan(pr)) {
                if (use_elasticity)
                    fallback++;
                pr = strat_price_interest(base, d->item_scores[u * k + j], smax, o->interest_k, o->min_factor,
                                          o->max_factor);
            }
            d->prices[u * k + j] = pr;
        }
    }
    int64_t c2[2] = {priced, fallback};
    MKT_MPI(MPI_Allreduce(MPI_IN_PLACE, c2, 2, MPI_INT64_T, MPI_SUM, comm));
    json_t *pm = mkt_metrics_child(metrics, "pricing");
    mkt_metrics_set_str(pm, "requested", o->pricing);
    mkt_metrics_set_str(pm, "method", use_elasticity ? "elasticity" : "interest");
    if (*note) {
        mkt_metrics_set_str(pm, "note", note);
        mkt_log(STAGE, "pricing: %s", note);
    }
    mkt_metrics_set_int(pm, "prices", c2[0]);
    mkt_metrics_set_int(pm, "prices_by_interest_fallback", use_elasticity ? c2[1] : 0);
    mkt_metrics_set_real(pm, "min_factor", o->min_factor);
    mkt_metrics_set_real(pm, "max_factor", o->max_factor);
    mkt_metrics_set_real(pm, "interest_k", o->interest_k);
    free(elast);
}

/* ---------- segments and propensity (optional) ---------- */

static void load_segments(strat_data *d, hid_t m, const mkt_strategy_options *o, json_t *metrics)
{
    d->segment = xalloc((size_t)d->n, sizeof(int32_t));
    for (int64_t u = 0; u < d->n; u++)
        d->segment[u] = -1;
    const char *why = NULL;
    if (!mkt_h5_exists(m, MKT_MODELS_SEGMENTS_ASSIGNMENT) || !mkt_h5_exists(m, MKT_MODELS_SEGMENTS_NAMES))
        why = "no /models/segments in the model file (run mkt train segments)";
    else if (mkt_h5_rows(m, MKT_MODELS_SEGMENTS_ASSIGNMENT, NULL) != d->N)
        why = "/models/segments/assignment has another number of users than the store";
    if (why) {
        mkt_log(STAGE, "segments: %s; every segment is -1 (unknown)", why);
        mkt_metrics_set_str(metrics, "segments", why);
        return;
    }
    d->nsegments = (int)mkt_h5_rows(m, MKT_MODELS_SEGMENTS_NAMES, NULL);
    d->segment_names = mkt_h5_read_strings(m, MKT_MODELS_SEGMENTS_NAMES, 0, d->nsegments);
    mkt_h5_read_rows(m, MKT_MODELS_SEGMENTS_ASSIGNMENT, H5T_NATIVE_INT32, d->begin, d->n, d->segment);
    for (int64_t u = 0; u < d->n; u++)
        if (d->segment[u] < 0 || d->segment[u] >= d->nsegments)
            d->segment[u] = -1;
    (void)o;
    mkt_metrics_set_str(metrics, "segments", "from /models/segments");
}

static void load_propensity(strat_data *d, hid_t m, const mkt_strategy_options *o, json_t *metrics, MPI_Comm comm)
{
    const char *why = NULL;
    hid_t s = mkt_h5_open(o->store, 0, comm);
    int64_t F = 0;
    if (!mkt_h5_exists(m, MKT_MODELS_PROPENSITY_PARAMS))
        why = "no /models/propensity in the model file (run mkt train propensity)";
    else if (!mkt_h5_exists(s, MKT_FEATURES_USERS) || !mkt_h5_exists(s, MKT_FEATURES_USER_NAMES))
        why = "the store has no /features (run mkt features)";
    else if (mkt_h5_rows(s, MKT_FEATURES_USERS, &F) != d->N ||
             F != mkt_h5_attr_get_int(m, MKT_MODELS_PROPENSITY, "inputs", -1) ||
             mkt_h5_rows(m, MKT_MODELS_PROPENSITY_FEATURE_NAMES, NULL) != F)
        why = "/features/users does not match the inputs of /models/propensity";
    if (!why) {
        char **a = mkt_h5_read_strings(s, MKT_FEATURES_USER_NAMES, 0, F);
        char **b = mkt_h5_read_strings(m, MKT_MODELS_PROPENSITY_FEATURE_NAMES, 0, F);
        if (!strings_equal(a, b, F))
            why = "the feature names of /features/users differ from those of /models/propensity";
        mkt_h5_free_strings(a, F);
        mkt_h5_free_strings(b, F);
    }
    mkt_mlp net = {(int)F, 0, {0, 0, 0}};
    int64_t np = 0;
    if (!why) {
        net.hidden = (int)mkt_h5_attr_get_int(m, MKT_MODELS_PROPENSITY, "hidden_layers", 0);
        for (int h = 0; h < net.hidden && h < MKT_MLP_MAX_HIDDEN; h++) {
            char an[16];
            snprintf(an, sizeof an, "hidden_%d", h + 1);
            net.sizes[h] = (int)mkt_h5_attr_get_int(m, MKT_MODELS_PROPENSITY, an, 1);
        }
        np = mkt_h5_rows(m, MKT_MODELS_PROPENSITY_PARAMS, NULL);
        if (net.hidden < 0 || net.hidden > MKT_MLP_MAX_HIDDEN || np != mkt_mlp_nparams(&net))
            why = "/models/propensity/params does not match its layer attributes";
    }
    if (why) {
        mkt_h5_close(s);
        mkt_log(STAGE, "propensity: %s; the propensity_rank reference policy is skipped", why);
        mkt_metrics_set_str(metrics, "propensity", why);
        return;
    }
    double *params = xalloc((size_t)np, sizeof(double));
    double *mean = xalloc((size_t)F, sizeof(double)), *sd = xalloc((size_t)F, sizeof(double));
    mkt_h5_read_rows(m, MKT_MODELS_PROPENSITY_PARAMS, H5T_NATIVE_DOUBLE, 0, np, params);
    mkt_h5_read_rows(m, MKT_MODELS_PROPENSITY_FEATURE_MEAN, H5T_NATIVE_DOUBLE, 0, F, mean);
    mkt_h5_read_rows(m, MKT_MODELS_PROPENSITY_FEATURE_STD, H5T_NATIVE_DOUBLE, 0, F, sd);
    double *x = xalloc((size_t)(d->n * F), sizeof(double));
    mkt_h5_read_rows(s, MKT_FEATURES_USERS, H5T_NATIVE_DOUBLE, d->begin, d->n, x);
    mkt_h5_close(s);
    double *work = xalloc(mkt_mlp_work_size(&net), sizeof(double));
    d->propensity = xalloc((size_t)d->n, sizeof(double));
    for (int64_t u = 0; u < d->n; u++) {
        double *xu = x + u * F;
        for (int64_t j = 0; j < F; j++)
            xu[j] = sd[j] > 0 && isfinite(xu[j]) ? (xu[j] - mean[j]) / sd[j] : 0.0;
        d->propensity[u] = uplift_sigmoid(mkt_mlp_logit(&net, params, xu, work));
    }
    mkt_metrics_set_str(metrics, "propensity", "from /models/propensity on /features/users");
    free(work);
    free(x);
    free(params);
    free(mean);
    free(sd);
}

/* ---------- economics per user and arm ---------- */

static double catalogue_margin(const strat_data *d)
{
    double sp = 0, sc = 0;
    mkt_xsum a, b;
    mkt_xsum_init(&a);
    mkt_xsum_init(&b);
    for (int64_t i = 0; i < d->I; i++)
        if (d->price[i] > 0 && d->cost[i] >= 0 && isfinite(d->cost[i])) {
            mkt_xsum_add(&a, d->price[i]);
            mkt_xsum_add(&b, d->cost[i]);
        }
    sp = mkt_xsum_value(&a);
    sc = mkt_xsum_value(&b);
    return sp > 0 ? 1.0 - sc / sp : 0.0;
}

/* Value of arm t (0-based) for a user with base conversion p0, order value
 * V, base spend r0 and effects dc (conversion), ds (spend). */
static void arm_value(const strat_data *d, const strat_econ *e, int by_conversion, int t, double p0, double V,
                      double r0, double dc, double ds, strat_arm_value *out)
{
    if (by_conversion)
        strat_arm_value_eval_conv(e, &d->costs[t], p0, V, dc, out);
    else
        strat_arm_value_eval(e, &d->costs[t], p0, r0, dc, ds, out);
}

static void evaluate_arms(strat_data *d, const strat_econ *e, const mkt_strategy_options *o)
{
    size_t nv = (size_t)d->n * (size_t)d->na;
    d->val = xalloc(nv, sizeof(strat_arm_value));
    d->eligible = xalloc(nv, 1);
    int by_conversion = strcmp(o->spend_effect, "conversion") == 0;
    for (int64_t u = 0; u < d->n; u++)
        for (int t = 0; t < d->na; t++) {
            size_t j = (size_t)u * (size_t)d->na + (size_t)t;
            arm_value(d, e, by_conversion, t, d->p0[u], d->order_value[u], d->r0[u], d->dconv[j], d->dspend[j],
                      &d->val[j]);
            d->eligible[j] = (unsigned char)strat_eligible(d->days_since[u], o->min_days_since_purchase,
                                                           d->val[j].margin_after, o->min_margin);
        }
}

/* The planted truth of a `mkt gen` store, for the local users. */
static void load_truth(strat_data *d, const strat_econ *e, const mkt_strategy_options *o, MPI_Comm comm)
{
    hid_t f = mkt_h5_open(o->truth, 0, comm);
    if (!mkt_h5_exists(f, MKT_TRUTH_BASE_CONVERSION))
        mkt_fail_all(MKT_EXIT_ERROR, "strategy: --truth %s has no /truth (a store written by mkt gen)", o->truth);
    if (mkt_h5_rows(f, MKT_IDS_USERS, NULL) != d->N)
        mkt_fail_all(MKT_EXIT_ERROR, "strategy: --truth %s has another number of users than %s", o->truth, o->store);
    char **ids = mkt_h5_read_strings(f, MKT_IDS_USERS, d->begin, d->n);
    int same = strings_equal(ids, d->user_ids, d->n);
    mkt_h5_free_strings(ids, d->n);
    if (!all_true(same, comm))
        mkt_fail_all(MKT_EXIT_ERROR, "strategy: the users of --truth %s are not those of %s", o->truth, o->store);
    int gen_arm[64];
    if (d->T > 64)
        mkt_fail_all(MKT_EXIT_ERROR, "strategy: --truth: %d arms is more than mkt gen writes", d->T);
    for (int t = 0; t < d->T; t++) {
        gen_arm[t] = -1;
        for (int g = 0; g < MKT_GEN_TREATMENTS; g++)
            if (!strcmp(d->arms[t], mkt_gen_treatment_names[g]))
                gen_arm[t] = g;
        if (gen_arm[t] < 0 || (t == 0) != (gen_arm[t] == 0))
            mkt_fail_all(MKT_EXIT_ERROR, "strategy: --truth: arm '%s' of %s is not a mkt gen arm", d->arms[t],
                         o->store);
    }
    mkt_gen_config c;
    mkt_gen_config_defaults(&c);
    c.seed = (uint64_t)mkt_h5_attr_get_int(f, MKT_TRUTH, "seed", 0);
    c.factors = (int)mkt_h5_attr_get_int(f, MKT_TRUTH, "factors", 8);
    if (c.factors < 1 || c.factors > MKT_GEN_MAX_FACTORS)
        mkt_fail_all(MKT_EXIT_ERROR, "strategy: --truth %s: /truth has no usable 'factors' attribute", o->truth);
    double *base = xalloc((size_t)d->n, sizeof(double));
    mkt_h5_read_rows(f, MKT_TRUTH_BASE_CONVERSION, H5T_NATIVE_DOUBLE, d->begin, d->n, base);
    mkt_h5_close(f);
    double *taste = xalloc((size_t)c.factors, sizeof(double));
    d->tval = xalloc((size_t)d->n * (size_t)d->na, sizeof(strat_arm_value));
    int ok = 1;
    for (int64_t u = 0; u < d->n; u++) {
        mkt_gen_user usr;
        usr.taste = taste;
        mkt_gen_user_draw(&c, NULL, d->begin + u, &usr);
        double conv[MKT_GEN_TREATMENTS], spend[MKT_GEN_TREATMENTS];
        mkt_gen_campaign_truth(&usr, conv, spend);
        if (fabs(conv[0] - base[u]) > 1e-9)
            ok = 0;
        for (int t = 1; t < d->T; t++) {
            int g = gen_arm[t];
            strat_arm_value_truth(e, &d->costs[t - 1], conv[0], conv[g], spend[0], spend[g],
                                  &d->tval[u * d->na + t - 1]);
        }
    }
    free(taste);
    free(base);
    if (!all_true(ok, comm))
        mkt_fail_all(MKT_EXIT_ERROR,
                     "strategy: --truth %s: the planted conversion rates cannot be reproduced from /truth's seed "
                     "and factors (not a store of this mkt gen)",
                     o->truth);
}

/* ---------- messages ---------- */

static char **render_messages(const strat_data *d, const int32_t *choice, const mkt_strategy_options *o)
{
    char **msg = xalloc((size_t)d->n, sizeof(char *));
    const char **names = xalloc((size_t)o->k, sizeof(char *));
    double *pr = xalloc((size_t)o->k, sizeof(double));
    char *buf = xalloc(MSG_CAP, 1), disc[128];
    for (int64_t u = 0; u < d->n; u++) {
        int ni = 0;
        for (int j = 0; j < o->k; j++) {
            int64_t it = d->items[u * o->k + j];
            if (it < 0)
                break;
            names[ni] = d->item_ids[it];
            pr[ni++] = d->prices[u * o->k + j];
        }
        int t = choice[u];
        disc[0] = 0;
        if (t >= 0)
            strat_discount_text(&d->costs[t], d->arms[t + 1], disc, sizeof disc);
        strat_msg m = {d->user_ids[u], d->segment[u] >= 0 ? d->segment_names[d->segment[u]] : "unknown",
                       t >= 0 ? d->arms[t + 1] : "none", disc, ni, names, pr};
        strat_render(t >= 0 || !o->template_none ? o->template_text : o->template_none, &m, buf, MSG_CAP);
        msg[u] = mkt_xstrdup(buf);
    }
    free(buf);
    free(pr);
    free(names);
    return msg;
}

/* ---------- outputs ---------- */

static void write_csv(const strat_data *d, const int32_t *choice, char **msg, const mkt_strategy_options *o,
                      MPI_Comm comm)
{
    strat_buf b = {0};
    if (d->rank == 0)
        strat_buf_str(&b, "user,segment,promotion,expected_profit,items,prices,message\n");
    strat_buf tmp = {0};
    for (int64_t u = 0; u < d->n; u++) {
        int t = choice[u];
        strat_buf_csv(&b, d->user_ids[u]);
        strat_buf_str(&b, ",");
        strat_buf_csv(&b, d->segment[u] >= 0 ? d->segment_names[d->segment[u]] : "unknown");
        strat_buf_str(&b, ",");
        strat_buf_csv(&b, t >= 0 ? d->arms[t + 1] : "none");
        strat_buf_str(&b, ",");
        strat_buf_num(&b, t >= 0 ? d->val[u * d->na + t].profit : 0.0, 4);
        strat_buf_str(&b, ",");
        tmp.len = 0;
        strat_buf_str(&tmp, "");
        for (int j = 0; j < o->k && d->items[u * o->k + j] >= 0; j++) {
            if (j)
                strat_buf_str(&tmp, ";");
            strat_buf_str(&tmp, d->item_ids[d->items[u * o->k + j]]);
        }
        strat_buf_csv(&b, tmp.p);
        strat_buf_str(&b, ",");
        tmp.len = 0;
        strat_buf_str(&tmp, "");
        for (int j = 0; j < o->k && d->items[u * o->k + j] >= 0; j++) {
            if (j)
                strat_buf_str(&tmp, ";");
            strat_buf_num(&tmp, d->prices[u * o->k + j], 2);
        }
        strat_buf_csv(&b, tmp.p);
        strat_buf_str(&b, ",");
        strat_buf_csv(&b, msg[u]);
        strat_buf_str(&b, "\n");
    }
    strat_buf_free(&tmp);
    size_t plen = strlen(o->csv) + 8;
    char *tmp_path = xalloc(plen, 1);
    snprintf(tmp_path, plen, "%s.tmp", o->csv);
    int64_t total = 0, off = mkt_exscan_count((int64_t)b.len, &total, comm);
    MPI_File fh;
    int rc = MPI_File_open(comm, tmp_path, MPI_MODE_CREATE | MPI_MODE_WRONLY, MPI_INFO_NULL, &fh);
    if (!all_true(rc == MPI_SUCCESS, comm))
        mkt_fail_all(MKT_EXIT_ERROR, "strategy: cannot create the CSV file %s", tmp_path);
    mkt_tmp_add(tmp_path); /* removed if anything fails before the rename */
    MKT_MPI(MPI_File_set_size(fh, 0));
    const size_t piece = (size_t)1 << 30;
    for (size_t done = 0; done < b.len; done += piece) {
        size_t cnt = b.len - done < piece ? b.len - done : piece;
        MKT_MPI(MPI_File_write_at(fh, (MPI_Offset)(off + (int64_t)done), b.p + done, (int)cnt, MPI_BYTE,
                                  MPI_STATUS_IGNORE));
    }
    MKT_MPI(MPI_File_close(&fh));
    int ok = 1;
    if (d->rank == 0)
        ok = rename(tmp_path, o->csv) == 0;
    MKT_MPI(MPI_Bcast(&ok, 1, MPI_INT, 0, comm));
    if (!ok)
        mkt_fail_all(MKT_EXIT_ERROR, "strategy: cannot rename %s to %s", tmp_path, o->csv);
    mkt_tmp_done(tmp_path);
    free(tmp_path);
    strat_buf_free(&b);
}

typedef struct {
    double value[NPOL][MKT_STRAT_METRICS], lo[NPOL][MKT_STRAT_METRICS], hi[NPOL][MKT_STRAT_METRICS];
    double truth[NPOL][MKT_STRAT_METRICS];
    int has_truth;
    double *curve_budget, *curve_profit, *curve_cost, *curve_treated;
    int curve_n;
    mkt_strat_ope_result ope;
    double lambda;
    int64_t treated;
} strat_results;

static void write_h5(const strat_data *d, const int32_t *choice, char **msg, const strat_results *r,
                     const mkt_strategy_options *o, MPI_Comm comm)
{
    mkt_h5out out;
    mkt_h5_create(&out, o->out, "strategy", comm);
    hid_t f = out.file;
    int64_t n = d->n, k = o->k;
    int64_t *user = xalloc((size_t)n, sizeof(int64_t));
    int32_t *promo = xalloc((size_t)n, sizeof(int32_t));
    double *ep = xalloc((size_t)n, sizeof(double)), *ec = xalloc((size_t)n, sizeof(double));
    double *uc = xalloc((size_t)n, sizeof(double)), *us = xalloc((size_t)n, sizeof(double));
    for (int64_t u = 0; u < n; u++) {
        user[u] = d->begin + u;
        int t = choice[u];
        promo[u] = t >= 0 ? t + 1 : -1;
        const strat_arm_value *v = t >= 0 ? &d->val[u * d->na + t] : NULL;
        ep[u] = v ? v->profit : 0;
        ec[u] = v ? v->cost : 0;
        uc[u] = v ? v->dconv : 0;
        us[u] = v ? v->drev : 0;
    }
    mkt_h5_write_rows_at(f, MKT_STRATEGY_USER, H5T_NATIVE_INT64, user, d->begin, n, d->N, 0, comm);
    mkt_h5_write_rows_at(f, MKT_STRATEGY_SEGMENT, H5T_NATIVE_INT32, d->segment, d->begin, n, d->N, 0, comm);
    mkt_h5_write_rows_at(f, MKT_STRATEGY_ITEMS, H5T_NATIVE_INT64, d->items, d->begin, n, d->N, k, comm);
    mkt_h5_write_rows_at(f, MKT_STRATEGY_ITEM_SCORES, H5T_NATIVE_DOUBLE, d->item_scores, d->begin, n, d->N, k, comm);
    mkt_h5_write_rows_at(f, MKT_STRATEGY_PRICE, H5T_NATIVE_DOUBLE, d->prices, d->begin, n, d->N, k, comm);
    mkt_h5_write_rows_at(f, MKT_STRATEGY_PROMOTION, H5T_NATIVE_INT32, promo, d->begin, n, d->N, 0, comm);
    mkt_h5_write_rows_at(f, MKT_STRATEGY_EXPECTED_PROFIT, H5T_NATIVE_DOUBLE, ep, d->begin, n, d->N, 0, comm);
    mkt_h5_write_rows_at(f, MKT_STRATEGY_EXPECTED_COST, H5T_NATIVE_DOUBLE, ec, d->begin, n, d->N, 0, comm);
    mkt_h5_write_rows_at(f, MKT_STRATEGY_UPLIFT_CONVERSION, H5T_NATIVE_DOUBLE, uc, d->begin, n, d->N, 0, comm);
    mkt_h5_write_rows_at(f, MKT_STRATEGY_UPLIFT_SPEND, H5T_NATIVE_DOUBLE, us, d->begin, n, d->N, 0, comm);
    mkt_h5_write_strings(f, MKT_STRATEGY_MESSAGE, msg, n, comm);
    mkt_h5_write_strings(f, MKT_STRATEGY_ARMS, d->arms, d->rank == 0 ? d->T : 0, comm);
    if (d->nsegments > 0) /* the names of /strategy/segment, so the gateway answers names */
        mkt_h5_write_strings(f, MKT_STRATEGY_SEGMENT_NAMES, d->segment_names, d->rank == 0 ? d->nsegments : 0, comm);

    char *pn[NPOL], *mn[MKT_STRAT_METRICS];
    for (int p = 0; p < NPOL; p++)
        pn[p] = (char *)policy_names[p];
    for (int m = 0; m < MKT_STRAT_METRICS; m++)
        mn[m] = (char *)mkt_strat_metric_names[m];
    mkt_h5_write_strings(f, MKT_STRATEGY_TOTALS_POLICIES, pn, d->rank == 0 ? NPOL : 0, comm);
    mkt_h5_write_strings(f, MKT_STRATEGY_TOTALS_METRIC_NAMES, mn, d->rank == 0 ? MKT_STRAT_METRICS : 0, comm);
    mkt_h5_write_small(f, MKT_STRATEGY_TOTALS_VALUE, H5T_NATIVE_DOUBLE, r->value, NPOL, MKT_STRAT_METRICS, comm);
    mkt_h5_write_small(f, MKT_STRATEGY_TOTALS_LO, H5T_NATIVE_DOUBLE, r->lo, NPOL, MKT_STRAT_METRICS, comm);
    mkt_h5_write_small(f, MKT_STRATEGY_TOTALS_HI, H5T_NATIVE_DOUBLE, r->hi, NPOL, MKT_STRAT_METRICS, comm);
    if (r->has_truth)
        mkt_h5_write_small(f, MKT_STRATEGY_TOTALS_TRUE_VALUE, H5T_NATIVE_DOUBLE, r->truth, NPOL, MKT_STRAT_METRICS,
                           comm);
    int B = r->curve_n;
    mkt_h5_write_small(f, MKT_STRATEGY_BUDGET_CURVE_BUDGET, H5T_NATIVE_DOUBLE, r->curve_budget, B, 0, comm);
    mkt_h5_write_small(f, MKT_STRATEGY_BUDGET_CURVE_INCREMENTAL_PROFIT, H5T_NATIVE_DOUBLE, r->curve_profit, B, 0,
                       comm);
    mkt_h5_write_small(f, MKT_STRATEGY_BUDGET_CURVE_PROMOTION_COST, H5T_NATIVE_DOUBLE, r->curve_cost, B, 0, comm);
    mkt_h5_write_small(f, MKT_STRATEGY_BUDGET_CURVE_USERS_TREATED, H5T_NATIVE_DOUBLE, r->curve_treated, B, 0, comm);
    char *on[2] = {"ipw", "dr"};
    double ov[2] = {r->ope.ipw, r->ope.dr};
    double olo[2] = {r->ope.ipw - 1.96 * r->ope.ipw_se, r->ope.dr - 1.96 * r->ope.dr_se};
    double ohi[2] = {r->ope.ipw + 1.96 * r->ope.ipw_se, r->ope.dr + 1.96 * r->ope.dr_se};
    mkt_h5_write_strings(f, MKT_STRATEGY_OPE_NAMES, on, d->rank == 0 ? 2 : 0, comm);
    mkt_h5_write_small(f, MKT_STRATEGY_OPE_VALUE, H5T_NATIVE_DOUBLE, ov, 2, 0, comm);
    mkt_h5_write_small(f, MKT_STRATEGY_OPE_LO, H5T_NATIVE_DOUBLE, olo, 2, 0, comm);
    mkt_h5_write_small(f, MKT_STRATEGY_OPE_HI, H5T_NATIVE_DOUBLE, ohi, 2, 0, comm);
    mkt_h5_attr_set_double(f, MKT_STRATEGY_OPE, "predicted", r->ope.predicted);
    mkt_h5_attr_set_int(f, MKT_STRATEGY_OPE, "rows", r->ope.rows);
    mkt_h5_attr_set_int(f, MKT_STRATEGY_OPE, "rows_matched", r->ope.matched);

    mkt_h5_attr_set_double(f, MKT_STRATEGY, "budget", o->budget);
    mkt_h5_attr_set_double(f, MKT_STRATEGY, "lambda", r->lambda);
    mkt_h5_attr_set_int(f, MKT_STRATEGY, "schema_version", MKT_SCHEMA_VERSION);
    mkt_h5_attr_set_int(f, MKT_STRATEGY, "k", o->k);
    mkt_h5_attr_set_int(f, MKT_STRATEGY, "users_treated", r->treated);
    mkt_h5_attr_set_string(f, MKT_STRATEGY, "pricing", o->pricing);
    mkt_h5_attr_set_string(f, MKT_STRATEGY, "template", o->template_text);
    mkt_h5_commit(&out);
    free(user);
    free(promo);
    free(ep);
    free(ec);
    free(uc);
    free(us);
}

/* effects = shrunk: the totals of every policy (its choices fixed) under
 * the shrunk effects of each refit, and from them the 95% interval around
 * the point totals (strat_replicate_interval): the uncertainty of the
 * effect model, which dominates that of the user sample. */
static void refit_intervals(const strat_data *d, const strat_econ *e, const mkt_strategy_options *o,
                            int32_t *const *choice, strat_results *r, MPI_Comm comm)
{
    int R = d->R, na = d->na;
    const int M = MKT_STRAT_ROI; /* summed columns */
    size_t cl = (size_t)d->T * (size_t)d->dim, nacc = (size_t)R * NPOL * (size_t)M;
    mkt_xsum *acc = xalloc(nacc, sizeof(mkt_xsum));
    for (size_t j = 0; j < nacc; j++)
        mkt_xsum_init(&acc[j]);
    double *ec = xalloc((size_t)na, sizeof(double)), *es = xalloc((size_t)na, sizeof(double)), p0, r0;
    int by_conversion = strcmp(o->spend_effect, "conversion") == 0;
    for (int64_t u = 0; u < d->n; u++) {
        int any = 0;
        for (int p = 0; p < NPOL; p++)
            any |= choice[p][u] >= 0;
        if (!any)
            continue;
        for (int b = 0; b < R; b++) {
            refit_user(d, d->rcc + (size_t)b * cl, d->rcs + (size_t)b * cl, d->ux + u * d->dim, &p0, &r0, ec, es);
            for (int p = 0; p < NPOL; p++) {
                int t = choice[p][u];
                if (t < 0)
                    continue;
                size_t j = (size_t)u * (size_t)na + (size_t)t;
                strat_arm_value v;
                arm_value(d, e, by_conversion, t, p0, d->order_value[u], r0,
                          strat_shrink(ec[t], d->rmc[b * na + t], d->kc[j]),
                          strat_shrink(es[t], d->rms[b * na + t], d->ks[j]), &v);
                mkt_xsum *a = acc + ((size_t)b * NPOL + (size_t)p) * (size_t)M;
                mkt_xsum_add(&a[MKT_STRAT_CONVERSIONS], v.dconv);
                mkt_xsum_add(&a[MKT_STRAT_REVENUE], v.drev);
                mkt_xsum_add(&a[MKT_STRAT_MARGIN], v.margin);
                mkt_xsum_add(&a[MKT_STRAT_COST], v.cost);
                mkt_xsum_add(&a[MKT_STRAT_PROFIT], v.profit);
            }
        }
    }
    for (size_t j = 0; j < nacc; j += 4096)
        mkt_allreduce_xsum(acc + j, (int)(nacc - j < 4096 ? nacc - j : 4096), comm);
    double *v = xalloc((size_t)R, sizeof(double));
    for (int p = 0; p < NPOL; p++)
        for (int m = 0; m < MKT_STRAT_METRICS; m++) {
            for (int b = 0; b < R; b++) {
                const mkt_xsum *a = acc + ((size_t)b * NPOL + (size_t)p) * (size_t)M;
                double cost = mkt_xsum_value(&a[MKT_STRAT_COST]);
                v[b] = m < M ? mkt_xsum_value(&a[m])
                             : (cost > 0 ? mkt_xsum_value(&a[MKT_STRAT_PROFIT]) / cost : NAN);
            }
            strat_replicate_interval(r->value[p][m], v, R, &r->lo[p][m], &r->hi[p][m]);
        }
    free(v);
    free(ec);
    free(es);
    free(acc);
}

static json_t *num_or_null(double v) { return isfinite(v) ? json_real(v) : json_null(); }

static void report_metrics(const strat_data *d, const strat_results *r, const int32_t *choice, int steps,
                           const char *cheapest, double tau, int have_prop, json_t *metrics, MPI_Comm comm)
{
    json_t *tot = mkt_metrics_child(metrics, "totals");
    for (int p = 0; p < NPOL; p++) {
        json_t *pol = mkt_metrics_child(tot, policy_names[p]);
        for (int m = 0; m < MKT_STRAT_METRICS; m++) {
            json_t *e = json_object();
            json_object_set_new(e, "value", num_or_null(r->value[p][m]));
            json_object_set_new(e, "lo", num_or_null(r->lo[p][m]));
            json_object_set_new(e, "hi", num_or_null(r->hi[p][m]));
            if (r->has_truth)
                json_object_set_new(e, "true", num_or_null(r->truth[p][m]));
            json_object_set_new(pol, mkt_strat_metric_names[m], e);
        }
    }
    mkt_metrics_set_real(metrics, "lambda", r->lambda);
    mkt_metrics_set_int(metrics, "bisection_steps", steps);
    mkt_metrics_set_int(metrics, "users", d->N);
    mkt_metrics_set_int(metrics, "users_treated", r->treated);
    mkt_metrics_set_real(metrics, "promotion_cost", r->value[POL_STRATEGY][MKT_STRAT_COST]);
    mkt_metrics_set_real(metrics, "expected_incremental_profit", r->value[POL_STRATEGY][MKT_STRAT_PROFIT]);
    json_object_set_new(metrics, "cost_within_budget", json_boolean(1));
    mkt_metrics_set_str(metrics, "cheapest_arm", cheapest);
    if (have_prop)
        mkt_metrics_set_real(metrics, "propensity_threshold", tau);
    /* users per arm */
    int64_t *cnt = xalloc((size_t)d->T, sizeof(int64_t));
    for (int64_t u = 0; u < d->n; u++)
        cnt[choice[u] + 1]++;
    MKT_MPI(MPI_Allreduce(MPI_IN_PLACE, cnt, d->T, MPI_INT64_T, MPI_SUM, comm));
    json_t *per = mkt_metrics_child(metrics, "users_per_promotion");
    mkt_metrics_set_int(per, "none", cnt[0]);
    for (int t = 1; t < d->T; t++)
        mkt_metrics_set_int(per, d->arms[t], cnt[t]);
    free(cnt);
    json_t *ope = mkt_metrics_child(metrics, "ope");
    mkt_metrics_set_int(ope, "rows", r->ope.rows);
    mkt_metrics_set_int(ope, "rows_matched", r->ope.matched);
    json_object_set_new(ope, "predicted_per_row", num_or_null(r->ope.predicted));
    const char *names[2] = {"ipw", "dr"};
    double v[2] = {r->ope.ipw, r->ope.dr}, se[2] = {r->ope.ipw_se, r->ope.dr_se};
    for (int j = 0; j < 2; j++) {
        json_t *e = mkt_metrics_child(ope, names[j]);
        json_object_set_new(e, "value", num_or_null(v[j]));
        json_object_set_new(e, "lo", num_or_null(v[j] - 1.96 * se[j]));
        json_object_set_new(e, "hi", num_or_null(v[j] + 1.96 * se[j]));
    }
    json_t *curve = json_array();
    for (int j = 0; j < r->curve_n; j++) {
        json_t *e = json_object();
        json_object_set_new(e, "budget", json_real(r->curve_budget[j]));
        json_object_set_new(e, "incremental_profit", json_real(r->curve_profit[j]));
        json_object_set_new(e, "promotion_cost", json_real(r->curve_cost[j]));
        json_object_set_new(e, "users_treated", json_real(r->curve_treated[j]));
        json_array_append_new(curve, e);
    }
    json_object_set_new(metrics, "budget_curve", curve);
}

/* ---------- the stage ---------- */

static void check_options(const mkt_strategy_options *o)
{
    if (!o->store || !o->models || !o->out)
        mkt_fail_all(MKT_EXIT_USAGE, "strategy: --store STORE.h5, --models MODEL.h5 and --out STRATEGY.h5 are required");
    if (!(o->budget >= 0))
        mkt_fail_all(MKT_EXIT_USAGE, "strategy: budget: must be a number >= 0 (got %g)", o->budget);
    if (!(o->min_factor > 0 && o->min_factor <= o->max_factor))
        mkt_fail_all(MKT_EXIT_USAGE, "strategy: price bounds: need 0 < min_factor <= max_factor (got %g, %g)",
                     o->min_factor, o->max_factor);
    if (!o->pricing || (strcmp(o->pricing, "elasticity") != 0 && strcmp(o->pricing, "interest") != 0))
        mkt_fail_all(MKT_EXIT_USAGE, "strategy: pricing: must be elasticity or interest, not '%s'",
                     o->pricing ? o->pricing : "");
    if (!o->spend_effect || (strcmp(o->spend_effect, "conversion") != 0 && strcmp(o->spend_effect, "model") != 0))
        mkt_fail_all(MKT_EXIT_USAGE, "strategy: spend_effect: must be conversion or model, not '%s'",
                     o->spend_effect ? o->spend_effect : "");
    if (!(o->margin_rate < 1))
        mkt_fail_all(MKT_EXIT_USAGE, "strategy: margin_rate: must be below 1 (negative: from the catalogue)");
    char err[512];
    if (!o->template_text || strat_template_check(o->template_text, o->k, err, sizeof err) != 0)
        mkt_fail_all(MKT_EXIT_USAGE, "strategy: %s", o->template_text ? err : "template: missing");
    if (o->template_none && strat_template_check(o->template_none, o->k, err, sizeof err) != 0)
        mkt_fail_all(MKT_EXIT_USAGE, "strategy: template_none: %s", err);
}

int mkt_strategy_run(const mkt_strategy_options *o, MPI_Comm comm, json_t *metrics)
{
    double t0 = mkt_now();
    check_options(o);
    strat_data d;
    memset(&d, 0, sizeof d);
    MKT_MPI(MPI_Comm_rank(comm, &d.rank));
    MKT_MPI(MPI_Comm_size(comm, &d.nranks));

    /* required models first, so a missing one fails before any work */
    hid_t m = mkt_h5_open(o->models, 0, comm);
    if (!mkt_h5_exists(m, MKT_MODELS_UPLIFT))
        mkt_fail_all(MKT_EXIT_ERROR, "strategy: %s has no /models/uplift (run mkt train uplift)", o->models);
    if (!mkt_h5_exists(m, MKT_MODELS_MF))
        mkt_fail_all(MKT_EXIT_ERROR, "strategy: %s has no /models/mf (run mkt train mf)", o->models);
    load_store(&d, o, comm);

    /* promotion costs and the margin rate */
    d.costs = xalloc((size_t)d.na, sizeof(strat_arm_cost));
    json_t *cm = mkt_metrics_child(metrics, "arm_costs");
    for (int t = 1; t < d.T; t++) {
        char err[512];
        if (strat_arm_cost_parse(o->arm_costs, d.arms[t], o->shipping_cost, &d.costs[t - 1], err, sizeof err) != 0)
            mkt_fail_all(MKT_EXIT_USAGE, "strategy: %s", err);
        static const char *const kinds[] = {"percent", "coupon", "shipping", "contact"};
        json_t *a = mkt_metrics_child(cm, d.arms[t]);
        mkt_metrics_set_str(a, "kind", kinds[d.costs[t - 1].kind]);
        mkt_metrics_set_real(a, "value", d.costs[t - 1].value);
        mkt_metrics_set_real(a, "redeem", d.costs[t - 1].redeem);
    }
    strat_econ econ = {o->margin_rate >= 0 ? o->margin_rate : catalogue_margin(&d), o->contact_cost};
    mkt_metrics_set_real(metrics, "margin_rate", econ.margin_rate);
    mkt_metrics_set_str(metrics, "spend_effect", o->spend_effect);
    mkt_metrics_set_str(metrics, "margin_rate_source", o->margin_rate >= 0 ? "option" : "catalogue");

    load_uplift(&d, m, o, metrics, comm);
    load_mf_topk(&d, m, o);
    set_prices(&d, m, o, metrics, comm);
    load_segments(&d, m, o, metrics);
    load_propensity(&d, m, o, metrics, comm);
    mkt_h5_close(m);
    evaluate_arms(&d, &econ, o);
    if (o->truth)
        load_truth(&d, &econ, o, comm);
    double t_load = mkt_now() - t0;

    /* the strategy under the budget */
    mkt_strat_users su = {d.n, d.begin, d.na, d.val, d.eligible};
    int32_t *choice[NPOL];
    for (int p = 0; p < NPOL; p++)
        choice[p] = xalloc((size_t)d.n, sizeof(int32_t));
    int steps = 0;
    strat_results r;
    memset(&r, 0, sizeof r);
    r.lambda = mkt_strat_solve(&su, o->budget, o->max_steps, choice[POL_STRATEGY], &steps, comm);

    /* reference policies: nothing; the cheapest arm to everyone eligible; the cheapest arm by propensity rank */
    mkt_xsum *ac = xalloc((size_t)d.na, sizeof(mkt_xsum));
    for (int t = 0; t < d.na; t++)
        mkt_xsum_init(&ac[t]);
    for (int64_t u = 0; u < d.n; u++)
        for (int t = 0; t < d.na; t++)
            mkt_xsum_add(&ac[t], d.val[u * d.na + t].cost);
    mkt_allreduce_xsum(ac, d.na, comm);
    int cheap = 0;
    for (int t = 1; t < d.na; t++)
        if (mkt_xsum_value(&ac[t]) < mkt_xsum_value(&ac[cheap]))
            cheap = t;
    free(ac);
    double *pscore = xalloc((size_t)d.n, sizeof(double)), *pcost = xalloc((size_t)d.n, sizeof(double));
    for (int64_t u = 0; u < d.n; u++) {
        int el = d.eligible[u * d.na + cheap];
        choice[POL_NONE][u] = -1;
        choice[POL_CHEAPEST][u] = el ? cheap : -1;
        pscore[u] = el && d.propensity ? d.propensity[u] : -1.0;
        pcost[u] = el ? d.val[u * d.na + cheap].cost : 0.0;
    }
    int have_prop = all_true(d.propensity != NULL, comm);
    double tau = NAN;
    if (have_prop) {
        int ps = 0;
        tau = mkt_strat_threshold(pscore, pcost, d.n, o->budget, o->max_steps, &ps, comm);
        for (int64_t u = 0; u < d.n; u++)
            choice[POL_PROPENSITY][u] = pscore[u] >= tau ? cheap : -1;
    } else {
        for (int64_t u = 0; u < d.n; u++)
            choice[POL_PROPENSITY][u] = -1;
    }
    free(pscore);
    free(pcost);

    for (int p = 0; p < NPOL; p++) {
        int64_t tr = 0;
        mkt_strat_totals(d.val, d.na, d.n, choice[p], r.value[p], &tr, comm);
        if (p == POL_STRATEGY)
            r.treated = tr;
        if (d.tval) {
            mkt_strat_totals(d.tval, d.na, d.n, choice[p], r.truth[p], NULL, comm);
            r.has_truth = 1;
        }
    }
    if (r.value[POL_STRATEGY][MKT_STRAT_COST] > o->budget)
        mkt_fail_all(MKT_EXIT_ERROR, "strategy: internal error: cost %.17g exceeds the budget %.17g",
                     r.value[POL_STRATEGY][MKT_STRAT_COST], o->budget);
    double t_solve = mkt_now() - t0 - t_load;
    if (o->shrunk)
        refit_intervals(&d, &econ, o, choice, &r, comm);
    else
        mkt_strat_bootstrap(d.val, d.na, d.n, d.begin, choice, NPOL, o->bootstrap, o->seed, &r.lo[0][0],
                            &r.hi[0][0], comm);
    if (!have_prop)
        for (int m2 = 0; m2 < MKT_STRAT_METRICS; m2++)
            r.value[POL_PROPENSITY][m2] = r.lo[POL_PROPENSITY][m2] = r.hi[POL_PROPENSITY][m2] =
                r.truth[POL_PROPENSITY][m2] = NAN;

    /* the budget curve: the same policy at budgets from 0 to the unconstrained cost */
    int32_t *tmp = xalloc((size_t)d.n, sizeof(int32_t));
    int cs = 0;
    mkt_strat_solve(&su, INFINITY, o->max_steps, tmp, &cs, comm);
    double full[MKT_STRAT_METRICS];
    mkt_strat_totals(d.val, d.na, d.n, tmp, full, NULL, comm);
    r.curve_n = o->curve_points;
    r.curve_budget = xalloc((size_t)r.curve_n, sizeof(double));
    r.curve_profit = xalloc((size_t)r.curve_n, sizeof(double));
    r.curve_cost = xalloc((size_t)r.curve_n, sizeof(double));
    r.curve_treated = xalloc((size_t)r.curve_n, sizeof(double));
    for (int j = 0; j < r.curve_n; j++) {
        double b = full[MKT_STRAT_COST] * (double)j / (double)(r.curve_n - 1);
        mkt_strat_solve(&su, b, o->max_steps, tmp, &cs, comm);
        double tv[MKT_STRAT_METRICS];
        int64_t tr = 0;
        mkt_strat_totals(d.val, d.na, d.n, tmp, tv, &tr, comm);
        r.curve_budget[j] = b;
        r.curve_profit[j] = tv[MKT_STRAT_PROFIT];
        r.curve_cost[j] = tv[MKT_STRAT_COST];
        r.curve_treated[j] = (double)tr;
    }
    free(tmp);

    /* off-policy estimates on the held-out campaign rows of the uplift model */
    mkt_strat_log_row *lr = xalloc((size_t)d.ncrow, sizeof(mkt_strat_log_row));
    int64_t nl = 0;
    for (int64_t j = 0; j < d.ncrow; j++) {
        int64_t u = d.c_user[j] - d.begin;
        if (d.uplift_holdout > 0 && !uplift_is_holdout(d.uplift_seed, d.c_user[j], d.uplift_holdout))
            continue;
        mkt_strat_log_row *x = &lr[nl++];
        int t = choice[POL_STRATEGY][u];
        double mu0 = econ.margin_rate * d.r0[u];
        x->arm = d.c_treat[j];
        x->policy = t + 1;
        x->converted = d.c_conv[j] != 0;
        x->spend = d.c_spend[j];
        x->mu_control = mu0;
        x->mu_policy = t >= 0 ? mu0 + d.val[u * d.na + t].profit : mu0;
        x->mu_observed = x->arm > 0 ? mu0 + d.val[u * d.na + x->arm - 1].profit : mu0;
        x->predicted = t >= 0 ? d.val[u * d.na + t].profit : 0.0;
    }
    mkt_strat_ope(lr, nl, d.T, &econ, d.costs, &r.ope, comm);
    free(lr);

    /* messages and outputs */
    char **msg = render_messages(&d, choice[POL_STRATEGY], o);
    write_h5(&d, choice[POL_STRATEGY], msg, &r, o, comm);
    if (o->csv)
        write_csv(&d, choice[POL_STRATEGY], msg, o, comm);

    report_metrics(&d, &r, choice[POL_STRATEGY], steps, d.arms[cheap + 1], tau, have_prop, metrics, comm);
    json_object_set_new(metrics, "budget", num_or_null(o->budget)); /* null: no limit */
    mkt_metrics_set_str(metrics, "ope_rows", d.uplift_holdout > 0 ? "held-out rows of /models/uplift" : "all rows");
    {
        /* the item lists: the slowest rank's time, users per second of the whole run */
        double sec[2] = {d.items_seconds, d.items_cpu_seconds};
        int64_t cnt[3] = {d.items_stats.users_screened, d.items_stats.users_exact, d.items_stats.rescored};
        MKT_MPI(MPI_Allreduce(MPI_IN_PLACE, sec, 2, MPI_DOUBLE, MPI_MAX, comm));
        MKT_MPI(MPI_Allreduce(MPI_IN_PLACE, cnt, 3, MPI_INT64_T, MPI_SUM, comm));
        json_t *it = mkt_metrics_child(metrics, "items");
        mkt_metrics_set_str(it, "method", d.items_method);
        mkt_metrics_set_real(it, "seconds", sec[0]);
        mkt_metrics_set_real(it, "users_per_second", sec[0] > 0 ? (double)d.N / sec[0] : 0.0);
        /* what the run gives when every rank has a core to itself */
        mkt_metrics_set_real(it, "cpu_seconds", sec[1]);
        mkt_metrics_set_real(it, "users_per_cpu_second", sec[1] > 0 ? (double)d.N / sec[1] : 0.0);
        mkt_metrics_set_int(it, "users_screened", cnt[0]);
        mkt_metrics_set_int(it, "users_scored_exactly", cnt[1]);
        mkt_metrics_set_int(it, "items_rescored", cnt[2]);
    }
    mkt_metrics_set_real(metrics, "seconds_load", t_load);
    mkt_metrics_set_real(metrics, "seconds_solve", t_solve);
    mkt_metrics_set_real(metrics, "seconds", mkt_now() - t0);
    mkt_log(STAGE, "%lld users, budget %.2f: lambda %.6g after %d bisection steps; %lld users get a promotion, "
            "expected cost %.2f, incremental profit %.2f [%.2f, %.2f]",
            (long long)d.N, o->budget, r.lambda, steps, (long long)r.treated, r.value[0][MKT_STRAT_COST],
            r.value[0][MKT_STRAT_PROFIT], r.lo[0][MKT_STRAT_PROFIT], r.hi[0][MKT_STRAT_PROFIT]);
    for (int p = 1; p < NPOL; p++)
        mkt_log(STAGE, "reference %-18s cost %.2f, incremental profit %.2f", policy_names[p],
                r.value[p][MKT_STRAT_COST], r.value[p][MKT_STRAT_PROFIT]);
    if (r.has_truth)
        for (int p = 0; p < NPOL; p++)
            mkt_log(STAGE, "true incremental profit of %-18s %.2f (predicted %.2f)%s", policy_names[p],
                    r.truth[p][MKT_STRAT_PROFIT], r.value[p][MKT_STRAT_PROFIT],
                    r.truth[p][MKT_STRAT_PROFIT] < r.lo[p][MKT_STRAT_PROFIT] ||
                            r.truth[p][MKT_STRAT_PROFIT] > r.hi[p][MKT_STRAT_PROFIT]
                        ? " -- OUTSIDE the 95% interval"
                        : "");
    mkt_log(STAGE, "off-policy, per campaign row: IPW %.4f +- %.4f, DR %.4f +- %.4f, predicted %.4f (%lld rows)",
            r.ope.ipw, 1.96 * r.ope.ipw_se, r.ope.dr, 1.96 * r.ope.dr_se, r.ope.predicted, (long long)r.ope.rows);
    mkt_log(STAGE, "wrote %s%s%s in %.2fs", o->out, o->csv ? " and " : "", o->csv ? o->csv : "", mkt_now() - t0);

    for (int64_t u = 0; u < d.n; u++)
        free(msg[u]);
    free(msg);
    for (int p = 0; p < NPOL; p++)
        free(choice[p]);
    free(r.curve_budget);
    free(r.curve_profit);
    free(r.curve_cost);
    free(r.curve_treated);
    mkt_h5_free_strings(d.arms, d.T);
    mkt_h5_free_strings(d.user_ids, d.n);
    mkt_h5_free_strings(d.item_ids, d.I);
    if (d.segment_names)
        mkt_h5_free_strings(d.segment_names, d.nsegments);
    free(d.price);
    free(d.cost);
    free(d.category);
    free(d.days_since);
    free(d.ev_ptr);
    free(d.ev_item);
    free(d.segment);
    free(d.p0);
    free(d.r0);
    free(d.order_value);
    free(d.dconv);
    free(d.dspend);
    free(d.propensity);
    free(d.items);
    free(d.item_scores);
    free(d.prices);
    free(d.costs);
    free(d.val);
    free(d.tval);
    free(d.eligible);
    free(d.c_user);
    free(d.c_treat);
    free(d.c_conv);
    free(d.c_spend);
    free(d.c_attrs);
    free(d.ux);
    free(d.rcc);
    free(d.rcs);
    free(d.kc);
    free(d.ks);
    free(d.rmc);
    free(d.rms);
    return MKT_EXIT_OK;
}
