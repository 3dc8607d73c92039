/* cmd_report.c — `mkt report`: not built yet. */
#include <stddef.h>

#include "commands.h"

const mkt_command mkt_cmd_report = {"report", "mkt report ...", "Write an HTML report with plots.", NULL, NULL, 0,
                                    NULL};
