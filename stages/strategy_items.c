/* strategy_items.c — the items of every user's strategy: the top-K unseen
 * items of the factorization model with at most max_per_category of a
 * category (strat_mf_topk, or the former method for bench/strategy_speed.sh),
 * and the price of each (elasticity or interest rule, src/strategy.c).
 *
 * Must not: choose promotions or write outputs. */
#include "strategy_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "exactsum.h"
#include "gen.h"
#include "metrics_json.h"
#include "mlp.h"
#include "model_io.h"
#include "par.h"
#include "schema.h"
#include "uplift.h"

/* ---------- the factorization model: top-K unseen items ---------- */

/* CPU time of this process (on a shared machine the wall time of a rank
 * includes the time others hold its core). */
static double cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void strategy_load_items(strat_data *d, hid_t m, const mkt_strategy_options *o)
{
    mkt_mf_stored mf; /* its presence is checked first, by load_inputs (strategy_stage.c) */
    char why[512];
    if (mkt_mf_describe(m, o->models, &mf, why, sizeof why) != 0)
        mkt_fail_all(MKT_EXIT_ERROR, "strategy: %s", why);
    int64_t K = mf.factors;
    if (mf.items != d->I || mf.users != d->N)
        mkt_fail_all(MKT_EXIT_ERROR,
                     "strategy: /models/mf in %s is for %lld users x %lld items, the store %s has %lld x %lld",
                     o->models, (long long)mf.users, (long long)mf.items, o->store, (long long)d->N, (long long)d->I);
    double mu = mf.global_mean;
    double *q = xalloc((size_t)(d->I * K), sizeof(double)), *bi = xalloc((size_t)d->I, sizeof(double));
    double *p = xalloc((size_t)(d->n * K), sizeof(double)), *bu = xalloc((size_t)d->n, sizeof(double));
    mkt_mf_read_items(m, &mf, 0, d->I, q, bi);
    mkt_mf_read_users(m, &mf, d->begin, d->n, p, bu);
    int k = o->config.k;
    d->items = xalloc((size_t)d->n * (size_t)k, sizeof(int64_t));
    d->item_scores = xalloc((size_t)d->n * (size_t)k, sizeof(double));
    double t0 = mkt_now(), c0 = cpu_seconds();
    const char *how = getenv("MKT_STRATEGY_ITEMS");
    if (how && *how && strcmp(how, "reference") != 0 && strcmp(how, "blocked") != 0)
        mkt_fail("strategy: environment variable MKT_STRATEGY_ITEMS='%s': expected 'blocked' (the default) or "
                 "'reference' (the former method, for bench/strategy_speed.sh)",
                 how);
    if (how && strcmp(how, "reference") == 0) {
        /* the former method, for bench/strategy_speed.sh: every score a scalar dot product, the former selection */
        double *score = xalloc((size_t)d->I, sizeof(double));
        unsigned char *excl = xalloc((size_t)d->I, 1);
        int32_t *top = xalloc((size_t)k, sizeof(int32_t));
        for (int64_t u = 0; u < d->n; u++) {
            const double *pu = p + u * K;
            for (int64_t i = 0; i < d->I; i++) {
                const double *qi = q + i * K;
                double s = mu + bu[u] + bi[i];
                for (int64_t j = 0; j < K; j++)
                    s += pu[j] * qi[j];
                score[i] = s;
            }
            for (int64_t j = d->ev_ptr[u]; j < d->ev_ptr[u + 1]; j++)
                excl[d->ev_item[j]] = 1;
            int got = strat_topk_diverse_reference(score, d->I, excl, d->category, d->C, o->config.max_per_category, k, top);
            for (int64_t j = d->ev_ptr[u]; j < d->ev_ptr[u + 1]; j++)
                excl[d->ev_item[j]] = 0;
            for (int j = 0; j < k; j++) {
                d->items[u * k + j] = j < got ? top[j] : -1;
                d->item_scores[u * k + j] = j < got ? score[top[j]] : 0.0;
            }
        }
        free(top);
        free(excl);
        free(score);
        d->items_method = "reference";
    } else {
        /* blocks of users against tiles of items in sgemm, then the exact lists (src/strategy_topk.c) */
        strat_mf_items mi = {q, bi, d->I, (int)K, mu, d->category, d->C, o->config.max_per_category};
        if (strat_mf_topk(&mi, p, bu, d->n, d->ev_ptr, d->ev_item, k, d->items, d->item_scores, &d->items_stats) != 0)
            mkt_fail("strategy: out of memory ranking the items of %lld users", (long long)d->n);
        d->items_method = "blocked products";
    }
    d->items_seconds = mkt_now() - t0;
    d->items_cpu_seconds = cpu_seconds() - c0;
    free(q);
    free(bi);
    free(p);
    free(bu);
}

