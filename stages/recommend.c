/* recommend.c — `mkt recommend`: the top k items of every user (or, with
 * similar, of every item) from /models/mf, by the ranks that own the
 * queries (mkt_block_of over the users, or the items), the item factors
 * streamed in blocks of item_block rows.
 *
 * Each block is screened tile by tile: for a batch of users, one float32
 * sgemm per tile of items and the bound of src/topk.h per pair (similar:
 * the gateway's float32 screen of a cosine); the survivors are rescored
 * exactly with the scores of
 * src/mf_score.h and merged into each query's running top k (score
 * descending, ties to the lower item): the exact top k, the same answer
 * and the same bits as the gateway's recommend (items the user bought,
 * any /events purchase, left out) and similar (the item itself left out).
 * A query whose vector cannot be screened is scored exactly, item by item.
 * Nothing depends on the rank count: every score is computed the same way
 * whichever rank holds the query.  Also written: /recommendations/popular,
 * the gateway's cold-start answer (most purchased items) for users the
 * store does not know.
 * Must not: parse command lines, or share state with the gateway. */
#include "recommend.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "events.h"
#include "h5store.h"
#include "iocheck.h"
#include "metrics_json.h"
#include "mf_score.h"
#include "mkt_types.h"
#include "model_io.h"
#include "par.h"
#include "schema.h"
#include "topk.h"

#define STAGE "recommend"
#define ITEM_TILE 512 /* items screened for every query of a batch while their codes are in cache */
#define QUERY_BATCH 256
#define EVENT_CHUNK (1 << 20)
#define NOT_FINITE (-1e300) /* the gateway's stand-in for a non-finite score */

void mkt_recommend_options_init(mkt_recommend_options *o)
{
    memset(o, 0, sizeof *o);
    o->k = 10;
    o->item_block = 65536;
}

const char *mkt_recommend_check(const mkt_recommend_options *o)
{
    static char msg[256];
    if (!o->store || !*o->store)
        return "store: required (the store the model was trained on)";
    if (!o->models || !*o->models)
        return "models: required (a model file with /models/mf)";
    if (!o->out || !*o->out)
        return "out: required (the HDF5 file to write)";
    if (o->k < 1) {
        snprintf(msg, sizeof msg, "k: must be at least 1 (got %d)", o->k);
        return msg;
    }
    if (o->item_block < 1) {
        snprintf(msg, sizeof msg, "item-block: must be at least 1 (got %lld)", (long long)o->item_block);
        return msg;
    }
    return NULL;
}

/* ---------- what a rank holds ---------- */

typedef struct {
    int rank, nranks, similar;
    int64_t users, items, K, k;
    mkt_mf_stored mf;
    hid_t model;
    int64_t q0, nq;   /* own queries [q0, q0 + nq) */
    double *qv;       /* nq x K query vectors */
    double *qbias;    /* recommend: user biases */
    double *qnorm;    /* similar: mkt_mf_norm of each query */
    int64_t *xptr;    /* recommend: [nq + 1], the items each user bought (xitem, sorted, distinct) */
    int32_t *xitem;
    int64_t *purchases; /* [items], every rank: purchase events per item (cold start) */
    mkt_scored *top;  /* nq x k running top k, global item indices */
    int64_t *ntop;
} rec_state;

/* One block of items: rows [c0, c0 + n). */
typedef struct {
    int64_t c0, n;
    double *v, *bias, *norm;
    mkt_f32_rows f32;
} item_block;

typedef struct {
    const rec_state *st;
    const item_block *b;
    int64_t q; /* local query */
} exact_ctx;

static double exact_recommend(void *p, int64_t row)
{
    const exact_ctx *x = p;
    const rec_state *st = x->st;
    double v = mkt_mf_score(st->mf.global_mean, st->qbias[x->q], x->b->bias[row], st->qv + x->q * st->K,
                            x->b->v + row * st->K, st->K);
    return isfinite(v) ? v : NOT_FINITE;
}

static double exact_similar(void *p, int64_t row)
{
    const exact_ctx *x = p;
    const rec_state *st = x->st;
    double v = mkt_mf_cosine(x->b->v + row * st->K, x->b->norm[row], st->qv + x->q * st->K, st->qnorm[x->q], st->K);
    return isfinite(v) ? v : NOT_FINITE;
}

