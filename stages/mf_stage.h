/* mf_stage.h — what the files of the ALS stage share, and nothing else
 * uses: reading the store into each rank's rows (stages/mf_data.c), the
 * held-out reports (stages/eval_mf.c) and the biases-only baseline
 * (stages/train_mf.c).  The collectives are in mpi/als.h; the commands'
 * entry points in train_mf.h. */
#ifndef MKT_MF_STAGE_H
#define MKT_MF_STAGE_H

#include <jansson.h>
#include <mpi.h>

#include "als.h"
#include "train_mf.h"

#define MKT_MF_STAGE "train_mf"

/* MKT_MEMLOG=1: every rank logs its resident memory (now and peak) at the
 * phase boundaries of a run. */
void mkt_mf_memlog(const char *phase);

/* Collective. Read the blocks of o->store and build the training, held-out
 * and validation rows. */
void mkt_mf_load(const mkt_mf_options *o, MPI_Comm comm, mkt_als_data *d);
/* Collective. Replaces the held-out rows of d by the events of the test
 * store `path` ingested against the training store. */
void mkt_mf_load_test(const mkt_mf_options *o, const char *path, mkt_als_data *d, MPI_Comm comm);
void mkt_mf_data_free(mkt_als_data *d);

/* Collective. The biases-only baseline (the same ALS with K = 0) into bx
 * [U] and by [I]; returns its lambda. */
double mkt_mf_bias_baseline(const mkt_mf_options *o, const mkt_als_data *d, double *bx, double *by, MPI_Comm comm);

/* Collective. The explicit model's errors on d->utest (`what`: held-out
 * ratings or a test store) beside the global mean and the biases-only
 * baseline, into metrics and the log.  X holds the local users' rows, Y all
 * items (stride k+1). */
void mkt_mf_explicit_report(const mkt_mf_options *o, const mkt_als_data *d, const double *X, const double *Y, int k,
                            const char *what, MPI_Comm comm, json_t *metrics);
/* Collective. Top-K metrics of the held-out items (model and popularity)
 * into metrics and the log. */
void mkt_mf_ranking_report(const mkt_mf_options *o, const mkt_als_data *d, const double *X, const double *Y, int k,
                           int stride, MPI_Comm comm, json_t *metrics);

#endif
