/*
 * edf.c - EDF, EDF+, BDF and BDF+ reader (see edf.h).
 *
 * The header is checked field by field against the specifications
 * (EDF: Kemp et al. 1992; EDF+: Kemp & Olivan 2003; BDF: BioSemi's 24-bit
 * variant) and against the file size before any sample is read. Samples
 * are read through a small record cache with pread(), so memory does not
 * grow with the recording's length and 64-bit offsets reach files larger
 * than 4 GiB.
 */
#include "core/common.h"
#include "io/edf.h"
#include "mmdx/format.h"
#include "pipeline/stage.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#define STAGE "io.edf"

/* ---- small helpers ------------------------------------------------------ */

/* Copy a fixed-width header field, trimmed of surrounding spaces. */
static void field_copy(char *dst, size_t dsize, const unsigned char *src,
                       size_t w)
{
    size_t a = 0, b = w, n;

    while (a < b && src[a] == ' ')
        a++;
    while (b > a && (src[b - 1] == ' ' || src[b - 1] == '\0'))
        b--;
    n = b - a < dsize - 1 ? b - a : dsize - 1;
    memcpy(dst, src + a, n);
    dst[n] = '\0';
}

/* A printable copy of a field for error messages (never used for the
 * identifying fields). */
static void field_show(char *dst, size_t dsize, const unsigned char *src,
                       size_t w)
{
    size_t i, n = w < dsize - 1 ? w : dsize - 1;

    for (i = 0; i < n; i++)
        dst[i] = (src[i] >= 32 && src[i] < 127) ? (char)src[i] : '?';
    dst[n] = '\0';
    while (n && dst[n - 1] == ' ')
        dst[--n] = '\0';
}

/* Index of the first byte that is not printable ASCII, or -1. */
static long non_ascii(const unsigned char *b, size_t w)
{
    size_t i;

    for (i = 0; i < w; i++)
        if (b[i] < 32 || b[i] > 126)
            return (long)i;
    return -1;
}

/* A number field: only digits, sign, '.', exponent, spaces. */
static bool field_number(const unsigned char *src, size_t w, double *out)
{
    char buf[96];
    size_t i;

    if (w >= sizeof(buf))
        return false;
    for (i = 0; i < w; i++) {
        unsigned char c = src[i];

        if (!((c >= '0' && c <= '9') || c == '.' || c == '-' || c == '+' ||
              c == 'e' || c == 'E' || c == ' '))
            return false;
        buf[i] = (char)c;
    }
    buf[w] = '\0';
    return mmdx__parse_double(buf, out);
}

static bool field_integer(const unsigned char *src, size_t w, long *out)
{
    double v;

    if (!field_number(src, w, &v) || v != floor(v) || v < -2147483648.0 ||
        v > 2147483647.0)
        return false;
    *out = (long)v;
    return true;
}

#define FAIL(e, field, ...)                                                  \
    mmdx__fail((e)->ctx, MMDX_E_FORMAT, STAGE, (e)->path, 0, (field),       \
               __VA_ARGS__)

/* ---- header -------------------------------------------------------------- */

static enum mmdx_status edf_new(struct mmdx_ctx *ctx, const char *path,
                                struct mmdx_edf **out)
{
    struct mmdx_edf *e = mmdx__calloc(1, sizeof(*e));

    *out = NULL;
    if (!e)
        return mmdx__nomem(ctx);
    e->ctx = ctx;
    e->fd = -1;
    e->path = mmdx__strdup(path ? path : "(memory)");
    if (!e->path) {
        mmdx__free(e);
        return mmdx__nomem(ctx);
    }
    *out = e;
    return MMDX_OK;
}

void mmdx__edf_close(struct mmdx_edf *e)
{
    if (!e)
        return;
    if (e->fd >= 0)
        close(e->fd);
    mmdx__free(e->sig);
    mmdx__free(e->rec_onset_s);
    mmdx__free(e->cache);
    mmdx__free(e->path);
    mmdx__free(e);
}

/* dd.mm.yy and hh.mm.ss: two digits, a dot, ... */
static bool dotted_ok(const char *s)
{
    return strlen(s) == 8 && s[0] >= '0' && s[0] <= '9' && s[1] >= '0' &&
           s[1] <= '9' && s[2] == '.' && s[3] >= '0' && s[3] <= '9' &&
           s[4] >= '0' && s[4] <= '9' && s[5] == '.' && s[6] >= '0' &&
           s[6] <= '9' && s[7] >= '0' && s[7] <= '9';
}

/* The three two-digit numbers of a dotted_ok field. */
static void dotted_parts(const char *s, int v[3])
{
    int k;

    for (k = 0; k < 3; k++)
        v[k] = (s[3 * k] - '0') * 10 + (s[3 * k + 1] - '0');
}

/* A calendar date: day within its month (EDF+: yy 85-99 is 19yy, 00-84
 * is 20yy, which decides 29 February). */
static bool date_ok(const char *s)
{
    static const int mdays[12] = { 31, 29, 31, 30, 31, 30,
                                   31, 31, 30, 31, 30, 31 };
    int v[3], year;

    dotted_parts(s, v);
    if (v[1] < 1 || v[1] > 12 || v[0] < 1 || v[0] > mdays[v[1] - 1])
        return false;
    year = v[2] >= 85 ? 1900 + v[2] : 2000 + v[2];
    return !(v[1] == 2 && v[0] == 29 &&
             !(year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)));
}

/* A clock time: hours 00-23, minutes and seconds 00-59. */
static bool time_ok(const char *s)
{
    int v[3];

    dotted_parts(s, v);
    return v[0] <= 23 && v[1] <= 59 && v[2] <= 59;
}

/* Per-signal field table: name and width, in header order. */
static const struct {
    const char *name;
    size_t w;
} sfields[] = {
    { "label", 16 },      { "transducer", 80 }, { "physical_dimension", 8 },
    { "physical_min", 8 }, { "physical_max", 8 }, { "digital_min", 8 },
    { "digital_max", 8 },  { "prefiltering", 80 }, { "samples_per_record", 8 },
    { "reserved", 32 }
};

