/* validate.c — the check of a store, model or strategy file before use
 * (what and why: validate.h; the rules: docs/store.md, "Validation").
 *
 * Owns: the rule of each known dataset (shape, index range, finiteness, row
 * pointers), the partitioned read of every dataset that also verifies its
 * checksum, the first-error-wins reduction over ranks, and the cache of
 * files already checked.  Must not: exit (callers decide: mkt_h5_open ends
 * the job, the gateway's reload answers with an error and keeps serving). */
#include "validate.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "forest_io.h"
#include "iocheck.h"
#include "h5store.h"
#include "par.h"
#include "schema.h"

#define READ_ELEMS ((int64_t)1 << 20) /* elements read at once */
#define ANY (-1)
#define NO_LIMIT INT64_MAX

int64_t mkt_check_indptr(const int64_t *ptr, int64_t n, int64_t first, int64_t last, int64_t nnz)
{
    for (int64_t i = 0; i < n; i++)
        if (ptr[i] < 0 || ptr[i] > nnz || (i > 0 && ptr[i] < ptr[i - 1]))
            return i;
    if (n > 0 && first >= 0 && ptr[0] != first)
        return 0;
    if (n > 0 && last >= 0 && ptr[n - 1] != last)
        return n - 1;
    return -1;
}

int64_t mkt_check_index_range(const int64_t *v, int64_t n, int64_t lo, int64_t hi)
{
    for (int64_t i = 0; i < n; i++)
        if (v[i] < lo || v[i] >= hi)
            return i;
    return -1;
}

int64_t mkt_check_finite(const double *v, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(v[i]))
            return i;
    return -1;
}

/* ---------- the context: first error in check order ---------- */

typedef struct {
    hid_t f;
    const char *path;
    int rank, nranks;
    int64_t seq;     /* the number of the current check, the same on every rank */
    int64_t key;     /* seq << 40 | element of this rank's first error; INT64_MAX: none */
    char msg[768];
} vctx;

typedef struct {
    int64_t users, items, arms, categories, brands; /* -1: unknown */
} counts;

static void bad(vctx *c, int64_t elem, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void bad(vctx *c, int64_t elem, const char *fmt, ...)
{
    if (elem < 0)
        elem = 0;
    if (elem > ((int64_t)1 << 40) - 1)
        elem = ((int64_t)1 << 40) - 1;
    int64_t key = (c->seq << 40) | elem;
    if (key >= c->key)
        return;
    c->key = key;
    int n = snprintf(c->msg, sizeof c->msg, "%s: ", c->path);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->msg + n, sizeof c->msg - (size_t)n, fmt, ap);
    va_end(ap);
}

static herr_t collect_error(unsigned n, const H5E_error2_t *err, void *data)
{
    (void)n;
    char *out = data;
    const char *d = err->desc ? err->desc : "";
    /* the checksum message when there is one, else the innermost */
    if (out[0] == 0 || (strstr(d, "checksum") && !strstr(out, "checksum")))
        snprintf(out, 200, "%s", d);
    return 0;
}

/* Read rows [start, start + count) of a dataset (all columns) as mtype;
 * a failure is recorded as corruption of that dataset. */
static int vread(vctx *c, const char *name, hid_t mtype, int64_t start, int64_t count, int64_t cols, void *buf)
{
    if (count <= 0)
        return 0;
    hid_t d = H5Dopen2(c->f, name, H5P_DEFAULT);
    hid_t fs = d >= 0 ? H5Dget_space(d) : -1;
    int rc = -1;
    char msg[256] = "";
    if (fs >= 0) {
        int nd = H5Sget_simple_extent_ndims(fs);
        hsize_t st[2] = {(hsize_t)start, 0}, ct[2] = {(hsize_t)count, (hsize_t)(cols > 0 ? cols : 1)};
        hid_t ms = H5Screate_simple(nd < 2 ? 1 : 2, ct, NULL);
        if (ms >= 0 && H5Sselect_hyperslab(fs, H5S_SELECT_SET, st, NULL, ct, NULL) >= 0 &&
            H5Dread(d, mtype, ms, fs, H5P_DEFAULT, buf) >= 0)
            rc = 0;
        else /* now: the next library call clears the stack */
            H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, collect_error, msg);
        if (ms >= 0)
            H5Sclose(ms);
        H5Sclose(fs);
    }
    if (d >= 0)
        H5Dclose(d);
    if (rc < 0) {
        H5Eclear2(H5E_DEFAULT);
        bad(c, start * (cols > 0 ? cols : 1),
            "%s: rows %lld..%lld cannot be read (HDF5: %s): the raw data fail their checksum or the file is "
            "truncated (corrupt file)",
            name, (long long)start, (long long)(start + count - 1), msg[0] ? msg : "read failed");
    }
    return rc;
}

