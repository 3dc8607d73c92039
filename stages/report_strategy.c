/* report_strategy.c — `mkt report`, section 5: the marketing strategy of a
 * strategy file (/strategy): the budget curve, the predicted totals beside
 * the reference policies (with bootstrap intervals and, on generated data,
 * the planted truth) and the off-policy estimates from the campaign log.
 * Must not: recompute the strategy or its totals (mkt strategy does) or run
 * gnuplot other than through report_sections.h. */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "h5store.h"
#include "iocheck.h"
#include "metrics.h"
#include "report_sections.h"
#include "report_util.h"
#include "schema.h"

/* Readable names of the reference policies. */
static const char *policy_label(const char *id)
{
    static const char *const map[][2] = {{"strategy", "mkt strategy"},
                                         {"no_promotion", "no promotion"},
                                         {"cheapest_promotion", "cheapest promotion to all"},
                                         {"propensity_rank", "by purchase propensity"}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (!strcmp(id, map[i][0]))
            return map[i][1];
    return id;
}

static const char *metric_label(const char *id, int *decimals)
{
    static const struct {
        const char *id, *label;
        int dec;
    } map[] = {{"incremental_conversions", "extra purchases", 1},
               {"incremental_revenue", "extra revenue", 0},
               {"incremental_margin", "extra margin", 0},
               {"promotion_cost", "promotion cost", 0},
               {"incremental_profit", "incremental profit", 0},
               {"roi", "return on promotion cost", 2}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (!strcmp(id, map[i].id)) {
            *decimals = map[i].dec;
            return map[i].label;
        }
    *decimals = 2;
    return id;
}

static void budget_curve(rctx *c)
{
    const char *need[4] = {MKT_STRATEGY_BUDGET_CURVE_BUDGET, MKT_STRATEGY_BUDGET_CURVE_INCREMENTAL_PROFIT,
                           MKT_STRATEGY_BUDGET_CURVE_PROMOTION_COST, MKT_STRATEGY_BUDGET_CURVE_USERS_TREATED};
    double *v[4] = {NULL, NULL, NULL, NULL};
    int64_t B = -1;
    for (int i = 0; i < 4; i++) {
        const char *p = need[i];
        int64_t r = 0;
        v[i] = rep_read_num(c, &c->strategy, p, 0, 0, &r, NULL);
        if (!v[i] && !c->err[0]) {
            rep_missing(c, "%s has no %s: rerun mkt strategy (it writes the budget curve).", c->strategy.path, p);
            goto done;
        }
        if (c->err[0])
            goto done;
        if (B >= 0 && r != B) {
            rep_fail(c, "%s: the datasets of /strategy/budget_curve differ in length", c->strategy.path);
            goto done;
        }
        B = r;
    }
    if (B < 2) {
        rep_missing(c, "%s: /strategy/budget_curve has %lld point(s); rerun mkt strategy with more curve points.",
                    c->strategy.path, (long long)B);
        goto done;
    }
    /* sort by budget (insertion sort: B is small) */
    for (int64_t i = 1; i < B; i++)
        for (int64_t j = i; j > 0 && v[0][j] < v[0][j - 1]; j--)
            for (int m = 0; m < 4; m++) {
                double t = v[m][j];
                v[m][j] = v[m][j - 1];
                v[m][j - 1] = t;
            }
    double chosen = mkt_h5_attr_get_double(c->strategy.h, MKT_STRATEGY, "budget", NAN);
    FILE *d = rep_out_open(c, "budget_curve.dat");
    if (!d)
        goto done;
    fprintf(d, "# budget incremental_profit promotion_cost users_treated\n");
    for (int64_t i = 0; i < B; i++)
        fprintf(d, "%.10g %.10g %.10g %.10g\n", v[0][i], v[1][i], v[2][i], v[3][i]);
    if (!rep_out_close(c, d, "budget_curve.dat"))
        goto done;
    int64_t best = 0;
    for (int64_t i = 1; i < B; i++)
        if (v[1][i] > v[1][best])
            best = i;
    double at = isfinite(chosen) ? mkt_curve_at(v[0], v[1], B, chosen) : NAN;
    double users_at = isfinite(chosen) ? mkt_curve_at(v[0], v[3], B, chosen) : NAN;
    double cost_at = isfinite(chosen) ? mkt_curve_at(v[0], v[2], B, chosen) : NAN;
    FILE *g = rep_gp_begin(c, "budget_curve", 950, 540);
    if (!g)
        goto done;
    fprintf(g, "set title 'Expected incremental profit of the strategy for each promotion budget'\n"
               "set xlabel 'promotion budget (total expected promotion cost allowed)'\n"
               "set ylabel 'expected incremental profit'\nset y2label 'customers who get a promotion'\n"
               "set ytics nomirror\nset y2tics\nset y2range [0:*]\nset key bottom right\nset format x '%%.0f'\n"
               "set xzeroaxis lt -1 lc rgb '#999999'\n");
    if (isfinite(chosen)) {
        char a[64];
        fprintf(g, "set arrow from %.10g, graph 0 to %.10g, graph 1 nohead dt 3 lw 2 lc rgb '#d62728'\n"
                   "set label 'chosen budget %s' at %.10g, graph 0.93 offset 0.6,0 tc rgb '#d62728'\n",
                chosen, chosen, rep_num(a, sizeof a, chosen, 0), chosen);
    }
    fprintf(g, "plot 'budget_curve.dat' using 1:2 with linespoints lt 1 ps 0.8 title 'incremental profit', \\\n"
               "     '' using 1:4 axes x1y2 with lines lt 2 dt 2 title 'customers promoted (right axis)'");
    if (isfinite(at))
        fprintf(g, ", \\\n     '+' using (%.10g):(%.10g) every ::0::0 with points pt 7 ps 2 lc rgb '#d62728' "
                   "title 'the strategy'",
                chosen, at);
    fprintf(g, "\n");
    if (!rep_gp_run(c, "budget_curve", g))
        goto done;
    char a[64], b[64], e[64], f2[64], h[64];
    rep_figure_begin(c, "budget_curve", "expected incremental profit against promotion budget");
    rep_hraw(c->body,
             "<p><b>What it shows:</b> the strategy recomputed for a range of promotion budgets: the extra profit it "
             "expects (after promotion costs, blue) and how many customers get a promotion (orange, right axis).</p>\n"
             "<p><b>How to read it:</b> profit rises steeply while the budget goes to the customers a promotion moves "
             "most per unit of cost, then flattens once those are covered. Spending beyond the top of the curve buys "
             "nothing - the strategy stops sending promotions where they lose money, so the curve flattens rather than "
             "falls.</p>\n<p><b>Key number:</b> ");
    if (isfinite(chosen))
        rep_hraw(c->body, "at the chosen budget of %s the strategy expects %s of incremental profit, spending %s on "
                          "promotions to %s customers. ",
                 rep_num(a, sizeof a, chosen, 0), rep_num(b, sizeof b, at, 0), rep_num(e, sizeof e, cost_at, 0),
                 rep_num(f2, sizeof f2, users_at, 0));
    rep_hraw(c->body, "The most profit on the curve, %s, comes at a budget of %s.</p>\n",
             rep_num(h, sizeof h, v[1][best], 0), rep_num(a, sizeof a, v[0][best], 0));
    rep_figure_end(c, "budget_curve");
done:
    for (int i = 0; i < 4; i++)
        free(v[i]);
}

/* /strategy/totals: P policies x M metrics (prediction, bootstrap interval,
 * on generated data the planted truth), the columns and rows the page names. */
typedef struct {
    int64_t P, M;
    char **pol, **met;
    double *val, *lo, *hi, *tru;
    int iprofit, iconv, icost, istrat;
} totals_t;

/* Read the totals; 1 when complete, 0 when something is missing (said on
 * the page) or after rep_fail.  totals_free frees either way. */
static int totals_read(rctx *c, totals_t *t)
{
    int64_t P = 0, M = 0, r = 0, k = 0;
    t->pol = rep_read_strs(c, &c->strategy, MKT_STRATEGY_TOTALS_POLICIES, &t->P);
    t->met = rep_read_strs(c, &c->strategy, MKT_STRATEGY_TOTALS_METRIC_NAMES, &t->M);
    P = t->P;
    M = t->M;
    if (c->err[0])
        return 0;
    if (!t->pol || !t->met || P == 0 || M == 0) {
        rep_missing(c, "%s has no /strategy/totals (policies, metric_names): rerun mkt strategy.", c->strategy.path);
        return 0;
    }
    const char *arr[3] = {MKT_STRATEGY_TOTALS_VALUE, MKT_STRATEGY_TOTALS_LO, MKT_STRATEGY_TOTALS_HI};
    double **dst[3] = {&t->val, &t->lo, &t->hi};
    for (int i = 0; i < 3; i++) {
        const char *p = arr[i];
        *dst[i] = rep_read_num(c, &c->strategy, p, 0, M, &r, &k);
        if (c->err[0])
            return 0;
        if (!*dst[i] || r != P) {
            rep_missing(c, "%s: %s is absent or not %lld x %lld: rerun mkt strategy.", c->strategy.path, p,
                        (long long)P, (long long)M);
            return 0;
        }
    }
    if (rep_has(&c->strategy, MKT_STRATEGY_TOTALS_TRUE_VALUE)) {
        t->tru = rep_read_num(c, &c->strategy, MKT_STRATEGY_TOTALS_TRUE_VALUE, 0, M, &r, &k);
        if (c->err[0])
            return 0;
        if (r != P) {
            free(t->tru);
            t->tru = NULL;
        }
    }
    t->iprofit = t->iconv = t->icost = t->istrat = -1;
    for (int64_t m = 0; m < M; m++) {
        if (!strcmp(t->met[m], "incremental_profit"))
            t->iprofit = (int)m;
        if (!strcmp(t->met[m], "incremental_conversions"))
            t->iconv = (int)m;
        if (!strcmp(t->met[m], "promotion_cost"))
            t->icost = (int)m;
    }
    for (int64_t p = 0; p < P; p++)
        if (!strcmp(t->pol[p], "strategy"))
            t->istrat = (int)p;
    return 1;
}

static void totals_free(totals_t *t)
{
    rep_free_strs(t->pol, t->P);
    rep_free_strs(t->met, t->M);
    free(t->val);
    free(t->lo);
    free(t->hi);
    free(t->tru);
}

/* One panel of totals.png: metric column `col` of the tables, drawn from
 * totals.dat columns first (prediction), first+1..first+2 (interval) and
 * first+3 (truth). */
static void totals_panel(FILE *g, const totals_t *t, int col, int first, const char *title, const char *ylabel)
{
    const double *tabs[4] = {t->val, t->lo, t->hi, t->tru};
    rep_gp_bar_yrange(g, tabs, 4, t->P, t->M, col);
    fprintf(g, "set title '%s'\nset ylabel '%s'\n"
               "plot 'totals.dat' using 1:%d:2 with boxes lc rgb variable notitle, \\\n"
               "     '' using 1:%d:(0):($%d-$%d) with vectors heads size screen 0.008,90 lc rgb '#222222' lw 1.5 "
               "notitle",
            title, ylabel, first, first + 1, first + 2, first + 1);
    if (t->tru)
        fprintf(g, ", \\\n     '' using 1:%d with points pt 9 ps 2 lc rgb '#2ca02c' title 'planted truth'", first + 3);
    fprintf(g, "\n");
}

/* totals.dat and totals.gp (incremental profit and, when there is the
 * column, extra purchases per policy).  Returns 1 when totals.png was drawn. */
static int totals_plot(rctx *c, const totals_t *t, char **labels)
{
    int64_t P = t->P, M = t->M;
    const double *val = t->val, *lo = t->lo, *hi = t->hi, *tru = t->tru;
    int iprofit = t->iprofit, iconv = t->iconv, istrat = t->istrat;
    FILE *d = rep_out_open(c, "totals.dat");
    if (!d)
        return 0;
    fprintf(d, "# index colour profit profit_lo profit_hi profit_true conversions conv_lo conv_hi conv_true "
               "(policies: table in index.html)\n");
    for (int64_t p = 0; p < P; p++) {
        int m2 = iconv >= 0 ? iconv : iprofit;
        fprintf(d, "%lld %d %.10g %.10g %.10g %.10g %.10g %.10g %.10g %.10g\n", (long long)p,
                p == istrat ? 0xd62728 : 0x1f77b4, val[p * M + iprofit], lo[p * M + iprofit],
                hi[p * M + iprofit], tru ? tru[p * M + iprofit] : NAN, val[p * M + m2], lo[p * M + m2],
                hi[p * M + m2], tru ? tru[p * M + m2] : NAN);
    }
    if (!rep_out_close(c, d, "totals.dat"))
        return 0;
    int panels = iconv >= 0 ? 2 : 1;
    FILE *g = rep_gp_begin(c, "totals", panels == 2 ? 1250 : 800, 560);
    if (!g)
        return 0;
    fprintf(g, "set style fill solid 0.75 border -1\nset boxwidth 0.6\nset xrange [-0.6:%g]\n"
               "set xtics rotate by 20 right nomirror\n"
               "set bmargin 7\nset lmargin 12\nset rmargin 3\nset xzeroaxis lt -1\nset key top right\n",
            (double)P - 0.4);
    rep_gp_name_tics(g, labels, P);
    fprintf(g, "set multiplot layout 1,%d title 'Predicted effect of the strategy and of the reference "
               "policies (bars: prediction, whiskers: 95%% bootstrap interval)'\n",
            panels);
    totals_panel(g, t, iprofit, 3, "incremental profit", "incremental profit");
    if (panels == 2)
        totals_panel(g, t, iconv, 7, "extra purchases", "incremental conversions");
    fprintf(g, "unset multiplot\n");
    return rep_gp_run(c, "totals", g);
}

/* The figure of totals.png: what it shows and the strategy's key number. */
static void totals_figure(rctx *c, const totals_t *t, char **labels)
{
    int64_t P = t->P, M = t->M;
    const double *val = t->val, *lo = t->lo, *hi = t->hi, *tru = t->tru;
    int iprofit = t->iprofit, icost = t->icost, istrat = t->istrat;
    char a[64], b[64], e[64], h[64];
    rep_figure_begin(c, "totals", "predicted totals of the strategy and the reference policies");
    rep_hraw(
        c->body,
        "<p><b>What it shows:</b> what the strategy (red) is predicted to earn over sending nothing, "
        "beside three usual alternatives: no promotion at all, the cheapest promotion to every customer, "
        "and promotions to the customers most likely to buy (the usual practice) with the same budget. The "
        "whiskers are 95%% bootstrap intervals%s.</p>\n"
        "<p><b>How to read it:</b> incremental means caused by the promotion: purchases that would have "
        "happened anyway are not counted. Promoting likely buyers looks busy but often pays for purchases "
        "that would have happened anyway; the strategy targets the customers the promotion changes.</p>\n",
        tru ? "; green diamonds are the true values planted in the synthetic data" : "");
    if (istrat >= 0) {
        int bestref = -1;
        for (int64_t p = 0; p < P; p++)
            if (p != istrat && (bestref < 0 || val[p * M + iprofit] > val[bestref * M + iprofit]))
                bestref = (int)p;
        rep_hraw(c->body,
                 "<p><b>Key number:</b> the strategy's predicted incremental profit is %s (95%% "
                 "interval %s to %s)",
                 rep_num(a, sizeof a, val[istrat * M + iprofit], 0),
                 rep_num(b, sizeof b, lo[istrat * M + iprofit], 0),
                 rep_num(e, sizeof e, hi[istrat * M + iprofit], 0));
        if (bestref >= 0) {
            rep_hraw(c->body, "; the best reference policy, <q>");
            rep_htext(c->body, labels[bestref]);
            rep_hraw(c->body, "</q>, reaches %s", rep_num(a, sizeof a, val[bestref * M + iprofit], 0));
        }
        rep_hraw(c->body, ".</p>\n");
        rep_key_number(c, "Strategy: predicted incremental profit %s (95%% interval %s to %s)%s%s.",
                       rep_num(a, sizeof a, val[istrat * M + iprofit], 0),
                       rep_num(b, sizeof b, lo[istrat * M + iprofit], 0),
                       rep_num(e, sizeof e, hi[istrat * M + iprofit], 0),
                       icost >= 0 ? ", promotion cost " : "",
                       icost >= 0 ? rep_num(h, sizeof h, val[istrat * M + icost], 0) : "");
    }
    rep_figure_end(c, "totals");
}

/* The table: every metric of every policy. */
static void totals_table(rctx *c, const totals_t *t)
{
    int64_t P = t->P, M = t->M;
    char **pol = t->pol, **met = t->met;
    const double *val = t->val, *lo = t->lo, *hi = t->hi, *tru = t->tru;
    int istrat = t->istrat;
    rep_hraw(c->body, "<table class=\"totals\"><tr><th>policy</th>");
    int *dec = mkt_xcalloc((size_t)M, sizeof(int));
    for (int64_t m = 0; m < M; m++) {
        rep_hraw(c->body, "<th>");
        rep_htext(c->body, metric_label(met[m], &dec[m]));
        rep_hraw(c->body, "</th>");
    }
    rep_hraw(c->body, "</tr>\n");
    for (int64_t p = 0; p < P; p++) {
        rep_hraw(c->body, "<tr%s><td>", p == istrat ? " class=\"ours\"" : "");
        rep_htext(c->body, policy_label(pol[p]));
        rep_hraw(c->body, "</td>");
        for (int64_t m = 0; m < M; m++) {
            char a[64], b[64], e[64];
            rep_hraw(c->body, "<td>%s<br><small>%s to %s</small>", rep_num(a, sizeof a, val[p * M + m], dec[m]),
                     rep_num(b, sizeof b, lo[p * M + m], dec[m]), rep_num(e, sizeof e, hi[p * M + m], dec[m]));
            if (tru)
                rep_hraw(c->body, "<br><small>true %s</small>", rep_num(a, sizeof a, tru[p * M + m], dec[m]));
            rep_hraw(c->body, "</td>");
        }
        rep_hraw(c->body, "</tr>\n");
    }
    rep_hraw(c->body, "</table>\n<p class=\"note\">Each cell: the prediction, below it the 95%% bootstrap interval%s. "
                      "Return on promotion cost = incremental profit / promotion cost (n/a without cost).</p>\n",
             tru ? " and the true value planted in the synthetic data" : "");
    free(dec);
}

static void totals(rctx *c)
{
    totals_t t;
    memset(&t, 0, sizeof t);
    if (!totals_read(c, &t)) {
        totals_free(&t);
        return;
    }
    char **labels = mkt_xcalloc((size_t)t.P, sizeof(char *));
    for (int64_t p = 0; p < t.P; p++)
        labels[p] = (char *)policy_label(t.pol[p]);
    if (t.iprofit >= 0) {
        if (totals_plot(c, &t, labels))
            totals_figure(c, &t, labels);
    } else {
        rep_missing(c, "%s: /strategy/totals has no incremental_profit column.", c->strategy.path);
    }
    free(labels);
    if (!c->err[0])
        totals_table(c, &t);
    totals_free(&t);
}

static void ope(rctx *c)
{
    int64_t n = 0, r = 0;
    char **names = rep_read_strs(c, &c->strategy, MKT_STRATEGY_OPE_NAMES, &n);
    double *v = NULL, *lo = NULL, *hi = NULL;
    if (c->err[0])
        goto done;
    if (!names)
        goto absent;
    v = rep_read_num(c, &c->strategy, MKT_STRATEGY_OPE_VALUE, 0, 0, &r, NULL);
    if (!v || r != n)
        goto absent;
    lo = rep_read_num(c, &c->strategy, MKT_STRATEGY_OPE_LO, 0, 0, &r, NULL);
    if (!lo || r != n)
        goto absent;
    hi = rep_read_num(c, &c->strategy, MKT_STRATEGY_OPE_HI, 0, 0, &r, NULL);
    if (!hi || r != n)
        goto absent;
    double pred = mkt_h5_attr_get_double(c->strategy.h, MKT_STRATEGY_OPE, "predicted", NAN);
    int64_t rows = mkt_h5_attr_get_int(c->strategy.h, MKT_STRATEGY_OPE, "rows", -1);
    FILE *d = rep_out_open(c, "ope.dat");
    if (!d)
        goto done;
    fprintf(d, "# index value lo hi colour (estimates per campaign customer; the last row, if any, is the "
               "model's prediction)\n");
    for (int64_t i = 0; i < n; i++)
        fprintf(d, "%lld %.10g %.10g %.10g %d\n", (long long)i, v[i], lo[i], hi[i], 0x1f77b4);
    if (isfinite(pred))
        fprintf(d, "%lld %.10g %.10g %.10g %d\n", (long long)n, pred, pred, pred, 0xd62728);
    if (!rep_out_close(c, d, "ope.dat"))
        goto done;
    int64_t nb = n + (isfinite(pred) ? 1 : 0);
    char **labels = mkt_xcalloc((size_t)nb, sizeof(char *));
    for (int64_t i = 0; i < n; i++)
        labels[i] = !strcmp(names[i], "ipw")  ? "inverse propensity weighting"
                    : !strcmp(names[i], "dr") ? "doubly robust"
                                              : names[i];
    if (isfinite(pred))
        labels[n] = "model prediction";
    FILE *g = rep_gp_begin(c, "ope", 900, 520);
    if (!g) {
        free(labels);
        goto done;
    }
    fprintf(g, "set title 'The strategy checked against the randomized campaign log'\n"
               "set ylabel 'incremental profit per campaign customer'\nset style fill solid 0.75 border -1\n"
               "set boxwidth 0.55\nset xrange [-0.6:%g]\nset xzeroaxis lt -1\nunset key\n"
               "set bmargin 4\n",
            (double)nb - 0.4);
    rep_gp_name_tics(g, labels, nb);
    free(labels);
    double ylo = 0, yhi = 0;
    for (int64_t i = 0; i <= n; i++) {
        double w[3] = {i < n ? v[i] : pred, i < n ? lo[i] : pred, i < n ? hi[i] : pred};
        for (int j = 0; j < 3; j++)
            if (isfinite(w[j])) {
                ylo = w[j] < ylo ? w[j] : ylo;
                yhi = w[j] > yhi ? w[j] : yhi;
            }
    }
    rep_gp_yrange_of(g, ylo, yhi);
    fprintf(g, "plot 'ope.dat' using 1:2:5 with boxes lc rgb variable, \\\n"
               "     '' using 1:3:(0):($4-$3) with vectors heads size screen 0.008,90 lc rgb '#222222' lw 1.5\n");
    if (!rep_gp_run(c, "ope", g))
        goto done;
    char a[64], b[64], e[64];
    rep_figure_begin(c, "ope", "off-policy estimates of the strategy's value from the campaign log");
    rep_hraw(c->body,
             "<p><b>What it shows:</b> an independent check of the prediction. In the past randomized campaign, "
             "some customers happened to receive exactly what the strategy would send them; re-weighting what "
             "happened to them (inverse propensity weighting) and correcting it with the models (doubly robust) "
             "estimates what the strategy would have earned per customer, compared with sending nothing.</p>\n"
             "<p><b>How to read it:</b> the whiskers are 95%% intervals. If the model's prediction (red) falls inside "
             "them, the log agrees with the prediction; if both estimates sit clearly below it, the prediction is "
             "optimistic.</p>\n");
    for (int64_t i = 0; i < n; i++)
        if (!strcmp(names[i], "dr"))
            rep_hraw(c->body, "<p><b>Key number:</b> doubly robust estimate %s per customer (95%% interval %s to %s)",
                     rep_num(a, sizeof a, v[i], 2), rep_num(b, sizeof b, lo[i], 2), rep_num(e, sizeof e, hi[i], 2));
    if (isfinite(pred))
        rep_hraw(c->body, "; the model predicts %s", rep_num(a, sizeof a, pred, 2));
    if (rows > 0)
        rep_hraw(c->body, "; %s campaign customers", rep_num(b, sizeof b, (double)rows, 0));
    rep_hraw(c->body, ".</p>\n");
    rep_figure_end(c, "ope");
    goto done;
absent:
    if (!c->err[0])
        rep_missing(c, "%s has no complete /strategy/ope (names, value, lo, hi): rerun mkt strategy on a store with a "
                       "campaign log.", c->strategy.path);
done:
    rep_free_strs(names, n);
    free(v);
    free(lo);
    free(hi);
}

void rep_strategy_section(rctx *c)
{
    rep_section(c, "strategy", "5. The marketing strategy",
                "For every customer: the promotion to send (or none), chosen for the largest expected incremental "
                "profit within the promotion budget.");
    if (c->strategy.h < 0) {
        rep_missing(c, "no --strategy file given. Compute the strategy first: mkt strategy --store S --models M "
                       "--budget B --out strategy.h5, then give --strategy strategy.h5.");
        return;
    }
    if (!rep_has(&c->strategy, MKT_STRATEGY)) {
        rep_missing(c, "%s has no /strategy group: it is not a strategy file (write one with mkt strategy --out).",
                    c->strategy.path);
        return;
    }
    double b = mkt_h5_attr_get_double(c->strategy.h, MKT_STRATEGY, "budget", NAN);
    int64_t treated = mkt_h5_attr_get_int(c->strategy.h, MKT_STRATEGY, "users_treated", -1);
    if (isfinite(b) || treated >= 0) {
        char a[64], e[64];
        rep_hraw(c->body, "<p>");
        if (isfinite(b))
            rep_hraw(c->body, "Budget: %s. ", rep_num(a, sizeof a, b, 0));
        if (treated >= 0)
            rep_hraw(c->body, "Customers who get a promotion: %s.", rep_num(e, sizeof e, (double)treated, 0));
        rep_hraw(c->body, "</p>\n");
    }
    budget_curve(c);
    if (!c->err[0])
        totals(c);
    if (!c->err[0])
        ope(c);
}

