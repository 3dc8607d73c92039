/* train_uplift.c — the distributed `train uplift` / `eval uplift` stages.
 *
 * Owns: the train and eval drivers (splits checked, checkpoint resumed,
 * fits run in their fixed order), writing /models/uplift, the held-out (or
 * separate test store) metrics and the validation-split selection metric.
 * The campaign rows, features and splits live in uplift_campaign.c, the
 * Newton/IRLS and ridge fits with exact cross-rank sums (T, S, transformed,
 * X and cross-fitted DR learners) in uplift_learners.c, their boosted-tree
 * versions (--learner gbdt: forests instead of coefficients, checkpoints
 * between fits) in uplift_gbdt.c, the observational design in
 * uplift_observational.c.
 * Must not: write to the store, or sum anything that feeds a result in an
 * order that depends on the rank count.
 *
 * Rank independence.  Campaign rows are cut into chunks of UPLIFT_CHUNK
 * global rows; rank r reads the contiguous block of chunks mkt_block_of()
 * gives it (a rank can read any row block of the store).  Within a chunk the
 * normal-equation terms are summed in row order in doubles; each chunk's
 * partial is then added to exact accumulators (mkt_xsum) and merged across
 * ranks with mkt_allreduce_xsum.  A chunk's partial depends only on the data,
 * so 1, 2 and 4 ranks produce the same bits in every coefficient.  The
 * held-out rows are gathered in global row order and the metrics computed
 * identically on every rank. */
#include "uplift_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iocheck.h"
#include "exactsum.h"
#include "h5store.h"
#include "metrics_json.h"
#include "model_io.h"
#include "schema.h"

/* ---------- held-out metrics ---------- */

/* Pearson correlation of two arrays (plain sums in the given order). */
static double pearson(const double *a, const double *b, int64_t n, size_t stride)
{
    double ma = 0, mb = 0;
    for (int64_t i = 0; i < n; i++) {
        ma += a[(size_t)i * stride];
        mb += b[(size_t)i * stride];
    }
    ma /= (double)n;
    mb /= (double)n;
    double sab = 0, saa = 0, sbb = 0;
    for (int64_t i = 0; i < n; i++) {
        double x = a[(size_t)i * stride] - ma, y = b[(size_t)i * stride] - mb;
        sab += x * y;
        saa += x * x;
        sbb += y * y;
    }
    return saa > 0 && sbb > 0 ? sab / sqrt(saa * sbb) : 0.0;
}

/* Per held-out row, gathered: user, treatment, y, spend, then per arm
 * predicted effect (outcome), predicted effect (spend), truth (outcome
 * conversion), truth (spend). */
#define REC_FIXED 4

/* The gathered records (rec doubles: user, treatment, ...) of arm t and
 * control as Qini rows: score and outcome from columns score_col and y_col.
 * Returns the number of rows. */
static int64_t pair_rows(const double *all, int64_t n, int rec, int t, int score_col, int y_col,
                         uplift_eval_row *rows)
{
    int64_t m = 0;
    for (int64_t i = 0; i < n; i++) {
        const double *r = all + (size_t)i * (size_t)rec;
        int w = (int)r[1];
        if (w != t && w != 0)
            continue;
        rows[m].score = r[score_col];
        rows[m].y = r[y_col];
        rows[m].user = (int64_t)r[0];
        rows[m].treated = w == t;
        m++;
    }
    return m;
}

static void arm_metrics(json_t *arm_obj, const char *key, const double *all, int64_t n, int rec, int T, int t,
                        int yoff, int poff, int toff, int has_truth, double *row5)
{
    uplift_eval_row *rows = xalloc((size_t)n, sizeof(uplift_eval_row));
    int64_t m = pair_rows(all, n, rec, t, REC_FIXED + poff * (T - 1) + t - 1, yoff, rows);
    uplift_qini_result q;
    uplift_qini(rows, m, &q);
    json_t *o = mkt_metrics_child(arm_obj, key);
    mkt_metrics_set_real(o, "qini", q.qini);
    mkt_metrics_set_real(o, "auuc", q.auuc);
    mkt_metrics_set_real(o, "uplift_at_10", q.uplift_at[0]);
    mkt_metrics_set_real(o, "uplift_at_20", q.uplift_at[1]);
    mkt_metrics_set_real(o, "uplift_at_30", q.uplift_at[2]);
    mkt_metrics_set_real(o, "uplift_all", q.uplift_all);
    mkt_metrics_set_int(o, "rows_treated", q.n_treated);
    mkt_metrics_set_int(o, "rows_control", q.n_control);
    row5[0] = q.qini;
    row5[1] = q.auuc;
    row5[2] = q.uplift_at[0];
    row5[3] = q.uplift_at[1];
    row5[4] = q.uplift_at[2];
    if (has_truth && toff >= 0) {
        /* every held-out user has a planted effect: correlation over all of them */
        double *pred = xalloc((size_t)n, sizeof(double)), *truth = xalloc((size_t)n, sizeof(double));
        for (int64_t i = 0; i < n; i++) {
            const double *r = all + (size_t)i * (size_t)rec;
            pred[i] = r[REC_FIXED + poff * (T - 1) + t - 1];
            truth[i] = r[REC_FIXED + toff * (T - 1) + t - 1];
            rows[i].score = pred[i];
            rows[i].y = truth[i];
            rows[i].user = (int64_t)r[0];
            rows[i].treated = 1;
        }
        double corr = pearson(pred, truth, n, 1);
        /* sort by predicted effect (uplift_qini sorts), then average the truth of the top 10% */
        uplift_qini_result dummy;
        uplift_qini(rows, n, &dummy);
        int64_t top = (10 * n + 99) / 100;
        double st = 0, sa = 0;
        for (int64_t i = 0; i < n; i++) {
            sa += rows[i].y;
            if (i < top)
                st += rows[i].y;
        }
        mkt_metrics_set_real(o, "truth_correlation", corr);
        mkt_metrics_set_real(o, "truth_mean_effect", sa / (double)n);
        mkt_metrics_set_real(o, "truth_mean_effect_top10", top > 0 ? st / (double)top : 0.0);
        free(pred);
        free(truth);
    }
    free(rows);
}

