/* digest.c — `mkt digest`: a content digest of every dataset in an HDF5
 * file, so tests (and users) can check that two stores hold the same data,
 * for example the same shop written on 1, 2 and 4 ranks.  Reads serially. */
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iocheck.h"
#include "commands.h"

typedef struct {
    int include_partition;
    int failed;
} digest_state;

static uint64_t fnv1a(const unsigned char *p, size_t n, uint64_t h)
{
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static herr_t visit(hid_t root, const char *name, const H5O_info_t *info, void *data)
{
    digest_state *st = data;
    if (info->type != H5O_TYPE_DATASET)
        return 0;
    if (!st->include_partition && !strncmp(name, "partition", 9))
        return 0;
    hid_t d = H5Dopen2(root, name, H5P_DEFAULT);
    if (d < 0) {
        st->failed = 1;
        return -1;
    }
    hid_t ftype = H5Dget_type(d), space = H5Dget_space(d);
    hid_t mtype = H5Tget_native_type(ftype, H5T_DIR_ASCEND);
    hsize_t dims[8] = {0};
    int nd = H5Sget_simple_extent_dims(space, dims, NULL);
    hssize_t npoints = H5Sget_simple_extent_npoints(space);
    size_t bytes = (size_t)npoints * H5Tget_size(mtype);
    unsigned char *buf = malloc(bytes ? bytes : 1);
    uint64_t h = 1469598103934665603ULL;
    if (!buf || (bytes && H5Dread(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)) {
        st->failed = 1;
    } else {
        h = fnv1a(buf, bytes, h);
    }
    char shape[128] = "";
    for (int i = 0; i < nd; i++)
        snprintf(shape + strlen(shape), sizeof shape - strlen(shape), "%s%llu", i ? "x" : "",
                 (unsigned long long)dims[i]);
    const char *cls = H5Tget_class(ftype) == H5T_FLOAT ? "float" : H5Tget_class(ftype) == H5T_STRING ? "string"
                                                                                                     : "int";
    printf("/%s %s%zu [%s] %016llx\n", name, cls, H5Tget_size(ftype) * 8, shape, (unsigned long long)h);
    free(buf);
    H5Tclose(mtype);
    H5Tclose(ftype);
    H5Sclose(space);
    H5Dclose(d);
    return 0;
}

static int digest_file(const char *path, int include_partition)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) {
        fprintf(stderr, "mkt: error: %s: cannot open as HDF5 (missing, truncated or not HDF5)\n", path);
        return MKT_EXIT_ERROR;
    }
    digest_state st = {include_partition, 0};
    H5Ovisit(f, H5_INDEX_NAME, H5_ITER_INC, visit, &st);
    H5Fclose(f);
    if (st.failed) {
        fprintf(stderr, "mkt: error: %s: a dataset could not be read\n", path);
        return MKT_EXIT_ERROR;
    }
    return MKT_EXIT_OK;
}

/* mkt digest FILE.h5 [--with-partition]: rank 0 reads, every rank returns its status */
static int digest_main(int argc, char **argv, MPI_Comm comm)
{
    int status = MKT_EXIT_OK;
    if (argc < 1 || !strcmp(argv[0], "--help")) {
        if (mkt_rank() == 0)
            printf("usage: mkt digest FILE.h5 [--with-partition]\n\nPrint one line per dataset: path, type, "
                   "shape and a 64-bit hash of its contents. /partition (the only rank-count-dependent "
                   "group) is skipped unless --with-partition is given.\n");
        status = argc < 1 ? MKT_EXIT_USAGE : MKT_EXIT_OK;
    } else if (mkt_rank() == 0) {
        status = digest_file(argv[0], argc > 1 && !strcmp(argv[1], "--with-partition"));
    }
    MPI_Bcast(&status, 1, MPI_INT, 0, comm);
    return status;
}

const mkt_command mkt_cmd_digest = {
    .name = "digest",
    .usage = "mkt digest FILE.h5 [--with-partition]",
    .description = "print a digest of every dataset of a store: mkt digest FILE.h5",
    .main = digest_main,
};
