/* ranking.h — top-K recommendation lists and their quality metrics
 * (hit rate, precision, recall, NDCG, average precision), pure functions
 * used by the distributed evaluation of mpi/mf_train.c. */
#ifndef MKT_RANKING_H
#define MKT_RANKING_H

#include <stdint.h>

/* The k highest scores among n, skipping entries with exclude[i] != 0
 * (exclude may be NULL), best first; ties go to the lower index.  Writes the
 * indices to out and returns how many were found (< k when fewer remain). */
int mkt_topk(const double *score, int64_t n, const unsigned char *exclude, int k, int32_t *out);

typedef struct {
    double hit;       /* 1 if any relevant item is in the list */
    double precision; /* relevant in list / k */
    double recall;    /* relevant in list / nrel */
    double ndcg;      /* DCG / ideal DCG, gains 1, discount 1/log2(pos + 2) */
    double ap;        /* sum over hits of precision@pos / min(nrel, k) */
} mkt_rank_quality;

/* Quality of the list top[0..ntop) cut at k against the relevant set
 * relevant[0..nrel) (distinct indices, any order).  All 0 when nrel = 0. */
mkt_rank_quality mkt_rank_eval(const int32_t *top, int ntop, int k, const int32_t *relevant, int nrel);

#endif
