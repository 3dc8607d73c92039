/* strategy_alloc.c — who gets which promotion in `mkt strategy`: the cost
 * of every promotion and the margin rate, the value of every arm for every
 * local user, the strategy under the budget (a Lagrange multiplier found by
 * bisection), the three reference policies, their totals with intervals
 * (bootstrap, or the refits of the effect model), the budget curve and the
 * off-policy estimates on the campaign log (docs/strategy.md).
 *
 * Must not: compute the economics of one user and arm itself (src/strategy.c)
 * or reduce across ranks other than through mpi/strategy_par.c and exact sums. */
#include "strategy_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "exactsum.h"
#include "metrics_json.h"
#include "par.h"
#include "uplift.h"

/* ---------- economics per user and arm ---------- */

static double catalogue_margin(const strat_data *d)
{
    double sp = 0, sc = 0;
    mkt_xsum a, b;
    mkt_xsum_init(&a);
    mkt_xsum_init(&b);
    for (int64_t i = 0; i < d->I; i++)
        if (d->price[i] > 0 && d->cost[i] >= 0 && isfinite(d->cost[i])) {
            mkt_xsum_add(&a, d->price[i]);
            mkt_xsum_add(&b, d->cost[i]);
        }
    sp = mkt_xsum_value(&a);
    sc = mkt_xsum_value(&b);
    return sp > 0 ? 1.0 - sc / sp : 0.0;
}

/* Value of arm t (0-based) for a user with base conversion p0, order value
 * V, base spend r0 and effects dc (conversion), ds (spend). */
static void arm_value(const strat_data *d, const strat_econ *e, int by_conversion, int t, double p0, double V,
                      double r0, double dc, double ds, strat_arm_value *out)
{
    if (by_conversion)
        strat_arm_value_eval_conv(e, &d->costs[t], p0, V, dc, out);
    else
        strat_arm_value_eval(e, &d->costs[t], p0, r0, dc, ds, out);
}

void strategy_evaluate_arms(strat_data *d, const strat_econ *e, const mkt_strategy_options *o)
{
    size_t nv = (size_t)d->n * (size_t)d->na;
    d->val = xalloc(nv, sizeof(strat_arm_value));
    d->eligible = xalloc(nv, 1);
    int by_conversion = strcmp(o->config.spend_effect, "conversion") == 0;
    for (int64_t u = 0; u < d->n; u++)
        for (int t = 0; t < d->na; t++) {
            size_t j = (size_t)u * (size_t)d->na + (size_t)t;
            arm_value(d, e, by_conversion, t, d->p0[u], d->order_value[u], d->r0[u], d->dconv[j], d->dspend[j],
                      &d->val[j]);
            d->eligible[j] = (unsigned char)strat_eligible(d->days_since[u], o->config.min_days_since_purchase,
                                                           d->val[j].margin_after, o->config.min_margin);
        }
}

/* The cost of every promotion arm (--arm-costs) and the margin rate (the
 * option, else the catalogue's). */
strat_econ strategy_costs(strat_data *d, const mkt_strategy_options *o, json_t *metrics)
{
    d->costs = xalloc((size_t)d->na, sizeof(strat_arm_cost));
    json_t *cm = mkt_metrics_child(metrics, "arm_costs");
    for (int t = 1; t < d->T; t++) {
        char err[512];
        if (strat_arm_cost_parse(o->arm_costs, d->arms[t], o->config.shipping_cost, &d->costs[t - 1], err, sizeof err) != 0)
            mkt_fail_all(MKT_EXIT_USAGE, "strategy: %s", err);
        static const char *const kinds[] = {"percent", "coupon", "shipping", "contact"};
        json_t *a = mkt_metrics_child(cm, d->arms[t]);
        mkt_metrics_set_str(a, "kind", kinds[d->costs[t - 1].kind]);
        mkt_metrics_set_real(a, "value", d->costs[t - 1].value);
        mkt_metrics_set_real(a, "redeem", d->costs[t - 1].redeem);
    }
    strat_econ econ = {o->config.margin_rate >= 0 ? o->config.margin_rate : catalogue_margin(d), o->config.contact_cost};
    mkt_metrics_set_real(metrics, "margin_rate", econ.margin_rate);
    mkt_metrics_set_str(metrics, "spend_effect", o->config.spend_effect);
    mkt_metrics_set_str(metrics, "margin_rate_source", o->config.margin_rate >= 0 ? "option" : "catalogue");
    return econ;
}

