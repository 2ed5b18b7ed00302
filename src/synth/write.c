/*
 * write.c - writers for the signal formats of synthetic cohorts:
 *  - EDF and EDF+C (Kemp et al. 1992, 2003): a 256-byte header, 256 bytes
 *    per signal, then data records of little-endian 16-bit samples; EDF+
 *    adds an "EDF Annotations" signal of time-stamped annotation lists.
 *  - WFDB (PhysioNet): a .hea header, a format 212 .dat (two 12-bit
 *    samples in three bytes) and a MIT-format .atr annotation file with
 *    the true R peaks and rhythm changes.
 * Every file goes through mmdx__file_write_atomic.
 */
#include "core/common.h"
#include "synth/synth_int.h"

/* Append an ASCII header field, left-justified and space-padded. */
static enum mmdx_status field(struct mmdx_dstr *d, const char *s, size_t w)
{
    size_t n = strlen(s), i;
    enum mmdx_status st;

    if (n > w)
        n = w;
    st = mmdx__dstr_add(d, s, n);
    for (i = n; !st && i < w; i++)
        st = mmdx__dstr_add(d, " ", 1);
    return st;
}

static enum mmdx_status field_num(struct mmdx_dstr *d, double v, size_t w)
{
    char buf[32];
    int prec;

    /* The shortest %g rendering that fits the field. */
    for (prec = 8; prec > 0; prec--) {
        snprintf(buf, sizeof(buf), "%.*g", prec, v);
        if (strlen(buf) <= w)
            break;
    }
    return field(d, buf, w);
}

static enum mmdx_status add_i16(struct mmdx_dstr *d, int v)
{
    char b[2];

    b[0] = (char)(v & 0xff);
    b[1] = (char)((v >> 8) & 0xff);
    return mmdx__dstr_add(d, b, 2);
}

/* The TALs of record `rec`: the time-keeping TAL, then (record 0 only)
 * every annotation. Returns the byte count without padding. */
static enum mmdx_status tal(struct mmdx_dstr *d, size_t rec,
                            const struct synth_edf_annot *an, size_t nan)
{
    enum mmdx_status st;
    size_t i;

    st = mmdx__dstr_addf(d, "+%zu", rec);
    if (!st)
        st = mmdx__dstr_add(d, "\x14\x14\0", 3);
    for (i = 0; !st && rec == 0 && i < nan; i++) {
        st = mmdx__dstr_addf(d, "+%.3f\x15%.3f\x14%s\x14", an[i].onset_s,
                             an[i].duration_s, an[i].text);
        if (!st)
            st = mmdx__dstr_add(d, "\0", 1);
    }
    return st;
}

