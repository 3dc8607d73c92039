/* gateway.c — the serving logic of `mkt serve` on top of the ZeroMQ
 * transport (io/zmq_transport.c, which owns the sockets, the CURVE keys and
 * the ZAP handler, receiving and sending).
 *
 * Rank 0 is a small state machine around one poll loop on the ROUTER
 * socket (zguide), plus the ZAP socket when CURVE is on: wait for input
 * (100 ms ticks, for the idle timeout; no wait while a reload is loading),
 * answer ZAP requests, drain up to max-batch messages that arrived together,
 * validate each with io/protocol.c, answer ping/stats/shutdown/reload and
 * every refusal at once, collect the prediction requests into one batch,
 * hand it to mkt_serve_fanout in pieces (every rank answers its part over
 * MPI; a request whose deadline passed before its piece started gets
 * "timeout"), and reply with the client's envelope.  While a reload is under
 * way, one bounded load step follows every loop turn, so batches and load
 * steps alternate and every batch is answered by one whole model set.
 *
 * Queues are bounded by high-water marks; a reply that cannot be sent at
 * once is dropped and counted.  Messages larger than max-frame are cut by
 * ZeroMQ itself; anything below it but above max-message gets a
 * "too_large" reply without being parsed.
 *
 * Operator ops (shutdown, reload) need the token from the token file (at
 * least MIN_TOKEN bytes), or, with CURVE on, a connection authenticated with
 * a key from the operator list (the ZAP handler gives it the User-Id
 * "operator"; keys of the client list get "client" and may use every other
 * op; a client without a listed key cannot connect at all; with CURVE and a
 * token file, an operator needs both).  A connection (ROUTER routing id)
 * whose operator requests were refused max-operator-failures times gets no
 * operator op any more, whatever it sends.  stats names files without their
 * directories.
 *
 * The other ranks sit in mkt_serve_worker_loop; shutdown is broadcast so
 * every rank closes its files and returns.  Must not: call ZeroMQ itself
 * (io/zmq_transport.c), parse JSON beyond what protocol.c returns, or
 * compute predictions. */
#include "gateway.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_message.h"
#include "iocheck.h"
#include "par.h"
#include "protocol.h"
#include "serve_fanout.h"
#include "zmq_transport.h"

#define LATENCY_WINDOW 1024 /* last latencies kept per op for p50/p99 */
#define POLL_TICK_MS 100
#define FANOUT_PIECE 256    /* work items per MPI round; deadlines are checked between rounds */
#define MIN_TOKEN 16        /* shortest operator token accepted from --token-file, in bytes */
#define MAX_PEERS 1024      /* connections whose failed operator attempts are remembered */
#define MAX_DIRS 16         /* directories stripped from the file names stats shows */

typedef struct {
    int64_t count, errors;
    double latency_ms[LATENCY_WINDOW];
    int64_t nlatency;
} op_stats;

typedef struct {
    int64_t requests, errors, messages, dropped_replies, batches, timeouts, reloads, zap_denied, operator_refused,
        peers_blocked;
    op_stats ops[MKT_OP_COUNT];
    double start;
} gateway_stats;

/* ---------- CURVE ---------- */

