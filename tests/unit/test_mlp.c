/* test_mlp.c — finite-difference gradient checks of the MLP (src/mlp.c) and
 * of logistic regression (src/linmodel.c), the stable cross-entropy, the
 * parameter count, that an MLP without hidden layers is logistic
 * regression, and that the block functions (GEMMs over many rows) give the
 * weighted sum of the per-example gradients, clipped per row, with bits that
 * do not depend on where the block sits in memory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "linmodel.h"
#include "mlp.h"
#include "rng.h"

/* Central differences of the loss against the analytic gradient: max
 * relative error.  dropout > 0: with one fixed dropout mask. */
static double check_mlp_masked(const mkt_mlp *m, uint64_t seed, double dropout)
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
    double *mask = NULL;
    if (dropout > 0) {
        mask = malloc(sizeof(double) * (mkt_mlp_mask_size(m) + 1));
        mkt_mlp_dropout_mask(m, dropout, seed, 3, 17, mask);
    }
    double worst = 0;
    for (int y = 0; y <= 1; y++) {
        for (int j = 0; j < m->inputs; j++)
            x[j] = mkt_rng_normal(&r);
        mkt_mlp_loss_grad_masked(m, p, x, y, mask, g, work);
        for (int64_t k = 0; k < np; k++) {
            const double h = 1e-6;
            double keep = p[k];
            p[k] = keep + h;
            double lp = mkt_mlp_loss_grad_masked(m, p, x, y, mask, NULL, work);
            p[k] = keep - h;
            double lm = mkt_mlp_loss_grad_masked(m, p, x, y, mask, NULL, work);
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
    free(mask);
    return worst;
}

static double check_mlp(const mkt_mlp *m, uint64_t seed) { return check_mlp_masked(m, seed, 0); }

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

/* Dropout: gradient check with the mask fixed; masks are 0 or 1/(1-p) with
 * about p zeros, a function of (seed, epoch, example, layer) only; p = 0 and
 * a NULL mask give the unmasked bits. */
static void test_dropout(void **state)
{
    (void)state;
    mkt_mlp three = {.inputs = 7, .hidden = 3, .sizes = {6, 4, 3}};
    mkt_mlp wide = {.inputs = 5, .hidden = 2, .sizes = {40, 30}};
    for (uint64_t s = 1; s <= 3; s++) {
        assert_true(check_mlp_masked(&three, s, 0.5) < 1e-5);
        assert_true(check_mlp_masked(&wide, s, 0.3) < 1e-5);
    }
    size_t n = mkt_mlp_mask_size(&wide);
    assert_int_equal(n, 70);
    double *a = malloc(sizeof(double) * n), *b = malloc(sizeof(double) * n);
    int64_t zeros = 0, total = 0;
    for (int64_t ex = 0; ex < 2000; ex++) {
        mkt_mlp_dropout_mask(&wide, 0.3, 9, 2, ex, a);
        for (size_t j = 0; j < n; j++) {
            assert_true(a[j] == 0.0 || a[j] == 1.0 / 0.7);
            zeros += a[j] == 0.0;
            total++;
        }
    }
    double frac = (double)zeros / (double)total; /* sd of the fraction ~ 0.0012 */
    assert_true(fabs(frac - 0.3) < 0.01);
    mkt_mlp_dropout_mask(&wide, 0.3, 9, 2, 5, a);
    mkt_mlp_dropout_mask(&wide, 0.3, 9, 2, 5, b);
    assert_memory_equal(a, b, sizeof(double) * n);
    int differ_epoch = 0, differ_example = 0;
    mkt_mlp_dropout_mask(&wide, 0.3, 9, 3, 5, b);
    for (size_t j = 0; j < n; j++)
        differ_epoch += a[j] != b[j];
    mkt_mlp_dropout_mask(&wide, 0.3, 9, 2, 6, b);
    for (size_t j = 0; j < n; j++)
        differ_example += a[j] != b[j];
    assert_true(differ_epoch > 5 && differ_example > 5);
    /* p = 0: all ones, and the same loss and gradient bits as without a mask */
    mkt_mlp_dropout_mask(&wide, 0.0, 9, 2, 5, a);
    for (size_t j = 0; j < n; j++)
        assert_true(a[j] == 1.0);
    int64_t np = mkt_mlp_nparams(&wide);
    double *p = malloc(sizeof(double) * (size_t)np), *g1 = malloc(sizeof(double) * (size_t)np);
    double *g2 = malloc(sizeof(double) * (size_t)np), *work = malloc(sizeof(double) * mkt_mlp_work_size(&wide));
    double x[5] = {0.5, -1, 2, 0.1, -0.3};
    mkt_mlp_init_params(&wide, 4, p);
    double l1 = mkt_mlp_loss_grad(&wide, p, x, 1, g1, work);
    double l2 = mkt_mlp_loss_grad_masked(&wide, p, x, 1, a, g2, work);
    assert_true(l1 == l2);
    assert_memory_equal(g1, g2, sizeof(double) * (size_t)np);
    free(a);
    free(b);
    free(p);
    free(g1);
    free(g2);
    free(work);
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

/* Block of `rows` random examples: loss and gradient against the sum of
 * per-example results (weights 3 for label 1), optionally with dropout
 * masks and per-row clipping; returns max relative error.  Also checks the
 * block gives the same bits from a copy at another address. */
static double check_block(const mkt_mlp *m, int rows, double dropout, double clip)
{
    int64_t np = m->hidden ? mkt_mlp_nparams(m) : mkt_logreg_nparams(m->inputs);
    int d = m->inputs;
    size_t ms = mkt_mlp_mask_size(m) + 1;
    double *p = malloc(sizeof(double) * (size_t)np), *g = malloc(sizeof(double) * (size_t)np);
    double *g2 = malloc(sizeof(double) * (size_t)np), *sum = calloc((size_t)np, sizeof(double));
    double *gi = malloc(sizeof(double) * (size_t)np);
    double *x = malloc(sizeof(double) * (size_t)rows * d), *x2 = malloc(sizeof(double) * ((size_t)rows * d + 1));
    double *masks = dropout > 0 ? malloc(sizeof(double) * ms * (size_t)rows) : NULL;
    double *work = malloc(sizeof(double) * (mkt_mlp_block_work_size(m, rows) + mkt_mlp_work_size(m)));
    int *y = malloc(sizeof(int) * (size_t)rows);
    mkt_rng r;
    mkt_rng_init(&r, 5, 77, (uint64_t)rows);
    if (m->hidden)
        mkt_mlp_init_params(m, 5, p);
    for (int64_t k = 0; k < np; k++)
        p[k] = (m->hidden ? p[k] : 0) + 0.2 * mkt_rng_normal(&r);
    for (int i = 0; i < rows; i++) {
        y[i] = mkt_rng_uniform(&r) < 0.3;
        for (int j = 0; j < d; j++)
            x[(size_t)i * d + j] = mkt_rng_normal(&r);
        if (masks)
            mkt_mlp_dropout_mask(m, dropout, 5, 1, i, masks + (size_t)i * (ms - 1));
    }
    double loss = 0;
    for (int i = 0; i < rows; i++) {
        const double *xi = x + (size_t)i * d;
        double w = y[i] ? 3.0 : 1.0;
        loss += w * (m->hidden ? mkt_mlp_loss_grad_masked(m, p, xi, y[i], masks ? masks + (size_t)i * (ms - 1) : NULL,
                                                          gi, work)
                               : mkt_logreg_loss_grad(p, d, xi, y[i], gi));
        double n2 = 0;
        for (int64_t k = 0; k < np; k++)
            n2 += (w * gi[k]) * (w * gi[k]);
        double scale = clip > 0 && sqrt(n2) > clip ? clip / sqrt(n2) : 1.0;
        for (int64_t k = 0; k < np; k++)
            sum[k] += w * gi[k] * scale;
    }
    double bl = m->hidden ? mkt_mlp_block_loss_grad(m, p, x, y, rows, 3.0, masks, clip, g, work)
                          : mkt_logreg_block(p, d, x, y, rows, 3.0, clip, g);
    double worst = fabs(bl - loss) / fabs(loss);
    for (int64_t k = 0; k < np; k++) {
        double err = fabs(g[k] - sum[k]) / fmax(1e-9, fabs(sum[k]));
        if (err > worst)
            worst = err;
    }
    /* the same rows at another (misaligned by one double) address: the same bits */
    memcpy(x2 + 1, x, sizeof(double) * (size_t)rows * d);
    double bl2 = m->hidden ? mkt_mlp_block_loss_grad(m, p, x2 + 1, y, rows, 3.0, masks, clip, g2, work)
                           : mkt_logreg_block(p, d, x2 + 1, y, rows, 3.0, clip, g2);
    assert_true(bl2 == bl);
    assert_memory_equal(g, g2, sizeof(double) * (size_t)np);
    if (clip > 0) { /* clipping must have bitten: the clipped sum differs from the plain one */
        double *g3 = malloc(sizeof(double) * (size_t)np);
        if (m->hidden)
            mkt_mlp_block_loss_grad(m, p, x, y, rows, 3.0, masks, 0, g3, work);
        else
            mkt_logreg_block(p, d, x, y, rows, 3.0, 0, g3);
        double diff = 0;
        for (int64_t k = 0; k < np; k++)
            diff = fmax(diff, fabs(g3[k] - g[k]));
        assert_true(diff > 1e-3);
        free(g3);
    }
    free(p);
    free(g);
    free(g2);
    free(gi);
    free(sum);
    free(x);
    free(x2);
    free(masks);
    free(work);
    free(y);
    return worst;
}

static void test_block(void **state)
{
    (void)state;
    mkt_mlp two = {.inputs = 9, .hidden = 2, .sizes = {7, 5}};
    mkt_mlp three = {.inputs = 6, .hidden = 3, .sizes = {8, 4, 3}};
    mkt_mlp logreg = {.inputs = 11, .hidden = 0};
    mkt_mlp logreg_even = {.inputs = 8, .hidden = 0};
    int sizes[] = {1, 3, 64};
    for (int k = 0; k < 3; k++) {
        int rows = sizes[k];
        assert_true(check_block(&two, rows, 0, 0) < 1e-12);
        assert_true(check_block(&three, rows, 0.3, 0) < 1e-12);
        assert_true(check_block(&two, rows, 0.2, 0.05) < 1e-12);
        assert_true(check_block(&logreg, rows, 0, 0) < 1e-12);
        assert_true(check_block(&logreg_even, rows, 0, 0) < 1e-12);
        assert_true(check_block(&logreg, rows, 0, 0.1) < 1e-12);
    }
    /* mkt_logreg_logit is the block's per-row logit: one row alone gives the same bits */
    double p[12], x[11];
    mkt_rng r;
    mkt_rng_init(&r, 9, 1, 0);
    for (int j = 0; j < 12; j++)
        p[j] = mkt_rng_normal(&r);
    for (int j = 0; j < 11; j++)
        x[j] = mkt_rng_normal(&r);
    int y1 = 1;
    double g[12];
    double l1 = mkt_logreg_block(p, 11, x, &y1, 1, 1.0, 0, g);
    assert_true(l1 == mkt_bce_logit(mkt_logreg_logit(p, 11, x), 1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mlp_gradient),
        cmocka_unit_test(test_dropout),
        cmocka_unit_test(test_logreg_gradient),
        cmocka_unit_test(test_bce),
        cmocka_unit_test(test_block),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
