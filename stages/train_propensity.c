/* train_propensity.c — `mkt train propensity`: the options' checks, the
 * driver of a run (examples, l2 choice, data-parallel training with
 * checkpoints, the /models/propensity file, the metrics JSON); see
 * train_propensity.h and docs/propensity.md.
 *
 * Owns: the usage checks, --l2 auto (the penalty grid and its choice by
 * validation log loss), the /models/propensity attributes of target user,
 * model gbdt's place in the run (its fit is propensity_gbdt.c),
 * the differential-privacy accounting.  The examples live in
 * propensity_examples.c, the models and checkpoints in propensity_model.c,
 * target user_item in propensity_item.c, eval and the held-out metrics in
 * eval_propensity.c.  Must not: define models or optimizers, parse command
 * lines, or let anything written to the model depend on the rank count (no
 * timings in the model file; timings go to the metrics only). */
#include "train_propensity.h"
#include "propensity_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iocheck.h"
#include "dp.h"
#include "metrics.h"
#include "metrics_json.h"
#include "mkt_types.h"

void mkt_propensity_options_init(mkt_propensity_options *o)
{
    memset(o, 0, sizeof *o);
    o->cutoff_ts = MKT_PROPENSITY_NO_CUTOFF;
    o->progress = 1;
    o->checkpoint_every = MKT_CKPT_EVERY_DEFAULT;
    mkt_propensity_config_defaults(&o->config);
}

static void train_config(const mkt_propensity_options *o, const model_ctx *ctx, const mkt_dp_config *c,
                         const examples *e, const char *group, int64_t cutoff, int64_t nparams,
                         mkt_ckpt_config *cfg, MPI_Comm comm)
{
    prop_options_config(o, ctx, c, "propensity-4", group, cutoff, nparams, cfg);
    prop_ckpt_data_keys(e, cfg, comm);
}

/* Collective. The checkpoint keys of the data (after the options, so a
 * changed option is the key a refused checkpoint names): users, features
 * and the global example counts. */
void prop_ckpt_data_keys(const examples *e, mkt_ckpt_config *cfg, MPI_Comm comm)
{
    int64_t n[4] = {e->nt, e->nv, e->ns, e->positives_local};
    MKT_MPI(MPI_Allreduce(MPI_IN_PLACE, n, 4, MPI_INT64_T, MPI_SUM, comm));
    mkt_ckpt_config_int(cfg, "users", e->users);
    mkt_ckpt_config_int(cfg, "features", e->d);
    mkt_ckpt_config_int(cfg, "train_examples", n[0]);
    mkt_ckpt_config_int(cfg, "validation_examples", n[1]);
    mkt_ckpt_config_int(cfg, "test_examples", n[2]);
    mkt_ckpt_config_int(cfg, "positives", n[3]);
}

/* The split's fractions and what the fit did (both targets). */
void prop_split_fit_metrics(json_t *metrics, const mkt_propensity_config *p, const mkt_dp_result *res)
{
    mkt_metrics_set_real(metrics, "valid_fraction", p->valid_fraction);
    mkt_metrics_set_real(metrics, "test_fraction", p->test_fraction);
    mkt_metrics_set_int(metrics, "epochs_run", res->epochs_run);
    mkt_metrics_set_int(metrics, "best_epoch", res->best_epoch);
    mkt_metrics_set_real(metrics, "train_loss", res->train_loss);
    mkt_metrics_set_real(metrics, "examples_per_second", res->examples_per_second);
}

/* The metric a tuning command compares runs by: the validation rows' mean
 * log loss at the kept epoch (what early stopping minimized; null without
 * validation rows). */
