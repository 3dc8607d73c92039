/* strategy_internal.h — private to the files of the `mkt strategy` stage
 * (stages/strategy_*.c): the state of one run (strat_data: the inputs and
 * the per-user arrays of this rank's users; strat_results: the totals and
 * estimates written out), the reference policies, and the steps each file
 * owns.  The driver (strategy_stage.c) calls the steps in order.
 *
 * Must not: be included outside stages/strategy_*.c. */
#ifndef MKT_STRATEGY_INTERNAL_H
#define MKT_STRATEGY_INTERNAL_H

#include <jansson.h>
#include <mpi.h>
#include <stdint.h>
#include <string.h>

#include "h5store.h"
#include "iocheck.h"
#include "mkt_types.h"
#include "strategy.h"
#include "strategy_par.h"
#include "strategy_stage.h"

#define STAGE "strategy"

enum { POL_STRATEGY = 0, POL_NONE, POL_CHEAPEST, POL_PROPENSITY, NPOL };
extern const char *const strategy_policy_names[NPOL];

static inline void *xalloc(size_t count, size_t size) { return mkt_xcalloc(count > 0 ? count : 1, size); }

typedef struct {
    int rank, nranks;
    int64_t N, I, n, begin; /* users, items, this rank's users [begin, begin + n) */
    int T, na, C;           /* arms (0 = control), promotion arms, categories */
    int64_t end_ts;
    char **arms, **user_ids, **item_ids, **segment_names;
    int nsegments;
    double *price, *cost;   /* [I] */
    int32_t *category;      /* [I] */
    /* per local user */
    double *days_since;     /* days since the last purchase (+inf: never) */
    int64_t *ev_ptr;        /* [n + 1] into ev_item */
    int32_t *ev_item;       /* purchased items of the local users */
    int32_t *segment;       /* [n] */
    double *p0, *r0;        /* predicted base conversion and spend */
    double *order_value;    /* expected gross basket of a converter */
    double *dconv, *dspend; /* [n x na] */
    double *propensity;     /* [n] or NULL */
    int64_t *items;         /* [n x K] */
    double *item_scores, *prices;
    const char *items_method; /* how the item lists were found */
    strat_mf_stats items_stats;
    double items_seconds;     /* this rank's time for them */
    double items_cpu_seconds; /* and the CPU time of its process (all threads) */
    strat_arm_cost *costs;  /* [na] */
    strat_arm_value *val;   /* [n x na] */
    strat_arm_value *tval;  /* [n x na] truth or NULL */
    unsigned char *eligible;
    /* the uplift model */
    int method;
    uint64_t uplift_seed;
    double uplift_holdout;
    int64_t attrs_from_users, attrs_from_campaign, attrs_missing;
    double control_conv, control_spend;
    /* campaign rows of the local users */
    int64_t crow_begin, ncrow;
    int32_t *c_user, *c_treat, *c_conv;
    double *c_spend, *c_attrs;
    int c_A;
    /* the refitted effect model (effects = shrunk) */
    int dim, R;             /* features; refits */
    double *ux;             /* [n x dim] features of the local users */
    double *rcc, *rcs;      /* replicate coefficients, conversion and spend [R x T x dim] */
    double *kc, *ks;        /* [n x na] shrinkage weights */
    double *rmc, *rms;      /* arm means of the replicate effects [R x na] */
} strat_data;

typedef struct {
    double value[NPOL][MKT_STRAT_METRICS], lo[NPOL][MKT_STRAT_METRICS], hi[NPOL][MKT_STRAT_METRICS];
    double truth[NPOL][MKT_STRAT_METRICS];
    int has_truth;
    double *curve_budget, *curve_profit, *curve_cost, *curve_treated;
    int curve_n;
    mkt_strat_ope_result ope;
    double lambda;
    int64_t treated;
    int steps;     /* bisection steps of the strategy's lambda */
    int cheap;     /* the cheapest promotion arm (0-based) */
    int have_prop; /* every rank has propensity scores */
    double tau;    /* the propensity threshold (NAN: none) */
} strat_results;

