/* train_mf.c — distributed ALS matrix factorization: reading each rank's
 * user and item blocks of the event store (in chunks of rows, straight into
 * the training rows; optionally only the events before --until), the
 * hold-out split, the
 * alternating half-steps with the exchange of the updated factor rows (an
 * MPI_Allgatherv of the blocks, or an MPI_Alltoallv of only the rows each
 * rank reads),
 * exact (rank-independent) error sums, the distributed top-K evaluation
 * beside a popularity baseline, and the /models/mf group.
 *
 * Explicit mode: ratings (MKT_EV_RATING), biased model
 *   r̂ = μ + b_u + b_i + p_u·q_i, random hold-out by hash of (seed, order).
 * Implicit mode: behaviour events weighted by type, r_ui = sum of weights,
 *   confidence 1 + α·r_ui, each user's last interacted item held out.
 * Per-row arithmetic is in src/mf.c, ranking metrics in src/ranking.c. */
#include "train_mf.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iocheck.h"
#include "checkpoint.h"
#include "exactsum.h"
#include "h5store.h"
#include "metrics_json.h"
#include "mf.h"
#include "mkt_types.h"
#include "par.h"
#include "ranking.h"
#include "schema.h"
#include "teststore.h"

#define STAGE "train_mf"
#define ITEM_SALT (1ULL << 40) /* item rows draw from stream index ITEM_SALT + i */

/* CSR rows: row r has entries ptr[r]..ptr[r+1] of (idx, val). */
typedef struct {
    int64_t n, *ptr;
    int32_t *idx;
    double *val;
} mf_rows;

typedef struct {
    int64_t U, I;
    mkt_block ub, ib;
    mf_rows utrain, utest, itrain; /* utest: held-out ratings, or the held-out item (implicit) */
    mf_rows uvalid;                /* explicit: validation ratings (early stopping, lambda auto) */
    int64_t n_valid;               /* global count of validation ratings */
    int32_t *held;                 /* implicit: held-out item of every user (-1: none), all users */
    int64_t n_train, n_test;       /* global counts of training / held-out entries */
    double mu;                     /* explicit: exact mean of the training ratings */
    int64_t until_ts;              /* events at or after this time are not used (INT64_MIN: unknown end) */
} mf_data;

/* MKT_MEMLOG=1: every rank logs its resident memory (now and peak) at the
 * phase boundaries of a run, to see where the peak comes from. */
static void memlog(const char *phase)
{
    static int on = -1;
    if (on < 0) {
        const char *v = getenv("MKT_MEMLOG");
        on = v && *v && strcmp(v, "0") != 0;
    }
    if (!on)
        return;
    double now, peak;
    mkt_rss_mb(&now, &peak);
    fprintf(stderr, "[rank %d] memory %-28s RSS %8.1f MB  peak %8.1f MB\n", mkt_rank(), phase, now, peak);
}

/* A block of /events/by_user or /events/by_item, read a chunk of whole rows
 * at a time: loading holds one chunk of raw columns (at most
 * MF_READ_EVENTS events, or one longer row) beside the rows it builds, never
 * the block's raw columns. */
#define MF_READ_EVENTS ((int64_t)1 << 18)

typedef struct {
    hid_t f;
    const char *path;  /* the store's file name, for errors */
    const char *grp;   /* "by_user" or "by_item" */
    int64_t other;     /* rows of the other side: every index read must be below it */
    int64_t nrows, nev;
    int64_t first;     /* global position of the block's first event */
    int64_t *ptr;      /* row r: events ptr[r]..ptr[r+1], relative to first */
    int64_t maxchunk;  /* the most events one chunk holds */
} mf_src;

/* Opens rank's block b of group grp (other: the other side's row count).
 * The block's row pointers must be non-decreasing and inside the event
 * columns; anything else is a corrupt store, named and fatal. */
static void src_open(hid_t f, const char *path, const char *grp, int64_t other, mkt_block b, mf_src *s)
{
    char p[64];
    s->f = f;
    s->path = path;
    s->grp = grp;
    s->other = other;
    s->nrows = b.end - b.begin;
    s->ptr = mkt_xmalloc(sizeof(int64_t) * (size_t)(s->nrows + 1));
    snprintf(p, sizeof p, "/events/%s/indptr", grp);
    mkt_h5_read_rows(f, p, H5T_NATIVE_INT64, b.begin, s->nrows + 1, s->ptr);
    snprintf(p, sizeof p, "/events/%s/%s", grp, strcmp(grp, "by_user") == 0 ? "item" : "user");
    int64_t events = mkt_h5_rows(f, p, NULL);
    for (int64_t r = 0; r <= s->nrows; r++)
        if (s->ptr[r] < 0 || s->ptr[r] > events || (r > 0 && s->ptr[r] < s->ptr[r - 1]))
            mkt_fail("%s: /events/%s/indptr[%lld] = %lld is not a row pointer into %lld events (corrupt store)", path,
                     grp, (long long)(b.begin + r), (long long)s->ptr[r], (long long)events);
    s->first = s->ptr[0];
    s->maxchunk = MF_READ_EVENTS;
    for (int64_t r = 0; r <= s->nrows; r++) {
        s->ptr[r] -= s->first;
        if (r > 0 && s->ptr[r] - s->ptr[r - 1] > s->maxchunk)
            s->maxchunk = s->ptr[r] - s->ptr[r - 1];
    }
    s->nev = s->ptr[s->nrows];
}

/* The end of the chunk of rows starting at r0: as many rows as fit in
 * MF_READ_EVENTS events, at least one. */
static int64_t src_chunk_end(const mf_src *s, int64_t r0)
{
    int64_t r1 = r0 + 1;
    while (r1 < s->nrows && s->ptr[r1 + 1] - s->ptr[r0] <= MF_READ_EVENTS)
        r1++;
    return r1;
}

/* Column `col` of the events of rows [r0, r1) into buf. */
static void src_read(const mf_src *s, const char *col, hid_t type, int64_t r0, int64_t r1, void *buf)
{
    char p[64];
    snprintf(p, sizeof p, "/events/%s/%s", s->grp, col);
    mkt_h5_read_rows(s->f, p, type, s->first + s->ptr[r0], s->ptr[r1] - s->ptr[r0], buf);
}

/* Column `col` (the other side's index) of the events of rows [r0, r1)
 * into idx, every value checked to be an index of the other side. */
static void src_read_index(const mf_src *s, const char *col, int64_t r0, int64_t r1, int32_t *idx)
{
    src_read(s, col, H5T_NATIVE_INT32, r0, r1, idx);
    int64_t n = s->ptr[r1] - s->ptr[r0];
    for (int64_t j = 0; j < n; j++)
        if (idx[j] < 0 || idx[j] >= s->other)
            mkt_fail("%s: /events/%s/%s[%lld] = %d is not one of the %lld indices (corrupt store)", s->path, s->grp,
                     col, (long long)(s->first + s->ptr[r0] + j), idx[j], (long long)s->other);
}

/* Column "value" of the events of rows [r0, r1) into val; a value the
 * model would use (`used`, when not NULL, marks those events) must be
 * finite. */
static void src_read_values(const mf_src *s, int64_t r0, int64_t r1, const uint8_t *used, double *val)
{
    src_read(s, "value", H5T_NATIVE_DOUBLE, r0, r1, val);
    int64_t n = s->ptr[r1] - s->ptr[r0];
    for (int64_t j = 0; j < n; j++)
        if ((!used || used[j]) && !isfinite(val[j]))
            mkt_fail("%s: /events/%s/value[%lld] is %g, not a finite number (corrupt store)", s->path, s->grp,
                     (long long)(s->first + s->ptr[r0] + j), val[j]);
}

static void rows_alloc(mf_rows *r, int64_t nrows, int64_t cap)
{
    r->n = nrows;
    r->ptr = mkt_xcalloc((size_t)nrows + 1, sizeof(int64_t));
    r->idx = mkt_xmalloc(sizeof(int32_t) * (size_t)(cap > 0 ? cap : 1));
    r->val = mkt_xmalloc(sizeof(double) * (size_t)(cap > 0 ? cap : 1));
}

/* Gives back the storage past the rows' last entry (allocated for an upper
 * bound of the entries). */
static void rows_shrink(mf_rows *r)
{
    size_t n = (size_t)(r->ptr[r->n] > 0 ? r->ptr[r->n] : 1);
    r->idx = mkt_xrealloc(r->idx, sizeof(int32_t) * n);
    r->val = mkt_xrealloc(r->val, sizeof(double) * n);
}

static void rows_free(mf_rows *r)
{
    free(r->ptr);
    free(r->idx);
    free(r->val);
}

/* A weighted interaction before aggregation: other-side index, position in
 * the row (deterministic tie-break), weight. */
typedef struct {
    int32_t key;
    int64_t pos;
    double w;
} mf_pair;

static int pair_cmp(const void *a, const void *b)
{
    const mf_pair *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return (x->pos > y->pos) - (x->pos < y->pos);
}

/* Append the pairs, summed per key in key order, to row `row` of r. */
static void append_aggregated(mf_rows *r, int64_t row, mf_pair *pairs, int64_t np)
{
    qsort(pairs, (size_t)np, sizeof *pairs, pair_cmp);
    int64_t at = r->ptr[row];
    for (int64_t j = 0; j < np;) {
        int32_t key = pairs[j].key;
        double s = 0;
        for (; j < np && pairs[j].key == key; j++)
            s += pairs[j].w;
        r->idx[at] = key;
        r->val[at] = s;
        at++;
    }
    r->ptr[row + 1] = at;
}

static int64_t row_len(const mf_rows *r, int64_t row)
{
    return r->ptr[row + 1] - r->ptr[row];
}

static double weight_of(const mkt_mf_options *o, int32_t type)
{
    return type >= 0 && type < MKT_EV_RATING ? o->weight[type] : 0;
}

/* Implicit: 1 if a rating of this value is a positive interaction (its
 * confidence 1 + alpha * weight must stay >= 1, so ratings <= 0 never are). */
static int rating_kept(const mkt_mf_options *o, double value)
{
    if (!(o->weight_rating > 0))
        return 0;
    return o->rating_threshold > 0 ? value >= o->rating_threshold : value > 0;
}

/* Implicit: the weight of a kept rating of this value. */
static double rating_weight(const mkt_mf_options *o, double value)
{
    return o->rating_threshold > 0 ? o->weight_rating : o->weight_rating * value;
}

/* What the first pass makes of an event: dropped (another type, weight 0,
 * at or after --until), or kept, explicit as a training or a held-out
 * rating, implicit as MF_KEPT + its type. */
enum { MF_DROP = 0, MF_TRAIN = 1, MF_TEST = 2, MF_VALID = 3, MF_KEPT = 1 };

/* Pass 1 over a block: the class of each of its events (type, timestamp and,
 * explicit, the hold-out hash of its order), one byte per event. */
static uint8_t *classify(const mkt_mf_options *o, const mf_src *s)
{
    size_t m = (size_t)s->maxchunk;
    uint8_t *cls = mkt_xmalloc((size_t)s->nev + 1);
    int32_t *type = mkt_xmalloc(sizeof(int32_t) * m);
    int64_t *order = o->implicit ? NULL : mkt_xmalloc(sizeof(int64_t) * m);
    int64_t *ts = o->has_until ? mkt_xmalloc(sizeof(int64_t) * m) : NULL;
    double *value = o->implicit && o->weight_rating > 0 ? mkt_xmalloc(sizeof(double) * m) : NULL;
    for (int64_t r0 = 0, r1; r0 < s->nrows; r0 = r1) {
        r1 = src_chunk_end(s, r0);
        int64_t e0 = s->ptr[r0], n = s->ptr[r1] - e0;
        src_read(s, "type", H5T_NATIVE_INT32, r0, r1, type);
        if (value)
            src_read(s, "value", H5T_NATIVE_DOUBLE, r0, r1, value);
        if (order)
            src_read(s, "order", H5T_NATIVE_INT64, r0, r1, order);
        if (ts)
            src_read(s, "ts", H5T_NATIVE_INT64, r0, r1, ts);
        for (int64_t j = 0; j < n; j++) {
            uint8_t c = MF_DROP;
            if (value && type[j] == MKT_EV_RATING && !isfinite(value[j]))
                mkt_fail("%s: /events/%s/value[%lld] is %g, not a finite rating (corrupt store)", s->path, s->grp,
                         (long long)(s->first + e0 + j), value[j]);
            if (ts && ts[j] >= o->until_ts)
                c = MF_DROP;
            else if (!o->implicit && type[j] == MKT_EV_RATING)
                c = mkt_mf_is_holdout(o->seed, order[j], o->holdout)                ? MF_TEST
                    : mkt_mf_is_validation(o->seed, order[j], o->valid_fraction) ? MF_VALID
                                                                                   : MF_TRAIN;
            else if (o->implicit && weight_of(o, type[j]) > 0)
                c = (uint8_t)(MF_KEPT + type[j]);
            else if (o->implicit && type[j] == MKT_EV_RATING && value && rating_kept(o, value[j]))
                c = (uint8_t)(MF_KEPT + MKT_EV_RATING);
            cls[e0 + j] = c;
        }
    }
    free(type);
    free(order);
    free(ts);
    free(value);
    return cls;
}

