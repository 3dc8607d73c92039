/* test_features.c — the pure feature definitions of src/mkt_features.c on
 * hand-built event lists with hand-computed expected values: recency,
 * frequency, monetary, conversion rates, category and time-of-day shares,
 * the cutoff, the empty user, item features, names, and no NaN ever. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "mkt_features.h"

#define DAY 86400
#define HOUR 3600
/* 2024-01-01 00:00:00 UTC, a Monday. */
#define T0 INT64_C(1704067200)
#define EPS 1e-12

/* Three items: item 0 (category 0, price 10), item 1 (category 1, price 30),
 * item 2 (category 1, price 50). Category means: 10 and 40. */
static const double price[3] = {10.0, 30.0, 50.0};
static const double cost[3] = {6.0, 15.0, 50.0};
static const int32_t category[3] = {0, 1, 1};
static double category_mean[2];

static mkt_feature_context context(int64_t cutoff, int64_t reference, int64_t start)
{
    int64_t counts[2];
    mkt_category_mean_prices(price, category, 3, 2, category_mean, counts);
    mkt_feature_context c = {
        .cutoff_ts = cutoff,
        .reference_ts = reference,
        .start_ts = start,
        .item_price = price,
        .item_cost = cost,
        .item_category = category,
        .category_mean_price = category_mean,
        .items = 3,
        .categories = 2,
    };
    return c;
}

static mkt_event ev(int64_t ts, int32_t user, int32_t item, int32_t type, int32_t qty, double value)
{
    static int64_t order = 0;
    mkt_event e = {.ts = ts, .order = order++, .value = value, .user = user, .item = item, .qty = qty,
                   .type = type};
    return e;
}

static void assert_all_finite(const double *x, int n)
{
    for (int j = 0; j < n; j++)
        assert_true(isfinite(x[j]));
}

/* One user over two days:
 *   Mon 01:00 view item0         (band 0)
 *   Mon 07:00 view item1         (band 1)
 *   Mon 08:00 cart item1         (band 1)
 *   Mon 09:00 purchase item1 qty 2 value 54 (unit 27)   (band 1)
 *   Sat 13:00 view item2         (band 2)  [2024-01-06, weekend]
 *   Sat 19:00 purchase item0 qty 1 value 12 (unit 12)   (band 3)
 *   Sat 20:00 purchase item0 qty -1 value -12 (return)  (band 3)
 *   Sat 21:00 rating item0 value 4                      (band 3)
 * reference = Sun 00:00 (T0 + 6 days), start = T0. */
static size_t sample_user(mkt_event *e)
{
    size_t n = 0;
    e[n++] = ev(T0 + 1 * HOUR, 7, 0, MKT_EV_VIEW, 1, 0);
    e[n++] = ev(T0 + 7 * HOUR, 7, 1, MKT_EV_VIEW, 1, 0);
    e[n++] = ev(T0 + 8 * HOUR, 7, 1, MKT_EV_CART, 2, 0);
    e[n++] = ev(T0 + 9 * HOUR, 7, 1, MKT_EV_PURCHASE, 2, 54.0);
    e[n++] = ev(T0 + 5 * DAY + 13 * HOUR, 7, 2, MKT_EV_VIEW, 1, 0);
    e[n++] = ev(T0 + 5 * DAY + 19 * HOUR, 7, 0, MKT_EV_PURCHASE, 1, 12.0);
    e[n++] = ev(T0 + 5 * DAY + 20 * HOUR, 7, 0, MKT_EV_PURCHASE, -1, -12.0);
    e[n++] = ev(T0 + 5 * DAY + 21 * HOUR, 7, 0, MKT_EV_RATING, 1, 4.0);
    return n;
}

