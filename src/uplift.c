/* uplift.c — the pure arithmetic of uplift modelling (see uplift.h): feature
 * map, hold-out hash, Newton/ridge terms and solve, transformed outcome,
 * per-arm effects and the Qini/AUUC metrics.
 *
 * No MPI, no files, no global state.  Sums across rows are the caller's
 * business (exact sums in stages/train_uplift.c); the one exception,
 * uplift_fit_local(), is a one-process fitter for tests and small problems. */
#include "uplift.h"

#include <lapacke.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_message.h"
#include "metrics.h"
#include "rng.h"

int uplift_method_parse(const char *name)
{
    if (!name)
        return -1;
    if (!strcmp(name, "t"))
        return UPLIFT_T_LEARNER;
    if (!strcmp(name, "s"))
        return UPLIFT_S_LEARNER;
    if (!strcmp(name, "transformed"))
        return UPLIFT_TRANSFORMED;
    if (!strcmp(name, "x"))
        return UPLIFT_X_LEARNER;
    if (!strcmp(name, "dr"))
        return UPLIFT_DR_LEARNER;
    return -1;
}

const char *uplift_method_name(int method)
{
    switch (method) {
    case UPLIFT_T_LEARNER: return "t";
    case UPLIFT_S_LEARNER: return "s";
    case UPLIFT_TRANSFORMED: return "transformed";
    case UPLIFT_X_LEARNER: return "x";
    case UPLIFT_DR_LEARNER: return "dr";
    default: return "?";
    }
}

void mkt_uplift_config_defaults(mkt_uplift_config *c)
{
    memset(c, 0, sizeof *c);
    c->method = "t";
    c->outcome = "conversion";
    c->design = "randomized";
    c->l2_effect = "same";
    c->holdout = 0.3;
    c->valid_fraction = 0.2;
    c->seed = 1;
    c->l2 = 1;
    c->folds = 2;
    c->trim = 0.05;
    c->squares = 1;
    c->max_iter = 25;
    c->tol = 1e-9;
    c->learner = "linear";
    /* the trees' defaults but shallower: an effect is a small difference of
     * noisy outcome models, and depth 2 ranked best on Hillstrom (docs/trees.md) */
    mkt_gbdt_config_defaults(&c->gbdt);
    c->gbdt.max_depth = MKT_UPLIFT_GBDT_DEPTH;
}

/* l2_effect as a number: 0 and *v set when it is one in [0, 1e12]; 1 for
 * "same" or NULL (*v untouched); -1 when it is neither. */
static int parse_l2_effect(const char *text, double *v)
{
    if (!text || !strcmp(text, "same"))
        return 1;
    char *end;
    double x = strtod(text, &end);
    if (end == text || *end != '\0' || !(x >= 0) || !(x <= MKT_UPLIFT_MAX_L2))
        return -1;
    *v = x;
    return 0;
}

static _Thread_local char check_message[200];

#define CHECK(cond, ...) MKT_CHECK_MSG(check_message, cond, __VA_ARGS__)

