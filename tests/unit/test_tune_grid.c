/* test_tune_grid.c — the search space of `mkt tune` (src/tune_grid.c):
 * parsing and its errors, the order of the cartesian product, and random
 * search (distinct draws from a list grid, ranges inside their bounds and
 * log-uniform, the same draws from the same seed, others from another). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "parse.h"
#include "tune_grid.h"

static void expect_parse_error(const char *text, const char *needle)
{
    mkt_grid g;
    char err[256] = "";
    if (mkt_grid_parse(text, &g, err, sizeof err) == 0)
        fail_msg("grid \"%s\" was accepted", text ? text : "(null)");
    if (!strstr(err, needle))
        fail_msg("grid \"%s\": error \"%s\" does not mention \"%s\"", text ? text : "(null)", err, needle);
    assert_int_equal(g.naxes, 0);
}

static void test_parse(void **state)
{
    (void)state;
    mkt_grid g;
    char err[256];
    assert_int_equal(mkt_grid_parse(" lambda = 0.01, 0.05 ,0.2 ; rank=8,32;", &g, err, sizeof err), 0);
    assert_int_equal(g.naxes, 2);
    assert_string_equal(g.axes[0].key, "lambda");
    assert_int_equal(g.axes[0].kind, MKT_AXIS_LIST);
    assert_int_equal(g.axes[0].nvalues, 3);
    assert_string_equal(g.axes[0].values[0], "0.01");
    assert_string_equal(g.axes[0].values[1], "0.05");
    assert_string_equal(g.axes[0].values[2], "0.2");
    assert_string_equal(g.axes[1].key, "rank");
    assert_int_equal(g.axes[1].nvalues, 2);
    assert_string_equal(g.axes[1].values[1], "32");
    mkt_grid_free(&g);

    assert_int_equal(mkt_grid_parse("l2=log:1e-4:10;squares=int:0:1;x=lin:-1:1", &g, err, sizeof err), 0);
    assert_int_equal(g.axes[0].kind, MKT_AXIS_LOG);
    assert_true(g.axes[0].lo == 1e-4 && g.axes[0].hi == 10);
    assert_int_equal(g.axes[1].kind, MKT_AXIS_INT);
    assert_int_equal(g.axes[2].kind, MKT_AXIS_LIN);
    assert_true(g.axes[2].lo == -1 && g.axes[2].hi == 1);
    mkt_grid_free(&g);

    expect_parse_error(NULL, "empty");
    expect_parse_error("", "empty");
    expect_parse_error(" ; ;", "empty");
    expect_parse_error("lambda", "no '='");
    expect_parse_error("=1,2", "no key");
    expect_parse_error("lambda=", "no values");
    expect_parse_error("lambda=1,,2", "empty value");
    expect_parse_error("lambda=1,2;lambda=3", "twice");
    expect_parse_error("l2=log:0:1", "low > 0");
    expect_parse_error("l2=log:1", "KIND:LOW:HIGH");
    expect_parse_error("l2=lin:2:1", "low is above high");
    expect_parse_error("l2=lin:a:1", "numbers");
    expect_parse_error("k=int:1.5:3", "integer bounds");
}

static void test_product(void **state)
{
    (void)state;
    mkt_grid g;
    char err[256], **c;
    int64_t n;
    assert_int_equal(mkt_grid_parse("a=1,2,3;b=x,y", &g, err, sizeof err), 0);
    assert_int_equal(mkt_grid_configs(&g, 0, 7, NULL, &c, &n, err, sizeof err), 0);
    assert_int_equal(n, 6);
    const char *want[6][2] = {{"1", "x"}, {"1", "y"}, {"2", "x"}, {"2", "y"}, {"3", "x"}, {"3", "y"}};
    for (int j = 0; j < 6; j++) {
        assert_string_equal(c[j * 2], want[j][0]);
        assert_string_equal(c[j * 2 + 1], want[j][1]);
    }
    mkt_grid_free_configs(c, n, g.naxes);
    mkt_grid_free(&g);

    /* a range in a full grid is refused, naming the key */
    assert_int_equal(mkt_grid_parse("a=1,2;l2=log:0.1:1", &g, err, sizeof err), 0);
    assert_int_equal(mkt_grid_configs(&g, 0, 7, NULL, &c, &n, err, sizeof err), -1);
    assert_non_null(strstr(err, "l2"));
    assert_non_null(strstr(err, "--random"));
    assert_null(c);
    mkt_grid_free(&g);

    /* too large a product */
    assert_int_equal(mkt_grid_parse("a=1,2,3,4,5,6,7,8,9,10;b=1,2,3,4,5,6,7,8,9,10;c=1,2,3,4,5,6,7,8,9,10;"
                                    "d=1,2,3,4,5,6,7,8,9,10;e=1,2,3,4,5,6,7,8,9,10;f=1,2",
                                    &g, err, sizeof err),
                     0);
    assert_int_equal(mkt_grid_configs(&g, 0, 7, NULL, &c, &n, err, sizeof err), -1);
    assert_non_null(strstr(err, "more than"));
    /* ... but drawing from it is fine: distinct draws */
    assert_int_equal(mkt_grid_configs(&g, 50, 7, NULL, &c, &n, err, sizeof err), 0);
    assert_int_equal(n, 50);
    for (int i = 0; i < 50; i++)
        for (int k = 0; k < i; k++) {
            int same = 1;
            for (int a = 0; a < 6; a++)
                same &= !strcmp(c[i * 6 + a], c[k * 6 + a]);
            assert_false(same);
        }
    mkt_grid_free_configs(c, n, g.naxes);
    mkt_grid_free(&g);
}

