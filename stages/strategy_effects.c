/* strategy_effects.c — what a promotion does to each user of `mkt strategy`:
 * the uplift model read and checked against the store, every local user's
 * base conversion and spend and the effects of every arm, with effects =
 * shrunk the T-learner refitted on every campaign row and each user's
 * effects shrunk toward the arm's mean (empirical Bayes), and the order
 * value of a converter (docs/strategy.md).
 *
 * Must not: choose promotions (strategy_alloc.c) or write outputs; every sum
 * that crosses ranks is exact, so the effects do not depend on the rank count. */
#include "strategy_internal.h"
#include "train_uplift.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "exactsum.h"
#include "gen.h"
#include "metrics_json.h"
#include "mlp.h"
#include "model_io.h"
#include "par.h"
#include "schema.h"
#include "uplift.h"

/* ---------- the uplift model: p0, r0 and the effects per local user ---------- */

/* Gross basket of a converting campaign row: what was paid plus the discount
 * its arm gave (by the arm's cost assumptions). */
static double gross_basket(const strat_data *d, int arm, double spend)
{
    if (arm <= 0)
        return spend;
    const strat_arm_cost *c = &d->costs[arm - 1];
    if (c->kind == STRAT_COST_PERCENT)
        return spend / (1.0 - c->value / 100.0);
    if (c->kind == STRAT_COST_COUPON)
        return spend + c->value;
    return spend;
}

/* Order value model: ridge regression (l2 = 1, intercept free) of the gross
 * basket on the uplift features over every converting campaign row, with
 * exact sums; each user's prediction is kept within [0.2, 5] x the mean
 * basket.  Fewer converters than twice the features: the mean basket. */
static void fit_order_value(strat_data *d, const uplift_features *fs, int dim, const double *uattrs, json_t *metrics,
                            MPI_Comm comm)
{
    int nA = dim * dim + dim + 2;
    mkt_xsum *acc = xalloc((size_t)nA, sizeof(mkt_xsum));
    for (int j = 0; j < nA; j++)
        mkt_xsum_init(&acc[j]);
    double *x = xalloc((size_t)dim, sizeof(double));
    for (int64_t j = 0; j < d->ncrow; j++) {
        if (!d->c_conv[j] || !(d->c_spend[j] > 0))
            continue;
        double y = gross_basket(d, d->c_treat[j], d->c_spend[j]);
        uplift_feature_row(fs, d->c_attrs + j * d->c_A, x);
        for (int a = 0; a < dim; a++) {
            for (int b = a; b < dim; b++)
                mkt_xsum_add(&acc[a * dim + b], x[a] * x[b]);
            mkt_xsum_add(&acc[dim * dim + a], y * x[a]);
        }
        mkt_xsum_add(&acc[dim * dim + dim], 1.0);
        mkt_xsum_add(&acc[dim * dim + dim + 1], y);
    }
    mkt_allreduce_xsum(acc, nA, comm);
    double n = mkt_xsum_value(&acc[dim * dim + dim]);
    double mean = n > 0 ? mkt_xsum_value(&acc[dim * dim + dim + 1]) / n : 0.0;
    double *A = xalloc((size_t)dim * (size_t)dim, sizeof(double)), *b = xalloc((size_t)dim, sizeof(double));
    double *beta = xalloc((size_t)dim, sizeof(double));
    for (int j = 0; j < dim * dim; j++)
        A[j] = mkt_xsum_value(&acc[j]);
    for (int j = 0; j < dim; j++)
        b[j] = mkt_xsum_value(&acc[dim * dim + j]);
    double step = 0;
    int fitted = n >= 2.0 * dim && uplift_newton_solve(A, b, dim, 1.0, NULL, 1, beta, &step) == 0;
    d->order_value = xalloc((size_t)d->n, sizeof(double));
    for (int64_t u = 0; u < d->n; u++) {
        double v = mean;
        if (fitted) {
            uplift_feature_row(fs, uattrs + u * d->c_A, x);
            v = 0;
            for (int j = 0; j < dim; j++)
                v += beta[j] * x[j];
            v = v < 0.2 * mean ? 0.2 * mean : (v > 5 * mean ? 5 * mean : v);
        }
        d->order_value[u] = v;
    }
    json_t *ov = mkt_metrics_child(metrics, "order_value");
    mkt_metrics_set_int(ov, "converting_rows", (long long)n);
    mkt_metrics_set_real(ov, "mean_gross_basket", mean);
    mkt_metrics_set_str(ov, "model", fitted ? "ridge on the uplift features" : "mean basket (too few converters)");
    free(A);
    free(b);
    free(beta);
    free(x);
    free(acc);
}