/* Collective. All ranks' records (rec doubles each) in global row order
 * (each rank's rows are a contiguous block, ranks in order); *n_out records. */
static double *allgather_records(const double *loc, int64_t nloc, int rec, const char *what, int64_t *n_out,
                                 MPI_Comm comm)
{
    int nranks;
    MKT_MPI(MPI_Comm_size(comm, &nranks));
    int *counts = xalloc((size_t)nranks, sizeof(int)), *displs = xalloc((size_t)nranks, sizeof(int));
    int64_t mine = nloc * rec;
    if (mine > INT32_MAX)
        mkt_fail("uplift: %s too large to gather (%lld values)", what, (long long)mine);
    int mine32 = (int)mine;
    MKT_MPI(MPI_Allgather(&mine32, 1, MPI_INT, counts, 1, MPI_INT, comm));
    int64_t total = 0;
    for (int r = 0; r < nranks; r++) {
        displs[r] = (int)total;
        total += counts[r];
        if (total > INT32_MAX)
            mkt_fail("uplift: %s too large to gather (%lld values)", what, (long long)total);
    }
    double *all = xalloc((size_t)total, sizeof(double));
    MKT_MPI(MPI_Allgatherv(loc, mine32, MPI_DOUBLE, all, counts, displs, MPI_DOUBLE, comm));
    free(counts);
    free(displs);
    *n_out = total / rec;
    return all;
}

/* The local rows of a split (`mask`), rec doubles each, in row order: user,
 * treatment and outcome in the first three; the rest for the caller (0).
 * *n_out rows. */
static double *pack_records(const campaign_data *c, const unsigned char *mask, int rec, int64_t *n_out)
{
    int64_t n = 0;
    for (int64_t i = 0; i < c->n; i++)
        n += mask[i];
    double *loc = xalloc((size_t)n * (size_t)rec, sizeof(double));
    int64_t k = 0;
    for (int64_t i = 0; i < c->n; i++) {
        if (!mask[i])
            continue;
        double *r = loc + (size_t)k++ * (size_t)rec;
        r[0] = c->user[i];
        r[1] = c->treatment[i];
        r[2] = c->y[i];
    }
    *n_out = n;
    return loc;
}

/* Collective. Predict every local row and, when `report`, gather the
 * hold-out and fill metrics["arms"]; pred_y / pred_spend receive the local
 * predictions [n x (T-1)] (coef_y NULL: they hold them already, gbdt); mrow_y / mrow_spend the metrics table
 * [(T-1) x 5] (NaN without a report). */
static void evaluate(const campaign_data *c, const double *X, int d, int method, const char *outcome,
                     const double *coef_y, const double *coef_spend, double *pred_y, double *pred_spend,
                     double *mrow_y, double *mrow_spend, int report, json_t *metrics, MPI_Comm comm)
{
    int T = c->T, nt = T - 1;
    int rec = REC_FIXED + 4 * nt;
    for (int64_t i = 0; i < c->n && coef_y; i++) {
        uplift_effects(method, 1, coef_y, T, d, X + i * d, pred_y + i * nt);
        uplift_effects(method, 0, coef_spend, T, d, X + i * d, pred_spend + i * nt);
    }
    if (!report) {
        for (int k = 0; k < nt * 5; k++)
            mrow_y[k] = mrow_spend[k] = NAN;
        return;
    }
    int64_t nh;
    double *loc = pack_records(c, c->holdout, rec, &nh);
    int64_t k = 0;
    for (int64_t i = 0; i < c->n; i++) {
        if (!c->holdout[i])
            continue;
        double *r = loc + (size_t)k * (size_t)rec;
        r[3] = c->spend[i];
        for (int t = 0; t < nt; t++) {
            r[REC_FIXED + t] = pred_y[i * nt + t];
            r[REC_FIXED + nt + t] = pred_spend[i * nt + t];
            r[REC_FIXED + 2 * nt + t] = c->truth_conv[i * nt + t];
            r[REC_FIXED + 3 * nt + t] = c->truth_spend[i * nt + t];
        }
        k++;
    }
    int64_t n;
    double *all = allgather_records(loc, nh, rec, "hold-out", &n, comm);
    mkt_metrics_set_int(metrics, "holdout_rows", n);
    json_t *arms = mkt_metrics_child(metrics, "arms");
    int truth_y = c->has_truth && !strcmp(outcome, "conversion");
    for (int t = 1; t < T; t++) {
        json_t *a = mkt_metrics_child(arms, c->arm_names[t]);
        arm_metrics(a, outcome, all, n, rec, T, t, 2, 0, truth_y ? 2 : -1, truth_y, mrow_y + (t - 1) * 5);
        arm_metrics(a, "spend", all, n, rec, T, t, 3, 1, 3, c->has_truth, mrow_spend + (t - 1) * 5);
    }
    free(loc);
    free(all);
}

/* Collective. The model-selection metric: the selection fits' (coef [T x d],
 * binary outcome; or, coef NULL, the effects eff [n x (T-1)] of local rows) mean Qini over the arms on the validation rows, into
 * metrics["selection"] (and the per-arm values into metrics["validation"]). */
