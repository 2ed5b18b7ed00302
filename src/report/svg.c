/*
 * svg.c - the pictures of the reports, as inline SVG: ECG strip and RR
 * tachogram, EEG spectrum and scalp map, bars, histograms, ROC and
 * reliability plots, and greyscale rasters (embedded as PNG).
 *
 * Every plot is a self-contained <svg class="plot" data-plot="NAME"> with
 * fixed width and height in CSS pixels and a <title>, so that the browser
 * test can check each one was drawn with the size it declares. Numbers
 * are printed with at most one or two decimals: the files stay small.
 */
#include "core/common.h"
#include "io/signal.h"
#include "report/report_int.h"

#define FONT "font-family=\"sans-serif\" font-size=\"11\""

/* A plotting frame: data range [x0, x1] x [y0, y1] onto the pixel box. */
struct frame {
    double px, py, pw, ph;  /* box, pixels (y down) */
    double x0, x1, y0, y1;  /* data range */
};

static double fx(const struct frame *f, double x)
{
    return f->px + (x - f->x0) / (f->x1 - f->x0) * f->pw;
}

static double fy(const struct frame *f, double y)
{
    return f->py + f->ph - (y - f->y0) / (f->y1 - f->y0) * f->ph;
}

static void svg_open(struct rout *o, const char *name, int w, int h,
                     const char *title)
{
    rout_addf(o,
              "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"plot\" "
              "data-plot=\"%s\" width=\"%d\" height=\"%d\" "
              "viewBox=\"0 0 %d %d\" role=\"img\"><title>",
              name, w, h, w, h);
    rout_esc(o, title);
    rout_adds(o, "</title>");
    rout_addf(o, "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" "
                 "fill=\"#fff\"/>", w, h);
}

static void text_at(struct rout *o, double x, double y, const char *anchor,
                    const char *s)
{
    rout_addf(o, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" " FONT ">",
              x, y, anchor);
    rout_esc(o, s);
    rout_adds(o, "</text>");
}

/* Axes box with ticks at the given data steps (0 = none). */
static void axes(struct rout *o, const struct frame *f, double xstep,
                 double ystep, int xdec, int ydec, const char *xlabel,
                 const char *ylabel)
{
    double v;
    char buf[32];

    rout_addf(o, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
                 "fill=\"none\" stroke=\"#444\"/>",
              f->px, f->py, f->pw, f->ph);
    if (xstep > 0)
        for (v = ceil(f->x0 / xstep) * xstep; v <= f->x1 + 1e-9 * xstep;
             v += xstep) {
            double x = fx(f, v);

            rout_addf(o, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" "
                         "y2=\"%.1f\" stroke=\"#444\"/>",
                      x, f->py + f->ph, x, f->py + f->ph + 4);
            snprintf(buf, sizeof(buf), "%.*f", xdec, v);
            text_at(o, x, f->py + f->ph + 15, "middle", buf);
        }
    if (ystep > 0)
        for (v = ceil(f->y0 / ystep) * ystep; v <= f->y1 + 1e-9 * ystep;
             v += ystep) {
            double y = fy(f, v);

            rout_addf(o, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" "
                         "y2=\"%.1f\" stroke=\"#444\"/>",
                      f->px - 4, y, f->px, y);
            snprintf(buf, sizeof(buf), "%.*f", ydec, v);
            text_at(o, f->px - 6, y + 4, "end", buf);
        }
    if (xlabel)
        text_at(o, f->px + f->pw / 2, f->py + f->ph + 29, "middle", xlabel);
    if (ylabel) {
        rout_addf(o, "<text transform=\"translate(%.1f %.1f) rotate(-90)\" "
                     "text-anchor=\"middle\" " FONT ">",
                  f->px - 38, f->py + f->ph / 2);
        rout_esc(o, ylabel);
        rout_adds(o, "</text>");
    }
}

/* A "nice" tick step for a range: 1, 2 or 5 times a power of ten. */
static double nice_step(double range, int ticks)
{
    double raw = range / (ticks > 0 ? ticks : 1), p, m;

    if (!(raw > 0) || !isfinite(raw))
        return 1;
    p = pow(10, floor(log10(raw)));
    m = raw / p;
    return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p;
}

/* ---- ECG ----------------------------------------------------------------- */

