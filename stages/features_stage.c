/* features_stage.c — the `mkt features` stage (see features_stage.h).
 *
 * Owns: reading this rank's block of users (then items) from the store in
 * bounded chunks, the window (start, reference) agreed by all ranks, the
 * exact normalization statistics, and the temporary-group-then-move write.
 * Must not: define features (src/mkt_features.c), parse options, or use any
 * reduction whose result depends on the number of ranks (sums go through
 * mkt_xsum, min/max through MPI_MIN/MPI_MAX, which are exact). */
#include "features_stage.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iocheck.h"
#include "mkt_features.h"
#include "events.h"
#include "h5store.h"
#include "metrics_json.h"
#include "par.h"
#include "schema.h"

#define STAGE "features"
/* Events read per chunk (a user or item with more events gets a larger chunk). */
#define CHUNK_EVENTS ((int64_t)1 << 20)
#define STAT_ROWS 4 /* mean, std, min, max */

void mkt_features_options_init(mkt_features_options *opt)
{
    memset(opt, 0, sizeof *opt);
    opt->cutoff_ts = INT64_MAX;
    opt->group = MKT_FEATURES;
    opt->progress = 1;
}

/* Column buffers for one chunk of event rows, grown as needed, and the
 * chunk as event records. */
typedef struct {
    mkt_event_cols cols;
    int64_t cap;
    mkt_event *events;
} event_chunk;

static void chunk_free(event_chunk *c)
{
    mkt_event_cols_free(&c->cols);
    free(c->events);
    memset(c, 0, sizeof *c);
}

/* Independent. Read event rows [start, start + n) of `side` into c->events. */
static void read_events(hid_t file, mkt_event_side side, int64_t start, int64_t n, event_chunk *c)
{
    mkt_events_read(file, side, MKT_COL_ALL, start, n, &c->cols);
    if (n > c->cap) {
        c->events = mkt_xrealloc(c->events, (size_t)n * sizeof *c->events);
        c->cap = n;
    }
    const mkt_event_cols *k = &c->cols;
    for (int64_t i = 0; i < n; i++) {
        mkt_event *e = &c->events[i];
        e->ts = k->ts[i];
        e->order = k->order[i];
        e->value = k->value[i];
        e->user = k->user[i];
        e->item = k->item[i];
        e->qty = k->qty[i];
        e->type = k->type[i];
    }
}

/* Independent. The indptr slice of this rank's block [b.begin, b.end] (nloc + 1
 * values), checked to be non-decreasing and within the event rows. */
static int64_t *read_indptr(hid_t file, mkt_event_side side, mkt_block b, int64_t event_rows)
{
    char path[256];
    snprintf(path, sizeof path, "%s/indptr", mkt_events_group(side));
    int64_t nloc = b.end - b.begin;
    int64_t *indptr = mkt_events_indptr(file, side, b.begin, nloc);
    for (int64_t i = 0; i <= nloc; i++)
        if (indptr[i] < 0 || indptr[i] > event_rows || (i > 0 && indptr[i] < indptr[i - 1]))
            mkt_fail("%s: entry %lld (%lld) is not a non-decreasing row index in [0, %lld]", path,
                     (long long)(b.begin + i), (long long)indptr[i], (long long)event_rows);
    return indptr;
}

/* The last entity of the chunk that starts at `first` (block-local index):
 * at least one entity, then as many as fit in CHUNK_EVENTS. */
static int64_t chunk_end(const int64_t *indptr, int64_t first, int64_t nloc)
{
    int64_t last = first + 1;
    while (last < nloc && indptr[last + 1] - indptr[first] <= CHUNK_EVENTS)
        last++;
    return last;
}

/* Collective. Global first and last event ts (over every event, whatever the
 * cutoff), from this rank's user block.  Without events both are 0. */
