/*
 * wfdb.h - PhysioNet WFDB records: .hea headers, signal files (formats 8,
 * 16, 24, 32, 61, 80, 160, 212, 310, 311) and MIT annotation files.
 *
 * Limits (documented, checked): header file MMDX_WFDB_MAX_HEADER_BYTES,
 * line MMDX_WFDB_MAX_LINE bytes, MMDX_WFDB_MAX_SIGNALS signals, sampling
 * rate in (0, MMDX_WFDB_MAX_FS_HZ], samples per frame per signal <=
 * MMDX_WFDB_MAX_SPF, annotation file MMDX_WFDB_MAX_ANN_BYTES.
 * Multi-segment records (record name "name/nseg", segment lines, an
 * optional layout header of 0 samples, "~" null segments) are read into
 * memory by mmdx__wfdb_load: at most MMDX_WFDB_MAX_SEGMENTS segments and
 * MMDX_WFDB_MAX_MULTISEG_SAMPLES samples in all; gaps (null segments, a
 * signal absent from a segment) read as 0; one sample per frame.
 */
#ifndef MMDX_WFDB_H
#define MMDX_WFDB_H

#include "core/common.h"
#include "io/signal.h"

#define MMDX_WFDB_MAX_HEADER_BYTES ((size_t)1 << 20)
#define MMDX_WFDB_MAX_LINE 4096
#define MMDX_WFDB_MAX_SIGNALS 1024
#define MMDX_WFDB_MAX_FS_HZ 1.0e6
#define MMDX_WFDB_MAX_SPF 64
#define MMDX_WFDB_MAX_ANN_BYTES ((size_t)256 << 20)
#define MMDX_WFDB_DEFAULT_GAIN 200.0 /* adu per physical unit (WFDB) */
#define MMDX_WFDB_MAX_SEGMENTS 100000
#define MMDX_WFDB_MAX_MULTISEG_SAMPLES ((size_t)128 << 20)

struct mmdx_wfdb_sig {
    char *file;              /* signal file name as written in the header */
    int fmt;                 /* storage format (8, 16, 212, ...) */
    int spf;                 /* samples per frame (>= 1) */
    long skew;               /* frames; parsed, ignored when reading */
    long byte_offset;        /* bytes to skip at the start of the file */
    double gain_adu_per_unit;/* > 0 (200 when absent or 0 in the header) */
    bool gain_given;         /* false: the default gain was used */
    double baseline_adu;     /* physical zero; defaults to adc_zero */
    char units[16];          /* physical units ("mV" when absent) */
    int adc_res_bits;        /* 0 = not given */
    long adc_zero_adu;
    long init_value_adu;     /* first sample (format 8 integrates from it) */
    bool has_checksum;
    long checksum;           /* 16-bit sum of all samples, as given */
    long block_size;
    char *desc;              /* description (lead label), may be "" */
    long line;               /* header line number */
};

struct mmdx_wfdb_comment {
    long line;               /* header line number (1-based) */
    char *text;              /* after '#', trimmed: may identify: never log */
};

struct mmdx_wfdb_seg {
    char *name;              /* segment record name, "~" = null segment */
    long nsamp;              /* samples per signal (0: a layout header) */
    long line;               /* header line number */
};

struct mmdx_wfdb_header {
    char *path;              /* the .hea file */
    char *dir;               /* its folder (signal files are relative) */
    char *name;              /* record name */
    size_t nsig;
    double fs_hz;            /* frame rate, Hz */
    double counter_hz;       /* 0 = not given */
    long nsamp;              /* frames per signal; -1 = not given */
    char *base_time;         /* NULL when absent; a time of day */
    char *base_date;         /* NULL when absent; identifying (a date) */
    struct mmdx_wfdb_sig *sig;  /* NULL in a multi-segment header */
    size_t nseg;             /* multi-segment: segment count, else 0 */
    struct mmdx_wfdb_seg *seg;
    struct mmdx_wfdb_comment *comments;
    size_t ncomments;
};

/*
 * Parse a header held in memory. path names the file in messages and
 * locates signal files. *out is freed with mmdx__wfdb_header_free.
 * @return OK, E_NOMEM, E_FORMAT (line + field named), E_LIMIT,
 * E_UNSUPPORTED (multi-segment records).
 */
enum mmdx_status mmdx__wfdb_header_parse(struct mmdx_ctx *ctx,
                                         const char *path, const char *text,
                                         size_t len,
                                         struct mmdx_wfdb_header **out);
/* Read and parse a .hea file; path may also be the record path without
 * the ".hea" extension. */
enum mmdx_status mmdx__wfdb_header_read(struct mmdx_ctx *ctx,
                                        const char *path,
                                        struct mmdx_wfdb_header **out);
void mmdx__wfdb_header_free(struct mmdx_wfdb_header *h);

/*
 * The header describing a multi-segment record's signals: its layout
 * header (a first segment of 0 samples; *variable = true: segments carry
 * subsets of the signals, matched by label) or else its first segment
 * with samples (*variable = false: every segment has the same signals).
 * *out (freed by the caller) is NULL for a single-segment header.
 */
enum mmdx_status mmdx__wfdb_layout(struct mmdx_ctx *ctx,
                                   const struct mmdx_wfdb_header *h,
                                   struct mmdx_wfdb_header **out,
                                   bool *variable);

