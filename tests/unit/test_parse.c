/* test_parse.c — the strict value parsers of src/parse.c: integers, decimal
 * numbers, every timestamp form with its range checks, and UTF-8 validity. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "parse.h"

static void expect_int64(const char *s, int64_t want)
{
    int64_t v = 12345;
    if (mkt_parse_int64(s, &v) != 0)
        fail_msg("mkt_parse_int64 rejected \"%s\"", s);
    assert_int_equal(v, want);
}

static void expect_int64_rejected(const char *s)
{
    int64_t v = 12345;
    if (mkt_parse_int64(s, &v) == 0)
        fail_msg("mkt_parse_int64 accepted \"%s\" as %lld", s, (long long)v);
    assert_int_equal(v, 12345); /* untouched on failure */
}

static void test_int64(void **state)
{
    (void)state;
    expect_int64("42", 42);
    expect_int64("  -7 ", -7);
    expect_int64("\t+3\t", 3);
    expect_int64("0", 0);
    expect_int64("-0", 0);
    expect_int64("007", 7);
    expect_int64("9223372036854775807", INT64_MAX);
    expect_int64("-9223372036854775808", INT64_MIN);
    expect_int64_rejected("9223372036854775808");
    expect_int64_rejected("-9223372036854775809");
    expect_int64_rejected("99999999999999999999999");
    expect_int64_rejected("");
    expect_int64_rejected("   ");
    expect_int64_rejected("-");
    expect_int64_rejected("+");
    expect_int64_rejected("1 2");
    expect_int64_rejected("12a");
    expect_int64_rejected("0x10");
    expect_int64_rejected("1.0");
    expect_int64_rejected("--1");
    expect_int64_rejected("1e3");
}

static void expect_double(const char *s, double want)
{
    double v = -999;
    if (mkt_parse_double(s, &v) != 0)
        fail_msg("mkt_parse_double rejected \"%s\"", s);
    assert_true(v == want);
}

static void expect_double_rejected(const char *s)
{
    double v = -999;
    if (mkt_parse_double(s, &v) == 0)
        fail_msg("mkt_parse_double accepted \"%s\" as %g", s, v);
    assert_true(v == -999);
}

static void test_double(void **state)
{
    (void)state;
    expect_double("3.5", 3.5);
    expect_double("  -0.25 ", -0.25);
    expect_double(".5", 0.5);
    expect_double("5.", 5.0);
    expect_double("+2", 2.0);
    expect_double("1e3", 1000.0);
    expect_double("1E-2", 0.01);
    expect_double("2.5e+1", 25.0);
    expect_double("19.5", 19.5);
    expect_double("1e-400", 0.0); /* underflow to zero is finite */
    expect_double("1.7976931348623157e308", 1.7976931348623157e308);
    expect_double_rejected("");
    expect_double_rejected("  ");
    expect_double_rejected("nan");
    expect_double_rejected("NaN");
    expect_double_rejected("inf");
    expect_double_rejected("-inf");
    expect_double_rejected("infinity");
    expect_double_rejected("1e999");
    expect_double_rejected("-1e309");
    expect_double_rejected("0x1p3");
    expect_double_rejected("1.2.3");
    expect_double_rejected("e5");
    expect_double_rejected(".");
    expect_double_rejected("-.");
    expect_double_rejected("1e");
    expect_double_rejected("1e+");
    expect_double_rejected("3,5");
    expect_double_rejected("1 2");
    expect_double_rejected("abc");
    expect_double_rejected("12abc");
}

static void expect_time(const char *s, int64_t want)
{
    int64_t v = 777;
    if (mkt_parse_timestamp(s, &v) != 0)
        fail_msg("mkt_parse_timestamp rejected \"%s\"", s);
    if (v != want)
        fail_msg("mkt_parse_timestamp(\"%s\") = %lld, want %lld", s, (long long)v, (long long)want);
}

static void expect_time_rejected(const char *s)
{
    int64_t v = 777;
    if (mkt_parse_timestamp(s, &v) == 0)
        fail_msg("mkt_parse_timestamp accepted \"%s\" as %lld", s, (long long)v);
    assert_int_equal(v, 777);
}

