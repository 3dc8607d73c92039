/* ingest_events.c — the events inputs of `mkt ingest`: the generic events
 * CSV, MovieLens ratings and transaction logs read into raw rows, and the
 * global dictionaries that give users, items, categories and brands their
 * dense indices (io/ids.c: sorted external ids, so the same on any rank
 * count), and the events mapped to dense ids and written (io/eventstore.c).
 * It does not parse CSV itself (io/csv.c) and does not read the items or
 * campaign files (ingest_campaign.c). */
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

/* ---------- readers per format ---------- */

/* Event e of record rec, with user u and item it, appended to the raw
 * events; for a test store only when the training store knows both ids
 * (else rejected, ingest_known_ids). */
static void keep_event(raw_data *raw, input_stats *st, const mkt_csv_record *rec, const char *u, const char *it,
                       raw_event *e)
{
    if (!ingest_known_ids(raw, st, rec, u, it))
        return;
    e->line = rec->line;
    e->user = ingest_arena_add(&raw->strings, u);
    e->item = ingest_arena_add(&raw->strings, it);
    GROW(raw->events, raw->n_events, raw->cap_events);
    raw->events[raw->n_events++] = *e;
}

/* Collective.  The events input of a format read with a header unless
 * --header 0: its dialect in *d, its header in *h (NULL without one); a
 * file that should have a header and is empty is an error. */
static mkt_csv_reader *open_with_header(const mkt_ingest_options *o, mkt_csv_dialect *d, const mkt_csv_record **h,
                                        MPI_Comm comm)
{
    *d = ingest_input_dialect(o->delimiter, o->input, o->header != 0, comm);
    mkt_csv_reader *r = ingest_open_input(o->input, d, comm);
    *h = mkt_csv_header(r);
    if (!*h && d->has_header)
        mkt_fail_all(MKT_EXIT_ERROR, "ingest: %s (events input): no data rows; the file is empty", o->input);
    ingest_check_header(*h, o->input);
    return r;
}

void ingest_read_events_generic(const mkt_ingest_options *o, raw_data *raw, input_stats *st, MPI_Comm comm)
{
    mkt_csv_dialect d;
    const mkt_csv_record *h;
    mkt_csv_reader *r = open_with_header(o, &d, &h, comm);
    int cu = ingest_require_column(h, o->input, "user_col", o->user_col);
    /* --item-col '': a log without items (CDNOW's purchases): every row names the item "(any)" */
    int no_item = o->item_col && !*o->item_col;
    int ci = no_item ? -1 : ingest_require_column(h, o->input, "item_col", o->item_col);
    int ct = ingest_require_column(h, o->input, "ts_col", o->ts_col);
    int cy = ingest_optional_column(h, o->input, "type_col", o->type_col, "type");
    int cv = ingest_optional_column(h, o->input, "value_col", o->value_col, "value");
    int cq = ingest_optional_column(h, o->input, "qty_col", o->qty_col, "qty");
    int default_type = mkt_event_type_parse(o->default_type);
    if (cy < 0 && default_type < 0)
        mkt_fail_all(MKT_EXIT_USAGE,
                     "ingest: %s: no event type column '%s' and default_type '%s' is not an event type", o->input,
                     o->type_col ? o->type_col : "", o->default_type ? o->default_type : "");
    int nfields = h ? h->nfields : -1, cols[6] = {cu, ci, ct, cy, cv, cq};
    ingest_decide_ts(raw, o, o->input, &d, ct, o->ts_col, comm);
    mkt_csv_record rec;
    char ubuf[MKT_ID_MAX + 1], ibuf[MKT_ID_MAX + 1];
    mkt_progress prog;
    mkt_progress_start(&prog, "ingest", "rows", 0);
    while (ingest_next_row_min(r, &rec, st, nfields, ingest_fields_needed(cols, 6), &prog)) {
        raw_event e;
        const char *u = ingest_clean_id(ingest_field(&rec, cu), ubuf, sizeof ubuf);
        const char *it = no_item ? "(any)" : ingest_clean_id(ingest_field(&rec, ci), ibuf, sizeof ibuf);
        if (ingest_reject_id(st, &rec, u, "user id", 0) || ingest_reject_id(st, &rec, it, "item id", 0))
            continue;
        if (ingest_take_timestamp(raw, st, &rec, ingest_field(&rec, ct), &e.ts) != 0)
            continue;
        e.type = default_type;
        if (cy >= 0) {
            e.type = mkt_event_type_parse(ingest_field(&rec, cy));
            if (e.type < 0) {
                ingest_reject(st, &rec, "unknown event type");
                continue;
            }
        }
        e.value = 0;
        if (cv >= 0 && !ingest_is_blank(ingest_field(&rec, cv)) &&
            mkt_parse_double(ingest_field(&rec, cv), &e.value) != 0) {
            ingest_reject(st, &rec, "unparsable value");
            continue;
        }
        if (e.type == MKT_EV_RATING ? ingest_reject_rating(raw, st, &rec, e.value)
                                    : ingest_reject_amount(st, &rec, e.value, "value"))
            continue;
        int64_t q = 1;
        if (cq >= 0 && !ingest_is_blank(ingest_field(&rec, cq)) &&
            (mkt_parse_int64(ingest_field(&rec, cq), &q) != 0 || q < INT32_MIN || q > INT32_MAX)) {
            ingest_reject(st, &rec, "unparsable quantity");
            continue;
        }
        if (q < 0 && e.type != MKT_EV_PURCHASE) { /* a negative quantity is a return, only of a purchase */
            ingest_reject(st, &rec, "negative quantity (only a purchase can be returned)");
            continue;
        }
        e.qty = (int32_t)q;
        keep_event(raw, st, &rec, u, it, &e);
    }
    mkt_csv_close(r);
}

