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
 * Owns the meaning of each input format; it does not parse CSV itself and
 * does not know the HDF5 API beyond io/h5store.h. */
#include "ingest.h"

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

/* ---------- growable string arena and row arrays ---------- */

typedef struct {
    char *data;
    int64_t len, cap;
} arena;

static int64_t arena_add(arena *a, const char *s)
{
    int64_t n = (int64_t)strlen(s) + 1;
    if (a->len + n > a->cap) {
        a->cap = (a->cap + n) * 2;
        a->data = mkt_xrealloc(a->data, (size_t)a->cap);
    }
    memcpy(a->data + a->len, s, (size_t)n);
    int64_t off = a->len;
    a->len += n;
    return off;
}

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

/* A rejected record counts as the physical lines it spans (read and
 * rejected), so a stray quote that swallowed 900 lines weighs 900 rows
 * against max_reject_rate, not one; a stored record counts one row. */
static void reject(input_stats *st, const mkt_csv_record *rec, const char *reason)
{
    int64_t lines = rec->lines > 1 ? rec->lines : 1;
    st->read += lines - 1;
    st->rejected += lines;
    mkt_rejects_add(st->rejects, rec->line, reason, rec->raw, rec->raw_len);
}

/* The next record of this rank's range that splits into `nfields` fields
 * (any count of at least min_fields when nfields < 0): counts every record
 * as read, rejects the ones that do not split or have the wrong count,
 * returns 0 at the end. */
static int next_row_min(mkt_csv_reader *r, mkt_csv_record *rec, input_stats *st, int nfields, int min_fields,
                        mkt_progress *prog)
{
    const char *bad;
    char why[128];
    while (mkt_csv_next(r, rec, &bad)) {
        if ((++st->read & 0xffff) == 0)
            mkt_progress_update(prog, st->read * mkt_nranks()); /* ranks hold similar shares */
        if (rec->nfields < 0) {
            reject(st, rec, bad);
            continue;
        }
        if (nfields >= 0 && rec->nfields != nfields) {
            snprintf(why, sizeof why, "expected %d fields, found %d", nfields, rec->nfields);
            reject(st, rec, why);
            continue;
        }
        if (nfields < 0 && rec->nfields < min_fields) {
            snprintf(why, sizeof why, "expected at least %d fields, found %d", min_fields, rec->nfields);
            reject(st, rec, why);
            continue;
        }
        return 1;
    }
    return 0;
}

static int next_row(mkt_csv_reader *r, mkt_csv_record *rec, input_stats *st, int nfields, mkt_progress *prog)
{
    return next_row_min(r, rec, st, nfields, 0, prog);
}

/* ---------- column lookup ---------- */

/* Column positions: 1-based numbers name a column by position when the
 * header has no column of that name (or there is no header). */
static int column_position(const char *name)
{
    int64_t k;
    if (!name || !*name || strspn(name, "0123456789") != strlen(name) || mkt_parse_int64(name, &k) != 0 || k < 1 ||
        k > 100000)
        return -1;
    return (int)k - 1;
}

static int column_index(const mkt_csv_record *header, const char *name)
{
    if (!name || !*name)
        return -1;
    for (int i = 0; header && i < header->nfields; i++)
        if (strcasecmp(header->fields[i], name) == 0)
            return i;
    int k = column_position(name);
    if (k >= 0 && (!header || k < header->nfields))
        return k;
    return -1;
}

static void header_columns(const mkt_csv_record *header, char *buf, size_t len)
{
    buf[0] = 0;
    for (int i = 0; header && i < header->nfields; i++) {
        size_t used = strlen(buf);
        snprintf(buf + used, len - used, "%s%s", i ? ", " : "", header->fields[i]);
    }
}

/* A required column: a missing one is a usage error naming the file and the columns it has. */
static int require_column(const mkt_csv_record *header, const char *path, const char *option, const char *name)
{
    int c = column_index(header, name);
    if (c < 0) {
        char cols[1024];
        header_columns(header, cols, sizeof cols);
        if (!header)
            mkt_fail_all(MKT_EXIT_USAGE,
                         "ingest: %s: no column '%s' (option %s): the file is read without a header (--header 0), "
                         "so name its columns by position (1, 2, ...)",
                         path, name, option);
        mkt_fail_all(MKT_EXIT_USAGE, "ingest: %s: no column '%s' (option %s); the header has: %s", path, name,
                     option, cols[0] ? cols : "(no header)");
    }
    return c;
}

/* A column with a default name that the preset treats as optional: when the
 * option still holds that default, a file without it is fine (-1); a name
 * the job gave must be in the header.  An empty name means "no column". */
static int optional_column(const mkt_csv_record *header, const char *path, const char *option, const char *name,
                           const char *default_name)
{
    if (!name || !*name)
        return -1;
    if (!strcmp(name, default_name))
        return column_index(header, name);
    return require_column(header, path, option, name);
}

/* A column the preset needs unless the job says the file has none (an empty name). */
static int needed_column(const mkt_csv_record *header, const char *path, const char *option, const char *name)
{
    if (!name || !*name)
        return -1;
    int c = column_index(header, name);
    if (c < 0) {
        char cols[1024], flag[64];
        header_columns(header, cols, sizeof cols);
        snprintf(flag, sizeof flag, "--%s", option);
        for (char *p = flag; *p; p++)
            if (*p == '_')
                *p = '-';
        mkt_fail_all(MKT_EXIT_USAGE,
                     "ingest: %s: no column '%s' (option %s; %s '' if the file has no such column); the header "
                     "has: %s",
                     path, name, option, flag, cols[0] ? cols : "(no header)");
    }
    return c;
}

/* A header that names a column twice is an error naming both positions:
 * the column options would silently pick the first. */
static void check_header(const mkt_csv_record *h, const char *path)
{
    for (int i = 0; h && i < h->nfields; i++)
        for (int j = i + 1; j < h->nfields; j++)
            if (strcasecmp(h->fields[i], h->fields[j]) == 0)
                mkt_fail_all(MKT_EXIT_USAGE,
                             "ingest: %s: the header names column '%s' twice (columns %d and %d); rename one", path,
                             h->fields[i], i + 1, j + 1);
}

static const char *field(const mkt_csv_record *rec, int col) { return col >= 0 ? rec->fields[col] : ""; }

static int is_blank(const char *s)
{
    for (; *s; s++)
        if (!isspace((unsigned char)*s))
            return 0;
    return 1;
}

/* Ids, names and attribute texts longer than this are rejected, never cut:
 * cut, two ids that differ after byte 511 would become one. */
#define MKT_ID_MAX 511
static const char id_too_long[] = "(too long)";

/* Copy an id without surrounding spaces into buf (MKT_ID_MAX + 1 bytes);
 * returns NULL if empty, id_too_long if it does not fit. */
static const char *clean_id(const char *s, char *buf, size_t len)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    if (n == 0)
        return NULL;
    if (n >= len)
        return id_too_long;
    memcpy(buf, s, n);
    buf[n] = 0;
    return buf;
}

/* Rejects the row when an id from clean_id is empty (`empty WHAT`) or too
 * long (`WHAT longer than 511 bytes`); 1 if it did. */
static int reject_id(input_stats *st, const mkt_csv_record *rec, const char *id, const char *what, int empty_ok)
{
    char why[128];
    if (!id && !empty_ok) {
        snprintf(why, sizeof why, "empty %s", what);
        reject(st, rec, why);
        return 1;
    }
    if (id == id_too_long) {
        snprintf(why, sizeof why, "%s longer than %d bytes", what, MKT_ID_MAX);
        reject(st, rec, why);
        return 1;
    }
    return 0;
}

