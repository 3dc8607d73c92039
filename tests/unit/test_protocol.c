/* test_protocol.c — the gateway's request parser (io/protocol.c): every
 * malformed input gets the documented error code, valid requests come out
 * with their fields, and nothing a client sends can crash the parser. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "protocol.h"

static const mkt_proto_limits limits = {65536, 1000, 4};

/* Parse text; return the code of request i ("" when it was accepted). */
static const char *code_of(const char *text, size_t len, int64_t i, mkt_proto_message *m)
{
    mkt_proto_parse(text, len, &limits, m);
    assert_true(m->n > i);
    return m->requests[i].op == MKT_OP_NONE ? m->requests[i].code : "";
}

static void expect_code(const char *text, const char *code)
{
    mkt_proto_message m;
    assert_string_equal(code_of(text, strlen(text), 0, &m), code);
    if (*code) {
        assert_non_null(m.requests[0].id); /* always something to echo */
        json_t *e = mkt_proto_error(m.requests[0].id, m.requests[0].code, m.requests[0].message);
        assert_string_equal(json_string_value(json_object_get(json_object_get(e, "error"), "code")), code);
        json_decref(e);
    }
    mkt_proto_message_free(&m);
}

static void test_valid_requests(void **state)
{
    (void)state;
    mkt_proto_message m;
    const char *t = "{\"op\":\"recommend\",\"id\":\"r1\",\"user\":\"u0001\",\"k\":5}";
    assert_string_equal(code_of(t, strlen(t), 0, &m), "");
    assert_int_equal(m.requests[0].op, MKT_OP_RECOMMEND);
    assert_string_equal(m.requests[0].user, "u0001");
    assert_int_equal(m.requests[0].k, 5);
    assert_string_equal(json_string_value(m.requests[0].id), "r1");
    assert_int_equal(m.is_batch, 0);
    mkt_proto_message_free(&m);

    t = "{\"op\":\"score\",\"id\":7,\"user\":42,\"item\":\"i001\"}";
    assert_string_equal(code_of(t, strlen(t), 0, &m), "");
    assert_string_equal(m.requests[0].user, "42"); /* integer ids are taken as their decimal text */
    assert_int_equal(json_integer_value(m.requests[0].id), 7);
    mkt_proto_message_free(&m);

    t = "{\"op\":\"similar\",\"item\":\"i1\"}";
    assert_string_equal(code_of(t, strlen(t), 0, &m), "");
    assert_int_equal(m.requests[0].k, MKT_PROTO_DEFAULT_K);
    assert_true(json_is_null(m.requests[0].id));
    mkt_proto_message_free(&m);

    expect_code("{\"op\":\"ping\"}", "");
    expect_code("{\"op\":\"stats\",\"id\":null}", "");
    expect_code("{\"op\":\"shutdown\",\"token\":\"t\"}", "");
    expect_code("{\"op\":\"uplift\",\"user\":\"u\"}", "");
    expect_code("{\"op\":\"segment\",\"user\":\"u\"}", "");
}

static void test_batch(void **state)
{
    (void)state;
    mkt_proto_message m;
    const char *t = "[{\"op\":\"ping\",\"id\":1},{\"op\":\"nope\",\"id\":2},3]";
    mkt_proto_parse(t, strlen(t), &limits, &m);
    assert_int_equal(m.is_batch, 1);
    assert_int_equal(m.n, 3);
    assert_int_equal(m.requests[0].op, MKT_OP_PING);
    assert_string_equal(m.requests[1].code, "unknown_op");
    assert_int_equal(json_integer_value(m.requests[1].id), 2); /* id echoed even when refused */
    assert_string_equal(m.requests[2].code, "bad_request");
    mkt_proto_message_free(&m);
    expect_code("[]", "bad_request");
    expect_code("[{\"op\":\"ping\"},{\"op\":\"ping\"},{\"op\":\"ping\"},{\"op\":\"ping\"},{\"op\":\"ping\"}]",
                "batch_too_large");
}

