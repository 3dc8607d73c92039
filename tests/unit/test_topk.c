/* test_topk.c — src/topk.c against a brute-force double top k on random
 * data: the screened answer must be the same rows in the same order with the
 * same double scores, with exact ties, near-ties closer than float32
 * resolution, excluded rows, k larger than the block, large, tiny and
 * non-finite values; the bound must hold row by row, and the screen must
 * actually prune (few candidates on random data).  Run four times: the
 * int8 screen and the float32 one, each with the kernels the CPU gets (AVX2
 * where it has it) and the portable ones. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"
#include "topk.h"

typedef struct {
    const double *q, *bias, *x;
    double c;
    int64_t cols;
} mf_ctx;

/* The serving score: ((c + b_i) + dot), dot with four interleaved sums as in stages/serve_fanout.c. */
static double exact_score(void *p, int64_t i)
{
    const mf_ctx *m = p;
    const double *a = m->q + i * m->cols, *b = m->x;
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int64_t j = 0;
    for (; j + 4 <= m->cols; j += 4) {
        s0 += a[j] * b[j];
        s1 += a[j + 1] * b[j + 1];
        s2 += a[j + 2] * b[j + 2];
        s3 += a[j + 3] * b[j + 3];
    }
    for (; j < m->cols; j++)
        s0 += a[j] * b[j];
    double v = m->c + (m->bias ? m->bias[i] : 0.0) + ((s0 + s1) + (s2 + s3));
    return isfinite(v) ? v : -1e300;
}

/* Brute force: every non-excluded row scored, sorted, cut at k. */
static int64_t reference(const mf_ctx *m, int64_t rows, const int32_t *ex, int64_t nex, int64_t k, mkt_scored *out)
{
    mkt_scored *all = malloc((size_t)(rows > 0 ? rows : 1) * sizeof *all);
    int64_t n = 0;
    for (int64_t i = 0; i < rows; i++) {
        int skip = 0;
        for (int64_t e = 0; e < nex; e++)
            skip |= ex[e] == i;
        if (!skip)
            all[n++] = (mkt_scored){exact_score((void *)m, i), i};
    }
    qsort(all, (size_t)n, sizeof *all, mkt_scored_cmp);
    int64_t keep = n < k ? n : k;
    memcpy(out, all, (size_t)keep * sizeof *out);
    free(all);
    return keep;
}

static int pass_float32, pass_generic; /* the kernels of the current pass (main) */

static double normal(mkt_rng *r)
{
    double u1 = mkt_rng_uniform(r), u2 = mkt_rng_uniform(r);
    return sqrt(-2 * log(u1 + 1e-300)) * cos(2 * M_PI * u2);
}

/* Screened top k equals brute force exactly (rows, order and score bits). */
static void check_same(const double *q, const double *bias, int64_t rows, int64_t cols, const double *x, double c,
                       const int32_t *ex, int64_t nex, int64_t k)
{
    mkt_f32_rows r;
    assert_int_equal(mkt_f32_rows_init(&r, q, bias, rows, cols), 0);
    mf_ctx m = {q, bias, x, c, cols};
    mkt_scored *got = calloc((size_t)k, sizeof *got), *want = calloc((size_t)k, sizeof *want);
    int64_t ng = mkt_topk_dot(&r, x, c, ex, nex, k, exact_score, &m, got);
    int64_t nw = reference(&m, rows, ex, nex, k, want);
    assert_int_equal(ng, nw);
    for (int64_t i = 0; i < nw; i++) {
        assert_int_equal(got[i].row, want[i].row);
        assert_memory_equal(&got[i].score, &want[i].score, sizeof(double));
    }
    free(got);
    free(want);
    mkt_f32_rows_free(&r);
}

static double *random_rows(mkt_rng *g, int64_t rows, int64_t cols, double scale)
{
    double *q = malloc((size_t)(rows * cols) * sizeof *q);
    for (int64_t i = 0; i < rows * cols; i++)
        q[i] = scale * normal(g);
    return q;
}

