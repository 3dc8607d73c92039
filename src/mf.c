/* mf.c — per-row ALS arithmetic (see mf.h): initialization, hold-out rule,
 * the biased explicit solve and the confidence-weighted implicit solve.
 * Normal equations are accumulated with plain loops in observation order
 * (deterministic) and solved by Cholesky (LAPACKE_dposv). */
#include "mf.h"

#include <lapacke.h>
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

int mkt_mf_solve_biased(int k, int64_t n, const int32_t *idx, const double *val, double mu, const double *other,
                        double lambda, double *out)
{
    int d = k + 1;
    if (n == 0) {
        memset(out, 0, sizeof(double) * (size_t)d);
        return 0;
    }
    double *a = calloc((size_t)(d * d + d), sizeof(double));
    if (!a)
        abort();
    double *b = a + d * d;
    double x[d];
    for (int64_t e = 0; e < n; e++) {
        const double *o = other + (int64_t)idx[e] * d;
        memcpy(x, o, sizeof(double) * (size_t)k);
        x[k] = 1.0;
        double t = val[e] - mu - o[k];
        for (int i = 0; i < d; i++) {
            b[i] += x[i] * t;
            for (int j = 0; j <= i; j++)
                a[i * d + j] += x[i] * x[j];
        }
    }
    for (int i = 0; i < d; i++) {
        a[i * d + i] += lambda * (double)n;
        for (int j = 0; j < i; j++)
            a[j * d + i] = a[i * d + j];
    }
    int info = LAPACKE_dposv(LAPACK_ROW_MAJOR, 'L', d, 1, a, d, b, 1);
    memcpy(out, b, sizeof(double) * (size_t)d);
    free(a);
    return info;
}

void mkt_mf_gram(const double *y, int64_t n, int k, double *g)
{
    memset(g, 0, sizeof(double) * (size_t)(k * k));
    for (int64_t r = 0; r < n; r++) {
        const double *v = y + r * k;
        for (int i = 0; i < k; i++)
            for (int j = 0; j <= i; j++)
                g[i * k + j] += v[i] * v[j];
    }
    for (int i = 0; i < k; i++)
        for (int j = 0; j < i; j++)
            g[j * k + i] = g[i * k + j];
}

int mkt_mf_solve_implicit(int k, int64_t n, const int32_t *idx, const double *r, const double *y, const double *gram,
                          double alpha, double lambda, double *out)
{
    double *a = malloc(sizeof(double) * (size_t)(k * k + k));
    if (!a)
        abort();
    double *b = a + k * k;
    memcpy(a, gram, sizeof(double) * (size_t)(k * k));
    memset(b, 0, sizeof(double) * (size_t)k);
    for (int64_t e = 0; e < n; e++) {
        const double *v = y + (int64_t)idx[e] * k;
        double c = 1.0 + alpha * r[e];
        for (int i = 0; i < k; i++) {
            b[i] += c * v[i];
            for (int j = 0; j <= i; j++)
                a[i * k + j] += (c - 1.0) * v[i] * v[j];
        }
    }
    for (int i = 0; i < k; i++) {
        a[i * k + i] += lambda;
        for (int j = 0; j < i; j++)
            a[j * k + i] = a[i * k + j];
    }
    int info = LAPACKE_dposv(LAPACK_ROW_MAJOR, 'L', k, 1, a, k, b, 1);
    memcpy(out, b, sizeof(double) * (size_t)k);
    free(a);
    return info;
}
