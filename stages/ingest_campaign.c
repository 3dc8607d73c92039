/* ingest_campaign.c — the items catalogue and the randomized campaign log
 * of `mkt ingest`: reading them into raw rows, and writing the /items table
 * (on the item owners) and the /campaigns group (treatments, outcomes,
 * attributes and their levels; targeted-only logs through
 * io/campaign_targets.c).  It does not read the events inputs
 * (ingest_events.c). */
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

static void items_columns(const char *spec, const mkt_csv_record *h, const char *path, int col[6])
{
    const char *name[6];
    char copy[1024];
    int given[6];
    ingest_parse_items_cols(spec, copy, name, given); /* its syntax checked by mkt_ingest_check_options */
    for (int k = 0; k < 6; k++)
        col[k] = k == 0 || given[k] ? ingest_require_column(h, path, "items_cols", name[k])
                                    : ingest_column_index(h, name[k]);
}

void ingest_read_items(const mkt_ingest_options *o, const char *path, raw_data *raw, input_stats *st, MPI_Comm comm)
{
    mkt_csv_dialect d = ingest_input_dialect(NULL, path, 1, comm); /* --delimiter is the main input's */
    mkt_csv_reader *r = ingest_open_input(path, &d, comm);
    const mkt_csv_record *h = mkt_csv_header(r);
    if (!h)
        mkt_fail_all(MKT_EXIT_ERROR, "ingest: %s (items input): no data rows; the file is empty", path);
    ingest_check_header(h, path);
    int col[6];
    items_columns(o->items_cols, h, path, col);
    int ci = col[0], cc = col[1], cb = col[2], cp = col[3], cost = col[4], cs = col[5];
    int nfields = h->nfields;
    mkt_csv_record rec;
    char ibuf[MKT_ID_MAX + 1], cbuf[MKT_ID_MAX + 1], bbuf[MKT_ID_MAX + 1];
    mkt_progress prog;
    mkt_progress_start(&prog, "ingest", "rows", 0);
    while (ingest_next_row(r, &rec, st, nfields, &prog)) {
        const char *it = ingest_clean_id(rec.fields[ci], ibuf, sizeof ibuf);
        if (ingest_reject_id(st, &rec, it, "item id", 0))
            continue;
        raw_item x;
        x.price = x.cost = 0;
        x.stock = 0;
        if (cp >= 0 && !ingest_is_blank(rec.fields[cp]) &&
            (mkt_parse_double(rec.fields[cp], &x.price) != 0 || x.price < 0)) {
            ingest_reject(st, &rec, "unparsable or negative price");
            continue;
        }
        if (cost >= 0 && !ingest_is_blank(rec.fields[cost]) && mkt_parse_double(rec.fields[cost], &x.cost) != 0) {
            ingest_reject(st, &rec, "unparsable cost");
            continue;
        }
        if (x.cost < 0) {
            ingest_reject(st, &rec, "negative cost");
            continue;
        }
        if (cp >= 0 && !ingest_is_blank(rec.fields[cp]) && x.cost > x.price) {
            ingest_reject(st, &rec, "cost above price");
            continue;
        }
        if (ingest_reject_amount(st, &rec, x.price, "price"))
            continue;
        int64_t s = 0;
        if (cs >= 0 && !ingest_is_blank(rec.fields[cs]) &&
            (mkt_parse_int64(rec.fields[cs], &s) != 0 || s < INT32_MIN || s > INT32_MAX)) {
            ingest_reject(st, &rec, "unparsable stock");
            continue;
        }
        if (s < 0) {
            ingest_reject(st, &rec, "negative stock");
            continue;
        }
        x.stock = (int32_t)s;
        const char *cat = ingest_clean_id(ingest_field(&rec, cc), cbuf, sizeof cbuf);
        const char *brand = ingest_clean_id(ingest_field(&rec, cb), bbuf, sizeof bbuf);
        if (ingest_reject_id(st, &rec, cat, "category", 1) || ingest_reject_id(st, &rec, brand, "brand", 1))
            continue;
        x.item = ingest_arena_add(&raw->strings, it);
        x.category = ingest_arena_add(&raw->strings, cat ? cat : "(none)");
        x.brand = ingest_arena_add(&raw->strings, brand ? brand : "(none)");
        x.line = rec.line;
        GROW(raw->items, raw->n_items, raw->cap_items);
        raw->items[raw->n_items++] = x;
    }
    mkt_csv_close(r);
}

