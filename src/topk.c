/* topk.c — exact top k of dot-product scores over a block of rows, screened
 * with int8 codes or a float32 copy of the rows (the bounds and why they
 * hold: topk.h).
 *
 * A query goes: int8 (or float32) dot products of a tile of rows (small enough to stay
 * in the L1/L2 cache), for each row a lower and an upper bound of its exact
 * score; a min-heap keeps the k best lower bounds, and a row is kept as a
 * candidate only if its upper bound reaches the smallest of them.  The
 * threshold only rises, so a row dropped early could never have been in the
 * top k.  The candidates (usually little more than k) are rescored exactly. */
#include "topk.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define U32 0x1p-24 /* float32 unit roundoff */
#define U64 0x1p-53 /* double unit roundoff */
#define TINY 0x1p-120
#define MAX_NORM 0x1p60
#define MAX_BIAS 0x1p100
#define MAX_COLS 65536
#define TILE 256 /* rows per dot-product tile */
#define MAX_COLS_I8 512 /* int8 codes: 32767 * 127 * 512 < 2^31 */

int mkt_scored_cmp(const void *a, const void *b)
{
    const mkt_scored *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return (x->row > y->row) - (x->row < y->row);
}

void mkt_scored_insert(mkt_scored *top, int64_t *n, int64_t k, mkt_scored e)
{
    if (k < 1 || (*n == k && mkt_scored_cmp(&e, &top[k - 1]) >= 0))
        return;
    int64_t j = *n < k ? (*n)++ : k - 1;
    while (j > 0 && mkt_scored_cmp(&e, &top[j - 1]) < 0) {
        top[j] = top[j - 1];
        j--;
    }
    top[j] = e;
}

double mkt_norm2(const double *x, int64_t n)
{
    double big = 0;
    for (int64_t j = 0; j < n; j++) {
        if (!isfinite(x[j]))
            return x[j] - x[j] + INFINITY; /* NaN stays NaN */
        big = fabs(x[j]) > big ? fabs(x[j]) : big;
    }
    if (big == 0)
        return 0;
    double sum = 0;
    for (int64_t j = 0; j < n; j++) {
        double t = x[j] / big;
        sum += t * t;
    }
    return big * sqrt(sum);
}

/* ---------- the float32 copy and the int8 codes ---------- */

/* y rounded up to float32 (y finite, below 2^100). */
static float up_f32(double y)
{
    float f = (float)y;
    return (double)f < y ? nextafterf(f, INFINITY) : f;
}

/* Codes of x[n] in [-lim, lim] with the float32 scale *scale (x^_j =
 * scale * code_j, an exact product in double); returns a bound on |x - x^|
 * (topk.h: the norm of the differences, enlarged by 2^-30 of itself plus
 * 2^-48 of xnorm >= |x| for their rounding). */
static double code_vector(const double *x, int64_t n, double xnorm, int lim, int8_t *c8, int16_t *c16,
                          float *scale)
{
    double big = 0;
    for (int64_t j = 0; j < n; j++)
        big = fabs(x[j]) > big ? fabs(x[j]) : big;
    float sc = (float)(big / lim);
    double s = sc, dev = 0, d[MAX_COLS_I8];
    for (int64_t j = 0; j < n; j++) {
        long v = s > 0 ? lrint(x[j] / s) : 0;
        v = v > lim ? lim : v < -lim ? -lim : v;
        if (c8)
            c8[j] = (int8_t)v;
        else
            c16[j] = (int16_t)v;
        d[j] = x[j] - s * (double)v;
    }
    dev = mkt_norm2(d, n);
    *scale = sc;
    return dev * (1 + 0x1p-30) + 0x1p-48 * xnorm;
}

