/* uplift.h — the pure pieces of uplift modelling: the feature map of a
 * campaign row, the hold-out split, the per-row terms of the Newton/IRLS
 * (logistic) and ridge normal equations, the Newton solve, the transformed
 * outcome, how a fitted model turns a feature row into per-arm effects, and
 * the held-out metrics (Qini coefficient, AUUC, uplift at top k%).
 *
 * This file owns the arithmetic only.  It must not talk MPI, read or write
 * files, or sum across rows in an order that depends on ranks: callers
 * (stages/train_uplift.c) sum the per-row terms exactly.  Everything here is a
 * deterministic function of its arguments, so 1, 2 and 4 ranks get the same
 * bits. */
#ifndef MKT_UPLIFT_H
#define MKT_UPLIFT_H

#include <stddef.h>
#include <stdint.h>

#include "gbdt.h"

typedef enum {
    UPLIFT_T_LEARNER = 0,
    UPLIFT_S_LEARNER = 1,
    UPLIFT_TRANSFORMED = 2,
    UPLIFT_X_LEARNER = 3,
    UPLIFT_DR_LEARNER = 4
} uplift_method;

/* Parse "t", "s", "transformed", "x", "dr" (-1 if unknown) and the reverse. */
int uplift_method_parse(const char *name);
const char *uplift_method_name(int method);

/* The hyper-parameters of an uplift model (`mkt train uplift`). */
typedef struct {
    const char *method;    /* learner: t, s, transformed, x or dr */
    const char *outcome;   /* binary outcome: conversion, visit or redeemed */
    const char *design;    /* randomized or observational (arms targeted: fitted propensities, overlap trimming) */
    const char *l2_effect; /* penalty of the effect regressions (transformed outcome, X stage 2, DR's final
                            * ridge), whose responses are on another scale than the outcome models': a number
                            * in [0, 1e12], or "same" (NULL too): l2 */
    double holdout;        /* share of users held out for the metrics */
    double valid_fraction; /* share of the non-held-out users in the validation split (0: none) */
    uint64_t seed;         /* seed of the hold-out, validation and fold hashes */
    double l2;             /* ridge penalty (all coefficients but the intercepts) */
    int folds;             /* cross-fitting folds of the DR-learner */
    double trim;           /* observational: rows whose propensity is outside [trim, 1 - trim] are left out */
    int squares;           /* add squares of standardized non-binary numeric attributes (0/1) */
    int max_iter;          /* Newton iterations at most */
    double tol;            /* stop when max |step| < tol */
    const char *learner;   /* base models: linear (Newton logistic / ridge) or gbdt (boosted trees; t, x, dr) */
    mkt_gbdt_config gbdt;  /* the trees of --learner gbdt (loss set per fit, seed from `seed`) */
} mkt_uplift_config;

/* Limits enforced by mkt_uplift_check_config. */
#define MKT_UPLIFT_MAX_HOLDOUT 0.95
#define MKT_UPLIFT_MAX_VALID_FRACTION 0.9
#define MKT_UPLIFT_MIN_FOLDS 2
#define MKT_UPLIFT_MAX_FOLDS 20
#define MKT_UPLIFT_MAX_L2 1e12
#define MKT_UPLIFT_MAX_ITER 1000
/* --learner gbdt: the one default that differs from mkt_gbdt_config_defaults
 * (measured on Hillstrom, docs/trees.md) */
#define MKT_UPLIFT_GBDT_DEPTH 2

void mkt_uplift_config_defaults(mkt_uplift_config *c);
/* NULL if the configuration is usable, else a message naming the bad field,
 * e.g. "method: must be t, s, transformed, x or dr, not 'q'" (the observational
 * design with the transformed outcome: "--design observational needs ...").
 * The message lives in a thread-local buffer, valid until the next call on
 * the same thread. */
const char *mkt_uplift_check_config(const mkt_uplift_config *c);
/* The parsed forms of a checked config's text fields: the uplift_method;
 * 1 for the observational design; the effect regressions' penalty. */
int mkt_uplift_config_method(const mkt_uplift_config *c);
int mkt_uplift_config_observational(const mkt_uplift_config *c);
double mkt_uplift_config_l2_effect(const mkt_uplift_config *c);
/* 1 when the base models are boosted trees (--learner gbdt). */
int mkt_uplift_config_gbdt(const mkt_uplift_config *c);
/* 1 when a model of this method stores each arm's effect directly as a
 * linear function of the features (row t of coef; transformed, x, dr). */
int uplift_effect_is_linear(int method);

/* How one campaign attribute enters the features. */
typedef struct {
    int categorical; /* 1: one-hot over n_levels codes; 0: standardized number */
    int n_levels;    /* categorical: number of levels */
    int square;      /* numeric: also add the square of the standardized value */
    double mean, std; /* numeric: normalization (std 1 when the attribute is constant) */
} uplift_attr_spec;

/* Feature map: intercept, then per attribute z (and z^2 if square) or a
 * one-hot block.  A missing numeric value (NaN) maps to z = 0, a code out of
 * range to an all-zero block. */
typedef struct {
    int n_attr;
    uplift_attr_spec *attr;
} uplift_features;