/* ---------- value checks: each failure is a named reject reason ---------- */

/* Amounts (values, prices, spend) beyond this magnitude are rejected: they
 * are typing or export errors, and they poison every sum built on them. */
#define MKT_AMOUNT_MAX 1e12

/* Timestamp text under a rule (see ts_rule); 0 or -1 like mkt_parse_timestamp. */
static int parse_ts(const ts_rule *rule, const char *text, int64_t *out)
{
    char buf[96];
    while (*text == ' ' || *text == '\t')
        text++;
    size_t n = strlen(text);
    while (n > 0 && (text[n - 1] == ' ' || text[n - 1] == '\t'))
        n--;
    if (n == 0 || n >= 64)
        return -1;
    memcpy(buf, text, n);
    buf[n] = 0;
    const char *digits = buf + (buf[0] == '-' || buf[0] == '+');
    if (*digits && strspn(digits, "0123456789") == strlen(digits)) {
        int64_t v;
        if (mkt_parse_int64(buf, &v) != 0)
            return -1;
        switch (rule->ints) {
        case TS_MILLISECONDS:
            *out = v / 1000 - (v % 1000 < 0); /* floor */
            return 0;
        case TS_YYYYMMDD: {
            if (v < 10000101 || v > 99991231)
                return -1;
            char iso[16];
            snprintf(iso, sizeof iso, "%04d-%02d-%02d", (int)(v / 10000), (int)(v / 100 % 100), (int)(v % 100));
            return mkt_parse_timestamp(iso, out);
        }
        case TS_DAYS:
            if (v < -100000000 || v > 100000000)
                return -1;
            *out = v * 86400;
            return 0;
        default:
            *out = v;
            return 0;
        }
    }
    char *slash = strchr(buf, '/');
    if (slash) {
        /* M/D/YYYY [H:MM[:SS]] (or D/M/YYYY): a date alone is midnight */
        char *second = strchr(slash + 1, '/');
        if (!second)
            return -1;
        char norm[320];
        const char *a = buf, *b = slash + 1;
        *slash = 0;
        *second = 0;
        if (rule->dmy) {
            const char *t = a;
            a = b;
            b = t;
        }
        const char *rest = second + 1;
        snprintf(norm, sizeof norm, "%s/%s/%s%s", a, b, rest, strchr(rest, ' ') ? "" : " 0:00");
        return mkt_parse_timestamp(norm, out);
    }
    return mkt_parse_timestamp(buf, out);
}

/* A timestamp field: unparsable or outside --ts-range is a reject; 0 if kept. */
static int take_timestamp(const raw_data *raw, input_stats *st, const mkt_csv_record *rec, const char *text,
                          int64_t *ts)
{
    if (parse_ts(&raw->ts, text, ts) != 0) {
        reject(st, rec, "unparsable timestamp");
        return -1;
    }
    if (*ts < raw->ts_lo || *ts >= raw->ts_hi) {
        reject(st, rec, raw->ts_reason);
        return -1;
    }
    return 0;
}

/* A rating outside --rating-range; 1 if rejected. */
static int reject_rating(const raw_data *raw, input_stats *st, const mkt_csv_record *rec, double v)
{
    if (v >= raw->rating_lo && v <= raw->rating_hi)
        return 0;
    reject(st, rec, raw->rating_reason);
    return 1;
}

static int reject_amount(input_stats *st, const mkt_csv_record *rec, double v, const char *what)
{
    if (fabs(v) <= MKT_AMOUNT_MAX)
        return 0;
    char why[128];
    snprintf(why, sizeof why, "%s out of range (magnitude above %g)", what, MKT_AMOUNT_MAX);
    reject(st, rec, why);
    return 1;
}

/* 1 if s (without surrounding blanks) reads as a number that is not finite:
 * nan, inf, infinity, or one that overflows a double (1e999). */
static int nonfinite_number(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    if (!*s)
        return 0;
    char *end;
    double v = strtod(s, &end);
    if (end == s)
        return 0;
    while (*end == ' ' || *end == '\t')
        end++;
    return *end == 0 && !isfinite(v);
}

/* Campaign attributes: too long, or a non-finite number (which would turn a
 * numeric column into a categorical one of as many levels as values); 1 if
 * the row was rejected. */
static int reject_attributes(input_stats *st, const mkt_csv_record *rec, const raw_data *raw, const int *attr_col)
{
    char buf[MKT_ID_MAX + 1], why[MKT_ID_MAX + 160];
    for (int a = 0; a < raw->n_attr; a++) {
        const char *text = rec->fields[attr_col[a]];
        if (clean_id(text, buf, sizeof buf) == id_too_long) {
            snprintf(why, sizeof why, "value of column %.200s longer than %d bytes", raw->attr_names[a], MKT_ID_MAX);
            reject(st, rec, why);
            return 1;
        }
        if (nonfinite_number(text)) {
            snprintf(why, sizeof why, "non-finite number in column %.200s", raw->attr_names[a]);
            reject(st, rec, why);
            return 1;
        }
    }
    return 0;
}

/* Test stores: a row whose user or item the training store does not know is
 * rejected, and counted apart from malformed rows.  1: keep the row. */
static int known_ids(const raw_data *raw, input_stats *st, const mkt_csv_record *rec, const char *user,
                     const char *item)
{
    if (!raw->known_users)
        return 1;
    if (mkt_dict_find(raw->known_users, user) < 0) {
        st->unknown_user += rec->lines > 1 ? rec->lines : 1;
        reject(st, rec, "unknown user");
        return 0;
    }
    if (mkt_dict_find(raw->known_items, item) < 0) {
        st->unknown_item += rec->lines > 1 ? rec->lines : 1;
        reject(st, rec, "unknown item");
        return 0;
    }
    return 1;
}

/* --delimiter: a character, "::", or a name (tab, comma, semicolon, pipe,
 * space or whitespace: runs of spaces and tabs). */
static mkt_csv_dialect dialect_for(const char *delimiter, int header)
{
    mkt_csv_dialect d;
    memset(&d, 0, sizeof d);
    if (!strcmp(delimiter, "tab") || !strcmp(delimiter, "\\t"))
        snprintf(d.delim, sizeof d.delim, "\t");
    else if (!strcmp(delimiter, "comma"))
        snprintf(d.delim, sizeof d.delim, ",");
    else if (!strcmp(delimiter, "semicolon"))
        snprintf(d.delim, sizeof d.delim, ";");
    else if (!strcmp(delimiter, "pipe"))
        snprintf(d.delim, sizeof d.delim, "|");
    else if (!strcmp(delimiter, "space") || !strcmp(delimiter, "whitespace") || !strcmp(delimiter, " "))
        d.whitespace = 1;
    else
        snprintf(d.delim, sizeof d.delim, "%s", delimiter);
    d.has_header = header;
    return d;
}

/* Collective.  The delimiter of a file read without --delimiter, from its
 * first non-blank line (rank 0 reads at most 64 KiB and broadcasts): "::"
 * if present, else the most frequent of tab , ; | (ties in that order), else
 * whitespace when the line has blanks between words, else ",".  Logged with
 * the file's name, so a wrong guess is visible and --delimiter overrides it. */