/* The int8 codes of the rows (r->ok, r->cols <= MAX_COLS_I8). */
static int make_codes(mkt_f32_rows *r, const double *v)
{
    size_t n = (size_t)(r->rows > 0 ? r->rows : 1);
    r->q8 = malloc(n * (size_t)r->cols * sizeof *r->q8);
    r->q8scale = malloc(n * sizeof *r->q8scale);
    r->q8err = malloc(n * sizeof *r->q8err);
    r->q8norm = malloc(n * sizeof *r->q8norm);
    if (!r->q8 || !r->q8scale || !r->q8err || !r->q8norm)
        return -1;
    for (int64_t i = 0; i < r->rows; i++) {
        double qn = r->norm[i] * (1 + 0x1p-30);
        double d = code_vector(v + i * r->cols, r->cols, qn, 127, r->q8 + i * r->cols, NULL, &r->q8scale[i]);
        r->q8err[i] = up_f32(d);
        r->q8norm[i] = up_f32(qn + (double)r->q8err[i]);
    }
    return 0;
}

int mkt_f32_rows_init(mkt_f32_rows *r, const double *v, const double *bias, int64_t rows, int64_t cols)
{
    memset(r, 0, sizeof *r);
    if (rows < 0 || cols < 1)
        return -1;
    size_t n = (size_t)(rows > 0 ? rows : 1);
    r->v = malloc(n * (size_t)cols * sizeof *r->v);
    r->norm = malloc(n * sizeof *r->norm);
    if (bias) {
        r->bias = malloc(n * sizeof *r->bias);
        r->abias = malloc(n * sizeof *r->abias);
    }
    if (!r->v || !r->norm || (bias && (!r->bias || !r->abias))) {
        mkt_f32_rows_free(r);
        return -1;
    }
    r->rows = rows;
    r->cols = cols;
    int ok = cols <= MAX_COLS;
    for (int64_t i = 0; i < rows; i++) {
        const double *row = v + i * cols;
        r->norm[i] = mkt_norm2(row, cols);
        ok = ok && r->norm[i] <= MAX_NORM; /* false for NaN too */
        if (r->norm[i] <= MAX_NORM)
            mkt_to_f32(row, cols, r->v + i * cols);
        else
            memset(r->v + i * cols, 0, (size_t)cols * sizeof *r->v);
        if (bias) {
            r->abias[i] = fabs(bias[i]);
            ok = ok && r->abias[i] <= MAX_BIAS;
            r->bias[i] = r->abias[i] <= MAX_BIAS ? (float)bias[i] : 0.0f;
        }
    }
    r->ok = ok;
    if (ok && cols <= MAX_COLS_I8 && make_codes(r, v) != 0) {
        mkt_f32_rows_free(r);
        return -1;
    }
    return 0;
}

void mkt_f32_rows_free(mkt_f32_rows *r)
{
    free(r->v);
    free(r->bias);
    free(r->norm);
    free(r->abias);
    free(r->q8);
    free(r->q8scale);
    free(r->q8err);
    free(r->q8norm);
    memset(r, 0, sizeof *r);
}

int64_t mkt_f32_rows_bytes(const mkt_f32_rows *r)
{
    return r->rows * (r->cols * (int64_t)sizeof(float) + (int64_t)sizeof(double) +
                      (r->bias ? (int64_t)(sizeof(float) + sizeof(double)) : 0) +
                      (r->q8 ? r->cols + 3 * (int64_t)sizeof(float) : 0));
}

void mkt_to_f32(const double *x, int64_t n, float *xf)
{
    for (int64_t j = 0; j < n; j++)
        xf[j] = (float)x[j];
}

/* Four float32 lanes (one SSE register on baseline x86-64, NEON on arm64),
 * four independent accumulators so the additions pipeline. */
typedef float v4f __attribute__((vector_size(16)));