static int parse_flag(const char *s, int32_t *out)
{
    int64_t v;
    double d;
    if (ingest_is_blank(s)) {
        *out = 0;
        return 0;
    }
    if (mkt_parse_int64(s, &v) == 0 && (v == 0 || v == 1)) {
        *out = (int32_t)v;
        return 0;
    }
    if (mkt_parse_double(s, &d) == 0 && (d == 0.0 || d == 1.0)) {
        *out = (int32_t)d;
        return 0;
    }
    return -1;
}

void ingest_read_campaign(const mkt_ingest_options *o, const char *path, raw_data *raw, input_stats *st,
                          MPI_Comm comm)
{
    mkt_csv_dialect d = ingest_input_dialect(!strcmp(o->format, "campaign") ? o->delimiter : NULL, path, 1, comm);
    mkt_csv_reader *r = ingest_open_input(path, &d, comm);
    const mkt_csv_record *h = mkt_csv_header(r);
    if (!h)
        mkt_fail_all(MKT_EXIT_USAGE, "ingest: %s: the campaign format needs a header line", path);
    ingest_check_header(h, path);
    const char *tcol = o->treatment_col;
    if (!strcmp(tcol, "auto"))
        tcol = ingest_column_index(h, "treatment") >= 0 ? "treatment" : "segment";
    int ct = ingest_require_column(h, path, "treatment_col", tcol);
    int cv = ingest_needed_column(h, path, "visit_col", o->visit_col);
    int cc = ingest_needed_column(h, path, "conversion_col", o->conversion_col);
    int cs = ingest_optional_column(h, path, "spend_col", o->spend_col, "spend");
    int cu = ingest_optional_column(h, path, "campaign_user_col", o->campaign_user_col, "user");
    int nfields = h->nfields;
    /* every other column is a user attribute */
    raw->n_attr = 0;
    int *attr_col = mkt_xmalloc(sizeof(int) * (size_t)nfields);
    raw->attr_names = mkt_xmalloc(sizeof(char *) * (size_t)nfields);
    for (int c = 0; c < nfields; c++)
        if (c != ct && c != cv && c != cc && c != cs && c != cu) {
            attr_col[raw->n_attr] = c;
            raw->attr_names[raw->n_attr++] = mkt_xstrdup(h->fields[c]);
        }
    mkt_csv_record rec;
    char ubuf[MKT_ID_MAX + 1], tbuf[MKT_ID_MAX + 1];
    mkt_progress prog;
    mkt_progress_start(&prog, "ingest", "rows", 0);
    while (ingest_next_row(r, &rec, st, nfields, &prog)) {
        raw_campaign x;
        const char *u;
        if (cu >= 0) {
            u = ingest_clean_id(rec.fields[cu], ubuf, sizeof ubuf);
            if (ingest_reject_id(st, &rec, u, "user id", 0))
                continue;
        } else {
            /* logs without a user column (Hillstrom): one customer per row, named by its line */
            snprintf(ubuf, sizeof ubuf, "%" PRId64, rec.line);
            u = ubuf;
        }
        const char *t = ingest_clean_id(rec.fields[ct], tbuf, sizeof tbuf);
        if (ingest_reject_id(st, &rec, t, "treatment", 0))
            continue;
        if (cv >= 0 && parse_flag(rec.fields[cv], &x.visit) != 0) {
            ingest_reject(st, &rec, "visit is not 0 or 1");
            continue;
        }
        if (cc >= 0 && parse_flag(rec.fields[cc], &x.conversion) != 0) {
            ingest_reject(st, &rec, "conversion is not 0 or 1");
            continue;
        }
        x.spend = 0;
        if (cs >= 0 && !ingest_is_blank(rec.fields[cs]) && mkt_parse_double(rec.fields[cs], &x.spend) != 0) {
            ingest_reject(st, &rec, "unparsable spend");
            continue;
        }
        if (x.spend < 0) {
            ingest_reject(st, &rec, "negative spend");
            continue;
        }
        if (ingest_reject_amount(st, &rec, x.spend, "spend") || ingest_reject_attributes(st, &rec, raw, attr_col))
            continue;
        if (cv < 0)
            x.visit = 0;
        if (cc < 0)
            x.conversion = 0;
        x.user = ingest_arena_add(&raw->strings, u);
        x.treatment = ingest_arena_add(&raw->strings, t);
        x.line = rec.line;
        if (raw->n_campaign == raw->cap_campaign) {
            raw->cap_campaign = raw->cap_campaign ? 2 * raw->cap_campaign : 1024;
            raw->campaign = mkt_xrealloc(raw->campaign, sizeof(raw_campaign) * (size_t)raw->cap_campaign);
            raw->campaign_attr = mkt_xrealloc(raw->campaign_attr, sizeof(int64_t) * (size_t)raw->cap_campaign *
                                                                      (size_t)(raw->n_attr > 0 ? raw->n_attr : 1));
        }
        for (int a = 0; a < raw->n_attr; a++) {
            char abuf[MKT_ID_MAX + 1];
            const char *v = ingest_clean_id(rec.fields[attr_col[a]], abuf, sizeof abuf); /* fits: reject_attributes */
            raw->campaign_attr[raw->n_campaign * raw->n_attr + a] = ingest_arena_add(&raw->strings, v ? v : "");
        }
        raw->campaign[raw->n_campaign++] = x;
    }
    free(attr_col);
    mkt_csv_close(r);
}

