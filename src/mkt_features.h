/* mkt_features.h — per-user and per-item feature vectors (RFM, funnel, price,
 * category and time-of-day behaviour) computed from one entity's events.
 *
 * Owns: the fixed lists of feature names and the definition of every feature
 * (docs/features.md is the prose version).  A feature vector is a pure
 * function of the entity's events and of the window described by
 * mkt_feature_context, so it never depends on which rank computes it.
 *
 * Must not: call MPI, touch files, print, or allocate.  Reading the store,
 * the rank partition and the normalization statistics belong to
 * stages/features_stage.c.
 *
 * Every output is a finite double (no NaN, no infinity): each division is
 * guarded, and an undefined ratio is 0 (see each name below).  Times are UTC;
 * a "day" is a UTC calendar day (floor(ts / 86400)). */
#ifndef MKT_FEATURES_H
#define MKT_FEATURES_H

#include <stddef.h>
#include <stdint.h>

#include "mkt_types.h"

/* The window and the item tables every feature vector is computed against. */
typedef struct {
    /* Only events with ts < cutoff_ts count; INT64_MAX counts all events. */
    int64_t cutoff_ts;
    /* "Now" for recency and tenure: min(cutoff_ts, last event ts in the store + 1).
     * Must be >= the ts of every counted event (recencies are clamped at 0). */
    int64_t reference_ts;
    /* The earliest event ts in the whole store: a user with no purchase (or no
     * event) gets recency = horizon + 1 days, horizon = (reference_ts -
     * start_ts) / 86400 (at least 0). */
    int64_t start_ts;
    const double *item_price;          /* [items] list price */
    const double *item_cost;           /* [items] unit cost (may be NULL: margin = 0) */
    const int32_t *item_category;      /* [items] dense category 0..categories-1 */
    const double *category_mean_price; /* [categories] mean list price, mkt_category_mean_prices() */
    int64_t items;
    int categories;
} mkt_feature_context;

/* Mean list price of the items of each category into out[categories] (0 for
 * an empty category), summed in item order so that every caller gets the same
 * bits; category_items[categories] receives the item count per category.
 * Items with a category outside 0..categories-1 or a non-finite price are
 * skipped. */
void mkt_category_mean_prices(const double *item_price, const int32_t *item_category, int64_t items, int categories,
                              double *out, int64_t *category_items);

/* Recency given to a user with no purchase / no event, in days. */
double mkt_feature_recency_cap(const mkt_feature_context *ctx);

/* ---- user features ----
 * Columns 0..MKT_UF_FIXED-1 are fixed; then one column per category:
 * category_share_K = share of the user's counted events on items of category K
 * (K the dense category id; its name is /ids/categories[K]). */
enum {
    MKT_UF_RECENCY_PURCHASE_DAYS, /* days from the last purchase (qty > 0) to reference_ts; cap if none */
    MKT_UF_RECENCY_EVENT_DAYS,    /* days from the last event to reference_ts; cap if none */
    MKT_UF_TENURE_DAYS,           /* days from the first event to reference_ts; 0 if none */
    MKT_UF_ACTIVE_DAYS,           /* distinct days with an event */
    MKT_UF_EVENTS,                /* counted events */
    MKT_UF_PURCHASES,             /* purchase events with qty > 0 (frequency) */
    MKT_UF_PURCHASE_DAYS,         /* distinct days with a purchase (qty > 0) */
    MKT_UF_RETURNS,               /* purchase events with qty < 0 */
    MKT_UF_SPEND,                 /* sum of value over purchase events, returns included (monetary) */
    MKT_UF_AVG_BASKET,            /* spend / purchase_days; 0 if no purchase day */
    MKT_UF_SPEND_PER_PURCHASE,    /* spend / purchases; 0 if no purchase */
    MKT_UF_COUNT_VIEW,            /* events of each type: view, click, cart, fav, purchase (returns */
    MKT_UF_COUNT_CLICK,           /* included), rating */
    MKT_UF_COUNT_CART,
    MKT_UF_COUNT_FAV,
    MKT_UF_COUNT_PURCHASE,
    MKT_UF_COUNT_RATING,
    MKT_UF_SHARE_VIEW, /* count_T / events; 0 if no event */
    MKT_UF_SHARE_CLICK,
    MKT_UF_SHARE_CART,
    MKT_UF_SHARE_FAV,
    MKT_UF_SHARE_PURCHASE,
    MKT_UF_SHARE_RATING,
    MKT_UF_CONV_VIEW_CART,         /* count_cart / count_view; 0 if no view (may exceed 1) */
    MKT_UF_CONV_CART_PURCHASE,     /* purchases / count_cart; 0 if no cart (may exceed 1) */
    MKT_UF_CONV_VIEW_PURCHASE,     /* purchases / count_view; 0 if no view (may exceed 1) */
    MKT_UF_PRICE_RATIO_VIEWED,     /* mean unit price paid / mean list price of viewed items; 0 if undefined */
    MKT_UF_PRICE_RATIO_CATEGORY,   /* mean of unit price paid / category mean list price; 0 if undefined */
    MKT_UF_RATING_MEAN,            /* mean rating value; 0 if no rating */
    MKT_UF_SHARE_HOUR_00_06,       /* share of events by UTC hour band */
    MKT_UF_SHARE_HOUR_06_12,
    MKT_UF_SHARE_HOUR_12_18,
    MKT_UF_SHARE_HOUR_18_24,
    MKT_UF_SHARE_WEEKDAY,          /* share of events Monday..Friday (UTC) */
    MKT_UF_FIXED                   /* number of fixed columns */
};

