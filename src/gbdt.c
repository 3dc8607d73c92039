/* gbdt.c — the boosted-tree model and the pure pieces of its training
 * (gbdt.h).  Must not call MPI, touch files or print. */
#include "gbdt.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_message.h"

static _Thread_local char check_message[200];

void mkt_gbdt_config_defaults(mkt_gbdt_config *c)
{
    memset(c, 0, sizeof *c);
    c->rounds = 300;
    c->max_depth = 6;
    c->max_leaves = 0;
    c->grow = "depthwise";
    c->eta = 0.1;
    c->lambda = 1.0;
    c->gamma = 0.0;
    c->min_child_weight = 1.0;
    c->max_bins = 255;
    c->subsample = 1.0;
    c->colsample = 1.0;
    c->early_stop = 20;
    c->loss = "logistic";
    c->sketch_rows = 200000;
    c->seed = 42;
}

const char *mkt_gbdt_check_config(const mkt_gbdt_config *c)
{
#define CHECK(cond, ...) MKT_CHECK_MSG(check_message, cond, __VA_ARGS__)
    CHECK(c->rounds >= 1 && c->rounds <= 100000, "rounds: %d is not in [1, 100000]", c->rounds);
    CHECK(c->max_depth >= 1 && c->max_depth <= MKT_GBDT_MAX_DEPTH, "depth: %d is not in [1, %d]", c->max_depth,
          MKT_GBDT_MAX_DEPTH);
    CHECK(c->max_leaves == 0 || (c->max_leaves >= 2 && c->max_leaves <= (1 << 20)),
          "leaves: %d is not 0 (no cap) or in [2, 1048576]", c->max_leaves);
    CHECK(c->grow && (!strcmp(c->grow, "depthwise") || !strcmp(c->grow, "lossguide")),
          "grow: '%s' is not depthwise or lossguide", c->grow ? c->grow : "");
    CHECK(isfinite(c->eta) && c->eta > 0 && c->eta <= 1, "eta: %g is not in (0, 1]", c->eta);
    CHECK(isfinite(c->lambda) && c->lambda >= 0 && c->lambda <= 1e6, "lambda: %g is not in [0, 1e6]", c->lambda);
    CHECK(isfinite(c->gamma) && c->gamma >= 0, "gamma: %g is not a number >= 0", c->gamma);
    CHECK(isfinite(c->min_child_weight) && c->min_child_weight >= 0, "min-child-weight: %g is not a number >= 0",
          c->min_child_weight);
    CHECK(c->max_bins >= 2 && c->max_bins <= MKT_GBDT_MAX_BINS, "bins: %d is not in [2, %d]", c->max_bins,
          MKT_GBDT_MAX_BINS);
    CHECK(isfinite(c->subsample) && c->subsample > 0 && c->subsample <= 1, "subsample: %g is not in (0, 1]",
          c->subsample);
    CHECK(isfinite(c->colsample) && c->colsample > 0 && c->colsample <= 1, "colsample: %g is not in (0, 1]",
          c->colsample);
    CHECK(c->early_stop >= 0, "early-stop: %d is not >= 0", c->early_stop);
    CHECK(c->loss && (!strcmp(c->loss, "logistic") || !strcmp(c->loss, "squared")),
          "loss: '%s' is not logistic or squared", c->loss ? c->loss : "");
    CHECK(c->sketch_rows >= 1000, "sketch-rows: %lld is not >= 1000", (long long)c->sketch_rows);
#undef CHECK
    return NULL;
}

mkt_gbdt_loss mkt_gbdt_config_loss(const mkt_gbdt_config *c)
{
    return c->loss && !strcmp(c->loss, "squared") ? MKT_GBDT_SQUARED : MKT_GBDT_LOGISTIC;
}

/* ---------- the model ---------- */

int mkt_gbdt_model_init(mkt_gbdt_model *m, int d, mkt_gbdt_loss loss, double base_score)
{
    memset(m, 0, sizeof *m);
    m->d = d;
    m->loss = loss;
    m->base_score = base_score;
    m->tree_start = calloc(1, sizeof *m->tree_start);
    return m->tree_start ? 0 : -1;
}

static int grow_array(void **p, size_t elem, int64_t n)
{
    void *q = realloc(*p, (size_t)n * elem);
    if (!q)
        return -1;
    *p = q;
    return 0;
}

int mkt_gbdt_model_reserve_trees(mkt_gbdt_model *m, int trees)
{
    if (trees <= m->tree_cap)
        return 0;
    int cap = m->tree_cap ? m->tree_cap * 2 : 64;
    while (cap < trees)
        cap *= 2;
    if (grow_array((void **)&m->tree_start, sizeof *m->tree_start, (int64_t)cap + 1))
        return -1;
    m->tree_cap = cap;
    return 0;
}

