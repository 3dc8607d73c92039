/* dp.c — RDP accountant of the sampled Gaussian mechanism (see dp.h for the
 * formulas and references).  Sums are taken in log space (log-sum-exp) so
 * large orders and small σ do not overflow. */
#include "dp.h"

#include <math.h>

double mkt_rdp_sgm_step(double q, double sigma, int alpha)
{
    if (q <= 0)
        return 0;
    if (!(sigma > 0))
        return INFINITY;
    double s2 = 2 * sigma * sigma;
    if (q >= 1)
        return alpha / s2;
    double lq = log(q), l1q = log1p(-q), lg = lgamma(alpha + 1.0);
    double mx = -INFINITY;
    double terms[MKT_RDP_MAX_ORDER + 1];
    for (int k = 0; k <= alpha; k++) {
        double t = lg - lgamma(k + 1.0) - lgamma(alpha - k + 1.0) + k * lq + (alpha - k) * l1q +
                   ((double)k * k - k) / s2;
        terms[k] = t;
        if (t > mx)
            mx = t;
    }
    double sum = 0;
    for (int k = 0; k <= alpha; k++)
        sum += exp(terms[k] - mx);
    return (mx + log(sum)) / (alpha - 1);
}

double mkt_rdp_epsilon(double q, double sigma, int64_t steps, double delta, int *order)
{
    double best = INFINITY;
    int best_order = 0;
    if (sigma > 0 && delta > 0 && delta < 1)
        for (int a = 2; a <= MKT_RDP_MAX_ORDER; a++) {
            double e = (double)steps * mkt_rdp_sgm_step(q, sigma, a) + log(1 / delta) / (a - 1);
            if (e < best) {
                best = e;
                best_order = a;
            }
        }
    if (order)
        *order = best_order;
    return best;
}
