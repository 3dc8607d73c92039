/* uplift_gbdt.c — `train uplift --learner gbdt`: the T-, X- and DR-learners
 * whose base models are boosted trees (mpi/gbdt_train.h), their per-row
 * effect predictions, the forests written into /models/uplift and read back
 * (eval uplift).
 *
 * Every fit selects the rows the linear fit of the same role selects (its
 * arm, or arm and control; never a held-out row; without the cross-fitting
 * fold it leaves out; without the observational rows outside the overlap).
 * With a validation split the learner runs twice, as the linear one does: the
 * selection pass trains each fit on the selected rows outside the validation
 * split and stops early on those inside it (its effects give the selection
 * metric, and each fit's kept tree count is recorded in a plan); the final
 * pass trains each fit on all its selected rows with the tree count the plan
 * recorded for it.  Without a validation split there is one pass of
 * --rounds trees.  The trees see the linear learners' feature row (intercept,
 * standardized numbers and their squares, one-hot blocks), so a forest
 * scores the same row a coefficient vector does.
 *
 * Forests of one outcome O (conversion, visit, redeemed, or spend) under
 * /models/uplift, each a group holding forest/ (io/forest_io.h):
 *   t:  forest_O_arm<t>                        outcome model of arm t
 *   x:  forest_O_arm<t>, forest_O_x1_<t>, forest_O_x0_<t> (attribute share:
 *       the arm's share g; effect = g tau0 + (1 - g) tau1)
 *   dr: forest_O_fold<k>_arm<t>, forest_O_base, forest_O_dr_<t> (effect)
 *
 * Must not: write to the store, or let anything depend on the rank count
 * (row ids are global campaign rows; the trainer is rank-independent). */
#include "uplift_internal.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forest_io.h"
#include "gbdt_train.h"
#include "h5store.h"
#include "iocheck.h"
#include "schema.h"

/* What every fit of one outcome shares. */
typedef struct {
    const mkt_uplift_options *o;
    const campaign_data *c;
    const double *X;
    int d;
    int final; /* 0: the selection pass */
    up_gbdt_plan *plan;
    up_gbdt_run *run;
    MPI_Comm comm;
} gfit_ctx;

static int selected(const fit_spec *s, const campaign_data *c, int64_t i)
{
    if (c->holdout[i] || (s->fold_out >= 0 && c->fold[i] == s->fold_out) || (c->excl && c->excl[i]))
        return 0;
    int w = c->treatment[i];
    return s->kind == FIT_ARM ? w == s->arm : (w == s->arm || w == 0);
}

/* This rank's selected rows of a fit, copied: part 0 outside the validation
 * split, 1 inside it, 2 all. */
static int in_part(const campaign_data *c, int64_t i, int part)
{
    return part == 2 || c->valid[i] == part;
}

static void gather_rows(const fit_spec *s, const gfit_ctx *g, int part, double **xs, double **ys, int64_t **ids,
                        mkt_gbdt_data *data)
{
    const campaign_data *c = g->c;
    int64_t n = 0;
    for (int64_t i = 0; i < c->n; i++)
        n += selected(s, c, i) && in_part(c, i, part);
    *xs = xalloc((size_t)n * (size_t)g->d, sizeof(double));
    *ys = xalloc((size_t)n, sizeof(double));
    *ids = xalloc((size_t)n, sizeof(int64_t));
    int64_t k = 0;
    for (int64_t i = 0; i < c->n; i++) {
        if (!(selected(s, c, i) && in_part(c, i, part)))
            continue;
        memcpy(*xs + k * g->d, g->X + i * g->d, sizeof(double) * (size_t)g->d);
        (*ys)[k] = s->y[i];
        (*ids)[k] = c->begin + i;
        k++;
    }
    *data = (mkt_gbdt_data){*xs, *ys, NULL, *ids, n, g->d};
}

