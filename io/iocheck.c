/* iocheck.c — HDF5 and ZeroMQ failures reported with rank, place and the
 * library's own message, then the end of the whole job (see iocheck.h). */
#include "iocheck.h"

#include <stdio.h>
#include <string.h>
#include <zmq.h>

void mkt_check_init(void)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    mkt_check_init_mpi();
}

static herr_t h5_walk(unsigned n, const H5E_error2_t *err, void *data)
{
    (void)n;
    char *out = data;
    size_t used = strlen(out);
    if (used < 1500)
        snprintf(out + used, 2048 - used, "%s%s() %s", used ? "; " : "", err->func_name ? err->func_name : "?",
                 err->desc ? err->desc : "");
    return 0;
}

hid_t mkt_check_h5(hid_t rc, const char *call, const char *file, int line)
{
    if (rc >= 0)
        return rc;
    char msg[2048] = "";
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, h5_walk, msg);
    fprintf(stderr, "mkt: rank %d: %s:%d: HDF5 error in %s: %s\n", mkt_rank(), file, line, call,
            msg[0] ? msg : "(no HDF5 error stack)");
    mkt_abort_job(MKT_EXIT_ERROR);
}

void mkt_fail_zmq(const char *call, const char *file, int line)
{
    fprintf(stderr, "mkt: rank %d: %s:%d: ZeroMQ error in %s: %s\n", mkt_rank(), file, line, call,
            zmq_strerror(zmq_errno()));
    mkt_abort_job(MKT_EXIT_ERROR);
}
