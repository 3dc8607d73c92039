/* test_uplift.c — the pure pieces of uplift modelling (src/uplift.c):
 * Newton/IRLS and ridge on tiny problems with known solutions, the Qini,
 * AUUC and uplift-at-k% metrics on a hand-computed example, the transformed
 * outcome, the X-learner and DR-learner pseudo-outcomes, the feature map,
 * the per-arm effects, the hold-out, validation and fold hashes, and the
 * check of the config. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <string.h>

#include <cmocka.h>

#include "uplift.h"
#include "unit_config_check.h"

static void assert_close(double got, double want, double tol)
{
    if (!(fabs(got - want) <= tol))
        fail_msg("got %.17g, want %.17g (tolerance %g)", got, want, tol);
}

/* Logistic regression with an intercept and one binary feature, no penalty:
 * the MLE reproduces the two group rates, 1/4 at x = 0 and 3/4 at x = 1, so
 * beta = (logit 1/4, logit 3/4 - logit 1/4) = (-ln 3, 2 ln 3). */
static void test_irls_known_solution(void **state)
{
    (void)state;
    double X[16], y[8] = {1, 0, 0, 0, 1, 1, 1, 0};
    for (int i = 0; i < 8; i++) {
        X[2 * i] = 1.0;
        X[2 * i + 1] = i < 4 ? 0.0 : 1.0;
    }
    double beta[2] = {0, 0};
    int it = uplift_fit_local(X, y, 8, 2, 0.0, 0, 50, 1e-12, beta);
    assert_true(it > 1 && it < 50);
    assert_close(beta[0], -log(3.0), 1e-10);
    assert_close(beta[1], 2 * log(3.0), 1e-10);
}

/* Ridge: y = 1 + 2x exactly; without penalty the fit is exact; with l2 on the
 * slope only, the slope is sxy / (sxx + l2) around the means. */
static void test_ridge_known_solution(void **state)
{
    (void)state;
    double xs[4] = {-1.5, -0.5, 0.5, 1.5}, X[8], y[4];
    for (int i = 0; i < 4; i++) {
        X[2 * i] = 1.0;
        X[2 * i + 1] = xs[i];
        y[i] = 1.0 + 2.0 * xs[i];
    }
    double beta[2] = {0, 0};
    assert_int_equal(uplift_fit_local(X, y, 4, 2, 0.0, 1, 10, 0, beta), 1);
    assert_close(beta[0], 1.0, 1e-12);
    assert_close(beta[1], 2.0, 1e-12);
    /* centred x: sxx = 5, sxy = 10; intercept unpenalized stays at the mean 1 */
    assert_int_equal(uplift_fit_local(X, y, 4, 2, 5.0, 1, 10, 0, beta), 1);
    assert_close(beta[0], 1.0, 1e-12);
    assert_close(beta[1], 10.0 / (5.0 + 5.0), 1e-12);
}

/* Four rows, sorted by score: (T, y=1), (C, 0), (T, 0), (C, 1).
 * Qini curve Q(k) = Yt - Yc Nt/Nc: 1, 1, 1, 0; random line k/n Q(n) = 0,
 * so qini = (1+1+1+0)/16.  Gain (rt - rc) k: 0 (no control yet), 2, 1.5, 0,
 * so auuc = 3.5/16.  Top 10% and 20% = 1 row (no control: 0), top 30% = 2
 * rows: 1 - 0 = 1. */
static void test_qini_hand_example(void **state)
{
    (void)state;
    uplift_eval_row rows[4] = {
        {1.0, 1.0, 40, 0}, /* given out of order: the function sorts */
        {3.0, 0.0, 20, 0},
        {2.0, 0.0, 30, 1},
        {4.0, 1.0, 10, 1},
    };
    uplift_qini_result q;
    uplift_qini(rows, 4, &q);
    assert_close(q.qini, 3.0 / 16.0, 1e-15);
    assert_close(q.auuc, 3.5 / 16.0, 1e-15);
    assert_close(q.uplift_at[0], 0.0, 0);
    assert_close(q.uplift_at[1], 0.0, 0);
    assert_close(q.uplift_at[2], 1.0, 0);
    assert_close(q.uplift_all, 0.0, 0);
    assert_int_equal(q.n_treated, 2);
    assert_int_equal(q.n_control, 2);
    assert_int_equal(rows[0].user, 10);
    /* ties are broken by user, so the order of input rows does not matter */
    uplift_eval_row tie[2] = {{1.0, 1.0, 7, 1}, {1.0, 0.0, 3, 0}};
    uplift_qini(tie, 2, &q);
    assert_int_equal(tie[0].user, 3);
}

