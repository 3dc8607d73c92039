/* test_teststore.c — the provenance check of test stores (io/teststore.c)
 * on stores written by `mkt ingest` itself (mkt_ingest_run in this
 * process): a test store passes against the training store it was ingested
 * into and fails, with a reason naming the files, against a store with other
 * ids (same counts or not), against itself, when the training store is not
 * a test store's, when a file is missing, and when its attributes were
 * altered.  Also the id-map hash's sensitivity to order and list
 * boundaries. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <hdf5.h>
#include <mpi.h>

#include "iocheck.h"
#include "ingest.h"
#include "metrics_json.h"
#include "teststore.h"

static char dir[256];

static const char *path_in(const char *name)
{
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

static void write_file(const char *name, const char *text)
{
    FILE *f = fopen(path_in(name), "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void ingest(const char *input, const char *out, const char *as, const char *into)
{
    mkt_ingest_options o;
    memset(&o, 0, sizeof o);
    o.format = "events";
    o.input = input;
    o.out = out;
    o.max_reject_rate = 0.05;
    o.max_unknown_rate = 1;
    o.header = 1;
    o.user_col = "user";
    o.item_col = "item";
    o.type_col = "type";
    o.ts_col = "ts";
    o.value_col = "value";
    o.qty_col = "qty";
    o.default_type = "view";
    o.treatment_col = "auto";
    o.control = "auto";
    o.visit_col = "visit";
    o.conversion_col = "conversion";
    o.spend_col = "spend";
    o.campaign_user_col = "user";
    o.as = as;
    o.into = into;
    json_t *m = mkt_metrics_new("ingest");
    assert_int_equal(mkt_ingest_run(&o, MPI_COMM_WORLD, m), 0);
    json_decref(m);
}

static char A[512], B[512], C[512], T[512];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/mkt_test_teststore_%d", (int)getpid());
    char cmd[600];
    snprintf(cmd, sizeof cmd, "mkdir -p %s", dir);
    if (system(cmd) != 0)
        return -1;
    const char *head = "user,item,type,ts,value\n";
    char text[512];
    snprintf(text, sizeof text, "%su1,i1,rating,1,4\nu2,i2,rating,2,3\n", head);
    write_file("a.csv", text);
    snprintf(text, sizeof text, "%su1,i1,rating,1,4\nu3,i2,rating,2,3\n", head); /* same counts, other ids */
    write_file("b.csv", text);
    snprintf(text, sizeof text, "%su1,i1,rating,1,4\nu2,i2,rating,2,3\nu3,i1,rating,3,1\n", head);
    write_file("c.csv", text);
    snprintf(text, sizeof text, "%su2,i1,rating,5,5\nu9,i1,rating,6,1\n", head);
    write_file("t.csv", text);
    snprintf(A, sizeof A, "%s", path_in("a.h5"));
    snprintf(B, sizeof B, "%s", path_in("b.h5"));
    snprintf(C, sizeof C, "%s", path_in("c.h5"));
    snprintf(T, sizeof T, "%s", path_in("t.h5"));
    ingest(path_in("a.csv"), A, NULL, NULL);
    ingest(path_in("b.csv"), B, "store", NULL);
    ingest(path_in("c.csv"), C, NULL, NULL);
    ingest(path_in("t.csv"), T, "test", A);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_accepts_its_training_store(void **state)
{
    (void)state;
    char why[2048] = "";
    assert_int_equal(mkt_store_test_of(A, T, why, sizeof why), 1);
    /* and the collective form returns */
    mkt_store_check_test_of(A, T, MPI_COMM_WORLD);
}

static void test_rejects_other_ids_same_counts(void **state)
{
    (void)state;
    char why[2048] = "";
    assert_int_equal(mkt_store_test_of(B, T, why, sizeof why), 0);
    assert_non_null(strstr(why, "other user or item ids"));
    assert_non_null(strstr(why, T));
    assert_non_null(strstr(why, B));
}

static void test_rejects_other_counts(void **state)
{
    (void)state;
    char why[2048] = "";
    assert_int_equal(mkt_store_test_of(C, T, why, sizeof why), 0);
    assert_non_null(strstr(why, "(2 users, 2 items), not against"));
    assert_non_null(strstr(why, "(3 users, 2 items)"));
}

static void test_rejects_wrong_roles(void **state)
{
    (void)state;
    char why[2048] = "";
    assert_int_equal(mkt_store_test_of(A, A, why, sizeof why), 0);
    assert_non_null(strstr(why, "is not a test store"));
    assert_int_equal(mkt_store_test_of(T, T, why, sizeof why), 0);
    assert_non_null(strstr(why, "is itself a test store"));
    assert_int_equal(mkt_store_test_of(A, path_in("none.h5"), why, sizeof why), 0);
    assert_non_null(strstr(why, "none.h5: No such file"));
    assert_int_equal(mkt_store_test_of(path_in("a.csv"), T, why, sizeof why), 0);
    assert_non_null(strstr(why, "not an HDF5 file"));
}

static void test_rejects_altered_hash(void **state)
{
    (void)state;
    char copy[512], cmd[1200], why[2048] = "";
    snprintf(copy, sizeof copy, "%s", path_in("t2.h5"));
    snprintf(cmd, sizeof cmd, "cp %s %s", T, copy);
    assert_int_equal(system(cmd), 0);
    hid_t f = H5Fopen(copy, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(f >= 0);
    assert_true(H5Adelete(f, "train_ids_hash") >= 0);
    H5Fclose(f);
    assert_int_equal(mkt_store_test_of(A, copy, why, sizeof why), 0);
    assert_non_null(strstr(why, "without train_users, train_items and train_ids_hash"));
}

static void test_hash(void **state)
{
    (void)state;
    char *u[] = {"u1", "u2"}, *u_swapped[] = {"u2", "u1"}, *i[] = {"i1"};
    char *ab[] = {"a", "b"}, *a[] = {"a"}, *b[] = {"b"};
    uint64_t h = mkt_ids_hash(u, 2, i, 1);
    assert_int_equal(h, mkt_ids_hash(u, 2, i, 1));
    assert_true(h != mkt_ids_hash(u_swapped, 2, i, 1));
    assert_true(mkt_ids_hash(ab, 2, NULL, 0) != mkt_ids_hash(a, 1, b, 1));
    assert_true(mkt_ids_hash(a, 1, b, 1) != mkt_ids_hash(b, 1, a, 1));
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    mkt_check_init();
    setenv("MKT_QUIET", "1", 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accepts_its_training_store),
        cmocka_unit_test(test_rejects_other_ids_same_counts),
        cmocka_unit_test(test_rejects_other_counts),
        cmocka_unit_test(test_rejects_wrong_roles),
        cmocka_unit_test(test_rejects_altered_hash),
        cmocka_unit_test(test_hash),
    };
    int failed = cmocka_run_group_tests_name("test stores", tests, setup, teardown);
    MPI_Finalize();
    return failed ? 1 : 0;
}
