/* als.c — the collectives of distributed ALS (als.h): the factor row
 * exchange (allgather or targeted MPI_Alltoallv by a plan), the half-steps
 * over a rank's CSR rows, the chunked Gram matrix, and the exact error and
 * ranking reductions.  Per-row arithmetic is in src/mf.c, ranking metrics in
 * src/ranking.c.  It must not read or write files, HDF5 or JSON: the stage
 * (stages/train_mf.c, stages/eval_mf.c) does. */
#include "als.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "mf.h"
#include "ranking.h"

/* Collective. Every rank's block of `full` (n rows of d values, blocks by
 * mkt_block_of) is sent to every rank, in place. */
void mkt_als_gather_rows(double *full, int64_t n, int d, MPI_Comm comm)
{
    int nranks;
    MKT_MPI(MPI_Comm_size(comm, &nranks));
    if (n * d > INT_MAX)
        mkt_fail("factor matrix of %lld x %d values is too large for MPI_Allgatherv counts", (long long)n, d);
    int *cnt = mkt_xmalloc(sizeof(int) * (size_t)nranks), *dsp = mkt_xmalloc(sizeof(int) * (size_t)nranks);
    for (int q = 0; q < nranks; q++) {
        mkt_block b = mkt_block_of(n, nranks, q);
        cnt[q] = (int)((b.end - b.begin) * d);
        dsp[q] = (int)(b.begin * d);
    }
    MKT_MPI(MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, full, cnt, dsp, MPI_DOUBLE, comm));
    free(cnt);
    free(dsp);
}

/* Marks row j in a bitmap. */
static void mark(uint8_t *bits, int64_t j)
{
    bits[j >> 3] |= (uint8_t)(1u << (j & 7));
}

/* Collective. The plan for a side of n rows (stride s) of which this rank
 * owns `own`: `bits` marks the rows it reads (own rows may be marked).  mode
 * MKT_ALS_EXCHANGE_*: auto picks targeted when the volume over all ranks is
 * below 3/4 of the allgather's. */
static void plan_build(mkt_als_plan *p, const uint8_t *bits, int64_t n, int s, mkt_block own, int mode, MPI_Comm comm)
{
    memset(p, 0, sizeof *p);
    MKT_MPI(MPI_Comm_size(comm, &p->nranks));
    int P = p->nranks;
    int64_t *need_cnt = mkt_xcalloc((size_t)P, sizeof(int64_t));
    int64_t nneed = 0;
    for (int64_t j = 0; j < n; j++)
        if ((bits[j >> 3] >> (j & 7)) & 1 && (j < own.begin || j >= own.end))
            nneed++;
    p->rrows = mkt_xmalloc(sizeof(int32_t) * (size_t)(nneed + 1));
    nneed = 0;
    for (int64_t j = 0; j < n; j++)
        if ((bits[j >> 3] >> (j & 7)) & 1 && (j < own.begin || j >= own.end)) {
            p->rrows[nneed++] = (int32_t)j; /* ascending, so grouped by owner */
            need_cnt[mkt_block_owner(j, n, P)]++;
        }
    p->nrecv = nneed;
    /* tell each owner which of its rows this rank needs */
    p->srows = mkt_alltoallv_elems(p->rrows, need_cnt, sizeof(int32_t), &p->nsend, comm);
    int64_t *send_cnt = mkt_xcalloc((size_t)P, sizeof(int64_t));
    MKT_MPI(MPI_Alltoall(need_cnt, 1, MPI_INT64_T, send_cnt, 1, MPI_INT64_T, comm));
    p->sc = mkt_xmalloc(sizeof(int) * (size_t)P);
    p->sd = mkt_xmalloc(sizeof(int) * (size_t)P);
    p->rc = mkt_xmalloc(sizeof(int) * (size_t)P);
    p->rd = mkt_xmalloc(sizeof(int) * (size_t)P);
    int64_t so = 0, ro = 0;
    for (int q = 0; q < P; q++) {
        if ((so + send_cnt[q]) * s > INT_MAX || (ro + need_cnt[q]) * s > INT_MAX)
            mkt_fail("targeted exchange of more than 2^31 values per rank");
        p->sc[q] = (int)(send_cnt[q] * s);
        p->sd[q] = (int)(so * s);
        p->rc[q] = (int)(need_cnt[q] * s);
        p->rd[q] = (int)(ro * s);
        so += send_cnt[q];
        ro += need_cnt[q];
    }
    double v[2] = {(double)(n - (own.end - own.begin)) * s * 8, (double)p->nrecv * s * 8};
    MKT_MPI(MPI_Allreduce(MPI_IN_PLACE, v, 2, MPI_DOUBLE, MPI_SUM, comm));
    p->bytes_allgather = v[0];
    p->bytes_targeted = v[1];
    /* auto: targeted only when it saves a quarter of the volume (it packs
     * and unpacks every row it moves, the allgather writes in place) */
    p->targeted = mode == MKT_ALS_EXCHANGE_TARGETED || (mode == MKT_ALS_EXCHANGE_AUTO && v[1] < 0.75 * v[0]);
    if (p->targeted) { /* the allgather writes in place */
        p->sbuf = mkt_xmalloc(sizeof(double) * (size_t)(p->nsend * s + 1));
        p->rbuf = mkt_xmalloc(sizeof(double) * (size_t)(p->nrecv * s + 1));
    }
    free(need_cnt);
    free(send_cnt);
}