/* Z = y (W/e - (1-W)/(1-e)); its mean over a randomized sample is the
 * difference of the group means. */
static void test_transformed_outcome(void **state)
{
    (void)state;
    assert_close(uplift_transformed_outcome(1.0, 1, 0.25), 4.0, 1e-15);
    assert_close(uplift_transformed_outcome(1.0, 0, 0.25), -4.0 / 3.0, 1e-15);
    assert_close(uplift_transformed_outcome(0.0, 1, 0.25), 0.0, 0);
    /* 1 treated of 4 (y = 1), 3 controls with y = 1, 0, 0: e = 1/4;
     * mean Z = (4 - 4/3) / 4 = 2/3 = 1 - 1/3 = rate(t) - rate(c) */
    double z = uplift_transformed_outcome(1, 1, 0.25) + uplift_transformed_outcome(1, 0, 0.25) +
               uplift_transformed_outcome(0, 0, 0.25) + uplift_transformed_outcome(0, 0, 0.25);
    assert_close(z / 4.0, 2.0 / 3.0, 1e-15);
}

static void test_features_and_effects(void **state)
{
    (void)state;
    uplift_attr_spec spec[2] = {{0, 0, 1, 2.0, 4.0}, {1, 3, 0, 0.0, 1.0}};
    uplift_features f = {2, spec};
    assert_int_equal(uplift_feature_dim(&f), 1 + 2 + 3);
    double attrs[2] = {6.0, 2.0}, x[6];
    uplift_feature_row(&f, attrs, x);
    double want[6] = {1, 1, 1, 0, 0, 1};
    for (int i = 0; i < 6; i++)
        assert_close(x[i], want[i], 0);
    double missing[2] = {NAN, 7.0};
    uplift_feature_row(&f, missing, x);
    for (int i = 1; i < 6; i++)
        assert_close(x[i], 0.0, 0);
    double mean, std;
    uplift_mean_std(4, 10, 30, &mean, &std);
    assert_close(mean, 2.5, 1e-15);
    assert_close(std, sqrt(1.25), 1e-15);
    uplift_mean_std(3, 3, 3, &mean, &std); /* constant: std 1 */
    assert_close(std, 1.0, 0);

    /* effects with d = 1 (x = 1), T = 2 */
    double one = 1.0, e;
    double coef_t[2] = {0.0, log(3.0)}; /* p0 = 1/2, p1 = 3/4 */
    uplift_effects(UPLIFT_T_LEARNER, 1, coef_t, 2, 1, &one, &e);
    assert_close(e, 0.25, 1e-15);
    double coef_s[2] = {0.0, log(3.0)}; /* base 0, arm interaction ln 3 */
    uplift_effects(UPLIFT_S_LEARNER, 1, coef_s, 2, 1, &one, &e);
    assert_close(e, 0.25, 1e-15);
    double coef_lin[2] = {5.0, 7.0};
    uplift_effects(UPLIFT_T_LEARNER, 0, coef_lin, 2, 1, &one, &e);
    assert_close(e, 2.0, 0);
    uplift_effects(UPLIFT_TRANSFORMED, 0, coef_lin, 2, 1, &one, &e);
    assert_close(e, 7.0, 0);
}

static void test_holdout_hash(void **state)
{
    (void)state;
    int64_t held = 0;
    for (int64_t u = 0; u < 100000; u++) {
        int h = uplift_is_holdout(5, u, 0.3);
        assert_int_equal(h, uplift_is_holdout(5, u, 0.3)); /* a pure function */
        held += h;
    }
    assert_true(held > 29000 && held < 31000);
    assert_int_equal(uplift_is_holdout(5, 17, 0.0), 0);
    assert_int_equal(uplift_is_holdout(5, 17, 1.0), 1);
    assert_int_equal(uplift_method_parse("transformed"), UPLIFT_TRANSFORMED);
    assert_int_equal(uplift_method_parse("q"), -1); /* unknown names */
    assert_int_equal(uplift_method_parse("X"), -1);
}

/* The X-learner's imputed effects and the DR-learner's AIPW pseudo-outcome:
 * with exact outcome models the pseudo-outcome's mean over a randomized
 * sample is the effect; with a wrong outcome model it still is (doubly
 * robust: the propensity is known). */
