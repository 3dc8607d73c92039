/* mf_gram.c — normal equations of an explicit ALS row (see mf_gram.h).
 *
 * The row's observations are gathered into XT, D rows of n8 doubles (n
 * rounded up to 8, padding zero): rows 0..k-1 the other side's factors, row
 * k ones (the bias column), row k+1 the targets t, the rest zero (D is k + 2
 * rounded up to 4).  G = XT·XTᵀ then holds A, b and tᵀt at once; it is
 * formed in 4x4 blocks of rows (AVX-512: sixteen 8-lane accumulators) or
 * 2x2 blocks (AVX2: two 4-lane halves each), or entry by entry (portable),
 * all with the same lane sums and the same final combination.
 *
 * The systems are solved by Cholesky: one at a time (mkt_mf_chol_solve), or
 * eight at a time interleaved lane-major (mkt_mf_chol_solve8), one system
 * per vector lane. */
#include "mf_gram.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define MKT_GRAM_X86 1
#endif

static int64_t pad8(int64_t n) { return (n + 7) & ~(int64_t)7; }
static int rows_of(int k) { return (k + 2 + 3) & ~3; }

int64_t mkt_mf_gram_scratch(int k, int64_t n)
{
    int64_t D = rows_of(k);
    return D * pad8(n) + 2 * pad8(n) + D * D + 8; /* + 8: room to align to 64 bytes */
}

mkt_gram_path mkt_mf_gram_best_path(void)
{
#ifdef MKT_GRAM_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f"))
        return MKT_GRAM_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return MKT_GRAM_AVX2;
#endif
    return MKT_GRAM_PORTABLE;
}

/* ---------- the gathers ---------- */

/* Ones, targets and zero rows; t_e = val[e] − mu − bias of the other row. */
static void gather_tail(int k, int D, int64_t n, int64_t n8, const int32_t *idx, const double *val, double mu,
                        const double *other, double *xt)
{
    double *ones = xt + (int64_t)k * n8, *t = ones + n8;
    for (int64_t e = 0; e < n; e++) {
        ones[e] = 1.0;
        t[e] = val[e] - mu - other[(int64_t)idx[e] * (k + 1) + k];
    }
    for (int64_t e = n; e < n8; e++)
        ones[e] = t[e] = 0;
    memset(t + n8, 0, sizeof(double) * (size_t)((D - k - 2) * n8));
}

static void gather_portable(int k, int stride, int64_t n, int64_t n8, const int32_t *idx, const double *other,
                            double *xt)
{
    for (int64_t e = 0; e < n; e++) {
        const double *row = other + (int64_t)idx[e] * stride;
        for (int c = 0; c < k; c++)
            xt[c * n8 + e] = row[c];
    }
    for (int c = 0; c < k; c++)
        for (int64_t e = n; e < n8; e++)
            xt[c * n8 + e] = 0;
}

#ifdef MKT_GRAM_X86
/* Eight observations at a time: eight 8-column pieces of their rows are
 * loaded together (eight independent memory reads in flight) and
 * transposed in registers. */
