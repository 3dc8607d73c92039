/* test_mf.c — src/mf.c: the biased row solve against a 2x2 system solved
 * by hand, the implicit row solve against the dense confidence-weighted
 * normal equations, the Gram matrix, the hold-out share, initialization
 * that depends only on the row (not on which block computes it), and the
 * eight-row batched solves giving every row the bits of its single solve
 * (empty rows, partial batches, any neighbours); the config's defaults,
 * text options and checks (each bad field named), and the model's predict. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "mf.h"
#include "unit_config_check.h"

#define EPS 1e-12

static void test_biased(void **state)
{
    (void)state;
    /* items [q, b]: item 0 = [1, 0], item 1 = [2, 0.5]; ratings 3, 5; mu = 1 */
    double other[4] = {1, 0, 2, 0.5}, val[2] = {3, 5}, w[2], sse = -1;
    int32_t idx[2] = {0, 1};
    assert_int_equal(mkt_mf_solve_biased(1, 2, idx, val, 1.0, other, 0.1, w, &sse), 0);
    /* A = [[5.2, 3], [3, 2.2]], b = [9, 5.5], det 2.44 */
    assert_float_equal(w[0], 3.3 / 2.44, 1e-12);
    assert_float_equal(w[1], 1.6 / 2.44, 1e-12);
    /* the training error from the solve's quantities equals the direct sum */
    double e0 = 2 - (w[0] * 1 + w[1]), e1 = 3.5 - (w[0] * 2 + w[1]);
    assert_float_equal(sse, e0 * e0 + e1 * e1, 1e-12);
    double z[2] = {7, 7};
    assert_int_equal(mkt_mf_solve_biased(1, 0, idx, val, 1.0, other, 0.1, z, &sse), 0);
    assert_float_equal(sse, 0, 0);
    assert_float_equal(z[0], 0, 0);
    assert_float_equal(z[1], 0, 0);
    /* k = 0: the bias alone, (sum t) / (n + lambda n) */
    double b0[2] = {0, 0.5}, x;
    assert_int_equal(mkt_mf_solve_biased(0, 2, idx, val, 1.0, b0, 0.5, &x, NULL), 0);
    assert_float_equal(x, (2 + 3.5) / 3.0, EPS);
}

static void test_implicit(void **state)
{
    (void)state;
    double y[6] = {1, 0, 0.5, 2, -1, 1}, g[4], x[2];
    mkt_mf_gram(y, 3, 2, g);
    assert_float_equal(g[0], 1 + 0.25 + 1, EPS);
    assert_float_equal(g[1], 0 + 1 - 1, EPS);
    assert_float_equal(g[2], g[1], EPS);
    assert_float_equal(g[3], 0 + 4 + 1, EPS);
    int32_t idx[2] = {0, 2};
    double r[2] = {2, 1}, alpha = 2, lambda = 0.5;
    assert_int_equal(mkt_mf_solve_implicit(2, 2, idx, r, y, g, alpha, lambda, x), 0);
    /* dense: A = sum_i c_i y_i y_iᵀ + λI, c = (5, 1, 3); b = 5 y0 + 3 y2 */
    double c[3] = {5, 1, 3}, A[4] = {lambda, 0, 0, lambda}, b[2] = {5 * 1 + 3 * -1, 5 * 0 + 3 * 1};
    for (int i = 0; i < 3; i++)
        for (int p = 0; p < 2; p++)
            for (int q = 0; q < 2; q++)
                A[p * 2 + q] += c[i] * y[i * 2 + p] * y[i * 2 + q];
    double det = A[0] * A[3] - A[1] * A[2];
    assert_float_equal(x[0], (A[3] * b[0] - A[1] * b[1]) / det, 1e-12);
    assert_float_equal(x[1], (A[0] * b[1] - A[2] * b[0]) / det, 1e-12);
}

/* CG from any start reaches the Cholesky solution in k steps (exact
 * arithmetic; here within 1e-10), and each step lowers the error. */