const char *mkt_uplift_check_config(const mkt_uplift_config *c)
{
    CHECK(uplift_method_parse(c->method) >= 0, "method: must be t, s, transformed, x or dr, not '%s'",
          c->method ? c->method : "");
    CHECK(c->outcome && (!strcmp(c->outcome, "conversion") || !strcmp(c->outcome, "visit") ||
                         !strcmp(c->outcome, "redeemed")),
          "outcome: must be conversion, visit or redeemed, not '%s'", c->outcome ? c->outcome : "");
    double l2e;
    CHECK(parse_l2_effect(c->l2_effect, &l2e) >= 0, "l2-effect must be a number in [0, 1e12] or same (got '%s')",
          c->l2_effect);
    CHECK(c->design && (!strcmp(c->design, "randomized") || !strcmp(c->design, "observational")),
          "design: must be randomized or observational, not '%s'", c->design ? c->design : "");
    CHECK(c->holdout >= 0 && c->holdout <= MKT_UPLIFT_MAX_HOLDOUT, "holdout must be in [0, %g] (got %g)",
          MKT_UPLIFT_MAX_HOLDOUT, c->holdout);
    CHECK(c->valid_fraction >= 0 && c->valid_fraction <= MKT_UPLIFT_MAX_VALID_FRACTION,
          "valid_fraction must be in [0, %g] (got %g)", MKT_UPLIFT_MAX_VALID_FRACTION, c->valid_fraction);
    CHECK(c->folds >= MKT_UPLIFT_MIN_FOLDS && c->folds <= MKT_UPLIFT_MAX_FOLDS, "folds must be in [%d, %d] (got %d)",
          MKT_UPLIFT_MIN_FOLDS, MKT_UPLIFT_MAX_FOLDS, c->folds);
    CHECK(c->l2 >= 0 && c->l2 <= MKT_UPLIFT_MAX_L2, "l2 must be in [0, 1e12] (got %g)", c->l2);
    CHECK(c->squares == 0 || c->squares == 1, "squares must be 0 or 1 (got %d)", c->squares);
    CHECK(c->max_iter >= 1 && c->max_iter <= MKT_UPLIFT_MAX_ITER, "max_iter must be in [1, %d] (got %d)",
          MKT_UPLIFT_MAX_ITER, c->max_iter);
    CHECK(c->tol >= 0 && c->tol <= 1, "tol must be in [0, 1] (got %g)", c->tol);
    CHECK(!(mkt_uplift_config_observational(c) && uplift_method_parse(c->method) == UPLIFT_TRANSFORMED),
          "--design observational needs method t, s, x or dr (the transformed outcome assumes a randomized arm "
          "share)");
    CHECK(c->trim >= 0 && c->trim < 0.5, "trim: must be in [0, 0.5), not %g", c->trim);
    CHECK(c->learner && (!strcmp(c->learner, "linear") || !strcmp(c->learner, "gbdt")),
          "learner: must be linear or gbdt, not '%s'", c->learner ? c->learner : "");
    if (mkt_uplift_config_gbdt(c)) {
        int m = uplift_method_parse(c->method);
        CHECK(m == UPLIFT_T_LEARNER || m == UPLIFT_X_LEARNER || m == UPLIFT_DR_LEARNER,
              "learner: gbdt fits the methods t, x and dr, not '%s' (use --learner linear)", c->method);
        const char *bad = mkt_gbdt_check_config(&c->gbdt);
        if (bad)
            return bad;
    }
    return NULL;
}

int mkt_uplift_config_method(const mkt_uplift_config *c)
{
    return uplift_method_parse(c->method);
}

int mkt_uplift_config_observational(const mkt_uplift_config *c)
{
    return c->design && !strcmp(c->design, "observational");
}

double mkt_uplift_config_l2_effect(const mkt_uplift_config *c)
{
    double v = c->l2;
    parse_l2_effect(c->l2_effect, &v);
    return v;
}

int mkt_uplift_config_gbdt(const mkt_uplift_config *c)
{
    return c->learner && !strcmp(c->learner, "gbdt");
}

int uplift_effect_is_linear(int method)
{
    return method == UPLIFT_TRANSFORMED || method == UPLIFT_X_LEARNER || method == UPLIFT_DR_LEARNER;
}

int uplift_feature_dim(const uplift_features *f)
{
    int d = 1;
    for (int a = 0; a < f->n_attr; a++) {
        const uplift_attr_spec *s = &f->attr[a];
        d += s->categorical ? s->n_levels : 1 + (s->square ? 1 : 0);
    }
    return d;
}

void uplift_feature_row(const uplift_features *f, const double *attrs, double *out)
{
    int j = 0;
    out[j++] = 1.0;
    for (int a = 0; a < f->n_attr; a++) {
        const uplift_attr_spec *s = &f->attr[a];
        double v = attrs[a];
        if (s->categorical) {
            for (int l = 0; l < s->n_levels; l++)
                out[j + l] = 0.0;
            if (isfinite(v) && v >= 0 && v < s->n_levels)
                out[j + (int)v] = 1.0;
            j += s->n_levels;
        } else {
            double z = isfinite(v) ? (v - s->mean) / s->std : 0.0;
            out[j++] = z;
            if (s->square)
                out[j++] = z * z;
        }
    }
}

void uplift_spec_encode(const uplift_features *f, double *spec)
{
    for (int a = 0; a < f->n_attr; a++) {
        double *row = spec + (size_t)a * UPLIFT_SPEC_COLS;
        row[0] = f->attr[a].categorical;
        row[1] = f->attr[a].n_levels;
        row[2] = f->attr[a].square;
        row[3] = f->attr[a].mean;
        row[4] = f->attr[a].std;
    }
}

