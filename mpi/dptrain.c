/* dptrain.c — data-parallel training with exact gradient reduction (see
 * dptrain.h for the determinism argument).
 *
 * Owns minibatch selection, the per-step exact allreduce of gradient sums,
 * the optimizers and early stopping.  Must not define model arithmetic or
 * read files.  Every decision (step sizes, line search, early stopping) is
 * taken from values that are bitwise identical on all ranks, so all ranks
 * take the same branch and enter the same collectives. */
#include "dptrain.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "exactsum.h"
#include "metrics.h"
#include "par.h"
#include "rng.h"

#define MKT_DP_STREAM_NOISE UINT64_C(0x64706e6f697365) /* rng purpose of the privacy noise */

void mkt_dp_config_defaults(mkt_dp_config *c)
{
    memset(c, 0, sizeof *c);
    c->optimizer = MKT_DP_LBFGS;
    c->epochs = 50;
    c->batch = 256;
    c->lr = 0.01;
    c->momentum = 0.9;
    c->beta1 = 0.9;
    c->beta2 = 0.999;
    c->adam_eps = 1e-8;
    c->l2 = 1e-4;
    c->pos_weight = 1.0;
    c->patience = 5;
    c->lbfgs_memory = 10;
    c->seed = 1;
}

/* Per-rank scratch: the model's work space and one example's gradient. */
typedef struct {
    double *work, *grad;
    mkt_xsum *acc; /* nparams gradient sums, then loss sum, then weight sum */
} scratch;

static void scratch_init(scratch *s, const mkt_dp_model *m)
{
    s->work = mkt_xmalloc(sizeof(double) * (m->work_doubles + 1));
    s->grad = mkt_xmalloc(sizeof(double) * (size_t)(m->nparams + 1));
    s->acc = mkt_xmalloc(sizeof(mkt_xsum) * (size_t)(m->nparams + 2));
}

static void scratch_free(scratch *s)
{
    free(s->work);
    free(s->grad);
    free(s->acc);
}

/* How a training step evaluates its examples: epoch < 0 means plain
 * evaluation (loss_grad); else train_loss_grad (when the model has one) with
 * global index offset + local row; clip > 0: per-example clipping. */
typedef struct {
    int epoch;
    int64_t offset;
    double clip;
} step_mode;

static const step_mode PLAIN = {-1, 0, 0};

/* Collective. Exact sums over all ranks of weight·loss, weight and (when
 * with_grad) weight·gradient of the given local rows (rows == NULL: all);
 * with mode.clip > 0 each weight·gradient is scaled to norm <= clip. */
static void accumulate(const mkt_dp_model *m, double pos_weight, const double *params, const mkt_dp_data *d,
                       const int64_t *rows, int64_t nrows, int with_grad, step_mode mode, scratch *s,
                       MPI_Comm comm)
{
    int64_t P = m->nparams;
    mkt_xsum *lw = s->acc + P; /* loss sum, weight sum */
    if (with_grad)
        for (int64_t j = 0; j < P; j++)
            mkt_xsum_init(&s->acc[j]);
    mkt_xsum_init(&lw[0]);
    mkt_xsum_init(&lw[1]);
    for (int64_t k = 0; k < nrows; k++) {
        int64_t i = rows ? rows[k] : k;
        const double *x = d->x + i * d->d;
        int y = d->y[i] != 0;
        double w = y ? pos_weight : 1.0;
        double *gr = with_grad ? s->grad : NULL;
        double loss = mode.epoch >= 0 && m->train_loss_grad
                          ? m->train_loss_grad(m->ctx, params, x, y, gr, s->work, mode.epoch, mode.offset + i)
                          : m->loss_grad(m->ctx, params, x, y, gr, s->work);
        mkt_xsum_add(&lw[0], w * loss);
        mkt_xsum_add(&lw[1], w);
        if (with_grad && mode.clip > 0) {
            double n2 = 0;
            for (int64_t j = 0; j < P; j++)
                n2 += (w * s->grad[j]) * (w * s->grad[j]);
            double norm = sqrt(n2);
            if (norm > mode.clip) {
                double scale = mode.clip / norm;
                for (int64_t j = 0; j < P; j++)
                    s->grad[j] *= scale;
            }
        }
        if (with_grad)
            for (int64_t j = 0; j < P; j++)
                if (s->grad[j] != 0)
                    mkt_xsum_add(&s->acc[j], w * s->grad[j]);
    }
    if (with_grad)
        mkt_allreduce_xsum(s->acc, (int)(P + 2), comm);
    else
        mkt_allreduce_xsum(lw, 2, comm);
}

