/* h5store.c — parallel HDF5 file lifecycle and row-partitioned datasets.
 *
 * Owns: creating mkt files under a temporary name and renaming on commit,
 * validating files before any stage reads them, collective block writes,
 * independent block reads, attributes.  It does not know what the datasets
 * mean: the stages (ingest, gen, features, models) decide the layout,
 * documented in docs/store.md.
 *
 * Writes are crash- and fault-safe: a file is only ever written under
 * PATH.tmp, fsync'd, renamed onto PATH and its directory fsync'd, so PATH is
 * either the old complete file or the new complete one.  A write that fails
 * (disk full, read-only file system, I/O error) ends the job with a message
 * naming the file and the operating system's reason. */
#define _GNU_SOURCE /* copy_file_range */
#include "h5store.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "iocheck.h"
#include "par.h"
#include "validate.h"

/* Largest byte count moved by one H5Dwrite/H5Dread call: MPI-IO counts are
 * ints, so big blocks go in pieces. */
#define PIECE_BYTES ((int64_t)256 << 20)
/* Bytes of one chunk of a written dataset (each carries its checksum). */
#define CHUNK_BYTES ((int64_t)1 << 20)

static hid_t mpio_fapl(MPI_Comm comm)
{
    hid_t fapl = MKT_H5(H5Pcreate(H5P_FILE_ACCESS));
    MKT_H5(H5Pset_fapl_mpio(fapl, comm, MPI_INFO_NULL));
    return fapl;
}

/* The directory part of path (static buffer). */
static const char *dir_of(const char *path)
{
    static char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    return dirname(buf);
}

static herr_t first_error(unsigned n, const H5E_error2_t *err, void *data);

/* Why a write into the file behind loc failed: the OS error when there is
 * one (errno as left by the failed call, or a full file system seen with
 * statvfs), else HDF5's innermost message. */
static void write_failure_reason(hid_t loc, int saved_errno, char *fname, size_t flen, char *why, size_t wlen)
{
    snprintf(fname, flen, "?");
    if (loc >= 0 && H5Fget_name(loc, fname, flen) < 0)
        snprintf(fname, flen, "?");
    struct statvfs vfs;
    int full = statvfs(dir_of(fname), &vfs) == 0 && (uint64_t)vfs.f_bavail * vfs.f_frsize < ((uint64_t)1 << 16);
    switch (saved_errno) {
    case ENOSPC: case EDQUOT: case EROFS: case EACCES: case EPERM: case EIO: case EFBIG: case EBADF:
        snprintf(why, wlen, "%s", strerror(saved_errno));
        return;
    default:
        break;
    }
    if (full) {
        snprintf(why, wlen, "%s", strerror(ENOSPC));
        return;
    }
    char msg[256] = "";
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, first_error, msg);
    snprintf(why, wlen, "HDF5: %s", msg[0] ? msg : "write failed");
}

/* End the job when a write call into the file behind loc failed (rc < 0). */
#define CHECK_WRITE(call, loc, what)                                                                         \
    do {                                                                                                     \
        errno = 0;                                                                                           \
        hid_t rc_ = (hid_t)(call);                                                                           \
        if (rc_ < 0)                                                                                         \
            write_failed((loc), errno, (what));                                                              \
    } while (0)

static _Noreturn void write_failed(hid_t loc, int saved_errno, const char *what)
{
    char fname[1024], why[512], final[1024], obj[600];
    if (!what) { /* the object's own path, e.g. a dataset being written */
        char name[512] = "?";
        H5Iget_name(loc, name, sizeof name);
        snprintf(obj, sizeof obj, "%s", name);
        what = obj;
    }
    write_failure_reason(loc, saved_errno, fname, sizeof fname, why, sizeof why);
    size_t n = strlen(fname);
    if (n > 4 && !strcmp(fname + n - 4, ".tmp")) {
        /* mkt only writes under temporary names: drop the partial file (it
         * may be what filled the disk); the real one is untouched */
        snprintf(final, sizeof final, "%.*s", (int)(n - 4), fname);
        unlink(fname);
        mkt_fail("cannot write %s to %s: %s; %s is unchanged", what, fname, why, final);
    }
    mkt_fail("cannot write %s to %s: %s", what, fname, why);
}

