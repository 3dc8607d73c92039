/* campaign_targets.c — an observational campaign from a list of targeted
 * users (see campaign_targets.h): the comparison group is every store user
 * the shop did not target, outcomes come from each user's events in the
 * campaign window and attributes from the events before it.  Owns only that
 * table; the CSV reading is stages/ingest_campaign.c's, the /campaigns layout
 * eventstore.c's.  Every value is a function of the user's own events, so
 * the table is identical for any rank count. */
#include "campaign_targets.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "iocheck.h"
#include "events.h"
#include "eventstore.h"
#include "h5store.h"
#include "mkt_types.h"
#include "par.h"
#include "schema.h"

#define N_PRE 5
static const char *const pre_names[N_PRE] = {"pre_purchases", "pre_spend", "pre_days_since_purchase",
                                             "pre_active_days", "pre_events"};

static int target_cmp(const void *a, const void *b)
{
    const mkt_target_row *x = a, *y = b;
    if (x->user != y->user)
        return x->user < y->user ? -1 : 1;
    return x->line < y->line ? -1 : x->line > y->line;
}

/* Collective.  The targeted rows sent to the ranks that own their users,
 * sorted by (user, line); *nrecv of them. */
static mkt_target_row *targets_to_owners(const mkt_target_row *rows, int64_t n_local, int64_t n_users,
                                         int64_t *nrecv, MPI_Comm comm)
{
    int nranks;
    MKT_MPI(MPI_Comm_size(comm, &nranks));
    mkt_target_row *send = mkt_xmalloc(sizeof(mkt_target_row) * (size_t)(n_local > 0 ? n_local : 1));
    int64_t *counts = mkt_xcalloc((size_t)nranks, sizeof(int64_t));
    for (int64_t i = 0; i < n_local; i++)
        counts[mkt_block_owner(rows[i].user, n_users, nranks)]++;
    int64_t *pos = mkt_xcalloc((size_t)nranks, sizeof(int64_t));
    for (int r = 1; r < nranks; r++)
        pos[r] = pos[r - 1] + counts[r - 1];
    for (int64_t i = 0; i < n_local; i++)
        send[pos[mkt_block_owner(rows[i].user, n_users, nranks)]++] = rows[i];
    *nrecv = 0;
    mkt_target_row *mine = mkt_alltoallv_elems(send, counts, sizeof(mkt_target_row), nrecv, comm);
    free(send);
    free(counts);
    free(pos);
    qsort(mine, (size_t)*nrecv, sizeof(mkt_target_row), target_cmp);
    return mine;
}

/* The events of the users of block b, by (user, ts, order), as the store
 * holds them. */
typedef struct {
    int64_t *indptr, e0;
    mkt_event_cols cols;
    const int64_t *ts; /* the columns of cols */
    const int32_t *type;
    const double *value;
} user_events;

static void read_user_events(hid_t file, mkt_block b, user_events *ev)
{
    int64_t nb = b.end - b.begin;
    if (!mkt_h5_exists(file, MKT_EVENTS_BY_USER_INDPTR))
        mkt_fail_all(MKT_EXIT_USAGE, "ingest: --control untargeted takes the outcomes from the shop's events: give "
                     "them with --format events|transactions --input LOG and the list with --campaign LIST");
    ev->indptr = mkt_events_indptr(file, MKT_BY_USER, b.begin, nb);
    int64_t e0 = ev->indptr[0], ne = ev->indptr[nb] - e0;
    ev->e0 = e0;
    memset(&ev->cols, 0, sizeof ev->cols);
    mkt_events_read(file, MKT_BY_USER, MKT_COL_TS | MKT_COL_TYPE | MKT_COL_VALUE, e0, ne, &ev->cols);
    ev->ts = ev->cols.ts;
    ev->type = ev->cols.type;
    ev->value = ev->cols.value;
}

/* User u of the block (local index): outcomes from its events in
 * [start_ts, end_ts) into r, the N_PRE attributes from those before into a. */
static void user_outcomes(const user_events *ev, int64_t u, int64_t start_ts, int64_t end_ts, mkt_campaign_row *r,
                          double *a)
{
    const int64_t *ts = ev->ts;
    const int32_t *type = ev->type;
    const double *value = ev->value;
    int64_t e0 = ev->e0;
    double pre_buy = 0, pre_spend = 0, pre_events = 0, pre_days = 0;
    int64_t last_buy = INT64_MIN, last_day = INT64_MIN;
    for (int64_t j = ev->indptr[u] - e0; j < ev->indptr[u + 1] - e0; j++) { /* by (ts, order) */
        if (ts[j] >= start_ts && ts[j] < end_ts) {
            r->visit = 1;
            if (type[j] == MKT_EV_PURCHASE) {
                r->conversion = 1;
                r->spend += value[j];
            }
        } else if (ts[j] < start_ts) {
            pre_events += 1;
            int64_t day = ts[j] >= 0 ? ts[j] / 86400 : (ts[j] - 86399) / 86400;
            if (day != last_day)
                pre_days += 1;
            last_day = day;
            if (type[j] == MKT_EV_PURCHASE) {
                pre_buy += 1;
                pre_spend += value[j];
                last_buy = ts[j];
            }
        }
    }
    a[0] = pre_buy;
    a[1] = pre_spend;
    a[2] = last_buy == INT64_MIN ? NAN : (double)(start_ts - last_buy) / 86400.0; /* NaN: never bought */
    a[3] = pre_days;
    a[4] = pre_events;
}

