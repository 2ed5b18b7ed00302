/*
 * dicom.h - DICOM reading and writing for mmdx, over DCMTK (C++ shim
 * dicom_dcmtk.cc) and OpenJPEG (dicom_j2k.c). Plain C: no C++ type, no
 * DCMTK header. Internal to libmmdx.
 *
 * Readers never log or return an identifying value: possibly identifying
 * attributes (PS3.15 Annex E basic profile) are handed back as idfields
 * for the de-identification gate, and errors name the file and the
 * attribute only.
 */
#ifndef MMDX_DICOM_H
#define MMDX_DICOM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mmdx/core.h"
#include "mmdx/format.h"
#include "mmdx/status.h"
#include "io/image.h"

#ifdef __cplusplus
extern "C" {
#endif

struct mmdx_signal;

/* ---- limits ---------------------------------------------------------------- */
#define MMDX_DICOM_MAX_FILE_BYTES (2ULL << 30)   /* 2 GiB per file */
#define MMDX_DICOM_MAX_VOXELS (1ULL << 28)       /* per file / series */
#define MMDX_DICOM_MAX_FILES 20000               /* files in a series folder */

struct mmdx_dicom_limits {
    uint64_t max_file_bytes;  /* 0 = MMDX_DICOM_MAX_FILE_BYTES */
    uint64_t max_voxels;      /* 0 = MMDX_DICOM_MAX_VOXELS (values, i.e.
                                 channels x voxels) */
};

/* ---- identifying attributes -------------------------------------------------- */
struct mmdx_dicom_idfield {
    char field[64];           /* "PatientName (0010,0010)" */
    int kind;                 /* enum mmdx_id_kind (pipeline/stage.h) */
    char *value;              /* mmdx__malloc'd; in memory only */
};

/* ---- one file ---------------------------------------------------------------- */
/* Flags for mmdx__dicom_read_file(). */
#define MMDX_DICOM_HEADER_ONLY 1u   /* do not decode pixels (img->vox NULL) */
#define MMDX_DICOM_SKIP_MASKS 2u    /* a SEG or RTSTRUCT: return at once with
                                       kind set and nothing else read (the
                                       series loader skips them) */
#define MMDX_DICOM_STORED_VALUES 4u /* one-sample images (MONOCHROME1/2,
                                       PALETTE COLOR) as their stored values
                                       in one channel: no modality LUT
                                       (rescale_slope 1, intercept 0), no
                                       MONOCHROME1 inversion, no palette
                                       (its LUT is not even read); for
                                       objects whose pixel values are codes,
                                       e.g. a label map SEG's segment
                                       numbers. photometric keeps the
                                       file's value. Colour (3-sample)
                                       images are not affected. */

/* What a DICOM object is, as far as telling masks from images goes. */
enum mmdx_dicom_kind {
    MMDX_DICOM_KIND_OTHER = 0,      /* an image, a waveform, ... */
    MMDX_DICOM_KIND_SEG = 1,        /* Segmentation Storage (...66.4), Label
                                       Map Segmentation (...66.7), or
                                       Modality SEG */
    MMDX_DICOM_KIND_RTSTRUCT = 2    /* RT Structure Set Storage (...481.3) or
                                       Modality RTSTRUCT */
};

struct mmdx_dicom_file {
    struct mmdx_image *img;   /* the file's frames as slices */
    char series_uid[65];      /* grouping key; never printed */
    long instance_number;     /* InstanceNumber, or LONG_MIN when absent */
    unsigned frames;          /* NumberOfFrames (1 when absent) */
    unsigned samples_per_pixel;
    bool has_pixels;          /* PixelData present */
    enum mmdx_dicom_kind kind;
    struct mmdx_dicom_idfield *ids;
    size_t nids;
};

/**
 * Read one DICOM Part 10 file (or a preamble-less dataset): header, then
 * (unless MMDX_DICOM_HEADER_ONLY) the pixels of every frame as floats in
 * real-world units. Decoders: uncompressed (implicit/explicit, little/big
 * endian), deflated, RLE, JPEG baseline/extended/lossless, JPEG-LS
 * (DCMTK) and JPEG 2000 (OpenJPEG). Declared sizes are checked against
 * limits before any pixel buffer is allocated, and every element's
 * declared length against the bytes left after it before DCMTK allocates
 * anything for it (a deflated dataset is inflated into an anonymous
 * memory file first, at most max_file_bytes of it): an element declaring
 * more is E_FORMAT naming it.
 * @param limits NULL for the defaults.
 * @param out receives the file [transfer]: free with mmdx__dicom_file_free;
 *        NULL on failure.
 * @return MMDX_OK; E_FORMAT (malformed, truncated), E_UNSUPPORTED (transfer
 *         syntax, photometric), E_LIMIT, E_IO, E_NOMEM - the error names
 *         the file and the attribute.
 */
