/* strategy_topk.c — the item lists of `mkt strategy` (see strategy.h and
 * docs/strategy.md): the top-K of a score vector with at most max_per_cat
 * items of a category (strat_topk_diverse, and the former method kept for
 * bench/strategy_speed.sh), and the top-K unseen items of the factorization
 * model for blocks of users, screened in float32 products (sgemm) with a
 * proven error bound and rescored exactly (strat_mf_topk), so the lists
 * equal those of the exact scores.
 *
 * Must not: talk MPI, touch files or print. */
#include "strategy.h"

#include <cblas.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ranking.h"
#include "topk.h"

/* ---------- diverse top-K ---------- */

/* The heap of category g in strat_topk_diverse and strat_mf_topk: groups
 * 0..ncat-1 hold lim entries each, group ncat (items without a limited
 * category) holds k. */
static int item_group(const int32_t *category, int ncat, int limited, int64_t i)
{
    if (!limited)
        return 0;
    int32_t c = category[i];
    return c >= 0 && c < ncat ? c : ncat;
}

int strat_topk_diverse(const double *score, int64_t n, const unsigned char *exclude, const int32_t *category, int ncat,
                       int max_per_cat, int k, int32_t *out)
{
    if (k <= 0 || n <= 0)
        return 0;
    if (max_per_cat <= 0 || !category || ncat <= 0)
        return mkt_topk(score, n, exclude, k, out);
    /* the best lim of every category and the best k of the rest: the list
     * is the best k of their union (an item of a full category ranks below
     * the lim taken from it, so taking items best first never reaches it) */
    int lim = max_per_cat < k ? max_per_cat : k;
    size_t cap = (size_t)ncat * (size_t)lim + (size_t)k;
    double *hs = malloc(sizeof(double) * cap);
    int32_t *hi = malloc(sizeof(int32_t) * cap);
    int *cnt = calloc((size_t)ncat + 1, sizeof(int));
    if (!hs || !hi || !cnt)
        abort();
    for (int64_t i = 0; i < n; i++) {
        if (exclude && exclude[i])
            continue;
        int g = item_group(category, ncat, 1, i);
        size_t off = (size_t)g * (size_t)lim;
        mkt_heap_offer(hs + off, hi + off, &cnt[g], g < ncat ? lim : k, score[i], (int32_t)i);
    }
    /* the union into the heap of out */
    double *os = malloc(sizeof(double) * (size_t)k);
    if (!os)
        abort();
    int m = 0;
    for (int g = 0; g <= ncat; g++) {
        size_t off = (size_t)g * (size_t)lim;
        for (int j = 0; j < cnt[g]; j++)
            mkt_heap_offer(os, out, &m, k, hs[off + (size_t)j], hi[off + (size_t)j]);
    }
    mkt_heap_sort(os, out, m);
    free(os);
    free(cnt);
    free(hi);
    free(hs);
    return m;
}

/* The former top-k: an insertion sort (ties keep the lower index). */
static int topk_insertion(const double *score, int64_t n, const unsigned char *exclude, int k, int32_t *out)
{
    int m = 0;
    for (int64_t i = 0; i < n && k > 0; i++) {
        if (exclude && exclude[i])
            continue;
        double s = score[i];
        if (m == k && !(s > score[out[k - 1]]))
            continue;
        int p = m < k ? m++ : k - 1;
        while (p > 0 && s > score[out[p - 1]]) {
            out[p] = out[p - 1];
            p--;
        }
        out[p] = (int32_t)i;
    }
    return m;
}

