/* model_io.c — the checks and reads of the /models groups the strategy and
 * the gateway read (model_io.h): one describe per group, so a group's rules
 * live here once and every reader gets the same verdict and message.
 * The saves write the same content (model_io.h), collectively.
 * Must not: exit on a bad model (return the message) or read a store. */
#include "model_io.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "forest_io.h"
#include "h5store.h"
#include "schema.h"
#include "uplift.h"

#define MODEL_MAX_WIDTH (1 << 24) /* largest inputs or layer width taken as sane */
#define ABSENT INT64_MIN

static int fail(char *why, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, len, fmt, ap);
    va_end(ap);
    return -1;
}

/* Rows of group/name (cols: its columns, 0 for 1-D); -1 when missing. */
static int64_t shape_of(hid_t f, const char *group, const char *name, int64_t *cols)
{
    char path[300];
    snprintf(path, sizeof path, "%s/%s", group, name);
    int64_t c = 0;
    if (!mkt_h5_exists(f, path))
        return -1;
    int64_t rows = mkt_h5_rows(f, path, &c);
    if (cols)
        *cols = c;
    return rows;
}

/* A 1-D dataset group/name of want rows; 0, or -1 with why. */
static int want_vector(hid_t f, const char *file, const char *group, const char *name, int64_t want,
                       const char *what, char *why, size_t len)
{
    int64_t cols = 0, rows = shape_of(f, group, name, &cols);
    if (rows < 0)
        return fail(why, len, "%s: %s/%s is missing", file, group, name);
    if (cols > 1 || rows != want)
        return fail(why, len, "%s: %s/%s has %lld x %lld values, expected %lld (%s)", file, group, name,
                    (long long)rows, (long long)cols, (long long)want, what);
    return 0;
}

/* group/name in p (of size len). */
static const char *at(char *p, size_t len, const char *group, const char *name)
{
    snprintf(p, len, "%s/%s", group, name);
    return p;
}

static int rank_of(MPI_Comm comm)
{
    int rank;
    MKT_MPI(MPI_Comm_rank(comm, &rank));
    return rank;
}

/* ---------- propensity ---------- */

int mkt_propensity_describe(hid_t f, const char *file, const char *group, mkt_propensity_model *p, char *why,
                            size_t len)
{
    memset(p, 0, sizeof *p);
    p->group = group;
    if (!mkt_h5_exists(f, group))
        return fail(why, len, "%s: no %s group", file, group);
    int64_t inputs = mkt_h5_attr_get_int(f, group, MKT_ATTR_INPUTS, ABSENT);
    if (inputs == ABSENT)
        return fail(why, len, "%s: %s: attribute %s is missing", file, group, MKT_ATTR_INPUTS);
    if (inputs < 1 || inputs > MODEL_MAX_WIDTH)
        return fail(why, len, "%s: %s: attribute %s = %lld is not in 1..%d", file, group, MKT_ATTR_INPUTS,
                    (long long)inputs, MODEL_MAX_WIDTH);
    /* a model without hidden_layers is logistic regression (0 hidden layers) */
    int64_t hidden = mkt_h5_attr_get_int(f, group, MKT_ATTR_HIDDEN_LAYERS, 0);
    if (hidden < 0 || hidden > MKT_MLP_MAX_HIDDEN)
        return fail(why, len, "%s: %s: attribute %s = %lld is not in 0..%d", file, group, MKT_ATTR_HIDDEN_LAYERS,
                    (long long)hidden, MKT_MLP_MAX_HIDDEN);
    p->net.inputs = (int)inputs;
    p->net.hidden = (int)hidden;
    for (int l = 0; l < p->net.hidden; l++) {
        char name[32];
        snprintf(name, sizeof name, MKT_ATTR_HIDDEN_FMT, l + 1);
        int64_t units = mkt_h5_attr_get_int(f, group, name, ABSENT);
        if (units == ABSENT)
            return fail(why, len, "%s: %s: attribute %s is missing (%s = %d)", file, group, name,
                        MKT_ATTR_HIDDEN_LAYERS, p->net.hidden);
        if (units < 1 || units > MODEL_MAX_WIDTH)
            return fail(why, len, "%s: %s: attribute %s = %lld is not in 1..%d", file, group, name,
                        (long long)units, MODEL_MAX_WIDTH);
        p->net.sizes[l] = (int)units;
    }
    p->nparams = mkt_mlp_nparams(&p->net);
    p->horizon_days = mkt_h5_attr_get_int(f, group, MKT_ATTR_HORIZON_DAYS, 7);
    char *kind = mkt_h5_attr_get_string(f, group, MKT_ATTR_MODEL);
    p->gbdt = kind && !strcmp(kind, "gbdt");
    free(kind);
    char what[96];
    if (p->gbdt) {
        p->nparams = 0;
        if (!mkt_forest_exists(f, group))
            return fail(why, len, "%s: %s: model gbdt without its %s group", file, group, MKT_FOREST_GROUP);
    } else {
        snprintf(what, sizeof what, "the parameters of %d inputs and %d hidden layers", p->net.inputs,
                 p->net.hidden);
        if (want_vector(f, file, group, "params", p->nparams, what, why, len))
            return -1;
    }
    snprintf(what, sizeof what, "attribute %s", MKT_ATTR_INPUTS);
    if (want_vector(f, file, group, "feature_mean", inputs, what, why, len) ||
        want_vector(f, file, group, "feature_std", inputs, what, why, len) ||
        want_vector(f, file, group, "feature_names", inputs, what, why, len))
        return -1;
    return 0;
}