static float dot_f32(const float *a, const float *b, int64_t n)
{
    v4f s0 = {0}, s1 = {0}, s2 = {0}, s3 = {0};
    int64_t j = 0;
    for (; j + 16 <= n; j += 16) {
        v4f a0, a1, a2, a3, b0, b1, b2, b3;
        memcpy(&a0, a + j, sizeof a0);
        memcpy(&a1, a + j + 4, sizeof a1);
        memcpy(&a2, a + j + 8, sizeof a2);
        memcpy(&a3, a + j + 12, sizeof a3);
        memcpy(&b0, b + j, sizeof b0);
        memcpy(&b1, b + j + 4, sizeof b1);
        memcpy(&b2, b + j + 8, sizeof b2);
        memcpy(&b3, b + j + 12, sizeof b3);
        s0 += a0 * b0;
        s1 += a1 * b1;
        s2 += a2 * b2;
        s3 += a3 * b3;
    }
    s0 = (s0 + s1) + (s2 + s3);
    float t = (s0[0] + s0[1]) + (s0[2] + s0[3]);
    for (; j < n; j++)
        t += a[j] * b[j];
    return t;
}

static int generic_only; /* mkt_topk_generic_only */
static int float32_only; /* mkt_topk_float32_only */

void mkt_topk_generic_only(int on) { generic_only = on; }
void mkt_topk_float32_only(int on) { float32_only = on; }

static void i8dots_generic(const mkt_f32_rows *r, int64_t r0, int64_t r1, const int16_t *xq, int32_t *out)
{
    int64_t n = r->cols;
    for (int64_t i = r0; i < r1; i++) {
        const int8_t *c = r->q8 + i * n;
        int32_t t = 0;
        for (int64_t j = 0; j < n; j++)
            t += (int32_t)c[j] * xq[j];
        out[i - r0] = t;
    }
}

static void dots_generic(const mkt_f32_rows *r, int64_t r0, int64_t r1, const float *xf, float *out)
{
    for (int64_t i = r0; i < r1; i++)
        out[i - r0] = dot_f32(r->v + i * r->cols, xf, r->cols);
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 11
/* The same with eight lanes and fused multiply-add, for CPUs with AVX2 and
 * FMA (chosen at run time): about 1.6 times faster.  Which one runs changes
 * the screening scores only within the bound, never an answer. */
#include <immintrin.h>

typedef float v8f __attribute__((vector_size(32)));

__attribute__((target("arch=x86-64-v3"))) static void dots_avx2(const mkt_f32_rows *r, int64_t r0, int64_t r1,
                                                                 const float *xf, float *out)
{
    int64_t n = r->cols;
    for (int64_t i = r0; i < r1; i++) {
        const float *a = r->v + i * n;
        v8f s0 = {0}, s1 = {0};
        int64_t j = 0;
        for (; j + 16 <= n; j += 16) {
            v8f a0, a1, b0, b1;
            memcpy(&a0, a + j, sizeof a0);
            memcpy(&a1, a + j + 8, sizeof a1);
            memcpy(&b0, xf + j, sizeof b0);
            memcpy(&b1, xf + j + 8, sizeof b1);
            s0 += a0 * b0;
            s1 += a1 * b1;
        }
        s0 += s1;
        float t = ((s0[0] + s0[4]) + (s0[1] + s0[5])) + ((s0[2] + s0[6]) + (s0[3] + s0[7]));
        for (; j < n; j++)
            t += a[j] * xf[j];
        out[i - r0] = t;
    }
}

void mkt_f32_dots(const mkt_f32_rows *r, int64_t r0, int64_t r1, const float *xf, float *out)
{
    if (!generic_only && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        dots_avx2(r, r0, r1, xf, out);
    else
        dots_generic(r, r0, r1, xf, out);
}

/* The int8 codes widened to int16 and multiplied in pairs (vpmaddwd), 16
 * columns per step, four rows at a time so one horizontal sum serves four.
 * Integer arithmetic: the same sums, exactly, as the portable kernel. */
__attribute__((target("arch=x86-64-v3"))) static __m256i i8step(const int8_t *c, __m256i x, __m256i acc)
{
    __m256i w = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)c));
    return _mm256_add_epi32(acc, _mm256_madd_epi16(w, x));
}

