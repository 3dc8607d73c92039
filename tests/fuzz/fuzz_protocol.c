/* fuzz_protocol.c — libFuzzer target for the gateway's request parser and
 * validator (io/protocol.c): any bytes must give a well-formed parse result
 * (at least one request; every refused request has a code and a message;
 * every accepted one has the fields its op needs, within the limits), and
 * the error and reply builders must accept what the parser returns.
 * Built and run by tests/fuzz/run.sh (clang -fsanitize=fuzzer,address,undefined). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocol.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* the first byte picks the limits, so small limits are explored too */
    mkt_proto_limits lim = {65536, 1000, 256};
    if (size > 0 && (data[0] & 0x80)) {
        lim.max_message = 64 + (data[0] & 0x3f) * 16;
        lim.max_k = 1 + (data[0] & 0x07);
        lim.max_batch = 1 + ((data[0] >> 3) & 0x07);
    }
    mkt_proto_message m;
    mkt_proto_parse((const char *)data, size, &lim, &m);
    if (m.n < 1 || !m.requests || (!m.is_batch && m.n != 1) || m.n > lim.max_batch)
        abort();
    for (int64_t i = 0; i < m.n; i++) {
        const mkt_request *r = &m.requests[i];
        if (!r->id)
            abort();
        json_t *out;
        if (r->op == MKT_OP_NONE) {
            if (!r->code || !*r->code || !r->message[0])
                abort();
            out = mkt_proto_error(r->id, r->code, r->message);
        } else {
            if (r->op >= MKT_OP_COUNT || r->k < 1 || r->k > lim.max_k)
                abort();
            const char *ids[] = {r->user, r->item, r->token};
            for (int j = 0; j < 3; j++)
                if (ids[j] && (!*ids[j] || strlen(ids[j]) > MKT_PROTO_MAX_STRING || mkt_proto_has_control(ids[j])))
                    abort();
            if ((r->op == MKT_OP_SCORE && (!r->user || !r->item)) || (r->op == MKT_OP_SIMILAR && !r->item) ||
                ((r->op == MKT_OP_RECOMMEND || r->op == MKT_OP_PROPENSITY || r->op == MKT_OP_STRATEGY ||
                  r->op == MKT_OP_UPLIFT || r->op == MKT_OP_SEGMENT) && !r->user))
                abort();
            if (mkt_op_from_name(mkt_op_name(r->op)) != r->op)
                abort();
            out = mkt_proto_reply(r->id, r->op);
        }
        char *text = json_dumps(out, JSON_COMPACT);
        if (!text)
            abort();
        free(text);
        json_decref(out);
    }
    mkt_proto_message_free(&m);
    return 0;
}
