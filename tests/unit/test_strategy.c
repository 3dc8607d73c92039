/* test_strategy.c — the pure arithmetic of `mkt strategy` (src/strategy.c):
 * expected profit per arm, eligibility, the choice under a multiplier and
 * its bisection, price rules, diverse top-K (against an oracle and the
 * former method; the MF lists from blocked products against every score
 * computed exactly), templates with hostile item
 * names, CSV quoting, effect shrinkage, refit and bootstrap helpers, the
 * policy's config (defaults, checks naming the field, budget and effects words). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "unit_config_check.h"

#include "../../src/strategy.h"
#include "strategy_stage.h"

#define CLOSE(a, b) assert_true(fabs((double)(a) - (double)(b)) < 1e-9 * (1 + fabs((double)(b))))

static void test_cost_parse(void **state)
{
    (void)state;
    strat_arm_cost c;
    char err[512];
    assert_int_equal(strat_arm_cost_parse(NULL, "pct10", 5, &c, err, sizeof err), 0);
    assert_int_equal(c.kind, STRAT_COST_PERCENT);
    CLOSE(c.value, 10);
    CLOSE(c.redeem, 1);
    assert_int_equal(strat_arm_cost_parse("", "coupon5", 5, &c, err, sizeof err), 0);
    assert_int_equal(c.kind, STRAT_COST_COUPON);
    CLOSE(c.value, 5);
    assert_int_equal(strat_arm_cost_parse(NULL, "free_shipping", 4.5, &c, err, sizeof err), 0);
    assert_int_equal(c.kind, STRAT_COST_SHIPPING);
    CLOSE(c.value, 4.5);
    /* an explicit entry wins over the name, with a redemption share */
    assert_int_equal(strat_arm_cost_parse("x=1, pct10 = coupon:3:0.5", "pct10", 5, &c, err, sizeof err), -1);
    assert_int_equal(strat_arm_cost_parse("pct10 = coupon:3:0.5", "pct10", 5, &c, err, sizeof err), 0);
    assert_int_equal(c.kind, STRAT_COST_COUPON);
    CLOSE(c.value, 3);
    CLOSE(c.redeem, 0.5);
    assert_int_equal(strat_arm_cost_parse("Mens E-Mail=contact:0.1", "Mens E-Mail", 5, &c, err, sizeof err), 0);
    assert_int_equal(c.kind, STRAT_COST_CONTACT);
    /* not derivable, bad kind, bad values */
    assert_int_equal(strat_arm_cost_parse(NULL, "Womens E-Mail", 5, &c, err, sizeof err), -1);
    assert_non_null(strstr(err, "Womens E-Mail"));
    assert_int_equal(strat_arm_cost_parse("a=gift:3", "a", 5, &c, err, sizeof err), -1);
    assert_non_null(strstr(err, "kind"));
    assert_int_equal(strat_arm_cost_parse("a=percent:120", "a", 5, &c, err, sizeof err), -1);
    assert_int_equal(strat_arm_cost_parse("a=coupon:3:1.5", "a", 5, &c, err, sizeof err), -1);
    assert_int_equal(strat_arm_cost_parse("a=coupon:3x", "a", 5, &c, err, sizeof err), -1);
}

