/* gen.c — the synthetic shop model and its planted truth (see gen.h and
 * docs/gen.md, which lists every constant below with its meaning).
 *
 * Owns the generative model only: every function here is a pure function of
 * (config, world, user index) and the counter-based streams of rng.h. */
#include "gen.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_message.h"
#include "rng.h"

const char *const mkt_gen_treatment_names[MKT_GEN_TREATMENTS] = {"control", "coupon5", "free_shipping", "pct10"};
const char *const mkt_gen_user_attr_names[MKT_GEN_USER_ATTRS] = {
    "price_sensitivity", "loyalty", "tenure_years", "is_new", "region_remote", "age_band"};

/* ---- model constants (docs/gen.md, "Parameters") ---- */

#define LATENT_DOT_SD 0.8 /* sd of taste . item_factor */
#define ITEM_BIAS_SD 0.3
#define USER_BIAS_SD 0.3
#define CATEGORY_SHARE 0.5     /* share of an item factor's variance from its category */
#define CATEGORY_SHARPNESS 2.0 /* category softmax: exp(2 * taste . category_factor) */
#define CATEGORY_PRICE_SD 0.5  /* sd of a category's log price level around log(20) */
#define ITEM_PRICE_SD 0.6      /* sd of an item's log price around its category's level */
#define MIN_PRICE 0.5
#define MAX_STOCK 1000
#define ACTIVITY_LOG_SD 0.8
#define TENURE_MEAN_YEARS 2.0
#define NEW_TENURE_YEARS 0.5
#define REMOTE_SHARE 0.2
#define AGE_BANDS 6

#define MAX_SESSIONS 20000
#define VIEWS_PER_SESSION_EXTRA 4.0 /* views per session = 1 + Poisson(4) */
#define MAX_VIEWS_PER_SESSION 64
#define EVENTS_PER_VIEW_MAX 5 /* view, click, fav, cart, purchase */
#define CATEGORY_SWITCH_P 0.15
#define REVISIT_P 0.3
#define RECENT_ITEMS 8
#define CANDIDATES 4
#define MEAN_GAP_SECONDS 45.0
#define QTY_EXTRA_MEAN 0.3
/* funnel: P(step) = sigmoid(intercept + FUNNEL_SLOPE * score) */
#define FUNNEL_SLOPE 1.0
#define CLICK_INTERCEPT (-1.8)
#define CART_INTERCEPT (-2.8)     /* given a click */
#define PURCHASE_INTERCEPT (-1.5) /* given a cart */
#define FAV_INTERCEPT (-4.0)      /* on affinity, independent of the click */
#define RATING_SEQUENCE_BASE ((int64_t)1 << 23)
#define ORDER_SHIFT ((int64_t)1 << 24)

/* campaign */
#define CAMPAIGN_INTERCEPT (-2.0)
#define CAMPAIGN_LOYALTY 1.5
#define CAMPAIGN_LOG_ACTIVITY 0.4
#define PCT10_LOGIT 1.5           /* times price_sensitivity^2 */
#define FREE_SHIPPING_LOGIT 1.0   /* remote users only */
#define COUPON_NEW_LOGIT 1.2      /* new users */
#define COUPON_LOYAL_LOGIT (-1.0) /* loyal (>= 0.7) and active (>= 1) users */
#define LOYAL_THRESHOLD 0.7
#define VISIT_BASE 0.2 /* P(visit | no conversion) = 0.2 + 0.4 * loyalty */
#define VISIT_LOYALTY 0.4
#define SPEND_LOG_BASE 3.6888794541139363 /* log(40) */
#define SPEND_LOG_ACTIVITY 0.3
#define SPEND_LOYALTY 0.5
#define SPEND_LOG_SD 0.5
#define PCT10_FACTOR 0.9
#define COUPON_AMOUNT 5.0

/* Time pattern: relative weight of each UTC hour and weekday (0 = Sunday). */
static const double hour_weight[24] = {2, 1, 1, 1, 1, 1, 2, 3, 4, 5, 5, 6, 6, 6, 6, 6, 7, 8, 9, 10, 10, 9, 6, 4};
static const double weekday_weight[7] = {1.2, 0.9, 0.9, 0.9, 1.0, 1.1, 1.3};
#define MAX_TIME_WEIGHT (10.0 * 1.3)

