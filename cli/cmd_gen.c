/* cmd_gen.c — `mkt gen`: its option table, which fills the stage's options
 * (stages/gen_stage.h) and the generator's config (src/gen.h) directly; the
 * numeric defaults are mkt_gen_config_defaults', printed by --help from there.
 * Must not compute anything itself. */
#include <stddef.h>
#include <string.h>

#include "commands.h"
#include "gen_stage.h"
#include "metrics_json.h"

typedef struct {
    mkt_gen_stage_options stage;
    char *metrics_out;
} gen_values;

#define G(f) offsetof(gen_values, f)
static const mkt_opt opts[] = {
    {"users", MKT_OPT_INT, G(stage.config.users), NULL, "number of users", 1, 2147483647},
    {"items", MKT_OPT_INT, G(stage.config.items), NULL, "number of items", 1, 2147483647},
    {"days", MKT_OPT_I32, G(stage.config.days), NULL, "length of the behaviour log in days", 1, 3650},
    {"seed", MKT_OPT_U64, G(stage.config.seed), NULL, "random seed; the same seed gives the same shop on any rank count", 0, 0},
    {"factors", MKT_OPT_I32, G(stage.config.factors), NULL, "dimension of the planted taste vectors", 1, 256},
    {"categories", MKT_OPT_I32, G(stage.config.categories), NULL, "number of item categories", 1, 100000},
    {"brands", MKT_OPT_I32, G(stage.config.brands), NULL, "number of brands", 1, 1000000},
    {"sessions-per-user", MKT_OPT_DOUBLE, G(stage.config.sessions_per_user), NULL, "mean shopping sessions per user over the period", 0, 1e6},
    {"ratings-per-user", MKT_OPT_DOUBLE, G(stage.config.ratings_per_user), NULL, "mean explicit ratings per user (0: none)", 0, 1e6},
    {"rating-noise", MKT_OPT_DOUBLE, G(stage.config.rating_noise), NULL, "planted noise (standard deviation) of the ratings", 0, 100},
    {"campaign-share", MKT_OPT_DOUBLE, G(stage.config.campaign_share), NULL, "share of users in the randomized campaign", 0, 1},
    {"targeting-bias", MKT_OPT_DOUBLE, G(stage.config.targeting_bias), NULL, "0: randomized campaign; B > 0: observational, the shop targets "
     "user u with probability sigmoid(B (2 loyalty - 1)), and loyalty also raises conversion (docs/gen.md)", 0, 20},
    {"start", MKT_OPT_TIME, G(stage.config.start_ts), NULL, "first day of the log (a timestamp)", 0, 0},
    {"out", MKT_OPT_STR, G(stage.out), NULL, "store to write (HDF5)", 0, 0},
    {"csv", MKT_OPT_STR, G(stage.csv_dir), NULL, "directory to write events.csv, items.csv, campaign.csv instead of/besides the store", 0, 0},
    {"metrics-out", MKT_OPT_STR, G(metrics_out), NULL, "write what the stage did as JSON to this file", 0, 0},
    MKT_OPT_END};

static void defaults(void *p)
{
    mkt_gen_config_defaults(&((gen_values *)p)->stage.config);
}

static int run(void *p, MPI_Comm comm)
{
    gen_values *o = p;
    json_t *m = mkt_metrics_new("gen");
    int rc = mkt_gen_stage_run(&o->stage, comm, m);
    mkt_metrics_write(m, o->metrics_out, comm);
    json_decref(m);
    return rc;
}

static gen_values values;

const mkt_command mkt_cmd_gen = {
    .name = "gen",
    .usage = "mkt gen --users U --items I --days D --seed S --out shop.h5 [--csv DIR]",
    .description = "Generate a synthetic shop with a planted truth (taste vectors, item factors, per-user promotion "
                   "effects) in /truth. Each rank generates its own users; the result is identical for any number "
                   "of ranks.",
    .opts = opts,
    .values = &values,
    .values_size = sizeof values,
    .run = run,
    .defaults = defaults,
};