static void event_time_range(hid_t file, const int64_t *indptr, int64_t nloc, int64_t *first_ts, int64_t *last_ts,
                             MPI_Comm comm)
{
    int64_t lo = INT64_MAX, hi = INT64_MIN;
    int64_t begin = indptr[0], end = indptr[nloc];
    int64_t *ts = mkt_xmalloc(sizeof(int64_t) * (size_t)(end - begin < CHUNK_EVENTS ? (end - begin > 0 ? end - begin : 1)
                                                                                    : CHUNK_EVENTS));
    for (int64_t at = begin; at < end; at += CHUNK_EVENTS) {
        int64_t n = end - at < CHUNK_EVENTS ? end - at : CHUNK_EVENTS;
        mkt_h5_read_rows(file, MKT_EVENTS_BY_USER_TS, H5T_NATIVE_INT64, at, n, ts);
        for (int64_t i = 0; i < n; i++) {
            if (ts[i] < lo)
                lo = ts[i];
            if (ts[i] > hi)
                hi = ts[i];
        }
    }
    free(ts);
    MKT_MPI(MPI_Allreduce(MPI_IN_PLACE, &lo, 1, MPI_INT64_T, MPI_MIN, comm));
    MKT_MPI(MPI_Allreduce(MPI_IN_PLACE, &hi, 1, MPI_INT64_T, MPI_MAX, comm));
    if (lo > hi)
        lo = hi = 0;
    *first_ts = lo;
    *last_ts = hi;
}

/* Collective. stats[4 x cols] = mean, std, min, max of each column of the
 * row-partitioned matrix (nlocal rows here, total rows overall), from exact
 * sums: identical bits on any number of ranks.  With no rows, all 0. */
static void column_stats(const double *x, int64_t nlocal, int64_t total, int cols, double *stats, MPI_Comm comm)
{
    size_t c = (size_t)(cols > 0 ? cols : 1);
    mkt_xsum *acc = mkt_xmalloc(sizeof(mkt_xsum) * 2 * c); /* sums, then sums of squares */
    double *lo = mkt_xmalloc(sizeof(double) * c), *hi = mkt_xmalloc(sizeof(double) * c);
    for (int j = 0; j < cols; j++) {
        mkt_xsum_init(&acc[j]);
        mkt_xsum_init(&acc[cols + j]);
        lo[j] = INFINITY;
        hi[j] = -INFINITY;
    }
    for (int64_t i = 0; i < nlocal; i++)
        for (int j = 0; j < cols; j++) {
            double v = x[i * cols + j];
            mkt_xsum_add(&acc[j], v);
            mkt_xsum_add(&acc[cols + j], v * v);
            if (v < lo[j])
                lo[j] = v;
            if (v > hi[j])
                hi[j] = v;
        }
    mkt_allreduce_xsum(acc, 2 * cols, comm);
    MKT_MPI(MPI_Allreduce(MPI_IN_PLACE, lo, cols, MPI_DOUBLE, MPI_MIN, comm));
    MKT_MPI(MPI_Allreduce(MPI_IN_PLACE, hi, cols, MPI_DOUBLE, MPI_MAX, comm));
    for (int j = 0; j < cols; j++) {
        double mean = 0, sd = 0;
        if (total > 0) {
            mean = mkt_xsum_value(&acc[j]) / (double)total;
            double meansq = mkt_xsum_value(&acc[cols + j]) / (double)total;
            double var = meansq - mean * mean;
            sd = var > 0 ? sqrt(var) : 0.0;
        } else {
            lo[j] = hi[j] = 0;
        }
        stats[0 * cols + j] = isfinite(mean) ? mean : 0.0;
        stats[1 * cols + j] = isfinite(sd) ? sd : 0.0;
        stats[2 * cols + j] = lo[j];
        stats[3 * cols + j] = hi[j];
    }
    free(acc);
    free(lo);
    free(hi);
}

