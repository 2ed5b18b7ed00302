/*
 * edf.h - EDF, EDF+ (continuous and discontinuous), BDF and BDF+ reader.
 *
 * Two ways in:
 *  - mmdx__edf_open(): parse and check the header, then read any window of
 *    samples (mmdx__edf_read_samples) through a bounded record cache, so
 *    recordings of any length (> 4 GiB too) are read with flat memory;
 *  - mmdx__edf_read(): the convenience "read it all" into a struct
 *    mmdx_signal (float samples), or a lazy signal whose samples are read
 *    on demand (opts.lazy), see mmdx__signal_read().
 *
 * Physical value = (digital - dig_min) * (phys_max - phys_min) /
 * (dig_max - dig_min) + phys_min, in the signal's physical dimension, or
 * converted to opts.voltage_unit when the dimension is a voltage.
 *
 * Limits (documented, checked, E_LIMIT): at most MMDX_EDF_MAX_SIGNALS
 * signals, MMDX_EDF_MAX_SPR samples per signal per record, records of at
 * most MMDX_EDF_MAX_RECORD_BYTES, MMDX_EDF_MAX_ANNOTATIONS annotations of
 * at most MMDX_EDF_MAX_ANN_TEXT bytes each. Checked as E_FORMAT: a data
 * signal's rate (samples per record / record duration) within
 * [MMDX_EDF_MIN_FS_HZ, MMDX_EDF_MAX_FS_HZ]; start date a calendar date
 * (dd.mm.yy, years 1985-2084 as EDF+ says) and start time a clock time.
 *
 * The patient and recording fields and the start date may identify the
 * patient: they are kept in the handle for the de-identification gate
 * (mmdx__edf_idfields) and never logged or put in an error message.
 */
#ifndef MMDX_EDF_H
#define MMDX_EDF_H

#include "core/common.h"
#include "io/signal.h"
#include "mmdx/format.h"

#define MMDX_EDF_MAX_SIGNALS 4096
#define MMDX_EDF_MAX_SPR 10000000          /* samples per record */
#define MMDX_EDF_MAX_RECORD_BYTES (64u << 20)
#define MMDX_EDF_MAX_ANNOTATIONS 1000000
#define MMDX_EDF_MAX_ANN_TEXT 1024        /* bytes per annotation text */
#define MMDX_EDF_MAX_FS_HZ 1.0e6          /* as WFDB's limit */
#define MMDX_EDF_MIN_FS_HZ 1.0e-4         /* one sample per 2.8 hours */
#define MMDX_EDF_CACHE_BYTES (4u << 20)   /* record cache, at least 1 record */

struct mmdx_edf_signal {
    char raw_label[17];       /* as recorded, trimmed */
    char label[32];           /* mmdx__label_normalise()d */
    char transducer[81];
    char physdim[9];          /* as recorded, trimmed */
    char prefilter[81];
    double phys_min, phys_max;/* in physdim */
    long dig_min, dig_max;    /* ADC units */
    size_t spr;               /* samples per data record */
    double fs_hz;             /* spr / record duration; 0 if duration is 0 */
    double gain;              /* physdim per ADC unit */
    size_t byte_off;          /* offset of this signal within a record */
    bool annotation;          /* "EDF Annotations" / "BDF Annotations" */
};

struct mmdx_edf {
    struct mmdx_ctx *ctx;
    char *path;
    int fd;                   /* -1 when parsed from memory */
    int format;               /* enum mmdx_format */
    bool bdf;                 /* 3-byte samples */
    bool plus;                /* EDF+/BDF+ */
    bool discontinuous;       /* EDF+D/BDF+D */
    char patient[81];         /* identifying: never log */
    char recording[81];       /* identifying: never log */
    char startdate[9];        /* "dd.mm.yy": identifying */
    char starttime[9];        /* "hh.mm.ss" */
    size_t header_bytes;
    size_t nrec;              /* data records */
    double rec_dur_s;         /* seconds per record (may be 0: annotations only) */
    size_t ns;                /* signals, annotation channels included */
    struct mmdx_edf_signal *sig;
    size_t rec_bytes;         /* bytes per data record */
    unsigned samp_bytes;      /* 2 (EDF) or 3 (BDF) */
    double start_offset_s;    /* EDF+: sub-second start from the first TAL */
    double *rec_onset_s;      /* EDF+D: onset of each record (nrec), else NULL */
    size_t ngaps;             /* EDF+D: discontinuities found */
    /* record cache */
    unsigned char *cache;
    size_t cache_cap_rec;     /* records the cache can hold */
    size_t cache_rec0, cache_nrec;
};

