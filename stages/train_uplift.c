/* train_uplift.c — the distributed `train uplift` / `eval uplift` stages.
 *
 * Owns: reading the campaign log (and the planted truth of `mkt gen`
 * stores), the feature normalization, the Newton/IRLS and ridge fits with
 * exact cross-rank sums (T, S, transformed, X and cross-fitted DR learners),
 * writing /models/uplift, the held-out (or separate test store) metrics and
 * the validation-split selection metric.
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
#include "train_uplift.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iocheck.h"
#include "checkpoint.h"
#include "exactsum.h"
#include "h5store.h"
#include "metrics_json.h"
#include "par.h"
#include "schema.h"
#include "uplift.h"

#define UPLIFT_CHUNK 1024
#define STAGE "uplift"

/* ---------- the campaign rows of this rank ---------- */

typedef struct {
    int64_t N, begin, n; /* global rows; this rank's rows [begin, begin + n) */
    int A, T;            /* attributes, arms (index 0 = control) */
    char **attr_names, **arm_names;
    int *n_levels;       /* per attribute: levels (0: numeric) */
    char ***level_names; /* per categorical attribute: its level names (code order) */
    int32_t *user, *treatment;
    double *y;           /* binary outcome (visit or conversion) */
    double *spend;
    double *attrs;       /* n x A */
    unsigned char *holdout; /* 1: test row (held out of every fit and of the selection) */
    unsigned char *valid;   /* 1: validation row (left out of the selection fits only) */
    unsigned char *fold;    /* cross-fitting fold of the row (DR-learner) */
    double *prop;           /* observational: n x T, propensity of arm t among t and control (NULL: randomized) */
    const unsigned char *excl; /* rows a fit leaves out (observational: outside the overlap of its arm) */
    int observational_store; /* /campaigns says design = observational (ingest --control untargeted) */
    int has_truth;       /* /truth/effect_* present with T-1 columns */
    double *truth_conv, *truth_spend; /* n x (T-1), NaN without truth */
} campaign_data;

static void *xalloc(size_t count, size_t size) { return mkt_xcalloc(count > 0 ? count : 1, size); }

/* Collective. Read this rank's chunk block of /campaigns. */
static void load_campaign(campaign_data *c, const char *store, const char *outcome, MPI_Comm comm)
{
    int rank, nranks;
    MKT_MPI(MPI_Comm_rank(comm, &rank));
    MKT_MPI(MPI_Comm_size(comm, &nranks));
    memset(c, 0, sizeof *c);
    hid_t f = mkt_h5_open(store, 0, comm);
    if (!mkt_h5_exists(f, MKT_CAMPAIGNS_USER) || !mkt_h5_exists(f, MKT_IDS_TREATMENTS))
        mkt_fail_all(MKT_EXIT_ERROR, "uplift: %s has no campaign log (/campaigns, /ids/treatments)", store);
    c->N = mkt_h5_rows(f, MKT_CAMPAIGNS_USER, NULL);
    int64_t acols = 0;
    if (mkt_h5_exists(f, MKT_CAMPAIGNS_ATTRS))
        mkt_h5_rows(f, MKT_CAMPAIGNS_ATTRS, &acols);
    c->A = (int)acols;
    c->T = (int)mkt_h5_rows(f, MKT_IDS_TREATMENTS, NULL);
    if (c->T < 2)
        mkt_fail_all(MKT_EXIT_ERROR, "uplift: %s: the campaign has %d arm(s); need control and a treatment", store,
                     c->T);
    if (c->N < 1)
        mkt_fail_all(MKT_EXIT_ERROR, "uplift: %s: the campaign log is empty", store);
    c->arm_names = mkt_h5_read_strings(f, MKT_IDS_TREATMENTS, 0, c->T);
    c->attr_names = c->A > 0 ? mkt_h5_read_strings(f, MKT_CAMPAIGNS_ATTR_NAMES, 0, c->A) : xalloc(1, sizeof(char *));
    c->n_levels = xalloc((size_t)c->A, sizeof(int));
    c->level_names = xalloc((size_t)c->A, sizeof(char **));
    for (int a = 0; a < c->A; a++) {
        char path[600];
        snprintf(path, sizeof path, "/campaigns/levels/%s", c->attr_names[a]);
        if (mkt_h5_exists(f, path)) {
            c->n_levels[a] = (int)mkt_h5_rows(f, path, NULL);
            c->level_names[a] = mkt_h5_read_strings(f, path, 0, c->n_levels[a]);
        }
    }
    int64_t nchunks = (c->N + UPLIFT_CHUNK - 1) / UPLIFT_CHUNK;
    mkt_block cb = mkt_block_of(nchunks, nranks, rank);
    c->begin = cb.begin * UPLIFT_CHUNK;
    int64_t end = cb.end * UPLIFT_CHUNK < c->N ? cb.end * UPLIFT_CHUNK : c->N;
    c->n = end > c->begin ? end - c->begin : 0;
    size_t n = (size_t)c->n, nt = (size_t)(c->T - 1);
    c->user = xalloc(n, sizeof(int32_t));
    c->treatment = xalloc(n, sizeof(int32_t));
    int32_t *yi = xalloc(n, sizeof(int32_t));
    c->y = xalloc(n, sizeof(double));
    c->spend = xalloc(n, sizeof(double));
    c->attrs = xalloc(n * (size_t)(c->A > 0 ? c->A : 1), sizeof(double));
    c->holdout = xalloc(n, 1);
    c->valid = xalloc(n, 1);
    c->fold = xalloc(n, 1);
    mkt_h5_read_rows(f, MKT_CAMPAIGNS_USER, H5T_NATIVE_INT32, c->begin, c->n, c->user);
    mkt_h5_read_rows(f, MKT_CAMPAIGNS_TREATMENT, H5T_NATIVE_INT32, c->begin, c->n, c->treatment);
    char ypath[64];
    snprintf(ypath, sizeof ypath, "/campaigns/%s", outcome);
    if (!mkt_h5_exists(f, ypath))
        mkt_fail_all(MKT_EXIT_ERROR, "uplift: %s has no %s (redemptions come from a targeted-users log ingested "
                     "with --control untargeted and --conversion-col naming its redemption column)", store, ypath);
    mkt_h5_read_rows(f, ypath, H5T_NATIVE_INT32, c->begin, c->n, yi);
    char *design = mkt_h5_attr_get_string(f, MKT_CAMPAIGNS, "design");
    c->observational_store = design && !strcmp(design, "observational");
    free(design);
    mkt_h5_read_rows(f, MKT_CAMPAIGNS_SPEND, H5T_NATIVE_DOUBLE, c->begin, c->n, c->spend);
    if (c->A > 0)
        mkt_h5_read_rows(f, MKT_CAMPAIGNS_ATTRS, H5T_NATIVE_DOUBLE, c->begin, c->n, c->attrs);
    for (size_t i = 0; i < n; i++) {
        c->y[i] = yi[i] != 0;
        if (c->treatment[i] < 0 || c->treatment[i] >= c->T)
            mkt_fail("uplift: %s: campaign row %lld has treatment %d (arms: %d)", store,
                     (long long)(c->begin + (int64_t)i), c->treatment[i], c->T);
    }
    free(yi);
    /* planted truth (mkt gen stores), per campaign row */
    int64_t tc = 0, tcs = 0;
    c->has_truth = mkt_h5_exists(f, MKT_TRUTH_EFFECT_CONVERSION) && mkt_h5_exists(f, MKT_TRUTH_EFFECT_SPEND);
    if (c->has_truth) {
        mkt_h5_rows(f, MKT_TRUTH_EFFECT_CONVERSION, &tc);
        mkt_h5_rows(f, MKT_TRUTH_EFFECT_SPEND, &tcs);
        c->has_truth = tc == c->T - 1 && tcs == c->T - 1;
    }
    c->truth_conv = xalloc(n * nt, sizeof(double));
    c->truth_spend = xalloc(n * nt, sizeof(double));
    if (c->has_truth && n > 0) {
        int64_t u0 = c->user[0], u1 = c->user[n - 1]; /* rows are sorted by user */
        size_t span = (size_t)(u1 - u0 + 1);
        double *tcv = xalloc(span * nt, sizeof(double)), *tsp = xalloc(span * nt, sizeof(double));
        mkt_h5_read_rows(f, MKT_TRUTH_EFFECT_CONVERSION, H5T_NATIVE_DOUBLE, u0, (int64_t)span, tcv);
        mkt_h5_read_rows(f, MKT_TRUTH_EFFECT_SPEND, H5T_NATIVE_DOUBLE, u0, (int64_t)span, tsp);
        for (size_t i = 0; i < n; i++)
            for (size_t t = 0; t < nt; t++) {
                c->truth_conv[i * nt + t] = tcv[(size_t)(c->user[i] - u0) * nt + t];
                c->truth_spend[i * nt + t] = tsp[(size_t)(c->user[i] - u0) * nt + t];
            }
        free(tcv);
        free(tsp);
    }
    mkt_h5_close(f);
}

