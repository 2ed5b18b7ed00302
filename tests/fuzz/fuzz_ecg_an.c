/*
 * fuzz_ecg_an.c - libFuzzer harness for the ECG analysis behind
 * ecg.features: the blocked QRS detector (SSE2/AVX paths chosen at run
 * time), the quality windows, the beat ensemble and HRV, fed with
 * arbitrary samples at arbitrary rates in arbitrary push sizes.
 *
 * Input layout: byte 0 picks the sampling rate (a table of real rates,
 * or bytes 1-2 as a rate of their own, which may be refused), byte 3 the
 * push size, byte 4 the length in seconds (1..255) and the gain, byte 5
 * whether absurd values (1e30, -1e30, denormals, and with bit 7 also
 * NaN and infinity) are written at positions taken from the data; the
 * rest is a pattern of signed bytes that is repeated (each repetition a
 * little shifted) to the requested length, so that beat-like shapes
 * recur and the detector, the ensemble and HRV all run.
 *
 * Checked: no crash, no leak, no sanitizer report; a failure carries a
 * message; beats are sorted and inside the record.
 */
#include "core/common.h"
#include "features/ecg_int.h"
#include "pipeline/stage.h"
#include "fuzz_util.h"

static const double rates[] = { 50, 100, 125, 128, 200, 250, 256, 360,
                                500, 1000, 1024, 2000 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct mmdx_ctx *ctx;
    struct mmdx_ecg_an *a = NULL;
    struct mmdx_patient pt;
    const struct mmdx_qrs_beat *b;
    const int8_t *pat;
    size_t npat, total, i, done, push, nb;
    double fs, gain;
    float *x;
    enum mmdx_status st;

    if (size < 8)
        return 0;
    if (data[0] < 0xf0)
        fs = rates[data[0] % (sizeof(rates) / sizeof(rates[0]))];
    else
        fs = (double)(((unsigned)data[1] << 8) | data[2]) / 3.0;
    push = 1 + (size_t)data[3] * 17;
    gain = 0.001 * (double)(1u << (data[4] & 15));
    total = (size_t)(1 + (data[4] >> 4) * 16) * (size_t)(fs > 0 ? fs : 1);
    pat = (const int8_t *)(data + 8);
    npat = size - 8;
    if (total > 4000000)
        total = 4000000;

    if (mmdx_ctx_new(&ctx))
        return 0;
    x = mmdx__malloc(total * sizeof(float));
    if (!x) {
        mmdx_ctx_free(ctx);
        return 0;
    }
    for (i = 0; i < total; i++) {
        size_t rep = npat ? i / npat : 0;
        size_t k = npat ? (i + rep * (data[6] & 7)) % npat : 0;

        x[i] = npat ? (float)(gain * pat[k]) : 0.0f;
    }
    if (data[5] & 1) {
        /* absurd values at positions from the data */
        static const float odd[] = { 1e30f, -1e30f, 1e-40f, 3e38f };

        for (i = 0; i + 1 < npat && i < 64; i += 2) {
            size_t at = ((size_t)(uint8_t)pat[i] * 131u +
                         (size_t)(uint8_t)pat[i + 1] * 7919u) % total;

            x[at] = odd[i / 2 % 4];
            if ((data[5] & 0x80) && i % 4 == 0)
                x[at] = (i & 8) ? NAN : INFINITY;
        }
    }

    memset(&pt, 0, sizeof(pt));
    st = mmdx__ecg_an_new(ctx, fs, &a);
    fuzz_check_error(ctx, st);
    for (done = 0; st == MMDX_OK && done < total; done += push) {
        size_t m = total - done < push ? total - done : push;

        st = mmdx__ecg_an_push(a, x + done, m);
        fuzz_check_error(ctx, st);
    }
    if (st == MMDX_OK) {
        st = mmdx__ecg_an_finish(a, &pt);
        fuzz_check_error(ctx, st);
    }
    if (st == MMDX_OK) {
        b = mmdx__ecg_an_beats(a, &nb);
        for (i = 0; i < nb; i++) {
            if (b[i].sample < 0 || (size_t)b[i].sample >= total)
                abort();
            if (i && b[i].sample <= b[i - 1].sample)
                abort();
        }
    }
    mmdx__ecg_an_free(a);
    mmdx__patient_fini(&pt);
    mmdx__free(x);
    mmdx_ctx_free(ctx);
    return 0;
}
