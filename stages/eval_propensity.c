/* eval_propensity.c — `mkt eval propensity` (a model on the test users of
 * its store or on a separate test store) and the held-out metrics both
 * commands report: quality of the probabilities, the baselines (base rate,
 * recency-frequency rule), the refusal of an empty or one-class test set.
 * Must not: train or write a model. */
#include "propensity_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "iocheck.h"
#include "metrics.h"
#include "metrics_json.h"
#include "model_io.h"
#include "teststore.h"


/* Held-out quality of probabilities p against labels y (identical on every
 * rank) into obj. */
void prop_quality_metrics(json_t *obj, const double *p, const int *y, int64_t n)
{
    int64_t pos = 0;
    for (int64_t i = 0; i < n; i++)
        pos += y[i] != 0;
    mkt_metrics_set_int(obj, "examples", n);
    mkt_metrics_set_int(obj, "positives", pos);
    mkt_metrics_set_real(obj, "positive_rate", n ? (double)pos / (double)n : 0);
    mkt_metrics_set_real(obj, "auc", mkt_auc(p, y, n));
    mkt_metrics_set_real(obj, "log_loss", mkt_log_loss(p, y, n));
    /* the log loss of always predicting the base rate, for comparison */
    double *base = mkt_xmalloc(sizeof(double) * (size_t)(n + 1));
    for (int64_t i = 0; i < n; i++)
        base[i] = n ? (double)pos / (double)n : 0.5;
    mkt_metrics_set_real(obj, "log_loss_base_rate", mkt_log_loss(base, y, n));
    free(base);
    mkt_reliability rel;
    mkt_metrics_set_real(obj, "ece", mkt_ece(p, y, n, &rel));
    mkt_confusion c = mkt_confusion_at(p, y, n, 0.5);
    json_t *t = mkt_metrics_child(obj, "at_threshold_0.5");
    mkt_metrics_set_int(t, "tp", c.tp);
    mkt_metrics_set_int(t, "fp", c.fp);
    mkt_metrics_set_int(t, "tn", c.tn);
    mkt_metrics_set_int(t, "fn", c.fn);
    mkt_metrics_set_real(t, "accuracy", mkt_accuracy(c));
    mkt_metrics_set_real(t, "precision", mkt_precision(c));
    mkt_metrics_set_real(t, "recall", mkt_recall(c));
    mkt_metrics_set_real(t, "f1", mkt_f1(c));
    json_t *r = json_array();
    for (int b = 0; b < MKT_CALIB_BINS; b++) {
        json_t *e = json_object();
        mkt_metrics_set_real(e, "lo", b / (double)MKT_CALIB_BINS);
        mkt_metrics_set_real(e, "hi", (b + 1) / (double)MKT_CALIB_BINS);
        mkt_metrics_set_int(e, "count", rel.count[b]);
        mkt_metrics_set_real(e, "mean_predicted", rel.mean_pred[b]);
        mkt_metrics_set_real(e, "fraction_positive", rel.frac_positive[b]);
        json_array_append_new(r, e);
    }
    json_object_set_new(obj, "reliability", r);
    mkt_lift_table lt;
    mkt_lift_by_decile(p, y, n, &lt);
    json_t *l = json_array();
    for (int d = 0; d < MKT_DECILES; d++) {
        json_t *e = json_object();
        mkt_metrics_set_int(e, "decile", d + 1);
        mkt_metrics_set_int(e, "count", lt.count[d]);
        mkt_metrics_set_int(e, "positives", lt.positives[d]);
        mkt_metrics_set_real(e, "rate", lt.rate[d]);
        mkt_metrics_set_real(e, "lift", lt.lift[d]);
        mkt_metrics_set_real(e, "cumulative_gain", lt.cumulative_gain[d]);
        json_array_append_new(l, e);
    }
    json_object_set_new(obj, "lift_by_decile", l);
}

