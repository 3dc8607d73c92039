/* uplift_internal.h — private to the uplift stage (train_uplift.c,
 * uplift_campaign.c, uplift_learners.c, uplift_gbdt.c, uplift_observational.c): the campaign
 * rows of a rank, the fit specification, the checkpointed run state and the
 * functions the files share.
 * Must not be included outside those files; the stage's interface is
 * train_uplift.h. */
#ifndef MKT_UPLIFT_INTERNAL_H
#define MKT_UPLIFT_INTERNAL_H

#include <hdf5.h>
#include <jansson.h>
#include <mpi.h>
#include <stdint.h>

#include "check.h"
#include "checkpoint.h"
#include "gbdt.h"
#include "par.h"
#include "train_uplift.h"
#include "uplift.h"

#define UPLIFT_CHUNK 1024
#define STAGE "uplift"

/* ---------- the campaign rows of this rank ---------- */

typedef struct {
    int64_t N, begin, n; /* global rows; this rank's rows [begin, begin + n) */
    int A, T;            /* attributes, arms (index 0 = control) */
    char **attr_names, **arm_names;
    int *n_levels;       /* per attribute: levels (0: numeric) */
    char ***level_names; /* per categorical attribute: its level names (code order) */
    int32_t *user, *treatment;
    double *y;           /* binary outcome (visit or conversion) */
    double *spend;
    double *attrs;       /* n x A */
    unsigned char *holdout; /* 1: test row (held out of every fit and of the selection) */
    unsigned char *valid;   /* 1: validation row (left out of the selection fits only) */
    unsigned char *fold;    /* cross-fitting fold of the row (DR-learner) */
    double *prop;           /* observational: n x T, propensity of arm t among t and control (NULL: randomized) */
    const unsigned char *excl; /* rows a fit leaves out (observational: outside the overlap of its arm) */
    int observational_store; /* /campaigns says design = observational (ingest --control untargeted) */
    int has_truth;       /* /truth/effect_* present with T-1 columns */
    double *truth_conv, *truth_spend; /* n x (T-1), NaN without truth */
} campaign_data;

static inline void *xalloc(size_t count, size_t size) { return mkt_xcalloc(count > 0 ? count : 1, size); }

typedef enum { FIT_ARM, FIT_S, FIT_TRANSFORMED, FIT_PAIR } fit_kind;

typedef struct {
    fit_kind kind;
    int arm;         /* FIT_ARM: rows of this arm; FIT_TRANSFORMED, FIT_PAIR: this arm and control */
    int logistic;    /* Newton on the log-likelihood; else ridge */
    const double *y; /* response per local row (FIT_PAIR: a pseudo-outcome) */
    double e;        /* FIT_TRANSFORMED: share of the arm among arm and control */
    int skip_valid;  /* leave the validation rows out (the selection fits) */
    int fold_out;    /* >= 0: leave the rows of this cross-fitting fold out */
    const char *label;
} fit_spec;

/* The fits of a run, in their fixed order (outcome then spend, then the
 * outcome's selection fits; arms in order), and the checkpoint state between
 * Newton steps.  Steps are counted over all fits; every fit has its slot
 * rows of d coefficients in one matrix, and a checkpoint holds that matrix
 * (the finished fits and the current fit's iterate) and where the current
 * fit stands. */
typedef struct {
    mkt_ckpt *ck;
    const mkt_ckpt_config *cfg;
    const double *coef; /* nslot x d, identical on every rank */
    int nslot, d;
    int fit;            /* index of the next fit to run */
    int step;           /* Newton steps done (this run and the resumed one) */
    int resumed;        /* a checkpoint was read: saved_* are valid */
    int saved_fit, saved_iter, saved_done;
    int stopped;        /* the step at which a signal stopped the run (0: none) */
} up_run;

/* uplift_campaign.c: the campaign rows, features and splits */

/* Collective. Read this rank's chunk block of /campaigns. */
void up_load_campaign(campaign_data *c, const char *store, const char *outcome, MPI_Comm comm);
void up_free_campaign(campaign_data *c);
/* Collective. Normalization of the numeric attributes over all campaign rows. */
void up_fit_features(const campaign_data *c, int squares, uplift_features *fs, MPI_Comm comm);
/* The feature matrix [n x d] of the local rows. */
void up_features_matrix(const campaign_data *c, const uplift_features *fs, double **X, int *d);
/* The test, validation and cross-fitting splits of the local rows. */
void up_mark_holdout(campaign_data *c, uint64_t seed, double holdout, double valid_fraction, int folds);
/* Collective. Fails when a split (`mask`) lacks rows of an arm. */
void up_require_split_rows(const campaign_data *c, const unsigned char *mask, const char *cmd, const char *what,
                           const char *fix, MPI_Comm comm);
