/* report_gbdt.c — `mkt report`, the part of section 2 for a boosted-tree
 * (model gbdt) propensity model: which features its trees split on, by the
 * total gain of their splits (mkt_gbdt_importance), as a bar chart of the
 * top features with their names and a table.  The learning curve per round
 * is in section 1 (report_training.c).
 * Must not: compute the importance itself (src/gbdt.h does), read another
 * model, or run gnuplot other than through report_sections.h. */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forest_io.h"
#include "gbdt.h"
#include "iocheck.h"
#include "report_sections.h"

#define TOP_FEATURES 15 /* bars and table rows at most */

/* Feature indices by decreasing gain, ties by index (a stable order). */
static const double *sort_gain;
static int by_gain(const void *a, const void *b)
{
    int i = *(const int *)a, j = *(const int *)b;
    if (sort_gain[i] != sort_gain[j])
        return sort_gain[i] > sort_gain[j] ? -1 : 1;
    return i - j;
}

/* The bar chart of the top k features (order[0..k)) by share of the gain. */
static int importance_plot(rctx *c, char **names, const int *order, int k, const double *gain, double total)
{
    FILE *d = rep_out_open(c, "propensity_importance.dat");
    if (!d)
        return 0;
    fprintf(d, "# rank feature_index gain share_of_total_gain (names: importance table in index.html)\n");
    for (int r = 0; r < k; r++)
        fprintf(d, "%d %d %.10g %.10g\n", r, order[r], gain[order[r]], gain[order[r]] / total);
    if (!rep_out_close(c, d, "propensity_importance.dat"))
        return 0;
    FILE *g = rep_gp_begin(c, "propensity_importance", 1000, 560);
    if (!g)
        return 0;
    fprintf(g, "set title 'Purchase propensity (boosted trees): feature importance by gain'\n"
               "set style fill solid 0.75 border -1\nset boxwidth 0.7\nunset key\nset xrange [-0.6:%g]\n"
               "set yrange [0:*]\nset offsets 0,0,graph 0.07,0\nset xtics rotate by 30 right nomirror\n"
               "set bmargin 9\nset lmargin 12\nset ylabel '%% of the total split gain'\n",
            (double)k - 0.4);
    char **top = mkt_xmalloc(sizeof(char *) * (size_t)k);
    for (int r = 0; r < k; r++)
        top[r] = names[order[r]];
    rep_gp_name_tics(g, top, k);
    free(top);
    fprintf(g, "plot 'propensity_importance.dat' using 1:(100*$4) with boxes lt 1, "
               "'' using 1:(100*$4):(sprintf('%%.1f', 100*$4)) with labels offset 0,0.8 font ',9'\n");
    return rep_gp_run(c, "propensity_importance", g);
}

void rep_propensity_gbdt(rctx *c, const char *group, int inputs)
{
    mkt_gbdt_model m;
    char why[600], path[300];
    if (mkt_forest_read(c->models.h, c->models.path, group, inputs, &m, why, sizeof why) != 0) {
        rep_missing(c, "%s", why);
        return;
    }
    snprintf(path, sizeof path, "%s/feature_names", group);
    int64_t nn = 0;
    char **names = rep_read_strs(c, &c->models, path, &nn);
    double *gain = mkt_xcalloc((size_t)m.d, sizeof *gain);
    int *order = mkt_xmalloc(sizeof(int) * (size_t)m.d);
    mkt_gbdt_importance(&m, gain);
    double total = 0;
    for (int f = 0; f < m.d; f++) {
        order[f] = f;
        total += gain[f] > 0 ? gain[f] : 0;
    }
    if (c->err[0] || !names || nn != m.d)
        goto done; /* rep_read_strs recorded why (describe checked the count) */
    if (!(total > 0)) {
        rep_missing(c, "%s: the forest of %s (%d trees) has no split with a positive gain: every customer gets the "
                       "same probability, so there is no feature importance to show.",
                    c->models.path, group, m.trees);
        goto done;
    }
    sort_gain = gain;
    qsort(order, (size_t)m.d, sizeof *order, by_gain);
    int k = m.d < TOP_FEATURES ? m.d : TOP_FEATURES;
    while (k > 1 && !(gain[order[k - 1]] > 0))
        k--;
    char a[64], b[64];
    if (importance_plot(c, names, order, k, gain, total)) {
        rep_figure_begin(c, "propensity_importance", "feature importance of the boosted-tree propensity model");
        rep_hraw(c->body,
                 "<p><b>What it shows:</b> the propensity model is a forest of %d decision trees; every split of a "
                 "tree on a customer feature lowers the training loss by some amount (its gain). Each bar is a "
                 "feature's share of the total gain of all splits: what the model leans on most to tell buyers "
                 "from non-buyers.</p>\n"
                 "<p><b>How to read it:</b> a few tall bars mean a few features carry the prediction; importance "
                 "says the model uses a feature, not that the feature causes purchases.</p>\n"
                 "<p><b>Key number:</b> <q>",
                 m.trees);
        rep_htext(c->body, names[order[0]]);
        rep_hraw(c->body, "</q> brings %s%% of the total gain.</p>\n",
                 rep_num(a, sizeof a, 100 * gain[order[0]] / total, 1));
        rep_figure_end(c, "propensity_importance");
    }
    if (c->err[0])
        goto done;
    rep_hraw(c->body, "<table class=\"importance\"><tr><th>rank</th><th>feature</th><th>total gain</th>"
                      "<th>share of the gain</th></tr>\n");
    for (int r = 0; r < k; r++) {
        rep_hraw(c->body, "<tr><td>%d</td><td>", r + 1);
        rep_htext(c->body, names[order[r]]);
        rep_hraw(c->body, "</td><td>%s</td><td>%s%%</td></tr>\n", rep_num(a, sizeof a, gain[order[r]], 4),
                 rep_num(b, sizeof b, 100 * gain[order[r]] / total, 1));
    }
    rep_hraw(c->body, "</table>\n");
    /* a summary line as rep_key_number writes it, with the (untrusted) name escaped */
    rep_hraw(c->summary, "<li>Purchase propensity (boosted trees, %d trees): top feature by gain <q>", m.trees);
    rep_htext(c->summary, names[order[0]]);
    rep_hraw(c->summary, "</q> (%s%% of the gain).</li>\n", rep_num(a, sizeof a, 100 * gain[order[0]] / total, 1));
done:
    rep_free_strs(names, nn);
    free(gain);
    free(order);
    mkt_gbdt_model_free(&m);
}