/* ---------- reading ---------- */

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* The purchases of the own users (/events/by_user, every purchase event, as
 * the gateway reads them from /events/by_item): per user the distinct items,
 * sorted; and the purchase count of every item, summed over the ranks. */
static void read_purchases(rec_state *st, hid_t store, MPI_Comm comm)
{
    int64_t *ip = mkt_events_indptr(store, MKT_BY_USER, st->q0, st->nq);
    int64_t nev = ip[st->nq] - ip[0];
    st->xptr = mkt_xcalloc((size_t)st->nq + 1, sizeof *st->xptr);
    st->xitem = mkt_xmalloc((size_t)(nev > 0 ? nev : 1) * sizeof *st->xitem);
    st->purchases = mkt_xcalloc((size_t)(st->items > 0 ? st->items : 1), sizeof *st->purchases);
    mkt_event_cols ev = {0};
    int64_t n = 0, u = 0;
    for (int64_t e0 = 0; e0 < nev; e0 += EVENT_CHUNK) {
        int64_t m = nev - e0 < EVENT_CHUNK ? nev - e0 : EVENT_CHUNK;
        mkt_events_read(store, MKT_BY_USER, MKT_COL_TYPE | MKT_COL_ITEM, ip[0] + e0, m, &ev);
        for (int64_t e = 0; e < m; e++) {
            while (ip[u + 1] - ip[0] <= e0 + e)
                st->xptr[++u] = n;
            if (ev.type[e] != MKT_EV_PURCHASE)
                continue;
            if (ev.item[e] < 0 || ev.item[e] >= st->items)
                mkt_fail("%s: the store's /events/by_user/item[%lld] = %d is not an item (0..%lld)", STAGE,
                         (long long)(ip[0] + e0 + e), (int)ev.item[e], (long long)st->items - 1);
            st->purchases[ev.item[e]]++;
            st->xitem[n++] = ev.item[e];
        }
    }
    while (u < st->nq)
        st->xptr[++u] = n;
    /* sort and deduplicate each user's list, in place */
    int64_t at = 0;
    for (int64_t q = 0; q < st->nq; q++) {
        int64_t a = st->xptr[q], b = st->xptr[q + 1];
        qsort(st->xitem + a, (size_t)(b - a), sizeof *st->xitem, cmp_i32);
        st->xptr[q] = at;
        for (int64_t i = a; i < b; i++)
            if (i == a || st->xitem[i] != st->xitem[i - 1])
                st->xitem[at++] = st->xitem[i];
    }
    st->xptr[st->nq] = at;
    mkt_event_cols_free(&ev);
    free(ip);
    MKT_MPI(MPI_Allreduce(MPI_IN_PLACE, st->purchases, (int)st->items, MPI_INT64_T, MPI_SUM, comm));
}

static void read_block(const rec_state *st, item_block *b, int64_t c0, int64_t n)
{
    b->c0 = c0;
    b->n = n;
    mkt_mf_read_items(st->model, &st->mf, c0, n, b->v, b->bias);
    for (int64_t i = 0; st->similar && i < n; i++)
        b->norm[i] = mkt_mf_norm(b->v + i * st->K, st->K);
    if (mkt_f32_rows_init(&b->f32, b->v, st->similar ? NULL : b->bias, n, st->K))
        mkt_fail("%s: out of memory for the codes of %lld item factors", STAGE, (long long)n);
}

/* ---------- one batch of queries over one block of items ---------- */

typedef struct {
    mkt_screen *scr;
    int *screened;
    float *xf;
    double *xnorm, *absc;
    int32_t *excl; /* per query: its excluded rows of the block, at excl + eptr[q] */
    int64_t *eptr, ecap;
    mkt_scored *best;
    float *G;           /* [QUERY_BATCH x ITEM_TILE] float32 dot products of one tile (sgemm) */
    double *ba, *bc;    /* per query: the bound's a |q_i| and constant terms (screen_tile) */
    double gt[ITEM_TILE], et[ITEM_TILE]; /* one query's screening scores and bounds of a tile */
} batch_work;

