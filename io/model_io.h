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
 * Must not: write models (the stages/train_*.c writers), talk MPI, or read
 * a store. */
#ifndef MKT_MODEL_IO_H
#define MKT_MODEL_IO_H

#include <hdf5.h>
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

/* /models/mf: user_factors [users x factors], item_factors [items x
 * factors], user_bias [users] and item_bias [items] (each bias optional). */
typedef struct {
    int64_t users, items, factors;
    int has_user_bias, has_item_bias;
    double global_mean; /* attribute global_mean (0 when absent) */
} mkt_mf_model;

int mkt_mf_describe(hid_t f, const char *file, mkt_mf_model *mf, char *why, size_t len);
/* Rows [begin, begin + n) of the user (item) factors and biases; a bias
 * the model lacks reads as zeros.  factors [n x K]; bias [n] may be NULL. */
void mkt_mf_read_users(hid_t f, const mkt_mf_model *mf, int64_t begin, int64_t n, double *factors, double *bias);
void mkt_mf_read_items(hid_t f, const mkt_mf_model *mf, int64_t begin, int64_t n, double *factors, double *bias);

/* /models/segments: assignment [users] (segment per user), names [segments]. */
typedef struct {
    int64_t users, segments;
} mkt_segments_model;

int mkt_segments_describe(hid_t f, const char *file, mkt_segments_model *s, char *why, size_t len);
/* assignment rows [begin, begin + n). */
void mkt_segments_read_assignment(hid_t f, int64_t begin, int64_t n, int32_t *assignment);
char **mkt_segments_read_names(hid_t f, const mkt_segments_model *s);

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

#endif