static void test_profit_arithmetic(void **state)
{
    (void)state;
    strat_econ e = {0.4, 0.0};
    strat_arm_value v;
    /* coupon 5: p0 0.2, r0 10, +0.1 conversion, +3 spend (net) */
    strat_arm_cost coupon = {STRAT_COST_COUPON, 5, 1};
    strat_arm_value_eval(&e, &coupon, 0.2, 10, 0.1, 3, &v);
    CLOSE(v.cost, 0.3 * 5);              /* redeemed by every converter under the arm */
    CLOSE(v.margin, 0.4 * (3 + 1.5));    /* margin on incremental gross sales */
    CLOSE(v.profit, 0.4 * 4.5 - 1.5);
    CLOSE(v.drev, 3);
    CLOSE(v.dconv, 0.1);
    /* 10% off: the discount on the net spend r_t = 13 is 13 * 10 / 90 */
    strat_arm_cost pct = {STRAT_COST_PERCENT, 10, 1};
    strat_arm_value_eval(&e, &pct, 0.2, 10, 0.1, 3, &v);
    CLOSE(v.cost, 13.0 / 9.0);
    CLOSE(v.profit, 0.4 * (3 + 13.0 / 9.0) - 13.0 / 9.0);
    CLOSE(v.margin_after, (0.4 - 0.1) / 0.9); /* (m - P) / (1 - P) */
    /* shipping is paid per redeemed order, plus the contact cost per user */
    strat_econ e2 = {0.4, 0.25};
    strat_arm_cost ship = {STRAT_COST_SHIPPING, 4, 0.5};
    strat_arm_value_eval(&e2, &ship, 0.2, 10, 0.1, 3, &v);
    CLOSE(v.cost, 0.5 * 0.3 * 4 + 0.25);
    CLOSE(v.profit, 0.4 * 3 - (0.6 + 0.25));
    /* conversion form: V = 50 per order */
    strat_arm_value_eval_conv(&e, &pct, 0.2, 50, 0.1, &v);
    CLOSE(v.dconv, 0.1);
    CLOSE(v.margin, 0.4 * 0.1 * 50);
    CLOSE(v.cost, 0.3 * 50 * 0.1);
    CLOSE(v.drev, 0.1 * 50 - 1.5);
    CLOSE(v.profit, 2.0 - 1.5);
    /* truth form agrees with the conversion form when the planted numbers are the predicted ones */
    strat_arm_value t;
    strat_arm_value_truth(&e, &pct, 0.2, 0.3, 50, 45, &t);
    CLOSE(t.cost, v.cost);
    CLOSE(t.profit, v.profit);
    CLOSE(t.drev, v.drev);
    /* realized profit of a log row */
    CLOSE(strat_realized_profit(&e, NULL, 1, 30), 12);
    CLOSE(strat_realized_profit(&e, &coupon, 1, 30), 0.4 * 35 - 5);
    CLOSE(strat_realized_profit(&e, &coupon, 0, 0), 0);
    CLOSE(strat_realized_profit(&e, &pct, 1, 90), 0.4 * 100 - 10);
}

static void test_eligibility(void **state)
{
    (void)state;
    assert_int_equal(strat_eligible(INFINITY, 7, 0.3, 0), 1);
    assert_int_equal(strat_eligible(3, 7, 0.3, 0), 0);   /* bought 3 days ago */
    assert_int_equal(strat_eligible(7, 7, 0.3, 0), 1);
    assert_int_equal(strat_eligible(3, 0, 0.3, 0), 1);   /* rule off */
    assert_int_equal(strat_eligible(30, 7, 0.1, 0.2), 0); /* margin after the discount too low */
    assert_int_equal(strat_eligible(30, 7, -INFINITY, -1), 0);
}

static void test_choice(void **state)
{
    (void)state;
    double profit[3] = {2, 3, -1}, cost[3] = {1, 4, 0};
    unsigned char el[3] = {1, 1, 1};
    assert_int_equal(strat_choose(profit, cost, el, 3, 0), 1);   /* best profit */
    assert_int_equal(strat_choose(profit, cost, el, 3, 0.5), 0); /* 2-0.5 > 3-2 */
    assert_int_equal(strat_choose(profit, cost, el, 3, 2.5), -1);
    el[0] = 0;
    assert_int_equal(strat_choose(profit, cost, el, 3, 0.5), 1);
    double neg[2] = {-0.1, -2}, c2[2] = {1, 1};
    assert_int_equal(strat_choose(neg, c2, NULL, 2, 0), -1); /* never pay for a loss */
    double tie[2] = {1, 1};
    assert_int_equal(strat_choose(tie, c2, NULL, 2, 0), 0);
}

/* A small synthetic population for the bisection. */
typedef struct {
    int n, na;
    double *profit, *cost;
    int calls;
} pop;

static double pop_cost(double lambda, void *p)
{
    pop *s = p;
    s->calls++;
    double tot = 0;
    for (int i = 0; i < s->n; i++) {
        int t = strat_choose(s->profit + i * s->na, s->cost + i * s->na, NULL, s->na, lambda);
        if (t >= 0)
            tot += s->cost[i * s->na + t];
    }
    return tot;
}

