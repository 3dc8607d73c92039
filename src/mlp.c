/* mlp.c — forward and backward pass of a small ReLU network with a sigmoid
 * head, one example at a time or a block of examples with GEMMs (see mlp.h).
 * Owns the parameter layout and the per-example and per-block arithmetic;
 * must not sum over blocks, talk MPI or touch files. */
#include "mlp.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#include "linmodel.h"
#include "rng.h"

static int layer_in(const mkt_mlp *m, int l) { return l == 0 ? m->inputs : m->sizes[l - 1]; }
static int layer_out(const mkt_mlp *m, int l) { return l == m->hidden ? 1 : m->sizes[l]; }

int64_t mkt_mlp_nparams(const mkt_mlp *m)
{
    int64_t n = 0;
    for (int l = 0; l <= m->hidden; l++)
        n += (int64_t)layer_out(m, l) * layer_in(m, l) + layer_out(m, l);
    return n;
}

static int max_width(const mkt_mlp *m)
{
    int w = m->inputs > 1 ? m->inputs : 1;
    for (int l = 0; l < m->hidden; l++)
        if (m->sizes[l] > w)
            w = m->sizes[l];
    return w;
}

size_t mkt_mlp_work_size(const mkt_mlp *m)
{
    size_t n = 2 * (size_t)max_width(m) + 1;
    for (int l = 0; l < m->hidden; l++)
        n += (size_t)m->sizes[l];
    return n;
}

void mkt_mlp_init_params(const mkt_mlp *m, uint64_t seed, double *params)
{
    double *p = params;
    for (int l = 0; l <= m->hidden; l++) {
        int in = layer_in(m, l), out = layer_out(m, l);
        double sd = l < m->hidden ? sqrt(2.0 / in) : sqrt(2.0 / (in + out));
        mkt_rng r;
        mkt_rng_init(&r, seed, MKT_STREAM_MODEL, (uint64_t)l);
        for (int64_t k = 0; k < (int64_t)in * out; k++)
            p[k] = sd * mkt_rng_normal(&r);
        memset(p + (int64_t)in * out, 0, sizeof(double) * (size_t)out);
        p += (int64_t)in * out + out;
    }
}

/* Forward pass: hidden activations (times their mask entries when mask is
 * not NULL) go to work (layer after layer); returns the logit. */
static double forward(const mkt_mlp *m, const double *params, const double *x, const double *mask, double *work)
{
    const double *a = x;
    const double *p = params;
    double *act = work;
    for (int l = 0; l <= m->hidden; l++) {
        int in = layer_in(m, l), out = layer_out(m, l);
        const double *W = p, *b = p + (int64_t)in * out;
        double *z = act;
        memcpy(z, b, sizeof(double) * (size_t)out);
        /* z (1 × out) += a (1 × in) · W^T (in × out) */
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, 1, out, in, 1.0, a, in, W, in, 1.0, z, out);
        if (l == m->hidden)
            return z[0];
        for (int j = 0; j < out; j++)
            if (!(z[j] > 0))
                z[j] = 0;
        if (mask) {
            for (int j = 0; j < out; j++)
                z[j] *= mask[j];
            mask += out;
        }
        a = z;
        act += out;
        p += (int64_t)in * out + out;
    }
    return 0; /* not reached */
}

double mkt_mlp_logit(const mkt_mlp *m, const double *params, const double *x, double *work)
{
    return forward(m, params, x, NULL, work);
}

size_t mkt_mlp_mask_size(const mkt_mlp *m)
{
    size_t n = 0;
    for (int l = 0; l < m->hidden; l++)
        n += (size_t)m->sizes[l];
    return n;
}

void mkt_mlp_dropout_mask(const mkt_mlp *m, double p, uint64_t seed, int64_t epoch, int64_t example, double *mask)
{
    double keep = 1.0 / (1.0 - p);
    uint64_t key = mkt_hash64(seed ^ mkt_hash64((uint64_t)epoch + UINT64_C(0x9e3779b97f4a7c15)));
    for (int l = 0; l < m->hidden; l++) {
        mkt_rng r;
        mkt_rng_init(&r, key, MKT_MLP_STREAM_DROPOUT, (uint64_t)example * 4 + (uint64_t)l);
        for (int j = 0; j < m->sizes[l]; j++)
            mask[j] = p > 0 && mkt_rng_uniform(&r) < p ? 0.0 : (p > 0 ? keep : 1.0);
        mask += m->sizes[l];
    }
}