static bool is_annotation_label(const char *raw, bool bdf)
{
    /* EDF+ says "EDF Annotations"; BDF+ writers use "BDF Annotations". */
    return strcmp(raw, "EDF Annotations") == 0 ||
           (bdf && strcmp(raw, "BDF Annotations") == 0);
}

/* Physical dimension: ASCII, except that the micro sign (Latin-1 0xB5 or
 * UTF-8 C2 B5) is so common in "uV" that it is accepted and mapped. */
static bool physdim_copy(char *dst, size_t dsize, const unsigned char *src,
                         size_t w)
{
    unsigned char tmp[8];
    size_t i, j = 0;

    for (i = 0; i < w && j < sizeof(tmp); i++) {
        if (src[i] == 0xC2 && i + 1 < w && src[i + 1] == 0xB5) {
            tmp[j++] = 'u';
            i++;
        } else if (src[i] == 0xB5) {
            tmp[j++] = 'u';
        } else if (src[i] < 32 || src[i] > 126) {
            return false;
        } else {
            tmp[j++] = src[i];
        }
    }
    field_copy(dst, dsize, tmp, j);
    return true;
}

static enum mmdx_status parse_signals(struct mmdx_edf *e,
                                      const unsigned char *h)
{
    size_t ns = e->ns, f, i, off = 256;
    char fname[64], shown[96];
    size_t rec_bytes = 0;
    long dlim_lo = e->bdf ? -8388608L : -32768L;
    long dlim_hi = e->bdf ? 8388607L : 32767L;

    e->sig = mmdx__calloc(ns, sizeof(*e->sig));
    if (!e->sig)
        return mmdx__nomem(e->ctx);
    for (f = 0; f < MMDX_ARRAY_SIZE(sfields); f++) {
        size_t w = sfields[f].w;

        for (i = 0; i < ns; i++, off += w) {
            const unsigned char *b = h + off;
            struct mmdx_edf_signal *s = &e->sig[i];
            double v;
            long l;

            snprintf(fname, sizeof(fname), "signal[%zu].%s", i,
                     sfields[f].name);
            if (f == 2) {
                if (!physdim_copy(s->physdim, sizeof(s->physdim), b, w))
                    return FAIL(e, fname, "non-ASCII byte");
                continue;
            }
            if (non_ascii(b, w) >= 0)
                return FAIL(e, fname, "non-ASCII byte at offset %ld",
                            non_ascii(b, w));
            field_show(shown, sizeof(shown), b, w);
            switch (f) {
            case 0:
                field_copy(s->raw_label, sizeof(s->raw_label), b, w);
                s->annotation = is_annotation_label(s->raw_label, e->bdf);
                mmdx__label_normalise(s->raw_label, s->label,
                                      sizeof(s->label));
                break;
            case 1:
                field_copy(s->transducer, sizeof(s->transducer), b, w);
                break;
            case 3:
            case 4:
                if (!field_number(b, w, &v))
                    return FAIL(e, fname, "expected a number, got \"%s\"",
                                shown);
                if (f == 3)
                    s->phys_min = v;
                else
                    s->phys_max = v;
                break;
            case 5:
            case 6:
                if (!field_integer(b, w, &l))
                    return FAIL(e, fname,
                                "expected an integer, got \"%s\"",
                                shown);
                if (l < dlim_lo || l > dlim_hi)
                    return FAIL(e, fname,
                                "%ld outside the %d-bit range", l,
                                e->bdf ? 24 : 16);
                if (f == 5)
                    s->dig_min = l;
                else
                    s->dig_max = l;
                break;
            case 7:
                field_copy(s->prefilter, sizeof(s->prefilter), b, w);
                break;
            case 8:
                if (!field_integer(b, w, &l))
                    return FAIL(e, fname,
                                "expected an integer, got \"%s\"",
                                shown);
                if (l < 1)
                    return FAIL(e, fname, "expected >= 1, got %ld", l);
                if (l > MMDX_EDF_MAX_SPR)
                    return mmdx__fail(e->ctx, MMDX_E_LIMIT, STAGE, e->path,
                                      0, fname,
                                      "%ld samples per record exceeds "
                                      "the limit of %d", l, MMDX_EDF_MAX_SPR);
                s->spr = (size_t)l;
                break;
            default:
                break;
            }
        }
    }
    for (i = 0; i < ns; i++) {
        struct mmdx_edf_signal *s = &e->sig[i];

        if (s->dig_max <= s->dig_min) {
            snprintf(fname, sizeof(fname), "signal[%zu].digital_max", i);
            return FAIL(e, fname, "%ld not above digital_min %ld",
                        s->dig_max, s->dig_min);
        }
        if (s->phys_max == s->phys_min && !s->annotation) {
            snprintf(fname, sizeof(fname), "signal[%zu].physical_max", i);
            return FAIL(e, fname, "equals physical_min");
        }
        s->gain = (s->phys_max - s->phys_min) /
                  ((double)s->dig_max - (double)s->dig_min);
        s->byte_off = rec_bytes;
        rec_bytes += s->spr * e->samp_bytes;
        if (rec_bytes > MMDX_EDF_MAX_RECORD_BYTES)
            return mmdx__fail(e->ctx, MMDX_E_LIMIT, STAGE, e->path, 0,
                              "samples_per_record",
                              "data record of more than %u bytes",
                              MMDX_EDF_MAX_RECORD_BYTES);
        s->fs_hz = e->rec_dur_s > 0 ? (double)s->spr / e->rec_dur_s : 0;
    }
    e->rec_bytes = rec_bytes;
    return MMDX_OK;
}

enum mmdx_status mmdx__edf_parse_header(struct mmdx_ctx *ctx,
                                        const char *path,
                                        const unsigned char *h, size_t len,
                                        uint64_t file_size,
                                        struct mmdx_edf **out)
{
    struct mmdx_edf *e;
    enum mmdx_status st;
    char shown[96], reserved[45];
    double v;
    long l, nrec;
    uint64_t data_bytes;
    size_t i;
    bool any_data = false;