/* Collective. Write GROUP_TMP/<name> names (rank 0 holds them all). */
static void write_names(hid_t file, const char *path, int count, int user_names, int categories, int rank,
                        MPI_Comm comm)
{
    char **names = mkt_xcalloc((size_t)(count > 0 ? count : 1), sizeof(char *));
    int64_t local = rank == 0 ? count : 0;
    for (int64_t j = 0; j < local; j++) {
        char buf[64];
        if (user_names)
            mkt_user_feature_name((int)j, categories, buf, sizeof buf);
        else
            mkt_item_feature_name((int)j, buf, sizeof buf);
        names[j] = mkt_xstrdup(buf);
    }
    mkt_h5_write_strings(file, path, names, local, comm);
    for (int64_t j = 0; j < local; j++)
        free(names[j]);
    free(names);
}

static double max_over_ranks(double v, MPI_Comm comm)
{
    MKT_MPI(MPI_Allreduce(MPI_IN_PLACE, &v, 1, MPI_DOUBLE, MPI_MAX, comm));
    return v;
}

/* The target group: an absolute HDF5 path outside the input groups. */
static const char *check_group(const mkt_features_options *opt)
{
    if (!opt || !opt->store || !*opt->store)
        mkt_fail_all(MKT_EXIT_USAGE, "features: no store given (--store)");
    const char *group = opt->group && *opt->group ? opt->group : MKT_FEATURES;
    if (group[0] != '/' || strcmp(group, "/") == 0 || strlen(group) > 200 || group[strlen(group) - 1] == '/' ||
        strncmp(group, MKT_EVENTS, 7) == 0 || strncmp(group, MKT_ITEMS, 6) == 0 || strncmp(group, MKT_IDS, 4) == 0)
        mkt_fail_all(MKT_EXIT_USAGE,
                     "features: group '%s' must be an absolute HDF5 path such as /features or /features_T1, "
                     "outside /events, /items and /ids",
                     group);
    return group;
}

/* The sizes of the store and the item tables (small: every rank reads them whole). */
typedef struct {
    int64_t user_event_rows, item_event_rows, n_users, n_items;
    double *item_price, *item_cost; /* item_cost NULL: no /items/cost */
    int32_t *item_category;
    int categories;
    double *category_mean_price;
} item_tables;

