/* strategy_stage.c — the `mkt strategy` stage: reads the store, the models
 * and (optionally) a `mkt gen` truth store, builds every user's strategy and
 * its predicted value, solves the budget, computes the reference policies,
 * bootstrap intervals, budget curve and off-policy estimates, and writes
 * /strategy, the CSV export and the metrics (docs/strategy.md).  This file
 * checks the options (mkt_strategy_check_options, the policy's part in
 * src/strategy.c) and runs the steps in order; the steps live in
 * strategy_inputs.c, strategy_effects.c, strategy_items.c, strategy_alloc.c
 * and strategy_output.c (their shared state: strategy_internal.h).
 *
 * Each rank handles its block of dense users (mkt_block_of); everything per
 * user is a pure function of that user's data and of arrays every rank holds
 * identically (items, factors, coefficients); every reduction is exact
 * (mpi/strategy_par.c), so the output is the same on any number of ranks.
 * Must not: hold per-user data of other ranks' users, or compute the
 * economics itself (src/strategy.c). */
#include "strategy_stage.h"

#include <stdlib.h>
#include <string.h>

#include "metrics_json.h"
#include "par.h"
#include "schema.h"
#include "strategy_internal.h"


void mkt_strategy_options_init(mkt_strategy_options *o)
{
    memset(o, 0, sizeof *o);
    strat_config_defaults(&o->config);
}

const char *mkt_strategy_check_options(const mkt_strategy_options *o)
{
    if (!o->store || !o->models || !o->out)
        return "--store STORE.h5, --models MODEL.h5 and --out STRATEGY.h5 are required";
    return strat_check_config(&o->config);
}

static void free_data(strat_data *d)
{
    mkt_h5_free_strings(d->arms, d->T);
    mkt_h5_free_strings(d->user_ids, d->n);
    mkt_h5_free_strings(d->item_ids, d->I);
    if (d->segment_names)
        mkt_h5_free_strings(d->segment_names, d->nsegments);
    free(d->price);
    free(d->cost);
    free(d->category);
    free(d->days_since);
    free(d->ev_ptr);
    free(d->ev_item);
    free(d->segment);
    free(d->p0);
    free(d->r0);
    free(d->order_value);
    free(d->dconv);
    free(d->dspend);
    free(d->propensity);
    free(d->items);
    free(d->item_scores);
    free(d->prices);
    free(d->costs);
    free(d->val);
    free(d->tval);
    free(d->eligible);
    free(d->c_user);
    free(d->c_treat);
    free(d->c_conv);
    free(d->c_spend);
    free(d->c_attrs);
    free(d->ux);
    free(d->rcc);
    free(d->rcs);
    free(d->kc);
    free(d->ks);
    free(d->rmc);
    free(d->rms);
}

/* Every input of the strategy: the store, the promotion costs, the effects,
 * the items and their prices, segments and propensity, the value of every
 * arm and (--truth) the planted truth. */
static strat_econ load_inputs(strat_data *d, const mkt_strategy_options *o, json_t *metrics, MPI_Comm comm)
{
    /* required models first, so a missing one fails before any work */
    hid_t m = mkt_h5_open(o->models, 0, comm);
    if (!mkt_h5_exists(m, MKT_MODELS_UPLIFT))
        mkt_fail_all(MKT_EXIT_ERROR, "strategy: %s has no /models/uplift (run mkt train uplift)", o->models);
    if (!mkt_h5_exists(m, MKT_MODELS_MF))
        mkt_fail_all(MKT_EXIT_ERROR, "strategy: %s has no /models/mf (run mkt train mf)", o->models);
    strategy_load_store(d, o, comm);
    strat_econ econ = strategy_costs(d, o, metrics);
    strategy_load_uplift(d, m, o, metrics, comm);
    strategy_load_items(d, m, o);
    strategy_set_prices(d, m, o, metrics, comm);
    strategy_load_segments(d, m, o, metrics);
    strategy_load_propensity(d, m, o, metrics, comm);
    mkt_h5_close(m);
    strategy_evaluate_arms(d, &econ, o);
    if (o->truth)
        strategy_load_truth(d, &econ, o, comm);
    return econ;
}

int mkt_strategy_run(const mkt_strategy_options *o, MPI_Comm comm, json_t *metrics)
{
    double t0 = mkt_now();
    const char *bad = mkt_strategy_check_options(o);
    if (bad)
        mkt_fail_all(MKT_EXIT_USAGE, "strategy: %s", bad);
    strat_data d;
    memset(&d, 0, sizeof d);
    MKT_MPI(MPI_Comm_rank(comm, &d.rank));
    MKT_MPI(MPI_Comm_size(comm, &d.nranks));
    strat_econ econ = load_inputs(&d, o, metrics, comm);
    double t_load = mkt_now() - t0;

    /* the strategy under the budget, the reference policies, their totals and intervals */
    int32_t *choice[NPOL];
    for (int p = 0; p < NPOL; p++)
        choice[p] = xalloc((size_t)d.n, sizeof(int32_t));
    strat_results r;
    memset(&r, 0, sizeof r);
    strategy_solve(&d, o, choice, &r, comm);
    double t_solve = mkt_now() - t0 - t_load;
    strategy_intervals(&d, &econ, o, choice, &r, comm);
    strategy_budget_curve(&d, o, &r, comm);
    strategy_ope(&d, &econ, choice[POL_STRATEGY], &r, comm);

    /* messages and outputs */
    char **msg = strategy_render_messages(&d, choice[POL_STRATEGY], o);
    strategy_write_h5(&d, choice[POL_STRATEGY], msg, &r, o, comm);
    if (o->csv)
        strategy_write_csv(&d, choice[POL_STRATEGY], msg, o, comm);
    strategy_report_metrics(&d, &r, choice[POL_STRATEGY], o, metrics, comm);
    mkt_metrics_set_real(metrics, "seconds_load", t_load);
    mkt_metrics_set_real(metrics, "seconds_solve", t_solve);
    mkt_metrics_set_real(metrics, "seconds", mkt_now() - t0);
    strategy_log_summary(&d, &r, o, t0);

    for (int64_t u = 0; u < d.n; u++)
        free(msg[u]);
    free(msg);
    for (int p = 0; p < NPOL; p++)
        free(choice[p]);
    free(r.curve_budget);
    free(r.curve_profit);
    free(r.curve_cost);
    free(r.curve_treated);
    free_data(&d);
    return MKT_EXIT_OK;
}
