/* eventstore.c — shuffle rows to their owners, sort, write (see eventstore.h). */
#include "eventstore.h"

#include <stdlib.h>
#include <string.h>

#include "iocheck.h"
#include "h5store.h"
#include "par.h"
#include "schema.h"

/* Send each row to the owner of its key; returns the received rows. */
static void *shuffle(const void *rows, int64_t n, size_t size, const int *owner, int64_t *nrecv, MPI_Comm comm)
{
    int nranks;
    MKT_MPI(MPI_Comm_size(comm, &nranks));
    int64_t *counts = mkt_xcalloc((size_t)nranks, sizeof(int64_t));
    int64_t *pos = mkt_xcalloc((size_t)nranks, sizeof(int64_t));
    for (int64_t i = 0; i < n; i++)
        counts[owner[i]]++;
    for (int r = 1; r < nranks; r++)
        pos[r] = pos[r - 1] + counts[r - 1];
    char *send = mkt_xmalloc((size_t)n * size);
    for (int64_t i = 0; i < n; i++)
        memcpy(send + (pos[owner[i]]++) * size, (const char *)rows + i * size, size);
    void *recv = mkt_alltoallv_elems(send, counts, size, nrecv, comm);
    free(send);
    free(counts);
    free(pos);
    return recv;
}

static int cmp_ts_order(const void *a, const void *b)
{
    const mkt_event *x = a, *y = b;
    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    return (x->order > y->order) - (x->order < y->order);
}

/* Sort events whose key (user or item) lies in block b by (key, ts, order):
 * a counting sort on the key, then each key's few events by (ts, order).
 * The same total order as mkt_event_cmp_user/item, in O(n) plus small sorts. */
static mkt_event *sort_by_key(const mkt_event *ev, int64_t n, mkt_block b, int by_item)
{
    int64_t nk = b.end - b.begin;
    int64_t *start = mkt_xcalloc((size_t)(nk + 1), sizeof(int64_t));
    for (int64_t i = 0; i < n; i++)
        start[(by_item ? ev[i].item : ev[i].user) - b.begin + 1]++;
    for (int64_t k = 0; k < nk; k++)
        start[k + 1] += start[k];
    int64_t *fill = mkt_xmalloc(sizeof(int64_t) * (size_t)(nk + 1));
    memcpy(fill, start, sizeof(int64_t) * (size_t)(nk + 1));
    mkt_event *out = mkt_xmalloc(sizeof(mkt_event) * (size_t)(n > 0 ? n : 1));
    for (int64_t i = 0; i < n; i++)
        out[fill[(by_item ? ev[i].item : ev[i].user) - b.begin]++] = ev[i];
    for (int64_t k = 0; k < nk; k++) {
        int64_t len = start[k + 1] - start[k];
        if (len < 2)
            continue;
        mkt_event *seg = out + start[k];
        int sorted = 1;
        for (int64_t i = 1; i < len && sorted; i++)
            sorted = cmp_ts_order(&seg[i - 1], &seg[i]) <= 0;
        if (!sorted)
            qsort(seg, (size_t)len, sizeof(mkt_event), cmp_ts_order);
    }
    free(start);
    free(fill);
    return out;
}

