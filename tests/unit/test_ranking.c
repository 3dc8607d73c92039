/* test_ranking.c — src/ranking.c against values computed by hand: top-K
 * selection with exclusions and ties, and HR, precision, recall, NDCG and
 * average precision for several relevant items, one held-out item, a miss
 * and a list shorter than K. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>

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
        cmocka_unit_test(test_several_relevant),
        cmocka_unit_test(test_leave_one_out),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
