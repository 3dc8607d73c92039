/* cmd_mf.h — the `mkt train mf` and `mkt eval mf` commands (job-file
 * sections [train_mf] and [eval_mf]): their usage lines; the commands are
 * mkt_cmd_train_mf and mkt_cmd_eval_mf of commands.h. */
#ifndef MKT_CMD_MF_H
#define MKT_CMD_MF_H

#define MKT_TRAIN_MF_USAGE                                                                                   \
    "mkt train mf --store shop.h5 --out model.h5 [--implicit] [--rank K] [--iters T] [--lambda L|auto] [--alpha A] " \
    "[--until TS]"
#define MKT_TRAIN_MF_DESCRIPTION                                                                             \
    "Train a recommender by distributed alternating least squares: explicit ratings (biased) or implicit "   \
    "feedback (confidence-weighted); factors go to /models/mf."
#define MKT_EVAL_MF_USAGE "mkt eval mf --store shop.h5 --model model.h5 [--test test.h5] [--topk 10]"
#define MKT_EVAL_MF_DESCRIPTION "Held-out quality of a factorization model beside a popularity baseline."

#endif
