/* cmd_serve.c — `mkt serve` and `mkt query`: their option tables and the
 * step from options to stages/gateway.c (serve) and io/zmq_transport.c
 * (query, --gen-keys).  Must not: hold any serving logic. */
#include "cmd_serve.h"
#include "commands.h"

#include <stddef.h>
#include <stdio.h>

#include "iocheck.h"
#include "gateway.h"
#include "zmq_transport.h"

mkt_serve_cli mkt_serve_values;
mkt_query_cli mkt_query_values;

#define S(f) offsetof(mkt_serve_cli, f)
const mkt_opt mkt_serve_opts[] = {
    {"store", MKT_OPT_STR, S(store), NULL, "store (HDF5) with /ids and /events", 0, 0},
    {"models", MKT_OPT_STR, S(models), NULL, "model file with any of /models/uplift, segments, mf, propensity", 0, 0},
    {"strategy", MKT_OPT_STR, S(strategy), NULL, "strategy file written by mkt strategy (the strategy op)", 0, 0},
    {"bind", MKT_OPT_STR, S(bind), "tcp://127.0.0.1:5555", "ZeroMQ endpoint of the ROUTER socket on rank 0 (tcp://127.0.0.1:* picks a free port)", 0, 0},
    {"max-message", MKT_OPT_INT, S(max_message), "65536", "largest request message in bytes; larger ones get a too_large error", 64, 16777216},
    {"max-frame", MKT_OPT_INT, S(max_frame), "16777216", "ZMQ_MAXMSGSIZE: a peer sending a larger message is disconnected without a reply", 64, 1073741824},
    {"max-k", MKT_OPT_INT, S(max_k), "1000", "largest k of recommend and similar", 1, 1000000},
    {"max-batch", MKT_OPT_INT, S(max_batch), "256", "messages drained per batch, and requests per array message", 1, 1024},
    {"hwm", MKT_OPT_INT, S(hwm), "1000", "send and receive high-water marks of the socket (messages queued per peer)", 1, 1000000},
    {"request-timeout-ms", MKT_OPT_INT, S(request_timeout_ms), "10000", "a request not started this many ms after it was read gets a timeout error (0: none)", 0, 3600000},
    {"reload-step-bytes", MKT_OPT_INT, S(reload_step_bytes), "4194304", "reload: bytes each rank reads between two batches while the old models keep serving", 1024, 1073741824},
    {"token-file", MKT_OPT_STR, S(token_file), NULL, "file (mode 600) holding the operator token (at least 16 bytes) that shutdown and reload require", 0, 0},
    {"curve-secret-key", MKT_OPT_STR, S(curve_secret_key), NULL, "server CURVE secret key file (mode 600, Z85): encrypt and authenticate every connection", 0, 0},
    {"curve-clients", MKT_OPT_STR, S(curve_clients), NULL, "file of read-only client CURVE public keys (Z85, one per line): every op but reload and shutdown", 0, 0},
    {"curve-operators", MKT_OPT_STR, S(curve_operators), NULL, "file of operator CURVE public keys (Z85, one per line): every op, reload and shutdown too", 0, 0},
    {"max-operator-failures", MKT_OPT_INT, S(max_operator_failures), "5", "refused operator requests (wrong token or key) per connection before it gets no operator op at all (0: no limit)", 0, 1000000},
    {"gen-keys", MKT_OPT_STR, S(gen_keys), NULL, "write a server, a client and an operator CURVE key pair into this directory, then exit", 0, 0},
    {"allow-shutdown", MKT_OPT_BOOL, S(allow_shutdown), "0", "without --token-file, let any client that can connect shut the gateway down", 0, 0},
    {"ready-file", MKT_OPT_STR, S(ready_file), NULL, "write the bound endpoint to this file once serving (removed on exit)", 0, 0},
    {"timeout-ms", MKT_OPT_INT, S(timeout_ms), "0", "stop serving after this many ms without a request (0: never)", 0, 1e12},
    MKT_OPT_END};

#define Q(f) offsetof(mkt_query_cli, f)
const mkt_opt mkt_query_opts[] = {
    {"connect", MKT_OPT_STR, Q(connect), "tcp://127.0.0.1:5555", "endpoint of the gateway", 0, 0},
    {"request", MKT_OPT_STR, Q(request), NULL, "the request: a JSON object, or an array of objects", 0, 0},
    {"timeout-ms", MKT_OPT_INT, Q(timeout_ms), "5000", "give up (exit 1) when no reply comes within this many ms", 1, 3600000},
    {"curve-server-key", MKT_OPT_STR, Q(curve_server_key), NULL, "the gateway's CURVE public key file (server.pub)", 0, 0},
    {"curve-client-key", MKT_OPT_STR, Q(curve_client_key), NULL, "this client's CURVE secret key file (client.key, mode 600)", 0, 0},
    MKT_OPT_END};

int mkt_serve_run(void *values, MPI_Comm comm)
{
    mkt_serve_cli *o = values;
    if (o->gen_keys) {
        int status = MKT_EXIT_OK;
        if (mkt_rank() == 0)
            status = mkt_gateway_gen_keys(o->gen_keys);
        MKT_MPI(MPI_Bcast(&status, 1, MPI_INT, 0, comm));
        return status;
    }
    mkt_gateway_options g = {.store = o->store,
                             .models = o->models,
                             .strategy = o->strategy,
                             .bind = o->bind,
                             .token_file = o->token_file,
                             .ready_file = o->ready_file,
                             .curve_secret_key = o->curve_secret_key,
                             .curve_clients = o->curve_clients,
                             .curve_operators = o->curve_operators,
                             .max_operator_failures = o->max_operator_failures,
                             .max_message = o->max_message,
                             .max_frame = o->max_frame,
                             .max_k = o->max_k,
                             .max_batch = o->max_batch,
                             .hwm = o->hwm,
                             .request_timeout_ms = o->request_timeout_ms,
                             .reload_step_bytes = o->reload_step_bytes,
                             .idle_timeout_ms = o->timeout_ms,
                             .allow_shutdown = o->allow_shutdown};
    return mkt_gateway_run(&g, comm);
}

int mkt_query_run(void *values, MPI_Comm comm)
{
    mkt_query_cli *o = values;
    if (!o->request)
        mkt_fail_all(MKT_EXIT_USAGE, "query: --request JSON is required (see mkt query --help)");
    int status = MKT_EXIT_OK;
    if (mkt_rank() == 0)
        status = mkt_gateway_query(o->connect, o->request, o->timeout_ms, o->curve_server_key, o->curve_client_key);
    MKT_MPI(MPI_Bcast(&status, 1, MPI_INT, 0, comm));
    return status;
}

const mkt_command mkt_cmd_serve = {
    .name = "serve",
    .usage = MKT_SERVE_USAGE,
    .description = MKT_SERVE_DESCRIPTION,
    .opts = mkt_serve_opts,
    .values = &mkt_serve_values,
    .values_size = sizeof mkt_serve_values,
    .run = mkt_serve_run,
};

const mkt_command mkt_cmd_query = {
    .name = "query",
    .usage = MKT_QUERY_USAGE,
    .description = MKT_QUERY_DESCRIPTION,
    .opts = mkt_query_opts,
    .values = &mkt_query_values,
    .values_size = sizeof mkt_query_values,
    .run = mkt_query_run,
};