int strat_topk_diverse_reference(const double *score, int64_t n, const unsigned char *exclude, const int32_t *category,
                                 int ncat, int max_per_cat, int k, int32_t *out)
{
    if (k <= 0 || n <= 0)
        return 0;
    if (max_per_cat <= 0 || !category)
        return topk_insertion(score, n, exclude, k, out);
    int *used = calloc((size_t)(ncat > 0 ? ncat : 1), sizeof(int));
    int64_t want = (int64_t)k * 4;
    int32_t *cand = NULL;
    int got = 0;
    for (;;) {
        int kc = (int)(want < n ? want : n);
        int32_t *nc = realloc(cand, sizeof(int32_t) * (size_t)kc);
        if (!nc || !used)
            abort();
        cand = nc;
        int nfound = topk_insertion(score, n, exclude, kc, cand);
        memset(used, 0, sizeof(int) * (size_t)(ncat > 0 ? ncat : 1));
        got = 0;
        for (int j = 0; j < nfound && got < k; j++) {
            int32_t c = category[cand[j]];
            int ok = c < 0 || c >= ncat || used[c] < max_per_cat;
            if (!ok)
                continue;
            if (c >= 0 && c < ncat)
                used[c]++;
            out[got++] = cand[j];
        }
        if (got == k || nfound < kc || kc == n)
            break;
        want *= 2;
    }
    free(cand);
    free(used);
    return got;
}

/* ---------- MF item lists from blocked products ---------- */

#ifndef MF_USERS
#define MF_USERS 256 /* users per block (rows of one sgemm) */
#endif
#ifndef MF_ITEMS
#define MF_ITEMS 512 /* items per tile (columns of one sgemm): the products of a block fit the L2 cache */
#endif
#define MF_NORM 0x1p40  /* screened only when every factor norm is below this, */
#define MF_BIAS 0x1p60  /* every item bias below this (no float32 overflow), */
#define MF_CONST 0x1p400 /* and mu + b_u below this */

/* s(u, i) exactly as documented (the order of the operations is the contract). */
static double mf_exact(const strat_mf_items *m, const double *pu, double bu, int64_t i)
{
    const double *qi = m->q + i * m->K;
    double s = m->mu + bu + (m->bi ? m->bi[i] : 0.0);
    for (int j = 0; j < m->K; j++)
        s += pu[j] * qi[j];
    return s;
}

/* One user's screen: per group a min-heap of the largest products seen (only
 * values: the thresholds), the threshold (root - 2E once the heap is full)
 * and the items that reached their group's threshold when they came, with
 * their products. */
typedef struct {
    double *hv, *thr;
    int *cnt;
    int32_t *cand;
    double *cval;
    int64_t ncand, cap;
    double e2; /* 2E */
    double tk; /* the k-th largest product held in the heaps, less 2E (-DBL_MAX: fewer than k held) */
    double tmin; /* the lowest threshold prefilter_bound found (thresholds only rise) */
    int ok;    /* 0: every item scored exactly */
    unsigned char *open; /* per group: it has items and its heap is not full yet */
    int nopen;
} mf_screen;

typedef float mf_v4f __attribute__((vector_size(16)));
typedef int mf_v4i __attribute__((vector_size(16)));

#define MF_CHUNK 32 /* products tested together against the lowest threshold */

/* Whether any of x[0..MF_CHUNK) is >= r (four floats a compare, one reduction). */
static inline int any_at_least(const float *x, float r)
{
    mf_v4f rr = {r, r, r, r};
    mf_v4i h = {0, 0, 0, 0};
    for (int j = 0; j < MF_CHUNK; j += 4) {
        mf_v4f a;
        memcpy(&a, x + j, sizeof a);
        h |= a >= rr;
    }
    return (h[0] | h[1] | h[2] | h[3]) != 0;
}

/* r such that a product below r, plus cu, is below the threshold of every
 * full group: their lowest threshold less cu, less a margin for the
 * rounding of both subtractions and of the addition (-inf: no full group). */
