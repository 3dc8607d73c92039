/* mf_gram.h — the normal equations of one ALS row (explicit or implicit), formed from its
 * observations gathered transposed (one lane per observation) so the Gram
 * product runs as register-blocked fused multiply-adds.
 *
 * Every entry is the same function of the row's observations in stored
 * order on every instruction set: eight lane sums (observation e goes to lane
 * e mod 8, each lane accumulated with fused multiply-add in observation
 * order), combined as ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)).  The AVX-512,
 * AVX2 and portable paths therefore give identical bits, so the factors do
 * not depend on which ranks (or which machines of a cluster) solve the rows. */
#ifndef MKT_MF_GRAM_H
#define MKT_MF_GRAM_H

#include <stdint.h>

/* Which code path forms the products. */
typedef enum { MKT_GRAM_AUTO = 0, MKT_GRAM_PORTABLE, MKT_GRAM_AVX2, MKT_GRAM_AVX512 } mkt_gram_path;

/* The path MKT_GRAM_AUTO resolves to on this CPU (the widest available). */
mkt_gram_path mkt_mf_gram_best_path(void);

/* Scratch doubles mkt_mf_normal_biased needs for n observations at rank k. */
int64_t mkt_mf_gram_scratch(int k, int64_t n);

/* For the row with n observations (other-side rows idx[e] of `other`, each
 * k factors followed by a bias, stride k + 1; ratings val[e]) forms, with
 * d = k + 1, x_e = (factors of idx[e], 1) and t_e = val[e] − mu − bias:
 *   a  = Σ x_e x_eᵀ   (d x d; row-major upper triangle written, the rest untouched)
 *   b  = Σ t_e x_e    (d)
 *   tt = Σ t_e²
 * scratch holds mkt_mf_gram_scratch(k, n) doubles aligned to 64 bytes. */
void mkt_mf_normal_biased(mkt_gram_path path, int k, int64_t n, const int32_t *idx, const double *val, double mu,
                          const double *other, double *scratch, double *a, double *b, double *tt);

/* The implicit (confidence-weighted) row: with y_e the other side's rows
 * idx[e] of `y` (k factors, stride k) and c_e = 1 + alpha·r[e]:
 *   a += Σ (c_e − 1) y_e y_eᵀ   (k x k; row-major upper triangle updated)
 *   b  = Σ c_e y_e              (k)
 * scratch holds mkt_mf_gram_scratch(k, n) doubles. */
void mkt_mf_normal_implicit(mkt_gram_path path, int k, int64_t n, const int32_t *idx, const double *r, double alpha,
                            const double *y, double *scratch, double *a, double *b);

/* Solves A x = b in place (b becomes x) for the symmetric positive definite
 * d x d matrix whose column-major lower triangle (row-major upper) is in a;
 * a is overwritten by the Cholesky factor.  Returns 0, or j + 1 when the
 * j-th pivot is not positive (the matrix is not positive definite).  Same
 * bits on every instruction set (fused multiply-adds in a fixed order). */
int mkt_mf_chol_solve(double *a, int d, double *b);

#endif