static void test_implicit_cg(void **state)
{
    (void)state;
    enum { K = 4, N = 6 };
    double y[N * K], g[K * K], chol[K], x[K] = {0.3, -0.2, 0.1, 0.5}, r[3] = {1, 4, 2};
    for (int i = 0; i < N * K; i++)
        y[i] = (double)((i * 7) % 11) / 11.0 - 0.4;
    int32_t idx[3] = {1, 3, 4};
    mkt_mf_gram(y, N, K, g);
    assert_int_equal(mkt_mf_solve_implicit(K, 3, idx, r, y, g, 3.0, 0.2, chol), 0);
    double prev = 1e300;
    for (int steps = 1; steps <= K; steps++) {
        double w[K] = {0.3, -0.2, 0.1, 0.5}, err = 0;
        assert_int_equal(mkt_mf_solve_implicit_cg(K, 3, idx, r, y, g, 3.0, 0.2, steps, w), 0);
        for (int i = 0; i < K; i++)
            err += (w[i] - chol[i]) * (w[i] - chol[i]);
        assert_true(err <= prev * (1 + 1e-9) || err < 1e-24);
        prev = err;
    }
    assert_int_equal(mkt_mf_solve_implicit_cg(K, 3, idx, r, y, g, 3.0, 0.2, 2 * K, x), 0);
    for (int i = 0; i < K; i++)
        assert_float_equal(x[i], chol[i], 1e-10);
    /* a row with no observations: (G + λI) x = 0 has x = 0 */
    double z[K] = {1, 1, 1, 1};
    assert_int_equal(mkt_mf_solve_implicit_cg(K, 0, idx, r, y, g, 3.0, 0.2, 3 * K, z), 0);
    for (int i = 0; i < K; i++)
        assert_float_equal(z[i], 0, 1e-10);
}

static void test_holdout(void **state)
{
    (void)state;
    int n = 0;
    for (int64_t o = 0; o < 200000; o++)
        n += mkt_mf_is_holdout(9, o, 0.1);
    assert_in_range(n, 19000, 21000);
    assert_int_equal(mkt_mf_is_holdout(9, 12345, 0.1), mkt_mf_is_holdout(9, 12345, 0.1));
    for (int64_t o = 0; o < 1000; o++) {
        assert_int_equal(mkt_mf_is_holdout(9, o, 0.0), 0);
        assert_int_equal(mkt_mf_is_holdout(9, o, 1.0), 1);
    }
}

static void test_init(void **state)
{
    (void)state;
    double all[10 * 4], part[5 * 4];
    mkt_mf_init_factors(all, 0, 10, 3, 4, 7, 100);
    mkt_mf_init_factors(part, 5, 5, 3, 4, 7, 100);
    assert_memory_equal(all + 5 * 4, part, sizeof part);
    for (int r = 0; r < 10; r++) {
        assert_float_equal(all[r * 4 + 3], 0, 0);
        assert_true(all[r * 4] != 0 && all[r * 4] > -1 && all[r * 4] < 1);
    }
    mkt_mf_init_factors(part, 5, 5, 3, 4, 7, 0);
    assert_memory_not_equal(all + 5 * 4, part, sizeof part);
}

/* Rows of 0..12 observations over 30 other-side rows (k = 6): every batch
 * of 1..8 consecutive rows, from every start, gives each row the bits of
 * mkt_mf_solve_biased / mkt_mf_solve_implicit (and the same sse). */
