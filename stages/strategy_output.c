/* strategy_output.c — what `mkt strategy` writes: the message of every user
 * (templates, src/strategy.c), /strategy in the output file
 * (docs/strategy.md), the CSV export (written in parallel at each rank's
 * offset, then renamed), the metrics and the summary in the log.
 *
 * Must not: compute the strategy or its totals (strategy_alloc.c); it only
 * writes what the other steps found. */
#include "strategy_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics_json.h"
#include "par.h"
#include "schema.h"

#define MSG_CAP 2048

const char *const strategy_policy_names[NPOL] = {"strategy", "no_promotion", "cheapest_promotion",
                                                 "propensity_rank"};

/* ---------- messages ---------- */

char **strategy_render_messages(const strat_data *d, const int32_t *choice, const mkt_strategy_options *o)
{
    char **msg = xalloc((size_t)d->n, sizeof(char *));
    const char **names = xalloc((size_t)o->config.k, sizeof(char *));
    double *pr = xalloc((size_t)o->config.k, sizeof(double));
    char *buf = xalloc(MSG_CAP, 1), disc[128];
    for (int64_t u = 0; u < d->n; u++) {
        int ni = 0;
        for (int j = 0; j < o->config.k; j++) {
            int64_t it = d->items[u * o->config.k + j];
            if (it < 0)
                break;
            names[ni] = d->item_ids[it];
            pr[ni++] = d->prices[u * o->config.k + j];
        }
        int t = choice[u];
        disc[0] = 0;
        if (t >= 0)
            strat_discount_text(&d->costs[t], d->arms[t + 1], disc, sizeof disc);
        strat_msg m = {d->user_ids[u], d->segment[u] >= 0 ? d->segment_names[d->segment[u]] : "unknown",
                       t >= 0 ? d->arms[t + 1] : "none", disc, ni, names, pr};
        strat_render(t >= 0 || !o->config.template_none ? o->config.template_text : o->config.template_none, &m, buf, MSG_CAP);
        msg[u] = mkt_xstrdup(buf);
    }
    free(buf);
    free(pr);
    free(names);
    return msg;
}

/* ---------- outputs ---------- */

/* One CSV field: the items of user u's list (prices: their prices, 2
 * decimals), ';'-separated; tmp is scratch. */
static void csv_list(strat_buf *b, strat_buf *tmp, const strat_data *d, int64_t u, int k, int prices)
{
    tmp->len = 0;
    strat_buf_str(tmp, "");
    for (int j = 0; j < k && d->items[u * k + j] >= 0; j++) {
        if (j)
            strat_buf_str(tmp, ";");
        if (prices)
            strat_buf_num(tmp, d->prices[u * k + j], 2);
        else
            strat_buf_str(tmp, d->item_ids[d->items[u * k + j]]);
    }
    strat_buf_csv(b, tmp->p);
}

void strategy_write_csv(const strat_data *d, const int32_t *choice, char **msg, const mkt_strategy_options *o,
                        MPI_Comm comm)
{
    strat_buf b = {0};
    if (d->rank == 0)
        strat_buf_str(&b, "user,segment,promotion,expected_profit,items,prices,message\n");
    strat_buf tmp = {0};
    for (int64_t u = 0; u < d->n; u++) {
        int t = choice[u];
        strat_buf_csv(&b, d->user_ids[u]);
        strat_buf_str(&b, ",");
        strat_buf_csv(&b, d->segment[u] >= 0 ? d->segment_names[d->segment[u]] : "unknown");
        strat_buf_str(&b, ",");
        strat_buf_csv(&b, t >= 0 ? d->arms[t + 1] : "none");
        strat_buf_str(&b, ",");
        strat_buf_num(&b, t >= 0 ? d->val[u * d->na + t].profit : 0.0, 4);
        strat_buf_str(&b, ",");
        csv_list(&b, &tmp, d, u, o->config.k, 0);
        strat_buf_str(&b, ",");
        csv_list(&b, &tmp, d, u, o->config.k, 1);
        strat_buf_str(&b, ",");
        strat_buf_csv(&b, msg[u]);
        strat_buf_str(&b, "\n");
    }
    strat_buf_free(&tmp);
    size_t plen = strlen(o->csv) + 8;
    char *tmp_path = xalloc(plen, 1);
    snprintf(tmp_path, plen, "%s.tmp", o->csv);
    int64_t total = 0, off = mkt_exscan_count((int64_t)b.len, &total, comm);
    MPI_File fh;
    int rc = MPI_File_open(comm, tmp_path, MPI_MODE_CREATE | MPI_MODE_WRONLY, MPI_INFO_NULL, &fh);
    if (!all_true(rc == MPI_SUCCESS, comm))
        mkt_fail_all(MKT_EXIT_ERROR, "strategy: cannot create the CSV file %s", tmp_path);
    mkt_tmp_add(tmp_path); /* removed if anything fails before the rename */
    MKT_MPI(MPI_File_set_size(fh, 0));
    const size_t piece = (size_t)1 << 30;
    for (size_t done = 0; done < b.len; done += piece) {
        size_t cnt = b.len - done < piece ? b.len - done : piece;
        MKT_MPI(MPI_File_write_at(fh, (MPI_Offset)(off + (int64_t)done), b.p + done, (int)cnt, MPI_BYTE,
                                  MPI_STATUS_IGNORE));
    }
    MKT_MPI(MPI_File_close(&fh));
    int ok = 1;
    if (d->rank == 0)
        ok = rename(tmp_path, o->csv) == 0;
    MKT_MPI(MPI_Bcast(&ok, 1, MPI_INT, 0, comm));
    if (!ok)
        mkt_fail_all(MKT_EXIT_ERROR, "strategy: cannot rename %s to %s", tmp_path, o->csv);
    mkt_tmp_done(tmp_path);
    free(tmp_path);
    strat_buf_free(&b);
}

