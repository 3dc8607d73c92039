/* cmd_regression.c — `mkt train effect` and `mkt train elasticity`: their
 * option tables and the call of their stages (stages/train_regression.c).
 * Must not compute anything itself. */
#include <stddef.h>
#include <stdint.h>

#include "iocheck.h"
#include "commands.h"
#include "metrics_json.h"
#include "train_regression.h"

typedef struct {
    char *store, *out, *method, *metrics_out;
    double lambda;
    int64_t block;
} regression_cli;

#define R(f) offsetof(regression_cli, f)
static const mkt_opt regression_opts[] = {
    {"store", MKT_OPT_STR, R(store), NULL, "store to read", 0, 0},
    {"out", MKT_OPT_STR, R(out), NULL, "model file to write (created, or the group replaced in it)", 0, 0},
    {"method", MKT_OPT_STR, R(method), "gels", "least squares: gels (ScaLAPACK QR) or normal (normal equations, Cholesky)", 0, 0},
    {"lambda", MKT_OPT_DOUBLE, R(lambda), "0", "ridge penalty on every coefficient (0: ordinary least squares)", 0, 1e12},
    {"block", MKT_OPT_INT, R(block), "64", "ScaLAPACK block size", 1, 4096},
    {"metrics-out", MKT_OPT_STR, R(metrics_out), NULL, "write what the stage did as JSON to this file", 0, 0},
    MKT_OPT_END};

static regression_cli effect_values, elasticity_values;

static int run_regression(regression_cli *o, const char *stage, int (*fn)(const mkt_regression_options *, MPI_Comm, json_t *),
                          MPI_Comm comm)
{
    mkt_regression_options s;
    s.store = o->store;
    s.out = o->out;
    s.lambda = o->lambda;
    s.block = (int)o->block;
    if (mkt_ls_method_parse(o->method, &s.method) != 0)
        mkt_fail_all(MKT_EXIT_USAGE, "%s: method: '%s' is neither gels nor normal", stage, o->method ? o->method : "");
    json_t *m = mkt_metrics_new(stage);
    int rc = fn(&s, comm, m);
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
};