    *out = NULL;
    st = edf_new(ctx, path, &e);
    if (st)
        return st;
    if (len < 256) {
        st = FAIL(e, "header", "truncated (%zu bytes, need 256)",
                  len);
        goto out;
    }
    if (h[0] == 0xFF && memcmp(h + 1, "BIOSEMI", 7) == 0) {
        e->bdf = true;
        e->samp_bytes = 3;
    } else if (memcmp(h, "0       ", 8) == 0) {
        e->samp_bytes = 2;
    } else {
        st = FAIL(e, "version",
                  "expected \"0\" (EDF) or 0xFF \"BIOSEMI\" (BDF)");
        goto out;
    }
    /* Identifying fields: checked, never shown. */
    if (non_ascii(h + 8, 80) >= 0) {
        st = FAIL(e, "patient", "non-ASCII byte at offset %ld",
                  non_ascii(h + 8, 80));
        goto out;
    }
    if (non_ascii(h + 88, 80) >= 0) {
        st = FAIL(e, "recording", "non-ASCII byte at offset %ld",
                  non_ascii(h + 88, 80));
        goto out;
    }
    field_copy(e->patient, sizeof(e->patient), h + 8, 80);
    field_copy(e->recording, sizeof(e->recording), h + 88, 80);
    memcpy(e->startdate, h + 168, 8);
    e->startdate[8] = '\0';
    memcpy(e->starttime, h + 176, 8);
    e->starttime[8] = '\0';
    /* the values stay unshown: a start date may identify the patient */
    if (!dotted_ok(e->startdate)) {
        st = FAIL(e, "startdate", "expected dd.mm.yy");
        goto out;
    }
    if (!date_ok(e->startdate)) {
        st = FAIL(e, "startdate", "not a calendar date (expected dd.mm.yy, "
                                  "day 01-31 of month 01-12)");
        goto out;
    }
    if (!dotted_ok(e->starttime)) {
        st = FAIL(e, "starttime", "expected hh.mm.ss");
        goto out;
    }
    if (!time_ok(e->starttime)) {
        st = FAIL(e, "starttime", "not a clock time (expected hh.mm.ss, "
                                  "00-23.00-59.00-59)");
        goto out;
    }
    field_show(shown, sizeof(shown), h + 184, 8);
    if (non_ascii(h + 184, 72) >= 0) {
        st = FAIL(e, "header", "non-ASCII byte at offset %ld",
                  184 + non_ascii(h + 184, 72));
        goto out;
    }
    if (!field_integer(h + 184, 8, &l) || l < 512 || l % 256) {
        st = FAIL(e, "header_bytes",
                  "expected a multiple of 256 >= 512, got "
                  "\"%s\"", shown);
        goto out;
    }
    e->header_bytes = (size_t)l;
    field_copy(reserved, sizeof(reserved), h + 192, 44);
    if (strncmp(reserved, "EDF+", 4) == 0 ||
        strncmp(reserved, "BDF+", 4) == 0) {
        if (reserved[4] != 'C' && reserved[4] != 'D') {
            st = FAIL(e, "reserved",
                      "expected EDF+C or EDF+D, got \"%.8s\"",
                      reserved);
            goto out;
        }
        e->plus = true;
        e->discontinuous = reserved[4] == 'D';
    }
    e->format = e->bdf ? (e->plus ? MMDX_FMT_BDFPLUS : MMDX_FMT_BDF)
                       : (e->plus ? MMDX_FMT_EDFPLUS : MMDX_FMT_EDF);
    field_show(shown, sizeof(shown), h + 236, 8);
    if (!field_integer(h + 236, 8, &nrec) || nrec < -1) {
        st = FAIL(e, "records",
                  "expected an integer >= -1, got \"%s\"", shown);
        goto out;
    }
    field_show(shown, sizeof(shown), h + 244, 8);
    if (!field_number(h + 244, 8, &v) || v < 0 || v > 1e7) {
        st = FAIL(e, "record_duration",
                  "expected seconds >= 0, got \"%s\"",
                  shown);
        goto out;
    }
    e->rec_dur_s = v;
    field_show(shown, sizeof(shown), h + 252, 4);
    if (!field_integer(h + 252, 4, &l) || l < 1) {
        st = FAIL(e, "signals", "expected an integer >= 1, got "
                                "\"%s\"", shown);
        goto out;
    }
    if (l > MMDX_EDF_MAX_SIGNALS) {
        st = mmdx__fail(ctx, MMDX_E_LIMIT, STAGE, e->path, 0, "signals",
                        "%ld exceeds the limit of %d", l,
                        MMDX_EDF_MAX_SIGNALS);
        goto out;
    }
    e->ns = (size_t)l;
    if (e->header_bytes != 256 * (e->ns + 1)) {
        st = FAIL(e, "header_bytes",
                  "%zu disagrees with %zu signals (expected "
                  "%zu)", e->header_bytes, e->ns, 256 * (e->ns + 1));
        goto out;
    }
    if (len < e->header_bytes) {
        st = FAIL(e, "header", "truncated (%zu bytes, need %zu)",
                  len, e->header_bytes);
        goto out;
    }
    st = parse_signals(e, h);
    if (st)
        goto out;
    for (i = 0; i < e->ns; i++)
        if (!e->sig[i].annotation)
            any_data = true;
    if (any_data && e->rec_dur_s <= 0) {
        st = FAIL(e, "record_duration",
                  "0 but the file has data signals");
        goto out;
    }
    /* an absurd rate (a duration of 1e-300 s: 1e302 Hz) is a broken
     * header, not a recording to analyse */
    for (i = 0; i < e->ns; i++) {
        const struct mmdx_edf_signal *sg = &e->sig[i];

        if (sg->annotation || (sg->fs_hz >= MMDX_EDF_MIN_FS_HZ &&
                               sg->fs_hz <= MMDX_EDF_MAX_FS_HZ))
            continue;
        st = FAIL(e, "record_duration",
                  "%g s with %zu samples per record gives signal[%zu] "
                  "%g Hz, outside %g-%g Hz",
                  e->rec_dur_s, sg->spr, i, sg->fs_hz, MMDX_EDF_MIN_FS_HZ,
                  MMDX_EDF_MAX_FS_HZ);
        goto out;
    }
    if (file_size < e->header_bytes) {
        st = FAIL(e, "header", "file of %llu bytes is shorter than "
                               "its header (%zu)",
                  (unsigned long long)file_size, e->header_bytes);
        goto out;
    }
    data_bytes = file_size - e->header_bytes;
    if (nrec == -1) {
        /* Writers that were interrupted leave -1: count what is there. */
        if (data_bytes % e->rec_bytes) {
            st = FAIL(e, "records",
                      "-1 and the data (%llu bytes) is not a whole "
                      "number of %zu-byte records",
                      (unsigned long long)data_bytes, e->rec_bytes);
            goto out;
        }
        e->nrec = (size_t)(data_bytes / e->rec_bytes);
    } else {
        e->nrec = (size_t)nrec;
        if ((uint64_t)e->nrec * e->rec_bytes != data_bytes) {
            st = FAIL(e, "records",
                      "%zu records of %zu bytes disagree with the "
                      "file size (%llu data bytes)",
                      e->nrec, e->rec_bytes, (unsigned long long)data_bytes);
            goto out;
        }
    }
out:
    if (st)
        mmdx__edf_close(e);
    else
        *out = e;
    return st;
}

