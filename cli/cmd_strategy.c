/* cmd_strategy.c — the `mkt strategy` command (job-file section [strategy]):
 * its option table, checks, and the call of the stage in
 * stages/strategy_stage.c.  Must not compute anything itself. */
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "iocheck.h"
#include "commands.h"
#include "metrics_json.h"
#include "parse.h"
#include "strategy_stage.h"

#define DEFAULT_TEMPLATE "Picked for you: {items}. {discount}"

typedef struct {
    char *store, *models, *out, *csv, *truth, *budget, *metrics_out;
    char *arm_costs, *spend_effect, *effects, *pricing, *template_text, *template_none;
    int64_t k, refits, max_per_category, bootstrap, seed, curve_points, bisection_steps;
    double min_days_since_purchase, min_margin, shipping_cost, contact_cost, margin_rate;
    double min_factor, max_factor, interest_k;
} strategy_cli;

#define O(f) offsetof(strategy_cli, f)
static const mkt_opt strategy_opts[] = {
    {"store", MKT_OPT_STR, O(store), NULL, "store with events, items and the randomized campaign log", 0, 0},
    {"models", MKT_OPT_STR, O(models), NULL, "model file: /models/uplift and /models/mf required; segments, propensity, "
     "elasticity used when present", 0, 0},
    {"out", MKT_OPT_STR, O(out), NULL, "strategy file to write (HDF5, group /strategy)", 0, 0},
    {"csv", MKT_OPT_STR, O(csv), NULL, "also write one CSV row per user to this file", 0, 0},
    {"budget", MKT_OPT_STR, O(budget), NULL, "total expected promotion cost allowed (>= 0, or inf for no limit)", 0, 0},
    {"truth", MKT_OPT_STR, O(truth), NULL, "a mkt gen store with /truth: also report the true value of every policy", 0, 0},
    {"k", MKT_OPT_INT, O(k), "5", "recommended items per user", 1, 1000},
    {"max-per-category", MKT_OPT_INT, O(max_per_category), "2", "at most this many recommended items of one category (0: no limit)", 0, 1000},
    {"min-days-since-purchase", MKT_OPT_DOUBLE, O(min_days_since_purchase), "0", "no promotion to users who bought in the last X days (0: no rule)", 0, 36600},
    {"min-margin", MKT_OPT_DOUBLE, O(min_margin), "0", "minimum margin rate of a redeemed order after the promotion", -10, 1},
    {"arm-costs", MKT_OPT_STR, O(arm_costs), NULL, "promotion costs: NAME=KIND:VALUE[:REDEEM],... with KIND percent, coupon, "
     "shipping or contact (default: derived from the arm names)", 0, 0},
    {"shipping-cost", MKT_OPT_DOUBLE, O(shipping_cost), "5", "what the shop pays per order shipped free", 0, 1e9},
    {"contact-cost", MKT_OPT_DOUBLE, O(contact_cost), "0", "cost per user sent any promotion", 0, 1e9},
    {"margin-rate", MKT_OPT_DOUBLE, O(margin_rate), "-1", "margin on gross sales (negative: 1 - sum cost / sum price of the catalogue)", -1, 0.999999},
    {"spend-effect", MKT_OPT_STR, O(spend_effect), "conversion", "incremental spend from the conversion uplift x the "
     "user's expected basket (conversion) or from the uplift model's spend effect (model)", 0, 0},
    {"effects", MKT_OPT_STR, O(effects), "shrunk", "per-user effects: shrunk (the uplift model's features and l2 "
     "refitted as a T-learner on every campaign row, each user's effect shrunk toward the arm mean by its refit "
     "variance; intervals from the refits) or model (the coefficients of /models/uplift as they are; intervals from "
     "a bootstrap of the users)", 0, 0},
    {"refits", MKT_OPT_INT, O(refits), "30", "refits of the effect model on Poisson-reweighted users (effects = shrunk)", 2, 10000},
    {"pricing", MKT_OPT_STR, O(pricing), "elasticity", "price rule: elasticity (category elasticity, interest rule when "
     "missing) or interest (base + interest_k * (1 - interest / max interest))", 0, 0},
    {"min-factor", MKT_OPT_DOUBLE, O(min_factor), "0.8", "lowest price as a share of the list price", 0.01, 100},
    {"max-factor", MKT_OPT_DOUBLE, O(max_factor), "1.2", "highest price as a share of the list price", 0.01, 100},
    {"interest-k", MKT_OPT_DOUBLE, O(interest_k), "-1", "k of the interest price rule (currency units)", -1e9, 1e9},
    {"template", MKT_OPT_STR, O(template_text), DEFAULT_TEMPLATE, "message template: {user} {segment} {arm} {discount} "
     "{items} {item1}..{itemK} {price1}..{priceK}; {{ and }} for braces", 0, 0},
    {"template-none", MKT_OPT_STR, O(template_none), NULL, "template for users without a promotion (default: template)", 0, 0},
    {"bootstrap", MKT_OPT_INT, O(bootstrap), "100", "bootstrap replicates of the totals over users (effects = model)", 0, 100000},
    {"seed", MKT_OPT_INT, O(seed), "1", "seed of the refit and bootstrap weights", 0, 0},
    {"curve-points", MKT_OPT_INT, O(curve_points), "20", "budgets in the budget curve", 2, 10000},
    {"bisection-steps", MKT_OPT_INT, O(bisection_steps), "100", "at most this many bisection steps (allreduces)", 2, 10000},
    {"metrics-out", MKT_OPT_STR, O(metrics_out), NULL, "write what the stage did as JSON to this file", 0, 0},
    MKT_OPT_END};

