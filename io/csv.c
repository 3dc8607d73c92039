/* csv.c — the parallel CSV reader and the rejects log (see csv.h).
 *
 * Owns the byte-range split of an input among ranks, record and field
 * splitting and line numbering; the rejects file is io/csv_rejects.c.
 *
 * Split, identical for any rank count:
 *   1. rank r reads its nominal range [r*S/P, (r+1)*S/P) (par.h blocks) and
 *      counts its double quotes; an exclusive scan of those counts gives the
 *      quote parity at the start of the range (RFC 4180 doubled quotes keep
 *      the parity, so it is exact for well-formed files and, for any file,
 *      a property of the file alone);
 *   2. a record starts at byte 0 or right after a '\n' at even parity; each
 *      rank finds the first record start inside its nominal range (or none),
 *      the starts are allgathered, and rank r owns [start_r, start_r+1) where
 *      start_r is the first start found by a rank >= r (rank 0 owns from 0);
 *   3. the range is read into memory, and an exclusive scan of its '\n'
 *      counts gives the line number of its first byte.
 * With a multi-character delimiter there is no quoting, so parity is 0.
 *
 * Fields: records without a quote character are split in a copy by memchr;
 * records with one go through libcsv (strict, no trimming, no terminators
 * of its own: it sees exactly one record).  Nothing is allocated per
 * record; buffers only grow. */
#define MKT_CSV_INCLUDE_LIBCSV
#include <csv.h> /* io/csv.h, which then pulls in libcsv's csv.h (see there) */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "iocheck.h"
#include "par.h"
#include "parse.h"

#define ERROR_TEXT_MAX 1024

struct mkt_csv_reader {
    char single_delim;         /* the delimiter if it is one character, else 0 */
    int whitespace;            /* fields separated by runs of spaces and tabs (no quoting) */
    char multi_delim[4];       /* a multi-character delimiter ("::"), NUL-terminated */
    size_t multi_delim_len;
    int quoting;               /* 1 with a single-character delimiter */
    char *data;                /* this rank's record range, in memory */
    size_t data_len, pos;
    int64_t line;              /* physical line of data[pos] */
    int64_t range_begin, range_end, file_bytes;
    char *scratch;             /* field text of the current record */
    size_t scratch_cap, scratch_used;
    char **fields;
    size_t *field_offsets;     /* libcsv fields as offsets into scratch while parsing */
    int fields_cap, nparsed;
    struct csv_parser parser;
    int parser_ready;
    int has_header;
    mkt_csv_record header;
    char *header_storage;
};

/* ---------- small helpers ---------- */

static int64_t count_byte(const char *p, size_t n, char c)
{
    int64_t count = 0;
    const char *end = p + n;
    while (p < end && (p = memchr(p, c, (size_t)(end - p))) != NULL) {
        count++;
        p++;
    }
    return count;
}

/* Reads exactly n bytes at offset; returns 0, or -1 with errno set (EIO on a short read). */
static int read_exactly(int fd, char *buf, size_t n, int64_t offset)
{
    while (n > 0) {
        size_t chunk = n > ((size_t)1 << 30) ? ((size_t)1 << 30) : n;
        ssize_t got = pread(fd, buf, chunk, (off_t)offset);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (got == 0) {
            errno = EIO;
            return -1;
        }
        buf += got;
        n -= (size_t)got;
        offset += got;
    }
    return 0;
}

/* Collective.  If any rank has a message, every rank gets the message of
 * the lowest such rank in err and 1 is returned; else 0. */
static int agree_on_error(const char *message, char *err, size_t errlen, MPI_Comm comm)
{
    int rank, nranks;
    MKT_MPI(MPI_Comm_rank(comm, &rank));
    MKT_MPI(MPI_Comm_size(comm, &nranks));
    int mine = message[0] ? rank : nranks, first;
    MKT_MPI(MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, comm));
    if (first == nranks)
        return 0;
    char text[ERROR_TEXT_MAX];
    if (rank == first)
        snprintf(text, sizeof text, "%s", message);
    MKT_MPI(MPI_Bcast(text, (int)sizeof text, MPI_CHAR, first, comm));
    if (err && errlen > 0)
        snprintf(err, errlen, "%s", text);
    return 1;
}

