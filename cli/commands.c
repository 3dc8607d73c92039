/* commands.c — the subcommands of `mkt`: their option tables and how each
 * one turns its options into a call of its stage.
 *
 * Every stage is declared once here (name, usage, option table, run
 * function); main.c dispatches the command line to it and jobfile.c
 * dispatches job-file sections to it, so both read exactly the same options.
 * Stages this build does not provide are listed with run = NULL: they say so
 * and exit with MKT_EXIT_NOT_BUILT. */
#include "commands.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "iocheck.h"
#include "cmd_mf.h"
#include "cmd_serve.h"
#include "features_stage.h"
#include "gen_stage.h"
#include "ingest.h"
#include "metrics_json.h"
#include "par.h"
#include "schema.h"

/* ---------- gen ---------- */

typedef struct {
    int64_t users, items, days, seed, factors, categories, brands;
    double sessions_per_user, ratings_per_user, rating_noise, campaign_share, targeting_bias;
    char *start, *out, *csv, *metrics_out;
} gen_options;

#define G(f) offsetof(gen_options, f)
static const mkt_opt gen_opts[] = {
    {"users", MKT_OPT_INT, G(users), "10000", "number of users", 1, 2147483647},
    {"items", MKT_OPT_INT, G(items), "2000", "number of items", 1, 2147483647},
    {"days", MKT_OPT_INT, G(days), "30", "length of the behaviour log in days", 1, 3650},
    {"seed", MKT_OPT_INT, G(seed), "42", "random seed; the same seed gives the same shop on any rank count", 0, 0},
    {"factors", MKT_OPT_INT, G(factors), "8", "dimension of the planted taste vectors", 1, 256},
    {"categories", MKT_OPT_INT, G(categories), "20", "number of item categories", 1, 100000},
    {"brands", MKT_OPT_INT, G(brands), "50", "number of brands", 1, 1000000},
    {"sessions-per-user", MKT_OPT_DOUBLE, G(sessions_per_user), "4", "mean shopping sessions per user over the period", 0, 1e6},
    {"ratings-per-user", MKT_OPT_DOUBLE, G(ratings_per_user), "20", "mean explicit ratings per user (0: none)", 0, 1e6},
    {"rating-noise", MKT_OPT_DOUBLE, G(rating_noise), "0.5", "planted noise (standard deviation) of the ratings", 0, 100},
    {"campaign-share", MKT_OPT_DOUBLE, G(campaign_share), "1", "share of users in the randomized campaign", 0, 1},
    {"targeting-bias", MKT_OPT_DOUBLE, G(targeting_bias), "0", "0: randomized campaign; B > 0: observational, the shop targets "
     "user u with probability sigmoid(B (2 loyalty - 1)), and loyalty also raises conversion (docs/gen.md)", 0, 20},
    {"start", MKT_OPT_STR, G(start), "2026-01-01", "first day of the log (a timestamp)", 0, 0},
    {"out", MKT_OPT_STR, G(out), NULL, "store to write (HDF5)", 0, 0},
    {"csv", MKT_OPT_STR, G(csv), NULL, "directory to write events.csv, items.csv, campaign.csv instead of/besides the store", 0, 0},
    {"metrics-out", MKT_OPT_STR, G(metrics_out), NULL, "write what the stage did as JSON to this file", 0, 0},
    MKT_OPT_END};

static int run_gen(void *p, MPI_Comm comm)
{
    gen_options *o = p;
    mkt_gen_stage_options s;
    memset(&s, 0, sizeof s);
    mkt_gen_config_defaults(&s.config);
    s.config.users = o->users;
    s.config.items = o->items;
    s.config.days = (int)o->days;
    s.config.seed = (uint64_t)o->seed;
    s.config.factors = (int)o->factors;
    s.config.categories = (int)o->categories;
    s.config.brands = (int)o->brands;
    s.config.sessions_per_user = o->sessions_per_user;
    s.config.ratings_per_user = o->ratings_per_user;
    s.config.rating_noise = o->rating_noise;
    s.config.campaign_share = o->campaign_share;
    s.config.targeting_bias = o->targeting_bias;
    if (mkt_parse_timestamp(o->start, &s.config.start_ts) != 0)
        mkt_fail_all(MKT_EXIT_USAGE, "gen: start: not a timestamp: '%s'", o->start);
    s.out = o->out;
    s.csv_dir = o->csv;
    json_t *m = mkt_metrics_new("gen");
    int rc = mkt_gen_stage_run(&s, comm, m);
    mkt_metrics_write(m, o->metrics_out, comm);
    json_decref(m);
    return rc;
}