static void read_vector(hid_t f, const char *group, const char *name, int64_t n, double *out)
{
    char path[300];
    snprintf(path, sizeof path, "%s/%s", group, name);
    if (out)
        mkt_h5_read_rows(f, path, H5T_NATIVE_DOUBLE, 0, n, out);
}

void mkt_propensity_read(hid_t f, const mkt_propensity_model *p, double *params, double *mean, double *std)
{
    read_vector(f, p->group, "params", p->nparams, params);
    read_vector(f, p->group, "feature_mean", p->net.inputs, mean);
    read_vector(f, p->group, "feature_std", p->net.inputs, std);
}

int mkt_propensity_read_forest(hid_t f, const char *file, const mkt_propensity_model *p, mkt_gbdt_model *forest,
                                char *why, size_t len)
{
    return mkt_forest_read(f, file, p->group, p->net.inputs, forest, why, len);
}

char **mkt_propensity_read_names(hid_t f, const mkt_propensity_model *p)
{
    char path[300];
    snprintf(path, sizeof path, "%s/feature_names", p->group);
    return mkt_h5_read_strings(f, path, 0, p->net.inputs);
}

char *mkt_propensity_features_group(hid_t f, const mkt_propensity_model *p)
{
    char *group = mkt_h5_attr_get_string(f, p->group, MKT_ATTR_FEATURES_GROUP);
    if (group && *group)
        return group;
    free(group);
    return mkt_xstrdup(MKT_FEATURES_PROPENSITY);
}

void mkt_propensity_save(hid_t f, const char *group, const mkt_propensity_save_args *a, MPI_Comm comm)
{
    const mkt_mlp *net = &a->model.net;
    int64_t d = net->inputs;
    char p[600];
    if (a->forest)
        mkt_forest_write(f, group, a->forest, comm); /* model gbdt: the forest instead of params */
    else
        mkt_h5_write_small(f, at(p, sizeof p, group, "params"), H5T_NATIVE_DOUBLE, a->params, a->model.nparams, 0,
                           comm);
    mkt_h5_write_small(f, at(p, sizeof p, group, "feature_mean"), H5T_NATIVE_DOUBLE, a->feature_mean, d, 0, comm);
    mkt_h5_write_small(f, at(p, sizeof p, group, "feature_std"), H5T_NATIVE_DOUBLE, a->feature_std, d, 0, comm);
    mkt_h5_write_strings(f, at(p, sizeof p, group, "feature_names"), a->feature_names, rank_of(comm) == 0 ? d : 0,
                         comm);
    mkt_h5_attr_set_string(f, group, MKT_ATTR_MODEL, a->forest ? "gbdt" : net->hidden ? "mlp" : "logistic");
    mkt_h5_attr_set_int(f, group, MKT_ATTR_HIDDEN_LAYERS, net->hidden);
    for (int l = 0; l < net->hidden; l++) {
        char name[32];
        snprintf(name, sizeof name, MKT_ATTR_HIDDEN_FMT, l + 1);
        mkt_h5_attr_set_int(f, group, name, net->sizes[l]);
    }
    mkt_h5_attr_set_int(f, group, MKT_ATTR_INPUTS, d);
    mkt_h5_attr_set_int(f, group, MKT_ATTR_HORIZON_DAYS, a->model.horizon_days);
    mkt_h5_attr_set_string(f, group, MKT_ATTR_FEATURES_GROUP, a->features_group);
    mkt_h5_attr_set_int(f, group, MKT_ATTR_SCHEMA_VERSION, MKT_SCHEMA_VERSION);
}