void uplift_spec_decode(const double *spec, uplift_features *f)
{
    for (int a = 0; a < f->n_attr; a++) {
        const double *row = spec + (size_t)a * UPLIFT_SPEC_COLS;
        f->attr[a].categorical = (int)row[0];
        f->attr[a].n_levels = (int)row[1];
        f->attr[a].square = (int)row[2];
        f->attr[a].mean = row[3];
        f->attr[a].std = row[4];
    }
}

void uplift_mean_std(double n, double sum, double sumsq, double *mean, double *std)
{
    double m = n > 0 ? sum / n : 0.0;
    double var = n > 0 ? sumsq / n - m * m : 0.0;
    double s = var > 0 ? sqrt(var) : 0.0;
    *mean = m;
    *std = (s > 1e-12 * (1.0 + fabs(m)) && isfinite(s)) ? s : 1.0;
}

int uplift_is_holdout(uint64_t seed, int64_t user, double holdout)
{
    uint64_t h = mkt_hash64(mkt_hash64(seed ^ 0x75706c6966745f68ULL) ^ (uint64_t)user);
    double u = (double)(h >> 11) * 0x1.0p-53;
    return u < holdout;
}

int uplift_is_validation(uint64_t seed, int64_t user, double fraction)
{
    uint64_t h = mkt_hash64(mkt_hash64(seed ^ 0x75706c5f76616c69ULL) ^ (uint64_t)user);
    double u = (double)(h >> 11) * 0x1.0p-53;
    return u < fraction;
}

int uplift_fold(uint64_t seed, int64_t user, int folds)
{
    if (folds <= 1)
        return 0;
    uint64_t h = mkt_hash64(mkt_hash64(seed ^ 0x75706c5f666f6c64ULL) ^ (uint64_t)user);
    return (int)((h >> 11) % (uint64_t)folds);
}

double uplift_sigmoid(double x)
{
    if (x >= 0)
        return 1.0 / (1.0 + exp(-x));
    double e = exp(x);
    return e / (1.0 + e);
}

void uplift_accumulate(const double *x, int d, double w, double r, double *A, double *b)
{
    for (int i = 0; i < d; i++) {
        double wx = w * x[i];
        if (wx != 0.0)
            for (int j = i; j < d; j++)
                A[i * d + j] += wx * x[j];
        b[i] += r * x[i];
    }
}

double uplift_logistic_terms(const double *x, int d, const double *beta, double y, double *w, double *r)
{
    double eta = 0.0;
    for (int i = 0; i < d; i++)
        eta += x[i] * beta[i];
    double p = uplift_sigmoid(eta);
    *w = p * (1.0 - p);
    *r = y - p;
    /* log-likelihood, stable: y*eta - log(1 + e^eta) */
    double l1p = eta > 0 ? eta + log1p(exp(-eta)) : log1p(exp(eta));
    return y * eta - l1p;
}

int uplift_newton_solve(const double *A, const double *b, int d, double l2, const unsigned char *unpenalized,
                        int ridge, double *beta, double *max_step)
{
    double *M = malloc(sizeof(double) * (size_t)d * (size_t)d);
    double *rhs = malloc(sizeof(double) * (size_t)d);
    if (!M || !rhs) {
        free(M);
        free(rhs);
        return -1000;
    }
    for (int i = 0; i < d; i++)
        for (int j = 0; j < d; j++)
            M[i * d + j] = i <= j ? A[i * d + j] : 0.0;
    for (int i = 0; i < d; i++) {
        int pen = unpenalized ? !unpenalized[i] : i != 0;
        double l = pen ? l2 : 0.0;
        M[i * d + i] += l;
        rhs[i] = ridge ? b[i] : b[i] - l * beta[i];
    }
    int info = LAPACKE_dposv(LAPACK_ROW_MAJOR, 'U', d, 1, M, d, rhs, 1);
    double ms = 0.0;
    if (info == 0)
        for (int i = 0; i < d; i++) {
            double nb = ridge ? rhs[i] : beta[i] + rhs[i];
            double step = fabs(nb - beta[i]);
            if (step > ms)
                ms = step;
            beta[i] = nb;
        }
    *max_step = ms;
    free(M);
    free(rhs);
    return info;
}

