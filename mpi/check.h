/* check.h — the one error-check layer for MPI and LAPACK calls (HDF5 and
 * ZeroMQ calls: io/iocheck.h, on top of this one).
 *
 * Every call into those libraries that can fail goes through one of these
 * macros.  On failure they print one line
 *     mkt: rank R: FILE:LINE: LIBRARY error in CALL: the library's message
 * to stderr and end the whole job with MPI_Abort, so no rank is ever left
 * waiting in a collective that a failed rank will never enter.
 *
 * mkt_fail() is the same for errors mkt itself detects (bad input found on
 * one rank).  mkt_fail_all() is for errors that every rank detects together
 * (a bad option, a bad job file): rank 0 prints the message once, every rank
 * finalizes MPI and exits with the given status, no abort banner.
 *
 * HDF5's own error printing is switched off by mkt_check_init(); the HDF5
 * error stack is read and printed by MKT_H5 instead.
 *
 * Temporary outputs (PATH.tmp, renamed onto PATH once complete) are
 * registered with mkt_tmp_add and released with mkt_tmp_done once renamed;
 * every failure path here (mkt_fail, mkt_fail_all, the library checks) and
 * an exit with one still registered removes them, so a failed stage leaves
 * no PATH.tmp behind. */
#ifndef MKT_CHECK_H
#define MKT_CHECK_H

#include <mpi.h>
#include <stdint.h>

/* Exit statuses of the mkt command. */
enum {
    MKT_EXIT_OK = 0,
    MKT_EXIT_ERROR = 1,      /* runtime failure (library error, bad data) */
    MKT_EXIT_USAGE = 2,      /* bad option, bad job file */
    MKT_EXIT_NOT_BUILT = 3,  /* a subcommand this build does not provide */
    MKT_EXIT_PREEMPTED = 75  /* checkpointed on SIGTERM/SIGUSR1; requeue and --resume */
};

/* MPI errors return to the caller (and end the job through MKT_MPI);
 * io/iocheck.h's mkt_check_init calls this and silences HDF5's printing. */
void mkt_check_init_mpi(void);

/* Rank-local. A temporary output file this process (or its group, on a
 * shared file system) is writing: removed when the process fails or exits
 * before mkt_tmp_done(path). */
void mkt_tmp_add(const char *path);
/* Rank-local. The temporary file was renamed (or removed): forget it. */
void mkt_tmp_done(const char *path);
/* Rank-local. Remove every registered temporary file now. */
void mkt_tmp_remove_all(void);
int mkt_rank(void);  /* rank in MPI_COMM_WORLD, 0 before MPI_Init */
int mkt_nranks(void);

/* A region where a sub-communicator of the job runs a stage on its own (the
 * groups of `mkt tune`).  Inside it mkt_fail_all, reached by every rank of
 * `comm` together, prints "mkt: error: CONTEXT: message" once (rank 0 of
 * comm) and ends the whole job with MPI_Abort(MPI_COMM_WORLD, status): the
 * other groups cannot join a finalize, so exiting only this group would hang
 * them (when comm is the whole job, every rank exits as usual).  cleanup (may be NULL) runs on rank 0 of comm before the abort, e.g.
 * to remove temporary files.  Leave restores the normal behaviour. */
void mkt_fail_scope_enter(MPI_Comm comm, const char *context, void (*cleanup)(void));
void mkt_fail_scope_leave(void);

/* For fuzz targets only: a function that mkt_fail_all calls (every rank,
 * after the message and the temporary-file cleanup) instead of finalizing
 * MPI and exiting; it must not return (it longjmps back to the target). */
void mkt_fail_all_hook_set(void (*hook)(int status));

_Noreturn void mkt_fail_at(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
_Noreturn void mkt_fail_all(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void mkt_fail_mpi(int rc, const char *call, const char *file, int line);
void mkt_fail_lapack(int info, const char *call, const char *file, int line);
/* Ends the whole job with MPI_Abort after removing temporary outputs (the
 * library-check layers on top of this one end through it). */
_Noreturn void mkt_abort_job(int status);

#define mkt_fail(...) mkt_fail_at(__FILE__, __LINE__, __VA_ARGS__)

#define MKT_MPI(call)                                                                                        \
    do {                                                                                                     \
        int mkt_rc_ = (call);                                                                                \
        if (mkt_rc_ != MPI_SUCCESS)                                                                          \
            mkt_fail_mpi(mkt_rc_, #call, __FILE__, __LINE__);                                               \
    } while (0)

/* For LAPACK(E) info codes: anything non-zero is fatal. */
#define MKT_LAPACK(call)                                                                                     \
    do {                                                                                                     \
        int mkt_info_ = (int)(call);                                                                         \
        if (mkt_info_ != 0)                                                                                  \
            mkt_fail_lapack(mkt_info_, #call, __FILE__, __LINE__);                                           \
    } while (0)

/* Allocation that cannot fail quietly. */
void *mkt_xmalloc(size_t n);
void *mkt_xcalloc(size_t n, size_t size);
void *mkt_xrealloc(void *p, size_t n);
char *mkt_xstrdup(const char *s);

#endif
