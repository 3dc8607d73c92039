/* scalapack_ls.c — distributed least squares on a P x 1 BLACS grid.
 *
 * Owns the BLACS grid of one solve, the move of each rank's contiguous rows
 * into ScaLAPACK's block-cyclic row layout, the PDGELS / normal-equation
 * solves, and the statistics every rank receives (coefficients, residual sum
 * of squares, standard errors).  Must not know what the columns mean.
 *
 * Layout: global row i (0-based, rows of rank r follow those of rank r-1)
 * lives in process row (i / nb) mod P at local row (i / (nb P)) nb + i mod nb;
 * all d columns are on the grid's one process column.  Rows travel with one
 * MPI_Alltoallv carrying (i, x_i, y_i).
 *
 * Statistics: the residual sum of squares is an exact sum (mkt_xsum) of the
 * residuals of the original rows; the standard errors come from X'X reduced
 * over the ranks and inverted (LAPACK dpotrf/dpotri) on rank 0, then
 * broadcast, so every rank holds the same bits. */
#include "scalapack_ls.h"

#include <cblas.h>
#include <lapacke.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "exactsum.h"
#include "par.h"

/* BLACS and ScaLAPACK (Fortran calling convention), declared by hand. */
extern int Csys2blacs_handle(MPI_Comm comm);
extern void Cfree_blacs_system_handle(int handle);
extern void Cblacs_gridinit(int *ctxt, const char *order, int nprow, int npcol);
extern void Cblacs_gridinfo(int ctxt, int *nprow, int *npcol, int *myrow, int *mycol);
extern void Cblacs_gridexit(int ctxt);
extern int numroc_(const int *n, const int *nb, const int *iproc, const int *isrcproc, const int *nprocs);
extern void descinit_(int *desc, const int *m, const int *n, const int *mb, const int *nb, const int *irsrc,
                      const int *icsrc, const int *ictxt, const int *lld, int *info);
extern void pdgels_(const char *trans, const int *m, const int *n, const int *nrhs, double *a, const int *ia,
                    const int *ja, const int *desca, double *b, const int *ib, const int *jb, const int *descb,
                    double *work, const int *lwork, int *info);
extern void pdsyrk_(const char *uplo, const char *trans, const int *n, const int *k, const double *alpha,
                    const double *a, const int *ia, const int *ja, const int *desca, const double *beta, double *c,
                    const int *ic, const int *jc, const int *descc);
extern void pdgemm_(const char *transa, const char *transb, const int *m, const int *n, const int *k,
                    const double *alpha, const double *a, const int *ia, const int *ja, const int *desca,
                    const double *b, const int *ib, const int *jb, const int *descb, const double *beta, double *c,
                    const int *ic, const int *jc, const int *descc);
extern void pdpotrf_(const char *uplo, const int *n, double *a, const int *ia, const int *ja, const int *desca,
                     int *info);
extern void pdpotrs_(const char *uplo, const int *n, const int *nrhs, const double *a, const int *ia, const int *ja,
                     const int *desca, double *b, const int *ib, const int *jb, const int *descb, int *info);

int mkt_ls_method_parse(const char *s, mkt_ls_method *m)
{
    if (s && !strcmp(s, "gels")) {
        *m = MKT_LS_GELS;
        return 0;
    }
    if (s && !strcmp(s, "normal")) {
        *m = MKT_LS_NORMAL;
        return 0;
    }
    return -1;
}

void mkt_ls_result_free(mkt_ls_result *res)
{
    free(res->coef);
    free(res->stderr_);
    memset(res, 0, sizeof *res);
}

/* A P x 1 grid over comm and, for each process row, the comm rank holding it. */
typedef struct {
    int handle, ctx, nprow, myrow;
    int *rank_of_row;
} grid;

