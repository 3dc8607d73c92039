/* cmd_mf.c — `mkt train mf` and `mkt eval mf`: option tables and the calls
 * of the stage (stages/train_mf.c).  Computes nothing itself. */
#include "cmd_mf.h"
#include "commands.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "iocheck.h"
#include "metrics_json.h"
#include "train_mf.h"
#include "parse.h"

mkt_train_mf_cli mkt_train_mf_values;
mkt_eval_mf_cli mkt_eval_mf_values;

#define T(f) offsetof(mkt_train_mf_cli, f)
const mkt_opt mkt_train_mf_opts[] = {
    {"store", MKT_OPT_STR, T(store), NULL, "store to train on", 0, 0},
    {"out", MKT_OPT_STR, T(out), NULL, "model file to write (created, or /models/mf replaced in it)", 0, 0},
    {"implicit", MKT_OPT_BOOL, T(implicit), "0",
     "implicit feedback from behaviour events (else explicit ratings)", 0, 0},
    {"factors|rank", MKT_OPT_INT, T(rank), "32", "number of latent factors K", 1, 1000},
    {"iters", MKT_OPT_INT, T(iters), "30",
     "ALS iterations at most (each a user and an item half-step); explicit: fewer when validation stops early", 1,
     100000},
    {"lambda", MKT_OPT_STR, T(lambda), "auto",
     "ridge penalty (> 0), or auto (chosen by validation: explicit RMSE, implicit NDCG); explicit: lambda * ratings "
     "of the row, on factors and bias",
     0, 0},
    {"valid-fraction", MKT_OPT_DOUBLE, T(valid_fraction), "0.1",
     "explicit: share of the ratings not held out that validate (early stopping, lambda auto), by a hash of seed "
     "and event order; implicit: > 0 turns on a validation sample of about 2000 users (each one's last training "
     "item); 0: none",
     0, 0.9},
    {"patience", MKT_OPT_INT, T(patience), "3",
     "stop after this many iterations without a better validation error (0: run every iteration); the model "
     "written is the best iteration's",
     0, 100000},
    {"alpha", MKT_OPT_DOUBLE, T(alpha), "10", "implicit: confidence 1 + alpha * summed weight", 0, 1e9},
    {"holdout", MKT_OPT_DOUBLE, T(holdout), "0.1",
     "explicit: share of ratings held out (hash of seed and event order)", 0, 0.9},
    {"seed", MKT_OPT_INT, T(seed), "42", "seed of the initial factors and of the hold-out split", 0, 0},
    {"topk", MKT_OPT_INT, T(topk), "10", "implicit: length K of the evaluated recommendation lists", 1, 10000},
    {"weight-view", MKT_OPT_DOUBLE, T(weight_view), "1", "implicit: weight of a view", 0, 1e6},
    {"weight-click", MKT_OPT_DOUBLE, T(weight_click), "1", "implicit: weight of a click", 0, 1e6},
    {"weight-cart", MKT_OPT_DOUBLE, T(weight_cart), "3", "implicit: weight of a cart", 0, 1e6},
    {"weight-fav", MKT_OPT_DOUBLE, T(weight_fav), "2", "implicit: weight of a fav", 0, 1e6},
    {"weight-purchase", MKT_OPT_DOUBLE, T(weight_purchase), "5", "implicit: weight of a purchase", 0, 1e6},
    {"weight-rating", MKT_OPT_DOUBLE, T(weight_rating), "1",
     "implicit: a rating r > 0 adds weight-rating * r to the pair's summed weight (0: ratings are not used)", 0, 1e6},
    {"rating-threshold", MKT_OPT_DOUBLE, T(rating_threshold), "0",
     "implicit: > 0: only ratings >= this are positive, each adding weight-rating (the rest are not used)", 0, 1e9},
    {"checkpoint", MKT_OPT_STR, T(checkpoint), NULL,
     "checkpoint file (default: OUT.mf.ckpt.h5; removed when the model is written)", 0, 0},
    {"checkpoint-every", MKT_OPT_INT, T(checkpoint_every), "5",
     "write a checkpoint every C iterations (0: only on SIGTERM/SIGUSR1)", 0, 1e9},
    {"resume", MKT_OPT_BOOL, T(resume), "0",
     "continue from the checkpoint if it exists (it must match these options); else start from scratch", 0, 0},
    {"solver", MKT_OPT_STR, T(solver), "cholesky",
     "implicit: per-row solve, cholesky (exact) or cg (a few conjugate-gradient steps from the previous factors)", 0,
     0},
    {"cg-iters", MKT_OPT_INT, T(cg_iters), "3", "implicit, --solver cg: CG steps per row and half-step", 1, 1000},
    {"exchange", MKT_OPT_STR, T(exchange), "auto",
     "factor exchange per half-step: allgather (all rows to every rank), targeted (only the rows a rank's data "
     "references), or auto (the smaller estimated volume)",
     0, 0},
    {"until", MKT_OPT_STR, T(until), NULL,
     "use only events before this time (YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ or epoch seconds; default: all), e.g. the "
     "cutoff of a propensity model that uses the factor score",
     0, 0},
    {"metrics-out", MKT_OPT_STR, T(metrics_out), NULL, "write what the stage did as JSON to this file", 0, 0},
    MKT_OPT_END};

