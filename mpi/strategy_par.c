/* strategy_par.c — the distributed part of `mkt strategy`: bisection of
 * the Lagrange multiplier on promotion cost (one exact allreduce per step),
 * policy totals, the propensity-rank threshold, the Poisson bootstrap of the
 * totals, the refits of the effect model (T-learner with chunked exact
 * sums) and the off-policy (IPW, doubly robust) estimates.
 *
 * Rank independence: each user's choice is a pure function of its own
 * values and the multiplier; every total is an exact sum (mkt_xsum), so the
 * bisection takes the same path and ends at the same multiplier on any
 * number of ranks.  Must not read or write files. */
#include "strategy_par.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "exactsum.h"
#include "par.h"
#include "uplift.h"

const char *const mkt_strat_metric_names[MKT_STRAT_METRICS] = {
    "incremental_conversions", "incremental_revenue", "incremental_margin", "promotion_cost",
    "incremental_profit",      "roi"};

/* ---------- the multiplier ---------- */

typedef struct {
    const mkt_strat_users *u;
    int32_t *choice;
    double *profit, *cost; /* scratch, na */
    MPI_Comm comm;
} solve_ctx;

static int32_t choose_user(const mkt_strat_users *u, int64_t i, double lambda, double *profit, double *cost)
{
    for (int t = 0; t < u->na; t++) {
        profit[t] = u->val[i * u->na + t].profit;
        cost[t] = u->val[i * u->na + t].cost;
    }
    return strat_choose(profit, cost, u->eligible + i * u->na, u->na, lambda);
}

/* Total cost of the choices at lambda (one allreduce); fills ctx->choice. */
static double cost_at(double lambda, void *p)
{
    solve_ctx *c = p;
    mkt_xsum s;
    mkt_xsum_init(&s);
    for (int64_t i = 0; i < c->u->n; i++) {
        int32_t t = choose_user(c->u, i, lambda, c->profit, c->cost);
        c->choice[i] = t;
        if (t >= 0)
            mkt_xsum_add(&s, c->u->val[i * c->u->na + t].cost);
    }
    mkt_allreduce_xsum(&s, 1, c->comm);
    return mkt_xsum_value(&s);
}

double mkt_strat_solve(const mkt_strat_users *u, double budget, int max_steps, int32_t *choice, int *steps,
                       MPI_Comm comm)
{
    double *scratch = mkt_xcalloc((size_t)(2 * u->na + 2), sizeof(double));
    solve_ctx c = {u, choice, scratch, scratch + u->na + 1, comm};
    /* at lambda >= the largest profit/cost ratio no arm with a cost is worth sending */
    double hi = 0;
    for (int64_t i = 0; i < u->n; i++)
        for (int t = 0; t < u->na; t++) {
            const strat_arm_value *v = &u->val[i * u->na + t];
            if (u->eligible[i * u->na + t] && v->cost > 0 && v->profit > 0 && v->profit / v->cost > hi)
                hi = v->profit / v->cost;
        }
    MKT_MPI(MPI_Allreduce(MPI_IN_PLACE, &hi, 1, MPI_DOUBLE, MPI_MAX, comm));
    hi = hi > 0 ? hi * (1 + 1e-9) + 1e-300 : 1.0;
    int s = 0;
    double lambda = strat_bisect(cost_at, &c, budget, hi, max_steps, &s);
    /* leave the choices of the returned multiplier in choice[] */
    for (int64_t i = 0; i < u->n; i++)
        choice[i] = choose_user(u, i, lambda, c.profit, c.cost);
    *steps = s;
    free(scratch);
    return lambda;
}

/* ---------- totals ---------- */

static void add_user(mkt_xsum *acc, const strat_arm_value *v, double w)
{
    mkt_xsum_add(&acc[MKT_STRAT_CONVERSIONS], w * v->dconv);
    mkt_xsum_add(&acc[MKT_STRAT_REVENUE], w * v->drev);
    mkt_xsum_add(&acc[MKT_STRAT_MARGIN], w * v->margin);
    mkt_xsum_add(&acc[MKT_STRAT_COST], w * v->cost);
    mkt_xsum_add(&acc[MKT_STRAT_PROFIT], w * v->profit);
}

