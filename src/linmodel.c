/* linmodel.c — logistic regression (see linmodel.h).  Owns the per-example
 * formulas; must not sum over examples (the trainer does, exactly). */
#include "linmodel.h"

#include <math.h>

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

double mkt_logreg_logit(const double *params, int d, const double *x)
{
    double z = params[d];
    for (int j = 0; j < d; j++)
        z += params[j] * x[j];
    return z;
}

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