static float prefilter_bound(mf_screen *s, int G, double cu)
{
    double tmin = INFINITY;
    for (int g = 0; g < G; g++) {
        double e = s->thr[g] > s->tk ? s->thr[g] : s->tk;
        if (e > -DBL_MAX && e < tmin)
            tmin = e;
    }
    s->tmin = tmin;
    if (tmin == INFINITY)
        return -INFINITY;
    double r = (tmin - cu) - 0x1p-50 * (fabs(tmin) + fabs(cu));
    if (r > FLT_MAX) /* every product is below it */
        return FLT_MAX;
    if (r < -FLT_MAX)
        return -INFINITY;
    float f = (float)r; /* rounded down */
    return (double)f > r ? nextafterf(f, -INFINITY) : f;
}

static void heap_push_value(double *h, int *n, int cap, double v)
{
    if (*n < cap) {
        int j = (*n)++;
        while (j > 0 && h[(j - 1) / 2] > v) {
            h[j] = h[(j - 1) / 2];
            j = (j - 1) / 2;
        }
        h[j] = v;
        return;
    }
    if (!(v > h[0]))
        return;
    int i = 0;
    for (;;) {
        int c = 2 * i + 1;
        if (c >= *n)
            break;
        if (c + 1 < *n && h[c + 1] < h[c])
            c++;
        if (!(h[c] < v))
            break;
        h[i] = h[c];
        i = c;
    }
    h[i] = v;
}

static int cmp_int32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* The state of one strat_mf_topk call: its arguments, the item rows in
 * float32 with the bias appended, the group of every item, the screens of
 * one block of users, and scratch. */
typedef struct {
    const strat_mf_items *m;
    const double *p, *bu;
    const int64_t *ex_ptr;
    const int32_t *ex_item;
    int k, K, K1, limited, G, lim;
    int64_t ni, n_users;
    size_t H;                  /* heap values per user */
    float *qa, *pa, *c;        /* item rows [ni x K1], user rows [MF_USERS x K1], products [MF_USERS x MF_ITEMS] */
    int32_t *grp;
    unsigned char *present;    /* groups with items */
    mf_screen *sc;             /* [MF_USERS] */
    double *all;               /* exact scores (fallback) */
    unsigned char *excl;
    double *us, *cs;           /* us: the k largest heap values; cs: candidate scores */
    int32_t *top, *cc, *ex;    /* cc: candidate items; ex: the excluded items of a block, sorted per user */
    int64_t *exn, *exat, csz;  /* csz: capacity of cs and cc */
    double qmax, bmax;         /* the largest item norm and bias */
    int qok;                   /* every item row is screened */
} mf_ctx;

