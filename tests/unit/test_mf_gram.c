/* test_mf_gram.c — src/mf_gram.c: the explicit and implicit rows' normal equations
 * against a direct computation, bitwise agreement of every instruction-set
 * path this CPU has, the Cholesky solve against LAPACK (including the
 * report of a non-positive pivot), and the eight-lane batched solve against
 * the single one (lanes independent, partial batches, a failing lane). */
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

/* A random symmetric positive definite system (row-major upper triangle
 * of a, stride d) and right-hand side b. */
static void spd_system(int d, uint64_t seed, double *a, double *b)
{
    mkt_rng g;
    mkt_rng_init(&g, seed, MKT_STREAM_MODEL, 9);
    int n = d + 3;
    double *x = malloc(sizeof(double) * (size_t)(n * d));
    for (int i = 0; i < n * d; i++)
        x[i] = unif(&g);
    for (int i = 0; i < d; i++) {
        for (int j = i; j < d; j++) {
            double s = i == j ? 0.05 * n : 0;
            for (int e = 0; e < n; e++)
                s += x[e * d + i] * x[e * d + j];
            a[i * d + j] = s;
        }
        b[i] = 4 * unif(&g);
    }
    free(x);
}

/* Interleaves systems sys[0..7] (-1: the identity, b = 0) into lane l of
 * a8/b8 and solves them; x[l] gets lane l's solution, info the codes. */
static int solve_batch_at(int d, const int *sys, double *const *as, double *const *bs, double **x, int info[8],
                          int offset)
{
    int D = mkt_mf_chol8_dim(d);
    double *mem = aligned_alloc(64, sizeof(double) * (size_t)(D * D * 8 + 8)), *a8 = mem + offset;
    double *b8 = malloc(sizeof(double) * (size_t)(d * 8));
    for (int i = 0; i < D * D * 8; i++)
        a8[i] = NAN; /* entries the solve must not read */
    for (int l = 0; l < 8; l++)
        for (int i = 0; i < d; i++) {
            for (int j = i; j < d; j++)
                a8[(i * D + j) * 8 + l] = sys[l] < 0 ? (i == j) : as[sys[l]][i * d + j];
            b8[i * 8 + l] = sys[l] < 0 ? 0 : bs[sys[l]][i];
        }
    int any = mkt_mf_chol_solve8(a8, d, b8, info);
    for (int l = 0; l < 8; l++)
        for (int i = 0; i < d; i++)
            x[l][i] = b8[i * 8 + l];
    free(mem);
    free(b8);
    return any;
}

/* a8 64-byte aligned: the AVX-512 blocks where the CPU has them */
static int solve_batch(int d, const int *sys, double *const *as, double *const *bs, double **x, int info[8])
{
    return solve_batch_at(d, sys, as, bs, x, info, 0);
}

