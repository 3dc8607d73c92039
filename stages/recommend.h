/* recommend.h — the `mkt recommend` stage: the top k items of every user
 * (or, with similar, the k most similar items of every item) from
 * /models/mf, ranked and screened exactly as the gateway's recommend and
 * similar ops rank them, written to an HDF5 file (/recommendations) and
 * optionally a CSV file of external ids (docs/recommend.md).
 * Must not: parse command lines (cli/cmd_recommend.c). */
#ifndef MKT_RECOMMEND_H
#define MKT_RECOMMEND_H

#include <jansson.h>
#include <mpi.h>
#include <stdint.h>

typedef struct {
    char *store, *models, *out, *csv;
    int k;              /* items per user (item) */
    int similar;        /* 1: the items most similar to every item */
    int64_t item_block; /* item factors read and screened this many rows at a time */
} mkt_recommend_options;

/* Defaults: k 10, similar 0, item_block 65536; the file names NULL. */
void mkt_recommend_options_init(mkt_recommend_options *o);
/* NULL, or a message that starts with the option's name. */
const char *mkt_recommend_check(const mkt_recommend_options *o);
/* Collective.  Returns 0; bad input ends the job with a message naming the
 * file and field. */
int mkt_recommend_run(const mkt_recommend_options *o, MPI_Comm comm, json_t *metrics);

#endif