__attribute__((target("arch=x86-64-v3"))) static void i8dots_avx2(const mkt_f32_rows *r, int64_t r0, int64_t r1,
                                                                   const int16_t *xq, int32_t *out)
{
    int64_t n = r->cols, i = r0;
    for (; i + 4 <= r1; i += 4) {
        const int8_t *c = r->q8 + i * n;
        __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
        for (int64_t j = 0; j < n; j += 16) {
            __m256i x = _mm256_loadu_si256((const __m256i *)(xq + j));
            a0 = i8step(c + j, x, a0);
            a1 = i8step(c + n + j, x, a1);
            a2 = i8step(c + 2 * n + j, x, a2);
            a3 = i8step(c + 3 * n + j, x, a3);
        }
        __m256i h = _mm256_hadd_epi32(_mm256_hadd_epi32(a0, a1), _mm256_hadd_epi32(a2, a3));
        __m128i t = _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
        _mm_storeu_si128((__m128i *)(out + i - r0), t);
    }
    if (i < r1)
        i8dots_generic(r, i, r1, xq, out + i - r0);
}

void mkt_i8_dots(const mkt_f32_rows *r, int64_t r0, int64_t r1, const int16_t *xq, int32_t *out)
{
    if (!generic_only && r->cols % 16 == 0 && __builtin_cpu_supports("avx2"))
        i8dots_avx2(r, r0, r1, xq, out);
    else
        i8dots_generic(r, r0, r1, xq, out);
}
#else
void mkt_f32_dots(const mkt_f32_rows *r, int64_t r0, int64_t r1, const float *xf, float *out)
{
    dots_generic(r, r0, r1, xf, out);
}

void mkt_i8_dots(const mkt_f32_rows *r, int64_t r0, int64_t r1, const int16_t *xq, int32_t *out)
{
    i8dots_generic(r, r0, r1, xq, out);
}
#endif

/* ---------- the bound ---------- */

double mkt_screen_bound(int64_t cols, double xnorm, double rnorm, double absb, double absc)
{
    double k = (double)cols;
    return 2 * (1.01 * (k + 2) * U32 * xnorm * rnorm + 1.01 * U32 * absb + 4 * U64 * absc +
                TINY * (k + 1) * (1 + xnorm + rnorm));
}

int mkt_screen_usable(const mkt_f32_rows *r, const double *x, double c)
{
    double xn = mkt_norm2(x, r->cols);
    return r->ok && xn <= MAX_NORM && fabs(c) <= MAX_BIAS;
}

/* ---------- the screen ---------- */

int mkt_screen_init(mkt_screen *s, int64_t k)
{
    memset(s, 0, sizeof *s);
    s->k = k > 0 ? k : 0;
    s->cap = 2 * s->k + 64;
    s->low = malloc((size_t)(s->k > 0 ? s->k : 1) * sizeof *s->low);
    s->cand = malloc((size_t)s->cap * sizeof *s->cand);
    s->high = malloc((size_t)s->cap * sizeof *s->high);
    if (!s->low || !s->cand || !s->high) {
        mkt_screen_free(s);
        return -1;
    }
    return 0;
}

void mkt_screen_free(mkt_screen *s)
{
    free(s->low);
    free(s->cand);
    free(s->high);
    free(s->xq);
    memset(s, 0, sizeof *s);
}

/* The k-th best lower bound so far (-infinity until k rows were offered). */
static double threshold(const mkt_screen *s)
{
    return s->nlow == s->k && s->k > 0 ? s->low[0] : -INFINITY;
}

