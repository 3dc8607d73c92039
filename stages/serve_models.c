/* serve_models.c — what each rank holds while `mkt serve` runs, and the
 * loading of a model set, at start-up and by reload between batches.
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
 *   - small things on every rank (propensity parameters or forest) or on rank 0
 *     (arm and segment names).
 *
 * Loading a set is "plan" (check shapes, allocate, read small metadata; a
 * problem is an error message, never an exit, so a bad reload leaves the
 * gateway serving), then bounded "steps" of independent row reads (at most
 * a given number of bytes per rank per step), then "finish" (derived arrays, close
 * the files).  At start-up the steps run back to back; during a reload
 * rank 0 broadcasts one step at a time between batches (stages/serve_fanout.c),
 * and after the last one every rank swaps to the new set in the same
 * collective call.
 * Must not: answer requests (stages/serve_fanout.c), touch ZeroMQ or client input. */
#include "serve_models.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "events.h"
#include "forest_io.h"
#include "iocheck.h"
#include "mf_score.h"
#include "model_io.h"
#include "schema.h"
#include "validate.h"

#define EVENT_PURCHASE 4
#define PURCHASE_CHUNK (1 << 20) /* events read at once when loading the purchases */

/* ---------- chunked reads ---------- */

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
    mkt_gbdt_model_free(&s->prop_forest);
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
    mkt_uplift_model um;
    if (mkt_uplift_describe(f, s->path, &um, why, len) != 0)
        return -1;
    s->outcome = mkt_xstrdup(um.outcome ? um.outcome : "conversion");
    int64_t rows = um.rows, arms = um.arms - 1;
    mkt_uplift_model_free(&um);
    char pred[96];
    snprintf(pred, sizeof pred, MKT_MODELS_UPLIFT "/predicted_%s", s->outcome);
    if (rows < 0)
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
    mkt_segments_model sm;
    if (mkt_segments_describe(f, s->path, &sm, why, len) != 0)
        return -1;
    if (sm.users != m->users)
        WHY("%s: /models/segments/assignment does not have one row per store user", s->path);
    s->segments = sm.segments;
    int64_t own = m->user_block.end - m->user_block.begin;
    s->assignment = alloc_rows(own, 0, sizeof(int32_t));
    add_read(&s->load, f, MKT_MODELS_SEGMENTS_ASSIGNMENT, H5T_NATIVE_INT32, m->user_block.begin, own, 0,
             s->assignment);
    if (m->rank == 0)
        s->segment_names = mkt_segments_read_names(f, &sm);
    return 0;
}

static int plan_mf(mkt_serve_model *m, model_set *s, char *why, size_t len)
{
    hid_t f = s->file;
    mkt_mf_stored mf;
    if (mkt_mf_describe(f, s->path, &mf, why, len) != 0)
        return -1;
    if (mf.users != m->users || mf.items != m->items || !mf.has_user_bias || !mf.has_item_bias)
        WHY("%s: /models/mf does not match the store (expected user_factors [%lld x K], item_factors [%lld x K], "
            "user_bias, item_bias)", s->path, (long long)m->users, (long long)m->items);
    int64_t k = mf.factors;
    s->factors = k;
    s->global_mean = mf.global_mean;
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

/* /models/propensity (model_io.h checks its shape) and the features of the
 * own user block from the store group it was trained on. */
static int plan_propensity(mkt_serve_model *m, model_set *s, char *why, size_t len)
{
    hid_t f = s->file;
    mkt_propensity_model pm;
    if (mkt_propensity_describe(f, s->path, MKT_MODELS_PROPENSITY, &pm, why, len) != 0)
        return -1;
    s->mlp = pm.net;
    s->horizon_days = pm.horizon_days;
    s->prop_gbdt = pm.gbdt;
    /* the forest, checked (forest_io.c): a bad one refuses the set */
    if (pm.gbdt && mkt_propensity_read_forest(f, s->path, &pm, &s->prop_forest, why, len) != 0)
        return -1;
    int64_t d = pm.net.inputs, np = pm.nparams;
    char *group = mkt_propensity_features_group(f, &pm);
    char fpath[300], npath[300];
    snprintf(fpath, sizeof fpath, "%s/users", group);
    snprintf(npath, sizeof npath, "%s/user_names", group);
    free(group);
    int64_t fr, fc = 0, nn;
    if (shape(m->store, fpath, &fr, &fc) || shape(m->store, npath, &nn, NULL) || fr != m->users || fc != d || nn != d)
        WHY("store: %s with %lld columns for every user is needed by the propensity model (run mkt features "
            "or mkt train propensity on this store)", fpath, (long long)d);
    /* the features must be the ones the model was trained on, in the same order */
    char **want = mkt_propensity_read_names(f, &pm);
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
    mkt_propensity_read(f, &pm, pm.gbdt ? NULL : s->prop_params, s->prop_mean, s->prop_std);
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
        snprintf(path, sizeof path, MKT_STRATEGY "/%s", per_row[i]);
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
    char *fmt = mkt_h5_attr_get_string(file, ".", MKT_ATTR_FORMAT);
    int64_t version = mkt_h5_attr_get_int(file, ".", MKT_ATTR_SCHEMA_VERSION, -1);
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
    s->has_propensity = mkt_h5_exists(s->file, MKT_MODELS_PROPENSITY_PARAMS) ||
                        mkt_forest_exists(s->file, MKT_MODELS_PROPENSITY);
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
    for (int64_t i = 0; s->has_mf && i < m->items; i++)
        s->item_norm[i] = mkt_mf_norm(s->item_factors + i * s->factors, s->factors);
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
    int64_t *ip = mkt_events_indptr(m->store, MKT_BY_ITEM, m->item_block.begin, own);
    int64_t nev = ip[own] - ip[0], chunk = nev < PURCHASE_CHUNK ? nev : PURCHASE_CHUNK;
    mkt_event_cols ev = {0};
    m->item_purchases = mkt_xcalloc((size_t)(own > 0 ? own : 1), sizeof(int64_t));
    m->bought_ptr = mkt_xcalloc((size_t)(m->users + 1), sizeof(int64_t));
    int64_t npair = 0, cap = 1024, item = 0;
    int32_t (*pair)[2] = mkt_xmalloc((size_t)cap * sizeof *pair); /* (user, block row), by row */
    for (int64_t e0 = 0; e0 < nev; e0 += chunk) {
        int64_t n = nev - e0 < chunk ? nev - e0 : chunk;
        mkt_events_read(m->store, MKT_BY_ITEM, MKT_COL_TYPE | MKT_COL_USER, ip[0] + e0, n, &ev);
        const int32_t *type = ev.type, *user = ev.user;
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
    mkt_event_cols_free(&ev);
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
        json_object_set_new(r, "propensity_model",
                            json_string(s->prop_gbdt ? "gbdt" : s->mlp.hidden ? "mlp" : "logistic"));
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

/* ---------- reload ---------- */

int mkt_serve_next_begin(mkt_serve_model *m, const char *models, const char *strategy, char *why, size_t whylen,
                         MPI_Comm comm)
{
    model_set *s = set_begin(m, models, strategy, 1, why, whylen, comm);
    if (!s) {
        m->reloads_failed++;
        snprintf(m->last_error, sizeof m->last_error, "%s", why);
        return -1;
    }
    m->next = s;
    return 0;
}

int mkt_serve_next_step(mkt_serve_model *m, int64_t budget, MPI_Comm comm)
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
