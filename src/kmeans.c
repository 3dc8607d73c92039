/* kmeans.c — nearest centre, exact k-means++ pick and segment naming (see
 * kmeans.h).  Pure code: no MPI, no files. */
#include "kmeans.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

void mkt_kmeans_config_defaults(mkt_kmeans_config *c)
{
    c->k = 5;
    c->iters = 50;
    c->seed = 42;
}

const char *mkt_kmeans_check_config(const mkt_kmeans_config *c)
{
    static _Thread_local char message[100];
    if (c->k < 1 || c->k > MKT_KMEANS_MAX_K)
        snprintf(message, sizeof message, "k must be in [1, %d] (got %d)", MKT_KMEANS_MAX_K, c->k);
    else if (c->iters < 0 || c->iters > MKT_KMEANS_MAX_ITERS)
        snprintf(message, sizeof message, "iters must be in [0, %d] (got %d)", MKT_KMEANS_MAX_ITERS, c->iters);
    else
        return NULL;
    return message;
}

int mkt_kmeans_nearest(const double *x, const double *centers, int k, int d, double *dist2)
{
    int best = 0;
    double bd = 0;
    for (int c = 0; c < k; c++) {
        double s = 0;
        const double *m = centers + (size_t)c * (size_t)d;
        for (int j = 0; j < d; j++) {
            double t = x[j] - m[j];
            s += t * t;
        }
        if (c == 0 || s < bd) {
            bd = s;
            best = c;
        }
    }
    if (dist2)
        *dist2 = bd;
    return best;
}

int64_t mkt_kmeans_pick(const double *w, int64_t n, mkt_xsum *running, double target)
{
    for (int64_t i = 0; i < n; i++) {
        if (!(w[i] > 0))
            continue; /* a zero weight never moves the sum past the target */
        mkt_xsum_add(running, w[i]);
        if (mkt_xsum_value(running) > target)
            return i;
    }
    return -1;
}

static double at(const double *v, int row, int d, int col) { return col >= 0 ? v[row * d + col] : 0; }

/* The base name of centroid c: the first naming rule that holds. */
static const char *base_name(const double *z, const double *orig, int c, int d, const mkt_segment_roles *r)
{
    int bought = r->purchases >= 0 && at(orig, c, d, r->purchases) >= 0.5;
    if (r->spend >= 0 && at(z, c, d, r->spend) >= 1)
        return "high value";
    if (bought && r->recency >= 0 && at(z, c, d, r->recency) >= 0.5)
        return "at risk";
    if (r->tenure >= 0 && at(z, c, d, r->tenure) <= -0.5)
        return "new";
    if (bought && r->price_ratio >= 0 && at(z, c, d, r->price_ratio) <= -0.5)
        return "bargain hunters";
    if (bought && r->spend >= 0 && at(z, c, d, r->spend) >= 0)
        return "regular buyers";
    if (!bought)
        return "browsers";
    return "occasional";
}

void mkt_kmeans_name(const double *z, const double *orig, int k, int d, const mkt_segment_roles *r,
                     char (*names)[MKT_SEGMENT_NAME_LEN])
{
    /* the qualifiers of a shared base name: the role feature on which a
     * segment differs most from the mean of the segments sharing its name */
    const int col[5] = {r->spend, r->purchases, r->recency, r->tenure, r->price_ratio};
    static const char *const high[5] = {"top spenders", "frequent", "lapsed", "long-standing", "premium"};
    static const char *const low[5] = {"moderate spend", "infrequent", "recent", "newer", "price-sensitive"};
    const char *base[k > 0 ? k : 1];
    for (int c = 0; c < k; c++)
        base[c] = base_name(z, orig, c, d, r);
    for (int c = 0; c < k; c++) {
        int shared = 0;
        double mean[5] = {0, 0, 0, 0, 0};
        for (int p = 0; p < k; p++)
            if (!strcmp(base[p], base[c])) {
                shared++;
                for (int j = 0; j < 5; j++)
                    mean[j] += at(z, p, d, col[j]);
            }
        if (shared < 2) {
            snprintf(names[c], MKT_SEGMENT_NAME_LEN, "%s", base[c]);
            continue;
        }
        int best = -1;
        double bd = 0;
        for (int j = 0; j < 5; j++) {
            if (col[j] < 0)
                continue;
            double dev = at(z, c, d, col[j]) - mean[j] / shared;
            if (best < 0 || fabs(dev) > fabs(bd)) {
                best = j;
                bd = dev;
            }
        }
        if (best < 0 || fabs(bd) < 0.05) /* no feature tells it apart: numbered below */
            snprintf(names[c], MKT_SEGMENT_NAME_LEN, "%s", base[c]);
        else
            snprintf(names[c], MKT_SEGMENT_NAME_LEN, "%s, %s", base[c], bd >= 0 ? high[best] : low[best]);
    }
    /* a name still given twice gets " 2", " 3", ... in segment order */
    for (int c = 0; c < k; c++) {
        int same = 0;
        for (int p = 0; p < c; p++)
            if (!strncmp(names[p], names[c], strlen(names[c])) &&
                (names[p][strlen(names[c])] == 0 || names[p][strlen(names[c])] == ' '))
                same++;
        if (same) {
            char num[16];
            int nl = snprintf(num, sizeof num, " %d", same + 1);
            size_t at_end = strlen(names[c]);
            if (at_end + (size_t)nl >= MKT_SEGMENT_NAME_LEN)
                at_end = MKT_SEGMENT_NAME_LEN - 1 - (size_t)nl;
            memcpy(names[c] + at_end, num, (size_t)nl + 1);
        }
    }
}