/* Rank-local. fsync a file (or, with dir = 1, a directory); 0 or errno. */
static int fsync_path(const char *path, int dir)
{
    int fd = open(path, dir ? O_RDONLY | O_DIRECTORY : O_RDONLY);
    if (fd < 0)
        return errno;
    int rc = fsync(fd) == 0 ? 0 : errno;
    if (rc == EINVAL || rc == EROFS) /* file systems that cannot sync (or need not) */
        rc = 0;
    close(fd);
    return rc;
}

void mkt_h5_create(mkt_h5out *out, const char *path, const char *kind, MPI_Comm comm)
{
    size_t n = strlen(path) + 8;
    out->final_path = mkt_xstrdup(path);
    out->tmp_path = mkt_xmalloc(n);
    snprintf(out->tmp_path, n, "%s.tmp", path);
    out->comm = comm;
    /* Check the directory is writable on rank 0 first, for a clear message.
     * Rank 0 of comm, not of the job: comm may be a group of `mkt tune`. */
    int ok = 1, rank;
    char why[512] = "";
    MKT_MPI(MPI_Comm_rank(comm, &rank));
    if (rank == 0) {
        FILE *f = fopen(out->tmp_path, "wb");
        if (!f) {
            ok = 0;
            snprintf(why, sizeof why, "cannot create %s: %s", out->tmp_path, strerror(errno));
        } else {
            fclose(f);
        }
    }
    MKT_MPI(MPI_Bcast(&ok, 1, MPI_INT, 0, comm));
    if (!ok) {
        MKT_MPI(MPI_Bcast(why, sizeof why, MPI_CHAR, 0, comm));
        mkt_fail_all(MKT_EXIT_ERROR, "%s", why);
    }
    mkt_tmp_add(out->tmp_path); /* removed if anything fails before the rename */
    hid_t fapl = mpio_fapl(comm);
    /* object headers and indexes of the 1.8 format carry checksums, so a
     * flipped byte in the metadata is an error too, not a changed attribute */
    MKT_H5(H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_LATEST));
    out->file = MKT_H5(H5Fcreate(out->tmp_path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl));
    MKT_H5(H5Pclose(fapl));
    char fmt[32];
    snprintf(fmt, sizeof fmt, "mkt-%s", kind);
    mkt_h5_attr_set_string(out->file, ".", "format", fmt);
    mkt_h5_attr_set_int(out->file, ".", "schema_version", MKT_SCHEMA_VERSION);
}

void mkt_h5_commit(mkt_h5out *out)
{
    CHECK_WRITE(H5Fflush(out->file, H5F_SCOPE_GLOBAL), out->file, "the file's metadata");
    errno = 0;
    if (H5Fclose(out->file) < 0) {
        int e = errno;
        char why[512], fname[1024];
        write_failure_reason(-1, e, fname, sizeof fname, why, sizeof why);
        unlink(out->tmp_path);
        mkt_fail("cannot write %s (closing it): %s; %s is unchanged", out->tmp_path, why, out->final_path);
    }
    out->file = -1;
    MKT_MPI(MPI_Barrier(out->comm));
    int ok = 1, rank;
    char why[1024] = "";
    MKT_MPI(MPI_Comm_rank(out->comm, &rank));
    if (rank == 0) {
        /* data on disk before the name points at it; then the name itself */
        int e = fsync_path(out->tmp_path, 0);
        if (e) {
            ok = 0;
            snprintf(why, sizeof why, "cannot write %s (fsync): %s; %s is unchanged", out->tmp_path, strerror(e),
                     out->final_path);
        } else if (rename(out->tmp_path, out->final_path) != 0) {
            ok = 0;
            snprintf(why, sizeof why, "cannot rename %s to %s: %s", out->tmp_path, out->final_path,
                     strerror(errno));
        } else if ((e = fsync_path(dir_of(out->final_path), 1)) != 0) {
            ok = 0;
            snprintf(why, sizeof why, "renamed %s to %s but cannot sync its directory: %s", out->tmp_path,
                     out->final_path, strerror(e));
        }
    }
    MKT_MPI(MPI_Bcast(&ok, 1, MPI_INT, 0, out->comm));
    if (!ok) {
        MKT_MPI(MPI_Bcast(why, sizeof why, MPI_CHAR, 0, out->comm));
        mkt_fail_all(MKT_EXIT_ERROR, "%s", why);
    }
    mkt_tmp_done(out->tmp_path);
    free(out->final_path);
    free(out->tmp_path);
    out->final_path = out->tmp_path = NULL;
}