static void heap_offer(mkt_screen *s, double lo)
{
    double *h = s->low;
    if (s->nlow < s->k) { /* sift up */
        int64_t i = s->nlow++;
        while (i > 0 && h[(i - 1) / 2] > lo) {
            h[i] = h[(i - 1) / 2];
            i = (i - 1) / 2;
        }
        h[i] = lo;
        return;
    }
    if (s->k == 0 || !(lo > h[0]))
        return;
    int64_t i = 0, n = s->nlow; /* replace the root, sift down */
    for (;;) {
        int64_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && h[c + 1] < h[c])
            c++;
        if (!(h[c] < lo))
            break;
        h[i] = h[c];
        i = c;
    }
    h[i] = lo;
}

/* Drop the candidates the current threshold rules out; grow when that does not free half. */
static int make_room(mkt_screen *s)
{
    double t = threshold(s);
    int64_t n = 0;
    for (int64_t i = 0; i < s->ncand; i++)
        if (s->high[i] >= t) {
            s->cand[n] = s->cand[i];
            s->high[n] = s->high[i];
            n++;
        }
    s->ncand = n;
    if (n <= s->cap / 2)
        return 0;
    int64_t cap = 2 * s->cap;
    int64_t *c = realloc(s->cand, (size_t)cap * sizeof *c);
    if (!c)
        return -1;
    s->cand = c;
    double *h = realloc(s->high, (size_t)cap * sizeof *h);
    if (!h)
        return -1;
    s->high = h;
    s->cap = cap;
    return 0;
}

static inline int push(mkt_screen *s, int64_t row, double g, double e)
{
    double hi = g + e;
    if (hi < threshold(s)) /* the common case: cannot reach the top k */
        return 0;
    heap_offer(s, g - e);
    if (hi < threshold(s))
        return 0;
    if (s->ncand == s->cap && make_room(s) != 0)
        return -1;
    s->cand[s->ncand] = row;
    s->high[s->ncand] = hi;
    s->ncand++;
    return 0;
}

int mkt_screen_push(mkt_screen *s, int64_t row, double g, double e)
{
    return push(s, row, g, e);
}

int64_t mkt_screen_candidates(const mkt_screen *s)
{
    double t = threshold(s);
    int64_t n = 0;
    for (int64_t i = 0; i < s->ncand; i++)
        n += s->high[i] >= t;
    return n;
}

/* Offer rows t0.. t0+n of a tile with screening scores g and bounds e,
 * skipping excluded rows (*at: the first excluded entry not yet passed). */
static int offer_tile(mkt_screen *s, int64_t t0, int64_t n, const double *g, const double *e, const int32_t *excluded,
                      int64_t nex, int64_t *at)
{
    /* most rows fall below the threshold: test that first, the excluded
     * rows only for the others */
    double t = threshold(s);
    for (int64_t i = 0; i < n; i++) {
        if (g[i] + e[i] < t)
            continue;
        while (*at < nex && excluded[*at] < t0 + i)
            (*at)++;
        if (*at < nex && excluded[*at] == t0 + i)
            continue;
        if (push(s, t0 + i, g[i], e[i]) != 0)
            return -1;
        t = threshold(s);
    }
    return 0;
}

/* The query's int16 codes, made once per screen from xf. */
static int code_query(mkt_screen *s, int64_t cols, const float *xf, double xnorm)
{
    if (s->xq)
        return 0;
    s->xq = malloc((size_t)cols * sizeof *s->xq);
    if (!s->xq)
        return -1;
    double x[MAX_COLS_I8];
    for (int64_t j = 0; j < cols; j++)
        x[j] = xf[j];
    float t;
    /* |x~| <= (1 + u)|x|; |x - x~| <= u |x| */
    double e = code_vector(x, cols, xnorm * (1 + 1.01 * U32), 32767, NULL, s->xq, &t);
    s->xt = t;
    s->xeps = e + 1.01 * U32 * xnorm;
    return 0;
}