static void test_random(void **state)
{
    (void)state;
    mkt_grid g;
    char err[256], **c, **d;
    int64_t n, m;
    /* a list grid: distinct configurations; more draws than the product give the product */
    assert_int_equal(mkt_grid_parse("a=1,2,3;b=x,y", &g, err, sizeof err), 0);
    assert_int_equal(mkt_grid_configs(&g, 4, 11, NULL, &c, &n, err, sizeof err), 0);
    assert_int_equal(n, 4);
    for (int i = 0; i < 4; i++)
        for (int k = 0; k < i; k++)
            assert_false(!strcmp(c[i * 2], c[k * 2]) && !strcmp(c[i * 2 + 1], c[k * 2 + 1]));
    /* the same seed draws the same; another seed another order */
    assert_int_equal(mkt_grid_configs(&g, 4, 11, NULL, &d, &m, err, sizeof err), 0);
    for (int i = 0; i < 8; i++)
        assert_string_equal(c[i], d[i]);
    mkt_grid_free_configs(d, m, 2);
    int differs = 0;
    for (uint64_t s = 12; s < 20 && !differs; s++) {
        assert_int_equal(mkt_grid_configs(&g, 4, s, NULL, &d, &m, err, sizeof err), 0);
        for (int i = 0; i < 8; i++)
            differs |= strcmp(c[i], d[i]) != 0;
        mkt_grid_free_configs(d, m, 2);
    }
    assert_true(differs);
    mkt_grid_free_configs(c, n, 2);
    assert_int_equal(mkt_grid_configs(&g, 10, 11, NULL, &c, &n, err, sizeof err), 0);
    assert_int_equal(n, 6);
    int seen[3][2] = {{0}};
    for (int j = 0; j < 6; j++)
        seen[atoi(c[j * 2]) - 1][c[j * 2 + 1][0] - 'x']++;
    for (int i = 0; i < 3; i++)
        for (int k = 0; k < 2; k++)
            assert_int_equal(seen[i][k], 1);
    mkt_grid_free_configs(c, n, 2);
    mkt_grid_free(&g);

    /* ranges: inside the bounds; log-uniform (about half the draws below the
     * geometric mean); integer axes rounded; int ranges hit both ends */
    assert_int_equal(mkt_grid_parse("l2=log:0.001:1000;rank=log:4:64;k=int:1:3;m=a,b", &g, err, sizeof err), 0);
    int integer[4] = {0, 1, 0, 0};
    assert_int_equal(mkt_grid_configs(&g, 2000, 5, integer, &c, &n, err, sizeof err), 0);
    assert_int_equal(n, 2000);
    int below = 0, khit[4] = {0}, ma = 0;
    for (int j = 0; j < 2000; j++) {
        double x;
        int64_t r, k;
        assert_int_equal(mkt_parse_double(c[j * 4], &x), 0);
        assert_true(x >= 0.001 && x <= 1000);
        below += x < 1;
        assert_int_equal(mkt_parse_int64(c[j * 4 + 1], &r), 0);
        assert_true(r >= 4 && r <= 64);
        assert_int_equal(mkt_parse_int64(c[j * 4 + 2], &k), 0);
        assert_true(k >= 1 && k <= 3);
        khit[k]++;
        ma += !strcmp(c[j * 4 + 3], "a");
    }
    assert_true(below > 900 && below < 1100);
    assert_true(khit[1] > 500 && khit[3] > 500);
    assert_true(ma > 900 && ma < 1100);
    mkt_grid_free_configs(c, n, 4);
    assert_int_equal(mkt_grid_configs(&g, -1, 5, integer, &c, &n, err, sizeof err), -1);
    assert_int_equal(mkt_grid_configs(&g, MKT_GRID_MAX_CONFIGS + 1, 5, integer, &c, &n, err, sizeof err), -1);
    mkt_grid_free(&g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_parse), cmocka_unit_test(test_product),
                                       cmocka_unit_test(test_random)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