enum mmdx_status mmdx__dicom_read_file(struct mmdx_ctx *ctx, const char *path,
                                       const struct mmdx_dicom_limits *limits,
                                       unsigned flags,
                                       struct mmdx_dicom_file **out);
/* Where a file's decoded values go: fn returns room for nz slices of
 * nx * ny * nc floats inside a buffer it hands over a reference to in
 * *buf (the image then holds that reference), or NULL for a block of the
 * image's own. Called once, after the header is read and the size
 * checked against the limits, before any value is decoded. */
struct mmdx_dicom_dest {
    float *(*fn)(void *user, size_t nx, size_t ny, size_t nz, unsigned nc,
                 struct mmdx_buf **buf);
    void *user;
};
/* mmdx__dicom_read_file() decoding into dest's room (NULL: as it). */
enum mmdx_status mmdx__dicom_read_file_to(struct mmdx_ctx *ctx,
                                          const char *path,
                                          const struct mmdx_dicom_limits *limits,
                                          unsigned flags,
                                          const struct mmdx_dicom_dest *dest,
                                          struct mmdx_dicom_file **out);
/* Same on a buffer (fuzzing, tests); path is only used in messages. */
enum mmdx_status mmdx__dicom_read_mem(struct mmdx_ctx *ctx, const char *path,
                                      const void *data, size_t len,
                                      const struct mmdx_dicom_limits *limits,
                                      unsigned flags,
                                      struct mmdx_dicom_file **out);
void mmdx__dicom_file_free(struct mmdx_dicom_file *f);
void mmdx__dicom_ids_free(struct mmdx_dicom_idfield *ids, size_t n);

/* ---- a series (dicom.c) ------------------------------------------------------ */
/* Called once per identifying attribute found (value borrowed). */
typedef enum mmdx_status (*mmdx__dicom_id_fn)(void *user, const char *file,
                                              const char *field, int kind,
                                              const char *value);

/**
 * Load an image: one DICOM file, or a folder holding one series (non-DICOM
 * files, objects without pixel data and masks - SEG, RTSTRUCT - ignored;
 * slices sorted by ImagePositionPatient along the slice
 * normal, InstanceNumber as fallback). Duplicate positions, mixed series
 * and slices of different sizes are errors naming the files.
 * @param idfn called for every identifying attribute (may be NULL).
 * @param out receives the image [transfer] (mmdx__image_free).
 */
enum mmdx_status mmdx__dicom_load(struct mmdx_ctx *ctx, const char *path,
                                  const struct mmdx_dicom_limits *limits,
                                  mmdx__dicom_id_fn idfn, void *user,
                                  struct mmdx_image **out);
/* Same with flags for every file read: MMDX_DICOM_STORED_VALUES (the
 * only one accepted; others are ignored). */
enum mmdx_status mmdx__dicom_load_ex(struct mmdx_ctx *ctx, const char *path,
                                     const struct mmdx_dicom_limits *limits,
                                     unsigned flags, mmdx__dicom_id_fn idfn,
                                     void *user, struct mmdx_image **out);

/** `mmdx inspect` hook for MMDX_FMT_DICOM and MMDX_FMT_DICOM_DIR. */
enum mmdx_status mmdx__dicom_inspect(struct mmdx_ctx *ctx, const char *path,
                                     enum mmdx_format fmt, mmdx_kv_fn fn,
                                     void *user);

/* ---- writer (for the synthetic cohort generator) ------------------------------ */
enum mmdx_dicom_ts {
    MMDX_DICOM_TS_EXPLICIT_LE = 0,  /* 1.2.840.10008.1.2.1 */
    MMDX_DICOM_TS_RLE = 1,          /* 1.2.840.10008.1.2.5 */
    MMDX_DICOM_TS_JPEGLS = 2        /* 1.2.840.10008.1.2.4.80 (lossless) */
};

/* An extra attribute written as a string (VR from the dictionary; LO for
 * unknown/private tags). */
struct mmdx_dicom_attr {
    uint16_t group, element;
    const char *value;
};

