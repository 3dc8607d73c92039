/* serve_fanout.c — what each rank holds while `mkt serve` runs, the
 * broadcast / answer / gather / merge of one batch of requests, and the
 * reload of a new model set between batches.
 *
 * Store-derived state, loaded once (Collective, mkt_serve_model_open):
 *   - rank 0: the user and item dictionaries (external id -> dense index);
 *   - every rank, from the /events/by_item rows of its own item block: the
 *     purchase count of each item (cold-start popularity) and, by user, the
 *     items of the block the user bought (CSR: int64 [U + 1] offsets, int32
 *     block rows), which a recommend leaves out.
 * A model set (everything read from the model file and the strategy file):
 *   - for the rank's user block: the first /models/uplift row of each user,
 *     the segment assignment, the propensity features, the strategy row;
 *   - /models/mf factors and biases, whole (a recommend needs the user's
 *     vector on every rank, a similar the query item's vector), and a
 *     float32 copy and int8 codes of the own item block's factors and
 *     biases that screen similar and recommend (src/topk.h; answers are
 *     those of double);
 *   - small things on every rank (propensity parameters) or on rank 0
 *     (arm and segment names).
 *
 * Loading a set is "plan" (check shapes, allocate, read small metadata; a
 * problem is an error message, never an exit, so a bad reload leaves the
 * gateway serving), then bounded "steps" of independent row reads (at most
 * a given number of bytes per rank per step), then "finish" (derived arrays, close
 * the files).  At start-up the steps run back to back; during a reload
 * rank 0 broadcasts one step at a time between batches, and after the last
 * one every rank swaps to the new set in the same collective call.
 *
 * One batch (Collective, mkt_serve_fanout): a 2-int64 header (kind and a
 * count) is broadcast with MPI_Ibcast, which the waiting ranks poll with
 * short sleeps so an idle gateway does not spin a core per rank; then the
 * mkt_work array (MPI_Bcast), each rank answers the items it owns as compact
 * JSON, the texts are gathered on rank 0 (MPI_Gatherv) and merged.
 * Must not: touch ZeroMQ or client input. */
#include "serve_fanout.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "iocheck.h"
#include "h5store.h"
#include "ids.h"
#include "linmodel.h"
#include "mlp.h"
#include "par.h"
#include "schema.h"
#include "topk.h"
#include "validate.h"

#define EVENT_PURCHASE 4
#define PURCHASE_CHUNK (1 << 20) /* events read at once when loading the purchases */
#define PATH_MAX_BYTES 4096

enum { HDR_STOP = 0, HDR_BATCH = 1, HDR_RELOAD = 2, HDR_STEP = 3 };

/* ---------- chunked reads ---------- */

typedef struct {
    hid_t file;
    char path[192];
    hid_t type;        /* memory type (numeric reads) */
    int strings;       /* read fixed-length strings into (char **)dest */
    int64_t start, count, done, row_bytes;
    void *dest;
} read_task;

typedef struct {
    read_task *t;
    int64_t n, cap, next;
} loader;

static void add_read(loader *l, hid_t file, const char *path, hid_t type, int64_t start, int64_t count,
                     int64_t cols, void *dest)
{
    if (count <= 0)
        return;
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 16;
        read_task *t = realloc(l->t, (size_t)l->cap * sizeof *t);
        if (!t)
            mkt_fail("serve: out of memory");
        l->t = t;
    }
    read_task *t = &l->t[l->n++];
    memset(t, 0, sizeof *t);
    t->file = file;
    snprintf(t->path, sizeof t->path, "%s", path);
    t->type = type;
    t->start = start;
    t->count = count;
    t->row_bytes = (int64_t)H5Tget_size(type) * (cols > 0 ? cols : 1);
    t->dest = dest;
}

static void add_strings(loader *l, hid_t file, const char *path, int64_t start, int64_t count, char **dest)
{
    add_read(l, file, path, H5T_NATIVE_CHAR, start, count, 64, dest); /* about 64 bytes a string, for the budget */
    if (count > 0)
        l->t[l->n - 1].strings = 1;
}

/* Read up to budget bytes of the remaining tasks. Returns 1 when nothing is left. */
static int loader_step(loader *l, int64_t budget)
{
    while (l->next < l->n && budget > 0) {
        read_task *t = &l->t[l->next];
        int64_t fit = budget / t->row_bytes > 0 ? budget / t->row_bytes : 1;
        int64_t rows = t->count - t->done < fit ? t->count - t->done : fit;
        if (t->strings) {
            char **s = mkt_h5_read_strings(t->file, t->path, t->start + t->done, rows);
            memcpy((char **)t->dest + t->done, s, (size_t)rows * sizeof(char *));
            free(s);
        } else {
            mkt_h5_read_rows(t->file, t->path, t->type, t->start + t->done, rows,
                             (char *)t->dest + t->done * t->row_bytes);
        }
        t->done += rows;
        budget -= rows * t->row_bytes;
        if (t->done == t->count)
            l->next++;
    }
    return l->next >= l->n;
}

/* ---------- a model set ---------- */

