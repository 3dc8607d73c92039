/* csv_rejects.c — the rejects log of ingest (see csv.h): each rank keeps
 * the records it rejected (line, reason, raw bytes); mkt_rejects_write
 * gathers them to rank 0, which appends them, sorted by (line, reason,
 * raw), to the rejects file (`input,line,reason,raw`) and shares the count
 * per reason with every rank.  It does not read CSV (io/csv.c) and does not decide what is
 * rejected (the stages do). */
#include "csv.h"

#include <errno.h>
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

/* ---------- rejects log ---------- */

typedef struct {
    int64_t line;
    size_t reason_offset, reason_len, raw_offset, raw_len;
} reject_entry;

struct mkt_rejects {
    reject_entry *entries;
    int64_t count, cap;
    char *text; /* reasons and raw bytes of all entries */
    size_t text_len, text_cap;
    /* global summary from the last mkt_rejects_write */
    int64_t global_count;
    int nreasons;
    char **reasons;
    int64_t *reason_counts;
    char *reason_storage;
};

mkt_rejects *mkt_rejects_new(void) { return mkt_xcalloc(1, sizeof(mkt_rejects)); }

static size_t append_text(mkt_rejects *rj, const char *bytes, size_t n)
{
    if (rj->text_len + n > rj->text_cap) {
        size_t cap = rj->text_cap ? rj->text_cap : 4096;
        while (cap < rj->text_len + n)
            cap *= 2;
        rj->text = mkt_xrealloc(rj->text, cap);
        rj->text_cap = cap;
    }
    size_t at = rj->text_len;
    if (n > 0)
        memcpy(rj->text + at, bytes, n);
    rj->text_len += n;
    return at;
}

void mkt_rejects_add(mkt_rejects *rj, int64_t line, const char *reason, const char *raw, size_t raw_len)
{
    if (rj->count == rj->cap) {
        rj->cap = rj->cap ? 2 * rj->cap : 64;
        rj->entries = mkt_xrealloc(rj->entries, (size_t)rj->cap * sizeof *rj->entries);
    }
    if (!reason)
        reason = "";
    if (raw_len > MKT_REJECT_RAW_MAX)
        raw_len = MKT_REJECT_RAW_MAX;
    reject_entry *e = &rj->entries[rj->count++];
    e->line = line;
    e->reason_len = strlen(reason);
    e->reason_offset = append_text(rj, reason, e->reason_len);
    e->raw_len = raw ? raw_len : 0;
    e->raw_offset = append_text(rj, raw, e->raw_len);
}

int64_t mkt_rejects_count(const mkt_rejects *rj) { return rj->count; }

int64_t mkt_rejects_global_count(const mkt_rejects *rj) { return rj->global_count; }

int mkt_rejects_reason_count(const mkt_rejects *rj) { return rj->nreasons; }

const char *mkt_rejects_reason(const mkt_rejects *rj, int i, int64_t *count)
{
    if (i < 0 || i >= rj->nreasons)
        return NULL;
    if (count)
        *count = rj->reason_counts[i];
    return rj->reasons[i];
}

/* A gathered reject: views into the received buffers. */
typedef struct {
    int64_t line;
    const char *reason, *raw;
    uint32_t reason_len, raw_len;
} reject_view;

static int compare_bytes(const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    if (c != 0)
        return c;
    return (alen > blen) - (alen < blen);
}

static int compare_views(const void *pa, const void *pb)
{
    const reject_view *a = pa, *b = pb;
    if (a->line != b->line)
        return a->line < b->line ? -1 : 1;
    int c = compare_bytes(a->reason, a->reason_len, b->reason, b->reason_len);
    if (c != 0)
        return c;
    return compare_bytes(a->raw, a->raw_len, b->raw, b->raw_len);
}

static int compare_views_by_reason(const void *pa, const void *pb)
{
    const reject_view *a = pa, *b = pb;
    return compare_bytes(a->reason, a->reason_len, b->reason, b->reason_len);
}

typedef struct {
    int64_t count;
    const char *reason;
    uint32_t reason_len;
} reason_tally;

static int compare_tallies(const void *pa, const void *pb)
{
    const reason_tally *a = pa, *b = pb;
    if (a->count != b->count)
        return a->count > b->count ? -1 : 1;
    return compare_bytes(a->reason, a->reason_len, b->reason, b->reason_len);
}

