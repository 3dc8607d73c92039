/* propensity_stage.c — purchase propensity: examples from the store, data-
 * parallel training, the model file and held-out metrics (see
 * propensity_stage.h and docs/propensity.md).
 *
 * Owns: which features and labels a user gets for a cutoff, the hold-out
 * split by hash of (seed, user), the /models/propensity layout, the metrics
 * JSON.  Must not: define models or optimizers, parse command lines, or let
 * anything written to the model depend on the rank count (no timings in the
 * model file; timings go to the metrics only). */
#include "propensity_stage.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "checkpoint.h"
#include "dptrain.h"
#include "features_stage.h"
#include "h5store.h"
#include "linmodel.h"
#include "metrics.h"
#include "metrics_json.h"
#include "mkt_types.h"
#include "mlp.h"
#include "par.h"
#include "rng.h"

#define STAGE_TRAIN "train propensity"
#define STAGE_EVAL "eval propensity"
#define MODEL_GROUP "/models/propensity"
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
    o->valid_fraction = 0.2;
    o->seed = 1;
    o->progress = 1;
    o->checkpoint_every = MKT_CKPT_EVERY_DEFAULT;
}

/* Held-out users: a pure function of (seed, user), so the same on any ranks. */
static int is_validation(uint64_t seed, int64_t user, double fraction)
{
    uint64_t h = mkt_hash64(mkt_hash64(seed ^ UINT64_C(0x70726f70656e7369)) ^ (uint64_t)user);
    return (double)(h >> 11) * 0x1.0p-53 < fraction;
}

static const char *group_name(const mkt_propensity_options *o)
{
    return o->features_group && *o->features_group ? o->features_group : "/features_propensity";
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

/* This rank's users, split into training and validation examples. */
typedef struct {
    int d;
    char **names;                 /* feature names [d] */
    double *mean, *std;           /* normalization [d] */
    double *xt, *xv;              /* rows of training / validation users */
    int *yt, *yv;
    int64_t nt, nv;
    int64_t users, local_users, positives_local;
} examples;

static void examples_free(examples *e)
{
    mkt_h5_free_strings(e->names, e->d);
    free(e->mean);
    free(e->std);
    free(e->xt);
    free(e->xv);
    free(e->yt);
    free(e->yv);
}

/* Independent. label[u] = 1 iff user b.begin+u has a purchase (qty > 0) with
 * ts in [from, to). */
static void read_labels(hid_t f, const char *store, mkt_block b, int64_t from, int64_t to, int *label)
{
    int64_t n = b.end - b.begin;
    int64_t *indptr = mkt_xmalloc(sizeof(int64_t) * (size_t)(n + 1));
    mkt_h5_read_rows(f, "/events/by_user/indptr", H5T_NATIVE_INT64, b.begin, n + 1, indptr);
    int64_t *ts = mkt_xmalloc(sizeof(int64_t) * EVENT_CHUNK);
    int32_t *type = mkt_xmalloc(sizeof(int32_t) * EVENT_CHUNK), *qty = mkt_xmalloc(sizeof(int32_t) * EVENT_CHUNK);
    memset(label, 0, sizeof(int) * (size_t)n);
    int64_t u = 0;
    for (int64_t at = indptr[0]; at < indptr[n]; at += EVENT_CHUNK) {
        int64_t cnt = indptr[n] - at < EVENT_CHUNK ? indptr[n] - at : EVENT_CHUNK;
        mkt_h5_read_rows(f, "/events/by_user/ts", H5T_NATIVE_INT64, at, cnt, ts);
        mkt_h5_read_rows(f, "/events/by_user/type", H5T_NATIVE_INT32, at, cnt, type);
        mkt_h5_read_rows(f, "/events/by_user/qty", H5T_NATIVE_INT32, at, cnt, qty);
        for (int64_t k = 0; k < cnt; k++) {
            int64_t row = at + k;
            while (u < n && indptr[u + 1] <= row)
                u++;
            if (u >= n)
                mkt_fail("%s: /events/by_user/indptr does not cover row %lld", store, (long long)row);
            if (type[k] == MKT_EV_PURCHASE && qty[k] > 0 && ts[k] >= from && ts[k] < to)
                label[u] = 1;
        }
    }
    free(indptr);
    free(ts);
    free(type);
    free(qty);
}

/* Collective. Load this rank's block of users: standardized features (with
 * mean/std from the group, or the given ones), labels for [cutoff, cutoff+H),
 * split by hash. */
static void load_examples(const char *store, const char *group, int64_t cutoff, int64_t horizon_days,
                          uint64_t seed, double valid_fraction, const double *mean, const double *std,
                          examples *e, MPI_Comm comm)
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
    if (users != mkt_h5_rows(f, "/events/by_user/indptr", NULL) - 1)
        mkt_fail("%s: %s has %lld rows but the store has %lld users", store, path, (long long)users,
                 (long long)(mkt_h5_rows(f, "/events/by_user/indptr", NULL) - 1));
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
    read_labels(f, store, b, cutoff, cutoff + horizon_days * DAY, label);
    mkt_h5_close(f);

    e->xt = mkt_xmalloc(sizeof(double) * (size_t)(n * cols + 1));
    e->xv = mkt_xmalloc(sizeof(double) * (size_t)(n * cols + 1));
    e->yt = mkt_xmalloc(sizeof(int) * (size_t)(n + 1));
    e->yv = mkt_xmalloc(sizeof(int) * (size_t)(n + 1));
    for (int64_t u = 0; u < n; u++) {
        int v = is_validation(seed, b.begin + u, valid_fraction);
        double *dst = v ? e->xv + e->nv * cols : e->xt + e->nt * cols;
        for (int64_t j = 0; j < cols; j++) {
            double z = e->std[j] > 0 ? (x[u * cols + j] - e->mean[j]) / e->std[j] : 0.0;
            dst[j] = isfinite(z) ? z : 0.0;
        }
        if (v)
            e->yv[e->nv++] = label[u];
        else
            e->yt[e->nt++] = label[u];
        e->positives_local += label[u];
    }
    free(x);
    free(label);
}