/* The next forest slot. */
static up_gbdt_forest *new_forest(up_gbdt_forests *f, const char *name, double share, int final)
{
    if (f->n == f->cap) {
        f->cap = f->cap ? 2 * f->cap : 16;
        f->forest = realloc(f->forest, sizeof(up_gbdt_forest) * (size_t)f->cap);
        if (!f->forest)
            mkt_fail("uplift: out of memory");
    }
    up_gbdt_forest *e = &f->forest[f->n++];
    memset(e, 0, sizeof *e);
    snprintf(e->name, sizeof e->name, "%s", name);
    e->share = share;
    e->final = final;
    return e;
}

/* Collective. A checkpoint of every finished fit (group f<k> per fit). */
static void write_checkpoint(up_gbdt_run *r, MPI_Comm comm)
{
    mkt_h5out w;
    hid_t f = mkt_ckpt_begin(r->ck, &w, "uplift", r->fit, r->cfg, comm);
    json_t *names = json_array(), *finals = json_array(), *shares = json_array();
    for (int k = 0; k < r->fits.n; k++) {
        const up_gbdt_forest *e = &r->fits.forest[k];
        char g[32];
        snprintf(g, sizeof g, "/f%d", k);
        mkt_forest_write(f, g, &e->model, comm);
        json_array_append_new(names, json_string(e->name));
        json_array_append_new(finals, json_integer(e->final));
        json_array_append_new(shares, json_real(isnan(e->share) ? -1.0 : e->share));
    }
    json_t *st = json_pack("{s:i, s:o, s:o, s:o}", "fits", r->fits.n, "names", names, "final", finals, "share", shares);
    mkt_ckpt_write_json(f, "state", st, comm);
    json_decref(st);
    mkt_ckpt_commit(r->ck, &w);
    mkt_log_detail(STAGE, "checkpoint %s written after fit %d", r->ck->path, r->fit);
}

int up_gbdt_resume(up_gbdt_run *run, int d, MPI_Comm comm)
{
    mkt_ckpt *ck = run->ck;
    int start = 0;
    hid_t cf = mkt_ckpt_open_resume(ck, "uplift", run->cfg, &start, comm);
    if (cf < 0)
        return 0;
    json_t *st = mkt_ckpt_read_json(cf, ck->path, "state");
    json_t *names, *finals, *shares;
    int n;
    if (json_unpack(st, "{s:i, s:o, s:o, s:o}", "fits", &n, "names", &names, "final", &finals, "share", &shares) != 0 ||
        n != start || n < 0 || !json_is_array(names) || !json_is_array(finals) || !json_is_array(shares) ||
        (int)json_array_size(names) != n || (int)json_array_size(finals) != n || (int)json_array_size(shares) != n)
        mkt_fail_all(MKT_EXIT_ERROR, "checkpoint %s: state is not {fits, names, final, share} of %d fits (corrupt)",
                     ck->path, start);
    for (int k = 0; k < n; k++) {
        const char *name = json_string_value(json_array_get(names, (size_t)k));
        double share = json_number_value(json_array_get(shares, (size_t)k));
        if (!name || strlen(name) >= 96)
            mkt_fail_all(MKT_EXIT_ERROR, "checkpoint %s: state: name of fit %d is not a short string", ck->path, k);
        up_gbdt_forest *e = new_forest(&run->fits, name, share >= 0 ? share : NAN,
                                       json_integer_value(json_array_get(finals, (size_t)k)) != 0);
        char g[32], why[600];
        snprintf(g, sizeof g, "/f%d", k);
        if (mkt_forest_read(cf, ck->path, g, d, &e->model, why, sizeof why) != 0)
            mkt_fail_all(MKT_EXIT_ERROR, "checkpoint: %s", why);
    }
    json_decref(st);
    mkt_h5_close(cf);
    return n;
}

/* The plan's next tree count (at least 1). */
static void plan_add(up_gbdt_plan *plan, int trees)
{
    if (plan->n == plan->cap) {
        plan->cap = plan->cap ? 2 * plan->cap : 32;
        plan->rounds = realloc(plan->rounds, sizeof(int) * (size_t)plan->cap);
        if (!plan->rounds)
            mkt_fail("uplift: out of memory");
    }
    plan->rounds[plan->n++] = trees > 0 ? trees : 1;
}