/* ---------- ingest ---------- */

#define I(f) offsetof(mkt_ingest_cli, f)
typedef struct {
    mkt_ingest_options s;
    int64_t header;
    char *metrics_out;
} mkt_ingest_cli;

static const mkt_opt ingest_opts[] = {
    {"format", MKT_OPT_STR, I(s.format), "events", "input layout: events, movielens, transactions or campaign", 0, 0},
    {"input", MKT_OPT_STR, I(s.input), NULL, "the input CSV file", 0, 0},
    {"items", MKT_OPT_STR, I(s.items), NULL, "items catalogue CSV (item,category,brand,price,cost,stock)", 0, 0},
    {"campaign", MKT_OPT_STR, I(s.campaign), NULL, "campaign log CSV ingested with the events (same users)", 0, 0},
    {"out", MKT_OPT_STR, I(s.out), NULL, "store to write (HDF5)", 0, 0},
    {"rejects", MKT_OPT_STR, I(s.rejects), NULL, "rejected rows file (default OUT.rejects.csv)", 0, 0},
    {"max-reject-rate", MKT_OPT_DOUBLE, I(s.max_reject_rate), "0.05", "fail when a larger share of an input's rows is rejected", 0, 1},
    {"delimiter", MKT_OPT_STR, I(s.delimiter), NULL, "field separator: a character, ::, tab, comma, semicolon, pipe, or space/whitespace (runs of blanks); default: detected from the first line, and logged", 0, 0},
    {"header", MKT_OPT_INT, I(header), "-1", "the input starts with a header line (1) or not (0: columns are named by position, --user-col 1); -1: movielens 0, other formats 1", -1, 1},
    {"user-col", MKT_OPT_STR, I(s.user_col), "user", "user id column, a name or a 1-based position (every format; the default stands for the preset's own: movielens 1, transactions CustomerID)", 0, 0},
    {"item-col", MKT_OPT_STR, I(s.item_col), "item", "item id column (movielens 2, transactions StockCode)", 0, 0},
    {"type-col", MKT_OPT_STR, I(s.type_col), "type", "events: event type column (view, click, cart, fav, purchase, rating; optional under its default name: absent, default-type)", 0, 0},
    {"ts-col", MKT_OPT_STR, I(s.ts_col), "ts", "timestamp column (movielens 4, transactions InvoiceDate; forms: --ts-format)", 0, 0},
    {"value-col", MKT_OPT_STR, I(s.value_col), "value", "amount or rating column (events: optional under its default name, absent 0; movielens 3; transactions: the unit price, UnitPrice)", 0, 0},
    {"qty-col", MKT_OPT_STR, I(s.qty_col), "qty", "quantity column (events: optional under its default name, absent 1; transactions Quantity)", 0, 0},
    {"default-type", MKT_OPT_STR, I(s.default_type), "view", "events: type when the file has no type column", 0, 0},
    {"treatment-col", MKT_OPT_STR, I(s.treatment_col), "auto", "campaign: treatment column (auto: treatment, else segment)", 0, 0},
    {"control", MKT_OPT_STR, I(s.control), "auto", "campaign: label of the control group (auto: control, else No E-Mail; "
     "untargeted: the log lists targeted users only, every other store user is the comparison group, outcomes from "
     "the events in --campaign-start/--campaign-days; docs/store.md)", 0, 0},
    {"campaign-start", MKT_OPT_STR, I(s.campaign_start), NULL, "campaign: with --control untargeted, the first day of the campaign window (a timestamp)", 0, 0},
    {"campaign-days", MKT_OPT_INT, I(s.campaign_days), "0", "campaign: with --control untargeted, the window's length in days", 0, 3650},
    {"visit-col", MKT_OPT_STR, I(s.visit_col), "visit", "campaign: visit outcome column (0/1; '': the file has none, all 0)", 0, 0},
    {"conversion-col", MKT_OPT_STR, I(s.conversion_col), "conversion", "campaign: conversion outcome column (0/1; '': the file has none, all 0)", 0, 0},
    {"spend-col", MKT_OPT_STR, I(s.spend_col), "spend", "campaign: spend outcome column (optional under its default name: absent, 0)", 0, 0},
    {"campaign-user-col", MKT_OPT_STR, I(s.campaign_user_col), "user", "campaign: user id column (optional under its default name: absent, the line number)", 0, 0},
    {"as", MKT_OPT_STR, I(s.as), "store", "store (its own user and item ids) or test (rows mapped through the ids of --into; docs/store.md)", 0, 0},
    {"into", MKT_OPT_STR, I(s.into), NULL, "with --as test: the training store whose ids the rows are mapped through", 0, 0},
    {"max-unknown-rate", MKT_OPT_DOUBLE, I(s.max_unknown_rate), "1", "with --as test: fail when a larger share of the well-formed rows names a user or item unknown to --into (all unknown always fails)", 0, 1},
    {"rating-range", MKT_OPT_STR, I(s.rating_range), "auto", "ratings outside LO..HI are rejected (auto: 0.5..5 for movielens, else -1e6..1e6)", 0, 0},
    {"ts-format", MKT_OPT_STR, I(s.ts_format), "auto", "timestamps: auto (detected per column and logged), unix, unix_ms, yyyymmdd, days (day numbers), iso, mdy or dmy", 0, 0},
    {"items-cols", MKT_OPT_STR, I(s.items_cols), NULL, "items file columns, e.g. item=PRODUCT_ID,category=DEPARTMENT,brand=BRAND (price, cost, stock too)", 0, 0},
    {"ts-range", MKT_OPT_STR, I(s.ts_range), "1970-01-01..2100-01-01", "rows whose timestamp is outside FROM..TO (TO excluded) are rejected", 0, 0},
    {"metrics-out", MKT_OPT_STR, I(metrics_out), NULL, "write what the stage did as JSON to this file", 0, 0},
    MKT_OPT_END};

