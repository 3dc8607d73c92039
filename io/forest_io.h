/* forest_io.h — a boosted-tree forest (src/gbdt.h) in a model file: the
 * group GROUP/forest of any model group (/models/propensity, the uplift
 * learners' fits) holds the node arrays and the forest's attributes.
 *
 *   GROUP/forest: attributes features (d), trees, base_score, loss
 *                 ("logistic" or "squared"); datasets tree_start [trees + 1]
 *                 int64, feature, left, right [nodes] int32, default_left
 *                 [nodes] int8, threshold, value, gain, cover [nodes] double.
 *
 * Reading checks everything a crafted file could get wrong (shapes, counts,
 * children inside their tree and after their parent, finite values) before
 * the forest is used, and returns a message naming the file and dataset.
 * Must not: train, or exit on a bad file. */
#ifndef MKT_FOREST_IO_H
#define MKT_FOREST_IO_H

#include <hdf5.h>
#include <mpi.h>
#include <stddef.h>

#include "gbdt.h"

#define MKT_FOREST_GROUP "forest" /* under the model's group */
#define MKT_FOREST_MAX_NODES (INT64_C(1) << 31)

/* Collective. Write m under group/forest (every rank holds the same m). */
void mkt_forest_write(hid_t f, const char *group, const mkt_gbdt_model *m, MPI_Comm comm);
/* 1 when group/forest exists. */
int mkt_forest_exists(hid_t f, const char *group);
/* Independent. Read and check group/forest of a model with d features
 * (d <= 0: any); 0, or -1 with a message in why (m is then empty). */
int mkt_forest_read(hid_t f, const char *file, const char *group, int d, mkt_gbdt_model *m, char *why, size_t len);

#endif
