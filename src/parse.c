/* parse.c — strict value parsers (see parse.h).  Pure code: timestamps are
 * computed with a days-from-civil formula, never with mktime/timegm, so the
 * result depends on neither the locale nor the TZ variable.  Decimal numbers
 * are checked against their grammar here and then converted by strtod, which
 * reads '.' as the decimal point in the C locale (mkt never calls setlocale). */
#include "parse.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int is_blank_char(char c) { return c == ' ' || c == '\t'; }
static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* The string without surrounding blanks: [*begin, *end). */
static void trim(const char *s, const char **begin, const char **end)
{
    while (is_blank_char(*s))
        s++;
    const char *e = s + strlen(s);
    while (e > s && is_blank_char(e[-1]))
        e--;
    *begin = s;
    *end = e;
}

/* Integer in [begin, end) with optional sign. */
static int parse_int64_span(const char *p, const char *end, int64_t *out)
{
    int negative = 0;
    if (p < end && (*p == '+' || *p == '-')) {
        negative = *p == '-';
        p++;
    }
    if (p == end)
        return -1;
    uint64_t limit = negative ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    uint64_t value = 0;
    for (; p < end; p++) {
        if (!is_digit(*p))
            return -1;
        unsigned digit = (unsigned)(*p - '0');
        if (value > (limit - digit) / 10)
            return -1;
        value = value * 10 + digit;
    }
    if (negative)
        *out = value == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)value;
    else
        *out = (int64_t)value;
    return 0;
}

int mkt_parse_int64(const char *s, int64_t *out)
{
    const char *b, *e;
    trim(s, &b, &e);
    return parse_int64_span(b, e, out);
}

int mkt_parse_double(const char *s, double *out)
{
    const char *b, *e;
    trim(s, &b, &e);
    /* Check the grammar first: strtod alone would also take "nan", "inf",
     * "0x1p3" and a leading blank we already removed. */
    const char *p = b;
    if (p < e && (*p == '+' || *p == '-'))
        p++;
    int mantissa_digits = 0;
    while (p < e && is_digit(*p)) {
        p++;
        mantissa_digits++;
    }
    if (p < e && *p == '.') {
        p++;
        while (p < e && is_digit(*p)) {
            p++;
            mantissa_digits++;
        }
    }
    if (mantissa_digits == 0)
        return -1;
    if (p < e && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < e && (*p == '+' || *p == '-'))
            p++;
        if (p == e || !is_digit(*p))
            return -1;
        while (p < e && is_digit(*p))
            p++;
    }
    if (p != e)
        return -1;
    char *stop = NULL;
    double v = strtod(b, &stop);
    if (stop != e || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

int64_t mkt_days_from_civil(int64_t year, int month, int day)
{
    /* Howard Hinnant's days_from_civil: eras of 400 years, March-based years. */
    year -= month <= 2;
    int64_t era = (year >= 0 ? year : year - 399) / 400;
    int64_t year_of_era = year - era * 400;
    int64_t day_of_year = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
    int64_t day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    return era * 146097 + day_of_era - 719468;
}

static int days_in_month(int64_t year, int month)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (month == 2 && ((year % 4 == 0 && year % 100 != 0) || year % 400 == 0))
        return 29;
    return days[month - 1];
}

/* Reads between min_digits and max_digits decimal digits at *p. */
static int read_number(const char **p, const char *end, int min_digits, int max_digits, int *value)
{
    int n = 0, v = 0;
    while (*p < end && n < max_digits && is_digit(**p)) {
        v = v * 10 + (**p - '0');
        (*p)++;
        n++;
    }
    if (n < min_digits || (*p < end && is_digit(**p)))
        return -1;
    *value = v;
    return 0;
}

static int expect_char(const char **p, const char *end, char c)
{
    if (*p < end && **p == c) {
        (*p)++;
        return 0;
    }
    return -1;
}

static int make_timestamp(int year, int month, int day, int hour, int minute, int second, int64_t *out)
{
    if (month < 1 || month > 12 || day < 1 || day > days_in_month(year, month))
        return -1;
    if (hour > 23 || minute > 59 || second > 59)
        return -1;
    *out = mkt_days_from_civil(year, month, day) * 86400 + (int64_t)hour * 3600 + minute * 60 + second;
    return 0;
}

