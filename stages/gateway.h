/* gateway.h — `mkt serve`: the ZeroMQ front end on rank 0 and the serving
 * loop of every rank (docs/protocol.md).
 *
 * Owns: the ROUTER socket, the one zmq_poll loop, batching of requests that
 * arrive together, limits, operator checks (token file, CURVE keys with a
 * ZAP handler), the interleaving of reload steps with batches, counters and
 * latency percentiles.  Must not: parse JSON itself (io/protocol.c) or
 * compute predictions (stages/serve_fanout.c). */
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

/* Collective. Serve until a shutdown request (or the idle timeout); returns
 * an exit status.  Bad options end every rank with mkt_fail_all. */
int mkt_gateway_run(const mkt_gateway_options *opt, MPI_Comm comm);

/* One request/reply round trip as a DEALER client (`mkt query`; not
 * collective). Prints the reply to stdout; returns 0, or 1 with a message
 * on stderr when no reply came within timeout_ms.  With server_key (the
 * server's public key file) and client_key (the client's secret key file),
 * the connection uses CURVE. */
int mkt_gateway_query(const char *endpoint, const char *request, int64_t timeout_ms, const char *server_key,
                      const char *client_key);

/* Not collective. Write a CURVE key pair for the server, one for a
 * read-only client and one for an operator into dir (created with mode 700
 * when missing): server.key, server.pub, client.key, client.pub, clients.pub
 * (the client list, holding client.pub), operator.key, operator.pub and
 * operators.pub (the operator list).  Secret files get mode 600.  Returns an
 * exit status. */
int mkt_gateway_gen_keys(const char *dir);

#endif
