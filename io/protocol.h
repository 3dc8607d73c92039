/* protocol.h — the gateway's JSON request protocol: parsing, validation and
 * error replies (docs/protocol.md).
 *
 * Owns: turning the bytes of one client message into validated requests
 * (one object, or an array of objects = a batch), and building the error
 * objects the gateway replies with.  Pure functions of their arguments: no
 * sockets, no MPI, no model access, so every rule here is unit-tested
 * (tests/unit/test_protocol.c).  Must not: look ids up in the store (the
 * gateway does that), or trust anything in the message (sizes, types,
 * depth, encoding are all checked here). */
#ifndef MKT_PROTOCOL_H
#define MKT_PROTOCOL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    MKT_OP_NONE = 0, /* request failed validation */
    MKT_OP_PING,
    MKT_OP_STATS,
    MKT_OP_UPLIFT,
    MKT_OP_SEGMENT,
    MKT_OP_SCORE,
    MKT_OP_RECOMMEND,
    MKT_OP_SIMILAR,
    MKT_OP_SHUTDOWN,
    MKT_OP_PROPENSITY,
    MKT_OP_STRATEGY,
    MKT_OP_RELOAD,
    MKT_OP_COUNT
} mkt_op;

/* Longest accepted id, user, item or token string, in bytes. */
#define MKT_PROTO_MAX_STRING 256
/* Longest accepted file name (reload's models and strategy), in bytes. */
#define MKT_PROTO_MAX_PATH 1024
#define MKT_PROTO_DEFAULT_K 10

typedef struct {
    size_t max_message; /* bytes; larger messages are refused unparsed */
    int64_t max_k;      /* recommend/similar k in 1..max_k */
    int64_t max_batch;  /* requests in one array message */
} mkt_proto_limits;

/* One request.  When op == MKT_OP_NONE, code/message say why it was refused.
 * Strings are owned by the request (mkt_proto_message_free frees them). */
typedef struct {
    mkt_op op;
    json_t *id;         /* the client's id (string, integer or null), echoed; never NULL */
    char *user, *item;  /* as sent (integers are turned into decimal text) */
    char *token;        /* operator token (shutdown, reload), NULL when absent */
    char *models, *strategy; /* reload: files to load, NULL when absent */
    int64_t k;
    const char *code;   /* error code (static string) when op == MKT_OP_NONE */
    char message[160];
} mkt_request;

typedef struct {
    int is_batch;       /* the message was a JSON array: reply with an array */
    int64_t n;
    mkt_request *requests;
} mkt_proto_message;

/* Parse and validate one message of len bytes (not NUL-terminated).  Always
 * fills *out with at least one request: a message that cannot be parsed at
 * all (too large, not JSON, empty, an empty or over-long array) yields one
 * refused request with id null. */
void mkt_proto_parse(const char *bytes, size_t len, const mkt_proto_limits *limits, mkt_proto_message *out);
void mkt_proto_message_free(mkt_proto_message *m);

/* A request refused before parsing (bad frames, too large...): fills *out
 * with one refused request with id null. */
void mkt_proto_refuse(mkt_proto_message *out, const char *code, const char *message);

/* {"id": id, "error": {"code": code, "message": message}}; id may be NULL (null). */
json_t *mkt_proto_error(json_t *id, const char *code, const char *message);
/* {"id": id, "op": name} — the start of every successful reply. */
json_t *mkt_proto_reply(json_t *id, mkt_op op);

const char *mkt_op_name(mkt_op op);
mkt_op mkt_op_from_name(const char *name); /* MKT_OP_NONE when unknown */

/* 1 if s has a control character (< 0x20 or 0x7f), else 0. */
int mkt_proto_has_control(const char *s);

/* Constant-time comparison of two NUL-terminated secrets; 1 when equal. */
int mkt_proto_token_equal(const char *a, const char *b);

#endif