/* Every buffer of x, the item rows, the groups and the screens; -1 when out of memory. */
static int mf_alloc(mf_ctx *x)
{
    const strat_mf_items *m = x->m;
    int64_t ni = x->ni;
    int K = x->K, K1 = x->K1, k = x->k;
    x->qa = malloc(sizeof(float) * (size_t)ni * (size_t)K1);
    x->grp = malloc(sizeof(int32_t) * (size_t)ni);
    x->pa = malloc(sizeof(float) * MF_USERS * (size_t)K1);
    x->c = malloc(sizeof(float) * MF_USERS * MF_ITEMS);
    x->sc = calloc(MF_USERS, sizeof *x->sc);
    x->all = malloc(sizeof(double) * (size_t)ni);
    x->excl = calloc((size_t)ni, 1);
    x->us = malloc(sizeof(double) * (size_t)k);
    x->top = malloc(sizeof(int32_t) * (size_t)k);
    int64_t exmax = 0; /* the most excluded items of one block */
    for (int64_t u0 = 0; u0 < x->n_users; u0 += MF_USERS) {
        int64_t u1 = u0 + MF_USERS < x->n_users ? u0 + MF_USERS : x->n_users;
        exmax = x->ex_ptr[u1] - x->ex_ptr[u0] > exmax ? x->ex_ptr[u1] - x->ex_ptr[u0] : exmax;
    }
    x->ex = malloc(sizeof(int32_t) * (size_t)(exmax > 0 ? exmax : 1));
    x->exn = calloc(MF_USERS, sizeof(int64_t));
    x->exat = calloc(MF_USERS, sizeof(int64_t));
    x->present = calloc((size_t)x->G, 1);
    if (!x->qa || !x->grp || !x->pa || !x->c || !x->sc || !x->all || !x->excl || !x->us || !x->top || !x->ex ||
        !x->exn || !x->exat || !x->present)
        return -1;
    double qmax = 0, bmax = 0;
    int qok = 1;
    for (int64_t i = 0; i < ni; i++) {
        double b = m->bi ? m->bi[i] : 0.0, qn = mkt_norm2(m->q + i * K, K);
        qok = qok && qn <= MF_NORM && fabs(b) <= MF_BIAS; /* false for NaN */
        for (int j = 0; j < K; j++)
            x->qa[i * K1 + j] = qok ? (float)m->q[i * K + j] : 0.0f;
        x->qa[i * K1 + K] = qok ? (float)b : 0.0f;
        qmax = qn > qmax ? qn : qmax;
        bmax = fabs(b) > bmax ? fabs(b) : bmax;
        x->grp[i] = item_group(m->category, m->ncat, x->limited, i);
        x->present[x->grp[i]] = 1;
    }
    x->qmax = qmax;
    x->bmax = bmax;
    x->qok = qok;
    for (int uu = 0; uu < MF_USERS; uu++) {
        mf_screen *s = &x->sc[uu];
        s->hv = malloc(sizeof(double) * x->H);
        s->thr = malloc(sizeof(double) * (size_t)x->G);
        s->open = malloc((size_t)x->G);
        s->cnt = malloc(sizeof(int) * (size_t)x->G);
        s->cap = 4 * (int64_t)x->H + 64;
        s->cand = malloc(sizeof(int32_t) * (size_t)s->cap);
        s->cval = malloc(sizeof(double) * (size_t)s->cap);
        if (!s->hv || !s->thr || !s->open || !s->cnt || !s->cand || !s->cval)
            return -1;
    }
    return 0;
}

static void mf_free(mf_ctx *x)
{
    for (int uu = 0; x->sc && uu < MF_USERS; uu++) {
        free(x->sc[uu].hv);
        free(x->sc[uu].thr);
        free(x->sc[uu].open);
        free(x->sc[uu].cnt);
        free(x->sc[uu].cand);
        free(x->sc[uu].cval);
    }
    free(x->sc);
    free(x->qa);
    free(x->grp);
    free(x->pa);
    free(x->c);
    free(x->all);
    free(x->excl);
    free(x->us);
    free(x->cs);
    free(x->cc);
    free(x->top);
    free(x->ex);
    free(x->exn);
    free(x->exat);
    free(x->present);
}

/* The screens of the users [u0, u0 + nu): their float32 rows, error bounds,
 * empty heaps and sorted excluded items.  Returns whether any is screened. */
static int mf_block_setup(mf_ctx *x, int64_t u0, int nu)
{
    const strat_mf_items *m = x->m;
    int K = x->K, K1 = x->K1, G = x->G;
    int any = 0;
    for (int uu = 0; uu < nu; uu++) {
        int64_t u = u0 + uu;
        mf_screen *s = &x->sc[uu];
        const double *pu = x->p + u * K;
        double cu = m->mu + x->bu[u], pn = mkt_norm2(pu, K);
        s->ok = x->qok && pn <= MF_NORM && fabs(cu) <= MF_CONST;
        for (int j = 0; j < K; j++)
            x->pa[(size_t)uu * (size_t)K1 + (size_t)j] = s->ok ? (float)pu[j] : 0.0f;
        x->pa[(size_t)uu * (size_t)K1 + K] = 1.0f;
        /* |cu + product - s(u, i)| <= E (the bound: docs/strategy.md) */
        double e = 2.0 * (1.01 * (K + 4) * (0x1p-24 + 0x1p-52) * (pn * x->qmax + x->bmax) +
                          1.01 * (K + 4) * 0x1p-52 * fabs(cu) + 0x1p-100 * (K + 4));
        s->ok = s->ok && isfinite(e);
        s->e2 = 2 * e;
        s->ncand = 0;
        s->nopen = 0;
        s->tk = -DBL_MAX;
        for (int g = 0; g < G; g++) {
            s->cnt[g] = 0;
            s->thr[g] = -DBL_MAX;
            s->open[g] = x->present[g];
            s->nopen += x->present[g];
        }
        /* this user's excluded items, sorted, for the tiles (the block's lists side by side in ex) */
        int32_t *xe = x->ex + (x->ex_ptr[u] - x->ex_ptr[u0]);
        x->exn[uu] = x->ex_ptr[u + 1] - x->ex_ptr[u];
        x->exat[uu] = 0;
        memcpy(xe, x->ex_item + x->ex_ptr[u], sizeof(int32_t) * (size_t)x->exn[uu]);
        qsort(xe, (size_t)x->exn[uu], sizeof(int32_t), cmp_int32);
        any |= s->ok;
    }
    return any;
}

