/* report.c — `mkt report`: the HTML page and its gnuplot plots (report.h,
 * docs/report.md).
 *
 * Owns: reading what the page shows (metrics JSON, /models, /campaigns,
 * /strategy), writing NAME.dat (the plotted numbers), NAME.gp (the gnuplot
 * script) and NAME.png per plot, running gnuplot, and index.html.  Curve
 * points come from src/metrics.h and src/report_util.h; this file only picks
 * the data and words.
 *
 * Safety: gnuplot runs with the output directory as its working directory
 * and the script's own name as its only argument (posix_spawn, no shell), so
 * the paths given by the user never appear in a script or a command line.
 * Names from data files (segments, arms, policies) reach gnuplot through
 * mkt_gp_quote (noenhanced terminal) and the page through mkt_html_escape.
 *
 * Every rank opens the input files (one collective, clear error for a bad
 * file); rank 0 does the rest; its first error is broadcast and ends the job
 * with a non-zero status.  Must not: compute model quality differently from
 * the training stages (it reuses their metrics functions). */
#define _GNU_SOURCE
#include "report.h"

#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "iocheck.h"
#include "h5store.h"
#include "metrics.h"
#include "metrics_json.h"
#include "par.h"
#include "report_util.h"
#include "schema.h"
#include "uplift.h"

extern char **environ;

#define STAGE "report"
#define ERRLEN 2048
#define GNUPLOT_TIMEOUT 120.0 /* seconds per plot */
#define LABEL_CHARS 28        /* longest name on an axis */

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

