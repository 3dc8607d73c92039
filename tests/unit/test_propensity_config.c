/* test_propensity_config.c — the hyper-parameters of the propensity models
 * (src/propensity.c): the defaults pass the check, each bad field (and each
 * bad combination) is refused with a message that names its option, and the
 * readings of --l2 and --hidden. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "propensity.h"
#include "unit_config_check.h"

static mkt_propensity_config defaults(void)
{
    mkt_propensity_config c;
    mkt_propensity_config_defaults(&c);
    return c;
}

/* c is refused with a message that starts with `field` (the three dp values
 * share one message, which names them anywhere: expect_named_anywhere). */
static void expect_rejected(mkt_propensity_config c, const char *field)
{
    expect_named(mkt_propensity_check_config(&c), field);
}

static void test_defaults(void **state)
{
    (void)state;
    mkt_propensity_config c = defaults();
    assert_null(mkt_propensity_check_config(&c));
    assert_int_equal(c.horizon_days, 7);
    assert_string_equal(c.model, "logistic");
    assert_string_equal(c.optimizer, "lbfgs");
    assert_string_equal(c.target, "user");
    assert_int_equal(c.epochs, 50);
    assert_int_equal(c.batch, 256);
    assert_true(mkt_propensity_l2_auto(&c));
    assert_true(c.dp_delta == 1e-5);
    /* every value the options allow together */
    c.model = "mlp";
    c.hidden = "64,32,16";
    c.optimizer = "adam";
    c.dropout = 0.5;
    c.dp = 1;
    c.l2 = "0.001";
    c.windows = 3;
    c.window_stride_days = 7;
    assert_null(mkt_propensity_check_config(&c));
    assert_false(mkt_propensity_l2_auto(&c));
    assert_true(mkt_propensity_l2_value(&c) == 0.001);
    c = defaults();
    c.target = "user_item";
    c.l2 = "0";
    c.valid_fraction = 0;
    assert_null(mkt_propensity_check_config(&c));
}

static void test_bad_fields(void **state)
{
    (void)state;
    mkt_propensity_config c;
#define BAD(stmt, field)                                                                                               \
    do {                                                                                                               \
        c = defaults();                                                                                                \
        stmt;                                                                                                          \
        expect_rejected(c, field);                                                                                     \
    } while (0)
    BAD(c.l2 = "much", "l2");
    BAD(c.l2 = "-1", "l2");
    BAD(c.l2 = "1e7", "l2");
    BAD(c.valid_fraction = 0, "l2 auto"); /* auto chooses by validation */
    BAD(c.horizon_days = 0, "horizon-days");
    BAD(c.model = "forest", "model: 'forest'");
    BAD((c.model = "mlp", c.hidden = "0"), "hidden");
    BAD((c.model = "mlp", c.hidden = "8,8,8,8"), "hidden");
    BAD((c.model = "mlp", c.hidden = "8x"), "hidden");
    BAD(c.optimizer = "newton", "optimizer");
    BAD(c.epochs = 0, "epochs");
    BAD(c.batch = 0, "batch");
    BAD(c.lr = -1, "lr");
    BAD(c.lr = NAN, "lr");
    BAD(c.pos_weight = -1, "pos-weight");
    BAD(c.patience = -1, "patience");
    BAD(c.tol = 2, "tol");
    BAD(c.windows = 0, "windows");
    BAD(c.window_stride_days = -1, "window-stride-days");
    BAD((c.windows = 2, c.window_stride_days = 3), "window-stride-days 3 < horizon-days 7");
    BAD(c.dropout = 1, "dropout");
    BAD(c.dropout = 0.5, "dropout needs --model mlp"); /* logistic */
    BAD((c.model = "mlp", c.dropout = 0.5), "dropout needs --model mlp"); /* lbfgs */
    BAD(c.dp = 1, "dp needs --optimizer adam or sgd");
    BAD(c.test_fraction = 0, "test-fraction");
    BAD(c.test_fraction = 1, "test-fraction");
    BAD((c.l2 = "0.01", c.valid_fraction = -0.1), "valid-fraction");
    BAD((c.valid_fraction = 0.5, c.test_fraction = 0.5), "valid-fraction 0.5 + test-fraction 0.5");
    BAD(c.target = "basket", "target: 'basket'");
    BAD((c.target = "user_item", c.windows = 2), "windows > 1");
    BAD((c.target = "user_item", c.negatives = 0), "negatives");
#undef BAD
    /* one message for the three dp values names each of them */
    static const char *const dp_fields[] = {"dp-clip", "dp-noise", "dp-delta"};
    for (int k = 0; k < 3; k++) {
        c = defaults();
        c.dp = 1;
        c.optimizer = "sgd";
        assert_null(mkt_propensity_check_config(&c));
        if (k == 0)
            c.dp_clip = 0;
        else if (k == 1)
            c.dp_noise = -1;
        else
            c.dp_delta = 1;
        expect_named_anywhere(mkt_propensity_check_config(&c), dp_fields[k]);
    }
}