static void test_batched_rows(void **state)
{
    (void)state;
    enum { K = 6, ROWS = 11, OTHER = 30 };
    int64_t ptr[ROWS + 1] = {0};
    int32_t idx[ROWS * 12];
    double val[ROWS * 12], other[OTHER * (K + 1)], y[OTHER * K], g[K * K];
    uint64_t h = 12345;
    for (int i = 0; i < OTHER * (K + 1); i++) {
        h = h * 6364136223846793005ULL + 1442695040888963407ULL;
        other[i] = (double)(h >> 11) * 0x1.0p-53 - 0.5;
    }
    for (int i = 0; i < OTHER; i++)
        for (int c = 0; c < K; c++)
            y[i * K + c] = other[i * (K + 1) + c];
    mkt_mf_gram(y, OTHER, K, g);
    for (int r = 0; r < ROWS; r++) {
        int n = r == 3 || r == 8 ? 0 : (r * 5) % 13; /* rows 0, 3 and 8 are empty */
        ptr[r + 1] = ptr[r] + n;
        for (int e = 0; e < n; e++) {
            h = h * 6364136223846793005ULL + 1442695040888963407ULL;
            idx[ptr[r] + e] = (int32_t)((h >> 33) % OTHER);
            val[ptr[r] + e] = 1 + (double)((h >> 20) % 5);
        }
    }
    double ref[ROWS][K + 1], sref[ROWS], iref[ROWS][K];
    for (int r = 0; r < ROWS; r++) {
        int64_t a = ptr[r], n = ptr[r + 1] - a;
        assert_int_equal(mkt_mf_solve_biased(K, n, idx + a, val + a, 3.0, other, 0.1, ref[r], &sref[r]), 0);
        assert_int_equal(mkt_mf_solve_implicit(K, n, idx + a, val + a, y, g, 2.0, 0.3, iref[r]), 0);
    }
    for (int nr = 1; nr <= 8; nr++)
        for (int r0 = 0; r0 + nr <= ROWS; r0++) {
            double w[8][K + 1], e2[8], x[8][K];
            int bad = -1;
            assert_int_equal(mkt_mf_solve_biased_rows(K, nr, ptr + r0, idx, val, 3.0, other, 0.1, &w[0][0], e2, &bad),
                             0);
            assert_int_equal(bad, -1);
            assert_int_equal(mkt_mf_solve_implicit_rows(K, nr, ptr + r0, idx, val, y, g, 2.0, 0.3, &x[0][0], NULL), 0);
            for (int l = 0; l < nr; l++) {
                assert_memory_equal(w[l], ref[r0 + l], sizeof w[l]);
                assert_memory_equal(&e2[l], &sref[r0 + l], sizeof(double));
                assert_memory_equal(x[l], iref[r0 + l], sizeof x[l]);
            }
        }
    for (int d = 0; d <= K; d++)
        assert_true(ref[3][d] == 0.0 && ref[8][d] == 0.0);
    /* rows 1, 2 (observations) and 3 (none) with λ = −100: XᵀX − 100·n·I
     * is not positive definite; the first such row (lane 0) is reported */
    double w[8][K + 1];
    int bad = -1;
    assert_true(mkt_mf_solve_biased_rows(K, 3, ptr + 1, idx, val, 3.0, other, -100.0, &w[0][0], NULL, &bad) > 0);
    assert_int_equal(bad, 0);
}

/* The config c is rejected, by a message that starts with --option. */
static void expect_rejected(mkt_mf_config c, const char *option)
{
    expect_flag_named(mkt_mf_check_config(&c), option);
}

static void test_config_check(void **state)
{
    (void)state;
    mkt_mf_config c;
    mkt_mf_config_defaults(&c);
    assert_null(mkt_mf_check_config(&c));
    assert_int_equal(c.factors, 32);
    assert_int_equal(c.iters, 30);
    assert_true(c.lambda_auto);
    assert_int_equal(c.cg_iters, 3);
    assert_int_equal(c.exchange, MKT_MF_EXCHANGE_AUTO);
    mkt_mf_config bad = c;
    bad.factors = 0;
    expect_rejected(bad, "factors");
    assert_string_equal(mkt_mf_check_config(&bad), "--factors must be >= 1 (got 0)");
    bad = c;
    bad.iters = 0;
    expect_rejected(bad, "iters");
    bad = c;
    bad.lambda_auto = 0;
    bad.lambda = 0;
    expect_rejected(bad, "lambda");
    bad = c;
    bad.valid_fraction = 0; /* lambda auto needs a validation split */
    expect_rejected(bad, "lambda");
    bad.lambda_auto = 0;
    bad.lambda = 0.1;
    assert_null(mkt_mf_check_config(&bad));
    bad.valid_fraction = 0.95;
    expect_rejected(bad, "valid-fraction");
    bad = c;
    bad.patience = -1;
    expect_rejected(bad, "patience");
    bad = c;
    bad.topk = 0;
    expect_rejected(bad, "topk");
    bad = c;
    bad.implicit = 1;
    bad.alpha = -1;
    expect_rejected(bad, "alpha");
    bad = c;
    bad.holdout = 1;
    expect_rejected(bad, "holdout");
    static const char *weights[5] = {"weight-view", "weight-click", "weight-cart", "weight-fav", "weight-purchase"};
    for (int j = 0; j < 5; j++) {
        bad = c;
        bad.weight[j] = -1;
        const char *msg = mkt_mf_check_config(&bad);
        assert_non_null(msg);
        assert_non_null(strstr(msg, weights[j]));
    }
    bad = c;
    bad.weight_rating = -1;
    expect_rejected(bad, "weight-rating");
    bad = c;
    bad.rating_threshold = -1;
    expect_rejected(bad, "rating-threshold");
    bad = c;
    bad.cg = 1; /* explicit rows are solved by Cholesky */
    expect_rejected(bad, "solver");
    bad.implicit = 1;
    assert_null(mkt_mf_check_config(&bad));
    bad.cg_iters = 0;
    expect_rejected(bad, "cg-iters");
    bad = c;
    bad.exchange = 3;
    expect_rejected(bad, "exchange");
}

