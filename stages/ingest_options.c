/* ingest_options.c — the options of `mkt ingest` checked before any file is
 * read: required files, format, --as/--into, --control untargeted and its
 * window, --ts-format names, the syntax of --rating-range, --ts-range and
 * --items-cols.  mkt_ingest_check_options returns NULL or the message (the
 * stage prints it after "ingest: " as one usage error).  Pure: must not
 * print, exit, allocate or touch a file; checks that need the data (columns
 * of a header, ids of a training store, reject rates) stay in the steps. */
#include "ingest_internal.h"

#include <stdio.h>
#include <string.h>

#include "check_message.h"
#include "parse.h"

static _Thread_local char check_message[10240]; /* room for the paths it names */
#define CHECK(cond, ...) MKT_CHECK_MSG(check_message, cond, __VA_ARGS__)

/* --rating-range (auto: by format) and --ts-range into raw's limits and reject reasons. */
const char *ingest_parse_ranges(const mkt_ingest_options *o, raw_data *raw)
{
    const char *rr = o->rating_range && *o->rating_range ? o->rating_range : "auto";
    if (!strcmp(rr, "auto"))
        rr = o->format && !strcmp(o->format, "movielens") ? "0.5..5" : "-1e6..1e6";
    const char *dots = strstr(rr, "..");
    char lo[128], hi[128];
    CHECK(dots && (size_t)(dots - rr) < sizeof lo && strlen(dots + 2) < sizeof hi,
          "--rating-range '%s': expected LO..HI (e.g. 1..5) or auto", rr);
    snprintf(lo, sizeof lo, "%.*s", (int)(dots - rr), rr);
    snprintf(hi, sizeof hi, "%s", dots + 2);
    CHECK(mkt_parse_double(lo, &raw->rating_lo) == 0 && mkt_parse_double(hi, &raw->rating_hi) == 0 &&
              raw->rating_lo <= raw->rating_hi,
          "--rating-range '%s': expected two finite numbers LO..HI with LO <= HI", rr);
    snprintf(raw->rating_reason, sizeof raw->rating_reason, "rating outside %s", rr);
    const char *tr = o->ts_range && *o->ts_range ? o->ts_range : "1970-01-01..2100-01-01";
    dots = strstr(tr, "..");
    CHECK(dots && (size_t)(dots - tr) < sizeof lo && strlen(dots + 2) < sizeof hi,
          "--ts-range '%s': expected FROM..TO (e.g. 1970-01-01..2100-01-01)", tr);
    snprintf(lo, sizeof lo, "%.*s", (int)(dots - tr), tr);
    snprintf(hi, sizeof hi, "%s", dots + 2);
    CHECK(mkt_parse_timestamp(lo, &raw->ts_lo) == 0 && mkt_parse_timestamp(hi, &raw->ts_hi) == 0 &&
              raw->ts_lo < raw->ts_hi,
          "--ts-range '%s': expected two timestamps FROM..TO with FROM before TO", tr);
    snprintf(raw->ts_reason, sizeof raw->ts_reason, "timestamp outside %s", tr);
    return NULL;
}

/* --items-cols "KEY=COLUMN,...": copy (1024 bytes) holds the names that
 * name[k] then points to; given[k] says which keys the spec named. */
const char *ingest_parse_items_cols(const char *spec, char copy[1024], const char *name[6], int given[6])
{
    static const char *const keys[6] = {"item", "category", "brand", "price", "cost", "stock"};
    char *save = NULL;
    CHECK(!spec || strlen(spec) < 1024, "--items-cols is longer than %zu bytes", (size_t)1023);
    snprintf(copy, 1024, "%s", spec ? spec : "");
    for (int k = 0; k < 6; k++) {
        name[k] = keys[k];
        given[k] = 0;
    }
    for (char *pair = strtok_r(copy, ",", &save); pair; pair = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(pair, '=');
        int k = -1;
        if (eq) {
            *eq = 0;
            for (int i = 0; i < 6; i++)
                if (!strcmp(pair, keys[i]))
                    k = i;
        }
        CHECK(k >= 0 && eq[1],
              "--items-cols: '%s' is not KEY=COLUMN with KEY one of item, category, brand, price, cost, stock",
              pair);
        name[k] = eq + 1;
        given[k] = 1;
    }
    return NULL;
}

