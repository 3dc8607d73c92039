/* jobfile.c — `mkt run JOB.ini`: a whole pipeline from one INI file.
 *
 *   [job]        stages = gen, features     the stages to run, in order
 *                store = out/shop.h5        default store for every stage
 *                models = out/model.h5      default model file of train, eval and serve
 *                metrics_dir = out/metrics  each stage writes STAGE.json here
 *                ranks = 2                  optional: refuse other rank counts
 *                force, resume, ...         see job_opts below and docs/jobs.md
 *   [gen] [ingest] [features] ...           the stage's options (docs/jobs.md)
 *
 * Every rank parses the file (it is small) so every rank reaches the same
 * verdict; errors name the file, the line and the key.  Nothing runs until
 * the whole file has been checked.
 *
 * Stage skipping: a stage whose outputs are complete and newer than its
 * inputs is skipped, so a rerun (a requeued batch job) does not redo finished
 * work.  Every output a stage of `mkt run` writes into an HDF5 file (a store's
 * root group, /features, /models/NAME) gets an attribute `written_at` (unix
 * seconds) once the stage has finished; other files (CSV, metrics JSON) count
 * by their modification time.  An output is complete when it exists, carries
 * the stamp and no PATH.tmp or GROUP.tmp is left beside it (a write that was
 * interrupted).  An input's time is its stamp, else its file's modification
 * time (never earlier than the real write); the job file is an input of every
 * stage, so editing it reruns the stages.  --force or [job] force = true runs
 * everything.  Stages whose outputs are not known here (serve, query, ...)
 * always run. */
#include <errno.h>
#include <ini.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "iocheck.h"
#include "commands.h"
#include "h5store.h"
#include "par.h"
#include "schema.h"

#define STAMP "written_at"

typedef struct {
    char *section, *key, *value;
    int line;
} entry;

typedef struct {
    FILE *f;
    int line;
    entry *entries;
    int n, cap;
} parse_state;

/* [job]: read by mkt (stages ... resume) and by the Slurm scripts (max_requeue,
 * address_file), so a typo in any of them is an error here. */
typedef struct {
    char *stages, *store, *models, *metrics_dir, *name, *address_file;
    int64_t ranks, max_requeue;
    int force, resume;
} job_options;

#define J(f) offsetof(job_options, f)
static const mkt_opt job_opts[] = {
    {"stages", MKT_OPT_STR, J(stages), NULL, "comma-separated stages to run, in order (required)", 0, 0},
    {"store", MKT_OPT_STR, J(store), NULL, "default store for every stage (`out` of gen/ingest, `store` of the others)", 0, 0},
    {"models", MKT_OPT_STR, J(models), NULL, "default model file (`out` of train stages, `model` of eval, `models` of serve)", 0, 0},
    {"metrics_dir", MKT_OPT_STR, J(metrics_dir), NULL, "each stage writes its metrics to DIR/STAGE.json", 0, 0},
    {"ranks", MKT_OPT_INT, J(ranks), NULL, "refuse to run on another number of ranks (default: any)", 1, 1e9},
    {"name", MKT_OPT_STR, J(name), NULL, "a label for the job", 0, 0},
    {"force", MKT_OPT_BOOL, J(force), "0",
     "run every stage, also those whose outputs are newer than their inputs (`mkt run --force`)", 0, 0},
    {"resume", MKT_OPT_BOOL, J(resume), "0",
     "train stages continue from their checkpoints (`mkt run --resume`; slurm/*.sbatch pass it after a requeue)", 0, 0},
    {"max_requeue", MKT_OPT_INT, J(max_requeue), "3",
     "slurm/pipeline.sbatch: requeue a preempted job at most this many times", 0, 1000},
    {"address_file", MKT_OPT_STR, J(address_file), NULL,
     "slurm/serve.sbatch: write the address clients use (tcp://HOST:PORT) to this file", 0, 0},
    MKT_OPT_END};

static char *count_lines(char *str, int num, void *stream)
{
    parse_state *s = stream;
    char *r = fgets(str, num, s->f);
    if (r)
        s->line++;
    return r;
}

static int on_entry(void *user, const char *section, const char *name, const char *value)
{
    parse_state *s = user;
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 32;
        s->entries = mkt_xrealloc(s->entries, sizeof(entry) * (size_t)s->cap);
    }
    entry *e = &s->entries[s->n++];
    e->section = mkt_xstrdup(section);
    e->key = mkt_xstrdup(name);
    e->value = mkt_xstrdup(value);
    e->line = s->line;
    return 1;
}

