/* test_gen.c — the synthetic shop model of src/gen.c: configuration checks,
 * determinism per user (independent of which users came before), event
 * validity (sorted, in the period, purchase value = qty * price), the planted
 * rating noise, and the campaign's randomization and true effects against
 * what the sampled outcomes show.  Ends with a speed print (not asserted). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "unit_config_check.h"

#include "gen.h"

static mkt_gen_config small_config(void)
{
    mkt_gen_config c;
    mkt_gen_config_defaults(&c);
    c.users = 5000;
    c.items = 2000;
    c.days = 30;
    c.seed = 42;
    return c;
}

/* Draws user u into usr, whose taste points at taste (K doubles). */
static void draw_user(const mkt_gen_config *c, const mkt_gen_world *w, int64_t u, mkt_gen_user *usr, double *taste)
{
    usr->taste = taste;
    mkt_gen_user_draw(c, w, u, usr);
}

static void expect_rejected(mkt_gen_config c, const char *field)
{
    expect_named(mkt_gen_check(&c), field);
}

static void test_config_check(void **state)
{
    (void)state;
    mkt_gen_config c;
    mkt_gen_config_defaults(&c);
    assert_null(mkt_gen_check(&c));
    assert_int_equal(c.factors, 8);
    assert_int_equal(c.categories, 20);
    assert_int_equal(c.brands, 50);
    assert_int_equal(c.start_ts, 1767225600);

    mkt_gen_config bad = c;
    bad.users = 0;
    expect_rejected(bad, "users");
    assert_string_equal(mkt_gen_check(&bad), "users must be >= 1 (got 0)");
    bad = c;
    bad.items = 0;
    expect_rejected(bad, "items");
    bad = c;
    bad.days = 0;
    expect_rejected(bad, "days");
    bad = c;
    bad.factors = 0;
    expect_rejected(bad, "factors");
    bad = c;
    bad.categories = 0;
    expect_rejected(bad, "categories");
    bad = c;
    bad.brands = -1;
    expect_rejected(bad, "brands");
    bad = c;
    bad.rating_noise = -0.1;
    expect_rejected(bad, "rating_noise");
    bad = c;
    bad.campaign_share = 1.5;
    expect_rejected(bad, "campaign_share");
    bad = c;
    bad.sessions_per_user = NAN;
    expect_rejected(bad, "sessions_per_user");
    bad = c;
    bad.users = (int64_t)INT32_MAX + 1;
    expect_rejected(bad, "users");
}

static void test_world(void **state)
{
    (void)state;
    mkt_gen_config c = small_config();
    mkt_gen_world a, b;
    assert_int_equal(mkt_gen_world_build(&c, &a), 0);
    assert_int_equal(mkt_gen_world_build(&c, &b), 0);
    int K = c.factors;
    assert_memory_equal(a.item_factors, b.item_factors, sizeof(double) * (size_t)(c.items * K));
    assert_memory_equal(a.price, b.price, sizeof(double) * (size_t)c.items);
    assert_memory_equal(a.category_factors, b.category_factors, sizeof(double) * (size_t)(c.categories * K));
    assert_true(a.global_mean == b.global_mean);
    int64_t listed = 0;
    for (int k = 0; k < c.categories; k++) {
        for (int64_t j = a.category_start[k]; j < a.category_start[k + 1]; j++) {
            assert_int_equal(a.category[a.category_items[j]], k);
            listed++;
        }
    }
    assert_int_equal(listed, c.items);
    for (int64_t i = 0; i < c.items; i++) {
        assert_true(a.cost[i] > 0 && a.cost[i] < a.price[i]);
        assert_true(fabs(a.price[i] * 100 - round(a.price[i] * 100)) < 1e-6);
        assert_true(a.brand[i] >= 0 && a.brand[i] < c.brands);
        assert_true(a.stock[i] >= 0);
    }
    mkt_gen_world_free(&b);
    /* a different seed gives a different world */
    c.seed = 43;
    assert_int_equal(mkt_gen_world_build(&c, &b), 0);
    assert_true(memcmp(a.price, b.price, sizeof(double) * (size_t)c.items) != 0);
    mkt_gen_world_free(&a);
    mkt_gen_world_free(&b);
}