static void test_names(void **state)
{
    (void)state;
    char buf[64];
    assert_int_equal(mkt_user_feature_count(2), MKT_UF_FIXED + 2);
    assert_int_equal(mkt_user_feature_name(MKT_UF_RECENCY_PURCHASE_DAYS, 2, buf, sizeof buf), 0);
    assert_string_equal(buf, "recency_purchase_days");
    assert_int_equal(mkt_user_feature_name(MKT_UF_SHARE_WEEKDAY, 2, buf, sizeof buf), 0);
    assert_string_equal(buf, "share_weekday");
    assert_int_equal(mkt_user_feature_name(MKT_UF_FIXED + 1, 2, buf, sizeof buf), 0);
    assert_string_equal(buf, "category_share_1");
    assert_int_equal(mkt_user_feature_name(MKT_UF_FIXED + 2, 2, buf, sizeof buf), -1);
    assert_string_equal(buf, "");
    assert_int_equal(mkt_item_feature_count(), MKT_IF_COUNT);
    assert_int_equal(mkt_item_feature_name(MKT_IF_CATEGORY, buf, sizeof buf), 0);
    assert_string_equal(buf, "category");
    assert_int_equal(mkt_item_feature_name(MKT_IF_COUNT, buf, sizeof buf), -1);
    /* every name distinct and non-empty */
    int n = mkt_user_feature_count(2);
    for (int i = 0; i < n; i++) {
        char a[64], b[64];
        mkt_user_feature_name(i, 2, a, sizeof a);
        assert_true(strlen(a) > 0);
        for (int j = i + 1; j < n; j++) {
            mkt_user_feature_name(j, 2, b, sizeof b);
            assert_string_not_equal(a, b);
        }
    }
}

static void test_category_mean_prices(void **state)
{
    (void)state;
    double mean[3];
    int64_t count[3];
    const int32_t cats[3] = {0, 1, 7}; /* 7 is out of range: skipped */
    mkt_category_mean_prices(price, cats, 3, 3, mean, count);
    assert_float_equal(mean[0], 10.0, EPS);
    assert_float_equal(mean[1], 30.0, EPS);
    assert_float_equal(mean[2], 0.0, EPS);
    assert_int_equal(count[0], 1);
    assert_int_equal(count[2], 0);
}

static void test_user_all_events(void **state)
{
    (void)state;
    mkt_event e[16];
    size_t n = sample_user(e);
    mkt_feature_context c = context(INT64_MAX, T0 + 6 * DAY, T0);
    double f[MKT_UF_FIXED + 2];
    mkt_user_features(&c, e, n, f);
    assert_all_finite(f, MKT_UF_FIXED + 2);

    /* last purchase (qty > 0) Sat 19:00 -> 5 hours before Sun 00:00 */
    assert_float_equal(f[MKT_UF_RECENCY_PURCHASE_DAYS], 5.0 / 24.0, EPS);
    assert_float_equal(f[MKT_UF_RECENCY_EVENT_DAYS], 3.0 / 24.0, EPS);
    assert_float_equal(f[MKT_UF_TENURE_DAYS], 6.0 - 1.0 / 24.0, EPS);
    assert_float_equal(f[MKT_UF_ACTIVE_DAYS], 2, EPS);
    assert_float_equal(f[MKT_UF_EVENTS], 8, EPS);
    assert_float_equal(f[MKT_UF_PURCHASES], 2, EPS);
    assert_float_equal(f[MKT_UF_PURCHASE_DAYS], 2, EPS);
    assert_float_equal(f[MKT_UF_RETURNS], 1, EPS);
    assert_float_equal(f[MKT_UF_SPEND], 54.0, EPS); /* 54 + 12 - 12 */
    assert_float_equal(f[MKT_UF_AVG_BASKET], 27.0, EPS);
    assert_float_equal(f[MKT_UF_SPEND_PER_PURCHASE], 27.0, EPS);

    assert_float_equal(f[MKT_UF_COUNT_VIEW], 3, EPS);
    assert_float_equal(f[MKT_UF_COUNT_CLICK], 0, EPS);
    assert_float_equal(f[MKT_UF_COUNT_CART], 1, EPS);
    assert_float_equal(f[MKT_UF_COUNT_FAV], 0, EPS);
    assert_float_equal(f[MKT_UF_COUNT_PURCHASE], 3, EPS);
    assert_float_equal(f[MKT_UF_COUNT_RATING], 1, EPS);
    assert_float_equal(f[MKT_UF_SHARE_VIEW], 3.0 / 8, EPS);
    assert_float_equal(f[MKT_UF_SHARE_PURCHASE], 3.0 / 8, EPS);
    assert_float_equal(f[MKT_UF_SHARE_RATING], 1.0 / 8, EPS);

    assert_float_equal(f[MKT_UF_CONV_VIEW_CART], 1.0 / 3, EPS);
    assert_float_equal(f[MKT_UF_CONV_CART_PURCHASE], 2.0, EPS);
    assert_float_equal(f[MKT_UF_CONV_VIEW_PURCHASE], 2.0 / 3, EPS);

    /* paid units 27 and 12 (mean 19.5); viewed list prices 10, 30, 50 (mean 30) */
    assert_float_equal(f[MKT_UF_PRICE_RATIO_VIEWED], 19.5 / 30.0, EPS);
    /* 27 / 40 (category 1 mean) and 12 / 10 (category 0 mean) */
    assert_float_equal(f[MKT_UF_PRICE_RATIO_CATEGORY], (27.0 / 40.0 + 12.0 / 10.0) / 2, EPS);
    assert_float_equal(f[MKT_UF_RATING_MEAN], 4.0, EPS);

    assert_float_equal(f[MKT_UF_SHARE_HOUR_00_06], 1.0 / 8, EPS);
    assert_float_equal(f[MKT_UF_SHARE_HOUR_06_12], 3.0 / 8, EPS);
    assert_float_equal(f[MKT_UF_SHARE_HOUR_12_18], 1.0 / 8, EPS);
    assert_float_equal(f[MKT_UF_SHARE_HOUR_18_24], 3.0 / 8, EPS);
    assert_float_equal(f[MKT_UF_SHARE_WEEKDAY], 4.0 / 8, EPS);

    /* category 0: item0 x4 (view, purchase, return, rating); category 1: 4 */
    assert_float_equal(f[MKT_UF_FIXED + 0], 4.0 / 8, EPS);
    assert_float_equal(f[MKT_UF_FIXED + 1], 4.0 / 8, EPS);
}