/* ---------- the items table ---------- */

typedef struct {
    int64_t line; /* the catalogue row (or the last transaction) that set the values */
    double price, cost;
    int32_t item, category, brand, stock;
    int32_t from_catalogue;
} item_record;

static int item_record_cmp(const void *a, const void *b)
{
    const item_record *x = a, *y = b;
    if (x->item != y->item)
        return x->item < y->item ? -1 : 1;
    if (x->from_catalogue != y->from_catalogue)
        return x->from_catalogue > y->from_catalogue ? -1 : 1; /* catalogue rows first */
    return x->line < y->line ? -1 : x->line > y->line;
}

/* Build the items table on the item owners: catalogue rows where present
 * (a second catalogue row for an item is rejected); otherwise the unit price
 * of the item's last purchase and category "(unknown)". */
void ingest_write_items(hid_t file, const raw_data *raw, const mkt_dict *items, const mkt_dict *categories,
                        const mkt_dict *brands, const int32_t *event_item, int64_t unknown_category,
                        int64_t unknown_brand, input_stats *item_stats, int64_t *stored_items, MPI_Comm comm)
{
    int rank, nranks;
    MKT_MPI(MPI_Comm_rank(comm, &rank));
    MKT_MPI(MPI_Comm_size(comm, &nranks));
    /* this rank's last purchase of each item: one record per item, not per event */
    int64_t *last = mkt_xcalloc((size_t)(items->n + 1), sizeof(int64_t)); /* event index + 1 */
    int64_t n = raw->n_items, k = 0;
    for (int64_t i = 0; i < raw->n_events; i++) {
        const raw_event *e = &raw->events[i];
        if (e->type != MKT_EV_PURCHASE || e->qty <= 0)
            continue;
        int64_t *slot = &last[event_item[i]];
        if (*slot == 0)
            n++;
        if (*slot == 0 || raw->events[*slot - 1].line < e->line)
            *slot = i + 1;
    }
    item_record *recs = mkt_xmalloc(sizeof(item_record) * (size_t)(n > 0 ? n : 1));
    int64_t *counts = mkt_xcalloc((size_t)nranks, sizeof(int64_t));
    for (int64_t i = 0; i < raw->n_items; i++) {
        const raw_item *x = &raw->items[i];
        item_record r = {x->line, x->price, x->cost, (int32_t)mkt_dict_find(items, raw->strings.data + x->item),
                         (int32_t)mkt_dict_find(categories, raw->strings.data + x->category),
                         (int32_t)mkt_dict_find(brands, raw->strings.data + x->brand), x->stock, 1};
        recs[k++] = r;
    }
    for (int64_t it = 0; it < items->n; it++) {
        if (!last[it])
            continue;
        const raw_event *e = &raw->events[last[it] - 1];
        item_record r = {e->line, e->value / e->qty, 0, (int32_t)it, (int32_t)unknown_category,
                         (int32_t)unknown_brand, 0, 0};
        recs[k++] = r;
    }
    free(last);
    /* group by owner */
    qsort(recs, (size_t)k, sizeof(item_record), item_record_cmp);
    for (int64_t i = 0; i < k; i++)
        counts[mkt_block_owner(recs[i].item, items->n, nranks)]++;
    int64_t nrecv = 0;
    item_record *mine = mkt_alltoallv_elems(recs, counts, sizeof(item_record), &nrecv, comm);
    free(recs);
    free(counts);
    qsort(mine, (size_t)nrecv, sizeof(item_record), item_record_cmp);
    mkt_block b = mkt_block_of(items->n, nranks, rank);
    int64_t nb = b.end - b.begin;
    double *price = mkt_xcalloc((size_t)(nb + 1), sizeof(double)),
           *cost = mkt_xcalloc((size_t)(nb + 1), sizeof(double));
    int32_t *cat = mkt_xmalloc(sizeof(int32_t) * (size_t)(nb + 1)),
            *brand = mkt_xmalloc(sizeof(int32_t) * (size_t)(nb + 1));
    int32_t *stock = mkt_xcalloc((size_t)(nb + 1), sizeof(int32_t));
    int64_t *set_line = mkt_xcalloc((size_t)(nb + 1), sizeof(int64_t));
    int32_t *has_catalogue = mkt_xcalloc((size_t)(nb + 1), sizeof(int32_t));
    for (int64_t i = 0; i < nb; i++) {
        cat[i] = (int32_t)unknown_category;
        brand[i] = (int32_t)unknown_brand;
        set_line[i] = -1;
    }
    for (int64_t i = 0; i < nrecv; i++) {
        const item_record *r = &mine[i];
        int64_t j = r->item - b.begin;
        if (r->from_catalogue) {
            if (has_catalogue[j]) {
                char why[160];
                snprintf(why, sizeof why, "duplicate item id (first defined on line %" PRId64 ")", set_line[j]);
                item_stats->rejected++;
                mkt_rejects_add(item_stats->rejects, r->line, why, "", 0);
                continue;
            }
            has_catalogue[j] = 1;
            price[j] = r->price;
            cost[j] = r->cost;
            cat[j] = r->category;
            brand[j] = r->brand;
            stock[j] = r->stock;
            set_line[j] = r->line;
        } else if (!has_catalogue[j] && r->line > set_line[j]) {
            price[j] = r->price;
            set_line[j] = r->line;
        }
    }
    int64_t stored = 0;
    for (int64_t i = 0; i < nb; i++)
        stored += has_catalogue[i];
    MKT_MPI(MPI_Allreduce(&stored, stored_items, 1, MPI_INT64_T, MPI_SUM, comm));
    mkt_h5_write_rows_at(file, MKT_ITEMS_PRICE, H5T_NATIVE_DOUBLE, price, b.begin, nb, items->n, 0, comm);
    mkt_h5_write_rows_at(file, MKT_ITEMS_COST, H5T_NATIVE_DOUBLE, cost, b.begin, nb, items->n, 0, comm);
    mkt_h5_write_rows_at(file, MKT_ITEMS_CATEGORY, H5T_NATIVE_INT32, cat, b.begin, nb, items->n, 0, comm);
    mkt_h5_write_rows_at(file, MKT_ITEMS_BRAND, H5T_NATIVE_INT32, brand, b.begin, nb, items->n, 0, comm);
    mkt_h5_write_rows_at(file, MKT_ITEMS_STOCK, H5T_NATIVE_INT32, stock, b.begin, nb, items->n, 0, comm);
    mkt_h5_write_rows_at(file, MKT_ITEMS_IN_CATALOGUE, H5T_NATIVE_INT32, has_catalogue, b.begin, nb, items->n, 0,
                         comm);
    free(mine);
    free(price);
    free(cost);
    free(cat);
    free(brand);
    free(stock);
    free(set_line);
    free(has_catalogue);
}

