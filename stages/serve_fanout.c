/* serve_fanout.c — the answers of `mkt serve`: the broadcast / answer /
 * gather / merge of one batch of requests, and the messages that drive a
 * reload (the model sets themselves: stages/serve_models.c).
 *
 * One batch (Collective, mkt_serve_fanout): a 2-int64 header (kind and a
 * count) is broadcast with MPI_Ibcast, which the waiting ranks poll with
 * short sleeps so an idle gateway does not spin a core per rank; then the
 * mkt_work array (MPI_Bcast), each rank answers the items it owns as compact
 * JSON, the texts are gathered on rank 0 (MPI_Gatherv) and merged.  A reload
 * start and each reload step are headers of their own, so the other ranks
 * follow rank 0 between batches.
 * Must not: read model files (stages/serve_models.c), touch ZeroMQ or client input. */
#include "serve_models.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "iocheck.h"
#include "linmodel.h"
#include "mf_score.h"

#define PATH_MAX_BYTES 4096

enum { HDR_STOP = 0, HDR_BATCH = 1, HDR_RELOAD = 2, HDR_STEP = 3 };

/* ---------- answering one work item on this rank ---------- */

static double mf_score(const model_set *s, int64_t u, int64_t i)
{
    /* src/mf_score.h: the same bits as `mkt recommend` */
    return mkt_mf_score(s->global_mean, s->user_bias[u], s->item_bias[i], s->user_factors + u * s->factors,
                        s->item_factors + i * s->factors, s->factors);
}

/* The exact scores the screens of src/topk.h rescore their candidates with
 * (row: index in the own item block).  JSON has no infinities: a non-finite
 * score ranks as -1e300. */
typedef struct {
    const mkt_serve_model *m;
    int64_t user, item; /* recommend: user; similar: the query item */
} exact_ctx;

static double exact_recommend(void *p, int64_t row)
{
    const exact_ctx *x = p;
    double v = mf_score(x->m->cur, x->user, x->m->item_block.begin + row);
    return isfinite(v) ? v : -1e300;
}

static double cosine(const model_set *s, int64_t item, int64_t query)
{
    return mkt_mf_cosine(s->item_factors + item * s->factors, s->item_norm[item],
                         s->item_factors + query * s->factors, s->item_norm[query], s->factors);
}

static double exact_similar(void *p, int64_t row)
{
    const exact_ctx *x = p;
    double v = cosine(x->m->cur, x->m->item_block.begin + row, x->item);
    return isfinite(v) ? v : -1e300;
}

/* Screen the own item block for a similar query: the float32 dot product
 * divided by the exact code's denominator, with the bound of the dot
 * product (src/topk.h) divided likewise, plus the rounding of the divisions:
 * |fl(d/den) - fl(a/den)| <= |d - a| / den + v (|d| + |a|) / den + ..., and
 * |d|, |a| <= 1.01 |q_i| |q| (v = 2^-53). */
static int screen_similar(const mkt_serve_model *m, const mkt_work *w, mkt_screen *scr)
{
    const model_set *s = m->cur;
    int64_t b0 = m->item_block.begin, own = m->item_block.end - b0, k = s->factors;
    const double *q = s->item_factors + w->item * k;
    double qn = mkt_norm2(q, k);
    float *qf = mkt_xmalloc((size_t)k * sizeof *qf), dots[256];
    mkt_to_f32(q, k, qf);
    for (int64_t t0 = 0; t0 < own; t0 += 256) {
        int64_t t1 = t0 + 256 < own ? t0 + 256 : own;
        mkt_f32_dots(&s->item_f32, t0, t1, qf, dots);
        for (int64_t r = t0; r < t1; r++) {
            if (b0 + r == w->item)
                continue;
            double den = s->item_norm[b0 + r] * s->item_norm[w->item], g = 0, e = 0;
            if (den > 0) {
                double rn = s->item_f32.norm[r];
                g = (double)dots[r - t0] / den;
                e = mkt_mf_cosine_bound(k, qn, rn, den, g);
            }
            if (mkt_screen_push(scr, r, g, e))
                mkt_fail("serve: out of memory");
        }
    }
    free(qf);
    return 0;
}

