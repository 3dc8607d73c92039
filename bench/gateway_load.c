/* gateway_load.c — load generator for `mkt serve` (bench/gateway.sh).
 *
 * C concurrent DEALER clients, one thread each, every client with one
 * message in flight (closed loop): send, wait for the reply, record the
 * round-trip time.  A message is one request or a JSON array of B requests
 * (batched).  Prints throughput in requests per second and the p50 / p99 /
 * p99.9 round-trip latency of a message.  With --echo, the same load is sent
 * to a bare ZeroMQ ROUTER echo server on loopback TCP started in this
 * process (the floor: what ZeroMQ and the client cost without any work).
 *
 *   gateway_load --connect EP --ids FILE --op score|recommend [--k 10]
 *                [--clients 4] [--batch 1] [--seconds 5] [--label NAME]
 *   gateway_load --echo --op score --ids FILE ...
 *
 * FILE holds "user item" pairs, one per line (external ids); the clients
 * cycle through them. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

typedef struct {
    char user[128], item[128];
} pair;

typedef struct {
    const char *endpoint, *op;
    void *ctx;
    const pair *pairs;
    int npairs, batch, k, id;
    double seconds;
    double *lat;      /* ms per message */
    int64_t nlat, cap, errors;
} client;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int build(const client *c, int64_t seq, char *buf, size_t len)
{
    size_t at = 0;
    if (c->batch > 1)
        at += (size_t)snprintf(buf + at, len - at, "[");
    for (int b = 0; b < c->batch; b++) {
        const pair *p = &c->pairs[(seq * c->batch + b + (int64_t)c->id * 7919) % c->npairs];
        if (!strcmp(c->op, "score"))
            at += (size_t)snprintf(buf + at, len - at, "%s{\"op\":\"score\",\"user\":\"%s\",\"item\":\"%s\"}",
                                   b ? "," : "", p->user, p->item);
        else
            at += (size_t)snprintf(buf + at, len - at, "%s{\"op\":\"recommend\",\"user\":\"%s\",\"k\":%d}",
                                   b ? "," : "", p->user, c->k);
        if (at >= len - 256)
            break;
    }
    if (c->batch > 1)
        at += (size_t)snprintf(buf + at, len - at, "]");
    return (int)at;
}

static void *run_client(void *arg)
{
    client *c = arg;
    void *s = zmq_socket(c->ctx, ZMQ_DEALER);
    int linger = 0, tmo = 10000;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &tmo, sizeof tmo);
    if (zmq_connect(s, c->endpoint) != 0) {
        fprintf(stderr, "gateway_load: connect %s: %s\n", c->endpoint, zmq_strerror(zmq_errno()));
        exit(1);
    }
    size_t len = (size_t)c->batch * 400 + 64;
    char *buf = malloc(len);
    char *reply = malloc(1 << 20);
    double end = now() + c->seconds;
    for (int64_t seq = 0; now() < end; seq++) {
        int n = build(c, seq, buf, len);
        double t0 = now();
        if (zmq_send(s, buf, (size_t)n, 0) < 0)
            break;
        int r = zmq_recv(s, reply, 1 << 20, 0);
        double ms = (now() - t0) * 1e3;
        if (r < 0) {
            fprintf(stderr, "gateway_load: no reply within 10 s\n");
            c->errors++;
            break;
        }
        if (r > 0 && r < (1 << 20) && memmem(reply, (size_t)r, "\"error\"", 7))
            c->errors++;
        if (c->nlat == c->cap) {
            c->cap = c->cap ? 2 * c->cap : 4096;
            c->lat = realloc(c->lat, (size_t)c->cap * sizeof *c->lat);
        }
        c->lat[c->nlat++] = ms;
    }
    free(buf);
    free(reply);
    zmq_close(s);
    return NULL;
}

