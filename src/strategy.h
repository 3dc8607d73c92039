/* strategy.h — the pure arithmetic of `mkt strategy`: what a promotion is
 * expected to earn and cost for one user, who may receive it, which one a
 * user gets under a Lagrange multiplier on cost, the bisection of that
 * multiplier, personalised prices, category-diverse top-K lists, message
 * templates, CSV quoting and bootstrap helpers.
 *
 * The economic model (docs/strategy.md): for arm t against control, with
 * predicted base conversion p0, base spend r0 (net of discounts, as in the
 * campaign log), uplifts dconv and dspend, margin rate m on gross sales:
 *     p_t = p0 + dconv, r_t = r0 + dspend            (clamped to >= 0 / [0, 1])
 *     discount D  = percent: redeem * r_t * P / (100 - P); coupon: redeem * p_t * V
 *     other cost F = shipping: redeem * p_t * V; contact: V (per user); + contact_cost
 *     cost = D + F
 *     incremental margin = m * (dspend + D)     (margin on incremental gross sales)
 *     incremental profit = margin - cost
 *
 * Must not: talk MPI, touch files or print.  Everything is a deterministic
 * function of its arguments. */
#ifndef MKT_STRATEGY_H
#define MKT_STRATEGY_H

#include <stddef.h>
#include <stdint.h>

/* Stream purposes of the bootstrap weights over users and of the weights of
 * the model refits (rng.h streams are named by them). */
#define STRAT_STREAM_BOOTSTRAP 0x5354524154ULL
#define STRAT_STREAM_REFIT 0x5354524652ULL

/* ---------- the policy's hyper-parameters ---------- */

/* The text defaults (the option tables of `mkt strategy` print them). */
#define STRAT_DEFAULT_SPEND_EFFECT "conversion"
#define STRAT_DEFAULT_PRICING "elasticity"
#define STRAT_DEFAULT_TEMPLATE "Picked for you: {items}. {discount}"

/* The policy's hyper-parameters: strat_config_defaults sets every one,
 * strat_check_config checks them. */
typedef struct {
    double budget;                  /* total expected promotion cost allowed; INFINITY: no limit; NAN: not given */
    int k, max_per_category;        /* items per user; at most this many of one category (0: no limit) */
    double min_days_since_purchase; /* no promotion to users who bought in the last X days (0: no rule) */
    double min_margin;              /* minimum margin rate of a redeemed order after the promotion */
    double shipping_cost, contact_cost;
    double margin_rate;             /* < 0: from the catalogue (1 - sum cost / sum price) */
    const char *spend_effect;       /* "conversion" (order value x conversion uplift) or "model" */
    const char *pricing;            /* "elasticity" or "interest" */
    double min_factor, max_factor, interest_k;
    const char *template_text, *template_none; /* template_none NULL: template_text */
    int bootstrap, curve_points, max_steps;
    int shrunk;                     /* 1: refit the effect model on every campaign row and shrink
                                     * each user's effects (empirical Bayes); 0: /models/uplift as is */
    int refits;                     /* refits of the effect model (shrinkage, intervals) */
    uint64_t seed;                  /* of the refit and bootstrap weights */
} strat_config;

/* The defaults of every field: budget NAN (it must be given), k 5, two items
 * per category, shrunk effects with 30 refits, elasticity pricing in [0.8,
 * 1.2] x the list price, 100 bootstrap replicates, ... (docs/strategy.md). */
void strat_config_defaults(strat_config *c);
/* NULL if c is usable, else a message that starts with the bad field's
 * name (its job-file key), e.g. "budget: must be a number >= 0 (got -5)";
 * a missing budget gives "--budget B is required (...)".  The message lives
 * in a thread-local buffer, valid until the next call on the same thread. */
const char *strat_check_config(const strat_config *c);
/* The budget text of the command line: "inf" or "none" (no limit) or a
 * number >= 0.  NULL, or a message naming budget. */
const char *strat_parse_budget(const char *text, double *budget);
/* The effects mode: "shrunk" (*shrunk = 1) or "model" (0).  NULL, or a
 * message naming effects. */
