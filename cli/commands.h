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
} mkt_command;

/* The i-th command, NULL past the last. */
const mkt_command *mkt_command_at(int i);
/* Commands that live in their own files (cli/cmd_*.c). Job-file section
 * and stage names are these names; `mkt train X` runs train_X. */
extern const mkt_command mkt_cmd_train_propensity, mkt_cmd_eval_propensity, mkt_cmd_train_uplift,
    mkt_cmd_eval_uplift, mkt_cmd_train_effect, mkt_cmd_train_elasticity, mkt_cmd_train_segments,
    mkt_cmd_strategy, mkt_cmd_report, mkt_cmd_tune;
const mkt_command *mkt_command_find(const char *name);

/* jobfile.c: `mkt run [--force] [--resume] JOB.ini` (argv after "run"), also
 * --help and --keys. Collective; returns the exit status. */
int mkt_run_main(int argc, char **argv, MPI_Comm comm);
/* Collective. Parse and check a job file (sections, keys, values, the stage
 * list) without running or creating anything; errors end through
 * mkt_fail_all naming file:line:key.  Returns MKT_EXIT_OK. */
int mkt_job_check(const char *path, MPI_Comm comm);
/* digest.c: print a digest of every dataset of an HDF5 file (rank 0). */
int mkt_digest_file(const char *path, int include_partition);

#endif
