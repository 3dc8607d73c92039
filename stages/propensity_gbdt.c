/* propensity_gbdt.c — `mkt train propensity --model gbdt`: gradient-boosted
 * trees (mpi/gbdt_train.c) on the same standardized examples, user split and
 * class weights as the other models, early stopping on the validation users,
 * the learning curve, feature importance by gain, and the checkpoint of a
 * boosting run (the forest so far and the trainer's counters;
 * docs/checkpoints.md, docs/trees.md), for both targets (user, user_item).
 *
 * Owns the run's checkpoint keys and state, the trees' metrics and model
 * attributes.  Must not: define the trees' arithmetic or training (src/gbdt.c,
 * mpi/gbdt_train.c) or the forest's layout in a file (io/forest_io.c), or
 * let anything written to the model depend on the rank count. */
#include "propensity_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forest_io.h"
#include "gbdt_train.h"
#include "iocheck.h"
#include "metrics_json.h"
#include "mkt_types.h"

#define STATE_GROUP "state" /* the checkpoint's forest: state/forest */
enum { GS_ROUNDS, GS_BEST_ROUND, GS_BEST_VAL, GS_SINCE_BEST, GS_N };

typedef struct {
    mkt_ckpt *ck;
    const char *kind; /* "propensity" or "propensity_item" */
    const mkt_ckpt_config *cfg;
    json_t *history;
    int rounds; /* --rounds */
    int stopped;
    MPI_Comm comm;
} gbdt_hook;

/* mkt_gbdt_train's history callback: one JSON object per round. */
static void history_append(const mkt_gbdt_round *r, void *ctx)
{
    json_t *o = json_object();
    json_object_set_new(o, "round", json_integer(r->round));
    json_object_set_new(o, "train_loss", isfinite(r->train_loss) ? json_real(r->train_loss) : json_null());
    json_object_set_new(o, "val_loss", isfinite(r->val_loss) ? json_real(r->val_loss) : json_null());
    json_object_set_new(o, "seconds", json_real(r->seconds));
    json_array_append_new((json_t *)ctx, o);
}

/* Collective. The state mkt_gbdt_train continues from with the same bits. */
static void write_state(gbdt_hook *h, const mkt_gbdt_state *st)
{
    mkt_h5out w;
    hid_t f = mkt_ckpt_begin(h->ck, &w, h->kind, st->rounds, h->cfg, h->comm);
    mkt_forest_write(f, STATE_GROUP, st->model, h->comm);
    double s[GS_N] = {st->rounds, st->best_round, st->best_val, st->since_best};
    mkt_ckpt_write_full(f, "gbdt_counters", s, GS_N, 0, h->comm);
    mkt_ckpt_write_json(f, "history", h->history, h->comm);
    mkt_ckpt_commit(h->ck, &w);
    mkt_log_detail(STAGE_TRAIN, "checkpoint %s written at round %d", h->ck->path, st->rounds);
}

static int round_hook(void *arg, const mkt_gbdt_state *st)
{
    gbdt_hook *h = arg;
    int act = mkt_ckpt_step(h->ck, st->rounds, h->rounds, h->comm);
    if (act != MKT_CKPT_CONTINUE)
        write_state(h, st);
    if (act == MKT_CKPT_STOP) {
        h->stopped = st->rounds;
        return 1;
    }
    return 0;
}

/* Collective. The state of checkpoint cf (at round `start`), checked: the
 * forest by forest_io, the counters against it. */
static void read_state(hid_t cf, const char *path, int start, int d, mkt_gbdt_model *m, mkt_gbdt_state *st,
                       json_t *history)
{
    char why[512];
    if (mkt_forest_read(cf, path, STATE_GROUP, d, m, why, sizeof why))
        mkt_fail_all(MKT_EXIT_ERROR, "checkpoint %s: %s (corrupt); delete it", path, why);
    double s[GS_N];
    mkt_ckpt_read_full(cf, path, "gbdt_counters", s, GS_N, 0);
    memset(st, 0, sizeof *st);
    st->model = m;
    st->rounds = (int)s[GS_ROUNDS];
    st->best_round = (int)s[GS_BEST_ROUND];
    st->best_val = s[GS_BEST_VAL];
    st->since_best = (int)s[GS_SINCE_BEST];
    if (st->rounds != start || m->trees != start || m->loss != MKT_GBDT_LOGISTIC || st->best_round < 0 ||
        st->best_round > st->rounds || st->since_best < 0 || st->since_best > st->rounds || isnan(st->best_val))
        mkt_fail_all(MKT_EXIT_ERROR, "checkpoint %s: gbdt_counters do not match its forest of %d trees at round %d "
                     "(corrupt); delete it", path, m->trees, start);
    json_t *h = mkt_ckpt_read_json(cf, path, "history");
    if (!json_is_array(h) || (int)json_array_size(h) != start)
        mkt_fail_all(MKT_EXIT_ERROR, "checkpoint %s: history is not a list of %d rounds (corrupt); delete it", path,
                     start);
    json_array_extend(history, h);
    json_decref(h);
}