double mkt_mlp_loss_grad(const mkt_mlp *m, const double *params, const double *x, int y, double *grad,
                         double *work)
{
    return mkt_mlp_loss_grad_masked(m, params, x, y, NULL, grad, work);
}

double mkt_mlp_loss_grad_masked(const mkt_mlp *m, const double *params, const double *x, int y,
                                const double *mask, double *grad, double *work)
{
    double logit = forward(m, params, x, mask, work);
    double loss = mkt_bce_logit(logit, y);
    if (!grad)
        return loss;
    /* offsets of each layer's parameters and activations */
    int64_t poff[MKT_MLP_MAX_HIDDEN + 1];
    const double *acts[MKT_MLP_MAX_HIDDEN + 1], *masks[MKT_MLP_MAX_HIDDEN + 1];
    int64_t off = 0;
    const double *act = work, *mk = mask;
    for (int l = 0; l <= m->hidden; l++) {
        poff[l] = off;
        masks[l] = l > 0 && mk ? mk : NULL; /* mask of layer l's inputs (hidden layer l − 1) */
        if (l > 0 && mk)
            mk += layer_out(m, l - 1);
        off += (int64_t)layer_in(m, l) * layer_out(m, l) + layer_out(m, l);
        acts[l] = l == 0 ? x : act;
        if (l > 0)
            act += layer_out(m, l - 1);
    }
    int w = max_width(m);
    double *delta = work + (mkt_mlp_work_size(m) - 2 * (size_t)w - 1);
    double *next = delta + w;
    delta[0] = mkt_sigmoid(logit) - (y ? 1.0 : 0.0);
    for (int l = m->hidden; l >= 0; l--) {
        int in = layer_in(m, l), out = layer_out(m, l);
        const double *W = params + poff[l];
        double *gW = grad + poff[l], *gb = gW + (int64_t)in * out;
        /* gW (out × in) = delta (out × 1) · a (1 × in) */
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, out, in, 1, 1.0, delta, 1, acts[l], in, 0.0, gW,
                    in);
        memcpy(gb, delta, sizeof(double) * (size_t)out);
        if (l == 0)
            break;
        /* next (1 × in) = delta (1 × out) · W (out × in), masked by ReLU */
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, 1, in, out, 1.0, delta, out, W, in, 0.0, next, in);
        for (int j = 0; j < in; j++)
            if (!(acts[l][j] > 0))
                next[j] = 0;
            else if (masks[l])
                next[j] *= masks[l][j];
        double *t = delta;
        delta = next;
        next = t;
    }
    return loss;
}

static int hidden_units(const mkt_mlp *m)
{
    int n = 0;
    for (int l = 0; l < m->hidden; l++)
        n += m->sizes[l];
    return n;
}

/* Block work space: hidden activations [rows × units], head logits [rows],
 * deltas of every layer's outputs [rows × (units + 1)], row norms [rows]. */
size_t mkt_mlp_block_work_size(const mkt_mlp *m, int rows)
{
    return (size_t)(rows > 0 ? rows : 1) * (2 * (size_t)hidden_units(m) + 3);
}

