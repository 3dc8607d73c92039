/* h5store.h — the parallel HDF5 store: create, commit, open, and collective
 * block writes of row-partitioned datasets.
 *
 * Every mkt file is one HDF5 file written with the MPI-IO driver.  A writer
 * creates PATH.tmp, writes, and only mkt_h5_commit() renames it to PATH, so a
 * crash never leaves a file that looks complete.  The root group carries
 * `format` ("mkt-store" or "mkt-model") and `schema_version`; every dataset
 * carries `schema_version`.  Arrays are indexed by dense id, so they read the
 * same whatever rank count wrote them; only /partition depends on it.
 *
 * Functions marked Collective must be called by every rank of the file's
 * communicator with the same arguments (except the per-rank data).  Failures
 * end the job through check.h; a file that is missing, truncated or not an mkt
 * file is reported with mkt_fail_all (clear message, non-zero exit, no hang). */
#ifndef MKT_H5STORE_H
#define MKT_H5STORE_H

#include <hdf5.h>
#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#define MKT_SCHEMA_VERSION 1

typedef struct {
    hid_t file;
    char *final_path;
    char *tmp_path;
    MPI_Comm comm;
} mkt_h5out;

/* Collective. Create PATH.tmp (truncating) for writing; kind is "store" or "model". */
void mkt_h5_create(mkt_h5out *out, const char *path, const char *kind, MPI_Comm comm);
/* Collective. Flush, close and rename PATH.tmp to PATH. */
void mkt_h5_commit(mkt_h5out *out);

/* Collective. Open an existing mkt file; rw = 1 for read-write. Checks that it
 * exists, is HDF5, is an mkt file of a schema this build reads. */
hid_t mkt_h5_open(const char *path, int rw, MPI_Comm comm);
/* Rank-local. Check that path is a readable mkt file of this schema without
 * opening it for MPI-IO: 1 if so, else 0 with the reason (naming the path)
 * in why. */
int mkt_h5_check(const char *path, char *why, size_t len);
/* Collective. mkt_h5_check on rank 0; if it fails, every rank ends the job
 * with exit status `code` and the message prefix followed by the reason. */
void mkt_h5_require(const char *path, int code, const char *prefix, MPI_Comm comm);
/* Collective. Close a file opened with mkt_h5_open. */
void mkt_h5_close(hid_t file);

/* Collective. Write a row-partitioned dataset: each rank passes its local rows
 * (in global order: rank r's rows follow rank r-1's).  Shape is [total] when
 * cols == 0, else [total, cols].  Intermediate groups are created.  Returns the
 * global row count. */
int64_t mkt_h5_write_rows(hid_t loc, const char *name, hid_t type, const void *data, int64_t local_rows,
                          int64_t cols, MPI_Comm comm);
/* Collective. Same, with this rank's offset and the total already known. */
void mkt_h5_write_rows_at(hid_t loc, const char *name, hid_t type, const void *data, int64_t offset,
                          int64_t local_rows, int64_t total_rows, int64_t cols, MPI_Comm comm);
/* Collective. A small array that every rank holds identically; rank 0 writes it. */
void mkt_h5_write_small(hid_t loc, const char *name, hid_t type, const void *data, int64_t rows, int64_t cols,
                        MPI_Comm comm);
/* Collective. Fixed-length strings (width = longest over all ranks), row-partitioned. */
int64_t mkt_h5_write_strings(hid_t loc, const char *name, char *const *strs, int64_t local_n, MPI_Comm comm);

/* Independent reads. */
int mkt_h5_exists(hid_t loc, const char *path);
/* Rows and columns (0 for a 1-D dataset); fails clearly if missing. */
int64_t mkt_h5_rows(hid_t loc, const char *name, int64_t *cols);
/* Read rows [start, start + count) of all columns into out. */
void mkt_h5_read_rows(hid_t loc, const char *name, hid_t type, int64_t start, int64_t count, void *out);
/* Read strings [start, start + count); returns malloc'd array of malloc'd strings. */
char **mkt_h5_read_strings(hid_t loc, const char *name, int64_t start, int64_t count);
void mkt_h5_free_strings(char **s, int64_t n);

/* Attributes on a group or dataset at `path` under loc ("." for loc itself).
 * Setters are Collective (same value on every rank). */
void mkt_h5_attr_set_int(hid_t loc, const char *path, const char *name, int64_t v);
void mkt_h5_attr_set_double(hid_t loc, const char *path, const char *name, double v);
void mkt_h5_attr_set_string(hid_t loc, const char *path, const char *name, const char *v);
int64_t mkt_h5_attr_get_int(hid_t loc, const char *path, const char *name, int64_t dflt);
double mkt_h5_attr_get_double(hid_t loc, const char *path, const char *name, double dflt);
/* malloc'd string or NULL if absent. */
char *mkt_h5_attr_get_string(hid_t loc, const char *path, const char *name);

/* Collective. Delete `path` if it exists (to rewrite a group in place). */
void mkt_h5_delete(hid_t loc, const char *path);
/* Collective. Rename a link (e.g. /features.tmp to /features), replacing it. */
void mkt_h5_move(hid_t loc, const char *from, const char *to);

/* Model files.  Adding a group GROUP to a model file: when the file is missing it is created
 * (mkt_h5_create(..., "model")) and GROUP written directly, then committed;
 * when it exists it is copied to PATH.tmp, GROUP.tmp written in the copy and
 * moved onto GROUP, and the copy fsync'd and renamed over PATH at the end.
 * PATH itself is never opened for writing, so a failed write (unwritable
 * directory, disk full) leaves the previous model file intact.  Write under
 * w->group.  One writer per model file at a time. */
typedef struct {
    mkt_h5out out; /* the file being written (PATH.tmp) */
    hid_t file;
    int created;
    char group[512], final_group[512];
} mkt_model_writer;

/* Collective. */
void mkt_model_begin(mkt_model_writer *w, const char *path, const char *group, MPI_Comm comm);
/* Collective. */
void mkt_model_end(mkt_model_writer *w, MPI_Comm comm);

#endif