static int run_ingest(void *p, MPI_Comm comm)
{
    mkt_ingest_cli *o = p;
    o->s.header = (int)o->header;
    json_t *m = mkt_metrics_new("ingest");
    int rc = mkt_ingest_run(&o->s, comm, m);
    mkt_metrics_write(m, o->metrics_out, comm);
    json_decref(m);
    return rc;
}

/* ---------- features ---------- */

typedef struct {
    char *store, *cutoff, *group, *metrics_out;
} features_cli;

#define F(f) offsetof(features_cli, f)
static const mkt_opt features_opts[] = {
    {"store", MKT_OPT_STR, F(store), NULL, "store to read events from and write features into", 0, 0},
    {"cutoff", MKT_OPT_STR, F(cutoff), NULL, "only events before this timestamp count (default: all)", 0, 0},
    {"group", MKT_OPT_STR, F(group), MKT_FEATURES, "group to write the features to", 0, 0},
    {"metrics-out", MKT_OPT_STR, F(metrics_out), NULL, "write what the stage did as JSON to this file", 0, 0},
    MKT_OPT_END};

static int run_features(void *p, MPI_Comm comm)
{
    features_cli *o = p;
    if (!o->store)
        mkt_fail_all(MKT_EXIT_USAGE, "features: --store STORE.h5 is required");
    mkt_features_options s;
    mkt_features_options_init(&s);
    s.progress = 1;
    s.store = o->store;
    s.group = o->group;
    s.cutoff_ts = INT64_MAX;
    if (o->cutoff) {
        if (mkt_parse_timestamp(o->cutoff, &s.cutoff_ts) != 0)
            mkt_fail_all(MKT_EXIT_USAGE, "features: cutoff: not a timestamp: '%s'", o->cutoff);
        s.has_cutoff = 1;
    }
    json_t *m = mkt_metrics_new("features");
    int rc = mkt_features_run(&s, comm, m);
    mkt_metrics_write(m, o->metrics_out, comm);
    json_decref(m);
    return rc;
}