static void test_random(void **state)
{
    (void)state;
    mkt_rng g;
    mkt_rng_init(&g, 11, MKT_STREAM_GLOBAL, 0);
    const int64_t cols_list[] = {64, 7, 1, 33};
    for (int t = 0; t < 4; t++) {
        int64_t rows = 2000, cols = cols_list[t];
        double *q = random_rows(&g, rows, cols, 0.3), *b = random_rows(&g, rows, 1, 0.1);
        double *x = random_rows(&g, 1, cols, 0.3);
        int32_t ex[40];
        int64_t nex = 0;
        for (int64_t i = 0; i < 40; i++)
            ex[nex++] = (int32_t)(mkt_rng_uniform(&g) * (double)rows);
        for (int64_t i = 1; i < nex; i++) /* sorted (duplicates allowed) */
            for (int64_t j = i; j > 0 && ex[j - 1] > ex[j]; j--) {
                int32_t s = ex[j];
                ex[j] = ex[j - 1];
                ex[j - 1] = s;
            }
        const int64_t ks[] = {1, 10, 64, 500};
        for (int i = 0; i < 4; i++) {
            check_same(q, b, rows, cols, x, 3.5, ex, nex, ks[i]);
            check_same(q, NULL, rows, cols, x, 0.0, NULL, 0, ks[i]);
        }
        free(q);
        free(b);
        free(x);
    }
}

/* The bound holds for every row, is not absurdly loose, and the screen prunes. */
static void test_bound_and_pruning(void **state)
{
    (void)state;
    mkt_rng g;
    mkt_rng_init(&g, 12, MKT_STREAM_GLOBAL, 0);
    int64_t rows = 5000, cols = 64;
    double *q = random_rows(&g, rows, cols, 0.3), *b = random_rows(&g, rows, 1, 0.1), *x = random_rows(&g, 1, cols, 0.3);
    double c = 3.5;
    mkt_f32_rows r;
    assert_int_equal(mkt_f32_rows_init(&r, q, b, rows, cols), 0);
    assert_true(r.ok);
    assert_true(mkt_screen_usable(&r, x, c));
    mf_ctx m = {q, b, x, c, cols};
    float xf[64], d[1];
    mkt_to_f32(x, cols, xf);
    double xn = mkt_norm2(x, cols);
    for (int64_t i = 0; i < rows; i++) {
        mkt_f32_dots(&r, i, i + 1, xf, d);
        double gi = (double)d[0] + (double)r.bias[i];
        double e = mkt_screen_bound(cols, xn, r.norm[i], r.abias[i], c);
        double err = fabs((exact_score(&m, i) - c) - gi);
        assert_true(err <= e / 2);
        assert_true(e < 1e-4 * (xn * r.norm[i] + 1)); /* a float32 bound, not a useless one */
    }
    mkt_screen s;
    assert_int_equal(mkt_screen_init(&s, 10), 0);
    assert_int_equal(mkt_screen_rows(&s, &r, 0, rows, xf, xn, c, NULL, 0), 0);
    assert_true(mkt_screen_candidates(&s) >= 10);
    assert_true(mkt_screen_candidates(&s) <= 20); /* random scores: almost nothing near the threshold */
    mkt_scored out[10];
    assert_int_equal(mkt_screen_finish(&s, exact_score, &m, out), 10);
    mkt_screen_free(&s);
    /* the screen over two tiles in two calls (how batches use it) gives the same answer */
    mkt_scored out2[10];
    assert_int_equal(mkt_screen_init(&s, 10), 0);
    assert_int_equal(mkt_screen_rows(&s, &r, 0, 1234, xf, xn, c, NULL, 0), 0);
    assert_int_equal(mkt_screen_rows(&s, &r, 1234, rows, xf, xn, c, NULL, 0), 0);
    assert_int_equal(mkt_screen_finish(&s, exact_score, &m, out2), 10);
    mkt_screen_free(&s);
    for (int i = 0; i < 10; i++) {
        assert_int_equal(out[i].row, out2[i].row);
        assert_memory_equal(&out[i].score, &out2[i].score, sizeof(double));
    }
    mkt_f32_rows_free(&r);
    free(q);
    free(b);
    free(x);
}