static double half_l2(const double *params, int64_t P, double l2)
{
    double s = 0;
    for (int64_t j = 0; j < P; j++)
        s += params[j] * params[j];
    return 0.5 * l2 * s;
}

/* Collective. Full-batch objective (weighted mean loss + L2) and gradient. */
static double full_objective(const mkt_dp_model *m, const mkt_dp_config *c, const double *params,
                             const mkt_dp_data *d, double *g, scratch *s, MPI_Comm comm)
{
    int64_t P = m->nparams;
    accumulate(m, c->pos_weight, params, d, NULL, d->n, 1, PLAIN, s, comm);
    double wsum = mkt_xsum_value(&s->acc[P + 1]);
    double inv = wsum > 0 ? 1.0 / wsum : 0.0;
    for (int64_t j = 0; j < P; j++)
        g[j] = mkt_xsum_value(&s->acc[j]) * inv + c->l2 * params[j];
    return mkt_xsum_value(&s->acc[P]) * inv + half_l2(params, P, c->l2);
}

double mkt_dp_mean_loss(const mkt_dp_model *m, const mkt_dp_config *c, const double *params,
                        const mkt_dp_data *data, MPI_Comm comm)
{
    scratch s;
    scratch_init(&s, m);
    accumulate(m, c->pos_weight, params, data, NULL, data->n, 0, PLAIN, &s, comm);
    double wsum = mkt_xsum_value(&s.acc[m->nparams + 1]);
    double r = wsum > 0 ? mkt_xsum_value(&s.acc[m->nparams]) / wsum : NAN;
    scratch_free(&s);
    return r;
}

void mkt_dp_predict_all(const mkt_dp_model *m, const double *params, const mkt_dp_data *data, double **p, int **y,
                        int64_t *n, MPI_Comm comm)
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
    double *work = mkt_xmalloc(sizeof(double) * (m->work_doubles + 1));
    double *lp = mkt_xmalloc(sizeof(double) * (size_t)(local + 1));
    int *ly = mkt_xmalloc(sizeof(int) * (size_t)(local + 1));
    for (int i = 0; i < local; i++) {
        double z = m->logit(m->ctx, params, data->x + (int64_t)i * data->d, work);
        lp[i] = z >= 0 ? 1.0 / (1.0 + exp(-z)) : exp(z) / (1.0 + exp(z));
        ly[i] = data->y[i] != 0;
    }
    *p = mkt_xmalloc(sizeof(double) * (size_t)(total + 1));
    *y = mkt_xmalloc(sizeof(int) * (size_t)(total + 1));
    MKT_MPI(MPI_Allgatherv(lp, local, MPI_DOUBLE, *p, counts, displs, MPI_DOUBLE, comm));
    MKT_MPI(MPI_Allgatherv(ly, local, MPI_INT, *y, counts, displs, MPI_INT, comm));
    *n = total;
    free(work);
    free(lp);
    free(ly);
    free(counts);
}

/* The same permutation of 0..n-1 on every rank. */
static void permutation(int64_t *perm, int64_t n, uint64_t seed, int epoch)
{
    mkt_rng r;
    mkt_rng_init(&r, seed, MKT_STREAM_SPLIT, (uint64_t)epoch + 1);
    for (int64_t i = 0; i < n; i++)
        perm[i] = i;
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)mkt_rng_below(&r, (uint64_t)i + 1);
        int64_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}