/* ---- configuration ---- */

void mkt_gen_config_defaults(mkt_gen_config *c)
{
    memset(c, 0, sizeof *c);
    c->users = 10000;
    c->items = 2000;
    c->days = 30;
    c->seed = 42;
    c->factors = 8;
    c->categories = 20;
    c->brands = 50;
    c->sessions_per_user = 4.0;
    c->ratings_per_user = 20.0;
    c->rating_noise = 0.5;
    c->campaign_share = 1.0;
    c->start_ts = 1767225600; /* 2026-01-01 00:00:00 UTC */
}

static _Thread_local char check_message[200];

#define CHECK(cond, ...) MKT_CHECK_MSG(check_message, cond, __VA_ARGS__)

const char *mkt_gen_check(const mkt_gen_config *c)
{
    CHECK(c->users >= 1, "users must be >= 1 (got %lld)", (long long)c->users);
    CHECK(c->users <= INT32_MAX, "users must be <= %d (got %lld)", INT32_MAX, (long long)c->users);
    CHECK(c->items >= 1, "items must be >= 1 (got %lld)", (long long)c->items);
    CHECK(c->items <= INT32_MAX, "items must be <= %d (got %lld)", INT32_MAX, (long long)c->items);
    CHECK(c->days >= 1, "days must be >= 1 (got %d)", c->days);
    CHECK(c->days <= MKT_GEN_MAX_DAYS, "days must be <= %d (got %d)", MKT_GEN_MAX_DAYS, c->days);
    CHECK(c->factors >= 1, "factors must be >= 1 (got %d)", c->factors);
    CHECK(c->factors <= MKT_GEN_MAX_FACTORS, "factors must be <= %d (got %d)", MKT_GEN_MAX_FACTORS, c->factors);
    CHECK(c->categories >= 1, "categories must be >= 1 (got %d)", c->categories);
    CHECK(c->categories <= MKT_GEN_MAX_CATEGORIES, "categories must be <= %d (got %d)", MKT_GEN_MAX_CATEGORIES,
          c->categories);
    CHECK(c->brands >= 1, "brands must be >= 1 (got %d)", c->brands);
    CHECK(isfinite(c->sessions_per_user) && c->sessions_per_user >= 0 && c->sessions_per_user <= 10000,
          "sessions_per_user must be in [0, 10000] (got %g)", c->sessions_per_user);
    CHECK(isfinite(c->ratings_per_user) && c->ratings_per_user >= 0 && c->ratings_per_user <= 1e6,
          "ratings_per_user must be in [0, 1e6] (got %g)", c->ratings_per_user);
    CHECK(isfinite(c->rating_noise) && c->rating_noise >= 0 && c->rating_noise <= 100,
          "rating_noise must be in [0, 100] (got %g)", c->rating_noise);
    CHECK(c->campaign_share >= 0 && c->campaign_share <= 1, "campaign_share must be in [0, 1] (got %g)",
          c->campaign_share);
    CHECK(isfinite(c->targeting_bias) && c->targeting_bias >= 0 && c->targeting_bias <= 20,
          "targeting_bias must be in [0, 20] (got %g)", c->targeting_bias);
    CHECK(c->start_ts >= 0 && c->start_ts <= ((int64_t)1 << 40), "start_ts must be in [0, 2^40] (got %lld)",
          (long long)c->start_ts);
    return NULL;
}

/* ---- small helpers ---- */

static inline double sigmoid(double x)
{
    return 1.0 / (1.0 + exp(-x));
}

static inline double dot(const double *a, const double *b, int k)
{
    double s = 0;
    for (int i = 0; i < k; i++)
        s += a[i] * b[i];
    return s;
}

/* Standard deviation of one component of a taste or factor vector, so that
 * taste . factor has sd LATENT_DOT_SD: K s^4 = LATENT_DOT_SD^2. */
static double latent_sd(int k)
{
    return sqrt(LATENT_DOT_SD / sqrt((double)k));
}

static inline double round_cents(double x)
{
    return floor(x * 100.0 + 0.5) / 100.0;
}

/* Standard normal CDF. */
static double normal_cdf(double x)
{
    return 0.5 * erfc(-x / sqrt(2.0));
}

/* ---- the world ---- */

