/* test_model_io.c — the model checks of io/model_io.c: a good propensity,
 * mf and segments group is described with the shapes it holds, and each
 * broken variant (params length off, a missing dataset, an attribute out of
 * range, factor matrices that disagree) is refused with a message naming
 * the dataset or attribute. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <hdf5.h>

#include "model_io.h"
#include "schema.h"

static char file[64];

static void put(hid_t f, const char *path, hid_t type, int64_t rows, int64_t cols)
{
    hsize_t dims[2] = {(hsize_t)rows, (hsize_t)cols};
    hid_t sp = H5Screate_simple(cols > 0 ? 2 : 1, dims, NULL);
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t d = H5Dcreate2(f, path, type, sp, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(d >= 0);
    H5Dclose(d);
    H5Pclose(lcpl);
    H5Sclose(sp);
}

static void attr(hid_t f, const char *group, const char *name, int64_t v)
{
    hid_t sp = H5Screate(H5S_SCALAR);
    if (H5Aexists_by_name(f, group, name, H5P_DEFAULT) > 0)
        H5Adelete_by_name(f, group, name, H5P_DEFAULT);
    hid_t a = H5Acreate_by_name(f, group, name, H5T_NATIVE_INT64, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(a >= 0);
    H5Awrite(a, H5T_NATIVE_INT64, &v);
    H5Aclose(a);
    H5Sclose(sp);
}

/* A propensity group of 3 inputs and one hidden layer of 4 units
 * (4·3 + 4 + 1·4 + 1 = 21 parameters); params_off adds to its length. */
static void propensity(hid_t f, const char *g, int64_t params_off, int with_std)
{
    char p[128];
    hid_t str = H5Tcopy(H5T_C_S1);
    H5Tset_size(str, 16);
    snprintf(p, sizeof p, "%s/params", g);
    put(f, p, H5T_NATIVE_DOUBLE, 21 + params_off, 0);
    snprintf(p, sizeof p, "%s/feature_mean", g);
    put(f, p, H5T_NATIVE_DOUBLE, 3, 0);
    if (with_std) {
        snprintf(p, sizeof p, "%s/feature_std", g);
        put(f, p, H5T_NATIVE_DOUBLE, 3, 0);
    }
    snprintf(p, sizeof p, "%s/feature_names", g);
    put(f, p, str, 3, 0);
    H5Tclose(str);
    attr(f, g, MKT_ATTR_INPUTS, 3);
    attr(f, g, MKT_ATTR_HIDDEN_LAYERS, 1);
    attr(f, g, "hidden_1", 4);
}

static void mf(hid_t f, int64_t users, int64_t items, int64_t ku, int64_t ki)
{
    put(f, MKT_MODELS_MF_USER_FACTORS, H5T_NATIVE_DOUBLE, users, ku);
    put(f, MKT_MODELS_MF_ITEM_FACTORS, H5T_NATIVE_DOUBLE, items, ki);
    put(f, MKT_MODELS_MF_USER_BIAS, H5T_NATIVE_DOUBLE, users, 0);
    put(f, MKT_MODELS_MF_ITEM_BIAS, H5T_NATIVE_DOUBLE, items, 0);
    attr(f, MKT_MODELS_MF, MKT_ATTR_RANK, ku);
}

