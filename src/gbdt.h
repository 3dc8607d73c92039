/* gbdt.h — gradient-boosted decision trees: the hyper-parameters, the model
 * (arrays of nodes), its check, prediction, and the pure pieces of training
 * (binning a value, the quantile cuts of a sorted sample, the best split of
 * a node's histogram).
 *
 * The algorithm is XGBoost's `hist`: every feature is cut into at most 255
 * bins; a node's statistics are, per feature and bin, the sums of the
 * gradients, the hessians and the row count, held as integers (gradients
 * quantized with a power-of-two scale, docs/trees.md), so sums merged in any
 * order and on any number of ranks are the same bits.  The distributed
 * trainer is mpi/gbdt_train.c.
 *
 * Owns mkt_gbdt_config (defaults and check, each message starting with the
 * option's name), mkt_gbdt_model (layout, check, predict, importance, free).
 * Must not: call MPI, touch files, print. */
#ifndef MKT_GBDT_H
#define MKT_GBDT_H

#include <stddef.h>
#include <stdint.h>

#define MKT_GBDT_MAX_BINS 255   /* bins per feature; bin value 255 marks a missing value */
#define MKT_GBDT_MISSING 255
#define MKT_GBDT_MAX_DEPTH 20
#define MKT_GBDT_MAX_NODES (INT32_C(1) << 24) /* per tree */

typedef enum { MKT_GBDT_LOGISTIC = 0, MKT_GBDT_SQUARED = 1 } mkt_gbdt_loss;

typedef struct {
    int rounds;              /* trees at most */
    int max_depth;           /* 1..MKT_GBDT_MAX_DEPTH */
    int max_leaves;          /* 0: no cap; else leaves per tree at most (>= 2) */
    const char *grow;        /* "depthwise" (level by level) or "lossguide" (best leaf first) */
    double eta;              /* shrinkage, (0, 1] */
    double lambda;           /* L2 on leaf values, >= 0 */
    double gamma;            /* minimum split gain, >= 0 */
    double min_child_weight; /* minimum hessian sum of a child, >= 0 */
    int max_bins;            /* 2..255 */
    double subsample;        /* share of rows per tree, (0, 1] */
    double colsample;        /* share of features per tree, (0, 1] */
    int early_stop;          /* rounds without a better validation loss before stopping; 0: never */
    const char *loss;        /* "logistic" or "squared" */
    int64_t sketch_rows;     /* rows sampled (rank-independently) for the quantile cuts */
    uint64_t seed;           /* of the row and column subsamples and the sketch sample */
} mkt_gbdt_config;

void mkt_gbdt_config_defaults(mkt_gbdt_config *c);
/* NULL if usable, else a message starting with the option's name, e.g.
 * "depth: 0 is not in [1, 20]" (thread-local buffer). */
const char *mkt_gbdt_check_config(const mkt_gbdt_config *c);
/* loss of a checked config */
mkt_gbdt_loss mkt_gbdt_config_loss(const mkt_gbdt_config *c);

/* A forest.  Tree t owns nodes [tree_start[t], tree_start[t + 1]); node 0
 * of a tree is its root; left/right are indices relative to the tree's
 * first node, always greater than the node's own index (so every path ends).
 * A row goes left at an inner node iff x[feature] < threshold, or when the
 * value is missing (NaN) and default_left is 1.  Leaves have feature -1 and
 * value = the output added to the margin (shrinkage included). */
typedef struct {
    int d;                  /* features */
    int trees;
    int64_t nodes;
    mkt_gbdt_loss loss;
    double base_score;      /* margin before the first tree */
    int64_t *tree_start;    /* [trees + 1] */
    int32_t *feature, *left, *right;
    int8_t *default_left;
    double *threshold, *value;
    double *gain;           /* inner nodes: the split's gain (importance); leaves 0 */
    double *cover;          /* hessian sum of the node's training rows */
    /* capacities (the trainer grows the arrays) */
    int64_t node_cap;
    int tree_cap;
} mkt_gbdt_model;

