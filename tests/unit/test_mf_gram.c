/* test_mf_gram.c — src/mf_gram.c: the explicit and implicit rows' normal equations
 * against a direct computation, bitwise agreement of every instruction-set
 * path this CPU has, and the Cholesky solve against LAPACK (including the
 * report of a non-positive pivot). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mf_gram.h"
#include "rng.h"

static double unif(mkt_rng *g) { return mkt_rng_uniform(g) - 0.5; }

/* Random other-side rows (k factors + bias), n observations of them. */
static void fill(int k, int64_t rows, int64_t n, uint64_t seed, double *other, int32_t *idx, double *val)
{
    mkt_rng g;
    mkt_rng_init(&g, seed, MKT_STREAM_MODEL, 0);
    for (int64_t i = 0; i < rows * (k + 1); i++)
        other[i] = 2 * unif(&g);
    for (int64_t e = 0; e < n; e++) {
        idx[e] = (int32_t)(mkt_rng_uniform(&g) * (double)rows);
        val[e] = 1 + 4 * mkt_rng_uniform(&g);
    }
}

static void test_normal_equations(void **state)
{
    (void)state;
    const int ks[] = {1, 3, 7, 8, 10, 64};
    const int64_t ns[] = {1, 5, 8, 9, 130};
    const int64_t rows = 50;
    mkt_gram_path best = mkt_mf_gram_best_path();
    for (size_t ki = 0; ki < sizeof ks / sizeof *ks; ki++)
        for (size_t ni = 0; ni < sizeof ns / sizeof *ns; ni++) {
            int k = ks[ki], d = k + 1;
            int64_t n = ns[ni];
            double *other = malloc(sizeof(double) * (size_t)(rows * d)), *val = malloc(sizeof(double) * (size_t)n);
            int32_t *idx = malloc(sizeof(int32_t) * (size_t)n);
            fill(k, rows, n, 11 + (uint64_t)(ki * 7 + ni), other, idx, val);
            double *scratch = malloc(sizeof(double) * (size_t)mkt_mf_gram_scratch(k, n));
            double *a[4], b[4][65], tt[4];
            for (int p = MKT_GRAM_PORTABLE; p <= (int)best; p++) {
                a[p] = calloc((size_t)(d * d), sizeof(double));
                mkt_mf_normal_biased((mkt_gram_path)p, k, n, idx, val, 3.0, other, scratch, a[p], b[p], &tt[p]);
            }
            /* direct sums */
            for (int i = 0; i < d; i++) {
                double bi = 0;
                for (int j = i; j < d; j++) {
                    double s = 0;
                    for (int64_t e = 0; e < n; e++) {
                        const double *o = other + (int64_t)idx[e] * d;
                        s += (i < k ? o[i] : 1.0) * (j < k ? o[j] : 1.0);
                    }
                    assert_true(fabs(a[MKT_GRAM_PORTABLE][i * d + j] - s) <= 1e-12 * (1 + fabs(s)));
                }
                double t2 = 0;
                for (int64_t e = 0; e < n; e++) {
                    const double *o = other + (int64_t)idx[e] * d;
                    double t = val[e] - 3.0 - o[k];
                    bi += t * (i < k ? o[i] : 1.0);
                    t2 += t * t;
                }
                assert_true(fabs(b[MKT_GRAM_PORTABLE][i] - bi) <= 1e-12 * (1 + fabs(bi)));
                assert_true(fabs(tt[MKT_GRAM_PORTABLE] - t2) <= 1e-12 * (1 + t2));
            }
            /* the same bits on every path (upper triangle, b, tt) */
            for (int p = MKT_GRAM_PORTABLE + 1; p <= (int)best; p++) {
                for (int i = 0; i < d; i++)
                    assert_memory_equal(a[p] + i * d + i, a[MKT_GRAM_PORTABLE] + i * d + i,
                                        sizeof(double) * (size_t)(d - i));
                assert_memory_equal(b[p], b[MKT_GRAM_PORTABLE], sizeof(double) * (size_t)d);
                assert_memory_equal(&tt[p], &tt[MKT_GRAM_PORTABLE], sizeof(double));
            }
            for (int p = MKT_GRAM_PORTABLE; p <= (int)best; p++)
                free(a[p]);
            free(scratch);
            free(other);
            free(val);
            free(idx);
        }
}

