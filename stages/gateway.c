/* gateway.c — the ZeroMQ front end of `mkt serve` and the `mkt query` client.
 *
 * Rank 0 is a small state machine around one zmq_poll loop on a ROUTER
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
 * Queues are bounded by high-water marks; replies are sent with
 * ZMQ_DONTWAIT so a client that does not read can never stall the loop (the
 * reply is dropped and counted).  Messages larger than max-frame are cut by
 * ZeroMQ itself (ZMQ_MAXMSGSIZE disconnects that peer); anything below it but
 * above max-message gets a "too_large" reply without being parsed.
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
 * every rank closes its files and returns.  Must not: parse JSON beyond
 * what protocol.c returns, or compute predictions. */
#include "gateway.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "iocheck.h"
#include "par.h"
#include "protocol.h"
#include "serve_fanout.h"

#define MAX_FRAMES 8        /* frames kept per message; more are read and dropped */
#define LATENCY_WINDOW 1024 /* last latencies kept per op for p50/p99 */
#define POLL_TICK_MS 100
#define FANOUT_PIECE 256    /* work items per MPI round; deadlines are checked between rounds */
#define ZAP_ENDPOINT "inproc://zeromq.zap.01"
#define OPERATOR_ID "operator"
#define CLIENT_ID "client"
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

/* One client message in flight: its envelope, its requests and their replies. */
typedef struct {
    zmq_msg_t envelope[2];
    int nenvelope;
    int is_operator; /* arrived on a CURVE connection with an allowed key */
    mkt_proto_message msg;
    json_t **replies;
    double received;
} pending;

/* CURVE configuration of the server (rank 0): the listed keys and their roles. */
typedef struct {
    int on;
    char secret[41], public_key[41];
    uint8_t (*allowed)[32];
    int *operator_key; /* per allowed key: from --curve-operators */
    int64_t nallowed;
} curve_config;

/* ---------- secret files ---------- */

/* Read the first line of a file that must not be readable by group or
 * others (private) or any file (!private); NULL and a message in why. */
static char *read_line_file(const char *option, const char *path, int private_file, char *why, size_t whylen)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        snprintf(why, whylen, "serve: --%s %s: %s", option, path, strerror(errno));
        return NULL;
    }
    if (private_file && (st.st_mode & (S_IRWXG | S_IRWXO))) {
        snprintf(why, whylen, "serve: --%s %s is readable or writable by group or others (mode %03o); "
                 "run chmod 600 %s", option, path, (unsigned)(st.st_mode & 0777), path);
        return NULL;
    }
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(why, whylen, "serve: --%s %s: %s", option, path, strerror(errno));
        return NULL;
    }
    char buf[MKT_PROTO_MAX_STRING + 2] = "";
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *nl = strchr(buf, '\n');
    if (nl && (private_file || nl[1] == 0))
        *nl = 0; /* one line */
    n = strlen(buf);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
        buf[--n] = 0;
    if (n == 0 || n > MKT_PROTO_MAX_STRING || mkt_proto_has_control(buf)) {
        snprintf(why, whylen, "serve: --%s %s must hold one line of 1 to 256 printable bytes", option, path);
        return NULL;
    }
    return mkt_xstrdup(buf);
}

/* A Z85 key (40 characters) from a key file; 0, or -1 with why. */
static int read_key(const char *option, const char *path, int private_file, char out[41], char *why, size_t whylen)
{
    char *line = read_line_file(option, path, private_file, why, whylen);
    if (!line)
        return -1;
    uint8_t bin[32];
    int ok = strlen(line) == 40 && zmq_z85_decode(bin, line) != NULL;
    if (ok)
        memcpy(out, line, 41);
    else
        snprintf(why, whylen, "serve: --%s %s: not a CURVE key (40 Z85 characters, as mkt serve --gen-keys writes)",
                 option, path);
    free(line);
    return ok ? 0 : -1;
}

/* A list of allowed keys (--curve-clients, or --curve-operators when
 * operator): one Z85 key per line, optionally followed by blanks and a
 * comment; blank lines are skipped, and lines starting with # that are not
 * a key (# is also a Z85 character). */