/* ---------- matrix factorization ---------- */

/* An optional count attribute of /models/mf equal to the rows it counts. */
static int mf_count(hid_t f, const char *file, const char *attr, int64_t rows, const char *of, char *why,
                    size_t len)
{
    int64_t v = mkt_h5_attr_get_int(f, MKT_MODELS_MF, attr, ABSENT);
    if (v != ABSENT && v != rows)
        return fail(why, len, "%s: " MKT_MODELS_MF ": attribute %s = %lld, but %s has %lld", file, attr,
                    (long long)v, of, (long long)rows);
    return 0;
}

int mkt_mf_describe(hid_t f, const char *file, mkt_mf_stored *mf, char *why, size_t len)
{
    memset(mf, 0, sizeof *mf);
    const char *g = MKT_MODELS_MF;
    int64_t ku = 0, ki = 0;
    mf->users = shape_of(f, g, "user_factors", &ku);
    mf->items = shape_of(f, g, "item_factors", &ki);
    if (mf->users < 0 || mf->items < 0)
        return fail(why, len, "%s: %s/%s is missing", file, g, mf->users < 0 ? "user_factors" : "item_factors");
    if (ku < 1 || ki < 1 || ku != ki)
        return fail(why, len,
                    "%s: %s: user_factors is %lld x %lld and item_factors %lld x %lld; both need the same number "
                    "of factors (columns, at least 1)",
                    file, g, (long long)mf->users, (long long)ku, (long long)mf->items, (long long)ki);
    mf->factors = ku;
    if (mf_count(f, file, MKT_ATTR_RANK, ku, "user_factors columns", why, len) ||
        mf_count(f, file, MKT_ATTR_USERS, mf->users, "user_factors rows", why, len) ||
        mf_count(f, file, MKT_ATTR_ITEMS, mf->items, "item_factors rows", why, len))
        return -1;
    int64_t implicit = mkt_h5_attr_get_int(f, g, MKT_ATTR_IMPLICIT, 0);
    if (implicit != 0 && implicit != 1)
        return fail(why, len, "%s: %s: attribute %s = %lld is not 0 or 1", file, g, MKT_ATTR_IMPLICIT,
                    (long long)implicit);
    mf->has_user_bias = shape_of(f, g, "user_bias", NULL) >= 0;
    mf->has_item_bias = shape_of(f, g, "item_bias", NULL) >= 0;
    if ((mf->has_user_bias && want_vector(f, file, g, "user_bias", mf->users, "user_factors rows", why, len)) ||
        (mf->has_item_bias && want_vector(f, file, g, "item_bias", mf->items, "item_factors rows", why, len)))
        return -1;
    mf->global_mean = mkt_h5_attr_get_double(f, g, MKT_ATTR_GLOBAL_MEAN, 0.0);
    return 0;
}

static void mf_read(hid_t f, const char *fpath, const char *bpath, int has_bias, int64_t begin, int64_t n,
                    double *factors, double *bias)
{
    if (factors)
        mkt_h5_read_rows(f, fpath, H5T_NATIVE_DOUBLE, begin, n, factors);
    if (bias && has_bias)
        mkt_h5_read_rows(f, bpath, H5T_NATIVE_DOUBLE, begin, n, bias);
    else if (bias && n > 0)
        memset(bias, 0, (size_t)n * sizeof *bias);
}

void mkt_mf_read_users(hid_t f, const mkt_mf_stored *mf, int64_t begin, int64_t n, double *factors, double *bias)
{
    mf_read(f, MKT_MODELS_MF_USER_FACTORS, MKT_MODELS_MF_USER_BIAS, mf->has_user_bias, begin, n, factors, bias);
}

void mkt_mf_read_items(hid_t f, const mkt_mf_stored *mf, int64_t begin, int64_t n, double *factors, double *bias)
{
    mf_read(f, MKT_MODELS_MF_ITEM_FACTORS, MKT_MODELS_MF_ITEM_BIAS, mf->has_item_bias, begin, n, factors, bias);
}

