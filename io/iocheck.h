/* iocheck.h — the error checks for HDF5 and ZeroMQ calls, on top of the
 * MPI/LAPACK layer of mpi/check.h (same one-line message, same end of the
 * whole job).  Every io/, stages/ and cli/ file that calls HDF5 or ZeroMQ
 * includes this instead of check.h. */
#ifndef MKT_IOCHECK_H
#define MKT_IOCHECK_H

#include <hdf5.h>

#include "check.h"

/* mkt_check_init_mpi, and HDF5's own error printing switched off: MKT_H5
 * reads and prints the HDF5 error stack instead. */
void mkt_check_init(void);

hid_t mkt_check_h5(hid_t rc, const char *call, const char *file, int line);
void mkt_fail_zmq(const char *call, const char *file, int line);

/* Evaluates to the call's value (an hid_t or herr_t) when it is not negative. */
#define MKT_H5(call) mkt_check_h5((hid_t)(call), #call, __FILE__, __LINE__)

/* For ZeroMQ calls that return -1 on error; evaluates to the return value. */
#define MKT_ZMQ(call)                                                                                        \
    __extension__({                                                                                          \
        int mkt_zrc_ = (call);                                                                               \
        if (mkt_zrc_ == -1)                                                                                  \
            mkt_fail_zmq(#call, __FILE__, __LINE__);                                                         \
        mkt_zrc_;                                                                                            \
    })

#endif