__attribute__((target("avx512f"))) static void gather_avx512(int k, int stride, int64_t n, int64_t n8,
                                                             const int32_t *idx, const double *other, double *xt)
{
    int k8 = k & ~7;
    for (int64_t e0 = 0; e0 < n8; e0 += 8) {
        const double *row[8];
        for (int q = 0; q < 8; q++)
            row[q] = e0 + q < n ? other + (int64_t)idx[e0 + q] * stride : NULL;
        /* the next group's rows are fetched while these are transposed */
        for (int64_t q = e0 + 8; q < e0 + 16 && q < n; q++) {
            const char *p = (const char *)(other + (int64_t)idx[q] * stride);
            for (int c = 0; c < stride * 8; c += 64)
                __builtin_prefetch(p + c);
            __builtin_prefetch(p + stride * 8 - 1);
        }
        for (int c = 0; c < k8; c += 8) {
            __m512d r[8];
            for (int q = 0; q < 8; q++)
                r[q] = row[q] ? _mm512_loadu_pd(row[q] + c) : _mm512_setzero_pd();
            __m512d t0 = _mm512_unpacklo_pd(r[0], r[1]), t1 = _mm512_unpackhi_pd(r[0], r[1]);
            __m512d t2 = _mm512_unpacklo_pd(r[2], r[3]), t3 = _mm512_unpackhi_pd(r[2], r[3]);
            __m512d t4 = _mm512_unpacklo_pd(r[4], r[5]), t5 = _mm512_unpackhi_pd(r[4], r[5]);
            __m512d t6 = _mm512_unpacklo_pd(r[6], r[7]), t7 = _mm512_unpackhi_pd(r[6], r[7]);
            __m512d u0 = _mm512_shuffle_f64x2(t0, t2, 0x88), u1 = _mm512_shuffle_f64x2(t1, t3, 0x88);
            __m512d u2 = _mm512_shuffle_f64x2(t0, t2, 0xdd), u3 = _mm512_shuffle_f64x2(t1, t3, 0xdd);
            __m512d u4 = _mm512_shuffle_f64x2(t4, t6, 0x88), u5 = _mm512_shuffle_f64x2(t5, t7, 0x88);
            __m512d u6 = _mm512_shuffle_f64x2(t4, t6, 0xdd), u7 = _mm512_shuffle_f64x2(t5, t7, 0xdd);
            double *o = xt + c * n8 + e0;
            _mm512_store_pd(o, _mm512_shuffle_f64x2(u0, u4, 0x88));
            _mm512_store_pd(o + n8, _mm512_shuffle_f64x2(u1, u5, 0x88));
            _mm512_store_pd(o + 2 * n8, _mm512_shuffle_f64x2(u2, u6, 0x88));
            _mm512_store_pd(o + 3 * n8, _mm512_shuffle_f64x2(u3, u7, 0x88));
            _mm512_store_pd(o + 4 * n8, _mm512_shuffle_f64x2(u0, u4, 0xdd));
            _mm512_store_pd(o + 5 * n8, _mm512_shuffle_f64x2(u1, u5, 0xdd));
            _mm512_store_pd(o + 6 * n8, _mm512_shuffle_f64x2(u2, u6, 0xdd));
            _mm512_store_pd(o + 7 * n8, _mm512_shuffle_f64x2(u3, u7, 0xdd));
        }
        for (int c = k8; c < k; c++)
            for (int q = 0; q < 8; q++)
                xt[c * n8 + e0 + q] = row[q] ? row[q][c] : 0.0;
    }
}
#endif

/* ---------- the products ---------- */

static inline __attribute__((always_inline)) double combine8(const double l[8]) { return ((l[0] + l[4]) + (l[2] + l[6])) + ((l[1] + l[5]) + (l[3] + l[7])); }

static void gram_portable(int D, int64_t n8, const double *xt, double *g)
{
    for (int i = 0; i < D; i++)
        for (int j = i; j < D; j++) {
            const double *x = xt + i * n8, *y = xt + j * n8;
            double l[8] = {0};
            for (int64_t e = 0; e < n8; e += 8)
                for (int q = 0; q < 8; q++)
                    l[q] = fma(x[e + q], y[e + q], l[q]);
            g[i * D + j] = combine8(l);
        }
}

#ifdef MKT_GRAM_X86
__attribute__((target("avx2,fma"))) static double combine_halves(__m256d lo, __m256d hi)
{
    __m256d h = _mm256_add_pd(lo, hi); /* (l0+l4, l1+l5, l2+l6, l3+l7) */
    __m128d q = _mm_add_pd(_mm256_castpd256_pd128(h), _mm256_extractf128_pd(h, 1));
    return _mm_cvtsd_f64(_mm_add_sd(q, _mm_unpackhi_pd(q, q)));
}

__attribute__((target("avx512f"))) static double combine512(__m512d v)
{
    __m256d h = _mm256_add_pd(_mm512_castpd512_pd256(v), _mm512_extractf64x4_pd(v, 1));
    __m128d q = _mm_add_pd(_mm256_castpd256_pd128(h), _mm256_extractf128_pd(h, 1));
    return _mm_cvtsd_f64(_mm_add_sd(q, _mm_unpackhi_pd(q, q)));
}

