/*
 * common.h - included first by every mmdx source file (curl's curl_setup.h).
 *
 * Brings config.h, the platform feature macros, the public API and the
 * core internals every area uses: allocation, errors, logging, refcounted
 * buffers, growable strings, files and hashing.
 */
#ifndef MMDX_COMMON_H
#define MMDX_COMMON_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include "config.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mmdx/core.h"
#include "mmdx/status.h"

/* MMDX_UNITTEST: static, except in test builds where drivers reach it. */
#ifdef MMDX_UNITTEST_BUILD
#define MMDX_UNITTEST
#else
#define MMDX_UNITTEST static
#endif

/* Mark a boundary that tests must see taken both ways (SQLite testcase()). */
#define MMDX_TESTCASE(cond) ((void)(cond))

#define MMDX_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MMDX_UNUSED(x) ((void)(x))

/* ---- allocation (alloc.c) ------------------------------------------- */
/* All heap memory goes through these so tests can make allocation n fail. */
void *mmdx__malloc(size_t size);
void *mmdx__calloc(size_t n, size_t size);
void *mmdx__realloc(void *ptr, size_t size);
char *mmdx__strdup(const char *s);
char *mmdx__strndup(const char *s, size_t n);
void mmdx__free(void *ptr);
/* Free *pp and set it to NULL; pp is a pointer to a pointer. */
void mmdx__freep(void *pp);
/* *out = a * b; false (and *out unchanged) on overflow. */
bool mmdx__mul_size(size_t a, size_t b, size_t *out);
bool mmdx__add_size(size_t a, size_t b, size_t *out);
/* Test hook: the n-th allocation from now on this thread fails (0 = off).
 * Returns how many allocations were made since the last call. */
unsigned long mmdx__alloc_fail_at(unsigned long n);

/* ---- errors (ctx.c) ---------------------------------------------------- */
/*
 * Record an error on ctx unless one is already recorded (the first error
 * wins) and return st. stage, path and field may be NULL; line 0 = none.
 * The message must never contain an identifying patient value.
 */
enum mmdx_status mmdx__fail_at(struct mmdx_ctx *ctx, enum mmdx_status st,
                               const char *stage, const char *path,
                               long line, const char *field,
                               const char *src_file, int src_line,
                               const char *fmt, ...) MMDX_PRINTF(9, 10);
enum mmdx_status mmdx__vfail_at(struct mmdx_ctx *ctx, enum mmdx_status st,
                                const char *stage, const char *path,
                                long line, const char *field,
                                const char *src_file, int src_line,
                                const char *fmt, va_list ap);
#define mmdx__fail(ctx, st, stage, path, line, field, ...)                   \
    mmdx__fail_at((ctx), (st), (stage), (path), (line), (field), __FILE__,  \
                  __LINE__, __VA_ARGS__)
/* Out of memory: records it (without allocating) and returns E_NOMEM. */
#define mmdx__nomem(ctx)                                                     \
    mmdx__fail_at((ctx), MMDX_E_NOMEM, NULL, NULL, 0, NULL, __FILE__,       \
                  __LINE__, "out of memory")
/* True when ctx already holds an error. */
bool mmdx__ctx_has_error(const struct mmdx_ctx *ctx);
/* Give dst the log routing of src (workers log like their parent). */
void mmdx__ctx_copy_log(struct mmdx_ctx *dst, const struct mmdx_ctx *src);

/* ---- logging (ctx.c) --------------------------------------------------- */
/* Every loggable object begins with a pointer to its class (FFmpeg AVClass). */
struct mmdx_class {
    const char *name;
    /* Optional: write the object's display name ("ecg.features#2"). */
    void (*item_name)(const void *obj, char *buf, size_t size);
};
bool mmdx__log_enabled(const struct mmdx_ctx *ctx, enum mmdx_log_level lvl);
void mmdx__log(struct mmdx_ctx *ctx, const void *obj,
               enum mmdx_log_level lvl, const char *fmt, ...)
    MMDX_PRINTF(4, 5);
/* Test the level before formatting (curl infof). */
#define mmdx_log(ctx, obj, lvl, ...)                                         \
    do {                                                                     \
        if (mmdx__log_enabled((ctx), (lvl)))                                 \
            mmdx__log((ctx), (obj), (lvl), __VA_ARGS__);                     \
    } while (0)