void mkt_mf_save(hid_t f, const char *group, const mkt_mf_save_args *a, MPI_Comm comm)
{
    const mkt_mf_stored *m = &a->model;
    char p[600];
    mkt_h5_write_rows_at(f, at(p, sizeof p, group, "user_factors"), H5T_NATIVE_DOUBLE, a->user_factors,
                         a->user_begin, a->user_n, m->users, m->factors, comm);
    mkt_h5_write_rows_at(f, at(p, sizeof p, group, "item_factors"), H5T_NATIVE_DOUBLE, a->item_factors,
                         a->item_begin, a->item_n, m->items, m->factors, comm);
    if (m->has_user_bias)
        mkt_h5_write_rows_at(f, at(p, sizeof p, group, "user_bias"), H5T_NATIVE_DOUBLE, a->user_bias, a->user_begin,
                             a->user_n, m->users, 0, comm);
    if (m->has_item_bias)
        mkt_h5_write_rows_at(f, at(p, sizeof p, group, "item_bias"), H5T_NATIVE_DOUBLE, a->item_bias, a->item_begin,
                             a->item_n, m->items, 0, comm);
    mkt_h5_attr_set_double(f, group, MKT_ATTR_GLOBAL_MEAN, m->global_mean);
    /* the factor count, under its former name "rank": model files stay readable both ways */
    mkt_h5_attr_set_int(f, group, MKT_ATTR_RANK, m->factors);
    mkt_h5_attr_set_int(f, group, MKT_ATTR_IMPLICIT, a->implicit);
    mkt_h5_attr_set_int(f, group, MKT_ATTR_USERS, m->users);
    mkt_h5_attr_set_int(f, group, MKT_ATTR_ITEMS, m->items);
    if (a->until_ts != INT64_MIN)
        mkt_h5_attr_set_int(f, group, "until_ts", a->until_ts);
    mkt_h5_attr_set_int(f, group, MKT_ATTR_SCHEMA_VERSION, MKT_SCHEMA_VERSION);
}

/* ---------- segments ---------- */

int mkt_segments_describe(hid_t f, const char *file, mkt_segments_model *s, char *why, size_t len)
{
    memset(s, 0, sizeof *s);
    const char *g = MKT_MODELS_SEGMENTS;
    int64_t cols = 0;
    s->users = shape_of(f, g, "assignment", &cols);
    if (s->users < 0)
        return fail(why, len, "%s: %s/assignment is missing", file, g);
    if (cols > 1)
        return fail(why, len, "%s: %s/assignment is %lld x %lld, expected one segment per user", file, g,
                    (long long)s->users, (long long)cols);
    s->segments = shape_of(f, g, "names", NULL);
    if (s->segments < 0)
        return fail(why, len, "%s: %s/names is missing", file, g);
    int64_t k = mkt_h5_attr_get_int(f, g, MKT_ATTR_K, ABSENT);
    if (k != ABSENT && k != s->segments)
        return fail(why, len, "%s: %s: attribute %s = %lld, but names has %lld", file, g, MKT_ATTR_K, (long long)k,
                    (long long)s->segments);
    return 0;
}

void mkt_segments_read_assignment(hid_t f, int64_t begin, int64_t n, int32_t *assignment)
{
    mkt_h5_read_rows(f, MKT_MODELS_SEGMENTS_ASSIGNMENT, H5T_NATIVE_INT32, begin, n, assignment);
}

char **mkt_segments_read_names(hid_t f, const mkt_segments_model *s)
{
    return mkt_h5_read_strings(f, MKT_MODELS_SEGMENTS_NAMES, 0, s->segments);
}