static int read_allowed(const char *option, const char *path, int operator, curve_config *c, char *why,
                        size_t whylen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(why, whylen, "serve: --%s %s: %s", option, path, strerror(errno));
        return -1;
    }
    int64_t before = c->nallowed;
    char line[512];
    int64_t lineno = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        size_t n = strcspn(p, " \t\r\n");
        if (n == 0)
            continue;
        p[n] = 0;
        uint8_t bin[32];
        int key = n == 40 && zmq_z85_decode(bin, p) != NULL;
        if (!key && *p == '#')
            continue;
        if (!key) {
            snprintf(why, whylen, "serve: --%s %s line %" PRId64 ": not a CURVE public key (40 Z85 "
                     "characters)", option, path, lineno);
            fclose(f);
            return -1;
        }
        int64_t k = 0; /* a key in both lists is an operator's */
        while (k < c->nallowed && memcmp(c->allowed[k], bin, 32))
            k++;
        if (k == c->nallowed) {
            c->allowed = realloc(c->allowed, (size_t)(c->nallowed + 1) * sizeof *c->allowed);
            c->operator_key = realloc(c->operator_key, (size_t)(c->nallowed + 1) * sizeof *c->operator_key);
            if (!c->allowed || !c->operator_key)
                mkt_fail("serve: out of memory");
            memcpy(c->allowed[c->nallowed], bin, 32);
            c->operator_key[c->nallowed++] = 0;
        }
        c->operator_key[k] |= operator;
    }
    fclose(f);
    if (c->nallowed == before) {
        snprintf(why, whylen, "serve: --%s %s holds no new key: %s", option, path,
                 operator ? "no operator could connect with it" : "no client could connect with it");
        return -1;
    }
    return 0;
}

static int setup_curve(const mkt_gateway_options *opt, curve_config *c, char *why, size_t whylen)
{
    memset(c, 0, sizeof *c);
    if (!opt->curve_secret_key && !opt->curve_clients && !opt->curve_operators)
        return 0;
    if (!opt->curve_secret_key || (!opt->curve_clients && !opt->curve_operators)) {
        snprintf(why, whylen, "serve: --curve-secret-key and a key list (--curve-clients, --curve-operators or both) "
                 "go together");
        return -1;
    }
    if (opt->allow_shutdown) {
        snprintf(why, whylen, "serve: --allow-shutdown does not go with CURVE: only keys of --curve-operators may "
                 "shut the gateway down");
        return -1;
    }
    if (!zmq_has("curve")) {
        snprintf(why, whylen, "serve: this libzmq is built without CURVE support");
        return -1;
    }
    if (read_key("curve-secret-key", opt->curve_secret_key, 1, c->secret, why, whylen) ||
        (opt->curve_operators && read_allowed("curve-operators", opt->curve_operators, 1, c, why, whylen)) ||
        (opt->curve_clients && read_allowed("curve-clients", opt->curve_clients, 0, c, why, whylen)))
        return -1;
    if (zmq_curve_public(c->public_key, c->secret) != 0) {
        snprintf(why, whylen, "serve: --curve-secret-key %s: cannot derive the public key", opt->curve_secret_key);
        return -1;
    }
    c->on = 1;
    return 0;
}

/* ---------- ZAP (ZeroMQ authentication protocol, RFC 27) ---------- */