typedef struct {
    hid_t file, strategy_file; /* open while loading */
    char *path, *strategy_path;
    int64_t version;
    double mtime, strategy_mtime, loaded_at;
    loader load;

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
    mkt_f32_rows item_f32;     /* own item block in float32 and int8, for screening (src/topk.h) */

    int has_propensity;
    mkt_mlp mlp;               /* hidden == 0: logistic regression */
    int64_t horizon_days;
    double *prop_params, *prop_mean, *prop_std, *prop_x; /* prop_x: own users x inputs, raw features */

    int has_strategy;
    int64_t strat_k, strat_arms;
    char **strat_arm_names;    /* rank 0 */
    int64_t strat_segments;
    char **strat_segment_names; /* rank 0: /strategy/segment_names (older files: none) */
    int64_t *strat_row;        /* per own user: local row, -1 when absent */
    int64_t strat_local;
    int32_t *strat_segment, *strat_promotion;
    int64_t *strat_items;
    double *strat_scores, *strat_price, *strat_profit, *strat_cost, *strat_uconv, *strat_uspend;
    char **strat_message;
} model_set;

struct mkt_serve_model {
    int rank, nranks;
    hid_t store;
    int64_t users, items;
    mkt_block user_block, item_block;
    mkt_dict user_dict, item_dict; /* rank 0 */
    int64_t *bought_ptr;           /* [U + 1]: user u bought rows bought[bought_ptr[u]..bought_ptr[u + 1]) */
    int32_t *bought;               /* of the own item block (item - block begin), sorted, distinct */
    int64_t *item_purchases;       /* own item block */
    model_set *cur, *next;         /* next: being loaded (reload), NULL otherwise */
    int64_t reloads_failed;
    char last_error[512];
};

static void set_free(mkt_serve_model *m, model_set *s)
{
    if (!s)
        return;
    if (s->file > 0)
        mkt_h5_close(s->file);
    if (s->strategy_file > 0)
        mkt_h5_close(s->strategy_file);
    free(s->load.t);
    free(s->path);
    free(s->strategy_path);
    if (m->rank == 0) {
        mkt_h5_free_strings(s->arm_names, s->uplift_arms + 1);
        mkt_h5_free_strings(s->segment_names, s->segments);
        mkt_h5_free_strings(s->strat_arm_names, s->strat_arms);
        if (s->strat_segment_names)
            mkt_h5_free_strings(s->strat_segment_names, s->strat_segments);
    }
    mkt_h5_free_strings(s->strat_message, s->strat_local);
    free(s->outcome);
    free(s->uplift_row);
    free(s->uplift_outcome);
    free(s->uplift_spend);
    free(s->assignment);
    free(s->user_factors);
    free(s->item_factors);
    free(s->user_bias);
    free(s->item_bias);
    free(s->item_norm);
    mkt_f32_rows_free(&s->item_f32);
    free(s->prop_params);
    free(s->prop_mean);
    free(s->prop_std);
    free(s->prop_x);
    free(s->strat_row);
    free(s->strat_segment);
    free(s->strat_promotion);
    free(s->strat_items);
    free(s->strat_scores);
    free(s->strat_price);
    free(s->strat_profit);
    free(s->strat_cost);
    free(s->strat_uconv);
    free(s->strat_uspend);
    free(s);
}

/* Shape of a dataset; 0 when it exists (cols 0 for 1-D), -1 when missing. */
static int shape(hid_t f, const char *path, int64_t *rows, int64_t *cols)
{
    if (!mkt_h5_exists(f, path))
        return -1;
    int64_t c = 0;
    *rows = mkt_h5_rows(f, path, &c);
    if (cols)
        *cols = c;
    return 0;
}

static void *alloc_rows(int64_t rows, int64_t cols, size_t size)
{
    int64_t n = rows * (cols > 0 ? cols : 1);
    return mkt_xcalloc((size_t)(n > 0 ? n : 1), size);
}

#define WHY(...)                                                                                             \
    do {                                                                                                     \
        snprintf(why, len, __VA_ARGS__);                                                                     \
        return -1;                                                                                           \
    } while (0)

/* The rows [first, first + n) of a sorted-or-not user column that hold this
 * rank's users, and for each own user its first local row (-1: none). */
static int64_t *own_rows(const int64_t *user, int64_t rows, mkt_block b, int64_t *first, int64_t *n)
{
    int64_t lo = -1, hi = -1;
    for (int64_t r = 0; r < rows; r++)
        if (user[r] >= b.begin && user[r] < b.end) {
            if (lo < 0)
                lo = r;
            hi = r;
        }
    int64_t own = b.end - b.begin;
    int64_t *map = mkt_xmalloc((size_t)(own > 0 ? own : 1) * sizeof *map);
    for (int64_t u = 0; u < own; u++)
        map[u] = -1;
    for (int64_t r = lo; r >= 0 && r <= hi; r++)
        if (user[r] >= b.begin && user[r] < b.end && map[user[r] - b.begin] < 0)
            map[user[r] - b.begin] = r - lo;
    *first = lo < 0 ? 0 : lo;
    *n = lo < 0 ? 0 : hi - lo + 1;
    return map;
}