void mkt_segments_save(hid_t f, const char *group, const mkt_segments_save_args *a, MPI_Comm comm)
{
    int64_t k = a->model.segments, d = a->features;
    int root = rank_of(comm) == 0;
    char p[600];
    mkt_h5_write_small(f, at(p, sizeof p, group, "centroids"), H5T_NATIVE_DOUBLE, a->centroids, k, d, comm);
    mkt_h5_write_small(f, at(p, sizeof p, group, "centroids_std"), H5T_NATIVE_DOUBLE, a->centroids_std, k, d, comm);
    mkt_h5_write_small(f, at(p, sizeof p, group, "sizes"), H5T_NATIVE_INT64, a->sizes, k, 0, comm);
    mkt_h5_write_small(f, at(p, sizeof p, group, "mean_spend"), H5T_NATIVE_DOUBLE, a->mean_spend, k, 0, comm);
    mkt_h5_write_strings(f, at(p, sizeof p, group, "names"), a->names, root ? k : 0, comm);
    mkt_h5_write_strings(f, at(p, sizeof p, group, "features"), a->feature_names, root ? d : 0, comm);
    mkt_h5_write_small(f, at(p, sizeof p, group, "feature_mean"), H5T_NATIVE_DOUBLE, a->feature_mean, d, 0, comm);
    mkt_h5_write_small(f, at(p, sizeof p, group, "feature_std"), H5T_NATIVE_DOUBLE, a->feature_std, d, 0, comm);
    mkt_h5_write_rows_at(f, at(p, sizeof p, group, "assignment"), H5T_NATIVE_INT32, a->assignment, a->begin, a->n,
                         a->model.users, 0, comm);
    mkt_h5_attr_set_int(f, group, MKT_ATTR_K, k);
    mkt_h5_attr_set_int(f, group, MKT_ATTR_SEED, a->seed);
    mkt_h5_attr_set_int(f, group, "iterations", a->iterations);
    mkt_h5_attr_set_int(f, group, MKT_ATTR_USERS, a->model.users);
    mkt_h5_attr_set_int(f, group, MKT_ATTR_SCHEMA_VERSION, MKT_SCHEMA_VERSION);
}

/* ---------- uplift ---------- */

/* group/name of rows x cols (cols 0: 1-D, or one column); 0 or -1 with why. */
static int want_matrix(hid_t f, const char *file, const char *group, const char *name, int64_t rows,
                       int64_t cols, const char *what, char *why, size_t len)
{
    int64_t c = 0, r = shape_of(f, group, name, &c);
    if (r < 0)
        return fail(why, len, "%s: %s/%s is missing", file, group, name);
    if (r != rows || (c > 0 ? c : 1) != (cols > 0 ? cols : 1))
        return fail(why, len, "%s: %s/%s is %lld x %lld, expected %lld x %lld (%s)", file, group, name, (long long)r,
                    (long long)c, (long long)rows, (long long)cols, what);
    return 0;
}

/* A gbdt model: the forests that give arm 1's effects on the outcome and on
 * spend are there (their arrays are checked when a reader loads them). */
static int uplift_check_forests(hid_t f, const char *file, const mkt_uplift_model *u, const char *oc, char *why,
                                size_t len)
{
    const char *m = u->method ? u->method : "t";
    const char *role = !strcmp(m, "t") ? "arm" : !strcmp(m, "x") ? "x1_" : !strcmp(m, "dr") ? "dr_" : NULL;
    if (!role)
        return fail(why, len, "%s: %s: learner gbdt with method '%.20s' (gbdt fits t, x and dr)", file,
                    MKT_MODELS_UPLIFT, m);
    const char *outs[2] = {oc, "spend"};
    for (int k = 0; k < 2; k++) {
        char group[200];
        snprintf(group, sizeof group, "%s/forest_%s_%s1", MKT_MODELS_UPLIFT, outs[k], role);
        if (!mkt_forest_exists(f, group))
            return fail(why, len, "%s: %s/%s is missing (learner gbdt)", file, group, MKT_FOREST_GROUP);
    }
    return 0;
}

