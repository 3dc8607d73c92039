/* serve_fanout.h — the MPI side of `mkt serve`: the models every rank holds
 * while serving, the fan-out of a batch of prediction requests to the ranks
 * that own the data with the merge of their answers on rank 0, and the
 * reload of retrained models between batches.
 *
 * Ownership: user u is answered by mkt_block_owner(u, U, P) (uplift row,
 * segment, score, propensity, strategy row); recommend and similar are
 * scored by every rank over its own item block, each rank returns its top k,
 * rank 0 merges (ties: lower item index first, so the answer does not depend
 * on the rank count).
 *
 * Models are held in a "model set" (everything read from the model file and
 * the strategy file).  A reload builds a second set in bounded steps that
 * rank 0 interleaves with batches; every rank swaps to the new set at the
 * same step, between two batches (docs/protocol.md, "Reload").
 * Code: stages/serve_models.c (what a rank holds, loading and reload of a
 * model set), stages/serve_fanout.c (the answers, fan-out and merge).
 * Must not: touch ZeroMQ or parse client JSON (stages/gateway.c, io/protocol.c). */
#ifndef MKT_SERVE_FANOUT_H
#define MKT_SERVE_FANOUT_H

#include <jansson.h>
#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "protocol.h"

/* One unit of work, as broadcast to every rank: op (an mkt_op), k, dense
 * user index (-1: unknown user, cold start), dense item index (-1: none). */
typedef struct {
    int64_t op, k, user, item;
} mkt_work;

typedef struct mkt_serve_model mkt_serve_model;

/* Collective. Open the store, load the model file and (when not NULL) the
 * strategy file on every rank.  Fails with mkt_fail_all when they are unusable. */
mkt_serve_model *mkt_serve_model_open(const char *store, const char *models, const char *strategy, MPI_Comm comm);
/* Collective. */
void mkt_serve_model_close(mkt_serve_model *m);

/* Rank 0 only: dense index of an external id, -1 when unknown. */
int64_t mkt_serve_user_index(const mkt_serve_model *m, const char *user);
int64_t mkt_serve_item_index(const mkt_serve_model *m, const char *item);
/* Whether the current models answer an op (same on every rank). */
int mkt_serve_has_model(const mkt_serve_model *m, mkt_op op);
/* The loaded models and their versions, for stats (rank 0). */
json_t *mkt_serve_model_info(const mkt_serve_model *m);

/* Collective (rank 0 calls it with the batch, the others from
 * mkt_serve_worker_loop).  results (rank 0) receives n new objects: the
 * op's answer fields, or {"error": {"code", "message"}}. */
void mkt_serve_fanout(mkt_serve_model *m, const mkt_work *work, int64_t n, json_t **results, MPI_Comm comm);

/* Rank 0, collective with the workers: start loading a new model set from
 * models (NULL: the current model file path) and strategy (NULL: the current
 * strategy file, if any).  The files are checked and opened, shapes are
 * validated and buffers allocated; nothing is read in bulk yet.  Returns 0,
 * or -1 with the reason in why (the current models stay in service). */
int mkt_serve_reload_begin(mkt_serve_model *m, const char *models, const char *strategy, char *why, size_t len,
                           MPI_Comm comm);
/* Rank 0, collective with the workers: read the next piece, at most budget
 * bytes per rank (one row at least).  When every rank has everything, all
 * swap to the new set in this call; returns 1 then, else 0. */
int mkt_serve_reload_step(mkt_serve_model *m, int64_t budget, MPI_Comm comm);
/* Whether a reload is under way (rank 0). */
int mkt_serve_reloading(const mkt_serve_model *m);
/* Version counter of the current model set: 1 at start, +1 per reload. */
int64_t mkt_serve_version(const mkt_serve_model *m);

/* Rank 0: tell the other ranks to leave mkt_serve_worker_loop. Collective with it. */
void mkt_serve_stop_workers(MPI_Comm comm);
/* Ranks other than 0: wait (without spinning a core) for batches and reload
 * steps and answer them until rank 0 stops the workers. */
void mkt_serve_worker_loop(mkt_serve_model *m, MPI_Comm comm);

#endif
