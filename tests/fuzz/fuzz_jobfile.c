/* fuzz_jobfile.c — libFuzzer target for the job-file parser (cli/jobfile.c
 * through `mkt run --check`): any bytes as a job file must be accepted or
 * refused through mkt_fail_all with a message, never crash, hang or read out
 * of bounds.  The input is written to a memfd and opened through
 * /proc/self/fd; mkt_fail_all's hook longjmps back here instead of exiting.
 * Built and run by tests/fuzz/run_jobfile.sh (clang -fsanitize=fuzzer,address,undefined). */

#include <mpi.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "iocheck.h"
#include "commands.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static jmp_buf back;

static void on_fail(int status)
{
    longjmp(back, status ? status : 1);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    int provided;
    MPI_Init_thread(NULL, NULL, MPI_THREAD_SINGLE, &provided);
    mkt_check_init();
    setenv("MKT_QUIET", "1", 1);
    mkt_fail_all_hook_set(on_fail);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = memfd_create("job", 0);
    if (fd < 0)
        abort();
    if (size && write(fd, data, size) != (ssize_t)size)
        abort();
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    volatile int status = 0;
    int j = setjmp(back);
    if (j == 0)
        status = mkt_job_check(path, MPI_COMM_WORLD);
    else
        status = j;
    close(fd);
    /* a refusal is a usage error (2) or a stage that is not built (3) */
    if (status != 0 && status != 2 && status != 3)
        abort();
    return 0;
}