/* Base conversion and spend of a user (features x) by the control rows
 * (the first dim) of the conversion and spend coefficients. */
static void base_outcomes(const double *cc, const double *cs, int dim, const double *x, double *p0, double *r0)
{
    double lc = 0, ls = 0;
    for (int j = 0; j < dim; j++) {
        lc += cc[j] * x[j];
        ls += cs[j] * x[j];
    }
    *p0 = uplift_sigmoid(lc);
    *r0 = ls > 0 ? ls : 0;
}

/* Effects of the refitted T-learner for one user (features x): base
 * conversion and spend, conversion and spend effects of every arm. */
void strategy_refit_user(const strat_data *d, const double *cc, const double *cs, const double *x, double *p0,
                         double *r0, double *dc, double *ds)
{
    uplift_effects(UPLIFT_T_LEARNER, 1, cc, d->T, d->dim, x, dc);
    uplift_effects(UPLIFT_T_LEARNER, 0, cs, d->T, d->dim, x, ds);
    base_outcomes(cc, cs, d->dim, x, p0, r0);
}

/* The campaign rows one rank fits on (its block of whole chunks of rows,
 * mkt_strat_fit_block): features, arms, outcomes, and the Poisson(1) weight
 * of every row in each of the R refits ([R x nr], by user). */
typedef struct {
    int64_t Nc, first, nr; /* rows of the whole log; this rank's [first, first + nr) */
    int32_t *arm;
    double *X, *yc, *ys;   /* [nr x dim] features; conversion, spend */
    uint8_t *w;
} fit_rows;

static void read_fit_rows(const strat_data *d, const uplift_features *fs, const mkt_strategy_options *o, int R,
                          fit_rows *fr, MPI_Comm comm)
{
    int dim = d->dim;
    hid_t f = mkt_h5_open(o->store, 0, comm);
    int64_t Nc = mkt_h5_rows(f, MKT_CAMPAIGNS_USER, NULL), first = 0, nr = 0;
    mkt_strat_fit_block(Nc, d->nranks, d->rank, &first, &nr);
    int32_t *user = xalloc((size_t)nr, sizeof(int32_t)), *arm = xalloc((size_t)nr, sizeof(int32_t));
    int32_t *conv = xalloc((size_t)nr, sizeof(int32_t));
    double *yc = xalloc((size_t)nr, sizeof(double)), *ys = xalloc((size_t)nr, sizeof(double));
    double *attrs = xalloc((size_t)nr * (size_t)(d->c_A > 0 ? d->c_A : 1), sizeof(double));
    if (nr > 0) {
        mkt_h5_read_rows(f, MKT_CAMPAIGNS_USER, H5T_NATIVE_INT32, first, nr, user);
        mkt_h5_read_rows(f, MKT_CAMPAIGNS_TREATMENT, H5T_NATIVE_INT32, first, nr, arm);
        mkt_h5_read_rows(f, MKT_CAMPAIGNS_CONVERSION, H5T_NATIVE_INT32, first, nr, conv);
        mkt_h5_read_rows(f, MKT_CAMPAIGNS_SPEND, H5T_NATIVE_DOUBLE, first, nr, ys);
        if (d->c_A > 0)
            mkt_h5_read_rows(f, MKT_CAMPAIGNS_ATTRS, H5T_NATIVE_DOUBLE, first, nr, attrs);
    }
    mkt_h5_close(f);
    double *X = xalloc((size_t)nr * (size_t)dim, sizeof(double));
    for (int64_t i = 0; i < nr; i++) {
        yc[i] = conv[i] != 0;
        if (!isfinite(ys[i]))
            ys[i] = 0;
        uplift_feature_row(fs, attrs + i * d->c_A, X + i * dim);
    }
    free(attrs);
    free(conv);
    uint8_t *w = xalloc((size_t)R * (size_t)nr, 1), *wu = xalloc((size_t)(R > 0 ? R : 1), 1);
    for (int64_t i = 0; i < nr; i++) {
        strat_refit_weights(o->config.seed, user[i], R, wu);
        for (int b = 0; b < R; b++)
            w[(size_t)b * (size_t)nr + (size_t)i] = wu[b];
    }
    free(wu);
    free(user);
    *fr = (fit_rows){Nc, first, nr, arm, X, yc, ys, w};
}