void strategy_write_h5(const strat_data *d, const int32_t *choice, char **msg, const strat_results *r,
                       const mkt_strategy_options *o, MPI_Comm comm)
{
    mkt_h5out out;
    mkt_h5_create(&out, o->out, "strategy", comm);
    hid_t f = out.file;
    int64_t n = d->n, k = o->config.k;
    int64_t *user = xalloc((size_t)n, sizeof(int64_t));
    int32_t *promo = xalloc((size_t)n, sizeof(int32_t));
    double *ep = xalloc((size_t)n, sizeof(double)), *ec = xalloc((size_t)n, sizeof(double));
    double *uc = xalloc((size_t)n, sizeof(double)), *us = xalloc((size_t)n, sizeof(double));
    for (int64_t u = 0; u < n; u++) {
        user[u] = d->begin + u;
        int t = choice[u];
        promo[u] = t >= 0 ? t + 1 : -1;
        const strat_arm_value *v = t >= 0 ? &d->val[u * d->na + t] : NULL;
        ep[u] = v ? v->profit : 0;
        ec[u] = v ? v->cost : 0;
        uc[u] = v ? v->dconv : 0;
        us[u] = v ? v->drev : 0;
    }
    mkt_h5_write_rows_at(f, MKT_STRATEGY_USER, H5T_NATIVE_INT64, user, d->begin, n, d->N, 0, comm);
    mkt_h5_write_rows_at(f, MKT_STRATEGY_SEGMENT, H5T_NATIVE_INT32, d->segment, d->begin, n, d->N, 0, comm);
    mkt_h5_write_rows_at(f, MKT_STRATEGY_ITEMS, H5T_NATIVE_INT64, d->items, d->begin, n, d->N, k, comm);
    mkt_h5_write_rows_at(f, MKT_STRATEGY_ITEM_SCORES, H5T_NATIVE_DOUBLE, d->item_scores, d->begin, n, d->N, k, comm);
    mkt_h5_write_rows_at(f, MKT_STRATEGY_PRICE, H5T_NATIVE_DOUBLE, d->prices, d->begin, n, d->N, k, comm);
    mkt_h5_write_rows_at(f, MKT_STRATEGY_PROMOTION, H5T_NATIVE_INT32, promo, d->begin, n, d->N, 0, comm);
    mkt_h5_write_rows_at(f, MKT_STRATEGY_EXPECTED_PROFIT, H5T_NATIVE_DOUBLE, ep, d->begin, n, d->N, 0, comm);
    mkt_h5_write_rows_at(f, MKT_STRATEGY_EXPECTED_COST, H5T_NATIVE_DOUBLE, ec, d->begin, n, d->N, 0, comm);
    mkt_h5_write_rows_at(f, MKT_STRATEGY_UPLIFT_CONVERSION, H5T_NATIVE_DOUBLE, uc, d->begin, n, d->N, 0, comm);
    mkt_h5_write_rows_at(f, MKT_STRATEGY_UPLIFT_SPEND, H5T_NATIVE_DOUBLE, us, d->begin, n, d->N, 0, comm);
    mkt_h5_write_strings(f, MKT_STRATEGY_MESSAGE, msg, n, comm);
    mkt_h5_write_strings(f, MKT_STRATEGY_ARMS, d->arms, d->rank == 0 ? d->T : 0, comm);
    if (d->nsegments > 0) /* the names of /strategy/segment, so the gateway answers names */
        mkt_h5_write_strings(f, MKT_STRATEGY_SEGMENT_NAMES, d->segment_names, d->rank == 0 ? d->nsegments : 0, comm);

    char *pn[NPOL], *mn[MKT_STRAT_METRICS];
    for (int p = 0; p < NPOL; p++)
        pn[p] = (char *)strategy_policy_names[p];
    for (int m = 0; m < MKT_STRAT_METRICS; m++)
        mn[m] = (char *)mkt_strat_metric_names[m];
    mkt_h5_write_strings(f, MKT_STRATEGY_TOTALS_POLICIES, pn, d->rank == 0 ? NPOL : 0, comm);
    mkt_h5_write_strings(f, MKT_STRATEGY_TOTALS_METRIC_NAMES, mn, d->rank == 0 ? MKT_STRAT_METRICS : 0, comm);
    mkt_h5_write_small(f, MKT_STRATEGY_TOTALS_VALUE, H5T_NATIVE_DOUBLE, r->value, NPOL, MKT_STRAT_METRICS, comm);
    mkt_h5_write_small(f, MKT_STRATEGY_TOTALS_LO, H5T_NATIVE_DOUBLE, r->lo, NPOL, MKT_STRAT_METRICS, comm);
    mkt_h5_write_small(f, MKT_STRATEGY_TOTALS_HI, H5T_NATIVE_DOUBLE, r->hi, NPOL, MKT_STRAT_METRICS, comm);
    if (r->has_truth)
        mkt_h5_write_small(f, MKT_STRATEGY_TOTALS_TRUE_VALUE, H5T_NATIVE_DOUBLE, r->truth, NPOL, MKT_STRAT_METRICS,
                           comm);
    int B = r->curve_n;
    mkt_h5_write_small(f, MKT_STRATEGY_BUDGET_CURVE_BUDGET, H5T_NATIVE_DOUBLE, r->curve_budget, B, 0, comm);
    mkt_h5_write_small(f, MKT_STRATEGY_BUDGET_CURVE_INCREMENTAL_PROFIT, H5T_NATIVE_DOUBLE, r->curve_profit, B, 0,
                       comm);
    mkt_h5_write_small(f, MKT_STRATEGY_BUDGET_CURVE_PROMOTION_COST, H5T_NATIVE_DOUBLE, r->curve_cost, B, 0, comm);
    mkt_h5_write_small(f, MKT_STRATEGY_BUDGET_CURVE_USERS_TREATED, H5T_NATIVE_DOUBLE, r->curve_treated, B, 0, comm);
    char *on[2] = {"ipw", "dr"};
    double ov[2] = {r->ope.ipw, r->ope.dr};
    double olo[2] = {r->ope.ipw - 1.96 * r->ope.ipw_se, r->ope.dr - 1.96 * r->ope.dr_se};
    double ohi[2] = {r->ope.ipw + 1.96 * r->ope.ipw_se, r->ope.dr + 1.96 * r->ope.dr_se};
    mkt_h5_write_strings(f, MKT_STRATEGY_OPE_NAMES, on, d->rank == 0 ? 2 : 0, comm);
    mkt_h5_write_small(f, MKT_STRATEGY_OPE_VALUE, H5T_NATIVE_DOUBLE, ov, 2, 0, comm);
    mkt_h5_write_small(f, MKT_STRATEGY_OPE_LO, H5T_NATIVE_DOUBLE, olo, 2, 0, comm);
    mkt_h5_write_small(f, MKT_STRATEGY_OPE_HI, H5T_NATIVE_DOUBLE, ohi, 2, 0, comm);
    mkt_h5_attr_set_double(f, MKT_STRATEGY_OPE, "predicted", r->ope.predicted);
    mkt_h5_attr_set_int(f, MKT_STRATEGY_OPE, "rows", r->ope.rows);
    mkt_h5_attr_set_int(f, MKT_STRATEGY_OPE, "rows_matched", r->ope.matched);

    mkt_h5_attr_set_double(f, MKT_STRATEGY, "budget", o->config.budget);
    mkt_h5_attr_set_double(f, MKT_STRATEGY, "lambda", r->lambda);
    mkt_h5_attr_set_int(f, MKT_STRATEGY, "schema_version", MKT_SCHEMA_VERSION);
    mkt_h5_attr_set_int(f, MKT_STRATEGY, "k", o->config.k);
    mkt_h5_attr_set_int(f, MKT_STRATEGY, "users_treated", r->treated);
    mkt_h5_attr_set_string(f, MKT_STRATEGY, "pricing", o->config.pricing);
    mkt_h5_attr_set_string(f, MKT_STRATEGY, "template", o->config.template_text);
    mkt_h5_commit(&out);
    free(user);
    free(promo);
    free(ep);
    free(ec);
    free(uc);
    free(us);
}

