/* checkpoint.c — checkpoint files, --resume checks and the preemption flag
 * (see checkpoint.h and docs/checkpoints.md).
 *
 * Owns: flag-only SIGTERM/SIGUSR1 handlers and the per-iteration agreement,
 * the checkpoint envelope (root attributes format = "mkt-checkpoint", kind,
 * iteration, fingerprint; dataset `config` with the key = value pairs),
 * checksummed arrays, and the hidden test hooks (MKT_TEST_STOP_AFTER_ITER,
 * MKT_TEST_ITER_SLEEP_MS, MKT_TEST_PID_DIR).  Must not know what a stage's
 * state means: the stage writes and reads its own datasets. */
#include "checkpoint.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "iocheck.h"
#include "par.h"
#include "rng.h"

/* ---------- options ---------- */

void mkt_ckpt_init(mkt_ckpt *c, const char *stage, const char *path, const char *out, const char *model,
                   int64_t every, int resume)
{
    memset(c, 0, sizeof *c);
    c->stage = stage;
    if (every < 0 || every > INT_MAX)
        mkt_fail_all(MKT_EXIT_USAGE, "%s: checkpoint-every must be >= 0 (got %lld)", stage, (long long)every);
    c->every = (int)every;
    c->resume = resume;
    if (path && *path) {
        c->path = mkt_xstrdup(path);
    } else {
        if (!out || !*out)
            mkt_fail_all(MKT_EXIT_USAGE, "%s: --out MODEL.h5 is required", stage);
        size_t n = strlen(out) + strlen(model) + 16;
        c->path = mkt_xmalloc(n);
        snprintf(c->path, n, "%s.%s.ckpt.h5", out, model);
    }
}

void mkt_ckpt_free(mkt_ckpt *c)
{
    free(c->path);
    c->path = NULL;
}

/* ---------- signals ---------- */

static volatile sig_atomic_t received_signal = 0;
static int installed = 0;
static struct sigaction old_term, old_usr1;

static void on_signal(int sig) { received_signal = sig; }

void mkt_ckpt_signals_install(void)
{
    if (installed)
        return;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    if (sigaction(SIGTERM, &sa, &old_term) != 0 || sigaction(SIGUSR1, &sa, &old_usr1) != 0)
        mkt_fail("sigaction: %s", strerror(errno));
    installed = 1;
    /* test hook: once the handlers are in place every rank writes its pid,
     * so a test can signal or kill one rank */
    const char *dir = getenv("MKT_TEST_PID_DIR");
    if (dir && *dir) {
        char p[4096];
        snprintf(p, sizeof p, "%s/rank%d.pid", dir, mkt_rank());
        FILE *f = fopen(p, "w");
        if (f) {
            fprintf(f, "%ld\n", (long)getpid());
            fclose(f);
        }
    }
}

void mkt_ckpt_signals_restore(void)
{
    if (!installed)
        return;
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGUSR1, &old_usr1, NULL);
    installed = 0;
}

int mkt_ckpt_signal_received(void) { return (int)received_signal; }

int mkt_ckpt_agree_signal(MPI_Comm comm)
{
    int mine = received_signal != 0, any = 0;
    MKT_MPI(MPI_Allreduce(&mine, &any, 1, MPI_INT, MPI_MAX, comm));
    return any;
}

static long env_long(const char *name, long dflt)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return dflt;
    char *end;
    long x = strtol(v, &end, 10);
    return *end ? dflt : x;
}