/* The T-learner on every campaign row (cc, cs: [T x dim]), then the R
 * refits on the reweighted rows, Newton from the full fit (d->rcc, d->rcs).
 * Frees the rows. */
static void fit_refits(strat_data *d, fit_rows *fr, double l2, int max_iter, double tol,
                       const mkt_strategy_options *o, double *cc, double *cs, MPI_Comm comm)
{
    int T = d->T, dim = d->dim, R = d->R;
    int64_t nr = fr->nr;
    mkt_strat_fit_rows rc = {nr, fr->first, dim, fr->X, fr->arm, fr->yc}, rs = {nr, fr->first, dim, fr->X, fr->arm,
                                                                                  fr->ys};
    size_t cl = (size_t)T * (size_t)dim;
    if (mkt_strat_fit_t(&rc, T, NULL, 0, l2, max_iter, tol, cc, comm) != 0 ||
        mkt_strat_fit_t(&rs, T, NULL, 1, l2, 1, tol, cs, comm) != 0)
        mkt_fail_all(MKT_EXIT_ERROR, "strategy: the effect model cannot be refitted on the campaign log of %s (an arm "
                     "without rows?); use effects = model", o->store);
    d->rcc = xalloc((size_t)R * cl, sizeof(double));
    d->rcs = xalloc((size_t)R * cl, sizeof(double));
    int failed = 0;
    for (int b = 0; b < R; b++) {
        double *bc = d->rcc + (size_t)b * cl, *bs = d->rcs + (size_t)b * cl;
        memcpy(bc, cc, sizeof(double) * cl); /* Newton from the full fit */
        const uint8_t *wb = fr->w + (size_t)b * (size_t)nr;
        failed += mkt_strat_fit_t(&rc, T, wb, 0, l2, max_iter, tol, bc, comm) != 0;
        failed += mkt_strat_fit_t(&rs, T, wb, 1, l2, 1, tol, bs, comm) != 0;
    }
    free(fr->w);
    free(fr->X);
    free(fr->arm);
    free(fr->yc);
    free(fr->ys);
    if (failed)
        mkt_fail_all(MKT_EXIT_ERROR, "strategy: %d refits of the effect model failed (too few campaign rows per arm?); "
                     "use effects = model", failed);
}

/* Sums per arm over the users: point effects (SC, SS), their squares (SC2,
 * SS2), the refit variances (NC, NS); conversion, then spend. */
enum { SC, SC2, NC, SS, SS2, NS, NSUM };

/* Per local user and arm: the point effects of the full fit (into d->p0,
 * r0, dconv, dspend) and the variance of the refits' effects (vc, vs); the
 * sums of acc (NSUM per arm, then the replicate effects [R x na] conversion
 * and [R x na] spend), reduced exactly; the arm means of each refit
 * (d->rmc, d->rms). */
