/* cmd_segments.c — `mkt train segments`: its option table, which fills the
 * stage's options and the k-means config (src/kmeans.h) directly, defaults
 * from mkt_segments_options_init; and the call of the stage
 * (stages/train_segments.c).  Must not compute anything itself. */
#include <stddef.h>

#include "commands.h"
#include "metrics_json.h"
#include "train_segments.h"

typedef struct {
    mkt_segments_options s;
    char *metrics_out;
} segments_values_t;

#define S(f) offsetof(segments_values_t, f)
static const mkt_opt segments_opts[] = {
    {"store", MKT_OPT_STR, S(s.store), NULL, "store with /features (run mkt features first)", 0, 0},
    {"out", MKT_OPT_STR, S(s.out), NULL, "model file to write (created, or /models/segments replaced in it)", 0, 0},
    {"k", MKT_OPT_I32, S(s.config.k), NULL, "number of segments", 1, MKT_KMEANS_MAX_K},
    {"seed", MKT_OPT_U64, S(s.config.seed), NULL, "seed of the k-means++ seeding; the same seed gives the same segments on any rank count", 0, 0},
    {"iters", MKT_OPT_I32, S(s.config.iters), NULL, "at most this many Lloyd iterations", 0, MKT_KMEANS_MAX_ITERS},
    {"metrics-out", MKT_OPT_STR, S(metrics_out), NULL, "write what the stage did as JSON to this file", 0, 0},
    MKT_OPT_END};

static segments_values_t segments_values;

static void segments_defaults(void *p)
{
    mkt_segments_options_init(&((segments_values_t *)p)->s);
}

static int run_segments(void *p, MPI_Comm comm)
{
    segments_values_t *o = p;
    json_t *m = mkt_metrics_new("train_segments");
    int rc = mkt_segments_run(&o->s, comm, m);
    mkt_metrics_write(m, o->metrics_out, comm);
    json_decref(m);
    return rc;
}

const mkt_command mkt_cmd_train_segments = {
    .name = "train_segments",
    .usage = "mkt train segments --store S --out M [--k 5] [--seed 42] [--iters 50]",
    .description = "Distributed k-means segmentation of users on standardized recency, frequency, monetary and behaviour features; "
                   "segments named by their profile; identical for any number of ranks.",
    .opts = segments_opts,
    .values = &segments_values,
    .values_size = sizeof segments_values,
    .run = run_segments,
    .defaults = segments_defaults,
};