static void select_metric(const campaign_data *c, const double *X, int d, int method, const double *coef,
                          const double *eff, double valid_fraction, json_t *metrics, MPI_Comm comm)
{
    int T = c->T, nt = T - 1, rec = 3 + nt;
    int64_t nv;
    double *loc = pack_records(c, c->valid, rec, &nv);
    int64_t k = 0;
    for (int64_t i = 0; i < c->n; i++) {
        if (!c->valid[i])
            continue;
        double *r = loc + (size_t)k++ * (size_t)rec;
        if (coef)
            uplift_effects(method, 1, coef, T, d, X + i * d, r + 3);
        else
            memcpy(r + 3, eff + i * nt, sizeof(double) * (size_t)nt);
    }
    int64_t n;
    double *all = allgather_records(loc, nv, rec, "validation split", &n, comm);
    uplift_eval_row *rows = xalloc((size_t)n, sizeof(uplift_eval_row));
    json_t *val = mkt_metrics_child(metrics, "validation");
    mkt_metrics_set_int(val, "rows", n);
    mkt_metrics_set_real(val, "valid_fraction", valid_fraction);
    json_t *arms = mkt_metrics_child(val, "arms");
    double sum = 0.0;
    for (int t = 1; t < T; t++) {
        int64_t m = pair_rows(all, n, rec, t, 3 + t - 1, 2, rows);
        uplift_qini_result q;
        uplift_qini(rows, m, &q);
        json_t *a = mkt_metrics_child(arms, c->arm_names[t]);
        mkt_metrics_set_real(a, "qini", q.qini);
        mkt_metrics_set_real(a, "uplift_at_30", q.uplift_at[2]);
        mkt_metrics_set_int(a, "rows_treated", q.n_treated);
        mkt_metrics_set_int(a, "rows_control", q.n_control);
        sum += q.qini;
    }
    json_t *sel = json_object();
    json_object_set_new(sel, "metric", json_string("qini"));
    json_object_set_new(sel, "value", json_real(sum / (double)nt));
    json_object_set_new(sel, "goal", json_string("max"));
    json_object_set_new(sel, "split", json_string("validation"));
    json_object_set_new(metrics, "selection", sel);
    mkt_log(STAGE, "selection: mean validation Qini over %d arm(s) %.6f (%lld validation rows)", nt,
            sum / (double)nt, (long long)n);
    free(rows);
    free(loc);
    free(all);
}

/* ---------- train ---------- */

/* Everything the fitted coefficients depend on: a checkpoint is only
 * resumed by a run with the same values. */
static void uplift_config(const mkt_uplift_options *o, const campaign_data *c, int d, mkt_ckpt_config *cfg)
{
    mkt_ckpt_config_init(cfg);
    mkt_ckpt_config_str(cfg, "state_layout", "uplift-2");
    mkt_ckpt_config_path(cfg, "store", o->store);
    mkt_ckpt_config_str(cfg, "method", uplift_method_name(up_method(o)));
    mkt_ckpt_config_str(cfg, "outcome", o->config.outcome);
    mkt_ckpt_config_double(cfg, "holdout", o->config.holdout);
    mkt_ckpt_config_double(cfg, "l2", o->config.l2);
    mkt_ckpt_config_double(cfg, "l2_effect", up_effect_l2(o));
    mkt_ckpt_config_int(cfg, "seed", (int64_t)o->config.seed);
    mkt_ckpt_config_int(cfg, "squares", o->config.squares);
    mkt_ckpt_config_int(cfg, "max_iter", o->config.max_iter);
    mkt_ckpt_config_double(cfg, "tol", o->config.tol);
    mkt_ckpt_config_double(cfg, "valid_fraction", o->config.valid_fraction);
    mkt_ckpt_config_int(cfg, "folds", o->config.folds);
    mkt_ckpt_config_int(cfg, "rows", c->N);
    mkt_ckpt_config_int(cfg, "arms", c->T);
    mkt_ckpt_config_int(cfg, "features", d);
    if (up_observational(o)) /* only then: checkpoints of randomized runs keep their keys */
        mkt_ckpt_config_double(cfg, "observational_trim", o->config.trim);
    if (mkt_uplift_config_gbdt(&o->config)) { /* likewise: linear runs keep their keys */
        const mkt_gbdt_config *t = &o->config.gbdt;
        mkt_ckpt_config_str(cfg, "learner", "gbdt");
        mkt_ckpt_config_int(cfg, "gbdt_rounds", t->rounds);
        mkt_ckpt_config_int(cfg, "gbdt_depth", t->max_depth);
        mkt_ckpt_config_int(cfg, "gbdt_leaves", t->max_leaves);
        mkt_ckpt_config_str(cfg, "gbdt_grow", t->grow);
        mkt_ckpt_config_double(cfg, "gbdt_eta", t->eta);
        mkt_ckpt_config_double(cfg, "gbdt_lambda", t->lambda);
        mkt_ckpt_config_double(cfg, "gbdt_gamma", t->gamma);
        mkt_ckpt_config_double(cfg, "gbdt_min_child_weight", t->min_child_weight);
        mkt_ckpt_config_int(cfg, "gbdt_bins", t->max_bins);
        mkt_ckpt_config_double(cfg, "gbdt_subsample", t->subsample);
        mkt_ckpt_config_double(cfg, "gbdt_colsample", t->colsample);
        mkt_ckpt_config_int(cfg, "gbdt_early_stop", t->early_stop);
        mkt_ckpt_config_int(cfg, "gbdt_sketch_rows", t->sketch_rows);
    }
}

/* Collective. Read the matching checkpoint of the run, when there is one,
 * into slots (run->coef) and the saved_* fields; returns the Newton step it was
 * written at (0: none). */
static int resume_run(up_run *run, double *slots, MPI_Comm comm)
{
    mkt_ckpt *ck = run->ck;
    int start = 0;
    hid_t cf = mkt_ckpt_open_resume(ck, "uplift", run->cfg, &start, comm);
    if (cf >= 0) {
        mkt_ckpt_read_full(cf, ck->path, "coef", slots, run->nslot, run->d);
        json_t *st = mkt_ckpt_read_json(cf, ck->path, "state");
        if (json_unpack(st, "{s:i, s:i, s:i}", "fit", &run->saved_fit, "iteration", &run->saved_iter, "done",
                        &run->saved_done) != 0)
            mkt_fail_all(MKT_EXIT_ERROR, "checkpoint %s: state is not {fit, iteration, done} (corrupt)", ck->path);
        json_decref(st);
        mkt_h5_close(cf);
        run->resumed = 1;
        run->step = start;
    }
    return start;
}

