/* test_gbdt.c — the boosted trees (src/gbdt.c, mpi/gbdt_train.c).
 *
 * Run alone it is a one-rank test; under `mpirun -np N` (ctest mpi.gbdt.npN)
 * every rank holds a block of the rows (even blocks, and a lopsided split
 * where rank 0 holds nothing) and every rank compares the forest with the
 * one it trains itself on all rows alone (MPI_COMM_SELF): same bits.
 *
 * The planted truth: y ~ Bernoulli(sigmoid(f)) with f = 2.5 when x0 > 0.5
 * and x1 > 0 (an interaction), −2.5 when |x1| > 1.2 (two thresholds), and
 * 1.5·sign(x2·x3) otherwise in part (an XOR), plus missing values in x3.
 * Logistic regression cannot express it; the trees must beat its held-out
 * AUC by at least 0.10 and come within 0.03 of the AUC of f itself. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <mpi.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "gbdt.h"
#include "gbdt_train.h"
#include "metrics.h"
#include "par.h"
#include "rng.h"
#include "unit_config_check.h"

#define D 6

static double truth(const double *x)
{
    double f = -0.3;
    if (x[0] > 0.5 && x[1] > 0)
        f += 2.5;
    if (fabs(x[1]) > 1.2)
        f -= 2.5;
    if (!isnan(x[3]) && fabs(x[0]) <= 0.5)
        f += 1.5 * ((x[2] > 0) == (x[3] > 0) ? 1 : -1);
    return f;
}

static void make_rows(int64_t begin, int64_t n, uint64_t seed, double *x, double *y)
{
    for (int64_t i = 0; i < n; i++) {
        mkt_rng r;
        mkt_rng_init(&r, seed, MKT_STREAM_MODEL, (uint64_t)(begin + i));
        double *xi = x + i * D;
        for (int j = 0; j < D; j++)
            xi[j] = mkt_rng_normal(&r);
        xi[4] = floor(xi[4] * 2); /* a few distinct values */
        if (mkt_rng_uniform(&r) < 0.1)
            xi[3] = NAN;
        double p = 1 / (1 + exp(-truth(xi)));
        y[i] = mkt_rng_uniform(&r) < p;
    }
}

static void test_config_checks(void **state)
{
    (void)state;
    mkt_gbdt_config c;
    mkt_gbdt_config_defaults(&c);
    assert_null(mkt_gbdt_check_config(&c));
    mkt_gbdt_config b = c;
    b.max_depth = 0;
    expect_named(mkt_gbdt_check_config(&b), "depth");
    b = c;
    b.eta = 0;
    expect_named(mkt_gbdt_check_config(&b), "eta");
    b = c;
    b.eta = -1;
    expect_named(mkt_gbdt_check_config(&b), "eta");
    b = c;
    b.max_bins = 256;
    expect_named(mkt_gbdt_check_config(&b), "bins");
    b = c;
    b.subsample = 0;
    expect_named(mkt_gbdt_check_config(&b), "subsample");
    b = c;
    b.loss = "poisson";
    expect_named(mkt_gbdt_check_config(&b), "loss");
    b = c;
    b.grow = "random";
    expect_named(mkt_gbdt_check_config(&b), "grow");
    b = c;
    b.max_leaves = 1;
    expect_named(mkt_gbdt_check_config(&b), "leaves");
}

static void test_bins_and_cuts(void **state)
{
    (void)state;
    double v[] = {1, 1, 2, 2, 2, 5, 7};
    double cuts[MKT_GBDT_MAX_BINS];
    int n = mkt_gbdt_cuts(v, 7, 255, cuts);
    assert_int_equal(n, 3); /* 2, 5, 7 */
    assert_true(cuts[0] == 2 && cuts[1] == 5 && cuts[2] == 7);
    assert_int_equal(mkt_gbdt_bin(cuts, n, 0.5), 0);
    assert_int_equal(mkt_gbdt_bin(cuts, n, 1), 0);
    assert_int_equal(mkt_gbdt_bin(cuts, n, 2), 1);
    assert_int_equal(mkt_gbdt_bin(cuts, n, 6), 2);
    assert_int_equal(mkt_gbdt_bin(cuts, n, 9), 3);
    assert_int_equal(mkt_gbdt_bin(cuts, n, NAN), MKT_GBDT_MISSING);
    /* more distinct values than bins: at most bins − 1 increasing cuts */
    double w[1000];
    for (int i = 0; i < 1000; i++)
        w[i] = i * 0.5;
    n = mkt_gbdt_cuts(w, 1000, 16, cuts);
    assert_true(n >= 1 && n <= 15);
    for (int i = 1; i < n; i++)
        assert_true(cuts[i] > cuts[i - 1]);
}

