/* test_report.c — src/report_util.c: HTML escaping and gnuplot quoting of
 * hostile and invalid text, number formatting, ROC points against AUC,
 * cumulative gains, curve thinning and interpolation; the check of the
 * stage's options (stages/report.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "report.h"
#include "report_util.h"

static void expect_html(const char *in, const char *want)
{
    char *s = mkt_html_escape(in);
    assert_non_null(s);
    assert_string_equal(s, want);
    free(s);
}

static void test_html_escape(void **state)
{
    (void)state;
    expect_html("plain text", "plain text");
    expect_html("<script>alert('x')</script> & \"q\"",
                "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;");
    expect_html("a\nb\tc\x01" "d", "a b c d");
    expect_html("caf\xc3\xa9 \xe2\x82\xac", "caf\xc3\xa9 \xe2\x82\xac");  /* valid UTF-8 kept */
    expect_html("bad \xff byte", "bad \xef\xbf\xbd byte");                 /* invalid -> U+FFFD */
    expect_html("cut \xe2\x82", "cut \xef\xbf\xbd\xef\xbf\xbd");          /* truncated sequence */
    expect_html("\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd");                   /* overlong '/' */
    expect_html("\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");   /* surrogate */
    expect_html(NULL, "");
}

static void expect_gp(const char *in, int max, const char *want)
{
    char *s = mkt_gp_quote(in, max);
    assert_non_null(s);
    assert_string_equal(s, want);
    free(s);
}

static void test_gp_quote(void **state)
{
    (void)state;
    expect_gp("coupon5", 0, "'coupon5'");
    expect_gp("it's", 0, "'it''s'");
    expect_gp("a\nset output '/etc/x'", 0, "'a set output ''/etc/x'''");
    expect_gp("back\\slash \"dq\" `cmd` @x_{y}^z", 0, "'back\\slash \"dq\" `cmd` @x_{y}^z'");
    expect_gp("abcdef", 3, "'abc...'");
    expect_gp("abc", 3, "'abc'");
    expect_gp("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", 2, "'\xc3\xa9\xc3\xa9...'"); /* counts characters, not bytes */
    expect_gp("x\xffy", 0, "'x?y'");
}

static void test_fmt_num(void **state)
{
    (void)state;
    char b[64];
    assert_string_equal(mkt_fmt_num(b, sizeof b, 1234567.891, 2), "1,234,567.89");
    assert_string_equal(mkt_fmt_num(b, sizeof b, -1234.5, 0), "-1,234");
    assert_string_equal(mkt_fmt_num(b, sizeof b, 999, 0), "999");
    assert_string_equal(mkt_fmt_num(b, sizeof b, 1000, 0), "1,000");
    assert_string_equal(mkt_fmt_num(b, sizeof b, -0.001, 2), "0.00");
    assert_string_equal(mkt_fmt_num(b, sizeof b, 0.0123, 3), "0.012");
    assert_string_equal(mkt_fmt_num(b, sizeof b, NAN, 2), "n/a");
    assert_string_equal(mkt_fmt_num(b, sizeof b, INFINITY, 2), "n/a");
}

/* Trapezoid area under the ROC points equals the exact AUC (ties give diagonal steps). */
static void test_roc(void **state)
{
    (void)state;
    const double s[] = {0.9, 0.8, 0.8, 0.7, 0.5, 0.5, 0.4, 0.1};
    const int y[] = {1, 1, 0, 1, 0, 1, 0, 0};
    double fx[9], ty[9];
    int64_t m = mkt_roc_curve(s, y, 8, fx, ty);
    assert_int_equal(m, 7); /* 6 distinct scores + the origin */
    assert_true(fx[0] == 0 && ty[0] == 0 && fx[m - 1] == 1 && ty[m - 1] == 1);
    double area = 0;
    for (int64_t i = 1; i < m; i++) {
        assert_true(fx[i] >= fx[i - 1] && ty[i] >= ty[i - 1]);
        area += (fx[i] - fx[i - 1]) * (ty[i] + ty[i - 1]) / 2;
    }
    assert_true(fabs(area - mkt_auc(s, y, 8)) < 1e-12);
    /* one class only: no curve */
    const int one[] = {1, 1, 1, 1, 1, 1, 1, 1};
    assert_int_equal(mkt_roc_curve(s, one, 8, fx, ty), 0);
}