static void free_campaign(campaign_data *c)
{
    mkt_h5_free_strings(c->arm_names, c->T);
    if (c->A > 0)
        mkt_h5_free_strings(c->attr_names, c->A);
    else
        free(c->attr_names);
    for (int a = 0; a < c->A; a++)
        if (c->level_names[a])
            mkt_h5_free_strings(c->level_names[a], c->n_levels[a]);
    free(c->level_names);
    free(c->n_levels);
    free(c->user);
    free(c->treatment);
    free(c->y);
    free(c->spend);
    free(c->attrs);
    free(c->holdout);
    free(c->valid);
    free(c->fold);
    free(c->truth_conv);
    free(c->truth_spend);
    free(c->prop);
}

/* Collective. Normalization of the numeric attributes over all campaign rows:
 * exact sums, so the same on any rank count. */
static void fit_features(const campaign_data *c, int squares, uplift_features *fs, MPI_Comm comm)
{
    int A = c->A;
    fs->n_attr = A;
    fs->attr = xalloc((size_t)A, sizeof(uplift_attr_spec));
    mkt_xsum *acc = xalloc((size_t)A * 2, sizeof(mkt_xsum));
    int64_t *counts = xalloc((size_t)A * 2, sizeof(int64_t)); /* finite values, values not 0/1 */
    for (int k = 0; k < 2 * A; k++)
        mkt_xsum_init(&acc[k]);
    for (int64_t i = 0; i < c->n; i++)
        for (int a = 0; a < A; a++) {
            double v = c->attrs[i * A + a];
            if (!isfinite(v))
                continue;
            mkt_xsum_add(&acc[2 * a], v);
            mkt_xsum_add(&acc[2 * a + 1], v * v);
            counts[2 * a]++;
            if (v != 0.0 && v != 1.0)
                counts[2 * a + 1]++;
        }
    if (A > 0) {
        mkt_allreduce_xsum(acc, 2 * A, comm);
        MKT_MPI(MPI_Allreduce(MPI_IN_PLACE, counts, 2 * A, MPI_INT64_T, MPI_SUM, comm));
    }
    for (int a = 0; a < A; a++) {
        uplift_attr_spec *s = &fs->attr[a];
        if (c->n_levels[a] > 0) {
            s->categorical = 1;
            s->n_levels = c->n_levels[a];
            s->std = 1.0;
            continue;
        }
        uplift_mean_std((double)counts[2 * a], mkt_xsum_value(&acc[2 * a]), mkt_xsum_value(&acc[2 * a + 1]),
                        &s->mean, &s->std);
        s->square = squares && counts[2 * a + 1] > 0;
    }
    free(acc);
    free(counts);
}

/* ---------- distributed fits ---------- */

typedef enum { FIT_ARM, FIT_S, FIT_TRANSFORMED, FIT_PAIR } fit_kind;

typedef struct {
    fit_kind kind;
    int arm;         /* FIT_ARM: rows of this arm; FIT_TRANSFORMED, FIT_PAIR: this arm and control */
    int logistic;    /* Newton on the log-likelihood; else ridge */
    const double *y; /* response per local row (FIT_PAIR: a pseudo-outcome) */
    double e;        /* FIT_TRANSFORMED: share of the arm among arm and control */
    int skip_valid;  /* leave the validation rows out (the selection fits) */
    int fold_out;    /* >= 0: leave the rows of this cross-fitting fold out */
    const char *label;
} fit_spec;

/* Design row of local row i for a fit, or 0 when the row is not used. */
static int design_row(const fit_spec *s, const campaign_data *c, const double *X, int d, int64_t i, double *z,
                      double *resp)
{
    if (c->holdout[i] || (s->skip_valid && c->valid[i]) || (s->fold_out >= 0 && c->fold[i] == s->fold_out) ||
        (c->excl && c->excl[i]))
        return 0;
    int w = c->treatment[i];
    const double *x = X + i * d;
    switch (s->kind) {
    case FIT_ARM:
        if (w != s->arm)
            return 0;
        memcpy(z, x, sizeof(double) * (size_t)d);
        *resp = s->y[i];
        return 1;
    case FIT_TRANSFORMED:
        if (w != s->arm && w != 0)
            return 0;
        memcpy(z, x, sizeof(double) * (size_t)d);
        *resp = uplift_transformed_outcome(s->y[i], w == s->arm, s->e);
        return 1;
    case FIT_PAIR:
        if (w != s->arm && w != 0)
            return 0;
        memcpy(z, x, sizeof(double) * (size_t)d);
        *resp = s->y[i];
        return 1;
    case FIT_S:
        memset(z, 0, sizeof(double) * (size_t)d * (size_t)c->T);
        memcpy(z, x, sizeof(double) * (size_t)d);
        if (w > 0)
            memcpy(z + (size_t)w * (size_t)d, x, sizeof(double) * (size_t)d);
        *resp = s->y[i];
        return 1;
    }
    return 0;
}

/* ---------- checkpoints ---------- */

/* The fits of a run, in their fixed order (outcome then spend, then the
 * outcome's selection fits; arms in order), and the checkpoint state between
 * Newton steps.  Steps are counted over all fits; every fit has its slot
 * rows of d coefficients in one matrix, and a checkpoint holds that matrix
 * (the finished fits and the current fit's iterate) and where the current
 * fit stands. */
typedef struct {
    mkt_ckpt *ck;
    const mkt_ckpt_config *cfg;
    const double *coef; /* nslot x d, identical on every rank */
    int nslot, d;
    int fit;            /* index of the next fit to run */
    int step;           /* Newton steps done (this run and the resumed one) */
    int resumed;        /* a checkpoint was read: saved_* are valid */
    int saved_fit, saved_iter, saved_done;
    int stopped;        /* the step at which a signal stopped the run (0: none) */
} up_run;

/* Collective. Write the state after Newton step `iter` of fit `fit`. */
static void up_write_checkpoint(up_run *r, int fit, int iter, int done, MPI_Comm comm)
{
    mkt_h5out w;
    hid_t f = mkt_ckpt_begin(r->ck, &w, "uplift", r->step, r->cfg, comm);
    mkt_ckpt_write_full(f, "coef", r->coef, r->nslot, r->d, comm);
    json_t *st = json_pack("{s:i, s:i, s:i}", "fit", fit, "iteration", iter, "done", done);
    mkt_ckpt_write_json(f, "state", st, comm);
    json_decref(st);
    mkt_ckpt_commit(r->ck, &w);
    mkt_log_detail(STAGE, "checkpoint %s written at Newton step %d", r->ck->path, r->step);
}

/* Collective. Fit one model; beta [dd] (dd = d, or T*d for FIT_S) starts at 0
 * (or, resuming, at the checkpoint's iterate).  Returns the number of Newton
 * iterations of this call. */
/* The penalty of the ridge regressions of effects (see l2_effect). */
static double effect_l2(const mkt_uplift_options *o)
{
    return o->l2_effect < 0 ? o->l2 : o->l2_effect;
}