/* A forest's prediction at every local row: probability (logistic) or value. */
static void predict(const up_gbdt_forest *e, int logistic, const gfit_ctx *g, double *pred)
{
    mkt_gbdt_predict_margin(&e->model, g->X, g->c->n, g->d, pred);
    if (logistic)
        for (int64_t i = 0; i < g->c->n; i++)
            pred[i] = uplift_sigmoid(pred[i]);
}

/* Collective. Fit one forest (appended to g->run->fits) and predict every
 * local row into pred [n]: probability (logistic) or value.  Selection pass:
 * rows outside the validation split, early stopping on those inside, the
 * kept tree count appended to the plan.  Final pass: every selected row, the
 * plan's tree count (with a validation split).  A fit the resumed checkpoint
 * holds is not trained again: its forest gives the predictions. */
static void gbdt_fit(const gfit_ctx *g, const fit_spec *s, const char *name, double share, double *pred)
{
    const campaign_data *c = g->c;
    up_gbdt_run *run = g->run;
    int use_valid = g->o->config.valid_fraction > 0, select = !g->final, k = run->fit++;
    up_gbdt_plan *plan = g->plan;
    if (run->stopped) { /* a signal stopped the run: the remaining fits are not run */
        memset(pred, 0, sizeof(double) * (size_t)c->n);
        return;
    }
    if (!select && use_valid && plan->next >= plan->n)
        mkt_fail("uplift: %s: no tree count from the selection pass", s->label);
    if (k < run->fits.n) { /* finished before the checkpoint this run resumed from */
        up_gbdt_forest *e = &run->fits.forest[k];
        if (strcmp(e->name, name) != 0 || e->final != g->final)
            mkt_fail_all(MKT_EXIT_ERROR, "checkpoint %s: fit %d is %s, expected %s", run->ck->path, k, e->name, name);
        if (select)
            plan_add(plan, e->model.trees);
        else if (use_valid)
            plan->next++;
        predict(e, s->logistic, g, pred);
        return;
    }
    mkt_gbdt_config cfg = g->o->config.gbdt;
    cfg.loss = s->logistic ? "logistic" : "squared";
    cfg.seed = g->o->config.seed;
    double *xt, *yt, *xv, *yv;
    int64_t *it, *iv;
    mkt_gbdt_data train, valid;
    gather_rows(s, g, select ? 0 : 2, &xt, &yt, &it, &train);
    if (select) {
        gather_rows(s, g, 1, &xv, &yv, &iv, &valid);
    } else { /* the final pass has no validation rows */
        xv = yv = NULL;
        iv = NULL;
        valid = (mkt_gbdt_data){NULL, NULL, NULL, NULL, 0, g->d};
    }
    if (!select && use_valid) {
        if (plan->next >= plan->n)
            mkt_fail("uplift: %s: no tree count from the selection pass", s->label);
        cfg.rounds = plan->rounds[plan->next++];
        cfg.early_stop = 0;
    }
    int64_t rows[2] = {train.n, valid.n};
    MKT_MPI(MPI_Allreduce(MPI_IN_PLACE, rows, 2, MPI_INT64_T, MPI_SUM, g->comm));
    if (rows[0] < 1)
        mkt_fail_all(MKT_EXIT_ERROR, "uplift: %s: no training rows", s->label);
    up_gbdt_forest *e = new_forest(&run->fits, name, share, g->final);
    mkt_gbdt_hooks hooks;
    memset(&hooks, 0, sizeof hooks);
    mkt_gbdt_result res;
    mkt_gbdt_train(&cfg, &train, &valid, &hooks, &e->model, &res, g->comm);
    if (select)
        plan_add(plan, e->model.trees);
    mkt_log_detail(STAGE, "%s%s: %d trees kept of %d, %lld training and %lld validation rows, loss %.6f / %.6f",
                   s->label, select ? ", selection fit" : "", res.best_round, res.rounds_run, (long long)rows[0],
                   (long long)rows[1], res.train_loss, res.val_loss);
    predict(e, s->logistic, g, pred);
    /* a checkpoint between fits: every C fits (--checkpoint-every) or on a signal */
    int act = run->ck ? mkt_ckpt_step(run->ck, run->fit, INT_MAX, g->comm) : MKT_CKPT_CONTINUE;
    if (act != MKT_CKPT_CONTINUE)
        write_checkpoint(run, g->comm);
    if (act == MKT_CKPT_STOP)
        run->stopped = run->fit;
    free(xt);
    free(yt);
    free(it);
    free(xv);
    free(yv);
    free(iv);
}

