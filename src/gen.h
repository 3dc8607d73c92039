/* gen.h — the synthetic shop of `mkt gen`: a model with a planted truth.
 *
 * Owns: the generative model (items, users, behaviour events, explicit
 * ratings, a randomized promotion campaign) and its closed-form truth (taste
 * vectors, item factors, biases, per-user treatment effects).  docs/gen.md is
 * the prose version with every parameter and formula.
 *
 * Rank independence: every random number comes from a counter-based stream of
 * rng.h named by (seed, purpose, index): item i from MKT_STREAM_ITEMS/i, user
 * u's attributes from MKT_STREAM_USERS/u, u's events from
 * MKT_STREAM_USER_EVENTS/u, u's ratings from MKT_STREAM_RATINGS/u, u's campaign
 * row from MKT_STREAM_CAMPAIGN/u, world-wide parameters from
 * MKT_STREAM_GLOBAL/0.  Nothing depends on which users were generated before,
 * so any block of users can be generated on any rank.
 *
 * Must not: call MPI, touch files or print.  It allocates (the world, the
 * caller's growable event buffer, small per-user scratch). */
#ifndef MKT_GEN_H
#define MKT_GEN_H

#include <stddef.h>
#include <stdint.h>

#include "mkt_types.h"

typedef struct {
    int64_t users, items;
    int days;
    uint64_t seed;
    int factors;              /* latent dimension K, default 8 */
    int categories;           /* default 20 */
    int brands;               /* default 50 */
    double sessions_per_user; /* mean sessions over the whole period, default 4 */
    double ratings_per_user;  /* explicit ratings: mean ratings per user, default 20; 0 = none */
    double rating_noise;      /* planted noise sigma of ratings, default 0.5 */
    double campaign_share;    /* share of users in the randomized campaign, default 1.0 */
    double targeting_bias;    /* 0: randomized arms; > 0: targeted by loyalty (mkt_gen_user_campaign) */
    int64_t start_ts;         /* first second of the period, default 2026-01-01 00:00:00 UTC */
} mkt_gen_config;

/* Limits enforced by mkt_gen_check. */
#define MKT_GEN_MAX_FACTORS 1024
#define MKT_GEN_MAX_CATEGORIES 1000
#define MKT_GEN_MAX_DAYS 36600

void mkt_gen_config_defaults(mkt_gen_config *c);
/* NULL if the configuration is usable, else a message naming the bad field,
 * e.g. "users must be >= 1 (got 0)".  The message lives in a thread-local
 * buffer, valid until the next call on the same thread. */
const char *mkt_gen_check(const mkt_gen_config *c);

/* Campaign arms: 0 "control", 1 "coupon5" a fixed 5-unit coupon, 2
 * "free_shipping", 3 "pct10" 10% off the basket.  The arms after control are
 * in sorted name order, the order `mkt ingest` gives them, so a generated
 * store and the ingest of its CSV files code treatments alike. */
#define MKT_GEN_TREATMENTS 4
enum { MKT_GEN_CONTROL = 0, MKT_GEN_COUPON5 = 1, MKT_GEN_FREE_SHIPPING = 2, MKT_GEN_PCT10 = 3 };
extern const char *const mkt_gen_treatment_names[MKT_GEN_TREATMENTS];

/* User attributes, all numbers: price_sensitivity in [0,1), loyalty in [0,1),
 * tenure_years >= 0, is_new (0/1: tenure below half a year), region_remote
 * (0/1), age_band (0..5; affects nothing, a nuisance covariate). */
#define MKT_GEN_USER_ATTRS 6
enum {
    MKT_GEN_ATTR_PRICE_SENSITIVITY = 0,
    MKT_GEN_ATTR_LOYALTY = 1,
    MKT_GEN_ATTR_TENURE_YEARS = 2,
    MKT_GEN_ATTR_IS_NEW = 3,
    MKT_GEN_ATTR_REGION_REMOTE = 4,
    MKT_GEN_ATTR_AGE_BAND = 5
};
extern const char *const mkt_gen_user_attr_names[MKT_GEN_USER_ATTRS];