static void test_user_determinism(void **state)
{
    (void)state;
    mkt_gen_config c = small_config();
    mkt_gen_world w;
    assert_int_equal(mkt_gen_world_build(&c, &w), 0);
    double taste[8], taste2[8];
    mkt_gen_user usr, usr2;
    const int64_t target = 37;

    /* user 37 alone */
    mkt_event *alone = NULL;
    size_t n_alone = 0, cap_alone = 0;
    draw_user(&c, &w, target, &usr, taste);
    size_t got = mkt_gen_user_events(&c, &w, target, &usr, &alone, &n_alone, &cap_alone);
    got += mkt_gen_user_ratings(&c, &w, target, &usr, &alone, &n_alone, &cap_alone);
    assert_int_equal(got, n_alone);
    assert_true(n_alone > 0);

    /* users 99 down to 0 into one buffer (another order, other users first) */
    mkt_event *bulk = NULL;
    size_t n_bulk = 0, cap_bulk = 0, begin = 0, end = 0;
    for (int64_t u = 99; u >= 0; u--) {
        draw_user(&c, &w, u, &usr2, taste2);
        if (u == target)
            begin = n_bulk;
        mkt_gen_user_events(&c, &w, u, &usr2, &bulk, &n_bulk, &cap_bulk);
        mkt_gen_user_ratings(&c, &w, u, &usr2, &bulk, &n_bulk, &cap_bulk);
        if (u == target) {
            end = n_bulk;
            assert_memory_equal(taste, taste2, sizeof taste);
            assert_memory_equal(usr.attrs, usr2.attrs, sizeof usr.attrs);
            assert_true(usr.bias == usr2.bias && usr.activity == usr2.activity);
        }
    }
    assert_int_equal(end - begin, n_alone);
    assert_memory_equal(alone, bulk + begin, n_alone * sizeof(mkt_event));

    /* and once more, appended after everything else */
    size_t before = n_bulk;
    draw_user(&c, &w, target, &usr2, taste2);
    mkt_gen_user_events(&c, &w, target, &usr2, &bulk, &n_bulk, &cap_bulk);
    mkt_gen_user_ratings(&c, &w, target, &usr2, &bulk, &n_bulk, &cap_bulk);
    assert_int_equal(n_bulk - before, n_alone);
    assert_memory_equal(alone, bulk + before, n_alone * sizeof(mkt_event));

    /* campaign rows and truth too */
    mkt_campaign_row r1, r2;
    double b1, b2, ec1[3], ec2[3], es1[3], es2[3];
    int in1 = mkt_gen_user_campaign(&c, &w, target, &usr, &r1, &b1, ec1, es1);
    int in2 = mkt_gen_user_campaign(&c, &w, target, &usr2, &r2, &b2, ec2, es2);
    assert_int_equal(in1, in2);
    assert_memory_equal(&r1, &r2, sizeof r1);
    assert_true(b1 == b2);
    assert_memory_equal(ec1, ec2, sizeof ec1);
    assert_memory_equal(es1, es2, sizeof es1);
    assert_int_equal(r1.user, target);
    assert_int_equal(r1.order, target);

    free(alone);
    free(bulk);
    mkt_gen_world_free(&w);
}

