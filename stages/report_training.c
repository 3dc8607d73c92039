/* report_training.c — `mkt report`, section 1: the training and validation
 * curves, read from the metrics JSON the training stages wrote
 * (train_mf.json, train_propensity.json) and from tune_table.json of
 * `mkt tune --table`.  Must not: read HDF5 or run gnuplot other than through
 * report_sections.h. */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "iocheck.h"
#include "report_sections.h"

/* DIR/NAME parsed; NULL when absent (why says so), or after rfail when it
 * cannot be read or parsed. */
static json_t *load_json(rctx *c, const char *name, char *why, size_t n)
{
    size_t len = strlen(c->o->metrics_dir) + strlen(name) + 2;
    char *p = mkt_xmalloc(len);
    snprintf(p, len, "%s/%s", c->o->metrics_dir, name);
    struct stat st;
    if (stat(p, &st) != 0) {
        snprintf(why, n, "%s is absent", p);
        free(p);
        return NULL;
    }
    json_error_t e;
    json_t *j = json_load_file(p, 0, &e);
    if (!j)
        rep_fail(c, "%s: not readable JSON (line %d: %s)", p, e.line, e.text);
    else if (!json_is_object(j)) {
        rep_fail(c, "%s: not a JSON object", p);
        json_decref(j);
        j = NULL;
    }
    free(p);
    return j;
}

static double jnum(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

/* ---------- 1. training curves ---------- */

static void training_mf(rctx *c, json_t *j)
{
    json_t *hist = json_object_get(j, "history");
    size_t n = json_is_array(hist) ? json_array_size(hist) : 0;
    int any = 0;
    for (size_t i = 0; i < n; i++)
        any |= isfinite(jnum(json_array_get(hist, i), "rmse"));
    if (!any) {
        json_t *mode = json_object_get(j, "mode");
        if (json_is_string(mode) && !strcmp(json_string_value(mode), "implicit"))
            rep_missing(c, "the factorization model was trained on implicit feedback (views, purchases), which has no "
                           "rating error per iteration; its quality is in train_mf.json (hr@K, ndcg@K).");
        else
            rep_missing(c, "train_mf.json has no per-iteration history with rmse; rerun mkt train mf with "
                           "--metrics-out.");
        return;
    }
    FILE *d = rep_out_open(c, "mf_training.dat");
    if (!d)
        return;
    fprintf(d, "# iteration train_rmse heldout_rmse\n");
    double last = NAN, first = NAN;
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(hist, i);
        double it = jnum(e, "iteration");
        if (!isfinite(it))
            it = (double)(i + 1);
        double r = jnum(e, "rmse");
        fprintf(d, "%g %.10g %.10g\n", it, jnum(e, "train_rmse"), r);
        if (isfinite(r)) {
            if (!isfinite(first))
                first = r;
            last = r;
        }
    }
    if (!rep_out_close(c, d, "mf_training.dat"))
        return;
    double base = jnum(json_object_get(j, "baseline"), "bias_rmse");
    FILE *g = rep_gp_begin(c, "mf_training", 900, 480);
    if (!g)
        return;
    fprintf(g, "set title 'Recommendations: rating prediction error while training'\n"
               "set xlabel 'training iteration'\nset ylabel 'RMSE in rating stars (lower is better)'\n"
               "set key top right\nset format x '%%.0f'\n");
    if (n <= 25)
        fprintf(g, "set xtics 1\n");
    fprintf(g, "plot 'mf_training.dat' using 1:2 with linespoints lt 1 title 'ratings the model learned from', \\\n"
               "     '' using 1:3 with linespoints lt 2 title 'held-out ratings (never seen)'");
    if (isfinite(base))
        fprintf(g, ", \\\n     %.10g with lines dt 2 lc rgb '#777777' title 'baseline: user and item averages only'",
                base);
    fprintf(g, "\n");
    if (!rep_gp_run(c, "mf_training", g))
        return;
    char a[64], b[64], e[64];
    rep_figure_begin(c, "mf_training", "rating error of the factorization model per training iteration");
    rep_hraw(c->body,
             "<p><b>What it shows:</b> how far the recommendation model's predicted star ratings are from real ratings "
             "(root mean squared error), after each pass of training. The orange line is measured on ratings the model "
             "never saw, so it is the honest one.</p>\n"
             "<p><b>How to read it:</b> both lines should fall and level off. If the orange line rises while the blue "
             "one keeps falling, the model memorises instead of learning (more regularisation is needed).");
    if (isfinite(base))
        rep_hraw(c->body, " The dashed line is what a model that only knows each user's and item's average gets: the "
                          "taste factors earn their keep if the orange line ends below it.");
    rep_hraw(c->body,
             "</p>\n<p><b>Key number:</b> held-out error %s stars after the last iteration (%s after the first)",
             rep_num(a, sizeof a, last, 3), rep_num(b, sizeof b, first, 3));
    if (isfinite(base))
        rep_hraw(c->body, ", against %s for the averages-only baseline", rep_num(e, sizeof e, base, 3));
    rep_hraw(c->body, ".</p>\n");
    rep_figure_end(c, "mf_training");
    rep_key_number(c, "Recommendations: held-out rating error %s stars%s%s%s.", rep_num(a, sizeof a, last, 3),
                   isfinite(base) ? " (averages-only baseline " : "",
                   isfinite(base) ? rep_num(e, sizeof e, base, 3) : "", isfinite(base) ? ")" : "");
}

