/* cmd_strategy.c — the `mkt strategy` command (job-file section [strategy]):
 * its option table, which fills the stage's options (stages/strategy_stage.h)
 * and the policy's config (src/strategy.h) directly; the numeric defaults are
 * strat_config_defaults', the checks strat_check_config's.  Must not compute
 * anything itself. */
#include <stddef.h>

#include "iocheck.h"
#include "commands.h"
#include "metrics_json.h"
#include "strategy_stage.h"

typedef struct {
    mkt_strategy_options s;
    char *budget, *effects; /* texts: "inf", "shrunk" ... (strat_parse_budget, strat_parse_effects) */
    char *metrics_out;
} strategy_values_t;

#define O(f) offsetof(strategy_values_t, f)
static const mkt_opt strategy_opts[] = {
    {"store", MKT_OPT_STR, O(s.store), NULL, "store with events, items and the randomized campaign log", 0, 0},
    {"models", MKT_OPT_STR, O(s.models), NULL, "model file: /models/uplift and /models/mf required; segments, propensity, "
     "elasticity used when present", 0, 0},
    {"out", MKT_OPT_STR, O(s.out), NULL, "strategy file to write (HDF5, group /strategy)", 0, 0},
    {"csv", MKT_OPT_STR, O(s.csv), NULL, "also write one CSV row per user to this file", 0, 0},
    {"budget", MKT_OPT_STR, O(budget), NULL, "total expected promotion cost allowed (>= 0, or inf for no limit)", 0, 0},
    {"truth", MKT_OPT_STR, O(s.truth), NULL, "a mkt gen store with /truth: also report the true value of every policy", 0, 0},
    {"k", MKT_OPT_I32, O(s.config.k), NULL, "recommended items per user", 1, 1000},
    {"max-per-category", MKT_OPT_I32, O(s.config.max_per_category), NULL, "at most this many recommended items of one category (0: no limit)", 0, 1000},
    {"min-days-since-purchase", MKT_OPT_DOUBLE, O(s.config.min_days_since_purchase), NULL, "no promotion to users who bought in the last X days (0: no rule)", 0, 36600},
    {"min-margin", MKT_OPT_DOUBLE, O(s.config.min_margin), NULL, "minimum margin rate of a redeemed order after the promotion", -10, 1},
    {"arm-costs", MKT_OPT_STR, O(s.arm_costs), NULL, "promotion costs: NAME=KIND:VALUE[:REDEEM],... with KIND percent, coupon, "
     "shipping or contact (default: derived from the arm names)", 0, 0},
    {"shipping-cost", MKT_OPT_DOUBLE, O(s.config.shipping_cost), NULL, "what the shop pays per order shipped free", 0, 1e9},
    {"contact-cost", MKT_OPT_DOUBLE, O(s.config.contact_cost), NULL, "cost per user sent any promotion", 0, 1e9},
    {"margin-rate", MKT_OPT_DOUBLE, O(s.config.margin_rate), NULL, "margin on gross sales (negative: 1 - sum cost / sum price of the catalogue)", -1, 0.999999},
    {"spend-effect", MKT_OPT_STR, O(s.config.spend_effect), STRAT_DEFAULT_SPEND_EFFECT, "incremental spend from the conversion uplift x the "
     "user's expected basket (conversion) or from the uplift model's spend effect (model)", 0, 0},
    {"effects", MKT_OPT_STR, O(effects), "shrunk", "per-user effects: shrunk (the uplift model's features and l2 "
     "refitted as a T-learner on every campaign row, each user's effect shrunk toward the arm mean by its refit "
     "variance; intervals from the refits) or model (the coefficients of /models/uplift as they are; intervals from "
     "a bootstrap of the users)", 0, 0},
    {"refits", MKT_OPT_I32, O(s.config.refits), NULL, "refits of the effect model on Poisson-reweighted users (effects = shrunk)", 2, 10000},
    {"pricing", MKT_OPT_STR, O(s.config.pricing), STRAT_DEFAULT_PRICING, "price rule: elasticity (category elasticity, interest rule when "
     "missing) or interest (base + interest_k * (1 - interest / max interest))", 0, 0},
    {"min-factor", MKT_OPT_DOUBLE, O(s.config.min_factor), NULL, "lowest price as a share of the list price", 0.01, 100},
    {"max-factor", MKT_OPT_DOUBLE, O(s.config.max_factor), NULL, "highest price as a share of the list price", 0.01, 100},
    {"interest-k", MKT_OPT_DOUBLE, O(s.config.interest_k), NULL, "k of the interest price rule (currency units)", -1e9, 1e9},
    {"template", MKT_OPT_STR, O(s.config.template_text), STRAT_DEFAULT_TEMPLATE, "message template: {user} {segment} {arm} {discount} "
     "{items} {item1}..{itemK} {price1}..{priceK}; {{ and }} for braces", 0, 0},
    {"template-none", MKT_OPT_STR, O(s.config.template_none), NULL, "template for users without a promotion (default: template)", 0, 0},
    {"bootstrap", MKT_OPT_I32, O(s.config.bootstrap), NULL, "bootstrap replicates of the totals over users (effects = model)", 0, 100000},
    {"seed", MKT_OPT_U64, O(s.config.seed), NULL, "seed of the refit and bootstrap weights", 0, 0},
    {"curve-points", MKT_OPT_I32, O(s.config.curve_points), NULL, "budgets in the budget curve", 2, 10000},
    {"bisection-steps", MKT_OPT_I32, O(s.config.max_steps), NULL, "at most this many bisection steps (allreduces)", 2, 10000},
    {"metrics-out", MKT_OPT_STR, O(metrics_out), NULL, "write what the stage did as JSON to this file", 0, 0},
    MKT_OPT_END};

static strategy_values_t strategy_values;

static void defaults(void *p)
{
    mkt_strategy_options_init(&((strategy_values_t *)p)->s);
}

static int run_strategy(void *p, MPI_Comm comm)
{
    strategy_values_t *o = p;
    /* the two options given as words; a missing budget stays NAN, which the stage reports */
    const char *msg = o->budget ? strat_parse_budget(o->budget, &o->s.config.budget) : NULL;
    if (!msg)
        msg = strat_parse_effects(o->effects, &o->s.config.shrunk);
    if (msg)
        mkt_fail_all(MKT_EXIT_USAGE, "strategy: %s", msg);
    json_t *m = mkt_metrics_new("strategy");
    int rc = mkt_strategy_run(&o->s, comm, m);
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
    .defaults = defaults,
};
