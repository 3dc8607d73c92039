/* main.c — the `mkt` command: MPI start-up, subcommand dispatch, exit status.
 *
 * Every subcommand runs on all ranks of MPI_COMM_WORLD.  Exit statuses:
 * 0 ok, 1 runtime error, 2 usage error, 3 subcommand not built,
 * 75 checkpointed after SIGTERM/SIGUSR1 (see check.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iocheck.h"
#include "commands.h"
#include "par.h"

static void usage(void)
{
    printf("usage: mkt [-v] COMMAND [options]     (run under mpirun -np N for N ranks)\n\n"
           "commands:\n");
    for (int i = 0; mkt_command_at(i); i++) {
        const mkt_command *c = mkt_command_at(i);
        if (strchr(c->name, '_'))
            continue; /* train_mf and friends are listed under train and eval */
        int family = !strcmp(c->name, "train") || !strcmp(c->name, "eval");
        printf("  %-10s %s%s\n", c->name, c->opts || c->main || family ? "" : "(not built in this version) ",
               c->description);
    }
    printf("\n`mkt COMMAND --help` describes the options of a command; `mkt -v COMMAND ...` (or MKT_VERBOSE=1)\n"
           "also prints every solver iteration and checkpoint.\n");
}

/* mkt tune MODEL ... -- TRAIN OPTIONS: the words after "--" are the fixed
 * options of the train command, joined by spaces (NULL when there is no
 * "--"); *nargs becomes the position of the "--". */
static char *tune_fixed_options(int argc, char **argv, int *nargs)
{
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--") != 0)
            continue;
        *nargs = i;
        size_t n = 1;
        for (int k = i + 1; k < argc; k++) {
            if (strpbrk(argv[k], " \t\n"))
                mkt_fail_all(MKT_EXIT_USAGE, "tune: fixed option '%s' (after --) contains a space; values with "
                             "spaces cannot be passed", argv[k]);
            n += strlen(argv[k]) + 1;
        }
        char *s = mkt_xcalloc(1, n);
        for (int k = i + 1; k < argc; k++) {
            strcat(s, argv[k]);
            if (k + 1 < argc)
                strcat(s, " ");
        }
        return s;
    }
    return NULL;
}

int main(int argc, char **argv)
{
    int provided = 0;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
    mkt_check_init();
    int rank = mkt_rank();
    int status = MKT_EXIT_OK;
    /* mkt -v COMMAND ...: solver detail (every iteration, every checkpoint) */
    while (argc > 1 && (!strcmp(argv[1], "-v") || !strcmp(argv[1], "--verbose"))) {
        mkt_log_set_verbose(1);
        argv[1] = argv[0];
        argv++;
        argc--;
    }
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        if (rank == 0)
            usage();
        status = argc < 2 ? MKT_EXIT_USAGE : MKT_EXIT_OK;
    } else if (mkt_command_find(argv[1]) && mkt_command_find(argv[1])->main) {
        status = mkt_command_find(argv[1])->main(argc - 2, argv + 2, MPI_COMM_WORLD);
    } else {
        /* `mkt train mf ...` is the command train_mf (job-file section [train_mf]) */
        const mkt_command *c = NULL;
        if ((!strcmp(argv[1], "train") || !strcmp(argv[1], "eval")) && argc > 2 && argv[2][0] != '-') {
            char name[64];
            snprintf(name, sizeof name, "%s_%s", argv[1], argv[2]);
            c = mkt_command_find(name);
            if (!c)
                mkt_fail_all(MKT_EXIT_NOT_BUILT, "mkt %s %s: not built in this version of mkt (mkt --help lists what is built)", argv[1],
                             argv[2]);
            argv[2] = argv[1];
            argv++;
            argc--;
        }
        if (!c)
            c = mkt_command_find(argv[1]);
        if (!c)
            mkt_fail_all(MKT_EXIT_USAGE, "unknown command '%s' (mkt --help lists them)", argv[1]);
        if (!c->opts) {
            if (rank == 0) {
                if (argc > 2 && !strcmp(argv[2], "--help"))
                    printf("usage: %s\n\n%s\n\n", c->usage, c->description);
                if (!strcmp(c->name, "train") || !strcmp(c->name, "eval"))
                    fprintf(stderr, "usage: %s\n", c->usage);
                else
                    fprintf(stderr, "mkt %s: not built in this version of mkt (mkt --help lists what is built)\n",
                            c->name);
            }
            status = (!strcmp(c->name, "train") || !strcmp(c->name, "eval")) ? MKT_EXIT_USAGE : MKT_EXIT_NOT_BUILT;
        } else {
            mkt_command_defaults(c, c->values);
            char **pos = NULL;
            int npos = 0, nargs = argc;
            char *fixed = NULL;
            if (!strcmp(c->name, "tune"))
                fixed = tune_fixed_options(argc, argv, &nargs);
            const char *err = mkt_opts_parse_argv(c->opts, c->values, nargs, argv, 2, &pos, &npos);
            if (!err && fixed) {
                const char *given = NULL;
                for (const mkt_opt *o = c->opts; o->name; o++)
                    if (!strcmp(o->name, "fixed"))
                        given = *(char **)((char *)c->values + o->offset);
                if (given) { /* --fixed and `--` both: the words of both */
                    size_t n = strlen(given) + strlen(fixed) + 2;
                    char *both = mkt_xmalloc(n);
                    snprintf(both, n, "%s %s", given, fixed);
                    fixed = both;
                }
                mkt_opts_set(c->opts, c->values, "fixed", fixed);
            }
            if (!err && npos == 1 && !strcmp(c->name, "tune")) { /* mkt tune MODEL */
                mkt_opts_set(c->opts, c->values, "model", pos[0]);
                npos = 0;
            }
            if (err && !strcmp(err, "help")) {
                if (rank == 0) {
                    void *d = mkt_xcalloc(1, c->values_size);
                    mkt_command_defaults(c, d);
                    mkt_opts_print_help(c->opts, d, c->usage, c->description);
                    free(d);
                }
            } else if (err) {
                mkt_fail_all(MKT_EXIT_USAGE, "%s: %s", c->name, err);
            } else if (npos == 1 && mkt_opts_set(c->opts, c->values, "request", pos[0]) == NULL) {
                /* mkt query --connect ADDR 'JSON': the request as the one argument */
                status = c->run(c->values, MPI_COMM_WORLD);
            } else if (npos > 0) {
                mkt_fail_all(MKT_EXIT_USAGE, "%s: unexpected argument '%s' (see mkt %s --help)", c->name, pos[0],
                             c->name);
            } else {
                status = c->run(c->values, MPI_COMM_WORLD);
            }
        }
    }
    fflush(stdout);
    fflush(stderr);
    MPI_Finalize();
    return status;
}
