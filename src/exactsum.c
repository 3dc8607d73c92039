/* exactsum.c — exact, order-independent summation of doubles (see exactsum.h). */
#include "exactsum.h"

#include <math.h>
#include <string.h>

void mkt_xsum_init(mkt_xsum *s) { memset(s, 0, sizeof *s); }

void mkt_xsum_normalize(mkt_xsum *s)
{
    for (int i = 0; i < MKT_XSUM_LIMBS - 1; i++) {
        int64_t carry = s->limb[i] >> 32; /* arithmetic shift: floor division */
        s->limb[i] -= carry * ((int64_t)1 << 32);
        s->limb[i + 1] += carry;
    }
    s->pending = 0;
}

void mkt_xsum_add(mkt_xsum *s, double x)
{
    uint64_t bits;
    memcpy(&bits, &x, sizeof bits);
    int negative = (int)(bits >> 63);
    int biased = (int)((bits >> 52) & 0x7ff);
    uint64_t mant = bits & ((UINT64_C(1) << 52) - 1);
    if (biased == 0x7ff) {
        if (mant != 0)
            s->n_nan++;
        else if (negative)
            s->n_neginf++;
        else
            s->n_posinf++;
        return;
    }
    int pos; /* x = mant * 2^(pos - 1074) */
    if (biased == 0) {
        pos = 0;
    } else {
        mant |= UINT64_C(1) << 52;
        pos = biased - 1;
    }
    if (mant == 0)
        return;
    int limb = pos / 32, shift = pos % 32;
    __uint128_t v = (__uint128_t)mant << shift;
    int64_t d0 = (int64_t)(uint32_t)v, d1 = (int64_t)(uint32_t)(v >> 32), d2 = (int64_t)(uint32_t)(v >> 64);
    if (negative) {
        d0 = -d0;
        d1 = -d1;
        d2 = -d2;
    }
    s->limb[limb] += d0;
    if (limb + 1 < MKT_XSUM_LIMBS)
        s->limb[limb + 1] += d1;
    if (limb + 2 < MKT_XSUM_LIMBS)
        s->limb[limb + 2] += d2;
    if (++s->pending >= (INT64_C(1) << 30))
        mkt_xsum_normalize(s);
}

void mkt_xsum_merge(mkt_xsum *into, const mkt_xsum *from)
{
    mkt_xsum tmp = *from;
    mkt_xsum_normalize(&tmp);
    mkt_xsum_normalize(into);
    for (int i = 0; i < MKT_XSUM_LIMBS; i++)
        into->limb[i] += tmp.limb[i];
    into->n_posinf += tmp.n_posinf;
    into->n_neginf += tmp.n_neginf;
    into->n_nan += tmp.n_nan;
    mkt_xsum_normalize(into);
}

double mkt_xsum_value(const mkt_xsum *s)
{
    if (s->n_nan || (s->n_posinf && s->n_neginf))
        return NAN;
    if (s->n_posinf)
        return INFINITY;
    if (s->n_neginf)
        return -INFINITY;
    mkt_xsum t = *s;
    mkt_xsum_normalize(&t);
    /* Sum from the most significant limb down in long double: deterministic
     * because the normalized limbs are a unique representation. */
    long double r = 0;
    for (int i = MKT_XSUM_LIMBS - 1; i >= 0; i--)
        if (t.limb[i] != 0)
            r += ldexpl((long double)t.limb[i], 32 * i - 1074);
    return (double)r;
}

double mkt_exact_sum(const double *x, size_t n)
{
    mkt_xsum s;
    mkt_xsum_init(&s);
    for (size_t i = 0; i < n; i++)
        mkt_xsum_add(&s, x[i]);
    return mkt_xsum_value(&s);
}