int mkt_gbdt_model_reserve(mkt_gbdt_model *m, int64_t nodes)
{
    if (mkt_gbdt_model_reserve_trees(m, m->trees + 1))
        return -1;
    if (m->nodes + nodes > m->node_cap) {
        int64_t cap = m->node_cap ? m->node_cap * 2 : 1024;
        while (cap < m->nodes + nodes)
            cap *= 2;
        if (grow_array((void **)&m->feature, sizeof *m->feature, cap) ||
            grow_array((void **)&m->left, sizeof *m->left, cap) ||
            grow_array((void **)&m->right, sizeof *m->right, cap) ||
            grow_array((void **)&m->default_left, sizeof *m->default_left, cap) ||
            grow_array((void **)&m->threshold, sizeof *m->threshold, cap) ||
            grow_array((void **)&m->value, sizeof *m->value, cap) ||
            grow_array((void **)&m->gain, sizeof *m->gain, cap) ||
            grow_array((void **)&m->cover, sizeof *m->cover, cap))
            return -1;
        m->node_cap = cap;
    }
    return 0;
}

void mkt_gbdt_model_free(mkt_gbdt_model *m)
{
    free(m->tree_start);
    free(m->feature);
    free(m->left);
    free(m->right);
    free(m->default_left);
    free(m->threshold);
    free(m->value);
    free(m->gain);
    free(m->cover);
    memset(m, 0, sizeof *m);
}

void mkt_gbdt_model_truncate(mkt_gbdt_model *m, int trees)
{
    if (trees < m->trees) {
        m->trees = trees;
        m->nodes = m->tree_start[trees];
    }
}

const char *mkt_gbdt_check_model(const mkt_gbdt_model *m)
{
    char *b = check_message;
    size_t len = sizeof check_message;
    if (m->d < 1)
        return snprintf(b, len, "features: %d is not >= 1", m->d), b;
    if (m->trees < 0 || m->nodes < 0)
        return snprintf(b, len, "tree_start: negative counts"), b;
    if (!isfinite(m->base_score))
        return snprintf(b, len, "base_score: not a finite number"), b;
    if (m->tree_start[0] != 0 || m->tree_start[m->trees] != m->nodes)
        return snprintf(b, len, "tree_start: does not run from 0 to the node count %lld", (long long)m->nodes), b;
    for (int t = 0; t < m->trees; t++) { /* increasing, so every tree lies inside [0, nodes) */
        int64_t s = m->tree_start[t], e = m->tree_start[t + 1];
        if (e <= s || e - s > MKT_GBDT_MAX_NODES)
            return snprintf(b, len, "tree_start: tree %d has %lld nodes", t, (long long)(e - s)), b;
    }
    for (int t = 0; t < m->trees; t++) {
        int64_t s = m->tree_start[t], e = m->tree_start[t + 1];
        for (int64_t k = s; k < e; k++) {
            int64_t j = k - s;
            int32_t f = m->feature[k];
            if (f < -1 || f >= m->d)
                return snprintf(b, len, "feature: node %lld has feature %d, not in [-1, %d)", (long long)k, f, m->d),
                       b;
            if (f < 0) {
                if (!isfinite(m->value[k]))
                    return snprintf(b, len, "value: leaf %lld is not a finite number", (long long)k), b;
                continue;
            }
            if (isnan(m->threshold[k]))
                return snprintf(b, len, "threshold: node %lld is NaN", (long long)k), b;
            if (m->left[k] <= j || m->left[k] >= e - s || m->right[k] <= j || m->right[k] >= e - s)
                return snprintf(b, len, "left/right: node %lld of tree %d points outside its tree or backwards",
                                (long long)k, t),
                       b;
            if (m->default_left[k] != 0 && m->default_left[k] != 1)
                return snprintf(b, len, "default_left: node %lld is not 0 or 1", (long long)k), b;
        }
    }
    return NULL;
}

static inline double tree_output(const mkt_gbdt_model *m, int64_t s, const double *x)
{
    int64_t k = s;
    while (m->feature[k] >= 0) {
        double v = x[m->feature[k]];
        int left = isnan(v) ? m->default_left[k] : v < m->threshold[k];
        k = s + (left ? m->left[k] : m->right[k]);
    }
    return m->value[k];
}

void mkt_gbdt_add_trees(const mkt_gbdt_model *m, int tree_begin, int tree_end, const double *x, int64_t n,
                        int64_t ld, double *margin)
{
    enum { BLOCK = 256 };
    for (int64_t i0 = 0; i0 < n; i0 += BLOCK) {
        int64_t i1 = i0 + BLOCK < n ? i0 + BLOCK : n;
        for (int t = tree_begin; t < tree_end; t++) {
            int64_t s = m->tree_start[t];
            for (int64_t i = i0; i < i1; i++)
                margin[i] += tree_output(m, s, x + i * ld);
        }
    }
}

void mkt_gbdt_predict_margin(const mkt_gbdt_model *m, const double *x, int64_t n, int64_t ld, double *margin)
{
    for (int64_t i = 0; i < n; i++)
        margin[i] = m->base_score;
    mkt_gbdt_add_trees(m, 0, m->trees, x, n, ld, margin);
}

