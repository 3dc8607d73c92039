/* test_kmeans.c — k-means pieces (src/kmeans.c) and the distributed fit
 * (stages/train_segments.c) on one rank: a hand-made set of two well separated
 * clusters is split exactly, the exact k-means++ pick, and the naming rules. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <mpi.h>
#include <string.h>

#include "iocheck.h"
#include "kmeans.h"
#include "train_segments.h"
#include "unit_config_check.h"

static void test_nearest(void **s)
{
    (void)s;
    double c[] = {0, 0, 10, 10, 0, 0};
    double x[] = {9, 8}, d2;
    assert_int_equal(mkt_kmeans_nearest(x, c, 3, 2, &d2), 1);
    assert_true(d2 == 5.0);
    double y[] = {0, 0};
    assert_int_equal(mkt_kmeans_nearest(y, c, 3, 2, &d2), 0); /* tie with centre 2: the lowest wins */
}

static void test_pick(void **s)
{
    (void)s;
    double w[] = {0, 1, 0, 2, 3};
    mkt_xsum run;
    mkt_xsum_init(&run);
    assert_int_equal(mkt_kmeans_pick(w, 5, &run, 0.5), 1);
    mkt_xsum_init(&run);
    assert_int_equal(mkt_kmeans_pick(w, 5, &run, 1.0), 3);  /* prefix 1 is not > 1 */
    mkt_xsum_init(&run);
    assert_int_equal(mkt_kmeans_pick(w, 5, &run, 5.99), 4);
    mkt_xsum_init(&run);
    assert_int_equal(mkt_kmeans_pick(w, 5, &run, 6.0), -1);
    mkt_xsum_init(&run);
    mkt_xsum_add(&run, 10); /* earlier rows already past the target: first positive row */
    assert_int_equal(mkt_kmeans_pick(w, 5, &run, 10.5), 1);
}

static void test_two_clusters(void **s)
{
    (void)s;
    enum { N = 40, D = 2 };
    double x[N * D];
    for (int i = 0; i < N; i++) {
        double base = (i % 2) ? 100 : -100; /* interleaved: cluster = parity */
        x[i * D] = base + (i % 5) * 0.1;
        x[i * D + 1] = -base + (i % 3) * 0.2;
    }
    for (uint64_t seed = 1; seed <= 5; seed++) {
        double c[2 * D];
        int32_t a[N];
        int it = mkt_kmeans_fit(x, N, D, 2, seed, 20, MPI_COMM_WORLD, c, a);
        assert_true(it >= 1 && it <= 20);
        for (int i = 0; i < N; i++)
            assert_int_equal(a[i], a[i % 2]);
        assert_int_not_equal(a[0], a[1]);
        int odd = a[1];
        assert_true(c[odd * D] > 99 && c[odd * D] < 101);
        assert_true(c[(1 - odd) * D] < -99 && c[(1 - odd) * D] > -101);
        /* the centroid is the exact mean of the members */
        double m = 0;
        for (int i = 1; i < N; i += 2)
            m += x[i * D];
        assert_true(c[odd * D] > m / (N / 2) - 1e-12 && c[odd * D] < m / (N / 2) + 1e-12);
    }
}

static void test_names(void **s)
{
    (void)s;
    /* features: spend, purchases, recency, tenure, price ratio */
    mkt_segment_roles r = {0, 1, 2, 3, 4};
    double z[] = {2, 1, -1, 0, 0,      /* high value */
                  -0.2, 0, 1, 0, 0,    /* at risk */
                  -0.3, -0.5, 0, -1, 0, /* new */
                  -0.1, 0, 0, 0, -1,   /* bargain hunters */
                  -0.5, -1, 1, 0, 0,   /* browsers: never bought */
                  -0.5, -1, 1, 0, 0};  /* browsers 2 */
    double o[] = {500, 5, 1, 20, 1, 50, 2, 18, 20, 1, 20, 0.2, 5, 3, 1,
                  40,  1, 5, 20, 0.7, 0, 0, 21, 20, 0, 0, 0, 21, 20, 0};
    char names[6][MKT_SEGMENT_NAME_LEN];
    mkt_kmeans_name(z, o, 6, 5, &r, names);
    assert_string_equal(names[0], "high value");
    assert_string_equal(names[1], "at risk");
    assert_string_equal(names[2], "new");
    assert_string_equal(names[3], "bargain hunters");
    assert_string_equal(names[4], "browsers");
    assert_string_equal(names[5], "browsers 2");

    /* two high-value segments: told apart by the feature on which they differ most */
    double z2[] = {2, 2, -1, 0, 0,    /* buys more often than the other */
                   1.5, 0, 0.2, 0, 0, /* buys less often */
                   -0.5, -1, 1, 0, 0};
    double o2[] = {500, 9, 1, 20, 1, 400, 3, 6, 20, 1, 0, 0, 21, 20, 0};
    char n2[3][MKT_SEGMENT_NAME_LEN];
    mkt_kmeans_name(z2, o2, 3, 5, &r, n2);
    assert_string_equal(n2[0], "high value, frequent");
    assert_string_equal(n2[1], "high value, infrequent");
    assert_string_equal(n2[2], "browsers");
}

/* The defaults pass the check; each bad field is refused by its name. */
static void test_config_check(void **s)
{
    (void)s;
    mkt_kmeans_config c;
    mkt_kmeans_config_defaults(&c);
    assert_null(mkt_kmeans_check_config(&c));
    assert_int_equal(c.k, 5);
    assert_int_equal(c.iters, 50);
    assert_true(c.seed == 42);
    mkt_kmeans_config bad = c;
    bad.k = 0;
    expect_named(mkt_kmeans_check_config(&bad), "k ");
    assert_string_equal(mkt_kmeans_check_config(&bad), "k must be in [1, 1000] (got 0)");
    bad = c;
    bad.k = MKT_KMEANS_MAX_K + 1;
    expect_named(mkt_kmeans_check_config(&bad), "k ");
    bad = c;
    bad.iters = -1;
    expect_named(mkt_kmeans_check_config(&bad), "iters");
    bad = c;
    bad.iters = MKT_KMEANS_MAX_ITERS + 1;
    expect_named(mkt_kmeans_check_config(&bad), "iters");
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    mkt_check_init();
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_nearest), cmocka_unit_test(test_pick),
                                       cmocka_unit_test(test_two_clusters), cmocka_unit_test(test_names),
                                       cmocka_unit_test(test_config_check)};
    int failed = cmocka_run_group_tests_name("kmeans", tests, NULL, NULL);
    MPI_Finalize();
    return failed ? 1 : 0;
}