static int plan_uplift(mkt_serve_model *m, model_set *s, char *why, size_t len)
{
    hid_t f = s->file;
    s->outcome = mkt_h5_attr_get_string(f, MKT_MODELS_UPLIFT, "outcome");
    if (!s->outcome)
        s->outcome = mkt_xstrdup("conversion");
    if (strcmp(s->outcome, "conversion") && strcmp(s->outcome, "visit"))
        WHY("%s: /models/uplift: outcome attribute '%.40s' is not conversion or visit", s->path, s->outcome);
    char pred[96];
    snprintf(pred, sizeof pred, "/models/uplift/predicted_%s", s->outcome);
    int64_t rows, arms = 0, rs, cs = 0, ru, tn;
    if (shape(f, pred, &rows, &arms) || shape(f, MKT_MODELS_UPLIFT_PREDICTED_SPEND, &rs, &cs) ||
        shape(f, MKT_MODELS_UPLIFT_USER, &ru, NULL) || shape(f, MKT_MODELS_UPLIFT_ARMS, &tn, NULL) || rs != rows ||
        cs != arms || ru != rows || tn != (arms > 0 ? arms : 1) + 1)
        WHY("%s: /models/uplift: predicted_%s, predicted_spend, user and arms disagree in shape or are missing",
            s->path, s->outcome);
    s->uplift_arms = arms > 0 ? arms : 1;
    int64_t *user = alloc_rows(rows, 0, sizeof(int64_t));
    mkt_h5_read_rows(f, MKT_MODELS_UPLIFT_USER, H5T_NATIVE_INT64, 0, rows, user);
    int64_t first, n;
    s->uplift_row = own_rows(user, rows, m->user_block, &first, &n);
    free(user);
    s->uplift_outcome = alloc_rows(n, s->uplift_arms, sizeof(double));
    s->uplift_spend = alloc_rows(n, s->uplift_arms, sizeof(double));
    add_read(&s->load, f, pred, H5T_NATIVE_DOUBLE, first, n, s->uplift_arms, s->uplift_outcome);
    add_read(&s->load, f, MKT_MODELS_UPLIFT_PREDICTED_SPEND, H5T_NATIVE_DOUBLE, first, n, s->uplift_arms,
             s->uplift_spend);
    if (m->rank == 0)
        s->arm_names = mkt_h5_read_strings(f, MKT_MODELS_UPLIFT_ARMS, 0, s->uplift_arms + 1);
    return 0;
}

static int plan_segments(mkt_serve_model *m, model_set *s, char *why, size_t len)
{
    hid_t f = s->file;
    int64_t rows;
    if (shape(f, MKT_MODELS_SEGMENTS_ASSIGNMENT, &rows, NULL) || rows != m->users)
        WHY("%s: /models/segments/assignment does not have one row per store user", s->path);
    if (shape(f, MKT_MODELS_SEGMENTS_NAMES, &s->segments, NULL))
        WHY("%s: /models/segments/names is missing", s->path);
    int64_t own = m->user_block.end - m->user_block.begin;
    s->assignment = alloc_rows(own, 0, sizeof(int32_t));
    add_read(&s->load, f, MKT_MODELS_SEGMENTS_ASSIGNMENT, H5T_NATIVE_INT32, m->user_block.begin, own, 0,
             s->assignment);
    if (m->rank == 0)
        s->segment_names = mkt_h5_read_strings(f, MKT_MODELS_SEGMENTS_NAMES, 0, s->segments);
    return 0;
}

static int plan_mf(mkt_serve_model *m, model_set *s, char *why, size_t len)
{
    hid_t f = s->file;
    int64_t ur, k = 0, ir, k2 = 0, ub, ib;
    if (shape(f, MKT_MODELS_MF_USER_FACTORS, &ur, &k) || shape(f, MKT_MODELS_MF_ITEM_FACTORS, &ir, &k2) ||
        shape(f, MKT_MODELS_MF_USER_BIAS, &ub, NULL) || shape(f, MKT_MODELS_MF_ITEM_BIAS, &ib, NULL) ||
        ur != m->users || ir != m->items || k != k2 || k < 1 || ub != m->users || ib != m->items)
        WHY("%s: /models/mf does not match the store (expected user_factors [%lld x K], item_factors [%lld x K], "
            "user_bias, item_bias)", s->path, (long long)m->users, (long long)m->items);
    s->factors = k;
    s->global_mean = mkt_h5_attr_get_double(f, MKT_MODELS_MF, "global_mean", 0.0);
    s->user_factors = alloc_rows(m->users, k, sizeof(double));
    s->item_factors = alloc_rows(m->items, k, sizeof(double));
    s->user_bias = alloc_rows(m->users, 0, sizeof(double));
    s->item_bias = alloc_rows(m->items, 0, sizeof(double));
    s->item_norm = alloc_rows(m->items, 0, sizeof(double));
    add_read(&s->load, f, MKT_MODELS_MF_USER_BIAS, H5T_NATIVE_DOUBLE, 0, m->users, 0, s->user_bias);
    add_read(&s->load, f, MKT_MODELS_MF_ITEM_BIAS, H5T_NATIVE_DOUBLE, 0, m->items, 0, s->item_bias);
    add_read(&s->load, f, MKT_MODELS_MF_USER_FACTORS, H5T_NATIVE_DOUBLE, 0, m->users, k, s->user_factors);
    add_read(&s->load, f, MKT_MODELS_MF_ITEM_FACTORS, H5T_NATIVE_DOUBLE, 0, m->items, k, s->item_factors);
    return 0;
}

/* /models/propensity (as stages/train_propensity.c writes it) and the features
 * of the own user block from the store group it was trained on. */