/*
 * Every file the reader reads for the record at path (a .hea file or the
 * record path without ".hea"): its header; for a single-segment record
 * each signal file it names; for a multi-segment record the layout (or
 * first) segment's header and, for every segment holding samples, its
 * header and signal files. fn gets each file's name relative to the
 * header's folder (every one of them lies there) and its path, in reading
 * order; a file named by several segments comes once per segment. Signal
 * file names are checked and the files opened exactly as when reading:
 * a name with a '/' or "~" is E_UNSUPPORTED, a missing file E_NOTFOUND
 * naming it, anything but a regular file E_IO; header errors are the
 * reader's. A status fn returns stops the walk and is returned.
 */
typedef enum mmdx_status (*mmdx_wfdb_file_fn)(void *user, const char *name,
                                              const char *path);
enum mmdx_status mmdx__wfdb_files(struct mmdx_ctx *ctx, const char *path,
                                  mmdx_wfdb_file_fn fn, void *user);

/* Physical value of one unit of a signal in mV, or 0 when the unit is not
 * a voltage (then values are kept in the header's units). */
double mmdx__wfdb_unit_to_mv(const char *units);

/*
 * Streaming reader over a record's signal files: reads frames in order,
 * converting to physical units (mV for voltages). Memory is bounded by
 * the chunk the caller asks for. Reading checks every signal file's size
 * against the header when the reader is created.
 */
struct mmdx_wfdb_reader;
enum mmdx_status mmdx__wfdb_reader_new(struct mmdx_ctx *ctx,
                                       const struct mmdx_wfdb_header *h,
                                       struct mmdx_wfdb_reader **out);
/* Frames in the record (header nsamp, else from the file sizes). */
size_t mmdx__wfdb_reader_frames(const struct mmdx_wfdb_reader *r);
/*
 * Read up to max_frames frames. out[s] (NULL to skip signal s) receives
 * max_frames * spf[s] values. *got = frames read (0 at the end).
 */
enum mmdx_status mmdx__wfdb_reader_read(struct mmdx_wfdb_reader *r,
                                        size_t max_frames, float *const *out,
                                        size_t *got);
void mmdx__wfdb_reader_free(struct mmdx_wfdb_reader *r);

/*
 * Load a whole record as a signal. want (NULL = all) is a list of
 * normalised labels; only those channels are decoded (label match as
 * mmdx__signal_find). With want given and none found: E_NOTFOUND naming
 * the labels present. *hdr_out (may be NULL) receives the header.
 */
enum mmdx_status mmdx__wfdb_load(struct mmdx_ctx *ctx, const char *path,
                                 const char *const *want, size_t nwant,
                                 struct mmdx_signal **out,
                                 struct mmdx_wfdb_header **hdr_out);

/*
 * Same, but when the selected channels hold more than lazy_above samples
 * in all (and one sample per frame), the samples are not loaded: ch[].data
 * stay NULL and sig->src reads them on demand (sequential reads stream
 * with bounded memory; see mmdx__signal_read). Checksums are not verified
 * then.
 */
enum mmdx_status mmdx__wfdb_load_ex(struct mmdx_ctx *ctx, const char *path,
                                    const char *const *want, size_t nwant,
                                    size_t lazy_above,
                                    struct mmdx_signal **out,
                                    struct mmdx_wfdb_header **hdr_out);
/* Records above this many samples (selected leads) load lazily in
 * load.ecg: about 32 MB of floats. */
#define MMDX_WFDB_LAZY_SAMPLES ((size_t)8 << 20)

/* ---- annotations (MIT format) ------------------------------------------ */
struct mmdx_wfdb_ann {
    long long sample;        /* sample number (frame) */
    int code;                /* 1..49 (WFDB anntyp) */
    int subtype;             /* -128..127 */
    int chan;                /* 0..255 */
    int num;                 /* -128..127 */
    char *aux;               /* NULL or NUL-terminated (may hold text) */
};

struct mmdx_wfdb_annset {
    struct mmdx_wfdb_ann *a;
    size_t n, cap;
};

/* Parse MIT-format annotations from memory. */
enum mmdx_status mmdx__wfdb_ann_parse(struct mmdx_ctx *ctx, const char *path,
                                      const unsigned char *data, size_t len,
                                      struct mmdx_wfdb_annset *out);
enum mmdx_status mmdx__wfdb_ann_read(struct mmdx_ctx *ctx, const char *path,
                                     struct mmdx_wfdb_annset *out);
void mmdx__wfdb_annset_fini(struct mmdx_wfdb_annset *s);
/* Append one annotation (aux copied, may be NULL). */
enum mmdx_status mmdx__wfdb_annset_add(struct mmdx_ctx *ctx,
                                       struct mmdx_wfdb_annset *s,
                                       long long sample, int code,
                                       const char *aux);
/* Encode annotations (sorted by sample) in MIT format; *out freed with
 * mmdx__free. */
enum mmdx_status mmdx__wfdb_ann_encode(struct mmdx_ctx *ctx,
                                       const struct mmdx_wfdb_annset *s,
                                       unsigned char **out, size_t *len);
/* WFDB mnemonic of a code ("N", "V", "~"), "?" style for unknown. */
const char *mmdx__wfdb_ann_mnemonic(int code);
/* Code of a mnemonic, -1 if none. */
int mmdx__wfdb_ann_code(const char *mnemonic);
/* True for the codes that mark a beat (EC57 / WFDB isqrs). */
bool mmdx__wfdb_ann_is_beat(int code);

#define MMDX_WFDB_NORMAL 1
#define MMDX_WFDB_NOTE 22

#endif
