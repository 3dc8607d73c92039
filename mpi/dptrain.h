/* dptrain.h — data-parallel training of a binary classifier whose weights
 * are bitwise identical on any number of ranks.
 *
 * Owns minibatch selection, the gradient reduction, the optimizers (SGD with
 * momentum, Adam, full-batch L-BFGS), L2, class weights and early stopping
 * on validation log loss.  Must not define models (src/linmodel.c,
 * src/mlp.c) or read files.
 *
 * Determinism: each rank holds a contiguous slice of the global training
 * examples (rank r's rows follow rank r−1's).  The model evaluates blocks of
 * at most MKT_DP_BLOCK rows at once (two passes or GEMMs), and the trainer
 * forms those blocks from global positions only, never from rank
 * boundaries:
 * - full batch (L-BFGS): global chunks of MKT_DP_CHUNK rows, each computed
 *   by the rank holding its first row (the rows of a chunk that continue on
 *   the next ranks are copied to it once, before the first iteration); a
 *   chunk's blocks are added in order, and the chunk sums go into mkt_xsum
 *   accumulators merged exactly by one mkt_allreduce_xsum per evaluation;
 * - minibatches (SGD, Adam): a permutation of global example indices drawn
 *   from (seed, MKT_STREAM_SPLIT, epoch), the same on every rank; a batch's
 *   positions form groups of MKT_DP_BLOCK, each group's rows are sent to the
 *   rank that computes it, and the group sums are gathered and added in
 *   group order (or, for batches of more than MKT_DP_GATHER_GROUPS groups,
 *   added exactly).
 * Every rank then holds the same gradient bits and applies the same update. */
#ifndef MKT_DPTRAIN_H
#define MKT_DPTRAIN_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#define MKT_DP_BLOCK 64          /* rows per call of a model's block_loss_grad */
#define MKT_DP_CHUNK 1024        /* rows of a full-batch chunk (a multiple of MKT_DP_BLOCK) */
#define MKT_DP_GATHER_GROUPS 64  /* minibatches of up to this many groups add group sums in order */

/* A model.  logit: one example (prediction, validation).  block_loss_grad:
 * `rows` <= MKT_DP_BLOCK examples x [rows × d] row-major with labels y,
 * weight w_i = pos_weight for label 1, else 1; returns Σ w_i·loss_i and, when
 * grad is not NULL, overwrites grad[0..nparams) with Σ w_i·∇loss_i, each
 * row's weighted gradient first scaled to L2 norm <= clip when clip > 0.
 * epoch >= 0: a training step, index[i] the global training index of row i
 * (e.g. for dropout masks drawn from (epoch, index)); epoch < 0: plain
 * evaluation (index NULL).  The result must depend only on (params, the rows
 * in order, epoch, index), not on the address of x.  work: work_doubles
 * (logit) or block_work_doubles (block_loss_grad) scratch doubles. */
typedef struct {
    const void *ctx;
    int64_t nparams;
    size_t work_doubles, block_work_doubles;
    double (*logit)(const void *ctx, const double *params, const double *x, double *work);
    double (*block_loss_grad)(const void *ctx, const double *params, const double *x, const int *y, int rows,
                              double pos_weight, double clip, double *grad, double *work, int epoch,
                              const int64_t *index);
} mkt_dp_model;

/* This rank's rows: x [n × d] row-major, labels y (0/1). */
typedef struct {
    const double *x;
    const int *y;
    int64_t n;
    int d;
} mkt_dp_data;

typedef enum { MKT_DP_SGD = 0, MKT_DP_ADAM = 1, MKT_DP_LBFGS = 2 } mkt_dp_optimizer;

/* The trainer's whole state between two epochs: with it, training continues
 * with the same bits as if it had never stopped (checkpoints, --resume).
 * Arrays have nparams values (s, y: lbfgs_mem x nparams; rho: lbfgs_mem). */
typedef struct {
    int64_t nparams;
    int epoch;                  /* epochs done */
    double *params, *best;      /* current and best-so-far parameters */
    double *g, *v, *v2;         /* L-BFGS gradient; SGD momentum / Adam moments */
    double f, best_val;         /* L-BFGS objective at params; best validation loss */
    double gnorm0;              /* L-BFGS: |gradient| at the initial parameters (for tol) */
    int since_best;
    int64_t adam_t, examples;
    int lbfgs_mem, lbfgs_count, lbfgs_head;
    double *lbfgs_s, *lbfgs_y, *lbfgs_rho;
    int epochs_run, best_epoch; /* as in mkt_dp_result */
    double train_loss, val_loss, val_auc;
} mkt_dp_state;

/* Allocate (zeroed) a state for nparams parameters and L-BFGS memory mem. */
void mkt_dp_state_alloc(mkt_dp_state *st, int64_t nparams, int lbfgs_mem);
void mkt_dp_state_free(mkt_dp_state *st);

