/* test_metrics.c — src/metrics.c against values computed by hand: AUC with
 * and without ties, log loss, the confusion matrix and its ratios, ECE and
 * the reliability table, lift and cumulative gains by decile, and the uplift
 * measures (Qini curve and coefficient, AUUC, uplift at top k%). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>

#include "metrics.h"

#define EPS 1e-12

static void test_auc(void **state)
{
    (void)state;
    const double s[] = {0.9, 0.8, 0.7, 0.6, 0.5};
    const int y[] = {1, 0, 1, 0, 0};
    /* positive 0.9 beats 3 negatives, 0.7 beats 2: 5 of 6 pairs */
    assert_true(fabs(mkt_auc(s, y, 5) - 5.0 / 6.0) < EPS);
    /* ties count half: 0.5(+) vs 0.5(-) is half a pair */
    const double t[] = {0.5, 0.5, 0.2, 0.8};
    const int ty[] = {1, 0, 0, 1};
    assert_true(fabs(mkt_auc(t, ty, 4) - 0.875) < EPS);
    /* all equal scores: 0.5 */
    const double e[] = {1, 1, 1, 1};
    assert_true(fabs(mkt_auc(e, ty, 4) - 0.5) < EPS);
    /* one class only: undefined */
    const int one[] = {1, 1, 1, 1};
    assert_true(isnan(mkt_auc(s, one, 4)));
    /* reversed scores: 1 - AUC */
    const double r[] = {0.5, 0.6, 0.7, 0.8, 0.9};
    assert_true(fabs(mkt_auc(r, y, 5) - 1.0 / 6.0) < EPS);
}

static void test_log_loss(void **state)
{
    (void)state;
    const double p[] = {0.8, 0.3};
    const int y[] = {1, 0};
    assert_true(fabs(mkt_log_loss(p, y, 2) - (-log(0.8) - log(0.7)) / 2) < EPS);
    const double extreme[] = {0.0, 1.0};
    const int wrong[] = {1, 0};
    double l = mkt_log_loss(extreme, wrong, 2);
    assert_true(isfinite(l) && l > 33 && l < 36); /* both clamped near -log(1e-15) = 34.5 */
    assert_true(mkt_log_loss(p, y, 0) == 0);
}

static void test_confusion(void **state)
{
    (void)state;
    const double p[] = {0.9, 0.6, 0.4, 0.2, 0.7};
    const int y[] = {1, 0, 1, 0, 1};
    mkt_confusion c = mkt_confusion_at(p, y, 5, 0.5);
    assert_int_equal(c.tp, 2);
    assert_int_equal(c.fp, 1);
    assert_int_equal(c.tn, 1);
    assert_int_equal(c.fn, 1);
    assert_true(fabs(mkt_accuracy(c) - 0.6) < EPS);
    assert_true(fabs(mkt_precision(c) - 2.0 / 3.0) < EPS);
    assert_true(fabs(mkt_recall(c) - 2.0 / 3.0) < EPS);
    assert_true(fabs(mkt_f1(c) - 2.0 / 3.0) < EPS);
    /* threshold above everything: no predicted positive, precision 0 */
    c = mkt_confusion_at(p, y, 5, 0.95);
    assert_int_equal(c.tp + c.fp, 0);
    assert_true(mkt_precision(c) == 0 && mkt_f1(c) == 0);
}

static void test_ece(void **state)
{
    (void)state;
    const double p[] = {0.05, 0.15, 0.15, 0.95};
    const int y[] = {0, 1, 0, 1};
    mkt_reliability t;
    double ece = mkt_ece(p, y, 4, &t);
    /* 1/4·0.05 + 2/4·|0.5 − 0.15| + 1/4·|1 − 0.95| */
    assert_true(fabs(ece - 0.2) < EPS);
    assert_int_equal(t.count[0], 1);
    assert_int_equal(t.count[1], 2);
    assert_int_equal(t.count[9], 1);
    assert_true(fabs(t.mean_pred[1] - 0.15) < EPS);
    assert_true(fabs(t.frac_positive[1] - 0.5) < EPS);
    const double one[] = {1.0};
    const int pos[] = {1};
    assert_true(fabs(mkt_ece(one, pos, 1, &t)) < EPS && t.count[9] == 1);
}

static void test_lift(void **state)
{
    (void)state;
    double s[20];
    int y[20] = {0};
    for (int i = 0; i < 20; i++)
        s[i] = 20 - i;
    y[0] = y[1] = y[2] = y[10] = 1; /* 4 positives, overall rate 0.2 */
    mkt_lift_table t;
    mkt_lift_by_decile(s, y, 20, &t);
    for (int d = 0; d < 10; d++)
        assert_int_equal(t.count[d], 2);
    assert_int_equal(t.positives[0], 2);
    assert_int_equal(t.positives[1], 1);
    assert_int_equal(t.positives[5], 1);
    assert_true(fabs(t.lift[0] - 5.0) < EPS);
    assert_true(fabs(t.lift[1] - 2.5) < EPS);
    assert_true(fabs(t.lift[2]) < EPS);
    assert_true(fabs(t.cumulative_gain[0] - 0.5) < EPS);
    assert_true(fabs(t.cumulative_gain[4] - 0.75) < EPS);
    assert_true(fabs(t.cumulative_gain[9] - 1.0) < EPS);
}

static void test_uplift(void **state)
{
    (void)state;
    const double s[] = {4, 3, 2, 1};
    const int tr[] = {1, 0, 1, 0};
    const double y[] = {1, 0, 0, 1};
    double x[5], q[5];
    mkt_qini_curve(s, tr, y, 4, 5, x, q);
    const double expect[] = {0, 1, 1, 1, 0};
    for (int j = 0; j < 5; j++) {
        assert_true(fabs(x[j] - j / 4.0) < EPS);
        assert_true(fabs(q[j] - expect[j]) < EPS);
    }
    /* area 3/4 under the curve, random line ends at 0: 0.75 / n */
    assert_true(fabs(mkt_qini_coefficient(s, tr, y, 4) - 0.1875) < EPS);
    /* k=2: 1·2/4, k=3: 0.5·3/4, k=4: 0; mean over n=4 */
    assert_true(fabs(mkt_auuc(s, tr, y, 4) - 0.21875) < EPS);
    assert_true(fabs(mkt_uplift_at(s, tr, y, 4, 0.5) - 1.0) < EPS);
    assert_true(fabs(mkt_uplift_at(s, tr, y, 4, 1.0)) < EPS);
    assert_true(isnan(mkt_uplift_at(s, tr, y, 4, 0.25)));
    /* order by score descending, ties by index */
    const double ts[] = {1, 3, 3, 2};
    int64_t *o = mkt_order_desc(ts, 4);
    assert_non_null(o);
    assert_true(o[0] == 1 && o[1] == 2 && o[2] == 3 && o[3] == 0);
    free(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_auc),  cmocka_unit_test(test_log_loss), cmocka_unit_test(test_confusion),
        cmocka_unit_test(test_ece),  cmocka_unit_test(test_lift),     cmocka_unit_test(test_uplift),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
