/* gbdt_train.c — the distributed `hist` trainer of boosted trees
 * (gbdt_train.h).  Must not read or write files. */
#include "gbdt_train.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "exactsum.h"
#include "par.h"
#include "rng.h"

#define STREAM_SKETCH 0x736b6574636855ULL
#define STREAM_ROWS 0x726f7773ULL
#define STREAM_COLS 0x636f6c73ULL

static double hash_uniform(uint64_t seed, uint64_t stream, uint64_t a, uint64_t b)
{
    uint64_t h = mkt_hash64(mkt_hash64(mkt_hash64(seed ^ stream) ^ a) ^ b);
    return (double)(h >> 11) * 0x1.0p-53;
}

/* Collective. The global position of data's first row (rank r's rows
 * follow rank r − 1's). */
static int64_t first_row(const mkt_gbdt_data *data, MPI_Comm comm)
{
    int64_t total;
    return mkt_exscan_count(data->n, &total, comm);
}

/* The id of row i: its own, or its global position. */
static inline int64_t row_id(const mkt_gbdt_data *data, int64_t first, int64_t i)
{
    return data->id ? data->id[i] : first + i;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* ---------- the sketch ---------- */

/* Order-preserving bits of a double (no NaN): unsigned order = value order. */
static inline uint64_t order_key(double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    return u >> 63 ? ~u : u | (UINT64_C(1) << 63);
}

static inline double from_order_key(uint64_t k)
{
    uint64_t u = k >> 63 ? k & ~(UINT64_C(1) << 63) : ~k;
    double v;
    memcpy(&v, &u, sizeof v);
    return v;
}

/* Sort v[0..m) (no NaN) ascending: an LSD radix sort of the order keys
 * (tmp: m keys of room), the same array qsort with cmp_double gives, since
 * values that compare equal have the same bits — except −0.0 and +0.0, so a
 * sample holding −0.0 goes through qsort as before. */
static void sort_sample(double *v, int64_t m, uint64_t *key, uint64_t *tmp)
{
    for (int64_t i = 0; i < m; i++) {
        if (v[i] == 0 && signbit(v[i])) {
            qsort(v, (size_t)m, sizeof *v, cmp_double);
            return;
        }
        key[i] = order_key(v[i]);
    }
    uint32_t *count = mkt_xmalloc(65537 * sizeof *count);
    for (int shift = 0; shift < 64; shift += 16) {
        memset(count, 0, 65537 * sizeof *count);
        for (int64_t i = 0; i < m; i++)
            count[((key[i] >> shift) & 0xffff) + 1]++;
        if (m > 0 && count[((key[0] >> shift) & 0xffff) + 1] == (uint32_t)m)
            continue; /* every key has this digit */
        for (int b = 0; b < 65536; b++)
            count[b + 1] += count[b];
        for (int64_t i = 0; i < m; i++)
            tmp[count[(key[i] >> shift) & 0xffff]++] = key[i];
        uint64_t *t = key;
        key = tmp;
        tmp = t;
    }
    free(count);
    for (int64_t i = 0; i < m; i++)
        v[i] = from_order_key(key[i]);
}

/* The cuts of every feature: the rows sampled by a hash of their ids (the
 * same sample on any rank count); feature f's values of all ranks gathered
 * in rank order on rank f mod P, which sorts them and cuts; the cuts then
 * shared bit for bit (an OR of each owner's bits with the others' zeros). */
static void sketch(const mkt_gbdt_config *c, const mkt_gbdt_data *data, int64_t first, double *cuts, int *ncuts,
                   MPI_Comm comm)
{
    enum { FBLOCK = 8 }; /* features taken from a row at once */
    int P, rank, d = data->d;
    MPI_Comm_size(comm, &P);
    MPI_Comm_rank(comm, &rank);
    int64_t total;
    mkt_exscan_count(data->n, &total, comm);
    double frac = total > c->sketch_rows ? (double)c->sketch_rows / (double)total : 1.0;
    int64_t np = 0, *pick = mkt_xmalloc((size_t)(data->n > 0 ? data->n : 1) * sizeof *pick);
    for (int64_t i = 0; i < data->n; i++)
        if (frac >= 1.0 || hash_uniform(c->seed, STREAM_SKETCH, (uint64_t)row_id(data, first, i), 0) < frac)
            pick[np++] = i;
    int64_t room;
    MKT_MPI(MPI_Allreduce(&np, &room, 1, MPI_INT64_T, MPI_SUM, comm));
    if (room > INT_MAX)
        mkt_fail("gbdt: sketch sample of %lld values is too large", (long long)room);
    size_t r1 = (size_t)(room > 0 ? room : 1);
    double *mine = mkt_xmalloc((size_t)FBLOCK * (size_t)(np > 0 ? np : 1) * sizeof *mine);
    double *v = mkt_xmalloc(r1 * sizeof *v);
    uint64_t *key = mkt_xmalloc(r1 * sizeof *key), *tmp = mkt_xmalloc(r1 * sizeof *tmp);
    int *counts = mkt_xmalloc((size_t)P * sizeof *counts), *displs = mkt_xmalloc((size_t)P * sizeof *displs);
    memset(cuts, 0, (size_t)d * (MKT_GBDT_MAX_BINS - 1) * sizeof *cuts);
    memset(ncuts, 0, (size_t)d * sizeof *ncuts);
    for (int f0 = 0; f0 < d; f0 += FBLOCK) {
        int fb = d - f0 < FBLOCK ? d - f0 : FBLOCK, k[FBLOCK] = {0};
        for (int64_t j = 0; j < np; j++) {
            if (j + 16 < np)
                __builtin_prefetch(data->x + pick[j + 16] * d + f0);
            const double *xr = data->x + pick[j] * d + f0;
            for (int q = 0; q < fb; q++)
                if (isfinite(xr[q]))
                    mine[(size_t)q * (size_t)np + (size_t)k[q]++] = xr[q];
        }
        for (int q = 0; q < fb; q++) {
            int f = f0 + q, owner = f % P;
            MKT_MPI(MPI_Gather(&k[q], 1, MPI_INT, counts, 1, MPI_INT, owner, comm));
            int64_t all = 0;
            for (int r = 0; rank == owner && r < P; r++) {
                displs[r] = (int)all;
                all += counts[r];
            }
            MKT_MPI(MPI_Gatherv(mine + (size_t)q * (size_t)np, k[q], MPI_DOUBLE, v, counts, displs, MPI_DOUBLE, owner,
                                comm));
            if (rank == owner) {
                sort_sample(v, all, key, tmp);
                ncuts[f] = mkt_gbdt_cuts(v, all, c->max_bins, cuts + (size_t)f * (MKT_GBDT_MAX_BINS - 1));
            }
        }
    }
    MKT_MPI(MPI_Allreduce(MPI_IN_PLACE, cuts, d * (MKT_GBDT_MAX_BINS - 1), MPI_UINT64_T, MPI_BOR, comm));
    MKT_MPI(MPI_Allreduce(MPI_IN_PLACE, ncuts, d, MPI_INT, MPI_SUM, comm));
    free(v);
    free(key);
    free(tmp);
    free(pick);
    free(mine);
    free(counts);
    free(displs);
}

void mkt_gbdt_sketch(const mkt_gbdt_config *c, const mkt_gbdt_data *data, double *cuts, int *ncuts, MPI_Comm comm)
{
    int64_t first = first_row(data, comm);
    double *full = mkt_xmalloc((size_t)data->d * (MKT_GBDT_MAX_BINS - 1) * sizeof *full);
    sketch(c, data, first, full, ncuts, comm);
    for (int f = 0; f < data->d; f++)
        for (int j = 0; j < c->max_bins - 1; j++)
            cuts[(size_t)f * (c->max_bins - 1) + j] = j < ncuts[f] ? full[(size_t)f * (MKT_GBDT_MAX_BINS - 1) + j] : NAN;
    free(full);
}

/* ---------- losses ---------- */

static inline double softplus(double z) { return z > 0 ? z + log1p(exp(-z)) : log1p(exp(z)); }

static inline double row_loss(mkt_gbdt_loss loss, double m, double y)
{
    if (loss == MKT_GBDT_LOGISTIC)
        return y > 0.5 ? softplus(-m) : softplus(m);
    return (m - y) * (m - y);
}

/* Exact weighted mean loss of margins m over data's rows. */
static double mean_loss(mkt_gbdt_loss loss, const double *m, const mkt_gbdt_data *data, MPI_Comm comm)
{
    mkt_xsum s[2];
    mkt_xsum_init(&s[0]);
    mkt_xsum_init(&s[1]);
    for (int64_t i = 0; i < data->n; i++) {
        double w = data->w ? data->w[i] : 1.0;
        mkt_xsum_add(&s[0], w * row_loss(loss, m[i], data->y[i]));
        mkt_xsum_add(&s[1], w);
    }
    mkt_allreduce_xsum(s, 2, comm);
    double W = mkt_xsum_value(&s[1]);
    return W > 0 ? mkt_xsum_value(&s[0]) / W : NAN;
}

double mkt_gbdt_mean_loss(const mkt_gbdt_model *mod, const mkt_gbdt_data *data, MPI_Comm comm)
{
    double *m = mkt_xmalloc((size_t)(data->n > 0 ? data->n : 1) * sizeof *m);
    mkt_gbdt_predict_margin(mod, data->x, data->n, data->d, m);
    double r = mean_loss(mod->loss, m, data, comm);
    free(m);
    return r;
}

static double base_score(mkt_gbdt_loss loss, const mkt_gbdt_data *data, MPI_Comm comm)
{
    mkt_xsum s[2];
    mkt_xsum_init(&s[0]);
    mkt_xsum_init(&s[1]);
    for (int64_t i = 0; i < data->n; i++) {
        double w = data->w ? data->w[i] : 1.0;
        mkt_xsum_add(&s[0], w * data->y[i]);
        mkt_xsum_add(&s[1], w);
    }
    mkt_allreduce_xsum(s, 2, comm);
    double W = mkt_xsum_value(&s[1]), mean = W > 0 ? mkt_xsum_value(&s[0]) / W : 0;
    if (loss == MKT_GBDT_SQUARED)
        return mean;
    if (mean < 1e-6)
        mean = 1e-6;
    if (mean > 1 - 1e-6)
        mean = 1 - 1e-6;
    return log(mean / (1 - mean));
}

/* ---------- growing one tree ---------- */

/* What a tree's growth works with: the binned rows, the feature layout of a
 * histogram, this tree's rows and quantized gradients. */
typedef struct {
    const mkt_gbdt_config *c;
    int d;
    const uint8_t *bins;  /* [n × d]: bin, or nbins[f] for a missing value */
    const double *cuts;   /* [d × (MKT_GBDT_MAX_BINS − 1)] */
    const int *nbins;     /* [d]: cuts + 1 */
    int64_t *off;         /* [d]: first slot of feature f; slots S, then the node total at S */
    int64_t S;
    unsigned char *use;   /* [d] features of this tree */
    int *ufeat, nuse;
    int64_t *gh;          /* [2n] quantized gradient and hessian of row i at 2i, 2i + 1 (this tree's rows) */
    double gscale, hscale;
    uint32_t *rows, *tmp; /* this tree's rows, grouped by node; tmp_cap rows of room in tmp (half of them) */
    int64_t tmp_cap;
    mkt_gbdt_stat **hf;   /* [d] scratch: feature f's first slot in the histogram being built */
    void *wide;           /* NULL, or [S] slots of 16 bytes (g, h): the histogram being built, one
                             vector addition per feature of a row (AVX2) */
    MPI_Comm comm;
} grower;

typedef struct {
    int64_t begin, end;   /* rows[begin, end) */
    int depth;
    mkt_gbdt_stat total;  /* the node's statistics (all ranks) */
    mkt_gbdt_stat *hist;  /* S + 1 slots while the node may still be split, else NULL */
    mkt_gbdt_stat *blk;   /* the block holding hist: blk[0].n counts the histograms alive in it */
    mkt_gbdt_split split; /* its best split (feature −1: none) */
    int32_t left, right;  /* children (−1: leaf) */
} gnode;

/* Histogram building: clear h and point g->hf at each feature's slots; add
 * rows; the node total goes to slot S.  Sums of integers, so any order of
 * rows gives the same bits.  The bins' counts are not kept (0: the split
 * search reads only g and h); the total's is the node's rows. */
static void hist_begin(const grower *g, mkt_gbdt_stat *h)
{
    memset(h, 0, (size_t)(g->S + 1) * sizeof *h);
    for (int f = 0; f < g->d; f++)
        g->hf[f] = h + g->off[f];
}

static inline void hist_add(const grower *g, uint32_t i)
{
    mkt_gbdt_stat **hf = g->hf;
    const int d = g->d;
    const uint8_t *b = g->bins + (size_t)i * d;
    int64_t gi = g->gh[2 * (size_t)i], hi = g->gh[2 * (size_t)i + 1];
    if (g->nuse == d) {
        for (int f = 0; f < d; f++) {
            mkt_gbdt_stat *s = hf[f] + b[f];
            s->g += gi;
            s->h += hi;
        }
    } else {
        for (int u = 0; u < g->nuse; u++) {
            int f = g->ufeat[u];
            mkt_gbdt_stat *s = hf[f] + b[f];
            s->g += gi;
            s->h += hi;
        }
    }
}

/* rows this far ahead are prefetched (their bins and gradients) */
#define AHEAD 8

static inline void prefetch_row(const grower *g, const gnode *nd, int64_t k)
{
    if (k + AHEAD < nd->end) {
        uint32_t j = g->rows[k + AHEAD];
        __builtin_prefetch(g->bins + (size_t)j * g->d);
        __builtin_prefetch(g->bins + (size_t)j * g->d + g->d - 1); /* a row may straddle two lines */
        __builtin_prefetch(g->gh + 2 * (size_t)j);
    }
}

static void hist_total(const grower *g, mkt_gbdt_stat *h, const gnode *nd, int small_left, int64_t mid)
{
    mkt_gbdt_stat t = {0, 0, 0};
    int64_t b = small_left ? nd->begin : mid, e = small_left ? mid : nd->end;
    for (int64_t k = b; k < e; k++) {
        t.g += g->gh[2 * (size_t)g->rows[k]];
        t.h += g->gh[2 * (size_t)g->rows[k] + 1];
    }
    t.n = e - b;
    h[g->S] = t;
}

typedef int64_t wide_stat __attribute__((vector_size(16)));

/* The histogram of nd's rows: (g, h) in g->wide (16-byte slots, one vector
 * addition per feature of a row, no counts, so the slots a row touches stay
 * in the first-level cache); then copied to h. */
__attribute__((target("avx2"))) static void build_hist_wide(const grower *g, const gnode *nd, mkt_gbdt_stat *h)
{
    wide_stat *w = g->wide;
    memset(w, 0, (size_t)g->S * sizeof *w);
    const int d = g->d, nuse = g->nuse;
    const int64_t *off = g->off;
    const int *uf = g->ufeat;
    for (int64_t k = nd->begin; k < nd->end; k++) {
        prefetch_row(g, nd, k);
        uint32_t i = g->rows[k];
        const uint8_t *b = g->bins + (size_t)i * d;
        wide_stat a = {g->gh[2 * (size_t)i], g->gh[2 * (size_t)i + 1]};
        if (nuse == d)
            for (int f = 0; f < d; f++)
                w[off[f] + b[f]] += a;
        else
            for (int u = 0; u < nuse; u++)
                w[off[uf[u]] + b[uf[u]]] += a;
    }
    for (int64_t s = 0; s < g->S; s++)
        h[s] = (mkt_gbdt_stat){w[s][0], w[s][1], 0};
    hist_total(g, h, nd, 1, nd->end);
}

/* The histogram of all of nd's rows. */
static void build_hist(const grower *g, const gnode *nd, mkt_gbdt_stat *h)
{
    if (g->wide) {
        build_hist_wide(g, nd, h);
        return;
    }
    hist_begin(g, h);
    for (int64_t k = nd->begin; k < nd->end; k++) {
        prefetch_row(g, nd, k);
        hist_add(g, g->rows[k]);
    }
    hist_total(g, h, nd, 1, nd->end);
}

/* MPI_SUM of int64 in pieces that fit an int count. */
static void allreduce_i64(int64_t *buf, int64_t count, MPI_Comm comm)
{
    const int64_t piece = INT64_C(1) << 28;
    for (int64_t at = 0; at < count; at += piece) {
        int64_t k = count - at < piece ? count - at : piece;
        MKT_MPI(MPI_Allreduce(MPI_IN_PLACE, buf + at, (int)k, MPI_INT64_T, MPI_SUM, comm));
    }
}

/* Histograms live in blocks (one per allreduce: a header slot, then the
 * histograms) freed when the last of them is dropped. */
static mkt_gbdt_stat *hist_block(size_t count, size_t slots)
{
    mkt_gbdt_stat *b = mkt_xmalloc((1 + count * slots) * sizeof *b);
    b[0].n = (int64_t)count;
    return b;
}

static void drop_hist(gnode *nd)
{
    if (nd->blk && --nd->blk[0].n == 0)
        free(nd->blk);
    nd->hist = nd->blk = NULL;
}

/* The node's merged histogram h (in block blk) is in place: note its total
 * and best split, and drop the histogram when the node cannot be split. */
static void settle(const grower *g, gnode *nd, mkt_gbdt_stat *h, mkt_gbdt_stat *blk)
{
    nd->hist = h;
    nd->blk = blk;
    nd->total = h[g->S];
    nd->split.feature = -1;
    if (nd->depth < g->c->max_depth)
        mkt_gbdt_best_split(g->c, h, g->off, g->nbins, g->use, g->d, nd->total, g->gscale, g->hscale, &nd->split);
    if (nd->split.feature < 0)
        drop_hist(nd);
}

/* Rows of rows[b, e) going left first (stable), then right, the right ones
 * through g->tmp (at least e − b slots); returns the end of the left part.
 * No branch on the side (it is as good as random). */
static int64_t partition_part(grower *g, const gnode *nd, int64_t b, int64_t e)
{
    const int f = nd->split.feature, sb = nd->split.bin, dl = nd->split.default_left, miss = g->nbins[f], d = g->d;
    const uint8_t *col = g->bins + f;
    uint32_t *rows = g->rows, *tmp = g->tmp;
    int64_t l = b, r = 0;
    for (int64_t k = b; k < e; k++) {
        if (k + 4 * AHEAD < e)
            __builtin_prefetch(col + (size_t)rows[k + 4 * AHEAD] * d);
        uint32_t i = rows[k];
        int v = col[(size_t)i * d], m = v == miss;
        int left = (m & dl) | (!m & (v <= sb));
        rows[l] = i;
        tmp[r] = i;
        l += left;
        r += 1 - left;
    }
    memcpy(rows + l, tmp, (size_t)r * sizeof *rows);
    return l;
}

static void reverse_rows(uint32_t *a, int64_t b, int64_t e)
{
    for (e--; b < e; b++, e--) {
        uint32_t t = a[b];
        a[b] = a[e];
        a[e] = t;
    }
}

/* Rows of nd's segment going left first (stable), then right; returns the
 * end of the left part.  g->tmp holds g->tmp_cap rows (half the rows): a
 * longer segment is partitioned in pieces of at most that many, each
 * piece's left part then rotated in place past the right parts before it. */
static int64_t partition(grower *g, const gnode *nd)
{
    int64_t l = nd->begin;
    for (int64_t b = nd->begin; b < nd->end; b += g->tmp_cap) {
        int64_t e = nd->end - b < g->tmp_cap ? nd->end : b + g->tmp_cap, m = partition_part(g, nd, b, e);
        if (l < b && b < m) { /* [l, b) right, [b, m) left: swap them by three reversals */
            reverse_rows(g->rows, l, b);
            reverse_rows(g->rows, b, m);
            reverse_rows(g->rows, l, m);
        }
        l += m - b;
    }
    return l;
}

/* The leaves to split now, in node order: depthwise, every splittable leaf
 * of the lowest open depth; lossguide, the one of largest gain; with a leaf
 * cap, the largest gains (ties: lower node) within the room left. */
static int pick(const grower *g, const gnode *nodes, int nn, int leaves, int *out)
{
    int k = 0, lossguide = !strcmp(g->c->grow, "lossguide"), depth = INT_MAX;
    for (int i = 0; i < nn; i++)
        if (nodes[i].left < 0 && nodes[i].split.feature >= 0 && nodes[i].depth < depth)
            depth = nodes[i].depth;
    for (int i = 0; i < nn; i++)
        if (nodes[i].left < 0 && nodes[i].split.feature >= 0 && (lossguide || nodes[i].depth == depth))
            out[k++] = i;
    int room = g->c->max_leaves > 0 ? g->c->max_leaves - leaves : INT_MAX;
    if (lossguide && room > 1)
        room = 1;
    if (room < 0)
        room = 0;
    if (k <= room)
        return k;
    /* the `room` largest gains first (stable), then back to node order */
    for (int a = 0; a < room; a++) {
        int best = a;
        for (int b = a + 1; b < k; b++)
            if (nodes[out[b]].split.gain > nodes[out[best]].split.gain)
                best = b;
        int t = out[best];
        memmove(out + a + 1, out + a, (size_t)(best - a) * sizeof *out);
        out[a] = t;
    }
    for (int a = 1; a < room; a++)
        for (int b = a; b > 0 && out[b] < out[b - 1]; b--) {
            int t = out[b];
            out[b] = out[b - 1];
            out[b - 1] = t;
        }
    return room;
}

/* Copy the grown nodes into the model as its next tree. */
static void append_tree(const grower *g, const gnode *nodes, int nn, mkt_gbdt_model *m)
{
    if (mkt_gbdt_model_reserve(m, nn))
        mkt_fail("gbdt: out of memory for tree %d", m->trees + 1);
    int64_t s0 = m->nodes;
    for (int i = 0; i < nn; i++) {
        const gnode *nd = &nodes[i];
        int64_t k = s0 + i;
        m->cover[k] = (double)nd->total.h / g->hscale;
        if (nd->left >= 0) {
            int f = nd->split.feature;
            m->feature[k] = f;
            m->threshold[k] = g->cuts[(size_t)f * (MKT_GBDT_MAX_BINS - 1) + nd->split.bin];
            m->default_left[k] = (int8_t)nd->split.default_left;
            m->left[k] = nd->left;
            m->right[k] = nd->right;
            m->value[k] = 0;
            m->gain[k] = nd->split.gain;
        } else {
            m->feature[k] = -1;
            m->threshold[k] = 0;
            m->default_left[k] = 0;
            m->left[k] = m->right[k] = 0;
            m->value[k] = mkt_gbdt_leaf_value(g->c, nd->total, g->gscale, g->hscale);
            m->gain[k] = 0;
        }
    }
    m->nodes += nn;
    m->trees++;
    m->tree_start[m->trees] = m->nodes;
}

/* Grow one tree over g->rows[0, n) and append it to the model: per step,
 * partition the chosen leaves' rows, build the histogram of each one's
 * child of smaller hessian sum (as XGBoost does; the counts are not kept),
 * one allreduce for all of them, the other child by subtraction.
 * With margin, margin[i] += the new tree's output for the rows grown on
 * (each leaf's value over its rows: the leaf the row reaches, since
 * x < cuts[b] iff bin(x) <= b). */
static void grow_tree(grower *g, int64_t n, mkt_gbdt_model *m, double *margin)
{
    const mkt_gbdt_config *c = g->c;
    int cap = (1 << (c->max_depth + 1)) - 1;
    if (c->max_leaves > 0 && 2 * c->max_leaves - 1 < cap)
        cap = 2 * c->max_leaves - 1;
    size_t slots = (size_t)(g->S + 1);
    gnode *nodes = mkt_xcalloc((size_t)cap, sizeof *nodes);
    int *chosen = mkt_xmalloc((size_t)cap * sizeof *chosen);
    int nn = 1, leaves = 1, k;
    nodes[0] = (gnode){.begin = 0, .end = n, .depth = 0, .left = -1, .right = -1};
    mkt_gbdt_stat *b0 = hist_block(1, slots);
    build_hist(g, &nodes[0], b0 + 1);
    allreduce_i64((int64_t *)(b0 + 1), (int64_t)slots * 3, g->comm);
    settle(g, &nodes[0], b0 + 1, b0);
    int *at = mkt_xmalloc((size_t)cap * sizeof *at);
    while ((k = pick(g, nodes, nn, leaves, chosen)) > 0) {
        mkt_gbdt_stat *buf = hist_block((size_t)k, slots); /* its count set below */
        int nb = 0;
        for (int j = 0; j < k; j++) {
            gnode *p = &nodes[chosen[j]];
            int64_t mid = partition(g, p);
            int L = nn++, R = nn++;
            p->left = L;
            p->right = R;
            nodes[L] = (gnode){.begin = p->begin, .end = mid, .depth = p->depth + 1, .left = -1, .right = -1};
            nodes[R] = (gnode){.begin = mid, .end = p->end, .depth = p->depth + 1, .left = -1, .right = -1};
            /* children at the largest depth stay leaves: their totals are the split's sides (the same integer
               sums), no histogram */
            at[j] = p->depth + 1 < c->max_depth ? nb++ : -1;
            if (at[j] >= 0)
                build_hist(g, &nodes[p->split.left.h <= p->split.right.h ? L : R], buf + 1 + (size_t)at[j] * slots);
        }
        leaves += k;
        buf[0].n = nb;
        if (nb > 0)
            allreduce_i64((int64_t *)(buf + 1), (int64_t)nb * (int64_t)slots * 3, g->comm);
        else
            free(buf);
        for (int j = 0; j < k; j++) {
            gnode *p = &nodes[chosen[j]];
            if (at[j] < 0) {
                nodes[p->left].total = p->split.left;
                nodes[p->right].total = p->split.right;
                nodes[p->left].split.feature = nodes[p->right].split.feature = -1;
                drop_hist(p);
                continue;
            }
            int small = p->split.left.h <= p->split.right.h ? p->left : p->right;
            int big = small == p->left ? p->right : p->left;
            mkt_gbdt_stat *hs = buf + 1 + (size_t)at[j] * slots, *hb = p->hist, *hbb = p->blk;
            for (size_t s = 0; s < slots; s++) {
                hb[s].g -= hs[s].g;
                hb[s].h -= hs[s].h;
                hb[s].n -= hs[s].n;
            }
            p->hist = p->blk = NULL; /* hb goes to the larger child */
            settle(g, &nodes[small], hs, buf);
            settle(g, &nodes[big], hb, hbb);
        }
    }
    append_tree(g, nodes, nn, m);
    for (int i = 0; margin && i < nn; i++)
        if (nodes[i].left < 0) {
            double v = m->value[m->tree_start[m->trees - 1] + i];
            for (int64_t k = nodes[i].begin; k < nodes[i].end; k++)
                margin[g->rows[k]] += v;
        }
    for (int i = 0; i < nn; i++)
        drop_hist(&nodes[i]);
    free(at);
    free(chosen);
    free(nodes);
}

/* ---------- boosting ---------- */

/* The gradient and hessian of row i, as doubles, at gh[2i] and gh[2i + 1]
 * (their bits; quantized in place once the scales are known). */
static void gradients(mkt_gbdt_loss loss, const mkt_gbdt_data *t, const double *margin, const uint32_t *rows,
                      int64_t nr, int64_t *gh, double mx[2])
{
    mx[0] = mx[1] = 0;
    for (int64_t k = 0; k < nr; k++) {
        uint32_t i = rows[k];
        double w = t->w ? t->w[i] : 1.0, g, h;
        if (loss == MKT_GBDT_LOGISTIC) {
            double p = 1.0 / (1.0 + exp(-margin[i]));
            g = w * (p - t->y[i]);
            h = w * fmax(p * (1 - p), 1e-16);
        } else {
            g = w * (margin[i] - t->y[i]);
            h = w;
        }
        memcpy(&gh[2 * (size_t)i], &g, sizeof g);
        memcpy(&gh[2 * (size_t)i + 1], &h, sizeof h);
        mx[0] = fmax(mx[0], fabs(g));
        mx[1] = fmax(mx[1], h);
    }
}

/* This round's features: all, or round(colsample·d) of them drawn from
 * (seed, round), the same on every rank. */
static void pick_columns(const mkt_gbdt_config *c, int round, grower *g)
{
    int d = g->d;
    memset(g->use, 0, (size_t)d);
    if (c->colsample >= 1.0) {
        memset(g->use, 1, (size_t)d);
    } else {
        int want = (int)floor(c->colsample * d + 0.5);
        if (want < 1)
            want = 1;
        int *perm = mkt_xmalloc((size_t)d * sizeof *perm);
        for (int f = 0; f < d; f++)
            perm[f] = f;
        mkt_rng r;
        mkt_rng_init(&r, c->seed ^ STREAM_COLS, MKT_STREAM_MODEL, (uint64_t)round);
        for (int j = 0; j < want; j++) {
            int s = j + (int)mkt_rng_below(&r, (uint64_t)(d - j));
            int t = perm[j];
            perm[j] = perm[s];
            perm[s] = t;
            g->use[perm[j]] = 1;
        }
        free(perm);
    }
    g->nuse = 0;
    for (int f = 0; f < d; f++)
        if (g->use[f])
            g->ufeat[g->nuse++] = f;
}

static void copy_model(mkt_gbdt_model *dst, const mkt_gbdt_model *src)
{
    if (mkt_gbdt_model_init(dst, src->d, src->loss, src->base_score) || mkt_gbdt_model_reserve(dst, src->nodes) ||
        mkt_gbdt_model_reserve_trees(dst, src->trees))
        mkt_fail("gbdt: out of memory");
    memcpy(dst->tree_start, src->tree_start, (size_t)(src->trees + 1) * sizeof *dst->tree_start);
    dst->trees = src->trees;
    size_t n = (size_t)src->nodes;
    memcpy(dst->feature, src->feature, n * sizeof *dst->feature);
    memcpy(dst->left, src->left, n * sizeof *dst->left);
    memcpy(dst->right, src->right, n * sizeof *dst->right);
    memcpy(dst->default_left, src->default_left, n * sizeof *dst->default_left);
    memcpy(dst->threshold, src->threshold, n * sizeof *dst->threshold);
    memcpy(dst->value, src->value, n * sizeof *dst->value);
    memcpy(dst->gain, src->gain, n * sizeof *dst->gain);
    memcpy(dst->cover, src->cover, n * sizeof *dst->cover);
    dst->nodes = src->nodes;
}

/* Bins of every training row, the histogram layout. */
static uint8_t *bin_rows(const mkt_gbdt_data *t, grower *g, const double *cuts, const int *ncuts)
{
    int d = t->d;
    uint8_t *bins = mkt_xmalloc((size_t)(t->n > 0 ? t->n : 1) * (size_t)d);
    for (int64_t i = 0; i < t->n; i++)
        for (int f = 0; f < d; f++) {
            int b = mkt_gbdt_bin(cuts + (size_t)f * (MKT_GBDT_MAX_BINS - 1), ncuts[f], t->x[i * d + f]);
            bins[i * d + f] = (uint8_t)(b == MKT_GBDT_MISSING ? ncuts[f] + 1 : b); /* missing: slot nbins[f] */
        }
    int64_t at = 0;
    for (int f = 0; f < d; f++) {
        g->off[f] = at;
        at += ncuts[f] + 2; /* bins, then the missing slot */
    }
    g->S = at;
    return bins;
}

/* This round's rows in g->rows (all, or the sample drawn from (seed, round,
 * row id)) and their gradients quantized in g->gh with this round's scales
 * (global maxima); returns the number of rows. */
static int64_t round_rows(const mkt_gbdt_config *c, mkt_gbdt_loss loss, const mkt_gbdt_data *train, int64_t first,
                          int round, const double *mt, int64_t train_rows, grower *g)
{
    int64_t nr = 0, nr_all = train_rows; /* every row, or this round's sample of all ranks */
    for (int64_t i = 0; i < train->n; i++)
        if (c->subsample >= 1.0 ||
            hash_uniform(c->seed, STREAM_ROWS, (uint64_t)round, (uint64_t)row_id(train, first, i)) < c->subsample)
            g->rows[nr++] = (uint32_t)i;
    double mx[2];
    gradients(loss, train, mt, g->rows, nr, g->gh, mx);
    MKT_MPI(MPI_Allreduce(MPI_IN_PLACE, mx, 2, MPI_DOUBLE, MPI_MAX, g->comm));
    if (c->subsample < 1.0) /* the same test on every rank */
        MKT_MPI(MPI_Allreduce(&nr, &nr_all, 1, MPI_INT64_T, MPI_SUM, g->comm));
    g->gscale = mkt_gbdt_quant_scale(mx[0], nr_all);
    g->hscale = mkt_gbdt_quant_scale(mx[1], nr_all);
    for (int64_t k = 0; k < nr; k++) {
        size_t i = g->rows[k];
        double gd, hd;
        memcpy(&gd, &g->gh[2 * i], sizeof gd);
        memcpy(&hd, &g->gh[2 * i + 1], sizeof hd);
        g->gh[2 * i] = llround(gd * g->gscale);
        g->gh[2 * i + 1] = llround(hd * g->hscale);
    }
    return nr;
}

/* The per-row and per-feature arrays of a grower whose layout (S) is set. */
static void grower_alloc(grower *g, int64_t n)
{
    if (n > (int64_t)UINT32_MAX)
        mkt_fail("gbdt: %lld training rows on one rank; at most %lu per rank", (long long)n, (unsigned long)UINT32_MAX);
    size_t nn1 = (size_t)(n > 0 ? n : 1);
    g->use = mkt_xmalloc((size_t)g->d);
    g->ufeat = mkt_xmalloc((size_t)g->d * sizeof *g->ufeat);
    g->gh = mkt_xmalloc(2 * nn1 * sizeof *g->gh);
    g->rows = mkt_xmalloc(nn1 * sizeof *g->rows);
    g->tmp_cap = (int64_t)(nn1 + 1) / 2;
    g->tmp = mkt_xmalloc((size_t)g->tmp_cap * sizeof *g->tmp);
    g->hf = mkt_xmalloc((size_t)g->d * sizeof *g->hf);
    g->wide = NULL; /* 16 bytes of (g, h) a slot */
#ifndef MKT_GBDT_SCALAR /* built with -DMKT_GBDT_SCALAR: the portable path only (to test it) */
    if (__builtin_cpu_supports("avx2") && posix_memalign(&g->wide, 64, (size_t)g->S * 16))
        g->wide = NULL;
#endif
}

static void grower_free(grower *g)
{
    free(g->off);
    free(g->use);
    free(g->ufeat);
    free(g->gh);
    free(g->hf);
    free(g->wide);
    free(g->rows);
    free(g->tmp);
}

void mkt_gbdt_train(const mkt_gbdt_config *c, const mkt_gbdt_data *train, const mkt_gbdt_data *valid,
                    const mkt_gbdt_hooks *hooks, mkt_gbdt_model *model, mkt_gbdt_result *res, MPI_Comm comm)
{
    static const mkt_gbdt_hooks none = {0};
    if (!hooks)
        hooks = &none;
    memset(res, 0, sizeof *res);
    double t0 = mkt_now();
    int d = train->d;
    mkt_gbdt_loss loss = mkt_gbdt_config_loss(c);
    int64_t first = first_row(train, comm), n = train->n, nv = valid ? valid->n : 0, vtotal = 0;
    mkt_exscan_count(n, &res->train_rows, comm);
    if (valid)
        mkt_exscan_count(nv, &vtotal, comm);
    double *cuts = mkt_xmalloc((size_t)d * (MKT_GBDT_MAX_BINS - 1) * sizeof *cuts);
    int *ncuts = mkt_xmalloc((size_t)d * sizeof *ncuts), *nbins = mkt_xmalloc((size_t)d * sizeof *nbins);
    sketch(c, train, first, cuts, ncuts, comm);
    res->seconds_sketch = mkt_now() - t0;
    grower g = {.c = c, .d = d, .cuts = cuts, .nbins = nbins, .comm = comm};
    g.off = mkt_xmalloc((size_t)d * sizeof *g.off);
    for (int f = 0; f < d; f++) {
        nbins[f] = ncuts[f] + 1;
        if (nbins[f] > res->bins_max)
            res->bins_max = nbins[f];
    }
    uint8_t *bins = bin_rows(train, &g, cuts, ncuts);
    g.bins = bins;
    grower_alloc(&g, n);
    size_t nn1 = (size_t)(n > 0 ? n : 1);
    /* the training loss is a collective sum: computed when some rank reports it */
    int report[2] = {hooks->history != NULL, hooks->stage != NULL};
    MKT_MPI(MPI_Allreduce(MPI_IN_PLACE, report, 2, MPI_INT, MPI_MAX, comm));

    mkt_gbdt_state st = {.model = model, .best_val = INFINITY};
    if (hooks->resume) {
        copy_model(model, hooks->resume->model);
        st.rounds = hooks->resume->rounds;
        st.best_round = hooks->resume->best_round;
        st.best_val = hooks->resume->best_val;
        st.since_best = hooks->resume->since_best;
    } else if (mkt_gbdt_model_init(model, d, loss, base_score(loss, train, comm))) {
        mkt_fail("gbdt: out of memory");
    }
    double *mt = mkt_xmalloc(nn1 * sizeof *mt), *mv = mkt_xmalloc((size_t)(nv > 0 ? nv : 1) * sizeof *mv);
    mkt_gbdt_predict_margin(model, train->x, n, d, mt);
    if (nv > 0)
        mkt_gbdt_predict_margin(model, valid->x, nv, d, mv);
    int start = st.rounds, every = c->rounds >= 10 ? c->rounds / 10 : 1;
    double tl = NAN, vl = NAN;
    int tl_round = -1; /* the round tl belongs to */
    for (int round = st.rounds; round < c->rounds; round++) {
        int64_t nr = round_rows(c, loss, train, first, round, mt, res->train_rows, &g);
        pick_columns(c, round, &g);
        /* every row grown on: its leaf gives its margin; else traverse */
        grow_tree(&g, nr, model, nr == n ? mt : NULL);
        if (nr < n)
            mkt_gbdt_add_trees(model, model->trees - 1, model->trees, train->x, n, d, mt);
        if (nv > 0)
            mkt_gbdt_add_trees(model, model->trees - 1, model->trees, valid->x, nv, d, mv);
        int logged = report[1] && ((st.rounds + 1) % every == 0 || st.rounds + 1 == c->rounds);
        tl = report[0] || logged ? mean_loss(loss, mt, train, comm) : NAN;
        tl_round = report[0] || logged ? st.rounds + 1 : -1;
        vl = vtotal > 0 ? mean_loss(loss, mv, valid, comm) : NAN;
        st.rounds++;
        if (vtotal > 0 && vl < st.best_val) {
            st.best_val = vl;
            st.best_round = st.rounds;
            st.since_best = 0;
        } else if (vtotal > 0) {
            st.since_best++;
        } else {
            st.best_round = st.rounds;
        }
        double now = mkt_now() - t0;
        if (hooks->history) {
            mkt_gbdt_round r = {st.rounds, tl, vl, now};
            hooks->history(&r, hooks->history_ctx);
        }
        if (hooks->stage && (st.rounds % every == 0 || st.rounds == c->rounds))
            mkt_log(hooks->stage, "round %d/%d: train loss %.6f, validation loss %.6f (best at %d), %.1f s", st.rounds,
                    c->rounds, tl, vl, st.best_round, now);
        if (hooks->after_round && hooks->after_round(hooks->hook_arg, &st)) {
            res->stopped = 1;
            break;
        }
        if (c->early_stop > 0 && vtotal > 0 && st.since_best >= c->early_stop) {
            if (hooks->stage)
                mkt_log(hooks->stage, "early stop after round %d: no better validation loss in %d rounds; keeping %d trees",
                        st.rounds, c->early_stop, st.best_round);
            break;
        }
    }
    res->rounds_run = st.rounds;
    if (!res->stopped && st.best_round < model->trees) {
        mkt_gbdt_model_truncate(model, st.best_round);
        tl = mkt_gbdt_mean_loss(model, train, comm);
        vl = vtotal > 0 ? mkt_gbdt_mean_loss(model, valid, comm) : NAN;
    } else if (st.rounds == start) { /* nothing grown in this run */
        tl = mean_loss(loss, mt, train, comm);
        vl = vtotal > 0 ? mean_loss(loss, mv, valid, comm) : NAN;
    } else if (tl_round != st.rounds) {
        tl = mean_loss(loss, mt, train, comm);
    }
    res->best_round = model->trees;
    res->train_loss = tl;
    res->val_loss = vl;
    res->base_score = model->base_score;
    res->seconds = mkt_now() - t0;
    double fit_s = res->seconds - res->seconds_sketch;
    res->rows_per_second = fit_s > 0 ? (double)res->train_rows * (st.rounds - start) / fit_s : 0;
    free(cuts);
    free(ncuts);
    free(nbins);
    free(bins);
    grower_free(&g);
    free(mt);
    free(mv);
}
