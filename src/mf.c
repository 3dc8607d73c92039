/* mf.c — per-row ALS arithmetic (see mf.h): initialization, hold-out rule,
 * the biased explicit solve and the confidence-weighted implicit solve.
 * Normal equations are formed from the row's gathered observations in stored
 * order (deterministic: the same bits on any rank) — explicit rows by the
 * kernel in mf_gram.c, implicit rows with BLAS (dsyrk, dgemv) — and solved
 * by Cholesky (LAPACK dpotrf), or for implicit rows optionally by a few
 * conjugate-gradient steps that never form the matrix. */
#include "mf.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mf_gram.h"
#include "rng.h"

void mkt_mf_init_factors(double *f, int64_t first, int64_t n, int k, int stride, uint64_t seed, uint64_t salt)
{
    for (int64_t r = 0; r < n; r++) {
        mkt_rng g;
        mkt_rng_init(&g, seed, MKT_STREAM_MODEL, salt + (uint64_t)(first + r));
        double *row = f + r * stride;
        for (int j = 0; j < k; j++)
            row[j] = 0.1 * mkt_rng_normal(&g);
        for (int j = k; j < stride; j++)
            row[j] = 0;
    }
}

int mkt_mf_is_holdout(uint64_t seed, int64_t order, double frac)
{
    uint64_t h = mkt_hash64(mkt_hash64(seed ^ 0x6d66686f6c646f75ULL) ^ (uint64_t)order);
    double u = (double)(h >> 11) * 0x1.0p-53;
    return u < frac;
}

double mkt_mf_dot(const double *a, const double *b, int k)
{
    double s = 0;
    for (int j = 0; j < k; j++)
        s += a[j] * b[j];
    return s;
}

/* Scratch for one row's gathered observations (n x d), grown as needed.
 * Each rank is single-threaded in the solves, so one buffer per process. */
static double *scratch;
static size_t scratch_len;

static double *scratch_get(size_t n)
{
    if (n > scratch_len) {
        free(scratch);
        scratch_len = n + n / 2;
        scratch = malloc(sizeof(double) * scratch_len);
        if (!scratch)
            abort();
    }
    return scratch;
}

/* The instruction set of the normal-equation kernel, chosen once. */
static mkt_gram_path gram_path(void)
{
    static mkt_gram_path path = MKT_GRAM_AUTO;
    if (path == MKT_GRAM_AUTO)
        path = mkt_mf_gram_best_path();
    return path;
}

/* Solves A x = b in place (b becomes x) for the symmetric positive definite
 * d x d matrix whose column-major lower triangle (row-major upper) is in a;
 * returns 0 or the position of the first non-positive pivot. */
static int chol_solve(double *a, int d, double *b) { return mkt_mf_chol_solve(a, d, b); }

/* The gathers read rows of the other side at random: the rows PREFETCH_ROWS
 * ahead are fetched (every cache line of them) while the current one is
 * copied. */
#define PREFETCH_ROWS 8

static void prefetch_row(const double *row, int d)
{
    for (int i = 0; i < d; i += 8)
        __builtin_prefetch(row + i);
    __builtin_prefetch(row + d - 1);
}

/* Symmetric fill of the upper triangle from the lower one (row-major). */
static void symmetrize(double *a, int d)
{
    for (int i = 0; i < d; i++)
        for (int j = 0; j < i; j++)
            a[j * d + i] = a[i * d + j];
}

/* The row's normal equations A = XᵀX and b = Xᵀt come from the transposed
 * gather and register-blocked products of mf_gram.c (the same bits on
 * every rank and instruction set).  They are written to the upper triangle
 * of the row-major A, which is the lower triangle of the same memory read
 * column-major: the Cholesky solve runs column-major on 'L' (no
 * transposition, no symmetric fill). */
int mkt_mf_solve_biased(int k, int64_t n, const int32_t *idx, const double *val, double mu, const double *other,
                        double lambda, double *out, double *sse)
{
    int d = k + 1;
    if (sse)
        *sse = 0;
    if (n == 0) {
        memset(out, 0, sizeof(double) * (size_t)d);
        return 0;
    }
    int64_t gs = mkt_mf_gram_scratch(k, n);
    double *a = scratch_get((size_t)gs + (size_t)(d * d + 2 * d));
    double *b = a + d * d;
    double *b0 = b + d;
    double tt;
    mkt_mf_normal_biased(gram_path(), k, n, idx, val, mu, other, b0 + d, a, b, &tt);
    double reg = lambda * (double)n;
    for (int i = 0; i < d; i++)
        a[i * d + i] += reg;
    memcpy(b0, b, sizeof(double) * (size_t)d);
    int info = chol_solve(a, d, b);
    memcpy(out, b, sizeof(double) * (size_t)d);
    if (sse && info == 0) {
        /* |t − Xw|² = tᵀt − 2wᵀb0 + wᵀXᵀXw and (XᵀX + reg·I)w = b0 */
        double wb = 0, ww = 0;
        for (int i = 0; i < d; i++) {
            wb += b[i] * b0[i];
            ww += b[i] * b[i];
        }
        double v = tt - wb - reg * ww;
        *sse = v > 0 ? v : 0;
    }
    return info;
}

