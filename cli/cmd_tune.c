/* cmd_tune.c — `mkt tune mf|propensity|uplift` (job-file section [tune]): a
 * hyper-parameter search over the options of `mkt train MODEL`.
 *
 * Every configuration is an argument list of the train command
 *     --store S --out TMP/cfgJ.h5 --metrics-out TMP/cfgJ.json FIXED... --KEY=VALUE...
 * parsed by that command's own option table and run by its own run function,
 * so every train option can be tuned and none is declared twice.  All lists
 * are parsed on every rank before anything runs, so a bad value is a usage
 * error naming the configuration and the option.
 *
 * The ranks split into groups of --group-size ranks (MPI_Comm_split, in rank
 * order); configuration j runs on group j mod G, in rounds of G.  A
 * configuration's result depends on its options only (the trainers give the
 * same model on any rank count), so the table is the same for any rank count
 * and group size.  Its score is read back from the metrics JSON the run wrote
 * (io/tune_score.c); after each round rank 0 prints one line per configuration.
 *
 * Outputs: --table (JSON, one row per configuration in configuration order),
 * --best (the best configuration as a [train_MODEL] job-file section),
 * --final-out (the best configuration trained on all ranks).  The runs'
 * files live in a temporary directory beside the table, removed at the end;
 * every output is written under a temporary name and renamed. */
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "iocheck.h"
#include "commands.h"
#include "h5store.h"
#include "metrics_json.h"
#include "par.h"
#include "parse.h"
#include "tune_grid.h"
#include "tune_score.h"

typedef struct {
    char *model, *store, *grid, *table, *best, *final_out, *fixed, *metrics_out;
    int64_t random, seed, group_size;
} tune_cli;

#define TO(f) offsetof(tune_cli, f)
static const mkt_opt tune_opts[] = {
    {"model", MKT_OPT_STR, TO(model), NULL, "model to tune: mf, propensity or uplift (`mkt tune MODEL`)", 0, 0},
    {"store", MKT_OPT_STR, TO(store), NULL, "store to train on (required)", 0, 0},
    {"grid", MKT_OPT_STR, TO(grid), NULL,
     "search space over options of `mkt train MODEL`: key=v1,v2;key2=... (the cartesian product); with --random "
     "also ranges log:LOW:HIGH, lin:LOW:HIGH, int:LOW:HIGH",
     0, 0},
    {"random", MKT_OPT_INT, TO(random), NULL,
     "random search: draw N configurations from the grid (distinct when the grid has only lists) instead of "
     "running the whole product",
     1, MKT_GRID_MAX_CONFIGS},
    {"seed", MKT_OPT_INT, TO(seed), "1", "seed of the random search's draws", 0, 0},
    {"group-size", MKT_OPT_INT, TO(group_size), "1",
     "ranks per configuration: the ranks split into groups of this many, each running its own configurations "
     "(must divide the rank count)",
     1, 1e6},
    {"table", MKT_OPT_STR, TO(table), NULL,
     "write every configuration's options, metric, value and seconds to this JSON file (required)", 0, 0},
    {"best", MKT_OPT_STR, TO(best), NULL,
     "write the best configuration as a [train_MODEL] job-file section to this file (required)", 0, 0},
    {"final-out", MKT_OPT_STR, TO(final_out), NULL,
     "train the best configuration on all ranks into this model file (as `mkt train MODEL --out`)", 0, 0},
    {"fixed", MKT_OPT_STR, TO(fixed), NULL,
     "options of `mkt train MODEL` every configuration gets, as on its command line (what follows `--` on "
     "the tune command line), e.g. `--iters 5 --implicit`; values without spaces",
     0, 0},
    {"metrics-out", MKT_OPT_STR, TO(metrics_out), NULL,
     "write what the search did (configurations, groups, best, the final run's metrics) as JSON to this file", 0,
     0},
    MKT_OPT_END};

static tune_cli tune_values;

static void remove_tmpdir(void);

/* ---------- the models that can be tuned ---------- */