#define E(f) offsetof(mkt_eval_mf_cli, f)
const mkt_opt mkt_eval_mf_opts[] = {
    {"store", MKT_OPT_STR, E(store), NULL, "store with the held-out data (the one the model was trained on)", 0, 0},
    {"model", MKT_OPT_STR, E(model), NULL, "model file with /models/mf", 0, 0},
    {"test", MKT_OPT_STR, E(test), NULL,
     "test store ingested against --store (`mkt ingest --as test --into STORE`): score on all its events instead "
     "of the hold-out",
     0, 0},
    {"topk", MKT_OPT_INT, E(topk), "10", "implicit: length K of the evaluated recommendation lists", 1, 10000},
    {"metrics-out", MKT_OPT_STR, E(metrics_out), NULL, "write the held-out metrics as JSON to this file", 0, 0},
    MKT_OPT_END};

int mkt_train_mf_run(void *values, MPI_Comm comm)
{
    const mkt_train_mf_cli *c = values;
    mkt_mf_options o = {.store = c->store,
                        .out = c->out,
                        .rank = (int)c->rank,
                        .iters = (int)c->iters,
                        .implicit = c->implicit,
                        .topk = (int)c->topk,
                        .valid_fraction = c->valid_fraction,
                        .patience = (int)c->patience,
                        .alpha = c->alpha,
                        .holdout = c->holdout,
                        .weight = {c->weight_view, c->weight_click, c->weight_cart, c->weight_fav,
                                   c->weight_purchase},
                        .weight_rating = c->weight_rating,
                        .rating_threshold = c->rating_threshold,
                        .seed = (uint64_t)c->seed,
                        .checkpoint = c->checkpoint,
                        .checkpoint_every = c->checkpoint_every,
                        .resume = c->resume,
                        .cg_iters = 3,
                        .exchange = MKT_MF_EXCHANGE_AUTO};
    const char *solver = c->solver ? c->solver : "cholesky", *ex = c->exchange ? c->exchange : "auto";
    const char *lambda = c->lambda ? c->lambda : "auto";
    if (strcmp(lambda, "auto") == 0) {
        o.lambda_auto = 1;
    } else {
        char *end = NULL;
        o.lambda = strtod(lambda, &end);
        if (end == lambda || *end != '\0' || !(o.lambda > 0) || !(o.lambda <= 1e9))
            mkt_fail_all(MKT_EXIT_USAGE, "--lambda must be a number in (0, 1e9] or auto (got '%s')", lambda);
    }
    if (strcmp(solver, "cholesky") != 0 && strcmp(solver, "cg") != 0)
        mkt_fail_all(MKT_EXIT_USAGE, "--solver must be cholesky or cg (got '%s')", solver);
    if (strcmp(solver, "cg") == 0 && !c->implicit)
        mkt_fail_all(MKT_EXIT_USAGE, "--solver cg applies to --implicit only (explicit rows are solved by Cholesky)");
    if (c->until) {
        if (mkt_parse_timestamp(c->until, &o.until_ts) != 0)
            mkt_fail_all(MKT_EXIT_USAGE,
                         "--until: not a timestamp: '%s' (YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ or epoch seconds)",
                         c->until);
        o.has_until = 1;
    }
    o.cg = strcmp(solver, "cg") == 0;
    o.cg_iters = (int)c->cg_iters;
    if (strcmp(ex, "auto") == 0)
        o.exchange = MKT_MF_EXCHANGE_AUTO;
    else if (strcmp(ex, "allgather") == 0)
        o.exchange = MKT_MF_EXCHANGE_ALLGATHER;
    else if (strcmp(ex, "targeted") == 0)
        o.exchange = MKT_MF_EXCHANGE_TARGETED;
    else
        mkt_fail_all(MKT_EXIT_USAGE, "--exchange must be auto, allgather or targeted (got '%s')", ex);
    json_t *m = mkt_metrics_new("train_mf");
    int rc = mkt_mf_train_run(&o, comm, m);
    /* a run stopped mid-training by a signal has no results to report */
    if (!json_object_get(m, "preempted_at_iteration"))
        mkt_metrics_write(m, c->metrics_out, comm);
    json_decref(m);
    return rc;
}

int mkt_eval_mf_run(void *values, MPI_Comm comm)
{
    const mkt_eval_mf_cli *c = values;
    mkt_mf_options o = {.store = c->store, .model = c->model, .test = c->test, .topk = (int)c->topk, .cg_iters = 3,
                        .exchange = MKT_MF_EXCHANGE_AUTO};
    json_t *m = mkt_metrics_new("eval_mf");
    int rc = mkt_mf_eval_run(&o, comm, m);
    mkt_metrics_write(m, c->metrics_out, comm);
    json_decref(m);
    return rc;
}

const mkt_command mkt_cmd_train_mf = {
    .name = "train_mf",
    .usage = MKT_TRAIN_MF_USAGE,
    .description = MKT_TRAIN_MF_DESCRIPTION,
    .opts = mkt_train_mf_opts,
    .values = &mkt_train_mf_values,
    .values_size = sizeof mkt_train_mf_values,
    .run = mkt_train_mf_run,
};

const mkt_command mkt_cmd_eval_mf = {
    .name = "eval_mf",
    .usage = MKT_EVAL_MF_USAGE,
    .description = MKT_EVAL_MF_DESCRIPTION,
    .opts = mkt_eval_mf_opts,
    .values = &mkt_eval_mf_values,
    .values_size = sizeof mkt_eval_mf_values,
    .run = mkt_eval_mf_run,
};