/* Top k of this rank's item block as [[item, score], ...] for similar and
 * for a cold-start recommend (most purchased items); the recommends of known
 * users go through batch_recommend. */
static json_t *local_top(const mkt_serve_model *m, const mkt_work *w, int *cold)
{
    const model_set *s = m->cur;
    int64_t b = m->item_block.begin, own = m->item_block.end - b;
    *cold = w->op == MKT_OP_RECOMMEND;
    json_t *top = json_array();
    if (w->op == MKT_OP_SIMILAR && own > 0 &&
        mkt_screen_usable(&s->item_f32, s->item_factors + w->item * s->factors, 0.0)) {
        mkt_screen scr;
        mkt_scored *best = mkt_xmalloc((size_t)w->k * sizeof *best);
        if (mkt_screen_init(&scr, w->k))
            mkt_fail("serve: out of memory");
        screen_similar(m, w, &scr);
        exact_ctx x = {m, -1, w->item};
        int64_t n = mkt_screen_finish(&scr, exact_similar, &x, best);
        if (n < 0)
            mkt_fail("serve: out of memory");
        for (int64_t i = 0; i < n; i++)
            json_array_append_new(top, json_pack("[I, f]", (json_int_t)(b + best[i].row), best[i].score));
        mkt_screen_free(&scr);
        free(best);
        return top;
    }
    mkt_scored *c = mkt_xmalloc((size_t)(own > 0 ? own : 1) * sizeof *c);
    int64_t n = 0;
    for (int64_t i = 0; i < own; i++) {
        int64_t item = b + i;
        double v;
        if (w->op == MKT_OP_SIMILAR) {
            if (item == w->item)
                continue;
            v = cosine(s, item, w->item);
        } else {
            v = (double)m->item_purchases[i];
        }
        c[n].score = isfinite(v) ? v : -1e300; /* JSON has no infinities */
        c[n].row = item;
        n++;
    }
    /* only the best k are needed: select, then sort those */
    int64_t keep = n < w->k ? n : w->k;
    if (keep < n && keep > 0 && keep <= 64) {
        int64_t got = 0;
        mkt_scored *best = mkt_xmalloc((size_t)keep * sizeof *best);
        for (int64_t i = 0; i < n; i++)
            mkt_scored_insert(best, &got, keep, c[i]);
        memcpy(c, best, (size_t)keep * sizeof *c);
        free(best);
    } else {
        qsort(c, (size_t)n, sizeof *c, mkt_scored_cmp);
    }
    for (int64_t i = 0; i < keep; i++)
        json_array_append_new(top, json_pack("[I, f]", (json_int_t)c[i].row, c[i].score));
    free(c);
    return top;
}

/* A user's purchased items inside this rank's item block (rows of the
 * block), sorted, distinct: preloaded by load_store. */
static int64_t purchased_in_block(const mkt_serve_model *m, int64_t u, const int32_t **out)
{
    *out = m->bought + m->bought_ptr[u];
    return m->bought_ptr[u + 1] - m->bought_ptr[u];
}

#define ITEM_TILE 512 /* items scored for every user of a batch while their factors are in cache */

/* The recommends of known users in one batch, together: the rank's item block
 * is swept once in tiles, each tile screened for every user with the int8
 * codes of the factors (src/topk.h), so the item factors are read from
 * memory once per batch and at under a sixth of the size; each user's
 * surviving candidates are then rescored exactly.  Scores and the order of the result are those of
 * scoring every item of the block in double for one request alone.  A user
 * whose factors cannot be screened (not finite, or beyond the range of the
 * bound) is scored exactly, item by item. */