/* Collective. Training rows per arm (those the pass's fits train on). */
static void train_counts(const gfit_ctx *g, int64_t *counts)
{
    const campaign_data *c = g->c;
    int use_valid = !g->final;
    memset(counts, 0, sizeof(int64_t) * (size_t)c->T);
    for (int64_t i = 0; i < c->n; i++)
        if (!c->holdout[i] && !(use_valid && c->valid[i]))
            counts[c->treatment[i]]++;
    MKT_MPI(MPI_Allreduce(MPI_IN_PLACE, counts, c->T, MPI_INT64_T, MPI_SUM, g->comm));
    for (int t = 1; t < c->T; t++)
        if (counts[t] == 0 || counts[0] == 0)
            mkt_fail_all(MKT_EXIT_ERROR, "uplift: arm %s or control has no training rows", c->arm_names[t]);
}

#define NAME_LEN 96
#define LABEL_LEN 256

/* Collective. The outcome models of every arm (fold_out: -1, or the fold left
 * out) into mu [T][n]. */
static void fit_arms(const gfit_ctx *g, fit_spec *s, const char *oname, int fold_out, double *mu)
{
    const campaign_data *c = g->c;
    char name[NAME_LEN], label[LABEL_LEN];
    const char *old = s->label;
    s->label = label;
    for (int t = 0; t < c->T; t++) {
        if (fold_out >= 0)
            snprintf(name, sizeof name, "forest_%s_fold%d_arm%d", oname, fold_out, t);
        else
            snprintf(name, sizeof name, "forest_%s_arm%d", oname, t);
        if (fold_out >= 0)
            snprintf(label, sizeof label, "%s, arm %s without fold %d (gbdt)", oname, c->arm_names[t], fold_out);
        else
            snprintf(label, sizeof label, "%s, arm %s (gbdt)", oname, c->arm_names[t]);
        s->kind = FIT_ARM;
        s->arm = t;
        s->fold_out = fold_out;
        gbdt_fit(g, s, name, NAN, mu + (size_t)t * (size_t)c->n);
    }
    s->fold_out = -1;
    s->label = old;
}