/* Number of features (including the intercept). */
int uplift_feature_dim(const uplift_features *f);
/* out[0..dim) = features of one row of raw attributes (n_attr values). */
void uplift_feature_row(const uplift_features *f, const double *attrs, double *out);
/* The stored form of the feature map (/models/uplift/feature_spec): one row
 * of UPLIFT_SPEC_COLS doubles per attribute, (categorical, n_levels, square,
 * mean, std).  encode writes f->n_attr rows; decode reads them into f->attr,
 * which must hold f->n_attr entries. */
#define UPLIFT_SPEC_COLS 5
void uplift_spec_encode(const uplift_features *f, double *spec);
void uplift_spec_decode(const double *spec, uplift_features *f);
/* Normalization from the sums of x and x^2 over n rows (population std;
 * 1 when it would be 0 or not finite). */
void uplift_mean_std(double n, double sum, double sumsq, double *mean, double *std);

/* 1 if the user is in the hold-out part: a hash of (seed, user) below
 * `holdout` (a share in [0, 1]).  Independent of ranks and row order. */
int uplift_is_holdout(uint64_t seed, int64_t user, double holdout);

/* 1 if the user is in the validation part of the rows that are not held
 * out: a second hash of (seed, user), independent of the hold-out hash,
 * below `fraction`.  Callers apply it to the non-held-out rows only. */
int uplift_is_validation(uint64_t seed, int64_t user, double fraction);

/* Cross-fitting fold of a user, in [0, folds): a third hash of (seed, user). */
int uplift_fold(uint64_t seed, int64_t user, int folds);

double uplift_sigmoid(double x);

/* Terms of the normal equations: A += w x x^T (upper triangle, row-major
 * d x d) and b += r x.  Logistic (Newton/IRLS at beta): w = p(1-p),
 * r = y - p with p = sigmoid(x.beta); ridge: w = 1, r = y. */
void uplift_accumulate(const double *x, int d, double w, double r, double *A, double *b);
/* Per-row Newton terms of logistic regression at beta; returns the row's
 * log-likelihood. */
double uplift_logistic_terms(const double *x, int d, const double *beta, double y, double *w, double *r);

/* Newton step for the penalized problem: solves (A + l2 P) delta = b - l2 P beta
 * (logistic; P = identity without the intercept entries listed in
 * `unpenalized`, a 0/1 mask, NULL: only index 0) or, when `ridge` is 1,
 * (A + l2 P) beta = b directly (delta = new beta - beta).  A holds the upper
 * triangle and is not modified.  Returns the LAPACKE_dposv info (0 on success);
 * beta is updated in place and *max_step receives max |delta|. */
int uplift_newton_solve(const double *A, const double *b, int d, double l2, const unsigned char *unpenalized,
                        int ridge, double *beta, double *max_step);

/* Fit on rows held in memory (one process, plain sums): logistic (ridge = 0)
 * by Newton iterations or ridge least squares (ridge = 1).  For tests and
 * small problems.  Returns the number of iterations, -1 if the solve failed. */
int uplift_fit_local(const double *X, const double *y, int64_t n, int d, double l2, int ridge, int max_iter,
                     double tol, double *beta);

/* Transformed outcome for arm t vs control with propensity e = P(W = 1)
 * among rows of t and control: Z = y (W/e - (1-W)/(1-e)); E[Z | x] is the
 * effect of t at x under randomized assignment. */
double uplift_transformed_outcome(double y, int treated, double e);

/* X-learner imputed effect of one row of arm t or control: for a treated
 * row y - mu0(x), for a control row mu_t(x) - y (`other` is the prediction of
 * the other group's outcome model at x). */
double uplift_x_imputed(double y, int treated, double other);

/* DR-learner (AIPW) pseudo-outcome of one row of arm t or control with
 * out-of-fold outcome predictions mu1 = mu_t(x), mu0 = mu_0(x) and
 * propensity e: mu1 - mu0 + W (y - mu1)/e - (1 - W)(y - mu0)/(1 - e). */
double uplift_dr_pseudo(double y, int treated, double mu1, double mu0, double e);

/* Effects of every arm t = 1..T-1 against control at feature row x, given a
 * model's coefficients coef [T x d] (see docs/uplift.md for the layout per
 * method).  logistic = 1 for a binary outcome (probabilities), 0 for spend. */
void uplift_effects(int method, int logistic, const double *coef, int T, int d, const double *x, double *effect);

/* One held-out row for the metrics of one arm vs control. */
typedef struct {
    double score;  /* predicted effect */
    double y;      /* observed outcome */
    int64_t user;  /* tie-break */
    int treated;   /* 1: the arm, 0: control */
} uplift_eval_row;

typedef struct {
    double qini;      /* area between the Qini curve and the random line, per user */
    double auuc;      /* area under the uplift (cumulative gain) curve, per user */
    double uplift_at[3]; /* rate(treated) - rate(control) among the top 10, 20, 30% */
    double uplift_all;   /* rate(treated) - rate(control) over all rows (the average effect) */
    int64_t n, n_treated, n_control;
} uplift_qini_result;

/* Sorts rows by (score descending, user ascending) and computes the metrics;
 * see docs/uplift.md for the definitions. */
void uplift_qini(uplift_eval_row *rows, int64_t n, uplift_qini_result *out);

#endif
