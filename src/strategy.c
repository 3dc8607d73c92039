/* strategy.c — the pure arithmetic of `mkt strategy` (see strategy.h and
 * docs/strategy.md): per-arm expected profit and cost, eligibility, the
 * choice under a Lagrange multiplier and its bisection, prices, message
 * templates, CSV quoting and bootstrap helpers (the item lists:
 * strategy_topk.c).
 *
 * Must not: talk MPI, touch files or print. */
#include "strategy.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "check_message.h"
#include "parse.h"
#include "rng.h"

static double clamp(double x, double lo, double hi) { return x < lo ? lo : (x > hi ? hi : x); }

/* ---------- the policy's hyper-parameters ---------- */

void strat_config_defaults(strat_config *c)
{
    memset(c, 0, sizeof *c);
    c->budget = NAN;
    c->k = 5;
    c->max_per_category = 2;
    c->shipping_cost = 5;
    c->margin_rate = -1;
    c->spend_effect = STRAT_DEFAULT_SPEND_EFFECT;
    c->pricing = STRAT_DEFAULT_PRICING;
    c->min_factor = 0.8;
    c->max_factor = 1.2;
    c->interest_k = -1;
    c->template_text = STRAT_DEFAULT_TEMPLATE;
    c->bootstrap = 100;
    c->curve_points = 20;
    c->max_steps = 100;
    c->shrunk = 1;
    c->refits = 30;
    c->seed = 1;
}

static _Thread_local char check_message[600];

#define CHECK(cond, ...) MKT_CHECK_MSG(check_message, cond, __VA_ARGS__)

const char *strat_check_config(const strat_config *c)
{
    CHECK(!isnan(c->budget), "--budget B is required (total expected promotion cost; inf: no limit)");
    CHECK(c->budget >= 0, "budget: must be a number >= 0 (got %g)", c->budget);
    CHECK(c->k >= 1, "k: must be >= 1 (got %d)", c->k);
    CHECK(c->max_per_category >= 0, "max_per_category: must be >= 0 (got %d)", c->max_per_category);
    CHECK(!(c->min_days_since_purchase < 0), "min_days_since_purchase: must be >= 0 (got %g)",
          c->min_days_since_purchase);
    CHECK(!(c->shipping_cost < 0), "shipping_cost: must be >= 0 (got %g)", c->shipping_cost);
    CHECK(!(c->contact_cost < 0), "contact_cost: must be >= 0 (got %g)", c->contact_cost);
    CHECK(c->min_factor > 0 && c->min_factor <= c->max_factor,
          "min_factor: price bounds need 0 < min_factor <= max_factor (got %g, %g)", c->min_factor, c->max_factor);
    CHECK(c->pricing && (!strcmp(c->pricing, "elasticity") || !strcmp(c->pricing, "interest")),
          "pricing: must be elasticity or interest, not '%s'", c->pricing ? c->pricing : "");
    CHECK(c->spend_effect && (!strcmp(c->spend_effect, "conversion") || !strcmp(c->spend_effect, "model")),
          "spend_effect: must be conversion or model, not '%s'", c->spend_effect ? c->spend_effect : "");
    CHECK(c->margin_rate < 1, "margin_rate: must be below 1 (negative: from the catalogue)");
    CHECK(c->bootstrap >= 0, "bootstrap: must be >= 0 (got %d)", c->bootstrap);
    CHECK(c->curve_points >= 2, "curve_points: must be >= 2 (got %d)", c->curve_points);
    CHECK(c->max_steps >= 2, "bisection_steps: must be >= 2 (got %d)", c->max_steps);
    CHECK(c->refits >= 2, "refits: must be >= 2 (got %d)", c->refits);
    char err[512];
    CHECK(c->template_text, "template: missing");
    CHECK(strat_template_check(c->template_text, c->k, err, sizeof err) == 0, "%s", err);
    CHECK(!c->template_none || strat_template_check(c->template_none, c->k, err, sizeof err) == 0,
          "template_none: %s", err);
    return NULL;
}

