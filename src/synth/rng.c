/*
 * rng.c - the generator's own pseudo-random numbers: xoshiro256** (Blackman
 * and Vigna) seeded through splitmix64. rand() is never used, so a cohort
 * is the same on every libc. Each (seed, patient, stream) triple gets its
 * own state, so patients can be generated in any order or in parallel.
 */
#include "core/common.h"
#include "synth/synth_int.h"

void mmdx__synth_rng_seed(struct synth_rng *r, uint64_t seed, uint64_t index,
                          uint64_t stream)
{
    uint64_t x = seed;
    int i;

    /* Mix the three numbers through splitmix64 so that neighbouring
     * patients and streams get unrelated states. */
    x = mmdx__splitmix64(&x) ^ (index * 0xd1342543de82ef95ULL);
    x = mmdx__splitmix64(&x) ^ (stream * 0xa0761d6478bd642fULL);
    for (i = 0; i < 4; i++)
        r->x.s[i] = mmdx__splitmix64(&x);
    if (!(r->x.s[0] | r->x.s[1] | r->x.s[2] | r->x.s[3]))
        r->x.s[0] = 1;    /* the all-zero state is a fixed point */
    r->spare = 0.0;
    r->has_spare = 0;
}

uint64_t mmdx__synth_rng_u64(struct synth_rng *r)
{
    return mmdx__rng_next(&r->x);
}

double mmdx__synth_uniform(struct synth_rng *r)
{
    return (double)(mmdx__synth_rng_u64(r) >> 11) * 0x1.0p-53;
}

double mmdx__synth_range(struct synth_rng *r, double lo, double hi)
{
    return lo + (hi - lo) * mmdx__synth_uniform(r);
}

double mmdx__synth_normal(struct synth_rng *r)
{
    double u, v, s, f;

    if (r->has_spare) {
        r->has_spare = 0;
        return r->spare;
    }
    do {
        u = 2.0 * mmdx__synth_uniform(r) - 1.0;
        v = 2.0 * mmdx__synth_uniform(r) - 1.0;
        s = u * u + v * v;
    } while (s >= 1.0 || s == 0.0);
    f = sqrt(-2.0 * log(s) / s);
    r->spare = v * f;
    r->has_spare = 1;
    return u * f;
}

int mmdx__synth_bern(struct synth_rng *r, double p)
{
    return mmdx__synth_uniform(r) < p;
}

uint64_t mmdx__synth_below(struct synth_rng *r, uint64_t n)
{
    /* Lemire's multiply-shift would be faster; modulo bias is below 2^-40
     * for the small n used here, and rejection keeps it exact anyway. */
    uint64_t lim, x;

    if (n <= 1)
        return 0;
    lim = UINT64_MAX - UINT64_MAX % n;
    do {
        x = mmdx__synth_rng_u64(r);
    } while (x >= lim);
    return x % n;
}