/* Packs the local rejects: per entry int64 line, uint32 reason_len, uint32 raw_len, reason, raw. */
static char *pack_rejects(const mkt_rejects *rj, int64_t *packed_len)
{
    size_t n = 0;
    for (int64_t i = 0; i < rj->count; i++)
        n += 16 + rj->entries[i].reason_len + rj->entries[i].raw_len;
    char *out = mkt_xmalloc(n + 1), *p = out;
    for (int64_t i = 0; i < rj->count; i++) {
        const reject_entry *e = &rj->entries[i];
        uint32_t lens[2] = {(uint32_t)e->reason_len, (uint32_t)e->raw_len};
        memcpy(p, &e->line, 8);
        memcpy(p + 8, lens, 8);
        p += 16;
        memcpy(p, rj->text + e->reason_offset, e->reason_len);
        p += e->reason_len;
        memcpy(p, rj->text + e->raw_offset, e->raw_len);
        p += e->raw_len;
    }
    *packed_len = (int64_t)n;
    return out;
}

#define REJECTS_TAG 7301
#define MESSAGE_CHUNK (1 << 30)

static void send_bytes(const char *p, int64_t n, int to, MPI_Comm comm)
{
    MKT_MPI(MPI_Send(&n, 1, MPI_INT64_T, to, REJECTS_TAG, comm));
    for (int64_t done = 0; done < n; done += MESSAGE_CHUNK) {
        int chunk = (int)(n - done < MESSAGE_CHUNK ? n - done : MESSAGE_CHUNK);
        MKT_MPI(MPI_Send(p + done, chunk, MPI_BYTE, to, REJECTS_TAG, comm));
    }
}

static char *receive_bytes(int from, int64_t *n, MPI_Comm comm)
{
    MKT_MPI(MPI_Recv(n, 1, MPI_INT64_T, from, REJECTS_TAG, comm, MPI_STATUS_IGNORE));
    char *p = mkt_xmalloc((size_t)*n + 1);
    for (int64_t done = 0; done < *n; done += MESSAGE_CHUNK) {
        int chunk = (int)(*n - done < MESSAGE_CHUNK ? *n - done : MESSAGE_CHUNK);
        MKT_MPI(MPI_Recv(p + done, chunk, MPI_BYTE, from, REJECTS_TAG, comm, MPI_STATUS_IGNORE));
    }
    return p;
}

/* RFC 4180: quoted only when it has to be. */
static void write_csv_field(FILE *f, const char *s, size_t n)
{
    int needs_quotes = 0;
    for (size_t i = 0; i < n && !needs_quotes; i++)
        needs_quotes = s[i] == ',' || s[i] == '"' || s[i] == '\n' || s[i] == '\r';
    if (!needs_quotes) {
        fwrite(s, 1, n, f);
        return;
    }
    fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"')
            fputc('"', f);
        fputc(s[i], f);
    }
    fputc('"', f);
}