struct mmdx_edf_opts {
    const char *voltage_unit; /* "uV", "mV", "V" or NULL to keep as recorded */
    bool lazy;                /* mmdx__edf_read: samples on demand */
    bool skip_annotations;    /* do not parse TALs */
};

/* Open path and check its header against the file size. Every malformed
 * field is an E_FORMAT error naming it ("signal[3].dig_max"). *out = NULL
 * on failure. */
enum mmdx_status mmdx__edf_open(struct mmdx_ctx *ctx, const char *path,
                                struct mmdx_edf **out);

/*
 * Parse a header held in memory (len bytes, at least the fixed 256 bytes
 * and, for the per-signal part, 256 * (ns + 1)); file_size is the whole
 * file's size in bytes, checked against the record count. The handle can
 * then not read samples (fd = -1). Used by mmdx__edf_open and the fuzzer.
 */
enum mmdx_status mmdx__edf_parse_header(struct mmdx_ctx *ctx,
                                        const char *path,
                                        const unsigned char *buf, size_t len,
                                        uint64_t file_size,
                                        struct mmdx_edf **out);

void mmdx__edf_close(struct mmdx_edf *e);

/* Total samples of signal i over all records. */
size_t mmdx__edf_nsamples(const struct mmdx_edf *e, size_t i);

/* Multiplier from the signal's physical dimension to unit ("uV", "mV",
 * "V"); false when the dimension is not a recognised voltage. */
bool mmdx__edf_unit_scale(const char *physdim, const char *unit,
                          double *mult);

/*
 * Read n samples of signal i from sample index first (records
 * concatenated) as physical values in its physdim, times mult. Reads go
 * through the record cache: reading the same window for several signals
 * costs one read of the file.
 */
enum mmdx_status mmdx__edf_read_samples(struct mmdx_edf *e, size_t i,
                                        size_t first, size_t n, double mult,
                                        double *out);

/* The raw bytes of records [rec0, rec0 + n) through the cache; *data
 * points into the cache (valid until the next read). n <= cache_cap_rec. */
enum mmdx_status mmdx__edf_records(struct mmdx_edf *e, size_t rec0,
                                   size_t n, const unsigned char **data);

/*
 * Parse the TALs of every annotation signal, record by record (bounded
 * memory besides the result). Time-keeping TALs give start_offset_s and,
 * for EDF+D, rec_onset_s. Onsets are made relative to the recording start
 * (the first record's time stamp). *ann is an array of *nann owned by the
 * caller (free each text, then the array).
 */
enum mmdx_status mmdx__edf_annotations(struct mmdx_edf *e,
                                       struct mmdx_annotation **ann,
                                       size_t *nann);

/* Parse one annotation signal's bytes of one record (TAL list) and append
 * to *ann. Exposed for tests and the fuzzer. rec_onset receives the
 * time-keeping TAL's onset (NAN if none). */
enum mmdx_status mmdx__edf_parse_tals(struct mmdx_edf *e, size_t rec,
                                      const unsigned char *b, size_t len,
                                      struct mmdx_annotation **ann,
                                      size_t *nann, size_t *cap,
                                      double *rec_onset);

/*
 * Read a whole recording into a new signal: data signals become channels
 * (annotation signals are parsed into s->ann). With opts->lazy the
 * channels' data stay NULL and s->src reads from the open file. On
 * success the handle e (when not NULL) is used, otherwise path is opened.
 */
enum mmdx_status mmdx__edf_read(struct mmdx_ctx *ctx, const char *path,
                                const struct mmdx_edf_opts *opts,
                                struct mmdx_signal **out);

/* Same from an open handle; takes ownership of e on every path. */
enum mmdx_status mmdx__edf_to_signal(struct mmdx_edf *e,
                                     const struct mmdx_edf_opts *opts,
                                     struct mmdx_signal **out);

/* Callback for possibly identifying header fields: field name, kind
 * (enum mmdx_id_kind from pipeline/stage.h) and value. */
typedef enum mmdx_status (*mmdx__edf_idfield_fn)(void *user,
                                                 const char *field,
                                                 int kind,
                                                 const char *value);
/* Report the identifying header fields (EDF+ subfields when EDF+; "X"
 * means removed and is not reported). */
enum mmdx_status mmdx__edf_idfields(const struct mmdx_edf *e,
                                    mmdx__edf_idfield_fn fn, void *user);

/* `mmdx inspect` hook (src/io/inspect.c): variant, signals, rates,
 * records, annotation count; no identifying value. */
enum mmdx_status mmdx__edf_inspect(struct mmdx_ctx *ctx, const char *path,
                                   enum mmdx_format fmt, mmdx_kv_fn fn,
                                   void *user);

#endif
