/* cmd_report.c — `mkt report`: its option table, which fills the stage's
 * options (stages/report.h) directly, and the call of the stage
 * (stages/report.c, which checks them).  Must not compute anything itself. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "iocheck.h"
#include "commands.h"
#include "metrics_json.h"
#include "report.h"

typedef struct {
    mkt_report_options s;
    char *metrics_out;
} report_values_t;

#define R(f) offsetof(report_values_t, f)
static const mkt_opt report_opts[] = {
    {"store", MKT_OPT_STR, R(s.store), NULL, "store with the campaign log the uplift models were trained on (Qini curves)", 0, 0},
    {"models", MKT_OPT_STR, R(s.models), NULL, "model file (/models/propensity, uplift, segments)", 0, 0},
    {"strategy", MKT_OPT_STR, R(s.strategy), NULL, "strategy file written by mkt strategy (budget curve, totals, off-policy estimates)", 0, 0},
    {"out", MKT_OPT_STR, R(s.out), NULL, "directory to write index.html, the PNG plots and their data and scripts to (created)", 0, 0},
    {"metrics-dir", MKT_OPT_STR, R(s.metrics_dir), NULL, "directory with train_mf.json and train_propensity.json (default: the directory of --metrics-out)", 0, 0},
    {"gnuplot", MKT_OPT_STR, R(s.gnuplot), "gnuplot", "gnuplot program", 0, 0},
    {"title", MKT_OPT_STR, R(s.title), "Marketing report", "title of the page", 0, 0},
    {"metrics-out", MKT_OPT_STR, R(metrics_out), NULL, "write what the stage did as JSON to this file", 0, 0},
    MKT_OPT_END};

static report_values_t report_values;

static int run_report(void *p, MPI_Comm comm)
{
    report_values_t *o = p;
    /* in a job file the training stages write DIR/STAGE.json and this stage DIR/report.json */
    mkt_report_options s = o->s;
    char *dir = NULL;
    if (!s.metrics_dir && o->metrics_out) {
        dir = mkt_xstrdup(o->metrics_out);
        char *slash = strrchr(dir, '/');
        if (slash == dir)
            slash[1] = 0;
        else if (slash)
            *slash = 0;
        else
            strcpy(dir, ".");
        s.metrics_dir = dir;
    }
    json_t *m = mkt_metrics_new("report");
    int rc = mkt_report_run(&s, comm, m);
    mkt_metrics_write(m, o->metrics_out, comm);
    json_decref(m);
    free(dir);
    return rc;
}

const mkt_command mkt_cmd_report = {
    .name = "report",
    .usage = "mkt report --out DIR [--store S] [--models M] [--strategy STRATEGY.h5] [--metrics-dir DIR]",
    .description = "Write an HTML page with PNG plots (drawn by gnuplot) that a marketing lead can read: training curves, "
                   "propensity ROC, calibration and gains, Qini curves per promotion, segments, and the strategy's budget curve, "
                   "predicted totals beside the reference policies and off-policy estimates. Inputs not given leave their "
                   "section saying what is missing.",
    .opts = report_opts,
    .values = &report_values,
    .values_size = sizeof report_values,
    .run = run_report,
};