static hid_t fresh(void)
{
    hid_t f = H5Fcreate(file, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(f >= 0);
    return f;
}

/* The propensity verdict on f (closed here): 0, or -1 with why. */
static int prop_verdict(hid_t f, const char *group, mkt_propensity_model *p, char *why, size_t len)
{
    int r = mkt_propensity_describe(f, file, group, p, why, len);
    H5Fclose(f);
    return r;
}

static void good_models(void **state)
{
    (void)state;
    hid_t f = fresh();
    propensity(f, MKT_MODELS_PROPENSITY, 0, 1);
    propensity(f, MKT_MODELS_PROPENSITY_ITEM, 0, 1);
    mf(f, 5, 7, 2, 2);
    put(f, MKT_MODELS_SEGMENTS_ASSIGNMENT, H5T_NATIVE_INT32, 5, 0);
    put(f, MKT_MODELS_SEGMENTS_NAMES, H5T_NATIVE_INT32, 3, 0);
    char why[512] = "";
    mkt_propensity_model p;
    assert_int_equal(mkt_propensity_describe(f, file, MKT_MODELS_PROPENSITY, &p, why, sizeof why), 0);
    assert_int_equal(p.net.inputs, 3);
    assert_int_equal(p.net.hidden, 1);
    assert_int_equal(p.net.sizes[0], 4);
    assert_int_equal(p.nparams, 21);
    assert_int_equal(p.horizon_days, 7);
    assert_int_equal(mkt_propensity_describe(f, file, MKT_MODELS_PROPENSITY_ITEM, &p, why, sizeof why), 0);
    assert_string_equal(p.group, MKT_MODELS_PROPENSITY_ITEM);
    mkt_mf_stored m;
    assert_int_equal(mkt_mf_describe(f, file, &m, why, sizeof why), 0);
    assert_int_equal(m.users, 5);
    assert_int_equal(m.items, 7);
    assert_int_equal(m.factors, 2);
    assert_true(m.has_user_bias && m.has_item_bias);
    mkt_segments_model s;
    assert_int_equal(mkt_segments_describe(f, file, &s, why, sizeof why), 0);
    assert_int_equal(s.users, 5);
    assert_int_equal(s.segments, 3);
    H5Fclose(f);
}

static void expect_refused(int r, const char *why, const char *names)
{
    assert_int_equal(r, -1);
    if (!strstr(why, names) || !strstr(why, file))
        fail_msg("message '%s' does not name '%s' and the file", why, names);
}

/* A good /models/propensity with attribute name set to v: refused, naming names. */
static void bad_attr(const char *name, int64_t v, const char *names)
{
    char why[512];
    mkt_propensity_model p;
    hid_t f = fresh();
    propensity(f, MKT_MODELS_PROPENSITY, 0, 1);
    attr(f, MKT_MODELS_PROPENSITY, name, v);
    expect_refused(prop_verdict(f, MKT_MODELS_PROPENSITY, &p, why, sizeof why), why, names);
}

static void broken_propensity(void **state)
{
    (void)state;
    char why[512];
    mkt_propensity_model p;
    hid_t f = fresh();
    propensity(f, MKT_MODELS_PROPENSITY, 1, 1); /* one parameter too many */
    expect_refused(prop_verdict(f, MKT_MODELS_PROPENSITY, &p, why, sizeof why), why, "/models/propensity/params");

    f = fresh();
    propensity(f, MKT_MODELS_PROPENSITY_ITEM, -1, 1); /* the user_item group, one too few */
    expect_refused(prop_verdict(f, MKT_MODELS_PROPENSITY_ITEM, &p, why, sizeof why), why,
                   "/models/propensity_item/params");

    f = fresh();
    propensity(f, MKT_MODELS_PROPENSITY, 0, 0); /* no feature_std */
    expect_refused(prop_verdict(f, MKT_MODELS_PROPENSITY, &p, why, sizeof why), why,
                   "/models/propensity/feature_std");

    bad_attr(MKT_ATTR_HIDDEN_LAYERS, 9, "hidden_layers"); /* above MKT_MLP_MAX_HIDDEN */
    bad_attr(MKT_ATTR_HIDDEN_LAYERS, -1, "hidden_layers");
    bad_attr(MKT_ATTR_HIDDEN_LAYERS, 2, "hidden_2"); /* hidden_2 missing */
    bad_attr(MKT_ATTR_INPUTS, 0, "inputs");

    f = fresh(); /* no group at all */
    expect_refused(prop_verdict(f, MKT_MODELS_PROPENSITY, &p, why, sizeof why), why, "/models/propensity");
}

static void broken_mf(void **state)
{
    (void)state;
    char why[512];
    mkt_mf_stored m;
    hid_t f = fresh();
    mf(f, 5, 7, 2, 3); /* user and item factors of different K */
    expect_refused(mkt_mf_describe(f, file, &m, why, sizeof why), why, "item_factors");
    H5Fclose(f);

    f = fresh();
    put(f, MKT_MODELS_MF_USER_FACTORS, H5T_NATIVE_DOUBLE, 5, 2);
    expect_refused(mkt_mf_describe(f, file, &m, why, sizeof why), why, "/models/mf/item_factors");
    H5Fclose(f);

    f = fresh();
    mf(f, 5, 7, 2, 2);
    H5Ldelete(f, MKT_MODELS_MF_ITEM_BIAS, H5P_DEFAULT);
    put(f, MKT_MODELS_MF_ITEM_BIAS, H5T_NATIVE_DOUBLE, 6, 0); /* one item short */
    expect_refused(mkt_mf_describe(f, file, &m, why, sizeof why), why, "/models/mf/item_bias");
    H5Fclose(f);

    f = fresh();
    mf(f, 5, 7, 2, 2);
    attr(f, MKT_MODELS_MF, MKT_ATTR_RANK, 3); /* the factor count attribute disagrees */
    expect_refused(mkt_mf_describe(f, file, &m, why, sizeof why), why, "rank");
    H5Fclose(f);
}

static void broken_segments(void **state)
{
    (void)state;
    char why[512];
    mkt_segments_model s;
    hid_t f = fresh();
    put(f, MKT_MODELS_SEGMENTS_ASSIGNMENT, H5T_NATIVE_INT32, 5, 0);
    expect_refused(mkt_segments_describe(f, file, &s, why, sizeof why), why, "/models/segments/names");
    H5Fclose(f);

    f = fresh();
    put(f, MKT_MODELS_SEGMENTS_ASSIGNMENT, H5T_NATIVE_INT32, 5, 0);
    put(f, MKT_MODELS_SEGMENTS_NAMES, H5T_NATIVE_INT32, 3, 0);
    attr(f, MKT_MODELS_SEGMENTS, MKT_ATTR_K, 4);
    expect_refused(mkt_segments_describe(f, file, &s, why, sizeof why), why, "attribute k");
    H5Fclose(f);
}

/* An uplift group of 3 arms, 2 attributes, 4 features and 6 users for the
 * binary outcome `outcome`; coef_off adds to the columns of coef_spend. */
static void uplift_of(hid_t f, int64_t coef_off, const char *outcome)
{
    char coef[64], pred[64], text[16] = {0};
    snprintf(coef, sizeof coef, MKT_MODELS_UPLIFT "/coef_%s", outcome);
    snprintf(pred, sizeof pred, MKT_MODELS_UPLIFT "/predicted_%s", outcome);
    snprintf(text, sizeof text, "%s", outcome);
    hid_t sp = H5Screate(H5S_SCALAR), str = H5Tcopy(H5T_C_S1);
    H5Tset_size(str, 16);
    put(f, MKT_MODELS_UPLIFT_ARMS, str, 3, 0);
    put(f, MKT_MODELS_UPLIFT_ATTR_NAMES, str, 2, 0);
    put(f, MKT_MODELS_UPLIFT_FEATURE_SPEC, H5T_NATIVE_DOUBLE, 2, 5);
    put(f, coef, H5T_NATIVE_DOUBLE, 3, 4);
    put(f, MKT_MODELS_UPLIFT_COEF_SPEND, H5T_NATIVE_DOUBLE, 3, 4 + coef_off);
    put(f, MKT_MODELS_UPLIFT_USER, H5T_NATIVE_INT32, 6, 0);
    put(f, pred, H5T_NATIVE_DOUBLE, 6, 2);
    put(f, MKT_MODELS_UPLIFT_PREDICTED_SPEND, H5T_NATIVE_DOUBLE, 6, 2);
    hid_t a = H5Acreate_by_name(f, MKT_MODELS_UPLIFT, MKT_ATTR_OUTCOME, str, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, str, text);
    H5Aclose(a);
    H5Tclose(str);
    H5Sclose(sp);
    attr(f, MKT_MODELS_UPLIFT, MKT_ATTR_FEATURES, 4);
    attr(f, MKT_MODELS_UPLIFT, MKT_ATTR_ATTRS, 2);
}

static void uplift(hid_t f, int64_t coef_off) { uplift_of(f, coef_off, "conversion"); }

static void uplift_models(void **state)
{
    (void)state;
    char why[512];
    mkt_uplift_model u;
    hid_t f = fresh();
    uplift(f, 0);
    assert_int_equal(mkt_uplift_describe(f, file, &u, why, sizeof why), 0);
    assert_string_equal(u.outcome, "conversion");
    assert_int_equal(u.arms, 3);
    assert_int_equal(u.features, 4);
    assert_int_equal(u.attrs, 2);
    assert_true(u.has_coef);
    assert_int_equal(u.rows, 6);
    mkt_uplift_model_free(&u);
    H5Fclose(f);

    /* observational logs model the redemption */
    f = fresh();
    uplift_of(f, 0, "redeemed");
    assert_int_equal(mkt_uplift_describe(f, file, &u, why, sizeof why), 0);
    assert_string_equal(u.outcome, "redeemed");
    assert_true(u.has_coef);
    mkt_uplift_model_free(&u);
    H5Fclose(f);

    f = fresh();
    uplift_of(f, 0, "bought");
    expect_refused(mkt_uplift_describe(f, file, &u, why, sizeof why), why, "outcome");
    H5Fclose(f);

    f = fresh();
    uplift(f, 1); /* coef_spend of 5 columns, the attribute says 4 features */
    expect_refused(mkt_uplift_describe(f, file, &u, why, sizeof why), why, "/models/uplift/coef_spend");
    H5Fclose(f);

    f = fresh();
    uplift(f, 0);
    attr(f, MKT_MODELS_UPLIFT, MKT_ATTR_ATTRS, 3); /* feature_spec has 2 rows */
    expect_refused(mkt_uplift_describe(f, file, &u, why, sizeof why), why, "/models/uplift/feature_spec");
    H5Fclose(f);
}

int main(void)
{
    snprintf(file, sizeof file, "test_model_io_%d.h5", (int)getpid());
    const struct CMUnitTest tests[] = {cmocka_unit_test(good_models), cmocka_unit_test(broken_propensity),
                                       cmocka_unit_test(broken_mf), cmocka_unit_test(broken_segments),
                                       cmocka_unit_test(uplift_models)};
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    unlink(file);
    return r;
}
