/* cmd_serve.h — the `mkt serve` and `mkt query` commands (job-file sections
 * [serve] and [query]): option structs, option tables and run functions.
 * The gateway itself is stages/gateway.c; the protocol is docs/protocol.md. */
#ifndef MKT_CMD_SERVE_H
#define MKT_CMD_SERVE_H

#include <mpi.h>
#include <stdint.h>

#include "options.h"

#define MKT_SERVE_USAGE                                                                                      \
    "mkt serve --store shop.h5 --models model.h5 [--strategy strategy.h5] [--bind tcp://127.0.0.1:5555] "   \
    "[--token-file F] [--curve-secret-key F --curve-clients F --curve-operators F] [--ready-file F]   |   mkt serve --gen-keys DIR"
#define MKT_SERVE_DESCRIPTION                                                                                \
    "Answer prediction queries (ping, stats, uplift, segment, score, recommend, similar, propensity, "        \
    "strategy, reload, shutdown) as JSON "                                                                  \
    "over a ZeroMQ ROUTER socket on rank 0; every rank answers the users and items it owns "                 \
    "(docs/protocol.md)."
#define MKT_QUERY_USAGE                                                                                      \
    "mkt query --connect tcp://127.0.0.1:5555 --request '{\"op\":\"ping\",\"id\":1}' [--timeout-ms 5000] "       \
    "[--curve-server-key server.pub --curve-client-key client.key]"
#define MKT_QUERY_DESCRIPTION                                                                                \
    "Send one request (a JSON object, or an array of them) to a running mkt serve and print the reply; "     \
    "exits 1 when no reply comes within the timeout or the reply (or one reply of a batch) is an error."

typedef struct mkt_serve_cli {
    char *store, *models, *strategy, *bind, *token_file, *ready_file, *curve_secret_key, *curve_clients, *gen_keys;
    char *curve_operators;
    int64_t max_operator_failures;
    int64_t max_message, max_frame, max_k, max_batch, hwm, request_timeout_ms, reload_step_bytes, timeout_ms;
    int allow_shutdown;
} mkt_serve_cli;

typedef struct mkt_query_cli {
    char *connect, *request, *curve_server_key, *curve_client_key;
    int64_t timeout_ms;
} mkt_query_cli;

extern const mkt_opt mkt_serve_opts[];
extern const mkt_opt mkt_query_opts[];
extern mkt_serve_cli mkt_serve_values;
extern mkt_query_cli mkt_query_values;
int mkt_serve_run(void *values, MPI_Comm comm);
int mkt_query_run(void *values, MPI_Comm comm);

#endif