void mkt_gen_world_free(mkt_gen_world *w)
{
    free(w->item_factors);
    free(w->item_bias);
    free(w->price);
    free(w->cost);
    free(w->category);
    free(w->brand);
    free(w->stock);
    free(w->category_factors);
    free(w->log_price_rel);
    free(w->category_start);
    free(w->category_items);
    memset(w, 0, sizeof *w);
}

int mkt_gen_world_build(const mkt_gen_config *c, mkt_gen_world *w)
{
    memset(w, 0, sizeof *w);
    const int64_t n = c->items;
    const int K = c->factors, C = c->categories;
    w->items = n;
    w->factors = K;
    w->categories = C;
    w->brands = c->brands;
    w->item_factors = malloc((size_t)n * (size_t)K * sizeof(double));
    w->item_bias = malloc((size_t)n * sizeof(double));
    w->price = malloc((size_t)n * sizeof(double));
    w->cost = malloc((size_t)n * sizeof(double));
    w->log_price_rel = malloc((size_t)n * sizeof(double));
    w->category = malloc((size_t)n * sizeof(int32_t));
    w->brand = malloc((size_t)n * sizeof(int32_t));
    w->stock = malloc((size_t)n * sizeof(int32_t));
    w->category_items = malloc((size_t)n * sizeof(int32_t));
    w->category_factors = malloc((size_t)C * (size_t)K * sizeof(double));
    w->category_start = calloc((size_t)C + 1, sizeof(int64_t));
    double *category_log_price = malloc((size_t)C * sizeof(double));
    if (!w->item_factors || !w->item_bias || !w->price || !w->cost || !w->log_price_rel || !w->category || !w->brand ||
        !w->stock || !w->category_items || !w->category_factors || !w->category_start || !category_log_price) {
        free(category_log_price);
        mkt_gen_world_free(w);
        return -1;
    }
    const double sd = latent_sd(K);
    const double own = sqrt(1.0 - CATEGORY_SHARE), shared = sqrt(CATEGORY_SHARE);

    /* world-wide parameters, in this order: mu, category factors, category price levels */
    mkt_rng g;
    mkt_rng_init(&g, c->seed, MKT_STREAM_GLOBAL, 0);
    w->global_mean = 3.0 + mkt_rng_uniform(&g);
    for (int64_t j = 0; j < (int64_t)C * K; j++)
        w->category_factors[j] = sd * mkt_rng_normal(&g);
    for (int k = 0; k < C; k++)
        category_log_price[k] = log(MKT_GEN_REFERENCE_PRICE) + CATEGORY_PRICE_SD * mkt_rng_normal(&g);

    /* items: each from its own stream, in this order of draws */
    for (int64_t i = 0; i < n; i++) {
        mkt_rng r;
        mkt_rng_init(&r, c->seed, MKT_STREAM_ITEMS, (uint64_t)i);
        int32_t cat = (int32_t)mkt_rng_below(&r, (uint64_t)C);
        w->category[i] = cat;
        w->brand[i] = (int32_t)mkt_rng_below(&r, (uint64_t)c->brands);
        double *f = w->item_factors + i * K;
        const double *cf = w->category_factors + (int64_t)cat * K;
        for (int k = 0; k < K; k++)
            f[k] = shared * cf[k] + own * sd * mkt_rng_normal(&r);
        w->item_bias[i] = ITEM_BIAS_SD * mkt_rng_normal(&r);
        double p = round_cents(exp(category_log_price[cat] + ITEM_PRICE_SD * mkt_rng_normal(&r)));
        if (p < MIN_PRICE)
            p = MIN_PRICE;
        double cost = round_cents(p * (0.4 + 0.4 * mkt_rng_uniform(&r)));
        if (cost < 0.01)
            cost = 0.01;
        if (cost > p - 0.01)
            cost = round_cents(p - 0.01);
        w->price[i] = p;
        w->cost[i] = cost;
        w->log_price_rel[i] = log(p / MKT_GEN_REFERENCE_PRICE);
        w->stock[i] = (int32_t)mkt_rng_below(&r, MAX_STOCK);
    }
    free(category_log_price);

    /* per-category item lists, ascending item index (counting sort) */
    for (int64_t i = 0; i < n; i++)
        w->category_start[w->category[i] + 1]++;
    for (int k = 0; k < C; k++)
        w->category_start[k + 1] += w->category_start[k];
    int64_t *fill = malloc((size_t)C * sizeof(int64_t));
    if (!fill) {
        mkt_gen_world_free(w);
        return -1;
    }
    memcpy(fill, w->category_start, (size_t)C * sizeof(int64_t));
    for (int64_t i = 0; i < n; i++)
        w->category_items[fill[w->category[i]]++] = (int32_t)i;
    free(fill);
    return 0;
}

