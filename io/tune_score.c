/* tune_score.c — the score of one `mkt tune` configuration from its train
 * run's metrics (see tune_score.h).  Rank-local, no I/O. */
#include "tune_score.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iocheck.h"

static double num_or_nan(json_t *v) { return json_is_number(v) ? json_number_value(v) : NAN; }

static int cmp_str(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

/* Until the trainers report "selection" (a metric on validation rows apart
 * from the test rows): rank by the held-out metric they do report.  This
 * selects on the rows the test metric is computed on, so the best value is
 * optimistic; delete this function once every trainer writes "selection". */
static int fallback_score(json_t *m, const char *model, mkt_tune_score *s, char *err, size_t n)
{
    s->fallback = 1;
    snprintf(s->split, sizeof s->split, "heldout");
    if (!strcmp(model, "mf")) {
        json_t *mode = json_object_get(m, "mode");
        if (mode && json_is_string(mode) && !strcmp(json_string_value(mode), "implicit")) {
            long long k = json_integer_value(json_object_get(m, "k"));
            char key[64];
            snprintf(key, sizeof key, "ndcg@%lld", k);
            json_t *v = json_object_get(json_object_get(m, "model"), key);
            snprintf(s->metric, sizeof s->metric, "model.%s", key);
            snprintf(s->goal, sizeof s->goal, "max");
            s->value = num_or_nan(v);
            if (!v) {
                snprintf(err, n, "no model.%s in the metrics", key);
                return -1;
            }
            return 0;
        }
        json_t *v = json_object_get(m, "rmse");
        snprintf(s->metric, sizeof s->metric, "rmse");
        snprintf(s->goal, sizeof s->goal, "min");
        s->value = num_or_nan(v);
        if (!v) {
            snprintf(err, n, "no rmse in the metrics");
            return -1;
        }
        return 0;
    }
    if (!strcmp(model, "propensity")) {
        json_t *v = json_object_get(json_object_get(m, "validation"), "auc");
        snprintf(s->metric, sizeof s->metric, "validation.auc");
        snprintf(s->goal, sizeof s->goal, "max");
        s->value = num_or_nan(v);
        if (!v) {
            snprintf(err, n, "no validation.auc in the metrics");
            return -1;
        }
        return 0;
    }
    if (strcmp(model, "uplift") != 0) {
        snprintf(err, n, "no fallback metric for model '%s'", model);
        return -1;
    }
    /* uplift: the mean over arms of the Qini of the binary outcome, summed
     * in arm-name order (the same bits whatever order the JSON has) */
    const char *outcome = json_string_value(json_object_get(m, "outcome"));
    json_t *arms = json_object_get(m, "arms");
    if (!outcome || !json_is_object(arms) || json_object_size(arms) == 0) {
        snprintf(err, n, "no outcome or arms in the metrics");
        return -1;
    }
    size_t na = json_object_size(arms), i = 0;
    const char **names = mkt_xcalloc(na, sizeof(char *));
    const char *key;
    json_t *v;
    json_object_foreach(arms, key, v) names[i++] = key;
    qsort(names, na, sizeof(char *), cmp_str);
    double sum = 0;
    int ok = 1;
    for (i = 0; i < na; i++) {
        json_t *q = json_object_get(json_object_get(json_object_get(arms, names[i]), outcome), "qini");
        if (!q)
            ok = 0;
        sum += num_or_nan(q);
    }
    free(names);
    snprintf(s->metric, sizeof s->metric, "qini_%s_mean_over_arms", outcome);
    snprintf(s->goal, sizeof s->goal, "max");
    s->value = sum / (double)na;
    if (!ok) {
        snprintf(err, n, "an arm has no %s.qini in the metrics", outcome);
        return -1;
    }
    return 0;
}

int mkt_tune_score_of(json_t *m, const char *model, mkt_tune_score *s, char *err, size_t n)
{
    memset(s, 0, sizeof *s);
    json_t *sel = json_object_get(m, "selection");
    if (!sel)
        return fallback_score(m, model, s, err, n);
    const char *metric = json_string_value(json_object_get(sel, "metric"));
    const char *goal = json_string_value(json_object_get(sel, "goal"));
    const char *split = json_string_value(json_object_get(sel, "split"));
    json_t *v = json_object_get(sel, "value");
    if (!metric || !*metric || !goal || (strcmp(goal, "min") != 0 && strcmp(goal, "max") != 0) || !v ||
        (!json_is_number(v) && !json_is_null(v))) {
        snprintf(err, n, "\"selection\" is not {metric, value, goal: min|max, split}");
        return -1;
    }
    snprintf(s->metric, sizeof s->metric, "%s", metric);
    snprintf(s->goal, sizeof s->goal, "%s", goal);
    snprintf(s->split, sizeof s->split, "%s", split ? split : "validation");
    s->value = num_or_nan(v);
    return 0;
}

int mkt_tune_better(const mkt_tune_score *a, const mkt_tune_score *b)
{
    if (isnan(a->value))
        return 0;
    if (isnan(b->value))
        return 1;
    return !strcmp(a->goal, "min") ? a->value < b->value : a->value > b->value;
}
