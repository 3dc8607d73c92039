/* report.c — `mkt report`: the driver of the HTML page and its gnuplot plots
 * (report.h, docs/report.md).
 *
 * Owns: opening the inputs (/models, /campaigns, /strategy, the metrics
 * directory), the page helpers (escaped text, sections, figures, the summary
 * of key numbers), reading HDF5 datasets for the sections, calling the
 * sections in page order (report_training.c, report_models.c,
 * report_strategy.c) and writing index.html.  Output files and gnuplot are
 * report_gnuplot.c.  Curve points come from src/metrics.h and
 * src/report_util.h; the sections only pick the data and words.
 *
 * Every rank opens the input files (one collective, clear error for a bad
 * file); rank 0 does the rest; its first error is broadcast and ends the job
 * with a non-zero status.  Must not: compute model quality differently from
 * the training stages (it reuses their metrics functions). */
#define _GNU_SOURCE
#include "report.h"

#include <errno.h>
#include <hdf5.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "h5store.h"
#include "iocheck.h"
#include "metrics_json.h"
#include "par.h"
#include "report_sections.h"
#include "report_util.h"

void rep_fail(rctx *c, const char *fmt, ...)
{
    if (c->err[0])
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, sizeof c->err, fmt, ap);
    va_end(ap);
    if (!c->err[0])
        snprintf(c->err, sizeof c->err, "unknown error");
}

/* ---------- the page ---------- */

void rep_hraw(FILE *f, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
}

/* Text from data files or options, escaped. */
void rep_htext(FILE *f, const char *s)
{
    char *e = mkt_html_escape(s);
    if (!e)
        mkt_fail("out of memory");
    fputs(e, f);
    free(e);
}

const char *rep_num(char *buf, size_t n, double v, int decimals) { return mkt_fmt_num(buf, n, v, decimals); }

/* A paragraph saying what is missing and how to produce it (plain text, escaped). */
void rep_missing(rctx *c, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    rep_hraw(c->body, "<p class=\"missing\"><b>Not shown:</b> ");
    rep_htext(c->body, msg);
    rep_hraw(c->body, "</p>\n");
    json_array_append_new(c->missing, json_string(msg));
}

void rep_section(rctx *c, const char *id, const char *title, const char *intro)
{
    rep_hraw(c->body, "<h2 id=\"%s\">%s</h2>\n", id, title);
    if (intro)
        rep_hraw(c->body, "<p>%s</p>\n", intro);
}

/* A figure: the image and its explanation (the caller writes the explanation
 * paragraphs between figure_begin and figure_end). */
void rep_figure_begin(rctx *c, const char *name, const char *alt)
{
    rep_hraw(c->body, "<figure><img src=\"%s.png\" alt=\"", name);
    rep_htext(c->body, alt);
    rep_hraw(c->body, "\"><figcaption>\n");
}

void rep_figure_end(rctx *c, const char *name)
{
    rep_hraw(c->body, "<p class=\"files\">Data: <a href=\"%s.dat\">%s.dat</a>, gnuplot script: <a href=\"%s.gp\">%s.gp</a></p>\n"
                      "</figcaption></figure>\n",
             name, name, name, name);
}

/* One line of the summary at the top (trusted text: numbers and fixed words;
 * names go in through htext by the caller). */
void rep_key_number(rctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("<li>", c->summary);
    vfprintf(c->summary, fmt, ap);
    fputs("</li>\n", c->summary);
    va_end(ap);
}

/* ---------- reading HDF5 (rank 0, independent reads) ---------- */

int rep_has(const h5in *f, const char *path) { return f->h >= 0 && mkt_h5_exists(f->h, path); }