static void write_rejects_file(const char *path, const char *input_name, const reject_view *views, int64_t n)
{
    FILE *f = fopen(path, "a");
    if (!f)
        mkt_fail("cannot write rejects file %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && st.st_size == 0)
        fputs("input,line,reason,raw\n", f);
    size_t name_len = strlen(input_name);
    for (int64_t i = 0; i < n; i++) {
        write_csv_field(f, input_name, name_len);
        fprintf(f, ",%" PRId64 ",", views[i].line);
        write_csv_field(f, views[i].reason, views[i].reason_len);
        fputc(',', f);
        write_csv_field(f, views[i].raw, views[i].raw_len);
        fputc('\n', f);
    }
    if (ferror(f) | fclose(f))
        mkt_fail("cannot write rejects file %s: %s", path, strerror(errno));
}

/* Rank 0: the summary packed as int64 total, int64 nreasons, then per reason
 * int64 count, int64 length, bytes. */
static char *pack_summary(reject_view *views, int64_t n, int64_t *packed_len)
{
    qsort(views, (size_t)n, sizeof *views, compare_views_by_reason);
    reason_tally *tallies = mkt_xmalloc((size_t)(n > 0 ? n : 1) * sizeof *tallies);
    int64_t ntallies = 0;
    for (int64_t i = 0; i < n; i++) {
        if (ntallies > 0 && compare_bytes(tallies[ntallies - 1].reason, tallies[ntallies - 1].reason_len,
                                          views[i].reason, views[i].reason_len) == 0) {
            tallies[ntallies - 1].count++;
        } else {
            tallies[ntallies].count = 1;
            tallies[ntallies].reason = views[i].reason;
            tallies[ntallies].reason_len = views[i].reason_len;
            ntallies++;
        }
    }
    qsort(tallies, (size_t)ntallies, sizeof *tallies, compare_tallies);
    size_t size = 16;
    for (int64_t i = 0; i < ntallies; i++)
        size += 16 + tallies[i].reason_len;
    char *out = mkt_xmalloc(size), *p = out;
    int64_t head[2] = {n, ntallies};
    memcpy(p, head, 16);
    p += 16;
    for (int64_t i = 0; i < ntallies; i++) {
        int64_t item[2] = {tallies[i].count, tallies[i].reason_len};
        memcpy(p, item, 16);
        p += 16;
        memcpy(p, tallies[i].reason, tallies[i].reason_len);
        p += tallies[i].reason_len;
    }
    free(tallies);
    *packed_len = (int64_t)size;
    return out;
}

static void clear_summary(mkt_rejects *rj)
{
    free(rj->reasons);
    free(rj->reason_counts);
    free(rj->reason_storage);
    rj->reasons = NULL;
    rj->reason_counts = NULL;
    rj->reason_storage = NULL;
    rj->nreasons = 0;
    rj->global_count = 0;
}

static void unpack_summary(mkt_rejects *rj, const char *packed)
{
    clear_summary(rj);
    int64_t head[2];
    memcpy(head, packed, 16);
    const char *p = packed + 16;
    rj->global_count = head[0];
    rj->nreasons = (int)head[1];
    rj->reasons = mkt_xmalloc((size_t)(head[1] > 0 ? head[1] : 1) * sizeof *rj->reasons);
    rj->reason_counts = mkt_xmalloc((size_t)(head[1] > 0 ? head[1] : 1) * sizeof *rj->reason_counts);
    size_t text = 0;
    const char *q = p;
    for (int64_t i = 0; i < head[1]; i++) {
        int64_t item[2];
        memcpy(item, q, 16);
        text += (size_t)item[1] + 1;
        q += 16 + item[1];
    }
    rj->reason_storage = mkt_xmalloc(text + 1);
    char *s = rj->reason_storage;
    for (int64_t i = 0; i < head[1]; i++) {
        int64_t item[2];
        memcpy(item, p, 16);
        p += 16;
        memcpy(s, p, (size_t)item[1]);
        s[item[1]] = 0;
        rj->reasons[i] = s;
        rj->reason_counts[i] = item[0];
        s += item[1] + 1;
        p += item[1];
    }
}

void mkt_rejects_write(mkt_rejects *rj, const char *input_name, const char *path, MPI_Comm comm)
{
    int rank, nranks;
    MKT_MPI(MPI_Comm_rank(comm, &rank));
    MKT_MPI(MPI_Comm_size(comm, &nranks));
    int64_t packed_len;
    char *packed = pack_rejects(rj, &packed_len);
    char *summary = NULL;
    int64_t summary_len = 0;
    if (rank != 0) {
        send_bytes(packed, packed_len, 0, comm);
        free(packed);
    } else {
        char **parts = mkt_xmalloc((size_t)nranks * sizeof *parts);
        int64_t *part_lens = mkt_xmalloc((size_t)nranks * sizeof *part_lens);
        parts[0] = packed;
        part_lens[0] = packed_len;
        for (int q = 1; q < nranks; q++)
            parts[q] = receive_bytes(q, &part_lens[q], comm);
        int64_t nviews = 0, cap = 64;
        reject_view *views = mkt_xmalloc((size_t)cap * sizeof *views);
        for (int q = 0; q < nranks; q++) {
            const char *p = parts[q], *end = parts[q] + part_lens[q];
            while (p < end) {
                if (nviews == cap) {
                    cap *= 2;
                    views = mkt_xrealloc(views, (size_t)cap * sizeof *views);
                }
                reject_view *v = &views[nviews++];
                uint32_t lens[2];
                memcpy(&v->line, p, 8);
                memcpy(lens, p + 8, 8);
                v->reason = p + 16;
                v->reason_len = lens[0];
                v->raw = v->reason + lens[0];
                v->raw_len = lens[1];
                p = v->raw + lens[1];
            }
        }
        qsort(views, (size_t)nviews, sizeof *views, compare_views);
        if (path && nviews > 0)
            write_rejects_file(path, input_name ? input_name : "", views, nviews);
        summary = pack_summary(views, nviews, &summary_len);
        free(views);
        for (int q = 0; q < nranks; q++)
            free(parts[q]);
        free(parts);
        free(part_lens);
    }
    MKT_MPI(MPI_Bcast(&summary_len, 1, MPI_INT64_T, 0, comm));
    if (summary_len > INT_MAX)
        mkt_fail("rejects: the summary of reasons is larger than 2 GiB");
    if (rank != 0)
        summary = mkt_xmalloc((size_t)summary_len);
    MKT_MPI(MPI_Bcast(summary, (int)summary_len, MPI_BYTE, 0, comm));
    unpack_summary(rj, summary);
    free(summary);
}

void mkt_rejects_free(mkt_rejects *rj)
{
    if (!rj)
        return;
    clear_summary(rj);
    free(rj->entries);
    free(rj->text);
    free(rj);
}