static void point_effects(strat_data *d, const double *cc, const double *cs, double *vc, double *vs, mkt_xsum *acc,
                          MPI_Comm comm)
{
    int na = d->na, dim = d->dim, R = d->R;
    size_t cl = (size_t)d->T * (size_t)dim, nv = (size_t)d->n * (size_t)na;
    size_t nacc = (size_t)na * NSUM + 2 * (size_t)R * (size_t)na;
    double *sc = xalloc(nv, sizeof(double)), *ss = xalloc(nv, sizeof(double));
    double *ec = xalloc((size_t)na, sizeof(double)), *es = xalloc((size_t)na, sizeof(double));
    double p0, r0;
    mkt_xsum *rep = acc + (size_t)na * NSUM; /* [R x na] conversion, then [R x na] spend */
    for (int64_t u = 0; u < d->n; u++) {
        const double *x = d->ux + u * dim;
        double *dc = d->dconv + u * na, *ds = d->dspend + u * na;
        strategy_refit_user(d, cc, cs, x, &d->p0[u], &d->r0[u], dc, ds);
        for (int b = 0; b < R; b++) {
            strategy_refit_user(d, d->rcc + (size_t)b * cl, d->rcs + (size_t)b * cl, x, &p0, &r0, ec, es);
            for (int t = 0; t < na; t++) {
                sc[u * na + t] += ec[t];
                vc[u * na + t] += ec[t] * ec[t];
                ss[u * na + t] += es[t];
                vs[u * na + t] += es[t] * es[t];
                mkt_xsum_add(&rep[(size_t)b * (size_t)na + (size_t)t], ec[t]);
                mkt_xsum_add(&rep[(size_t)(R + b) * (size_t)na + (size_t)t], es[t]);
            }
        }
        for (int t = 0; t < na; t++) {
            size_t j = (size_t)u * (size_t)na + (size_t)t;
            double mc = sc[j] / R, ms = ss[j] / R;
            vc[j] = vc[j] / R - mc * mc;
            vs[j] = vs[j] / R - ms * ms;
            vc[j] = vc[j] > 0 ? vc[j] : 0;
            vs[j] = vs[j] > 0 ? vs[j] : 0;
            mkt_xsum *a = acc + (size_t)t * NSUM;
            mkt_xsum_add(&a[SC], dc[t]);
            mkt_xsum_add(&a[SC2], dc[t] * dc[t]);
            mkt_xsum_add(&a[NC], vc[j]);
            mkt_xsum_add(&a[SS], ds[t]);
            mkt_xsum_add(&a[SS2], ds[t] * ds[t]);
            mkt_xsum_add(&a[NS], vs[j]);
        }
    }
    for (size_t j = 0; j < nacc; j += 4096)
        mkt_allreduce_xsum(acc + j, (int)(nacc - j < 4096 ? nacc - j : 4096), comm);
    double N = (double)d->N;
    d->rmc = xalloc((size_t)R * (size_t)na, sizeof(double));
    d->rms = xalloc((size_t)R * (size_t)na, sizeof(double));
    for (int b = 0; b < R; b++)
        for (int t = 0; t < na; t++) {
            d->rmc[b * na + t] = mkt_xsum_value(&rep[(size_t)b * (size_t)na + (size_t)t]) / N;
            d->rms[b * na + t] = mkt_xsum_value(&rep[(size_t)(R + b) * (size_t)na + (size_t)t]) / N;
        }
    free(sc);
    free(ss);
    free(ec);
    free(es);
}

/* Each user's effect of each arm shrunk toward the arm's mean by
 * strat_shrink_factor(signal, this user's refit variance), and the metrics. */
