/* fuzz_validate.c — libFuzzer target of the store/model validation
 * (io/validate.c): each input is written to a file, opened with HDF5 like a
 * store or model file and checked; the check must answer (sound or a
 * message) without a crash, a sanitizer report or a hang.  The seeds are a
 * small store and a small model written by mkt (tests/fuzz/run_validate.sh). */
#include <hdf5.h>
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "validate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int init = 0;
    static char path[64];
    if (!init) {
        int argc = 0;
        char **argv = NULL;
        MPI_Init(&argc, &argv);
        H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
        snprintf(path, sizeof path, "fuzz_input_%d.h5", (int)getpid());
        init = 1;
    }
    FILE *f = fopen(path, "wb");
    if (!f)
        return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (file >= 0) {
        char why[1024];
        (void)mkt_validate_file(file, path, MPI_COMM_SELF, why, sizeof why);
        H5Fclose(file);
    }
    H5Eclear2(H5E_DEFAULT);
    unlink(path);
    return 0;
}