static int plan_propensity(mkt_serve_model *m, model_set *s, char *why, size_t len)
{
    hid_t f = s->file;
    const char *g = MKT_MODELS_PROPENSITY;
    s->mlp.hidden = (int)mkt_h5_attr_get_int(f, g, "hidden_layers", 0);
    s->mlp.inputs = (int)mkt_h5_attr_get_int(f, g, "inputs", 0);
    if (s->mlp.hidden < 0 || s->mlp.hidden > MKT_MLP_MAX_HIDDEN || s->mlp.inputs < 1)
        WHY("%s: %s: bad hidden_layers or inputs attribute", s->path, g);
    for (int l = 0; l < s->mlp.hidden; l++) {
        char name[32];
        snprintf(name, sizeof name, "hidden_%d", l + 1);
        s->mlp.sizes[l] = (int)mkt_h5_attr_get_int(f, g, name, 0);
        if (s->mlp.sizes[l] < 1)
            WHY("%s: %s: bad %s attribute", s->path, g, name);
    }
    s->horizon_days = mkt_h5_attr_get_int(f, g, "horizon_days", 7);
    int64_t d = s->mlp.inputs;
    int64_t np = s->mlp.hidden ? mkt_mlp_nparams(&s->mlp) : mkt_logreg_nparams((int)d), rp, rm, rs, rn;
    if (shape(f, MKT_MODELS_PROPENSITY_PARAMS, &rp, NULL) || shape(f, MKT_MODELS_PROPENSITY_FEATURE_MEAN, &rm, NULL) ||
        shape(f, MKT_MODELS_PROPENSITY_FEATURE_STD, &rs, NULL) ||
        shape(f, MKT_MODELS_PROPENSITY_FEATURE_NAMES, &rn, NULL) || rp != np || rm != d || rs != d || rn != d)
        WHY("%s: %s: params, feature_mean, feature_std or feature_names do not match the architecture", s->path, g);
    char *group = mkt_h5_attr_get_string(f, g, "features_group");
    char fpath[300], npath[300];
    snprintf(fpath, sizeof fpath, "%s/users", group && *group ? group : MKT_FEATURES_PROPENSITY);
    snprintf(npath, sizeof npath, "%s/user_names", group && *group ? group : MKT_FEATURES_PROPENSITY);
    free(group);
    int64_t fr, fc = 0, nn;
    if (shape(m->store, fpath, &fr, &fc) || shape(m->store, npath, &nn, NULL) || fr != m->users || fc != d || nn != d)
        WHY("store: %s with %lld columns for every user is needed by the propensity model (run mkt features "
            "or mkt train propensity on this store)", fpath, (long long)d);
    /* the features must be the ones the model was trained on, in the same order */
    char **want = mkt_h5_read_strings(f, MKT_MODELS_PROPENSITY_FEATURE_NAMES, 0, d);
    char **have = mkt_h5_read_strings(m->store, npath, 0, d);
    int64_t bad = -1;
    for (int64_t j = 0; j < d && bad < 0; j++)
        if (strcmp(want[j], have[j]) != 0)
            bad = j;
    if (bad >= 0)
        snprintf(why, len, "%s: propensity feature %lld is '%.60s' but the store's %s has '%.60s'", s->path,
                 (long long)bad, want[bad], npath, have[bad]);
    mkt_h5_free_strings(want, d);
    mkt_h5_free_strings(have, d);
    if (bad >= 0)
        return -1;
    s->prop_params = alloc_rows(np, 0, sizeof(double));
    s->prop_mean = alloc_rows(d, 0, sizeof(double));
    s->prop_std = alloc_rows(d, 0, sizeof(double));
    mkt_h5_read_rows(f, MKT_MODELS_PROPENSITY_PARAMS, H5T_NATIVE_DOUBLE, 0, np, s->prop_params);
    mkt_h5_read_rows(f, MKT_MODELS_PROPENSITY_FEATURE_MEAN, H5T_NATIVE_DOUBLE, 0, d, s->prop_mean);
    mkt_h5_read_rows(f, MKT_MODELS_PROPENSITY_FEATURE_STD, H5T_NATIVE_DOUBLE, 0, d, s->prop_std);
    int64_t own = m->user_block.end - m->user_block.begin;
    s->prop_x = alloc_rows(own, d, sizeof(double));
    add_read(&s->load, m->store, fpath, H5T_NATIVE_DOUBLE, m->user_block.begin, own, d, s->prop_x);
    return 0;
}

/* /strategy of the strategy file: user [N] (dense index), segment [N],
 * items [N x K] (-1 pad), item_scores [N x K], price [N x K], promotion [N]
 * (-1 none, else an index into arms), expected_profit, expected_cost,
 * uplift_conversion, uplift_spend [N], message [N], arms [A], and
 * segment_names [G] (optional: files written before it lack it). */