static void rfail(rctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void rfail(rctx *c, const char *fmt, ...)
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

static void hraw(FILE *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void hraw(FILE *f, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
}

/* Text from data files or options, escaped. */
static void htext(FILE *f, const char *s)
{
    char *e = mkt_html_escape(s);
    if (!e)
        mkt_fail("out of memory");
    fputs(e, f);
    free(e);
}

static const char *num(char *buf, size_t n, double v, int decimals) { return mkt_fmt_num(buf, n, v, decimals); }

/* A paragraph saying what is missing and how to produce it (plain text, escaped). */
static void missing(rctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void missing(rctx *c, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    hraw(c->body, "<p class=\"missing\"><b>Not shown:</b> ");
    htext(c->body, msg);
    hraw(c->body, "</p>\n");
    json_array_append_new(c->missing, json_string(msg));
}

static void section(rctx *c, const char *id, const char *title, const char *intro)
{
    hraw(c->body, "<h2 id=\"%s\">%s</h2>\n", id, title);
    if (intro)
        hraw(c->body, "<p>%s</p>\n", intro);
}

/* A figure: the image and its explanation (the caller writes the explanation
 * paragraphs between figure_begin and figure_end). */
static void figure_begin(rctx *c, const char *name, const char *alt)
{
    hraw(c->body, "<figure><img src=\"%s.png\" alt=\"", name);
    htext(c->body, alt);
    hraw(c->body, "\"><figcaption>\n");
}

static void figure_end(rctx *c, const char *name)
{
    hraw(c->body, "<p class=\"files\">Data: <a href=\"%s.dat\">%s.dat</a>, gnuplot script: <a href=\"%s.gp\">%s.gp</a></p>\n"
                  "</figcaption></figure>\n",
         name, name, name, name);
}

static void key_number(rctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* One line of the summary at the top (trusted text: numbers and fixed words;
 * names go in through htext by the caller). */
static void key_number(rctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("<li>", c->summary);
    vfprintf(c->summary, fmt, ap);
    fputs("</li>\n", c->summary);
    va_end(ap);
}

/* ---------- output files and gnuplot ---------- */

static char *out_path(rctx *c, const char *name)
{
    size_t n = strlen(c->o->out) + strlen(name) + 2;
    char *p = mkt_xmalloc(n);
    snprintf(p, n, "%s/%s", c->o->out, name);
    return p;
}

static FILE *out_open(rctx *c, const char *name)
{
    if (c->err[0])
        return NULL;
    char *p = out_path(c, name);
    FILE *f = fopen(p, "w");
    if (!f)
        rfail(c, "cannot write %s: %s", p, strerror(errno));
    free(p);
    return f;
}

static int out_close(rctx *c, FILE *f, const char *name)
{
    if (!f)
        return 0;
    int bad = ferror(f);
    if (fclose(f) != 0 || bad) {
        char *p = out_path(c, name);
        rfail(c, "cannot write %s: %s", p, strerror(errno ? errno : EIO));
        free(p);
        return 0;
    }
    return 1;
}

/* The first bytes of gnuplot's messages, on one line. */
static void read_log(rctx *c, char *buf, size_t n)
{
    buf[0] = 0;
    char *p = out_path(c, "gnuplot.log");
    FILE *f = fopen(p, "r");
    free(p);
    if (!f)
        return;
    size_t got = fread(buf, 1, n - 1, f);
    fclose(f);
    buf[got] = 0;
    for (size_t i = 0; i < got; i++)
        if (buf[i] == '\n' || buf[i] == '\r')
            buf[i] = ' ';
}

/* Run gnuplot on SCRIPT (a file name in the output directory), in that
 * directory.  Returns the exit status, -1 when it could not be started (errno
 * in *err), -2 on timeout. */
static int run_gnuplot(rctx *c, const char *script, int *err)
{
    posix_spawn_file_actions_t fa;
    *err = 0;
    if (posix_spawn_file_actions_init(&fa) != 0) {
        *err = ENOMEM;
        return -1;
    }
    int rc = posix_spawn_file_actions_addchdir_np(&fa, c->o->out);
    if (rc == 0)
        rc = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    if (rc == 0)
        rc = posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    if (rc == 0)
        rc = posix_spawn_file_actions_addopen(&fa, 2, "gnuplot.log", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    pid_t pid = 0;
    char *argv[] = {(char *)c->gnuplot, (char *)script, NULL};
    if (rc == 0)
        rc = posix_spawnp(&pid, c->gnuplot, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
        *err = rc;
        return -1;
    }
    double t0 = mkt_now();
    int status = 0;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            break;
        if (r < 0 && errno != EINTR) {
            *err = errno;
            return -1;
        }
        if (mkt_now() - t0 > GNUPLOT_TIMEOUT) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return -2;
        }
        struct timespec ts = {0, 5000000};
        nanosleep(&ts, NULL);
    }
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

static void gnuplot_error(rctx *c, const char *script, int rc, int err)
{
    char *p = out_path(c, script);
    if (rc == -1 && err == ENOENT)
        rfail(c, "gnuplot not found ('%s'): install it (Debian: apt-get install gnuplot-nox) or give --gnuplot "
                 "PATH",
              c->gnuplot);
    else if (rc == -1)
        rfail(c, "cannot run gnuplot ('%s') on %s: %s", c->gnuplot, p, strerror(err));
    else if (rc == -2)
        rfail(c, "gnuplot did not finish %s within %.0f s", p, GNUPLOT_TIMEOUT);
    else {
        char log[600];
        read_log(c, log, sizeof log);
        rfail(c, "gnuplot failed on %s (exit status %d): %s", p, rc, log[0] ? log : "no message");
    }
    free(p);
}

/* Output directory, gnuplot and its PNG terminal: pngcairo when it works,
 * else png. */
static void prepare(rctx *c)
{
    const char *out = c->o->out;
    char *tmp = mkt_xstrdup(out);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST) {
            rfail(c, "cannot create directory %s: %s", tmp, strerror(errno));
            free(tmp);
            return;
        }
        *p = '/';
    }
    free(tmp);
    if (mkdir(out, 0755) != 0 && errno != EEXIST) {
        rfail(c, "cannot create directory %s: %s", out, strerror(errno));
        return;
    }
    struct stat st;
    if (stat(out, &st) != 0 || !S_ISDIR(st.st_mode)) {
        rfail(c, "--out %s: not a directory", out);
        return;
    }
    static const char *const terms[2] = {"pngcairo", "png"};
    for (int t = 0; t < 2 && !c->err[0]; t++) {
        FILE *f = out_open(c, "probe.gp");
        if (!f)
            return;
        fprintf(f, "set terminal %s\n", terms[t]);
        if (!out_close(c, f, "probe.gp"))
            return;
        int err = 0, rc = run_gnuplot(c, "probe.gp", &err);
        if (rc == 0) {
            c->term = terms[t];
            break;
        }
        if (rc < 0 || t == 1)
            gnuplot_error(c, "probe.gp", rc, err);
    }
    char *p = out_path(c, "probe.gp");
    unlink(p);
    free(p);
    if (!c->err[0] && strcmp(c->term, "pngcairo") != 0)
        mkt_log(STAGE, "gnuplot has no pngcairo terminal; using png");
}

/* Start NAME.gp: terminal, output NAME.png, common style. */
static FILE *gp_begin(rctx *c, const char *name, int width, int height)
{
    char file[256];
    snprintf(file, sizeof file, "%s.gp", name);
    FILE *f = out_open(c, file);
    if (!f)
        return NULL;
    fprintf(f, "# %s.gp: drawn by mkt report; `gnuplot %s.gp` in this directory redraws %s.png from %s.dat\n", name,
            name, name, name);
    if (!strcmp(c->term, "pngcairo"))
        fprintf(f, "set terminal pngcairo size %d,%d noenhanced font 'Sans,11' linewidth 1.3\n", width, height);
    else
        fprintf(f, "set terminal png size %d,%d noenhanced\n", width, height);
    fprintf(f, "set encoding utf8\nset output '%s.png'\n", name);
    fprintf(f, "set grid lc rgb '#dddddd'\nset border lc rgb '#555555'\nset key box opaque\n");
    fprintf(f, "set linetype 1 lc rgb '#1f77b4' lw 2 pt 7\nset linetype 2 lc rgb '#ff7f0e' lw 2 pt 5\n"
               "set linetype 3 lc rgb '#2ca02c' lw 2 pt 9\nset linetype 4 lc rgb '#d62728' lw 2 pt 11\n");
    return f;
}

/* Finish NAME.gp and draw it.  Returns 1 when NAME.png was drawn. */
static int gp_run(rctx *c, const char *name, FILE *f)
{
    char file[256];
    snprintf(file, sizeof file, "%s.gp", name);
    if (!f)
        return 0;
    fprintf(f, "unset output\n");
    if (!out_close(c, f, file))
        return 0;
    int err = 0, rc = run_gnuplot(c, file, &err);
    if (rc != 0) {
        gnuplot_error(c, file, rc, err);
        return 0;
    }
    snprintf(file, sizeof file, "%s.png", name);
    char *p = out_path(c, file);
    struct stat st;
    if (stat(p, &st) != 0 || st.st_size == 0) {
        rfail(c, "gnuplot wrote no %s", p);
        free(p);
        return 0;
    }
    free(p);
    json_array_append_new(c->plots, json_string(file));
    return 1;
}

/* A gnuplot string literal of s (names from data files). */
static void gp_str(FILE *f, const char *s, int max_chars)
{
    char *q = mkt_gp_quote(s, max_chars);
    if (!q)
        mkt_fail("out of memory");
    fputs(q, f);
    free(q);
}

/* `set xtics (name0 0, name1 1, ...)` */
static void gp_name_tics(FILE *f, char **names, int64_t n)
{
    fprintf(f, "set xtics (");
    for (int64_t i = 0; i < n; i++) {
        if (i)
            fprintf(f, ", ");
        gp_str(f, names[i], LABEL_CHARS);
        fprintf(f, " %lld", (long long)i);
    }
    fprintf(f, ")\n");
}

/* `set yrange` from lo <= 0 to hi >= 0, padded where not 0. */
static void gp_yrange_of(FILE *f, double lo, double hi)
{
    double pad = 0.08 * (hi - lo);
    if (pad <= 0)
        pad = 1;
    fprintf(f, "set yrange [%.10g:%.10g]\n", lo < 0 ? lo - pad : 0, hi > 0 || lo == 0 ? hi + pad : 0);
}

/* `set yrange` for bars from 0: covers 0 and column `col` of the first n
 * rows of each [rows x M] table (NULL tables skipped), with room above and
 * below for markers. */
static void gp_bar_yrange(FILE *f, const double *const *tables, int ntables, int64_t n, int64_t M, int col)
{
    double lo = 0, hi = 0;
    for (int t = 0; t < ntables; t++)
        for (int64_t p = 0; tables[t] && p < n; p++) {
            double v = tables[t][p * M + col];
            if (isfinite(v)) {
                lo = v < lo ? v : lo;
                hi = v > hi ? v : hi;
            }
        }
    gp_yrange_of(f, lo, hi);
}

/* ---------- reading HDF5 (rank 0, independent reads) ---------- */

static int has(const h5in *f, const char *path) { return f->h >= 0 && mkt_h5_exists(f->h, path); }

/* Class and shape of a dataset; 0 when it is missing or not a dataset. */
static int shape_of(rctx *c, const h5in *f, const char *path, H5T_class_t *cls, int64_t *rows, int64_t *cols)
{
    if (!has(f, path))
        return 0;
    H5O_info_t info;
    if (H5Oget_info_by_name(f->h, path, &info, H5P_DEFAULT) < 0 || info.type != H5O_TYPE_DATASET) {
        rfail(c, "%s: %s is not a dataset", f->path, path);
        return 0;
    }
    hid_t d = MKT_H5(H5Dopen2(f->h, path, H5P_DEFAULT));
    hid_t t = MKT_H5(H5Dget_type(d));
    hid_t s = MKT_H5(H5Dget_space(d));
    *cls = H5Tget_class(t);
    hsize_t dims[8] = {0};
    int nd = H5Sget_simple_extent_ndims(s);
    if (nd > 2) {
        rfail(c, "%s: %s has %d dimensions, expected 1 or 2", f->path, path, nd);
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
static void *read_num(rctx *c, const h5in *f, const char *path, int as_int, int64_t want_cols, int64_t *rows,
                      int64_t *cols)
{
    H5T_class_t cls;
    int64_t r = 0, k = 0;
    if (c->err[0] || !shape_of(c, f, path, &cls, &r, &k))
        return NULL;
    if (cls != H5T_INTEGER && cls != H5T_FLOAT) {
        rfail(c, "%s: %s is not numeric", f->path, path);
        return NULL;
    }
    if (want_cols >= 0 && k != want_cols) {
        rfail(c, "%s: %s has %lld columns, expected %lld", f->path, path, (long long)k, (long long)want_cols);
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
static char **read_strs(rctx *c, const h5in *f, const char *path, int64_t *n)
{
    H5T_class_t cls;
    int64_t r = 0, k = 0;
    if (c->err[0] || !shape_of(c, f, path, &cls, &r, &k))
        return NULL;
    if (cls != H5T_STRING || k != 0) {
        rfail(c, "%s: %s is not a list of strings", f->path, path);
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

static void free_strs(char **s, int64_t n) { mkt_h5_free_strings(s, n); }

/* ---------- metrics JSON ---------- */

/* DIR/NAME parsed; NULL when absent (why says so), or after rfail when it
 * cannot be read or parsed. */
static json_t *load_json(rctx *c, const char *name, char *why, size_t n)
{
    size_t len = strlen(c->o->metrics_dir) + strlen(name) + 2;
    char *p = mkt_xmalloc(len);
    snprintf(p, len, "%s/%s", c->o->metrics_dir, name);
    struct stat st;
    if (stat(p, &st) != 0) {
        snprintf(why, n, "%s is absent", p);
        free(p);
        return NULL;
    }
    json_error_t e;
    json_t *j = json_load_file(p, 0, &e);
    if (!j)
        rfail(c, "%s: not readable JSON (line %d: %s)", p, e.line, e.text);
    else if (!json_is_object(j)) {
        rfail(c, "%s: not a JSON object", p);
        json_decref(j);
        j = NULL;
    }
    free(p);
    return j;
}

static double jnum(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

/* ---------- 1. training curves ---------- */

static void training_mf(rctx *c, json_t *j)
{
    json_t *hist = json_object_get(j, "history");
    size_t n = json_is_array(hist) ? json_array_size(hist) : 0;
    int any = 0;
    for (size_t i = 0; i < n; i++)
        any |= isfinite(jnum(json_array_get(hist, i), "rmse"));
    if (!any) {
        json_t *mode = json_object_get(j, "mode");
        if (json_is_string(mode) && !strcmp(json_string_value(mode), "implicit"))
            missing(c, "the factorization model was trained on implicit feedback (views, purchases), which has no "
                       "rating error per iteration; its quality is in train_mf.json (hr@K, ndcg@K).");
        else
            missing(c, "train_mf.json has no per-iteration history with rmse; rerun mkt train mf with "
                       "--metrics-out.");
        return;
    }
    FILE *d = out_open(c, "mf_training.dat");
    if (!d)
        return;
    fprintf(d, "# iteration train_rmse heldout_rmse\n");
    double last = NAN, first = NAN;
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(hist, i);
        double it = jnum(e, "iteration");
        if (!isfinite(it))
            it = (double)(i + 1);
        double r = jnum(e, "rmse");
        fprintf(d, "%g %.10g %.10g\n", it, jnum(e, "train_rmse"), r);
        if (isfinite(r)) {
            if (!isfinite(first))
                first = r;
            last = r;
        }
    }
    if (!out_close(c, d, "mf_training.dat"))
        return;
    double base = jnum(json_object_get(j, "baseline"), "bias_rmse");
    FILE *g = gp_begin(c, "mf_training", 900, 480);
    if (!g)
        return;
    fprintf(g, "set title 'Recommendations: rating prediction error while training'\n"
               "set xlabel 'training iteration'\nset ylabel 'RMSE in rating stars (lower is better)'\n"
               "set key top right\nset format x '%%.0f'\n");
    if (n <= 25)
        fprintf(g, "set xtics 1\n");
    fprintf(g, "plot 'mf_training.dat' using 1:2 with linespoints lt 1 title 'ratings the model learned from', \\\n"
               "     '' using 1:3 with linespoints lt 2 title 'held-out ratings (never seen)'");
    if (isfinite(base))
        fprintf(g, ", \\\n     %.10g with lines dt 2 lc rgb '#777777' title 'baseline: user and item averages only'",
                base);
    fprintf(g, "\n");
    if (!gp_run(c, "mf_training", g))
        return;
    char a[64], b[64], e[64];
    figure_begin(c, "mf_training", "rating error of the factorization model per training iteration");
    hraw(c->body,
         "<p><b>What it shows:</b> how far the recommendation model's predicted star ratings are from real ratings "
         "(root mean squared error), after each pass of training. The orange line is measured on ratings the model "
         "never saw, so it is the honest one.</p>\n"
         "<p><b>How to read it:</b> both lines should fall and level off. If the orange line rises while the blue "
         "one keeps falling, the model memorises instead of learning (more regularisation is needed).");
    if (isfinite(base))
        hraw(c->body, " The dashed line is what a model that only knows each user's and item's average gets: the "
                      "taste factors earn their keep if the orange line ends below it.");
    hraw(c->body, "</p>\n<p><b>Key number:</b> held-out error %s stars after the last iteration (%s after the first)",
         num(a, sizeof a, last, 3), num(b, sizeof b, first, 3));
    if (isfinite(base))
        hraw(c->body, ", against %s for the averages-only baseline", num(e, sizeof e, base, 3));
    hraw(c->body, ".</p>\n");
    figure_end(c, "mf_training");
    key_number(c, "Recommendations: held-out rating error %s stars%s%s%s.", num(a, sizeof a, last, 3),
               isfinite(base) ? " (averages-only baseline " : "", isfinite(base) ? num(e, sizeof e, base, 3) : "",
               isfinite(base) ? ")" : "");
}

static void training_propensity(rctx *c, json_t *j)
{
    json_t *hist = json_object_get(j, "history");
    size_t n = json_is_array(hist) ? json_array_size(hist) : 0;
    if (n == 0) {
        missing(c, "train_propensity.json has no per-epoch history; rerun mkt train propensity with --metrics-out.");
        return;
    }
    FILE *d = out_open(c, "propensity_training.dat");
    if (!d)
        return;
    fprintf(d, "# epoch train_loss val_loss val_auc\n");
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(hist, i);
        double ep = jnum(e, "epoch");
        fprintf(d, "%g %.10g %.10g %.10g\n", isfinite(ep) ? ep : (double)(i + 1), jnum(e, "train_loss"),
                jnum(e, "val_loss"), jnum(e, "val_auc"));
    }
    if (!out_close(c, d, "propensity_training.dat"))
        return;
    double best = jnum(j, "best_epoch");
    double auc = NAN, loss = NAN;
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(hist, i);
        if (!isfinite(best) || jnum(e, "epoch") == best) {
            auc = jnum(e, "val_auc");
            loss = jnum(e, "val_loss");
        }
    }
    FILE *g = gp_begin(c, "propensity_training", 900, 480);
    if (!g)
        return;
    fprintf(g, "set title 'Purchase propensity: loss and AUC while training'\n"
               "set xlabel 'training epoch'\nset ylabel 'log loss (lower is better)'\n"
               "set y2label 'validation AUC (higher is better)'\nset ytics nomirror\nset y2tics\n"
               "set key center right\nset format x '%%.0f'\n");
    if (n <= 25)
        fprintf(g, "set xtics 1\n");
    if (isfinite(best))
        fprintf(g, "set arrow from %g, graph 0 to %g, graph 1 nohead dt 3 lc rgb '#555555'\n"
                   "set label 'kept model (epoch %g)' at %g, graph 0.04 offset 0.5,0\n",
                best, best, best, best);
    fprintf(g, "plot 'propensity_training.dat' using 1:2 with linespoints lt 1 title 'training loss', \\\n"
               "     '' using 1:3 with linespoints lt 2 title 'validation loss', \\\n"
               "     '' using 1:4 axes x1y2 with linespoints lt 3 dt 2 title 'validation AUC (right axis)'\n");
    if (!gp_run(c, "propensity_training", g))
        return;
    char a[64], b[64];
    figure_begin(c, "propensity_training", "loss and AUC of the purchase propensity model per training epoch");
    hraw(c->body,
         "<p><b>What it shows:</b> the purchase-propensity model (who will buy in the coming days) after each "
         "training epoch: its error on the customers it learns from (blue) and on held-out customers (orange), "
         "and how well it ranks held-out buyers above non-buyers (green, AUC, right axis).</p>\n"
         "<p><b>How to read it:</b> the losses should fall and flatten; training stops when the validation loss "
         "no longer improves, and the model of the best epoch (dotted line) is the one kept. The training loss "
         "includes a penalty on large weights and class weights, so it can sit above the validation loss.</p>\n"
         "<p><b>Key number:</b> kept model: validation AUC %s, validation log loss %s.</p>\n",
         num(a, sizeof a, auc, 3), num(b, sizeof b, loss, 4));
    figure_end(c, "propensity_training");
}

/* The table of `mkt tune --table METRICS_DIR/tune_table.json`: one point per
 * configuration (its selection value), the best one marked, configurations
 * named by their options on the x axis. */
static void training_tune(rctx *c, json_t *j)
{
    json_t *rows = json_object_get(j, "rows");
    size_t n = json_is_array(rows) ? json_array_size(rows) : 0;
    json_t *jm = json_object_get(j, "metric"), *jg = json_object_get(j, "goal"), *js = json_object_get(j, "split");
    const char *metric = json_is_string(jm) ? json_string_value(jm) : "score";
    const char *goal = json_is_string(jg) ? json_string_value(jg) : "";
    const char *split = json_is_string(js) ? json_string_value(js) : "validation";
    double best_cfg = jnum(json_object_get(j, "best"), "config"), best_val = jnum(json_object_get(j, "best"), "value");
    if (n == 0) {
        missing(c, "tune_table.json has no rows; rerun mkt tune with --table.");
        return;
    }
    FILE *d = out_open(c, "tune.dat");
    if (!d)
        return;
    fprintf(d, "# config value best\n");
    char **names = mkt_xcalloc(n, sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        json_t *r = json_array_get(rows, i), *p = json_object_get(r, "params");
        double cfg = jnum(r, "config"), v = jnum(r, "value");
        if (!isfinite(cfg))
            cfg = (double)(i + 1);
        fprintf(d, "%g %.10g %d\n", cfg, v, cfg == best_cfg);
        /* "key=value key=value" from the row's options */
        char *text = NULL;
        size_t len = 0;
        FILE *t = open_memstream(&text, &len);
        if (!t)
            mkt_fail("out of memory");
        const char *key;
        json_t *val;
        int first = 1;
        json_object_foreach(p, key, val) {
            char *vs = json_is_string(val) ? NULL : json_dumps(val, JSON_ENCODE_ANY | JSON_REAL_PRECISION(6));
            fprintf(t, "%s%s=%s", first ? "" : " ", key, vs ? vs : json_string_value(val));
            free(vs);
            first = 0;
        }
        fclose(t);
        names[i] = text;
    }
    if (!out_close(c, d, "tune.dat")) {
        for (size_t i = 0; i < n; i++)
            free(names[i]);
        free(names);
        return;
    }
    FILE *g = gp_begin(c, "tune", 900, 520);
    if (g) {
        fprintf(g, "set title ");
        char title[256];
        snprintf(title, sizeof title, "Tuning: %s on the %s rows per configuration (%s is better)", metric, split,
                 !strcmp(goal, "min") ? "lower" : "higher");
        gp_str(g, title, 200);
        fprintf(g, "\nset xlabel 'configuration'\nset ylabel ");
        gp_str(g, metric, 60);
        fprintf(g, "\nset key outside top center horizontal\nset offsets 0.5, 0.5, 0, 0\nset lmargin 12\n");
        if (n <= 30) {
            fprintf(g, "set xtics rotate by 30 right (");
            for (size_t i = 0; i < n; i++) {
                double cfg = jnum(json_array_get(rows, i), "config");
                fprintf(g, "%s", i ? ", " : "");
                gp_str(g, names[i], LABEL_CHARS);
                fprintf(g, " %g", isfinite(cfg) ? cfg : (double)(i + 1));
            }
            fprintf(g, ")\nset bmargin 9\n");
        }
        fprintf(g, "plot 'tune.dat' using 1:2 with linespoints lt 1 title 'each configuration', \\\n"
                   "     '' using 1:($3 > 0 ? $2 : 1/0) with points lt 4 pt 7 ps 2 title 'best (kept)'\n");
    }
    int drawn = gp_run(c, "tune", g);
    if (drawn) {
        char a[64];
        json_t *model = json_object_get(j, "model");
        figure_begin(c, "tune", "selection value of each configuration of the hyper-parameter search");
        hraw(c->body, "<p><b>What it shows:</b> the hyper-parameter search (<code>mkt tune ");
        htext(c->body, json_is_string(model) ? json_string_value(model) : "");
        hraw(c->body, "</code>): each configuration of options was trained, and scored by ");
        htext(c->body, metric);
        hraw(c->body, " on the ");
        htext(c->body, split);
        hraw(c->body, " rows, which the reported test figures never use.</p>\n"
                      "<p><b>How to read it:</b> the red point is the configuration kept (the best score, %s is "
                      "better). Differences smaller than the spread between neighbouring configurations are noise "
                      "rather than a real preference.</p>\n"
                      "<p><b>Key number:</b> best configuration %g of %zu: ",
             !strcmp(goal, "min") ? "lower" : "higher", best_cfg, n);
        for (size_t i = 0; i < n; i++)
            if (jnum(json_array_get(rows, i), "config") == best_cfg)
                htext(c->body, names[i]);
        hraw(c->body, ", %s ", num(a, sizeof a, best_val, 5));
        htext(c->body, metric);
        hraw(c->body, ".</p>\n");
        figure_end(c, "tune");
        key_number(c, "Tuning: best of %zu configurations scores %s on the validation rows.", n,
                   num(a, sizeof a, best_val, 5));
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

static void training_section(rctx *c)
{
    section(c, "training", "1. Training and validation curves",
            "How the models learned: a quick check that training converged and did not over-fit.");
    if (!c->o->metrics_dir) {
        missing(c, "no --metrics-dir given. Give the directory where the training stages wrote their metrics "
                   "(train_mf.json, train_propensity.json): the job file's metrics_dir, or the directory of "
                   "mkt train mf/propensity --metrics-out.");
        return;
    }
    char why[1200];
    json_t *mf = load_json(c, "train_mf.json", why, sizeof why);
    if (mf)
        training_mf(c, mf);
    else if (!c->err[0])
        missing(c, "%s: train the factorization model with mkt train mf --metrics-out %s/train_mf.json to see its "
                   "curve.", why, c->o->metrics_dir);
    json_decref(mf);
    json_t *pr = load_json(c, "train_propensity.json", why, sizeof why);
    if (pr)
        training_propensity(c, pr);
    else if (!c->err[0])
        missing(c, "%s: train the propensity model with mkt train propensity --metrics-out "
                   "%s/train_propensity.json to see its curves.", why, c->o->metrics_dir);
    json_decref(pr);
    /* the table of `mkt tune --table DIR/tune_table.json`, when there is one */
    json_t *tu = load_json(c, "tune_table.json", why, sizeof why);
    if (tu)
        training_tune(c, tu);
    json_decref(tu);
}

/* ---------- 2. propensity: ROC, calibration, gains ---------- */

static void propensity_roc(rctx *c, const double *s, const int *y, int64_t n, int64_t npos)
{
    double auc = mkt_auc(s, y, n);
    double *fx = mkt_xmalloc(sizeof(double) * (size_t)(n + 1)), *ty = mkt_xmalloc(sizeof(double) * (size_t)(n + 1));
    int64_t m = mkt_roc_curve(s, y, n, fx, ty);
    m = mkt_curve_thin(fx, ty, m, 0.002);
    FILE *d = out_open(c, "roc.dat");
    if (d) {
        fprintf(d, "# false_positive_rate true_positive_rate (held-out users, %lld of them buyers)\n",
                (long long)npos);
        for (int64_t i = 0; i < m; i++)
            fprintf(d, "%.8g %.8g\n", fx[i], ty[i]);
    }
    free(fx);
    free(ty);
    if (!out_close(c, d, "roc.dat"))
        return;
    FILE *g = gp_begin(c, "roc", 700, 620);
    if (!g)
        return;
    fprintf(g, "set title 'ROC curve of purchase propensity (held-out users, AUC %.3f)'\n"
               "set xlabel 'share of non-buyers flagged (false positive rate)'\n"
               "set ylabel 'share of buyers flagged (true positive rate)'\n"
               "set xrange [0:1]\nset yrange [0:1]\nset size ratio -1\nset key bottom right\n"
               "plot 'roc.dat' using 1:2 with lines lt 1 title 'propensity model', \\\n"
               "     x with lines dt 2 lc rgb '#777777' title 'random guess (AUC 0.5)'\n",
            auc);
    if (!gp_run(c, "roc", g))
        return;
    char a[64];
    figure_begin(c, "roc", "ROC curve of the purchase propensity model");
    hraw(c->body,
         "<p><b>What it shows:</b> for every possible cut-off on the predicted purchase probability, the share of "
         "actual buyers the model flags (up) against the share of non-buyers it wrongly flags (right), on customers "
         "held out from training.</p>\n"
         "<p><b>How to read it:</b> the closer the curve hugs the top-left corner, the better; the dashed diagonal "
         "is guessing. The AUC is the chance that a random buyer gets a higher score than a random non-buyer.</p>\n"
         "<p><b>Key number:</b> AUC %s on %lld held-out customers.</p>\n",
         num(a, sizeof a, auc, 3), (long long)n);
    figure_end(c, "roc");
    key_number(c, "Purchase propensity: AUC %s on held-out customers (0.5 is guessing, 1 is perfect).",
               num(a, sizeof a, auc, 3));
}

static void propensity_calibration(rctx *c, const double *s, const int *y, int64_t n)
{
    mkt_reliability t;
    double ece = mkt_ece(s, y, n, &t);
    FILE *d = out_open(c, "calibration.dat");
    if (!d)
        return;
    fprintf(d, "# bin_low bin_high users mean_predicted share_bought (non-empty 10%% bins)\n");
    double maxv = 0;
    for (int b = 0; b < MKT_CALIB_BINS; b++) {
        if (t.count[b] == 0)
            continue;
        fprintf(d, "%.2f %.2f %lld %.8g %.8g\n", b / 10.0, (b + 1) / 10.0, (long long)t.count[b], t.mean_pred[b],
                t.frac_positive[b]);
        if (t.mean_pred[b] > maxv)
            maxv = t.mean_pred[b];
        if (t.frac_positive[b] > maxv)
            maxv = t.frac_positive[b];
    }
    if (!out_close(c, d, "calibration.dat"))
        return;
    double top = ceil(maxv * 10 + 0.5) / 10;
    if (top > 1)
        top = 1;
    FILE *g = gp_begin(c, "calibration", 700, 620);
    if (!g)
        return;
    fprintf(g, "set title 'Calibration of purchase propensity (held-out users, ECE %.3f)'\n"
               "set xlabel 'predicted purchase probability (mean in the bin)'\n"
               "set ylabel 'share who actually bought'\n"
               "set xrange [0:%g]\nset yrange [0:%g]\nset key top left\n"
               "plot x with lines dt 2 lc rgb '#777777' title 'perfect calibration', \\\n"
               "     'calibration.dat' using 4:5 with linespoints lt 1 ps 1.3 title 'model (10%% bins; labels: users per bin)', "
               "\\\n     '' using 4:5:(stringcolumn(3)) with labels offset 0,1.2 font ',9' tc rgb '#444444' "
               "notitle\n",
            ece, top, top * 1.08);
    if (!gp_run(c, "calibration", g))
        return;
    char a[64];
    figure_begin(c, "calibration", "reliability diagram of the purchase propensity model");
    hraw(c->body,
         "<p><b>What it shows:</b> customers are grouped by predicted purchase probability (0-10%%, 10-20%%, ...); "
         "each point is a group: its average prediction (across) against the share of its customers who actually "
         "bought (up). The small numbers are how many customers are in each group.</p>\n"
         "<p><b>How to read it:</b> points on the dashed diagonal mean the probabilities can be taken at face "
         "value (a 30%% prediction buys 30%% of the time) - needed when they feed money decisions like the "
         "strategy below. Points above the line: the model is too pessimistic; below: too optimistic.</p>\n"
         "<p><b>Key number:</b> expected calibration error %s (average distance from the diagonal, weighted by "
         "group size; 0 is perfect).</p>\n",
         num(a, sizeof a, ece, 3));
    figure_end(c, "calibration");
}

static void propensity_gains(rctx *c, const double *s, const int *y, int64_t n, int64_t npos)
{
    enum { POINTS = 101 };
    double x[POINTS], gain[POINTS];
    mkt_gains_curve(s, y, n, POINTS, x, gain);
    mkt_lift_table lt;
    mkt_lift_by_decile(s, y, n, &lt);
    FILE *d = out_open(c, "gains.dat");
    if (!d)
        return;
    fprintf(d, "# percent_targeted percent_of_buyers_reached\n");
    for (int j = 0; j < POINTS; j++)
        fprintf(d, "%.6g %.6g\n", 100 * x[j], 100 * gain[j]);
    fprintf(d, "\n\n# deciles: percent_targeted cumulative_percent_of_buyers lift\n");
    int64_t cum = 0;
    for (int k = 0; k < MKT_DECILES; k++) {
        cum += lt.count[k];
        fprintf(d, "%.6g %.6g %.4f\n", 100.0 * (double)cum / (double)n, 100 * lt.cumulative_gain[k], lt.lift[k]);
    }
    if (!out_close(c, d, "gains.dat"))
        return;
    double rate = (double)npos / (double)n;
    FILE *g = gp_begin(c, "gains", 900, 560);
    if (!g)
        return;
    fprintf(g, "set title 'Cumulative gains of purchase propensity (held-out users)'\n"
               "set xlabel '%% of customers contacted, highest predicted probability first'\n"
               "set ylabel '%% of all buyers reached'\nset xrange [0:100]\nset yrange [0:100]\n"
               "set key bottom right\n"
               "plot (x < %.10g ? x / %.10g : 100) with lines dt 3 lc rgb '#2ca02c' title 'perfect model', \\\n"
               "     'gains.dat' index 0 using 1:2 with lines lt 1 title 'propensity model', \\\n"
               "     '' index 1 using 1:2 with points lt 1 ps 1.2 title 'deciles', \\\n"
               "     x with lines dt 2 lc rgb '#777777' title 'random order'\n",
            100 * rate, rate);
    if (!gp_run(c, "gains", g))
        return;
    char a[64], b[64], r[64];
    figure_begin(c, "gains", "cumulative gains chart of the purchase propensity model");
    hraw(c->body,
         "<p><b>What it shows:</b> if you contact customers in order of predicted purchase probability, the share "
         "of all the customers who will buy that you have reached after contacting a given share of the base.</p>\n"
         "<p><b>How to read it:</b> the dashed diagonal is contacting at random (10%% of customers reach 10%% of "
         "buyers); the dotted green line is a perfect model. The higher the blue curve above the diagonal, the "
         "fewer contacts are needed to reach the buyers. This ranks who will buy anyway - it does not say who a "
         "promotion changes; the Qini curves below do.</p>\n"
         "<p><b>Key number:</b> the top 10%% of customers by score hold %s%% of the buyers, %s times what random "
         "contact would reach (base purchase rate %s%%).</p>\n",
         num(a, sizeof a, 100 * lt.cumulative_gain[0], 1), num(b, sizeof b, lt.lift[0], 2),
         num(r, sizeof r, 100 * rate, 1));
    figure_end(c, "gains");
}

static void propensity_section(rctx *c)
{
    section(c, "propensity", "2. Purchase propensity: ROC, calibration, gains",
            "Who is likely to buy in the coming days, as predicted by the propensity model, checked on customers "
            "held out from its training.");
    if (c->models.h < 0) {
        missing(c, "no --models file given; train the propensity model (mkt train propensity --store S --out "
                   "MODELS) and give --models MODELS.");
        return;
    }
    if (!has(&c->models, MKT_MODELS_PROPENSITY)) {
        missing(c, "%s has no /models/propensity: run mkt train propensity --store S --out %s.", c->models.path,
                c->models.path);
        return;
    }
    /* the test users' scores (older model files: validation_*, the users they held out) */
    const char *sname = MKT_MODELS_PROPENSITY_TEST_SCORE, *lname = MKT_MODELS_PROPENSITY_TEST_LABEL;
    if (!has(&c->models, sname) || !has(&c->models, lname)) {
        sname = MKT_MODELS_PROPENSITY_VALIDATION_SCORE;
        lname = MKT_MODELS_PROPENSITY_VALIDATION_LABEL;
    }
    if (!has(&c->models, sname) || !has(&c->models, lname)) {
        missing(c, "%s: /models/propensity has no test_score/test_label (written by newer versions "
                   "of mkt train propensity): retrain the propensity model to see ROC, calibration and gains.",
                c->models.path);
        return;
    }
    int64_t n = 0, nl = 0;
    double *s = read_num(c, &c->models, sname, 0, 0, &n, NULL);
    int *y = read_num(c, &c->models, lname, 1, 0, &nl, NULL);
    if (!c->err[0] && n != nl)
        rfail(c, "%s: %s has %lld rows but %s %lld", c->models.path, sname, (long long)n, lname, (long long)nl);
    if (!c->err[0]) {
        int64_t npos = 0;
        for (int64_t i = 0; i < n; i++)
            npos += y[i] != 0;
        if (n == 0 || npos == 0 || npos == n)
            missing(c, "the %lld held-out customers of /models/propensity are all of one class (%lld buyers): ROC, "
                       "calibration and gains need buyers and non-buyers; use a longer horizon or more users.",
                    (long long)n, (long long)npos);
        else {
            propensity_roc(c, s, y, n, npos);
            propensity_calibration(c, s, y, n);
            propensity_gains(c, s, y, n, npos);
        }
    }
    free(s);
    free(y);
}

/* ---------- 3. uplift: Qini curves per promotion ---------- */

static void qini_arm(rctx *c, int t, char **arms, const char *outcome, const double *pred, int64_t nt,
                     const int *treat, const double *yv, const unsigned char *hold, int64_t N)
{
    int64_t n = 0, ntr = 0, nco = 0;
    for (int64_t i = 0; i < N; i++)
        if (hold[i] && (treat[i] == 0 || treat[i] == t)) {
            n++;
            ntr += treat[i] == t;
            nco += treat[i] == 0;
        }
    if (ntr == 0 || nco == 0) {
        missing(c, "promotion '%s': the held-out campaign rows have %lld customers who got it and %lld controls; "
                   "a Qini curve needs both.", arms[t], (long long)ntr, (long long)nco);
        return;
    }
    double *sc = mkt_xmalloc(sizeof(double) * (size_t)n), *ov = mkt_xmalloc(sizeof(double) * (size_t)n);
    int *tr = mkt_xmalloc(sizeof(int) * (size_t)n);
    int64_t k = 0;
    for (int64_t i = 0; i < N; i++)
        if (hold[i] && (treat[i] == 0 || treat[i] == t)) {
            sc[k] = pred[i * nt + (t - 1)];
            tr[k] = treat[i] == t;
            ov[k] = yv[i];
            k++;
        }
    int points = n + 1 < 101 ? (int)(n + 1) : 101;
    double *x = mkt_xmalloc(sizeof(double) * (size_t)points), *q = mkt_xmalloc(sizeof(double) * (size_t)points);
    mkt_qini_curve(sc, tr, ov, n, points, x, q);
    double coef = mkt_qini_coefficient(sc, tr, ov, n);
    double up30 = mkt_uplift_at(sc, tr, ov, n, 0.3), upall = mkt_uplift_at(sc, tr, ov, n, 1.0);
    char name[64];
    snprintf(name, sizeof name, "qini_%d", t);
    char file[80];
    snprintf(file, sizeof file, "%s.dat", name);
    FILE *d = out_open(c, file);
    if (d) {
        fprintf(d, "# arm %d; held-out rows %lld (%lld treated, %lld control); outcome %s\n", t, (long long)n,
                (long long)ntr, (long long)nco, outcome);
        fprintf(d, "# percent_targeted qini random_targeting\n");
        for (int j = 0; j < points; j++)
            fprintf(d, "%.6g %.8g %.8g\n", 100 * x[j], q[j], x[j] * q[points - 1]);
    }
    double qend = q[points - 1], qbest = q[0], xbest = 0;
    for (int j = 0; j < points; j++)
        if (q[j] > qbest) {
            qbest = q[j];
            xbest = x[j];
        }
    free(x);
    free(q);
    free(sc);
    free(ov);
    free(tr);
    if (!out_close(c, d, file))
        return;
    char title[600];
    snprintf(title, sizeof title, "Qini curve: %s vs %s (held-out campaign customers)", arms[t], arms[0]);
    FILE *g = gp_begin(c, name, 900, 520);
    if (!g)
        return;
    fprintf(g, "set title ");
    gp_str(g, title, 100);
    fprintf(g, "\nset xlabel '%% of customers targeted, largest predicted effect first'\n"
               "set ylabel 'extra %ss caused by the promotion'\nset xrange [0:100]\nset key top left\n"
               "set xzeroaxis lt -1 lc rgb '#999999'\n"
               "plot '%s' using 1:2 with lines lt 1 title 'uplift model ranking', \\\n"
               "     '' using 1:3 with lines dt 2 lc rgb '#777777' title 'random targeting'\n",
          outcome, file);
    if (!gp_run(c, name, g))
        return;
    char a[64], b[64], e[64], f2[64], h[64], q2[64];
    snprintf(title, sizeof title, "Qini curve of promotion %s", arms[t]);
    figure_begin(c, name, title);
    hraw(c->body, "<p><b>Promotion <q>");
    htext(c->body, arms[t]);
    hraw(c->body, "</q> against <q>");
    htext(c->body, arms[0]);
    hraw(c->body,
         "</q>.</b> Customers of the randomized campaign held out from training (%lld: %lld got the promotion, "
         "%lld were controls) are sorted by the model's predicted effect of this promotion; the curve shows how "
         "many extra %ss (beyond what the same customers would have done anyway) the promotion brought among the "
         "top x%%.</p>\n"
         "<p><b>How to read it:</b> the dashed line is sending to a random x%%. A curve above it means the model "
         "finds the customers the promotion actually moves; where the curve peaks and turns down, the remaining "
         "customers are not worth it (or are put off).</p>\n"
         "<p><b>Key number:</b> among the top 30%% by predicted effect the promotion raises the %s rate by %s "
         "points, against %s points across all customers; Qini coefficient %s (area between the curves per "
         "customer; 0 = no better than random). Peak: %s extra %ss at %s%% targeted, %s when sending to "
         "everyone.</p>\n",
         (long long)n, (long long)ntr, (long long)nco, outcome, outcome, num(a, sizeof a, 100 * up30, 1),
         num(b, sizeof b, 100 * upall, 1), num(e, sizeof e, coef, 4), num(f2, sizeof f2, qbest, 1), outcome,
         num(h, sizeof h, 100 * xbest, 0), num(q2, sizeof q2, qend, 1));
    figure_end(c, name);
    hraw(c->summary, "<li>Promotion <q>");
    htext(c->summary, arms[t]);
    hraw(c->summary, "</q>: top 30%% by predicted effect gain %s points of %s rate against %s on average.</li>\n",
         num(a, sizeof a, 100 * up30, 1), outcome, num(b, sizeof b, 100 * upall, 1));
}

/* An observational uplift model (train uplift --design observational): say
 * so first, and show its effect estimates beside the naive difference. */
static void observational_note(rctx *c)
{
    char *design = mkt_h5_attr_get_string(c->models.h, MKT_MODELS_UPLIFT, "design");
    int obs = design && !strcmp(design, "observational");
    free(design);
    if (!obs)
        return;
    char *mj = mkt_h5_attr_get_string(c->models.h, MKT_MODELS_UPLIFT, "metrics_json");
    json_t *m = mj ? json_loads(mj, 0, NULL) : NULL;
    free(mj);
    json_t *o = json_object_get(m, "observational");
    hraw(c->body, "<p class=\"missing\"><b>Observational estimate.</b> This campaign was targeted, not "
                  "randomized: the comparison group is the users the shop did not target. The effects below "
                  "are estimated with fitted propensities (inverse-propensity weighting, and doubly robust AIPW), "
                  "for the users in the overlap only (propensity in [%g, %g]); they hold only if the campaign "
                  "attributes capture why users were targeted. The Qini curves below compare targeted with "
                  "untargeted users, who differ by design: read them with care.</p>\n",
         json_real_value(json_object_get(o, "trim")), 1 - json_real_value(json_object_get(o, "trim")));
    json_t *arms = json_object_get(o, "arms");
    if (json_object_size(arms) > 0) {
        char b1[64], b2[64], b3[64], b4[64], b5[64], b6[64], b7[64];
        hraw(c->body, "<table><tr><th>promotion</th><th>naive difference</th><th>IPW effect [95%% interval]</th>"
                      "<th>DR effect [95%% interval]</th><th>trimmed (treated / untargeted)</th></tr>\n");
        const char *name;
        json_t *a;
        json_object_foreach(arms, name, a) {
            hraw(c->body, "<tr><td>");
            htext(c->body, name);
            hraw(c->body, "</td><td>%s</td><td>%s [%s, %s]</td><td>%s [%s, %s]</td><td>%lld / %lld</td></tr>\n",
                 num(b1, sizeof b1, json_real_value(json_object_get(a, "naive_difference")), 4),
                 num(b2, sizeof b2, json_real_value(json_object_get(a, "ipw")), 4),
                 num(b3, sizeof b3, json_real_value(json_object_get(a, "ipw_lo")), 4),
                 num(b4, sizeof b4, json_real_value(json_object_get(a, "ipw_hi")), 4),
                 num(b5, sizeof b5, json_real_value(json_object_get(a, "dr")), 4),
                 num(b6, sizeof b6, json_real_value(json_object_get(a, "dr_lo")), 4),
                 num(b7, sizeof b7, json_real_value(json_object_get(a, "dr_hi")), 4),
                 (long long)json_integer_value(json_object_get(a, "trimmed_treated")),
                 (long long)json_integer_value(json_object_get(a, "trimmed_untargeted")));
        }
        hraw(c->body, "</table>\n");
    }
    json_decref(m);
}

static void uplift_section(rctx *c)
{
    section(c, "uplift", "3. Promotions: Qini curves",
            "Who a promotion actually changes, as predicted by the uplift models, checked against what happened "
            "in the randomized campaign.");
    if (c->models.h < 0 || !has(&c->models, MKT_MODELS_UPLIFT)) {
        missing(c, "%s%s: run mkt train uplift --store S --out MODELS and give --models MODELS.",
                c->models.h < 0 ? "no --models file given" : c->models.path,
                c->models.h < 0 ? "" : " has no /models/uplift");
        return;
    }
    observational_note(c);
    if (c->store.h < 0) {
        missing(c, "no --store given: the Qini curves need the campaign outcomes of the store the uplift models "
                   "were trained on (--store SHOP.h5).");
        return;
    }
    if (!has(&c->store, MKT_CAMPAIGNS_TREATMENT)) {
        missing(c, "%s has no /campaigns: ingest a campaign log (mkt ingest --campaign FILE) or use the store the "
                   "uplift models were trained on.", c->store.path);
        return;
    }
    char *outcome = mkt_h5_attr_get_string(c->models.h, MKT_MODELS_UPLIFT, "outcome");
    if (!outcome)
        outcome = mkt_xstrdup("conversion");
    if (strcmp(outcome, "conversion") != 0 && strcmp(outcome, "visit") != 0 && strcmp(outcome, "redeemed") != 0) {
        rfail(c, "%s: /models/uplift has outcome '%s', expected conversion, visit or redeemed", c->models.path,
              outcome);
        free(outcome);
        return;
    }
    char pname[64], oname[64];
    snprintf(pname, sizeof pname, "/models/uplift/predicted_%s", outcome);
    snprintf(oname, sizeof oname, "/campaigns/%s", outcome);
    int64_t T = 0, N = 0, nt = 0, nu = 0, ntr = 0, ny = 0, nsu = 0, nh = 0;
    char **arms = read_strs(c, &c->models, MKT_MODELS_UPLIFT_ARMS, &T);
    double *pred = NULL, *yv = NULL;
    int *user = NULL, *treat = NULL, *suser = NULL, *hold_i = NULL;
    unsigned char *hold = NULL;
    if (!c->err[0] && (!arms || !has(&c->models, pname) || !has(&c->models, MKT_MODELS_UPLIFT_USER))) {
        missing(c, "%s: /models/uplift lacks arms, user or predicted_%s: retrain with mkt train uplift.",
                c->models.path, outcome);
        goto done;
    }
    if (!c->err[0] && T < 2) {
        missing(c, "%s: /models/uplift has %lld arm(s): no promotion to compare with control.", c->models.path,
                (long long)T);
        goto done;
    }
    pred = read_num(c, &c->models, pname, 0, T - 1, &N, &nt);
    user = read_num(c, &c->models, MKT_MODELS_UPLIFT_USER, 1, 0, &nu, NULL);
    treat = read_num(c, &c->store, MKT_CAMPAIGNS_TREATMENT, 1, 0, &ntr, NULL);
    yv = read_num(c, &c->store, oname, 0, 0, &ny, NULL);
    suser = read_num(c, &c->store, MKT_CAMPAIGNS_USER, 1, 0, &nsu, NULL);
    if (c->err[0])
        goto done;
    if (!yv || !suser || nu != N || ntr != N || ny != N || nsu != N) {
        missing(c, "the uplift models of %s were trained on %lld campaign rows but %s has %lld: give the store "
                   "they were trained on.", c->models.path, (long long)N, c->store.path, (long long)ntr);
        goto done;
    }
    for (int64_t i = 0; i < N; i++)
        if (user[i] != suser[i] || treat[i] < 0 || treat[i] >= T) {
            missing(c, "campaign row %lld of %s (user %d, treatment %d) does not match the uplift models of %s "
                       "(user %d, %lld arms): give the store they were trained on.",
                    (long long)i, c->store.path, suser[i], treat[i], c->models.path, user[i], (long long)T);
            goto done;
        }
    hold = mkt_xmalloc((size_t)(N > 0 ? N : 1));
    if (has(&c->models, MKT_MODELS_UPLIFT_HOLDOUT)) {
        hold_i = read_num(c, &c->models, MKT_MODELS_UPLIFT_HOLDOUT, 1, 0, &nh, NULL);
        if (c->err[0])
            goto done;
        if (nh != N) {
            rfail(c, "%s: /models/uplift/holdout has %lld rows, predictions %lld", c->models.path, (long long)nh,
                  (long long)N);
            goto done;
        }
        for (int64_t i = 0; i < N; i++)
            hold[i] = hold_i[i] != 0;
    } else {
        /* older model files: the hold-out is a hash of (seed, user), recomputed from the attributes */
        uint64_t seed = (uint64_t)mkt_h5_attr_get_int(c->models.h, MKT_MODELS_UPLIFT, "seed", 1);
        double share = mkt_h5_attr_get_double(c->models.h, MKT_MODELS_UPLIFT, "holdout", 0.3);
        for (int64_t i = 0; i < N; i++)
            hold[i] = (unsigned char)uplift_is_holdout(seed, user[i], share);
        hraw(c->body, "<p class=\"missing\">%s has no /models/uplift/holdout (older mkt); the held-out rows were "
                      "recomputed from the model's seed and hold-out share.</p>\n",
             "The model file");
    }
    for (int t = 1; t < T && !c->err[0]; t++)
        qini_arm(c, t, arms, outcome, pred, nt, treat, yv, hold, N);
done:
    free_strs(arms, T);
    free(pred);
    free(user);
    free(treat);
    free(yv);
    free(suser);
    free(hold_i);
    free(hold);
    free(outcome);
}

/* ---------- 4. segments ---------- */

static void segments_section(rctx *c)
{
    section(c, "segments", "4. Customer segments",
            "Customers grouped by behaviour (recency, frequency, spend, ...) with k-means; each segment is named "
            "after its profile.");
    if (c->models.h < 0 || !has(&c->models, MKT_MODELS_SEGMENTS)) {
        missing(c, "%s%s: run mkt train segments --store S --out MODELS --k 5 and give --models MODELS.",
                c->models.h < 0 ? "no --models file given" : c->models.path,
                c->models.h < 0 ? "" : " has no /models/segments");
        return;
    }
    int64_t k = 0, ns = 0, nm = 0;
    char **names = read_strs(c, &c->models, MKT_MODELS_SEGMENTS_NAMES, &k);
    double *size = read_num(c, &c->models, MKT_MODELS_SEGMENTS_SIZES, 0, 0, &ns, NULL);
    double *mean = read_num(c, &c->models, MKT_MODELS_SEGMENTS_MEAN_SPEND, 0, 0, &nm, NULL);
    double *profit = NULL, *treated = NULL;
    int have_strategy = 0;
    if (c->err[0])
        goto done;
    if (!names || !size || !mean || ns != k || nm != k || k == 0) {
        missing(c, "%s: /models/segments lacks names, sizes or mean_spend (or they disagree): retrain with mkt "
                   "train segments.", c->models.path);
        goto done;
    }
    /* with a strategy: promotions and expected profit per segment */
    if (c->strategy.h >= 0 && has(&c->strategy, MKT_STRATEGY_SEGMENT) &&
        has(&c->strategy, MKT_STRATEGY_EXPECTED_PROFIT) && has(&c->strategy, MKT_STRATEGY_PROMOTION)) {
        int64_t n1 = 0, n2 = 0, n3 = 0;
        int *seg = read_num(c, &c->strategy, MKT_STRATEGY_SEGMENT, 1, 0, &n1, NULL);
        double *ep = read_num(c, &c->strategy, MKT_STRATEGY_EXPECTED_PROFIT, 0, 0, &n2, NULL);
        int *promo = read_num(c, &c->strategy, MKT_STRATEGY_PROMOTION, 1, 0, &n3, NULL);
        if (!c->err[0] && n1 == n2 && n1 == n3) {
            profit = mkt_xcalloc((size_t)k, sizeof(double));
            treated = mkt_xcalloc((size_t)k, sizeof(double));
            mkt_xsum *acc = mkt_xcalloc((size_t)k, sizeof(mkt_xsum));
            for (int64_t s = 0; s < k; s++)
                mkt_xsum_init(&acc[s]);
            for (int64_t i = 0; i < n1; i++)
                if (seg[i] >= 0 && seg[i] < k) {
                    if (isfinite(ep[i]))
                        mkt_xsum_add(&acc[seg[i]], ep[i]);
                    treated[seg[i]] += promo[i] >= 0;
                }
            for (int64_t s = 0; s < k; s++)
                profit[s] = mkt_xsum_value(&acc[s]);
            free(acc);
            have_strategy = 1;
        }
        free(seg);
        free(ep);
        free(promo);
        if (c->err[0])
            goto done;
    }
    double users = 0, spend = 0;
    for (int64_t s = 0; s < k; s++) {
        users += size[s];
        spend += size[s] * mean[s];
    }
    FILE *d = out_open(c, "segments.dat");
    if (!d)
        goto done;
    fprintf(d, "# index users mean_spend total_spend promoted expected_profit (names: segments table in "
               "index.html)\n");
    for (int64_t s = 0; s < k; s++)
        fprintf(d, "%lld %.0f %.6f %.6f %.0f %.6f\n", (long long)s, size[s], mean[s], size[s] * mean[s],
                have_strategy ? treated[s] : NAN, have_strategy ? profit[s] : NAN);
    if (!out_close(c, d, "segments.dat"))
        goto done;
    int panels = have_strategy ? 3 : 2;
    FILE *g = gp_begin(c, "segments", panels == 3 ? 1350 : 1000, 520);
    if (!g)
        goto done;
    fprintf(g, "set style fill solid 0.75 border -1\nset boxwidth 0.7\nunset key\nset xrange [-0.6:%g]\n"
               "set yrange [0:*]\nset offsets 0,0,graph 0.07,0\nset xtics rotate by 20 right nomirror\n"
               "set bmargin 7\nset lmargin 12\nset rmargin 3\n",
            (double)k - 0.4);
    gp_name_tics(g, names, k);
    fprintf(g, "set multiplot layout 1,%d title 'Customer segments'\n", panels);
    fprintf(g, "set title 'customers per segment'\nset ylabel 'customers'\n"
               "plot 'segments.dat' using 1:2 with boxes lt 1, '' using 1:2:(sprintf('%%.0f', $2)) with labels "
               "offset 0,0.8 font ',9'\n");
    fprintf(g, "set title 'average spend per customer'\nset ylabel 'spend per customer'\n"
               "plot 'segments.dat' using 1:3 with boxes lt 2, '' using 1:3:(sprintf('%%.1f', $3)) with labels "
               "offset 0,0.8 font ',9'\n");
    if (panels == 3)
        fprintf(g, "set title 'expected incremental profit of the strategy'\nset ylabel 'profit'\n"
                   "set yrange [*<0:0<*]\nset xzeroaxis lt -1\n"
                   "plot 'segments.dat' using 1:6 with boxes lt 3, '' using 1:6:(sprintf('%%.0f', $6)) with "
                   "labels offset 0,0.8 font ',9'\n");
    fprintf(g, "unset multiplot\n");
    if (!gp_run(c, "segments", g))
        goto done;
    int64_t big = 0, rich = 0;
    for (int64_t s = 1; s < k; s++) {
        if (size[s] > size[big])
            big = s;
        if (size[s] * mean[s] > size[rich] * mean[rich])
            rich = s;
    }
    char a[64], b[64], e[64], f2[64];
    figure_begin(c, "segments", "customers, spend and expected profit per segment");
    hraw(c->body, "<p><b>What it shows:</b> how many customers each segment has (left), how much they spend on "
                  "average (middle)%s.</p>\n"
                  "<p><b>How to read it:</b> a small segment with high spend per customer is worth protecting; "
                  "a large low-spend segment is where growth or cost savings are. The table gives the exact "
                  "numbers.</p>\n<p><b>Key number:</b> the largest segment is <q>",
         have_strategy ? " and the incremental profit the strategy expects from it (right)" : "");
    htext(c->body, names[big]);
    hraw(c->body, "</q> (%s%% of customers); <q>", num(a, sizeof a, 100 * size[big] / users, 1));
    htext(c->body, names[rich]);
    hraw(c->body, "</q> brings the most spend (%s%% of the total).</p>\n",
         num(b, sizeof b, spend > 0 ? 100 * size[rich] * mean[rich] / spend : NAN, 1));
    figure_end(c, "segments");
    hraw(c->body, "<table><tr><th>segment</th><th>customers</th><th>share</th><th>average spend</th>"
                  "<th>share of spend</th>%s</tr>\n",
         have_strategy ? "<th>get a promotion</th><th>expected incremental profit</th>" : "");
    for (int64_t s = 0; s < k; s++) {
        hraw(c->body, "<tr><td>");
        htext(c->body, names[s]);
        hraw(c->body, "</td><td>%s</td><td>%s%%</td><td>%s</td><td>%s%%</td>", num(a, sizeof a, size[s], 0),
             num(b, sizeof b, 100 * size[s] / users, 1), num(e, sizeof e, mean[s], 2),
             num(f2, sizeof f2, spend > 0 ? 100 * size[s] * mean[s] / spend : NAN, 1));
        if (have_strategy)
            hraw(c->body, "<td>%s</td><td>%s</td>", num(a, sizeof a, treated[s], 0), num(b, sizeof b, profit[s], 0));
        hraw(c->body, "</tr>\n");
    }
    hraw(c->body, "</table>\n");
done:
    free_strs(names, k);
    free(size);
    free(mean);
    free(profit);
    free(treated);
}

/* ---------- 5. strategy ---------- */

/* Readable names of the reference policies. */
static const char *policy_label(const char *id)
{
    static const char *const map[][2] = {{"strategy", "mkt strategy"},
                                         {"no_promotion", "no promotion"},
                                         {"cheapest_promotion", "cheapest promotion to all"},
                                         {"propensity_rank", "by purchase propensity"}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (!strcmp(id, map[i][0]))
            return map[i][1];
    return id;
}

static const char *metric_label(const char *id, int *decimals)
{
    static const struct {
        const char *id, *label;
        int dec;
    } map[] = {{"incremental_conversions", "extra purchases", 1},
               {"incremental_revenue", "extra revenue", 0},
               {"incremental_margin", "extra margin", 0},
               {"promotion_cost", "promotion cost", 0},
               {"incremental_profit", "incremental profit", 0},
               {"roi", "return on promotion cost", 2}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (!strcmp(id, map[i].id)) {
            *decimals = map[i].dec;
            return map[i].label;
        }
    *decimals = 2;
    return id;
}

static void budget_curve(rctx *c)
{
    const char *need[4] = {"budget", "incremental_profit", "promotion_cost", "users_treated"};
    double *v[4] = {NULL, NULL, NULL, NULL};
    int64_t B = -1;
    for (int i = 0; i < 4; i++) {
        char p[128];
        snprintf(p, sizeof p, "/strategy/budget_curve/%s", need[i]);
        int64_t r = 0;
        v[i] = read_num(c, &c->strategy, p, 0, 0, &r, NULL);
        if (!v[i] && !c->err[0]) {
            missing(c, "%s has no %s: rerun mkt strategy (it writes the budget curve).", c->strategy.path, p);
            goto done;
        }
        if (c->err[0])
            goto done;
        if (B >= 0 && r != B) {
            rfail(c, "%s: the datasets of /strategy/budget_curve differ in length", c->strategy.path);
            goto done;
        }
        B = r;
    }
    if (B < 2) {
        missing(c, "%s: /strategy/budget_curve has %lld point(s); rerun mkt strategy with more curve points.",
                c->strategy.path, (long long)B);
        goto done;
    }
    /* sort by budget (insertion sort: B is small) */
    for (int64_t i = 1; i < B; i++)
        for (int64_t j = i; j > 0 && v[0][j] < v[0][j - 1]; j--)
            for (int m = 0; m < 4; m++) {
                double t = v[m][j];
                v[m][j] = v[m][j - 1];
                v[m][j - 1] = t;
            }
    double chosen = mkt_h5_attr_get_double(c->strategy.h, MKT_STRATEGY, "budget", NAN);
    FILE *d = out_open(c, "budget_curve.dat");
    if (!d)
        goto done;
    fprintf(d, "# budget incremental_profit promotion_cost users_treated\n");
    for (int64_t i = 0; i < B; i++)
        fprintf(d, "%.10g %.10g %.10g %.10g\n", v[0][i], v[1][i], v[2][i], v[3][i]);
    if (!out_close(c, d, "budget_curve.dat"))
        goto done;
    int64_t best = 0;
    for (int64_t i = 1; i < B; i++)
        if (v[1][i] > v[1][best])
            best = i;
    double at = isfinite(chosen) ? mkt_curve_at(v[0], v[1], B, chosen) : NAN;
    double users_at = isfinite(chosen) ? mkt_curve_at(v[0], v[3], B, chosen) : NAN;
    double cost_at = isfinite(chosen) ? mkt_curve_at(v[0], v[2], B, chosen) : NAN;
    FILE *g = gp_begin(c, "budget_curve", 950, 540);
    if (!g)
        goto done;
    fprintf(g, "set title 'Expected incremental profit of the strategy for each promotion budget'\n"
               "set xlabel 'promotion budget (total expected promotion cost allowed)'\n"
               "set ylabel 'expected incremental profit'\nset y2label 'customers who get a promotion'\n"
               "set ytics nomirror\nset y2tics\nset y2range [0:*]\nset key bottom right\nset format x '%%.0f'\n"
               "set xzeroaxis lt -1 lc rgb '#999999'\n");
    if (isfinite(chosen)) {
        char a[64];
        fprintf(g, "set arrow from %.10g, graph 0 to %.10g, graph 1 nohead dt 3 lw 2 lc rgb '#d62728'\n"
                   "set label 'chosen budget %s' at %.10g, graph 0.93 offset 0.6,0 tc rgb '#d62728'\n",
                chosen, chosen, num(a, sizeof a, chosen, 0), chosen);
    }
    fprintf(g, "plot 'budget_curve.dat' using 1:2 with linespoints lt 1 ps 0.8 title 'incremental profit', \\\n"
               "     '' using 1:4 axes x1y2 with lines lt 2 dt 2 title 'customers promoted (right axis)'");
    if (isfinite(at))
        fprintf(g, ", \\\n     '+' using (%.10g):(%.10g) every ::0::0 with points pt 7 ps 2 lc rgb '#d62728' "
                   "title 'the strategy'",
                chosen, at);
    fprintf(g, "\n");
    if (!gp_run(c, "budget_curve", g))
        goto done;
    char a[64], b[64], e[64], f2[64], h[64];
    figure_begin(c, "budget_curve", "expected incremental profit against promotion budget");
    hraw(c->body,
         "<p><b>What it shows:</b> the strategy recomputed for a range of promotion budgets: the extra profit it "
         "expects (after promotion costs, blue) and how many customers get a promotion (orange, right axis).</p>\n"
         "<p><b>How to read it:</b> profit rises steeply while the budget goes to the customers a promotion moves "
         "most per unit of cost, then flattens once those are covered. Spending beyond the top of the curve buys "
         "nothing - the strategy stops sending promotions where they lose money, so the curve flattens rather than "
         "falls.</p>\n<p><b>Key number:</b> ");
    if (isfinite(chosen))
        hraw(c->body, "at the chosen budget of %s the strategy expects %s of incremental profit, spending %s on "
                      "promotions to %s customers. ",
             num(a, sizeof a, chosen, 0), num(b, sizeof b, at, 0), num(e, sizeof e, cost_at, 0),
             num(f2, sizeof f2, users_at, 0));
    hraw(c->body, "The most profit on the curve, %s, comes at a budget of %s.</p>\n", num(h, sizeof h, v[1][best], 0),
         num(a, sizeof a, v[0][best], 0));
    figure_end(c, "budget_curve");
done:
    for (int i = 0; i < 4; i++)
        free(v[i]);
}

static void totals(rctx *c)
{
    int64_t P = 0, M = 0, r = 0, k = 0;
    char **pol = read_strs(c, &c->strategy, MKT_STRATEGY_TOTALS_POLICIES, &P);
    char **met = read_strs(c, &c->strategy, MKT_STRATEGY_TOTALS_METRIC_NAMES, &M);
    double *val = NULL, *lo = NULL, *hi = NULL, *tru = NULL;
    if (c->err[0])
        goto done;
    if (!pol || !met || P == 0 || M == 0) {
        missing(c, "%s has no /strategy/totals (policies, metric_names): rerun mkt strategy.", c->strategy.path);
        goto done;
    }
    const char *arr[3] = {"value", "lo", "hi"};
    double **dst[3] = {&val, &lo, &hi};
    for (int i = 0; i < 3; i++) {
        char p[128];
        snprintf(p, sizeof p, "/strategy/totals/%s", arr[i]);
        *dst[i] = read_num(c, &c->strategy, p, 0, M, &r, &k);
        if (c->err[0])
            goto done;
        if (!*dst[i] || r != P) {
            missing(c, "%s: %s is absent or not %lld x %lld: rerun mkt strategy.", c->strategy.path, p,
                    (long long)P, (long long)M);
            goto done;
        }
    }
    if (has(&c->strategy, MKT_STRATEGY_TOTALS_TRUE_VALUE)) {
        tru = read_num(c, &c->strategy, MKT_STRATEGY_TOTALS_TRUE_VALUE, 0, M, &r, &k);
        if (c->err[0])
            goto done;
        if (r != P) {
            free(tru);
            tru = NULL;
        }
    }
    int iprofit = -1, iconv = -1, icost = -1;
    for (int64_t m = 0; m < M; m++) {
        if (!strcmp(met[m], "incremental_profit"))
            iprofit = (int)m;
        if (!strcmp(met[m], "incremental_conversions"))
            iconv = (int)m;
        if (!strcmp(met[m], "promotion_cost"))
            icost = (int)m;
    }
    int istrat = -1;
    for (int64_t p = 0; p < P; p++)
        if (!strcmp(pol[p], "strategy"))
            istrat = (int)p;
    char **labels = mkt_xcalloc((size_t)P, sizeof(char *));
    for (int64_t p = 0; p < P; p++)
        labels[p] = (char *)policy_label(pol[p]);
    if (iprofit >= 0) {
        FILE *d = out_open(c, "totals.dat");
        if (!d) {
            free(labels);
            goto done;
        }
        fprintf(d, "# index colour profit profit_lo profit_hi profit_true conversions conv_lo conv_hi conv_true "
                   "(policies: table in index.html)\n");
        for (int64_t p = 0; p < P; p++) {
            int m2 = iconv >= 0 ? iconv : iprofit;
            fprintf(d, "%lld %d %.10g %.10g %.10g %.10g %.10g %.10g %.10g %.10g\n", (long long)p,
                    p == istrat ? 0xd62728 : 0x1f77b4, val[p * M + iprofit], lo[p * M + iprofit],
                    hi[p * M + iprofit], tru ? tru[p * M + iprofit] : NAN, val[p * M + m2], lo[p * M + m2],
                    hi[p * M + m2], tru ? tru[p * M + m2] : NAN);
        }
        if (!out_close(c, d, "totals.dat")) {
            free(labels);
            goto done;
        }
        int panels = iconv >= 0 ? 2 : 1;
        FILE *g = gp_begin(c, "totals", panels == 2 ? 1250 : 800, 560);
        if (!g) {
            free(labels);
            goto done;
        }
        fprintf(g, "set style fill solid 0.75 border -1\nset boxwidth 0.6\nset xrange [-0.6:%g]\n"
                   "set xtics rotate by 20 right nomirror\n"
                   "set bmargin 7\nset lmargin 12\nset rmargin 3\nset xzeroaxis lt -1\nset key top right\n",
                (double)P - 0.4);
        gp_name_tics(g, labels, P);
        fprintf(g, "set multiplot layout 1,%d title 'Predicted effect of the strategy and of the reference "
                   "policies (bars: prediction, whiskers: 95%% bootstrap interval)'\n",
                panels);
        const double *tabs[4] = {val, lo, hi, tru};
        gp_bar_yrange(g, tabs, 4, P, M, iprofit);
        fprintf(g, "set title 'incremental profit'\nset ylabel 'incremental profit'\n"
                   "plot 'totals.dat' using 1:3:2 with boxes lc rgb variable notitle, \\\n"
                   "     '' using 1:4:(0):($5-$4) with vectors heads size screen 0.008,90 lc rgb '#222222' lw 1.5 notitle");
        if (tru)
            fprintf(g, ", \\\n     '' using 1:6 with points pt 9 ps 2 lc rgb '#2ca02c' title 'planted truth'");
        fprintf(g, "\n");
        if (panels == 2) {
            gp_bar_yrange(g, tabs, 4, P, M, iconv);
            fprintf(g, "set title 'extra purchases'\nset ylabel 'incremental conversions'\n"
                       "plot 'totals.dat' using 1:7:2 with boxes lc rgb variable notitle, \\\n"
                       "     '' using 1:8:(0):($9-$8) with vectors heads size screen 0.008,90 lc rgb '#222222' lw 1.5 notitle");
            if (tru)
                fprintf(g, ", \\\n     '' using 1:10 with points pt 9 ps 2 lc rgb '#2ca02c' title 'planted truth'");
            fprintf(g, "\n");
        }
        fprintf(g, "unset multiplot\n");
        int ok = gp_run(c, "totals", g);
        if (ok) {
            char a[64], b[64], e[64], h[64];
            figure_begin(c, "totals", "predicted totals of the strategy and the reference policies");
            hraw(c->body,
                 "<p><b>What it shows:</b> what the strategy (red) is predicted to earn over sending nothing, "
                 "beside three usual alternatives: no promotion at all, the cheapest promotion to every customer, "
                 "and promotions to the customers most likely to buy (the usual practice) with the same budget. The "
                 "whiskers are 95%% bootstrap intervals%s.</p>\n"
                 "<p><b>How to read it:</b> incremental means caused by the promotion: purchases that would have "
                 "happened anyway are not counted. Promoting likely buyers looks busy but often pays for purchases "
                 "that would have happened anyway; the strategy targets the customers the promotion changes.</p>\n",
                 tru ? "; green diamonds are the true values planted in the synthetic data" : "");
            if (istrat >= 0) {
                int bestref = -1;
                for (int64_t p = 0; p < P; p++)
                    if (p != istrat && (bestref < 0 || val[p * M + iprofit] > val[bestref * M + iprofit]))
                        bestref = (int)p;
                hraw(c->body, "<p><b>Key number:</b> the strategy's predicted incremental profit is %s (95%% "
                              "interval %s to %s)",
                     num(a, sizeof a, val[istrat * M + iprofit], 0), num(b, sizeof b, lo[istrat * M + iprofit], 0),
                     num(e, sizeof e, hi[istrat * M + iprofit], 0));
                if (bestref >= 0) {
                    hraw(c->body, "; the best reference policy, <q>");
                    htext(c->body, labels[bestref]);
                    hraw(c->body, "</q>, reaches %s", num(a, sizeof a, val[bestref * M + iprofit], 0));
                }
                hraw(c->body, ".</p>\n");
                key_number(c, "Strategy: predicted incremental profit %s (95%% interval %s to %s)%s%s.",
                           num(a, sizeof a, val[istrat * M + iprofit], 0),
                           num(b, sizeof b, lo[istrat * M + iprofit], 0),
                           num(e, sizeof e, hi[istrat * M + iprofit], 0),
                           icost >= 0 ? ", promotion cost " : "",
                           icost >= 0 ? num(h, sizeof h, val[istrat * M + icost], 0) : "");
            }
            figure_end(c, "totals");
        }
    } else {
        missing(c, "%s: /strategy/totals has no incremental_profit column.", c->strategy.path);
    }
    free(labels);
    if (c->err[0])
        goto done;
    /* the table: every metric of every policy */
    hraw(c->body, "<table class=\"totals\"><tr><th>policy</th>");
    int *dec = mkt_xcalloc((size_t)M, sizeof(int));
    for (int64_t m = 0; m < M; m++) {
        hraw(c->body, "<th>");
        htext(c->body, metric_label(met[m], &dec[m]));
        hraw(c->body, "</th>");
    }
    hraw(c->body, "</tr>\n");
    for (int64_t p = 0; p < P; p++) {
        hraw(c->body, "<tr%s><td>", p == istrat ? " class=\"ours\"" : "");
        htext(c->body, policy_label(pol[p]));
        hraw(c->body, "</td>");
        for (int64_t m = 0; m < M; m++) {
            char a[64], b[64], e[64];
            hraw(c->body, "<td>%s<br><small>%s to %s</small>", num(a, sizeof a, val[p * M + m], dec[m]),
                 num(b, sizeof b, lo[p * M + m], dec[m]), num(e, sizeof e, hi[p * M + m], dec[m]));
            if (tru)
                hraw(c->body, "<br><small>true %s</small>", num(a, sizeof a, tru[p * M + m], dec[m]));
            hraw(c->body, "</td>");
        }
        hraw(c->body, "</tr>\n");
    }
    hraw(c->body, "</table>\n<p class=\"note\">Each cell: the prediction, below it the 95%% bootstrap interval%s. "
                  "Return on promotion cost = incremental profit / promotion cost (n/a without cost).</p>\n",
         tru ? " and the true value planted in the synthetic data" : "");
    free(dec);
done:
    free_strs(pol, P);
    free_strs(met, M);
    free(val);
    free(lo);
    free(hi);
    free(tru);
}

static void ope(rctx *c)
{
    int64_t n = 0, r = 0;
    char **names = read_strs(c, &c->strategy, MKT_STRATEGY_OPE_NAMES, &n);
    double *v = NULL, *lo = NULL, *hi = NULL;
    if (c->err[0])
        goto done;
    if (!names)
        goto absent;
    v = read_num(c, &c->strategy, MKT_STRATEGY_OPE_VALUE, 0, 0, &r, NULL);
    if (!v || r != n)
        goto absent;
    lo = read_num(c, &c->strategy, MKT_STRATEGY_OPE_LO, 0, 0, &r, NULL);
    if (!lo || r != n)
        goto absent;
    hi = read_num(c, &c->strategy, MKT_STRATEGY_OPE_HI, 0, 0, &r, NULL);
    if (!hi || r != n)
        goto absent;
    double pred = mkt_h5_attr_get_double(c->strategy.h, MKT_STRATEGY_OPE, "predicted", NAN);
    int64_t rows = mkt_h5_attr_get_int(c->strategy.h, MKT_STRATEGY_OPE, "rows", -1);
    FILE *d = out_open(c, "ope.dat");
    if (!d)
        goto done;
    fprintf(d, "# index value lo hi colour (estimates per campaign customer; the last row, if any, is the "
               "model's prediction)\n");
    for (int64_t i = 0; i < n; i++)
        fprintf(d, "%lld %.10g %.10g %.10g %d\n", (long long)i, v[i], lo[i], hi[i], 0x1f77b4);
    if (isfinite(pred))
        fprintf(d, "%lld %.10g %.10g %.10g %d\n", (long long)n, pred, pred, pred, 0xd62728);
    if (!out_close(c, d, "ope.dat"))
        goto done;
    int64_t nb = n + (isfinite(pred) ? 1 : 0);
    char **labels = mkt_xcalloc((size_t)nb, sizeof(char *));
    for (int64_t i = 0; i < n; i++)
        labels[i] = !strcmp(names[i], "ipw")  ? "inverse propensity weighting"
                    : !strcmp(names[i], "dr") ? "doubly robust"
                                              : names[i];
    if (isfinite(pred))
        labels[n] = "model prediction";
    FILE *g = gp_begin(c, "ope", 900, 520);
    if (!g) {
        free(labels);
        goto done;
    }
    fprintf(g, "set title 'The strategy checked against the randomized campaign log'\n"
               "set ylabel 'incremental profit per campaign customer'\nset style fill solid 0.75 border -1\n"
               "set boxwidth 0.55\nset xrange [-0.6:%g]\nset xzeroaxis lt -1\nunset key\n"
               "set bmargin 4\n",
            (double)nb - 0.4);
    gp_name_tics(g, labels, nb);
    free(labels);
    double ylo = 0, yhi = 0;
    for (int64_t i = 0; i <= n; i++) {
        double w[3] = {i < n ? v[i] : pred, i < n ? lo[i] : pred, i < n ? hi[i] : pred};
        for (int j = 0; j < 3; j++)
            if (isfinite(w[j])) {
                ylo = w[j] < ylo ? w[j] : ylo;
                yhi = w[j] > yhi ? w[j] : yhi;
            }
    }
    gp_yrange_of(g, ylo, yhi);
    fprintf(g, "plot 'ope.dat' using 1:2:5 with boxes lc rgb variable, \\\n"
               "     '' using 1:3:(0):($4-$3) with vectors heads size screen 0.008,90 lc rgb '#222222' lw 1.5\n");
    if (!gp_run(c, "ope", g))
        goto done;
    char a[64], b[64], e[64];
    figure_begin(c, "ope", "off-policy estimates of the strategy's value from the campaign log");
    hraw(c->body,
         "<p><b>What it shows:</b> an independent check of the prediction. In the past randomized campaign, "
         "some customers happened to receive exactly what the strategy would send them; re-weighting what "
         "happened to them (inverse propensity weighting) and correcting it with the models (doubly robust) "
         "estimates what the strategy would have earned per customer, compared with sending nothing.</p>\n"
         "<p><b>How to read it:</b> the whiskers are 95%% intervals. If the model's prediction (red) falls inside "
         "them, the log agrees with the prediction; if both estimates sit clearly below it, the prediction is "
         "optimistic.</p>\n");
    for (int64_t i = 0; i < n; i++)
        if (!strcmp(names[i], "dr"))
            hraw(c->body, "<p><b>Key number:</b> doubly robust estimate %s per customer (95%% interval %s to %s)",
                 num(a, sizeof a, v[i], 2), num(b, sizeof b, lo[i], 2), num(e, sizeof e, hi[i], 2));
    if (isfinite(pred))
        hraw(c->body, "; the model predicts %s", num(a, sizeof a, pred, 2));
    if (rows > 0)
        hraw(c->body, "; %s campaign customers", num(b, sizeof b, (double)rows, 0));
    hraw(c->body, ".</p>\n");
    figure_end(c, "ope");
    goto done;
absent:
    if (!c->err[0])
        missing(c, "%s has no complete /strategy/ope (names, value, lo, hi): rerun mkt strategy on a store with a "
                   "campaign log.", c->strategy.path);
done:
    free_strs(names, n);
    free(v);
    free(lo);
    free(hi);
}

static void strategy_section(rctx *c)
{
    section(c, "strategy", "5. The marketing strategy",
            "For every customer: the promotion to send (or none), chosen for the largest expected incremental "
            "profit within the promotion budget.");
    if (c->strategy.h < 0) {
        missing(c, "no --strategy file given. Compute the strategy first: mkt strategy --store S --models M "
                   "--budget B --out strategy.h5, then give --strategy strategy.h5.");
        return;
    }
    if (!has(&c->strategy, MKT_STRATEGY)) {
        missing(c, "%s has no /strategy group: it is not a strategy file (write one with mkt strategy --out).",
                c->strategy.path);
        return;
    }
    double b = mkt_h5_attr_get_double(c->strategy.h, MKT_STRATEGY, "budget", NAN);
    int64_t treated = mkt_h5_attr_get_int(c->strategy.h, MKT_STRATEGY, "users_treated", -1);
    if (isfinite(b) || treated >= 0) {
        char a[64], e[64];
        hraw(c->body, "<p>");
        if (isfinite(b))
            hraw(c->body, "Budget: %s. ", num(a, sizeof a, b, 0));
        if (treated >= 0)
            hraw(c->body, "Customers who get a promotion: %s.", num(e, sizeof e, (double)treated, 0));
        hraw(c->body, "</p>\n");
    }
    budget_curve(c);
    if (!c->err[0])
        totals(c);
    if (!c->err[0])
        ope(c);
}

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
    FILE *f = out_open(c, "index.html.tmp");
    if (!f)
        return;
    const char *title = c->o->title ? c->o->title : "Marketing report";
    fprintf(f, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>");
    htext(f, title);
    fprintf(f, "</title>\n<style>%s</style>\n</head>\n<body>\n<h1>", CSS);
    htext(f, title);
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
            htext(f, paths[i]);
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
    char *from = out_path(c, "index.html.tmp"), *to = out_path(c, "index.html");
    if (!out_close(c, f, "index.html.tmp"))
        unlink(from); /* no partial page left behind */
    else if (rename(from, to) != 0) {
        rfail(c, "cannot rename %s to %s: %s", from, to, strerror(errno));
        unlink(from);
    }
    free(from);
    free(to);
}

/* Rank 0: everything after the inputs are open. */
static void build(rctx *c)
{
    prepare(c);
    if (c->err[0])
        return;
    c->body = open_memstream(&c->body_text, &c->body_len);
    c->summary = open_memstream(&c->summary_text, &c->summary_len);
    if (!c->body || !c->summary)
        mkt_fail("out of memory");
    void (*const sections[])(rctx *) = {training_section, propensity_section, uplift_section, segments_section,
                                        strategy_section};
    for (size_t i = 0; i < sizeof sections / sizeof sections[0] && !c->err[0]; i++)
        sections[i](c);
    fclose(c->body);
    fclose(c->summary);
    if (!c->err[0])
        write_page(c);
    char *log = out_path(c, "gnuplot.log");
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

int mkt_report_run(const mkt_report_options *o, MPI_Comm comm, json_t *metrics)
{
    double t0 = mkt_now();
    if (!o->out || !*o->out)
        mkt_fail_all(MKT_EXIT_USAGE, "report: --out DIR is required (the directory for index.html and the plots)");
    const char *inputs[3] = {o->store, o->models, o->strategy};
    for (int i = 0; i < 3; i++)
        if (inputs[i] && !strcmp(inputs[i], o->out))
            mkt_fail_all(MKT_EXIT_USAGE, "report: --out %s is also an input file; give a directory for the report "
                                         "(in a job file: [report] out = DIR)", o->out);
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