/* ---- users ---- */

void mkt_gen_user_draw(const mkt_gen_config *c, const mkt_gen_world *w, int64_t u, mkt_gen_user *out)
{
    (void)w;
    mkt_rng r;
    mkt_rng_init(&r, c->seed, MKT_STREAM_USERS, (uint64_t)u);
    const int K = c->factors;
    const double sd = latent_sd(K);
    for (int k = 0; k < K; k++)
        out->taste[k] = sd * mkt_rng_normal(&r);
    out->bias = USER_BIAS_SD * mkt_rng_normal(&r);
    double z = mkt_rng_normal(&r);
    double ps = mkt_rng_uniform(&r);
    double loyalty_draw = mkt_rng_uniform(&r);
    double tenure = mkt_rng_exponential(&r, 1.0 / TENURE_MEAN_YEARS);
    double remote = mkt_rng_uniform(&r) < REMOTE_SHARE ? 1.0 : 0.0;
    double age_band = (double)mkt_rng_below(&r, AGE_BANDS);
    double is_new = tenure < NEW_TENURE_YEARS ? 1.0 : 0.0;
    double loyalty = is_new > 0 ? 0.5 * loyalty_draw : loyalty_draw;
    /* activity = lognormal with mean 1, times a loyalty factor with mean 1 */
    double p_new = 1.0 - exp(-NEW_TENURE_YEARS / TENURE_MEAN_YEARS);
    double mean_loyalty = 0.5 * (1.0 - 0.5 * p_new);
    out->activity = exp(ACTIVITY_LOG_SD * z - 0.5 * ACTIVITY_LOG_SD * ACTIVITY_LOG_SD) * (0.6 + 0.8 * loyalty) /
                    (0.6 + 0.8 * mean_loyalty);
    out->attrs[MKT_GEN_ATTR_PRICE_SENSITIVITY] = ps;
    out->attrs[MKT_GEN_ATTR_LOYALTY] = loyalty;
    out->attrs[MKT_GEN_ATTR_TENURE_YEARS] = tenure;
    out->attrs[MKT_GEN_ATTR_IS_NEW] = is_new;
    out->attrs[MKT_GEN_ATTR_REGION_REMOTE] = remote;
    out->attrs[MKT_GEN_ATTR_AGE_BAND] = age_band;
}

double mkt_gen_rating_mean(const mkt_gen_world *w, const mkt_gen_user *usr, int64_t item)
{
    return w->global_mean + usr->bias + w->item_bias[item] +
           dot(usr->taste, w->item_factors + item * w->factors, w->factors);
}

/* Cumulative category weights exp(CATEGORY_SHARPNESS * taste . category_factor);
 * empty categories weigh 0.  Returns the total. */
static double category_cdf(const mkt_gen_world *w, const mkt_gen_user *usr, double *cdf)
{
    const int C = w->categories, K = w->factors;
    double top = -INFINITY;
    for (int k = 0; k < C; k++) {
        cdf[k] = CATEGORY_SHARPNESS * dot(usr->taste, w->category_factors + (int64_t)k * K, K);
        if (w->category_start[k + 1] > w->category_start[k] && cdf[k] > top)
            top = cdf[k];
    }
    double total = 0;
    for (int k = 0; k < C; k++) {
        if (w->category_start[k + 1] > w->category_start[k])
            total += exp(cdf[k] - top);
        cdf[k] = total;
    }
    return total;
}

static int pick_category(const mkt_gen_world *w, const double *cdf, double total, mkt_rng *r)
{
    double x = mkt_rng_uniform(r) * total;
    int lo = 0, hi = w->categories - 1;
    while (lo < hi) { /* first k with cdf[k] > x */
        int mid = (lo + hi) / 2;
        if (cdf[mid] > x)
            hi = mid;
        else
            lo = mid + 1;
    }
    /* rounding could land on a trailing empty category: step back to a non-empty one */
    while (w->category_start[lo + 1] == w->category_start[lo])
        lo--;
    return lo;
}

