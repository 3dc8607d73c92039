/* cmd_propensity.c — the `mkt train propensity` and `mkt eval propensity`
 * commands (job-file sections [train_propensity] and [eval_propensity]).
 *
 * Owns the option tables, which fill the stage's options
 * (stages/train_propensity.h) and the model's config (src/propensity.h)
 * directly; the numeric defaults are mkt_propensity_options_init's, printed
 * by --help from there.  Must not compute or check anything
 * (stages/train_propensity.c and mkt_propensity_check_config do). */
#include <stddef.h>

#include "commands.h"
#include "metrics_json.h"
#include "schema.h"
#include "train_propensity.h"

typedef struct {
    mkt_propensity_options stage;
    char *metrics_out;
} propensity_values;

#define P(f) offsetof(propensity_values, stage.f)
#define C(f) offsetof(propensity_values, stage.config.f)
#define G(f) offsetof(propensity_values, stage.config.gbdt.f)
#define M offsetof(propensity_values, metrics_out)
static const mkt_opt train_opts[] = {
    {"store", MKT_OPT_STR, P(store), NULL, "store to train on (features are added to it)", 0, 0},
    {"out", MKT_OPT_STR, P(out), NULL, "model file to write /models/propensity into (created or updated)", 0, 0},
    {"horizon-days", MKT_OPT_INT, C(horizon_days), NULL, "label: a purchase within this many days after the cutoff", 1, 3650},
    {"cutoff", MKT_OPT_TIME, P(cutoff_ts), NULL, "features from events before this timestamp (default: end of log - horizon)", 0, 0},
    {"model", MKT_OPT_STR, C(model), "logistic", "logistic, mlp or gbdt (gradient-boosted trees; docs/trees.md)", 0, 0},
    {"hidden", MKT_OPT_STR, C(hidden), "32", "mlp: hidden layer sizes, 1 to 3, e.g. 32,16", 0, 0},
    {"optimizer", MKT_OPT_STR, C(optimizer), "lbfgs", "lbfgs (full batch), adam or sgd (momentum 0.9)", 0, 0},
    {"epochs", MKT_OPT_I32, C(epochs), NULL, "passes over the data (lbfgs: iterations)", 1, 100000},
    {"batch", MKT_OPT_INT, C(batch), NULL, "global minibatch size (adam, sgd)", 1, 1e9},
    {"lr", MKT_OPT_DOUBLE, C(lr), NULL, "learning rate (adam, sgd)", 0, 100},
    {"l2", MKT_OPT_STR, C(l2), "auto",
     "L2 penalty l2/2 |w|^2 on the weights (not the intercepts), a number >= 0, or auto: the value of 1e-4..1 "
     "(half-decade steps) with the lowest validation log loss", 0, 0},
    {"pos-weight", MKT_OPT_DOUBLE, C(pos_weight), NULL, "class weight of buyers (non-buyers: 1)", 0, 1e6},
    {"valid-fraction", MKT_OPT_DOUBLE, C(valid_fraction), NULL, "share of users for early stopping and the selection metric (by hash of seed and user; 0: no early stopping)", 0, 0.9},
    {"test-fraction", MKT_OPT_DOUBLE, C(test_fraction), NULL, "share of users held out for the reported metrics and baselines, never seen by training or selection (> 0)", 0, 0.9},
    {"patience", MKT_OPT_I32, C(patience), NULL, "stop after this many epochs without better validation loss (0: never)", 0, 100000},
    {"tol", MKT_OPT_DOUBLE, C(tol), NULL, "lbfgs: stop when the gradient norm <= tol x its initial norm (LIBLINEAR's test; 0: off)", 0, 1},
    {"seed", MKT_OPT_U64, C(seed), NULL, "seed of the split, the batches and the initial weights", 0, 0},
    {"features-group", MKT_OPT_STR, P(features_group), MKT_FEATURES_PROPENSITY, "store group of the features at the cutoff (reused if its cutoff matches)", 0, 0},
    {"checkpoint", MKT_OPT_STR, P(checkpoint), NULL, "checkpoint file (default: OUT.propensity.ckpt.h5; removed when the model is written)", 0, 0},
    {"checkpoint-every", MKT_OPT_INT, P(checkpoint_every), NULL, "write a checkpoint every C epochs (0: only on SIGTERM/SIGUSR1)", 0, 1e9},
    {"resume", MKT_OPT_BOOL, P(resume), NULL, "continue from the checkpoint if it exists (it must match these options); else start from scratch", 0, 0},
    {"windows", MKT_OPT_I32, C(windows), NULL, "1: train and evaluate at the cutoff; W > 1: train on W-1 windows rolled back by the stride, evaluate at the cutoff", 1, 1000},
    {"window-stride-days", MKT_OPT_INT, C(window_stride_days), NULL, "days between training windows' cutoffs (0: horizon-days; at least horizon-days)", 0, 3650},
    {"dropout", MKT_OPT_DOUBLE, C(dropout), NULL, "mlp: dropout probability of hidden units while training (adam, sgd)", 0, 0.99},
    {"dp", MKT_OPT_BOOL, C(dp), NULL, "differentially private training: per-example clipping and Gaussian noise per step (adam, sgd)", 0, 0},
    {"dp-clip", MKT_OPT_DOUBLE, C(dp_clip), NULL, "dp: per-example gradient L2 clip norm C", 0, 1e12},
    {"dp-noise", MKT_OPT_DOUBLE, C(dp_noise), NULL, "dp: noise multiplier sigma (noise sd sigma*C on the summed gradient)", 0, 1e6},
    /* the default as --help has always written it (the defaults' %g would write 1e-05) */
    {"dp-delta", MKT_OPT_DOUBLE, C(dp_delta), "0.00001", "dp: delta of the reported (epsilon, delta)", 0, 1},
    {"target", MKT_OPT_STR, C(target), "user", "user: will the user buy? user_item: will the user buy this item (/models/propensity_item)", 0, 0},
    {"negatives", MKT_OPT_I32, C(negatives), NULL, "user_item: sampled items the user did not buy per purchased item", 1, 1000},
    {"mf-model", MKT_OPT_STR, P(mf_model), NULL, "user_item: model file with /models/mf; adds the factor score as a feature", 0, 0},
    {"export", MKT_OPT_STR, P(export_prefix), NULL, "target user: also write the standardized examples as LIBSVM text to PREFIX.train.svm, PREFIX.valid.svm and PREFIX.test.svm", 0, 0},
    /* model gbdt: no bounds here, so a bad value gets the config check's message */
    {"rounds", MKT_OPT_I32, G(rounds), NULL, "gbdt: trees at most (boosting rounds)", 0, 0},
    {"depth", MKT_OPT_I32, G(max_depth), NULL, "gbdt: depth of a tree at most (1..20)", 0, 0},
    {"leaves", MKT_OPT_I32, G(max_leaves), NULL, "gbdt: leaves of a tree at most (0: no cap)", 0, 0},
    {"grow", MKT_OPT_STR, G(grow), "depthwise", "gbdt: depthwise (level by level) or lossguide (best leaf first)", 0, 0},
    {"eta", MKT_OPT_DOUBLE, G(eta), NULL, "gbdt: shrinkage (learning rate) of each tree, in (0, 1]", 0, 0},
    {"tree-lambda", MKT_OPT_DOUBLE, G(lambda), NULL, "gbdt: L2 penalty on the leaf values", 0, 0},
    {"gamma", MKT_OPT_DOUBLE, G(gamma), NULL, "gbdt: smallest loss reduction a split must bring", 0, 0},
    {"min-child-weight", MKT_OPT_DOUBLE, G(min_child_weight), NULL, "gbdt: smallest hessian sum of a child", 0, 0},
    {"bins", MKT_OPT_I32, G(max_bins), NULL, "gbdt: histogram bins per feature (2..255)", 0, 0},
    {"subsample", MKT_OPT_DOUBLE, G(subsample), NULL, "gbdt: share of training rows per tree (by hash of seed, round and row)", 0, 0},
    {"colsample", MKT_OPT_DOUBLE, G(colsample), NULL, "gbdt: share of features per tree", 0, 0},
    {"early-stop", MKT_OPT_I32, G(early_stop), NULL, "gbdt: stop after this many rounds without a better validation loss (0: never)", 0, 0},
    {"sketch-rows", MKT_OPT_INT, G(sketch_rows), NULL, "gbdt: training rows sampled for the bins' quantile cuts", 0, 0},
    {"metrics-out", MKT_OPT_STR, M, NULL, "write what the stage did as JSON to this file", 0, 0},
    MKT_OPT_END};

