/* metrics.c — quality measures of scores against outcomes (see metrics.h).
 *
 * Owns the formulas only: arrays in, numbers out.  Must not talk MPI or
 * files, and must not depend on the order of equal scores beyond the
 * documented tie-break by position.  Sums of many terms use exact
 * summation (exactsum.h) so a metric does not change with the order in which
 * a caller gathered its arrays. */
#include "metrics.h"

#include <math.h>
#include <stdlib.h>

#include "exactsum.h"

typedef struct {
    double s;
    int64_t i;
} scored;

/* Descending score, NaN last, ties by index ascending. */
static int cmp_desc(const void *a, const void *b)
{
    const scored *x = a, *y = b;
    int xn = isnan(x->s), yn = isnan(y->s);
    if (xn != yn)
        return xn - yn;
    if (!xn && x->s != y->s)
        return x->s > y->s ? -1 : 1;
    return (x->i > y->i) - (x->i < y->i);
}

static scored *sorted_desc(const double *score, int64_t n)
{
    if (n <= 0)
        return NULL;
    scored *v = malloc(sizeof(scored) * (size_t)n);
    if (!v)
        return NULL;
    for (int64_t i = 0; i < n; i++) {
        v[i].s = score[i];
        v[i].i = i;
    }
    qsort(v, (size_t)n, sizeof *v, cmp_desc);
    return v;
}

int64_t *mkt_order_desc(const double *score, int64_t n)
{
    scored *v = sorted_desc(score, n);
    if (!v)
        return NULL;
    int64_t *idx = malloc(sizeof(int64_t) * (size_t)n);
    if (idx)
        for (int64_t i = 0; i < n; i++)
            idx[i] = v[i].i;
    free(v);
    return idx;
}

double mkt_auc(const double *score, const int *label, int64_t n)
{
    int64_t npos = 0;
    for (int64_t i = 0; i < n; i++)
        npos += label[i] != 0;
    int64_t nneg = n - npos;
    if (npos == 0 || nneg == 0)
        return NAN;
    scored *v = sorted_desc(score, n);
    if (!v)
        return NAN;
    /* ascending rank r (1-based) of sorted position k (descending) is n - k;
     * a run of equal scores shares the average of its ranks.  Ranks are
     * half-integers, their sum below 2^53 for any realistic n: exact. */
    double rank_sum = 0;
    for (int64_t k = 0; k < n;) {
        int64_t e = k + 1;
        while (e < n && v[e].s == v[k].s)
            e++;
        /* positions k..e-1 have ascending ranks n-e+1 .. n-k */
        double avg = ((double)(n - e + 1) + (double)(n - k)) / 2.0;
        for (int64_t j = k; j < e; j++)
            if (label[v[j].i])
                rank_sum += avg;
        k = e;
    }
    free(v);
    double u = rank_sum - (double)npos * (double)(npos + 1) / 2.0;
    return u / ((double)npos * (double)nneg);
}

double mkt_log_loss(const double *p, const int *label, int64_t n)
{
    if (n <= 0)
        return 0;
    mkt_xsum s;
    mkt_xsum_init(&s);
    for (int64_t i = 0; i < n; i++) {
        double q = p[i];
        if (!(q >= 1e-15))
            q = 1e-15;
        if (q > 1 - 1e-15)
            q = 1 - 1e-15;
        mkt_xsum_add(&s, label[i] ? -log(q) : -log1p(-q));
    }
    return mkt_xsum_value(&s) / (double)n;
}

mkt_confusion mkt_confusion_at(const double *p, const int *label, int64_t n, double threshold)
{
    mkt_confusion c = {0, 0, 0, 0};
    for (int64_t i = 0; i < n; i++) {
        int pred = p[i] >= threshold;
        if (pred && label[i])
            c.tp++;
        else if (pred)
            c.fp++;
        else if (label[i])
            c.fn++;
        else
            c.tn++;
    }
    return c;
}

static double ratio(int64_t a, int64_t b) { return b > 0 ? (double)a / (double)b : 0.0; }

