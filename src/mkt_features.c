/* mkt_features.c — per-user and per-item feature vectors (see mkt_features.h).
 *
 * Owns the arithmetic of every feature: one pass over an entity's events in
 * ts order, accumulating counts and sums in a fixed order, then guarded
 * ratios.  Must not call MPI, touch files, print or allocate; the caller
 * provides every buffer. */
#include "mkt_features.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SECONDS_PER_DAY 86400
#define SECONDS_PER_BAND (6 * 3600)

static const char *const user_fixed_names[MKT_UF_FIXED] = {
    "recency_purchase_days", "recency_event_days",  "tenure_days",          "active_days",
    "events",                "purchases",           "purchase_days",        "returns",
    "spend",                 "avg_basket",          "spend_per_purchase",   "count_view",
    "count_click",           "count_cart",          "count_fav",            "count_purchase",
    "count_rating",          "share_view",          "share_click",          "share_cart",
    "share_fav",             "share_purchase",      "share_rating",         "conv_view_cart",
    "conv_cart_purchase",    "conv_view_purchase",  "price_ratio_viewed",   "price_ratio_category",
    "rating_mean",           "share_hour_00_06",    "share_hour_06_12",     "share_hour_12_18",
    "share_hour_18_24",      "share_weekday",
};

static const char *const item_names[MKT_IF_COUNT] = {
    "events",          "users",          "views",          "carts",       "purchases",   "returns",
    "units",           "revenue",        "conversion",     "list_price",  "margin_rate", "paid_price_mean",
    "paid_price_min",  "paid_price_max", "rating_mean",    "category",
};

/* Day number and second of day, flooring for times before 1970. */
static int64_t day_of(int64_t ts)
{
    int64_t d = ts / SECONDS_PER_DAY;
    if (ts % SECONDS_PER_DAY < 0)
        d--;
    return d;
}

/* 1970-01-01 was a Thursday: Monday = 0 ... Sunday = 6. */
static int weekday_of(int64_t day)
{
    int64_t w = (day + 3) % 7;
    return (int)(w < 0 ? w + 7 : w);
}

static double ratio(double num, double den) { return den > 0 ? num / den : 0.0; }

static double days_between(int64_t from, int64_t to)
{
    return to > from ? (double)(to - from) / SECONDS_PER_DAY : 0.0;
}

static void copy_name(char *buf, size_t len, const char *name)
{
    if (len > 0)
        snprintf(buf, len, "%s", name);
}

void mkt_category_mean_prices(const double *item_price, const int32_t *item_category, int64_t items, int categories,
                              double *out, int64_t *category_items)
{
    for (int k = 0; k < categories; k++) {
        out[k] = 0.0;
        category_items[k] = 0;
    }
    for (int64_t i = 0; i < items; i++) {
        int32_t k = item_category[i];
        if (k >= 0 && k < categories && isfinite(item_price[i])) {
            out[k] += item_price[i];
            category_items[k]++;
        }
    }
    for (int k = 0; k < categories; k++)
        out[k] = category_items[k] > 0 ? out[k] / (double)category_items[k] : 0.0;
}

double mkt_feature_recency_cap(const mkt_feature_context *ctx)
{
    return days_between(ctx->start_ts, ctx->reference_ts) + 1.0;
}

int mkt_user_feature_count(int categories) { return MKT_UF_FIXED + (categories > 0 ? categories : 0); }

int mkt_user_feature_name(int j, int categories, char *buf, size_t len)
{
    if (j >= 0 && j < MKT_UF_FIXED) {
        copy_name(buf, len, user_fixed_names[j]);
        return 0;
    }
    if (j >= MKT_UF_FIXED && j < mkt_user_feature_count(categories)) {
        if (len > 0)
            snprintf(buf, len, "category_share_%d", j - MKT_UF_FIXED);
        return 0;
    }
    copy_name(buf, len, "");
    return -1;
}

int mkt_item_feature_count(void) { return MKT_IF_COUNT; }

int mkt_item_feature_name(int j, char *buf, size_t len)
{
    if (j >= 0 && j < MKT_IF_COUNT) {
        copy_name(buf, len, item_names[j]);
        return 0;
    }
    copy_name(buf, len, "");
    return -1;
}

/* Replace anything non-finite (from non-finite input values) by 0. */
static void make_finite(double *out, int n)
{
    for (int j = 0; j < n; j++)
        if (!isfinite(out[j]))
            out[j] = 0.0;
}