static int fit_model(const fit_spec *s, const campaign_data *c, const double *X, int d, double l2, int max_iter,
                     double tol, double *beta, up_run *run, MPI_Comm comm)
{
    int fit = run->fit++, it0 = 1;
    if (run->stopped)
        return 0;
    if (run->resumed && (fit < run->saved_fit || (fit == run->saved_fit && run->saved_done)))
        return 0; /* finished before the checkpoint: beta was read from it */
    int dd = s->kind == FIT_S ? d * c->T : d;
    size_t ntri = (size_t)dd * (size_t)dd;
    int nacc = dd * (dd + 1) / 2 + dd + 2; /* A upper, b, log-likelihood, rows */
    mkt_xsum *acc = xalloc((size_t)nacc, sizeof(mkt_xsum));
    double *A = xalloc(ntri, sizeof(double)), *b = xalloc((size_t)dd, sizeof(double));
    double *Ac = xalloc(ntri, sizeof(double)), *bc = xalloc((size_t)dd, sizeof(double));
    double *z = xalloc((size_t)dd, sizeof(double));
    unsigned char *unpen = xalloc((size_t)dd, 1);
    for (int k = 0; k < dd; k += d)
        unpen[k] = 1; /* intercepts (and the S-learner's arm main effects) are not penalized */
    if (run->resumed && fit == run->saved_fit)
        it0 = run->saved_iter + 1; /* the checkpoint's iterate is in beta */
    else
        memset(beta, 0, sizeof(double) * (size_t)dd);
    int it, iters = 0, last = s->logistic ? max_iter : 1;
    for (it = it0; it <= last; it++) {
        for (int k = 0; k < nacc; k++)
            mkt_xsum_init(&acc[k]);
        for (int64_t i0 = 0; i0 < c->n;) {
            /* one chunk: global rows [g, g + UPLIFT_CHUNK) */
            int64_t i1 = i0 + UPLIFT_CHUNK - (c->begin + i0) % UPLIFT_CHUNK;
            if (i1 > c->n)
                i1 = c->n;
            memset(Ac, 0, sizeof(double) * ntri);
            memset(bc, 0, sizeof(double) * (size_t)dd);
            double llc = 0.0, nrows = 0.0;
            for (int64_t i = i0; i < i1; i++) {
                double resp, w = 1.0, r;
                if (!design_row(s, c, X, d, i, z, &resp))
                    continue;
                r = resp;
                if (s->logistic)
                    llc += uplift_logistic_terms(z, dd, beta, resp, &w, &r);
                uplift_accumulate(z, dd, w, r, Ac, bc);
                nrows += 1.0;
            }
            int k = 0;
            for (int p = 0; p < dd; p++)
                for (int q = p; q < dd; q++)
                    mkt_xsum_add(&acc[k++], Ac[p * dd + q]);
            for (int p = 0; p < dd; p++)
                mkt_xsum_add(&acc[k++], bc[p]);
            mkt_xsum_add(&acc[k++], llc);
            mkt_xsum_add(&acc[k++], nrows);
            i0 = i1;
        }
        mkt_allreduce_xsum(acc, nacc, comm);
        int k = 0;
        for (int p = 0; p < dd; p++)
            for (int q = p; q < dd; q++)
                A[p * dd + q] = mkt_xsum_value(&acc[k++]);
        for (int p = 0; p < dd; p++)
            b[p] = mkt_xsum_value(&acc[k++]);
        double ll = mkt_xsum_value(&acc[k++]), rows = mkt_xsum_value(&acc[k++]);
        if (rows < 1)
            mkt_fail_all(MKT_EXIT_ERROR, "uplift: %s: no training rows", s->label);
        double step = 0.0;
        MKT_LAPACK(uplift_newton_solve(A, b, dd, l2, unpen, !s->logistic, beta, &step));
        iters = it;
        if (s->logistic)
            mkt_log_detail(STAGE, "%s: Newton iteration %d, %.0f rows, log-likelihood %.6f, max step %.3g", s->label, it,
                    rows, ll, step);
        else
            mkt_log_detail(STAGE, "%s: ridge solve, %.0f rows", s->label, rows);
        int done = it == last || (s->logistic && step < tol);
        run->step++;
        int act = run->ck ? mkt_ckpt_step(run->ck, run->step, INT_MAX, comm) : MKT_CKPT_CONTINUE;
        if (act != MKT_CKPT_CONTINUE)
            up_write_checkpoint(run, fit, it, done, comm);
        if (act == MKT_CKPT_STOP) {
            run->stopped = run->step;
            break;
        }
        if (done)
            break;
    }
    free(acc);
    free(A);
    free(b);
    free(Ac);
    free(bc);
    free(z);
    free(unpen);
    return iters;
}

/* Collective. Exact count of training rows per arm. */
static void arm_counts(const campaign_data *c, int skip_valid, int64_t *counts, MPI_Comm comm)
{
    memset(counts, 0, sizeof(int64_t) * (size_t)c->T);
    for (int64_t i = 0; i < c->n; i++)
        if (!c->holdout[i] && !(skip_valid && c->valid[i]))
            counts[c->treatment[i]]++;
    MKT_MPI(MPI_Allreduce(MPI_IN_PLACE, counts, c->T, MPI_INT64_T, MPI_SUM, comm));
}

/* Coefficient slots (rows of d) one outcome's fits take, per method: T for
 * t, s and transformed (the model itself); x: the T outcome models, then per
 * arm the two stage-2 effect models (treated, control); dr: the outcome
 * models of every arm without each fold (folds x T), the control outcome
 * model on all training rows, then per arm the effect model. */
static int pass_slots(int method, int T, int folds)
{
    switch (method) {
    case UPLIFT_X_LEARNER: return T + 2 * (T - 1);
    case UPLIFT_DR_LEARNER: return folds * T + 1 + (T - 1);
    default: return T;
    }
}

/* Prediction of an outcome model at x: probability (logistic) or value. */
static double outcome_at(const double *beta, const double *x, int d, int logistic)
{
    double eta = 0.0;
    for (int j = 0; j < d; j++)
        eta += beta[j] * x[j];
    return logistic ? uplift_sigmoid(eta) : eta;
}

/* Collective. Fit all arms of one outcome: the fits fill `slots`
 * (pass_slots() rows of d), the model is written to coef [T x d].
 * skip_valid = 1: the selection fits, without the validation rows. */