/* ---- refcounted payloads (buf.c) --------------------------------------- */
struct mmdx_buf {
    size_t size;            /* bytes */
    void *data;
    long refcount_;         /* atomic; use the functions */
};
enum mmdx_status mmdx__buf_new(struct mmdx_ctx *ctx, size_t size,
                               struct mmdx_buf **out);
struct mmdx_buf *mmdx__buf_ref(struct mmdx_buf *b);
void mmdx__buf_unref(struct mmdx_buf **b);
/* Make *b exclusively owned (copy if shared) before writing to it. */
enum mmdx_status mmdx__buf_make_writable(struct mmdx_ctx *ctx,
                                         struct mmdx_buf **b);

/* ---- growable strings (dstr.c), curl dynbuf ---------------------------- */
struct mmdx_dstr {
    char *s;            /* NUL-terminated, "" when empty (never NULL after init) */
    size_t len, cap;
    size_t max;         /* hard limit on len, bytes */
};
void mmdx__dstr_init(struct mmdx_dstr *d, size_t max);
void mmdx__dstr_fini(struct mmdx_dstr *d);
void mmdx__dstr_reset(struct mmdx_dstr *d);
/* Append; E_NOMEM or E_LIMIT on failure (d stays valid). */
enum mmdx_status mmdx__dstr_add(struct mmdx_dstr *d, const char *s, size_t n);
enum mmdx_status mmdx__dstr_adds(struct mmdx_dstr *d, const char *s);
enum mmdx_status mmdx__dstr_addf(struct mmdx_dstr *d, const char *fmt, ...)
    MMDX_PRINTF(2, 3);
/* Append s escaped for XML text and attributes. */
enum mmdx_status mmdx__dstr_add_xml(struct mmdx_dstr *d, const char *s);
/* Take the string; the caller frees it with mmdx__free. */
char *mmdx__dstr_take(struct mmdx_dstr *d);

/* Format a double the one way all our tables do: "%.9g", "NA" for NaN,
 * "inf"/"-inf". buf must hold 32 bytes. */
const char *mmdx__fmt_double(double v, char *buf);
/* Parse a whole string as a finite double / integer. false on junk. */
bool mmdx__parse_double(const char *s, double *out);
bool mmdx__parse_long(const char *s, long *out);

/* Vector instruction sets of the hand-vectorised loops (src/core/simd.c):
 * the best the processor has, capped by the environment variable
 * MMDX_SIMD=sse2|avx2|avx512 or by mmdx__simd_cap(level) (-1: back to the
 * environment's cap). Every level gives the same results. */
enum { MMDX_SIMD_BASE = 0, MMDX_SIMD_AVX2 = 1, MMDX_SIMD_AVX512 = 2 };
int mmdx__simd_level(void);
void mmdx__simd_cap(int level);
/* snprintf that reports truncation as false. */
bool mmdx__snprintf(char *buf, size_t size, const char *fmt, ...)
    MMDX_PRINTF(3, 4);
/* Copy with truncation, always NUL-terminates (size > 0). */
void mmdx__strlcpy(char *dst, const char *src, size_t size);
int mmdx__strcasecmp(const char *a, const char *b);
/* Locale-independent ASCII helpers (input parsing must not follow LC_*). */
static inline bool isalnum_ascii(int c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
           (c >= 'A' && c <= 'Z');
}
static inline int toupper_ascii(int c)
{
    return c >= 'a' && c <= 'z' ? c - 32 : c;
}
static inline int tolower_ascii(int c)
{
    return c >= 'A' && c <= 'Z' ? c + 32 : c;
}
int mmdx__strncasecmp(const char *a, const char *b, size_t n);

/* ---- files (file.c) ---------------------------------------------------- */
#define MMDX_FILE_MODE 0640
#define MMDX_DIR_MODE 0750
/*
 * Read a whole file, refusing more than max_bytes. *out is NUL-terminated
 * (one spare byte), *len excludes it. Errors name the path.
 */
enum mmdx_status mmdx__file_read(struct mmdx_ctx *ctx, const char *path,
                                 size_t max_bytes, char **out, size_t *len);
/* Write data to path atomically: a temporary in the same folder, fsync'd
 * file, rename. Created 0640 whatever the umask. */
enum mmdx_status mmdx__file_write_atomic(struct mmdx_ctx *ctx,
                                         const char *path, const void *data,
                                         size_t len);
