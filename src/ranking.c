/* ranking.c — top-K selection and ranking metrics (see ranking.h). */
#include "ranking.h"

#include <math.h>
#include <stdlib.h>

int mkt_ranks_below(double sa, int64_t ia, double sb, int64_t ib)
{
    if (sa < sb)
        return 1;
    if (sa > sb)
        return 0;
    if (sa == sb)
        return ia > ib;
    if (isnan(sa) != isnan(sb))
        return isnan(sa);
    return ia > ib; /* both NaN */
}

/* Sift the entry at the root of the min-heap (s, ix)[0..n) down to its place. */
static void sift_down(double *s, int32_t *ix, int n)
{
    double vs = s[0];
    int32_t vi = ix[0];
    int i = 0;
    for (;;) {
        int c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && mkt_ranks_below(s[c + 1], ix[c + 1], s[c], ix[c]))
            c++;
        if (!mkt_ranks_below(s[c], ix[c], vs, vi))
            break;
        s[i] = s[c];
        ix[i] = ix[c];
        i = c;
    }
    s[i] = vs;
    ix[i] = vi;
}

void mkt_heap_offer(double *s, int32_t *ix, int *m, int cap, double v, int32_t i)
{
    if (*m < cap) { /* sift up */
        int j = (*m)++;
        while (j > 0 && mkt_ranks_below(v, i, s[(j - 1) / 2], ix[(j - 1) / 2])) {
            s[j] = s[(j - 1) / 2];
            ix[j] = ix[(j - 1) / 2];
            j = (j - 1) / 2;
        }
        s[j] = v;
        ix[j] = i;
        return;
    }
    if (cap <= 0 || !mkt_ranks_below(s[0], ix[0], v, i)) /* the common case: below the k-th */
        return;
    s[0] = v;
    ix[0] = i;
    sift_down(s, ix, *m);
}

void mkt_heap_sort(double *s, int32_t *ix, int m)
{
    /* the lowest ranked goes to the end, one at a time */
    for (int e = m - 1; e > 0; e--) {
        double ts = s[0];
        int32_t ti = ix[0];
        s[0] = s[e];
        ix[0] = ix[e];
        s[e] = ts;
        ix[e] = ti;
        sift_down(s, ix, e);
    }
}

int mkt_topk(const double *score, int64_t n, const unsigned char *exclude, int k, int32_t *out)
{
    if (k <= 0 || n <= 0)
        return 0;
    double *s = malloc(sizeof(double) * (size_t)k); /* the scores of the heap out[0..m) */
    if (!s)
        abort();
    int m = 0;
    for (int64_t i = 0; i < n; i++)
        if (!exclude || !exclude[i])
            mkt_heap_offer(s, out, &m, k, score[i], (int32_t)i);
    mkt_heap_sort(s, out, m);
    free(s);
    return m;
}

mkt_rank_quality mkt_rank_eval(const int32_t *top, int ntop, int k, const int32_t *relevant, int nrel)
{
    mkt_rank_quality q = {0, 0, 0, 0, 0};
    if (nrel <= 0 || k <= 0)
        return q;
    int n = ntop < k ? ntop : k, hits = 0;
    double dcg = 0, idcg = 0, ap = 0;
    for (int p = 0; p < n; p++) {
        int rel = 0;
        for (int j = 0; j < nrel; j++)
            if (relevant[j] == top[p]) {
                rel = 1;
                break;
            }
        if (rel) {
            hits++;
            dcg += 1.0 / log2(p + 2.0);
            ap += (double)hits / (p + 1.0);
        }
    }
    int ideal = nrel < k ? nrel : k;
    for (int p = 0; p < ideal; p++)
        idcg += 1.0 / log2(p + 2.0);
    q.hit = hits > 0;
    q.precision = (double)hits / k;
    q.recall = (double)hits / nrel;
    q.ndcg = dcg / idcg;
    q.ap = ap / ideal;
    return q;
}
