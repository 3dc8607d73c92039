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
 * every output is written under a temporary name and renamed.
 *
 * The search space (fixed options, argument lists, descriptions) and the
 * writing of the table and the best section are in cli/tune_search.c. */
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
#include "tune_search.h"

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
    arglist a = tune_args_of(s, j, out, metrics);
    void *values = tune_parse_args(s->cmd, &a, err, sizeof err);
    if (!values) /* checked on every rank before anything ran */
        mkt_fail("configuration %lld no longer parses: %s", (long long)(j + 1), err);
    tune_describe(s, j, what, sizeof what);
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
    tune_args_free(&a);
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
        tune_describe(s, j, what, sizeof what);
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

/* Everything one `mkt tune` run holds, shared by its steps. */
typedef struct {
    tune_cli *o;
    const tune_model *m;
    const mkt_command *c;
    int rank, nranks, ngroups;
    double t_start;
    mkt_grid g;
    search s;
    int *integer;         /* per axis: the option is an integer */
    char tmpdir[4096];
    tune_score *score;
    double *seconds;
    int *group_of;
    tune_progress tp;
} tune_run;

/* Collective. The model, its train command and the required options. */
static void tune_check(tune_run *r)
{
    tune_cli *o = r->o;
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
    int nranks = r->nranks;
    if (nranks % o->group_size != 0)
        mkt_fail_all(MKT_EXIT_USAGE, "tune %s: group-size: %lld does not divide the %d ranks", m->name,
                     (long long)o->group_size, nranks);
    int ngroups = nranks / (int)o->group_size;

    r->m = m;
    r->c = c;
    r->ngroups = ngroups;
}

/* Collective. The grid's axes (options of the train command), the fixed
 * options and the configurations. */
static void tune_search(tune_run *r)
{
    tune_cli *o = r->o;
    const tune_model *m = r->m;
    const mkt_command *c = r->c;
    int ngroups = r->ngroups, nranks = r->nranks;
    search *s = &r->s;
    char err[4096];
    if (mkt_grid_parse(o->grid, &r->g, err, sizeof err) != 0)
        mkt_fail_all(MKT_EXIT_USAGE, "tune %s: grid: %s", m->name, err);
    s->model = m;
    s->cmd = c;
    s->store = o->store;
    s->naxes = r->g.naxes;
    s->axis_opt = mkt_xcalloc((size_t)r->g.naxes, sizeof(mkt_opt *));
    s->axis_name = mkt_xcalloc((size_t)r->g.naxes, sizeof *s->axis_name);
    r->integer = mkt_xcalloc((size_t)r->g.naxes, sizeof(int));
    for (int a = 0; a < r->g.naxes; a++) {
        const mkt_opt *opt = mkt_opts_find(c->opts, r->g.axes[a].key);
        if (!opt) {
            char keys[2048];
            tune_tunable_keys(m, c->opts, keys, sizeof keys);
            mkt_fail_all(MKT_EXIT_USAGE, "tune %s: grid: unknown key '%s' (options of mkt train %s: %s)", m->name,
                         r->g.axes[a].key, m->name, keys);
        }
        char nm[64];
        mkt_opt_spelling(opt, r->g.axes[a].key, nm, sizeof nm);
        if (tune_in_list(m->reserved, nm))
            mkt_fail_all(MKT_EXIT_USAGE, "tune %s: grid: '%s' is set by mkt tune for each configuration; it cannot "
                         "be tuned", m->name, nm);
        if (tune_in_list(m->not_tuned, nm))
            mkt_fail_all(MKT_EXIT_USAGE, "tune %s: grid: '%s' changes the metric the configurations are ranked by; "
                         "tune each setting separately (give it with the fixed options)", m->name, nm);
        if (ngroups > 1 && tune_in_list(m->features, nm))
            mkt_fail_all(MKT_EXIT_USAGE, "tune %s: grid: '%s' changes the features written into the store, which "
                         "groups running at once would overwrite: use --group-size %d (one group)", m->name,
                         nm, nranks);
        for (int b = 0; b < a; b++)
            if (s->axis_opt[b] == opt)
                mkt_fail_all(MKT_EXIT_USAGE, "tune %s: grid: '%s' appears twice", m->name, nm);
        if (r->g.axes[a].kind != MKT_AXIS_LIST && opt->type != MKT_OPT_INT && opt->type != MKT_OPT_I32 &&
            opt->type != MKT_OPT_U64 && opt->type != MKT_OPT_DOUBLE &&
            !tune_in_list(m->numeric_text, nm))
            mkt_fail_all(MKT_EXIT_USAGE, "tune %s: grid: %s is not a number; ranges apply to numeric options",
                         m->name, nm);
        s->axis_opt[a] = opt;
        snprintf(s->axis_name[a], sizeof s->axis_name[a], "%s", nm);
        r->integer[a] = opt->type == MKT_OPT_INT || opt->type == MKT_OPT_I32 || opt->type == MKT_OPT_U64;
    }
    if (tune_fixed_pairs(o->fixed, c->opts, m, &s->fixed, &s->nfixed, err, sizeof err) != 0)
        mkt_fail_all(MKT_EXIT_USAGE, "tune %s: fixed options: %s", m->name, err);
    for (int k = 0; k < s->nfixed; k++)
        for (int a = 0; a < s->naxes; a++)
            if (s->fixed[k].opt == s->axis_opt[a])
                mkt_fail_all(MKT_EXIT_USAGE, "tune %s: '%s' is both in the grid and in the fixed options", m->name,
                             s->axis_name[a]);
    if (mkt_grid_configs(&r->g, o->random, (uint64_t)o->seed, r->integer, &s->configs, &s->n, err, sizeof err) != 0)
        mkt_fail_all(MKT_EXIT_USAGE, "tune %s: grid: %s", m->name, err);
    if (o->random > s->n)
        mkt_log("tune", "warning: random %lld is more than the %lld configurations of the grid: running them all",
                (long long)o->random, (long long)s->n);

}