static void test_bisection(void **state)
{
    (void)state;
    pop s = {200, 3, malloc(sizeof(double) * 600), malloc(sizeof(double) * 600), 0};
    uint64_t x = 12345;
    for (int i = 0; i < 600; i++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        double u = (double)(x >> 11) * 0x1.0p-53;
        s.cost[i] = 0.5 + 3 * u;
        s.profit[i] = (u - 0.3) * 4 * (1 + (i % 3));
    }
    /* the total cost never increases with the multiplier */
    double prev = INFINITY;
    for (int j = 0; j <= 400; j++) {
        double c = pop_cost(j * 0.01, &s);
        assert_true(c <= prev);
        prev = c;
    }
    double full = pop_cost(0, &s);
    assert_true(full > 0);
    double hi = 0;
    for (int i = 0; i < 600; i++)
        if (s.profit[i] > 0 && s.profit[i] / s.cost[i] > hi)
            hi = s.profit[i] / s.cost[i];
    hi *= 1.000001;
    assert_true(pop_cost(hi, &s) == 0);
    double last_lambda = 0;
    for (int j = 1; j <= 10; j++) {
        double budget = full * j / 10.0 * 0.999;
        int steps = 0;
        s.calls = 0;
        double lambda = strat_bisect(pop_cost, &s, budget, hi, 200, &steps);
        assert_int_equal(steps, s.calls);
        assert_true(pop_cost(lambda, &s) <= budget);            /* never over the budget */
        assert_true(pop_cost(lambda * (1 - 1e-6), &s) > budget); /* and the smallest such multiplier */
        if (j > 1)
            assert_true(lambda <= last_lambda); /* more budget, smaller multiplier */
        last_lambda = lambda;
    }
    /* a budget that fits: multiplier 0 after one evaluation */
    int steps = 0;
    assert_true(strat_bisect(pop_cost, &s, full, hi, 200, &steps) == 0.0);
    assert_int_equal(steps, 1);
    /* budget 0: nothing with a cost */
    double l0 = strat_bisect(pop_cost, &s, 0, hi, 200, &steps);
    assert_true(pop_cost(l0, &s) == 0);
    free(s.profit);
    free(s.cost);
}

static void test_prices(void **state)
{
    (void)state;
    /* elastic demand: the Lerner price cost * e / (1 + e) = 10 * -3 / -2 = 15 */
    CLOSE(strat_price_elasticity(20, 10, -3, 0.5, 2), 15);
    CLOSE(strat_price_elasticity(20, 10, -3, 0.8, 1.2), 16);  /* clamped up */
    CLOSE(strat_price_elasticity(20, 20, -1.5, 0.8, 1.2), 24); /* 60 clamped down */
    CLOSE(strat_price_elasticity(20, 10, -0.5, 0.8, 1.2), 24); /* inelastic: upper bound */
    assert_true(isnan(strat_price_elasticity(20, 10, NAN, 0.8, 1.2)));
    /* interest rule */
    CLOSE(strat_price_interest(20, 4, 4, -2, 0.8, 1.2), 20);
    CLOSE(strat_price_interest(20, 2, 4, -2, 0.8, 1.2), 19);
    CLOSE(strat_price_interest(20, -5, 4, -20, 0.8, 1.2), 16); /* ratio clamped to 0, price to the bound */
    CLOSE(strat_price_interest(20, 1, -1, 5, 0.8, 1.2), 20);   /* no positive interest: base */
    CLOSE(strat_price_interest(20, 0, 4, 10, 0.8, 1.2), 24);
}

static void test_topk_diverse(void **state)
{
    (void)state;
    double score[8] = {9, 8, 7, 6, 5, 4, 3, 2};
    int32_t cat[8] = {0, 0, 0, 1, 0, 2, 1, 1};
    unsigned char ex[8] = {0, 1, 0, 0, 0, 0, 0, 0};
    int32_t out[8];
    int got = strat_topk_diverse(score, 8, ex, cat, 3, 1, 4, out);
    assert_int_equal(got, 3);
    assert_int_equal(out[0], 0);
    assert_int_equal(out[1], 3);
    assert_int_equal(out[2], 5);
    got = strat_topk_diverse(score, 8, ex, cat, 3, 2, 4, out);
    assert_int_equal(got, 4);
    assert_int_equal(out[1], 2);
    assert_int_equal(out[2], 3);
    assert_int_equal(out[3], 5);
    got = strat_topk_diverse(score, 8, NULL, cat, 3, 0, 3, out);
    assert_int_equal(got, 3);
    assert_int_equal(out[2], 2);
}

