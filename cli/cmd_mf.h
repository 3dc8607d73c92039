/* cmd_mf.h — the `mkt train mf` and `mkt eval mf` commands (job-file
 * sections [train_mf] and [eval_mf]): option tables and run functions. */
#ifndef MKT_CMD_MF_H
#define MKT_CMD_MF_H

#include <mpi.h>
#include <stdint.h>

#include "options.h"

#define MKT_TRAIN_MF_USAGE                                                                                   \
    "mkt train mf --store shop.h5 --out model.h5 [--implicit] [--rank K] [--iters T] [--lambda L|auto] [--alpha A] " \
    "[--until TS]"
#define MKT_TRAIN_MF_DESCRIPTION                                                                             \
    "Train a recommender by distributed alternating least squares: explicit ratings (biased) or implicit "   \
    "feedback (confidence-weighted); factors go to /models/mf."
#define MKT_EVAL_MF_USAGE "mkt eval mf --store shop.h5 --model model.h5 [--test test.h5] [--topk 10]"
#define MKT_EVAL_MF_DESCRIPTION "Held-out quality of a factorization model beside a popularity baseline."

/* Option structs: filled by the option tables from argv or a job file. */
typedef struct mkt_train_mf_cli {
    char *store, *out, *metrics_out, *checkpoint, *solver, *exchange, *until, *lambda;
    int64_t rank, iters, seed, topk, checkpoint_every, cg_iters, patience;
    double alpha, holdout, valid_fraction;
    double weight_view, weight_click, weight_cart, weight_fav, weight_purchase, weight_rating, rating_threshold;
    int implicit, resume;
} mkt_train_mf_cli;
typedef struct mkt_eval_mf_cli {
    char *store, *model, *metrics_out, *test;
    int64_t topk;
} mkt_eval_mf_cli;
extern const mkt_opt mkt_train_mf_opts[];
extern const mkt_opt mkt_eval_mf_opts[];
extern mkt_train_mf_cli mkt_train_mf_values;
extern mkt_eval_mf_cli mkt_eval_mf_values;
int mkt_train_mf_run(void *values, MPI_Comm comm);
int mkt_eval_mf_run(void *values, MPI_Comm comm);

#endif