/* Everything item-side; mkt_gen_world_build makes the same world on every rank. */
typedef struct {
    int64_t items;
    int factors, categories, brands;
    double *item_factors; /* items x factors, row-major */
    double *item_bias;    /* items */
    double *price, *cost; /* items; 0 < cost < price, both whole cents */
    int32_t *category, *brand, *stock;
    double *category_factors; /* categories x factors, row-major */
    double global_mean;       /* mu of the explicit ratings */
    /* for sampling */
    double *log_price_rel;   /* items: log(price / MKT_GEN_REFERENCE_PRICE) */
    int64_t *category_start; /* categories + 1: items of category c are */
    int32_t *category_items; /* category_items[category_start[c] .. category_start[c+1]), ascending */
} mkt_gen_world;

/* The price at which the price term of the choice score is zero. */
#define MKT_GEN_REFERENCE_PRICE 20.0

/* 0 on success, -1 if out of memory (w is then empty).  c must pass mkt_gen_check. */
int mkt_gen_world_build(const mkt_gen_config *c, mkt_gen_world *w);
void mkt_gen_world_free(mkt_gen_world *w);

typedef struct {
    double *taste;   /* caller's buffer of `factors` doubles, filled by mkt_gen_user_draw */
    double bias;     /* rating bias */
    double activity; /* session-rate multiplier, mean 1 over users */
    double attrs[MKT_GEN_USER_ATTRS];
} mkt_gen_user;

/* Fills *out (taste into out->taste, which the caller points at K doubles). */
void mkt_gen_user_draw(const mkt_gen_config *c, const mkt_gen_world *w, int64_t u, mkt_gen_user *out);

/* Appends user u's behaviour events (view, click, fav, cart, purchase) sorted
 * by ts (ties in generation order) to the growable buffer (*buf, *len, *cap;
 * realloc'ed as needed) and returns the number appended.  order = u * 2^24 +
 * sequence (sequence < 2^23); value = qty * price for purchases, else 0; qty
 * >= 1 for carts and purchases, 1 otherwise.  On allocation failure returns
 * SIZE_MAX and leaves *len unchanged. */
size_t mkt_gen_user_events(const mkt_gen_config *c, const mkt_gen_world *w, int64_t u, const mkt_gen_user *usr,
                           mkt_event **buf, size_t *len, size_t *cap);

/* Explicit ratings: MKT_EV_RATING events on distinct items, sorted by ts,
 * value = mkt_gen_rating_mean(...) + N(0, rating_noise^2), neither rounded nor
 * clipped.  order = u * 2^24 + 2^23 + sequence, so ratings never tie with
 * behaviour events.  Return value and buffer as mkt_gen_user_events. */
size_t mkt_gen_user_ratings(const mkt_gen_config *c, const mkt_gen_world *w, int64_t u, const mkt_gen_user *usr,
                            mkt_event **buf, size_t *len, size_t *cap);

/* The planted mean rating of user usr on item i: global_mean + user bias +
 * item bias + taste . item_factor. */
double mkt_gen_rating_mean(const mkt_gen_world *w, const mkt_gen_user *usr, int64_t item);

/* The campaign for user u.  Fills *row (user = u, order = u, the randomized
 * treatment, sampled visit/conversion/spend) and the exact truth:
 * base_conversion_out[0] = P(convert | control), effect_conversion[t-1] =
 * P(convert | t) - P(convert | control), effect_spend[t-1] = E[spend | t] -
 * E[spend | control] for t = 1..3.  Row and truth are filled for every user;
 * returns 1 if u is in the campaign (share campaign_share), else 0. */
int mkt_gen_user_campaign(const mkt_gen_config *c, const mkt_gen_world *w, int64_t u, const mkt_gen_user *usr,
                          mkt_campaign_row *row, double base_conversion_out[1],
                          double effect_conversion[MKT_GEN_TREATMENTS - 1],
                          double effect_spend[MKT_GEN_TREATMENTS - 1]);

/* The closed forms behind mkt_gen_user_campaign, for every arm t = 0..3:
 * conversion[t] = P(convert | t), spend_if_converted[t] = E[spend | convert, t].
 * Depends only on the user's attributes and activity. */
void mkt_gen_campaign_truth(const mkt_gen_user *usr, double conversion[MKT_GEN_TREATMENTS],
                            double spend_if_converted[MKT_GEN_TREATMENTS]);

#endif