static void test_cholesky8(void **state)
{
    (void)state;
    const int ds[] = {1, 2, 3, 4, 5, 8, 9, 33, 65, 66};
    enum { NS = 10 };
    for (size_t di = 0; di < sizeof ds / sizeof *ds; di++) {
        int d = ds[di], info[8];
        double *as[NS], *bs[NS], *ref[NS], *x[8], *y[8];
        for (int q = 0; q < NS; q++) {
            as[q] = malloc(sizeof(double) * (size_t)(d * d));
            bs[q] = malloc(sizeof(double) * (size_t)d);
            ref[q] = malloc(sizeof(double) * (size_t)d);
            spd_system(d, 100 * di + (uint64_t)q, as[q], bs[q]);
            double *a = malloc(sizeof(double) * (size_t)(d * d));
            memcpy(a, as[q], sizeof(double) * (size_t)(d * d));
            memcpy(ref[q], bs[q], sizeof(double) * (size_t)d);
            assert_int_equal(mkt_mf_chol_solve(a, d, ref[q]), 0);
            free(a);
        }
        for (int l = 0; l < 8; l++) {
            x[l] = malloc(sizeof(double) * (size_t)d);
            y[l] = malloc(sizeof(double) * (size_t)d);
        }
        /* a full batch against the single solve */
        int full[8] = {0, 1, 2, 3, 4, 5, 6, 7};
        assert_int_equal(solve_batch(d, full, as, bs, x, info), 0);
        for (int l = 0; l < 8; l++) {
            assert_int_equal(info[l], 0);
            double mx = 0;
            for (int i = 0; i < d; i++)
                mx = fmax(mx, fabs(ref[l][i]));
            for (int i = 0; i < d; i++)
                assert_true(fabs(x[l][i] - ref[l][i]) <= 1e-12 * mx);
        }
        /* a8 not 64-byte aligned: the portable blocks, the same bits */
        assert_int_equal(solve_batch_at(d, full, as, bs, y, info, 1), 0);
        for (int l = 0; l < 8; l++)
            assert_memory_equal(y[l], x[l], sizeof(double) * (size_t)d);
        /* the same systems in other lanes, beside other neighbours, and in
         * partial batches of 1..7 (identity lanes): the same bits */
        for (int m = 1; m <= 8; m++) {
            int sys[8];
            for (int l = 0; l < 8; l++)
                sys[l] = l < m ? (l * 3 + m) % 8 : -1;
            if (m == 8)
                for (int l = 0; l < 8; l++)
                    sys[l] = (l + 5) % 8 == 7 ? 8 : (l + 5) % 8; /* rotated, one new neighbour */
            assert_int_equal(solve_batch(d, sys, as, bs, y, info), 0);
            for (int l = 0; l < 8; l++) {
                assert_int_equal(info[l], 0);
                if (sys[l] >= 0 && sys[l] < 8)
                    assert_memory_equal(y[l], x[sys[l]], sizeof(double) * (size_t)d);
                else if (sys[l] < 0)
                    for (int i = 0; i < d; i++)
                        assert_true(y[l][i] == 0.0);
            }
        }
        /* a system with a non-positive pivot in lane 5: reported there
         * only, the other lanes' bits unchanged */
        if (d >= 3) {
            double *bad = malloc(sizeof(double) * (size_t)(d * d));
            memcpy(bad, as[9], sizeof(double) * (size_t)(d * d));
            int jb = d / 2; /* A[jb][jb] < 0: pivot jb is the first not positive */
            bad[jb * d + jb] = -1.0;
            double *keep = as[9];
            as[9] = bad;
            int sys[8] = {0, 1, 2, 3, 4, 9, 6, 7};
            assert_int_equal(solve_batch(d, sys, as, bs, y, info), 1);
            for (int l = 0; l < 8; l++) {
                if (l == 5) {
                    assert_int_equal(info[l], jb + 1);
                    continue;
                }
                assert_int_equal(info[l], 0);
                assert_memory_equal(y[l], x[l], sizeof(double) * (size_t)d);
            }
            /* the single solve reports the same pivot */
            double *a = malloc(sizeof(double) * (size_t)(d * d)), *b = malloc(sizeof(double) * (size_t)d);
            memcpy(a, bad, sizeof(double) * (size_t)(d * d));
            memcpy(b, bs[9], sizeof(double) * (size_t)d);
            assert_int_equal(mkt_mf_chol_solve(a, d, b), info[5]);
            free(a);
            free(b);
            as[9] = keep;
            free(bad);
        }
        for (int q = 0; q < NS; q++) {
            free(as[q]);
            free(bs[q]);
            free(ref[q]);
        }
        for (int l = 0; l < 8; l++) {
            free(x[l]);
            free(y[l]);
        }
    }
    /* diag(1, 2, 3, -1, 5) in lane 2 alone: info 4 there, 0 elsewhere */
    double *as[1], *bs[1], *x[8], m[25] = {0}, r[5] = {1, 1, 1, 1, 1}, xs[8][5];
    for (int i = 0; i < 5; i++)
        m[i * 5 + i] = i == 3 ? -1 : i + 1;
    as[0] = m;
    bs[0] = r;
    for (int l = 0; l < 8; l++)
        x[l] = xs[l];
    int sys[8] = {-1, -1, 0, -1, -1, -1, -1, -1}, info[8];
    assert_int_equal(solve_batch(5, sys, as, bs, x, info), 1);
    for (int l = 0; l < 8; l++)
        assert_int_equal(info[l], l == 2 ? 4 : 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_normal_equations),
        cmocka_unit_test(test_implicit),
        cmocka_unit_test(test_cholesky),
        cmocka_unit_test(test_cholesky8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