void mmdx__svg_ecg_strip(struct rout *o, const struct mmdx_channel *ch,
                         double len_s, const double *peaks_s, size_t npeaks)
{
    struct frame f = { 50, 10, 670, 150, 0, 0, -1.5, 1.5 };
    size_t n, i, cols = 670;
    double lo = INFINITY, hi = -INFINITY, v, mid;
    char title[96];

    n = (size_t)(len_s * ch->fs_hz);
    if (n > ch->n)
        n = ch->n;
    f.x1 = n ? (double)n / ch->fs_hz : 1;
    for (i = 0; i < n; i++)
        if (isfinite(ch->data[i])) {
            lo = fmin(lo, ch->data[i]);
            hi = fmax(hi, ch->data[i]);
        }
    mid = isfinite(lo) ? (lo + hi) / 2 : 0;
    /* at least 3 mV tall, 0.5 mV grid aligned on whole multiples */
    v = isfinite(lo) ? fmax(3.0, (hi - lo) * 1.1) : 3.0;
    f.y0 = floor((mid - v / 2) * 2) / 2;
    f.y1 = ceil((mid + v / 2) * 2) / 2;
    snprintf(title, sizeof(title), "ECG lead %s, first %.0f s, R peaks marked",
             ch->label, f.x1);
    svg_open(o, "ecg", 730, 195, title);
    /* ECG paper: 0.2 s and 0.5 mV */
    rout_adds(o, "<g stroke=\"#f4b6b6\" stroke-width=\"0.6\">");
    for (v = 0; v <= f.x1 + 1e-9; v += 0.2)
        rout_addf(o, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>",
                  fx(&f, v), f.py, fx(&f, v), f.py + f.ph);
    for (v = f.y0; v <= f.y1 + 1e-9; v += 0.5)
        rout_addf(o, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>",
                  f.px, fy(&f, v), f.px + f.pw, fy(&f, v));
    rout_adds(o, "</g>");
    axes(o, &f, 1, 0.5, 0, 1, "time (s)", "mV");
    /* trace: min/max envelope per pixel column when samples outnumber
     * pixels, so no QRS is lost to decimation */
    rout_adds(o, "<polyline fill=\"none\" stroke=\"#111\" "
                 "stroke-width=\"0.9\" points=\"");
    if (n > 2 * cols) {
        for (i = 0; i < cols; i++) {
            size_t a = i * n / cols, b = (i + 1) * n / cols, k;
            double mn = INFINITY, mx = -INFINITY;

            for (k = a; k < b; k++)
                if (isfinite(ch->data[k])) {
                    mn = fmin(mn, ch->data[k]);
                    mx = fmax(mx, ch->data[k]);
                }
            if (!isfinite(mn))
                continue;
            rout_addf(o, "%.1f,%.1f %.1f,%.1f ", f.px + (double)i + 0.25,
                      fy(&f, mn), f.px + (double)i + 0.75, fy(&f, mx));
        }
    } else {
        for (i = 0; i < n; i++)
            if (isfinite(ch->data[i]))
                rout_addf(o, "%.1f,%.1f ", fx(&f, (double)i / ch->fs_hz),
                          fy(&f, ch->data[i]));
    }
    rout_adds(o, "\"/>");
    for (i = 0; i < npeaks; i++) {
        size_t k = (size_t)(peaks_s[i] * ch->fs_hz + 0.5);

        if (peaks_s[i] < 0 || peaks_s[i] > f.x1 || k >= ch->n)
            continue;
        rout_addf(o, "<path class=\"rpeak\" d=\"M%.1f %.1f l-4 -8 h8 z\" "
                     "fill=\"#d62728\"/>",
                  fx(&f, peaks_s[i]),
                  fmax(f.py, fy(&f, isfinite(ch->data[k]) ? ch->data[k]
                                                          : f.y1) - 3));
    }
    rout_adds(o, "</svg>");
}

