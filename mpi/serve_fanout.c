/* serve_fanout.c — what each rank holds while `mkt serve` runs, and the
 * broadcast / answer / gather / merge of one batch of requests.
 *
 * Loaded per rank at start-up (Collective, mkt_serve_model_open):
 *   - rank 0: the user and item dictionaries (external id -> dense index),
 *     arm and segment names;
 *   - every rank: for its user block, the first /models/uplift row of each
 *     user and the segment assignment; for its item block, the purchase
 *     count of each item (cold-start popularity); /models/mf factors and
 *     biases (read whole: a recommend needs the user's vector on every rank
 *     and a similar needs the query item's vector); /events/by_user/indptr,
 *     to read a user's purchases (independent reads) when recommending.
 *
 * One batch (Collective, mkt_serve_fanout): a 2-int64 header (1 = batch,
 * 0 = stop, and the work count) is broadcast with MPI_Ibcast, which the
 * waiting ranks poll with short sleeps so an idle gateway does not spin a
 * core per rank; then the mkt_work array (MPI_Bcast), each rank answers the
 * items it owns as compact JSON, the texts are gathered on rank 0
 * (MPI_Gatherv) and merged.  Must not: touch ZeroMQ or client input. */
#include "serve_fanout.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "h5store.h"
#include "ids.h"
#include "par.h"

#define EVENT_PURCHASE 4

struct mkt_serve_model {
    int rank, nranks;
    hid_t store, models;
    int64_t users, items;
    mkt_block user_block, item_block;
    mkt_dict user_dict, item_dict; /* rank 0 */

    int has_uplift;
    int64_t uplift_arms;       /* T - 1 promotion arms */
    char **arm_names;          /* rank 0: T names, 0 = control */
    char *outcome;             /* "conversion" or "visit" */
    int64_t *uplift_row;       /* per own user: row in the local copy below, -1 if not in the campaign */
    double *uplift_outcome, *uplift_spend; /* local rows x uplift_arms */

    int has_segments;
    int64_t segments;
    char **segment_names;      /* rank 0 */
    int32_t *assignment;       /* own user block */

    int has_mf;
    int64_t factors;
    double global_mean;
    double *user_factors, *item_factors, *user_bias, *item_bias, *item_norm;
    int64_t *user_indptr;      /* /events/by_user/indptr [U + 1] */
    int64_t *item_purchases;   /* own item block */
};

static char **read_names(hid_t f, const char *path, int64_t *n)
{
    *n = mkt_h5_rows(f, path, NULL);
    return mkt_h5_read_strings(f, path, 0, *n);
}

static void load_uplift(mkt_serve_model *m)
{
    hid_t f = m->models;
    m->outcome = mkt_h5_attr_get_string(f, "/models/uplift", "outcome");
    if (!m->outcome)
        m->outcome = mkt_xstrdup("conversion");
    char pred[96];
    snprintf(pred, sizeof pred, "/models/uplift/predicted_%s", m->outcome);
    int64_t arms = 0;
    int64_t rows = mkt_h5_rows(f, pred, &arms);
    int64_t cols_spend = 0;
    if (mkt_h5_rows(f, "/models/uplift/predicted_spend", &cols_spend) != rows || cols_spend != arms ||
        mkt_h5_rows(f, "/models/uplift/user", NULL) != rows)
        mkt_fail_all(MKT_EXIT_ERROR, "serve: /models/uplift: predicted_%s, predicted_spend and user disagree in shape",
                     m->outcome);
    m->uplift_arms = arms > 0 ? arms : 1;
    int32_t *user = mkt_xmalloc((size_t)(rows > 0 ? rows : 1) * sizeof *user);
    mkt_h5_read_rows(f, "/models/uplift/user", H5T_NATIVE_INT32, 0, rows, user);
    /* The rows of this rank's users: [first, last] (a contiguous range when sorted by user). */
    int64_t first = -1, last = -1;
    for (int64_t r = 0; r < rows; r++)
        if (user[r] >= m->user_block.begin && user[r] < m->user_block.end) {
            if (first < 0)
                first = r;
            last = r;
        }
    int64_t nlocal = first < 0 ? 0 : last - first + 1;
    int64_t own = m->user_block.end - m->user_block.begin;
    m->uplift_row = mkt_xmalloc((size_t)(own > 0 ? own : 1) * sizeof *m->uplift_row);
    for (int64_t u = 0; u < own; u++)
        m->uplift_row[u] = -1;
    for (int64_t r = first; r >= 0 && r <= last; r++) {
        int64_t u = user[r];
        if (u >= m->user_block.begin && u < m->user_block.end && m->uplift_row[u - m->user_block.begin] < 0)
            m->uplift_row[u - m->user_block.begin] = r - first; /* a user's first campaign row */
    }
    size_t cells = (size_t)(nlocal > 0 ? nlocal * m->uplift_arms : 1);
    m->uplift_outcome = mkt_xcalloc(cells, sizeof(double));
    m->uplift_spend = mkt_xcalloc(cells, sizeof(double));
    mkt_h5_read_rows(f, pred, H5T_NATIVE_DOUBLE, first, nlocal, m->uplift_outcome);
    mkt_h5_read_rows(f, "/models/uplift/predicted_spend", H5T_NATIVE_DOUBLE, first, nlocal, m->uplift_spend);
    free(user);
    if (m->rank == 0) {
        int64_t t = 0;
        m->arm_names = read_names(f, "/models/uplift/arms", &t);
        if (t != m->uplift_arms + 1)
            mkt_fail("serve: /models/uplift/arms has %lld names for %lld promotion arms", (long long)t,
                     (long long)m->uplift_arms);
    }
}

