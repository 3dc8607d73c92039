/* test_ranking.c — src/ranking.c against values computed by hand: top-K
 * selection with exclusions and ties (and the bounded heap against a full
 * sort), and HR, precision, recall, NDCG and
 * average precision for several relevant items, one held-out item, a miss
 * and a list shorter than K. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>

#include "ranking.h"

#define EPS 1e-12

static void test_topk(void **state)
{
    (void)state;
    double s[6] = {0.5, 0.9, 0.5, 0.9, 0.1, 0.7};
    unsigned char ex[6] = {0, 0, 0, 1, 0, 0};
    int32_t out[10];
    assert_int_equal(mkt_topk(s, 6, ex, 3, out), 3);
    assert_int_equal(out[0], 1);
    assert_int_equal(out[1], 5);
    assert_int_equal(out[2], 0); /* tie 0.5: lower index first */
    assert_int_equal(mkt_topk(s, 6, ex, 10, out), 5);
    int32_t want[5] = {1, 5, 0, 2, 4};
    for (int j = 0; j < 5; j++)
        assert_int_equal(out[j], want[j]);
    assert_int_equal(mkt_topk(s, 6, NULL, 2, out), 2);
    assert_int_equal(out[0], 1);
    assert_int_equal(out[1], 3);
}

/* the oracle: every kept index sorted by score descending, index ascending
 * (NaN last, by index) */
static const double *g_s;
static int by_rank(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    double sx = g_s[x], sy = g_s[y];
    int nx = isnan(sx), ny = isnan(sy);
    if (nx != ny)
        return nx - ny;
    if (!nx && sx != sy)
        return sx > sy ? -1 : 1;
    return (x > y) - (x < y);
}

/* The bounded heap against a full sort: many ties (scores from 5 values),
 * -0.0 beside 0.0, NaNs, exclusions, k = 0, 1, n - 1, n, n + 5. */
static void test_topk_heap_against_sort(void **state)
{
    (void)state;
    enum { NMAX = 257 };
    double s[NMAX];
    unsigned char ex[NMAX];
    int32_t out[NMAX + 8], want[NMAX];
    unsigned r = 12345;
    for (int n = 0; n <= NMAX; n += n < 20 ? 1 : 37) {
        for (int trial = 0; trial < 4; trial++) {
            int m = 0;
            for (int i = 0; i < n; i++) {
                r = r * 1103515245u + 12345u;
                int v = (int)((r >> 16) % 7);
                s[i] = v == 5 ? -0.0 : v == 6 ? (trial == 3 ? NAN : 0.0) : (double)v;
                ex[i] = trial >= 2 && (r >> 8) % 5 == 0;
                if (!ex[i])
                    want[m++] = i;
            }
            g_s = s;
            qsort(want, (size_t)m, sizeof *want, by_rank);
            int ks[5] = {0, 1, n - 1, n, n + 5};
            for (int j = 0; j < 5; j++) {
                int k = ks[j];
                if (k < 0)
                    continue;
                out[0] = -7;
                int got = mkt_topk(s, n, trial >= 2 ? ex : NULL, k, out);
                assert_int_equal(got, k < m ? k : m);
                if (k == 0)
                    assert_int_equal(out[0], -7); /* nothing written */
                for (int p = 0; p < got; p++)
                    assert_int_equal(out[p], want[p]);
            }
        }
    }
}

static void test_several_relevant(void **state)
{
    (void)state;
    int32_t top[4] = {5, 2, 9, 7}, rel[3] = {11, 7, 2};
    mkt_rank_quality q = mkt_rank_eval(top, 4, 4, rel, 3);
    assert_float_equal(q.hit, 1, EPS);
    assert_float_equal(q.precision, 0.5, EPS);
    assert_float_equal(q.recall, 2.0 / 3, EPS);
    double dcg = 1 / log2(3.0) + 1 / log2(5.0), idcg = 1 + 1 / log2(3.0) + 0.5;
    assert_float_equal(q.ndcg, dcg / idcg, EPS);
    assert_float_equal(q.ap, (0.5 + 0.5) / 3, EPS);
}

static void test_leave_one_out(void **state)
{
    (void)state;
    int32_t top[3] = {3, 1, 4}, rel[1] = {4}, miss[1] = {8};
    mkt_rank_quality q = mkt_rank_eval(top, 3, 3, rel, 1);
    assert_float_equal(q.hit, 1, EPS);
    assert_float_equal(q.precision, 1.0 / 3, EPS);
    assert_float_equal(q.recall, 1, EPS);
    assert_float_equal(q.ndcg, 0.5, EPS);
    assert_float_equal(q.ap, 1.0 / 3, EPS);
    q = mkt_rank_eval(top, 3, 3, miss, 1);
    assert_float_equal(q.hit + q.precision + q.recall + q.ndcg + q.ap, 0, EPS);
    /* a list shorter than K still divides precision by K */
    int32_t short_top[2] = {1, 0}, r0[1] = {0};
    q = mkt_rank_eval(short_top, 2, 5, r0, 1);
    assert_float_equal(q.precision, 0.2, EPS);
    assert_float_equal(q.ndcg, 1 / log2(3.0), EPS);
    assert_float_equal(q.ap, 0.5, EPS);
    /* the cut at K ignores later positions */
    q = mkt_rank_eval(top, 3, 2, rel, 1);
    assert_float_equal(q.hit, 0, EPS);
    q = mkt_rank_eval(top, 3, 3, rel, 0);
    assert_float_equal(q.hit, 0, EPS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_topk),
        cmocka_unit_test(test_topk_heap_against_sort),
        cmocka_unit_test(test_several_relevant),
        cmocka_unit_test(test_leave_one_out),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
