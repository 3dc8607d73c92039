/* gateway.c — the ZeroMQ front end of `mkt serve` and the `mkt query` client.
 *
 * Rank 0 is a small state machine around one zmq_poll loop on a ROUTER
 * socket (zguide): wait for input (100 ms ticks, for the idle timeout),
 * drain up to max-batch messages that arrived together, validate each with
 * io/protocol.c, answer ping/stats/shutdown and every refusal at once,
 * collect the prediction requests into one batch, hand it to
 * mkt_serve_fanout (every rank answers its part over MPI), and reply with
 * the client's envelope.  Queues are bounded by high-water marks; replies
 * are sent with ZMQ_DONTWAIT so a client that does not read can never stall
 * the loop (the reply is dropped and counted).  Messages larger than a hard
 * cap (64 x max-message, at least 8 MB) are cut by ZeroMQ itself
 * (ZMQ_MAXMSGSIZE disconnects that peer); anything below the cap but above
 * max-message gets a "too_large" reply without being parsed.
 *
 * The other ranks sit in mkt_serve_worker_loop; shutdown is broadcast so
 * every rank closes its files and returns.  Must not: parse JSON beyond
 * what protocol.c returns, or compute predictions. */
#include "gateway.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "check.h"
#include "par.h"
#include "protocol.h"
#include "serve_fanout.h"

#define MAX_FRAMES 8        /* frames kept per message; more are read and dropped */
#define LATENCY_WINDOW 1024 /* last latencies kept per op for p50/p99 */
#define POLL_TICK_MS 100

typedef struct {
    int64_t count, errors;
    double latency_ms[LATENCY_WINDOW];
    int64_t nlatency;
} op_stats;

typedef struct {
    int64_t requests, errors, messages, dropped_replies, batches;
    op_stats ops[MKT_OP_COUNT];
    double start;
} gateway_stats;

/* One client message in flight: its envelope, its requests and their replies. */
typedef struct {
    zmq_msg_t envelope[2];
    int nenvelope;
    mkt_proto_message msg;
    json_t **replies;
    double received;
} pending;

/* ---------- token file ---------- */

/* Read the operator token; NULL and a message in why when the file is unusable. */
static char *read_token(const char *path, char *why, size_t whylen)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        snprintf(why, whylen, "serve: --token-file %s: %s", path, strerror(errno));
        return NULL;
    }
    if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        snprintf(why, whylen, "serve: --token-file %s is readable or writable by group or others (mode %03o); "
                 "run chmod 600 %s", path, (unsigned)(st.st_mode & 0777), path);
        return NULL;
    }
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(why, whylen, "serve: --token-file %s: %s", path, strerror(errno));
        return NULL;
    }
    char buf[MKT_PROTO_MAX_STRING + 2] = "";
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
        buf[--n] = 0;
    if (n == 0 || n > MKT_PROTO_MAX_STRING || mkt_proto_has_control(buf)) {
        snprintf(why, whylen, "serve: --token-file %s must hold one line of 1 to 256 printable bytes", path);
        return NULL;
    }
    return mkt_xstrdup(buf);
}