enum mmdx_status mmdx__edf_open(struct mmdx_ctx *ctx, const char *path,
                                struct mmdx_edf **out)
{
    int fd;
    struct stat sb;
    unsigned char fixed[256];
    unsigned char *h = NULL;
    size_t hlen, got = 0;
    long ns;
    enum mmdx_status st;

    *out = NULL;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return mmdx__fail(ctx, errno == ENOENT ? MMDX_E_NOTFOUND : MMDX_E_IO,
                          STAGE, path, 0, NULL, "cannot open: %s",
                          strerror(errno));
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return mmdx__fail(ctx, MMDX_E_IO, STAGE, path, 0, NULL,
                          "not a regular file");
    }
    while (got < sizeof(fixed)) {
        ssize_t r = pread(fd, fixed + got, sizeof(fixed) - got, (off_t)got);

        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    /* The signal count decides how much header to read; its validity is
     * judged by the parser (which reports the field). */
    hlen = got;
    if (got == sizeof(fixed) && field_integer(fixed + 252, 4, &ns) &&
        ns >= 1 && ns <= MMDX_EDF_MAX_SIGNALS)
        hlen = 256 * ((size_t)ns + 1);
    if ((uint64_t)hlen > (uint64_t)sb.st_size)
        hlen = (size_t)sb.st_size;
    h = mmdx__malloc(hlen ? hlen : 1);
    if (!h) {
        close(fd);
        return mmdx__nomem(ctx);
    }
    got = 0;
    while (got < hlen) {
        ssize_t r = pread(fd, h + got, hlen - got, (off_t)got);

        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    st = mmdx__edf_parse_header(ctx, path, h, got, (uint64_t)sb.st_size, out);
    mmdx__free(h);
    if (st) {
        close(fd);
        return st;
    }
    (*out)->fd = fd;
    return MMDX_OK;
}

size_t mmdx__edf_nsamples(const struct mmdx_edf *e, size_t i)
{
    return e->nrec * e->sig[i].spr;
}

bool mmdx__edf_unit_scale(const char *physdim, const char *unit,
                          double *mult)
{
    static const struct {
        const char *name;
        double volts;
    } units[] = { { "V", 1.0 }, { "mV", 1e-3 }, { "uV", 1e-6 },
                  { "nV", 1e-9 } };
    double from = 0, to = 0;
    size_t i;

    for (i = 0; i < MMDX_ARRAY_SIZE(units); i++) {
        if (mmdx__strcasecmp(physdim, units[i].name) == 0)
            from = units[i].volts;
        if (strcmp(unit, units[i].name) == 0)
            to = units[i].volts;
    }
    if (from == 0 || to == 0)
        return false;
    *mult = from == to ? 1.0 : from / to;
    return true;
}

/* ---- records and samples ------------------------------------------------- */

/* Allocate the record cache: as many records as fit in
 * MMDX_EDF_CACHE_BYTES, at least one, at most the file's. */
static enum mmdx_status cache_ensure(struct mmdx_edf *e)
{
    size_t cap;

    if (e->cache)
        return MMDX_OK;
    assert(e->rec_bytes > 0);
    cap = MMDX_EDF_CACHE_BYTES / e->rec_bytes;
    if (cap < 1)
        cap = 1;
    if (cap > e->nrec)
        cap = e->nrec ? e->nrec : 1;
    e->cache = mmdx__malloc(cap * e->rec_bytes);
    if (!e->cache)
        return mmdx__nomem(e->ctx);
    e->cache_cap_rec = cap;
    e->cache_nrec = 0;
    return MMDX_OK;
}

enum mmdx_status mmdx__edf_records(struct mmdx_edf *e, size_t rec0,
                                   size_t n, const unsigned char **data)
{
    size_t k, want, got = 0;
    uint64_t off;
    enum mmdx_status st;

    st = cache_ensure(e);
    if (st)
        return st;
    if (n > e->cache_cap_rec || rec0 > e->nrec || n > e->nrec - rec0)
        return mmdx__fail(e->ctx, MMDX_E_INVAL, STAGE, e->path, 0, NULL,
                          "records [%zu, +%zu) outside the file or cache",
                          rec0, n);
    if (e->cache_nrec && rec0 >= e->cache_rec0 &&
        rec0 + n <= e->cache_rec0 + e->cache_nrec) {
        *data = e->cache + (rec0 - e->cache_rec0) * e->rec_bytes;
        return MMDX_OK;
    }
    if (e->fd < 0)
        return mmdx__fail(e->ctx, MMDX_E_INVAL, STAGE, e->path, 0, NULL,
                          "header-only handle cannot read samples");
    /* Read ahead as far as the cache holds. */
    k = e->cache_cap_rec < e->nrec - rec0 ? e->cache_cap_rec : e->nrec - rec0;
    want = k * e->rec_bytes;
    off = (uint64_t)e->header_bytes + (uint64_t)rec0 * e->rec_bytes;
    e->cache_nrec = 0;
    while (got < want) {
        ssize_t r = pread(e->fd, e->cache + got, want - got,
                          (off_t)(off + got));

        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return mmdx__fail(e->ctx, MMDX_E_IO, STAGE, e->path, 0, NULL,
                              "read error at record %zu: %s", rec0,
                              strerror(errno));
        if (r == 0)
            return mmdx__fail(e->ctx, MMDX_E_FORMAT, STAGE, e->path, 0,
                              "records",
                              "file ends inside record %zu",
                              rec0 + got / e->rec_bytes);
        got += (size_t)r;
    }
    e->cache_rec0 = rec0;
    e->cache_nrec = k;
    *data = e->cache;
    return MMDX_OK;
}

static inline long sample_at(const unsigned char *p, bool bdf)
{
    if (bdf) {
        uint32_t u = (uint32_t)p[0] | ((uint32_t)p[1] << 8) |
                     ((uint32_t)p[2] << 16);

        return (long)(int32_t)(u << 8) >> 8;
    }
    return (long)(int16_t)(uint16_t)((uint16_t)p[0] | ((uint16_t)p[1] << 8));
}

/*
 * k little-endian int16 samples at p to o[j] = d * gain + off. Blocks of
 * 8 with restrict pointers: GCC at -O2 (its "very cheap" vectorizer cost
 * model, which takes neither a loop of unknown count nor one needing an
 * alias check) turns each block into SIMD conversions, 2.3x faster than
 * the plain loop here; the values are the same (one multiply and one add
 * per sample, no contraction). Clang vectorizes either form.
 */
static void edf16_decode(const unsigned char *restrict p, size_t k,
                         double gain, double off, double *restrict o)
{
    size_t j = 0;

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    for (; j + 8 <= k; j += 8)
        for (size_t u = 0; u < 8; u++) {
            int16_t v;

            memcpy(&v, p + 2 * (j + u), sizeof(v));
            o[j + u] = (double)v * gain + off;
        }
    for (; j < k; j++) {
        int16_t v;

        memcpy(&v, p + 2 * j, sizeof(v));
        o[j] = (double)v * gain + off;
    }
#else
    for (; j < k; j++)
        o[j] = (double)(int16_t)(uint16_t)((uint16_t)p[2 * j] |
                                           ((uint16_t)p[2 * j + 1] << 8)) *
                   gain +
               off;
#endif
}

enum mmdx_status mmdx__edf_read_samples(struct mmdx_edf *e, size_t i,
                                        size_t first, size_t n, double mult,
                                        double *out)
{
    const struct mmdx_edf_signal *s;
    size_t rec, pos, done = 0;
    double gain, base;

    if (i >= e->ns || first > mmdx__edf_nsamples(e, i) ||
        n > mmdx__edf_nsamples(e, i) - first)
        return mmdx__fail(e->ctx, MMDX_E_INVAL, STAGE, e->path, 0, NULL,
                          "samples [%zu, +%zu) of signal %zu out of range",
                          first, n, i);
    if (n == 0)
        return MMDX_OK;
    if (cache_ensure(e))
        return MMDX_E_NOMEM;
    s = &e->sig[i];
    gain = s->gain * mult;
    base = s->phys_min * mult;
    rec = first / s->spr;
    pos = first % s->spr;
    while (done < n) {
        const unsigned char *d;
        size_t k, r, nr;
        enum mmdx_status st;

        /* records still needed, clamped to what the cache holds */
        nr = (pos + (n - done) + s->spr - 1) / s->spr;
        if (nr > e->cache_cap_rec)
            nr = e->cache_cap_rec;
        st = mmdx__edf_records(e, rec, nr, &d);
        if (st)
            return st;
        for (r = 0; r < nr && done < n; r++) {
            const unsigned char *p = d + r * e->rec_bytes + s->byte_off +
                                     pos * e->samp_bytes;

            k = s->spr - pos;
            if (k > n - done)
                k = n - done;
            if (e->bdf) {
                for (size_t j = 0; j < k; j++, p += 3)
                    out[done + j] =
                        (double)(sample_at(p, true) - s->dig_min) * gain +
                        base;
            } else {
                /* EDF: little-endian int16; value = d * gain + off */
                edf16_decode(p, k, gain, base - (double)s->dig_min * gain,
                             out + done);
            }
            done += k;
            pos = 0;
        }
        rec += r;
    }
    return MMDX_OK;
}

/* ---- annotations (TALs) --------------------------------------------------- */

/* Parse "+12.5" / "-0.25" (sign required) into seconds. */
static bool tal_number(const unsigned char *b, size_t n, bool sign,
                       double *out)
{
    char buf[40];
    size_t i;

    if (n == 0 || n >= sizeof(buf))
        return false;
    if (sign && b[0] != '+' && b[0] != '-')
        return false;
    for (i = 0; i < n; i++) {
        if (!((b[i] >= '0' && b[i] <= '9') || b[i] == '.' ||
              (i == 0 && (b[i] == '+' || b[i] == '-'))))
            return false;
        buf[i] = (char)b[i];
    }
    buf[n] = '\0';
    return mmdx__parse_double(buf, out);
}

static enum mmdx_status ann_add(struct mmdx_edf *e, struct mmdx_annotation **a,
                                size_t *n, size_t *cap, double onset,
                                double dur, const unsigned char *t, size_t tl)
{
    char *text;

    if (*n >= MMDX_EDF_MAX_ANNOTATIONS)
        return mmdx__fail(e->ctx, MMDX_E_LIMIT, STAGE, e->path, 0,
                          "annotations",
                          "more than %d",
                          MMDX_EDF_MAX_ANNOTATIONS);
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 16;
        struct mmdx_annotation *na;

        if (nc > MMDX_EDF_MAX_ANNOTATIONS)
            nc = MMDX_EDF_MAX_ANNOTATIONS;
        na = mmdx__realloc(*a, nc * sizeof(**a));
        if (!na)
            return mmdx__nomem(e->ctx);
        *a = na;
        *cap = nc;
    }
    if (tl > MMDX_EDF_MAX_ANN_TEXT)
        tl = MMDX_EDF_MAX_ANN_TEXT; /* documented truncation */
    text = mmdx__strndup((const char *)t, tl);
    if (!text)
        return mmdx__nomem(e->ctx);
    (*a)[*n].onset_s = onset;
    (*a)[*n].duration_s = dur;
    (*a)[*n].text = text;
    (*n)++;
    return MMDX_OK;
}

