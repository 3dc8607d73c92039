/* report_gnuplot.c — `mkt report`: the output directory, the files of each
 * plot (NAME.dat, NAME.gp, NAME.png) and the runs of gnuplot.
 *
 * Safety: gnuplot runs with the output directory as its working directory
 * and the script's own name as its only argument (posix_spawn, no shell), so
 * the paths given by the user never appear in a script or a command line.
 * Names from data files (segments, arms, policies) reach gnuplot through
 * mkt_gp_quote (noenhanced terminal).  Must not: choose what a plot shows
 * (the sections do) or write index.html (report.c does). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "iocheck.h"
#include "par.h"
#include "report_sections.h"
#include "report_util.h"

extern char **environ;

#define GNUPLOT_TIMEOUT 120.0 /* seconds per plot */

char *rep_out_path(rctx *c, const char *name)
{
    size_t n = strlen(c->o->out) + strlen(name) + 2;
    char *p = mkt_xmalloc(n);
    snprintf(p, n, "%s/%s", c->o->out, name);
    return p;
}

FILE *rep_out_open(rctx *c, const char *name)
{
    if (c->err[0])
        return NULL;
    char *p = rep_out_path(c, name);
    FILE *f = fopen(p, "w");
    if (!f)
        rep_fail(c, "cannot write %s: %s", p, strerror(errno));
    free(p);
    return f;
}

int rep_out_close(rctx *c, FILE *f, const char *name)
{
    if (!f)
        return 0;
    int bad = ferror(f);
    if (fclose(f) != 0 || bad) {
        char *p = rep_out_path(c, name);
        rep_fail(c, "cannot write %s: %s", p, strerror(errno ? errno : EIO));
        free(p);
        return 0;
    }
    return 1;
}

/* The first bytes of gnuplot's messages, on one line. */
static void read_log(rctx *c, char *buf, size_t n)
{
    buf[0] = 0;
    char *p = rep_out_path(c, "gnuplot.log");
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
    char *p = rep_out_path(c, script);
    if (rc == -1 && err == ENOENT)
        rep_fail(c, "gnuplot not found ('%s'): install it (Debian: apt-get install gnuplot-nox) or give --gnuplot "
                    "PATH",
                 c->gnuplot);
    else if (rc == -1)
        rep_fail(c, "cannot run gnuplot ('%s') on %s: %s", c->gnuplot, p, strerror(err));
    else if (rc == -2)
        rep_fail(c, "gnuplot did not finish %s within %.0f s", p, GNUPLOT_TIMEOUT);
    else {
        char log[600];
        read_log(c, log, sizeof log);
        rep_fail(c, "gnuplot failed on %s (exit status %d): %s", p, rc, log[0] ? log : "no message");
    }
    free(p);
}

/* Output directory, gnuplot and its PNG terminal: pngcairo when it works,
 * else png. */
void rep_prepare(rctx *c)
{
    const char *out = c->o->out;
    char *tmp = mkt_xstrdup(out);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST) {
            rep_fail(c, "cannot create directory %s: %s", tmp, strerror(errno));
            free(tmp);
            return;
        }
        *p = '/';
    }
    free(tmp);
    if (mkdir(out, 0755) != 0 && errno != EEXIST) {
        rep_fail(c, "cannot create directory %s: %s", out, strerror(errno));
        return;
    }
    struct stat st;
    if (stat(out, &st) != 0 || !S_ISDIR(st.st_mode)) {
        rep_fail(c, "--out %s: not a directory", out);
        return;
    }
    static const char *const terms[2] = {"pngcairo", "png"};
    for (int t = 0; t < 2 && !c->err[0]; t++) {
        FILE *f = rep_out_open(c, "probe.gp");
        if (!f)
            return;
        fprintf(f, "set terminal %s\n", terms[t]);
        if (!rep_out_close(c, f, "probe.gp"))
            return;
        int err = 0, rc = run_gnuplot(c, "probe.gp", &err);
        if (rc == 0) {
            c->term = terms[t];
            break;
        }
        if (rc < 0 || t == 1)
            gnuplot_error(c, "probe.gp", rc, err);
    }
    char *p = rep_out_path(c, "probe.gp");
    unlink(p);
    free(p);
    if (!c->err[0] && strcmp(c->term, "pngcairo") != 0)
        mkt_log(STAGE, "gnuplot has no pngcairo terminal; using png");
}

/* Start NAME.gp: terminal, output NAME.png, common style. */
FILE *rep_gp_begin(rctx *c, const char *name, int width, int height)
{
    char file[256];
    snprintf(file, sizeof file, "%s.gp", name);
    FILE *f = rep_out_open(c, file);
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
int rep_gp_run(rctx *c, const char *name, FILE *f)
{
    char file[256];
    snprintf(file, sizeof file, "%s.gp", name);
    if (!f)
        return 0;
    fprintf(f, "unset output\n");
    if (!rep_out_close(c, f, file))
        return 0;
    int err = 0, rc = run_gnuplot(c, file, &err);
    if (rc != 0) {
        gnuplot_error(c, file, rc, err);
        return 0;
    }
    snprintf(file, sizeof file, "%s.png", name);
    char *p = rep_out_path(c, file);
    struct stat st;
    if (stat(p, &st) != 0 || st.st_size == 0) {
        rep_fail(c, "gnuplot wrote no %s", p);
        free(p);
        return 0;
    }
    free(p);
    json_array_append_new(c->plots, json_string(file));
    return 1;
}

/* A gnuplot string literal of s (names from data files). */
void rep_gp_str(FILE *f, const char *s, int max_chars)
{
    char *q = mkt_gp_quote(s, max_chars);
    if (!q)
        mkt_fail("out of memory");
    fputs(q, f);
    free(q);
}

/* `set xtics (name0 0, name1 1, ...)` */
void rep_gp_name_tics(FILE *f, char **names, int64_t n)
{
    fprintf(f, "set xtics (");
    for (int64_t i = 0; i < n; i++) {
        if (i)
            fprintf(f, ", ");
        rep_gp_str(f, names[i], LABEL_CHARS);
        fprintf(f, " %lld", (long long)i);
    }
    fprintf(f, ")\n");
}

/* `set yrange` from lo <= 0 to hi >= 0, padded where not 0. */
void rep_gp_yrange_of(FILE *f, double lo, double hi)
{
    double pad = 0.08 * (hi - lo);
    if (pad <= 0)
        pad = 1;
    fprintf(f, "set yrange [%.10g:%.10g]\n", lo < 0 ? lo - pad : 0, hi > 0 || lo == 0 ? hi + pad : 0);
}

/* `set yrange` for bars from 0: covers 0 and column `col` of the first n
 * rows of each [rows x M] table (NULL tables skipped), with room above and
 * below for markers. */
void rep_gp_bar_yrange(FILE *f, const double *const *tables, int ntables, int64_t n, int64_t M, int col)
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
    rep_gp_yrange_of(f, lo, hi);
}

