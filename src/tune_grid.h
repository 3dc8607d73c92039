/* tune_grid.h — the search space of `mkt tune`: parsing a grid text and
 * turning it into the list of configurations to run.
 *
 *   "lambda=0.01,0.05,0.2; rank=8,32"      lists: the cartesian product
 *   "lambda=log:0.001:1; rank=int:4:64"    ranges: only for random search
 *
 * A grid is axes (key, values); keys are kept as written.  Configurations are
 * text values, one per axis, so the caller hands them to the option parser of
 * the train command unchanged.  Random search draws from a seeded counter-based
 * stream (rng.h), so the configurations are a function of (grid, N, seed)
 * only.  Pure code: no MPI, no I/O. */
#ifndef MKT_TUNE_GRID_H
#define MKT_TUNE_GRID_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    MKT_AXIS_LIST, /* explicit values */
    MKT_AXIS_LIN,  /* lin:a:b  uniform real in [a, b] */
    MKT_AXIS_LOG,  /* log:a:b  log-uniform real in [a, b], 0 < a */
    MKT_AXIS_INT   /* int:a:b  uniform integer in [a, b] */
} mkt_axis_kind;

typedef struct {
    char *key;
    mkt_axis_kind kind;
    char **values; /* LIST: the values as written (trimmed) */
    int nvalues;
    double lo, hi; /* ranges */
} mkt_grid_axis;

typedef struct {
    mkt_grid_axis *axes;
    int naxes;
} mkt_grid;

/* Largest number of configurations a grid or a random search may have. */
#define MKT_GRID_MAX_CONFIGS 100000

/* Parse "key=v1,v2;key2=..." (spaces around tokens ignored, an empty entry
 * after a trailing ';' allowed).  Returns 0, or -1 with the reason in err
 * (empty grid, entry without '=', empty key or value, duplicate key, bad
 * range).  On failure g is empty. */
int mkt_grid_parse(const char *text, mkt_grid *g, char *err, size_t errlen);
void mkt_grid_free(mkt_grid *g);

/* The configurations, as n x naxes malloc'd strings (row j, axis a at
 * (*out)[j * naxes + a]; free with mkt_grid_free_configs).
 *   random == 0: the cartesian product, the first axis varying slowest; every
 *                axis must be a list.
 *   random >  0: that many draws from stream (seed): a list axis draws one of
 *                its values, a range axis a number; when every axis is a list
 *                the draws are distinct configurations of the product, and
 *                fewer than `random` (the whole product, in draw order) when
 *                the product is smaller.
 * integer_axis[a] != 0 (may be NULL): range draws of axis a are rounded to
 * integers.  Reals are written with %.6g.  Returns 0, or -1 with err. */
int mkt_grid_configs(const mkt_grid *g, int64_t random, uint64_t seed, const int *integer_axis, char ***out,
                     int64_t *n, char *err, size_t errlen);
void mkt_grid_free_configs(char **configs, int64_t n, int naxes);

#endif