static const mkt_opt eval_opts[] = {
    {"store", MKT_OPT_STR, P(store), NULL, "store with the events (features are added to it if needed)", 0, 0},
    {"model", MKT_OPT_STR, P(model_path), NULL, "model file written by train propensity", 0, 0},
    {"cutoff", MKT_OPT_TIME, P(cutoff_ts), NULL, "evaluate at this cutoff instead of the model's (with --test: instead of the test store's end - horizon)", 0, 0},
    {"test", MKT_OPT_STR, P(test_store), NULL, "measure on a test store of --store (mkt ingest --as test --into STORE): every user with an event in it, labels after its cutoff", 0, 0},
    {"features-group", MKT_OPT_STR, P(features_group), MKT_FEATURES_PROPENSITY, "store group of the features at the cutoff", 0, 0},
    {"metrics-out", MKT_OPT_STR, M, NULL, "write what the stage did as JSON to this file", 0, 0},
    MKT_OPT_END};

static propensity_values train_values, eval_values;

static void defaults(void *p)
{
    mkt_propensity_options_init(&((propensity_values *)p)->stage);
}

static int run_train(void *p, MPI_Comm comm)
{
    propensity_values *v = p;
    json_t *m = mkt_metrics_new("train_propensity");
    int rc = mkt_propensity_train(&v->stage, comm, m);
    /* a run stopped mid-training by a signal has no results to report */
    if (!json_object_get(m, "preempted_at_epoch"))
        mkt_metrics_write(m, v->metrics_out, comm);
    json_decref(m);
    return rc;
}