static void batch_recommend(const mkt_serve_model *m, const mkt_work *work, const int64_t *which, int64_t nb,
                            json_t **parts)
{
    const model_set *s = m->cur;
    int64_t b0 = m->item_block.begin, own = m->item_block.end - b0, k = s->factors;
    mkt_screen *scr = mkt_xcalloc((size_t)nb, sizeof *scr);
    mkt_scored **top = mkt_xcalloc((size_t)nb, sizeof *top);
    int64_t *ntop = mkt_xcalloc((size_t)nb, sizeof *ntop), *nbought = mkt_xmalloc((size_t)nb * sizeof *nbought);
    const int32_t **bought = mkt_xmalloc((size_t)nb * sizeof *bought);
    int *screened = mkt_xcalloc((size_t)nb, sizeof *screened);
    float *xf = mkt_xmalloc((size_t)(nb * k) * sizeof *xf);
    double *xnorm = mkt_xmalloc((size_t)nb * sizeof *xnorm), *absc = mkt_xmalloc((size_t)nb * sizeof *absc);
    int64_t *at = mkt_xcalloc((size_t)nb, sizeof *at);
    for (int64_t q = 0; q < nb; q++) {
        const mkt_work *w = &work[which[q]];
        const double *x = s->user_factors + w->user * k;
        double c = s->global_mean + s->user_bias[w->user]; /* what mf_score adds first */
        top[q] = mkt_xmalloc((size_t)w->k * sizeof **top);
        nbought[q] = purchased_in_block(m, w->user, &bought[q]);
        screened[q] = own > 0 && mkt_screen_usable(&s->item_f32, x, c);
        if (screened[q]) {
            if (mkt_screen_init(&scr[q], w->k))
                mkt_fail("serve: out of memory");
            mkt_to_f32(x, k, xf + q * k);
            xnorm[q] = mkt_norm2(x, k);
            absc[q] = fabs(c);
        }
    }
    for (int64_t t0 = 0; t0 < own; t0 += ITEM_TILE) {
        int64_t t1 = t0 + ITEM_TILE < own ? t0 + ITEM_TILE : own;
        for (int64_t q = 0; q < nb; q++) {
            const mkt_work *w = &work[which[q]];
            if (screened[q]) {
                if (mkt_screen_rows(&scr[q], &s->item_f32, t0, t1, xf + q * k, xnorm[q], absc[q], bought[q],
                                    nbought[q]))
                    mkt_fail("serve: out of memory");
                continue;
            }
            for (int64_t r = t0; r < t1; r++) {
                while (at[q] < nbought[q] && bought[q][at[q]] < r)
                    at[q]++;
                if (at[q] < nbought[q] && bought[q][at[q]] == r)
                    continue;
                double v = mf_score(s, w->user, b0 + r);
                mkt_scored_insert(top[q], &ntop[q], w->k, (mkt_scored){isfinite(v) ? v : -1e300, r});
            }
        }
    }
    for (int64_t q = 0; q < nb; q++) {
        if (screened[q]) {
            exact_ctx x = {m, work[which[q]].user, -1};
            ntop[q] = mkt_screen_finish(&scr[q], exact_recommend, &x, top[q]);
            if (ntop[q] < 0)
                mkt_fail("serve: out of memory");
            mkt_screen_free(&scr[q]);
        }
        json_t *arr = json_array();
        for (int64_t i = 0; i < ntop[q]; i++)
            json_array_append_new(arr, json_pack("[I, f]", (json_int_t)(b0 + top[q][i].row), top[q][i].score));
        parts[q] = json_pack("{s:o, s:b}", "top", arr, "cold_start", 0);
        free(top[q]);
    }
    free(scr);
    free(top);
    free(ntop);
    free(nbought);
    free(bought);
    free(screened);
    free(xf);
    free(xnorm);
    free(absc);
    free(at);
}

static json_t *error_part(const char *code, const char *message)
{
    return json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", message);
}

static json_t *propensity_part(const mkt_serve_model *m, int64_t u)
{
    const model_set *s = m->cur;
    int d = s->mlp.inputs;
    double *x = mkt_xmalloc((size_t)d * sizeof *x);
    const double *raw = s->prop_x + (u - m->user_block.begin) * d;
    /* the normalization stages/propensity_examples.c applies to training examples */
    for (int j = 0; j < d; j++) {
        double z = s->prop_std[j] > 0 ? (raw[j] - s->prop_mean[j]) / s->prop_std[j] : 0.0;
        x[j] = isfinite(z) ? z : 0.0;
    }
    double logit;
    if (s->prop_gbdt) {
        logit = mkt_gbdt_margin(&s->prop_forest, x); /* the forest on the same standardized features */
    } else if (s->mlp.hidden == 0) {
        logit = mkt_logreg_logit(s->prop_params, d, x);
    } else {
        double *work = mkt_xmalloc(mkt_mlp_work_size(&s->mlp) * sizeof(double));
        logit = mkt_mlp_logit(&s->mlp, s->prop_params, x, work);
        free(work);
    }
    free(x);
    return json_pack("{s:f, s:I, s:s}", "probability", mkt_sigmoid(logit), "horizon_days",
                     (json_int_t)s->horizon_days, "model",
                     s->prop_gbdt ? "gbdt" : s->mlp.hidden ? "mlp" : "logistic");
}