double mkt_mlp_block_loss_grad(const mkt_mlp *m, const double *params, const double *x, const int *y, int rows,
                               double pos_weight, const double *masks, double clip, double *grad, double *work)
{
    int H = m->hidden, units = hidden_units(m);
    size_t msize = mkt_mlp_mask_size(m);
    /* per layer l = 0..H: parameters, input a_l [rows × in_l], output
     * (activation, or the head's logit) and the delta of that output */
    int64_t poff[MKT_MLP_MAX_HIDDEN + 1];
    const double *in_act[MKT_MLP_MAX_HIDDEN + 1];
    double *out_act[MKT_MLP_MAX_HIDDEN + 1], *delta[MKT_MLP_MAX_HIDDEN + 1];
    size_t moff[MKT_MLP_MAX_HIDDEN + 1];
    double *act = work, *logit = work + (size_t)rows * units, *dl = logit + rows;
    double *norm = dl + (size_t)rows * (units + 1);
    int64_t off = 0;
    size_t aoff = 0, mo = 0;
    for (int l = 0; l <= H; l++) {
        int in = layer_in(m, l), out = layer_out(m, l);
        poff[l] = off;
        off += (int64_t)in * out + out;
        in_act[l] = l == 0 ? x : out_act[l - 1];
        out_act[l] = l == H ? logit : act + aoff;
        delta[l] = dl + aoff; /* the head's delta follows the hidden layers' */
        moff[l] = mo;
        if (l < H) {
            aoff += (size_t)rows * out;
            mo += (size_t)out;
        }
    }
    if (rows <= 0) {
        if (grad)
            memset(grad, 0, sizeof(double) * (size_t)off);
        return 0;
    }

    /* forward: out (rows × out) = b + a (rows × in) · W^T, ReLU, mask */
    for (int l = 0; l <= H; l++) {
        int in = layer_in(m, l), out = layer_out(m, l);
        const double *W = params + poff[l], *b = W + (int64_t)in * out;
        double *z = out_act[l];
        for (int i = 0; i < rows; i++)
            memcpy(z + (size_t)i * out, b, sizeof(double) * (size_t)out);
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, out, in, 1.0, in_act[l], in, W, in, 1.0, z, out);
        if (l == H)
            break;
        for (int i = 0; i < rows; i++) {
            double *zi = z + (size_t)i * out;
            const double *mi = masks ? masks + (size_t)i * msize + moff[l] : NULL;
            for (int j = 0; j < out; j++) {
                if (!(zi[j] > 0))
                    zi[j] = 0;
                if (mi)
                    zi[j] *= mi[j];
            }
        }
    }
    double loss = 0;
    for (int i = 0; i < rows; i++) {
        int yi = y[i] != 0;
        double w = yi ? pos_weight : 1.0;
        loss += w * mkt_bce_logit(logit[i], yi);
        delta[H][i] = w * (mkt_sigmoid(logit[i]) - (yi ? 1.0 : 0.0));
    }
    if (!grad)
        return loss;

    /* backward: δ_{l−1} (rows × in_l) = δ_l (rows × out_l) · W_l, masked by ReLU and dropout */
    for (int l = H; l >= 1; l--) {
        int in = layer_in(m, l), out = layer_out(m, l);
        double *prev = delta[l - 1];
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, in, out, 1.0, delta[l], out, params + poff[l],
                    in, 0.0, prev, in);
        for (int i = 0; i < rows; i++) {
            double *pi = prev + (size_t)i * in;
            const double *ai = in_act[l] + (size_t)i * in;
            const double *mi = masks ? masks + (size_t)i * msize + moff[l - 1] : NULL;
            for (int j = 0; j < in; j++)
                if (!(ai[j] > 0))
                    pi[j] = 0;
                else if (mi)
                    pi[j] *= mi[j];
        }
    }
    if (clip > 0) { /* row i's gradient norm² = Σ_l |δ_l,i|²·(|a_l,i|² + 1) */
        for (int i = 0; i < rows; i++)
            norm[i] = 0;
        for (int l = 0; l <= H; l++) {
            int in = layer_in(m, l), out = layer_out(m, l);
            for (int i = 0; i < rows; i++) {
                const double *ai = in_act[l] + (size_t)i * in, *di = delta[l] + (size_t)i * out;
                double a2 = 1.0, d2 = 0;
                for (int j = 0; j < in; j++)
                    a2 += ai[j] * ai[j];
                for (int j = 0; j < out; j++)
                    d2 += di[j] * di[j];
                norm[i] += d2 * a2;
            }
        }
        for (int i = 0; i < rows; i++) {
            double n = sqrt(norm[i]);
            if (n > clip)
                for (int l = 0; l <= H; l++) {
                    int out = layer_out(m, l);
                    for (int j = 0; j < out; j++)
                        delta[l][(size_t)i * out + j] *= clip / n;
                }
        }
    }
    /* gradient: gW_l (out × in) = δ_l^T · a_l, gb_l = column sums of δ_l (row order) */
    for (int l = 0; l <= H; l++) {
        int in = layer_in(m, l), out = layer_out(m, l);
        double *gW = grad + poff[l], *gb = gW + (int64_t)in * out;
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, in, rows, 1.0, delta[l], out, in_act[l], in, 0.0,
                    gW, in);
        memset(gb, 0, sizeof(double) * (size_t)out);
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < out; j++)
                gb[j] += delta[l][(size_t)i * out + j];
    }
    return loss;
}
