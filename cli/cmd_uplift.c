/* cmd_uplift.c — the `mkt train uplift` and `mkt eval uplift` commands
 * (job-file sections [train_uplift] and [eval_uplift]): option tables, checks,
 * and the call of the stage in stages/train_uplift.c.
 *
 * Owns only the command-line surface; the fitting and the metrics live in
 * stages/train_uplift.c and src/uplift.c. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "iocheck.h"
#include "commands.h"
#include "metrics_json.h"
#include "uplift.h"
#include "train_uplift.h"

typedef struct {
    char *store, *out, *method, *outcome, *metrics_out, *checkpoint, *design, *l2_effect;
    double holdout, l2, tol, valid_fraction, trim;
    int64_t seed, squares, max_iter, checkpoint_every, folds;
    int resume;
} train_uplift_cli;

typedef struct {
    char *store, *model, *test, *metrics_out;
} eval_uplift_cli;

#define TU(f) offsetof(train_uplift_cli, f)
static const mkt_opt train_uplift_opts[] = {
    {"store", MKT_OPT_STR, TU(store), NULL, "store with the randomized campaign log (/campaigns)", 0, 0},
    {"out", MKT_OPT_STR, TU(out), NULL, "model file to write /models/uplift into (created, or the group replaced)", 0, 0},
    {"method", MKT_OPT_STR, TU(method), "t", "learner: t (one model per arm), s (one model with arm interactions), "
     "transformed (ridge on the transformed outcome), x (X-learner) or dr (cross-fitted doubly robust learner)", 0, 0},
    {"outcome", MKT_OPT_STR, TU(outcome), "conversion", "binary outcome to model besides spend: conversion, visit, or redeemed (observational logs with a redemption column)", 0, 0},
    {"holdout", MKT_OPT_DOUBLE, TU(holdout), "0.3", "share of users held out for the metrics (by a hash of seed and user)", 0, 0.95},
    {"seed", MKT_OPT_INT, TU(seed), "1", "seed of the hold-out, validation and fold hashes", 0, 0},
    {"valid-fraction", MKT_OPT_DOUBLE, TU(valid_fraction), "0.2", "share of the non-held-out users in the validation "
     "split of the selection metric (the model itself is fitted on all non-held-out rows; 0: no selection metric)", 0, 0.9},
    {"folds", MKT_OPT_INT, TU(folds), "2", "cross-fitting folds of the DR-learner (method dr)", 2, 20},
    {"design", MKT_OPT_STR, TU(design), "randomized", "randomized (arm 0 a randomized control) or observational "
     "(arms targeted by the shop, arm 0 the untargeted users: fitted propensities, overlap trimming, IPW and DR "
     "effect estimates; docs/uplift.md)", 0, 0},
    {"trim", MKT_OPT_DOUBLE, TU(trim), "0.05", "observational: leave out the rows whose propensity is outside "
     "[trim, 1 - trim] (the overlap)", 0, 0.49},
    {"l2", MKT_OPT_DOUBLE, TU(l2), "1", "ridge penalty on every coefficient but the intercepts", 0, 1e12},
    {"l2-effect", MKT_OPT_STR, TU(l2_effect), "same", "ridge penalty of the effect regressions (transformed, x stage 2, "
     "dr's final ridge): a number >= 0, or same (the value of --l2)", 0, 0},
    {"squares", MKT_OPT_INT, TU(squares), "1", "add squares of the standardized non-binary numeric attributes (1) or not (0)", 0, 1},
    {"max-iter", MKT_OPT_INT, TU(max_iter), "25", "Newton iterations at most", 1, 1000},
    {"tol", MKT_OPT_DOUBLE, TU(tol), "1e-9", "stop Newton when the largest coefficient step is below this", 0, 1},
    {"checkpoint", MKT_OPT_STR, TU(checkpoint), NULL,
     "checkpoint file (default: OUT.uplift.ckpt.h5; removed when the model is written)", 0, 0},
    {"checkpoint-every", MKT_OPT_INT, TU(checkpoint_every), "5",
     "write a checkpoint every C Newton steps, counted over all fits (0: only on SIGTERM/SIGUSR1)", 0, 1e9},
    {"resume", MKT_OPT_BOOL, TU(resume), "0",
     "continue from the checkpoint if it exists (it must match these options); else start from scratch", 0, 0},
    {"metrics-out", MKT_OPT_STR, TU(metrics_out), NULL, "write what the stage did as JSON to this file", 0, 0},
    MKT_OPT_END};

#define EU(f) offsetof(eval_uplift_cli, f)
static const mkt_opt eval_uplift_opts[] = {
    {"store", MKT_OPT_STR, EU(store), NULL, "store with the campaign log the model was trained on (its hold-out is measured)", 0, 0},
    {"test", MKT_OPT_STR, EU(test), NULL, "measure on every campaign row of this store instead (same arms and attributes "
     "as the model; --store is then not read)", 0, 0},
    {"model", MKT_OPT_STR, EU(model), NULL, "model file with /models/uplift", 0, 0},
    {"metrics-out", MKT_OPT_STR, EU(metrics_out), NULL, "write the held-out metrics as JSON to this file", 0, 0},
    MKT_OPT_END};

static train_uplift_cli train_uplift_values;
static eval_uplift_cli eval_uplift_values;

static int run_train_uplift(void *p, MPI_Comm comm)
{
    train_uplift_cli *o = p;
    if (!o->store || !o->out)
        mkt_fail_all(MKT_EXIT_USAGE, "train uplift: --store STORE.h5 and --out MODEL.h5 are required");
    mkt_uplift_options s;
    memset(&s, 0, sizeof s);
    s.store = o->store;
    s.model = o->out;
    s.outcome = o->outcome;
    s.method = uplift_method_parse(o->method);
    if (s.method < 0)
        mkt_fail_all(MKT_EXIT_USAGE, "train uplift: method: must be t, s, transformed, x or dr, not '%s'", o->method);
    if (!o->outcome || (strcmp(o->outcome, "conversion") != 0 && strcmp(o->outcome, "visit") != 0 &&
                        strcmp(o->outcome, "redeemed") != 0))
        mkt_fail_all(MKT_EXIT_USAGE, "train uplift: outcome: must be conversion, visit or redeemed, not '%s'",
                     o->outcome ? o->outcome : "");
    s.holdout = o->holdout;
    s.l2 = o->l2;
    s.l2_effect = -1;
    if (o->l2_effect && strcmp(o->l2_effect, "same") != 0) {
        char *end;
        s.l2_effect = strtod(o->l2_effect, &end);
        if (end == o->l2_effect || *end != '\0' || !(s.l2_effect >= 0) || !(s.l2_effect <= 1e12))
            mkt_fail_all(MKT_EXIT_USAGE, "train uplift: l2-effect must be a number in [0, 1e12] or same (got '%s')",
                         o->l2_effect);
    }
    s.seed = (uint64_t)o->seed;
    s.squares = (int)o->squares;
    s.max_iter = (int)o->max_iter;
    s.tol = o->tol;
    s.checkpoint = o->checkpoint;
    s.checkpoint_every = o->checkpoint_every;
    s.resume = o->resume;
    s.valid_fraction = o->valid_fraction;
    s.folds = (int)o->folds;
    if (!o->design || (strcmp(o->design, "randomized") != 0 && strcmp(o->design, "observational") != 0))
        mkt_fail_all(MKT_EXIT_USAGE, "train uplift: design: must be randomized or observational, not '%s'",
                     o->design ? o->design : "");
    s.observational = !strcmp(o->design, "observational");
    s.trim = o->trim;
    json_t *m = mkt_metrics_new("train_uplift");
    int rc = mkt_uplift_train(&s, comm, m);
    /* a run stopped mid-training by a signal has no results to report */
    if (!json_object_get(m, "preempted_at_iteration"))
        mkt_metrics_write(m, o->metrics_out, comm);
    json_decref(m);
    return rc;
}