static int plan_strategy(mkt_serve_model *m, model_set *s, char *why, size_t len)
{
    hid_t f = s->strategy_file;
    const char *p = s->strategy_path;
    int64_t n, k = 0, r, c;
    if (shape(f, MKT_STRATEGY_USER, &n, NULL))
        WHY("%s: /strategy/user is missing (write the file with mkt strategy)", p);
    if (shape(f, MKT_STRATEGY_ITEMS, &r, &k) || r != n || k < 1)
        WHY("%s: /strategy/items must be [%lld x K]", p, (long long)n);
    const char *per_row[] = {"segment", "promotion", "expected_profit", "expected_cost", "uplift_conversion",
                             "uplift_spend", "message"};
    for (size_t i = 0; i < sizeof per_row / sizeof *per_row; i++) {
        char path[96];
        snprintf(path, sizeof path, "/strategy/%s", per_row[i]);
        if (shape(f, path, &r, NULL) || r != n)
            WHY("%s: %s must have %lld rows, like /strategy/user", p, path, (long long)n);
    }
    if (shape(f, MKT_STRATEGY_ITEM_SCORES, &r, &c) || r != n || c != k || shape(f, MKT_STRATEGY_PRICE, &r, &c) ||
        r != n || c != k)
        WHY("%s: /strategy/item_scores and /strategy/price must be [%lld x %lld], like /strategy/items", p,
            (long long)n, (long long)k);
    if (shape(f, MKT_STRATEGY_ARMS, &s->strat_arms, NULL))
        s->strat_arms = 0;
    s->strat_k = k;
    int64_t *user = alloc_rows(n, 0, sizeof(int64_t));
    mkt_h5_read_rows(f, MKT_STRATEGY_USER, H5T_NATIVE_INT64, 0, n, user);
    for (int64_t i = 0; i < n; i++)
        if (user[i] < 0 || user[i] >= m->users) {
            long long bad = (long long)user[i];
            free(user);
            WHY("%s: /strategy/user[%lld] = %lld is not a user of the store (0..%lld)", p, (long long)i, bad,
                (long long)m->users - 1);
        }
    int64_t first, nl;
    s->strat_row = own_rows(user, n, m->user_block, &first, &nl);
    free(user);
    s->strat_local = nl;
    s->strat_segment = alloc_rows(nl, 0, sizeof(int32_t));
    s->strat_promotion = alloc_rows(nl, 0, sizeof(int32_t));
    s->strat_items = alloc_rows(nl, k, sizeof(int64_t));
    s->strat_scores = alloc_rows(nl, k, sizeof(double));
    s->strat_price = alloc_rows(nl, k, sizeof(double));
    s->strat_profit = alloc_rows(nl, 0, sizeof(double));
    s->strat_cost = alloc_rows(nl, 0, sizeof(double));
    s->strat_uconv = alloc_rows(nl, 0, sizeof(double));
    s->strat_uspend = alloc_rows(nl, 0, sizeof(double));
    s->strat_message = alloc_rows(nl, 0, sizeof(char *));
    loader *l = &s->load;
    add_read(l, f, MKT_STRATEGY_SEGMENT, H5T_NATIVE_INT32, first, nl, 0, s->strat_segment);
    add_read(l, f, MKT_STRATEGY_PROMOTION, H5T_NATIVE_INT32, first, nl, 0, s->strat_promotion);
    add_read(l, f, MKT_STRATEGY_ITEMS, H5T_NATIVE_INT64, first, nl, k, s->strat_items);
    add_read(l, f, MKT_STRATEGY_ITEM_SCORES, H5T_NATIVE_DOUBLE, first, nl, k, s->strat_scores);
    add_read(l, f, MKT_STRATEGY_PRICE, H5T_NATIVE_DOUBLE, first, nl, k, s->strat_price);
    add_read(l, f, MKT_STRATEGY_EXPECTED_PROFIT, H5T_NATIVE_DOUBLE, first, nl, 0, s->strat_profit);
    add_read(l, f, MKT_STRATEGY_EXPECTED_COST, H5T_NATIVE_DOUBLE, first, nl, 0, s->strat_cost);
    add_read(l, f, MKT_STRATEGY_UPLIFT_CONVERSION, H5T_NATIVE_DOUBLE, first, nl, 0, s->strat_uconv);
    add_read(l, f, MKT_STRATEGY_UPLIFT_SPEND, H5T_NATIVE_DOUBLE, first, nl, 0, s->strat_uspend);
    add_strings(l, f, MKT_STRATEGY_MESSAGE, first, nl, s->strat_message);
    if (m->rank == 0 && s->strat_arms > 0)
        s->strat_arm_names = mkt_h5_read_strings(f, MKT_STRATEGY_ARMS, 0, s->strat_arms);
    if (shape(f, MKT_STRATEGY_SEGMENT_NAMES, &s->strat_segments, NULL))
        s->strat_segments = 0;
    if (m->rank == 0 && s->strat_segments > 0)
        s->strat_segment_names = mkt_h5_read_strings(f, MKT_STRATEGY_SEGMENT_NAMES, 0, s->strat_segments);
    return 0;
}

/* Rank 0, before a collective open: the checks mkt_h5_open makes, as a
 * message instead of an exit (a bad reload must leave the gateway serving). */
