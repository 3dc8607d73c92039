/* check_message.h — the one macro of the option checks that return NULL or
 * a message (mkt_gen_check, strat_check_config, mkt_mf_check_config,
 * mkt_propensity_check_config, mkt_uplift_check_config,
 * mkt_gateway_check_options):
 * when cond fails, format the message into buf (a char array) and return it.
 * Owns nothing else; must not print, exit or allocate. */
#ifndef MKT_CHECK_MESSAGE_H
#define MKT_CHECK_MESSAGE_H

#include <stdio.h>

#define MKT_CHECK_MSG(buf, cond, ...)                                                                                  \
    do {                                                                                                               \
        if (!(cond)) {                                                                                                 \
            snprintf(buf, sizeof buf, __VA_ARGS__);                                                                    \
            return buf;                                                                                                \
        }                                                                                                              \
    } while (0)

#endif
