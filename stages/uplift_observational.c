/* uplift_observational.c — targeted (not randomized) campaigns in the uplift
 * stage: the fitted propensity of each arm against the untargeted users, and
 * the IPW / AIPW effect estimates over the overlap with their standard errors.
 * Must not: read or write the store, or sum anything that feeds a result in
 * an order that depends on the rank count. */
#include "uplift_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exactsum.h"
#include "iocheck.h"
#include "metrics_json.h"

/* Collective. Observational design: for each arm t, a logistic model of
 * "got t" against "untargeted" (arm 0) on the training rows of t and arm 0;
 * c->prop[i * T + t] = its probability for every row of t or arm 0. */
void up_fit_propensity(const mkt_uplift_options *o, campaign_data *c, const double *X, int d, MPI_Comm comm)
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
        up_fit_aside(&s, c, X, d, o, gamma, comm);
        for (int64_t i = 0; i < c->n; i++)
            if (c->treatment[i] == t || c->treatment[i] == 0)
                c->prop[i * T + t] = up_outcome_at(gamma, X + i * d, d, 1);
    }
    free(w);
    free(gamma);
}

/* The exact sums of one arm's effect estimates (index of v): rows of the arm
 * and of arm 0 (N1, N0), their outcomes (S1, S0); in the overlap: rows (K1,
 * K0, NO), the IPW numerators and denominators (A1, B1, A0, B0), the AIPW
 * terms (PHI, PHI2) and the planted effect (TRU); over all rows of the pair
 * the planted effect (TRUALL, NALL). */
enum { N1, N0, S1, S0, K1, K0, A1, B1, A0, B0, NO, PHI, PHI2, TRU, TRUALL, NALL, NACC };

/* Collective. v[NACC]: the sums of arm t against arm 0 with outcome models
 * m1 (arm) and m0 (arm 0); the range of the propensities seen. */
static void overlap_sums(const mkt_uplift_options *o, const campaign_data *c, const double *X, int d, int t,
                         const double *m0, const double *m1, double *v, double *emin, double *emax, MPI_Comm comm)
{
    int T = c->T, nt = T - 1;
    mkt_xsum acc[NACC];
    for (int k = 0; k < NACC; k++)
        mkt_xsum_init(&acc[k]);
    *emin = 1;
    *emax = 0;
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
        *emin = e < *emin ? e : *emin;
        *emax = e > *emax ? e : *emax;
        if (!(e >= o->config.trim && e <= 1.0 - o->config.trim))
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
        double phi = uplift_dr_pseudo(y, w == t, up_outcome_at(m1, x, d, 1), up_outcome_at(m0, x, d, 1), e);
        mkt_xsum_add(&acc[PHI], phi);
        mkt_xsum_add(&acc[PHI2], phi * phi);
        if (c->has_truth)
            mkt_xsum_add(&acc[TRU], c->truth_conv[i * nt + (t - 1)]);
    }
    mkt_allreduce_xsum(acc, NACC, comm);
    MKT_MPI(MPI_Allreduce(MPI_IN_PLACE, emin, 1, MPI_DOUBLE, MPI_MIN, comm));
    MKT_MPI(MPI_Allreduce(MPI_IN_PLACE, emax, 1, MPI_DOUBLE, MPI_MAX, comm));
    for (int k = 0; k < NACC; k++)
        v[k] = mkt_xsum_value(&acc[k]);
}

/* Collective. Observational design: per arm, the average effect on the
 * binary outcome among the users in the overlap (propensity in [trim,
 * 1 - trim]), by inverse-propensity weighting (normalized, Hajek) and by
 * AIPW (doubly robust, with T-learner outcome models on the training rows),
 * each with a standard error; beside the naive difference of means (all rows
 * of the arm and of arm 0) and, on `mkt gen` stores, the planted effect.
 * Every sum is exact per row, so the numbers do not depend on the rank count. */
void up_observational_estimates(const mkt_uplift_options *o, const campaign_data *c, const double *X, int d,
                                json_t *res, MPI_Comm comm)
{
    int T = c->T;
    json_t *obs = json_object();
    mkt_metrics_set_str(obs, "design", "observational");
    mkt_metrics_set_str(obs, "caveat", "the arms were targeted, not randomized: the effects assume that the campaign "
                                       "attributes hold every reason for targeting that also drives the outcome "
                                       "(no unmeasured confounding); estimates hold for the users in the overlap only");
    mkt_metrics_set_real(obs, "trim", o->config.trim);
    mkt_metrics_set_str(obs, "outcome", o->config.outcome);
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
    up_fit_aside(&s, c, X, d, o, m0, comm);
    for (int t = 1; t < T; t++) {
        s.arm = t;
        s.label = "outcome model of the arm (effect estimate)";
        up_fit_aside(&s, c, X, d, o, m1, comm);
        double v[NACC], emin, emax;
        overlap_sums(o, c, X, d, t, m0, m1, v, &emin, &emax, comm);
        if (v[K1] < 1 || v[K0] < 1)
            mkt_fail_all(MKT_EXIT_ERROR,
                         "uplift: observational: no overlap for arm %s: %.0f of its rows and %.0f untargeted rows "
                         "have a propensity in [%g, %g] (propensities seen: %.3g to %.3g); lower --trim, or the "
                         "targeting is deterministic in the attributes and no effect can be estimated",
                         c->arm_names[t], v[K1], v[K0], o->config.trim, 1 - o->config.trim, emin, emax);
        double naive = v[S1] / v[N1] - v[S0] / v[N0];
        double mu1 = v[A1] / v[B1], mu0 = v[A0] / v[B0], ipw = mu1 - mu0, n = v[NO];
        /* Hajek influence terms: second pass over the overlap rows */
        mkt_xsum ps;
        mkt_xsum_init(&ps);
        for (int64_t i = 0; i < c->n; i++) {
            int w = c->treatment[i];
            double e = (w == t || w == 0) ? c->prop[i * T + t] : 0;
            if ((w != t && w != 0) || !(e >= o->config.trim && e <= 1.0 - o->config.trim))
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
        if (c->has_truth && !strcmp(o->config.outcome, "conversion")) {
            mkt_metrics_set_real(a, "truth_mean_effect_overlap", v[TRU] / n);
            mkt_metrics_set_real(a, "truth_mean_effect_all", v[TRUALL] / v[NALL]);
        }
        json_object_set_new(arms, c->arm_names[t], a);
        mkt_log(STAGE, "observational, %s vs %s (not targeted): %s effect IPW %.4f +- %.4f, DR %.4f +- %.4f (naive "
                       "difference %.4f); %.0f of %.0f treated and %.0f of %.0f untargeted rows trimmed "
                       "(propensity outside [%g, %g])",
                c->arm_names[t], c->arm_names[0], o->config.outcome, ipw, 1.96 * ipw_se, dr, 1.96 * dr_se, naive,
                v[N1] - v[K1], v[N1], v[N0] - v[K0], v[N0], o->config.trim, 1 - o->config.trim);
        if (c->has_truth && !strcmp(o->config.outcome, "conversion"))
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