/* Explicit: row pointers of r over the block's events of class `want`, and
 * storage for exactly those entries. */
static void rows_of_class(mf_rows *r, const mf_src *s, const uint8_t *cls, uint8_t want)
{
    r->n = s->nrows;
    r->ptr = mkt_xmalloc(sizeof(int64_t) * (size_t)(s->nrows + 1));
    r->ptr[0] = 0;
    for (int64_t row = 0; row < s->nrows; row++) {
        int64_t c = 0;
        for (int64_t e = s->ptr[row]; e < s->ptr[row + 1]; e++)
            c += cls[e] == want;
        r->ptr[row + 1] = r->ptr[row] + c;
    }
    size_t cap = (size_t)(r->ptr[s->nrows] > 0 ? r->ptr[s->nrows] : 1);
    r->idx = mkt_xmalloc(sizeof(int32_t) * cap);
    r->val = mkt_xmalloc(sizeof(double) * cap);
}

/* Explicit, pass 2: the other side's index (column col) and the rating of
 * the block's training events into train, of its held-out ones into test
 * and of its validation ones into valid (when not NULL); the training
 * ratings are added to sum (when not NULL). */
static void fill_explicit(const mf_src *s, const uint8_t *cls, const char *col, mf_rows *train, mf_rows *test,
                          mf_rows *valid, mkt_xsum *sum)
{
    size_t m = (size_t)s->maxchunk;
    int32_t *idx = mkt_xmalloc(sizeof(int32_t) * m);
    double *val = mkt_xmalloc(sizeof(double) * m);
    for (int64_t r0 = 0, r1; r0 < s->nrows; r0 = r1) {
        r1 = src_chunk_end(s, r0);
        int64_t e0 = s->ptr[r0];
        src_read_index(s, col, r0, r1, idx);
        src_read_values(s, r0, r1, cls + e0, val);
        for (int64_t r = r0; r < r1; r++) {
            int64_t a = train->ptr[r], b = test ? test->ptr[r] : 0, v = valid ? valid->ptr[r] : 0;
            for (int64_t e = s->ptr[r]; e < s->ptr[r + 1]; e++) {
                int64_t j = e - e0;
                if (cls[e] == MF_TRAIN) {
                    train->idx[a] = idx[j];
                    train->val[a++] = val[j];
                    if (sum)
                        mkt_xsum_add(sum, val[j]);
                } else if (cls[e] == MF_TEST && test) {
                    test->idx[b] = idx[j];
                    test->val[b++] = val[j];
                } else if (cls[e] == MF_VALID && valid) {
                    valid->idx[v] = idx[j];
                    valid->val[v++] = val[j];
                }
            }
        }
    }
    free(idx);
    free(val);
}

/* Implicit: the number of kept events of the block (an upper bound of its
 * aggregated entries) and of its longest row. */
static int64_t kept_events(const mf_src *s, const uint8_t *cls, int64_t *longest)
{
    int64_t total = 0;
    *longest = 0;
    for (int64_t row = 0; row < s->nrows; row++) {
        int64_t c = 0;
        for (int64_t e = s->ptr[row]; e < s->ptr[row + 1]; e++)
            c += cls[e] != MF_DROP;
        total += c;
        if (c > *longest)
            *longest = c;
    }
    return total;
}

/* Implicit validation: a hash sample of about `users` users (rank-count
 * independent) each give their last training item to the validation split.
 * User side: valid (rows of one item) and valid_local (-1: none) are filled;
 * item side: vheld (every user's validation item, or -1) is left out. */
typedef struct {
    double fraction;   /* a user validates when mkt_mf_is_validation(seed, user, fraction) */
    mf_rows *valid;    /* user side: the validation item of each row */
    int32_t *valid_local;
    const int32_t *vheld; /* item side */
} implicit_valid;

/* Removes item h from row `row` of r (rows are sorted and distinct). */
static void row_remove(mf_rows *r, int64_t row, int32_t h)
{
    int64_t a = r->ptr[row];
    for (int64_t j = a; j < r->ptr[row + 1]; j++)
        if (r->idx[j] != h) {
            r->idx[a] = r->idx[j];
            r->val[a++] = r->val[j];
        }
    r->ptr[row + 1] = a;
}

/* Implicit, pass 2: each row's kept events (other-side index from column
 * col), weighted by type and summed per other-side index, into r.  User side
 * (held_local not NULL): the row's last kept event's item is held out: taken
 * out of the row, recorded in test and held_local (-1: the row has fewer
 * than two items); then, for validation users (iv), the item of the last
 * kept event among the rest goes to the validation split when the row keeps
 * at least one item.  Item side (held not NULL): a user's held-out and
 * validation items are left out of the item's row. */
static void fill_implicit(const mkt_mf_options *o, const mf_src *s, const uint8_t *cls, const char *col,
                          int64_t first_row, const int32_t *held, mf_rows *r, mf_rows *test, int32_t *held_local,
                          const implicit_valid *iv)
{
    int64_t longest;
    rows_alloc(r, s->nrows, kept_events(s, cls, &longest));
    if (test)
        rows_alloc(test, s->nrows, s->nrows);
    if (iv && iv->valid)
        rows_alloc(iv->valid, s->nrows, s->nrows);
    const int32_t *vheld = iv ? iv->vheld : NULL;
    mf_pair *pairs = mkt_xmalloc(sizeof(mf_pair) * (size_t)(longest + 1));
    int32_t *idx = mkt_xmalloc(sizeof(int32_t) * (size_t)s->maxchunk);
    double *value = o->weight_rating > 0 ? mkt_xmalloc(sizeof(double) * (size_t)s->maxchunk) : NULL;
    for (int64_t r0 = 0, r1; r0 < s->nrows; r0 = r1) {
        r1 = src_chunk_end(s, r0);
        int64_t e0 = s->ptr[r0];
        src_read_index(s, col, r0, r1, idx);
        if (value)
            src_read(s, "value", H5T_NATIVE_DOUBLE, r0, r1, value);
        for (int64_t row = r0; row < r1; row++) {
            int64_t np = 0, last = -1;
            int32_t self = (int32_t)(first_row + row);
            for (int64_t e = s->ptr[row]; e < s->ptr[row + 1]; e++) {
                if (cls[e] == MF_DROP || (held && held[idx[e - e0]] == self) ||
                    (vheld && vheld[idx[e - e0]] == self))
                    continue;
                int type = cls[e] - MF_KEPT;
                double w = type == MKT_EV_RATING ? rating_weight(o, value[e - e0]) : weight_of(o, type);
                pairs[np++] = (mf_pair){idx[e - e0], e, w};
                last = e;
            }
            append_aggregated(r, row, pairs, np);
            if (!test)
                continue;
            held_local[row] = -1;
            test->ptr[row + 1] = test->ptr[row];
            int32_t h = -1;
            if (row_len(r, row) >= 2) { /* leave the last interacted item out */
                h = idx[last - e0];
                row_remove(r, row, h);
                held_local[row] = h;
                test->idx[test->ptr[row]] = h;
                test->val[test->ptr[row]] = 1;
                test->ptr[row + 1]++;
            }
            if (!iv || !iv->valid)
                continue;
            mf_rows *v = iv->valid;
            iv->valid_local[row] = -1;
            v->ptr[row + 1] = v->ptr[row];
            if (h >= 0 && row_len(r, row) >= 2 && mkt_mf_is_validation(o->seed, self, iv->fraction)) {
                int32_t vi = -1; /* the last kept event's item other than h */
                for (int64_t e = s->ptr[row + 1] - 1; e >= s->ptr[row] && vi < 0; e--)
                    if (cls[e] != MF_DROP && idx[e - e0] != h)
                        vi = idx[e - e0];
                row_remove(r, row, vi);
                iv->valid_local[row] = vi;
                v->idx[v->ptr[row]] = vi;
                v->val[v->ptr[row]] = 1;
                v->ptr[row + 1]++;
            }
        }
    }
    free(idx);
    free(value);
    free(pairs);
    rows_shrink(r);
    if (test)
        rows_shrink(test);
    if (iv && iv->valid)
        rows_shrink(iv->valid);
}

/* Collective. Read the blocks and build the training and held-out rows. */
static void load_data(const mkt_mf_options *o, MPI_Comm comm, mf_data *d)
{
    int rank, nranks;
    MKT_MPI(MPI_Comm_rank(comm, &rank));
    MKT_MPI(MPI_Comm_size(comm, &nranks));
    memset(d, 0, sizeof *d);
    if (!o->store)
        mkt_fail_all(MKT_EXIT_USAGE, "--store STORE.h5 is required");
    hid_t f = mkt_h5_open(o->store, 0, comm);
    mkt_metrics_mark_baseline();
    memlog("store open");
    if (!mkt_h5_exists(f, MKT_EVENTS_BY_USER_INDPTR) || !mkt_h5_exists(f, MKT_EVENTS_BY_ITEM_INDPTR))
        mkt_fail_all(MKT_EXIT_ERROR, "%s has no /events/by_user and /events/by_item (not an mkt store?)", o->store);
    d->U = mkt_h5_rows(f, MKT_EVENTS_BY_USER_INDPTR, NULL) - 1;
    d->I = mkt_h5_rows(f, MKT_EVENTS_BY_ITEM_INDPTR, NULL) - 1;
    if (d->I >= INT32_MAX || d->U >= INT32_MAX)
        mkt_fail_all(MKT_EXIT_ERROR, "%s: too many users or items for 32-bit indices", o->store);
    /* the events used end at --until, else at the end of the log */
    d->until_ts = o->has_until ? o->until_ts : mkt_h5_attr_get_int(f, ".", "end_ts", INT64_MIN);
    d->ub = mkt_block_of(d->U, nranks, rank);
    d->ib = mkt_block_of(d->I, nranks, rank);
    mf_src us, is;
    src_open(f, o->store, "by_user", d->I, d->ub, &us);
    src_open(f, o->store, "by_item", d->U, d->ib, &is);
    char why[96] = "";
    if (o->has_until)
        snprintf(why, sizeof why, " before --until %lld", (long long)o->until_ts);
    int64_t local[3] = {0, 0, 0};
    if (!o->implicit) {
        mkt_xsum sum;
        mkt_xsum_init(&sum);
        uint8_t *cls = classify(o, &us);
        rows_of_class(&d->utrain, &us, cls, MF_TRAIN);
        rows_of_class(&d->utest, &us, cls, MF_TEST);
        rows_of_class(&d->uvalid, &us, cls, MF_VALID);
        fill_explicit(&us, cls, "item", &d->utrain, &d->utest, &d->uvalid, &sum);
        free(cls);
        memlog("user rows");
        cls = classify(o, &is);
        rows_of_class(&d->itrain, &is, cls, MF_TRAIN);
        fill_explicit(&is, cls, "user", &d->itrain, NULL, NULL, NULL);
        free(cls);
        memlog("item rows");
        local[0] = d->utrain.ptr[us.nrows];
        local[1] = d->utest.ptr[us.nrows];
        local[2] = d->uvalid.ptr[us.nrows];
        MKT_MPI(MPI_Allreduce(MPI_IN_PLACE, local, 3, MPI_INT64_T, MPI_SUM, comm));
        if (local[0] == 0)
            mkt_fail_all(MKT_EXIT_ERROR,
                         "%s has no training ratings (events of type rating)%s: use --implicit, or a store "
                         "with ratings (mkt gen --ratings-per-user N)",
                         o->store, why);
        mkt_allreduce_xsum(&sum, 1, comm);
        d->mu = mkt_xsum_value(&sum) / (double)local[0];
    } else {
        size_t nl = (size_t)(us.nrows > 0 ? us.nrows : 1);
        int32_t *held_local = mkt_xmalloc(sizeof(int32_t) * nl), *valid_local = mkt_xmalloc(sizeof(int32_t) * nl);
        /* validation users: a hash sample of about MKT_MF_VALID_USERS users */
        double vf = 0;
        if (o->valid_fraction > 0 && d->U > 0)
            vf = (double)MKT_MF_VALID_USERS / (double)d->U;
        implicit_valid iv = {vf, &d->uvalid, valid_local, NULL};
        uint8_t *cls = classify(o, &us);
        fill_implicit(o, &us, cls, "item", d->ub.begin, NULL, &d->utrain, &d->utest, held_local, &iv);
        free(cls);
        memlog("user rows");
        /* every rank needs every user's held-out and validation items to drop
         * them on the item side */
        d->held = mkt_xmalloc(sizeof(int32_t) * (size_t)(d->U > 0 ? d->U : 1));
        int32_t *vheld = mkt_xmalloc(sizeof(int32_t) * (size_t)(d->U > 0 ? d->U : 1));
        int *cnt = mkt_xmalloc(sizeof(int) * (size_t)nranks), *dsp = mkt_xmalloc(sizeof(int) * (size_t)nranks);
        for (int q = 0; q < nranks; q++) {
            mkt_block b = mkt_block_of(d->U, nranks, q);
            cnt[q] = (int)(b.end - b.begin);
            dsp[q] = (int)b.begin;
        }
        MKT_MPI(MPI_Allgatherv(held_local, (int)us.nrows, MPI_INT32_T, d->held, cnt, dsp, MPI_INT32_T, comm));
        MKT_MPI(MPI_Allgatherv(valid_local, (int)us.nrows, MPI_INT32_T, vheld, cnt, dsp, MPI_INT32_T, comm));
        free(cnt);
        free(dsp);
        free(held_local);
        free(valid_local);
        implicit_valid iv_items = {vf, NULL, NULL, vheld};
        cls = classify(o, &is);
        fill_implicit(o, &is, cls, "user", d->ib.begin, d->held, &d->itrain, NULL, NULL, &iv_items);
        free(cls);
        free(vheld);
        memlog("item rows");
        local[0] = d->utrain.ptr[us.nrows];
        local[1] = d->utest.ptr[us.nrows];
        local[2] = d->uvalid.ptr[us.nrows];
        MKT_MPI(MPI_Allreduce(MPI_IN_PLACE, local, 3, MPI_INT64_T, MPI_SUM, comm));
        if (local[0] == 0)
            mkt_fail_all(MKT_EXIT_ERROR,
                         "%s has no behaviour events with a positive weight and no positive ratings%s (see "
                         "--weight-* and --rating-threshold)",
                         o->store, why);
    }
    mkt_h5_close(f);
    d->n_train = local[0];
    d->n_test = local[1];
    d->n_valid = local[2];
    free(us.ptr);
    free(is.ptr);
    memlog("loaded");
}

