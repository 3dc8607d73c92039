/* unit_config_check.h — for the unit tests of a config's check function:
 * expect_named(check(&bad), "field") fails the test unless the check refused
 * the config with a message that starts with the field's name;
 * expect_flag_named and expect_named_anywhere for the other message shapes. */
#ifndef MKT_UNIT_CONFIG_CHECK_H
#define MKT_UNIT_CONFIG_CHECK_H

#include <string.h>

static inline void expect_named(const char *msg, const char *field)
{
    if (!msg)
        fail_msg("a bad %s was accepted", field);
    if (strncmp(msg, field, strlen(field)) != 0)
        fail_msg("message for a bad %s does not name it: \"%s\"", field, msg);
}

/* The same for checks whose messages name the flag: "--field ...". */
static inline void expect_flag_named(const char *msg, const char *field)
{
    if (!msg)
        fail_msg("a bad %s was accepted", field);
    if (strncmp(msg, "--", 2) != 0 || strncmp(msg + 2, field, strlen(field)) != 0)
        fail_msg("message for a bad %s does not name it: \"%s\"", field, msg);
}

/* The same for messages that name the field anywhere (cross-field checks). */
static inline void expect_named_anywhere(const char *msg, const char *field)
{
    if (!msg)
        fail_msg("a bad %s was accepted", field);
    if (!strstr(msg, field))
        fail_msg("message for a bad %s does not name it: \"%s\"", field, msg);
}

#endif
