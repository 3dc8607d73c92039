/* eventstore.h — writing the partitioned shop into the store: events grouped
 * by user and by item, campaigns, items, id maps.
 *
 * Both `mkt gen` and `mkt ingest` end here, so a generated shop and an
 * ingested one have the same layout (docs/store.md).  Rows may sit on any
 * rank when these are called; they are shuffled with MPI to the rank that
 * owns their user (or item), sorted in a deterministic total order, and
 * written at offsets computed from dense ids, so the file is identical for
 * any number of ranks.  All functions are Collective. */
#ifndef MKT_EVENTSTORE_H
#define MKT_EVENTSTORE_H

#include <hdf5.h>
#include <mpi.h>
#include <stdint.h>

#include "mkt_types.h"

/* Write /events/by_user and /events/by_item (columns user, item, ts, order,
 * type, qty, value, and indptr).  *events (n_local rows, on any rank) is
 * consumed and freed.  Returns the global event count. */
int64_t mkt_store_write_events(hid_t file, mkt_event **events, int64_t n_local, int64_t n_users, int64_t n_items,
                               MPI_Comm comm);

/* Write /campaigns (user, treatment, visit, conversion, spend, order, and
 * attrs [n x n_attrs] when n_attrs > 0) sorted by (user, order).  rows and
 * attrs (row-aligned) are consumed and freed. */
int64_t mkt_store_write_campaigns(hid_t file, mkt_campaign_row **rows, double **attrs, int64_t n_local,
                                  int n_attrs, int64_t n_users, MPI_Comm comm);

/* Write /partition/<name>: the [begin, end) blocks of `n` over the ranks (the
 * only rank-count-dependent data in a store). */
void mkt_store_write_partition(hid_t file, const char *name, int64_t n, MPI_Comm comm);

#endif