static json_t *strategy_part(const mkt_serve_model *m, int64_t u)
{
    const model_set *s = m->cur;
    int64_t row = s->strat_row[u - m->user_block.begin];
    if (row < 0)
        return error_part("not_in_strategy", "the strategy file has no row for this user");
    json_t *items = json_array();
    for (int64_t j = 0; j < s->strat_k; j++) {
        int64_t it = s->strat_items[row * s->strat_k + j];
        if (it < 0)
            continue;
        json_array_append_new(items, json_pack("[I, f, f]", (json_int_t)it, s->strat_scores[row * s->strat_k + j],
                                               s->strat_price[row * s->strat_k + j]));
    }
    return json_pack("{s:i, s:o, s:i, s:f, s:f, s:f, s:f, s:s}", "segment", (int)s->strat_segment[row], "items",
                     items, "promotion", (int)s->strat_promotion[row], "expected_profit", s->strat_profit[row],
                     "expected_cost", s->strat_cost[row], "uplift_conversion", s->strat_uconv[row],
                     "uplift_spend", s->strat_uspend[row], "message", s->strat_message[row]);
}

/* This rank's part of work item w, or NULL when it owns no part of it. */
static json_t *answer_part(const mkt_serve_model *m, const mkt_work *w)
{
    const model_set *s = m->cur;
    int user_owner = w->user >= 0 ? mkt_block_owner(w->user, m->users, m->nranks) : 0;
    switch ((mkt_op)w->op) {
    case MKT_OP_UPLIFT: {
        if (user_owner != m->rank)
            return NULL;
        int64_t row = s->uplift_row[w->user - m->user_block.begin];
        if (row < 0)
            return error_part("not_in_campaign", "the user has no row in the campaign the uplift model was trained on");
        json_t *o = json_array(), *sp = json_array();
        for (int64_t t = 0; t < s->uplift_arms; t++) {
            json_array_append_new(o, json_real(s->uplift_outcome[row * s->uplift_arms + t]));
            json_array_append_new(sp, json_real(s->uplift_spend[row * s->uplift_arms + t]));
        }
        return json_pack("{s:o, s:o}", "outcome", o, "spend", sp);
    }
    case MKT_OP_SEGMENT:
        if (user_owner != m->rank)
            return NULL;
        return json_pack("{s:i}", "segment_index", (int)s->assignment[w->user - m->user_block.begin]);
    case MKT_OP_SCORE:
        if (user_owner != m->rank)
            return NULL;
        return json_pack("{s:f}", "score", mf_score(s, w->user, w->item));
    case MKT_OP_PROPENSITY:
        return user_owner == m->rank ? propensity_part(m, w->user) : NULL;
    case MKT_OP_STRATEGY:
        return user_owner == m->rank ? strategy_part(m, w->user) : NULL;
    case MKT_OP_RECOMMEND:
    case MKT_OP_SIMILAR: {
        int cold = 0;
        json_t *top = local_top(m, w, &cold);
        return json_pack("{s:o, s:b}", "top", top, "cold_start", cold);
    }
    default: return NULL;
    }
}

/* ---------- rank 0: merge the parts into answers ---------- */