const char *strat_parse_effects(const char *text, int *shrunk);

/* ---------- promotion costs ---------- */

typedef enum {
    STRAT_COST_PERCENT = 0,  /* value % off the basket of every redeemed order */
    STRAT_COST_COUPON = 1,   /* value off every redeemed order */
    STRAT_COST_SHIPPING = 2, /* the shop pays value per redeemed order (not a price cut) */
    STRAT_COST_CONTACT = 3   /* value per user sent the promotion (e.g. a mailing) */
} strat_cost_kind;

typedef struct {
    int kind;      /* strat_cost_kind */
    double value;  /* percent, currency units per order, or per user */
    double redeem; /* share of converters under the arm who redeem it, (0, 1] */
} strat_arm_cost;

/* The cost of arm `arm`: from `specs` ("NAME=KIND:VALUE[:REDEEM],..." with
 * KIND percent|coupon|shipping|contact; may be NULL or empty) or, when the arm
 * is not listed, derived from its name: "pct10"/"10pct"/"percent10" -> percent
 * 10, "coupon5"/"5off" -> coupon 5, anything with "ship" -> shipping
 * `shipping_cost`.  Returns 0, or -1 with a message in err naming the arm or
 * the bad entry. */
int strat_arm_cost_parse(const char *specs, const char *arm, double shipping_cost, strat_arm_cost *out, char *err,
                         size_t errlen);
/* "10% off", "5.00 off", "free shipping", or the arm name (contact). */
void strat_discount_text(const strat_arm_cost *c, const char *arm, char *buf, size_t len);

typedef struct {
    double margin_rate;  /* m: margin on gross (list-price) sales, in [0, 1) */
    double contact_cost; /* cost per treated user on top of the arm's own */
} strat_econ;

/* What one arm is expected to do for one user, incremental against control. */
typedef struct {
    double dconv;        /* conversions */
    double drev;         /* revenue = spend net of discounts */
    double margin;       /* margin on incremental gross sales */
    double cost;         /* promotion cost: discounts given + other costs */
    double profit;       /* margin - cost */
    double margin_after; /* margin rate of a redeemed order after the promotion (-inf: undefined) */
} strat_arm_value;

/* Predicted value of arm c for a user with base conversion p0 and base spend
 * r0 and predicted uplifts dconv, dspend. */
void strat_arm_value_eval(const strat_econ *e, const strat_arm_cost *c, double p0, double r0, double dconv,
                          double dspend, strat_arm_value *out);
/* The same when the spend effect is taken from the conversion effect: every
 * incremental conversion brings a basket of gross value V (the user's
 * expected order value), so incremental gross sales = (p_t - p0) * V and the
 * discount is computed on the gross basket p_t * V of the arm. */
void strat_arm_value_eval_conv(const strat_econ *e, const strat_arm_cost *c, double p0, double V, double dconv,
                               strat_arm_value *out);
/* The value under a known truth (`mkt gen`): conversion p0 / pt, expected
 * gross basket per converter M (arm-independent), expected amount paid per
 * converter under t, st.  The discount given is pt * (M - st); shipping and
 * contact costs follow c. */
void strat_arm_value_truth(const strat_econ *e, const strat_arm_cost *c, double p0, double pt, double M, double st,
                           strat_arm_value *out);
/* Profit of one observed campaign row (level, not incremental): control
 * (c == NULL) m * spend; arm c: m * (spend + D) - D - F with the discount D
 * and per-order costs of a converter (converted != 0) under c. */
double strat_realized_profit(const strat_econ *e, const strat_arm_cost *c, int converted, double spend);

/* Empirical Bayes shrinkage of per-user effects: with signal_var the
 * variance of the true effects across users (the spread of the predictions
 * minus the mean noise variance) and noise_var the variance of one user's
 * prediction over refits of the model on resampled data, the weight
 * signal / (signal + noise) in [0, 1] (1 when there is no noise, 0 when
 * there is no signal).  strat_shrink moves a prediction that far from the
 * arm mean toward it: the posterior mean under a normal prior, which is
 * not inflated when users are picked by their shrunk effects. */