/* The oracle of the diverse list: every kept item sorted (score descending,
 * index ascending, NaN last), then taken best first while its category
 * (in [0, ncat); others unlimited) is below the limit. */
static const double *g_score;
static int by_rank(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    double sx = g_score[x], sy = g_score[y];
    if (isnan(sx) != isnan(sy))
        return isnan(sx) - isnan(sy);
    if (!isnan(sx) && sx != sy)
        return sx > sy ? -1 : 1;
    return (x > y) - (x < y);
}

static int diverse_oracle(const double *score, int n, const unsigned char *ex, const int32_t *cat, int ncat, int lim,
                          int k, int32_t *out)
{
    int32_t *all = malloc(sizeof(int32_t) * (size_t)(n > 0 ? n : 1));
    int *used = calloc((size_t)ncat + 1, sizeof(int));
    int m = 0, got = 0;
    for (int i = 0; i < n; i++)
        if (!ex || !ex[i])
            all[m++] = i;
    g_score = score;
    qsort(all, (size_t)m, sizeof *all, by_rank);
    for (int j = 0; j < m && got < k; j++) {
        int32_t c = cat ? cat[all[j]] : -1;
        int limited = lim > 0 && c >= 0 && c < ncat;
        if (limited && used[c] >= lim)
            continue;
        if (limited)
            used[c]++;
        out[got++] = all[j];
    }
    free(used);
    free(all);
    return got;
}

/* The one-pass diverse list against the oracle and the former method on
 * random scores with many ties: limits that can and cannot be filled (one
 * category for everything, as in a store without a catalogue), categories
 * outside [0, ncat) (unlimited), exclusions, k above n, k = 0. */
static void test_topk_diverse_against_oracle(void **state)
{
    (void)state;
    enum { N = 120 };
    double s[N];
    int32_t cat[N], out[N + 8], want[N + 8], ref[N + 8];
    unsigned char ex[N];
    unsigned r = 99;
    int cases = 0, short_lists = 0;
    for (int trial = 0; trial < 300; trial++) {
        int n = trial % 7 == 0 ? trial % 11 : N - trial % 50;
        int ncat = 1 + trial % 4, lim = trial % 5 - 1, k = (trial * 7) % 13;
        for (int i = 0; i < n; i++) {
            r = r * 1103515245u + 12345u;
            s[i] = (double)((r >> 16) % 9);
            cat[i] = trial % 3 == 0 ? 0 : (int32_t)((r >> 8) % (unsigned)(ncat + 1)) - (trial % 2); /* -1..ncat */
            ex[i] = (r >> 4) % 6 == 0;
        }
        int got = strat_topk_diverse(s, n, ex, cat, ncat, lim, k, out);
        int w = diverse_oracle(s, n, ex, cat, ncat, lim, k, want);
        int g2 = strat_topk_diverse_reference(s, n, ex, cat, ncat, lim, k, ref);
        assert_int_equal(got, w);
        assert_int_equal(g2, w);
        for (int j = 0; j < w; j++) {
            assert_int_equal(out[j], want[j]);
            assert_int_equal(ref[j], want[j]);
        }
        cases++;
        short_lists += w < k && n > k;
    }
    assert_true(short_lists > 20); /* limits that could not be filled were exercised */
    /* one category for every item, limit 2, k 5: the best 2 only */
    double one[6] = {1, 5, 3, 5, 2, 4};
    int32_t zero[6] = {0, 0, 0, 0, 0, 0};
    assert_int_equal(strat_topk_diverse(one, 6, NULL, zero, 1, 2, 5, out), 2);
    assert_int_equal(out[0], 1);
    assert_int_equal(out[1], 3); /* the tie at 5 goes to the lower index first */
    assert_int_equal(strat_topk_diverse(one, 6, NULL, zero, 1, 2, 0, out), 0);
    /* NaN ranks below every number */
    double withnan[4] = {NAN, 1, NAN, 0};
    int32_t cats[4] = {0, 1, 0, 1};
    assert_int_equal(strat_topk_diverse(withnan, 4, NULL, cats, 2, 1, 4, out), 2);
    assert_int_equal(out[0], 1);
    assert_int_equal(out[1], 0);
}