void mkt_als_plan_free(mkt_als_plan *p)
{
    free(p->sc);
    free(p->sd);
    free(p->rc);
    free(p->rd);
    free(p->srows);
    free(p->rrows);
    free(p->sbuf);
    free(p->rbuf);
}

/* Collective. After a half-step: the updated rows of `full` reach the ranks
 * that read them (all ranks when p is NULL or not targeted).  Adds this
 * rank's received bytes to *bytes. */
void mkt_als_exchange(double *full, int64_t n, int s, const mkt_als_plan *p, double *bytes, MPI_Comm comm)
{
    if (!p || !p->targeted) {
        int nranks, rank;
        MKT_MPI(MPI_Comm_size(comm, &nranks));
        MKT_MPI(MPI_Comm_rank(comm, &rank));
        mkt_als_gather_rows(full, n, s, comm);
        mkt_block b = mkt_block_of(n, nranks, rank);
        if (bytes)
            *bytes += (double)(n - (b.end - b.begin)) * s * 8;
        return;
    }
    size_t row = sizeof(double) * (size_t)s;
    for (int64_t j = 0; j < p->nsend; j++)
        memcpy(p->sbuf + j * s, full + (int64_t)p->srows[j] * s, row);
    MKT_MPI(MPI_Alltoallv(p->sbuf, p->sc, p->sd, MPI_DOUBLE, p->rbuf, p->rc, p->rd, MPI_DOUBLE, comm));
    for (int64_t j = 0; j < p->nrecv; j++)
        memcpy(full + (int64_t)p->rrows[j] * s, p->rbuf + j * s, row);
    if (bytes)
        *bytes += (double)p->nrecv * s * 8;
}

/* Rows per chunk of the implicit Gram matrix YᵀY: each chunk's k x k
 * product is formed by dsyrk by the rank owning the chunk's first row, and
 * the chunks are summed exactly across ranks, so YᵀY has the same bits on
 * any rank count and with either exchange. */
#define MF_GRAM_CHUNK 256

/* Marks the rows of other ranks that this rank's Gram chunks read. */
static void mark_gram_rows(uint8_t *bits, int64_t n, mkt_block own)
{
    if (own.end <= own.begin)
        return;
    int64_t cs = (own.end - 1) / MF_GRAM_CHUNK * MF_GRAM_CHUNK;
    if (cs < own.begin)
        return; /* the chunk holding this block starts on another rank */
    int64_t ce = cs + MF_GRAM_CHUNK < n ? cs + MF_GRAM_CHUNK : n;
    for (int64_t j = own.end; j < ce; j++)
        mark(bits, j);
}

/* Collective. g[k×k] = YᵀY of the full matrix y [n×k], chunk by chunk. */
static void gram_chunked(const double *y, int64_t n, int k, mkt_block own, double *g, MPI_Comm comm)
{
    int64_t first = (own.begin + MF_GRAM_CHUNK - 1) / MF_GRAM_CHUNK, nch = 0;
    for (int64_t c = first; c * MF_GRAM_CHUNK < own.end; c++)
        nch++;
    double *part = mkt_xmalloc(sizeof(double) * (size_t)(nch * k * k + 1));
    for (int64_t j = 0; j < nch; j++) {
        int64_t cs = (first + j) * MF_GRAM_CHUNK, ce = cs + MF_GRAM_CHUNK < n ? cs + MF_GRAM_CHUNK : n;
        mkt_mf_gram(y + cs * k, ce - cs, k, part + j * k * k);
    }
    mkt_allreduce_exact_rows(part, nch, k * k, g, comm);
    free(part);
}

