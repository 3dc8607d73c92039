/* uplift_campaign.c — the campaign rows of the uplift stage: reading this
 * rank's chunk block of /campaigns (and the planted /truth of `mkt gen`
 * stores), the normalization of the attributes, the feature matrix and the
 * test / validation / cross-fitting splits.
 * Must not: write anything, or sum anything that feeds a result in an order
 * that depends on the rank count (exact sums only). */
#include "uplift_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exactsum.h"
#include "h5store.h"
#include "iocheck.h"
#include "schema.h"

/* Collective. Read this rank's chunk block of /campaigns. */
void up_load_campaign(campaign_data *c, const char *store, const char *outcome, MPI_Comm comm)
{
    int rank, nranks;
    MKT_MPI(MPI_Comm_rank(comm, &rank));
    MKT_MPI(MPI_Comm_size(comm, &nranks));
    memset(c, 0, sizeof *c);
    hid_t f = mkt_h5_open(store, 0, comm);
    if (!mkt_h5_exists(f, MKT_CAMPAIGNS_USER) || !mkt_h5_exists(f, MKT_IDS_TREATMENTS))
        mkt_fail_all(MKT_EXIT_ERROR, "uplift: %s has no campaign log (/campaigns, /ids/treatments)", store);
    c->N = mkt_h5_rows(f, MKT_CAMPAIGNS_USER, NULL);
    int64_t acols = 0;
    if (mkt_h5_exists(f, MKT_CAMPAIGNS_ATTRS))
        mkt_h5_rows(f, MKT_CAMPAIGNS_ATTRS, &acols);
    c->A = (int)acols;
    c->T = (int)mkt_h5_rows(f, MKT_IDS_TREATMENTS, NULL);
    if (c->T < 2)
        mkt_fail_all(MKT_EXIT_ERROR, "uplift: %s: the campaign has %d arm(s); need control and a treatment", store,
                     c->T);
    if (c->N < 1)
        mkt_fail_all(MKT_EXIT_ERROR, "uplift: %s: the campaign log is empty", store);
    c->arm_names = mkt_h5_read_strings(f, MKT_IDS_TREATMENTS, 0, c->T);
    c->attr_names = c->A > 0 ? mkt_h5_read_strings(f, MKT_CAMPAIGNS_ATTR_NAMES, 0, c->A) : xalloc(1, sizeof(char *));
    c->n_levels = xalloc((size_t)c->A, sizeof(int));
    c->level_names = xalloc((size_t)c->A, sizeof(char **));
    for (int a = 0; a < c->A; a++) {
        char path[600];
        snprintf(path, sizeof path, "/campaigns/levels/%s", c->attr_names[a]);
        if (mkt_h5_exists(f, path)) {
            c->n_levels[a] = (int)mkt_h5_rows(f, path, NULL);
            c->level_names[a] = mkt_h5_read_strings(f, path, 0, c->n_levels[a]);
        }
    }
    int64_t nchunks = (c->N + UPLIFT_CHUNK - 1) / UPLIFT_CHUNK;
    mkt_block cb = mkt_block_of(nchunks, nranks, rank);
    c->begin = cb.begin * UPLIFT_CHUNK;
    int64_t end = cb.end * UPLIFT_CHUNK < c->N ? cb.end * UPLIFT_CHUNK : c->N;
    c->n = end > c->begin ? end - c->begin : 0;
    size_t n = (size_t)c->n, nt = (size_t)(c->T - 1);
    c->user = xalloc(n, sizeof(int32_t));
    c->treatment = xalloc(n, sizeof(int32_t));
    int32_t *yi = xalloc(n, sizeof(int32_t));
    c->y = xalloc(n, sizeof(double));
    c->spend = xalloc(n, sizeof(double));
    c->attrs = xalloc(n * (size_t)(c->A > 0 ? c->A : 1), sizeof(double));
    c->holdout = xalloc(n, 1);
    c->valid = xalloc(n, 1);
    c->fold = xalloc(n, 1);
    mkt_h5_read_rows(f, MKT_CAMPAIGNS_USER, H5T_NATIVE_INT32, c->begin, c->n, c->user);
    mkt_h5_read_rows(f, MKT_CAMPAIGNS_TREATMENT, H5T_NATIVE_INT32, c->begin, c->n, c->treatment);
    char ypath[64];
    snprintf(ypath, sizeof ypath, "/campaigns/%s", outcome);
    if (!mkt_h5_exists(f, ypath))
        mkt_fail_all(MKT_EXIT_ERROR, "uplift: %s has no %s (redemptions come from a targeted-users log ingested "
                     "with --control untargeted and --conversion-col naming its redemption column)", store, ypath);
    mkt_h5_read_rows(f, ypath, H5T_NATIVE_INT32, c->begin, c->n, yi);
    char *design = mkt_h5_attr_get_string(f, MKT_CAMPAIGNS, "design");
    c->observational_store = design && !strcmp(design, "observational");
    free(design);
    mkt_h5_read_rows(f, MKT_CAMPAIGNS_SPEND, H5T_NATIVE_DOUBLE, c->begin, c->n, c->spend);
    if (c->A > 0)
        mkt_h5_read_rows(f, MKT_CAMPAIGNS_ATTRS, H5T_NATIVE_DOUBLE, c->begin, c->n, c->attrs);
    for (size_t i = 0; i < n; i++) {
        c->y[i] = yi[i] != 0;
        if (c->treatment[i] < 0 || c->treatment[i] >= c->T)
            mkt_fail("uplift: %s: campaign row %lld has treatment %d (arms: %d)", store,
                     (long long)(c->begin + (int64_t)i), c->treatment[i], c->T);
    }
    free(yi);
    /* planted truth (mkt gen stores), per campaign row */
    int64_t tc = 0, tcs = 0;
    c->has_truth = mkt_h5_exists(f, MKT_TRUTH_EFFECT_CONVERSION) && mkt_h5_exists(f, MKT_TRUTH_EFFECT_SPEND);
    if (c->has_truth) {
        mkt_h5_rows(f, MKT_TRUTH_EFFECT_CONVERSION, &tc);
        mkt_h5_rows(f, MKT_TRUTH_EFFECT_SPEND, &tcs);
        c->has_truth = tc == c->T - 1 && tcs == c->T - 1;
    }
    c->truth_conv = xalloc(n * nt, sizeof(double));
    c->truth_spend = xalloc(n * nt, sizeof(double));
    if (c->has_truth && n > 0) {
        int64_t u0 = c->user[0], u1 = c->user[n - 1]; /* rows are sorted by user */
        size_t span = (size_t)(u1 - u0 + 1);
        double *tcv = xalloc(span * nt, sizeof(double)), *tsp = xalloc(span * nt, sizeof(double));
        mkt_h5_read_rows(f, MKT_TRUTH_EFFECT_CONVERSION, H5T_NATIVE_DOUBLE, u0, (int64_t)span, tcv);
        mkt_h5_read_rows(f, MKT_TRUTH_EFFECT_SPEND, H5T_NATIVE_DOUBLE, u0, (int64_t)span, tsp);
        for (size_t i = 0; i < n; i++)
            for (size_t t = 0; t < nt; t++) {
                c->truth_conv[i * nt + t] = tcv[(size_t)(c->user[i] - u0) * nt + t];
                c->truth_spend[i * nt + t] = tsp[(size_t)(c->user[i] - u0) * nt + t];
            }
        free(tcv);
        free(tsp);
    }
    mkt_h5_close(f);
}