static herr_t first_error(unsigned n, const H5E_error2_t *err, void *data)
{
    char *out = data;
    if (n == 0 || out[0] == 0)
        snprintf(out, 256, "%s", err->desc ? err->desc : "unknown HDF5 error");
    return 0;
}

/* Rank 0 opens the file serially to diagnose it before the collective open. */
static int diagnose(const char *path, char *why, size_t len)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        snprintf(why, len, "%s: %s", path, strerror(errno));
        return 0;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(why, len, "%s: not a regular file", path);
        return 0;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(why, len, "%s: %s", path, strerror(errno));
        return 0;
    }
    unsigned char sig[8] = {0};
    size_t got = fread(sig, 1, 8, f);
    fclose(f);
    static const unsigned char h5sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    if (got < 8 || memcmp(sig, h5sig, 8) != 0) {
        snprintf(why, len, "%s: not an HDF5 file (no HDF5 signature at the start)", path);
        return 0;
    }
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (file < 0) {
        char msg[256] = "";
        H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, first_error, msg);
        snprintf(why, len, "%s: HDF5 cannot open it (%s); the file is truncated or corrupt", path, msg);
        return 0;
    }
    int ok = 1;
    char *fmt = mkt_h5_attr_get_string(file, ".", "format");
    int64_t version = mkt_h5_attr_get_int(file, ".", "schema_version", -1);
    if (!fmt || strncmp(fmt, "mkt-", 4) != 0) {
        snprintf(why, len, "%s: an HDF5 file, but not one written by mkt (no 'format' attribute)", path);
        ok = 0;
    } else if (version != MKT_SCHEMA_VERSION) {
        snprintf(why, len, "%s: schema version %lld, this mkt reads version %d", path, (long long)version,
                 MKT_SCHEMA_VERSION);
        ok = 0;
    }
    free(fmt);
    H5Fclose(file);
    return ok;
}

int mkt_h5_check(const char *path, char *why, size_t len) { return diagnose(path, why, len); }

void mkt_h5_require(const char *path, int code, const char *prefix, MPI_Comm comm)
{
    int ok = 1, rank;
    char why[1024] = "";
    MKT_MPI(MPI_Comm_rank(comm, &rank));
    if (rank == 0)
        ok = diagnose(path, why, sizeof why);
    MKT_MPI(MPI_Bcast(&ok, 1, MPI_INT, 0, comm));
    if (!ok) {
        MKT_MPI(MPI_Bcast(why, sizeof why, MPI_CHAR, 0, comm));
        mkt_fail_all(code, "%s%s", prefix, why);
    }
}

hid_t mkt_h5_open(const char *path, int rw, MPI_Comm comm)
{
    mkt_h5_require(path, MKT_EXIT_ERROR, "", comm);
    hid_t fapl = mpio_fapl(comm);
    hid_t file = MKT_H5(H5Fopen(path, rw ? H5F_ACC_RDWR : H5F_ACC_RDONLY, fapl));
    MKT_H5(H5Pclose(fapl));
    /* what the file holds, before any stage computes on it (validate.h) */
    char bad[1024];
    if (mkt_validate_open_file(file, path, comm, bad, sizeof bad) != 0) {
        H5Fclose(file);
        mkt_fail_all(MKT_EXIT_ERROR, "%s", bad);
    }
    return file;
}

void mkt_h5_close(hid_t file) { MKT_H5(H5Fclose(file)); }

static hid_t group_lcpl(void)
{
    hid_t lcpl = MKT_H5(H5Pcreate(H5P_LINK_CREATE));
    MKT_H5(H5Pset_create_intermediate_group(lcpl, 1));
    return lcpl;
}

