/* rng.h — counter-based random numbers, so results never depend on ranks.
 *
 * A stream is named by (seed, purpose, index): the user with dense index u
 * always draws from stream (seed, MKT_STREAM_USER_EVENTS, u), whichever rank
 * generates it.  The generator is SplitMix64-seeded xoshiro256**; drawing is
 * pure arithmetic, no global state. */
#ifndef MKT_RNG_H
#define MKT_RNG_H

#include <stdint.h>

typedef struct {
    uint64_t s[4];
} mkt_rng;

/* Stream purposes: distinct constants so streams never overlap by accident. */
enum {
    MKT_STREAM_ITEMS = 1,
    MKT_STREAM_USERS = 2,
    MKT_STREAM_USER_EVENTS = 3,
    MKT_STREAM_CAMPAIGN = 4,
    MKT_STREAM_RATINGS = 5,
    MKT_STREAM_GLOBAL = 6,
    MKT_STREAM_SPLIT = 7,
    MKT_STREAM_MODEL = 8,
    MKT_STREAM_TUNE = 9 /* mkt tune's random search */
};

void mkt_rng_init(mkt_rng *r, uint64_t seed, uint64_t purpose, uint64_t index);
uint64_t mkt_rng_u64(mkt_rng *r);
double mkt_rng_uniform(mkt_rng *r);            /* [0, 1) */
double mkt_rng_normal(mkt_rng *r);             /* N(0, 1), Box-Muller, no cached state */
uint64_t mkt_rng_below(mkt_rng *r, uint64_t n); /* uniform in [0, n), n > 0 */
double mkt_rng_exponential(mkt_rng *r, double rate);
/* Poisson with mean lambda (inversion below 30, normal approximation above). */
int64_t mkt_rng_poisson(mkt_rng *r, double lambda);
uint64_t mkt_hash64(uint64_t x); /* SplitMix64 finalizer */

#endif