/* A full candidate list: drop the candidates the thresholds now rule out,
 * grow when that frees less than half.  -1 when out of memory. */
static int mf_compact(mf_screen *s, const int32_t *grp)
{
    int64_t w = 0;
    for (int64_t j = 0; j < s->ncand; j++)
        if (s->cval[j] >= s->thr[grp[s->cand[j]]] && s->cval[j] >= s->tk) {
            s->cand[w] = s->cand[j];
            s->cval[w] = s->cval[j];
            w++;
        }
    s->ncand = w;
    if (w > s->cap / 2) {
        int64_t ncap = 2 * s->cap;
        int32_t *nc = realloc(s->cand, sizeof(int32_t) * (size_t)ncap);
        if (!nc)
            return -1;
        s->cand = nc;
        double *nv = realloc(s->cval, sizeof(double) * (size_t)ncap);
        if (!nv)
            return -1;
        s->cval = nv;
        s->cap = ncap;
    }
    return 0;
}

/* One user's screen over the tile of items [i0, i0 + nt) (row: its products
 * with the user, uu: its place in the block starting at u0): the products
 * that reach their group's threshold go into the heaps and the candidates.
 * -1 when out of memory. */
static int mf_screen_tile(mf_ctx *x, int64_t u0, int uu, float *row, int64_t i0, int nt)
{
    mf_screen *s = &x->sc[uu];
    int k = x->k, G = x->G, lim = x->lim, limited = x->limited;
    /* excluded items: -inf never reaches a threshold (all >= -DBL_MAX) */
    const int32_t *xe = x->ex + (x->ex_ptr[u0 + uu] - x->ex_ptr[u0]);
    while (x->exat[uu] < x->exn[uu] && xe[x->exat[uu]] < i0 + nt) {
        if (xe[x->exat[uu]] >= i0)
            row[xe[x->exat[uu]] - i0] = -INFINITY;
        x->exat[uu]++;
    }
    double cu = x->m->mu + x->bu[u0 + uu];
    const int32_t *gr = x->grp + i0;
    int64_t tile = i0 / MF_ITEMS;
    if (limited && ((tile & (tile - 1)) == 0 || tile % 8 == 0)) {
        /* (tiles 1, 2, 4, 8, 16, 24, ...) the heaps hold at most lim items of a category: the k-th largest of their union is at most
         * that of the final lists' pool, so no item below it (less 2E) can be chosen */
        int nk = 0;
        for (int g = 0; g < G; g++)
            for (int j = 0; j < s->cnt[g]; j++)
                heap_push_value(x->us, &nk, k, s->hv[(size_t)g * (size_t)lim + (size_t)j]);
        if (nk == k)
            s->tk = x->us[0] - s->e2;
    }
    /* most products are below every threshold: those of a full group are tested against the
     * lowest threshold of the full groups first (less a margin for the addition of cu), MF_CHUNK at a
     * time */
    float rmin = prefilter_bound(s, G, cu);
    for (int t0 = 0; t0 < nt; t0 += MF_CHUNK) {
        int t1 = t0 + MF_CHUNK < nt ? t0 + MF_CHUNK : nt;
        if (t1 - t0 == MF_CHUNK) {
            int hit = 0;
            if (s->nopen == 0 || s->tk > -DBL_MAX)
                hit = any_at_least(row + t0, rmin);
            else
                for (int j = 0; j < MF_CHUNK; j++)
                    hit |= (row[t0 + j] >= rmin) | s->open[gr[t0 + j]];
            if (!hit)
                continue;
        }
        for (int t = t0; t < t1; t++) {
            double a = cu + (double)row[t];
            int g = gr[t];
            if (!(a >= s->thr[g]) || !(a >= s->tk))
                continue;
            int glim = g < G - 1 || !limited ? lim : k;
            double *h = s->hv + (size_t)g * (size_t)lim;
            heap_push_value(h, &s->cnt[g], glim, a);
            if (s->cnt[g] == glim) {
                double was = s->thr[g] > s->tk ? s->thr[g] : s->tk;
                s->thr[g] = h[0] - s->e2;
                s->nopen -= s->open[g];
                s->open[g] = 0;
                if (!(was > s->tmin)) /* the lowest threshold may have risen */
                    rmin = prefilter_bound(s, G, cu);
            }
            if (s->ncand == s->cap && mf_compact(s, x->grp) != 0)
                return -1;
            s->cand[s->ncand] = (int32_t)(i0 + t);
            s->cval[s->ncand] = a;
            s->ncand++;
        }
    }
    return 0;
}

