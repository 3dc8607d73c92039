/* linmodel.h — logistic regression: probability, per-example loss and
 * gradient.
 *
 * Owns the model's arithmetic only.  Parameters are one flat vector
 * [w_0 .. w_{d-1}, b] so optimizers treat every model alike.  Pure code: no
 * MPI, no files; summing per-example gradients over a data set (exactly, so
 * the result never depends on ranks) is the trainer's job (mpi/dptrain.c).
 * A per-example result depends only on (params, x, y), never on which other
 * examples are evaluated with it. */
#ifndef MKT_LINMODEL_H
#define MKT_LINMODEL_H

#include <stdint.h>

double mkt_sigmoid(double z);
/* Binary cross-entropy of a logit z for label y (0/1), computed stably:
 * softplus(z) − y·z. */
double mkt_bce_logit(double z, int y);

/* Number of parameters: d weights and a bias. */
int64_t mkt_logreg_nparams(int d);
/* Logit w·x + b (summed in index order). */
double mkt_logreg_logit(const double *params, int d, const double *x);
/* Cross-entropy of one example; when grad is not NULL, overwrite grad[0..d]
 * with its gradient (p − y)·[x, 1]. */
double mkt_logreg_loss_grad(const double *params, int d, const double *x, int y, double *grad);

#endif
