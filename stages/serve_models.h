/* serve_models.h — what each rank of `mkt serve` holds, shared by the two
 * halves of the serve stage: stages/serve_models.c (loading a model set,
 * at start-up and by reload) and stages/serve_fanout.c (answering from it).
 * Internal to the serve stage: the gateway uses serve_fanout.h.
 * Must not: be included outside stages/serve_*.c. */
#ifndef MKT_SERVE_MODELS_H
#define MKT_SERVE_MODELS_H

#include <stddef.h>
#include <stdint.h>

#include "gbdt.h"
#include "h5store.h"
#include "ids.h"
#include "mlp.h"
#include "par.h"
#include "serve_fanout.h"
#include "topk.h"

/* ---------- chunked reads ---------- */

typedef struct {
    hid_t file;
    char path[192];
    hid_t type;        /* memory type (numeric reads) */
    int strings;       /* read fixed-length strings into (char **)dest */
    int64_t start, count, done, row_bytes;
    void *dest;
} read_task;

typedef struct {
    read_task *t;
    int64_t n, cap, next;
} loader;

/* ---------- a model set ---------- */

typedef struct {
    hid_t file, strategy_file; /* open while loading */
    char *path, *strategy_path;
    int64_t version;
    double mtime, strategy_mtime, loaded_at;
    loader load;

    int has_uplift;
    int64_t uplift_arms;       /* T - 1 promotion arms */
    char **arm_names;          /* rank 0: T names, 0 = control */
    char *outcome;             /* "conversion" or "visit" */
    int64_t *uplift_row;       /* per own user: row in the local copy below, -1 if not in the campaign */
    double *uplift_outcome, *uplift_spend; /* local rows x uplift_arms */

    int has_segments;
    int64_t segments;
    char **segment_names;      /* rank 0 */
    int32_t *assignment;       /* own user block */

    int has_mf;
    int64_t factors;
    double global_mean;
    double *user_factors, *item_factors, *user_bias, *item_bias, *item_norm;
    mkt_f32_rows item_f32;     /* own item block in float32 and int8, for screening (src/topk.h) */

    int has_propensity;
    mkt_mlp mlp;               /* hidden == 0: logistic regression */
    int64_t horizon_days;
    double *prop_params, *prop_mean, *prop_std, *prop_x; /* prop_x: own users x inputs, raw features */
    int prop_gbdt;             /* model gbdt: prop_forest (checked) instead of prop_params */
    mkt_gbdt_model prop_forest;

    int has_strategy;
    int64_t strat_k, strat_arms;
    char **strat_arm_names;    /* rank 0 */
    int64_t strat_segments;
    char **strat_segment_names; /* rank 0: /strategy/segment_names (older files: none) */
    int64_t *strat_row;        /* per own user: local row, -1 when absent */
    int64_t strat_local;
    int32_t *strat_segment, *strat_promotion;
    int64_t *strat_items;
    double *strat_scores, *strat_price, *strat_profit, *strat_cost, *strat_uconv, *strat_uspend;
    char **strat_message;
} model_set;

struct mkt_serve_model {
    int rank, nranks;
    hid_t store;
    int64_t users, items;
    mkt_block user_block, item_block;
    mkt_dict user_dict, item_dict; /* rank 0 */
    int64_t *bought_ptr;           /* [U + 1]: user u bought rows bought[bought_ptr[u]..bought_ptr[u + 1]) */
    int32_t *bought;               /* of the own item block (item - block begin), sorted, distinct */
    int64_t *item_purchases;       /* own item block */
    model_set *cur, *next;         /* next: being loaded (reload), NULL otherwise */
    int64_t reloads_failed;
    char last_error[512];
};

/* Collective (every rank, in the same call): start loading a new set from
 * models and strategy (NULL: none) into m->next.  Returns 0, or -1 with why
 * (the same on every rank; it also becomes the last error stats shows). */
int mkt_serve_next_begin(mkt_serve_model *m, const char *models, const char *strategy, char *why, size_t whylen,
                         MPI_Comm comm);
/* Collective: read at most budget bytes per rank of m->next; when every rank
 * has read everything, all swap to it in this call and it returns 1, else 0. */
int mkt_serve_next_step(mkt_serve_model *m, int64_t budget, MPI_Comm comm);

#endif