/* Collective. Replaces the held-out rows of d by the events of a test
 * store ingested against the training store (same dense ids): explicit,
 * its ratings; implicit, its positive-weight user-item pairs that are not
 * among the user's training items.  Every such event counts, whatever
 * --holdout and --until made of the training store. */
static void load_test(const mkt_mf_options *o, const char *path, mf_data *d, MPI_Comm comm)
{
    hid_t f = mkt_h5_open(path, 0, comm);
    if (!mkt_h5_exists(f, MKT_EVENTS_BY_USER_INDPTR) || !mkt_h5_exists(f, MKT_EVENTS_BY_ITEM_INDPTR))
        mkt_fail_all(MKT_EXIT_ERROR, "test store %s has no /events/by_user and /events/by_item (not an mkt store?)",
                     path);
    int64_t U = mkt_h5_rows(f, MKT_EVENTS_BY_USER_INDPTR, NULL) - 1, I = mkt_h5_rows(f, MKT_EVENTS_BY_ITEM_INDPTR, NULL) - 1;
    if (U != d->U || I != d->I)
        mkt_fail_all(MKT_EXIT_ERROR,
                     "test store %s has %lld users x %lld items, the training store %s %lld x %lld: ingest the test "
                     "file with `mkt ingest --as test --into %s`",
                     path, (long long)U, (long long)I, o->store, (long long)d->U, (long long)d->I, o->store);
    mkt_mf_options t = *o;
    t.has_until = 0;
    t.holdout = 0;
    t.valid_fraction = 0; /* every rating is of class MF_TRAIN here */
    mf_src us;
    src_open(f, path, "by_user", d->I, d->ub, &us);
    uint8_t *cls = classify(&t, &us);
    rows_free(&d->utest);
    if (!o->implicit) {
        rows_of_class(&d->utest, &us, cls, MF_TRAIN);
        fill_explicit(&us, cls, "item", &d->utest, NULL, NULL, NULL);
    } else {
        fill_implicit(&t, &us, cls, "item", d->ub.begin, NULL, &d->utest, NULL, NULL, NULL);
        /* rank only what the user did not do in training: drop the pairs
         * of the training rows (both rows are sorted by item) */
        int64_t at = 0;
        for (int64_t r = 0; r < d->utest.n; r++) {
            int64_t a = d->utrain.ptr[r], b = d->utrain.ptr[r + 1], start = at;
            for (int64_t e = d->utest.ptr[r]; e < d->utest.ptr[r + 1]; e++) {
                while (a < b && d->utrain.idx[a] < d->utest.idx[e])
                    a++;
                if (a < b && d->utrain.idx[a] == d->utest.idx[e])
                    continue;
                d->utest.idx[at] = d->utest.idx[e];
                d->utest.val[at++] = d->utest.val[e];
            }
            d->utest.ptr[r] = start;
        }
        d->utest.ptr[d->utest.n] = at;
    }
    free(cls);
    free(us.ptr);
    mkt_h5_close(f);
    int64_t n = d->utest.ptr[d->utest.n];
    MKT_MPI(MPI_Allreduce(MPI_IN_PLACE, &n, 1, MPI_INT64_T, MPI_SUM, comm));
    if (n == 0)
        mkt_fail_all(MKT_EXIT_ERROR, "test store %s has no %s to evaluate on", path,
                     o->implicit ? "positive-weight user-item pairs outside the training data" : "ratings");
    d->n_test = n;
}

static void free_data(mf_data *d)
{
    rows_free(&d->utrain);
    rows_free(&d->utest);
    rows_free(&d->uvalid);
    rows_free(&d->itrain);
    free(d->held);
}

/* Collective. Every rank's block of `full` (n rows of d values, blocks by
 * mkt_block_of) is sent to every rank, in place. */
static void gather_rows(double *full, int64_t n, int d, MPI_Comm comm)
{
    int nranks;
    MKT_MPI(MPI_Comm_size(comm, &nranks));
    if (n * d > INT_MAX)
        mkt_fail("factor matrix of %lld x %d values is too large for MPI_Allgatherv counts", (long long)n, d);
    int *cnt = mkt_xmalloc(sizeof(int) * (size_t)nranks), *dsp = mkt_xmalloc(sizeof(int) * (size_t)nranks);
    for (int q = 0; q < nranks; q++) {
        mkt_block b = mkt_block_of(n, nranks, q);
        cnt[q] = (int)((b.end - b.begin) * d);
        dsp[q] = (int)(b.begin * d);
    }
    MKT_MPI(MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, full, cnt, dsp, MPI_DOUBLE, comm));
    free(cnt);
    free(dsp);
}

/* Targeted exchange of one side's factor rows (n rows of s values, blocks
 * by mkt_block_of): this rank receives only the rows of other ranks that its
 * own observations reference.  The lists are computed once; each half-step
 * is then one MPI_Alltoallv of the updated rows. */
typedef struct {
    int targeted;             /* 0: MPI_Allgatherv of all rows */
    int nranks;
    int *sc, *sd, *rc, *rd;   /* MPI_Alltoallv counts and displacements, in doubles */
    int32_t *srows, *rrows;   /* rows sent (grouped by destination) and received (by source) */
    int64_t nsend, nrecv;     /* rows */
    double *sbuf, *rbuf;
    double bytes_allgather;   /* all ranks' received bytes per exchange, both ways */
    double bytes_targeted;
} mf_xplan;

/* Marks row j in a bitmap. */
static void mark(uint8_t *bits, int64_t j)
{
    bits[j >> 3] |= (uint8_t)(1u << (j & 7));
}

/* Collective. The plan for a side of n rows (stride s) of which this rank
 * owns `own`: `bits` marks the rows it reads (own rows may be marked).  mode
 * MKT_MF_EXCHANGE_*: auto picks targeted when the volume over all ranks is
 * below 3/4 of the allgather's. */
static void plan_build(mf_xplan *p, const uint8_t *bits, int64_t n, int s, mkt_block own, int mode, MPI_Comm comm)
{
    memset(p, 0, sizeof *p);
    MKT_MPI(MPI_Comm_size(comm, &p->nranks));
    int P = p->nranks;
    int64_t *need_cnt = mkt_xcalloc((size_t)P, sizeof(int64_t));
    int64_t nneed = 0;
    for (int64_t j = 0; j < n; j++)
        if ((bits[j >> 3] >> (j & 7)) & 1 && (j < own.begin || j >= own.end))
            nneed++;
    p->rrows = mkt_xmalloc(sizeof(int32_t) * (size_t)(nneed + 1));
    nneed = 0;
    for (int64_t j = 0; j < n; j++)
        if ((bits[j >> 3] >> (j & 7)) & 1 && (j < own.begin || j >= own.end)) {
            p->rrows[nneed++] = (int32_t)j; /* ascending, so grouped by owner */
            need_cnt[mkt_block_owner(j, n, P)]++;
        }
    p->nrecv = nneed;
    /* tell each owner which of its rows this rank needs */
    p->srows = mkt_alltoallv_elems(p->rrows, need_cnt, sizeof(int32_t), &p->nsend, comm);
    int64_t *send_cnt = mkt_xcalloc((size_t)P, sizeof(int64_t));
    MKT_MPI(MPI_Alltoall(need_cnt, 1, MPI_INT64_T, send_cnt, 1, MPI_INT64_T, comm));
    p->sc = mkt_xmalloc(sizeof(int) * (size_t)P);
    p->sd = mkt_xmalloc(sizeof(int) * (size_t)P);
    p->rc = mkt_xmalloc(sizeof(int) * (size_t)P);
    p->rd = mkt_xmalloc(sizeof(int) * (size_t)P);
    int64_t so = 0, ro = 0;
    for (int q = 0; q < P; q++) {
        if ((so + send_cnt[q]) * s > INT_MAX || (ro + need_cnt[q]) * s > INT_MAX)
            mkt_fail("targeted exchange of more than 2^31 values per rank");
        p->sc[q] = (int)(send_cnt[q] * s);
        p->sd[q] = (int)(so * s);
        p->rc[q] = (int)(need_cnt[q] * s);
        p->rd[q] = (int)(ro * s);
        so += send_cnt[q];
        ro += need_cnt[q];
    }
    double v[2] = {(double)(n - (own.end - own.begin)) * s * 8, (double)p->nrecv * s * 8};
    MKT_MPI(MPI_Allreduce(MPI_IN_PLACE, v, 2, MPI_DOUBLE, MPI_SUM, comm));
    p->bytes_allgather = v[0];
    p->bytes_targeted = v[1];
    /* auto: targeted only when it saves a quarter of the volume (it packs
     * and unpacks every row it moves, the allgather writes in place) */
    p->targeted = mode == MKT_MF_EXCHANGE_TARGETED || (mode == MKT_MF_EXCHANGE_AUTO && v[1] < 0.75 * v[0]);
    if (p->targeted) { /* the allgather writes in place */
        p->sbuf = mkt_xmalloc(sizeof(double) * (size_t)(p->nsend * s + 1));
        p->rbuf = mkt_xmalloc(sizeof(double) * (size_t)(p->nrecv * s + 1));
    }
    free(need_cnt);
    free(send_cnt);
}

static void plan_free(mf_xplan *p)
{
    free(p->sc);
    free(p->sd);
    free(p->rc);
    free(p->rd);
    free(p->srows);
    free(p->rrows);
    free(p->sbuf);
    free(p->rbuf);
}

/* Collective. After a half-step: the updated rows of `full` reach the ranks
 * that read them (all ranks when p is NULL or not targeted).  Adds this
 * rank's received bytes to *bytes. */
static void exchange_rows(double *full, int64_t n, int s, const mf_xplan *p, double *bytes, MPI_Comm comm)
{
    if (!p || !p->targeted) {
        int nranks, rank;
        MKT_MPI(MPI_Comm_size(comm, &nranks));
        MKT_MPI(MPI_Comm_rank(comm, &rank));
        gather_rows(full, n, s, comm);
        mkt_block b = mkt_block_of(n, nranks, rank);
        if (bytes)
            *bytes += (double)(n - (b.end - b.begin)) * s * 8;
        return;
    }
    size_t row = sizeof(double) * (size_t)s;
    for (int64_t j = 0; j < p->nsend; j++)
        memcpy(p->sbuf + j * s, full + (int64_t)p->srows[j] * s, row);
    MKT_MPI(MPI_Alltoallv(p->sbuf, p->sc, p->sd, MPI_DOUBLE, p->rbuf, p->rc, p->rd, MPI_DOUBLE, comm));
    for (int64_t j = 0; j < p->nrecv; j++)
        memcpy(full + (int64_t)p->rrows[j] * s, p->rbuf + j * s, row);
    if (bytes)
        *bytes += (double)p->nrecv * s * 8;
}

/* Rows per chunk of the implicit Gram matrix YᵀY: each chunk's k x k
 * product is formed by dsyrk by the rank owning the chunk's first row, and
 * the chunks are summed exactly across ranks, so YᵀY has the same bits on
 * any rank count and with either exchange. */
#define MF_GRAM_CHUNK 256