static void test_events_valid(void **state)
{
    (void)state;
    mkt_gen_config c = small_config();
    mkt_gen_world w;
    assert_int_equal(mkt_gen_world_build(&c, &w), 0);
    const int64_t end_ts = c.start_ts + (int64_t)c.days * 86400;
    double taste[8];
    mkt_gen_user usr;
    mkt_event *buf = NULL;
    size_t len = 0, cap = 0;
    int64_t per_type[MKT_EV_NTYPES] = {0}, total = 0;
    int64_t by_hour[24] = {0};
    const int64_t users = 3000;
    for (int64_t u = 0; u < users; u++) {
        draw_user(&c, &w, u, &usr, taste);
        len = 0;
        size_t n = mkt_gen_user_events(&c, &w, u, &usr, &buf, &len, &cap);
        assert_int_equal(n, len);
        assert_true(n >= 1); /* sessions_per_user >= 1: every user has a session */
        for (size_t e = 0; e < n; e++) {
            const mkt_event *ev = &buf[e];
            assert_int_equal(ev->user, u);
            assert_true(ev->item >= 0 && ev->item < c.items);
            if (ev->ts < c.start_ts || ev->ts >= end_ts)
                fail_msg("user %lld event %zu: ts %lld outside [%lld, %lld)", (long long)u, e, (long long)ev->ts,
                         (long long)c.start_ts, (long long)end_ts);
            assert_int_equal(ev->order, u * ((int64_t)1 << 24) + (int64_t)e);
            if (e > 0 && ev->ts < buf[e - 1].ts)
                fail_msg("user %lld: events %zu and %zu out of ts order", (long long)u, e - 1, e);
            assert_true(ev->type >= MKT_EV_VIEW && ev->type <= MKT_EV_PURCHASE);
            assert_true(ev->qty >= 1);
            if (ev->type == MKT_EV_PURCHASE) {
                assert_true(ev->value == (double)ev->qty * w.price[ev->item]);
                /* a purchase follows a cart of the same item and quantity */
                assert_true(e > 0 && buf[e - 1].type == MKT_EV_CART && buf[e - 1].item == ev->item &&
                            buf[e - 1].qty == ev->qty);
            } else {
                assert_true(ev->value == 0.0);
                if (ev->type != MKT_EV_CART)
                    assert_int_equal(ev->qty, 1);
            }
            per_type[ev->type]++;
            if (ev->type == MKT_EV_VIEW)
                by_hour[(ev->ts % 86400) / 3600]++;
        }
        total += (int64_t)n;
    }
    printf("events per user %.1f: view %lld click %lld cart %lld fav %lld purchase %lld\n",
           (double)total / (double)users, (long long)per_type[MKT_EV_VIEW], (long long)per_type[MKT_EV_CLICK],
           (long long)per_type[MKT_EV_CART], (long long)per_type[MKT_EV_FAV], (long long)per_type[MKT_EV_PURCHASE]);
    double mean = (double)total / (double)users;
    assert_true(mean > 15 && mean < 50);
    /* the funnel narrows */
    assert_true(per_type[MKT_EV_VIEW] > per_type[MKT_EV_CLICK]);
    assert_true(per_type[MKT_EV_CLICK] > per_type[MKT_EV_CART]);
    assert_true(per_type[MKT_EV_CART] > per_type[MKT_EV_PURCHASE]);
    assert_true(per_type[MKT_EV_PURCHASE] > 0 && per_type[MKT_EV_FAV] > 0);
    /* the time-of-day pattern: evening busier than the small hours */
    assert_true(by_hour[20] > 3 * by_hour[3]);
    free(buf);
    mkt_gen_world_free(&w);
}

