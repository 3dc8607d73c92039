/* test_csv.c — the parallel CSV reader and the rejects log of io/csv.c.
 *
 * Run alone it checks record and field splitting on tricky inputs written
 * to temporary files (BOM, CRLF, quoted delimiters/newlines/quotes, blank
 * lines, no final newline, bad quoting, bad UTF-8, "::" and tab
 * delimiters), line numbers and the rejects file.  Run under
 * `mpirun -np N` (ctest mpi.csv_split.npN), rank 0 also runs those, and
 * all ranks together check that the records of every rank, gathered in
 * rank order, equal a one-process parse of the same file byte for byte —
 * on a generated file whose quoted multi-line fields straddle the range
 * boundaries, and on many prefixes of it — and that the rejects file
 * written by N ranks equals the one written by one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <mpi.h>

#include "csv.h"

/* ---------- helpers ---------- */

typedef struct {
    char *data;
    size_t len, cap;
} text_buffer;

static void text_append(text_buffer *t, const void *bytes, size_t n)
{
    if (t->len + n + 1 > t->cap) {
        t->cap = t->cap ? t->cap : 1024;
        while (t->len + n + 1 > t->cap)
            t->cap *= 2;
        t->data = realloc(t->data, t->cap);
        assert_non_null(t->data);
    }
    if (n > 0)
        memcpy(t->data + t->len, bytes, n);
    t->len += n;
    t->data[t->len] = 0;
}

