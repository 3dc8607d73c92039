/* gateway.h — `mkt serve`: the ZeroMQ front end on rank 0 and the serving
 * loop of every rank (docs/protocol.md).
 *
 * Owns: the ROUTER socket, the one zmq_poll loop, batching of requests that
 * arrive together, operator checks (shutdown token), counters and latency
 * percentiles.  Must not: parse JSON itself (io/protocol.c) or compute
 * predictions (mpi/serve_fanout.c). */
#ifndef MKT_GATEWAY_H
#define MKT_GATEWAY_H

#include <mpi.h>
#include <stdint.h>

typedef struct {
    const char *store, *models, *bind, *token_file, *ready_file;
    int64_t max_message, max_k, max_batch;
    int64_t idle_timeout_ms; /* stop after this long without a request; 0: never */
    int allow_shutdown;      /* without a token file, accept shutdown from anyone who can connect */
} mkt_gateway_options;

/* Collective. Serve until a shutdown request (or the idle timeout); returns
 * an exit status.  Bad options end every rank with mkt_fail_all. */
int mkt_gateway_run(const mkt_gateway_options *opt, MPI_Comm comm);

/* One request/reply round trip as a DEALER client (`mkt query`; not
 * collective). Prints the reply to stdout; returns 0, or 1 with a message
 * on stderr when no reply came within timeout_ms. */
int mkt_gateway_query(const char *endpoint, const char *request, int64_t timeout_ms);

#endif
