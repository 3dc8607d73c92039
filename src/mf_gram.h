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

/* Eight systems at once, one per lane.  With D = mkt_mf_chol8_dim(d), a8
 * (D·D·8 doubles) holds element (i, j), j >= i, of system l at
 * a8[(i*D + j)*8 + l] (the row-major upper triangle of each symmetric
 * positive definite d x d matrix, interleaved; entries with j < i and the
 * padding past d are not read) and b8 element i of system l at b8[i*8 + l].
 * Solves every A_l x_l = b_l in place (b8 becomes the x_l, a8 the Cholesky
 * factors U_l with U_lᵀU_l = A_l).  Every operation is one fused
 * multiply-add, product, division or square root per lane in an order that
 * depends only on d, so a lane's result is a fixed function of its own
 * system: the same bits in any lane, beside any neighbours, on every
 * instruction set.  info[l] gets 0, or j + 1 when system l's j-th pivot is
 * not positive (that lane's numbers are then meaningless; the others are
 * unaffected).  Returns 1 if any info[l] is not 0.  Unused lanes should
 * hold an identity system. */
int mkt_mf_chol_solve8(double *a8, int d, double *b8, int info[8]);

/* The padded dimension D of mkt_mf_chol_solve8's a8 (d rounded up to 4). */
int mkt_mf_chol8_dim(int d);

#endif
