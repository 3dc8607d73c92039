/* strategy.c — the pure arithmetic of `mkt strategy` (see strategy.h and
 * docs/strategy.md): per-arm expected profit and cost, eligibility, the
 * choice under a Lagrange multiplier and its bisection, prices, diverse
 * top-K lists, message templates, CSV quoting and bootstrap helpers.
 *
 * Must not: talk MPI, touch files or print. */
#include "strategy.h"

#include <cblas.h>
#include <ctype.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ranking.h"
#include "rng.h"
#include "topk.h"

static double clamp(double x, double lo, double hi) { return x < lo ? lo : (x > hi ? hi : x); }

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

/* ---------- items and prices ---------- */

/* The heap of category g in strat_topk_diverse and strat_mf_topk: groups
 * 0..ncat-1 hold lim entries each, group ncat (items without a limited
 * category) holds k. */
static int item_group(const int32_t *category, int ncat, int limited, int64_t i)
{
    if (!limited)
        return 0;
    int32_t c = category[i];
    return c >= 0 && c < ncat ? c : ncat;
}

int strat_topk_diverse(const double *score, int64_t n, const unsigned char *exclude, const int32_t *category, int ncat,
                       int max_per_cat, int k, int32_t *out)
{
    if (k <= 0 || n <= 0)
        return 0;
    if (max_per_cat <= 0 || !category || ncat <= 0)
        return mkt_topk(score, n, exclude, k, out);
    /* the best lim of every category and the best k of the rest: the list
     * is the best k of their union (an item of a full category ranks below
     * the lim taken from it, so taking items best first never reaches it) */
    int lim = max_per_cat < k ? max_per_cat : k;
    size_t cap = (size_t)ncat * (size_t)lim + (size_t)k;
    double *hs = malloc(sizeof(double) * cap);
    int32_t *hi = malloc(sizeof(int32_t) * cap);
    int *cnt = calloc((size_t)ncat + 1, sizeof(int));
    if (!hs || !hi || !cnt)
        abort();
    for (int64_t i = 0; i < n; i++) {
        if (exclude && exclude[i])
            continue;
        int g = item_group(category, ncat, 1, i);
        size_t off = (size_t)g * (size_t)lim;
        mkt_heap_offer(hs + off, hi + off, &cnt[g], g < ncat ? lim : k, score[i], (int32_t)i);
    }
    /* the union into the heap of out */
    double *os = malloc(sizeof(double) * (size_t)k);
    if (!os)
        abort();
    int m = 0;
    for (int g = 0; g <= ncat; g++) {
        size_t off = (size_t)g * (size_t)lim;
        for (int j = 0; j < cnt[g]; j++)
            mkt_heap_offer(os, out, &m, k, hs[off + (size_t)j], hi[off + (size_t)j]);
    }
    mkt_heap_sort(os, out, m);
    free(os);
    free(cnt);
    free(hi);
    free(hs);
    return m;
}

/* The former top-k: an insertion sort (ties keep the lower index). */
static int topk_insertion(const double *score, int64_t n, const unsigned char *exclude, int k, int32_t *out)
{
    int m = 0;
    for (int64_t i = 0; i < n && k > 0; i++) {
        if (exclude && exclude[i])
            continue;
        double s = score[i];
        if (m == k && !(s > score[out[k - 1]]))
            continue;
        int p = m < k ? m++ : k - 1;
        while (p > 0 && s > score[out[p - 1]]) {
            out[p] = out[p - 1];
            p--;
        }
        out[p] = (int32_t)i;
    }
    return m;
}

