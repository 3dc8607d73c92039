/* protocol.c — parsing and validation of gateway requests (see protocol.h
 * and docs/protocol.md).
 *
 * Owns: the rules a request must satisfy before the gateway acts on it —
 * message size, JSON syntax (jansson, duplicate keys refused), the shape of
 * each op (required and allowed fields, their JSON types, ranges of k,
 * string lengths, no control characters) — and the error objects.
 * Must not: touch sockets, MPI or models; allocate anything the caller
 * cannot free with mkt_proto_message_free. */
#include "protocol.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const op_names[MKT_OP_COUNT] = {
    [MKT_OP_NONE] = "", [MKT_OP_PING] = "ping", [MKT_OP_STATS] = "stats",
    [MKT_OP_UPLIFT] = "uplift", [MKT_OP_SEGMENT] = "segment", [MKT_OP_SCORE] = "score",
    [MKT_OP_RECOMMEND] = "recommend", [MKT_OP_SIMILAR] = "similar", [MKT_OP_SHUTDOWN] = "shutdown",
    [MKT_OP_PROPENSITY] = "propensity", [MKT_OP_STRATEGY] = "strategy", [MKT_OP_RELOAD] = "reload"};

/* Fields each op accepts besides "op" and "id"; a NULL-terminated list. */
static const char *const *op_fields(mkt_op op)
{
    static const char *const none[] = {NULL};
    static const char *const user[] = {"user", NULL};
    static const char *const user_item[] = {"user", "item", NULL};
    static const char *const user_k[] = {"user", "k", NULL};
    static const char *const item_k[] = {"item", "k", NULL};
    static const char *const token[] = {"token", NULL};
    static const char *const reload[] = {"token", "models", "strategy", NULL};
    switch (op) {
    case MKT_OP_UPLIFT:
    case MKT_OP_SEGMENT:
    case MKT_OP_PROPENSITY:
    case MKT_OP_STRATEGY: return user;
    case MKT_OP_RELOAD: return reload;
    case MKT_OP_SCORE: return user_item;
    case MKT_OP_RECOMMEND: return user_k;
    case MKT_OP_SIMILAR: return item_k;
    case MKT_OP_SHUTDOWN: return token;
    default: return none;
    }
}

const char *mkt_op_name(mkt_op op)
{
    return op > MKT_OP_NONE && op < MKT_OP_COUNT ? op_names[op] : "";
}

mkt_op mkt_op_from_name(const char *name)
{
    for (int i = 1; i < MKT_OP_COUNT; i++)
        if (!strcmp(name, op_names[i]))
            return (mkt_op)i;
    return MKT_OP_NONE;
}

int mkt_proto_has_control(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return 1;
    return 0;
}

int mkt_proto_token_equal(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned diff = (unsigned)(la != lb);
    for (size_t i = 0; i < la; i++)
        diff |= (unsigned)(unsigned char)a[i] ^ (unsigned)(unsigned char)(lb ? b[i % lb] : 0);
    return diff == 0;
}

json_t *mkt_proto_error(json_t *id, const char *code, const char *message)
{
    json_t *e = json_pack("{s:s, s:s}", "code", code, "message", message);
    json_t *r = json_object();
    json_object_set(r, "id", id ? id : json_null());
    json_object_set_new(r, "error", e);
    return r;
}

json_t *mkt_proto_reply(json_t *id, mkt_op op)
{
    json_t *r = json_object();
    json_object_set(r, "id", id ? id : json_null());
    json_object_set_new(r, "op", json_string(mkt_op_name(op)));
    return r;
}

static void refuse(mkt_request *r, const char *code, const char *fmt, const char *arg)
{
    r->op = MKT_OP_NONE;
    r->code = code;
    snprintf(r->message, sizeof r->message, fmt, arg);
}

/* A user/item/token/id string: non-empty, at most MKT_PROTO_MAX_STRING bytes, no control characters. */
static const char *check_string(const char *s)
{
    size_t n = strlen(s);
    if (n == 0)
        return "must not be empty";
    if (n > MKT_PROTO_MAX_STRING)
        return "is longer than 256 bytes";
    if (mkt_proto_has_control(s))
        return "contains control characters";
    return NULL;
}