static void test_user_cutoff(void **state)
{
    (void)state;
    mkt_event e[16];
    size_t n = sample_user(e);
    /* cutoff Tue 00:00: only the four Monday events count; reference = cutoff */
    int64_t cutoff = T0 + 1 * DAY;
    mkt_feature_context c = context(cutoff, cutoff, T0);
    double f[MKT_UF_FIXED + 2];
    mkt_user_features(&c, e, n, f);
    assert_all_finite(f, MKT_UF_FIXED + 2);
    assert_float_equal(f[MKT_UF_EVENTS], 4, EPS);
    assert_float_equal(f[MKT_UF_PURCHASES], 1, EPS);
    assert_float_equal(f[MKT_UF_RETURNS], 0, EPS);
    assert_float_equal(f[MKT_UF_SPEND], 54.0, EPS);
    assert_float_equal(f[MKT_UF_RECENCY_PURCHASE_DAYS], 15.0 / 24.0, EPS);
    assert_float_equal(f[MKT_UF_RECENCY_EVENT_DAYS], 15.0 / 24.0, EPS);
    assert_float_equal(f[MKT_UF_COUNT_RATING], 0, EPS);
    assert_float_equal(f[MKT_UF_RATING_MEAN], 0, EPS);
    assert_float_equal(f[MKT_UF_SHARE_WEEKDAY], 1.0, EPS);
    assert_float_equal(f[MKT_UF_CONV_VIEW_CART], 0.5, EPS);
    assert_float_equal(f[MKT_UF_CONV_CART_PURCHASE], 1.0, EPS);
    assert_float_equal(f[MKT_UF_FIXED + 0], 1.0 / 4, EPS);
    assert_float_equal(f[MKT_UF_FIXED + 1], 3.0 / 4, EPS);

    /* an event exactly at the cutoff is excluded */
    mkt_event at = ev(cutoff, 7, 0, MKT_EV_VIEW, 1, 0);
    mkt_user_features(&c, &at, 1, f);
    assert_float_equal(f[MKT_UF_EVENTS], 0, EPS);

    /* a cutoff at or after the last event + 1 equals no cutoff */
    double g[MKT_UF_FIXED + 2], h[MKT_UF_FIXED + 2];
    int64_t end = e[n - 1].ts + 1;
    mkt_feature_context all = context(INT64_MAX, end, T0), at_end = context(end, end, T0);
    mkt_user_features(&all, e, n, g);
    mkt_user_features(&at_end, e, n, h);
    assert_memory_equal(g, h, sizeof g);
}

