/* features_stage.h — the `mkt features` stage: per-user and per-item feature
 * matrices, their names and normalization statistics, written into the store.
 *
 * Owns the reading of each rank's block of events from the store, the
 * rank-count-independent statistics, and the layout of the features group
 * (docs/features.md).  Must not define features (src/mkt_features.c does) or parse
 * command lines (the CLI does).
 *
 * Layout written (GROUP defaults to "/features"):
 *   GROUP/users       double [U x F]  row u = features of dense user u
 *   GROUP/items       double [I x G]  row i = features of dense item i
 *   GROUP/user_names  string [F]      GROUP/item_names string [G]
 *   GROUP/user_stats  double [4 x F]  rows: mean, std, min, max over all users
 *   GROUP/item_stats  double [4 x G]  the same over all items
 * GROUP attributes: cutoff_ts (INT64_MAX without a cutoff), has_cutoff,
 * reference_ts, start_ts, users, items, categories, schema_version.
 * The group is written as GROUP.tmp and moved to GROUP (replacing an older
 * one) only when complete.  The result is bitwise identical on any number of
 * ranks. */
#ifndef MKT_FEATURES_STAGE_H
#define MKT_FEATURES_STAGE_H

#include <jansson.h>
#include <mpi.h>
#include <stdint.h>

typedef struct {
    const char *store; /* path of an existing store; opened read-write */
    int64_t cutoff_ts; /* only events with ts < cutoff_ts count (seconds, UTC); used when has_cutoff */
    int has_cutoff;    /* 0: every event counts */
    const char *group; /* absolute group name; NULL or "" means "/features" */
    int progress;      /* 1: rank 0 prints a progress line at most every second */
} mkt_features_options;

/* Defaults: no store, no cutoff, group "/features", progress on. */
void mkt_features_options_init(mkt_features_options *opt);

/* Collective. Compute and write the features group described above.  Adds to
 * `metrics` (may be NULL; the same values on every rank): users, items,
 * categories, user_features, item_features, events_read, events_counted,
 * start_ts, reference_ts, cutoff_ts (with a cutoff), seconds_read,
 * seconds_compute, seconds_write, seconds_total (maximum over ranks) and
 * users_per_second.  Returns MKT_EXIT_OK; every failure ends the job through
 * check.h (a bad option with mkt_fail_all(MKT_EXIT_USAGE)). */
int mkt_features_run(const mkt_features_options *opt, MPI_Comm comm, json_t *metrics);

#endif