/* ---------- campaigns ---------- */

/* Treatment dictionary with the control group first (index 0). */
static char **treatment_names(const raw_data *raw, const char *control, int64_t *n_out, MPI_Comm comm)
{
    mkt_dict d = ingest_dict_from_field(&raw->strings, raw->campaign, raw->n_campaign, sizeof(raw_campaign),
                                 offsetof(raw_campaign, treatment), comm);
    int64_t c = mkt_dict_find(&d, control);
    if (c < 0 && d.n > 0) {
        char have[1024] = "";
        for (int64_t i = 0; i < d.n && strlen(have) < 900; i++)
            snprintf(have + strlen(have), sizeof have - strlen(have), "%s'%s'", i ? ", " : "", d.names[i]);
        mkt_fail_all(MKT_EXIT_USAGE, "ingest: campaign log has no control group '%s' (treatments found: %s)", control,
                     have);
    }
    char **names = mkt_xmalloc(sizeof(char *) * (size_t)(d.n > 0 ? d.n : 1));
    int64_t k = 0;
    if (c >= 0)
        names[k++] = mkt_xstrdup(d.names[c]);
    for (int64_t i = 0; i < d.n; i++)
        if (i != c)
            names[k++] = mkt_xstrdup(d.names[i]);
    *n_out = k;
    mkt_dict_free(&d);
    return names;
}

