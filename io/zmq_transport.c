/* zmq_transport.c — the ZeroMQ transport of the gateway and the `mkt query`
 * client: the ROUTER socket and its context, CURVE key files (reading them,
 * and writing new pairs for `mkt serve --gen-keys`), the ZAP handler that
 * admits listed CURVE keys, receiving one client message whole (its
 * envelope kept for the reply, its body parsed by io/protocol.c within the
 * limits), and sending a reply that never blocks.
 *
 * A message larger than max-frame is cut by ZeroMQ itself (ZMQ_MAXMSGSIZE
 * disconnects that peer); replies go out with ZMQ_DONTWAIT, so a client
 * that does not read can never stall the caller (the send fails and the
 * caller counts it).
 * Must not: know about models, MPI, operator tokens or ops: what a request
 * may do is decided by stages/gateway.c. */
#include "zmq_transport.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "iocheck.h"
#include "par.h"

#define MAX_FRAMES 8 /* frames kept per message; more are read and dropped */
#define ZAP_ENDPOINT "inproc://zeromq.zap.01"
#define OPERATOR_ID "operator"
#define CLIENT_ID "client"

/* ---------- key files ---------- */

/* Read the first line of a file that must not be readable by group or
 * others (private) or any file (!private); NULL and a message in why. */
char *mkt_zmq_read_line_file(const char *option, const char *path, int private_file, char *why, size_t whylen)
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
    char *line = mkt_zmq_read_line_file(option, path, private_file, why, whylen);
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
static int read_allowed(const char *option, const char *path, int operator, mkt_zmq_curve *c, char *why,
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

int mkt_zmq_curve_setup(const char *secret_key, const char *clients, const char *operators, mkt_zmq_curve *c,
                        char *why, size_t whylen)
{
    if (!zmq_has("curve")) {
        snprintf(why, whylen, "serve: this libzmq is built without CURVE support");
        return -1;
    }
    if (read_key("curve-secret-key", secret_key, 1, c->secret, why, whylen) ||
        (operators && read_allowed("curve-operators", operators, 1, c, why, whylen)) ||
        (clients && read_allowed("curve-clients", clients, 0, c, why, whylen)))
        return -1;
    if (zmq_curve_public(c->public_key, c->secret) != 0) {
        snprintf(why, whylen, "serve: --curve-secret-key %s: cannot derive the public key", secret_key);
        return -1;
    }
    c->on = 1;
    return 0;
}

void mkt_zmq_curve_free(mkt_zmq_curve *c)
{
    free(c->allowed);
    free(c->operator_key);
    c->allowed = NULL;
    c->operator_key = NULL;
}

/* ---------- the server socket ---------- */

/* ZAP first, so no CURVE handshake can miss it. */
void mkt_zmq_open(mkt_zmq_server *s, const char *bind, int64_t hwm, int64_t max_frame, const mkt_zmq_curve *curve,
                  char *why, size_t whylen)
{
    void **ctx = &s->ctx, **sock = &s->sock, **zap = &s->zap;
    *ctx = zmq_ctx_new();
    if (!*ctx)
        mkt_fail_zmq("zmq_ctx_new", __FILE__, __LINE__);
    int linger = 0, ihwm = (int)hwm;
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
    int64_t frame = max_frame;
    MKT_ZMQ(zmq_setsockopt(*sock, ZMQ_LINGER, &linger, sizeof linger));
    MKT_ZMQ(zmq_setsockopt(*sock, ZMQ_RCVHWM, &ihwm, sizeof ihwm));
    MKT_ZMQ(zmq_setsockopt(*sock, ZMQ_SNDHWM, &ihwm, sizeof ihwm));
    MKT_ZMQ(zmq_setsockopt(*sock, ZMQ_MAXMSGSIZE, &frame, sizeof frame));
    if (curve->on) {
        int one = 1;
        MKT_ZMQ(zmq_setsockopt(*sock, ZMQ_CURVE_SERVER, &one, sizeof one));
        MKT_ZMQ(zmq_setsockopt(*sock, ZMQ_CURVE_SECRETKEY, curve->secret, 40));
        MKT_ZMQ(zmq_setsockopt(*sock, ZMQ_ZAP_DOMAIN, "mkt", 3));
    }
    if (zmq_bind(*sock, bind) != 0) {
        snprintf(why, whylen, "serve: cannot bind %s: %s", bind, zmq_strerror(zmq_errno()));
        return;
    }
    char *endpoint = s->endpoint;
    size_t len = sizeof s->endpoint;
    MKT_ZMQ(zmq_getsockopt(*sock, ZMQ_LAST_ENDPOINT, endpoint, &len));
    if (!curve->on && !strstr(endpoint, "//127.") && !strstr(endpoint, "//[::1]") && strncmp(endpoint, "ipc:", 4) &&
        strncmp(endpoint, "inproc:", 7))
        mkt_log("serve", "warning: %s is reachable from other hosts and the connection is not encrypted "
                "(see --curve-secret-key)", endpoint);
}

void mkt_zmq_close(mkt_zmq_server *s)
{
    if (s->sock)
        zmq_close(s->sock);
    if (s->zap)
        zmq_close(s->zap);
    if (s->ctx)
        zmq_ctx_term(s->ctx);
    s->sock = s->zap = s->ctx = NULL;
}

int mkt_zmq_poll(void *sock, void *zap, long timeout_ms, int *requests, int *zap_requests)
{
    zmq_pollitem_t items[2] = {{sock, 0, ZMQ_POLLIN, 0}, {zap, 0, ZMQ_POLLIN, 0}};
    int rc = zmq_poll(items, zap ? 2 : 1, timeout_ms);
    if (rc < 0 && errno != EINTR)
        mkt_fail_zmq("zmq_poll", __FILE__, __LINE__);
    *zap_requests = rc > 0 && zap && (items[1].revents & ZMQ_POLLIN);
    *requests = rc > 0 && (items[0].revents & ZMQ_POLLIN);
    return rc;
}

/* ---------- ZAP (ZeroMQ authentication protocol, RFC 27) ---------- */

void mkt_zmq_zap_answer(void *zap, const mkt_zmq_curve *c, int64_t *denied)
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
    if (!ok && (*denied)++ < 10)
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

/* ---------- messages ---------- */

int mkt_zmq_receive(void *sock, mkt_zmq_message *p, const mkt_proto_limits *lim)
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

const uint8_t *mkt_zmq_peer_id(const mkt_zmq_message *p, size_t *len)
{
    *len = zmq_msg_size((zmq_msg_t *)&p->envelope[0]);
    return zmq_msg_data((zmq_msg_t *)&p->envelope[0]);
}

int mkt_zmq_send_reply(void *sock, mkt_zmq_message *p)
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
    free(text);
    return ok ? 0 : -1;
}

void mkt_zmq_message_free(mkt_zmq_message *p)
{
    for (int i = 0; i < p->nenvelope; i++)
        zmq_msg_close(&p->envelope[i]);
    for (int64_t i = 0; i < p->msg.n; i++)
        json_decref(p->replies[i]);
    free(p->replies);
    mkt_proto_message_free(&p->msg);
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
