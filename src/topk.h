/* topk.h — exact top k of dot-product scores over a block of rows, found
 * fast by screening with a float32 copy of the rows.
 *
 * The exact score of row i for a query vector x is a double computed by the
 * caller (a callback).  Screening computes a float32 dot product of the
 * rounded row and query, g_i, and a rigorous bound E_i on how far g_i can be
 * from the exact double score minus a per-query constant; a row can be in
 * the exact top k only when g_i + E_i reaches the k-th largest g_j - E_j.
 * The rows that survive are rescored exactly and the k best are returned
 * best first, ties to the lower row: the same answer, bit for bit, as
 * scoring every row exactly (tests/unit/test_topk.c checks it).
 *
 * The bound (mkt_screen_bound) for an MF score
 *     s_i = fl(fl(c + b_i) + dot_d(x, q_i))     (c: a per-query constant,
 *                                               dot_d: a double dot product
 *                                               in any summation order)
 * against the screening score g_i = double(fl32dot(x~, q~_i)) + double(b~_i)
 * (x~, q~_i, b~_i: x, q_i, b_i rounded to float32; any summation order, with
 * or without fused multiply-add), u = 2^-24, v = 2^-53, K columns:
 *   rounding x and q to float32:      |x~_j q~_j - x_j q_j| <= (2u + u^2)|x_j q_j|
 *   the float32 sum of K products:    gamma_K (1+u)^2 sum |x_j q_j|, gamma_K = Ku/(1-Ku)
 *   sum |x_j q_j| <= |x| |q_i|        (Cauchy-Schwarz)
 *   together, for K <= 2^16:          <= 1.01 (K+2) u |x| |q_i|
 *   rounding b_i to float32:          <= u |b_i|
 *   the double side: dot_d off by <= 1.01 K v |x||q_i|, the two additions
 *   by <= 2.01 v (|c| + |b_i|) + 1.01 v |dot|; forming g_i and g_i -/+ E_i
 *   costs a few v |g_i|; all these v terms are below 2^-28 times the u
 *   terms above except 2.01 v |c|, kept as 4 v |c|;
 *   subnormal results (gradual underflow) add at most 2^-149 per operation,
 *   covered by 2^-120 (K+1)(1 + |x| + |q_i|).
 * E_i is twice the sum of 1.01 (K+2) u |x||q_i|, 1.01 u |b_i|, 4 v |c| and
 * the underflow term: the factor 2 covers the rounding of the bound itself
 * and of the norms (computed with scaling, so they never over- or underflow).
 * Screening is used only when every value is finite, |x| and every |q_i| are
 * at most 2^60, |b_i| and |c| at most 2^100 and K <= 2^16 (no float32 or
 * double overflow is then possible); otherwise every row is scored exactly.
 *
 * The int8 screen (used instead of the float32 one when K <= 512; it streams
 * a quarter of the bytes, so a block of 50,000 x 64 stays in the cache).
 * Each row is stored as codes C_ij in [-127, 127] with a float32 scale s_i
 * (about max_j |q_ij| / 127): q^_ij = s_i C_ij (real products), together
 * with, rounded up to float32, d_i >= |q_i - q^_i| and n_i >= |q_i| + d_i
 * (so n_i bounds |q_i| and |q^_i|).  A query x~ (x in float32) is coded
 * the same way in int16: x^_j = t X_j, X_j in [-32767, 32767], and
 * e_x >= |x - x^| (|x - x~| <= u|x| included).  The integer dot product
 * I_i = sum_j X_j C_ij is exact in int32 (|I_i| <= 32767 * 127 * 512 < 2^31),
 * so x^.q^_i = t s_i I_i exactly, and the screening score is
 *     g_i = fl(fl(t s_i) I_i) + double(b~_i).
 * With X = |x| + e_x (>= |x^|), the deviation of s_i - c from g_i is at most
 *   |x.q_i - x^.q^_i| <= |x| |q_i - q^_i| + |x - x^| |q^_i|
 *                     <= |x| d_i + e_x n_i                 (Cauchy-Schwarz)
 *   forming g_i: two products and a sum, <= 2.01 v X n_i + v |g_i|
 *   the double side as above: <= 1.01 (K+2) v |x||q_i| + 2.01 v (|c| + |b_i|)
 *   rounding b_i to float32: <= u |b_i|
 *   underflow: 2^-120 (K+8)(1 + X + n_i) as above,
 * all v terms (|g_i| <= X n_i + |b_i|) kept as (2K+16) v X n_i + 6 v (|c| + |b_i|).
 * E_i is twice that sum, for the same reasons as above.  d_i, n_i and e_x
 * are computed in double from the stored values and enlarged by 2^-30 of
 * themselves plus 2^-48 of the norm of the vector, which covers the rounding
 * of the differences and of the norms.  Codes are made only under the same
 * conditions as the float32 copy (finite, |q_i| <= 2^60, |b_i| <= 2^100).
 *
 * Must not: use MPI or know about the store (pure computation, mkt_core). */
#ifndef MKT_TOPK_H
#define MKT_TOPK_H

#include <stdint.h>

/* A scored row. */
typedef struct {
    double score;
    int64_t row;
} mkt_scored;

/* Higher score first; equal scores: lower row first (qsort comparator). */
int mkt_scored_cmp(const void *a, const void *b);

/* Keep the best k of a stream of entries in top[0..*n), best first. */
void mkt_scored_insert(mkt_scored *top, int64_t *n, int64_t k, mkt_scored e);

/* Euclidean norm without overflow or underflow (scaled by the largest |x_j|);
 * NaN or infinity when an element is not finite. */