/* The screening scores g and bounds e of n rows from t0 (int8 screen), the
 * same loop compiled for the baseline and, where the CPU has it, for AVX2
 * (four doubles a step; fused multiply-adds only drop roundings the bound
 * allows for). */
static inline __attribute__((always_inline)) void i8_bounds_body(const mkt_f32_rows *r, int64_t t0, int64_t n,
                                                                 const int32_t *dots, double xt, double A, double B,
                                                                 double C, double D, double *g, double *e)
{
    const float *sc = r->q8scale + t0, *de = r->q8err + t0, *nr = r->q8norm + t0;
    if (r->bias) {
        const float *bias = r->bias + t0;
        for (int64_t i = 0; i < n; i++) {
            g[i] = (xt * (double)sc[i]) * (double)dots[i] + (double)bias[i];
            e[i] = ((A * (double)de[i] + B * (double)nr[i]) + C * fabs((double)bias[i])) + D;
        }
    } else {
        for (int64_t i = 0; i < n; i++) {
            g[i] = (xt * (double)sc[i]) * (double)dots[i];
            e[i] = (A * (double)de[i] + B * (double)nr[i]) + D;
        }
    }
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 11
__attribute__((target("arch=x86-64-v3"))) static void i8_bounds_avx2(const mkt_f32_rows *r, int64_t t0, int64_t n,
                                                                     const int32_t *dots, double xt, double A,
                                                                     double B, double C, double D, double *g,
                                                                     double *e)
{
    i8_bounds_body(r, t0, n, dots, xt, A, B, C, D, g, e);
}
#endif

static void i8_bounds(const mkt_f32_rows *r, int64_t t0, int64_t n, const int32_t *dots, double xt, double A,
                      double B, double C, double D, double *g, double *e)
{
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 11
    if (!generic_only && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        i8_bounds_avx2(r, t0, n, dots, xt, A, B, C, D, g, e);
        return;
    }
#endif
    i8_bounds_body(r, t0, n, dots, xt, A, B, C, D, g, e);
}

/* The int8 screen of rows [r0, r1) (bound: topk.h). */
static int screen_rows_i8(mkt_screen *s, const mkt_f32_rows *r, int64_t r0, int64_t r1, const float *xf,
                          double xnorm, double absc, const int32_t *excluded, int64_t nex, int64_t at)
{
    if (code_query(s, r->cols, xf, xnorm) != 0)
        return -1;
    double k = (double)r->cols, X = xnorm + s->xeps;
    double A = 2 * xnorm, B = 2 * (s->xeps + (2 * k + 16) * U64 * X + TINY * (k + 8));
    double C = 2 * (1.01 * U32 + 7 * U64), D = 2 * (6 * U64 * absc + TINY * (k + 8) * (1 + X));
    int32_t dots[TILE];
    double g[TILE], e[TILE];
    for (int64_t t0 = r0; t0 < r1; t0 += TILE) {
        int64_t t1 = t0 + TILE < r1 ? t0 + TILE : r1, n = t1 - t0;
        mkt_i8_dots(r, t0, t1, s->xq, dots);
        i8_bounds(r, t0, n, dots, s->xt, A, B, C, D, g, e);
        if (offer_tile(s, t0, n, g, e, excluded, nex, &at) != 0)
            return -1;
    }
    return 0;
}

int mkt_screen_rows(mkt_screen *s, const mkt_f32_rows *r, int64_t r0, int64_t r1, const float *xf, double xnorm,
                    double absc, const int32_t *excluded, int64_t nex)
{
    int64_t lo = 0, hi = nex; /* first excluded row >= r0 */
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (excluded[mid] < r0)
            lo = mid + 1;
        else
            hi = mid;
    }
    int64_t at = lo;
    if (r->q8 && !float32_only)
        return screen_rows_i8(s, r, r0, r1, xf, xnorm, absc, excluded, nex, at);
    /* mkt_screen_bound, with the per-query parts computed once */
    double k = (double)r->cols;
    double a = 2 * 1.01 * (k + 2) * U32 * xnorm + 2 * TINY * (k + 1), b = 2 * 1.01 * U32;
    double c0 = 2 * (4 * U64 * absc + TINY * (k + 1) * (1 + xnorm));
    float dots[TILE];
    double g[TILE], e[TILE];
    for (int64_t t0 = r0; t0 < r1; t0 += TILE) {
        int64_t t1 = t0 + TILE < r1 ? t0 + TILE : r1, n = t1 - t0;
        mkt_f32_dots(r, t0, t1, xf, dots);
        const double *norm = r->norm + t0;
        for (int64_t i = 0; i < n; i++) {
            g[i] = (double)dots[i];
            e[i] = a * norm[i] + c0;
        }
        if (r->bias) {
            const float *bias = r->bias + t0;
            const double *abias = r->abias + t0;
            for (int64_t i = 0; i < n; i++) {
                g[i] += (double)bias[i];
                e[i] += b * abias[i];
            }
        }
        if (offer_tile(s, t0, n, g, e, excluded, nex, &at) != 0)
            return -1;
    }
    return 0;
}