/* strat_mf_topk (blocked float32 products, exact rescoring) against every
 * score computed by the documented formula and the diverse list: the same
 * items and the same score bits.  Items in groups of near-copies whose
 * scores differ about as much as float32 products err (their screening
 * order is often wrong: a bound E too small drops the right item), exact
 * duplicates (ties to the lower item), 2 user blocks and
 * 2 item tiles, unsorted exclusions with duplicates, limits that can and
 * cannot be filled, no limit, and a user with a NaN factor (every item
 * scored exactly). */
static void test_mf_topk_exact(void **state)
{
    (void)state;
    enum { NI = 700, NU = 300, K = 7, KMAX = 9 };
    double *q = malloc(sizeof(double) * NI * K), *bi = malloc(sizeof(double) * NI);
    double *p = malloc(sizeof(double) * NU * K), *bu = malloc(sizeof(double) * NU);
    int32_t *cat = malloc(sizeof(int32_t) * NI), *exi = malloc(sizeof(int32_t) * NU * 6);
    int64_t *exp_ = malloc(sizeof(int64_t) * (NU + 1)), *items = malloc(sizeof(int64_t) * NU * KMAX);
    double *sc = malloc(sizeof(double) * NU * KMAX), *all = malloc(sizeof(double) * NI);
    int32_t *top = malloc(sizeof(int32_t) * KMAX);
    unsigned char *ex = calloc(NI, 1);
    unsigned r = 7;
#define RND() ((r = r * 1103515245u + 12345u), (double)((r >> 8) & 0xffff) / 65536.0 - 0.5)
    for (int i = 0; i < NI; i++) {
        int base = i - i % 5; /* groups of 5: a base item and near-copies */
        for (int j = 0; j < K; j++)
            q[i * K + j] = i == base ? RND() : q[base * K + j] + (i % 5 == 4 ? 0.0 : RND() * 0x1p-21);
        bi[i] = i == base ? 0.1 * RND() : bi[base];
        cat[i] = (int32_t)(i % 3);
    }
    for (int u = 0; u < NU; u++) {
        for (int j = 0; j < K; j++)
            p[u * K + j] = 3 * RND();
        bu[u] = RND();
        exp_[u] = u * 6;
        for (int j = 0; j < 6; j++) /* unsorted, with a duplicate */
            exi[u * 6 + j] = j == 5 ? exi[u * 6] : (int32_t)((u * 37 + j * 211) % NI);
    }
    exp_[NU] = NU * 6;
    p[123 * K + 2] = NAN;
    const int cfg[5][3] = {{5, 2, 3}, {5, 0, 3}, {9, 2, 1}, {4, 1, 3}, {3, 3, 3}}; /* k, limit, categories */
    for (int c = 0; c < 5; c++) {
        int k = cfg[c][0], lim = cfg[c][1], ncat = cfg[c][2];
        if (ncat == 1)
            for (int i = 0; i < NI; i++)
                cat[i] = 0;
        strat_mf_items m = {q, bi, NI, K, 3.25, cat, ncat, lim};
        strat_mf_stats st;
        assert_int_equal(strat_mf_topk(&m, p, bu, NU, exp_, exi, k, items, sc, &st), 0);
        assert_int_equal(st.users_exact, 1);
        assert_int_equal(st.users_screened, NU - 1);
        for (int u = 0; u < NU; u++) {
            for (int64_t j = exp_[u]; j < exp_[u + 1]; j++)
                ex[exi[j]] = 1;
            for (int i = 0; i < NI; i++) {
                double s = m.mu + bu[u] + bi[i];
                for (int j = 0; j < K; j++)
                    s += p[u * K + j] * q[i * K + j];
                all[i] = s;
            }
            int got = strat_topk_diverse(all, NI, ex, cat, ncat, lim, k, top);
            for (int64_t j = exp_[u]; j < exp_[u + 1]; j++)
                ex[exi[j]] = 0;
            if (ncat == 1 && lim > 0)
                assert_int_equal(got, lim); /* the limit cannot be filled */
            for (int j = 0; j < k; j++) {
                assert_int_equal(items[u * k + j], j < got ? top[j] : -1);
                double w = j < got ? all[top[j]] : 0.0;
                assert_memory_equal(&sc[u * k + j], &w, sizeof w);
            }
        }
    }
#undef RND
    free(q);
    free(bi);
    free(p);
    free(bu);
    free(cat);
    free(exi);
    free(exp_);
    free(items);
    free(sc);
    free(all);
    free(top);
    free(ex);
}

