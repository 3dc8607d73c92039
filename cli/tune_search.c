/* tune_search.c — the search space of `mkt tune`: the fixed options as
 * (key, value) pairs checked against the train command's table, the argument
 * list of a configuration and its parse by that table, a configuration's
 * description, values as JSON typed by their option, and the two files
 * written from the scores: the table JSON and the best configuration as a
 * [train_MODEL] job-file section, each under a temporary name then renamed.
 * It must not run a configuration, talk MPI, read scores or pick the best
 * (cli/cmd_tune.c). */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "parse.h"
#include "tune_search.h"

int tune_in_list(const char *const *list, const char *name)
{
    for (; *list; list++)
        if (!strcmp(*list, name))
            return 1;
    return 0;
}


void tune_tunable_keys(const tune_model *m, const mkt_opt *opts, char *buf, size_t n)
{
    size_t len = 0;
    buf[0] = 0;
    char name[64];
    for (const mkt_opt *o = opts; o->name && len < n; o++)
        if (!tune_in_list(m->reserved, o->name) && !tune_in_list(m->not_tuned, o->name))
            len += (size_t)snprintf(buf + len, n - len, "%s%s", len ? ", " : "",
                                    mkt_opt_spelling(o, NULL, name, sizeof name));
}

/* ---------- options as (key, value) pairs ---------- */

static int is_bool_text(const char *v)
{
    static const char *const t[] = {"0", "1", "true", "false", "yes", "no", "on", "off", NULL};
    return tune_in_list(t, v);
}

/* The fixed options text ("--iters 5 --implicit") as pairs; fails naming the token. */
int tune_fixed_pairs(const char *text, const mkt_opt *opts, const tune_model *m, kv **out, int *nout, char *err,
                       size_t errlen)
{
    *out = NULL;
    *nout = 0;
    if (!text)
        return 0;
    char *copy = mkt_xstrdup(text), *save = NULL;
    char *tok[256];
    int nt = 0;
    for (char *t = strtok_r(copy, " \t\n", &save); t; t = strtok_r(NULL, " \t\n", &save)) {
        if (nt == 256) {
            snprintf(err, errlen, "more than 256 words");
            free(copy);
            return -1;
        }
        tok[nt++] = t;
    }
    kv *p = mkt_xcalloc((size_t)nt + 1, sizeof(kv));
    int np = 0, rc = 0;
    for (int i = 0; i < nt && rc == 0; i++) {
        if (strncmp(tok[i], "--", 2) != 0 || !tok[i][2]) {
            snprintf(err, errlen, "unexpected argument '%s' (expected --OPTION [VALUE])", tok[i]);
            rc = -1;
            break;
        }
        char name[128];
        const char *eq = strchr(tok[i] + 2, '='), *value = NULL;
        snprintf(name, sizeof name, "%.*s", eq ? (int)(eq - tok[i] - 2) : (int)strlen(tok[i] + 2), tok[i] + 2);
        const mkt_opt *o = mkt_opts_find(opts, name);
        if (!o) {
            char keys[2048];
            tune_tunable_keys(m, opts, keys, sizeof keys);
            snprintf(err, errlen, "unknown option '--%s' of mkt train %s (options: %s)", name, m->name, keys);
            rc = -1;
            break;
        }
        if (tune_in_list(m->reserved, o->name)) {
            snprintf(err, errlen, "--%s is set by mkt tune for each configuration; it cannot be given", o->name);
            rc = -1;
            break;
        }
        if (eq)
            value = eq + 1;
        else if (o->type == MKT_OPT_BOOL)
            value = i + 1 < nt && is_bool_text(tok[i + 1]) ? tok[++i] : "1";
        else if (i + 1 < nt)
            value = tok[++i];
        else {
            snprintf(err, errlen, "option '--%s' needs a value", name);
            rc = -1;
            break;
        }
        for (int k = 0; k < np; k++)
            if (p[k].opt == o) {
                snprintf(err, errlen, "--%s is given twice", name);
                rc = -1;
            }
        p[np].opt = o;
        mkt_opt_spelling(o, name, p[np].name, sizeof p[np].name);
        p[np++].value = mkt_xstrdup(value);
    }
    free(copy);
    if (rc != 0) {
        for (int k = 0; k < np; k++)
            free(p[k].value);
        free(p);
        return -1;
    }
    *out = p;
    *nout = np;
    return 0;
}

