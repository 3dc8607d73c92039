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
#include "linmodel.h"
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

/* Per-rank scratch: the model's work spaces, the sums of one block and of
 * one chunk (P + 2 doubles: gradient, loss, weight), exact accumulators. */
typedef struct {
    double *work, *bwork;
    double *block, *chunk;
    mkt_xsum *acc;
} scratch;

static void scratch_init(scratch *s, const mkt_dp_model *m)
{
    size_t P2 = (size_t)m->nparams + 2;
    s->work = mkt_xmalloc(sizeof(double) * (m->work_doubles + 1));
    s->bwork = mkt_xmalloc(sizeof(double) * (m->block_work_doubles + 1));
    s->block = mkt_xmalloc(sizeof(double) * P2);
    s->chunk = mkt_xmalloc(sizeof(double) * P2);
    s->acc = mkt_xmalloc(sizeof(mkt_xsum) * P2);
}

static void scratch_free(scratch *s)
{
    free(s->work);
    free(s->bwork);
    free(s->block);
    free(s->chunk);
    free(s->acc);
}

/* Sums of one block of rows (at most MKT_DP_BLOCK) into out[0..P+2):
 * Σ w·∇loss, Σ w·loss, Σ w, each in row order. */
static void block_sums(const mkt_dp_model *m, double pos_weight, const double *params, const double *x,
                       const int *y, int rows, double clip, int epoch, const int64_t *index, scratch *s, double *out)
{
    int64_t P = m->nparams;
    out[P] = m->block_loss_grad(m->ctx, params, x, y, rows, pos_weight, clip, out, s->bwork, epoch, index);
    double w = 0;
    for (int i = 0; i < rows; i++)
        w += y[i] ? pos_weight : 1.0;
    out[P + 1] = w;
}

static void add_into(double *to, const double *from, int64_t n)
{
    for (int64_t j = 0; j < n; j++)
        to[j] += from[j];
}

/* The full-batch chunks this rank computes: the chunks of MKT_DP_CHUNK
 * global rows that start in its slice, global rows [first, first + nrows).
 * They are read in place, except the last one when it continues on later
 * ranks: that chunk is copied whole (tail_*) at setup, its missing rows
 * fetched from the ranks holding them. */
typedef struct {
    int64_t offset, first, nrows;
    const double *x;
    const int *y;
    int d;
    int64_t tail_first, tail_rows;
    double *tail_x;
    int *tail_y;
} span;

static int64_t round_up(int64_t v, int64_t to) { return (v + to - 1) / to * to; }

/* [first, end) of the chunks owned by a rank holding global rows [lo, hi). */
static void owned_chunks(int64_t lo, int64_t hi, int64_t ntotal, int64_t *first, int64_t *end)
{
    *first = round_up(lo, MKT_DP_CHUNK);
    if (*first >= hi) { /* no chunk starts here */
        *first = *end = hi;
        return;
    }
    *end = round_up(hi, MKT_DP_CHUNK);
    if (*end > ntotal)
        *end = ntotal;
}