int strat_topk_diverse_reference(const double *score, int64_t n, const unsigned char *exclude, const int32_t *category,
                                 int ncat, int max_per_cat, int k, int32_t *out)
{
    if (k <= 0 || n <= 0)
        return 0;
    if (max_per_cat <= 0 || !category)
        return topk_insertion(score, n, exclude, k, out);
    int *used = calloc((size_t)(ncat > 0 ? ncat : 1), sizeof(int));
    int64_t want = (int64_t)k * 4;
    int32_t *cand = NULL;
    int got = 0;
    for (;;) {
        int kc = (int)(want < n ? want : n);
        int32_t *nc = realloc(cand, sizeof(int32_t) * (size_t)kc);
        if (!nc || !used)
            abort();
        cand = nc;
        int nfound = topk_insertion(score, n, exclude, kc, cand);
        memset(used, 0, sizeof(int) * (size_t)(ncat > 0 ? ncat : 1));
        got = 0;
        for (int j = 0; j < nfound && got < k; j++) {
            int32_t c = category[cand[j]];
            int ok = c < 0 || c >= ncat || used[c] < max_per_cat;
            if (!ok)
                continue;
            if (c >= 0 && c < ncat)
                used[c]++;
            out[got++] = cand[j];
        }
        if (got == k || nfound < kc || kc == n)
            break;
        want *= 2;
    }
    free(cand);
    free(used);
    return got;
}

/* ---------- MF item lists from blocked products ---------- */

#ifndef MF_USERS
#define MF_USERS 256 /* users per block (rows of one sgemm) */
#endif
#ifndef MF_ITEMS
#define MF_ITEMS 512 /* items per tile (columns of one sgemm): the products of a block fit the L2 cache */
#endif
#define MF_NORM 0x1p40  /* screened only when every factor norm is below this, */
#define MF_BIAS 0x1p60  /* every item bias below this (no float32 overflow), */
#define MF_CONST 0x1p400 /* and mu + b_u below this */

/* s(u, i) exactly as documented (the order of the operations is the contract). */
static double mf_exact(const strat_mf_items *m, const double *pu, double bu, int64_t i)
{
    const double *qi = m->q + i * m->K;
    double s = m->mu + bu + (m->bi ? m->bi[i] : 0.0);
    for (int j = 0; j < m->K; j++)
        s += pu[j] * qi[j];
    return s;
}

/* One user's screen: per group a min-heap of the largest products seen (only
 * values: the thresholds), the threshold (root - 2E once the heap is full)
 * and the items that reached their group's threshold when they came, with
 * their products. */
typedef struct {
    double *hv, *thr;
    int *cnt;
    int32_t *cand;
    double *cval;
    int64_t ncand, cap;
    double e2; /* 2E */
    double tk; /* the k-th largest product held in the heaps, less 2E (-DBL_MAX: fewer than k held) */
    double tmin; /* the lowest threshold prefilter_bound found (thresholds only rise) */
    int ok;    /* 0: every item scored exactly */
    unsigned char *open; /* per group: it has items and its heap is not full yet */
    int nopen;
} mf_screen;

typedef float mf_v4f __attribute__((vector_size(16)));
typedef int mf_v4i __attribute__((vector_size(16)));

#define MF_CHUNK 32 /* products tested together against the lowest threshold */

/* Whether any of x[0..MF_CHUNK) is >= r (four floats a compare, one reduction). */
static inline int any_at_least(const float *x, float r)
{
    mf_v4f rr = {r, r, r, r};
    mf_v4i h = {0, 0, 0, 0};
    for (int j = 0; j < MF_CHUNK; j += 4) {
        mf_v4f a;
        memcpy(&a, x + j, sizeof a);
        h |= a >= rr;
    }
    return (h[0] | h[1] | h[2] | h[3]) != 0;
}

/* r such that a product below r, plus cu, is below the threshold of every
 * full group: their lowest threshold less cu, less a margin for the
 * rounding of both subtractions and of the addition (-inf: no full group). */
