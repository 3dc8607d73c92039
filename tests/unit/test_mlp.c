/* test_mlp.c — finite-difference gradient checks of the MLP (src/mlp.c) and
 * of logistic regression (src/linmodel.c), the stable cross-entropy, the
 * parameter count, and that an MLP without hidden layers is logistic
 * regression. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>

#include "linmodel.h"
#include "mlp.h"
#include "rng.h"

/* Central differences of the loss against the analytic gradient: max relative error. */
static double check_mlp(const mkt_mlp *m, uint64_t seed)
{
    int64_t np = mkt_mlp_nparams(m);
    double *p = malloc(sizeof(double) * (size_t)np), *g = malloc(sizeof(double) * (size_t)np);
    double *work = malloc(sizeof(double) * mkt_mlp_work_size(m));
    double *x = malloc(sizeof(double) * (size_t)m->inputs);
    mkt_mlp_init_params(m, seed, p);
    mkt_rng r;
    mkt_rng_init(&r, seed, 99, 0);
    for (int64_t k = 0; k < np; k++) /* non-zero biases too */
        p[k] += 0.1 * mkt_rng_normal(&r);
    double worst = 0;
    for (int y = 0; y <= 1; y++) {
        for (int j = 0; j < m->inputs; j++)
            x[j] = mkt_rng_normal(&r);
        mkt_mlp_loss_grad(m, p, x, y, g, work);
        for (int64_t k = 0; k < np; k++) {
            const double h = 1e-6;
            double keep = p[k];
            p[k] = keep + h;
            double lp = mkt_mlp_loss_grad(m, p, x, y, NULL, work);
            p[k] = keep - h;
            double lm = mkt_mlp_loss_grad(m, p, x, y, NULL, work);
            p[k] = keep;
            double fd = (lp - lm) / (2 * h);
            double err = fabs(fd - g[k]) / fmax(1e-4, fabs(fd) + fabs(g[k]));
            if (err > worst)
                worst = err;
        }
    }
    free(p);
    free(g);
    free(work);
    free(x);
    return worst;
}

static void test_mlp_gradient(void **state)
{
    (void)state;
    mkt_mlp one = {.inputs = 6, .hidden = 1, .sizes = {5}};
    mkt_mlp three = {.inputs = 7, .hidden = 3, .sizes = {6, 4, 3}};
    mkt_mlp none = {.inputs = 5, .hidden = 0};
    assert_int_equal(mkt_mlp_nparams(&one), 6 * 5 + 5 + 5 + 1);
    assert_int_equal(mkt_mlp_nparams(&three), 7 * 6 + 6 + 6 * 4 + 4 + 4 * 3 + 3 + 3 + 1);
    for (uint64_t s = 1; s <= 3; s++) {
        assert_true(check_mlp(&one, s) < 1e-5);
        assert_true(check_mlp(&three, s) < 1e-5);
        assert_true(check_mlp(&none, s) < 1e-5);
    }
}

static void test_logreg_gradient(void **state)
{
    (void)state;
    const int d = 4;
    double p[5] = {0.3, -0.2, 0.5, 0.1, -0.4}, g[5], x[4] = {1.0, -2.0, 0.5, 3.0};
    for (int y = 0; y <= 1; y++) {
        mkt_logreg_loss_grad(p, d, x, y, g);
        for (int k = 0; k <= d; k++) {
            const double h = 1e-6;
            double keep = p[k];
            p[k] = keep + h;
            double lp = mkt_logreg_loss_grad(p, d, x, y, NULL);
            p[k] = keep - h;
            double lm = mkt_logreg_loss_grad(p, d, x, y, NULL);
            p[k] = keep;
            assert_true(fabs((lp - lm) / (2 * h) - g[k]) < 1e-7);
        }
    }
    /* an MLP without hidden layers is the same model, same parameter layout */
    mkt_mlp m = {.inputs = d, .hidden = 0};
    double work[16];
    double z = mkt_logreg_logit(p, d, x);
    assert_true(fabs(mkt_mlp_logit(&m, p, x, work) - z) < 1e-12);
}

static void test_bce(void **state)
{
    (void)state;
    assert_true(fabs(mkt_bce_logit(0, 1) - log(2)) < 1e-15);
    assert_true(fabs(mkt_bce_logit(2, 0) - -log(1 - mkt_sigmoid(2))) < 1e-12);
    /* stable far out: no overflow, no NaN */
    assert_true(fabs(mkt_bce_logit(1000, 0) - 1000) < 1e-9);
    assert_true(mkt_bce_logit(-1000, 0) >= 0 && mkt_bce_logit(-1000, 0) < 1e-300);
    assert_true(fabs(mkt_bce_logit(-1000, 1) - 1000) < 1e-9);
    assert_true(mkt_sigmoid(-1000) == 0 && mkt_sigmoid(1000) == 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mlp_gradient),
        cmocka_unit_test(test_logreg_gradient),
        cmocka_unit_test(test_bce),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
