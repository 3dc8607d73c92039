/* report_models.c — `mkt report`, sections 2 to 4: what the models of the
 * model file say on customers they never saw: purchase propensity (ROC,
 * calibration, gains), uplift (a Qini curve per promotion, against the
 * store's randomized campaign outcomes) and the customer segments (with the
 * strategy's promotions and profit per segment when a strategy is given).
 * Must not: compute a metric itself (src/metrics.h does) or run gnuplot other
 * than through report_sections.h. */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exactsum.h"
#include "h5store.h"
#include "iocheck.h"
#include "metrics.h"
#include "model_io.h"
#include "report_sections.h"
#include "report_util.h"
#include "schema.h"
#include "uplift.h"

static void propensity_roc(rctx *c, const double *s, const int *y, int64_t n, int64_t npos)
{
    double auc = mkt_auc(s, y, n);
    double *fx = mkt_xmalloc(sizeof(double) * (size_t)(n + 1)), *ty = mkt_xmalloc(sizeof(double) * (size_t)(n + 1));
    int64_t m = mkt_roc_curve(s, y, n, fx, ty);
    m = mkt_curve_thin(fx, ty, m, 0.002);
    FILE *d = rep_out_open(c, "roc.dat");
    if (d) {
        fprintf(d, "# false_positive_rate true_positive_rate (held-out users, %lld of them buyers)\n",
                (long long)npos);
        for (int64_t i = 0; i < m; i++)
            fprintf(d, "%.8g %.8g\n", fx[i], ty[i]);
    }
    free(fx);
    free(ty);
    if (!rep_out_close(c, d, "roc.dat"))
        return;
    FILE *g = rep_gp_begin(c, "roc", 700, 620);
    if (!g)
        return;
    fprintf(g, "set title 'ROC curve of purchase propensity (held-out users, AUC %.3f)'\n"
               "set xlabel 'share of non-buyers flagged (false positive rate)'\n"
               "set ylabel 'share of buyers flagged (true positive rate)'\n"
               "set xrange [0:1]\nset yrange [0:1]\nset size ratio -1\nset key bottom right\n"
               "plot 'roc.dat' using 1:2 with lines lt 1 title 'propensity model', \\\n"
               "     x with lines dt 2 lc rgb '#777777' title 'random guess (AUC 0.5)'\n",
            auc);
    if (!rep_gp_run(c, "roc", g))
        return;
    char a[64];
    rep_figure_begin(c, "roc", "ROC curve of the purchase propensity model");
    rep_hraw(
        c->body,
        "<p><b>What it shows:</b> for every possible cut-off on the predicted purchase probability, the share of "
        "actual buyers the model flags (up) against the share of non-buyers it wrongly flags (right), on customers "
        "held out from training.</p>\n"
        "<p><b>How to read it:</b> the closer the curve hugs the top-left corner, the better; the dashed diagonal "
        "is guessing. The AUC is the chance that a random buyer gets a higher score than a random non-buyer.</p>\n"
        "<p><b>Key number:</b> AUC %s on %lld held-out customers.</p>\n",
        rep_num(a, sizeof a, auc, 3), (long long)n);
    rep_figure_end(c, "roc");
    rep_key_number(c, "Purchase propensity: AUC %s on held-out customers (0.5 is guessing, 1 is perfect).",
                   rep_num(a, sizeof a, auc, 3));
}

