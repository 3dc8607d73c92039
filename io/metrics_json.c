/* metrics_json.c — per-stage metrics as JSON, written by rank 0 (see metrics_json.h). */
#include "metrics_json.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "iocheck.h"

static double baseline_mb = -1; /* mkt_metrics_mark_baseline; -1: not marked */

void mkt_rss_mb(double *now, double *peak)
{
    *now = *peak = -1;
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return;
    char line[256];
    long long kb;
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "VmRSS: %lld kB", &kb) == 1)
            *now = (double)kb / 1024.0;
        else if (sscanf(line, "VmHWM: %lld kB", &kb) == 1)
            *peak = (double)kb / 1024.0;
    }
    fclose(f);
}

void mkt_metrics_mark_baseline(void)
{
    double peak;
    if (baseline_mb < 0)
        mkt_rss_mb(&baseline_mb, &peak);
}

/* Collective. The per-rank values gathered on rank 0 as obj[key] (an array). */
static void set_per_rank(json_t *obj, const char *key, double mine, int rank, int nranks, MPI_Comm comm)
{
    double *all = mkt_xmalloc(sizeof(double) * (size_t)nranks);
    MKT_MPI(MPI_Gather(&mine, 1, MPI_DOUBLE, all, 1, MPI_DOUBLE, 0, comm));
    if (rank == 0) {
        json_t *arr = json_array();
        for (int r = 0; r < nranks; r++)
            json_array_append_new(arr, json_real(all[r]));
        json_object_set_new(obj, key, arr);
    }
    free(all);
}

json_t *mkt_metrics_new(const char *stage)
{
    json_t *m = json_object();
    if (!m)
        mkt_fail("out of memory");
    mkt_metrics_set_str(m, "stage", stage);
    mkt_metrics_set_int(m, "ranks", mkt_nranks());
    time_t now = time(NULL);
    char buf[64];
    strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    mkt_metrics_set_str(m, "started_utc", buf);
    return m;
}

void mkt_metrics_write(json_t *metrics, const char *path, MPI_Comm comm)
{
    if (!path || !*path)
        return;
    int rank, nranks, ok = 1;
    char why[512] = "";
    MKT_MPI(MPI_Comm_rank(comm, &rank));
    MKT_MPI(MPI_Comm_size(comm, &nranks));
    /* peak resident memory of every rank, for memory targets and sizing */
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    set_per_rank(metrics, "peak_rss_mb_per_rank", (double)ru.ru_maxrss / 1024.0, rank, nranks, comm);
    /* the fixed cost (libraries, MPI, the open input), when the stage marked it */
    double base[2] = {baseline_mb, -baseline_mb};
    MKT_MPI(MPI_Allreduce(MPI_IN_PLACE, base, 2, MPI_DOUBLE, MPI_MAX, comm));
    if (-base[1] >= 0) { /* every rank marked it */
        set_per_rank(metrics, "baseline_rss_mb_per_rank", baseline_mb, rank, nranks, comm);
        if (rank == 0)
            mkt_metrics_set_real(metrics, "baseline_rss_mb", base[0]);
    }
    if (rank == 0) {
        size_t n = strlen(path) + 8;
        char *tmp = mkt_xmalloc(n);
        snprintf(tmp, n, "%s.tmp", path);
        if (json_dump_file(metrics, tmp, JSON_INDENT(2) | JSON_SORT_KEYS) != 0) {
            ok = 0;
            snprintf(why, sizeof why, "cannot write metrics file %s: %s", tmp, strerror(errno));
            unlink(tmp); /* a partial file, if any */
        } else if (rename(tmp, path) != 0) {
            ok = 0;
            snprintf(why, sizeof why, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
            unlink(tmp);
        }
        free(tmp);
    }
    MKT_MPI(MPI_Bcast(&ok, 1, MPI_INT, 0, comm));
    if (!ok) {
        MKT_MPI(MPI_Bcast(why, sizeof why, MPI_CHAR, 0, comm));
        mkt_fail_all(MKT_EXIT_ERROR, "%s", why);
    }
}

static void set(json_t *obj, const char *key, json_t *v)
{
    if (!v || json_object_set_new(obj, key, v) != 0)
        mkt_fail("cannot set metrics key %s", key);
}

void mkt_metrics_set_int(json_t *obj, const char *key, long long v) { set(obj, key, json_integer(v)); }
void mkt_metrics_set_real(json_t *obj, const char *key, double v)
{
    /* JSON has no NaN or infinity: write null instead of an unparsable file. */
    set(obj, key, isfinite(v) ? json_real(v) : json_null());
}
void mkt_metrics_set_str(json_t *obj, const char *key, const char *v) { set(obj, key, json_string(v ? v : "")); }

json_t *mkt_metrics_child(json_t *obj, const char *key)
{
    json_t *c = json_object_get(obj, key);
    if (c && json_is_object(c))
        return c;
    c = json_object();
    set(obj, key, c);
    return c;
}