double mkt_accuracy(mkt_confusion c) { return ratio(c.tp + c.tn, c.tp + c.tn + c.fp + c.fn); }
double mkt_precision(mkt_confusion c) { return ratio(c.tp, c.tp + c.fp); }
double mkt_recall(mkt_confusion c) { return ratio(c.tp, c.tp + c.fn); }
double mkt_f1(mkt_confusion c) { return ratio(2 * c.tp, 2 * c.tp + c.fp + c.fn); }

double mkt_ece(const double *p, const int *label, int64_t n, mkt_reliability *table)
{
    mkt_xsum psum[MKT_CALIB_BINS];
    int64_t count[MKT_CALIB_BINS] = {0}, pos[MKT_CALIB_BINS] = {0};
    for (int b = 0; b < MKT_CALIB_BINS; b++)
        mkt_xsum_init(&psum[b]);
    for (int64_t i = 0; i < n; i++) {
        double q = p[i];
        int b = q >= 1.0 ? MKT_CALIB_BINS - 1 : q <= 0.0 || isnan(q) ? 0 : (int)(q * MKT_CALIB_BINS);
        if (b >= MKT_CALIB_BINS)
            b = MKT_CALIB_BINS - 1;
        count[b]++;
        pos[b] += label[i] != 0;
        mkt_xsum_add(&psum[b], q);
    }
    double ece = 0;
    for (int b = 0; b < MKT_CALIB_BINS; b++) {
        double mean = count[b] ? mkt_xsum_value(&psum[b]) / (double)count[b] : 0;
        double frac = ratio(pos[b], count[b]);
        if (table) {
            table->count[b] = count[b];
            table->mean_pred[b] = mean;
            table->frac_positive[b] = frac;
        }
        if (n > 0)
            ece += (double)count[b] / (double)n * fabs(frac - mean);
    }
    return ece;
}

void mkt_lift_by_decile(const double *score, const int *label, int64_t n, mkt_lift_table *out)
{
    for (int d = 0; d < MKT_DECILES; d++) {
        out->count[d] = out->positives[d] = 0;
        out->rate[d] = out->lift[d] = out->cumulative_gain[d] = 0;
    }
    scored *v = sorted_desc(score, n);
    if (!v)
        return;
    int64_t total_pos = 0;
    for (int64_t r = 0; r < n; r++) {
        int d = (int)((__int128)MKT_DECILES * r / n);
        out->count[d]++;
        if (label[v[r].i]) {
            out->positives[d]++;
            total_pos++;
        }
    }
    free(v);
    double overall = ratio(total_pos, n);
    int64_t cum = 0;
    for (int d = 0; d < MKT_DECILES; d++) {
        out->rate[d] = ratio(out->positives[d], out->count[d]);
        out->lift[d] = overall > 0 ? out->rate[d] / overall : 0;
        cum += out->positives[d];
        out->cumulative_gain[d] = ratio(cum, total_pos);
    }
}

/* Prefix sums over examples sorted by score descending:
 * nt[k], nc[k], yt[k], yc[k] for the top k (k = 0..n). yt, yc exact. */
typedef struct {
    int64_t *nt, *nc;
    double *yt, *yc;
} uplift_prefix;

static int uplift_prefix_build(const double *score, const int *treated, const double *outcome, int64_t n,
                               uplift_prefix *u)
{
    u->nt = calloc((size_t)n + 1, sizeof(int64_t));
    u->nc = calloc((size_t)n + 1, sizeof(int64_t));
    u->yt = calloc((size_t)n + 1, sizeof(double));
    u->yc = calloc((size_t)n + 1, sizeof(double));
    scored *v = sorted_desc(score, n);
    if (!u->nt || !u->nc || !u->yt || !u->yc || (n > 0 && !v)) {
        free(v);
        return -1;
    }
    mkt_xsum st, sc;
    mkt_xsum_init(&st);
    mkt_xsum_init(&sc);
    for (int64_t k = 0; k < n; k++) {
        int64_t i = v[k].i;
        u->nt[k + 1] = u->nt[k];
        u->nc[k + 1] = u->nc[k];
        if (treated[i]) {
            u->nt[k + 1]++;
            mkt_xsum_add(&st, outcome[i]);
        } else {
            u->nc[k + 1]++;
            mkt_xsum_add(&sc, outcome[i]);
        }
        u->yt[k + 1] = mkt_xsum_value(&st);
        u->yc[k + 1] = mkt_xsum_value(&sc);
    }
    free(v);
    return 0;
}