/* Duplicated rows: equal exact scores, the lower row first. */
static void test_exact_ties(void **state)
{
    (void)state;
    mkt_rng g;
    mkt_rng_init(&g, 13, MKT_STREAM_GLOBAL, 0);
    int64_t rows = 600, cols = 16;
    double *q = random_rows(&g, rows, cols, 0.5), *b = random_rows(&g, rows, 1, 0.1), *x = random_rows(&g, 1, cols, 0.5);
    /* rows 100..399 are 30 copies each of 10 rows, the best of which win */
    for (int64_t i = 100; i < 400; i++) {
        memcpy(q + i * cols, q + (i % 10) * cols, (size_t)cols * sizeof *q);
        b[i] = b[i % 10] + 5; /* far above the rest */
    }
    check_same(q, b, rows, cols, x, 1.0, NULL, 0, 10);
    check_same(q, b, rows, cols, x, 1.0, NULL, 0, 45);
    int32_t ex[] = {100, 101, 102, 150, 150, 399};
    check_same(q, b, rows, cols, x, 1.0, ex, 6, 37);
    /* every row equal */
    for (int64_t i = 0; i < rows; i++) {
        memcpy(q + i * cols, q, (size_t)cols * sizeof *q);
        b[i] = b[0];
    }
    check_same(q, b, rows, cols, x, 1.0, NULL, 0, 7);
    check_same(q, b, rows, cols, x, 1.0, ex, 6, 7);
    free(q);
    free(b);
    free(x);
}

/* Rows that differ by less than float32 resolution: their float copies are
 * equal, their exact scores are not; the exact order must win. */
static void test_near_ties(void **state)
{
    (void)state;
    mkt_rng g;
    mkt_rng_init(&g, 14, MKT_STREAM_GLOBAL, 0);
    int64_t rows = 1000, cols = 64;
    double *q = random_rows(&g, rows, cols, 0.3), *b = random_rows(&g, rows, 1, 0.1), *x = random_rows(&g, 1, cols, 0.3);
    for (int64_t i = 500; i < 700; i++) {
        for (int64_t j = 0; j < cols; j++)
            q[i * cols + j] = q[j] * (1 + 1e-12 * normal(&g));
        b[i] = b[0] + 1e-13 * normal(&g) + 10;
    }
    mkt_f32_rows r;
    assert_int_equal(mkt_f32_rows_init(&r, q, b, rows, cols), 0);
    assert_memory_equal(r.v + 500 * cols, r.v + 501 * cols, (size_t)cols * sizeof(float)); /* really below float resolution */
    mkt_f32_rows_free(&r);
    check_same(q, b, rows, cols, x, 2.0, NULL, 0, 10);
    check_same(q, b, rows, cols, x, 2.0, NULL, 0, 150);
    int32_t ex[] = {501, 502, 503, 600, 601};
    check_same(q, b, rows, cols, x, 2.0, ex, 5, 199);
    /* different rows whose exact scores are within 1e-12 of each other: their
     * float32 scores are off by up to ~1e-6 in different directions, so the
     * float order is wrong and only the bound keeps the true best */
    mf_ctx m = {q, b, x, 2.0, cols};
    for (int64_t i = 200; i < 400; i++) {
        for (int64_t j = 0; j < cols; j++)
            q[i * cols + j] = 0.3 * normal(&g);
        b[i] = 0;
        b[i] = 20 - (exact_score(&m, i) - 2.0) + 1e-12 * normal(&g);
    }
    mkt_f32_rows rr;
    assert_int_equal(mkt_f32_rows_init(&rr, q, b, rows, cols), 0);
    float xf[64], d[200];
    mkt_to_f32(x, cols, xf);
    mkt_f32_dots(&rr, 200, 400, xf, d);
    int misordered = 0; /* the float scores really disagree with the exact order */
    for (int64_t i = 201; i < 400; i++) {
        double gi = (double)d[i - 200] + (double)rr.bias[i], gp = (double)d[i - 201] + (double)rr.bias[i - 1];
        misordered += (gi > gp) != (exact_score(&m, i) > exact_score(&m, i - 1));
    }
    assert_true(misordered > 20);
    mkt_f32_rows_free(&rr);
    check_same(q, b, rows, cols, x, 2.0, NULL, 0, 1);
    check_same(q, b, rows, cols, x, 2.0, NULL, 0, 10);
    check_same(q, b, rows, cols, x, 2.0, ex, 5, 150);
    free(q);
    free(b);
    free(x);
}