static void mkdirs_for(const char *path, int is_dir)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    if (!is_dir) {
        char *slash = strrchr(buf, '/');
        if (!slash)
            return;
        *slash = 0;
    }
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            mkdir(buf, 0755);
            *p = '/';
        }
    if (buf[0] && mkdir(buf, 0755) != 0 && errno != EEXIST)
        mkt_fail_all(MKT_EXIT_ERROR, "cannot create directory %s: %s", buf, strerror(errno));
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = 0;
    return s;
}

/* ---------- what a stage reads and writes ---------- */

typedef struct {
    const char *file, *group; /* group NULL: the file itself, by its modification time */
} stage_obj;

typedef struct {
    stage_obj in[8], out[8];
    int nin, nout;
    int known;          /* 0: outputs not known here, the stage always runs */
    char csv[3][4096];  /* gen's CSV file names */
    char model_group[128];
} stage_io;

/* The value of a text option of a stage, NULL when unset or not an option of it. */
static const char *opt_str(const mkt_command *c, void *values, const char *name)
{
    for (const mkt_opt *o = c->opts; o->name; o++)
        if (o->type == MKT_OPT_STR && !strcmp(o->name, name))
            return *(char **)((char *)values + o->offset);
    return NULL;
}

static void io_add(stage_obj *list, int *n, const char *file, const char *group)
{
    if (file && *n < 8) {
        list[*n].file = file;
        list[*n].group = group;
        (*n)++;
    }
}

static void stage_io_of(const mkt_command *c, void *values, const char *job_path, stage_io *io)
{
    memset(io, 0, sizeof *io);
    const char *name = c->name, *store = opt_str(c, values, "store"), *out = opt_str(c, values, "out");
    int train = !strncmp(name, "train_", 6), eval = !strncmp(name, "eval_", 5);
    if (train || eval) {
        /* the group the stage writes or reads: /models/MODEL, and for
         * propensity's user_item target /models/propensity_item */
        const char *model = name + (train ? 6 : 5), *target = opt_str(c, values, "target");
        int item = !strcmp(model, "propensity") && target && !strcmp(target, "user_item");
        snprintf(io->model_group, sizeof io->model_group, MKT_MODELS "/%s%s", model, item ? "_item" : "");
    }
    io->known = 1;
    if (!strcmp(name, "gen")) {
        io_add(io->out, &io->nout, out, "/");
        const char *csv = opt_str(c, values, "csv");
        if (csv) {
            const char *files[3] = {"events.csv", "items.csv", "campaign.csv"};
            for (int i = 0; i < 3; i++) {
                snprintf(io->csv[i], sizeof io->csv[i], "%s/%s", csv, files[i]);
                io_add(io->out, &io->nout, io->csv[i], NULL);
            }
        }
    } else if (!strcmp(name, "ingest")) {
        io_add(io->in, &io->nin, opt_str(c, values, "input"), NULL);
        io_add(io->in, &io->nin, opt_str(c, values, "items"), NULL);
        io_add(io->in, &io->nin, opt_str(c, values, "campaign"), NULL);
        io_add(io->in, &io->nin, opt_str(c, values, "into"), "/");
        io_add(io->out, &io->nout, out, "/");
    } else if (!strcmp(name, "features")) {
        io_add(io->in, &io->nin, store, "/");
        io_add(io->out, &io->nout, store, opt_str(c, values, "group"));
    } else if (train) {
        io_add(io->in, &io->nin, store, strcmp(name, "train_segments") ? "/" : MKT_FEATURES);
        io_add(io->out, &io->nout, out, io->model_group);
    } else if (eval) {
        io_add(io->in, &io->nin, store, "/");
        io_add(io->in, &io->nin, opt_str(c, values, "model"), io->model_group);
        io_add(io->out, &io->nout, opt_str(c, values, "metrics-out"), NULL);
    } else if (!strcmp(name, "strategy")) {
        /* it reads whichever models the file has: the model file's time counts */
        io_add(io->in, &io->nin, store, "/");
        io_add(io->in, &io->nin, opt_str(c, values, "models"), NULL);
        io_add(io->in, &io->nin, opt_str(c, values, "truth"), NULL);
        io_add(io->out, &io->nout, out, MKT_STRATEGY);
        io_add(io->out, &io->nout, opt_str(c, values, "csv"), NULL);
    } else if (!strcmp(name, "tune")) {
        /* the final model's group is /models/MODEL (propensity's user_item
         * target writes another group: the stage then always runs) */
        const char *model = opt_str(c, values, "model"), *final_out = opt_str(c, values, "final-out");
        io_add(io->in, &io->nin, store, "/");
        io_add(io->out, &io->nout, opt_str(c, values, "table"), NULL);
        io_add(io->out, &io->nout, opt_str(c, values, "best"), NULL);
        if (model && final_out) {
            snprintf(io->model_group, sizeof io->model_group, "/models/%s", model);
            io_add(io->out, &io->nout, final_out, io->model_group);
        }
    } else {
        io->known = 0;
    }
    if (!eval)
        io_add(io->out, &io->nout, opt_str(c, values, "metrics-out"), NULL);
    io_add(io->in, &io->nin, job_path, NULL);
    if (io->nout == 0)
        io->known = 0;
}