/* Collective. Read and check the sizes and the item tables. */
static void read_item_tables(hid_t file, const char *store, item_tables *t)
{
    int64_t user_event_rows = t->user_event_rows = mkt_h5_rows(file, MKT_EVENTS_BY_USER_TS, NULL);
    int64_t item_event_rows = t->item_event_rows = mkt_h5_rows(file, MKT_EVENTS_BY_ITEM_TS, NULL);
    int64_t n_users = t->n_users = mkt_h5_rows(file, MKT_EVENTS_BY_USER_INDPTR, NULL) - 1;
    int64_t n_items = t->n_items = mkt_h5_rows(file, MKT_ITEMS_PRICE, NULL);
    if (n_users < 0 || mkt_h5_rows(file, MKT_EVENTS_BY_ITEM_INDPTR, NULL) != n_items + 1 ||
        mkt_h5_rows(file, MKT_ITEMS_CATEGORY, NULL) != n_items || user_event_rows != item_event_rows)
        mkt_fail_all(MKT_EXIT_ERROR,
                     "%s: inconsistent store (/events/by_user, /events/by_item and /items disagree in size)",
                     store);
    if (n_items > INT32_MAX || n_users > INT32_MAX)
        mkt_fail_all(MKT_EXIT_ERROR, "%s: more than 2^31 users or items", store);
    size_t items_alloc = (size_t)(n_items > 0 ? n_items : 1);
    t->item_price = mkt_xmalloc(sizeof(double) * items_alloc);
    t->item_cost = NULL;
    t->item_category = mkt_xmalloc(sizeof(int32_t) * items_alloc);
    mkt_h5_read_rows(file, MKT_ITEMS_PRICE, H5T_NATIVE_DOUBLE, 0, n_items, t->item_price);
    mkt_h5_read_rows(file, MKT_ITEMS_CATEGORY, H5T_NATIVE_INT32, 0, n_items, t->item_category);
    if (mkt_h5_exists(file, MKT_ITEMS_COST) && mkt_h5_rows(file, MKT_ITEMS_COST, NULL) == n_items) {
        t->item_cost = mkt_xmalloc(sizeof(double) * items_alloc);
        mkt_h5_read_rows(file, MKT_ITEMS_COST, H5T_NATIVE_DOUBLE, 0, n_items, t->item_cost);
    }
    int64_t n_categories = 0;
    if (mkt_h5_exists(file, MKT_IDS_CATEGORIES)) {
        n_categories = mkt_h5_rows(file, MKT_IDS_CATEGORIES, NULL);
    } else {
        for (int64_t i = 0; i < n_items; i++)
            if (t->item_category[i] + (int64_t)1 > n_categories)
                n_categories = t->item_category[i] + (int64_t)1;
    }
    if (n_categories > 100000)
        mkt_fail_all(MKT_EXIT_ERROR, "%s: %lld categories; the features stage keeps one column per category "
                     "and supports at most 100000", store, (long long)n_categories);
    const int categories = t->categories = (int)n_categories;
    t->category_mean_price = mkt_xmalloc(sizeof(double) * (size_t)(categories > 0 ? categories : 1));
    int64_t *category_items = mkt_xmalloc(sizeof(int64_t) * (size_t)(categories > 0 ? categories : 1));
    mkt_category_mean_prices(t->item_price, t->item_category, n_items, categories, t->category_mean_price,
                             category_items);
    free(category_items);
}

static void free_item_tables(item_tables *t)
{
    free(t->item_price);
    free(t->item_cost);
    free(t->item_category);
    free(t->category_mean_price);
}

/* One pass over this rank's block of users or items, chunk by chunk. */
typedef struct {
    hid_t file;
    const char *store;
    const mkt_feature_context *ctx;
    event_chunk chunk;
    double t_read, t_compute;
    int64_t events_read, events_counted;
    int progress;
    /* the pass under way */
    const int64_t *indptr; /* of the block */
    int64_t begin;         /* first entity of the block */
    double *out;           /* features of the block, cols per entity */
    int cols;
    int32_t *user_scratch; /* items: scratch of mkt_item_features */
} feature_pass;

/* One chunk of a pass: entities [first, last) of the block (block-local),
 * whose events are p->chunk.events from event row row0 on. */
typedef void (*chunk_fn)(feature_pass *p, int64_t first, int64_t last, int64_t row0, int64_t rows);

/* Independent. Read the events of block blk of `side` chunk by
 * chunk and hand each chunk to fn; `what` names the pass in the progress
 * line.  count_read: add the rows read to p->events_read. */
static void run_pass(feature_pass *p, mkt_event_side side, const char *what, mkt_block blk, int64_t total,
                     int count_read, chunk_fn fn)
{
    int64_t nloc = blk.end - blk.begin;
    const int64_t *indptr = p->indptr;
    mkt_progress progress;
    mkt_progress_start(&progress, STAGE, what, total);
    progress.enabled = progress.enabled && p->progress;
    for (int64_t first = 0; first < nloc;) {
        int64_t last = chunk_end(indptr, first, nloc);
        int64_t row0 = indptr[first], rows = indptr[last] - row0;
        double t0 = mkt_now();
        read_events(p->file, side, row0, rows, &p->chunk);
        double t1 = mkt_now();
        fn(p, first, last, row0, rows);
        p->t_read += t1 - t0;
        p->t_compute += mkt_now() - t1;
        if (count_read)
            p->events_read += rows;
        first = last;
        mkt_progress_update(&progress, nloc > 0 ? (int64_t)((double)first / (double)nloc * (double)total) : total);
    }
    mkt_progress_finish(&progress, total);
}