typedef struct {
    int32_t item;
    double affinity; /* taste . item_factor + item_bias */
    double score;    /* affinity - price_sensitivity * log(price / 20) */
} scored_item;

/* CANDIDATES items drawn uniformly from the category, one chosen by softmax of score. */
static scored_item pick_item(const mkt_gen_world *w, const mkt_gen_user *usr, int cat, mkt_rng *r)
{
    const int K = w->factors;
    const double ps = usr->attrs[MKT_GEN_ATTR_PRICE_SENSITIVITY];
    const int64_t first = w->category_start[cat], size = w->category_start[cat + 1] - first;
    scored_item cand[CANDIDATES];
    double top = -INFINITY;
    for (int j = 0; j < CANDIDATES; j++) {
        int32_t it = w->category_items[first + (int64_t)mkt_rng_below(r, (uint64_t)size)];
        double a = dot(usr->taste, w->item_factors + (int64_t)it * K, K) + w->item_bias[it];
        cand[j].item = it;
        cand[j].affinity = a;
        cand[j].score = a - ps * w->log_price_rel[it];
        if (cand[j].score > top)
            top = cand[j].score;
    }
    double weight[CANDIDATES], total = 0;
    for (int j = 0; j < CANDIDATES; j++) {
        weight[j] = exp(cand[j].score - top);
        total += weight[j];
    }
    double x = mkt_rng_uniform(r) * total;
    for (int j = 0; j < CANDIDATES - 1; j++) {
        if (x < weight[j])
            return cand[j];
        x -= weight[j];
    }
    return cand[CANDIDATES - 1];
}

static int reserve(mkt_event **buf, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap : 1024;
    while (n < need)
        n *= 2;
    mkt_event *p = realloc(*buf, n * sizeof(mkt_event));
    if (!p)
        return -1;
    *buf = p;
    *cap = n;
    return 0;
}

static int cmp_int64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* A second in [0, span) drawn with the hour-of-day and weekday pattern
 * (rejection sampling on UTC wall-clock time). */
static int64_t patterned_offset(int64_t start, int64_t span, mkt_rng *r)
{
    for (;;) {
        int64_t t = (int64_t)mkt_rng_below(r, (uint64_t)span);
        int64_t wall = start + t;
        int64_t day = wall / 86400;
        int hour = (int)((wall % 86400) / 3600);
        int wday = (int)((day + 4) % 7); /* 1970-01-01 was a Thursday */
        if (mkt_rng_uniform(r) * MAX_TIME_WEIGHT < hour_weight[hour] * weekday_weight[wday])
            return t;
    }
}

