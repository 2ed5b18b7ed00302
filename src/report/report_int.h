/*
 * report_int.h - internals shared by the report area's files (metrics,
 * SVG plots, HTML/XML writers, the report stage, cohort outputs).
 */
#ifndef MMDX_REPORT_INT_H
#define MMDX_REPORT_INT_H

#include "core/common.h"

/* xoshiro256** state, seeded through splitmix64 (metrics.c). */
struct mmdx_rng {
    uint64_t s[4];
};
void mmdx__rng_seed(struct mmdx_rng *r, uint64_t seed);
uint64_t mmdx__rng_next(struct mmdx_rng *r);

#endif
