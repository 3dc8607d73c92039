/* train_propensity.c — purchase propensity: examples from the store, data-
 * parallel training, the model file and held-out metrics (see
 * propensity_stage.h and docs/propensity.md).
 *
 * Owns: which features and labels a user gets for a cutoff, the split of
 * the users into training, validation and test sets by hash of (seed, user),
 * the baselines the test metrics are compared with (base rate, recency-
 * frequency rule), the /models/propensity layout, the metrics JSON.  Must not: define models or optimizers, parse command lines, or let
 * anything written to the model depend on the rank count (no timings in the
 * model file; timings go to the metrics only). */
#include "train_propensity.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "iocheck.h"
#include "checkpoint.h"
#include "dp.h"
#include "dptrain.h"
#include "exactsum.h"
#include "features_stage.h"
#include "h5store.h"
#include "linmodel.h"
#include "metrics.h"
#include "metrics_json.h"
#include "mkt_types.h"
#include "mlp.h"
#include "par.h"
#include "rng.h"
#include "schema.h"
#include "teststore.h"

#define STAGE_TRAIN "train propensity"
#define STAGE_EVAL "eval propensity"
#define MODEL_GROUP MKT_MODELS_PROPENSITY
#define DAY 86400
#define EVENT_CHUNK (INT64_C(1) << 20)

void mkt_propensity_options_init(mkt_propensity_options *o)
{
    memset(o, 0, sizeof *o);
    o->horizon_days = 7;
    o->model = "logistic";
    o->optimizer = "lbfgs";
    o->hidden = "32";
    o->epochs = 50;
    o->patience = 5;
    o->batch = 256;
    o->lr = 0.01;
    o->l2 = 1e-4;
    o->pos_weight = 1.0;
    o->valid_fraction = 0.15;
    o->test_fraction = 0.2;
    o->seed = 1;
    o->progress = 1;
    o->checkpoint_every = MKT_CKPT_EVERY_DEFAULT;
    o->windows = 1;
    o->dp_clip = 1.0;
    o->dp_noise = 1.0;
    o->dp_delta = 1e-5;
    o->target = "user";
    o->negatives = 4;
}

/* The three user sets, a pure function of (seed, user), so the same on any
 * ranks: with u = hash(seed, user) / 2^64 uniform in [0, 1), test iff
 * u < test_fraction, validation iff test_fraction <= u < test_fraction +
 * valid_fraction, training otherwise.  (The test users are the users held
 * out before validation was split off, for the same seed and fraction.) */
enum { SPLIT_TRAIN = 0, SPLIT_VALID = 1, SPLIT_TEST = 2 };
/* mkt_dp_train's history callback: one JSON object per epoch appended to the
 * array ctx (the metrics' "history"). */
static void history_append(const mkt_dp_epoch *e, void *ctx)
{
    json_t *o = json_object();
    json_object_set_new(o, "epoch", json_integer(e->epoch));
    json_object_set_new(o, "train_loss", isfinite(e->train_loss) ? json_real(e->train_loss) : json_null());
    json_object_set_new(o, "val_loss", isfinite(e->val_loss) ? json_real(e->val_loss) : json_null());
    json_object_set_new(o, "val_auc", isfinite(e->val_auc) ? json_real(e->val_auc) : json_null());
    json_object_set_new(o, "seconds", json_real(e->seconds));
    if (e->evaluations >= 0)
        json_object_set_new(o, "evaluations", json_integer(e->evaluations));
    json_array_append_new((json_t *)ctx, o);
}

static int split_of(uint64_t seed, int64_t user, double test_fraction, double valid_fraction)
{
    uint64_t h = mkt_hash64(mkt_hash64(seed ^ UINT64_C(0x70726f70656e7369)) ^ (uint64_t)user);
    double u = (double)(h >> 11) * 0x1.0p-53;
    return u < test_fraction ? SPLIT_TEST : u < test_fraction + valid_fraction ? SPLIT_VALID : SPLIT_TRAIN;
}

/* The recency-frequency rule (a baseline, docs/propensity.md): distinct days
 * with a purchase in the RF_DAYS days before the cutoff, ties broken by the
 * recency of the last purchase before the cutoff (more recent first); 0 for
 * a user who never bought. */
#define RF_DAYS 90
static double rf_score(int64_t days_in_window, int64_t last_purchase_ts, int64_t cutoff)
{
    if (last_purchase_ts == INT64_MIN)
        return 0.0;
    double recency_days = (double)(cutoff - last_purchase_ts) / DAY;
    return (double)days_in_window + 1.0 / (2.0 + recency_days);
}

static const char *group_name(const mkt_propensity_options *o)
{
    return o->features_group && *o->features_group ? o->features_group : MKT_FEATURES_PROPENSITY;
}