static int no_space(unsigned char c)
{
    (void)c;
    return 0;
}

static int no_terminator(unsigned char c)
{
    (void)c;
    return 0;
}

/* Blank line: nothing but spaces (and a stray '\r'; in whitespace mode tabs too). */
static int is_blank(const char *p, size_t n, int tabs)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != ' ' && p[i] != '\r' && !(tabs && p[i] == '\t'))
            return 0;
    return 1;
}

/* NULL if p[0..n) is valid UTF-8 without NUL bytes, else the reason. */
static const char *text_problem(const char *p, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t word;
        memcpy(&word, p + i, 8);
        uint64_t has_zero = (word - 0x0101010101010101ULL) & ~word & 0x8080808080808080ULL;
        if ((word & 0x8080808080808080ULL) | has_zero)
            break;
    }
    for (; i < n; i++)
        if (p[i] == 0 || (p[i] & 0x80))
            break;
    if (i == n)
        return NULL;
    if (memchr(p, 0, n))
        return "NUL byte";
    if (!mkt_utf8_valid(p, n))
        return "invalid UTF-8";
    return NULL;
}

static void ensure_scratch(mkt_csv_reader *r, size_t need)
{
    if (need > r->scratch_cap) {
        size_t cap = r->scratch_cap ? r->scratch_cap : 256;
        while (cap < need)
            cap *= 2;
        r->scratch = mkt_xrealloc(r->scratch, cap);
        r->scratch_cap = cap;
    }
}

static void ensure_fields(mkt_csv_reader *r, int need)
{
    if (need > r->fields_cap) {
        int cap = r->fields_cap ? r->fields_cap : 16;
        while (cap < need) {
            if (cap > INT_MAX / 2)
                mkt_fail("csv: a record has more than %d fields", INT_MAX / 2);
            cap *= 2;
        }
        r->fields = mkt_xrealloc(r->fields, (size_t)cap * sizeof *r->fields);
        r->field_offsets = mkt_xrealloc(r->field_offsets, (size_t)cap * sizeof *r->field_offsets);
        r->fields_cap = cap;
    }
}

/* ---------- field splitting ---------- */

/* Whitespace mode: fields are the runs of non-blank bytes. */
static int split_whitespace(mkt_csv_reader *r, const char *raw, size_t len)
{
    ensure_scratch(r, len + 1);
    memcpy(r->scratch, raw, len);
    r->scratch[len] = 0;
    int n = 0;
    char *p = r->scratch, *end = r->scratch + len;
    for (;;) {
        while (p < end && (*p == ' ' || *p == '\t' || *p == '\r'))
            p++;
        if (p == end)
            break;
        ensure_fields(r, n + 1);
        r->fields[n++] = p;
        while (p < end && *p != ' ' && *p != '\t' && *p != '\r')
            p++;
        if (p == end)
            break;
        *p++ = 0;
    }
    return n;
}

/* Plain split of a copy of the record at the delimiter; returns the field count. */
static int split_plain(mkt_csv_reader *r, const char *raw, size_t len)
{
    if (r->whitespace)
        return split_whitespace(r, raw, len);
    ensure_scratch(r, len + 1);
    memcpy(r->scratch, raw, len);
    r->scratch[len] = 0;
    char *field = r->scratch, *end = r->scratch + len;
    int n = 0;
    for (;;) {
        ensure_fields(r, n + 1);
        r->fields[n++] = field;
        char *next;
        if (r->single_delim) {
            next = memchr(field, r->single_delim, (size_t)(end - field));
        } else {
            next = NULL;
            for (char *p = field; (p = memchr(p, r->multi_delim[0], (size_t)(end - p))) != NULL; p++) {
                if ((size_t)(end - p) < r->multi_delim_len)
                    break;
                if (memcmp(p, r->multi_delim, r->multi_delim_len) == 0) {
                    next = p;
                    break;
                }
            }
        }
        if (!next)
            break;
        *next = 0;
        field = next + (r->single_delim ? 1 : r->multi_delim_len);
    }
    return n;
}