#define U32 0x1p-24 /* float32 unit roundoff */
#define U64 0x1p-53 /* double unit roundoff */
#define TINY 0x1p-120

/* The similar screen of rows [t0, t1) for local query q (the gateway's
 * screen_similar): float32 dot products divided by the exact denominator,
 * the bound divided likewise; the query item itself is skipped. */
static void screen_similar(const rec_state *st, const item_block *b, batch_work *w, int64_t q, int64_t j, int64_t t0,
                           int64_t t1)
{
    float dots[ITEM_TILE];
    mkt_f32_dots(&b->f32, t0, t1, w->xf + j * st->K, dots);
    int64_t self = st->q0 + q - b->c0;
    for (int64_t r = t0; r < t1; r++) {
        if (r == self)
            continue;
        double den = b->norm[r] * st->qnorm[q], g = 0, e = 0;
        if (den > 0) {
            double rn = b->f32.norm[r];
            g = (double)dots[r - t0] / den;
            e = mkt_mf_cosine_bound(st->K, w->xnorm[j], rn, den, g);
        }
        if (mkt_screen_push(&w->scr[j], r, g, e))
            mkt_fail("%s: out of memory", STAGE);
    }
}

/* Every row of [t0, t1) scored exactly for local query q (a vector the screen cannot take). */
static void exact_rows(rec_state *st, const item_block *b, const batch_work *w, int64_t q, int64_t j, int64_t t0,
                       int64_t t1)
{
    exact_ctx x = {st, b, q};
    const int32_t *ex = w->excl + w->eptr[j];
    int64_t nex = w->eptr[j + 1] - w->eptr[j], at = 0;
    for (int64_t r = t0; r < t1; r++) {
        while (at < nex && ex[at] < r)
            at++;
        if (at < nex && ex[at] == r)
            continue;
        if (st->similar && st->q0 + q == b->c0 + r)
            continue;
        double v = st->similar ? exact_similar(&x, r) : exact_recommend(&x, r);
        mkt_scored_insert(st->top + q * st->k, &st->ntop[q], st->k, (mkt_scored){v, b->c0 + r});
    }
}

/* The excluded rows of block b for the queries [q0, q1): the user's purchases inside the block. */
static void block_exclusions(const rec_state *st, const item_block *b, batch_work *w, int64_t q0, int64_t q1)
{
    int64_t need = 0;
    for (int64_t q = q0; q < q1 && !st->similar; q++)
        need += st->xptr[q + 1] - st->xptr[q];
    if (need > w->ecap) {
        w->ecap = need;
        w->excl = mkt_xrealloc(w->excl, (size_t)need * sizeof *w->excl);
    }
    int64_t n = 0;
    for (int64_t q = q0; q < q1; q++) {
        w->eptr[q - q0] = n;
        for (int64_t i = st->similar ? 0 : st->xptr[q]; !st->similar && i < st->xptr[q + 1]; i++)
            if (st->xitem[i] >= b->c0 && st->xitem[i] < b->c0 + b->n)
                w->excl[n++] = (int32_t)(st->xitem[i] - b->c0);
    }
    w->eptr[q1 - q0] = n;
}

/* The k-th best lower bound a screen holds (-infinity until it holds k):
 * an item whose upper bound is below it cannot enter the top k (topk.h). */
static inline double screen_threshold(const mkt_screen *s)
{
    return s->nlow == s->k && s->k > 0 ? s->low[0] : -INFINITY;
}

/* The recommend screen of rows [t0, t1) for the batch's queries [q0, q1):
 * the float32 dot products of every (query, item) pair by one sgemm, then,
 * per pair, the float32 screen of src/topk.h: g = dot + bias~, with the
 * bound mkt_screen_bound (any summation order and fused multiply-adds are
 * within it), the query's part computed once (as mkt_screen_rows does).
 * Queries that are not screened get zero rows and are skipped. */
