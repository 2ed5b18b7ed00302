/* test_util.h - helpers shared by the cmocka drivers. */
#ifndef MMDX_TEST_UTIL_H
#define MMDX_TEST_UTIL_H

#include "core/common.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <sys/stat.h>
#include <unistd.h>

/* $MMDX_SHARED_DATA/rel, or skip the test when the data is absent. */
static inline char *test_shared(const char *rel)
{
    const char *base = getenv("MMDX_SHARED_DATA");
    char *p;

    if (!base)
        base = MMDX_SRCDIR "/../shared/data";
    p = mmdx__path_join(base, rel);
    if (!p || access(p, R_OK) != 0) {
        mmdx__free(p);
        skip();
    }
    return p;
}

/* A context whose data folder is the source tree. */
static inline struct mmdx_ctx *test_ctx(void)
{
    struct mmdx_ctx *ctx = NULL;

    assert_int_equal(mmdx_ctx_new(&ctx), MMDX_OK);
    assert_int_equal(mmdx_ctx_set_datadir(ctx, MMDX_SRCDIR), MMDX_OK);
    return ctx;
}

/* A fresh temporary folder; remove it with test_rmtree. */
static inline char *test_tmpdir(void)
{
    char tmpl[] = "/tmp/mmdx-test-XXXXXX";
    char *d = mkdtemp(tmpl);

    assert_non_null(d);
    return mmdx__strdup(d);
}

static inline void test_rmtree(char *dir)
{
    char cmd[1200];

    if (!dir)
        return;
    if (strncmp(dir, "/tmp/mmdx-test-", 15) == 0) {
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "cannot remove %s\n", dir);
    }
    mmdx__free(dir);
}

static inline void test_write(const char *dir, const char *name,
                              const char *text)
{
    char *p = mmdx__path_join(dir, name);
    FILE *fp;

    assert_non_null(p);
    fp = fopen(p, "wb");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
    mmdx__free(p);
}

/* The error message must contain needle. */
#define assert_error_has(ctx, needle)                                        \
    do {                                                                     \
        char buf_[2400];                                                     \
        mmdx_error_format(mmdx_ctx_last_error(ctx), buf_, sizeof(buf_));    \
        if (!strstr(buf_, (needle)))                                         \
            fail_msg("error \"%s\" lacks \"%s\"", buf_, (needle));           \
    } while (0)

#endif