/* ---------- one dataset: shape, then every value ---------- */

enum { K_NONE, K_FINITE, K_RANGE, K_INDPTR, K_NO_INF };

typedef struct {
    int kind;
    int64_t rows, cols;  /* expected (ANY: not checked); cols 0: 1-D */
    int64_t lo, hi;      /* K_RANGE: lo <= v < hi; K_INDPTR: hi = nnz */
    const char *what;    /* K_RANGE: what the values index, for the message */
} rule;

static int64_t dims_of(hid_t f, const char *name, int64_t *cols, int *ndims, H5T_class_t *cls)
{
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    if (d < 0)
        return -1;
    hid_t s = H5Dget_space(d), t = H5Dget_type(d);
    hsize_t dims[8] = {0, 0};
    int nd = s >= 0 ? H5Sget_simple_extent_dims(s, dims, NULL) : -1;
    *ndims = nd;
    *cls = t >= 0 ? H5Tget_class(t) : H5T_NO_CLASS;
    *cols = nd >= 2 ? (int64_t)dims[1] : 0;
    if (nd > 2)
        for (int i = 2; i < nd; i++)
            *cols *= (int64_t)dims[i];
    if (s >= 0)
        H5Sclose(s);
    if (t >= 0)
        H5Tclose(t);
    H5Dclose(d);
    return nd == 0 ? 1 : (int64_t)dims[0];
}

/* The dataset's shape, schema version and type class against its rule;
 * returns -1 (reported) when its values are not to be read. */
static int check_form(vctx *c, const char *name, const rule *r, int64_t *rows_out, int64_t *cols_out,
                      H5T_class_t *cls_out)
{
    int64_t cols = 0;
    int nd = 0;
    H5T_class_t cls = H5T_NO_CLASS;
    int64_t rows = dims_of(c->f, name, &cols, &nd, &cls);
    if (rows < 0) {
        bad(c, 0, "%s cannot be opened (corrupt file)", name);
        return -1;
    }
    if (nd > 2) {
        bad(c, 0, "%s has %d dimensions, mkt writes 1 or 2", name, nd);
        return -1;
    }
    int64_t ver = mkt_h5_attr_get_int(c->f, name, "schema_version", MKT_SCHEMA_VERSION);
    if (ver != MKT_SCHEMA_VERSION) {
        bad(c, 0, "%s has schema version %lld, this mkt reads version %d", name, (long long)ver, MKT_SCHEMA_VERSION);
        return -1;
    }
    if ((r->rows != ANY && rows != r->rows) || (r->cols != ANY && cols != r->cols)) {
        char want[64];
        if (r->cols > 0)
            snprintf(want, sizeof want, "%lld x %lld", (long long)r->rows, (long long)r->cols);
        else if (r->cols == 0)
            snprintf(want, sizeof want, "%lld rows", (long long)r->rows);
        else
            snprintf(want, sizeof want, "%lld rows", (long long)r->rows);
        if (r->rows == ANY && r->cols > 0)
            snprintf(want, sizeof want, "%lld columns", (long long)r->cols);
        bad(c, 0, "%s is %lld x %lld, expected %s (the recorded counts)", name, (long long)rows, (long long)cols, want);
        return -1;
    }
    int numeric = cls == H5T_INTEGER || cls == H5T_FLOAT;
    if (r->kind != K_NONE && !numeric) {
        bad(c, 0, "%s is not a numeric dataset", name);
        return -1;
    }
    if ((r->kind == K_FINITE || r->kind == K_NO_INF) && cls != H5T_FLOAT) {
        bad(c, 0, "%s is not a floating-point dataset", name);
        return -1;
    }
    if ((r->kind == K_RANGE || r->kind == K_INDPTR) && cls != H5T_INTEGER) {
        bad(c, 0, "%s is not an integer dataset", name);
        return -1;
    }
    *rows_out = rows;
    *cols_out = cols;
    *cls_out = cls;
    return 0;
}

/* The memory type the rule reads the dataset as (else the file's own
 * bytes); -2 for a variable-length string mkt does not write (skipped), -1
 * when unreadable. */