static void screen_tile(const rec_state *st, const item_block *b, batch_work *w, int64_t q0, int64_t q1, int64_t t0,
                        int64_t t1)
{
    int64_t K = st->K, nb = q1 - q0, nt = t1 - t0;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nb, (int)nt, (int)K, 1.0f, w->xf, (int)K,
                b->f32.v + t0 * K, (int)K, 0.0f, w->G, ITEM_TILE);
    const float *bias = b->f32.bias + t0;
    const double *norm = b->f32.norm + t0, *abias = b->f32.abias + t0;
    double bb = 2 * 1.01 * U32;
    for (int64_t j = 0; j < nb; j++) {
        if (!w->screened[j])
            continue;
        const float *g = w->G + j * ITEM_TILE;
        const int32_t *ex = w->excl + w->eptr[j];
        int64_t nex = w->eptr[j + 1] - w->eptr[j], at = 0;
        double a = w->ba[j], c0 = w->bc[j], *gi = w->gt, *ei = w->et;
        for (int64_t i = 0; i < nt; i++) { /* vectorized */
            gi[i] = (double)g[i] + (double)bias[i];
            ei[i] = (a * norm[i] + c0) + bb * abias[i];
        }
        /* most items cannot reach the k-th lower bound so far: test that
         * first (the screen's threshold, src/topk.h), the exclusions and the
         * push only for the rest */
        mkt_screen *sc = &w->scr[j];
        double t = screen_threshold(sc);
        for (int64_t i = 0; i < nt; i++) {
            if (gi[i] + ei[i] < t)
                continue;
            while (at < nex && ex[at] < t0 + i)
                at++;
            if (at < nex && ex[at] == t0 + i)
                continue;
            if (mkt_screen_push(sc, t0 + i, gi[i], ei[i]))
                mkt_fail("%s: out of memory", STAGE);
            t = screen_threshold(sc);
        }
    }
}

static void run_batch(rec_state *st, const item_block *b, batch_work *w, int64_t q0, int64_t q1)
{
    int64_t K = st->K, nb = q1 - q0;
    block_exclusions(st, b, w, q0, q1);
    for (int64_t j = 0; j < nb; j++) {
        int64_t q = q0 + j;
        const double *x = st->qv + q * K;
        double c = st->similar ? 0.0 : st->mf.global_mean + st->qbias[q]; /* what mkt_mf_score adds first */
        w->screened[j] = b->n > 0 && mkt_screen_usable(&b->f32, x, c);
        if (!w->screened[j]) {
            memset(w->xf + j * K, 0, (size_t)K * sizeof *w->xf);
            continue;
        }
        if (mkt_screen_init(&w->scr[j], st->k))
            mkt_fail("%s: out of memory", STAGE);
        mkt_to_f32(x, K, w->xf + j * K);
        w->xnorm[j] = mkt_norm2(x, K);
        w->absc[j] = fabs(c);
        /* mkt_screen_bound, the query's part */
        w->ba[j] = 2 * 1.01 * (double)(K + 2) * U32 * w->xnorm[j] + 2 * TINY * (double)(K + 1);
        w->bc[j] = 2 * (4 * U64 * w->absc[j] + TINY * (double)(K + 1) * (1 + w->xnorm[j]));
    }
    int any = 0;
    for (int64_t j = 0; j < nb; j++)
        any |= w->screened[j];
    for (int64_t t0 = 0; t0 < b->n; t0 += ITEM_TILE) {
        int64_t t1 = t0 + ITEM_TILE < b->n ? t0 + ITEM_TILE : b->n;
        if (!st->similar && any)
            screen_tile(st, b, w, q0, q1, t0, t1);
        for (int64_t j = 0; j < nb; j++) {
            if (!w->screened[j])
                exact_rows(st, b, w, q0 + j, j, t0, t1);
            else if (st->similar)
                screen_similar(st, b, w, q0 + j, j, t0, t1);
        }
    }
    for (int64_t j = 0; j < nb; j++) {
        if (!w->screened[j])
            continue;
        exact_ctx x = {st, b, q0 + j};
        int64_t n = mkt_screen_finish(&w->scr[j], st->similar ? exact_similar : exact_recommend, &x, w->best);
        if (n < 0)
            mkt_fail("%s: out of memory", STAGE);
        for (int64_t i = 0; i < n; i++)
            mkt_scored_insert(st->top + (q0 + j) * st->k, &st->ntop[q0 + j], st->k,
                              (mkt_scored){w->best[i].score, b->c0 + w->best[i].row});
        mkt_screen_free(&w->scr[j]);
    }
}

