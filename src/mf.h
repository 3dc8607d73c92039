/* mf.h — the per-row arithmetic of alternating least squares matrix
 * factorization: factor initialization, the rating hold-out rule, and the
 * (K+1)- or K-dimensional ridge solves of one user (or one item).
 *
 * Everything here is pure and rank-independent: a row's result depends only
 * on its own observations and on the factors of the other side, with sums
 * taken in a fixed order, so a distributed ALS (stages/train_mf.c) that gives
 * every row the same inputs gets the same bits on any number of ranks.
 *
 * Factor storage: explicit (biased) models keep a row as K factors followed
 * by its bias (stride K+1); implicit models keep K factors (stride K). */
#ifndef MKT_MF_H
#define MKT_MF_H

#include <stdint.h>

/* ---- the model's hyper-parameters and the model (src/mf_config.c) ---- */

/* How a half-step's updated factor rows reach the ranks that need them:
 * chosen by estimated volume, all rows to every rank, or only the rows a
 * rank's observations reference (docs/mf.md; the values of mpi/als.h's
 * MKT_ALS_EXCHANGE_*). */
enum { MKT_MF_EXCHANGE_AUTO, MKT_MF_EXCHANGE_ALLGATHER, MKT_MF_EXCHANGE_TARGETED };

/* Everything a training's factors depend on besides the data (paths and
 * checkpointing belong to the stage). */
typedef struct {
    int factors;             /* latent dimension K, default 32 */
    int iters;               /* ALS iterations at most, default 30 */
    int implicit;            /* implicit feedback from behaviour events, else explicit ratings; default 0 */
    double lambda;           /* ridge penalty (> 0) unless lambda_auto */
    int lambda_auto;         /* choose lambda by validation (explicit RMSE, implicit NDCG); default 1 */
    double alpha;            /* implicit: confidence 1 + alpha * summed weight, default 10 */
    double weight[5];        /* implicit weights of view, click, cart, fav, purchase: default 1 1 3 2 5 */
    double weight_rating;    /* implicit: a rating adds weight_rating * value (or weight_rating, see
                              * below), default 1 */
    double rating_threshold; /* implicit: > 0: only ratings >= it count, each as weight_rating; default 0 */
    double holdout;          /* explicit: share of ratings held out, default 0.1 */
    double valid_fraction;   /* share of the non-held-out data that validates (0: none), default 0.1 */
    int patience;            /* stop after this many iterations without a better validation error
                              * (0: never), default 3 */
    uint64_t seed;           /* initial factors and the splits, default 42 */
    int topk;                /* implicit: length of the evaluated recommendation lists, default 10 */
    int cg;                  /* implicit: conjugate gradient instead of Cholesky, default 0 */
    int cg_iters;            /* CG steps per row and half-step (warm start), default 3 */
    int exchange;            /* MKT_MF_EXCHANGE_*, default auto */
} mkt_mf_config;

void mkt_mf_config_defaults(mkt_mf_config *c);
/* The options given as text: lambda ("auto" or a number in (0, 1e9]),
 * solver ("cholesky" or "cg") and exchange ("auto", "allgather" or
 * "targeted") into c; NULL leaves a field as it is.  Returns NULL or a
 * message naming the option (thread-local buffer, as mkt_mf_check_config). */
const char *mkt_mf_config_parse(mkt_mf_config *c, const char *lambda, const char *solver, const char *exchange);
/* NULL if the configuration is usable, else a message that starts with the
 * bad field's option name, e.g. "--factors must be >= 1 (got 0)".  The
 * message lives in a thread-local buffer, valid until the next call on the
 * same thread. */
const char *mkt_mf_check_config(const mkt_mf_config *c);

/* A trained factorization: explicit r̂ = mu + b_u + b_i + p_u·q_i, implicit
 * the preference p_u·q_i (biases zero, mu 0). */
typedef struct {
    int factors;                      /* K */
    int implicit;
    int64_t users, items;
    double *user_factors, *item_factors; /* users x K, items x K, row-major */
    double *user_bias, *item_bias;       /* users, items */
    double global_mean;
} mkt_mf_model;

/* The score of user u for item i (both in range). */
double mkt_mf_predict(const mkt_mf_model *m, int64_t u, int64_t i);
/* Frees the arrays (not m itself) and zeroes m. */
void mkt_mf_model_free(mkt_mf_model *m);

/* ---- per-row arithmetic (src/mf.c) ---- */

