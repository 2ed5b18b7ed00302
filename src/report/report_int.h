/*
 * report_int.h - internals shared by the report area's files: a sticky
 * output buffer, SVG plots, the EEG spectrum used for plotting, the
 * per-patient report writers and cohort outputs.
 */
#ifndef MMDX_REPORT_INT_H
#define MMDX_REPORT_INT_H

#include "core/common.h"

/* Markers around the per-patient cohort section that the cohort hook
 * rewrites at the end of a run (percentile and risk vs the cohort). */
#define REPORT_COHORT_OPEN "<!--mmdx:cohort-->"
#define REPORT_COHORT_CLOSE "<!--/mmdx:cohort-->"

/* ---- sticky output buffer (out.c) ----------------------------------------
 * Appends are no-ops after the first failure, which st keeps; writers
 * check it once at the end instead of after every line. */
struct rout {
    struct mmdx_dstr d;
    enum mmdx_status st;
};
void rout_init(struct rout *o);
void rout_fini(struct rout *o);
void rout_adds(struct rout *o, const char *s);
void rout_addf(struct rout *o, const char *fmt, ...) MMDX_PRINTF(2, 3);
/* Escaped for HTML/XML text and attribute values. */
void rout_esc(struct rout *o, const char *s);
/* A number as "%.*f", or "NA" for NaN/inf. */
void rout_num(struct rout *o, double v, int decimals);
/* A number as "%.9g" (tables, XML), "NA" for NaN. */
void rout_g(struct rout *o, double v);
/* Base64 of data (for data: URIs). */
void rout_base64(struct rout *o, const unsigned char *data, size_t len);

/* An inline script for the end of every page: it marks <body> with
 * data-plots="drawn/total" (a plot counts as drawn when it has a layout
 * box of its declared size and content) and data-errors with the number
 * of script errors, so a headless browser test can read both from the
 * DOM (out.c). */
extern const char mmdx__report_probe_js[];

/* ---- SVG plots (svg.c) ---------------------------------------------------
 * Each plot is one <svg class="plot" data-plot="NAME" width=W height=H>
 * element with a <title>, drawn in user units = CSS pixels. */
struct mmdx_channel;
/* ECG strip: the first len_s seconds of ch with a 0.2 s / 0.5 mV grid and
 * the R peaks (seconds from the start; may be NULL) marked. */
void mmdx__svg_ecg_strip(struct rout *o, const struct mmdx_channel *ch,
                         double len_s, const double *peaks_s, size_t npeaks);
/* RR tachogram from R-peak times (seconds). */
void mmdx__svg_tachogram(struct rout *o, const double *peaks_s,
                         size_t npeaks);
/* Spectrum on a log axis with the EEG bands shaded. */
void mmdx__svg_spectrum(struct rout *o, const double *f_hz,
                        const double *psd, size_t nf, double fmax_hz);
/* Scalp map: 10-20 positions coloured by value (labels normalised). */
void mmdx__svg_scalp(struct rout *o, const char *const *labels,
                     const double *values, size_t n, const char *what);
/* Signed horizontal bars; values in unit. */
void mmdx__svg_bars(struct rout *o, const char *name,
                    const char *const *labels, const double *values,
                    size_t n, const char *unit, double scale);
/* Histogram of values on [0, 1] with a marker (NaN = none). */
void mmdx__svg_hist(struct rout *o, const char *name, const double *values,
                    size_t n, double marker, const char *xlabel);
/* The risk on a 0..1 scale with the band boundaries. */
void mmdx__svg_risk_scale(struct rout *o, double risk, double lo_hi,
                          double mod_hi);
/* ROC curve (one or more) and reliability diagram. */
void mmdx__svg_roc(struct rout *o, const double *prob, const int *label,
                   size_t n, double auc);
void mmdx__svg_calibration(struct rout *o, const double *prob,
                           const int *label, size_t n, unsigned nbins);
/* A greyscale raster embedded as an uncompressed PNG (w*h bytes). */
void mmdx__svg_raster(struct rout *o, const unsigned char *grey, size_t w,
                      size_t h, double scale, const unsigned char *outline);
/* PNG (greyscale 8-bit, stored deflate) of w*h bytes into o as base64. */
void mmdx__png_base64(struct rout *o, const unsigned char *grey, size_t w,
                      size_t h);

/* ---- EEG spectrum for plotting (spectrum.c) ------------------------------ */
struct mmdx_signal;
struct eeg_spectrum {
    size_t nf;              /* bins 0..nf-1, df_hz apart */
    double df_hz;
    double *mean_psd;       /* mean over channels, uV^2/Hz */
    size_t nch;
    char (*label)[32];      /* channel labels used */
    double *alpha_rel;      /* per channel: 8-13 Hz / 1-45 Hz power */
    double seconds;         /* signal length used per channel */
};
/* Welch PSD (Hann, 2 s windows, 50 % overlap) over at most max_s seconds
 * of each channel sharing the first channel's rate. */
enum mmdx_status mmdx__eeg_spectrum(struct mmdx_ctx *ctx,
                                    const struct mmdx_signal *s, double max_s,
                                    struct eeg_spectrum *out);
void mmdx__eeg_spectrum_fini(struct eeg_spectrum *sp);

/* ---- validation tables (validate.c) ------------------------------------ */
/* An evaluation row: patient id (borrowed), label and predicted risk;
 * arrays of them are sorted by id with mmdx__validate_cmp_ev. */
struct evrow {
    const char *id;
    int label;
    double prob;
};
int mmdx__validate_cmp_ev(const void *a, const void *b);
/* Fill v[].prob (NaN when absent) from a predictions table (patient_id,
 * risk, ...). E_FORMAT names the file for a wrong header. */
enum mmdx_status mmdx__validate_read_predictions(struct mmdx_ctx *ctx,
                                                 const char *path,
                                                 struct evrow *v, size_t n);
/* Copy the feature table in to out with the columns of the model's
 * modalities not in keep (bit k = m->mod_names[k]) set to NA. */
struct mmdx__model;
enum mmdx_status mmdx__validate_mask_features(struct mmdx_ctx *ctx,
                                              const char *in, const char *out,
                                              const struct mmdx__model *m,
                                              unsigned keep);

#endif