static int valid_item(const mkt_feature_context *ctx, int32_t item)
{
    return item >= 0 && (int64_t)item < ctx->items;
}

void mkt_user_features(const mkt_feature_context *ctx, const mkt_event *events, size_t n, double *out)
{
    const int categories = ctx->categories > 0 ? ctx->categories : 0;
    const int total = mkt_user_feature_count(categories);
    for (int j = 0; j < total; j++)
        out[j] = 0.0;
    double *category_count = out + MKT_UF_FIXED; /* counts first, shares at the end */

    int64_t counted = 0, purchases = 0, returns = 0, purchase_days = 0, active_days = 0, weekday = 0;
    int64_t type_count[MKT_EV_NTYPES] = {0}, band_count[4] = {0};
    int64_t first_ts = 0, last_ts = 0, last_purchase_ts = 0, last_day = 0, last_purchase_day = 0;
    int64_t viewed_priced = 0, paid_n = 0, paid_category_n = 0, ratings = 0;
    double spend = 0.0, viewed_price_sum = 0.0, paid_sum = 0.0, paid_category_sum = 0.0, rating_sum = 0.0;

    for (size_t i = 0; i < n; i++) {
        const mkt_event *e = &events[i];
        if (e->ts >= ctx->cutoff_ts)
            break; /* sorted by ts: nothing later counts */
        int64_t day = day_of(e->ts);
        if (counted == 0)
            first_ts = e->ts;
        if (counted == 0 || day != last_day)
            active_days++;
        last_day = day;
        last_ts = e->ts;
        counted++;

        band_count[(e->ts - day * SECONDS_PER_DAY) / SECONDS_PER_BAND]++;
        if (weekday_of(day) < 5)
            weekday++;
        if (e->type >= 0 && e->type < MKT_EV_NTYPES)
            type_count[e->type]++;

        int item_ok = valid_item(ctx, e->item);
        int32_t category = item_ok ? ctx->item_category[e->item] : -1;
        int category_ok = category >= 0 && category < categories;
        if (category_ok)
            category_count[category] += 1.0;

        if (e->type == MKT_EV_VIEW && item_ok) {
            viewed_price_sum += ctx->item_price[e->item];
            viewed_priced++;
        } else if (e->type == MKT_EV_RATING) {
            rating_sum += e->value;
            ratings++;
        } else if (e->type == MKT_EV_PURCHASE) {
            spend += e->value;
            if (e->qty < 0) {
                returns++;
            } else if (e->qty > 0) {
                if (purchases == 0 || day != last_purchase_day)
                    purchase_days++;
                last_purchase_day = day;
                last_purchase_ts = e->ts;
                purchases++;
                double unit = e->value / (double)e->qty;
                paid_sum += unit;
                paid_n++;
                if (category_ok && ctx->category_mean_price[category] > 0) {
                    paid_category_sum += unit / ctx->category_mean_price[category];
                    paid_category_n++;
                }
            }
        }
    }

    const double cap = mkt_feature_recency_cap(ctx);
    const double events_d = (double)counted;
    out[MKT_UF_RECENCY_PURCHASE_DAYS] = purchases > 0 ? days_between(last_purchase_ts, ctx->reference_ts) : cap;
    out[MKT_UF_RECENCY_EVENT_DAYS] = counted > 0 ? days_between(last_ts, ctx->reference_ts) : cap;
    out[MKT_UF_TENURE_DAYS] = counted > 0 ? days_between(first_ts, ctx->reference_ts) : 0.0;
    out[MKT_UF_ACTIVE_DAYS] = (double)active_days;
    out[MKT_UF_EVENTS] = events_d;
    out[MKT_UF_PURCHASES] = (double)purchases;
    out[MKT_UF_PURCHASE_DAYS] = (double)purchase_days;
    out[MKT_UF_RETURNS] = (double)returns;
    out[MKT_UF_SPEND] = spend;
    out[MKT_UF_AVG_BASKET] = ratio(spend, (double)purchase_days);
    out[MKT_UF_SPEND_PER_PURCHASE] = ratio(spend, (double)purchases);
    for (int t = 0; t < MKT_EV_NTYPES; t++) {
        out[MKT_UF_COUNT_VIEW + t] = (double)type_count[t];
        out[MKT_UF_SHARE_VIEW + t] = ratio((double)type_count[t], events_d);
    }
    out[MKT_UF_CONV_VIEW_CART] = ratio((double)type_count[MKT_EV_CART], (double)type_count[MKT_EV_VIEW]);
    out[MKT_UF_CONV_CART_PURCHASE] = ratio((double)purchases, (double)type_count[MKT_EV_CART]);
    out[MKT_UF_CONV_VIEW_PURCHASE] = ratio((double)purchases, (double)type_count[MKT_EV_VIEW]);
    if (paid_n > 0 && viewed_priced > 0)
        out[MKT_UF_PRICE_RATIO_VIEWED] =
            ratio(paid_sum / (double)paid_n, viewed_price_sum / (double)viewed_priced);
    out[MKT_UF_PRICE_RATIO_CATEGORY] = ratio(paid_category_sum, (double)paid_category_n);
    out[MKT_UF_RATING_MEAN] = ratio(rating_sum, (double)ratings);
    for (int b = 0; b < 4; b++)
        out[MKT_UF_SHARE_HOUR_00_06 + b] = ratio((double)band_count[b], events_d);
    out[MKT_UF_SHARE_WEEKDAY] = ratio((double)weekday, events_d);
    for (int k = 0; k < categories; k++)
        category_count[k] = ratio(category_count[k], events_d);
    make_finite(out, total);
}

