/*
 * fuzz_fusion_model.c - libFuzzer harness for the model-file parser.
 * Most inputs get a freshly computed length field and SHA-256 trailer so
 * that mutations reach the field checks behind the checksum; every 5th is
 * parsed exactly as given. A model that parses is applied to a row of
 * values (all present, then all missing) to exercise the layout.
 */
#include "core/common.h"
#include "fusion/fusion.h"
#include "fusion/risk.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static unsigned long iter;
    struct mmdx_ctx *ctx = NULL;
    struct mmdx__model m;
    unsigned char *buf;
    size_t len = size, i;
    enum mmdx_status st;

    if (mmdx_ctx_new(&ctx))
        return 0;
    buf = malloc(size + 64 + 1);
    if (!buf) {
        mmdx_ctx_free(ctx);
        return 0;
    }
    memcpy(buf, data, size);
    if (++iter % 5 != 0 && size >= 24) {
        char hex[MMDX_SHA256_HEX];
        uint64_t plen = size - 24;

        for (i = 0; i < 8; i++)
            buf[16 + i] = (unsigned char)(plen >> (8 * i));
        if (mmdx__sha256_buf(ctx, buf, size, hex) == MMDX_OK) {
            memcpy(buf + size, hex, 64);
            len = size + 64;
        }
    }
    if (iter % 11 == 0)
        mmdx__alloc_fail_at(1 + (unsigned long)(size % 37));
    st = mmdx__model_parse(ctx, "fuzz.mmdx", buf, len, &m);
    mmdx__alloc_fail_at(0);
    fuzz_check_error(ctx, st);
    if (!st) {
        float *row = malloc((m.nfeat ? m.nfeat : 1) * 2 * sizeof(float));
        struct mmdx_risk r[2];

        if (row && m.nfeat <= 4096) {
            for (i = 0; i < m.nfeat; i++) {
                row[i] = (float)i - 1.5f;
                row[m.nfeat + i] = NAN;
            }
            mmdx_ctx_clear_error(ctx);
            st = mmdx__model_explain(ctx, &m, row, 2, NULL, NULL, NULL, r,
                                     true);
            fuzz_check_error(ctx, st);
        }
        free(row);
        mmdx__model_fini(&m);
    }
    free(buf);
    mmdx_ctx_free(ctx);
    return 0;
}