/* Collective. */
static void span_init(span *sp, const mkt_dp_data *t, int64_t offset, int64_t ntotal, MPI_Comm comm)
{
    int nranks, rank;
    MKT_MPI(MPI_Comm_size(comm, &nranks));
    MKT_MPI(MPI_Comm_rank(comm, &rank));
    int64_t *off = mkt_xmalloc(sizeof(int64_t) * ((size_t)nranks + 1));
    MKT_MPI(MPI_Allgather(&offset, 1, MPI_INT64_T, off, 1, MPI_INT64_T, comm));
    off[nranks] = ntotal;
    int64_t lo = offset, hi = offset + t->n, end;
    memset(sp, 0, sizeof *sp);
    sp->offset = offset;
    sp->x = t->x;
    sp->y = t->y;
    sp->d = t->d;
    owned_chunks(lo, hi, ntotal, &sp->first, &end);
    sp->nrows = end - sp->first;
    /* rows each rank r needs from later ranks: [off[r+1], end_r); send mine in rank order */
    size_t rec = (size_t)t->d + 1;
    int64_t *counts = mkt_xcalloc((size_t)nranks, sizeof(int64_t)), nsend = 0;
    for (int r = 0; r < nranks; r++) {
        int64_t f, e;
        owned_chunks(off[r], off[r + 1], ntotal, &f, &e);
        int64_t a = off[r + 1] > lo ? off[r + 1] : lo, b = e < hi ? e : hi;
        counts[r] = b > a ? b - a : 0;
        nsend += counts[r];
    }
    double *send = mkt_xmalloc(sizeof(double) * rec * (size_t)(nsend + 1)), *q = send;
    for (int r = 0; r < nranks; r++) {
        int64_t f, e;
        owned_chunks(off[r], off[r + 1], ntotal, &f, &e);
        int64_t a = off[r + 1] > lo ? off[r + 1] : lo;
        for (int64_t i = a; i < a + counts[r]; i++, q += rec) {
            q[0] = t->y[i - lo] != 0;
            memcpy(q + 1, t->x + (i - lo) * t->d, sizeof(double) * (size_t)t->d);
        }
    }
    int64_t nrecv;
    double *recv = mkt_alltoallv_elems(send, counts, sizeof(double) * rec, &nrecv, comm);
    if (nrecv != (end > hi ? end - hi : 0))
        mkt_fail("dptrain: received %lld rows to complete the last chunk, expected %lld", (long long)nrecv,
                 (long long)(end > hi ? end - hi : 0));
    if (nrecv > 0) { /* the last chunk: its local rows, then the fetched ones */
        sp->tail_first = sp->first + (sp->nrows - 1) / MKT_DP_CHUNK * MKT_DP_CHUNK;
        sp->tail_rows = end - sp->tail_first;
        sp->tail_x = mkt_xmalloc(sizeof(double) * (size_t)(sp->tail_rows * t->d));
        sp->tail_y = mkt_xmalloc(sizeof(int) * (size_t)sp->tail_rows);
        int64_t nl = hi - sp->tail_first;
        memcpy(sp->tail_x, t->x + (sp->tail_first - lo) * t->d, sizeof(double) * (size_t)(nl * t->d));
        for (int64_t i = 0; i < nl; i++)
            sp->tail_y[i] = t->y[sp->tail_first - lo + i] != 0;
        for (int64_t i = 0; i < nrecv; i++) {
            sp->tail_y[nl + i] = recv[i * (int64_t)rec] != 0;
            memcpy(sp->tail_x + (nl + i) * t->d, recv + i * (int64_t)rec + 1, sizeof(double) * (size_t)t->d);
        }
    }
    free(recv);
    free(send);
    free(counts);
    free(off);
}

static void span_free(span *sp)
{
    free(sp->tail_x);
    free(sp->tail_y);
}

/* The L2 weight of parameter j: l2, or 0 for an unpenalized one. */
static double l2_of(const mkt_dp_config *c, int64_t j)
{
    return c->unpenalized && c->unpenalized[j] ? 0.0 : c->l2;
}

static double half_l2(const double *params, int64_t P, const mkt_dp_config *c)
{
    double s = 0;
    for (int64_t j = 0; j < P; j++)
        if (!(c->unpenalized && c->unpenalized[j]))
            s += params[j] * params[j];
    return 0.5 * c->l2 * s;
}

/* Collective. Full-batch objective (weighted mean loss + L2) and gradient:
 * each chunk's blocks added in order, the chunk sums exactly. */