/* The CURVE keys, when the options name any (their combination was checked). */
static int setup_curve(const mkt_gateway_options *opt, mkt_zmq_curve *c, char *why, size_t whylen)
{
    memset(c, 0, sizeof *c);
    if (!opt->curve_secret_key && !opt->curve_clients && !opt->curve_operators)
        return 0;
    /* which options go together: mkt_gateway_check_options */
    return mkt_zmq_curve_setup(opt->curve_secret_key, opt->curve_clients, opt->curve_operators, c, why, whylen);
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

/* ---------- file names without directories (stats) ---------- */

static const char *base_name(const char *path)
{
    const char *b = strrchr(path, '/');
    return b ? b + 1 : path;
}

static int path_char(char c)
{
    return isalnum((unsigned char)c) || c == '.' || c == '_' || c == '-' || c == '/' || c == '~';
}

/* Add a copy of the directory part of path ("dir/", with its slash) to dirs[*n < MAX_DIRS]. */
static void add_dir(char **dirs, size_t *lens, int *n, const char *path)
{
    const char *slash = path ? strrchr(path, '/') : NULL;
    if (!slash || slash == path || *n >= MAX_DIRS)
        return; /* no directory, or the root alone: base_name covers it */
    size_t len = (size_t)(slash - path) + 1;
    for (int i = 0; i < *n; i++)
        if (lens[i] == len && !memcmp(dirs[i], path, len))
            return;
    dirs[*n] = mkt_xmalloc(len + 1);
    memcpy(dirs[*n], path, len);
    dirs[*n][len] = 0;
    lens[(*n)++] = len;
}

/* Remove every directory of dirs that starts a path in text (at the start or
 * after a character that cannot be part of a path), longest first. */
static char *strip_dirs(const char *text, char *const *dirs, const size_t *lens, int n)
{
    size_t tl = strlen(text), o = 0;
    char *out = mkt_xmalloc(tl + 1);
    for (size_t i = 0; i < tl;) {
        size_t best = 0;
        if (i == 0 || !path_char(text[i - 1]))
            for (int d = 0; d < n; d++)
                if (lens[d] > best && lens[d] <= tl - i && !memcmp(text + i, dirs[d], lens[d]))
                    best = lens[d];
        if (best)
            i += best;
        else
            out[o++] = text[i++];
    }
    out[o] = 0;
    return out;
}

static void strip_dirs_json(json_t *v, char *const *dirs, const size_t *lens, int n)
{
    if (json_is_string(v)) {
        char *t = strip_dirs(json_string_value(v), dirs, lens, n);
        json_string_set(v, t);
        free(t);
    } else if (json_is_object(v)) {
        const char *key;
        json_t *x;
        json_object_foreach(v, key, x)
            strip_dirs_json(x, dirs, lens, n);
    } else if (json_is_array(v)) {
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x)
            strip_dirs_json(x, dirs, lens, n);
    }
}

/* A string field that holds a file path: its file name only. */
static void base_name_field(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (json_is_string(v)) {
        char *t = mkt_xstrdup(base_name(json_string_value(v)));
        json_string_set(v, t);
        free(t);
    }
}

static json_t *stats_json(const gateway_stats *st, const mkt_gateway_options *opt, const mkt_serve_model *model,
                          int nranks, int curve, const char *const *reload_paths, int nreload)
{
    json_t *ops = json_object();
    for (int op = 1; op < MKT_OP_COUNT; op++) {
        const op_stats *s = &st->ops[op];
        json_object_set_new(ops, mkt_op_name((mkt_op)op),
                            json_pack("{s:I, s:I, s:f, s:f}", "count", (json_int_t)s->count, "errors",
                                      (json_int_t)s->errors, "p50_ms", percentile(s, 0.5), "p99_ms",
                                      percentile(s, 0.99)));
    }
    json_t *limits = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "max_message", (json_int_t)opt->max_message,
                               "max_frame", (json_int_t)opt->max_frame, "max_k", (json_int_t)opt->max_k,
                               "max_batch", (json_int_t)opt->max_batch, "hwm", (json_int_t)opt->hwm,
                               "request_timeout_ms", (json_int_t)opt->request_timeout_ms);
    json_t *r = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:s, s:s, s:i, s:b, s:o, s:o, s:o}", "requests",
                          (json_int_t)st->requests, "errors", (json_int_t)st->errors, "messages",
                          (json_int_t)st->messages, "batches", (json_int_t)st->batches, "dropped_replies",
                          (json_int_t)st->dropped_replies, "timeouts", (json_int_t)st->timeouts, "reloads",
                          (json_int_t)st->reloads, "uptime_s", mkt_now() - st->start, "model_file", opt->models,
                          "store", opt->store, "ranks", nranks, "curve", curve, "limits", limits, "ops", ops,
                          "models", mkt_serve_model_info(model));
    json_object_set_new(r, "operator_refused", json_integer((json_int_t)st->operator_refused));
    json_object_set_new(r, "peers_blocked", json_integer((json_int_t)st->peers_blocked));
    /* Any client may ask for stats: name files without their directories,
     * also inside messages (a failed reload's last_error). */
    json_t *models = json_object_get(r, "models");
    char *dirs[MAX_DIRS];
    size_t lens[MAX_DIRS];
    int ndirs = 0;
    char cwd[4096];
    add_dir(dirs, lens, &ndirs, json_string_value(json_object_get(models, "file")));
    add_dir(dirs, lens, &ndirs, json_string_value(json_object_get(models, "strategy_file")));
    add_dir(dirs, lens, &ndirs, opt->models);
    add_dir(dirs, lens, &ndirs, opt->store);
    add_dir(dirs, lens, &ndirs, opt->strategy);
    for (int i = 0; i < nreload; i++)
        add_dir(dirs, lens, &ndirs, reload_paths[i]);
    if (getcwd(cwd, sizeof cwd - 2)) {
        strcat(cwd, "/x"); /* add_dir takes the part before the last slash */
        add_dir(dirs, lens, &ndirs, cwd);
    }
    strip_dirs_json(r, dirs, lens, ndirs);
    base_name_field(r, "model_file");
    base_name_field(r, "store");
    base_name_field(models, "file");
    base_name_field(models, "strategy_file");
    for (int i = 0; i < ndirs; i++)
        free(dirs[i]);
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

