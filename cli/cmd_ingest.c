/* cmd_ingest.c — `mkt ingest`: its option table, which fills the stage's
 * options (stages/ingest.h) directly.  Must not compute anything itself. */
#include <stddef.h>
#include <string.h>

#include "commands.h"
#include "ingest.h"
#include "metrics_json.h"

typedef struct {
    mkt_ingest_options s;
    char *metrics_out;
} ingest_values;

#define I(f) offsetof(ingest_values, f)
static const mkt_opt opts[] = {
    {"format", MKT_OPT_STR, I(s.format), "events", "input layout: events, movielens, transactions or campaign", 0, 0},
    {"input", MKT_OPT_STR, I(s.input), NULL, "the input CSV file", 0, 0},
    {"items", MKT_OPT_STR, I(s.items), NULL, "items catalogue CSV (item,category,brand,price,cost,stock)", 0, 0},
    {"campaign", MKT_OPT_STR, I(s.campaign), NULL, "campaign log CSV ingested with the events (same users)", 0, 0},
    {"out", MKT_OPT_STR, I(s.out), NULL, "store to write (HDF5)", 0, 0},
    {"rejects", MKT_OPT_STR, I(s.rejects), NULL, "rejected rows file (default OUT.rejects.csv)", 0, 0},
    {"max-reject-rate", MKT_OPT_DOUBLE, I(s.max_reject_rate), "0.05", "fail when a larger share of an input's rows is rejected", 0, 1},
    {"delimiter", MKT_OPT_STR, I(s.delimiter), NULL, "field separator: a character, ::, tab, comma, semicolon, pipe, or space/whitespace (runs of blanks); default: detected from the first line, and logged", 0, 0},
    {"header", MKT_OPT_I32, I(s.header), "-1", "the input starts with a header line (1) or not (0: columns are named by position, --user-col 1); -1: movielens 0, other formats 1", -1, 1},
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

static int run(void *p, MPI_Comm comm)
{
    ingest_values *o = p;
    json_t *m = mkt_metrics_new("ingest");
    int rc = mkt_ingest_run(&o->s, comm, m);
    mkt_metrics_write(m, o->metrics_out, comm);
    json_decref(m);
    return rc;
}

static ingest_values values;

const mkt_command mkt_cmd_ingest = {
    .name = "ingest",
    .usage = "mkt ingest --format events|movielens|transactions|campaign --input FILE [--items FILE] --out store.h5\n"
             "       mkt ingest --as test --into TRAIN.h5 --format events|movielens|transactions --input TEST.csv "
             "--out test.h5",
    .description = "Read CSV files in parallel (each rank its own byte range) into a partitioned store. Rejected "
                   "rows go to a rejects file with their line and reason; rows read = rows stored + rows rejected. "
                   "With --as test the rows are mapped through the ids of the training store --into (rows with "
                   "unknown users or items are rejected) into a test store with the same dense indices.",
    .opts = opts,
    .values = &values,
    .values_size = sizeof values,
    .run = run,
};