static double full_objective(const mkt_dp_model *m, const mkt_dp_config *c, const double *params, const span *sp,
                             double *g, scratch *s, MPI_Comm comm)
{
    int64_t P = m->nparams, end = sp->first + sp->nrows;
    for (int64_t j = 0; j < P + 2; j++)
        mkt_xsum_init(&s->acc[j]);
    for (int64_t c0 = sp->first; c0 < end; c0 += MKT_DP_CHUNK) {
        int64_t c1 = c0 + MKT_DP_CHUNK < end ? c0 + MKT_DP_CHUNK : end;
        const double *x = sp->x + (c0 - sp->offset) * sp->d;
        const int *y = sp->y + (c0 - sp->offset);
        if (sp->tail_rows > 0 && c0 == sp->tail_first) {
            x = sp->tail_x;
            y = sp->tail_y;
        }
        for (int64_t b0 = c0; b0 < c1; b0 += MKT_DP_BLOCK) {
            int rows = (int)(c1 - b0 < MKT_DP_BLOCK ? c1 - b0 : MKT_DP_BLOCK);
            double *out = b0 == c0 ? s->chunk : s->block;
            block_sums(m, c->pos_weight, params, x + (b0 - c0) * sp->d, y + (b0 - c0), rows, 0, -1, NULL, s, out);
            if (out != s->chunk)
                add_into(s->chunk, s->block, P + 2);
        }
        for (int64_t j = 0; j < P + 2; j++)
            mkt_xsum_add(&s->acc[j], s->chunk[j]);
    }
    mkt_allreduce_xsum(s->acc, (int)(P + 2), comm);
    double wsum = mkt_xsum_value(&s->acc[P + 1]);
    double inv = wsum > 0 ? 1.0 / wsum : 0.0;
    for (int64_t j = 0; j < P; j++)
        g[j] = mkt_xsum_value(&s->acc[j]) * inv + l2_of(c, j) * params[j];
    return mkt_xsum_value(&s->acc[P]) * inv + half_l2(params, P, c);
}

/* Moves a minibatch's rows to the ranks that compute them: positions
 * [0, nb) of a batch form G = ceil(nb / MKT_DP_BLOCK) groups, and rank q
 * computes groups [G·q/R, G·(q+1)/R) — a function of the batch alone. */
typedef struct {
    int nranks, rank, d;
    int64_t *off; /* R + 1 global row offsets of the ranks */
    int *scount, *sdispl, *rcount, *rdispl, *cursor;
    double *send, *recv, *x, *parts;
    int *y;
    int64_t *index;
} batcher;

static void batcher_init(batcher *b, const mkt_dp_data *t, int64_t offset, int64_t ntotal, int64_t batch,
                         int64_t P, MPI_Comm comm)
{
    memset(b, 0, sizeof *b);
    MKT_MPI(MPI_Comm_size(comm, &b->nranks));
    MKT_MPI(MPI_Comm_rank(comm, &b->rank));
    b->d = t->d;
    int R = b->nranks;
    b->off = mkt_xmalloc(sizeof(int64_t) * ((size_t)R + 1));
    MKT_MPI(MPI_Allgather(&offset, 1, MPI_INT64_T, b->off, 1, MPI_INT64_T, comm));
    b->off[R] = ntotal;
    b->scount = mkt_xmalloc(sizeof(int) * (size_t)R * 5);
    b->sdispl = b->scount + R;
    b->rcount = b->sdispl + R;
    b->rdispl = b->rcount + R;
    b->cursor = b->rdispl + R;
    int64_t nb = batch < ntotal ? batch : ntotal;
    if (nb * (t->d + 1) > INT32_MAX)
        mkt_fail("train: batch %lld of %d features is too large for one exchange", (long long)nb, t->d);
    size_t rec = (size_t)t->d + 1;
    b->send = mkt_xmalloc(sizeof(double) * rec * (size_t)(nb + 1));
    b->recv = mkt_xmalloc(sizeof(double) * rec * (size_t)(nb + 1));
    b->x = mkt_xmalloc(sizeof(double) * (size_t)t->d * (size_t)(nb + 1));
    b->y = mkt_xmalloc(sizeof(int) * (size_t)(nb + 1));
    b->index = mkt_xmalloc(sizeof(int64_t) * (size_t)(nb + 1));
    b->parts = mkt_xmalloc(sizeof(double) * (size_t)(P + 2) * MKT_DP_GATHER_GROUPS);
}

