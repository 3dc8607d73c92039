/* strategy_stage.h — `mkt strategy`: a marketing strategy for every user
 * (segment, top-K unseen items with category diversity, prices, the
 * promotion or none under a global budget, a message) and the prediction of
 * what it earns beside three reference policies, with bootstrap intervals,
 * off-policy estimates from the randomized campaign log and, on `mkt gen`
 * data, the planted truth.
 *
 * Owns the inputs (store, model file, optional truth store), the output file
 * (/strategy, docs/strategy.md), the CSV export and the metrics.  The
 * arithmetic is src/strategy.c, the collectives mpi/strategy_par.c, the options
 * cli/cmd_strategy.c.  Collective. */
#ifndef MKT_STRATEGY_STAGE_H
#define MKT_STRATEGY_STAGE_H

#include <jansson.h>
#include <mpi.h>
#include <stdint.h>

typedef struct {
    const char *store, *models, *out, *csv, *truth;
    double budget;
    int k, max_per_category;
    double min_days_since_purchase, min_margin;
    const char *arm_costs;           /* "NAME=KIND:VALUE[:REDEEM],..." */
    double shipping_cost, contact_cost;
    double margin_rate;              /* < 0: from the catalogue (1 - sum cost / sum price) */
    const char *spend_effect;        /* "conversion" (order value x conversion uplift) or "model" */
    const char *pricing;             /* "elasticity" or "interest" */
    double min_factor, max_factor, interest_k;
    const char *template_text, *template_none;
    int bootstrap, curve_points, max_steps;
    int shrunk;                      /* 1: refit the effect model on every campaign row and shrink
                                      * each user's effects (empirical Bayes); 0: /models/uplift as is */
    int refits;                      /* refits of the effect model (shrinkage, intervals) */
    uint64_t seed;
} mkt_strategy_options;

int mkt_strategy_run(const mkt_strategy_options *o, MPI_Comm comm, json_t *metrics);

#endif
