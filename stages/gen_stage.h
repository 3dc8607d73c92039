/* gen_stage.h — `mkt gen`: generate the synthetic shop in parallel and write
 * it as a store (HDF5, with /truth) or as the CSV files ingest reads.
 *
 * Each rank generates its own block of users from counter-based random
 * streams (src/gen.c), so the output is identical for any rank count. */
#ifndef MKT_GEN_STAGE_H
#define MKT_GEN_STAGE_H

#include <jansson.h>
#include <mpi.h>

#include "gen.h"

typedef struct {
    mkt_gen_config config;
    const char *out;     /* store path (HDF5), or NULL */
    const char *csv_dir; /* directory for events.csv, items.csv, campaign.csv, or NULL */
} mkt_gen_stage_options;

/* Collective. Returns an exit status (0 on success). */
int mkt_gen_stage_run(const mkt_gen_stage_options *opt, MPI_Comm comm, json_t *metrics);

#endif
