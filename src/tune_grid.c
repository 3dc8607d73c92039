/* tune_grid.c — parsing of `mkt tune --grid` and the configurations of a
 * grid or random search (see tune_grid.h).  Pure: no MPI, no I/O. */
#include "tune_grid.h"

#include <math.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parse.h"
#include "rng.h"

static void *xalloc(size_t n)
{
    if (n > SIZE_MAX / 4)
        abort();
    void *p = calloc(1, n ? n : 1);
    if (!p)
        abort();
    return p;
}

static char *xstrndup(const char *s, size_t n)
{
    char *p = xalloc(n + 1);
    memcpy(p, s, n);
    p[n] = 0;
    return p;
}

static int errf(char *err, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int errf(char *err, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (err && n)
        vsnprintf(err, n, fmt, ap);
    va_end(ap);
    return -1;
}

/* [s, e) without leading and trailing spaces and tabs */
static void trim(const char **s, const char **e)
{
    while (*s < *e && (**s == ' ' || **s == '\t'))
        (*s)++;
    while (*e > *s && ((*e)[-1] == ' ' || (*e)[-1] == '\t'))
        (*e)--;
}

static int parse_range(mkt_grid_axis *a, const char *v, char *err, size_t errlen)
{
    const char *c1 = strchr(v, ':');
    const char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    if (!c1 || !c2 || strchr(c2 + 1, ':'))
        return errf(err, errlen, "%s: range '%s' is not KIND:LOW:HIGH (log:0.001:1, lin:0:1, int:4:64)", a->key, v);
    char lo[64], hi[64];
    snprintf(lo, sizeof lo, "%.*s", (int)(c2 - c1 - 1), c1 + 1);
    snprintf(hi, sizeof hi, "%s", c2 + 1);
    if (mkt_parse_double(lo, &a->lo) != 0 || mkt_parse_double(hi, &a->hi) != 0)
        return errf(err, errlen, "%s: range '%s': bounds must be numbers", a->key, v);
    if (!(a->lo <= a->hi))
        return errf(err, errlen, "%s: range '%s': low is above high", a->key, v);
    if (a->kind == MKT_AXIS_LOG && !(a->lo > 0))
        return errf(err, errlen, "%s: range '%s': a log range needs low > 0", a->key, v);
    if (a->kind == MKT_AXIS_INT && (a->lo != floor(a->lo) || a->hi != floor(a->hi) || fabs(a->lo) > 1e15 ||
                                    fabs(a->hi) > 1e15))
        return errf(err, errlen, "%s: range '%s': an int range needs integer bounds", a->key, v);
    return 0;
}

/* One "key=values" entry [s, e). */
static int parse_entry(mkt_grid *g, const char *s, const char *e, char *err, size_t errlen)
{
    const char *eq = memchr(s, '=', (size_t)(e - s));
    if (!eq)
        return errf(err, errlen, "entry '%.*s' has no '=' (expected key=v1,v2,...)", (int)(e - s), s);
    const char *ks = s, *ke = eq;
    trim(&ks, &ke);
    if (ks == ke)
        return errf(err, errlen, "entry '%.*s' has no key", (int)(e - s), s);
    char *key = xstrndup(ks, (size_t)(ke - ks));
    for (int i = 0; i < g->naxes; i++)
        if (!strcmp(g->axes[i].key, key)) {
            errf(err, errlen, "key '%s' appears twice", key);
            free(key);
            return -1;
        }
    mkt_grid_axis *a = &g->axes[g->naxes++];
    memset(a, 0, sizeof *a);
    a->key = key;
    const char *vs = eq + 1, *ve = e;
    trim(&vs, &ve);
    if (vs == ve)
        return errf(err, errlen, "%s: no values", key);
    char *v = xstrndup(vs, (size_t)(ve - vs));
    static const struct {
        const char *prefix;
        mkt_axis_kind kind;
    } ranges[] = {{"log:", MKT_AXIS_LOG}, {"lin:", MKT_AXIS_LIN}, {"int:", MKT_AXIS_INT}};
    for (size_t r = 0; r < sizeof ranges / sizeof ranges[0]; r++)
        if (!strncmp(v, ranges[r].prefix, 4)) {
            a->kind = ranges[r].kind;
            int rc = parse_range(a, v, err, errlen);
            free(v);
            return rc;
        }
    a->kind = MKT_AXIS_LIST;
    int cap = 1;
    for (const char *p = v; *p; p++)
        cap += *p == ',';
    a->values = xalloc(sizeof(char *) * (size_t)cap);
    const char *p = v;
    for (;;) {
        const char *comma = strchr(p, ',');
        const char *te = comma ? comma : p + strlen(p), *ts = p;
        trim(&ts, &te);
        if (ts == te) {
            free(v);
            return errf(err, errlen, "%s: empty value in '%s'", key, vs);
        }
        a->values[a->nvalues++] = xstrndup(ts, (size_t)(te - ts));
        if (!comma)
            break;
        p = comma + 1;
    }
    free(v);
    return 0;
}

int mkt_grid_parse(const char *text, mkt_grid *g, char *err, size_t errlen)
{
    memset(g, 0, sizeof *g);
    if (!text)
        return errf(err, errlen, "the grid is empty (expected key=v1,v2;key2=...)");
    int cap = 1;
    for (const char *p = text; *p; p++)
        cap += *p == ';';
    g->axes = xalloc(sizeof(mkt_grid_axis) * (size_t)cap);
    const char *p = text;
    for (;;) {
        const char *semi = strchr(p, ';');
        const char *s = p, *e = semi ? semi : p + strlen(p);
        trim(&s, &e);
        if (s < e && parse_entry(g, s, e, err, errlen) != 0) {
            mkt_grid_free(g);
            return -1;
        }
        if (!semi)
            break;
        p = semi + 1;
    }
    if (g->naxes == 0) {
        mkt_grid_free(g);
        return errf(err, errlen, "the grid is empty (expected key=v1,v2;key2=...)");
    }
    return 0;
}

void mkt_grid_free(mkt_grid *g)
{
    for (int i = 0; i < g->naxes; i++) {
        for (int k = 0; k < g->axes[i].nvalues; k++)
            free(g->axes[i].values[k]);
        free(g->axes[i].values);
        free(g->axes[i].key);
    }
    free(g->axes);
    memset(g, 0, sizeof *g);
}

void mkt_grid_free_configs(char **configs, int64_t n, int naxes)
{
    if (!configs)
        return;
    for (int64_t i = 0; i < n * naxes; i++)
        free(configs[i]);
    free(configs);
}

/* Configuration `index` of the product (first axis slowest) into row. */
static void product_row(const mkt_grid *g, int64_t index, char **row)
{
    for (int a = g->naxes - 1; a >= 0; a--) {
        int64_t nv = g->axes[a].nvalues;
        const char *v = g->axes[a].values[index % nv];
        row[a] = xstrndup(v, strlen(v));
        index /= nv;
    }
}

static char *draw_range(const mkt_grid_axis *a, mkt_rng *r, int integer)
{
    double x;
    char buf[64];
    if (a->kind == MKT_AXIS_INT) {
        uint64_t span = (uint64_t)(a->hi - a->lo) + 1;
        snprintf(buf, sizeof buf, "%lld", (long long)(a->lo + (double)mkt_rng_below(r, span)));
        return xstrndup(buf, strlen(buf));
    }
    double u = mkt_rng_uniform(r);
    if (a->kind == MKT_AXIS_LOG)
        x = exp(log(a->lo) + u * (log(a->hi) - log(a->lo)));
    else
        x = a->lo + u * (a->hi - a->lo);
    if (x < a->lo)
        x = a->lo;
    if (x > a->hi)
        x = a->hi;
    if (integer) {
        x = floor(x + 0.5);
        if (x > a->hi) /* a range narrower than one integer */
            x = floor(a->hi);
        snprintf(buf, sizeof buf, "%lld", (long long)x);
    } else {
        snprintf(buf, sizeof buf, "%.6g", x);
    }
    return xstrndup(buf, strlen(buf));
}

int mkt_grid_configs(const mkt_grid *g, int64_t random, uint64_t seed, const int *integer_axis, char ***out,
                     int64_t *n, char *err, size_t errlen)
{
    *out = NULL;
    *n = 0;
    if (g->naxes == 0)
        return errf(err, errlen, "the grid is empty");
    if (random < 0)
        return errf(err, errlen, "random: %lld is not >= 1", (long long)random);
    if (random > MKT_GRID_MAX_CONFIGS)
        return errf(err, errlen, "random: %lld is above the limit of %d configurations", (long long)random,
                    MKT_GRID_MAX_CONFIGS);
    int all_lists = 1;
    int64_t size = 1; /* of the product, saturated at 2^62 */
    for (int a = 0; a < g->naxes; a++) {
        const mkt_grid_axis *ax = &g->axes[a];
        if (ax->kind != MKT_AXIS_LIST) {
            all_lists = 0;
            if (random == 0)
                return errf(err, errlen, "%s: a range (log:, lin:, int:) needs a random search (--random N)",
                            ax->key);
            continue;
        }
        size = size > (INT64_C(1) << 62) / ax->nvalues ? INT64_C(1) << 62 : size * ax->nvalues;
    }
    int na = g->naxes;
    if (random == 0) {
        if (size > MKT_GRID_MAX_CONFIGS)
            return errf(err, errlen, "the grid has more than %d configurations (draw some with --random N)",
                        MKT_GRID_MAX_CONFIGS);
        char **rows = xalloc(sizeof(char *) * (size_t)(size * na));
        for (int64_t j = 0; j < size; j++)
            product_row(g, j, rows + j * na);
        *out = rows;
        *n = size;
        return 0;
    }
    mkt_rng r;
    mkt_rng_init(&r, seed, MKT_STREAM_TUNE, 0);
    if (all_lists) {
        /* distinct configurations of the product, in draw order */
        int64_t want = random < size ? random : size;
        int64_t *picked = xalloc(sizeof(int64_t) * (size_t)want);
        char **rows = xalloc(sizeof(char *) * (size_t)(want * na));
        int64_t got = 0;
        if (size <= 4 * want) {
            /* a partial Fisher-Yates shuffle of all indices */
            int64_t *all = xalloc(sizeof(int64_t) * (size_t)size);
            for (int64_t i = 0; i < size; i++)
                all[i] = i;
            for (; got < want; got++) {
                int64_t k = got + (int64_t)mkt_rng_below(&r, (uint64_t)(size - got));
                int64_t t = all[got];
                all[got] = all[k];
                all[k] = t;
                picked[got] = all[got];
            }
            free(all);
        } else {
            /* a sparse draw: rejection of repeats (at most one in four tries repeats) */
            while (got < want) {
                int64_t k = (int64_t)mkt_rng_below(&r, (uint64_t)size), seen = 0;
                for (int64_t i = 0; i < got && !seen; i++)
                    seen = picked[i] == k;
                if (!seen)
                    picked[got++] = k;
            }
        }
        for (int64_t j = 0; j < want; j++)
            product_row(g, picked[j], rows + j * na);
        free(picked);
        *out = rows;
        *n = want;
        return 0;
    }
    char **rows = xalloc(sizeof(char *) * (size_t)(random * na));
    for (int64_t j = 0; j < random; j++)
        for (int a = 0; a < na; a++) {
            const mkt_grid_axis *ax = &g->axes[a];
            if (ax->kind == MKT_AXIS_LIST) {
                const char *v = ax->values[mkt_rng_below(&r, (uint64_t)ax->nvalues)];
                rows[j * na + a] = xstrndup(v, strlen(v));
            } else {
                rows[j * na + a] = draw_range(ax, &r, integer_axis ? integer_axis[a] : 0);
            }
        }
    *out = rows;
    *n = random;
    return 0;
}