static hid_t read_type(vctx *c, const char *name, const rule *r, H5T_class_t cls)
{
    hid_t mtype;
    if (r->kind == K_FINITE || r->kind == K_NO_INF)
        mtype = H5Tcopy(H5T_NATIVE_DOUBLE);
    else if (r->kind != K_NONE)
        mtype = H5Tcopy(H5T_NATIVE_INT64);
    else {
        hid_t d = H5Dopen2(c->f, name, H5P_DEFAULT);
        hid_t ft = d >= 0 ? H5Dget_type(d) : -1;
        mtype = ft >= 0 ? (cls == H5T_STRING || cls == H5T_COMPOUND ? H5Tcopy(ft) : H5Tget_native_type(ft, H5T_DIR_ASCEND)) : -1;
        if (ft >= 0)
            H5Tclose(ft);
        if (d >= 0)
            H5Dclose(d);
        if (mtype >= 0 && H5Tis_variable_str(mtype) > 0) { /* not written by mkt; read as is would allocate */
            H5Tclose(mtype);
            return -2;
        }
    }
    return mtype;
}

/* The values of rows [r0, r0 + n) (in buf) against the rule; *prev is the
 * last row pointer seen.  Returns -1 (reported) at the first bad value. */
static int check_values(vctx *c, const char *name, const rule *r, const char *buf, int64_t r0, int64_t n, int64_t w,
                        int64_t cols, int64_t rows, int64_t *prev)
{
    int64_t m = n * w, at;
    if (r->kind == K_NO_INF)
        for (at = 0; at < m; at++)
            if (isinf(((double *)buf)[at])) {
                bad(c, r0 * w + at, "%s[%lld] is %g: only finite numbers (or NaN: no estimate) belong here", name,
                    (long long)(r0 * w + at), ((double *)buf)[at]);
                return -1;
            }
    if (r->kind == K_FINITE && (at = mkt_check_finite((const double *)buf, m)) >= 0) {
        int64_t e = r0 * w + at;
        if (cols > 0)
            bad(c, e, "%s[%lld][%lld] is %g, not a finite number", name, (long long)(e / w), (long long)(e % w),
                ((double *)buf)[at]);
        else
            bad(c, e, "%s[%lld] is %g, not a finite number", name, (long long)e, ((double *)buf)[at]);
        return -1;
    }
    if (r->kind == K_RANGE && (at = mkt_check_index_range((const int64_t *)buf, m, r->lo, r->hi)) >= 0) {
        int64_t e = r0 * w + at;
        char hi[48] = "";
        if (r->hi != NO_LIMIT)
            snprintf(hi, sizeof hi, "..%lld", (long long)r->hi - 1);
        bad(c, e, "%s[%lld] = %lld is out of range: not one of the %s %lld%s", name, (long long)e,
            (long long)((int64_t *)buf)[at], r->what, (long long)r->lo, hi);
        return -1;
    }
    if (r->kind == K_INDPTR) {
        const int64_t *p = (const int64_t *)buf;
        if (*prev >= 0 && p[0] < *prev) {
            bad(c, r0, "%s[%lld] = %lld is below the row before it (%lld): row pointers must not decrease", name,
                (long long)r0, (long long)p[0], (long long)*prev);
            return -1;
        }
        at = mkt_check_indptr(p, n, r0 == 0 ? 0 : -1, r0 + n == rows ? r->hi : -1, r->hi);
        if (at >= 0) {
            int64_t e = r0 + at;
            const char *how = p[at] < 0 || p[at] > r->hi ? "outside the events"
                              : e == 0                   ? "not 0 (the first row pointer)"
                              : e == rows - 1            ? "not the event count"
                                                         : "below the row before it";
            bad(c, e, "%s[%lld] = %lld is %s (%lld events): not a row pointer", name, (long long)e,
                (long long)p[at], how, (long long)r->hi);
            return -1;
        }
        *prev = p[n - 1];
    }
    return 0;
}