enum mmdx_status mmdx__edf_parse_tals(struct mmdx_edf *e, size_t rec,
                                      const unsigned char *b, size_t len,
                                      struct mmdx_annotation **ann,
                                      size_t *nann, size_t *cap,
                                      double *rec_onset)
{
    size_t pos = 0;
    bool first = true;
    char field[64];

    *rec_onset = NAN;
    snprintf(field, sizeof(field), "record[%zu].annotations", rec);
    while (pos < len) {
        size_t end, p, q;
        double onset, dur = 0;
        bool first_text = true;

        if (b[pos] == 0) {
            pos++;
            continue;
        }
        end = pos;
        while (end < len && b[end] != 0)
            end++;
        /* onset[\x15duration]\x14 */
        p = pos;
        while (p < end && b[p] != 0x14 && b[p] != 0x15)
            p++;
        if (p == end || !tal_number(b + pos, p - pos, true, &onset))
            return FAIL(e, field, "TAL at byte %zu has no valid onset", pos);
        if (b[p] == 0x15) {
            q = ++p;
            while (p < end && b[p] != 0x14)
                p++;
            if (p == end ||
                (p > q && !tal_number(b + q, p - q, false, &dur)) ||
                dur < 0)
                return FAIL(e, field,
                            "TAL at byte %zu has an invalid duration", pos);
        }
        p++; /* past \x14 */
        while (p < end) {
            q = p;
            while (p < end && b[p] != 0x14)
                p++;
            if (first && first_text && p == q) {
                *rec_onset = onset; /* time-keeping TAL */
            } else if (p > q) {
                enum mmdx_status st =
                    ann_add(e, ann, nann, cap, onset, dur, b + q, p - q);

                if (st)
                    return st;
            }
            first_text = false;
            p++;
        }
        first = false;
        pos = end;
    }
    return MMDX_OK;
}