/* ---------- the strategy and the reference policies ---------- */

/* The reference policies: nothing; the cheapest arm to everyone eligible; the
 * cheapest arm by propensity rank under the budget (skipped without
 * propensity scores).  Sets r->cheap, r->tau and r->have_prop. */
static void reference_policies(const strat_data *d, const mkt_strategy_options *o, int32_t **choice, strat_results *r,
                               MPI_Comm comm)
{
    mkt_xsum *ac = xalloc((size_t)d->na, sizeof(mkt_xsum));
    for (int t = 0; t < d->na; t++)
        mkt_xsum_init(&ac[t]);
    for (int64_t u = 0; u < d->n; u++)
        for (int t = 0; t < d->na; t++)
            mkt_xsum_add(&ac[t], d->val[u * d->na + t].cost);
    mkt_allreduce_xsum(ac, d->na, comm);
    int cheap = 0;
    for (int t = 1; t < d->na; t++)
        if (mkt_xsum_value(&ac[t]) < mkt_xsum_value(&ac[cheap]))
            cheap = t;
    free(ac);
    double *pscore = xalloc((size_t)d->n, sizeof(double)), *pcost = xalloc((size_t)d->n, sizeof(double));
    for (int64_t u = 0; u < d->n; u++) {
        int el = d->eligible[u * d->na + cheap];
        choice[POL_NONE][u] = -1;
        choice[POL_CHEAPEST][u] = el ? cheap : -1;
        pscore[u] = el && d->propensity ? d->propensity[u] : -1.0;
        pcost[u] = el ? d->val[u * d->na + cheap].cost : 0.0;
    }
    int have_prop = all_true(d->propensity != NULL, comm);
    double tau = NAN;
    if (have_prop) {
        int ps = 0;
        tau = mkt_strat_threshold(pscore, pcost, d->n, o->config.budget, o->config.max_steps, &ps, comm);
        for (int64_t u = 0; u < d->n; u++)
            choice[POL_PROPENSITY][u] = pscore[u] >= tau ? cheap : -1;
    } else {
        for (int64_t u = 0; u < d->n; u++)
            choice[POL_PROPENSITY][u] = -1;
    }
    free(pscore);
    free(pcost);
    r->cheap = cheap;
    r->tau = tau;
    r->have_prop = have_prop;
}

/* The strategy under the budget, the reference policies, and the predicted
 * (and, with --truth, the true) totals of each. */
void strategy_solve(const strat_data *d, const mkt_strategy_options *o, int32_t **choice, strat_results *r,
                    MPI_Comm comm)
{
    mkt_strat_users su = {d->n, d->begin, d->na, d->val, d->eligible};
    r->steps = 0;
    r->lambda = mkt_strat_solve(&su, o->config.budget, o->config.max_steps, choice[POL_STRATEGY], &r->steps, comm);
    reference_policies(d, o, choice, r, comm);
    for (int p = 0; p < NPOL; p++) {
        int64_t tr = 0;
        mkt_strat_totals(d->val, d->na, d->n, choice[p], r->value[p], &tr, comm);
        if (p == POL_STRATEGY)
            r->treated = tr;
        if (d->tval) {
            mkt_strat_totals(d->tval, d->na, d->n, choice[p], r->truth[p], NULL, comm);
            r->has_truth = 1;
        }
    }
    if (r->value[POL_STRATEGY][MKT_STRAT_COST] > o->config.budget)
        mkt_fail_all(MKT_EXIT_ERROR, "strategy: internal error: cost %.17g exceeds the budget %.17g",
                     r->value[POL_STRATEGY][MKT_STRAT_COST], o->config.budget);
}

