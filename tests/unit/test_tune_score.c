/* test_tune_score.c — the score `mkt tune` reads from a train run's metrics
 * (io/tune_score.c): a trainer's "selection" object and its errors, the
 * held-out fallbacks of mf (explicit, implicit), propensity and uplift (mean
 * Qini over arms, in arm-name order), and the ranking rule. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "tune_score.h"

static int score(const char *json, const char *model, mkt_tune_score *s, char *err, size_t n)
{
    json_error_t je;
    json_t *m = json_loads(json, 0, &je);
    if (!m)
        fail_msg("bad test JSON: %s", je.text);
    int rc = mkt_tune_score_of(m, model, s, err, n);
    json_decref(m);
    return rc;
}

static void test_selection(void **state)
{
    (void)state;
    mkt_tune_score s;
    char err[256];
    /* the trainer's selection wins over anything the fallback would read */
    assert_int_equal(score("{\"rmse\": 0.1, \"selection\": {\"metric\": \"val_rmse\", \"value\": 0.9, "
                           "\"goal\": \"min\", \"split\": \"validation\"}}",
                           "mf", &s, err, sizeof err),
                     0);
    assert_string_equal(s.metric, "val_rmse");
    assert_string_equal(s.goal, "min");
    assert_string_equal(s.split, "validation");
    assert_true(s.value == 0.9);
    assert_int_equal(s.fallback, 0);
    /* null value: no score; split defaults to validation */
    assert_int_equal(score("{\"selection\": {\"metric\": \"auc\", \"value\": null, \"goal\": \"max\"}}",
                           "propensity", &s, err, sizeof err),
                     0);
    assert_true(isnan(s.value));
    assert_string_equal(s.split, "validation");
    const char *bad[] = {"{\"selection\": {\"metric\": \"auc\", \"value\": 1, \"goal\": \"up\"}}",
                         "{\"selection\": {\"metric\": \"auc\", \"goal\": \"max\"}}",
                         "{\"selection\": {\"value\": 1, \"goal\": \"max\"}}",
                         "{\"selection\": {\"metric\": \"auc\", \"value\": \"1\", \"goal\": \"max\"}}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = 0;
        assert_int_equal(score(bad[i], "mf", &s, err, sizeof err), -1);
        assert_non_null(strstr(err, "selection"));
    }
}

static void test_fallback(void **state)
{
    (void)state;
    mkt_tune_score s;
    char err[256];
    assert_int_equal(score("{\"mode\": \"explicit\", \"rmse\": 0.75}", "mf", &s, err, sizeof err), 0);
    assert_string_equal(s.metric, "rmse");
    assert_string_equal(s.goal, "min");
    assert_string_equal(s.split, "heldout");
    assert_int_equal(s.fallback, 1);
    assert_true(s.value == 0.75);
    assert_int_equal(score("{\"mode\": \"implicit\", \"k\": 5, \"model\": {\"ndcg@5\": 0.3, \"ndcg@10\": 0.9}}", "mf",
                           &s, err, sizeof err),
                     0);
    assert_string_equal(s.metric, "model.ndcg@5");
    assert_string_equal(s.goal, "max");
    assert_true(s.value == 0.3);
    assert_int_equal(score("{\"mode\": \"implicit\", \"k\": 5, \"model\": {}}", "mf", &s, err, sizeof err), -1);
    assert_non_null(strstr(err, "ndcg@5"));
    assert_int_equal(score("{\"validation\": {\"auc\": 0.61}}", "propensity", &s, err, sizeof err), 0);
    assert_string_equal(s.metric, "validation.auc");
    assert_true(s.value == 0.61);
    assert_int_equal(score("{\"auc\": 0.61}", "propensity", &s, err, sizeof err), -1);
    /* uplift: the mean of the outcome's Qini over arms (spend's is ignored) */
    const char *u = "{\"outcome\": \"visit\", \"arms\": {"
                    "\"b\": {\"visit\": {\"qini\": 0.3}, \"spend\": {\"qini\": 100}},"
                    "\"a\": {\"visit\": {\"qini\": 0.1}, \"spend\": {\"qini\": 200}},"
                    "\"c\": {\"visit\": {\"qini\": 0.2}}}}";
    assert_int_equal(score(u, "uplift", &s, err, sizeof err), 0);
    assert_string_equal(s.metric, "qini_visit_mean_over_arms");
    assert_string_equal(s.goal, "max");
    assert_true(s.value == (0.1 + 0.3 + 0.2) / 3); /* a, b, c: name order */
    assert_int_equal(score("{\"outcome\": \"visit\", \"arms\": {\"a\": {\"conversion\": {\"qini\": 1}}}}", "uplift", &s,
                           err, sizeof err),
                     -1);
    assert_non_null(strstr(err, "visit.qini"));
    assert_int_equal(score("{\"rmse\": 1}", "segments", &s, err, sizeof err), -1);
}

static void test_better(void **state)
{
    (void)state;
    mkt_tune_score a = {.goal = "min", .value = 1}, b = {.goal = "min", .value = 2}, n = {.goal = "min", .value = NAN};
    assert_true(mkt_tune_better(&a, &b));
    assert_false(mkt_tune_better(&b, &a));
    assert_false(mkt_tune_better(&a, &a)); /* ties: the earlier configuration stays */
    assert_true(mkt_tune_better(&a, &n));
    assert_false(mkt_tune_better(&n, &a));
    strcpy(a.goal, "max");
    strcpy(b.goal, "max");
    assert_true(mkt_tune_better(&b, &a));
    assert_false(mkt_tune_better(&a, &b));
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_selection), cmocka_unit_test(test_fallback),
                                       cmocka_unit_test(test_better)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
