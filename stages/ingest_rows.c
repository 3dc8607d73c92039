/* ingest_rows.c — the row-level rules every ingest reader shares: the
 * string arena, counting each record as read, stored or rejected (with its
 * line and reason), finding columns by name or position, cleaning ids,
 * reading timestamps and checking values against their ranges, and the CSV
 * dialect of each input (--delimiter or detected).  It does not know any
 * input format's columns (ingest_events.c, ingest_campaign.c) and writes
 * nothing to the store. */
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

int64_t ingest_arena_add(arena *a, const char *s)
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

/* A rejected record counts as the physical lines it spans (read and
 * rejected), so a stray quote that swallowed 900 lines weighs 900 rows
 * against max_reject_rate, not one; a stored record counts one row. */
void ingest_reject(input_stats *st, const mkt_csv_record *rec, const char *reason)
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
int ingest_next_row_min(mkt_csv_reader *r, mkt_csv_record *rec, input_stats *st, int nfields, int min_fields,
                        mkt_progress *prog)
{
    const char *bad;
    char why[128];
    while (mkt_csv_next(r, rec, &bad)) {
        if ((++st->read & 0xffff) == 0)
            mkt_progress_update(prog, st->read * mkt_nranks()); /* ranks hold similar shares */
        if (rec->nfields < 0) {
            ingest_reject(st, rec, bad);
            continue;
        }
        if (nfields >= 0 && rec->nfields != nfields) {
            snprintf(why, sizeof why, "expected %d fields, found %d", nfields, rec->nfields);
            ingest_reject(st, rec, why);
            continue;
        }
        if (nfields < 0 && rec->nfields < min_fields) {
            snprintf(why, sizeof why, "expected at least %d fields, found %d", min_fields, rec->nfields);
            ingest_reject(st, rec, why);
            continue;
        }
        return 1;
    }
    return 0;
}