static void check_rating_noise(double noise)
{
    mkt_gen_config c = small_config();
    c.rating_noise = noise;
    mkt_gen_world w;
    assert_int_equal(mkt_gen_world_build(&c, &w), 0);
    double taste[8];
    mkt_gen_user usr;
    mkt_event *buf = NULL;
    size_t len = 0, cap = 0;
    double sum = 0, sum2 = 0;
    int64_t n_total = 0;
    const int64_t users = 3000;
    for (int64_t u = 0; u < users; u++) {
        draw_user(&c, &w, u, &usr, taste);
        len = 0;
        size_t n = mkt_gen_user_ratings(&c, &w, u, &usr, &buf, &len, &cap);
        for (size_t e = 0; e < n; e++) {
            const mkt_event *ev = &buf[e];
            assert_int_equal(ev->type, MKT_EV_RATING);
            assert_int_equal(ev->user, u);
            assert_int_equal(ev->order, u * ((int64_t)1 << 24) + ((int64_t)1 << 23) + (int64_t)e);
            if (e > 0)
                assert_true(ev->ts >= buf[e - 1].ts);
            for (size_t f = 0; f < e; f++)
                assert_true(buf[f].item != ev->item); /* distinct items */
            double d = ev->value - mkt_gen_rating_mean(&w, &usr, ev->item);
            sum += d;
            sum2 += d * d;
        }
        n_total += (int64_t)n;
    }
    double mean = sum / (double)n_total;
    double sd = sqrt(sum2 / (double)n_total - mean * mean);
    printf("ratings: %.1f per user, residual mean %.4f sd %.4f (planted %.4f)\n", (double)n_total / (double)users, mean,
           sd, noise);
    assert_true(fabs((double)n_total / (double)users - c.ratings_per_user) < 1.0);
    if (fabs(sd - noise) > 0.05 * noise)
        fail_msg("rating residual sd %.4f is not within 5%% of the planted %.4f", sd, noise);
    assert_true(fabs(mean) < 0.05 * noise);
    free(buf);
    mkt_gen_world_free(&w);
}

static void test_rating_noise(void **state)
{
    (void)state;
    check_rating_noise(0.5);
    check_rating_noise(1.3);
}

/* Few items: a user's distinct ratings exhaust the catalogue. */
static void test_ratings_few_items(void **state)
{
    (void)state;
    mkt_gen_config c = small_config();
    c.items = 7;
    c.ratings_per_user = 50;
    mkt_gen_world w;
    assert_int_equal(mkt_gen_world_build(&c, &w), 0);
    double taste[8];
    mkt_gen_user usr;
    mkt_event *buf = NULL;
    size_t len = 0, cap = 0;
    for (int64_t u = 0; u < 50; u++) {
        draw_user(&c, &w, u, &usr, taste);
        len = 0;
        size_t n = mkt_gen_user_ratings(&c, &w, u, &usr, &buf, &len, &cap);
        assert_int_equal(n, 7);
        int seen[7] = {0};
        for (size_t e = 0; e < n; e++)
            assert_int_equal(seen[buf[e].item]++, 0);
        mkt_gen_user_events(&c, &w, u, &usr, &buf, &len, &cap);
    }
    free(buf);
    mkt_gen_world_free(&w);
}

