/* metrics_json.h — the JSON object each stage writes with --metrics-out.
 *
 * A stage fills a jansson object (counts, timings, model metrics); rank 0
 * writes it atomically (temporary name, then rename) when the stage ends. */
#ifndef MKT_METRICS_H
#define MKT_METRICS_H

#include <jansson.h>
#include <mpi.h>

json_t *mkt_metrics_new(const char *stage);
/* Collective (only rank 0 writes). path may be NULL: nothing is written. */
void mkt_metrics_write(json_t *metrics, const char *path, MPI_Comm comm);
/* Shorthands that abort on allocation failure. */
void mkt_metrics_set_int(json_t *obj, const char *key, long long v);
void mkt_metrics_set_real(json_t *obj, const char *key, double v);
void mkt_metrics_set_str(json_t *obj, const char *key, const char *v);
json_t *mkt_metrics_child(json_t *obj, const char *key); /* get or create a nested object */

/* Rank-local. This process's resident memory now and its peak so far, in MB
 * (VmRSS and VmHWM of /proc/self/status; -1 where unavailable). */
void mkt_rss_mb(double *now, double *peak);
/* Rank-local. Records the resident memory now as the process's fixed cost
 * (libraries, MPI, the opened input file), the first time it is called: a
 * stage calls it once its input is open and before it reads data.  Metrics
 * written afterwards hold "baseline_rss_mb" (the largest over ranks) and
 * "baseline_rss_mb_per_rank" beside "peak_rss_mb_per_rank". */
void mkt_metrics_mark_baseline(void);

#endif