static const char *detect_delimiter(const char *path, MPI_Comm comm)
{
    int rank, pick = 0;
    MKT_MPI(MPI_Comm_rank(comm, &rank));
    static const char *const names[] = {",", "::", "tab", ",", ";", "|", "whitespace"};
    if (rank == 0) {
        FILE *f = fopen(path, "rb");
        if (f) {
            static char buf[65536 + 1];
            size_t n = fread(buf, 1, sizeof buf - 1, f);
            fclose(f);
            buf[n] = 0;
            char *line = buf;
            if (n >= 3 && !memcmp(buf, "\xEF\xBB\xBF", 3))
                line += 3;
            for (;;) { /* the first line with something other than blanks */
                size_t len = strcspn(line, "\n");
                int blank = 1;
                for (size_t i = 0; i < len && blank; i++)
                    blank = line[i] == ' ' || line[i] == '\t' || line[i] == '\r';
                if (!blank || !line[len]) {
                    line[len] = 0;
                    break;
                }
                line += len + 1;
            }
            int64_t counts[4] = {0, 0, 0, 0};
            const char seps[4] = {'\t', ',', ';', '|'};
            for (const char *c = line; *c; c++)
                for (int k = 0; k < 4; k++)
                    counts[k] += *c == seps[k];
            int best = -1;
            for (int k = 0; k < 4; k++)
                if (counts[k] > 0 && (best < 0 || counts[k] > counts[best]))
                    best = k;
            size_t len = strlen(line);
            while (len > 0 && (line[len - 1] == ' ' || line[len - 1] == '\r'))
                len--;
            line[len] = 0;
            const char *word = line + strspn(line, " ");
            if (strstr(line, "::"))
                pick = 1;
            else if (best >= 0)
                pick = 2 + best;
            else if (strchr(word, ' '))
                pick = 6;
        }
    }
    MKT_MPI(MPI_Bcast(&pick, 1, MPI_INT, 0, comm));
    mkt_log("ingest", "%s: no --delimiter given; detected %s%s", path, pick ? "" : "none, reading ",
            pick ? names[pick] : "','");
    return names[pick];
}

/* The dialect of one input: --delimiter when given, else detected. */
static mkt_csv_dialect input_dialect(const char *delimiter, const char *path, int header, MPI_Comm comm)
{
    return dialect_for(delimiter && *delimiter ? delimiter : detect_delimiter(path, comm), header);
}

static mkt_csv_reader *open_input(const char *path, const mkt_csv_dialect *d, MPI_Comm comm)
{
    char err[1024] = "";
    mkt_csv_reader *r = mkt_csv_open(path, d, comm, err, sizeof err);
    if (!r)
        mkt_fail_all(MKT_EXIT_ERROR, "ingest: %s", err[0] ? err : path);
    return r;
}

/* Collective.  Sets raw->ts for column `col` of `path`: from --ts-format,
 * or (auto) from every value of the column, so the choice is the same on
 * any rank count: integers are yyyymmdd dates when every integer is one
 * (8 digits, a valid date of 1900-2100), milliseconds when every integer
 * is at least 1e11, else seconds; slashed dates are d/m/Y when every one
 * reads so and some do not read as m/d/Y, else m/d/Y.  The choice is
 * logged, naming the file and the column. */
static void decide_ts(raw_data *raw, const mkt_ingest_options *o, const char *path, const mkt_csv_dialect *d,
                      int col, const char *colname, MPI_Comm comm)
{
    const char *f = o->ts_format && *o->ts_format ? o->ts_format : "auto";
    ts_rule rule = {TS_SECONDS, 0};
    if (strcmp(f, "auto") != 0) {
        if (!strcmp(f, "unix") || !strcmp(f, "iso") || !strcmp(f, "mdy"))
            rule.ints = TS_SECONDS;
        else if (!strcmp(f, "unix_ms"))
            rule.ints = TS_MILLISECONDS;
        else if (!strcmp(f, "yyyymmdd"))
            rule.ints = TS_YYYYMMDD;
        else if (!strcmp(f, "days"))
            rule.ints = TS_DAYS;
        else if (!strcmp(f, "dmy"))
            rule.dmy = 1;
        else
            mkt_fail_all(MKT_EXIT_USAGE,
                         "ingest: --ts-format '%s': expected auto, unix, unix_ms, yyyymmdd, days, iso, mdy or dmy", f);
        raw->ts = rule;
        return;
    }
    mkt_csv_reader *r = open_input(path, d, comm);
    int64_t c[6] = {0, 0, 0, 0, 0, 0}; /* integers, yyyymmdd, >= 1e11, slashed, as m/d/Y, as d/m/Y */
    mkt_csv_record rec;
    const ts_rule mdy = {TS_SECONDS, 0}, dmy = {TS_SECONDS, 1}, ymd = {TS_YYYYMMDD, 0};
    while (mkt_csv_next(r, &rec, NULL)) {
        if (rec.nfields <= col)
            continue;
        const char *t = rec.fields[col];
        while (*t == ' ' || *t == '\t')
            t++;
        int64_t v, ts;
        if (mkt_parse_int64(t, &v) == 0) {
            c[0]++;
            c[1] += strspn(t, "0123456789") == 8 && parse_ts(&ymd, t, &ts) == 0 && ts >= -2208988800LL &&
                    ts < 4102444800LL;
            c[2] += v >= 100000000000LL || v <= -100000000000LL;
        } else if (strchr(t, '/')) {
            c[3]++;
            c[4] += parse_ts(&mdy, t, &ts) == 0;
            c[5] += parse_ts(&dmy, t, &ts) == 0;
        }
    }
    mkt_csv_close(r);
    MKT_MPI(MPI_Allreduce(MPI_IN_PLACE, c, 6, MPI_INT64_T, MPI_SUM, comm));
    if (c[0] > 0)
        rule.ints = c[1] == c[0] ? TS_YYYYMMDD : c[2] == c[0] ? TS_MILLISECONDS : TS_SECONDS;
    rule.dmy = c[3] > 0 && c[5] == c[3] && c[4] < c[3];
    raw->ts = rule;
    if (c[0] > 0)
        mkt_log("ingest", "%s: column %s: %lld integer timestamps read as %s (--ts-format overrides)", path, colname,
                (long long)c[0],
                rule.ints == TS_YYYYMMDD ? "yyyymmdd dates" : rule.ints == TS_MILLISECONDS ? "unix milliseconds"
                                                                                           : "unix seconds");
    if (c[3] > 0)
        mkt_log("ingest", "%s: column %s: %lld slashed dates read as %s (--ts-format overrides)", path, colname,
                (long long)c[3], rule.dmy ? "day/month/year" : "month/day/year");
}

/* The largest of the column indices plus one: the fields a row read without a header needs. */
static int fields_needed(const int *cols, int n)
{
    int need = 0;
    for (int i = 0; i < n; i++)
        if (cols[i] + 1 > need)
            need = cols[i] + 1;
    return need;
}

/* A column option of a preset: the generic default name (user, item, ...)
 * stands for the preset's own column. */
static const char *preset_col(const char *option_value, const char *generic_default, const char *preset_default)
{
    return option_value && !strcmp(option_value, generic_default) ? preset_default : option_value;
}

/* ---------- readers per format ---------- */