/* ---------- stats ---------- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double percentile(const op_stats *s, double q)
{
    int64_t n = s->nlatency < LATENCY_WINDOW ? s->nlatency : LATENCY_WINDOW;
    if (n == 0)
        return 0;
    double v[LATENCY_WINDOW];
    memcpy(v, s->latency_ms, (size_t)n * sizeof(double));
    qsort(v, (size_t)n, sizeof(double), cmp_double);
    int64_t i = (int64_t)(q * (double)(n - 1) + 0.5);
    return v[i];
}

static json_t *stats_json(const gateway_stats *st, const mkt_gateway_options *opt, const mkt_serve_model *model,
                          int nranks)
{
    json_t *ops = json_object();
    for (int op = 1; op < MKT_OP_COUNT; op++) {
        const op_stats *s = &st->ops[op];
        json_object_set_new(ops, mkt_op_name((mkt_op)op),
                            json_pack("{s:I, s:I, s:f, s:f}", "count", (json_int_t)s->count, "errors",
                                      (json_int_t)s->errors, "p50_ms", percentile(s, 0.5), "p99_ms",
                                      percentile(s, 0.99)));
    }
    json_t *r = json_pack("{s:I, s:I, s:I, s:I, s:I, s:f, s:s, s:s, s:i, s:o, s:o}", "requests",
                          (json_int_t)st->requests, "errors", (json_int_t)st->errors, "messages",
                          (json_int_t)st->messages, "batches", (json_int_t)st->batches, "dropped_replies",
                          (json_int_t)st->dropped_replies, "uptime_s", mkt_now() - st->start, "model_file",
                          opt->models, "store", opt->store, "ranks", nranks, "ops", ops, "models",
                          mkt_serve_model_info(model));
    return r;
}

static void record(gateway_stats *st, const mkt_request *rq, int failed, double ms)
{
    st->requests++;
    st->errors += failed;
    op_stats *s = &st->ops[rq->op];
    if (rq->op == MKT_OP_NONE)
        return;
    s->count++;
    s->errors += failed;
    s->latency_ms[s->nlatency % LATENCY_WINDOW] = ms;
    s->nlatency++;
}

/* ---------- receiving ---------- */

/* Receive one whole message (all its frames). Returns 0, or -1 when nothing is waiting. */
static int receive_message(void *sock, pending *p, const mkt_proto_limits *lim)
{
    zmq_msg_t frames[MAX_FRAMES];
    int n = 0, extra = 0, more = 1;
    memset(p, 0, sizeof *p);
    while (more) {
        zmq_msg_t f;
        zmq_msg_init(&f);
        if (zmq_msg_recv(&f, sock, n == 0 && !extra ? ZMQ_DONTWAIT : 0) < 0) {
            zmq_msg_close(&f);
            if (n == 0)
                return -1;
            break; /* cannot happen for the later frames of a message: ZeroMQ delivers them whole */
        }
        more = zmq_msg_more(&f);
        if (n < MAX_FRAMES)
            frames[n++] = f;
        else {
            zmq_msg_close(&f);
            extra++;
        }
    }
    p->received = mkt_now();
    /* frames[0]: the peer's identity; a REQ client adds an empty delimiter frame. */
    int body = 1;
    p->nenvelope = 1;
    zmq_msg_init(&p->envelope[0]);
    zmq_msg_move(&p->envelope[0], &frames[0]);
    if (n >= 3 && zmq_msg_size(&frames[1]) == 0) {
        zmq_msg_init(&p->envelope[1]);
        zmq_msg_move(&p->envelope[1], &frames[1]);
        p->nenvelope = 2;
        body = 2;
    }
    if (n - body != 1 || extra) {
        char m[96];
        snprintf(m, sizeof m, "a request is one frame of JSON; got %d frames", n - body + extra);
        mkt_proto_refuse(&p->msg, "bad_frames", m);
    } else {
        mkt_proto_parse(zmq_msg_data(&frames[body]), zmq_msg_size(&frames[body]), lim, &p->msg);
    }
    for (int i = body; i < n; i++)
        zmq_msg_close(&frames[i]);
    p->replies = mkt_xcalloc((size_t)p->msg.n, sizeof(json_t *));
    return 0;
}

static void send_reply(void *sock, pending *p, gateway_stats *st)
{
    json_t *body;
    if (p->msg.is_batch) {
        body = json_array();
        for (int64_t i = 0; i < p->msg.n; i++)
            json_array_append(body, p->replies[i]);
    } else {
        body = json_incref(p->replies[0]);
    }
    char *text = json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(17));
    json_decref(body);
    int ok = text != NULL;
    for (int i = 0; ok && i < p->nenvelope; i++)
        ok = zmq_msg_send(&p->envelope[i], sock, ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0;
    if (ok)
        ok = zmq_send(sock, text, strlen(text), ZMQ_DONTWAIT) >= 0;
    if (!ok)
        st->dropped_replies++; /* the peer is gone or not reading: never block on it */
    free(text);
    double ms = (mkt_now() - p->received) * 1e3;
    for (int64_t i = 0; i < p->msg.n; i++)
        record(st, &p->msg.requests[i], json_object_get(p->replies[i], "error") != NULL, ms);
}