static void test_check_model(void **state)
{
    (void)state;
    mkt_gbdt_model m;
    assert_int_equal(mkt_gbdt_model_init(&m, 2, MKT_GBDT_LOGISTIC, 0.1), 0);
    assert_int_equal(mkt_gbdt_model_reserve(&m, 3), 0);
    /* root splits on feature 1 at 0.5, leaves 1 and 2 */
    m.feature[0] = 1, m.threshold[0] = 0.5, m.left[0] = 1, m.right[0] = 2, m.default_left[0] = 1;
    m.feature[1] = m.feature[2] = -1;
    m.value[1] = -1, m.value[2] = 2;
    m.nodes = 3, m.trees = 1, m.tree_start[1] = 3;
    assert_null(mkt_gbdt_check_model(&m));
    double x[2] = {0, 0.7}, xm[2] = {0, NAN};
    assert_true(mkt_gbdt_margin(&m, x) == 0.1 + 2);
    assert_true(mkt_gbdt_margin(&m, xm) == 0.1 - 1);
    m.left[0] = 0; /* a cycle */
    assert_non_null(mkt_gbdt_check_model(&m));
    m.left[0] = 1;
    m.feature[0] = 2; /* outside the features */
    assert_non_null(mkt_gbdt_check_model(&m));
    m.feature[0] = 1;
    m.right[0] = 3; /* outside the tree */
    assert_non_null(mkt_gbdt_check_model(&m));
    m.right[0] = 2;
    int64_t ts[3] = {0, 100, 3}; /* a tree past the nodes, the total right */
    int64_t *keep = m.tree_start;
    m.tree_start = ts;
    m.trees = 2;
    assert_non_null(mkt_gbdt_check_model(&m));
    m.tree_start = keep;
    m.trees = 1;
    assert_null(mkt_gbdt_check_model(&m));
    m.value[2] = NAN;
    assert_non_null(mkt_gbdt_check_model(&m));
    mkt_gbdt_model_free(&m);
}

typedef struct {
    double *x, *y;
    int64_t n, begin;
} rows;

/* This rank's block of N rows (lopsided: rank 0 holds none when P > 1). */
static rows my_rows(int64_t N, uint64_t seed, int lopsided, MPI_Comm comm)
{
    int P, r;
    MPI_Comm_size(comm, &P);
    MPI_Comm_rank(comm, &r);
    rows out;
    if (lopsided && P > 1) {
        mkt_block b = mkt_block_of(N, P - 1, r - 1);
        out.begin = r == 0 ? 0 : b.begin;
        out.n = r == 0 ? 0 : b.end - b.begin;
    } else {
        mkt_block b = mkt_block_of(N, P, r);
        out.begin = b.begin;
        out.n = b.end - b.begin;
    }
    out.x = malloc(sizeof(double) * (size_t)(out.n * D + 1));
    out.y = malloc(sizeof(double) * (size_t)(out.n + 1));
    make_rows(out.begin, out.n, seed, out.x, out.y);
    return out;
}

static void rows_free(rows *r)
{
    free(r->x);
    free(r->y);
}

static void train(const mkt_gbdt_config *c, int64_t ntrain, int64_t nvalid, int lopsided, MPI_Comm comm,
                  const mkt_gbdt_hooks *hooks, mkt_gbdt_model *m, mkt_gbdt_result *res)
{
    rows t = my_rows(ntrain, 7, lopsided, comm), v = my_rows(nvalid, 8, lopsided, comm);
    mkt_gbdt_data dt = {t.x, t.y, NULL, NULL, t.n, D}, dv = {v.x, v.y, NULL, NULL, v.n, D};
    mkt_gbdt_train(c, &dt, &dv, hooks, m, res, comm);
    rows_free(&t);
    rows_free(&v);
}