static void text_printf(text_buffer *t, const char *fmt, ...)
{
    va_list ap, again;
    va_start(ap, fmt);
    va_copy(again, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *tmp = malloc((size_t)n + 1);
    vsnprintf(tmp, (size_t)n + 1, fmt, again);
    va_end(again);
    text_append(t, tmp, (size_t)n);
    free(tmp);
}

static char *temp_path(void)
{
    const char *dir = getenv("TMPDIR");
    char *path = malloc(4096);
    snprintf(path, 4096, "%s/mkt_test_csv_XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    return path;
}

static char *write_temp(const char *content, size_t len)
{
    char *path = temp_path();
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(content, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
    return path;
}

static char *read_whole(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    text_buffer t = {0};
    char buf[4096];
    size_t n;
    text_append(&t, "", 0);
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        text_append(&t, buf, n);
    fclose(f);
    return t.data;
}

static mkt_csv_dialect dialect(const char *delim, int has_header)
{
    mkt_csv_dialect d;
    memset(&d, 0, sizeof d);
    snprintf(d.delim, sizeof d.delim, "%s", delim);
    d.has_header = has_header;
    return d;
}

/* One record as text: "line|nfields|field<US>field...|raw" or "line|bad|reason|raw"
 * (US is the unit separator, 0x1f). */
static void describe_record(text_buffer *t, const mkt_csv_record *rec, const char *bad)
{
    text_printf(t, "%lld|", (long long)rec->line);
    if (rec->nfields < 0) {
        text_printf(t, "bad|%s", bad);
    } else {
        text_printf(t, "%d|", rec->nfields);
        for (int i = 0; i < rec->nfields; i++) {
            if (i)
                text_append(t, "\x1f", 1);
            text_append(t, rec->fields[i], strlen(rec->fields[i]));
        }
    }
    text_append(t, "|", 1);
    for (size_t i = 0; i < rec->raw_len; i++) /* NUL bytes shown as <NUL> */
        text_append(t, rec->raw[i] ? rec->raw + i : "<NUL>", rec->raw[i] ? 1 : 5);
    text_append(t, "\n", 1);
}

typedef struct {
    int ok;
    char err[1024];
    text_buffer header;  /* describe_record of the header, empty if none */
    text_buffer records; /* this rank's records */
    int64_t count, local_bytes, file_bytes;
} parse_result;

static parse_result parse_file(const char *path, const mkt_csv_dialect *d, MPI_Comm comm, mkt_rejects *rejects)
{
    parse_result out;
    memset(&out, 0, sizeof out);
    text_append(&out.header, "", 0);
    text_append(&out.records, "", 0);
    mkt_csv_reader *r = mkt_csv_open(path, d, comm, out.err, sizeof out.err);
    if (!r)
        return out;
    out.ok = 1;
    const mkt_csv_record *h = mkt_csv_header(r);
    if (h)
        describe_record(&out.header, h, NULL);
    mkt_csv_record rec;
    const char *bad = "unset";
    while (mkt_csv_next(r, &rec, &bad)) {
        if (rec.nfields >= 0 && bad != NULL)
            fail_msg("a good record came with a reason");
        describe_record(&out.records, &rec, bad);
        out.count++;
        if (rejects && rec.nfields < 0)
            mkt_rejects_add(rejects, rec.line, bad, rec.raw, rec.raw_len);
        else if (rejects && rec.nfields != 4) {
            char why[64];
            snprintf(why, sizeof why, "expected 4 fields, found %d", rec.nfields);
            mkt_rejects_add(rejects, rec.line, why, rec.raw, rec.raw_len);
        }
    }
    out.local_bytes = mkt_csv_local_bytes(r);
    out.file_bytes = mkt_csv_file_bytes(r);
    mkt_csv_close(r);
    return out;
}

static void free_result(parse_result *p)
{
    free(p->header.data);
    free(p->records.data);
}

/* Parses content with one process and compares the records with `want`. */
static void check_parse(const char *content, size_t len, const char *delim, int has_header, const char *want_header,
                        const char *want_records)
{
    char *path = write_temp(content, len);
    mkt_csv_dialect d = dialect(delim, has_header);
    parse_result p = parse_file(path, &d, MPI_COMM_SELF, NULL);
    unlink(path);
    free(path);
    if (!p.ok)
        fail_msg("open failed: %s", p.err);
    assert_string_equal(p.header.data, want_header);
    assert_string_equal(p.records.data, want_records);
    assert_int_equal(p.local_bytes, (int64_t)len);
    assert_int_equal(p.file_bytes, (int64_t)len);
    free_result(&p);
}

#define CHECK(content, delim, header, want_header, want_records)                                              \
    check_parse(content, sizeof(content) - 1, delim, header, want_header, want_records)

/* ---------- record and field splitting, one process ---------- */

static void test_bom_crlf_header(void **state)
{
    (void)state;
    CHECK("\xEF\xBB\xBF"
          "a,b,c\r\n1,2,3\r\n\r\n4,\"x,y\",6\r\n",
          ",", 1, "1|3|a\x1f" "b\x1f" "c|a,b,c\n",
          "2|3|1\x1f" "2\x1f" "3|1,2,3\n"
          "4|3|4\x1fx,y\x1f" "6|4,\"x,y\",6\n");
}

static void test_quoted_newlines_and_quotes(void **state)
{
    (void)state;
    CHECK("id,text\n1,\"line1\nline2\"\n2,\"say \"\"hi\"\"\"\n3,\"a\r\nb\"\r\n4,plain\n5,\"\"\n",
          ",", 1, "1|2|id\x1ftext|id,text\n",
          "2|2|1\x1fline1\nline2|1,\"line1\nline2\"\n"
          "4|2|2\x1fsay \"hi\"|2,\"say \"\"hi\"\"\"\n"
          "5|2|3\x1f" "a\r\nb|3,\"a\r\nb\"\n" /* CRLF inside quotes is kept */
          "7|2|4\x1fplain|4,plain\n"           /* line 7: the quoted field above spans lines 5-6 */
          "8|2|5\x1f|5,\"\"\n");
}

static void test_multiline_field_line_numbers(void **state)
{
    (void)state;
    CHECK("\"a\n\n\nb\",1\n\n2,2\n\"\n\",3\nlast,4",
          ",", 0, "",
          "1|2|a\n\n\nb\x1f" "1|\"a\n\n\nb\",1\n"
          "6|2|2\x1f" "2|2,2\n"
          "7|2|\n\x1f" "3|\"\n\",3\n"
          "9|2|last\x1f" "4|last,4\n");
}

static void test_blank_lines_no_final_newline(void **state)
{
    (void)state;
    CHECK("\n\n  \r\nx,y\n\n\r\n\nz,w", ",", 0, "",
          "4|2|x\x1fy|x,y\n"
          "8|2|z\x1fw|z,w\n");
    CHECK("\n\nh1,h2\n1,2\n", ",", 1, "3|2|h1\x1fh2|h1,h2\n", "4|2|1\x1f" "2|1,2\n");
    CHECK("", ",", 1, "", "");
    CHECK("\n\n", ",", 1, "", "");
    CHECK("only,header\r\n", ",", 1, "1|2|only\x1fheader|only,header\n", "");
}

static void test_empty_and_edge_fields(void **state)
{
    (void)state;
    CHECK(",\n\"a\",\n,\"\"\n a , b \n", ",", 0, "",
          "1|2|\x1f|,\n"
          "2|2|a\x1f|\"a\",\n"
          "3|2|\x1f|,\"\"\n"
          "4|2| a \x1f b | a , b \n"); /* no trimming */
    CHECK("a\t\tb\n\"x\ty\"\tz\n", "\t", 0, "",
          "1|3|a\x1f\x1f" "b|a\t\tb\n"
          "2|2|x\ty\x1fz|\"x\ty\"\tz\n");
    CHECK("a;\"b;c\";d\n", ";", 0, "", "1|3|a\x1f" "b;c\x1f" "d|a;\"b;c\";d\n");
}

static void test_bad_records(void **state)
{
    (void)state;
    CHECK("1,ab\"\"c,2\n\"abc\"x,1\n1, \"x\"\n3,ok,4\n", ",", 0, "",
          "1|bad|stray quote|1,ab\"\"c,2\n"
          "2|bad|stray quote|\"abc\"x,1\n"
          "3|bad|stray quote|1, \"x\"\n"
          "4|3|3\x1fok\x1f" "4|3,ok,4\n");
    CHECK("1,\xC3\x28,3\n2,caf\xC3\xA9,4\n5,\"\xED\xA0\x80\",6\n", ",", 0, "",
          "1|bad|invalid UTF-8|1,\xC3\x28,3\n"
          "2|3|2\x1f" "caf\xC3\xA9\x1f" "4|2,caf\xC3\xA9,4\n"
          "3|bad|invalid UTF-8|5,\"\xED\xA0\x80\",6\n");
    static const char nul[] = "a,b\x00" "c\nd,e\n";
    check_parse(nul, sizeof nul - 1, ",", 0, "",
                "1|bad|NUL byte|a,b<NUL>c\n"
                "2|2|d\x1f" "e|d,e\n");
    CHECK("a,b\n1,\"oops\n2,3\n", ",", 1, "1|2|a\x1f" "b|a,b\n",
          "2|bad|unterminated quoted field|1,\"oops\n2,3\n");
}

static void test_bad_header(void **state)
{
    (void)state;
    char *path = write_temp("a,\"b\nc,d\n", 9);
    mkt_csv_dialect d = dialect(",", 1);
    char err[256];
    assert_null(mkt_csv_open(path, &d, MPI_COMM_SELF, err, sizeof err));
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, "unterminated quoted field"));
    unlink(path);
    free(path);
}

static void test_multichar_delimiter(void **state)
{
    (void)state;
    CHECK("1::2::5::978300760\n1::3::4.5::978300761\r\n2::Toy \"Story::x\na:::b\n", "::", 0, "",
          "1|4|1\x1f" "2\x1f" "5\x1f" "978300760|1::2::5::978300760\n"
          "2|4|1\x1f" "3\x1f" "4.5\x1f" "978300761|1::3::4.5::978300761\n"
          "3|3|2\x1fToy \"Story\x1fx|2::Toy \"Story::x\n" /* quotes are plain characters */
          "4|2|a\x1f:b|a:::b\n");
}

static void test_long_records(void **state)
{
    (void)state;
    text_buffer content = {0}, want = {0};
    /* 300 fields (field array growth) and a 10000-byte quoted field (buffer growth) */
    text_buffer raw1 = {0}, fields1 = {0};
    for (int i = 0; i < 300; i++) {
        text_printf(&raw1, i ? ",f%d" : "f%d", i);
        if (i)
            text_append(&fields1, "\x1f", 1);
        text_printf(&fields1, "f%d", i);
    }
    text_buffer big = {0};
    for (int i = 0; i < 1000; i++)
        text_append(&big, i % 70 == 0 ? "ab,\"\"\ncdef" : "0123456789", 10); /* 15 line ends: within the bound */
    int64_t big_newlines = 0;
    for (size_t i = 0; i < big.len; i++)
        big_newlines += big.data[i] == '\n';
    text_append(&content, raw1.data, raw1.len);
    text_append(&content, "\n1,\"", 4);
    text_append(&content, big.data, big.len);
    text_append(&content, "\"\n2,x\n", 6);
    text_printf(&want, "1|300|%s|%s\n", fields1.data, raw1.data);
    text_append(&want, "2|2|1\x1f", 6);
    /* the field: "" becomes " */
    for (size_t i = 0; i < big.len; i++) {
        text_append(&want, big.data + i, 1);
        if (big.data[i] == '"')
            i++;
    }
    text_append(&want, "|1,\"", 4);
    text_append(&want, big.data, big.len);
    text_printf(&want, "\"\n%lld|2|2\x1fx|2,x\n", (long long)(3 + big_newlines));
    check_parse(content.data, content.len, ",", 0, "", want.data);
    free(content.data);
    free(want.data);
    free(raw1.data);
    free(fields1.data);
    free(big.data);
}

static void test_open_errors(void **state)
{
    (void)state;
    char err[512] = "";
    mkt_csv_dialect d = dialect(",", 1);
    assert_null(mkt_csv_open("/nonexistent/nope.csv", &d, MPI_COMM_SELF, err, sizeof err));
    assert_non_null(strstr(err, "nope.csv"));
    assert_non_null(strstr(err, "No such file"));
    err[0] = 0;
    assert_null(mkt_csv_open("/tmp", &d, MPI_COMM_SELF, err, sizeof err));
    assert_non_null(strstr(err, "/tmp"));
    char *path = write_temp("a,b\n", 4);
    mkt_csv_dialect empty = dialect("", 1);
    err[0] = 0;
    assert_null(mkt_csv_open(path, &empty, MPI_COMM_SELF, err, sizeof err));
    assert_non_null(strstr(err, "delimiter"));
    mkt_csv_dialect quote = dialect("\"", 1);
    assert_null(mkt_csv_open(path, &quote, MPI_COMM_SELF, err, sizeof err));
    unlink(path);
    free(path);
}

/* Physical lines: every record says how many lines it spans; a quote that
 * is never closed, or closed only past MKT_CSV_MAX_RECORD_LINES lines, is a
 * bad record whose `lines` is everything it swallowed. */
typedef struct {
    int64_t line, lines;
    int nfields;
    const char *bad;
} record_lines;

static int read_lines(const char *content, size_t len, record_lines *out, int max)
{
    char *path = write_temp(content, len);
    mkt_csv_dialect d = dialect(",", 0);
    char err[256];
    mkt_csv_reader *r = mkt_csv_open(path, &d, MPI_COMM_SELF, err, sizeof err);
    if (!r)
        fail_msg("open failed: %s", err);
    mkt_csv_record rec;
    const char *bad;
    int n = 0;
    while (mkt_csv_next(r, &rec, &bad)) {
        assert_true(n < max);
        out[n].line = rec.line;
        out[n].lines = rec.lines;
        out[n].nfields = rec.nfields;
        out[n].bad = bad;
        n++;
    }
    mkt_csv_close(r);
    unlink(path);
    free(path);
    return n;
}

static void test_record_lines(void **state)
{
    (void)state;
    record_lines rec[1200];
    /* a stray quote on line 3 of 1000 plain lines: one bad record of 998 lines */
    text_buffer t = {0};
    for (int i = 1; i <= 1000; i++)
        text_printf(&t, i == 3 ? "%d,x\"y\n" : "%d,x\n", i);
    int n = read_lines(t.data, t.len, rec, 1200);
    assert_int_equal(n, 3);
    assert_int_equal(rec[0].lines, 1);
    assert_int_equal(rec[1].lines, 1);
    assert_int_equal(rec[2].line, 3);
    assert_int_equal(rec[2].lines, 998);
    assert_int_equal(rec[2].nfields, -1);
    assert_string_equal(rec[2].bad, "unterminated quoted field");
    /* a stray quote closed 100 lines later by another stray quote: a bad record of 101 lines */
    t.len = 0;
    for (int i = 1; i <= 200; i++)
        text_printf(&t, i == 50 || i == 150 ? "%d,x\"y\n" : "%d,x\n", i);
    n = read_lines(t.data, t.len, rec, 1200);
    assert_int_equal(n, 49 + 1 + 50);
    assert_int_equal(rec[49].line, 50);
    assert_int_equal(rec[49].lines, 101);
    assert_string_equal(rec[49].bad, "quoted field spans too many lines");
    assert_int_equal(rec[50].line, 151);
    assert_int_equal(rec[50].lines, 1);
    /* a legitimate quoted field of 3 lines is one good record of 3 lines; at the bound it is still good */
    t.len = 0;
    text_printf(&t, "1,\"a\nb\nc\"\n2,x\n3,\"");
    for (int i = 1; i < MKT_CSV_MAX_RECORD_LINES; i++)
        text_printf(&t, "l%d\n", i);
    text_printf(&t, "end\"\n4,\"");
    for (int i = 1; i <= MKT_CSV_MAX_RECORD_LINES; i++)
        text_printf(&t, "l%d\n", i);
    text_printf(&t, "end\"\n5,y\n");
    n = read_lines(t.data, t.len, rec, 1200);
    assert_int_equal(n, 5);
    assert_int_equal(rec[0].lines, 3);
    assert_int_equal(rec[0].nfields, 2);
    assert_int_equal(rec[1].line, 4);
    assert_int_equal(rec[2].line, 5);
    assert_int_equal(rec[2].lines, MKT_CSV_MAX_RECORD_LINES);
    assert_int_equal(rec[2].nfields, 2);
    assert_int_equal(rec[3].lines, MKT_CSV_MAX_RECORD_LINES + 1);
    assert_int_equal(rec[3].nfields, -1);
    assert_string_equal(rec[3].bad, "quoted field spans too many lines");
    assert_int_equal(rec[4].line, 5 + 2 * MKT_CSV_MAX_RECORD_LINES + 1);
    free(t.data);
}

/* Bare carriage-return line ends are refused on open with a message;
 * CRLF files and a CR inside a quoted field of an LF file are read. */
static void test_cr_line_ends(void **state)
{
    (void)state;
    mkt_csv_dialect d = dialect(",", 1);
    char err[512] = "";
    char *path = write_temp("user,item\r1,2\r3,4\r", 18);
    assert_null(mkt_csv_open(path, &d, MPI_COMM_SELF, err, sizeof err));
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, "carriage returns without line feeds (3 bare CR, 0 LF)"));
    unlink(path);
    free(path);
    CHECK("user,item\r\n1,\"a\rb\"\n3,4\r\n", ",", 1, "1|2|user\x1fitem|user,item\n",
          "2|2|1\x1f" "a\rb|1,\"a\rb\"\n"
          "3|2|3\x1f" "4|3,4\n");
}