static void propensity_calibration(rctx *c, const double *s, const int *y, int64_t n)
{
    mkt_reliability t;
    double ece = mkt_ece(s, y, n, &t);
    FILE *d = rep_out_open(c, "calibration.dat");
    if (!d)
        return;
    fprintf(d, "# bin_low bin_high users mean_predicted share_bought (non-empty 10%% bins)\n");
    double maxv = 0;
    for (int b = 0; b < MKT_CALIB_BINS; b++) {
        if (t.count[b] == 0)
            continue;
        fprintf(d, "%.2f %.2f %lld %.8g %.8g\n", b / 10.0, (b + 1) / 10.0, (long long)t.count[b], t.mean_pred[b],
                t.frac_positive[b]);
        if (t.mean_pred[b] > maxv)
            maxv = t.mean_pred[b];
        if (t.frac_positive[b] > maxv)
            maxv = t.frac_positive[b];
    }
    if (!rep_out_close(c, d, "calibration.dat"))
        return;
    double top = ceil(maxv * 10 + 0.5) / 10;
    if (top > 1)
        top = 1;
    FILE *g = rep_gp_begin(c, "calibration", 700, 620);
    if (!g)
        return;
    fprintf(g, "set title 'Calibration of purchase propensity (held-out users, ECE %.3f)'\n"
               "set xlabel 'predicted purchase probability (mean in the bin)'\n"
               "set ylabel 'share who actually bought'\n"
               "set xrange [0:%g]\nset yrange [0:%g]\nset key top left\n"
               "plot x with lines dt 2 lc rgb '#777777' title 'perfect calibration', \\\n"
               "     'calibration.dat' using 4:5 with linespoints lt 1 ps 1.3 title 'model (10%% bins; labels: users per bin)', "
               "\\\n     '' using 4:5:(stringcolumn(3)) with labels offset 0,1.2 font ',9' tc rgb '#444444' "
               "notitle\n",
            ece, top, top * 1.08);
    if (!rep_gp_run(c, "calibration", g))
        return;
    char a[64];
    rep_figure_begin(c, "calibration", "reliability diagram of the purchase propensity model");
    rep_hraw(c->body,
             "<p><b>What it shows:</b> customers are grouped by predicted purchase probability (0-10%%, 10-20%%, ...); "
             "each point is a group: its average prediction (across) against the share of its customers who actually "
             "bought (up). The small numbers are how many customers are in each group.</p>\n"
             "<p><b>How to read it:</b> points on the dashed diagonal mean the probabilities can be taken at face "
             "value (a 30%% prediction buys 30%% of the time) - needed when they feed money decisions like the "
             "strategy below. Points above the line: the model is too pessimistic; below: too optimistic.</p>\n"
             "<p><b>Key number:</b> expected calibration error %s (average distance from the diagonal, weighted by "
             "group size; 0 is perfect).</p>\n",
             rep_num(a, sizeof a, ece, 3));
    rep_figure_end(c, "calibration");
}

static void propensity_gains(rctx *c, const double *s, const int *y, int64_t n, int64_t npos)
{
    enum { POINTS = 101 };
    double x[POINTS], gain[POINTS];
    mkt_gains_curve(s, y, n, POINTS, x, gain);
    mkt_lift_table lt;
    mkt_lift_by_decile(s, y, n, &lt);
    FILE *d = rep_out_open(c, "gains.dat");
    if (!d)
        return;
    fprintf(d, "# percent_targeted percent_of_buyers_reached\n");
    for (int j = 0; j < POINTS; j++)
        fprintf(d, "%.6g %.6g\n", 100 * x[j], 100 * gain[j]);
    fprintf(d, "\n\n# deciles: percent_targeted cumulative_percent_of_buyers lift\n");
    int64_t cum = 0;
    for (int k = 0; k < MKT_DECILES; k++) {
        cum += lt.count[k];
        fprintf(d, "%.6g %.6g %.4f\n", 100.0 * (double)cum / (double)n, 100 * lt.cumulative_gain[k], lt.lift[k]);
    }
    if (!rep_out_close(c, d, "gains.dat"))
        return;
    double rate = (double)npos / (double)n;
    FILE *g = rep_gp_begin(c, "gains", 900, 560);
    if (!g)
        return;
    fprintf(g, "set title 'Cumulative gains of purchase propensity (held-out users)'\n"
               "set xlabel '%% of customers contacted, highest predicted probability first'\n"
               "set ylabel '%% of all buyers reached'\nset xrange [0:100]\nset yrange [0:100]\n"
               "set key bottom right\n"
               "plot (x < %.10g ? x / %.10g : 100) with lines dt 3 lc rgb '#2ca02c' title 'perfect model', \\\n"
               "     'gains.dat' index 0 using 1:2 with lines lt 1 title 'propensity model', \\\n"
               "     '' index 1 using 1:2 with points lt 1 ps 1.2 title 'deciles', \\\n"
               "     x with lines dt 2 lc rgb '#777777' title 'random order'\n",
            100 * rate, rate);
    if (!rep_gp_run(c, "gains", g))
        return;
    char a[64], b[64], r[64];
    rep_figure_begin(c, "gains", "cumulative gains chart of the purchase propensity model");
    rep_hraw(c->body,
             "<p><b>What it shows:</b> if you contact customers in order of predicted purchase probability, the share "
             "of all the customers who will buy that you have reached after contacting a given share of the base.</p>\n"
             "<p><b>How to read it:</b> the dashed diagonal is contacting at random (10%% of customers reach 10%% of "
             "buyers); the dotted green line is a perfect model. The higher the blue curve above the diagonal, the "
             "fewer contacts are needed to reach the buyers. This ranks who will buy anyway - it does not say who a "
             "promotion changes; the Qini curves below do.</p>\n"
             "<p><b>Key number:</b> the top 10%% of customers by score hold %s%% of the buyers, %s times what random "
             "contact would reach (base purchase rate %s%%).</p>\n",
             rep_num(a, sizeof a, 100 * lt.cumulative_gain[0], 1), rep_num(b, sizeof b, lt.lift[0], 2),
             rep_num(r, sizeof r, 100 * rate, 1));
    rep_figure_end(c, "gains");
}