static void describe(const stage_obj *o, char *buf, size_t n)
{
    if (o->group && strcmp(o->group, "/") != 0)
        snprintf(buf, n, "%s %s", o->file, o->group);
    else
        snprintf(buf, n, "%s", o->file);
}

/* Rank 0: when obj was last written (unix seconds), or -1 with the reason in
 * why when it is missing or, for an output, incomplete.  Reading problems
 * mean "cannot tell": the stage runs and meets them itself, so they are not
 * errors here (and no MKT_H5 call aborts the job over them). */
static double obj_time(const stage_obj *o, int output, char *why, size_t n)
{
    char what[1200], tmp[1200];
    describe(o, what, sizeof what);
    struct stat st;
    if (stat(o->file, &st) != 0) {
        snprintf(why, n, "%s is missing", o->file);
        return -1;
    }
    double mtime = (double)st.st_mtim.tv_sec + 1e-9 * (double)st.st_mtim.tv_nsec;
    snprintf(tmp, sizeof tmp, "%s.tmp", o->file);
    if (output && access(tmp, F_OK) == 0) {
        snprintf(why, n, "%s was left incomplete (%s exists)", o->file, tmp);
        return -1;
    }
    if (!o->group)
        return mtime;
    hid_t f = H5Fopen(o->file, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) {
        snprintf(why, n, "%s is not a readable HDF5 file", o->file);
        return -1;
    }
    double t = -1;
    snprintf(tmp, sizeof tmp, "%s.tmp", o->group);
    if (!mkt_h5_exists(f, o->group))
        snprintf(why, n, "%s is missing", what);
    else if (output && strcmp(o->group, "/") != 0 && mkt_h5_exists(f, tmp))
        snprintf(why, n, "%s was left incomplete (%s exists)", what, tmp);
    else if (H5Aexists_by_name(f, o->group, STAMP, H5P_DEFAULT) > 0)
        t = mkt_h5_attr_get_double(f, o->group, STAMP, -1);
    else if (output)
        snprintf(why, n, "%s was not written by mkt run", what);
    else
        t = mtime;
    H5Fclose(f);
    return t;
}

/* Rank 0: 1 when every output is complete and newer than every input; the
 * message says why the stage is skipped or run. */
static int up_to_date(const stage_io *io, char *msg, size_t n)
{
    char why[4096] = "", name[1200];
    double oldest_out = 1e300, newest_in = -1e300;
    int newest = -1;
    for (int i = 0; i < io->nout; i++) {
        double t = obj_time(&io->out[i], 1, why, sizeof why);
        if (t < 0) {
            snprintf(msg, n, "%s", why);
            return 0;
        }
        if (t < oldest_out)
            oldest_out = t;
    }
    for (int i = 0; i < io->nin; i++) {
        double t = obj_time(&io->in[i], 0, why, sizeof why);
        if (t < 0) {
            snprintf(msg, n, "input %s", why);
            return 0;
        }
        if (t > newest_in) {
            newest_in = t;
            newest = i;
        }
    }
    describe(&io->out[0], name, sizeof name);
    if (newest >= 0 && newest_in >= oldest_out) {
        char in[1200];
        describe(&io->in[newest], in, sizeof in);
        snprintf(msg, n, "%s is newer than %s", in, name);
        return 0;
    }
    size_t len = (size_t)snprintf(msg, n, "%s is newer than", name);
    for (int i = 0; i < io->nin && len < n; i++) {
        char in[1200];
        describe(&io->in[i], in, sizeof in);
        len += (size_t)snprintf(msg + len, n - len, "%s %s", i ? "," : "", in);
    }
    return 1;
}