const char *strat_parse_budget(const char *text, double *budget)
{
    if (text && (!strcmp(text, "inf") || !strcmp(text, "none"))) {
        *budget = INFINITY;
        return NULL;
    }
    double v = NAN;
    CHECK(text && mkt_parse_double(text, &v) == 0 && v >= 0, "budget: must be a number >= 0 or inf, not '%s'",
          text ? text : "");
    *budget = v;
    return NULL;
}

const char *strat_parse_effects(const char *text, int *shrunk)
{
    CHECK(text && (!strcmp(text, "shrunk") || !strcmp(text, "model")), "effects: must be shrunk or model, not '%s'",
          text ? text : "");
    *shrunk = strcmp(text, "shrunk") == 0;
    return NULL;
}

/* ---------- promotion costs ---------- */

static int kind_parse(const char *s, size_t n)
{
    static const char *const names[] = {"percent", "coupon", "shipping", "contact"};
    for (int k = 0; k < 4; k++)
        if (strlen(names[k]) == n && strncasecmp(s, names[k], n) == 0)
            return k;
    return -1;
}

/* The first number in s (digits with an optional fraction), -1 if none. */
static double first_number(const char *s)
{
    for (; *s; s++)
        if (isdigit((unsigned char)*s))
            return strtod(s, NULL);
    return -1;
}

static int contains_ci(const char *s, const char *needle)
{
    size_t n = strlen(needle);
    for (; *s; s++)
        if (strncasecmp(s, needle, n) == 0)
            return 1;
    return 0;
}

static int check_cost(const strat_arm_cost *c, const char *arm, char *err, size_t errlen)
{
    if (!isfinite(c->value) || c->value < 0 || (c->kind == STRAT_COST_PERCENT && c->value >= 100)) {
        snprintf(err, errlen, "arm '%s': cost value %g out of range (percent in [0, 100), amounts >= 0)", arm,
                 c->value);
        return -1;
    }
    if (!(c->redeem > 0 && c->redeem <= 1)) {
        snprintf(err, errlen, "arm '%s': redemption share %g must be in (0, 1]", arm, c->redeem);
        return -1;
    }
    return 0;
}

/* Parse the entry [p, p + len) into *name (bounds) and *c. */
static int entry_parse(const char *p, size_t len, const char **name, size_t *name_len, strat_arm_cost *c, char *err,
                       size_t errlen)
{
    const char *eq = memchr(p, '=', len), *rest_end = p + len;
    if (!eq) {
        snprintf(err, errlen, "arm_costs: entry '%.*s' is not NAME=KIND:VALUE[:REDEEM]", (int)len, p);
        return -1;
    }
    const char *nm = p, *nm_end = eq;
    while (nm < nm_end && *nm == ' ')
        nm++;
    while (nm_end > nm && nm_end[-1] == ' ')
        nm_end--;
    *name = nm;
    *name_len = (size_t)(nm_end - nm);
    const char *k = eq + 1;
    while (k < rest_end && *k == ' ')
        k++;
    const char *colon = memchr(k, ':', (size_t)(rest_end - k));
    int kind = colon ? kind_parse(k, (size_t)(colon - k)) : -1;
    if (kind < 0) {
        snprintf(err, errlen, "arm_costs: entry '%.*s': kind must be percent, coupon, shipping or contact", (int)len,
                 p);
        return -1;
    }
    char num[64];
    size_t nl = (size_t)(rest_end - colon - 1);
    if (nl >= sizeof num)
        nl = sizeof num - 1;
    memcpy(num, colon + 1, nl);
    num[nl] = 0;
    char *e1;
    double v = strtod(num, &e1), r = 1.0;
    if (e1 == num) {
        snprintf(err, errlen, "arm_costs: entry '%.*s': no value", (int)len, p);
        return -1;
    }
    if (*e1 == ':') {
        char *e2;
        r = strtod(e1 + 1, &e2);
        if (e2 == e1 + 1) {
            snprintf(err, errlen, "arm_costs: entry '%.*s': no redemption share after the second ':'", (int)len, p);
            return -1;
        }
        e1 = e2;
    }
    while (*e1 == ' ')
        e1++;
    if (*e1) {
        snprintf(err, errlen, "arm_costs: entry '%.*s': trailing text '%s'", (int)len, p, e1);
        return -1;
    }
    c->kind = kind;
    c->value = v;
    c->redeem = r;
    char nbuf[256];
    snprintf(nbuf, sizeof nbuf, "%.*s", (int)*name_len, nm);
    return check_cost(c, nbuf, err, errlen);
}