static int uplift_check(hid_t f, const char *file, mkt_uplift_model *u, char *why, size_t len)
{
    const char *g = MKT_MODELS_UPLIFT;
    if (u->outcome && strcmp(u->outcome, "conversion") && strcmp(u->outcome, "visit") &&
        strcmp(u->outcome, "redeemed"))
        return fail(why, len, "%s: %s: outcome attribute '%.40s' is not conversion, visit or redeemed", file, g,
                    u->outcome);
    const char *oc = u->outcome ? u->outcome : "conversion";
    u->arms = shape_of(f, g, "arms", NULL);
    if (u->arms < 0)
        return fail(why, len, "%s: %s/arms is missing", file, g);
    if (u->arms < 2)
        return fail(why, len, "%s: %s/arms has %lld rows, expected control and at least one promotion", file, g,
                    (long long)u->arms);
    u->features = mkt_h5_attr_get_int(f, g, MKT_ATTR_FEATURES, 0);
    u->attrs = mkt_h5_attr_get_int(f, g, MKT_ATTR_ATTRS, 0);
    if (u->features < 0 || u->features > MODEL_MAX_WIDTH || u->attrs < 0 || u->attrs > MODEL_MAX_WIDTH)
        return fail(why, len, "%s: %s: attribute features = %lld or attrs = %lld is out of range", file, g,
                    (long long)u->features, (long long)u->attrs);
    if (u->attrs > 0 && (want_matrix(f, file, g, "feature_spec", u->attrs, UPLIFT_SPEC_COLS, "attribute attrs", why,
                                     len) ||
                         want_vector(f, file, g, "attr_names", u->attrs, "attribute attrs", why, len)))
        return -1;
    char coef[64], pred[64];
    snprintf(coef, sizeof coef, "coef_%s", oc);
    snprintf(pred, sizeof pred, "predicted_%s", oc);
    u->has_coef = shape_of(f, g, coef, NULL) >= 0 && shape_of(f, g, "coef_spend", NULL) >= 0;
    if (u->has_coef && (want_matrix(f, file, g, coef, u->arms, u->features, "arms x attribute features", why, len) ||
                        want_matrix(f, file, g, "coef_spend", u->arms, u->features, "arms x attribute features", why,
                                    len)))
        return -1;
    if (u->gbdt && uplift_check_forests(f, file, u, oc, why, len))
        return -1;
    u->rows = shape_of(f, g, "user", NULL);
    if (u->rows >= 0 && (want_matrix(f, file, g, pred, u->rows, u->arms - 1, "user rows x promotions", why, len) ||
                         want_matrix(f, file, g, "predicted_spend", u->rows, u->arms - 1, "user rows x promotions",
                                     why, len)))
        return -1;
    return 0;
}

int mkt_uplift_describe(hid_t f, const char *file, mkt_uplift_model *u, char *why, size_t len)
{
    memset(u, 0, sizeof *u);
    if (!mkt_h5_exists(f, MKT_MODELS_UPLIFT))
        return fail(why, len, "%s: no %s group", file, MKT_MODELS_UPLIFT);
    u->outcome = mkt_h5_attr_get_string(f, MKT_MODELS_UPLIFT, MKT_ATTR_OUTCOME);
    u->method = mkt_h5_attr_get_string(f, MKT_MODELS_UPLIFT, MKT_ATTR_METHOD);
    char *learner = mkt_h5_attr_get_string(f, MKT_MODELS_UPLIFT, "learner");
    u->gbdt = learner && !strcmp(learner, "gbdt");
    free(learner);
    if (uplift_check(f, file, u, why, len) == 0)
        return 0;
    mkt_uplift_model_free(u);
    return -1;
}

void mkt_uplift_model_free(mkt_uplift_model *u)
{
    free(u->outcome);
    free(u->method);
    u->outcome = u->method = NULL;
}

