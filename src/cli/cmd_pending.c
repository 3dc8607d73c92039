/* cmd_pending.c — commands of the learning pipeline that this version does
 * not provide yet: they are listed, and say so when run (exit status 3).
 * A command moves out of this file into its own cmd_*.c when it is built. */
#include <stddef.h>

#include "commands.h"

#define PENDING(var, name, usage, what) const mkt_command var = {name, usage, what, NULL, NULL, 0, NULL};

PENDING(mkt_cmd_train_propensity, "train_propensity", "mkt train propensity --store S --out M",
        "purchase propensity (logistic regression, MLP), data-parallel")
PENDING(mkt_cmd_eval_propensity, "eval_propensity", "mkt eval propensity --store S --model M",
        "held-out metrics of a propensity model")
