/* exactsum.h — exact summation of doubles, so reductions never depend on ranks.
 *
 * A floating-point sum depends on the order of its terms; a sum computed as
 * per-rank partials therefore changes with the number of ranks.  An mkt_xsum
 * holds the exact sum of any number of doubles as a wide fixed-point integer
 * (32-bit digits in int64 limbs, covering every finite double), so adding in
 * any order, on any number of ranks, and merging the partials gives the same
 * bits.  The struct is a plain array of int64, so an MPI_SUM over
 * MKT_XSUM_WORDS MPI_INT64_T elements merges normalized accumulators exactly
 * (mpi/collectives.c does that).  Pure code: no MPI here. */
#ifndef MKT_EXACTSUM_H
#define MKT_EXACTSUM_H

#include <stddef.h>
#include <stdint.h>

#define MKT_XSUM_LIMBS 68

typedef struct {
    int64_t limb[MKT_XSUM_LIMBS]; /* value = sum limb[i] * 2^(32 i - 1074) */
    int64_t n_posinf, n_neginf, n_nan;
    int64_t pending; /* additions since the last normalization */
} mkt_xsum;

#define MKT_XSUM_WORDS (sizeof(mkt_xsum) / sizeof(int64_t))

void mkt_xsum_init(mkt_xsum *s);
void mkt_xsum_add(mkt_xsum *s, double x);
/* Carry-propagate so every limb but the top is in [0, 2^32); call before
 * merging with MPI_SUM (at most 2^30 ranks may be merged at once). */
void mkt_xsum_normalize(mkt_xsum *s);
void mkt_xsum_merge(mkt_xsum *into, const mkt_xsum *from);
/* The sum as a double (NaN if any NaN or +inf and -inf were added). The
 * conversion is deterministic, within one ulp of the exact sum. */
double mkt_xsum_value(const mkt_xsum *s);

/* Exact sum of an array: a convenience for tests and small reductions. */
double mkt_exact_sum(const double *x, size_t n);

#endif