static void grid_open(grid *g, MPI_Comm comm)
{
    int nranks, mycol, npcol;
    MKT_MPI(MPI_Comm_size(comm, &nranks));
    g->handle = Csys2blacs_handle(comm);
    g->ctx = g->handle;
    Cblacs_gridinit(&g->ctx, "R", nranks, 1);
    Cblacs_gridinfo(g->ctx, &g->nprow, &npcol, &g->myrow, &mycol);
    if (g->nprow != nranks || npcol != 1 || g->myrow < 0)
        mkt_fail("BLACS grid of %d x 1 not created (got %d x %d)", nranks, g->nprow, npcol);
    int *rows = mkt_xmalloc(sizeof(int) * (size_t)nranks);
    MKT_MPI(MPI_Allgather(&g->myrow, 1, MPI_INT, rows, 1, MPI_INT, comm));
    g->rank_of_row = mkt_xmalloc(sizeof(int) * (size_t)nranks);
    for (int r = 0; r < nranks; r++)
        g->rank_of_row[rows[r]] = r;
    free(rows);
}

static void grid_close(grid *g)
{
    Cblacs_gridexit(g->ctx);
    Cfree_blacs_system_handle(g->handle);
    free(g->rank_of_row);
}

/* Local block-cyclic matrix (rows x cols) of this process row. */
typedef struct {
    int desc[9];
    int lld;
    double *a;
} dmat;

static void dmat_init(dmat *m, const grid *g, int rows, int cols, int nb)
{
    int zero = 0, info = 0;
    int mloc = numroc_(&rows, &nb, &g->myrow, &zero, &g->nprow);
    m->lld = mloc > 1 ? mloc : 1;
    int ctx = g->ctx;
    descinit_(m->desc, &rows, &cols, &nb, &nb, &zero, &zero, &ctx, &m->lld, &info);
    MKT_LAPACK(info);
    m->a = mkt_xcalloc((size_t)m->lld * (size_t)(cols > 0 ? cols : 1), sizeof(double));
}

static int owner_row(int64_t i, int nb, int nprow) { return (int)((i / nb) % nprow); }
static int64_t local_row(int64_t i, int nb, int nprow) { return (i / ((int64_t)nb * nprow)) * nb + i % nb; }

/* Move rows (i, x_i, y_i) to the process rows owning them; rank 0 also sends
 * the ridge rows sqrt(lambda) e_j (y = 0) as global rows n + j when asked. */
static void scatter_rows(const double *x, const double *y, int64_t n_local, int64_t offset, int64_t n, int d,
                         double ridge_rows_lambda, const grid *g, int nb, MPI_Comm comm, dmat *A, dmat *B)
{
    int nranks, rank;
    MKT_MPI(MPI_Comm_size(comm, &nranks));
    MKT_MPI(MPI_Comm_rank(comm, &rank));
    int64_t extra = (rank == 0 && ridge_rows_lambda > 0) ? d : 0;
    int64_t nsend = n_local + extra;
    size_t w = (size_t)d + 2;
    int64_t *counts = mkt_xcalloc((size_t)nranks, sizeof(int64_t));
    int64_t *pos = mkt_xcalloc((size_t)nranks, sizeof(int64_t));
    for (int64_t r = 0; r < nsend; r++) {
        int64_t gi = r < n_local ? offset + r : n + (r - n_local);
        counts[g->rank_of_row[owner_row(gi, nb, g->nprow)]]++;
    }
    for (int p = 1; p < nranks; p++)
        pos[p] = pos[p - 1] + counts[p - 1];
    double *buf = mkt_xmalloc(sizeof(double) * w * (size_t)(nsend > 0 ? nsend : 1));
    double sq = sqrt(ridge_rows_lambda > 0 ? ridge_rows_lambda : 0);
    for (int64_t r = 0; r < nsend; r++) {
        int64_t gi = r < n_local ? offset + r : n + (r - n_local);
        double *e = buf + w * (size_t)pos[g->rank_of_row[owner_row(gi, nb, g->nprow)]]++;
        e[0] = (double)gi;
        if (r < n_local) {
            memcpy(e + 1, x + (size_t)r * (size_t)d, sizeof(double) * (size_t)d);
            e[d + 1] = y[r];
        } else {
            memset(e + 1, 0, sizeof(double) * (size_t)(d + 1));
            e[1 + (r - n_local)] = sq;
        }
    }
    int64_t nrecv = 0;
    double *recv = mkt_alltoallv_elems(buf, counts, sizeof(double) * w, &nrecv, comm);
    for (int64_t r = 0; r < nrecv; r++) {
        const double *e = recv + w * (size_t)r;
        int64_t lr = local_row((int64_t)e[0], nb, g->nprow);
        if (lr < 0 || lr >= A->lld)
            mkt_fail("least squares: row %lld landed outside the local block", (long long)e[0]);
        for (int j = 0; j < d; j++)
            A->a[lr + (int64_t)j * A->lld] = e[1 + j];
        B->a[lr] = e[d + 1];
    }
    free(recv);
    free(buf);
    free(pos);
    free(counts);
}

