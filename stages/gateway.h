/* gateway.h — `mkt serve`: the front end on rank 0 and the serving loop of
 * every rank (docs/protocol.md).
 *
 * Owns: the one poll loop, batching of requests that arrive together,
 * limits, operator checks (token file, CURVE operator keys), the
 * interleaving of reload steps with batches, counters and latency
 * percentiles.  Must not: call ZeroMQ itself (io/zmq_transport.c: sockets,
 * CURVE key files, ZAP, the `mkt query` client, --gen-keys), parse JSON
 * itself (io/protocol.c) or compute predictions (stages/serve_fanout.c). */
#ifndef MKT_GATEWAY_H
#define MKT_GATEWAY_H

#include <mpi.h>
#include <stdint.h>

typedef struct {
    const char *store, *models, *strategy, *bind, *token_file, *ready_file;
    const char *curve_secret_key; /* server secret key file (Z85); enables CURVE */
    const char *curve_clients;    /* read-only client public keys (Z85, one per line) */
    const char *curve_operators;  /* operator public keys: the only CURVE peers allowed reload and shutdown */
    int64_t max_operator_failures; /* refused operator requests per connection before it gets none; 0: no limit */
    int64_t max_message, max_frame, max_k, max_batch, hwm;
    int64_t reload_step_bytes;  /* bytes read per rank per reload step, between batches */
    int64_t request_timeout_ms; /* a request not started this long after it was read gets "timeout" */
    int64_t idle_timeout_ms;    /* stop after this long without a request; 0: never */
    int allow_shutdown;         /* without a token file, accept shutdown from anyone who can connect */
} mkt_gateway_options;

/* The defaults of every option: the limits (max_message 65536, max_frame
 * 16 MiB, max_k 1000, max_batch 256, hwm 1000, request_timeout_ms 10000,
 * reload_step_bytes 4 MiB, max_operator_failures 5); files NULL, no idle
 * timeout, no shutdown without a token.  The bind endpoint has no default
 * here (the option table's). */
void mkt_gateway_options_init(mkt_gateway_options *o);
/* NULL if the options are usable, else a message that starts with the bad
 * option, e.g. "--max-frame (100) must be at least --max-message (200)" (a
 * static buffer).  Pure: no file is looked at (mkt_gateway_run checks the
 * token and key files). */
const char *mkt_gateway_check_options(const mkt_gateway_options *o);

/* Collective. Serve until a shutdown request (or the idle timeout); returns
 * an exit status.  Bad options end every rank with mkt_fail_all. */
int mkt_gateway_run(const mkt_gateway_options *opt, MPI_Comm comm);

#endif