static void test_gains(void **state)
{
    (void)state;
    const double s[] = {0.1, 0.9, 0.3, 0.8, 0.5};
    const int y[] = {0, 1, 0, 1, 1};
    double x[6], g[6];
    mkt_gains_curve(s, y, 5, 6, x, g);
    /* order: 0.9(1) 0.8(1) 0.5(1) 0.3(0) 0.1(0) */
    const double want[6] = {0, 1.0 / 3, 2.0 / 3, 1, 1, 1};
    for (int j = 0; j < 6; j++) {
        assert_true(fabs(x[j] - j / 5.0) < 1e-12);
        assert_true(fabs(g[j] - want[j]) < 1e-12);
    }
    /* the decile table agrees at its boundaries */
    double s10[10], x11[11], g11[11];
    int y10[10];
    for (int i = 0; i < 10; i++) {
        s10[i] = (double)((i * 7) % 10);
        y10[i] = i % 3 == 0;
    }
    mkt_gains_curve(s10, y10, 10, 11, x11, g11);
    mkt_lift_table lt;
    mkt_lift_by_decile(s10, y10, 10, &lt);
    for (int k = 0; k < 10; k++)
        assert_true(fabs(g11[k + 1] - lt.cumulative_gain[k]) < 1e-12);
}

static void test_thin_and_interpolate(void **state)
{
    (void)state;
    double x[101], y[101];
    for (int i = 0; i <= 100; i++) {
        x[i] = i / 100.0;
        y[i] = x[i] * x[i];
    }
    int64_t m = mkt_curve_thin(x, y, 101, 0.05);
    assert_true(m < 40 && m > 10);
    assert_true(x[0] == 0 && x[m - 1] == 1 && y[m - 1] == 1);
    for (int64_t i = 1; i < m; i++)
        assert_true(x[i] > x[i - 1]);
    const double bx[] = {0, 10, 20}, by[] = {0, 100, 50};
    assert_true(fabs(mkt_curve_at(bx, by, 3, 5) - 50) < 1e-12);
    assert_true(fabs(mkt_curve_at(bx, by, 3, 15) - 75) < 1e-12);
    assert_true(mkt_curve_at(bx, by, 3, -1) == 0 && mkt_curve_at(bx, by, 3, 99) == 50);
    assert_true(isnan(mkt_curve_at(bx, by, 0, 1)));
}

static void test_check_options(void **state)
{
    (void)state;
    mkt_report_options o = {.store = "shop.h5", .models = "model.h5", .strategy = "strategy.h5", .out = "report",
                            .gnuplot = "gnuplot", .title = "t"};
    assert_null(mkt_report_check_options(&o));
    o.store = o.models = o.strategy = NULL;
    assert_null(mkt_report_check_options(&o));
    o.out = NULL;
    assert_string_equal(mkt_report_check_options(&o),
                        "--out DIR is required (the directory for index.html and the plots)");
    o.out = "";
    assert_non_null(mkt_report_check_options(&o));
    o.out = "model.h5";
    o.models = "model.h5";
    const char *msg = mkt_report_check_options(&o);
    assert_non_null(msg);
    assert_int_equal(strncmp(msg, "--out model.h5 is also an input file", 36), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_html_escape), cmocka_unit_test(test_gp_quote),  cmocka_unit_test(test_fmt_num),
        cmocka_unit_test(test_roc),         cmocka_unit_test(test_gains),
        cmocka_unit_test(test_thin_and_interpolate), cmocka_unit_test(test_check_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
