/* mf.c — per-row ALS arithmetic (see mf.h): initialization, hold-out rule,
 * the biased explicit solve and the confidence-weighted implicit solve.
 * Normal equations are formed from the row's gathered observations in stored
 * order (deterministic: the same bits on any rank) by the kernels in
 * mf_gram.c, and solved eight rows at a time by a lane-major Cholesky (one
 * system per vector lane), or for implicit rows optionally by a few
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

int mkt_mf_is_validation(uint64_t seed, int64_t order, double frac)
{
    uint64_t h = mkt_hash64(mkt_hash64(seed ^ 0x6d6676616c696461ULL) ^ (uint64_t)order);
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

/* The identity system with b = 0 (an unused lane, or a row without
 * observations), upper triangle. */
static void identity_system(double *a, double *b, int d)
{
    for (int i = 0; i < d; i++) {
        for (int j = i; j < d; j++)
            a[i * d + j] = i == j ? 1.0 : 0.0;
        b[i] = 0;
    }
}

/* Interleaves the eight systems al + l·d·d (row-major upper triangles) and
 * bl + l·d lane-major into a8 and b8 (element by element, each store a
 * whole cache line) and solves them together; b8 gets the solutions. */
static void solve_lanes(int d, const double *al, const double *bl, double *a8, double *b8, int info[8])
{
    int D = mkt_mf_chol8_dim(d);
    size_t dd = (size_t)d * (size_t)d;
    for (int i = 0; i < d; i++) {
        for (int j = i; j < d; j++) {
            double *e = a8 + ((size_t)i * D + j) * 8;
            for (int l = 0; l < 8; l++)
                e[l] = al[l * dd + (size_t)(i * d + j)];
        }
        for (int l = 0; l < 8; l++)
            b8[i * 8 + l] = bl[l * d + i];
    }
    mkt_mf_chol_solve8(a8, d, b8, info);
}

/* The buffers of a batch of up to eight rows whose systems have d unknowns
 * (products at rank k): the interleaved systems a8 (64-byte aligned) and
 * b8, the eight rows' own A and b (b kept for the explicit error), and the
 * products' scratch for the batch's longest row. */
typedef struct {
    double *a8, *b8, *al, *bl, *gs;
} batch_buf;

static batch_buf batch_buffers(int k, int d, int nr, const int64_t *ptr)
{
    int D = mkt_mf_chol8_dim(d);
    int64_t nmax = 0;
    for (int l = 0; l < nr; l++)
        if (ptr[l + 1] - ptr[l] > nmax)
            nmax = ptr[l + 1] - ptr[l];
    size_t dd = (size_t)d * (size_t)d, DD = (size_t)D * (size_t)D;
    double *base = scratch_get(8 + 8 * DD + 8 * (size_t)d + 8 * dd + 8 * (size_t)d +
                               (size_t)mkt_mf_gram_scratch(k, nmax));
    batch_buf bb;
    bb.a8 = (double *)(((uintptr_t)base + 63) & ~(uintptr_t)63);
    bb.b8 = bb.a8 + 8 * DD;
    bb.al = bb.b8 + 8 * d;
    bb.bl = bb.al + 8 * dd;
    bb.gs = bb.bl + 8 * d;
    return bb;
}

/* Lane l's solution (d values of b8) to row l of out, for the nr rows;
 * returns the first failing row's pivot code (0: none) and its place in *bad. */
static int lanes_out(int d, int nr, const double *b8, const int *info, double *out, int *bad)
{
    int first = 0;
    for (int l = 0; l < nr; l++) {
        double *x = out + (int64_t)l * d;
        for (int i = 0; i < d; i++)
            x[i] = b8[i * 8 + l];
        if (info[l] != 0 && first == 0) {
            first = info[l];
            if (bad)
                *bad = l;
        }
    }
    return first;
}

/* Each row's normal equations A = XᵀX and b = Xᵀt come from the transposed
 * gather and register-blocked products of mf_gram.c (the same bits on
 * every rank and instruction set), written to the upper triangle of a
 * row-major A.  Up to eight rows' systems are then interleaved lane-major
 * (element by element, each store a whole cache line) and solved together
 * by mkt_mf_chol_solve8, every operation one 8-lane vector operation; a
 * lane's result depends only on its own system, so a row gets the same
 * bits whichever rows share its batch. */