static void check_dataset(vctx *c, const char *name, const rule *r)
{
    c->seq++;
    int64_t rows, cols;
    H5T_class_t cls;
    if (check_form(c, name, r, &rows, &cols, &cls) != 0)
        return;
    int64_t w = cols > 0 ? cols : 1;
    hid_t mtype = read_type(c, name, r, cls);
    if (mtype == -2)
        return;
    if (mtype < 0) {
        bad(c, 0, "%s has a type this mkt cannot read", name);
        return;
    }
    size_t esize = H5Tget_size(mtype);
    /* rank's rows; an indptr block also reads the next rank's first row */
    mkt_block b = mkt_block_of(rows, c->nranks, c->rank);
    int64_t step = READ_ELEMS / w > 0 ? READ_ELEMS / w : 1;
    char *buf = mkt_xmalloc((size_t)(step + 1) * (size_t)w * esize);
    int64_t prev = -1;
    for (int64_t r0 = b.begin; r0 < b.end; r0 += step) {
        int64_t n = b.end - r0 < step ? b.end - r0 : step;
        if (vread(c, name, mtype, r0, n, cols, buf) < 0)
            break;
        if (check_values(c, name, r, buf, r0, n, w, cols, rows, &prev) != 0)
            break;
    }
    /* the last row of a block must not exceed the first of the next */
    if (r->kind == K_INDPTR && b.end < rows && b.end > b.begin && prev >= 0) {
        int64_t next;
        if (vread(c, name, mtype, b.end, 1, 0, &next) == 0 && next < prev)
            bad(c, b.end, "%s[%lld] = %lld is below the row before it (%lld): row pointers must not decrease", name,
                (long long)b.end, (long long)next, (long long)prev);
    }
    free(buf);
    H5Tclose(mtype);
}

/* Each row u of an event group: its own-id column (user of by_user) equals
 * u over rows indptr[u]..indptr[u+1].  Read only where this rank's row
 * pointers are sound (the row pointer check, numbered earlier, reports
 * the rest). */
static void check_rows_own(vctx *c, const char *grp, const char *own, int64_t nrows, int64_t nnz)
{
    c->seq++;
    char ip[96], col[96];
    snprintf(ip, sizeof ip, "%s/indptr", grp);
    snprintf(col, sizeof col, "%s/%s", grp, own);
    mkt_block b = mkt_block_of(nrows, c->nranks, c->rank);
    if (b.end <= b.begin)
        return;
    int64_t n = b.end - b.begin;
    int64_t *p = mkt_xmalloc((size_t)(n + 1) * sizeof *p);
    int64_t saved = c->key;
    if (vread(c, ip, H5T_NATIVE_INT64, b.begin, n + 1, 0, p) < 0 || mkt_check_indptr(p, n + 1, -1, -1, nnz) >= 0) {
        c->key = saved < c->key ? saved : c->key;
        free(p);
        return;
    }
    int64_t *v = mkt_xmalloc(sizeof *v * (size_t)(READ_ELEMS));
    int64_t row = 0;
    for (int64_t e0 = p[0]; e0 < p[n]; e0 += READ_ELEMS) {
        int64_t m = p[n] - e0 < READ_ELEMS ? p[n] - e0 : READ_ELEMS;
        if (vread(c, col, H5T_NATIVE_INT64, e0, m, 0, v) < 0)
            break;
        int stop = 0;
        for (int64_t j = 0; j < m && !stop; j++) {
            while (p[row + 1] <= e0 + j)
                row++;
            if (v[j] != b.begin + row) {
                bad(c, e0 + j, "%s[%lld] = %lld, but %s/indptr puts the event in row %lld (corrupt file)", col,
                    (long long)(e0 + j), (long long)v[j], grp, (long long)(b.begin + row));
                stop = 1;
            }
        }
        if (stop)
            break;
    }
    free(v);
    free(p);
}

/* ---------- the rules of the known datasets ---------- */

static int64_t rows_if(hid_t f, const char *name)
{
    if (!mkt_h5_exists(f, name))
        return -1;
    int64_t cols = 0;
    int nd = 0;
    H5T_class_t cls;
    return dims_of(f, name, &cols, &nd, &cls);
}

static int64_t cols_if(hid_t f, const char *name)
{
    int64_t cols = ANY;
    int nd = 0;
    H5T_class_t cls;
    if (mkt_h5_exists(f, name) && dims_of(f, name, &cols, &nd, &cls) < 0)
        cols = ANY;
    return cols;
}

static int starts(const char *s, const char *p) { return strncmp(s, p, strlen(p)) == 0; }
static const char *leaf(const char *s) { const char *l = strrchr(s, '/'); return l ? l + 1 : s; }

static rule rule_range(int64_t rows, int64_t lo, int64_t hi, const char *what)
{
    rule r = {K_RANGE, rows, ANY, lo, hi < 0 ? NO_LIMIT : hi, what};
    return r;
}

