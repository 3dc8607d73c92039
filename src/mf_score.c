/* mf_score.c — the exact scores shared by the gateway and `mkt recommend`
 * (what they compute and why in one place: mf_score.h).
 * Must not: use MPI or do I/O. */
#include "mf_score.h"

#include <math.h>

#include "topk.h"

/* the order of the additions depends only on k, so a score is the same bits
 * whichever rank, block or tile holds the item (the compiler vectorizes it) */
double mkt_mf_dot4(const double *a, const double *b, int64_t k)
{
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int64_t j = 0;
    for (; j + 4 <= k; j += 4) {
        s0 += a[j] * b[j];
        s1 += a[j + 1] * b[j + 1];
        s2 += a[j + 2] * b[j + 2];
        s3 += a[j + 3] * b[j + 3];
    }
    for (; j < k; j++)
        s0 += a[j] * b[j];
    return (s0 + s1) + (s2 + s3);
}

double mkt_mf_score(double global_mean, double user_bias, double item_bias, const double *p, const double *q,
                    int64_t k)
{
    return global_mean + user_bias + item_bias + mkt_mf_dot4(p, q, k);
}

double mkt_mf_norm(const double *q, int64_t k)
{
    double sum = 0;
    for (int64_t j = 0; j < k; j++)
        sum += q[j] * q[j];
    return sqrt(sum);
}

double mkt_mf_cosine(const double *a, double anorm, const double *q, double qnorm, int64_t k)
{
    double den = anorm * qnorm;
    return den > 0 ? mkt_mf_dot4(a, q, k) / den : 0.0;
}

/* |fl(d/den) - fl(a/den)| <= |d - a| / den + v (|d| + |a|) / den + ..., and
 * |d|, |a| <= 1.01 |q_i| |q| (v = 2^-53) */
double mkt_mf_cosine_bound(int64_t k, double qn, double rn, double den, double g)
{
    return (mkt_screen_bound(k, qn, rn, 0, 0) + 0x1p-51 * qn * rn) / den + 0x1p-51 * fabs(g);
}
