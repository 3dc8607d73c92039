/* ingest.h — `mkt ingest`: CSV files into a partitioned store.
 *
 * Formats: `events` (generic, column mapping from options), `movielens`
 * ("::" or tab separated user, item, rating, timestamp, no header),
 * `transactions` (InvoiceNo, StockCode, Description, Quantity, InvoiceDate,
 * UnitPrice, CustomerID, Country), `campaign` (randomized campaign logs such
 * as Hillstrom's).  An items catalogue and a campaign log can be ingested
 * together with an events file so users and items share one id space.
 *
 * Every row read is either stored or rejected with its line and reason;
 * rows read = rows stored + rows rejected for every input, in the metrics.
 *
 * Columns: a column an option names must be in the header (an error names
 * the file, the column and the header's columns), or be a 1-based position
 * (the only way with header 0).  The column options apply to every format;
 * a preset only sets their defaults.  Delimiters not given are detected
 * from each file's first line, timestamp forms per column from all its
 * values (ts_format auto), both logged; see docs/store.md.  Values are
 * range-checked (ratings, timestamps, amounts, costs, stock, spend,
 * campaign attributes), each failure a named reject reason.  Left at their default
 * names, the events columns type, value and qty, the campaign columns spend
 * and user, and the items columns other than item are optional: absent, they
 * read as documented in docs/store.md.  An empty name (--visit-col '') says
 * the file has no such column.
 *
 * Test stores (as = "test"): the events input (events, movielens or
 * transactions format) is mapped through the ids of the training store
 * `into`; a row whose user or item that store does not know is rejected
 * ("unknown user", "unknown item") and counted apart from malformed rows
 * (its own threshold, max_unknown_rate; a file whose rows are all unknown
 * is an error).  The store written has the training store's /ids and
 * /items and is marked as described in teststore.h. */
#ifndef MKT_INGEST_H
#define MKT_INGEST_H

#include <jansson.h>
#include <mpi.h>
#include <stdint.h>

typedef struct {
    const char *format;   /* events | movielens | transactions | campaign */
    const char *input;    /* the main input file */
    const char *items;    /* optional items catalogue: item,category,brand,price,cost,stock */
    const char *campaign; /* optional campaign log, ingested with the events */
    const char *out;
    const char *rejects;  /* rejects file; default OUT.rejects.csv */
    double max_reject_rate;
    const char *delimiter; /* "," "tab" ";" "::" "whitespace" ...; NULL: detected from the file's first line */
    int header;            /* main input has a header line: 1, 0, or -1 per format (movielens 0, others 1) */
    /* generic events column mapping */
    const char *user_col, *item_col, *type_col, *ts_col, *value_col, *qty_col;
    const char *default_type; /* event type when there is no type column */
    /* campaign columns; "auto" picks `treatment`/`control` or Hillstrom's `segment`/`No E-Mail` */
    const char *treatment_col, *control, *visit_col, *conversion_col, *spend_col, *campaign_user_col;
    /* control = "untargeted": the log lists targeted users only (docs/store.md) */
    const char *campaign_start; /* first second of the campaign window (a timestamp) */
    int64_t campaign_days;      /* length of the window in days */
    const char *as;          /* "store" (default when NULL) or "test" */
    const char *into;        /* as = "test": the training store whose /ids map the rows */
    double max_unknown_rate; /* as = "test": fail above this share of well-formed rows with unknown ids */
    const char *rating_range; /* "LO..HI" or "auto" (movielens 0.5..5, else -1e6..1e6): ratings outside are rejected */
    const char *ts_range;     /* "FROM..TO" timestamps; rows outside [FROM, TO) are rejected */
    const char *ts_format;    /* auto (detected per column) | unix | unix_ms | yyyymmdd | days | iso | mdy | dmy */
    const char *items_cols;   /* items file: "item=COL,category=COL,..." renames its columns */
} mkt_ingest_options;

/* The options checked before any file is read (required files, format,
 * --as/--into, --control untargeted's window, --ts-format, the syntax of
 * the ranges and --items-cols): NULL, or the message (without "ingest: ").
 * Pure; checks that need the data stay in the stage. */
const char *mkt_ingest_check_options(const mkt_ingest_options *o);

/* Collective. Returns an exit status (0 on success); calls
 * mkt_ingest_check_options first (a message: one usage error). */
int mkt_ingest_run(const mkt_ingest_options *opt, MPI_Comm comm, json_t *metrics);

#endif