void mkt_als_plans_build(const mkt_als_data *d, int implicit, int s, int mode, mkt_als_plan *px, mkt_als_plan *py,
                         MPI_Comm comm)
{
    uint8_t *bx = mkt_xcalloc((size_t)(d->U / 8 + 1), 1), *by = mkt_xcalloc((size_t)(d->I / 8 + 1), 1);
    for (int64_t e = 0; e < d->utrain.ptr[d->utrain.n]; e++)
        mark(by, d->utrain.idx[e]);
    for (int64_t e = 0; e < d->utest.ptr[d->utest.n] && !implicit; e++)
        mark(by, d->utest.idx[e]);
    for (int64_t e = 0; e < d->uvalid.ptr[d->uvalid.n]; e++)
        mark(by, d->uvalid.idx[e]);
    for (int64_t e = 0; e < d->itrain.ptr[d->itrain.n]; e++)
        mark(bx, d->itrain.idx[e]);
    if (implicit) {
        mark_gram_rows(bx, d->U, d->ub);
        mark_gram_rows(by, d->I, d->ib);
    }
    plan_build(px, bx, d->U, s, d->ub, mode, comm);
    plan_build(py, by, d->I, s, d->ib, mode, comm);
    free(bx);
    free(by);
}

/* Collective. Exact error sums of the biased model over the local users:
 * out = {train RMSE, held-out RMSE, held-out MAE}. X holds the local users'
 * rows, Y all items (stride k+1).  With train_sse not NULL the training
 * part is not recomputed: train_sse is this rank's exact sum of training
 * part is not recomputed: train_sse is this rank's exact sum of training
 * squared errors (from the item half-step's solves). */
void mkt_als_explicit_errors(const mkt_als_data *d, const double *X, const double *Y, int k, const mkt_xsum *train_sse,
                            MPI_Comm comm, double out[3])
{
    int s = k + 1;
    mkt_xsum acc[3];
    for (int j = 0; j < 3; j++)
        mkt_xsum_init(&acc[j]);
    if (train_sse)
        acc[0] = *train_sse;
    for (int64_t r = 0; r < d->utrain.n; r++) {
        const double *x = X + r * s;
        for (int64_t e = d->utrain.ptr[r]; e < d->utrain.ptr[r + 1] && !train_sse; e++) {
            const double *y = Y + (int64_t)d->utrain.idx[e] * s;
            double err = d->utrain.val[e] - (d->mu + x[k] + y[k] + mkt_mf_dot(x, y, k));
            mkt_xsum_add(&acc[0], err * err);
        }
        for (int64_t e = d->utest.ptr[r]; e < d->utest.ptr[r + 1]; e++) {
            const double *y = Y + (int64_t)d->utest.idx[e] * s;
            double err = d->utest.val[e] - (d->mu + x[k] + y[k] + mkt_mf_dot(x, y, k));
            mkt_xsum_add(&acc[1], err * err);
            mkt_xsum_add(&acc[2], fabs(err));
        }
    }
    mkt_allreduce_xsum(acc, 3, comm);
    double nt = (double)d->n_train, nh = d->n_test > 0 ? (double)d->n_test : NAN;
    out[0] = sqrt(mkt_xsum_value(&acc[0]) / nt);
    out[1] = sqrt(mkt_xsum_value(&acc[1]) / nh);
    out[2] = mkt_xsum_value(&acc[2]) / nh;
}

/* Collective. Exact RMSE of the biased model over the local users' entries
 * of `rows` (n_global entries over all ranks): X holds the local users'
 * rows, Y all items (stride k+1). */
double mkt_als_rows_rmse(const mkt_als_data *d, const mkt_als_rows *rows, int64_t n_global, const double *X, const double *Y,
                        int k, MPI_Comm comm)
{
    int s = k + 1;
    mkt_xsum acc;
    mkt_xsum_init(&acc);
    for (int64_t r = 0; r < rows->n; r++)
        for (int64_t e = rows->ptr[r]; e < rows->ptr[r + 1]; e++) {
            const double *x = X + r * s, *y = Y + (int64_t)rows->idx[e] * s;
            double err = rows->val[e] - (d->mu + x[k] + y[k] + mkt_mf_dot(x, y, k));
            mkt_xsum_add(&acc, err * err);
        }
    mkt_allreduce_xsum(&acc, 1, comm);
    return n_global > 0 ? sqrt(mkt_xsum_value(&acc) / (double)n_global) : NAN;
}