/* Collective. Every configuration's argument list parses, on every rank,
 * before any runs. */
static void tune_parse_all(tune_run *r)
{
    const tune_model *m = r->m;
    const mkt_command *c = r->c;
    search *s = &r->s;
    char err[4096];
    s->tmpdir = "TMP";
    for (int64_t j = 0; j < s->n; j++) {
        arglist a = tune_args_of(s, j, "x.h5", "x.json");
        void *v = tune_parse_args(c, &a, err, sizeof err);
        if (!v) {
            char what[2048];
            tune_describe(s, j, what, sizeof what);
            mkt_fail_all(MKT_EXIT_USAGE, "tune %s: configuration %lld/%lld (%s): %s", m->name, (long long)(j + 1),
                         (long long)s->n, what, err);
        }
        free(v);
        tune_args_free(&a);
    }

}

/* Collective. The store exists; the temporary directory beside the table. */
static void tune_tmpdir(tune_run *r, MPI_Comm comm)
{
    tune_cli *o = r->o;
    search *s = &r->s;
    int ok = 1;
    char why[8192] = "", *tmpdir = r->tmpdir;
    if (r->rank == 0) {
        if (!mkt_h5_check(o->store, why, sizeof why))
            ok = 0;
        else {
            const char *slash = strrchr(o->table, '/');
            snprintf(tmpdir, sizeof r->tmpdir, "%.*s->mkt-tune-XXXXXX", slash ? (int)(slash - o->table + 1) : 0,
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
    MKT_MPI(MPI_Bcast(tmpdir, (int)sizeof r->tmpdir, MPI_CHAR, 0, comm));
    s->tmpdir = tmpdir;
    snprintf(tmpdir_path, sizeof tmpdir_path, "%s", tmpdir);

}

/* Collective. Every configuration, on groups of ranks running at once;
 * returns the first non-zero status of a configuration, else 0. */
static int tune_run_all(tune_run *r, MPI_Comm comm)
{
    tune_cli *o = r->o;
    const tune_model *m = r->m;
    search *s = &r->s;
    int ngroups = r->ngroups;
    mkt_log("tune", "%s: %lld configurations (%s) on %d group%s of %lld rank%s", m->command, (long long)s->n,
            o->random ? "random search" : "grid", ngroups, ngroups > 1 ? "s" : "", (long long)o->group_size,
            o->group_size > 1 ? "s" : "");
    int color = r->rank / (int)o->group_size, grank;
    MPI_Comm group;
    MKT_MPI(MPI_Comm_split(comm, color, r->rank, &group));
    MKT_MPI(MPI_Comm_rank(group, &grank));

    tune_score *score = r->score = mkt_xcalloc((size_t)s->n, sizeof(tune_score));
    double *seconds = r->seconds = mkt_xcalloc((size_t)s->n, sizeof(double));
    int *group_of = r->group_of = mkt_xcalloc((size_t)s->n, sizeof(int));
    r->tp = (tune_progress){s, score, -1, 0};
    int64_t next = 0;
    int status = MKT_EXIT_OK;
    /* propensity writes the features at the cutoff into the store the first
     * time: the first configuration runs alone, on every rank */
    if (!strcmp(m->name, "propensity") && ngroups > 1 && s->n > 0) {
        status = run_config(s, 0, NULL, NULL, 1, comm, &seconds[0]);
        group_of[0] = -1;
        next = 1;
        if (status == MKT_EXIT_OK)
            report(&r->tp, 0, 1, comm);
    }
    double *secs = mkt_xcalloc((size_t)ngroups, sizeof(double));
    int *rcs = mkt_xcalloc((size_t)ngroups, sizeof(int));
    for (int64_t r0 = next; status == MKT_EXIT_OK && r0 < s->n; r0 += ngroups) {
        int64_t j = r0 + color, r1 = r0 + ngroups < s->n ? r0 + ngroups : s->n;
        memset(secs, 0, sizeof(double) * (size_t)ngroups);
        memset(rcs, 0, sizeof(int) * (size_t)ngroups);
        if (j < s->n) {
            double t;
            int rc = run_config(s, j, NULL, NULL, 1, group, &t);
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
                        (long long)s->n, status);
            }
        }
        if (status == MKT_EXIT_OK)
            report(&r->tp, r0, r1, comm);
    }
    free(secs);
    free(rcs);
    MKT_MPI(MPI_Comm_free(&group));
    return status;
}

/* Collective. Rank 0 writes the table and the best configuration as a
 * job-file section; returns the best configuration's index on every rank. */
static int64_t tune_write(tune_run *r, MPI_Comm comm)
{
    tune_cli *o = r->o;
    const tune_model *m = r->m;
    search *s = &r->s;
    int64_t best = r->tp.best;
    int ok = 1;
    char why[8192] = "";
    if (r->rank == 0 && ok) {
        if (best < 0) {
            ok = 0;
            snprintf(why, sizeof why, "tune %s: no configuration has a value of %s", m->name, r->score[0].metric);
        }
    }
    broadcast_verdict(ok, why, sizeof why, comm);
    if (r->rank == 0) {
        ok = tune_write_table(o->table, s, o->grid, o->random, o->seed, r->score, r->seconds, r->group_of, best, why,
                              sizeof why) == 0;
        ok = ok && tune_write_best(o->best, o->table, s, r->score, best, why, sizeof why) == 0;
        char what[2048];
        tune_describe(s, best, what, sizeof what);
        if (ok)
            mkt_log("tune", "best: config %lld/%lld %s: %s %.6g; wrote %s and %s", (long long)(best + 1),
                    (long long)s->n, what, r->score[best].metric, r->score[best].value, o->table, o->best);
    }
    broadcast_verdict(ok, why, sizeof why, comm);
    MKT_MPI(MPI_Bcast(&best, 1, MPI_INT64_T, 0, comm));

    return best;
}

/* Collective. With --final-out, the best configuration trained on every
 * rank; then the stage's metrics.  Returns an exit status. */
static int tune_final(tune_run *r, int64_t best, MPI_Comm comm)
{
    tune_cli *o = r->o;
    const tune_model *m = r->m;
    search *s = &r->s;
    double final_seconds = 0;
    char final_metrics[4200];
    snprintf(final_metrics, sizeof final_metrics, "%s/final.json", r->tmpdir);
    if (o->final_out) {
        char what[2048];
        tune_describe(s, best, what, sizeof what);
        mkt_log("tune", "training the best configuration (%s) on %d ranks into %s", what, r->nranks, o->final_out);
        int rc = run_config(s, best, o->final_out, final_metrics, 0, comm, &final_seconds);
        if (rc != 0)
            return rc;
    }

    json_t *mj = mkt_metrics_new("tune");
    if (r->rank == 0) {
        mkt_metrics_set_str(mj, "model", m->name);
        mkt_metrics_set_int(mj, "configurations", s->n);
        mkt_metrics_set_int(mj, "group_size", o->group_size);
        mkt_metrics_set_int(mj, "groups", r->ngroups);
        mkt_metrics_set_str(mj, "table", o->table);
        mkt_metrics_set_str(mj, "best_file", o->best);
        mkt_metrics_set_int(mj, "best_config", best + 1);
        mkt_metrics_set_str(mj, "metric", r->score[best].metric);
        mkt_metrics_set_str(mj, "split", r->score[best].split);
        mkt_metrics_set_real(mj, "best_value", r->score[best].value);
        mkt_metrics_set_int(mj, "fallback_metric", r->score[best].fallback);
        double total = 0;
        for (int64_t j = 0; j < s->n; j++)
            total += r->seconds[j];
        mkt_metrics_set_real(mj, "config_seconds_sum", total);
        if (o->final_out) {
            mkt_metrics_set_str(mj, "final_out", o->final_out);
            mkt_metrics_set_real(mj, "final_seconds", final_seconds);
            json_error_t je;
            json_t *fm = json_load_file(final_metrics, 0, &je);
            if (fm)
                json_object_set_new(mj, "final", fm);
        }
        mkt_metrics_set_real(mj, "seconds", mkt_now() - r->t_start);
    }
    mkt_metrics_write(mj, o->metrics_out, comm);
    json_decref(mj);

    return MKT_EXIT_OK;
}

static void tune_free(tune_run *r)
{
    search *s = &r->s;
    mkt_grid_free_configs(s->configs, s->n, s->naxes);
    mkt_grid_free(&r->g);
    for (int k = 0; k < s->nfixed; k++)
        free(s->fixed[k].value);
    free(s->fixed);
    free(s->axis_opt);
    free(s->axis_name);
    free(r->integer);
    free(r->score);
    free(r->seconds);
    free(r->group_of);
}

static int run_tune(void *p, MPI_Comm comm)
{
    tune_run r;
    memset(&r, 0, sizeof r);
    r.o = p;
    r.t_start = mkt_now();
    MKT_MPI(MPI_Comm_rank(comm, &r.rank));
    MKT_MPI(MPI_Comm_size(comm, &r.nranks));
    tune_check(&r);
    tune_search(&r);
    tune_parse_all(&r);
    tune_tmpdir(&r, comm);
    int status = tune_run_all(&r, comm);
    if (status == MKT_EXIT_OK) {
        int64_t best = tune_write(&r, comm);
        status = tune_final(&r, best, comm);
    }
    if (status == MKT_EXIT_OK)
        MKT_MPI(MPI_Barrier(comm));
    if (r.rank == 0)
        remove_tmpdir();
    tmpdir_path[0] = 0;
    if (status == MKT_EXIT_OK)
        tune_free(&r);
    return status;
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
