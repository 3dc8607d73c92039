/* par.c — block partitioning, exact collectives, all-to-all exchange and
 * rank-0 progress lines (see par.h). */
#include "par.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

int64_t mkt_block_begin(int64_t n, int nranks, int rank)
{
    int64_t q = n / nranks, rem = n % nranks;
    return (int64_t)rank * q + (rank < rem ? rank : rem);
}

mkt_block mkt_block_of(int64_t n, int nranks, int rank)
{
    mkt_block b = {mkt_block_begin(n, nranks, rank), mkt_block_begin(n, nranks, rank + 1)};
    return b;
}

int mkt_block_owner(int64_t index, int64_t n, int nranks)
{
    int64_t q = n / nranks, rem = n % nranks;
    int64_t big = (q + 1) * rem; /* indices covered by the longer blocks */
    if (index < big)
        return (int)(index / (q + 1));
    return (int)(rem + (index - big) / q);
}

void mkt_allreduce_xsum(mkt_xsum *acc, int count, MPI_Comm comm)
{
    for (int i = 0; i < count; i++)
        mkt_xsum_normalize(&acc[i]);
    MKT_MPI(MPI_Allreduce(MPI_IN_PLACE, acc, (int)(count * MKT_XSUM_WORDS), MPI_INT64_T, MPI_SUM, comm));
    for (int i = 0; i < count; i++)
        mkt_xsum_normalize(&acc[i]);
}

void mkt_allreduce_exact_rows(const double *local, int64_t nlocal, int count, double *out, MPI_Comm comm)
{
    mkt_xsum *acc = mkt_xmalloc(sizeof(mkt_xsum) * (size_t)(count > 0 ? count : 1));
    for (int j = 0; j < count; j++)
        mkt_xsum_init(&acc[j]);
    for (int64_t i = 0; i < nlocal; i++)
        for (int j = 0; j < count; j++)
            mkt_xsum_add(&acc[j], local[i * count + j]);
    mkt_allreduce_xsum(acc, count, comm);
    for (int j = 0; j < count; j++)
        out[j] = mkt_xsum_value(&acc[j]);
    free(acc);
}

void *mkt_alltoallv_elems(const void *sendbuf, const int64_t *sendcounts, size_t elemsize, int64_t *nrecv,
                          MPI_Comm comm)
{
    int nranks;
    MKT_MPI(MPI_Comm_size(comm, &nranks));
    int *sc = mkt_xmalloc(sizeof(int) * (size_t)nranks * 4);
    int *rc = sc + nranks, *sd = rc + nranks, *rd = sd + nranks;
    int64_t *rc64 = mkt_xmalloc(sizeof(int64_t) * (size_t)nranks);
    MKT_MPI(MPI_Alltoall(sendcounts, 1, MPI_INT64_T, rc64, 1, MPI_INT64_T, comm));
    int64_t soff = 0, roff = 0;
    for (int r = 0; r < nranks; r++) {
        if (sendcounts[r] > INT32_MAX || rc64[r] > INT32_MAX || soff > INT32_MAX || roff > INT32_MAX)
            mkt_fail("all-to-all exchange too large for one call (%lld elements); use more ranks",
                     (long long)(soff + sendcounts[r]));
        sc[r] = (int)sendcounts[r];
        rc[r] = (int)rc64[r];
        sd[r] = (int)soff;
        rd[r] = (int)roff;
        soff += sendcounts[r];
        roff += rc64[r];
    }
    MPI_Datatype elem;
    MKT_MPI(MPI_Type_contiguous((int)elemsize, MPI_BYTE, &elem));
    MKT_MPI(MPI_Type_commit(&elem));
    void *recv = mkt_xmalloc((size_t)roff * elemsize);
    MKT_MPI(MPI_Alltoallv(sendbuf, sc, sd, elem, recv, rc, rd, elem, comm));
    MKT_MPI(MPI_Type_free(&elem));
    free(sc);
    free(rc64);
    *nrecv = roff;
    return recv;
}

