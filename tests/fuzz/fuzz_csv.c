/* fuzz_csv.c — libFuzzer target for the CSV reader (io/csv.c): any bytes,
 * read with any dialect, must open or fail with a message naming the file,
 * and every record must be well formed: line numbers start at 1 and grow,
 * each record spans at least one line and no line past the file's end, a
 * good record has at least one field (whitespace mode: a line of blanks is
 * skipped) no longer than its raw text, a bad one
 * a reason this reader documents.  The rejects log must take
 * every bad record.  The first input byte picks the dialect; the rest is the
 * file (written to a memfd, opened through /proc/self/fd).
 * Built and run by tests/fuzz/run_csv.sh (clang -fsanitize=fuzzer,address,undefined). */

#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "csv.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    int provided;
    MPI_Init_thread(NULL, NULL, MPI_THREAD_SINGLE, &provided);
    return 0;
}

static const char *const reasons[] = {"invalid UTF-8", "NUL byte", "unterminated quoted field", "stray quote",
                                      "quoted field spans too many lines"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const delims[] = {",", "\t", ";", "::", "|", " ", "ab", "\t\t"};
    mkt_csv_dialect d;
    memset(&d, 0, sizeof d);
    unsigned pick = size > 0 ? data[0] : 0;
    snprintf(d.delim, sizeof d.delim, "%s", delims[pick & 7]);
    d.has_header = (pick >> 3) & 1;
    d.whitespace = (pick >> 4) & 1; /* runs of blanks separate fields */
    const char *body = size > 0 ? (const char *)data + 1 : "";
    size_t len = size > 0 ? size - 1 : 0;

    int fd = memfd_create("fuzz_csv", MFD_CLOEXEC);
    if (fd < 0 || (len > 0 && write(fd, body, len) != (ssize_t)len))
        abort();
    char path[64], err[1024] = "";
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    mkt_csv_reader *r = mkt_csv_open(path, &d, MPI_COMM_SELF, err, sizeof err);
    if (!r) {
        if (!strstr(err, path))
            abort(); /* an open failure names the file */
        close(fd);
        return 0;
    }
    int64_t newlines = 0;
    for (size_t i = 0; i < len; i++)
        newlines += body[i] == '\n';
    if (mkt_csv_file_bytes(r) != (int64_t)len || mkt_csv_local_bytes(r) != (int64_t)len)
        abort();
    const mkt_csv_record *h = mkt_csv_header(r);
    int64_t last = 0;
    if (h) {
        if (h->nfields < 1 || h->line < 1)
            abort();
        last = h->line;
    }
    mkt_rejects *rj = mkt_rejects_new();
    mkt_csv_record rec;
    const char *bad;
    int64_t bad_count = 0;
    while (mkt_csv_next(r, &rec, &bad)) {
        if (rec.line <= last || rec.lines < 1 || rec.line + rec.lines - 1 > newlines + 1)
            abort();
        if (rec.raw_len > len || (rec.raw_len > 0 && !rec.raw))
            abort();
        if (rec.nfields < 0) {
            int known = 0;
            for (size_t i = 0; bad && i < sizeof reasons / sizeof *reasons; i++)
                known |= !strcmp(bad, reasons[i]);
            if (!known || rec.fields)
                abort();
            mkt_rejects_add(rj, rec.line, bad, rec.raw, rec.raw_len);
            bad_count++;
        } else {
            if (bad || rec.nfields < 1)
                abort();
            for (int i = 0; i < rec.nfields; i++)
                if (!rec.fields[i] || strlen(rec.fields[i]) > rec.raw_len)
                    abort();
        }
        last = rec.line + rec.lines - 1;
    }
    if (mkt_rejects_count(rj) != bad_count)
        abort();
    mkt_rejects_write(rj, "fuzz.csv", NULL, MPI_COMM_SELF);
    if (mkt_rejects_global_count(rj) != bad_count)
        abort();
    mkt_rejects_free(rj);
    mkt_csv_close(r);
    close(fd);
    return 0;
}
