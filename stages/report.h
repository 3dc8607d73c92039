/* report.h — `mkt report`: one HTML page with PNG plots rendered by gnuplot
 * that a marketing lead can read: training curves, propensity ROC,
 * calibration and gains, Qini curves per promotion, segments, and the
 * strategy's budget curve, predicted totals beside the reference policies
 * and off-policy estimates (docs/report.md).
 *
 * Owns the output directory (index.html, NAME.png, NAME.dat, NAME.gp) and the
 * calls of gnuplot.  Every rank opens the input files (so a bad file is one
 * clear collective error); rank 0 reads them, computes the curve points
 * (src/metrics.h, src/report_util.h), writes the files and runs gnuplot; the
 * outcome is broadcast.  Inputs that are not given, and datasets that are
 * absent, leave their section in the page saying what is missing and how to
 * produce it.  Collective. */
#ifndef MKT_REPORT_H
#define MKT_REPORT_H

#include <jansson.h>
#include <mpi.h>

typedef struct {
    const char *store;       /* shop store (campaign log for the Qini curves); may be NULL */
    const char *models;      /* model file (/models/...); may be NULL */
    const char *strategy;    /* strategy file (/strategy); may be NULL */
    const char *metrics_dir; /* directory with train_mf.json, train_propensity.json; may be NULL */
    const char *out;         /* output directory (created) */
    const char *gnuplot;     /* gnuplot program (searched on PATH when it has no '/') */
    const char *title;       /* page title */
} mkt_report_options;

/* NULL if the options are usable (an output directory, which is none of the
 * input files), else a message that starts with the bad option (a static
 * buffer).  Pure: the files are not looked at. */
const char *mkt_report_check_options(const mkt_report_options *o);
/* Collective.  Checks the options (one usage error) and writes the page. */
int mkt_report_run(const mkt_report_options *o, MPI_Comm comm, json_t *metrics);

#endif
