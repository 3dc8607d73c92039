/* cmd_mf.c — `mkt train mf` and `mkt eval mf`: option tables, which fill
 * the stage's options (stages/train_mf.h) and the model's config (src/mf.h)
 * directly; the numeric defaults are mkt_mf_options_defaults', printed by
 * --help from there.  Computes and checks nothing itself. */
#include "cmd_mf.h"
#include "commands.h"

#include <stddef.h>

#include "metrics_json.h"
#include "train_mf.h"

/* What the tables fill: the stage's options, and the metrics file. */
typedef struct {
    mkt_mf_options stage;
    char *metrics_out;
} mf_values;

static mf_values train_values, eval_values;

#define T(f) offsetof(mf_values, f)
#define C(f) offsetof(mf_values, stage.config.f)
static const mkt_opt train_opts[] = {
    {"store", MKT_OPT_STR, T(stage.store), NULL, "store to train on", 0, 0},
    {"out", MKT_OPT_STR, T(stage.out), NULL, "model file to write (created, or /models/mf replaced in it)", 0, 0},
    {"implicit", MKT_OPT_BOOL, C(implicit), NULL,
     "implicit feedback from behaviour events (else explicit ratings)", 0, 0},
    {"factors|rank", MKT_OPT_I32, C(factors), NULL, "number of latent factors K", 1, 1000},
    {"iters", MKT_OPT_I32, C(iters), NULL,
     "ALS iterations at most (each a user and an item half-step); explicit: fewer when validation stops early", 1,
     100000},
    {"lambda", MKT_OPT_STR, T(stage.lambda), "auto",
     "ridge penalty (> 0), or auto (chosen by validation: explicit RMSE, implicit NDCG); explicit: lambda * ratings "
     "of the row, on factors and bias",
     0, 0},
    {"valid-fraction", MKT_OPT_DOUBLE, C(valid_fraction), NULL,
     "explicit: share of the ratings not held out that validate (early stopping, lambda auto), by a hash of seed "
     "and event order; implicit: > 0 turns on a validation sample of about 2000 users (each one's last training "
     "item); 0: none",
     0, 0.9},
    {"patience", MKT_OPT_I32, C(patience), NULL,
     "stop after this many iterations without a better validation error (0: run every iteration); the model "
     "written is the best iteration's",
     0, 100000},
    {"alpha", MKT_OPT_DOUBLE, C(alpha), NULL, "implicit: confidence 1 + alpha * summed weight", 0, 1e9},
    {"holdout", MKT_OPT_DOUBLE, C(holdout), NULL,
     "explicit: share of ratings held out (hash of seed and event order)", 0, 0.9},
    {"seed", MKT_OPT_U64, C(seed), NULL, "seed of the initial factors and of the hold-out split", 0, 0},
    {"topk", MKT_OPT_I32, C(topk), NULL, "implicit: length K of the evaluated recommendation lists", 1, 10000},
    {"weight-view", MKT_OPT_DOUBLE, C(weight[0]), NULL, "implicit: weight of a view", 0, 1e6},
    {"weight-click", MKT_OPT_DOUBLE, C(weight[1]), NULL, "implicit: weight of a click", 0, 1e6},
    {"weight-cart", MKT_OPT_DOUBLE, C(weight[2]), NULL, "implicit: weight of a cart", 0, 1e6},
    {"weight-fav", MKT_OPT_DOUBLE, C(weight[3]), NULL, "implicit: weight of a fav", 0, 1e6},
    {"weight-purchase", MKT_OPT_DOUBLE, C(weight[4]), NULL, "implicit: weight of a purchase", 0, 1e6},
    {"weight-rating", MKT_OPT_DOUBLE, C(weight_rating), NULL,
     "implicit: a rating r > 0 adds weight-rating * r to the pair's summed weight (0: ratings are not used)", 0, 1e6},
    {"rating-threshold", MKT_OPT_DOUBLE, C(rating_threshold), NULL,
     "implicit: > 0: only ratings >= this are positive, each adding weight-rating (the rest are not used)", 0, 1e9},
    {"checkpoint", MKT_OPT_STR, T(stage.checkpoint), NULL,
     "checkpoint file (default: OUT.mf.ckpt.h5; removed when the model is written)", 0, 0},
    {"checkpoint-every", MKT_OPT_INT, T(stage.checkpoint_every), NULL,
     "write a checkpoint every C iterations (0: only on SIGTERM/SIGUSR1)", 0, 1e9},
    {"resume", MKT_OPT_BOOL, T(stage.resume), NULL,
     "continue from the checkpoint if it exists (it must match these options); else start from scratch", 0, 0},
    {"solver", MKT_OPT_STR, T(stage.solver), "cholesky",
     "implicit: per-row solve, cholesky (exact) or cg (a few conjugate-gradient steps from the previous factors)", 0,
     0},
    {"cg-iters", MKT_OPT_I32, C(cg_iters), NULL, "implicit, --solver cg: CG steps per row and half-step", 1, 1000},
    {"exchange", MKT_OPT_STR, T(stage.exchange), "auto",
     "factor exchange per half-step: allgather (all rows to every rank), targeted (only the rows a rank's data "
     "references), or auto (the smaller estimated volume)",
     0, 0},
    {"until", MKT_OPT_TIME, T(stage.until_ts), NULL,
     "use only events before this time (YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ or epoch seconds; default: all), e.g. the "
     "cutoff of a propensity model that uses the factor score",
     0, 0},
    {"metrics-out", MKT_OPT_STR, T(metrics_out), NULL, "write what the stage did as JSON to this file", 0, 0},
    MKT_OPT_END};

