/* test_ingest_options.c — the options of `mkt ingest` (stages/ingest.h):
 * the option table's defaults with the required files pass
 * mkt_ingest_check_options, and every bad option or combination is refused
 * with the message the user sees after "ingest: ".  No file is read. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "ingest.h"

/* The fields as cli/cmd_ingest.c's table sets them, plus the required files. */
static mkt_ingest_options table_defaults(void)
{
    mkt_ingest_options o;
    memset(&o, 0, sizeof o);
    o.format = "events";
    o.max_reject_rate = 0.05;
    o.header = -1;
    o.user_col = "user";
    o.item_col = "item";
    o.type_col = "type";
    o.ts_col = "ts";
    o.value_col = "value";
    o.qty_col = "qty";
    o.default_type = "view";
    o.treatment_col = "auto";
    o.control = "auto";
    o.campaign_days = 0;
    o.visit_col = "visit";
    o.conversion_col = "conversion";
    o.spend_col = "spend";
    o.campaign_user_col = "user";
    o.as = "store";
    o.max_unknown_rate = 1;
    o.rating_range = "auto";
    o.ts_format = "auto";
    o.ts_range = "1970-01-01..2100-01-01";
    o.input = "shop.csv";
    o.out = "shop.h5";
    return o;
}

/* o is refused with exactly msg. */
static void expect_message(mkt_ingest_options o, const char *msg)
{
    const char *got = mkt_ingest_check_options(&o);
    if (!got)
        fail_msg("accepted; expected \"%s\"", msg);
    assert_string_equal(got, msg);
}

static void test_defaults(void **state)
{
    (void)state;
    mkt_ingest_options o = table_defaults();
    assert_null(mkt_ingest_check_options(&o));
    const char *formats[] = {"events", "movielens", "transactions", "campaign"};
    for (int i = 0; i < 4; i++) {
        o.format = formats[i];
        assert_null(mkt_ingest_check_options(&o));
    }
    o = table_defaults();
    o.as = "test";
    o.into = "train.h5";
    assert_null(mkt_ingest_check_options(&o));
    o = table_defaults();
    o.items = "items.csv";
    o.items_cols = "item=PRODUCT_ID,category=DEPARTMENT";
    o.campaign = "campaign.csv";
    o.control = "untargeted";
    o.campaign_start = "2020-01-01";
    o.campaign_days = 30;
    o.rating_range = "1..5";
    o.ts_range = "2000-01-01..2001-01-01";
    o.ts_format = "dmy";
    assert_null(mkt_ingest_check_options(&o));
    /* --control untargeted is only read with a campaign log */
    o = table_defaults();
    o.control = "untargeted";
    assert_null(mkt_ingest_check_options(&o));
    /* --ts-format is not read for a campaign log (it has no timestamp column) */
    o.format = "campaign";
    o.control = "auto";
    o.ts_format = "week";
    assert_null(mkt_ingest_check_options(&o));
}

static void test_files_format_role(void **state)
{
    (void)state;
    const mkt_ingest_options c = table_defaults();
    mkt_ingest_options bad = c;
    bad.input = NULL;
    expect_message(bad, "--input FILE is required");
    bad = c;
    bad.out = NULL;
    expect_message(bad, "--out STORE.h5 is required");
    bad = c;
    bad.format = "parquet";
    expect_message(bad, "unknown format 'parquet' (events, movielens, transactions, campaign)");
    bad = c;
    bad.format = "campaign";
    bad.campaign = "c.csv";
    expect_message(bad, "--campaign is for a campaign log beside an events input");
    bad = c;
    bad.as = "train";
    expect_message(bad, "--as 'train': expected store (a store with its own ids) or test (rows mapped through the "
                        "ids of a training store, --into TRAIN.h5)");
    bad = c;
    bad.as = "test";
    expect_message(bad, "--as test needs --into TRAIN.h5, the training store whose user and item ids the test rows "
                        "are mapped through");
    bad.into = "";
    expect_message(bad, "--as test needs --into TRAIN.h5, the training store whose user and item ids the test rows "
                        "are mapped through");
    bad = c;
    bad.into = "train.h5";
    expect_message(bad, "--into train.h5 is only read with --as test");
    bad.as = "test";
    bad.format = "campaign";
    expect_message(bad, "--as test reads an events file (format events, movielens or transactions), not format "
                        "campaign");
    bad.format = "events";
    bad.items = "items.csv";
    expect_message(bad, "--as test takes its items and users from --into train.h5; --items is not read with it");
    bad.items = NULL;
    bad.campaign = "c.csv";
    expect_message(bad, "--as test takes its items and users from --into train.h5; --campaign is not read with it");
}