/* Answer one ZAP request: 200 with User-Id "operator" or "client" for a listed CURVE key, else 400. */
static void zap_handle(void *zap, const curve_config *c, gateway_stats *st)
{
    zmq_msg_t f[MAX_FRAMES];
    int n = 0, more = 1;
    while (more) {
        zmq_msg_t x;
        zmq_msg_init(&x);
        if (zmq_msg_recv(&x, zap, n == 0 ? ZMQ_DONTWAIT : 0) < 0) {
            zmq_msg_close(&x);
            if (n == 0)
                return;
            break;
        }
        more = zmq_msg_more(&x);
        if (n < MAX_FRAMES)
            f[n++] = x;
        else
            zmq_msg_close(&x);
    }
    int ok = 0, operator = 0;
    if (n >= 7 && zmq_msg_size(&f[0]) == 3 && !memcmp(zmq_msg_data(&f[0]), "1.0", 3) &&
        zmq_msg_size(&f[5]) == 5 && !memcmp(zmq_msg_data(&f[5]), "CURVE", 5) && zmq_msg_size(&f[6]) == 32)
        for (int64_t i = 0; i < c->nallowed && !ok; i++)
            if (!memcmp(zmq_msg_data(&f[6]), c->allowed[i], 32)) {
                ok = 1;
                operator = c->operator_key[i];
            }
    if (!ok && st->zap_denied++ < 10)
        mkt_log("serve", "refused a connection: its CURVE key is in neither --curve-clients nor --curve-operators");
    const char *uid = ok ? (operator ? OPERATOR_ID : CLIENT_ID) : "";
    /* reply: version, request id, status code, status text, user id, metadata */
    zmq_send(zap, "1.0", 3, ZMQ_SNDMORE);
    if (n >= 2)
        zmq_send(zap, zmq_msg_data(&f[1]), zmq_msg_size(&f[1]), ZMQ_SNDMORE);
    else
        zmq_send(zap, "", 0, ZMQ_SNDMORE);
    zmq_send(zap, ok ? "200" : "400", 3, ZMQ_SNDMORE);
    zmq_send(zap, ok ? "OK" : "key not allowed", ok ? 2 : 15, ZMQ_SNDMORE);
    zmq_send(zap, uid, strlen(uid), ZMQ_SNDMORE);
    zmq_send(zap, "", 0, 0);
    for (int i = 0; i < n; i++)
        zmq_msg_close(&f[i]);
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
    if (n > body) {
        const char *uid = zmq_msg_gets(&frames[body], "User-Id");
        p->is_operator = uid && !strcmp(uid, OPERATOR_ID);
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
    const curve_config *curve;
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
static int operator_ok(const server *sv, const pending *p, const mkt_request *rq)
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
static peer_failures *peer_find(server *sv, const pending *p, int create)
{
    const uint8_t *id = zmq_msg_data((zmq_msg_t *)&p->envelope[0]);
    size_t len = zmq_msg_size((zmq_msg_t *)&p->envelope[0]);
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
static json_t *operator_check(server *sv, const pending *p, const mkt_request *rq)
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
static void triage(server *sv, pending *p, int64_t msg_index, mkt_work *work, work_origin *origin, int64_t *nwork)
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
static void run_work(server *sv, pending *batch, mkt_work *work, work_origin *origin, int64_t nwork,
                     json_t **results)
{
    double limit = (double)sv->opt->request_timeout_ms * 1e-3;
    mkt_work *piece = mkt_xmalloc(FANOUT_PIECE * sizeof *piece);
    int64_t *index = mkt_xmalloc(FANOUT_PIECE * sizeof *index);
    for (int64_t w0 = 0; w0 < nwork; w0 += FANOUT_PIECE) {
        int64_t end = w0 + FANOUT_PIECE < nwork ? w0 + FANOUT_PIECE : nwork, n = 0;
        double now = mkt_now();
        for (int64_t w = w0; w < end; w++) {
            pending *p = &batch[origin[w].message];
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
    pending *batch = mkt_xcalloc((size_t)cap, sizeof *batch);
    mkt_work *work = mkt_xmalloc((size_t)(cap * cap) * sizeof *work);
    work_origin *origin = mkt_xmalloc((size_t)(cap * cap) * sizeof *origin);
    json_t **results = mkt_xmalloc(FANOUT_PIECE * sizeof *results);
    while (!sv->stop) {
        if (stop_signal) {
            mkt_log("serve", "%s: stopping", stop_signal == SIGTERM ? "SIGTERM" : "SIGINT");
            break;
        }
        int loading = mkt_serve_reloading(sv->model);
        zmq_pollitem_t items[2] = {{sv->sock, 0, ZMQ_POLLIN, 0}, {sv->zap, 0, ZMQ_POLLIN, 0}};
        int rc = zmq_poll(items, sv->zap ? 2 : 1, loading ? 0 : POLL_TICK_MS);
        if (rc < 0 && errno != EINTR)
            mkt_fail_zmq("zmq_poll", __FILE__, __LINE__);
        if (rc > 0 && sv->zap && (items[1].revents & ZMQ_POLLIN))
            zap_handle(sv->zap, sv->curve, st);
        if (rc > 0 && (items[0].revents & ZMQ_POLLIN)) {
            /* drain what arrived together, up to max-batch messages */
            int64_t nmsg = 0, nwork = 0;
            while (nmsg < cap && receive_message(sv->sock, &batch[nmsg], &lim) == 0)
                nmsg++;
            last_activity = mkt_now();
            for (int64_t m = 0; m < nmsg; m++) {
                st->messages++;
                triage(sv, &batch[m], m, work, origin, &nwork);
            }
            run_work(sv, batch, work, origin, nwork, results);
            for (int64_t m = 0; m < nmsg; m++) {
                send_reply(sv->sock, &batch[m], st);
                pending_free(&batch[m]);
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

/* Rank 0: create the sockets (ZAP first, so no CURVE handshake can miss it) and bind. */
static void open_sockets(const mkt_gateway_options *opt, const curve_config *curve, void **ctx, void **sock,
                         void **zap, char *endpoint, size_t eplen, char *why, size_t whylen)
{
    *ctx = zmq_ctx_new();
    if (!*ctx)
        mkt_fail_zmq("zmq_ctx_new", __FILE__, __LINE__);
    int linger = 0, hwm = (int)opt->hwm;
    if (curve->on) {
        *zap = zmq_socket(*ctx, ZMQ_REP);
        if (!*zap)
            mkt_fail_zmq("zmq_socket", __FILE__, __LINE__);
        MKT_ZMQ(zmq_setsockopt(*zap, ZMQ_LINGER, &linger, sizeof linger));
        MKT_ZMQ(zmq_bind(*zap, ZAP_ENDPOINT));
    }
    *sock = zmq_socket(*ctx, ZMQ_ROUTER);
    if (!*sock)
        mkt_fail_zmq("zmq_socket", __FILE__, __LINE__);
    int64_t frame = opt->max_frame;
    MKT_ZMQ(zmq_setsockopt(*sock, ZMQ_LINGER, &linger, sizeof linger));
    MKT_ZMQ(zmq_setsockopt(*sock, ZMQ_RCVHWM, &hwm, sizeof hwm));
    MKT_ZMQ(zmq_setsockopt(*sock, ZMQ_SNDHWM, &hwm, sizeof hwm));
    MKT_ZMQ(zmq_setsockopt(*sock, ZMQ_MAXMSGSIZE, &frame, sizeof frame));
    if (curve->on) {
        int one = 1;
        MKT_ZMQ(zmq_setsockopt(*sock, ZMQ_CURVE_SERVER, &one, sizeof one));
        MKT_ZMQ(zmq_setsockopt(*sock, ZMQ_CURVE_SECRETKEY, curve->secret, 40));
        MKT_ZMQ(zmq_setsockopt(*sock, ZMQ_ZAP_DOMAIN, "mkt", 3));
    }
    if (zmq_bind(*sock, opt->bind) != 0) {
        snprintf(why, whylen, "serve: cannot bind %s: %s", opt->bind, zmq_strerror(zmq_errno()));
        return;
    }
    size_t len = eplen;
    MKT_ZMQ(zmq_getsockopt(*sock, ZMQ_LAST_ENDPOINT, endpoint, &len));
    if (!curve->on && !strstr(endpoint, "//127.") && !strstr(endpoint, "//[::1]") && strncmp(endpoint, "ipc:", 4) &&
        strncmp(endpoint, "inproc:", 7))
        mkt_log("serve", "warning: %s is reachable from other hosts and the connection is not encrypted "
                "(see --curve-secret-key)", endpoint);
}

static void close_sockets(void *ctx, void *sock, void *zap)
{
    if (sock)
        zmq_close(sock);
    if (zap)
        zmq_close(zap);
    if (ctx)
        zmq_ctx_term(ctx);
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
    if (opt->max_frame < opt->max_message)
        mkt_fail_all(MKT_EXIT_USAGE, "serve: --max-frame (%" PRId64 ") must be at least --max-message (%" PRId64 ")",
                     opt->max_frame, opt->max_message);
    /* The token and keys are checked on rank 0 and the verdict broadcast, so every rank stops together. */
    char why[1024] = "";
    char *token = NULL;
    curve_config curve;
    memset(&curve, 0, sizeof curve);
    if (rank == 0 && opt->token_file) {
        token = read_line_file("token-file", opt->token_file, 1, why, sizeof why);
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

    void *ctx = NULL, *sock = NULL, *zap = NULL;
    char endpoint[512] = "";
    if (rank == 0)
        open_sockets(opt, &curve, &ctx, &sock, &zap, endpoint, sizeof endpoint, why, sizeof why);
    MKT_MPI(MPI_Bcast(why, sizeof why, MPI_CHAR, 0, comm));
    if (why[0]) {
        close_sockets(ctx, sock, zap);
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
        server sv = {opt, token, &curve, sock, zap, model, comm, nranks, st, 0, NULL, 0, {NULL}, 0, 0};
        sv.peers = mkt_xcalloc(MAX_PEERS, sizeof *sv.peers);
        serve_rank0(&sv);
        free(sv.peers);
        for (int i = 0; i < RELOAD_PATHS; i++)
            free(sv.reload_paths[i]);
        free(st);
        close_sockets(ctx, sock, zap);
        if (opt->ready_file)
            unlink(opt->ready_file);
    } else {
        mkt_serve_worker_loop(model, comm);
    }
    free(token);
    free(curve.allowed);
    free(curve.operator_key);
    mkt_serve_model_close(model);
    return MKT_EXIT_OK;
}

/* ---------- keys ---------- */

static int write_key_file(const char *dir, const char *name, const char *key, int secret)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, secret ? 0600 : 0644);
    if (fd < 0 || (secret && fchmod(fd, 0600) != 0)) {
        fprintf(stderr, "mkt serve --gen-keys: cannot write %s: %s\n", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    char line[64];
    int n = snprintf(line, sizeof line, "%s\n", key);
    int ok = write(fd, line, (size_t)n) == n;
    ok &= close(fd) == 0;
    if (!ok)
        fprintf(stderr, "mkt serve --gen-keys: cannot write %s: %s\n", path, strerror(errno));
    return ok ? 0 : -1;
}

int mkt_gateway_gen_keys(const char *dir)
{
    if (!zmq_has("curve")) {
        fprintf(stderr, "mkt serve --gen-keys: this libzmq is built without CURVE support\n");
        return MKT_EXIT_ERROR;
    }
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "mkt serve --gen-keys: cannot create %s: %s\n", dir, strerror(errno));
        return MKT_EXIT_ERROR;
    }
    char spub[41], ssec[41], cpub[41], csec[41], opub[41], osec[41];
    if (zmq_curve_keypair(spub, ssec) != 0 || zmq_curve_keypair(cpub, csec) != 0 ||
        zmq_curve_keypair(opub, osec) != 0) {
        fprintf(stderr, "mkt serve --gen-keys: zmq_curve_keypair: %s\n", zmq_strerror(zmq_errno()));
        return MKT_EXIT_ERROR;
    }
    if (write_key_file(dir, "server.key", ssec, 1) || write_key_file(dir, "server.pub", spub, 0) ||
        write_key_file(dir, "client.key", csec, 1) || write_key_file(dir, "client.pub", cpub, 0) ||
        write_key_file(dir, "clients.pub", cpub, 0) || write_key_file(dir, "operator.key", osec, 1) ||
        write_key_file(dir, "operator.pub", opub, 0) || write_key_file(dir, "operators.pub", opub, 0))
        return MKT_EXIT_ERROR;
    printf("wrote %s/server.key (secret), server.pub, client.key (secret), client.pub, clients.pub (the "
           "read-only client keys), operator.key (secret), operator.pub and operators.pub (the operator keys)\n", dir);
    return MKT_EXIT_OK;
}

/* ---------- mkt query ---------- */

static int client_curve(void *sock, const char *server_key, const char *client_key)
{
    char why[1024] = "", spub[41], csec[41], cpub[41];
    if (!server_key && !client_key)
        return 0;
    if (!server_key || !client_key) {
        fprintf(stderr, "mkt query: --curve-server-key and --curve-client-key go together\n");
        return -1;
    }
    if (read_key("curve-server-key", server_key, 0, spub, why, sizeof why) ||
        read_key("curve-client-key", client_key, 1, csec, why, sizeof why)) {
        fprintf(stderr, "mkt query%s\n", why + strlen("serve"));
        return -1;
    }
    if (zmq_curve_public(cpub, csec) != 0 || zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, spub, 40) != 0 ||
        zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, cpub, 40) != 0 ||
        zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, csec, 40) != 0) {
        fprintf(stderr, "mkt query: cannot set the CURVE keys: %s\n", zmq_strerror(zmq_errno()));
        return -1;
    }
    return 0;
}

/* mkt query's exit status for a reply: 0, or 1 (with a line on stderr) when
 * the reply is an error object or a batch holding one. */
static int query_reply_status(const void *data, size_t len)
{
    json_t *r = json_loadb(data, len, 0, NULL);
    if (!r) {
        fprintf(stderr, "mkt query: the reply is not JSON\n");
        return MKT_EXIT_ERROR;
    }
    size_t n = json_is_array(r) ? json_array_size(r) : 1, bad = 0;
    json_t *first = NULL;
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_object_get(json_is_array(r) ? json_array_get(r, i) : r, "error");
        if (e && !bad++)
            first = e;
    }
    int status = MKT_EXIT_OK;
    if (bad) {
        const char *code = json_string_value(json_object_get(first, "code"));
        const char *msg = json_string_value(json_object_get(first, "message"));
        if (json_is_array(r))
            fprintf(stderr, "mkt query: %zu of %zu requests answered with an error (first: %s: %s)\n", bad, n,
                    code ? code : "?", msg ? msg : "");
        else
            fprintf(stderr, "mkt query: the gateway answered with an error: %s: %s\n", code ? code : "?",
                    msg ? msg : "");
        status = MKT_EXIT_ERROR;
    }
    json_decref(r);
    return status;
}

int mkt_gateway_query(const char *endpoint, const char *request, int64_t timeout_ms, const char *server_key,
                      const char *client_key)
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
    if (client_curve(sock, server_key, client_key) != 0) {
        /* message printed */
    } else if (zmq_connect(sock, endpoint) != 0) {
        fprintf(stderr, "mkt query: cannot connect to %s: %s\n", endpoint, zmq_strerror(zmq_errno()));
    } else if (zmq_setsockopt(sock, ZMQ_SNDTIMEO, &(int){(int)timeout_ms}, sizeof(int)) != 0 ||
               zmq_send(sock, request, strlen(request), 0) < 0) {
        fprintf(stderr, "mkt query: cannot send to %s: %s\n", endpoint, zmq_strerror(zmq_errno()));
    } else {
        zmq_pollitem_t item = {sock, 0, ZMQ_POLLIN, 0};
        int rc = zmq_poll(&item, 1, (long)timeout_ms);
        if (rc <= 0) {
            fprintf(stderr, "mkt query: no reply from %s within %" PRId64 " ms (is mkt serve running there%s?)\n",
                    endpoint, timeout_ms, server_key ? ", with this client key allowed" : "");
        } else {
            zmq_msg_t reply;
            zmq_msg_init(&reply);
            if (zmq_msg_recv(&reply, sock, ZMQ_DONTWAIT) >= 0) {
                fwrite(zmq_msg_data(&reply), 1, zmq_msg_size(&reply), stdout);
                fputc('\n', stdout);
                status = query_reply_status(zmq_msg_data(&reply), zmq_msg_size(&reply));
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