/* Whitespace mode: runs of blanks and tabs separate fields, blanks at either
 * end are ignored, quotes are plain, a line of blanks and tabs is blank
 * (also before a header: a tab-only first line once crashed the header
 * exchange, a fuzzer finding kept in tests/fuzz/regress_csv). */
static void test_whitespace_mode(void **state)
{
    (void)state;
    const char content[] = "\t \n  id  date\tqty\n    1 19970101  1   11.77\r\n\t\n2\t\"a b\"  3\n";
    char *path = write_temp(content, sizeof content - 1);
    mkt_csv_dialect d = dialect(",", 1);
    d.whitespace = 1;
    parse_result p = parse_file(path, &d, MPI_COMM_SELF, NULL);
    if (!p.ok)
        fail_msg("open failed: %s", p.err);
    assert_string_equal(p.header.data, "2|3|id\x1f" "date\x1fqty|  id  date\tqty\n");
    assert_string_equal(p.records.data, "3|4|1\x1f" "19970101\x1f" "1\x1f" "11.77|    1 19970101  1   11.77\n"
                                        "5|4|2\x1f\"a\x1f" "b\"\x1f" "3|2\t\"a b\"  3\n");
    free_result(&p);
    unlink(path);
    free(path);
    path = write_temp("\t", 1);
    p = parse_file(path, &d, MPI_COMM_SELF, NULL);
    assert_true(p.ok);
    assert_string_equal(p.header.data, "");
    assert_string_equal(p.records.data, "");
    free_result(&p);
    unlink(path);
    free(path);
}