static void write_pieces(hid_t dset, hid_t type, const void *data, int64_t offset, int64_t local_rows, int64_t cols,
                         MPI_Comm comm)
{
    int64_t ncols = cols > 0 ? cols : 1;
    size_t tsize = H5Tget_size(type);
    int64_t row_bytes = (int64_t)tsize * ncols;
    int64_t piece_rows = PIECE_BYTES / row_bytes > 0 ? PIECE_BYTES / row_bytes : 1;
    int64_t pieces = (local_rows + piece_rows - 1) / piece_rows, max_pieces = 0;
    MKT_MPI(MPI_Allreduce(&pieces, &max_pieces, 1, MPI_INT64_T, MPI_MAX, comm));
    hid_t dxpl = MKT_H5(H5Pcreate(H5P_DATASET_XFER));
    MKT_H5(H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE));
    hid_t fspace = MKT_H5(H5Dget_space(dset));
    int rank = cols > 0 ? 2 : 1;
    for (int64_t p = 0; p < max_pieces; p++) {
        int64_t start = p * piece_rows;
        int64_t count = local_rows - start;
        if (count > piece_rows)
            count = piece_rows;
        if (count < 0)
            count = 0;
        hsize_t mdims[2] = {(hsize_t)(count > 0 ? count : 1), (hsize_t)ncols};
        hid_t mspace = MKT_H5(H5Screate_simple(rank, mdims, NULL));
        if (count > 0) {
            hsize_t fstart[2] = {(hsize_t)(offset + start), 0}, fcount[2] = {(hsize_t)count, (hsize_t)ncols};
            MKT_H5(H5Sselect_hyperslab(fspace, H5S_SELECT_SET, fstart, NULL, fcount, NULL));
        } else {
            MKT_H5(H5Sselect_none(fspace));
            MKT_H5(H5Sselect_none(mspace));
        }
        const char *src = count > 0 ? (const char *)data + start * row_bytes : NULL;
        static const char dummy[16];
        CHECK_WRITE(H5Dwrite(dset, type, mspace, fspace, dxpl, src ? (const void *)src : (const void *)dummy),
                    dset, NULL);
        MKT_H5(H5Sclose(mspace));
    }
    MKT_H5(H5Sclose(fspace));
    MKT_H5(H5Pclose(dxpl));
}

void mkt_h5_write_rows_at(hid_t loc, const char *name, hid_t type, const void *data, int64_t offset,
                          int64_t local_rows, int64_t total_rows, int64_t cols, MPI_Comm comm)
{
    hsize_t dims[2] = {(hsize_t)total_rows, (hsize_t)(cols > 0 ? cols : 1)};
    hid_t space = MKT_H5(H5Screate_simple(cols > 0 ? 2 : 1, dims, NULL));
    hid_t lcpl = group_lcpl();
    /* Chunked with HDF5's Fletcher32 checksum: raw data that change on disk
     * fail their read (mkt_h5_read_rows, io/validate.c name the file and
     * dataset) instead of being computed on.  Parallel HDF5 (>= 1.10.2)
     * writes filtered chunks collectively, which write_pieces always does. */
    hid_t dcpl = MKT_H5(H5Pcreate(H5P_DATASET_CREATE));
    if (total_rows > 0) {
        int64_t row_bytes = (int64_t)H5Tget_size(type) * (cols > 0 ? cols : 1);
        int64_t chunk = CHUNK_BYTES / (row_bytes > 0 ? row_bytes : 1);
        if (chunk < 1)
            chunk = 1;
        if (chunk > total_rows)
            chunk = total_rows;
        hsize_t cdims[2] = {(hsize_t)chunk, dims[1]};
        MKT_H5(H5Pset_chunk(dcpl, cols > 0 ? 2 : 1, cdims));
        MKT_H5(H5Pset_fletcher32(dcpl));
    }
    errno = 0;
    hid_t dset = H5Dcreate2(loc, name, type, space, lcpl, dcpl, H5P_DEFAULT);
    if (dset < 0)
        write_failed(loc, errno, name);
    MKT_H5(H5Pclose(dcpl));
    MKT_H5(H5Pclose(lcpl));
    MKT_H5(H5Sclose(space));
    if (total_rows > 0)
        write_pieces(dset, type, data, offset, local_rows, cols, comm);
    CHECK_WRITE(H5Dclose(dset), loc, name);
    mkt_h5_attr_set_int(loc, name, "schema_version", MKT_SCHEMA_VERSION);
}

