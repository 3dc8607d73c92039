/* report_sections.h — what the files of `mkt report` share (private to
 * stages/report*.c; the stage's entry point is report.h): the context of one
 * run, the page helpers and HDF5 readers (report.c), the output files and
 * gnuplot (report_gnuplot.c), and one function per section of the page
 * (report_training.c, report_models.c, report_strategy.c).
 *
 * Every function here runs on rank 0 only and records its first error with
 * rep_fail instead of exiting.  Must not: be included outside stages/report*.c. */
#ifndef MKT_REPORT_SECTIONS_H
#define MKT_REPORT_SECTIONS_H

#include <hdf5.h>
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "report.h"

#define STAGE "report"
#define ERRLEN 2048
#define LABEL_CHARS 28 /* longest name on an axis */

typedef struct {
    hid_t h; /* -1: not given */
    const char *path;
} h5in;

typedef struct {
    const mkt_report_options *o;
    h5in store, models, strategy;
    const char *gnuplot;
    const char *term; /* "pngcairo" or "png" */
    FILE *body;       /* the sections (memory stream) */
    char *body_text;
    size_t body_len;
    FILE *summary;    /* the key numbers at the top (memory stream) */
    char *summary_text;
    size_t summary_len;
    char err[ERRLEN]; /* first error; empty while all is well */
    json_t *plots, *missing;
} rctx;

/* ---------- report.c: errors, the page, reading HDF5 ---------- */

/* Record the first error (later ones are dropped). */
void rep_fail(rctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void rep_hraw(FILE *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void rep_htext(FILE *f, const char *s);
const char *rep_num(char *buf, size_t n, double v, int decimals);
void rep_missing(rctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void rep_section(rctx *c, const char *id, const char *title, const char *intro);
void rep_figure_begin(rctx *c, const char *name, const char *alt);
void rep_figure_end(rctx *c, const char *name);
void rep_key_number(rctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int rep_has(const h5in *f, const char *path);
void *rep_read_num(rctx *c, const h5in *f, const char *path, int as_int, int64_t want_cols, int64_t *rows,
                   int64_t *cols);
char **rep_read_strs(rctx *c, const h5in *f, const char *path, int64_t *n);
void rep_free_strs(char **s, int64_t n);

/* ---------- report_gnuplot.c: output files and gnuplot ---------- */

char *rep_out_path(rctx *c, const char *name);
FILE *rep_out_open(rctx *c, const char *name);
int rep_out_close(rctx *c, FILE *f, const char *name);
void rep_prepare(rctx *c);
FILE *rep_gp_begin(rctx *c, const char *name, int width, int height);
int rep_gp_run(rctx *c, const char *name, FILE *f);
void rep_gp_str(FILE *f, const char *s, int max_chars);
void rep_gp_name_tics(FILE *f, char **names, int64_t n);
void rep_gp_yrange_of(FILE *f, double lo, double hi);
void rep_gp_bar_yrange(FILE *f, const double *const *tables, int ntables, int64_t n, int64_t M, int col);

/* ---------- the sections, in page order ---------- */

void rep_training_section(rctx *c);   /* report_training.c */
void rep_propensity_section(rctx *c); /* report_models.c */
/* the importance part of section 2 for a gbdt model of `inputs` features in group */
void rep_propensity_gbdt(rctx *c, const char *group, int inputs); /* report_gbdt.c */
void rep_uplift_section(rctx *c);     /* report_models.c */
void rep_segments_section(rctx *c);   /* report_models.c */
void rep_strategy_section(rctx *c);   /* report_strategy.c */

#endif
