/* cmd_recommend.c — `mkt recommend` (job-file section [recommend]): its
 * option table, which fills the stage's options (stages/recommend.h)
 * directly; the numeric defaults are mkt_recommend_options_init's, the
 * checks mkt_recommend_check's.  Must not compute anything itself. */
#include <stddef.h>

#include "commands.h"
#include "iocheck.h"
#include "metrics_json.h"
#include "recommend.h"

typedef struct {
    mkt_recommend_options r;
    char *metrics_out;
} recommend_values_t;

#define O(f) offsetof(recommend_values_t, f)
static const mkt_opt recommend_opts[] = {
    {"store", MKT_OPT_STR, O(r.store), NULL, "store the model was trained on (ids, purchases to leave out)", 0, 0},
    {"models", MKT_OPT_STR, O(r.models), NULL, "model file with /models/mf", 0, 0},
    {"out", MKT_OPT_STR, O(r.out), NULL, "HDF5 file to write (group /recommendations)", 0, 0},
    {"csv", MKT_OPT_STR, O(r.csv), NULL, "also write one CSV row per (user or item, rank) with external ids", 0, 0},
    {"k", MKT_OPT_I32, O(r.k), NULL, "items per user (per item with --similar)", 0, 0},
    {"similar", MKT_OPT_BOOL, O(r.similar), NULL, "the k most similar items (cosine of the item factors) of every "
     "item instead of the top k items of every user", 0, 0},
    {"item-block", MKT_OPT_INT, O(r.item_block), NULL, "item factors read and screened this many rows at a time "
     "(memory per rank: about 100 bytes x factors per row)", 0, 0},
    {"metrics-out", MKT_OPT_STR, O(metrics_out), NULL, "write what the stage did as JSON to this file", 0, 0},
    MKT_OPT_END};

static recommend_values_t recommend_values;

static void defaults(void *p)
{
    mkt_recommend_options_init(&((recommend_values_t *)p)->r);
}

static int run_recommend(void *p, MPI_Comm comm)
{
    recommend_values_t *o = p;
    json_t *m = mkt_metrics_new("recommend");
    int rc = mkt_recommend_run(&o->r, comm, m);
    mkt_metrics_write(m, o->metrics_out, comm);
    json_decref(m);
    return rc;
}

const mkt_command mkt_cmd_recommend = {
    .name = "recommend",
    .usage = "mkt recommend --store S --models M --out rec.h5 [--k 10] [--similar] [--csv rec.csv]",
    .description = "The top-k items of every user (items the user bought left out), or with --similar the k most "
                   "similar items of every item, from /models/mf: the same answers, bit for bit, as the gateway's "
                   "recommend and similar ops, computed by the ranks that own the users with the item factors "
                   "streamed in blocks; identical on any rank count.",
    .opts = recommend_opts,
    .values = &recommend_values,
    .values_size = sizeof recommend_values,
    .run = run_recommend,
    .defaults = defaults,
};