static void test_user_empty(void **state)
{
    (void)state;
    /* horizon 10 days -> cap 11 days */
    mkt_feature_context c = context(INT64_MAX, T0 + 10 * DAY, T0);
    double f[MKT_UF_FIXED + 2];
    memset(f, 0xff, sizeof f); /* NaN patterns: everything must be overwritten */
    mkt_user_features(&c, NULL, 0, f);
    assert_all_finite(f, MKT_UF_FIXED + 2);
    assert_float_equal(mkt_feature_recency_cap(&c), 11.0, EPS);
    assert_float_equal(f[MKT_UF_RECENCY_PURCHASE_DAYS], 11.0, EPS);
    assert_float_equal(f[MKT_UF_RECENCY_EVENT_DAYS], 11.0, EPS);
    for (int j = MKT_UF_TENURE_DAYS; j < MKT_UF_FIXED + 2; j++)
        assert_float_equal(f[j], 0.0, 0.0);

    /* all events after the cutoff: the same as no events */
    mkt_event e[16];
    size_t n = sample_user(e);
    mkt_feature_context early = context(T0, T0, T0);
    mkt_user_features(&early, e, n, f);
    assert_float_equal(f[MKT_UF_EVENTS], 0, 0);
    assert_float_equal(f[MKT_UF_RECENCY_EVENT_DAYS], 1.0, EPS); /* horizon 0 -> cap 1 */

    /* views only, no purchase: recency of purchase = cap, ratios 0 */
    mkt_event views[2] = {ev(T0 + HOUR, 1, 0, MKT_EV_VIEW, 1, 0), ev(T0 + 2 * HOUR, 1, 0, MKT_EV_VIEW, 1, 0)};
    mkt_user_features(&c, views, 2, f);
    assert_all_finite(f, MKT_UF_FIXED + 2);
    assert_float_equal(f[MKT_UF_RECENCY_PURCHASE_DAYS], 11.0, EPS);
    assert_float_equal(f[MKT_UF_PRICE_RATIO_VIEWED], 0, 0);
    assert_float_equal(f[MKT_UF_CONV_CART_PURCHASE], 0, 0);
    assert_float_equal(f[MKT_UF_AVG_BASKET], 0, 0);
}

static void test_user_odd_input(void **state)
{
    (void)state;
    /* unknown item, unknown type, purchase with qty 0, NaN value, event
     * before 1970: counts where it can, never NaN */
    mkt_feature_context c = context(INT64_MAX, T0, -5 * DAY);
    mkt_event e[4] = {
        ev(-DAY - HOUR, 1, 99, MKT_EV_VIEW, 1, 0), /* 1969-12-30 23:00 UTC */
        ev(-HOUR, 1, -1, 17, 1, 0),
        ev(T0 - 2 * HOUR, 1, 0, MKT_EV_PURCHASE, 0, 5.0),
        ev(T0 - HOUR, 1, 0, MKT_EV_RATING, 1, NAN),
    };
    double f[MKT_UF_FIXED + 2];
    mkt_user_features(&c, e, 4, f);
    assert_all_finite(f, MKT_UF_FIXED + 2);
    assert_float_equal(f[MKT_UF_EVENTS], 4, 0);
    assert_float_equal(f[MKT_UF_PURCHASES], 0, 0);
    assert_float_equal(f[MKT_UF_SPEND], 5.0, EPS);
    assert_float_equal(f[MKT_UF_RATING_MEAN], 0.0, 0); /* NaN input -> 0 */
    assert_float_equal(f[MKT_UF_SHARE_HOUR_18_24], 1.0, EPS); /* 23:00, 23:00, 22:00, 23:00 */
    assert_float_equal(f[MKT_UF_FIXED + 0], 2.0 / 4, EPS); /* only item 0 has a category */
}