void mmdx__svg_tachogram(struct rout *o, const double *peaks_s,
                         size_t npeaks)
{
    struct frame f = { 50, 10, 670, 110, 0, 1, 0, 1 };
    double lo = INFINITY, hi = -INFINITY, step;
    size_t i;

    for (i = 1; i < npeaks; i++) {
        double rr = (peaks_s[i] - peaks_s[i - 1]) * 1000;

        lo = fmin(lo, rr);
        hi = fmax(hi, rr);
    }
    if (npeaks < 2) {
        lo = 0;
        hi = 1000;
    }
    f.x0 = npeaks ? peaks_s[0] : 0;
    f.x1 = npeaks > 1 ? peaks_s[npeaks - 1] : f.x0 + 1;
    if (f.x1 <= f.x0)
        f.x1 = f.x0 + 1;
    step = nice_step(hi - lo + 100, 4);
    f.y0 = floor((lo - 50) / step) * step;
    f.y1 = ceil((hi + 50) / step) * step;
    if (f.y0 < 0)
        f.y0 = 0;
    svg_open(o, "tachogram", 730, 160, "RR tachogram (ms between R peaks)");
    axes(o, &f, nice_step(f.x1 - f.x0, 8), step, 0, 0, "time (s)",
         "RR (ms)");
    rout_adds(o, "<polyline fill=\"none\" stroke=\"#1f77b4\" "
                 "stroke-width=\"1\" points=\"");
    /* beyond ~3000 beats thin the line; the axes still span all beats */
    {
        size_t every = npeaks / 3000 + 1;

        for (i = 1; i < npeaks; i += every)
            rout_addf(o, "%.1f,%.1f ", fx(&f, peaks_s[i]),
                      fy(&f, (peaks_s[i] - peaks_s[i - 1]) * 1000));
    }
    rout_adds(o, "\"/></svg>");
}

/* ---- EEG ----------------------------------------------------------------- */

static const struct band {
    const char *name;
    double lo, hi;          /* Hz */
    const char *fill;
} bands[] = {
    { "delta", 1, 4, "#c6dbef" },
    { "theta", 4, 8, "#c7e9c0" },
    { "alpha", 8, 13, "#fdd0a2" },
    { "beta", 13, 30, "#dadaeb" },
    { "gamma", 30, 45, "#fcbba1" },
};

void mmdx__svg_spectrum(struct rout *o, const double *f_hz,
                        const double *psd, size_t nf, double fmax_hz)
{
    struct frame f = { 55, 20, 410, 180, 0, 0, -1, 3 };
    double lo = INFINITY, hi = -INFINITY, v;
    size_t i, b;
    bool first = true;

    f.x1 = fmax_hz;
    for (i = 0; i < nf; i++)
        if (f_hz[i] >= 0.5 && f_hz[i] <= fmax_hz && psd[i] > 0) {
            lo = fmin(lo, log10(psd[i]));
            hi = fmax(hi, log10(psd[i]));
        }
    if (isfinite(lo)) {
        /* at most six decades below the peak: deep notches of a clean
         * spectrum should not flatten the rest */
        f.y1 = ceil(hi);
        f.y0 = fmax(floor(lo), f.y1 - 6);
        if (f.y1 <= f.y0)
            f.y1 = f.y0 + 1;
    }
    svg_open(o, "spectrum", 480, 245,
             "EEG power spectrum, mean over channels, bands shaded");
    for (b = 0; b < MMDX_ARRAY_SIZE(bands); b++) {
        rout_addf(o, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
                     "height=\"%.1f\" fill=\"%s\"/>",
                  fx(&f, bands[b].lo), f.py,
                  fx(&f, bands[b].hi) - fx(&f, bands[b].lo), f.ph,
                  bands[b].fill);
        text_at(o, fx(&f, (bands[b].lo + bands[b].hi) / 2), f.py - 5,
                "middle", bands[b].name);
    }
    axes(o, &f, 5, 1, 0, 0, "frequency (Hz)", "log10 PSD (uV\xc2\xb2/Hz)");
    rout_adds(o, "<polyline fill=\"none\" stroke=\"#08306b\" "
                 "stroke-width=\"1.3\" points=\"");
    for (i = 0; i < nf; i++) {
        if (f_hz[i] < 0.5 || f_hz[i] > fmax_hz || !(psd[i] > 0))
            continue;
        v = fmax(log10(psd[i]), f.y0);
        rout_addf(o, "%.1f,%.1f ", fx(&f, f_hz[i]), fy(&f, v));
        first = false;
    }
    MMDX_UNUSED(first);
    rout_adds(o, "\"/></svg>");
}

/* 10-20 positions on a unit head (nose up, left on the left), the outer
 * ring at radius 0.8 as in the usual azimuthal projection. */