void rep_propensity_section(rctx *c)
{
    rep_section(c, "propensity", "2. Purchase propensity: ROC, calibration, gains",
                "Who is likely to buy in the coming days, as predicted by the propensity model, checked on customers "
                "held out from its training.");
    if (c->models.h < 0) {
        rep_missing(c, "no --models file given; train the propensity model (mkt train propensity --store S --out "
                       "MODELS) and give --models MODELS.");
        return;
    }
    if (!rep_has(&c->models, MKT_MODELS_PROPENSITY)) {
        rep_missing(c, "%s has no /models/propensity: run mkt train propensity --store S --out %s.", c->models.path,
                    c->models.path);
        return;
    }
    /* the group's shape (model_io.h); the test datasets below are optional */
    mkt_propensity_model pm;
    char why[512];
    if (mkt_propensity_describe(c->models.h, c->models.path, MKT_MODELS_PROPENSITY, &pm, why, sizeof why) != 0) {
        rep_missing(c, "%s", why);
        return;
    }
    if (pm.gbdt) /* a forest: which features its trees split on */
        rep_propensity_gbdt(c, MKT_MODELS_PROPENSITY, pm.net.inputs);
    if (c->err[0])
        return;
    /* the test users' scores (older model files: validation_*, the users they held out) */
    const char *sname = MKT_MODELS_PROPENSITY_TEST_SCORE, *lname = MKT_MODELS_PROPENSITY_TEST_LABEL;
    if (!rep_has(&c->models, sname) || !rep_has(&c->models, lname)) {
        sname = MKT_MODELS_PROPENSITY_VALIDATION_SCORE;
        lname = MKT_MODELS_PROPENSITY_VALIDATION_LABEL;
    }
    if (!rep_has(&c->models, sname) || !rep_has(&c->models, lname)) {
        rep_missing(c, "%s: /models/propensity has no test_score/test_label (written by newer versions "
                       "of mkt train propensity): retrain the propensity model to see ROC, calibration and gains.",
                    c->models.path);
        return;
    }
    int64_t n = 0, nl = 0;
    double *s = rep_read_num(c, &c->models, sname, 0, 0, &n, NULL);
    int *y = rep_read_num(c, &c->models, lname, 1, 0, &nl, NULL);
    if (!c->err[0] && n != nl)
        rep_fail(c, "%s: %s has %lld rows but %s %lld", c->models.path, sname, (long long)n, lname, (long long)nl);
    if (!c->err[0]) {
        int64_t npos = 0;
        for (int64_t i = 0; i < n; i++)
            npos += y[i] != 0;
        if (n == 0 || npos == 0 || npos == n)
            rep_missing(c, "the %lld held-out customers of /models/propensity are all of one class (%lld buyers): ROC, "
                           "calibration and gains need buyers and non-buyers; use a longer horizon or more users.",
                        (long long)n, (long long)npos);
        else {
            propensity_roc(c, s, y, n, npos);
            propensity_calibration(c, s, y, n);
            propensity_gains(c, s, y, n, npos);
        }
    }
    free(s);
    free(y);
}

/* ---------- 3. uplift: Qini curves per promotion ---------- */