/* ---------- replies ---------- */

static void send_reply(void *sock, mkt_zmq_message *p, gateway_stats *st)
{
    if (mkt_zmq_send_reply(sock, p) != 0)
        st->dropped_replies++; /* the peer is gone or not reading: never block on it */
    double ms = (mkt_now() - p->received) * 1e3;
    for (int64_t i = 0; i < p->msg.n; i++)
        record(st, &p->msg.requests[i], json_object_get(p->replies[i], "error") != NULL, ms);
}

/* ---------- rank 0 ---------- */

typedef struct {
    int64_t message, request;
} work_origin;

/* A connection with refused operator requests, by its ROUTER routing id. */
typedef struct {
    uint8_t id[256];
    size_t len;
    int64_t failures;
    double last;
} peer_failures;

#define RELOAD_PATHS 8 /* the last reload paths, whose directories stats leaves out */

typedef struct {
    const mkt_gateway_options *opt;
    const char *token;
    const mkt_zmq_curve *curve;
    void *sock, *zap;
    mkt_serve_model *model;
    MPI_Comm comm;
    int nranks;
    gateway_stats *st;
    int stop;
    peer_failures *peers; /* MAX_PEERS; the least recently refused one is forgotten first */
    int64_t npeers;
    char *reload_paths[RELOAD_PATHS];
    int nreload_paths, next_reload_path;
} server;

/* May this request use an operator op?  Under CURVE only an operator key
 * (and the token too when there is a token file). */
static int operator_ok(const server *sv, const mkt_zmq_message *p, const mkt_request *rq)
{
    int token_ok = sv->token && rq->token && mkt_proto_token_equal(rq->token, sv->token);
    if (sv->curve->on)
        return p->is_operator && (!sv->token || token_ok);
    if (token_ok)
        return 1;
    return rq->op == MKT_OP_SHUTDOWN && !sv->token && sv->opt->allow_shutdown;
}

static json_t *forbidden(const server *sv, const mkt_request *rq)
{
    const char *why = sv->curve->on ? (sv->token ? "this op needs an operator CURVE key (--curve-operators) and the "
                                                   "operator token"
                                                 : "this op needs an operator CURVE key (--curve-operators)")
                      : sv->token ? "this op needs the operator token"
                                  : "this op is disabled (start serve with --token-file or CURVE operator keys)";
    return mkt_proto_error(rq->id, "forbidden", why);
}

/* The failure record of the connection p came on; with create, a new one
 * (replacing the least recently refused one when the table is full). */
static peer_failures *peer_find(server *sv, const mkt_zmq_message *p, int create)
{
    size_t len;
    const uint8_t *id = mkt_zmq_peer_id(p, &len);
    if (len > sizeof sv->peers[0].id)
        len = sizeof sv->peers[0].id;
    for (int64_t i = 0; i < sv->npeers; i++)
        if (sv->peers[i].len == len && !memcmp(sv->peers[i].id, id, len))
            return &sv->peers[i];
    if (!create)
        return NULL;
    peer_failures *e;
    if (sv->npeers < MAX_PEERS) {
        e = &sv->peers[sv->npeers++];
    } else {
        e = &sv->peers[0];
        for (int64_t i = 1; i < sv->npeers; i++)
            if (sv->peers[i].last < e->last)
                e = &sv->peers[i];
    }
    memset(e, 0, sizeof *e);
    memcpy(e->id, id, len);
    e->len = len;
    return e;
}