static void test_rejects_file(void **state)
{
    (void)state;
    char *path = temp_path(); /* exists and is empty: gets the header row */
    mkt_rejects *rj = mkt_rejects_new();
    mkt_rejects_add(rj, 12, "unparsable quantity", "u4,i4,x", 7);
    mkt_rejects_add(rj, 3, "expected 6 fields, found 5", "a,\"b\"", 5);
    mkt_rejects_add(rj, 7, "unparsable quantity", "multi\nline", 10);
    mkt_rejects_add(rj, 3, "empty user id", ",x", 2);
    mkt_rejects_add(rj, 20, "invalid UTF-8", "\xC3(", 2);
    assert_int_equal(mkt_rejects_count(rj), 5);
    mkt_rejects_write(rj, "ev.csv", path, MPI_COMM_SELF);
    char *got = read_whole(path);
    assert_non_null(got);
    assert_string_equal(got, "input,line,reason,raw\n"
                             "ev.csv,3,empty user id,\",x\"\n"
                             "ev.csv,3,\"expected 6 fields, found 5\",\"a,\"\"b\"\"\"\n"
                             "ev.csv,7,unparsable quantity,\"multi\nline\"\n"
                             "ev.csv,12,unparsable quantity,\"u4,i4,x\"\n"
                             "ev.csv,20,invalid UTF-8,\xC3(\n");
    free(got);
    /* summary: by count, then reason */
    assert_int_equal(mkt_rejects_global_count(rj), 5);
    assert_int_equal(mkt_rejects_reason_count(rj), 4);
    int64_t n = 0;
    assert_string_equal(mkt_rejects_reason(rj, 0, &n), "unparsable quantity");
    assert_int_equal(n, 2);
    assert_string_equal(mkt_rejects_reason(rj, 1, &n), "empty user id");
    assert_int_equal(n, 1);
    assert_string_equal(mkt_rejects_reason(rj, 2, &n), "expected 6 fields, found 5");
    assert_string_equal(mkt_rejects_reason(rj, 3, &n), "invalid UTF-8");
    assert_null(mkt_rejects_reason(rj, 4, &n));
    mkt_rejects_free(rj);

    /* a second input appends, without a second header row */
    rj = mkt_rejects_new();
    mkt_rejects_add(rj, 2, "bad", "x", 1);
    mkt_rejects_write(rj, "items, v2.csv", path, MPI_COMM_SELF);
    got = read_whole(path);
    const char *tail = "\"items, v2.csv\",2,bad,x\n";
    assert_true(strlen(got) > strlen(tail));
    assert_string_equal(got + strlen(got) - strlen(tail), tail);
    assert_int_equal(strstr(got + 1, "input,line") == NULL, 1);
    free(got);
    mkt_rejects_free(rj);

    /* nothing rejected: the file is not created; a new file gets the header */
    unlink(path);
    rj = mkt_rejects_new();
    mkt_rejects_write(rj, "ev.csv", path, MPI_COMM_SELF);
    struct stat st;
    assert_int_equal(stat(path, &st), -1);
    assert_int_equal(mkt_rejects_global_count(rj), 0);
    assert_int_equal(mkt_rejects_reason_count(rj), 0);
    mkt_rejects_add(rj, 1, "r", "", 0);
    mkt_rejects_write(rj, "ev.csv", path, MPI_COMM_SELF);
    got = read_whole(path);
    assert_string_equal(got, "input,line,reason,raw\nev.csv,1,r,\n");
    free(got);
    mkt_rejects_free(rj);

    /* a long raw record is cut */
    rj = mkt_rejects_new();
    char *long_raw = malloc(3 * MKT_REJECT_RAW_MAX);
    memset(long_raw, 'x', 3 * MKT_REJECT_RAW_MAX);
    mkt_rejects_add(rj, 1, "r", long_raw, 3 * MKT_REJECT_RAW_MAX);
    unlink(path);
    mkt_rejects_write(rj, "ev.csv", path, MPI_COMM_SELF);
    got = read_whole(path);
    assert_int_equal(strlen(got), strlen("input,line,reason,raw\nev.csv,1,r,\n") + MKT_REJECT_RAW_MAX);
    free(got);
    free(long_raw);
    mkt_rejects_free(rj);
    unlink(path);
    free(path);
}