/* Everything the forest depends on (rounds may grow on resume, as epochs). */
static void ckpt_config(const mkt_propensity_options *o, const examples *e, int item, const char *group,
                        int64_t cutoff, mkt_ckpt_config *cfg, MPI_Comm comm)
{
    const mkt_propensity_config *p = &o->config;
    const mkt_gbdt_config *g = &p->gbdt;
    mkt_ckpt_config_init(cfg);
    mkt_ckpt_config_str(cfg, "state_layout", item ? "propensity-item-gbdt-1" : "propensity-gbdt-1");
    mkt_ckpt_config_path(cfg, "store", o->store);
    mkt_ckpt_config_str(cfg, "features_group", group);
    mkt_ckpt_config_int(cfg, "cutoff_ts", cutoff);
    mkt_ckpt_config_int(cfg, "horizon_days", p->horizon_days);
    mkt_ckpt_config_str(cfg, "model", "gbdt");
    mkt_ckpt_config_int(cfg, "depth", g->max_depth);
    mkt_ckpt_config_int(cfg, "leaves", g->max_leaves);
    mkt_ckpt_config_str(cfg, "grow", g->grow);
    mkt_ckpt_config_double(cfg, "eta", g->eta);
    mkt_ckpt_config_double(cfg, "tree_lambda", g->lambda);
    mkt_ckpt_config_double(cfg, "gamma", g->gamma);
    mkt_ckpt_config_double(cfg, "min_child_weight", g->min_child_weight);
    mkt_ckpt_config_int(cfg, "bins", g->max_bins);
    mkt_ckpt_config_double(cfg, "subsample", g->subsample);
    mkt_ckpt_config_double(cfg, "colsample", g->colsample);
    mkt_ckpt_config_int(cfg, "early_stop", g->early_stop);
    mkt_ckpt_config_int(cfg, "sketch_rows", g->sketch_rows);
    mkt_ckpt_config_double(cfg, "pos_weight", p->pos_weight);
    mkt_ckpt_config_double(cfg, "valid_fraction", p->valid_fraction);
    mkt_ckpt_config_double(cfg, "test_fraction", p->test_fraction);
    mkt_ckpt_config_int(cfg, "seed", (int64_t)p->seed);
    mkt_ckpt_config_int(cfg, "windows", p->windows);
    mkt_ckpt_config_int(cfg, "window_stride_days", p->windows > 1 ? p->window_stride_days : 0);
    if (item) {
        mkt_ckpt_config_int(cfg, "negatives", p->negatives);
        if (o->mf_model && *o->mf_model)
            mkt_ckpt_config_path(cfg, "mf_model", o->mf_model);
        else
            mkt_ckpt_config_str(cfg, "mf_model", "");
    }
    prop_ckpt_data_keys(e, cfg, comm);
}

/* Labels as doubles and the class weights of n rows. */
static void labels_weights(const int *y, int64_t n, double pos_weight, double **yd, double **w)
{
    *yd = mkt_xmalloc(sizeof(double) * (size_t)(n + 1));
    *w = mkt_xmalloc(sizeof(double) * (size_t)(n + 1));
    for (int64_t i = 0; i < n; i++) {
        (*yd)[i] = y[i] != 0;
        (*w)[i] = y[i] != 0 ? pos_weight : 1.0;
    }
}

static int cmp_gain(const void *a, const void *b)
{
    const double *x = a, *y = b; /* {gain, feature} pairs: by gain descending, then feature */
    if (x[0] != y[0])
        return x[0] < y[0] ? 1 : -1;
    return (x[1] > y[1]) - (x[1] < y[1]);
}