/* Check an operator request: NULL when it may run, else the refusal.  A
 * refusal counts against the connection; at --max-operator-failures the
 * connection gets no operator op any more. */
static json_t *operator_check(server *sv, const mkt_zmq_message *p, const mkt_request *rq)
{
    int64_t limit = sv->opt->max_operator_failures;
    peer_failures *e = limit > 0 ? peer_find(sv, p, 0) : NULL;
    if (e && e->failures >= limit) {
        sv->st->operator_refused++;
        e->last = mkt_now();
        char m[160];
        snprintf(m, sizeof m, "too many failed operator attempts on this connection (%" PRId64
                 ", --max-operator-failures): operator ops are refused on it", e->failures);
        return mkt_proto_error(rq->id, "forbidden", m);
    }
    if (operator_ok(sv, p, rq))
        return NULL;
    sv->st->operator_refused++;
    if (limit > 0) {
        e = peer_find(sv, p, 1);
        e->last = mkt_now();
        if (++e->failures == limit) {
            sv->st->peers_blocked++;
            mkt_log("serve", "a connection made %" PRId64 " failed operator attempts (--max-operator-failures): "
                    "its operator requests are refused from now on", limit);
        }
    }
    return forbidden(sv, rq);
}

static void remember_reload_path(server *sv, const char *path)
{
    if (!path)
        return;
    int i = sv->next_reload_path;
    free(sv->reload_paths[i]);
    sv->reload_paths[i] = mkt_xstrdup(path);
    sv->next_reload_path = (i + 1) % RELOAD_PATHS;
    if (sv->nreload_paths < RELOAD_PATHS)
        sv->nreload_paths++;
}

static json_t *do_reload(server *sv, const mkt_request *rq)
{
    char why[1024];
    int64_t from = mkt_serve_version(sv->model);
    remember_reload_path(sv, rq->models);
    remember_reload_path(sv, rq->strategy);
    if (mkt_serve_reload_begin(sv->model, rq->models, rq->strategy, why, sizeof why, sv->comm) != 0) {
        mkt_log("serve", "reload refused: %s", why);
        return mkt_proto_error(rq->id, "reload_failed", why);
    }
    mkt_log("serve", "reload of version %" PRId64 " started", from);
    json_t *out = mkt_proto_reply(rq->id, rq->op);
    json_object_set_new(out, "started", json_true());
    json_object_set_new(out, "version", json_integer((json_int_t)from));
    return out;
}

/* Answer what rank 0 answers alone; queue the rest as work. */
static void triage(server *sv, mkt_zmq_message *p, int64_t msg_index, mkt_work *work, work_origin *origin, int64_t *nwork)
{
    for (int64_t i = 0; i < p->msg.n; i++) {
        mkt_request *rq = &p->msg.requests[i];
        json_t **out = &p->replies[i];
        if (rq->op == MKT_OP_NONE) {
            *out = mkt_proto_error(rq->id, rq->code, rq->message);
        } else if (rq->op == MKT_OP_PING) {
            *out = mkt_proto_reply(rq->id, rq->op);
            json_object_set_new(*out, "pong", json_true());
            json_object_set_new(*out, "ranks", json_integer(sv->nranks));
        } else if (rq->op == MKT_OP_STATS) {
            *out = mkt_proto_reply(rq->id, rq->op);
            json_object_update_new(*out, stats_json(sv->st, sv->opt, sv->model, sv->nranks, sv->curve->on,
                                                    (const char *const *)sv->reload_paths, sv->nreload_paths));
        } else if (rq->op == MKT_OP_SHUTDOWN || rq->op == MKT_OP_RELOAD) {
            json_t *refused = operator_check(sv, p, rq);
            if (refused) {
                *out = refused;
            } else if (rq->op == MKT_OP_RELOAD) {
                *out = do_reload(sv, rq);
            } else {
                *out = mkt_proto_reply(rq->id, rq->op);
                json_object_set_new(*out, "ok", json_true());
                sv->stop = 1;
            }
        } else if (!mkt_serve_has_model(sv->model, rq->op)) {
            *out = mkt_proto_error(rq->id, "model_missing",
                                   rq->op == MKT_OP_STRATEGY ? "model not loaded: start serve with --strategy FILE"
                                                             : "model not loaded: the model file has no model for this op");
        } else {
            int64_t u = rq->user ? mkt_serve_user_index(sv->model, rq->user) : -1;
            int64_t it = rq->item ? mkt_serve_item_index(sv->model, rq->item) : -1;
            if (rq->user && u < 0 && rq->op != MKT_OP_RECOMMEND)
                *out = mkt_proto_error(rq->id, "unknown_user", "no such user in the store");
            else if (rq->item && it < 0)
                *out = mkt_proto_error(rq->id, "unknown_item", "no such item in the store");
            else {
                work[*nwork] = (mkt_work){rq->op, rq->k, u, it};
                origin[*nwork] = (work_origin){msg_index, i};
                (*nwork)++;
            }
        }
    }
}