int mkt_ckpt_step(mkt_ckpt *c, int it, int total, MPI_Comm comm)
{
    int rank, nranks;
    MKT_MPI(MPI_Comm_rank(comm, &rank));
    MKT_MPI(MPI_Comm_size(comm, &nranks));
    /* test hooks: a slow iteration; a real SIGUSR1 raised on the last rank
     * only (so the agreement is what stops the others) */
    long ms = env_long("MKT_TEST_ITER_SLEEP_MS", 0);
    if (ms > 0) {
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (env_long("MKT_TEST_STOP_AFTER_ITER", -1) == it && rank == nranks - 1)
        raise(SIGUSR1);
    if (mkt_ckpt_agree_signal(comm)) {
        int sig = (int)received_signal, any = 0;
        MKT_MPI(MPI_Allreduce(&sig, &any, 1, MPI_INT, MPI_MAX, comm));
        mkt_log(c->stage, "received %s: writing a checkpoint at iteration %d and stopping",
                any == SIGTERM ? "SIGTERM" : any == SIGUSR1 ? "SIGUSR1" : "a signal", it);
        return MKT_CKPT_STOP;
    }
    if (c->every > 0 && it % c->every == 0 && it < total)
        return MKT_CKPT_SAVE;
    return MKT_CKPT_CONTINUE;
}

void mkt_ckpt_preempted(const mkt_ckpt *c, int it)
{
    if (mkt_rank() == 0) {
        fprintf(stderr, "preempted: checkpoint written to %s at iteration %d; rerun with --resume\n", c->path, it);
        fflush(stderr);
    }
}

/* ---------- configuration ---------- */

void mkt_ckpt_config_init(mkt_ckpt_config *cfg) { cfg->obj = json_object(); }

void mkt_ckpt_config_free(mkt_ckpt_config *cfg)
{
    json_decref(cfg->obj);
    cfg->obj = NULL;
}

void mkt_ckpt_config_str(mkt_ckpt_config *cfg, const char *key, const char *v)
{
    json_object_set_new(cfg->obj, key, json_string(v ? v : ""));
}

void mkt_ckpt_config_int(mkt_ckpt_config *cfg, const char *key, int64_t v)
{
    char b[32];
    snprintf(b, sizeof b, "%lld", (long long)v);
    mkt_ckpt_config_str(cfg, key, b);
}

void mkt_ckpt_config_double(mkt_ckpt_config *cfg, const char *key, double v)
{
    /* the shortest text that reads back as the same double (0.03, not 0.029999999999999999) */
    char b[40];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(b, sizeof b, "%.*g", prec, v);
        if (strtod(b, NULL) == v)
            break;
    }
    mkt_ckpt_config_str(cfg, key, b);
}

void mkt_ckpt_config_path(mkt_ckpt_config *cfg, const char *key, const char *path)
{
    char *r = path ? realpath(path, NULL) : NULL;
    mkt_ckpt_config_str(cfg, key, r ? r : path);
    free(r);
}

static uint64_t hash_bytes(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        h = mkt_hash64(h ^ w);
    }
    uint64_t w = 0;
    memcpy(&w, p + i, n - i);
    return mkt_hash64(h ^ w ^ ((uint64_t)n << 56));
}

uint64_t mkt_ckpt_config_fingerprint(const mkt_ckpt_config *cfg)
{
    uint64_t h = UINT64_C(0x636b707463666721);
    const char *key;
    json_t *v;
    json_object_foreach(cfg->obj, key, v) {
        h = hash_bytes(h, key, strlen(key) + 1);
        const char *s = json_string_value(v);
        h = hash_bytes(h, s, strlen(s) + 1);
    }
    return h;
}

/* ---------- files ---------- */

static json_t *read_json_local(hid_t f, const char *name);

/* Rank 0's verdict (ok, or a message) made known to every rank; on failure
 * every rank ends with `status`. */
static void agree_or_fail(int ok, const char *why, int status, MPI_Comm comm)
{
    MKT_MPI(MPI_Bcast(&ok, 1, MPI_INT, 0, comm));
    if (ok)
        return;
    char msg[2048];
    snprintf(msg, sizeof msg, "%s", why);
    MKT_MPI(MPI_Bcast(msg, sizeof msg, MPI_CHAR, 0, comm));
    mkt_fail_all(status, "%s", msg);
}

/* Rank 0: compare the stored configuration with this run's; 0 and a message
 * naming the first differing key when they differ. */
static int config_matches(const char *path, json_t *stored, const mkt_ckpt_config *cfg, char *why, size_t len)
{
    const char *key;
    json_t *v;
    json_object_foreach(cfg->obj, key, v) {
        json_t *s = json_object_get(stored, key);
        const char *now = json_string_value(v), *then = s ? json_string_value(s) : NULL;
        if (!then || strcmp(now, then) != 0) {
            snprintf(why, len,
                     "cannot resume from checkpoint %s: it was written with %s = %s, this run has %s = %s "
                     "(use the same options, or delete the checkpoint / run without --resume to start over)",
                     path, key, then ? then : "(absent)", key, now);
            return 0;
        }
    }
    json_object_foreach(stored, key, v) {
        if (!json_object_get(cfg->obj, key)) {
            snprintf(why, len, "cannot resume from checkpoint %s: it has a setting %s = %s this run does not know",
                     path, key, json_string_value(v) ? json_string_value(v) : "?");
            return 0;
        }
    }
    return 1;
}