static void pending_free(pending *p)
{
    for (int i = 0; i < p->nenvelope; i++)
        zmq_msg_close(&p->envelope[i]);
    for (int64_t i = 0; i < p->msg.n; i++)
        json_decref(p->replies[i]);
    free(p->replies);
    mkt_proto_message_free(&p->msg);
}

/* ---------- rank 0 ---------- */

typedef struct {
    int64_t message, request;
} work_origin;

static int serve_rank0(const mkt_gateway_options *opt, const char *token, void *sock, mkt_serve_model *model,
                       MPI_Comm comm, int nranks)
{
    mkt_proto_limits lim = {(size_t)opt->max_message, opt->max_k, opt->max_batch};
    gateway_stats *st = mkt_xcalloc(1, sizeof *st);
    st->start = mkt_now();
    double last_activity = st->start;
    int64_t cap = opt->max_batch;
    pending *batch = mkt_xcalloc((size_t)cap, sizeof *batch);
    mkt_work *work = mkt_xmalloc((size_t)(cap * cap) * sizeof *work);
    work_origin *origin = mkt_xmalloc((size_t)(cap * cap) * sizeof *origin);
    json_t **results = mkt_xmalloc((size_t)(cap * cap) * sizeof *results);
    int stop = 0;
    while (!stop) {
        zmq_pollitem_t item = {sock, 0, ZMQ_POLLIN, 0};
        int rc = zmq_poll(&item, 1, POLL_TICK_MS);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc < 0)
            mkt_fail_zmq("zmq_poll", __FILE__, __LINE__);
        if (rc == 0) {
            if (opt->idle_timeout_ms > 0 && (mkt_now() - last_activity) * 1e3 > (double)opt->idle_timeout_ms) {
                mkt_log("serve", "no request for %" PRId64 " ms: stopping", opt->idle_timeout_ms);
                stop = 1;
            }
            continue;
        }
        /* drain what arrived together, up to max-batch messages */
        int64_t nmsg = 0, nwork = 0;
        while (nmsg < cap && receive_message(sock, &batch[nmsg], &lim) == 0)
            nmsg++;
        last_activity = mkt_now();
        for (int64_t m = 0; m < nmsg; m++) {
            pending *p = &batch[m];
            st->messages++;
            for (int64_t i = 0; i < p->msg.n; i++) {
                mkt_request *rq = &p->msg.requests[i];
                json_t **out = &p->replies[i];
                if (rq->op == MKT_OP_NONE) {
                    *out = mkt_proto_error(rq->id, rq->code, rq->message);
                } else if (rq->op == MKT_OP_PING) {
                    *out = mkt_proto_reply(rq->id, rq->op);
                    json_object_set_new(*out, "pong", json_true());
                    json_object_set_new(*out, "ranks", json_integer(nranks));
                } else if (rq->op == MKT_OP_STATS) {
                    *out = mkt_proto_reply(rq->id, rq->op);
                    json_object_update_new(*out, stats_json(st, opt, model, nranks));
                } else if (rq->op == MKT_OP_SHUTDOWN) {
                    int allowed = token ? (rq->token && mkt_proto_token_equal(rq->token, token)) : opt->allow_shutdown;
                    if (!allowed) {
                        *out = mkt_proto_error(rq->id, "forbidden",
                                               token ? "shutdown needs the operator token"
                                                     : "shutdown is disabled (start serve with --token-file)");
                    } else {
                        *out = mkt_proto_reply(rq->id, rq->op);
                        json_object_set_new(*out, "ok", json_true());
                        stop = 1;
                    }
                } else if (!mkt_serve_has_model(model, rq->op)) {
                    *out = mkt_proto_error(rq->id, "model_missing", "the model file has no model for this op");
                } else {
                    int64_t u = rq->user ? mkt_serve_user_index(model, rq->user) : -1;
                    int64_t it = rq->item ? mkt_serve_item_index(model, rq->item) : -1;
                    if (rq->user && u < 0 && rq->op != MKT_OP_RECOMMEND)
                        *out = mkt_proto_error(rq->id, "unknown_user", "no such user in the store");
                    else if (rq->item && it < 0)
                        *out = mkt_proto_error(rq->id, "unknown_item", "no such item in the store");
                    else {
                        work[nwork] = (mkt_work){rq->op, rq->k, u, it};
                        origin[nwork] = (work_origin){m, i};
                        nwork++;
                    }
                }
            }
        }
        if (nwork > 0) {
            st->batches++;
            mkt_serve_fanout(model, work, nwork, results, comm);
            for (int64_t w = 0; w < nwork; w++) {
                mkt_request *rq = &batch[origin[w].message].msg.requests[origin[w].request];
                json_t *res = results[w], *err = json_object_get(res, "error");
                json_t *out;
                if (err) {
                    out = mkt_proto_error(rq->id, json_string_value(json_object_get(err, "code")),
                                          json_string_value(json_object_get(err, "message")));
                } else {
                    out = mkt_proto_reply(rq->id, rq->op);
                    if (rq->user)
                        json_object_set_new(out, "user", json_string(rq->user));
                    if (rq->item)
                        json_object_set_new(out, "item", json_string(rq->item));
                    if (rq->op == MKT_OP_RECOMMEND || rq->op == MKT_OP_SIMILAR)
                        json_object_set_new(out, "k", json_integer(rq->k));
                    json_object_update(out, res);
                }
                json_decref(res);
                batch[origin[w].message].replies[origin[w].request] = out;
            }
        }
        for (int64_t m = 0; m < nmsg; m++) {
            send_reply(sock, &batch[m], st);
            pending_free(&batch[m]);
        }
    }
    mkt_serve_stop_workers(comm);
    mkt_log("serve", "stopped after %" PRId64 " requests (%" PRId64 " errors)", st->requests, st->errors);
    free(batch);
    free(work);
    free(origin);
    free(results);
    free(st);
    return MKT_EXIT_OK;
}