/* ---------- all ranks: the split equals a one-process parse ---------- */

static int world_rank(void)
{
    int r;
    MPI_Comm_rank(MPI_COMM_WORLD, &r);
    return r;
}

/* Deterministic test input: a header, plain rows, quoted rows with commas,
 * doubled quotes and newlines (LF and CRLF), blank lines, a few quoted
 * fields of several kilobytes with many newlines (so that at 2..8 ranks
 * whole nominal ranges fall inside one field), bad rows, no final newline. */
static void generate_input(text_buffer *t, int rows)
{
    uint64_t x = 88172645463325252ULL;
#define NEXT_RANDOM() (x ^= x << 13, x ^= x >> 7, x ^= x << 17, x)
    text_append(t, "id,name,note,amount\r\n", 21);
    for (int i = 0; i < rows; i++) {
        unsigned kind = (unsigned)(NEXT_RANDOM() % 20);
        const char *eol = (NEXT_RANDOM() % 3 == 0) ? "\r\n" : "\n";
        if (i == rows / 3 || i == rows / 2 || i == (2 * rows) / 3) {
            int lines = i == rows / 2 ? 6000 : 1000;
            text_printf(t, "%d,\"big", i);
            for (int k = 0; k < lines; k++)
                text_append(t, k % 3 ? " text,\n" : " \"\"q\"\"\r\n", k % 3 ? 7 : 8);
            text_printf(t, "\",note,%d%s", i, eol);
            continue;
        }
        switch (kind) {
        case 0:
            text_printf(t, "%d,\"multi\nline\n\nname\",\"n,%d\",%d.5%s", i, i, i, eol);
            break;
        case 1:
            text_printf(t, "%d,\"say \"\"hi\"\" %d\",,%d%s", i, i, i, eol);
            break;
        case 2:
            text_printf(t, "%s", eol); /* blank line */
            break;
        case 3:
            text_printf(t, "%d,caf\xC3\xA9,\"\",%d%s", i, i, eol);
            break;
        case 4:
            text_printf(t, "%d,bad\xFF,x,%d%s", i, i, eol);
            break;
        case 5:
            text_printf(t, "%d,stray\"\"quote,x,%d%s", i, i, eol);
            break;
        case 6:
            text_printf(t, "%d,short%s", i, eol);
            break;
        case 7:
            text_printf(t, "%d,\"\r\n\",\"\n\",%d%s", i, i, eol);
            break;
        default:
            text_printf(t, "%d,name%llu,note,%d%s", i, (unsigned long long)(NEXT_RANDOM() % 100000), i, eol);
            break;
        }
    }
    text_append(t, "last,row,no,newline", 19);
#undef NEXT_RANDOM
}