/* An empty forest (no trees) of d features. Returns -1 when out of memory. */
int mkt_gbdt_model_init(mkt_gbdt_model *m, int d, mkt_gbdt_loss loss, double base_score);
/* Room for `trees` trees in all (their starts); -1 when out of memory. */
int mkt_gbdt_model_reserve_trees(mkt_gbdt_model *m, int trees);
/* Room for one more tree of up to `nodes` nodes; -1 when out of memory. */
int mkt_gbdt_model_reserve(mkt_gbdt_model *m, int64_t nodes);
void mkt_gbdt_model_free(mkt_gbdt_model *m);
/* Keep the first `trees` trees. */
void mkt_gbdt_model_truncate(mkt_gbdt_model *m, int trees);

/* NULL if the arrays form a valid forest of m->d features (tree_start
 * increasing from 0 to nodes, children inside their tree and after their
 * parent, features in [-1, d), thresholds not NaN, leaf values and
 * base_score finite), else a message naming the array and the node. */
const char *mkt_gbdt_check_model(const mkt_gbdt_model *m);

/* margin[i] += the outputs of trees [0, trees) for rows x[i·ld .. i·ld + d),
 * i < n, added tree by tree in order (the trainer adds them in the same
 * order, so a resumed model gives the same bits). */
void mkt_gbdt_add_trees(const mkt_gbdt_model *m, int tree_begin, int tree_end, const double *x, int64_t n,
                        int64_t ld, double *margin);
/* margin[i] = base_score + all trees. */
void mkt_gbdt_predict_margin(const mkt_gbdt_model *m, const double *x, int64_t n, int64_t ld, double *margin);
/* One row's margin. */
double mkt_gbdt_margin(const mkt_gbdt_model *m, const double *x);

/* out[f] = Σ gain of the splits on feature f (f < d). */
void mkt_gbdt_importance(const mkt_gbdt_model *m, double *out);

/* ---------- pure pieces of training ---------- */

/* The bin of x for cuts c[0..ncuts) (increasing): the number of cuts <= x;
 * MKT_GBDT_MISSING for NaN.  Bin b goes left of a split at b iff x < c[b]. */
int mkt_gbdt_bin(const double *cuts, int ncuts, double x);

/* Cuts for a sorted sample v[0..m) (no NaN): the distinct values but the
 * smallest when there are at most max_bins of them, else the sample's
 * max_bins-quantiles without repeats.  Writes at most max_bins − 1 cuts;
 * returns their number. */
int mkt_gbdt_cuts(const double *v, int64_t m, int max_bins, double *cuts);

/* Statistics of a set of rows: quantized gradient and hessian sums (value =
 * sum / scale) and the count. A histogram is an array of these. */
typedef struct {
    int64_t g, h, n;
} mkt_gbdt_stat;

typedef struct {
    int feature;       /* -1: no split improves the loss */
    int bin;           /* bins <= bin go left */
    int default_left;  /* missing values go left */
    double gain;
    mkt_gbdt_stat left, right;
} mkt_gbdt_split;

/* The leaf value of statistics s: −eta · G / (H + lambda). */
double mkt_gbdt_leaf_value(const mkt_gbdt_config *c, mkt_gbdt_stat s, double gscale, double hscale);

/* The best split of a node with statistics `total` and histogram hist:
 * feature f's bins are hist[off[f] .. off[f] + nbins[f]) and its missing
 * values hist[off[f] + nbins[f]].  Only features with use[f] set are tried;
 * ties keep the lowest feature, then the lowest bin, then missing-right.
 * The bins' counts (n) are not read: only g and h. */
void mkt_gbdt_best_split(const mkt_gbdt_config *c, const mkt_gbdt_stat *hist, const int64_t *off,
                         const int *nbins, const unsigned char *use, int d, mkt_gbdt_stat total, double gscale,
                         double hscale, mkt_gbdt_split *out);

/* The power-of-two scale that quantizes values of magnitude <= maxabs so
 * that the sum of `count` of them stays below 2^62 in magnitude. */
double mkt_gbdt_quant_scale(double maxabs, int64_t count);

#endif