/* A boosted-tree model's learning curve: history [{"round", "train_loss",
 * "val_loss"}, ...] (round from 1; a missing round is the entry's
 * position), the kept round in "best_round" when the trainer stopped early. */
static void training_gbdt(rctx *c, json_t *j, json_t *hist, size_t n)
{
    FILE *d = rep_out_open(c, "propensity_training.dat");
    if (!d)
        return;
    fprintf(d, "# round train_loss val_loss\n");
    double best = jnum(j, "best_round"), loss = NAN, at = NAN, last = NAN;
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(hist, i);
        double r = jnum(e, "round"), v = jnum(e, "val_loss");
        r = isfinite(r) ? r : (double)(i + 1);
        fprintf(d, "%g %.10g %.10g\n", r, jnum(e, "train_loss"), v);
        last = r;
        if ((isfinite(best) && r == best) || (!isfinite(best) && isfinite(v))) {
            loss = v;
            at = r;
        }
    }
    if (!rep_out_close(c, d, "propensity_training.dat"))
        return;
    FILE *g = rep_gp_begin(c, "propensity_training", 900, 480);
    if (!g)
        return;
    fprintf(g, "set title 'Purchase propensity (boosted trees): loss per boosting round'\n"
               "set xlabel 'boosting round (trees in the model)'\nset ylabel 'log loss (lower is better)'\n"
               "set key top right\nset format x '%%.0f'\n");
    if (isfinite(best))
        fprintf(g, "set arrow from %g, graph 0 to %g, graph 1 nohead dt 3 lc rgb '#555555'\n"
                   "set label 'kept model (round %g)' at %g, graph 0.04 offset 0.5,0\n",
                best, best, best, best);
    fprintf(g, "plot 'propensity_training.dat' using 1:2 with lines lt 1 title 'training loss', \\\n"
               "     '' using 1:3 with lines lt 2 title 'validation loss'\n");
    if (!rep_gp_run(c, "propensity_training", g))
        return;
    char a[64];
    rep_figure_begin(c, "propensity_training", "training and validation loss of the boosted-tree propensity model "
                                               "per boosting round");
    rep_hraw(c->body,
             "<p><b>What it shows:</b> the purchase-propensity model is a sum of small decision trees, added one per "
             "round; the lines are its log loss on the customers it learns from (blue) and on held-out customers "
             "(orange) after each round.</p>\n"
             "<p><b>How to read it:</b> the training loss keeps falling as trees are added; the validation loss "
             "falls, flattens and, once the trees start to memorise the training customers, rises. Training stops "
             "when it no longer improves%s.</p>\n"
             "<p><b>Key number:</b> validation log loss %s after round %g (of %g).</p>\n",
             isfinite(best) ? ", and the model of the kept round (dotted line) is the one used" : "",
             rep_num(a, sizeof a, loss, 4), isfinite(at) ? at : last, last);
    rep_figure_end(c, "propensity_training");
}