static int run_eval(void *p, MPI_Comm comm)
{
    propensity_values *v = p;
    json_t *m = mkt_metrics_new("eval_propensity");
    int rc = mkt_propensity_eval(&v->stage, comm, m);
    mkt_metrics_write(m, v->metrics_out, comm);
    json_decref(m);
    return rc;
}

const mkt_command mkt_cmd_train_propensity = {
    .name = "train_propensity",
    .usage = "mkt train propensity --store S --out M [--horizon-days H] [--cutoff T] [--model logistic|mlp|gbdt] "
             "[--optimizer lbfgs|adam|sgd] [--epochs E]",
    .description = "Train a model of the probability that a user buys within H days after a cutoff, from user features "
                   "before it; data-parallel, bitwise identical on any number of ranks. Writes /models/propensity.",
    .opts = train_opts,
    .values = &train_values,
    .values_size = sizeof train_values,
    .run = run_train,
    .defaults = defaults,
};

const mkt_command mkt_cmd_eval_propensity = {
    .name = "eval_propensity",
    .usage = "mkt eval propensity --store S --model M [--test TEST.h5] [--cutoff T]",
    .description = "AUC, log loss, calibration (ECE, reliability table) and lift by decile of a propensity model on its test "
                   "users, beside the base-rate and recency-frequency baselines.",
    .opts = eval_opts,
    .values = &eval_values,
    .values_size = sizeof eval_values,
    .run = run_eval,
    .defaults = defaults,
};