static void fit_outcome(const mkt_uplift_options *o, campaign_data *c, const double *X, int d, int logistic,
                        const double *y, const char *name, double *slots, int skip_valid, double *coef, up_run *run,
                        MPI_Comm comm)
{
    int T = c->T;
    size_t ds = (size_t)d;
    int64_t *counts = xalloc((size_t)T, sizeof(int64_t));
    arm_counts(c, skip_valid, counts, comm);
    char label[256];
    const char *pass = skip_valid ? ", selection fit" : "";
    fit_spec s;
    memset(&s, 0, sizeof s);
    s.y = y;
    s.label = label;
    s.skip_valid = skip_valid;
    s.fold_out = -1;
    if (o->method == UPLIFT_T_LEARNER) {
        s.logistic = logistic;
        s.kind = FIT_ARM;
        for (int t = 0; t < T; t++) {
            snprintf(label, sizeof label, "%s, arm %s%s", name, c->arm_names[t], pass);
            s.arm = t;
            fit_model(&s, c, X, d, o->l2, o->max_iter, o->tol, slots + (size_t)t * ds, run, comm);
        }
        memcpy(coef, slots, sizeof(double) * (size_t)T * ds);
    } else if (o->method == UPLIFT_S_LEARNER) {
        s.logistic = logistic;
        s.kind = FIT_S;
        snprintf(label, sizeof label, "%s, all arms%s", name, pass);
        fit_model(&s, c, X, d, o->l2, o->max_iter, o->tol, slots, run, comm);
        memcpy(coef, slots, sizeof(double) * (size_t)T * ds);
    } else if (o->method == UPLIFT_TRANSFORMED) {
        s.kind = FIT_TRANSFORMED;
        for (int t = 1; t < T; t++) {
            if (counts[t] == 0 || counts[0] == 0)
                mkt_fail_all(MKT_EXIT_ERROR, "uplift: arm %s or control has no training rows", c->arm_names[t]);
            snprintf(label, sizeof label, "%s, arm %s (transformed outcome)%s", name, c->arm_names[t], pass);
            s.arm = t;
            s.e = (double)counts[t] / (double)(counts[t] + counts[0]);
            fit_model(&s, c, X, d, effect_l2(o), o->max_iter, o->tol, slots + (size_t)t * ds, run, comm);
        }
        memcpy(coef, slots, sizeof(double) * (size_t)T * ds);
    } else if (o->method == UPLIFT_X_LEARNER) {
        /* stage 1: the T-learner's outcome models */
        s.logistic = logistic;
        s.kind = FIT_ARM;
        for (int t = 0; t < T; t++) {
            snprintf(label, sizeof label, "%s, arm %s (X-learner stage 1)%s", name, c->arm_names[t], pass);
            s.arm = t;
            fit_model(&s, c, X, d, o->l2, o->max_iter, o->tol, slots + (size_t)t * ds, run, comm);
        }
        /* stage 2 per arm: ridge of the imputed effects, on the arm's rows
         * (y - mu0) and on control's (mu_t - y); combined with the arm's
         * share g among arm and control training rows (randomized
         * assignment: the propensity is that constant) */
        double *resp = xalloc((size_t)c->n, sizeof(double));
        memcpy(coef, slots, sizeof(double) * ds); /* row 0: control outcome model */
        for (int t = 1; t < T; t++) {
            if (counts[t] == 0 || counts[0] == 0)
                mkt_fail_all(MKT_EXIT_ERROR, "uplift: arm %s or control has no training rows", c->arm_names[t]);
            for (int64_t i = 0; i < c->n; i++) {
                int w = c->treatment[i];
                const double *x = X + i * d;
                resp[i] = w == t   ? uplift_x_imputed(y[i], 1, outcome_at(slots, x, d, logistic))
                          : w == 0 ? uplift_x_imputed(y[i], 0, outcome_at(slots + (size_t)t * ds, x, d, logistic))
                                   : 0.0;
            }
            double *tau1 = slots + (size_t)(T + 2 * (t - 1)) * ds, *tau0 = tau1 + ds;
            s.logistic = 0;
            s.y = resp;
            s.arm = t;
            snprintf(label, sizeof label, "%s, arm %s (X-learner, imputed effects of the arm)%s", name,
                     c->arm_names[t], pass);
            fit_model(&s, c, X, d, effect_l2(o), o->max_iter, o->tol, tau1, run, comm);
            s.arm = 0;
            snprintf(label, sizeof label, "%s, arm %s (X-learner, imputed effects of control)%s", name,
                     c->arm_names[t], pass);
            fit_model(&s, c, X, d, effect_l2(o), o->max_iter, o->tol, tau0, run, comm);
            double g = (double)counts[t] / (double)(counts[t] + counts[0]);
            for (size_t j = 0; j < ds; j++)
                coef[(size_t)t * ds + j] = g * tau0[j] + (1.0 - g) * tau1[j];
        }
        free(resp);
    } else { /* UPLIFT_DR_LEARNER */
        int K = o->folds;
        s.logistic = logistic;
        s.kind = FIT_ARM;
        /* outcome models of every arm without each fold (cross-fitting) */
        for (int k = 0; k < K; k++)
            for (int t = 0; t < T; t++) {
                snprintf(label, sizeof label, "%s, arm %s without fold %d (DR-learner)%s", name, c->arm_names[t],
                         k, pass);
                s.arm = t;
                s.fold_out = k;
                fit_model(&s, c, X, d, o->l2, o->max_iter, o->tol, slots + (size_t)(k * T + t) * ds, run, comm);
            }
        /* the control outcome model on every training row: row 0 of the model (base rates) */
        s.fold_out = -1;
        s.arm = 0;
        snprintf(label, sizeof label, "%s, arm %s (DR-learner base)%s", name, c->arm_names[0], pass);
        double *base = slots + (size_t)(K * T) * ds;
        fit_model(&s, c, X, d, o->l2, o->max_iter, o->tol, base, run, comm);
        memcpy(coef, base, sizeof(double) * ds);
        /* per arm: the AIPW pseudo-outcome of each row from the models that
         * did not see its fold, and a ridge of it on the features */
        double *resp = xalloc((size_t)c->n, sizeof(double));
        for (int t = 1; t < T; t++) {
            if (counts[t] == 0 || counts[0] == 0)
                mkt_fail_all(MKT_EXIT_ERROR, "uplift: arm %s or control has no training rows", c->arm_names[t]);
            double e = (double)counts[t] / (double)(counts[t] + counts[0]);
            /* observational: each row's fitted propensity, and the rows
             * outside the overlap left out of the effect fit */
            unsigned char *excl = c->prop ? xalloc((size_t)c->n, 1) : NULL;
            for (int64_t i = 0; i < c->n; i++) {
                int w = c->treatment[i];
                resp[i] = 0.0;
                if (w != t && w != 0)
                    continue;
                double ei = c->prop ? c->prop[i * T + t] : e;
                if (excl && !(ei >= o->trim && ei <= 1.0 - o->trim)) {
                    excl[i] = 1;
                    continue;
                }
                const double *x = X + i * d;
                const double *m = slots + (size_t)(c->fold[i] * T) * ds;
                resp[i] = uplift_dr_pseudo(y[i], w == t, outcome_at(m + (size_t)t * ds, x, d, logistic),
                                           outcome_at(m, x, d, logistic), ei);
            }
            s.kind = FIT_PAIR;
            s.logistic = 0;
            s.y = resp;
            s.arm = t;
            snprintf(label, sizeof label, "%s, arm %s (DR-learner effect)%s", name, c->arm_names[t], pass);
            double *tau = slots + (size_t)(K * T + t) * ds;
            c->excl = excl;
            fit_model(&s, c, X, d, effect_l2(o), o->max_iter, o->tol, tau, run, comm);
            c->excl = NULL;
            free(excl);
            memcpy(coef + (size_t)t * ds, tau, sizeof(double) * ds);
        }
        free(resp);
    }
    free(counts);
}

/* ---------- observational campaigns ---------- */

/* Collective. A fit outside the run's checkpointed sequence (the propensity
 * and the effect-estimate outcome models are cheap and recomputed on resume). */
static void fit_aside(const fit_spec *s, const campaign_data *c, const double *X, int d, const mkt_uplift_options *o,
                      double *beta, MPI_Comm comm)
{
    up_run r;
    memset(&r, 0, sizeof r);
    fit_model(s, c, X, d, o->l2, o->max_iter, o->tol, beta, &r, comm);
}

/* Collective. Observational design: for each arm t, a logistic model of
 * "got t" against "untargeted" (arm 0) on the training rows of t and arm 0;
 * c->prop[i * T + t] = its probability for every row of t or arm 0. */
static void fit_propensity(const mkt_uplift_options *o, campaign_data *c, const double *X, int d, MPI_Comm comm)
{
    int T = c->T;
    c->prop = xalloc((size_t)c->n * (size_t)T, sizeof(double));
    double *w = xalloc((size_t)c->n, sizeof(double)), *gamma = xalloc((size_t)d, sizeof(double));
    char label[256];
    for (int t = 1; t < T; t++) {
        for (int64_t i = 0; i < c->n; i++)
            w[i] = c->treatment[i] == t;
        fit_spec s;
        memset(&s, 0, sizeof s);
        s.kind = FIT_PAIR;
        s.logistic = 1;
        s.arm = t;
        s.y = w;
        s.fold_out = -1;
        snprintf(label, sizeof label, "propensity of %s against %s", c->arm_names[t], c->arm_names[0]);
        s.label = label;
        fit_aside(&s, c, X, d, o, gamma, comm);
        for (int64_t i = 0; i < c->n; i++)
            if (c->treatment[i] == t || c->treatment[i] == 0)
                c->prop[i * T + t] = outcome_at(gamma, X + i * d, d, 1);
    }
    free(w);
    free(gamma);
}

