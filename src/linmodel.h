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
/* Logit w·x + b: b + (Σ_{j even} w_j·x_j + Σ_{j odd} w_j·x_j), each lane in
 * index order (an odd d's last term in the even lane) — a fixed formula,
 * whatever rows are evaluated with it (see linmodel.c). */
double mkt_logreg_logit(const double *params, int d, const double *x);
/* Cross-entropy of one example; when grad is not NULL, overwrite grad[0..d]
 * with its gradient (p − y)·[x, 1]. */
double mkt_logreg_loss_grad(const double *params, int d, const double *x, int y, double *grad);

/* A block of `rows` examples x [rows × d] (row-major) with labels y, each
 * weighted w_i = pos_weight for label 1, else 1.  Returns Σ w_i·loss_i; when
 * grad is not NULL, overwrites grad[0..d] with Σ w_i·∇loss_i, where each
 * row's weighted gradient is first scaled to L2 norm <= clip when clip > 0.
 * Two passes over 64 rows at a time (logits, then the gradient, while the
 * rows are in cache); each logit is a fixed function of its row (two lanes,
 * see linmodel.c) and every sum over rows runs in row order, so the result
 * depends only on (params, the rows in order), never on where the block
 * sits in memory or which other blocks exist. */
double mkt_logreg_block(const double *params, int d, const double *x, const int *y, int rows, double pos_weight,
                        double clip, double *grad);

#endif
