/* train_segments.h — distributed k-means and the `mkt train segments` stage.
 *
 * Owns the rank-independent k-means (k-means++ seeding by exact prefix sums
 * over the global order of dense user ids, Lloyd steps with exact-sum
 * centroids) and the segments group of the model file (docs/segments.md).
 * Must not define features (mkt features does) or parse options. */
#ifndef MKT_SEGMENTS_H
#define MKT_SEGMENTS_H

#include <jansson.h>
#include <mpi.h>
#include <stdint.h>

#include "kmeans.h"

/* Collective. k-means on rows x (n_local x d, row-major; rank r's rows follow
 * rank r-1's in the global order).  centers (k x d) and assign (n_local) are
 * outputs; returns the number of Lloyd iterations run.  The result is
 * identical for any split of the rows over ranks.  Fails (mkt_fail_all) when
 * there are fewer rows than k. */
int mkt_kmeans_fit(const double *x, int64_t n_local, int d, int k, uint64_t seed, int max_iters, MPI_Comm comm,
                   double *centers, int32_t *assign);

typedef struct {
    mkt_kmeans_config config; /* k, iters, seed (src/kmeans.h) */
    const char *store, *out;
} mkt_segments_options;

/* Sets the defaults of every option (mkt_kmeans_config_defaults; no store). */
void mkt_segments_options_init(mkt_segments_options *opt);

/* Collective. Checks the options (a bad one: one usage error naming it), then reads /features/users, standardize the segmentation features,
 * cluster, name the segments, write /models/segments to opt->out and add
 * sizes, names and mean spend per segment to metrics. */
int mkt_segments_run(const mkt_segments_options *opt, MPI_Comm comm, json_t *metrics);

#endif