static json_t *num_or_null(double v) { return isfinite(v) ? json_real(v) : json_null(); }

/* The metrics of the run but its timings (the driver adds them). */
void strategy_report_metrics(const strat_data *d, const strat_results *r, const int32_t *choice,
                             const mkt_strategy_options *o, json_t *metrics, MPI_Comm comm)
{
    json_t *tot = mkt_metrics_child(metrics, "totals");
    for (int p = 0; p < NPOL; p++) {
        json_t *pol = mkt_metrics_child(tot, strategy_policy_names[p]);
        for (int m = 0; m < MKT_STRAT_METRICS; m++) {
            json_t *e = json_object();
            json_object_set_new(e, "value", num_or_null(r->value[p][m]));
            json_object_set_new(e, "lo", num_or_null(r->lo[p][m]));
            json_object_set_new(e, "hi", num_or_null(r->hi[p][m]));
            if (r->has_truth)
                json_object_set_new(e, "true", num_or_null(r->truth[p][m]));
            json_object_set_new(pol, mkt_strat_metric_names[m], e);
        }
    }
    mkt_metrics_set_real(metrics, "lambda", r->lambda);
    mkt_metrics_set_int(metrics, "bisection_steps", r->steps);
    mkt_metrics_set_int(metrics, "users", d->N);
    mkt_metrics_set_int(metrics, "users_treated", r->treated);
    mkt_metrics_set_real(metrics, "promotion_cost", r->value[POL_STRATEGY][MKT_STRAT_COST]);
    mkt_metrics_set_real(metrics, "expected_incremental_profit", r->value[POL_STRATEGY][MKT_STRAT_PROFIT]);
    json_object_set_new(metrics, "cost_within_budget", json_boolean(1));
    mkt_metrics_set_str(metrics, "cheapest_arm", d->arms[r->cheap + 1]);
    if (r->have_prop)
        mkt_metrics_set_real(metrics, "propensity_threshold", r->tau);
    /* users per arm */
    int64_t *cnt = xalloc((size_t)d->T, sizeof(int64_t));
    for (int64_t u = 0; u < d->n; u++)
        cnt[choice[u] + 1]++;
    MKT_MPI(MPI_Allreduce(MPI_IN_PLACE, cnt, d->T, MPI_INT64_T, MPI_SUM, comm));
    json_t *per = mkt_metrics_child(metrics, "users_per_promotion");
    mkt_metrics_set_int(per, "none", cnt[0]);
    for (int t = 1; t < d->T; t++)
        mkt_metrics_set_int(per, d->arms[t], cnt[t]);
    free(cnt);
    json_t *ope = mkt_metrics_child(metrics, "ope");
    mkt_metrics_set_int(ope, "rows", r->ope.rows);
    mkt_metrics_set_int(ope, "rows_matched", r->ope.matched);
    json_object_set_new(ope, "predicted_per_row", num_or_null(r->ope.predicted));
    const char *names[2] = {"ipw", "dr"};
    double v[2] = {r->ope.ipw, r->ope.dr}, se[2] = {r->ope.ipw_se, r->ope.dr_se};
    for (int j = 0; j < 2; j++) {
        json_t *e = mkt_metrics_child(ope, names[j]);
        json_object_set_new(e, "value", num_or_null(v[j]));
        json_object_set_new(e, "lo", num_or_null(v[j] - 1.96 * se[j]));
        json_object_set_new(e, "hi", num_or_null(v[j] + 1.96 * se[j]));
    }
    json_t *curve = json_array();
    for (int j = 0; j < r->curve_n; j++) {
        json_t *e = json_object();
        json_object_set_new(e, "budget", json_real(r->curve_budget[j]));
        json_object_set_new(e, "incremental_profit", json_real(r->curve_profit[j]));
        json_object_set_new(e, "promotion_cost", json_real(r->curve_cost[j]));
        json_object_set_new(e, "users_treated", json_real(r->curve_treated[j]));
        json_array_append_new(curve, e);
    }
    json_object_set_new(metrics, "budget_curve", curve);
    json_object_set_new(metrics, "budget", num_or_null(o->config.budget)); /* null: no limit */
    mkt_metrics_set_str(metrics, "ope_rows", d->uplift_holdout > 0 ? "held-out rows of /models/uplift" : "all rows");
    {
        /* the item lists: the slowest rank's time, users per second of the whole run */
        double sec[2] = {d->items_seconds, d->items_cpu_seconds};
        int64_t cnt[3] = {d->items_stats.users_screened, d->items_stats.users_exact, d->items_stats.rescored};
        MKT_MPI(MPI_Allreduce(MPI_IN_PLACE, sec, 2, MPI_DOUBLE, MPI_MAX, comm));
        MKT_MPI(MPI_Allreduce(MPI_IN_PLACE, cnt, 3, MPI_INT64_T, MPI_SUM, comm));
        json_t *it = mkt_metrics_child(metrics, "items");
        mkt_metrics_set_str(it, "method", d->items_method);
        mkt_metrics_set_real(it, "seconds", sec[0]);
        mkt_metrics_set_real(it, "users_per_second", sec[0] > 0 ? (double)d->N / sec[0] : 0.0);
        /* what the run gives when every rank has a core to itself */
        mkt_metrics_set_real(it, "cpu_seconds", sec[1]);
        mkt_metrics_set_real(it, "users_per_cpu_second", sec[1] > 0 ? (double)d->N / sec[1] : 0.0);
        mkt_metrics_set_int(it, "users_screened", cnt[0]);
        mkt_metrics_set_int(it, "users_scored_exactly", cnt[1]);
        mkt_metrics_set_int(it, "items_rescored", cnt[2]);
    }
}