double strat_shrink_factor(double signal_var, double noise_var);
/* mean + k * (tau - mean). */
static inline double strat_shrink(double tau, double mean, double k) { return mean + k * (tau - mean); }

/* ---------- eligibility and choice ---------- */

/* 1 if a promotion may be sent: the user did not buy in the last
 * min_days days (days_since_purchase: +inf if never; min_days <= 0: no rule)
 * and the order margin after the promotion is at least min_margin. */
int strat_eligible(double days_since_purchase, double min_days, double margin_after, double min_margin);

/* The arm (0..narms-1) with the largest profit - lambda * cost among the
 * eligible ones whose value is > 0; ties go to the lower index; -1: none. */
int strat_choose(const double *profit, const double *cost, const unsigned char *eligible, int narms, double lambda);

/* Bisection of a non-increasing total cost C(lambda) for the smallest lambda
 * in [0, hi] with C(lambda) <= budget.  cost_at is called once per step (in
 * mkt_strategy it is one allreduce); C(0) first: if it fits, returns 0.
 * C(hi) must fit.  Stops after max_steps or when the interval no longer
 * shrinks; *steps receives the number of calls.  Returns the feasible end. */
double strat_bisect(double (*cost_at)(double lambda, void *ctx), void *ctx, double budget, double hi, int max_steps,
                    int *steps);

/* ---------- items (src/strategy_topk.c) and prices ---------- */

/* The k best-scored items (score descending, ties to the lower index, NaN
 * below every number: the order of mkt_topk), skipping exclude[i] != 0 (may
 * be NULL), at most max_per_cat of one category (category[i] in [0, ncat);
 * other values are not limited; max_per_cat <= 0: no limit).  Writes
 * indices to out, returns how many (< k when the catalogue runs out or the
 * limits cannot be filled).  The list is what taking items best first and
 * skipping those whose category is full gives, found in one pass: the
 * best min(max_per_cat, k) of each category and the best k of the unlimited
 * items in bounded heaps, then the best k of their union; O(n log k). */
int strat_topk_diverse(const double *score, int64_t n, const unsigned char *exclude, const int32_t *category,
                       int ncat, int max_per_cat, int k, int32_t *out);
/* The same list by the former method (an insertion-sorted top 4k, doubled
 * until k items pass the limits or the whole catalogue is sorted: O(n^2)
 * when the limits cannot be filled); kept as the reference of tests and of
 * bench/strategy_speed.sh.  No NaN scores. */
int strat_topk_diverse_reference(const double *score, int64_t n, const unsigned char *exclude,
                                 const int32_t *category, int ncat, int max_per_cat, int k, int32_t *out);

/* The item side of the MF model for strat_mf_topk. */
typedef struct {
    const double *q;         /* [I x K] item factors */
    const double *bi;        /* [I] item biases (NULL: 0) */
    int64_t nitems;          /* I */
    int K;
    double mu;               /* global mean */
    const int32_t *category; /* [I] (NULL: no limit) */
    int ncat, max_per_cat;   /* as strat_topk_diverse */
} strat_mf_items;

/* What strat_mf_topk did. */
typedef struct {
    int64_t users_screened; /* lists found from the blocked products */
    int64_t users_exact;    /* lists from every item scored exactly (values out of the screen's range) */
    int64_t rescored;       /* items scored exactly after the screen, all users */
} strat_mf_stats;

/* The top-k list of each of n users under the MF score
 *     s(u, i) = ((mu + bu[u]) + bi[i]) + p_u1 q_i1 + ... + p_uK q_iK
 * (evaluated in exactly that order, in doubles), without the items
 * ex_item[ex_ptr[u] .. ex_ptr[u + 1]) (any order, duplicates allowed), with
 * the category limits of strat_topk_diverse: items[u k + j] (-1 padding) and
 * scores[u k + j] (0 padding).  The result is that of strat_topk_diverse on
 * every score computed as above, bit for bit: the scores of a block of users
 * against a tile of items come from one cblas_sgemm (float32); with a bound E on how
 * far such a product can be from s(u, i) (docs/strategy.md), an item is kept
 * only when its product reaches the running threshold of its category minus
 * 2E, and the few kept are scored exactly and selected.  Returns 0, or -1
 * when out of memory.  st may be NULL. */