size_t mkt_gen_user_events(const mkt_gen_config *c, const mkt_gen_world *w, int64_t u, const mkt_gen_user *usr,
                           mkt_event **buf, size_t *len, size_t *cap)
{
    mkt_rng r;
    mkt_rng_init(&r, c->seed, MKT_STREAM_USER_EVENTS, (uint64_t)u);
    const int64_t span = (int64_t)c->days * 86400, end = c->start_ts + span;

    int64_t sessions;
    if (c->sessions_per_user >= 1)
        sessions = 1 + mkt_rng_poisson(&r, usr->activity * (c->sessions_per_user - 1));
    else
        sessions = mkt_rng_poisson(&r, usr->activity * c->sessions_per_user);
    if (sessions > MAX_SESSIONS)
        sessions = MAX_SESSIONS;
    if (sessions == 0)
        return 0;

    int64_t small[64];
    int64_t *starts = sessions <= 64 ? small : malloc((size_t)sessions * sizeof(int64_t));
    if (!starts)
        return SIZE_MAX;
    for (int64_t s = 0; s < sessions; s++)
        starts[s] = c->start_ts + patterned_offset(c->start_ts, span, &r);
    qsort(starts, (size_t)sessions, sizeof(int64_t), cmp_int64);

    double cdf[MKT_GEN_MAX_CATEGORIES];
    double cdf_total = category_cdf(w, usr, cdf);
    scored_item recent[RECENT_ITEMS];
    int n_recent = 0, recent_next = 0;

    const size_t first = *len;
    size_t n = first;
    int64_t seq = 0, cursor = c->start_ts;
    const int64_t order_base = u * ORDER_SHIFT;
#define EMIT(ts_, item_, type_, qty_, value_)                                                                          \
    do {                                                                                                               \
        mkt_event *e_ = &(*buf)[n++];                                                                                  \
        int64_t t_ = (ts_);                                                                                            \
        e_->ts = t_ < end ? t_ : end - 1;                                                                              \
        e_->order = order_base + seq++;                                                                                \
        e_->value = (value_);                                                                                          \
        e_->user = (int32_t)u;                                                                                         \
        e_->item = (item_);                                                                                            \
        e_->qty = (qty_);                                                                                              \
        e_->type = (type_);                                                                                            \
    } while (0)

    for (int64_t s = 0; s < sessions; s++) {
        int64_t t = starts[s] > cursor ? starts[s] : cursor;
        int64_t views = 1 + mkt_rng_poisson(&r, VIEWS_PER_SESSION_EXTRA);
        if (views > MAX_VIEWS_PER_SESSION)
            views = MAX_VIEWS_PER_SESSION;
        if (reserve(buf, cap, n + (size_t)views * EVENTS_PER_VIEW_MAX) != 0) {
            if (starts != small)
                free(starts);
            return SIZE_MAX;
        }
        int cat = pick_category(w, cdf, cdf_total, &r);
        for (int64_t v = 0; v < views; v++) {
            if (v > 0 && mkt_rng_uniform(&r) < CATEGORY_SWITCH_P)
                cat = pick_category(w, cdf, cdf_total, &r);
            scored_item it;
            if (n_recent > 0 && mkt_rng_uniform(&r) < REVISIT_P) {
                it = recent[mkt_rng_below(&r, (uint64_t)n_recent)];
            } else {
                it = pick_item(w, usr, cat, &r);
                recent[recent_next] = it;
                recent_next = (recent_next + 1) % RECENT_ITEMS;
                if (n_recent < RECENT_ITEMS)
                    n_recent++;
            }
            EMIT(t, it.item, MKT_EV_VIEW, 1, 0.0);
            int clicked = mkt_rng_uniform(&r) < sigmoid(CLICK_INTERCEPT + FUNNEL_SLOPE * it.score);
            if (clicked) {
                t += 1 + (int64_t)mkt_rng_below(&r, 30);
                EMIT(t, it.item, MKT_EV_CLICK, 1, 0.0);
            }
            if (mkt_rng_uniform(&r) < sigmoid(FAV_INTERCEPT + FUNNEL_SLOPE * it.affinity)) {
                t += 1 + (int64_t)mkt_rng_below(&r, 10);
                EMIT(t, it.item, MKT_EV_FAV, 1, 0.0);
            }
            if (clicked && mkt_rng_uniform(&r) < sigmoid(CART_INTERCEPT + FUNNEL_SLOPE * it.score)) {
                int32_t qty = (int32_t)(1 + mkt_rng_poisson(&r, QTY_EXTRA_MEAN));
                t += 5 + (int64_t)mkt_rng_below(&r, 60);
                EMIT(t, it.item, MKT_EV_CART, qty, 0.0);
                if (mkt_rng_uniform(&r) < sigmoid(PURCHASE_INTERCEPT + FUNNEL_SLOPE * it.score)) {
                    t += 10 + (int64_t)mkt_rng_below(&r, 120);
                    EMIT(t, it.item, MKT_EV_PURCHASE, qty, (double)qty * w->price[it.item]);
                }
            }
            t += 5 + (int64_t)mkt_rng_exponential(&r, 1.0 / MEAN_GAP_SECONDS);
        }
        cursor = t;
    }
#undef EMIT
    if (starts != small)
        free(starts);
    *len = n;
    return n - first;
}

/* ---- explicit ratings ---- */

static int cmp_rating(const void *a, const void *b)
{
    const mkt_event *x = a, *y = b;
    if (x->ts != y->ts)
        return (x->ts > y->ts) - (x->ts < y->ts);
    return (x->item > y->item) - (x->item < y->item);
}

/* Open-addressing set of item indices (slots hold item + 1; 0 = empty). */
typedef struct {
    uint32_t *slot;
    size_t mask;
} item_set;