static void test_malformed(void **state)
{
    (void)state;
    expect_code("", "empty");
    expect_code("not json", "bad_json");
    expect_code("{\"op\":\"ping\"", "bad_json");
    expect_code("{\"op\":\"ping\"} trailing", "bad_json");
    expect_code("{\"op\":\"ping\",\"op\":\"stats\"}", "bad_json"); /* duplicate key */
    expect_code("{\"op\":\"a\\u0000b\"}", "bad_json");             /* NUL inside a string */
    expect_code("42", "bad_request");
    expect_code("\"ping\"", "bad_request");
    expect_code("{}", "missing_field");
    expect_code("{\"id\":1}", "missing_field");
    expect_code("{\"op\":7}", "bad_type");
    expect_code("{\"op\":\"launch\"}", "unknown_op");
    expect_code("{\"op\":\"ping\",\"id\":[1]}", "bad_type");
    expect_code("{\"op\":\"ping\",\"id\":1.5}", "bad_type");
    expect_code("{\"op\":\"ping\",\"extra\":1}", "unknown_field");
    expect_code("{\"op\":\"uplift\"}", "missing_field");
    expect_code("{\"op\":\"uplift\",\"user\":true}", "bad_type");
    expect_code("{\"op\":\"uplift\",\"user\":\"\"}", "bad_value");
    expect_code("{\"op\":\"uplift\",\"user\":\"a\\nb\"}", "bad_value");
    expect_code("{\"op\":\"uplift\",\"user\":\"a\\u007fb\"}", "bad_value");
    expect_code("{\"op\":\"score\",\"user\":\"u\"}", "missing_field");
    expect_code("{\"op\":\"recommend\",\"user\":\"u\",\"k\":-1}", "bad_value");
    expect_code("{\"op\":\"recommend\",\"user\":\"u\",\"k\":0}", "bad_value");
    expect_code("{\"op\":\"recommend\",\"user\":\"u\",\"k\":1001}", "bad_value");
    expect_code("{\"op\":\"recommend\",\"user\":\"u\",\"k\":99999999999999999999}", "bad_json");
    expect_code("{\"op\":\"recommend\",\"user\":\"u\",\"k\":\"5\"}", "bad_type");
    expect_code("{\"op\":\"recommend\",\"user\":\"u\",\"k\":5.0}", "bad_type");
    expect_code("{\"op\":\"shutdown\",\"token\":5}", "bad_type");
}

static void test_sizes(void **state)
{
    (void)state;
    /* a 10 kB user id */
    size_t n = 10000;
    char *t = malloc(n + 64);
    strcpy(t, "{\"op\":\"uplift\",\"user\":\"");
    size_t l = strlen(t);
    memset(t + l, 'x', n);
    strcpy(t + l + n, "\"}");
    expect_code(t, "bad_value");
    free(t);
    /* larger than max_message: refused without parsing */
    n = 70000;
    t = malloc(n);
    memset(t, '[', n);
    mkt_proto_message m;
    assert_string_equal(code_of(t, n, 0, &m), "too_large");
    mkt_proto_message_free(&m);
    /* deep nesting under the limit: an error, not a crash */
    assert_string_equal(code_of(t, 60000, 0, &m), "bad_json");
    mkt_proto_message_free(&m);
    free(t);
}

static void test_binary_garbage(void **state)
{
    (void)state;
    unsigned seed = 12345;
    char buf[512];
    for (int round = 0; round < 2000; round++) {
        size_t n = (size_t)(seed % sizeof buf);
        for (size_t i = 0; i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            buf[i] = (char)(seed >> 16);
        }
        if (round % 3 == 0 && n > 2) { /* mostly-valid JSON with binary inside a string */
            memcpy(buf, "{\"op\":\"", 7 < n ? 7 : n);
            buf[n - 1] = '}';
        }
        mkt_proto_message m;
        mkt_proto_parse(buf, n, &limits, &m);
        assert_true(m.n >= 1);
        for (int64_t i = 0; i < m.n; i++)
            if (m.requests[i].op == MKT_OP_NONE)
                assert_non_null(m.requests[i].code);
        mkt_proto_message_free(&m);
    }
}

