/* cmd_uplift.c — the `mkt train uplift` and `mkt eval uplift` commands
 * (job-file sections [train_uplift] and [eval_uplift]): option tables, which
 * fill the stage's options and the uplift config (src/uplift.h) directly,
 * defaults from mkt_uplift_options_init; and the call of the stage in
 * stages/train_uplift.c.
 *
 * Owns only the command-line surface; the fitting and the metrics live in
 * stages/train_uplift.c and src/uplift.c. */
#include <stddef.h>

#include "iocheck.h"
#include "commands.h"
#include "metrics_json.h"
#include "uplift.h"
#include "train_uplift.h"

typedef struct {
    mkt_uplift_options s;
    char *metrics_out;
} uplift_values;

#define TU(f) offsetof(uplift_values, f)
#define TC(f) offsetof(uplift_values, s.config.f)
static const mkt_opt train_uplift_opts[] = {
    {"store", MKT_OPT_STR, TU(s.store), NULL, "store with the randomized campaign log (/campaigns)", 0, 0},
    {"out", MKT_OPT_STR, TU(s.model), NULL, "model file to write /models/uplift into (created, or the group replaced)", 0, 0},
    {"method", MKT_OPT_STR, TC(method), "t", "learner: t (one model per arm), s (one model with arm interactions), "
     "transformed (ridge on the transformed outcome), x (X-learner) or dr (cross-fitted doubly robust learner)", 0, 0},
    {"outcome", MKT_OPT_STR, TC(outcome), "conversion", "binary outcome to model besides spend: conversion, visit, or redeemed (observational logs with a redemption column)", 0, 0},
    {"holdout", MKT_OPT_DOUBLE, TC(holdout), NULL, "share of users held out for the metrics (by a hash of seed and user)", 0, MKT_UPLIFT_MAX_HOLDOUT},
    {"seed", MKT_OPT_U64, TC(seed), NULL, "seed of the hold-out, validation and fold hashes", 0, 0},
    {"valid-fraction", MKT_OPT_DOUBLE, TC(valid_fraction), NULL, "share of the non-held-out users in the validation "
     "split of the selection metric (the model itself is fitted on all non-held-out rows; 0: no selection metric)", 0, MKT_UPLIFT_MAX_VALID_FRACTION},
    {"folds", MKT_OPT_I32, TC(folds), NULL, "cross-fitting folds of the DR-learner (method dr)", MKT_UPLIFT_MIN_FOLDS, MKT_UPLIFT_MAX_FOLDS},
    {"design", MKT_OPT_STR, TC(design), "randomized", "randomized (arm 0 a randomized control) or observational "
     "(arms targeted by the shop, arm 0 the untargeted users: fitted propensities, overlap trimming, IPW and DR "
     "effect estimates; docs/uplift.md)", 0, 0},
    {"trim", MKT_OPT_DOUBLE, TC(trim), NULL, "observational: leave out the rows whose propensity is outside "
     "[trim, 1 - trim] (the overlap)", 0, 0.49},
    {"l2", MKT_OPT_DOUBLE, TC(l2), NULL, "ridge penalty on every coefficient but the intercepts", 0, MKT_UPLIFT_MAX_L2},
    {"l2-effect", MKT_OPT_STR, TC(l2_effect), "same", "ridge penalty of the effect regressions (transformed, x stage 2, "
     "dr's final ridge): a number >= 0, or same (the value of --l2)", 0, 0},
    {"squares", MKT_OPT_I32, TC(squares), NULL, "add squares of the standardized non-binary numeric attributes (1) or not (0)", 0, 1},
    {"max-iter", MKT_OPT_I32, TC(max_iter), NULL, "Newton iterations at most", 1, MKT_UPLIFT_MAX_ITER},
    /* the default as text, so --help keeps printing 1e-9 (the value is mkt_uplift_config_defaults') */
    {"tol", MKT_OPT_DOUBLE, TC(tol), "1e-9", "stop Newton when the largest coefficient step is below this", 0, 1},
    {"learner", MKT_OPT_STR, TC(learner), "linear", "base models: linear (Newton logistic and ridge fits) or gbdt "
     "(boosted trees, methods t, x and dr; docs/trees.md)", 0, 0},
    /* --learner gbdt: bounds checked by mkt_gbdt_check_config, whose messages name the option */
    {"rounds", MKT_OPT_I32, TC(gbdt.rounds), NULL, "gbdt: trees per fit at most", 0, 0},
    {"depth", MKT_OPT_I32, TC(gbdt.max_depth), NULL, "gbdt: depth of a tree at most", 0, 0},
    {"leaves", MKT_OPT_I32, TC(gbdt.max_leaves), NULL, "gbdt: leaves of a tree at most (0: no cap)", 0, 0},
    {"grow", MKT_OPT_STR, TC(gbdt.grow), "depthwise", "gbdt: depthwise (level by level) or lossguide (best leaf first)", 0, 0},
    {"eta", MKT_OPT_DOUBLE, TC(gbdt.eta), NULL, "gbdt: shrinkage of each tree, (0, 1]", 0, 0},
    {"lambda", MKT_OPT_DOUBLE, TC(gbdt.lambda), NULL, "gbdt: L2 penalty on the leaf values", 0, 0},
    {"gamma", MKT_OPT_DOUBLE, TC(gbdt.gamma), NULL, "gbdt: least loss reduction of a split", 0, 0},
    {"min-child-weight", MKT_OPT_DOUBLE, TC(gbdt.min_child_weight), NULL, "gbdt: least hessian sum of a leaf", 0, 0},
    {"bins", MKT_OPT_I32, TC(gbdt.max_bins), NULL, "gbdt: histogram bins per feature (2..255)", 0, 0},
    {"subsample", MKT_OPT_DOUBLE, TC(gbdt.subsample), NULL, "gbdt: share of the training rows per tree, (0, 1]", 0, 0},
    {"colsample", MKT_OPT_DOUBLE, TC(gbdt.colsample), NULL, "gbdt: share of the features per tree, (0, 1]", 0, 0},
    {"early-stop", MKT_OPT_I32, TC(gbdt.early_stop), NULL, "gbdt: stop a fit after this many trees without a better "
     "validation loss (the validation split, --valid-fraction; 0: never)", 0, 0},
    {"sketch-rows", MKT_OPT_INT, TC(gbdt.sketch_rows), NULL, "gbdt: rows sampled for the histogram cuts", 0, 0},
    {"checkpoint", MKT_OPT_STR, TU(s.checkpoint), NULL,
     "checkpoint file (default: OUT.uplift.ckpt.h5; removed when the model is written)", 0, 0},
    {"checkpoint-every", MKT_OPT_INT, TU(s.checkpoint_every), NULL,
     "write a checkpoint every C Newton steps, counted over all fits (--learner gbdt: every C fits; 0: only on "
     "SIGTERM/SIGUSR1)", 0, 1e9},
    {"resume", MKT_OPT_BOOL, TU(s.resume), NULL,
     "continue from the checkpoint if it exists (it must match these options); else start from scratch", 0, 0},
    {"metrics-out", MKT_OPT_STR, TU(metrics_out), NULL, "write what the stage did as JSON to this file", 0, 0},
    MKT_OPT_END};

