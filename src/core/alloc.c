/*
 * alloc.c - the one place that calls the C allocator.
 *
 * Tests make the n-th allocation fail (libuv's replaceable allocator, curl's
 * torture mode). The counter is thread-local, so a test thread injecting
 * failures never disturbs another thread.
 */
#include "core/common.h"

static _Thread_local unsigned long alloc_count;
static _Thread_local unsigned long alloc_fail_n;

static bool should_fail(void)
{
    alloc_count++;
    return alloc_fail_n != 0 && alloc_count == alloc_fail_n;
}

unsigned long mmdx__alloc_fail_at(unsigned long n)
{
    unsigned long made = alloc_count;
    alloc_count = 0;
    alloc_fail_n = n;
    return made;
}

void *mmdx__malloc(size_t size)
{
    if (should_fail())
        return NULL;
    return malloc(size ? size : 1); /* checksrc: allow */
}

void *mmdx__calloc(size_t n, size_t size)
{
    if (should_fail())
        return NULL;
    if (n == 0 || size == 0)
        n = size = 1;
    return calloc(n, size); /* checksrc: allow */
}

void *mmdx__realloc(void *ptr, size_t size)
{
    if (should_fail())
        return NULL;
    return realloc(ptr, size ? size : 1); /* checksrc: allow */
}

char *mmdx__strdup(const char *s)
{
    return s ? mmdx__strndup(s, strlen(s)) : NULL;
}

char *mmdx__strndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *p = mmdx__malloc(len + 1);

    if (!p)
        return NULL;
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

void mmdx__free(void *ptr)
{
    free(ptr); /* checksrc: allow */
}

void mmdx__freep(void *pp)
{
    void **p = pp;

    mmdx__free(*p);
    *p = NULL;
}

bool mmdx__mul_size(size_t a, size_t b, size_t *out)
{
    size_t r;

    if (__builtin_mul_overflow(a, b, &r))
        return false;
    *out = r;
    return true;
}

bool mmdx__add_size(size_t a, size_t b, size_t *out)
{
    size_t r;

    if (__builtin_add_overflow(a, b, &r))
        return false;
    *out = r;
    return true;
}