void mkt_uplift_save(hid_t f, const char *group, const mkt_uplift_save_args *a, MPI_Comm comm)
{
    const mkt_uplift_model *m = &a->model;
    int64_t T = m->arms, nt = T - 1, A = m->attrs;
    int root = rank_of(comm) == 0;
    char p[600], name[64];
    if (a->coef) { /* linear learners; a gbdt model's forests are written by the stage */
        snprintf(name, sizeof name, "coef_%s", m->outcome);
        mkt_h5_write_small(f, at(p, sizeof p, group, name), H5T_NATIVE_DOUBLE, a->coef, T, m->features, comm);
        mkt_h5_write_small(f, at(p, sizeof p, group, "coef_spend"), H5T_NATIVE_DOUBLE, a->coef_spend, T,
                           m->features, comm);
    }
    if (A > 0) {
        mkt_h5_write_small(f, at(p, sizeof p, group, "feature_spec"), H5T_NATIVE_DOUBLE, a->feature_spec, A,
                           UPLIFT_SPEC_COLS, comm);
        mkt_h5_write_strings(f, at(p, sizeof p, group, "attr_names"), a->attr_names, root ? A : 0, comm);
    }
    /* level names of the categorical attributes: eval --test maps another store's codes by name */
    for (int64_t j = 0; j < A; j++)
        if (a->level_names[j]) {
            char lpath[1400];
            snprintf(lpath, sizeof lpath, "%s/levels/%s", group, a->attr_names[j]);
            mkt_h5_write_strings(f, lpath, a->level_names[j], root ? a->n_levels[j] : 0, comm);
        }
    mkt_h5_write_strings(f, at(p, sizeof p, group, "arms"), a->arm_names, root ? T : 0, comm);
    mkt_h5_write_rows_at(f, at(p, sizeof p, group, "user"), H5T_NATIVE_INT32, a->user, a->begin, a->n, m->rows, 0,
                         comm);
    snprintf(name, sizeof name, "predicted_%s", m->outcome);
    mkt_h5_write_rows_at(f, at(p, sizeof p, group, name), H5T_NATIVE_DOUBLE, a->predicted, a->begin, a->n, m->rows,
                         nt, comm);
    mkt_h5_write_rows_at(f, at(p, sizeof p, group, "predicted_spend"), H5T_NATIVE_DOUBLE, a->predicted_spend,
                         a->begin, a->n, m->rows, nt, comm);
    /* 1 = the row is held out (a hash of seed and user: the same on any rank count) */
    mkt_h5_write_rows_at(f, at(p, sizeof p, group, "holdout"), H5T_NATIVE_INT8, a->held_out, a->begin, a->n,
                         m->rows, 0, comm);
    mkt_h5_attr_set_string(f, group, MKT_ATTR_METHOD, m->method);
    mkt_h5_attr_set_string(f, group, "design", a->design);
    mkt_h5_attr_set_string(f, group, MKT_ATTR_OUTCOME, m->outcome);
    mkt_h5_attr_set_int(f, group, MKT_ATTR_SEED, a->seed);
    mkt_h5_attr_set_double(f, group, MKT_ATTR_HOLDOUT, a->holdout);
    mkt_h5_attr_set_int(f, group, MKT_ATTR_FEATURES, m->features);
    mkt_h5_attr_set_int(f, group, MKT_ATTR_ATTRS, A);
    mkt_h5_attr_set_int(f, group, "rows", m->rows);
    mkt_h5_attr_set_int(f, group, MKT_ATTR_SCHEMA_VERSION, MKT_SCHEMA_VERSION);
}

/* ---------- regression ---------- */

static void save_doubles(hid_t f, const char *group, const char *name, const double *v, int64_t n, MPI_Comm comm)
{
    char p[600];
    mkt_h5_write_small(f, at(p, sizeof p, group, name), H5T_NATIVE_DOUBLE, v, n, 0, comm);
}

static void save_names(hid_t f, const char *group, const char *name, char *const *s, int64_t n, MPI_Comm comm)
{
    char p[600];
    mkt_h5_write_strings(f, at(p, sizeof p, group, name), s, rank_of(comm) == 0 ? n : 0, comm);
}

void mkt_effect_save(hid_t f, const char *group, const mkt_effect_save_args *a, MPI_Comm comm)
{
    save_doubles(f, group, "coef", a->coef, a->features, comm);
    save_doubles(f, group, "stderr", a->stderr_, a->features, comm);
    save_names(f, group, "names", a->names, a->features, comm);
    if (a->attrs > 0) {
        save_doubles(f, group, "attr_mean", a->attr_mean, a->attrs, comm);
        save_doubles(f, group, "attr_std", a->attr_std, a->attrs, comm);
        save_names(f, group, "attr_names", a->attr_names, a->attrs, comm);
    }
    save_names(f, group, "arms", a->arm_names, a->arms, comm);
    mkt_h5_attr_set_int(f, group, "n", a->n);
    mkt_h5_attr_set_string(f, group, MKT_ATTR_METHOD, a->method);
    mkt_h5_attr_set_string(f, group, MKT_ATTR_OUTCOME, "spend");
    mkt_h5_attr_set_int(f, group, MKT_ATTR_SCHEMA_VERSION, MKT_SCHEMA_VERSION);
}

void mkt_elasticity_save(hid_t f, const char *group, const mkt_elasticity_save_args *a, MPI_Comm comm)
{
    char p[600];
    save_doubles(f, group, "elasticity", a->elasticity, a->categories, comm);
    save_doubles(f, group, "stderr", a->stderr_, a->categories, comm);
    mkt_h5_write_small(f, at(p, sizeof p, group, "n"), H5T_NATIVE_INT64, a->n, a->categories, 0, comm);
    save_names(f, group, "categories", a->names, a->categories, comm);
    mkt_h5_attr_set_string(f, group, MKT_ATTR_METHOD, a->method);
    mkt_h5_attr_set_int(f, group, MKT_ATTR_SCHEMA_VERSION, MKT_SCHEMA_VERSION);
}
