/* dpeval.c — a model of the data-parallel trainer over rows spread over the
 * ranks: the exact mean loss, the probabilities gathered in global row order,
 * the validation log loss and AUC that early stopping reads (see dptrain.h).
 * Must not train, define model arithmetic or read files; every value it
 * returns is bitwise identical on all ranks. */
#include "dptrain.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "exactsum.h"
#include "linmodel.h"
#include "metrics.h"
#include "par.h"

/* Logits of this rank's rows. */
static double *local_logits(const mkt_dp_model *m, const double *params, const mkt_dp_data *data)
{
    double *work = mkt_xmalloc(sizeof(double) * (m->work_doubles + 1));
    double *z = mkt_xmalloc(sizeof(double) * (size_t)(data->n + 1));
    for (int64_t i = 0; i < data->n; i++)
        z[i] = m->logit(m->ctx, params, data->x + i * data->d, work);
    free(work);
    return z;
}

/* Collective. Exact weighted mean of the loss of logits z over all ranks. */
static double mean_loss_of(const double *z, const mkt_dp_data *data, double pos_weight, MPI_Comm comm)
{
    mkt_xsum acc[2];
    mkt_xsum_init(&acc[0]);
    mkt_xsum_init(&acc[1]);
    for (int64_t i = 0; i < data->n; i++) {
        int y = data->y[i] != 0;
        double w = y ? pos_weight : 1.0;
        mkt_xsum_add(&acc[0], w * mkt_bce_logit(z[i], y));
        mkt_xsum_add(&acc[1], w);
    }
    mkt_allreduce_xsum(acc, 2, comm);
    double wsum = mkt_xsum_value(&acc[1]);
    return wsum > 0 ? mkt_xsum_value(&acc[0]) / wsum : NAN;
}

double mkt_dp_mean_loss(const mkt_dp_model *m, const mkt_dp_config *c, const double *params,
                        const mkt_dp_data *data, MPI_Comm comm)
{
    double *z = local_logits(m, params, data);
    double r = mean_loss_of(z, data, c->pos_weight, comm);
    free(z);
    return r;
}

/* Collective. Probabilities of logits z gathered in rank order (see mkt_dp_predict_all). */
static void gather_probabilities(const double *z, const mkt_dp_data *data, double **p, int **y, int64_t *n,
                                 MPI_Comm comm)
{
    int nranks;
    MKT_MPI(MPI_Comm_size(comm, &nranks));
    if (data->n > INT32_MAX)
        mkt_fail("predict: %lld rows on one rank is too many for one gather", (long long)data->n);
    int local = (int)data->n;
    int *counts = mkt_xmalloc(sizeof(int) * (size_t)nranks * 2), *displs = counts + nranks;
    MKT_MPI(MPI_Allgather(&local, 1, MPI_INT, counts, 1, MPI_INT, comm));
    int64_t total = 0;
    for (int r = 0; r < nranks; r++) {
        if (total > INT32_MAX)
            mkt_fail("predict: %lld rows in all is too many for one gather", (long long)total);
        displs[r] = (int)total;
        total += counts[r];
    }
    double *lp = mkt_xmalloc(sizeof(double) * (size_t)(local + 1));
    int *ly = mkt_xmalloc(sizeof(int) * (size_t)(local + 1));
    for (int i = 0; i < local; i++) {
        lp[i] = z[i] >= 0 ? 1.0 / (1.0 + exp(-z[i])) : exp(z[i]) / (1.0 + exp(z[i]));
        ly[i] = data->y[i] != 0;
    }
    *p = mkt_xmalloc(sizeof(double) * (size_t)(total + 1));
    *y = mkt_xmalloc(sizeof(int) * (size_t)(total + 1));
    MKT_MPI(MPI_Allgatherv(lp, local, MPI_DOUBLE, *p, counts, displs, MPI_DOUBLE, comm));
    MKT_MPI(MPI_Allgatherv(ly, local, MPI_INT, *y, counts, displs, MPI_INT, comm));
    *n = total;
    free(lp);
    free(ly);
    free(counts);
}