static double dot(const double *a, const double *b, int64_t n)
{
    double s = 0;
    for (int64_t i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

typedef struct {
    int mem, count, head; /* ring of the last `count` (s, y) pairs */
    double *s, *y, *rho, *alpha;
} lbfgs_state;

/* d = −H·g by the two-loop recursion. */
static void lbfgs_direction(const lbfgs_state *L, const double *g, double *d, int64_t P)
{
    for (int64_t j = 0; j < P; j++)
        d[j] = -g[j];
    if (L->count == 0) {
        double gn = sqrt(dot(g, g, P));
        if (gn > 1)
            for (int64_t j = 0; j < P; j++)
                d[j] /= gn;
        return;
    }
    for (int k = 0; k < L->count; k++) {
        int i = (L->head - 1 - k + L->mem) % L->mem;
        L->alpha[i] = L->rho[i] * dot(L->s + (int64_t)i * P, d, P);
        for (int64_t j = 0; j < P; j++)
            d[j] -= L->alpha[i] * L->y[(int64_t)i * P + j];
    }
    int last = (L->head - 1 + L->mem) % L->mem;
    const double *sl = L->s + (int64_t)last * P, *yl = L->y + (int64_t)last * P;
    double gamma = dot(sl, yl, P) / dot(yl, yl, P);
    for (int64_t j = 0; j < P; j++)
        d[j] *= gamma;
    for (int k = L->count - 1; k >= 0; k--) {
        int i = (L->head - 1 - k + L->mem) % L->mem;
        double beta = L->rho[i] * dot(L->y + (int64_t)i * P, d, P);
        for (int64_t j = 0; j < P; j++)
            d[j] += (L->alpha[i] - beta) * L->s[(int64_t)i * P + j];
    }
}

void mkt_dp_state_alloc(mkt_dp_state *st, int64_t nparams, int lbfgs_mem)
{
    memset(st, 0, sizeof *st);
    size_t P = (size_t)(nparams > 0 ? nparams : 1), M = (size_t)(lbfgs_mem > 0 ? lbfgs_mem : 1);
    st->nparams = nparams;
    st->lbfgs_mem = lbfgs_mem;
    st->params = mkt_xcalloc(P, sizeof(double));
    st->best = mkt_xcalloc(P, sizeof(double));
    st->g = mkt_xcalloc(P, sizeof(double));
    st->v = mkt_xcalloc(P, sizeof(double));
    st->v2 = mkt_xcalloc(P, sizeof(double));
    st->lbfgs_s = mkt_xcalloc(P * M, sizeof(double));
    st->lbfgs_y = mkt_xcalloc(P * M, sizeof(double));
    st->lbfgs_rho = mkt_xcalloc(M, sizeof(double));
    st->best_val = INFINITY;
    st->train_loss = st->val_loss = st->val_auc = NAN;
}

void mkt_dp_state_free(mkt_dp_state *st)
{
    free(st->params);
    free(st->best);
    free(st->g);
    free(st->v);
    free(st->v2);
    free(st->lbfgs_s);
    free(st->lbfgs_y);
    free(st->lbfgs_rho);
    memset(st, 0, sizeof *st);
}

static void state_copy(mkt_dp_state *to, const mkt_dp_state *from)
{
    size_t P = (size_t)to->nparams, M = (size_t)to->lbfgs_mem;
    if (from->nparams != to->nparams || from->lbfgs_mem != to->lbfgs_mem)
        mkt_fail("resume: saved training state has %lld parameters and L-BFGS memory %d, this model %lld and %d",
                 (long long)from->nparams, from->lbfgs_mem, (long long)to->nparams, to->lbfgs_mem);
    memcpy(to->params, from->params, sizeof(double) * P);
    memcpy(to->best, from->best, sizeof(double) * P);
    memcpy(to->g, from->g, sizeof(double) * P);
    memcpy(to->v, from->v, sizeof(double) * P);
    memcpy(to->v2, from->v2, sizeof(double) * P);
    memcpy(to->lbfgs_s, from->lbfgs_s, sizeof(double) * P * M);
    memcpy(to->lbfgs_y, from->lbfgs_y, sizeof(double) * P * M);
    memcpy(to->lbfgs_rho, from->lbfgs_rho, sizeof(double) * M);
    to->epoch = from->epoch;
    to->f = from->f;
    to->best_val = from->best_val;
    to->since_best = from->since_best;
    to->adam_t = from->adam_t;
    to->examples = from->examples;
    to->lbfgs_count = from->lbfgs_count;
    to->lbfgs_head = from->lbfgs_head;
    to->epochs_run = from->epochs_run;
    to->best_epoch = from->best_epoch;
    to->train_loss = from->train_loss;
    to->val_loss = from->val_loss;
    to->val_auc = from->val_auc;
}

void mkt_dp_train(const mkt_dp_model *m, const mkt_dp_config *c, const mkt_dp_data *train,
                  const mkt_dp_data *valid, double *params, mkt_dp_result *res, json_t *history, MPI_Comm comm)
{
    int64_t P = m->nparams;
    int64_t ntotal = 0;
    int64_t offset = mkt_exscan_count(train->n, &ntotal, comm);
    int64_t nvalid = 0;
    mkt_exscan_count(valid ? valid->n : 0, &nvalid, comm);
    mkt_dp_config plain = *c;
    plain.pos_weight = 1.0; /* validation loss is the plain log loss */

    /* the whole state lives in st, so that a hook can save it between epochs */
    mkt_dp_state st;
    int mem = c->optimizer == MKT_DP_LBFGS ? (c->lbfgs_memory > 0 ? c->lbfgs_memory : 10) : 0;
    mkt_dp_state_alloc(&st, P, mem);
    scratch s;
    scratch_init(&s, m);
    double *g = st.g, *v = st.v, *v2 = st.v2;
    double *d = mkt_xcalloc((size_t)P, sizeof(double)), *trial = mkt_xcalloc((size_t)P, sizeof(double));
    double *gtrial = mkt_xcalloc((size_t)P, sizeof(double));
    int64_t *perm = NULL, *rows = NULL;
    lbfgs_state L = {0};
    memcpy(st.params, params, sizeof(double) * (size_t)P);
    memcpy(st.best, params, sizeof(double) * (size_t)P);
    if (c->resume)
        state_copy(&st, c->resume);
    memset(res, 0, sizeof *res);
    res->val_loss = res->val_auc = NAN;
    res->train_loss = NAN;
    res->epochs_run = st.epochs_run;
    res->best_epoch = st.best_epoch;
    res->train_loss = st.train_loss;
    res->val_loss = st.val_loss;
    res->val_auc = st.val_auc;
    double *out_params = params;
    params = st.params; /* work on the state's copy; the caller's array gets the result at the end */

    int64_t batch = c->batch > 0 ? c->batch : 1;
    if (c->optimizer != MKT_DP_LBFGS) {
        perm = mkt_xmalloc(sizeof(int64_t) * (size_t)(ntotal + 1));
        rows = mkt_xmalloc(sizeof(int64_t) * (size_t)(batch + 1));
    } else {
        L.mem = mem;
        L.s = st.lbfgs_s;
        L.y = st.lbfgs_y;
        L.rho = st.lbfgs_rho;
        L.alpha = mkt_xmalloc(sizeof(double) * (size_t)L.mem);
        L.count = st.lbfgs_count;
        L.head = st.lbfgs_head;
    }

    double t0 = mkt_now();
    int64_t examples_before = st.examples;
    if (c->optimizer == MKT_DP_LBFGS && !c->resume) {
        st.f = full_objective(m, c, params, train, g, &s, comm);
        st.examples += ntotal;
    }
    for (int epoch = st.epoch; epoch < c->epochs; epoch++) {
        double epoch_loss;
        if (c->optimizer == MKT_DP_LBFGS) {
            double f = st.f;
            lbfgs_direction(&L, g, d, P);
            double gd = dot(g, d, P);
            if (!(gd < 0)) { /* not a descent direction: restart from steepest descent */
                L.count = 0;
                lbfgs_direction(&L, g, d, P);
                gd = dot(g, d, P);
            }
            double step = 1.0, fnew = f;
            int accepted = 0;
            for (int tries = 0; tries < 40 && gd < 0; tries++) {
                for (int64_t j = 0; j < P; j++)
                    trial[j] = params[j] + step * d[j];
                fnew = full_objective(m, c, trial, train, gtrial, &s, comm);
                st.examples += ntotal;
                if (fnew <= f + 1e-4 * step * gd) {
                    accepted = 1;
                    break;
                }
                step *= 0.5;
            }
            if (accepted) {
                int i = L.head;
                double sy = 0;
                for (int64_t j = 0; j < P; j++) {
                    L.s[(int64_t)i * P + j] = trial[j] - params[j];
                    L.y[(int64_t)i * P + j] = gtrial[j] - g[j];
                }
                sy = dot(L.s + (int64_t)i * P, L.y + (int64_t)i * P, P);
                if (sy > 1e-12) {
                    L.rho[i] = 1.0 / sy;
                    L.head = (L.head + 1) % L.mem;
                    if (L.count < L.mem)
                        L.count++;
                }
                memcpy(params, trial, sizeof(double) * (size_t)P);
                memcpy(g, gtrial, sizeof(double) * (size_t)P);
                st.f = fnew;
            }
            st.lbfgs_count = L.count;
            st.lbfgs_head = L.head;
            epoch_loss = st.f;
        } else {
            permutation(perm, ntotal, c->seed, epoch);
            mkt_xsum eloss, eweight;
            mkt_xsum_init(&eloss);
            mkt_xsum_init(&eweight);
            for (int64_t b0 = 0; b0 < ntotal; b0 += batch) {
                int64_t b1 = b0 + batch < ntotal ? b0 + batch : ntotal, nrows = 0;
                for (int64_t k = b0; k < b1; k++)
                    if (perm[k] >= offset && perm[k] < offset + train->n)
                        rows[nrows++] = perm[k] - offset;
                step_mode mode = {epoch, offset, c->dp ? c->dp_clip : 0};
                accumulate(m, c->pos_weight, params, train, rows, nrows, 1, mode, &s, comm);
                mkt_xsum_merge(&eloss, &s.acc[P]);
                mkt_xsum_merge(&eweight, &s.acc[P + 1]);
                double wsum = mkt_xsum_value(&s.acc[P + 1]);
                if (!(wsum > 0))
                    continue;
                if (c->dp) {
                    /* noise once per step, the same draws on every rank; the
                     * divisor is the public batch size, not the data's weights */
                    mkt_rng r;
                    mkt_rng_init(&r, mkt_hash64(c->seed ^ mkt_hash64((uint64_t)epoch + 1)), MKT_DP_STREAM_NOISE,
                                 (uint64_t)(b0 / batch));
                    double sd = c->dp_noise * c->dp_clip, nb = (double)(b1 - b0);
                    for (int64_t j = 0; j < P; j++) {
                        double sum = mkt_xsum_value(&s.acc[j]);
                        if (sd > 0)
                            sum += sd * mkt_rng_normal(&r);
                        g[j] = sum / nb + c->l2 * params[j];
                    }
                } else {
                    for (int64_t j = 0; j < P; j++)
                        g[j] = mkt_xsum_value(&s.acc[j]) / wsum + c->l2 * params[j];
                }
                if (c->optimizer == MKT_DP_SGD) {
                    for (int64_t j = 0; j < P; j++) {
                        v[j] = c->momentum * v[j] + g[j];
                        params[j] -= c->lr * v[j];
                    }
                } else {
                    st.adam_t++;
                    double c1 = 1.0 - pow(c->beta1, (double)st.adam_t), c2 = 1.0 - pow(c->beta2, (double)st.adam_t);
                    for (int64_t j = 0; j < P; j++) {
                        v[j] = c->beta1 * v[j] + (1 - c->beta1) * g[j];
                        v2[j] = c->beta2 * v2[j] + (1 - c->beta2) * g[j] * g[j];
                        params[j] -= c->lr * (v[j] / c1) / (sqrt(v2[j] / c2) + c->adam_eps);
                    }
                }
            }
            st.examples += ntotal;
            double ew = mkt_xsum_value(&eweight);
            epoch_loss = ew > 0 ? mkt_xsum_value(&eloss) / ew : NAN;
        }

        /* validation: plain log loss (exact) and AUC (gathered scores) */
        double val_loss = NAN, val_auc = NAN;
        if (nvalid > 0) {
            val_loss = mkt_dp_mean_loss(m, &plain, params, valid, comm);
            double *vp;
            int *vy;
            int64_t vn;
            mkt_dp_predict_all(m, params, valid, &vp, &vy, &vn, comm);
            val_auc = mkt_auc(vp, vy, vn);
            free(vp);
            free(vy);
        }
        double elapsed = mkt_now() - t0;
        st.epoch = epoch + 1;
        st.epochs_run = res->epochs_run = epoch + 1;
        int improved = nvalid == 0 || val_loss < st.best_val;
        if (improved) {
            st.best_val = nvalid > 0 ? val_loss : st.best_val;
            memcpy(st.best, params, sizeof(double) * (size_t)P);
            st.best_epoch = res->best_epoch = epoch + 1;
            st.train_loss = res->train_loss = epoch_loss;
            st.val_loss = res->val_loss = val_loss;
            st.val_auc = res->val_auc = val_auc;
            st.since_best = 0;
        } else {
            st.since_best++;
        }
        double rate = elapsed > 0 ? (double)(st.examples - examples_before) / elapsed : 0;
        int done_here = epoch + 1 - (c->resume ? c->resume->epoch : 0);
        if (c->stage)
            mkt_log(c->stage, "epoch %d/%d  train loss %.5f  val loss %.5f  val AUC %.4f  %.0f examples/s  ETA %.0fs",
                    epoch + 1, c->epochs, epoch_loss, val_loss, val_auc, rate,
                    elapsed / done_here * (c->epochs - epoch - 1));
        if (history) {
            json_t *e = json_object();
            json_object_set_new(e, "epoch", json_integer(epoch + 1));
            json_object_set_new(e, "train_loss", isfinite(epoch_loss) ? json_real(epoch_loss) : json_null());
            json_object_set_new(e, "val_loss", isfinite(val_loss) ? json_real(val_loss) : json_null());
            json_object_set_new(e, "val_auc", isfinite(val_auc) ? json_real(val_auc) : json_null());
            json_object_set_new(e, "seconds", json_real(elapsed));
            json_array_append_new(history, e);
        }
        if (c->patience > 0 && nvalid > 0 && st.since_best >= c->patience)
            break;
        if (c->after_epoch && c->after_epoch(c->hook_arg, &st, c->epochs)) {
            res->stopped = 1;
            break;
        }
    }
    /* the caller's array: the best parameters, or the current ones when stopped */
    memcpy(out_params, res->stopped ? st.params : st.best, sizeof(double) * (size_t)P);
    double secs = mkt_now() - t0;
    MKT_MPI(MPI_Allreduce(MPI_IN_PLACE, &secs, 1, MPI_DOUBLE, MPI_MAX, comm));
    res->seconds = secs;
    res->examples_per_second = secs > 0 ? (double)(st.examples - examples_before) / secs : 0;
    res->train_examples = ntotal;
    res->steps_per_epoch = c->optimizer == MKT_DP_LBFGS ? 1 : (ntotal + batch - 1) / batch;

    scratch_free(&s);
    mkt_dp_state_free(&st);
    free(d);
    free(trial);
    free(gtrial);
    free(perm);
    free(rows);
    free(L.alpha);
}