int strat_arm_cost_parse(const char *specs, const char *arm, double shipping_cost, strat_arm_cost *out, char *err,
                         size_t errlen)
{
    out->redeem = 1.0;
    size_t alen = strlen(arm);
    int found = 0;
    /* every entry is checked, also those of other arms */
    for (const char *p = specs ? specs : ""; *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *name;
        size_t nlen;
        strat_arm_cost c;
        if (entry_parse(p, len, &name, &nlen, &c, err, errlen) != 0)
            return -1;
        if (!found && nlen == alen && memcmp(name, arm, alen) == 0) {
            *out = c;
            found = 1;
        }
        p += len + (end ? 1 : 0);
    }
    if (found)
        return 0;
    /* derived from the name */
    double v = first_number(arm);
    if ((contains_ci(arm, "pct") || contains_ci(arm, "percent") || strchr(arm, '%')) && v >= 0) {
        out->kind = STRAT_COST_PERCENT;
        out->value = v;
    } else if ((contains_ci(arm, "coupon") || contains_ci(arm, "off")) && v >= 0) {
        out->kind = STRAT_COST_COUPON;
        out->value = v;
    } else if (contains_ci(arm, "ship")) {
        out->kind = STRAT_COST_SHIPPING;
        out->value = shipping_cost;
    } else {
        snprintf(err, errlen,
                 "arm '%s': its cost cannot be derived from the name; give it in arm_costs, e.g. "
                 "--arm-costs '%s=contact:0.10' (kinds: percent, coupon, shipping, contact)",
                 arm, arm);
        return -1;
    }
    return check_cost(out, arm, err, errlen);
}

void strat_discount_text(const strat_arm_cost *c, const char *arm, char *buf, size_t len)
{
    switch (c->kind) {
    case STRAT_COST_PERCENT: snprintf(buf, len, "%g%% off", c->value); break;
    case STRAT_COST_COUPON: snprintf(buf, len, "%.2f off", c->value); break;
    case STRAT_COST_SHIPPING: snprintf(buf, len, "free shipping"); break;
    default: snprintf(buf, len, "%s", arm); break;
    }
}

/* Discount and other costs of arm c given conversion p and net spend r under it. */
static void arm_costs(const strat_econ *e, const strat_arm_cost *c, double p, double r, double *disc,
                      double *per_order, double *per_user)
{
    *disc = *per_order = 0;
    *per_user = e->contact_cost;
    switch (c->kind) {
    case STRAT_COST_PERCENT: *disc = c->redeem * r * c->value / (100.0 - c->value); break;
    case STRAT_COST_COUPON: *disc = c->redeem * p * c->value; break;
    case STRAT_COST_SHIPPING: *per_order = c->redeem * p * c->value; break;
    default: *per_user += c->value; break;
    }
}

void strat_arm_value_eval(const strat_econ *e, const strat_arm_cost *c, double p0, double r0, double dconv,
                          double dspend, strat_arm_value *out)
{
    double p = clamp(p0 + dconv, 0.0, 1.0), r = r0 + dspend;
    if (!(r > 0))
        r = 0;
    double disc, per_order, per_user;
    arm_costs(e, c, p, r, &disc, &per_order, &per_user);
    out->dconv = dconv;
    out->drev = dspend;
    out->cost = disc + per_order + per_user;
    out->margin = e->margin_rate * (dspend + disc);
    out->profit = out->margin - out->cost;
    out->margin_after = r > 0 ? (e->margin_rate * (r + disc) - disc - per_order) / r : -INFINITY;
}