static void write_event_group(hid_t file, const char *group, const mkt_event *ev, int64_t n, int64_t n_keys,
                              int by_item, MPI_Comm comm)
{
    int rank, nranks;
    MKT_MPI(MPI_Comm_rank(comm, &rank));
    MKT_MPI(MPI_Comm_size(comm, &nranks));
    int32_t *i32 = mkt_xmalloc(sizeof(int32_t) * (size_t)(n > 0 ? n : 1));
    int64_t *i64 = mkt_xmalloc(sizeof(int64_t) * (size_t)(n > 0 ? n : 1));
    double *f64 = mkt_xmalloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
    char name[128];
    int64_t total = 0;
    int64_t offset = mkt_exscan_count(n, &total, comm);
#define COLUMN(col, buf, type, expr)                                                                         \
    do {                                                                                                     \
        for (int64_t i = 0; i < n; i++)                                                                      \
            buf[i] = ev[i].expr;                                                                             \
        snprintf(name, sizeof name, "%s/%s", group, col);                                                    \
        mkt_h5_write_rows_at(file, name, type, buf, offset, n, total, 0, comm);                              \
    } while (0)
    COLUMN("user", i32, H5T_NATIVE_INT32, user);
    COLUMN("item", i32, H5T_NATIVE_INT32, item);
    COLUMN("type", i32, H5T_NATIVE_INT32, type);
    COLUMN("qty", i32, H5T_NATIVE_INT32, qty);
    COLUMN("ts", i64, H5T_NATIVE_INT64, ts);
    COLUMN("order", i64, H5T_NATIVE_INT64, order);
    COLUMN("value", f64, H5T_NATIVE_DOUBLE, value);
#undef COLUMN
    /* indptr: entry k is the first row of key k; this rank writes the entries
     * of the keys it owns (and the last rank the final total). */
    mkt_block b = mkt_block_of(n_keys, nranks, rank);
    int64_t nb = b.end - b.begin + (rank == nranks - 1 ? 1 : 0);
    int64_t *indptr = mkt_xmalloc(sizeof(int64_t) * (size_t)(nb > 0 ? nb : 1));
    int64_t row = 0;
    for (int64_t k = b.begin; k < b.end; k++) {
        while (row < n && (by_item ? ev[row].item : ev[row].user) < k)
            row++;
        indptr[k - b.begin] = offset + row;
    }
    if (rank == nranks - 1)
        indptr[nb - 1] = total;
    snprintf(name, sizeof name, "%s/indptr", group);
    mkt_h5_write_rows_at(file, name, H5T_NATIVE_INT64, indptr, b.begin, nb, n_keys + 1, 0, comm);
    mkt_h5_attr_set_int(file, group, "rows", total);
    mkt_h5_attr_set_string(file, group, "sorted_by", by_item ? "item,ts,order" : "user,ts,order");
    free(indptr);
    free(i32);
    free(i64);
    free(f64);
}

static mkt_event *shuffle_events(mkt_event *ev, int64_t n, int64_t n_keys, int by_item, int64_t *nrecv,
                                 MPI_Comm comm)
{
    int nranks;
    MKT_MPI(MPI_Comm_size(comm, &nranks));
    int *owner = mkt_xmalloc(sizeof(int) * (size_t)(n > 0 ? n : 1));
    for (int64_t i = 0; i < n; i++) {
        int64_t key = by_item ? ev[i].item : ev[i].user;
        if (key < 0 || key >= n_keys)
            mkt_fail("event with %s index %lld outside [0, %lld)", by_item ? "item" : "user", (long long)key,
                     (long long)n_keys);
        owner[i] = mkt_block_owner(key, n_keys, nranks);
    }
    mkt_event *recv = shuffle(ev, n, sizeof(mkt_event), owner, nrecv, comm);
    free(owner);
    int rank;
    MKT_MPI(MPI_Comm_rank(comm, &rank));
    mkt_event *out = sort_by_key(recv, *nrecv, mkt_block_of(n_keys, nranks, rank), by_item);
    free(recv);
    return out;
}

int64_t mkt_store_write_events(hid_t file, mkt_event **events, int64_t n_local, int64_t n_users, int64_t n_items,
                               MPI_Comm comm)
{
    double t0 = mkt_now();
    int64_t n_by_user = 0, n_by_item = 0, total = 0;
    mkt_event *by_user = shuffle_events(*events, n_local, n_users, 0, &n_by_user, comm);
    free(*events);
    *events = NULL;
    write_event_group(file, MKT_EVENTS_BY_USER, by_user, n_by_user, n_users, 0, comm);
    mkt_event *by_item = shuffle_events(by_user, n_by_user, n_items, 1, &n_by_item, comm);
    free(by_user);
    write_event_group(file, MKT_EVENTS_BY_ITEM, by_item, n_by_item, n_items, 1, comm);
    free(by_item);
    MKT_MPI(MPI_Allreduce(&n_by_item, &total, 1, MPI_INT64_T, MPI_SUM, comm));
    mkt_store_write_partition(file, "users", n_users, comm);
    mkt_store_write_partition(file, "items", n_items, comm);
    mkt_log("store", "wrote %lld events grouped by user and by item in %.2fs", (long long)total, mkt_now() - t0);
    return total;
}

typedef struct {
    mkt_campaign_row row;
    double attrs[]; /* n_attrs values follow */
} campaign_record;