/* Collective: stamp the HDF5 outputs of a stage that has just finished. */
static void stamp_outputs(const stage_io *io, MPI_Comm comm)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    double now = (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
    MKT_MPI(MPI_Bcast(&now, 1, MPI_DOUBLE, 0, comm));
    for (int i = 0; i < io->nout; i++) {
        if (!io->out[i].group)
            continue;
        hid_t f = mkt_h5_open(io->out[i].file, 1, comm);
        if (mkt_h5_exists(f, io->out[i].group))
            mkt_h5_attr_set_double(f, io->out[i].group, STAMP, now);
        mkt_h5_close(f);
    }
}

/* ---------- the job ---------- */

/* The entries of a job file; a syntax error ends the job naming its line. */
static void read_job_file(const char *path, parse_state *st)
{
    memset(st, 0, sizeof *st);
    st->f = fopen(path, "r");
    if (!st->f)
        mkt_fail_all(MKT_EXIT_USAGE, "cannot open job file %s: %s", path, strerror(errno));
    int err = ini_parse_stream(count_lines, st, on_entry, st);
    fclose(st->f);
    if (err > 0)
        mkt_fail_all(MKT_EXIT_USAGE, "%s:%d: syntax error (expected [section] or key = value)", path, err);
    if (err < 0)
        mkt_fail_all(MKT_EXIT_USAGE, "%s: cannot read the job file", path);
}

static void free_entries(parse_state *st)
{
    for (int i = 0; i < st->n; i++) {
        free(st->entries[i].section);
        free(st->entries[i].key);
        free(st->entries[i].value);
    }
    free(st->entries);
}

/* [job]: its keys into *job; returns the line of its stages key. */
static int job_section(const parse_state *st, const char *path, int nranks, job_options *job)
{
    mkt_opts_defaults(job_opts, job);
    int stages_line = 0;
    for (int i = 0; i < st->n; i++) {
        const entry *e = &st->entries[i];
        if (strcmp(e->section, "job") != 0)
            continue;
        const char *msg = mkt_opts_set(job_opts, job, e->key, e->value);
        if (msg && !strncmp(msg, "unknown option", 14)) {
            char keys[512];
            size_t len = 0;
            for (const mkt_opt *o = job_opts; o->name && len < sizeof keys; o++)
                len += (size_t)snprintf(keys + len, sizeof keys - len, "%s%s", o == job_opts ? "" : ", ", o->name);
            mkt_fail_all(MKT_EXIT_USAGE, "%s:%d: [job] unknown key '%s' (keys: %s)", path, e->line, e->key, keys);
        }
        if (msg)
            mkt_fail_all(MKT_EXIT_USAGE, "%s:%d: [job] %s", path, e->line, msg);
        if (!strcmp(e->key, "stages"))
            stages_line = e->line;
        if (!strcmp(e->key, "ranks") && job->ranks != nranks)
            mkt_fail_all(MKT_EXIT_USAGE, "%s:%d: [job] ranks = %lld but the job runs on %d ranks "
                         "(mpirun -np %lld)", path, e->line, (long long)job->ranks, nranks, (long long)job->ranks);
    }
    if (!job->stages)
        mkt_fail_all(MKT_EXIT_USAGE, "%s: [job] stages is missing (e.g. stages = gen, features)", path);
    return stages_line;
}

/* The stage a section or stage-list name names: a command with an option
 * table (run and digest read their own arguments: not stages). */
static const mkt_command *stage_named(const char *name)
{
    const mkt_command *c = mkt_command_find(name);
    return c && !c->main ? c : NULL;
}

/* Every section names a stage and every key is one of its options, checked
 * for sections the plan may not run too: a typo is never silent. */
static void check_sections(const parse_state *st, const char *path)
{
    for (int i = 0; i < st->n; i++) {
        const entry *e = &st->entries[i];
        if (!strcmp(e->section, "job"))
            continue;
        const mkt_command *c = stage_named(e->section);
        if (!c)
            mkt_fail_all(MKT_EXIT_USAGE, "%s:%d: unknown section [%s]", path, e->line, e->section);
        if (!c->opts)
            continue;
        void *scratch = mkt_xcalloc(1, c->values_size);
        const char *msg = mkt_opts_set(c->opts, scratch, e->key, e->value);
        free(scratch);
        if (msg && !strncmp(msg, "unknown option", 14))
            mkt_fail_all(MKT_EXIT_USAGE, "%s:%d: [%s] unknown key '%s' (mkt %s --help lists them)", path, e->line,
                         e->section, e->key, c->name);
        if (msg)
            mkt_fail_all(MKT_EXIT_USAGE, "%s:%d: [%s] %s", path, e->line, e->section, msg);
    }
}

