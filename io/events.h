/* events.h — reading the event log of a store: /events/by_user (events
 * grouped by user, on the user's owner) and /events/by_item (grouped by
 * item), each a CSR group of row pointers (indptr) and one dataset per
 * column (docs/store.md).  Every stage reads events through here, choosing
 * its columns; the writer is eventstore.c.  Independent reads (no
 * collective), row ranges the caller chose; errors end through iocheck.h. */
#ifndef MKT_EVENTS_H
#define MKT_EVENTS_H

#include <hdf5.h>
#include <stdint.h>

/* The columns, as bits of a mask. */
enum {
    MKT_COL_USER = 1 << 0,
    MKT_COL_ITEM = 1 << 1,
    MKT_COL_TYPE = 1 << 2,
    MKT_COL_QTY = 1 << 3,
    MKT_COL_TS = 1 << 4,
    MKT_COL_ORDER = 1 << 5,
    MKT_COL_VALUE = 1 << 6,
    MKT_COL_ALL = (1 << 7) - 1
};

typedef enum { MKT_BY_USER, MKT_BY_ITEM } mkt_event_side;

/* Column buffers for a run of event rows, grown by mkt_events_read; a
 * column not asked for keeps whatever it held (NULL at first). */
typedef struct {
    int64_t cap;
    int32_t *user, *item, *type, *qty;
    int64_t *ts, *order;
    double *value;
} mkt_event_cols;

/* The group's path: /events/by_user or /events/by_item. */
const char *mkt_events_group(mkt_event_side side);
/* Row pointers of rows [begin, begin + n]: n + 1 values, malloc'd. */
int64_t *mkt_events_indptr(hid_t f, mkt_event_side side, int64_t begin, int64_t n);
/* Event rows [e0, e0 + n) of the columns in `cols` into c (n may be 0). */
void mkt_events_read(hid_t f, mkt_event_side side, unsigned cols, int64_t e0, int64_t n, mkt_event_cols *c);
/* Event rows [e0, e0 + n) of one column (a single MKT_COL_* bit) into buf,
 * n values of the column's type (int32; int64 for ts and order; double
 * for value). */
void mkt_events_read_column(hid_t f, mkt_event_side side, unsigned col, int64_t e0, int64_t n, void *buf);
void mkt_event_cols_free(mkt_event_cols *c);

#endif