static void qini_arm(rctx *c, int t, char **arms, const char *outcome, const double *pred, int64_t nt,
                     const int *treat, const double *yv, const unsigned char *hold, int64_t N)
{
    int64_t n = 0, ntr = 0, nco = 0;
    for (int64_t i = 0; i < N; i++)
        if (hold[i] && (treat[i] == 0 || treat[i] == t)) {
            n++;
            ntr += treat[i] == t;
            nco += treat[i] == 0;
        }
    if (ntr == 0 || nco == 0) {
        rep_missing(c, "promotion '%s': the held-out campaign rows have %lld customers who got it and %lld controls; "
                       "a Qini curve needs both.", arms[t], (long long)ntr, (long long)nco);
        return;
    }
    double *sc = mkt_xmalloc(sizeof(double) * (size_t)n), *ov = mkt_xmalloc(sizeof(double) * (size_t)n);
    int *tr = mkt_xmalloc(sizeof(int) * (size_t)n);
    int64_t k = 0;
    for (int64_t i = 0; i < N; i++)
        if (hold[i] && (treat[i] == 0 || treat[i] == t)) {
            sc[k] = pred[i * nt + (t - 1)];
            tr[k] = treat[i] == t;
            ov[k] = yv[i];
            k++;
        }
    int points = n + 1 < 101 ? (int)(n + 1) : 101;
    double *x = mkt_xmalloc(sizeof(double) * (size_t)points), *q = mkt_xmalloc(sizeof(double) * (size_t)points);
    mkt_qini_curve(sc, tr, ov, n, points, x, q);
    double coef = mkt_qini_coefficient(sc, tr, ov, n);
    double up30 = mkt_uplift_at(sc, tr, ov, n, 0.3), upall = mkt_uplift_at(sc, tr, ov, n, 1.0);
    char name[64];
    snprintf(name, sizeof name, "qini_%d", t);
    char file[80];
    snprintf(file, sizeof file, "%s.dat", name);
    FILE *d = rep_out_open(c, file);
    if (d) {
        fprintf(d, "# arm %d; held-out rows %lld (%lld treated, %lld control); outcome %s\n", t, (long long)n,
                (long long)ntr, (long long)nco, outcome);
        fprintf(d, "# percent_targeted qini random_targeting\n");
        for (int j = 0; j < points; j++)
            fprintf(d, "%.6g %.8g %.8g\n", 100 * x[j], q[j], x[j] * q[points - 1]);
    }
    double qend = q[points - 1], qbest = q[0], xbest = 0;
    for (int j = 0; j < points; j++)
        if (q[j] > qbest) {
            qbest = q[j];
            xbest = x[j];
        }
    free(x);
    free(q);
    free(sc);
    free(ov);
    free(tr);
    if (!rep_out_close(c, d, file))
        return;
    char title[600];
    snprintf(title, sizeof title, "Qini curve: %s vs %s (held-out campaign customers)", arms[t], arms[0]);
    FILE *g = rep_gp_begin(c, name, 900, 520);
    if (!g)
        return;
    fprintf(g, "set title ");
    rep_gp_str(g, title, 100);
    fprintf(g, "\nset xlabel '%% of customers targeted, largest predicted effect first'\n"
               "set ylabel 'extra %ss caused by the promotion'\nset xrange [0:100]\nset key top left\n"
               "set xzeroaxis lt -1 lc rgb '#999999'\n"
               "plot '%s' using 1:2 with lines lt 1 title 'uplift model ranking', \\\n"
               "     '' using 1:3 with lines dt 2 lc rgb '#777777' title 'random targeting'\n",
          outcome, file);
    if (!rep_gp_run(c, name, g))
        return;
    char a[64], b[64], e[64], f2[64], h[64], q2[64];
    snprintf(title, sizeof title, "Qini curve of promotion %s", arms[t]);
    rep_figure_begin(c, name, title);
    rep_hraw(c->body, "<p><b>Promotion <q>");
    rep_htext(c->body, arms[t]);
    rep_hraw(c->body, "</q> against <q>");
    rep_htext(c->body, arms[0]);
    rep_hraw(c->body,
             "</q>.</b> Customers of the randomized campaign held out from training (%lld: %lld got the promotion, "
             "%lld were controls) are sorted by the model's predicted effect of this promotion; the curve shows how "
             "many extra %ss (beyond what the same customers would have done anyway) the promotion brought among the "
             "top x%%.</p>\n"
             "<p><b>How to read it:</b> the dashed line is sending to a random x%%. A curve above it means the model "
             "finds the customers the promotion actually moves; where the curve peaks and turns down, the remaining "
             "customers are not worth it (or are put off).</p>\n"
             "<p><b>Key number:</b> among the top 30%% by predicted effect the promotion raises the %s rate by %s "
             "points, against %s points across all customers; Qini coefficient %s (area between the curves per "
             "customer; 0 = no better than random). Peak: %s extra %ss at %s%% targeted, %s when sending to "
             "everyone.</p>\n",
             (long long)n, (long long)ntr, (long long)nco, outcome, outcome, rep_num(a, sizeof a, 100 * up30, 1),
             rep_num(b, sizeof b, 100 * upall, 1), rep_num(e, sizeof e, coef, 4), rep_num(f2, sizeof f2, qbest, 1),
             outcome, rep_num(h, sizeof h, 100 * xbest, 0), rep_num(q2, sizeof q2, qend, 1));
    rep_figure_end(c, name);
    rep_hraw(c->summary, "<li>Promotion <q>");
    rep_htext(c->summary, arms[t]);
    rep_hraw(c->summary, "</q>: top 30%% by predicted effect gain %s points of %s rate against %s on average.</li>\n",
             rep_num(a, sizeof a, 100 * up30, 1), outcome, rep_num(b, sizeof b, 100 * upall, 1));
}