static const struct pos1020 {
    const char *label;
    double x, y;
} pos1020[] = {
    { "Fp1", -0.247, 0.761 }, { "Fpz", 0, 0.8 },      { "Fp2", 0.247, 0.761 },
    { "F7", -0.647, 0.470 },  { "F3", -0.33, 0.41 },  { "Fz", 0, 0.4 },
    { "F4", 0.33, 0.41 },     { "F8", 0.647, 0.470 }, { "T7", -0.8, 0 },
    { "C3", -0.4, 0 },        { "Cz", 0, 0 },         { "C4", 0.4, 0 },
    { "T8", 0.8, 0 },         { "P7", -0.647, -0.470 },
    { "P3", -0.33, -0.41 },   { "Pz", 0, -0.4 },      { "P4", 0.33, -0.41 },
    { "P8", 0.647, -0.470 },  { "O1", -0.247, -0.761 },
    { "Oz", 0, -0.8 },        { "O2", 0.247, -0.761 },
};

static const struct pos1020 *find_pos(const char *label)
{
    size_t i;

    for (i = 0; i < MMDX_ARRAY_SIZE(pos1020); i++)
        if (mmdx__strcasecmp(pos1020[i].label, label) == 0)
            return &pos1020[i];
    return NULL;
}

/* Blue -> white -> red, t in [0, 1]. */
static void colour(double t, char out[8])
{
    int r, g, b;

    if (!isfinite(t))
        t = 0.5;
    t = fmin(1, fmax(0, t));
    if (t < 0.5) {
        double u = t / 0.5;

        r = (int)(33 + u * (247 - 33));
        g = (int)(102 + u * (247 - 102));
        b = (int)(172 + u * (247 - 172));
    } else {
        double u = (t - 0.5) / 0.5;

        r = (int)(247 + u * (178 - 247));
        g = (int)(247 + u * (24 - 247));
        b = (int)(247 + u * (43 - 247));
    }
    snprintf(out, 8, "#%02x%02x%02x", r & 255, g & 255, b & 255);
}

void mmdx__svg_scalp(struct rout *o, const char *const *labels,
                     const double *values, size_t n, const char *what)
{
    const double cx = 120, cy = 125, R = 100; /* head radius 1 = R px */
    double px[64], py[64], val[64], lo = INFINITY, hi = -INFINITY;
    size_t i, k = 0;
    int gx, gy;
    const int G = 28;
    char c[8], title[160];

    for (i = 0; i < n && k < 64; i++) {
        const struct pos1020 *p = find_pos(labels[i]);

        if (!p || !isfinite(values[i]))
            continue;
        px[k] = p->x;
        py[k] = p->y;
        val[k] = values[i];
        lo = fmin(lo, val[k]);
        hi = fmax(hi, val[k]);
        k++;
    }
    snprintf(title, sizeof(title), "Scalp map of %s (%zu electrodes)", what,
             k);
    svg_open(o, "scalp", 240, 270, title);
    /* inverse-distance interpolation on a grid inside the head */
    for (gy = 0; gy < G && k; gy++)
        for (gx = 0; gx < G; gx++) {
            double x = -1 + (gx + 0.5) * 2.0 / G, y = 1 - (gy + 0.5) * 2.0 / G;
            double sw = 0, sv = 0;

            if (x * x + y * y > 0.9 * 0.9)
                continue;
            for (i = 0; i < k; i++) {
                double d2 = (x - px[i]) * (x - px[i]) +
                            (y - py[i]) * (y - py[i]) + 1e-6;

                sw += 1 / d2;
                sv += val[i] / d2;
            }
            colour(hi > lo ? (sv / sw - lo) / (hi - lo) : 0.5, c);
            rout_addf(o, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.2f\" "
                         "height=\"%.2f\" fill=\"%s\"/>",
                      cx + x * R - R / G, cy - y * R - R / G, 2 * R / G + 0.4,
                      2 * R / G + 0.4, c);
        }
    /* head, nose, ears */
    rout_addf(o, "<circle cx=\"%.0f\" cy=\"%.0f\" r=\"%.0f\" fill=\"none\" "
                 "stroke=\"#222\" stroke-width=\"1.5\"/>",
              cx, cy, R * 0.9);
    rout_addf(o, "<path d=\"M%.0f %.0f L%.0f %.0f L%.0f %.0f\" fill=\"none\" "
                 "stroke=\"#222\" stroke-width=\"1.5\"/>",
              cx - 10, cy - R * 0.9 + 1, cx, cy - R * 0.9 - 12, cx + 10,
              cy - R * 0.9 + 1);
    rout_addf(o, "<ellipse cx=\"%.0f\" cy=\"%.0f\" rx=\"5\" ry=\"14\" "
                 "fill=\"none\" stroke=\"#222\"/><ellipse cx=\"%.0f\" "
                 "cy=\"%.0f\" rx=\"5\" ry=\"14\" fill=\"none\" "
                 "stroke=\"#222\"/>",
              cx - R * 0.9 - 5, cy, cx + R * 0.9 + 5, cy);
    for (i = 0; i < k; i++) {
        rout_addf(o, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" "
                     "fill=\"#000\"/>",
                  cx + px[i] * R, cy - py[i] * R);
    }
    for (i = 0; i < n; i++) {
        const struct pos1020 *p = find_pos(labels[i]);

        if (p && isfinite(values[i]))
            text_at(o, cx + p->x * R, cy - p->y * R - 4, "middle", p->label);
    }
    /* colour bar */
    for (gx = 0; gx < 20; gx++) {
        colour(gx / 19.0, c);
        rout_addf(o, "<rect x=\"%d\" y=\"245\" width=\"8\" height=\"8\" "
                     "fill=\"%s\"/>", 40 + gx * 8, c);
    }
    if (k) {
        char buf[32];

        snprintf(buf, sizeof(buf), "%.2f", lo);
        text_at(o, 36, 253, "end", buf);
        snprintf(buf, sizeof(buf), "%.2f", hi);
        text_at(o, 204, 253, "start", buf);
    } else {
        text_at(o, cx, cy, "middle", "no 10-20 channels");
    }
    rout_adds(o, "</svg>");
}

