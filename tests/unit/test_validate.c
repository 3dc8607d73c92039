/* test_validate.c — the array checks of io/validate.c that every file check
 * uses: row pointers, index ranges, finite values (the first bad position,
 * or -1). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "validate.h"

static void indptr(void **state)
{
    (void)state;
    int64_t ok[] = {0, 2, 2, 5};
    assert_int_equal(mkt_check_indptr(ok, 4, 0, 5, 5), -1);
    int64_t down[] = {0, 3, 2, 5};
    assert_int_equal(mkt_check_indptr(down, 4, 0, 5, 5), 2);
    int64_t neg[] = {0, -1, 2, 5};
    assert_int_equal(mkt_check_indptr(neg, 4, 0, 5, 5), 1);
    int64_t past[] = {0, 1, 9, 9};
    assert_int_equal(mkt_check_indptr(past, 4, 0, 5, 5), 2);
    int64_t start[] = {1, 2, 3, 5};
    assert_int_equal(mkt_check_indptr(start, 4, 0, 5, 5), 0);
    assert_int_equal(mkt_check_indptr(start, 4, -1, 5, 5), -1); /* a block not at row 0 */
    int64_t end[] = {0, 1, 2, 4};
    assert_int_equal(mkt_check_indptr(end, 4, 0, 5, 5), 3);
    assert_int_equal(mkt_check_indptr(end, 4, 0, -1, 5), -1); /* a block not at the last row */
    assert_int_equal(mkt_check_indptr(ok, 0, 0, 5, 5), -1);
}

static void ranges(void **state)
{
    (void)state;
    int64_t v[] = {0, 3, 4, -1};
    assert_int_equal(mkt_check_index_range(v, 3, 0, 5), -1);
    assert_int_equal(mkt_check_index_range(v, 3, 0, 4), 2);
    assert_int_equal(mkt_check_index_range(v, 4, 0, 5), 3);
    assert_int_equal(mkt_check_index_range(v, 4, -1, 5), -1);
}

static void finite_values(void **state)
{
    (void)state;
    double v[] = {0.0, -1e308, 1.5, NAN, INFINITY};
    assert_int_equal(mkt_check_finite(v, 3), -1);
    assert_int_equal(mkt_check_finite(v, 5), 3);
    double w[] = {1.0, -INFINITY};
    assert_int_equal(mkt_check_finite(w, 2), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(indptr), cmocka_unit_test(ranges), cmocka_unit_test(finite_values)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