void ingest_read_movielens(const mkt_ingest_options *o, raw_data *raw, input_stats *st, MPI_Comm comm)
{
    /* no header unless --header 1; columns user, item, rating, timestamp at
     * positions 1-4 unless the column options name others */
    mkt_csv_dialect d = ingest_input_dialect(o->delimiter, o->input, o->header == 1, comm);
    mkt_csv_reader *r = ingest_open_input(o->input, &d, comm);
    const mkt_csv_record *h = mkt_csv_header(r);
    ingest_check_header(h, o->input);
    const char *nu = ingest_preset_col(o->user_col, "user", "1"), *ni = ingest_preset_col(o->item_col, "item", "2");
    const char *nv = ingest_preset_col(o->value_col, "value", "3"), *nt = ingest_preset_col(o->ts_col, "ts", "4");
    int cols[4] = {
        ingest_require_column(h, o->input, "user_col", nu), ingest_require_column(h, o->input, "item_col", ni),
        ingest_require_column(h, o->input, "value_col", nv), ingest_require_column(h, o->input, "ts_col", nt)};
    int positional = !h && cols[0] == 0 && cols[1] == 1 && cols[2] == 2 && cols[3] == 3;
    ingest_decide_ts(raw, o, o->input, &d, cols[3], nt, comm);
    mkt_csv_record rec;
    char ubuf[MKT_ID_MAX + 1], ibuf[MKT_ID_MAX + 1], why[128];
    mkt_progress prog;
    mkt_progress_start(&prog, "ingest", "rows", 0);
    while (ingest_next_row_min(r, &rec, st, h ? h->nfields : -1, ingest_fields_needed(cols, 4), &prog)) {
        if (positional && rec.nfields != 4) {
            snprintf(why, sizeof why, "expected 4 fields (user, item, rating, timestamp), found %d", rec.nfields);
            ingest_reject(st, &rec, why);
            continue;
        }
        raw_event e;
        const char *u = ingest_clean_id(rec.fields[cols[0]], ubuf, sizeof ubuf);
        const char *it = ingest_clean_id(rec.fields[cols[1]], ibuf, sizeof ibuf);
        if (ingest_reject_id(st, &rec, u, "user id", 0) || ingest_reject_id(st, &rec, it, "item id", 0))
            continue;
        if (mkt_parse_double(rec.fields[cols[2]], &e.value) != 0) {
            ingest_reject(st, &rec, "unparsable rating");
            continue;
        }
        if (ingest_reject_rating(raw, st, &rec, e.value) ||
            ingest_take_timestamp(raw, st, &rec, rec.fields[cols[3]], &e.ts) != 0)
            continue;
        e.type = MKT_EV_RATING;
        e.qty = 1;
        keep_event(raw, st, &rec, u, it, &e);
    }
    mkt_csv_close(r);
}