/* The first d entries of the distributed column B, on every rank. */
static void gather_column(const dmat *B, int d, const grid *g, int nb, MPI_Comm comm, double *out)
{
    double *part = mkt_xcalloc((size_t)d, sizeof(double));
    for (int i = 0; i < d; i++)
        if (owner_row(i, nb, g->nprow) == g->myrow)
            part[i] = B->a[local_row(i, nb, g->nprow)];
    /* exactly one rank holds each entry, so the sum is exact */
    MKT_MPI(MPI_Allreduce(part, out, d, MPI_DOUBLE, MPI_SUM, comm));
    free(part);
}

static void solve_gels(dmat *A, dmat *B, int m, int d, const grid *g, MPI_Comm comm)
{
    (void)comm;
    int one = 1, nrhs = 1, lwork = -1, info = 0;
    double q = 0;
    pdgels_("N", &m, &d, &nrhs, A->a, &one, &one, A->desc, B->a, &one, &one, B->desc, &q, &lwork, &info);
    MKT_LAPACK(info);
    lwork = (int)q + 1;
    double *work = mkt_xmalloc(sizeof(double) * (size_t)lwork);
    pdgels_("N", &m, &d, &nrhs, A->a, &one, &one, A->desc, B->a, &one, &one, B->desc, work, &lwork, &info);
    free(work);
    (void)g;
    MKT_LAPACK(info);
}

/* Normal equations: C = X'X + lambda I, r = X'y, Cholesky solve; the
 * solution is left in r.  Returns the PDPOTRF info (> 0: not positive
 * definite; the same value on every rank). */
static int solve_normal(const dmat *A, const dmat *B, int m, int d, double lambda, const grid *g, int nb,
                        dmat *r)
{
    dmat C;
    dmat_init(&C, g, d, d, nb);
    dmat_init(r, g, d, 1, nb);
    int one = 1, nrhs = 1, info = 0;
    double alpha = 1, beta = 0;
    pdsyrk_("U", "T", &d, &m, &alpha, A->a, &one, &one, A->desc, &beta, C.a, &one, &one, C.desc);
    for (int j = 0; j < d; j++)
        if (owner_row(j, nb, g->nprow) == g->myrow)
            C.a[local_row(j, nb, g->nprow) + (int64_t)j * C.lld] += lambda;
    pdgemm_("T", "N", &d, &nrhs, &m, &alpha, A->a, &one, &one, A->desc, B->a, &one, &one, B->desc, &beta, r->a,
            &one, &one, r->desc);
    pdpotrf_("U", &d, C.a, &one, &one, C.desc, &info);
    if (info == 0) {
        pdpotrs_("U", &d, &nrhs, C.a, &one, &one, C.desc, r->a, &one, &one, r->desc, &info);
        MKT_LAPACK(info);
    }
    free(C.a);
    return info;
}

/* Rank 0 inverts X'X + lambda I (reduced over ranks) and broadcasts the
 * diagonal of the inverse.  Returns the dpotrf info (same on every rank). */
static int inverse_diagonal(const double *x, int64_t n_local, int d, double lambda, MPI_Comm comm, double *diag)
{
    int rank;
    MKT_MPI(MPI_Comm_rank(comm, &rank));
    size_t dd = (size_t)d * (size_t)d;
    double *g = mkt_xcalloc(dd, sizeof(double));
    double *gsum = mkt_xcalloc(dd, sizeof(double));
    if (n_local > 0)
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, d, (int)n_local, 1.0, x, d, 0.0, g, d);
    MKT_MPI(MPI_Reduce(g, gsum, (int)dd, MPI_DOUBLE, MPI_SUM, 0, comm));
    int info = 0;
    if (rank == 0) {
        for (int j = 0; j < d; j++)
            gsum[(size_t)j * (size_t)d + (size_t)j] += lambda;
        info = LAPACKE_dpotrf(LAPACK_ROW_MAJOR, 'U', d, gsum, d);
        if (info == 0)
            info = LAPACKE_dpotri(LAPACK_ROW_MAJOR, 'U', d, gsum, d);
        for (int j = 0; j < d; j++)
            diag[j] = gsum[(size_t)j * (size_t)d + (size_t)j];
    }
    MKT_MPI(MPI_Bcast(&info, 1, MPI_INT, 0, comm));
    MKT_MPI(MPI_Bcast(diag, d, MPI_DOUBLE, 0, comm));
    free(g);
    free(gsum);
    return info;
}