/* The summary in the log: the strategy, the reference policies, the truth
 * when known, the off-policy estimates, the files written. */
void strategy_log_summary(const strat_data *d, const strat_results *r, const mkt_strategy_options *o, double t0)
{
    mkt_log(STAGE, "%lld users, budget %.2f: lambda %.6g after %d bisection steps; %lld users get a promotion, "
            "expected cost %.2f, incremental profit %.2f [%.2f, %.2f]",
            (long long)d->N, o->config.budget, r->lambda, r->steps, (long long)r->treated, r->value[0][MKT_STRAT_COST],
            r->value[0][MKT_STRAT_PROFIT], r->lo[0][MKT_STRAT_PROFIT], r->hi[0][MKT_STRAT_PROFIT]);
    for (int p = 1; p < NPOL; p++)
        mkt_log(STAGE, "reference %-18s cost %.2f, incremental profit %.2f", strategy_policy_names[p],
                r->value[p][MKT_STRAT_COST], r->value[p][MKT_STRAT_PROFIT]);
    if (r->has_truth)
        for (int p = 0; p < NPOL; p++)
            mkt_log(STAGE, "true incremental profit of %-18s %.2f (predicted %.2f)%s", strategy_policy_names[p],
                    r->truth[p][MKT_STRAT_PROFIT], r->value[p][MKT_STRAT_PROFIT],
                    r->truth[p][MKT_STRAT_PROFIT] < r->lo[p][MKT_STRAT_PROFIT] ||
                            r->truth[p][MKT_STRAT_PROFIT] > r->hi[p][MKT_STRAT_PROFIT]
                        ? " -- OUTSIDE the 95% interval"
                        : "");
    mkt_log(STAGE, "off-policy, per campaign row: IPW %.4f +- %.4f, DR %.4f +- %.4f, predicted %.4f (%lld rows)",
            r->ope.ipw, 1.96 * r->ope.ipw_se, r->ope.dr, 1.96 * r->ope.dr_se, r->ope.predicted,
            (long long)r->ope.rows);
    mkt_log(STAGE, "wrote %s%s%s in %.2fs", o->out, o->csv ? " and " : "", o->csv ? o->csv : "", mkt_now() - t0);
}

