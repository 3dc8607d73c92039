/* ranking.h — top-K recommendation lists and their quality metrics
 * (hit rate, precision, recall, NDCG, average precision), pure functions
 * used by the distributed evaluation of stages/train_mf.c. */
#ifndef MKT_RANKING_H
#define MKT_RANKING_H

#include <stdint.h>

/* The k highest scores among n, skipping entries with exclude[i] != 0
 * (exclude may be NULL), best first; ties go to the lower index; a NaN score
 * ranks below every number (NaNs among themselves by index).  Writes the
 * indices to out and returns how many were found (< k when fewer remain; 0
 * when k <= 0).  A bounded heap: O(n log k) time, O(k) scratch. */
int mkt_topk(const double *score, int64_t n, const unsigned char *exclude, int k, int32_t *out);

/* 1 when (sa, ia) ranks below (sb, ib) in the order of mkt_topk: a lower
 * score, or the same score and a higher index; NaN below every number. */
int mkt_ranks_below(double sa, int64_t ia, double sb, int64_t ib);
/* Offer (v, i) to the bounded min-heap (s, ix)[0..*m) of capacity cap that
 * keeps the best cap entries offered so far (its root: the lowest ranked). */
void mkt_heap_offer(double *s, int32_t *ix, int *m, int cap, double v, int32_t i);
/* Sort a heap made by mkt_heap_offer best first (in place). */
void mkt_heap_sort(double *s, int32_t *ix, int m);

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