/* The stage list of [job] stages, in order; returns its length. */
static int plan_stages(const char *stages, const char *path, int stages_line, const mkt_command **plan)
{
    int nplan = 0;
    char *list = mkt_xstrdup(stages), *save = NULL;
    for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *name = trim(tok);
        const mkt_command *c = stage_named(name);
        if (!c)
            mkt_fail_all(MKT_EXIT_USAGE, "%s:%d: [job] stages: unknown stage '%s'", path, stages_line, name);
        if (!c->opts)
            mkt_fail_all(MKT_EXIT_NOT_BUILT, "%s:%d: [job] stages: stage '%s' is not built in this version of mkt",
                         path, stages_line, name);
        if (nplan == 32)
            mkt_fail_all(MKT_EXIT_USAGE, "%s:%d: too many stages", path, stages_line);
        plan[nplan++] = c;
    }
    free(list);
    return nplan;
}

/* A planned stage's options: its defaults, the job-wide files, its section,
 * then --resume. */
static void *stage_values(const mkt_command *c, const parse_state *st, const job_options *job, const char *path,
                          int resume_flag)
{
    void *v = mkt_xcalloc(1, c->values_size);
    mkt_command_defaults(c, v);
    /* job-wide defaults first, so the section can override them */
    char buf[4096];
    int model_stage = !strncmp(c->name, "train_", 6) || !strncmp(c->name, "eval_", 5) ||
                      !strcmp(c->name, "serve") || !strcmp(c->name, "strategy");
    if (job->store) {
        if (!model_stage)
            mkt_opts_set(c->opts, v, "out", job->store);
        mkt_opts_set(c->opts, v, "store", job->store);
    }
    if (job->models) {
        if (model_stage && strcmp(c->name, "strategy") != 0)
            mkt_opts_set(c->opts, v, "out", job->models);
        if (!strncmp(c->name, "eval_", 5)) /* eval's --model is the model file */
            mkt_opts_set(c->opts, v, "model", job->models);
        mkt_opts_set(c->opts, v, "models", job->models);
    }
    if (job->metrics_dir) {
        snprintf(buf, sizeof buf, "%s/%s.json", job->metrics_dir, c->name);
        mkt_opts_set(c->opts, v, "metrics-out", mkt_xstrdup(buf));
    }
    if (job->resume) /* stages without a resume option ignore it */
        mkt_opts_set(c->opts, v, "resume", "1");
    for (int i = 0; i < st->n; i++) {
        const entry *e = &st->entries[i];
        if (strcmp(e->section, c->name) != 0)
            continue;
        const char *msg = mkt_opts_set(c->opts, v, e->key, e->value);
        if (msg) {
            if (!strncmp(msg, "unknown option", 14))
                mkt_fail_all(MKT_EXIT_USAGE, "%s:%d: [%s] unknown key '%s' (mkt %s --help lists them)", path,
                             e->line, e->section, e->key, c->name);
            mkt_fail_all(MKT_EXIT_USAGE, "%s:%d: [%s] %s", path, e->line, e->section, msg);
        }
    }
    if (resume_flag) /* mkt run --resume wins over the section */
        mkt_opts_set(c->opts, v, "resume", "1");
    return v;
}

/* Run the plan: a stage whose outputs are up to date is skipped unless
 * force.  Returns the first failing stage's status, else 0. */
static int run_plan(const mkt_command **plan, void **values, int nplan, const char *path, int force, MPI_Comm comm)
{
    double t0 = mkt_now();
    int ran = 0, skipped = 0;
    for (int p = 0; p < nplan; p++) {
        stage_io io;
        stage_io_of(plan[p], values[p], path, &io);
        char msg[8192] = "";
        int skip = 0;
        if (!force && io.known && mkt_rank() == 0)
            skip = up_to_date(&io, msg, sizeof msg);
        MKT_MPI(MPI_Bcast(&skip, 1, MPI_INT, 0, comm));
        if (skip) {
            mkt_log("run", "skip %s: %s (--force reruns it)", plan[p]->name, msg);
            skipped++;
            continue;
        }
        if (msg[0])
            mkt_log("run", "stage %d/%d: %s (%s)", p + 1, nplan, plan[p]->name, msg);
        else
            mkt_log("run", "stage %d/%d: %s", p + 1, nplan, plan[p]->name);
        int rc = plan[p]->run(values[p], comm);
        if (rc != 0) {
            mkt_log("run", "stage %s %s with status %d", plan[p]->name,
                    rc == MKT_EXIT_PREEMPTED ? "checkpointed and stopped" : "failed", rc);
            return rc;
        }
        MKT_MPI(MPI_Barrier(comm));
        if (io.known)
            stamp_outputs(&io, comm);
        ran++;
    }
    mkt_log("run", "job %s: %d stages done, %d skipped, in %.2fs", path, ran, skipped, mkt_now() - t0);
    return MKT_EXIT_OK;
}