static void assert_same_forest(const mkt_gbdt_model *a, const mkt_gbdt_model *b)
{
    assert_int_equal(a->trees, b->trees);
    assert_int_equal(a->nodes, b->nodes);
    assert_memory_equal(&a->base_score, &b->base_score, sizeof(double));
    size_t n = (size_t)a->nodes;
    assert_memory_equal(a->tree_start, b->tree_start, (size_t)(a->trees + 1) * sizeof(int64_t));
    assert_memory_equal(a->feature, b->feature, n * sizeof(int32_t));
    assert_memory_equal(a->left, b->left, n * sizeof(int32_t));
    assert_memory_equal(a->right, b->right, n * sizeof(int32_t));
    assert_memory_equal(a->default_left, b->default_left, n);
    assert_memory_equal(a->threshold, b->threshold, n * sizeof(double));
    assert_memory_equal(a->value, b->value, n * sizeof(double));
    assert_memory_equal(a->gain, b->gain, n * sizeof(double));
}

static mkt_gbdt_config small_config(void)
{
    mkt_gbdt_config c;
    mkt_gbdt_config_defaults(&c);
    c.rounds = 40;
    c.max_depth = 4;
    c.eta = 0.3;
    c.max_bins = 64;
    c.subsample = 0.8;
    c.colsample = 0.8;
    c.early_stop = 5;
    c.sketch_rows = 2000; /* below the rows: the sketch samples */
    return c;
}

/* Distributed = alone on all rows, bit for bit, for both growth policies,
 * with row and column samples and without (every row and feature: the
 * trainer's other paths for histograms and training margins). */
static void test_rank_invariance(void **state)
{
    (void)state;
    const char *grows[2] = {"depthwise", "lossguide"};
    for (int gi = 0; gi < 2; gi++)
        for (int lop = 0; lop < 4; lop++) {
            mkt_gbdt_config c = small_config();
            c.grow = grows[gi];
            c.max_leaves = gi ? 12 : 0;
            if (lop >= 2)
                c.subsample = c.colsample = 1.0;
            mkt_gbdt_model dist, alone;
            mkt_gbdt_result rd, ra;
            train(&c, 6000, 2000, lop & 1, MPI_COMM_WORLD, NULL, &dist, &rd);
            train(&c, 6000, 2000, 0, MPI_COMM_SELF, NULL, &alone, &ra);
            assert_null(mkt_gbdt_check_model(&dist));
            assert_true(dist.trees >= 2);
            assert_same_forest(&dist, &alone);
            assert_memory_equal(&rd.val_loss, &ra.val_loss, sizeof(double));
            mkt_gbdt_model_free(&dist);
            mkt_gbdt_model_free(&alone);
        }
}

/* A hook that stops at round `at` and keeps a copy of the state. */
typedef struct {
    int at;
    mkt_gbdt_model saved;
    mkt_gbdt_state st;
} stopper;

static int stop_at(void *arg, const mkt_gbdt_state *st)
{
    stopper *s = arg;
    if (st->rounds < s->at)
        return 0;
    const mkt_gbdt_model *m = st->model;
    assert_int_equal(mkt_gbdt_model_init(&s->saved, m->d, m->loss, m->base_score), 0);
    for (int t = 0; t < m->trees; t++) {
        int64_t k = m->tree_start[t + 1] - m->tree_start[t];
        assert_int_equal(mkt_gbdt_model_reserve(&s->saved, k), 0);
        for (int64_t j = 0; j < k; j++) {
            int64_t a = m->tree_start[t] + j, b = s->saved.nodes + j;
            s->saved.feature[b] = m->feature[a];
            s->saved.left[b] = m->left[a];
            s->saved.right[b] = m->right[a];
            s->saved.default_left[b] = m->default_left[a];
            s->saved.threshold[b] = m->threshold[a];
            s->saved.value[b] = m->value[a];
            s->saved.gain[b] = m->gain[a];
            s->saved.cover[b] = m->cover[a];
        }
        s->saved.nodes += k;
        s->saved.trees++;
        s->saved.tree_start[s->saved.trees] = s->saved.nodes;
    }
    s->st = *st;
    s->st.model = &s->saved;
    return 1;
}