/* Marks the rows of other ranks that this rank's Gram chunks read. */
static void mark_gram_rows(uint8_t *bits, int64_t n, mkt_block own)
{
    if (own.end <= own.begin)
        return;
    int64_t cs = (own.end - 1) / MF_GRAM_CHUNK * MF_GRAM_CHUNK;
    if (cs < own.begin)
        return; /* the chunk holding this block starts on another rank */
    int64_t ce = cs + MF_GRAM_CHUNK < n ? cs + MF_GRAM_CHUNK : n;
    for (int64_t j = own.end; j < ce; j++)
        mark(bits, j);
}

/* Collective. g[k×k] = YᵀY of the full matrix y [n×k], chunk by chunk. */
static void gram_chunked(const double *y, int64_t n, int k, mkt_block own, double *g, MPI_Comm comm)
{
    int64_t first = (own.begin + MF_GRAM_CHUNK - 1) / MF_GRAM_CHUNK, nch = 0;
    for (int64_t c = first; c * MF_GRAM_CHUNK < own.end; c++)
        nch++;
    double *part = mkt_xmalloc(sizeof(double) * (size_t)(nch * k * k + 1));
    for (int64_t j = 0; j < nch; j++) {
        int64_t cs = (first + j) * MF_GRAM_CHUNK, ce = cs + MF_GRAM_CHUNK < n ? cs + MF_GRAM_CHUNK : n;
        mkt_mf_gram(y + cs * k, ce - cs, k, part + j * k * k);
    }
    mkt_allreduce_exact_rows(part, nch, k * k, g, comm);
    free(part);
}

/* Collective. Exact error sums of the biased model over the local users:
 * out = {train RMSE, held-out RMSE, held-out MAE}. X holds the local users'
 * rows, Y all items (stride k+1).  With train_sse not NULL the training
 * part is not recomputed: train_sse is this rank's exact sum of training
 * squared errors (from the item half-step's solves). */
static void explicit_errors(const mf_data *d, const double *X, const double *Y, int k, const mkt_xsum *train_sse,
                            MPI_Comm comm, double out[3])
{
    int s = k + 1;
    mkt_xsum acc[3];
    for (int j = 0; j < 3; j++)
        mkt_xsum_init(&acc[j]);
    if (train_sse)
        acc[0] = *train_sse;
    for (int64_t r = 0; r < d->utrain.n; r++) {
        const double *x = X + r * s;
        for (int64_t e = d->utrain.ptr[r]; e < d->utrain.ptr[r + 1] && !train_sse; e++) {
            const double *y = Y + (int64_t)d->utrain.idx[e] * s;
            double err = d->utrain.val[e] - (d->mu + x[k] + y[k] + mkt_mf_dot(x, y, k));
            mkt_xsum_add(&acc[0], err * err);
        }
        for (int64_t e = d->utest.ptr[r]; e < d->utest.ptr[r + 1]; e++) {
            const double *y = Y + (int64_t)d->utest.idx[e] * s;
            double err = d->utest.val[e] - (d->mu + x[k] + y[k] + mkt_mf_dot(x, y, k));
            mkt_xsum_add(&acc[1], err * err);
            mkt_xsum_add(&acc[2], fabs(err));
        }
    }
    mkt_allreduce_xsum(acc, 3, comm);
    double nt = (double)d->n_train, nh = d->n_test > 0 ? (double)d->n_test : NAN;
    out[0] = sqrt(mkt_xsum_value(&acc[0]) / nt);
    out[1] = sqrt(mkt_xsum_value(&acc[1]) / nh);
    out[2] = mkt_xsum_value(&acc[2]) / nh;
}

/* Collective. Exact RMSE of the biased model over the local users' entries
 * of `rows` (n_global entries over all ranks): X holds the local users'
 * rows, Y all items (stride k+1). */
static double rows_rmse(const mf_data *d, const mf_rows *rows, int64_t n_global, const double *X, const double *Y,
                        int k, MPI_Comm comm)
{
    int s = k + 1;
    mkt_xsum acc;
    mkt_xsum_init(&acc);
    for (int64_t r = 0; r < rows->n; r++)
        for (int64_t e = rows->ptr[r]; e < rows->ptr[r + 1]; e++) {
            const double *x = X + r * s, *y = Y + (int64_t)rows->idx[e] * s;
            double err = rows->val[e] - (d->mu + x[k] + y[k] + mkt_mf_dot(x, y, k));
            mkt_xsum_add(&acc, err * err);
        }
    mkt_allreduce_xsum(&acc, 1, comm);
    return n_global > 0 ? sqrt(mkt_xsum_value(&acc) / (double)n_global) : NAN;
}

/* Early stopping on the validation split: the factors at the iteration
 * with the lowest validation loss so far are kept (full matrices, as the
 * live ones), and training stops `patience` iterations after it (0: runs
 * every iteration).  Unused when there is no validation split. */
typedef struct {
    int patience;
    int best_it;      /* 0: no iteration evaluated yet */
    double best_loss; /* validation loss at best_it: explicit RMSE, implicit minus NDCG@topk */
    double *X, *Y;    /* factors at best_it */
} mf_early;

/* Forget the best iteration (before a new training from scratch). */
static void early_reset(mf_early *e)
{
    e->best_it = 0;
    e->best_loss = INFINITY;
}

static void early_init(mf_early *e, int patience, int64_t U, int64_t I, int s)
{
    e->patience = patience;
    early_reset(e);
    e->X = mkt_xmalloc(sizeof(double) * (size_t)(U * s + 1));
    e->Y = mkt_xmalloc(sizeof(double) * (size_t)(I * s + 1));
}

static void early_free(mf_early *e)
{
    free(e->X);
    free(e->Y);
}

/* At the end of a training whose last iteration was `last`: the best
 * iteration's factors into X and Y, when another iteration was the best
 * (nothing when e is NULL). */
static void early_restore(const mf_early *e, int last, double *X, double *Y, int64_t U, int64_t I, int s)
{
    if (!e || e->best_it == 0 || e->best_it == last)
        return;
    memcpy(X, e->X, sizeof(double) * (size_t)(U * s));
    memcpy(Y, e->Y, sizeof(double) * (size_t)(I * s));
}

/* The iteration `it` gave validation loss v: keeps its factors when better
 * than the best so far; returns 1 when training should stop. */
static int early_update(mf_early *e, int it, double v, const double *X, const double *Y, int64_t U, int64_t I, int s)
{
    if (e->best_it == 0 || v < e->best_loss) {
        e->best_it = it;
        e->best_loss = v;
        memcpy(e->X, X, sizeof(double) * (size_t)(U * s));
        memcpy(e->Y, Y, sizeof(double) * (size_t)(I * s));
        return 0;
    }
    return e->patience > 0 && it - e->best_it >= e->patience;
}

/* Checkpointing and phase timing of the main training run: NULL for runs
 * that neither checkpoint nor report (the bias-only baseline). */
typedef struct {
    mkt_ckpt *ck;
    const mkt_ckpt_config *cfg;
    int start;               /* iterations already done (resumed from a checkpoint) */
    double solve, exchange;  /* this rank's seconds in the row solves and in the factor exchanges */
    double wall;             /* this rank's seconds in the iterations (before checkpoints) */
    const mf_xplan *px, *py; /* exchange of user rows and of item rows */
    double bytes;            /* this rank's received bytes in the exchanges */
} mf_ckpt_ctx;

/* This rank's floating-point operations of one half-step's solves over
 * `rows` (d unknowns per row): A = XᵀX by dsyrk (n·d·(d+1)), the right-hand
 * side (explicit: dgemv, 2·n·d; implicit: scaling and sum, 3·n·d), Cholesky
 * (d³/3) and the two triangular solves (2·d²); implicit adds the Gram matrix
 * of the other side's `other_rows` factors (other_rows·d·(d+1)), computed on
 * every rank. */
static double half_step_flops(const mf_rows *rows, int d, int implicit, int64_t other_rows, int cg_iters)
{
    double f = implicit ? (double)other_rows * d * (d + 1) : 0;
    double dd = d;
    for (int64_t r = 0; r < rows->n; r++) {
        double n = (double)row_len(rows, r);
        if (n == 0 && !implicit)
            continue; /* explicit: a row without ratings is set to zero */
        if (cg_iters > 0) /* gather and b (3·n·d), cg_iters+1 products A·p, 5 vector ops per step */
            f += 3 * n * dd + (cg_iters + 1) * (2 * dd * dd + 4 * n * dd + 2 * dd) + cg_iters * 10 * dd;
        else
            f += n * dd * (dd + 1) + (implicit ? 3 : 2) * n * dd + dd * dd * dd / 3 + 2 * dd * dd;
    }
    return f;
}

/* One iteration's entry in the metrics history (appended; the caller may
 * add the iteration's errors to the returned object). */
static json_t *iteration_record(json_t *history, int it, double seconds, const double ph[2])
{
    json_t *h = json_object();
    mkt_metrics_set_int(h, "iteration", it);
    mkt_metrics_set_real(h, "seconds", seconds);
    mkt_metrics_set_real(h, "seconds_solve", ph[0]);
    mkt_metrics_set_real(h, "seconds_exchange", ph[1]);
    json_array_append_new(history, h);
    return h;
}

/* Adds an iteration's phase seconds (solve, exchange) and its wall time
 * since `started` to the run's totals; nothing for untimed runs. */
static void phase_account(mf_ckpt_ctx *ck, const double ph[2], double started)
{
    if (!ck)
        return;
    ck->solve += ph[0];
    ck->exchange += ph[1];
    ck->wall += mkt_now() - started;
}

/* Time-stamp helper: adds now − *t to *acc and sets *t = now. */
static void lap(double *t, double *acc)
{
    double now = mkt_now();
    *acc += now - *t;
    *t = now;
}

/* Collective. Everything a continuation needs: both factor matrices in
 * global row order (so any rank count can resume), the history so far and,
 * with early stopping, the best iteration's factors and its error.  ALS
 * keeps no other state between iterations. */
static void write_checkpoint(mf_ckpt_ctx *c, int it, const mf_data *d, int s, const double *Xfull,
                             const double *Yfull, json_t *history, const mf_early *early, MPI_Comm comm)
{
    mkt_h5out w;
    hid_t f = mkt_ckpt_begin(c->ck, &w, "mf", it, c->cfg, comm);
    mkt_ckpt_write_full(f, "user_factors", Xfull, d->U, s, comm);
    mkt_ckpt_write_full(f, "item_factors", Yfull, d->I, s, comm);
    json_t *h = history ? json_incref(history) : json_array();
    mkt_ckpt_write_json(f, "history", h, comm);
    json_decref(h);
    if (early && early->best_it > 0) {
        mkt_ckpt_write_full(f, "best_user_factors", early->X, d->U, s, comm);
        mkt_ckpt_write_full(f, "best_item_factors", early->Y, d->I, s, comm);
        json_t *b = json_pack("{s:i, s:f}", "best_iteration", early->best_it, "best_validation_loss", early->best_loss);
        mkt_ckpt_write_json(f, "early_stopping", b, comm);
        json_decref(b);
    }
    mkt_ckpt_commit(c->ck, &w);
    mkt_log_detail(STAGE, "checkpoint %s written at iteration %d", c->ck->path, it);
}

/* Collective, at the end of iteration it: 1 when the run must stop
 * (preempted; the checkpoint is written). */
static int after_iteration(mf_ckpt_ctx *c, int it, int total, const mf_data *d, int s, double *Xfull,
                           double *Yfull, json_t *history, mf_early *early, MPI_Comm comm)
{
    if (!c || !c->ck)
        return 0;
    int act = mkt_ckpt_step(c->ck, it, total, comm);
    if (act != MKT_CKPT_CONTINUE) {
        /* the checkpoint holds every row (any rank count resumes it) */
        if (c->px->targeted) {
            gather_rows(Xfull, d->U, s, comm);
            if (early && early->best_it > 0)
                gather_rows(early->X, d->U, s, comm);
        }
        if (c->py->targeted) {
            gather_rows(Yfull, d->I, s, comm);
            if (early && early->best_it > 0)
                gather_rows(early->Y, d->I, s, comm);
        }
        write_checkpoint(c, it, d, s, Xfull, Yfull, history, early, comm);
    }
    return act == MKT_CKPT_STOP;
}

/* Collective. Biased ALS with k factors (k = 0: biases only) and o->lambda.
 * Xfull [U x (k+1)] and Yfull [I x (k+1)] are initialized here (unless
 * resumed: then they hold the checkpoint's factors) and hold the model on
 * return on every rank.  With `early` (not NULL, and validation ratings
 * present) each iteration's validation RMSE is measured, training stops
 * early->patience iterations after the best one, and Xfull and Yfull hold
 * the best iteration's factors on return.  history (may be NULL) gets one
 * object per iteration.  Returns 0, or the iteration at which a signal
 * stopped it after a checkpoint. */