/* The rule for dataset `name` (absolute path). */
static rule rule_for(hid_t f, const char *name, const counts *n)
{
    rule none = {K_NONE, ANY, ANY, 0, 0, NULL}, fin = {K_FINITE, ANY, ANY, 0, 0, NULL};
    const char *l = leaf(name);
    if (starts(name, "/events/by_user/") || starts(name, "/events/by_item/")) {
        char grp[32];
        snprintf(grp, sizeof grp, "%.15s", name);
        char ucol[64];
        snprintf(ucol, sizeof ucol, "%s/user", grp);
        int64_t E = rows_if(f, ucol);
        int by_user = strstr(name, "by_user") != NULL;
        if (!strcmp(l, "indptr")) {
            int64_t side = by_user ? n->users : n->items;
            rule r = {K_INDPTR, side >= 0 ? side + 1 : ANY, 0, 0, E < 0 ? 0 : E, NULL};
            return r;
        }
        if (!strcmp(l, "user"))
            return rule_range(E, 0, n->users, "user indices");
        if (!strcmp(l, "item"))
            return rule_range(E, 0, n->items, "item indices");
        if (!strcmp(l, "type"))
            return rule_range(E, 0, 6, "event types");
        if (!strcmp(l, "value")) {
            fin.rows = E;
            fin.cols = 0;
            return fin;
        }
        none.rows = E;
        return none;
    }
    if (starts(name, "/items/")) {
        if (!strcmp(l, "price") || !strcmp(l, "cost")) {
            fin.rows = n->items;
            return fin;
        }
        if (!strcmp(l, "category"))
            return rule_range(n->items, 0, n->categories, "category codes");
        if (!strcmp(l, "brand"))
            return rule_range(n->items, 0, n->brands, "brand codes");
        none.rows = n->items;
        return none;
    }
    if (starts(name, "/campaigns/") && !starts(name, "/campaigns/levels/") && strcmp(l, "attr_names") != 0) {
        int64_t N = rows_if(f, MKT_CAMPAIGNS_TREATMENT);
        if (!strcmp(l, "treatment"))
            return rule_range(N, 0, n->arms, "arms of /ids/treatments");
        if (!strcmp(l, "visit") || !strcmp(l, "conversion"))
            return rule_range(N, 0, 2, "outcomes");
        if (!strcmp(l, "user"))
            return rule_range(N, 0, -1, "non-negative users");
        if (!strcmp(l, "spend")) {
            fin.rows = N;
            return fin;
        }
        if (!strcmp(l, "attrs")) { /* NaN: a missing value (an empty cell, never bought) */
            fin.rows = N;
            fin.cols = rows_if(f, MKT_CAMPAIGNS_ATTR_NAMES);
            fin.kind = K_NO_INF;
            return fin;
        }
        none.rows = N;
        return none;
    }
    if (!strcmp(name, MKT_USERS_ATTRS)) {
        fin.rows = n->users;
        fin.cols = rows_if(f, MKT_USERS_ATTR_NAMES);
        return fin;
    }
    if (starts(name, MKT_FEATURES) && (!strcmp(l, "users") || !strcmp(l, "items"))) {
        fin.rows = !strcmp(l, "users") ? n->users : n->items;
        return fin;
    }
    if (!strcmp(name, MKT_MODELS_MF_USER_FACTORS) || !strcmp(name, MKT_MODELS_MF_USER_BIAS) ||
        !strcmp(name, MKT_MODELS_MF_ITEM_FACTORS) || !strcmp(name, MKT_MODELS_MF_ITEM_BIAS)) {
        int user = strstr(name, "/user_") != NULL;
        int64_t rows = mkt_h5_attr_get_int(f, MKT_MODELS_MF, user ? "users" : "items",
                                           rows_if(f, user ? MKT_MODELS_MF_USER_FACTORS : MKT_MODELS_MF_ITEM_FACTORS));
        fin.rows = rows;
        fin.cols = strstr(name, "factors") ? cols_if(f, MKT_MODELS_MF_USER_FACTORS) : 0;
        return fin;
    }
    if (!strcmp(name, MKT_MODELS_SEGMENTS_ASSIGNMENT)) {
        int64_t users = mkt_h5_attr_get_int(f, MKT_MODELS_SEGMENTS, "users", ANY);
        return rule_range(users, 0, rows_if(f, MKT_MODELS_SEGMENTS_NAMES), "segments of /models/segments/names");
    }
    if (starts(name, "/models/") && !strcmp(l, "user"))
        return rule_range(ANY, 0, n->users, "user indices");
    if (starts(name, "/strategy/")) {
        int64_t U = rows_if(f, MKT_STRATEGY_USER);
        if (!strcmp(name, MKT_STRATEGY_USER))
            return rule_range(ANY, 0, n->users, "user indices");
        if (!strcmp(name, MKT_STRATEGY_ITEMS))
            return rule_range(U, -1, n->items, "item indices (or -1)");
        if (!strcmp(name, MKT_STRATEGY_PROMOTION))
            return rule_range(U, -1, rows_if(f, MKT_STRATEGY_ARMS), "arms of /strategy/arms (or -1)");
        if (!strcmp(name, MKT_STRATEGY_SEGMENT))
            return rule_range(U, -1, -1, "segments (or -1)");
        if (starts(name, "/strategy/totals/") || starts(name, "/strategy/ope/"))
            return none; /* policy comparisons: undefined values are NaN */
    }
    /* every other floating-point dataset the math reads */
    if (starts(name, "/models/") || starts(name, "/strategy/") || starts(name, "/truth/") ||
        (starts(name, MKT_FEATURES) && strstr(l, "stats"))) {
        int64_t cols;
        int nd;
        H5T_class_t cls = H5T_NO_CLASS;
        dims_of(f, name, &cols, &nd, &cls);
        /* NaN is "no estimate" in elasticities, standard errors and
         * reported metrics (readers fall back on it); infinities never are */
        if (cls == H5T_FLOAT && (!strcmp(l, "elasticity") || !strcmp(l, "stderr") || starts(l, "metrics"))) {
            fin.kind = K_NO_INF;
            return fin;
        }
        if (cls == H5T_FLOAT)
            return fin;
    }
    return none;
}