/* Collective. n local doubles gathered on every rank in rank order. */
double *prop_gather_doubles(const double *local, int64_t n, int64_t *total_out, MPI_Comm comm)
{
    int nranks;
    MKT_MPI(MPI_Comm_size(comm, &nranks));
    if (n > INT32_MAX)
        mkt_fail("gather: %lld rows on one rank is too many for one gather", (long long)n);
    int ln = (int)n;
    int *counts = mkt_xmalloc(sizeof(int) * (size_t)nranks * 2), *displs = counts + nranks;
    MKT_MPI(MPI_Allgather(&ln, 1, MPI_INT, counts, 1, MPI_INT, comm));
    int64_t total = 0;
    for (int r = 0; r < nranks; r++) {
        if (total > INT32_MAX)
            mkt_fail("gather: %lld rows in all is too many for one gather", (long long)total);
        displs[r] = (int)total;
        total += counts[r];
    }
    double *all = mkt_xmalloc(sizeof(double) * (size_t)(total + 1));
    MKT_MPI(MPI_Allgatherv(local, ln, MPI_DOUBLE, all, counts, displs, MPI_DOUBLE, comm));
    free(counts);
    *total_out = total;
    return all;
}

/* The baselines on the test rows (labels y, identical on every rank): the
 * training base rate as a constant prediction, and the recency-frequency
 * rule's scores rf (NULL: not defined for this target).  Into obj when not
 * NULL; *rf_auc and *base_ll for the log line. */
void prop_baseline_metrics(json_t *obj, double train_rate, const int *y, const double *rf, const char *rule,
                             int64_t n, double *rf_auc, double *base_ll)
{
    double *base = mkt_xmalloc(sizeof(double) * (size_t)(n + 1));
    for (int64_t i = 0; i < n; i++)
        base[i] = train_rate;
    *base_ll = mkt_log_loss(base, y, n);
    *rf_auc = NAN;
    if (obj) {
        json_t *b = mkt_metrics_child(obj, "base_rate");
        mkt_metrics_set_str(b, "rule", "every user scored with the training rows' positive rate");
        mkt_metrics_set_real(b, "rate", train_rate);
        mkt_metrics_set_real(b, "auc", mkt_auc(base, y, n));
        mkt_metrics_set_real(b, "log_loss", *base_ll);
    }
    if (rf) {
        *rf_auc = mkt_auc(rf, y, n);
        if (obj) {
            mkt_lift_table lt;
            mkt_lift_by_decile(rf, y, n, &lt);
            json_t *r = mkt_metrics_child(obj, "recency_frequency");
            mkt_metrics_set_str(r, "rule", rule);
            mkt_metrics_set_int(r, "window_days", RF_DAYS);
            mkt_metrics_set_real(r, "auc", *rf_auc);
            mkt_metrics_set_real(r, "top_decile_lift", lt.lift[0]);
        }
    }
    free(base);
}

/* Collective. Refuse to report held-out metrics on an empty or one-class test
 * set (AUC undefined) instead of printing zeros or NaN.  The message names
 * the label window: a cutoff taken from a far-future timestamp in the log
 * leaves every label window empty. */
void prop_require_test_rows(const char *stage, const char *what, int64_t rows, int64_t positives,
                              double test_fraction, int64_t cutoff, int64_t horizon_days)
{
    if (rows == 0)
        mkt_fail_all(MKT_EXIT_ERROR,
                     "%s: no test %s (test-fraction %g): nothing to report held-out metrics on; raise "
                     "--test-fraction or use more users",
                     stage, what, test_fraction);
    if (positives == 0 || positives == rows) {
        char from[32] = "?", to[32] = "?";
        time_t a = (time_t)cutoff, b = (time_t)(cutoff + horizon_days * DAY);
        struct tm tm;
        if (gmtime_r(&a, &tm))
            strftime(from, sizeof from, "%Y-%m-%d", &tm);
        if (gmtime_r(&b, &tm))
            strftime(to, sizeof to, "%Y-%m-%d", &tm);
        mkt_fail_all(MKT_EXIT_ERROR,
                     "%s: the %lld test %s are all %s in the label window %s..%s (cutoff %lld, horizon %lld "
                     "days): AUC is undefined; raise --test-fraction, use more users, a longer horizon or "
                     "another --cutoff (without --cutoff it is the last event's time minus the horizon: check "
                     "the log for far-future timestamps)",
                     stage, (long long)rows, what, positives ? "positive" : "negative", from, to, (long long)cutoff,
                     (long long)horizon_days);
    }
}

