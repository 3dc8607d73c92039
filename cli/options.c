/* options.c — table-driven option parsing for the command line and job files
 * (see options.h). */
#include "options.h"

#include <errno.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "parse.h"

static char message[512];

/* name (dashes and underscores alike) against one alternative of a table
 * name "a|b": the alternative is [alt, alt + len) */
static int same_name(const char *alt, size_t len, const char *name)
{
    size_t i = 0;
    for (; i < len && name[i]; i++) {
        char x = alt[i] == '_' ? '-' : alt[i], y = name[i] == '_' ? '-' : name[i];
        if (x != y)
            return 0;
    }
    return i == len && !name[i];
}

/* The alternative of o's names that `given` spells (the first when none does
 * or given is NULL), into buf. */
const char *mkt_opt_spelling(const mkt_opt *o, const char *given, char *buf, size_t len)
{
    const char *alt = o->name;
    size_t n = strcspn(alt, "|");
    for (const char *a = o->name; given && *a; a += strcspn(a, "|") + (a[strcspn(a, "|")] == '|')) {
        size_t m = strcspn(a, "|");
        if (same_name(a, m, given)) {
            alt = a;
            n = m;
            break;
        }
    }
    snprintf(buf, len, "%.*s", (int)n, alt);
    return buf;
}

const mkt_opt *mkt_opts_find(const mkt_opt *opts, const char *name)
{
    for (const mkt_opt *o = opts; o->name; o++)
        for (const char *a = o->name; *a; a += strcspn(a, "|") + (a[strcspn(a, "|")] == '|'))
            if (same_name(a, strcspn(a, "|"), name))
                return o;
    return NULL;
}

static const char *assign(const mkt_opt *o, const char *given, void *base, const char *value)
{
    char *field = (char *)base + o->offset;
    char label[64];
    mkt_opt_spelling(o, given, label, sizeof label);
    switch (o->type) {
    case MKT_OPT_STR:
        *(char **)field = (char *)value;
        return NULL;
    case MKT_OPT_INT:
    case MKT_OPT_I32:
    case MKT_OPT_U64: {
        int64_t v;
        if (mkt_parse_int64(value, &v) != 0) {
            snprintf(message, sizeof message, "%s: expected an integer, got '%s'", label, value);
            return message;
        }
        if (o->min < o->max && ((double)v < o->min || (double)v > o->max)) {
            snprintf(message, sizeof message, "%s: %lld is out of range [%.17g, %.17g]", label, (long long)v,
                     o->min, o->max);
            return message;
        }
        if (o->type == MKT_OPT_I32 && (v < INT32_MIN || v > INT32_MAX)) {
            snprintf(message, sizeof message, "%s: %lld is out of range [%d, %d]", label, (long long)v, INT32_MIN,
                     INT32_MAX);
            return message;
        }
        if (o->type == MKT_OPT_I32)
            *(int *)field = (int)v;
        else if (o->type == MKT_OPT_U64)
            *(uint64_t *)field = (uint64_t)v;
        else
            *(int64_t *)field = v;
        return NULL;
    }
    case MKT_OPT_TIME:
        if (mkt_parse_timestamp(value, (int64_t *)field) != 0) {
            snprintf(message, sizeof message, "%s: not a timestamp: '%s'", label, value);
            return message;
        }
        return NULL;
    case MKT_OPT_DOUBLE: {
        double v;
        if (mkt_parse_double(value, &v) != 0) {
            snprintf(message, sizeof message, "%s: expected a number, got '%s'", label, value);
            return message;
        }
        if (o->min < o->max && (v < o->min || v > o->max)) {
            snprintf(message, sizeof message, "%s: %g is out of range [%g, %g]", label, v, o->min, o->max);
            return message;
        }
        *(double *)field = v;
        return NULL;
    }
    case MKT_OPT_BOOL:
        if (!strcmp(value, "1") || !strcmp(value, "true") || !strcmp(value, "yes") || !strcmp(value, "on"))
            *(int *)field = 1;
        else if (!strcmp(value, "0") || !strcmp(value, "false") || !strcmp(value, "no") || !strcmp(value, "off"))
            *(int *)field = 0;
        else {
            snprintf(message, sizeof message, "%s: expected true or false, got '%s'", label, value);
            return message;
        }
        return NULL;
    }
    return NULL;
}

void mkt_opts_defaults(const mkt_opt *opts, void *base)
{
    for (const mkt_opt *o = opts; o->name; o++) {
        char *field = (char *)base + o->offset;
        if (o->dflt) {
            const char *err = assign(o, NULL, base, o->dflt);
            if (err) {
                fprintf(stderr, "mkt: internal error: bad default for %s: %s\n", o->name, err);
                abort();
            }
        } else if (o->type == MKT_OPT_STR) {
            *(char **)field = NULL;
        }
    }
}

const char *mkt_opts_set(const mkt_opt *opts, void *base, const char *name, const char *value)
{
    const mkt_opt *o = mkt_opts_find(opts, name);
    if (!o) {
        snprintf(message, sizeof message, "unknown option '%s'", name);
        return message;
    }
    return assign(o, name, base, value);
}