static json_t *merge_top(const mkt_serve_model *m, const mkt_work *w, json_t *parts)
{
    size_t total = 0, i;
    json_t *p;
    json_array_foreach(parts, i, p) total += json_array_size(json_object_get(p, "top"));
    mkt_scored *c = mkt_xmalloc((total > 0 ? total : 1) * sizeof *c);
    size_t n = 0;
    int cold = 0;
    json_array_foreach(parts, i, p) {
        size_t j;
        json_t *pair;
        cold |= json_is_true(json_object_get(p, "cold_start"));
        json_array_foreach(json_object_get(p, "top"), j, pair) {
            c[n].row = (int64_t)json_integer_value(json_array_get(pair, 0));
            c[n].score = json_real_value(json_array_get(pair, 1));
            n++;
        }
    }
    qsort(c, n, sizeof *c, mkt_scored_cmp);
    json_t *items = json_array();
    const char *key = w->op == MKT_OP_SIMILAR ? "similarity" : cold ? "purchases" : "score";
    for (size_t j = 0; j < n && (int64_t)j < w->k; j++) {
        if (c[j].row < 0 || c[j].row >= m->items)
            continue;
        json_t *e = json_pack("{s:s}", "item", m->item_dict.names[c[j].row]);
        json_object_set_new(e, key, cold ? json_integer((json_int_t)c[j].score) : json_real(c[j].score));
        json_array_append_new(items, e);
    }
    free(c);
    json_t *r = json_pack("{s:o}", "items", items);
    if (w->op == MKT_OP_RECOMMEND)
        json_object_set_new(r, "cold_start", json_boolean(cold));
    return r;
}

static json_t *finish_strategy(const mkt_serve_model *m, json_t *p)
{
    const model_set *s = m->cur;
    json_t *items = json_array(), *t;
    size_t j;
    json_array_foreach(json_object_get(p, "items"), j, t) {
        json_int_t it = json_integer_value(json_array_get(t, 0));
        if (it < 0 || it >= m->items)
            continue;
        json_array_append_new(items, json_pack("{s:s, s:O, s:O}", "item", m->item_dict.names[it], "score",
                                               json_array_get(t, 1), "price", json_array_get(t, 2)));
    }
    json_int_t promo = json_integer_value(json_object_get(p, "promotion"));
    /* the segment as the segment op names it: the strategy file's names, else
     * the served model's (a file written before segment_names), else null */
    json_int_t g = json_integer_value(json_object_get(p, "segment"));
    const char *gname = g >= 0 && g < s->strat_segments && s->strat_segment_names ? s->strat_segment_names[g]
                        : g >= 0 && !s->strat_segment_names && g < s->segments && s->segment_names ? s->segment_names[g]
                                                                                                  : NULL;
    json_t *r = json_pack("{s:o, s:I, s:o, s:O, s:O, s:O, s:O, s:O}", "segment",
                          gname ? json_string(gname) : json_null(), "segment_index", g, "items",
                          items, "expected_profit", json_object_get(p, "expected_profit"), "expected_cost",
                          json_object_get(p, "expected_cost"), "uplift_conversion",
                          json_object_get(p, "uplift_conversion"), "uplift_spend",
                          json_object_get(p, "uplift_spend"), "message", json_object_get(p, "message"));
    json_object_set_new(r, "promotion",
                        promo >= 0 && promo < s->strat_arms ? json_string(s->strat_arm_names[promo]) : json_null());
    return r;
}

static json_t *finish(const mkt_serve_model *m, const mkt_work *w, json_t *parts)
{
    const model_set *s = m->cur;
    if (w->op == MKT_OP_RECOMMEND || w->op == MKT_OP_SIMILAR)
        return merge_top(m, w, parts);
    json_t *p = json_array_get(parts, 0);
    if (!p)
        return error_part("internal", "no rank answered");
    if (json_object_get(p, "error"))
        return json_incref(p);
    if (w->op == MKT_OP_UPLIFT) {
        json_t *arms = json_array(), *o = json_object_get(p, "outcome"), *sp = json_object_get(p, "spend");
        for (int64_t t = 0; t < s->uplift_arms; t++)
            json_array_append_new(arms, json_pack("{s:s, s:O, s:O}", "arm", s->arm_names[t + 1], s->outcome,
                                                  json_array_get(o, (size_t)t), "spend",
                                                  json_array_get(sp, (size_t)t)));
        return json_pack("{s:s, s:s, s:o}", "control", s->arm_names[0], "outcome", s->outcome, "arms", arms);
    }
    if (w->op == MKT_OP_SEGMENT) {
        json_int_t g = json_integer_value(json_object_get(p, "segment_index"));
        if (g < 0 || g >= s->segments)
            return error_part("no_segment", "the user has no segment in the model");
        return json_pack("{s:s, s:I}", "segment", s->segment_names[g], "segment_index", g);
    }
    if (w->op == MKT_OP_STRATEGY)
        return finish_strategy(m, p);
    return json_incref(p);
}

