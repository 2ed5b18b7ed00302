/*
 * spectrum.c - the EEG power spectrum drawn in the report.
 *
 * For the picture only: the numbers the report states come from the EEG
 * stage's features. The plot needs a PSD per channel, which the feature
 * stage does not leave on the patient, so it is recomputed here cheaply:
 * Welch, Hann window of 2 s, 50 % overlap, over at most the first max_s
 * seconds of each channel that shares the first channel's sampling rate.
 */
#include "core/common.h"
#include "io/signal.h"
#include "report/report_int.h"

#include <kiss_fftr.h>

#define MAX_CH 64

void mmdx__eeg_spectrum_fini(struct eeg_spectrum *sp)
{
    mmdx__free(sp->mean_psd);
    mmdx__free(sp->label);
    mmdx__free(sp->alpha_rel);
    memset(sp, 0, sizeof(*sp));
}

enum mmdx_status mmdx__eeg_spectrum(struct mmdx_ctx *ctx,
                                    const struct mmdx_signal *s, double max_s,
                                    struct eeg_spectrum *out)
{
    size_t nfft, nf, c, i, used = 0;
    double fs, norm = 0;
    size_t cfg_len = 0;
    void *cfg_mem = NULL;
    kiss_fftr_cfg cfg;
    float *win = NULL, *seg = NULL;
    kiss_fft_cpx *spec = NULL;
    double *psd = NULL, *xb = NULL;
    enum mmdx_status st = MMDX_OK;

    memset(out, 0, sizeof(*out));
    if (!s || !s->nch || !(s->ch[0].fs_hz > 0))
        return MMDX_OK;
    fs = s->ch[0].fs_hz;
    nfft = (size_t)(2 * fs + 0.5);
    nfft += nfft & 1;
    if (nfft < 16 || nfft > (1u << 20))
        return MMDX_OK;
    nf = nfft / 2 + 1;
    kiss_fftr_alloc((int)nfft, 0, NULL, &cfg_len);
    cfg_mem = mmdx__malloc(cfg_len);
    win = mmdx__calloc(nfft, sizeof(*win));
    seg = mmdx__calloc(nfft, sizeof(*seg));
    spec = mmdx__calloc(nf, sizeof(*spec));
    psd = mmdx__calloc(nf, sizeof(*psd));
    xb = mmdx__calloc(nfft, sizeof(*xb));
    out->mean_psd = mmdx__calloc(nf, sizeof(double));
    out->label = mmdx__calloc(MAX_CH, sizeof(*out->label));
    out->alpha_rel = mmdx__calloc(MAX_CH, sizeof(double));
    if (!cfg_mem || !win || !seg || !spec || !psd || !xb || !out->mean_psd ||
        !out->label || !out->alpha_rel) {
        st = mmdx__nomem(ctx);
        goto out;
    }
    cfg = kiss_fftr_alloc((int)nfft, 0, cfg_mem, &cfg_len);
    if (!cfg) {
        st = mmdx__fail(ctx, MMDX_E_INTERNAL, "report", NULL, 0, NULL,
                        "FFT setup failed for %zu points", nfft);
        goto out;
    }
    for (i = 0; i < nfft; i++) {
        win[i] = (float)(0.5 - 0.5 * cos(2 * M_PI * (double)i / (double)nfft));
        norm += (double)win[i] * win[i];
    }
    out->nf = nf;
    out->df_hz = fs / (double)nfft;
    for (c = 0; c < s->nch && used < MAX_CH; c++) {
        const struct mmdx_channel *ch = &s->ch[c];
        size_t n = ch->n, start, nseg = 0;
        double tot = 0, alpha = 0, mean;

        if (ch->fs_hz != fs || n < nfft)
            continue;
        if ((double)n > max_s * fs)
            n = (size_t)(max_s * fs);
        memset(psd, 0, nf * sizeof(*psd));
        for (start = 0; start + nfft <= n; start += nfft / 2) {
            /* through mmdx__signal_read: EEG signals may be lazy (samples
             * read from the file on demand, ch->data NULL) */
            st = mmdx__signal_read(ctx, s, c, start, nfft, xb);
            if (st)
                goto out;
            /* remove the segment mean so DC does not leak into delta */
            mean = 0;
            for (i = 0; i < nfft; i++)
                mean += isfinite(xb[i]) ? xb[i] : 0;
            mean /= (double)nfft;
            for (i = 0; i < nfft; i++) {
                double v = xb[i];

                seg[i] = (float)((isfinite(v) ? v - mean : 0) * win[i]);
            }
            kiss_fftr(cfg, seg, spec);
            for (i = 0; i < nf; i++)
                psd[i] += (double)spec[i].r * spec[i].r +
                          (double)spec[i].i * spec[i].i;
            nseg++;
        }
        if (!nseg)
            continue;
        for (i = 0; i < nf; i++) {
            /* one-sided density, uV^2/Hz */
            double v = psd[i] / (double)nseg / (fs * norm);

            if (i > 0 && i + 1 < nf)
                v *= 2;
            out->mean_psd[i] += v;
            if (i * out->df_hz >= 1 && i * out->df_hz < 45)
                tot += v;
            if (i * out->df_hz >= 8 && i * out->df_hz < 13)
                alpha += v;
        }
        mmdx__strlcpy(out->label[used], ch->label, sizeof(out->label[used]));
        out->alpha_rel[used] = tot > 0 ? alpha / tot : NAN;
        out->seconds = (double)n / fs;
        used++;
    }
    out->nch = used;
    for (i = 0; i < nf && used; i++)
        out->mean_psd[i] /= (double)used;
out:
    mmdx__free(cfg_mem);
    mmdx__free(win);
    mmdx__free(seg);
    mmdx__free(spec);
    mmdx__free(psd);
    mmdx__free(xb);
    if (st)
        mmdx__eeg_spectrum_fini(out);
    return st;
}