#define RB 4
__attribute__((target("avx512f"))) static void gram_avx512(int D, int64_t n8, const double *xt, double *g)
{
    for (int i0 = 0; i0 < D; i0 += RB)
        for (int j0 = i0; j0 < D; j0 += RB) {
            const double *xi = xt + i0 * n8, *xj = xt + j0 * n8;
            __m512d c00 = _mm512_setzero_pd(), c01 = c00, c02 = c00, c03 = c00, c10 = c00, c11 = c00, c12 = c00,
                    c13 = c00, c20 = c00, c21 = c00, c22 = c00, c23 = c00, c30 = c00, c31 = c00, c32 = c00, c33 = c00;
            for (int64_t e = 0; e < n8; e += 8) {
                __m512d a0 = _mm512_load_pd(xi + e), a1 = _mm512_load_pd(xi + n8 + e);
                __m512d a2 = _mm512_load_pd(xi + 2 * n8 + e), a3 = _mm512_load_pd(xi + 3 * n8 + e);
                __m512d b = _mm512_load_pd(xj + e);
                c00 = _mm512_fmadd_pd(a0, b, c00);
                c10 = _mm512_fmadd_pd(a1, b, c10);
                c20 = _mm512_fmadd_pd(a2, b, c20);
                c30 = _mm512_fmadd_pd(a3, b, c30);
                b = _mm512_load_pd(xj + n8 + e);
                c01 = _mm512_fmadd_pd(a0, b, c01);
                c11 = _mm512_fmadd_pd(a1, b, c11);
                c21 = _mm512_fmadd_pd(a2, b, c21);
                c31 = _mm512_fmadd_pd(a3, b, c31);
                b = _mm512_load_pd(xj + 2 * n8 + e);
                c02 = _mm512_fmadd_pd(a0, b, c02);
                c12 = _mm512_fmadd_pd(a1, b, c12);
                c22 = _mm512_fmadd_pd(a2, b, c22);
                c32 = _mm512_fmadd_pd(a3, b, c32);
                b = _mm512_load_pd(xj + 3 * n8 + e);
                c03 = _mm512_fmadd_pd(a0, b, c03);
                c13 = _mm512_fmadd_pd(a1, b, c13);
                c23 = _mm512_fmadd_pd(a2, b, c23);
                c33 = _mm512_fmadd_pd(a3, b, c33);
            }
            double *o = g + i0 * D + j0;
            o[0] = combine512(c00), o[1] = combine512(c01), o[2] = combine512(c02), o[3] = combine512(c03);
            o += D;
            o[0] = combine512(c10), o[1] = combine512(c11), o[2] = combine512(c12), o[3] = combine512(c13);
            o += D;
            o[0] = combine512(c20), o[1] = combine512(c21), o[2] = combine512(c22), o[3] = combine512(c23);
            o += D;
            o[0] = combine512(c30), o[1] = combine512(c31), o[2] = combine512(c32), o[3] = combine512(c33);
        }
}

