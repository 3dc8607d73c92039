/* propensity_internal.h — what the files of `mkt train propensity` and
 * `mkt eval propensity` share (train_propensity.c, propensity_examples.c,
 * propensity_model.c, propensity_gbdt.c, propensity_item.c, eval_propensity.c):
 * the user split, the examples, the model behind the trainer's interface,
 * the checkpointing of a run, what both model groups hold.  Private to those files: nothing
 * else includes it (the stage's interface is train_propensity.h). */
#ifndef MKT_PROPENSITY_INTERNAL_H
#define MKT_PROPENSITY_INTERNAL_H

#include <jansson.h>
#include <mpi.h>
#include <stdint.h>

#include "checkpoint.h"
#include "dptrain.h"
#include "gbdt.h"
#include "h5store.h"
#include "mlp.h"
#include "par.h"
#include "schema.h"
#include "train_propensity.h"

#define STAGE_TRAIN "train propensity"
#define STAGE_EVAL "eval propensity"
#define MODEL_GROUP MKT_MODELS_PROPENSITY
#define DAY 86400
#define EVENT_CHUNK (INT64_C(1) << 20)
/* the recency-frequency rule's window (a baseline, docs/propensity.md) */
#define RF_DAYS 90
#define RF_RULE_USER "distinct purchase days in the 90 days before the cutoff, ties by recency of the last purchase"
#define RF_RULE_ITEM                                                                                               \
    "distinct days the user bought the item in the 90 days before the cutoff, ties by the item's purchases "     \
    "before the cutoff"

/* The three user sets, a pure function of (seed, user), so the same on any
 * ranks: with u = hash(seed, user) / 2^64 uniform in [0, 1), test iff
 * u < test_fraction, validation iff test_fraction <= u < test_fraction +
 * valid_fraction, training otherwise.  (The test users are the users held
 * out before validation was split off, for the same seed and fraction.) */
enum { SPLIT_TRAIN = 0, SPLIT_VALID = 1, SPLIT_TEST = 2 };

/* This rank's users, split into training, validation and test examples. */
typedef struct {
    int d;
    char **names;                 /* feature names [d] */
    double *mean, *std;           /* normalization [d] */
    double *xt, *xv, *xs;         /* rows of training / validation / test users */
    int *yt, *yv, *ys;
    double *rs;                   /* the recency-frequency rule's score of each test row */
    int64_t nt, nv, ns;
    int64_t users, local_users, positives_local;
} examples;

/* The model behind the trainer's interface. */
typedef struct {
    mkt_mlp mlp;    /* hidden = 0: logistic regression */
    double dropout; /* mlp, training only */
    uint64_t seed;
} model_ctx;
typedef struct {
    mkt_ckpt *ck;
    const mkt_ckpt_config *cfg;
    json_t *history;
    MPI_Comm comm;
    int stopped; /* epoch at which a signal stopped training */
} ckpt_hook;
/* A training run's checkpointing: the file, the settings it must match,
 * the state resumed from and the epoch hook (shared by both targets). */
typedef struct {
    mkt_ckpt ck;
    mkt_ckpt_config cfg;
    mkt_dp_state saved;
    ckpt_hook hook;
    int start;
} ckpt_run;

/* Collective. What both propensity model groups (/models/propensity and
 * /models/propensity_item) hold: parameters, normalization, names, the test
 * rows' scores and labels, and the training configuration as attributes. */
typedef struct {
    const double *params, *mean, *std, *sp; /* sp: the test rows' scores */
    const int8_t *slabel;
    char **names;
    int64_t nparams, d, sn, cutoff;
    const mkt_dp_result *res;
    const char *features_group;
    double auc, ll;              /* on the test rows */
    double train_rate, rf_auc;   /* training rows' positive rate; the RF rule's test AUC */
    const mkt_gbdt_model *forest; /* NULL, or model gbdt: written as GROUP/forest instead of params */
} model_common;

/* ---------- propensity_examples.c ---------- */
int prop_split_of(uint64_t seed, int64_t user, double test_fraction, double valid_fraction);
const char *prop_group_name(const mkt_propensity_options *o);
int64_t prop_store_end_ts(const char *store, MPI_Comm comm);
int prop_ensure_features(const char *store, const char *group, int64_t cutoff, int progress, MPI_Comm comm,
                         json_t *metrics);
void prop_examples_free(examples *e);
void prop_load_examples(const char *store, const char *group, int64_t cutoff, int64_t horizon_days, uint64_t seed,
                        double test_fraction, double valid_fraction, const double *mean, const double *std,
                        int all_test, examples *e, MPI_Comm comm);
void prop_log_examples(const char *stage, const examples *e, int64_t cutoff, int64_t horizon, MPI_Comm comm);
void prop_count_global(const int *y, int64_t n, int64_t out[2], MPI_Comm comm);
json_t *prop_window_json(int k, int64_t cutoff, int64_t horizon_days, const char *group, const char *role,
                         const int64_t train[2], const int64_t valid[2], const int64_t test[2]);
