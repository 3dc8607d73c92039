/* campaign_targets.h — observational campaign logs at ingest (`mkt ingest
 * --campaign LIST --control untargeted`): a list of targeted users with no
 * randomized control becomes a campaign table of every store user.  See
 * docs/store.md ("Observational campaigns"). */
#ifndef MKT_CAMPAIGN_TARGETS_H
#define MKT_CAMPAIGN_TARGETS_H

#include <hdf5.h>
#include <mpi.h>
#include <stdint.h>

typedef struct {
    int64_t line;      /* line of the log (ties: the first line of a user wins) */
    int32_t user;      /* dense user index */
    int32_t treatment; /* the offer, 1..n_arms-1 (0 is "untargeted") */
    int32_t redeemed;  /* the log's redemption flag (0 without one) */
} mkt_target_row;

/* Collective.  rows (n_local, on any rank) are the targeted users.  Writes
 * /campaigns with one row per store user: a targeted user gets its offer
 * (the first line of a user listed twice; the others are counted), every
 * other user arm 0 ("untargeted").  Outcomes from the user's events in
 * [start_ts, end_ts): visit = any event, conversion = any purchase, spend =
 * the purchases' amounts; /campaigns/redeemed from the log (0 for the
 * untargeted) when has_redeemed.  Attributes from the events before
 * start_ts (pre_purchases, pre_spend, pre_days_since_purchase, pre_active_days,
 * pre_events).  Also /ids/treatments, /campaigns/attr_names and the
 * attributes control = "untargeted", design = "observational", start_ts,
 * end_ts of /campaigns.  Returns the number of rows written (the user count). */
int64_t mkt_campaign_from_targets(hid_t file, const mkt_target_row *rows, int64_t n_local, char *const *arm_names,
                                  int n_arms, int64_t n_users, int64_t start_ts, int64_t end_ts, int has_redeemed,
                                  MPI_Comm comm);

#endif
