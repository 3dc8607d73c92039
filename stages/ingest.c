/* ingest.c — CSV inputs to a partitioned store (see ingest.h).
 *
 * Pipeline, all ranks together:
 *   1. each rank parses its byte range of each input (io/csv.c) into raw rows
 *      that still carry external ids as strings; bad rows go to the rejects
 *      log with their line number and reason;
 *   2. global dictionaries give users, items, categories, brands and
 *      treatments their dense indices (io/ids.c: sorted external ids);
 *   3. rows become dense mkt_event / mkt_campaign_row and are shuffled to
 *      their owners and written (io/eventstore.c); the items table is
 *      assembled on the item owners.
 * This file is the driver: the steps above in their order, the accounting
 * of rows read, stored and rejected, and the metrics.  The options are
 * checked in ingest_options.c; the steps live in ingest_events.c (events
 * formats, dictionaries), ingest_campaign.c (items and campaign files),
 * ingest_test.c (--as test) and ingest_rows.c (the row rules they share).
 * It does not parse CSV itself and does not know the HDF5 API beyond
 * io/h5store.h. */
#include "ingest.h"
#include "ingest_internal.h"

#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "campaign_targets.h"
#include "iocheck.h"
#include "csv.h"
#include "eventstore.h"
#include "h5store.h"
#include "ids.h"
#include "metrics_json.h"
#include "par.h"
#include "schema.h"
#include "teststore.h"

/* ---------- the stage ---------- */

static void report_input(json_t *metrics, input_stats *st, int64_t stored_global, const char *rejects_path,
                         MPI_Comm comm)
{
    int64_t local[2] = {st->read, st->rejected}, global[2];
    MKT_MPI(MPI_Allreduce(local, global, 2, MPI_INT64_T, MPI_SUM, comm));
    st->global_read = global[0];
    st->global_rejected = global[1];
    mkt_rejects_write(st->rejects, st->path, rejects_path, comm);
    json_t *inputs = mkt_metrics_child(metrics, "inputs");
    json_t *in = mkt_metrics_child(inputs, st->name);
    mkt_metrics_set_str(in, "path", st->path);
    json_t *rows = mkt_metrics_child(in, "rows");
    mkt_metrics_set_int(rows, "read", global[0]);
    mkt_metrics_set_int(rows, "stored", stored_global);
    mkt_metrics_set_int(rows, "rejected", global[1]);
    double rate = global[0] > 0 ? (double)global[1] / (double)global[0] : 0;
    mkt_metrics_set_real(in, "reject_rate", rate);
    mkt_log("ingest", "%s %s: read %lld, stored %lld, rejected %lld (%.2f%%)", st->name, st->path,
            (long long)global[0], (long long)stored_global, (long long)global[1], 100 * rate);
    if (global[0] != stored_global + global[1])
        mkt_fail("ingest: %s: rows read (%lld) != stored (%lld) + rejected (%lld): internal accounting error",
                 st->path, (long long)global[0], (long long)stored_global, (long long)global[1]);
}

/* After report_input: every rank holds the same global counts, so all fail together. */
static void check_reject_rate(const input_stats *st, double max_rate, const char *rejects_path)
{
    double rate = st->global_read > 0 ? (double)st->global_rejected / (double)st->global_read : 0;
    if (rate > max_rate)
        mkt_fail_all(MKT_EXIT_ERROR,
                     "ingest: %s: %lld of %lld rows rejected (%.2f%%), above max_reject_rate %.2f%%; "
                     "the reasons are in %s",
                     st->path, (long long)st->global_rejected, (long long)st->global_read, 100 * rate,
                     100 * max_rate, rejects_path);
}

/* Collective.  An input without a single data row is an error (an empty
 * file, or one with only its header): it would make an empty store. */
static void check_has_rows(const input_stats *st, MPI_Comm comm)
{
    int64_t n = st->read, total = 0;
    MKT_MPI(MPI_Allreduce(&n, &total, 1, MPI_INT64_T, MPI_SUM, comm));
    if (total == 0)
        mkt_fail_all(MKT_EXIT_ERROR, "ingest: %s (%s input): no data rows; the file is empty or holds only a header",
                     st->path, st->name);
}

/* One run of the stage: what its steps share. */
typedef struct {
    const mkt_ingest_options *o;
    const char *fmt;
    int is_events, is_ml, is_tx, is_campaign, is_test;
    char rejects_path[4096];
    raw_data raw;
    input_stats st_events, st_items, st_campaign;
    hid_t train; /* a test store: the training store (read-only), else -1 */
    mkt_dict users, items, categories, brands;
    int64_t stored_events, stored_items, stored_campaign;
    double t0, t_parse, t_ids, t_store, t_end_store;
} ingest_job;

/* The options that decide the run (mkt_ingest_check_options first: one
 * usage error for a bad option); the rejects file (removed, so a rerun does
 * not append to an old one). */