/* ---------- small readers ---------- */

static inline int64_t rows_or_fail(hid_t f, const char *file, const char *name, int64_t *cols)
{
    if (!mkt_h5_exists(f, name))
        mkt_fail_all(MKT_EXIT_ERROR, "strategy: %s has no dataset %s", file, name);
    return mkt_h5_rows(f, name, cols);
}

static inline int strings_equal(char **a, char **b, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        if (strcmp(a[i], b[i]) != 0)
            return 0;
    return 1;
}

/* Collective: 1 if every rank says 1. */
static inline int all_true(int v, MPI_Comm comm)
{
    MKT_MPI(MPI_Allreduce(MPI_IN_PLACE, &v, 1, MPI_INT, MPI_MIN, comm));
    return v;
}

/* strategy_inputs.c: the store, the optional models and the truth store */
void strategy_load_store(strat_data *d, const mkt_strategy_options *o, MPI_Comm comm);
void strategy_load_segments(strat_data *d, hid_t m, const mkt_strategy_options *o, json_t *metrics);
void strategy_load_propensity(strat_data *d, hid_t m, const mkt_strategy_options *o, json_t *metrics,
                              MPI_Comm comm);
void strategy_load_truth(strat_data *d, const strat_econ *e, const mkt_strategy_options *o, MPI_Comm comm);

/* strategy_effects.c: the uplift model, the refitted and shrunk effects, the order value */
void strategy_load_uplift(strat_data *d, hid_t m, const mkt_strategy_options *o, json_t *metrics, MPI_Comm comm);
void strategy_refit_user(const strat_data *d, const double *cc, const double *cs, const double *x, double *p0,
                         double *r0, double *dc, double *ds);

/* strategy_items.c: the top-K item lists and their prices */
void strategy_load_items(strat_data *d, hid_t m, const mkt_strategy_options *o);
void strategy_set_prices(strat_data *d, hid_t m, const mkt_strategy_options *o, json_t *metrics, MPI_Comm comm);

/* strategy_alloc.c: promotion costs, the value of every arm, the budget, the reference policies, intervals,
 * the budget curve, the off-policy estimates */
strat_econ strategy_costs(strat_data *d, const mkt_strategy_options *o, json_t *metrics);
void strategy_evaluate_arms(strat_data *d, const strat_econ *e, const mkt_strategy_options *o);
void strategy_solve(const strat_data *d, const mkt_strategy_options *o, int32_t **choice, strat_results *r,
                    MPI_Comm comm);
void strategy_intervals(const strat_data *d, const strat_econ *e, const mkt_strategy_options *o,
                        int32_t *const *choice, strat_results *r, MPI_Comm comm);
void strategy_budget_curve(const strat_data *d, const mkt_strategy_options *o, strat_results *r, MPI_Comm comm);
void strategy_ope(const strat_data *d, const strat_econ *e, const int32_t *choice, strat_results *r, MPI_Comm comm);

/* strategy_output.c: messages, /strategy, the CSV export, the metrics and the summary */
char **strategy_render_messages(const strat_data *d, const int32_t *choice, const mkt_strategy_options *o);
void strategy_write_h5(const strat_data *d, const int32_t *choice, char **msg, const strat_results *r,
                       const mkt_strategy_options *o, MPI_Comm comm);
void strategy_write_csv(const strat_data *d, const int32_t *choice, char **msg, const mkt_strategy_options *o,
                        MPI_Comm comm);
void strategy_report_metrics(const strat_data *d, const strat_results *r, const int32_t *choice,
                             const mkt_strategy_options *o, json_t *metrics, MPI_Comm comm);
void strategy_log_summary(const strat_data *d, const strat_results *r, const mkt_strategy_options *o, double t0);

#endif