/* Create a folder and its parents with mode 0750 (existing ones kept). */
enum mmdx_status mmdx__mkdir_p(struct mmdx_ctx *ctx, const char *path);
bool mmdx__is_dir(const char *path);
bool mmdx__is_file(const char *path);
/* Join a and b with one '/', into a new string (NULL on OOM). If b is
 * absolute it is returned copied. */
char *mmdx__path_join(const char *a, const char *b);
/* The folder part of path ("." when none); new string. */
char *mmdx__path_dirname(const char *path);
/* The last component of path (pointer into path). */
const char *mmdx__path_basename(const char *path);

/* Flags of mmdx__dir_list. */
#define MMDX_DIR_FILES_ONLY 1u /* regular files only (symlinks followed) */
#define MMDX_DIR_FULL_PATHS 2u /* "dir/name" instead of "name" */
/* The entries of a folder, dot files skipped, sorted by strcmp, as a new
 * array of new strings (free with mmdx__dir_list_free). More than max
 * kept entries (0: no limit) is MMDX_E_LIMIT. stage names the failing
 * stage in errors. */
enum mmdx_status mmdx__dir_list(struct mmdx_ctx *ctx, const char *stage,
                                const char *dir, unsigned flags, size_t max,
                                char ***out, size_t *n);
void mmdx__dir_list_free(char **v, size_t n);

/* ---- pseudo-random numbers (rng.c): xoshiro256** through splitmix64 ---- */
struct mmdx_rng {
    uint64_t s[4];
};
/* One step of splitmix64 (advances *x); also a good 64-bit mixer. */
uint64_t mmdx__splitmix64(uint64_t *x);
void mmdx__rng_seed(struct mmdx_rng *r, uint64_t seed);
uint64_t mmdx__rng_next(struct mmdx_rng *r);
/* Uniform on [0, 1) with 53 bits. */
double mmdx__rng_unif(struct mmdx_rng *r);

/* ---- order statistics (select.c) --------------------------------------- */
/* The k-th smallest (k < n, n > 0) of v[0..n), moved to v[k], with
 * v[0..k) <= v[k] <= v[k+1..n) afterwards (quickselect; reorders v). No
 * NaN in v. */
float mmdx__select_float(float *v, size_t n, size_t k);

/* ---- hashing (hash.c), SHA-256 through OpenSSL's libcrypto ------------- */
#define MMDX_SHA256_HEX 65
struct mmdx_sha256;
enum mmdx_status mmdx__sha256_new(struct mmdx_ctx *ctx, struct mmdx_sha256 **out);
void mmdx__sha256_update(struct mmdx_sha256 *h, const void *data, size_t len);
/* Finish into 64 hex digits + NUL and free h. */
void mmdx__sha256_final(struct mmdx_sha256 *h, char hex[MMDX_SHA256_HEX]);
void mmdx__sha256_free(struct mmdx_sha256 *h);
enum mmdx_status mmdx__sha256_buf(struct mmdx_ctx *ctx, const void *data,
                                  size_t len, char hex[MMDX_SHA256_HEX]);
/*
 * Digest of a set of files: SHA-256 of a listing with one line per file,
 * in strcmp order of the names, each name once (a repeated name is read
 * once): the file's SHA-256 (64 lowercase hex digits), two spaces, the
 * name, "\n" -- byte for byte what GNU `sha256sum NAME...` prints (a name
 * holding a backslash, CR or LF is escaped as "\\", "\r", "\n" and its
 * line starts with a backslash). So `sha256sum A B | sha256sum` (names in
 * C-locale order) reproduces it. v (names and paths borrowed) is sorted
 * in place; n may be 0.
 */
struct mmdx_sha256_file {
    const char *name;
    const char *path;
};
enum mmdx_status mmdx__sha256_files(struct mmdx_ctx *ctx,
                                    struct mmdx_sha256_file *v, size_t n,
                                    char hex[MMDX_SHA256_HEX]);
/* A file's SHA-256; a folder's is mmdx__sha256_files over its regular,
 * not hidden, files (symbolic links followed; sub-folders left out), named
 * by their base names. */
enum mmdx_status mmdx__sha256_path(struct mmdx_ctx *ctx, const char *path,
                                   char hex[MMDX_SHA256_HEX]);

#endif
