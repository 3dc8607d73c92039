/* commands.c — the one table of mkt's commands.  Each command is defined in
 * its own file (cli/cmd_NAME.c: name, usage, option table, defaults, run
 * function; run in jobfile.c, digest in digest.c) and listed here once:
 * main.c dispatches the command line to it and jobfile.c dispatches job-file
 * sections to it, so both read exactly the same options.  A command with no
 * option table and no main is a family (train, eval) or not built in this
 * version (it says so and exits with MKT_EXIT_NOT_BUILT). */
#include "commands.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>


/* train and eval: the families `mkt train MODEL` and `mkt eval MODEL` (main.c
 * runs train_MODEL); listed in the help, not runnable themselves */
static const mkt_command train_family = {
    .name = "train",
    .usage = "mkt train mf|propensity|uplift|effect|elasticity|segments [options]",
    .description = "Train a model: mf (matrix factorization), propensity, uplift, effect and elasticity (ScaLAPACK "
                   "least squares), segments (k-means). `mkt train MODEL --help` lists its options.",
};
static const mkt_command eval_family = {
    .name = "eval",
    .usage = "mkt eval mf|propensity|uplift [options]",
    .description = "Held-out metrics of a trained model: mf, propensity, uplift. `mkt eval MODEL --help` lists "
                   "its options.",
};

/* Every command, in the order `mkt --help` lists them. */
static const mkt_command *const commands[] = {
    &mkt_cmd_gen,           &mkt_cmd_ingest,          &mkt_cmd_features,        &mkt_cmd_train_mf,
    &mkt_cmd_eval_mf,       &train_family,            &eval_family,             &mkt_cmd_serve,
    &mkt_cmd_query,         &mkt_cmd_train_propensity, &mkt_cmd_eval_propensity, &mkt_cmd_train_uplift,
    &mkt_cmd_eval_uplift,   &mkt_cmd_train_effect,    &mkt_cmd_train_elasticity, &mkt_cmd_train_segments,
    &mkt_cmd_strategy,      &mkt_cmd_recommend,       &mkt_cmd_report,          &mkt_cmd_tune,            &mkt_cmd_run,
    &mkt_cmd_digest};

const mkt_command *mkt_command_at(int i)
{
    if (i < 0 || i >= (int)(sizeof commands / sizeof commands[0]))
        return NULL;
    return commands[i];
}

void mkt_command_defaults(const mkt_command *c, void *values)
{
    memset(values, 0, c->values_size);
    if (c->defaults)
        c->defaults(values);
    mkt_opts_defaults(c->opts, values);
}

const mkt_command *mkt_command_find(const char *name)
{
    for (int i = 0; mkt_command_at(i); i++)
        if (!strcmp(mkt_command_at(i)->name, name))
            return mkt_command_at(i);
    return NULL;
}
