/* cmd_mf.c — `mkt train mf` and `mkt eval mf` (being built). */
#include "cmd_mf.h"

#include <stddef.h>

#include "check.h"

mkt_train_mf_cli mkt_train_mf_values;
mkt_eval_mf_cli mkt_eval_mf_values;

const mkt_opt mkt_train_mf_opts[] = {
    {"store", MKT_OPT_STR, offsetof(mkt_train_mf_cli, store), NULL, "store to train on", 0, 0},
    {"out", MKT_OPT_STR, offsetof(mkt_train_mf_cli, out), NULL, "model file to write", 0, 0},
    {"metrics-out", MKT_OPT_STR, offsetof(mkt_train_mf_cli, metrics_out), NULL, "metrics JSON", 0, 0},
    MKT_OPT_END};
const mkt_opt mkt_eval_mf_opts[] = {
    {"store", MKT_OPT_STR, offsetof(mkt_eval_mf_cli, store), NULL, "store with the held-out data", 0, 0},
    {"model", MKT_OPT_STR, offsetof(mkt_eval_mf_cli, model), NULL, "model file", 0, 0},
    {"metrics-out", MKT_OPT_STR, offsetof(mkt_eval_mf_cli, metrics_out), NULL, "metrics JSON", 0, 0},
    MKT_OPT_END};

int mkt_train_mf_run(void *values, MPI_Comm comm)
{
    (void)values;
    (void)comm;
    mkt_fail_all(MKT_EXIT_NOT_BUILT, "train mf: not built in this version of mkt");
}

int mkt_eval_mf_run(void *values, MPI_Comm comm)
{
    (void)values;
    (void)comm;
    mkt_fail_all(MKT_EXIT_NOT_BUILT, "eval mf: not built in this version of mkt");
}
