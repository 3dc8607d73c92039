/* teststore.c — the id-map hash and provenance check of test stores, and
 * the group copy that gives a test store its training store's /ids and
 * /items (see teststore.h). */
#include "teststore.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iocheck.h"
#include "h5store.h"
#include "par.h"
#include "schema.h"

static uint64_t fnv_bytes(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 1099511628211ULL;
    }
    return h;
}

uint64_t mkt_ids_hash(char *const *users, int64_t n_users, char *const *items, int64_t n_items)
{
    uint64_t h = 1469598103934665603ULL;
    for (int64_t i = 0; i < n_users; i++)
        h = fnv_bytes(h, users[i], strlen(users[i]) + 1);
    unsigned char sep = 0xff;
    h = fnv_bytes(h, &sep, 1);
    for (int64_t i = 0; i < n_items; i++)
        h = fnv_bytes(h, items[i], strlen(items[i]) + 1);
    return h;
}

int mkt_store_ids_hash(hid_t file, const char *path, uint64_t *hash, int64_t *n_users, int64_t *n_items,
                       char *why, size_t len)
{
    if (!mkt_h5_exists(file, MKT_IDS_USERS) || !mkt_h5_exists(file, MKT_IDS_ITEMS)) {
        snprintf(why, len, "%s: no /ids/users and /ids/items (not a store of users and items)", path);
        return 0;
    }
    int64_t nu = mkt_h5_rows(file, MKT_IDS_USERS, NULL), ni = mkt_h5_rows(file, MKT_IDS_ITEMS, NULL);
    char **u = mkt_h5_read_strings(file, MKT_IDS_USERS, 0, nu);
    char **it = mkt_h5_read_strings(file, MKT_IDS_ITEMS, 0, ni);
    *hash = mkt_ids_hash(u, nu, it, ni);
    *n_users = nu;
    *n_items = ni;
    mkt_h5_free_strings(u, nu);
    mkt_h5_free_strings(it, ni);
    return 1;
}

static int test_of_open(hid_t train, const char *train_path, hid_t test, const char *test_path, char *why,
                        size_t len)
{
    char *role = mkt_h5_attr_get_string(test, ".", "role");
    int is_test = role && !strcmp(role, MKT_ROLE_TEST);
    free(role);
    if (!is_test) {
        snprintf(why, len,
                 "%s is not a test store (no root attribute role = \"test\"); write one with "
                 "`mkt ingest --as test --into %s --out %s ...`",
                 test_path, train_path, test_path);
        return 0;
    }
    role = mkt_h5_attr_get_string(train, ".", "role");
    int train_is_test = role && !strcmp(role, MKT_ROLE_TEST);
    free(role);
    if (train_is_test) {
        snprintf(why, len, "%s is itself a test store, not a training store", train_path);
        return 0;
    }
    char *origin = mkt_h5_attr_get_string(test, ".", "train_store");
    char *want_hex = mkt_h5_attr_get_string(test, ".", "train_ids_hash");
    int64_t want_users = mkt_h5_attr_get_int(test, ".", "train_users", -1);
    int64_t want_items = mkt_h5_attr_get_int(test, ".", "train_items", -1);
    const char *from = origin ? origin : "(unknown)";
    uint64_t h_train = 0, h_test = 0;
    int64_t nu = 0, ni = 0, tu = 0, ti = 0;
    int ok = 0;
    char hex[32];
    if (!want_hex || want_users < 0 || want_items < 0) {
        snprintf(why, len, "%s: test store without train_users, train_items and train_ids_hash attributes",
                 test_path);
    } else if (!mkt_store_ids_hash(train, train_path, &h_train, &nu, &ni, why, len)) {
        /* why is set */
    } else if (nu != want_users || ni != want_items) {
        snprintf(why, len,
                 "%s was ingested against %s (%" PRId64 " users, %" PRId64 " items), not against %s (%" PRId64
                 " users, %" PRId64 " items)",
                 test_path, from, want_users, want_items, train_path, nu, ni);
    } else if (snprintf(hex, sizeof hex, "%016" PRIx64, h_train), strcmp(hex, want_hex) != 0) {
        snprintf(why, len,
                 "%s was ingested against %s (id maps hash %s), not against %s (hash %s): the same counts "
                 "but other user or item ids",
                 test_path, from, want_hex, train_path, hex);
    } else if (!mkt_store_ids_hash(test, test_path, &h_test, &tu, &ti, why, len)) {
        /* why is set */
    } else if (h_test != h_train || tu != nu || ti != ni) {
        snprintf(why, len, "%s: its /ids differ from those of %s it claims to share (the file was altered)",
                 test_path, train_path);
    } else {
        ok = 1;
    }
    free(origin);
    free(want_hex);
    return ok;
}

