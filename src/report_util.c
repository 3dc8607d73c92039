/* report_util.c — text safety, number formatting and curve points for
 * `mkt report` (see report_util.h).
 *
 * Owns: HTML escaping, gnuplot string literals, human number formatting, the
 * ROC and cumulative-gains points and polyline thinning.  Must not talk MPI
 * or touch files; the report stage (stages/report.c) does. */
#include "report_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when the bytes there
 * are not one (stray continuation, overlong form, surrogate, past U+10FFFF,
 * or cut short). */
static int utf8_len(const unsigned char *s)
{
    unsigned c = s[0];
    if (c < 0x80)
        return 1;
    int len;
    unsigned cp;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

/* A growing string. */
typedef struct {
    char *s;
    size_t len, cap;
    int failed;
} sbuf;

static void sb_add(sbuf *b, const char *p, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 32;
        while (b->len + n + 1 > cap)
            cap *= 2;
        char *s = realloc(b->s, cap);
        if (!s) {
            b->failed = 1;
            return;
        }
        b->s = s;
        b->cap = cap;
    }
    memcpy(b->s + b->len, p, n);
    b->len += n;
    b->s[b->len] = 0;
}

static char *sb_done(sbuf *b)
{
    if (!b->failed && !b->s)
        sb_add(b, "", 0);
    if (b->failed) {
        free(b->s);
        return NULL;
    }
    return b->s;
}

char *mkt_html_escape(const char *s)
{
    sbuf b = {0};
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    while (*p) {
        int len = utf8_len(p);
        if (len == 0) {
            sb_add(&b, "\xEF\xBF\xBD", 3); /* U+FFFD */
            p++;
            continue;
        }
        if (len == 1) {
            switch (*p) {
            case '&': sb_add(&b, "&amp;", 5); break;
            case '<': sb_add(&b, "&lt;", 4); break;
            case '>': sb_add(&b, "&gt;", 4); break;
            case '"': sb_add(&b, "&quot;", 6); break;
            case '\'': sb_add(&b, "&#39;", 5); break;
            default:
                if (*p < 0x20 || *p == 0x7F)
                    sb_add(&b, " ", 1);
                else
                    sb_add(&b, (const char *)p, 1);
            }
        } else {
            sb_add(&b, (const char *)p, (size_t)len);
        }
        p += len;
    }
    return sb_done(&b);
}

char *mkt_gp_quote(const char *s, int max_chars)
{
    sbuf b = {0};
    sb_add(&b, "'", 1);
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    int chars = 0;
    while (*p) {
        if (max_chars > 0 && chars == max_chars) {
            /* more text than max_chars characters: cut */
            sb_add(&b, "...", 3);
            break;
        }
        int len = utf8_len(p);
        if (len == 0) {
            sb_add(&b, "?", 1);
            p++;
        } else if (len == 1) {
            if (*p == '\'')
                sb_add(&b, "''", 2);
            else if (*p < 0x20 || *p == 0x7F)
                sb_add(&b, " ", 1);
            else
                sb_add(&b, (const char *)p, 1);
            p++;
        } else {
            sb_add(&b, (const char *)p, (size_t)len);
            p += len;
        }
        chars++;
    }
    sb_add(&b, "'", 1);
    return sb_done(&b);
}

char *mkt_fmt_num(char *buf, size_t n, double v, int decimals)
{
    if (n == 0)
        return buf;
    if (!isfinite(v)) {
        snprintf(buf, n, "n/a");
        return buf;
    }
    if (decimals < 0)
        decimals = 0;
    if (decimals > 12)
        decimals = 12;
    char raw[400];
    snprintf(raw, sizeof raw, "%.*f", decimals, v);
    /* "-0.00" reads as a sign error: print it as zero */
    int all_zero = 1;
    for (const char *q = raw; *q; q++)
        if (*q >= '1' && *q <= '9')
            all_zero = 0;
    const char *digits = raw;
    int neg = raw[0] == '-' && !all_zero;
    if (raw[0] == '-')
        digits++;
    const char *dot = strchr(digits, '.');
    size_t intlen = dot ? (size_t)(dot - digits) : strlen(digits);
    char out[600];
    size_t o = 0;
    if (neg)
        out[o++] = '-';
    for (size_t i = 0; i < intlen; i++) {
        if (i > 0 && (intlen - i) % 3 == 0)
            out[o++] = ',';
        out[o++] = digits[i];
    }
    if (dot) {
        size_t fl = strlen(dot);
        memcpy(out + o, dot, fl);
        o += fl;
    }
    out[o] = 0;
    snprintf(buf, n, "%s", out);
    return buf;
}

int64_t mkt_roc_curve(const double *score, const int *label, int64_t n, double *fpr, double *tpr)
{
    int64_t npos = 0;
    for (int64_t i = 0; i < n; i++)
        npos += label[i] != 0;
    int64_t nneg = n - npos;
    if (n <= 0 || npos == 0 || nneg == 0)
        return 0;
    int64_t *idx = mkt_order_desc(score, n);
    if (!idx)
        return 0;
    int64_t m = 0, tp = 0, fp = 0;
    fpr[m] = 0;
    tpr[m] = 0;
    m++;
    for (int64_t k = 0; k < n;) {
        int64_t e = k;
        double s = score[idx[k]];
        /* a run of equal scores (NaN sorts last and forms one run) */
        while (e < n && (score[idx[e]] == s || (isnan(s) && isnan(score[idx[e]])))) {
            if (label[idx[e]])
                tp++;
            else
                fp++;
            e++;
        }
        fpr[m] = (double)fp / (double)nneg;
        tpr[m] = (double)tp / (double)npos;
        m++;
        k = e;
    }
    free(idx);
    return m;
}

void mkt_gains_curve(const double *score, const int *label, int64_t n, int points, double *x, double *gain)
{
    if (points < 2)
        return;
    int64_t npos = 0;
    for (int64_t i = 0; i < n; i++)
        npos += label[i] != 0;
    int64_t *idx = n > 0 ? mkt_order_desc(score, n) : NULL;
    int64_t k = 0, pos = 0;
    for (int j = 0; j < points; j++) {
        double frac = (double)j / (double)(points - 1);
        int64_t kj = (int64_t)llround(frac * (double)n);
        while (idx && k < kj) {
            pos += label[idx[k]] != 0;
            k++;
        }
        if (x)
            x[j] = n > 0 ? (double)kj / (double)n : frac;
        gain[j] = npos > 0 ? (double)pos / (double)npos : 0;
    }
    free(idx);
}

int64_t mkt_curve_thin(double *x, double *y, int64_t n, double step)
{
    if (n <= 2)
        return n;
    int64_t m = 1;
    for (int64_t i = 1; i < n - 1; i++) {
        if (fabs(x[i] - x[m - 1]) >= step || fabs(y[i] - y[m - 1]) >= step) {
            x[m] = x[i];
            y[m] = y[i];
            m++;
        }
    }
    x[m] = x[n - 1];
    y[m] = y[n - 1];
    return m + 1;
}

double mkt_curve_at(const double *x, const double *y, int64_t n, double x0)
{
    if (n <= 0)
        return NAN;
    if (x0 <= x[0])
        return y[0];
    for (int64_t i = 1; i < n; i++) {
        if (x0 <= x[i]) {
            double dx = x[i] - x[i - 1];
            if (dx <= 0)
                return y[i];
            return y[i - 1] + (y[i] - y[i - 1]) * (x0 - x[i - 1]) / dx;
        }
    }
    return y[n - 1];
}