int64_t mkt_screen_finish(mkt_screen *s, mkt_exact_fn exact, void *ctx, mkt_scored *out)
{
    double t = threshold(s);
    int64_t n = 0;
    mkt_scored *c = malloc((size_t)(s->ncand > 0 ? s->ncand : 1) * sizeof *c);
    if (!c)
        return -1;
    for (int64_t i = 0; i < s->ncand; i++)
        if (s->high[i] >= t) {
            c[n].row = s->cand[i];
            c[n].score = exact(ctx, s->cand[i]);
            n++;
        }
    qsort(c, (size_t)n, sizeof *c, mkt_scored_cmp);
    int64_t keep = n < s->k ? n : s->k;
    memcpy(out, c, (size_t)keep * sizeof *out);
    free(c);
    return keep;
}

/* Every row scored exactly (when screening cannot be trusted). */
static int64_t brute_force(int64_t rows, const int32_t *excluded, int64_t nex, int64_t k, mkt_exact_fn exact,
                           void *ctx, mkt_scored *out)
{
    mkt_scored *c = malloc((size_t)(rows > 0 ? rows : 1) * sizeof *c);
    if (!c)
        return -1;
    int64_t n = 0, at = 0;
    for (int64_t i = 0; i < rows; i++) {
        while (at < nex && excluded[at] < i)
            at++;
        if (at < nex && excluded[at] == i)
            continue;
        c[n].row = i;
        c[n].score = exact(ctx, i);
        n++;
    }
    qsort(c, (size_t)n, sizeof *c, mkt_scored_cmp);
    int64_t keep = n < k ? n : k;
    memcpy(out, c, (size_t)(keep > 0 ? keep : 0) * sizeof *out);
    free(c);
    return keep;
}

int64_t mkt_topk_dot(const mkt_f32_rows *r, const double *x, double c, const int32_t *excluded, int64_t nex,
                     int64_t k, mkt_exact_fn exact, void *ctx, mkt_scored *out)
{
    if (k < 1)
        return 0;
    if (!mkt_screen_usable(r, x, c))
        return brute_force(r->rows, excluded, nex, k, exact, ctx, out);
    float *xf = malloc((size_t)r->cols * sizeof *xf);
    mkt_screen s;
    if (!xf || mkt_screen_init(&s, k) != 0) {
        free(xf);
        return -1;
    }
    mkt_to_f32(x, r->cols, xf);
    int64_t n = mkt_screen_rows(&s, r, 0, r->rows, xf, mkt_norm2(x, r->cols), fabs(c), excluded, nex) == 0
                    ? mkt_screen_finish(&s, exact, ctx, out)
                    : -1;
    mkt_screen_free(&s);
    free(xf);
    return n;
}