int64_t mkt_campaign_from_targets(hid_t file, const mkt_target_row *rows, int64_t n_local, char *const *arm_names,
                                  int n_arms, int64_t n_users, int64_t start_ts, int64_t end_ts, int has_redeemed,
                                  MPI_Comm comm)
{
    int rank, nranks;
    MKT_MPI(MPI_Comm_rank(comm, &rank));
    MKT_MPI(MPI_Comm_size(comm, &nranks));
    /* the targeted users to the ranks that own them */
    int64_t nrecv;
    mkt_target_row *mine = targets_to_owners(rows, n_local, n_users, &nrecv, comm);

    mkt_block b = mkt_block_of(n_users, nranks, rank);
    int64_t nb = b.end - b.begin;
    int32_t *arm = mkt_xcalloc((size_t)(nb + 1), sizeof(int32_t)),
            *redeemed = mkt_xcalloc((size_t)(nb + 1), sizeof(int32_t));
    int64_t dup = 0;
    for (int64_t i = 0; i < nrecv; i++) {
        int64_t u = mine[i].user - b.begin;
        if (i > 0 && mine[i].user == mine[i - 1].user) {
            dup++;
            continue;
        }
        arm[u] = mine[i].treatment;
        redeemed[u] = mine[i].redeemed != 0;
    }
    free(mine);

    /* this rank's users' events, as the store holds them */
    user_events ev;
    read_user_events(file, b, &ev);
    mkt_campaign_row *out = mkt_xcalloc((size_t)(nb + 1), sizeof(mkt_campaign_row));
    double *attrs = mkt_xcalloc((size_t)(nb + 1) * N_PRE, sizeof(double));
    int64_t tally[4] = {0, 0, 0, 0}; /* targeted, targeted converted, untargeted, untargeted converted */
    int64_t redeemed_n = 0;
    for (int64_t u = 0; u < nb; u++) {
        mkt_campaign_row *r = &out[u];
        r->user = (int32_t)(b.begin + u);
        r->order = b.begin + u;
        r->treatment = arm[u];
        user_outcomes(&ev, u, start_ts, end_ts, r, attrs + u * N_PRE);
        tally[arm[u] ? 0 : 2]++;
        tally[arm[u] ? 1 : 3] += r->conversion;
        redeemed_n += redeemed[u];
    }
    free(ev.indptr);
    mkt_event_cols_free(&ev.cols);
    free(arm);
    MKT_MPI(MPI_Allreduce(MPI_IN_PLACE, tally, 4, MPI_INT64_T, MPI_SUM, comm));
    MKT_MPI(MPI_Allreduce(MPI_IN_PLACE, &dup, 1, MPI_INT64_T, MPI_SUM, comm));
    MKT_MPI(MPI_Allreduce(MPI_IN_PLACE, &redeemed_n, 1, MPI_INT64_T, MPI_SUM, comm));
    if (tally[2] == 0)
        mkt_fail_all(MKT_EXIT_USAGE, "ingest: --control untargeted: all %lld store users are in the targeted list, so "
                     "there is no comparison group; ingest the shop's events (--format events|transactions --input "
                     "LOG) together with the list (--campaign LIST)", (long long)tally[0]);
    int64_t stored = mkt_store_write_campaigns(file, &out, &attrs, nb, N_PRE, n_users, comm);
    /* one row per user in user order, so row u is user u */
    if (has_redeemed)
        mkt_h5_write_rows_at(file, MKT_CAMPAIGNS_REDEEMED, H5T_NATIVE_INT32, redeemed, b.begin, nb, n_users, 0, comm);
    free(redeemed);
    mkt_h5_write_strings(file, MKT_IDS_TREATMENTS, arm_names, rank == 0 ? n_arms : 0, comm);
    mkt_h5_write_strings(file, MKT_CAMPAIGNS_ATTR_NAMES, (char *const *)pre_names, rank == 0 ? N_PRE : 0, comm);
    mkt_h5_attr_set_string(file, MKT_CAMPAIGNS, "control", arm_names[0]);
    mkt_h5_attr_set_string(file, MKT_CAMPAIGNS, "design", "observational");
    mkt_h5_attr_set_int(file, MKT_CAMPAIGNS, "start_ts", start_ts);
    mkt_h5_attr_set_int(file, MKT_CAMPAIGNS, "end_ts", end_ts);
    mkt_log("ingest", "observational campaign: %lld targeted users (%lld converted in the window), %lld untargeted "
                      "users as the comparison group (%lld converted); %lld repeated targeted rows ignored%s",
            (long long)tally[0], (long long)tally[1], (long long)tally[2], (long long)tally[3], (long long)dup,
            has_redeemed ? "" : "; no redemption column");
    if (has_redeemed)
        mkt_log("ingest", "observational campaign: %lld of %lld targeted users redeemed (/campaigns/redeemed)",
                (long long)redeemed_n, (long long)tally[0]);
    return stored;
}
