/* propensity_model.c — the propensity models behind mkt_dp_train's
 * interface (logistic regression and the MLP with dropout, their unpenalized
 * intercepts; a boosted forest's margin for prediction), the per-epoch history, the checkpoint of a training run
 * (docs/checkpoints.md) and what both model groups (/models/propensity,
 * /models/propensity_item) hold.  Must not: define the models' arithmetic
 * (src/linmodel.c, src/mlp.c) or the optimizers (mpi/dptrain.c), or write
 * anything to a model that depends on the rank count. */
#include "propensity_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iocheck.h"
#include "linmodel.h"
#include "metrics_json.h"
#include "model_io.h"

/* mkt_dp_train's history callback: one JSON object per epoch appended to the
 * array ctx (the metrics' "history"). */
void prop_history_append(const mkt_dp_epoch *e, void *ctx)
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

/* [nparams]: 1 for the prop_intercepts (the logistic bias, every MLP layer's
 * biases), which L2 leaves alone.  A penalized intercept pulls every
 * probability toward 1/2 as l2 grows, so the validation log loss would
 * prefer the smallest l2 whatever the weights need. */
unsigned char *prop_intercepts(const model_ctx *ctx, int64_t nparams)
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

static double forest_logit(const void *ctx, const double *p, const double *x, double *w)
{
    (void)p;
    (void)w;
    return mkt_gbdt_margin(ctx, x);
}

mkt_dp_model prop_forest_model(const mkt_gbdt_model *forest)
{
    mkt_dp_model m;
    memset(&m, 0, sizeof m);
    m.ctx = forest;
    m.work_doubles = 1;
    m.block_work_doubles = 1;
    m.logit = forest_logit;
    return m;
}

mkt_dp_model prop_make_model(const model_ctx *ctx)
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

/* ---------- checkpoints (docs/checkpoints.md) ---------- */

/* The optimizer state's scalars, stored as two small double arrays (exact:
 * the counters stay far below 2^53; NaN and infinity survive). */
enum { SD_F, SD_BEST_VAL, SD_TRAIN_LOSS, SD_VAL_LOSS, SD_VAL_AUC, SD_GNORM0, SD_N };
enum { SI_EPOCH, SI_SINCE_BEST, SI_ADAM_T, SI_EXAMPLES, SI_COUNT, SI_HEAD, SI_EPOCHS_RUN, SI_BEST_EPOCH, SI_N };


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


/* Collective. Resumes from a checkpoint matching r->cfg when asked (the
 * state goes to c->resume) and hooks periodic checkpoints and the signals
 * into c.  r->ck and r->cfg are set up by the caller. */