void up_check_outcome(const char *outcome);

/* uplift_learners.c: the distributed fits */

/* The penalty of the ridge regressions of effects (see l2_effect). */
double up_effect_l2(const mkt_uplift_options *o);
/* The learner (uplift_method) and 1 for the observational design, from o->config. */
int up_method(const mkt_uplift_options *o);
int up_observational(const mkt_uplift_options *o);
/* Coefficient slots (rows of d) one outcome's fits take. */
int up_pass_slots(int method, int T, int folds);
/* Prediction of an outcome model at x: probability (logistic) or value. */
double up_outcome_at(const double *beta, const double *x, int d, int logistic);
/* Collective. Fit all arms of one outcome (see the definition). */
void up_fit_outcome(const mkt_uplift_options *o, campaign_data *c, const double *X, int d, int logistic,
                    const double *y, const char *name, double *slots, int skip_valid, double *coef, up_run *run,
                    MPI_Comm comm);
/* Collective. A fit outside the run's checkpointed sequence. */
void up_fit_aside(const fit_spec *s, const campaign_data *c, const double *X, int d, const mkt_uplift_options *o,
                  double *beta, MPI_Comm comm);

/* uplift_gbdt.c: --learner gbdt */

typedef struct {
    char name[96];          /* group under /models/uplift (forest_<outcome>_<role>) */
    mkt_gbdt_model model;
    double share;           /* X-learner effect models: the arm's share g; else NaN */
    int final;              /* 1: a fit of the final pass (the model's); 0: of the selection pass */
} up_gbdt_forest;
typedef struct {
    up_gbdt_forest *forest;
    int n, cap;
} up_gbdt_forests;

/* The fits of a gbdt run in their fixed order (selection pass, then final;
 * outcome then spend), and the checkpoints between fits: a checkpoint holds
 * every finished fit's forest, so a resumed run replays them (their
 * predictions) and trains the rest. */
typedef struct {
    mkt_ckpt *ck;
    const mkt_ckpt_config *cfg;
    up_gbdt_forests fits; /* every finished fit (resumed: the checkpoint's first) */
    int fit;              /* index of the next fit */
    int stopped;          /* the fit count at which a signal stopped the run (0: none) */
} up_gbdt_run;

/* The tree count of each fit, in fit order, from the selection pass. */
typedef struct {
    int *rounds;
    int n, cap, next;
} up_gbdt_plan;

/* Collective. The gbdt fits of one outcome (T, X or DR learner): the effect
 * of every arm at every local row into eff [n x (T-1)].  final 0: the
 * selection pass (without the validation rows, early stopping on them; each
 * fit's tree count appended to plan); 1: the final pass (the plan's tree
 * counts when there is a validation split).  The forests go to run->fits. */
void up_gbdt_fit_outcome(const mkt_uplift_options *o, campaign_data *c, const double *X, int d, int logistic,
                         const double *y, const char *oname, double *eff, int final, up_gbdt_plan *plan,
                         up_gbdt_run *run, MPI_Comm comm);
/* Collective. Read the matching checkpoint of the run, when there is one,
 * into run->fits (its forests checked); returns its fit count (0: none). */
int up_gbdt_resume(up_gbdt_run *run, int d, MPI_Comm comm);
/* Collective. The final pass's forests under group (and the X-learner's share attributes). */
void up_gbdt_write(hid_t f, const char *group, const up_gbdt_forests *fo, MPI_Comm comm);
void up_gbdt_free(up_gbdt_forests *fo);
/* Independent. The effects [n x (T-1)] of a gbdt model in file f at rows X [n x d]
 * (forests read and checked; a bad one fails naming file and group); for the
 * T-learner, control [n] (when not NULL) receives the control arm's predictions. */
void up_gbdt_read_effects(hid_t f, const char *file, int method, const char *oname, int logistic, int T, int d,
                          const double *X, int64_t n, double *eff, double *control);

/* uplift_observational.c: targeted (not randomized) campaigns */

/* Collective. c->prop: the fitted propensity of each arm against arm 0. */
void up_fit_propensity(const mkt_uplift_options *o, campaign_data *c, const double *X, int d, MPI_Comm comm);
/* Collective. IPW and AIPW effects per arm over the overlap into res["observational"]. */
void up_observational_estimates(const mkt_uplift_options *o, const campaign_data *c, const double *X, int d,
                                json_t *res, MPI_Comm comm);

#endif