/* Collective. The store's end_ts (the end of its log). */
static int64_t store_end_ts(const char *store, MPI_Comm comm)
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
static int ensure_features(const char *store, const char *group, int64_t cutoff, int progress, MPI_Comm comm,
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

/* This rank's users, split into training, validation and test examples. */
typedef struct {
    int d;
    char **names;                 /* feature names [d] */
    double *mean, *std;           /* normalization [d] */
    double *xt, *xv, *xs;         /* rows of training / validation / test users */
    int *yt, *yv, *ys;
    double *rs;                   /* the recency-frequency rule's score of each test row */
    int64_t nt, nv, ns;
    int64_t users, local_users, positives_local;
} examples;

static void examples_free(examples *e)
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

/* Independent. label[u] = 1 iff user b.begin+u has a purchase (qty > 0) with
 * ts in [from, to); rf (when not NULL): the user's recency-frequency rule
 * score at cutoff `from` (events are sorted by ts within a user). */
static void read_labels(hid_t f, const char *store, mkt_block b, int64_t from, int64_t to, int *label, double *rf)
{
    int64_t n = b.end - b.begin;
    int64_t *indptr = mkt_xmalloc(sizeof(int64_t) * (size_t)(n + 1));
    mkt_h5_read_rows(f, MKT_EVENTS_BY_USER_INDPTR, H5T_NATIVE_INT64, b.begin, n + 1, indptr);
    int64_t *ts = mkt_xmalloc(sizeof(int64_t) * EVENT_CHUNK);
    int32_t *type = mkt_xmalloc(sizeof(int32_t) * EVENT_CHUNK), *qty = mkt_xmalloc(sizeof(int32_t) * EVENT_CHUNK);
    memset(label, 0, sizeof(int) * (size_t)n);
    for (int64_t v = 0; rf && v < n; v++)
        rf[v] = 0.0; /* never bought before the cutoff */
    int64_t u = 0, rf_user = -1, rf_days = 0, rf_last = INT64_MIN, rf_from = from - (int64_t)RF_DAYS * DAY;
    for (int64_t at = indptr[0]; at < indptr[n]; at += EVENT_CHUNK) {
        int64_t cnt = indptr[n] - at < EVENT_CHUNK ? indptr[n] - at : EVENT_CHUNK;
        mkt_h5_read_rows(f, MKT_EVENTS_BY_USER_TS, H5T_NATIVE_INT64, at, cnt, ts);
        mkt_h5_read_rows(f, MKT_EVENTS_BY_USER_TYPE, H5T_NATIVE_INT32, at, cnt, type);
        mkt_h5_read_rows(f, MKT_EVENTS_BY_USER_QTY, H5T_NATIVE_INT32, at, cnt, qty);
        for (int64_t k = 0; k < cnt; k++) {
            int64_t row = at + k;
            while (u < n && indptr[u + 1] <= row)
                u++;
            if (u >= n)
                mkt_fail("%s: /events/by_user/indptr does not cover row %lld", store, (long long)row);
            if (type[k] == MKT_EV_PURCHASE && qty[k] > 0 && ts[k] >= from && ts[k] < to)
                label[u] = 1;
            if (rf && type[k] == MKT_EV_PURCHASE && qty[k] > 0 && ts[k] < from) {
                if (u != rf_user) {
                    if (rf_user >= 0)
                        rf[rf_user] = rf_score(rf_days, rf_last, from);
                    rf_user = u;
                    rf_days = 0;
                    rf_last = INT64_MIN;
                }
                /* a new day in the window (ts ascending within the user) */
                if (ts[k] >= rf_from && (rf_last < rf_from || ts[k] / DAY != rf_last / DAY))
                    rf_days++;
                rf_last = ts[k];
            }
        }
    }
    if (rf && rf_user >= 0)
        rf[rf_user] = rf_score(rf_days, rf_last, from);
    free(indptr);
    free(ts);
    free(type);
    free(qty);
}

/* Collective. Load this rank's block of users: standardized features (with
 * mean/std from the group, or the given ones), labels for [cutoff, cutoff+H),
 * split by hash into training, validation and test users — or, with
 * all_test (a separate test store), every user with an event in the store
 * is a test user and the others are left out; the test users also get the
 * recency-frequency rule's score. */
static void load_examples(const char *store, const char *group, int64_t cutoff, int64_t horizon_days,
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
        indptr = mkt_xmalloc(sizeof(int64_t) * (size_t)(n + 1));
        mkt_h5_read_rows(f, MKT_EVENTS_BY_USER_INDPTR, H5T_NATIVE_INT64, b.begin, n + 1, indptr);
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
        int set = all_test ? SPLIT_TEST : split_of(seed, b.begin + u, test_fraction, valid_fraction);
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

/* The model behind the trainer's interface. */
typedef struct {
    mkt_mlp mlp;    /* hidden = 0: logistic regression */
    double dropout; /* mlp, training only */
    uint64_t seed;
} model_ctx;

static double logreg_logit(const void *ctx, const double *p, const double *x, double *w)
{
    (void)w;
    return mkt_logreg_logit(p, ((const model_ctx *)ctx)->mlp.inputs, x);
}
static double logreg_block(const void *ctx, const double *p, const double *x, const int *y, int rows,
                           double pos_weight, double clip, double *g, double *w, int epoch, const int64_t *index)
{
    (void)w;
    (void)epoch;
    (void)index;
    return mkt_logreg_block(p, ((const model_ctx *)ctx)->mlp.inputs, x, y, rows, pos_weight, clip, g);
}
static double mlp_logit(const void *ctx, const double *p, const double *x, double *w)
{
    return mkt_mlp_logit(&((const model_ctx *)ctx)->mlp, p, x, w);
}
/* A block of rows; while training with dropout, row i's mask of (seed,
 * epoch, global example index) sits after the MLP's own block work space. */
static double mlp_block(const void *ctx, const double *p, const double *x, const int *y, int rows,
                        double pos_weight, double clip, double *g, double *w, int epoch, const int64_t *index)
{
    const model_ctx *c = ctx;
    double *masks = NULL;
    if (c->dropout > 0 && epoch >= 0) {
        size_t ms = mkt_mlp_mask_size(&c->mlp);
        masks = w + mkt_mlp_block_work_size(&c->mlp, MKT_DP_BLOCK);
        for (int i = 0; i < rows; i++)
            mkt_mlp_dropout_mask(&c->mlp, c->dropout, c->seed, epoch, index[i], masks + (size_t)i * ms);
    }
    return mkt_mlp_block_loss_grad(&c->mlp, p, x, y, rows, pos_weight, masks, clip, g, w);
}

/* [nparams]: 1 for the intercepts (the logistic bias, every MLP layer's
 * biases), which L2 leaves alone.  A penalized intercept pulls every
 * probability toward 1/2 as l2 grows, so the validation log loss would
 * prefer the smallest l2 whatever the weights need. */
static unsigned char *intercepts(const model_ctx *ctx, int64_t nparams)
{
    unsigned char *u = mkt_xcalloc((size_t)nparams, 1);
    int64_t at = 0, in = ctx->mlp.inputs;
    for (int l = 0; l <= ctx->mlp.hidden; l++) {
        int64_t out = l < ctx->mlp.hidden ? ctx->mlp.sizes[l] : 1;
        at += out * in; /* W_l [out × in], then b_l [out] */
        for (int64_t k = 0; k < out && at + k < nparams; k++)
            u[at + k] = 1;
        at += out;
        in = out;
    }
    if (at != nparams)
        mkt_fail("propensity: parameter layout of %lld values, expected %lld", (long long)at, (long long)nparams);
    return u;
}

static mkt_dp_model make_model(const model_ctx *ctx)
{
    mkt_dp_model m;
    m.ctx = ctx;
    if (ctx->mlp.hidden == 0) {
        m.nparams = mkt_logreg_nparams(ctx->mlp.inputs);
        m.work_doubles = 1;
        m.block_work_doubles = 1;
        m.logit = logreg_logit;
        m.block_loss_grad = logreg_block;
    } else {
        m.nparams = mkt_mlp_nparams(&ctx->mlp);
        m.work_doubles = mkt_mlp_work_size(&ctx->mlp);
        m.block_work_doubles = mkt_mlp_block_work_size(&ctx->mlp, MKT_DP_BLOCK);
        if (ctx->dropout > 0)
            m.block_work_doubles += mkt_mlp_mask_size(&ctx->mlp) * MKT_DP_BLOCK;
        m.logit = mlp_logit;
        m.block_loss_grad = mlp_block;
    }
    return m;
}

/* Held-out quality of probabilities p against labels y (identical on every
 * rank) into obj. */
static void quality_metrics(json_t *obj, const double *p, const int *y, int64_t n)
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
static double *gather_doubles(const double *local, int64_t n, int64_t *total_out, MPI_Comm comm)
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
static void baseline_metrics(json_t *obj, double train_rate, const int *y, const double *rf, const char *rule,
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

#define RF_RULE_USER "distinct purchase days in the 90 days before the cutoff, ties by recency of the last purchase"
#define RF_RULE_ITEM                                                                                               \
    "distinct days the user bought the item in the 90 days before the cutoff, ties by the item's purchases "     \
    "before the cutoff"

/* Collective. Refuse to report held-out metrics on an empty or one-class test
 * set (AUC undefined) instead of printing zeros or NaN.  The message names
 * the label window: a cutoff taken from a far-future timestamp in the log
 * leaves every label window empty. */
static void require_test_rows(const char *stage, const char *what, int64_t rows, int64_t positives,
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

static int parse_hidden(const char *s, int *sizes)
{
    int n = 0;
    const char *p = s;
    while (p && *p) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 1 || v > 4096 || n == MKT_MLP_MAX_HIDDEN)
            return -1;
        sizes[n++] = (int)v;
        p = *end == ',' ? end + 1 : end;
        if (*end && *end != ',')
            return -1;
    }
    return n;
}

static void log_examples(const char *stage, const examples *e, int64_t cutoff, int64_t horizon, MPI_Comm comm)
{
    int64_t c[4] = {e->nt, e->nv, e->ns, e->positives_local};
    MKT_MPI(MPI_Allreduce(MPI_IN_PLACE, c, 4, MPI_INT64_T, MPI_SUM, comm));
    mkt_log(stage, "%lld users (%lld train, %lld validation, %lld test), %d features, cutoff %lld, horizon %lld "
                   "days, %.2f%% buy",
            (long long)e->users, (long long)c[0], (long long)c[1], (long long)c[2], e->d, (long long)cutoff,
            (long long)horizon, e->users ? 100.0 * (double)c[3] / (double)e->users : 0.0);
}

/* Collective. Global count and positives of n local labels y. */
static void count_global(const int *y, int64_t n, int64_t out[2], MPI_Comm comm)
{
    out[0] = n;
    out[1] = 0;
    for (int64_t i = 0; i < n; i++)
        out[1] += y[i] != 0;
    MKT_MPI(MPI_Allreduce(MPI_IN_PLACE, out, 2, MPI_INT64_T, MPI_SUM, comm));
}

/* One entry of the metrics' "windows" list. */
static json_t *window_json(int k, int64_t cutoff, int64_t horizon_days, const char *group, const char *role,
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

/* Collective. Rolling windows (o->windows > 1): replace e's training rows by
 * the training users' rows at cutoffs T − k·S, k = 1..W−1 (features from
 * GROUP_w<k>, standardized with window 0's mean and std), interleaved user by
 * user — row (user u, window k) — so the global row order depends on the
 * users only, never on the rank count.  e's validation and test rows
 * (window 0) stay. */
static void load_training_windows(const mkt_propensity_options *o, const char *group, int64_t cutoff,
                                  int64_t stride_days, examples *e, json_t *windows, MPI_Comm comm)
{
    int W = o->windows;
    int64_t per = e->nt;
    double *xt = mkt_xmalloc(sizeof(double) * (size_t)(per * (W - 1) * e->d + 1));
    int *yt = mkt_xmalloc(sizeof(int) * (size_t)(per * (W - 1) + 1));
    for (int k = 1; k < W; k++) {
        int64_t ck = cutoff - (int64_t)k * stride_days * DAY;
        char gk[600];
        snprintf(gk, sizeof gk, "%s_w%d", group, k);
        ensure_features(o->store, gk, ck, o->progress, comm, NULL);
        examples ek;
        load_examples(o->store, gk, ck, o->horizon_days, o->seed, o->test_fraction, o->valid_fraction, e->mean,
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
        count_global(ek.yt, ek.nt, tr, comm);
        if (windows)
            json_array_append_new(windows, window_json(k, ck, o->horizon_days, gk, "train", tr, none, none));
        mkt_log(STAGE_TRAIN, "window %d: cutoff %lld, %lld training examples, %lld buy", k, (long long)ck,
                (long long)tr[0], (long long)tr[1]);
        examples_free(&ek);
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
static void export_libsvm(const char *path, const double *x, const int *y, int64_t n, int d, MPI_Comm comm)
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

/* ---------- checkpoints (docs/checkpoints.md) ---------- */

/* The optimizer state's scalars, stored as two small double arrays (exact:
 * the counters stay far below 2^53; NaN and infinity survive). */
enum { SD_F, SD_BEST_VAL, SD_TRAIN_LOSS, SD_VAL_LOSS, SD_VAL_AUC, SD_GNORM0, SD_N };
enum { SI_EPOCH, SI_SINCE_BEST, SI_ADAM_T, SI_EXAMPLES, SI_COUNT, SI_HEAD, SI_EPOCHS_RUN, SI_BEST_EPOCH, SI_N };

typedef struct {
    mkt_ckpt *ck;
    const mkt_ckpt_config *cfg;
    json_t *history;
    MPI_Comm comm;
    int stopped; /* epoch at which a signal stopped training */
} ckpt_hook;

/* Collective. Everything mkt_dp_train needs to continue with the same bits. */
static void write_state(ckpt_hook *h, const mkt_dp_state *st)
{
    mkt_h5out w;
    hid_t f = mkt_ckpt_begin(h->ck, &w, "propensity", st->epoch, h->cfg, h->comm);
    int64_t P = st->nparams, M = st->lbfgs_mem;
    mkt_ckpt_write_full(f, "params", st->params, P, 0, h->comm);
    mkt_ckpt_write_full(f, "best_params", st->best, P, 0, h->comm);
    mkt_ckpt_write_full(f, "gradient", st->g, P, 0, h->comm);
    mkt_ckpt_write_full(f, "moment1", st->v, P, 0, h->comm);
    mkt_ckpt_write_full(f, "moment2", st->v2, P, 0, h->comm);
    if (M > 0) {
        mkt_ckpt_write_full(f, "lbfgs_s", st->lbfgs_s, M, P, h->comm);
        mkt_ckpt_write_full(f, "lbfgs_y", st->lbfgs_y, M, P, h->comm);
        mkt_ckpt_write_full(f, "lbfgs_rho", st->lbfgs_rho, M, 0, h->comm);
    }
    double sd[SD_N] = {st->f, st->best_val, st->train_loss, st->val_loss, st->val_auc, st->gnorm0};
    double si[SI_N] = {st->epoch,       st->since_best,  (double)st->adam_t, (double)st->examples,
                       st->lbfgs_count, st->lbfgs_head, st->epochs_run,     st->best_epoch};
    mkt_ckpt_write_full(f, "state_reals", sd, SD_N, 0, h->comm);
    mkt_ckpt_write_full(f, "state_counters", si, SI_N, 0, h->comm);
    mkt_ckpt_write_json(f, "history", h->history, h->comm);
    mkt_ckpt_commit(h->ck, &w);
    mkt_log_detail(STAGE_TRAIN, "checkpoint %s written at epoch %d", h->ck->path, st->epoch);
}

/* Collective. The state of a checkpoint opened by mkt_ckpt_open_resume. */
static void read_state(hid_t f, const char *path, mkt_dp_state *st, json_t *history)
{
    int64_t P = st->nparams, M = st->lbfgs_mem;
    mkt_ckpt_read_full(f, path, "params", st->params, P, 0);
    mkt_ckpt_read_full(f, path, "best_params", st->best, P, 0);
    mkt_ckpt_read_full(f, path, "gradient", st->g, P, 0);
    mkt_ckpt_read_full(f, path, "moment1", st->v, P, 0);
    mkt_ckpt_read_full(f, path, "moment2", st->v2, P, 0);
    if (M > 0) {
        mkt_ckpt_read_full(f, path, "lbfgs_s", st->lbfgs_s, M, P);
        mkt_ckpt_read_full(f, path, "lbfgs_y", st->lbfgs_y, M, P);
        mkt_ckpt_read_full(f, path, "lbfgs_rho", st->lbfgs_rho, M, 0);
    }
    double sd[SD_N], si[SI_N];
    mkt_ckpt_read_full(f, path, "state_reals", sd, SD_N, 0);
    mkt_ckpt_read_full(f, path, "state_counters", si, SI_N, 0);
    st->f = sd[SD_F];
    st->best_val = sd[SD_BEST_VAL];
    st->train_loss = sd[SD_TRAIN_LOSS];
    st->val_loss = sd[SD_VAL_LOSS];
    st->val_auc = sd[SD_VAL_AUC];
    st->gnorm0 = sd[SD_GNORM0];
    st->epoch = (int)si[SI_EPOCH];
    st->since_best = (int)si[SI_SINCE_BEST];
    st->adam_t = (int64_t)si[SI_ADAM_T];
    st->examples = (int64_t)si[SI_EXAMPLES];
    st->lbfgs_count = (int)si[SI_COUNT];
    st->lbfgs_head = (int)si[SI_HEAD];
    st->epochs_run = (int)si[SI_EPOCHS_RUN];
    st->best_epoch = (int)si[SI_BEST_EPOCH];
    if (st->lbfgs_count < 0 || st->lbfgs_count > M || st->lbfgs_head < 0 || (M > 0 && st->lbfgs_head >= M))
        mkt_fail_all(MKT_EXIT_ERROR, "checkpoint %s: bad L-BFGS counters (corrupt); delete it", path);
    json_t *h = mkt_ckpt_read_json(f, path, "history");
    if (!json_is_array(h))
        mkt_fail_all(MKT_EXIT_ERROR, "checkpoint %s: history is not a list (corrupt); delete it", path);
    json_array_extend(history, h);
    json_decref(h);
}

static int epoch_hook(void *arg, const mkt_dp_state *st, int epochs)
{
    ckpt_hook *h = arg;
    int act = mkt_ckpt_step(h->ck, st->epoch, epochs, h->comm);
    if (act != MKT_CKPT_CONTINUE)
        write_state(h, st);
    if (act == MKT_CKPT_STOP) {
        h->stopped = st->epoch;
        return 1;
    }
    return 0;
}

/* A training run's checkpointing: the file, the settings it must match,
 * the state resumed from and the epoch hook (shared by both targets). */
typedef struct {
    mkt_ckpt ck;
    mkt_ckpt_config cfg;
    mkt_dp_state saved;
    ckpt_hook hook;
    int start;
} ckpt_run;

/* Collective. Resumes from a checkpoint matching r->cfg when asked (the
 * state goes to c->resume) and hooks periodic checkpoints and the signals
 * into c.  r->ck and r->cfg are set up by the caller. */
static void ckpt_attach(ckpt_run *r, int64_t nparams, mkt_dp_config *c, json_t *history, json_t *metrics,
                        MPI_Comm comm)
{
    mkt_ckpt_signals_install();
    r->start = 0;
    memset(&r->saved, 0, sizeof r->saved);
    hid_t cf = mkt_ckpt_open_resume(&r->ck, "propensity", &r->cfg, &r->start, comm);
    if (cf >= 0) {
        if (r->start > c->epochs)
            mkt_fail_all(MKT_EXIT_USAGE, "checkpoint %s is at epoch %d, past --epochs %d", r->ck.path, r->start,
                         c->epochs);
        mkt_dp_state_alloc(&r->saved, nparams, c->optimizer == MKT_DP_LBFGS ? c->lbfgs_memory : 0);
        read_state(cf, r->ck.path, &r->saved, history);
        mkt_h5_close(cf);
        if (r->saved.epoch != r->start)
            mkt_fail_all(MKT_EXIT_ERROR, "checkpoint %s: state is at epoch %d, file says %d (corrupt); delete it",
                         r->ck.path, r->saved.epoch, r->start);
        c->resume = &r->saved;
    }
    r->hook = (ckpt_hook){&r->ck, &r->cfg, history, comm, 0};
    c->after_epoch = epoch_hook;
    c->hook_arg = &r->hook;
    if (metrics) {
        mkt_metrics_set_str(metrics, "checkpoint", r->ck.path);
        mkt_metrics_set_int(metrics, "resumed_from_epoch", r->start);
    }
}

/* After mkt_dp_train: 1 when a signal stopped it (the checkpoint is written
 * and the preemption logged). */
static int ckpt_detach(ckpt_run *r, const mkt_dp_config *c, const mkt_dp_result *res, json_t *metrics)
{
    if (c->resume)
        mkt_dp_state_free(&r->saved);
    if (metrics)
        mkt_metrics_set_int(metrics, "checkpoints_written", r->ck.written);
    if (!res->stopped)
        return 0;
    if (metrics)
        mkt_metrics_set_int(metrics, "preempted_at_epoch", r->hook.stopped);
    mkt_ckpt_preempted(&r->ck, r->hook.stopped);
    return 1;
}

/* Collective. What both propensity model groups (/models/propensity and
 * /models/propensity_item) hold: parameters, normalization, names, the test
 * rows' scores and labels, and the training configuration as attributes. */
typedef struct {
    const double *params, *mean, *std, *sp; /* sp: the test rows' scores */
    const int8_t *slabel;
    char **names;
    int64_t nparams, d, sn, cutoff;
    const mkt_dp_result *res;
    const char *features_group;
    double auc, ll;              /* on the test rows */
    double train_rate, rf_auc;   /* training rows' positive rate; the RF rule's test AUC */
} model_common;

static void write_model_common(hid_t f, const char *g, const mkt_propensity_options *o, const model_ctx *ctx,
                               const model_common *c, double l2, MPI_Comm comm)
{
    char path[600];
#define P(name) (snprintf(path, sizeof path, "%s/%s", g, name), path)
    mkt_h5_write_small(f, P("params"), H5T_NATIVE_DOUBLE, c->params, c->nparams, 0, comm);
    mkt_h5_write_small(f, P("feature_mean"), H5T_NATIVE_DOUBLE, c->mean, c->d, 0, comm);
    mkt_h5_write_small(f, P("feature_std"), H5T_NATIVE_DOUBLE, c->std, c->d, 0, comm);
    int comm_rank; /* of comm, which may be a group of `mkt tune`, not of the job */
    MKT_MPI(MPI_Comm_rank(comm, &comm_rank));
    mkt_h5_write_strings(f, P("feature_names"), c->names, comm_rank == 0 ? c->d : 0, comm);
    mkt_h5_write_small(f, P("test_score"), H5T_NATIVE_DOUBLE, c->sp, c->sn, 0, comm);
    mkt_h5_write_small(f, P("test_label"), H5T_NATIVE_INT8, c->slabel, c->sn, 0, comm);
#undef P
    mkt_h5_attr_set_string(f, g, "model", ctx->mlp.hidden ? "mlp" : "logistic");
    mkt_h5_attr_set_int(f, g, "hidden_layers", ctx->mlp.hidden);
    for (int l = 0; l < ctx->mlp.hidden; l++) {
        char name[32];
        snprintf(name, sizeof name, "hidden_%d", l + 1);
        mkt_h5_attr_set_int(f, g, name, ctx->mlp.sizes[l]);
    }
    mkt_h5_attr_set_int(f, g, "inputs", c->d);
    mkt_h5_attr_set_string(f, g, "optimizer", o->optimizer);
    mkt_h5_attr_set_int(f, g, "horizon_days", o->horizon_days);
    mkt_h5_attr_set_int(f, g, "cutoff_ts", c->cutoff);
    mkt_h5_attr_set_int(f, g, "seed", (int64_t)o->seed);
    mkt_h5_attr_set_double(f, g, "valid_fraction", o->valid_fraction);
    mkt_h5_attr_set_double(f, g, "test_fraction", o->test_fraction);
    mkt_h5_attr_set_double(f, g, "l2", l2);
    mkt_h5_attr_set_int(f, g, "l2_auto", o->l2_auto);
    mkt_h5_attr_set_int(f, g, "epochs_run", c->res->epochs_run);
    mkt_h5_attr_set_int(f, g, "best_epoch", c->res->best_epoch);
    mkt_h5_attr_set_string(f, g, "features_group", c->features_group);
    mkt_h5_attr_set_double(f, g, "val_auc", c->res->val_auc);
    mkt_h5_attr_set_double(f, g, "val_log_loss", c->res->val_loss);
    mkt_h5_attr_set_double(f, g, "test_auc", c->auc);
    mkt_h5_attr_set_double(f, g, "test_log_loss", c->ll);
    mkt_h5_attr_set_double(f, g, "train_positive_rate", c->train_rate);
    mkt_h5_attr_set_double(f, g, "baseline_rf_auc", c->rf_auc);
    mkt_h5_attr_set_int(f, g, "schema_version", MKT_SCHEMA_VERSION);
}

/* Everything the trained weights depend on (epochs may differ on resume). */
static void options_config(const mkt_propensity_options *o, const model_ctx *ctx, const mkt_dp_config *c,
                           const char *layout, const char *group, int64_t cutoff, int64_t nparams,
                           mkt_ckpt_config *cfg)
{
    mkt_ckpt_config_init(cfg);
    mkt_ckpt_config_str(cfg, "state_layout", layout);
    mkt_ckpt_config_path(cfg, "store", o->store);
    mkt_ckpt_config_str(cfg, "features_group", group);
    mkt_ckpt_config_int(cfg, "cutoff_ts", cutoff);
    mkt_ckpt_config_int(cfg, "horizon_days", o->horizon_days);
    mkt_ckpt_config_str(cfg, "model", ctx->mlp.hidden ? "mlp" : "logistic");
    char hidden[64] = "";
    for (int l = 0; l < ctx->mlp.hidden; l++)
        snprintf(hidden + strlen(hidden), sizeof hidden - strlen(hidden), "%s%d", l ? "," : "", ctx->mlp.sizes[l]);
    mkt_ckpt_config_str(cfg, "hidden", hidden);
    mkt_ckpt_config_int(cfg, "parameters", nparams);
    mkt_ckpt_config_str(cfg, "optimizer", o->optimizer);
    mkt_ckpt_config_int(cfg, "batch", c->batch);
    mkt_ckpt_config_double(cfg, "lr", c->lr);
    /* the option, not the value auto chose: that follows from the data, which
     * the keys after the options name when they differ */
    if (o->l2_auto)
        mkt_ckpt_config_str(cfg, "l2", "auto");
    else
        mkt_ckpt_config_double(cfg, "l2", c->l2);
    mkt_ckpt_config_double(cfg, "pos_weight", c->pos_weight);
    mkt_ckpt_config_double(cfg, "valid_fraction", o->valid_fraction);
    mkt_ckpt_config_double(cfg, "test_fraction", o->test_fraction);
    mkt_ckpt_config_int(cfg, "patience", c->patience);
    mkt_ckpt_config_int(cfg, "lbfgs_memory", c->lbfgs_memory);
    mkt_ckpt_config_int(cfg, "seed", (int64_t)o->seed);
    mkt_ckpt_config_int(cfg, "windows", o->windows);
    mkt_ckpt_config_int(cfg, "window_stride_days", o->windows > 1 ? o->window_stride_days : 0);
    mkt_ckpt_config_double(cfg, "dropout", ctx->dropout);
    mkt_ckpt_config_int(cfg, "dp", c->dp);
    mkt_ckpt_config_double(cfg, "dp_clip", c->dp ? c->dp_clip : 0);
    mkt_ckpt_config_double(cfg, "dp_noise", c->dp ? c->dp_noise : 0);
}

static void train_config(const mkt_propensity_options *o, const model_ctx *ctx, const mkt_dp_config *c,
                         const examples *e, const char *group, int64_t cutoff, int64_t nparams,
                         mkt_ckpt_config *cfg, MPI_Comm comm)
{
    int64_t n[4] = {e->nt, e->nv, e->ns, e->positives_local};
    MKT_MPI(MPI_Allreduce(MPI_IN_PLACE, n, 4, MPI_INT64_T, MPI_SUM, comm));
    options_config(o, ctx, c, "propensity-4", group, cutoff, nparams, cfg);
    /* the data, after the options (so a changed option is the key named) */
    mkt_ckpt_config_int(cfg, "users", e->users);
    mkt_ckpt_config_int(cfg, "features", e->d);
    mkt_ckpt_config_int(cfg, "train_examples", n[0]);
    mkt_ckpt_config_int(cfg, "validation_examples", n[1]);
    mkt_ckpt_config_int(cfg, "test_examples", n[2]);
    mkt_ckpt_config_int(cfg, "positives", n[3]);
}

static int train_user_item(const mkt_propensity_options *o, const model_ctx *ctx, const mkt_dp_config *c,
                           MPI_Comm comm, json_t *metrics);

/* The metric a tuning command compares runs by: the validation rows' mean
 * log loss at the kept epoch (what early stopping minimized; null without
 * validation rows). */
static void selection_metrics(json_t *metrics, const mkt_dp_result *res)
{
    json_t *s = mkt_metrics_child(metrics, "selection");
    mkt_metrics_set_str(s, "metric", "log_loss");
    mkt_metrics_set_real(s, "value", res->val_loss);
    mkt_metrics_set_str(s, "goal", "min");
    mkt_metrics_set_str(s, "split", "validation");
    mkt_metrics_set_int(s, "epoch", res->best_epoch);
}

/* --l2 auto: the penalties tried, half a decade apart */
static const double l2_grid[] = {1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0};
#define L2_GRID_SIZE ((int)(sizeof l2_grid / sizeof l2_grid[0]))

/* Collective. --l2 auto: fit the model from `init` (not changed) with every
 * l2 of l2_grid, early stopping on the validation rows as usual, and return
 * the l2 whose kept parameters have the lowest validation log loss (the
 * smaller l2 on a tie) — the same value the selection metric reports and
 * `mkt tune` ranks by, computed on rows the test metrics never see.  The
 * values compared are exact sums, so the choice is the same on any rank
 * count.  trials (may be NULL) gets {l2, val_log_loss, val_auc, best_epoch,
 * epochs_run} per value. */
static double choose_l2(const mkt_dp_model *m, const mkt_dp_config *c, const double *init, const mkt_dp_data *train,
                        const mkt_dp_data *valid, json_t *trials, MPI_Comm comm)
{
    double *p = mkt_xmalloc(sizeof(double) * (size_t)m->nparams), best = NAN, best_loss = INFINITY;
    for (int k = 0; k < L2_GRID_SIZE; k++) {
        mkt_dp_config t = *c;
        t.l2 = l2_grid[k];
        t.stage = NULL;
        t.resume = NULL;
        t.after_epoch = NULL;
        t.hook_arg = NULL;
        memcpy(p, init, sizeof(double) * (size_t)m->nparams);
        mkt_dp_result r;
        mkt_dp_train(m, &t, train, valid, p, &r, NULL, NULL, comm);
        if (trials) {
            json_t *e = json_object();
            mkt_metrics_set_real(e, "l2", t.l2);
            mkt_metrics_set_real(e, "val_log_loss", r.val_loss);
            mkt_metrics_set_real(e, "val_auc", r.val_auc);
            mkt_metrics_set_int(e, "best_epoch", r.best_epoch);
            mkt_metrics_set_int(e, "epochs_run", r.epochs_run);
            json_array_append_new(trials, e);
        }
        if (r.val_loss < best_loss) {
            best_loss = r.val_loss;
            best = t.l2;
        }
    }
    free(p);
    if (!isfinite(best))
        mkt_fail_all(MKT_EXIT_ERROR, "%s: l2 auto: no penalty gave a finite validation log loss", STAGE_TRAIN);
    return best;
}

/* Collective. The l2 to train with: the given one, or with --l2 auto the
 * validation's choice (logged, and recorded in metrics). */
static double resolve_l2(const mkt_propensity_options *o, const mkt_dp_model *m, const mkt_dp_config *c,
                         const double *init, const mkt_dp_data *train, const mkt_dp_data *valid, json_t *metrics,
                         MPI_Comm comm)
{
    if (!o->l2_auto) {
        if (metrics)
            mkt_metrics_set_str(metrics, "l2_mode", "fixed");
        return o->l2;
    }
    if (c->dp) {
        /* every trial would spend privacy on the same rows */
        mkt_log(STAGE_TRAIN, "l2 auto with --dp: using l2 %g (one fit; give --l2 to choose)", l2_grid[0]);
        if (metrics)
            mkt_metrics_set_str(metrics, "l2_mode", "fixed (dp)");
        return l2_grid[0];
    }
    double t0 = mkt_now();
    json_t *trials = json_array();
    double l2 = choose_l2(m, c, init, train, valid, trials, comm);
    mkt_log(STAGE_TRAIN, "l2 auto: %g, the lowest validation log loss of %d values from %g to %g (%.1fs)", l2,
            L2_GRID_SIZE, l2_grid[0], l2_grid[L2_GRID_SIZE - 1], mkt_now() - t0);
    if (metrics) {
        mkt_metrics_set_str(metrics, "l2_mode", "auto");
        json_object_set_new(metrics, "l2_trials", trials);
        mkt_metrics_set_real(metrics, "seconds_l2_auto", mkt_now() - t0);
    } else {
        json_decref(trials);
    }
    return l2;
}

/* The final log line: the test metrics beside the baselines. */
static void log_result(const char *stage, double auc, double ll, double base_ll, double rf_auc,
                       const mkt_dp_result *res, const char *out, const char *group, double seconds)
{
    char rf[64] = "";
    if (isfinite(rf_auc))
        snprintf(rf, sizeof rf, ", recency-frequency rule AUC %.4f", rf_auc);
    mkt_log(stage, "test AUC %.4f, log loss %.5f (baselines: base rate AUC 0.5, log loss %.5f%s); validation log "
                   "loss %.5f at epoch %d; model %s:%s (%.1fs)",
            auc, ll, base_ll, rf, res->val_loss, res->best_epoch, out, group, seconds);
    if (isfinite(rf_auc) && !(auc > rf_auc))
        mkt_log(stage, "warning: the model's test AUC %.4f does not beat the recency-frequency rule's %.4f", auc,
                rf_auc);
    if (!(ll < base_ll))
        mkt_log(stage, "warning: the model's test log loss %.5f does not beat the base rate's %.5f", ll, base_ll);
}

/* Usage checks of the split fractions (both targets). */
static void check_fractions(const mkt_propensity_options *o)
{
    if (!(o->test_fraction > 0 && o->test_fraction < 1))
        mkt_fail_all(MKT_EXIT_USAGE,
                     "train propensity: test-fraction: %g is not in (0, 1): the held-out metrics are reported on "
                     "the test users",
                     o->test_fraction);
    if (!(o->valid_fraction >= 0 && o->valid_fraction < 1) || !(o->test_fraction + o->valid_fraction < 1))
        mkt_fail_all(MKT_EXIT_USAGE,
                     "train propensity: valid-fraction %g + test-fraction %g must be below 1 (the other users "
                     "are the training users)",
                     o->valid_fraction, o->test_fraction);
    if (o->valid_fraction == 0)
        mkt_log(STAGE_TRAIN, "warning: valid-fraction 0: no validation users, so no early stopping (the last "
                             "epoch is kept) and no selection metric");
}

int mkt_propensity_train(const mkt_propensity_options *o, MPI_Comm comm, json_t *metrics)
{
    double t0 = mkt_now();
    if (!o->store || !*o->store)
        mkt_fail_all(MKT_EXIT_USAGE, "train propensity: --store STORE.h5 is required");
    if (!o->out || !*o->out)
        mkt_fail_all(MKT_EXIT_USAGE, "train propensity: --out MODEL.h5 is required");
    model_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    if (!strcmp(o->model, "mlp")) {
        ctx.mlp.hidden = parse_hidden(o->hidden, ctx.mlp.sizes);
        if (ctx.mlp.hidden < 1)
            mkt_fail_all(MKT_EXIT_USAGE, "train propensity: hidden: '%s' is not 1 to 3 layer sizes like 32,16",
                         o->hidden);
    } else if (strcmp(o->model, "logistic") != 0) {
        mkt_fail_all(MKT_EXIT_USAGE, "train propensity: model: '%s' is not logistic or mlp", o->model);
    }
    mkt_dp_config c;
    mkt_dp_config_defaults(&c);
    if (!strcmp(o->optimizer, "lbfgs"))
        c.optimizer = MKT_DP_LBFGS;
    else if (!strcmp(o->optimizer, "adam"))
        c.optimizer = MKT_DP_ADAM;
    else if (!strcmp(o->optimizer, "sgd"))
        c.optimizer = MKT_DP_SGD;
    else
        mkt_fail_all(MKT_EXIT_USAGE, "train propensity: optimizer: '%s' is not lbfgs, adam or sgd", o->optimizer);
    c.epochs = o->epochs;
    c.batch = o->batch;
    c.lr = o->lr;
    c.l2 = o->l2;
    c.pos_weight = o->pos_weight;
    c.patience = o->patience;
    c.tol = o->tol;
    c.seed = o->seed;
    c.stage = o->progress ? STAGE_TRAIN : NULL;
    if (o->windows < 1)
        mkt_fail_all(MKT_EXIT_USAGE, "train propensity: windows: %d is not >= 1", o->windows);
    int64_t stride = o->window_stride_days > 0 ? o->window_stride_days : o->horizon_days;
    if (o->windows > 1 && stride < o->horizon_days)
        mkt_fail_all(MKT_EXIT_USAGE,
                     "train propensity: window-stride-days %lld < horizon-days %lld: training labels would "
                     "reach past the evaluation cutoff",
                     (long long)stride, (long long)o->horizon_days);
    if (!(o->dropout >= 0 && o->dropout < 1))
        mkt_fail_all(MKT_EXIT_USAGE, "train propensity: dropout: %g is not in [0, 1)", o->dropout);
    if (o->dropout > 0 && (ctx.mlp.hidden == 0 || c.optimizer == MKT_DP_LBFGS))
        mkt_fail_all(MKT_EXIT_USAGE, "train propensity: dropout needs --model mlp and --optimizer adam or sgd");
    ctx.dropout = o->dropout;
    ctx.seed = o->seed;
    if (o->dp) {
        if (c.optimizer == MKT_DP_LBFGS)
            mkt_fail_all(MKT_EXIT_USAGE, "train propensity: dp needs --optimizer adam or sgd (L-BFGS's line "
                                         "search would release unprotected losses)");
        if (!(o->dp_clip > 0) || !(o->dp_noise >= 0) || !(o->dp_delta > 0 && o->dp_delta < 1))
            mkt_fail_all(MKT_EXIT_USAGE,
                         "train propensity: dp-clip %g must be > 0, dp-noise %g >= 0 and dp-delta %g in (0, 1)",
                         o->dp_clip, o->dp_noise, o->dp_delta);
        c.dp = 1;
        c.dp_clip = o->dp_clip;
        c.dp_noise = o->dp_noise;
    }

    check_fractions(o);
    if (o->target && !strcmp(o->target, "user_item")) {
        if (o->windows > 1)
            mkt_fail_all(MKT_EXIT_USAGE, "train propensity: windows > 1 is for target user, not user_item");
        return train_user_item(o, &ctx, &c, comm, metrics);
    }
    if (o->target && strcmp(o->target, "user") != 0)
        mkt_fail_all(MKT_EXIT_USAGE, "train propensity: target: '%s' is not user or user_item", o->target);

    int64_t end = store_end_ts(o->store, comm);
    int64_t cutoff = o->has_cutoff ? o->cutoff_ts : end - o->horizon_days * DAY;
    if (cutoff + o->horizon_days * DAY > end)
        mkt_log(STAGE_TRAIN, "warning: cutoff + horizon is past the end of the log: labels see only %lld days",
                (long long)((end - cutoff) / DAY));
    const char *group = group_name(o);
    int computed = ensure_features(o->store, group, cutoff, o->progress, comm, metrics);
    double t_features = mkt_now();
    examples e;
    load_examples(o->store, group, cutoff, o->horizon_days, o->seed, o->test_fraction, o->valid_fraction, NULL,
                  NULL, 0, &e, comm);
    log_examples(STAGE_TRAIN, &e, cutoff, o->horizon_days, comm);
    int64_t te[2];
    count_global(e.ys, e.ns, te, comm);
    require_test_rows(STAGE_TRAIN, "users", te[0], te[1], o->test_fraction, cutoff, o->horizon_days);
    json_t *windows = json_array();
    {
        int64_t tr[2], va[2];
        count_global(e.yv, e.nv, va, comm);
        count_global(e.yt, o->windows > 1 ? 0 : e.nt, tr, comm);
        json_array_append_new(windows, window_json(0, cutoff, o->horizon_days, group,
                                                   o->windows > 1 ? "evaluate" : "train+evaluate", tr, va, te));
    }
    if (o->windows > 1)
        load_training_windows(o, group, cutoff, stride, &e, windows, comm);
    if (o->export_prefix && *o->export_prefix) {
        char ep[1024];
        snprintf(ep, sizeof ep, "%s.train.svm", o->export_prefix);
        export_libsvm(ep, e.xt, e.yt, e.nt, e.d, comm);
        snprintf(ep, sizeof ep, "%s.valid.svm", o->export_prefix);
        export_libsvm(ep, e.xv, e.yv, e.nv, e.d, comm);
        snprintf(ep, sizeof ep, "%s.test.svm", o->export_prefix);
        export_libsvm(ep, e.xs, e.ys, e.ns, e.d, comm);
        mkt_log(STAGE_TRAIN, "exported the examples to %s.train.svm, %s.valid.svm and %s.test.svm", o->export_prefix,
                o->export_prefix, o->export_prefix);
    }
    ctx.mlp.inputs = e.d;
    mkt_dp_model m = make_model(&ctx);
    double *params = mkt_xcalloc((size_t)m.nparams, sizeof(double));
    if (ctx.mlp.hidden > 0)
        mkt_mlp_init_params(&ctx.mlp, o->seed, params);
    mkt_dp_data train = {e.xt, e.yt, e.nt, e.d}, valid = {e.xv, e.yv, e.nv, e.d}, test = {e.xs, e.ys, e.ns, e.d};
    unsigned char *unpen = intercepts(&ctx, m.nparams);
    c.unpenalized = unpen;
    c.l2 = resolve_l2(o, &m, &c, params, &train, &valid, metrics, comm);
    json_t *history = json_array();

    /* checkpoints: resume when asked and a matching one exists */
    ckpt_run cr;
    mkt_ckpt_init(&cr.ck, STAGE_TRAIN, o->checkpoint, o->out, "propensity", o->checkpoint_every, o->resume);
    train_config(o, &ctx, &c, &e, group, cutoff, m.nparams, &cr.cfg, comm);
    ckpt_attach(&cr, m.nparams, &c, history, metrics, comm);

    mkt_dp_result res;
    mkt_dp_train(&m, &c, &train, &valid, params, &res, history ? history_append : NULL, history, comm);
    if (ckpt_detach(&cr, &c, &res, metrics)) {
        json_decref(history);
        json_decref(windows);
        mkt_ckpt_config_free(&cr.cfg);
        mkt_ckpt_free(&cr.ck);
        free(params);
        free(unpen);
        examples_free(&e);
        return MKT_EXIT_PREEMPTED;
    }

    /* privacy spent: every step of every epoch run (the kept parameters may be
     * an earlier epoch's, but the later steps were released to the run too) */
    double epsilon = NAN, q = NAN;
    int order = 0;
    int64_t steps = 0;
    if (c.dp) {
        q = res.train_examples > 0 ? (double)(c.batch < res.train_examples ? c.batch : res.train_examples) /
                                         (double)res.train_examples
                                   : 1.0;
        steps = res.steps_per_epoch * res.epochs_run;
        epsilon = mkt_rdp_epsilon(q, c.dp_noise, steps, o->dp_delta, &order);
        mkt_log(STAGE_TRAIN, "differential privacy: (epsilon %.4g, delta %g) after %lld steps at sampling rate %.4g, "
                             "noise multiplier %g, clip %g (RDP order %d)",
                epsilon, o->dp_delta, (long long)steps, q, c.dp_noise, c.dp_clip, order);
    }

    /* the kept parameters on the validation users (what selected them) and on
     * the test users (the report), beside the baselines; identical on every
     * rank, in global user order */
    double *vp, *tp;
    int *vy, *ty;
    int64_t vn, tn, rn;
    mkt_dp_predict_all(&m, params, &valid, &vp, &vy, &vn, comm);
    mkt_dp_predict_all(&m, params, &test, &tp, &ty, &tn, comm);
    json_t *vm = json_object(), *tm = json_object(), *bm = json_object();
    if (vn > 0)
        quality_metrics(vm, vp, vy, vn);
    quality_metrics(tm, tp, ty, tn);
    int64_t trc[2];
    count_global(e.yt, e.nt, trc, comm);
    double train_rate = trc[0] > 0 ? (double)trc[1] / (double)trc[0] : NAN;
    double *rs = gather_doubles(e.rs, e.ns, &rn, comm), rf_auc, base_ll;
    baseline_metrics(bm, train_rate, ty, rs, RF_RULE_USER, tn, &rf_auc, &base_ll);
    free(rs);
    double auc = mkt_auc(tp, ty, tn), ll = mkt_log_loss(tp, ty, tn);
    int8_t *tlabel = mkt_xmalloc((size_t)(tn + 1));
    for (int64_t i = 0; i < tn; i++)
        tlabel[i] = (int8_t)(ty[i] != 0);

    /* the model file: a temporary group moved into place when complete */
    double t_write = mkt_now();
    mkt_model_writer w;
    mkt_model_begin(&w, o->out, MODEL_GROUP, comm);
    hid_t f = w.file;
    const char *g = w.group;
    model_common mc = {params, e.mean,  e.std, tp,  tlabel, e.names,    m.nparams, e.d,
                       tn,     cutoff, &res,  group, auc, ll,    train_rate, rf_auc};
    write_model_common(f, g, o, &ctx, &mc, c.l2, comm);
    mkt_h5_attr_set_double(f, g, "lr", o->lr);
    mkt_h5_attr_set_double(f, g, "pos_weight", o->pos_weight);
    mkt_h5_attr_set_int(f, g, "windows", o->windows);
    mkt_h5_attr_set_int(f, g, "window_stride_days", o->windows > 1 ? stride : 0);
    mkt_h5_attr_set_double(f, g, "dropout", o->dropout);
    mkt_h5_attr_set_int(f, g, "dp", c.dp);
    if (c.dp) {
        mkt_h5_attr_set_double(f, g, "dp_clip", c.dp_clip);
        mkt_h5_attr_set_double(f, g, "dp_noise", c.dp_noise);
        mkt_h5_attr_set_double(f, g, "dp_delta", o->dp_delta);
        mkt_h5_attr_set_double(f, g, "dp_epsilon", epsilon);
    }
    mkt_model_end(&w, comm);
    mkt_ckpt_remove(&cr.ck, comm);
    free(vp);
    free(vy);
    free(tp);
    free(ty);
    free(tlabel);
    double t_end = mkt_now();
    log_result(STAGE_TRAIN, auc, ll, base_ll, rf_auc, &res, o->out, MODEL_GROUP, t_end - t0);

    if (metrics) {
        mkt_metrics_set_str(metrics, "model", ctx.mlp.hidden ? "mlp" : "logistic");
        mkt_metrics_set_str(metrics, "optimizer", o->optimizer);
        mkt_metrics_set_int(metrics, "parameters", m.nparams);
        mkt_metrics_set_int(metrics, "users", e.users);
        mkt_metrics_set_int(metrics, "features", e.d);
        mkt_metrics_set_int(metrics, "cutoff_ts", cutoff);
        mkt_metrics_set_int(metrics, "horizon_days", o->horizon_days);
        mkt_metrics_set_str(metrics, "features_group", group);
        mkt_metrics_set_int(metrics, "features_computed", computed);
        int64_t c3[3] = {e.nt, e.nv, e.ns};
        MKT_MPI(MPI_Allreduce(MPI_IN_PLACE, c3, 3, MPI_INT64_T, MPI_SUM, comm));
        mkt_metrics_set_int(metrics, "train_examples", c3[0]);
        mkt_metrics_set_int(metrics, "validation_examples", c3[1]);
        mkt_metrics_set_int(metrics, "test_examples", c3[2]);
        mkt_metrics_set_real(metrics, "valid_fraction", o->valid_fraction);
        mkt_metrics_set_real(metrics, "test_fraction", o->test_fraction);
        mkt_metrics_set_int(metrics, "epochs_run", res.epochs_run);
        mkt_metrics_set_int(metrics, "best_epoch", res.best_epoch);
        mkt_metrics_set_real(metrics, "train_loss", res.train_loss);
        mkt_metrics_set_real(metrics, "examples_per_second", res.examples_per_second);
        if (vn > 0) {
            json_object_set_new(metrics, "validation", vm);
            vm = NULL;
        }
        json_object_set_new(metrics, "test", tm);
        tm = NULL;
        json_object_set_new(metrics, "baseline", bm);
        bm = NULL;
        selection_metrics(metrics, &res);
        json_object_set_new(metrics, "history", history);
        history = NULL;
        mkt_metrics_set_int(metrics, "windows_count", o->windows);
        json_object_set_new(metrics, "windows", windows);
        windows = NULL;
        mkt_metrics_set_real(metrics, "dropout", o->dropout);
        if (c.dp) {
            json_t *dp = mkt_metrics_child(metrics, "dp");
            mkt_metrics_set_real(dp, "clip", c.dp_clip);
            mkt_metrics_set_real(dp, "noise_multiplier", c.dp_noise);
            mkt_metrics_set_real(dp, "delta", o->dp_delta);
            json_object_set_new(dp, "epsilon", isfinite(epsilon) ? json_real(epsilon) : json_null());
            mkt_metrics_set_int(dp, "rdp_order", order);
            mkt_metrics_set_int(dp, "steps", steps);
            mkt_metrics_set_real(dp, "sampling_rate", q);
        }
        mkt_metrics_set_real(metrics, "seconds_features", t_features - t0);
        mkt_metrics_set_real(metrics, "seconds_train", res.seconds);
        mkt_metrics_set_real(metrics, "seconds_train_validation", res.seconds_validation);
        if (c.optimizer == MKT_DP_LBFGS) {
            mkt_metrics_set_int(metrics, "lbfgs_evaluations", res.evaluations);
            mkt_metrics_set_int(metrics, "converged", res.converged);
        }
        mkt_metrics_set_real(metrics, "seconds_write", t_end - t_write);
        mkt_metrics_set_real(metrics, "seconds_total", t_end - t0);
        mkt_metrics_set_str(metrics, "out", o->out);
    } else {
        MKT_MPI(MPI_Barrier(comm));
    }
    json_decref(vm);
    json_decref(tm);
    json_decref(bm);
    json_decref(history);
    json_decref(windows);
    free(params);
    free(unpen);
    examples_free(&e);
    mkt_ckpt_config_free(&cr.cfg);
    mkt_ckpt_free(&cr.ck);
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
    mkt_dp_model m = make_model(&ctx);
    double *params = mkt_xcalloc((size_t)m.nparams, sizeof(double));
    if (ctx.mlp.hidden > 0)
        mkt_mlp_init_params(&ctx.mlp, ctx.seed, params);
    unsigned char *unpen = intercepts(&ctx, m.nparams);
    mkt_dp_config cu = *c;
    cu.unpenalized = unpen;
    mkt_dp_train(&m, &cu, train, valid, params, res, history ? history_append : NULL, history, comm);
    free(unpen);
    mkt_dp_predict_all(&m, params, test, vp, vy, vn, comm);
    *params_out = params;
    return mkt_auc(*vp, *vy, *vn);
}

static int train_user_item(const mkt_propensity_options *o, const model_ctx *ctx_in, const mkt_dp_config *c,
                           MPI_Comm comm, json_t *metrics)
{
    double t0 = mkt_now();
    int rank, nranks;
    MKT_MPI(MPI_Comm_rank(comm, &rank));
    MKT_MPI(MPI_Comm_size(comm, &nranks));
    if (o->negatives < 1)
        mkt_fail_all(MKT_EXIT_USAGE, "train propensity: negatives: %d is not >= 1", o->negatives);
    model_ctx ctx = *ctx_in;
    int64_t end = store_end_ts(o->store, comm);
    int64_t cutoff = o->has_cutoff ? o->cutoff_ts : end - o->horizon_days * DAY;
    const char *group = group_name(o);
    ensure_features(o->store, group, cutoff, o->progress, comm, metrics);

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
        int set = split_of(o->seed, b.begin + u, o->test_fraction, o->valid_fraction);
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
    require_test_rows(STAGE_TRAIN, "user x item rows", cnt[2], cnt[5], o->test_fraction, cutoff, o->horizon_days);
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
    mkt_dp_model m_main = make_model(&mctx0);
    int64_t np_main = m_main.nparams;
    {
        /* --l2 auto: chosen once, for the model with every feature; the
         * comparison fit without the factor score uses the same l2 */
        double *init = mkt_xcalloc((size_t)np_main, sizeof(double));
        if (mctx0.mlp.hidden > 0)
            mkt_mlp_init_params(&mctx0.mlp, mctx0.seed, init);
        unsigned char *unpen = intercepts(&mctx0, np_main);
        cm.unpenalized = unpen;
        cm.l2 = resolve_l2(o, &m_main, &cm, init, &train, &valid, metrics, comm);
        cm.unpenalized = NULL;
        free(unpen);
        free(init);
    }
    ckpt_run cr;
    mkt_ckpt_init(&cr.ck, STAGE_TRAIN, o->checkpoint, o->out, "propensity_item", o->checkpoint_every, o->resume);
    options_config(o, &ctx, &cm, "propensity-item-3", group, cutoff, np_main, &cr.cfg);
    mkt_ckpt_config_int(&cr.cfg, "negatives", o->negatives);
    if (has_mf)
        mkt_ckpt_config_path(&cr.cfg, "mf_model", o->mf_model);
    else
        mkt_ckpt_config_str(&cr.cfg, "mf_model", "");
    mkt_ckpt_config_int(&cr.cfg, "train_examples", cnt[0]);
    mkt_ckpt_config_int(&cr.cfg, "validation_examples", cnt[1]);
    mkt_ckpt_config_int(&cr.cfg, "test_examples", cnt[2]);
    mkt_ckpt_config_int(&cr.cfg, "positives", cnt[3]);
    ckpt_attach(&cr, np_main, &cm, history, metrics, comm);
    double t_train = mkt_now();
    double auc = fit_item_model(&ctx, &cm, d, &train, &valid, &test, &params, &res, history, &vp, &vy, &vn, comm);
    if (ckpt_detach(&cr, &cm, &res, metrics)) {
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
        mkt_dp_model mm = make_model(&mv);
        double *pv;
        int *py;
        int64_t pn;
        mkt_dp_predict_all(&mm, params, &valid, &pv, &py, &pn, comm);
        quality_metrics(vm, pv, py, pn);
        free(pv);
        free(py);
    }
    /* vp, vy: the test rows; the baselines on them */
    double ll = mkt_log_loss(vp, vy, vn);
    json_t *bm = json_object();
    int64_t rn;
    double *rall = gather_doubles(rs, ns, &rn, comm), rf_auc, base_ll;
    double train_rate = (double)cnt[3] / (double)cnt[0];
    baseline_metrics(bm, train_rate, vy, rall, RF_RULE_ITEM, vn, &rf_auc, &base_ll);
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
    int64_t nparams = make_model(&mctx).nparams;
    mkt_model_writer w;
    mkt_model_begin(&w, o->out, ITEM_GROUP, comm);
    hid_t of = w.file;
    const char *g = w.group;
    model_common mc = {params, mean, std, vp, vlabel, names, nparams, d, vn, cutoff, &res, group, auc, ll,
                       train_rate, rf_auc};
    write_model_common(of, g, o, &ctx, &mc, cm.l2, comm);
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
    log_result(STAGE_TRAIN, auc, ll, base_ll, rf_auc, &res, o->out, ITEM_GROUP, t_end - t0);
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
        quality_metrics(tm, vp, vy, vn);
        if (cnt[1] > 0) {
            json_object_set_new(metrics, "validation", vm);
            vm = NULL;
        }
        json_object_set_new(metrics, "baseline", bm);
        bm = NULL;
        selection_metrics(metrics, &res);
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

int mkt_propensity_eval(const mkt_propensity_options *o, MPI_Comm comm, json_t *metrics)
{
    double t0 = mkt_now();
    if (!o->store || !*o->store)
        mkt_fail_all(MKT_EXIT_USAGE, "eval propensity: --store STORE.h5 is required");
    if (!o->model_path || !*o->model_path)
        mkt_fail_all(MKT_EXIT_USAGE, "eval propensity: --model MODEL.h5 is required");
    hid_t f = mkt_h5_open(o->model_path, 0, comm);
    if (!mkt_h5_exists(f, MODEL_GROUP))
        mkt_fail_all(MKT_EXIT_ERROR, "%s: no %s group (train one with `mkt train propensity`)", o->model_path,
                     MODEL_GROUP);
    model_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.mlp.hidden = (int)mkt_h5_attr_get_int(f, MODEL_GROUP, "hidden_layers", 0);
    ctx.mlp.inputs = (int)mkt_h5_attr_get_int(f, MODEL_GROUP, "inputs", 0);
    if (ctx.mlp.hidden < 0 || ctx.mlp.hidden > MKT_MLP_MAX_HIDDEN || ctx.mlp.inputs < 1)
        mkt_fail_all(MKT_EXIT_ERROR, "%s: %s: bad hidden_layers or inputs attribute", o->model_path, MODEL_GROUP);
    for (int l = 0; l < ctx.mlp.hidden; l++) {
        char name[32];
        snprintf(name, sizeof name, "hidden_%d", l + 1);
        ctx.mlp.sizes[l] = (int)mkt_h5_attr_get_int(f, MODEL_GROUP, name, 0);
        if (ctx.mlp.sizes[l] < 1)
            mkt_fail_all(MKT_EXIT_ERROR, "%s: %s: bad %s attribute", o->model_path, MODEL_GROUP, name);
    }
    int64_t horizon = mkt_h5_attr_get_int(f, MODEL_GROUP, "horizon_days", 7);
    int64_t cutoff = o->has_cutoff ? o->cutoff_ts : mkt_h5_attr_get_int(f, MODEL_GROUP, "cutoff_ts", 0);
    /* a separate test store: its own log, so its own default cutoff (its
     * end − H, as training takes the training store's) */
    const char *events = o->test_store && *o->test_store ? o->test_store : o->store;
    int all_test = events != o->store;
    uint64_t seed = (uint64_t)mkt_h5_attr_get_int(f, MODEL_GROUP, "seed", 1);
    double vf = mkt_h5_attr_get_double(f, MODEL_GROUP, "valid_fraction", 0.2);
    double tf = mkt_h5_attr_get_double(f, MODEL_GROUP, "test_fraction", NAN);
    double train_rate = mkt_h5_attr_get_double(f, MODEL_GROUP, "train_positive_rate", NAN);
    if (isnan(tf)) { /* a model from before the test split: its held-out users were u < valid_fraction */
        tf = vf;
        vf = 0;
    }
    mkt_dp_model m = make_model(&ctx);
    if (mkt_h5_rows(f, MODEL_GROUP "/params", NULL) != m.nparams ||
        mkt_h5_rows(f, MODEL_GROUP "/feature_mean", NULL) != ctx.mlp.inputs)
        mkt_fail_all(MKT_EXIT_ERROR, "%s: %s: parameter count does not match the architecture", o->model_path,
                     MODEL_GROUP);
    double *params = mkt_xmalloc(sizeof(double) * (size_t)m.nparams);
    double *mean = mkt_xmalloc(sizeof(double) * (size_t)ctx.mlp.inputs);
    double *std = mkt_xmalloc(sizeof(double) * (size_t)ctx.mlp.inputs);
    mkt_h5_read_rows(f, MODEL_GROUP "/params", H5T_NATIVE_DOUBLE, 0, m.nparams, params);
    mkt_h5_read_rows(f, MODEL_GROUP "/feature_mean", H5T_NATIVE_DOUBLE, 0, ctx.mlp.inputs, mean);
    mkt_h5_read_rows(f, MODEL_GROUP "/feature_std", H5T_NATIVE_DOUBLE, 0, ctx.mlp.inputs, std);
    mkt_h5_close(f);
    if (all_test) {
        mkt_store_check_test_of(o->store, events, comm);
        if (!o->has_cutoff)
            cutoff = store_end_ts(events, comm) - horizon * DAY;
    }

    const char *group = group_name(o);
    ensure_features(events, group, cutoff, o->progress, comm, metrics);
    examples e;
    load_examples(events, group, cutoff, horizon, seed, tf, vf, mean, std, all_test, &e, comm);
    if (e.d != ctx.mlp.inputs)
        mkt_fail_all(MKT_EXIT_ERROR, "%s: the model has %d inputs but %s has %d features", o->model_path,
                     ctx.mlp.inputs, group, e.d);
    log_examples(STAGE_EVAL, &e, cutoff, horizon, comm);
    int64_t te[2];
    count_global(e.ys, e.ns, te, comm);
    if (all_test && te[0] == 0)
        mkt_fail_all(MKT_EXIT_ERROR, "eval propensity: test store %s has no user with an event: no metric can be "
                     "computed", events);
    if (all_test && (te[1] == 0 || te[1] == te[0]))
        mkt_fail_all(MKT_EXIT_ERROR, "eval propensity: the %lld users of test store %s %s in the %lld days after "
                     "the cutoff: AUC needs both classes (give another --cutoff)", (long long)te[0], events,
                     te[1] == 0 ? "all do not buy" : "all buy", (long long)horizon);
    if (!all_test)
        require_test_rows(STAGE_EVAL, "users", te[0], te[1], tf, cutoff, horizon);
    if (isnan(train_rate)) { /* an older model: the training users' rate at this cutoff */
        int64_t tr[2];
        count_global(e.yt, e.nt, tr, comm);
        train_rate = tr[0] > 0 ? (double)tr[1] / (double)tr[0] : 0.5;
    }
    mkt_dp_data test = {e.xs, e.ys, e.ns, e.d};
    double *vp;
    int *vy;
    int64_t vn, rn;
    mkt_dp_predict_all(&m, params, &test, &vp, &vy, &vn, comm);
    double auc = mkt_auc(vp, vy, vn), ll = mkt_log_loss(vp, vy, vn), ece = mkt_ece(vp, vy, vn, NULL);
    mkt_lift_table lt;
    mkt_lift_by_decile(vp, vy, vn, &lt);
    json_t *bm = json_object();
    double *rs = gather_doubles(e.rs, e.ns, &rn, comm), rf_auc, base_ll;
    baseline_metrics(bm, train_rate, vy, rs, RF_RULE_USER, vn, &rf_auc, &base_ll);
    free(rs);
    mkt_log(STAGE_EVAL, "test users %lld: AUC %.4f, log loss %.5f, ECE %.4f, top-decile lift %.2f (baselines: base "
                        "rate log loss %.5f, recency-frequency rule AUC %.4f)",
            (long long)vn, auc, ll, ece, lt.lift[0], base_ll, rf_auc);
    if (metrics) {
        mkt_metrics_set_str(metrics, "model", ctx.mlp.hidden ? "mlp" : "logistic");
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
        quality_metrics(tm, vp, vy, vn);
        json_object_set_new(metrics, "baseline", bm);
        bm = NULL;
        mkt_metrics_set_real(metrics, "seconds_total", mkt_now() - t0);
    }
    json_decref(bm);
    free(vp);
    free(vy);
    free(params);
    free(mean);
    free(std);
    examples_free(&e);
    return MKT_EXIT_OK;
}
