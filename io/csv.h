/* csv.h — the parallel CSV reader and the rejects log of ingest.
 *
 * Owns: splitting one input file into per-rank record ranges, splitting a
 * record into fields, physical line numbers, and the rejects file
 * (`input,line,reason,raw`).  It knows nothing about what the columns mean.
 *
 * Records: a record ends at a '\n' outside double quotes (an optional '\r'
 * before it is dropped).  Quote parity is counted from the start of the
 * file, so where records begin is a property of the file, never of the
 * number of ranks: every rank count yields the same records, in the same
 * order, with the same line numbers.  Blank lines (empty or only spaces)
 * are skipped and are not records.  A UTF-8 byte order mark at the start of
 * the file is skipped.  An opening quote that is never closed makes the rest
 * of the file one bad record ("unterminated quoted field"), and a record
 * whose quoted fields span more than MKT_CSV_MAX_RECORD_LINES physical lines
 * is bad too ("quoted field spans too many lines": a stray quote that the
 * next quote of the file happened to close); a caller counts such a record
 * as the `lines` rows it swallowed, so a stray quote cannot hide 900 rows
 * behind one reject.  A file whose line ends are bare carriage returns
 * (no '\n') is refused on open with a message saying so: it would
 * otherwise read as one record.  Each rank holds its whole range in memory
 * (about file size / ranks).
 *
 * Fields: single-character delimiters follow RFC 4180 (quoted fields may
 * hold delimiters, newlines and doubled quotes), strictly: a quote inside an
 * unquoted field or text after a closing quote makes the record bad.
 * Field text is kept verbatim (no trimming).  Multi-character delimiters
 * such as "::" are split plainly: quotes are ordinary characters, and so
 * they are in whitespace mode (runs of spaces and tabs separate fields).
 *
 * Bad records are still returned (nfields = -1) with a short reason, so the
 * caller counts and logs them; the reasons this reader gives are
 *   "invalid UTF-8", "NUL byte", "unterminated quoted field", "stray quote",
 *   "quoted field spans too many lines". */
#ifndef MKT_CSV_H
#define MKT_CSV_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    char delim[4]; /* ",", "\t", ";" ... (one character: RFC 4180 quoting) or "::" (plain split, no quoting) */
    int has_header;
    int whitespace; /* 1: fields are separated by runs of spaces and tabs, blanks at either end of a line are
                       ignored, no quoting (CDNOW-style logs); delim is then unused */
} mkt_csv_dialect;

/* A record's quoted fields may span at most this many physical lines. */
#define MKT_CSV_MAX_RECORD_LINES 32

typedef struct {
    int64_t line;  /* 1-based physical line of the record's first line */
    int64_t lines; /* physical lines the record spans (1 unless a quoted field holds line ends) */
    int nfields;   /* -1 for a bad record */
    char **fields; /* NUL-terminated, unquoted; valid until the next call */
    const char *raw; /* the record's bytes without its line end (not NUL-terminated) */
    size_t raw_len;
} mkt_csv_record;

typedef struct mkt_csv_reader mkt_csv_reader;

/* Collective over comm.  Opens path; each rank gets a contiguous byte range
 * aligned to record boundaries and reads it into memory.  Returns NULL and
 * fills err (the same text on every rank, naming the path) if the file is
 * missing or unreadable, the dialect is invalid, or the header record is bad. */
mkt_csv_reader *mkt_csv_open(const char *path, const mkt_csv_dialect *d, MPI_Comm comm, char *err, size_t errlen);

/* The header record, the same on all ranks; NULL if the dialect has no
 * header or the file has no record.  Never returned by mkt_csv_next. */
const mkt_csv_record *mkt_csv_header(const mkt_csv_reader *r);

/* Local.  The next record of this rank's range: returns 1 and fills rec, 0 at
 * the end.  A record that cannot be split into fields is returned with
 * rec->nfields = -1, rec->fields = NULL and *bad_reason set to a static
 * string; *bad_reason is NULL for good records (bad_reason may be NULL). */
int mkt_csv_next(mkt_csv_reader *r, mkt_csv_record *rec, const char **bad_reason);

int64_t mkt_csv_local_bytes(const mkt_csv_reader *r); /* size of this rank's record range */
int64_t mkt_csv_file_bytes(const mkt_csv_reader *r);
void mkt_csv_close(mkt_csv_reader *r);

/* ---------- rejects log ---------- */

typedef struct mkt_rejects mkt_rejects;

/* Raw text longer than this is cut in the rejects log. */
#define MKT_REJECT_RAW_MAX 4096

mkt_rejects *mkt_rejects_new(void);
/* Local.  Copies reason and raw (raw may hold any bytes; NULL if raw_len is 0). */
void mkt_rejects_add(mkt_rejects *rj, int64_t line, const char *reason, const char *raw, size_t raw_len);
int64_t mkt_rejects_count(const mkt_rejects *rj); /* local */

/* Collective.  Gathers every rank's rejects to rank 0, sorts them by
 * (line, reason, raw) — an order that does not depend on the rank count —
 * and appends them to `path` as RFC 4180 rows `input,line,reason,raw`,
 * writing the header row first if the file is new or empty.  path NULL:
 * nothing is written.  The local rejects are kept.
 *
 * Afterwards every rank can read the global summary below: the total count
 * and the count per distinct reason, ordered by count (descending) then
 * reason.  A later call replaces the summary. */
void mkt_rejects_write(mkt_rejects *rj, const char *input_name, const char *path, MPI_Comm comm);
int64_t mkt_rejects_global_count(const mkt_rejects *rj);
int mkt_rejects_reason_count(const mkt_rejects *rj); /* number of distinct reasons */
/* Reason i (0 <= i < mkt_rejects_reason_count) and its global count in *count. */
const char *mkt_rejects_reason(const mkt_rejects *rj, int i, int64_t *count);

void mkt_rejects_free(mkt_rejects *rj);

/* libcsv's header is also called csv.h.  io/csv.c includes this file as
 * <csv.h> (found through the io/ include directory) with
 * MKT_CSV_INCLUDE_LIBCSV defined, and #include_next then continues the
 * search after io/ and reaches libcsv's.  No other file needs libcsv. */
#ifdef MKT_CSV_INCLUDE_LIBCSV
#include_next <csv.h>
#endif

#endif