static void batcher_free(batcher *b)
{
    free(b->off);
    free(b->scount);
    free(b->send);
    free(b->recv);
    free(b->x);
    free(b->y);
    free(b->index);
    free(b->parts);
}

static int row_owner(const batcher *b, int64_t i)
{
    int lo = 0, hi = b->nranks - 1; /* the last rank q with off[q] <= i */
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (b->off[mid] <= i)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

static int64_t group_start(int64_t G, int q, int R) { return G * q / R; }

/* Collective. The sums (P + 2: gradient, loss, weight) of batch positions
 * [b0, b1) of perm, the same bits on any number of ranks, into s->chunk. */
static void minibatch_sums(const mkt_dp_model *m, const mkt_dp_config *c, const double *params,
                           const mkt_dp_data *t, const int64_t *perm, int64_t b0, int64_t b1, int epoch, batcher *b,
                           scratch *s, MPI_Comm comm)
{
    int64_t P = m->nparams, nb = b1 - b0, G = (nb + MKT_DP_BLOCK - 1) / MKT_DP_BLOCK;
    int R = b->nranks, me = b->rank, d = b->d, rec = d + 1;
    int64_t p0 = group_start(G, me, R) * MKT_DP_BLOCK, p1 = group_start(G, me + 1, R) * MKT_DP_BLOCK;
    if (p1 > nb)
        p1 = nb;
    /* send my rows to the ranks computing their groups (positions ascending, so grouped by destination) */
    for (int q = 0; q < R; q++)
        b->scount[q] = b->rcount[q] = 0;
    int dst = 0;
    for (int64_t k = 0; k < nb; k++) {
        while (dst + 1 < R && k >= group_start(G, dst + 1, R) * MKT_DP_BLOCK)
            dst++;
        int src = row_owner(b, perm[b0 + k]);
        if (src == me)
            b->scount[dst] += rec;
        if (dst == me)
            b->rcount[src] += rec;
    }
    int sd = 0, rd = 0;
    for (int q = 0; q < R; q++) {
        b->sdispl[q] = sd;
        b->rdispl[q] = rd;
        b->cursor[q] = rd;
        sd += b->scount[q];
        rd += b->rcount[q];
    }
    double *q = b->send;
    int64_t lo = b->off[me];
    for (int64_t k = 0; k < nb; k++) {
        int64_t i = perm[b0 + k];
        if (i >= lo && i < b->off[me + 1]) {
            q[0] = t->y[i - lo] != 0;
            memcpy(q + 1, t->x + (i - lo) * d, sizeof(double) * (size_t)d);
            q += rec;
        }
    }
    MKT_MPI(MPI_Alltoallv(b->send, b->scount, b->sdispl, MPI_DOUBLE, b->recv, b->rcount, b->rdispl, MPI_DOUBLE,
                          comm));
    for (int64_t k = p0; k < p1; k++) {
        int64_t i = perm[b0 + k];
        int src = row_owner(b, i);
        const double *r = b->recv + b->cursor[src];
        b->cursor[src] += rec;
        b->y[k - p0] = r[0] != 0;
        memcpy(b->x + (k - p0) * d, r + 1, sizeof(double) * (size_t)d);
        b->index[k - p0] = i;
    }
    /* my groups' sums, then all groups' sums added in group order */
    double clip = c->dp ? c->dp_clip : 0;
    int64_t g0 = group_start(G, me, R), g1 = group_start(G, me + 1, R);
    int gather = G <= MKT_DP_GATHER_GROUPS;
    if (!gather)
        for (int64_t j = 0; j < P + 2; j++)
            mkt_xsum_init(&s->acc[j]);
    for (int64_t gi = g0; gi < g1; gi++) {
        int64_t k0 = gi * MKT_DP_BLOCK - p0, k1 = (gi + 1) * MKT_DP_BLOCK < nb ? (gi + 1) * MKT_DP_BLOCK : nb;
        double *out = gather ? b->parts + gi * (P + 2) : s->block;
        block_sums(m, c->pos_weight, params, b->x + k0 * d, b->y + k0, (int)(k1 - p0 - k0), clip, epoch,
                   b->index + k0, s, out);
        if (!gather)
            for (int64_t j = 0; j < P + 2; j++)
                mkt_xsum_add(&s->acc[j], out[j]);
    }
    if (gather) {
        for (int r = 0; r < R; r++) {
            b->rcount[r] = (int)((group_start(G, r + 1, R) - group_start(G, r, R)) * (P + 2));
            b->rdispl[r] = (int)(group_start(G, r, R) * (P + 2));
        }
        MKT_MPI(MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, b->parts, b->rcount, b->rdispl, MPI_DOUBLE, comm));
        memcpy(s->chunk, b->parts, sizeof(double) * (size_t)(P + 2));
        for (int64_t gi = 1; gi < G; gi++)
            add_into(s->chunk, b->parts + gi * (P + 2), P + 2);
    } else {
        mkt_allreduce_xsum(s->acc, (int)(P + 2), comm);
        for (int64_t j = 0; j < P + 2; j++)
            s->chunk[j] = mkt_xsum_value(&s->acc[j]);
    }
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
    to->gnorm0 = from->gnorm0;
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

/* One run of mkt_dp_train: the state (st, which a hook may save between
 * epochs) and the work space the steps below share. */
typedef struct {
    const mkt_dp_model *m;
    const mkt_dp_config *c;
    const mkt_dp_data *train, *valid;
    int64_t P, ntotal, offset, nvalid, batch;
    mkt_dp_state st;
    scratch s;
    double *params; /* st.params: the working copy */
    double *g, *v, *v2, *d, *trial, *gtrial;
    int64_t *perm;
    lbfgs_state L;
    span sp;
    batcher bt;
    int64_t examples_before;
    double t0, t_valid;
} trainer;

/* Collective. Allocate the state from params (or c->resume), the batcher or
 * the L-BFGS span, and for L-BFGS the initial objective. */
static void trainer_init(trainer *T, const mkt_dp_model *m, const mkt_dp_config *c, const mkt_dp_data *train,
                         const mkt_dp_data *valid, const double *params, mkt_dp_result *res, MPI_Comm comm)
{
    memset(T, 0, sizeof *T);
    T->m = m;
    T->c = c;
    T->train = train;
    T->valid = valid;
    int64_t P = T->P = m->nparams;
    T->ntotal = 0;
    T->offset = mkt_exscan_count(train->n, &T->ntotal, comm);
    T->nvalid = 0;
    mkt_exscan_count(valid ? valid->n : 0, &T->nvalid, comm);

    /* the whole state lives in st, so that a hook can save it between epochs */
    int mem = c->optimizer == MKT_DP_LBFGS ? (c->lbfgs_memory > 0 ? c->lbfgs_memory : 10) : 0;
    mkt_dp_state_alloc(&T->st, P, mem);
    scratch_init(&T->s, m);
    T->g = T->st.g;
    T->v = T->st.v;
    T->v2 = T->st.v2;
    T->d = mkt_xcalloc((size_t)P, sizeof(double));
    T->trial = mkt_xcalloc((size_t)P, sizeof(double));
    T->gtrial = mkt_xcalloc((size_t)P, sizeof(double));
    memcpy(T->st.params, params, sizeof(double) * (size_t)P);
    memcpy(T->st.best, params, sizeof(double) * (size_t)P);
    if (c->resume)
        state_copy(&T->st, c->resume);
    memset(res, 0, sizeof *res);
    res->epochs_run = T->st.epochs_run;
    res->best_epoch = T->st.best_epoch;
    res->train_loss = T->st.train_loss;
    res->val_loss = T->st.val_loss;
    res->val_auc = T->st.val_auc;
    T->params = T->st.params; /* work on the state's copy; the caller's array gets the result at the end */

    T->batch = c->batch > 0 ? c->batch : 1;
    T->t0 = mkt_now();
    T->t_valid = 0;
    if (c->optimizer != MKT_DP_LBFGS) {
        T->perm = mkt_xmalloc(sizeof(int64_t) * (size_t)(T->ntotal + 1));
        batcher_init(&T->bt, train, T->offset, T->ntotal, T->batch, P, comm);
    } else {
        span_init(&T->sp, train, T->offset, T->ntotal, comm);
        T->L.mem = mem;
        T->L.s = T->st.lbfgs_s;
        T->L.y = T->st.lbfgs_y;
        T->L.rho = T->st.lbfgs_rho;
        T->L.alpha = mkt_xmalloc(sizeof(double) * (size_t)T->L.mem);
        T->L.count = T->st.lbfgs_count;
        T->L.head = T->st.lbfgs_head;
    }

    T->examples_before = T->st.examples;
    if (c->optimizer == MKT_DP_LBFGS && !c->resume) {
        T->st.f = full_objective(m, c, T->params, &T->sp, T->g, &T->s, comm);
        T->st.gnorm0 = sqrt(dot(T->g, T->g, P));
        T->st.examples += T->ntotal;
        res->evaluations++;
    }
}

/* Collective. One L-BFGS iteration (a line search along the two-loop
 * direction); returns the objective. */
static double lbfgs_epoch(trainer *T, mkt_dp_result *res, int *evaluations_out, int *converged_out, MPI_Comm comm)
{
    const mkt_dp_config *c = T->c;
    int64_t P = T->P;
    lbfgs_state *L = &T->L;
    double *params = T->params, *g = T->g, *d = T->d, *trial = T->trial, *gtrial = T->gtrial;
    int evaluations = 0, converged = 0;
    double f = T->st.f;
    lbfgs_direction(L, g, d, P);
    double gd = dot(g, d, P);
    if (!(gd < 0)) { /* not a descent direction: restart from steepest descent */
        L->count = 0;
        lbfgs_direction(L, g, d, P);
        gd = dot(g, d, P);
    }
    double step = 1.0, fnew = f;
    int accepted = 0;
    for (int tries = 0; tries < 40 && gd < 0; tries++) {
        for (int64_t j = 0; j < P; j++)
            trial[j] = params[j] + step * d[j];
        fnew = full_objective(T->m, c, trial, &T->sp, gtrial, &T->s, comm);
        T->st.examples += T->ntotal;
        evaluations++;
        if (fnew <= f + 1e-4 * step * gd) {
            accepted = 1;
            break;
        }
        step *= 0.5;
    }
    if (accepted) {
        int i = L->head;
        for (int64_t j = 0; j < P; j++) {
            L->s[(int64_t)i * P + j] = trial[j] - params[j];
            L->y[(int64_t)i * P + j] = gtrial[j] - g[j];
        }
        double sy = dot(L->s + (int64_t)i * P, L->y + (int64_t)i * P, P);
        if (sy > 1e-12) {
            L->rho[i] = 1.0 / sy;
            L->head = (L->head + 1) % L->mem;
            if (L->count < L->mem)
                L->count++;
        }
        memcpy(params, trial, sizeof(double) * (size_t)P);
        memcpy(g, gtrial, sizeof(double) * (size_t)P);
        T->st.f = fnew;
        converged = c->tol > 0 && sqrt(dot(g, g, P)) <= c->tol * T->st.gnorm0;
    } else {
        converged = 1; /* no decrease along the direction: nothing more to gain */
    }
    res->evaluations += evaluations;
    T->st.lbfgs_count = L->count;
    T->st.lbfgs_head = L->head;
    *evaluations_out = evaluations;
    *converged_out = converged;
    return T->st.f;
}

/* One SGD or Adam step from a minibatch's sums (gradient [P], loss, weight)
 * of batch [b0, b1) of the epoch. */
static void minibatch_step(trainer *T, const double *sum, int64_t b0, int64_t b1, int epoch)
{
    const mkt_dp_config *c = T->c;
    int64_t P = T->P;
    double *params = T->params, *g = T->g, *v = T->v, *v2 = T->v2;
    double wsum = sum[P + 1];
    if (c->dp) {
        /* noise once per step, the same draws on every rank; the
         * divisor is the public batch size, not the data's weights */
        mkt_rng r;
        mkt_rng_init(&r, mkt_hash64(c->seed ^ mkt_hash64((uint64_t)epoch + 1)), MKT_DP_STREAM_NOISE,
                     (uint64_t)(b0 / T->batch));
        double sd = c->dp_noise * c->dp_clip, nb = (double)(b1 - b0);
        for (int64_t j = 0; j < P; j++) {
            double gs = sum[j];
            if (sd > 0)
                gs += sd * mkt_rng_normal(&r);
            g[j] = gs / nb + l2_of(c, j) * params[j];
        }
    } else {
        for (int64_t j = 0; j < P; j++)
            g[j] = sum[j] / wsum + l2_of(c, j) * params[j];
    }
    if (c->optimizer == MKT_DP_SGD) {
        for (int64_t j = 0; j < P; j++) {
            v[j] = c->momentum * v[j] + g[j];
            params[j] -= c->lr * v[j];
        }
    } else {
        T->st.adam_t++;
        double c1 = 1.0 - pow(c->beta1, (double)T->st.adam_t), c2 = 1.0 - pow(c->beta2, (double)T->st.adam_t);
        for (int64_t j = 0; j < P; j++) {
            v[j] = c->beta1 * v[j] + (1 - c->beta1) * g[j];
            v2[j] = c->beta2 * v2[j] + (1 - c->beta2) * g[j] * g[j];
            params[j] -= c->lr * (v[j] / c1) / (sqrt(v2[j] / c2) + c->adam_eps);
        }
    }
}

/* Collective. One epoch of minibatch steps in the epoch's permutation;
 * returns the epoch's mean training loss (exact sums). */
static double minibatch_epoch(trainer *T, int epoch, MPI_Comm comm)
{
    int64_t P = T->P, ntotal = T->ntotal, batch = T->batch;
    permutation(T->perm, ntotal, T->c->seed, epoch);
    mkt_xsum eloss, eweight;
    mkt_xsum_init(&eloss);
    mkt_xsum_init(&eweight);
    for (int64_t b0 = 0; b0 < ntotal; b0 += batch) {
        int64_t b1 = b0 + batch < ntotal ? b0 + batch : ntotal;
        minibatch_sums(T->m, T->c, T->params, T->train, T->perm, b0, b1, epoch, &T->bt, &T->s, comm);
        const double *sum = T->s.chunk; /* gradient, loss, weight */
        mkt_xsum_add(&eloss, sum[P]);
        mkt_xsum_add(&eweight, sum[P + 1]);
        double wsum = sum[P + 1];
        if (!(wsum > 0))
            continue;
        minibatch_step(T, sum, b0, b1, epoch);
    }
    T->st.examples += ntotal;
    double ew = mkt_xsum_value(&eweight);
    return ew > 0 ? mkt_xsum_value(&eloss) / ew : NAN;
}

/* Collective. After an epoch: validation (plain log loss, exact, and AUC of
 * the gathered scores), the kept parameters, the log line, the history,
 * convergence, early stopping and the hook; returns 1 to stop. */
static int end_epoch(trainer *T, int epoch, double epoch_loss, int evaluations, int converged, mkt_dp_result *res,
                     mkt_dp_history_fn history, void *history_ctx, MPI_Comm comm)
{
    const mkt_dp_config *c = T->c;
    mkt_dp_state *st = &T->st;
    int64_t P = T->P;
    double val_loss = NAN, val_auc = NAN, tv = mkt_now();
    if (T->nvalid > 0)
        mkt_dp_validate(T->m, T->params, T->valid, &val_loss, &val_auc, comm);
    T->t_valid += mkt_now() - tv;
    double elapsed = mkt_now() - T->t0;
    st->epoch = epoch + 1;
    st->epochs_run = res->epochs_run = epoch + 1;
    int improved = T->nvalid == 0 || val_loss < st->best_val;
    if (improved) {
        st->best_val = T->nvalid > 0 ? val_loss : st->best_val;
        memcpy(st->best, T->params, sizeof(double) * (size_t)P);
        st->best_epoch = res->best_epoch = epoch + 1;
        st->train_loss = res->train_loss = epoch_loss;
        st->val_loss = res->val_loss = val_loss;
        st->val_auc = res->val_auc = val_auc;
        st->since_best = 0;
    } else {
        st->since_best++;
    }
    double rate = elapsed > 0 ? (double)(st->examples - T->examples_before) / elapsed : 0;
    int done_here = epoch + 1 - (c->resume ? c->resume->epoch : 0);
    if (c->stage)
        mkt_log_detail(c->stage, "epoch %d/%d  train loss %.5f  val loss %.5f  val AUC %.4f  %.0f examples/s  ETA %.0fs",
                epoch + 1, c->epochs, epoch_loss, val_loss, val_auc, rate,
                elapsed / done_here * (c->epochs - epoch - 1));
    if (history) {
        mkt_dp_epoch e = {epoch + 1, epoch_loss, val_loss, val_auc, elapsed,
                          c->optimizer == MKT_DP_LBFGS ? evaluations : -1};
        history(&e, history_ctx);
    }
    if (converged) {
        res->converged = 1;
        if (c->stage)
            mkt_log(c->stage, "converged at iteration %d: |gradient| %.3g = %.3g of the initial one", epoch + 1,
                    sqrt(dot(T->g, T->g, P)), st->gnorm0 > 0 ? sqrt(dot(T->g, T->g, P)) / st->gnorm0 : 0.0);
        return 1;
    }
    if (c->patience > 0 && T->nvalid > 0 && st->since_best >= c->patience)
        return 1;
    if (c->after_epoch && c->after_epoch(c->hook_arg, st, c->epochs)) {
        res->stopped = 1;
        return 1;
    }
    return 0;
}

/* Collective. The caller's array gets the best parameters, or the current
 * ones when stopped; timings; the work space freed. */
static void trainer_finish(trainer *T, double *out_params, mkt_dp_result *res, MPI_Comm comm)
{
    int64_t P = T->P;
    memcpy(out_params, res->stopped ? T->st.params : T->st.best, sizeof(double) * (size_t)P);
    double secs[2] = {mkt_now() - T->t0, T->t_valid};
    MKT_MPI(MPI_Allreduce(MPI_IN_PLACE, secs, 2, MPI_DOUBLE, MPI_MAX, comm));
    res->seconds = secs[0];
    res->seconds_validation = secs[1];
    res->examples_per_second = secs[0] > 0 ? (double)(T->st.examples - T->examples_before) / secs[0] : 0;
    res->train_examples = T->ntotal;
    res->steps_per_epoch = T->c->optimizer == MKT_DP_LBFGS ? 1 : (T->ntotal + T->batch - 1) / T->batch;

    scratch_free(&T->s);
    mkt_dp_state_free(&T->st);
    span_free(&T->sp);
    batcher_free(&T->bt);
    free(T->d);
    free(T->trial);
    free(T->gtrial);
    free(T->perm);
    free(T->L.alpha);
}

void mkt_dp_train(const mkt_dp_model *m, const mkt_dp_config *c, const mkt_dp_data *train,
                  const mkt_dp_data *valid, double *params, mkt_dp_result *res, mkt_dp_history_fn history, void *history_ctx,
                  MPI_Comm comm)
{
    trainer T;
    trainer_init(&T, m, c, train, valid, params, res, comm);
    for (int epoch = T.st.epoch; epoch < c->epochs; epoch++) {
        double epoch_loss;
        int evaluations = 0, converged = 0;
        if (c->optimizer == MKT_DP_LBFGS)
            epoch_loss = lbfgs_epoch(&T, res, &evaluations, &converged, comm);
        else
            epoch_loss = minibatch_epoch(&T, epoch, comm);
        if (end_epoch(&T, epoch, epoch_loss, evaluations, converged, res, history, history_ctx, comm))
            break;
    }
    trainer_finish(&T, params, res, comm);
}