/* ---- generic ------------------------------------------------------------- */

void mmdx__svg_bars(struct rout *o, const char *name,
                    const char *const *labels, const double *values,
                    size_t n, const char *unit, double scale)
{
    int h = 30 + 22 * (int)(n ? n : 1), w = 560;
    double m = 0, x0;
    size_t i;
    char buf[64], title[96];

    for (i = 0; i < n; i++)
        if (isfinite(values[i]))
            m = fmax(m, fabs(values[i] * scale));
    if (m <= 0)
        m = 1;
    snprintf(title, sizeof(title), "%s (%s)", name, unit);
    svg_open(o, name, w, h, title);
    x0 = 380; /* zero line; bars extend 170 px each way at most */
    rout_addf(o, "<line x1=\"%.0f\" y1=\"5\" x2=\"%.0f\" y2=\"%d\" "
                 "stroke=\"#888\"/>", x0, x0, h - 20);
    for (i = 0; i < n; i++) {
        double v = values[i] * scale, y = 10 + 22.0 * (double)i;
        double len = isfinite(v) ? v / m * 90 : 0;

        /* labels end before the longest negative bar (x0 - 90 px) */
        if (strlen(labels[i]) > 44) {
            char cut[64];
            size_t k = 42;

            /* never split a UTF-8 sequence */
            while (k > 0 && ((unsigned char)labels[i][k] & 0xc0) == 0x80)
                k--;
            memcpy(cut, labels[i], k);
            memcpy(cut + k, "\xe2\x80\xa6", 4);
            text_at(o, 4, y + 12, "start", cut);
        } else {
            text_at(o, 4, y + 12, "start", labels[i]);
        }
        if (isfinite(v))
            rout_addf(o, "<rect class=\"bar\" x=\"%.1f\" y=\"%.1f\" "
                         "width=\"%.1f\" height=\"14\" fill=\"%s\"/>",
                      len < 0 ? x0 + len : x0, y, fmax(fabs(len), 0.5),
                      len < 0 ? "#2c7fb8" : "#d95f0e");
        if (isfinite(v))
            snprintf(buf, sizeof(buf), "%+.3g", v);
        else
            mmdx__strlcpy(buf, "NA", sizeof(buf));
        text_at(o, len < 0 ? x0 + len - 4 : x0 + len + 4, y + 12,
                len < 0 ? "end" : "start", buf);
    }
    snprintf(buf, sizeof(buf), "%s; lowers risk \xe2\x86\x90 \xe2\x86\x92 "
             "raises risk", unit);
    text_at(o, x0, h - 5, "middle", buf);
    rout_adds(o, "</svg>");
}