static json_t *work_reply(const mkt_request *rq, json_t *res)
{
    json_t *err = json_object_get(res, "error");
    if (err)
        return mkt_proto_error(rq->id, json_string_value(json_object_get(err, "code")),
                               json_string_value(json_object_get(err, "message")));
    json_t *out = mkt_proto_reply(rq->id, rq->op);
    if (rq->user)
        json_object_set_new(out, "user", json_string(rq->user));
    if (rq->item)
        json_object_set_new(out, "item", json_string(rq->item));
    if (rq->op == MKT_OP_RECOMMEND || rq->op == MKT_OP_SIMILAR)
        json_object_set_new(out, "k", json_integer(rq->k));
    json_object_update(out, res);
    return out;
}

/* Run the queued work in pieces of FANOUT_PIECE; requests past their deadline get "timeout". */
static void run_work(server *sv, mkt_zmq_message *batch, mkt_work *work, work_origin *origin, int64_t nwork,
                     json_t **results)
{
    double limit = (double)sv->opt->request_timeout_ms * 1e-3;
    mkt_work *piece = mkt_xmalloc(FANOUT_PIECE * sizeof *piece);
    int64_t *index = mkt_xmalloc(FANOUT_PIECE * sizeof *index);
    for (int64_t w0 = 0; w0 < nwork; w0 += FANOUT_PIECE) {
        int64_t end = w0 + FANOUT_PIECE < nwork ? w0 + FANOUT_PIECE : nwork, n = 0;
        double now = mkt_now();
        for (int64_t w = w0; w < end; w++) {
            mkt_zmq_message *p = &batch[origin[w].message];
            mkt_request *rq = &p->msg.requests[origin[w].request];
            if (limit > 0 && now - p->received > limit) {
                p->replies[origin[w].request] =
                    mkt_proto_error(rq->id, "timeout", "the request waited longer than --request-timeout-ms");
                sv->st->timeouts++;
            } else {
                piece[n] = work[w];
                index[n++] = w;
            }
        }
        if (n == 0)
            continue;
        sv->st->batches++;
        mkt_serve_fanout(sv->model, piece, n, results, sv->comm);
        for (int64_t j = 0; j < n; j++) {
            const work_origin *o = &origin[index[j]];
            mkt_request *rq = &batch[o->message].msg.requests[o->request];
            batch[o->message].replies[o->request] = work_reply(rq, results[j]);
            json_decref(results[j]);
        }
    }
    free(piece);
    free(index);
}

/* SIGTERM (scancel, a Slurm time limit) and SIGINT stop the gateway like a
 * shutdown request: rank 0 finishes the batch in hand, tells the other ranks
 * to stop, and every rank exits 0.  The handler only sets a flag; zmq_poll
 * returns with EINTR and the loop sees it within one tick. */
static volatile sig_atomic_t stop_signal;

static void on_stop_signal(int sig)
{
    stop_signal = sig;
}

static void install_stop_handlers(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
}