/* ---------- intervals, budget curve, off-policy estimates ---------- */

/* effects = shrunk: the totals of every policy (its choices fixed) under
 * the shrunk effects of each refit, and from them the 95% interval around
 * the point totals (strat_replicate_interval): the uncertainty of the
 * effect model, which dominates that of the user sample. */
static void refit_intervals(const strat_data *d, const strat_econ *e, const mkt_strategy_options *o,
                            int32_t *const *choice, strat_results *r, MPI_Comm comm)
{
    int R = d->R, na = d->na;
    const int M = MKT_STRAT_ROI; /* summed columns */
    size_t cl = (size_t)d->T * (size_t)d->dim, nacc = (size_t)R * NPOL * (size_t)M;
    mkt_xsum *acc = xalloc(nacc, sizeof(mkt_xsum));
    for (size_t j = 0; j < nacc; j++)
        mkt_xsum_init(&acc[j]);
    double *ec = xalloc((size_t)na, sizeof(double)), *es = xalloc((size_t)na, sizeof(double)), p0, r0;
    int by_conversion = strcmp(o->config.spend_effect, "conversion") == 0;
    for (int64_t u = 0; u < d->n; u++) {
        int any = 0;
        for (int p = 0; p < NPOL; p++)
            any |= choice[p][u] >= 0;
        if (!any)
            continue;
        for (int b = 0; b < R; b++) {
            strategy_refit_user(d, d->rcc + (size_t)b * cl, d->rcs + (size_t)b * cl, d->ux + u * d->dim, &p0, &r0, ec, es);
            for (int p = 0; p < NPOL; p++) {
                int t = choice[p][u];
                if (t < 0)
                    continue;
                size_t j = (size_t)u * (size_t)na + (size_t)t;
                strat_arm_value v;
                arm_value(d, e, by_conversion, t, p0, d->order_value[u], r0,
                          strat_shrink(ec[t], d->rmc[b * na + t], d->kc[j]),
                          strat_shrink(es[t], d->rms[b * na + t], d->ks[j]), &v);
                mkt_xsum *a = acc + ((size_t)b * NPOL + (size_t)p) * (size_t)M;
                mkt_xsum_add(&a[MKT_STRAT_CONVERSIONS], v.dconv);
                mkt_xsum_add(&a[MKT_STRAT_REVENUE], v.drev);
                mkt_xsum_add(&a[MKT_STRAT_MARGIN], v.margin);
                mkt_xsum_add(&a[MKT_STRAT_COST], v.cost);
                mkt_xsum_add(&a[MKT_STRAT_PROFIT], v.profit);
            }
        }
    }
    for (size_t j = 0; j < nacc; j += 4096)
        mkt_allreduce_xsum(acc + j, (int)(nacc - j < 4096 ? nacc - j : 4096), comm);
    double *v = xalloc((size_t)R, sizeof(double));
    for (int p = 0; p < NPOL; p++)
        for (int m = 0; m < MKT_STRAT_METRICS; m++) {
            for (int b = 0; b < R; b++) {
                const mkt_xsum *a = acc + ((size_t)b * NPOL + (size_t)p) * (size_t)M;
                double cost = mkt_xsum_value(&a[MKT_STRAT_COST]);
                v[b] = m < M ? mkt_xsum_value(&a[m])
                             : (cost > 0 ? mkt_xsum_value(&a[MKT_STRAT_PROFIT]) / cost : NAN);
            }
            strat_replicate_interval(r->value[p][m], v, R, &r->lo[p][m], &r->hi[p][m]);
        }
    free(v);
    free(ec);
    free(es);
    free(acc);
}

/* The 95% intervals of every policy's totals: the refits of the effect
 * model (effects = shrunk), else the bootstrap over users.  Without
 * propensity scores the propensity_rank policy is NAN throughout. */