/* Rows first..first+n-1 of a factor matrix (stride columns, the first k of
 * them factors): 0.1 * N(0,1) from stream (seed, MKT_STREAM_MODEL,
 * salt + row); the remaining columns (the bias) are set to 0. */
void mkt_mf_init_factors(double *f, int64_t first, int64_t n, int k, int stride, uint64_t seed, uint64_t salt);

/* 1 if the rating with this global `order` is held out (probability frac),
 * a pure function of (seed, order). */
int mkt_mf_is_holdout(uint64_t seed, int64_t order, double frac);

/* 1 if a rating that is not held out goes to the validation split
 * (probability frac): a pure function of (seed, order), drawn independently
 * of mkt_mf_is_holdout. */
int mkt_mf_is_validation(uint64_t seed, int64_t order, double frac);

double mkt_mf_dot(const double *a, const double *b, int k);

/* Explicit biased row solve.  The row has n observations: other-side index
 * idx[j] with rating val[j].  `other` has stride k+1 ([factors, bias]).
 * Solves (sum x xᵀ + lambda·n·I) w = sum x (val − mu − b_other) with
 * x = [q, 1]; w = [factors, bias] goes to out[k+1] (zeros when n = 0).
 * Returns the LAPACK dposv info (0 on success).  When sse is not NULL it
 * receives the row's training squared error sum |t − Xw|² with t = val − mu −
 * b_other, from the solve's own quantities (tᵀt − wᵀb − lambda·n·wᵀw, no
 * second pass over the observations; 0 when n = 0). */
int mkt_mf_solve_biased(int k, int64_t n, const int32_t *idx, const double *val, double mu, const double *other,
                        double lambda, double *out, double *sse);

/* The same for up to eight rows at once (nr, 1..8): row l has the
 * observations ptr[l]..ptr[l+1]-1 of idx and val; its w goes to out + l·(k+1)
 * and, when sse is not NULL, its error to sse[l].  The rows' systems are
 * solved together, one per vector lane, with results that depend on each
 * row's own observations only (mkt_mf_solve_biased is this with nr = 1:
 * the same bits).  Returns 0, or the info of the first row whose system is
 * not positive definite; *bad (may be NULL) then gets that row's l. */
int mkt_mf_solve_biased_rows(int k, int nr, const int64_t *ptr, const int32_t *idx, const double *val, double mu,
                             const double *other, double lambda, double *out, double *sse, int *bad);

/* g[k×k] = YᵀY of y [n×k], summed over rows in index order. */
void mkt_mf_gram(const double *y, int64_t n, int k, double *g);

/* Implicit row solve (confidence c = 1 + alpha·r, preference 1 on observed
 * pairs, 0 elsewhere): (G + sum (c−1) y yᵀ + lambda·I) x = sum c·y, where
 * G = YᵀY over all rows of the other side.  y has stride k.  Returns the
 * LAPACK dposv info. */
int mkt_mf_solve_implicit(int k, int64_t n, const int32_t *idx, const double *r, const double *y, const double *gram,
                          double alpha, double lambda, double *out);

/* The same for up to eight rows at once (nr, 1..8), row l with the
 * observations ptr[l]..ptr[l+1]-1, its x to out + l·k; solved together, one
 * per vector lane, with results that depend on each row's own observations
 * only (mkt_mf_solve_implicit is this with nr = 1: the same bits).  Returns 0,
 * or the info of the first row whose system is not positive definite;
 * *bad (may be NULL) then gets that row's l. */
int mkt_mf_solve_implicit_rows(int k, int nr, const int64_t *ptr, const int32_t *idx, const double *r,
                               const double *y, const double *gram, double alpha, double lambda, double *out,
                               int *bad);

/* The same system by `iters` conjugate-gradient steps started from x (the
 * row's previous factors; the result replaces them), never forming the k×k
 * matrix: each step is G·p plus two products with the row's n observed
 * factors (Takács, Pilászy, Tikk, "Applications of the conjugate gradient
 * method for implicit feedback collaborative filtering", 2011).  Stops early
 * when the residual is exactly 0.  Returns 0, or 1 when pᵀAp ≤ 0 (the
 * matrix is not positive definite). */
int mkt_mf_solve_implicit_cg(int k, int64_t n, const int32_t *idx, const double *r, const double *y,
                             const double *gram, double alpha, double lambda, int iters, double *x);

#endif
