/*
 * signal.h - multichannel recordings as the ECG and EEG readers hand them
 * forward (WFDB, EDF/EDF+/BDF, aECG, DICOM waveform). Shared by the ECG and
 * EEG areas: add to it, do not change what is here without both.
 */
#ifndef MMDX_SIGNAL_H
#define MMDX_SIGNAL_H

#include "core/common.h"

struct mmdx_annotation {
    double onset_s;          /* from recording start, seconds */
    double duration_s;       /* 0 when none */
    char *text;              /* may be identifying in EDF+: never log it */
};

struct mmdx_channel {
    char label[32];          /* normalised: "II", "V1", "Fp1", "T7" */
    char raw_label[32];      /* as recorded, trimmed */
    char unit[16];           /* unit of data[]: "mV" (ECG), "uV" (EEG) */
    double fs_hz;            /* sampling rate, Hz */
    size_t n;                /* samples in data[] */
    float *data;             /* physical values in unit; n of them */
};

/*
 * A source of samples read on demand (EEG readers in lazy mode), so a long
 * recording need not be held in memory. Implementations embed it as their
 * first member. read() returns n physical values of channel ch (in the
 * channel's unit) from sample index first; errors go to the context the
 * source was opened with.
 */
struct mmdx_signal_src {
    enum mmdx_status (*read)(struct mmdx_signal_src *src, size_t ch,
                             size_t first, size_t n, double *out);
    void (*close)(struct mmdx_signal_src *src);
};

struct mmdx_signal {
    int format;              /* enum mmdx_format it was read from */
    size_t nch;
    struct mmdx_channel *ch;
    double duration_s;       /* recording length, seconds */
    struct mmdx_annotation *ann;
    size_t nann;
    /* Lazy signals: every ch[].data is NULL (ch[].n still counts the
     * samples) and samples come from src; NULL when loaded. Owned. */
    struct mmdx_signal_src *src;
};

/* Free a signal and everything it owns; NULL is a no-op. */
void mmdx__signal_free(struct mmdx_signal *s);
/* Same, with the slot-free signature. */
void mmdx__signal_free_v(void *s);

/*
 * Normalise a channel label (DESIGN.md conventions): case-insensitive,
 * "EEG "/"ECG " prefixes and reference suffixes ("-Ref", "-A1", "-LE")
 * dropped, old 10-20 names mapped to new (T3=T7, T4=T8, T5=P7, T6=P8),
 * canonical case ("Fp1", "Cz", "II", "aVR", "V1"). MLII stays "MLII".
 */
void mmdx__label_normalise(const char *raw, char *out, size_t size);

/*
 * n samples of channel ch from index first as doubles, from ch[].data or
 * from s->src (lazy signals). E_INVAL when the range is outside the
 * channel.
 */
enum mmdx_status mmdx__signal_read(struct mmdx_ctx *ctx,
                                   const struct mmdx_signal *s, size_t ch,
                                   size_t first, size_t n, double *out);

/* Index of the channel whose normalised label equals label (compared
 * case-insensitively; "II" also matches "MLII"), or -1. */
int mmdx__signal_find(const struct mmdx_signal *s, const char *label);

#endif
