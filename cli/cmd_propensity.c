/* cmd_propensity.c — the `mkt train propensity` and `mkt eval propensity`
 * commands (job-file sections [train_propensity] and [eval_propensity]).
 *
 * Owns the option tables and their translation into
 * mkt_propensity_options; must not compute anything (stages/train_propensity.c
 * does). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "iocheck.h"
#include "commands.h"
#include "metrics_json.h"
#include "parse.h"
#include "schema.h"
#include "train_propensity.h"

typedef struct {
    char *store, *out, *model, *cutoff, *model_kind, *optimizer, *hidden, *features_group, *metrics_out;
    char *checkpoint, *target, *mf_model, *export_prefix, *l2, *test;
    int64_t horizon_days, epochs, batch, seed, patience, checkpoint_every, windows, window_stride_days, negatives;
    double lr, pos_weight, valid_fraction, test_fraction, dropout, dp_clip, dp_noise, dp_delta, tol;
    int resume, dp;
} propensity_cli;

#define P(f) offsetof(propensity_cli, f)
static const mkt_opt train_opts[] = {
    {"store", MKT_OPT_STR, P(store), NULL, "store to train on (features are added to it)", 0, 0},
    {"out", MKT_OPT_STR, P(out), NULL, "model file to write /models/propensity into (created or updated)", 0, 0},
    {"horizon-days", MKT_OPT_INT, P(horizon_days), "7", "label: a purchase within this many days after the cutoff", 1, 3650},
    {"cutoff", MKT_OPT_STR, P(cutoff), NULL, "features from events before this timestamp (default: end of log - horizon)", 0, 0},
    {"model", MKT_OPT_STR, P(model_kind), "logistic", "logistic or mlp", 0, 0},
    {"hidden", MKT_OPT_STR, P(hidden), "32", "mlp: hidden layer sizes, 1 to 3, e.g. 32,16", 0, 0},
    {"optimizer", MKT_OPT_STR, P(optimizer), "lbfgs", "lbfgs (full batch), adam or sgd (momentum 0.9)", 0, 0},
    {"epochs", MKT_OPT_INT, P(epochs), "50", "passes over the data (lbfgs: iterations)", 1, 100000},
    {"batch", MKT_OPT_INT, P(batch), "256", "global minibatch size (adam, sgd)", 1, 1e9},
    {"lr", MKT_OPT_DOUBLE, P(lr), "0.01", "learning rate (adam, sgd)", 0, 100},
    {"l2", MKT_OPT_STR, P(l2), "auto",
     "L2 penalty l2/2 |w|^2 on the weights (not the intercepts), a number >= 0, or auto: the value of 1e-4..1 "
     "(half-decade steps) with the lowest validation log loss", 0, 0},
    {"pos-weight", MKT_OPT_DOUBLE, P(pos_weight), "1", "class weight of buyers (non-buyers: 1)", 0, 1e6},
    {"valid-fraction", MKT_OPT_DOUBLE, P(valid_fraction), "0.15", "share of users for early stopping and the selection metric (by hash of seed and user; 0: no early stopping)", 0, 0.9},
    {"test-fraction", MKT_OPT_DOUBLE, P(test_fraction), "0.2", "share of users held out for the reported metrics and baselines, never seen by training or selection (> 0)", 0, 0.9},
    {"patience", MKT_OPT_INT, P(patience), "5", "stop after this many epochs without better validation loss (0: never)", 0, 100000},
    {"tol", MKT_OPT_DOUBLE, P(tol), "0", "lbfgs: stop when the gradient norm <= tol x its initial norm (LIBLINEAR's test; 0: off)", 0, 1},
    {"seed", MKT_OPT_INT, P(seed), "1", "seed of the split, the batches and the initial weights", 0, 0},
    {"features-group", MKT_OPT_STR, P(features_group), MKT_FEATURES_PROPENSITY, "store group of the features at the cutoff (reused if its cutoff matches)", 0, 0},
    {"checkpoint", MKT_OPT_STR, P(checkpoint), NULL, "checkpoint file (default: OUT.propensity.ckpt.h5; removed when the model is written)", 0, 0},
    {"checkpoint-every", MKT_OPT_INT, P(checkpoint_every), "5", "write a checkpoint every C epochs (0: only on SIGTERM/SIGUSR1)", 0, 1e9},
    {"resume", MKT_OPT_BOOL, P(resume), "0", "continue from the checkpoint if it exists (it must match these options); else start from scratch", 0, 0},
    {"windows", MKT_OPT_INT, P(windows), "1", "1: train and evaluate at the cutoff; W > 1: train on W-1 windows rolled back by the stride, evaluate at the cutoff", 1, 1000},
    {"window-stride-days", MKT_OPT_INT, P(window_stride_days), "0", "days between training windows' cutoffs (0: horizon-days; at least horizon-days)", 0, 3650},
    {"dropout", MKT_OPT_DOUBLE, P(dropout), "0", "mlp: dropout probability of hidden units while training (adam, sgd)", 0, 0.99},
    {"dp", MKT_OPT_BOOL, P(dp), "0", "differentially private training: per-example clipping and Gaussian noise per step (adam, sgd)", 0, 0},
    {"dp-clip", MKT_OPT_DOUBLE, P(dp_clip), "1", "dp: per-example gradient L2 clip norm C", 0, 1e12},
    {"dp-noise", MKT_OPT_DOUBLE, P(dp_noise), "1", "dp: noise multiplier sigma (noise sd sigma*C on the summed gradient)", 0, 1e6},
    {"dp-delta", MKT_OPT_DOUBLE, P(dp_delta), "0.00001", "dp: delta of the reported (epsilon, delta)", 0, 1},
    {"target", MKT_OPT_STR, P(target), "user", "user: will the user buy? user_item: will the user buy this item (/models/propensity_item)", 0, 0},
    {"negatives", MKT_OPT_INT, P(negatives), "4", "user_item: sampled items the user did not buy per purchased item", 1, 1000},
    {"mf-model", MKT_OPT_STR, P(mf_model), NULL, "user_item: model file with /models/mf; adds the factor score as a feature", 0, 0},
    {"export", MKT_OPT_STR, P(export_prefix), NULL, "target user: also write the standardized examples as LIBSVM text to PREFIX.train.svm, PREFIX.valid.svm and PREFIX.test.svm", 0, 0},
    {"metrics-out", MKT_OPT_STR, P(metrics_out), NULL, "write what the stage did as JSON to this file", 0, 0},
    MKT_OPT_END};

static const mkt_opt eval_opts[] = {
    {"store", MKT_OPT_STR, P(store), NULL, "store with the events (features are added to it if needed)", 0, 0},
    {"model", MKT_OPT_STR, P(model), NULL, "model file written by train propensity", 0, 0},
    {"cutoff", MKT_OPT_STR, P(cutoff), NULL, "evaluate at this cutoff instead of the model's (with --test: instead of the test store's end - horizon)", 0, 0},
    {"test", MKT_OPT_STR, P(test), NULL, "measure on a test store of --store (mkt ingest --as test --into STORE): every user with an event in it, labels after its cutoff", 0, 0},
    {"features-group", MKT_OPT_STR, P(features_group), MKT_FEATURES_PROPENSITY, "store group of the features at the cutoff", 0, 0},
    {"metrics-out", MKT_OPT_STR, P(metrics_out), NULL, "write what the stage did as JSON to this file", 0, 0},
    MKT_OPT_END};

static propensity_cli train_values, eval_values;

static void common(const propensity_cli *c, mkt_propensity_options *s, const char *stage)
{
    mkt_propensity_options_init(s);
    s->store = c->store;
    s->features_group = c->features_group;
    if (c->cutoff) {
        if (mkt_parse_timestamp(c->cutoff, &s->cutoff_ts) != 0)
            mkt_fail_all(MKT_EXIT_USAGE, "%s: cutoff: not a timestamp: '%s'", stage, c->cutoff);
        s->has_cutoff = 1;
    }
    s->progress = 1;
}

static int run_train(void *p, MPI_Comm comm)
{
    propensity_cli *c = p;
    mkt_propensity_options s;
    common(c, &s, "train propensity");
    s.out = c->out;
    s.horizon_days = c->horizon_days;
    s.model = c->model_kind;
    s.hidden = c->hidden;
    s.optimizer = c->optimizer;
    s.epochs = (int)c->epochs;
    s.batch = c->batch;
    s.lr = c->lr;
    const char *l2 = c->l2 ? c->l2 : "auto";
    if (!strcmp(l2, "auto")) {
        s.l2_auto = 1;
        if (!(c->valid_fraction > 0))
            mkt_fail_all(MKT_EXIT_USAGE, "train propensity: l2 auto chooses by validation: it needs valid-fraction > 0 "
                                         "(or give --l2 a number)");
    } else {
        char *end;
        s.l2 = strtod(l2, &end);
        if (end == l2 || *end != '\0' || !(s.l2 >= 0) || !(s.l2 <= 1e6))
            mkt_fail_all(MKT_EXIT_USAGE, "train propensity: l2 must be a number in [0, 1e6] or auto (got '%s')", l2);
    }
    s.pos_weight = c->pos_weight;
    s.valid_fraction = c->valid_fraction;
    s.test_fraction = c->test_fraction;
    s.patience = (int)c->patience;
    s.tol = c->tol;
    s.seed = (uint64_t)c->seed;
    s.checkpoint = c->checkpoint;
    s.checkpoint_every = c->checkpoint_every;
    s.resume = c->resume;
    s.windows = (int)c->windows;
    s.window_stride_days = c->window_stride_days;
    s.dropout = c->dropout;
    s.dp = c->dp;
    s.dp_clip = c->dp_clip;
    s.dp_noise = c->dp_noise;
    s.dp_delta = c->dp_delta;
    s.target = c->target;
    s.negatives = (int)c->negatives;
    s.mf_model = c->mf_model;
    s.export_prefix = c->export_prefix;
    json_t *m = mkt_metrics_new("train_propensity");
    int rc = mkt_propensity_train(&s, comm, m);
    /* a run stopped mid-training by a signal has no results to report */
    if (!json_object_get(m, "preempted_at_epoch"))
        mkt_metrics_write(m, c->metrics_out, comm);
    json_decref(m);
    return rc;
}

static int run_eval(void *p, MPI_Comm comm)
{
    propensity_cli *c = p;
    mkt_propensity_options s;
    common(c, &s, "eval propensity");
    s.model_path = c->model;
    s.test_store = c->test;
    json_t *m = mkt_metrics_new("eval_propensity");
    int rc = mkt_propensity_eval(&s, comm, m);
    mkt_metrics_write(m, c->metrics_out, comm);
    json_decref(m);
    return rc;
}

const mkt_command mkt_cmd_train_propensity = {
    .name = "train_propensity",
    .usage = "mkt train propensity --store S --out M [--horizon-days H] [--cutoff T] [--model logistic|mlp] "
             "[--optimizer lbfgs|adam|sgd] [--epochs E]",
    .description = "Train a model of the probability that a user buys within H days after a cutoff, from user features "
                   "before it; data-parallel, bitwise identical on any number of ranks. Writes /models/propensity.",
    .opts = train_opts,
    .values = &train_values,
    .values_size = sizeof train_values,
    .run = run_train,
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
};