static int run_eval_uplift(void *p, MPI_Comm comm)
{
    eval_uplift_cli *o = p;
    if ((!o->store && !o->test) || !o->model)
        mkt_fail_all(MKT_EXIT_USAGE,
                     "eval uplift: --model MODEL.h5 and --store STORE.h5 (or --test TEST.h5) are required");
    mkt_uplift_options s;
    memset(&s, 0, sizeof s);
    s.store = o->store;
    s.model = o->model;
    s.test_store = o->test;
    json_t *m = mkt_metrics_new("eval_uplift");
    int rc = mkt_uplift_eval(&s, comm, m);
    mkt_metrics_write(m, o->metrics_out, comm);
    json_decref(m);
    return rc;
}

const mkt_command mkt_cmd_train_uplift = {
    .name = "train_uplift",
    .usage = "mkt train uplift --store S --out M [--method t|s|transformed|x|dr] [--outcome conversion|visit] [--holdout 0.3] "
             "[--valid-fraction 0.2] [--seed N] [--l2 L]",
    .description = "Learn, for every user and each promotion against control, the incremental effect on the binary outcome "
                   "(conversion or visit) and on spend, from the randomized campaign log; Newton/IRLS and ridge fits with exact "
                   "sums (identical on any rank count). Writes /models/uplift, held-out Qini, AUUC and uplift at top k%, and the "
                   "validation Qini as the model-selection metric.",
    .opts = train_uplift_opts,
    .values = &train_uplift_values,
    .values_size = sizeof train_uplift_values,
    .run = run_train_uplift,
};

const mkt_command mkt_cmd_eval_uplift = {
    .name = "eval_uplift",
    .usage = "mkt eval uplift --model M (--store S | --test T)",
    .description = "Recompute the held-out metrics of an uplift model (Qini, AUUC, uplift at top 10/20/30%; on `mkt gen` stores "
                   "also the correlation with the planted effects), or measure it on every row of a separate test store.",
    .opts = eval_uplift_opts,
    .values = &eval_uplift_values,
    .values_size = sizeof eval_uplift_values,
    .run = run_eval_uplift,
};