void prop_selection_metrics(json_t *metrics, const mkt_dp_result *res)
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
double prop_resolve_l2(const mkt_propensity_options *o, const mkt_dp_model *m, const mkt_dp_config *c,
                         const double *init, const mkt_dp_data *train, const mkt_dp_data *valid, json_t *metrics,
                         MPI_Comm comm)
{
    if (!mkt_propensity_l2_auto(&o->config)) {
        if (metrics)
            mkt_metrics_set_str(metrics, "l2_mode", "fixed");
        return c->l2;
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
void prop_log_result(const char *stage, double auc, double ll, double base_ll, double rf_auc,
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

/* The options into ctx and c (the config is checked: only the paths can
 * still be missing); *stride: the windows' stride in days. */
static void check_options(const mkt_propensity_options *o, model_ctx *ctx, mkt_dp_config *c, int64_t *stride)
{
    const mkt_propensity_config *p = &o->config;
    const char *msg = mkt_propensity_check_config(p);
    if (msg)
        mkt_fail_all(MKT_EXIT_USAGE, "%s: %s", STAGE_TRAIN, msg);
    if (!o->store || !*o->store)
        mkt_fail_all(MKT_EXIT_USAGE, "train propensity: --store STORE.h5 is required");
    if (!o->out || !*o->out)
        mkt_fail_all(MKT_EXIT_USAGE, "train propensity: --out MODEL.h5 is required");
    memset(ctx, 0, sizeof *ctx);
    if (!strcmp(p->model, "mlp"))
        ctx->mlp.hidden = mkt_propensity_parse_hidden(p->hidden, ctx->mlp.sizes);
    mkt_dp_config_defaults(c);
    if (!strcmp(p->optimizer, "lbfgs"))
        c->optimizer = MKT_DP_LBFGS;
    else if (!strcmp(p->optimizer, "adam"))
        c->optimizer = MKT_DP_ADAM;
    else
        c->optimizer = MKT_DP_SGD;
    c->epochs = p->epochs;
    c->batch = p->batch;
    c->lr = p->lr;
    if (!mkt_propensity_l2_auto(p))
        c->l2 = mkt_propensity_l2_value(p);
    c->pos_weight = p->pos_weight;
    c->patience = p->patience;
    c->tol = p->tol;
    c->seed = p->seed;
    c->stage = o->progress ? STAGE_TRAIN : NULL;
    *stride = p->window_stride_days > 0 ? p->window_stride_days : p->horizon_days;
    ctx->dropout = p->dropout;
    ctx->seed = p->seed;
    if (p->dp) {
        c->dp = 1;
        c->dp_clip = p->dp_clip;
        c->dp_noise = p->dp_noise;
    }
}

/* One run of target user: what the steps below hand each other. */
typedef struct {
    model_ctx ctx;
    mkt_dp_config c;
    int64_t stride, cutoff;
    const char *group;
    int computed;
    examples e;
    json_t *windows, *history;
    mkt_dp_model m;
    double *params;
    unsigned char *unpen;
    mkt_dp_result res;
    ckpt_run cr;
    double epsilon, q; /* privacy spent */
    int order;
    int64_t steps;
    double *vp, *tp; /* the kept parameters on the validation and test users */
    int *vy, *ty;
    int64_t vn, tn;
    json_t *vm, *tm, *bm;
    double train_rate, rf_auc, base_ll, auc, ll;
    double t0, t_features, t_write, t_end;
    int gbdt;              /* model gbdt: forest instead of params */
    mkt_gbdt_model forest;
} user_run;

/* Collective. The cutoff, the features and the examples (with the windows
 * and the export when asked). */
static void user_examples(const mkt_propensity_options *o, user_run *r, json_t *metrics, MPI_Comm comm)
{
    int64_t end = prop_store_end_ts(o->store, comm);
    int64_t cutoff = o->cutoff_ts != MKT_PROPENSITY_NO_CUTOFF ? o->cutoff_ts : end - o->config.horizon_days * DAY;
    if (cutoff + o->config.horizon_days * DAY > end)
        mkt_log(STAGE_TRAIN, "warning: cutoff + horizon is past the end of the log: labels see only %lld days",
                (long long)((end - cutoff) / DAY));
    const char *group = prop_group_name(o);
    r->cutoff = cutoff;
    r->group = group;
    r->computed = prop_ensure_features(o->store, group, cutoff, o->progress, comm, metrics);
    r->t_features = mkt_now();
    examples *e = &r->e;
    prop_load_examples(o->store, group, cutoff, o->config.horizon_days, o->config.seed, o->config.test_fraction, o->config.valid_fraction, NULL,
                       NULL, 0, e, comm);
    prop_log_examples(STAGE_TRAIN, e, cutoff, o->config.horizon_days, comm);
    int64_t te[2];
    prop_count_global(e->ys, e->ns, te, comm);
    prop_require_test_rows(STAGE_TRAIN, "users", te[0], te[1], o->config.test_fraction, cutoff, o->config.horizon_days);
    r->windows = json_array();
    {
        int64_t tr[2], va[2];
        prop_count_global(e->yv, e->nv, va, comm);
        prop_count_global(e->yt, o->config.windows > 1 ? 0 : e->nt, tr, comm);
        json_array_append_new(r->windows, prop_window_json(0, cutoff, o->config.horizon_days, group,
                                                           o->config.windows > 1 ? "evaluate" : "train+evaluate", tr, va,
                                                           te));
    }
    if (o->config.windows > 1)
        prop_load_training_windows(o, group, cutoff, r->stride, e, r->windows, comm);
    if (o->export_prefix && *o->export_prefix) {
        char ep[1024];
        snprintf(ep, sizeof ep, "%s.train.svm", o->export_prefix);
        prop_export_libsvm(ep, e->xt, e->yt, e->nt, e->d, comm);
        snprintf(ep, sizeof ep, "%s.valid.svm", o->export_prefix);
        prop_export_libsvm(ep, e->xv, e->yv, e->nv, e->d, comm);
        snprintf(ep, sizeof ep, "%s.test.svm", o->export_prefix);
        prop_export_libsvm(ep, e->xs, e->ys, e->ns, e->d, comm);
        mkt_log(STAGE_TRAIN, "exported the examples to %s.train.svm, %s.valid.svm and %s.test.svm", o->export_prefix,
                o->export_prefix, o->export_prefix);
    }
}

/* Collective. The model, l2, checkpoints and the fit; 1 when a signal
 * stopped it (everything of r is then freed). */
static int user_fit(const mkt_propensity_options *o, user_run *r, json_t *metrics, MPI_Comm comm)
{
    examples *e = &r->e;
    r->ctx.mlp.inputs = e->d;
    r->m = prop_make_model(&r->ctx);
    r->params = mkt_xcalloc((size_t)r->m.nparams, sizeof(double));
    if (r->ctx.mlp.hidden > 0)
        mkt_mlp_init_params(&r->ctx.mlp, o->config.seed, r->params);
    mkt_dp_data train = {e->xt, e->yt, e->nt, e->d}, valid = {e->xv, e->yv, e->nv, e->d};
    r->unpen = prop_intercepts(&r->ctx, r->m.nparams);
    r->c.unpenalized = r->unpen;
    r->c.l2 = prop_resolve_l2(o, &r->m, &r->c, r->params, &train, &valid, metrics, comm);
    r->history = json_array();

    /* checkpoints: resume when asked and a matching one exists */
    mkt_ckpt_init(&r->cr.ck, STAGE_TRAIN, o->checkpoint, o->out, "propensity", o->checkpoint_every, o->resume);
    train_config(o, &r->ctx, &r->c, e, r->group, r->cutoff, r->m.nparams, &r->cr.cfg, comm);
    prop_ckpt_attach(&r->cr, r->m.nparams, &r->c, r->history, metrics, comm);

    mkt_dp_train(&r->m, &r->c, &train, &valid, r->params, &r->res, r->history ? prop_history_append : NULL,
                 r->history, comm);
    if (prop_ckpt_detach(&r->cr, &r->c, &r->res, metrics)) {
        json_decref(r->history);
        json_decref(r->windows);
        mkt_ckpt_config_free(&r->cr.cfg);
        mkt_ckpt_free(&r->cr.ck);
        free(r->params);
        free(r->unpen);
        prop_examples_free(e);
        return 1;
    }
    return 0;
}

/* Collective. Model gbdt: the boosted forest (propensity_gbdt.c) behind
 * the prediction interface; 1 when a signal stopped it (r is then freed). */
static int user_fit_gbdt(const mkt_propensity_options *o, user_run *r, json_t *metrics, MPI_Comm comm)
{
    r->history = json_array();
    if (prop_gbdt_fit(o, &r->e, "propensity", r->group, r->cutoff, &r->cr, &r->forest, &r->res, r->history,
                      metrics, comm)) {
        json_decref(r->history);
        json_decref(r->windows);
        mkt_ckpt_config_free(&r->cr.cfg);
        mkt_ckpt_free(&r->cr.ck);
        prop_examples_free(&r->e);
        return 1;
    }
    r->m = prop_forest_model(&r->forest);
    return 0;
}

/* privacy spent: every step of every epoch run (the kept parameters may be
 * an earlier epoch's, but the later steps were released to the run too) */
static void user_privacy(const mkt_propensity_options *o, user_run *r)
{
    const mkt_dp_config *c = &r->c;
    const mkt_dp_result *res = &r->res;
    r->epsilon = NAN;
    r->q = NAN;
    r->order = 0;
    r->steps = 0;
    if (c->dp) {
        r->q = res->train_examples > 0 ? (double)(c->batch < res->train_examples ? c->batch : res->train_examples) /
                                             (double)res->train_examples
                                       : 1.0;
        r->steps = res->steps_per_epoch * res->epochs_run;
        r->epsilon = mkt_rdp_epsilon(r->q, c->dp_noise, r->steps, o->config.dp_delta, &r->order);
        mkt_log(STAGE_TRAIN, "differential privacy: (epsilon %.4g, delta %g) after %lld steps at sampling rate %.4g, "
                             "noise multiplier %g, clip %g (RDP order %d)",
                r->epsilon, o->config.dp_delta, (long long)r->steps, r->q, c->dp_noise, c->dp_clip, r->order);
    }
}

/* Collective. The kept parameters on the validation users (what selected
 * them) and on the test users (the report), beside the baselines; identical
 * on every rank, in global user order. */
static void user_evaluate(user_run *r, MPI_Comm comm)
{
    examples *e = &r->e;
    mkt_dp_data valid = {e->xv, e->yv, e->nv, e->d}, test = {e->xs, e->ys, e->ns, e->d};
    int64_t rn;
    mkt_dp_predict_all(&r->m, r->params, &valid, &r->vp, &r->vy, &r->vn, comm);
    mkt_dp_predict_all(&r->m, r->params, &test, &r->tp, &r->ty, &r->tn, comm);
    r->vm = json_object();
    r->tm = json_object();
    r->bm = json_object();
    if (r->vn > 0)
        prop_quality_metrics(r->vm, r->vp, r->vy, r->vn);
    prop_quality_metrics(r->tm, r->tp, r->ty, r->tn);
    int64_t trc[2];
    prop_count_global(e->yt, e->nt, trc, comm);
    r->train_rate = trc[0] > 0 ? (double)trc[1] / (double)trc[0] : NAN;
    double *rs = prop_gather_doubles(e->rs, e->ns, &rn, comm);
    prop_baseline_metrics(r->bm, r->train_rate, r->ty, rs, RF_RULE_USER, r->tn, &r->rf_auc, &r->base_ll);
    free(rs);
    if (r->gbdt) /* the dp trainer reports it for the other models */
        r->res.val_auc = r->vn > 0 ? mkt_auc(r->vp, r->vy, r->vn) : NAN;
    r->auc = mkt_auc(r->tp, r->ty, r->tn);
    r->ll = mkt_log_loss(r->tp, r->ty, r->tn);
}

/* Collective. The model file: a temporary group moved into place when complete. */
static void user_write_model(const mkt_propensity_options *o, const user_run *r, MPI_Comm comm)
{
    const examples *e = &r->e;
    const mkt_dp_config *c = &r->c;
    int8_t *tlabel = mkt_xmalloc((size_t)(r->tn + 1));
    for (int64_t i = 0; i < r->tn; i++)
        tlabel[i] = (int8_t)(r->ty[i] != 0);
    mkt_model_writer w;
    mkt_model_begin(&w, o->out, MODEL_GROUP, comm);
    hid_t f = w.file;
    const char *g = w.group;
    model_common mc = {r->params, e->mean,   e->std,    r->tp,  tlabel, e->names,      r->m.nparams, e->d,
                       r->tn,     r->cutoff, &r->res,   r->group, r->auc, r->ll,      r->train_rate, r->rf_auc,
                       r->gbdt ? &r->forest : NULL};
    prop_write_model_common(f, g, o, &r->ctx, &mc, c->l2, comm);
    if (r->gbdt)
        prop_gbdt_write_attrs(f, g, &o->config, &r->forest);
    mkt_h5_attr_set_double(f, g, "lr", o->config.lr);
    mkt_h5_attr_set_double(f, g, "pos_weight", o->config.pos_weight);
    mkt_h5_attr_set_int(f, g, "windows", o->config.windows);
    mkt_h5_attr_set_int(f, g, "window_stride_days", o->config.windows > 1 ? r->stride : 0);
    mkt_h5_attr_set_double(f, g, "dropout", o->config.dropout);
    mkt_h5_attr_set_int(f, g, "dp", c->dp);
    if (c->dp) {
        mkt_h5_attr_set_double(f, g, "dp_clip", c->dp_clip);
        mkt_h5_attr_set_double(f, g, "dp_noise", c->dp_noise);
        mkt_h5_attr_set_double(f, g, "dp_delta", o->config.dp_delta);
        mkt_h5_attr_set_double(f, g, "dp_epsilon", r->epsilon);
    }
    mkt_model_end(&w, comm);
    free(tlabel);
}

/* Collective. The metrics JSON of a target user run (the JSON parts of r
 * move into metrics). */
static void user_metrics(const mkt_propensity_options *o, user_run *r, json_t *metrics, MPI_Comm comm)
{
    const examples *e = &r->e;
    const mkt_dp_result *res = &r->res;
    mkt_metrics_set_str(metrics, "model", r->gbdt ? "gbdt" : r->ctx.mlp.hidden ? "mlp" : "logistic");
    if (!r->gbdt) {
        mkt_metrics_set_str(metrics, "optimizer", o->config.optimizer);
        mkt_metrics_set_int(metrics, "parameters", r->m.nparams);
    }
    mkt_metrics_set_int(metrics, "users", e->users);
    mkt_metrics_set_int(metrics, "features", e->d);
    mkt_metrics_set_int(metrics, "cutoff_ts", r->cutoff);
    mkt_metrics_set_int(metrics, "horizon_days", o->config.horizon_days);
    mkt_metrics_set_str(metrics, "features_group", r->group);
    mkt_metrics_set_int(metrics, "features_computed", r->computed);
    int64_t c3[3] = {e->nt, e->nv, e->ns};
    MKT_MPI(MPI_Allreduce(MPI_IN_PLACE, c3, 3, MPI_INT64_T, MPI_SUM, comm));
    mkt_metrics_set_int(metrics, "train_examples", c3[0]);
    mkt_metrics_set_int(metrics, "validation_examples", c3[1]);
    mkt_metrics_set_int(metrics, "test_examples", c3[2]);
    prop_split_fit_metrics(metrics, &o->config, res);
    if (r->vn > 0) {
        json_object_set_new(metrics, "validation", r->vm);
        r->vm = NULL;
    }
    json_object_set_new(metrics, "test", r->tm);
    r->tm = NULL;
    json_object_set_new(metrics, "baseline", r->bm);
    r->bm = NULL;
    prop_selection_metrics(metrics, res);
    json_object_set_new(metrics, "history", r->history);
    r->history = NULL;
    mkt_metrics_set_int(metrics, "windows_count", o->config.windows);
    json_object_set_new(metrics, "windows", r->windows);
    r->windows = NULL;
    mkt_metrics_set_real(metrics, "dropout", o->config.dropout);
    if (r->c.dp) {
        json_t *dp = mkt_metrics_child(metrics, "dp");
        mkt_metrics_set_real(dp, "clip", r->c.dp_clip);
        mkt_metrics_set_real(dp, "noise_multiplier", r->c.dp_noise);
        mkt_metrics_set_real(dp, "delta", o->config.dp_delta);
        json_object_set_new(dp, "epsilon", isfinite(r->epsilon) ? json_real(r->epsilon) : json_null());
        mkt_metrics_set_int(dp, "rdp_order", r->order);
        mkt_metrics_set_int(dp, "steps", r->steps);
        mkt_metrics_set_real(dp, "sampling_rate", r->q);
    }
    mkt_metrics_set_real(metrics, "seconds_features", r->t_features - r->t0);
    mkt_metrics_set_real(metrics, "seconds_train", res->seconds);
    mkt_metrics_set_real(metrics, "seconds_train_validation", res->seconds_validation);
    if (r->c.optimizer == MKT_DP_LBFGS && !r->gbdt) {
        mkt_metrics_set_int(metrics, "lbfgs_evaluations", res->evaluations);
        mkt_metrics_set_int(metrics, "converged", res->converged);
    }
    mkt_metrics_set_real(metrics, "seconds_write", r->t_end - r->t_write);
    mkt_metrics_set_real(metrics, "seconds_total", r->t_end - r->t0);
    mkt_metrics_set_str(metrics, "out", o->out);
}

/* Collective. The end of a run whose model is written (both targets): a
 * signal after the last epoch means the model is complete, but the job was
 * asked to stop, so it says so with the preemption status. */
int prop_finish_run(const mkt_propensity_options *o, MPI_Comm comm)
{
    int late = mkt_ckpt_agree_signal(comm);
    mkt_ckpt_signals_restore();
    if (late) {
        mkt_log(STAGE_TRAIN, "preempted after the last epoch: the model %s is complete; nothing to resume", o->out);
        return MKT_EXIT_PREEMPTED;
    }
    return MKT_EXIT_OK;
}

int mkt_propensity_train(const mkt_propensity_options *o, MPI_Comm comm, json_t *metrics)
{
    user_run r;
    memset(&r, 0, sizeof r);
    r.t0 = mkt_now();
    check_options(o, &r.ctx, &r.c, &r.stride);
    if (o->config.target && !strcmp(o->config.target, "user_item"))
        return prop_train_user_item(o, &r.ctx, &r.c, comm, metrics);

    r.gbdt = !strcmp(o->config.model, "gbdt");
    user_examples(o, &r, metrics, comm);
    if (r.gbdt ? user_fit_gbdt(o, &r, metrics, comm) : user_fit(o, &r, metrics, comm))
        return MKT_EXIT_PREEMPTED;
    user_privacy(o, &r);
    user_evaluate(&r, comm);
    r.t_write = mkt_now();
    user_write_model(o, &r, comm);
    mkt_ckpt_remove(&r.cr.ck, comm);
    free(r.vp);
    free(r.vy);
    free(r.tp);
    free(r.ty);
    r.t_end = mkt_now();
    prop_log_result(STAGE_TRAIN, r.auc, r.ll, r.base_ll, r.rf_auc, &r.res, o->out, MODEL_GROUP, r.t_end - r.t0);
    if (metrics)
        user_metrics(o, &r, metrics, comm);
    else
        MKT_MPI(MPI_Barrier(comm));
    json_decref(r.vm);
    json_decref(r.tm);
    json_decref(r.bm);
    json_decref(r.history);
    json_decref(r.windows);
    free(r.params);
    free(r.unpen);
    if (r.gbdt)
        mkt_gbdt_model_free(&r.forest);
    prop_examples_free(&r.e);
    mkt_ckpt_config_free(&r.cr.cfg);
    mkt_ckpt_free(&r.cr.ck);
    return prop_finish_run(o, comm);
}