static void on_libcsv_field(void *text, size_t len, void *data)
{
    mkt_csv_reader *r = data;
    ensure_fields(r, r->nparsed + 1);
    ensure_scratch(r, r->scratch_used + len + 1);
    if (len > 0)
        memcpy(r->scratch + r->scratch_used, text, len);
    r->scratch[r->scratch_used + len] = 0;
    r->field_offsets[r->nparsed++] = r->scratch_used;
    r->scratch_used += len + 1;
}

/* Puts the parser back to the start of a record after an error. */
static void reset_parser(mkt_csv_reader *r)
{
    int options = csv_get_opts(&r->parser);
    csv_set_opts(&r->parser, 0); /* no strict checks: csv_fini then always resets */
    csv_fini(&r->parser, NULL, NULL, NULL);
    csv_set_opts(&r->parser, (unsigned char)options);
}

/* RFC 4180 split through libcsv; returns the field count or -1 with *reason. */
static int split_quoted(mkt_csv_reader *r, const char *raw, size_t len, const char **reason)
{
    r->nparsed = 0;
    r->scratch_used = 0;
    ensure_scratch(r, len + 1);
    if (csv_parse(&r->parser, raw, len, on_libcsv_field, NULL, r) != len || csv_error(&r->parser) != CSV_SUCCESS) {
        int code = csv_error(&r->parser);
        reset_parser(r);
        if (code == CSV_ENOMEM || code == CSV_ETOOBIG)
            mkt_fail("csv: libcsv: %s", csv_strerror(code));
        *reason = "stray quote";
        return -1;
    }
    if (csv_fini(&r->parser, on_libcsv_field, NULL, r) != 0) {
        reset_parser(r);
        *reason = "unterminated quoted field";
        return -1;
    }
    for (int i = 0; i < r->nparsed; i++)
        r->fields[i] = r->scratch + r->field_offsets[i];
    return r->nparsed;
}

/* ---------- records ---------- */

/* Advances over blank lines at the current position. */
static void skip_blank_lines(mkt_csv_reader *r)
{
    while (r->pos < r->data_len) {
        const char *start = r->data + r->pos;
        size_t avail = r->data_len - r->pos;
        const char *newline = memchr(start, '\n', avail);
        size_t line_len = newline ? (size_t)(newline - start) : avail;
        if (!is_blank(start, line_len, r->whitespace))
            return;
        r->pos += newline ? line_len + 1 : line_len;
        r->line += newline != NULL;
    }
}