/* Excluded rows, including all the best ones; k larger than the block. */
static void test_excluded_and_big_k(void **state)
{
    (void)state;
    mkt_rng g;
    mkt_rng_init(&g, 15, MKT_STREAM_GLOBAL, 0);
    int64_t rows = 300, cols = 64;
    double *q = random_rows(&g, rows, cols, 0.3), *b = random_rows(&g, rows, 1, 0.1), *x = random_rows(&g, 1, cols, 0.3);
    mf_ctx m = {q, b, x, 0.5, cols};
    mkt_scored best[20];
    assert_int_equal(reference(&m, rows, NULL, 0, 20, best), 20);
    int32_t ex[20];
    for (int i = 0; i < 20; i++)
        ex[i] = (int32_t)best[i].row;
    for (int i = 1; i < 20; i++)
        for (int j = i; j > 0 && ex[j - 1] > ex[j]; j--) {
            int32_t s = ex[j];
            ex[j] = ex[j - 1];
            ex[j - 1] = s;
        }
    check_same(q, b, rows, cols, x, 0.5, ex, 20, 10);
    check_same(q, b, rows, cols, x, 0.5, ex, 20, rows + 5); /* k > block: every remaining row, sorted */
    check_same(q, b, rows, cols, x, 0.5, NULL, 0, rows + 5);
    check_same(q, b, 1, cols, x, 0.5, NULL, 0, 10);            /* a block of one row */
    int32_t one = 0;
    check_same(q, b, 1, cols, x, 0.5, &one, 1, 10);            /* ... excluded: nothing */
    check_same(q, b, 0, cols, x, 0.5, NULL, 0, 10);            /* an empty block */
    free(q);
    free(b);
    free(x);
}

/* Large norms (screened up to 2^60, exact beyond), tiny values (float32
 * subnormals), and non-finite values (exact scoring, -1e300). */
static void test_extreme_values(void **state)
{
    (void)state;
    mkt_rng g;
    mkt_rng_init(&g, 16, MKT_STREAM_GLOBAL, 0);
    int64_t rows = 800, cols = 64;
    const double scales[] = {1e8, 1e15, 1e30, 1e-20, 1e-42, 1e-200};
    for (int t = 0; t < 6; t++) {
        double *q = random_rows(&g, rows, cols, scales[t]), *b = random_rows(&g, rows, 1, 0.1 * scales[t]);
        double *x = random_rows(&g, 1, cols, scales[t] < 1 ? 1.0 : scales[t]);
        mkt_f32_rows r;
        assert_int_equal(mkt_f32_rows_init(&r, q, b, rows, cols), 0);
        assert_int_equal(r.ok, scales[t] < 1e17);
        assert_int_equal(r.q8 != NULL, r.ok); /* int8 codes only for screenable rows */
        mkt_f32_rows_free(&r);
        check_same(q, b, rows, cols, x, 3.5, NULL, 0, 10);
        check_same(q, b, rows, cols, x, scales[t] * scales[t], NULL, 0, 10); /* a large constant */
        free(q);
        free(b);
        free(x);
    }
    double *q = random_rows(&g, rows, cols, 0.3), *b = random_rows(&g, rows, 1, 0.1), *x = random_rows(&g, 1, cols, 0.3);
    q[5 * cols + 3] = NAN;
    q[9 * cols] = INFINITY;
    check_same(q, b, rows, cols, x, 3.5, NULL, 0, 10);
    q[5 * cols + 3] = 0;
    q[9 * cols] = 0;
    x[2] = NAN;
    check_same(q, b, rows, cols, x, 3.5, NULL, 0, 10);
    x[2] = 0;
    check_same(q, b, rows, cols, x, INFINITY, NULL, 0, 10);
    free(q);
    free(b);
    free(x);
}