/* Model gbdt: the trees' defaults pass; each bad tree setting is refused
 * with the option's name (the trees' L2 is tree-lambda: l2 is the linear
 * models'); the tree settings are not checked for the other models; gbdt
 * refuses what only the linear models do (dp); it takes both targets. */
static void test_gbdt(void **state)
{
    (void)state;
    mkt_propensity_config c = defaults();
    c.model = "gbdt";
    assert_null(mkt_propensity_check_config(&c));
    assert_int_equal(c.gbdt.max_depth, 4); /* propensity's own default (docs/trees.md) */
    assert_string_equal(c.gbdt.loss, "logistic");
    c.valid_fraction = 0; /* l2 auto is not needed by the trees */
    assert_null(mkt_propensity_check_config(&c));
    c.windows = 2;
    c.gbdt.grow = "lossguide";
    c.gbdt.max_leaves = 16;
    assert_null(mkt_propensity_check_config(&c));
    c = defaults();
    c.model = "gbdt";
    c.target = "user_item";
    c.gbdt.max_leaves = 16;
    assert_null(mkt_propensity_check_config(&c));
#define GBAD(stmt, field)                                                                                              \
    do {                                                                                                               \
        c = defaults();                                                                                                \
        c.model = "gbdt";                                                                                              \
        stmt;                                                                                                          \
        expect_rejected(c, field);                                                                                     \
    } while (0)
    GBAD(c.gbdt.rounds = 0, "rounds:");
    GBAD(c.gbdt.max_depth = 0, "depth:");
    GBAD(c.gbdt.max_depth = 21, "depth:");
    GBAD(c.gbdt.max_leaves = 1, "leaves:");
    GBAD(c.gbdt.grow = "wide", "grow:");
    GBAD(c.gbdt.eta = 0, "eta:");
    GBAD(c.gbdt.eta = 1.5, "eta:");
    GBAD(c.gbdt.eta = NAN, "eta:");
    GBAD(c.gbdt.lambda = -1, "tree-lambda:");
    GBAD(c.gbdt.gamma = -1, "gamma:");
    GBAD(c.gbdt.min_child_weight = -0.5, "min-child-weight:");
    GBAD(c.gbdt.max_bins = 300, "bins:");
    GBAD(c.gbdt.max_bins = 1, "bins:");
    GBAD(c.gbdt.subsample = 0, "subsample:");
    GBAD(c.gbdt.colsample = 1.01, "colsample:");
    GBAD(c.gbdt.early_stop = -1, "early-stop:");
    GBAD(c.gbdt.sketch_rows = 10, "sketch-rows:");
    GBAD(c.gbdt.loss = "squared", "loss:");
    GBAD((c.dp = 1, c.optimizer = "adam"), "dp ");
    GBAD(c.model = "forest", "model:");
#undef GBAD
    /* the trees' settings do not concern the other models */
    c = defaults();
    c.gbdt.max_depth = 0;
    assert_null(mkt_propensity_check_config(&c));
}

static void test_hidden(void **state)
{
    (void)state;
    int sizes[3] = {0, 0, 0};
    assert_int_equal(mkt_propensity_parse_hidden("32", sizes), 1);
    assert_int_equal(sizes[0], 32);
    assert_int_equal(mkt_propensity_parse_hidden("64,32,16", sizes), 3);
    assert_int_equal(sizes[2], 16);
    assert_int_equal(mkt_propensity_parse_hidden("", sizes), 0);
    assert_int_equal(mkt_propensity_parse_hidden("4097", sizes), -1);
    assert_int_equal(mkt_propensity_parse_hidden("1,2,3,4", sizes), -1);
    assert_int_equal(mkt_propensity_parse_hidden("3;4", sizes), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_bad_fields),
        cmocka_unit_test(test_hidden),
        cmocka_unit_test(test_gbdt),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