static int diagnose_file(const char *path, double *mtime, char *why, size_t len)
{
    struct stat st;
    if (stat(path, &st) != 0)
        WHY("%s: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        WHY("%s: not a regular file", path);
    *mtime = (double)st.st_mtim.tv_sec + 1e-9 * (double)st.st_mtim.tv_nsec;
    FILE *fp = fopen(path, "rb");
    if (!fp)
        WHY("%s: %s", path, strerror(errno));
    unsigned char sig[8] = {0};
    size_t got = fread(sig, 1, 8, fp);
    fclose(fp);
    static const unsigned char h5sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    if (got < 8 || memcmp(sig, h5sig, 8) != 0)
        WHY("%s: not an HDF5 file (no HDF5 signature at the start)", path);
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (file < 0)
        WHY("%s: HDF5 cannot open it; the file is truncated or corrupt", path);
    char *fmt = mkt_h5_attr_get_string(file, ".", "format");
    int64_t version = mkt_h5_attr_get_int(file, ".", "schema_version", -1);
    H5Fclose(file);
    int ok = fmt && !strncmp(fmt, "mkt-", 4);
    free(fmt);
    if (!ok)
        WHY("%s: an HDF5 file, but not one written by mkt (no 'format' attribute)", path);
    if (version != MKT_SCHEMA_VERSION)
        WHY("%s: schema version %lld, this mkt reads version %d", path, (long long)version, MKT_SCHEMA_VERSION);
    return 0;
}

/* Collective. Open the files of a new set and plan its reads. Returns the set,
 * or NULL with why (identical on every rank).  require_models: refuse a model
 * file without any model (a reload of the wrong file). */
static model_set *set_begin(mkt_serve_model *m, const char *path, const char *strategy, int require_models,
                            char *why, size_t len, MPI_Comm comm)
{
    double mt[2] = {0, 0};
    int bad = 0;
    why[0] = 0;
    if (m->rank == 0)
        bad = diagnose_file(path, &mt[0], why, len) || (strategy && diagnose_file(strategy, &mt[1], why, len));
    MKT_MPI(MPI_Bcast(&bad, 1, MPI_INT, 0, comm));
    if (bad) {
        MKT_MPI(MPI_Bcast(why, (int)len, MPI_CHAR, 0, comm));
        return NULL;
    }
    MKT_MPI(MPI_Bcast(mt, 2, MPI_DOUBLE, 0, comm));
    /* what the files hold (io/validate.h), as a message: mkt_h5_open below
     * would end the job, and a bad reload must leave the old set serving */
    if (mkt_validate_path(path, comm, why, len) != 0 || (strategy && mkt_validate_path(strategy, comm, why, len) != 0))
        return NULL;
    model_set *s = mkt_xcalloc(1, sizeof *s);
    s->path = mkt_xstrdup(path);
    s->strategy_path = strategy ? mkt_xstrdup(strategy) : NULL;
    s->mtime = mt[0];
    s->strategy_mtime = mt[1];
    s->file = mkt_h5_open(path, 0, comm);
    if (strategy)
        s->strategy_file = mkt_h5_open(strategy, 0, comm);
    s->has_uplift = mkt_h5_exists(s->file, MKT_MODELS_UPLIFT_USER);
    s->has_segments = mkt_h5_exists(s->file, MKT_MODELS_SEGMENTS_ASSIGNMENT);
    s->has_mf = mkt_h5_exists(s->file, MKT_MODELS_MF_USER_FACTORS);
    s->has_propensity = mkt_h5_exists(s->file, MKT_MODELS_PROPENSITY_PARAMS);
    s->has_strategy = strategy != NULL;
    char mine[512] = "";
    if (require_models && !s->has_uplift && !s->has_segments && !s->has_mf && !s->has_propensity) {
        /* the same verdict on every rank: the flags come from the same file */
        snprintf(why, len, "%s has none of /models/uplift, /models/segments, /models/mf, /models/propensity", path);
        set_free(m, s);
        return NULL;
    }
    int failed = (s->has_uplift && plan_uplift(m, s, mine, sizeof mine)) ||
                 (s->has_segments && plan_segments(m, s, mine, sizeof mine)) ||
                 (s->has_mf && plan_mf(m, s, mine, sizeof mine)) ||
                 (s->has_propensity && plan_propensity(m, s, mine, sizeof mine)) ||
                 (s->has_strategy && plan_strategy(m, s, mine, sizeof mine));
    /* the lowest failing rank's message, on every rank */
    int who = failed ? m->rank : m->nranks, first = m->nranks;
    MKT_MPI(MPI_Allreduce(&who, &first, 1, MPI_INT, MPI_MIN, comm));
    if (first < m->nranks) {
        MKT_MPI(MPI_Bcast(mine, sizeof mine, MPI_CHAR, first, comm));
        snprintf(why, len, "%s", mine);
        set_free(m, s);
        return NULL;
    }
    return s;
}

/* Collective. After the last read: derived arrays; the files are closed. */
static void set_finish(mkt_serve_model *m, model_set *s)
{
    for (int64_t i = 0; s->has_mf && i < m->items; i++) {
        double sum = 0;
        for (int64_t j = 0; j < s->factors; j++)
            sum += s->item_factors[i * s->factors + j] * s->item_factors[i * s->factors + j];
        s->item_norm[i] = sqrt(sum);
    }
    if (s->has_mf) {
        int64_t b0 = m->item_block.begin, own = m->item_block.end - b0;
        if (mkt_f32_rows_init(&s->item_f32, s->item_factors + b0 * s->factors, s->item_bias + b0, own, s->factors))
            mkt_fail("serve: out of memory for the float32 copy of %lld item factors", (long long)own);
    }
    mkt_h5_close(s->file);
    s->file = 0;
    if (s->strategy_file > 0)
        mkt_h5_close(s->strategy_file);
    s->strategy_file = 0;
    free(s->load.t);
    memset(&s->load, 0, sizeof s->load);
    s->loaded_at = (double)time(NULL);
}

/* ---------- the store, once ---------- */

static char **read_names(hid_t f, const char *path, int64_t *n)
{
    *n = mkt_h5_rows(f, path, NULL);
    return mkt_h5_read_strings(f, path, 0, *n);
}

static void load_store(mkt_serve_model *m)
{
    if (m->rank == 0) {
        int64_t n;
        char **names = read_names(m->store, MKT_IDS_USERS, &n);
        mkt_dict_from_sorted(&m->user_dict, names, n);
        names = read_names(m->store, MKT_IDS_ITEMS, &n);
        mkt_dict_from_sorted(&m->item_dict, names, n);
    }
    /* the purchase events of the own item block (/events/by_item), read in
     * chunks: each item's purchase count, and who bought what, by user */
    int64_t own = m->item_block.end - m->item_block.begin;
    int64_t *ip = mkt_xmalloc((size_t)(own + 1) * sizeof *ip);
    mkt_h5_read_rows(m->store, MKT_EVENTS_BY_ITEM_INDPTR, H5T_NATIVE_INT64, m->item_block.begin, own + 1, ip);
    int64_t nev = ip[own] - ip[0], chunk = nev < PURCHASE_CHUNK ? nev : PURCHASE_CHUNK;
    int32_t *type = mkt_xmalloc((size_t)(chunk > 0 ? chunk : 1) * sizeof *type);
    int32_t *user = mkt_xmalloc((size_t)(chunk > 0 ? chunk : 1) * sizeof *user);
    m->item_purchases = mkt_xcalloc((size_t)(own > 0 ? own : 1), sizeof(int64_t));
    m->bought_ptr = mkt_xcalloc((size_t)(m->users + 1), sizeof(int64_t));
    int64_t npair = 0, cap = 1024, item = 0;
    int32_t (*pair)[2] = mkt_xmalloc((size_t)cap * sizeof *pair); /* (user, block row), by row */
    for (int64_t e0 = 0; e0 < nev; e0 += chunk) {
        int64_t n = nev - e0 < chunk ? nev - e0 : chunk;
        mkt_h5_read_rows(m->store, MKT_EVENTS_BY_ITEM_TYPE, H5T_NATIVE_INT32, ip[0] + e0, n, type);
        mkt_h5_read_rows(m->store, MKT_EVENTS_BY_ITEM_USER, H5T_NATIVE_INT32, ip[0] + e0, n, user);
        for (int64_t e = 0; e < n; e++) {
            while (ip[item + 1] - ip[0] <= e0 + e)
                item++;
            if (type[e] != EVENT_PURCHASE)
                continue;
            if (user[e] < 0 || user[e] >= m->users)
                mkt_fail("serve: the store's /events/by_item/user[%lld] = %d is not a user (0..%lld)",
                         (long long)(ip[0] + e0 + e), (int)user[e], (long long)m->users - 1);
            m->item_purchases[item]++;
            if (npair > 0 && pair[npair - 1][0] == user[e] && pair[npair - 1][1] == (int32_t)item)
                continue;
            if (npair == cap) {
                cap *= 2;
                pair = realloc(pair, (size_t)cap * sizeof *pair);
                if (!pair)
                    mkt_fail("serve: out of memory for the purchases of %lld items", (long long)own);
            }
            pair[npair][0] = user[e];
            pair[npair][1] = (int32_t)item;
            npair++;
        }
    }
    /* counting sort by user; rows come in increasing order, so each user's
     * list is sorted, and a repeated purchase of an item is adjacent */
    for (int64_t q = 0; q < npair; q++)
        m->bought_ptr[pair[q][0] + 1]++;
    for (int64_t u = 0; u < m->users; u++)
        m->bought_ptr[u + 1] += m->bought_ptr[u];
    int64_t *fill = mkt_xmalloc((size_t)(m->users > 0 ? m->users : 1) * sizeof *fill);
    memcpy(fill, m->bought_ptr, (size_t)m->users * sizeof *fill);
    m->bought = mkt_xmalloc((size_t)(npair > 0 ? npair : 1) * sizeof *m->bought);
    for (int64_t q = 0; q < npair; q++) {
        int64_t u = pair[q][0];
        if (fill[u] == m->bought_ptr[u] || m->bought[fill[u] - 1] != pair[q][1])
            m->bought[fill[u]++] = pair[q][1];
    }
    /* close the gaps the repeats left */
    int64_t at = 0;
    for (int64_t u = 0; u < m->users; u++) {
        int64_t from = m->bought_ptr[u], n = fill[u] - from;
        memmove(m->bought + at, m->bought + from, (size_t)n * sizeof *m->bought);
        m->bought_ptr[u] = at;
        at += n;
    }
    m->bought_ptr[m->users] = at;
    free(fill);
    free(pair);
    free(user);
    free(type);
    free(ip);
}

mkt_serve_model *mkt_serve_model_open(const char *store, const char *models, const char *strategy, MPI_Comm comm)
{
    mkt_serve_model *m = mkt_xcalloc(1, sizeof *m);
    MKT_MPI(MPI_Comm_rank(comm, &m->rank));
    MKT_MPI(MPI_Comm_size(comm, &m->nranks));
    m->store = mkt_h5_open(store, 0, comm);
    m->users = mkt_h5_rows(m->store, MKT_IDS_USERS, NULL);
    m->items = mkt_h5_rows(m->store, MKT_IDS_ITEMS, NULL);
    m->user_block = mkt_block_of(m->users, m->nranks, m->rank);
    m->item_block = mkt_block_of(m->items, m->nranks, m->rank);
    load_store(m);
    char why[1024];
    model_set *s = set_begin(m, models, strategy, 0, why, sizeof why, comm);
    if (!s)
        mkt_fail_all(MKT_EXIT_ERROR, "serve: %s", why);
    loader_step(&s->load, INT64_MAX);
    set_finish(m, s);
    s->version = 1;
    m->cur = s;
    MKT_MPI(MPI_Barrier(comm));
    return m;
}

void mkt_serve_model_close(mkt_serve_model *m)
{
    if (!m)
        return;
    set_free(m, m->next);
    set_free(m, m->cur);
    mkt_h5_close(m->store);
    if (m->rank == 0) {
        mkt_dict_free(&m->user_dict);
        mkt_dict_free(&m->item_dict);
    }
    free(m->bought_ptr);
    free(m->bought);
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
    const model_set *s = m->cur;
    switch (op) {
    case MKT_OP_UPLIFT: return s->has_uplift;
    case MKT_OP_SEGMENT: return s->has_segments;
    case MKT_OP_SCORE:
    case MKT_OP_RECOMMEND:
    case MKT_OP_SIMILAR: return s->has_mf;
    case MKT_OP_PROPENSITY: return s->has_propensity;
    case MKT_OP_STRATEGY: return s->has_strategy;
    default: return 1;
    }
}

int64_t mkt_serve_version(const mkt_serve_model *m) { return m->cur->version; }
int mkt_serve_reloading(const mkt_serve_model *m) { return m->next != NULL; }

json_t *mkt_serve_model_info(const mkt_serve_model *m)
{
    const model_set *s = m->cur;
    json_t *r = json_pack("{s:I, s:s, s:f, s:f, s:I, s:I, s:b, s:b, s:b, s:b, s:b, s:I}", "version",
                          (json_int_t)s->version, "file", s->path, "mtime", s->mtime, "loaded_at", s->loaded_at,
                          "users", (json_int_t)m->users, "items", (json_int_t)m->items, "uplift", s->has_uplift,
                          "segments", s->has_segments, "mf", s->has_mf, "propensity", s->has_propensity,
                          "strategy", s->has_strategy, "factors", (json_int_t)s->factors);
    json_object_set_new(r, "strategy_file", s->strategy_path ? json_string(s->strategy_path) : json_null());
    if (s->strategy_path)
        json_object_set_new(r, "strategy_mtime", json_real(s->strategy_mtime));
    if (s->has_propensity)
        json_object_set_new(r, "propensity_model", json_string(s->mlp.hidden ? "mlp" : "logistic"));
    int64_t total = 0, done = 0;
    if (m->next)
        for (int64_t i = 0; i < m->next->load.n; i++) {
            total += m->next->load.t[i].count * m->next->load.t[i].row_bytes;
            done += m->next->load.t[i].done * m->next->load.t[i].row_bytes;
        }
    json_t *rl = json_pack("{s:b, s:f, s:I}", "in_progress", m->next != NULL, "fraction_read",
                           m->next && total > 0 ? (double)done / (double)total : m->next ? 0.0 : 1.0, "failed",
                           (json_int_t)m->reloads_failed);
    json_object_set_new(rl, "last_error", m->last_error[0] ? json_string(m->last_error) : json_null());
    json_object_set_new(r, "reload", rl);
    return r;
}

/* ---------- answering one work item on this rank ---------- */

/* Dot product with four interleaved partial sums (the compiler vectorizes
 * it); the order of the additions depends only on k, so a score is the same
 * bits whichever rank's block holds the item. */
static double dot(const double *a, const double *b, int64_t k)
{
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int64_t j = 0;
    for (; j + 4 <= k; j += 4) {
        s0 += a[j] * b[j];
        s1 += a[j + 1] * b[j + 1];
        s2 += a[j + 2] * b[j + 2];
        s3 += a[j + 3] * b[j + 3];
    }
    for (; j < k; j++)
        s0 += a[j] * b[j];
    return (s0 + s1) + (s2 + s3);
}

static double mf_score(const model_set *s, int64_t u, int64_t i)
{
    return s->global_mean + s->user_bias[u] + s->item_bias[i] +
           dot(s->user_factors + u * s->factors, s->item_factors + i * s->factors, s->factors);
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
    double den = s->item_norm[item] * s->item_norm[query];
    const double *q = s->item_factors + query * s->factors;
    return den > 0 ? dot(s->item_factors + item * s->factors, q, s->factors) / den : 0.0;
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
                e = (mkt_screen_bound(k, qn, rn, 0, 0) + 0x1p-51 * qn * rn) / den + 0x1p-51 * fabs(g);
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
    /* the normalization stages/train_propensity.c applies to training examples */
    for (int j = 0; j < d; j++) {
        double z = s->prop_std[j] > 0 ? (raw[j] - s->prop_mean[j]) / s->prop_std[j] : 0.0;
        x[j] = isfinite(z) ? z : 0.0;
    }
    double logit;
    if (s->mlp.hidden == 0) {
        logit = mkt_logreg_logit(s->prop_params, d, x);
    } else {
        double *work = mkt_xmalloc(mkt_mlp_work_size(&s->mlp) * sizeof(double));
        logit = mkt_mlp_logit(&s->mlp, s->prop_params, x, work);
        free(work);
    }
    free(x);
    return json_pack("{s:f, s:I, s:s}", "probability", mkt_sigmoid(logit), "horizon_days",
                     (json_int_t)s->horizon_days, "model", s->mlp.hidden ? "mlp" : "logistic");
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
    model_set *s = set_begin(m, models, *strategy ? strategy : NULL, 1, why, whylen, comm);
    if (!s) {
        m->reloads_failed++;
        snprintf(m->last_error, sizeof m->last_error, "%s", why);
        return -1;
    }
    m->next = s;
    return 0;
}

/* Collective body of one step; swaps when every rank has read everything. */
static int reload_step_body(mkt_serve_model *m, int64_t budget, MPI_Comm comm)
{
    int mine = m->next ? !loader_step(&m->next->load, budget > 0 ? budget : 1) : 0, left = 0;
    MKT_MPI(MPI_Allreduce(&mine, &left, 1, MPI_INT, MPI_MAX, comm));
    if (left || !m->next)
        return 0;
    set_finish(m, m->next);
    m->next->version = m->cur->version + 1;
    set_free(m, m->cur);
    m->cur = m->next;
    m->next = NULL;
    m->last_error[0] = 0;
    return 1;
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
    return reload_step_body(m, budget, comm);
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
            reload_step_body(m, header[1], comm);
        } else {
            mkt_work *work = mkt_xmalloc((size_t)(header[1] > 0 ? header[1] : 1) * sizeof *work);
            fanout_body(m, work, header[1], NULL, comm);
            free(work);
        }
    }
}
