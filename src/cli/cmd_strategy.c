/* cmd_strategy.c — `mkt strategy`: not built yet. */
#include <stddef.h>

#include "commands.h"

const mkt_command mkt_cmd_strategy = {"strategy", "mkt strategy ...",
                                      "Write a marketing strategy for every user and predict its effect.", NULL,
                                      NULL, 0, NULL};