void up_gbdt_fit_outcome(const mkt_uplift_options *o, campaign_data *c, const double *X, int d, int logistic,
                         const double *y, const char *oname, double *eff, int final, up_gbdt_plan *plan,
                         up_gbdt_run *run, MPI_Comm comm)
{
    gfit_ctx g = {o, c, X, d, final, plan, run, comm};
    int T = c->T, nt = T - 1, method = up_method(o);
    size_t n = (size_t)c->n;
    int64_t *counts = xalloc((size_t)T, sizeof(int64_t));
    train_counts(&g, counts);
    char label[LABEL_LEN], name[NAME_LEN];
    fit_spec s;
    memset(&s, 0, sizeof s);
    s.label = label;
    s.fold_out = -1;
    s.logistic = logistic;
    s.y = y;
    double *resp = xalloc(n, sizeof(double));
    if (method == UPLIFT_T_LEARNER || method == UPLIFT_X_LEARNER) {
        double *mu = xalloc((size_t)T * n, sizeof(double));
        fit_arms(&g, &s, oname, -1, mu);
        for (size_t i = 0; i < n; i++)
            for (int t = 1; t < T; t++)
                eff[i * (size_t)nt + (size_t)t - 1] = mu[(size_t)t * n + i] - mu[i];
        if (method == UPLIFT_X_LEARNER) {
            double *tau1 = xalloc(n, sizeof(double)), *tau0 = xalloc(n, sizeof(double));
            for (int t = 1; t < T; t++) {
                double share = (double)counts[t] / (double)(counts[t] + counts[0]);
                for (size_t i = 0; i < n; i++) {
                    int w = c->treatment[i];
                    resp[i] = w == t ? uplift_x_imputed(y[i], 1, mu[i])
                              : w == 0 ? uplift_x_imputed(y[i], 0, mu[(size_t)t * n + i]) : 0.0;
                }
                s.y = resp;
                s.logistic = 0;
                s.kind = FIT_ARM;
                s.arm = t;
                snprintf(label, sizeof label, "%s, arm %s (X-learner, imputed effects of the arm, gbdt)", oname,
                         c->arm_names[t]);
                snprintf(name, sizeof name, "forest_%s_x1_%d", oname, t);
                gbdt_fit(&g, &s, name, share, tau1);
                s.arm = 0;
                snprintf(label, sizeof label, "%s, arm %s (X-learner, imputed effects of control, gbdt)", oname,
                         c->arm_names[t]);
                snprintf(name, sizeof name, "forest_%s_x0_%d", oname, t);
                gbdt_fit(&g, &s, name, share, tau0);
                for (size_t i = 0; i < n; i++)
                    eff[i * (size_t)nt + (size_t)t - 1] = share * tau0[i] + (1.0 - share) * tau1[i];
            }
            free(tau1);
            free(tau0);
        }
        free(mu);
    } else { /* UPLIFT_DR_LEARNER: cross-fitted outcome models, then a model of the AIPW pseudo-outcome */
        int K = o->config.folds;
        double *mu = xalloc((size_t)K * (size_t)T * n, sizeof(double)), *base = xalloc(n, sizeof(double));
        for (int k = 0; k < K; k++)
            fit_arms(&g, &s, oname, k, mu + (size_t)k * (size_t)T * n);
        s.kind = FIT_ARM;
        s.arm = 0;
        snprintf(label, sizeof label, "%s, arm %s (DR-learner base, gbdt)", oname, c->arm_names[0]);
        snprintf(name, sizeof name, "forest_%s_base", oname);
        gbdt_fit(&g, &s, name, NAN, base);
        double *tau = xalloc(n, sizeof(double));
        unsigned char *excl = c->prop ? xalloc(n, 1) : NULL;
        for (int t = 1; t < T; t++) {
            double e = (double)counts[t] / (double)(counts[t] + counts[0]);
            for (size_t i = 0; i < n; i++) {
                int w = c->treatment[i];
                resp[i] = 0.0;
                if (excl)
                    excl[i] = 0;
                if (w != t && w != 0)
                    continue;
                double ei = c->prop ? c->prop[i * (size_t)T + (size_t)t] : e;
                if (excl && !(ei >= o->config.trim && ei <= 1.0 - o->config.trim)) {
                    excl[i] = 1;
                    continue;
                }
                const double *m = mu + (size_t)c->fold[i] * (size_t)T * n;
                resp[i] = uplift_dr_pseudo(y[i], w == t, m[(size_t)t * n + i], m[i], ei);
            }
            s.kind = FIT_PAIR;
            s.logistic = 0;
            s.y = resp;
            s.arm = t;
            snprintf(label, sizeof label, "%s, arm %s (DR-learner effect, gbdt)", oname, c->arm_names[t]);
            snprintf(name, sizeof name, "forest_%s_dr_%d", oname, t);
            c->excl = excl;
            gbdt_fit(&g, &s, name, NAN, tau);
            c->excl = NULL;
            for (size_t i = 0; i < n; i++)
                eff[i * (size_t)nt + (size_t)t - 1] = tau[i];
        }
        free(excl);
        free(tau);
        free(base);
        free(mu);
    }
    free(resp);
    free(counts);
}

void up_gbdt_write(hid_t f, const char *group, const up_gbdt_forests *fo, MPI_Comm comm)
{
    char path[600];
    for (int k = 0; k < fo->n; k++) {
        if (!fo->forest[k].final)
            continue;
        snprintf(path, sizeof path, "%s/%s", group, fo->forest[k].name);
        mkt_forest_write(f, path, &fo->forest[k].model, comm);
        if (!isnan(fo->forest[k].share))
            mkt_h5_attr_set_double(f, path, "share", fo->forest[k].share);
    }
}