typedef struct {
    const char *name, *command;
    const char *const *reserved;  /* neither in the grid nor fixed */
    const char *const *not_tuned; /* not in the grid (fixed is fine) */
    const char *const *features;  /* propensity: change the features written into the store */
    const char *const *numeric_text; /* text options that take a number (or a word such as auto): ranges allowed */
} tune_model;

static const char *const reserved_common[] = {"store", "out", "metrics-out", "checkpoint", "resume", "export", NULL};
static const char *const mf_not_tuned[] = {"implicit", NULL}; /* changes the metric */
static const char *const mf_numeric_text[] = {"lambda", NULL};   /* a number or auto */
static const char *const prop_numeric_text[] = {"l2", NULL};    /* a number or auto */
static const char *const uplift_numeric_text[] = {"l2-effect", NULL}; /* a number or same */
static const char *const prop_features[] = {"cutoff", "horizon-days", "windows", "window-stride-days",
                                            "features-group", NULL};
static const char *const none[] = {NULL};

static const tune_model models[] = {{"mf", "train_mf", reserved_common, mf_not_tuned, none, mf_numeric_text},
                                    {"propensity", "train_propensity", reserved_common, none, prop_features,
                                     prop_numeric_text},
                                    {"uplift", "train_uplift", reserved_common, none, none, uplift_numeric_text}};

static int in_list(const char *const *list, const char *name)
{
    for (; *list; list++)
        if (!strcmp(*list, name))
            return 1;
    return 0;
}


static void tunable_keys(const tune_model *m, const mkt_opt *opts, char *buf, size_t n)
{
    size_t len = 0;
    buf[0] = 0;
    char name[64];
    for (const mkt_opt *o = opts; o->name && len < n; o++)
        if (!in_list(m->reserved, o->name) && !in_list(m->not_tuned, o->name))
            len += (size_t)snprintf(buf + len, n - len, "%s%s", len ? ", " : "",
                                    mkt_opt_spelling(o, NULL, name, sizeof name));
}

/* ---------- options as (key, value) pairs ---------- */

typedef struct {
    const mkt_opt *opt; /* of the train command */
    char name[64];      /* its name as given (one of the option's names) */
    char *value;
} kv;

static int is_bool_text(const char *v)
{
    static const char *const t[] = {"0", "1", "true", "false", "yes", "no", "on", "off", NULL};
    return in_list(t, v);
}