int mkt_user_feature_count(int categories); /* MKT_UF_FIXED + categories */
/* Name of column j ("recency_purchase_days", ..., "category_share_3") into
 * buf; returns 0, or -1 if j is out of range (buf then holds ""). */
int mkt_user_feature_name(int j, int categories, char *buf, size_t len);

/* Feature vector of one user into out[mkt_user_feature_count(ctx->categories)].
 * events: that user's events sorted by (ts, order); events with ts >=
 * ctx->cutoff_ts are ignored.  Events on an item outside 0..items-1 or with a
 * category outside 0..categories-1 count everywhere except the price and
 * category features.  n == 0 gives the "no events" vector: recencies = cap,
 * everything else 0. */
void mkt_user_features(const mkt_feature_context *ctx, const mkt_event *events, size_t n, double *out);

/* ---- item features ---- */
enum {
    MKT_IF_EVENTS,          /* counted events */
    MKT_IF_USERS,           /* distinct users */
    MKT_IF_VIEWS,           /* view events */
    MKT_IF_CARTS,           /* cart events */
    MKT_IF_PURCHASES,       /* purchase events with qty > 0 */
    MKT_IF_RETURNS,         /* purchase events with qty < 0 */
    MKT_IF_UNITS,           /* sum of qty over purchase events (net of returns) */
    MKT_IF_REVENUE,         /* sum of value over purchase events (net of returns) */
    MKT_IF_CONVERSION,      /* purchases / views; 0 if no view (may exceed 1) */
    MKT_IF_LIST_PRICE,      /* /items/price */
    MKT_IF_MARGIN_RATE,     /* (price - cost) / price; 0 if price <= 0 or no cost table */
    MKT_IF_PAID_PRICE_MEAN, /* mean of value / qty over purchases with qty > 0; 0 if none */
    MKT_IF_PAID_PRICE_MIN,  /* min of the same; 0 if none */
    MKT_IF_PAID_PRICE_MAX,  /* max of the same; 0 if none */
    MKT_IF_RATING_MEAN,     /* mean rating value; 0 if no rating */
    MKT_IF_CATEGORY,        /* dense category id (a code, not a quantity); -1 if out of range */
    MKT_IF_COUNT
};

int mkt_item_feature_count(void); /* MKT_IF_COUNT */
int mkt_item_feature_name(int j, char *buf, size_t len);

/* Feature vector of item `item` into out[MKT_IF_COUNT]. events: that item's
 * events sorted by (ts, order), ts >= cutoff ignored.  user_scratch: room for
 * n int32 values (used to count distinct users; may be NULL when n == 0). */
void mkt_item_features(const mkt_feature_context *ctx, int64_t item, const mkt_event *events, size_t n,
                       int32_t *user_scratch, double *out);

#endif
