/* ls_config.h — the hyper-parameters of the least-squares models
 * (`mkt train effect`, `mkt train elasticity`): their defaults and their
 * check.
 *
 * Owns the config only: pure code, no MPI, no files.  The solver is
 * mpi/scalapack_ls.c, the designs stages/train_regression.c. */
#ifndef MKT_LS_CONFIG_H
#define MKT_LS_CONFIG_H

typedef struct {
    const char *method; /* "gels" (QR) or "normal" (normal equations, Cholesky) */
    double lambda;      /* ridge penalty on every coefficient (0: ordinary least squares) */
    int block;          /* ScaLAPACK block size */
} mkt_ls_config;

/* Limits enforced by mkt_ls_check_config. */
#define MKT_LS_MAX_LAMBDA 1e12
#define MKT_LS_MAX_BLOCK 4096

void mkt_ls_config_defaults(mkt_ls_config *c);
/* NULL if the configuration is usable, else a message naming the bad field,
 * e.g. "method: 'qr' is neither gels nor normal".  The message lives in a
 * thread-local buffer, valid until the next call on the same thread. */
const char *mkt_ls_check_config(const mkt_ls_config *c);

#endif