static void finish_totals(const mkt_xsum *acc, double *out)
{
    for (int m = 0; m < MKT_STRAT_ROI; m++)
        out[m] = mkt_xsum_value(&acc[m]);
    out[MKT_STRAT_ROI] = out[MKT_STRAT_COST] > 0 ? out[MKT_STRAT_PROFIT] / out[MKT_STRAT_COST] : NAN;
}

void mkt_strat_totals(const strat_arm_value *val, int na, int64_t n, const int32_t *choice,
                      double out[MKT_STRAT_METRICS], int64_t *treated, MPI_Comm comm)
{
    mkt_xsum acc[MKT_STRAT_ROI + 1];
    for (int m = 0; m <= MKT_STRAT_ROI; m++)
        mkt_xsum_init(&acc[m]);
    for (int64_t i = 0; i < n; i++)
        if (choice[i] >= 0) {
            add_user(acc, &val[i * na + choice[i]], 1.0);
            mkt_xsum_add(&acc[MKT_STRAT_ROI], 1.0); /* the count rides in the last slot */
        }
    mkt_allreduce_xsum(acc, MKT_STRAT_ROI + 1, comm);
    if (treated)
        *treated = (int64_t)mkt_xsum_value(&acc[MKT_STRAT_ROI]);
    finish_totals(acc, out);
}

/* ---------- propensity rank ---------- */

typedef struct {
    const double *score, *cost;
    int64_t n;
    MPI_Comm comm;
} threshold_ctx;

static double cost_above(double tau, void *p)
{
    threshold_ctx *c = p;
    mkt_xsum s;
    mkt_xsum_init(&s);
    for (int64_t i = 0; i < c->n; i++)
        if (c->score[i] >= tau && c->cost[i] > 0)
            mkt_xsum_add(&s, c->cost[i]);
    mkt_allreduce_xsum(&s, 1, c->comm);
    return mkt_xsum_value(&s);
}

double mkt_strat_threshold(const double *score, const double *cost, int64_t n, double budget, int max_steps,
                           int *steps, MPI_Comm comm)
{
    threshold_ctx c = {score, cost, n, comm};
    return strat_bisect(cost_above, &c, budget, 2.0, max_steps, steps);
}

/* ---------- bootstrap ---------- */

void mkt_strat_bootstrap(const strat_arm_value *val, int na, int64_t n, int64_t begin, int32_t *const *choices,
                         int P, int reps, uint64_t seed, double *lo, double *hi, MPI_Comm comm)
{
    const int M = MKT_STRAT_ROI; /* summed columns */
    size_t nacc = (size_t)reps * (size_t)P * (size_t)M;
    mkt_xsum *acc = mkt_xmalloc(sizeof(mkt_xsum) * (nacc > 0 ? nacc : 1));
    for (size_t j = 0; j < nacc; j++)
        mkt_xsum_init(&acc[j]);
    int32_t *w = mkt_xcalloc((size_t)(reps > 0 ? reps : 1), sizeof(int32_t));
    for (int64_t i = 0; i < n; i++) {
        int any = 0;
        for (int p = 0; p < P; p++)
            any |= choices[p][i] >= 0;
        if (!any)
            continue; /* contributes 0 to every replicate */
        strat_bootstrap_weights(seed, begin + i, reps, w);
        for (int b = 0; b < reps; b++) {
            if (w[b] == 0)
                continue;
            for (int p = 0; p < P; p++)
                if (choices[p][i] >= 0)
                    add_user(acc + ((size_t)b * (size_t)P + (size_t)p) * (size_t)M, &val[i * na + choices[p][i]],
                             (double)w[b]);
        }
    }
    free(w);
    /* merge in slices so one allreduce never exceeds an int count */
    const size_t slice = 4096;
    for (size_t j = 0; j < nacc; j += slice)
        mkt_allreduce_xsum(acc + j, (int)(nacc - j < slice ? nacc - j : slice), comm);
    double *v = mkt_xcalloc((size_t)(reps > 0 ? reps : 1), sizeof(double));
    double tot[MKT_STRAT_METRICS];
    for (int p = 0; p < P; p++)
        for (int m = 0; m < MKT_STRAT_METRICS; m++) {
            for (int b = 0; b < reps; b++) {
                finish_totals(acc + ((size_t)b * (size_t)P + (size_t)p) * (size_t)M, tot);
                v[b] = tot[m];
            }
            int nv = 0;
            for (int b = 0; b < reps; b++)
                if (!isnan(v[b]))
                    v[nv++] = v[b];
            lo[p * MKT_STRAT_METRICS + m] = strat_quantile(v, nv, 0.025);
            hi[p * MKT_STRAT_METRICS + m] = strat_quantile(v, nv, 0.975);
        }
    free(v);
    free(acc);
}