static void test_timestamp_forms(void **state)
{
    (void)state;
    /* reference values from Python's calendar.timegm */
    expect_time("1767261600", 1767261600);
    expect_time(" 1767261600 ", 1767261600);
    expect_time("-1", -1);
    expect_time("0", 0);
    expect_time("2026-01-01 10:00:00", 1767261600);
    expect_time("2026-01-01T10:00:00", 1767261600);
    expect_time("2026-01-01T10:00:00Z", 1767261600);
    expect_time("2026-01-01 10:00:00Z", 1767261600);
    expect_time("2026-01-01 10:00:00 UTC", 1767261600);
    expect_time("2026-01-01 10:00:00.250", 1767261600);
    expect_time("2026-01-01T10:00:00.999Z", 1767261600);
    expect_time("2026-01-01 10:05", 1767261900);
    expect_time("2026-01-01T10:05", 1767261900);
    expect_time("2026-01-01", 1767225600);
    expect_time("  2026-01-01  ", 1767225600);
    expect_time("12/1/2010 8:26", 1291191960);
    expect_time("12/01/2010 08:26", 1291191960);
    expect_time("12/1/2010 8:26:59", 1291192019);
    expect_time("1969-12-31 23:59:59", -1);
    expect_time("1970-01-01 00:00:00", 0);
    expect_time("9999-12-31 23:59:59", 253402300799LL);
    expect_time("0001-01-01", -62135596800LL);
    expect_time("1900-03-01", -2203891200LL);
}

static void test_timestamp_calendar(void **state)
{
    (void)state;
    expect_time("2024-02-29", 1709164800);         /* leap year */
    expect_time("2000-02-29 12:00:00", 951825600); /* divisible by 400: leap */
    expect_time("2/29/2024 0:00", 1709164800);
    expect_time_rejected("2023-02-29");            /* not a leap year */
    expect_time_rejected("1900-02-29");            /* divisible by 100: not leap */
    expect_time_rejected("2/29/2023 0:00");
    expect_time_rejected("2026-04-31");
    expect_time_rejected("2026-06-31 00:00:00");
    expect_time_rejected("2026-01-32");
    expect_time_rejected("2026-00-10");
    expect_time_rejected("2026-13-01");
    expect_time_rejected("2026-01-00");
    expect_time_rejected("2026-01-01 24:00:00");
    expect_time_rejected("2026-01-01 10:60:00");
    expect_time_rejected("2026-01-01 10:00:60");
    expect_time_rejected("13/1/2010 8:26");
    expect_time_rejected("0/1/2010 8:26");
    expect_time_rejected("12/32/2010 8:26");
    expect_time_rejected("4/31/2010 8:26");
    expect_time_rejected("12/1/2010 24:00");
    expect_time_rejected("12/1/2010 8:61");
}

static void test_timestamp_junk(void **state)
{
    (void)state;
    expect_time_rejected("");
    expect_time_rejected("   ");
    expect_time_rejected("not-a-time");
    expect_time_rejected("99999999999999999999"); /* int64 overflow */
    expect_time_rejected("-");
    expect_time_rejected("2026-1-01");
    expect_time_rejected("2026-01-1");
    expect_time_rejected("26-01-01");
    expect_time_rejected("20260-01-01");
    expect_time_rejected("2026/01/01");
    expect_time_rejected("2026-01-01x");
    expect_time_rejected("2026-01-01T");
    expect_time_rejected("2026-01-01 T10:00");
    expect_time_rejected("2026-01-01 10");
    expect_time_rejected("2026-01-01 10:0");
    expect_time_rejected("2026-01-01 1:00");
    expect_time_rejected("2026-01-01 10:00:0");
    expect_time_rejected("2026-01-01 10:00:00.");
    expect_time_rejected("2026-01-01 10:00:00 +0100");
    expect_time_rejected("2026-01-01 10:00:00ZZ");
    expect_time_rejected("2026-01-01 10:00:00 UTC+1");
    expect_time_rejected("12/1/10 8:26");
    expect_time_rejected("12/1/2010");
    expect_time_rejected("12/1/2010 8:6");
    expect_time_rejected("12/1/2010 8:26:5");
    expect_time_rejected("12/1/2010  8:26");
    expect_time_rejected("123/1/2010 8:26");
    expect_time_rejected("12-1-2010 8:26");
    expect_time_rejected("1.5");
}

