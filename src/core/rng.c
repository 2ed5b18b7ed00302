/*
 * rng.c - the one pseudo-random generator of the library: xoshiro256**
 * (Blackman and Vigna, 2018) seeded through splitmix64. rand() is never
 * used, so every seeded result (training shuffles, bootstrap intervals,
 * synthetic cohorts) is the same on every libc and platform.
 */
#include "core/common.h"

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t mmdx__splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void mmdx__rng_seed(struct mmdx_rng *r, uint64_t seed)
{
    int i;

    for (i = 0; i < 4; i++)
        r->s[i] = mmdx__splitmix64(&seed);
    if (!(r->s[0] | r->s[1] | r->s[2] | r->s[3]))
        r->s[0] = 1;    /* the all-zero state is a fixed point */
}

uint64_t mmdx__rng_next(struct mmdx_rng *r)
{
    uint64_t *s = r->s, out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;

    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

double mmdx__rng_unif(struct mmdx_rng *r)
{
    return (double)(mmdx__rng_next(r) >> 11) * 0x1.0p-53;
}
