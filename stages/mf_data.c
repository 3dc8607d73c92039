/* mkt_als_data.c — the data of the ALS stage (`mkt train mf`, `mkt eval mf`):
 * each rank's user and item blocks of the event store read in chunks of
 * rows straight into CSR training rows (optionally only the events before
 * --until), the hold-out and validation splits, and the rows of a test store.
 *
 * Explicit mode: ratings (MKT_EV_RATING), random hold-out by hash of
 * (seed, order).  Implicit mode: behaviour events weighted by type, r_ui =
 * sum of weights, each user's last interacted item held out.  It reads
 * through io/ only; it must not train, evaluate or write anything (the
 * collectives are in mpi/als.c, the stage in stages/train_mf.c). */
#include "mf_stage.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "events.h"
#include "h5store.h"
#include "iocheck.h"
#include "metrics_json.h"
#include "mf.h"
#include "mkt_types.h"
#include "schema.h"
#include "validate.h"

/* To see where the peak comes from. */
void mkt_mf_memlog(const char *phase)
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
    mkt_event_side side; /* by_user or by_item */
    int64_t other;     /* rows of the other side: every index read must be below it */
    int64_t nrows, nev;
    int64_t first;     /* global position of the block's first event */
    int64_t *ptr;      /* row r: events ptr[r]..ptr[r+1], relative to first */
    int64_t maxchunk;  /* the most events one chunk holds */
} mf_src;

/* Opens rank's block b of side `side` (other: the other side's row count).
 * The block's row pointers must be non-decreasing and inside the event
 * columns; anything else is a corrupt store, named and fatal. */