int mkt_csv_next(mkt_csv_reader *r, mkt_csv_record *rec, const char **bad_reason)
{
    const char *ignored;
    if (!bad_reason)
        bad_reason = &ignored;
    *bad_reason = NULL;
    for (;;) {
        if (r->pos >= r->data_len)
            return 0;
        const char *start = r->data + r->pos;
        size_t avail = r->data_len - r->pos;
        const char *newline = memchr(start, '\n', avail);
        size_t end = newline ? (size_t)(newline - start) : avail; /* offset of the record's '\n' or avail */
        int has_quote = 0, unterminated = 0;
        int64_t inner_newlines = 0;
        if (r->quoting) {
            const char *quote = memchr(start, '"', end);
            if (quote) {
                /* Bytes before the first quote hold no '\n'; from there on, track parity. */
                has_quote = 1;
                int inside = 0;
                size_t i = (size_t)(quote - start);
                for (; i < avail; i++) {
                    char c = start[i];
                    if (c == '"')
                        inside ^= 1;
                    else if (c == '\n') {
                        if (!inside)
                            break;
                        inner_newlines++;
                    }
                }
                end = i;
                unterminated = inside;
            }
        }
        size_t len = end;
        int64_t lines = inner_newlines + 1;
        if (unterminated && len > 0 && start[len - 1] == '\n') {
            len--; /* the file's last line end, swallowed by the open quote */
            lines--;
        }
        if (len > 0 && start[len - 1] == '\r')
            len--;
        rec->line = r->line;
        rec->lines = lines;
        r->line += inner_newlines + (end < avail);
        r->pos += end < avail ? end + 1 : end;
        if (!has_quote && is_blank(start, len, r->whitespace))
            continue;
        rec->raw = start;
        rec->raw_len = len;
        const char *reason = NULL;
        if (unterminated)
            reason = "unterminated quoted field";
        else if (rec->lines > MKT_CSV_MAX_RECORD_LINES)
            reason = "quoted field spans too many lines";
        else
            reason = text_problem(start, len);
        int n = -1;
        if (!reason)
            n = has_quote ? split_quoted(r, start, len, &reason) : split_plain(r, start, len);
        if (n == 0)
            mkt_fail("csv: a record without fields at line %lld", (long long)rec->line); /* is_blank skips them */
        if (n < 0) {
            rec->nfields = -1;
            rec->fields = NULL;
            *bad_reason = reason;
        } else {
            rec->nfields = n;
            rec->fields = r->fields;
        }
        return 1;
    }
}

/* ---------- opening: the split ---------- */

static int check_dialect(const mkt_csv_dialect *d, mkt_csv_reader *r, const char *path, char *msg, size_t msglen)
{
    if (d->whitespace) {
        r->whitespace = 1;
        return 0;
    }
    size_t len = strnlen(d->delim, sizeof d->delim);
    int ok = len > 0 && len < sizeof d->delim;
    for (size_t i = 0; ok && i < len; i++)
        if (d->delim[i] == '\n' || d->delim[i] == '\r' || (len == 1 && d->delim[i] == '"'))
            ok = 0;
    if (!ok) {
        snprintf(msg, msglen,
                 "%s: invalid CSV delimiter (want one character such as ',' or a short string such as '::')", path);
        return -1;
    }
    if (len == 1) {
        r->single_delim = d->delim[0];
        r->quoting = 1;
    } else {
        memcpy(r->multi_delim, d->delim, len);
        r->multi_delim[len] = 0;
        r->multi_delim_len = len;
    }
    return 0;
}

/* Header: the first non-blank record of the file, found on the lowest rank
 * that has one, parsed there and broadcast.  Returns 0, or -1 with msg. */