struct mmdx_dicom_ct {
    const int16_t *pixels;      /* rows * cols stored values, row-major */
    unsigned rows, cols;
    double slope, intercept;    /* HU = stored * slope + intercept */
    double pixel_spacing_mm[2]; /* between rows, between columns */
    double slice_thickness_mm;
    double position_mm[3];      /* ImagePositionPatient */
    double orientation[6];      /* ImageOrientationPatient (all 0 = axial) */
    long instance_number;
    const char *patient_id;     /* the pseudonym (required) */
    const char *study_uid;      /* NULL: generated */
    const char *series_uid;     /* NULL: generated */
    const char *sop_uid;        /* NULL: generated */
    enum mmdx_dicom_ts ts;
    const struct mmdx_dicom_attr *extra;  /* planted test values, may be NULL */
    size_t nextra;
};

/**
 * Write a single-frame CT slice (CT Image Storage, MONOCHROME2, 16 bits
 * signed) to path (atomically: temporary + rename, mode 0640).
 * @return MMDX_OK, E_INVAL (bad argument), E_IO, E_NOMEM, E_INTERNAL
 *         (encoder failure).
 */
enum mmdx_status mmdx__dicom_write_ct(struct mmdx_ctx *ctx, const char *path,
                                      const struct mmdx_dicom_ct *w);

/* ---- ECG waveform reader --------------------------------------------------------- */
struct mmdx_dicom_waveform {
    struct mmdx_signal *sig;    /* channels in mV (unit "mV"), labels from
                                   ChannelSourceSequence CodeMeaning ("Lead
                                   II" -> normalised "II") */
    char group_label[17];       /* MultiplexGroupLabel of the group read */
    struct mmdx_dicom_idfield *ids;
    size_t nids;
};

/**
 * Read the rhythm multiplex group of a DICOM waveform file (12-lead,
 * general ECG): the first group whose label is "RHYTHM", else the first
 * ORIGINAL group, else the first. Samples are converted to mV with
 * ChannelSensitivity x ChannelSensitivityCorrectionFactor and the
 * sensitivity units (uV, mV, V), after adding ChannelBaseline.
 * @param out filled on success [transfer]: mmdx__dicom_waveform_fini.
 */
enum mmdx_status mmdx__dicom_read_waveform(struct mmdx_ctx *ctx,
                                           const char *path,
                                           struct mmdx_dicom_waveform *out);
void mmdx__dicom_waveform_fini(struct mmdx_dicom_waveform *w);

/* ---- RT Structure Set (RTSTRUCT) ----------------------------------------------------- */
#define MMDX_RT_MAX_POINTS (1u << 24)     /* contour points of one ROI */
#define MMDX_RT_MAX_CONTOURS 200000u      /* contours of one ROI */

struct mmdx_rt_contour {
    double *pts_mm;             /* 3 * npts: ContourData, patient (LPS) mm */
    size_t npts;
    bool closed;                /* CLOSED_PLANAR (or CLOSEDPLANAR_XOR);
                                   POINT / OPEN_* are read but not closed */
};

struct mmdx_dicom_rtstruct {
    size_t nroi;                /* items of StructureSetROISequence */
    size_t roi_index;           /* the ROI read (0-based item) */
    long roi_number;            /* its ROINumber */
    struct mmdx_rt_contour *c;  /* its contours (mmdx__malloc'd) */
    size_t ncontours, npoints;
    struct mmdx_dicom_idfield *ids;
    size_t nids;
};

/**
 * Read the contours of one ROI of an RT Structure Set: the ROI named
 * roi_name in StructureSetROISequence (exact, else case-insensitive;
 * NULL or "" = the first item), its ROIContourSequence item by
 * ReferencedROINumber, every ContourSequence item's ContourData (count
 * checked against NumberOfContourPoints, values finite). Limits
 * MMDX_RT_MAX_POINTS / MMDX_RT_MAX_CONTOURS.
 * @param out filled on success [transfer]: mmdx__dicom_rtstruct_fini;
 *        zeroed on failure.
 * @return MMDX_OK; E_UNSUPPORTED (not an RTSTRUCT), E_NOTFOUND (no such
 *         ROI; the message gives the count of ROIs, never their names),
 *         E_FORMAT / E_LIMIT naming the attribute, E_IO, E_NOMEM.
 */
enum mmdx_status mmdx__dicom_read_rtstruct(struct mmdx_ctx *ctx,
                                           const char *path,
                                           const char *roi_name,
                                           struct mmdx_dicom_rtstruct *out);