/* ---------- refits of the effect model ---------- */

void mkt_strat_fit_block(int64_t rows, int nranks, int rank, int64_t *first, int64_t *n)
{
    int64_t nchunks = (rows + MKT_STRAT_CHUNK - 1) / MKT_STRAT_CHUNK;
    mkt_block cb = mkt_block_of(nchunks, nranks, rank);
    int64_t b = cb.begin * MKT_STRAT_CHUNK, e = cb.end * MKT_STRAT_CHUNK;
    *first = b < rows ? b : rows;
    *n = (e < rows ? e : rows) - *first;
}

/* Sum over this rank's chunks of the normal-equation terms of every arm not
 * yet done at coef: per arm A (upper triangle), b, log-likelihood and
 * weighted rows, merged exactly over ranks into acc [T x per]. */
static void fit_terms(const mkt_strat_fit_rows *r, int T, const uint8_t *w, int ridge, const double *coef,
                      const unsigned char *done, mkt_xsum *acc, int per, double *A, double *b, double *ll,
                      double *cnt, MPI_Comm comm)
{
    int d = r->d;
    size_t dd = (size_t)d * (size_t)d, nacc = (size_t)T * (size_t)per;
    for (size_t k = 0; k < nacc; k++)
        mkt_xsum_init(&acc[k]);
    for (int64_t i0 = 0; i0 < r->n;) {
        /* one chunk: global rows [g, g + MKT_STRAT_CHUNK) */
        int64_t i1 = i0 + MKT_STRAT_CHUNK - (r->first + i0) % MKT_STRAT_CHUNK;
        if (i1 > r->n)
            i1 = r->n;
        memset(A, 0, sizeof(double) * (size_t)T * dd);
        memset(b, 0, sizeof(double) * (size_t)T * (size_t)d);
        memset(ll, 0, sizeof(double) * (size_t)T);
        memset(cnt, 0, sizeof(double) * (size_t)T);
        for (int64_t i = i0; i < i1; i++) {
            int a = r->arm[i];
            double wt = w ? (double)w[i] : 1.0;
            if (a < 0 || a >= T || done[a] || wt == 0)
                continue;
            const double *x = r->x + (size_t)i * (size_t)d;
            double h = 1.0, res = r->y[i];
            if (!ridge)
                ll[a] += wt * uplift_logistic_terms(x, d, coef + (size_t)a * (size_t)d, r->y[i], &h, &res);
            uplift_accumulate(x, d, wt * h, wt * res, A + (size_t)a * dd, b + (size_t)a * (size_t)d);
            cnt[a] += wt;
        }
        for (int a = 0; a < T; a++) {
            if (done[a] || cnt[a] == 0)
                continue;
            mkt_xsum *s = acc + (size_t)a * (size_t)per;
            int k = 0;
            for (int p = 0; p < d; p++)
                for (int q = p; q < d; q++)
                    mkt_xsum_add(&s[k++], A[(size_t)a * dd + (size_t)(p * d + q)]);
            for (int p = 0; p < d; p++)
                mkt_xsum_add(&s[k++], b[(size_t)a * (size_t)d + (size_t)p]);
            mkt_xsum_add(&s[k++], ll[a]);
            mkt_xsum_add(&s[k], cnt[a]);
        }
        i0 = i1;
    }
    for (size_t j = 0; j < nacc; j += 4096)
        mkt_allreduce_xsum(acc + j, (int)(nacc - j < 4096 ? nacc - j : 4096), comm);
}