/* What eval reads from a /models/propensity group. */
typedef struct {
    model_ctx ctx;
    mkt_dp_model m;
    int64_t horizon, cutoff; /* the model's cutoff, or --cutoff */
    uint64_t seed;
    double vf, tf, train_rate;
    double *params, *mean, *std;
    int gbdt;              /* model gbdt: forest, no params */
    mkt_gbdt_model forest;
} eval_model;

/* Collective. A gbdt model (attribute model = gbdt): checked by
 * mkt_propensity_describe, its forest by mkt_propensity_read_forest. */
static void read_gbdt(const mkt_propensity_options *o, hid_t f, eval_model *em)
{
    mkt_propensity_model p;
    char why[512];
    if (mkt_propensity_describe(f, o->model_path, MODEL_GROUP, &p, why, sizeof why) ||
        mkt_propensity_read_forest(f, o->model_path, &p, &em->forest, why, sizeof why))
        mkt_fail_all(MKT_EXIT_ERROR, "%s", why);
    em->ctx.mlp.inputs = p.net.inputs;
    em->m = prop_forest_model(&em->forest);
    em->params = NULL;
    em->mean = mkt_xmalloc(sizeof(double) * (size_t)p.net.inputs);
    em->std = mkt_xmalloc(sizeof(double) * (size_t)p.net.inputs);
    mkt_propensity_read(f, &p, NULL, em->mean, em->std);
}

