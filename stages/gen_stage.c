/* gen_stage.c — runs the synthetic shop model (src/gen.c) over the rank's
 * block of users and writes a store or CSV files (see gen_stage.h).
 * Owns the file layout of generated data; the model itself lives in src/. */
#include "gen_stage.h"

#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "iocheck.h"
#include "eventstore.h"
#include "h5store.h"
#include "ids.h"
#include "metrics_json.h"
#include "par.h"
#include "schema.h"

#define NT (MKT_GEN_TREATMENTS - 1)

typedef struct {
    mkt_event *events;
    size_t n_events, cap_events;
    mkt_campaign_row *campaign;
    double *campaign_attrs;
    int64_t n_campaign;
    double *taste, *user_bias, *attrs, *base_conversion, *effect_conversion, *effect_spend;
    int64_t n_users;
} generated;

static int id_width(int64_t n)
{
    int w = 1;
    for (int64_t x = n - 1; x >= 10; x /= 10)
        w++;
    return w;
}

/* prefix + v zero-padded to width digits, e.g. u000042 (ids sort like numbers) */
static void format_id(char *buf, size_t len, char prefix, int64_t v, int width)
{
    char digits[24];
    int n = 0;
    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v > 0 && n < 23);
    size_t k = 0;
    buf[k++] = prefix;
    for (int i = n; i < width && k + 1 < len; i++)
        buf[k++] = '0';
    while (n > 0 && k + 1 < len)
        buf[k++] = digits[--n];
    buf[k] = 0;
}

static void generate(const mkt_gen_config *c, const mkt_gen_world *w, mkt_block b, generated *g)
{
    int64_t n = b.end - b.begin;
    int K = c->factors;
    memset(g, 0, sizeof *g);
    g->n_users = n;
    g->taste = mkt_xcalloc((size_t)(n * K + 1), sizeof(double));
    g->user_bias = mkt_xcalloc((size_t)(n + 1), sizeof(double));
    g->attrs = mkt_xcalloc((size_t)(n * MKT_GEN_USER_ATTRS + 1), sizeof(double));
    g->base_conversion = mkt_xcalloc((size_t)(n + 1), sizeof(double));
    g->effect_conversion = mkt_xcalloc((size_t)(n * NT + 1), sizeof(double));
    g->effect_spend = mkt_xcalloc((size_t)(n * NT + 1), sizeof(double));
    g->campaign = mkt_xcalloc((size_t)(n + 1), sizeof(mkt_campaign_row));
    g->campaign_attrs = mkt_xcalloc((size_t)(n * MKT_GEN_USER_ATTRS + 1), sizeof(double));
    mkt_progress prog;
    int nranks = mkt_nranks();
    mkt_progress_start(&prog, "gen", "users", c->users);
    for (int64_t i = 0; i < n; i++) {
        int64_t u = b.begin + i;
        mkt_gen_user usr;
        usr.taste = g->taste + i * K;
        mkt_gen_user_draw(c, w, u, &usr);
        g->user_bias[i] = usr.bias;
        memcpy(g->attrs + i * MKT_GEN_USER_ATTRS, usr.attrs, sizeof usr.attrs);
        if (mkt_gen_user_events(c, w, u, &usr, &g->events, &g->n_events, &g->cap_events) == SIZE_MAX ||
            (c->ratings_per_user > 0 &&
             mkt_gen_user_ratings(c, w, u, &usr, &g->events, &g->n_events, &g->cap_events) == SIZE_MAX))
            mkt_fail("gen: out of memory after %zu events on this rank; use more ranks", g->n_events);
        mkt_campaign_row row;
        if (mkt_gen_user_campaign(c, w, u, &usr, &row, &g->base_conversion[i], g->effect_conversion + i * NT,
                                  g->effect_spend + i * NT)) {
            g->campaign[g->n_campaign] = row;
            memcpy(g->campaign_attrs + g->n_campaign * MKT_GEN_USER_ATTRS, usr.attrs, sizeof usr.attrs);
            g->n_campaign++;
        }
        if ((i & 1023) == 0)
            mkt_progress_update(&prog, i * nranks);
    }
    mkt_progress_finish(&prog, c->users);
}