/* An observational uplift model (train uplift --design observational): say
 * so first, and show its effect estimates beside the naive difference. */
static void observational_note(rctx *c)
{
    char *design = mkt_h5_attr_get_string(c->models.h, MKT_MODELS_UPLIFT, "design");
    int obs = design && !strcmp(design, "observational");
    free(design);
    if (!obs)
        return;
    char *mj = mkt_h5_attr_get_string(c->models.h, MKT_MODELS_UPLIFT, "metrics_json");
    json_t *m = mj ? json_loads(mj, 0, NULL) : NULL;
    free(mj);
    json_t *o = json_object_get(m, "observational");
    rep_hraw(c->body, "<p class=\"missing\"><b>Observational estimate.</b> This campaign was targeted, not "
                      "randomized: the comparison group is the users the shop did not target. The effects below "
                      "are estimated with fitted propensities (inverse-propensity weighting, and doubly robust AIPW), "
                      "for the users in the overlap only (propensity in [%g, %g]); they hold only if the campaign "
                      "attributes capture why users were targeted. The Qini curves below compare targeted with "
                      "untargeted users, who differ by design: read them with care.</p>\n",
             json_real_value(json_object_get(o, "trim")), 1 - json_real_value(json_object_get(o, "trim")));
    json_t *arms = json_object_get(o, "arms");
    if (json_object_size(arms) > 0) {
        char b1[64], b2[64], b3[64], b4[64], b5[64], b6[64], b7[64];
        rep_hraw(c->body, "<table><tr><th>promotion</th><th>naive difference</th><th>IPW effect [95%% interval]</th>"
                          "<th>DR effect [95%% interval]</th><th>trimmed (treated / untargeted)</th></tr>\n");
        const char *name;
        json_t *a;
        json_object_foreach(arms, name, a) {
            rep_hraw(c->body, "<tr><td>");
            rep_htext(c->body, name);
            rep_hraw(c->body, "</td><td>%s</td><td>%s [%s, %s]</td><td>%s [%s, %s]</td><td>%lld / %lld</td></tr>\n",
                     rep_num(b1, sizeof b1, json_real_value(json_object_get(a, "naive_difference")), 4),
                     rep_num(b2, sizeof b2, json_real_value(json_object_get(a, "ipw")), 4),
                     rep_num(b3, sizeof b3, json_real_value(json_object_get(a, "ipw_lo")), 4),
                     rep_num(b4, sizeof b4, json_real_value(json_object_get(a, "ipw_hi")), 4),
                     rep_num(b5, sizeof b5, json_real_value(json_object_get(a, "dr")), 4),
                     rep_num(b6, sizeof b6, json_real_value(json_object_get(a, "dr_lo")), 4),
                     rep_num(b7, sizeof b7, json_real_value(json_object_get(a, "dr_hi")), 4),
                     (long long)json_integer_value(json_object_get(a, "trimmed_treated")),
                     (long long)json_integer_value(json_object_get(a, "trimmed_untargeted")));
        }
        rep_hraw(c->body, "</table>\n");
    }
    json_decref(m);
}

/* Whether the model file has GROUP; if not, say so and how to train it
 * (RUN: the command). */
static int need_models(rctx *c, const char *group, const char *run)
{
    if (c->models.h >= 0 && rep_has(&c->models, group))
        return 1;
    int none = c->models.h < 0;
    rep_missing(c, "%s%s%s: run %s and give --models MODELS.", none ? "no --models file given" : c->models.path,
                none ? "" : " has no ", none ? "" : group, run);
    return 0;
}