static void serve_rank0(server *sv)
{
    const mkt_gateway_options *opt = sv->opt;
    mkt_proto_limits lim = {(size_t)opt->max_message, opt->max_k, opt->max_batch};
    gateway_stats *st = sv->st;
    double last_activity = st->start;
    int64_t cap = opt->max_batch;
    mkt_zmq_message *batch = mkt_xcalloc((size_t)cap, sizeof *batch);
    mkt_work *work = mkt_xmalloc((size_t)(cap * cap) * sizeof *work);
    work_origin *origin = mkt_xmalloc((size_t)(cap * cap) * sizeof *origin);
    json_t **results = mkt_xmalloc(FANOUT_PIECE * sizeof *results);
    while (!sv->stop) {
        if (stop_signal) {
            mkt_log("serve", "%s: stopping", stop_signal == SIGTERM ? "SIGTERM" : "SIGINT");
            break;
        }
        int loading = mkt_serve_reloading(sv->model);
        int requests, zap_requests;
        mkt_zmq_poll(sv->sock, sv->zap, loading ? 0 : POLL_TICK_MS, &requests, &zap_requests);
        if (zap_requests)
            mkt_zmq_zap_answer(sv->zap, sv->curve, &st->zap_denied);
        if (requests) {
            /* drain what arrived together, up to max-batch messages */
            int64_t nmsg = 0, nwork = 0;
            while (nmsg < cap && mkt_zmq_receive(sv->sock, &batch[nmsg], &lim) == 0)
                nmsg++;
            last_activity = mkt_now();
            for (int64_t m = 0; m < nmsg; m++) {
                st->messages++;
                triage(sv, &batch[m], m, work, origin, &nwork);
            }
            run_work(sv, batch, work, origin, nwork, results);
            for (int64_t m = 0; m < nmsg; m++) {
                send_reply(sv->sock, &batch[m], st);
                mkt_zmq_message_free(&batch[m]);
            }
        } else if (!loading && opt->idle_timeout_ms > 0 &&
                   (mkt_now() - last_activity) * 1e3 > (double)opt->idle_timeout_ms) {
            mkt_log("serve", "no request for %" PRId64 " ms: stopping", opt->idle_timeout_ms);
            sv->stop = 1;
        }
        /* one bounded load step between batches; the swap happens inside a step, never inside a batch */
        if (!sv->stop && mkt_serve_reloading(sv->model) && mkt_serve_reload_step(sv->model, opt->reload_step_bytes, sv->comm)) {
            st->reloads++;
            mkt_log("serve", "now serving model version %" PRId64, mkt_serve_version(sv->model));
        }
    }
    mkt_serve_stop_workers(sv->comm);
    mkt_log("serve", "stopped after %" PRId64 " requests (%" PRId64 " errors)", st->requests, st->errors);
    free(batch);
    free(work);
    free(origin);
    free(results);
}

static void write_ready_file(const char *path, const char *endpoint)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f || fprintf(f, "%s\n", endpoint) < 0 || fclose(f) != 0 || rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        mkt_fail("serve: cannot write --ready-file %s: %s", path, strerror(e));
    }
}

void mkt_gateway_options_init(mkt_gateway_options *o)
{
    memset(o, 0, sizeof *o);
    o->max_message = 65536;
    o->max_frame = 16777216;
    o->max_k = 1000;
    o->max_batch = 256;
    o->hwm = 1000;
    o->request_timeout_ms = 10000;
    o->reload_step_bytes = 4194304;
    o->max_operator_failures = 5;
}

static char check_message[300];

#define CHECK(cond, ...) MKT_CHECK_MSG(check_message, cond, __VA_ARGS__)

const char *mkt_gateway_check_options(const mkt_gateway_options *o)
{
    CHECK(o->store && o->models, "--store STORE.h5 and --models MODEL.h5 are required");
    CHECK(!(o->token_file && o->allow_shutdown), "--allow-shutdown and --token-file exclude each other");
    CHECK(o->max_message >= 64, "--max-message must be at least 64 (got %" PRId64 ")", o->max_message);
    CHECK(o->max_frame >= o->max_message, "--max-frame (%" PRId64 ") must be at least --max-message (%" PRId64 ")",
          o->max_frame, o->max_message);
    CHECK(o->max_k >= 1, "--max-k must be at least 1 (got %" PRId64 ")", o->max_k);
    CHECK(o->max_batch >= 1 && o->max_batch <= 1024, "--max-batch must be in [1, 1024] (got %" PRId64 ")",
          o->max_batch);
    CHECK(o->hwm >= 1 && o->hwm <= 1000000, "--hwm must be in [1, 1000000] (got %" PRId64 ")", o->hwm);
    CHECK(o->request_timeout_ms >= 0, "--request-timeout-ms must be >= 0 (got %" PRId64 ")", o->request_timeout_ms);
    CHECK(o->reload_step_bytes >= 1024, "--reload-step-bytes must be at least 1024 (got %" PRId64 ")",
          o->reload_step_bytes);
    CHECK(o->max_operator_failures >= 0, "--max-operator-failures must be >= 0 (got %" PRId64 ")",
          o->max_operator_failures);
    CHECK(o->idle_timeout_ms >= 0, "--timeout-ms must be >= 0 (got %" PRId64 ")", o->idle_timeout_ms);
    int curve = o->curve_secret_key || o->curve_clients || o->curve_operators;
    CHECK(!curve || (o->curve_secret_key && (o->curve_clients || o->curve_operators)),
          "--curve-secret-key and a key list (--curve-clients, --curve-operators or both) go together");
    CHECK(!curve || !o->allow_shutdown,
          "--allow-shutdown does not go with CURVE: only keys of --curve-operators may shut the gateway down");
    return NULL;
}

