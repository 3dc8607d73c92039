/* mlp.h — a multilayer perceptron for binary outcomes: 1–3 hidden ReLU
 * layers and a sigmoid head, forward and backward for one example or for a
 * block of examples.
 *
 * Owns the layer arithmetic (through OpenBLAS cblas_dgemm) and the parameter
 * layout; must not sum gradients over examples (the trainer does that
 * exactly, mpi/dptrain.c), talk MPI or touch files.  The one-example
 * functions (M = 1) give an example's logit the same bits whichever other
 * examples a rank holds (prediction, serving); the block functions give a
 * block's summed gradient bits that depend only on the block's rows (the
 * trainer forms blocks from global row indices, so training is identical on
 * any number of ranks).
 *
 * Parameters are one flat vector; layer l (l = 0..H, H hidden layers, layer
 * H the head) maps in_l inputs to out_l outputs and stores W_l [out_l × in_l]
 * row-major, then b_l [out_l].  in_0 = inputs, out_H = 1. */
#ifndef MKT_MLP_H
#define MKT_MLP_H

#include <stddef.h>
#include <stdint.h>

#define MKT_MLP_MAX_HIDDEN 3

typedef struct {
    int inputs;
    int hidden;                    /* number of hidden layers, 0..MKT_MLP_MAX_HIDDEN (0: logistic regression) */
    int sizes[MKT_MLP_MAX_HIDDEN]; /* units of each hidden layer, >= 1 */
} mkt_mlp;

int64_t mkt_mlp_nparams(const mkt_mlp *m);
/* Doubles of scratch space that mkt_mlp_logit / mkt_mlp_loss_grad need. */
size_t mkt_mlp_work_size(const mkt_mlp *m);
/* He-normal weights (std sqrt(2 / in)) for hidden layers, Glorot for the
 * head, zero biases; drawn from stream (seed, MKT_STREAM_MODEL, layer). */
void mkt_mlp_init_params(const mkt_mlp *m, uint64_t seed, double *params);
/* Logit of one example. */
double mkt_mlp_logit(const mkt_mlp *m, const double *params, const double *x, double *work);
/* Cross-entropy of one example; when grad is not NULL, overwrite
 * grad[0..nparams) with its gradient. */
double mkt_mlp_loss_grad(const mkt_mlp *m, const double *params, const double *x, int y, double *grad,
                         double *work);

/* ---- dropout (training only; evaluation uses the functions above) ----
 * Inverted dropout on the hidden layers: unit j of hidden layer l is kept
 * with probability 1 − p and then scaled by 1 / (1 − p), so the expected
 * activation equals the one without dropout.  A mask holds, for every hidden
 * unit in layer order (mkt_mlp_mask_size doubles), 0 or 1 / (1 − p). */
#define MKT_MLP_STREAM_DROPOUT UINT64_C(0x64726f706f7574) /* rng purpose of dropout masks */
size_t mkt_mlp_mask_size(const mkt_mlp *m);
/* The mask of one example: layer l's units from the counter-based stream
 * (hash(seed, epoch), MKT_MLP_STREAM_DROPOUT, 4·example + l), so a mask
 * depends on (seed, epoch, global example index, layer) only, never on which
 * rank evaluates the example.  p = 0 gives all ones. */
void mkt_mlp_dropout_mask(const mkt_mlp *m, double p, uint64_t seed, int64_t epoch, int64_t example, double *mask);
/* As mkt_mlp_loss_grad with every hidden activation multiplied by its mask
 * entry (mask NULL: no dropout, same bits as mkt_mlp_loss_grad). */
double mkt_mlp_loss_grad_masked(const mkt_mlp *m, const double *params, const double *x, int y,
                                const double *mask, double *grad, double *work);

/* ---- blocks of examples (training) ----
 * The same network on `rows` examples at once, every layer one GEMM with
 * M = rows.  A block's result depends only on (params, the rows in order,
 * their masks), never on where the block sits in memory, so a trainer that
 * forms the same blocks on any number of ranks gets the same bits.  (It is
 * not bitwise the sum of mkt_mlp_loss_grad over the rows: GEMMs add in their
 * own order.) */
size_t mkt_mlp_block_work_size(const mkt_mlp *m, int rows);
/* x [rows × inputs] row-major, labels y, weights w_i = pos_weight for label
 * 1, else 1; masks NULL or rows × mkt_mlp_mask_size (row i's at i·size).
 * Returns Σ w_i·loss_i; when grad is not NULL, overwrites grad[0..nparams)
 * with Σ w_i·∇loss_i, each row's weighted gradient first scaled to L2 norm
 * <= clip when clip > 0 (the norm comes from each layer's deltas and inputs,
 * Σ_l |δ_l|²·(|a_l|² + 1), without forming per-row gradients). */
double mkt_mlp_block_loss_grad(const mkt_mlp *m, const double *params, const double *x, const int *y, int rows,
                               double pos_weight, const double *masks, double clip, double *grad, double *work);

#endif
