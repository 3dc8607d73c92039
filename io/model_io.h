/* model_io.h — the shape of every /models group a stage reads: one
 * "describe" per group that checks the group once (attributes present and
 * in range, datasets present with the shapes the attributes imply) and fills
 * a description, and readers of what the callers read through it.
 *
 * A describe returns 0, or -1 with a message in why naming the file, the
 * group and the dataset or attribute; it never exits, so each caller keeps
 * its own policy (the strategy skips an optional model, the gateway refuses
 * a reload and keeps serving).  Checks against the store (user and item
 * counts, feature names) stay with the callers, which know the store.
 * One save per group writes the model content its describe checks and its
 * readers read (Collective, into the group a mkt_model_writer opened); the
 * stages add their training settings, metrics and test scores next to it.
 * Must not: read a store or train anything. */
#ifndef MKT_MODEL_IO_H
#define MKT_MODEL_IO_H

#include <hdf5.h>
#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "gbdt.h"
#include "mlp.h"

/* /models/propensity or /models/propensity_item (same layout): params
 * [mkt_mlp_nparams(net)] (or, for model gbdt, a forest), feature_mean, feature_std, feature_names [inputs]. */
typedef struct {
    const char *group;    /* MKT_MODELS_PROPENSITY or MKT_MODELS_PROPENSITY_ITEM */
    mkt_mlp net;          /* attributes inputs, hidden_layers, hidden_1.. */
    int64_t nparams;      /* length of params */
    int64_t horizon_days; /* attribute horizon_days (7 when absent) */
    int gbdt;             /* attribute model = "gbdt": a forest (GROUP/forest, forest_io.h) on the
                             standardized features instead of params; nparams is then 0 */
} mkt_propensity_model;

int mkt_propensity_describe(hid_t f, const char *file, const char *group, mkt_propensity_model *p, char *why,
                            size_t len);
/* params [nparams], mean and std [inputs] (any may be NULL). */
void mkt_propensity_read(hid_t f, const mkt_propensity_model *p, double *params, double *mean, double *std);
/* A gbdt model's forest, checked (mkt_gbdt_model_free it); 0, or -1 with why. */
int mkt_propensity_read_forest(hid_t f, const char *file, const mkt_propensity_model *p, mkt_gbdt_model *forest,
                               char *why, size_t len);
/* feature_names [inputs] (mkt_h5_free_strings). */
char **mkt_propensity_read_names(hid_t f, const mkt_propensity_model *p);
/* The store group of its features (attribute features_group, else
 * /features_propensity); free it. */
char *mkt_propensity_features_group(hid_t f, const mkt_propensity_model *p);

/* What mkt_propensity_save writes (either group): params [model.nparams];
 * feature_mean, feature_std and feature_names [model.net.inputs];
 * attributes model (mlp or logistic), hidden_layers, hidden_1.., inputs,
 * horizon_days and features_group.  model.group is not used: the save
 * writes under the group its writer opened. */
typedef struct {
    mkt_propensity_model model;
    const double *params;
    const double *feature_mean, *feature_std;
    char *const *feature_names;
    const char *features_group;
    const mkt_gbdt_model *forest; /* non-NULL: model gbdt, the forest instead of params */
} mkt_propensity_save_args;

/* Collective over comm (which may be a group of `mkt tune`): rank 0 of comm
 * writes the names. */
void mkt_propensity_save(hid_t f, const char *group, const mkt_propensity_save_args *a, MPI_Comm comm);

/* /models/mf: user_factors [users x factors], item_factors [items x
 * factors], user_bias [users] and item_bias [items] (each bias optional).
 * (mkt_mf_stored: the in-memory factors of src/mf.h are mkt_mf_model.) */
typedef struct {
    int64_t users, items, factors;
    int has_user_bias, has_item_bias;
    double global_mean; /* attribute global_mean (0 when absent) */
} mkt_mf_stored;

int mkt_mf_describe(hid_t f, const char *file, mkt_mf_stored *mf, char *why, size_t len);
/* Rows [begin, begin + n) of the user (item) factors and biases; a bias
 * the model lacks reads as zeros.  factors [n x K]; bias [n] may be NULL. */
void mkt_mf_read_users(hid_t f, const mkt_mf_stored *mf, int64_t begin, int64_t n, double *factors, double *bias);
void mkt_mf_read_items(hid_t f, const mkt_mf_stored *mf, int64_t begin, int64_t n, double *factors, double *bias);

/* What mkt_mf_save writes: this rank's rows of the factors [n x
 * model.factors] and of the biases (those model.has_*_bias says), out of
 * model.users and model.items; attributes global_mean, rank, implicit,
 * users, items and until_ts (when not INT64_MIN). */
typedef struct {
    mkt_mf_stored model;
    int implicit;
    int64_t until_ts; /* trained on the events with ts < until_ts */
    const double *user_factors, *user_bias;
    int64_t user_begin, user_n;
    const double *item_factors, *item_bias;
    int64_t item_begin, item_n;
} mkt_mf_save_args;

/* Collective. The mf model under group (w.group of its writer). */
void mkt_mf_save(hid_t f, const char *group, const mkt_mf_save_args *a, MPI_Comm comm);

/* /models/segments: assignment [users] (segment per user), names [segments]. */
typedef struct {
    int64_t users, segments;
} mkt_segments_model;