/* Gathers every rank's text to rank 0 in rank order. */
static char *gather_text(const text_buffer *t, MPI_Comm comm)
{
    int rank, nranks;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &nranks);
    int len = (int)t->len;
    int *lens = rank == 0 ? malloc((size_t)nranks * sizeof *lens) : NULL;
    int *offsets = rank == 0 ? malloc((size_t)nranks * sizeof *offsets) : NULL;
    MPI_Gather(&len, 1, MPI_INT, lens, 1, MPI_INT, 0, comm);
    char *all = NULL;
    int total = 0;
    if (rank == 0) {
        for (int q = 0; q < nranks; q++) {
            offsets[q] = total;
            total += lens[q];
        }
        all = malloc((size_t)total + 1);
        all[total] = 0;
    }
    MPI_Gatherv(t->data, len, MPI_CHAR, all, lens, offsets, MPI_CHAR, 0, comm);
    free(lens);
    free(offsets);
    return all;
}

/* Fails with the first differing record when a != b. */
static void assert_same_records(const char *what, const char *parallel, const char *serial)
{
    if (strcmp(parallel, serial) == 0)
        return;
    size_t i = 0;
    while (parallel[i] && parallel[i] == serial[i])
        i++;
    while (i > 0 && serial[i - 1] != '\n')
        i--;
    fail_msg("%s: records differ at byte %zu:\n  parallel: %.200s\n  serial:   %.200s", what, i, parallel + i,
             serial + i);
}