/* Collective. The model's architecture, split and parameters, checked. */
static void read_model(const mkt_propensity_options *o, eval_model *em, MPI_Comm comm)
{
    hid_t f = mkt_h5_open(o->model_path, 0, comm);
    if (!mkt_h5_exists(f, MODEL_GROUP))
        mkt_fail_all(MKT_EXIT_ERROR, "%s: no %s group (train one with `mkt train propensity`)", o->model_path,
                     MODEL_GROUP);
    model_ctx *ctx = &em->ctx;
    memset(em, 0, sizeof *em);
    char *kind = mkt_h5_attr_get_string(f, MODEL_GROUP, "model");
    em->gbdt = kind && !strcmp(kind, "gbdt");
    free(kind);
    ctx->mlp.hidden = (int)mkt_h5_attr_get_int(f, MODEL_GROUP, "hidden_layers", 0);
    ctx->mlp.inputs = (int)mkt_h5_attr_get_int(f, MODEL_GROUP, "inputs", 0);
    if (ctx->mlp.hidden < 0 || ctx->mlp.hidden > MKT_MLP_MAX_HIDDEN || ctx->mlp.inputs < 1)
        mkt_fail_all(MKT_EXIT_ERROR, "%s: %s: bad hidden_layers or inputs attribute", o->model_path, MODEL_GROUP);
    for (int l = 0; l < ctx->mlp.hidden; l++) {
        char name[32];
        snprintf(name, sizeof name, "hidden_%d", l + 1);
        ctx->mlp.sizes[l] = (int)mkt_h5_attr_get_int(f, MODEL_GROUP, name, 0);
        if (ctx->mlp.sizes[l] < 1)
            mkt_fail_all(MKT_EXIT_ERROR, "%s: %s: bad %s attribute", o->model_path, MODEL_GROUP, name);
    }
    em->horizon = mkt_h5_attr_get_int(f, MODEL_GROUP, "horizon_days", 7);
    em->cutoff = o->cutoff_ts != MKT_PROPENSITY_NO_CUTOFF ? o->cutoff_ts : mkt_h5_attr_get_int(f, MODEL_GROUP, "cutoff_ts", 0);
    em->seed = (uint64_t)mkt_h5_attr_get_int(f, MODEL_GROUP, "seed", 1);
    em->vf = mkt_h5_attr_get_double(f, MODEL_GROUP, "valid_fraction", 0.2);
    em->tf = mkt_h5_attr_get_double(f, MODEL_GROUP, "test_fraction", NAN);
    em->train_rate = mkt_h5_attr_get_double(f, MODEL_GROUP, "train_positive_rate", NAN);
    if (isnan(em->tf)) { /* a model from before the test split: its held-out users were u < valid_fraction */
        em->tf = em->vf;
        em->vf = 0;
    }
    if (em->gbdt) {
        read_gbdt(o, f, em);
        mkt_h5_close(f);
        return;
    }
    em->m = prop_make_model(ctx);
    if (mkt_h5_rows(f, MODEL_GROUP "/params", NULL) != em->m.nparams ||
        mkt_h5_rows(f, MODEL_GROUP "/feature_mean", NULL) != ctx->mlp.inputs)
        mkt_fail_all(MKT_EXIT_ERROR, "%s: %s: parameter count does not match the architecture", o->model_path,
                     MODEL_GROUP);
    em->params = mkt_xmalloc(sizeof(double) * (size_t)em->m.nparams);
    em->mean = mkt_xmalloc(sizeof(double) * (size_t)ctx->mlp.inputs);
    em->std = mkt_xmalloc(sizeof(double) * (size_t)ctx->mlp.inputs);
    mkt_h5_read_rows(f, MODEL_GROUP "/params", H5T_NATIVE_DOUBLE, 0, em->m.nparams, em->params);
    mkt_h5_read_rows(f, MODEL_GROUP "/feature_mean", H5T_NATIVE_DOUBLE, 0, ctx->mlp.inputs, em->mean);
    mkt_h5_read_rows(f, MODEL_GROUP "/feature_std", H5T_NATIVE_DOUBLE, 0, ctx->mlp.inputs, em->std);
    mkt_h5_close(f);
}

/* Collective. Refuse a test set AUC is undefined on (see
 * prop_require_test_rows; a test store gets its own messages). */
static void check_eval_rows(const examples *e, const char *events, int all_test, double tf, int64_t cutoff,
                            int64_t horizon, MPI_Comm comm)
{
    int64_t te[2];
    prop_count_global(e->ys, e->ns, te, comm);
    if (all_test && te[0] == 0)
        mkt_fail_all(MKT_EXIT_ERROR, "eval propensity: test store %s has no user with an event: no metric can be "
                     "computed", events);
    if (all_test && (te[1] == 0 || te[1] == te[0]))
        mkt_fail_all(MKT_EXIT_ERROR, "eval propensity: the %lld users of test store %s %s in the %lld days after "
                     "the cutoff: AUC needs both classes (give another --cutoff)", (long long)te[0], events,
                     te[1] == 0 ? "all do not buy" : "all buy", (long long)horizon);
    if (!all_test)
        prop_require_test_rows(STAGE_EVAL, "users", te[0], te[1], tf, cutoff, horizon);
}

