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

const mkt_command *mkt_commands(void); /* terminated by name == NULL */
const mkt_command *mkt_command_find(const char *name);

/* jobfile.c: run the stages a job file lists. Collective. */
int mkt_run_job(const char *path, MPI_Comm comm);
/* digest.c: print a digest of every dataset of an HDF5 file (rank 0). */
int mkt_digest_file(const char *path, int include_partition);

#endif