static void test_values(void **state)
{
    (void)state;
    const mkt_ingest_options c = table_defaults();
    mkt_ingest_options bad = c;
    bad.rating_range = "5";
    expect_message(bad, "--rating-range '5': expected LO..HI (e.g. 1..5) or auto");
    bad.rating_range = "5..1";
    expect_message(bad, "--rating-range '5..1': expected two finite numbers LO..HI with LO <= HI");
    bad.rating_range = "a..b";
    expect_message(bad, "--rating-range 'a..b': expected two finite numbers LO..HI with LO <= HI");
    bad = c;
    bad.ts_range = "2000";
    expect_message(bad, "--ts-range '2000': expected FROM..TO (e.g. 1970-01-01..2100-01-01)");
    bad.ts_range = "2001-01-01..2000-01-01";
    expect_message(bad, "--ts-range '2001-01-01..2000-01-01': expected two timestamps FROM..TO with FROM before TO");
    bad = c;
    bad.ts_format = "week";
    expect_message(bad, "--ts-format 'week': expected auto, unix, unix_ms, yyyymmdd, days, iso, mdy or dmy");
    bad = c;
    bad.items = "items.csv";
    bad.items_cols = "item=A,colour=B";
    expect_message(bad, "--items-cols: 'colour' is not KEY=COLUMN with KEY one of item, category, brand, price, "
                        "cost, stock");
    bad.items_cols = "item=";
    expect_message(bad, "--items-cols: 'item' is not KEY=COLUMN with KEY one of item, category, brand, price, cost, "
                        "stock");
    char longspec[1100];
    memset(longspec, 'x', sizeof longspec - 1);
    longspec[sizeof longspec - 1] = 0;
    bad.items_cols = longspec;
    expect_message(bad, "--items-cols is longer than 1023 bytes");
}

static void test_campaign(void **state)
{
    (void)state;
    mkt_ingest_options c = table_defaults();
    c.format = "campaign";
    c.input = "log.csv";
    mkt_ingest_options bad = c;
    bad.header = 0;
    expect_message(bad, "log.csv: --header 0: a campaign log needs its header line (its columns other than the "
                        "treatment and outcomes are the attributes, named by the header)");
    bad = c;
    bad.control = "untargeted";
    bad.campaign_days = 7;
    expect_message(bad, "--control untargeted needs --campaign-start (the first day of the campaign window, a "
                        "timestamp)");
    bad.campaign_start = "soon";
    expect_message(bad, "--control untargeted needs --campaign-start (the first day of the campaign window, a "
                        "timestamp); not a timestamp: 'soon'");
    bad.campaign_start = "2020-01-01";
    bad.campaign_days = 0;
    expect_message(bad, "--control untargeted needs --campaign-days D >= 1 (the window in which conversions count)");
    /* the same beside an events input */
    bad = table_defaults();
    bad.campaign = "log.csv";
    bad.control = "untargeted";
    bad.campaign_start = "2020-01-01";
    expect_message(bad, "--control untargeted needs --campaign-days D >= 1 (the window in which conversions count)");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_files_format_role),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_campaign),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
