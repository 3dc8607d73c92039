/* check.c — reports library failures with rank, place and the library's own
 * message, then ends the whole job (see check.h). */
#include "check.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int mpi_up(void)
{
    int init = 0, fin = 0;
    MPI_Initialized(&init);
    MPI_Finalized(&fin);
    return init && !fin;
}

int mkt_rank(void)
{
    int r = 0;
    if (mpi_up())
        MPI_Comm_rank(MPI_COMM_WORLD, &r);
    return r;
}

int mkt_nranks(void)
{
    int n = 1;
    if (mpi_up())
        MPI_Comm_size(MPI_COMM_WORLD, &n);
    return n;
}

void mkt_check_init_mpi(void)
{
    if (mpi_up())
        MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
}

/* ---------- temporary outputs ---------- */

#define MAX_TMP 32
static char *tmp_paths[MAX_TMP];

void mkt_tmp_remove_all(void)
{
    for (int i = 0; i < MAX_TMP; i++)
        if (tmp_paths[i]) {
            unlink(tmp_paths[i]); /* ENOENT when another rank of the group was first */
            free(tmp_paths[i]);
            tmp_paths[i] = NULL;
        }
}

void mkt_tmp_add(const char *path)
{
    static int at_exit;
    if (!at_exit)
        at_exit = atexit(mkt_tmp_remove_all) == 0;
    for (int i = 0; i < MAX_TMP; i++)
        if (!tmp_paths[i]) {
            tmp_paths[i] = strdup(path);
            return;
        }
    /* more than MAX_TMP outputs at once: this one is not removed on failure */
}

void mkt_tmp_done(const char *path)
{
    for (int i = 0; i < MAX_TMP; i++)
        if (tmp_paths[i] && !strcmp(tmp_paths[i], path)) {
            free(tmp_paths[i]);
            tmp_paths[i] = NULL;
            return;
        }
}

_Noreturn void mkt_abort_job(int status)
{
    mkt_tmp_remove_all();
    fflush(stdout);
    fflush(stderr);
    if (mpi_up())
        MPI_Abort(MPI_COMM_WORLD, status);
    exit(status);
}

void mkt_fail_at(const char *file, int line, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "mkt: rank %d: error: %s (%s:%d)\n", mkt_rank(), msg, file, line);
    mkt_abort_job(MKT_EXIT_ERROR);
}

static MPI_Comm scope_comm = MPI_COMM_NULL;
static char scope_context[512];
static void (*scope_cleanup)(void);

void mkt_fail_scope_enter(MPI_Comm comm, const char *context, void (*cleanup)(void))
{
    scope_comm = comm;
    scope_cleanup = cleanup;
    snprintf(scope_context, sizeof scope_context, "%s", context ? context : "");
}

void mkt_fail_scope_leave(void)
{
    scope_comm = MPI_COMM_NULL;
    scope_cleanup = NULL;
    scope_context[0] = 0;
}

static void (*fail_all_hook)(int status);

void mkt_fail_all_hook_set(void (*hook)(int status))
{
    fail_all_hook = hook;
}

void mkt_fail_all(int status, const char *fmt, ...)
{
    if (scope_comm != MPI_COMM_NULL && mpi_up()) {
        int r = 0;
        MPI_Comm_rank(scope_comm, &r);
        if (r == 0) {
            va_list ap;
            va_start(ap, fmt);
            fprintf(stderr, "mkt: error: %s%s", scope_context, scope_context[0] ? ": " : "");
            vfprintf(stderr, fmt, ap);
            fprintf(stderr, "\n");
            va_end(ap);
            if (scope_cleanup)
                scope_cleanup();
        }
        mkt_tmp_remove_all();
        fflush(stdout);
        fflush(stderr);
        int size = 0;
        MPI_Comm_size(scope_comm, &size);
        if (size < mkt_nranks()) {
            /* the message is out before any rank of the group ends the job */
            MPI_Barrier(scope_comm);
            MPI_Abort(MPI_COMM_WORLD, status);
            exit(status);
        }
        MPI_Finalize(); /* the group is the whole job: end as usual */
        exit(status);
    }
    if (mkt_rank() == 0) {
        va_list ap;
        va_start(ap, fmt);
        fprintf(stderr, "mkt: error: ");
        vfprintf(stderr, fmt, ap);
        fprintf(stderr, "\n");
        va_end(ap);
    }
    mkt_tmp_remove_all();
    fflush(stdout);
    fflush(stderr);
    if (fail_all_hook)
        fail_all_hook(status);
    if (mpi_up())
        MPI_Finalize();
    exit(status);
}

void mkt_fail_mpi(int rc, const char *call, const char *file, int line)
{
    char msg[MPI_MAX_ERROR_STRING + 1] = "";
    int len = 0;
    if (MPI_Error_string(rc, msg, &len) != MPI_SUCCESS)
        snprintf(msg, sizeof msg, "MPI error code %d", rc);
    fprintf(stderr, "mkt: rank %d: %s:%d: MPI error in %s: %s\n", mkt_rank(), file, line, call, msg);
    mkt_abort_job(MKT_EXIT_ERROR);
}

void mkt_fail_lapack(int info, const char *call, const char *file, int line)
{
    const char *why = info < 0 ? "illegal value in argument" : "matrix not positive definite or singular at";
    fprintf(stderr, "mkt: rank %d: %s:%d: LAPACK error in %s: info=%d (%s %d)\n", mkt_rank(), file, line, call,
            info, why, info < 0 ? -info : info);
    mkt_abort_job(MKT_EXIT_ERROR);
}

void *mkt_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        mkt_fail("out of memory allocating %zu bytes", n);
    return p;
}

void *mkt_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        mkt_fail("out of memory allocating %zu x %zu bytes", n, size);
    return p;
}

void *mkt_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        mkt_fail("out of memory reallocating %zu bytes", n);
    return q;
}

char *mkt_xstrdup(const char *s)
{
    char *p = strdup(s ? s : "");
    if (!p)
        mkt_fail("out of memory");
    return p;
}