/* Same on a buffer (fuzzing); path is only used in messages. */
enum mmdx_status mmdx__dicom_read_rtstruct_mem(struct mmdx_ctx *ctx,
                                               const char *path,
                                               const void *data, size_t len,
                                               const char *roi_name,
                                               struct mmdx_dicom_rtstruct *out);
void mmdx__dicom_rtstruct_fini(struct mmdx_dicom_rtstruct *rt);
/* True when path is a DICOM file whose SOPClassUID is RT Structure Set
 * Storage or whose Modality is RTSTRUCT (errors are not reported). */
bool mmdx__dicom_is_rtstruct(const char *path);
/* The kind of the DICOM file at path from its SOPClassUID and Modality
 * (parsed by DCMTK up to Modality only, so cheap on big files);
 * MMDX_DICOM_KIND_OTHER when it is not readable (errors are not
 * reported). For telling masks from images when scanning folders. */
enum mmdx_dicom_kind mmdx__dicom_kind(const char *path);

/* One ROI for mmdx__dicom_write_rtstruct. */
struct mmdx_dicom_rt_roi {
    const char *name;               /* ROIName */
    size_t ncontours;
    const size_t *npts;             /* points of each contour */
    const double *const *pts_mm;    /* 3 * npts[i] LPS mm each */
    const char *geometric_type;     /* NULL = "CLOSED_PLANAR" */
};

struct mmdx_dicom_rt_write {
    const char *patient_id;         /* the pseudonym (required) */
    const char *frame_uid;          /* FrameOfReferenceUID; NULL generated */
    const struct mmdx_dicom_rt_roi *rois;
    size_t nroi;
};

/**
 * Write an RT Structure Set (explicit VR little endian) with the given
 * ROIs, numbered 1..nroi, to path atomically (0640). For tests and
 * fixtures.
 * @return MMDX_OK, E_INVAL, E_IO, E_NOMEM, E_INTERNAL.
 */
enum mmdx_status mmdx__dicom_write_rtstruct(struct mmdx_ctx *ctx,
                                            const char *path,
                                            const struct mmdx_dicom_rt_write *w);

/* ---- Segmentation (SEG): segments and frames ---------------------------------------- */
#define MMDX_SEG_MAX_FRAMES (1u << 20)    /* frames of one SEG object */

struct mmdx_dicom_seg_segment {
    long number;                /* SegmentNumber (0062,0004) */
    char *label;                /* SegmentLabel (0062,0005), mmdx__malloc'd;
                                   free text: compared, never printed */
    char type_code[48];         /* SegmentedPropertyTypeCodeSequence:
                                   "SCHEME:VALUE" (e.g. "SCT:10200004"),
                                   "" when absent or not a plain code */
};

struct mmdx_dicom_seg {
    bool fractional;            /* SegmentationType FRACTIONAL */
    bool labelmap;              /* SegmentationType LABELMAP (Label Map
                                   Segmentation): a frame holds every
                                   segment, pixel value = SegmentNumber */
    double max_fractional;      /* MaximumFractionalValue (FRACTIONAL) */
    struct mmdx_dicom_seg_segment *seg;   /* SegmentSequence, file order */
    size_t nseg;
    long *frame_segment;        /* ReferencedSegmentNumber of each frame
                                   (0 in a LABELMAP: all segments) */
    size_t nframes;             /* NumberOfFrames */
};

/**
 * Read the segment structure of a DICOM Segmentation object (not its
 * pixels: mmdx__dicom_read_file decodes those, one slice per frame):
 * SegmentationType, MaximumFractionalValue, every SegmentSequence item's
 * SegmentNumber and SegmentLabel, and for every frame the
 * ReferencedSegmentNumber of its Per-frame Functional Groups'
 * SegmentIdentificationSequence (the Shared Functional Groups' when the
 * per-frame one lacks it; with a single segment and neither, that
 * segment). Every frame must reference a segment of SegmentSequence,
 * except in a LABELMAP segmentation (DICOM 2024 Label Map Segmentation
 * Storage), whose frames hold every segment as pixel values
 * (frame_segment 0).
 * @param out filled on success [transfer]: mmdx__dicom_seg_fini; zeroed
 *        on failure.
 * @return MMDX_OK; E_UNSUPPORTED (not a Segmentation), E_FORMAT naming
 *         the attribute, E_LIMIT (MMDX_SEG_MAX_FRAMES), E_IO, E_NOMEM.
 */