/* Collective. Observational design: per arm, the average effect on the
 * binary outcome among the users in the overlap (propensity in [trim,
 * 1 - trim]), by inverse-propensity weighting (normalized, Hajek) and by
 * AIPW (doubly robust, with T-learner outcome models on the training rows),
 * each with a standard error; beside the naive difference of means (all rows
 * of the arm and of arm 0) and, on `mkt gen` stores, the planted effect.
 * Every sum is exact per row, so the numbers do not depend on the rank count. */
static void observational_estimates(const mkt_uplift_options *o, const campaign_data *c, const double *X, int d,
                                    json_t *res, MPI_Comm comm)
{
    int T = c->T, nt = T - 1;
    json_t *obs = json_object();
    mkt_metrics_set_str(obs, "design", "observational");
    mkt_metrics_set_str(obs, "caveat", "the arms were targeted, not randomized: the effects assume that the campaign "
                                       "attributes hold every reason for targeting that also drives the outcome "
                                       "(no unmeasured confounding); estimates hold for the users in the overlap only");
    mkt_metrics_set_real(obs, "trim", o->trim);
    mkt_metrics_set_str(obs, "outcome", o->outcome);
    json_t *arms = json_object();
    double *m0 = xalloc((size_t)d, sizeof(double)), *m1 = xalloc((size_t)d, sizeof(double));
    fit_spec s;
    memset(&s, 0, sizeof s);
    s.kind = FIT_ARM;
    s.logistic = 1;
    s.y = c->y;
    s.fold_out = -1;
    s.arm = 0;
    s.label = "outcome model of arm 0 (effect estimate)";
    fit_aside(&s, c, X, d, o, m0, comm);
    enum { N1, N0, S1, S0, K1, K0, A1, B1, A0, B0, NO, PHI, PHI2, TRU, TRUALL, NALL, NACC };
    for (int t = 1; t < T; t++) {
        s.arm = t;
        s.label = "outcome model of the arm (effect estimate)";
        fit_aside(&s, c, X, d, o, m1, comm);
        mkt_xsum acc[NACC];
        for (int k = 0; k < NACC; k++)
            mkt_xsum_init(&acc[k]);
        double emin = 1, emax = 0;
        for (int64_t i = 0; i < c->n; i++) {
            int w = c->treatment[i];
            if (w != t && w != 0)
                continue;
            double y = c->y[i], e = c->prop[i * T + t];
            mkt_xsum_add(&acc[w == t ? N1 : N0], 1.0);
            mkt_xsum_add(&acc[w == t ? S1 : S0], y);
            if (c->has_truth) {
                mkt_xsum_add(&acc[TRUALL], c->truth_conv[i * nt + (t - 1)]);
                mkt_xsum_add(&acc[NALL], 1.0);
            }
            emin = e < emin ? e : emin;
            emax = e > emax ? e : emax;
            if (!(e >= o->trim && e <= 1.0 - o->trim))
                continue;
            mkt_xsum_add(&acc[w == t ? K1 : K0], 1.0);
            mkt_xsum_add(&acc[NO], 1.0);
            if (w == t) {
                mkt_xsum_add(&acc[A1], y / e);
                mkt_xsum_add(&acc[B1], 1.0 / e);
            } else {
                mkt_xsum_add(&acc[A0], y / (1.0 - e));
                mkt_xsum_add(&acc[B0], 1.0 / (1.0 - e));
            }
            const double *x = X + i * d;
            double phi = uplift_dr_pseudo(y, w == t, outcome_at(m1, x, d, 1), outcome_at(m0, x, d, 1), e);
            mkt_xsum_add(&acc[PHI], phi);
            mkt_xsum_add(&acc[PHI2], phi * phi);
            if (c->has_truth)
                mkt_xsum_add(&acc[TRU], c->truth_conv[i * nt + (t - 1)]);
        }
        mkt_allreduce_xsum(acc, NACC, comm);
        MKT_MPI(MPI_Allreduce(MPI_IN_PLACE, &emin, 1, MPI_DOUBLE, MPI_MIN, comm));
        MKT_MPI(MPI_Allreduce(MPI_IN_PLACE, &emax, 1, MPI_DOUBLE, MPI_MAX, comm));
        double v[NACC];
        for (int k = 0; k < NACC; k++)
            v[k] = mkt_xsum_value(&acc[k]);
        if (v[K1] < 1 || v[K0] < 1)
            mkt_fail_all(MKT_EXIT_ERROR,
                         "uplift: observational: no overlap for arm %s: %.0f of its rows and %.0f untargeted rows "
                         "have a propensity in [%g, %g] (propensities seen: %.3g to %.3g); lower --trim, or the "
                         "targeting is deterministic in the attributes and no effect can be estimated",
                         c->arm_names[t], v[K1], v[K0], o->trim, 1 - o->trim, emin, emax);
        double naive = v[S1] / v[N1] - v[S0] / v[N0];
        double mu1 = v[A1] / v[B1], mu0 = v[A0] / v[B0], ipw = mu1 - mu0, n = v[NO];
        /* Hajek influence terms: second pass over the overlap rows */
        mkt_xsum ps;
        mkt_xsum_init(&ps);
        for (int64_t i = 0; i < c->n; i++) {
            int w = c->treatment[i];
            double e = (w == t || w == 0) ? c->prop[i * T + t] : 0;
            if ((w != t && w != 0) || !(e >= o->trim && e <= 1.0 - o->trim))
                continue;
            double psi = w == t ? (c->y[i] - mu1) / e / (v[B1] / n) : -(c->y[i] - mu0) / (1.0 - e) / (v[B0] / n);
            mkt_xsum_add(&ps, psi * psi);
        }
        mkt_allreduce_xsum(&ps, 1, comm);
        double ipw_se = sqrt(mkt_xsum_value(&ps)) / n;
        double dr = v[PHI] / n, var = (v[PHI2] - n * dr * dr) / (n > 1 ? n - 1 : 1);
        double dr_se = sqrt(var > 0 ? var : 0) / sqrt(n);
        json_t *a = json_object();
        mkt_metrics_set_int(a, "rows_treated", (int64_t)v[N1]);
        mkt_metrics_set_int(a, "rows_untargeted", (int64_t)v[N0]);
        mkt_metrics_set_int(a, "trimmed_treated", (int64_t)(v[N1] - v[K1]));
        mkt_metrics_set_int(a, "trimmed_untargeted", (int64_t)(v[N0] - v[K0]));
        mkt_metrics_set_real(a, "propensity_min", emin);
        mkt_metrics_set_real(a, "propensity_max", emax);
        mkt_metrics_set_real(a, "naive_difference", naive);
        mkt_metrics_set_real(a, "ipw", ipw);
        mkt_metrics_set_real(a, "ipw_se", ipw_se);
        mkt_metrics_set_real(a, "ipw_lo", ipw - 1.96 * ipw_se);
        mkt_metrics_set_real(a, "ipw_hi", ipw + 1.96 * ipw_se);
        mkt_metrics_set_real(a, "dr", dr);
        mkt_metrics_set_real(a, "dr_se", dr_se);
        mkt_metrics_set_real(a, "dr_lo", dr - 1.96 * dr_se);
        mkt_metrics_set_real(a, "dr_hi", dr + 1.96 * dr_se);
        if (c->has_truth && !strcmp(o->outcome, "conversion")) {
            mkt_metrics_set_real(a, "truth_mean_effect_overlap", v[TRU] / n);
            mkt_metrics_set_real(a, "truth_mean_effect_all", v[TRUALL] / v[NALL]);
        }
        json_object_set_new(arms, c->arm_names[t], a);
        mkt_log(STAGE, "observational, %s vs %s (not targeted): %s effect IPW %.4f +- %.4f, DR %.4f +- %.4f (naive "
                       "difference %.4f); %.0f of %.0f treated and %.0f of %.0f untargeted rows trimmed "
                       "(propensity outside [%g, %g])",
                c->arm_names[t], c->arm_names[0], o->outcome, ipw, 1.96 * ipw_se, dr, 1.96 * dr_se, naive,
                v[N1] - v[K1], v[N1], v[N0] - v[K0], v[N0], o->trim, 1 - o->trim);
        if (c->has_truth && !strcmp(o->outcome, "conversion"))
            mkt_log(STAGE, "observational, %s: planted mean effect %.4f over the overlap rows", c->arm_names[t],
                    v[TRU] / n);
    }
    json_object_set_new(obs, "arms", arms);
    json_object_set_new(res, "observational", obs);
    mkt_log(STAGE, "OBSERVATIONAL estimate: the campaign was targeted, not randomized; the effects hold only if the "
                   "campaign attributes capture why users were targeted");
    free(m0);
    free(m1);
}

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