static int als_explicit(const mkt_mf_options *o, const mf_data *d, int k, double *Xfull, double *Yfull,
                        json_t *history, int verbose, mf_ckpt_ctx *ck, mf_early *early, MPI_Comm comm)
{
    int s = k + 1, start = ck ? ck->start : 0, stopped = 0, last = start;
    if (d->n_valid == 0)
        early = NULL;
    if (start == 0) {
        mkt_mf_init_factors(Xfull, 0, d->U, k, s, o->seed, 0);
        mkt_mf_init_factors(Yfull, 0, d->I, k, s, o->seed, ITEM_SALT);
    }
    const mf_xplan *px = ck ? ck->px : NULL, *py = ck ? ck->py : NULL;
    double *bytes = ck ? &ck->bytes : NULL;
    double t0 = mkt_now();
    double ph[2] = {0, 0}; /* solve, exchange seconds of this iteration */
    for (int it = start + 1; it <= o->iters; it++) {
        double ts = mkt_now(), tl = ts;
        ph[0] = ph[1] = 0;
        for (int64_t r = 0; r < d->utrain.n; r += 8) { /* eight rows per batched solve */
            int nr = (int)(d->utrain.n - r < 8 ? d->utrain.n - r : 8);
            MKT_LAPACK(mkt_mf_solve_biased_rows(k, nr, d->utrain.ptr + r, d->utrain.idx, d->utrain.val, d->mu, Yfull,
                                                o->lambda, Xfull + (d->ub.begin + r) * s, NULL, NULL));
        }
        lap(&tl, &ph[0]);
        exchange_rows(Xfull, d->U, s, px, bytes, comm);
        lap(&tl, &ph[1]);
        /* the training error of the finished iteration comes from the item
         * solves (each item row sees all its training ratings) */
        mkt_xsum sse;
        mkt_xsum_init(&sse);
        for (int64_t r = 0; r < d->itrain.n; r += 8) {
            int nr = (int)(d->itrain.n - r < 8 ? d->itrain.n - r : 8);
            double e2[8];
            MKT_LAPACK(mkt_mf_solve_biased_rows(k, nr, d->itrain.ptr + r, d->itrain.idx, d->itrain.val, d->mu, Xfull,
                                                o->lambda, Yfull + (d->ib.begin + r) * s, e2, NULL));
            for (int l = 0; l < nr; l++)
                mkt_xsum_add(&sse, e2[l]);
        }
        lap(&tl, &ph[0]);
        exchange_rows(Yfull, d->I, s, py, bytes, comm);
        lap(&tl, &ph[1]);
        last = it;
        int stop = 0;
        double vr = NAN;
        if (early) {
            vr = rows_rmse(d, &d->uvalid, d->n_valid, Xfull + d->ub.begin * s, Yfull, k, comm);
            stop = early_update(early, it, vr, Xfull, Yfull, d->U, d->I, s);
        }
        if (history || verbose) {
            double err[3];
            explicit_errors(d, Xfull + d->ub.begin * s, Yfull, k, &sse, comm, err);
            double now = mkt_now(), per = (now - t0) / (it - start);
            if (verbose)
                mkt_log_detail(STAGE, "iteration %d/%d  train RMSE %.4f  validation RMSE %.4f  held-out RMSE %.4f  %.2fs  ETA %.0fs",
                        it, o->iters, err[0], vr, err[1], now - ts, per * (o->iters - it));
            if (history) {
                json_t *h = iteration_record(history, it, now - ts, ph);
                mkt_metrics_set_real(h, "train_rmse", err[0]);
                if (early)
                    mkt_metrics_set_real(h, "validation_rmse", vr);
                mkt_metrics_set_real(h, "rmse", err[1]);
                mkt_metrics_set_real(h, "mae", err[2]);
            }
        }
        phase_account(ck, ph, ts);
        if (after_iteration(ck, it, o->iters, d, s, Xfull, Yfull, history, early, comm)) {
            stopped = it;
            break;
        }
        if (stop) {
            if (verbose)
                mkt_log(STAGE, "early stop after iteration %d: no better validation RMSE for %d iterations (best %.4f "
                        "at iteration %d)", it, early->patience, early->best_loss, early->best_it);
            break;
        }
    }
    if (!stopped)
        early_restore(early, last, Xfull, Yfull, d->U, d->I, s);
    return stopped;
}

static int als_implicit(const mkt_mf_options *o, const mf_data *d, int k, double *Xfull, double *Yfull,
                        json_t *history, int verbose, mf_ckpt_ctx *ck, mf_early *early, MPI_Comm comm);

/* Collective. One early-stopped training (explicit or implicit) with this lambda and k
 * factors, no checkpoints: its best validation RMSE (and *best_it). X, Y
 * and e are work space of the run's sizes; px, py the exchange plans (NULL:
 * allgather). */
static double lambda_trial(const mkt_mf_options *o, const mf_data *d, int k, double lambda, double *X, double *Y,
                           mf_early *e, const mf_xplan *px, const mf_xplan *py, int *best_it, MPI_Comm comm)
{
    mkt_mf_options t = *o;
    t.lambda = lambda;
    early_reset(e);
    mf_ckpt_ctx c = {NULL, NULL, 0, 0, 0, 0, px, py, 0};
    if (o->implicit)
        als_implicit(&t, d, k, X, Y, NULL, 0, &c, e, comm);
    else
        als_explicit(&t, d, k, X, Y, NULL, 0, &c, e, comm);
    *best_it = e->best_it;
    return e->best_loss;
}

/* The state of a lambda search: the run's inputs and work space, and the
 * best trial so far. */
typedef struct {
    const mkt_mf_options *o;
    const mf_data *d;
    int k;
    double *X, *Y;
    mf_early *e;
    const mf_xplan *px, *py;
    json_t *trials; /* one object per trial (may be NULL) */
    const char *what;
    MPI_Comm comm;
    double best_lambda, best_loss;
    int ntried;
} lambda_walk;

/* Collective. One trial of the search: its validation RMSE. */
static double walk_try(lambda_walk *w, double lambda)
{
    int bi;
    double v = lambda_trial(w->o, w->d, w->k, lambda, w->X, w->Y, w->e, w->px, w->py, &bi, w->comm);
    w->ntried++;
    const char *name = w->o->implicit ? "validation_ndcg" : "validation_rmse";
    double shown = w->o->implicit ? -v : v; /* implicit trials minimise minus the NDCG */
    mkt_log_detail(STAGE, "lambda auto (%s): lambda %.4g  %s %.5f  best iteration %d", w->what, lambda, name, shown, bi);
    if (w->trials)
        json_array_append_new(w->trials, json_pack("{s:f, s:f, s:i}", "lambda", lambda, name, shown, "best_iteration", bi));
    if (v < w->best_loss) {
        w->best_loss = v;
        w->best_lambda = lambda;
    }
    return v;
}

/* Collective. --lambda auto: the lambda with the lowest validation RMSE.
 * A walk over half-decades (0.001 ... 10, starting at 0.1) moves towards
 * the better neighbour until the error rises, then the two quarter-decade
 * points beside the best are tried; every trial is an early-stopped
 * training from the same initial factors, so the choice is the same on any
 * rank count. */
static double lambda_search(lambda_walk *w)
{
    enum { NG = 9 };
    double grid[NG], err[NG];
    /* explicit (weighted lambda): 0.001 ... 10; implicit: 0.01 ... 100 */
    double lo = w->o->implicit ? -2.0 : -3.0;
    for (int j = 0; j < NG; j++)
        grid[j] = pow(10.0, lo + 0.5 * j);
    w->best_lambda = 0;
    w->best_loss = INFINITY;
    w->ntried = 0;
    int at = 4; /* 0.1 */
    err[at] = walk_try(w, grid[at]);
    err[at - 1] = walk_try(w, grid[at - 1]);
    err[at + 1] = walk_try(w, grid[at + 1]);
    int dir = err[at - 1] < err[at] && err[at - 1] <= err[at + 1] ? -1 : err[at + 1] < err[at] ? 1 : 0;
    if (dir != 0) {
        at += dir;
        while (at + dir >= 0 && at + dir < NG) {
            err[at + dir] = walk_try(w, grid[at + dir]);
            if (!(err[at + dir] < err[at]))
                break;
            at += dir;
        }
    }
    double centre = w->best_lambda;
    walk_try(w, centre * pow(10.0, -0.25));
    walk_try(w, centre * pow(10.0, 0.25));
    mkt_log(STAGE, "lambda auto (%s): chose %.4g (validation %s %.5f) after %d trials", w->what, w->best_lambda,
            w->o->implicit ? "NDCG" : "RMSE", w->o->implicit ? -w->best_loss : w->best_loss, w->ntried);
    return w->best_lambda;
}

/* The implicit solves of one half-step: every row of `rows` into out (stride
 * k) from the other side's factors y and their Gram matrix g, by Cholesky or
 * by o->cg_iters CG steps started from the row's current factors. */
static void implicit_half_step(const mkt_mf_options *o, const mf_rows *rows, int k, const double *y, const double *g,
                               double *out)
{
    if (!o->cg) {
        for (int64_t r = 0; r < rows->n; r += 8) { /* eight rows per batched solve */
            int nr = (int)(rows->n - r < 8 ? rows->n - r : 8);
            MKT_LAPACK(mkt_mf_solve_implicit_rows(k, nr, rows->ptr + r, rows->idx, rows->val, y, g, o->alpha,
                                                  o->lambda, out + r * k, NULL));
        }
        return;
    }
    for (int64_t r = 0; r < rows->n; r++) {
        int64_t a = rows->ptr[r], n = row_len(rows, r);
        if (mkt_mf_solve_implicit_cg(k, n, rows->idx + a, rows->val + a, y, g, o->alpha, o->lambda, o->cg_iters,
                                     out + r * k) != 0)
            mkt_fail("conjugate gradient: the implicit system of a row is not positive definite "
                     "(non-finite factors? try a larger --lambda)");
    }
}

/* Collective. Implicit ALS with k factors: Xfull [U x k], Yfull [I x k];
 * resuming and the return value as for als_explicit. */
/* Collective. Mean NDCG@topk of the validation items (implicit): each
 * validation user's scores over all items, the user's training items
 * excluded; exact sums, so the same on any rank count.  X holds the local
 * users' rows, Y all items (stride k). */
static double implicit_valid_ndcg(const mkt_mf_options *o, const mf_data *d, const double *X, const double *Y, int k,
                                  MPI_Comm comm)
{
    int64_t I = d->I;
    int K = o->topk;
    double *score = mkt_xmalloc(sizeof(double) * (size_t)(I + 1));
    unsigned char *excl = mkt_xcalloc((size_t)I + 1, 1);
    int32_t *top = mkt_xmalloc(sizeof(int32_t) * (size_t)K);
    mkt_xsum acc;
    mkt_xsum_init(&acc);
    for (int64_t r = 0; r < d->uvalid.n; r++) {
        int64_t nrel = row_len(&d->uvalid, r);
        if (nrel == 0)
            continue;
        const double *x = X + r * k;
        for (int64_t e = d->utrain.ptr[r]; e < d->utrain.ptr[r + 1]; e++)
            excl[d->utrain.idx[e]] = 1;
        for (int64_t i = 0; i < I; i++)
            score[i] = mkt_mf_dot(x, Y + i * k, k);
        int n = mkt_topk(score, I, excl, K, top);
        mkt_rank_quality q = mkt_rank_eval(top, n, K, d->uvalid.idx + d->uvalid.ptr[r], (int)nrel);
        mkt_xsum_add(&acc, q.ndcg);
        for (int64_t e = d->utrain.ptr[r]; e < d->utrain.ptr[r + 1]; e++)
            excl[d->utrain.idx[e]] = 0;
    }
    mkt_allreduce_xsum(&acc, 1, comm);
    free(score);
    free(excl);
    free(top);
    return d->n_valid > 0 ? mkt_xsum_value(&acc) / (double)d->n_valid : 0;
}

/* Collective. Implicit ALS with k factors: Xfull [U x k], Yfull [I x k];
 * resuming, early stopping (on minus the validation NDCG@topk) and the
 * return value as for als_explicit. */
