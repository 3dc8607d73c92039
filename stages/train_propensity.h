/* train_propensity.h — `mkt train propensity` and `mkt eval propensity`:
 * will this user buy in the next H days?
 *
 * Owns the examples (user features before a cutoff T from a features group,
 * standardized; label 1 iff the user has a purchase with qty > 0 in
 * [T, T + H days)), the rank-independent split of the users into training,
 * validation (early stopping, model selection) and test (the reported
 * held-out metrics, with the baselines beside them), the model file
 * layout (/models/propensity) and the metrics.  Must not define the models
 * (src/linmodel.c, src/mlp.c), their hyper-parameters' defaults and checks
 * (src/propensity.c), the optimizers (mpi/dptrain.c), the features
 * (src/mkt_features.c) or parse command lines (cli/cmd_propensity.c).
 * Both functions are Collective; a model trained on any number of ranks is
 * bitwise identical (docs/propensity.md). */
#ifndef MKT_PROPENSITY_STAGE_H
#define MKT_PROPENSITY_STAGE_H

#include <jansson.h>
#include <mpi.h>
#include <stdint.h>

#include "propensity.h"

/* cutoff_ts when no cutoff was given */
#define MKT_PROPENSITY_NO_CUTOFF INT64_MIN

typedef struct {
    const char *store;          /* store with events; features are added to it */
    const char *out;            /* train: model file to write (created or updated) */
    const char *model_path;     /* eval: model file to read */
    const char *test_store;     /* eval: NULL, or a test store of `store` (mkt ingest --as test): every user
                                 * with an event in it is a test user, default cutoff its end − H */
    const char *features_group; /* NULL or "": "/features_propensity" */
    int64_t cutoff_ts;          /* MKT_PROPENSITY_NO_CUTOFF: end_ts − horizon (eval: the model's cutoff) */
    int progress;
    const char *checkpoint;   /* train: NULL: "<out>.propensity.ckpt.h5" */
    int64_t checkpoint_every; /* train: epochs between checkpoints; 0: only on SIGTERM/SIGUSR1 */
    int resume;               /* train: continue from the checkpoint when it exists */
    const char *mf_model;     /* user_item: NULL, or a model file whose /models/mf adds the factor score */
    const char *export_prefix; /* train (target user): NULL, or write the standardized examples as LIBSVM text
                                * to PREFIX.train.svm, PREFIX.valid.svm and PREFIX.test.svm (global row order) */
    mkt_propensity_config config; /* train: the hyper-parameters (src/propensity.h), checked first */
} mkt_propensity_options;

/* Paths unset, no cutoff, progress on, the checkpoint defaults and the
 * config's defaults. */
void mkt_propensity_options_init(mkt_propensity_options *o);
/* Returns 0, or MKT_EXIT_PREEMPTED when a SIGTERM/SIGUSR1 stopped training
 * after a checkpoint (metrics then has "preempted_at_epoch"; no model) or
 * arrived after the model was written (docs/checkpoints.md). */
int mkt_propensity_train(const mkt_propensity_options *o, MPI_Comm comm, json_t *metrics);
int mkt_propensity_eval(const mkt_propensity_options *o, MPI_Comm comm, json_t *metrics);

#endif
