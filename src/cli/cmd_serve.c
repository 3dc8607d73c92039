/* cmd_serve.c — `mkt serve` and `mkt query`: their option tables and the
 * step from options to io/gateway.c.  Must not: hold any serving logic. */
#include "cmd_serve.h"

#include <stddef.h>
#include <stdio.h>

#include "check.h"
#include "gateway.h"

mkt_serve_cli mkt_serve_values;
mkt_query_cli mkt_query_values;

#define S(f) offsetof(mkt_serve_cli, f)
const mkt_opt mkt_serve_opts[] = {
    {"store", MKT_OPT_STR, S(store), NULL, "store (HDF5) with /ids and /events", 0, 0},
    {"models", MKT_OPT_STR, S(models), NULL, "model file with /models/uplift, /models/segments and/or /models/mf", 0, 0},
    {"bind", MKT_OPT_STR, S(bind), "tcp://127.0.0.1:5555", "ZeroMQ endpoint of the ROUTER socket on rank 0 (tcp://127.0.0.1:* picks a free port)", 0, 0},
    {"max-message", MKT_OPT_INT, S(max_message), "65536", "largest request message in bytes; larger ones get a too_large error", 64, 16777216},
    {"max-k", MKT_OPT_INT, S(max_k), "1000", "largest k of recommend and similar", 1, 1000000},
    {"max-batch", MKT_OPT_INT, S(max_batch), "256", "messages drained per batch, and requests per array message", 1, 1024},
    {"token-file", MKT_OPT_STR, S(token_file), NULL, "file (mode 600) holding the operator token that shutdown requires", 0, 0},
    {"allow-shutdown", MKT_OPT_BOOL, S(allow_shutdown), "0", "without --token-file, let any client that can connect shut the gateway down", 0, 0},
    {"ready-file", MKT_OPT_STR, S(ready_file), NULL, "write the bound endpoint to this file once serving (removed on exit)", 0, 0},
    {"timeout-ms", MKT_OPT_INT, S(timeout_ms), "0", "stop serving after this many ms without a request (0: never)", 0, 1e12},
    MKT_OPT_END};

#define Q(f) offsetof(mkt_query_cli, f)
const mkt_opt mkt_query_opts[] = {
    {"connect", MKT_OPT_STR, Q(connect), "tcp://127.0.0.1:5555", "endpoint of the gateway", 0, 0},
    {"request", MKT_OPT_STR, Q(request), NULL, "the request: a JSON object, or an array of objects", 0, 0},
    {"timeout-ms", MKT_OPT_INT, Q(timeout_ms), "5000", "give up (exit 1) when no reply comes within this many ms", 1, 3600000},
    MKT_OPT_END};

int mkt_serve_run(void *values, MPI_Comm comm)
{
    mkt_serve_cli *o = values;
    mkt_gateway_options g = {o->store, o->models, o->bind, o->token_file, o->ready_file, o->max_message,
                             o->max_k, o->max_batch, o->timeout_ms, o->allow_shutdown};
    return mkt_gateway_run(&g, comm);
}

int mkt_query_run(void *values, MPI_Comm comm)
{
    mkt_query_cli *o = values;
    if (!o->request)
        mkt_fail_all(MKT_EXIT_USAGE, "query: --request JSON is required (see mkt query --help)");
    int status = MKT_EXIT_OK;
    if (mkt_rank() == 0)
        status = mkt_gateway_query(o->connect, o->request, o->timeout_ms);
    MKT_MPI(MPI_Bcast(&status, 1, MPI_INT, 0, comm));
    return status;
}
