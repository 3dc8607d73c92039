/* options.h — one table of options per stage, read from the command line
 * (--users 1000) and from a job file section ([gen] users = 1000).
 *
 * A stage declares its options once, as an array of mkt_opt (name, type,
 * offset into its options struct, default, help).  The same table parses
 * argv, parses the job file, prints --help and checks values, so the command
 * line and the job file can never disagree.  Errors name the option, and for
 * job files the file, line and key. */
#ifndef MKT_OPTIONS_H
#define MKT_OPTIONS_H

#include <stddef.h>
#include <stdint.h>

typedef enum { MKT_OPT_STR, MKT_OPT_INT, MKT_OPT_DOUBLE, MKT_OPT_BOOL } mkt_opt_type;

typedef struct {
    const char *name;  /* "metrics-out" on the command line, "metrics_out" in job files */
    mkt_opt_type type; /* STR: char *; INT: int64_t; DOUBLE: double; BOOL: int */
    size_t offset;
    const char *dflt;  /* NULL: no default (STR stays NULL) */
    const char *help;
    double min, max;   /* numeric bounds, checked when min < max */
} mkt_opt;

#define MKT_OPT_END {NULL, MKT_OPT_STR, 0, NULL, NULL, 0, 0}

/* Set every option to its default. */
void mkt_opts_defaults(const mkt_opt *opts, void *base);
/* Set one option from text. Returns NULL or a message (static buffer). */
const char *mkt_opts_set(const mkt_opt *opts, void *base, const char *name, const char *value);
/* Parse argv[first..argc). Positional arguments are returned in *positional
 * (count in *npositional). Returns NULL, or an error message; "help" when
 * --help was given. */
const char *mkt_opts_parse_argv(const mkt_opt *opts, void *base, int argc, char **argv, int first,
                                char ***positional, int *npositional);
void mkt_opts_print_help(const mkt_opt *opts, const char *usage, const char *description);
/* Markdown table of the options (for docs/jobs.md). */
void mkt_opts_print_markdown(const mkt_opt *opts, const char *section);

#endif