void strat_arm_value_eval_conv(const strat_econ *e, const strat_arm_cost *c, double p0, double V, double dconv,
                               strat_arm_value *out)
{
    p0 = clamp(p0, 0.0, 1.0);
    double p = clamp(p0 + dconv, 0.0, 1.0), gross = p * V;
    if (!(V > 0))
        V = gross = 0;
    double disc, per_order, per_user;
    /* arm_costs takes the net spend for a percent discount: r = gross (1 - P/100) */
    double net = c->kind == STRAT_COST_PERCENT ? gross * (1.0 - c->value / 100.0) : gross;
    arm_costs(e, c, p, net, &disc, &per_order, &per_user);
    double dgross = (p - p0) * V;
    out->dconv = p - p0;
    out->drev = dgross - disc;
    out->cost = disc + per_order + per_user;
    out->margin = e->margin_rate * dgross;
    out->profit = out->margin - out->cost;
    out->margin_after = gross - disc > 0 ? (e->margin_rate * gross - disc - per_order) / (gross - disc) : -INFINITY;
}

void strat_arm_value_truth(const strat_econ *e, const strat_arm_cost *c, double p0, double pt, double M, double st,
                           strat_arm_value *out)
{
    double disc, per_order, per_user;
    arm_costs(e, c, pt, pt * st, &disc, &per_order, &per_user);
    disc = pt * (M - st); /* the discount actually given: gross minus paid */
    if (disc < 0)
        disc = 0;
    out->dconv = pt - p0;
    out->drev = pt * st - p0 * M;
    out->cost = disc + per_order + per_user;
    out->margin = e->margin_rate * (pt - p0) * M;
    out->profit = out->margin - out->cost;
    double r = pt * st;
    out->margin_after = r > 0 ? (e->margin_rate * pt * M - disc - per_order) / r : -INFINITY;
}

double strat_realized_profit(const strat_econ *e, const strat_arm_cost *c, int converted, double spend)
{
    if (!c)
        return e->margin_rate * spend;
    double disc, per_order, per_user;
    arm_costs(e, c, converted ? 1.0 : 0.0, converted ? spend : 0.0, &disc, &per_order, &per_user);
    return e->margin_rate * (spend + disc) - disc - per_order - per_user;
}

double strat_shrink_factor(double signal_var, double noise_var)
{
    if (!(noise_var > 0))
        return 1.0;
    if (!(signal_var > 0))
        return 0.0;
    return signal_var / (signal_var + noise_var);
}

/* ---------- eligibility and choice ---------- */

int strat_eligible(double days_since_purchase, double min_days, double margin_after, double min_margin)
{
    if (min_days > 0 && days_since_purchase < min_days)
        return 0;
    return margin_after >= min_margin;
}

int strat_choose(const double *profit, const double *cost, const unsigned char *eligible, int narms, double lambda)
{
    int best = -1;
    double best_v = 0;
    for (int t = 0; t < narms; t++) {
        if (eligible && !eligible[t])
            continue;
        double v = profit[t] - lambda * cost[t];
        if (v > best_v) {
            best_v = v;
            best = t;
        }
    }
    return best;
}

double strat_bisect(double (*cost_at)(double lambda, void *ctx), void *ctx, double budget, double hi, int max_steps,
                    int *steps)
{
    int s = 1;
    if (cost_at(0.0, ctx) <= budget) {
        *steps = s;
        return 0.0;
    }
    double lo = 0.0;
    while (s < max_steps) {
        double mid = lo + 0.5 * (hi - lo);
        if (!(mid > lo && mid < hi))
            break;
        s++;
        if (cost_at(mid, ctx) <= budget)
            hi = mid;
        else
            lo = mid;
    }
    *steps = s;
    return hi;
}

/* ---------- prices ---------- */

double strat_price_elasticity(double base, double unit_cost, double e, double min_factor, double max_factor)
{
    if (isnan(e))
        return NAN;
    double p = e < -1.0 ? unit_cost * e / (1.0 + e) : max_factor * base;
    return clamp(p, min_factor * base, max_factor * base);
}

double strat_price_interest(double base, double interest, double max_interest, double k, double min_factor,
                            double max_factor)
{
    double ratio = max_interest > 0 && isfinite(interest) ? clamp(interest / max_interest, 0.0, 1.0) : 1.0;
    return clamp(base + k * (1.0 - ratio), min_factor * base, max_factor * base);
}