/* User u's list when it cannot be screened: every item scored exactly. */
static void mf_list_exact(mf_ctx *x, int64_t u, int64_t *items, double *scores)
{
    const strat_mf_items *m = x->m;
    const double *pu = x->p + u * x->K;
    int k = x->k;
    for (int64_t j = x->ex_ptr[u]; j < x->ex_ptr[u + 1]; j++)
        x->excl[x->ex_item[j]] = 1;
    for (int64_t i = 0; i < x->ni; i++)
        x->all[i] = x->excl[i] ? 0.0 : mf_exact(m, pu, x->bu[u], i);
    int got = strat_topk_diverse(x->all, x->ni, x->excl, m->category, x->limited ? m->ncat : 0,
                                 x->limited ? m->max_per_cat : 0, k, x->top);
    for (int64_t j = x->ex_ptr[u]; j < x->ex_ptr[u + 1]; j++)
        x->excl[x->ex_item[j]] = 0;
    for (int j = 0; j < got; j++) {
        items[u * k + j] = x->top[j];
        scores[u * k + j] = x->all[x->top[j]];
    }
}

/* User u's list from its screen s: the candidates above the final
 * thresholds rescored exactly, and the exact list among them.  -1 when out
 * of memory. */
static int mf_list_screened(mf_ctx *x, int64_t u, mf_screen *s, int64_t *items, double *scores,
                            strat_mf_stats *st)
{
    const strat_mf_items *m = x->m;
    const double *pu = x->p + u * x->K;
    int k = x->k, G = x->G, lim = x->lim, limited = x->limited;
    /* the final thresholds: per group its lim-th product (when it has lim), and the k-th product of the
     * union of the groups' heaps (when it has k) */
    int nk = 0;
    for (int g = 0; g < G; g++)
        for (int j = 0; j < s->cnt[g]; j++)
            heap_push_value(x->us, &nk, k, s->hv[(size_t)g * (size_t)lim + (size_t)j]);
    double tk = nk == k ? x->us[0] - s->e2 : -DBL_MAX;
    if (s->ncand > x->csz) {
        free(x->cs);
        free(x->cc);
        x->csz = s->ncand;
        x->cs = malloc(sizeof(double) * (size_t)x->csz);
        x->cc = malloc(sizeof(int32_t) * (size_t)x->csz);
        if (!x->cs || !x->cc)
            return -1;
    }
    double *cs = x->cs;
    int32_t *cc = x->cc;
    int64_t nc = 0;
    for (int64_t j = 0; j < s->ncand; j++) {
        int32_t i = s->cand[j];
        double tg = s->thr[x->grp[i]];
        if (s->cval[j] >= tg && s->cval[j] >= tk) {
            cs[nc] = mf_exact(m, pu, x->bu[u], i);
            cc[nc] = i; /* in increasing item order: ties keep the lower item */
            nc++;
        }
    }
    st->rescored += nc;
    st->users_screened++;
    /* the exact list among the candidates: categories looked up through cc */
    int32_t *ccat = NULL;
    if (limited) {
        ccat = malloc(sizeof(int32_t) * (size_t)(nc > 0 ? nc : 1));
        if (!ccat)
            return -1;
        for (int64_t j = 0; j < nc; j++)
            ccat[j] = m->category[cc[j]];
    }
    int got = strat_topk_diverse(cs, nc, NULL, ccat, limited ? m->ncat : 0, limited ? m->max_per_cat : 0, k,
                                 x->top);
    free(ccat);
    for (int j = 0; j < got; j++) {
        items[u * k + j] = cc[x->top[j]];
        scores[u * k + j] = cs[x->top[j]];
    }
    return 0;
}