/* Collective over the world: parse `path` on all ranks and on rank 0 alone; rank 0 compares. */
static void compare_split(const char *what, const char *path, const mkt_csv_dialect *d, int64_t want_count)
{
    int rank = world_rank();
    parse_result par = parse_file(path, d, MPI_COMM_WORLD, NULL);
    int64_t sums[2] = {par.local_bytes, par.count}, totals[2];
    MPI_Allreduce(sums, totals, 2, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);
    char *gathered = gather_text(&par.records, MPI_COMM_WORLD);
    if (rank == 0) {
        parse_result ser = parse_file(path, d, MPI_COMM_SELF, NULL);
        assert_true(par.ok && ser.ok);
        assert_int_equal(totals[0], ser.file_bytes); /* the ranges tile the file */
        assert_int_equal(totals[1], ser.count);
        if (want_count >= 0)
            assert_int_equal(ser.count, want_count);
        assert_string_equal(par.header.data, ser.header.data);
        assert_same_records(what, gathered, ser.records.data);
        free_result(&ser);
    }
    free(gathered);
    free_result(&par);
}

static char *shared_temp_path(void)
{
    char buf[4096] = "";
    if (world_rank() == 0) {
        char *p = temp_path();
        snprintf(buf, sizeof buf, "%s", p);
        free(p);
    }
    MPI_Bcast(buf, (int)sizeof buf, MPI_CHAR, 0, MPI_COMM_WORLD);
    return strdup(buf);
}

