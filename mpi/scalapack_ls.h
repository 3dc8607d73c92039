/* scalapack_ls.h — distributed linear least squares with ScaLAPACK.
 *
 * Owns one thing: min ||X b - y||^2 + lambda ||b||^2 where the rows of X are
 * spread over the ranks of a communicator (rank r holds a contiguous block of
 * rows; blocks follow each other in rank order).  The rows are moved into a
 * block-cyclic layout on a P x 1 BLACS grid built from the communicator and
 * solved either by QR (PDGELS, on X augmented with sqrt(lambda) I rows when
 * lambda > 0) or by the normal equations (PDSYRK and PDGEMM form X'X + lambda I
 * and X'y, PDPOTRF/PDPOTRS solve them).  Every rank receives the
 * coefficients, the residual sum of squares and standard errors.
 *
 * Must not read files or know what the columns mean (the stages in
 * stages/train_regression.c build designs).  Errors end the job through check.h. */
#ifndef MKT_SCALAPACK_LS_H
#define MKT_SCALAPACK_LS_H

#include <mpi.h>
#include <stdint.h>

typedef enum { MKT_LS_GELS = 0, MKT_LS_NORMAL = 1 } mkt_ls_method;

typedef struct {
    int d;           /* number of coefficients */
    int64_t n;       /* total rows over all ranks */
    double *coef;    /* [d], identical on every rank */
    double *stderr_; /* [d]: sqrt(sigma2 * diag((X'X + lambda I)^-1)) */
    double rss;      /* sum over all rows of (y - X b)^2 (the penalty not included) */
    double sigma2;   /* rss / (n - d) */
} mkt_ls_result;

/* Parse "gels" or "normal"; returns 0 on success, -1 otherwise. */
int mkt_ls_method_parse(const char *s, mkt_ls_method *m);

/* Collective over comm.  x_local is n_local x d, row-major; y_local has n_local
 * values.  block is the ScaLAPACK block size (0: 64).  Needs n > d in total
 * (fails with mkt_fail_all otherwise) and a design of full column rank (a
 * singular X'X + lambda I is reported with mkt_fail_all).  Fills *res
 * (free with mkt_ls_result_free). */
void mkt_ls_solve(const double *x_local, const double *y_local, int64_t n_local, int d, double lambda,
                  mkt_ls_method method, int block, MPI_Comm comm, mkt_ls_result *res);
void mkt_ls_result_free(mkt_ls_result *res);

#endif
