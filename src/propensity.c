/* propensity.c — the propensity models' hyper-parameters: defaults, checks
 * and the reading of --l2 and --hidden (see propensity.h).  Pure: no MPI,
 * no files, no output. */
#include "propensity.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_message.h"
#include "mlp.h"

void mkt_propensity_config_defaults(mkt_propensity_config *c)
{
    memset(c, 0, sizeof *c);
    c->horizon_days = 7;
    c->target = "user";
    c->model = "logistic";
    c->hidden = "32";
    c->optimizer = "lbfgs";
    c->epochs = 50;
    c->patience = 5;
    c->batch = 256;
    c->lr = 0.01;
    c->l2 = "auto";
    c->pos_weight = 1.0;
    c->valid_fraction = 0.15;
    c->test_fraction = 0.2;
    c->tol = 0;
    c->seed = 1;
    c->windows = 1;
    c->window_stride_days = 0;
    c->dropout = 0;
    c->dp_clip = 1.0;
    c->dp_noise = 1.0;
    c->dp_delta = 1e-5;
    c->negatives = 4;
    mkt_gbdt_config_defaults(&c->gbdt);
    /* a few thousand users is a common propensity set: depth 6 overfits them
     * (lower validation log loss at depth 4 on each data set of docs/trees.md,
     * and depth 6 loses to the recency-frequency rule on 2,000 users) */
    c->gbdt.max_depth = 4;
}

int mkt_propensity_l2_auto(const mkt_propensity_config *c)
{
    return !c->l2 || !strcmp(c->l2, "auto");
}

/* The number l2 spells, or NAN when it spells none. */
static double l2_number(const char *s)
{
    char *end;
    double v = strtod(s, &end);
    return end == s || *end != '\0' ? NAN : v;
}

double mkt_propensity_l2_value(const mkt_propensity_config *c)
{
    return l2_number(c->l2);
}

int mkt_propensity_parse_hidden(const char *s, int *sizes)
{
    int n = 0;
    const char *p = s;
    while (p && *p) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 1 || v > 4096 || n == MKT_MLP_MAX_HIDDEN)
            return -1;
        sizes[n++] = (int)v;
        p = *end == ',' ? end + 1 : end;
        if (*end && *end != ',')
            return -1;
    }
    return n;
}

static _Thread_local char check_message[256];

#define CHECK(cond, ...) MKT_CHECK_MSG(check_message, cond, __VA_ARGS__)

/* In [lo, hi] (NaN is not). */
static int within(double v, double lo, double hi)
{
    return v >= lo && v <= hi;
}

/* The trees' settings (mkt_gbdt_check_config, whose messages start with
 * the option's name; the trees' L2 is the option tree-lambda here, since
 * l2 is the linear models'); the loss is the logistic one. */
static const char *check_gbdt(const mkt_gbdt_config *g)
{
    const char *msg = mkt_gbdt_check_config(g);
    if (msg && !strncmp(msg, "lambda:", 7)) {
        snprintf(check_message, sizeof check_message, "tree-%s", msg);
        return check_message;
    }
    if (msg)
        return msg;
    CHECK(!strcmp(g->loss, "logistic"), "loss: '%s': propensity trees use the logistic loss", g->loss);
    return NULL;
}