static float prefilter_bound(mf_screen *s, int G, double cu)
{
    double tmin = INFINITY;
    for (int g = 0; g < G; g++) {
        double e = s->thr[g] > s->tk ? s->thr[g] : s->tk;
        if (e > -DBL_MAX && e < tmin)
            tmin = e;
    }
    s->tmin = tmin;
    if (tmin == INFINITY)
        return -INFINITY;
    double r = (tmin - cu) - 0x1p-50 * (fabs(tmin) + fabs(cu));
    if (r > FLT_MAX) /* every product is below it */
        return FLT_MAX;
    if (r < -FLT_MAX)
        return -INFINITY;
    float f = (float)r; /* rounded down */
    return (double)f > r ? nextafterf(f, -INFINITY) : f;
}

static void heap_push_value(double *h, int *n, int cap, double v)
{
    if (*n < cap) {
        int j = (*n)++;
        while (j > 0 && h[(j - 1) / 2] > v) {
            h[j] = h[(j - 1) / 2];
            j = (j - 1) / 2;
        }
        h[j] = v;
        return;
    }
    if (!(v > h[0]))
        return;
    int i = 0;
    for (;;) {
        int c = 2 * i + 1;
        if (c >= *n)
            break;
        if (c + 1 < *n && h[c + 1] < h[c])
            c++;
        if (!(h[c] < v))
            break;
        h[i] = h[c];
        i = c;
    }
    h[i] = v;
}

static int cmp_int32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