static void load_segments(mkt_serve_model *m)
{
    hid_t f = m->models;
    if (mkt_h5_rows(f, "/models/segments/assignment", NULL) != m->users)
        mkt_fail_all(MKT_EXIT_ERROR, "serve: /models/segments/assignment does not have one row per store user");
    int64_t own = m->user_block.end - m->user_block.begin;
    m->assignment = mkt_xmalloc((size_t)(own > 0 ? own : 1) * sizeof *m->assignment);
    mkt_h5_read_rows(f, "/models/segments/assignment", H5T_NATIVE_INT32, m->user_block.begin, own, m->assignment);
    m->segments = mkt_h5_rows(f, "/models/segments/names", NULL);
    if (m->rank == 0)
        m->segment_names = read_names(f, "/models/segments/names", &m->segments);
}

static void load_mf(mkt_serve_model *m)
{
    hid_t f = m->models;
    int64_t k = 0, k2 = 0;
    if (mkt_h5_rows(f, "/models/mf/user_factors", &k) != m->users ||
        mkt_h5_rows(f, "/models/mf/item_factors", &k2) != m->items || k != k2 || k < 1 ||
        mkt_h5_rows(f, "/models/mf/user_bias", NULL) != m->users ||
        mkt_h5_rows(f, "/models/mf/item_bias", NULL) != m->items)
        mkt_fail_all(MKT_EXIT_ERROR, "serve: /models/mf does not match the store (expected user_factors [%lld x K], "
                     "item_factors [%lld x K], user_bias, item_bias)", (long long)m->users, (long long)m->items);
    m->factors = k;
    m->global_mean = mkt_h5_attr_get_double(f, "/models/mf", "global_mean", 0.0);
    m->user_factors = mkt_xmalloc((size_t)(m->users * k) * sizeof(double));
    m->item_factors = mkt_xmalloc((size_t)(m->items * k) * sizeof(double));
    m->user_bias = mkt_xmalloc((size_t)m->users * sizeof(double));
    m->item_bias = mkt_xmalloc((size_t)m->items * sizeof(double));
    m->item_norm = mkt_xmalloc((size_t)m->items * sizeof(double));
    mkt_h5_read_rows(f, "/models/mf/user_factors", H5T_NATIVE_DOUBLE, 0, m->users, m->user_factors);
    mkt_h5_read_rows(f, "/models/mf/item_factors", H5T_NATIVE_DOUBLE, 0, m->items, m->item_factors);
    mkt_h5_read_rows(f, "/models/mf/user_bias", H5T_NATIVE_DOUBLE, 0, m->users, m->user_bias);
    mkt_h5_read_rows(f, "/models/mf/item_bias", H5T_NATIVE_DOUBLE, 0, m->items, m->item_bias);
    for (int64_t i = 0; i < m->items; i++) {
        double s = 0;
        for (int64_t j = 0; j < k; j++)
            s += m->item_factors[i * k + j] * m->item_factors[i * k + j];
        m->item_norm[i] = sqrt(s);
    }
    /* purchases: a user's rows of /events/by_user, and each own item's purchase count */
    m->user_indptr = mkt_xmalloc((size_t)(m->users + 1) * sizeof(int64_t));
    mkt_h5_read_rows(m->store, "/events/by_user/indptr", H5T_NATIVE_INT64, 0, m->users + 1, m->user_indptr);
    int64_t own = m->item_block.end - m->item_block.begin;
    int64_t *ip = mkt_xmalloc((size_t)(own + 1) * sizeof *ip);
    mkt_h5_read_rows(m->store, "/events/by_item/indptr", H5T_NATIVE_INT64, m->item_block.begin, own + 1, ip);
    int64_t nev = ip[own] - ip[0];
    int32_t *type = mkt_xmalloc((size_t)(nev > 0 ? nev : 1) * sizeof *type);
    mkt_h5_read_rows(m->store, "/events/by_item/type", H5T_NATIVE_INT32, ip[0], nev, type);
    m->item_purchases = mkt_xcalloc((size_t)(own > 0 ? own : 1), sizeof(int64_t));
    for (int64_t i = 0; i < own; i++)
        for (int64_t e = ip[i]; e < ip[i + 1]; e++)
            m->item_purchases[i] += type[e - ip[0]] == EVENT_PURCHASE;
    free(type);
    free(ip);
}