/* The floor: a ROUTER that sends every message straight back. */
static volatile int echo_stop;
static void *echo_server(void *sock)
{
    zmq_pollitem_t it = {sock, 0, ZMQ_POLLIN, 0};
    while (!echo_stop) {
        if (zmq_poll(&it, 1, 50) <= 0)
            continue;
        for (;;) {
            zmq_msg_t id, body;
            zmq_msg_init(&id);
            if (zmq_msg_recv(&id, sock, ZMQ_DONTWAIT) < 0) {
                zmq_msg_close(&id);
                break;
            }
            zmq_msg_init(&body);
            zmq_msg_recv(&body, sock, 0);
            zmq_msg_send(&id, sock, ZMQ_SNDMORE);
            zmq_msg_send(&body, sock, 0);
        }
    }
    return NULL;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    const char *endpoint = NULL, *ids = NULL, *op = "score", *label = NULL;
    int clients = 4, batch = 1, k = 10, echo = 0;
    double seconds = 5;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--echo")) {
            echo = 1;
            continue;
        }
        if (!v) {
            fprintf(stderr, "gateway_load: %s needs a value\n", a);
            return 2;
        }
        i++;
        if (!strcmp(a, "--connect")) endpoint = v;
        else if (!strcmp(a, "--ids")) ids = v;
        else if (!strcmp(a, "--op")) op = v;
        else if (!strcmp(a, "--label")) label = v;
        else if (!strcmp(a, "--clients")) clients = atoi(v);
        else if (!strcmp(a, "--batch")) batch = atoi(v);
        else if (!strcmp(a, "--k")) k = atoi(v);
        else if (!strcmp(a, "--seconds")) seconds = atof(v);
        else {
            fprintf(stderr, "gateway_load: unknown option %s\n", a);
            return 2;
        }
    }
    if ((!endpoint && !echo) || !ids || clients < 1 || batch < 1 || (strcmp(op, "score") && strcmp(op, "recommend"))) {
        fprintf(stderr, "usage: gateway_load (--connect EP | --echo) --ids FILE --op score|recommend [--k K] "
                        "[--clients C] [--batch B] [--seconds S] [--label NAME]\n");
        return 2;
    }
    FILE *f = fopen(ids, "r");
    if (!f) {
        perror(ids);
        return 1;
    }
    int npairs = 0, cap = 0;
    pair *pairs = NULL;
    char line[300];
    while (fgets(line, sizeof line, f)) {
        if (npairs == cap) {
            cap = cap ? 2 * cap : 1024;
            pairs = realloc(pairs, (size_t)cap * sizeof *pairs);
        }
        if (sscanf(line, "%127s %127s", pairs[npairs].user, pairs[npairs].item) == 2)
            npairs++;
    }
    fclose(f);
    if (npairs == 0) {
        fprintf(stderr, "gateway_load: %s holds no \"user item\" lines\n", ids);
        return 1;
    }
    void *ctx = zmq_ctx_new();
    void *echo_sock = NULL;
    pthread_t echo_thread;
    char ep[256];
    if (echo) {
        echo_sock = zmq_socket(ctx, ZMQ_ROUTER);
        if (zmq_bind(echo_sock, "tcp://127.0.0.1:*") != 0) {
            fprintf(stderr, "gateway_load: echo bind: %s\n", zmq_strerror(zmq_errno()));
            return 1;
        }
        size_t len = sizeof ep;
        zmq_getsockopt(echo_sock, ZMQ_LAST_ENDPOINT, ep, &len);
        endpoint = ep;
        pthread_create(&echo_thread, NULL, echo_server, echo_sock);
    }
    client *c = calloc((size_t)clients, sizeof *c);
    pthread_t *th = calloc((size_t)clients, sizeof *th);
    double t0 = now();
    for (int i = 0; i < clients; i++) {
        c[i] = (client){endpoint, op, ctx, pairs, npairs, batch, k, i, seconds, NULL, 0, 0, 0};
        pthread_create(&th[i], NULL, run_client, &c[i]);
    }
    int64_t total = 0, errors = 0;
    for (int i = 0; i < clients; i++) {
        pthread_join(th[i], NULL);
        total += c[i].nlat;
        errors += c[i].errors;
    }
    double wall = now() - t0;
    double *all = malloc((size_t)(total > 0 ? total : 1) * sizeof *all);
    int64_t at = 0;
    for (int i = 0; i < clients; i++) {
        memcpy(all + at, c[i].lat, (size_t)c[i].nlat * sizeof *all);
        at += c[i].nlat;
        free(c[i].lat);
    }
    qsort(all, (size_t)total, sizeof *all, cmp);
#define PCT(q) (total ? all[(int64_t)((q) * (double)(total - 1) + 0.5)] : 0.0)
    printf("%-28s %-9s clients=%-2d batch=%-3d %9.0f req/s %8.0f msg/s  p50 %7.3f ms  p99 %7.3f ms  p99.9 %7.3f ms"
           "  errors %lld\n",
           label ? label : (echo ? "zmq echo (floor)" : "mkt serve"), op, clients, batch,
           (double)total * batch / wall, (double)total / wall, PCT(0.5), PCT(0.99), PCT(0.999), (long long)errors);
    free(all);
    free(c);
    free(th);
    free(pairs);
    if (echo) {
        echo_stop = 1;
        pthread_join(echo_thread, NULL);
        zmq_close(echo_sock);
    }
    zmq_ctx_term(ctx);
    return errors ? 1 : 0;
}
