/* mf_score.h — the exact double scores of a factorization model that the
 * gateway's recommend and similar ops and the bulk `mkt recommend` both
 * rank by, in one place so that the two give the same bits: the prediction
 * r = ((mu + b_u) + b_i) + p_u.q_i and the cosine of two item vectors,
 * with the dot product summed in a fixed order that depends only on the
 * factor count; and the screening bound of a cosine (src/topk.h bounds the
 * dot product).
 * Must not: use MPI, know about the store or the gateway (pure computation). */
#ifndef MKT_MF_SCORE_H
#define MKT_MF_SCORE_H

#include <stdint.h>

/* Dot product with four interleaved partial sums, ((s0 + s1) + (s2 + s3)). */
double mkt_mf_dot4(const double *a, const double *b, int64_t k);
/* ((global_mean + user_bias) + item_bias) + mkt_mf_dot4(p, q, k). */
double mkt_mf_score(double global_mean, double user_bias, double item_bias, const double *p, const double *q,
                    int64_t k);
/* sqrt of the sum of squares, summed in index order (the norm a cosine divides by). */
double mkt_mf_norm(const double *q, int64_t k);
/* mkt_mf_dot4(a, q) / (anorm * qnorm), or 0 when anorm * qnorm is not > 0. */
double mkt_mf_cosine(const double *a, double anorm, const double *q, double qnorm, int64_t k);
/* A bound on |mkt_mf_cosine - g| for g = (float32 dot of the rounded rows) / den,
 * den = anorm * qnorm > 0: the dot product's bound (mkt_screen_bound with
 * the scaled norms qn, rn) divided by den, plus the rounding of the divisions. */
double mkt_mf_cosine_bound(int64_t k, double qn, double rn, double den, double g);

#endif
