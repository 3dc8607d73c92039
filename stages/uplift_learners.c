/* uplift_learners.c — the distributed fits of the uplift stage: the design
 * row of each learner, the Newton/IRLS and ridge fits with exact cross-rank
 * sums, their checkpoints between Newton steps, and the T, S, transformed, X
 * and cross-fitted DR learners built from them.
 * Must not: read or write the store, or sum anything that feeds a
 * coefficient in an order that depends on the rank count. */
#include "uplift_internal.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exactsum.h"
#include "iocheck.h"
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

/* The penalty of the ridge regressions of effects (see l2_effect). */
double up_effect_l2(const mkt_uplift_options *o)
{
    return mkt_uplift_config_l2_effect(&o->config);
}

int up_method(const mkt_uplift_options *o)
{
    return mkt_uplift_config_method(&o->config);
}

int up_observational(const mkt_uplift_options *o)
{
    return mkt_uplift_config_observational(&o->config);
}

/* Collective. Fit one model; beta [dd] (dd = d, or T*d for FIT_S) starts at 0
 * (or, resuming, at the checkpoint's iterate).  Returns the number of Newton
 * iterations of this call. */
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
int up_pass_slots(int method, int T, int folds)
{
    switch (method) {
    case UPLIFT_X_LEARNER: return T + 2 * (T - 1);
    case UPLIFT_DR_LEARNER: return folds * T + 1 + (T - 1);
    default: return T;
    }
}

/* Prediction of an outcome model at x: probability (logistic) or value. */
double up_outcome_at(const double *beta, const double *x, int d, int logistic)
{
    double eta = 0.0;
    for (int j = 0; j < d; j++)
        eta += beta[j] * x[j];
    return logistic ? uplift_sigmoid(eta) : eta;
}

/* One outcome's fits: what the learners' fitting steps share. */
typedef struct {
    const mkt_uplift_options *o;
    campaign_data *c;
    const double *X;
    int d, logistic;
    const double *y;      /* the outcome per local row */
    const char *name;     /* outcome name, for the labels */
    const char *pass;     /* ", selection fit" or "" */
    double *slots, *coef; /* up_pass_slots() rows of d; the model [T x d] */
    const int64_t *counts; /* training rows per arm */
    up_run *run;
    MPI_Comm comm;
} outcome_fit;

#define LABEL_LEN 256

/* Effect fits of arm t need training rows of t and of control. */
static void require_pair_rows(const outcome_fit *p, int t)
{
    if (p->counts[t] == 0 || p->counts[0] == 0)
        mkt_fail_all(MKT_EXIT_ERROR, "uplift: arm %s or control has no training rows", p->c->arm_names[t]);
}

/* Collective. X-learner: stage 1 the T-learner's outcome models; stage 2 per
 * arm a ridge of the imputed effects, on the arm's rows (y - mu0) and on
 * control's (mu_t - y), combined with the arm's share g among arm and control
 * training rows (randomized assignment: the propensity is that constant). */
static void fit_x_learner(const outcome_fit *p, fit_spec *s, char *label)
{
    const mkt_uplift_options *o = p->o;
    campaign_data *c = p->c;
    const double *X = p->X, *y = p->y;
    int T = c->T, d = p->d, logistic = p->logistic;
    size_t ds = (size_t)d;
    double *slots = p->slots, *coef = p->coef;
    s->logistic = logistic;
    s->kind = FIT_ARM;
    for (int t = 0; t < T; t++) {
        snprintf(label, LABEL_LEN, "%s, arm %s (X-learner stage 1)%s", p->name, c->arm_names[t], p->pass);
        s->arm = t;
        fit_model(s, c, X, d, o->config.l2, o->config.max_iter, o->config.tol, slots + (size_t)t * ds, p->run, p->comm);
    }
    double *resp = xalloc((size_t)c->n, sizeof(double));
    memcpy(coef, slots, sizeof(double) * ds); /* row 0: control outcome model */
    for (int t = 1; t < T; t++) {
        require_pair_rows(p, t);
        for (int64_t i = 0; i < c->n; i++) {
            int w = c->treatment[i];
            const double *x = X + i * d;
            resp[i] = w == t   ? uplift_x_imputed(y[i], 1, up_outcome_at(slots, x, d, logistic))
                      : w == 0 ? uplift_x_imputed(y[i], 0, up_outcome_at(slots + (size_t)t * ds, x, d, logistic))
                               : 0.0;
        }
        double *tau1 = slots + (size_t)(T + 2 * (t - 1)) * ds, *tau0 = tau1 + ds;
        s->logistic = 0;
        s->y = resp;
        s->arm = t;
        snprintf(label, LABEL_LEN, "%s, arm %s (X-learner, imputed effects of the arm)%s", p->name, c->arm_names[t],
                 p->pass);
        fit_model(s, c, X, d, up_effect_l2(o), o->config.max_iter, o->config.tol, tau1, p->run, p->comm);
        s->arm = 0;
        snprintf(label, LABEL_LEN, "%s, arm %s (X-learner, imputed effects of control)%s", p->name,
                 c->arm_names[t], p->pass);
        fit_model(s, c, X, d, up_effect_l2(o), o->config.max_iter, o->config.tol, tau0, p->run, p->comm);
        double g = (double)p->counts[t] / (double)(p->counts[t] + p->counts[0]);
        for (size_t j = 0; j < ds; j++)
            coef[(size_t)t * ds + j] = g * tau0[j] + (1.0 - g) * tau1[j];
    }
    free(resp);
}

