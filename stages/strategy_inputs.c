/* strategy_inputs.c — the inputs of `mkt strategy` other than the uplift and
 * factorization models: the store (ids, catalogue, the purchases and the
 * campaign rows of this rank's users), the optional segments and propensity
 * models, and the planted truth of a `mkt gen` store (--truth).
 *
 * Must not: fit or score anything beyond applying a stored model, or write
 * outputs (strategy_output.c). */
#include "strategy_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "events.h"
#include "exactsum.h"
#include "forest_io.h"
#include "gen.h"
#include "metrics_json.h"
#include "mlp.h"
#include "model_io.h"
#include "par.h"
#include "schema.h"
#include "uplift.h"

/* ---------- store: ids, items, events, campaign rows ---------- */

void strategy_load_store(strat_data *d, const mkt_strategy_options *o, MPI_Comm comm)
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
    int64_t *indptr = mkt_events_indptr(f, MKT_BY_USER, d->begin, d->n);
    int64_t e0 = indptr[0], ne = indptr[d->n] - indptr[0];
    mkt_event_cols ev = {0};
    mkt_events_read(f, MKT_BY_USER, MKT_COL_ITEM | MKT_COL_TYPE | MKT_COL_QTY | MKT_COL_TS, e0, ne, &ev);
    const int32_t *item = ev.item, *type = ev.type, *qty = ev.qty;
    const int64_t *ts = ev.ts;
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
    mkt_event_cols_free(&ev);

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

/* ---------- segments and propensity (optional) ---------- */

void strategy_load_segments(strat_data *d, hid_t m, const mkt_strategy_options *o, json_t *metrics)
{
    d->segment = xalloc((size_t)d->n, sizeof(int32_t));
    for (int64_t u = 0; u < d->n; u++)
        d->segment[u] = -1;
    char buf[512];
    const char *why = NULL;
    mkt_segments_model sm;
    if (!mkt_h5_exists(m, MKT_MODELS_SEGMENTS_ASSIGNMENT) || !mkt_h5_exists(m, MKT_MODELS_SEGMENTS_NAMES))
        why = "no /models/segments in the model file (run mkt train segments)";
    else if (mkt_segments_describe(m, o->models, &sm, buf, sizeof buf) != 0)
        why = buf;
    else if (sm.users != d->N)
        why = "/models/segments/assignment has another number of users than the store";
    if (why) {
        mkt_log(STAGE, "segments: %s; every segment is -1 (unknown)", why);
        mkt_metrics_set_str(metrics, "segments", why);
        return;
    }
    d->nsegments = (int)sm.segments;
    d->segment_names = mkt_segments_read_names(m, &sm);
    mkt_segments_read_assignment(m, d->begin, d->n, d->segment);
    for (int64_t u = 0; u < d->n; u++)
        if (d->segment[u] < 0 || d->segment[u] >= d->nsegments)
            d->segment[u] = -1;
    mkt_metrics_set_str(metrics, "segments", "from /models/segments");
}

void strategy_load_propensity(strat_data *d, hid_t m, const mkt_strategy_options *o, json_t *metrics,
                              MPI_Comm comm)
{
    char buf[512];
    const char *why = NULL;
    hid_t s = mkt_h5_open(o->store, 0, comm);
    int64_t F = 0;
    mkt_propensity_model pm;
    mkt_gbdt_model forest = {0};
    if (!mkt_h5_exists(m, MKT_MODELS_PROPENSITY_PARAMS) && !mkt_forest_exists(m, MKT_MODELS_PROPENSITY))
        why = "no /models/propensity in the model file (run mkt train propensity)";
    else if (!mkt_h5_exists(s, MKT_FEATURES_USERS) || !mkt_h5_exists(s, MKT_FEATURES_USER_NAMES))
        why = "the store has no /features (run mkt features)";
    else if (mkt_propensity_describe(m, o->models, MKT_MODELS_PROPENSITY, &pm, buf, sizeof buf) != 0)
        why = buf;
    else if (mkt_h5_rows(s, MKT_FEATURES_USERS, &F) != d->N || F != pm.net.inputs)
        why = "/features/users does not match the inputs of /models/propensity";
    else if (pm.gbdt && mkt_propensity_read_forest(m, o->models, &pm, &forest, buf, sizeof buf) != 0)
        why = buf; /* a forest that fails its check (forest_io.c) is no model */
    if (!why) {
        char **a = mkt_h5_read_strings(s, MKT_FEATURES_USER_NAMES, 0, F);
        char **b = mkt_propensity_read_names(m, &pm);
        if (!strings_equal(a, b, F))
            why = "the feature names of /features/users differ from those of /models/propensity";
        mkt_h5_free_strings(a, F);
        mkt_h5_free_strings(b, F);
    }
    if (why) {
        mkt_h5_close(s);
        mkt_gbdt_model_free(&forest);
        mkt_log(STAGE, "propensity: %s; the propensity_rank reference policy is skipped", why);
        mkt_metrics_set_str(metrics, "propensity", why);
        return;
    }
    const mkt_mlp net = pm.net;
    double *params = xalloc((size_t)pm.nparams, sizeof(double));
    double *mean = xalloc((size_t)F, sizeof(double)), *sd = xalloc((size_t)F, sizeof(double));
    mkt_propensity_read(m, &pm, pm.gbdt ? NULL : params, mean, sd);
    double *x = xalloc((size_t)(d->n * F), sizeof(double));
    mkt_h5_read_rows(s, MKT_FEATURES_USERS, H5T_NATIVE_DOUBLE, d->begin, d->n, x);
    mkt_h5_close(s);
    double *work = xalloc(mkt_mlp_work_size(&net), sizeof(double));
    d->propensity = xalloc((size_t)d->n, sizeof(double));
    for (int64_t u = 0; u < d->n; u++) {
        double *xu = x + u * F;
        for (int64_t j = 0; j < F; j++)
            xu[j] = sd[j] > 0 && isfinite(xu[j]) ? (xu[j] - mean[j]) / sd[j] : 0.0;
        /* a forest scores the same standardized features as the logistic/MLP models */
        double logit = pm.gbdt ? mkt_gbdt_margin(&forest, xu) : mkt_mlp_logit(&net, params, xu, work);
        d->propensity[u] = uplift_sigmoid(logit);
    }
    mkt_metrics_set_str(metrics, "propensity",
                        pm.gbdt ? "from /models/propensity (gbdt forest) on /features/users"
                                : "from /models/propensity on /features/users");
    mkt_gbdt_model_free(&forest);
    free(work);
    free(x);
    free(params);
    free(mean);
    free(sd);
}

/* ---------- the truth of a `mkt gen` store ---------- */

/* The planted truth of a `mkt gen` store, for the local users. */
void strategy_load_truth(strat_data *d, const strat_econ *e, const mkt_strategy_options *o, MPI_Comm comm)
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