int strat_mf_topk(const strat_mf_items *m, const double *p, const double *bu, int64_t n, const int64_t *ex_ptr,
                  const int32_t *ex_item, int k, int64_t *items, double *scores, strat_mf_stats *st)
{
    strat_mf_stats dummy;
    if (!st)
        st = &dummy;
    memset(st, 0, sizeof *st);
    for (int64_t j = 0; j < n * (k > 0 ? k : 0); j++) {
        items[j] = -1;
        scores[j] = 0.0;
    }
    if (n <= 0 || k <= 0 || m->nitems <= 0)
        return 0;
    mf_ctx x;
    memset(&x, 0, sizeof x);
    x.m = m;
    x.p = p;
    x.bu = bu;
    x.ex_ptr = ex_ptr;
    x.ex_item = ex_item;
    x.n_users = n;
    x.k = k;
    x.ni = m->nitems;
    x.K = m->K;
    x.K1 = m->K + 1;
    x.limited = m->max_per_cat > 0 && m->category && m->ncat > 0;
    x.G = x.limited ? m->ncat + 1 : 1;
    x.lim = x.limited ? (m->max_per_cat < k ? m->max_per_cat : k) : k;
    x.H = x.limited ? (size_t)m->ncat * (size_t)x.lim + (size_t)k : (size_t)k;
    int rc = -1;
    if (mf_alloc(&x) != 0)
        goto out;
    for (int64_t u0 = 0; u0 < n; u0 += MF_USERS) {
        int nu = (int)(n - u0 < MF_USERS ? n - u0 : MF_USERS);
        int any = mf_block_setup(&x, u0, nu);
        for (int64_t i0 = 0; any && i0 < x.ni; i0 += MF_ITEMS) {
            int nt = (int)(x.ni - i0 < MF_ITEMS ? x.ni - i0 : MF_ITEMS);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nu, nt, x.K1, 1.0f, x.pa, x.K1, x.qa + i0 * x.K1,
                        x.K1, 0.0f, x.c, MF_ITEMS);
            for (int uu = 0; uu < nu; uu++)
                if (x.sc[uu].ok && mf_screen_tile(&x, u0, uu, x.c + (size_t)uu * MF_ITEMS, i0, nt) != 0)
                    goto out;
        }
        for (int uu = 0; uu < nu; uu++) {
            if (!x.sc[uu].ok) {
                mf_list_exact(&x, u0 + uu, items, scores);
                st->users_exact++;
            } else if (mf_list_screened(&x, u0 + uu, &x.sc[uu], items, scores, st) != 0) {
                goto out;
            }
        }
    }
    rc = 0;
out:
    mf_free(&x);
    return rc;
}