enum mmdx_status mmdx__edf_annotations(struct mmdx_edf *e,
                                       struct mmdx_annotation **ann,
                                       size_t *nann)
{
    struct mmdx_annotation *a = NULL;
    size_t n = 0, cap = 0, rec, i, first_ann = SIZE_MAX;
    enum mmdx_status st = MMDX_OK;
    double t0 = NAN;

    *ann = NULL;
    *nann = 0;
    for (i = 0; i < e->ns; i++)
        if (e->sig[i].annotation && first_ann == SIZE_MAX)
            first_ann = i;
    if (first_ann == SIZE_MAX || !e->plus || e->nrec == 0)
        return MMDX_OK;
    if (e->discontinuous && !e->rec_onset_s) {
        e->rec_onset_s = mmdx__calloc(e->nrec, sizeof(double));
        if (!e->rec_onset_s)
            return mmdx__nomem(e->ctx);
    }
    for (rec = 0; rec < e->nrec; rec++) {
        const unsigned char *d;

        st = mmdx__edf_records(e, rec, 1, &d);
        if (st)
            goto fail;
        for (i = first_ann; i < e->ns; i++) {
            double onset;

            if (!e->sig[i].annotation)
                continue;
            st = mmdx__edf_parse_tals(e, rec, d + e->sig[i].byte_off,
                                      e->sig[i].spr * e->samp_bytes, &a, &n,
                                      &cap, &onset);
            if (st)
                goto fail;
            if (i != first_ann)
                continue;
            if (rec == 0)
                t0 = isnan(onset) ? 0 : onset;
            if (e->rec_onset_s) {
                if (isnan(onset)) {
                    char field[64];

                    snprintf(field, sizeof(field), "record[%zu].annotations",
                             rec);
                    st = FAIL(e, field, "EDF+D record without a "
                                        "time-keeping TAL");
                    goto fail;
                }
                e->rec_onset_s[rec] = onset - t0;
            }
        }
    }
    e->start_offset_s = isnan(t0) ? 0 : t0;
    for (i = 0; i < n; i++)
        a[i].onset_s -= e->start_offset_s;
    /* EDF+D: each jump in record time stamps is reported as a gap. */
    if (e->rec_onset_s) {
        e->ngaps = 0;
        for (rec = 1; rec < e->nrec; rec++) {
            double expect = e->rec_onset_s[rec - 1] + e->rec_dur_s;
            double gap = e->rec_onset_s[rec] - expect;

            if (gap > 1e-6 * (e->rec_dur_s > 0 ? e->rec_dur_s : 1)) {
                static const unsigned char txt[] = "EDF+D gap";

                e->ngaps++;
                st = ann_add(e, &a, &n, &cap, expect, gap, txt,
                             sizeof(txt) - 1);
                if (st)
                    goto fail;
            }
        }
    }
    *ann = a;
    *nann = n;
    return MMDX_OK;
fail:
    for (i = 0; i < n; i++)
        mmdx__free(a[i].text);
    mmdx__free(a);
    return st;
}

/* ---- whole recordings ----------------------------------------------------- */