/* ---------- messages ---------- */

/* Placeholder name [s, s + n): 0 fixed name, 1 itemN, 2 priceN (*index = N); -1 unknown. */
static int placeholder(const char *s, size_t n, int *index)
{
    static const char *const fixed[] = {"user", "segment", "arm", "discount", "items"};
    for (int i = 0; i < 5; i++)
        if (strlen(fixed[i]) == n && memcmp(s, fixed[i], n) == 0) {
            *index = i;
            return 0;
        }
    for (int kind = 1; kind <= 2; kind++) {
        const char *word = kind == 1 ? "item" : "price";
        size_t wl = strlen(word);
        if (n > wl && n <= wl + 6 && memcmp(s, word, wl) == 0 && s[wl] != '0') {
            int v = 0;
            size_t j = wl;
            for (; j < n && isdigit((unsigned char)s[j]); j++)
                v = v * 10 + (s[j] - '0');
            if (j == n) {
                *index = v;
                return kind;
            }
        }
    }
    return -1;
}

int strat_template_check(const char *tmpl, int k, char *err, size_t errlen)
{
    for (const char *p = tmpl; *p; p++) {
        if (p[0] == '{' && p[1] == '{') {
            p++;
            continue;
        }
        if (p[0] == '}' && p[1] == '}') {
            p++;
            continue;
        }
        if (*p != '{')
            continue;
        const char *end = strchr(p + 1, '}');
        if (!end) {
            snprintf(err, errlen, "template: '{' at byte %d is never closed (write {{ for a literal brace)",
                     (int)(p - tmpl));
            return -1;
        }
        int idx = 0, kind = placeholder(p + 1, (size_t)(end - p - 1), &idx);
        if (kind < 0) {
            snprintf(err, errlen,
                     "template: unknown placeholder {%.*s} (known: {user} {segment} {arm} {discount} {items} "
                     "{item1}..{item%d} {price1}..{price%d})",
                     (int)(end - p - 1 > 64 ? 64 : end - p - 1), p + 1, k, k);
            return -1;
        }
        if (kind > 0 && (idx < 1 || idx > k)) {
            snprintf(err, errlen, "template: {%.*s} asks for item %d but k = %d", (int)(end - p - 1), p + 1, idx,
                     k);
            return -1;
        }
        p = end;
    }
    return 0;
}

typedef struct {
    char *out;
    size_t cap, len;
    int full;
} render_state;

/* Append bytes, control characters as spaces; stop (cut at a UTF-8 boundary) when full. */
static void put(render_state *st, const char *s, size_t n)
{
    for (size_t i = 0; i < n && !st->full; i++) {
        unsigned char c = (unsigned char)s[i];
        if (st->len + 1 >= st->cap) {
            st->full = 1;
            /* drop a partial UTF-8 sequence at the end */
            size_t j = st->len;
            while (j > 0 && ((unsigned char)st->out[j - 1] & 0xC0) == 0x80)
                j--;
            if (j > 0 && ((unsigned char)st->out[j - 1] & 0xC0) == 0xC0) {
                unsigned char lead = (unsigned char)st->out[j - 1];
                size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
                if (st->len - (j - 1) < need)
                    st->len = j - 1;
            }
            break;
        }
        st->out[st->len++] = (char)((c < 0x20 || c == 0x7f) ? ' ' : c);
    }
}

static void put_str(render_state *st, const char *s) { put(st, s ? s : "", s ? strlen(s) : 0); }