/* The model, the optimizer and their scalars. */
static const char *check_model(const mkt_propensity_config *c)
{
    if (!mkt_propensity_l2_auto(c)) {
        double l2 = l2_number(c->l2);
        CHECK(within(l2, 0, 1e6), "l2 must be a number in [0, 1e6] or auto (got '%s')", c->l2);
    } else if (!c->model || strcmp(c->model, "gbdt")) { /* the trees have no l2 to choose */
        CHECK(c->valid_fraction > 0, "l2 auto chooses by validation: it needs valid-fraction > 0 (or give --l2 a "
                                     "number)");
    }
    CHECK(within((double)c->horizon_days, 1, 3650), "horizon-days: %lld is not in [1, 3650]",
          (long long)c->horizon_days);
    CHECK(c->model, "model: missing (logistic, mlp or gbdt)");
    if (!strcmp(c->model, "mlp")) {
        int sizes[MKT_MLP_MAX_HIDDEN];
        CHECK(mkt_propensity_parse_hidden(c->hidden, sizes) >= 1,
              "hidden: '%s' is not 1 to 3 layer sizes like 32,16", c->hidden ? c->hidden : "");
    } else if (!strcmp(c->model, "gbdt")) {
        const char *msg = check_gbdt(&c->gbdt);
        if (msg)
            return msg;
    } else {
        CHECK(!strcmp(c->model, "logistic"), "model: '%s' is not logistic, mlp or gbdt", c->model);
    }
    CHECK(c->optimizer && (!strcmp(c->optimizer, "lbfgs") || !strcmp(c->optimizer, "adam") ||
                           !strcmp(c->optimizer, "sgd")),
          "optimizer: '%s' is not lbfgs, adam or sgd", c->optimizer ? c->optimizer : "");
    CHECK(within(c->epochs, 1, 100000), "epochs: %d is not in [1, 100000]", c->epochs);
    CHECK(within((double)c->batch, 1, 1e9), "batch: %lld is not in [1, 1e9]", (long long)c->batch);
    CHECK(within(c->lr, 0, 100), "lr: %g is not in [0, 100]", c->lr);
    CHECK(within(c->pos_weight, 0, 1e6), "pos-weight: %g is not in [0, 1e6]", c->pos_weight);
    CHECK(within(c->patience, 0, 100000), "patience: %d is not in [0, 100000]", c->patience);
    CHECK(within(c->tol, 0, 1), "tol: %g is not in [0, 1]", c->tol);
    return NULL;
}

/* Windows, dropout and differential privacy, and how they combine with the
 * model and the optimizer. */
static const char *check_training(const mkt_propensity_config *c)
{
    int lbfgs = !strcmp(c->optimizer, "lbfgs");
    CHECK(c->windows >= 1, "windows: %d is not >= 1", c->windows);
    CHECK(c->windows <= 1000, "windows: %d is not <= 1000", c->windows);
    CHECK(within((double)c->window_stride_days, 0, 3650), "window-stride-days: %lld is not in [0, 3650]",
          (long long)c->window_stride_days);
    int64_t stride = c->window_stride_days > 0 ? c->window_stride_days : c->horizon_days;
    CHECK(c->windows == 1 || stride >= c->horizon_days,
          "window-stride-days %lld < horizon-days %lld: training labels would reach past the evaluation cutoff",
          (long long)stride, (long long)c->horizon_days);
    CHECK(c->dropout >= 0 && c->dropout < 1, "dropout: %g is not in [0, 1)", c->dropout);
    CHECK(!(c->dropout > 0) || (!strcmp(c->model, "mlp") && !lbfgs),
          "dropout needs --model mlp and --optimizer adam or sgd");
    if (c->dp) {
        CHECK(strcmp(c->model, "gbdt"), "dp is for --model logistic or mlp (with adam or sgd), not gbdt");
        CHECK(!lbfgs, "dp needs --optimizer adam or sgd (L-BFGS's line search would release unprotected losses)");
        CHECK(c->dp_clip > 0 && c->dp_noise >= 0 && c->dp_delta > 0 && c->dp_delta < 1,
              "dp-clip %g must be > 0, dp-noise %g >= 0 and dp-delta %g in (0, 1)", c->dp_clip, c->dp_noise,
              c->dp_delta);
    }
    return NULL;
}

/* The split of the users, the target and its own options. */
static const char *check_split_target(const mkt_propensity_config *c)
{
    CHECK(c->test_fraction > 0 && c->test_fraction < 1,
          "test-fraction: %g is not in (0, 1): the held-out metrics are reported on the test users",
          c->test_fraction);
    CHECK(c->valid_fraction >= 0 && c->valid_fraction < 1 && c->test_fraction + c->valid_fraction < 1,
          "valid-fraction %g + test-fraction %g must be below 1 (the other users are the training users)",
          c->valid_fraction, c->test_fraction);
    if (c->target && !strcmp(c->target, "user_item")) {
        CHECK(c->windows == 1, "windows > 1 is for target user, not user_item");
        CHECK(c->negatives >= 1, "negatives: %d is not >= 1", c->negatives);
        CHECK(c->negatives <= 1000, "negatives: %d is not <= 1000", c->negatives);
    } else {
        CHECK(!c->target || !strcmp(c->target, "user"), "target: '%s' is not user or user_item", c->target);
    }
    return NULL;
}

const char *mkt_propensity_check_config(const mkt_propensity_config *c)
{
    const char *msg = check_model(c);
    if (!msg)
        msg = check_training(c);
    if (!msg)
        msg = check_split_target(c);
    return msg;
}