void mmdx__svg_hist(struct rout *o, const char *name, const double *values,
                    size_t n, double marker, const char *xlabel)
{
    struct frame f = { 50, 12, 410, 140, 0, 1, 0, 1 };
    size_t cnt[20] = { 0 }, i, top = 0;
    char title[96];

    for (i = 0; i < n; i++) {
        int b;

        if (!isfinite(values[i]))
            continue;
        b = (int)(values[i] * 20);
        b = b < 0 ? 0 : b > 19 ? 19 : b;
        cnt[b]++;
    }
    for (i = 0; i < 20; i++)
        if (cnt[i] > top)
            top = cnt[i];
    f.y1 = top ? (double)top * 1.1 : 1;
    snprintf(title, sizeof(title), "Distribution of %s (%zu patients)",
             xlabel, n);
    svg_open(o, name, 480, 195, title);
    for (i = 0; i < 20; i++)
        if (cnt[i])
            rout_addf(o, "<rect class=\"bar\" x=\"%.1f\" y=\"%.1f\" "
                         "width=\"%.1f\" height=\"%.1f\" fill=\"#9ecae1\" "
                         "stroke=\"#3182bd\"/>",
                      fx(&f, i / 20.0), fy(&f, (double)cnt[i]),
                      f.pw / 20, f.py + f.ph - fy(&f, (double)cnt[i]));
    axes(o, &f, 0.1, nice_step(f.y1, 4), 1, 0, xlabel, "patients");
    if (isfinite(marker)) {
        double x = fx(&f, fmin(1, fmax(0, marker)));

        rout_addf(o, "<line class=\"marker\" x1=\"%.1f\" y1=\"%.1f\" "
                     "x2=\"%.1f\" y2=\"%.1f\" stroke=\"#d62728\" "
                     "stroke-width=\"2\"/>",
                  x, f.py, x, f.py + f.ph);
    }
    rout_adds(o, "</svg>");
}

void mmdx__svg_risk_scale(struct rout *o, double risk, double lo_hi,
                          double mod_hi)
{
    struct frame f = { 20, 20, 440, 18, 0, 1, 0, 1 };
    char buf[64];

    svg_open(o, "risk", 480, 70, "Calibrated risk on the 0-1 scale");
    if (isfinite(lo_hi) && isfinite(mod_hi)) {
        rout_addf(o, "<rect x=\"%.1f\" y=\"20\" width=\"%.1f\" height=\"18\" "
                     "fill=\"#c7e9c0\"/>", fx(&f, 0), fx(&f, lo_hi) - fx(&f, 0));
        rout_addf(o, "<rect x=\"%.1f\" y=\"20\" width=\"%.1f\" height=\"18\" "
                     "fill=\"#fee391\"/>",
                  fx(&f, lo_hi), fx(&f, mod_hi) - fx(&f, lo_hi));
        rout_addf(o, "<rect x=\"%.1f\" y=\"20\" width=\"%.1f\" height=\"18\" "
                     "fill=\"#fcbba1\"/>",
                  fx(&f, mod_hi), fx(&f, 1) - fx(&f, mod_hi));
    } else {
        rout_adds(o, "<rect x=\"20\" y=\"20\" width=\"440\" height=\"18\" "
                     "fill=\"#eee\"/>");
    }
    axes(o, &f, 0.1, 0, 1, 0, NULL, NULL);
    if (isfinite(risk)) {
        double x = fx(&f, fmin(1, fmax(0, risk)));

        rout_addf(o, "<path class=\"marker\" d=\"M%.1f 38 l-6 -24 h12 z\" "
                     "fill=\"#d62728\"/>", x);
        snprintf(buf, sizeof(buf), "%.1f %%", risk * 100);
        text_at(o, x, 12, "middle", buf);
    }
    rout_adds(o, "</svg>");
}

static int cmp_desc_pair(const void *a, const void *b)
{
    const double *x = a, *y = b;

    return x[0] > y[0] ? -1 : x[0] < y[0] ? 1 : 0;
}