void prop_ckpt_attach(ckpt_run *r, int64_t nparams, mkt_dp_config *c, json_t *history, json_t *metrics,
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
int prop_ckpt_detach(ckpt_run *r, const mkt_dp_config *c, const mkt_dp_result *res, json_t *metrics)
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

void prop_write_model_common(hid_t f, const char *g, const mkt_propensity_options *o, const model_ctx *ctx,
                               const model_common *c, double l2, MPI_Comm comm)
{
    mkt_propensity_save_args a = {.model = {.net = ctx->mlp, .nparams = c->nparams,
                                            .horizon_days = o->config.horizon_days},
                                  .params = c->params,
                                  .feature_mean = c->mean,
                                  .feature_std = c->std,
                                  .feature_names = c->names,
                                  .features_group = c->features_group,
                                  .forest = c->forest};
    a.model.net.inputs = (int)c->d;
    mkt_propensity_save(f, g, &a, comm);
    char path[600];
#define P(name) (snprintf(path, sizeof path, "%s/%s", g, name), path)
    mkt_h5_write_small(f, P("test_score"), H5T_NATIVE_DOUBLE, c->sp, c->sn, 0, comm);
    mkt_h5_write_small(f, P("test_label"), H5T_NATIVE_INT8, c->slabel, c->sn, 0, comm);
#undef P
    mkt_h5_attr_set_string(f, g, "optimizer", o->config.optimizer);
    mkt_h5_attr_set_int(f, g, "cutoff_ts", c->cutoff);
    mkt_h5_attr_set_int(f, g, "seed", (int64_t)o->config.seed);
    mkt_h5_attr_set_double(f, g, "valid_fraction", o->config.valid_fraction);
    mkt_h5_attr_set_double(f, g, "test_fraction", o->config.test_fraction);
    mkt_h5_attr_set_double(f, g, "l2", l2);
    mkt_h5_attr_set_int(f, g, "l2_auto", mkt_propensity_l2_auto(&o->config));
    mkt_h5_attr_set_int(f, g, "epochs_run", c->res->epochs_run);
    mkt_h5_attr_set_int(f, g, "best_epoch", c->res->best_epoch);
    mkt_h5_attr_set_double(f, g, "val_auc", c->res->val_auc);
    mkt_h5_attr_set_double(f, g, "val_log_loss", c->res->val_loss);
    mkt_h5_attr_set_double(f, g, "test_auc", c->auc);
    mkt_h5_attr_set_double(f, g, "test_log_loss", c->ll);
    mkt_h5_attr_set_double(f, g, "train_positive_rate", c->train_rate);
    mkt_h5_attr_set_double(f, g, "baseline_rf_auc", c->rf_auc);
}

/* Everything the trained weights depend on (epochs may differ on resume). */
void prop_options_config(const mkt_propensity_options *o, const model_ctx *ctx, const mkt_dp_config *c,
                           const char *layout, const char *group, int64_t cutoff, int64_t nparams,
                           mkt_ckpt_config *cfg)
{
    mkt_ckpt_config_init(cfg);
    mkt_ckpt_config_str(cfg, "state_layout", layout);
    mkt_ckpt_config_path(cfg, "store", o->store);
    mkt_ckpt_config_str(cfg, "features_group", group);
    mkt_ckpt_config_int(cfg, "cutoff_ts", cutoff);
    mkt_ckpt_config_int(cfg, "horizon_days", o->config.horizon_days);
    mkt_ckpt_config_str(cfg, "model", ctx->mlp.hidden ? "mlp" : "logistic");
    char hidden[64] = "";
    for (int l = 0; l < ctx->mlp.hidden; l++)
        snprintf(hidden + strlen(hidden), sizeof hidden - strlen(hidden), "%s%d", l ? "," : "", ctx->mlp.sizes[l]);
    mkt_ckpt_config_str(cfg, "hidden", hidden);
    mkt_ckpt_config_int(cfg, "parameters", nparams);
    mkt_ckpt_config_str(cfg, "optimizer", o->config.optimizer);
    mkt_ckpt_config_int(cfg, "batch", c->batch);
    mkt_ckpt_config_double(cfg, "lr", c->lr);
    /* the option, not the value auto chose: that follows from the data, which
     * the keys after the options name when they differ */
    if (mkt_propensity_l2_auto(&o->config))
        mkt_ckpt_config_str(cfg, "l2", "auto");
    else
        mkt_ckpt_config_double(cfg, "l2", c->l2);
    mkt_ckpt_config_double(cfg, "pos_weight", c->pos_weight);
    mkt_ckpt_config_double(cfg, "valid_fraction", o->config.valid_fraction);
    mkt_ckpt_config_double(cfg, "test_fraction", o->config.test_fraction);
    mkt_ckpt_config_int(cfg, "patience", c->patience);
    mkt_ckpt_config_int(cfg, "lbfgs_memory", c->lbfgs_memory);
    mkt_ckpt_config_int(cfg, "seed", (int64_t)o->config.seed);
    mkt_ckpt_config_int(cfg, "windows", o->config.windows);
    mkt_ckpt_config_int(cfg, "window_stride_days", o->config.windows > 1 ? o->config.window_stride_days : 0);
    mkt_ckpt_config_double(cfg, "dropout", ctx->dropout);
    mkt_ckpt_config_int(cfg, "dp", c->dp);
    mkt_ckpt_config_double(cfg, "dp_clip", c->dp ? c->dp_clip : 0);
    mkt_ckpt_config_double(cfg, "dp_noise", c->dp ? c->dp_noise : 0);
}