static void read_events_generic(const mkt_ingest_options *o, raw_data *raw, input_stats *st, MPI_Comm comm)
{
    mkt_csv_dialect d = input_dialect(o->delimiter, o->input, o->header != 0, comm);
    mkt_csv_reader *r = open_input(o->input, &d, comm);
    const mkt_csv_record *h = mkt_csv_header(r);
    if (!h && d.has_header)
        mkt_fail_all(MKT_EXIT_ERROR, "ingest: %s (events input): no data rows; the file is empty", o->input);
    check_header(h, o->input);
    int cu = require_column(h, o->input, "user_col", o->user_col);
    /* --item-col '': a log without items (CDNOW's purchases): every row names the item "(any)" */
    int no_item = o->item_col && !*o->item_col;
    int ci = no_item ? -1 : require_column(h, o->input, "item_col", o->item_col);
    int ct = require_column(h, o->input, "ts_col", o->ts_col);
    int cy = optional_column(h, o->input, "type_col", o->type_col, "type");
    int cv = optional_column(h, o->input, "value_col", o->value_col, "value");
    int cq = optional_column(h, o->input, "qty_col", o->qty_col, "qty");
    int default_type = mkt_event_type_parse(o->default_type);
    if (cy < 0 && default_type < 0)
        mkt_fail_all(MKT_EXIT_USAGE,
                     "ingest: %s: no event type column '%s' and default_type '%s' is not an event type", o->input,
                     o->type_col ? o->type_col : "", o->default_type ? o->default_type : "");
    int nfields = h ? h->nfields : -1, cols[6] = {cu, ci, ct, cy, cv, cq};
    decide_ts(raw, o, o->input, &d, ct, o->ts_col, comm);
    mkt_csv_record rec;
    char ubuf[MKT_ID_MAX + 1], ibuf[MKT_ID_MAX + 1];
    mkt_progress prog;
    mkt_progress_start(&prog, "ingest", "rows", 0);
    while (next_row_min(r, &rec, st, nfields, fields_needed(cols, 6), &prog)) {
        raw_event e;
        const char *u = clean_id(field(&rec, cu), ubuf, sizeof ubuf);
        const char *it = no_item ? "(any)" : clean_id(field(&rec, ci), ibuf, sizeof ibuf);
        if (reject_id(st, &rec, u, "user id", 0) || reject_id(st, &rec, it, "item id", 0))
            continue;
        if (take_timestamp(raw, st, &rec, field(&rec, ct), &e.ts) != 0)
            continue;
        e.type = default_type;
        if (cy >= 0) {
            e.type = mkt_event_type_parse(field(&rec, cy));
            if (e.type < 0) {
                reject(st, &rec, "unknown event type");
                continue;
            }
        }
        e.value = 0;
        if (cv >= 0 && !is_blank(field(&rec, cv)) && mkt_parse_double(field(&rec, cv), &e.value) != 0) {
            reject(st, &rec, "unparsable value");
            continue;
        }
        if (e.type == MKT_EV_RATING ? reject_rating(raw, st, &rec, e.value) : reject_amount(st, &rec, e.value, "value"))
            continue;
        int64_t q = 1;
        if (cq >= 0 && !is_blank(field(&rec, cq)) &&
            (mkt_parse_int64(field(&rec, cq), &q) != 0 || q < INT32_MIN || q > INT32_MAX)) {
            reject(st, &rec, "unparsable quantity");
            continue;
        }
        if (q < 0 && e.type != MKT_EV_PURCHASE) { /* a negative quantity is a return, only of a purchase */
            reject(st, &rec, "negative quantity (only a purchase can be returned)");
            continue;
        }
        e.qty = (int32_t)q;
        if (!known_ids(raw, st, &rec, u, it))
            continue;
        e.line = rec.line;
        e.user = arena_add(&raw->strings, u);
        e.item = arena_add(&raw->strings, it);
        GROW(raw->events, raw->n_events, raw->cap_events);
        raw->events[raw->n_events++] = e;
    }
    mkt_csv_close(r);
}

static void read_movielens(const mkt_ingest_options *o, raw_data *raw, input_stats *st, MPI_Comm comm)
{
    /* no header unless --header 1; columns user, item, rating, timestamp at
     * positions 1-4 unless the column options name others */
    mkt_csv_dialect d = input_dialect(o->delimiter, o->input, o->header == 1, comm);
    mkt_csv_reader *r = open_input(o->input, &d, comm);
    const mkt_csv_record *h = mkt_csv_header(r);
    check_header(h, o->input);
    const char *nu = preset_col(o->user_col, "user", "1"), *ni = preset_col(o->item_col, "item", "2");
    const char *nv = preset_col(o->value_col, "value", "3"), *nt = preset_col(o->ts_col, "ts", "4");
    int cols[4] = {require_column(h, o->input, "user_col", nu), require_column(h, o->input, "item_col", ni),
                   require_column(h, o->input, "value_col", nv), require_column(h, o->input, "ts_col", nt)};
    int positional = !h && cols[0] == 0 && cols[1] == 1 && cols[2] == 2 && cols[3] == 3;
    decide_ts(raw, o, o->input, &d, cols[3], nt, comm);
    mkt_csv_record rec;
    char ubuf[MKT_ID_MAX + 1], ibuf[MKT_ID_MAX + 1], why[128];
    mkt_progress prog;
    mkt_progress_start(&prog, "ingest", "rows", 0);
    while (next_row_min(r, &rec, st, h ? h->nfields : -1, fields_needed(cols, 4), &prog)) {
        if (positional && rec.nfields != 4) {
            snprintf(why, sizeof why, "expected 4 fields (user, item, rating, timestamp), found %d", rec.nfields);
            reject(st, &rec, why);
            continue;
        }
        raw_event e;
        const char *u = clean_id(rec.fields[cols[0]], ubuf, sizeof ubuf);
        const char *it = clean_id(rec.fields[cols[1]], ibuf, sizeof ibuf);
        if (reject_id(st, &rec, u, "user id", 0) || reject_id(st, &rec, it, "item id", 0))
            continue;
        if (mkt_parse_double(rec.fields[cols[2]], &e.value) != 0) {
            reject(st, &rec, "unparsable rating");
            continue;
        }
        if (reject_rating(raw, st, &rec, e.value) || take_timestamp(raw, st, &rec, rec.fields[cols[3]], &e.ts) != 0)
            continue;
        e.type = MKT_EV_RATING;
        e.qty = 1;
        if (!known_ids(raw, st, &rec, u, it))
            continue;
        e.line = rec.line;
        e.user = arena_add(&raw->strings, u);
        e.item = arena_add(&raw->strings, it);
        GROW(raw->events, raw->n_events, raw->cap_events);
        raw->events[raw->n_events++] = e;
    }
    mkt_csv_close(r);
}