static int als_implicit(const mkt_mf_options *o, const mf_data *d, int k, double *Xfull, double *Yfull,
                        json_t *history, int verbose, mf_ckpt_ctx *ck, mf_early *early, MPI_Comm comm)
{
    int start = ck ? ck->start : 0, stopped = 0, last = start;
    if (d->n_valid == 0)
        early = NULL;
    if (start == 0) {
        mkt_mf_init_factors(Xfull, 0, d->U, k, k, o->seed, 0);
        mkt_mf_init_factors(Yfull, 0, d->I, k, k, o->seed, ITEM_SALT);
    }
    const mf_xplan *px = ck ? ck->px : NULL, *py = ck ? ck->py : NULL;
    double *bytes = ck ? &ck->bytes : NULL;
    double *g = mkt_xmalloc(sizeof(double) * (size_t)(k * k));
    double t0 = mkt_now();
    for (int it = start + 1; it <= o->iters; it++) {
        double ts = mkt_now(), tl = ts, ph[2] = {0, 0};
        gram_chunked(Yfull, d->I, k, d->ib, g, comm); /* the same bits on every rank */
        implicit_half_step(o, &d->utrain, k, Yfull, g, Xfull + d->ub.begin * k);
        lap(&tl, &ph[0]);
        exchange_rows(Xfull, d->U, k, px, bytes, comm);
        lap(&tl, &ph[1]);
        gram_chunked(Xfull, d->U, k, d->ub, g, comm);
        implicit_half_step(o, &d->itrain, k, Xfull, g, Yfull + d->ib.begin * k);
        lap(&tl, &ph[0]);
        exchange_rows(Yfull, d->I, k, py, bytes, comm);
        lap(&tl, &ph[1]);
        last = it;
        int stop = 0;
        double vn = NAN;
        if (early) {
            if (py && py->targeted) /* the validation ranks every item: all item rows, fresh */
                gather_rows(Yfull, d->I, k, comm);
            vn = implicit_valid_ndcg(o, d, Xfull + d->ub.begin * k, Yfull, k, comm);
            stop = early_update(early, it, -vn, Xfull, Yfull, d->U, d->I, k);
        }
        double now = mkt_now(), per = (now - t0) / (it - start);
        if (verbose)
            mkt_log_detail(STAGE, "iteration %d/%d  validation NDCG@%d %.4f  %.2fs  ETA %.0fs", it, o->iters, o->topk, vn,
                    now - ts, per * (o->iters - it));
        if (history) {
            json_t *h = iteration_record(history, it, now - ts, ph);
            if (early)
                mkt_metrics_set_real(h, "validation_ndcg", vn);
        }
        phase_account(ck, ph, ts);
        if (after_iteration(ck, it, o->iters, d, k, Xfull, Yfull, history, early, comm)) {
            stopped = it;
            break;
        }
        if (stop) {
            if (verbose)
                mkt_log(STAGE, "early stop after iteration %d: no better validation NDCG for %d iterations (best %.4f "
                        "at iteration %d)", it, early->patience, -early->best_loss, early->best_it);
            break;
        }
    }
    free(g);
    if (!stopped)
        early_restore(early, last, Xfull, Yfull, d->U, d->I, k);
    return stopped;
}

static void set_quality(json_t *obj, const mkt_xsum *acc, int64_t n, int64_t covered, int64_t items, int k)
{
    static const char *names[5] = {"hr", "precision", "recall", "ndcg", "map"};
    char key[32];
    for (int j = 0; j < 5; j++) {
        snprintf(key, sizeof key, "%s@%d", names[j], k);
        mkt_metrics_set_real(obj, key, n > 0 ? mkt_xsum_value(&acc[j]) / (double)n : 0);
    }
    snprintf(key, sizeof key, "coverage@%d", k);
    mkt_metrics_set_real(obj, key, items > 0 ? (double)covered / (double)items : 0);
}

/* Collective. Top-K evaluation of the users' held-out items: each rank scores
 * its users (rows of X, stride `stride`, first k columns factors) against all
 * items, excluding their training items, beside the popularity baseline
 * (items by number of training users). Returns HR@K of the model. */
static double ranking_eval(const mkt_mf_options *o, const mf_data *d, const double *X, const double *Y, int k,
                           int stride, MPI_Comm comm, json_t *metrics)
{
    int64_t I = d->I;
    int K = o->topk;
    int64_t *pop = mkt_xcalloc((size_t)I + 1, sizeof(int64_t));
    for (int64_t r = 0; r < d->itrain.n; r++)
        pop[d->ib.begin + r] = row_len(&d->itrain, r);
    MKT_MPI(MPI_Allreduce(MPI_IN_PLACE, pop, (int)I, MPI_INT64_T, MPI_SUM, comm));
    double *pscore = mkt_xmalloc(sizeof(double) * (size_t)(I + 1));
    double *score = mkt_xmalloc(sizeof(double) * (size_t)(I + 1));
    for (int64_t i = 0; i < I; i++)
        pscore[i] = (double)pop[i];
    unsigned char *excl = mkt_xcalloc((size_t)I + 1, 1), *cov = mkt_xcalloc(2 * (size_t)I + 1, 1);
    int32_t *top = mkt_xmalloc(sizeof(int32_t) * (size_t)K);
    mkt_xsum acc[10];
    for (int j = 0; j < 10; j++)
        mkt_xsum_init(&acc[j]);
    int64_t users = 0;
    for (int64_t r = 0; r < d->utest.n; r++) {
        int64_t nrel = row_len(&d->utest, r);
        if (nrel == 0)
            continue;
        users++;
        const double *x = X + r * stride;
        for (int64_t e = d->utrain.ptr[r]; e < d->utrain.ptr[r + 1]; e++)
            excl[d->utrain.idx[e]] = 1;
        for (int64_t e = d->uvalid.ptr[r]; e < d->uvalid.ptr[r + 1]; e++) /* seen before the held-out item */
            excl[d->uvalid.idx[e]] = 1;
        for (int64_t i = 0; i < I; i++)
            score[i] = mkt_mf_dot(x, Y + i * stride, k) + (stride > k ? Y[i * stride + k] : 0);
        for (int m = 0; m < 2; m++) {
            int n = mkt_topk(m == 0 ? score : pscore, I, excl, K, top);
            mkt_rank_quality q = mkt_rank_eval(top, n, K, d->utest.idx + d->utest.ptr[r], (int)nrel);
            double v[5] = {q.hit, q.precision, q.recall, q.ndcg, q.ap};
            for (int j = 0; j < 5; j++)
                mkt_xsum_add(&acc[m * 5 + j], v[j]);
            for (int j = 0; j < n; j++)
                cov[(size_t)m * (size_t)I + (size_t)top[j]] = 1;
        }
        for (int64_t e = d->utrain.ptr[r]; e < d->utrain.ptr[r + 1]; e++)
            excl[d->utrain.idx[e]] = 0;
        for (int64_t e = d->uvalid.ptr[r]; e < d->uvalid.ptr[r + 1]; e++)
            excl[d->uvalid.idx[e]] = 0;
    }
    mkt_allreduce_xsum(acc, 10, comm);
    MKT_MPI(MPI_Allreduce(MPI_IN_PLACE, &users, 1, MPI_INT64_T, MPI_SUM, comm));
    MKT_MPI(MPI_Allreduce(MPI_IN_PLACE, cov, (int)(2 * I), MPI_UNSIGNED_CHAR, MPI_MAX, comm));
    int64_t covered[2] = {0, 0};
    for (int m = 0; m < 2; m++)
        for (int64_t i = 0; i < I; i++)
            covered[m] += cov[m * I + i];
    mkt_metrics_set_int(metrics, "users_evaluated", users);
    mkt_metrics_set_int(metrics, "k", K);
    set_quality(mkt_metrics_child(metrics, "model"), acc, users, covered[0], I, K);
    set_quality(mkt_metrics_child(metrics, "popularity"), acc + 5, users, covered[1], I, K);
    double hr = users > 0 ? mkt_xsum_value(&acc[0]) / (double)users : 0;
    double phr = users > 0 ? mkt_xsum_value(&acc[5]) / (double)users : 0;
    mkt_log(STAGE, "held-out HR@%d %.4f (popularity %.4f) over %lld users", K, hr, phr, (long long)users);
    free(pop);
    free(pscore);
    free(score);
    free(excl);
    free(cov);
    free(top);
    return hr;
}

/* Collective. RMSE and MAE of the global training mean on the held-out ratings. */
static void global_mean_errors(const mf_data *d, MPI_Comm comm, double out[2])
{
    mkt_xsum acc[2];
    mkt_xsum_init(&acc[0]);
    mkt_xsum_init(&acc[1]);
    for (int64_t e = 0; e < d->utest.ptr[d->utest.n]; e++) {
        double err = d->utest.val[e] - d->mu;
        mkt_xsum_add(&acc[0], err * err);
        mkt_xsum_add(&acc[1], fabs(err));
    }
    mkt_allreduce_xsum(acc, 2, comm);
    double nh = d->n_test > 0 ? (double)d->n_test : NAN;
    out[0] = sqrt(mkt_xsum_value(&acc[0]) / nh);
    out[1] = mkt_xsum_value(&acc[1]) / nh;
}

/* Collective. The biases-only baseline (the same ALS with K = 0) into bx
 * [U] and by [I]: its own lambda chosen the same way when the model's was
 * (o->lambda_auto), else o->lambda, and the same early stopping.  Returns
 * its lambda. */
static double bias_baseline(const mkt_mf_options *o, const mf_data *d, double *bx, double *by, MPI_Comm comm)
{
    int use_early = d->n_valid > 0;
    mf_early e;
    early_init(&e, o->patience, use_early ? d->U : 0, use_early ? d->I : 0, 1);
    mkt_mf_options bo = *o;
    if (o->lambda_auto) {
        lambda_walk w = {o, d, 0, bx, by, &e, NULL, NULL, NULL, "biases only", comm, 0, 0, 0};
        bo.lambda = lambda_search(&w);
    }
    early_reset(&e);
    als_explicit(&bo, d, 0, bx, by, NULL, 0, NULL, use_early ? &e : NULL, comm);
    early_free(&e);
    return bo.lambda;
}

/* Collective. The explicit model's errors on d->utest (`what`: held-out
 * ratings or a test store) beside the global mean and the biases-only
 * baseline, into metrics and the log.  X holds the local users' rows, Y all
 * items (stride k+1). */
static void explicit_report(const mkt_mf_options *o, const mf_data *d, const double *X, const double *Y, int k,
                            const char *what, MPI_Comm comm, json_t *metrics)
{
    double err[3], gm[2], be[3];
    explicit_errors(d, X, Y, k, NULL, comm, err);
    global_mean_errors(d, comm, gm);
    double *bx = mkt_xmalloc(sizeof(double) * (size_t)(d->U + 1)), *by = mkt_xmalloc(sizeof(double) * (size_t)(d->I + 1));
    double bl = bias_baseline(o, d, bx, by, comm);
    explicit_errors(d, bx + d->ub.begin, by, 0, NULL, comm, be);
    free(bx);
    free(by);
    mkt_metrics_set_real(metrics, "rmse", err[1]);
    mkt_metrics_set_real(metrics, "mae", err[2]);
    json_t *b = mkt_metrics_child(metrics, "baseline");
    mkt_metrics_set_real(b, "global_mean_rmse", gm[0]);
    mkt_metrics_set_real(b, "global_mean_mae", gm[1]);
    mkt_metrics_set_real(b, "bias_rmse", be[1]);
    mkt_metrics_set_real(b, "bias_mae", be[2]);
    mkt_metrics_set_real(b, "bias_lambda", bl);
    mkt_log(STAGE, "%s RMSE %.4f MAE %.4f over %lld ratings (biases only %.4f, global mean %.4f)%s", what, err[1],
            err[2], (long long)d->n_test, be[1], gm[0],
            err[1] < be[1] ? "" : "  -- NOT better than biases only: try --lambda auto, another --rank, or more data");
}

/* Column k (the bias) of rows [b.begin, b.end) of full (stride s) as a
 * block; zeros when s == k (implicit models have no biases). */
static double *block_bias(const double *full, mkt_block b, int s, int k)
{
    int64_t n = b.end - b.begin;
    double *out = mkt_xmalloc(sizeof(double) * (size_t)(n + 1));
    for (int64_t r = 0; r < n; r++)
        out[r] = k < s ? full[(b.begin + r) * s + k] : 0;
    return out;
}

/* The first k columns of rows [b.begin, b.end) of full (stride s) made a
 * contiguous block in place, where those rows start (no copy: the model
 * file is the last reader of the factors).  Returns the block. */
static double *block_factors_in_place(double *full, mkt_block b, int s, int k)
{
    double *dst = full + b.begin * s;
    for (int64_t r = 1; k < s && r < b.end - b.begin; r++)
        memmove(dst + r * k, dst + r * s, sizeof(double) * (size_t)k);
    return dst;
}

/* Collective. /models/mf from the full factor matrices, which it overwrites
 * (each rank's block is compacted in place to k columns). */
