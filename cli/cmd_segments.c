/* cmd_segments.c — `mkt train segments`: its option table and the call of
 * the stage (stages/train_segments.c).  Must not compute anything itself. */
#include <stddef.h>
#include <stdint.h>

#include "iocheck.h"
#include "commands.h"
#include "metrics_json.h"
#include "train_segments.h"

typedef struct {
    char *store, *out, *metrics_out;
    int64_t k, seed, iters;
} segments_cli;

#define S(f) offsetof(segments_cli, f)
static const mkt_opt segments_opts[] = {
    {"store", MKT_OPT_STR, S(store), NULL, "store with /features (run mkt features first)", 0, 0},
    {"out", MKT_OPT_STR, S(out), NULL, "model file to write (created, or /models/segments replaced in it)", 0, 0},
    {"k", MKT_OPT_INT, S(k), "5", "number of segments", 1, 1000},
    {"seed", MKT_OPT_INT, S(seed), "42", "seed of the k-means++ seeding; the same seed gives the same segments on any rank count", 0, 0},
    {"iters", MKT_OPT_INT, S(iters), "50", "at most this many Lloyd iterations", 0, 100000},
    {"metrics-out", MKT_OPT_STR, S(metrics_out), NULL, "write what the stage did as JSON to this file", 0, 0},
    MKT_OPT_END};

static segments_cli segments_values;

static int run_segments(void *p, MPI_Comm comm)
{
    segments_cli *o = p;
    mkt_segments_options s = {o->store, o->out, (int)o->k, (int)o->iters, (uint64_t)o->seed};
    json_t *m = mkt_metrics_new("train_segments");
    int rc = mkt_segments_run(&s, comm, m);
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
};