int64_t mkt_h5_write_rows(hid_t loc, const char *name, hid_t type, const void *data, int64_t local_rows,
                          int64_t cols, MPI_Comm comm)
{
    int64_t total = 0;
    int64_t offset = mkt_exscan_count(local_rows, &total, comm);
    mkt_h5_write_rows_at(loc, name, type, data, offset, local_rows, total, cols, comm);
    return total;
}

void mkt_h5_write_small(hid_t loc, const char *name, hid_t type, const void *data, int64_t rows, int64_t cols,
                        MPI_Comm comm)
{
    int rank;
    MKT_MPI(MPI_Comm_rank(comm, &rank));
    mkt_h5_write_rows_at(loc, name, type, data, 0, rank == 0 ? rows : 0, rows, cols, comm);
}

int64_t mkt_h5_write_strings(hid_t loc, const char *name, char *const *strs, int64_t local_n, MPI_Comm comm)
{
    /* NUL-terminated fixed-length strings: h5dump and h5py show them plainly */
    int64_t width = 1, global_width = 1;
    for (int64_t i = 0; i < local_n; i++) {
        int64_t l = (int64_t)strlen(strs[i]) + 1;
        if (l > width)
            width = l;
    }
    MKT_MPI(MPI_Allreduce(&width, &global_width, 1, MPI_INT64_T, MPI_MAX, comm));
    char *buf = mkt_xcalloc((size_t)(local_n > 0 ? local_n : 1), (size_t)global_width);
    for (int64_t i = 0; i < local_n; i++)
        memcpy(buf + i * global_width, strs[i], strlen(strs[i]));
    hid_t type = MKT_H5(H5Tcopy(H5T_C_S1));
    MKT_H5(H5Tset_size(type, (size_t)global_width));
    MKT_H5(H5Tset_strpad(type, H5T_STR_NULLTERM));
    int64_t total = mkt_h5_write_rows(loc, name, type, buf, local_n, 0, comm);
    MKT_H5(H5Tclose(type));
    free(buf);
    return total;
}

int mkt_h5_exists(hid_t loc, const char *path)
{
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", path);
    /* Check each component in turn: H5Lexists fails on a missing parent. */
    for (char *p = buf + (buf[0] == '/'); ; p++) {
        if (*p == '/' || *p == 0) {
            char saved = *p;
            *p = 0;
            if (buf[0] && strcmp(buf, "/") != 0 && H5Lexists(loc, buf, H5P_DEFAULT) <= 0)
                return 0;
            *p = saved;
            if (saved == 0)
                break;
        }
    }
    return 1;
}

static hid_t open_dataset(hid_t loc, const char *name)
{
    if (!mkt_h5_exists(loc, name)) {
        char fname[1024] = "?";
        H5Fget_name(loc, fname, sizeof fname);
        mkt_fail("%s: dataset %s is missing (run the stage that writes it first)", fname, name);
    }
    return MKT_H5(H5Dopen2(loc, name, H5P_DEFAULT));
}

int64_t mkt_h5_rows(hid_t loc, const char *name, int64_t *cols)
{
    hid_t dset = open_dataset(loc, name);
    hid_t space = MKT_H5(H5Dget_space(dset));
    hsize_t dims[2] = {0, 0};
    int nd = MKT_H5(H5Sget_simple_extent_dims(space, dims, NULL));
    if (cols)
        *cols = nd >= 2 ? (int64_t)dims[1] : 0;
    MKT_H5(H5Sclose(space));
    MKT_H5(H5Dclose(dset));
    return (int64_t)dims[0];
}