/* This rank's floating-point operations of one half-step's solves over
 * `rows` (d unknowns per row): A = XᵀX by dsyrk (n·d·(d+1)), the right-hand
 * side (explicit: dgemv, 2·n·d; implicit: scaling and sum, 3·n·d), Cholesky
 * (d³/3) and the two triangular solves (2·d²); implicit adds the Gram matrix
 * of the other side's `other_rows` factors (other_rows·d·(d+1)), computed on
 * every rank. */
double mkt_als_half_step_flops(const mkt_als_rows *rows, int d, int implicit, int64_t other_rows, int cg_iters)
{
    double f = implicit ? (double)other_rows * d * (d + 1) : 0;
    double dd = d;
    for (int64_t r = 0; r < rows->n; r++) {
        double n = (double)mkt_als_row_len(rows, r);
        if (n == 0 && !implicit)
            continue; /* explicit: a row without ratings is set to zero */
        if (cg_iters > 0) /* gather and b (3·n·d), cg_iters+1 products A·p, 5 vector ops per step */
            f += 3 * n * dd + (cg_iters + 1) * (2 * dd * dd + 4 * n * dd + 2 * dd) + cg_iters * 10 * dd;
        else
            f += n * dd * (dd + 1) + (implicit ? 3 : 2) * n * dd + dd * dd * dd / 3 + 2 * dd * dd;
    }
    return f;
}

/* Time-stamp helper: adds now − *t to *acc and sets *t = now. */
static void lap(double *t, double *acc)
{
    double now = mkt_now();
    *acc += now - *t;
    *t = now;
}

/* The implicit solves of one half-step: every row of `rows` into out (stride
 * k) from the other side's factors y and their Gram matrix g, by Cholesky or
 * by o->cg_iters CG steps started from the row's current factors. */
static void implicit_half_step(const mkt_als_solver *o, const mkt_als_rows *rows, const double *y, const double *g,
                               double *out)
{
    int k = o->k;
    if (!o->cg) {
        for (int64_t r = 0; r < rows->n; r += 8) { /* eight rows per batched solve */
            int nr = (int)(rows->n - r < 8 ? rows->n - r : 8);
            MKT_LAPACK(mkt_mf_solve_implicit_rows(k, nr, rows->ptr + r, rows->idx, rows->val, y, g, o->alpha,
                                                  o->lambda, out + r * k, NULL));
        }
        return;
    }
    for (int64_t r = 0; r < rows->n; r++) {
        int64_t a = rows->ptr[r], n = mkt_als_row_len(rows, r);
        if (mkt_mf_solve_implicit_cg(k, n, rows->idx + a, rows->val + a, y, g, o->alpha, o->lambda, o->cg_iters,
                                     out + r * k) != 0)
            mkt_fail("conjugate gradient: the implicit system of a row is not positive definite "
                     "(non-finite factors? try a larger --lambda)");
    }
}

/* Collective. Mean NDCG@topk of the validation items (implicit): each
 * validation user's scores over all items, the user's training items
 * excluded; exact sums, so the same on any rank count.  X holds the local
 * users' rows, Y all items (stride k). */
double mkt_als_valid_ndcg(const mkt_als_data *d, const double *X, const double *Y, int k, int topk, MPI_Comm comm)
{
    int64_t I = d->I;
    int K = topk;
    double *score = mkt_xmalloc(sizeof(double) * (size_t)(I + 1));
    unsigned char *excl = mkt_xcalloc((size_t)I + 1, 1);
    int32_t *top = mkt_xmalloc(sizeof(int32_t) * (size_t)K);
    mkt_xsum acc;
    mkt_xsum_init(&acc);
    for (int64_t r = 0; r < d->uvalid.n; r++) {
        int64_t nrel = mkt_als_row_len(&d->uvalid, r);
        if (nrel == 0)
            continue;
        const double *x = X + r * k;
        for (int64_t e = d->utrain.ptr[r]; e < d->utrain.ptr[r + 1]; e++)
            excl[d->utrain.idx[e]] = 1;
        for (int64_t i = 0; i < I; i++)
            score[i] = mkt_mf_dot(x, Y + i * k, k);
        int n = mkt_topk(score, I, excl, K, top);
        mkt_rank_quality q = mkt_rank_eval(top, n, K, d->uvalid.idx + d->uvalid.ptr[r], (int)nrel);
        mkt_xsum_add(&acc, q.ndcg);
        for (int64_t e = d->utrain.ptr[r]; e < d->utrain.ptr[r + 1]; e++)
            excl[d->utrain.idx[e]] = 0;
    }
    mkt_allreduce_xsum(&acc, 1, comm);
    free(score);
    free(excl);
    free(top);
    return d->n_valid > 0 ? mkt_xsum_value(&acc) / (double)d->n_valid : 0;
}