/* The fitted model and what it measured, as /models/uplift stores it. */
typedef struct {
    const double *coef_y, *coef_s;  /* T x d */
    double *pred_y, *pred_s;        /* local rows x (T-1) */
    double *mrow_y, *mrow_s;        /* (T-1) x 5 metrics */
    json_t *res;                    /* the metrics object */
    const up_gbdt_forests *forests; /* --learner gbdt (coef_* NULL), else NULL */
} uplift_result;

/* The tree settings of a gbdt model (attribute learner = "gbdt"). */
static void write_gbdt_attrs(hid_t f, const char *g, const mkt_gbdt_config *t)
{
    mkt_h5_attr_set_string(f, g, "learner", "gbdt");
    mkt_h5_attr_set_int(f, g, "gbdt_rounds", t->rounds);
    mkt_h5_attr_set_int(f, g, "gbdt_depth", t->max_depth);
    mkt_h5_attr_set_int(f, g, "gbdt_leaves", t->max_leaves);
    mkt_h5_attr_set_string(f, g, "gbdt_grow", t->grow);
    mkt_h5_attr_set_double(f, g, "gbdt_eta", t->eta);
    mkt_h5_attr_set_double(f, g, "gbdt_lambda", t->lambda);
    mkt_h5_attr_set_double(f, g, "gbdt_gamma", t->gamma);
    mkt_h5_attr_set_double(f, g, "gbdt_min_child_weight", t->min_child_weight);
    mkt_h5_attr_set_int(f, g, "gbdt_bins", t->max_bins);
    mkt_h5_attr_set_double(f, g, "gbdt_subsample", t->subsample);
    mkt_h5_attr_set_double(f, g, "gbdt_colsample", t->colsample);
    mkt_h5_attr_set_int(f, g, "gbdt_early_stop", t->early_stop);
    mkt_h5_attr_set_int(f, g, "gbdt_sketch_rows", t->sketch_rows);
}

/* Collective. /models/uplift: into a new model file, or replacing the group
 * of an existing one. */
static void write_uplift_model(const mkt_uplift_options *o, const campaign_data *c, const uplift_features *fs, int d,
                               const uplift_result *r, MPI_Comm comm)
{
    int T = c->T, nt = T - 1;
    double *spec = xalloc((size_t)(c->A > 0 ? c->A : 1) * UPLIFT_SPEC_COLS, sizeof(double));
    uplift_spec_encode(fs, spec);
    mkt_uplift_save_args a = {.model = {.outcome = (char *)o->config.outcome,
                                        .method = (char *)uplift_method_name(up_method(o)),
                                        .arms = T,
                                        .features = d,
                                        .attrs = c->A,
                                        .has_coef = r->forests ? 0 : 1,
                                        .rows = c->N},
                              .design = up_observational(o) ? "observational" : "randomized",
                              .seed = (int64_t)o->config.seed,
                              .holdout = o->config.holdout,
                              .arm_names = c->arm_names,
                              .coef = r->forests ? NULL : r->coef_y,
                              .coef_spend = r->forests ? NULL : r->coef_s,
                              .feature_spec = spec,
                              .attr_names = c->attr_names,
                              .level_names = c->level_names,
                              .n_levels = c->n_levels,
                              .user = c->user,
                              .predicted = r->pred_y,
                              .predicted_spend = r->pred_s,
                              .held_out = c->holdout,
                              .begin = c->begin,
                              .n = c->n};
    mkt_model_writer w;
    mkt_model_begin(&w, o->model, MKT_MODELS_UPLIFT, comm);
    hid_t f = w.file;
    const char *g = w.group;
    mkt_uplift_save(f, g, &a, comm);
    char path[600];
#define P(name) (snprintf(path, sizeof path, "%s/%s", g, name), path)
    char coefname[64];
    if (r->forests) {
        up_gbdt_write(f, g, r->forests, comm);
        write_gbdt_attrs(f, g, &o->config.gbdt);
    }
    snprintf(coefname, sizeof coefname, "metrics_%s", o->config.outcome);
    mkt_h5_write_small(f, P(coefname), H5T_NATIVE_DOUBLE, r->mrow_y, nt, 5, comm);
    mkt_h5_write_small(f, P("metrics_spend"), H5T_NATIVE_DOUBLE, r->mrow_s, nt, 5, comm);
#undef P
    mkt_h5_attr_set_double(f, g, "l2", o->config.l2);
    mkt_h5_attr_set_double(f, g, "l2_effect", up_effect_l2(o));
    mkt_h5_attr_set_int(f, g, "squares", o->config.squares);
    mkt_h5_attr_set_int(f, g, "max_iter", o->config.max_iter);
    mkt_h5_attr_set_double(f, g, "tol", o->config.tol);
    mkt_h5_attr_set_double(f, g, "valid_fraction", o->config.valid_fraction);
    mkt_h5_attr_set_int(f, g, "folds", o->config.folds);
    mkt_h5_attr_set_int(f, g, "chunk_rows", UPLIFT_CHUNK);
    mkt_h5_attr_set_string(f, g, "metric_columns", "qini,auuc,uplift_at_10,uplift_at_20,uplift_at_30");
    char *mj = json_dumps(r->res, JSON_SORT_KEYS | JSON_COMPACT | JSON_REAL_PRECISION(17));
    mkt_h5_attr_set_string(f, g, "metrics_json", mj ? mj : "{}");
    free(mj);
    mkt_model_end(&w, comm);
    free(spec);
}

/* Collective. The store's design must be the run's, and the splits that give
 * metrics need rows of every arm: refuse before fitting when one lacks them. */
