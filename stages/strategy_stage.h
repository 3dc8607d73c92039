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
 * cli/cmd_strategy.c (which fills these options directly).  Collective. */
#ifndef MKT_STRATEGY_STAGE_H
#define MKT_STRATEGY_STAGE_H

#include <jansson.h>
#include <mpi.h>
#include <stdint.h>

#include "strategy.h"

typedef struct {
    const char *store, *models, *out, *csv, *truth;
    const char *arm_costs; /* "NAME=KIND:VALUE[:REDEEM],..." */
    strat_config config; /* the policy's hyper-parameters (src/strategy.h: defaults, check) */
} mkt_strategy_options;

/* The defaults of every option (strat_config_defaults; the files NULL). */
void mkt_strategy_options_init(mkt_strategy_options *o);
/* NULL if the options are usable (the three files given, the policy's
 * config passing strat_check_config), else a message that starts with the
 * bad option.  Pure: no file is looked at. */
const char *mkt_strategy_check_options(const mkt_strategy_options *o);
/* Collective.  Checks the options (one usage error naming the bad one) and
 * runs the stage. */
int mkt_strategy_run(const mkt_strategy_options *o, MPI_Comm comm, json_t *metrics);

#endif