/* Every block of items, each against every own query. */
static void sweep(rec_state *st, int64_t block_rows)
{
    int64_t K = st->K, rows = block_rows < st->items ? block_rows : st->items;
    item_block b = {0};
    b.v = mkt_xmalloc((size_t)((rows > 0 ? rows : 1) * K) * sizeof *b.v);
    b.bias = mkt_xmalloc((size_t)(rows > 0 ? rows : 1) * sizeof *b.bias);
    b.norm = mkt_xmalloc((size_t)(rows > 0 ? rows : 1) * sizeof *b.norm);
    batch_work w = {0};
    w.scr = mkt_xcalloc(QUERY_BATCH, sizeof *w.scr);
    w.screened = mkt_xcalloc(QUERY_BATCH, sizeof *w.screened);
    w.xf = mkt_xmalloc((size_t)(QUERY_BATCH * K) * sizeof *w.xf);
    w.xnorm = mkt_xmalloc(QUERY_BATCH * sizeof *w.xnorm);
    w.absc = mkt_xmalloc(QUERY_BATCH * sizeof *w.absc);
    w.eptr = mkt_xmalloc((QUERY_BATCH + 1) * sizeof *w.eptr);
    w.best = mkt_xmalloc((size_t)st->k * sizeof *w.best);
    w.G = mkt_xmalloc((size_t)QUERY_BATCH * ITEM_TILE * sizeof *w.G);
    w.ba = mkt_xmalloc(QUERY_BATCH * sizeof *w.ba);
    w.bc = mkt_xmalloc(QUERY_BATCH * sizeof *w.bc);
    int64_t nblocks = rows > 0 ? (st->items + rows - 1) / rows : 0;
    mkt_progress prog;
    mkt_progress_start(&prog, STAGE, st->similar ? "items" : "users", st->similar ? st->items : st->users);
    for (int64_t bi = 0; bi < nblocks; bi++) {
        int64_t c0 = bi * rows, n = st->items - c0 < rows ? st->items - c0 : rows;
        read_block(st, &b, c0, n);
        for (int64_t q0 = 0; q0 < st->nq; q0 += QUERY_BATCH) {
            int64_t q1 = q0 + QUERY_BATCH < st->nq ? q0 + QUERY_BATCH : st->nq;
            run_batch(st, &b, &w, q0, q1);
            double share = ((double)bi + (double)q1 / (double)st->nq) / (double)nblocks;
            mkt_progress_update(&prog, (int64_t)(share * (double)(st->similar ? st->items : st->users)));
        }
        mkt_f32_rows_free(&b.f32);
    }
    mkt_progress_finish(&prog, st->similar ? st->items : st->users);
    free(b.v);
    free(b.bias);
    free(b.norm);
    free(w.scr);
    free(w.screened);
    free(w.xf);
    free(w.xnorm);
    free(w.absc);
    free(w.excl);
    free(w.eptr);
    free(w.best);
    free(w.G);
    free(w.ba);
    free(w.bc);
}

/* ---------- output ---------- */

typedef struct {
    char *p;
    size_t len, cap;
} text_buf;

static void put(text_buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->p = mkt_xrealloc(b->p, b->cap);
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

/* A CSV field: quoted (quotes doubled) when it holds a comma, quote or line break. */
static void put_field(text_buf *b, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        put(b, s, strlen(s));
        return;
    }
    put(b, "\"", 1);
    for (const char *c = s; *c; c++) {
        if (*c == '"')
            put(b, "\"\"", 2);
        else
            put(b, c, 1);
    }
    put(b, "\"", 1);
}

/* One row per (query, rank): query id, rank from 1, item id, score
 * (%.17g: the double back exactly); written at each rank's offset, then renamed. */