static void check_train_splits(const mkt_uplift_options *o, const campaign_data *c, MPI_Comm comm)
{
    if (c->observational_store && !up_observational(o))
        mkt_fail_all(MKT_EXIT_USAGE, "train uplift: %s holds an observational campaign (targeted users against the "
                     "untargeted, not a randomized control): give --design observational", o->store);
    if (o->config.holdout > 0)
        up_require_split_rows(c, c->holdout, "train uplift", "hold-out (test split, --holdout)",
                              "raise --holdout, or train with --holdout 0 and measure on a separate store with "
                              "mkt eval uplift --test",
                              comm);
    if (o->config.valid_fraction > 0)
        up_require_split_rows(c, c->valid, "train uplift", "validation split (--valid-fraction)",
                              "raise --valid-fraction, or give --valid-fraction 0 (no selection metric)", comm);
}

/* --learner gbdt: the effects the forests predict at the local rows [n x (T-1)]
 * and the forests; eff_v: the selection pass's effects (the selection
 * metric reads them at the validation rows; NULL without a validation split). */
typedef struct {
    double *eff_y, *eff_s, *eff_v;
    up_gbdt_run run; /* run.fits: every fit's forest, the final pass's written */
} gbdt_fits;

/* Collective. The model's predictions of every local row, the held-out
 * metrics (report), the selection metric and the observational estimates:
 * into *r (its arrays and r->res are the caller's to free). */
static void measure(const mkt_uplift_options *o, const campaign_data *c, const double *X, int d, const double *coef_y,
                    const double *coef_s, const double *coef_v, const gbdt_fits *gf, int report, uplift_result *r,
                    MPI_Comm comm)
{
    int nt = c->T - 1;
    double *pred_y = xalloc((size_t)c->n * (size_t)nt, sizeof(double));
    double *pred_s = xalloc((size_t)c->n * (size_t)nt, sizeof(double));
    double *mrow_y = xalloc((size_t)nt * 5, sizeof(double)), *mrow_s = xalloc((size_t)nt * 5, sizeof(double));
    json_t *res = json_object();
    uplift_result rr = {coef_y, coef_s, pred_y, pred_s, mrow_y, mrow_s, res, gf ? &gf->run.fits : NULL};
    if (gf) { /* the effects the forests predicted; no coefficients */
        memcpy(pred_y, gf->eff_y, sizeof(double) * (size_t)c->n * (size_t)nt);
        memcpy(pred_s, gf->eff_s, sizeof(double) * (size_t)c->n * (size_t)nt);
        coef_y = coef_s = coef_v = NULL;
    }
    *r = rr;
    evaluate(c, X, d, up_method(o), o->config.outcome, coef_y, coef_s, pred_y, pred_s, mrow_y, mrow_s, report, res, comm);
    if (!report) {
        mkt_metrics_set_int(res, "holdout_rows", 0);
        mkt_metrics_set_str(res, "test_metrics",
                            "none: --holdout 0 leaves no test rows (measure with mkt eval uplift --test STORE)");
        mkt_log(STAGE, "--holdout 0: no held-out rows, so no test metrics are reported; measure the model with "
                       "mkt eval uplift --test STORE");
    }
    if (o->config.valid_fraction > 0)
        select_metric(c, X, d, up_method(o), coef_v, gf ? gf->eff_v : NULL, o->config.valid_fraction, res, comm);
    mkt_metrics_set_str(res, "design", up_observational(o) ? "observational" : "randomized");
    if (up_observational(o)) {
        up_observational_estimates(o, c, X, d, res, comm);
        mkt_metrics_set_str(res, "heldout_metrics_note",
                            "observational campaign: Qini and uplift@k compare targeted with untargeted users, who "
                            "differ by design; read the observational effects instead");
    }
}

/* Collective. The gbdt fits of a run into *gf (resumed from a matching
 * checkpoint when asked); returns the fit count resumed from (0: none). */
static int fit_gbdt(const mkt_uplift_options *o, campaign_data *c, const double *X, int d, mkt_ckpt *ck,
                    const mkt_ckpt_config *cfg, gbdt_fits *gf, MPI_Comm comm)
{
    int T = c->T, start;
    /* boosted trees (checkpointed between fits): with a validation
     * split, the selection pass (early stopping on the validation rows)
     * chooses each fit's tree count, then the final pass fits all rows */
    size_t ne = (size_t)c->n * (size_t)(T - 1);
    gf->eff_y = xalloc(ne, sizeof(double));
    gf->eff_s = xalloc(ne, sizeof(double));
    up_gbdt_plan plan;
    memset(&plan, 0, sizeof plan);
    up_gbdt_run *gr = &gf->run;
    gr->ck = ck;
    gr->cfg = cfg;
    start = up_gbdt_resume(gr, d, comm);
    if (o->config.valid_fraction > 0) {
        gf->eff_v = xalloc(ne, sizeof(double));
        up_gbdt_fit_outcome(o, c, X, d, 1, c->y, o->config.outcome, gf->eff_v, 0, &plan, gr, comm);
        up_gbdt_fit_outcome(o, c, X, d, 0, c->spend, "spend", gf->eff_s, 0, &plan, gr, comm);
    }
    up_gbdt_fit_outcome(o, c, X, d, 1, c->y, o->config.outcome, gf->eff_y, 1, &plan, gr, comm);
    up_gbdt_fit_outcome(o, c, X, d, 0, c->spend, "spend", gf->eff_s, 1, &plan, gr, comm);
    free(plan.rounds);
    return start;
}

/* What a train run holds until it returns. */
static void free_train(campaign_data *c, uplift_features *fs, double *X, double *slots, double *coef_y,
                       double *coef_s, double *coef_v)
{
    free(coef_y);
    free(coef_s);
    free(coef_v);
    free(slots);
    free(X);
    free(fs->attr);
    up_free_campaign(c);
}