static void training_propensity(rctx *c, json_t *j)
{
    json_t *hist = json_object_get(j, "history");
    size_t n = json_is_array(hist) ? json_array_size(hist) : 0;
    if (n == 0) {
        rep_missing(c,
                    "train_propensity.json has no per-epoch history; rerun mkt train propensity with --metrics-out.");
        return;
    }
    /* boosted trees: rounds instead of epochs */
    json_t *kind = json_object_get(j, "model");
    if ((json_is_string(kind) && !strcmp(json_string_value(kind), "gbdt")) ||
        json_object_get(json_array_get(hist, 0), "round")) {
        training_gbdt(c, j, hist, n);
        return;
    }
    FILE *d = rep_out_open(c, "propensity_training.dat");
    if (!d)
        return;
    fprintf(d, "# epoch train_loss val_loss val_auc\n");
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(hist, i);
        double ep = jnum(e, "epoch");
        fprintf(d, "%g %.10g %.10g %.10g\n", isfinite(ep) ? ep : (double)(i + 1), jnum(e, "train_loss"),
                jnum(e, "val_loss"), jnum(e, "val_auc"));
    }
    if (!rep_out_close(c, d, "propensity_training.dat"))
        return;
    double best = jnum(j, "best_epoch");
    double auc = NAN, loss = NAN;
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(hist, i);
        if (!isfinite(best) || jnum(e, "epoch") == best) {
            auc = jnum(e, "val_auc");
            loss = jnum(e, "val_loss");
        }
    }
    FILE *g = rep_gp_begin(c, "propensity_training", 900, 480);
    if (!g)
        return;
    fprintf(g, "set title 'Purchase propensity: loss and AUC while training'\n"
               "set xlabel 'training epoch'\nset ylabel 'log loss (lower is better)'\n"
               "set y2label 'validation AUC (higher is better)'\nset ytics nomirror\nset y2tics\n"
               "set key center right\nset format x '%%.0f'\n");
    if (n <= 25)
        fprintf(g, "set xtics 1\n");
    if (isfinite(best))
        fprintf(g, "set arrow from %g, graph 0 to %g, graph 1 nohead dt 3 lc rgb '#555555'\n"
                   "set label 'kept model (epoch %g)' at %g, graph 0.04 offset 0.5,0\n",
                best, best, best, best);
    fprintf(g, "plot 'propensity_training.dat' using 1:2 with linespoints lt 1 title 'training loss', \\\n"
               "     '' using 1:3 with linespoints lt 2 title 'validation loss', \\\n"
               "     '' using 1:4 axes x1y2 with linespoints lt 3 dt 2 title 'validation AUC (right axis)'\n");
    if (!rep_gp_run(c, "propensity_training", g))
        return;
    char a[64], b[64];
    rep_figure_begin(c, "propensity_training", "loss and AUC of the purchase propensity model per training epoch");
    rep_hraw(c->body,
             "<p><b>What it shows:</b> the purchase-propensity model (who will buy in the coming days) after each "
             "training epoch: its error on the customers it learns from (blue) and on held-out customers (orange), "
             "and how well it ranks held-out buyers above non-buyers (green, AUC, right axis).</p>\n"
             "<p><b>How to read it:</b> the losses should fall and flatten; training stops when the validation loss "
             "no longer improves, and the model of the best epoch (dotted line) is the one kept. The training loss "
             "includes a penalty on large weights and class weights, so it can sit above the validation loss.</p>\n"
             "<p><b>Key number:</b> kept model: validation AUC %s, validation log loss %s.</p>\n",
             rep_num(a, sizeof a, auc, 3), rep_num(b, sizeof b, loss, 4));
    rep_figure_end(c, "propensity_training");
}

/* The table of `mkt tune --table METRICS_DIR/tune_table.json`: one point per
 * configuration (its selection value), the best one marked, configurations
 * named by their options on the x axis. */