static void test_config_parse(void **state)
{
    (void)state;
    mkt_mf_config c;
    mkt_mf_config_defaults(&c);
    assert_null(mkt_mf_config_parse(&c, "0.25", "cg", "targeted"));
    assert_false(c.lambda_auto);
    assert_float_equal(c.lambda, 0.25, 0);
    assert_true(c.cg);
    assert_int_equal(c.exchange, MKT_MF_EXCHANGE_TARGETED);
    assert_null(mkt_mf_config_parse(&c, "auto", "cholesky", "allgather"));
    assert_true(c.lambda_auto);
    assert_false(c.cg);
    assert_int_equal(c.exchange, MKT_MF_EXCHANGE_ALLGATHER);
    assert_null(mkt_mf_config_parse(&c, NULL, NULL, NULL)); /* nothing given: nothing changes */
    assert_true(c.lambda_auto);
    assert_string_equal(mkt_mf_config_parse(&c, "soon", NULL, NULL),
                        "--lambda must be a number in (0, 1e9] or auto (got 'soon')");
    const char *bad[][3] = {{"-1", NULL, NULL}, {"2e9", NULL, NULL}, {"1x", NULL, NULL}, {NULL, "lu", NULL},
                            {NULL, NULL, "ring"}};
    const char *named[] = {"--lambda", "--lambda", "--lambda", "--solver", "--exchange"};
    for (int j = 0; j < 5; j++) {
        const char *msg = mkt_mf_config_parse(&c, bad[j][0], bad[j][1], bad[j][2]);
        assert_non_null(msg);
        assert_int_equal(strncmp(msg, named[j], strlen(named[j])), 0);
    }
}

static void test_predict(void **state)
{
    (void)state;
    mkt_mf_model m = {.factors = 2, .users = 2, .items = 1, .global_mean = 3};
    m.user_factors = malloc(4 * sizeof(double));
    m.item_factors = malloc(2 * sizeof(double));
    m.user_bias = malloc(2 * sizeof(double));
    m.item_bias = malloc(sizeof(double));
    double uf[4] = {1, 2, -1, 0.5}, itf[2] = {0.5, 0.25}, ub[2] = {0.1, -0.2}, ib[1] = {0.3};
    memcpy(m.user_factors, uf, sizeof uf);
    memcpy(m.item_factors, itf, sizeof itf);
    memcpy(m.user_bias, ub, sizeof ub);
    memcpy(m.item_bias, ib, sizeof ib);
    assert_float_equal(mkt_mf_predict(&m, 0, 0), 3 + 0.1 + 0.3 + 1.0, 1e-15);
    assert_float_equal(mkt_mf_predict(&m, 1, 0), 3 - 0.2 + 0.3 - 0.375, 1e-15);
    m.implicit = 1; /* the preference only */
    assert_float_equal(mkt_mf_predict(&m, 1, 0), -0.375, 1e-15);
    mkt_mf_model_free(&m);
    assert_null(m.user_factors);
    assert_int_equal(m.factors, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_biased),
        cmocka_unit_test(test_implicit),
        cmocka_unit_test(test_implicit_cg),
        cmocka_unit_test(test_holdout),
        cmocka_unit_test(test_init),
        cmocka_unit_test(test_batched_rows),
        cmocka_unit_test(test_config_check),
        cmocka_unit_test(test_config_parse),
        cmocka_unit_test(test_predict),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