void up_free_campaign(campaign_data *c)
{
    mkt_h5_free_strings(c->arm_names, c->T);
    if (c->A > 0)
        mkt_h5_free_strings(c->attr_names, c->A);
    else
        free(c->attr_names);
    for (int a = 0; a < c->A; a++)
        if (c->level_names[a])
            mkt_h5_free_strings(c->level_names[a], c->n_levels[a]);
    free(c->level_names);
    free(c->n_levels);
    free(c->user);
    free(c->treatment);
    free(c->y);
    free(c->spend);
    free(c->attrs);
    free(c->holdout);
    free(c->valid);
    free(c->fold);
    free(c->truth_conv);
    free(c->truth_spend);
    free(c->prop);
}

/* Collective. Normalization of the numeric attributes over all campaign rows:
 * exact sums, so the same on any rank count. */
void up_fit_features(const campaign_data *c, int squares, uplift_features *fs, MPI_Comm comm)
{
    int A = c->A;
    fs->n_attr = A;
    fs->attr = xalloc((size_t)A, sizeof(uplift_attr_spec));
    mkt_xsum *acc = xalloc((size_t)A * 2, sizeof(mkt_xsum));
    int64_t *counts = xalloc((size_t)A * 2, sizeof(int64_t)); /* finite values, values not 0/1 */
    for (int k = 0; k < 2 * A; k++)
        mkt_xsum_init(&acc[k]);
    for (int64_t i = 0; i < c->n; i++)
        for (int a = 0; a < A; a++) {
            double v = c->attrs[i * A + a];
            if (!isfinite(v))
                continue;
            mkt_xsum_add(&acc[2 * a], v);
            mkt_xsum_add(&acc[2 * a + 1], v * v);
            counts[2 * a]++;
            if (v != 0.0 && v != 1.0)
                counts[2 * a + 1]++;
        }
    if (A > 0) {
        mkt_allreduce_xsum(acc, 2 * A, comm);
        MKT_MPI(MPI_Allreduce(MPI_IN_PLACE, counts, 2 * A, MPI_INT64_T, MPI_SUM, comm));
    }
    for (int a = 0; a < A; a++) {
        uplift_attr_spec *s = &fs->attr[a];
        if (c->n_levels[a] > 0) {
            s->categorical = 1;
            s->n_levels = c->n_levels[a];
            s->std = 1.0;
            continue;
        }
        uplift_mean_std((double)counts[2 * a], mkt_xsum_value(&acc[2 * a]), mkt_xsum_value(&acc[2 * a + 1]),
                        &s->mean, &s->std);
        s->square = squares && counts[2 * a + 1] > 0;
    }
    free(acc);
    free(counts);
}