static void write_model(const mkt_mf_options *o, const mf_data *d, double *Xfull, double *Yfull, int k, int s,
                        int best_iteration, MPI_Comm comm)
{
    mkt_model_writer w;
    mkt_model_begin(&w, o->out, MKT_MODELS_MF, comm);
    char p[600];
    double *ubias = block_bias(Xfull, d->ub, s, k), *ibias = block_bias(Yfull, d->ib, s, k);
    const struct {
        const char *name;
        double *blk;
        mkt_block b;
        int64_t n;
        int cols;
    } parts[4] = {{"user_factors", block_factors_in_place(Xfull, d->ub, s, k), d->ub, d->U, k},
                  {"item_factors", block_factors_in_place(Yfull, d->ib, s, k), d->ib, d->I, k},
                  {"user_bias", ubias, d->ub, d->U, 0},
                  {"item_bias", ibias, d->ib, d->I, 0}};
    for (int j = 0; j < 4; j++) {
        snprintf(p, sizeof p, "%s/%s", w.group, parts[j].name);
        mkt_h5_write_rows_at(w.file, p, H5T_NATIVE_DOUBLE, parts[j].blk, parts[j].b.begin,
                             parts[j].b.end - parts[j].b.begin, parts[j].n, parts[j].cols, comm);
    }
    free(ubias);
    free(ibias);
    static const char *wn[5] = {"weight_view", "weight_click", "weight_cart", "weight_fav", "weight_purchase"};
    mkt_h5_attr_set_double(w.file, w.group, "global_mean", o->implicit ? 0 : d->mu);
    mkt_h5_attr_set_int(w.file, w.group, "rank", k);
    mkt_h5_attr_set_double(w.file, w.group, "lambda", o->lambda);
    mkt_h5_attr_set_int(w.file, w.group, "iters", o->iters);
    mkt_h5_attr_set_int(w.file, w.group, "implicit", o->implicit);
    mkt_h5_attr_set_double(w.file, w.group, "alpha", o->alpha);
    mkt_h5_attr_set_double(w.file, w.group, "holdout", o->holdout);
    mkt_h5_attr_set_double(w.file, w.group, "valid_fraction", o->valid_fraction);
    mkt_h5_attr_set_double(w.file, w.group, "weight_rating", o->weight_rating);
    mkt_h5_attr_set_double(w.file, w.group, "rating_threshold", o->rating_threshold);
    mkt_h5_attr_set_int(w.file, w.group, "patience", o->patience);
    mkt_h5_attr_set_int(w.file, w.group, "best_iteration", best_iteration);
    mkt_h5_attr_set_int(w.file, w.group, "lambda_auto", o->lambda_auto);
    for (int j = 0; j < 5; j++)
        mkt_h5_attr_set_double(w.file, w.group, wn[j], o->weight[j]);
    mkt_h5_attr_set_int(w.file, w.group, "seed", (int64_t)o->seed);
    mkt_h5_attr_set_int(w.file, w.group, "users", d->U);
    mkt_h5_attr_set_int(w.file, w.group, "items", d->I);
    if (d->until_ts != INT64_MIN) /* trained on the events with ts < until_ts */
        mkt_h5_attr_set_int(w.file, w.group, "until_ts", d->until_ts);
    mkt_h5_attr_set_int(w.file, w.group, "schema_version", MKT_SCHEMA_VERSION);
    mkt_model_end(&w, comm);
}

/* Everything the trained factors depend on: a checkpoint is only resumed by
 * a run with the same values (iters may differ: ALS has no schedule). */
static void mf_config(const mkt_mf_options *o, const mf_data *d, mkt_ckpt_config *cfg)
{
    static const char *wn[5] = {"weight_view", "weight_click", "weight_cart", "weight_fav", "weight_purchase"};
    mkt_ckpt_config_init(cfg);
    /* options first, so a changed option is the key named, then the data */
    mkt_ckpt_config_str(cfg, "state_layout", "mf-1");
    mkt_ckpt_config_path(cfg, "store", o->store);
    mkt_ckpt_config_str(cfg, "implicit", o->implicit ? "1" : "0");
    mkt_ckpt_config_int(cfg, "rank", o->rank);
    mkt_ckpt_config_double(cfg, "lambda", o->lambda);
    mkt_ckpt_config_int(cfg, "seed", (int64_t)o->seed);
    if (o->implicit) {
        mkt_ckpt_config_double(cfg, "alpha", o->alpha);
        mkt_ckpt_config_str(cfg, "solver", o->cg ? "cg" : "cholesky");
        if (o->cg)
            mkt_ckpt_config_int(cfg, "cg_iters", o->cg_iters);
        for (int j = 0; j < 5; j++)
            mkt_ckpt_config_double(cfg, wn[j], o->weight[j]);
        mkt_ckpt_config_double(cfg, "weight_rating", o->weight_rating);
        mkt_ckpt_config_double(cfg, "rating_threshold", o->rating_threshold);
    } else {
        mkt_ckpt_config_double(cfg, "holdout", o->holdout);
        mkt_ckpt_config_double(cfg, "valid_fraction", o->valid_fraction);
        mkt_ckpt_config_int(cfg, "patience", o->patience);
    }
    if (o->has_until)
        mkt_ckpt_config_int(cfg, "until_ts", o->until_ts);
    mkt_ckpt_config_int(cfg, "users", d->U);
    mkt_ckpt_config_int(cfg, "items", d->I);
    mkt_ckpt_config_int(cfg, "train_entries", d->n_train);
    mkt_ckpt_config_int(cfg, "heldout_entries", d->n_test);
    if (!o->implicit)
        mkt_ckpt_config_double(cfg, "global_mean", d->mu);
}

static void check_options(const mkt_mf_options *o)
{
    if (!o->lambda_auto && !(o->lambda > 0))
        mkt_fail_all(MKT_EXIT_USAGE, "--lambda must be > 0 or auto (got %g)", o->lambda);
    if (!(o->valid_fraction >= 0 && o->valid_fraction <= 0.9))
        mkt_fail_all(MKT_EXIT_USAGE, "--valid-fraction must be in [0, 0.9] (got %g)", o->valid_fraction);
    if (o->patience < 0)
        mkt_fail_all(MKT_EXIT_USAGE, "--patience must be >= 0 (got %d)", o->patience);
    if (o->lambda_auto && !(o->valid_fraction > 0))
        mkt_fail_all(MKT_EXIT_USAGE, "--lambda auto chooses lambda on validation ratings: it needs --valid-fraction > 0 "
                                     "(or give --lambda a value)");
    if (o->rank < 1)
        mkt_fail_all(MKT_EXIT_USAGE, "--rank must be >= 1 (got %d)", o->rank);
    if (o->topk < 1)
        mkt_fail_all(MKT_EXIT_USAGE, "--topk must be >= 1");
    if (o->implicit && !(o->alpha >= 0))
        mkt_fail_all(MKT_EXIT_USAGE, "--alpha must be >= 0");
    if (o->cg && !o->implicit)
        mkt_fail_all(MKT_EXIT_USAGE, "--solver cg applies to --implicit only");
    if (o->cg && o->cg_iters < 1)
        mkt_fail_all(MKT_EXIT_USAGE, "--cg-iters must be >= 1 (got %d)", o->cg_iters);
}

int mkt_mf_train_run(const mkt_mf_options *opt, MPI_Comm comm, json_t *metrics)
{
    double t0 = mkt_now();
    mkt_mf_options chosen = *opt; /* with lambda auto: the lambda found */
    const mkt_mf_options *o = &chosen;
    check_options(o);
    if (!o->out)
        mkt_fail_all(MKT_EXIT_USAGE, "--out MODEL.h5 is required");
    mf_data d;
    load_data(o, comm, &d);
    int k = o->rank, s = o->implicit ? k : k + 1;
    mkt_log(STAGE, "%lld users, %lld items, %lld training and %lld held-out %s; rank %d, %d iterations",
            (long long)d.U, (long long)d.I, (long long)d.n_train, (long long)d.n_test,
            o->implicit ? "user-item pairs" : "ratings", k, o->iters);
    if (o->has_until)
        mkt_log(STAGE, "events before %lld (--until) only", (long long)o->until_ts);
    double *X = mkt_xmalloc(sizeof(double) * (size_t)(d.U * s + 1));
    double *Y = mkt_xmalloc(sizeof(double) * (size_t)(d.I * s + 1));
    json_t *history = json_array();

    /* checkpoints: resume when asked and a matching one exists */
    mkt_ckpt ck;
    mkt_ckpt_init(&ck, STAGE, o->checkpoint, o->out, "mf", o->checkpoint_every, o->resume);
    mkt_ckpt_signals_install();
    /* exchange plans: the item rows the user step reads (training and
     * held-out ratings, the Gram chunks), the user rows the item step reads */
    mf_xplan px, py;
    {
        uint8_t *bx = mkt_xcalloc((size_t)(d.U / 8 + 1), 1), *by = mkt_xcalloc((size_t)(d.I / 8 + 1), 1);
        for (int64_t e = 0; e < d.utrain.ptr[d.utrain.n]; e++)
            mark(by, d.utrain.idx[e]);
        for (int64_t e = 0; e < d.utest.ptr[d.utest.n] && !o->implicit; e++)
            mark(by, d.utest.idx[e]);
        for (int64_t e = 0; e < d.uvalid.ptr[d.uvalid.n]; e++)
            mark(by, d.uvalid.idx[e]);
        for (int64_t e = 0; e < d.itrain.ptr[d.itrain.n]; e++)
            mark(bx, d.itrain.idx[e]);
        if (o->implicit) {
            mark_gram_rows(bx, d.U, d.ub);
            mark_gram_rows(by, d.I, d.ib);
        }
        plan_build(&px, bx, d.U, s, d.ub, o->exchange, comm);
        plan_build(&py, by, d.I, s, d.ib, o->exchange, comm);
        free(bx);
        free(by);
    }
    memlog("plans");
    /* early stopping on the validation ratings (explicit) */
    mf_early early;
    int use_early = d.n_valid > 0;
    early_init(&early, o->patience, use_early ? d.U : 0, use_early ? d.I : 0, s);
    json_t *trials = json_array();
    if (o->lambda_auto) {
        double ts = mkt_now();
        lambda_walk w = {o, &d, k, X, Y, &early, &px, &py, trials, "model", comm, 0, 0, 0};
        chosen.lambda = lambda_search(&w);
        mkt_metrics_set_real(metrics, "seconds_lambda_search", mkt_now() - ts);
    }
    mkt_ckpt_config cfg;
    mf_config(o, &d, &cfg);
    mf_ckpt_ctx cc = {&ck, &cfg, 0, 0, 0, 0, &px, &py, 0};
    early_reset(&early);
    hid_t cf = mkt_ckpt_open_resume(&ck, "mf", &cfg, &cc.start, comm);
    if (cf >= 0) {
        if (cc.start > o->iters)
            mkt_fail_all(MKT_EXIT_USAGE, "checkpoint %s is at iteration %d, past --iters %d", ck.path, cc.start,
                         o->iters);
        mkt_ckpt_read_full(cf, ck.path, "user_factors", X, d.U, s);
        mkt_ckpt_read_full(cf, ck.path, "item_factors", Y, d.I, s);
        json_t *h = mkt_ckpt_read_json(cf, ck.path, "history");
        if (!json_is_array(h))
            mkt_fail_all(MKT_EXIT_ERROR, "checkpoint %s: history is not a list (corrupt)", ck.path);
        json_array_extend(history, h);
        json_decref(h);
        if (use_early && mkt_h5_exists(cf, "best_user_factors")) {
            mkt_ckpt_read_full(cf, ck.path, "best_user_factors", early.X, d.U, s);
            mkt_ckpt_read_full(cf, ck.path, "best_item_factors", early.Y, d.I, s);
            json_t *b = mkt_ckpt_read_json(cf, ck.path, "early_stopping");
            json_t *bi = json_object_get(b, "best_iteration"), *br = json_object_get(b, "best_validation_loss");
            if (!json_is_integer(bi) || !json_is_number(br) || json_integer_value(bi) < 1 ||
                json_integer_value(bi) > cc.start)
                mkt_fail_all(MKT_EXIT_ERROR, "checkpoint %s: early_stopping is not a valid record (corrupt)", ck.path);
            early.best_it = (int)json_integer_value(bi);
            early.best_loss = json_number_value(br);
            json_decref(b);
        }
        mkt_h5_close(cf);
    }
    mkt_metrics_set_str(metrics, "checkpoint", ck.path);
    mkt_metrics_set_int(metrics, "resumed_from_iteration", cc.start);

    double t1 = mkt_now();
    int stopped = !o->implicit ? als_explicit(o, &d, k, X, Y, history, 1, &cc, use_early ? &early : NULL, comm)
                               : als_implicit(o, &d, k, X, Y, history, 1, &cc, use_early ? &early : NULL, comm);
    double t_train = mkt_now() - t1;
    memlog("trained");
    /* evaluation and the model file read every row */
    if (px.targeted)
        gather_rows(X, d.U, s, comm);
    if (py.targeted)
        gather_rows(Y, d.I, s, comm);
    mkt_metrics_set_int(metrics, "checkpoints_written", ck.written);
    if (stopped) {
        mkt_metrics_set_int(metrics, "preempted_at_iteration", stopped);
        mkt_ckpt_preempted(&ck, stopped);
        json_decref(history);
        json_decref(trials);
        early_free(&early);
        mkt_ckpt_config_free(&cfg);
        mkt_ckpt_free(&ck);
        plan_free(&px);
        plan_free(&py);
        free(X);
        free(Y);
        free_data(&d);
        return MKT_EXIT_PREEMPTED;
    }
    mkt_metrics_set_int(metrics, "users", d.U);
    mkt_metrics_set_int(metrics, "items", d.I);
    mkt_metrics_set_int(metrics, "train_entries", d.n_train);
    mkt_metrics_set_int(metrics, "heldout_entries", d.n_test);
    if (d.until_ts != INT64_MIN)
        mkt_metrics_set_int(metrics, "until_ts", d.until_ts);
    mkt_metrics_set_int(metrics, "rank", k);
    mkt_metrics_set_int(metrics, "iters", o->iters);
    mkt_metrics_set_real(metrics, "lambda", o->lambda);
    mkt_metrics_set_str(metrics, "lambda_mode", opt->lambda_auto ? "auto" : "fixed");
    if (o->lambda_auto)
        json_object_set(metrics, "lambda_search", trials);
    mkt_metrics_set_int(metrics, "validation_entries", d.n_valid);
    mkt_metrics_set_int(metrics, "iterations_run", (int)json_array_size(history));
    mkt_metrics_set_str(metrics, "mode", o->implicit ? "implicit" : "explicit");
    if (!o->implicit) {
        double err[3];
        explicit_errors(&d, X + d.ub.begin * s, Y, k, NULL, comm, err);
        if (use_early) {
            double vr = early.best_loss; /* the written factors' validation RMSE */
            mkt_metrics_set_real(metrics, "validation_rmse", vr);
            mkt_metrics_set_int(metrics, "best_iteration", early.best_it);
            json_t *sel = mkt_metrics_child(metrics, "selection");
            mkt_metrics_set_str(sel, "metric", "rmse");
            mkt_metrics_set_real(sel, "value", vr);
            mkt_metrics_set_str(sel, "goal", "min");
            mkt_metrics_set_str(sel, "split", "validation");
        }
        mkt_metrics_set_real(metrics, "global_mean", d.mu);
        mkt_metrics_set_real(metrics, "train_rmse", err[0]);
        if (d.n_test > 0) {
            explicit_report(o, &d, X + d.ub.begin * s, Y, k, "held-out", comm, metrics);
        } else {
            mkt_log(STAGE, "no held-out ratings (--holdout 0): score the model on a test store with `mkt eval mf "
                           "--test TEST.h5`");
        }
    } else {
        mkt_metrics_set_real(metrics, "alpha", o->alpha);
        mkt_metrics_set_str(metrics, "solver", o->cg ? "cg" : "cholesky");
        if (o->cg)
            mkt_metrics_set_int(metrics, "cg_iters", o->cg_iters);
        if (use_early) {
            double vn = -early.best_loss; /* the written factors' validation NDCG */
            char key[32];
            snprintf(key, sizeof key, "ndcg@%d", o->topk);
            json_t *v = mkt_metrics_child(metrics, "validation");
            mkt_metrics_set_real(v, key, vn);
            mkt_metrics_set_int(metrics, "best_iteration", early.best_it);
            json_t *sel = mkt_metrics_child(metrics, "selection");
            mkt_metrics_set_str(sel, "metric", key);
            mkt_metrics_set_real(sel, "value", vn);
            mkt_metrics_set_str(sel, "goal", "max");
            mkt_metrics_set_str(sel, "split", "validation");
        }
        ranking_eval(o, &d, X + d.ub.begin * s, Y, k, s, comm, metrics);
    }
    memlog("evaluated");
    json_object_set_new(metrics, "history", history);
    write_model(o, &d, X, Y, k, s, use_early ? early.best_it : (int)json_array_size(history), comm);
    memlog("model written");
    json_decref(trials);
    early_free(&early);
    mkt_ckpt_remove(&ck, comm);
    int ran = o->iters - cc.start, per = ran > 0 ? ran : 1;
    double secs[5] = {t_train / per, mkt_now() - t0, cc.solve / per, cc.exchange / per,
                      (cc.wall - cc.solve - cc.exchange) / per};
    MKT_MPI(MPI_Allreduce(MPI_IN_PLACE, secs, 5, MPI_DOUBLE, MPI_MAX, comm));
    mkt_metrics_set_real(metrics, "seconds_per_iteration", secs[0]);
    mkt_metrics_set_real(metrics, "seconds", secs[1]);
    /* where an iteration's time goes (max over ranks of each rank's mean;
     * exchange includes waiting for the slowest rank), and the solve FLOPs */
    json_t *phase = mkt_metrics_child(metrics, "phase_seconds_per_iteration");
    mkt_metrics_set_real(phase, "solve", secs[2]);
    mkt_metrics_set_real(phase, "exchange", secs[3]);
    mkt_metrics_set_real(phase, "other", secs[4]);
    int cgi = o->implicit && o->cg ? o->cg_iters : 0;
    double flops = half_step_flops(&d.utrain, s, o->implicit, d.I, cgi) +
                   half_step_flops(&d.itrain, s, o->implicit, d.U, cgi);
    MKT_MPI(MPI_Allreduce(MPI_IN_PLACE, &flops, 1, MPI_DOUBLE, MPI_SUM, comm));
    mkt_metrics_set_real(metrics, "solve_flops_per_iteration", flops);
    /* communication: the mode of each side, the bytes all ranks received per
     * iteration (measured), and both modes' volumes estimated from the plans */
    double bytes = cc.bytes;
    MKT_MPI(MPI_Allreduce(MPI_IN_PLACE, &bytes, 1, MPI_DOUBLE, MPI_SUM, comm));
    json_t *ex = mkt_metrics_child(metrics, "exchange");
    mkt_metrics_set_str(ex, "user_rows", px.targeted ? "targeted" : "allgather");
    mkt_metrics_set_str(ex, "item_rows", py.targeted ? "targeted" : "allgather");
    mkt_metrics_set_real(ex, "bytes_per_iteration", bytes / per);
    mkt_metrics_set_real(ex, "allgather_bytes_per_iteration", px.bytes_allgather + py.bytes_allgather);
    mkt_metrics_set_real(ex, "targeted_bytes_per_iteration", px.bytes_targeted + py.bytes_targeted);
    mkt_metrics_set_real(metrics, "solve_gflops_per_second", secs[2] > 0 ? flops / secs[2] / 1e9 : 0);
    int nranks;
    MKT_MPI(MPI_Comm_size(comm, &nranks));
    mkt_metrics_set_real(metrics, "solve_gflops_per_second_per_rank",
                         secs[2] > 0 ? flops / secs[2] / 1e9 / nranks : 0);
    /* a signal after the last iteration: the model is complete, but the job
     * was asked to stop, so it says so with the preemption status */
    int late = mkt_ckpt_agree_signal(comm);
    mkt_ckpt_signals_restore();
    if (late)
        mkt_log(STAGE, "preempted after the last iteration: the model %s is complete; nothing to resume", o->out);
    mkt_ckpt_config_free(&cfg);
    mkt_ckpt_free(&ck);
    plan_free(&px);
    plan_free(&py);
    free(X);
    free(Y);
    free_data(&d);
    return late ? MKT_EXIT_PREEMPTED : 0;
}

