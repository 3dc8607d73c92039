/* commands.h — the table of mkt subcommands (see commands.c). */
#ifndef MKT_COMMANDS_H
#define MKT_COMMANDS_H

#include <mpi.h>
#include <stddef.h>

#include "options.h"
#include "parse.h"

typedef struct {
    const char *name, *usage, *description;
    const mkt_opt *opts; /* NULL: not built in this version */
    void *values;        /* the options struct the table fills */
    size_t values_size;
    int (*run)(void *values, MPI_Comm comm); /* Collective; returns an exit status */
    /* Sets the defaults that the option table does not hold (numeric options
     * without a dflt string): the stage's own defaults function.  May be NULL. */
    void (*defaults)(void *values);
    /* Commands that read their own arguments (run, digest): argv after the
     * command's name.  Collective; returns an exit status.  NULL for the
     * rest, which the option table parses. */
    int (*main)(int argc, char **argv, MPI_Comm comm);
} mkt_command;

/* values (c->values_size bytes) zeroed, then c->defaults, then the option
 * table's default strings: the starting point of every parse. */
void mkt_command_defaults(const mkt_command *c, void *values);

/* The i-th command, NULL past the last. */
const mkt_command *mkt_command_at(int i);
/* The commands, one per file cli/cmd_NAME.c (run: jobfile.c, digest:
 * digest.c), listed once in commands.c.  Job-file section and stage names
 * are these names; `mkt train X` runs train_X. */
extern const mkt_command mkt_cmd_gen, mkt_cmd_ingest, mkt_cmd_features, mkt_cmd_train_mf, mkt_cmd_eval_mf,
    mkt_cmd_serve, mkt_cmd_query, mkt_cmd_train_propensity, mkt_cmd_eval_propensity, mkt_cmd_train_uplift,
    mkt_cmd_eval_uplift, mkt_cmd_train_effect, mkt_cmd_train_elasticity, mkt_cmd_train_segments, mkt_cmd_strategy,
    mkt_cmd_report, mkt_cmd_tune, mkt_cmd_run, mkt_cmd_digest, mkt_cmd_recommend;
const mkt_command *mkt_command_find(const char *name);

/* Collective. Parse and check a job file (sections, keys, values, the stage
 * list) without running or creating anything; errors end through
 * mkt_fail_all naming file:line:key.  Returns MKT_EXIT_OK. */
int mkt_job_check(const char *path, MPI_Comm comm);

#endif