hid_t mkt_ckpt_open_resume(mkt_ckpt *c, const char *kind, const mkt_ckpt_config *cfg, int *it, MPI_Comm comm)
{
    int rank;
    MKT_MPI(MPI_Comm_rank(comm, &rank));
    *it = 0;
    c->resumed_from = 0;
    int exists = 0;
    if (rank == 0)
        exists = access(c->path, F_OK) == 0;
    MKT_MPI(MPI_Bcast(&exists, 1, MPI_INT, 0, comm));
    if (!c->resume) {
        if (exists)
            mkt_log(c->stage, "checkpoint %s exists but --resume is not given: starting from scratch (it will be "
                              "replaced)", c->path);
        return -1;
    }
    if (!exists) {
        mkt_log(c->stage, "no checkpoint %s: starting from scratch", c->path);
        return -1;
    }
    /* rank 0 checks everything serially first, so every problem is one clear
     * message and a clean exit, never an abort in a collective open */
    int ok = 1, status = MKT_EXIT_ERROR, iter = 0;
    char why[2048] = "";
    if (rank == 0) {
        char d[1536];
        if (!mkt_h5_check(c->path, d, sizeof d)) {
            ok = 0;
            snprintf(why, sizeof why, "cannot resume: checkpoint %s is unreadable or corrupt (%s); delete it to "
                                      "start from scratch", c->path, d);
        } else {
            hid_t f = H5Fopen(c->path, H5F_ACC_RDONLY, H5P_DEFAULT);
            char *fmt = f >= 0 ? mkt_h5_attr_get_string(f, ".", "format") : NULL;
            char *k = f >= 0 ? mkt_h5_attr_get_string(f, ".", "kind") : NULL;
            int64_t v = f >= 0 ? mkt_h5_attr_get_int(f, ".", "iteration", -1) : -1;
            json_t *stored = NULL;
            if (f < 0 || !fmt || strcmp(fmt, "mkt-checkpoint") != 0) {
                ok = 0;
                snprintf(why, sizeof why, "cannot resume: %s is not an mkt checkpoint (format %s)", c->path,
                         fmt ? fmt : "missing");
            } else if (!k || strcmp(k, kind) != 0) {
                ok = 0;
                snprintf(why, sizeof why, "cannot resume: %s is a checkpoint of %s training, not of %s", c->path,
                         k ? k : "unknown", kind);
            } else if (v < 0 || v > INT_MAX) {
                ok = 0;
                snprintf(why, sizeof why, "cannot resume: checkpoint %s has no valid iteration attribute", c->path);
            } else if (!(stored = read_json_local(f, "config")) || !json_is_object(stored)) {
                ok = 0;
                snprintf(why, sizeof why, "cannot resume: checkpoint %s has no readable configuration; delete it",
                         c->path);
            } else if (!config_matches(c->path, stored, cfg, why, sizeof why)) {
                ok = 0;
                status = MKT_EXIT_USAGE;
            } else if ((uint64_t)mkt_h5_attr_get_int(f, ".", "fingerprint", 0) !=
                       mkt_ckpt_config_fingerprint(cfg)) {
                ok = 0;
                snprintf(why, sizeof why, "cannot resume: checkpoint %s: configuration fingerprint does not match "
                                          "its settings (corrupt); delete it", c->path);
            }
            iter = (int)v;
            json_decref(stored);
            free(fmt);
            free(k);
            if (f >= 0)
                H5Fclose(f);
        }
    }
    MKT_MPI(MPI_Bcast(&status, 1, MPI_INT, 0, comm));
    agree_or_fail(ok, why, status, comm);
    MKT_MPI(MPI_Bcast(&iter, 1, MPI_INT, 0, comm));
    *it = iter;
    c->resumed_from = iter;
    mkt_log(c->stage, "resuming from checkpoint %s at iteration %d", c->path, iter);
    return mkt_h5_open(c->path, 0, comm);
}

hid_t mkt_ckpt_begin(mkt_ckpt *c, mkt_h5out *w, const char *kind, int it, const mkt_ckpt_config *cfg,
                     MPI_Comm comm)
{
    mkt_h5_create(w, c->path, "checkpoint", comm);
    mkt_h5_attr_set_string(w->file, ".", "kind", kind);
    mkt_h5_attr_set_int(w->file, ".", "iteration", it);
    uint64_t fp = mkt_ckpt_config_fingerprint(cfg); /* rank 0's, like the config text */
    MKT_MPI(MPI_Bcast(&fp, 1, MPI_UINT64_T, 0, comm));
    mkt_h5_attr_set_int(w->file, ".", "fingerprint", (int64_t)fp);
    mkt_ckpt_write_json(w->file, "config", cfg->obj, comm);
    return w->file;
}

void mkt_ckpt_commit(mkt_ckpt *c, mkt_h5out *w)
{
    mkt_h5_commit(w);
    c->written++;
}

