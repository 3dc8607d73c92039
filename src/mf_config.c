/* mf_config.c — the ALS model's hyper-parameters (mkt_mf_config: the one
 * place of their defaults, the parse of the text-valued options, the check
 * that names the bad field) and the trained model (mkt_mf_model: predict,
 * free).  Pure: must not call MPI, touch files or print. */
#include "mf.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_message.h"

void mkt_mf_config_defaults(mkt_mf_config *c)
{
    memset(c, 0, sizeof *c);
    c->factors = 32;
    c->iters = 30;
    c->lambda_auto = 1;
    c->alpha = 10;
    c->weight[0] = 1; /* view */
    c->weight[1] = 1; /* click */
    c->weight[2] = 3; /* cart */
    c->weight[3] = 2; /* fav */
    c->weight[4] = 5; /* purchase */
    c->weight_rating = 1;
    c->holdout = 0.1;
    c->valid_fraction = 0.1;
    c->patience = 3;
    c->seed = 42;
    c->topk = 10;
    c->cg_iters = 3;
    c->exchange = MKT_MF_EXCHANGE_AUTO;
}

static _Thread_local char check_message[200];

#define CHECK(cond, ...) MKT_CHECK_MSG(check_message, cond, __VA_ARGS__)

const char *mkt_mf_config_parse(mkt_mf_config *c, const char *lambda, const char *solver, const char *exchange)
{
    if (lambda && strcmp(lambda, "auto") == 0) {
        c->lambda_auto = 1;
    } else if (lambda) {
        char *end = NULL;
        c->lambda_auto = 0;
        c->lambda = strtod(lambda, &end);
        CHECK(end != lambda && *end == '\0' && c->lambda > 0 && c->lambda <= 1e9,
              "--lambda must be a number in (0, 1e9] or auto (got '%s')", lambda);
    }
    if (solver) {
        CHECK(strcmp(solver, "cholesky") == 0 || strcmp(solver, "cg") == 0,
              "--solver must be cholesky or cg (got '%s')", solver);
        c->cg = strcmp(solver, "cg") == 0;
    }
    if (exchange) {
        static const char *names[3] = {"auto", "allgather", "targeted"};
        int e = 0;
        while (e < 3 && strcmp(exchange, names[e]) != 0)
            e++;
        CHECK(e < 3, "--exchange must be auto, allgather or targeted (got '%s')", exchange);
        c->exchange = e; /* MKT_MF_EXCHANGE_* in the order of names */
    }
    return NULL;
}

static int weights_ok(const mkt_mf_config *c)
{
    for (int j = 0; j < 5; j++)
        if (!(c->weight[j] >= 0 && c->weight[j] <= 1e6))
            return 0;
    return 1;
}

const char *mkt_mf_check_config(const mkt_mf_config *c)
{
    CHECK(c->lambda_auto || c->lambda > 0, "--lambda must be > 0 or auto (got %g)", c->lambda);
    CHECK(c->valid_fraction >= 0 && c->valid_fraction <= 0.9, "--valid-fraction must be in [0, 0.9] (got %g)",
          c->valid_fraction);
    CHECK(c->patience >= 0, "--patience must be >= 0 (got %d)", c->patience);
    CHECK(!c->lambda_auto || c->valid_fraction > 0,
          "--lambda auto chooses lambda on validation ratings: it needs --valid-fraction > 0 (or give --lambda a value)");
    CHECK(c->factors >= 1, "--factors must be >= 1 (got %d)", c->factors);
    CHECK(c->iters >= 1, "--iters must be >= 1 (got %d)", c->iters);
    CHECK(c->topk >= 1, "--topk must be >= 1");
    CHECK(!c->implicit || c->alpha >= 0, "--alpha must be >= 0");
    CHECK(c->holdout >= 0 && c->holdout <= 0.9, "--holdout must be in [0, 0.9] (got %g)", c->holdout);
    CHECK(weights_ok(c), "--weight-view, --weight-click, --weight-cart, --weight-fav and --weight-purchase must be "
                         "in [0, 1e6]");
    CHECK(c->weight_rating >= 0 && c->weight_rating <= 1e6, "--weight-rating must be in [0, 1e6] (got %g)",
          c->weight_rating);
    CHECK(c->rating_threshold >= 0 && c->rating_threshold <= 1e9, "--rating-threshold must be in [0, 1e9] (got %g)",
          c->rating_threshold);
    CHECK(!c->cg || c->implicit,
          "--solver cg applies to --implicit only (explicit rows are solved by Cholesky)");
    CHECK(!c->cg || c->cg_iters >= 1, "--cg-iters must be >= 1 (got %d)", c->cg_iters);
    CHECK(c->exchange >= MKT_MF_EXCHANGE_AUTO && c->exchange <= MKT_MF_EXCHANGE_TARGETED,
          "--exchange must be auto, allgather or targeted (got %d)", c->exchange);
    return NULL;
}

double mkt_mf_predict(const mkt_mf_model *m, int64_t u, int64_t i)
{
    int k = m->factors;
    double s = mkt_mf_dot(m->user_factors + u * k, m->item_factors + i * k, k);
    if (m->implicit)
        return s;
    return m->global_mean + m->user_bias[u] + m->item_bias[i] + s;
}

void mkt_mf_model_free(mkt_mf_model *m)
{
    free(m->user_factors);
    free(m->item_factors);
    free(m->user_bias);
    free(m->item_bias);
    memset(m, 0, sizeof *m);
}
