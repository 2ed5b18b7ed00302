/* signal.c - shared pieces of the signal readers: freeing, labels. */
#include "core/common.h"
#include "io/signal.h"

void mmdx__signal_free(struct mmdx_signal *s)
{
    size_t i;

    if (!s)
        return;
    for (i = 0; i < s->nch; i++)
        mmdx__free(s->ch[i].data);
    mmdx__free(s->ch);
    for (i = 0; i < s->nann; i++)
        mmdx__free(s->ann[i].text);
    mmdx__free(s->ann);
    if (s->src)
        s->src->close(s->src);
    mmdx__free(s);
}

void mmdx__signal_free_v(void *s)
{
    mmdx__signal_free(s);
}

static bool eq_nocase(const char *a, const char *b)
{
    return mmdx__strcasecmp(a, b) == 0;
}

void mmdx__label_normalise(const char *raw, char *out, size_t size)
{
    static const char *const canon[] = {
        "Fp1", "Fp2", "Fpz", "AF3", "AF4", "AF7", "AF8", "AFz", "F1", "F2",
        "F3", "F4", "F5", "F6", "F7", "F8", "F9", "F10", "Fz", "FC1", "FC2",
        "FC3", "FC4", "FC5", "FC6", "FCz", "FT7", "FT8", "FT9", "FT10", "C1",
        "C2", "C3", "C4", "C5", "C6", "Cz", "T7", "T8", "T9", "T10", "TP7",
        "TP8", "TP9", "TP10", "CP1", "CP2", "CP3", "CP4", "CP5", "CP6", "CPz",
        "P1", "P2", "P3", "P4", "P5", "P6", "P7", "P8", "P9", "P10", "Pz",
        "PO3", "PO4", "PO7", "PO8", "POz", "O1", "O2", "Oz", "Iz", "A1", "A2",
        "M1", "M2", "I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3",
        "V4", "V5", "V6", "MLII", "MLI", "MLIII", "V", "X", "Y", "Z"
    };
    static const struct {
        const char *old, *new_;
    } renames[] = { { "T3", "T7" }, { "T4", "T8" }, { "T5", "P7" },
                    { "T6", "P8" } };
    char buf[64];
    size_t n, i;
    const char *s = raw;

    while (*s == ' ')
        s++;
    if (mmdx__strncasecmp(s, "EEG ", 4) == 0 ||
        mmdx__strncasecmp(s, "ECG ", 4) == 0 ||
        mmdx__strncasecmp(s, "EKG ", 4) == 0)
        s += 4;
    while (*s == ' ')
        s++;
    mmdx__strlcpy(buf, s, sizeof(buf));
    n = strlen(buf);
    while (n && buf[n - 1] == ' ')
        buf[--n] = '\0';
    /* reference suffixes */
    {
        static const char *const suffixes[] = { "-REF", "-A1", "-A2", "-LE",
                                                "-M1", "-M2", "-AVG", "-AR",
                                                "-CZ", "-RE" };

        for (i = 0; i < MMDX_ARRAY_SIZE(suffixes); i++) {
            size_t sl = strlen(suffixes[i]);

            if (n > sl && mmdx__strcasecmp(buf + n - sl, suffixes[i]) == 0) {
                buf[n - sl] = '\0';
                n -= sl;
                break;
            }
        }
    }
    for (i = 0; i < MMDX_ARRAY_SIZE(renames); i++)
        if (eq_nocase(buf, renames[i].old)) {
            mmdx__strlcpy(buf, renames[i].new_, sizeof(buf));
            break;
        }
    for (i = 0; i < MMDX_ARRAY_SIZE(canon); i++)
        if (eq_nocase(buf, canon[i])) {
            mmdx__strlcpy(out, canon[i], size);
            return;
        }
    mmdx__strlcpy(out, buf, size);
}

int mmdx__signal_find(const struct mmdx_signal *s, const char *label)
{
    size_t i;

    for (i = 0; i < s->nch; i++)
        if (eq_nocase(s->ch[i].label, label))
            return (int)i;
    if (eq_nocase(label, "II"))
        for (i = 0; i < s->nch; i++)
            if (eq_nocase(s->ch[i].label, "MLII"))
                return (int)i;
    return -1;
}

enum mmdx_status mmdx__signal_read(struct mmdx_ctx *ctx,
                                   const struct mmdx_signal *s, size_t ch,
                                   size_t first, size_t n, double *out)
{
    const struct mmdx_channel *c;
    size_t i;

    if (ch >= s->nch || first > s->ch[ch].n || n > s->ch[ch].n - first)
        return mmdx__fail(ctx, MMDX_E_INVAL, "signal", NULL, 0, NULL,
                          "samples [%zu, +%zu) of channel %zu out of range",
                          first, n, ch);
    c = &s->ch[ch];
    if (c->data) {
        for (i = 0; i < n; i++)
            out[i] = c->data[first + i];
        return MMDX_OK;
    }
    if (!s->src)
        return mmdx__fail(ctx, MMDX_E_INTERNAL, "signal", NULL, 0, NULL,
                          "channel %zu has no samples", ch);
    return s->src->read(s->src, ch, first, n, out);
}