static int share_header(mkt_csv_reader *r, const char *path, MPI_Comm comm, char *msg, size_t msglen)
{
    int rank, nranks;
    MKT_MPI(MPI_Comm_rank(comm, &rank));
    MKT_MPI(MPI_Comm_size(comm, &nranks));
    skip_blank_lines(r);
    int mine = r->pos < r->data_len ? rank : nranks, owner;
    MKT_MPI(MPI_Allreduce(&mine, &owner, 1, MPI_INT, MPI_MIN, comm));
    if (owner == nranks)
        return 0; /* no record at all: no header */
    /* Layout: int64 line, int64 nfields (-1: bad), int64 raw_len, raw, then the
     * fields NUL-terminated one after another (or the reason if bad). */
    char *packed = NULL;
    int64_t packed_len = 0;
    if (rank == owner) {
        mkt_csv_record rec;
        const char *reason = NULL;
        mkt_csv_next(r, &rec, &reason);
        size_t text = 0;
        if (rec.nfields < 0)
            text = strlen(reason) + 1;
        for (int i = 0; i < rec.nfields; i++)
            text += strlen(rec.fields[i]) + 1;
        packed_len = (int64_t)(3 * sizeof(int64_t) + rec.raw_len + text);
        packed = mkt_xmalloc((size_t)packed_len);
        int64_t head[3] = {rec.line, rec.nfields, (int64_t)rec.raw_len};
        memcpy(packed, head, sizeof head);
        char *p = packed + sizeof head;
        memcpy(p, rec.raw, rec.raw_len);
        p += rec.raw_len;
        if (rec.nfields < 0) {
            memcpy(p, reason, strlen(reason) + 1);
        } else {
            for (int i = 0; i < rec.nfields; i++) {
                size_t n = strlen(rec.fields[i]) + 1;
                memcpy(p, rec.fields[i], n);
                p += n;
            }
        }
    }
    MKT_MPI(MPI_Bcast(&packed_len, 1, MPI_INT64_T, owner, comm));
    if (packed_len > INT_MAX)
        mkt_fail("csv: %s: the header record is larger than 2 GiB", path);
    if (rank != owner)
        packed = mkt_xmalloc((size_t)packed_len);
    MKT_MPI(MPI_Bcast(packed, (int)packed_len, MPI_BYTE, owner, comm));
    int64_t head[3];
    memcpy(head, packed, sizeof head);
    char *raw = packed + sizeof head;
    char *text = raw + head[2];
    if (head[1] < 0) {
        snprintf(msg, msglen, "%s: line %" PRId64 ": bad header record: %s", path, head[0], text);
        free(packed);
        return -1;
    }
    r->header_storage = packed;
    r->header.line = head[0];
    r->header.lines = 1;
    r->header.nfields = (int)head[1];
    r->header.raw = raw;
    r->header.raw_len = (size_t)head[2];
    r->header.fields = mkt_xmalloc((size_t)(head[1] > 0 ? head[1] : 1) * sizeof(char *));
    for (int i = 0; i < r->header.nfields; i++) {
        r->header.fields[i] = text;
        text += strlen(text) + 1;
    }
    r->has_header = 1;
    return 0;
}

/* Collective.  Checks the dialect, opens the file and agrees on its size
 * on every rank (*fd stays open on success, for the caller to close).
 * Returns 0, or 1 with the message of the first failing rank in err. */
static int open_file(mkt_csv_reader *r, const mkt_csv_dialect *d, const char *path, int *fd, int64_t *size,
                     char *err, size_t errlen, MPI_Comm comm)
{
    char msg[ERROR_TEXT_MAX] = "";
    if (check_dialect(d, r, path, msg, sizeof msg) == 0) {
        *fd = open(path, O_RDONLY | O_CLOEXEC);
        struct stat st;
        if (*fd < 0)
            snprintf(msg, sizeof msg, "cannot open %s: %s", path, strerror(errno));
        else if (fstat(*fd, &st) != 0)
            snprintf(msg, sizeof msg, "cannot read %s: %s", path, strerror(errno));
        else if (S_ISDIR(st.st_mode))
            snprintf(msg, sizeof msg, "cannot read %s: %s", path, strerror(EISDIR));
        else
            *size = (int64_t)st.st_size;
    }
    if (agree_on_error(msg, err, errlen, comm))
        return 1;
    int64_t sizes[2] = {*size, -*size}, extremes[2];
    MKT_MPI(MPI_Allreduce(sizes, extremes, 2, MPI_INT64_T, MPI_MAX, comm));
    if (extremes[0] != -extremes[1])
        snprintf(msg, sizeof msg, "%s: ranks see different file sizes (%" PRId64 " and %" PRId64 " bytes)", path,
                 -extremes[1], extremes[0]);
    if (agree_on_error(msg, err, errlen, comm))
        return 1;
    r->file_bytes = *size;
    return 0;
}

/* Collective.  Line ends: a file whose line ends are bare carriage returns
 * would read as one record (or none); refuse it with a message that says
 * why.  own is this rank's nominal range inside buf.  Returns as open_file. */
