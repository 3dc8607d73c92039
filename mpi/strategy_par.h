/* strategy_par.h — the distributed part of `mkt strategy`: the Lagrange
 * multiplier on promotion cost found by bisection with one exact allreduce
 * per step, policy totals, the propensity-rank threshold, the bootstrap of
 * the totals and the off-policy estimates from the randomized campaign log.
 *
 * Each rank holds a contiguous block of users (mkt_block_of); every sum that
 * decides or reports anything is exact (mkt_xsum merged with
 * mkt_allreduce_xsum), so the multiplier, the choices and every total are
 * bitwise identical on any number of ranks.  All functions are Collective.
 * Must not: read or write files (stages/strategy_stage.c does). */
#ifndef MKT_MPI_STRATEGY_H
#define MKT_MPI_STRATEGY_H

#include <mpi.h>
#include <stdint.h>

/* the pure layer */
#include "strategy.h"

/* Metric columns of the totals, in order. */
enum {
    MKT_STRAT_CONVERSIONS = 0,
    MKT_STRAT_REVENUE,
    MKT_STRAT_MARGIN,
    MKT_STRAT_COST,
    MKT_STRAT_PROFIT,
    MKT_STRAT_ROI,
    MKT_STRAT_METRICS
};
extern const char *const mkt_strat_metric_names[MKT_STRAT_METRICS];

typedef struct {
    int64_t n, begin;              /* this rank's users [begin, begin + n) */
    int na;                        /* promotion arms (store arms 1..na) */
    const strat_arm_value *val;    /* [n x na] */
    const unsigned char *eligible; /* [n x na] */
} mkt_strat_users;

/* The smallest multiplier lambda >= 0 whose choices cost at most `budget` in
 * total; fills choice[n] (arm 0..na-1 or -1) for it.  *steps: allreduces used
 * by the bisection. */
double mkt_strat_solve(const mkt_strat_users *u, double budget, int max_steps, int32_t *choice, int *steps,
                       MPI_Comm comm);
/* Totals of a policy (choice per local user) over all ranks: the columns
 * above (roi = profit / cost, NaN when cost is 0), and *treated. */
void mkt_strat_totals(const strat_arm_value *val, int na, int64_t n, const int32_t *choice,
                      double out[MKT_STRAT_METRICS], int64_t *treated, MPI_Comm comm);
/* The smallest threshold tau in [0, 2] such that the users with score >= tau
 * cost at most `budget` in total (cost[i] = what user i would cost). */
double mkt_strat_threshold(const double *score, const double *cost, int64_t n, double budget, int max_steps,
                           int *steps, MPI_Comm comm);
/* Poisson bootstrap over users of the totals of P policies: lo/hi [P x
 * MKT_STRAT_METRICS] receive the 2.5% and 97.5% quantiles over reps
 * replicates (weights from strat_bootstrap_weights(seed, user)). */
void mkt_strat_bootstrap(const strat_arm_value *val, int na, int64_t n, int64_t begin, int32_t *const *choices,
                         int P, int reps, uint64_t seed, double *lo, double *hi, MPI_Comm comm);

/* Campaign rows for the refits of the effect model: this rank's block of
 * whole chunks of MKT_STRAT_CHUNK global rows (mkt_strat_fit_block). */
#define MKT_STRAT_CHUNK 1024
typedef struct {
    int64_t n, first;      /* local rows: global rows [first, first + n) */
    int d;                 /* features per row */
    const double *x;       /* [n x d] */
    const int32_t *arm;    /* [n] 0..T-1 */
    const double *y;       /* [n] outcome (0/1 for a logistic fit) */
} mkt_strat_fit_rows;

/* This rank's rows [*first, *first + *n) of `rows` campaign rows: a
 * contiguous block of whole chunks. */
void mkt_strat_fit_block(int64_t rows, int nranks, int rank, int64_t *first, int64_t *n);
/* T-learner: for every arm a, a logistic (ridge = 0, Newton from the start
 * values in coef, at most max_iter steps, until max |step| < tol) or ridge
 * (ridge = 1, one solve) regression of y on x over the rows of arm a,
 * weighted by w (NULL: 1), penalty l2 on all but the intercept (feature 0).
 * coef is [T x d].  The terms are summed in doubles within a chunk and
 * exactly across chunks, so every rank count gives the same bits.  Returns
 * 0, or -1 if an arm has no weighted rows or a solve failed (coef of that arm
 * is then zero). */
int mkt_strat_fit_t(const mkt_strat_fit_rows *r, int T, const uint8_t *w, int ridge, double l2, int max_iter,
                    double tol, double *coef, MPI_Comm comm);

/* One row of the randomized campaign log, as the off-policy estimates see it. */
typedef struct {
    int32_t arm;        /* treatment received (0 = control) */
    int32_t policy;     /* treatment the strategy gives this user (0 = none) */
    int32_t converted;
    double spend;
    double mu_policy;   /* predicted profit level under the policy's arm */
    double mu_observed; /* predicted profit level under the arm received */
    double mu_control;  /* predicted profit level under control */
    double predicted;   /* predicted incremental profit of the policy (mu_policy - mu_control) */
} mkt_strat_log_row;

typedef struct {
    double ipw, dr, predicted; /* per campaign row: estimated incremental profit of the policy; the prediction */
    double ipw_se, dr_se;      /* standard errors (influence functions) */
    int64_t rows;
    int64_t matched;           /* rows whose arm is the policy's */
} mkt_strat_ope_result;

/* Inverse propensity weighting and doubly robust estimates of the policy's
 * incremental profit per campaign row against sending nothing, with the
 * arms' shares among the rows as propensities (randomized log).  costs[t-1]
 * is arm t's cost. */
void mkt_strat_ope(const mkt_strat_log_row *rows, int64_t n, int T, const strat_econ *econ,
                   const strat_arm_cost *costs, mkt_strat_ope_result *out, MPI_Comm comm);

#endif
