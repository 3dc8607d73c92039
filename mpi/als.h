/* als.h — the collectives of distributed alternating least squares: the
 * exchange of updated factor rows between ranks, the half-steps over a
 * rank's rows, and the exact (rank-independent) error and ranking
 * reductions.
 *
 * Each rank owns a block of users and a block of items (mkt_block_of) and
 * holds their training rows as CSR arrays (mkt_als_data).  Factor matrices
 * are full-size arrays in global row order (n rows, stride s); a rank writes
 * the rows of its own block, and after each half-step the updated rows reach
 * the ranks that read them (MPI_Allgatherv of the blocks, or an
 * MPI_Alltoallv of only the referenced rows, by an mkt_als_plan).  Every
 * row's solve sees the same inputs on any number of ranks and with either
 * exchange, so the factors are bitwise identical for 1, 2, 4... ranks.
 *
 * Plain arrays and an MPI_Comm only: no files, no HDF5, no JSON (the stage,
 * stages/train_mf.c, reads the store and writes the model and metrics).
 * Functions marked Collective must be called by every rank of comm. */
#ifndef MKT_ALS_H
#define MKT_ALS_H

#include <mpi.h>
#include <stdint.h>

#include "exactsum.h"
#include "par.h"

/* CSR rows: row r has entries ptr[r]..ptr[r+1] of (idx, val). */
typedef struct {
    int64_t n, *ptr;
    int32_t *idx;
    double *val;
} mkt_als_rows;

static inline int64_t mkt_als_row_len(const mkt_als_rows *r, int64_t row)
{
    return r->ptr[row + 1] - r->ptr[row];
}

/* A rank's share of the interactions. */
typedef struct {
    int64_t U, I;
    mkt_block ub, ib;
    mkt_als_rows utrain, utest, itrain; /* utest: held-out ratings, or the held-out item (implicit) */
    mkt_als_rows uvalid;                /* validation ratings or items (early stopping, lambda auto) */
    int64_t n_valid;                    /* global count of validation entries */
    int32_t *held;                      /* implicit: held-out item of every user (-1: none), all users */
    int64_t n_train, n_test;            /* global counts of training / held-out entries */
    double mu;                          /* explicit: exact mean of the training ratings */
    int64_t until_ts;                   /* events at or after this time are not used (INT64_MIN: unknown end) */
} mkt_als_data;

/* How a half-step's updated factor rows reach the ranks that need them. */
enum { MKT_ALS_EXCHANGE_AUTO, MKT_ALS_EXCHANGE_ALLGATHER, MKT_ALS_EXCHANGE_TARGETED };

/* Targeted exchange of one side's factor rows (n rows of s values, blocks
 * by mkt_block_of): this rank receives only the rows of other ranks that its
 * own observations reference.  The lists are computed once; each half-step
 * is then one MPI_Alltoallv of the updated rows. */
typedef struct {
    int targeted;             /* 0: MPI_Allgatherv of all rows */
    int nranks;
    int *sc, *sd, *rc, *rd;   /* MPI_Alltoallv counts and displacements, in doubles */
    int32_t *srows, *rrows;   /* rows sent (grouped by destination) and received (by source) */
    int64_t nsend, nrecv;     /* rows */
    double *sbuf, *rbuf;
    double bytes_allgather;   /* all ranks' received bytes per exchange, both ways */
    double bytes_targeted;
} mkt_als_plan;

/* Collective. Every rank's block of `full` (n rows of d values, blocks by
 * mkt_block_of) is sent to every rank, in place. */
void mkt_als_gather_rows(double *full, int64_t n, int d, MPI_Comm comm);

/* Collective. The plans of both sides (stride s): px for the user rows the
 * item step reads, py for the item rows the user step reads (training,
 * held-out (explicit) and validation entries, and implicit the Gram chunks).
 * mode MKT_ALS_EXCHANGE_*: auto picks targeted when the volume over all
 * ranks is below 3/4 of the allgather's. */
void mkt_als_plans_build(const mkt_als_data *d, int implicit, int s, int mode, mkt_als_plan *px, mkt_als_plan *py,
                         MPI_Comm comm);
void mkt_als_plan_free(mkt_als_plan *p);