void mkt_uplift_options_init(mkt_uplift_options *o)
{
    memset(o, 0, sizeof *o);
    mkt_uplift_config_defaults(&o->config);
    o->checkpoint_every = 5;
}

int mkt_uplift_train(const mkt_uplift_options *o, MPI_Comm comm, json_t *metrics)
{
    double t0 = mkt_now();
    const char *bad = mkt_uplift_check_config(&o->config);
    if (bad)
        mkt_fail_all(MKT_EXIT_USAGE, "train uplift: %s", bad);
    campaign_data c;
    up_load_campaign(&c, o->store, o->config.outcome, comm);
    up_mark_holdout(&c, o->config.seed, o->config.holdout, o->config.valid_fraction, o->config.folds);
    int report = o->config.holdout > 0;
    check_train_splits(o, &c, comm);
    uplift_features fs;
    up_fit_features(&c, o->config.squares, &fs, comm);
    double *X;
    int d;
    up_features_matrix(&c, &fs, &X, &d);
    int T = c.T;
    mkt_log(STAGE, "%lld campaign rows, %d arms, %d features, method %s, outcome %s%s", (long long)c.N, T, d,
            uplift_method_name(up_method(o)), o->config.outcome,
            up_observational(o) ? ", observational design (arm 0 = the untargeted users)" : "");
    if (up_observational(o)) /* the fitted propensities (c.prop) */
        up_fit_propensity(o, &c, X, d, comm);
    double *coef_y = xalloc((size_t)T * (size_t)d, sizeof(double));
    double *coef_s = xalloc((size_t)T * (size_t)d, sizeof(double));
    double *coef_v = xalloc((size_t)T * (size_t)d, sizeof(double));
    /* every fit's coefficients: the outcome's, spend's, then the selection fits' */
    int ps = up_pass_slots(up_method(o), T, o->config.folds), nslot = ps * (o->config.valid_fraction > 0 ? 3 : 2);
    double *slots = xalloc((size_t)nslot * (size_t)d, sizeof(double));

    /* checkpoints: resume when asked and a matching one exists */
    mkt_ckpt ck;
    mkt_ckpt_init(&ck, STAGE, o->checkpoint, o->model, "uplift", o->checkpoint_every, o->resume);
    mkt_ckpt_config cfg;
    uplift_config(o, &c, d, &cfg);
    mkt_ckpt_signals_install();
    up_run run = {&ck, &cfg, slots, nslot, d, 0, 0, 0, 0, 0, 0, 0};
    int start = 0;
    gbdt_fits gf;
    memset(&gf, 0, sizeof gf);
    if (mkt_uplift_config_gbdt(&o->config)) {
        start = fit_gbdt(o, &c, X, d, &ck, &cfg, &gf, comm);
        run.stopped = gf.run.stopped;
    } else {
        start = resume_run(&run, slots, comm);
        size_t pass = (size_t)ps * (size_t)d;
        up_fit_outcome(o, &c, X, d, 1, c.y, o->config.outcome, slots, 0, coef_y, &run, comm);
        up_fit_outcome(o, &c, X, d, 0, c.spend, "spend", slots + pass, 0, coef_s, &run, comm);
        /* model selection: the outcome's fits again without the validation rows */
        if (o->config.valid_fraction > 0)
            up_fit_outcome(o, &c, X, d, 1, c.y, o->config.outcome, slots + 2 * pass, 1, coef_v, &run, comm);
    }
    double t_fit = mkt_now() - t0;
    mkt_metrics_set_str(metrics, "checkpoint", ck.path);
    mkt_metrics_set_int(metrics, "resumed_from_iteration", start);
    mkt_metrics_set_int(metrics, "checkpoints_written", ck.written);
    if (run.stopped) {
        mkt_metrics_set_int(metrics, "preempted_at_iteration", run.stopped);
        mkt_ckpt_preempted(&ck, run.stopped);
        mkt_ckpt_signals_restore();
        mkt_ckpt_config_free(&cfg);
        mkt_ckpt_free(&ck);
        free(gf.eff_y);
        free(gf.eff_s);
        free(gf.eff_v);
        up_gbdt_free(&gf.run.fits);
        free_train(&c, &fs, X, slots, coef_y, coef_s, coef_v);
        return MKT_EXIT_PREEMPTED;
    }

    uplift_result r;
    measure(o, &c, X, d, coef_y, coef_s, coef_v, gf.eff_y ? &gf : NULL, report, &r, comm);

    write_uplift_model(o, &c, &fs, d, &r, comm);
    mkt_ckpt_remove(&ck, comm);
    /* a signal after the last Newton step: the model is complete, but the
     * job was asked to stop, so it says so with the preemption status */
    int late = mkt_ckpt_agree_signal(comm);
    mkt_ckpt_signals_restore();
    if (late)
        mkt_log(STAGE, "preempted after the last iteration: the model %s is complete; nothing to resume", o->model);
    mkt_ckpt_config_free(&cfg);
    mkt_ckpt_free(&ck);

    mkt_metrics_set_str(metrics, "store", o->store);
    mkt_metrics_set_str(metrics, "model", o->model);
    mkt_metrics_set_str(metrics, "method", uplift_method_name(up_method(o)));
    if (gf.eff_y) { /* only then: the linear runs' metrics keep their keys */
        mkt_metrics_set_str(metrics, "learner", "gbdt");
        json_t *tr = mkt_metrics_child(metrics, "forests");
        for (int k = 0; k < gf.run.fits.n; k++)
            if (gf.run.fits.forest[k].final)
                mkt_metrics_set_int(tr, gf.run.fits.forest[k].name, gf.run.fits.forest[k].model.trees);
    }
    mkt_metrics_set_str(metrics, "outcome", o->config.outcome);
    mkt_metrics_set_int(metrics, "rows", c.N);
    mkt_metrics_set_int(metrics, "features", d);
    mkt_metrics_set_real(metrics, "fit_seconds", t_fit);
    mkt_metrics_set_real(metrics, "seconds", mkt_now() - t0);
    json_object_update(metrics, r.res);
    json_decref(r.res);
    for (int t = 1; t < T && report; t++)
        mkt_log(STAGE, "held out, %s vs %s: %s Qini %.5f, uplift@30%% %.4f", c.arm_names[t], c.arm_names[0],
                o->config.outcome, r.mrow_y[(t - 1) * 5], r.mrow_y[(t - 1) * 5 + 4]);
    mkt_log(STAGE, "trained in %.2fs; /models/uplift written to %s", mkt_now() - t0, o->model);

    free(r.mrow_y);
    free(r.mrow_s);
    free(r.pred_y);
    free(r.pred_s);
    free(gf.eff_y);
    free(gf.eff_s);
    free(gf.eff_v);
    up_gbdt_free(&gf.run.fits);
    free_train(&c, &fs, X, slots, coef_y, coef_s, coef_v);
    return late ? MKT_EXIT_PREEMPTED : MKT_EXIT_OK;
}

