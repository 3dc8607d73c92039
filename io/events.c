/* events.c — reading the event log's columns (see events.h). */
#include "events.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "h5store.h"
#include "iocheck.h"
#include "schema.h"

const char *mkt_events_group(mkt_event_side side)
{
    return side == MKT_BY_ITEM ? MKT_EVENTS_BY_ITEM : MKT_EVENTS_BY_USER;
}

int64_t *mkt_events_indptr(hid_t f, mkt_event_side side, int64_t begin, int64_t n)
{
    int64_t *p = mkt_xmalloc(sizeof(int64_t) * (size_t)(n + 1));
    mkt_h5_read_rows(f, side == MKT_BY_ITEM ? MKT_EVENTS_BY_ITEM_INDPTR : MKT_EVENTS_BY_USER_INDPTR,
                     H5T_NATIVE_INT64, begin, n + 1, p);
    return p;
}

static void grow(void **p, int64_t n, size_t size)
{
    *p = mkt_xrealloc(*p, (size_t)(n > 0 ? n : 1) * size);
}

/* The columns: bit, dataset name, field of mkt_event_cols, element size and
 * HDF5 type (0: int32, 1: int64, 2: double). */
static const struct {
    unsigned bit;
    const char *name;
    size_t field, size;
    int kind;
} col[] = {
    {MKT_COL_USER, "user", offsetof(mkt_event_cols, user), sizeof(int32_t), 0},
    {MKT_COL_ITEM, "item", offsetof(mkt_event_cols, item), sizeof(int32_t), 0},
    {MKT_COL_TYPE, "type", offsetof(mkt_event_cols, type), sizeof(int32_t), 0},
    {MKT_COL_QTY, "qty", offsetof(mkt_event_cols, qty), sizeof(int32_t), 0},
    {MKT_COL_TS, "ts", offsetof(mkt_event_cols, ts), sizeof(int64_t), 1},
    {MKT_COL_ORDER, "order", offsetof(mkt_event_cols, order), sizeof(int64_t), 1},
    {MKT_COL_VALUE, "value", offsetof(mkt_event_cols, value), sizeof(double), 2},
};
enum { NCOLS = sizeof col / sizeof col[0] };

static void read_col(hid_t f, mkt_event_side side, size_t k, int64_t e0, int64_t n, void *buf)
{
    char path[64];
    snprintf(path, sizeof path, "%s/%s", mkt_events_group(side), col[k].name);
    hid_t t = col[k].kind == 2 ? H5T_NATIVE_DOUBLE : col[k].kind == 1 ? H5T_NATIVE_INT64 : H5T_NATIVE_INT32;
    mkt_h5_read_rows(f, path, t, e0, n, buf);
}

void mkt_events_read_column(hid_t f, mkt_event_side side, unsigned bit, int64_t e0, int64_t n, void *buf)
{
    for (size_t k = 0; k < NCOLS; k++)
        if (col[k].bit == bit) {
            read_col(f, side, k, e0, n, buf);
            return;
        }
    mkt_fail("events: %#x is not one event column", bit);
}

void mkt_events_read(hid_t f, mkt_event_side side, unsigned cols, int64_t e0, int64_t n, mkt_event_cols *c)
{
    int grown = n > c->cap;
    for (size_t k = 0; k < NCOLS; k++) {
        void **buf = (void **)((char *)c + col[k].field);
        if (!(cols & col[k].bit) && !(grown && *buf))
            continue;
        if (grown || !*buf)
            grow(buf, grown ? n : c->cap, col[k].size);
        if (!(cols & col[k].bit) || n <= 0)
            continue;
        read_col(f, side, k, e0, n, *buf);
    }
    if (grown)
        c->cap = n;
}

void mkt_event_cols_free(mkt_event_cols *c)
{
    free(c->user);
    free(c->item);
    free(c->type);
    free(c->qty);
    free(c->ts);
    free(c->order);
    free(c->value);
    memset(c, 0, sizeof *c);
}
