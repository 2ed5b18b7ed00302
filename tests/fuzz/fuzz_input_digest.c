/*
 * fuzz_input_digest.c - libFuzzer harness for the digest of a WFDB record
 * as an input (mmdx__input_sha256 over mmdx__wfdb_files): the input is a
 * header, single-segment (byte 0 even) or multi-segment (odd), written
 * beside a few valid segment records and signal files. Checked:
 * - every file the walk reports lies in the record's folder (never
 *   outside it, whatever names the header holds);
 * - a record the WFDB reader loads always has a digest (the walk is no
 *   stricter than the reader), the same twice in a row;
 * - a failure says why (status and message).
 */
#include "core/common.h"
#include "io/wfdb.h"
#include "pipeline/provenance.h"
#include "fuzz_util.h"

#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[128];

static void put(const char *name, const void *d, size_t n)
{
    char path[256];
    FILE *fp;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    fp = fopen(path, "wb");
    if (fp) {
        fwrite(d, 1, n, fp);
        fclose(fp);
    }
}

static void fixture(void)
{
    /* a.dat: 4 frames of two format-16 signals; b.dat: 8 samples */
    static const unsigned char a[] = { 1, 0, 2, 0, 3, 0, 4, 0,
                                       5, 0, 6, 0, 7, 0, 8, 0 };
    static const char ah[] = "sa 2 250 4\na.dat 16 200 16 0 0 16 0 II\n"
                             "a.dat 16 200 16 0 0 20 0 V1\n";
    static const char bh[] = "sb 1 250 8\nb.dat 16 200 16 0 0 36 0 V1\n";
    static const char lh[] = "lay 2 250 0\n~ 0 200 16 0 0 0 0 II\n"
                             "~ 0 200 16 0 0 0 0 V1\n";

    snprintf(dir, sizeof(dir), "/tmp/mmdx-fuzz-digest-%d", (int)getpid());
    mkdir(dir, 0700);
    put("a.dat", a, sizeof(a));
    put("b.dat", a, sizeof(a));
    put("sa.hea", ah, sizeof(ah) - 1);
    put("sb.hea", bh, sizeof(bh) - 1);
    put("lay.hea", lh, sizeof(lh) - 1);
}

static enum mmdx_status inside(void *user, const char *name,
                               const char *path)
{
    size_t dl = strlen(dir);

    (void)user;
    if (strncmp(path, dir, dl) != 0 || path[dl] != '/' ||
        strchr(path + dl + 1, '/') || strcmp(path + dl + 1, name) != 0)
        abort();
    return MMDX_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static unsigned long iter;
    struct mmdx_ctx *ctx = NULL;
    struct mmdx_signal *s = NULL;
    char path[256], h1[MMDX_SHA256_HEX], h2[MMDX_SHA256_HEX];
    enum mmdx_status st, loaded;
    FILE *fp;

    if (size < 1 || mmdx_ctx_new(&ctx))
        return 0;
    if (!dir[0])
        fixture();
    snprintf(path, sizeof(path), "%s/%s", dir, data[0] & 1 ? "m.hea"
                                                           : "r.hea");
    fp = fopen(path, "wb");
    if (!fp) {
        mmdx_ctx_free(ctx);
        return 0;
    }
    fwrite(data + 1, 1, size - 1, fp);
    fclose(fp);

    st = mmdx__wfdb_files(ctx, path, inside, NULL);
    fuzz_check_error(ctx, st);
    mmdx_ctx_clear_error(ctx);
    loaded = mmdx__wfdb_load(ctx, path, NULL, 0, &s, NULL);
    fuzz_check_error(ctx, loaded);
    mmdx__signal_free(s);
    mmdx_ctx_clear_error(ctx);
    st = mmdx__input_sha256(ctx, MMDX_MOD_ECG, path, h1);
    fuzz_check_error(ctx, st);
    if (loaded == MMDX_OK && st != MMDX_OK)
        abort();
    if (st == MMDX_OK) {
        mmdx_ctx_clear_error(ctx);
        if (mmdx__input_sha256(ctx, MMDX_MOD_ECG, path, h2) != MMDX_OK ||
            strcmp(h1, h2) != 0)
            abort();
    }
    /* and under allocation failures: NOMEM or success, never a crash */
    if (++iter % 5 == 0) {
        mmdx_ctx_clear_error(ctx);
        mmdx__alloc_fail_at(1 + (unsigned long)(size % 29));
        st = mmdx__input_sha256(ctx, MMDX_MOD_ECG, path, h2);
        mmdx__alloc_fail_at(0);
        fuzz_check_error(ctx, st);
    }
    mmdx_ctx_free(ctx);
    return 0;
}