static void free_generated(generated *g)
{
    free(g->events);
    free(g->campaign);
    free(g->campaign_attrs);
    free(g->taste);
    free(g->user_bias);
    free(g->attrs);
    free(g->base_conversion);
    free(g->effect_conversion);
    free(g->effect_spend);
}

/* ---- CSV output: each rank formats its rows, one collective write at offsets ---- */

typedef struct {
    char *buf;
    size_t len, cap;
} text;

static void text_printf(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void text_printf(text *t, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->buf ? t->buf + t->len : NULL, t->buf ? t->cap - t->len : 0, fmt, ap);
        va_end(ap);
        if (t->buf && (size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        t->cap = (t->cap + (size_t)n + 1) * 2;
        t->buf = mkt_xrealloc(t->buf, t->cap);
    }
}

static void write_text_collective(const char *path, const text *t, MPI_Comm comm)
{
    MPI_File fh;
    int rc = MPI_File_open(comm, path, MPI_MODE_CREATE | MPI_MODE_WRONLY, MPI_INFO_NULL, &fh);
    if (rc != MPI_SUCCESS)
        mkt_fail("cannot create %s", path);
    MKT_MPI(MPI_File_set_size(fh, 0));
    int64_t total = 0;
    int64_t offset = mkt_exscan_count((int64_t)t->len, &total, comm);
    const int64_t piece = (int64_t)1 << 30;
    int64_t pieces = ((int64_t)t->len + piece - 1) / piece, max_pieces = 0;
    MKT_MPI(MPI_Allreduce(&pieces, &max_pieces, 1, MPI_INT64_T, MPI_MAX, comm));
    for (int64_t p = 0; p < max_pieces; p++) {
        int64_t start = p * piece, len = (int64_t)t->len - start;
        if (len > piece)
            len = piece;
        if (len < 0)
            len = 0;
        MKT_MPI(MPI_File_write_at_all(fh, offset + start, len > 0 ? t->buf + start : t->buf, (int)len, MPI_CHAR,
                                      MPI_STATUS_IGNORE));
    }
    MKT_MPI(MPI_File_close(&fh));
}

static void write_csv(const mkt_gen_stage_options *opt, const mkt_gen_world *w, const generated *g, MPI_Comm comm,
                      json_t *metrics)
{
    const mkt_gen_config *c = &opt->config;
    int rank, nranks;
    MKT_MPI(MPI_Comm_rank(comm, &rank));
    MKT_MPI(MPI_Comm_size(comm, &nranks));
    if (rank == 0 && mkdir(opt->csv_dir, 0755) != 0 && errno != EEXIST)
        mkt_fail("cannot create directory %s: %s", opt->csv_dir, strerror(errno));
    MKT_MPI(MPI_Barrier(comm));
    int uw = id_width(c->users), iw = id_width(c->items);
    char path[4096], uid[32], iid[32];
    text t = {0};
    /* events.csv: sorted by user then generation order (the rank's block) */
    if (rank == 0)
        text_printf(&t, "user,item,type,ts,qty,value\n");
    for (size_t e = 0; e < g->n_events; e++) {
        const mkt_event *ev = &g->events[e];
        format_id(uid, sizeof uid, 'u', ev->user, uw);
        format_id(iid, sizeof iid, 'i', ev->item, iw);
        text_printf(&t, "%s,%s,%s,%" PRId64 ",%d,%.17g\n", uid, iid, mkt_event_type_name(ev->type), ev->ts, ev->qty,
                    ev->value);
    }
    snprintf(path, sizeof path, "%s/events.csv", opt->csv_dir);
    write_text_collective(path, &t, comm);
    t.len = 0;
    /* items.csv: each rank writes its block of items */
    mkt_block ib = mkt_block_of(c->items, nranks, rank);
    if (rank == 0)
        text_printf(&t, "item,category,brand,price,cost,stock\n");
    for (int64_t i = ib.begin; i < ib.end; i++) {
        format_id(iid, sizeof iid, 'i', i, iw);
        text_printf(&t, "%s,cat%02d,brand%03d,%.17g,%.17g,%d\n", iid, w->category[i], w->brand[i], w->price[i],
                    w->cost[i], w->stock[i]);
    }
    snprintf(path, sizeof path, "%s/items.csv", opt->csv_dir);
    write_text_collective(path, &t, comm);
    t.len = 0;
    /* campaign.csv */
    if (rank == 0) {
        text_printf(&t, "user,treatment,visit,conversion,spend");
        for (int a = 0; a < MKT_GEN_USER_ATTRS; a++)
            text_printf(&t, ",%s", mkt_gen_user_attr_names[a]);
        text_printf(&t, "\n");
    }
    for (int64_t r = 0; r < g->n_campaign; r++) {
        const mkt_campaign_row *row = &g->campaign[r];
        format_id(uid, sizeof uid, 'u', row->user, uw);
        text_printf(&t, "%s,%s,%d,%d,%.17g", uid, mkt_gen_treatment_names[row->treatment], row->visit,
                    row->conversion, row->spend);
        for (int a = 0; a < MKT_GEN_USER_ATTRS; a++)
            text_printf(&t, ",%.17g", g->campaign_attrs[r * MKT_GEN_USER_ATTRS + a]);
        text_printf(&t, "\n");
    }
    snprintf(path, sizeof path, "%s/campaign.csv", opt->csv_dir);
    write_text_collective(path, &t, comm);
    free(t.buf);
    mkt_metrics_set_str(metrics, "csv_dir", opt->csv_dir);
}

/* ---- store output ---- */

static void write_names(hid_t file, const char *path, char prefix, int width, int64_t begin, int64_t end,
                        MPI_Comm comm)
{
    int64_t k = end - begin;
    char **names = mkt_xmalloc(sizeof(char *) * (size_t)(k > 0 ? k : 1));
    char buf[64];
    for (int64_t i = 0; i < k; i++) {
        format_id(buf, sizeof buf, prefix, begin + i, width);
        names[i] = mkt_xstrdup(buf);
    }
    mkt_h5_write_strings(file, path, names, k, comm);
    for (int64_t i = 0; i < k; i++)
        free(names[i]);
    free(names);
}

static void write_label_list(hid_t file, const char *path, const char *fmt, int n, MPI_Comm comm)
{
    int rank;
    MKT_MPI(MPI_Comm_rank(comm, &rank));
    char **names = mkt_xmalloc(sizeof(char *) * (size_t)(n > 0 ? n : 1));
    char buf[64];
    for (int i = 0; i < n; i++) {
        snprintf(buf, sizeof buf, fmt, i);
        names[i] = mkt_xstrdup(buf);
    }
    mkt_h5_write_strings(file, path, names, rank == 0 ? n : 0, comm);
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

static void write_store(const mkt_gen_stage_options *opt, const mkt_gen_world *w, mkt_block ub, generated *g,
                        MPI_Comm comm, json_t *metrics)
{
    const mkt_gen_config *c = &opt->config;
    int rank, nranks;
    MKT_MPI(MPI_Comm_rank(comm, &rank));
    MKT_MPI(MPI_Comm_size(comm, &nranks));
    mkt_h5out out;
    mkt_h5_create(&out, opt->out, "store", comm);
    hid_t f = out.file;
    mkt_block ib = mkt_block_of(c->items, nranks, rank);
    int64_t ni = ib.end - ib.begin, nu = ub.end - ub.begin;
    int K = c->factors;

    write_names(f, MKT_IDS_USERS, 'u', id_width(c->users), ub.begin, ub.end, comm);
    write_names(f, MKT_IDS_ITEMS, 'i', id_width(c->items), ib.begin, ib.end, comm);
    write_label_list(f, MKT_IDS_CATEGORIES, "cat%02d", c->categories, comm);
    write_label_list(f, MKT_IDS_BRANDS, "brand%03d", c->brands, comm);
    mkt_h5_write_strings(f, MKT_IDS_TREATMENTS, (char *const *)mkt_gen_treatment_names,
                         rank == 0 ? MKT_GEN_TREATMENTS : 0, comm);

    mkt_h5_write_rows_at(f, MKT_ITEMS_CATEGORY, H5T_NATIVE_INT32, w->category + ib.begin, ib.begin, ni, c->items, 0,
                         comm);
    mkt_h5_write_rows_at(f, MKT_ITEMS_BRAND, H5T_NATIVE_INT32, w->brand + ib.begin, ib.begin, ni, c->items, 0, comm);
    mkt_h5_write_rows_at(f, MKT_ITEMS_STOCK, H5T_NATIVE_INT32, w->stock + ib.begin, ib.begin, ni, c->items, 0, comm);
    mkt_h5_write_rows_at(f, MKT_ITEMS_PRICE, H5T_NATIVE_DOUBLE, w->price + ib.begin, ib.begin, ni, c->items, 0, comm);
    mkt_h5_write_rows_at(f, MKT_ITEMS_COST, H5T_NATIVE_DOUBLE, w->cost + ib.begin, ib.begin, ni, c->items, 0, comm);

    mkt_h5_write_rows_at(f, MKT_USERS_ATTRS, H5T_NATIVE_DOUBLE, g->attrs, ub.begin, nu, c->users, MKT_GEN_USER_ATTRS,
                         comm);
    mkt_h5_write_strings(f, MKT_USERS_ATTR_NAMES, (char *const *)mkt_gen_user_attr_names,
                         rank == 0 ? MKT_GEN_USER_ATTRS : 0, comm);

    /* the planted truth */
    mkt_h5_write_rows_at(f, MKT_TRUTH_USER_TASTE, H5T_NATIVE_DOUBLE, g->taste, ub.begin, nu, c->users, K, comm);
    mkt_h5_write_rows_at(f, MKT_TRUTH_USER_BIAS, H5T_NATIVE_DOUBLE, g->user_bias, ub.begin, nu, c->users, 0, comm);
    mkt_h5_write_rows_at(f, MKT_TRUTH_ITEM_FACTORS, H5T_NATIVE_DOUBLE, w->item_factors + ib.begin * K, ib.begin, ni,
                         c->items, K, comm);
    mkt_h5_write_rows_at(f, MKT_TRUTH_ITEM_BIAS, H5T_NATIVE_DOUBLE, w->item_bias + ib.begin, ib.begin, ni, c->items,
                         0, comm);
    mkt_h5_write_rows_at(f, MKT_TRUTH_BASE_CONVERSION, H5T_NATIVE_DOUBLE, g->base_conversion, ub.begin, nu, c->users,
                         0, comm);
    mkt_h5_write_rows_at(f, MKT_TRUTH_EFFECT_CONVERSION, H5T_NATIVE_DOUBLE, g->effect_conversion, ub.begin, nu,
                         c->users, NT, comm);
    mkt_h5_write_rows_at(f, MKT_TRUTH_EFFECT_SPEND, H5T_NATIVE_DOUBLE, g->effect_spend, ub.begin, nu, c->users, NT,
                         comm);
    mkt_h5_attr_set_double(f, MKT_TRUTH, "rating_noise", c->rating_noise);
    mkt_h5_attr_set_double(f, MKT_TRUTH, "global_mean", w->global_mean);
    mkt_h5_attr_set_int(f, MKT_TRUTH, "factors", K);
    mkt_h5_attr_set_int(f, MKT_TRUTH, "seed", (int64_t)c->seed);
    mkt_h5_attr_set_string(f, MKT_TRUTH, "effects",
                           "effect_conversion[u][t-1] = P(convert | treatment t) - P(convert | control); "
                           "effect_spend likewise for expected spend; see docs/gen.md");

    int64_t n_events = mkt_store_write_events(f, &g->events, (int64_t)g->n_events, c->users, c->items, comm);
    int64_t n_campaign =
        mkt_store_write_campaigns(f, &g->campaign, &g->campaign_attrs, g->n_campaign, MKT_GEN_USER_ATTRS, c->users,
                                  comm);
    mkt_h5_write_strings(f, MKT_CAMPAIGNS_ATTR_NAMES, (char *const *)mkt_gen_user_attr_names,
                         rank == 0 ? MKT_GEN_USER_ATTRS : 0, comm);
    mkt_h5_attr_set_string(f, ".", "source", "mkt gen");
    mkt_h5_attr_set_int(f, ".", "start_ts", c->start_ts);
    mkt_h5_attr_set_int(f, ".", "end_ts", c->start_ts + (int64_t)c->days * 86400);
    mkt_h5_commit(&out);
    json_t *rows = mkt_metrics_child(metrics, "rows");
    mkt_metrics_set_int(rows, "events", n_events);
    mkt_metrics_set_int(rows, "campaign", n_campaign);
    mkt_metrics_set_str(metrics, "out", opt->out);
}

int mkt_gen_stage_run(const mkt_gen_stage_options *opt, MPI_Comm comm, json_t *metrics)
{
    const mkt_gen_config *c = &opt->config;
    const char *bad = mkt_gen_check(c);
    if (bad)
        mkt_fail_all(MKT_EXIT_USAGE, "gen: %s", bad);
    if (!opt->out && !opt->csv_dir)
        mkt_fail_all(MKT_EXIT_USAGE, "gen: give --out STORE.h5 and/or --csv DIR");
    if (c->users > INT32_MAX || c->items > INT32_MAX)
        mkt_fail_all(MKT_EXIT_USAGE, "gen: users and items must be below 2^31");
    int rank, nranks;
    MKT_MPI(MPI_Comm_rank(comm, &rank));
    MKT_MPI(MPI_Comm_size(comm, &nranks));
    double t0 = mkt_now();
    mkt_gen_world w;
    if (mkt_gen_world_build(c, &w) != 0)
        mkt_fail("gen: cannot build the item world (out of memory?)");
    mkt_block ub = mkt_block_of(c->users, nranks, rank);
    generated g;
    generate(c, &w, ub, &g);
    double t_gen = mkt_now() - t0;
    int64_t local = (int64_t)g.n_events, total_events = 0, local_c = g.n_campaign, total_c = 0;
    MKT_MPI(MPI_Allreduce(&local, &total_events, 1, MPI_INT64_T, MPI_SUM, comm));
    MKT_MPI(MPI_Allreduce(&local_c, &total_c, 1, MPI_INT64_T, MPI_SUM, comm));
    mkt_log("gen", "%lld users, %lld items, %lld events, %lld campaign rows generated in %.2fs",
            (long long)c->users, (long long)c->items, (long long)total_events, (long long)total_c, t_gen);
    if (opt->csv_dir)
        write_csv(opt, &w, &g, comm, metrics);
    if (opt->out)
        write_store(opt, &w, ub, &g, comm, metrics);
    double t_all = mkt_now() - t0;
    mkt_metrics_set_int(metrics, "users", c->users);
    mkt_metrics_set_int(metrics, "items", c->items);
    mkt_metrics_set_int(metrics, "days", c->days);
    mkt_metrics_set_int(metrics, "seed", (long long)c->seed);
    mkt_metrics_set_int(metrics, "events", total_events);
    mkt_metrics_set_int(metrics, "campaign_rows", total_c);
    json_t *tm = mkt_metrics_child(metrics, "seconds");
    mkt_metrics_set_real(tm, "generate", t_gen);
    mkt_metrics_set_real(tm, "total", t_all);
    mkt_log("gen", "done in %.2fs (%.0f events/s)", t_all, t_all > 0 ? (double)total_events / t_all : 0);
    free_generated(&g);
    mkt_gen_world_free(&w);
    return MKT_EXIT_OK;
}
