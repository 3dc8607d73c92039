/* teststore.h — test stores: a held-out events file ingested through a
 * training store's id maps (`mkt ingest --as test --into TRAIN.h5`), and the
 * check a reader makes that a test store belongs to a training store.
 *
 * A test store has the layout of any store (docs/store.md, "Test stores"):
 * /ids and /items are copies of the training store's, so dense user and
 * item indices mean the same in both files, and /events holds the test
 * rows.  Its root attributes say where it came from:
 *   role = "test", train_store = the --into path as given,
 *   train_users, train_items = the training store's U and I,
 *   train_ids_hash = mkt_ids_hash() of the training /ids/users and
 *   /ids/items, as 16 lower-case hex digits.
 * A reader that evaluates a model trained on TRAIN against TEST calls
 * mkt_store_check_test_of(TRAIN, TEST, comm) first. */
#ifndef MKT_TESTSTORE_H
#define MKT_TESTSTORE_H

#include <hdf5.h>
#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#define MKT_ROLE_TEST "test"

/* 64-bit FNV-1a of the id maps: every user id followed by a NUL byte, one
 * 0xff byte, then every item id followed by a NUL byte.  Depends only on the
 * ids and their order (the dense indices), never on the rank count. */
uint64_t mkt_ids_hash(char *const *users, int64_t n_users, char *const *items, int64_t n_items);

/* Rank-local.  The hash of the /ids/users and /ids/items of an open store;
 * 0 with the reason in why (naming `path`) when either is missing. */
int mkt_store_ids_hash(hid_t file, const char *path, uint64_t *hash, int64_t *n_users, int64_t *n_items,
                       char *why, size_t len);

/* Rank-local.  1 if test_path is a test store ingested against train_path
 * (role "test", the same user and item counts, train_ids_hash equal to the
 * hash of train_path's id maps and to that of its own copy); else 0 with
 * the reason, naming both files, in why.  Opens both files read-only
 * without MPI-IO: call it before opening them collectively. */
int mkt_store_test_of(const char *train_path, const char *test_path, char *why, size_t len);

/* Collective.  Rank 0 runs mkt_store_test_of; when it fails every rank ends
 * the job (MKT_EXIT_ERROR) with the reason.  Call before opening the files. */
void mkt_store_check_test_of(const char *train_path, const char *test_path, MPI_Comm comm);

/* Collective.  Copy every dataset directly under `group` of `from` (an open
 * store) to the same path in `to` (a store being written), byte for byte
 * with its type and shape, each rank moving its block of rows.  Nothing
 * when `from` has no such group.  Used for the /ids and /items of a test
 * store. */
void mkt_store_copy_group(hid_t from, hid_t to, const char *group, MPI_Comm comm);

#endif