/* The events of block-local entity e of the chunk (which starts at event
 * row row0), checked to belong to it: to user or item (is_user) p->begin + e. */
static const mkt_event *entity_events(const feature_pass *p, int64_t e, int64_t row0, int is_user, size_t *n_out)
{
    const mkt_event *ev = p->chunk.events + (p->indptr[e] - row0);
    size_t n = (size_t)(p->indptr[e + 1] - p->indptr[e]);
    const char *what = is_user ? "user" : "item";
    for (size_t k = 0; k < n; k++) {
        int32_t owner = is_user ? ev[k].user : ev[k].item;
        if (owner != p->begin + e)
            mkt_fail("%s: /events/by_%s row %lld belongs to %s %d, not %lld (bad indptr)", p->store, what,
                     (long long)(p->indptr[e] + (int64_t)k), what, owner, (long long)(p->begin + e));
    }
    *n_out = n;
    return ev;
}

/* The user features of a chunk of users (rows of p->cols in p->out). */
static void user_chunk(feature_pass *p, int64_t first, int64_t last, int64_t row0, int64_t rows)
{
    (void)rows;
    for (int64_t u = first; u < last; u++) {
        size_t n;
        const mkt_event *ev = entity_events(p, u, row0, 1, &n);
        double *row = p->out + u * p->cols;
        mkt_user_features(p->ctx, ev, n, row);
        p->events_counted += (int64_t)row[MKT_UF_EVENTS];
    }
}

/* The item features of a chunk of items (rows of p->cols in p->out). */
static void item_chunk(feature_pass *p, int64_t first, int64_t last, int64_t row0, int64_t rows)
{
    p->user_scratch = mkt_xrealloc(p->user_scratch, sizeof(int32_t) * (size_t)(rows > 0 ? rows : 1));
    for (int64_t i = first; i < last; i++) {
        size_t n;
        const mkt_event *ev = entity_events(p, i, row0, 0, &n);
        mkt_item_features(p->ctx, p->begin + i, ev, n, p->user_scratch, p->out + i * p->cols);
    }
}

/* The feature matrices of this rank and their statistics, as the group stores them. */
typedef struct {
    mkt_block ub, ib;
    int64_t n_users, n_items;
    int n_user_cols, n_item_cols, categories;
    const double *user_features, *item_features, *user_stats, *item_stats;
} feature_tables;

/* Collective. Write GROUP.tmp, then move it to GROUP. */
static void write_group(hid_t file, const char *group, const mkt_features_options *opt, int64_t cutoff_ts,
                        const mkt_feature_context *ctx, const feature_tables *ft, int rank, MPI_Comm comm)
{
    char tmp[256], path[320];
    snprintf(tmp, sizeof tmp, "%s.tmp", group);
    mkt_h5_delete(file, tmp); /* left by an interrupted run */
    snprintf(path, sizeof path, "%s/users", tmp);
    mkt_h5_write_rows_at(file, path, H5T_NATIVE_DOUBLE, ft->user_features, ft->ub.begin, ft->ub.end - ft->ub.begin,
                         ft->n_users, ft->n_user_cols, comm);
    snprintf(path, sizeof path, "%s/items", tmp);
    mkt_h5_write_rows_at(file, path, H5T_NATIVE_DOUBLE, ft->item_features, ft->ib.begin, ft->ib.end - ft->ib.begin,
                         ft->n_items, ft->n_item_cols, comm);
    snprintf(path, sizeof path, "%s/user_names", tmp);
    write_names(file, path, ft->n_user_cols, 1, ft->categories, rank, comm);
    snprintf(path, sizeof path, "%s/item_names", tmp);
    write_names(file, path, ft->n_item_cols, 0, ft->categories, rank, comm);
    snprintf(path, sizeof path, "%s/user_stats", tmp);
    mkt_h5_write_small(file, path, H5T_NATIVE_DOUBLE, ft->user_stats, STAT_ROWS, ft->n_user_cols, comm);
    snprintf(path, sizeof path, "%s/item_stats", tmp);
    mkt_h5_write_small(file, path, H5T_NATIVE_DOUBLE, ft->item_stats, STAT_ROWS, ft->n_item_cols, comm);
    mkt_h5_attr_set_int(file, tmp, "cutoff_ts", cutoff_ts);
    mkt_h5_attr_set_int(file, tmp, "has_cutoff", opt->has_cutoff ? 1 : 0);
    mkt_h5_attr_set_int(file, tmp, "reference_ts", ctx->reference_ts);
    mkt_h5_attr_set_int(file, tmp, "start_ts", ctx->start_ts);
    mkt_h5_attr_set_int(file, tmp, "users", ft->n_users);
    mkt_h5_attr_set_int(file, tmp, "items", ft->n_items);
    mkt_h5_attr_set_int(file, tmp, "categories", ft->categories);
    mkt_h5_attr_set_int(file, tmp, "schema_version", MKT_SCHEMA_VERSION);
    mkt_h5_move(file, tmp, group);
}

