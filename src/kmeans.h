/* kmeans.h — the pure pieces of k-means segmentation: nearest centre,
 * exact weighted pick for k-means++ seeding, and naming segments by rules.
 *
 * Pure code (no MPI, no files); the distributed driver is stages/train_segments.c.
 * Everything here is a function of its inputs only, so a row gives the same
 * answer on whatever rank it lives. */
#ifndef MKT_KMEANS_H
#define MKT_KMEANS_H

#include <stdint.h>

#include "exactsum.h"

/* The hyper-parameters of a k-means segmentation (`mkt train segments`). */
typedef struct {
    int k;         /* number of segments */
    int iters;     /* Lloyd iterations at most */
    uint64_t seed; /* seed of the k-means++ seeding */
} mkt_kmeans_config;

/* Limits enforced by mkt_kmeans_check_config. */
#define MKT_KMEANS_MAX_K 1000
#define MKT_KMEANS_MAX_ITERS 100000

void mkt_kmeans_config_defaults(mkt_kmeans_config *c);
/* NULL if the configuration is usable, else a message naming the bad field,
 * e.g. "k must be in [1, 1000] (got 0)".  The message lives in a
 * thread-local buffer, valid until the next call on the same thread. */
const char *mkt_kmeans_check_config(const mkt_kmeans_config *c);

/* Index of the centre (k rows of d, row-major) nearest to x in squared
 * Euclidean distance; ties go to the lowest index.  *dist2 gets the distance. */
int mkt_kmeans_nearest(const double *x, const double *centers, int k, int d, double *dist2);

/* k-means++ pick: adds w[0], w[1], ... (all >= 0) to *running, an exact sum
 * that already holds the weights of every earlier row, and returns the first i
 * at which the rounded exact sum exceeds target; -1 if none (then *running
 * holds the sum of all n). */
int64_t mkt_kmeans_pick(const double *w, int64_t n, mkt_xsum *running, double target);

/* Which feature plays which role in the naming rules (-1: absent). */
typedef struct {
    int spend, purchases, recency, tenure, price_ratio;
} mkt_segment_roles;

#define MKT_SEGMENT_NAME_LEN 32

/* Name k segments from their centroids: z (standardized, (x - mean) / std)
 * and orig (original units), both k x d.  The first rule that holds wins:
 *   spend z >= 1                                      "high value"
 *   purchases >= 0.5 (orig) and recency z >= 0.5      "at risk"
 *   tenure z <= -0.5                                  "new"
 *   purchases >= 0.5 (orig) and price ratio z <= -0.5 "bargain hunters"
 *   purchases >= 0.5 (orig) and spend z >= 0          "regular buyers"
 *   purchases < 0.5 (orig)                            "browsers"
 *   otherwise (buys, below-average spend)             "occasional"
 * Segments sharing a name are told apart by the role feature on which each
 * differs most (in z) from the mean of those segments: "high value, frequent"
 * and "high value, lapsed" (spend: top spenders/moderate spend; purchases:
 * frequent/infrequent; recency: lapsed/recent; tenure: long-standing/newer;
 * price ratio: premium/price-sensitive).  A name still given twice gets " 2",
 * " 3", ... in segment order. */
void mkt_kmeans_name(const double *z, const double *orig, int k, int d, const mkt_segment_roles *roles,
                     char (*names)[MKT_SEGMENT_NAME_LEN]);

#endif