static int item_set_insert(item_set *s, int32_t item) /* 1 if newly inserted */
{
    size_t h = (size_t)mkt_hash64((uint64_t)item) & s->mask;
    while (s->slot[h] != 0) {
        if (s->slot[h] == (uint32_t)item + 1)
            return 0;
        h = (h + 1) & s->mask;
    }
    s->slot[h] = (uint32_t)item + 1;
    return 1;
}

size_t mkt_gen_user_ratings(const mkt_gen_config *c, const mkt_gen_world *w, int64_t u, const mkt_gen_user *usr,
                            mkt_event **buf, size_t *len, size_t *cap)
{
    mkt_rng r;
    mkt_rng_init(&r, c->seed, MKT_STREAM_RATINGS, (uint64_t)u);
    int64_t count = mkt_rng_poisson(&r, c->ratings_per_user);
    if (count > w->items)
        count = w->items;
    if (count > RATING_SEQUENCE_BASE - 1)
        count = RATING_SEQUENCE_BASE - 1;
    if (count == 0)
        return 0;
    if (reserve(buf, cap, *len + (size_t)count) != 0)
        return SIZE_MAX;
    size_t slots = 16;
    while (slots < 2 * (size_t)count)
        slots *= 2;
    item_set chosen = {calloc(slots, sizeof(uint32_t)), slots - 1};
    if (!chosen.slot)
        return SIZE_MAX;

    double cdf[MKT_GEN_MAX_CATEGORIES];
    double cdf_total = category_cdf(w, usr, cdf);
    const int64_t span = (int64_t)c->days * 86400;
    mkt_event *out = *buf + *len;
    for (int64_t j = 0; j < count; j++) {
        /* items the user would look at, as in a session; uniform scan when those are exhausted */
        int32_t item = -1;
        for (int tries = 0; tries < 32 && item < 0; tries++) {
            scored_item it = pick_item(w, usr, pick_category(w, cdf, cdf_total, &r), &r);
            if (item_set_insert(&chosen, it.item))
                item = it.item;
        }
        if (item < 0) {
            int64_t i = (int64_t)mkt_rng_below(&r, (uint64_t)w->items);
            while (!item_set_insert(&chosen, (int32_t)i))
                i = (i + 1) % w->items;
            item = (int32_t)i;
        }
        mkt_event *e = &out[j];
        e->ts = c->start_ts + (int64_t)mkt_rng_below(&r, (uint64_t)span);
        e->value = mkt_gen_rating_mean(w, usr, item) + c->rating_noise * mkt_rng_normal(&r);
        e->user = (int32_t)u;
        e->item = item;
        e->qty = 1;
        e->type = MKT_EV_RATING;
    }
    free(chosen.slot);
    qsort(out, (size_t)count, sizeof(mkt_event), cmp_rating);
    for (int64_t j = 0; j < count; j++)
        out[j].order = u * ORDER_SHIFT + RATING_SEQUENCE_BASE + j;
    *len += (size_t)count;
    return (size_t)count;
}

/* ---- campaign ---- */

void mkt_gen_campaign_truth(const mkt_gen_user *usr, double conversion[MKT_GEN_TREATMENTS],
                            double spend_if_converted[MKT_GEN_TREATMENTS])
{
    const double ps = usr->attrs[MKT_GEN_ATTR_PRICE_SENSITIVITY];
    const double loyalty = usr->attrs[MKT_GEN_ATTR_LOYALTY];
    const double is_new = usr->attrs[MKT_GEN_ATTR_IS_NEW];
    const double remote = usr->attrs[MKT_GEN_ATTR_REGION_REMOTE];
    const double log_activity = log(usr->activity);
    const double loyal_active = (loyalty >= LOYAL_THRESHOLD && usr->activity >= 1.0) ? 1.0 : 0.0;

    double logit0 = CAMPAIGN_INTERCEPT + CAMPAIGN_LOYALTY * loyalty + CAMPAIGN_LOG_ACTIVITY * log_activity;
    double lift[MKT_GEN_TREATMENTS];
    lift[MKT_GEN_CONTROL] = 0.0;
    lift[MKT_GEN_COUPON5] = COUPON_NEW_LOGIT * is_new + COUPON_LOYAL_LOGIT * loyal_active;
    lift[MKT_GEN_FREE_SHIPPING] = FREE_SHIPPING_LOGIT * remote;
    lift[MKT_GEN_PCT10] = PCT10_LOGIT * ps * ps;
    for (int t = 0; t < MKT_GEN_TREATMENTS; t++)
        conversion[t] = sigmoid(logit0 + lift[t]);

    /* spend | conversion = X, X lognormal(m, s^2); E[X] = exp(m + s^2/2) */
    const double m = SPEND_LOG_BASE + SPEND_LOG_ACTIVITY * log_activity + SPEND_LOYALTY * loyalty;
    const double s = SPEND_LOG_SD;
    const double mean_x = exp(m + 0.5 * s * s);
    spend_if_converted[MKT_GEN_CONTROL] = mean_x;
    spend_if_converted[MKT_GEN_FREE_SHIPPING] = mean_x;
    spend_if_converted[MKT_GEN_PCT10] = PCT10_FACTOR * mean_x;
    /* E[max(X - a, 0)] = E[X] Phi(d1) - a Phi(d2), d1 = (m + s^2 - log a)/s, d2 = d1 - s */
    const double d1 = (m + s * s - log(COUPON_AMOUNT)) / s;
    spend_if_converted[MKT_GEN_COUPON5] = mean_x * normal_cdf(d1) - COUPON_AMOUNT * normal_cdf(d1 - s);
}