static int cmp_int32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

void mkt_item_features(const mkt_feature_context *ctx, int64_t item, const mkt_event *events, size_t n,
                       int32_t *user_scratch, double *out)
{
    for (int j = 0; j < MKT_IF_COUNT; j++)
        out[j] = 0.0;
    int64_t counted = 0, purchases = 0, returns = 0, ratings = 0, paid_n = 0;
    int64_t type_count[MKT_EV_NTYPES] = {0};
    double units = 0.0, revenue = 0.0, paid_sum = 0.0, paid_min = 0.0, paid_max = 0.0, rating_sum = 0.0;

    for (size_t i = 0; i < n; i++) {
        const mkt_event *e = &events[i];
        if (e->ts >= ctx->cutoff_ts)
            break;
        user_scratch[counted++] = e->user;
        if (e->type >= 0 && e->type < MKT_EV_NTYPES)
            type_count[e->type]++;
        if (e->type == MKT_EV_RATING) {
            rating_sum += e->value;
            ratings++;
        } else if (e->type == MKT_EV_PURCHASE) {
            units += (double)e->qty;
            revenue += e->value;
            if (e->qty < 0) {
                returns++;
            } else if (e->qty > 0) {
                purchases++;
                double unit = e->value / (double)e->qty;
                paid_sum += unit;
                if (paid_n == 0 || unit < paid_min)
                    paid_min = unit;
                if (paid_n == 0 || unit > paid_max)
                    paid_max = unit;
                paid_n++;
            }
        }
    }

    int64_t users = 0;
    if (counted > 0) {
        qsort(user_scratch, (size_t)counted, sizeof *user_scratch, cmp_int32);
        users = 1;
        for (int64_t i = 1; i < counted; i++)
            users += user_scratch[i] != user_scratch[i - 1];
    }

    int item_ok = item >= 0 && item < ctx->items;
    double price = item_ok ? ctx->item_price[item] : 0.0;
    int32_t category = item_ok ? ctx->item_category[item] : -1;

    out[MKT_IF_EVENTS] = (double)counted;
    out[MKT_IF_USERS] = (double)users;
    out[MKT_IF_VIEWS] = (double)type_count[MKT_EV_VIEW];
    out[MKT_IF_CARTS] = (double)type_count[MKT_EV_CART];
    out[MKT_IF_PURCHASES] = (double)purchases;
    out[MKT_IF_RETURNS] = (double)returns;
    out[MKT_IF_UNITS] = units;
    out[MKT_IF_REVENUE] = revenue;
    out[MKT_IF_CONVERSION] = ratio((double)purchases, (double)type_count[MKT_EV_VIEW]);
    out[MKT_IF_LIST_PRICE] = price;
    out[MKT_IF_MARGIN_RATE] = item_ok && ctx->item_cost ? ratio(price - ctx->item_cost[item], price) : 0.0;
    out[MKT_IF_PAID_PRICE_MEAN] = ratio(paid_sum, (double)paid_n);
    out[MKT_IF_PAID_PRICE_MIN] = paid_min;
    out[MKT_IF_PAID_PRICE_MAX] = paid_max;
    out[MKT_IF_RATING_MEAN] = ratio(rating_sum, (double)ratings);
    out[MKT_IF_CATEGORY] = category >= 0 && category < ctx->categories ? (double)category : -1.0;
    make_finite(out, MKT_IF_COUNT);
}