int mkt_strat_fit_t(const mkt_strat_fit_rows *r, int T, const uint8_t *w, int ridge, double l2, int max_iter,
                    double tol, double *coef, MPI_Comm comm)
{
    int d = r->d;
    size_t dd = (size_t)d * (size_t)d;
    int per = d * (d + 1) / 2 + d + 2; /* A upper triangle, b, log-likelihood, weighted rows */
    mkt_xsum *acc = mkt_xmalloc(sizeof(mkt_xsum) * (size_t)T * (size_t)per);
    double *A = mkt_xcalloc((size_t)T * dd, sizeof(double)), *b = mkt_xcalloc((size_t)T * (size_t)d, sizeof(double));
    double *ll = mkt_xcalloc((size_t)T, sizeof(double)), *cnt = mkt_xcalloc((size_t)T, sizeof(double));
    double *prev = mkt_xcalloc((size_t)T * (size_t)d, sizeof(double)), *prev_obj = mkt_xcalloc((size_t)T, sizeof(double));
    int *newton = mkt_xcalloc((size_t)T, sizeof(int)), *halvings = mkt_xcalloc((size_t)T, sizeof(int));
    unsigned char *done = mkt_xcalloc((size_t)T, 1);
    int ok = 1;
    if (ridge)
        memset(coef, 0, sizeof(double) * (size_t)T * (size_t)d);
    for (int a = 0; a < T; a++)
        prev_obj[a] = -INFINITY;
    /* Newton with step halving: a step that lowers the penalized
     * log-likelihood is halved back toward the previous coefficients */
    for (int pass = 0; pass < (ridge ? 1 : max_iter + 60); pass++) {
        fit_terms(r, T, w, ridge, coef, done, acc, per, A, b, ll, cnt, comm);
        int all_done = 1;
        for (int a = 0; a < T; a++) {
            if (done[a])
                continue;
            const mkt_xsum *s = acc + (size_t)a * (size_t)per;
            double *beta = coef + (size_t)a * (size_t)d, *pb = prev + (size_t)a * (size_t)d;
            int k = d * (d + 1) / 2 + d;
            double obj = mkt_xsum_value(&s[k]), rows = mkt_xsum_value(&s[k + 1]);
            for (int p = 1; p < d; p++)
                obj -= 0.5 * l2 * beta[p] * beta[p];
            if (!(rows > 0)) {
                memset(beta, 0, sizeof(double) * (size_t)d);
                ok = 0;
                done[a] = 1;
                continue;
            }
            if (!ridge && !(obj >= prev_obj[a] - 1e-12 * fabs(prev_obj[a]))) {
                if (++halvings[a] > 50) { /* no better point along the step: keep the previous one */
                    memcpy(beta, pb, sizeof(double) * (size_t)d);
                    done[a] = 1;
                    continue;
                }
                for (int p = 0; p < d; p++)
                    beta[p] = 0.5 * (pb[p] + beta[p]);
                all_done = 0;
                continue;
            }
            halvings[a] = 0;
            prev_obj[a] = obj;
            memcpy(pb, beta, sizeof(double) * (size_t)d);
            double *Aa = A + (size_t)a * dd, *ba = b + (size_t)a * (size_t)d;
            memset(Aa, 0, sizeof(double) * dd);
            k = 0;
            for (int p = 0; p < d; p++)
                for (int q = p; q < d; q++)
                    Aa[p * d + q] = mkt_xsum_value(&s[k++]);
            for (int p = 0; p < d; p++)
                ba[p] = mkt_xsum_value(&s[k++]);
            double step = 0;
            if (uplift_newton_solve(Aa, ba, d, l2, NULL, ridge, beta, &step) != 0 || !isfinite(step)) {
                memcpy(beta, pb, sizeof(double) * (size_t)d);
                if (ridge)
                    ok = 0;
                done[a] = 1;
                continue;
            }
            if (ridge || step < tol || ++newton[a] >= max_iter)
                done[a] = 1;
            else
                all_done = 0;
        }
        if (all_done)
            break;
    }
    free(acc);
    free(A);
    free(b);
    free(ll);
    free(cnt);
    free(prev);
    free(prev_obj);
    free(newton);
    free(halvings);
    free(done);
    return ok ? 0 : -1;
}