static void test_campaign(void **state)
{
    (void)state;
    mkt_gen_config c = small_config();
    c.users = 400000;
    mkt_gen_world w;
    assert_int_equal(mkt_gen_world_build(&c, &w), 0);
    double taste[8];
    mkt_gen_user usr;
    enum { T = MKT_GEN_TREATMENTS };
    int64_t arm_n[T] = {0}, arm_conv[T] = {0};
    double arm_spend[T] = {0}, arm_spend2[T] = {0};
    double eff_conv_sum[T - 1] = {0}, eff_spend_sum[T - 1] = {0};
    int64_t eff_pos[T - 1] = {0}, eff_neg[T - 1] = {0}, all_zero = 0;
    double level_conv_sum[T] = {0}, level_spend_sum[T] = {0}; /* sums of P(convert | t), E[spend | t] */
    for (int64_t u = 0; u < c.users; u++) {
        draw_user(&c, &w, u, &usr, taste);
        mkt_campaign_row row;
        double base, ec[T - 1], es[T - 1];
        assert_int_equal(mkt_gen_user_campaign(&c, &w, u, &usr, &row, &base, ec, es), 1);
        assert_true(base > 0 && base < 1);
        assert_true(row.treatment >= 0 && row.treatment < T);
        assert_true(row.visit >= row.conversion); /* a conversion implies a visit */
        assert_true(row.conversion || row.spend == 0);
        assert_true(row.spend >= 0);
        double conv[T], spend_if[T];
        mkt_gen_campaign_truth(&usr, conv, spend_if);
        assert_true(base == conv[0]);
        for (int t = 0; t < T; t++) {
            level_conv_sum[t] += conv[t];
            level_spend_sum[t] += conv[t] * spend_if[t];
            if (t > 0) {
                assert_true(ec[t - 1] == conv[t] - conv[0]);
                assert_true(fabs(es[t - 1] - (conv[t] * spend_if[t] - conv[0] * spend_if[0])) < 1e-9);
            }
        }
        arm_n[row.treatment]++;
        arm_conv[row.treatment] += row.conversion;
        arm_spend[row.treatment] += row.spend;
        arm_spend2[row.treatment] += row.spend * row.spend;
        int zero = 1;
        for (int t = 0; t < T - 1; t++) {
            eff_conv_sum[t] += ec[t];
            eff_spend_sum[t] += es[t];
            eff_pos[t] += ec[t] > 0.01;
            eff_neg[t] += ec[t] < -0.01;
            if (fabs(ec[t]) > 0.002)
                zero = 0;
        }
        all_zero += zero;
    }
    /* balance: chi-square with 3 degrees of freedom; P(> 21.1) = 1e-4 */
    double expected = (double)c.users / T, chi2 = 0;
    for (int t = 0; t < T; t++)
        chi2 += ((double)arm_n[t] - expected) * ((double)arm_n[t] - expected) / expected;
    printf("arms %lld %lld %lld %lld, chi2 %.2f\n", (long long)arm_n[0], (long long)arm_n[1], (long long)arm_n[2],
           (long long)arm_n[3], chi2);
    assert_true(chi2 < 21.1);

    /* each arm's outcomes against the closed forms averaged over all users */
    for (int t = 0; t < T; t++) {
        double p = (double)arm_conv[t] / (double)arm_n[t], want = level_conv_sum[t] / (double)c.users;
        double se = sqrt(p * (1 - p) / (double)arm_n[t]);
        double m = arm_spend[t] / (double)arm_n[t], want_m = level_spend_sum[t] / (double)c.users;
        double se_m = sqrt((arm_spend2[t] / (double)arm_n[t] - m * m) / (double)arm_n[t]);
        printf("%-13s P(convert) observed %.4f model %.4f (se %.4f); E[spend] observed %.3f model %.3f (se %.3f)\n",
               mkt_gen_treatment_names[t], p, want, se, m, want_m, se_m);
        if (fabs(p - want) > 4 * se)
            fail_msg("%s: conversion rate %.4f vs model %.4f", mkt_gen_treatment_names[t], p, want);
        if (fabs(m - want_m) > 4 * se_m)
            fail_msg("%s: mean spend %.3f vs model %.3f", mkt_gen_treatment_names[t], m, want_m);
    }
    double p0 = (double)arm_conv[0] / (double)arm_n[0];
    double m0 = arm_spend[0] / (double)arm_n[0], v0 = arm_spend2[0] / (double)arm_n[0] - m0 * m0;
    for (int t = 1; t < T; t++) {
        double pt = (double)arm_conv[t] / (double)arm_n[t];
        double diff = pt - p0, truth = eff_conv_sum[t - 1] / (double)c.users;
        double se = sqrt(pt * (1 - pt) / (double)arm_n[t] + p0 * (1 - p0) / (double)arm_n[0]);
        double mt = arm_spend[t] / (double)arm_n[t], vt = arm_spend2[t] / (double)arm_n[t] - mt * mt;
        double sdiff = mt - m0, struth = eff_spend_sum[t - 1] / (double)c.users;
        double sse = sqrt(vt / (double)arm_n[t] + v0 / (double)arm_n[0]);
        printf("%-13s conversion effect: observed %+.4f true mean %+.4f (se %.4f); spend: observed %+.3f true mean "
               "%+.3f (se %.3f); users with effect > +0.01: %lld, < -0.01: %lld\n",
               mkt_gen_treatment_names[t], diff, truth, se, sdiff, struth, sse, (long long)eff_pos[t - 1],
               (long long)eff_neg[t - 1]);
        if (fabs(diff - truth) > 4 * se)
            fail_msg("%s: observed conversion difference %.4f vs mean true effect %.4f (se %.4f)",
                     mkt_gen_treatment_names[t], diff, truth, se);
        if (fabs(sdiff - struth) > 4 * sse)
            fail_msg("%s: observed spend difference %.3f vs mean true effect %.3f (se %.3f)",
                     mkt_gen_treatment_names[t], sdiff, struth, sse);
    }
    /* heterogeneity: coupon5 helps some users and harms others; pct10 never harms conversion */
    int mixed = 0;
    for (int t = 0; t < T - 1; t++)
        mixed |= eff_pos[t] > 1000 && eff_neg[t] > 1000;
    assert_true(mixed);
    assert_true(eff_pos[MKT_GEN_COUPON5 - 1] > 1000 && eff_neg[MKT_GEN_COUPON5 - 1] > 1000);
    assert_int_equal(eff_neg[MKT_GEN_PCT10 - 1], 0);
    assert_int_equal(eff_neg[MKT_GEN_FREE_SHIPPING - 1], 0);
    assert_string_equal(mkt_gen_treatment_names[MKT_GEN_PCT10], "pct10");
    printf("users with |effect| <= 0.002 for every treatment: %lld\n", (long long)all_zero);
    assert_true(all_zero > c.users / 100);

    /* campaign_share: the share of users in the campaign */
    c.campaign_share = 0.3;
    int64_t in = 0;
    for (int64_t u = 0; u < 20000; u++) {
        draw_user(&c, &w, u, &usr, taste);
        mkt_campaign_row row;
        double base, ec[T - 1], es[T - 1];
        in += mkt_gen_user_campaign(&c, &w, u, &usr, &row, &base, ec, es);
    }
    assert_true(fabs((double)in / 20000.0 - 0.3) < 0.015);
    mkt_gen_world_free(&w);
}

