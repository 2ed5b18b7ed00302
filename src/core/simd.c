/*
 * simd.c - which vector instruction set the image loops (DICOM pixel
 * conversion, image features) may use:
 * what the processor has, capped by MMDX_SIMD (environment: "sse2",
 * "avx2" or "avx512") or by mmdx__simd_cap() (tests use it to check that
 * every path gives the same results). Every path computes the same
 * values; only speed differs.
 */
#include "core/common.h"

#include <stdatomic.h>

static _Atomic int cpu_level = -1;   /* what the processor has */
static _Atomic int cap_level = -1;   /* the cap; -1: not read yet */

static int detect(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
    if (__builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vbmi2"))
        return MMDX_SIMD_AVX512;
    if (__builtin_cpu_supports("avx2"))
        return MMDX_SIMD_AVX2;
#endif
    return MMDX_SIMD_BASE;
}

static int env_cap(void)
{
    const char *s = getenv("MMDX_SIMD");

    if (!s || !*s)
        return MMDX_SIMD_AVX512;
    if (!strcmp(s, "sse2") || !strcmp(s, "base"))
        return MMDX_SIMD_BASE;
    if (!strcmp(s, "avx2"))
        return MMDX_SIMD_AVX2;
    return MMDX_SIMD_AVX512;
}

int mmdx__simd_level(void)
{
    int c = atomic_load_explicit(&cpu_level, memory_order_relaxed);
    int k = atomic_load_explicit(&cap_level, memory_order_relaxed);

    if (c < 0) {
        c = detect();
        atomic_store_explicit(&cpu_level, c, memory_order_relaxed);
    }
    if (k < 0) {
        k = env_cap();
        atomic_store_explicit(&cap_level, k, memory_order_relaxed);
    }
    return c < k ? c : k;
}

void mmdx__simd_cap(int level)
{
    atomic_store_explicit(&cap_level, level < 0 ? env_cap() : level,
                          memory_order_relaxed);
}