static void test_days_from_civil(void **state)
{
    (void)state;
    assert_int_equal(mkt_days_from_civil(1970, 1, 1), 0);
    assert_int_equal(mkt_days_from_civil(1970, 1, 2), 1);
    assert_int_equal(mkt_days_from_civil(1969, 12, 31), -1);
    assert_int_equal(mkt_days_from_civil(2000, 3, 1), 11017);
    assert_int_equal(mkt_days_from_civil(2026, 1, 1), 20454);
}

static void expect_utf8(const char *s, size_t len, int want)
{
    int got = mkt_utf8_valid(s, len);
    if (got != want) {
        char hex[256] = "";
        for (size_t i = 0; i < len && i < 40; i++)
            snprintf(hex + strlen(hex), sizeof hex - strlen(hex), "%02x ", (unsigned char)s[i]);
        fail_msg("mkt_utf8_valid(%s) = %d, want %d", hex, got, want);
    }
}

#define UTF8(literal, want) expect_utf8(literal, sizeof(literal) - 1, want)

static void test_utf8(void **state)
{
    (void)state;
    UTF8("", 1);
    UTF8("plain ascii", 1);
    UTF8("caf\xC3\xA9", 1);                         /* U+00E9 */
    UTF8("\xE2\x82\xAC", 1);                         /* U+20AC */
    UTF8("\xF0\x9F\x98\x80", 1);                     /* U+1F600 */
    UTF8("\xF4\x8F\xBF\xBF", 1);                     /* U+10FFFF, the last code point */
    UTF8("\xED\x9F\xBF", 1);                         /* U+D7FF, just below the surrogates */
    UTF8("\xEE\x80\x80", 1);                         /* U+E000, just above */
    UTF8("\xC2\x80", 1);                             /* U+0080, smallest two-byte */
    UTF8("\xE0\xA0\x80", 1);                         /* U+0800, smallest three-byte */
    UTF8("\xF0\x90\x80\x80", 1);                     /* U+10000, smallest four-byte */
    UTF8("a\0b", 1);                                 /* NUL is valid UTF-8 */
    UTF8("\xC0\x80", 0);                             /* overlong NUL */
    UTF8("\xC1\xBF", 0);                             /* overlong two-byte */
    UTF8("\xE0\x80\x80", 0);                         /* overlong three-byte */
    UTF8("\xE0\x9F\xBF", 0);                         /* overlong three-byte, top */
    UTF8("\xF0\x80\x80\x80", 0);                     /* overlong four-byte */
    UTF8("\xF0\x8F\xBF\xBF", 0);                     /* overlong four-byte, top */
    UTF8("\xED\xA0\x80", 0);                         /* U+D800 surrogate */
    UTF8("\xED\xBF\xBF", 0);                         /* U+DFFF surrogate */
    UTF8("\xF4\x90\x80\x80", 0);                     /* U+110000 */
    UTF8("\xF5\x80\x80\x80", 0);
    UTF8("\xFF", 0);
    UTF8("\x80", 0);                                 /* lone continuation */
    UTF8("\xE2\x82", 0);                             /* truncated at end */
    UTF8("\xC3", 0);
    UTF8("\xC3\x28", 0);                             /* bad continuation */
    UTF8("\xE2\x28\xAC", 0);
    UTF8("\xF0\x9F\x98\x28", 0);
    UTF8("abcdefghijklmnopqrstuvwx\xC3", 0);         /* after the eight-byte ASCII path */
    UTF8("abcdefghijklmnopqrstuvwx\xC3\xA9yz", 1);
    UTF8("abcdefgh\xED\xA0\x80ijklmnop", 0);
    /* the length is respected: a bad byte just past it is not looked at */
    expect_utf8("abc\xFF", 3, 1);
    expect_utf8("\xC3\xA9", 1, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_int64),
        cmocka_unit_test(test_double),
        cmocka_unit_test(test_timestamp_forms),
        cmocka_unit_test(test_timestamp_calendar),
        cmocka_unit_test(test_timestamp_junk),
        cmocka_unit_test(test_days_from_civil),
        cmocka_unit_test(test_utf8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