/* Called by every rank at the end of each epoch (not after an early stop);
 * return 1 to stop training here (all ranks must agree: decide from
 * collective results).  The state is the one to save to continue later. */
typedef int (*mkt_dp_epoch_hook)(void *arg, const mkt_dp_state *st, int epochs);

typedef struct {
    mkt_dp_optimizer optimizer;
    int epochs;         /* L-BFGS: iterations */
    int64_t batch;      /* global minibatch size (SGD, Adam) */
    double lr;          /* step size (SGD, Adam) */
    double momentum;    /* SGD */
    double beta1, beta2, adam_eps;
    double l2;          /* adds l2/2 · Σ params[j]² to the mean loss, over the penalized j */
    const unsigned char *unpenalized; /* NULL, or [nparams]: 1 = parameter j has no L2 (intercepts) */
    double pos_weight;  /* weight of label-1 examples (label 0: 1) */
    int patience;       /* epochs without better validation loss before stopping; 0: never stop early */
    int lbfgs_memory;
    double tol;         /* L-BFGS: stop when |gradient| <= tol·|gradient at the start| (0: off) */
    uint64_t seed;
    const char *stage;  /* progress line prefix; NULL: quiet */
    /* differentially private steps (SGD, Adam only): each example's weighted
     * gradient clipped to L2 norm dp_clip, the batch sum plus N(0, (dp_noise ·
     * dp_clip)²) per coordinate — drawn once per step from (seed, epoch, step),
     * the same bits on every rank — divided by the nominal batch size */
    int dp;
    double dp_clip, dp_noise;
    const mkt_dp_state *resume; /* NULL, or a saved state to continue from (same P and memory) */
    mkt_dp_epoch_hook after_epoch; /* NULL, or called after each epoch */
    void *hook_arg;
} mkt_dp_config;

void mkt_dp_config_defaults(mkt_dp_config *c);

typedef struct {
    int stopped;                 /* 1: after_epoch stopped training (params hold the current, not best, values) */
    int epochs_run, best_epoch;  /* best_epoch: 1-based epoch whose parameters were kept (0: initial) */
    double train_loss;           /* weighted mean training loss (with L2) at the kept parameters' epoch */
    double val_loss, val_auc;    /* at the kept parameters; NAN without validation rows */
    int converged;               /* L-BFGS stopped on tol, or its line search found no decrease */
    int64_t evaluations;         /* L-BFGS: full passes over the training rows (objective + gradient) */
    double seconds;
    double seconds_validation;   /* part of seconds spent on validation loss and AUC */
    double examples_per_second;  /* training examples processed per second, all ranks together */
    int64_t steps_per_epoch;     /* minibatch steps in one epoch (L-BFGS: 1) */
    int64_t train_examples;      /* all ranks' training rows */
} mkt_dp_result;

/* One epoch's figures, as mkt_dp_train hands them to its history callback. */
typedef struct {
    int epoch;                   /* 1-based */
    double train_loss, val_loss, val_auc;  /* NAN when not defined */
    double seconds;              /* since training started */
    int64_t evaluations;         /* L-BFGS: passes so far; -1 for the minibatch optimizers */
} mkt_dp_epoch;
typedef void (*mkt_dp_history_fn)(const mkt_dp_epoch *e, void *ctx);

/* Collective. Train `params` (initialized by the caller) on `train`, early
 * stopping on `valid` (may have no rows anywhere).  Calls history(e, ctx)
 * after every epoch (history may be NULL).  The final params are the best by validation loss.
 * With c->resume, the state (params included) is taken from it and training
 * continues at epoch resume->epoch + 1. */
void mkt_dp_train(const mkt_dp_model *m, const mkt_dp_config *c, const mkt_dp_data *train,
                  const mkt_dp_data *valid, double *params, mkt_dp_result *res, mkt_dp_history_fn history, void *history_ctx,
                  MPI_Comm comm);

/* Collective. Probabilities of every rank's rows, gathered on every rank in
 * rank order (global row order): *p and *y malloc'd, *n the global count. */
void mkt_dp_predict_all(const mkt_dp_model *m, const double *params, const mkt_dp_data *data, double **p, int **y,
                        int64_t *n, MPI_Comm comm);

/* Collective. Exact weighted-mean loss over all ranks' rows of data (class
 * weights as in c, no L2). */
double mkt_dp_mean_loss(const mkt_dp_model *m, const mkt_dp_config *c, const double *params,
                        const mkt_dp_data *data, MPI_Comm comm);

/* Collective. Plain mean log loss (exact) and AUC of the validation rows,
 * the values early stopping compares (mpi/dpeval.c). */
void mkt_dp_validate(const mkt_dp_model *m, const double *params, const mkt_dp_data *valid, double *loss, double *auc,
                     MPI_Comm comm);

#endif