/* ---------- the collective part ---------- */

static void fanout_body(mkt_serve_model *m, mkt_work *work, int64_t n, json_t **results, MPI_Comm comm)
{
    MKT_MPI(MPI_Bcast(work, (int)(n * 4), MPI_INT64_T, 0, comm));
    /* recommends of known users are scored together (one sweep of the item block) */
    int64_t *which = mkt_xmalloc((size_t)(n > 0 ? n : 1) * sizeof *which), nb = 0;
    json_t **batched = mkt_xcalloc((size_t)(n > 0 ? n : 1), sizeof *batched);
    for (int64_t i = 0; i < n; i++)
        if (work[i].op == MKT_OP_RECOMMEND && work[i].user >= 0 && work[i].user < m->users && work[i].k >= 1)
            which[nb++] = i;
    if (nb > 0) {
        json_t **parts = mkt_xmalloc((size_t)nb * sizeof *parts);
        batch_recommend(m, work, which, nb, parts);
        for (int64_t q = 0; q < nb; q++)
            batched[which[q]] = parts[q];
        free(parts);
    }
    json_t *mine = json_array();
    for (int64_t i = 0; i < n; i++) {
        json_t *part = batched[i] ? batched[i] : answer_part(m, &work[i]);
        if (part)
            json_array_append_new(mine, json_pack("[I, o]", (json_int_t)i, part));
    }
    free(which);
    free(batched);
    char *text = json_dumps(mine, JSON_COMPACT | JSON_REAL_PRECISION(17));
    json_decref(mine);
    if (!text)
        mkt_fail("serve: cannot encode an answer");
    int len = (int)strlen(text) + 1;
    int *lens = NULL, *displs = NULL;
    char *all = NULL;
    if (m->rank == 0) {
        lens = mkt_xmalloc((size_t)m->nranks * sizeof *lens);
        displs = mkt_xmalloc((size_t)m->nranks * sizeof *displs);
    }
    MKT_MPI(MPI_Gather(&len, 1, MPI_INT, lens, 1, MPI_INT, 0, comm));
    if (m->rank == 0) {
        int64_t total = 0;
        for (int r = 0; r < m->nranks; r++) {
            displs[r] = (int)total;
            total += lens[r];
        }
        if (total > INT32_MAX)
            mkt_fail("serve: answers of one batch exceed 2 GB");
        all = mkt_xmalloc((size_t)total);
    }
    MKT_MPI(MPI_Gatherv(text, len, MPI_CHAR, all, lens, displs, MPI_CHAR, 0, comm));
    free(text);
    if (m->rank != 0)
        return;
    json_t **parts = mkt_xmalloc((size_t)(n > 0 ? n : 1) * sizeof *parts);
    for (int64_t i = 0; i < n; i++)
        parts[i] = json_array();
    for (int r = 0; r < m->nranks; r++) {
        json_t *arr = json_loads(all + displs[r], 0, NULL);
        size_t j;
        json_t *e;
        json_array_foreach(arr, j, e) {
            json_int_t i = json_integer_value(json_array_get(e, 0));
            if (i >= 0 && i < n)
                json_array_append(parts[i], json_array_get(e, 1));
        }
        json_decref(arr);
    }
    for (int64_t i = 0; i < n; i++) {
        results[i] = finish(m, &work[i], parts[i]);
        json_decref(parts[i]);
    }
    free(parts);
    free(all);
    free(lens);
    free(displs);
}

