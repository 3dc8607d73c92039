/* mkt_types.h — the row types that every stage shares.
 *
 * An event is one behaviour of one user on one item.  Users and items are
 * referred to by dense indices (0..n-1), assigned at ingest from the sorted
 * external ids, so an index never depends on the number of ranks.  `order` is
 * a global, rank-independent tie-break (source line number at ingest, a
 * per-user sequence number in `mkt gen`), so sorting events by
 * (user, ts, order) or (item, ts, order) gives the same order on any number of
 * ranks.  This header holds no code and pulls in nothing but <stdint.h>. */
#ifndef MKT_TYPES_H
#define MKT_TYPES_H

#include <stdint.h>

typedef enum {
    MKT_EV_VIEW = 0,
    MKT_EV_CLICK = 1,
    MKT_EV_CART = 2,
    MKT_EV_FAV = 3,
    MKT_EV_PURCHASE = 4,
    MKT_EV_RATING = 5,
    MKT_EV_NTYPES = 6
} mkt_event_type;

/* Name of an event type ("view", ...) or NULL; and the reverse (-1 if unknown,
 * case-insensitive). */
const char *mkt_event_type_name(int type);
int mkt_event_type_parse(const char *name);

typedef struct {
    int64_t ts;    /* seconds since 1970-01-01 UTC */
    int64_t order; /* global tie-break, see above */
    double value;  /* rating for MKT_EV_RATING, amount paid for purchases, else 0 */
    int32_t user;  /* dense user index */
    int32_t item;  /* dense item index */
    int32_t qty;   /* quantity (purchases, carts), else 1 */
    int32_t type;  /* mkt_event_type */
} mkt_event;

/* One row of a randomized campaign log. treatment 0 is the control group. */
typedef struct {
    int64_t order;
    double spend;
    int32_t user;
    int32_t treatment;
    int32_t visit;
    int32_t conversion;
} mkt_campaign_row;

/* Comparison functions for qsort: deterministic total orders. */
int mkt_event_cmp_user(const void *a, const void *b); /* (user, ts, order) */
int mkt_event_cmp_item(const void *a, const void *b); /* (item, ts, order) */
int mkt_campaign_cmp_user(const void *a, const void *b); /* (user, order) */

#endif