void mkt_ls_solve(const double *x_local, const double *y_local, int64_t n_local, int d, double lambda,
                  mkt_ls_method method, int block, MPI_Comm comm, mkt_ls_result *res)
{
    memset(res, 0, sizeof *res);
    int64_t n = 0;
    int64_t offset = mkt_exscan_count(n_local, &n, comm);
    if (d < 1)
        mkt_fail_all(MKT_EXIT_USAGE, "least squares: no columns in the design");
    if (n <= d)
        mkt_fail_all(MKT_EXIT_ERROR, "least squares: %lld rows for %d coefficients; need more rows than coefficients",
                     (long long)n, d);
    if (lambda < 0 || !isfinite(lambda))
        mkt_fail_all(MKT_EXIT_USAGE, "least squares: ridge lambda must be >= 0");
    int nb = block > 0 ? block : 64;
    int use_ridge_rows = method == MKT_LS_GELS && lambda > 0;
    int64_t m64 = n + (use_ridge_rows ? d : 0);
    if (m64 > INT_MAX)
        mkt_fail_all(MKT_EXIT_ERROR, "least squares: %lld rows exceed ScaLAPACK's 32-bit indices", (long long)m64);
    int m = (int)m64;

    res->d = d;
    res->n = n;
    res->coef = mkt_xcalloc((size_t)d, sizeof(double));
    res->stderr_ = mkt_xcalloc((size_t)d, sizeof(double));

    grid g;
    grid_open(&g, comm);
    dmat A, B;
    dmat_init(&A, &g, m, d, nb);
    dmat_init(&B, &g, m, 1, nb);
    scatter_rows(x_local, y_local, n_local, offset, n, d, use_ridge_rows ? lambda : 0, &g, nb, comm, &A, &B);

    if (method == MKT_LS_GELS) {
        solve_gels(&A, &B, m, d, &g, comm);
        gather_column(&B, d, &g, nb, comm, res->coef);
    } else {
        dmat r;
        int info = solve_normal(&A, &B, m, d, lambda, &g, nb, &r);
        if (info != 0) {
            free(r.a);
            free(A.a);
            free(B.a);
            grid_close(&g);
            mkt_fail_all(MKT_EXIT_ERROR,
                         "least squares: X'X + lambda I is not positive definite (pivot %d): the design has "
                         "collinear or empty columns",
                         info);
        }
        gather_column(&r, d, &g, nb, comm, res->coef);
        free(r.a);
    }
    free(A.a);
    free(B.a);
    grid_close(&g);

    /* residual sum of squares of the original rows, exactly summed */
    mkt_xsum acc;
    mkt_xsum_init(&acc);
    for (int64_t i = 0; i < n_local; i++) {
        double f = 0;
        const double *row = x_local + (size_t)i * (size_t)d;
        for (int j = 0; j < d; j++)
            f += row[j] * res->coef[j];
        double e = y_local[i] - f;
        mkt_xsum_add(&acc, e * e);
    }
    mkt_allreduce_xsum(&acc, 1, comm);
    res->rss = mkt_xsum_value(&acc);
    res->sigma2 = res->rss / (double)(n - d);

    double *diag = mkt_xcalloc((size_t)d, sizeof(double));
    int info = inverse_diagonal(x_local, n_local, d, lambda, comm, diag);
    if (info != 0) {
        free(diag);
        mkt_fail_all(MKT_EXIT_ERROR,
                     "least squares: X'X + lambda I is singular (pivot %d): the design has collinear or empty "
                     "columns",
                     info);
    }
    for (int j = 0; j < d; j++)
        res->stderr_[j] = sqrt(res->sigma2 * (diag[j] > 0 ? diag[j] : 0));
    free(diag);
}