mkt_serve_model *mkt_serve_model_open(const char *store, const char *models, MPI_Comm comm)
{
    mkt_serve_model *m = mkt_xcalloc(1, sizeof *m);
    MKT_MPI(MPI_Comm_rank(comm, &m->rank));
    MKT_MPI(MPI_Comm_size(comm, &m->nranks));
    m->store = mkt_h5_open(store, 0, comm);
    m->models = mkt_h5_open(models, 0, comm);
    m->users = mkt_h5_rows(m->store, "/ids/users", NULL);
    m->items = mkt_h5_rows(m->store, "/ids/items", NULL);
    m->user_block = mkt_block_of(m->users, m->nranks, m->rank);
    m->item_block = mkt_block_of(m->items, m->nranks, m->rank);
    if (m->rank == 0) {
        int64_t n;
        char **names = read_names(m->store, "/ids/users", &n);
        mkt_dict_from_sorted(&m->user_dict, names, n);
        names = read_names(m->store, "/ids/items", &n);
        mkt_dict_from_sorted(&m->item_dict, names, n);
    }
    m->has_uplift = mkt_h5_exists(m->models, "/models/uplift/user");
    m->has_segments = mkt_h5_exists(m->models, "/models/segments/assignment");
    m->has_mf = mkt_h5_exists(m->models, "/models/mf/user_factors");
    if (m->has_uplift)
        load_uplift(m);
    if (m->has_segments)
        load_segments(m);
    if (m->has_mf)
        load_mf(m);
    MKT_MPI(MPI_Barrier(comm));
    return m;
}

void mkt_serve_model_close(mkt_serve_model *m)
{
    if (!m)
        return;
    mkt_h5_close(m->models);
    mkt_h5_close(m->store);
    if (m->rank == 0) {
        mkt_dict_free(&m->user_dict);
        mkt_dict_free(&m->item_dict);
        if (m->arm_names)
            mkt_h5_free_strings(m->arm_names, m->uplift_arms + 1);
        if (m->segment_names)
            mkt_h5_free_strings(m->segment_names, m->segments);
    }
    free(m->outcome);
    free(m->uplift_row);
    free(m->uplift_outcome);
    free(m->uplift_spend);
    free(m->assignment);
    free(m->user_factors);
    free(m->item_factors);
    free(m->user_bias);
    free(m->item_bias);
    free(m->item_norm);
    free(m->user_indptr);
    free(m->item_purchases);
    free(m);
}

int64_t mkt_serve_user_index(const mkt_serve_model *m, const char *user)
{
    return mkt_dict_find(&m->user_dict, user);
}

int64_t mkt_serve_item_index(const mkt_serve_model *m, const char *item)
{
    return mkt_dict_find(&m->item_dict, item);
}

int mkt_serve_has_model(const mkt_serve_model *m, mkt_op op)
{
    switch (op) {
    case MKT_OP_UPLIFT: return m->has_uplift;
    case MKT_OP_SEGMENT: return m->has_segments;
    case MKT_OP_SCORE:
    case MKT_OP_RECOMMEND:
    case MKT_OP_SIMILAR: return m->has_mf;
    default: return 1;
    }
}

json_t *mkt_serve_model_info(const mkt_serve_model *m)
{
    return json_pack("{s:I, s:I, s:b, s:b, s:b, s:I}", "users", (json_int_t)m->users, "items",
                     (json_int_t)m->items, "uplift", m->has_uplift, "segments", m->has_segments, "mf", m->has_mf,
                     "factors", (json_int_t)m->factors);
}

/* ---------- answering one work item on this rank ---------- */

typedef struct {
    double score;
    int64_t item;
} candidate;

/* Higher score first; equal scores: lower item first (rank-count independent). */
static int candidate_cmp(const void *a, const void *b)
{
    const candidate *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return (x->item > y->item) - (x->item < y->item);
}