static void test_item(void **state)
{
    (void)state;
    mkt_feature_context c = context(INT64_MAX, T0 + 10 * DAY, T0);
    /* item 1: 3 views (users 1, 2, 1), 1 cart, purchases 2 @ 27 (54) and
     * 1 @ 33, a return of 1 (-27), a rating 5 and a rating 3 */
    mkt_event e[9] = {
        ev(T0 + 1, 1, 1, MKT_EV_VIEW, 1, 0),       ev(T0 + 2, 2, 1, MKT_EV_VIEW, 1, 0),
        ev(T0 + 3, 1, 1, MKT_EV_VIEW, 1, 0),       ev(T0 + 4, 1, 1, MKT_EV_CART, 2, 0),
        ev(T0 + 5, 1, 1, MKT_EV_PURCHASE, 2, 54),  ev(T0 + 6, 3, 1, MKT_EV_PURCHASE, 1, 33),
        ev(T0 + 7, 1, 1, MKT_EV_PURCHASE, -1, -27), ev(T0 + 8, 1, 1, MKT_EV_RATING, 1, 5),
        ev(T0 + DAY, 2, 1, MKT_EV_RATING, 1, 3),
    };
    int32_t scratch[9];
    double f[MKT_IF_COUNT];
    mkt_item_features(&c, 1, e, 9, scratch, f);
    assert_all_finite(f, MKT_IF_COUNT);
    assert_float_equal(f[MKT_IF_EVENTS], 9, 0);
    assert_float_equal(f[MKT_IF_USERS], 3, 0);
    assert_float_equal(f[MKT_IF_VIEWS], 3, 0);
    assert_float_equal(f[MKT_IF_CARTS], 1, 0);
    assert_float_equal(f[MKT_IF_PURCHASES], 2, 0);
    assert_float_equal(f[MKT_IF_RETURNS], 1, 0);
    assert_float_equal(f[MKT_IF_UNITS], 2, 0);
    assert_float_equal(f[MKT_IF_REVENUE], 60.0, EPS);
    assert_float_equal(f[MKT_IF_CONVERSION], 2.0 / 3, EPS);
    assert_float_equal(f[MKT_IF_LIST_PRICE], 30.0, 0);
    assert_float_equal(f[MKT_IF_MARGIN_RATE], 0.5, EPS);
    assert_float_equal(f[MKT_IF_PAID_PRICE_MEAN], 30.0, EPS);
    assert_float_equal(f[MKT_IF_PAID_PRICE_MIN], 27.0, EPS);
    assert_float_equal(f[MKT_IF_PAID_PRICE_MAX], 33.0, EPS);
    assert_float_equal(f[MKT_IF_RATING_MEAN], 4.0, EPS);
    assert_float_equal(f[MKT_IF_CATEGORY], 1.0, 0);

    /* cutoff after the first five events */
    mkt_feature_context cut = context(T0 + 6, T0 + 6, T0);
    mkt_item_features(&cut, 1, e, 9, scratch, f);
    assert_float_equal(f[MKT_IF_EVENTS], 5, 0);
    assert_float_equal(f[MKT_IF_USERS], 2, 0);
    assert_float_equal(f[MKT_IF_PURCHASES], 1, 0);
    assert_float_equal(f[MKT_IF_PAID_PRICE_MIN], 27.0, EPS);
    assert_float_equal(f[MKT_IF_PAID_PRICE_MAX], 27.0, EPS);
    assert_float_equal(f[MKT_IF_RATING_MEAN], 0.0, 0);
}

static void test_item_empty(void **state)
{
    (void)state;
    mkt_feature_context c = context(INT64_MAX, T0, T0);
    double f[MKT_IF_COUNT];
    memset(f, 0xff, sizeof f);
    mkt_item_features(&c, 0, NULL, 0, NULL, f);
    assert_all_finite(f, MKT_IF_COUNT);
    for (int j = 0; j < MKT_IF_COUNT; j++) {
        if (j == MKT_IF_LIST_PRICE)
            assert_float_equal(f[j], 10.0, 0);
        else if (j == MKT_IF_MARGIN_RATE)
            assert_float_equal(f[j], 0.4, EPS);
        else
            assert_float_equal(f[j], 0.0, 0); /* category of item 0 is 0 */
    }
    /* item 2: price == cost -> margin 0; no cost table -> 0; item out of range -> category -1 */
    mkt_item_features(&c, 2, NULL, 0, NULL, f);
    assert_float_equal(f[MKT_IF_MARGIN_RATE], 0.0, 0);
    c.item_cost = NULL;
    mkt_item_features(&c, 0, NULL, 0, NULL, f);
    assert_float_equal(f[MKT_IF_MARGIN_RATE], 0.0, 0);
    mkt_item_features(&c, 5, NULL, 0, NULL, f);
    assert_float_equal(f[MKT_IF_CATEGORY], -1.0, 0);
    assert_float_equal(f[MKT_IF_LIST_PRICE], 0.0, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),          cmocka_unit_test(test_category_mean_prices),
        cmocka_unit_test(test_user_all_events), cmocka_unit_test(test_user_cutoff),
        cmocka_unit_test(test_user_empty),      cmocka_unit_test(test_user_odd_input),
        cmocka_unit_test(test_item),           cmocka_unit_test(test_item_empty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
