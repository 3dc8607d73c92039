/* train_regression.h — the `mkt train effect` and `mkt train elasticity`
 * stages, and the helper every model stage uses to add a group to a model file.
 *
 * Owns reading the campaign log / purchase events from the store, building
 * the two designs (docs/regression.md), calling the distributed least squares
 * (mpi/scalapack_ls.h), and writing /models/effect and /models/elasticity.
 * Must not parse command lines (cli/cmd_regression.c does) or solve
 * (mpi/scalapack_ls.c does). */
#ifndef MKT_REGRESSION_STAGE_H
#define MKT_REGRESSION_STAGE_H

#include <hdf5.h>
#include <jansson.h>
#include <mpi.h>

#include "h5store.h"
#include "ls_config.h"
#include "scalapack_ls.h"

typedef struct {
    mkt_ls_config config; /* method, lambda, block (src/ls_config.h) */
    const char *store;    /* store to read (opened read-only) */
    const char *out;      /* model file: created when missing, else a group is replaced in it */
} mkt_regression_options;

/* Sets the defaults of every option (mkt_ls_config_defaults; no store). */
void mkt_regression_options_init(mkt_regression_options *opt);

/* Both stages first check opt->config: a bad field is one usage error naming
 * it ("train_effect: method: ..."). */

/* Collective. Campaign effect on spend: spend ~ intercept + standardized
 * attributes + treatment one-hot + treatment x attribute interactions, over
 * /campaigns.  Writes /models/effect; adds n, d, rss, sigma2, r2,
 * coefficients {name: {coef, stderr}} and treatment_effects to metrics. */
int mkt_effect_run(const mkt_regression_options *opt, MPI_Comm comm, json_t *metrics);

/* Collective. Price elasticity per category: log(qty) ~ category intercepts +
 * category x log(unit price) + day-of-week dummies, over purchase events.
 * Writes /models/elasticity/{elasticity, stderr, n} [C]. */
int mkt_elasticity_run(const mkt_regression_options *opt, MPI_Comm comm, json_t *metrics);


#endif