static double mf_score(const mkt_serve_model *m, int64_t u, int64_t i)
{
    double s = m->global_mean + m->user_bias[u] + m->item_bias[i];
    for (int64_t j = 0; j < m->factors; j++)
        s += m->user_factors[u * m->factors + j] * m->item_factors[i * m->factors + j];
    return s;
}

/* Top k of this rank's item block as [[item, score], ...]. */
static json_t *local_top(const mkt_serve_model *m, const mkt_work *w, int *cold)
{
    int64_t b = m->item_block.begin, own = m->item_block.end - b;
    candidate *c = mkt_xmalloc((size_t)(own > 0 ? own : 1) * sizeof *c);
    unsigned char *skip = mkt_xcalloc((size_t)(own > 0 ? own : 1), 1);
    *cold = 0;
    if (w->op == MKT_OP_RECOMMEND && w->user >= 0) {
        int64_t e0 = m->user_indptr[w->user], ne = m->user_indptr[w->user + 1] - e0;
        if (ne > 0) {
            int32_t *type = mkt_xmalloc((size_t)ne * sizeof *type), *item = mkt_xmalloc((size_t)ne * sizeof *item);
            mkt_h5_read_rows(m->store, "/events/by_user/type", H5T_NATIVE_INT32, e0, ne, type);
            mkt_h5_read_rows(m->store, "/events/by_user/item", H5T_NATIVE_INT32, e0, ne, item);
            for (int64_t e = 0; e < ne; e++)
                if (type[e] == EVENT_PURCHASE && item[e] >= b && item[e] < m->item_block.end)
                    skip[item[e] - b] = 1;
            free(type);
            free(item);
        }
    } else if (w->op == MKT_OP_RECOMMEND) {
        *cold = 1;
    }
    int64_t n = 0;
    for (int64_t i = 0; i < own; i++) {
        int64_t item = b + i;
        double s;
        if (skip[i])
            continue;
        if (w->op == MKT_OP_SIMILAR) {
            if (item == w->item)
                continue;
            double dot = 0, den = m->item_norm[item] * m->item_norm[w->item];
            for (int64_t j = 0; j < m->factors; j++)
                dot += m->item_factors[item * m->factors + j] * m->item_factors[w->item * m->factors + j];
            s = den > 0 ? dot / den : 0.0;
        } else if (*cold) {
            s = (double)m->item_purchases[i];
        } else {
            s = mf_score(m, w->user, item);
        }
        c[n].score = isfinite(s) ? s : -1e300; /* JSON has no infinities */
        c[n].item = item;
        n++;
    }
    qsort(c, (size_t)n, sizeof *c, candidate_cmp);
    json_t *top = json_array();
    for (int64_t i = 0; i < n && i < w->k; i++)
        json_array_append_new(top, json_pack("[I, f]", (json_int_t)c[i].item, c[i].score));
    free(c);
    free(skip);
    return top;
}

static json_t *error_part(const char *code, const char *message)
{
    return json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", message);
}