void mkt_mf_gram(const double *y, int64_t n, int k, double *g)
{
    memset(g, 0, sizeof(double) * (size_t)(k * k));
    if (n > 0)
        cblas_dsyrk(CblasRowMajor, CblasLower, CblasTrans, k, (int)n, 1.0, y, k, 0.0, g, k);
    symmetrize(g, k);
}

/* Gathers the row's observed factors scaled by sqrt(c − 1) into xs (n x k)
 * and b = sum c·y; c[e] = 1 + alpha·r[e]. */
static void implicit_gather(int k, int64_t n, const int32_t *idx, const double *r, const double *y, double alpha,
                            double *xs, double *c, double *b)
{
    memset(b, 0, sizeof(double) * (size_t)k);
    for (int64_t e = 0; e < n; e++) {
        if (e + PREFETCH_ROWS < n)
            prefetch_row(y + (int64_t)idx[e + PREFETCH_ROWS] * k, k);
        const double *v = y + (int64_t)idx[e] * k;
        double ce = 1.0 + alpha * r[e], s = sqrt(ce - 1.0);
        double *row = xs + e * k;
        for (int i = 0; i < k; i++) {
            row[i] = s * v[i];
            b[i] += ce * v[i];
        }
        c[e] = ce;
    }
}

/* A = YᵀY + Xᵀ(C − I)X + λI with X the row's observed item factors: the
 * weighted part is XsᵀXs with Xs's rows scaled by sqrt(c − 1) (c ≥ 1). */
int mkt_mf_solve_implicit(int k, int64_t n, const int32_t *idx, const double *r, const double *y, const double *gram,
                          double alpha, double lambda, double *out)
{
    double *a = scratch_get((size_t)mkt_mf_gram_scratch(k, n) + (size_t)(k * k + k));
    double *b = a + k * k;
    memcpy(a, gram, sizeof(double) * (size_t)(k * k));
    if (n > 0)
        mkt_mf_normal_implicit(gram_path(), k, n, idx, r, alpha, y, b + k, a, b);
    else
        memset(b, 0, sizeof(double) * (size_t)k);
    for (int i = 0; i < k; i++)
        a[i * k + i] += lambda;
    int info = chol_solve(a, k, b);
    memcpy(out, b, sizeof(double) * (size_t)k);
    return info;
}

/* q = (G + XsᵀXs + λI) p without forming the matrix: G p by dgemv (G is
 * full and symmetric), then Xsᵀ(Xs p) by two dgemv on the n gathered rows. */
static void implicit_matvec(int k, int64_t n, const double *xs, const double *gram, double lambda, const double *p,
                            double *tmp, double *q)
{
    cblas_dgemv(CblasRowMajor, CblasNoTrans, k, k, 1.0, gram, k, p, 1, 0.0, q, 1);
    if (n > 0) {
        cblas_dgemv(CblasRowMajor, CblasNoTrans, (int)n, k, 1.0, xs, k, p, 1, 0.0, tmp, 1);
        cblas_dgemv(CblasRowMajor, CblasTrans, (int)n, k, 1.0, xs, k, tmp, 1, 1.0, q, 1);
    }
    for (int i = 0; i < k; i++)
        q[i] += lambda * p[i];
}

/* Conjugate gradient on the same system, `iters` steps from the warm start
 * in x (Takács, Pilászy, Tikk 2011): each step costs a k x k and two n x k
 * matrix-vector products instead of the n·k² of forming A. */
int mkt_mf_solve_implicit_cg(int k, int64_t n, const int32_t *idx, const double *r, const double *y,
                             const double *gram, double alpha, double lambda, int iters, double *x)
{
    double *xs = scratch_get((size_t)n * (size_t)(k + 2) + (size_t)(4 * k));
    double *c = xs + (size_t)n * (size_t)k;
    double *tmp = c + n;
    double *b = tmp + n, *res = b + k, *p = res + k, *q = p + k;
    implicit_gather(k, n, idx, r, y, alpha, xs, c, b);
    implicit_matvec(k, n, xs, gram, lambda, x, tmp, q);
    double rs = 0;
    for (int i = 0; i < k; i++) {
        res[i] = b[i] - q[i];
        p[i] = res[i];
        rs += res[i] * res[i];
    }
    for (int it = 0; it < iters && rs > 0; it++) {
        implicit_matvec(k, n, xs, gram, lambda, p, tmp, q);
        double pq = 0;
        for (int i = 0; i < k; i++)
            pq += p[i] * q[i];
        if (!(pq > 0))
            return 1; /* not positive definite */
        double step = rs / pq, rs2 = 0;
        for (int i = 0; i < k; i++) {
            x[i] += step * p[i];
            res[i] -= step * q[i];
            rs2 += res[i] * res[i];
        }
        double beta = rs2 / rs;
        for (int i = 0; i < k; i++)
            p[i] = res[i] + beta * p[i];
        rs = rs2;
    }
    return 0;
}