/* metrics "gbdt": the settings, the trees grown and kept, the importance. */
static void gbdt_metrics(json_t *metrics, const mkt_gbdt_config *g, const examples *e, const mkt_gbdt_model *m,
                         const mkt_gbdt_result *gr, int resumed_from)
{
    json_t *j = mkt_metrics_child(metrics, "gbdt");
    mkt_metrics_set_int(j, "rounds", g->rounds);
    mkt_metrics_set_int(j, "depth", g->max_depth);
    mkt_metrics_set_int(j, "leaves", g->max_leaves);
    mkt_metrics_set_str(j, "grow", g->grow);
    mkt_metrics_set_real(j, "eta", g->eta);
    mkt_metrics_set_real(j, "tree_lambda", g->lambda);
    mkt_metrics_set_real(j, "gamma", g->gamma);
    mkt_metrics_set_real(j, "min_child_weight", g->min_child_weight);
    mkt_metrics_set_int(j, "bins", g->max_bins);
    mkt_metrics_set_real(j, "subsample", g->subsample);
    mkt_metrics_set_real(j, "colsample", g->colsample);
    mkt_metrics_set_int(j, "early_stop", g->early_stop);
    mkt_metrics_set_int(j, "sketch_rows", g->sketch_rows);
    mkt_metrics_set_int(j, "trees_grown", gr->rounds_run);
    mkt_metrics_set_int(j, "trees_kept", m->trees);
    mkt_metrics_set_int(j, "nodes", m->nodes);
    mkt_metrics_set_int(j, "bins_max", gr->bins_max);
    mkt_metrics_set_real(j, "base_score", m->base_score);
    mkt_metrics_set_real(j, "seconds_sketch", gr->seconds_sketch);
    mkt_metrics_set_real(j, "rows_per_second", gr->rows_per_second);
    mkt_metrics_set_int(j, "resumed_from_round", resumed_from);
    double *imp = mkt_xcalloc((size_t)e->d + 1, sizeof(double)), *pairs = mkt_xmalloc(sizeof(double) * 2 * (size_t)(e->d + 1));
    mkt_gbdt_importance(m, imp);
    for (int f = 0; f < e->d; f++) {
        pairs[2 * f] = imp[f];
        pairs[2 * f + 1] = f;
    }
    qsort(pairs, (size_t)e->d, 2 * sizeof(double), cmp_gain);
    json_t *list = json_array();
    for (int k = 0; k < e->d; k++) {
        json_t *o = json_object();
        mkt_metrics_set_str(o, "feature", e->names[(int)pairs[2 * k + 1]]);
        mkt_metrics_set_real(o, "gain", pairs[2 * k]);
        json_array_append_new(list, o);
    }
    json_object_set_new(j, "importance", list);
    free(imp);
    free(pairs);
}

/* The training and validation rows of e for the trainer (free with rows_free). */
typedef struct {
    mkt_gbdt_data train, valid;
    double *yt, *wt, *yv, *wv;
} gbdt_rows;

static void rows_of(const mkt_propensity_options *o, const examples *e, gbdt_rows *r)
{
    labels_weights(e->yt, e->nt, o->config.pos_weight, &r->yt, &r->wt);
    labels_weights(e->yv, e->nv, o->config.pos_weight, &r->yv, &r->wv);
    /* rows in global user order (also with windows and for user_item), so positions are
     * rank-independent ids; the validation loss is the plain mean log loss, as the other
     * models' early stopping and selection */
    r->train = (mkt_gbdt_data){e->xt, r->yt, r->wt, NULL, e->nt, e->d};
    r->valid = (mkt_gbdt_data){e->xv, r->yv, NULL, NULL, e->nv, e->d};
}

static void rows_free(gbdt_rows *r)
{
    free(r->yt);
    free(r->wt);
    free(r->yv);
    free(r->wv);
}

static mkt_gbdt_config config_of(const mkt_propensity_options *o)
{
    mkt_gbdt_config g = o->config.gbdt;
    g.seed = o->config.seed; /* --seed: the split's and the subsamples' */
    return g;
}

void prop_gbdt_fit_quiet(const mkt_propensity_options *o, const examples *e, mkt_gbdt_model *forest, MPI_Comm comm)
{
    mkt_gbdt_config g = config_of(o);
    gbdt_rows r;
    rows_of(o, e, &r);
    mkt_gbdt_result gr;
    mkt_gbdt_train(&g, &r.train, &r.valid, NULL, forest, &gr, comm);
    rows_free(&r);
}