/* This rank's part of work item w, or NULL when it owns no part of it. */
static json_t *answer_part(const mkt_serve_model *m, const mkt_work *w)
{
    int user_owner = w->user >= 0 ? mkt_block_owner(w->user, m->users, m->nranks) : 0;
    switch ((mkt_op)w->op) {
    case MKT_OP_UPLIFT: {
        if (user_owner != m->rank)
            return NULL;
        int64_t row = m->uplift_row[w->user - m->user_block.begin];
        if (row < 0)
            return error_part("not_in_campaign", "the user has no row in the campaign the uplift model was trained on");
        json_t *o = json_array(), *s = json_array();
        for (int64_t t = 0; t < m->uplift_arms; t++) {
            json_array_append_new(o, json_real(m->uplift_outcome[row * m->uplift_arms + t]));
            json_array_append_new(s, json_real(m->uplift_spend[row * m->uplift_arms + t]));
        }
        return json_pack("{s:o, s:o}", "outcome", o, "spend", s);
    }
    case MKT_OP_SEGMENT: {
        if (user_owner != m->rank)
            return NULL;
        return json_pack("{s:i}", "segment_index", (int)m->assignment[w->user - m->user_block.begin]);
    }
    case MKT_OP_SCORE:
        if (user_owner != m->rank)
            return NULL;
        return json_pack("{s:f}", "score", mf_score(m, w->user, w->item));
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
    candidate *c = mkt_xmalloc((total > 0 ? total : 1) * sizeof *c);
    size_t n = 0;
    int cold = 0;
    json_array_foreach(parts, i, p) {
        size_t j;
        json_t *pair;
        cold |= json_is_true(json_object_get(p, "cold_start"));
        json_array_foreach(json_object_get(p, "top"), j, pair) {
            c[n].item = (int64_t)json_integer_value(json_array_get(pair, 0));
            c[n].score = json_real_value(json_array_get(pair, 1));
            n++;
        }
    }
    qsort(c, n, sizeof *c, candidate_cmp);
    json_t *items = json_array();
    const char *key = w->op == MKT_OP_SIMILAR ? "similarity" : cold ? "purchases" : "score";
    for (size_t j = 0; j < n && (int64_t)j < w->k; j++) {
        if (c[j].item < 0 || c[j].item >= m->items)
            continue;
        json_t *e = json_pack("{s:s}", "item", m->item_dict.names[c[j].item]);
        json_object_set_new(e, key, cold ? json_integer((json_int_t)c[j].score) : json_real(c[j].score));
        json_array_append_new(items, e);
    }
    free(c);
    json_t *r = json_pack("{s:o}", "items", items);
    if (w->op == MKT_OP_RECOMMEND)
        json_object_set_new(r, "cold_start", json_boolean(cold));
    return r;
}

static json_t *finish(const mkt_serve_model *m, const mkt_work *w, json_t *parts)
{
    if (w->op == MKT_OP_RECOMMEND || w->op == MKT_OP_SIMILAR)
        return merge_top(m, w, parts);
    json_t *p = json_array_get(parts, 0);
    if (!p)
        return error_part("internal", "no rank answered");
    if (json_object_get(p, "error"))
        return json_incref(p);
    if (w->op == MKT_OP_UPLIFT) {
        json_t *arms = json_array(), *o = json_object_get(p, "outcome"), *s = json_object_get(p, "spend");
        for (int64_t t = 0; t < m->uplift_arms; t++)
            json_array_append_new(arms, json_pack("{s:s, s:O, s:O}", "arm", m->arm_names[t + 1], m->outcome,
                                                  json_array_get(o, (size_t)t), "spend",
                                                  json_array_get(s, (size_t)t)));
        return json_pack("{s:s, s:s, s:o}", "control", m->arm_names[0], "outcome", m->outcome, "arms", arms);
    }
    if (w->op == MKT_OP_SEGMENT) {
        json_int_t s = json_integer_value(json_object_get(p, "segment_index"));
        if (s < 0 || s >= m->segments)
            return error_part("no_segment", "the user has no segment in the model");
        return json_pack("{s:s, s:I}", "segment", m->segment_names[s], "segment_index", s);
    }
    return json_incref(p);
}

/* ---------- the collective part ---------- */

static void fanout_body(mkt_serve_model *m, mkt_work *work, int64_t n, json_t **results, MPI_Comm comm)
{
    MKT_MPI(MPI_Bcast(work, (int)(n * 4), MPI_INT64_T, 0, comm));
    json_t *mine = json_array();
    for (int64_t i = 0; i < n; i++) {
        json_t *part = answer_part(m, &work[i]);
        if (part)
            json_array_append_new(mine, json_pack("[I, o]", (json_int_t)i, part));
    }
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
    long pause_ns = 20000;
    for (;;) {
        MKT_MPI(MPI_Test(&req, &done, MPI_STATUS_IGNORE));
        if (done)
            return;
        struct timespec ts = {0, pause_ns};
        nanosleep(&ts, NULL);
        if (pause_ns < 1000000)
            pause_ns *= 2;
    }
}

void mkt_serve_fanout(mkt_serve_model *m, const mkt_work *work, int64_t n, json_t **results, MPI_Comm comm)
{
    int64_t header[2] = {1, n};
    bcast_header(header, 0, comm);
    mkt_work *copy = mkt_xmalloc((size_t)(n > 0 ? n : 1) * sizeof *copy);
    memcpy(copy, work, (size_t)n * sizeof *copy);
    fanout_body(m, copy, n, results, comm);
    free(copy);
}

void mkt_serve_stop_workers(MPI_Comm comm)
{
    int64_t header[2] = {0, 0};
    bcast_header(header, 0, comm);
}

void mkt_serve_worker_loop(mkt_serve_model *m, MPI_Comm comm)
{
    for (;;) {
        int64_t header[2] = {0, 0};
        bcast_header(header, 1, comm);
        if (header[0] == 0)
            return;
        mkt_work *work = mkt_xmalloc((size_t)(header[1] > 0 ? header[1] : 1) * sizeof *work);
        fanout_body(m, work, header[1], NULL, comm);
        free(work);
    }
}