void mkt_dp_predict_all(const mkt_dp_model *m, const double *params, const mkt_dp_data *data, double **p, int **y,
                        int64_t *n, MPI_Comm comm)
{
    double *z = local_logits(m, params, data);
    gather_probabilities(z, data, p, y, n, comm);
    free(z);
}

/* mkt_auc's value (tie-averaged ranks), bit for bit, with a radix sort
 * instead of a comparison sort: it runs after every epoch.  The rank sum is
 * a sum of half-integers below 2^53, exact in any order, so sorting
 * ascending here gives the same result as mkt_auc's descending order. */
static double validation_auc(const double *p, const int *y, int64_t n)
{
    int64_t npos = 0;
    for (int64_t i = 0; i < n; i++)
        npos += y[i] != 0;
    if (npos == 0 || npos == n)
        return NAN;
    uint64_t *key = mkt_xmalloc(sizeof(uint64_t) * (size_t)n * 2), *tmp = key + n;
    for (int64_t i = 0; i < n; i++) {
        if (isnan(p[i])) {
            free(key);
            return mkt_auc(p, y, n);
        }
        double v = p[i] == 0 ? 0.0 : p[i]; /* −0 ties with +0 */
        uint64_t b;
        memcpy(&b, &v, sizeof b);
        b = b >> 63 ? ~b : b | UINT64_C(1) << 63; /* unsigned order = numeric order */
        key[i] = b;
    }
    /* the label rides in a parallel array */
    int8_t *lab = mkt_xmalloc((size_t)n * 2), *ltmp = lab + n;
    for (int64_t i = 0; i < n; i++)
        lab[i] = (int8_t)(y[i] != 0);
    int64_t *count = mkt_xmalloc(sizeof(int64_t) * 65536);
    for (int shift = 0; shift < 64; shift += 16) {
        memset(count, 0, sizeof(int64_t) * 65536);
        for (int64_t i = 0; i < n; i++)
            count[(key[i] >> shift) & 0xffff]++;
        int64_t sum = 0;
        for (int k = 0; k < 65536; k++) {
            int64_t c = count[k];
            count[k] = sum;
            sum += c;
        }
        for (int64_t i = 0; i < n; i++) {
            int64_t at = count[(key[i] >> shift) & 0xffff]++;
            tmp[at] = key[i];
            ltmp[at] = lab[i];
        }
        uint64_t *t = key;
        key = tmp;
        tmp = t;
        int8_t *u = lab;
        lab = ltmp;
        ltmp = u;
    }
    /* after an even number of passes key and lab are the original buffers again */
    double rank_sum = 0;
    for (int64_t k = 0; k < n;) {
        int64_t e = k + 1;
        while (e < n && key[e] == key[k])
            e++;
        double avg = ((double)(k + 1) + (double)e) / 2.0; /* ascending ranks k+1 .. e */
        for (int64_t j = k; j < e; j++)
            if (lab[j])
                rank_sum += avg;
        k = e;
    }
    free(count);
    free(lab);
    free(key);
    double u = rank_sum - (double)npos * (double)(npos + 1) / 2.0;
    return u / ((double)npos * (double)(n - npos));
}

/* Collective. Plain mean log loss (exact) and AUC of the validation rows,
 * from one logit per row. */
void mkt_dp_validate(const mkt_dp_model *m, const double *params, const mkt_dp_data *valid, double *loss, double *auc,
                     MPI_Comm comm)
{
    double *z = local_logits(m, params, valid), *vp;
    int *vy;
    int64_t vn;
    *loss = mean_loss_of(z, valid, 1.0, comm);
    gather_probabilities(z, valid, &vp, &vy, &vn, comm);
    *auc = validation_auc(vp, vy, vn);
    free(vp);
    free(vy);
    free(z);
}