void prop_load_training_windows(const mkt_propensity_options *o, const char *group, int64_t cutoff,
                                int64_t stride_days, examples *e, json_t *windows, MPI_Comm comm);
void prop_export_libsvm(const char *path, const double *x, const int *y, int64_t n, int d, MPI_Comm comm);
/* one event of a rank's user u (index in the rank's block) */
typedef void (*prop_event_fn)(void *ctx, int64_t u, int64_t ts, int32_t type, int32_t qty, int32_t item);
void prop_scan_user_events(hid_t f, const char *store, mkt_block b, int with_item, prop_event_fn fn, void *ctx);

/* ---------- propensity_model.c ---------- */
void prop_history_append(const mkt_dp_epoch *e, void *ctx);
unsigned char *prop_intercepts(const model_ctx *ctx, int64_t nparams);
mkt_dp_model prop_make_model(const model_ctx *ctx);
/* A forest behind the trainer's prediction interface (logit = its margin;
 * no parameters, no training). */
mkt_dp_model prop_forest_model(const mkt_gbdt_model *forest);
void prop_ckpt_attach(ckpt_run *r, int64_t nparams, mkt_dp_config *c, json_t *history, json_t *metrics,
                      MPI_Comm comm);
int prop_ckpt_detach(ckpt_run *r, const mkt_dp_config *c, const mkt_dp_result *res, json_t *metrics);
void prop_write_model_common(hid_t f, const char *g, const mkt_propensity_options *o, const model_ctx *ctx,
                             const model_common *c, double l2, MPI_Comm comm);
void prop_options_config(const mkt_propensity_options *o, const model_ctx *ctx, const mkt_dp_config *c,
                         const char *layout, const char *group, int64_t cutoff, int64_t nparams,
                         mkt_ckpt_config *cfg);

/* ---------- train_propensity.c ---------- */
void prop_ckpt_data_keys(const examples *e, mkt_ckpt_config *cfg, MPI_Comm comm);
double prop_resolve_l2(const mkt_propensity_options *o, const mkt_dp_model *m, const mkt_dp_config *c,
                       const double *init, const mkt_dp_data *train, const mkt_dp_data *valid, json_t *metrics,
                       MPI_Comm comm);
void prop_split_fit_metrics(json_t *metrics, const mkt_propensity_config *p, const mkt_dp_result *res);
void prop_selection_metrics(json_t *metrics, const mkt_dp_result *res);
void prop_log_result(const char *stage, double auc, double ll, double base_ll, double rf_auc,
                     const mkt_dp_result *res, const char *out, const char *group, double seconds);
int prop_finish_run(const mkt_propensity_options *o, MPI_Comm comm);

/* ---------- propensity_gbdt.c ---------- */
/* Collective. Model gbdt on e's rows (pos_weight as row weights, early
 * stopping on the validation rows) with checkpoints of kind "propensity" or
 * "propensity_item" in cr (set up here: --checkpoint, --resume): *forest
 * (free it) and, in res, rounds as epochs.  history gets a round per entry;
 * metrics (may be NULL) "gbdt" (settings, trees, importance by e->names).
 * 1 when a signal stopped it (nothing to free then but e and cr). */
int prop_gbdt_fit(const mkt_propensity_options *o, const examples *e, const char *kind, const char *group,
                  int64_t cutoff, ckpt_run *cr, mkt_gbdt_model *forest, mkt_dp_result *res, json_t *history,
                  json_t *metrics, MPI_Comm comm);
/* Collective. The same fit without checkpoints, history or metrics. */
void prop_gbdt_fit_quiet(const mkt_propensity_options *o, const examples *e, mkt_gbdt_model *forest, MPI_Comm comm);
/* Collective. The trees' settings as attributes of model group g. */
void prop_gbdt_write_attrs(hid_t f, const char *g, const mkt_propensity_config *p, const mkt_gbdt_model *forest);

/* ---------- propensity_item.c ---------- */
int prop_train_user_item(const mkt_propensity_options *o, const model_ctx *ctx, const mkt_dp_config *c,
                         MPI_Comm comm, json_t *metrics);

/* ---------- eval_propensity.c ---------- */
void prop_quality_metrics(json_t *obj, const double *p, const int *y, int64_t n);
double *prop_gather_doubles(const double *local, int64_t n, int64_t *total_out, MPI_Comm comm);
void prop_baseline_metrics(json_t *obj, double train_rate, const int *y, const double *rf, const char *rule,
                           int64_t n, double *rf_auc, double *base_ll);
void prop_require_test_rows(const char *stage, const char *what, int64_t rows, int64_t positives,
                            double test_fraction, int64_t cutoff, int64_t horizon_days);

#endif