/* ---------- prices ---------- */

void strategy_set_prices(strat_data *d, hid_t m, const mkt_strategy_options *o, json_t *metrics, MPI_Comm comm)
{
    int k = o->config.k;
    double *elast = NULL;
    const char *note = "";
    int use_elasticity = strcmp(o->config.pricing, "elasticity") == 0;
    if (use_elasticity) {
        if (!mkt_h5_exists(m, MKT_MODELS_ELASTICITY_ELASTICITY)) {
            note = "no /models/elasticity in the model file: every price from the interest rule";
            use_elasticity = 0;
        } else if (mkt_h5_rows(m, MKT_MODELS_ELASTICITY_ELASTICITY, NULL) != d->C) {
            note = "/models/elasticity has another number of categories than the store: interest rule used";
            use_elasticity = 0;
        } else {
            elast = xalloc((size_t)d->C, sizeof(double));
            mkt_h5_read_rows(m, MKT_MODELS_ELASTICITY_ELASTICITY, H5T_NATIVE_DOUBLE, 0, d->C, elast);
        }
    }
    d->prices = xalloc((size_t)d->n * (size_t)k, sizeof(double));
    int64_t fallback = 0, priced = 0;
    for (int64_t u = 0; u < d->n; u++) {
        double smax = d->item_scores[u * k];
        for (int j = 0; j < k; j++) {
            int64_t it = d->items[u * k + j];
            if (it < 0)
                continue;
            priced++;
            double base = d->price[it], pr = NAN;
            if (use_elasticity) {
                int c = d->category[it];
                pr = strat_price_elasticity(base, d->cost[it], c >= 0 && c < d->C ? elast[c] : NAN, o->config.min_factor,
                                            o->config.max_factor);
            }
            if (isnan(pr)) {
                if (use_elasticity)
                    fallback++;
                pr = strat_price_interest(base, d->item_scores[u * k + j], smax, o->config.interest_k, o->config.min_factor,
                                          o->config.max_factor);
            }
            d->prices[u * k + j] = pr;
        }
    }
    int64_t c2[2] = {priced, fallback};
    MKT_MPI(MPI_Allreduce(MPI_IN_PLACE, c2, 2, MPI_INT64_T, MPI_SUM, comm));
    json_t *pm = mkt_metrics_child(metrics, "pricing");
    mkt_metrics_set_str(pm, "requested", o->config.pricing);
    mkt_metrics_set_str(pm, "method", use_elasticity ? "elasticity" : "interest");
    if (*note) {
        mkt_metrics_set_str(pm, "note", note);
        mkt_log(STAGE, "pricing: %s", note);
    }
    mkt_metrics_set_int(pm, "prices", c2[0]);
    mkt_metrics_set_int(pm, "prices_by_interest_fallback", use_elasticity ? c2[1] : 0);
    mkt_metrics_set_real(pm, "min_factor", o->config.min_factor);
    mkt_metrics_set_real(pm, "max_factor", o->config.max_factor);
    mkt_metrics_set_real(pm, "interest_k", o->config.interest_k);
    free(elast);
}