/* ---------- the walk ---------- */

typedef struct {
    char **names;
    int64_t n, cap;
    hid_t f;
    int64_t attr_errors;
    char attr_msg[400];
} name_list;

static herr_t read_attr(hid_t loc, const char *name, const H5A_info_t *info, void *data)
{
    (void)info;
    name_list *l = data;
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    hid_t t = a >= 0 ? H5Aget_type(a) : -1, s = a >= 0 ? H5Aget_space(a) : -1;
    int ok = 0;
    if (t >= 0 && s >= 0 && H5Tis_variable_str(t) <= 0) {
        hssize_t n = H5Sget_simple_extent_npoints(s);
        size_t bytes = (size_t)(n > 0 ? n : 1) * H5Tget_size(t);
        void *buf = bytes < ((size_t)1 << 26) ? calloc(1, bytes) : NULL;
        ok = buf && H5Aread(a, t, buf) >= 0;
        free(buf);
    } else if (t >= 0 && s >= 0) {
        ok = 1; /* variable-length strings: not written by mkt, not read as numbers */
    }
    if (s >= 0)
        H5Sclose(s);
    if (t >= 0)
        H5Tclose(t);
    if (a >= 0)
        H5Aclose(a);
    if (!ok && l->attr_errors++ == 0)
        snprintf(l->attr_msg, sizeof l->attr_msg, "attribute '%.100s' cannot be read", name);
    if (!ok)
        H5Eclear2(H5E_DEFAULT);
    return 0;
}

static herr_t collect(hid_t obj, const char *name, const H5O_info_t *info, void *data)
{
    name_list *l = data;
    /* every attribute of every object read once: a checksum that fails in
     * the metadata must not turn into a default value later */
    hsize_t idx = 0;
    int64_t before = l->attr_errors;
    char first[200] = "";
    if (H5Aiterate_by_name(obj, name, H5_INDEX_NAME, H5_ITER_INC, &idx, read_attr, l, H5P_DEFAULT) < 0) {
        H5Eclear2(H5E_DEFAULT);
        if (l->attr_errors == before) {
            l->attr_errors++;
            snprintf(l->attr_msg, sizeof l->attr_msg, "the attributes cannot be read");
        }
    }
    if (before == 0 && l->attr_errors > 0) {
        snprintf(first, sizeof first, "%.199s", l->attr_msg);
        snprintf(l->attr_msg, sizeof l->attr_msg, "/%.150s: %s (corrupt file)", strcmp(name, ".") ? name : "", first);
    }
    if (info->type != H5O_TYPE_DATASET)
        return 0;
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        l->names = realloc(l->names, sizeof(char *) * (size_t)l->cap);
        if (!l->names)
            mkt_fail("out of memory listing datasets");
    }
    size_t len = strlen(name) + 2;
    l->names[l->n] = mkt_xmalloc(len);
    snprintf(l->names[l->n], len, "/%s", name);
    l->n++;
    return 0;
}

