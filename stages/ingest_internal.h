/* ingest_internal.h — what the ingest_*.c files share: the raw rows that
 * still carry external ids as strings, the per-input accounting, and the
 * steps of `mkt ingest` each file owns.  Private to stages/ingest*.c; no
 * other stage includes it (the stage's interface is ingest.h). */
#ifndef MKT_INGEST_INTERNAL_H
#define MKT_INGEST_INTERNAL_H

#include <hdf5.h>
#include <stdint.h>

#include "csv.h"
#include "eventstore.h"
#include "ids.h"
#include "ingest.h"
#include "par.h"

/* ---------- growable string arena and row arrays ---------- */

typedef struct {
    char *data;
    int64_t len, cap;
} arena;


#define GROW(ptr, len, cap)                                                                                  \
    do {                                                                                                     \
        if ((len) == (cap)) {                                                                                \
            (cap) = (cap) ? 2 * (cap) : 1024;                                                                \
            (ptr) = mkt_xrealloc((ptr), sizeof(*(ptr)) * (size_t)(cap));                                     \
        }                                                                                                    \
    } while (0)

typedef struct {
    int64_t user, item; /* arena offsets */
    int64_t ts, line;
    double value;
    int32_t qty, type;
} raw_event;

typedef struct {
    int64_t item, category, brand; /* arena offsets */
    int64_t line;
    double price, cost;
    int32_t stock;
} raw_item;

typedef struct {
    int64_t user, treatment; /* arena offsets */
    int64_t line;
    double spend;
    int32_t visit, conversion;
} raw_campaign;

/* How a timestamp column reads: integers as unix seconds, milliseconds,
 * yyyymmdd dates or day numbers; slashed dates as m/d/Y or d/m/Y. */
enum { TS_SECONDS, TS_MILLISECONDS, TS_YYYYMMDD, TS_DAYS };
typedef struct {
    int ints, dmy;
} ts_rule;

typedef struct {
    arena strings;
    raw_event *events;
    int64_t n_events, cap_events;
    raw_item *items;
    int64_t n_items, cap_items;
    raw_campaign *campaign;
    int64_t n_campaign, cap_campaign;
    int64_t *campaign_attr; /* n_campaign x n_attr arena offsets (attribute text) */
    int64_t cap_attr;
    int n_attr;
    char **attr_names;
    /* test stores: the training store's id maps; NULL for a normal store */
    const mkt_dict *known_users, *known_items;
    /* value ranges (--rating-range, --ts-range) and their reject reasons */
    double rating_lo, rating_hi;
    int64_t ts_lo, ts_hi; /* [ts_lo, ts_hi) */
    ts_rule ts;           /* how the timestamp column being read is parsed */
    char rating_reason[160], ts_reason[160];
} raw_data;

/* Per-input accounting. */
typedef struct {
    const char *name; /* events | items | campaign */
    const char *path;
    int64_t read, rejected; /* local */
    mkt_rejects *rejects;
    int64_t global_read, global_rejected; /* all ranks, set by report_input */
    int64_t unknown_user, unknown_item;   /* test stores: rows rejected for ids the training store lacks (local) */
} input_stats;


/* Ids, names and attribute texts longer than this are rejected, never cut:
 * cut, two ids that differ after byte 511 would become one. */
#define MKT_ID_MAX 511

/* ingest_rows.c: row accounting, column lookup, value checks, dialects */
int64_t ingest_arena_add(arena *a, const char *s);
void ingest_check_header(const mkt_csv_record *h, const char *path);
const char *ingest_clean_id(const char *s, char *buf, size_t len);
int ingest_column_index(const mkt_csv_record *header, const char *name);
void ingest_decide_ts(raw_data *raw, const mkt_ingest_options *o, const char *path, const mkt_csv_dialect *d,
                      int col, const char *colname, MPI_Comm comm);
const char *ingest_field(const mkt_csv_record *rec, int col);
int ingest_fields_needed(const int *cols, int n);
mkt_csv_dialect ingest_input_dialect(const char *delimiter, const char *path, int header, MPI_Comm comm);
int ingest_is_blank(const char *s);
int ingest_known_ids(const raw_data *raw, input_stats *st, const mkt_csv_record *rec, const char *user,
                     const char *item);
