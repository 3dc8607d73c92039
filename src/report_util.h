/* report_util.h — the pure parts of `mkt report`: making text from data
 * files safe for HTML and for gnuplot scripts, formatting numbers for people,
 * and the curve points (ROC, cumulative gains) that src/metrics.h does not
 * already give.
 *
 * Pure code: no MPI, no files.  Every returned string is malloc'd (free it);
 * allocation failure returns NULL.  Text from data files may hold any bytes:
 * the functions here never pass control characters or invalid UTF-8 through. */
#ifndef MKT_REPORT_UTIL_H
#define MKT_REPORT_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* s escaped for HTML text and attribute values: & < > " ' become entities,
 * control characters (tab and newline included) become spaces, bytes that
 * are not valid UTF-8 become U+FFFD.  NULL s gives "". */
char *mkt_html_escape(const char *s);

/* s as one gnuplot single-quoted string literal, quotes included: control
 * characters become spaces, invalid UTF-8 bytes become '?', a single quote is
 * doubled (gnuplot's only escape inside '...'), and text longer than
 * max_chars characters (UTF-8 aware; 0: no limit) is cut with "...".  Meant
 * for a terminal in `noenhanced` mode, where nothing else is special. */
char *mkt_gp_quote(const char *s, int max_chars);

/* v with `decimals` digits and thousands separators ("1,234,567.89",
 * "-0.05"); "n/a" for NaN and infinities.  Returns buf. */
char *mkt_fmt_num(char *buf, size_t n, double v, int decimals);

/* ROC curve of score against label (non-zero = positive): one point per
 * distinct score threshold, highest first, from (0, 0) to (1, 1); equal
 * scores move together (a diagonal step).  fpr and tpr need n + 1 entries;
 * returns the number of points (0 when a class is empty or n = 0). */
int64_t mkt_roc_curve(const double *score, const int *label, int64_t n, double *fpr, double *tpr);

/* Cumulative gains: the share of all positives among the first k_j users by
 * score (descending, ties by position), k_j = round(j / (points - 1) · n),
 * j = 0..points-1 (points >= 2).  x (may be NULL) gets k_j / n, gain the
 * share (0 when there is no positive). */
void mkt_gains_curve(const double *score, const int *label, int64_t n, int points, double *x, double *gain);

/* Thin a polyline in place for plotting: keep the first and last points and
 * every point that moved at least `step` in x or y from the last kept one.
 * Returns the new count. */
int64_t mkt_curve_thin(double *x, double *y, int64_t n, double step);

/* Linear interpolation of the polyline (x ascending) at x0, clamped to the
 * ends; NaN when n = 0. */
double mkt_curve_at(const double *x, const double *y, int64_t n, double x0);

#endif