enum mmdx_status mmdx__synth_edf_write(struct mmdx_ctx *ctx, const char *path,
                                       const char *patient,
                                       const char *recording, int plus,
                                       size_t nrec,
                                       const struct synth_edf_signal *sig,
                                       size_t ns,
                                       const struct synth_edf_annot *an,
                                       size_t nan)
{
    struct mmdx_dstr d, t;
    size_t nsig = ns + (plus ? 1 : 0), ann_spr = 0, rec, i, k;
    enum mmdx_status st = MMDX_OK;
    char num[32];

    mmdx__dstr_init(&d, (size_t)1 << 30);
    mmdx__dstr_init(&t, (size_t)1 << 20);
    if (plus) {
        /* The annotation signal is as long as record 0's TALs need. */
        st = tal(&t, 0, an, nan);
        if (st)
            goto out;
        ann_spr = (t.len + 16 + 1) / 2;
        mmdx__dstr_reset(&t);
    }
    st = field(&d, "0", 8);
    if (!st) st = field(&d, patient, 80);
    if (!st) st = field(&d, recording, 80);
    if (!st) st = field(&d, "01.01.85", 8);
    if (!st) st = field(&d, "00.00.00", 8);
    snprintf(num, sizeof(num), "%zu", 256 * (nsig + 1));
    if (!st) st = field(&d, num, 8);
    if (!st) st = field(&d, plus ? "EDF+C" : "", 44);
    snprintf(num, sizeof(num), "%zu", nrec);
    if (!st) st = field(&d, num, 8);
    if (!st) st = field(&d, "1", 8);
    snprintf(num, sizeof(num), "%zu", nsig);
    if (!st) st = field(&d, num, 4);
#define EACH(expr)                                                           \
    for (i = 0; !st && i < nsig; i++) {                                      \
        const struct synth_edf_signal *s = i < ns ? &sig[i] : NULL;          \
        (void)s;                                                             \
        st = (expr);                                                         \
    }
    EACH(field(&d, s ? s->label : "EDF Annotations", 16))
    EACH(field(&d, s ? s->transducer : "", 80))
    EACH(field(&d, s ? s->dim : "", 8))
    EACH(field_num(&d, s ? s->pmin : -1, 8))
    EACH(field_num(&d, s ? s->pmax : 1, 8))
    EACH(field_num(&d, s ? s->dmin : -32768, 8))
    EACH(field_num(&d, s ? s->dmax : 32767, 8))
    EACH(field(&d, s ? s->prefilter : "", 80))
    EACH(field_num(&d, s ? (double)s->spr : (double)ann_spr, 8))
    EACH(field(&d, "", 32))
#undef EACH
    for (rec = 0; !st && rec < nrec; rec++) {
        for (i = 0; !st && i < ns; i++) {
            const struct synth_edf_signal *s = &sig[i];
            double g = (s->dmax - s->dmin) / (s->pmax - s->pmin);

            for (k = 0; !st && k < s->spr; k++) {
                double v = s->data[rec * s->spr + k];
                long q = lround((v - s->pmin) * g + s->dmin);

                q = q < s->dmin ? s->dmin : q > s->dmax ? s->dmax : q;
                st = add_i16(&d, (int)q);
            }
        }
        if (!st && plus) {
            mmdx__dstr_reset(&t);
            st = tal(&t, rec, an, nan);
            for (k = t.len; !st && k < 2 * ann_spr; k++)
                st = mmdx__dstr_add(&t, "\0", 1);
            if (!st)
                st = mmdx__dstr_add(&d, t.s, t.len);
        }
    }
    if (st) {
        st = st == MMDX_E_NOMEM ? mmdx__nomem(ctx)
                                : mmdx__fail(ctx, st, "synth", path, 0, NULL,
                                             "EDF file too large");
        goto out;
    }
    st = mmdx__file_write_atomic(ctx, path, d.s, d.len);
out:
    mmdx__dstr_fini(&d);
    mmdx__dstr_fini(&t);
    return st;
}

/* ---- WFDB ---------------------------------------------------------------- */

#define WFDB_GAIN 200.0    /* adu per mV */
#define ANN_NORMAL 1
#define ANN_RHYTHM 28
#define ANN_SKIP 59
#define ANN_AUX 63

static int adu12(float mv)
{
    long q = lround(mv * WFDB_GAIN);

    /* -2048 is the invalid-sample code of format 212. */
    return (int)(q < -2047 ? -2047 : q > 2047 ? 2047 : q);
}

static enum mmdx_status ann_word(struct mmdx_dstr *d, int code, unsigned v)
{
    return add_i16(d, (int)(((unsigned)code << 10) | (v & 0x3ff)));
}