/* DR-learner, arm t: the AIPW pseudo-outcome of each local row of t or
 * control into resp, from the outcome models that did not see its fold.
 * Observational (c->prop): each row's fitted propensity, and the rows outside
 * the overlap marked in excl (returned; NULL when randomized). */
static unsigned char *dr_pseudo_outcomes(const outcome_fit *p, int t, double *resp)
{
    const mkt_uplift_options *o = p->o;
    const campaign_data *c = p->c;
    int T = c->T, d = p->d;
    size_t ds = (size_t)d;
    double e = (double)p->counts[t] / (double)(p->counts[t] + p->counts[0]);
    unsigned char *excl = c->prop ? xalloc((size_t)c->n, 1) : NULL;
    for (int64_t i = 0; i < c->n; i++) {
        int w = c->treatment[i];
        resp[i] = 0.0;
        if (w != t && w != 0)
            continue;
        double ei = c->prop ? c->prop[i * T + t] : e;
        if (excl && !(ei >= o->config.trim && ei <= 1.0 - o->config.trim)) {
            excl[i] = 1;
            continue;
        }
        const double *x = p->X + i * d;
        const double *m = p->slots + (size_t)(c->fold[i] * T) * ds;
        resp[i] = uplift_dr_pseudo(p->y[i], w == t, up_outcome_at(m + (size_t)t * ds, x, d, p->logistic),
                                   up_outcome_at(m, x, d, p->logistic), ei);
    }
    return excl;
}

/* Collective. Cross-fitted DR-learner: the outcome models of every arm
 * without each fold, the control outcome model on every training row (row 0
 * of the model: base rates), then per arm a ridge of the AIPW
 * pseudo-outcome on the features. */
static void fit_dr_learner(const outcome_fit *p, fit_spec *s, char *label)
{
    const mkt_uplift_options *o = p->o;
    campaign_data *c = p->c;
    const double *X = p->X;
    int T = c->T, d = p->d, K = o->config.folds;
    size_t ds = (size_t)d;
    double *slots = p->slots, *coef = p->coef;
    s->logistic = p->logistic;
    s->kind = FIT_ARM;
    for (int k = 0; k < K; k++)
        for (int t = 0; t < T; t++) {
            snprintf(label, LABEL_LEN, "%s, arm %s without fold %d (DR-learner)%s", p->name, c->arm_names[t], k,
                     p->pass);
            s->arm = t;
            s->fold_out = k;
            fit_model(s, c, X, d, o->config.l2, o->config.max_iter, o->config.tol, slots + (size_t)(k * T + t) * ds, p->run, p->comm);
        }
    s->fold_out = -1;
    s->arm = 0;
    snprintf(label, LABEL_LEN, "%s, arm %s (DR-learner base)%s", p->name, c->arm_names[0], p->pass);
    double *base = slots + (size_t)(K * T) * ds;
    fit_model(s, c, X, d, o->config.l2, o->config.max_iter, o->config.tol, base, p->run, p->comm);
    memcpy(coef, base, sizeof(double) * ds);
    double *resp = xalloc((size_t)c->n, sizeof(double));
    for (int t = 1; t < T; t++) {
        require_pair_rows(p, t);
        unsigned char *excl = dr_pseudo_outcomes(p, t, resp);
        s->kind = FIT_PAIR;
        s->logistic = 0;
        s->y = resp;
        s->arm = t;
        snprintf(label, LABEL_LEN, "%s, arm %s (DR-learner effect)%s", p->name, c->arm_names[t], p->pass);
        double *tau = slots + (size_t)(K * T + t) * ds;
        c->excl = excl;
        fit_model(s, c, X, d, up_effect_l2(o), o->config.max_iter, o->config.tol, tau, p->run, p->comm);
        c->excl = NULL;
        free(excl);
        memcpy(coef + (size_t)t * ds, tau, sizeof(double) * ds);
    }
    free(resp);
}