static void training_tune(rctx *c, json_t *j)
{
    json_t *rows = json_object_get(j, "rows");
    size_t n = json_is_array(rows) ? json_array_size(rows) : 0;
    json_t *jm = json_object_get(j, "metric"), *jg = json_object_get(j, "goal"), *js = json_object_get(j, "split");
    const char *metric = json_is_string(jm) ? json_string_value(jm) : "score";
    const char *goal = json_is_string(jg) ? json_string_value(jg) : "";
    const char *split = json_is_string(js) ? json_string_value(js) : "validation";
    double best_cfg = jnum(json_object_get(j, "best"), "config"), best_val = jnum(json_object_get(j, "best"), "value");
    if (n == 0) {
        rep_missing(c, "tune_table.json has no rows; rerun mkt tune with --table.");
        return;
    }
    FILE *d = rep_out_open(c, "tune.dat");
    if (!d)
        return;
    fprintf(d, "# config value best\n");
    char **names = mkt_xcalloc(n, sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        json_t *r = json_array_get(rows, i), *p = json_object_get(r, "params");
        double cfg = jnum(r, "config"), v = jnum(r, "value");
        if (!isfinite(cfg))
            cfg = (double)(i + 1);
        fprintf(d, "%g %.10g %d\n", cfg, v, cfg == best_cfg);
        /* "key=value key=value" from the row's options */
        char *text = NULL;
        size_t len = 0;
        FILE *t = open_memstream(&text, &len);
        if (!t)
            mkt_fail("out of memory");
        const char *key;
        json_t *val;
        int first = 1;
        json_object_foreach(p, key, val) {
            char *vs = json_is_string(val) ? NULL : json_dumps(val, JSON_ENCODE_ANY | JSON_REAL_PRECISION(6));
            fprintf(t, "%s%s=%s", first ? "" : " ", key, vs ? vs : json_string_value(val));
            free(vs);
            first = 0;
        }
        fclose(t);
        names[i] = text;
    }
    if (!rep_out_close(c, d, "tune.dat")) {
        for (size_t i = 0; i < n; i++)
            free(names[i]);
        free(names);
        return;
    }
    FILE *g = rep_gp_begin(c, "tune", 900, 520);
    if (g) {
        fprintf(g, "set title ");
        char title[256];
        snprintf(title, sizeof title, "Tuning: %s on the %s rows per configuration (%s is better)", metric, split,
                 !strcmp(goal, "min") ? "lower" : "higher");
        rep_gp_str(g, title, 200);
        fprintf(g, "\nset xlabel 'configuration'\nset ylabel ");
        rep_gp_str(g, metric, 60);
        fprintf(g, "\nset key outside top center horizontal\nset offsets 0.5, 0.5, 0, 0\nset lmargin 12\n");
        if (n <= 30) {
            fprintf(g, "set xtics rotate by 30 right (");
            for (size_t i = 0; i < n; i++) {
                double cfg = jnum(json_array_get(rows, i), "config");
                fprintf(g, "%s", i ? ", " : "");
                rep_gp_str(g, names[i], LABEL_CHARS);
                fprintf(g, " %g", isfinite(cfg) ? cfg : (double)(i + 1));
            }
            fprintf(g, ")\nset bmargin 9\n");
        }
        fprintf(g, "plot 'tune.dat' using 1:2 with linespoints lt 1 title 'each configuration', \\\n"
                   "     '' using 1:($3 > 0 ? $2 : 1/0) with points lt 4 pt 7 ps 2 title 'best (kept)'\n");
    }
    int drawn = rep_gp_run(c, "tune", g);
    if (drawn) {
        char a[64];
        json_t *model = json_object_get(j, "model");
        rep_figure_begin(c, "tune", "selection value of each configuration of the hyper-parameter search");
        rep_hraw(c->body, "<p><b>What it shows:</b> the hyper-parameter search (<code>mkt tune ");
        rep_htext(c->body, json_is_string(model) ? json_string_value(model) : "");
        rep_hraw(c->body, "</code>): each configuration of options was trained, and scored by ");
        rep_htext(c->body, metric);
        rep_hraw(c->body, " on the ");
        rep_htext(c->body, split);
        rep_hraw(c->body, " rows, which the reported test figures never use.</p>\n"
                          "<p><b>How to read it:</b> the red point is the configuration kept (the best score, %s is "
                          "better). Differences smaller than the spread between neighbouring configurations are noise "
                          "rather than a real preference.</p>\n"
                          "<p><b>Key number:</b> best configuration %g of %zu: ",
                 !strcmp(goal, "min") ? "lower" : "higher", best_cfg, n);
        for (size_t i = 0; i < n; i++)
            if (jnum(json_array_get(rows, i), "config") == best_cfg)
                rep_htext(c->body, names[i]);
        rep_hraw(c->body, ", %s ", rep_num(a, sizeof a, best_val, 5));
        rep_htext(c->body, metric);
        rep_hraw(c->body, ".</p>\n");
        rep_figure_end(c, "tune");
        rep_key_number(c, "Tuning: best of %zu configurations scores %s on the validation rows.", n,
                       rep_num(a, sizeof a, best_val, 5));
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* The curves of one metrics file NAME of the metrics directory, drawn by
 * DRAW; when the file is absent, how to write it (mkt train CMD). */
static void training_file(rctx *c, const char *name, void (*draw)(rctx *, json_t *), const char *model,
                          const char *cmd, const char *curves)
{
    char why[1200];
    json_t *j = load_json(c, name, why, sizeof why);
    if (j)
        draw(c, j);
    else if (!c->err[0])
        rep_missing(c, "%s: train the %s with mkt train %s --metrics-out %s/%s to see its %s.", why, model, cmd,
                    c->o->metrics_dir, name, curves);
    json_decref(j);
}

void rep_training_section(rctx *c)
{
    rep_section(c, "training", "1. Training and validation curves",
                "How the models learned: a quick check that training converged and did not over-fit.");
    if (!c->o->metrics_dir) {
        rep_missing(c, "no --metrics-dir given. Give the directory where the training stages wrote their metrics "
                       "(train_mf.json, train_propensity.json): the job file's metrics_dir, or the directory of "
                       "mkt train mf/propensity --metrics-out.");
        return;
    }
    char why[1200];
    training_file(c, "train_mf.json", training_mf, "factorization model", "mf", "curve");
    training_file(c, "train_propensity.json", training_propensity, "propensity model", "propensity", "curves");
    /* the table of `mkt tune --table DIR/tune_table.json`, when there is one */
    json_t *tu = load_json(c, "tune_table.json", why, sizeof why);
    if (tu)
        training_tune(c, tu);
    json_decref(tu);
}