static const mkt_opt eval_opts[] = {
    {"store", MKT_OPT_STR, T(stage.store), NULL, "store with the held-out data (the one the model was trained on)", 0,
     0},
    {"model", MKT_OPT_STR, T(stage.model), NULL, "model file with /models/mf", 0, 0},
    {"test", MKT_OPT_STR, T(stage.test), NULL,
     "test store ingested against --store (`mkt ingest --as test --into STORE`): score on all its events instead "
     "of the hold-out",
     0, 0},
    {"topk", MKT_OPT_I32, C(topk), NULL, "implicit: length K of the evaluated recommendation lists", 1, 10000},
    {"metrics-out", MKT_OPT_STR, T(metrics_out), NULL, "write the held-out metrics as JSON to this file", 0, 0},
    MKT_OPT_END};

static void defaults(void *values)
{
    mkt_mf_options_defaults(&((mf_values *)values)->stage);
}

/* Runs one of the stage's commands with its metrics object. */
static int run_stage(void *values, const char *name, int (*stage)(const mkt_mf_options *, MPI_Comm, json_t *),
                     MPI_Comm comm)
{
    mf_values *v = values;
    json_t *m = mkt_metrics_new(name);
    int rc = stage(&v->stage, comm, m);
    /* a run stopped mid-training by a signal has no results to report */
    if (!json_object_get(m, "preempted_at_iteration"))
        mkt_metrics_write(m, v->metrics_out, comm);
    json_decref(m);
    return rc;
}

static int train_run(void *values, MPI_Comm comm)
{
    return run_stage(values, "train_mf", mkt_mf_train_run, comm);
}

static int eval_run(void *values, MPI_Comm comm)
{
    return run_stage(values, "eval_mf", mkt_mf_eval_run, comm);
}

const mkt_command mkt_cmd_train_mf = {
    .name = "train_mf",
    .usage = MKT_TRAIN_MF_USAGE,
    .description = MKT_TRAIN_MF_DESCRIPTION,
    .opts = train_opts,
    .values = &train_values,
    .values_size = sizeof train_values,
    .run = train_run,
    .defaults = defaults,
};

const mkt_command mkt_cmd_eval_mf = {
    .name = "eval_mf",
    .usage = MKT_EVAL_MF_USAGE,
    .description = MKT_EVAL_MF_DESCRIPTION,
    .opts = eval_opts,
    .values = &eval_values,
    .values_size = sizeof eval_values,
    .run = eval_run,
    .defaults = defaults,
};