/* --control untargeted: the log lists the targeted users (and their offer);
 * every other store user is the comparison group (io/campaign_targets.c). */
static int64_t write_targeted_campaign(hid_t file, const mkt_ingest_options *o, raw_data *raw,
                                       const mkt_dict *users, MPI_Comm comm)
{
    int64_t start_ts = 0; /* --campaign-start and --campaign-days checked by mkt_ingest_check_options */
    mkt_parse_timestamp(o->campaign_start, &start_ts);
    mkt_dict d = ingest_dict_from_field(&raw->strings, raw->campaign, raw->n_campaign, sizeof(raw_campaign),
                                 offsetof(raw_campaign, treatment), comm);
    char **names = mkt_xmalloc(sizeof(char *) * (size_t)(d.n + 1));
    int64_t nt = 0;
    names[nt++] = mkt_xstrdup("untargeted");
    for (int64_t i = 0; i < d.n; i++)
        if (strcmp(d.names[i], "untargeted") != 0)
            names[nt++] = mkt_xstrdup(d.names[i]);
    if (nt < 2)
        mkt_fail_all(MKT_EXIT_USAGE, "ingest: campaign log %s lists no targeted user (every treatment is "
                     "'untargeted' or the log is empty)", o->campaign);
    mkt_target_row *t = mkt_xmalloc(sizeof(mkt_target_row) * (size_t)(raw->n_campaign + 1));
    int64_t n = 0;
    for (int64_t i = 0; i < raw->n_campaign; i++) {
        const raw_campaign *x = &raw->campaign[i];
        int32_t arm = 0;
        for (int64_t k = 1; k < nt; k++)
            if (!strcmp(names[k], raw->strings.data + x->treatment))
                arm = (int32_t)k;
        if (arm == 0)
            continue; /* listed as untargeted: the comparison group anyway */
        mkt_target_row r = {x->line, (int32_t)mkt_dict_find(users, raw->strings.data + x->user), arm,
                            x->conversion};
        t[n++] = r;
    }
    mkt_campaign_from_targets(file, t, n, names, (int)nt, users->n, start_ts, start_ts + o->campaign_days * 86400,
                              o->conversion_col && *o->conversion_col, comm);
    /* every accepted line of the log is stored (a repeated user folds into its first line) */
    int64_t stored = raw->n_campaign;
    MKT_MPI(MPI_Allreduce(MPI_IN_PLACE, &stored, 1, MPI_INT64_T, MPI_SUM, comm));
    free(t);
    for (int64_t k = 0; k < nt; k++)
        free(names[k]);
    free(names);
    mkt_dict_free(&d);
    return stored;
}