static int check_line_ends(const char *buf, const char *own, size_t own_len, const char *path, char *err,
                           size_t errlen, MPI_Comm comm)
{
    char msg[ERROR_TEXT_MAX] = "";
    int64_t ends[3] = {count_byte(own, own_len, '\r'), 0, 0}; /* CR, LF, CR LF */
    for (const char *p = own, *end = own + own_len; p < end && (p = memchr(p, '\n', (size_t)(end - p))) != NULL; p++) {
        ends[1]++;
        ends[2] += (p > buf && p[-1] == '\r');
    }
    MKT_MPI(MPI_Allreduce(MPI_IN_PLACE, ends, 3, MPI_INT64_T, MPI_SUM, comm));
    int64_t bare_cr = ends[0] - ends[2];
    if (bare_cr > 0 && bare_cr >= ends[1])
        snprintf(msg, sizeof msg,
                 "%s: its line ends are carriage returns without line feeds (%" PRId64 " bare CR, %" PRId64
                 " LF): a file saved with classic Mac line ends; convert it first, e.g. tr '\\r' '\\n' < %s > "
                 "fixed.csv",
                 path, bare_cr, ends[1], path);
    return agree_on_error(msg, err, errlen, comm);
}

/* The first record start in [begin, begin + own_len) (own holds those
 * bytes, own[-1] the byte before when begin > 0), or `size` for none;
 * quotes_before: the quotes in the file before begin. */
static int64_t first_record_start(const mkt_csv_reader *r, const char *own, size_t own_len, int64_t begin,
                                  int64_t quotes_before, int64_t size)
{
    int64_t found = size;
    if (own_len > 0) {
        if (begin == 0 || (own[-1] == '\n' && !(quotes_before & 1))) {
            found = begin;
        } else if (!r->quoting) {
            const char *newline = memchr(own, '\n', own_len - 1);
            if (newline)
                found = begin + (newline - own) + 1;
        } else {
            int inside = (int)(quotes_before & 1);
            for (size_t i = 0; i + 1 < own_len; i++) {
                if (own[i] == '"')
                    inside ^= 1;
                else if (own[i] == '\n' && !inside) {
                    found = begin + (int64_t)i + 1;
                    break;
                }
            }
        }
    }
    return found;
}

/* Collective.  This rank's records run from its first record start (byte
 * 0 on rank 0) to the first start of a later rank. */
static void settle_range(mkt_csv_reader *r, int64_t found, int64_t size, MPI_Comm comm)
{
    int rank, nranks;
    MKT_MPI(MPI_Comm_rank(comm, &rank));
    MKT_MPI(MPI_Comm_size(comm, &nranks));
    int64_t *starts = mkt_xmalloc((size_t)nranks * sizeof *starts);
    MKT_MPI(MPI_Allgather(&found, 1, MPI_INT64_T, starts, 1, MPI_INT64_T, comm));
    int64_t next_start = size;
    for (int q = nranks - 1; q > rank; q--)
        if (starts[q] < next_start)
            next_start = starts[q];
    int64_t begin = rank == 0 ? 0 : (starts[rank] < next_start ? starts[rank] : next_start);
    free(starts);
    r->range_begin = begin;
    r->range_end = next_start;
}

/* The bytes of r's range into r->data: what buf (read from byte base up to
 * nominal_end) holds of it is kept, the rest read; msg set on a failed read. */
static void read_range(mkt_csv_reader *r, int fd, char *buf, int64_t base, int64_t nominal_end, const char *path,
                       char *msg, size_t msglen)
{
    int64_t begin = r->range_begin;
    size_t len = (size_t)(r->range_end - begin);
    if (len == 0) {
        free(buf);
        buf = mkt_xmalloc(1);
    } else {
        size_t kept = (size_t)(nominal_end - begin);
        memmove(buf, buf + (begin - base), kept);
        buf = mkt_xrealloc(buf, len + 1);
        if (len > kept && read_exactly(fd, buf + kept, len - kept, nominal_end) != 0)
            snprintf(msg, msglen, "cannot read %s: %s", path, strerror(errno));
    }
    buf[len] = 0;
    r->data = buf;
    r->data_len = len;
}