/* Collective. Top-K evaluation of the users' held-out items: each rank scores
 * its users (rows of X, stride `stride`, first k columns factors) against all
 * items, excluding their training items, beside the popularity baseline
 * (items by number of training users). */
mkt_als_ranking mkt_als_ranking_eval(const mkt_als_data *d, const double *X, const double *Y, int k, int stride,
                                     int topk, MPI_Comm comm)
{
    int64_t I = d->I;
    int K = topk;
    int64_t *pop = mkt_xcalloc((size_t)I + 1, sizeof(int64_t));
    for (int64_t r = 0; r < d->itrain.n; r++)
        pop[d->ib.begin + r] = mkt_als_row_len(&d->itrain, r);
    MKT_MPI(MPI_Allreduce(MPI_IN_PLACE, pop, (int)I, MPI_INT64_T, MPI_SUM, comm));
    double *pscore = mkt_xmalloc(sizeof(double) * (size_t)(I + 1));
    double *score = mkt_xmalloc(sizeof(double) * (size_t)(I + 1));
    for (int64_t i = 0; i < I; i++)
        pscore[i] = (double)pop[i];
    unsigned char *excl = mkt_xcalloc((size_t)I + 1, 1), *cov = mkt_xcalloc(2 * (size_t)I + 1, 1);
    int32_t *top = mkt_xmalloc(sizeof(int32_t) * (size_t)K);
    mkt_xsum acc[10];
    for (int j = 0; j < 10; j++)
        mkt_xsum_init(&acc[j]);
    int64_t users = 0;
    for (int64_t r = 0; r < d->utest.n; r++) {
        int64_t nrel = mkt_als_row_len(&d->utest, r);
        if (nrel == 0)
            continue;
        users++;
        const double *x = X + r * stride;
        for (int64_t e = d->utrain.ptr[r]; e < d->utrain.ptr[r + 1]; e++)
            excl[d->utrain.idx[e]] = 1;
        for (int64_t e = d->uvalid.ptr[r]; e < d->uvalid.ptr[r + 1]; e++) /* seen before the held-out item */
            excl[d->uvalid.idx[e]] = 1;
        for (int64_t i = 0; i < I; i++)
            score[i] = mkt_mf_dot(x, Y + i * stride, k) + (stride > k ? Y[i * stride + k] : 0);
        for (int m = 0; m < 2; m++) {
            int n = mkt_topk(m == 0 ? score : pscore, I, excl, K, top);
            mkt_rank_quality q = mkt_rank_eval(top, n, K, d->utest.idx + d->utest.ptr[r], (int)nrel);
            double v[5] = {q.hit, q.precision, q.recall, q.ndcg, q.ap};
            for (int j = 0; j < 5; j++)
                mkt_xsum_add(&acc[m * 5 + j], v[j]);
            for (int j = 0; j < n; j++)
                cov[(size_t)m * (size_t)I + (size_t)top[j]] = 1;
        }
        for (int64_t e = d->utrain.ptr[r]; e < d->utrain.ptr[r + 1]; e++)
            excl[d->utrain.idx[e]] = 0;
        for (int64_t e = d->uvalid.ptr[r]; e < d->uvalid.ptr[r + 1]; e++)
            excl[d->uvalid.idx[e]] = 0;
    }
    mkt_allreduce_xsum(acc, 10, comm);
    MKT_MPI(MPI_Allreduce(MPI_IN_PLACE, &users, 1, MPI_INT64_T, MPI_SUM, comm));
    MKT_MPI(MPI_Allreduce(MPI_IN_PLACE, cov, (int)(2 * I), MPI_UNSIGNED_CHAR, MPI_MAX, comm));
    mkt_als_ranking q = {users, {{0}}, {0, 0}};
    for (int m = 0; m < 2; m++) {
        for (int64_t i = 0; i < I; i++)
            q.covered[m] += cov[m * I + i];
        for (int j = 0; j < 5; j++)
            q.quality[m][j] = users > 0 ? mkt_xsum_value(&acc[m * 5 + j]) / (double)users : 0;
    }
    free(pop);
    free(pscore);
    free(score);
    free(excl);
    free(cov);
    free(top);
    return q;
}