enum mmdx_status mmdx__dicom_read_seg(struct mmdx_ctx *ctx, const char *path,
                                      struct mmdx_dicom_seg *out);
/* Same on a buffer (fuzzing); path is only used in messages. */
enum mmdx_status mmdx__dicom_read_seg_mem(struct mmdx_ctx *ctx,
                                          const char *path, const void *data,
                                          size_t len,
                                          struct mmdx_dicom_seg *out);
void mmdx__dicom_seg_fini(struct mmdx_dicom_seg *s);
/* `mmdx inspect` lines for a Segmentation (mask_seg.c): type, segment
 * numbers, frames and type code of each segment; never SegmentLabel. */
enum mmdx_status mmdx__seg_inspect(struct mmdx_ctx *ctx, const char *path,
                                   mmdx_kv_fn fn, void *user);

/* A Segmentation for mmdx__dicom_write_seg (tests and fixtures). */
struct mmdx_dicom_seg_write {
    const char *patient_id;         /* the pseudonym (required) */
    unsigned rows, cols;
    double pixel_spacing_mm[2];     /* between rows, between columns */
    double slice_thickness_mm;
    double orientation[6];          /* ImageOrientationPatient (all 0 =
                                       axial) */
    const char *const *labels;      /* SegmentLabel of segments 1..nseg */
    const char *const *type_codes;  /* SNOMED CT code values of their
                                       SegmentedPropertyType, or NULL */
    size_t nseg;
    bool fractional;                /* FRACTIONAL, 8 bits, maximum 255 */
    bool labelmap;                  /* LABELMAP (Label Map Segmentation
                                       Storage), 8 bits, values = segment
                                       numbers, no segment identification */
    size_t nframes;
    const uint8_t *frames;          /* nframes * rows * cols values: 0/1
                                       (BINARY, packed to 1 bit) or
                                       0..255 (FRACTIONAL, LABELMAP);
                                       NULL when frames16 is given */
    const long *frame_segment;      /* ReferencedSegmentNumber per frame */
    const double *frame_pos_mm;     /* 3 per frame (PlanePositionSequence),
                                       NULL = none written */
    bool shared_segment;            /* write SegmentIdentificationSequence
                                       in the Shared Functional Groups
                                       (frame_segment[0]) instead */
    const long *numbers;            /* SegmentNumber of the nseg segments
                                       (1..65535), NULL = 1..nseg */
    const uint16_t *frames16;       /* LABELMAP only: 16-bit values
                                       (BitsAllocated 16) instead of
                                       frames, same layout */
    int palette;                    /* LABELMAP only: MMDX_SEG_PALETTE_* */
    enum mmdx_dicom_ts ts;          /* EXPLICIT_LE, RLE or JPEGLS */
};

/* How a label map's PhotometricInterpretation and palette are written. */
enum mmdx_seg_palette {
    MMDX_SEG_PALETTE_NONE = 0,      /* MONOCHROME2 */
    MMDX_SEG_PALETTE_LUT = 1,       /* PALETTE COLOR with red, green and
                                       blue 16-bit LUTs covering 0..the
                                       largest value, colours unrelated to
                                       the values */
    MMDX_SEG_PALETTE_NO_LUT = 2,    /* PALETTE COLOR, no LUT attributes */
    MMDX_SEG_PALETTE_BAD_LUT = 3    /* PALETTE COLOR, LUT descriptors of 2
                                       values and LUT data shorter than
                                       they declare (malformed) */
};

/**
 * Write a multi-frame DICOM Segmentation (explicit VR little endian) to
 * path atomically (0640).
 * @return MMDX_OK, E_INVAL, E_IO, E_NOMEM, E_INTERNAL.
 */
enum mmdx_status mmdx__dicom_write_seg(struct mmdx_ctx *ctx, const char *path,
                                       const struct mmdx_dicom_seg_write *w);

/* ---- JPEG 2000 (dicom_j2k.c) --------------------------------------------------------- */
/**
 * Decode one JPEG 2000 codestream (J2K or JP2) into dst: rows*cols*spp
 * samples, interleaved, as int32 stored values. Fails unless the
 * codestream's size and component count match.
 */
enum mmdx_status mmdx__j2k_decode(struct mmdx_ctx *ctx, const char *path,
                                  const uint8_t *data, size_t len,
                                  unsigned rows, unsigned cols, unsigned spp,
                                  int32_t *dst, unsigned *precision,
                                  bool *is_signed);

#ifdef __cplusplus
}
#endif

#endif