static void write_ready_file(const char *path, const char *endpoint)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f || fprintf(f, "%s\n", endpoint) < 0 || fclose(f) != 0 || rename(tmp, path) != 0)
        mkt_fail("serve: cannot write --ready-file %s: %s", path, strerror(errno));
}

int mkt_gateway_run(const mkt_gateway_options *opt, MPI_Comm comm)
{
    int rank, nranks;
    MKT_MPI(MPI_Comm_rank(comm, &rank));
    MKT_MPI(MPI_Comm_size(comm, &nranks));
    if (!opt->store || !opt->models)
        mkt_fail_all(MKT_EXIT_USAGE, "serve: --store STORE.h5 and --models MODEL.h5 are required");
    if (opt->token_file && opt->allow_shutdown)
        mkt_fail_all(MKT_EXIT_USAGE, "serve: --allow-shutdown and --token-file exclude each other");
    /* The token is checked on rank 0 and the verdict broadcast, so every rank stops together. */
    char why[1024] = "";
    char *token = NULL;
    if (rank == 0 && opt->token_file)
        token = read_token(opt->token_file, why, sizeof why);
    MKT_MPI(MPI_Bcast(why, sizeof why, MPI_CHAR, 0, comm));
    if (why[0])
        mkt_fail_all(MKT_EXIT_USAGE, "%s", why);

    mkt_serve_model *model = mkt_serve_model_open(opt->store, opt->models, comm);

    void *ctx = NULL, *sock = NULL;
    char endpoint[512] = "";
    if (rank == 0) {
        ctx = zmq_ctx_new();
        if (!ctx)
            mkt_fail_zmq("zmq_ctx_new", __FILE__, __LINE__);
        sock = zmq_socket(ctx, ZMQ_ROUTER);
        if (!sock)
            mkt_fail_zmq("zmq_socket", __FILE__, __LINE__);
        int linger = 0, hwm = 1000;
        int64_t cap = opt->max_message * 64 > 8 << 20 ? opt->max_message * 64 : 8 << 20;
        MKT_ZMQ(zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger));
        MKT_ZMQ(zmq_setsockopt(sock, ZMQ_RCVHWM, &hwm, sizeof hwm));
        MKT_ZMQ(zmq_setsockopt(sock, ZMQ_SNDHWM, &hwm, sizeof hwm));
        MKT_ZMQ(zmq_setsockopt(sock, ZMQ_MAXMSGSIZE, &cap, sizeof cap));
        if (zmq_bind(sock, opt->bind) != 0) {
            snprintf(why, sizeof why, "serve: cannot bind %s: %s", opt->bind, zmq_strerror(zmq_errno()));
        } else {
            size_t len = sizeof endpoint;
            MKT_ZMQ(zmq_getsockopt(sock, ZMQ_LAST_ENDPOINT, endpoint, &len));
            if (!strstr(endpoint, "//127.") && !strstr(endpoint, "//[::1]") && strncmp(endpoint, "ipc:", 4) &&
                strncmp(endpoint, "inproc:", 7))
                mkt_log("serve", "warning: %s is reachable from other hosts and the protocol has no encryption",
                        endpoint);
        }
    }
    MKT_MPI(MPI_Bcast(why, sizeof why, MPI_CHAR, 0, comm));
    if (why[0]) {
        if (rank == 0) {
            zmq_close(sock);
            zmq_ctx_term(ctx);
        }
        mkt_serve_model_close(model);
        mkt_fail_all(MKT_EXIT_ERROR, "%s", why);
    }
    int status = MKT_EXIT_OK;
    if (rank == 0) {
        mkt_log("serve", "serving on %s with %d ranks", endpoint, nranks);
        if (opt->ready_file)
            write_ready_file(opt->ready_file, endpoint);
        status = serve_rank0(opt, token, sock, model, comm, nranks);
        zmq_close(sock);
        zmq_ctx_term(ctx);
        if (opt->ready_file)
            unlink(opt->ready_file);
    } else {
        mkt_serve_worker_loop(model, comm);
    }
    free(token);
    mkt_serve_model_close(model);
    return status;
}