void rep_uplift_section(rctx *c)
{
    rep_section(c, "uplift", "3. Promotions: Qini curves",
                "Who a promotion actually changes, as predicted by the uplift models, checked against what happened "
                "in the randomized campaign.");
    if (!need_models(c, MKT_MODELS_UPLIFT, "mkt train uplift --store S --out MODELS"))
        return;
    /* the group's shape (model_io.h): outcome, arms >= 2, rows of the predictions; holdout is optional */
    mkt_uplift_model um;
    char why[512];
    if (mkt_uplift_describe(c->models.h, c->models.path, &um, why, sizeof why) != 0) {
        rep_missing(c, "%s", why);
        return;
    }
    observational_note(c);
    if (c->store.h < 0) {
        rep_missing(c, "no --store given: the Qini curves need the campaign outcomes of the store the uplift models "
                       "were trained on (--store SHOP.h5).");
        mkt_uplift_model_free(&um);
        return;
    }
    if (!rep_has(&c->store, MKT_CAMPAIGNS_TREATMENT)) {
        rep_missing(c, "%s has no /campaigns: ingest a campaign log (mkt ingest --campaign FILE) or use the store the "
                       "uplift models were trained on.", c->store.path);
        mkt_uplift_model_free(&um);
        return;
    }
    const char *outcome = um.outcome ? um.outcome : "conversion";
    char pname[64], oname[64];
    snprintf(pname, sizeof pname, MKT_MODELS_UPLIFT "/predicted_%s", outcome);
    snprintf(oname, sizeof oname, MKT_CAMPAIGNS "/%s", outcome);
    int64_t T = um.arms, N = 0, nt = 0, nu = 0, ntr = 0, ny = 0, nsu = 0, nh = 0, na = 0;
    char **arms = rep_read_strs(c, &c->models, MKT_MODELS_UPLIFT_ARMS, &na);
    double *pred = NULL, *yv = NULL;
    int *user = NULL, *treat = NULL, *suser = NULL, *hold_i = NULL;
    unsigned char *hold = NULL;
    if (!c->err[0] && (!arms || um.rows < 0)) {
        rep_missing(c, "%s: /models/uplift lacks arms, user or predicted_%s: retrain with mkt train uplift.",
                    c->models.path, outcome);
        goto done;
    }
    pred = rep_read_num(c, &c->models, pname, 0, T - 1, &N, &nt);
    user = rep_read_num(c, &c->models, MKT_MODELS_UPLIFT_USER, 1, 0, &nu, NULL);
    treat = rep_read_num(c, &c->store, MKT_CAMPAIGNS_TREATMENT, 1, 0, &ntr, NULL);
    yv = rep_read_num(c, &c->store, oname, 0, 0, &ny, NULL);
    suser = rep_read_num(c, &c->store, MKT_CAMPAIGNS_USER, 1, 0, &nsu, NULL);
    if (c->err[0])
        goto done;
    if (!yv || !suser || nu != N || ntr != N || ny != N || nsu != N) {
        rep_missing(c, "the uplift models of %s were trained on %lld campaign rows but %s has %lld: give the store "
                       "they were trained on.", c->models.path, (long long)N, c->store.path, (long long)ntr);
        goto done;
    }
    for (int64_t i = 0; i < N; i++)
        if (user[i] != suser[i] || treat[i] < 0 || treat[i] >= T) {
            rep_missing(c, "campaign row %lld of %s (user %d, treatment %d) does not match the uplift models of %s "
                           "(user %d, %lld arms): give the store they were trained on.",
                        (long long)i, c->store.path, suser[i], treat[i], c->models.path, user[i], (long long)T);
            goto done;
        }
    hold = mkt_xmalloc((size_t)(N > 0 ? N : 1));
    if (rep_has(&c->models, MKT_MODELS_UPLIFT_HOLDOUT)) {
        hold_i = rep_read_num(c, &c->models, MKT_MODELS_UPLIFT_HOLDOUT, 1, 0, &nh, NULL);
        if (c->err[0])
            goto done;
        if (nh != N) {
            rep_fail(c, "%s: /models/uplift/holdout has %lld rows, predictions %lld", c->models.path, (long long)nh,
                     (long long)N);
            goto done;
        }
        for (int64_t i = 0; i < N; i++)
            hold[i] = hold_i[i] != 0;
    } else {
        /* older model files: the hold-out is a hash of (seed, user), recomputed from the attributes */
        uint64_t seed = (uint64_t)mkt_h5_attr_get_int(c->models.h, MKT_MODELS_UPLIFT, MKT_ATTR_SEED, 1);
        double share = mkt_h5_attr_get_double(c->models.h, MKT_MODELS_UPLIFT, MKT_ATTR_HOLDOUT, 0.3);
        for (int64_t i = 0; i < N; i++)
            hold[i] = (unsigned char)uplift_is_holdout(seed, user[i], share);
        rep_hraw(c->body, "<p class=\"missing\">%s has no /models/uplift/holdout (older mkt); the held-out rows were "
                          "recomputed from the model's seed and hold-out share.</p>\n",
                 "The model file");
    }
    for (int t = 1; t < T && !c->err[0]; t++)
        qini_arm(c, t, arms, outcome, pred, nt, treat, yv, hold, N);
done:
    rep_free_strs(arms, na);
    free(pred);
    free(user);
    free(treat);
    free(yv);
    free(suser);
    free(hold_i);
    free(hold);
    mkt_uplift_model_free(&um);
}