static void shrink_effects(strat_data *d, const mkt_xsum *acc, const double *vc, const double *vs, double l2,
                           int64_t Nc, json_t *metrics, MPI_Comm comm)
{
    int na = d->na;
    size_t nv = (size_t)d->n * (size_t)na;
    double N = (double)d->N;
    d->kc = xalloc(nv, sizeof(double));
    d->ks = xalloc(nv, sizeof(double));
    json_t *em = mkt_metrics_child(metrics, "effects");
    mkt_metrics_set_str(em, "model", "T-learner refitted on every campaign row, shrunk per user (empirical Bayes)");
    mkt_metrics_set_int(em, "rows", Nc);
    mkt_metrics_set_int(em, "refits", d->R);
    mkt_metrics_set_real(em, "l2", l2);
    for (int t = 0; t < na; t++) {
        const mkt_xsum *a = acc + (size_t)t * NSUM;
        double mc = mkt_xsum_value(&a[SC]) / N, ms = mkt_xsum_value(&a[SS]) / N;
        double sig_c = mkt_xsum_value(&a[SC2]) / N - mc * mc - mkt_xsum_value(&a[NC]) / N;
        double sig_s = mkt_xsum_value(&a[SS2]) / N - ms * ms - mkt_xsum_value(&a[NS]) / N;
        mkt_xsum ks;
        mkt_xsum_init(&ks);
        for (int64_t u = 0; u < d->n; u++) {
            size_t j = (size_t)u * (size_t)na + (size_t)t;
            d->kc[j] = strat_shrink_factor(sig_c, vc[j]);
            d->ks[j] = strat_shrink_factor(sig_s, vs[j]);
            d->dconv[j] = strat_shrink(d->dconv[j], mc, d->kc[j]);
            d->dspend[j] = strat_shrink(d->dspend[j], ms, d->ks[j]);
            mkt_xsum_add(&ks, d->kc[j]);
        }
        mkt_allreduce_xsum(&ks, 1, comm);
        json_t *e = mkt_metrics_child(em, d->arms[t + 1]);
        mkt_metrics_set_real(e, "mean_conversion_effect", mc);
        mkt_metrics_set_real(e, "conversion_effect_signal_sd", sig_c > 0 ? sqrt(sig_c) : 0.0);
        mkt_metrics_set_real(e, "conversion_effect_noise_sd", sqrt(mkt_xsum_value(&a[NC]) / N));
        mkt_metrics_set_real(e, "mean_shrinkage_weight", mkt_xsum_value(&ks) / N);
        mkt_metrics_set_real(e, "mean_spend_effect", ms);
        mkt_log_detail(STAGE, "effects of %s: mean %.4f, spread across users (signal) sd %.4f, refit noise sd %.4f: "
                "weight %.3f on the user's own effect on average",
                d->arms[t + 1], mc, sig_c > 0 ? sqrt(sig_c) : 0.0, sqrt(mkt_xsum_value(&a[NC]) / N),
                mkt_xsum_value(&ks) / N);
    }
}

/* effects = shrunk: the uplift model's specification (features, l2) refitted
 * as a T-learner on every campaign row, then R refits on Poisson(1)
 * reweighted users; each user's effect of each arm is shrunk toward the
 * arm's mean by strat_shrink_factor(spread of the effects across users minus
 * the mean refit variance, this user's refit variance).  Sets p0, r0, dconv,
 * dspend and keeps what the refit intervals need. */
