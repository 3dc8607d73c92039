/* cmd_serve.c — `mkt serve` and `mkt query` (job-file sections [serve] and
 * [query]): their option tables, the serve table filling the gateway's
 * options (stages/gateway.h) directly, defaults and checks from there, and
 * the step to stages/gateway.c (serve) and io/zmq_transport.c (query,
 * --gen-keys).  The protocol is docs/protocol.md.  Must not: hold any
 * serving logic. */
#include <stddef.h>
#include <stdio.h>

#include "commands.h"
#include "iocheck.h"
#include "gateway.h"
#include "zmq_transport.h"

typedef struct {
    mkt_gateway_options g;
    char *gen_keys;
} serve_values_t;

/* `mkt query` has no stage: these are the arguments of mkt_gateway_query. */
typedef struct {
    char *connect, *request, *curve_server_key, *curve_client_key;
    int64_t timeout_ms;
} query_values_t;

static serve_values_t serve_values;
static query_values_t query_values;

#define S(f) offsetof(serve_values_t, f)
static const mkt_opt serve_opts[] = {
    {"store", MKT_OPT_STR, S(g.store), NULL, "store (HDF5) with /ids and /events", 0, 0},
    {"models", MKT_OPT_STR, S(g.models), NULL, "model file with any of /models/uplift, segments, mf, propensity", 0, 0},
    {"strategy", MKT_OPT_STR, S(g.strategy), NULL, "strategy file written by mkt strategy (the strategy op)", 0, 0},
    {"bind", MKT_OPT_STR, S(g.bind), "tcp://127.0.0.1:5555", "ZeroMQ endpoint of the ROUTER socket on rank 0 (tcp://127.0.0.1:* picks a free port)", 0, 0},
    {"max-message", MKT_OPT_INT, S(g.max_message), NULL, "largest request message in bytes; larger ones get a too_large error", 64, 16777216},
    {"max-frame", MKT_OPT_INT, S(g.max_frame), NULL, "ZMQ_MAXMSGSIZE: a peer sending a larger message is disconnected without a reply", 64, 1073741824},
    {"max-k", MKT_OPT_INT, S(g.max_k), NULL, "largest k of recommend and similar", 1, 1000000},
    {"max-batch", MKT_OPT_INT, S(g.max_batch), NULL, "messages drained per batch, and requests per array message", 1, 1024},
    {"hwm", MKT_OPT_INT, S(g.hwm), NULL, "send and receive high-water marks of the socket (messages queued per peer)", 1, 1000000},
    {"request-timeout-ms", MKT_OPT_INT, S(g.request_timeout_ms), NULL, "a request not started this many ms after it was read gets a timeout error (0: none)", 0, 3600000},
    {"reload-step-bytes", MKT_OPT_INT, S(g.reload_step_bytes), NULL, "reload: bytes each rank reads between two batches while the old models keep serving", 1024, 1073741824},
    {"token-file", MKT_OPT_STR, S(g.token_file), NULL, "file (mode 600) holding the operator token (at least 16 bytes) that shutdown and reload require", 0, 0},
    {"curve-secret-key", MKT_OPT_STR, S(g.curve_secret_key), NULL, "server CURVE secret key file (mode 600, Z85): encrypt and authenticate every connection", 0, 0},
    {"curve-clients", MKT_OPT_STR, S(g.curve_clients), NULL, "file of read-only client CURVE public keys (Z85, one per line): every op but reload and shutdown", 0, 0},
    {"curve-operators", MKT_OPT_STR, S(g.curve_operators), NULL, "file of operator CURVE public keys (Z85, one per line): every op, reload and shutdown too", 0, 0},
    {"max-operator-failures", MKT_OPT_INT, S(g.max_operator_failures), NULL, "refused operator requests (wrong token or key) per connection before it gets no operator op at all (0: no limit)", 0, 1000000},
    {"gen-keys", MKT_OPT_STR, S(gen_keys), NULL, "write a server, a client and an operator CURVE key pair into this directory, then exit", 0, 0},
    {"allow-shutdown", MKT_OPT_BOOL, S(g.allow_shutdown), NULL, "without --token-file, let any client that can connect shut the gateway down", 0, 0},
    {"ready-file", MKT_OPT_STR, S(g.ready_file), NULL, "write the bound endpoint to this file once serving (removed on exit)", 0, 0},
    {"timeout-ms", MKT_OPT_INT, S(g.idle_timeout_ms), NULL, "stop serving after this many ms without a request (0: never)", 0, 1e12},
    MKT_OPT_END};

#define Q(f) offsetof(query_values_t, f)
static const mkt_opt query_opts[] = {
    {"connect", MKT_OPT_STR, Q(connect), "tcp://127.0.0.1:5555", "endpoint of the gateway", 0, 0},
    {"request", MKT_OPT_STR, Q(request), NULL, "the request: a JSON object, or an array of objects", 0, 0},
    {"timeout-ms", MKT_OPT_INT, Q(timeout_ms), "5000", "give up (exit 1) when no reply comes within this many ms", 1, 3600000},
    {"curve-server-key", MKT_OPT_STR, Q(curve_server_key), NULL, "the gateway's CURVE public key file (server.pub)", 0, 0},
    {"curve-client-key", MKT_OPT_STR, Q(curve_client_key), NULL, "this client's CURVE secret key file (client.key, mode 600)", 0, 0},
    MKT_OPT_END};

static void serve_defaults(void *values)
{
    mkt_gateway_options_init(&((serve_values_t *)values)->g);
}

static int serve_run(void *values, MPI_Comm comm)
{
    serve_values_t *o = values;
    if (o->gen_keys) {
        int status = MKT_EXIT_OK;
        if (mkt_rank() == 0)
            status = mkt_gateway_gen_keys(o->gen_keys);
        MKT_MPI(MPI_Bcast(&status, 1, MPI_INT, 0, comm));
        return status;
    }
    return mkt_gateway_run(&o->g, comm);
}

static int query_run(void *values, MPI_Comm comm)
{
    query_values_t *o = values;
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
    .usage = "mkt serve --store shop.h5 --models model.h5 [--strategy strategy.h5] [--bind tcp://127.0.0.1:5555] "
             "[--token-file F] [--curve-secret-key F --curve-clients F --curve-operators F] [--ready-file F]   |   "
             "mkt serve --gen-keys DIR",
    .description = "Answer prediction queries (ping, stats, uplift, segment, score, recommend, similar, propensity, "
                   "strategy, reload, shutdown) as JSON over a ZeroMQ ROUTER socket on rank 0; every rank answers the "
                   "users and items it owns (docs/protocol.md).",
    .opts = serve_opts,
    .values = &serve_values,
    .values_size = sizeof serve_values,
    .run = serve_run,
    .defaults = serve_defaults,
};

const mkt_command mkt_cmd_query = {
    .name = "query",
    .usage = "mkt query --connect tcp://127.0.0.1:5555 --request '{\"op\":\"ping\",\"id\":1}' [--timeout-ms 5000] "
             "[--curve-server-key server.pub --curve-client-key client.key]",
    .description = "Send one request (a JSON object, or an array of them) to a running mkt serve and print the reply; "
                   "exits 1 when no reply comes within the timeout or the reply (or one reply of a batch) is an error.",
    .opts = query_opts,
    .values = &query_values,
    .values_size = sizeof query_values,
    .run = query_run,
};