/* ---------- eval ---------- */

/* Collective. The store to measure on must have the model's arms and
 * attributes (names, in order; categorical where the model's are); a
 * categorical attribute's codes are mapped to the model's by level name
 * (a level the model has not seen gets the all-zero block). */
static void match_model(hid_t f, const char *model, const char *store, campaign_data *c, const uplift_features *fs,
                        MPI_Comm comm)
{
    const char *g = MKT_MODELS_UPLIFT;
    char path[700];
    snprintf(path, sizeof path, "%s/arms", g);
    int64_t T = mkt_h5_rows(f, path, NULL);
    char **arms = mkt_h5_read_strings(f, path, 0, T);
    for (int64_t t = 0; t < (T > c->T ? T : c->T); t++)
        if (t >= T || t >= c->T || strcmp(arms[t], c->arm_names[t]) != 0)
            mkt_fail_all(MKT_EXIT_ERROR,
                         "eval uplift: the arms of %s differ from the model's (%s): arm %lld is '%s' in %s and '%s' "
                         "in the model (%lld vs %d arms)",
                         store, model, (long long)t, t < c->T ? c->arm_names[t] : "(none)", store,
                         t < T ? arms[t] : "(none)", (long long)T, c->T);
    mkt_h5_free_strings(arms, T);
    int A = fs->n_attr;
    char **names = NULL;
    if (A > 0) {
        snprintf(path, sizeof path, "%s/attr_names", g);
        names = mkt_h5_read_strings(f, path, 0, A);
    }
    for (int a = 0; a < (A > c->A ? A : c->A); a++)
        if (a >= A || a >= c->A || strcmp(names[a], c->attr_names[a]) != 0)
            mkt_fail_all(MKT_EXIT_ERROR,
                         "eval uplift: the attribute columns of %s differ from the model's (%s): column %d is '%s' in "
                         "%s and '%s' in the model (%d vs %d attributes)",
                         store, model, a, a < c->A ? c->attr_names[a] : "(none)", store, a < A ? names[a] : "(none)",
                         c->A, A);
    int64_t unknown = 0;
    for (int a = 0; a < A; a++) {
        const uplift_attr_spec *s = &fs->attr[a];
        if (s->categorical != (c->n_levels[a] > 0))
            mkt_fail_all(MKT_EXIT_ERROR, "eval uplift: attribute '%s' is %s in %s but %s in the model (%s)", names[a],
                         c->n_levels[a] > 0 ? "categorical" : "numeric", store,
                         s->categorical ? "categorical" : "numeric", model);
        if (!s->categorical)
            continue;
        snprintf(path, sizeof path, "%s/levels/%s", g, names[a]);
        if (!mkt_h5_exists(f, path)) {
            /* a model without level names: codes are comparable only when the levels agree in number */
            if (s->n_levels != c->n_levels[a])
                mkt_fail_all(MKT_EXIT_ERROR, "eval uplift: attribute '%s' has %d levels in %s, %d in the model (%s)",
                             names[a], c->n_levels[a], store, s->n_levels, model);
            continue;
        }
        char **ml = mkt_h5_read_strings(f, path, 0, s->n_levels);
        int *map = xalloc((size_t)c->n_levels[a], sizeof(int));
        for (int l = 0; l < c->n_levels[a]; l++) {
            map[l] = -1;
            for (int m = 0; m < s->n_levels; m++)
                if (!strcmp(ml[m], c->level_names[a][l]))
                    map[l] = m;
        }
        for (int64_t i = 0; i < c->n; i++) {
            double *v = &c->attrs[i * c->A + a];
            if (isfinite(*v) && *v >= 0 && *v < c->n_levels[a]) {
                int m = map[(int)*v];
                if (m < 0)
                    unknown++;
                *v = m >= 0 ? (double)m : NAN;
            }
        }
        free(map);
        mkt_h5_free_strings(ml, s->n_levels);
    }
    MKT_MPI(MPI_Allreduce(MPI_IN_PLACE, &unknown, 1, MPI_INT64_T, MPI_SUM, comm));
    if (unknown > 0)
        mkt_log(STAGE, "%lld attribute values of %s are levels the model has not seen: they enter as all-zero blocks",
                (long long)unknown, store);
    if (names)
        mkt_h5_free_strings(names, A);
}