static double seconds_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void test_speed(void **state)
{
    (void)state;
    mkt_gen_config c;
    mkt_gen_config_defaults(&c);
    c.users = 100000;
    c.items = 100000;
    c.days = 30;
    double t0 = seconds_now();
    mkt_gen_world w;
    assert_int_equal(mkt_gen_world_build(&c, &w), 0);
    double t1 = seconds_now();
    double taste[8];
    mkt_gen_user usr;
    mkt_event *buf = NULL;
    size_t len = 0, cap = 0;
    int64_t total = 0;
    for (int64_t u = 0; u < c.users; u++) {
        draw_user(&c, &w, u, &usr, taste);
        len = 0;
        total += (int64_t)mkt_gen_user_events(&c, &w, u, &usr, &buf, &len, &cap);
    }
    double t2 = seconds_now();
    int64_t ratings = 0;
    for (int64_t u = 0; u < c.users; u++) {
        draw_user(&c, &w, u, &usr, taste);
        len = 0;
        ratings += (int64_t)mkt_gen_user_ratings(&c, &w, u, &usr, &buf, &len, &cap);
    }
    double t3 = seconds_now();
    printf("speed: world of %lld items %.3fs; %lld users: %.1f behaviour events/user, %.2fs, %.2fM events/s; "
           "ratings %.2fM/s\n",
           (long long)c.items, t1 - t0, (long long)c.users, (double)total / (double)c.users, t2 - t1,
           (double)total / (t2 - t1) / 1e6, (double)ratings / (t3 - t2) / 1e6);
    free(buf);
    mkt_gen_world_free(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_check),     cmocka_unit_test(test_world),
        cmocka_unit_test(test_user_determinism), cmocka_unit_test(test_events_valid),
        cmocka_unit_test(test_rating_noise),     cmocka_unit_test(test_ratings_few_items),
        cmocka_unit_test(test_campaign),         cmocka_unit_test(test_speed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
