/* test_ls_config.c — the least-squares config (src/ls_config.c): the
 * defaults pass the check, and each bad field is refused by its name. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "ls_config.h"
#include "unit_config_check.h"

static void test_config_check(void **state)
{
    (void)state;
    mkt_ls_config c;
    mkt_ls_config_defaults(&c);
    assert_null(mkt_ls_check_config(&c));
    assert_string_equal(c.method, "gels");
    assert_true(c.lambda == 0);
    assert_int_equal(c.block, 64);
    mkt_ls_config ok = c;
    ok.method = "normal";
    assert_null(mkt_ls_check_config(&ok));

    mkt_ls_config bad = c;
    bad.method = "qr";
    expect_named(mkt_ls_check_config(&bad), "method");
    assert_string_equal(mkt_ls_check_config(&bad), "method: 'qr' is neither gels nor normal");
    bad.method = NULL;
    expect_named(mkt_ls_check_config(&bad), "method");
    bad = c;
    bad.lambda = -1;
    expect_named(mkt_ls_check_config(&bad), "lambda");
    bad.lambda = NAN;
    expect_named(mkt_ls_check_config(&bad), "lambda");
    bad.lambda = 2e12;
    expect_named(mkt_ls_check_config(&bad), "lambda");
    bad = c;
    bad.block = 0;
    expect_named(mkt_ls_check_config(&bad), "block");
    bad.block = MKT_LS_MAX_BLOCK + 1;
    expect_named(mkt_ls_check_config(&bad), "block");
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_config_check)};
    return cmocka_run_group_tests_name("ls_config", tests, NULL, NULL);
}