static int mkt_run_job(const char *path, int force_flag, int resume_flag, int check_only, MPI_Comm comm)
{
    int nranks;
    MKT_MPI(MPI_Comm_size(comm, &nranks));
    parse_state st;
    read_job_file(path, &st);
    job_options job;
    int stages_line = job_section(&st, path, nranks, &job);
    check_sections(&st, path);
    const mkt_command *plan[32];
    int nplan = plan_stages(job.stages, path, stages_line, plan);
    /* fill and check every planned stage's options before running any */
    void *values[32];
    for (int p = 0; p < nplan; p++)
        values[p] = stage_values(plan[p], &st, &job, path, resume_flag);
    if (check_only) {
        mkt_log("run", "%s: %d stage%s, every key checked; nothing run", path, nplan, nplan == 1 ? "" : "s");
        for (int p = 0; p < nplan; p++)
            free(values[p]);
        free_entries(&st);
        return MKT_EXIT_OK;
    }
    if (mkt_rank() == 0) {
        if (job.store)
            mkdirs_for(job.store, 0);
        if (job.metrics_dir)
            mkdirs_for(job.metrics_dir, 1);
    }
    MKT_MPI(MPI_Barrier(comm));
    /* entries' strings are referenced by the option structs until exit */
    return run_plan(plan, values, nplan, path, force_flag || job.force, comm);
}

int mkt_job_check(const char *path, MPI_Comm comm)
{
    return mkt_run_job(path, 0, 0, 1, comm);
}

static int run_main(int argc, char **argv, MPI_Comm comm)
{
    int force = 0, resume = 0, check = 0;
    const char *path = NULL;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            if (mkt_rank() == 0)
                printf("usage: mkt run [--force] [--resume] [--check] JOB.ini\n\nRun the stages listed in the job file's [job] "
                       "stages key, each with the options of its section.\nA stage whose outputs are complete and "
                       "newer than its inputs (and the job file) is skipped;\n--force runs every stage. --resume "
                       "lets train stages continue from their checkpoints.\n--check only checks the file (sections, keys, values, the stage list) and runs nothing.\nEvery key is documented in "
                       "docs/jobs.md; `mkt run --keys` prints them all.\n");
            return MKT_EXIT_OK;
        }
        if (!strcmp(argv[i], "--keys")) {
            if (mkt_rank() == 0) {
                mkt_opts_print_markdown(job_opts, NULL, "job");
                for (int k = 0; mkt_command_at(k); k++) {
                    const mkt_command *c = mkt_command_at(k);
                    if (!c->opts)
                        continue;
                    void *d = mkt_xcalloc(1, c->values_size);
                    mkt_command_defaults(c, d);
                    mkt_opts_print_markdown(c->opts, d, c->name);
                    free(d);
                }
            }
            return MKT_EXIT_OK;
        }
        if (!strcmp(argv[i], "--force"))
            force = 1;
        else if (!strcmp(argv[i], "--resume"))
            resume = 1;
        else if (!strcmp(argv[i], "--check"))
            check = 1;
        else if (argv[i][0] == '-' && argv[i][1] == '-')
            mkt_fail_all(MKT_EXIT_USAGE, "mkt run: unknown option '%s' (usage: mkt run [--force] [--resume] [--check] JOB.ini)",
                         argv[i]);
        else if (path)
            mkt_fail_all(MKT_EXIT_USAGE, "usage: mkt run [--force] [--resume] [--check] JOB.ini (one job file)");
        else
            path = argv[i];
    }
    if (!path)
        mkt_fail_all(MKT_EXIT_USAGE, "usage: mkt run [--force] [--resume] [--check] JOB.ini");
    return mkt_run_job(path, force, resume, check, comm);
}

const mkt_command mkt_cmd_run = {
    .name = "run",
    .usage = "mkt run [--force] [--resume] [--check] JOB.ini",
    .description = "run the stages a job file lists: mkt run JOB.ini (docs/jobs.md)",
    .main = run_main,
};