static void write_csv(const rec_state *st, hid_t store, const char *path, MPI_Comm comm)
{
    char **qid = mkt_h5_read_strings(store, st->similar ? MKT_IDS_ITEMS : MKT_IDS_USERS, st->q0, st->nq);
    char **iid = mkt_h5_read_strings(store, MKT_IDS_ITEMS, 0, st->items);
    text_buf b = {0};
    char num[64];
    if (st->rank == 0) {
        const char *h = st->similar ? "item,rank,similar_item,similarity\n" : "user,rank,item,score\n";
        put(&b, h, strlen(h));
    }
    for (int64_t q = 0; q < st->nq; q++)
        for (int64_t j = 0; j < st->ntop[q]; j++) {
            const mkt_scored *e = &st->top[q * st->k + j];
            put_field(&b, qid[q]);
            put(&b, num, (size_t)snprintf(num, sizeof num, ",%lld,", (long long)j + 1));
            put_field(&b, iid[e->row]);
            put(&b, num, (size_t)snprintf(num, sizeof num, ",%.17g\n", e->score));
        }
    mkt_h5_free_strings(qid, st->nq);
    mkt_h5_free_strings(iid, st->items);
    size_t plen = strlen(path) + 8;
    char *tmp = mkt_xmalloc(plen);
    snprintf(tmp, plen, "%s.tmp", path);
    int64_t total = 0, off = mkt_exscan_count((int64_t)b.len, &total, comm);
    MPI_File fh;
    int ok = MPI_File_open(comm, tmp, MPI_MODE_CREATE | MPI_MODE_WRONLY, MPI_INFO_NULL, &fh) == MPI_SUCCESS, all;
    MKT_MPI(MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, comm));
    if (!all)
        mkt_fail_all(MKT_EXIT_ERROR, "%s: cannot create the CSV file %s (--csv)", STAGE, tmp);
    mkt_tmp_add(tmp); /* removed if anything fails before the rename */
    MKT_MPI(MPI_File_set_size(fh, 0));
    const size_t piece = (size_t)1 << 30;
    for (size_t done = 0; done < b.len; done += piece) {
        size_t cnt = b.len - done < piece ? b.len - done : piece;
        MKT_MPI(MPI_File_write_at(fh, (MPI_Offset)(off + (int64_t)done), b.p + done, (int)cnt, MPI_BYTE,
                                  MPI_STATUS_IGNORE));
    }
    MKT_MPI(MPI_File_close(&fh));
    ok = st->rank != 0 || rename(tmp, path) == 0;
    MKT_MPI(MPI_Bcast(&ok, 1, MPI_INT, 0, comm));
    if (!ok)
        mkt_fail_all(MKT_EXIT_ERROR, "%s: cannot rename %s to %s", STAGE, tmp, path);
    mkt_tmp_done(tmp);
    free(tmp);
    free(b.p);
}

/* The gateway's cold-start answer: the k most purchased items (ties: lower index). */
static int64_t popular(const rec_state *st, int64_t *item, int64_t *count)
{
    mkt_scored *best = mkt_xmalloc((size_t)st->k * sizeof *best);
    int64_t n = 0;
    for (int64_t i = 0; i < st->items; i++)
        mkt_scored_insert(best, &n, st->k, (mkt_scored){(double)st->purchases[i], i});
    for (int64_t j = 0; j < n; j++) {
        item[j] = best[j].row;
        count[j] = st->purchases[best[j].row];
    }
    free(best);
    return n;
}