int mkt_gen_user_campaign(const mkt_gen_config *c, const mkt_gen_world *w, int64_t u, const mkt_gen_user *usr,
                          mkt_campaign_row *row, double base_conversion_out[1],
                          double effect_conversion[MKT_GEN_TREATMENTS - 1], double effect_spend[MKT_GEN_TREATMENTS - 1])
{
    (void)w;
    double conversion[MKT_GEN_TREATMENTS], spend[MKT_GEN_TREATMENTS];
    mkt_gen_campaign_truth(usr, conversion, spend);
    base_conversion_out[0] = conversion[0];
    for (int t = 1; t < MKT_GEN_TREATMENTS; t++) {
        effect_conversion[t - 1] = conversion[t] - conversion[0];
        effect_spend[t - 1] = conversion[t] * spend[t] - conversion[0] * spend[0];
    }

    /* draws, always all of them and in this order */
    mkt_rng r;
    mkt_rng_init(&r, c->seed, MKT_STREAM_CAMPAIGN, (uint64_t)u);
    double u_in = mkt_rng_uniform(&r);
    int t = (int)mkt_rng_below(&r, MKT_GEN_TREATMENTS);
    double u_convert = mkt_rng_uniform(&r);
    double u_visit = mkt_rng_uniform(&r);
    double z = mkt_rng_normal(&r);
    double u_target = mkt_rng_uniform(&r); /* drawn last: the randomized draws above are unchanged */

    const double loyalty = usr->attrs[MKT_GEN_ATTR_LOYALTY];
    if (c->targeting_bias > 0) {
        /* observational campaign: the shop targets by loyalty, which also
         * raises the base conversion; targeted users get one of the
         * promotions (uniformly), the others are the untargeted comparison
         * group (arm 0) */
        double p = sigmoid(c->targeting_bias * (2.0 * loyalty - 1.0));
        t = u_target < p ? 1 + (int)(u_target / p * (MKT_GEN_TREATMENTS - 1)) : MKT_GEN_CONTROL;
        if (t >= MKT_GEN_TREATMENTS)
            t = MKT_GEN_TREATMENTS - 1;
    }
    const double log_activity = log(usr->activity);
    int converted = u_convert < conversion[t];
    double x = exp(SPEND_LOG_BASE + SPEND_LOG_ACTIVITY * log_activity + SPEND_LOYALTY * loyalty + SPEND_LOG_SD * z);
    double paid = t == MKT_GEN_PCT10     ? PCT10_FACTOR * x
                  : t == MKT_GEN_COUPON5 ? (x > COUPON_AMOUNT ? x - COUPON_AMOUNT : 0.0)
                                         : x;

    memset(row, 0, sizeof *row);
    row->user = (int32_t)u;
    row->order = u;
    row->treatment = t;
    row->conversion = converted;
    row->visit = converted || u_visit < VISIT_BASE + VISIT_LOYALTY * loyalty;
    row->spend = converted ? paid : 0.0;
    return u_in < c->campaign_share;
}
