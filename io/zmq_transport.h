/* zmq_transport.h — the ZeroMQ transport of `mkt serve` (rank 0) and the
 * `mkt query` client (docs/protocol.md): the ROUTER socket, CURVE keys and
 * the ZAP handler, receiving a client message within limits and sending
 * its reply.  The serving logic on top is stages/gateway.c.
 * Must not: know about models, MPI or what an op may do. */
#ifndef MKT_ZMQ_TRANSPORT_H
#define MKT_ZMQ_TRANSPORT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <zmq.h>

#include "protocol.h"

/* CURVE configuration of the server: its key pair and the listed client
 * keys with their roles. */
typedef struct {
    int on;
    char secret[41], public_key[41];
    uint8_t (*allowed)[32];
    int *operator_key; /* per allowed key: from --curve-operators */
    int64_t nallowed;
} mkt_zmq_curve;

/* The first line of a file that must not be readable by group or others
 * (private_file) or any file (!private_file): 1 to MKT_PROTO_MAX_STRING
 * printable bytes, trailing blanks removed.  NULL with a message in why
 * ("serve: --OPTION PATH ..."); the caller frees the line. */
char *mkt_zmq_read_line_file(const char *option, const char *path, int private_file, char *why, size_t whylen);

/* The server's secret key file (private, Z85) and the key lists: clients
 * (read-only) and operators (may be NULL, not both), one Z85 public key per
 * line, optionally followed by blanks and a comment; blank lines are
 * skipped, and lines starting with # that are not a key.  A key in both
 * lists is an operator's.  c must be zeroed; 0, or -1 with why. */
int mkt_zmq_curve_setup(const char *secret_key, const char *clients, const char *operators, mkt_zmq_curve *c,
                        char *why, size_t whylen);
void mkt_zmq_curve_free(mkt_zmq_curve *c);

/* The server side: a context, the ROUTER socket and, with CURVE, the ZAP socket. */
typedef struct {
    void *ctx, *sock, *zap;
    char endpoint[512]; /* the bound endpoint (a port of 0 or * resolved) */
} mkt_zmq_server;

/* Create the sockets (linger 0, send and receive high-water marks hwm,
 * ZMQ_MAXMSGSIZE max_frame; CURVE server with the ZAP handler when curve->on)
 * and bind.  A bind that fails leaves a message in why; other ZeroMQ
 * failures end the job.  Warns when an unencrypted endpoint is reachable
 * from other hosts.  s must be zeroed; close it with mkt_zmq_close either way. */
void mkt_zmq_open(mkt_zmq_server *s, const char *bind, int64_t hwm, int64_t max_frame, const mkt_zmq_curve *curve,
                  char *why, size_t whylen);
void mkt_zmq_close(mkt_zmq_server *s);

/* Wait up to timeout_ms (0: do not wait) for input on sock or zap (NULL:
 * none); a signal ends the wait early.  Sets whether requests and ZAP
 * requests are waiting; returns zmq_poll's count. */
int mkt_zmq_poll(void *sock, void *zap, long timeout_ms, int *requests, int *zap_requests);

/* Answer one ZAP request, if one is waiting: 200 with User-Id "operator" or
 * "client" for a listed CURVE key, else 400 (the first ten refusals are
 * logged; *denied counts them). */
void mkt_zmq_zap_answer(void *zap, const mkt_zmq_curve *c, int64_t *denied);

/* One client message in flight: its envelope, its requests and their replies. */
typedef struct {
    zmq_msg_t envelope[2];
    int nenvelope;
    int is_operator; /* arrived on a CURVE connection with an operator key */
    mkt_proto_message msg;
    json_t **replies; /* msg.n slots, filled by the caller */
    double received;  /* mkt_now() when it was read */
} mkt_zmq_message;

/* Receive one whole message (all its frames) without waiting; the body is
 * parsed by mkt_proto_parse within lim (more than one body frame: a
 * "bad_frames" refusal).  Returns 0, or -1 when nothing is waiting. */
int mkt_zmq_receive(void *sock, mkt_zmq_message *p, const mkt_proto_limits *lim);
/* The ROUTER routing id of the connection the message came on. */
const uint8_t *mkt_zmq_peer_id(const mkt_zmq_message *p, size_t *len);
/* Send the replies (an array for a batch, else the one object) with the
 * message's envelope, never blocking: 0, or -1 when the reply was dropped. */
int mkt_zmq_send_reply(void *sock, mkt_zmq_message *p);
void mkt_zmq_message_free(mkt_zmq_message *p);

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