int uplift_fit_local(const double *X, const double *y, int64_t n, int d, double l2, int ridge, int max_iter,
                     double tol, double *beta)
{
    double *A = malloc(sizeof(double) * (size_t)d * (size_t)d);
    double *b = malloc(sizeof(double) * (size_t)d);
    int it = 0;
    if (!A || !b) {
        free(A);
        free(b);
        return -1;
    }
    for (it = 1; it <= max_iter; it++) {
        memset(A, 0, sizeof(double) * (size_t)d * (size_t)d);
        memset(b, 0, sizeof(double) * (size_t)d);
        for (int64_t k = 0; k < n; k++) {
            double w = 1.0, r = y[k];
            if (!ridge)
                uplift_logistic_terms(X + k * d, d, beta, y[k], &w, &r);
            uplift_accumulate(X + k * d, d, w, r, A, b);
        }
        double step;
        if (uplift_newton_solve(A, b, d, l2, NULL, ridge, beta, &step) != 0) {
            it = -1;
            break;
        }
        if (ridge || step < tol)
            break;
    }
    free(A);
    free(b);
    return it > max_iter ? max_iter : it;
}

double uplift_transformed_outcome(double y, int treated, double e)
{
    return treated ? y / e : -y / (1.0 - e);
}

double uplift_x_imputed(double y, int treated, double other)
{
    return treated ? y - other : other - y;
}

double uplift_dr_pseudo(double y, int treated, double mu1, double mu0, double e)
{
    return treated ? mu1 - mu0 + (y - mu1) / e : mu1 - mu0 - (y - mu0) / (1.0 - e);
}

static double dot(const double *a, const double *b, int d)
{
    double s = 0.0;
    for (int i = 0; i < d; i++)
        s += a[i] * b[i];
    return s;
}

void uplift_effects(int method, int logistic, const double *coef, int T, int d, const double *x, double *effect)
{
    /* T: control model; S: shared part; x, dr: control outcome model; transformed: row 0 unused */
    double base = dot(coef, x, d);
    for (int t = 1; t < T; t++) {
        double lin = dot(coef + (size_t)t * (size_t)d, x, d);
        double e;
        if (uplift_effect_is_linear(method))
            e = lin;
        else {
            double treated = method == UPLIFT_T_LEARNER ? lin : base + lin;
            e = logistic ? uplift_sigmoid(treated) - uplift_sigmoid(base) : treated - base;
        }
        effect[t - 1] = e;
    }
}

static int cmp_eval_row(const void *pa, const void *pb)
{
    const uplift_eval_row *a = pa, *b = pb;
    if (a->score > b->score)
        return -1;
    if (a->score < b->score)
        return 1;
    return (a->user > b->user) - (a->user < b->user);
}

/* The measures are those of src/metrics.c (one definition of Qini, AUUC and
 * uplift@k for the whole system); the rows are first put in (score
 * descending, user ascending) order, so ties go by user there too. */
void uplift_qini(uplift_eval_row *rows, int64_t n, uplift_qini_result *out)
{
    memset(out, 0, sizeof *out);
    out->n = n;
    if (n <= 0)
        return;
    qsort(rows, (size_t)n, sizeof *rows, cmp_eval_row);
    double *score = malloc(sizeof(double) * (size_t)n), *y = malloc(sizeof(double) * (size_t)n);
    int *treated = malloc(sizeof(int) * (size_t)n);
    if (!score || !y || !treated)
        abort();
    double nt = 0, nc = 0, yt = 0, yc = 0;
    for (int64_t k = 0; k < n; k++) {
        /* equal scores keep this order: metrics.c breaks ties by index */
        score[k] = rows[k].score;
        y[k] = rows[k].y;
        treated[k] = rows[k].treated != 0;
        if (treated[k]) {
            nt += 1;
            yt += y[k];
        } else {
            nc += 1;
            yc += y[k];
        }
    }
    out->qini = mkt_qini_coefficient(score, treated, y, n);
    out->auuc = mkt_auuc(score, treated, y, n);
    static const double top[3] = {0.10, 0.20, 0.30};
    for (int q = 0; q < 3; q++) {
        double u = mkt_uplift_at(score, treated, y, n, top[q]);
        out->uplift_at[q] = isnan(u) ? 0.0 : u;
    }
    out->uplift_all = (nt > 0 && nc > 0) ? yt / nt - yc / nc : 0.0;
    out->n_treated = (int64_t)nt;
    out->n_control = (int64_t)nc;
    free(score);
    free(y);
    free(treated);
}