void mmdx__svg_roc(struct rout *o, const double *prob, const int *label,
                   size_t n, double auc)
{
    struct frame f = { 50, 15, 250, 250, 0, 1, 0, 1 };
    double *v = mmdx__calloc(n ? 2 * n : 2, sizeof(double));
    double P = 0, N = 0, tp = 0, fp = 0;
    size_t i, k = 0;
    char title[64];

    if (!v) {
        o->st = MMDX_E_NOMEM;
        return;
    }
    for (i = 0; i < n; i++)
        if (isfinite(prob[i]) && (label[i] == 0 || label[i] == 1)) {
            v[2 * k] = prob[i];
            v[2 * k + 1] = label[i];
            P += label[i];
            N += 1 - label[i];
            k++;
        }
    qsort(v, k, 2 * sizeof(double), cmp_desc_pair);
    snprintf(title, sizeof(title), "ROC curve, AUROC %.3f", auc);
    svg_open(o, "roc", 320, 310, title);
    axes(o, &f, 0.2, 0.2, 1, 1, "1 - specificity", "sensitivity");
    rout_addf(o, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                 "stroke=\"#aaa\" stroke-dasharray=\"4 3\"/>",
              fx(&f, 0), fy(&f, 0), fx(&f, 1), fy(&f, 1));
    rout_addf(o, "<polyline fill=\"none\" stroke=\"#d62728\" "
                 "stroke-width=\"1.6\" points=\"%.1f,%.1f ",
              fx(&f, 0), fy(&f, 0));
    for (i = 0; i < k && P > 0 && N > 0;) {
        size_t j = i;

        while (j < k && v[2 * j] == v[2 * i]) {
            tp += v[2 * j + 1];
            fp += 1 - v[2 * j + 1];
            j++;
        }
        rout_addf(o, "%.1f,%.1f ", fx(&f, fp / N), fy(&f, tp / P));
        i = j;
    }
    rout_adds(o, "\"/></svg>");
    mmdx__free(v);
}

void mmdx__svg_calibration(struct rout *o, const double *prob,
                           const int *label, size_t n, unsigned nbins)
{
    struct frame f = { 50, 15, 250, 250, 0, 1, 0, 1 };
    double sp[64] = { 0 }, sy[64] = { 0 };
    size_t cnt[64] = { 0 }, i;
    unsigned b;

    if (nbins == 0 || nbins > 64)
        nbins = 10;
    for (i = 0; i < n; i++) {
        if (!isfinite(prob[i]) || (label[i] != 0 && label[i] != 1))
            continue;
        b = prob[i] >= 1 ? nbins - 1
                         : prob[i] <= 0 ? 0 : (unsigned)(prob[i] * nbins);
        if (b >= nbins)
            b = nbins - 1;
        sp[b] += prob[i];
        sy[b] += label[i];
        cnt[b]++;
    }
    svg_open(o, "calibration", 320, 310,
             "Reliability diagram: observed vs predicted per bin");
    axes(o, &f, 0.2, 0.2, 1, 1, "predicted risk", "observed frequency");
    rout_addf(o, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                 "stroke=\"#aaa\" stroke-dasharray=\"4 3\"/>",
              fx(&f, 0), fy(&f, 0), fx(&f, 1), fy(&f, 1));
    rout_adds(o, "<polyline fill=\"none\" stroke=\"#1f77b4\" "
                 "stroke-width=\"1.4\" points=\"");
    for (b = 0; b < nbins; b++)
        if (cnt[b])
            rout_addf(o, "%.1f,%.1f ", fx(&f, sp[b] / (double)cnt[b]),
                      fy(&f, sy[b] / (double)cnt[b]));
    rout_adds(o, "\"/>");
    for (b = 0; b < nbins; b++)
        if (cnt[b])
            rout_addf(o, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%.1f\" "
                         "fill=\"#1f77b4\"/>",
                      fx(&f, sp[b] / (double)cnt[b]),
                      fy(&f, sy[b] / (double)cnt[b]),
                      2 + 4 * sqrt((double)cnt[b] / (double)(n ? n : 1)));
    rout_adds(o, "</svg>");
}

/* ---- rasters ------------------------------------------------------------- */

static uint32_t crc_table[256];
static bool crc_ready;

static uint32_t crc32_update(uint32_t c, const unsigned char *p, size_t n)
{
    size_t i;

    if (!__atomic_load_n(&crc_ready, __ATOMIC_ACQUIRE)) {
        uint32_t k, j, v;

        /* idempotent: racing threads write the same table */
        for (k = 0; k < 256; k++) {
            v = k;
            for (j = 0; j < 8; j++)
                v = (v & 1) ? 0xedb88320u ^ (v >> 1) : v >> 1;
            crc_table[k] = v;
        }
        __atomic_store_n(&crc_ready, true, __ATOMIC_RELEASE);
    }
    for (i = 0; i < n; i++)
        c = crc_table[(c ^ p[i]) & 255] ^ (c >> 8);
    return c;
}

static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* Chunk at p: length, type, data (already in place at p + 8), CRC. */
static size_t chunk_close(unsigned char *p, const char *type, size_t len)
{
    put32(p, (uint32_t)len);
    memcpy(p + 4, type, 4);
    put32(p + 8 + len, crc32_update(0xffffffffu, p + 4, len + 4) ^
                           0xffffffffu);
    return len + 12;
}