/* Stopped after round 7 and resumed: the same forest as one run. */
static void test_resume(void **state)
{
    (void)state;
    mkt_gbdt_config c = small_config();
    c.early_stop = 0;
    c.rounds = 15;
    mkt_gbdt_model whole, part, resumed;
    mkt_gbdt_result r1, r2, r3;
    train(&c, 4000, 1000, 0, MPI_COMM_WORLD, NULL, &whole, &r1);
    stopper s = {.at = 7};
    mkt_gbdt_hooks h = {.after_round = stop_at, .hook_arg = &s};
    train(&c, 4000, 1000, 0, MPI_COMM_WORLD, &h, &part, &r2);
    assert_int_equal(r2.stopped, 1);
    assert_int_equal(part.trees, 7);
    mkt_gbdt_hooks h2 = {.resume = &s.st};
    train(&c, 4000, 1000, 0, MPI_COMM_WORLD, &h2, &resumed, &r3);
    assert_same_forest(&whole, &resumed);
    mkt_gbdt_model_free(&whole);
    mkt_gbdt_model_free(&part);
    mkt_gbdt_model_free(&resumed);
    mkt_gbdt_model_free(&s.saved);
}

/* Logistic regression by Newton's method on (1, x) with missing values as 0,
 * one process: the linear baseline. */
static void logistic_fit(const double *x, const double *y, int64_t n, double *w)
{
    enum { K = D + 1 };
    memset(w, 0, sizeof(double) * K);
    for (int it = 0; it < 25; it++) {
        double g[K] = {0}, H[K][K] = {{0}};
        for (int64_t i = 0; i < n; i++) {
            double z[K] = {1}, s = w[0];
            for (int j = 0; j < D; j++) {
                z[j + 1] = isnan(x[i * D + j]) ? 0 : x[i * D + j];
                s += w[j + 1] * z[j + 1];
            }
            double p = 1 / (1 + exp(-s));
            for (int a = 0; a < K; a++) {
                g[a] += (p - y[i]) * z[a];
                for (int b = 0; b < K; b++)
                    H[a][b] += p * (1 - p) * z[a] * z[b];
            }
        }
        for (int a = 0; a < K; a++)
            H[a][a] += 1e-6;
        /* solve H d = g by Gaussian elimination */
        for (int a = 0; a < K; a++) {
            for (int b = a + 1; b < K; b++) {
                double f = H[b][a] / H[a][a];
                for (int c = a; c < K; c++)
                    H[b][c] -= f * H[a][c];
                g[b] -= f * g[a];
            }
        }
        for (int a = K - 1; a >= 0; a--) {
            double s = g[a];
            for (int c = a + 1; c < K; c++)
                s -= H[a][c] * g[c];
            g[a] = s / H[a][a];
        }
        for (int a = 0; a < K; a++)
            w[a] -= g[a];
    }
}

static void test_planted_nonlinear(void **state)
{
    (void)state;
    mkt_gbdt_config c;
    mkt_gbdt_config_defaults(&c);
    c.rounds = 200;
    c.eta = 0.2;
    c.max_depth = 4;
    mkt_gbdt_model m;
    mkt_gbdt_result res;
    train(&c, 20000, 5000, 0, MPI_COMM_WORLD, NULL, &m, &res);
    /* held-out rows, scored on every rank alone */
    int64_t nt = 10000, ntr = 20000;
    double *x = malloc(sizeof(double) * (size_t)(nt * D)), *y = malloc(sizeof(double) * (size_t)nt);
    double *xt = malloc(sizeof(double) * (size_t)(ntr * D)), *yt = malloc(sizeof(double) * (size_t)ntr);
    make_rows(0, nt, 9, x, y);
    make_rows(0, ntr, 7, xt, yt);
    double *p = malloc(sizeof(double) * (size_t)nt), *pl = malloc(sizeof(double) * (size_t)nt),
           *pf = malloc(sizeof(double) * (size_t)nt);
    int *yi = malloc(sizeof(int) * (size_t)nt);
    mkt_gbdt_predict_margin(&m, x, nt, D, p);
    double w[D + 1];
    logistic_fit(xt, yt, ntr, w);
    for (int64_t i = 0; i < nt; i++) {
        double s = w[0];
        for (int j = 0; j < D; j++)
            s += w[j + 1] * (isnan(x[i * D + j]) ? 0 : x[i * D + j]);
        pl[i] = s;
        pf[i] = truth(x + i * D);
        yi[i] = y[i] > 0.5;
    }
    double auc_tree = mkt_auc(p, yi, nt), auc_lin = mkt_auc(pl, yi, nt), auc_true = mkt_auc(pf, yi, nt);
    print_message("AUC: trees %.4f, logistic %.4f, truth %.4f (%d trees)\n", auc_tree, auc_lin, auc_true, m.trees);
    assert_true(auc_tree > auc_lin + 0.10);
    assert_true(auc_tree > auc_true - 0.03);
    /* the gain importance puts the planted features first */
    double imp[D];
    mkt_gbdt_importance(&m, imp);
    assert_true(imp[0] > imp[4] && imp[0] > imp[5] && imp[3] > imp[5]);
    free(x), free(y), free(xt), free(yt), free(p), free(pl), free(pf), free(yi);
    mkt_gbdt_model_free(&m);
}

