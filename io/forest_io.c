/* forest_io.c — a boosted-tree forest in a model file (forest_io.h).
 * Must not train or exit on a bad file. */
#include "forest_io.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "h5store.h"
#include "iocheck.h"

static int fail(char *why, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *why, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, len, fmt, ap);
    va_end(ap);
    return -1;
}

void mkt_forest_write(hid_t f, const char *group, const mkt_gbdt_model *m, MPI_Comm comm)
{
    char g[512], p[600];
    snprintf(g, sizeof g, "%s/%s", group, MKT_FOREST_GROUP);
    int64_t n = m->nodes;
    /* The group's nine links stay in its object header (compact storage,
     * checksummed) instead of a fractal heap, whose blocks carry no checksum:
     * a damaged file then fails its checksum instead of handing HDF5 a
     * corrupt link table. */
    hid_t lcpl = MKT_H5(H5Pcreate(H5P_LINK_CREATE)), gcpl = MKT_H5(H5Pcreate(H5P_GROUP_CREATE));
    MKT_H5(H5Pset_create_intermediate_group(lcpl, 1));
    MKT_H5(H5Pset_link_phase_change(gcpl, 32, 24));
    MKT_H5(H5Gclose(MKT_H5(H5Gcreate2(f, g, lcpl, gcpl, H5P_DEFAULT))));
    MKT_H5(H5Pclose(gcpl));
    MKT_H5(H5Pclose(lcpl));
#define W(name, type, data, rows)                                                                                  \
    do {                                                                                                           \
        snprintf(p, sizeof p, "%s/%s", g, name);                                                                   \
        mkt_h5_write_small(f, p, type, data, rows, 0, comm);                                                       \
    } while (0)
    W("tree_start", H5T_NATIVE_INT64, m->tree_start, (int64_t)m->trees + 1);
    W("feature", H5T_NATIVE_INT32, m->feature, n);
    W("left", H5T_NATIVE_INT32, m->left, n);
    W("right", H5T_NATIVE_INT32, m->right, n);
    W("default_left", H5T_NATIVE_INT8, m->default_left, n);
    W("threshold", H5T_NATIVE_DOUBLE, m->threshold, n);
    W("value", H5T_NATIVE_DOUBLE, m->value, n);
    W("gain", H5T_NATIVE_DOUBLE, m->gain, n);
    W("cover", H5T_NATIVE_DOUBLE, m->cover, n);
#undef W
    mkt_h5_attr_set_int(f, g, "features", m->d);
    mkt_h5_attr_set_int(f, g, "trees", m->trees);
    mkt_h5_attr_set_double(f, g, "base_score", m->base_score);
    mkt_h5_attr_set_string(f, g, "loss", m->loss == MKT_GBDT_SQUARED ? "squared" : "logistic");
}

int mkt_forest_exists(hid_t f, const char *group)
{
    char g[512];
    snprintf(g, sizeof g, "%s/%s", group, MKT_FOREST_GROUP);
    return mkt_h5_exists(f, g);
}

/* g/name must be a 1-D dataset of want rows. */
static int want(hid_t f, const char *file, const char *g, const char *name, int64_t rows, char *why, size_t len)
{
    char p[600];
    snprintf(p, sizeof p, "%s/%s", g, name);
    if (!mkt_h5_exists(f, p))
        return fail(why, len, "%s: %s is missing", file, p);
    int64_t cols = 0, r = mkt_h5_rows(f, p, &cols);
    if (cols > 1 || r != rows)
        return fail(why, len, "%s: %s has %lld x %lld values, expected %lld", file, p, (long long)r, (long long)cols,
                    (long long)rows);
    return 0;
}