/* 2x2 blocks, each entry as two 4-lane halves (lanes 0-3 and 4-7). */
__attribute__((target("avx2,fma"))) static void gram_avx2(int D, int64_t n8, const double *xt, double *g)
{
    for (int i0 = 0; i0 < D; i0 += 2)
        for (int j0 = i0; j0 < D; j0 += 2) {
            const double *x0 = xt + i0 * n8, *x1 = x0 + n8, *y0 = xt + j0 * n8, *y1 = y0 + n8;
            __m256d l00 = _mm256_setzero_pd(), h00 = l00, l01 = l00, h01 = l00, l10 = l00, h10 = l00, l11 = l00,
                    h11 = l00;
            for (int64_t e = 0; e < n8; e += 8) {
                __m256d a0l = _mm256_load_pd(x0 + e), a0h = _mm256_load_pd(x0 + e + 4);
                __m256d a1l = _mm256_load_pd(x1 + e), a1h = _mm256_load_pd(x1 + e + 4);
                __m256d bl = _mm256_load_pd(y0 + e), bh = _mm256_load_pd(y0 + e + 4);
                l00 = _mm256_fmadd_pd(a0l, bl, l00);
                h00 = _mm256_fmadd_pd(a0h, bh, h00);
                l10 = _mm256_fmadd_pd(a1l, bl, l10);
                h10 = _mm256_fmadd_pd(a1h, bh, h10);
                bl = _mm256_load_pd(y1 + e), bh = _mm256_load_pd(y1 + e + 4);
                l01 = _mm256_fmadd_pd(a0l, bl, l01);
                h01 = _mm256_fmadd_pd(a0h, bh, h01);
                l11 = _mm256_fmadd_pd(a1l, bl, l11);
                h11 = _mm256_fmadd_pd(a1h, bh, h11);
            }
            double *o = g + i0 * D + j0;
            o[0] = combine_halves(l00, h00), o[1] = combine_halves(l01, h01);
            o[D] = combine_halves(l10, h10), o[D + 1] = combine_halves(l11, h11);
        }
}
#endif

static void gather(mkt_gram_path path, int k, int stride, int64_t n, int64_t n8, const int32_t *idx,
                   const double *other, double *xt)
{
#ifdef MKT_GRAM_X86
    if (path == MKT_GRAM_AVX512) {
        gather_avx512(k, stride, n, n8, idx, other, xt);
        return;
    }
#endif
    (void)path;
    gather_portable(k, stride, n, n8, idx, other, xt);
}

static void gram(mkt_gram_path path, int D, int64_t n8, const double *xt, double *g)
{
#ifdef MKT_GRAM_X86
    if (path == MKT_GRAM_AVX512) {
        gram_avx512(D, n8, xt, g);
        return;
    }
    if (path == MKT_GRAM_AVX2) {
        gram_avx2(D, n8, xt, g);
        return;
    }
#endif
    (void)path;
    gram_portable(D, n8, xt, g);
}