/* Read a user or item field: a string, or an integer (taken as its decimal text). */
static int get_id_field(json_t *obj, const char *field, mkt_request *r, char **out)
{
    json_t *v = json_object_get(obj, field);
    if (!v) {
        refuse(r, "missing_field", "field '%s' is required", field);
        return -1;
    }
    char buf[32];
    const char *s;
    if (json_is_string(v)) {
        s = json_string_value(v);
    } else if (json_is_integer(v)) {
        snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        s = buf;
    } else {
        refuse(r, "bad_type", "field '%s' must be a string (or an integer id)", field);
        return -1;
    }
    const char *why = check_string(s);
    if (why) {
        char msg[96];
        snprintf(msg, sizeof msg, "field '%s' %s", field, why);
        refuse(r, "bad_value", "%s", msg);
        return -1;
    }
    *out = strdup(s);
    return 0;
}

/* An optional file name (reload): a string of 1..MKT_PROTO_MAX_PATH bytes, no control characters. */
static int get_path_field(json_t *obj, const char *field, mkt_request *r, char **out)
{
    json_t *v = json_object_get(obj, field);
    if (!v)
        return 0;
    if (!json_is_string(v)) {
        refuse(r, "bad_type", "field '%s' must be a string (a file name)", field);
        return -1;
    }
    const char *s = json_string_value(v);
    if (!*s || strlen(s) > MKT_PROTO_MAX_PATH || mkt_proto_has_control(s) || strlen(s) != json_string_length(v)) {
        refuse(r, "bad_value", "field '%s' must be a file name of 1 to 1024 printable bytes", field);
        return -1;
    }
    *out = strdup(s);
    return 0;
}

static void parse_request(json_t *obj, const mkt_proto_limits *lim, mkt_request *r)
{
    memset(r, 0, sizeof *r);
    r->id = json_null();
    r->k = MKT_PROTO_DEFAULT_K;
    if (!json_is_object(obj)) {
        refuse(r, "bad_request", "%s", "a request must be a JSON object");
        return;
    }
    json_t *id = json_object_get(obj, "id");
    if (id) {
        if (json_is_string(id) && check_string(json_string_value(id)) == NULL)
            r->id = json_incref(id);
        else if (json_is_integer(id))
            r->id = json_incref(id);
        else if (!json_is_null(id)) {
            refuse(r, "bad_type", "%s",
                   "field 'id' must be a string of 1 to 256 printable bytes, an integer or null");
            return;
        }
    }
    json_t *opv = json_object_get(obj, "op");
    if (!opv) {
        refuse(r, "missing_field", "%s", "field 'op' is required");
        return;
    }
    if (!json_is_string(opv)) {
        refuse(r, "bad_type", "%s", "field 'op' must be a string");
        return;
    }
    mkt_op op = mkt_op_from_name(json_string_value(opv));
    if (op == MKT_OP_NONE) {
        const char *name = json_string_value(opv);
        if (check_string(name) || strlen(name) > 32)
            refuse(r, "unknown_op", "%s", "unknown op (see docs/protocol.md)");
        else
            refuse(r, "unknown_op", "unknown op '%s' (see docs/protocol.md)", name);
        return;
    }
    /* Unknown fields are refused: a misspelt "usr" must not silently mean "no user". */
    const char *key;
    json_t *val;
    json_object_foreach(obj, key, val) {
        if (!strcmp(key, "op") || !strcmp(key, "id"))
            continue;
        int known = 0;
        for (const char *const *f = op_fields(op); *f; f++)
            known |= !strcmp(key, *f);
        if (!known) {
            if (check_string(key) || strlen(key) > 32)
                refuse(r, "unknown_field", "%s", "unknown field for this op");
            else
                refuse(r, "unknown_field", "unknown field '%s' for this op", key);
            return;
        }
    }
    if ((op == MKT_OP_UPLIFT || op == MKT_OP_SEGMENT || op == MKT_OP_SCORE || op == MKT_OP_RECOMMEND ||
         op == MKT_OP_PROPENSITY || op == MKT_OP_STRATEGY) &&
        get_id_field(obj, "user", r, &r->user))
        return;
    if ((op == MKT_OP_SCORE || op == MKT_OP_SIMILAR) && get_id_field(obj, "item", r, &r->item))
        return;
    json_t *k = json_object_get(obj, "k");
    if (k) {
        if (!json_is_integer(k)) {
            refuse(r, "bad_type", "%s", "field 'k' must be an integer");
            return;
        }
        if (json_integer_value(k) < 1 || json_integer_value(k) > lim->max_k) {
            char msg[64];
            snprintf(msg, sizeof msg, "field 'k' must be in 1..%" PRId64, lim->max_k);
            refuse(r, "bad_value", "%s", msg);
            return;
        }
        r->k = json_integer_value(k);
    }
    json_t *tok = json_object_get(obj, "token");
    if (tok) {
        if (!json_is_string(tok) || check_string(json_string_value(tok))) {
            refuse(r, "bad_type", "%s", "field 'token' must be a string of 1 to 256 printable bytes");
            return;
        }
        r->token = strdup(json_string_value(tok));
    }
    if (get_path_field(obj, "models", r, &r->models) || get_path_field(obj, "strategy", r, &r->strategy))
        return;
    r->op = op;
}