/* ---------- one configuration ---------- */

/* "lambda=0.05 rank=32" */
void tune_describe(const search *s, int64_t j, char *buf, size_t n)
{
    size_t len = 0;
    buf[0] = 0;
    for (int a = 0; a < s->naxes && len < n; a++)
        len += (size_t)snprintf(buf + len, n - len, "%s%s=%s", a ? " " : "", s->axis_name[a],
                                s->configs[j * s->naxes + a]);
}

/* The train command's arguments of configuration j, writing to out and metrics. */
arglist tune_args_of(const search *s, int64_t j, const char *out, const char *metrics)
{
    arglist a;
    a.argv = mkt_xcalloc((size_t)(4 + s->nfixed + s->naxes), sizeof(char *));
    a.argc = 0;
    char buf[8192];
    snprintf(buf, sizeof buf, "--store=%s", s->store);
    a.argv[a.argc++] = mkt_xstrdup(buf);
    snprintf(buf, sizeof buf, "--out=%s", out);
    a.argv[a.argc++] = mkt_xstrdup(buf);
    snprintf(buf, sizeof buf, "--metrics-out=%s", metrics);
    a.argv[a.argc++] = mkt_xstrdup(buf);
    for (int k = 0; k < s->nfixed; k++) {
        snprintf(buf, sizeof buf, "--%s=%s", s->fixed[k].name, s->fixed[k].value);
        a.argv[a.argc++] = mkt_xstrdup(buf);
    }
    for (int k = 0; k < s->naxes; k++) {
        snprintf(buf, sizeof buf, "--%s=%s", s->axis_name[k], s->configs[j * s->naxes + k]);
        a.argv[a.argc++] = mkt_xstrdup(buf);
    }
    return a;
}

void tune_args_free(arglist *a)
{
    for (int i = 0; i < a->argc; i++)
        free(a->argv[i]);
    free(a->argv);
}

/* Parse an argument list with the train command's table into a new values
 * struct (NULL and the message in err on failure). */
void *tune_parse_args(const mkt_command *c, arglist *a, char *err, size_t errlen)
{
    void *v = mkt_xcalloc(1, c->values_size);
    mkt_command_defaults(c, v);
    char **pos = NULL;
    int npos = 0;
    const char *msg = mkt_opts_parse_argv(c->opts, v, a->argc, a->argv, 0, &pos, &npos);
    if (!msg && npos > 0)
        msg = "unexpected argument";
    if (msg) {
        snprintf(err, errlen, "%s", msg);
        free(v);
        return NULL;
    }
    return v;
}

/* ---------- files ---------- */