static void fit_effects(strat_data *d, const uplift_features *fs, double l2, int max_iter, double tol,
                        const mkt_strategy_options *o, json_t *metrics, MPI_Comm comm)
{
    int na = d->na, R = o->config.refits;
    d->R = R;
    fit_rows fr;
    read_fit_rows(d, fs, o, R, &fr, comm);
    size_t cl = (size_t)d->T * (size_t)d->dim;
    double *cc = xalloc(cl, sizeof(double)), *cs = xalloc(cl, sizeof(double));
    fit_refits(d, &fr, l2, max_iter, tol, o, cc, cs, comm);
    size_t nv = (size_t)d->n * (size_t)na, nacc = (size_t)na * NSUM + 2 * (size_t)R * (size_t)na;
    double *vc = xalloc(nv, sizeof(double)), *vs = xalloc(nv, sizeof(double));
    mkt_xsum *acc = xalloc(nacc, sizeof(mkt_xsum));
    for (size_t j = 0; j < nacc; j++)
        mkt_xsum_init(&acc[j]);
    point_effects(d, cc, cs, vc, vs, acc, comm);
    shrink_effects(d, acc, vc, vs, l2, fr.Nc, metrics, comm);
    free(acc);
    free(vc);
    free(vs);
    free(cc);
    free(cs);
}

/* The specification of /models/uplift (um, checked by model_io.h) checked
 * against the store: its arms, feature layout (fs, the attribute names) and
 * coefficients (cc, cs: [T x dim]).  Returns the feature count. */
static int read_uplift_model(const strat_data *d, hid_t m, const mkt_strategy_options *o, const mkt_uplift_model *um,
                             uplift_features *fs, char ***anames_out, double **cc_out, double **cs_out)
{
    int dim = (int)um->features;
    int A = (int)um->attrs;
    char **marms = mkt_h5_read_strings(m, MKT_MODELS_UPLIFT_ARMS, 0, um->arms);
    if (um->arms != d->T || !strings_equal(marms, d->arms, d->T))
        mkt_fail_all(MKT_EXIT_ERROR, "strategy: the arms of /models/uplift in %s differ from /ids/treatments of %s",
                     o->models, o->store);
    mkt_h5_free_strings(marms, um->arms);
    *fs = (uplift_features){A, xalloc((size_t)A, sizeof(uplift_attr_spec))};
    char **anames = NULL;
    if (A > 0) {
        double *spec = xalloc((size_t)A * UPLIFT_SPEC_COLS, sizeof(double));
        mkt_h5_read_rows(m, MKT_MODELS_UPLIFT_FEATURE_SPEC, H5T_NATIVE_DOUBLE, 0, A, spec);
        uplift_spec_decode(spec, fs);
        free(spec);
        anames = mkt_h5_read_strings(m, MKT_MODELS_UPLIFT_ATTR_NAMES, 0, A);
    }
    if (uplift_feature_dim(fs) != dim)
        mkt_fail_all(MKT_EXIT_ERROR, "strategy: %s: /models/uplift feature layout does not match (%d vs %d)",
                     o->models, uplift_feature_dim(fs), dim);
    if (A != d->c_A)
        mkt_fail_all(MKT_EXIT_ERROR, "strategy: /models/uplift has %d attributes, the campaign log of %s has %d", A,
                     o->store, d->c_A);
    const char *cn = MKT_MODELS_UPLIFT_COEF_CONVERSION, *sn = MKT_MODELS_UPLIFT_COEF_SPEND;
    if (um->gbdt) { /* forests instead of coefficients: predict_users applies them */
        *anames_out = anames;
        *cc_out = *cs_out = NULL;
        return dim;
    }
    if (!um->has_coef)
        mkt_fail_all(MKT_EXIT_ERROR, "strategy: %s: %s or %s is missing", o->models, cn, sn);
    double *cc = xalloc((size_t)d->T * (size_t)dim, sizeof(double));
    double *cs = xalloc((size_t)d->T * (size_t)dim, sizeof(double));
    mkt_h5_read_rows(m, cn, H5T_NATIVE_DOUBLE, 0, d->T, cc);
    mkt_h5_read_rows(m, sn, H5T_NATIVE_DOUBLE, 0, d->T, cs);
    *anames_out = anames;
    *cc_out = cc;
    *cs_out = cs;
    return dim;
}

/* Attributes of every local user [n x A]: /users/attrs (mkt gen stores) when
 * its names are the model's, else the user's last campaign row; have[u]: the
 * user has them (NAN otherwise).  *use_users: from /users/attrs. */