void up_features_matrix(const campaign_data *c, const uplift_features *fs, double **X, int *d)
{
    *d = uplift_feature_dim(fs);
    *X = xalloc((size_t)c->n * (size_t)*d, sizeof(double));
    for (int64_t i = 0; i < c->n; i++)
        uplift_feature_row(fs, c->attrs + i * c->A, *X + i * *d);
}

/* The splits: test rows (hold-out hash), validation rows among the others
 * (a second hash; none when valid_fraction is 0) and the cross-fitting fold
 * of every row (a third hash).  All functions of (seed, user) only. */
void up_mark_holdout(campaign_data *c, uint64_t seed, double holdout, double valid_fraction, int folds)
{
    for (int64_t i = 0; i < c->n; i++) {
        c->holdout[i] = (unsigned char)uplift_is_holdout(seed, c->user[i], holdout);
        c->valid[i] = (unsigned char)(!c->holdout[i] && valid_fraction > 0 &&
                                      uplift_is_validation(seed, c->user[i], valid_fraction));
        c->fold[i] = (unsigned char)uplift_fold(seed, c->user[i], folds);
    }
}

/* Collective. Exact counts of the rows of each arm in a split
 * (`mask` per local row); fails (naming `what` and `fix`) when any arm or
 * control has none, since no uplift metric can be computed then. */
void up_require_split_rows(const campaign_data *c, const unsigned char *mask, const char *cmd, const char *what,
                           const char *fix, MPI_Comm comm)
{
    int64_t *cnt = xalloc((size_t)c->T, sizeof(int64_t));
    for (int64_t i = 0; i < c->n; i++)
        if (mask[i])
            cnt[c->treatment[i]]++;
    MKT_MPI(MPI_Allreduce(MPI_IN_PLACE, cnt, c->T, MPI_INT64_T, MPI_SUM, comm));
    int64_t total = 0;
    for (int t = 0; t < c->T; t++)
        total += cnt[t];
    if (total == 0)
        mkt_fail_all(MKT_EXIT_ERROR, "%s: the %s has no rows: no metric can be computed on it; %s", cmd, what, fix);
    for (int t = 0; t < c->T; t++)
        if (cnt[t] == 0)
            mkt_fail_all(MKT_EXIT_ERROR,
                         "%s: the %s has %lld rows but none of arm '%s': its uplift metrics cannot be computed; %s",
                         cmd, what, (long long)total, c->arm_names[t], fix);
    free(cnt);
}

void up_check_outcome(const char *outcome)
{
    if (!outcome || (strcmp(outcome, "conversion") != 0 && strcmp(outcome, "visit") != 0 &&
                     strcmp(outcome, "redeemed") != 0))
        mkt_fail_all(MKT_EXIT_USAGE, "uplift: outcome: must be conversion, visit or redeemed, not '%s'",
                     outcome ? outcome : "");
}