/* Class and shape of a dataset; 0 when it is missing or not a dataset. */
static int shape_of(rctx *c, const h5in *f, const char *path, H5T_class_t *cls, int64_t *rows, int64_t *cols)
{
    if (!rep_has(f, path))
        return 0;
    H5O_info_t info;
    if (H5Oget_info_by_name(f->h, path, &info, H5P_DEFAULT) < 0 || info.type != H5O_TYPE_DATASET) {
        rep_fail(c, "%s: %s is not a dataset", f->path, path);
        return 0;
    }
    hid_t d = MKT_H5(H5Dopen2(f->h, path, H5P_DEFAULT));
    hid_t t = MKT_H5(H5Dget_type(d));
    hid_t s = MKT_H5(H5Dget_space(d));
    *cls = H5Tget_class(t);
    hsize_t dims[8] = {0};
    int nd = H5Sget_simple_extent_ndims(s);
    if (nd > 2) {
        rep_fail(c, "%s: %s has %d dimensions, expected 1 or 2", f->path, path, nd);
        nd = -1;
    } else if (nd >= 0) {
        H5Sget_simple_extent_dims(s, dims, NULL);
    }
    *rows = nd == 0 ? 1 : (int64_t)dims[0];
    *cols = nd == 2 ? (int64_t)dims[1] : 0;
    H5Sclose(s);
    H5Tclose(t);
    H5Dclose(d);
    return nd >= 0;
}

/* Whole numeric dataset as doubles (or ints); NULL when missing (not an
 * error) or, after rfail, when it is not numeric or has the wrong shape.
 * want_cols: -1 any, 0 one-dimensional, else that many columns. */
void *rep_read_num(rctx *c, const h5in *f, const char *path, int as_int, int64_t want_cols, int64_t *rows,
                      int64_t *cols)
{
    H5T_class_t cls;
    int64_t r = 0, k = 0;
    if (c->err[0] || !shape_of(c, f, path, &cls, &r, &k))
        return NULL;
    if (cls != H5T_INTEGER && cls != H5T_FLOAT) {
        rep_fail(c, "%s: %s is not numeric", f->path, path);
        return NULL;
    }
    if (want_cols >= 0 && k != want_cols) {
        rep_fail(c, "%s: %s has %lld columns, expected %lld", f->path, path, (long long)k, (long long)want_cols);
        return NULL;
    }
    int64_t per = k > 0 ? k : 1;
    size_t es = as_int ? sizeof(int) : sizeof(double);
    void *v = mkt_xcalloc((size_t)(r * per > 0 ? r * per : 1), es);
    mkt_h5_read_rows(f->h, path, as_int ? H5T_NATIVE_INT : H5T_NATIVE_DOUBLE, 0, r, v);
    *rows = r;
    if (cols)
        *cols = k;
    return v;
}

/* Whole string dataset (fixed-length or variable-length), malloc'd strings. */
char **rep_read_strs(rctx *c, const h5in *f, const char *path, int64_t *n)
{
    H5T_class_t cls;
    int64_t r = 0, k = 0;
    if (c->err[0] || !shape_of(c, f, path, &cls, &r, &k))
        return NULL;
    if (cls != H5T_STRING || k != 0) {
        rep_fail(c, "%s: %s is not a list of strings", f->path, path);
        return NULL;
    }
    *n = r;
    hid_t d = MKT_H5(H5Dopen2(f->h, path, H5P_DEFAULT));
    hid_t t = MKT_H5(H5Dget_type(d));
    int vlen = H5Tis_variable_str(t) > 0;
    H5Tclose(t);
    if (!vlen) {
        H5Dclose(d);
        return mkt_h5_read_strings(f->h, path, 0, r);
    }
    char **out = mkt_xcalloc((size_t)(r > 0 ? r : 1), sizeof(char *));
    if (r > 0) {
        char **buf = mkt_xcalloc((size_t)r, sizeof(char *));
        hid_t mt = MKT_H5(H5Tcopy(H5T_C_S1));
        MKT_H5(H5Tset_size(mt, H5T_VARIABLE));
        hid_t space = MKT_H5(H5Dget_space(d));
        MKT_H5(H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf));
        for (int64_t i = 0; i < r; i++)
            out[i] = mkt_xstrdup(buf[i] ? buf[i] : "");
        H5Dvlen_reclaim(mt, space, H5P_DEFAULT, buf);
        H5Sclose(space);
        H5Tclose(mt);
        free(buf);
    }
    H5Dclose(d);
    return out;
}

void rep_free_strs(char **s, int64_t n) { mkt_h5_free_strings(s, n); }

/* ---------- the whole page ---------- */