/* The model behind the trainer's interface. */
typedef struct {
    mkt_mlp mlp; /* hidden = 0: logistic regression */
} model_ctx;

static double logreg_loss_grad(const void *ctx, const double *p, const double *x, int y, double *g, double *w)
{
    (void)w;
    return mkt_logreg_loss_grad(p, ((const model_ctx *)ctx)->mlp.inputs, x, y, g);
}
static double logreg_logit(const void *ctx, const double *p, const double *x, double *w)
{
    (void)w;
    return mkt_logreg_logit(p, ((const model_ctx *)ctx)->mlp.inputs, x);
}
static double mlp_loss_grad(const void *ctx, const double *p, const double *x, int y, double *g, double *w)
{
    return mkt_mlp_loss_grad(&((const model_ctx *)ctx)->mlp, p, x, y, g, w);
}
static double mlp_logit(const void *ctx, const double *p, const double *x, double *w)
{
    return mkt_mlp_logit(&((const model_ctx *)ctx)->mlp, p, x, w);
}

static mkt_dp_model make_model(const model_ctx *ctx)
{
    mkt_dp_model m;
    m.ctx = ctx;
    if (ctx->mlp.hidden == 0) {
        m.nparams = mkt_logreg_nparams(ctx->mlp.inputs);
        m.work_doubles = 1;
        m.loss_grad = logreg_loss_grad;
        m.logit = logreg_logit;
    } else {
        m.nparams = mkt_mlp_nparams(&ctx->mlp);
        m.work_doubles = mkt_mlp_work_size(&ctx->mlp);
        m.loss_grad = mlp_loss_grad;
        m.logit = mlp_logit;
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
    int64_t c[3] = {e->nt, e->nv, e->positives_local};
    MKT_MPI(MPI_Allreduce(MPI_IN_PLACE, c, 3, MPI_INT64_T, MPI_SUM, comm));
    mkt_log(stage, "%lld users (%lld train, %lld held out), %d features, cutoff %lld, horizon %lld days, "
                   "%.2f%% buy",
            (long long)e->users, (long long)c[0], (long long)c[1], e->d, (long long)cutoff, (long long)horizon,
            e->users ? 100.0 * (double)c[2] / (double)e->users : 0.0);
}

/* ---------- checkpoints (docs/checkpoints.md) ---------- */

/* The optimizer state's scalars, stored as two small double arrays (exact:
 * the counters stay far below 2^53; NaN and infinity survive). */
enum { SD_F, SD_BEST_VAL, SD_TRAIN_LOSS, SD_VAL_LOSS, SD_VAL_AUC, SD_N };
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
    double sd[SD_N] = {st->f, st->best_val, st->train_loss, st->val_loss, st->val_auc};
    double si[SI_N] = {st->epoch,       st->since_best,  (double)st->adam_t, (double)st->examples,
                       st->lbfgs_count, st->lbfgs_head, st->epochs_run,     st->best_epoch};
    mkt_ckpt_write_full(f, "state_reals", sd, SD_N, 0, h->comm);
    mkt_ckpt_write_full(f, "state_counters", si, SI_N, 0, h->comm);
    mkt_ckpt_write_json(f, "history", h->history, h->comm);
    mkt_ckpt_commit(h->ck, &w);
    mkt_log(STAGE_TRAIN, "checkpoint %s written at epoch %d", h->ck->path, st->epoch);
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

/* Everything the trained weights depend on (epochs may differ on resume). */
static void train_config(const mkt_propensity_options *o, const model_ctx *ctx, const mkt_dp_config *c,
                         const examples *e, const char *group, int64_t cutoff, int64_t nparams,
                         mkt_ckpt_config *cfg, MPI_Comm comm)
{
    int64_t n[3] = {e->nt, e->nv, e->positives_local};
    MKT_MPI(MPI_Allreduce(MPI_IN_PLACE, n, 3, MPI_INT64_T, MPI_SUM, comm));
    mkt_ckpt_config_init(cfg);
    mkt_ckpt_config_str(cfg, "state_layout", "propensity-1");
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
    mkt_ckpt_config_double(cfg, "l2", c->l2);
    mkt_ckpt_config_double(cfg, "pos_weight", c->pos_weight);
    mkt_ckpt_config_double(cfg, "valid_fraction", o->valid_fraction);
    mkt_ckpt_config_int(cfg, "patience", c->patience);
    mkt_ckpt_config_int(cfg, "lbfgs_memory", c->lbfgs_memory);
    mkt_ckpt_config_int(cfg, "seed", (int64_t)o->seed);
    /* the data, after the options (so a changed option is the key named) */
    mkt_ckpt_config_int(cfg, "users", e->users);
    mkt_ckpt_config_int(cfg, "features", e->d);
    mkt_ckpt_config_int(cfg, "train_examples", n[0]);
    mkt_ckpt_config_int(cfg, "validation_examples", n[1]);
    mkt_ckpt_config_int(cfg, "positives", n[2]);
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
    c.seed = o->seed;
    c.stage = o->progress ? STAGE_TRAIN : NULL;

    int64_t end = store_end_ts(o->store, comm);
    int64_t cutoff = o->has_cutoff ? o->cutoff_ts : end - o->horizon_days * DAY;
    if (cutoff + o->horizon_days * DAY > end)
        mkt_log(STAGE_TRAIN, "warning: cutoff + horizon is past the end of the log: labels see only %lld days",
                (long long)((end - cutoff) / DAY));
    const char *group = group_name(o);
    int computed = ensure_features(o->store, group, cutoff, o->progress, comm, metrics);
    double t_features = mkt_now();
    examples e;
    load_examples(o->store, group, cutoff, o->horizon_days, o->seed, o->valid_fraction, NULL, NULL, &e, comm);
    log_examples(STAGE_TRAIN, &e, cutoff, o->horizon_days, comm);
    ctx.mlp.inputs = e.d;
    mkt_dp_model m = make_model(&ctx);
    double *params = mkt_xcalloc((size_t)m.nparams, sizeof(double));
    if (ctx.mlp.hidden > 0)
        mkt_mlp_init_params(&ctx.mlp, o->seed, params);
    mkt_dp_data train = {e.xt, e.yt, e.nt, e.d}, valid = {e.xv, e.yv, e.nv, e.d};
    json_t *history = json_array();

    /* checkpoints: resume when asked and a matching one exists */
    mkt_ckpt ck;
    mkt_ckpt_init(&ck, STAGE_TRAIN, o->checkpoint, o->out, "propensity", o->checkpoint_every, o->resume);
    mkt_ckpt_config cfg;
    train_config(o, &ctx, &c, &e, group, cutoff, m.nparams, &cfg, comm);
    mkt_ckpt_signals_install();
    int start = 0;
    mkt_dp_state saved;
    memset(&saved, 0, sizeof saved);
    hid_t cf = mkt_ckpt_open_resume(&ck, "propensity", &cfg, &start, comm);
    if (cf >= 0) {
        if (start > o->epochs)
            mkt_fail_all(MKT_EXIT_USAGE, "checkpoint %s is at epoch %d, past --epochs %d", ck.path, start, o->epochs);
        mkt_dp_state_alloc(&saved, m.nparams, c.optimizer == MKT_DP_LBFGS ? c.lbfgs_memory : 0);
        read_state(cf, ck.path, &saved, history);
        mkt_h5_close(cf);
        if (saved.epoch != start)
            mkt_fail_all(MKT_EXIT_ERROR, "checkpoint %s: state is at epoch %d, file says %d (corrupt); delete it",
                         ck.path, saved.epoch, start);
        c.resume = &saved;
    }
    ckpt_hook hook = {&ck, &cfg, history, comm, 0};
    c.after_epoch = epoch_hook;
    c.hook_arg = &hook;
    if (metrics) {
        mkt_metrics_set_str(metrics, "checkpoint", ck.path);
        mkt_metrics_set_int(metrics, "resumed_from_epoch", start);
    }

    mkt_dp_result res;
    mkt_dp_train(&m, &c, &train, &valid, params, &res, history, comm);
    if (c.resume)
        mkt_dp_state_free(&saved);
    if (metrics)
        mkt_metrics_set_int(metrics, "checkpoints_written", ck.written);
    if (res.stopped) {
        if (metrics)
            mkt_metrics_set_int(metrics, "preempted_at_epoch", hook.stopped);
        mkt_ckpt_preempted(&ck, hook.stopped);
        json_decref(history);
        mkt_ckpt_config_free(&cfg);
        mkt_ckpt_free(&ck);
        free(params);
        examples_free(&e);
        return MKT_EXIT_PREEMPTED;
    }

    /* held-out quality of the kept parameters (identical on every rank) */
    double *vp;
    int *vy;
    int64_t vn;
    mkt_dp_predict_all(&m, params, &valid, &vp, &vy, &vn, comm);
    json_t *vm = json_object();
    quality_metrics(vm, vp, vy, vn);
    double auc = mkt_auc(vp, vy, vn), ll = mkt_log_loss(vp, vy, vn);
    /* held-out labels as int8 for the model file (vp, vy are in global user order) */
    int8_t *vlabel = mkt_xmalloc((size_t)(vn + 1));
    for (int64_t i = 0; i < vn; i++)
        vlabel[i] = (int8_t)(vy[i] != 0);

    /* the model file: a temporary group moved into place when complete */
    double t_write = mkt_now();
    mkt_model_writer w;
    mkt_model_begin(&w, o->out, MODEL_GROUP, comm);
    hid_t f = w.file;
    const char *g = w.group;
    char path[600];
#define P(name) (snprintf(path, sizeof path, "%s/%s", g, name), path)
    mkt_h5_write_small(f, P("params"), H5T_NATIVE_DOUBLE, params, m.nparams, 0, comm);
    mkt_h5_write_small(f, P("feature_mean"), H5T_NATIVE_DOUBLE, e.mean, e.d, 0, comm);
    mkt_h5_write_small(f, P("feature_std"), H5T_NATIVE_DOUBLE, e.std, e.d, 0, comm);
    mkt_h5_write_strings(f, P("feature_names"), e.names, mkt_rank() == 0 ? e.d : 0, comm);
    mkt_h5_write_small(f, P("validation_score"), H5T_NATIVE_DOUBLE, vp, vn, 0, comm);
    mkt_h5_write_small(f, P("validation_label"), H5T_NATIVE_INT8, vlabel, vn, 0, comm);
#undef P
    mkt_h5_attr_set_string(f, g, "model", ctx.mlp.hidden ? "mlp" : "logistic");
    mkt_h5_attr_set_int(f, g, "hidden_layers", ctx.mlp.hidden);
    for (int l = 0; l < ctx.mlp.hidden; l++) {
        char name[32];
        snprintf(name, sizeof name, "hidden_%d", l + 1);
        mkt_h5_attr_set_int(f, g, name, ctx.mlp.sizes[l]);
    }
    mkt_h5_attr_set_int(f, g, "inputs", e.d);
    mkt_h5_attr_set_string(f, g, "optimizer", o->optimizer);
    mkt_h5_attr_set_int(f, g, "horizon_days", o->horizon_days);
    mkt_h5_attr_set_int(f, g, "cutoff_ts", cutoff);
    mkt_h5_attr_set_int(f, g, "seed", (int64_t)o->seed);
    mkt_h5_attr_set_double(f, g, "valid_fraction", o->valid_fraction);
    mkt_h5_attr_set_double(f, g, "l2", o->l2);
    mkt_h5_attr_set_double(f, g, "lr", o->lr);
    mkt_h5_attr_set_double(f, g, "pos_weight", o->pos_weight);
    mkt_h5_attr_set_int(f, g, "epochs_run", res.epochs_run);
    mkt_h5_attr_set_int(f, g, "best_epoch", res.best_epoch);
    mkt_h5_attr_set_string(f, g, "features_group", group);
    mkt_h5_attr_set_double(f, g, "val_auc", auc);
    mkt_h5_attr_set_double(f, g, "val_log_loss", ll);
    mkt_h5_attr_set_int(f, g, "schema_version", MKT_SCHEMA_VERSION);
    mkt_model_end(&w, comm);
    mkt_ckpt_remove(&ck, comm);
    free(vp);
    free(vy);
    free(vlabel);
    double t_end = mkt_now();
    mkt_log(STAGE_TRAIN, "held-out AUC %.4f, log loss %.5f; model %s:%s (%.1fs)", auc, ll, o->out, MODEL_GROUP,
            t_end - t0);

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
        int64_t c3[2] = {e.nt, e.nv};
        MKT_MPI(MPI_Allreduce(MPI_IN_PLACE, c3, 2, MPI_INT64_T, MPI_SUM, comm));
        mkt_metrics_set_int(metrics, "train_examples", c3[0]);
        mkt_metrics_set_int(metrics, "validation_examples", c3[1]);
        mkt_metrics_set_int(metrics, "epochs_run", res.epochs_run);
        mkt_metrics_set_int(metrics, "best_epoch", res.best_epoch);
        mkt_metrics_set_real(metrics, "train_loss", res.train_loss);
        mkt_metrics_set_real(metrics, "examples_per_second", res.examples_per_second);
        json_object_set_new(metrics, "validation", vm);
        vm = NULL;
        json_object_set_new(metrics, "history", history);
        history = NULL;
        mkt_metrics_set_real(metrics, "seconds_features", t_features - t0);
        mkt_metrics_set_real(metrics, "seconds_train", res.seconds);
        mkt_metrics_set_real(metrics, "seconds_write", t_end - t_write);
        mkt_metrics_set_real(metrics, "seconds_total", t_end - t0);
        mkt_metrics_set_str(metrics, "out", o->out);
    } else {
        MKT_MPI(MPI_Barrier(comm));
    }
    json_decref(vm);
    json_decref(history);
    free(params);
    examples_free(&e);
    mkt_ckpt_config_free(&cfg);
    mkt_ckpt_free(&ck);
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
    uint64_t seed = (uint64_t)mkt_h5_attr_get_int(f, MODEL_GROUP, "seed", 1);
    double vf = mkt_h5_attr_get_double(f, MODEL_GROUP, "valid_fraction", 0.2);
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

    const char *group = group_name(o);
    ensure_features(o->store, group, cutoff, o->progress, comm, metrics);
    examples e;
    load_examples(o->store, group, cutoff, horizon, seed, vf, mean, std, &e, comm);
    if (e.d != ctx.mlp.inputs)
        mkt_fail_all(MKT_EXIT_ERROR, "%s: the model has %d inputs but %s has %d features", o->model_path,
                     ctx.mlp.inputs, group, e.d);
    log_examples(STAGE_EVAL, &e, cutoff, horizon, comm);
    mkt_dp_data valid = {e.xv, e.yv, e.nv, e.d};
    double *vp;
    int *vy;
    int64_t vn;
    mkt_dp_predict_all(&m, params, &valid, &vp, &vy, &vn, comm);
    double auc = mkt_auc(vp, vy, vn), ll = mkt_log_loss(vp, vy, vn), ece = mkt_ece(vp, vy, vn, NULL);
    mkt_lift_table lt;
    mkt_lift_by_decile(vp, vy, vn, &lt);
    mkt_log(STAGE_EVAL, "held-out users %lld: AUC %.4f, log loss %.5f, ECE %.4f, top-decile lift %.2f",
            (long long)vn, auc, ll, ece, lt.lift[0]);
    if (metrics) {
        mkt_metrics_set_str(metrics, "model", ctx.mlp.hidden ? "mlp" : "logistic");
        mkt_metrics_set_int(metrics, "cutoff_ts", cutoff);
        mkt_metrics_set_int(metrics, "horizon_days", horizon);
        mkt_metrics_set_str(metrics, "features_group", group);
        json_t *vm = mkt_metrics_child(metrics, "validation");
        quality_metrics(vm, vp, vy, vn);
        mkt_metrics_set_real(metrics, "seconds_total", mkt_now() - t0);
    }
    free(vp);
    free(vy);
    free(params);
    free(mean);
    free(std);
    examples_free(&e);
    return MKT_EXIT_OK;
}