int mkt_segments_describe(hid_t f, const char *file, mkt_segments_model *s, char *why, size_t len);
/* assignment rows [begin, begin + n). */
void mkt_segments_read_assignment(hid_t f, int64_t begin, int64_t n, int32_t *assignment);
char **mkt_segments_read_names(hid_t f, const mkt_segments_model *s);

/* What mkt_segments_save writes: model.users rows of assignment (this
 * rank's [begin, begin + n)), model.segments centroids (original and
 * standardized units) over `features` features, names, sizes and mean spend;
 * the features' names, mean and std; attributes k, seed, iterations, users. */
typedef struct {
    mkt_segments_model model;
    int64_t features;
    const double *centroids, *centroids_std; /* [segments x features] */
    const int64_t *sizes;                    /* [segments] */
    const double *mean_spend;                /* [segments] */
    char *const *names;                      /* [segments] */
    char *const *feature_names;              /* [features] */
    const double *feature_mean, *feature_std; /* [features] */
    const int32_t *assignment;               /* this rank's rows */
    int64_t begin, n;
    int64_t seed, iterations;
} mkt_segments_save_args;

/* Collective. The segments model under group (w.group of its writer). */
void mkt_segments_save(hid_t f, const char *group, const mkt_segments_save_args *a, MPI_Comm comm);

/* /models/uplift, the parts the strategy and the gateway read: arms [T]
 * (control first); attrs A user attributes: feature_spec [A x
 * UPLIFT_SPEC_COLS], attr_names [A]; coef_<outcome> and coef_spend [T x
 * features]; user [rows] with predicted_<outcome> and predicted_spend
 * [rows x (T - 1)].  A gbdt model (attribute learner = "gbdt") has forests
 * instead of the coefficients. */
typedef struct {
    char *outcome;     /* attribute outcome: conversion, visit or redeemed (NULL when absent: conversion) */
    char *method;      /* attribute method (NULL when absent) */
    int64_t arms;      /* T, rows of arms, >= 2 */
    int64_t features;  /* attribute features: columns of the coefficients */
    int64_t attrs;     /* attribute attrs: the user attributes (A) */
    int has_coef;      /* coef_<outcome> and coef_spend are there */
    int gbdt;          /* attribute learner = "gbdt": boosted-tree base models, forests under
                        * forest_<outcome>_<role> (stages/uplift_gbdt.c) instead of coef_*; the
                        * per-user predictions are there as for the linear learners */
    int64_t rows;      /* rows of user and the predictions; -1 when there are none */
} mkt_uplift_model;

int mkt_uplift_describe(hid_t f, const char *file, mkt_uplift_model *u, char *why, size_t len);
void mkt_uplift_model_free(mkt_uplift_model *u);

/* What mkt_uplift_save writes: arms [model.arms]; with model.attrs > 0
 * feature_spec and attr_names, and levels/<attr> for each categorical
 * attribute; coef_<outcome> and coef_spend [arms x model.features] (when coef is not NULL: linear learners); this
 * rank's rows of user, predicted_<outcome>, predicted_spend [n x (arms - 1)]
 * and holdout, out of model.rows; attributes method, design, outcome, seed,
 * holdout, features, attrs and rows.  model.outcome and model.method are
 * only read (they may point to constant strings: nothing here frees them). */
typedef struct {
    mkt_uplift_model model;
    const char *design; /* randomized or observational */
    int64_t seed;       /* the holdout split is a hash of seed and user */
    double holdout;     /* the fraction held out */
    char *const *arm_names;
    const double *coef, *coef_spend;
    const double *feature_spec;      /* [attrs x UPLIFT_SPEC_COLS] */
    char *const *attr_names;         /* [attrs] */
    char **const *level_names;       /* [attrs]: NULL for a numeric attribute */
    const int *n_levels;             /* [attrs] */
    const int32_t *user;             /* this rank's rows [begin, begin + n) */
    const double *predicted, *predicted_spend;
    const unsigned char *held_out;   /* 1: the row is held out */
    int64_t begin, n;
} mkt_uplift_save_args;

/* Collective over comm (which may be a group of `mkt tune`). */
void mkt_uplift_save(hid_t f, const char *group, const mkt_uplift_save_args *a, MPI_Comm comm);

/* /models/effect (`mkt train effect`, no describe: the stages that read it
 * check it): coef, stderr and names [features]; with attrs > 0 attr_mean,
 * attr_std and attr_names [attrs]; arms [arms]; attributes n, method,
 * outcome (spend). */
typedef struct {
    int64_t features, attrs, arms, n;
    const double *coef, *stderr_;
    char *const *names;
    const double *attr_mean, *attr_std;
    char *const *attr_names;
    char *const *arm_names;
    const char *method;
} mkt_effect_save_args;

/* Collective. */
void mkt_effect_save(hid_t f, const char *group, const mkt_effect_save_args *a, MPI_Comm comm);

/* /models/elasticity (`mkt train elasticity`; the strategy checks its rows
 * against the store's categories): elasticity, stderr, n (purchases) and
 * categories [categories]; attribute method. */
typedef struct {
    int64_t categories;
    const double *elasticity, *stderr_;
    const int64_t *n;
    char *const *names;
    const char *method;
} mkt_elasticity_save_args;

/* Collective. */
void mkt_elasticity_save(hid_t f, const char *group, const mkt_elasticity_save_args *a, MPI_Comm comm);

#endif