/* Header broadcast: non-blocking on every rank so that waiting ranks can sleep between tests. */
static void bcast_header(int64_t header[2], int sleepy, MPI_Comm comm)
{
    MPI_Request req;
    MKT_MPI(MPI_Ibcast(header, 2, MPI_INT64_T, 0, comm, &req));
    if (!sleepy) {
        MKT_MPI(MPI_Wait(&req, MPI_STATUS_IGNORE));
        return;
    }
    int done = 0;
    long pause_ns = 10000;
    for (int64_t polls = 0;; polls++) {
        MKT_MPI(MPI_Test(&req, &done, MPI_STATUS_IGNORE));
        if (done)
            return;
        struct timespec ts = {0, pause_ns};
        nanosleep(&ts, NULL);
        /* short pauses for about the first 2 ms (the next batch of a busy
         * client is usually that close), then longer ones: at most 0.25 ms
         * late for a batch after a quiet spell */
        if (polls >= 100 && pause_ns < 250000)
            pause_ns *= 2;
    }
}

void mkt_serve_fanout(mkt_serve_model *m, const mkt_work *work, int64_t n, json_t **results, MPI_Comm comm)
{
    int64_t header[2] = {HDR_BATCH, n};
    bcast_header(header, 0, comm);
    mkt_work *copy = mkt_xmalloc((size_t)(n > 0 ? n : 1) * sizeof *copy);
    memcpy(copy, work, (size_t)n * sizeof *copy);
    fanout_body(m, copy, n, results, comm);
    free(copy);
}

/* ---------- reload ---------- */

/* Collective body of a reload start: paths = "models\0strategy\0" (strategy may be empty). */
static int reload_begin_body(mkt_serve_model *m, char *paths, int64_t len, char *why, size_t whylen, MPI_Comm comm)
{
    MKT_MPI(MPI_Bcast(paths, (int)len, MPI_CHAR, 0, comm));
    const char *models = paths, *strategy = paths + strlen(paths) + 1;
    return mkt_serve_next_begin(m, models, *strategy ? strategy : NULL, why, whylen, comm);
}

int mkt_serve_reload_begin(mkt_serve_model *m, const char *models, const char *strategy, char *why, size_t len,
                           MPI_Comm comm)
{
    if (m->next) {
        snprintf(why, len, "a reload is already under way");
        return -1;
    }
    models = models && *models ? models : m->cur->path;
    strategy = strategy && *strategy ? strategy : m->cur->strategy_path ? m->cur->strategy_path : "";
    size_t a = strlen(models), b = strlen(strategy);
    if (a + b + 2 > PATH_MAX_BYTES) {
        snprintf(why, len, "file names too long");
        return -1;
    }
    char paths[PATH_MAX_BYTES] = "";
    memcpy(paths, models, a + 1);
    memcpy(paths + a + 1, strategy, b + 1);
    int64_t header[2] = {HDR_RELOAD, (int64_t)(a + b + 2)};
    bcast_header(header, 0, comm);
    return reload_begin_body(m, paths, header[1], why, len, comm);
}

int mkt_serve_reload_step(mkt_serve_model *m, int64_t budget, MPI_Comm comm)
{
    int64_t header[2] = {HDR_STEP, budget};
    bcast_header(header, 0, comm);
    return mkt_serve_next_step(m, budget, comm);
}

void mkt_serve_stop_workers(MPI_Comm comm)
{
    int64_t header[2] = {HDR_STOP, 0};
    bcast_header(header, 0, comm);
}

void mkt_serve_worker_loop(mkt_serve_model *m, MPI_Comm comm)
{
#ifdef PR_SET_TIMERSLACK
    prctl(PR_SET_TIMERSLACK, 1000UL, 0UL, 0UL, 0UL); /* the short pauses above: 1 us, not the default 50 us, of slack */
#endif
    for (;;) {
        int64_t header[2] = {0, 0};
        bcast_header(header, 1, comm);
        if (header[0] == HDR_STOP)
            return;
        if (header[0] == HDR_RELOAD) {
            char paths[PATH_MAX_BYTES], why[1024];
            if (header[1] < 2 || header[1] > PATH_MAX_BYTES)
                mkt_fail("serve: bad reload header");
            reload_begin_body(m, paths, header[1], why, sizeof why, comm);
        } else if (header[0] == HDR_STEP) {
            mkt_serve_next_step(m, header[1], comm);
        } else {
            mkt_work *work = mkt_xmalloc((size_t)(header[1] > 0 ? header[1] : 1) * sizeof *work);
            fanout_body(m, work, header[1], NULL, comm);
            free(work);
        }
    }
}