/* --as store|test and what goes with each (the training store itself is
 * opened by the stage). */
static const char *check_role(const mkt_ingest_options *o, int is_campaign)
{
    const char *as = o->as ? o->as : "store";
    int is_test = !strcmp(as, "test");
    CHECK(is_test || !strcmp(as, "store"), "--as '%s': expected store (a store with its own ids) or test (rows mapped through the ids of a "
          "training store, --into TRAIN.h5)",
          as);
    CHECK(!is_test || (o->into && *o->into),
          "--as test needs --into TRAIN.h5, the training store whose user and item ids the test rows are mapped "
          "through");
    CHECK(is_test || !o->into, "--into %s is only read with --as test", o->into);
    if (!is_test)
        return NULL;
    CHECK(!is_campaign, "--as test reads an events file (format events, movielens or transactions), not format "
                        "campaign");
    CHECK(!o->items && !o->campaign, "--as test takes its items and users from --into %s; --%s is not read with it",
          o->into, o->items ? "items" : "campaign");
    return NULL;
}

/* The campaign log: its header, and --control untargeted's window. */
static const char *check_campaign(const mkt_ingest_options *o, int is_campaign)
{
    int64_t start_ts = 0;
    CHECK(!is_campaign || o->header != 0,
          "%s: --header 0: a campaign log needs its header line (its columns other than the treatment and outcomes "
          "are the attributes, named by the header)",
          o->input);
    if (!(is_campaign || o->campaign) || !o->control || strcmp(o->control, "untargeted") != 0)
        return NULL;
    CHECK(o->campaign_start && mkt_parse_timestamp(o->campaign_start, &start_ts) == 0,
          "--control untargeted needs --campaign-start (the first day of the campaign window, a timestamp)%s%s%s",
          o->campaign_start ? "; not a timestamp: '" : "", o->campaign_start ? o->campaign_start : "",
          o->campaign_start ? "'" : "");
    CHECK(o->campaign_days >= 1,
          "--control untargeted needs --campaign-days D >= 1 (the window in which conversions count)");
    return NULL;
}

const char *mkt_ingest_check_options(const mkt_ingest_options *o)
{
    static const char *const ts_formats[] = {"auto", "unix", "unix_ms", "yyyymmdd", "days", "iso", "mdy", "dmy"};
    const char *fmt = o->format ? o->format : "";
    CHECK(o->input, "--input FILE is required");
    CHECK(o->out, "--out STORE.h5 is required");
    int is_campaign = !strcmp(fmt, "campaign");
    CHECK(is_campaign || !strcmp(fmt, "events") || !strcmp(fmt, "movielens") || !strcmp(fmt, "transactions"),
          "unknown format '%s' (events, movielens, transactions, campaign)", fmt);
    CHECK(!is_campaign || !o->campaign, "--campaign is for a campaign log beside an events input");
    const char *msg = check_role(o, is_campaign);
    raw_data ranges;
    if (!msg)
        msg = ingest_parse_ranges(o, &ranges);
    if (msg)
        return msg;
    /* read with the events formats' timestamp column (a campaign log has none) */
    const char *tf = o->ts_format && *o->ts_format ? o->ts_format : "auto";
    int known = 0;
    for (size_t i = 0; i < sizeof ts_formats / sizeof *ts_formats; i++)
        known |= !strcmp(tf, ts_formats[i]);
    CHECK(known || is_campaign, "--ts-format '%s': expected auto, unix, unix_ms, yyyymmdd, days, iso, mdy or dmy", tf);
    if (o->items) {
        char copy[1024];
        const char *name[6];
        int given[6];
        if ((msg = ingest_parse_items_cols(o->items_cols, copy, name, given)) != NULL)
            return msg;
    }
    return check_campaign(o, is_campaign);
}