static void read_transactions(const mkt_ingest_options *o, raw_data *raw, input_stats *st, MPI_Comm comm)
{
    /* the Online Retail columns unless the column options name others
     * (--value-col is the unit price: the value stored is quantity x price) */
    mkt_csv_dialect d = input_dialect(o->delimiter, o->input, o->header != 0, comm);
    mkt_csv_reader *r = open_input(o->input, &d, comm);
    const mkt_csv_record *h = mkt_csv_header(r);
    if (!h && d.has_header)
        mkt_fail_all(MKT_EXIT_ERROR, "ingest: %s (events input): no data rows; the file is empty", o->input);
    check_header(h, o->input);
    const char *nt = preset_col(o->ts_col, "ts", "InvoiceDate");
    int citem = require_column(h, o->input, "item_col", preset_col(o->item_col, "item", "StockCode"));
    int cqty = require_column(h, o->input, "qty_col", preset_col(o->qty_col, "qty", "Quantity"));
    int cdate = require_column(h, o->input, "ts_col", nt);
    int cprice = require_column(h, o->input, "value_col", preset_col(o->value_col, "value", "UnitPrice"));
    int cuser = require_column(h, o->input, "user_col", preset_col(o->user_col, "user", "CustomerID"));
    int nfields = h ? h->nfields : -1, cols[5] = {citem, cqty, cdate, cprice, cuser};
    decide_ts(raw, o, o->input, &d, cdate, nt, comm);
    mkt_csv_record rec;
    char ubuf[MKT_ID_MAX + 1], ibuf[MKT_ID_MAX + 1];
    mkt_progress prog;
    mkt_progress_start(&prog, "ingest", "rows", 0);
    while (next_row_min(r, &rec, st, nfields, fields_needed(cols, 5), &prog)) {
        const char *u = clean_id(rec.fields[cuser], ubuf, sizeof ubuf);
        const char *it = clean_id(rec.fields[citem], ibuf, sizeof ibuf);
        if (reject_id(st, &rec, u, "user id", 0) || reject_id(st, &rec, it, "item id", 0))
            continue;
        /* Copies exported from spreadsheets write customer ids as 17850.0 */
        size_t ul = strlen(ubuf);
        if (ul > 2 && !strcmp(ubuf + ul - 2, ".0"))
            ubuf[ul - 2] = 0;
        raw_event e;
        int64_t q;
        double price;
        if (mkt_parse_int64(rec.fields[cqty], &q) != 0 || q < INT32_MIN || q > INT32_MAX) {
            reject(st, &rec, "unparsable quantity");
            continue;
        }
        if (mkt_parse_double(rec.fields[cprice], &price) != 0) {
            reject(st, &rec, "unparsable unit price");
            continue;
        }
        if (price < 0) {
            reject(st, &rec, "negative unit price");
            continue;
        }
        if (reject_amount(st, &rec, (double)q * price, "amount") || take_timestamp(raw, st, &rec, rec.fields[cdate], &e.ts) != 0)
            continue;
        e.type = MKT_EV_PURCHASE; /* cancellations (invoice C..., negative quantity) are returns */
        e.qty = (int32_t)q;
        e.value = (double)q * price;
        if (!known_ids(raw, st, &rec, u, it))
            continue;
        e.line = rec.line;
        e.user = arena_add(&raw->strings, u);
        e.item = arena_add(&raw->strings, it);
        GROW(raw->events, raw->n_events, raw->cap_events);
        raw->events[raw->n_events++] = e;
    }
    mkt_csv_close(r);
}

/* --items-cols "item=PRODUCT_ID,category=DEPARTMENT": the items file's
 * column for each of item, category, brand, price, cost, stock; a column
 * it names is required, the others keep their default names (optional,
 * but item). */
static void items_columns(const char *spec, const mkt_csv_record *h, const char *path, int col[6])
{
    static const char *const keys[6] = {"item", "category", "brand", "price", "cost", "stock"};
    const char *name[6] = {"item", "category", "brand", "price", "cost", "stock"};
    char copy[1024], *save = NULL;
    int given[6] = {0, 0, 0, 0, 0, 0};
    if (spec && strlen(spec) >= sizeof copy)
        mkt_fail_all(MKT_EXIT_USAGE, "ingest: --items-cols is longer than %zu bytes", sizeof copy - 1);
    snprintf(copy, sizeof copy, "%s", spec ? spec : "");
    for (char *pair = strtok_r(copy, ",", &save); pair; pair = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(pair, '=');
        int k = -1;
        if (eq) {
            *eq = 0;
            for (int i = 0; i < 6; i++)
                if (!strcmp(pair, keys[i]))
                    k = i;
        }
        if (k < 0 || !eq[1])
            mkt_fail_all(MKT_EXIT_USAGE,
                         "ingest: --items-cols: '%s' is not KEY=COLUMN with KEY one of item, category, brand, price, "
                         "cost, stock",
                         pair);
        name[k] = eq + 1;
        given[k] = 1;
    }
    for (int k = 0; k < 6; k++)
        col[k] = k == 0 || given[k] ? require_column(h, path, "items_cols", name[k]) : column_index(h, name[k]);
}