static strategy_cli strategy_values;

static int run_strategy(void *p, MPI_Comm comm)
{
    strategy_cli *o = p;
    if (!o->store || !o->models || !o->out)
        mkt_fail_all(MKT_EXIT_USAGE, "strategy: --store STORE.h5, --models MODEL.h5 and --out STRATEGY.h5 are required");
    if (!o->budget)
        mkt_fail_all(MKT_EXIT_USAGE, "strategy: --budget B is required (total expected promotion cost; inf: no limit)");
    mkt_strategy_options s;
    memset(&s, 0, sizeof s);
    if (!strcmp(o->budget, "inf") || !strcmp(o->budget, "none"))
        s.budget = INFINITY;
    else if (mkt_parse_double(o->budget, &s.budget) != 0 || !(s.budget >= 0))
        mkt_fail_all(MKT_EXIT_USAGE, "strategy: budget: must be a number >= 0 or inf, not '%s'", o->budget);
    s.store = o->store;
    s.models = o->models;
    s.out = o->out;
    s.csv = o->csv;
    s.truth = o->truth;
    s.k = (int)o->k;
    s.max_per_category = (int)o->max_per_category;
    s.min_days_since_purchase = o->min_days_since_purchase;
    s.min_margin = o->min_margin;
    s.arm_costs = o->arm_costs;
    s.shipping_cost = o->shipping_cost;
    s.contact_cost = o->contact_cost;
    s.margin_rate = o->margin_rate;
    s.spend_effect = o->spend_effect;
    if (!o->effects || (strcmp(o->effects, "shrunk") != 0 && strcmp(o->effects, "model") != 0))
        mkt_fail_all(MKT_EXIT_USAGE, "strategy: effects: must be shrunk or model, not '%s'", o->effects ? o->effects : "");
    s.shrunk = strcmp(o->effects, "shrunk") == 0;
    s.refits = (int)o->refits;
    s.pricing = o->pricing;
    s.min_factor = o->min_factor;
    s.max_factor = o->max_factor;
    s.interest_k = o->interest_k;
    s.template_text = o->template_text;
    s.template_none = o->template_none;
    s.bootstrap = (int)o->bootstrap;
    s.seed = (uint64_t)o->seed;
    s.curve_points = (int)o->curve_points;
    s.max_steps = (int)o->bisection_steps;
    json_t *m = mkt_metrics_new("strategy");
    int rc = mkt_strategy_run(&s, comm, m);
    mkt_metrics_write(m, o->metrics_out, comm);
    json_decref(m);
    return rc;
}

const mkt_command mkt_cmd_strategy = {
    .name = "strategy",
    .usage = "mkt strategy --store S --models M --budget B --out strategy.h5 [--csv strategy.csv] [--truth generated.h5]",
    .description = "Write a marketing strategy for every user (segment, top-K unseen items with category diversity, personalised "
                   "prices, the promotion with the best expected incremental profit or none, under a global budget found by "
                   "distributed bisection of one Lagrange multiplier, a message) and predict its effect beside three reference "
                   "policies, with bootstrap intervals and off-policy estimates; identical on any rank count.",
    .opts = strategy_opts,
    .values = &strategy_values,
    .values_size = sizeof strategy_values,
    .run = run_strategy,
};