void ingest_read_transactions(const mkt_ingest_options *o, raw_data *raw, input_stats *st, MPI_Comm comm)
{
    /* the Online Retail columns unless the column options name others
     * (--value-col is the unit price: the value stored is quantity x price) */
    mkt_csv_dialect d;
    const mkt_csv_record *h;
    mkt_csv_reader *r = open_with_header(o, &d, &h, comm);
    const char *nt = ingest_preset_col(o->ts_col, "ts", "InvoiceDate");
    int citem = ingest_require_column(h, o->input, "item_col", ingest_preset_col(o->item_col, "item", "StockCode"));
    int cqty = ingest_require_column(h, o->input, "qty_col", ingest_preset_col(o->qty_col, "qty", "Quantity"));
    int cdate = ingest_require_column(h, o->input, "ts_col", nt);
    int cprice = ingest_require_column(h, o->input, "value_col", ingest_preset_col(o->value_col, "value", "UnitPrice"));
    int cuser = ingest_require_column(h, o->input, "user_col", ingest_preset_col(o->user_col, "user", "CustomerID"));
    int nfields = h ? h->nfields : -1, cols[5] = {citem, cqty, cdate, cprice, cuser};
    ingest_decide_ts(raw, o, o->input, &d, cdate, nt, comm);
    mkt_csv_record rec;
    char ubuf[MKT_ID_MAX + 1], ibuf[MKT_ID_MAX + 1];
    mkt_progress prog;
    mkt_progress_start(&prog, "ingest", "rows", 0);
    while (ingest_next_row_min(r, &rec, st, nfields, ingest_fields_needed(cols, 5), &prog)) {
        const char *u = ingest_clean_id(rec.fields[cuser], ubuf, sizeof ubuf);
        const char *it = ingest_clean_id(rec.fields[citem], ibuf, sizeof ibuf);
        if (ingest_reject_id(st, &rec, u, "user id", 0) || ingest_reject_id(st, &rec, it, "item id", 0))
            continue;
        /* Copies exported from spreadsheets write customer ids as 17850.0 */
        size_t ul = strlen(ubuf);
        if (ul > 2 && !strcmp(ubuf + ul - 2, ".0"))
            ubuf[ul - 2] = 0;
        raw_event e;
        int64_t q;
        double price;
        if (mkt_parse_int64(rec.fields[cqty], &q) != 0 || q < INT32_MIN || q > INT32_MAX) {
            ingest_reject(st, &rec, "unparsable quantity");
            continue;
        }
        if (mkt_parse_double(rec.fields[cprice], &price) != 0) {
            ingest_reject(st, &rec, "unparsable unit price");
            continue;
        }
        if (price < 0) {
            ingest_reject(st, &rec, "negative unit price");
            continue;
        }
        if (ingest_reject_amount(st, &rec, (double)q * price, "amount") ||
            ingest_take_timestamp(raw, st, &rec, rec.fields[cdate], &e.ts) != 0)
            continue;
        e.type = MKT_EV_PURCHASE; /* cancellations (invoice C..., negative quantity) are returns */
        e.qty = (int32_t)q;
        e.value = (double)q * price;
        keep_event(raw, st, &rec, u, it, &e);
    }
    mkt_csv_close(r);
}

/* --items-cols "item=PRODUCT_ID,category=DEPARTMENT": the items file's
 * column for each of item, category, brand, price, cost, stock; a column
 * it names is required, the others keep their default names (optional,
 * but item). */
/* ---------- id dictionaries ---------- */

/* Dictionary of the strings whose arena offsets sit at byte `field` of each
 * of n rows of `stride` bytes. */
mkt_dict ingest_dict_from_field(const arena *a, const void *rows, int64_t n, size_t stride, size_t field,
                                MPI_Comm comm)
{
    char **p = mkt_xmalloc(sizeof(char *) * (size_t)(n > 0 ? n : 1));
    for (int64_t i = 0; i < n; i++) {
        int64_t off;
        memcpy(&off, (const char *)rows + (size_t)i * stride + field, sizeof off);
        p[i] = a->data + off;
    }
    mkt_dict d;
    mkt_dict_build(&d, p, n, comm);
    free(p);
    return d;
}

/* Users (or items) from two row kinds: the ids at byte `event_field` of
 * each event row, then at byte `field` of each of the n rows of `stride`
 * bytes, gathered into one list of arena offsets. */
static mkt_dict dict_from_events_and(const raw_data *raw, size_t event_field, const void *rows, int64_t n,
                                     size_t stride, size_t field, MPI_Comm comm)
{
    int64_t total = raw->n_events + n, k = 0;
    int64_t *off = mkt_xmalloc(sizeof(int64_t) * (size_t)(total > 0 ? total : 1));
    for (int64_t i = 0; i < raw->n_events; i++)
        memcpy(&off[k++], (const char *)&raw->events[i] + event_field, sizeof *off);
    for (int64_t i = 0; i < n; i++)
        memcpy(&off[k++], (const char *)rows + (size_t)i * stride + field, sizeof *off);
    mkt_dict d = ingest_dict_from_field(&raw->strings, off, k, sizeof(int64_t), 0, comm);
    free(off);
    return d;
}


