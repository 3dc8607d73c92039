/* kmeans.c — nearest centre, exact k-means++ pick and segment naming (see
 * kmeans.h).  Pure code: no MPI, no files. */
#include "kmeans.h"

#include <stdio.h>
#include <string.h>

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

void mkt_kmeans_name(const double *z, const double *orig, int k, int d, const mkt_segment_roles *r,
                     char (*names)[MKT_SEGMENT_NAME_LEN])
{
    for (int c = 0; c < k; c++) {
        const char *n = "occasional";
        int bought = r->purchases >= 0 && at(orig, c, d, r->purchases) >= 0.5;
        if (r->spend >= 0 && at(z, c, d, r->spend) >= 1)
            n = "high value";
        else if (bought && r->recency >= 0 && at(z, c, d, r->recency) >= 0.5)
            n = "at risk";
        else if (r->tenure >= 0 && at(z, c, d, r->tenure) <= -0.5)
            n = "new";
        else if (bought && r->price_ratio >= 0 && at(z, c, d, r->price_ratio) <= -0.5)
            n = "bargain hunters";
        else if (bought && r->spend >= 0 && at(z, c, d, r->spend) >= 0)
            n = "regular buyers";
        else if (!bought)
            n = "browsers";
        int same = 0;
        for (int p = 0; p < c; p++)
            if (!strncmp(names[p], n, strlen(n)) && (names[p][strlen(n)] == 0 || names[p][strlen(n)] == ' '))
                same++;
        if (same)
            snprintf(names[c], MKT_SEGMENT_NAME_LEN, "%s %d", n, same + 1);
        else
            snprintf(names[c], MKT_SEGMENT_NAME_LEN, "%s", n);
    }
}
