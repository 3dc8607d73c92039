/* cmd_features.c — `mkt features`: its option table, which fills the
 * stage's options (stages/features_stage.h) directly, defaults from
 * mkt_features_options_init.  Must not compute anything itself. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "commands.h"
#include "features_stage.h"
#include "iocheck.h"
#include "metrics_json.h"
#include "schema.h"

typedef struct {
    mkt_features_options s;
    char *metrics_out;
} features_values;

#define F(f) offsetof(features_values, f)
static const mkt_opt opts[] = {
    {"store", MKT_OPT_STR, F(s.store), NULL, "store to read events from and write features into", 0, 0},
    {"cutoff", MKT_OPT_TIME, F(s.cutoff_ts), NULL, "only events before this timestamp count (default: all)", 0, 0},
    {"group", MKT_OPT_STR, F(s.group), MKT_FEATURES, "group to write the features to", 0, 0},
    {"metrics-out", MKT_OPT_STR, F(metrics_out), NULL, "write what the stage did as JSON to this file", 0, 0},
    MKT_OPT_END};

static void defaults(void *p)
{
    mkt_features_options_init(&((features_values *)p)->s);
}

static int run(void *p, MPI_Comm comm)
{
    features_values *o = p;
    if (!o->s.store)
        mkt_fail_all(MKT_EXIT_USAGE, "features: --store STORE.h5 is required");
    o->s.has_cutoff = o->s.cutoff_ts != INT64_MAX;
    json_t *m = mkt_metrics_new("features");
    int rc = mkt_features_run(&o->s, comm, m);
    mkt_metrics_write(m, o->metrics_out, comm);
    json_decref(m);
    return rc;
}

static features_values values;

const mkt_command mkt_cmd_features = {
    .name = "features",
    .usage = "mkt features --store store.h5 [--cutoff T]",
    .description = "Compute user features (recency, frequency, monetary, funnel rates, category and time shares) "
                   "and item features, with normalization statistics, into the store.",
    .opts = opts,
    .values = &values,
    .values_size = sizeof values,
    .run = run,
    .defaults = defaults,
};