/* ---------- off-policy estimates ---------- */

void mkt_strat_ope(const mkt_strat_log_row *rows, int64_t n, int T, const strat_econ *econ,
                   const strat_arm_cost *costs, mkt_strat_ope_result *out, MPI_Comm comm)
{
    memset(out, 0, sizeof *out);
    /* arm shares among the rows: the propensities of the randomized log */
    mkt_xsum *cnt = mkt_xmalloc(sizeof(mkt_xsum) * (size_t)(T + 1));
    for (int t = 0; t <= T; t++)
        mkt_xsum_init(&cnt[t]);
    for (int64_t i = 0; i < n; i++) {
        mkt_xsum_add(&cnt[rows[i].arm], 1.0);
        if (rows[i].arm == rows[i].policy)
            mkt_xsum_add(&cnt[T], 1.0);
    }
    mkt_allreduce_xsum(cnt, T + 1, comm);
    double *e = mkt_xcalloc((size_t)T, sizeof(double));
    double total = 0;
    for (int t = 0; t < T; t++)
        total += mkt_xsum_value(&cnt[t]);
    for (int t = 0; t < T; t++)
        e[t] = total > 0 ? mkt_xsum_value(&cnt[t]) / total : 0;
    out->rows = (int64_t)total;
    out->matched = (int64_t)mkt_xsum_value(&cnt[T]);
    free(cnt);

    enum { IPW, IPW2, DR, DR2, PRED, NSUM };
    mkt_xsum acc[NSUM];
    for (int j = 0; j < NSUM; j++)
        mkt_xsum_init(&acc[j]);
    for (int64_t i = 0; i < n; i++) {
        const mkt_strat_log_row *r = &rows[i];
        double y = strat_realized_profit(econ, r->arm > 0 ? &costs[r->arm - 1] : NULL, r->converted, r->spend);
        double in_pol = r->arm == r->policy && e[r->arm] > 0 ? 1.0 / e[r->arm] : 0.0;
        double in_ctl = r->arm == 0 && e[0] > 0 ? 1.0 / e[0] : 0.0;
        double ipw = in_pol * y - in_ctl * y;
        double dr = (r->mu_policy + in_pol * (y - r->mu_observed)) - (r->mu_control + in_ctl * (y - r->mu_observed));
        mkt_xsum_add(&acc[IPW], ipw);
        mkt_xsum_add(&acc[IPW2], ipw * ipw);
        mkt_xsum_add(&acc[DR], dr);
        mkt_xsum_add(&acc[DR2], dr * dr);
        mkt_xsum_add(&acc[PRED], r->predicted);
    }
    mkt_allreduce_xsum(acc, NSUM, comm);
    free(e);
    double N = (double)out->rows;
    if (N < 1) {
        out->ipw = out->dr = out->predicted = out->ipw_se = out->dr_se = NAN;
        return;
    }
    out->ipw = mkt_xsum_value(&acc[IPW]) / N;
    out->dr = mkt_xsum_value(&acc[DR]) / N;
    out->predicted = mkt_xsum_value(&acc[PRED]) / N;
    double vi = mkt_xsum_value(&acc[IPW2]) / N - out->ipw * out->ipw;
    double vd = mkt_xsum_value(&acc[DR2]) / N - out->dr * out->dr;
    out->ipw_se = N > 1 && vi > 0 ? sqrt(vi / (N - 1)) : 0;
    out->dr_se = N > 1 && vd > 0 ? sqrt(vd / (N - 1)) : 0;
}
