/* checkpoint.h — checkpoints of iterative training, --resume, and
 * preemption by SIGTERM / SIGUSR1 (docs/checkpoints.md).
 *
 * A training stage (ALS, the propensity optimizers...) uses it like this:
 *
 *   mkt_ckpt ck;  mkt_ckpt_init(&ck, ...);        options, default path
 *   mkt_ckpt_signals_install();                    flag-only handlers
 *   mkt_ckpt_config cfg;  add every key the run's result depends on
 *   hid_t f = mkt_ckpt_open_resume(&ck, "mf", &cfg, &it, comm);
 *   if (f >= 0) { read the state; mkt_h5_close(f); }
 *   for each iteration it:
 *       ...
 *       int act = mkt_ckpt_step(&ck, it, total, comm);   one small allreduce
 *       if (act) { f = mkt_ckpt_begin(&ck, &w, "mf", it, &cfg, comm);
 *                  write the state; mkt_ckpt_commit(&w); }
 *       if (act == MKT_CKPT_STOP) { mkt_ckpt_preempted(&ck, it); return MKT_EXIT_PREEMPTED; }
 *   write the model; mkt_ckpt_remove(&ck, comm);
 *
 * Owns: the signal flag and its agreement across ranks, the checkpoint file
 * envelope (format "mkt-checkpoint", kind, iteration, configuration and its
 * fingerprint), tmp + fsync + rename writes (through h5store), checksummed
 * arrays, the test hooks.  Must not know what a stage's state means. */
#ifndef MKT_CHECKPOINT_H
#define MKT_CHECKPOINT_H

#include <hdf5.h>
#include <jansson.h>
#include <mpi.h>
#include <stdint.h>

#include "h5store.h"

#define MKT_CKPT_EVERY_DEFAULT 5

typedef struct {
    char *path;        /* checkpoint file (malloc'd) */
    int every;         /* checkpoint every `every` iterations; 0: only when signalled */
    int resume;        /* continue from `path` when it exists */
    const char *stage; /* log prefix */
    int written;       /* checkpoints written by this run */
    int resumed_from;  /* iteration the run continued from (0: from scratch) */
} mkt_ckpt;

/* path NULL or "": "<out>.<model>.ckpt.h5". Fails (usage) on every < 0. */
void mkt_ckpt_init(mkt_ckpt *c, const char *stage, const char *path, const char *out, const char *model,
                   int64_t every, int resume);
void mkt_ckpt_free(mkt_ckpt *c);

/* ---- signals ---- */

/* Install SIGTERM and SIGUSR1 handlers that only set a flag (sigaction).
 * Idempotent; the previous handlers are kept for mkt_ckpt_signals_restore. */
void mkt_ckpt_signals_install(void);
void mkt_ckpt_signals_restore(void);
/* Rank-local: the signal this rank received (0: none). */
int mkt_ckpt_signal_received(void);
/* Collective. 1 on every rank when any rank has received a signal (one
 * MPI_Allreduce MAX of one int). */
int mkt_ckpt_agree_signal(MPI_Comm comm);

enum { MKT_CKPT_CONTINUE = 0, MKT_CKPT_SAVE = 1, MKT_CKPT_STOP = 2 };
/* Collective, at the end of iteration `it` (1-based) of `total`: runs the
 * test hooks, agrees on the signal flag, and says whether to go on, to write
 * a periodic checkpoint (every `every` iterations, never after the last), or
 * to write one and stop (a signal arrived). */
int mkt_ckpt_step(mkt_ckpt *c, int it, int total, MPI_Comm comm);
/* Rank 0 prints "preempted: checkpoint written to PATH at iteration I; rerun
 * with --resume" to stderr; the caller then returns MKT_EXIT_PREEMPTED. */
void mkt_ckpt_preempted(const mkt_ckpt *c, int it);

/* ---- the configuration a checkpoint belongs to ---- */

/* Ordered key = value pairs (values as exact text: doubles as the shortest
 * text that reads back as the same bits). */
typedef struct {
    json_t *obj;
} mkt_ckpt_config;

void mkt_ckpt_config_init(mkt_ckpt_config *cfg);
void mkt_ckpt_config_free(mkt_ckpt_config *cfg);
void mkt_ckpt_config_str(mkt_ckpt_config *cfg, const char *key, const char *v);
void mkt_ckpt_config_int(mkt_ckpt_config *cfg, const char *key, int64_t v);
void mkt_ckpt_config_double(mkt_ckpt_config *cfg, const char *key, double v);
/* The store as its resolved absolute path (a relative path and a symlink to
 * the same file agree). */
void mkt_ckpt_config_path(mkt_ckpt_config *cfg, const char *key, const char *path);
/* 64-bit fingerprint of the pairs in order. */
uint64_t mkt_ckpt_config_fingerprint(const mkt_ckpt_config *cfg);

/* ---- files ---- */

/* Collective.  With c->resume set and c->path present: check the file (an
 * mkt checkpoint, not truncated or corrupt, of this kind) and that it was
 * written with the same configuration — a mismatch ends the job with status
 * 2 naming the first differing key — and return it opened read-only with the
 * iteration it holds in *it (also in c->resumed_from).  Returns -1 (and
 * logs why) when the run starts from scratch: no --resume, or no file. */
hid_t mkt_ckpt_open_resume(mkt_ckpt *c, const char *kind, const mkt_ckpt_config *cfg, int *it, MPI_Comm comm);

/* Collective. Start writing checkpoint `it` under c->path.tmp. */
hid_t mkt_ckpt_begin(mkt_ckpt *c, mkt_h5out *w, const char *kind, int it, const mkt_ckpt_config *cfg,
                     MPI_Comm comm);
/* Collective. fsync and rename onto c->path; counts it in c->written. */
void mkt_ckpt_commit(mkt_ckpt *c, mkt_h5out *w);
/* Collective. Delete the checkpoint (after the final model is written). */
void mkt_ckpt_remove(const mkt_ckpt *c, MPI_Comm comm);

/* Collective. An array of rows x cols doubles that every rank holds in full
 * (global order): each rank writes its block of rows; a checksum of the
 * whole array goes with it. */
void mkt_ckpt_write_full(hid_t f, const char *name, const double *data, int64_t rows, int64_t cols,
                         MPI_Comm comm);
/* Collective. Read it back on every rank, checking shape and checksum
 * (a mismatch is a corrupt checkpoint: clear error, status 1). */
void mkt_ckpt_read_full(hid_t f, const char *path, const char *name, double *data, int64_t rows, int64_t cols);
/* Collective. A JSON value (history so far, small state) as a string dataset. */
void mkt_ckpt_write_json(hid_t f, const char *name, json_t *v, MPI_Comm comm);
/* Independent. The JSON value back (new reference), checked. */
json_t *mkt_ckpt_read_json(hid_t f, const char *path, const char *name);

#endif