int mkt_uplift_eval(const mkt_uplift_options *o, MPI_Comm comm, json_t *metrics)
{
    double t0 = mkt_now();
    const char *store = o->test_store ? o->test_store : o->store;
    hid_t f = mkt_h5_open(o->model, 0, comm);
    if (!mkt_h5_exists(f, MKT_MODELS_UPLIFT))
        mkt_fail_all(MKT_EXIT_ERROR, "eval uplift: %s has no /models/uplift (run mkt train uplift)", o->model);
    const char *g = MKT_MODELS_UPLIFT;
    char *outcome = mkt_h5_attr_get_string(f, g, "outcome");
    char *method_name = mkt_h5_attr_get_string(f, g, "method");
    int method = uplift_method_parse(method_name);
    if (method < 0 || !outcome)
        mkt_fail_all(MKT_EXIT_ERROR, "eval uplift: %s: /models/uplift lacks method/outcome", o->model);
    up_check_outcome(outcome);
    uint64_t seed = (uint64_t)mkt_h5_attr_get_int(f, g, "seed", 0);
    double holdout = mkt_h5_attr_get_double(f, g, "holdout", 0.3);
    int d = (int)mkt_h5_attr_get_int(f, g, "features", 0);
    int A = (int)mkt_h5_attr_get_int(f, g, "attrs", 0);
    campaign_data c;
    up_load_campaign(&c, store, outcome, comm);
    int T = c.T, nt = T - 1;
    uplift_features fs;
    fs.n_attr = A;
    fs.attr = xalloc((size_t)A, sizeof(uplift_attr_spec));
    if (A != c.A && !o->test_store)
        mkt_fail_all(MKT_EXIT_ERROR, "eval uplift: the model has %d attributes, the store %d", A, c.A);
    if (A > 0) {
        double *spec = xalloc((size_t)A * UPLIFT_SPEC_COLS, sizeof(double));
        mkt_h5_read_rows(f, MKT_MODELS_UPLIFT_FEATURE_SPEC, H5T_NATIVE_DOUBLE, 0, A, spec);
        uplift_spec_decode(spec, &fs);
        free(spec);
    }
    if (uplift_feature_dim(&fs) != d)
        mkt_fail_all(MKT_EXIT_ERROR, "eval uplift: %s: feature layout does not match (%d vs %d)", o->model,
                     uplift_feature_dim(&fs), d);
    if (o->test_store)
        match_model(f, o->model, store, &c, &fs, comm);
    char *learner = mkt_h5_attr_get_string(f, g, "learner");
    int gbdt = learner && !strcmp(learner, "gbdt");
    free(learner);
    double *coef_y = NULL, *coef_s = NULL;
    if (!gbdt) {
        int64_t cols = 0, rows;
        char name[128];
        snprintf(name, sizeof name, "/models/uplift/coef_%s", outcome);
        rows = mkt_h5_rows(f, name, &cols);
        if (rows != T || cols != d)
            mkt_fail_all(MKT_EXIT_ERROR, "eval uplift: %s is %lld x %lld, expected %d x %d (arms x features)", name,
                         (long long)rows, (long long)cols, T, d);
        coef_y = xalloc((size_t)T * (size_t)d, sizeof(double));
        coef_s = xalloc((size_t)T * (size_t)d, sizeof(double));
        mkt_h5_read_rows(f, name, H5T_NATIVE_DOUBLE, 0, T, coef_y);
        mkt_h5_read_rows(f, MKT_MODELS_UPLIFT_COEF_SPEND, H5T_NATIVE_DOUBLE, 0, T, coef_s);
    }

    if (o->test_store) {
        /* a separate test store: every row is a test row */
        memset(c.holdout, 1, (size_t)c.n);
        up_require_split_rows(&c, c.holdout, "eval uplift", "test store", "give a test store with rows of every arm",
                              comm);
    } else {
        up_mark_holdout(&c, seed, holdout, 0.0, 1);
        char what[600];
        snprintf(what, sizeof what, "hold-out of %s (share %g, seed %llu, from the model)", store, holdout,
                 (unsigned long long)seed);
        up_require_split_rows(&c, c.holdout, "eval uplift", what,
                              "train with --holdout > 0, or measure on a separate store with --test STORE", comm);
    }
    double *X;
    int dx;
    up_features_matrix(&c, &fs, &X, &dx);
    double *pred_y = xalloc((size_t)c.n * (size_t)nt, sizeof(double));
    double *pred_s = xalloc((size_t)c.n * (size_t)nt, sizeof(double));
    if (gbdt) { /* the forests' effects at every local row */
        up_gbdt_read_effects(f, o->model, method, outcome, 1, T, d, X, c.n, pred_y, NULL);
        up_gbdt_read_effects(f, o->model, method, "spend", 0, T, d, X, c.n, pred_s, NULL);
    }
    mkt_h5_close(f);
    double *mrow_y = xalloc((size_t)nt * 5, sizeof(double)), *mrow_s = xalloc((size_t)nt * 5, sizeof(double));
    json_t *res = json_object();
    evaluate(&c, X, d, method, outcome, coef_y, coef_s, pred_y, pred_s, mrow_y, mrow_s, 1, res, comm);
    mkt_metrics_set_str(metrics, "store", store);
    mkt_metrics_set_str(metrics, "model", o->model);
    mkt_metrics_set_str(metrics, "method", method_name);
    if (gbdt)
        mkt_metrics_set_str(metrics, "learner", "gbdt");
    mkt_metrics_set_str(metrics, "outcome", outcome);
    mkt_metrics_set_str(metrics, "split", o->test_store ? "test store (all rows)" : "hold-out of the training store");
    mkt_metrics_set_int(metrics, "rows", c.N);
    mkt_metrics_set_int(metrics, "features", d);
    mkt_metrics_set_real(metrics, "seconds", mkt_now() - t0);
    json_object_update(metrics, res);
    json_decref(res);
    for (int t = 1; t < T; t++)
        mkt_log(STAGE, "%s vs %s: %s Qini %.5f, uplift@30%% %.4f", c.arm_names[t], c.arm_names[0], outcome,
                mrow_y[(t - 1) * 5], mrow_y[(t - 1) * 5 + 4]);
    free(mrow_y);
    free(mrow_s);
    free(pred_y);
    free(pred_s);
    free(coef_y);
    free(coef_s);
    free(X);
    free(fs.attr);
    free(outcome);
    free(method_name);
    up_free_campaign(&c);
    return MKT_EXIT_OK;
}
