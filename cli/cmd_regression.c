/* cmd_regression.c — `mkt train effect` and `mkt train elasticity`: their
 * option table, which fills the stage's options and the least-squares config
 * (src/ls_config.h) directly, defaults from mkt_regression_options_init; and
 * the call of their stages (stages/train_regression.c).  Must not compute
 * anything itself. */
#include <stddef.h>

#include "commands.h"
#include "metrics_json.h"
#include "train_regression.h"

typedef struct {
    mkt_regression_options s;
    char *metrics_out;
} regression_values;

#define R(f) offsetof(regression_values, f)
static const mkt_opt regression_opts[] = {
    {"store", MKT_OPT_STR, R(s.store), NULL, "store to read", 0, 0},
    {"out", MKT_OPT_STR, R(s.out), NULL, "model file to write (created, or the group replaced in it)", 0, 0},
    {"method", MKT_OPT_STR, R(s.config.method), "gels", "least squares: gels (ScaLAPACK QR) or normal (normal equations, Cholesky)", 0, 0},
    {"lambda", MKT_OPT_DOUBLE, R(s.config.lambda), NULL, "ridge penalty on every coefficient (0: ordinary least squares)", 0, MKT_LS_MAX_LAMBDA},
    {"block", MKT_OPT_I32, R(s.config.block), NULL, "ScaLAPACK block size", 1, MKT_LS_MAX_BLOCK},
    {"metrics-out", MKT_OPT_STR, R(metrics_out), NULL, "write what the stage did as JSON to this file", 0, 0},
    MKT_OPT_END};

static regression_values effect_values, elasticity_values;

static void regression_defaults(void *p)
{
    mkt_regression_options_init(&((regression_values *)p)->s);
}

static int run_regression(regression_values *o, const char *stage,
                          int (*fn)(const mkt_regression_options *, MPI_Comm, json_t *), MPI_Comm comm)
{
    json_t *m = mkt_metrics_new(stage);
    int rc = fn(&o->s, comm, m);
    mkt_metrics_write(m, o->metrics_out, comm);
    json_decref(m);
    return rc;
}

static int run_effect(void *p, MPI_Comm comm) { return run_regression(p, "train_effect", mkt_effect_run, comm); }
static int run_elasticity(void *p, MPI_Comm comm)
{
    return run_regression(p, "train_elasticity", mkt_elasticity_run, comm);
}

const mkt_command mkt_cmd_train_effect = {
    .name = "train_effect",
    .usage = "mkt train effect --store S --out M [--method gels|normal] [--lambda L]",
    .description = "Campaign effect on spend by distributed least squares (ScaLAPACK): spend ~ intercept + standardized "
                   "attributes + arm one-hot + arm x attribute interactions; coefficients and standard errors in /models/effect.",
    .opts = regression_opts,
    .values = &effect_values,
    .values_size = sizeof effect_values,
    .run = run_effect,
    .defaults = regression_defaults,
};

const mkt_command mkt_cmd_train_elasticity = {
    .name = "train_elasticity",
    .usage = "mkt train elasticity --store S --out M [--method gels|normal]",
    .description = "Price elasticity per category: log(qty) on log(unit price) per category with weekday controls, over "
                   "purchase events, by distributed least squares; /models/elasticity/{elasticity, stderr, n}.",
    .opts = regression_opts,
    .values = &elasticity_values,
    .values_size = sizeof elasticity_values,
    .run = run_elasticity,
    .defaults = regression_defaults,
};
