/* par.h — partitioning, deterministic collectives and progress lines.
 *
 * Partitioning: n dense indices are split into nranks contiguous blocks, the
 * first n % nranks blocks one longer.  The owner of an index is a pure
 * function of (index, n, nranks), so any rank finds it without asking.
 *
 * Collectives here are documented "Collective": every rank of the
 * communicator must call them, in the same order. */
#ifndef MKT_PAR_H
#define MKT_PAR_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "exactsum.h"

typedef struct {
    int64_t begin, end; /* this rank's block [begin, end) */
} mkt_block;

int64_t mkt_block_begin(int64_t n, int nranks, int rank);
mkt_block mkt_block_of(int64_t n, int nranks, int rank);
int mkt_block_owner(int64_t index, int64_t n, int nranks);

/* Collective. Exact sum of per-rank mkt_xsum accumulators, in place: after the
 * call every rank holds the global sums, identical for any rank count. */
void mkt_allreduce_xsum(mkt_xsum *acc, int count, MPI_Comm comm);
/* Collective. out[i] = exact sum over ranks and over local terms: each rank
 * passes `local` as rows of `count` values (nlocal rows); out has count values. */
void mkt_allreduce_exact_rows(const double *local, int64_t nlocal, int count, double *out, MPI_Comm comm);

/* Collective. Exchange fixed-size elements: sendcounts[r] elements of size
 * elemsize go to rank r (send buffer grouped by destination, in rank order).
 * Returns a malloc'd receive buffer grouped by source rank; *nrecv elements. */
void *mkt_alltoallv_elems(const void *sendbuf, const int64_t *sendcounts, size_t elemsize, int64_t *nrecv,
                          MPI_Comm comm);

/* Collective. Exclusive prefix sum of a count (0 on rank 0) and the total. */
int64_t mkt_exscan_count(int64_t local, int64_t *total, MPI_Comm comm);

double mkt_now(void); /* wall-clock seconds */

/* Progress on rank 0: at most one line per second to stderr,
 *   [stage] 45.0% 450000/1000000 users  120.3k users/s  ETA 5s
 * `done` is this rank's progress scaled to the global total (ranks hold
 * equal shares), so no communication is needed. */
typedef struct {
    const char *stage, *unit;
    int64_t total;
    double start, last;
    int enabled;
} mkt_progress;

void mkt_progress_start(mkt_progress *p, const char *stage, const char *unit, int64_t total);
void mkt_progress_update(mkt_progress *p, int64_t done);
void mkt_progress_finish(mkt_progress *p, int64_t done);
/* printf to stderr on rank 0 only, prefixed with the stage name. */
/* mkt_log and progress lines are off while muted (the configurations `mkt
 * tune` runs in groups, whose own lines would interleave). */
void mkt_log_mute(int on);
void mkt_log(const char *stage, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Solver detail (every Newton/ALS iteration, every periodic checkpoint): like
 * mkt_log, but only when verbose: `mkt -v COMMAND`, or MKT_VERBOSE=1. */
void mkt_log_detail(const char *stage, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void mkt_log_set_verbose(int on);
int mkt_log_is_verbose(void);

#endif