/* Collective. The structure of every boosted-tree forest (GROUP/forest,
 * forest_io.h: counts, tree bounds, children inside their tree and after
 * their parent), checked on rank 0 once every dataset read sound, so a
 * forest that would send prediction out of bounds is refused here too. */
static void check_forests(vctx *c, const name_list *l, MPI_Comm comm)
{
    int64_t key = c->key, first = INT64_MAX;
    MKT_MPI(MPI_Allreduce(&key, &first, 1, MPI_INT64_T, MPI_MIN, comm));
    const char *tail = "/" MKT_FOREST_GROUP "/tree_start";
    size_t tl = strlen(tail), pl = strlen(c->path);
    for (int64_t i = 0; i < l->n; i++) {
        size_t n = strlen(l->names[i]);
        if (n <= tl || strcmp(l->names[i] + n - tl, tail) != 0)
            continue;
        c->seq++;
        if (first != INT64_MAX || c->rank != 0)
            continue;
        char group[512], why[600];
        snprintf(group, sizeof group, "%.*s", (int)(n - tl), l->names[i]);
        /* forest_io reads its arrays as numbers of one dimension: anything else is reported here */
        static const char *const arrays[] = {"tree_start", "feature", "left", "right", "default_left",
                                             "threshold", "value", "gain", "cover"};
        int sound = 1;
        for (size_t a = 0; a < sizeof arrays / sizeof *arrays && sound; a++) {
            char ds[600];
            snprintf(ds, sizeof ds, "%s/%s/%s", group, MKT_FOREST_GROUP, arrays[a]);
            int64_t cols = 0;
            int nd = 0;
            H5T_class_t cls = H5T_NO_CLASS;
            if (mkt_h5_exists(c->f, ds) && (dims_of(c->f, ds, &cols, &nd, &cls) < 0 || nd != 1 ||
                                            (cls != H5T_INTEGER && cls != H5T_FLOAT))) {
                bad(c, 0, "%s is not a one-dimensional numeric dataset (a forest array)", ds);
                sound = 0;
            }
        }
        if (!sound)
            continue;
        mkt_gbdt_model m;
        if (mkt_forest_read(c->f, c->path, group, 0, &m, why, sizeof why) != 0) {
            /* its message starts with the file's name, which bad() adds */
            const char *w = strncmp(why, c->path, pl) == 0 && !strncmp(why + pl, ": ", 2) ? why + pl + 2 : why;
            bad(c, 0, "%s", w);
        }
        mkt_gbdt_model_free(&m);
    }
}

/* Collective: the lowest error key over ranks, its message on every rank. */
static int reduce(vctx *c, MPI_Comm comm, char *why, size_t len)
{
    struct {
        long v;
        int r;
    } in = {(long)c->key, c->rank}, out;
    MKT_MPI(MPI_Allreduce(&in, &out, 1, MPI_LONG_INT, MPI_MINLOC, comm));
    if (out.v == (long)INT64_MAX)
        return 0;
    MKT_MPI(MPI_Bcast(c->msg, sizeof c->msg, MPI_CHAR, out.r, comm));
    snprintf(why, len, "%s", c->msg);
    return -1;
}

int mkt_validate_file(hid_t f, const char *path, MPI_Comm comm, char *why, size_t len)
{
    vctx c = {.f = f, .path = path, .seq = 0, .key = INT64_MAX};
    MKT_MPI(MPI_Comm_rank(comm, &c.rank));
    MKT_MPI(MPI_Comm_size(comm, &c.nranks));
    why[0] = 0;
    counts n = {rows_if(f, MKT_IDS_USERS), rows_if(f, MKT_IDS_ITEMS), rows_if(f, MKT_IDS_TREATMENTS),
                rows_if(f, MKT_IDS_CATEGORIES), rows_if(f, MKT_IDS_BRANDS)};
    /* a model or strategy file knows its users and items from its attributes */
    if (n.users < 0)
        n.users = mkt_h5_attr_get_int(f, MKT_MODELS_MF, "users", -1);
    if (n.items < 0)
        n.items = mkt_h5_attr_get_int(f, MKT_MODELS_MF, "items", -1);
    name_list l = {0};
    l.f = f;
    c.seq++;
    if (H5Ovisit(f, H5_INDEX_NAME, H5_ITER_INC, collect, &l) < 0) {
        H5Eclear2(H5E_DEFAULT);
        bad(&c, 0, "the file's groups cannot be listed (corrupt file)");
    }
    c.seq++;
    if (l.attr_errors)
        bad(&c, 0, "%s", l.attr_msg);
    double gm = mkt_h5_attr_get_double(f, MKT_MODELS_MF, "global_mean", 0.0);
    c.seq++;
    if (!isfinite(gm))
        bad(&c, 0, "/models/mf: attribute global_mean is %g, not a finite number", gm);
    for (int64_t i = 0; i < l.n; i++) {
        rule r = rule_for(f, l.names[i], &n);
        check_dataset(&c, l.names[i], &r);
        if (r.kind == K_INDPTR) {
            int by_user = strstr(l.names[i], "by_user") != NULL;
            int64_t side = by_user ? n.users : n.items;
            char grp[32];
            snprintf(grp, sizeof grp, "%.15s", l.names[i]);
            if (side >= 0)
                check_rows_own(&c, grp, by_user ? "user" : "item", side, r.hi);
        }
    }
    /* both orders of the events hold the same events */
    c.seq++;
    int64_t eu = rows_if(f, MKT_EVENTS_BY_USER_USER), ei = rows_if(f, MKT_EVENTS_BY_ITEM_ITEM);
    if (eu >= 0 && ei >= 0 && eu != ei)
        bad(&c, 0, "/events/by_user holds %lld events, /events/by_item %lld (corrupt file)", (long long)eu,
            (long long)ei);
    check_forests(&c, &l, comm);
    for (int64_t i = 0; i < l.n; i++)
        free(l.names[i]);
    free(l.names);
    return reduce(&c, comm, why, len);
}