static void write_h5(const rec_state *st, const char *path, const char *models, MPI_Comm comm)
{
    int64_t k = st->k, total = st->similar ? st->items : st->users;
    int64_t *id = mkt_xmalloc((size_t)(st->nq > 0 ? st->nq : 1) * sizeof *id);
    int64_t *items = mkt_xmalloc((size_t)(st->nq * k > 0 ? st->nq * k : 1) * sizeof *items);
    double *scores = mkt_xmalloc((size_t)(st->nq * k > 0 ? st->nq * k : 1) * sizeof *scores);
    for (int64_t q = 0; q < st->nq; q++) {
        id[q] = st->q0 + q;
        for (int64_t j = 0; j < k; j++) { /* fewer than k items left: item -1, score NaN */
            items[q * k + j] = j < st->ntop[q] ? st->top[q * k + j].row : -1;
            scores[q * k + j] = j < st->ntop[q] ? st->top[q * k + j].score : NAN;
        }
    }
    mkt_h5out out;
    mkt_h5_create(&out, path, "recommendations", comm);
    hid_t f = out.file;
    mkt_h5_write_rows_at(f, st->similar ? MKT_RECOMMENDATIONS_ITEM : MKT_RECOMMENDATIONS_USER, H5T_NATIVE_INT64, id,
                         st->q0, st->nq, total, 0, comm);
    mkt_h5_write_rows_at(f, MKT_RECOMMENDATIONS_ITEMS, H5T_NATIVE_INT64, items, st->q0, st->nq, total, k, comm);
    mkt_h5_write_rows_at(f, MKT_RECOMMENDATIONS_SCORES, H5T_NATIVE_DOUBLE, scores, st->q0, st->nq, total, k, comm);
    if (!st->similar) {
        int64_t *pi = mkt_xmalloc((size_t)k * sizeof *pi), *pc = mkt_xmalloc((size_t)k * sizeof *pc);
        int64_t n = popular(st, pi, pc);
        mkt_h5_write_small(f, MKT_RECOMMENDATIONS_POPULAR, H5T_NATIVE_INT64, pi, n, 0, comm);
        mkt_h5_write_small(f, MKT_RECOMMENDATIONS_POPULAR_PURCHASES, H5T_NATIVE_INT64, pc, n, 0, comm);
        free(pi);
        free(pc);
    }
    mkt_h5_attr_set_int(f, MKT_RECOMMENDATIONS, MKT_ATTR_SCHEMA_VERSION, MKT_SCHEMA_VERSION);
    mkt_h5_attr_set_int(f, MKT_RECOMMENDATIONS, MKT_ATTR_K, k);
    mkt_h5_attr_set_int(f, MKT_RECOMMENDATIONS, MKT_ATTR_USERS, st->users);
    mkt_h5_attr_set_int(f, MKT_RECOMMENDATIONS, MKT_ATTR_ITEMS, st->items);
    mkt_h5_attr_set_int(f, MKT_RECOMMENDATIONS, MKT_ATTR_SIMILAR, st->similar);
    mkt_h5_attr_set_string(f, MKT_RECOMMENDATIONS, "models", models);
    mkt_h5_commit(&out);
    free(id);
    free(items);
    free(scores);
}

/* ---------- the stage ---------- */

static void open_model(rec_state *st, const mkt_recommend_options *o, MPI_Comm comm)
{
    mkt_h5_require(o->models, MKT_EXIT_ERROR, STAGE ": --models: ", comm);
    st->model = mkt_h5_open(o->models, 0, comm);
    char why[1024];
    if (mkt_mf_describe(st->model, o->models, &st->mf, why, sizeof why) != 0)
        mkt_fail_all(MKT_EXIT_ERROR, "%s: %s", STAGE, why);
    if (st->mf.users != st->users)
        mkt_fail_all(MKT_EXIT_ERROR,
                     "%s: %s: %s has %lld rows but the store %s has %lld users (%s): the model was not trained on "
                     "this store",
                     STAGE, o->models, MKT_MODELS_MF_USER_FACTORS, (long long)st->mf.users, o->store,
                     (long long)st->users, MKT_IDS_USERS);
    if (st->mf.items != st->items)
        mkt_fail_all(MKT_EXIT_ERROR,
                     "%s: %s: %s has %lld rows but the store %s has %lld items (%s): the model was not trained on "
                     "this store",
                     STAGE, o->models, MKT_MODELS_MF_ITEM_FACTORS, (long long)st->mf.items, o->store,
                     (long long)st->items, MKT_IDS_ITEMS);
    st->K = st->mf.factors;
}