static void src_open(hid_t f, const char *path, mkt_event_side side, int64_t other, mkt_block b, mf_src *s)
{
    s->f = f;
    s->path = path;
    s->side = side;
    s->other = other;
    s->nrows = b.end - b.begin;
    s->ptr = mkt_events_indptr(f, side, b.begin, s->nrows);
    int64_t events = mkt_h5_rows(f, side == MKT_BY_USER ? MKT_EVENTS_BY_USER_ITEM : MKT_EVENTS_BY_ITEM_USER, NULL);
    int64_t r = mkt_check_indptr(s->ptr, s->nrows + 1, -1, -1, events);
    if (r >= 0)
        mkt_fail("%s: %s/indptr[%lld] = %lld is not a row pointer into %lld events (corrupt store)", path,
                 mkt_events_group(side), (long long)(b.begin + r), (long long)s->ptr[r], (long long)events);
    s->first = s->ptr[0];
    s->maxchunk = MF_READ_EVENTS;
    for (r = 0; r <= s->nrows; r++) {
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

/* Column `col` (one MKT_COL_* bit) of the events of rows [r0, r1) into buf. */
static void src_read(const mf_src *s, unsigned col, int64_t r0, int64_t r1, void *buf)
{
    mkt_events_read_column(s->f, s->side, col, s->first + s->ptr[r0], s->ptr[r1] - s->ptr[r0], buf);
}

/* The other side's index (column item of by_user, user of by_item) of the
 * events of rows [r0, r1) into idx, every value checked to be an index of
 * the other side. */
static void src_read_index(const mf_src *s, int64_t r0, int64_t r1, int32_t *idx)
{
    int by_user = s->side == MKT_BY_USER;
    src_read(s, by_user ? MKT_COL_ITEM : MKT_COL_USER, r0, r1, idx);
    int64_t n = s->ptr[r1] - s->ptr[r0];
    for (int64_t j = 0; j < n; j++)
        if (idx[j] < 0 || idx[j] >= s->other)
            mkt_fail("%s: %s/%s[%lld] = %d is not one of the %lld indices (corrupt store)", s->path,
                     mkt_events_group(s->side), by_user ? "item" : "user", (long long)(s->first + s->ptr[r0] + j),
                     idx[j], (long long)s->other);
}

/* Column "value" of the events of rows [r0, r1) into val, every value
 * finite (io/validate's rule for the column, checked again on what is
 * read). */
static void src_read_values(const mf_src *s, int64_t r0, int64_t r1, double *val)
{
    src_read(s, MKT_COL_VALUE, r0, r1, val);
    int64_t j = mkt_check_finite(val, s->ptr[r1] - s->ptr[r0]);
    if (j >= 0)
        mkt_fail("%s: %s/value[%lld] is %g, not a finite number (corrupt store)", s->path, mkt_events_group(s->side),
                 (long long)(s->first + s->ptr[r0] + j), val[j]);
}

static void rows_alloc(mkt_als_rows *r, int64_t nrows, int64_t cap)
{
    r->n = nrows;
    r->ptr = mkt_xcalloc((size_t)nrows + 1, sizeof(int64_t));
    r->idx = mkt_xmalloc(sizeof(int32_t) * (size_t)(cap > 0 ? cap : 1));
    r->val = mkt_xmalloc(sizeof(double) * (size_t)(cap > 0 ? cap : 1));
}

/* Gives back the storage past the rows' last entry (allocated for an upper
 * bound of the entries). */
static void rows_shrink(mkt_als_rows *r)
{
    size_t n = (size_t)(r->ptr[r->n] > 0 ? r->ptr[r->n] : 1);
    r->idx = mkt_xrealloc(r->idx, sizeof(int32_t) * n);
    r->val = mkt_xrealloc(r->val, sizeof(double) * n);
}

static void rows_free(mkt_als_rows *r)
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
static void append_aggregated(mkt_als_rows *r, int64_t row, mf_pair *pairs, int64_t np)
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

static double weight_of(const mkt_mf_options *o, int32_t type)
{
    return type >= 0 && type < MKT_EV_RATING ? o->config.weight[type] : 0;
}

/* Implicit: 1 if a rating of this value is a positive interaction (its
 * confidence 1 + alpha * weight must stay >= 1, so ratings <= 0 never are). */
static int rating_kept(const mkt_mf_options *o, double value)
{
    if (!(o->config.weight_rating > 0))
        return 0;
    return o->config.rating_threshold > 0 ? value >= o->config.rating_threshold : value > 0;
}

/* Implicit: the weight of a kept rating of this value. */
static double rating_weight(const mkt_mf_options *o, double value)
{
    return o->config.rating_threshold > 0 ? o->config.weight_rating : o->config.weight_rating * value;
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
    int64_t *order = o->config.implicit ? NULL : mkt_xmalloc(sizeof(int64_t) * m);
    int64_t *ts = o->until_ts != MKT_MF_ALL_EVENTS ? mkt_xmalloc(sizeof(int64_t) * m) : NULL;
    double *value = o->config.implicit && o->config.weight_rating > 0 ? mkt_xmalloc(sizeof(double) * m) : NULL;
    for (int64_t r0 = 0, r1; r0 < s->nrows; r0 = r1) {
        r1 = src_chunk_end(s, r0);
        int64_t e0 = s->ptr[r0], n = s->ptr[r1] - e0;
        src_read(s, MKT_COL_TYPE, r0, r1, type);
        if (value)
            src_read(s, MKT_COL_VALUE, r0, r1, value);
        if (order)
            src_read(s, MKT_COL_ORDER, r0, r1, order);
        if (ts)
            src_read(s, MKT_COL_TS, r0, r1, ts);
        for (int64_t j = 0; j < n; j++) {
            uint8_t c = MF_DROP;
            if (value && type[j] == MKT_EV_RATING && !isfinite(value[j]))
                mkt_fail("%s: %s/value[%lld] is %g, not a finite rating (corrupt store)", s->path,
                         mkt_events_group(s->side), (long long)(s->first + e0 + j), value[j]);
            if (ts && ts[j] >= o->until_ts)
                c = MF_DROP;
            else if (!o->config.implicit && type[j] == MKT_EV_RATING)
                c = mkt_mf_is_holdout(o->config.seed, order[j], o->config.holdout)                  ? MF_TEST
                    : mkt_mf_is_validation(o->config.seed, order[j], o->config.valid_fraction) ? MF_VALID
                                                                                                 : MF_TRAIN;
            else if (o->config.implicit && weight_of(o, type[j]) > 0)
                c = (uint8_t)(MF_KEPT + type[j]);
            else if (o->config.implicit && type[j] == MKT_EV_RATING && value && rating_kept(o, value[j]))
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
static void rows_of_class(mkt_als_rows *r, const mf_src *s, const uint8_t *cls, uint8_t want)
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

/* Explicit, pass 2: the other side's index (src_read_index) and the rating
 * of the block's training events into train, of its held-out ones into test
 * and of its validation ones into valid (when not NULL); the training
 * ratings are added to sum (when not NULL). */
static void fill_explicit(const mf_src *s, const uint8_t *cls, mkt_als_rows *train, mkt_als_rows *test,
                          mkt_als_rows *valid, mkt_xsum *sum)
{
    size_t m = (size_t)s->maxchunk;
    int32_t *idx = mkt_xmalloc(sizeof(int32_t) * m);
    double *val = mkt_xmalloc(sizeof(double) * m);
    for (int64_t r0 = 0, r1; r0 < s->nrows; r0 = r1) {
        r1 = src_chunk_end(s, r0);
        int64_t e0 = s->ptr[r0];
        src_read_index(s, r0, r1, idx);
        src_read_values(s, r0, r1, val);
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
    mkt_als_rows *valid;    /* user side: the validation item of each row */
    int32_t *valid_local;
    const int32_t *vheld; /* item side */
} implicit_valid;

/* Removes item h from row `row` of r (rows are sorted and distinct). */
static void row_remove(mkt_als_rows *r, int64_t row, int32_t h)
{
    int64_t a = r->ptr[row];
    for (int64_t j = a; j < r->ptr[row + 1]; j++)
        if (r->idx[j] != h) {
            r->idx[a] = r->idx[j];
            r->val[a++] = r->val[j];
        }
    r->ptr[row + 1] = a;
}

/* Implicit, pass 2: each row's kept events (other-side index from
 * src_read_index), weighted by type and summed per other-side index, into r.  User side
 * (held_local not NULL): the row's last kept event's item is held out: taken
 * out of the row, recorded in test and held_local (-1: the row has fewer
 * than two items); then, for validation users (iv), the item of the last
 * kept event among the rest goes to the validation split when the row keeps
 * at least one item.  Item side (held not NULL): a user's held-out and
 * validation items are left out of the item's row. */
static void fill_implicit(const mkt_mf_options *o, const mf_src *s, const uint8_t *cls,
                          int64_t first_row, const int32_t *held, mkt_als_rows *r, mkt_als_rows *test, int32_t *held_local,
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
    double *value = o->config.weight_rating > 0 ? mkt_xmalloc(sizeof(double) * (size_t)s->maxchunk) : NULL;
    for (int64_t r0 = 0, r1; r0 < s->nrows; r0 = r1) {
        r1 = src_chunk_end(s, r0);
        int64_t e0 = s->ptr[r0];
        src_read_index(s, r0, r1, idx);
        if (value)
            src_read(s, MKT_COL_VALUE, r0, r1, value);
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
            if (mkt_als_row_len(r, row) >= 2) { /* leave the last interacted item out */
                h = idx[last - e0];
                row_remove(r, row, h);
                held_local[row] = h;
                test->idx[test->ptr[row]] = h;
                test->val[test->ptr[row]] = 1;
                test->ptr[row + 1]++;
            }
            if (!iv || !iv->valid)
                continue;
            mkt_als_rows *v = iv->valid;
            iv->valid_local[row] = -1;
            v->ptr[row + 1] = v->ptr[row];
            if (h >= 0 && mkt_als_row_len(r, row) >= 2 && mkt_mf_is_validation(o->config.seed, self, iv->fraction)) {
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
void mkt_mf_load(const mkt_mf_options *o, MPI_Comm comm, mkt_als_data *d)
{
    int rank, nranks;
    MKT_MPI(MPI_Comm_rank(comm, &rank));
    MKT_MPI(MPI_Comm_size(comm, &nranks));
    memset(d, 0, sizeof *d);
    if (!o->store)
        mkt_fail_all(MKT_EXIT_USAGE, "--store STORE.h5 is required");
    hid_t f = mkt_h5_open(o->store, 0, comm);
    mkt_metrics_mark_baseline();
    mkt_mf_memlog("store open");
    if (!mkt_h5_exists(f, MKT_EVENTS_BY_USER_INDPTR) || !mkt_h5_exists(f, MKT_EVENTS_BY_ITEM_INDPTR))
        mkt_fail_all(MKT_EXIT_ERROR, "%s has no /events/by_user and /events/by_item (not an mkt store?)", o->store);
    d->U = mkt_h5_rows(f, MKT_EVENTS_BY_USER_INDPTR, NULL) - 1;
    d->I = mkt_h5_rows(f, MKT_EVENTS_BY_ITEM_INDPTR, NULL) - 1;
    if (d->I >= INT32_MAX || d->U >= INT32_MAX)
        mkt_fail_all(MKT_EXIT_ERROR, "%s: too many users or items for 32-bit indices", o->store);
    /* the events used end at --until, else at the end of the log */
    d->until_ts = o->until_ts != MKT_MF_ALL_EVENTS ? o->until_ts : mkt_h5_attr_get_int(f, ".", "end_ts", INT64_MIN);
    d->ub = mkt_block_of(d->U, nranks, rank);
    d->ib = mkt_block_of(d->I, nranks, rank);
    mf_src us, is;
    src_open(f, o->store, MKT_BY_USER, d->I, d->ub, &us);
    src_open(f, o->store, MKT_BY_ITEM, d->U, d->ib, &is);
    char why[96] = "";
    if (o->until_ts != MKT_MF_ALL_EVENTS)
        snprintf(why, sizeof why, " before --until %lld", (long long)o->until_ts);
    int64_t local[3] = {0, 0, 0};
    mkt_xsum sum; /* explicit: of the training ratings */
    mkt_xsum_init(&sum);
    if (!o->config.implicit) {
        uint8_t *cls = classify(o, &us);
        rows_of_class(&d->utrain, &us, cls, MF_TRAIN);
        rows_of_class(&d->utest, &us, cls, MF_TEST);
        rows_of_class(&d->uvalid, &us, cls, MF_VALID);
        fill_explicit(&us, cls, &d->utrain, &d->utest, &d->uvalid, &sum);
        free(cls);
        mkt_mf_memlog("user rows");
        cls = classify(o, &is);
        rows_of_class(&d->itrain, &is, cls, MF_TRAIN);
        fill_explicit(&is, cls, &d->itrain, NULL, NULL, NULL);
        free(cls);
        mkt_mf_memlog("item rows");
    } else {
        size_t nl = (size_t)(us.nrows > 0 ? us.nrows : 1);
        int32_t *held_local = mkt_xmalloc(sizeof(int32_t) * nl), *valid_local = mkt_xmalloc(sizeof(int32_t) * nl);
        /* validation users: a hash sample of about MKT_MF_VALID_USERS users */
        double vf = 0;
        if (o->config.valid_fraction > 0 && d->U > 0)
            vf = (double)MKT_MF_VALID_USERS / (double)d->U;
        implicit_valid iv = {vf, &d->uvalid, valid_local, NULL};
        uint8_t *cls = classify(o, &us);
        fill_implicit(o, &us, cls, d->ub.begin, NULL, &d->utrain, &d->utest, held_local, &iv);
        free(cls);
        mkt_mf_memlog("user rows");
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
        fill_implicit(o, &is, cls, d->ib.begin, d->held, &d->itrain, NULL, NULL, &iv_items);
        free(cls);
        free(vheld);
        mkt_mf_memlog("item rows");
    }
    local[0] = d->utrain.ptr[us.nrows];
    local[1] = d->utest.ptr[us.nrows];
    local[2] = d->uvalid.ptr[us.nrows];
    MKT_MPI(MPI_Allreduce(MPI_IN_PLACE, local, 3, MPI_INT64_T, MPI_SUM, comm));
    if (local[0] == 0 && !o->config.implicit)
        mkt_fail_all(MKT_EXIT_ERROR,
                     "%s has no training ratings (events of type rating)%s: use --implicit, or a store "
                     "with ratings (mkt gen --ratings-per-user N)",
                     o->store, why);
    if (local[0] == 0)
        mkt_fail_all(MKT_EXIT_ERROR,
                     "%s has no behaviour events with a positive weight and no positive ratings%s (see "
                     "--weight-* and --rating-threshold)",
                     o->store, why);
    if (!o->config.implicit) {
        mkt_allreduce_xsum(&sum, 1, comm);
        d->mu = mkt_xsum_value(&sum) / (double)local[0];
    }
    mkt_h5_close(f);
    d->n_train = local[0];
    d->n_test = local[1];
    d->n_valid = local[2];
    free(us.ptr);
    free(is.ptr);
    mkt_mf_memlog("loaded");
}

/* Collective. Replaces the held-out rows of d by the events of a test
 * store ingested against the training store (same dense ids): explicit,
 * its ratings; implicit, its positive-weight user-item pairs that are not
 * among the user's training items.  Every such event counts, whatever
 * --holdout and --until made of the training store. */
void mkt_mf_load_test(const mkt_mf_options *o, const char *path, mkt_als_data *d, MPI_Comm comm)
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
    t.until_ts = MKT_MF_ALL_EVENTS;
    t.config.holdout = 0;
    t.config.valid_fraction = 0; /* every rating is of class MF_TRAIN here */
    mf_src us;
    src_open(f, path, MKT_BY_USER, d->I, d->ub, &us);
    uint8_t *cls = classify(&t, &us);
    rows_free(&d->utest);
    if (!o->config.implicit) {
        rows_of_class(&d->utest, &us, cls, MF_TRAIN);
        fill_explicit(&us, cls, &d->utest, NULL, NULL, NULL);
    } else {
        fill_implicit(&t, &us, cls, d->ub.begin, NULL, &d->utest, NULL, NULL, NULL);
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
                     o->config.implicit ? "positive-weight user-item pairs outside the training data" : "ratings");
    d->n_test = n;
}

void mkt_mf_data_free(mkt_als_data *d)
{
    rows_free(&d->utrain);
    rows_free(&d->utest);
    rows_free(&d->uvalid);
    rows_free(&d->itrain);
    free(d->held);
}