static void test_template(void **state)
{
    (void)state;
    char err[512], out[4096];
    assert_int_equal(strat_template_check("Hi {segment}: {item1}, {item3} {price2} {{x}} {discount}", 3, err,
                                          sizeof err),
                     0);
    assert_int_equal(strat_template_check("{item4}", 3, err, sizeof err), -1);
    assert_non_null(strstr(err, "k = 3"));
    assert_int_equal(strat_template_check("Hi {name}", 3, err, sizeof err), -1);
    assert_non_null(strstr(err, "{name}"));
    assert_int_equal(strat_template_check("Hi {segment", 3, err, sizeof err), -1);
    assert_int_equal(strat_template_check("{item0}", 3, err, sizeof err), -1);
    assert_int_equal(strat_template_check("{%s}", 3, err, sizeof err), -1);

    /* hostile names: format directives, quotes, newlines, a 1 kB name */
    char big[1100];
    memset(big, 'A', 1024);
    big[1024] = 0;
    const char *items[3] = {"%s%n%x", "say \"hi\",\nnow\r", big};
    double prices[3] = {1.5, 2, 3.25};
    strat_msg m = {"u1", "bargain %n hunters", "pct10", "10% off", 3, items, prices};
    size_t n = strat_render("{segment}|{item1}|{item2}|{price3}|{{lit}}|{discount}|%s%n", &m, out, sizeof out);
    assert_int_equal((int)n, (int)strlen(out));
    assert_string_equal(out, "bargain %n hunters|%s%n%x|say \"hi\", now |3.25|{lit}|10% off|%s%n");
    n = strat_render("{items}", &m, out, sizeof out);
    assert_int_equal((int)n, (int)strlen("%s%n%x, say \"hi\", now , ") + 1024);
    /* truncation at a small capacity, never inside a UTF-8 character */
    const char *utf[1] = {"\xc3\xa9\xc3\xa9\xc3\xa9"}; /* three e-acute */
    strat_msg mu = {"u", "s", "a", "", 1, utf, prices};
    char small[6];
    n = strat_render("x{item1}", &mu, small, sizeof small);
    assert_int_equal((int)n, 5);
    n = strat_render("xy{item1}", &mu, small, sizeof small);
    assert_int_equal((int)n, 4); /* "xy" + one e-acute; the half character is dropped */
    assert_string_equal(small, "xy\xc3\xa9");
    /* fewer items than placeholders: empty, trailing spaces dropped */
    strat_msg m0 = {"u", "s", "none", "", 0, items, prices};
    n = strat_render("For you: {items} {discount}", &m0, out, sizeof out);
    assert_string_equal(out, "For you:");
}

static void test_csv(void **state)
{
    (void)state;
    strat_buf b = {0};
    strat_buf_csv(&b, "plain");
    strat_buf_str(&b, ",");
    strat_buf_csv(&b, "a,b");
    strat_buf_str(&b, ",");
    strat_buf_csv(&b, "say \"hi\"\nnow");
    strat_buf_str(&b, ",");
    strat_buf_csv(&b, "");
    strat_buf_str(&b, ",");
    strat_buf_num(&b, 1.23456, 2);
    assert_string_equal(b.p, "plain,\"a,b\",\"say \"\"hi\"\"\nnow\",,1.23");
    strat_buf_free(&b);
}