/* ---------- mkt query ---------- */

int mkt_gateway_query(const char *endpoint, const char *request, int64_t timeout_ms)
{
    void *ctx = zmq_ctx_new();
    void *sock = ctx ? zmq_socket(ctx, ZMQ_DEALER) : NULL;
    if (!sock) {
        fprintf(stderr, "mkt query: cannot create a ZeroMQ socket: %s\n", zmq_strerror(zmq_errno()));
        return MKT_EXIT_ERROR;
    }
    int linger = 0;
    zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger);
    int status = MKT_EXIT_ERROR;
    if (zmq_connect(sock, endpoint) != 0) {
        fprintf(stderr, "mkt query: cannot connect to %s: %s\n", endpoint, zmq_strerror(zmq_errno()));
    } else if (zmq_setsockopt(sock, ZMQ_SNDTIMEO, &(int){(int)timeout_ms}, sizeof(int)) != 0 ||
               zmq_send(sock, request, strlen(request), 0) < 0) {
        fprintf(stderr, "mkt query: cannot send to %s: %s\n", endpoint, zmq_strerror(zmq_errno()));
    } else {
        zmq_pollitem_t item = {sock, 0, ZMQ_POLLIN, 0};
        int rc = zmq_poll(&item, 1, (long)timeout_ms);
        if (rc <= 0) {
            fprintf(stderr, "mkt query: no reply from %s within %" PRId64 " ms (is mkt serve running there?)\n",
                    endpoint, timeout_ms);
        } else {
            zmq_msg_t reply;
            zmq_msg_init(&reply);
            if (zmq_msg_recv(&reply, sock, ZMQ_DONTWAIT) >= 0) {
                fwrite(zmq_msg_data(&reply), 1, zmq_msg_size(&reply), stdout);
                fputc('\n', stdout);
                status = MKT_EXIT_OK;
            } else {
                fprintf(stderr, "mkt query: receive failed: %s\n", zmq_strerror(zmq_errno()));
            }
            zmq_msg_close(&reply);
        }
    }
    zmq_close(sock);
    zmq_ctx_term(ctx);
    return status;
}