static void read_items(const mkt_ingest_options *o, const char *path, raw_data *raw, input_stats *st, MPI_Comm comm)
{
    mkt_csv_dialect d = input_dialect(NULL, path, 1, comm); /* --delimiter is the main input's */
    mkt_csv_reader *r = open_input(path, &d, comm);
    const mkt_csv_record *h = mkt_csv_header(r);
    if (!h)
        mkt_fail_all(MKT_EXIT_ERROR, "ingest: %s (items input): no data rows; the file is empty", path);
    check_header(h, path);
    int col[6];
    items_columns(o->items_cols, h, path, col);
    int ci = col[0], cc = col[1], cb = col[2], cp = col[3], cost = col[4], cs = col[5];
    int nfields = h->nfields;
    mkt_csv_record rec;
    char ibuf[MKT_ID_MAX + 1], cbuf[MKT_ID_MAX + 1], bbuf[MKT_ID_MAX + 1];
    mkt_progress prog;
    mkt_progress_start(&prog, "ingest", "rows", 0);
    while (next_row(r, &rec, st, nfields, &prog)) {
        const char *it = clean_id(rec.fields[ci], ibuf, sizeof ibuf);
        if (reject_id(st, &rec, it, "item id", 0))
            continue;
        raw_item x;
        x.price = x.cost = 0;
        x.stock = 0;
        if (cp >= 0 && !is_blank(rec.fields[cp]) && (mkt_parse_double(rec.fields[cp], &x.price) != 0 || x.price < 0)) {
            reject(st, &rec, "unparsable or negative price");
            continue;
        }
        if (cost >= 0 && !is_blank(rec.fields[cost]) && mkt_parse_double(rec.fields[cost], &x.cost) != 0) {
            reject(st, &rec, "unparsable cost");
            continue;
        }
        if (x.cost < 0) {
            reject(st, &rec, "negative cost");
            continue;
        }
        if (cp >= 0 && !is_blank(rec.fields[cp]) && x.cost > x.price) {
            reject(st, &rec, "cost above price");
            continue;
        }
        if (reject_amount(st, &rec, x.price, "price"))
            continue;
        int64_t s = 0;
        if (cs >= 0 && !is_blank(rec.fields[cs]) &&
            (mkt_parse_int64(rec.fields[cs], &s) != 0 || s < INT32_MIN || s > INT32_MAX)) {
            reject(st, &rec, "unparsable stock");
            continue;
        }
        if (s < 0) {
            reject(st, &rec, "negative stock");
            continue;
        }
        x.stock = (int32_t)s;
        const char *cat = clean_id(field(&rec, cc), cbuf, sizeof cbuf);
        const char *brand = clean_id(field(&rec, cb), bbuf, sizeof bbuf);
        if (reject_id(st, &rec, cat, "category", 1) || reject_id(st, &rec, brand, "brand", 1))
            continue;
        x.item = arena_add(&raw->strings, it);
        x.category = arena_add(&raw->strings, cat ? cat : "(none)");
        x.brand = arena_add(&raw->strings, brand ? brand : "(none)");
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
    if (is_blank(s)) {
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

static void read_campaign(const mkt_ingest_options *o, const char *path, raw_data *raw, input_stats *st,
                          MPI_Comm comm)
{
    if (!strcmp(o->format, "campaign") && o->header == 0)
        mkt_fail_all(MKT_EXIT_USAGE, "ingest: %s: --header 0: a campaign log needs its header line (its columns "
                     "other than the treatment and outcomes are the attributes, named by the header)", path);
    mkt_csv_dialect d = input_dialect(!strcmp(o->format, "campaign") ? o->delimiter : NULL, path, 1, comm);
    mkt_csv_reader *r = open_input(path, &d, comm);
    const mkt_csv_record *h = mkt_csv_header(r);
    if (!h)
        mkt_fail_all(MKT_EXIT_USAGE, "ingest: %s: the campaign format needs a header line", path);
    check_header(h, path);
    const char *tcol = o->treatment_col;
    if (!strcmp(tcol, "auto"))
        tcol = column_index(h, "treatment") >= 0 ? "treatment" : "segment";
    int ct = require_column(h, path, "treatment_col", tcol);
    int cv = needed_column(h, path, "visit_col", o->visit_col);
    int cc = needed_column(h, path, "conversion_col", o->conversion_col);
    int cs = optional_column(h, path, "spend_col", o->spend_col, "spend");
    int cu = optional_column(h, path, "campaign_user_col", o->campaign_user_col, "user");
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
    while (next_row(r, &rec, st, nfields, &prog)) {
        raw_campaign x;
        const char *u;
        if (cu >= 0) {
            u = clean_id(rec.fields[cu], ubuf, sizeof ubuf);
            if (reject_id(st, &rec, u, "user id", 0))
                continue;
        } else {
            /* logs without a user column (Hillstrom): one customer per row, named by its line */
            snprintf(ubuf, sizeof ubuf, "%" PRId64, rec.line);
            u = ubuf;
        }
        const char *t = clean_id(rec.fields[ct], tbuf, sizeof tbuf);
        if (reject_id(st, &rec, t, "treatment", 0))
            continue;
        if (cv >= 0 && parse_flag(rec.fields[cv], &x.visit) != 0) {
            reject(st, &rec, "visit is not 0 or 1");
            continue;
        }
        if (cc >= 0 && parse_flag(rec.fields[cc], &x.conversion) != 0) {
            reject(st, &rec, "conversion is not 0 or 1");
            continue;
        }
        x.spend = 0;
        if (cs >= 0 && !is_blank(rec.fields[cs]) && mkt_parse_double(rec.fields[cs], &x.spend) != 0) {
            reject(st, &rec, "unparsable spend");
            continue;
        }
        if (x.spend < 0) {
            reject(st, &rec, "negative spend");
            continue;
        }
        if (reject_amount(st, &rec, x.spend, "spend") || reject_attributes(st, &rec, raw, attr_col))
            continue;
        if (cv < 0)
            x.visit = 0;
        if (cc < 0)
            x.conversion = 0;
        x.user = arena_add(&raw->strings, u);
        x.treatment = arena_add(&raw->strings, t);
        x.line = rec.line;
        if (raw->n_campaign == raw->cap_campaign) {
            raw->cap_campaign = raw->cap_campaign ? 2 * raw->cap_campaign : 1024;
            raw->campaign = mkt_xrealloc(raw->campaign, sizeof(raw_campaign) * (size_t)raw->cap_campaign);
            raw->campaign_attr = mkt_xrealloc(raw->campaign_attr, sizeof(int64_t) * (size_t)raw->cap_campaign *
                                                                      (size_t)(raw->n_attr > 0 ? raw->n_attr : 1));
        }
        for (int a = 0; a < raw->n_attr; a++) {
            char abuf[MKT_ID_MAX + 1];
            const char *v = clean_id(rec.fields[attr_col[a]], abuf, sizeof abuf); /* fits: reject_attributes */
            raw->campaign_attr[raw->n_campaign * raw->n_attr + a] = arena_add(&raw->strings, v ? v : "");
        }
        raw->campaign[raw->n_campaign++] = x;
    }
    free(attr_col);
    mkt_csv_close(r);
}

/* ---------- id dictionaries ---------- */

/* Dictionary of the strings whose arena offsets sit at byte `field` of each
 * of n rows of `stride` bytes. */
static mkt_dict dict_from_field(const arena *a, const void *rows, int64_t n, size_t stride, size_t field,
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

/* Users (or items) from several row kinds: gather offsets into one list. */
static mkt_dict build_users(const raw_data *raw, MPI_Comm comm)
{
    int64_t n = raw->n_events + raw->n_campaign, k = 0;
    int64_t *off = mkt_xmalloc(sizeof(int64_t) * (size_t)(n > 0 ? n : 1));
    for (int64_t i = 0; i < raw->n_events; i++)
        off[k++] = raw->events[i].user;
    for (int64_t i = 0; i < raw->n_campaign; i++)
        off[k++] = raw->campaign[i].user;
    mkt_dict d = dict_from_field(&raw->strings, off, k, sizeof(int64_t), 0, comm);
    free(off);
    return d;
}

static mkt_dict build_items(const raw_data *raw, MPI_Comm comm)
{
    int64_t n = raw->n_events + raw->n_items, k = 0;
    int64_t *off = mkt_xmalloc(sizeof(int64_t) * (size_t)(n > 0 ? n : 1));
    for (int64_t i = 0; i < raw->n_events; i++)
        off[k++] = raw->events[i].item;
    for (int64_t i = 0; i < raw->n_items; i++)
        off[k++] = raw->items[i].item;
    mkt_dict d = dict_from_field(&raw->strings, off, k, sizeof(int64_t), 0, comm);
    free(off);
    return d;
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
static void write_items(hid_t file, const raw_data *raw, const mkt_dict *items, const mkt_dict *categories,
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
    double *price = mkt_xcalloc((size_t)(nb + 1), sizeof(double)), *cost = mkt_xcalloc((size_t)(nb + 1), sizeof(double));
    int32_t *cat = mkt_xmalloc(sizeof(int32_t) * (size_t)(nb + 1)), *brand = mkt_xmalloc(sizeof(int32_t) * (size_t)(nb + 1));
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
    mkt_dict d = dict_from_field(&raw->strings, raw->campaign, raw->n_campaign, sizeof(raw_campaign),
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
    int64_t start_ts = 0;
    if (!o->campaign_start || mkt_parse_timestamp(o->campaign_start, &start_ts) != 0)
        mkt_fail_all(MKT_EXIT_USAGE, "ingest: --control untargeted needs --campaign-start (the first day of the "
                     "campaign window, a timestamp)%s%s%s", o->campaign_start ? "; not a timestamp: '" : "",
                     o->campaign_start ? o->campaign_start : "", o->campaign_start ? "'" : "");
    if (o->campaign_days < 1)
        mkt_fail_all(MKT_EXIT_USAGE, "ingest: --control untargeted needs --campaign-days D >= 1 (the window in "
                     "which conversions count)");
    mkt_dict d = dict_from_field(&raw->strings, raw->campaign, raw->n_campaign, sizeof(raw_campaign),
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

static int64_t write_campaigns(hid_t file, const mkt_ingest_options *o, raw_data *raw, const mkt_dict *users,
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
            levels[a] = dict_from_field(&raw->strings, raw->campaign_attr, raw->n_campaign,
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

/* --rating-range and --ts-range into raw's limits and reject reasons. */
static void parse_ranges(const mkt_ingest_options *o, int is_ml, raw_data *raw)
{
    const char *rr = o->rating_range && *o->rating_range ? o->rating_range : "auto";
    if (!strcmp(rr, "auto"))
        rr = is_ml ? "0.5..5" : "-1e6..1e6";
    const char *dots = strstr(rr, "..");
    char lo[128], hi[128];
    if (!dots || (size_t)(dots - rr) >= sizeof lo || strlen(dots + 2) >= sizeof hi)
        mkt_fail_all(MKT_EXIT_USAGE, "ingest: --rating-range '%s': expected LO..HI (e.g. 1..5) or auto", rr);
    snprintf(lo, sizeof lo, "%.*s", (int)(dots - rr), rr);
    snprintf(hi, sizeof hi, "%s", dots + 2);
    if (mkt_parse_double(lo, &raw->rating_lo) != 0 || mkt_parse_double(hi, &raw->rating_hi) != 0 ||
        raw->rating_lo > raw->rating_hi)
        mkt_fail_all(MKT_EXIT_USAGE, "ingest: --rating-range '%s': expected two finite numbers LO..HI with LO <= HI",
                     rr);
    snprintf(raw->rating_reason, sizeof raw->rating_reason, "rating outside %s", rr);
    const char *tr = o->ts_range && *o->ts_range ? o->ts_range : "1970-01-01..2100-01-01";
    dots = strstr(tr, "..");
    if (!dots || (size_t)(dots - tr) >= sizeof lo || strlen(dots + 2) >= sizeof hi)
        mkt_fail_all(MKT_EXIT_USAGE, "ingest: --ts-range '%s': expected FROM..TO (e.g. 1970-01-01..2100-01-01)", tr);
    snprintf(lo, sizeof lo, "%.*s", (int)(dots - tr), tr);
    snprintf(hi, sizeof hi, "%s", dots + 2);
    if (mkt_parse_timestamp(lo, &raw->ts_lo) != 0 || mkt_parse_timestamp(hi, &raw->ts_hi) != 0 ||
        raw->ts_lo >= raw->ts_hi)
        mkt_fail_all(MKT_EXIT_USAGE, "ingest: --ts-range '%s': expected two timestamps FROM..TO with FROM before TO",
                     tr);
    snprintf(raw->ts_reason, sizeof raw->ts_reason, "timestamp outside %s", tr);
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

/* ---------- test stores ---------- */

static void check_role_options(const mkt_ingest_options *o, const char *as, int is_test, int is_campaign)
{
    if (!is_test && strcmp(as, "store") != 0)
        mkt_fail_all(MKT_EXIT_USAGE,
                     "ingest: --as '%s': expected store (a store with its own ids) or test (rows mapped through "
                     "the ids of a training store, --into TRAIN.h5)",
                     as);
    if (is_test && (!o->into || !*o->into))
        mkt_fail_all(MKT_EXIT_USAGE,
                     "ingest: --as test needs --into TRAIN.h5, the training store whose user and item ids the "
                     "test rows are mapped through");
    if (!is_test && o->into)
        mkt_fail_all(MKT_EXIT_USAGE, "ingest: --into %s is only read with --as test", o->into);
    if (!is_test)
        return;
    if (is_campaign)
        mkt_fail_all(MKT_EXIT_USAGE,
                     "ingest: --as test reads an events file (format events, movielens or transactions), not "
                     "format campaign");
    if (o->items || o->campaign)
        mkt_fail_all(MKT_EXIT_USAGE,
                     "ingest: --as test takes its items and users from --into %s; --%s is not read with it",
                     o->into, o->items ? "items" : "campaign");
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
static hid_t open_training_store(const char *path, MPI_Comm comm)
{
    int rank, ok = 1;
    char why[1024] = "";
    MKT_MPI(MPI_Comm_rank(comm, &rank));
    if (rank == 0)
        ok = mkt_h5_check(path, why, sizeof why);
    MKT_MPI(MPI_Bcast(&ok, 1, MPI_INT, 0, comm));
    if (!ok) {
        MKT_MPI(MPI_Bcast(why, sizeof why, MPI_CHAR, 0, comm));
        mkt_fail_all(MKT_EXIT_USAGE, "ingest: --into: %s", why);
    }
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
static void check_test_rows(const input_stats *st, int64_t stored, const mkt_ingest_options *o,
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

int mkt_ingest_run(const mkt_ingest_options *o, MPI_Comm comm, json_t *metrics)
{
    double t0 = mkt_now();
    int rank;
    MKT_MPI(MPI_Comm_rank(comm, &rank));
    if (!o->input)
        mkt_fail_all(MKT_EXIT_USAGE, "ingest: --input FILE is required");
    if (!o->out)
        mkt_fail_all(MKT_EXIT_USAGE, "ingest: --out STORE.h5 is required");
    const char *fmt = o->format;
    int is_events = !strcmp(fmt, "events"), is_ml = !strcmp(fmt, "movielens"), is_tx = !strcmp(fmt, "transactions");
    int is_campaign = !strcmp(fmt, "campaign");
    if (!is_events && !is_ml && !is_tx && !is_campaign)
        mkt_fail_all(MKT_EXIT_USAGE, "ingest: unknown format '%s' (events, movielens, transactions, campaign)", fmt);
    if (is_campaign && o->campaign)
        mkt_fail_all(MKT_EXIT_USAGE, "ingest: --campaign is for a campaign log beside an events input");
    const char *as = o->as ? o->as : "store";
    int is_test = !strcmp(as, "test");
    check_role_options(o, as, is_test, is_campaign);
    char rejects_path[4096];
    snprintf(rejects_path, sizeof rejects_path, "%s", o->rejects ? o->rejects : "");
    if (!o->rejects)
        snprintf(rejects_path, sizeof rejects_path, "%s.rejects.csv", o->out);
    if (rank == 0)
        remove(rejects_path);

    raw_data raw;
    memset(&raw, 0, sizeof raw);
    parse_ranges(o, is_ml, &raw);
    input_stats st_events = {"events", o->input, 0, 0, mkt_rejects_new(), 0, 0, 0, 0};
    input_stats st_items = {"items", o->items, 0, 0, mkt_rejects_new(), 0, 0, 0, 0};
    input_stats st_campaign = {"campaign", is_campaign ? o->input : o->campaign, 0, 0, mkt_rejects_new(), 0, 0, 0, 0};
    /* a test store: the training store's id maps decide which rows are kept */
    hid_t train = -1;
    mkt_dict train_users, train_items;
    memset(&train_users, 0, sizeof train_users);
    memset(&train_items, 0, sizeof train_items);
    if (is_test) {
        train = open_training_store(o->into, comm);
        int64_t nu = mkt_h5_rows(train, MKT_IDS_USERS, NULL), ni = mkt_h5_rows(train, MKT_IDS_ITEMS, NULL);
        mkt_dict_from_sorted(&train_users, mkt_h5_read_strings(train, MKT_IDS_USERS, 0, nu), nu);
        mkt_dict_from_sorted(&train_items, mkt_h5_read_strings(train, MKT_IDS_ITEMS, 0, ni), ni);
        raw.known_users = &train_users;
        raw.known_items = &train_items;
    }
    if (is_events)
        read_events_generic(o, &raw, &st_events, comm);
    else if (is_ml)
        read_movielens(o, &raw, &st_events, comm);
    else if (is_tx)
        read_transactions(o, &raw, &st_events, comm);
    if (o->items)
        read_items(o, o->items, &raw, &st_items, comm);
    if (st_campaign.path)
        read_campaign(o, st_campaign.path, &raw, &st_campaign, comm);
    if (!is_campaign)
        check_has_rows(&st_events, comm);
    if (o->items)
        check_has_rows(&st_items, comm);
    if (st_campaign.path)
        check_has_rows(&st_campaign, comm);
    double t_parse = mkt_now() - t0;
    mkt_log("ingest", "parsed inputs in %.2fs", t_parse);

    /* dictionaries: a test store uses the training store's */
    mkt_dict users, items, categories, brands;
    memset(&categories, 0, sizeof categories);
    memset(&brands, 0, sizeof brands);
    if (is_test) {
        users = train_users;
        items = train_items;
        mkt_log("ingest", "test rows mapped through the %lld users and %lld items of %s", (long long)users.n,
                (long long)items.n, o->into);
    } else {
    users = build_users(&raw, comm);
    items = build_items(&raw, comm);
    int64_t any_unknown_local = 0, any_unknown = 0;
    {
        /* items with no catalogue row get category and brand "(unknown)" */
        mkt_dict catalogue = dict_from_field(&raw.strings, raw.items, raw.n_items, sizeof(raw_item),
                                             offsetof(raw_item, item), comm);
        any_unknown_local = items.n > catalogue.n;
        mkt_dict_free(&catalogue);
        MKT_MPI(MPI_Allreduce(&any_unknown_local, &any_unknown, 1, MPI_INT64_T, MPI_MAX, comm));
    }
    int64_t n_cat_off = raw.n_items + (any_unknown ? 1 : 0);
    int64_t *cat_off = mkt_xmalloc(sizeof(int64_t) * (size_t)(n_cat_off + 1));
    int64_t *brand_off = mkt_xmalloc(sizeof(int64_t) * (size_t)(n_cat_off + 1));
    for (int64_t i = 0; i < raw.n_items; i++) {
        cat_off[i] = raw.items[i].category;
        brand_off[i] = raw.items[i].brand;
    }
    if (any_unknown) {
        cat_off[raw.n_items] = arena_add(&raw.strings, "(unknown)");
        brand_off[raw.n_items] = cat_off[raw.n_items];
    }
    categories = dict_from_field(&raw.strings, cat_off, n_cat_off, sizeof(int64_t), 0, comm);
    brands = dict_from_field(&raw.strings, brand_off, n_cat_off, sizeof(int64_t), 0, comm);
    free(cat_off);
    free(brand_off);
    if (users.n > INT32_MAX || items.n > INT32_MAX)
        mkt_fail_all(MKT_EXIT_ERROR, "ingest: more than 2^31 distinct users or items");
    mkt_log("ingest", "%lld users, %lld items, %lld categories", (long long)users.n, (long long)items.n,
            (long long)categories.n);
    }

    mkt_h5out out;
    mkt_h5_create(&out, o->out, "store", comm);
    hid_t f = out.file;
    if (is_test) {
        /* the same dense indices and item table as the training store */
        mkt_store_copy_group(train, f, MKT_IDS, comm);
        mkt_store_copy_group(train, f, MKT_ITEMS, comm);
    } else {
        mkt_dict_write(&users, f, MKT_IDS_USERS, comm);
        mkt_dict_write(&items, f, MKT_IDS_ITEMS, comm);
        mkt_dict_write(&categories, f, MKT_IDS_CATEGORIES, comm);
        mkt_dict_write(&brands, f, MKT_IDS_BRANDS, comm);
    }
    int64_t stored_items = 0;
    double t_ids = mkt_now();
    int32_t *event_item = mkt_xmalloc(sizeof(int32_t) * (size_t)(raw.n_events + 1));
    for (int64_t i = 0; i < raw.n_events; i++)
        event_item[i] = (int32_t)mkt_dict_find(&items, raw.strings.data + raw.events[i].item);
    if (!is_test)
        write_items(f, &raw, &items, &categories, &brands, event_item, mkt_dict_find(&categories, "(unknown)"),
                    mkt_dict_find(&brands, "(unknown)"), &st_items, &stored_items, comm);

    /* events */
    int64_t n = raw.n_events;
    mkt_event *ev = mkt_xmalloc(sizeof(mkt_event) * (size_t)(n > 0 ? n : 1));
    int64_t min_ts = INT64_MAX, max_ts = INT64_MIN;
    for (int64_t i = 0; i < n; i++) {
        const raw_event *r = &raw.events[i];
        ev[i].user = (int32_t)mkt_dict_find(&users, raw.strings.data + r->user);
        ev[i].item = event_item[i];
        ev[i].ts = r->ts;
        ev[i].order = r->line;
        ev[i].value = r->value;
        ev[i].qty = r->qty;
        ev[i].type = r->type;
        if (r->ts < min_ts)
            min_ts = r->ts;
        if (r->ts > max_ts)
            max_ts = r->ts;
    }
    free(raw.events);
    free(event_item);
    raw.events = NULL;
    double t_store = mkt_now();
    MKT_MPI(MPI_Allreduce(MPI_IN_PLACE, &min_ts, 1, MPI_INT64_T, MPI_MIN, comm));
    MKT_MPI(MPI_Allreduce(MPI_IN_PLACE, &max_ts, 1, MPI_INT64_T, MPI_MAX, comm));
    int64_t stored_events = mkt_store_write_events(f, &ev, n, users.n, items.n, comm);
    int64_t stored_campaign = 0;
    if (st_campaign.path)
        stored_campaign = write_campaigns(f, o, &raw, &users, comm);
    double t_end_store = mkt_now();
    mkt_h5_attr_set_string(f, ".", "source", "mkt ingest");
    mkt_h5_attr_set_string(f, ".", "ingest_format", fmt);
    if (stored_events > 0) {
        mkt_h5_attr_set_int(f, ".", "start_ts", min_ts);
        mkt_h5_attr_set_int(f, ".", "end_ts", max_ts < INT64_MAX ? max_ts + 1 : max_ts); /* no wrap */
    }
    if (is_test) {
        char hex[32];
        snprintf(hex, sizeof hex, "%016" PRIx64, mkt_ids_hash(users.names, users.n, items.names, items.n));
        mkt_h5_attr_set_string(f, ".", "role", MKT_ROLE_TEST);
        mkt_h5_attr_set_string(f, ".", "train_store", o->into);
        mkt_h5_attr_set_int(f, ".", "train_users", users.n);
        mkt_h5_attr_set_int(f, ".", "train_items", items.n);
        mkt_h5_attr_set_string(f, ".", "train_ids_hash", hex);
    }

    /* accounting before commit: a store past the reject threshold is not published */
    if (!is_campaign)
        report_input(metrics, &st_events, stored_events, rejects_path, comm);
    if (o->items)
        report_input(metrics, &st_items, stored_items, rejects_path, comm);
    if (st_campaign.path)
        report_input(metrics, &st_campaign, stored_campaign, rejects_path, comm);
    if (is_test)
        check_test_rows(&st_events, stored_events, o, rejects_path, metrics, comm);
    else if (!is_campaign)
        check_reject_rate(&st_events, o->max_reject_rate, rejects_path);
    if (o->items)
        check_reject_rate(&st_items, o->max_reject_rate, rejects_path);
    if (st_campaign.path)
        check_reject_rate(&st_campaign, o->max_reject_rate, rejects_path);
    mkt_h5_commit(&out);

    double t_all = mkt_now() - t0;
    mkt_metrics_set_str(metrics, "out", o->out);
    mkt_metrics_set_str(metrics, "format", fmt);
    if (is_test) {
        mkt_metrics_set_str(metrics, "role", MKT_ROLE_TEST);
        mkt_metrics_set_str(metrics, "train_store", o->into);
    }
    mkt_metrics_set_str(metrics, "rejects_file", rejects_path);
    mkt_metrics_set_int(metrics, "users", users.n);
    mkt_metrics_set_int(metrics, "items", items.n);
    if (!is_test)
        mkt_metrics_set_int(metrics, "categories", categories.n);
    json_t *tm = mkt_metrics_child(metrics, "seconds");
    mkt_metrics_set_real(tm, "parse", t_parse);
    mkt_metrics_set_real(tm, "ids_and_items", t_store - t_ids);
    mkt_metrics_set_real(tm, "events_and_campaigns", t_end_store - t_store);
    mkt_metrics_set_real(tm, "total", t_all);
    mkt_log("ingest", "wrote %s in %.2fs", o->out, t_all);

    mkt_rejects_free(st_events.rejects);
    mkt_rejects_free(st_items.rejects);
    mkt_rejects_free(st_campaign.rejects);
    mkt_dict_free(&users);
    mkt_dict_free(&items);
    mkt_dict_free(&categories);
    mkt_dict_free(&brands);
    if (train >= 0)
        mkt_h5_close(train);
    free(raw.strings.data);
    free(raw.items);
    free(raw.campaign);
    free(raw.campaign_attr);
    for (int a = 0; a < raw.n_attr; a++)
        free(raw.attr_names[a]);
    free(raw.attr_names);
    return MKT_EXIT_OK;
}