/* "YYYY-MM-DD" [(' '|'T') "HH:MM" [":SS" ["." digits]] ] ["Z" | " UTC"] */
static int parse_iso(const char *p, const char *end, int64_t *out)
{
    int year, month, day, hour = 0, minute = 0, second = 0;
    if (read_number(&p, end, 4, 4, &year) || expect_char(&p, end, '-') || read_number(&p, end, 2, 2, &month) ||
        expect_char(&p, end, '-') || read_number(&p, end, 2, 2, &day))
        return -1;
    if (p < end && (*p == ' ' || *p == 'T') && p + 1 < end && is_digit(p[1])) {
        p++;
        if (read_number(&p, end, 2, 2, &hour) || expect_char(&p, end, ':') || read_number(&p, end, 2, 2, &minute))
            return -1;
        if (p < end && *p == ':') {
            p++;
            if (read_number(&p, end, 2, 2, &second))
                return -1;
            if (p < end && *p == '.') {
                p++;
                if (p == end || !is_digit(*p))
                    return -1;
                while (p < end && is_digit(*p))
                    p++;
            }
        }
    }
    if (p < end && *p == 'Z')
        p++;
    else if (end - p == 4 && memcmp(p, " UTC", 4) == 0)
        p = end;
    if (p != end)
        return -1;
    return make_timestamp(year, month, day, hour, minute, second, out);
}

/* "M/D/YYYY H:MM" or "M/D/YYYY H:MM:SS" */
static int parse_slashed(const char *p, const char *end, int64_t *out)
{
    int year, month, day, hour, minute, second = 0;
    if (read_number(&p, end, 1, 2, &month) || expect_char(&p, end, '/') || read_number(&p, end, 1, 2, &day) ||
        expect_char(&p, end, '/') || read_number(&p, end, 4, 4, &year) || expect_char(&p, end, ' ') ||
        read_number(&p, end, 1, 2, &hour) || expect_char(&p, end, ':') || read_number(&p, end, 2, 2, &minute))
        return -1;
    if (p < end && *p == ':') {
        p++;
        if (read_number(&p, end, 2, 2, &second))
            return -1;
    }
    if (p != end)
        return -1;
    return make_timestamp(year, month, day, hour, minute, second, out);
}

int mkt_parse_timestamp(const char *s, int64_t *out)
{
    const char *b, *e;
    trim(s, &b, &e);
    if (b == e)
        return -1;
    const char *p = b;
    if (*p == '+' || *p == '-')
        p++;
    while (p < e && is_digit(*p))
        p++;
    if (p == e)
        return parse_int64_span(b, e, out);
    if (e - b >= 5 && b[4] == '-')
        return parse_iso(b, e, out);
    return parse_slashed(b, e, out);
}

int mkt_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    while (p < end) {
        /* ASCII runs eight bytes at a time. */
        while (end - p >= 8) {
            uint64_t word;
            memcpy(&word, p, 8);
            if (word & 0x8080808080808080ULL)
                break;
            p += 8;
        }
        if (p == end)
            break;
        unsigned c = *p;
        if (c < 0x80) {
            p++;
            continue;
        }
        size_t need;
        unsigned lo = 0x80, hi = 0xBF; /* allowed range of the first continuation byte */
        if (c >= 0xC2 && c <= 0xDF) {
            need = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            if (c == 0xE0)
                lo = 0xA0; /* overlong */
            else if (c == 0xED)
                hi = 0x9F; /* surrogates U+D800..U+DFFF */
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            if (c == 0xF0)
                lo = 0x90; /* overlong */
            else if (c == 0xF4)
                hi = 0x8F; /* above U+10FFFF */
        } else {
            return 0; /* continuation byte, C0/C1 overlong lead, or F5..FF */
        }
        if ((size_t)(end - p) <= need)
            return 0;
        if (p[1] < lo || p[1] > hi)
            return 0;
        for (size_t i = 2; i <= need; i++)
            if ((p[i] & 0xC0) != 0x80)
                return 0;
        p += need + 1;
    }
    return 1;
}