struct edf_src {
    struct mmdx_signal_src base; /* first */
    struct mmdx_edf *e;
    size_t *sig;                 /* channel -> header signal */
    double *mult;                /* channel unit multiplier */
};

static enum mmdx_status edf_src_read(struct mmdx_signal_src *src, size_t ch,
                                     size_t first, size_t n, double *out)
{
    struct edf_src *s = (struct edf_src *)src;

    return mmdx__edf_read_samples(s->e, s->sig[ch], first, n, s->mult[ch],
                                  out);
}

static void edf_src_close(struct mmdx_signal_src *src)
{
    struct edf_src *s = (struct edf_src *)src;

    mmdx__edf_close(s->e);
    mmdx__free(s->sig);
    mmdx__free(s->mult);
    mmdx__free(s);
}

/* Fill every channel's float data, a cache-full of records at a time. */
static enum mmdx_status load_all(struct mmdx_edf *e, struct mmdx_signal *s,
                                 const size_t *map, const double *mult)
{
    size_t rec = 0, c;

    if (cache_ensure(e))
        return MMDX_E_NOMEM;
    while (rec < e->nrec) {
        const unsigned char *d;
        size_t k = e->cache_cap_rec, r;
        enum mmdx_status st;

        if (k > e->nrec - rec)
            k = e->nrec - rec;
        st = mmdx__edf_records(e, rec, k, &d);
        if (st)
            return st;
        for (r = 0; r < k; r++)
            for (c = 0; c < s->nch; c++) {
                const struct mmdx_edf_signal *sg = &e->sig[map[c]];
                const unsigned char *p =
                    d + r * e->rec_bytes + sg->byte_off;
                float *o = s->ch[c].data + (rec + r) * sg->spr;
                double g = sg->gain * mult[c], b = sg->phys_min * mult[c];

                for (size_t j = 0; j < sg->spr; j++, p += e->samp_bytes)
                    o[j] = (float)((double)(sample_at(p, e->bdf) -
                                            sg->dig_min) * g + b);
            }
        rec += k;
    }
    return MMDX_OK;
}

enum mmdx_status mmdx__edf_to_signal(struct mmdx_edf *e,
                                     const struct mmdx_edf_opts *opts,
                                     struct mmdx_signal **out)
{
    struct mmdx_signal *s = NULL;
    size_t *map = NULL, i, c = 0;
    double *mult = NULL;
    enum mmdx_status st = MMDX_OK;
    struct mmdx_edf_opts defaults = { NULL, false, false };

    *out = NULL;
    if (!opts)
        opts = &defaults;
    s = mmdx__calloc(1, sizeof(*s));
    map = mmdx__calloc(e->ns, sizeof(*map));
    mult = mmdx__calloc(e->ns, sizeof(*mult));
    if (!s || !map || !mult) {
        st = mmdx__nomem(e->ctx);
        goto fail;
    }
    s->format = e->format;
    s->duration_s = (double)e->nrec * e->rec_dur_s;
    for (i = 0; i < e->ns; i++)
        if (!e->sig[i].annotation)
            map[c++] = i;
    if (c) {
        s->ch = mmdx__calloc(c, sizeof(*s->ch));
        if (!s->ch) {
            st = mmdx__nomem(e->ctx);
            goto fail;
        }
        s->nch = c; /* only now: mmdx__signal_free walks ch[] */
    }
    for (c = 0; c < s->nch; c++) {
        const struct mmdx_edf_signal *sg = &e->sig[map[c]];
        struct mmdx_channel *ch = &s->ch[c];

        mmdx__strlcpy(ch->label, sg->label, sizeof(ch->label));
        mmdx__strlcpy(ch->raw_label, sg->raw_label, sizeof(ch->raw_label));
        mult[c] = 1.0;
        if (opts->voltage_unit &&
            mmdx__edf_unit_scale(sg->physdim, opts->voltage_unit, &mult[c]))
            mmdx__strlcpy(ch->unit, opts->voltage_unit, sizeof(ch->unit));
        else
            mmdx__strlcpy(ch->unit, sg->physdim, sizeof(ch->unit));
        ch->fs_hz = sg->fs_hz;
        ch->n = mmdx__edf_nsamples(e, map[c]);
        if (!opts->lazy) {
            size_t bytes;

            if (!mmdx__mul_size(ch->n, sizeof(float), &bytes)) {
                st = mmdx__fail(e->ctx, MMDX_E_LIMIT, STAGE, e->path, 0,
                                "records", "too many samples");
                goto fail;
            }
            ch->data = mmdx__malloc(bytes ? bytes : 1);
            if (!ch->data) {
                st = mmdx__nomem(e->ctx);
                goto fail;
            }
        }
    }
    if (!opts->skip_annotations) {
        st = mmdx__edf_annotations(e, &s->ann, &s->nann);
        if (st)
            goto fail;
    }
    if (!opts->lazy) {
        if (e->rec_bytes && s->nch)
            st = load_all(e, s, map, mult);
        if (st)
            goto fail;
        mmdx__free(map);
        mmdx__free(mult);
        mmdx__edf_close(e);
    } else {
        struct edf_src *src = mmdx__calloc(1, sizeof(*src));

        if (!src) {
            st = mmdx__nomem(e->ctx);
            goto fail;
        }
        src->base.read = edf_src_read;
        src->base.close = edf_src_close;
        src->e = e;
        src->sig = map;
        src->mult = mult;
        s->src = &src->base;
    }
    *out = s;
    return MMDX_OK;
fail:
    mmdx__signal_free(s);
    mmdx__free(map);
    mmdx__free(mult);
    mmdx__edf_close(e);
    return st;
}

enum mmdx_status mmdx__edf_read(struct mmdx_ctx *ctx, const char *path,
                                const struct mmdx_edf_opts *opts,
                                struct mmdx_signal **out)
{
    struct mmdx_edf *e;
    enum mmdx_status st;