int mkt_mf_eval_run(const mkt_mf_options *cli, MPI_Comm comm, json_t *metrics)
{
    double t0 = mkt_now();
    int rank, nranks;
    MKT_MPI(MPI_Comm_rank(comm, &rank));
    MKT_MPI(MPI_Comm_size(comm, &nranks));
    if (!cli->model)
        mkt_fail_all(MKT_EXIT_USAGE, "--model MODEL.h5 is required");
    if (!cli->store)
        mkt_fail_all(MKT_EXIT_USAGE, "--store STORE.h5 is required");
    if (cli->test) /* before either file is opened collectively */
        mkt_store_check_test_of(cli->store, cli->test, comm);
    hid_t m = mkt_h5_open(cli->model, 0, comm);
    if (!mkt_h5_exists(m, MKT_MODELS_MF_USER_FACTORS))
        mkt_fail_all(MKT_EXIT_ERROR, "%s has no /models/mf (train one with `mkt train mf`)", cli->model);
    const char *g = MKT_MODELS_MF;
    mkt_mf_options o = *cli;
    static const char *wn[5] = {"weight_view", "weight_click", "weight_cart", "weight_fav", "weight_purchase"};
    o.rank = (int)mkt_h5_attr_get_int(m, g, "rank", 0);
    o.implicit = (int)mkt_h5_attr_get_int(m, g, "implicit", 0);
    o.seed = (uint64_t)mkt_h5_attr_get_int(m, g, "seed", 0);
    o.holdout = mkt_h5_attr_get_double(m, g, "holdout", 0.1);
    o.valid_fraction = mkt_h5_attr_get_double(m, g, "valid_fraction", 0);
    o.patience = (int)mkt_h5_attr_get_int(m, g, "patience", 0);
    o.iters = (int)mkt_h5_attr_get_int(m, g, "iters", 10); /* for the biases-only baseline */
    o.lambda_auto = (int)mkt_h5_attr_get_int(m, g, "lambda_auto", 0);
    o.alpha = mkt_h5_attr_get_double(m, g, "alpha", 0);
    o.lambda = mkt_h5_attr_get_double(m, g, "lambda", 0);
    for (int j = 0; j < 5; j++)
        o.weight[j] = mkt_h5_attr_get_double(m, g, wn[j], 0);
    o.weight_rating = mkt_h5_attr_get_double(m, g, "weight_rating", 0);
    o.rating_threshold = mkt_h5_attr_get_double(m, g, "rating_threshold", 0);
    /* the same events as training: those before the model's until_ts */
    o.until_ts = mkt_h5_attr_get_int(m, g, "until_ts", INT64_MIN);
    o.has_until = o.until_ts != INT64_MIN;
    int64_t mu_u = mkt_h5_attr_get_int(m, g, "users", -1), mu_i = mkt_h5_attr_get_int(m, g, "items", -1);
    int k = o.rank, s = o.implicit ? k : k + 1;
    mf_data d;
    load_data(&o, comm, &d);
    if (mu_u != d.U || mu_i != d.I)
        mkt_fail_all(MKT_EXIT_ERROR, "model %s was trained on %lld users x %lld items, store %s has %lld x %lld",
                     cli->model, (long long)mu_u, (long long)mu_i, cli->store, (long long)d.U, (long long)d.I);
    if (cli->test)
        load_test(&o, cli->test, &d, comm);
    else if (d.n_test == 0)
        mkt_fail_all(MKT_EXIT_ERROR,
                     "%s has no held-out %s for model %s (trained with --holdout 0?): give a test store with --test",
                     cli->store, o.implicit ? "items" : "ratings", cli->model);
    int64_t nl = d.ub.end - d.ub.begin;
    double *uf = mkt_xmalloc(sizeof(double) * (size_t)(nl * k + 1)), *ub = mkt_xmalloc(sizeof(double) * (size_t)(nl + 1));
    double *itf = mkt_xmalloc(sizeof(double) * (size_t)(d.I * k + 1)), *ib = mkt_xmalloc(sizeof(double) * (size_t)(d.I + 1));
    mkt_h5_read_rows(m, MKT_MODELS_MF_USER_FACTORS, H5T_NATIVE_DOUBLE, d.ub.begin, nl, uf);
    mkt_h5_read_rows(m, MKT_MODELS_MF_USER_BIAS, H5T_NATIVE_DOUBLE, d.ub.begin, nl, ub);
    mkt_h5_read_rows(m, MKT_MODELS_MF_ITEM_FACTORS, H5T_NATIVE_DOUBLE, 0, d.I, itf);
    mkt_h5_read_rows(m, MKT_MODELS_MF_ITEM_BIAS, H5T_NATIVE_DOUBLE, 0, d.I, ib);
    mkt_h5_close(m);
    double *X = mkt_xmalloc(sizeof(double) * (size_t)(nl * s + 1)), *Y = mkt_xmalloc(sizeof(double) * (size_t)(d.I * s + 1));
    for (int64_t r = 0; r < nl; r++) {
        memcpy(X + r * s, uf + r * k, sizeof(double) * (size_t)k);
        if (s > k)
            X[r * s + k] = ub[r];
    }
    for (int64_t i = 0; i < d.I; i++) {
        memcpy(Y + i * s, itf + i * k, sizeof(double) * (size_t)k);
        if (s > k)
            Y[i * s + k] = ib[i];
    }
    mkt_metrics_set_int(metrics, "users", d.U);
    mkt_metrics_set_int(metrics, "items", d.I);
    mkt_metrics_set_int(metrics, "heldout_entries", d.n_test);
    mkt_metrics_set_str(metrics, "mode", o.implicit ? "implicit" : "explicit");
    if (cli->test)
        mkt_metrics_set_str(metrics, "test_store", cli->test);
    if (!o.implicit) {
        explicit_report(&o, &d, X, Y, k, cli->test ? "test-store" : "held-out", comm, metrics);
    } else {
        ranking_eval(&o, &d, X, Y, k, s, comm, metrics);
    }
    double secs = mkt_now() - t0;
    MKT_MPI(MPI_Allreduce(MPI_IN_PLACE, &secs, 1, MPI_DOUBLE, MPI_MAX, comm));
    mkt_metrics_set_real(metrics, "seconds", secs);
    free(uf);
    free(ub);
    free(itf);
    free(ib);
    free(X);
    free(Y);
    free_data(&d);
    return 0;
}