void mkt_mf_normal_biased(mkt_gram_path path, int k, int64_t n, const int32_t *idx, const double *val, double mu,
                          const double *other, double *scratch, double *a, double *b, double *tt)
{
    if (path == MKT_GRAM_AUTO)
        path = mkt_mf_gram_best_path();
    int D = rows_of(k), d = k + 1;
    int64_t n8 = pad8(n);
    double *xt = (double *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    double *g = xt + D * n8;
    gather(path, k, k + 1, n, n8, idx, other, xt);
    gather_tail(k, D, n, n8, idx, val, mu, other, xt);
    gram(path, D, n8, xt, g);
    for (int i = 0; i < d; i++) {
        memcpy(a + i * d + i, g + i * D + i, sizeof(double) * (size_t)(d - i));
        b[i] = g[i * D + k + 1];
    }
    *tt = g[(k + 1) * D + k + 1];
}

/* Eight-lane dot product of two padded rows, combined as the products are. */
static inline __attribute__((always_inline)) double lane_dot(int64_t n8, const double *x, const double *y)
{
    double l[8] = {0};
    for (int64_t e = 0; e < n8; e += 8)
        for (int q = 0; q < 8; q++)
            l[q] = fma(x[e + q], y[e + q], l[q]);
    return combine8(l);
}

__attribute__((target_clones("avx512f", "avx2,fma", "default"))) void
mkt_mf_normal_implicit(mkt_gram_path path, int k, int64_t n, const int32_t *idx, const double *r, double alpha,
                            const double *y, double *scratch, double *a, double *b)
{
    if (path == MKT_GRAM_AUTO)
        path = mkt_mf_gram_best_path();
    int D = (k + 3) & ~3;
    int64_t n8 = pad8(n);
    double *xt = (double *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    double *c = xt + D * n8, *s = c + n8, *g = s + n8;
    gather(path, k, k, n, n8, idx, y, xt);
    memset(xt + k * n8, 0, sizeof(double) * (size_t)((D - k) * n8));
    for (int64_t e = 0; e < n8; e++) {
        c[e] = e < n ? 1.0 + alpha * r[e] : 0.0;
        s[e] = e < n ? sqrt(c[e] - 1.0) : 0.0;
    }
    for (int i = 0; i < k; i++)
        b[i] = lane_dot(n8, xt + i * n8, c);
    for (int i = 0; i < k; i++) {
        double *row = xt + i * n8;
        for (int64_t e = 0; e < n8; e++)
            row[e] *= s[e];
    }
    gram(path, D, n8, xt, g);
    for (int i = 0; i < k; i++)
        for (int j = i; j < k; j++)
            a[i * k + j] += g[i * D + j];
}

/* ---------- the solve ---------- */

/* y[i] −= s·x[i], element by element with fused multiply-add: the same bits
 * at any vector width. */
static inline __attribute__((always_inline)) void axpy_neg(int n, double s, const double *restrict x, double *restrict y)
{
    for (int i = 0; i < n; i++)
        y[i] = fma(-s, x[i], y[i]);
}

/* L z = b by columns of L (axpy updates), then Lᵀ x = z by 8-lane dot
 * products down the columns (no long chains of dependent additions). */
static inline __attribute__((always_inline)) int tri_solves(const double *a, int d, double *b)
{
    for (int p = 0; p < d; p++) {
        const double *cp = a + (int64_t)p * d;
        b[p] /= cp[p];
        axpy_neg(d - p - 1, b[p], cp + p + 1, b + p + 1);
    }
    for (int i = d - 1; i >= 0; i--) {
        /* x_i = (z_i − Σ_{p>i} L[p][i]·x_p) / L[i][i]: column i below the
         * diagonal is contiguous; eight lane sums, combined as in G */
        const double *ci = a + (int64_t)i * d;
        double l[8] = {0};
        int p = i + 1;
        for (; p + 8 <= d; p += 8)
            for (int q = 0; q < 8; q++)
                l[q] = fma(ci[p + q], b[p + q], l[q]);
        for (int q = 0; p < d; p++, q++)
            l[q] = fma(ci[p], b[p], l[q]);
        b[i] = (b[i] - combine8(l)) / ci[i];
    }
    return 0;
}

/* The same factorization column by column with axpy updates, for matrices
 * too large for the blocked copy. */
static inline __attribute__((always_inline)) int chol_solve_axpy(double *a, int d, double *b)
{
    for (int j = 0; j < d; j++) {
        double *cj = a + (int64_t)j * d;
        for (int p = 0; p < j; p++) {
            const double *cp = a + (int64_t)p * d;
            axpy_neg(d - j, cp[j], cp + j, cj + j);
        }
        if (!(cj[j] > 0))
            return j + 1;
        double l = sqrt(cj[j]);
        cj[j] = l;
        for (int i = j + 1; i < d; i++)
            cj[i] /= l;
    }
    return tri_solves(a, d, b);
}

/* Left-looking Cholesky A = LLᵀ of the column-major lower triangle, then
 * L z = b by columns and Lᵀ x = z by dot products taken in index order.
 * Columns are scaled by the reciprocal of their pivot, as LAPACK does.
 * Each entry of column j is updated by the earlier columns p = 0..j-1 with
 * fused multiply-adds, 32 rows at a time held in registers (the matrix is
 * copied into a column stride rounded up to 8); the last chunks of a
 * column, which have fewer independent rows, split the sum into four by
 * p mod 4, added as (s0 + s1) + (s2 + s3).  The order depends only on d, so every clone
 * gives the portable one's bits. */
static double *chol_buf; /* the padded copy; one per process (row solves are single-threaded) */
static size_t chol_len;

__attribute__((target_clones("avx512f", "avx2,fma", "default"))) int mkt_mf_chol_solve(double *a, int d, double *b)
{
    int ld = (d + 7) & ~7;
    size_t need = (size_t)d * (size_t)ld;
    if (need > chol_len) {
        double *p = realloc(chol_buf, need * sizeof *p);
        if (!p)
            return chol_solve_axpy(a, d, b);
        chol_buf = p;
        chol_len = need;
    }
    double *m = chol_buf;
    for (int j = 0; j < d; j++) {
        memcpy(m + j * ld, a + (int64_t)j * d, sizeof(double) * (size_t)d);
        for (int i = d; i < ld; i++)
            m[j * ld + i] = 0;
    }
    for (int j = 0; j < d; j++) {
        double *cj = m + j * ld;
        for (int i0 = j & ~7; i0 < d; i0 += 32) {
            if (i0 + 32 <= ld) { /* four independent 8-row chains */
                double acc[32];
                for (int q = 0; q < 32; q++)
                    acc[q] = cj[i0 + q];
                for (int p = 0; p < j; p++) {
                    const double *cp = m + p * ld + i0;
                    double s = -m[p * ld + j];
                    for (int q = 0; q < 32; q++)
                        acc[q] = fma(s, cp[q], acc[q]);
                }
                for (int q = 0; q < 32; q++)
                    cj[i0 + q] = acc[q];
                continue;
            }
            /* the last one to three 8-row chunks: four partial sums each
             * (p mod 4), so the dependent chains still overlap */
            for (int i1 = i0; i1 < ld; i1 += 8) {
                double s0[8], s1[8], s2[8], s3[8];
                for (int q = 0; q < 8; q++) {
                    s0[q] = cj[i1 + q];
                    s1[q] = s2[q] = s3[q] = 0;
                }
                int p = 0;
                for (; p + 4 <= j; p += 4) {
                    const double *c0 = m + p * ld + i1, *c1 = c0 + ld, *c2 = c1 + ld, *c3 = c2 + ld;
                    double f0 = -c0[j - i1], f1 = -c1[j - i1], f2 = -c2[j - i1], f3 = -c3[j - i1];
                    for (int q = 0; q < 8; q++)
                        s0[q] = fma(f0, c0[q], s0[q]);
                    for (int q = 0; q < 8; q++)
                        s1[q] = fma(f1, c1[q], s1[q]);
                    for (int q = 0; q < 8; q++)
                        s2[q] = fma(f2, c2[q], s2[q]);
                    for (int q = 0; q < 8; q++)
                        s3[q] = fma(f3, c3[q], s3[q]);
                }
                for (; p < j; p++) {
                    const double *c0 = m + p * ld + i1;
                    double f0 = -c0[j - i1];
                    for (int q = 0; q < 8; q++)
                        s0[q] = fma(f0, c0[q], s0[q]);
                }
                for (int q = 0; q < 8; q++)
                    cj[i1 + q] = (s0[q] + s1[q]) + (s2[q] + s3[q]);
            }
            break;
        }
        if (!(cj[j] > 0))
            return j + 1;
        double r = sqrt(cj[j]), inv = 1.0 / r;
        cj[j] = r;
        for (int i = j + 1; i < d; i++)
            cj[i] *= inv;
    }
    for (int j = 0; j < d; j++)
        memcpy(a + (int64_t)j * d + j, m + j * ld + j, sizeof(double) * (size_t)(d - j));
    return tri_solves(a, d, b);
}

/* ---------- eight systems at once ---------- */

int mkt_mf_chol8_dim(int d) { return (d + 3) & ~3; }

/* The update of a 4 x IB block of U (upper, lane-major, element (j, i) at
 * (j*D + i)*8): rows j0..j0+3, columns i0..i0+IB-1 lose Σ_{p<j0} U[p][j]·U[p][i],
 * p ascending, one fused multiply-add per lane and term (each loaded
 * element serves four products).  Entries below the diagonal and rows past
 * d are computed too, from the zeros put there first, and never used. */
static inline __attribute__((always_inline)) void chol8_block(int IB, double *u, int D, int j0,
                                                              int i0)
{
    double acc[4][4][8];
    for (int jr = 0; jr < 4; jr++)
        for (int ic = 0; ic < IB; ic++) {
            const double *s = u + ((int64_t)(j0 + jr) * D + i0 + ic) * 8;
            for (int l = 0; l < 8; l++)
                acc[jr][ic][l] = s[l];
        }
    for (int p = 0; p < j0; p++) {
        const double *up = u + (int64_t)p * D * 8;
        double uj[4][8], ui[4][8];
        for (int jr = 0; jr < 4; jr++)
            for (int l = 0; l < 8; l++)
                uj[jr][l] = -up[(j0 + jr) * 8 + l];
        for (int ic = 0; ic < IB; ic++)
            for (int l = 0; l < 8; l++)
                ui[ic][l] = up[(i0 + ic) * 8 + l];
        for (int jr = 0; jr < 4; jr++)
            for (int ic = 0; ic < IB; ic++)
                for (int l = 0; l < 8; l++)
                    acc[jr][ic][l] = fma(uj[jr][l], ui[ic][l], acc[jr][ic][l]);
    }
    for (int jr = 0; jr < 4; jr++)
        for (int ic = 0; ic < IB; ic++) {
            double *s = u + ((int64_t)(j0 + jr) * D + i0 + ic) * 8;
            for (int l = 0; l < 8; l++)
                s[l] = acc[jr][ic][l];
        }
}

#ifdef MKT_GRAM_X86
/* The same block with AVX-512 registers (sixteen accumulators, four row
 * and four column operands): the same operations, lane by lane. */
__attribute__((target("avx512f"), always_inline)) static inline void chol8_block512_t(int IB, double *u, int D,
                                                                                       int j0, int i0)
{
    __m512d acc[4][4];
    for (int jr = 0; jr < 4; jr++)
        for (int ic = 0; ic < IB; ic++)
            acc[jr][ic] = _mm512_load_pd(u + ((int64_t)(j0 + jr) * D + i0 + ic) * 8);
    for (int p = 0; p < j0; p++) {
        const double *up = u + (int64_t)p * D * 8;
        __m512d uj[4], ui[4];
        for (int jr = 0; jr < 4; jr++)
            uj[jr] = _mm512_load_pd(up + (j0 + jr) * 8);
        for (int ic = 0; ic < IB; ic++)
            ui[ic] = _mm512_load_pd(up + (i0 + ic) * 8);
        for (int jr = 0; jr < 4; jr++)
            for (int ic = 0; ic < IB; ic++)
                acc[jr][ic] = _mm512_fnmadd_pd(uj[jr], ui[ic], acc[jr][ic]);
    }
    for (int jr = 0; jr < 4; jr++)
        for (int ic = 0; ic < IB; ic++)
            _mm512_store_pd(u + ((int64_t)(j0 + jr) * D + i0 + ic) * 8, acc[jr][ic]);
}

__attribute__((target("avx512f"))) static void chol8_block512(int IB, double *u, int D, int j0, int i0)
{
    switch (IB) {
    case 4: chol8_block512_t(4, u, D, j0, i0); break;
    case 3: chol8_block512_t(3, u, D, j0, i0); break;
    case 2: chol8_block512_t(2, u, D, j0, i0); break;
    default: chol8_block512_t(1, u, D, j0, i0); break;
    }
}
#endif

static void chol8_block_any(int IB, double *u, int D, int j0, int i0)
{
    switch (IB) {
    case 4: chol8_block(4, u, D, j0, i0); break;
    case 3: chol8_block(3, u, D, j0, i0); break;
    case 2: chol8_block(2, u, D, j0, i0); break;
    default: chol8_block(1, u, D, j0, i0); break;
    }
}

/* One operation on the eight lanes of an element (restrict: the operands
 * never overlap, so each is one vector operation). */
static inline __attribute__((always_inline)) void lanes_fnma(double *restrict y, const double *restrict s,
                                                             const double *restrict x)
{
    for (int l = 0; l < 8; l++)
        y[l] = fma(-s[l], x[l], y[l]);
}

static inline __attribute__((always_inline)) void lanes_mul(double *restrict y, const double *restrict s)
{
    for (int l = 0; l < 8; l++)
        y[l] *= s[l];
}

static inline __attribute__((always_inline)) void lanes_div(double *restrict y, const double *restrict s)
{
    for (int l = 0; l < 8; l++)
        y[l] /= s[l];
}

static inline __attribute__((always_inline)) void lanes_zero(double *y) { memset(y, 0, sizeof(double) * 8); }

/* Blocked left-looking Cholesky UᵀU = A, four rows of U at a time: the
 * terms of the earlier rows by 4x4 blocks, then the four rows among
 * themselves.  Every entry U[j][i] is A[j][i] minus its terms p = 0..j-1 in
 * ascending order, in one chain of fused multiply-adds, then times
 * 1/U[j][j]: the blocking does not change the bits.  The solves run by
 * columns of U (independent updates, no long chains). */
__attribute__((target_clones("avx512f", "avx2,fma", "default"))) int mkt_mf_chol_solve8(double *a8, int d,
                                                                                      double *b8, int info[8])
{
    int D = mkt_mf_chol8_dim(d), bad = 0;
#ifdef MKT_GRAM_X86
    static int has512 = -1;
    if (has512 < 0)
        has512 = mkt_mf_gram_best_path() == MKT_GRAM_AVX512;
    int wide = has512 && ((uintptr_t)a8 & 63) == 0; /* the AVX-512 blocks load aligned */
#endif
#define EL(j, i) (a8 + ((int64_t)(j) * D + (i)) * 8)
    for (int l = 0; l < 8; l++)
        info[l] = 0;
    /* zeros where the 4x4 blocks reach outside the upper triangle: the
     * padding columns and rows, and below the diagonal of the diagonal
     * blocks */
    for (int p = 0; p < D; p++) {
        for (int i = p & ~3; i < p; i++)
            lanes_zero(EL(p, i));
        for (int i = p >= d ? p & ~3 : d; i < D; i++)
            lanes_zero(EL(p, i));
    }
    for (int j0 = 0; j0 < d; j0 += 4) {
        for (int i0 = j0; i0 < d; i0 += 4) {
            int ib = d - i0 < 4 ? d - i0 : 4;
#ifdef MKT_GRAM_X86
            if (wide) {
                chol8_block512(ib, a8, D, j0, i0);
                continue;
            }
#endif
            chol8_block_any(ib, a8, D, j0, i0);
        }
        int jb = d - j0 < 4 ? d - j0 : 4;
        for (int j = j0; j < j0 + jb; j++) {
            /* the pivot; a lane whose pivot is not positive is reported
             * and carries on with pivot 1 (its numbers are no longer used,
             * and no other lane reads them) */
            double *piv = EL(j, j), inv[8], s[8];
            for (int l = 0; l < 8; l++) {
                double x = piv[l];
                if (!(x > 0)) {
                    if (!info[l])
                        info[l] = j + 1;
                    bad = 1;
                    x = 1;
                }
                double r = sqrt(x);
                piv[l] = r;
                inv[l] = 1.0 / r;
            }
            for (int i = j + 1; i < d; i++)
                lanes_mul(EL(j, i), inv);
            /* row j's term in the later rows of the four */
            for (int q = j + 1; q < j0 + jb; q++) {
                memcpy(s, EL(j, q), sizeof s);
                for (int i = q; i < d; i++)
                    lanes_fnma(EL(q, i), s, EL(j, i));
            }
        }
    }
    /* Uᵀ z = b: z_p = b_p / U[p][p], then b_i −= U[p][i]·z_p below it */
    double z[8];
    for (int p = 0; p < d; p++) {
        lanes_div(b8 + p * 8, EL(p, p));
        memcpy(z, b8 + p * 8, sizeof z);
        for (int i = p + 1; i < d; i++)
            lanes_fnma(b8 + i * 8, z, EL(p, i));
    }
    /* U x = z: x_p = z_p / U[p][p], then z_i −= U[i][p]·x_p above it */
    for (int p = d - 1; p >= 0; p--) {
        lanes_div(b8 + p * 8, EL(p, p));
        memcpy(z, b8 + p * 8, sizeof z);
        for (int i = 0; i < p; i++)
            lanes_fnma(b8 + i * 8, z, EL(i, p));
    }
#undef EL
    return bad;
}