int ingest_needed_column(const mkt_csv_record *header, const char *path, const char *option, const char *name);
int ingest_next_row(mkt_csv_reader *r, mkt_csv_record *rec, input_stats *st, int nfields, mkt_progress *prog);
int ingest_next_row_min(mkt_csv_reader *r, mkt_csv_record *rec, input_stats *st, int nfields, int min_fields,
                        mkt_progress *prog);
mkt_csv_reader *ingest_open_input(const char *path, const mkt_csv_dialect *d, MPI_Comm comm);
int ingest_optional_column(const mkt_csv_record *header, const char *path, const char *option, const char *name,
                           const char *default_name);
const char *ingest_preset_col(const char *option_value, const char *generic_default, const char *preset_default);
void ingest_reject(input_stats *st, const mkt_csv_record *rec, const char *reason);
int ingest_reject_amount(input_stats *st, const mkt_csv_record *rec, double v, const char *what);
int ingest_reject_attributes(input_stats *st, const mkt_csv_record *rec, const raw_data *raw, const int *attr_col);
int ingest_reject_id(input_stats *st, const mkt_csv_record *rec, const char *id, const char *what, int empty_ok);
int ingest_reject_rating(const raw_data *raw, input_stats *st, const mkt_csv_record *rec, double v);
int ingest_require_column(const mkt_csv_record *header, const char *path, const char *option, const char *name);
int ingest_take_timestamp(const raw_data *raw, input_stats *st, const mkt_csv_record *rec, const char *text,
                          int64_t *ts);

/* ingest_events.c: the events readers (generic, movielens, transactions) and the id dictionaries */
mkt_dict ingest_dict_from_field(const arena *a, const void *rows, int64_t n, size_t stride, size_t field,
                                MPI_Comm comm);
void ingest_read_events_generic(const mkt_ingest_options *o, raw_data *raw, input_stats *st, MPI_Comm comm);
void ingest_read_movielens(const mkt_ingest_options *o, raw_data *raw, input_stats *st, MPI_Comm comm);
void ingest_read_transactions(const mkt_ingest_options *o, raw_data *raw, input_stats *st, MPI_Comm comm);

void ingest_build_dicts(raw_data *raw, mkt_dict *users, mkt_dict *items, mkt_dict *categories, mkt_dict *brands,
                        MPI_Comm comm);
int32_t *ingest_event_items(const raw_data *raw, const mkt_dict *items);
mkt_event *ingest_dense_events(raw_data *raw, const mkt_dict *users, int32_t *event_item, int64_t *min_ts,
                               int64_t *max_ts);

/* ingest_options.c: the checks of mkt_ingest_check_options the steps reuse to parse */
const char *ingest_parse_ranges(const mkt_ingest_options *o, raw_data *raw);
const char *ingest_parse_items_cols(const char *spec, char copy[1024], const char *name[6], int given[6]);

/* ingest_campaign.c: the items catalogue and the campaign log, read and written */
void ingest_read_campaign(const mkt_ingest_options *o, const char *path, raw_data *raw, input_stats *st,
                          MPI_Comm comm);
void ingest_read_items(const mkt_ingest_options *o, const char *path, raw_data *raw, input_stats *st, MPI_Comm comm);
int64_t ingest_write_campaigns(hid_t file, const mkt_ingest_options *o, raw_data *raw, const mkt_dict *users,
                               MPI_Comm comm);
void ingest_write_items(hid_t file, const raw_data *raw, const mkt_dict *items, const mkt_dict *categories,
                        const mkt_dict *brands, const int32_t *event_item, int64_t unknown_category,
                        int64_t unknown_brand, input_stats *item_stats, int64_t *stored_items, MPI_Comm comm);

/* ingest_test.c: test stores (--as test --into TRAIN.h5) */
void ingest_check_test_out(const mkt_ingest_options *o);
void ingest_check_test_rows(const input_stats *st, int64_t stored, const mkt_ingest_options *o,
                            const char *rejects_path, json_t *metrics, MPI_Comm comm);
hid_t ingest_open_training_store(const char *path, MPI_Comm comm);
void ingest_test_dicts(hid_t train, raw_data *raw, mkt_dict *users, mkt_dict *items);
void ingest_test_mark(hid_t f, const mkt_ingest_options *o, const mkt_dict *users, const mkt_dict *items);

#endif