int mkt_recommend_run(const mkt_recommend_options *o, MPI_Comm comm, json_t *metrics)
{
    const char *msg = mkt_recommend_check(o);
    if (msg)
        mkt_fail_all(MKT_EXIT_USAGE, "%s: --%s", STAGE, msg);
    double t0 = mkt_now();
    rec_state st = {0};
    MKT_MPI(MPI_Comm_rank(comm, &st.rank));
    MKT_MPI(MPI_Comm_size(comm, &st.nranks));
    st.similar = o->similar;
    st.k = o->k;
    mkt_h5_require(o->store, MKT_EXIT_ERROR, STAGE ": --store: ", comm);
    hid_t store = mkt_h5_open(o->store, 0, comm);
    st.users = mkt_h5_rows(store, MKT_IDS_USERS, NULL);
    st.items = mkt_h5_rows(store, MKT_IDS_ITEMS, NULL);
    open_model(&st, o, comm);
    mkt_block own = mkt_block_of(st.similar ? st.items : st.users, st.nranks, st.rank);
    st.q0 = own.begin;
    st.nq = own.end - own.begin;
    int64_t K = st.K;
    st.qv = mkt_xmalloc((size_t)(st.nq * K > 0 ? st.nq * K : 1) * sizeof *st.qv);
    st.qbias = mkt_xcalloc((size_t)(st.nq > 0 ? st.nq : 1), sizeof *st.qbias);
    st.qnorm = mkt_xcalloc((size_t)(st.nq > 0 ? st.nq : 1), sizeof *st.qnorm);
    if (st.similar) {
        mkt_mf_read_items(st.model, &st.mf, st.q0, st.nq, st.qv, NULL);
        for (int64_t q = 0; q < st.nq; q++)
            st.qnorm[q] = mkt_mf_norm(st.qv + q * K, K);
    } else {
        mkt_mf_read_users(st.model, &st.mf, st.q0, st.nq, st.qv, st.qbias);
        read_purchases(&st, store, comm);
    }
    st.top = mkt_xmalloc((size_t)(st.nq * st.k > 0 ? st.nq * st.k : 1) * sizeof *st.top);
    st.ntop = mkt_xcalloc((size_t)(st.nq > 0 ? st.nq : 1), sizeof *st.ntop);
    mkt_log(STAGE, "%s %lld %s x %lld items, %lld factors, k %lld, item blocks of %lld rows, %d ranks",
            st.similar ? "similar items of" : "top items of", (long long)(st.similar ? st.items : st.users),
            st.similar ? "items" : "users", (long long)st.items, (long long)K, (long long)st.k,
            (long long)o->item_block, st.nranks);
    double t1 = mkt_now();
    clock_t c1 = clock();
    sweep(&st, o->item_block);
    /* wall and processor seconds of the ranking, the slowest rank's (on a
     * shared machine the two differ by the time other work took) */
    double busy[2] = {mkt_now() - t1, (double)(clock() - c1) / CLOCKS_PER_SEC}, most[2];
    MKT_MPI(MPI_Allreduce(busy, most, 2, MPI_DOUBLE, MPI_MAX, comm));
    double slowest = most[0];
    write_h5(&st, o->out, o->models, comm);
    if (o->csv)
        write_csv(&st, store, o->csv, comm);
    int64_t queries = st.similar ? st.items : st.users;
    double rate = slowest > 0 ? (double)queries / slowest : 0;
    mkt_log(STAGE, "%lld %s ranked in %.2f s (%.0f %s/s; %.2f processor s on the busiest rank), %.2f s in all; "
            "wrote %s%s%s", (long long)queries, st.similar ? "items" : "users", slowest, rate,
            st.similar ? "items" : "users", most[1], mkt_now() - t0, o->out, o->csv ? " and " : "",
            o->csv ? o->csv : "");
    mkt_metrics_set_int(metrics, "queries", (long long)queries);
    mkt_metrics_set_int(metrics, "items", (long long)st.items);
    mkt_metrics_set_int(metrics, "k", (long long)st.k);
    mkt_metrics_set_real(metrics, "rank_seconds", slowest);
    mkt_metrics_set_real(metrics, "rank_cpu_seconds", most[1]);
    mkt_metrics_set_real(metrics, "queries_per_second", rate);
    mkt_metrics_set_real(metrics, "seconds", mkt_now() - t0);
    mkt_h5_close(st.model);
    mkt_h5_close(store);
    free(st.qv);
    free(st.qbias);
    free(st.qnorm);
    free(st.xptr);
    free(st.xitem);
    free(st.purchases);
    free(st.top);
    free(st.ntop);
    return 0;
}