static void write_shared(const char *path, const char *content, size_t len)
{
    if (world_rank() == 0) {
        FILE *f = fopen(path, "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(content, 1, len, f), len);
        assert_int_equal(fclose(f), 0);
    }
    MPI_Barrier(MPI_COMM_WORLD);
}

static void test_split_equals_serial(void **state)
{
    (void)state;
    text_buffer content = {0};
    generate_input(&content, 600);
    char *path = shared_temp_path();
    write_shared(path, content.data, content.len);
    mkt_csv_dialect with_header = dialect(",", 1), without = dialect(",", 0), colons = dialect("::", 0);
    compare_split("full file", path, &with_header, -1);
    compare_split("full file, no header", path, &without, -1);
    compare_split("full file, '::'", path, &colons, -1);

    /* prefixes: tiny files (fewer bytes than ranks), cuts inside quoted fields */
    size_t cuts[64];
    int ncuts = 0;
    for (size_t a = 0, b = 1; a < content.len && ncuts < 40; b = a + b, a = b - a)
        cuts[ncuts++] = a;
    for (size_t k = 1; k <= 8; k++)
        cuts[ncuts++] = content.len * k / 9;
    cuts[ncuts++] = content.len - 1;
    for (int i = 0; i < ncuts; i++) {
        char what[64];
        snprintf(what, sizeof what, "prefix of %zu bytes", cuts[i]);
        write_shared(path, content.data, cuts[i]);
        compare_split(what, path, &with_header, -1);
        compare_split(what, path, &colons, -1);
    }

    /* an unterminated quote near the end swallows the rest */
    text_append(&content, "\n9999,\"unterminated\nmore,rows\n1,2,3,4\n", 38);
    write_shared(path, content.data, content.len);
    compare_split("unterminated quote", path, &with_header, -1);

    if (world_rank() == 0)
        unlink(path);
    free(path);
    free(content.data);
}

static void test_split_known_counts(void **state)
{
    (void)state;
    /* 1000 records, each "k,\"a\nb\"" over two lines: a count that is easy to know */
    text_buffer content = {0};
    for (int k = 0; k < 1000; k++)
        text_printf(&content, "%d,\"a\nb\"\n", k);
    char *path = shared_temp_path();
    write_shared(path, content.data, content.len);
    mkt_csv_dialect d = dialect(",", 0);
    compare_split("two-line records", path, &d, 1000);
    /* and the last record's line number is right on every rank count */
    parse_result par = parse_file(path, &d, MPI_COMM_WORLD, NULL);
    char *gathered = gather_text(&par.records, MPI_COMM_WORLD);
    if (world_rank() == 0)
        assert_non_null(strstr(gathered, "\n1999|2|999\x1f" "a\nb|999,\"a\nb\"\n"));
    free(gathered);
    free_result(&par);
    if (world_rank() == 0)
        unlink(path);
    free(path);
    free(content.data);
}

static void test_rejects_equal_serial(void **state)
{
    (void)state;
    text_buffer content = {0};
    generate_input(&content, 600);
    char *path = shared_temp_path(), *par_rejects = shared_temp_path(), *ser_rejects = shared_temp_path();
    write_shared(path, content.data, content.len);
    mkt_csv_dialect d = dialect(",", 1);

    mkt_rejects *rj = mkt_rejects_new();
    parse_result par = parse_file(path, &d, MPI_COMM_WORLD, rj);
    mkt_rejects_write(rj, "input.csv", par_rejects, MPI_COMM_WORLD);
    int64_t local = mkt_rejects_count(rj), total;
    MPI_Allreduce(&local, &total, 1, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);
    /* the summary is the same on every rank */
    int64_t mine[2] = {mkt_rejects_global_count(rj), mkt_rejects_reason_count(rj)}, low[2], high[2];
    MPI_Allreduce(mine, low, 2, MPI_INT64_T, MPI_MIN, MPI_COMM_WORLD);
    MPI_Allreduce(mine, high, 2, MPI_INT64_T, MPI_MAX, MPI_COMM_WORLD);
    if (world_rank() == 0) {
        assert_int_equal(low[0], high[0]);
        assert_int_equal(low[1], high[1]);
        assert_int_equal(mkt_rejects_global_count(rj), total);
        mkt_rejects *serial = mkt_rejects_new();
        parse_result ser = parse_file(path, &d, MPI_COMM_SELF, serial);
        mkt_rejects_write(serial, "input.csv", ser_rejects, MPI_COMM_SELF);
        char *a = read_whole(par_rejects), *b = read_whole(ser_rejects);
        assert_non_null(a);
        assert_non_null(b);
        assert_true(strlen(b) > 100);
        assert_non_null(strstr(b, ",invalid UTF-8,"));
        assert_non_null(strstr(b, ",stray quote,"));
        assert_non_null(strstr(b, ",\"expected 4 fields, found 2\","));
        assert_string_equal(a, b);
        assert_int_equal(mkt_rejects_reason_count(serial), mkt_rejects_reason_count(rj));
        for (int i = 0; i < mkt_rejects_reason_count(rj); i++) {
            int64_t n1, n2;
            assert_string_equal(mkt_rejects_reason(rj, i, &n1), mkt_rejects_reason(serial, i, &n2));
            assert_int_equal(n1, n2);
        }
        free(a);
        free(b);
        free_result(&ser);
        mkt_rejects_free(serial);
        unlink(path);
        unlink(par_rejects);
        unlink(ser_rejects);
    }
    free_result(&par);
    mkt_rejects_free(rj);
    free(path);
    free(par_rejects);
    free(ser_rejects);
    free(content.data);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, nranks;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &nranks);
    const struct CMUnitTest one_process[] = {
        cmocka_unit_test(test_bom_crlf_header),
        cmocka_unit_test(test_quoted_newlines_and_quotes),
        cmocka_unit_test(test_multiline_field_line_numbers),
        cmocka_unit_test(test_blank_lines_no_final_newline),
        cmocka_unit_test(test_empty_and_edge_fields),
        cmocka_unit_test(test_bad_records),
        cmocka_unit_test(test_bad_header),
        cmocka_unit_test(test_multichar_delimiter),
        cmocka_unit_test(test_long_records),
        cmocka_unit_test(test_open_errors),
        cmocka_unit_test(test_rejects_file),
        cmocka_unit_test(test_record_lines),
        cmocka_unit_test(test_cr_line_ends),
        cmocka_unit_test(test_whitespace_mode),
    };
    const struct CMUnitTest all_ranks[] = {
        cmocka_unit_test(test_split_equals_serial),
        cmocka_unit_test(test_split_known_counts),
        cmocka_unit_test(test_rejects_equal_serial),
    };
    int failed = 0;
    if (rank == 0)
        failed += cmocka_run_group_tests_name("csv, one process", one_process, NULL, NULL);
    failed += cmocka_run_group_tests_name("csv, all ranks", all_ranks, NULL, NULL);
    /* a failure on rank 0 shows in the exit status of every run */
    MPI_Bcast(&failed, 1, MPI_INT, 0, MPI_COMM_WORLD);
    MPI_Finalize();
    return failed ? 1 : 0;
}