static void check_options(ingest_job *j, const mkt_ingest_options *o, int rank)
{
    j->o = o;
    const char *msg = mkt_ingest_check_options(o);
    if (msg)
        mkt_fail_all(MKT_EXIT_USAGE, "ingest: %s", msg);
    const char *fmt = o->format;
    j->fmt = fmt;
    j->is_events = !strcmp(fmt, "events");
    j->is_ml = !strcmp(fmt, "movielens");
    j->is_tx = !strcmp(fmt, "transactions");
    j->is_campaign = !strcmp(fmt, "campaign");
    j->is_test = o->as && !strcmp(o->as, "test");
    if (j->is_test)
        ingest_check_test_out(o);
    snprintf(j->rejects_path, sizeof j->rejects_path, "%s", o->rejects ? o->rejects : "");
    if (!o->rejects)
        snprintf(j->rejects_path, sizeof j->rejects_path, "%s.rejects.csv", o->out);
    if (rank == 0)
        remove(j->rejects_path);
}

/* Collective.  Every input parsed into raw rows (a test store's rows
 * through the training store's ids), each checked to hold data rows. */
static void read_inputs(ingest_job *j, MPI_Comm comm)
{
    const mkt_ingest_options *o = j->o;
    raw_data *raw = &j->raw;
    ingest_parse_ranges(o, raw); /* its syntax checked by mkt_ingest_check_options */
    j->st_events = (input_stats){"events", o->input, 0, 0, mkt_rejects_new(), 0, 0, 0, 0};
    j->st_items = (input_stats){"items", o->items, 0, 0, mkt_rejects_new(), 0, 0, 0, 0};
    j->st_campaign =
        (input_stats){"campaign", j->is_campaign ? o->input : o->campaign, 0, 0, mkt_rejects_new(), 0, 0, 0, 0};
    /* a test store: the training store's id maps decide which rows are kept */
    j->train = -1;
    if (j->is_test) {
        j->train = ingest_open_training_store(o->into, comm);
        ingest_test_dicts(j->train, raw, &j->users, &j->items);
    }
    if (j->is_events)
        ingest_read_events_generic(o, raw, &j->st_events, comm);
    else if (j->is_ml)
        ingest_read_movielens(o, raw, &j->st_events, comm);
    else if (j->is_tx)
        ingest_read_transactions(o, raw, &j->st_events, comm);
    if (o->items)
        ingest_read_items(o, o->items, raw, &j->st_items, comm);
    if (j->st_campaign.path)
        ingest_read_campaign(o, j->st_campaign.path, raw, &j->st_campaign, comm);
    if (!j->is_campaign)
        check_has_rows(&j->st_events, comm);
    if (o->items)
        check_has_rows(&j->st_items, comm);
    if (j->st_campaign.path)
        check_has_rows(&j->st_campaign, comm);
    j->t_parse = mkt_now() - j->t0;
    mkt_log("ingest", "parsed inputs in %.2fs", j->t_parse);
}

/* Collective.  The dictionaries: a test store uses the training store's. */
static void build_dictionaries(ingest_job *j, MPI_Comm comm)
{
    if (j->is_test)
        mkt_log("ingest", "test rows mapped through the %lld users and %lld items of %s", (long long)j->users.n,
                (long long)j->items.n, j->o->into);
    else
        ingest_build_dicts(&j->raw, &j->users, &j->items, &j->categories, &j->brands, comm);
}

/* Collective.  The ids, items, events and campaigns written to the store
 * being made, and its attributes. */
static void write_store(ingest_job *j, hid_t f, MPI_Comm comm)
{
    raw_data *raw = &j->raw;
    if (j->is_test) {
        /* the same dense indices and item table as the training store */
        mkt_store_copy_group(j->train, f, MKT_IDS, comm);
        mkt_store_copy_group(j->train, f, MKT_ITEMS, comm);
    } else {
        mkt_dict_write(&j->users, f, MKT_IDS_USERS, comm);
        mkt_dict_write(&j->items, f, MKT_IDS_ITEMS, comm);
        mkt_dict_write(&j->categories, f, MKT_IDS_CATEGORIES, comm);
        mkt_dict_write(&j->brands, f, MKT_IDS_BRANDS, comm);
    }
    j->t_ids = mkt_now();
    int32_t *event_item = ingest_event_items(raw, &j->items);
    if (!j->is_test)
        ingest_write_items(f, raw, &j->items, &j->categories, &j->brands, event_item,
                           mkt_dict_find(&j->categories, "(unknown)"), mkt_dict_find(&j->brands, "(unknown)"),
                           &j->st_items, &j->stored_items, comm);
    int64_t n = raw->n_events, min_ts, max_ts;
    mkt_event *ev = ingest_dense_events(raw, &j->users, event_item, &min_ts, &max_ts);
    j->t_store = mkt_now();
    MKT_MPI(MPI_Allreduce(MPI_IN_PLACE, &min_ts, 1, MPI_INT64_T, MPI_MIN, comm));
    MKT_MPI(MPI_Allreduce(MPI_IN_PLACE, &max_ts, 1, MPI_INT64_T, MPI_MAX, comm));
    j->stored_events = mkt_store_write_events(f, &ev, n, j->users.n, j->items.n, comm);
    if (j->st_campaign.path)
        j->stored_campaign = ingest_write_campaigns(f, j->o, raw, &j->users, comm);
    j->t_end_store = mkt_now();
    mkt_h5_attr_set_string(f, ".", "source", "mkt ingest");
    mkt_h5_attr_set_string(f, ".", "ingest_format", j->fmt);
    if (j->stored_events > 0) {
        mkt_h5_attr_set_int(f, ".", "start_ts", min_ts);
        mkt_h5_attr_set_int(f, ".", "end_ts", max_ts < INT64_MAX ? max_ts + 1 : max_ts); /* no wrap */
    }
    if (j->is_test)
        ingest_test_mark(f, j->o, &j->users, &j->items);
}

