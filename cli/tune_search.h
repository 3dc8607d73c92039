/* tune_search.h — the search space of `mkt tune` (cli/tune_search.c): the
 * models that can be tuned as a type, the fixed options as pairs, a
 * configuration as an argument list of the train command, its description,
 * and the table and best-section files written from the scores.  It must not
 * run a configuration, talk MPI or choose the best one (cli/cmd_tune.c). */
#ifndef MKT_TUNE_SEARCH_H
#define MKT_TUNE_SEARCH_H

#include <stddef.h>
#include <stdint.h>

#include "commands.h"
#include "tune_score.h"

/* A model that can be tuned (the table is in cli/cmd_tune.c). */
typedef struct {
    const char *name, *command;
    const char *const *reserved;  /* neither in the grid nor fixed */
    const char *const *not_tuned; /* not in the grid (fixed is fine) */
    const char *const *features;  /* propensity: change the features written into the store */
    const char *const *numeric_text; /* text options that take a number (or a word such as auto): ranges allowed */
} tune_model;

/* An option of the train command as a (key, value) pair. */
typedef struct {
    const mkt_opt *opt; /* of the train command */
    char name[64];      /* its name as given (one of the option's names) */
    char *value;
} kv;

/* The search: the fixed options, the grid's axes and every configuration. */
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

typedef struct {
    char **argv;
    int argc;
} arglist;

int tune_in_list(const char *const *list, const char *name);
/* The options of the train command that can be tuned, ", "-separated. */
void tune_tunable_keys(const tune_model *m, const mkt_opt *opts, char *buf, size_t n);
/* The fixed options text ("--iters 5 --implicit") as pairs; fails naming the token. */
int tune_fixed_pairs(const char *text, const mkt_opt *opts, const tune_model *m, kv **out, int *nout, char *err,
                     size_t errlen);
/* "lambda=0.05 rank=32" */
void tune_describe(const search *s, int64_t j, char *buf, size_t n);
/* The train command's arguments of configuration j, writing to out and metrics. */
arglist tune_args_of(const search *s, int64_t j, const char *out, const char *metrics);
void tune_args_free(arglist *a);
/* Parse an argument list with the train command's table into a new values
 * struct (NULL and the message in err on failure). */
void *tune_parse_args(const mkt_command *c, arglist *a, char *err, size_t errlen);

/* Rank 0: the table JSON (one row per configuration; best is its index) at
 * path, written under a temporary name and renamed.  -1 and why on failure. */
int tune_write_table(const char *path, const search *s, const char *grid, int64_t random, int64_t seed,
                     const mkt_tune_score *score, const double *seconds, const int *group_of, int64_t best,
                     char *why, size_t n);
/* Rank 0: configuration best as a [train_MODEL] job-file section at path
 * (the fixed options, then the tuned ones), written the same way. */
int tune_write_best(const char *path, const char *table, const search *s, const mkt_tune_score *score, int64_t best,
                    char *why, size_t n);

#endif