static void init_parser(mkt_csv_reader *r)
{
    if (csv_init(&r->parser, CSV_STRICT | CSV_STRICT_FINI | CSV_APPEND_NULL) != 0)
        mkt_fail("csv: libcsv initialisation failed");
    csv_set_delim(&r->parser, (unsigned char)r->single_delim);
    csv_set_quote(&r->parser, '"');
    csv_set_space_func(&r->parser, no_space);
    csv_set_term_func(&r->parser, no_terminator);
    r->parser_ready = 1;
}

mkt_csv_reader *mkt_csv_open(const char *path, const mkt_csv_dialect *d, MPI_Comm comm, char *err, size_t errlen)
{
    int rank, nranks;
    MKT_MPI(MPI_Comm_rank(comm, &rank));
    MKT_MPI(MPI_Comm_size(comm, &nranks));
    if (err && errlen > 0)
        err[0] = 0;
    mkt_csv_reader *r = mkt_xcalloc(1, sizeof *r);
    char msg[ERROR_TEXT_MAX] = "";
    int fd = -1;
    int64_t size = 0;
    if (open_file(r, d, path, &fd, &size, err, errlen, comm))
        goto fail;

    /* 1. nominal range, with one byte before it to see a '\n' ending right there */
    mkt_block nominal = mkt_block_of(size, nranks, rank);
    int64_t base = nominal.begin > 0 ? nominal.begin - 1 : 0;
    size_t nominal_len = (size_t)(nominal.end - base);
    char *buf = mkt_xmalloc(nominal_len + 1);
    if (nominal.end > nominal.begin && read_exactly(fd, buf, nominal_len, base) != 0)
        snprintf(msg, sizeof msg, "cannot read %s: %s", path, strerror(errno));
    if (agree_on_error(msg, err, errlen, comm)) {
        free(buf);
        goto fail;
    }
    const char *own = buf + (nominal.begin - base); /* byte nominal.begin */
    size_t own_len = (size_t)(nominal.end - nominal.begin);
    int64_t quotes = r->quoting ? count_byte(own, own_len, '"') : 0;
    int64_t quotes_before = mkt_exscan_count(quotes, NULL, comm);
    if (check_line_ends(buf, own, own_len, path, err, errlen, comm)) {
        free(buf);
        goto fail;
    }

    /* 2. first record start in [nominal.begin, nominal.end), or `size` for none */
    settle_range(r, first_record_start(r, own, own_len, nominal.begin, quotes_before, size), size, comm);

    /* 3. the real range: keep what we have of [begin, nominal.end), read the rest */
    read_range(r, fd, buf, base, nominal.end, path, msg, sizeof msg);
    close(fd);
    fd = -1;
    if (agree_on_error(msg, err, errlen, comm))
        goto fail;
    r->line = 1 + mkt_exscan_count(count_byte(r->data, r->data_len, '\n'), NULL, comm);
    if (rank == 0 && r->data_len >= 3 && memcmp(r->data, "\xEF\xBB\xBF", 3) == 0)
        r->pos = 3;

    if (r->quoting)
        init_parser(r);
    if (d->has_header) {
        if (share_header(r, path, comm, msg, sizeof msg) != 0) {
            if (err && errlen > 0)
                snprintf(err, errlen, "%s", msg);
            goto fail;
        }
    }
    return r;

fail:
    if (fd >= 0)
        close(fd);
    mkt_csv_close(r);
    return NULL;
}

const mkt_csv_record *mkt_csv_header(const mkt_csv_reader *r) { return r->has_header ? &r->header : NULL; }

int64_t mkt_csv_local_bytes(const mkt_csv_reader *r) { return r->range_end - r->range_begin; }

int64_t mkt_csv_file_bytes(const mkt_csv_reader *r) { return r->file_bytes; }

void mkt_csv_close(mkt_csv_reader *r)
{
    if (!r)
        return;
    if (r->parser_ready)
        csv_free(&r->parser);
    free(r->data);
    free(r->scratch);
    free(r->fields);
    free(r->field_offsets);
    free(r->header.fields);
    free(r->header_storage);
    free(r);
}