void strategy_intervals(const strat_data *d, const strat_econ *e, const mkt_strategy_options *o,
                        int32_t *const *choice, strat_results *r, MPI_Comm comm)
{
    if (o->config.shrunk)
        refit_intervals(d, e, o, choice, r, comm);
    else
        mkt_strat_bootstrap(d->val, d->na, d->n, d->begin, choice, NPOL, o->config.bootstrap, o->config.seed, &r->lo[0][0],
                            &r->hi[0][0], comm);
    if (!r->have_prop)
        for (int m2 = 0; m2 < MKT_STRAT_METRICS; m2++)
            r->value[POL_PROPENSITY][m2] = r->lo[POL_PROPENSITY][m2] = r->hi[POL_PROPENSITY][m2] =
                r->truth[POL_PROPENSITY][m2] = NAN;
}

/* The budget curve: the same policy at budgets from 0 to the unconstrained cost. */
void strategy_budget_curve(const strat_data *d, const mkt_strategy_options *o, strat_results *r, MPI_Comm comm)
{
    mkt_strat_users su = {d->n, d->begin, d->na, d->val, d->eligible};
    int32_t *tmp = xalloc((size_t)d->n, sizeof(int32_t));
    int cs = 0;
    mkt_strat_solve(&su, INFINITY, o->config.max_steps, tmp, &cs, comm);
    double full[MKT_STRAT_METRICS];
    mkt_strat_totals(d->val, d->na, d->n, tmp, full, NULL, comm);
    r->curve_n = o->config.curve_points;
    r->curve_budget = xalloc((size_t)r->curve_n, sizeof(double));
    r->curve_profit = xalloc((size_t)r->curve_n, sizeof(double));
    r->curve_cost = xalloc((size_t)r->curve_n, sizeof(double));
    r->curve_treated = xalloc((size_t)r->curve_n, sizeof(double));
    for (int j = 0; j < r->curve_n; j++) {
        double b = full[MKT_STRAT_COST] * (double)j / (double)(r->curve_n - 1);
        mkt_strat_solve(&su, b, o->config.max_steps, tmp, &cs, comm);
        double tv[MKT_STRAT_METRICS];
        int64_t tr = 0;
        mkt_strat_totals(d->val, d->na, d->n, tmp, tv, &tr, comm);
        r->curve_budget[j] = b;
        r->curve_profit[j] = tv[MKT_STRAT_PROFIT];
        r->curve_cost[j] = tv[MKT_STRAT_COST];
        r->curve_treated[j] = (double)tr;
    }
    free(tmp);
}

/* Off-policy estimates of the strategy on the held-out campaign rows of the
 * uplift model (every row when it held none out). */
void strategy_ope(const strat_data *d, const strat_econ *e, const int32_t *choice, strat_results *r, MPI_Comm comm)
{
    mkt_strat_log_row *lr = xalloc((size_t)d->ncrow, sizeof(mkt_strat_log_row));
    int64_t nl = 0;
    for (int64_t j = 0; j < d->ncrow; j++) {
        int64_t u = d->c_user[j] - d->begin;
        if (d->uplift_holdout > 0 && !uplift_is_holdout(d->uplift_seed, d->c_user[j], d->uplift_holdout))
            continue;
        mkt_strat_log_row *x = &lr[nl++];
        int t = choice[u];
        double mu0 = e->margin_rate * d->r0[u];
        x->arm = d->c_treat[j];
        x->policy = t + 1;
        x->converted = d->c_conv[j] != 0;
        x->spend = d->c_spend[j];
        x->mu_control = mu0;
        x->mu_policy = t >= 0 ? mu0 + d->val[u * d->na + t].profit : mu0;
        x->mu_observed = x->arm > 0 ? mu0 + d->val[u * d->na + x->arm - 1].profit : mu0;
        x->predicted = t >= 0 ? d->val[u * d->na + t].profit : 0.0;
    }
    mkt_strat_ope(lr, nl, d->T, e, d->costs, &r->ope, comm);
    free(lr);
}