int mkt_features_run(const mkt_features_options *opt, MPI_Comm comm, json_t *metrics)
{
    double t_start = mkt_now();
    int rank, nranks;
    MKT_MPI(MPI_Comm_rank(comm, &rank));
    MKT_MPI(MPI_Comm_size(comm, &nranks));

    const char *group = check_group(opt);
    const int64_t cutoff_ts = opt->has_cutoff ? opt->cutoff_ts : INT64_MAX;

    hid_t file = mkt_h5_open(opt->store, 1, comm);
    item_tables it;
    read_item_tables(file, opt->store, &it);
    int64_t n_users = it.n_users, n_items = it.n_items;
    const int categories = it.categories;

    /* The window: every rank agrees on the first and last event time. */
    mkt_block ub = mkt_block_of(n_users, nranks, rank), ib = mkt_block_of(n_items, nranks, rank);
    int64_t n_local_users = ub.end - ub.begin, n_local_items = ib.end - ib.begin;
    int64_t *user_indptr = read_indptr(file, MKT_BY_USER, ub, it.user_event_rows);
    int64_t *item_indptr = read_indptr(file, MKT_BY_ITEM, ib, it.item_event_rows);
    int64_t first_ts, last_ts;
    event_time_range(file, user_indptr, n_local_users, &first_ts, &last_ts, comm);
    int64_t end_of_data = last_ts < INT64_MAX ? last_ts + 1 : last_ts;
    mkt_feature_context ctx = {
        .cutoff_ts = cutoff_ts,
        .reference_ts = cutoff_ts < end_of_data ? cutoff_ts : end_of_data,
        .start_ts = first_ts,
        .item_price = it.item_price,
        .item_cost = it.item_cost,
        .item_category = it.item_category,
        .category_mean_price = it.category_mean_price,
        .items = n_items,
        .categories = categories,
    };
    double t_setup = mkt_now();

    /* Users, then items. */
    const int n_user_cols = mkt_user_feature_count(categories);
    double *user_features = mkt_xmalloc(sizeof(double) * (size_t)(n_local_users > 0 ? n_local_users : 1) *
                                        (size_t)n_user_cols);
    feature_pass pass = {.file = file, .store = opt->store, .ctx = &ctx, .progress = opt->progress};
    pass.indptr = user_indptr;
    pass.begin = ub.begin;
    pass.out = user_features;
    pass.cols = n_user_cols;
    run_pass(&pass, MKT_BY_USER, "users", ub, n_users, 1, user_chunk);
    const int n_item_cols = mkt_item_feature_count();
    double *item_features = mkt_xmalloc(sizeof(double) * (size_t)(n_local_items > 0 ? n_local_items : 1) *
                                        (size_t)n_item_cols);
    pass.indptr = item_indptr;
    pass.begin = ib.begin;
    pass.out = item_features;
    pass.cols = n_item_cols;
    run_pass(&pass, MKT_BY_ITEM, "items", ib, n_items, 0, item_chunk);
    free(pass.user_scratch);
    chunk_free(&pass.chunk);

    /* Statistics (exact, rank-count independent). */
    double t_stats = mkt_now();
    double *user_stats = mkt_xmalloc(sizeof(double) * STAT_ROWS * (size_t)n_user_cols);
    double *item_stats = mkt_xmalloc(sizeof(double) * STAT_ROWS * (size_t)n_item_cols);
    column_stats(user_features, n_local_users, n_users, n_user_cols, user_stats, comm);
    column_stats(item_features, n_local_items, n_items, n_item_cols, item_stats, comm);
    pass.t_compute += mkt_now() - t_stats;

    double t_write0 = mkt_now();
    feature_tables ft = {ub, ib, n_users, n_items, n_user_cols, n_item_cols, categories,
                         user_features, item_features, user_stats, item_stats};
    write_group(file, group, opt, cutoff_ts, &ctx, &ft, rank, comm);
    MKT_H5(H5Fflush(file, H5F_SCOPE_GLOBAL));
    mkt_h5_close(file);
    double t_end = mkt_now();

    int64_t events_counted = pass.events_counted, events_read = pass.events_read;
    MKT_MPI(MPI_Allreduce(MPI_IN_PLACE, &events_counted, 1, MPI_INT64_T, MPI_SUM, comm));
    MKT_MPI(MPI_Allreduce(MPI_IN_PLACE, &events_read, 1, MPI_INT64_T, MPI_SUM, comm));
    double seconds_read = max_over_ranks(pass.t_read + (t_setup - t_start), comm);
    double seconds_compute = max_over_ranks(pass.t_compute, comm);
    double seconds_write = max_over_ranks(t_end - t_write0, comm);
    double seconds_total = max_over_ranks(t_end - t_start, comm);
    if (metrics) {
        mkt_metrics_set_int(metrics, "users", n_users);
        mkt_metrics_set_int(metrics, "items", n_items);
        mkt_metrics_set_int(metrics, "categories", categories);
        mkt_metrics_set_int(metrics, "user_features", n_user_cols);
        mkt_metrics_set_int(metrics, "item_features", n_item_cols);
        mkt_metrics_set_int(metrics, "events_read", events_read);
        mkt_metrics_set_int(metrics, "events_counted", events_counted);
        mkt_metrics_set_int(metrics, "start_ts", ctx.start_ts);
        mkt_metrics_set_int(metrics, "reference_ts", ctx.reference_ts);
        if (opt->has_cutoff)
            mkt_metrics_set_int(metrics, "cutoff_ts", cutoff_ts);
        mkt_metrics_set_str(metrics, "group", group);
        mkt_metrics_set_real(metrics, "seconds_read", seconds_read);
        mkt_metrics_set_real(metrics, "seconds_compute", seconds_compute);
        mkt_metrics_set_real(metrics, "seconds_write", seconds_write);
        mkt_metrics_set_real(metrics, "seconds_total", seconds_total);
        mkt_metrics_set_real(metrics, "users_per_second",
                             seconds_total > 0 ? (double)n_users / seconds_total : 0.0);
    }
    mkt_log(STAGE, "%lld users x %d features, %lld items x %d features into %s (%lld of %lld events before the "
                   "cutoff) in %.2fs",
            (long long)n_users, n_user_cols, (long long)n_items, n_item_cols, group, (long long)events_counted,
            (long long)events_read, seconds_total);

    free(user_features);
    free(item_features);
    free(user_stats);
    free(item_stats);
    free(user_indptr);
    free(item_indptr);
    free_item_tables(&it);
    return MKT_EXIT_OK;
}
