/* jobfile.c — `mkt run JOB.ini`: a whole pipeline from one INI file.
 *
 *   [job]        stages = gen, features     the stages to run, in order
 *                store = out/shop.h5        default store for every stage
 *                models = out/model.h5      default model file of train, eval and serve
 *                metrics_dir = out/metrics  each stage writes STAGE.json here
 *                ranks = 2                  optional: refuse other rank counts
 *   [gen] [ingest] [features] ...           the stage's options (docs/jobs.md)
 *
 * Every rank parses the file (it is small) so every rank reaches the same
 * verdict; errors name the file, the line and the key.  Nothing runs until
 * the whole file has been checked. */
#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "commands.h"
#include "par.h"

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

int mkt_run_job(const char *path, MPI_Comm comm)
{
    int nranks;
    MKT_MPI(MPI_Comm_size(comm, &nranks));
    parse_state st;
    memset(&st, 0, sizeof st);
    st.f = fopen(path, "r");
    if (!st.f)
        mkt_fail_all(MKT_EXIT_USAGE, "cannot open job file %s: %s", path, strerror(errno));
    int err = ini_parse_stream(count_lines, &st, on_entry, &st);
    fclose(st.f);
    if (err > 0)
        mkt_fail_all(MKT_EXIT_USAGE, "%s:%d: syntax error (expected [section] or key = value)", path, err);
    if (err < 0)
        mkt_fail_all(MKT_EXIT_USAGE, "%s: cannot read the job file", path);

    /* [job] */
    char *stages = NULL, *store = NULL, *metrics_dir = NULL, *models = NULL;
    int stages_line = 0;
    for (int i = 0; i < st.n; i++) {
        entry *e = &st.entries[i];
        if (strcmp(e->section, "job") != 0)
            continue;
        if (!strcmp(e->key, "stages")) {
            stages = e->value;
            stages_line = e->line;
        } else if (!strcmp(e->key, "store"))
            store = e->value;
        else if (!strcmp(e->key, "models"))
            models = e->value;
        else if (!strcmp(e->key, "metrics_dir"))
            metrics_dir = e->value;
        else if (!strcmp(e->key, "name"))
            ;
        else if (!strcmp(e->key, "ranks")) {
            int64_t want;
            if (mkt_parse_int64(e->value, &want) != 0 || want < 1)
                mkt_fail_all(MKT_EXIT_USAGE, "%s:%d: [job] ranks: expected a positive integer, got '%s'", path,
                             e->line, e->value);
            if (want != nranks)
                mkt_fail_all(MKT_EXIT_USAGE, "%s:%d: [job] ranks = %lld but the job runs on %d ranks "
                             "(mpirun -np %lld)", path, e->line, (long long)want, nranks, (long long)want);
        } else
            mkt_fail_all(MKT_EXIT_USAGE, "%s:%d: [job] unknown key '%s' (keys: stages, store, models, metrics_dir, "
                         "ranks, name)", path, e->line, e->key);
    }
    if (!stages)
        mkt_fail_all(MKT_EXIT_USAGE, "%s: [job] stages is missing (e.g. stages = gen, features)", path);

    /* every section names a stage; every key is one of its options */
    for (int i = 0; i < st.n; i++) {
        entry *e = &st.entries[i];
        if (!strcmp(e->section, "job"))
            continue;
        const mkt_command *c = mkt_command_find(e->section);
        if (!c)
            mkt_fail_all(MKT_EXIT_USAGE, "%s:%d: unknown section [%s]", path, e->line, e->section);
        if (!c->opts)
            continue;
        /* check keys of sections the plan may not run too: a typo is never silent */
        void *scratch = mkt_xcalloc(1, c->values_size);
        const char *msg = mkt_opts_set(c->opts, scratch, e->key, e->value);
        free(scratch);
        if (msg && !strncmp(msg, "unknown option", 14))
            mkt_fail_all(MKT_EXIT_USAGE, "%s:%d: [%s] unknown key '%s' (mkt %s --help lists them)", path, e->line,
                         e->section, e->key, c->name);
        if (msg)
            mkt_fail_all(MKT_EXIT_USAGE, "%s:%d: [%s] %s", path, e->line, e->section, msg);
    }

    /* the stage list */
    const mkt_command *plan[32];
    int nplan = 0;
    char *list = mkt_xstrdup(stages), *save = NULL;
    for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *name = trim(tok);
        const mkt_command *c = mkt_command_find(name);
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

    /* fill and check every planned stage's options before running any */
    void *values[32];
    for (int p = 0; p < nplan; p++) {
        const mkt_command *c = plan[p];
        values[p] = mkt_xcalloc(1, c->values_size);
        mkt_opts_defaults(c->opts, values[p]);
        /* job-wide defaults first, so the section can override them */
        char buf[4096];
        int model_stage = !strncmp(c->name, "train_", 6) || !strncmp(c->name, "eval_", 5) ||
                          !strcmp(c->name, "serve") || !strcmp(c->name, "strategy");
        if (store) {
            if (!model_stage)
                mkt_opts_set(c->opts, values[p], "out", store);
            mkt_opts_set(c->opts, values[p], "store", store);
        }
        if (models) {
            if (model_stage && strcmp(c->name, "strategy") != 0)
                mkt_opts_set(c->opts, values[p], "out", models);
            if (!strncmp(c->name, "eval_", 5)) /* eval's --model is the model file */
                mkt_opts_set(c->opts, values[p], "model", models);
            mkt_opts_set(c->opts, values[p], "models", models);
        }
        if (metrics_dir) {
            snprintf(buf, sizeof buf, "%s/%s.json", metrics_dir, c->name);
            mkt_opts_set(c->opts, values[p], "metrics-out", mkt_xstrdup(buf));
        }
        for (int i = 0; i < st.n; i++) {
            entry *e = &st.entries[i];
            if (strcmp(e->section, c->name) != 0)
                continue;
            const char *msg = mkt_opts_set(c->opts, values[p], e->key, e->value);
            if (msg) {
                if (!strncmp(msg, "unknown option", 14))
                    mkt_fail_all(MKT_EXIT_USAGE, "%s:%d: [%s] unknown key '%s' (mkt %s --help lists them)", path,
                                 e->line, e->section, e->key, c->name);
                mkt_fail_all(MKT_EXIT_USAGE, "%s:%d: [%s] %s", path, e->line, e->section, msg);
            }
        }
    }
    if (mkt_rank() == 0) {
        if (store)
            mkdirs_for(store, 0);
        if (metrics_dir)
            mkdirs_for(metrics_dir, 1);
    }
    MKT_MPI(MPI_Barrier(comm));
    double t0 = mkt_now();
    for (int p = 0; p < nplan; p++) {
        mkt_log("run", "stage %d/%d: %s", p + 1, nplan, plan[p]->name);
        int rc = plan[p]->run(values[p], comm);
        if (rc != 0) {
            mkt_log("run", "stage %s failed with status %d", plan[p]->name, rc);
            return rc;
        }
    }
    mkt_log("run", "job %s: %d stages done in %.2fs", path, nplan, mkt_now() - t0);
    /* entries' strings are referenced by the option structs until exit */
    return MKT_EXIT_OK;
}