static void test_helpers(void **state)
{
    (void)state;
    assert_true(mkt_proto_token_equal("secret", "secret"));
    assert_false(mkt_proto_token_equal("secret", "secreT"));
    assert_false(mkt_proto_token_equal("secret", "secret2"));
    assert_false(mkt_proto_token_equal("secret", ""));
    assert_int_equal(mkt_op_from_name("similar"), MKT_OP_SIMILAR);
    assert_int_equal(mkt_op_from_name(""), MKT_OP_NONE);
    assert_string_equal(mkt_op_name(MKT_OP_RECOMMEND), "recommend");
    json_t *r = mkt_proto_reply(NULL, MKT_OP_PING);
    assert_true(json_is_null(json_object_get(r, "id")));
    json_decref(r);
    mkt_proto_message m;
    mkt_proto_refuse(&m, "bad_frames", "two frames");
    assert_string_equal(m.requests[0].code, "bad_frames");
    mkt_proto_message_free(&m);
}

/* The ops added for propensity, strategy and reload: their fields, types and values. */
static void test_new_ops(void **state)
{
    (void)state;
    mkt_proto_message m;
    const char *t = "{\"op\":\"propensity\",\"user\":\"u7\"}";
    assert_string_equal(code_of(t, strlen(t), 0, &m), "");
    assert_int_equal(m.requests[0].op, MKT_OP_PROPENSITY);
    assert_string_equal(m.requests[0].user, "u7");
    mkt_proto_message_free(&m);
    t = "{\"op\":\"strategy\",\"user\":12}";
    assert_string_equal(code_of(t, strlen(t), 0, &m), "");
    assert_int_equal(m.requests[0].op, MKT_OP_STRATEGY);
    assert_string_equal(m.requests[0].user, "12");
    mkt_proto_message_free(&m);
    t = "{\"op\":\"reload\",\"token\":\"s\",\"models\":\"/data/m.h5\",\"strategy\":\"st.h5\"}";
    assert_string_equal(code_of(t, strlen(t), 0, &m), "");
    assert_int_equal(m.requests[0].op, MKT_OP_RELOAD);
    assert_string_equal(m.requests[0].models, "/data/m.h5");
    assert_string_equal(m.requests[0].strategy, "st.h5");
    assert_string_equal(m.requests[0].token, "s");
    mkt_proto_message_free(&m);
    t = "{\"op\":\"reload\"}";
    assert_string_equal(code_of(t, strlen(t), 0, &m), "");
    assert_null(m.requests[0].models);
    assert_null(m.requests[0].token);
    mkt_proto_message_free(&m);
    expect_code("{\"op\":\"propensity\"}", "missing_field");
    expect_code("{\"op\":\"strategy\",\"user\":[1]}", "bad_type");
    expect_code("{\"op\":\"propensity\",\"user\":\"u\",\"k\":3}", "unknown_field");
    expect_code("{\"op\":\"reload\",\"models\":1}", "bad_type");
    expect_code("{\"op\":\"reload\",\"models\":\"\"}", "bad_value");
    expect_code("{\"op\":\"reload\",\"strategy\":\"a\\nb\"}", "bad_value");
    expect_code("{\"op\":\"reload\",\"user\":\"u\"}", "unknown_field");
    char big[1200 + 64];
    snprintf(big, sizeof big, "{\"op\":\"reload\",\"models\":\"%01100d\"}", 0);
    expect_code(big, "bad_value");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_requests), cmocka_unit_test(test_batch),
        cmocka_unit_test(test_malformed),      cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_binary_garbage), cmocka_unit_test(test_helpers),
        cmocka_unit_test(test_new_ops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