static void uplift_prefix_free(uplift_prefix *u)
{
    free(u->nt);
    free(u->nc);
    free(u->yt);
    free(u->yc);
}

static double qini_at(const uplift_prefix *u, int64_t k)
{
    if (u->nc[k] == 0)
        return u->yt[k];
    return u->yt[k] - u->yc[k] * (double)u->nt[k] / (double)u->nc[k];
}

void mkt_qini_curve(const double *score, const int *treated, const double *outcome, int64_t n, int points,
                    double *x, double *qini)
{
    uplift_prefix u;
    int ok = points >= 2 && uplift_prefix_build(score, treated, outcome, n, &u) == 0;
    if (!ok) {
        for (int j = 0; j < points; j++) {
            if (x)
                x[j] = points > 1 ? (double)j / (points - 1) : 0;
            qini[j] = 0;
        }
        if (points >= 2)
            uplift_prefix_free(&u);
        return;
    }
    for (int j = 0; j < points; j++) {
        double f = (double)j / (points - 1);
        int64_t k = (int64_t)llround(f * (double)n);
        if (x)
            x[j] = f;
        qini[j] = qini_at(&u, k);
    }
    uplift_prefix_free(&u);
}

double mkt_qini_coefficient(const double *score, const int *treated, const double *outcome, int64_t n)
{
    if (n <= 0)
        return 0;
    uplift_prefix u;
    if (uplift_prefix_build(score, treated, outcome, n, &u) != 0) {
        uplift_prefix_free(&u);
        return NAN;
    }
    /* trapezoids over x = k/n with width 1/n */
    mkt_xsum area;
    mkt_xsum_init(&area);
    for (int64_t k = 1; k <= n; k++)
        mkt_xsum_add(&area, (qini_at(&u, k - 1) + qini_at(&u, k)) / (2.0 * (double)n));
    double total = qini_at(&u, n);
    uplift_prefix_free(&u);
    return (mkt_xsum_value(&area) - total / 2.0) / (double)n;
}

double mkt_auuc(const double *score, const int *treated, const double *outcome, int64_t n)
{
    if (n <= 0)
        return 0;
    uplift_prefix u;
    if (uplift_prefix_build(score, treated, outcome, n, &u) != 0) {
        uplift_prefix_free(&u);
        return NAN;
    }
    mkt_xsum s;
    mkt_xsum_init(&s);
    for (int64_t k = 1; k <= n; k++) {
        if (u.nt[k] == 0 || u.nc[k] == 0)
            continue;
        double lift = u.yt[k] / (double)u.nt[k] - u.yc[k] / (double)u.nc[k];
        mkt_xsum_add(&s, lift * (double)k / (double)n);
    }
    uplift_prefix_free(&u);
    return mkt_xsum_value(&s) / (double)n;
}

double mkt_uplift_at(const double *score, const int *treated, const double *outcome, int64_t n, double top)
{
    if (n <= 0 || !(top > 0))
        return NAN;
    if (top > 1)
        top = 1;
    int64_t k = (int64_t)ceil(top * (double)n - 1e-9);
    if (k < 1)
        k = 1;
    if (k > n)
        k = n;
    uplift_prefix u;
    if (uplift_prefix_build(score, treated, outcome, n, &u) != 0) {
        uplift_prefix_free(&u);
        return NAN;
    }
    double r = NAN;
    if (u.nt[k] > 0 && u.nc[k] > 0)
        r = u.yt[k] / (double)u.nt[k] - u.yc[k] / (double)u.nc[k];
    uplift_prefix_free(&u);
    return r;
}
