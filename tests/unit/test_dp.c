/* test_dp.c — the RDP accountant (src/dp.c) against values computed
 * independently with numpy (exact binomials via math.comb, log-sum-exp by
 * numpy.logaddexp over the same sum, orders 2..256), the q = 1 Gaussian
 * closed form, and monotonicity in σ and in the number of steps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>

#include "dp.h"

static void near(double got, double want, double rel)
{
    if (!(fabs(got - want) <= rel * fabs(want)))
        fail_msg("got %.17g, want %.17g", got, want);
}

static void test_step(void **state)
{
    (void)state;
    near(mkt_rdp_sgm_step(0.01, 1.1, 8), 0.0005840703355202566, 1e-10);
    near(mkt_rdp_sgm_step(0.05, 2.0, 16), 0.007347314103178218, 1e-10);
    near(mkt_rdp_sgm_step(0.2, 0.8, 3), 0.3993481720752371, 1e-10);
    near(mkt_rdp_sgm_step(0.001, 4.0, 32), 1.0339541043145645e-06, 1e-8);
    /* q = 1: the Gaussian mechanism, α / (2σ²) */
    near(mkt_rdp_sgm_step(1.0, 2.0, 7), 7.0 / 8.0, 1e-14);
    assert_true(mkt_rdp_sgm_step(0.0, 1.0, 4) == 0);
    assert_true(isinf(mkt_rdp_sgm_step(0.1, 0.0, 4)));
}

static void test_epsilon(void **state)
{
    (void)state;
    int order;
    near(mkt_rdp_epsilon(0.01, 1.1, 1000, 1e-5, &order), 2.0867961135743105, 1e-9);
    assert_int_equal(order, 10);
    /* the classic DP-SGD setting: batch 256 of 60,000, σ 1.1, 60 epochs */
    near(mkt_rdp_epsilon(256.0 / 60000, 1.1, 60 * 235, 1e-5, &order), 3.0133421218083525, 1e-9);
    assert_int_equal(order, 9);
    near(mkt_rdp_epsilon(0.1, 2.0, 50, 1e-6, &order), 2.4549454385216753, 1e-9);
    assert_int_equal(order, 11);
    /* full batch: min over α of 10·α/50 + log(1e5)/(α−1), at α = 9 */
    near(mkt_rdp_epsilon(1.0, 5.0, 10, 1e-5, &order), 1.8 + log(1e5) / 8, 1e-12);
    assert_int_equal(order, 9);
    /* more noise: less ε; more steps: more ε; no noise: no privacy */
    double prev = INFINITY;
    for (double s = 0.6; s < 5; s += 0.4) {
        double e = mkt_rdp_epsilon(0.05, s, 200, 1e-5, NULL);
        assert_true(e < prev);
        prev = e;
    }
    assert_true(mkt_rdp_epsilon(0.05, 1.0, 100, 1e-5, NULL) < mkt_rdp_epsilon(0.05, 1.0, 200, 1e-5, NULL));
    assert_true(isinf(mkt_rdp_epsilon(0.05, 0.0, 100, 1e-5, NULL)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_step),
        cmocka_unit_test(test_epsilon),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