int64_t ingest_write_campaigns(hid_t file, const mkt_ingest_options *o, raw_data *raw, const mkt_dict *users,
                               MPI_Comm comm)
{
    if (!strcmp(o->control, "untargeted"))
        return write_targeted_campaign(file, o, raw, users, comm);
    int rank;
    MKT_MPI(MPI_Comm_rank(comm, &rank));
    int64_t n_attr_local = raw->n_attr, n_attr = 0;
    MKT_MPI(MPI_Allreduce(&n_attr_local, &n_attr, 1, MPI_INT64_T, MPI_MAX, comm));
    const char *control = o->control;
    if (!strcmp(control, "auto")) {
        /* "control" unless the log is Hillstrom's */
        int64_t found = 0, any = 0;
        for (int64_t i = 0; i < raw->n_campaign; i++)
            if (!strcmp(raw->strings.data + raw->campaign[i].treatment, "No E-Mail"))
                found = 1;
        MKT_MPI(MPI_Allreduce(&found, &any, 1, MPI_INT64_T, MPI_MAX, comm));
        control = any ? "No E-Mail" : "control";
    }
    int64_t nt = 0;
    char **tnames = treatment_names(raw, control, &nt, comm);
    mkt_dict tdict;
    memset(&tdict, 0, sizeof tdict);
    tdict.n = nt;
    tdict.names = tnames;
    /* lookup by linear scan: a handful of treatments */
    /* attributes: numeric columns stay numbers; a column with any non-numeric
     * value (on any rank) is categorical and coded by its sorted levels */
    int32_t *categorical = mkt_xcalloc((size_t)(n_attr + 1), sizeof(int32_t));
    for (int64_t i = 0; i < raw->n_campaign; i++)
        for (int a = 0; a < n_attr; a++) {
            double v;
            const char *s = raw->strings.data + raw->campaign_attr[i * n_attr + a];
            if (*s && mkt_parse_double(s, &v) != 0)
                categorical[a] = 1;
        }
    MKT_MPI(MPI_Allreduce(MPI_IN_PLACE, categorical, (int)n_attr, MPI_INT32_T, MPI_MAX, comm));
    mkt_dict *levels = mkt_xcalloc((size_t)(n_attr + 1), sizeof(mkt_dict));
    for (int a = 0; a < n_attr; a++)
        if (categorical[a])
            levels[a] = ingest_dict_from_field(&raw->strings, raw->campaign_attr, raw->n_campaign,
                                            sizeof(int64_t) * (size_t)n_attr, sizeof(int64_t) * (size_t)a, comm);
    int64_t n = raw->n_campaign;
    mkt_campaign_row *rows = mkt_xmalloc(sizeof(mkt_campaign_row) * (size_t)(n > 0 ? n : 1));
    double *attrs = mkt_xmalloc(sizeof(double) * (size_t)(n > 0 ? n : 1) * (size_t)(n_attr > 0 ? n_attr : 1));
    for (int64_t i = 0; i < n; i++) {
        const raw_campaign *x = &raw->campaign[i];
        rows[i].user = (int32_t)mkt_dict_find(users, raw->strings.data + x->user);
        rows[i].treatment = 0;
        for (int64_t t = 0; t < nt; t++)
            if (!strcmp(tnames[t], raw->strings.data + x->treatment))
                rows[i].treatment = (int32_t)t;
        rows[i].visit = x->visit;
        rows[i].conversion = x->conversion;
        rows[i].spend = x->spend;
        rows[i].order = x->line;
        for (int a = 0; a < n_attr; a++) {
            const char *s = raw->strings.data + raw->campaign_attr[i * n_attr + a];
            double v = NAN;
            if (categorical[a])
                v = (double)mkt_dict_find(&levels[a], s);
            else if (*s)
                mkt_parse_double(s, &v);
            attrs[i * n_attr + a] = v;
        }
    }
    int64_t stored = mkt_store_write_campaigns(file, &rows, &attrs, n, (int)n_attr, users->n, comm);
    mkt_h5_write_strings(file, MKT_IDS_TREATMENTS, tnames, rank == 0 ? nt : 0, comm);
    /* attribute names: rank 0 may have read no campaign rows but has the header */
    mkt_h5_write_strings(file, MKT_CAMPAIGNS_ATTR_NAMES, raw->attr_names, rank == 0 ? n_attr : 0, comm);
    for (int a = 0; a < n_attr; a++) {
        if (!categorical[a])
            continue;
        char path[600];
        snprintf(path, sizeof path, "/campaigns/levels/%s", raw->attr_names[a]);
        mkt_dict_write(&levels[a], file, path, comm);
        mkt_dict_free(&levels[a]);
    }
    mkt_h5_attr_set_string(file, MKT_CAMPAIGNS, "control", control);
    free(levels);
    free(categorical);
    for (int64_t t = 0; t < nt; t++)
        free(tnames[t]);
    free(tnames);
    return stored;
}