int mkt_mf_solve_biased_rows(int k, int nr, const int64_t *ptr, const int32_t *idx, const double *val, double mu,
                             const double *other, double lambda, double *out, double *sse, int *bad)
{
    int d = k + 1;
    size_t dd = (size_t)d * (size_t)d;
    batch_buf bb = batch_buffers(k, d, nr, ptr);
    double *a8 = bb.a8, *b8 = bb.b8, *al = bb.al, *bl = bb.bl, *gs = bb.gs;
    double tt[8] = {0}, reg[8] = {0};
    for (int l = 0; l < 8; l++) {
        int64_t n = l < nr ? ptr[l + 1] - ptr[l] : 0;
        double *a = al + l * dd, *b = bl + l * d;
        if (n == 0) {
            identity_system(a, b, d);
            continue;
        }
        mkt_mf_normal_biased(gram_path(), k, n, idx + ptr[l], val + ptr[l], mu, other, gs, a, b, &tt[l]);
        reg[l] = lambda * (double)n;
        for (int i = 0; i < d; i++)
            a[i * d + i] += reg[l];
    }
    int info[8];
    solve_lanes(d, al, bl, a8, b8, info);
    int first = lanes_out(d, nr, b8, info, out, bad);
    for (int l = 0; l < nr && sse; l++) {
        const double *w = out + (int64_t)l * d, *b0 = bl + l * d;
        sse[l] = 0;
        if (info[l] == 0 && ptr[l + 1] > ptr[l]) {
            /* |t − Xw|² = tᵀt − 2wᵀb0 + wᵀXᵀXw and (XᵀX + reg·I)w = b0 */
            double wb = 0, ww = 0;
            for (int i = 0; i < d; i++) {
                wb += w[i] * b0[i];
                ww += w[i] * w[i];
            }
            double v = tt[l] - wb - reg[l] * ww;
            sse[l] = v > 0 ? v : 0;
        }
    }
    return first;
}

int mkt_mf_solve_biased(int k, int64_t n, const int32_t *idx, const double *val, double mu, const double *other,
                        double lambda, double *out, double *sse)
{
    int64_t ptr[2] = {0, n};
    double e2 = 0;
    int info = mkt_mf_solve_biased_rows(k, 1, ptr, idx, val, mu, other, lambda, out, &e2, NULL);
    if (sse)
        *sse = e2;
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
 * weighted part is XsᵀXs with Xs's rows scaled by sqrt(c − 1) (c ≥ 1).
 * Up to eight rows are solved together, one per lane, as for the explicit
 * rows. */
int mkt_mf_solve_implicit_rows(int k, int nr, const int64_t *ptr, const int32_t *idx, const double *r,
                               const double *y, const double *gram, double alpha, double lambda, double *out,
                               int *bad)
{
    size_t kk = (size_t)k * (size_t)k;
    batch_buf bb = batch_buffers(k, k, nr, ptr);
    double *a8 = bb.a8, *b8 = bb.b8, *al = bb.al, *bl = bb.bl, *gs = bb.gs;
    for (int l = 0; l < 8; l++) {
        double *a = al + l * kk, *b = bl + l * k;
        if (l >= nr) {
            identity_system(a, b, k);
            continue;
        }
        int64_t n = ptr[l + 1] - ptr[l];
        memcpy(a, gram, sizeof(double) * kk);
        if (n > 0)
            mkt_mf_normal_implicit(gram_path(), k, n, idx + ptr[l], r + ptr[l], alpha, y, gs, a, b);
        else
            memset(b, 0, sizeof(double) * (size_t)k);
        for (int i = 0; i < k; i++)
            a[i * k + i] += lambda;
    }
    int info[8];
    solve_lanes(k, al, bl, a8, b8, info);
    return lanes_out(k, nr, b8, info, out, bad);
}

int mkt_mf_solve_implicit(int k, int64_t n, const int32_t *idx, const double *r, const double *y, const double *gram,
                          double alpha, double lambda, double *out)
{
    int64_t ptr[2] = {0, n};
    return mkt_mf_solve_implicit_rows(k, 1, ptr, idx, r, y, gram, alpha, lambda, out, NULL);
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
