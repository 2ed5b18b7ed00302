/*
 * fuzz_wfdb_header.c - libFuzzer harness for the WFDB header parser and the
 * signal-file decoders. Input starting with 'H': the rest is a .hea text
 * (parsed from memory). Otherwise byte 0 picks a storage format and a
 * signal count, byte 1 a declared length, and the rest is the signal file
 * read through a generated header (sizes may disagree on purpose). Input
 * starting with 'M': the rest is a multi-segment master header, loaded
 * from a folder that holds a few valid segment records (s1: II and V1,
 * s2: V1, lay: a layout header), through the WFDB and the ECG loaders.
 */
#include "core/common.h"
#include "io/ecg_load.h"
#include "io/wfdb.h"
#include "fuzz_util.h"

#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_header(struct mmdx_ctx *ctx, const uint8_t *d, size_t n)
{
    struct mmdx_wfdb_header *h = NULL;
    enum mmdx_status st;

    st = mmdx__wfdb_header_parse(ctx, "/nonexistent/f.hea", (const char *)d,
                                 n, &h);
    fuzz_check_error(ctx, st);
    if (!st) {
        struct mmdx_wfdb_reader *r = NULL;

        /* the signal files do not exist: must fail cleanly */
        st = mmdx__wfdb_reader_new(ctx, h, &r);
        fuzz_check_error(ctx, st);
        mmdx__wfdb_reader_free(r);
    }
    mmdx__wfdb_header_free(h);
}

static void fuzz_signal(struct mmdx_ctx *ctx, const uint8_t *d, size_t n)
{
    static const int fmts[] = { 8, 16, 24, 32, 61, 80, 160, 212, 310, 311 };
    char hea[512], *dat, *dir;
    const char *path;
    int fmt = fmts[d[0] % 10], nsig = 1 + (d[0] / 10) % 3, i;
    struct mmdx_signal *s = NULL;
    enum mmdx_status st;
    size_t len = 0;

    path = fuzz_file(d + 2, n - 2, ".dat");
    if (!path)
        return;
    dat = mmdx__strdup(path);
    dir = mmdx__path_dirname(path);
    if (!dat || !dir)
        goto out;
    /* byte 1: 0 = length from the file size, else a declared length */
    len = (size_t)snprintf(hea, sizeof(hea), "f %d 250 %u\n", nsig,
                           (unsigned)d[1] * 7);
    for (i = 0; i < nsig; i++)
        len += (size_t)snprintf(hea + len, sizeof(hea) - len,
                                "%s %d%s 200(%d)/mV 12 0 %d\n",
                                mmdx__path_basename(dat), fmt,
                                i == 1 && (d[0] & 1) ? "x2" : "", i - 1, i);
    {
        /* a per-process name: the data file's name with .hea */
        char *hp = mmdx__strdup(path);
        FILE *fp;

        if (!hp)
            goto out;
        memcpy(hp + strlen(hp) - 4, ".hea", 4);
        fp = fopen(hp, "wb");
        if (fp) {
            fwrite(hea, 1, len, fp);
            fclose(fp);
            if (++len % 5 == 0)
                mmdx__alloc_fail_at(1 + (unsigned long)(n % 23));
            st = mmdx__wfdb_load(ctx, hp, NULL, 0, &s, NULL);
            mmdx__alloc_fail_at(0);
            fuzz_check_error(ctx, st);
            mmdx__signal_free(s);
            unlink(hp);
        }
        mmdx__free(hp);
    }
out:
    unlink(path);
    mmdx__free(dat);
    mmdx__free(dir);
}

static void put(const char *dir, const char *name, const void *d, size_t n)
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

static void fuzz_multiseg(struct mmdx_ctx *ctx, const uint8_t *d, size_t n)
{
    static char dir[128];
    static bool ready;
    /* s1.dat: 4 frames of (II, V1), format 16, samples 1..8 */
    static const unsigned char s1[] = { 1, 0, 2, 0, 3, 0, 4, 0,
                                        5, 0, 6, 0, 7, 0, 8, 0 };
    static const char s1h[] = "s1 2 250 4\ns1.dat 16 200 16 0 0 16 0 II\n"
                              "s1.dat 16 200 16 0 0 20 0 V1\n";
    static const char s2h[] = "s2 1 250 8\ns2.dat 16 200 16 0 0 36 0 V1\n";
    static const char layh[] = "lay 2 250 0\n~ 0 200 16 0 0 0 0 II\n"
                               "~ 0 200 16 0 0 0 0 V1\n";
    const char *want[] = { "II" };
    char path[256];
    struct mmdx_signal *s = NULL;
    enum mmdx_status st;
    FILE *fp;

    if (!ready) {
        snprintf(dir, sizeof(dir), "/tmp/mmdx-fuzz-ms-%d", (int)getpid());
        mkdir(dir, 0700);
        put(dir, "s1.dat", s1, sizeof(s1));
        put(dir, "s1.hea", s1h, sizeof(s1h) - 1);
        put(dir, "s2.dat", s1, sizeof(s1)); /* 8 samples of one signal */
        put(dir, "s2.hea", s2h, sizeof(s2h) - 1);
        put(dir, "lay.hea", layh, sizeof(layh) - 1);
        ready = true;
    }
    snprintf(path, sizeof(path), "%s/m.hea", dir);
    fp = fopen(path, "wb");
    if (!fp)
        return;
    fwrite(d, 1, n, fp);
    fclose(fp);
    st = mmdx__wfdb_load(ctx, path, NULL, 0, &s, NULL);
    fuzz_check_error(ctx, st);
    mmdx__signal_free(s);
    s = NULL;
    mmdx_ctx_clear_error(ctx);
    st = mmdx__ecg_load_ex(ctx, path, want, 1, true, NULL, &s);
    fuzz_check_error(ctx, st);
    mmdx__signal_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static unsigned long iter;
    struct mmdx_ctx *ctx = NULL;

    if (size < 2 || mmdx_ctx_new(&ctx))
        return 0;
    if (data[0] == 'H') {
        if (++iter % 7 == 0)
            mmdx__alloc_fail_at(1 + (unsigned long)(size % 31));
        fuzz_header(ctx, data + 1, size - 1);
        mmdx__alloc_fail_at(0);
    } else if (data[0] == 'M') {
        if (++iter % 7 == 0)
            mmdx__alloc_fail_at(1 + (unsigned long)(size % 47));
        fuzz_multiseg(ctx, data + 1, size - 1);
        mmdx__alloc_fail_at(0);
    } else {
        fuzz_signal(ctx, data, size);
    }
    mmdx_ctx_free(ctx);
    return 0;
}