    *out = NULL;
    st = mmdx__edf_open(ctx, path, &e);
    if (st)
        return st;
    return mmdx__edf_to_signal(e, opts, out);
}

/* ---- identifying fields ---------------------------------------------------- */

/* Split an EDF+ subfield list (space separated) into at most max words;
 * the last word keeps the rest of the text. */
static size_t split_words(char *s, char **w, size_t max)
{
    size_t n = 0;

    while (*s && n < max) {
        while (*s == ' ')
            s++;
        if (!*s)
            break;
        w[n++] = s;
        if (n == max)
            break;
        while (*s && *s != ' ')
            s++;
        if (*s)
            *s++ = '\0';
    }
    return n;
}

enum mmdx_status mmdx__edf_idfields(const struct mmdx_edf *e,
                                    mmdx__edf_idfield_fn fn, void *user)
{
    char buf[81];
    char *w[5];
    size_t n, i;
    enum mmdx_status st;

    /* Start date as recorded ("dd.mm.yy"; EDF+ writes 01.01.85 when it
     * is unknown or removed, which the gate recognises). */
    if (e->startdate[0]) {
        st = fn(user, "startdate", MMDX_ID_DATE, e->startdate);
        if (st)
            return st;
    }
    /* EDF+ subfields; plain EDF files written by EDF+ aware software
     * follow the same convention (recording field "Startdate ...") */
    if (e->plus || strncmp(e->recording, "Startdate ", 10) == 0) {
        static const struct {
            const char *name;
            int kind;
        } pf[] = { { "patient.code", MMDX_ID_NUMBER },
                   { NULL, 0 }, /* sex: not identifying */
                   { "patient.birthdate", MMDX_ID_DATE },
                   { "patient.name", MMDX_ID_NAME },
                   { "patient.additional", MMDX_ID_FREE_TEXT } },
          rf[] = { { NULL, 0 }, /* the word "Startdate" */
                   { "recording.startdate", MMDX_ID_DATE },
                   { "recording.admincode", MMDX_ID_NUMBER },
                   { "recording.technician", MMDX_ID_NAME },
                   { "recording.additional", MMDX_ID_FREE_TEXT } };

        mmdx__strlcpy(buf, e->patient, sizeof(buf));
        n = split_words(buf, w, 5);
        for (i = 0; i < n; i++)
            if (pf[i].name && strcmp(w[i], "X") != 0) {
                st = fn(user, pf[i].name, pf[i].kind, w[i]);
                if (st)
                    return st;
            }
        mmdx__strlcpy(buf, e->recording, sizeof(buf));
        n = split_words(buf, w, 5);
        /* the 5th word of the recording field is the equipment, then free
         * text: report everything from the equipment on as free text only
         * when there is more than the equipment word */
        for (i = 0; i < n; i++) {
            if (!rf[i].name || strcmp(w[i], "X") == 0)
                continue;
            if (i == 4 && !strchr(w[i], ' '))
                continue; /* equipment alone is not identifying */
            st = fn(user, rf[i].name, rf[i].kind, w[i]);
            if (st)
                return st;
        }
        return MMDX_OK;
    }
    /* plain EDF: "local patient identification", in practice a name
     * and/or a number */
    if (e->patient[0]) {
        st = fn(user, "patient", MMDX_ID_NAME, e->patient);
        if (st)
            return st;
    }
    if (e->recording[0]) {
        st = fn(user, "recording", MMDX_ID_FREE_TEXT, e->recording);
        if (st)
            return st;
    }
    return MMDX_OK;
}

/* ---- inspect hook ------------------------------------------------------------ */

enum mmdx_status mmdx__edf_inspect(struct mmdx_ctx *ctx, const char *path,
                                   enum mmdx_format fmt, mmdx_kv_fn fn,
                                   void *user)
{
    struct mmdx_edf *e;
    struct mmdx_annotation *ann = NULL;
    size_t nann = 0, i, ndata = 0;
    enum mmdx_status st;
    char key[64], val[160], num[32];

    MMDX_UNUSED(fmt);
    st = mmdx__edf_open(ctx, path, &e);
    if (st)
        return st;
    st = mmdx__edf_annotations(e, &ann, &nann);
    if (st)
        goto out;
    fn(user, "edf.variant",
       e->plus ? (e->discontinuous ? (e->bdf ? "BDF+D" : "EDF+D")
                                   : (e->bdf ? "BDF+C" : "EDF+C"))
               : (e->bdf ? "BDF" : "EDF"));
    snprintf(val, sizeof(val), "%zu", e->ns);
    fn(user, "edf.signals", val);
    snprintf(val, sizeof(val), "%zu", e->nrec);
    fn(user, "edf.records", val);
    fn(user, "edf.record_duration_s", mmdx__fmt_double(e->rec_dur_s, num));
    fn(user, "edf.duration_s",
       mmdx__fmt_double((double)e->nrec * e->rec_dur_s, num));
    for (i = 0; i < e->ns; i++) {
        const struct mmdx_edf_signal *s = &e->sig[i];

        if (s->annotation)
            continue;
        ndata++;
        snprintf(key, sizeof(key), "edf.signal.%zu", i);
        snprintf(val, sizeof(val), "%s (%s) %s Hz %s", s->label,
                 s->raw_label, mmdx__fmt_double(s->fs_hz, num),
                 s->physdim[0] ? s->physdim : "-");
        fn(user, key, val);
    }
    snprintf(val, sizeof(val), "%zu", ndata);
    fn(user, "edf.data_signals", val);
    snprintf(val, sizeof(val), "%zu", nann);
    fn(user, "edf.annotations", val);
    if (e->plus)
        fn(user, "edf.start_offset_s",
           mmdx__fmt_double(e->start_offset_s, num));
    if (e->discontinuous) {
        snprintf(val, sizeof(val), "%zu", e->ngaps);
        fn(user, "edf.gaps", val);
    }
out:
    for (i = 0; i < nann; i++)
        mmdx__free(ann[i].text);
    mmdx__free(ann);
    mmdx__edf_close(e);
    return st;
}