static void test_x_and_dr_pseudo_outcomes(void **state)
{
    (void)state;
    assert_int_equal(uplift_method_parse("x"), UPLIFT_X_LEARNER);
    assert_int_equal(uplift_method_parse("dr"), UPLIFT_DR_LEARNER);
    assert_string_equal(uplift_method_name(UPLIFT_DR_LEARNER), "dr");
    assert_true(uplift_effect_is_linear(UPLIFT_X_LEARNER) && uplift_effect_is_linear(UPLIFT_DR_LEARNER));
    assert_false(uplift_effect_is_linear(UPLIFT_T_LEARNER));
    assert_close(uplift_x_imputed(1.0, 1, 0.25), 0.75, 0);  /* treated: y - mu0 */
    assert_close(uplift_x_imputed(0.0, 0, 0.5), 0.5, 0);    /* control: mu1 - y */
    /* exact models mu1 = 0.5, mu0 = 0.25 */
    assert_close(uplift_dr_pseudo(0.5, 1, 0.5, 0.25, 0.25), 0.25, 1e-15);
    assert_close(uplift_dr_pseudo(0.25, 0, 0.5, 0.25, 0.25), 0.25, 1e-15);
    /* sample: e = 1/4; treated y = 1 (1 row); control y = 1, 0, 0: effect
     * rate(t) - rate(c) = 2/3.  With wrong models (0.9, 0.1) the mean
     * pseudo-outcome over the sample weighted as drawn is still 2/3:
     * per group the residual term corrects the model's error exactly. */
    double e = 0.25, m1 = 0.9, m0 = 0.1;
    double s = uplift_dr_pseudo(1, 1, m1, m0, e) + uplift_dr_pseudo(1, 0, m1, m0, e) +
               uplift_dr_pseudo(0, 0, m1, m0, e) + uplift_dr_pseudo(0, 0, m1, m0, e);
    assert_close(s / 4.0, 2.0 / 3.0, 1e-15);
    /* X and DR models store the effect as a linear row, like the transformed outcome */
    double one = 1.0, ef, coef[2] = {5.0, -0.125};
    uplift_effects(UPLIFT_X_LEARNER, 1, coef, 2, 1, &one, &ef);
    assert_close(ef, -0.125, 0);
    uplift_effects(UPLIFT_DR_LEARNER, 0, coef, 2, 1, &one, &ef);
    assert_close(ef, -0.125, 0);
}

/* The validation split and the folds are functions of (seed, user), of the
 * right sizes, and independent of the hold-out hash. */
static void test_validation_and_folds(void **state)
{
    (void)state;
    int64_t valid = 0, both = 0, held = 0, fold[3] = {0, 0, 0};
    for (int64_t u = 0; u < 100000; u++) {
        int h = uplift_is_holdout(5, u, 0.3), v = uplift_is_validation(5, u, 0.2);
        int f = uplift_fold(5, u, 3);
        assert_true(f >= 0 && f < 3);
        assert_int_equal(f, uplift_fold(5, u, 3));
        fold[f]++;
        held += h;
        valid += v;
        both += h && v;
    }
    assert_true(valid > 19000 && valid < 21000);
    /* independent: about 0.3 * 0.2 of the users are in both */
    assert_true(both > 5400 && both < 6600);
    (void)held;
    for (int f = 0; f < 3; f++)
        assert_true(fold[f] > 32000 && fold[f] < 34700);
    assert_int_equal(uplift_fold(5, 17, 1), 0);
    assert_int_equal(uplift_is_validation(5, 17, 0.0), 0);
}

/* The stored feature map decodes to exactly the map that was encoded. */
static void test_spec_roundtrip(void **state)
{
    (void)state;
    uplift_attr_spec in[2] = {{1, 7, 0, 0.0, 1.0}, {0, 0, 1, -2.5, 0.125}}, out[2];
    memset(out, 0xff, sizeof out);
    uplift_features a = {2, in}, b = {2, out};
    double spec[2 * UPLIFT_SPEC_COLS];
    uplift_spec_encode(&a, spec);
    assert_true(spec[UPLIFT_SPEC_COLS + 3] == -2.5);
    uplift_spec_decode(spec, &b);
    for (int k = 0; k < 2; k++) {
        assert_int_equal(out[k].categorical, in[k].categorical);
        assert_int_equal(out[k].n_levels, in[k].n_levels);
        assert_int_equal(out[k].square, in[k].square);
        assert_true(out[k].mean == in[k].mean && out[k].std == in[k].std);
    }
    assert_int_equal(uplift_feature_dim(&a), uplift_feature_dim(&b));
}