int mkt_gateway_run(const mkt_gateway_options *opt, MPI_Comm comm)
{
    int rank, nranks;
    MKT_MPI(MPI_Comm_rank(comm, &rank));
    MKT_MPI(MPI_Comm_size(comm, &nranks));
    const char *msg = mkt_gateway_check_options(opt);
    if (msg)
        mkt_fail_all(MKT_EXIT_USAGE, "serve: %s", msg);
    /* The token and keys are checked on rank 0 and the verdict broadcast, so every rank stops together. */
    char why[1024] = "";
    char *token = NULL;
    mkt_zmq_curve curve;
    memset(&curve, 0, sizeof curve);
    if (rank == 0 && opt->token_file) {
        token = mkt_zmq_read_line_file("token-file", opt->token_file, 1, why, sizeof why);
        if (token && strlen(token) < MIN_TOKEN)
            snprintf(why, sizeof why, "serve: --token-file %s holds a token of %zu bytes; the operator token must "
                     "have at least %d (e.g. head -c 24 /dev/urandom | base64 > %s)", opt->token_file,
                     strlen(token), MIN_TOKEN, opt->token_file);
    }
    if (rank == 0 && !why[0])
        setup_curve(opt, &curve, why, sizeof why);
    MKT_MPI(MPI_Bcast(why, sizeof why, MPI_CHAR, 0, comm));
    if (why[0])
        mkt_fail_all(MKT_EXIT_USAGE, "%s", why);

    mkt_serve_model *model = mkt_serve_model_open(opt->store, opt->models, opt->strategy, comm);

    mkt_zmq_server net;
    memset(&net, 0, sizeof net);
    const char *endpoint = net.endpoint;
    if (rank == 0)
        mkt_zmq_open(&net, opt->bind, opt->hwm, opt->max_frame, &curve, why, sizeof why);
    MKT_MPI(MPI_Bcast(why, sizeof why, MPI_CHAR, 0, comm));
    if (why[0]) {
        mkt_zmq_close(&net);
        mkt_serve_model_close(model);
        mkt_fail_all(MKT_EXIT_ERROR, "%s", why);
    }
    install_stop_handlers(); /* every rank: a worker's SIGTERM must not kill it before rank 0 stops them */
    if (rank == 0) {
        mkt_log("serve", "serving on %s with %d ranks%s", endpoint, nranks, curve.on ? " (CURVE)" : "");
        if (curve.on)
            mkt_log("serve", "server public key %s", curve.public_key);
        if (opt->ready_file)
            write_ready_file(opt->ready_file, endpoint);
        gateway_stats *st = mkt_xcalloc(1, sizeof *st);
        st->start = mkt_now();
        server sv = {opt, token, &curve, net.sock, net.zap, model, comm, nranks, st, 0, NULL, 0, {NULL}, 0, 0};
        sv.peers = mkt_xcalloc(MAX_PEERS, sizeof *sv.peers);
        serve_rank0(&sv);
        free(sv.peers);
        for (int i = 0; i < RELOAD_PATHS; i++)
            free(sv.reload_paths[i]);
        free(st);
        mkt_zmq_close(&net);
        if (opt->ready_file)
            unlink(opt->ready_file);
    } else {
        mkt_serve_worker_loop(model, comm);
    }
    free(token);
    mkt_zmq_curve_free(&curve);
    mkt_serve_model_close(model);
    return MKT_EXIT_OK;
}