/* Collective. After a half-step: the updated rows of `full` reach the ranks
 * that read them (all ranks when p is NULL or not targeted).  Adds this
 * rank's received bytes to *bytes (when not NULL). */
void mkt_als_exchange(double *full, int64_t n, int s, const mkt_als_plan *p, double *bytes, MPI_Comm comm);

/* The solver of one training: k factors, regularization lambda; implicit,
 * confidence weight alpha and, with cg, cg_iters conjugate gradient steps
 * per row instead of Cholesky. */
typedef struct {
    int k;
    double lambda, alpha;
    int cg, cg_iters;
} mkt_als_solver;

/* Collective. One iteration of biased ALS (explicit): the user half-step
 * over d->utrain against Y, the exchange of X (plan px, may be NULL), the
 * item half-step over d->itrain against X, the exchange of Y (py).  X
 * [U x (k+1)] and Y [I x (k+1)] are full-size (column k the bias).  Adds the
 * seconds in the solves to ph[0] and in the exchanges to ph[1], the received
 * bytes to *bytes (may be NULL); *sse gets this rank's exact sum of squared
 * training errors (from the item solves). */
void mkt_als_explicit_iteration(const mkt_als_data *d, const mkt_als_solver *sv, double *X, double *Y,
                                const mkt_als_plan *px, const mkt_als_plan *py, double *bytes, double ph[2],
                                mkt_xsum *sse, MPI_Comm comm);
/* Collective. The same for implicit ALS (no biases, X [U x k], Y [I x k]);
 * g is work space of k x k (the Gram matrix of the other side). */
void mkt_als_implicit_iteration(const mkt_als_data *d, const mkt_als_solver *sv, double *X, double *Y, double *g,
                                const mkt_als_plan *px, const mkt_als_plan *py, double *bytes, double ph[2],
                                MPI_Comm comm);

/* This rank's floating-point operations of one half-step's solves over
 * `rows` (d unknowns per row); cg_iters 0: Cholesky. */
double mkt_als_half_step_flops(const mkt_als_rows *rows, int d, int implicit, int64_t other_rows, int cg_iters);

/* Collective. Exact error sums of the biased model over the local users:
 * out = {train RMSE, held-out RMSE, held-out MAE}. X holds the local users'
 * rows, Y all items (stride k+1).  With train_sse not NULL the training
 * part is not recomputed: train_sse is this rank's exact sum of training
 * squared errors (from the item half-step's solves). */
void mkt_als_explicit_errors(const mkt_als_data *d, const double *X, const double *Y, int k,
                             const mkt_xsum *train_sse, MPI_Comm comm, double out[3]);
/* Collective. Exact RMSE of the biased model over the local users' entries
 * of `rows` (n_global entries over all ranks): X holds the local users'
 * rows, Y all items (stride k+1). */
double mkt_als_rows_rmse(const mkt_als_data *d, const mkt_als_rows *rows, int64_t n_global, const double *X,
                         const double *Y, int k, MPI_Comm comm);
/* Collective. RMSE and MAE of the global training mean on the held-out ratings. */
void mkt_als_global_mean_errors(const mkt_als_data *d, MPI_Comm comm, double out[2]);
/* Collective. Mean NDCG@topk of the validation items (implicit): each
 * validation user's scores over all items, the user's training items
 * excluded; exact sums, so the same on any rank count.  X holds the local
 * users' rows, Y all items (stride k). */
double mkt_als_valid_ndcg(const mkt_als_data *d, const double *X, const double *Y, int k, int topk, MPI_Comm comm);

/* Top-K quality over the evaluated users: means of hit, precision, recall,
 * NDCG and average precision ([0] the model, [1] the popularity baseline),
 * and the number of distinct items recommended. */
typedef struct {
    int64_t users;
    double quality[2][5];
    int64_t covered[2];
} mkt_als_ranking;

/* Collective. Top-K evaluation of the users' held-out items: each rank
 * scores its users (rows of X, stride `stride`, first k columns factors)
 * against all items, excluding their training and validation items, beside
 * the popularity baseline (items by number of training users). */
mkt_als_ranking mkt_als_ranking_eval(const mkt_als_data *d, const double *X, const double *Y, int k, int stride,
                                     int topk, MPI_Comm comm);

#endif
