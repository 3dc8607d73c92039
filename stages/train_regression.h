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
#include "scalapack_ls.h"

typedef struct {
    const char *store;    /* store to read (opened read-only) */
    const char *out;      /* model file: created when missing, else a group is replaced in it */
    mkt_ls_method method; /* MKT_LS_GELS or MKT_LS_NORMAL */
    double lambda;        /* ridge penalty on every coefficient (0: ordinary least squares) */
    int block;            /* ScaLAPACK block size (0: 64) */
} mkt_regression_options;

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