/* ---------- files already checked ---------- */

#define CACHE 32
static struct {
    int64_t dev, ino, size, mtime_ns;
} cache[CACHE];
static int cache_n;

/* Rank 0's view of the file's identity, on every rank; 0 when stat fails. */
static int identity(const char *path, int64_t id[4], MPI_Comm comm)
{
    int rank;
    MKT_MPI(MPI_Comm_rank(comm, &rank));
    int64_t v[5] = {0};
    struct stat st;
    if (rank == 0 && stat(path, &st) == 0) {
        v[0] = 1;
        v[1] = (int64_t)st.st_dev;
        v[2] = (int64_t)st.st_ino;
        v[3] = (int64_t)st.st_size;
        v[4] = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    }
    MKT_MPI(MPI_Bcast(v, 5, MPI_INT64_T, 0, comm));
    memcpy(id, v + 1, 4 * sizeof *id);
    return (int)v[0];
}

/* Collective: 1 when every rank of comm has checked this version of the
 * file (ranks of a sub-communicator may have different histories). */
static int cached(const int64_t id[4], MPI_Comm comm)
{
    int mine = 0, all = 0;
    for (int i = 0; i < cache_n && !mine; i++)
        if (cache[i].dev == id[0] && cache[i].ino == id[1] && cache[i].size == id[2] && cache[i].mtime_ns == id[3])
            mine = 1;
    MKT_MPI(MPI_Allreduce(&mine, &all, 1, MPI_INT, MPI_MIN, comm));
    return all;
}

static void remember(const int64_t id[4])
{
    int at = cache_n < CACHE ? cache_n++ : (int)(id[1] % CACHE);
    cache[at].dev = id[0];
    cache[at].ino = id[1];
    cache[at].size = id[2];
    cache[at].mtime_ns = id[3];
}

int mkt_validate_open_file(hid_t f, const char *path, MPI_Comm comm, char *why, size_t len)
{
    int64_t id[4];
    int known = identity(path, id, comm);
    if (known && cached(id, comm))
        return 0;
    int rc = mkt_validate_file(f, path, comm, why, len);
    if (rc == 0 && known)
        remember(id);
    return rc;
}

int mkt_validate_path(const char *path, MPI_Comm comm, char *why, size_t len)
{
    int64_t id[4];
    int known = identity(path, id, comm);
    if (known && cached(id, comm))
        return 0;
    hid_t fapl = MKT_H5(H5Pcreate(H5P_FILE_ACCESS));
    MKT_H5(H5Pset_fapl_mpio(fapl, comm, MPI_INFO_NULL));
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, fapl);
    H5Pclose(fapl);
    int ok = f >= 0, all = 0;
    MKT_MPI(MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, comm));
    if (!all) {
        H5Eclear2(H5E_DEFAULT);
        if (f >= 0)
            H5Fclose(f);
        snprintf(why, len, "%s: HDF5 cannot open it; the file is truncated or corrupt", path);
        return -1;
    }
    int rc = mkt_validate_file(f, path, comm, why, len);
    H5Fclose(f);
    if (rc == 0 && known)
        remember(id);
    return rc;
}