static void test_shrinkage_and_bootstrap(void **state)
{
    (void)state;
    /* shrinkage: signal / (signal + noise); no noise keeps, no signal collapses to the mean */
    CLOSE(strat_shrink_factor(0.03, 0.01), 0.75);
    CLOSE(strat_shrink_factor(0.03, 0.0), 1.0);
    CLOSE(strat_shrink_factor(0.0, 0.01), 0.0);
    CLOSE(strat_shrink_factor(-1.0, 0.01), 0.0);
    CLOSE(strat_shrink(0.3, 0.1, 0.5), 0.2);

    /* refit weights: reproducible, Poisson(1), another stream than the bootstrap's */
    uint8_t r1[50], r2[50];
    strat_refit_weights(7, 123, 50, r1);
    strat_refit_weights(7, 123, 50, r2);
    assert_memory_equal(r1, r2, sizeof r1);
    int32_t bw[50];
    strat_bootstrap_weights(7, 123, 50, bw);
    int same = 1;
    for (int b = 0; b < 50; b++)
        same &= bw[b] == r1[b];
    assert_false(same);
    long rsum = 0;
    for (int u = 0; u < 2000; u++) {
        strat_refit_weights(9, u, 50, r1);
        for (int b = 0; b < 50; b++)
            rsum += r1[b];
    }
    assert_true(fabs(rsum / 100000.0 - 1.0) < 0.02);

    /* replicate interval: centred on the point, the replicates' deviations reflected */
    double rv[5] = {11, 9, 10, 14, 6}, lo, hi; /* mean 10 */
    strat_replicate_interval(100, rv, 5, &lo, &hi);
    assert_true(lo < 100 && hi > 100);
    CLOSE(lo, 100 - (strat_quantile((double[]){11, 9, 10, 14, 6}, 5, 0.975) - 10));
    CLOSE(hi, 100 - (strat_quantile((double[]){11, 9, 10, 14, 6}, 5, 0.025) - 10));
    double rn[3] = {NAN, 1, NAN};
    strat_replicate_interval(1, rn, 3, &lo, &hi);
    assert_true(isnan(lo) && isnan(hi));

    int32_t w1[50], w2[50];
    strat_bootstrap_weights(7, 123, 50, w1);
    strat_bootstrap_weights(7, 123, 50, w2);
    assert_memory_equal(w1, w2, sizeof w1);
    long sum = 0;
    for (int u = 0; u < 2000; u++) {
        strat_bootstrap_weights(7, u, 50, w1);
        for (int b = 0; b < 50; b++) {
            assert_true(w1[b] >= 0);
            sum += w1[b];
        }
    }
    assert_true(fabs(sum / 100000.0 - 1.0) < 0.02); /* Poisson(1) weights */
    double v[5] = {5, 1, 4, 2, 3};
    CLOSE(strat_quantile(v, 5, 0.5), 3);
    CLOSE(strat_quantile(v, 5, 0.0), 1);
    CLOSE(strat_quantile(v, 5, 0.125), 1.5);
    assert_true(isnan(strat_quantile(v, 0, 0.5)));
}

/* strat_check_config rejects c with a message that starts with field. */
static void expect_rejected(strat_config c, const char *field)
{
    expect_named(strat_check_config(&c), field);
}