/* ---------- the table ---------- */

static gen_options gen_values;
static mkt_ingest_cli ingest_values;
static features_cli features_values;

static const mkt_command commands[] = {
    {"gen", "mkt gen --users U --items I --days D --seed S --out shop.h5 [--csv DIR]",
     "Generate a synthetic shop with a planted truth (taste vectors, item factors, per-user promotion effects) "
     "in /truth. Each rank generates its own users; the result is identical for any number of ranks.",
     gen_opts, &gen_values, sizeof gen_values, run_gen},
    {"ingest", "mkt ingest --format events|movielens|transactions|campaign --input FILE [--items FILE] --out store.h5\n"
               "       mkt ingest --as test --into TRAIN.h5 --format events|movielens|transactions --input TEST.csv --out test.h5",
     "Read CSV files in parallel (each rank its own byte range) into a partitioned store. Rejected rows go to a "
     "rejects file with their line and reason; rows read = rows stored + rows rejected. With --as test the rows "
     "are mapped through the ids of the training store --into (rows with unknown users or items are rejected) "
     "into a test store with the same dense indices.",
     ingest_opts, &ingest_values, sizeof ingest_values, run_ingest},
    {"features", "mkt features --store store.h5 [--cutoff T]",
     "Compute user features (recency, frequency, monetary, funnel rates, category and time shares) and item "
     "features, with normalization statistics, into the store.",
     features_opts, &features_values, sizeof features_values, run_features},
    {"train_mf", MKT_TRAIN_MF_USAGE, MKT_TRAIN_MF_DESCRIPTION, mkt_train_mf_opts, &mkt_train_mf_values,
     sizeof mkt_train_mf_values, mkt_train_mf_run},
    {"eval_mf", MKT_EVAL_MF_USAGE, MKT_EVAL_MF_DESCRIPTION, mkt_eval_mf_opts, &mkt_eval_mf_values,
     sizeof mkt_eval_mf_values, mkt_eval_mf_run},
    {"train", "mkt train mf|propensity|uplift|effect|elasticity|segments [options]",
     "Train a model: mf (matrix factorization), propensity, uplift, effect and elasticity (ScaLAPACK least "
     "squares), segments (k-means). `mkt train MODEL --help` lists its options.", NULL, NULL, 0, NULL},
    {"eval", "mkt eval mf|propensity|uplift [options]",
     "Held-out metrics of a trained model: mf, propensity, uplift. `mkt eval MODEL --help` lists its options.",
     NULL, NULL, 0, NULL},
    {"serve", MKT_SERVE_USAGE, MKT_SERVE_DESCRIPTION, mkt_serve_opts, &mkt_serve_values, sizeof mkt_serve_values,
     mkt_serve_run},
    {"query", MKT_QUERY_USAGE, MKT_QUERY_DESCRIPTION, mkt_query_opts, &mkt_query_values, sizeof mkt_query_values,
     mkt_query_run},
    {NULL, NULL, NULL, NULL, NULL, 0, NULL}};

/* Commands defined in their own files (cli/cmd_*.c). */
static const mkt_command *const more_commands[] = {
    &mkt_cmd_train_propensity, &mkt_cmd_eval_propensity, &mkt_cmd_train_uplift, &mkt_cmd_eval_uplift,
    &mkt_cmd_train_effect,     &mkt_cmd_train_elasticity, &mkt_cmd_train_segments,
    &mkt_cmd_strategy,         &mkt_cmd_report,            &mkt_cmd_tune};

const mkt_command *mkt_command_at(int i)
{
    int n = (int)(sizeof commands / sizeof commands[0]) - 1;
    if (i < n)
        return &commands[i];
    i -= n;
    if (i < (int)(sizeof more_commands / sizeof more_commands[0]))
        return more_commands[i];
    return NULL;
}

const mkt_command *mkt_command_find(const char *name)
{
    for (int i = 0; mkt_command_at(i); i++)
        if (!strcmp(mkt_command_at(i)->name, name))
            return mkt_command_at(i);
    return NULL;
}