static double *user_attrs(const strat_data *d, const mkt_strategy_options *o, int A, char **anames,
                          unsigned char *have, int *use_users_out, MPI_Comm comm)
{
    double *uattrs = xalloc((size_t)d->n * (size_t)(A > 0 ? A : 1), sizeof(double));
    for (int64_t i = 0; i < d->n * A; i++)
        uattrs[i] = NAN;
    hid_t s = mkt_h5_open(o->store, 0, comm);
    int use_users = 0;
    if (A > 0 && mkt_h5_exists(s, MKT_USERS_ATTRS) && mkt_h5_exists(s, MKT_USERS_ATTR_NAMES)) {
        int64_t ucols = 0, urows = mkt_h5_rows(s, MKT_USERS_ATTRS, &ucols);
        if (urows == d->N && ucols == A) {
            char **un = mkt_h5_read_strings(s, MKT_USERS_ATTR_NAMES, 0, A);
            use_users = strings_equal(un, anames, A);
            mkt_h5_free_strings(un, A);
        }
        if (use_users) {
            mkt_h5_read_rows(s, MKT_USERS_ATTRS, H5T_NATIVE_DOUBLE, d->begin, d->n, uattrs);
            memset(have, 1, (size_t)d->n);
        }
    }
    mkt_h5_close(s);
    if (!use_users)
        for (int64_t j = 0; j < d->ncrow; j++) {
            int64_t u = d->c_user[j] - d->begin;
            memcpy(uattrs + u * A, d->c_attrs + j * A, sizeof(double) * (size_t)A);
            have[u] = 1;
        }
    *use_users_out = use_users;
    return uattrs;
}

/* A gbdt model's effects and base outcomes of every local user (features
 * d->ux), from its forests. */
static void predict_users_gbdt(strat_data *d, hid_t m, const char *models)
{
    mkt_uplift_gbdt_predict(m, models, d->method, "conversion", 1, d->T, d->dim, d->ux, d->n, d->dconv, d->p0);
    mkt_uplift_gbdt_predict(m, models, d->method, "spend", 0, d->T, d->dim, d->ux, d->n, d->dspend, d->r0);
    for (int64_t u = 0; u < d->n; u++)
        d->r0[u] = d->r0[u] > 0 ? d->r0[u] : 0;
}

/* Features (d->ux), base conversion and spend, and effects of every local
 * user by the stored model (the transformed outcome has no base rates: the
 * control means; a gbdt model (cc NULL): its forests). */
static void predict_users(strat_data *d, const uplift_features *fs, int A, const double *uattrs,
                          const unsigned char *have, int use_users, const double *cc, const double *cs, hid_t m,
                          const char *models)
{
    int dim = d->dim;
    d->p0 = xalloc((size_t)d->n, sizeof(double));
    d->r0 = xalloc((size_t)d->n, sizeof(double));
    d->dconv = xalloc((size_t)d->n * (size_t)d->na, sizeof(double));
    d->dspend = xalloc((size_t)d->n * (size_t)d->na, sizeof(double));
    double *x = xalloc((size_t)dim, sizeof(double));
    d->ux = xalloc((size_t)d->n * (size_t)dim, sizeof(double));
    for (int64_t u = 0; u < d->n; u++) {
        if (have[u])
            use_users ? d->attrs_from_users++ : d->attrs_from_campaign++;
        else
            d->attrs_missing++;
        uplift_feature_row(fs, uattrs + u * A, x);
        memcpy(d->ux + u * dim, x, sizeof(double) * (size_t)dim);
        if (!cc)
            continue;
        uplift_effects(d->method, 1, cc, d->T, dim, x, d->dconv + u * d->na);
        uplift_effects(d->method, 0, cs, d->T, dim, x, d->dspend + u * d->na);
        if (d->method == UPLIFT_TRANSFORMED) {
            d->p0[u] = d->control_conv;
            d->r0[u] = d->control_spend;
        } else {
            base_outcomes(cc, cs, dim, x, &d->p0[u], &d->r0[u]);
        }
    }
    free(x);
    if (!cc)
        predict_users_gbdt(d, m, models);
}

