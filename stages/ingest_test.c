/* ingest_test.c — test stores (`mkt ingest --as test --into TRAIN.h5`):
 * the option checks, opening the training store, mapping rows through its
 * id dictionaries, marking the store written (teststore.h) and the
 * accounting of rows with unknown ids.  It does not read CSV
 * (ingest_events.c) and never writes the training store. */
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
#include "parse.h"
#include "schema.h"
#include "teststore.h"

/* ---------- test stores ---------- */

/* --out must not be the training store --into (the same path, or the same
 * file under another name: needs the file system, so not in
 * mkt_ingest_check_options). */
void ingest_check_test_out(const mkt_ingest_options *o)
{
    char a[4096], b[4096];
    int same = !strcmp(o->into, o->out) ||
               (realpath(o->into, a) && realpath(o->out, b) && !strcmp(a, b));
    if (same)
        mkt_fail_all(MKT_EXIT_USAGE, "ingest: --out %s is the training store --into %s; write the test store to "
                     "another file", o->out, o->into);
}

/* Collective.  Open the training store of a test ingest, read-only, after
 * checking it is a store of users and items (not a model file, not a test
 * store). */
hid_t ingest_open_training_store(const char *path, MPI_Comm comm)
{
    mkt_h5_require(path, MKT_EXIT_USAGE, "ingest: --into: ", comm);
    hid_t f = mkt_h5_open(path, 0, comm);
    char *fmt = mkt_h5_attr_get_string(f, ".", "format"), *role = mkt_h5_attr_get_string(f, ".", "role");
    int store = fmt && !strcmp(fmt, "mkt-store"), test = role && !strcmp(role, MKT_ROLE_TEST);
    int ids = mkt_h5_exists(f, MKT_IDS_USERS) && mkt_h5_exists(f, MKT_IDS_ITEMS);
    if (!store)
        mkt_fail_all(MKT_EXIT_USAGE, "ingest: --into %s: a %s file, not a store", path, fmt ? fmt : "(unknown)");
    if (test)
        mkt_fail_all(MKT_EXIT_USAGE,
                     "ingest: --into %s is itself a test store; give the training store (its train_store)", path);
    if (!ids)
        mkt_fail_all(MKT_EXIT_USAGE, "ingest: --into %s: no /ids/users and /ids/items, not a store of users and items",
                     path);
    free(fmt);
    free(role);
    return f;
}

/* After report_input, for a test store: malformed rows against
 * max_reject_rate, rows with unknown ids against their own threshold, and a
 * file none of whose rows the training store can place is an error. */
void ingest_check_test_rows(const input_stats *st, int64_t stored, const mkt_ingest_options *o,
                            const char *rejects_path, json_t *metrics, MPI_Comm comm)
{
    int64_t local[2] = {st->unknown_user, st->unknown_item}, g[2];
    MKT_MPI(MPI_Allreduce(local, g, 2, MPI_INT64_T, MPI_SUM, comm));
    int64_t unknown = g[0] + g[1], malformed = st->global_rejected - unknown;
    int64_t well_formed = st->global_read - malformed;
    json_t *rows = mkt_metrics_child(mkt_metrics_child(mkt_metrics_child(metrics, "inputs"), st->name), "rows");
    mkt_metrics_set_int(rows, "malformed", malformed);
    mkt_metrics_set_int(rows, "unknown_user", g[0]);
    mkt_metrics_set_int(rows, "unknown_item", g[1]);
    double urate = well_formed > 0 ? (double)unknown / (double)well_formed : 0;
    mkt_log("ingest", "%s: %lld rows malformed, %lld with a user and %lld with an item unknown to %s (%.2f%%)",
            st->path, (long long)malformed, (long long)g[0], (long long)g[1], o->into, 100 * urate);
    double mrate = st->global_read > 0 ? (double)malformed / (double)st->global_read : 0;
    if (mrate > o->max_reject_rate)
        mkt_fail_all(MKT_EXIT_ERROR,
                     "ingest: %s: %lld of %lld rows malformed (%.2f%%), above max_reject_rate %.2f%%; the "
                     "reasons are in %s",
                     st->path, (long long)malformed, (long long)st->global_read, 100 * mrate,
                     100 * o->max_reject_rate, rejects_path);
    if (stored == 0 && unknown > 0)
        mkt_fail_all(MKT_EXIT_ERROR,
                     "ingest: %s: a test file whose ids are all unknown: none of its %lld well-formed rows names "
                     "both a user and an item of %s (%lld unknown users, %lld unknown items); is it a split of "
                     "the same data, read with the same format and column options?",
                     st->path, (long long)well_formed, o->into, (long long)g[0], (long long)g[1]);
    if (stored == 0)
        mkt_fail_all(MKT_EXIT_ERROR, "ingest: %s: no rows to store in the test store (%lld read)", st->path,
                     (long long)st->global_read);
    if (urate > o->max_unknown_rate)
        mkt_fail_all(MKT_EXIT_ERROR,
                     "ingest: %s: %lld of %lld well-formed rows name a user or item unknown to %s (%.2f%%), above "
                     "max_unknown_rate %.2f%%; the rows are in %s",
                     st->path, (long long)unknown, (long long)well_formed, o->into, 100 * urate,
                     100 * o->max_unknown_rate, rejects_path);
    if (urate > 0.5)
        mkt_log("ingest", "warning: %s: most rows (%.2f%%) name ids unknown to %s; is that the store this file "
                "was split from?", st->path, 100 * urate, o->into);
}


/* Collective.  The training store's id dictionaries, through which the
 * test rows are read (raw->known_users, raw->known_items point at them). */
void ingest_test_dicts(hid_t train, raw_data *raw, mkt_dict *users, mkt_dict *items)
{
    int64_t nu = mkt_h5_rows(train, MKT_IDS_USERS, NULL), ni = mkt_h5_rows(train, MKT_IDS_ITEMS, NULL);
    mkt_dict_from_sorted(users, mkt_h5_read_strings(train, MKT_IDS_USERS, 0, nu), nu);
    mkt_dict_from_sorted(items, mkt_h5_read_strings(train, MKT_IDS_ITEMS, 0, ni), ni);
    raw->known_users = users;
    raw->known_items = items;
}

/* Collective.  Marks the store written as a test store of `o->into`
 * (teststore.h): its role, the training store and the hash of its ids. */
void ingest_test_mark(hid_t f, const mkt_ingest_options *o, const mkt_dict *users, const mkt_dict *items)
{
    char hex[32];
    snprintf(hex, sizeof hex, "%016" PRIx64, mkt_ids_hash(users->names, users->n, items->names, items->n));
    mkt_h5_attr_set_string(f, ".", "role", MKT_ROLE_TEST);
    mkt_h5_attr_set_string(f, ".", "train_store", o->into);
    mkt_h5_attr_set_int(f, ".", "train_users", users->n);
    mkt_h5_attr_set_int(f, ".", "train_items", items->n);
    mkt_h5_attr_set_string(f, ".", "train_ids_hash", hex);
}