/* The defaults pass the check; each bad field is refused by its name; the
 * parsed forms of the text fields. */
static void test_config_check(void **state)
{
    (void)state;
    mkt_uplift_config c;
    mkt_uplift_config_defaults(&c);
    assert_null(mkt_uplift_check_config(&c));
    assert_int_equal(mkt_uplift_config_method(&c), UPLIFT_T_LEARNER);
    assert_int_equal(mkt_uplift_config_observational(&c), 0);
    assert_true(mkt_uplift_config_l2_effect(&c) == c.l2);
    assert_true(c.holdout == 0.3 && c.valid_fraction == 0.2 && c.seed == 1 && c.l2 == 1 && c.folds == 2);
    assert_true(c.trim == 0.05 && c.squares == 1 && c.max_iter == 25 && c.tol == 1e-9);

    mkt_uplift_config ok = c;
    ok.method = "dr";
    ok.design = "observational";
    ok.l2_effect = "2.5";
    ok.outcome = "redeemed";
    assert_null(mkt_uplift_check_config(&ok));
    assert_int_equal(mkt_uplift_config_method(&ok), UPLIFT_DR_LEARNER);
    assert_int_equal(mkt_uplift_config_observational(&ok), 1);
    assert_true(mkt_uplift_config_l2_effect(&ok) == 2.5);
    ok.l2_effect = NULL; /* as "same" */
    assert_null(mkt_uplift_check_config(&ok));
    assert_true(mkt_uplift_config_l2_effect(&ok) == ok.l2);

    mkt_uplift_config bad = c;
    bad.method = "q";
    expect_named(mkt_uplift_check_config(&bad), "method");
    assert_string_equal(mkt_uplift_check_config(&bad), "method: must be t, s, transformed, x or dr, not 'q'");
    bad.method = NULL;
    expect_named(mkt_uplift_check_config(&bad), "method");
    bad = c;
    bad.outcome = "spend";
    expect_named(mkt_uplift_check_config(&bad), "outcome");
    bad = c;
    bad.l2_effect = "-1";
    expect_named(mkt_uplift_check_config(&bad), "l2-effect");
    bad.l2_effect = "1x";
    expect_named(mkt_uplift_check_config(&bad), "l2-effect");
    bad = c;
    bad.design = "guessed";
    expect_named(mkt_uplift_check_config(&bad), "design");
    bad = c;
    bad.holdout = 0.96;
    expect_named(mkt_uplift_check_config(&bad), "holdout");
    bad.holdout = NAN;
    expect_named(mkt_uplift_check_config(&bad), "holdout");
    bad = c;
    bad.valid_fraction = 0.95;
    expect_named(mkt_uplift_check_config(&bad), "valid_fraction");
    bad = c;
    bad.folds = 1;
    expect_named(mkt_uplift_check_config(&bad), "folds");
    bad.folds = MKT_UPLIFT_MAX_FOLDS + 1;
    expect_named(mkt_uplift_check_config(&bad), "folds");
    bad = c;
    bad.l2 = -1;
    expect_named(mkt_uplift_check_config(&bad), "l2 ");
    bad = c;
    bad.squares = 2;
    expect_named(mkt_uplift_check_config(&bad), "squares");
    bad = c;
    bad.max_iter = 0;
    expect_named(mkt_uplift_check_config(&bad), "max_iter");
    bad = c;
    bad.tol = -1;
    expect_named(mkt_uplift_check_config(&bad), "tol");
    bad = c;
    bad.trim = 0.5;
    expect_named(mkt_uplift_check_config(&bad), "trim");
    /* the observational design cannot use the transformed outcome: named by --design */
    bad = c;
    bad.design = "observational";
    bad.method = "transformed";
    expect_named(mkt_uplift_check_config(&bad), "--design");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_irls_known_solution), cmocka_unit_test(test_ridge_known_solution),
        cmocka_unit_test(test_qini_hand_example),   cmocka_unit_test(test_transformed_outcome),
        cmocka_unit_test(test_features_and_effects), cmocka_unit_test(test_holdout_hash), cmocka_unit_test(test_spec_roundtrip),
        cmocka_unit_test(test_x_and_dr_pseudo_outcomes), cmocka_unit_test(test_validation_and_folds),
        cmocka_unit_test(test_config_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