void strategy_load_uplift(strat_data *d, hid_t m, const mkt_strategy_options *o, json_t *metrics, MPI_Comm comm)
{
    const char *g = MKT_MODELS_UPLIFT; /* its presence is checked first, by load_inputs (strategy_stage.c) */
    mkt_uplift_model spec;
    char why[512];
    if (mkt_uplift_describe(m, o->models, &spec, why, sizeof why) != 0)
        mkt_fail_all(MKT_EXIT_ERROR, "strategy: %s", why);
    const char *outcome = spec.outcome, *method_name = spec.method;
    d->method = method_name ? uplift_method_parse(method_name) : -1;
    if (d->method < 0 || !outcome)
        mkt_fail_all(MKT_EXIT_ERROR, "strategy: %s: /models/uplift lacks its method/outcome attributes", o->models);
    if (strcmp(outcome, "conversion") != 0)
        mkt_fail_all(MKT_EXIT_ERROR,
                     "strategy: %s: /models/uplift models '%s'; the strategy needs the conversion outcome "
                     "(mkt train uplift --outcome conversion)",
                     o->models, outcome);
    d->uplift_seed = (uint64_t)mkt_h5_attr_get_int(m, g, "seed", 0);
    d->uplift_holdout = mkt_h5_attr_get_double(m, g, "holdout", 0);
    uplift_features fs;
    char **anames;
    double *cc, *cs;
    int dim = read_uplift_model(d, m, o, &spec, &fs, &anames, &cc, &cs);
    int A = (int)spec.attrs;
    unsigned char *have = xalloc((size_t)d->n, 1);
    int use_users;
    double *uattrs = user_attrs(d, o, A, anames, have, &use_users, comm);
    d->dim = dim;
    predict_users(d, &fs, A, uattrs, have, use_users, cc, cs, m, o->models);
    if (o->config.shrunk)
        fit_effects(d, &fs, mkt_h5_attr_get_double(m, g, "l2", 1.0), (int)mkt_h5_attr_get_int(m, g, "max_iter", 25),
                    mkt_h5_attr_get_double(m, g, "tol", 1e-9), o, metrics, comm);
    else
        mkt_metrics_set_str(mkt_metrics_child(metrics, "effects"), "model",
                            spec.gbdt ? "the forests of /models/uplift as they are"
                                      : "the coefficients of /models/uplift as they are");
    fit_order_value(d, &fs, dim, uattrs, metrics, comm);
    int64_t cnt[3] = {d->attrs_from_users, d->attrs_from_campaign, d->attrs_missing};
    MKT_MPI(MPI_Allreduce(MPI_IN_PLACE, cnt, 3, MPI_INT64_T, MPI_SUM, comm));
    json_t *um = mkt_metrics_child(metrics, "uplift_model");
    mkt_metrics_set_str(um, "method", method_name);
    mkt_metrics_set_int(um, "users_attributes_from_store", cnt[0]);
    mkt_metrics_set_int(um, "users_attributes_from_campaign", cnt[1]);
    mkt_metrics_set_int(um, "users_without_attributes", cnt[2]);
    mkt_metrics_set_real(um, "control_conversion_rate", d->control_conv);
    mkt_metrics_set_real(um, "control_mean_spend", d->control_spend);
    if (cnt[2] > 0)
        mkt_log(STAGE, "%lld users have no campaign row: their effects are predicted at the mean attributes",
                (long long)cnt[2]);
    free(have);
    free(uattrs);
    free(cc);
    free(cs);
    if (anames)
        mkt_h5_free_strings(anames, A);
    free(fs.attr);
    mkt_uplift_model_free(&spec);
}