static int campaign_record_cmp(const void *a, const void *b)
{
    return mkt_campaign_cmp_user(&((const campaign_record *)a)->row, &((const campaign_record *)b)->row);
}

int64_t mkt_store_write_campaigns(hid_t file, mkt_campaign_row **rows, double **attrs, int64_t n_local,
                                  int n_attrs, int64_t n_users, MPI_Comm comm)
{
    int nranks;
    MKT_MPI(MPI_Comm_size(comm, &nranks));
    size_t rsize = sizeof(campaign_record) + sizeof(double) * (size_t)n_attrs;
    char *packed = mkt_xmalloc(rsize * (size_t)(n_local > 0 ? n_local : 1));
    int *owner = mkt_xmalloc(sizeof(int) * (size_t)(n_local > 0 ? n_local : 1));
    for (int64_t i = 0; i < n_local; i++) {
        campaign_record *r = (campaign_record *)(packed + (size_t)i * rsize);
        r->row = (*rows)[i];
        if (n_attrs > 0)
            memcpy(r->attrs, *attrs + i * n_attrs, sizeof(double) * (size_t)n_attrs);
        if (r->row.user < 0 || r->row.user >= n_users)
            mkt_fail("campaign row with user index %d outside [0, %lld)", r->row.user, (long long)n_users);
        owner[i] = mkt_block_owner(r->row.user, n_users, nranks);
    }
    free(*rows);
    *rows = NULL;
    if (attrs) {
        free(*attrs);
        *attrs = NULL;
    }
    int64_t n = 0;
    char *recv = shuffle(packed, n_local, rsize, owner, &n, comm);
    free(packed);
    free(owner);
    qsort(recv, (size_t)n, rsize, campaign_record_cmp);
    int64_t total = 0;
    int64_t offset = mkt_exscan_count(n, &total, comm);
    int32_t *i32 = mkt_xmalloc(sizeof(int32_t) * (size_t)(n > 0 ? n : 1));
    int64_t *i64 = mkt_xmalloc(sizeof(int64_t) * (size_t)(n > 0 ? n : 1));
    double *f64 = mkt_xmalloc(sizeof(double) * (size_t)(n > 0 ? n : 1) * (size_t)(n_attrs > 1 ? n_attrs : 1));
#define REC(i) ((campaign_record *)(recv + (size_t)(i) * rsize))
#define COLUMN(col, buf, type, expr)                                                                         \
    do {                                                                                                     \
        for (int64_t i = 0; i < n; i++)                                                                      \
            buf[i] = REC(i)->row.expr;                                                                       \
        mkt_h5_write_rows_at(file, "/campaigns/" col, type, buf, offset, n, total, 0, comm);                 \
    } while (0)
    COLUMN("user", i32, H5T_NATIVE_INT32, user);
    COLUMN("treatment", i32, H5T_NATIVE_INT32, treatment);
    COLUMN("visit", i32, H5T_NATIVE_INT32, visit);
    COLUMN("conversion", i32, H5T_NATIVE_INT32, conversion);
    COLUMN("order", i64, H5T_NATIVE_INT64, order);
    COLUMN("spend", f64, H5T_NATIVE_DOUBLE, spend);
#undef COLUMN
    if (n_attrs > 0) {
        for (int64_t i = 0; i < n; i++)
            memcpy(f64 + i * n_attrs, REC(i)->attrs, sizeof(double) * (size_t)n_attrs);
        mkt_h5_write_rows_at(file, MKT_CAMPAIGNS_ATTRS, H5T_NATIVE_DOUBLE, f64, offset, n, total, n_attrs, comm);
    }
#undef REC
    free(i32);
    free(i64);
    free(f64);
    free(recv);
    return total;
}

void mkt_store_write_partition(hid_t file, const char *name, int64_t n, MPI_Comm comm)
{
    int nranks;
    MKT_MPI(MPI_Comm_size(comm, &nranks));
    int64_t *b = mkt_xmalloc(sizeof(int64_t) * (size_t)(nranks + 1));
    for (int r = 0; r <= nranks; r++)
        b[r] = mkt_block_begin(n, nranks, r);
    char path[128];
    snprintf(path, sizeof path, "/partition/%s", name);
    mkt_h5_delete(file, path);
    mkt_h5_write_small(file, path, H5T_NATIVE_INT64, b, nranks + 1, 0, comm);
    free(b);
}