int strat_mf_topk(const strat_mf_items *m, const double *p, const double *bu, int64_t n, const int64_t *ex_ptr,
                  const int32_t *ex_item, int k, int64_t *items, double *scores, strat_mf_stats *st)
{
    strat_mf_stats dummy;
    if (!st)
        st = &dummy;
    memset(st, 0, sizeof *st);
    for (int64_t j = 0; j < n * (k > 0 ? k : 0); j++) {
        items[j] = -1;
        scores[j] = 0.0;
    }
    if (n <= 0 || k <= 0 || m->nitems <= 0)
        return 0;
    const int64_t ni = m->nitems;
    const int K = m->K, K1 = K + 1;
    const int limited = m->max_per_cat > 0 && m->category && m->ncat > 0;
    const int G = limited ? m->ncat + 1 : 1;
    const int lim = limited ? (m->max_per_cat < k ? m->max_per_cat : k) : k;
    const size_t H = limited ? (size_t)m->ncat * (size_t)lim + (size_t)k : (size_t)k; /* heap values per user */
    int rc = -1;

    /* item rows with the bias appended (the product with [p_u, 1] is bi + p_u.q_i), the group of every item,
     * the largest item norm and bias */
    float *qa = malloc(sizeof(float) * (size_t)ni * (size_t)K1);
    int32_t *grp = malloc(sizeof(int32_t) * (size_t)ni);
    float *pa = malloc(sizeof(float) * MF_USERS * (size_t)K1);
    float *c = malloc(sizeof(float) * MF_USERS * MF_ITEMS);
    mf_screen *sc = calloc(MF_USERS, sizeof *sc);
    double *all = malloc(sizeof(double) * (size_t)ni); /* exact scores (fallback) */
    unsigned char *excl = calloc((size_t)ni, 1);
    double *us = malloc(sizeof(double) * (size_t)k), *cs = NULL; /* us: the k largest heap values */
    int32_t *top = malloc(sizeof(int32_t) * (size_t)k), *cc = NULL, *ex = NULL;
    int64_t exmax = 0; /* the most excluded items of one block */
    for (int64_t u0 = 0; u0 < n; u0 += MF_USERS) {
        int64_t u1 = u0 + MF_USERS < n ? u0 + MF_USERS : n;
        exmax = ex_ptr[u1] - ex_ptr[u0] > exmax ? ex_ptr[u1] - ex_ptr[u0] : exmax;
    }
    ex = malloc(sizeof(int32_t) * (size_t)(exmax > 0 ? exmax : 1));
    int64_t *exn = calloc(MF_USERS, sizeof(int64_t)), *exat = calloc(MF_USERS, sizeof(int64_t));
    unsigned char *present = calloc((size_t)G, 1); /* groups with items */
    if (!qa || !grp || !pa || !c || !sc || !all || !excl || !us || !top || !ex || !exn || !exat || !present)
        goto out;
    double qmax = 0, bmax = 0;
    int qok = 1;
    for (int64_t i = 0; i < ni; i++) {
        double b = m->bi ? m->bi[i] : 0.0, qn = mkt_norm2(m->q + i * K, K);
        qok = qok && qn <= MF_NORM && fabs(b) <= MF_BIAS; /* false for NaN */
        for (int j = 0; j < K; j++)
            qa[i * K1 + j] = qok ? (float)m->q[i * K + j] : 0.0f;
        qa[i * K1 + K] = qok ? (float)b : 0.0f;
        qmax = qn > qmax ? qn : qmax;
        bmax = fabs(b) > bmax ? fabs(b) : bmax;
        grp[i] = item_group(m->category, m->ncat, limited, i);
        present[grp[i]] = 1;
    }
    for (int uu = 0; uu < MF_USERS; uu++) {
        mf_screen *s = &sc[uu];
        s->hv = malloc(sizeof(double) * H);
        s->thr = malloc(sizeof(double) * (size_t)G);
        s->open = malloc((size_t)G);
        s->cnt = malloc(sizeof(int) * (size_t)G);
        s->cap = 4 * (int64_t)H + 64;
        s->cand = malloc(sizeof(int32_t) * (size_t)s->cap);
        s->cval = malloc(sizeof(double) * (size_t)s->cap);
        if (!s->hv || !s->thr || !s->open || !s->cnt || !s->cand || !s->cval)
            goto out;
    }
    int64_t csz = 0; /* capacity of cs and cc */

    for (int64_t u0 = 0; u0 < n; u0 += MF_USERS) {
        int nu = (int)(n - u0 < MF_USERS ? n - u0 : MF_USERS);
        int any = 0;
        for (int uu = 0; uu < nu; uu++) {
            int64_t u = u0 + uu;
            mf_screen *s = &sc[uu];
            const double *pu = p + u * K;
            double cu = m->mu + bu[u], pn = mkt_norm2(pu, K);
            s->ok = qok && pn <= MF_NORM && fabs(cu) <= MF_CONST;
            for (int j = 0; j < K; j++)
                pa[(size_t)uu * (size_t)K1 + (size_t)j] = s->ok ? (float)pu[j] : 0.0f;
            pa[(size_t)uu * (size_t)K1 + K] = 1.0f;
            /* |cu + product - s(u, i)| <= E (the bound: docs/strategy.md) */
            double e = 2.0 * (1.01 * (K + 4) * (0x1p-24 + 0x1p-52) * (pn * qmax + bmax) +
                              1.01 * (K + 4) * 0x1p-52 * fabs(cu) + 0x1p-100 * (K + 4));
            s->ok = s->ok && isfinite(e);
            s->e2 = 2 * e;
            s->ncand = 0;
            s->nopen = 0;
            s->tk = -DBL_MAX;
            for (int g = 0; g < G; g++) {
                s->cnt[g] = 0;
                s->thr[g] = -DBL_MAX;
                s->open[g] = present[g];
                s->nopen += present[g];
            }
            /* this user's excluded items, sorted, for the tiles (the block's lists side by side in ex) */
            int32_t *x = ex + (ex_ptr[u] - ex_ptr[u0]);
            exn[uu] = ex_ptr[u + 1] - ex_ptr[u];
            exat[uu] = 0;
            memcpy(x, ex_item + ex_ptr[u], sizeof(int32_t) * (size_t)exn[uu]);
            qsort(x, (size_t)exn[uu], sizeof(int32_t), cmp_int32);
            any |= s->ok;
        }
        for (int64_t i0 = 0; any && i0 < ni; i0 += MF_ITEMS) {
            int nt = (int)(ni - i0 < MF_ITEMS ? ni - i0 : MF_ITEMS);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nu, nt, K1, 1.0f, pa, K1, qa + i0 * K1, K1, 0.0f, c,
                        MF_ITEMS);
            for (int uu = 0; uu < nu; uu++) {
                mf_screen *s = &sc[uu];
                if (!s->ok)
                    continue;
                float *row = c + (size_t)uu * MF_ITEMS;
                /* excluded items: -inf never reaches a threshold (all >= -DBL_MAX) */
                const int32_t *x = ex + (ex_ptr[u0 + uu] - ex_ptr[u0]);
                while (exat[uu] < exn[uu] && x[exat[uu]] < i0 + nt) {
                    if (x[exat[uu]] >= i0)
                        row[x[exat[uu]] - i0] = -INFINITY;
                    exat[uu]++;
                }
                double cu = m->mu + bu[u0 + uu];
                const int32_t *gr = grp + i0;
                int64_t tile = i0 / MF_ITEMS;
                if (limited && ((tile & (tile - 1)) == 0 || tile % 8 == 0)) {
                    /* (tiles 1, 2, 4, 8, 16, 24, ...) the heaps hold at most lim items of a category: the k-th largest of their union is at most
                     * that of the final lists' pool, so no item below it (less 2E) can be chosen */
                    int nk = 0;
                    for (int g = 0; g < G; g++)
                        for (int j = 0; j < s->cnt[g]; j++)
                            heap_push_value(us, &nk, k, s->hv[(size_t)g * (size_t)lim + (size_t)j]);
                    if (nk == k)
                        s->tk = us[0] - s->e2;
                }
                /* most products are below every threshold: those of a full group are tested against the
                 * lowest threshold of the full groups first (less a margin for the addition of cu), MF_CHUNK at a
                 * time */
                float rmin = prefilter_bound(s, G, cu);
                for (int t0 = 0; t0 < nt; t0 += MF_CHUNK) {
                    int t1 = t0 + MF_CHUNK < nt ? t0 + MF_CHUNK : nt;
                    if (t1 - t0 == MF_CHUNK) {
                        int hit = 0;
                        if (s->nopen == 0 || s->tk > -DBL_MAX)
                            hit = any_at_least(row + t0, rmin);
                        else
                            for (int j = 0; j < MF_CHUNK; j++)
                                hit |= (row[t0 + j] >= rmin) | s->open[gr[t0 + j]];
                        if (!hit)
                            continue;
                    }
                    for (int t = t0; t < t1; t++) {
                        double a = cu + (double)row[t];
                        int g = gr[t];
                        if (!(a >= s->thr[g]) || !(a >= s->tk))
                            continue;
                        int glim = g < G - 1 || !limited ? lim : k;
                        double *h = s->hv + (size_t)g * (size_t)lim;
                        heap_push_value(h, &s->cnt[g], glim, a);
                        if (s->cnt[g] == glim) {
                            double was = s->thr[g] > s->tk ? s->thr[g] : s->tk;
                            s->thr[g] = h[0] - s->e2;
                            s->nopen -= s->open[g];
                            s->open[g] = 0;
                            if (!(was > s->tmin)) /* the lowest threshold may have risen */
                                rmin = prefilter_bound(s, G, cu);
                        }
                        if (s->ncand == s->cap) {
                            /* drop the candidates the thresholds now rule out, grow when that frees less than half */
                            int64_t w = 0;
                            for (int64_t j = 0; j < s->ncand; j++)
                                if (s->cval[j] >= s->thr[grp[s->cand[j]]] && s->cval[j] >= s->tk) {
                                    s->cand[w] = s->cand[j];
                                    s->cval[w] = s->cval[j];
                                    w++;
                                }
                            s->ncand = w;
                            if (w > s->cap / 2) {
                                int64_t ncap = 2 * s->cap;
                                int32_t *nc = realloc(s->cand, sizeof(int32_t) * (size_t)ncap);
                                if (!nc)
                                    goto out;
                                s->cand = nc;
                                double *nv = realloc(s->cval, sizeof(double) * (size_t)ncap);
                                if (!nv)
                                    goto out;
                                s->cval = nv;
                                s->cap = ncap;
                            }
                        }
                        s->cand[s->ncand] = (int32_t)(i0 + t);
                        s->cval[s->ncand] = a;
                        s->ncand++;
                    }
                }
            }
        }
        for (int uu = 0; uu < nu; uu++) {
            int64_t u = u0 + uu;
            mf_screen *s = &sc[uu];
            const double *pu = p + u * K;
            int got;
            if (!s->ok) {
                /* every item scored exactly */
                for (int64_t j = ex_ptr[u]; j < ex_ptr[u + 1]; j++)
                    excl[ex_item[j]] = 1;
                for (int64_t i = 0; i < ni; i++)
                    all[i] = excl[i] ? 0.0 : mf_exact(m, pu, bu[u], i);
                got = strat_topk_diverse(all, ni, excl, m->category, limited ? m->ncat : 0,
                                         limited ? m->max_per_cat : 0, k, top);
                for (int64_t j = ex_ptr[u]; j < ex_ptr[u + 1]; j++)
                    excl[ex_item[j]] = 0;
                for (int j = 0; j < got; j++) {
                    items[u * k + j] = top[j];
                    scores[u * k + j] = all[top[j]];
                }
                st->users_exact++;
                continue;
            }
            /* the final thresholds: per group its lim-th product (when it has lim), and the k-th product of the
             * union of the groups' heaps (when it has k) */
            int nk = 0;
            for (int g = 0; g < G; g++)
                for (int j = 0; j < s->cnt[g]; j++)
                    heap_push_value(us, &nk, k, s->hv[(size_t)g * (size_t)lim + (size_t)j]);
            double tk = nk == k ? us[0] - s->e2 : -DBL_MAX;
            if (s->ncand > csz) {
                free(cs);
                free(cc);
                csz = s->ncand;
                cs = malloc(sizeof(double) * (size_t)csz);
                cc = malloc(sizeof(int32_t) * (size_t)csz);
                if (!cs || !cc)
                    goto out;
            }
            int64_t nc = 0;
            for (int64_t j = 0; j < s->ncand; j++) {
                int32_t i = s->cand[j];
                double tg = s->thr[grp[i]];
                if (s->cval[j] >= tg && s->cval[j] >= tk) {
                    cs[nc] = mf_exact(m, pu, bu[u], i);
                    cc[nc] = i; /* in increasing item order: ties keep the lower item */
                    nc++;
                }
            }
            st->rescored += nc;
            st->users_screened++;
            /* the exact list among the candidates: categories looked up through cc */
            int32_t *ccat = NULL;
            if (limited) {
                ccat = malloc(sizeof(int32_t) * (size_t)(nc > 0 ? nc : 1));
                if (!ccat)
                    goto out;
                for (int64_t j = 0; j < nc; j++)
                    ccat[j] = m->category[cc[j]];
            }
            got = strat_topk_diverse(cs, nc, NULL, ccat, limited ? m->ncat : 0, limited ? m->max_per_cat : 0, k, top);
            free(ccat);
            for (int j = 0; j < got; j++) {
                items[u * k + j] = cc[top[j]];
                scores[u * k + j] = cs[top[j]];
            }
        }
    }
    rc = 0;
out:
    for (int uu = 0; sc && uu < MF_USERS; uu++) {
        free(sc[uu].hv);
        free(sc[uu].thr);
        free(sc[uu].open);
        free(sc[uu].cnt);
        free(sc[uu].cand);
        free(sc[uu].cval);
    }
    free(sc);
    free(qa);
    free(grp);
    free(pa);
    free(c);
    free(all);
    free(excl);
    free(us);
    free(cs);
    free(cc);
    free(top);
    free(ex);
    free(exn);
    free(exat);
    free(present);
    return rc;
}

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