int prop_gbdt_fit(const mkt_propensity_options *o, const examples *e, const char *kind, const char *group,
                  int64_t cutoff, ckpt_run *cr, mkt_gbdt_model *forest, mkt_dp_result *res, json_t *history,
                  json_t *metrics, MPI_Comm comm)
{
    mkt_gbdt_config g = config_of(o);
    gbdt_rows rows;
    rows_of(o, e, &rows);
    mkt_gbdt_data train = rows.train, valid = rows.valid;

    mkt_ckpt_init(&cr->ck, STAGE_TRAIN, o->checkpoint, o->out, kind, o->checkpoint_every, o->resume);
    ckpt_config(o, e, strcmp(kind, "propensity") != 0, group, cutoff, &cr->cfg, comm);
    mkt_ckpt_signals_install();
    mkt_gbdt_model saved;
    mkt_gbdt_state st;
    memset(&saved, 0, sizeof saved);
    memset(&st, 0, sizeof st);
    int start = 0;
    hid_t cf = mkt_ckpt_open_resume(&cr->ck, kind, &cr->cfg, &start, comm);
    if (cf >= 0) {
        if (start > g.rounds)
            mkt_fail_all(MKT_EXIT_USAGE, "checkpoint %s is at round %d, past --rounds %d", cr->ck.path, start,
                         g.rounds);
        read_state(cf, cr->ck.path, start, e->d, &saved, &st, history);
        mkt_h5_close(cf);
    }
    gbdt_hook h = {&cr->ck, kind, &cr->cfg, history, g.rounds, 0, comm};
    mkt_gbdt_hooks hooks = {o->progress ? STAGE_TRAIN : NULL, cf >= 0 ? &st : NULL, round_hook, &h,
                            history_append, history};
    mkt_gbdt_result gr;
    mkt_gbdt_train(&g, &train, &valid, &hooks, forest, &gr, comm);
    mkt_gbdt_model_free(&saved);
    rows_free(&rows);
    if (metrics) {
        mkt_metrics_set_str(metrics, "checkpoint", cr->ck.path);
        mkt_metrics_set_int(metrics, "resumed_from_epoch", start);
        mkt_metrics_set_int(metrics, "checkpoints_written", cr->ck.written);
    }
    if (gr.stopped) {
        if (metrics)
            mkt_metrics_set_int(metrics, "preempted_at_epoch", h.stopped);
        mkt_ckpt_preempted(&cr->ck, h.stopped);
        mkt_gbdt_model_free(forest);
        return 1;
    }
    memset(res, 0, sizeof *res);
    res->epochs_run = gr.rounds_run;
    res->best_epoch = gr.best_round;
    res->train_loss = gr.train_loss;
    res->val_loss = gr.val_loss;
    res->val_auc = NAN;
    res->seconds = gr.seconds;
    res->examples_per_second = gr.rows_per_second;
    res->train_examples = gr.train_rows;
    mkt_log(STAGE_TRAIN, "gbdt: %d trees kept of %d grown (%lld nodes), validation log loss %.5f", forest->trees,
            gr.rounds_run, (long long)forest->nodes, gr.val_loss);
    if (metrics)
        gbdt_metrics(metrics, &g, e, forest, &gr, start);
    return 0;
}

void prop_gbdt_write_attrs(hid_t f, const char *g, const mkt_propensity_config *p, const mkt_gbdt_model *forest)
{
    const mkt_gbdt_config *c = &p->gbdt;
    mkt_h5_attr_set_int(f, g, "gbdt_rounds", c->rounds);
    mkt_h5_attr_set_int(f, g, "gbdt_depth", c->max_depth);
    mkt_h5_attr_set_int(f, g, "gbdt_leaves", c->max_leaves);
    mkt_h5_attr_set_string(f, g, "gbdt_grow", c->grow);
    mkt_h5_attr_set_double(f, g, "gbdt_eta", c->eta);
    mkt_h5_attr_set_double(f, g, "gbdt_lambda", c->lambda);
    mkt_h5_attr_set_double(f, g, "gbdt_gamma", c->gamma);
    mkt_h5_attr_set_double(f, g, "gbdt_min_child_weight", c->min_child_weight);
    mkt_h5_attr_set_int(f, g, "gbdt_bins", c->max_bins);
    mkt_h5_attr_set_double(f, g, "gbdt_subsample", c->subsample);
    mkt_h5_attr_set_double(f, g, "gbdt_colsample", c->colsample);
    mkt_h5_attr_set_int(f, g, "gbdt_early_stop", c->early_stop);
    mkt_h5_attr_set_int(f, g, "gbdt_trees", forest->trees);
}