static void test_config_check(void **state)
{
    (void)state;
    strat_config c;
    strat_config_defaults(&c);
    assert_true(isnan(c.budget));
    assert_int_equal(c.k, 5);
    assert_int_equal(c.max_per_category, 2);
    assert_int_equal(c.shrunk, 1);
    assert_int_equal(c.refits, 30);
    assert_int_equal(c.bootstrap, 100);
    assert_string_equal(c.pricing, "elasticity");
    /* the budget must be given */
    assert_string_equal(strat_check_config(&c), "--budget B is required (total expected promotion cost; inf: no limit)");
    c.budget = 10;
    assert_null(strat_check_config(&c));
    c.budget = INFINITY;
    assert_null(strat_check_config(&c));
    c.budget = 10;

    strat_config bad = c;
    bad.budget = -5;
    expect_rejected(bad, "budget");
    assert_string_equal(strat_check_config(&bad), "budget: must be a number >= 0 (got -5)");
    bad = c;
    bad.k = 0;
    expect_rejected(bad, "k");
    bad = c;
    bad.max_per_category = -1;
    expect_rejected(bad, "max_per_category");
    bad = c;
    bad.min_days_since_purchase = -1;
    expect_rejected(bad, "min_days_since_purchase");
    bad = c;
    bad.shipping_cost = -1;
    expect_rejected(bad, "shipping_cost");
    bad = c;
    bad.contact_cost = -1;
    expect_rejected(bad, "contact_cost");
    bad = c;
    bad.min_factor = 1.5;
    expect_rejected(bad, "min_factor");
    bad = c;
    bad.min_factor = 0;
    expect_rejected(bad, "min_factor");
    bad = c;
    bad.pricing = "cheap";
    expect_rejected(bad, "pricing");
    bad = c;
    bad.pricing = NULL;
    expect_rejected(bad, "pricing");
    bad = c;
    bad.spend_effect = "magic";
    expect_rejected(bad, "spend_effect");
    bad = c;
    bad.margin_rate = 1;
    expect_rejected(bad, "margin_rate");
    bad = c;
    bad.bootstrap = -1;
    expect_rejected(bad, "bootstrap");
    bad = c;
    bad.curve_points = 1;
    expect_rejected(bad, "curve_points");
    bad = c;
    bad.max_steps = 1;
    expect_rejected(bad, "bisection_steps");
    bad = c;
    bad.refits = 1;
    expect_rejected(bad, "refits");
    bad = c;
    bad.template_text = "Hi {first_name}";
    expect_rejected(bad, "template");
    assert_non_null(strstr(strat_check_config(&bad), "{first_name}"));
    bad = c;
    bad.template_text = NULL;
    expect_rejected(bad, "template");
    bad = c;
    bad.k = 3;
    bad.template_text = "{item9}";
    assert_non_null(strstr(strat_check_config(&bad), "k = 3"));
    bad = c;
    bad.template_none = "{oops}";
    expect_rejected(bad, "template_none");
}

static void test_config_words(void **state)
{
    (void)state;
    double b = -1;
    assert_null(strat_parse_budget("inf", &b));
    assert_true(isinf(b));
    assert_null(strat_parse_budget("none", &b));
    assert_true(isinf(b));
    assert_null(strat_parse_budget("12.5", &b));
    CLOSE(b, 12.5);
    assert_null(strat_parse_budget("0", &b));
    CLOSE(b, 0);
    assert_string_equal(strat_parse_budget("-5", &b), "budget: must be a number >= 0 or inf, not '-5'");
    assert_non_null(strat_parse_budget("nan", &b));
    assert_non_null(strat_parse_budget("ten", &b));
    assert_non_null(strat_parse_budget(NULL, &b));
    int shrunk = -1;
    assert_null(strat_parse_effects("shrunk", &shrunk));
    assert_int_equal(shrunk, 1);
    assert_null(strat_parse_effects("model", &shrunk));
    assert_int_equal(shrunk, 0);
    assert_string_equal(strat_parse_effects("magic", &shrunk), "effects: must be shrunk or model, not 'magic'");
    assert_non_null(strat_parse_effects(NULL, &shrunk));
}

/* The stage's options: the defaults of the policy, the files required. */
static void test_stage_options(void **state)
{
    (void)state;
    mkt_strategy_options o;
    mkt_strategy_options_init(&o);
    assert_int_equal(o.config.k, 5);
    assert_null(o.store);
    assert_string_equal(mkt_strategy_check_options(&o),
                        "--store STORE.h5, --models MODEL.h5 and --out STRATEGY.h5 are required");
    o.store = "shop.h5";
    o.models = "model.h5";
    o.out = "strategy.h5";
    assert_string_equal(mkt_strategy_check_options(&o),
                        "--budget B is required (total expected promotion cost; inf: no limit)");
    o.config.budget = 10;
    assert_null(mkt_strategy_check_options(&o));
    o.config.max_factor = 0.5;
    assert_int_equal(strncmp(mkt_strategy_check_options(&o), "min_factor", 10), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cost_parse),   cmocka_unit_test(test_profit_arithmetic),
        cmocka_unit_test(test_eligibility),  cmocka_unit_test(test_choice),
        cmocka_unit_test(test_bisection),    cmocka_unit_test(test_prices),
        cmocka_unit_test(test_topk_diverse), cmocka_unit_test(test_topk_diverse_against_oracle),
        cmocka_unit_test(test_mf_topk_exact), cmocka_unit_test(test_template),
        cmocka_unit_test(test_csv),          cmocka_unit_test(test_shrinkage_and_bootstrap),
        cmocka_unit_test(test_config_check), cmocka_unit_test(test_config_words),
        cmocka_unit_test(test_stage_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
