/* rng.c — counter-based random streams (see rng.h). Pure, no state. */
#include "rng.h"

#include <math.h>

uint64_t mkt_hash64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

void mkt_rng_init(mkt_rng *r, uint64_t seed, uint64_t purpose, uint64_t index)
{
    uint64_t x = mkt_hash64(seed ^ mkt_hash64(purpose * 0x632be59bd9b4e019ULL ^ mkt_hash64(index)));
    for (int i = 0; i < 4; i++) {
        x = mkt_hash64(x + (uint64_t)i);
        r->s[i] = x;
    }
    if ((r->s[0] | r->s[1] | r->s[2] | r->s[3]) == 0)
        r->s[0] = 1;
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t mkt_rng_u64(mkt_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double mkt_rng_uniform(mkt_rng *r) { return (double)(mkt_rng_u64(r) >> 11) * 0x1.0p-53; }

double mkt_rng_normal(mkt_rng *r)
{
    double u1 = mkt_rng_uniform(r);
    double u2 = mkt_rng_uniform(r);
    if (u1 < 1e-300)
        u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

uint64_t mkt_rng_below(mkt_rng *r, uint64_t n)
{
    /* Lemire's multiply-shift with rejection: unbiased. */
    uint64_t x = mkt_rng_u64(r);
    __uint128_t m = (__uint128_t)x * n;
    uint64_t l = (uint64_t)m;
    if (l < n) {
        uint64_t t = -n % n;
        while (l < t) {
            x = mkt_rng_u64(r);
            m = (__uint128_t)x * n;
            l = (uint64_t)m;
        }
    }
    return (uint64_t)(m >> 64);
}

double mkt_rng_exponential(mkt_rng *r, double rate)
{
    double u = mkt_rng_uniform(r);
    return -log1p(-u) / rate;
}

int64_t mkt_rng_poisson(mkt_rng *r, double lambda)
{
    if (lambda <= 0)
        return 0;
    if (lambda < 30) {
        double l = exp(-lambda), p = 1.0;
        int64_t k = 0;
        do {
            k++;
            p *= mkt_rng_uniform(r);
        } while (p > l);
        return k - 1;
    }
    double x = floor(lambda + sqrt(lambda) * mkt_rng_normal(r) + 0.5);
    return x < 0 ? 0 : (int64_t)x;
}
