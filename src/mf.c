/* mf.c — per-row ALS arithmetic (see mf.h): initialization, hold-out rule,
 * the biased explicit solve and the confidence-weighted implicit solve.
 * Normal equations are formed with BLAS (dsyrk, dgemv) on the row's gathered
 * observations in stored order (deterministic: the same bits on any rank) and
 * solved by Cholesky (LAPACKE_dposv). */
#include "mf.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

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

/* Symmetric fill of the upper triangle from the lower one (row-major). */
static void symmetrize(double *a, int d)
{
    for (int i = 0; i < d; i++)
        for (int j = 0; j < i; j++)
            a[j * d + i] = a[i * d + j];
}

/* The row's normal equations are formed with level-3 BLAS: the other side's
 * factor rows of the n observations are gathered into X (n x d), then
 * A = XᵀX (dsyrk) and b = Xᵀt (dgemv).  The result depends only on the row's
 * observations in stored order, never on the rank that solves it. */
int mkt_mf_solve_biased(int k, int64_t n, const int32_t *idx, const double *val, double mu, const double *other,
                        double lambda, double *out)
{
    int d = k + 1;
    if (n == 0) {
        memset(out, 0, sizeof(double) * (size_t)d);
        return 0;
    }
    double *x = scratch_get((size_t)n * (size_t)(d + 1) + (size_t)(d * d + d));
    double *t = x + (size_t)n * (size_t)d;
    double *a = t + n;
    double *b = a + d * d;
    for (int64_t e = 0; e < n; e++) {
        const double *o = other + (int64_t)idx[e] * d;
        double *row = x + e * d;
        memcpy(row, o, sizeof(double) * (size_t)k);
        row[k] = 1.0;
        t[e] = val[e] - mu - o[k];
    }
    cblas_dsyrk(CblasRowMajor, CblasLower, CblasTrans, d, (int)n, 1.0, x, d, 0.0, a, d);
    cblas_dgemv(CblasRowMajor, CblasTrans, (int)n, d, 1.0, x, d, t, 1, 0.0, b, 1);
    for (int i = 0; i < d; i++)
        a[i * d + i] += lambda * (double)n;
    symmetrize(a, d);
    int info = LAPACKE_dposv(LAPACK_ROW_MAJOR, 'L', d, 1, a, d, b, 1);
    memcpy(out, b, sizeof(double) * (size_t)d);
    return info;
}

void mkt_mf_gram(const double *y, int64_t n, int k, double *g)
{
    memset(g, 0, sizeof(double) * (size_t)(k * k));
    if (n > 0)
        cblas_dsyrk(CblasRowMajor, CblasLower, CblasTrans, k, (int)n, 1.0, y, k, 0.0, g, k);
    symmetrize(g, k);
}

/* A = YᵀY + Xᵀ(C − I)X + λI with X the row's observed item factors: the
 * weighted part is XsᵀXs with Xs's rows scaled by sqrt(c − 1) (c ≥ 1). */
int mkt_mf_solve_implicit(int k, int64_t n, const int32_t *idx, const double *r, const double *y, const double *gram,
                          double alpha, double lambda, double *out)
{
    double *xs = scratch_get((size_t)n * (size_t)(k + 1) + (size_t)(k * k + k));
    double *c = xs + (size_t)n * (size_t)k;
    double *a = c + n;
    double *b = a + k * k;
    memcpy(a, gram, sizeof(double) * (size_t)(k * k));
    memset(b, 0, sizeof(double) * (size_t)k);
    for (int64_t e = 0; e < n; e++) {
        const double *v = y + (int64_t)idx[e] * k;
        double ce = 1.0 + alpha * r[e], s = sqrt(ce - 1.0);
        double *row = xs + e * k;
        for (int i = 0; i < k; i++) {
            row[i] = s * v[i];
            b[i] += ce * v[i];
        }
        c[e] = ce;
    }
    if (n > 0)
        cblas_dsyrk(CblasRowMajor, CblasLower, CblasTrans, k, (int)n, 1.0, xs, k, 1.0, a, k);
    for (int i = 0; i < k; i++)
        a[i * k + i] += lambda;
    symmetrize(a, k);
    int info = LAPACKE_dposv(LAPACK_ROW_MAJOR, 'L', k, 1, a, k, b, 1);
    memcpy(out, b, sizeof(double) * (size_t)k);
    return info;
}