int mkt_forest_read(hid_t f, const char *file, const char *group, int d, mkt_gbdt_model *m, char *why, size_t len)
{
    memset(m, 0, sizeof *m);
    char g[512], p[600];
    snprintf(g, sizeof g, "%s/%s", group, MKT_FOREST_GROUP);
    if (!mkt_h5_exists(f, g))
        return fail(why, len, "%s: no %s group", file, g);
    int64_t fd = mkt_h5_attr_get_int(f, g, "features", -1), trees = mkt_h5_attr_get_int(f, g, "trees", -1);
    double base = mkt_h5_attr_get_double(f, g, "base_score", NAN);
    char *loss = mkt_h5_attr_get_string(f, g, "loss");
    int lossv = loss && !strcmp(loss, "squared") ? MKT_GBDT_SQUARED : MKT_GBDT_LOGISTIC;
    int loss_ok = loss && (!strcmp(loss, "squared") || !strcmp(loss, "logistic"));
    free(loss);
    if (fd < 1 || fd > (1 << 24) || (d > 0 && fd != d))
        return fail(why, len, "%s: %s: attribute features = %lld, expected %d", file, g, (long long)fd, d);
    if (trees < 0 || trees > 1000000)
        return fail(why, len, "%s: %s: attribute trees = %lld is not in 0..1000000", file, g, (long long)trees);
    if (!loss_ok)
        return fail(why, len, "%s: %s: attribute loss is not logistic or squared", file, g);
    if (want(f, file, g, "tree_start", trees + 1, why, len))
        return -1;
    int64_t *ts = malloc((size_t)(trees + 1) * sizeof *ts);
    if (!ts)
        return fail(why, len, "%s: %s: out of memory", file, g);
    snprintf(p, sizeof p, "%s/tree_start", g);
    mkt_h5_read_rows(f, p, H5T_NATIVE_INT64, 0, trees + 1, ts);
    int64_t nodes = ts[trees];
    if (nodes < 0 || nodes > MKT_FOREST_MAX_NODES) {
        free(ts);
        return fail(why, len, "%s: %s/tree_start: node count %lld is not sane", file, g, (long long)nodes);
    }
    if (want(f, file, g, "feature", nodes, why, len) || want(f, file, g, "left", nodes, why, len) ||
        want(f, file, g, "right", nodes, why, len) || want(f, file, g, "default_left", nodes, why, len) ||
        want(f, file, g, "threshold", nodes, why, len) || want(f, file, g, "value", nodes, why, len) ||
        want(f, file, g, "gain", nodes, why, len) || want(f, file, g, "cover", nodes, why, len)) {
        free(ts);
        return -1;
    }
    if (mkt_gbdt_model_init(m, (int)fd, (mkt_gbdt_loss)lossv, base) || mkt_gbdt_model_reserve(m, nodes > 0 ? nodes : 1)) {
        free(ts);
        mkt_gbdt_model_free(m);
        return fail(why, len, "%s: %s: out of memory for %lld nodes", file, g, (long long)nodes);
    }
    if (mkt_gbdt_model_reserve_trees(m, (int)trees)) {
        free(ts);
        mkt_gbdt_model_free(m);
        return fail(why, len, "%s: %s: out of memory", file, g);
    }
    m->trees = (int)trees;
    memcpy(m->tree_start, ts, (size_t)(trees + 1) * sizeof *ts);
    free(ts);
    m->nodes = nodes;
#define R(name, type, data)                                                                                        \
    do {                                                                                                           \
        snprintf(p, sizeof p, "%s/%s", g, name);                                                                   \
        if (nodes > 0)                                                                                             \
            mkt_h5_read_rows(f, p, type, 0, nodes, data);                                                          \
    } while (0)
    R("feature", H5T_NATIVE_INT32, m->feature);
    R("left", H5T_NATIVE_INT32, m->left);
    R("right", H5T_NATIVE_INT32, m->right);
    R("default_left", H5T_NATIVE_INT8, m->default_left);
    R("threshold", H5T_NATIVE_DOUBLE, m->threshold);
    R("value", H5T_NATIVE_DOUBLE, m->value);
    R("gain", H5T_NATIVE_DOUBLE, m->gain);
    R("cover", H5T_NATIVE_DOUBLE, m->cover);
#undef R
    const char *bad = mkt_gbdt_check_model(m);
    if (bad) {
        fail(why, len, "%s: %s: %s", file, g, bad);
        mkt_gbdt_model_free(m);
        return -1;
    }
    return 0;
}