int ingest_next_row(mkt_csv_reader *r, mkt_csv_record *rec, input_stats *st, int nfields, mkt_progress *prog)
{
    return ingest_next_row_min(r, rec, st, nfields, 0, prog);
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

int ingest_column_index(const mkt_csv_record *header, const char *name)
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
int ingest_require_column(const mkt_csv_record *header, const char *path, const char *option, const char *name)
{
    int c = ingest_column_index(header, name);
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
int ingest_optional_column(const mkt_csv_record *header, const char *path, const char *option, const char *name,
                           const char *default_name)
{
    if (!name || !*name)
        return -1;
    if (!strcmp(name, default_name))
        return ingest_column_index(header, name);
    return ingest_require_column(header, path, option, name);
}

/* A column the preset needs unless the job says the file has none (an empty name). */
int ingest_needed_column(const mkt_csv_record *header, const char *path, const char *option, const char *name)
{
    if (!name || !*name)
        return -1;
    int c = ingest_column_index(header, name);
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
void ingest_check_header(const mkt_csv_record *h, const char *path)
{
    for (int i = 0; h && i < h->nfields; i++)
        for (int j = i + 1; j < h->nfields; j++)
            if (strcasecmp(h->fields[i], h->fields[j]) == 0)
                mkt_fail_all(MKT_EXIT_USAGE,
                             "ingest: %s: the header names column '%s' twice (columns %d and %d); rename one", path,
                             h->fields[i], i + 1, j + 1);
}

const char *ingest_field(const mkt_csv_record *rec, int col) { return col >= 0 ? rec->fields[col] : ""; }

int ingest_is_blank(const char *s)
{
    for (; *s; s++)
        if (!isspace((unsigned char)*s))
            return 0;
    return 1;
}

static const char id_too_long[] = "(too long)";

/* Copy an id without surrounding spaces into buf (MKT_ID_MAX + 1 bytes);
 * returns NULL if empty, id_too_long if it does not fit. */
const char *ingest_clean_id(const char *s, char *buf, size_t len)
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
int ingest_reject_id(input_stats *st, const mkt_csv_record *rec, const char *id, const char *what, int empty_ok)
{
    char why[128];
    if (!id && !empty_ok) {
        snprintf(why, sizeof why, "empty %s", what);
        ingest_reject(st, rec, why);
        return 1;
    }
    if (id == id_too_long) {
        snprintf(why, sizeof why, "%s longer than %d bytes", what, MKT_ID_MAX);
        ingest_reject(st, rec, why);
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
int ingest_take_timestamp(const raw_data *raw, input_stats *st, const mkt_csv_record *rec, const char *text,
                          int64_t *ts)
{
    if (parse_ts(&raw->ts, text, ts) != 0) {
        ingest_reject(st, rec, "unparsable timestamp");
        return -1;
    }
    if (*ts < raw->ts_lo || *ts >= raw->ts_hi) {
        ingest_reject(st, rec, raw->ts_reason);
        return -1;
    }
    return 0;
}

/* A rating outside --rating-range; 1 if rejected. */
int ingest_reject_rating(const raw_data *raw, input_stats *st, const mkt_csv_record *rec, double v)
{
    if (v >= raw->rating_lo && v <= raw->rating_hi)
        return 0;
    ingest_reject(st, rec, raw->rating_reason);
    return 1;
}

int ingest_reject_amount(input_stats *st, const mkt_csv_record *rec, double v, const char *what)
{
    if (fabs(v) <= MKT_AMOUNT_MAX)
        return 0;
    char why[128];
    snprintf(why, sizeof why, "%s out of range (magnitude above %g)", what, MKT_AMOUNT_MAX);
    ingest_reject(st, rec, why);
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
int ingest_reject_attributes(input_stats *st, const mkt_csv_record *rec, const raw_data *raw, const int *attr_col)
{
    char buf[MKT_ID_MAX + 1], why[MKT_ID_MAX + 160];
    for (int a = 0; a < raw->n_attr; a++) {
        const char *text = rec->fields[attr_col[a]];
        if (ingest_clean_id(text, buf, sizeof buf) == id_too_long) {
            snprintf(why, sizeof why, "value of column %.200s longer than %d bytes", raw->attr_names[a], MKT_ID_MAX);
            ingest_reject(st, rec, why);
            return 1;
        }
        if (nonfinite_number(text)) {
            snprintf(why, sizeof why, "non-finite number in column %.200s", raw->attr_names[a]);
            ingest_reject(st, rec, why);
            return 1;
        }
    }
    return 0;
}

/* Test stores: a row whose user or item the training store does not know is
 * rejected, and counted apart from malformed rows.  1: keep the row. */
int ingest_known_ids(const raw_data *raw, input_stats *st, const mkt_csv_record *rec, const char *user,
                     const char *item)
{
    if (!raw->known_users)
        return 1;
    if (mkt_dict_find(raw->known_users, user) < 0) {
        st->unknown_user += rec->lines > 1 ? rec->lines : 1;
        ingest_reject(st, rec, "unknown user");
        return 0;
    }
    if (mkt_dict_find(raw->known_items, item) < 0) {
        st->unknown_item += rec->lines > 1 ? rec->lines : 1;
        ingest_reject(st, rec, "unknown item");
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
mkt_csv_dialect ingest_input_dialect(const char *delimiter, const char *path, int header, MPI_Comm comm)
{
    return dialect_for(delimiter && *delimiter ? delimiter : detect_delimiter(path, comm), header);
}

mkt_csv_reader *ingest_open_input(const char *path, const mkt_csv_dialect *d, MPI_Comm comm)
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
void ingest_decide_ts(raw_data *raw, const mkt_ingest_options *o, const char *path, const mkt_csv_dialect *d,
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
        else /* dmy: the names are checked by mkt_ingest_check_options */
            rule.dmy = 1;
        raw->ts = rule;
        return;
    }
    mkt_csv_reader *r = ingest_open_input(path, d, comm);
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
int ingest_fields_needed(const int *cols, int n)
{
    int need = 0;
    for (int i = 0; i < n; i++)
        if (cols[i] + 1 > need)
            need = cols[i] + 1;
    return need;
}

/* A column option of a preset: the generic default name (user, item, ...)
 * stands for the preset's own column. */
const char *ingest_preset_col(const char *option_value, const char *generic_default, const char *preset_default)
{
    return option_value && !strcmp(option_value, generic_default) ? preset_default : option_value;
}

