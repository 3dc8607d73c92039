/* ls_config.c — defaults and check of the least-squares config (see
 * ls_config.h).  Pure code: no MPI, no files. */
#include "ls_config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

void mkt_ls_config_defaults(mkt_ls_config *c)
{
    c->method = "gels";
    c->lambda = 0;
    c->block = 64;
}

const char *mkt_ls_check_config(const mkt_ls_config *c)
{
    static _Thread_local char message[200];
    if (!c->method || (strcmp(c->method, "gels") != 0 && strcmp(c->method, "normal") != 0))
        snprintf(message, sizeof message, "method: '%s' is neither gels nor normal", c->method ? c->method : "");
    else if (!(isfinite(c->lambda) && c->lambda >= 0 && c->lambda <= MKT_LS_MAX_LAMBDA))
        snprintf(message, sizeof message, "lambda must be in [0, 1e12] (got %g)", c->lambda);
    else if (c->block < 1 || c->block > MKT_LS_MAX_BLOCK)
        snprintf(message, sizeof message, "block must be in [1, %d] (got %d)", MKT_LS_MAX_BLOCK, c->block);
    else
        return NULL;
    return message;
}