/* The int8 screen's bound (topk.h), recomputed here from the formula, holds
 * for every row; the codes are in range; the AVX2 and portable integer
 * kernels agree exactly; the screen prunes to a few dozen candidates. */
static void test_int8_bound(void **state)
{
    (void)state;
    mkt_rng g;
    mkt_rng_init(&g, 17, MKT_STREAM_GLOBAL, 0);
    int64_t rows = 5000, cols = 64;
    double *q = random_rows(&g, rows, cols, 0.3), *b = random_rows(&g, rows, 1, 0.1), *x = random_rows(&g, 1, cols, 0.3);
    double c = 3.5;
    mkt_f32_rows r;
    assert_int_equal(mkt_f32_rows_init(&r, q, b, rows, cols), 0);
    assert_non_null(r.q8);
    mf_ctx m = {q, b, x, c, cols};
    float xf[64];
    mkt_to_f32(x, cols, xf);
    double xn = mkt_norm2(x, cols);
    mkt_screen s;
    assert_int_equal(mkt_screen_init(&s, 10), 0);
    mkt_topk_float32_only(0);
    assert_int_equal(mkt_screen_rows(&s, &r, 0, rows, xf, xn, c, NULL, 0), 0);
    assert_non_null(s.xq); /* the int8 screen ran */
    int64_t cand = mkt_screen_candidates(&s);
    assert_true(cand >= 10);
    assert_true(cand <= 60); /* N(0, 0.3) factors: about 20 at k = 10 */
    /* the query codes: |x - x^| <= e_x */
    long double dq = 0;
    for (int64_t j = 0; j < cols; j++) {
        assert_true(s.xq[j] != INT16_MIN);
        long double d = (long double)x[j] - (long double)s.xt * s.xq[j];
        dq += d * d;
    }
    assert_true(sqrtl(dq) <= s.xeps);
    int32_t *dots = malloc((size_t)rows * sizeof *dots), *dots2 = malloc((size_t)rows * sizeof *dots2);
    mkt_i8_dots(&r, 0, rows, s.xq, dots);
    mkt_topk_generic_only(1);
    mkt_i8_dots(&r, 0, rows, s.xq, dots2);
    mkt_topk_generic_only(pass_generic);
    assert_memory_equal(dots, dots2, (size_t)rows * sizeof *dots);
    mkt_i8_dots(&r, 3, 10, s.xq, dots2); /* a range not a multiple of four */
    assert_memory_equal(dots + 3, dots2, 7 * sizeof *dots);
    double k = (double)cols, X = xn + s.xeps, u = 0x1p-24, v = 0x1p-53, tiny = 0x1p-120;
    double worst = 0;
    for (int64_t i = 0; i < rows; i++) {
        long double dev = 0;
        for (int64_t j = 0; j < cols; j++) {
            int8_t code = r.q8[i * cols + j];
            assert_true(code != INT8_MIN); /* codes in [-127, 127] */
            long double d = (long double)q[i * cols + j] - (long double)r.q8scale[i] * code;
            dev += d * d;
        }
        assert_true(sqrtl(dev) <= r.q8err[i]);
        assert_true(r.norm[i] + r.q8err[i] <= r.q8norm[i]);
        double gi = (s.xt * (double)r.q8scale[i]) * (double)dots[i] + (double)r.bias[i];
        double bi = fabs((double)r.bias[i]), n = r.q8norm[i];
        double e = 2 * (xn * r.q8err[i] + s.xeps * n + (2 * k + 16) * v * X * n + (1.01 * u + 7 * v) * bi +
                        6 * v * c + tiny * (k + 8) * (1 + X + n));
        double err = fabs((exact_score(&m, i) - c) - gi);
        assert_true(err <= e / 2);
        worst = fmax(worst, e / (xn * r.norm[i]));
    }
    assert_true(worst < 0.05); /* an int8 bound: about 1% of |x||q_i| */
    mkt_scored out[10], want[10];
    assert_int_equal(mkt_screen_finish(&s, exact_score, &m, out), 10);
    assert_int_equal(reference(&m, rows, NULL, 0, 10, want), 10);
    assert_memory_equal(out, want, sizeof out);
    mkt_screen_free(&s);
    mkt_topk_float32_only(pass_float32);
    free(dots);
    free(dots2);
    mkt_f32_rows_free(&r);
    free(q);
    free(b);
    free(x);
}