double mkt_norm2(const double *x, int64_t n);

/* The float32 copy of a block of rows (K columns), for screening. */
typedef struct {
    int64_t rows, cols;
    float *v;       /* rows x cols, each value rounded to nearest */
    float *bias;    /* rows, NULL without a bias */
    double *norm;   /* rows: mkt_norm2 of the double row */
    double *abias;  /* rows: |bias| of the double bias, NULL without a bias */
    int ok;         /* 1: finite and in the range screening needs (see above) */
    int8_t *q8;     /* rows x cols int8 codes C_ij (NULL: no int8 screen) */
    float *q8scale; /* rows: s_i */
    float *q8err;   /* rows: d_i >= |q_i - q^_i| */
    float *q8norm;  /* rows: n_i >= |q_i| + d_i */
} mkt_f32_rows;

/* Copy rows x cols doubles (and bias[rows] when not NULL), in float32 and,
 * when cols <= 512 and the rows are ok, as int8 codes.  Returns 0, or -1
 * when out of memory (r is then empty).  rows may be 0. */
int mkt_f32_rows_init(mkt_f32_rows *r, const double *v, const double *bias, int64_t rows, int64_t cols);
void mkt_f32_rows_free(mkt_f32_rows *r);
/* Bytes held by r (for memory accounting). */
int64_t mkt_f32_rows_bytes(const mkt_f32_rows *r);

/* The bound E_i of the header comment: cols K, query norm xnorm, row norm
 * rnorm, |b_i| absb, |c| absc. */
double mkt_screen_bound(int64_t cols, double xnorm, double rnorm, double absb, double absc);

/* Whether a query (x[cols], per-query constant c) may be screened against r. */
int mkt_screen_usable(const mkt_f32_rows *r, const double *x, double c);

/* The screen of one query: the k best lower bounds g - E seen so far (a
 * min-heap) and every row whose upper bound g + E reached the k-th of them
 * when it was pushed. */
typedef struct {
    int64_t k;
    double *low;
    int64_t nlow;
    int64_t *cand;
    double *high;
    int64_t ncand, cap;
    int16_t *xq;     /* the query's int16 codes X_j (int8 screen; made on first use) */
    double xt, xeps; /* its scale t and e_x >= |x - x^| */
} mkt_screen;

int mkt_screen_init(mkt_screen *s, int64_t k); /* 0, or -1 when out of memory */
void mkt_screen_free(mkt_screen *s);
/* Offer a row with screening score g and bound e: the row's exact score
 * minus a constant (the same for every row of the query) must lie in
 * [fl(g - e), fl(g + e)] (e from mkt_screen_bound has the margin for that).
 * Returns 0, or -1 when out of memory. */
int mkt_screen_push(mkt_screen *s, int64_t row, double g, double e);
/* Rows offered so far that are still candidates. */
int64_t mkt_screen_candidates(const mkt_screen *s);

/* Exact score of a row (the caller maps non-finite scores to a finite value). */
typedef double (*mkt_exact_fn)(void *ctx, int64_t row);

/* Screen rows [r0, r1) of r for the query x~ (x rounded to float32, xf[cols])
 * with norm xnorm and per-query constant |c| absc, skipping the rows listed
 * in excluded[0..nex) (sorted ascending, duplicates allowed).  Uses the int8
 * codes when r has them, else the float32 copy.  Every call for one screen
 * must pass the same query.  Returns 0, or -1 when out of memory.  Only when
 * mkt_screen_usable holds. */
int mkt_screen_rows(mkt_screen *s, const mkt_f32_rows *r, int64_t r0, int64_t r1, const float *xf, double xnorm,
                    double absc, const int32_t *excluded, int64_t nex);

/* Rescore the surviving candidates with exact and write the best k, best
 * first (ties: lower row), to out[0..k).  Returns how many (fewer than k only
 * when fewer rows were offered), or -1 when out of memory. */
int64_t mkt_screen_finish(mkt_screen *s, mkt_exact_fn exact, void *ctx, mkt_scored *out);

/* The whole search for one query: the exact top k of rows [0, r->rows) of r
 * under exact(), skipping excluded rows, where exact(i) =
 * fl(fl(c + bias_i) + dot_d(x, row_i)) as in the header comment (bias 0 when
 * r has none).  Screens when mkt_screen_usable, else scores every row
 * exactly.  Writes up to k entries to out; returns the count, -1 on memory. */
int64_t mkt_topk_dot(const mkt_f32_rows *r, const double *x, double c, const int32_t *excluded, int64_t nex,
                     int64_t k, mkt_exact_fn exact, void *ctx, mkt_scored *out);

/* Float32 dot products of rows [r0, r1) of r with xf: out[i - r0]. */
void mkt_f32_dots(const mkt_f32_rows *r, int64_t r0, int64_t r1, const float *xf, float *out);

/* Use the portable kernels even where AVX2 ones are available
 * (tests; not thread-safe: call before any screening). */
void mkt_topk_generic_only(int on);
/* Screen with the float32 copy even where int8 codes exist (tests, bench). */
void mkt_topk_float32_only(int on);

/* Exact int32 dot products of the int8 codes of rows [r0, r1) of r with the
 * int16 codes xq: out[i - r0].  Only when r->q8. */
void mkt_i8_dots(const mkt_f32_rows *r, int64_t r0, int64_t r1, const int16_t *xq, int32_t *out);

/* Round x[n] to float32 into xf. */
void mkt_to_f32(const double *x, int64_t n, float *xf);

#endif