/* One annotation `code` at `sample`, after the previous one at *last. */
static enum mmdx_status ann_put(struct mmdx_dstr *d, size_t *last,
                                size_t sample, int code, const char *aux)
{
    size_t diff = sample - *last;
    enum mmdx_status st = MMDX_OK;

    if (diff > 1023) {
        /* SKIP: a 32-bit interval, high 16 bits first, each little-endian
         * (the PDP-11 order of the MIT format). */
        st = ann_word(d, ANN_SKIP, 0);
        if (!st) st = add_i16(d, (int)((diff >> 16) & 0xffff));
        if (!st) st = add_i16(d, (int)(diff & 0xffff));
        diff = 0;
    }
    if (!st)
        st = ann_word(d, code, (unsigned)diff);
    if (!st && aux) {
        size_t n = strlen(aux);

        st = ann_word(d, ANN_AUX, (unsigned)n);
        if (!st) st = mmdx__dstr_add(d, aux, n);
        if (!st && (n & 1)) st = mmdx__dstr_add(d, "\0", 1);
    }
    *last = sample;
    return st;
}

enum mmdx_status mmdx__synth_wfdb_write(struct mmdx_ctx *ctx, const char *dir,
                                        const char *name,
                                        const struct synth_ecg *e,
                                        const char *const *comments,
                                        size_t ncomments)
{
    static const char *const desc[2] = { "II", "V1" };
    struct mmdx_dstr hea, dat, atr;
    char *path = NULL, fname[128];
    long cks[2] = { 0, 0 };
    int init[2] = { 0, 0 }, s;
    size_t i, last = 0;
    enum mmdx_status st = MMDX_OK;

    mmdx__dstr_init(&hea, 1 << 16);
    mmdx__dstr_init(&dat, (size_t)1 << 30);
    mmdx__dstr_init(&atr, (size_t)1 << 26);
    for (i = 0; !st && i < e->n; i++) {
        int a = adu12(e->lead[0][i]), b = adu12(e->lead[1][i]);
        char by[3];

        if (i == 0) {
            init[0] = a;
            init[1] = b;
        }
        cks[0] += a;
        cks[1] += b;
        by[0] = (char)(a & 0xff);
        by[1] = (char)(((a >> 8) & 0x0f) | (((b >> 8) & 0x0f) << 4));
        by[2] = (char)(b & 0xff);
        st = mmdx__dstr_add(&dat, by, 3);
    }
    if (!st)
        st = mmdx__dstr_addf(&hea, "%s 2 %g %zu\n", name, e->fs_hz, e->n);
    for (s = 0; !st && s < 2; s++)
        st = mmdx__dstr_addf(&hea, "%s.dat 212 %g 12 0 %d %d 0 %s\n", name,
                             WFDB_GAIN, init[s], (int)(int16_t)(cks[s] & 0xffff),
                             desc[s]);
    for (i = 0; !st && i < ncomments; i++)
        st = mmdx__dstr_addf(&hea, "#%s\n", comments[i]);

    for (i = 0; !st && i < e->nbeats; i++) {
        if (i == 0 || e->beat_af[i] != e->beat_af[i - 1])
            st = ann_put(&atr, &last, e->rpeak[i], ANN_RHYTHM,
                         e->beat_af[i] ? "(AFIB" : "(N");
        if (!st)
            st = ann_put(&atr, &last, e->rpeak[i], ANN_NORMAL, NULL);
    }
    if (!st)
        st = add_i16(&atr, 0);
    if (st) {
        st = mmdx__nomem(ctx);
        goto out;
    }
#define PUT(ext, buf)                                                        \
    do {                                                                     \
        snprintf(fname, sizeof(fname), "%s.%s", name, ext);                  \
        mmdx__free(path);                                                    \
        path = mmdx__path_join(dir, fname);                                  \
        if (!path) {                                                         \
            st = mmdx__nomem(ctx);                                           \
            goto out;                                                        \
        }                                                                    \
        st = mmdx__file_write_atomic(ctx, path, (buf).s, (buf).len);         \
        if (st)                                                              \
            goto out;                                                        \
    } while (0)
    PUT("dat", dat);
    PUT("atr", atr);
    PUT("hea", hea);
#undef PUT
out:
    mmdx__free(path);
    mmdx__dstr_fini(&hea);
    mmdx__dstr_fini(&dat);
    mmdx__dstr_fini(&atr);
    return st;
}