/* ---------- 4. segments ---------- */

/* With a strategy: the customers promoted (*treated) and the expected
 * incremental profit (*profit, exact sum) per segment of the k segments.
 * Returns 1 when the strategy file has them, 0 otherwise (or after rep_fail). */
static int segment_strategy(rctx *c, int64_t k, double **profit, double **treated)
{
    if (c->strategy.h < 0 || !rep_has(&c->strategy, MKT_STRATEGY_SEGMENT) ||
        !rep_has(&c->strategy, MKT_STRATEGY_EXPECTED_PROFIT) || !rep_has(&c->strategy, MKT_STRATEGY_PROMOTION))
        return 0;
    int have_strategy = 0;
    int64_t n1 = 0, n2 = 0, n3 = 0;
    int *seg = rep_read_num(c, &c->strategy, MKT_STRATEGY_SEGMENT, 1, 0, &n1, NULL);
    double *ep = rep_read_num(c, &c->strategy, MKT_STRATEGY_EXPECTED_PROFIT, 0, 0, &n2, NULL);
    int *promo = rep_read_num(c, &c->strategy, MKT_STRATEGY_PROMOTION, 1, 0, &n3, NULL);
    if (!c->err[0] && n1 == n2 && n1 == n3) {
        double *pr = *profit = mkt_xcalloc((size_t)k, sizeof(double));
        double *tr = *treated = mkt_xcalloc((size_t)k, sizeof(double));
        mkt_xsum *acc = mkt_xcalloc((size_t)k, sizeof(mkt_xsum));
        for (int64_t s = 0; s < k; s++)
            mkt_xsum_init(&acc[s]);
        for (int64_t i = 0; i < n1; i++)
            if (seg[i] >= 0 && seg[i] < k) {
                if (isfinite(ep[i]))
                    mkt_xsum_add(&acc[seg[i]], ep[i]);
                tr[seg[i]] += promo[i] >= 0;
            }
        for (int64_t s = 0; s < k; s++)
            pr[s] = mkt_xsum_value(&acc[s]);
        free(acc);
        have_strategy = 1;
    }
    free(seg);
    free(ep);
    free(promo);
    return have_strategy;
}

