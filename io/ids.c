/* ids.c — global sorted dictionaries of external ids (see ids.h). */
#include "ids.h"

#include <stdlib.h>
#include <string.h>

#include "iocheck.h"
#include "h5store.h"

static int all_digits(const char *s, size_t *len)
{
    size_t n = 0;
    *len = 0;
    for (; s[n]; n++)
        if (s[n] < '0' || s[n] > '9')
            return 0;
    *len = n;
    return n > 0 && (n == 1 || s[0] != '0');
}

int mkt_id_compare(const char *a, const char *b)
{
    size_t la, lb;
    int na = all_digits(a, &la), nb = all_digits(b, &lb);
    if (na && nb) {
        if (la != lb)
            return la < lb ? -1 : 1;
        return strcmp(a, b);
    }
    if (na != nb)
        return na ? -1 : 1;
    return strcmp(a, b);
}

static int cmp_ptr(const void *x, const void *y) { return mkt_id_compare(*(char *const *)x, *(char *const *)y); }

static uint64_t hash_string(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h ^ (h >> 29);
}

static void build_table(mkt_dict *d)
{
    int64_t size = 16;
    while (size < 2 * d->n + 1)
        size *= 2;
    d->table_size = size;
    d->table = mkt_xcalloc((size_t)size, sizeof(int64_t));
    for (int64_t i = 0; i < d->n; i++) {
        uint64_t h = hash_string(d->names[i]) & (uint64_t)(size - 1);
        while (d->table[h])
            h = (h + 1) & (uint64_t)(size - 1);
        d->table[h] = i + 1;
    }
}

int64_t mkt_dict_find(const mkt_dict *d, const char *s)
{
    if (d->table_size == 0)
        return -1;
    uint64_t h = hash_string(s) & (uint64_t)(d->table_size - 1);
    while (d->table[h]) {
        int64_t i = d->table[h] - 1;
        if (strcmp(d->names[i], s) == 0)
            return i;
        h = (h + 1) & (uint64_t)(d->table_size - 1);
    }
    return -1;
}

/* Sort and remove duplicates in place; returns the distinct count. */
static int64_t sort_unique(char **v, int64_t n)
{
    if (n == 0)
        return 0;
    qsort(v, (size_t)n, sizeof(char *), cmp_ptr);
    int64_t k = 1;
    for (int64_t i = 1; i < n; i++)
        if (strcmp(v[i], v[k - 1]) != 0)
            v[k++] = v[i];
    return k;
}

void mkt_dict_build(mkt_dict *d, char *const *local, int64_t n_local, MPI_Comm comm)
{
    int nranks;
    MKT_MPI(MPI_Comm_size(comm, &nranks));
    /* distinct local ids through a hash set first: inputs repeat ids a lot */
    int64_t size = 16;
    while (size < 2 * n_local + 1)
        size *= 2;
    int64_t *set = mkt_xcalloc((size_t)size, sizeof(int64_t));
    char **v = mkt_xmalloc(sizeof(char *) * (size_t)(n_local > 0 ? n_local : 1));
    int64_t distinct = 0;
    for (int64_t i = 0; i < n_local; i++) {
        uint64_t h = hash_string(local[i]) & (uint64_t)(size - 1);
        while (set[h] && strcmp(v[set[h] - 1], local[i]) != 0)
            h = (h + 1) & (uint64_t)(size - 1);
        if (!set[h]) {
            v[distinct++] = local[i];
            set[h] = distinct;
        }
    }
    free(set);
    int64_t k = sort_unique(v, distinct);
    int64_t bytes = 0;
    for (int64_t i = 0; i < k; i++)
        bytes += (int64_t)strlen(v[i]) + 1;
    if (bytes > INT32_MAX)
        mkt_fail("id dictionary too large on one rank (%lld bytes)", (long long)bytes);
    char *send = mkt_xmalloc((size_t)(bytes > 0 ? bytes : 1));
    char *p = send;
    for (int64_t i = 0; i < k; i++) {
        size_t l = strlen(v[i]) + 1;
        memcpy(p, v[i], l);
        p += l;
    }
    free(v);
    int mine = (int)bytes;
    int *counts = mkt_xmalloc(sizeof(int) * (size_t)nranks), *displs = mkt_xmalloc(sizeof(int) * (size_t)nranks);
    MKT_MPI(MPI_Allgather(&mine, 1, MPI_INT, counts, 1, MPI_INT, comm));
    int64_t all = 0;
    for (int r = 0; r < nranks; r++) {
        if (all > INT32_MAX)
            mkt_fail("id dictionary too large (%lld bytes)", (long long)all);
        displs[r] = (int)all;
        all += counts[r];
    }
    if (all > INT32_MAX)
        mkt_fail("id dictionary too large (%lld bytes)", (long long)all);
    d->storage = mkt_xmalloc((size_t)(all > 0 ? all : 1));
    MKT_MPI(MPI_Allgatherv(send, mine, MPI_CHAR, d->storage, counts, displs, MPI_CHAR, comm));
    free(send);
    free(counts);
    free(displs);
    int64_t n = 0;
    for (int64_t i = 0; i < all; i++)
        if (d->storage[i] == 0)
            n++;
    d->names = mkt_xmalloc(sizeof(char *) * (size_t)(n > 0 ? n : 1));
    int64_t j = 0;
    for (int64_t i = 0; i < all; i += (int64_t)strlen(d->storage + i) + 1)
        d->names[j++] = d->storage + i;
    d->n = sort_unique(d->names, n);
    build_table(d);
}

void mkt_dict_from_sorted(mkt_dict *d, char **names, int64_t n)
{
    d->n = n;
    d->names = names;
    d->storage = NULL;
    build_table(d);
}

void mkt_dict_free(mkt_dict *d)
{
    if (d->storage == NULL && d->names) {
        for (int64_t i = 0; i < d->n; i++)
            free(d->names[i]);
    }
    free(d->names);
    free(d->table);
    free(d->storage);
    memset(d, 0, sizeof *d);
}

void mkt_dict_write(const mkt_dict *d, hid_t file, const char *path, MPI_Comm comm)
{
    int rank;
    MKT_MPI(MPI_Comm_rank(comm, &rank));
    mkt_h5_write_strings(file, path, d->names, rank == 0 ? d->n : 0, comm);
}