static void arm_metrics(json_t *arm_obj, const char *key, const double *all, int64_t n, int rec, int T, int t,
                        int yoff, int poff, int toff, int has_truth, double *row5)
{
    uplift_eval_row *rows = xalloc((size_t)n, sizeof(uplift_eval_row));
    int64_t m = 0;
    for (int64_t i = 0; i < n; i++) {
        const double *r = all + (size_t)i * (size_t)rec;
        int w = (int)r[1];
        if (w != t && w != 0)
            continue;
        rows[m].score = r[REC_FIXED + poff * (T - 1) + t - 1];
        rows[m].y = r[yoff];
        rows[m].user = (int64_t)r[0];
        rows[m].treated = w == t;
        m++;
    }
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

/* Collective. Predict every local row and, when `report`, gather the
 * hold-out and fill metrics["arms"]; pred_y / pred_spend receive the local
 * predictions [n x (T-1)]; mrow_y / mrow_spend the metrics table
 * [(T-1) x 5] (NaN without a report). */
static void evaluate(const campaign_data *c, const double *X, int d, int method, const char *outcome,
                     const double *coef_y, const double *coef_spend, double *pred_y, double *pred_spend,
                     double *mrow_y, double *mrow_spend, int report, json_t *metrics, MPI_Comm comm)
{
    int T = c->T, nt = T - 1;
    int rec = REC_FIXED + 4 * nt;
    for (int64_t i = 0; i < c->n; i++) {
        uplift_effects(method, 1, coef_y, T, d, X + i * d, pred_y + i * nt);
        uplift_effects(method, 0, coef_spend, T, d, X + i * d, pred_spend + i * nt);
    }
    if (!report) {
        for (int k = 0; k < nt * 5; k++)
            mrow_y[k] = mrow_spend[k] = NAN;
        return;
    }
    int64_t nh = 0;
    for (int64_t i = 0; i < c->n; i++)
        nh += c->holdout[i];
    double *loc = xalloc((size_t)nh * (size_t)rec, sizeof(double));
    int64_t k = 0;
    for (int64_t i = 0; i < c->n; i++) {
        if (!c->holdout[i])
            continue;
        double *r = loc + (size_t)k * (size_t)rec;
        r[0] = c->user[i];
        r[1] = c->treatment[i];
        r[2] = c->y[i];
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
 * binary outcome) mean Qini over the arms on the validation rows, into
 * metrics["selection"] (and the per-arm values into metrics["validation"]). */
static void select_metric(const campaign_data *c, const double *X, int d, int method, const double *coef,
                          double valid_fraction, json_t *metrics, MPI_Comm comm)
{
    int T = c->T, nt = T - 1, rec = 3 + nt;
    int64_t nv = 0;
    for (int64_t i = 0; i < c->n; i++)
        nv += c->valid[i];
    double *loc = xalloc((size_t)nv * (size_t)rec, sizeof(double));
    int64_t k = 0;
    for (int64_t i = 0; i < c->n; i++) {
        if (!c->valid[i])
            continue;
        double *r = loc + (size_t)k++ * (size_t)rec;
        r[0] = c->user[i];
        r[1] = c->treatment[i];
        r[2] = c->y[i];
        uplift_effects(method, 1, coef, T, d, X + i * d, r + 3);
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
        int64_t m = 0;
        for (int64_t i = 0; i < n; i++) {
            const double *r = all + (size_t)i * (size_t)rec;
            int w = (int)r[1];
            if (w != t && w != 0)
                continue;
            rows[m].score = r[3 + t - 1];
            rows[m].y = r[2];
            rows[m].user = (int64_t)r[0];
            rows[m].treated = w == t;
            m++;
        }
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

static void features_matrix(const campaign_data *c, const uplift_features *fs, double **X, int *d)
{
    *d = uplift_feature_dim(fs);
    *X = xalloc((size_t)c->n * (size_t)*d, sizeof(double));
    for (int64_t i = 0; i < c->n; i++)
        uplift_feature_row(fs, c->attrs + i * c->A, *X + i * *d);
}

/* The splits: test rows (hold-out hash), validation rows among the others
 * (a second hash; none when valid_fraction is 0) and the cross-fitting fold
 * of every row (a third hash).  All functions of (seed, user) only. */
static void mark_holdout(campaign_data *c, uint64_t seed, double holdout, double valid_fraction, int folds)
{
    for (int64_t i = 0; i < c->n; i++) {
        c->holdout[i] = (unsigned char)uplift_is_holdout(seed, c->user[i], holdout);
        c->valid[i] = (unsigned char)(!c->holdout[i] && valid_fraction > 0 &&
                                      uplift_is_validation(seed, c->user[i], valid_fraction));
        c->fold[i] = (unsigned char)uplift_fold(seed, c->user[i], folds);
    }
}

/* Collective. Exact counts of the rows of each arm in a split
 * (`mask` per local row); fails (naming `what` and `fix`) when any arm or
 * control has none, since no uplift metric can be computed then. */
static void require_split_rows(const campaign_data *c, const unsigned char *mask, const char *cmd, const char *what,
                               const char *fix, MPI_Comm comm)
{
    int64_t *cnt = xalloc((size_t)c->T, sizeof(int64_t));
    for (int64_t i = 0; i < c->n; i++)
        if (mask[i])
            cnt[c->treatment[i]]++;
    MKT_MPI(MPI_Allreduce(MPI_IN_PLACE, cnt, c->T, MPI_INT64_T, MPI_SUM, comm));
    int64_t total = 0;
    for (int t = 0; t < c->T; t++)
        total += cnt[t];
    if (total == 0)
        mkt_fail_all(MKT_EXIT_ERROR, "%s: the %s has no rows: no metric can be computed on it; %s", cmd, what, fix);
    for (int t = 0; t < c->T; t++)
        if (cnt[t] == 0)
            mkt_fail_all(MKT_EXIT_ERROR,
                         "%s: the %s has %lld rows but none of arm '%s': its uplift metrics cannot be computed; %s",
                         cmd, what, (long long)total, c->arm_names[t], fix);
    free(cnt);
}

static void check_outcome(const char *outcome)
{
    if (!outcome || (strcmp(outcome, "conversion") != 0 && strcmp(outcome, "visit") != 0 &&
                     strcmp(outcome, "redeemed") != 0))
        mkt_fail_all(MKT_EXIT_USAGE, "uplift: outcome: must be conversion, visit or redeemed, not '%s'",
                     outcome ? outcome : "");
}

/* ---------- train ---------- */

/* Everything the fitted coefficients depend on: a checkpoint is only
 * resumed by a run with the same values. */
static void uplift_config(const mkt_uplift_options *o, const campaign_data *c, int d, mkt_ckpt_config *cfg)
{
    mkt_ckpt_config_init(cfg);
    mkt_ckpt_config_str(cfg, "state_layout", "uplift-2");
    mkt_ckpt_config_path(cfg, "store", o->store);
    mkt_ckpt_config_str(cfg, "method", uplift_method_name(o->method));
    mkt_ckpt_config_str(cfg, "outcome", o->outcome);
    mkt_ckpt_config_double(cfg, "holdout", o->holdout);
    mkt_ckpt_config_double(cfg, "l2", o->l2);
    mkt_ckpt_config_double(cfg, "l2_effect", effect_l2(o));
    mkt_ckpt_config_int(cfg, "seed", (int64_t)o->seed);
    mkt_ckpt_config_int(cfg, "squares", o->squares);
    mkt_ckpt_config_int(cfg, "max_iter", o->max_iter);
    mkt_ckpt_config_double(cfg, "tol", o->tol);
    mkt_ckpt_config_double(cfg, "valid_fraction", o->valid_fraction);
    mkt_ckpt_config_int(cfg, "folds", o->folds);
    mkt_ckpt_config_int(cfg, "rows", c->N);
    mkt_ckpt_config_int(cfg, "arms", c->T);
    mkt_ckpt_config_int(cfg, "features", d);
    if (o->observational) /* only then: checkpoints of randomized runs keep their keys */
        mkt_ckpt_config_double(cfg, "observational_trim", o->trim);
}

int mkt_uplift_train(const mkt_uplift_options *o, MPI_Comm comm, json_t *metrics)
{
    double t0 = mkt_now();
    check_outcome(o->outcome);
    campaign_data c;
    load_campaign(&c, o->store, o->outcome, comm);
    mark_holdout(&c, o->seed, o->holdout, o->valid_fraction, o->folds);
    if (c.observational_store && !o->observational)
        mkt_fail_all(MKT_EXIT_USAGE, "train uplift: %s holds an observational campaign (targeted users against the "
                     "untargeted, not a randomized control): give --design observational", o->store);
    /* metrics need rows of every arm: refuse before fitting when a split lacks them */
    int report = o->holdout > 0;
    if (report)
        require_split_rows(&c, c.holdout, "train uplift", "hold-out (test split, --holdout)",
                           "raise --holdout, or train with --holdout 0 and measure on a separate store with "
                           "mkt eval uplift --test",
                           comm);
    if (o->valid_fraction > 0)
        require_split_rows(&c, c.valid, "train uplift", "validation split (--valid-fraction)",
                           "raise --valid-fraction, or give --valid-fraction 0 (no selection metric)", comm);
    uplift_features fs;
    fit_features(&c, o->squares, &fs, comm);
    double *X;
    int d;
    features_matrix(&c, &fs, &X, &d);
    int T = c.T, nt = T - 1;
    mkt_log(STAGE, "%lld campaign rows, %d arms, %d features, method %s, outcome %s%s", (long long)c.N, T, d,
            uplift_method_name(o->method), o->outcome,
            o->observational ? ", observational design (arm 0 = the untargeted users)" : "");
    if (o->observational) {
        if (o->method == UPLIFT_TRANSFORMED)
            mkt_fail_all(MKT_EXIT_USAGE, "train uplift: --design observational needs method t, s, x or dr (the "
                                         "transformed outcome assumes a randomized arm share)");
        if (!(o->trim >= 0 && o->trim < 0.5))
            mkt_fail_all(MKT_EXIT_USAGE, "train uplift: trim: must be in [0, 0.5), not %g", o->trim);
        fit_propensity(o, &c, X, d, comm);
    }
    double *coef_y = xalloc((size_t)T * (size_t)d, sizeof(double));
    double *coef_s = xalloc((size_t)T * (size_t)d, sizeof(double));
    double *coef_v = xalloc((size_t)T * (size_t)d, sizeof(double));
    /* every fit's coefficients: the outcome's, spend's, then the selection fits' */
    int ps = pass_slots(o->method, T, o->folds), nslot = ps * (o->valid_fraction > 0 ? 3 : 2);
    double *slots = xalloc((size_t)nslot * (size_t)d, sizeof(double));

    /* checkpoints: resume when asked and a matching one exists */
    mkt_ckpt ck;
    mkt_ckpt_init(&ck, STAGE, o->checkpoint, o->model, "uplift", o->checkpoint_every, o->resume);
    mkt_ckpt_config cfg;
    uplift_config(o, &c, d, &cfg);
    mkt_ckpt_signals_install();
    up_run run = {&ck, &cfg, slots, nslot, d, 0, 0, 0, 0, 0, 0, 0};
    int start = 0;
    hid_t cf = mkt_ckpt_open_resume(&ck, "uplift", &cfg, &start, comm);
    if (cf >= 0) {
        mkt_ckpt_read_full(cf, ck.path, "coef", slots, nslot, d);
        json_t *st = mkt_ckpt_read_json(cf, ck.path, "state");
        if (json_unpack(st, "{s:i, s:i, s:i}", "fit", &run.saved_fit, "iteration", &run.saved_iter, "done",
                        &run.saved_done) != 0)
            mkt_fail_all(MKT_EXIT_ERROR, "checkpoint %s: state is not {fit, iteration, done} (corrupt)", ck.path);
        json_decref(st);
        mkt_h5_close(cf);
        run.resumed = 1;
        run.step = start;
    }
    size_t pass = (size_t)ps * (size_t)d;
    fit_outcome(o, &c, X, d, 1, c.y, o->outcome, slots, 0, coef_y, &run, comm);
    fit_outcome(o, &c, X, d, 0, c.spend, "spend", slots + pass, 0, coef_s, &run, comm);
    /* model selection: the outcome's fits again without the validation rows */
    if (o->valid_fraction > 0)
        fit_outcome(o, &c, X, d, 1, c.y, o->outcome, slots + 2 * pass, 1, coef_v, &run, comm);
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
        free(coef_y);
        free(coef_s);
        free(coef_v);
        free(slots);
        free(X);
        free(fs.attr);
        free_campaign(&c);
        return MKT_EXIT_PREEMPTED;
    }

    double *pred_y = xalloc((size_t)c.n * (size_t)nt, sizeof(double));
    double *pred_s = xalloc((size_t)c.n * (size_t)nt, sizeof(double));
    double *mrow_y = xalloc((size_t)nt * 5, sizeof(double)), *mrow_s = xalloc((size_t)nt * 5, sizeof(double));
    json_t *res = json_object();
    evaluate(&c, X, d, o->method, o->outcome, coef_y, coef_s, pred_y, pred_s, mrow_y, mrow_s, report, res, comm);
    if (!report) {
        mkt_metrics_set_int(res, "holdout_rows", 0);
        mkt_metrics_set_str(res, "test_metrics",
                            "none: --holdout 0 leaves no test rows (measure with mkt eval uplift --test STORE)");
        mkt_log(STAGE, "--holdout 0: no held-out rows, so no test metrics are reported; measure the model with "
                       "mkt eval uplift --test STORE");
    }
    if (o->valid_fraction > 0)
        select_metric(&c, X, d, o->method, coef_v, o->valid_fraction, res, comm);
    mkt_metrics_set_str(res, "design", o->observational ? "observational" : "randomized");
    if (o->observational) {
        observational_estimates(o, &c, X, d, res, comm);
        mkt_metrics_set_str(res, "heldout_metrics_note",
                            "observational campaign: Qini and uplift@k compare targeted with untargeted users, who "
                            "differ by design; read the observational effects instead");
    }

    /* /models/uplift: into a new model file, or replacing the group of an existing one */
    mkt_model_writer w;
    int comm_rank; /* of comm, which may be a group of `mkt tune`, not of the job */
    MKT_MPI(MPI_Comm_rank(comm, &comm_rank));
    mkt_model_begin(&w, o->model, MKT_MODELS_UPLIFT, comm);
    hid_t f = w.file;
    const char *g = w.group;
    char path[600];
#define P(name) (snprintf(path, sizeof path, "%s/%s", g, name), path)
    char coefname[64];
    snprintf(coefname, sizeof coefname, "coef_%s", o->outcome);
    mkt_h5_write_small(f, P(coefname), H5T_NATIVE_DOUBLE, coef_y, T, d, comm);
    mkt_h5_write_small(f, P("coef_spend"), H5T_NATIVE_DOUBLE, coef_s, T, d, comm);
    double *spec = xalloc((size_t)(c.A > 0 ? c.A : 1) * UPLIFT_SPEC_COLS, sizeof(double));
    uplift_spec_encode(&fs, spec);
    if (c.A > 0) {
        mkt_h5_write_small(f, P("feature_spec"), H5T_NATIVE_DOUBLE, spec, c.A, UPLIFT_SPEC_COLS, comm);
        mkt_h5_write_strings(f, P("attr_names"), c.attr_names, comm_rank == 0 ? c.A : 0, comm);
    }
    /* level names of the categorical attributes: eval --test maps another store's codes by name */
    for (int a = 0; a < c.A; a++)
        if (c.level_names[a]) {
            char lpath[1400];
            snprintf(lpath, sizeof lpath, "%s/levels/%s", g, c.attr_names[a]);
            mkt_h5_write_strings(f, lpath, c.level_names[a], comm_rank == 0 ? c.n_levels[a] : 0, comm);
        }
    mkt_h5_write_strings(f, P("arms"), c.arm_names, comm_rank == 0 ? T : 0, comm);
    snprintf(coefname, sizeof coefname, "metrics_%s", o->outcome);
    mkt_h5_write_small(f, P(coefname), H5T_NATIVE_DOUBLE, mrow_y, nt, 5, comm);
    mkt_h5_write_small(f, P("metrics_spend"), H5T_NATIVE_DOUBLE, mrow_s, nt, 5, comm);
    mkt_h5_write_rows_at(f, P("user"), H5T_NATIVE_INT32, c.user, c.begin, c.n, c.N, 0, comm);
    snprintf(coefname, sizeof coefname, "predicted_%s", o->outcome);
    mkt_h5_write_rows_at(f, P(coefname), H5T_NATIVE_DOUBLE, pred_y, c.begin, c.n, c.N, nt, comm);
    mkt_h5_write_rows_at(f, P("predicted_spend"), H5T_NATIVE_DOUBLE, pred_s, c.begin, c.n, c.N, nt, comm);
    /* 1 = the row is held out (a hash of seed and user: the same on any rank count) */
    mkt_h5_write_rows_at(f, P("holdout"), H5T_NATIVE_INT8, c.holdout, c.begin, c.n, c.N, 0, comm);
#undef P
    mkt_h5_attr_set_string(f, g, "method", uplift_method_name(o->method));
    mkt_h5_attr_set_string(f, g, "design", o->observational ? "observational" : "randomized");
    mkt_h5_attr_set_string(f, g, "outcome", o->outcome);
    mkt_h5_attr_set_int(f, g, "seed", (int64_t)o->seed);
    mkt_h5_attr_set_double(f, g, "holdout", o->holdout);
    mkt_h5_attr_set_double(f, g, "l2", o->l2);
    mkt_h5_attr_set_double(f, g, "l2_effect", effect_l2(o));
    mkt_h5_attr_set_int(f, g, "squares", o->squares);
    mkt_h5_attr_set_int(f, g, "max_iter", o->max_iter);
    mkt_h5_attr_set_double(f, g, "tol", o->tol);
    mkt_h5_attr_set_double(f, g, "valid_fraction", o->valid_fraction);
    mkt_h5_attr_set_int(f, g, "folds", o->folds);
    mkt_h5_attr_set_int(f, g, "features", d);
    mkt_h5_attr_set_int(f, g, "attrs", c.A);
    mkt_h5_attr_set_int(f, g, "rows", c.N);
    mkt_h5_attr_set_int(f, g, "chunk_rows", UPLIFT_CHUNK);
    mkt_h5_attr_set_int(f, g, "schema_version", MKT_SCHEMA_VERSION);
    mkt_h5_attr_set_string(f, g, "metric_columns", "qini,auuc,uplift_at_10,uplift_at_20,uplift_at_30");
    char *mj = json_dumps(res, JSON_SORT_KEYS | JSON_COMPACT | JSON_REAL_PRECISION(17));
    mkt_h5_attr_set_string(f, g, "metrics_json", mj ? mj : "{}");
    free(mj);
    mkt_model_end(&w, comm);
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
    mkt_metrics_set_str(metrics, "method", uplift_method_name(o->method));
    mkt_metrics_set_str(metrics, "outcome", o->outcome);
    mkt_metrics_set_int(metrics, "rows", c.N);
    mkt_metrics_set_int(metrics, "features", d);
    mkt_metrics_set_real(metrics, "fit_seconds", t_fit);
    mkt_metrics_set_real(metrics, "seconds", mkt_now() - t0);
    json_object_update(metrics, res);
    json_decref(res);
    for (int t = 1; t < T && report; t++)
        mkt_log(STAGE, "held out, %s vs %s: %s Qini %.5f, uplift@30%% %.4f", c.arm_names[t], c.arm_names[0],
                o->outcome, mrow_y[(t - 1) * 5], mrow_y[(t - 1) * 5 + 4]);
    mkt_log(STAGE, "trained in %.2fs; /models/uplift written to %s", mkt_now() - t0, o->model);

    free(spec);
    free(mrow_y);
    free(mrow_s);
    free(pred_y);
    free(pred_s);
    free(coef_y);
    free(coef_s);
    free(coef_v);
    free(slots);
    free(X);
    free(fs.attr);
    free_campaign(&c);
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
    check_outcome(outcome);
    uint64_t seed = (uint64_t)mkt_h5_attr_get_int(f, g, "seed", 0);
    double holdout = mkt_h5_attr_get_double(f, g, "holdout", 0.3);
    int d = (int)mkt_h5_attr_get_int(f, g, "features", 0);
    int A = (int)mkt_h5_attr_get_int(f, g, "attrs", 0);
    campaign_data c;
    load_campaign(&c, store, outcome, comm);
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
    int64_t cols = 0, rows;
    char name[128];
    snprintf(name, sizeof name, "/models/uplift/coef_%s", outcome);
    rows = mkt_h5_rows(f, name, &cols);
    if (rows != T || cols != d)
        mkt_fail_all(MKT_EXIT_ERROR, "eval uplift: %s is %lld x %lld, expected %d x %d (arms x features)", name,
                     (long long)rows, (long long)cols, T, d);
    double *coef_y = xalloc((size_t)T * (size_t)d, sizeof(double));
    double *coef_s = xalloc((size_t)T * (size_t)d, sizeof(double));
    mkt_h5_read_rows(f, name, H5T_NATIVE_DOUBLE, 0, T, coef_y);
    mkt_h5_read_rows(f, MKT_MODELS_UPLIFT_COEF_SPEND, H5T_NATIVE_DOUBLE, 0, T, coef_s);
    mkt_h5_close(f);

    if (o->test_store) {
        /* a separate test store: every row is a test row */
        memset(c.holdout, 1, (size_t)c.n);
        require_split_rows(&c, c.holdout, "eval uplift", "test store", "give a test store with rows of every arm",
                           comm);
    } else {
        mark_holdout(&c, seed, holdout, 0.0, 1);
        char what[600];
        snprintf(what, sizeof what, "hold-out of %s (share %g, seed %llu, from the model)", store, holdout,
                 (unsigned long long)seed);
        require_split_rows(&c, c.holdout, "eval uplift", what,
                           "train with --holdout > 0, or measure on a separate store with --test STORE", comm);
    }
    double *X;
    int dx;
    features_matrix(&c, &fs, &X, &dx);
    double *pred_y = xalloc((size_t)c.n * (size_t)nt, sizeof(double));
    double *pred_s = xalloc((size_t)c.n * (size_t)nt, sizeof(double));
    double *mrow_y = xalloc((size_t)nt * 5, sizeof(double)), *mrow_s = xalloc((size_t)nt * 5, sizeof(double));
    json_t *res = json_object();
    evaluate(&c, X, d, method, outcome, coef_y, coef_s, pred_y, pred_s, mrow_y, mrow_s, 1, res, comm);
    mkt_metrics_set_str(metrics, "store", store);
    mkt_metrics_set_str(metrics, "model", o->model);
    mkt_metrics_set_str(metrics, "method", method_name);
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
    free_campaign(&c);
    return MKT_EXIT_OK;
}