void mkt_h5_read_rows(hid_t loc, const char *name, hid_t type, int64_t start, int64_t count, void *out)
{
    if (count <= 0)
        return;
    hid_t dset = open_dataset(loc, name);
    hid_t fspace = MKT_H5(H5Dget_space(dset));
    hsize_t dims[2] = {0, 1};
    int nd = MKT_H5(H5Sget_simple_extent_dims(fspace, dims, NULL));
    if (nd < 2)
        dims[1] = 1;
    if (start < 0 || (hsize_t)(start + count) > dims[0])
        mkt_fail("dataset %s: rows [%lld, %lld) out of range (it has %llu rows)", name, (long long)start,
                 (long long)(start + count), (unsigned long long)dims[0]);
    size_t tsize = H5Tget_size(type);
    int64_t row_bytes = (int64_t)(tsize * dims[1]);
    int64_t piece_rows = PIECE_BYTES / row_bytes > 0 ? PIECE_BYTES / row_bytes : 1;
    for (int64_t done = 0; done < count; done += piece_rows) {
        int64_t n = count - done < piece_rows ? count - done : piece_rows;
        hsize_t fstart[2] = {(hsize_t)(start + done), 0}, fcount[2] = {(hsize_t)n, dims[1]};
        MKT_H5(H5Sselect_hyperslab(fspace, H5S_SELECT_SET, fstart, NULL, fcount, NULL));
        hid_t mspace = MKT_H5(H5Screate_simple(nd < 2 ? 1 : 2, fcount, NULL));
        if (H5Dread(dset, type, mspace, fspace, H5P_DEFAULT, (char *)out + done * row_bytes) < 0) {
            char fname[1024] = "?", msg[256] = "";
            H5Fget_name(loc, fname, sizeof fname);
            H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, first_error, msg);
            mkt_fail("%s: %s: rows %lld..%lld cannot be read (HDF5: %s): the raw data fail their checksum or the "
                     "file is truncated (corrupt file)",
                     fname, name, (long long)(start + done), (long long)(start + done + n - 1), msg);
        }
        MKT_H5(H5Sclose(mspace));
    }
    MKT_H5(H5Sclose(fspace));
    MKT_H5(H5Dclose(dset));
}

char **mkt_h5_read_strings(hid_t loc, const char *name, int64_t start, int64_t count)
{
    char **out = mkt_xcalloc((size_t)(count > 0 ? count : 1), sizeof(char *));
    if (count <= 0)
        return out;
    hid_t dset = open_dataset(loc, name);
    hid_t ftype = MKT_H5(H5Dget_type(dset));
    size_t width = H5Tget_size(ftype);
    MKT_H5(H5Tclose(ftype));
    MKT_H5(H5Dclose(dset));
    hid_t type = MKT_H5(H5Tcopy(H5T_C_S1));
    MKT_H5(H5Tset_size(type, width));
    MKT_H5(H5Tset_strpad(type, H5T_STR_NULLPAD)); /* reads NULLTERM and NULLPAD datasets alike */
    char *buf = mkt_xcalloc((size_t)count, width);
    mkt_h5_read_rows(loc, name, type, start, count, buf);
    MKT_H5(H5Tclose(type));
    for (int64_t i = 0; i < count; i++) {
        out[i] = mkt_xcalloc(width + 1, 1);
        memcpy(out[i], buf + (size_t)i * width, width);
    }
    free(buf);
    return out;
}

void mkt_h5_free_strings(char **s, int64_t n)
{
    if (!s)
        return;
    for (int64_t i = 0; i < n; i++)
        free(s[i]);
    free(s);
}