/* Collective. Fit all arms of one outcome: the fits fill `slots`
 * (up_pass_slots() rows of d), the model is written to coef [T x d].
 * skip_valid = 1: the selection fits, without the validation rows. */
void up_fit_outcome(const mkt_uplift_options *o, campaign_data *c, const double *X, int d, int logistic,
                    const double *y, const char *name, double *slots, int skip_valid, double *coef, up_run *run,
                    MPI_Comm comm)
{
    int T = c->T;
    size_t ds = (size_t)d;
    int64_t *counts = xalloc((size_t)T, sizeof(int64_t));
    arm_counts(c, skip_valid, counts, comm);
    char label[LABEL_LEN];
    const char *pass = skip_valid ? ", selection fit" : "";
    outcome_fit p = {o, c, X, d, logistic, y, name, pass, slots, coef, counts, run, comm};
    fit_spec s;
    memset(&s, 0, sizeof s);
    s.y = y;
    s.label = label;
    s.skip_valid = skip_valid;
    s.fold_out = -1;
    if (up_method(o) == UPLIFT_T_LEARNER) {
        s.logistic = logistic;
        s.kind = FIT_ARM;
        for (int t = 0; t < T; t++) {
            snprintf(label, sizeof label, "%s, arm %s%s", name, c->arm_names[t], pass);
            s.arm = t;
            fit_model(&s, c, X, d, o->config.l2, o->config.max_iter, o->config.tol, slots + (size_t)t * ds, run, comm);
        }
        memcpy(coef, slots, sizeof(double) * (size_t)T * ds);
    } else if (up_method(o) == UPLIFT_S_LEARNER) {
        s.logistic = logistic;
        s.kind = FIT_S;
        snprintf(label, sizeof label, "%s, all arms%s", name, pass);
        fit_model(&s, c, X, d, o->config.l2, o->config.max_iter, o->config.tol, slots, run, comm);
        memcpy(coef, slots, sizeof(double) * (size_t)T * ds);
    } else if (up_method(o) == UPLIFT_TRANSFORMED) {
        s.kind = FIT_TRANSFORMED;
        for (int t = 1; t < T; t++) {
            require_pair_rows(&p, t);
            snprintf(label, sizeof label, "%s, arm %s (transformed outcome)%s", name, c->arm_names[t], pass);
            s.arm = t;
            s.e = (double)counts[t] / (double)(counts[t] + counts[0]);
            fit_model(&s, c, X, d, up_effect_l2(o), o->config.max_iter, o->config.tol, slots + (size_t)t * ds, run, comm);
        }
        memcpy(coef, slots, sizeof(double) * (size_t)T * ds);
    } else if (up_method(o) == UPLIFT_X_LEARNER) {
        fit_x_learner(&p, &s, label);
    } else { /* UPLIFT_DR_LEARNER */
        fit_dr_learner(&p, &s, label);
    }
    free(counts);
}

/* Collective. A fit outside the run's checkpointed sequence (the propensity
 * and the effect-estimate outcome models are cheap and recomputed on resume). */
void up_fit_aside(const fit_spec *s, const campaign_data *c, const double *X, int d, const mkt_uplift_options *o,
                  double *beta, MPI_Comm comm)
{
    up_run r;
    memset(&r, 0, sizeof r);
    fit_model(s, c, X, d, o->config.l2, o->config.max_iter, o->config.tol, beta, &r, comm);
}