double mkt_gbdt_margin(const mkt_gbdt_model *m, const double *x)
{
    double r = m->base_score;
    mkt_gbdt_add_trees(m, 0, m->trees, x, 1, m->d, &r);
    return r;
}

void mkt_gbdt_importance(const mkt_gbdt_model *m, double *out)
{
    for (int f = 0; f < m->d; f++)
        out[f] = 0;
    for (int64_t k = 0; k < m->nodes; k++)
        if (m->feature[k] >= 0)
            out[m->feature[k]] += m->gain[k];
}

/* ---------- training pieces ---------- */

int mkt_gbdt_bin(const double *cuts, int ncuts, double x)
{
    if (isnan(x))
        return MKT_GBDT_MISSING;
    int lo = 0, hi = ncuts; /* first cut > x */
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (cuts[mid] <= x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

int mkt_gbdt_cuts(const double *v, int64_t m, int max_bins, double *cuts)
{
    int n = 0;
    int64_t distinct = m > 0 ? 1 : 0;
    for (int64_t i = 1; i < m && distinct <= max_bins; i++)
        distinct += v[i] != v[i - 1];
    if (distinct <= max_bins) {
        for (int64_t i = 1; i < m; i++)
            if (v[i] != v[i - 1])
                cuts[n++] = v[i];
        return n;
    }
    for (int j = 1; j < max_bins; j++) {
        double c = v[(int64_t)((double)j * (double)m / max_bins)];
        if (c > v[0] && (n == 0 || c > cuts[n - 1]))
            cuts[n++] = c;
    }
    return n;
}

double mkt_gbdt_leaf_value(const mkt_gbdt_config *c, mkt_gbdt_stat s, double gscale, double hscale)
{
    double G = (double)s.g / gscale, H = (double)s.h / hscale;
    return -c->eta * G / (H + c->lambda);
}

static inline double score(double G, double H, double lambda) { return G * G / (H + lambda); }

static inline mkt_gbdt_stat stat_sub(mkt_gbdt_stat a, mkt_gbdt_stat b)
{
    mkt_gbdt_stat r = {a.g - b.g, a.h - b.h, a.n - b.n};
    return r;
}
static inline mkt_gbdt_stat stat_add(mkt_gbdt_stat a, mkt_gbdt_stat b)
{
    mkt_gbdt_stat r = {a.g + b.g, a.h + b.h, a.n + b.n};
    return r;
}

/* One candidate: left statistics l, right = total − l.  No test of the
 * counts: a side with no rows has G = H = 0, so the other side's score is
 * the parent's (the same integers) and the gain −gamma ≤ 0 (or NaN when
 * lambda is 0): never taken, the counts or not. */
static void try_split(const mkt_gbdt_config *c, mkt_gbdt_stat total, mkt_gbdt_stat l, double parent, double gscale,
                      double hscale, int f, int bin, int dl, mkt_gbdt_split *best)
{
    mkt_gbdt_stat r = stat_sub(total, l);
    double HL = (double)l.h / hscale, HR = (double)r.h / hscale;
    if (HL < c->min_child_weight || HR < c->min_child_weight)
        return;
    double GL = (double)l.g / gscale, GR = (double)r.g / gscale;
    double gain = 0.5 * (score(GL, HL, c->lambda) + score(GR, HR, c->lambda) - parent) - c->gamma;
    if (gain > 0 && (best->feature < 0 || gain > best->gain)) {
        best->feature = f;
        best->bin = bin;
        best->default_left = dl;
        best->gain = gain;
        best->left = l;
        best->right = r;
    }
}

void mkt_gbdt_best_split(const mkt_gbdt_config *c, const mkt_gbdt_stat *hist, const int64_t *off,
                         const int *nbins, const unsigned char *use, int d, mkt_gbdt_stat total, double gscale,
                         double hscale, mkt_gbdt_split *out)
{
    memset(out, 0, sizeof *out);
    out->feature = -1;
    double parent = score((double)total.g / gscale, (double)total.h / hscale, c->lambda);
    for (int f = 0; f < d; f++) {
        if (!use[f] || nbins[f] < 2)
            continue;
        const mkt_gbdt_stat *hf = hist + off[f];
        mkt_gbdt_stat miss = hf[nbins[f]], cum = {0, 0, 0};
        for (int b = 0; b + 1 < nbins[f]; b++) {
            cum = stat_add(cum, hf[b]);
            try_split(c, total, cum, parent, gscale, hscale, f, b, 0, out);
            /* missing rows of zero (g, h) give the same sides as above, so the same gain: never strictly better */
            if (miss.g != 0 || miss.h != 0)
                try_split(c, total, stat_add(cum, miss), parent, gscale, hscale, f, b, 1, out);
        }
    }
}

double mkt_gbdt_quant_scale(double maxabs, int64_t count)
{
    if (!(maxabs > 0) || count < 1)
        return 1.0;
    int e;
    frexp(maxabs * (double)count, &e); /* maxabs·count < 2^e */
    int s = 62 - e;
    if (s > 60)
        s = 60;
    return ldexp(1.0, s);
}
