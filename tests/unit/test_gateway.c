/* test_gateway.c — the options of `mkt serve` (stages/gateway.c): their
 * defaults, and mkt_gateway_check_options rejecting every bad value or
 * combination with a message that names the option.  No socket is opened. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "unit_config_check.h"

#include <string.h>

#include "gateway.h"

/* c is rejected with a message that starts with opt. */
static void expect_rejected(mkt_gateway_options c, const char *opt)
{
    expect_named(mkt_gateway_check_options(&c), opt);
}

static void test_defaults(void **state)
{
    (void)state;
    mkt_gateway_options o;
    mkt_gateway_options_init(&o);
    assert_int_equal(o.max_message, 65536);
    assert_int_equal(o.max_frame, 16777216);
    assert_int_equal(o.max_k, 1000);
    assert_int_equal(o.max_batch, 256);
    assert_int_equal(o.hwm, 1000);
    assert_int_equal(o.request_timeout_ms, 10000);
    assert_int_equal(o.reload_step_bytes, 4194304);
    assert_int_equal(o.max_operator_failures, 5);
    assert_int_equal(o.idle_timeout_ms, 0);
    assert_int_equal(o.allow_shutdown, 0);
    assert_null(o.store);
    /* the files are required */
    assert_string_equal(mkt_gateway_check_options(&o), "--store STORE.h5 and --models MODEL.h5 are required");
    o.store = "shop.h5";
    o.models = "model.h5";
    assert_null(mkt_gateway_check_options(&o));
}

static void test_check(void **state)
{
    (void)state;
    mkt_gateway_options c;
    mkt_gateway_options_init(&c);
    c.store = "shop.h5";
    c.models = "model.h5";

    mkt_gateway_options bad = c;
    bad.models = NULL;
    expect_rejected(bad, "--store");
    bad = c;
    bad.token_file = "token";
    bad.allow_shutdown = 1;
    expect_rejected(bad, "--allow-shutdown");
    bad = c;
    bad.max_message = 200;
    bad.max_frame = 100;
    expect_rejected(bad, "--max-frame");
    assert_string_equal(mkt_gateway_check_options(&bad), "--max-frame (100) must be at least --max-message (200)");
    bad = c;
    bad.max_message = 10;
    expect_rejected(bad, "--max-message");
    bad = c;
    bad.max_k = 0;
    expect_rejected(bad, "--max-k");
    bad = c;
    bad.max_batch = 0;
    expect_rejected(bad, "--max-batch");
    bad.max_batch = 1025;
    expect_rejected(bad, "--max-batch");
    bad = c;
    bad.hwm = 0;
    expect_rejected(bad, "--hwm");
    bad = c;
    bad.request_timeout_ms = -1;
    expect_rejected(bad, "--request-timeout-ms");
    bad = c;
    bad.reload_step_bytes = 100;
    expect_rejected(bad, "--reload-step-bytes");
    bad = c;
    bad.max_operator_failures = -1;
    expect_rejected(bad, "--max-operator-failures");
    bad = c;
    bad.idle_timeout_ms = -1;
    expect_rejected(bad, "--timeout-ms");

    /* CURVE: a secret key goes with at least one key list, and not with --allow-shutdown */
    bad = c;
    bad.curve_secret_key = "server.key";
    expect_rejected(bad, "--curve-secret-key");
    bad = c;
    bad.curve_clients = "clients.pub";
    expect_rejected(bad, "--curve-secret-key");
    mkt_gateway_options good = c;
    good.curve_secret_key = "server.key";
    good.curve_operators = "operators.pub";
    assert_null(mkt_gateway_check_options(&good));
    good.curve_clients = "clients.pub";
    assert_null(mkt_gateway_check_options(&good));
    bad = good;
    bad.allow_shutdown = 1;
    expect_rejected(bad, "--allow-shutdown");
    good = c;
    good.allow_shutdown = 1;
    assert_null(mkt_gateway_check_options(&good));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
