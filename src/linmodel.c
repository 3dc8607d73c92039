/* linmodel.c — logistic regression (see linmodel.h).  Owns the per-example
 * formulas; must not sum over examples (the trainer does, exactly). */
#include "linmodel.h"

#include <math.h>
#include <string.h>

double mkt_sigmoid(double z)
{
    if (z >= 0)
        return 1.0 / (1.0 + exp(-z));
    double e = exp(z);
    return e / (1.0 + e);
}

double mkt_bce_logit(double z, int y)
{
    double softplus = z > 0 ? z + log1p(exp(-z)) : log1p(exp(z));
    return softplus - (y ? z : 0.0);
}

int64_t mkt_logreg_nparams(int d) { return (int64_t)d + 1; }


double mkt_logreg_loss_grad(const double *params, int d, const double *x, int y, double *grad)
{
    double z = mkt_logreg_logit(params, d, x);
    if (grad) {
        double r = mkt_sigmoid(z) - (y ? 1.0 : 0.0);
        for (int j = 0; j < d; j++)
            grad[j] = r * x[j];
        grad[d] = r;
    }
    return mkt_bce_logit(z, y);
}

/* Block logits in two lanes: lane 0 sums w_j·x_j over even j, lane 1 over
 * odd j (an odd d's last term goes to lane 0), both in index order; the
 * logit is b + (lane 0 + lane 1).  A fixed function of the row — vectorized
 * the same way for every row, one row (mkt_logreg_logit: prediction,
 * serving) or four at a time (training blocks) — so a logit never depends
 * on where the row sits or which rows are evaluated with it. */
typedef double v2d __attribute__((vector_size(16)));

static v2d load2(const double *p)
{
    v2d v;
    memcpy(&v, p, sizeof v);
    return v;
}

static double lanes_logit(const double *params, int d, v2d acc, const double *x)
{
    double l0 = acc[0], l1 = acc[1];
    if (d % 2)
        l0 += params[d - 1] * x[d - 1];
    return params[d] + (l0 + l1);
}

double mkt_logreg_logit(const double *params, int d, const double *x)
{
    v2d a = {0, 0};
    for (int j = 0; j + 1 < d; j += 2)
        a += load2(params + j) * load2(x + j);
    return lanes_logit(params, d, a, x);
}

static void block_logits(const double *params, int d, const double *x, int rows, double *z)
{
    int i = 0, dp = d - d % 2;
    for (; i + 4 <= rows; i += 4) { /* four rows at once: four independent chains */
        const double *x0 = x + (int64_t)i * d, *x1 = x0 + d, *x2 = x1 + d, *x3 = x2 + d;
        v2d a0 = {0, 0}, a1 = {0, 0}, a2 = {0, 0}, a3 = {0, 0};
        for (int j = 0; j < dp; j += 2) {
            v2d w = load2(params + j);
            a0 += w * load2(x0 + j);
            a1 += w * load2(x1 + j);
            a2 += w * load2(x2 + j);
            a3 += w * load2(x3 + j);
        }
        z[i] = lanes_logit(params, d, a0, x0);
        z[i + 1] = lanes_logit(params, d, a1, x1);
        z[i + 2] = lanes_logit(params, d, a2, x2);
        z[i + 3] = lanes_logit(params, d, a3, x3);
    }
    for (; i < rows; i++)
        z[i] = mkt_logreg_logit(params, d, x + (int64_t)i * d);
}

/* grad[0..d) += Σ_i r_i·x_i and grad[d] += Σ_i r_i, row after row (each
 * grad[j] is a sum in row order, however the loop is vectorized). */
static void add_rows(double *restrict grad, const double *restrict x, const double *restrict r, int rows, int d)
{
    for (int i = 0; i < rows; i++) {
        const double *restrict xi = x + (int64_t)i * d;
        double ri = r[i];
        int j = 0;
        for (; j + 4 <= d; j += 4) { /* unrolled so that it vectorizes */
            grad[j] += ri * xi[j];
            grad[j + 1] += ri * xi[j + 1];
            grad[j + 2] += ri * xi[j + 2];
            grad[j + 3] += ri * xi[j + 3];
        }
        for (; j < d; j++)
            grad[j] += ri * xi[j];
        grad[d] += ri;
    }
}

#define LOGREG_ROWS 64 /* rows per pass: the block stays in cache between the two passes */

double mkt_logreg_block(const double *params, int d, const double *x, const int *y, int rows, double pos_weight,
                        double clip, double *grad)
{
    double loss = 0, z[LOGREG_ROWS], r[LOGREG_ROWS];
    if (grad)
        memset(grad, 0, sizeof(double) * ((size_t)d + 1));
    for (int i0 = 0; i0 < rows; i0 += LOGREG_ROWS) {
        int n = rows - i0 < LOGREG_ROWS ? rows - i0 : LOGREG_ROWS;
        const double *xb = x + (int64_t)i0 * d;
        block_logits(params, d, xb, n, z);
        for (int i = 0; i < n; i++) {
            /* one exp(−|z|) gives both mkt_bce_logit and mkt_sigmoid, with their bits */
            int yi = y[i0 + i] != 0;
            double w = yi ? pos_weight : 1.0, zi = z[i], e = exp(zi > 0 ? -zi : zi);
            double softplus = zi > 0 ? zi + log1p(e) : log1p(e);
            double p = zi >= 0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
            loss += w * (softplus - (yi ? zi : 0.0));
            r[i] = w * (p - (yi ? 1.0 : 0.0));
        }
        if (!grad)
            continue;
        if (clip > 0) /* |r·[x, 1]| = |r|·sqrt(|x|² + 1) */
            for (int i = 0; i < n; i++) {
                const double *xi = xb + (int64_t)i * d;
                double x2 = 1.0;
                for (int j = 0; j < d; j++)
                    x2 += xi[j] * xi[j];
                double norm = fabs(r[i]) * sqrt(x2);
                if (norm > clip)
                    r[i] *= clip / norm;
            }
        add_rows(grad, xb, r, n, d);
    }
    return loss;
}