/* Collective.  The dictionaries of a store with its own ids: users and
 * items from every input, categories and brands from the catalogue (items
 * with no catalogue row get category and brand "(unknown)"). */
void ingest_build_dicts(raw_data *raw, mkt_dict *users, mkt_dict *items, mkt_dict *categories, mkt_dict *brands,
                        MPI_Comm comm)
{
    *users = dict_from_events_and(raw, offsetof(raw_event, user), raw->campaign, raw->n_campaign,
                                  sizeof(raw_campaign), offsetof(raw_campaign, user), comm);
    *items = dict_from_events_and(raw, offsetof(raw_event, item), raw->items, raw->n_items, sizeof(raw_item),
                                  offsetof(raw_item, item), comm);
    int64_t any_unknown_local = 0, any_unknown = 0;
    {
        /* items with no catalogue row get category and brand "(unknown)" */
        mkt_dict catalogue = ingest_dict_from_field(&raw->strings, raw->items, raw->n_items, sizeof(raw_item),
                                                    offsetof(raw_item, item), comm);
        any_unknown_local = items->n > catalogue.n;
        mkt_dict_free(&catalogue);
        MKT_MPI(MPI_Allreduce(&any_unknown_local, &any_unknown, 1, MPI_INT64_T, MPI_MAX, comm));
    }
    int64_t n_cat_off = raw->n_items + (any_unknown ? 1 : 0);
    int64_t *cat_off = mkt_xmalloc(sizeof(int64_t) * (size_t)(n_cat_off + 1));
    int64_t *brand_off = mkt_xmalloc(sizeof(int64_t) * (size_t)(n_cat_off + 1));
    for (int64_t i = 0; i < raw->n_items; i++) {
        cat_off[i] = raw->items[i].category;
        brand_off[i] = raw->items[i].brand;
    }
    if (any_unknown) {
        cat_off[raw->n_items] = ingest_arena_add(&raw->strings, "(unknown)");
        brand_off[raw->n_items] = cat_off[raw->n_items];
    }
    *categories = ingest_dict_from_field(&raw->strings, cat_off, n_cat_off, sizeof(int64_t), 0, comm);
    *brands = ingest_dict_from_field(&raw->strings, brand_off, n_cat_off, sizeof(int64_t), 0, comm);
    free(cat_off);
    free(brand_off);
    if (users->n > INT32_MAX || items->n > INT32_MAX)
        mkt_fail_all(MKT_EXIT_ERROR, "ingest: more than 2^31 distinct users or items");
    mkt_log("ingest", "%lld users, %lld items, %lld categories", (long long)users->n, (long long)items->n,
            (long long)categories->n);
}

/* The dense item index of each event row (raw->n_events + 1 entries). */
int32_t *ingest_event_items(const raw_data *raw, const mkt_dict *items)
{
    int32_t *event_item = mkt_xmalloc(sizeof(int32_t) * (size_t)(raw->n_events + 1));
    for (int64_t i = 0; i < raw->n_events; i++)
        event_item[i] = (int32_t)mkt_dict_find(items, raw->strings.data + raw->events[i].item);
    return event_item;
}

/* The event rows as dense mkt_event records (the line number as their
 * order) and this rank's range of their timestamps; frees raw->events and
 * event_item. */
mkt_event *ingest_dense_events(raw_data *raw, const mkt_dict *users, int32_t *event_item, int64_t *min_ts,
                               int64_t *max_ts)
{
    int64_t n = raw->n_events;
    mkt_event *ev = mkt_xmalloc(sizeof(mkt_event) * (size_t)(n > 0 ? n : 1));
    *min_ts = INT64_MAX;
    *max_ts = INT64_MIN;
    for (int64_t i = 0; i < n; i++) {
        const raw_event *r = &raw->events[i];
        ev[i].user = (int32_t)mkt_dict_find(users, raw->strings.data + r->user);
        ev[i].item = event_item[i];
        ev[i].ts = r->ts;
        ev[i].order = r->line;
        ev[i].value = r->value;
        ev[i].qty = r->qty;
        ev[i].type = r->type;
        if (r->ts < *min_ts)
            *min_ts = r->ts;
        if (r->ts > *max_ts)
            *max_ts = r->ts;
    }
    free(raw->events);
    free(event_item);
    raw->events = NULL;
    return ev;
}