void mkt_ckpt_remove(const mkt_ckpt *c, MPI_Comm comm)
{
    int rank;
    MKT_MPI(MPI_Comm_rank(comm, &rank));
    if (rank == 0) {
        if (unlink(c->path) != 0 && errno != ENOENT)
            mkt_log(c->stage, "warning: cannot remove checkpoint %s: %s", c->path, strerror(errno));
        char tmp[4096];
        snprintf(tmp, sizeof tmp, "%s.tmp", c->path);
        unlink(tmp);
    }
    MKT_MPI(MPI_Barrier(comm));
}

static uint64_t checksum(const double *data, int64_t n)
{
    return hash_bytes(UINT64_C(0x636b707464617461), data, sizeof(double) * (size_t)n);
}

void mkt_ckpt_write_full(hid_t f, const char *name, const double *data, int64_t rows, int64_t cols,
                         MPI_Comm comm)
{
    int rank, nranks;
    MKT_MPI(MPI_Comm_rank(comm, &rank));
    MKT_MPI(MPI_Comm_size(comm, &nranks));
    mkt_block b = mkt_block_of(rows, nranks, rank);
    int64_t c = cols > 0 ? cols : 1;
    mkt_h5_write_rows_at(f, name, H5T_NATIVE_DOUBLE, data + b.begin * c, b.begin, b.end - b.begin, rows, cols,
                         comm);
    mkt_h5_attr_set_int(f, name, "checksum", (int64_t)checksum(data, rows * c));
}

void mkt_ckpt_read_full(hid_t f, const char *path, const char *name, double *data, int64_t rows, int64_t cols)
{
    int64_t c = 0, r = mkt_h5_exists(f, name) ? mkt_h5_rows(f, name, &c) : -1;
    if (r != rows || c != cols)
        mkt_fail_all(MKT_EXIT_ERROR, "checkpoint %s: %s has %lld x %lld values, expected %lld x %lld (corrupt or "
                                     "not of this training); delete it",
                     path, name, (long long)r, (long long)c, (long long)rows, (long long)cols);
    mkt_h5_read_rows(f, name, H5T_NATIVE_DOUBLE, 0, rows, data);
    uint64_t want = (uint64_t)mkt_h5_attr_get_int(f, name, "checksum", 0);
    if (checksum(data, rows * (cols > 0 ? cols : 1)) != want)
        mkt_fail_all(MKT_EXIT_ERROR, "checkpoint %s: %s fails its checksum (the file is corrupt); delete it to "
                                     "start from scratch", path, name);
}

void mkt_ckpt_write_json(hid_t f, const char *name, json_t *v, MPI_Comm comm)
{
    /* rank 0's text for everyone: values such as timings may differ between
     * ranks, and the dataset's shape and checksum must not */
    int rank;
    MKT_MPI(MPI_Comm_rank(comm, &rank));
    char *s = rank == 0 ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(17)) : NULL;
    int64_t n = s ? (int64_t)strlen(s) : -1;
    MKT_MPI(MPI_Bcast(&n, 1, MPI_INT64_T, 0, comm));
    if (n < 0 || n > INT_MAX)
        mkt_fail_all(MKT_EXIT_ERROR, "checkpoint: cannot serialize %s", name);
    if (rank != 0)
        s = mkt_xmalloc((size_t)n + 1);
    MKT_MPI(MPI_Bcast(s, (int)n, MPI_CHAR, 0, comm));
    mkt_h5_write_small(f, name, H5T_NATIVE_CHAR, s, n, 0, comm);
    mkt_h5_attr_set_int(f, name, "checksum", (int64_t)hash_bytes(0, s, (size_t)n));
    free(s);
}

/* Rank-local: the JSON value, or NULL when missing or failing its checksum. */
static json_t *read_json_local(hid_t f, const char *name)
{
    if (!mkt_h5_exists(f, name))
        return NULL;
    int64_t n = mkt_h5_rows(f, name, NULL);
    char *s = mkt_xcalloc((size_t)n + 1, 1);
    mkt_h5_read_rows(f, name, H5T_NATIVE_CHAR, 0, n, s);
    json_t *v = NULL;
    if ((uint64_t)mkt_h5_attr_get_int(f, name, "checksum", 0) == hash_bytes(0, s, (size_t)n))
        v = json_loads(s, JSON_DECODE_ANY, NULL);
    free(s);
    return v;
}

json_t *mkt_ckpt_read_json(hid_t f, const char *path, const char *name)
{
    json_t *v = read_json_local(f, name);
    if (!v)
        mkt_fail_all(MKT_EXIT_ERROR, "checkpoint %s: %s is missing or corrupt; delete it to start from scratch",
                     path, name);
    return v;
}