const char *mkt_opts_parse_argv(const mkt_opt *opts, void *base, int argc, char **argv, int first,
                                char ***positional, int *npositional)
{
    static char *pos[64];
    int npos = 0;
    for (int i = first; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h"))
            return "help";
        if (strncmp(a, "--", 2) != 0 || a[2] == 0) {
            if (npos == 64)
                return "too many arguments";
            pos[npos++] = argv[i];
            continue;
        }
        const char *name = a + 2;
        const char *eq = strchr(name, '=');
        char namebuf[128];
        const char *value = NULL;
        if (eq) {
            snprintf(namebuf, sizeof namebuf, "%.*s", (int)(eq - name), name);
            name = namebuf;
            value = eq + 1;
        }
        const mkt_opt *o = mkt_opts_find(opts, name);
        if (!o) {
            snprintf(message, sizeof message, "unknown option '--%s' (see --help)", name);
            return message;
        }
        if (!value) {
            if (o->type == MKT_OPT_BOOL && (i + 1 >= argc || strncmp(argv[i + 1], "--", 2) == 0 ||
                                            assign(o, name, base, argv[i + 1]) != NULL)) {
                *(int *)((char *)base + o->offset) = 1;
                continue;
            }
            if (o->type == MKT_OPT_BOOL) {
                i++;
                continue;
            }
            if (i + 1 >= argc) {
                char label[64];
                snprintf(message, sizeof message, "option '--%s' needs a value",
                         mkt_opt_spelling(o, name, label, sizeof label));
                return message;
            }
            value = argv[++i];
        }
        const char *err = assign(o, name, base, value);
        if (err)
            return err;
    }
    if (positional)
        *positional = pos;
    if (npositional)
        *npositional = npos;
    return NULL;
}

static const char *type_name(mkt_opt_type t)
{
    switch (t) {
    case MKT_OPT_STR:
        return "TEXT";
    case MKT_OPT_INT:
    case MKT_OPT_I32:
    case MKT_OPT_U64:
        return "INT";
    case MKT_OPT_DOUBLE:
        return "NUM";
    case MKT_OPT_BOOL:
        return "BOOL";
    case MKT_OPT_TIME:
        return "TIME";
    }
    return "?";
}

const char *mkt_opts_default_text(const mkt_opt *o, const void *defaults, char *buf, size_t len)
{
    if (o->dflt)
        return o->dflt;
    if (!defaults || o->type == MKT_OPT_STR)
        return NULL;
    const char *field = (const char *)defaults + o->offset;
    switch (o->type) {
    case MKT_OPT_TIME: {
        time_t t = (time_t)*(const int64_t *)field;
        struct tm tm;
        if (!gmtime_r(&t, &tm))
            return NULL;
        strftime(buf, len, t % 86400 == 0 ? "%Y-%m-%d" : "%Y-%m-%dT%H:%M:%SZ", &tm);
        break;
    }
    case MKT_OPT_INT:
        snprintf(buf, len, "%lld", (long long)*(const int64_t *)field);
        break;
    case MKT_OPT_I32:
    case MKT_OPT_BOOL:
        snprintf(buf, len, "%d", *(const int *)field);
        break;
    case MKT_OPT_U64:
        snprintf(buf, len, "%llu", (unsigned long long)*(const uint64_t *)field);
        break;
    case MKT_OPT_DOUBLE:
        snprintf(buf, len, "%g", *(const double *)field);
        break;
    default:
        return NULL;
    }
    return buf;
}

/* " (former name: --rank, still accepted)" for a table name "factors|rank" */
static void former_names(const mkt_opt *o, int dashes)
{
    const char *bar = strchr(o->name, '|');
    if (!bar)
        return;
    printf(" (former name: ");
    for (const char *a = bar + 1; *a; a += strcspn(a, "|") + (a[strcspn(a, "|")] == '|')) {
        int n = (int)strcspn(a, "|");
        char alt[64];
        snprintf(alt, sizeof alt, "%.*s", n, a);
        for (char *p = alt; *p; p++)
            if (*p == (dashes ? '_' : '-'))
                *p = dashes ? '-' : '_';
        printf("%s%s%s", a == bar + 1 ? "" : ", ", dashes ? "--" : "", alt);
    }
    printf(", still accepted)");
}

void mkt_opts_print_help(const mkt_opt *opts, const void *defaults, const char *usage, const char *description)
{
    printf("usage: %s\n\n%s\n\noptions:\n", usage, description);
    for (const mkt_opt *o = opts; o->name; o++) {
        char left[96], buf[64], name[64];
        snprintf(left, sizeof left, "--%s %s", mkt_opt_spelling(o, NULL, name, sizeof name), type_name(o->type));
        printf("  %-28s %s", left, o->help);
        former_names(o, 1);
        const char *d = mkt_opts_default_text(o, defaults, buf, sizeof buf);
        if (d)
            printf(" [default: %s]", d);
        printf("\n");
    }
    printf("  %-28s %s\n", "--help", "show this help");
}

void mkt_opts_print_markdown(const mkt_opt *opts, const void *defaults, const char *section)
{
    printf("### [%s]\n\n| key | type | default | meaning |\n|---|---|---|---|\n", section);
    for (const mkt_opt *o = opts; o->name; o++) {
        char key[64], buf[64];
        mkt_opt_spelling(o, NULL, key, sizeof key);
        for (char *p = key; *p; p++)
            if (*p == '-')
                *p = '_';
        const char *d = mkt_opts_default_text(o, defaults, buf, sizeof buf);
        printf("| `%s` | %s | %s | %s", key, type_name(o->type), d ? d : "(none)", o->help);
        former_names(o, 0);
        printf(" |\n");
    }
    printf("\n");
}
