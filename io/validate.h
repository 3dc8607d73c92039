/* validate.h — the one check of what an mkt store, model or strategy file
 * holds, before any stage computes on it.
 *
 * mkt_h5_open runs it on every file it opens (once per file version per
 * process: a file already checked with the same size and modification time
 * is not read again), and the gateway's model loader runs it on every reload,
 * so a crafted or corrupt file is one clear message naming the file, the
 * dataset and the first bad element, never a crash and never a silently
 * served NaN.  What is checked (docs/store.md, "Validation"):
 *   - schema: the `schema_version` of the file and of every dataset;
 *   - shapes against the recorded counts (U users, I items, T arms, E events);
 *   - index ranges: every user, item, category, brand, arm, segment id
 *     non-negative and below its count;
 *   - row pointers: `indptr` of U+1 (I+1) rows, 0 first, E last, never
 *     decreasing, and each row's own id column equal to the row;
 *   - finite values where the math needs them: ratings and amounts, prices,
 *     attributes, features, every floating-point dataset under /models and
 *     the per-user arrays of /strategy;
 *   - raw data: every dataset is read once, so a Fletcher32 checksum that no
 *     longer matches (a flipped byte) is reported as corruption of that
 *     dataset.
 * The work is split by rows over the ranks of the communicator; the message
 * is the first bad element in a fixed order of checks, the same at any rank
 * count. */
#ifndef MKT_VALIDATE_H
#define MKT_VALIDATE_H

#include <hdf5.h>
#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

/* Collective. Check the open file f (named path in messages).  0 when it is
 * sound; else -1 and the reason in why, identical on every rank. */
int mkt_validate_file(hid_t f, const char *path, MPI_Comm comm, char *why, size_t len);

/* Collective. mkt_validate_file, skipped for a file this process already
 * checked (same device, inode, size and modification time). */
int mkt_validate_open_file(hid_t f, const char *path, MPI_Comm comm, char *why, size_t len);

/* Collective. The same for a file not yet open: opens it read-only, checks,
 * closes.  A file this process already checked (same device, inode, size and
 * modification time) is not read again. */
int mkt_validate_path(const char *path, MPI_Comm comm, char *why, size_t len);

/* Rank-local helpers on arrays, shared by the checks above and usable by
 * readers that check a block they read: each returns -1 when the array is
 * sound, else the position of the first bad element. */
int64_t mkt_check_indptr(const int64_t *ptr, int64_t n, int64_t first, int64_t last, int64_t nnz);
int64_t mkt_check_index_range(const int64_t *v, int64_t n, int64_t lo, int64_t hi);
int64_t mkt_check_finite(const double *v, int64_t n);

#endif