/* Without a row sample the trainer takes the training margins from the
 * leaves its partition put the rows in: the training loss it reports is the
 * one of the forest applied to the rows' values, bit for bit (missing
 * values and values equal to a cut included). */
static void test_leaf_margins(void **state)
{
    (void)state;
    mkt_gbdt_config c = small_config();
    c.subsample = 1.0;
    c.early_stop = 0;
    c.rounds = 12;
    c.max_depth = 5;
    for (int cs = 0; cs < 2; cs++) {
        c.colsample = cs ? 0.5 : 1.0;
        rows t = my_rows(5000, 11, 0, MPI_COMM_WORLD);
        for (int64_t i = 0; i < t.n; i++) /* many rows on a cut: few distinct values */
            t.x[i * D + 2] = floor(t.x[i * D + 2] * 4) / 4;
        mkt_gbdt_data dt = {t.x, t.y, NULL, NULL, t.n, D};
        mkt_gbdt_model m;
        mkt_gbdt_result res;
        mkt_gbdt_train(&c, &dt, NULL, NULL, &m, &res, MPI_COMM_WORLD);
        double again = mkt_gbdt_mean_loss(&m, &dt, MPI_COMM_WORLD);
        assert_true(m.trees == 12);
        assert_memory_equal(&res.train_loss, &again, sizeof(double));
        mkt_gbdt_model_free(&m);
        rows_free(&t);
    }
}

/* Squared loss recovers a step function. */
static void test_squared(void **state)
{
    (void)state;
    mkt_gbdt_config c = small_config();
    c.loss = "squared";
    c.rounds = 60;
    int P, r;
    MPI_Comm_size(MPI_COMM_WORLD, &P);
    MPI_Comm_rank(MPI_COMM_WORLD, &r);
    mkt_block b = mkt_block_of(4000, P, r);
    int64_t n = b.end - b.begin;
    double *x = malloc(sizeof(double) * (size_t)(n * D + 1)), *y = malloc(sizeof(double) * (size_t)(n + 1));
    double *ignored = malloc(sizeof(double) * (size_t)(n + 1));
    make_rows(b.begin, n, 3, x, ignored);
    for (int64_t i = 0; i < n; i++)
        y[i] = (x[i * D + 1] > 0.3 ? 10.0 : 2.0) + 0.1 * x[i * D + 2];
    mkt_gbdt_data dt = {x, y, NULL, NULL, n, D};
    mkt_gbdt_model m;
    mkt_gbdt_result res;
    mkt_gbdt_train(&c, &dt, NULL, NULL, &m, &res, MPI_COMM_WORLD);
    assert_true(res.train_loss < 0.05);
    double a[D] = {0, 1, 0, 0, 0, 0}, z[D] = {0, -1, 0, 0, 0, 0};
    assert_true(fabs(mkt_gbdt_margin(&m, a) - 10.0) < 0.3);
    assert_true(fabs(mkt_gbdt_margin(&m, z) - 2.0) < 0.3);
    free(x), free(y), free(ignored);
    mkt_gbdt_model_free(&m);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    mkt_check_init_mpi();
    mkt_log_mute(1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_checks),   cmocka_unit_test(test_bins_and_cuts),
        cmocka_unit_test(test_check_model),     cmocka_unit_test(test_rank_invariance),
        cmocka_unit_test(test_resume),          cmocka_unit_test(test_planted_nonlinear),
        cmocka_unit_test(test_squared),         cmocka_unit_test(test_leaf_margins),
    };
    int failed = cmocka_run_group_tests_name("boosted trees", tests, NULL, NULL);
    int any = 0;
    MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    MPI_Finalize();
    return any ? 1 : 0;
}