static const char *const CSS =
    "body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222;line-height:1.45}"
    "h1{border-bottom:2px solid #1f77b4}h2{margin-top:2em;border-bottom:1px solid #ccc}"
    "figure{margin:1.5em 0}figure img{max-width:100%;border:1px solid #ddd}"
    "figcaption p{margin:.4em 0}.missing{background:#fff4e5;border-left:4px solid #ff7f0e;padding:.5em}"
    "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:right}"
    "td:first-child,th:first-child{text-align:left}tr.ours{background:#fde8e8}.files,.note,.meta{color:#666;"
    "font-size:90%}small{color:#666}nav a{margin-right:1em}";

static void write_page(rctx *c)
{
    FILE *f = rep_out_open(c, "index.html.tmp");
    if (!f)
        return;
    const char *title = c->o->title ? c->o->title : "Marketing report";
    fprintf(f, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>");
    rep_htext(f, title);
    fprintf(f, "</title>\n<style>%s</style>\n</head>\n<body>\n<h1>", CSS);
    rep_htext(f, title);
    fprintf(f, "</h1>\n<p class=\"meta\">Written by mkt report on ");
    char when[64];
    time_t now = time(NULL);
    struct tm tmv;
    strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC", gmtime_r(&now, &tmv));
    fprintf(f, "%s from", when);
    const char *what[4] = {"store", "models", "strategy", "training metrics"};
    const char *paths[4] = {c->o->store, c->o->models, c->o->strategy, c->o->metrics_dir};
    int any = 0;
    for (int i = 0; i < 4; i++)
        if (paths[i]) {
            fprintf(f, "%s %s <code>", any ? "," : "", what[i]);
            rep_htext(f, paths[i]);
            fprintf(f, "</code>");
            any = 1;
        }
    fprintf(f, "%s.</p>\n", any ? "" : " no input files");
    fprintf(f, "<nav><a href=\"#summary\">Summary</a><a href=\"#training\">Training</a>"
               "<a href=\"#propensity\">Propensity</a><a href=\"#uplift\">Promotions</a>"
               "<a href=\"#segments\">Segments</a><a href=\"#strategy\">Strategy</a></nav>\n");
    fprintf(f, "<h2 id=\"summary\">Summary</h2>\n");
    if (c->summary_len)
        fprintf(f, "<ul>\n%s</ul>\n", c->summary_text);
    else
        fprintf(f, "<p>No model or strategy results were available; the sections below say what to run.</p>\n");
    if (json_array_size(c->missing))
        fprintf(f, "<p class=\"note\">%zu part(s) of this report are not shown for lack of input; each says why "
                   "below.</p>\n",
                json_array_size(c->missing));
    fwrite(c->body_text, 1, c->body_len, f);
    fprintf(f, "<p class=\"meta\">Every plot was drawn by gnuplot from the .dat file next to it with the .gp "
               "script beside it; rerun <code>gnuplot NAME.gp</code> in this directory to redraw one.</p>\n"
               "</body>\n</html>\n");
    char *from = rep_out_path(c, "index.html.tmp"), *to = rep_out_path(c, "index.html");
    if (!rep_out_close(c, f, "index.html.tmp"))
        unlink(from); /* no partial page left behind */
    else if (rename(from, to) != 0) {
        rep_fail(c, "cannot rename %s to %s: %s", from, to, strerror(errno));
        unlink(from);
    }
    free(from);
    free(to);
}

/* Rank 0: everything after the inputs are open. */
static void build(rctx *c)
{
    rep_prepare(c);
    if (c->err[0])
        return;
    c->body = open_memstream(&c->body_text, &c->body_len);
    c->summary = open_memstream(&c->summary_text, &c->summary_len);
    if (!c->body || !c->summary)
        mkt_fail("out of memory");
    void (*const sections[])(rctx *) = {rep_training_section, rep_propensity_section, rep_uplift_section,
                                        rep_segments_section, rep_strategy_section};
    for (size_t i = 0; i < sizeof sections / sizeof sections[0] && !c->err[0]; i++)
        sections[i](c);
    fclose(c->body);
    fclose(c->summary);
    if (!c->err[0])
        write_page(c);
    char *log = rep_out_path(c, "gnuplot.log");
    struct stat st;
    if (!c->err[0] && stat(log, &st) == 0 && st.st_size == 0)
        unlink(log);
    free(log);
    free(c->body_text);
    free(c->summary_text);
}

static void open_input(h5in *in, const char *path, MPI_Comm comm)
{
    in->path = path;
    in->h = path ? mkt_h5_open(path, 0, comm) : -1;
}

const char *mkt_report_check_options(const mkt_report_options *o)
{
    static char msg[1200];
    if (!o->out || !*o->out)
        return "--out DIR is required (the directory for index.html and the plots)";
    const char *inputs[3] = {o->store, o->models, o->strategy};
    for (int i = 0; i < 3; i++)
        if (inputs[i] && !strcmp(inputs[i], o->out)) {
            snprintf(msg, sizeof msg, "--out %s is also an input file; give a directory for the report "
                                      "(in a job file: [report] out = DIR)", o->out);
            return msg;
        }
    return NULL;
}

int mkt_report_run(const mkt_report_options *o, MPI_Comm comm, json_t *metrics)
{
    double t0 = mkt_now();
    const char *msg = mkt_report_check_options(o);
    if (msg)
        mkt_fail_all(MKT_EXIT_USAGE, "report: %s", msg);
    int rank;
    MKT_MPI(MPI_Comm_rank(comm, &rank));
    /* the metrics directory, checked together */
    char why[1200] = "";
    if (rank == 0 && o->metrics_dir) {
        struct stat st;
        if (stat(o->metrics_dir, &st) != 0)
            snprintf(why, sizeof why, "report: --metrics-dir %s: %s", o->metrics_dir, strerror(errno));
        else if (!S_ISDIR(st.st_mode))
            snprintf(why, sizeof why, "report: --metrics-dir %s: not a directory", o->metrics_dir);
    }
    MKT_MPI(MPI_Bcast(why, sizeof why, MPI_CHAR, 0, comm));
    if (why[0])
        mkt_fail_all(MKT_EXIT_ERROR, "%s", why);

    rctx c;
    memset(&c, 0, sizeof c);
    c.o = o;
    c.term = "pngcairo";
    c.gnuplot = o->gnuplot && *o->gnuplot ? o->gnuplot : "gnuplot";
    char *gp_abs = NULL;
    if (strchr(c.gnuplot, '/') && c.gnuplot[0] != '/') {
        /* a relative path must survive the change of directory */
        gp_abs = realpath(c.gnuplot, NULL);
        if (gp_abs)
            c.gnuplot = gp_abs;
    }
    open_input(&c.store, o->store, comm);
    open_input(&c.models, o->models, comm);
    open_input(&c.strategy, o->strategy, comm);
    c.plots = json_array();
    c.missing = json_array();
    if (rank == 0) {
        mkt_log(STAGE, "writing %s/index.html", o->out);
        build(&c);
    }
    MKT_MPI(MPI_Bcast(c.err, sizeof c.err, MPI_CHAR, 0, comm));
    h5in *all[3] = {&c.store, &c.models, &c.strategy};
    for (int i = 0; i < 3; i++)
        if (all[i]->h >= 0)
            mkt_h5_close(all[i]->h);
    free(gp_abs);
    if (c.err[0]) {
        json_decref(c.plots);
        json_decref(c.missing);
        mkt_fail_all(MKT_EXIT_ERROR, "report: %s", c.err);
    }
    if (rank == 0) {
        mkt_log(STAGE, "%zu plots, %zu parts not shown for lack of input; open %s/index.html",
                json_array_size(c.plots), json_array_size(c.missing), o->out);
        for (size_t i = 0; i < json_array_size(c.missing); i++)
            mkt_log(STAGE, "not shown: %s", json_string_value(json_array_get(c.missing, i)));
    }
    mkt_metrics_set_str(metrics, "out", o->out);
    mkt_metrics_set_str(metrics, "terminal", c.term);
    json_object_set_new(metrics, "plots", c.plots);
    json_object_set_new(metrics, "not_shown", c.missing);
    mkt_metrics_set_real(metrics, "seconds", mkt_now() - t0);
    return MKT_EXIT_OK;
}