/* Rank 0: write text to path under a temporary name, then rename. */
static int write_atomic(const char *path, const char *text, char *why, size_t n)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        snprintf(why, n, "cannot create %s: %s", tmp, strerror(errno));
        return -1;
    }
    int ok = fputs(text, f) >= 0;
    ok = (fclose(f) == 0) && ok;
    if (!ok) {
        snprintf(why, n, "cannot write %s: %s", tmp, strerror(errno));
        unlink(tmp);
        return -1;
    }
    if (rename(tmp, path) != 0) {
        snprintf(why, n, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

/* A value as JSON, typed by its option. */
static json_t *typed(const mkt_opt *o, const char *v)
{
    int64_t i;
    double d;
    if ((o->type == MKT_OPT_INT || o->type == MKT_OPT_I32 || o->type == MKT_OPT_U64) && mkt_parse_int64(v, &i) == 0)
        return json_integer(i);
    if (o->type == MKT_OPT_DOUBLE && mkt_parse_double(v, &d) == 0)
        return json_real(d);
    if (o->type == MKT_OPT_BOOL)
        return json_integer(is_bool_text(v) && (!strcmp(v, "1") || !strcmp(v, "true") || !strcmp(v, "yes") ||
                                                !strcmp(v, "on")));
    return json_string(v);
}

static json_t *params_json(const search *s, int64_t j)
{
    json_t *p = json_object();
    for (int a = 0; a < s->naxes; a++)
        json_object_set_new(p, s->axis_name[a], typed(s->axis_opt[a], s->configs[j * s->naxes + a]));
    return p;
}

static char *key_of(const char *name) /* job-file spelling */
{
    char *k = mkt_xstrdup(name);
    for (char *p = k; *p; p++)
        if (*p == '-')
            *p = '_';
    return k;
}

int tune_write_table(const char *path, const search *s, const char *grid, int64_t random, int64_t seed,
                     const mkt_tune_score *score, const double *seconds, const int *group_of, int64_t best,
                     char *why, size_t n)
{
    const tune_model *m = s->model;
    json_t *t = json_object();
    json_object_set_new(t, "model", json_string(m->name));
    json_object_set_new(t, "command", json_string(m->command));
    json_object_set_new(t, "search", json_string(random ? "random" : "grid"));
    json_object_set_new(t, "grid", json_string(grid));
    if (random) {
        json_object_set_new(t, "random", json_integer(random));
        json_object_set_new(t, "seed", json_integer(seed));
    }
    json_t *fx = json_object();
    for (int k = 0; k < s->nfixed; k++)
        json_object_set_new(fx, s->fixed[k].name, typed(s->fixed[k].opt, s->fixed[k].value));
    json_object_set_new(t, "fixed", fx);
    json_object_set_new(t, "metric", json_string(score[best].metric));
    json_object_set_new(t, "goal", json_string(score[best].goal));
    json_object_set_new(t, "split", json_string(score[best].split));
    json_object_set_new(t, "configurations", json_integer(s->n));
    json_t *b = json_object();
    json_object_set_new(b, "config", json_integer(best + 1));
    json_object_set_new(b, "params", params_json(s, best));
    json_object_set_new(b, "value", json_real(score[best].value));
    json_object_set_new(t, "best", b);
    json_t *rows = json_array();
    for (int64_t j = 0; j < s->n; j++) {
        json_t *row = json_object();
        json_object_set_new(row, "config", json_integer(j + 1));
        json_object_set_new(row, "params", params_json(s, j));
        json_object_set_new(row, "metric", json_string(score[j].metric));
        json_object_set_new(row, "goal", json_string(score[j].goal));
        json_object_set_new(row, "split", json_string(score[j].split));
        json_object_set_new(row, "value", isnan(score[j].value) ? json_null() : json_real(score[j].value));
        json_object_set_new(row, "seconds", json_real(seconds[j]));
        json_object_set_new(row, "group", json_integer(group_of[j]));
        json_array_append_new(rows, row);
    }
    json_object_set_new(t, "rows", rows);
    char *text = json_dumps(t, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(t);
    size_t tl = strlen(text);
    text = mkt_xrealloc(text, tl + 2);
    memcpy(text + tl, "\n", 2);
    int rc = write_atomic(path, text, why, n);
    free(text);
    return rc;
}

int tune_write_best(const char *path, const char *table, const search *s, const mkt_tune_score *score, int64_t best,
                    char *why, size_t n)
{
    const tune_model *m = s->model;
    size_t cap = 65536, len = 0;
    char *ini = mkt_xmalloc(cap);
    len += (size_t)snprintf(ini + len, cap - len,
                            "; mkt tune %s: best of %lld configurations by %s (%s, %s split) = %.17g\n"
                            "; table: %s\n[%s]\n",
                            m->name, (long long)s->n, score[best].metric, score[best].goal, score[best].split,
                            score[best].value, table, m->command);
    for (int k = 0; k < s->nfixed && len < cap; k++) {
        char *key = key_of(s->fixed[k].name);
        len += (size_t)snprintf(ini + len, cap - len, "%s = %s\n", key, s->fixed[k].value);
        free(key);
    }
    for (int a = 0; a < s->naxes && len < cap; a++) {
        char *key = key_of(s->axis_name[a]);
        len += (size_t)snprintf(ini + len, cap - len, "%s = %s\n", key, s->configs[best * s->naxes + a]);
        free(key);
    }
    int rc = 0;
    if (len >= cap) {
        rc = -1;
        snprintf(why, n, "tune %s: the best configuration is too long to write", m->name);
    }
    if (rc == 0)
        rc = write_atomic(path, ini, why, n);
    free(ini);
    return rc;
}