void rep_segments_section(rctx *c)
{
    rep_section(c, "segments", "4. Customer segments",
                "Customers grouped by behaviour (recency, frequency, spend, ...) with k-means; each segment is named "
                "after its profile.");
    if (!need_models(c, MKT_MODELS_SEGMENTS, "mkt train segments --store S --out MODELS --k 5"))
        return;
    /* the group's shape (model_io.h): assignment and names */
    mkt_segments_model sm;
    char why[512];
    if (mkt_segments_describe(c->models.h, c->models.path, &sm, why, sizeof why) != 0) {
        rep_missing(c, "%s", why);
        return;
    }
    int64_t k = 0, ns = 0, nm = 0;
    char **names = rep_read_strs(c, &c->models, MKT_MODELS_SEGMENTS_NAMES, &k);
    double *size = rep_read_num(c, &c->models, MKT_MODELS_SEGMENTS_SIZES, 0, 0, &ns, NULL);
    double *mean = rep_read_num(c, &c->models, MKT_MODELS_SEGMENTS_MEAN_SPEND, 0, 0, &nm, NULL);
    double *profit = NULL, *treated = NULL;
    int have_strategy = 0;
    if (c->err[0])
        goto done;
    if (!names || !size || !mean || ns != k || nm != k || k == 0) {
        rep_missing(c, "%s: /models/segments lacks names, sizes or mean_spend (or they disagree): retrain with mkt "
                       "train segments.", c->models.path);
        goto done;
    }
    /* with a strategy: promotions and expected profit per segment */
    have_strategy = segment_strategy(c, k, &profit, &treated);
    if (c->err[0])
        goto done;
    double users = 0, spend = 0;
    for (int64_t s = 0; s < k; s++) {
        users += size[s];
        spend += size[s] * mean[s];
    }
    FILE *d = rep_out_open(c, "segments.dat");
    if (!d)
        goto done;
    fprintf(d, "# index users mean_spend total_spend promoted expected_profit (names: segments table in "
               "index.html)\n");
    for (int64_t s = 0; s < k; s++)
        fprintf(d, "%lld %.0f %.6f %.6f %.0f %.6f\n", (long long)s, size[s], mean[s], size[s] * mean[s],
                have_strategy ? treated[s] : NAN, have_strategy ? profit[s] : NAN);
    if (!rep_out_close(c, d, "segments.dat"))
        goto done;
    int panels = have_strategy ? 3 : 2;
    FILE *g = rep_gp_begin(c, "segments", panels == 3 ? 1350 : 1000, 520);
    if (!g)
        goto done;
    fprintf(g, "set style fill solid 0.75 border -1\nset boxwidth 0.7\nunset key\nset xrange [-0.6:%g]\n"
               "set yrange [0:*]\nset offsets 0,0,graph 0.07,0\nset xtics rotate by 20 right nomirror\n"
               "set bmargin 7\nset lmargin 12\nset rmargin 3\n",
            (double)k - 0.4);
    rep_gp_name_tics(g, names, k);
    fprintf(g, "set multiplot layout 1,%d title 'Customer segments'\n", panels);
    fprintf(g, "set title 'customers per segment'\nset ylabel 'customers'\n"
               "plot 'segments.dat' using 1:2 with boxes lt 1, '' using 1:2:(sprintf('%%.0f', $2)) with labels "
               "offset 0,0.8 font ',9'\n");
    fprintf(g, "set title 'average spend per customer'\nset ylabel 'spend per customer'\n"
               "plot 'segments.dat' using 1:3 with boxes lt 2, '' using 1:3:(sprintf('%%.1f', $3)) with labels "
               "offset 0,0.8 font ',9'\n");
    if (panels == 3)
        fprintf(g, "set title 'expected incremental profit of the strategy'\nset ylabel 'profit'\n"
                   "set yrange [*<0:0<*]\nset xzeroaxis lt -1\n"
                   "plot 'segments.dat' using 1:6 with boxes lt 3, '' using 1:6:(sprintf('%%.0f', $6)) with "
                   "labels offset 0,0.8 font ',9'\n");
    fprintf(g, "unset multiplot\n");
    if (!rep_gp_run(c, "segments", g))
        goto done;
    int64_t big = 0, rich = 0;
    for (int64_t s = 1; s < k; s++) {
        if (size[s] > size[big])
            big = s;
        if (size[s] * mean[s] > size[rich] * mean[rich])
            rich = s;
    }
    char a[64], b[64], e[64], f2[64];
    rep_figure_begin(c, "segments", "customers, spend and expected profit per segment");
    rep_hraw(c->body, "<p><b>What it shows:</b> how many customers each segment has (left), how much they spend on "
                      "average (middle)%s.</p>\n"
                      "<p><b>How to read it:</b> a small segment with high spend per customer is worth protecting; "
                      "a large low-spend segment is where growth or cost savings are. The table gives the exact "
                      "numbers.</p>\n<p><b>Key number:</b> the largest segment is <q>",
             have_strategy ? " and the incremental profit the strategy expects from it (right)" : "");
    rep_htext(c->body, names[big]);
    rep_hraw(c->body, "</q> (%s%% of customers); <q>", rep_num(a, sizeof a, 100 * size[big] / users, 1));
    rep_htext(c->body, names[rich]);
    rep_hraw(c->body, "</q> brings the most spend (%s%% of the total).</p>\n",
             rep_num(b, sizeof b, spend > 0 ? 100 * size[rich] * mean[rich] / spend : NAN, 1));
    rep_figure_end(c, "segments");
    rep_hraw(c->body, "<table><tr><th>segment</th><th>customers</th><th>share</th><th>average spend</th>"
                      "<th>share of spend</th>%s</tr>\n",
             have_strategy ? "<th>get a promotion</th><th>expected incremental profit</th>" : "");
    for (int64_t s = 0; s < k; s++) {
        rep_hraw(c->body, "<tr><td>");
        rep_htext(c->body, names[s]);
        rep_hraw(c->body, "</td><td>%s</td><td>%s%%</td><td>%s</td><td>%s%%</td>", rep_num(a, sizeof a, size[s], 0),
                 rep_num(b, sizeof b, 100 * size[s] / users, 1), rep_num(e, sizeof e, mean[s], 2),
                 rep_num(f2, sizeof f2, spend > 0 ? 100 * size[s] * mean[s] / spend : NAN, 1));
        if (have_strategy)
            rep_hraw(c->body, "<td>%s</td><td>%s</td>", rep_num(a, sizeof a, treated[s], 0),
                     rep_num(b, sizeof b, profit[s], 0));
        rep_hraw(c->body, "</tr>\n");
    }
    rep_hraw(c->body, "</table>\n");
done:
    rep_free_strs(names, k);
    free(size);
    free(mean);
    free(profit);
    free(treated);
}

