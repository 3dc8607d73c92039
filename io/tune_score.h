/* tune_score.h — the score `mkt tune` ranks a configuration by, read from
 * the metrics JSON its train run wrote.
 *
 * A trainer reports it as
 *     "selection": {"metric": NAME, "value": V, "goal": "min"|"max", "split": "validation"}
 * computed on validation rows apart from its test rows.  A trainer that does
 * not yet gets a fallback: its held-out test metric (split "heldout"). */
#ifndef MKT_TUNE_SCORE_H
#define MKT_TUNE_SCORE_H

#include <jansson.h>
#include <stddef.h>

typedef struct {
    char metric[128], goal[8], split[32];
    double value; /* NaN: none (the run reported null) */
    int fallback; /* 1: no "selection" in the metrics; the held-out metric */
} mkt_tune_score;

/* The score of metrics written by `mkt train MODEL` (model: mf, propensity,
 * uplift).  Returns 0, or -1 with the reason in err. */
int mkt_tune_score_of(json_t *metrics, const char *model, mkt_tune_score *s, char *err, size_t n);
/* 1 when a is strictly better than b by a's goal; a value NaN is never better. */
int mkt_tune_better(const mkt_tune_score *a, const mkt_tune_score *b);

#endif