static void attr_write(hid_t loc, const char *path, const char *name, hid_t type, const void *v)
{
    if (H5Aexists_by_name(loc, path, name, H5P_DEFAULT) > 0)
        MKT_H5(H5Adelete_by_name(loc, path, name, H5P_DEFAULT));
    hid_t space = MKT_H5(H5Screate(H5S_SCALAR));
    errno = 0;
    hid_t attr = H5Acreate_by_name(loc, path, name, type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (attr < 0)
        write_failed(loc, errno, name);
    CHECK_WRITE(H5Awrite(attr, type, v), loc, name);
    CHECK_WRITE(H5Aclose(attr), loc, name);
    MKT_H5(H5Sclose(space));
}

void mkt_h5_attr_set_int(hid_t loc, const char *path, const char *name, int64_t v)
{
    attr_write(loc, path, name, H5T_NATIVE_INT64, &v);
}

void mkt_h5_attr_set_double(hid_t loc, const char *path, const char *name, double v)
{
    attr_write(loc, path, name, H5T_NATIVE_DOUBLE, &v);
}

void mkt_h5_attr_set_string(hid_t loc, const char *path, const char *name, const char *v)
{
    hid_t type = MKT_H5(H5Tcopy(H5T_C_S1));
    MKT_H5(H5Tset_size(type, strlen(v) > 0 ? strlen(v) : 1));
    MKT_H5(H5Tset_strpad(type, H5T_STR_NULLPAD));
    attr_write(loc, path, name, type, strlen(v) > 0 ? v : " ");
    MKT_H5(H5Tclose(type));
}

static hid_t attr_open(hid_t loc, const char *path, const char *name)
{
    if (strcmp(path, ".") != 0 && !mkt_h5_exists(loc, path))
        return -1;
    if (H5Aexists_by_name(loc, path, name, H5P_DEFAULT) <= 0)
        return -1;
    return H5Aopen_by_name(loc, path, name, H5P_DEFAULT, H5P_DEFAULT);
}

int64_t mkt_h5_attr_get_int(hid_t loc, const char *path, const char *name, int64_t dflt)
{
    hid_t attr = attr_open(loc, path, name);
    if (attr < 0)
        return dflt;
    int64_t v = dflt;
    if (H5Aread(attr, H5T_NATIVE_INT64, &v) < 0)
        v = dflt;
    H5Aclose(attr);
    return v;
}

double mkt_h5_attr_get_double(hid_t loc, const char *path, const char *name, double dflt)
{
    hid_t attr = attr_open(loc, path, name);
    if (attr < 0)
        return dflt;
    double v = dflt;
    if (H5Aread(attr, H5T_NATIVE_DOUBLE, &v) < 0)
        v = dflt;
    H5Aclose(attr);
    return v;
}

char *mkt_h5_attr_get_string(hid_t loc, const char *path, const char *name)
{
    hid_t attr = attr_open(loc, path, name);
    if (attr < 0)
        return NULL;
    hid_t ftype = H5Aget_type(attr);
    char *out = NULL;
    if (ftype >= 0 && H5Tget_class(ftype) == H5T_STRING && !H5Tis_variable_str(ftype)) {
        size_t width = H5Tget_size(ftype);
        out = mkt_xcalloc(width + 1, 1);
        hid_t mtype = H5Tcopy(H5T_C_S1);
        H5Tset_size(mtype, width);
        H5Tset_strpad(mtype, H5T_STR_NULLPAD);
        if (H5Aread(attr, mtype, out) < 0) {
            free(out);
            out = NULL;
        }
        H5Tclose(mtype);
    }
    if (ftype >= 0)
        H5Tclose(ftype);
    H5Aclose(attr);
    return out;
}

void mkt_h5_delete(hid_t loc, const char *path)
{
    if (mkt_h5_exists(loc, path))
        MKT_H5(H5Ldelete(loc, path, H5P_DEFAULT));
}

void mkt_h5_move(hid_t loc, const char *from, const char *to)
{
    mkt_h5_delete(loc, to);
    hid_t lcpl = group_lcpl();
    MKT_H5(H5Lmove(loc, from, loc, to, lcpl, H5P_DEFAULT));
    MKT_H5(H5Pclose(lcpl));
}

/* ---------- adding a group to a model file (see h5store.h) ---------- */

/* Rank-local. Copy src to dst (created or truncated) and fsync it; 0 or
 * errno, with *step naming what failed. */
static int copy_file(const char *src, const char *dst, const char **step)
{
    *step = "open";
    int in = open(src, O_RDONLY);
    if (in < 0)
        return errno;
    *step = "create";
    int out = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (out < 0) {
        int e = errno;
        close(in);
        return e;
    }
    int e = 0;
    struct stat st;
    if (fstat(in, &st) != 0) {
        e = errno;
        *step = "stat";
    }
    /* in-kernel copy when the file system offers it, else read/write */
    off_t left = e ? 0 : st.st_size;
    int plain = 0;
    static char buf[1 << 16];
    while (!e && left > 0) {
        ssize_t n = -1;
        if (!plain) {
            n = copy_file_range(in, NULL, out, NULL, (size_t)(left < (1 << 30) ? left : (1 << 30)), 0);
            if (n < 0 && (errno == ENOSYS || errno == EXDEV || errno == EINVAL || errno == EOPNOTSUPP)) {
                plain = 1;
                continue;
            }
        } else {
            ssize_t r = read(in, buf, sizeof buf);
            if (r < 0) {
                e = errno;
                *step = "read";
                break;
            }
            if (r == 0)
                break;
            for (ssize_t done = 0; done < r;) {
                ssize_t w = write(out, buf + done, (size_t)(r - done));
                if (w < 0) {
                    e = errno;
                    break;
                }
                done += w;
            }
            n = e ? -1 : r;
        }
        if (n < 0) {
            if (!e)
                e = errno;
            *step = "write";
            break;
        }
        if (n == 0)
            break;
        left -= n;
    }
    if (!e && fsync(out) != 0 && errno != EINVAL) {
        e = errno;
        *step = "write (fsync)";
    }
    if (close(out) != 0 && !e) {
        e = errno;
        *step = "write (close)";
    }
    close(in);
    return e;
}

void mkt_model_begin(mkt_model_writer *w, const char *path, const char *group, MPI_Comm comm)
{
    memset(w, 0, sizeof *w);
    w->file = -1;
    int rank, exists = 0;
    MKT_MPI(MPI_Comm_rank(comm, &rank));
    if (!path)
        mkt_fail_all(MKT_EXIT_USAGE, "--out MODEL.h5 is required");
    if (rank == 0)
        exists = access(path, F_OK) == 0;
    MKT_MPI(MPI_Bcast(&exists, 1, MPI_INT, 0, comm));
    snprintf(w->final_group, sizeof w->final_group, "%s", group);
    if (!exists) {
        mkt_h5_create(&w->out, path, "model", comm);
        w->file = w->out.file;
        w->created = 1;
        snprintf(w->group, sizeof w->group, "%s", group);
        return;
    }
    /* An existing model file is never written in place: it is checked,
     * copied to PATH.tmp, the group replaced in the copy, and the copy
     * renamed over PATH by mkt_model_end.  A failure at any point (directory
     * not writable, disk full) leaves PATH as it was. */
    size_t n = strlen(path) + 8;
    w->out.final_path = mkt_xstrdup(path);
    w->out.tmp_path = mkt_xmalloc(n);
    snprintf(w->out.tmp_path, n, "%s.tmp", path);
    w->out.comm = comm;
    int ok = 1;
    char why[1536] = "";
    if (rank == 0) {
        ok = diagnose(path, why, sizeof why);
        const char *step = "";
        int e = ok ? copy_file(path, w->out.tmp_path, &step) : 0;
        if (e) {
            ok = 0;
            if (!strcmp(step, "open"))
                snprintf(why, sizeof why, "cannot read %s: %s", path, strerror(e));
            else
                snprintf(why, sizeof why, "cannot %s %s (a copy of %s to update): %s; %s is unchanged", step,
                         w->out.tmp_path, path, strerror(e), path);
            if (strcmp(step, "create") != 0)
                unlink(w->out.tmp_path);
        }
    }
    MKT_MPI(MPI_Bcast(&ok, 1, MPI_INT, 0, comm));
    if (!ok) {
        MKT_MPI(MPI_Bcast(why, sizeof why, MPI_CHAR, 0, comm));
        mkt_fail_all(MKT_EXIT_ERROR, "%s", why);
    }
    mkt_tmp_add(w->out.tmp_path); /* the copy: removed if anything fails before the rename */
    w->out.file = mkt_h5_open(w->out.tmp_path, 1, comm);
    w->file = w->out.file;
    snprintf(w->group, sizeof w->group, "%s.tmp", group);
    mkt_h5_delete(w->file, w->group);
}

void mkt_model_end(mkt_model_writer *w, MPI_Comm comm)
{
    (void)comm;
    if (!w->created)
        mkt_h5_move(w->file, w->group, w->final_group);
    mkt_h5_commit(&w->out);
    w->file = -1;
}