/* The fixed options text ("--iters 5 --implicit") as pairs; fails naming the token. */
static int fixed_pairs(const char *text, const mkt_opt *opts, const tune_model *m, kv **out, int *nout, char *err,
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
            tunable_keys(m, opts, keys, sizeof keys);
            snprintf(err, errlen, "unknown option '--%s' of mkt train %s (options: %s)", name, m->name, keys);
            rc = -1;
            break;
        }
        if (in_list(m->reserved, o->name)) {
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

typedef struct {
    const tune_model *model;
    const mkt_command *cmd;
    const char *store, *tmpdir;
    kv *fixed;
    int nfixed;
    const mkt_opt **axis_opt; /* the option of each grid axis */
    char (*axis_name)[64];    /* its name as the grid gives it */
    int naxes;
    char **configs; /* n x naxes values */
    int64_t n;
} search;

/* "lambda=0.05 rank=32" */
static void describe(const search *s, int64_t j, char *buf, size_t n)
{
    size_t len = 0;
    buf[0] = 0;
    for (int a = 0; a < s->naxes && len < n; a++)
        len += (size_t)snprintf(buf + len, n - len, "%s%s=%s", a ? " " : "", s->axis_name[a],
                                s->configs[j * s->naxes + a]);
}

typedef struct {
    char **argv;
    int argc;
} arglist;

/* The train command's arguments of configuration j, writing to out and metrics. */
static arglist args_of(const search *s, int64_t j, const char *out, const char *metrics)
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

static void args_free(arglist *a)
{
    for (int i = 0; i < a->argc; i++)
        free(a->argv[i]);
    free(a->argv);
}

/* Parse an argument list with the train command's table into a new values
 * struct (NULL and the message in err on failure). */
static void *parse_args(const mkt_command *c, arglist *a, char *err, size_t errlen)
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

static void cfg_path(const search *s, int64_t j, const char *ext, char *buf, size_t n)
{
    snprintf(buf, n, "%s/cfg%lld.%s", s->tmpdir, (long long)(j + 1), ext);
}

/* Collective over comm: run the train command with configuration j's
 * options, into out and metrics (NULL: the temporary files of
 * configuration j); quiet mutes the trainer's lines.  A usage or data error
 * of the trainer ends the job naming the configuration (check.h's scope).
 * Returns its status and the seconds it took. */
static int run_config(const search *s, int64_t j, const char *out, const char *metrics, int quiet, MPI_Comm comm,
                      double *seconds)
{
    char o[4096], m[4096], err[1024], what[2048], ctx[2600];
    if (!out) {
        cfg_path(s, j, "h5", o, sizeof o);
        cfg_path(s, j, "json", m, sizeof m);
        out = o;
        metrics = m;
    }
    arglist a = args_of(s, j, out, metrics);
    void *values = parse_args(s->cmd, &a, err, sizeof err);
    if (!values) /* checked on every rank before anything ran */
        mkt_fail("configuration %lld no longer parses: %s", (long long)(j + 1), err);
    describe(s, j, what, sizeof what);
    snprintf(ctx, sizeof ctx, "tune %s: %sconfiguration %lld/%lld (%s)", s->model->name,
             metrics == m ? "" : "the final model, ", (long long)(j + 1), (long long)s->n, what);
    mkt_fail_scope_enter(comm, ctx, remove_tmpdir);
    mkt_log_mute(quiet);
    MKT_MPI(MPI_Barrier(comm));
    double t0 = mkt_now();
    int rc = s->cmd->run(values, comm);
    MKT_MPI(MPI_Barrier(comm));
    *seconds = mkt_now() - t0;
    mkt_log_mute(0);
    mkt_fail_scope_leave();
    free(values);
    args_free(&a);
    return rc;
}

/* ---------- the score of a run (io/tune_score.c) ---------- */

typedef mkt_tune_score tune_score;

/* Rank 0: the score of the run that wrote metrics file `path`. */
static int score_of(const char *path, const char *model, tune_score *s, char *err, size_t n)
{
    memset(s, 0, sizeof *s);
    json_error_t je;
    json_t *m = json_load_file(path, 0, &je);
    if (!m) {
        snprintf(err, n, "cannot read its metrics %s: %s", path, je.text);
        return -1;
    }
    int rc = mkt_tune_score_of(m, model, s, err, n);
    json_decref(m);
    return rc;
}

static int better(const tune_score *a, const tune_score *b) { return mkt_tune_better(a, b); }

/* ---------- files ---------- */

static char tmpdir_path[4096]; /* removed at exit (rank 0) or when a group fails (its rank 0) */

static void remove_tmpdir(void)
{
    if (!tmpdir_path[0])
        return;
    DIR *d = opendir(tmpdir_path);
    if (d) {
        struct dirent *e;
        char p[8192];
        while ((e = readdir(d)) != NULL) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                continue;
            snprintf(p, sizeof p, "%s/%s", tmpdir_path, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(tmpdir_path);
    tmpdir_path[0] = 0;
}

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

/* ---------- the command ---------- */

static void broadcast_verdict(int ok, char *why, size_t n, MPI_Comm comm)
{
    MKT_MPI(MPI_Bcast(&ok, 1, MPI_INT, 0, comm));
    if (!ok) {
        MKT_MPI(MPI_Bcast(why, (int)n, MPI_CHAR, 0, comm));
        mkt_fail_all(MKT_EXIT_ERROR, "%s", why);
    }
}

/* Collective: rank 0 reads the scores of configurations [from, to), prints
 * one line each and keeps the best; an unreadable score ends the job. */
typedef struct {
    const search *s;
    tune_score *score;
    int64_t best;
    int warned;
} tune_progress;

static void report(tune_progress *tp, int64_t from, int64_t to, MPI_Comm comm)
{
    int rank, ok = 1;
    char why[16384] = "", err[8192], path[4200], what[2048];
    MKT_MPI(MPI_Comm_rank(comm, &rank));
    const search *s = tp->s;
    tune_score *sc = tp->score;
    for (int64_t j = from; rank == 0 && j < to; j++) {
        cfg_path(s, j, "json", path, sizeof path);
        describe(s, j, what, sizeof what);
        if (score_of(path, s->model->name, &sc[j], err, sizeof err) != 0) {
            ok = 0;
            snprintf(why, sizeof why, "tune %s: configuration %lld/%lld (%s): %s", s->model->name,
                     (long long)(j + 1), (long long)s->n, what, err);
            break;
        }
        if (j > 0 && (strcmp(sc[j].metric, sc[0].metric) != 0 || strcmp(sc[j].goal, sc[0].goal) != 0)) {
            ok = 0;
            snprintf(why, sizeof why,
                     "tune %s: configuration %lld reports %s (%s) but configuration 1 %s (%s): the configurations "
                     "cannot be ranked together",
                     s->model->name, (long long)(j + 1), sc[j].metric, sc[j].goal, sc[0].metric, sc[0].goal);
            break;
        }
        if (sc[j].fallback && !tp->warned++)
            mkt_log("tune",
                    "warning: mkt train %s reports no \"selection\" metric on validation rows; ranking by the "
                    "held-out %s, the rows its test metrics use (the best value is optimistic)",
                    s->model->name, sc[j].metric);
        if (!isnan(sc[j].value) && (tp->best < 0 || better(&sc[j], &sc[tp->best])))
            tp->best = j;
        mkt_log("tune", "config %lld/%lld %s: %s %.6g%s", (long long)(j + 1), (long long)s->n, what, sc[j].metric,
                sc[j].value, tp->best == j ? " (best so far)" : "");
    }
    broadcast_verdict(ok, why, sizeof why, comm);
}

static int run_tune(void *p, MPI_Comm comm)
{
    tune_cli *o = p;
    int rank, nranks;
    MKT_MPI(MPI_Comm_rank(comm, &rank));
    MKT_MPI(MPI_Comm_size(comm, &nranks));
    double t_start = mkt_now();

    /* the model and its train command */
    if (!o->model)
        mkt_fail_all(MKT_EXIT_USAGE, "tune: the model is missing: mkt tune mf|propensity|uplift (key model)");
    const tune_model *m = NULL;
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++)
        if (!strcmp(models[i].name, o->model))
            m = &models[i];
    if (!m)
        mkt_fail_all(MKT_EXIT_USAGE, "tune: model: '%s' is not mf, propensity or uplift", o->model);
    const mkt_command *c = mkt_command_find(m->command);
    if (!c || !c->opts || !c->run)
        mkt_fail_all(MKT_EXIT_NOT_BUILT, "tune %s: mkt train %s is not built in this version of mkt", m->name,
                     m->name);
    if (!o->store)
        mkt_fail_all(MKT_EXIT_USAGE, "tune %s: --store STORE.h5 is required", m->name);
    if (!o->table)
        mkt_fail_all(MKT_EXIT_USAGE, "tune %s: --table TABLE.json is required", m->name);
    if (!o->best)
        mkt_fail_all(MKT_EXIT_USAGE, "tune %s: --best BEST.ini is required", m->name);
    if (nranks % o->group_size != 0)
        mkt_fail_all(MKT_EXIT_USAGE, "tune %s: group-size: %lld does not divide the %d ranks", m->name,
                     (long long)o->group_size, nranks);
    int ngroups = nranks / (int)o->group_size;

    /* the grid: keys are options of the train command */
    char err[4096];
    mkt_grid g;
    if (mkt_grid_parse(o->grid, &g, err, sizeof err) != 0)
        mkt_fail_all(MKT_EXIT_USAGE, "tune %s: grid: %s", m->name, err);
    search s;
    memset(&s, 0, sizeof s);
    s.model = m;
    s.cmd = c;
    s.store = o->store;
    s.naxes = g.naxes;
    s.axis_opt = mkt_xcalloc((size_t)g.naxes, sizeof(mkt_opt *));
    s.axis_name = mkt_xcalloc((size_t)g.naxes, sizeof *s.axis_name);
    int *integer = mkt_xcalloc((size_t)g.naxes, sizeof(int));
    for (int a = 0; a < g.naxes; a++) {
        const mkt_opt *opt = mkt_opts_find(c->opts, g.axes[a].key);
        if (!opt) {
            char keys[2048];
            tunable_keys(m, c->opts, keys, sizeof keys);
            mkt_fail_all(MKT_EXIT_USAGE, "tune %s: grid: unknown key '%s' (options of mkt train %s: %s)", m->name,
                         g.axes[a].key, m->name, keys);
        }
        char nm[64];
        mkt_opt_spelling(opt, g.axes[a].key, nm, sizeof nm);
        if (in_list(m->reserved, nm))
            mkt_fail_all(MKT_EXIT_USAGE, "tune %s: grid: '%s' is set by mkt tune for each configuration; it cannot "
                         "be tuned", m->name, nm);
        if (in_list(m->not_tuned, nm))
            mkt_fail_all(MKT_EXIT_USAGE, "tune %s: grid: '%s' changes the metric the configurations are ranked by; "
                         "tune each setting separately (give it with the fixed options)", m->name, nm);
        if (ngroups > 1 && in_list(m->features, nm))
            mkt_fail_all(MKT_EXIT_USAGE, "tune %s: grid: '%s' changes the features written into the store, which "
                         "groups running at once would overwrite: use --group-size %d (one group)", m->name,
                         nm, nranks);
        for (int b = 0; b < a; b++)
            if (s.axis_opt[b] == opt)
                mkt_fail_all(MKT_EXIT_USAGE, "tune %s: grid: '%s' appears twice", m->name, nm);
        if (g.axes[a].kind != MKT_AXIS_LIST && opt->type != MKT_OPT_INT && opt->type != MKT_OPT_I32 &&
            opt->type != MKT_OPT_U64 && opt->type != MKT_OPT_DOUBLE &&
            !in_list(m->numeric_text, nm))
            mkt_fail_all(MKT_EXIT_USAGE, "tune %s: grid: %s is not a number; ranges apply to numeric options",
                         m->name, nm);
        s.axis_opt[a] = opt;
        snprintf(s.axis_name[a], sizeof s.axis_name[a], "%s", nm);
        integer[a] = opt->type == MKT_OPT_INT || opt->type == MKT_OPT_I32 || opt->type == MKT_OPT_U64;
    }
    if (fixed_pairs(o->fixed, c->opts, m, &s.fixed, &s.nfixed, err, sizeof err) != 0)
        mkt_fail_all(MKT_EXIT_USAGE, "tune %s: fixed options: %s", m->name, err);
    for (int k = 0; k < s.nfixed; k++)
        for (int a = 0; a < s.naxes; a++)
            if (s.fixed[k].opt == s.axis_opt[a])
                mkt_fail_all(MKT_EXIT_USAGE, "tune %s: '%s' is both in the grid and in the fixed options", m->name,
                             s.axis_name[a]);
    if (mkt_grid_configs(&g, o->random, (uint64_t)o->seed, integer, &s.configs, &s.n, err, sizeof err) != 0)
        mkt_fail_all(MKT_EXIT_USAGE, "tune %s: grid: %s", m->name, err);
    if (o->random > s.n)
        mkt_log("tune", "warning: random %lld is more than the %lld configurations of the grid: running them all",
                (long long)o->random, (long long)s.n);

    /* every configuration's argument list parses, on every rank, before any runs */
    s.tmpdir = "TMP";
    for (int64_t j = 0; j < s.n; j++) {
        arglist a = args_of(&s, j, "x.h5", "x.json");
        void *v = parse_args(c, &a, err, sizeof err);
        if (!v) {
            char what[2048];
            describe(&s, j, what, sizeof what);
            mkt_fail_all(MKT_EXIT_USAGE, "tune %s: configuration %lld/%lld (%s): %s", m->name, (long long)(j + 1),
                         (long long)s.n, what, err);
        }
        free(v);
        args_free(&a);
    }

    /* the store exists; the temporary directory beside the table */
    int ok = 1;
    char why[8192] = "", tmpdir[4096] = "";
    if (rank == 0) {
        if (!mkt_h5_check(o->store, why, sizeof why))
            ok = 0;
        else {
            const char *slash = strrchr(o->table, '/');
            snprintf(tmpdir, sizeof tmpdir, "%.*s.mkt-tune-XXXXXX", slash ? (int)(slash - o->table + 1) : 0,
                     o->table);
            if (!mkdtemp(tmpdir)) {
                ok = 0;
                snprintf(why, sizeof why, "tune: cannot create a temporary directory %s: %s", tmpdir,
                         strerror(errno));
            } else {
                snprintf(tmpdir_path, sizeof tmpdir_path, "%s", tmpdir);
                static int registered;
                if (!registered++)
                    atexit(remove_tmpdir);
            }
        }
    }
    broadcast_verdict(ok, why, sizeof why, comm);
    MKT_MPI(MPI_Bcast(tmpdir, sizeof tmpdir, MPI_CHAR, 0, comm));
    s.tmpdir = tmpdir;
    snprintf(tmpdir_path, sizeof tmpdir_path, "%s", tmpdir);

    mkt_log("tune", "%s: %lld configurations (%s) on %d group%s of %lld rank%s", m->command, (long long)s.n,
            o->random ? "random search" : "grid", ngroups, ngroups > 1 ? "s" : "", (long long)o->group_size,
            o->group_size > 1 ? "s" : "");
    int color = rank / (int)o->group_size, grank;
    MPI_Comm group;
    MKT_MPI(MPI_Comm_split(comm, color, rank, &group));
    MKT_MPI(MPI_Comm_rank(group, &grank));

    tune_score *score = mkt_xcalloc((size_t)s.n, sizeof(tune_score));
    double *seconds = mkt_xcalloc((size_t)s.n, sizeof(double));
    int *group_of = mkt_xcalloc((size_t)s.n, sizeof(int));
    tune_progress tp = {&s, score, -1, 0};
    int64_t next = 0;
    int status = MKT_EXIT_OK;
    /* propensity writes the features at the cutoff into the store the first
     * time: the first configuration runs alone, on every rank */
    if (!strcmp(m->name, "propensity") && ngroups > 1 && s.n > 0) {
        status = run_config(&s, 0, NULL, NULL, 1, comm, &seconds[0]);
        group_of[0] = -1;
        next = 1;
        if (status == MKT_EXIT_OK)
            report(&tp, 0, 1, comm);
    }
    double *secs = mkt_xcalloc((size_t)ngroups, sizeof(double));
    int *rcs = mkt_xcalloc((size_t)ngroups, sizeof(int));
    for (int64_t r0 = next; status == MKT_EXIT_OK && r0 < s.n; r0 += ngroups) {
        int64_t j = r0 + color, r1 = r0 + ngroups < s.n ? r0 + ngroups : s.n;
        memset(secs, 0, sizeof(double) * (size_t)ngroups);
        memset(rcs, 0, sizeof(int) * (size_t)ngroups);
        if (j < s.n) {
            double t;
            int rc = run_config(&s, j, NULL, NULL, 1, group, &t);
            if (grank == 0) {
                secs[color] = t;
                rcs[color] = rc;
            }
        }
        MKT_MPI(MPI_Allreduce(MPI_IN_PLACE, secs, ngroups, MPI_DOUBLE, MPI_SUM, comm));
        MKT_MPI(MPI_Allreduce(MPI_IN_PLACE, rcs, ngroups, MPI_INT, MPI_MAX, comm));
        for (int64_t k = r0; k < r1; k++) {
            seconds[k] = secs[k - r0];
            group_of[k] = (int)(k - r0);
            if (rcs[k - r0] != 0 && status == MKT_EXIT_OK) {
                status = rcs[k - r0];
                mkt_log("tune", "configuration %lld/%lld stopped with status %d", (long long)(k + 1),
                        (long long)s.n, status);
            }
        }
        if (status == MKT_EXIT_OK)
            report(&tp, r0, r1, comm);
    }
    free(secs);
    free(rcs);
    MKT_MPI(MPI_Comm_free(&group));
    if (status != MKT_EXIT_OK) {
        if (rank == 0)
            remove_tmpdir();
        return status;
    }
    int64_t best = tp.best;

    /* the table and the best configuration */
    if (rank == 0 && ok) {
        if (best < 0) {
            ok = 0;
            snprintf(why, sizeof why, "tune %s: no configuration has a value of %s", m->name, score[0].metric);
        }
    }
    broadcast_verdict(ok, why, sizeof why, comm);
    if (rank == 0) {
        json_t *t = json_object();
        json_object_set_new(t, "model", json_string(m->name));
        json_object_set_new(t, "command", json_string(m->command));
        json_object_set_new(t, "search", json_string(o->random ? "random" : "grid"));
        json_object_set_new(t, "grid", json_string(o->grid));
        if (o->random) {
            json_object_set_new(t, "random", json_integer(o->random));
            json_object_set_new(t, "seed", json_integer(o->seed));
        }
        json_t *fx = json_object();
        for (int k = 0; k < s.nfixed; k++)
            json_object_set_new(fx, s.fixed[k].name, typed(s.fixed[k].opt, s.fixed[k].value));
        json_object_set_new(t, "fixed", fx);
        json_object_set_new(t, "metric", json_string(score[best].metric));
        json_object_set_new(t, "goal", json_string(score[best].goal));
        json_object_set_new(t, "split", json_string(score[best].split));
        json_object_set_new(t, "configurations", json_integer(s.n));
        json_t *b = json_object();
        json_object_set_new(b, "config", json_integer(best + 1));
        json_object_set_new(b, "params", params_json(&s, best));
        json_object_set_new(b, "value", json_real(score[best].value));
        json_object_set_new(t, "best", b);
        json_t *rows = json_array();
        for (int64_t j = 0; j < s.n; j++) {
            json_t *r = json_object();
            json_object_set_new(r, "config", json_integer(j + 1));
            json_object_set_new(r, "params", params_json(&s, j));
            json_object_set_new(r, "metric", json_string(score[j].metric));
            json_object_set_new(r, "goal", json_string(score[j].goal));
            json_object_set_new(r, "split", json_string(score[j].split));
            json_object_set_new(r, "value", isnan(score[j].value) ? json_null() : json_real(score[j].value));
            json_object_set_new(r, "seconds", json_real(seconds[j]));
            json_object_set_new(r, "group", json_integer(group_of[j]));
            json_array_append_new(rows, r);
        }
        json_object_set_new(t, "rows", rows);
        char *text = json_dumps(t, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        json_decref(t);
        size_t tl = strlen(text);
        text = mkt_xrealloc(text, tl + 2);
        memcpy(text + tl, "\n", 2);
        if (write_atomic(o->table, text, why, sizeof why) != 0)
            ok = 0;
        free(text);
        /* the best configuration as a job-file section: the fixed options, then the tuned ones */
        size_t cap = 65536, len = 0;
        char *ini = mkt_xmalloc(cap);
        char what[2048];
        describe(&s, best, what, sizeof what);
        len += (size_t)snprintf(ini + len, cap - len,
                                "; mkt tune %s: best of %lld configurations by %s (%s, %s split) = %.17g\n"
                                "; table: %s\n[%s]\n",
                                m->name, (long long)s.n, score[best].metric, score[best].goal, score[best].split,
                                score[best].value, o->table, m->command);
        for (int k = 0; k < s.nfixed && len < cap; k++) {
            char *key = key_of(s.fixed[k].name);
            len += (size_t)snprintf(ini + len, cap - len, "%s = %s\n", key, s.fixed[k].value);
            free(key);
        }
        for (int a = 0; a < s.naxes && len < cap; a++) {
            char *key = key_of(s.axis_name[a]);
            len += (size_t)snprintf(ini + len, cap - len, "%s = %s\n", key, s.configs[best * s.naxes + a]);
            free(key);
        }
        if (ok && len >= cap) {
            ok = 0;
            snprintf(why, sizeof why, "tune %s: the best configuration is too long to write", m->name);
        }
        if (ok && write_atomic(o->best, ini, why, sizeof why) != 0)
            ok = 0;
        free(ini);
        if (ok)
            mkt_log("tune", "best: config %lld/%lld %s: %s %.6g; wrote %s and %s", (long long)(best + 1),
                    (long long)s.n, what, score[best].metric, score[best].value, o->table, o->best);
    }
    broadcast_verdict(ok, why, sizeof why, comm);
    MKT_MPI(MPI_Bcast(&best, 1, MPI_INT64_T, 0, comm));

    /* the final model: the best configuration on every rank */
    double final_seconds = 0;
    char final_metrics[4200];
    snprintf(final_metrics, sizeof final_metrics, "%s/final.json", tmpdir);
    if (o->final_out) {
        char what[2048];
        describe(&s, best, what, sizeof what);
        mkt_log("tune", "training the best configuration (%s) on %d ranks into %s", what, nranks, o->final_out);
        int rc = run_config(&s, best, o->final_out, final_metrics, 0, comm, &final_seconds);
        if (rc != 0) {
            if (rank == 0)
                remove_tmpdir();
            return rc;
        }
    }

    json_t *mj = mkt_metrics_new("tune");
    if (rank == 0) {
        mkt_metrics_set_str(mj, "model", m->name);
        mkt_metrics_set_int(mj, "configurations", s.n);
        mkt_metrics_set_int(mj, "group_size", o->group_size);
        mkt_metrics_set_int(mj, "groups", ngroups);
        mkt_metrics_set_str(mj, "table", o->table);
        mkt_metrics_set_str(mj, "best_file", o->best);
        mkt_metrics_set_int(mj, "best_config", best + 1);
        mkt_metrics_set_str(mj, "metric", score[best].metric);
        mkt_metrics_set_str(mj, "split", score[best].split);
        mkt_metrics_set_real(mj, "best_value", score[best].value);
        mkt_metrics_set_int(mj, "fallback_metric", score[best].fallback);
        double total = 0;
        for (int64_t j = 0; j < s.n; j++)
            total += seconds[j];
        mkt_metrics_set_real(mj, "config_seconds_sum", total);
        if (o->final_out) {
            mkt_metrics_set_str(mj, "final_out", o->final_out);
            mkt_metrics_set_real(mj, "final_seconds", final_seconds);
            json_error_t je;
            json_t *fm = json_load_file(final_metrics, 0, &je);
            if (fm)
                json_object_set_new(mj, "final", fm);
        }
        mkt_metrics_set_real(mj, "seconds", mkt_now() - t_start);
    }
    mkt_metrics_write(mj, o->metrics_out, comm);
    json_decref(mj);
    MKT_MPI(MPI_Barrier(comm));
    if (rank == 0)
        remove_tmpdir();
    tmpdir_path[0] = 0;

    mkt_grid_free_configs(s.configs, s.n, s.naxes);
    mkt_grid_free(&g);
    for (int k = 0; k < s.nfixed; k++)
        free(s.fixed[k].value);
    free(s.fixed);
    free(s.axis_opt);
    free(s.axis_name);
    free(integer);
    free(score);
    free(seconds);
    free(group_of);
    return MKT_EXIT_OK;
}

const mkt_command mkt_cmd_tune = {
    .name = "tune",
    .usage = "mkt tune mf|propensity|uplift --store S --grid \"lambda=0.01,0.05;factors=8,32\" [--random N --seed X] "
             "[--group-size g] --table tune.json --best best.ini [--final-out MODEL.h5] [-- fixed train options]",
    .description = "Hyper-parameter search over the options of `mkt train MODEL`: every configuration of the grid (or N drawn "
                   "from it) is trained on a group of ranks, groups running in parallel, and ranked by its metric; writes the "
                   "table, the best configuration as a [train_MODEL] job-file section, and optionally the best model trained on "
                   "all ranks (docs/tune.md).",
    .opts = tune_opts,
    .values = &tune_values,
    .values_size = sizeof tune_values,
    .run = run_tune,
};