void up_gbdt_free(up_gbdt_forests *fo)
{
    for (int k = 0; k < fo->n; k++)
        mkt_gbdt_model_free(&fo->forest[k].model);
    free(fo->forest);
    memset(fo, 0, sizeof *fo);
}

/* One forest of the model file, read and checked; its margins at every row
 * into out [n] (probability when logistic).  Fails naming file and group. */
static void read_predict(hid_t f, const char *file, const char *name, int d, const double *X, int64_t n,
                         int logistic, double *out)
{
    char group[300], why[600];
    snprintf(group, sizeof group, "%s/%s", MKT_MODELS_UPLIFT, name);
    mkt_gbdt_model m;
    if (mkt_forest_read(f, file, group, d, &m, why, sizeof why) != 0)
        mkt_fail_all(MKT_EXIT_ERROR, "uplift model: %s", why);
    mkt_gbdt_predict_margin(&m, X, n, d, out);
    if (logistic)
        for (int64_t i = 0; i < n; i++)
            out[i] = uplift_sigmoid(out[i]);
    mkt_gbdt_model_free(&m);
}

void up_gbdt_read_effects(hid_t f, const char *file, int method, const char *oname, int logistic, int T, int d,
                          const double *X, int64_t n, double *eff, double *control)
{
    int nt = T - 1;
    double *a = xalloc((size_t)n, sizeof(double)), *b = xalloc((size_t)n, sizeof(double));
    char name[NAME_LEN], group[300];
    if (method == UPLIFT_T_LEARNER) {
        double *mu0 = control ? control : xalloc((size_t)n, sizeof(double));
        snprintf(name, sizeof name, "forest_%s_arm0", oname);
        read_predict(f, file, name, d, X, n, logistic, mu0);
        for (int t = 1; t < T; t++) {
            snprintf(name, sizeof name, "forest_%s_arm%d", oname, t);
            read_predict(f, file, name, d, X, n, logistic, a);
            for (int64_t i = 0; i < n; i++)
                eff[i * nt + t - 1] = a[i] - mu0[i];
        }
        if (mu0 != control)
            free(mu0);
    } else if (method == UPLIFT_X_LEARNER) {
        for (int t = 1; t < T; t++) {
            snprintf(name, sizeof name, "forest_%s_x1_%d", oname, t);
            read_predict(f, file, name, d, X, n, 0, a);
            snprintf(group, sizeof group, "%s/%s", MKT_MODELS_UPLIFT, name);
            double g = mkt_h5_attr_get_double(f, group, "share", NAN);
            if (!(g >= 0 && g <= 1))
                mkt_fail_all(MKT_EXIT_ERROR, "uplift model: %s: %s: attribute share is missing or not in [0, 1]", file,
                             group);
            snprintf(name, sizeof name, "forest_%s_x0_%d", oname, t);
            read_predict(f, file, name, d, X, n, 0, b);
            for (int64_t i = 0; i < n; i++)
                eff[i * nt + t - 1] = g * b[i] + (1.0 - g) * a[i];
        }
    } else if (method == UPLIFT_DR_LEARNER) {
        for (int t = 1; t < T; t++) {
            snprintf(name, sizeof name, "forest_%s_dr_%d", oname, t);
            read_predict(f, file, name, d, X, n, 0, a);
            for (int64_t i = 0; i < n; i++)
                eff[i * nt + t - 1] = a[i];
        }
    } else {
        mkt_fail_all(MKT_EXIT_ERROR, "uplift model: %s: a gbdt uplift model of method %s is not supported", file,
                 uplift_method_name(method));
    }
    free(a);
    free(b);
}

void mkt_uplift_gbdt_predict(hid_t f, const char *file, int method, const char *oname, int logistic, int T, int d,
                             const double *X, int64_t n, double *eff, double *base)
{
    up_gbdt_read_effects(f, file, method, oname, logistic, T, d, X, n, eff, base);
    if (!base || method == UPLIFT_T_LEARNER) /* the T-learner's control predictions came with the effects */
        return;
    char name[NAME_LEN];
    snprintf(name, sizeof name, method == UPLIFT_DR_LEARNER ? "forest_%s_base" : "forest_%s_arm0", oname);
    read_predict(f, file, name, d, X, n, logistic, base);
}
