/* ranking.c — top-K selection and ranking metrics (see ranking.h). */
#include "ranking.h"

#include <math.h>

int mkt_topk(const double *score, int64_t n, const unsigned char *exclude, int k, int32_t *out)
{
    int m = 0;
    for (int64_t i = 0; i < n; i++) {
        if (exclude && exclude[i])
            continue;
        double s = score[i];
        /* strictly better than the current last (ties keep the lower index) */
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