static void one_refusal(mkt_proto_message *out, const char *code, const char *message)
{
    out->is_batch = 0;
    out->n = 1;
    out->requests = calloc(1, sizeof *out->requests);
    if (!out->requests)
        abort();
    out->requests[0].id = json_null();
    refuse(&out->requests[0], code, "%s", message);
}

void mkt_proto_refuse(mkt_proto_message *out, const char *code, const char *message)
{
    memset(out, 0, sizeof *out);
    one_refusal(out, code, message);
}

void mkt_proto_parse(const char *bytes, size_t len, const mkt_proto_limits *lim, mkt_proto_message *out)
{
    memset(out, 0, sizeof *out);
    char msg[160];
    if (len == 0) {
        one_refusal(out, "empty", "empty message");
        return;
    }
    if (len > lim->max_message) {
        snprintf(msg, sizeof msg, "message of %zu bytes is larger than the limit of %zu bytes", len,
                 lim->max_message);
        one_refusal(out, "too_large", msg);
        return;
    }
    json_error_t err;
    json_t *root = json_loadb(bytes, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &err);
    if (!root) {
        /* jansson's text may quote the offending bytes: keep only printable ASCII. */
        char text[sizeof err.text];
        size_t i = 0;
        for (; err.text[i] && i + 1 < sizeof text; i++)
            text[i] = (err.text[i] >= 0x20 && err.text[i] < 0x7f) ? err.text[i] : '?';
        text[i] = 0;
        snprintf(msg, sizeof msg, "invalid JSON at byte %d: %.100s", err.position, text);
        one_refusal(out, "bad_json", msg);
        return;
    }
    if (json_is_array(root)) {
        size_t n = json_array_size(root);
        if (n == 0) {
            one_refusal(out, "bad_request", "an array message must hold at least one request");
        } else if ((int64_t)n > lim->max_batch) {
            snprintf(msg, sizeof msg, "batch of %zu requests is larger than the limit of %" PRId64, n,
                     lim->max_batch);
            one_refusal(out, "batch_too_large", msg);
        } else {
            out->is_batch = 1;
            out->n = (int64_t)n;
            out->requests = calloc(n, sizeof *out->requests);
            if (!out->requests)
                abort();
            for (size_t i = 0; i < n; i++)
                parse_request(json_array_get(root, i), lim, &out->requests[i]);
        }
    } else {
        out->n = 1;
        out->requests = calloc(1, sizeof *out->requests);
        if (!out->requests)
            abort();
        parse_request(root, lim, &out->requests[0]);
    }
    json_decref(root);
}

void mkt_proto_message_free(mkt_proto_message *m)
{
    for (int64_t i = 0; i < m->n; i++) {
        json_decref(m->requests[i].id);
        free(m->requests[i].user);
        free(m->requests[i].item);
        free(m->requests[i].token);
        free(m->requests[i].models);
        free(m->requests[i].strategy);
    }
    free(m->requests);
    memset(m, 0, sizeof *m);
}