int64_t mkt_exscan_count(int64_t local, int64_t *total, MPI_Comm comm)
{
    int64_t before = 0;
    int rank;
    MKT_MPI(MPI_Comm_rank(comm, &rank));
    MKT_MPI(MPI_Exscan(&local, &before, 1, MPI_INT64_T, MPI_SUM, comm));
    if (rank == 0)
        before = 0;
    if (total)
        MKT_MPI(MPI_Allreduce(&local, total, 1, MPI_INT64_T, MPI_SUM, comm));
    return before;
}

double mkt_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int log_muted;

void mkt_log_mute(int on) { log_muted = on; }

static int log_verbose = -1; /* -1: not set yet, read MKT_VERBOSE */

void mkt_log_set_verbose(int on) { log_verbose = on; }

int mkt_log_is_verbose(void)
{
    if (log_verbose < 0) {
        const char *v = getenv("MKT_VERBOSE");
        log_verbose = v && *v && strcmp(v, "0") != 0;
    }
    return log_verbose;
}

void mkt_progress_start(mkt_progress *p, const char *stage, const char *unit, int64_t total)
{
    p->stage = stage;
    p->unit = unit;
    p->total = total;
    p->start = p->last = mkt_now();
    p->enabled = mkt_rank() == 0 && getenv("MKT_QUIET") == NULL && !log_muted;
}

static void human(double x, char *out, size_t n)
{
    if (x >= 1e9)
        snprintf(out, n, "%.1fG", x / 1e9);
    else if (x >= 1e6)
        snprintf(out, n, "%.1fM", x / 1e6);
    else if (x >= 1e3)
        snprintf(out, n, "%.1fk", x / 1e3);
    else
        snprintf(out, n, "%.0f", x);
}

static void progress_line(mkt_progress *p, int64_t done, int final)
{
    double now = mkt_now(), el = now - p->start;
    double rate = el > 0 ? (double)done / el : 0;
    char r[32];
    human(rate, r, sizeof r);
    if (final) {
        fprintf(stderr, "[%s] done: %lld %s in %.2fs (%s %s/s)\n", p->stage, (long long)done, p->unit, el, r,
                p->unit);
        return;
    }
    if (p->total <= 0) { /* total unknown: count and rate only */
        fprintf(stderr, "[%s] %lld %s  %s %s/s\n", p->stage, (long long)done, p->unit, r, p->unit);
        return;
    }
    double pct = 100.0 * (double)done / (double)p->total;
    double eta = rate > 0 && p->total > done ? (double)(p->total - done) / rate : 0;
    fprintf(stderr, "[%s] %5.1f%% %lld/%lld %s  %s %s/s  ETA %.0fs\n", p->stage, pct, (long long)done,
            (long long)p->total, p->unit, r, p->unit, eta);
}

void mkt_progress_update(mkt_progress *p, int64_t done)
{
    if (!p->enabled)
        return;
    double now = mkt_now();
    if (now - p->last < 1.0)
        return;
    p->last = now;
    progress_line(p, done, 0);
}

void mkt_progress_finish(mkt_progress *p, int64_t done)
{
    if (p->enabled)
        progress_line(p, done, 1);
}

static void vlog(const char *stage, const char *fmt, va_list ap)
{
    fprintf(stderr, "[%s] ", stage);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

void mkt_log(const char *stage, const char *fmt, ...)
{
    if (mkt_rank() != 0 || getenv("MKT_QUIET") || log_muted)
        return;
    va_list ap;
    va_start(ap, fmt);
    vlog(stage, fmt, ap);
    va_end(ap);
}

void mkt_log_detail(const char *stage, const char *fmt, ...)
{
    if (!mkt_log_is_verbose())
        return;
    va_list ap;
    va_start(ap, fmt);
    if (mkt_rank() == 0 && !getenv("MKT_QUIET") && !log_muted)
        vlog(stage, fmt, ap);
    va_end(ap);
}