/* Rows the int8 codes handle badly: widely different norms in one block (one
 * row near 2^59 beside rows of 1e-30), zero rows, subnormal entries, one
 * large entry among small ones, exact duplicates; K = 16, 48, 512 (int8) and
 * 600 (float32 only). */
static void test_int8_rows(void **state)
{
    (void)state;
    mkt_rng g;
    mkt_rng_init(&g, 18, MKT_STREAM_GLOBAL, 0);
    const int64_t cols_list[] = {16, 48, 512, 600};
    for (int t = 0; t < 4; t++) {
        int64_t rows = t >= 2 ? 300 : 1500, cols = cols_list[t];
        double *q = random_rows(&g, rows, cols, 0.3), *b = random_rows(&g, rows, 1, 0.1);
        double *x = random_rows(&g, 1, cols, 0.3);
        for (int64_t j = 0; j < cols; j++) {
            q[3 * cols + j] *= 0x1p57;                          /* a huge row */
            q[4 * cols + j] *= 1e-30;                           /* a tiny one */
            q[5 * cols + j] = 0;                                /* zero */
            q[6 * cols + j] = j % 3 ? 0x1p-1070 : -0x1p-1060;   /* subnormal */
            q[8 * cols + j] = q[7 * cols + j];                  /* duplicates */
            q[9 * cols + j] = j == 0 ? 50.0 : q[9 * cols + j]; /* one large entry */
        }
        b[8] = b[7];
        mkt_f32_rows r;
        assert_int_equal(mkt_f32_rows_init(&r, q, b, rows, cols), 0);
        assert_true(r.ok);
        assert_int_equal(r.q8 != NULL, cols <= 512);
        mkt_f32_rows_free(&r);
        int32_t ex[3] = {3, 3, 9};
        const int64_t ks[] = {1, 10, 2 * rows};
        for (int i = 0; i < 3; i++) {
            check_same(q, b, rows, cols, x, 3.5, NULL, 0, ks[i]);
            check_same(q, b, rows, cols, x, 3.5, ex, 3, ks[i]);
            for (int64_t j = 0; j < cols; j++) /* the query along the huge row */
                x[j] = q[3 * cols + j] * 0x1p-57;
            check_same(q, NULL, rows, cols, x, 0.0, NULL, 0, ks[i]);
            for (int64_t j = 0; j < cols; j++) /* and with subnormal entries */
                x[j] = j % 2 ? 0x1p-1073 : 0.3;
            check_same(q, b, rows, cols, x, -2.0, ex, 3, ks[i]);
        }
        free(q);
        free(b);
        free(x);
    }
}

static void test_norm(void **state)
{
    (void)state;
    double a[3] = {3e200, 4e200, 0}, t[2] = {3e-200, 4e-200}, z[2] = {0, 0}, n[2] = {1, NAN};
    assert_true(fabs(mkt_norm2(a, 3) / 5e200 - 1) < 1e-15);
    assert_true(fabs(mkt_norm2(t, 2) / 5e-200 - 1) < 1e-15);
    assert_true(mkt_norm2(z, 2) == 0);
    assert_true(isnan(mkt_norm2(n, 2)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random),       cmocka_unit_test(test_bound_and_pruning),
        cmocka_unit_test(test_exact_ties),   cmocka_unit_test(test_near_ties),
        cmocka_unit_test(test_excluded_and_big_k), cmocka_unit_test(test_extreme_values),
        cmocka_unit_test(test_int8_bound),   cmocka_unit_test(test_int8_rows),
        cmocka_unit_test(test_norm),
    };
    int failed = 0;
    for (int pass = 0; pass < 4; pass++) {
        pass_float32 = pass >= 2; /* int8 screen, then the float32 one */
        pass_generic = pass % 2;  /* the CPU's kernels, then the portable ones */
        mkt_topk_float32_only(pass_float32);
        mkt_topk_generic_only(pass_generic);
        failed += cmocka_run_group_tests(tests, NULL, NULL);
    }
    return failed;
}