size_t strat_render(const char *tmpl, const strat_msg *m, char *out, size_t cap)
{
    render_state st = {out, cap, 0, 0};
    if (cap == 0)
        return 0;
    for (const char *p = tmpl; *p && !st.full; p++) {
        if ((p[0] == '{' && p[1] == '{') || (p[0] == '}' && p[1] == '}')) {
            put(&st, p, 1);
            p++;
            continue;
        }
        const char *end = p[0] == '{' ? strchr(p + 1, '}') : NULL;
        if (!end) {
            put(&st, p, 1);
            continue;
        }
        int idx = 0, kind = placeholder(p + 1, (size_t)(end - p - 1), &idx);
        if (kind == 0) {
            switch (idx) {
            case 0: put_str(&st, m->user); break;
            case 1: put_str(&st, m->segment); break;
            case 2: put_str(&st, m->arm); break;
            case 3: put_str(&st, m->discount); break;
            default:
                for (int i = 0; i < m->nitems; i++) {
                    if (i)
                        put_str(&st, ", ");
                    put_str(&st, m->items[i]);
                }
            }
        } else if (kind == 1 && idx >= 1 && idx <= m->nitems) {
            put_str(&st, m->items[idx - 1]);
        } else if (kind == 2 && idx >= 1 && idx <= m->nitems) {
            char num[64];
            snprintf(num, sizeof num, "%.2f", m->prices[idx - 1]);
            put_str(&st, num);
        }
        p = end;
    }
    while (st.len > 0 && out[st.len - 1] == ' ')
        st.len--;
    out[st.len] = 0;
    return st.len;
}

/* ---------- text output ---------- */

void strat_buf_add(strat_buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (b->len + n + 1 > cap)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p)
            abort();
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

void strat_buf_str(strat_buf *b, const char *s) { strat_buf_add(b, s, strlen(s)); }

void strat_buf_num(strat_buf *b, double v, int digits)
{
    char num[64];
    if (digits < 0)
        snprintf(num, sizeof num, "%.17g", v);
    else
        snprintf(num, sizeof num, "%.*f", digits, v);
    strat_buf_str(b, num);
}

void strat_buf_csv(strat_buf *b, const char *s)
{
    size_t n = strlen(s);
    int quote = n > 0 && (s[0] == ' ' || s[n - 1] == ' ');
    for (size_t i = 0; i < n && !quote; i++)
        quote = s[i] == ',' || s[i] == '"' || s[i] == '\n' || s[i] == '\r';
    if (!quote) {
        strat_buf_add(b, s, n);
        return;
    }
    strat_buf_add(b, "\"", 1);
    for (const char *p = s; *p;) {
        const char *q = strchr(p, '"');
        if (!q) {
            strat_buf_str(b, p);
            break;
        }
        strat_buf_add(b, p, (size_t)(q - p) + 1);
        strat_buf_add(b, "\"", 1);
        p = q + 1;
    }
    strat_buf_add(b, "\"", 1);
}

void strat_buf_free(strat_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

/* ---------- bootstrap ---------- */

void strat_bootstrap_weights(uint64_t seed, int64_t user, int reps, int32_t *w)
{
    mkt_rng r;
    mkt_rng_init(&r, seed, STRAT_STREAM_BOOTSTRAP, (uint64_t)user);
    for (int b = 0; b < reps; b++)
        w[b] = (int32_t)mkt_rng_poisson(&r, 1.0);
}

void strat_refit_weights(uint64_t seed, int64_t user, int reps, uint8_t *w)
{
    mkt_rng r;
    mkt_rng_init(&r, seed, STRAT_STREAM_REFIT, (uint64_t)user);
    for (int b = 0; b < reps; b++) {
        int64_t k = mkt_rng_poisson(&r, 1.0);
        w[b] = (uint8_t)(k > 255 ? 255 : k);
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double strat_quantile(double *v, int n, double q)
{
    if (n <= 0)
        return NAN;
    qsort(v, (size_t)n, sizeof(double), cmp_double);
    double pos = clamp(q, 0.0, 1.0) * (n - 1);
    int i = (int)floor(pos);
    if (i >= n - 1)
        return v[n - 1];
    double f = pos - i;
    return v[i] + f * (v[i + 1] - v[i]);
}

void strat_replicate_interval(double point, double *v, int n, double *lo, double *hi)
{
    int m = 0;
    double mean = 0;
    for (int i = 0; i < n; i++)
        if (isfinite(v[i])) {
            v[m++] = v[i];
            mean += v[i];
        }
    if (m < 2 || !isfinite(point)) {
        *lo = *hi = NAN;
        return;
    }
    mean /= m;
    *lo = point - (strat_quantile(v, m, 0.975) - mean);
    *hi = point - (strat_quantile(v, m, 0.025) - mean);
}