static void test_implicit(void **state)
{
    (void)state;
    const int ks[] = {1, 4, 9, 32};
    const int64_t ns[] = {1, 8, 13, 100};
    const int64_t rows = 40;
    mkt_gram_path best = mkt_mf_gram_best_path();
    for (size_t ki = 0; ki < sizeof ks / sizeof *ks; ki++)
        for (size_t ni = 0; ni < sizeof ns / sizeof *ns; ni++) {
            int k = ks[ki];
            int64_t n = ns[ni];
            double *y = malloc(sizeof(double) * (size_t)(rows * k)), *r = malloc(sizeof(double) * (size_t)n);
            int32_t *idx = malloc(sizeof(int32_t) * (size_t)n);
            mkt_rng g;
            mkt_rng_init(&g, 3 + ki * 5 + ni, MKT_STREAM_MODEL, 2);
            for (int64_t i = 0; i < rows * k; i++)
                y[i] = unif(&g);
            for (int64_t e = 0; e < n; e++) {
                idx[e] = (int32_t)(mkt_rng_uniform(&g) * (double)rows);
                r[e] = e % 5 == 0 ? 0.0 : 3 * mkt_rng_uniform(&g); /* some observations carry no extra weight */
            }
            double *scratch = malloc(sizeof(double) * (size_t)mkt_mf_gram_scratch(k, n));
            double *a[4], b[4][32];
            for (int p = MKT_GRAM_PORTABLE; p <= (int)best; p++) {
                a[p] = malloc(sizeof(double) * (size_t)(k * k));
                for (int i = 0; i < k * k; i++)
                    a[p][i] = 0.25; /* the Gram matrix the row's terms are added to */
                mkt_mf_normal_implicit((mkt_gram_path)p, k, n, idx, r, 2.0, y, scratch, a[p], b[p]);
            }
            for (int i = 0; i < k; i++) {
                double bi = 0;
                for (int64_t e = 0; e < n; e++)
                    bi += (1 + 2.0 * r[e]) * y[(int64_t)idx[e] * k + i];
                assert_true(fabs(b[MKT_GRAM_PORTABLE][i] - bi) <= 1e-12 * (1 + fabs(bi)));
                for (int j = i; j < k; j++) {
                    double s = 0.25;
                    for (int64_t e = 0; e < n; e++)
                        s += 2.0 * r[e] * y[(int64_t)idx[e] * k + i] * y[(int64_t)idx[e] * k + j];
                    assert_true(fabs(a[MKT_GRAM_PORTABLE][i * k + j] - s) <= 1e-12 * (1 + fabs(s)));
                }
            }
            for (int p = MKT_GRAM_PORTABLE + 1; p <= (int)best; p++) {
                for (int i = 0; i < k; i++)
                    assert_memory_equal(a[p] + i * k + i, a[MKT_GRAM_PORTABLE] + i * k + i,
                                        sizeof(double) * (size_t)(k - i));
                assert_memory_equal(b[p], b[MKT_GRAM_PORTABLE], sizeof(double) * (size_t)k);
            }
            for (int p = MKT_GRAM_PORTABLE; p <= (int)best; p++)
                free(a[p]);
            free(scratch);
            free(y);
            free(r);
            free(idx);
        }
}

static void test_cholesky(void **state)
{
    (void)state;
    const int ds[] = {1, 2, 7, 8, 9, 33, 65, 130};
    for (size_t di = 0; di < sizeof ds / sizeof *ds; di++) {
        int d = ds[di], n = d + 5;
        mkt_rng g;
        mkt_rng_init(&g, 5 + di, MKT_STREAM_MODEL, 1);
        double *x = malloc(sizeof(double) * (size_t)(n * d)), *a = calloc((size_t)(d * d), sizeof(double));
        double *a2 = malloc(sizeof(double) * (size_t)(d * d)), *b = malloc(sizeof(double) * (size_t)d),
               *b2 = malloc(sizeof(double) * (size_t)d);
        for (int i = 0; i < n * d; i++)
            x[i] = unif(&g);
        /* A = XᵀX + 0.1 I, column-major lower */
        for (int c = 0; c < d; c++)
            for (int r = c; r < d; r++) {
                double s = r == c ? 0.1 : 0;
                for (int e = 0; e < n; e++)
                    s += x[e * d + r] * x[e * d + c];
                a[c * d + r] = s;
            }
        for (int i = 0; i < d; i++)
            b[i] = b2[i] = unif(&g);
        memcpy(a2, a, sizeof(double) * (size_t)(d * d));
        assert_int_equal(mkt_mf_chol_solve(a, d, b), 0);
        assert_int_equal(LAPACKE_dposv(LAPACK_COL_MAJOR, 'L', d, 1, a2, d, b2, d), 0);
        double mx = 0;
        for (int i = 0; i < d; i++)
            mx = fmax(mx, fabs(b2[i]));
        for (int i = 0; i < d; i++)
            assert_true(fabs(b[i] - b2[i]) <= 1e-9 * mx);
        free(x);
        free(a);
        free(a2);
        free(b);
        free(b2);
    }
    /* diag(1, 2, 3, -1, 5): the fourth pivot is not positive */
    double m[25] = {0}, r[5] = {1, 1, 1, 1, 1};
    for (int i = 0; i < 5; i++)
        m[i * 5 + i] = i == 3 ? -1 : i + 1;
    assert_int_equal(mkt_mf_chol_solve(m, 5, r), 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_normal_equations),
        cmocka_unit_test(test_implicit),
        cmocka_unit_test(test_cholesky),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