int strat_mf_topk(const strat_mf_items *m, const double *p, const double *bu, int64_t n, const int64_t *ex_ptr,
                  const int32_t *ex_item, int k, int64_t *items, double *scores, strat_mf_stats *st);

/* Margin-maximizing price under constant elasticity e < -1: cost * e / (1 + e),
 * clamped to [min_factor, max_factor] * base.  e >= -1 (inelastic demand):
 * max_factor * base.  NaN e: NaN (the caller falls back). */
double strat_price_elasticity(double base, double unit_cost, double e, double min_factor, double max_factor);
/* base + k * (1 - interest / max_interest) (the ratio clamped to [0, 1], 1
 * when max_interest <= 0), clamped to [min_factor, max_factor] * base. */
double strat_price_interest(double base, double interest, double max_interest, double k, double min_factor,
                            double max_factor);

/* ---------- messages ---------- */

typedef struct {
    const char *user, *segment, *arm, *discount; /* arm "none" and discount "" without a promotion */
    int nitems;
    const char *const *items; /* item names, nitems */
    const double *prices;     /* nitems */
} strat_msg;

/* Placeholders: {user} {segment} {arm} {discount} {items} {item1}..{itemK}
 * {price1}..{priceK}; "{{" and "}}" are literal braces.  Returns 0, or -1
 * with a message naming the bad placeholder (unknown, or an index above k). */
int strat_template_check(const char *tmpl, int k, char *err, size_t errlen);
/* Render into out (cap bytes, cap >= 1): the text is copied byte by byte,
 * never used as a format; control characters in the template and in the
 * values become spaces; trailing spaces are dropped; a result longer than
 * cap - 1 is cut at a UTF-8 character boundary.  Returns the length. */
size_t strat_render(const char *tmpl, const strat_msg *m, char *out, size_t cap);

/* ---------- text output ---------- */

typedef struct {
    char *p;
    size_t len, cap;
} strat_buf;

void strat_buf_add(strat_buf *b, const char *s, size_t n);
void strat_buf_str(strat_buf *b, const char *s);
/* A number with %.*f or %.17g (digits < 0). */
void strat_buf_num(strat_buf *b, double v, int digits);
/* An RFC 4180 field: quoted (quotes doubled) when it holds , " CR or LF or
 * starts/ends with a space. */
void strat_buf_csv(strat_buf *b, const char *s);
void strat_buf_free(strat_buf *b);

/* ---------- bootstrap ---------- */

/* Poisson(1) weights of user `user` in replicates 0..reps-1, from stream
 * (seed, STRAT_STREAM_BOOTSTRAP, user): the same on any rank count. */
void strat_bootstrap_weights(uint64_t seed, int64_t user, int reps, int32_t *w);
/* Poisson(1) weights of user `user` in the model refits 0..reps-1, from
 * stream (seed, STRAT_STREAM_REFIT, user), capped at 255. */
void strat_refit_weights(uint64_t seed, int64_t user, int reps, uint8_t *w);
/* The q-quantile (0..1) of v[0..n) with linear interpolation; sorts v.  NaN if n = 0. */
double strat_quantile(double *v, int n, double q);
/* A 95% interval for the value estimated as `point` from n replicate values
 * v (each the same quantity under one refit of the models): point minus
 * the 97.5% and 2.5% quantiles of the replicates' deviations from their
 * mean (the basic bootstrap interval, centred on point).  Sorts v; NaN
 * bounds when fewer than 2 values are finite. */
void strat_replicate_interval(double point, double *v, int n, double *lo, double *hi);

#endif