static const mkt_opt eval_uplift_opts[] = {
    {"store", MKT_OPT_STR, TU(s.store), NULL, "store with the campaign log the model was trained on (its hold-out is measured)", 0, 0},
    {"test", MKT_OPT_STR, TU(s.test_store), NULL, "measure on every campaign row of this store instead (same arms and attributes "
     "as the model; --store is then not read)", 0, 0},
    {"model", MKT_OPT_STR, TU(s.model), NULL, "model file with /models/uplift", 0, 0},
    {"metrics-out", MKT_OPT_STR, TU(metrics_out), NULL, "write the held-out metrics as JSON to this file", 0, 0},
    MKT_OPT_END};

static uplift_values train_uplift_values, eval_uplift_values;

static void uplift_defaults(void *p)
{
    mkt_uplift_options_init(&((uplift_values *)p)->s);
}

static int run_train_uplift(void *p, MPI_Comm comm)
{
    uplift_values *o = p;
    if (!o->s.store || !o->s.model)
        mkt_fail_all(MKT_EXIT_USAGE, "train uplift: --store STORE.h5 and --out MODEL.h5 are required");
    json_t *m = mkt_metrics_new("train_uplift");
    int rc = mkt_uplift_train(&o->s, comm, m);
    /* a run stopped mid-training by a signal has no results to report */
    if (!json_object_get(m, "preempted_at_iteration"))
        mkt_metrics_write(m, o->metrics_out, comm);
    json_decref(m);
    return rc;
}

static int run_eval_uplift(void *p, MPI_Comm comm)
{
    uplift_values *o = p;
    if ((!o->s.store && !o->s.test_store) || !o->s.model)
        mkt_fail_all(MKT_EXIT_USAGE,
                     "eval uplift: --model MODEL.h5 and --store STORE.h5 (or --test TEST.h5) are required");
    json_t *m = mkt_metrics_new("eval_uplift");
    int rc = mkt_uplift_eval(&o->s, comm, m);
    mkt_metrics_write(m, o->metrics_out, comm);
    json_decref(m);
    return rc;
}

const mkt_command mkt_cmd_train_uplift = {
    .name = "train_uplift",
    .usage = "mkt train uplift --store S --out M [--method t|s|transformed|x|dr] [--outcome conversion|visit] [--holdout 0.3] "
             "[--valid-fraction 0.2] [--seed N] [--l2 L] [--learner linear|gbdt [--rounds R --depth D --eta E ...]]",
    .description = "Learn, for every user and each promotion against control, the incremental effect on the binary outcome "
                   "(conversion or visit) and on spend, from the randomized campaign log; Newton/IRLS and ridge fits with exact "
                   "sums, or boosted trees with --learner gbdt (identical on any rank count). Writes /models/uplift, held-out Qini, AUUC and uplift at top k%, and the "
                   "validation Qini as the model-selection metric.",
    .opts = train_uplift_opts,
    .values = &train_uplift_values,
    .values_size = sizeof train_uplift_values,
    .run = run_train_uplift,
    .defaults = uplift_defaults,
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
    .defaults = uplift_defaults,
};
