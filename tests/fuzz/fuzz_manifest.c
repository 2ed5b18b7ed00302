/*
 * fuzz_manifest.c - libFuzzer harness for the cohort manifest reader.
 * Paths are checked for existence on every other input (the fuzzer cannot
 * make files, so cells become per-row problems); the parser, limits,
 * duplicate detection and the problems of each row are exercised.
 */
#include "core/common.h"
#include "mmdx/cohort.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Every row's problems format, stay in range and never echo a control
 * byte (cells are shown escaped). */
static void fuzz_problems(const struct mmdx_manifest *m)
{
    size_t i, k, n = mmdx_manifest_count(m);

    for (i = 0; i < n; i++) {
        for (k = 0; k < mmdx_manifest_nproblems(m, i); k++) {
            char buf[2048];
            bool whole;
            const char *s = mmdx_manifest_problem(m, i, k, &whole, buf,
                                                  sizeof(buf));
            const char *c = strstr(s ? s : "", ": manifest: ");

            if (!s || !c)
                abort();
            for (; *c; c++)
                if ((unsigned char)*c < 0x20 || *c == 0x7f)
                    abort();
        }
        if (mmdx_manifest_problem(m, i, k, NULL, NULL, 0))
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static unsigned long iter;
    struct mmdx_ctx *ctx = NULL;
    struct mmdx_manifest *m = NULL;
    const char *path;
    enum mmdx_status st;

    if (mmdx_ctx_new(&ctx))
        return 0;
    path = fuzz_file(data, size, ".tsv");
    if (path) {
        if (++iter % 7 == 0)
            mmdx__alloc_fail_at(1 + (unsigned long)(size % 61));
        /* every other input with the file checks: cells name no file
         * (or some file of /tmp), so the per-row problems are exercised */
        st = mmdx_manifest_read(ctx, path, iter % 2 == 0, &m);
        mmdx__alloc_fail_at(0);
        fuzz_check_error(ctx, st);
        if (m)
            fuzz_problems(m);
        mmdx_manifest_free(m);
        unlink(path);
    }
    mmdx_ctx_free(ctx);
    return 0;
}