/*
 * A greyscale PNG with "stored" (uncompressed) deflate blocks: no zlib
 * needed, and the bytes are base64'd into a data: URI. Images are small
 * (downsampled to at most 256 x 256 by the caller).
 */
void mmdx__png_base64(struct rout *o, const unsigned char *grey, size_t w,
                      size_t h)
{
    static const unsigned char sig[8] = { 137, 80, 78, 71, 13, 10, 26, 10 };
    size_t raw = (w + 1) * h, nblk = raw / 65535 + 1, idat, total, pos;
    unsigned char *png, *z;
    uint32_t a = 1, b = 0;
    size_t i, left;

    if (o->st)
        return;
    idat = 2 + raw + 5 * nblk + 4;
    total = 8 + 25 + 12 + idat + 12;
    png = mmdx__malloc(total);
    if (!png) {
        o->st = MMDX_E_NOMEM;
        return;
    }
    memcpy(png, sig, 8);
    put32(png + 16, (uint32_t)w);
    put32(png + 20, (uint32_t)h);
    png[24] = 8;  /* bit depth */
    png[25] = 0;  /* greyscale */
    png[26] = png[27] = png[28] = 0;
    pos = 8 + chunk_close(png + 8, "IHDR", 13);
    z = png + pos + 8;
    z[0] = 0x78;
    z[1] = 0x01;
    i = 2;
    left = raw;
    do {
        size_t blk = left > 65535 ? 65535 : left, k;

        z[i++] = left == blk ? 1 : 0;
        z[i++] = (unsigned char)(blk & 255);
        z[i++] = (unsigned char)(blk >> 8);
        z[i++] = (unsigned char)(~blk & 255);
        z[i++] = (unsigned char)((~blk >> 8) & 255);
        /* blk bytes of the filtered stream: a 0 (no filter) before each
         * row */
        for (k = 0; k < blk; k++) {
            size_t off = raw - left + k, row = off / (w + 1),
                   col = off % (w + 1);
            unsigned char v = col == 0 ? 0 : grey[row * w + col - 1];

            z[i++] = v;
            a = (a + v) % 65521;
            b = (b + a) % 65521;
        }
        left -= blk;
    } while (left);
    put32(z + i, (b << 16) | a);
    i += 4;
    pos += chunk_close(png + pos, "IDAT", i);
    pos += chunk_close(png + pos, "IEND", 0);
    rout_base64(o, png, pos);
    mmdx__free(png);
}

void mmdx__svg_raster(struct rout *o, const unsigned char *grey, size_t w,
                      size_t h, double scale, const unsigned char *outline)
{
    int W = (int)((double)w * scale + 0.5), H = (int)((double)h * scale + 0.5);
    size_t x, y;

    svg_open(o, "image", W, H,
             outline ? "Image slice, windowed, region of interest outlined"
                     : "Image slice, windowed");
    rout_addf(o, "<image x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" "
                 "preserveAspectRatio=\"none\" "
                 "style=\"image-rendering:pixelated\" "
                 "href=\"data:image/png;base64,", W, H);
    mmdx__png_base64(o, grey, w, h);
    rout_adds(o, "\"/>");
    if (outline) {
        /* boundary edges of the mask, one path */
        rout_addf(o, "<path class=\"roi\" fill=\"none\" stroke=\"#ff2020\" "
                     "stroke-width=\"1.5\" transform=\"scale(%.4f)\" "
                     "vector-effect=\"non-scaling-stroke\" d=\"", scale);
        for (y = 0; y < h; y++)
            for (x = 0; x < w; x++) {
                if (!outline[y * w + x])
                    continue;
                if (y == 0 || !outline[(y - 1) * w + x])
                    rout_addf(o, "M%zu %zuh1", x, y);
                if (y + 1 == h || !outline[(y + 1) * w + x])
                    rout_addf(o, "M%zu %zuh1", x, y + 1);
                if (x == 0 || !outline[y * w + x - 1])
                    rout_addf(o, "M%zu %zuv1", x, y);
                if (x + 1 == w || !outline[y * w + x + 1])
                    rout_addf(o, "M%zu %zuv1", x + 1, y);
            }
        rout_adds(o, "\"/>");
    }
    rout_adds(o, "</svg>");
}
