/* test_scalapack_ls.c — the distributed least squares (mpi/scalapack_ls.c)
 * against a one-process LAPACKE_dgels solve of the same data.
 *
 * Run alone it is a one-rank test; under `mpirun -np N` (ctest
 * mpi.scalapack_ls.npN) every rank holds a block of rows (even blocks, and a
 * lopsided split where some ranks hold nothing) and every rank compares the
 * result with the serial reference it computes itself: coefficients and
 * residual sum of squares to 1e-8 relative, standard errors to 1e-8 relative
 * of sqrt(sigma2 diag((X'X + lambda I)^-1)) computed serially. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <lapacke.h>
#include <math.h>
#include <mpi.h>
#include <stdlib.h>
#include <string.h>

#include "iocheck.h"
#include "par.h"
#include "rng.h"
#include "scalapack_ls.h"

/* Row i of a deterministic design: intercept, normals, one skewed column. */
static void make_row(int64_t i, int d, double *x, double *y)
{
    mkt_rng r;
    mkt_rng_init(&r, 1234, MKT_STREAM_MODEL, (uint64_t)i);
    x[0] = 1;
    double f = 0.5;
    for (int j = 1; j < d; j++) {
        x[j] = j == d - 1 ? exp(mkt_rng_normal(&r)) : mkt_rng_normal(&r) * (1 + j);
        f += x[j] * (0.3 * j - 1.0);
    }
    *y = f + 0.7 * mkt_rng_normal(&r);
}

static double rel(double a, double b) { return fabs(a - b) / fmax(1.0, fmax(fabs(a), fabs(b))); }

/* Serial reference: dgels on [X; sqrt(lambda) I], [y; 0]. */
static void reference(int64_t n, int d, double lambda, double *coef, double *rss, double *se)
{
    int64_t m = n + (lambda > 0 ? d : 0);
    double *x = calloc((size_t)(m * d), sizeof(double)), *y = calloc((size_t)m, sizeof(double));
    for (int64_t i = 0; i < n; i++)
        make_row(i, d, x + i * d, y + i);
    for (int j = 0; j < d && lambda > 0; j++)
        x[(n + j) * d + j] = sqrt(lambda);
    double *xc = malloc(sizeof(double) * (size_t)(m * d)), *yc = malloc(sizeof(double) * (size_t)m);
    memcpy(xc, x, sizeof(double) * (size_t)(m * d));
    memcpy(yc, y, sizeof(double) * (size_t)m);
    assert_int_equal(LAPACKE_dgels(LAPACK_ROW_MAJOR, 'N', (int)m, d, 1, xc, d, yc, 1), 0);
    memcpy(coef, yc, sizeof(double) * (size_t)d);
    *rss = 0;
    for (int64_t i = 0; i < n; i++) {
        double f = 0;
        for (int j = 0; j < d; j++)
            f += x[i * d + j] * coef[j];
        *rss += (y[i] - f) * (y[i] - f);
    }
    /* (X'X + lambda I)^-1 = R^-1 R^-T from the augmented QR */
    double *g = calloc((size_t)(d * d), sizeof(double));
    for (int a = 0; a < d; a++)
        for (int b = 0; b < d; b++)
            for (int64_t i = 0; i < m; i++)
                g[a * d + b] += x[i * d + a] * x[i * d + b];
    assert_int_equal(LAPACKE_dpotrf(LAPACK_ROW_MAJOR, 'U', d, g, d), 0);
    assert_int_equal(LAPACKE_dpotri(LAPACK_ROW_MAJOR, 'U', d, g, d), 0);
    for (int j = 0; j < d; j++)
        se[j] = sqrt(*rss / (double)(n - d) * g[j * d + j]);
    free(g);
    free(x);
    free(y);
    free(xc);
    free(yc);
}

/* Solve with this rank holding rows [begin, end) and compare. */
static void check_split(int64_t n, int d, double lambda, mkt_ls_method method, int nb, int64_t begin, int64_t end)
{
    int64_t nl = end - begin;
    double *x = calloc((size_t)(nl * d + 1), sizeof(double)), *y = calloc((size_t)nl + 1, sizeof(double));
    for (int64_t i = 0; i < nl; i++)
        make_row(begin + i, d, x + i * d, y + i);
    mkt_ls_result res;
    mkt_ls_solve(x, y, nl, d, lambda, method, nb, MPI_COMM_WORLD, &res);
    double *coef = calloc((size_t)d, sizeof(double)), *se = calloc((size_t)d, sizeof(double)), rss = 0;
    reference(n, d, lambda, coef, &rss, se);
    assert_int_equal(res.n, n);
    for (int j = 0; j < d; j++) {
        if (rel(res.coef[j], coef[j]) > 1e-8)
            fail_msg("coef %d: %.17g vs serial %.17g (method %d, lambda %g, nb %d)", j, res.coef[j], coef[j],
                     (int)method, lambda, nb);
        if (rel(res.stderr_[j], se[j]) > 1e-8)
            fail_msg("stderr %d: %.17g vs serial %.17g", j, res.stderr_[j], se[j]);
    }
    if (fabs(res.rss - rss) > 1e-8 * rss)
        fail_msg("rss %.17g vs serial %.17g", res.rss, rss);
    mkt_ls_result_free(&res);
    free(coef);
    free(se);
    free(x);
    free(y);
}

static void even_split(int64_t n, int d, double lambda, mkt_ls_method method, int nb)
{
    mkt_block b = mkt_block_of(n, mkt_nranks(), mkt_rank());
    check_split(n, d, lambda, method, nb, b.begin, b.end);
}

static void test_gels_even(void **s)
{
    (void)s;
    even_split(1000, 6, 0, MKT_LS_GELS, 0);
    even_split(357, 9, 0, MKT_LS_GELS, 4); /* small blocks: many cyclic turns */
}

static void test_normal_even(void **s)
{
    (void)s;
    even_split(1000, 6, 0, MKT_LS_NORMAL, 0);
    even_split(357, 9, 0, MKT_LS_NORMAL, 4);
}

static void test_ridge(void **s)
{
    (void)s;
    even_split(500, 7, 2.5, MKT_LS_GELS, 8);
    even_split(500, 7, 2.5, MKT_LS_NORMAL, 8);
}

/* Rank 0 holds almost everything, the last rank the rest, others nothing. */
static void test_lopsided(void **s)
{
    (void)s;
    int64_t n = 211;
    int r = mkt_rank(), p = mkt_nranks();
    int64_t cut = p > 1 ? 200 : n;
    int64_t b = r == 0 ? 0 : (r == p - 1 ? cut : n), e = r == 0 ? cut : n;
    check_split(n, 5, 0, MKT_LS_GELS, 3, b, e);
    check_split(n, 5, 0, MKT_LS_NORMAL, 3, b, e);
}

static void test_method_parse(void **s)
{
    (void)s;
    mkt_ls_method m;
    assert_int_equal(mkt_ls_method_parse("gels", &m), 0);
    assert_int_equal(m, MKT_LS_GELS);
    assert_int_equal(mkt_ls_method_parse("normal", &m), 0);
    assert_int_equal(m, MKT_LS_NORMAL);
    assert_int_equal(mkt_ls_method_parse("qr", &m), -1);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    mkt_check_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_method_parse), cmocka_unit_test(test_gels_even), cmocka_unit_test(test_normal_even),
        cmocka_unit_test(test_ridge), cmocka_unit_test(test_lopsided)};
    int failed = cmocka_run_group_tests_name("scalapack least squares", tests, NULL, NULL);
    int any = 0;
    MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    MPI_Finalize();
    return any ? 1 : 0;
}
