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

/* The C type of the field each option fills: STR char *, INT int64_t, I32 int,
 * U64 uint64_t (written as a decimal integer), DOUBLE double, BOOL int (0/1),
 * TIME int64_t unix seconds (written as YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ or
 * epoch seconds). */
typedef enum { MKT_OPT_STR, MKT_OPT_INT, MKT_OPT_DOUBLE, MKT_OPT_BOOL, MKT_OPT_I32, MKT_OPT_U64, MKT_OPT_TIME } mkt_opt_type;

typedef struct {
    const char *name;  /* "metrics-out" on the command line, "metrics_out" in job files; "factors|rank":
                        * the name, then former names that are still accepted */
    mkt_opt_type type;
    size_t offset;     /* of the field in the struct the table fills (often the stage's own options) */
    const char *dflt;  /* NULL: STR stays NULL; any other type keeps the value the command's defaults
                        * function gave it (the one place of that default), which --help prints */
    const char *help;
    double min, max;   /* numeric bounds, checked when min < max */
} mkt_opt;

#define MKT_OPT_END {NULL, MKT_OPT_STR, 0, NULL, NULL, 0, 0}

/* The option that `name` names (any of its names), or NULL. */
const mkt_opt *mkt_opts_find(const mkt_opt *opts, const char *name);
/* The name of o that `given` spells (its first name when given is NULL or
 * spells none), into buf. */
const char *mkt_opt_spelling(const mkt_opt *o, const char *given, char *buf, size_t len);
/* Set every option that has a default string (dflt) to it, and STR options
 * without one to NULL; other fields keep their value. */
void mkt_opts_defaults(const mkt_opt *opts, void *base);
/* Set one option from text. Returns NULL or a message (static buffer). */
const char *mkt_opts_set(const mkt_opt *opts, void *base, const char *name, const char *value);
/* Parse argv[first..argc). Positional arguments are returned in *positional
 * (count in *npositional). Returns NULL, or an error message; "help" when
 * --help was given. */
const char *mkt_opts_parse_argv(const mkt_opt *opts, void *base, int argc, char **argv, int first,
                                char ***positional, int *npositional);
/* The default of an option as text: its dflt, else the field's value in
 * `defaults` (a struct set to the command's defaults; may be NULL), else NULL. */
const char *mkt_opts_default_text(const mkt_opt *o, const void *defaults, char *buf, size_t len);
void mkt_opts_print_help(const mkt_opt *opts, const void *defaults, const char *usage, const char *description);
/* Markdown table of the options (for docs/jobs.md). */
void mkt_opts_print_markdown(const mkt_opt *opts, const void *defaults, const char *section);

#endif