int mkt_store_test_of(const char *train_path, const char *test_path, char *why, size_t len)
{
    if (!mkt_h5_check(train_path, why, len) || !mkt_h5_check(test_path, why, len))
        return 0;
    hid_t train = H5Fopen(train_path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (train < 0) {
        snprintf(why, len, "%s: cannot open", train_path);
        return 0;
    }
    hid_t test = H5Fopen(test_path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (test < 0) {
        H5Fclose(train);
        snprintf(why, len, "%s: cannot open", test_path);
        return 0;
    }
    int ok = test_of_open(train, train_path, test, test_path, why, len);
    H5Fclose(test);
    H5Fclose(train);
    return ok;
}

void mkt_store_check_test_of(const char *train_path, const char *test_path, MPI_Comm comm)
{
    int rank, ok = 1;
    char why[2048] = "";
    MKT_MPI(MPI_Comm_rank(comm, &rank));
    if (rank == 0)
        ok = mkt_store_test_of(train_path, test_path, why, sizeof why);
    MKT_MPI(MPI_Bcast(&ok, 1, MPI_INT, 0, comm));
    if (!ok) {
        MKT_MPI(MPI_Bcast(why, sizeof why, MPI_CHAR, 0, comm));
        mkt_fail_all(MKT_EXIT_ERROR, "%s", why);
    }
}

/* ---------- group copy ---------- */

typedef struct {
    char **names;
    int n, cap;
} name_list;

static herr_t collect_dataset(hid_t group, const char *name, const H5L_info_t *info, void *data)
{
    (void)info;
    H5O_info_t oi;
    if (H5Oget_info_by_name(group, name, &oi, H5P_DEFAULT) < 0 || oi.type != H5O_TYPE_DATASET)
        return 0;
    name_list *l = data;
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 16;
        l->names = mkt_xrealloc(l->names, sizeof(char *) * (size_t)l->cap);
    }
    l->names[l->n++] = mkt_xstrdup(name);
    return 0;
}

void mkt_store_copy_group(hid_t from, hid_t to, const char *group, MPI_Comm comm)
{
    if (!mkt_h5_exists(from, group))
        return;
    int rank, nranks;
    MKT_MPI(MPI_Comm_rank(comm, &rank));
    MKT_MPI(MPI_Comm_size(comm, &nranks));
    name_list l = {NULL, 0, 0};
    hid_t g = MKT_H5(H5Gopen2(from, group, H5P_DEFAULT));
    hsize_t idx = 0;
    MKT_H5(H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, &idx, collect_dataset, &l));
    MKT_H5(H5Gclose(g));
    for (int i = 0; i < l.n; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", group, l.names[i]);
        hid_t d = MKT_H5(H5Dopen2(from, path, H5P_DEFAULT));
        hid_t type = MKT_H5(H5Dget_type(d));
        hid_t space = MKT_H5(H5Dget_space(d));
        hsize_t dims[2] = {0, 0};
        int nd = MKT_H5(H5Sget_simple_extent_ndims(space));
        if (nd < 1 || nd > 2 || H5Tis_variable_str(type) > 0 || H5Tget_class(type) == H5T_VLEN)
            mkt_fail("cannot copy %s: only 1-D and 2-D datasets of fixed-size elements are copied", path);
        MKT_H5(H5Sget_simple_extent_dims(space, dims, NULL));
        MKT_H5(H5Sclose(space));
        MKT_H5(H5Dclose(d));
        int64_t rows = (int64_t)dims[0], cols = nd == 2 ? (int64_t)dims[1] : 0;
        mkt_block b = mkt_block_of(rows, nranks, rank);
        int64_t n = b.end - b.begin;
        size_t row_bytes = H5Tget_size(type) * (size_t)(cols > 0 ? cols : 1);
        char *buf = mkt_xcalloc((size_t)(n > 0 ? n : 1), row_bytes);
        mkt_h5_read_rows(from, path, type, b.begin, n, buf);
        mkt_h5_write_rows_at(to, path, type, buf, b.begin, n, rows, cols, comm);
        free(buf);
        MKT_H5(H5Tclose(type));
        free(l.names[i]);
    }
    free(l.names);
}