/* Collective. RMSE and MAE of the global training mean on the held-out ratings. */
void mkt_als_global_mean_errors(const mkt_als_data *d, MPI_Comm comm, double out[2])
{
    mkt_xsum acc[2];
    mkt_xsum_init(&acc[0]);
    mkt_xsum_init(&acc[1]);
    for (int64_t e = 0; e < d->utest.ptr[d->utest.n]; e++) {
        double err = d->utest.val[e] - d->mu;
        mkt_xsum_add(&acc[0], err * err);
        mkt_xsum_add(&acc[1], fabs(err));
    }
    mkt_allreduce_xsum(acc, 2, comm);
    double nh = d->n_test > 0 ? (double)d->n_test : NAN;
    out[0] = sqrt(mkt_xsum_value(&acc[0]) / nh);
    out[1] = mkt_xsum_value(&acc[1]) / nh;
}

void mkt_als_explicit_iteration(const mkt_als_data *d, const mkt_als_solver *sv, double *X, double *Y,
                                const mkt_als_plan *px, const mkt_als_plan *py, double *bytes, double ph[2],
                                mkt_xsum *sse, MPI_Comm comm)
{
    int k = sv->k, s = k + 1;
    double tl = mkt_now();
    for (int64_t r = 0; r < d->utrain.n; r += 8) { /* eight rows per batched solve */
        int nr = (int)(d->utrain.n - r < 8 ? d->utrain.n - r : 8);
        MKT_LAPACK(mkt_mf_solve_biased_rows(k, nr, d->utrain.ptr + r, d->utrain.idx, d->utrain.val, d->mu, Y,
                                            sv->lambda, X + (d->ub.begin + r) * s, NULL, NULL));
    }
    lap(&tl, &ph[0]);
    mkt_als_exchange(X, d->U, s, px, bytes, comm);
    lap(&tl, &ph[1]);
    /* the training error of the finished iteration comes from the item
     * solves (each item row sees all its training ratings) */
    mkt_xsum_init(sse);
    for (int64_t r = 0; r < d->itrain.n; r += 8) {
        int nr = (int)(d->itrain.n - r < 8 ? d->itrain.n - r : 8);
        double e2[8];
        MKT_LAPACK(mkt_mf_solve_biased_rows(k, nr, d->itrain.ptr + r, d->itrain.idx, d->itrain.val, d->mu, X,
                                            sv->lambda, Y + (d->ib.begin + r) * s, e2, NULL));
        for (int l = 0; l < nr; l++)
            mkt_xsum_add(sse, e2[l]);
    }
    lap(&tl, &ph[0]);
    mkt_als_exchange(Y, d->I, s, py, bytes, comm);
    lap(&tl, &ph[1]);
}

void mkt_als_implicit_iteration(const mkt_als_data *d, const mkt_als_solver *sv, double *X, double *Y, double *g,
                                const mkt_als_plan *px, const mkt_als_plan *py, double *bytes, double ph[2],
                                MPI_Comm comm)
{
    int k = sv->k;
    double tl = mkt_now();
    gram_chunked(Y, d->I, k, d->ib, g, comm); /* the same bits on every rank */
    implicit_half_step(sv, &d->utrain, Y, g, X + d->ub.begin * k);
    lap(&tl, &ph[0]);
    mkt_als_exchange(X, d->U, k, px, bytes, comm);
    lap(&tl, &ph[1]);
    gram_chunked(X, d->U, k, d->ub, g, comm);
    implicit_half_step(sv, &d->itrain, X, g, Y + d->ib.begin * k);
    lap(&tl, &ph[0]);
    mkt_als_exchange(Y, d->I, k, py, bytes, comm);
    lap(&tl, &ph[1]);
}