/* Collective.  Rows read = stored + rejected per input, in the metrics; a
 * store past a reject threshold fails here, before it is committed. */
static void account_inputs(ingest_job *j, json_t *metrics, MPI_Comm comm)
{
    const mkt_ingest_options *o = j->o;
    const char *rejects_path = j->rejects_path;
    if (!j->is_campaign)
        report_input(metrics, &j->st_events, j->stored_events, rejects_path, comm);
    if (o->items)
        report_input(metrics, &j->st_items, j->stored_items, rejects_path, comm);
    if (j->st_campaign.path)
        report_input(metrics, &j->st_campaign, j->stored_campaign, rejects_path, comm);
    if (j->is_test)
        ingest_check_test_rows(&j->st_events, j->stored_events, o, rejects_path, metrics, comm);
    else if (!j->is_campaign)
        check_reject_rate(&j->st_events, o->max_reject_rate, rejects_path);
    if (o->items)
        check_reject_rate(&j->st_items, o->max_reject_rate, rejects_path);
    if (j->st_campaign.path)
        check_reject_rate(&j->st_campaign, o->max_reject_rate, rejects_path);
}

static void report_run(const ingest_job *j, json_t *metrics)
{
    double t_all = mkt_now() - j->t0;
    mkt_metrics_set_str(metrics, "out", j->o->out);
    mkt_metrics_set_str(metrics, "format", j->fmt);
    if (j->is_test) {
        mkt_metrics_set_str(metrics, "role", MKT_ROLE_TEST);
        mkt_metrics_set_str(metrics, "train_store", j->o->into);
    }
    mkt_metrics_set_str(metrics, "rejects_file", j->rejects_path);
    mkt_metrics_set_int(metrics, "users", j->users.n);
    mkt_metrics_set_int(metrics, "items", j->items.n);
    if (!j->is_test)
        mkt_metrics_set_int(metrics, "categories", j->categories.n);
    json_t *tm = mkt_metrics_child(metrics, "seconds");
    mkt_metrics_set_real(tm, "parse", j->t_parse);
    mkt_metrics_set_real(tm, "ids_and_items", j->t_store - j->t_ids);
    mkt_metrics_set_real(tm, "events_and_campaigns", j->t_end_store - j->t_store);
    mkt_metrics_set_real(tm, "total", t_all);
    mkt_log("ingest", "wrote %s in %.2fs", j->o->out, t_all);
}

static void free_job(ingest_job *j)
{
    raw_data *raw = &j->raw;
    mkt_rejects_free(j->st_events.rejects);
    mkt_rejects_free(j->st_items.rejects);
    mkt_rejects_free(j->st_campaign.rejects);
    mkt_dict_free(&j->users);
    mkt_dict_free(&j->items);
    mkt_dict_free(&j->categories);
    mkt_dict_free(&j->brands);
    if (j->train >= 0)
        mkt_h5_close(j->train);
    free(raw->strings.data);
    free(raw->items);
    free(raw->campaign);
    free(raw->campaign_attr);
    for (int a = 0; a < raw->n_attr; a++)
        free(raw->attr_names[a]);
    free(raw->attr_names);
}

int mkt_ingest_run(const mkt_ingest_options *o, MPI_Comm comm, json_t *metrics)
{
    ingest_job *j = mkt_xmalloc(sizeof *j);
    memset(j, 0, sizeof *j);
    j->t0 = mkt_now();
    int rank;
    MKT_MPI(MPI_Comm_rank(comm, &rank));
    check_options(j, o, rank);
    read_inputs(j, comm);
    build_dictionaries(j, comm);
    mkt_h5out out;
    mkt_h5_create(&out, o->out, "store", comm);
    write_store(j, out.file, comm);
    /* accounting before commit: a store past the reject threshold is not published */
    account_inputs(j, metrics, comm);
    mkt_h5_commit(&out);
    report_run(j, metrics);
    free_job(j);
    free(j);
    return MKT_EXIT_OK;
}
