/* metrics.h — quality measures of scores against outcomes: arrays in,
 * numbers (or small fixed tables) out.
 *
 * Owns the definitions of AUC, log loss, threshold metrics, calibration,
 * lift/gains by decile, and the uplift measures (Qini, AUUC, uplift at top
 * k%).  Pure code: no MPI, no files, no global state; a caller that holds
 * its data on several ranks gathers scores first (or sums what it can
 * exactly, e.g. log loss).  Every function is deterministic: sorts break
 * ties by array position, so the same arrays give the same bits.
 *
 * Conventions: scores and probabilities are doubles; labels, treatment flags
 * are int (0/1, anything non-zero counts as 1); outcomes for uplift are
 * doubles (0/1 conversion or an amount).  A quantity that is undefined on the
 * input (AUC with one class only, precision with no predicted positive...)
 * is NAN for ratios that need both classes, 0 for counts-based ratios with a
 * zero denominator (documented per function). */
#ifndef MKT_QUALITY_METRICS_H
#define MKT_QUALITY_METRICS_H

#include <stdint.h>

/* Area under the ROC curve, exact, ties in score given average ranks
 * (the Mann–Whitney statistic / (n_pos · n_neg)).  NAN if either class is
 * empty. */
double mkt_auc(const double *score, const int *label, int64_t n);

/* Mean binary cross-entropy; p is clamped to [1e-15, 1 − 1e-15].  0 if n = 0. */
double mkt_log_loss(const double *p, const int *label, int64_t n);

/* Confusion matrix at a threshold: predicted positive iff p >= threshold. */
typedef struct {
    int64_t tp, fp, tn, fn;
} mkt_confusion;

mkt_confusion mkt_confusion_at(const double *p, const int *label, int64_t n, double threshold);
/* Ratios of a confusion matrix; 0 when the denominator is 0. */
double mkt_accuracy(mkt_confusion c);
double mkt_precision(mkt_confusion c);
double mkt_recall(mkt_confusion c);
double mkt_f1(mkt_confusion c);

/* Reliability table with MKT_CALIB_BINS equal-width bins of p over [0, 1]
 * (bin b holds b/10 <= p < (b+1)/10; p = 1 in the last bin). */
#define MKT_CALIB_BINS 10
typedef struct {
    int64_t count[MKT_CALIB_BINS];
    double mean_pred[MKT_CALIB_BINS];     /* mean p in the bin; 0 if empty */
    double frac_positive[MKT_CALIB_BINS]; /* share of label 1 in the bin; 0 if empty */
} mkt_reliability;

/* Expected calibration error Σ_b (count_b / n) · |frac_positive_b − mean_pred_b|;
 * fills *table when not NULL.  0 if n = 0. */
double mkt_ece(const double *p, const int *label, int64_t n, mkt_reliability *table);

/* Lift and cumulative gains by decile of score (highest scores first).
 * Sorting by score descending (ties by position), example at sorted rank r
 * (0-based) is in decile floor(10 r / n). */
#define MKT_DECILES 10
typedef struct {
    int64_t count[MKT_DECILES];
    int64_t positives[MKT_DECILES];
    double rate[MKT_DECILES];           /* positives / count; 0 if empty */
    double lift[MKT_DECILES];           /* rate / overall rate; 0 if no positive at all */
    double cumulative_gain[MKT_DECILES]; /* share of all positives in deciles 0..k; 0 if none */
} mkt_lift_table;

void mkt_lift_by_decile(const double *score, const int *label, int64_t n, mkt_lift_table *out);

/* ---------- uplift (score = predicted effect of treatment) ----------
 * Examples are sorted by score descending (ties by position); for the top k:
 * N_t(k), N_c(k) treated and control counts, Y_t(k), Y_c(k) outcome sums. */

/* Qini curve at `points` evenly spaced fractions x_j = j / (points − 1) of the
 * population (points >= 2), k_j = round(x_j · n):
 *   qini_j = Y_t(k) − Y_c(k) · N_t(k) / N_c(k)     (Y_t(k) if N_c(k) = 0).
 * x and qini have `points` entries each (x may be NULL). */
void mkt_qini_curve(const double *score, const int *treated, const double *outcome, int64_t n, int points,
                    double *x, double *qini);

/* Qini coefficient: area between the Qini curve (over all n + 1 prefixes,
 * x = k / n, trapezoids) and the random-targeting line from (0, 0) to
 * (1, qini(n)), divided by n (so it is in outcome units per user).  0 if n = 0. */
double mkt_qini_coefficient(const double *score, const int *treated, const double *outcome, int64_t n);

/* Area under the uplift curve, per user: mean over k = 1..n of
 *   (Y_t(k)/N_t(k) − Y_c(k)/N_c(k)) · k / n
 * (terms with N_t(k) = 0 or N_c(k) = 0 count 0). */
double mkt_auuc(const double *score, const int *treated, const double *outcome, int64_t n);

/* Uplift in the top fraction `top` (0 < top <= 1) by score: mean outcome of
 * the treated minus mean outcome of the controls among the ceil(top · n)
 * highest-scored examples.  NAN if one of the groups is empty there. */
double mkt_uplift_at(const double *score, const int *treated, const double *outcome, int64_t n, double top);

/* Indices 0..n−1 sorted by score descending, ties by index (malloc'd; NULL
 * when n = 0 or out of memory). */
int64_t *mkt_order_desc(const double *score, int64_t n);

#endif