int mkt_propensity_eval(const mkt_propensity_options *o, MPI_Comm comm, json_t *metrics)
{
    double t0 = mkt_now();
    if (!o->store || !*o->store)
        mkt_fail_all(MKT_EXIT_USAGE, "eval propensity: --store STORE.h5 is required");
    if (!o->model_path || !*o->model_path)
        mkt_fail_all(MKT_EXIT_USAGE, "eval propensity: --model MODEL.h5 is required");
    eval_model em;
    read_model(o, &em, comm);
    int64_t horizon = em.horizon, cutoff = em.cutoff;
    double tf = em.tf, train_rate = em.train_rate;
    /* a separate test store: its own log, so its own default cutoff (its
     * end − H, as training takes the training store's) */
    const char *events = o->test_store && *o->test_store ? o->test_store : o->store;
    int all_test = events != o->store;
    if (all_test) {
        mkt_store_check_test_of(o->store, events, comm);
        if (o->cutoff_ts == MKT_PROPENSITY_NO_CUTOFF)
            cutoff = prop_store_end_ts(events, comm) - horizon * DAY;
    }

    const char *group = prop_group_name(o);
    prop_ensure_features(events, group, cutoff, o->progress, comm, metrics);
    examples e;
    prop_load_examples(events, group, cutoff, horizon, em.seed, tf, em.vf, em.mean, em.std, all_test, &e, comm);
    if (e.d != em.ctx.mlp.inputs)
        mkt_fail_all(MKT_EXIT_ERROR, "%s: the model has %d inputs but %s has %d features", o->model_path,
                     em.ctx.mlp.inputs, group, e.d);
    prop_log_examples(STAGE_EVAL, &e, cutoff, horizon, comm);
    check_eval_rows(&e, events, all_test, tf, cutoff, horizon, comm);
    if (isnan(train_rate)) { /* an older model: the training users' rate at this cutoff */
        int64_t tr[2];
        prop_count_global(e.yt, e.nt, tr, comm);
        train_rate = tr[0] > 0 ? (double)tr[1] / (double)tr[0] : 0.5;
    }
    mkt_dp_data test = {e.xs, e.ys, e.ns, e.d};
    double *vp;
    int *vy;
    int64_t vn, rn;
    mkt_dp_predict_all(&em.m, em.params, &test, &vp, &vy, &vn, comm);
    double auc = mkt_auc(vp, vy, vn), ll = mkt_log_loss(vp, vy, vn), ece = mkt_ece(vp, vy, vn, NULL);
    mkt_lift_table lt;
    mkt_lift_by_decile(vp, vy, vn, &lt);
    json_t *bm = json_object();
    double *rs = prop_gather_doubles(e.rs, e.ns, &rn, comm), rf_auc, base_ll;
    prop_baseline_metrics(bm, train_rate, vy, rs, RF_RULE_USER, vn, &rf_auc, &base_ll);
    free(rs);
    mkt_log(STAGE_EVAL, "test users %lld: AUC %.4f, log loss %.5f, ECE %.4f, top-decile lift %.2f (baselines: base "
                        "rate log loss %.5f, recency-frequency rule AUC %.4f)",
            (long long)vn, auc, ll, ece, lt.lift[0], base_ll, rf_auc);
    if (metrics) {
        mkt_metrics_set_str(metrics, "model", em.gbdt ? "gbdt" : em.ctx.mlp.hidden ? "mlp" : "logistic");
        mkt_metrics_set_int(metrics, "cutoff_ts", cutoff);
        mkt_metrics_set_int(metrics, "horizon_days", horizon);
        mkt_metrics_set_str(metrics, "features_group", group);
        if (all_test) {
            mkt_metrics_set_str(metrics, "split", "test store (users with an event)");
            mkt_metrics_set_str(metrics, "test_store", events);
        } else {
            mkt_metrics_set_str(metrics, "split", "test users of the training store");
            mkt_metrics_set_real(metrics, "test_fraction", tf);
        }
        json_t *tm = mkt_metrics_child(metrics, "test");
        prop_quality_metrics(tm, vp, vy, vn);
        json_object_set_new(metrics, "baseline", bm);
        bm = NULL;
        mkt_metrics_set_real(metrics, "seconds_total", mkt_now() - t0);
    }
    json_decref(bm);
    free(vp);
    free(vy);
    free(em.params);
    free(em.mean);
    free(em.std);
    if (em.gbdt)
        mkt_gbdt_model_free(&em.forest);
    prop_examples_free(&e);
    return MKT_EXIT_OK;
}
