/*
 * wfdb.c - WFDB record headers and signal files (PhysioNet's format as
 * described in its header(5) and signal(5) manual pages), read with our own
 * code: no global state, no printing, every failure a status naming the
 * file, the header line and the field.
 */
#include "core/common.h"
#include "io/wfdb.h"
#include "mmdx/format.h"

#include <sys/stat.h>

#define STAGE "io.wfdb"

/* ---- small helpers ------------------------------------------------------ */

static bool is_space(int c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* Split s (modified in place) into at most max whitespace-separated tokens;
 * *rest (may be NULL) gets what follows token number max, trimmed. */
static size_t tokenize(char *s, char **tok, size_t max, char **rest)
{
    size_t n = 0;

    if (rest)
        *rest = NULL;
    for (;;) {
        while (*s && is_space((unsigned char)*s))
            s++;
        if (!*s)
            break;
        if (n == max) {
            if (rest) {
                size_t l = strlen(s);

                while (l && is_space((unsigned char)s[l - 1]))
                    s[--l] = '\0';
                *rest = s;
            }
            break;
        }
        tok[n++] = s;
        while (*s && !is_space((unsigned char)*s))
            s++;
        if (*s)
            *s++ = '\0';
    }
    return n;
}

double mmdx__wfdb_unit_to_mv(const char *u)
{
    if (!u || !u[0] || !strcmp(u, "mV"))
        return 1.0;
    if (!strcmp(u, "uV") || !strcmp(u, "\xc2\xb5V") || !strcmp(u, "microV"))
        return 1e-3;
    if (!strcmp(u, "nV"))
        return 1e-6;
    if (!strcmp(u, "V"))
        return 1e3;
    return 0.0;
}

void mmdx__wfdb_header_free(struct mmdx_wfdb_header *h)
{
    size_t i;

    if (!h)
        return;
    for (i = 0; i < h->nsig && h->sig; i++) {
        mmdx__free(h->sig[i].file);
        mmdx__free(h->sig[i].desc);
    }
    mmdx__free(h->sig);
    for (i = 0; i < h->nseg && h->seg; i++)
        mmdx__free(h->seg[i].name);
    mmdx__free(h->seg);
    for (i = 0; i < h->ncomments; i++) {
        if (h->comments[i].text)
            memset(h->comments[i].text, 0, strlen(h->comments[i].text));
        mmdx__free(h->comments[i].text);
    }
    mmdx__free(h->comments);
    mmdx__free(h->path);
    mmdx__free(h->dir);
    mmdx__free(h->name);
    mmdx__free(h->base_time);
    mmdx__free(h->base_date);
    mmdx__free(h);
}

static bool fmt_supported(long f)
{
    switch (f) {
    case 8: case 16: case 24: case 32: case 61: case 80: case 160:
    case 212: case 310: case 311:
        return true;
    default:
        return false;
    }
}

/* Record line: name[/nseg] nsig [fs[/counter[(base)]] [nsamp [time [date]]]] */
static enum mmdx_status parse_record_line(struct mmdx_ctx *ctx,
                                          const char *path, long ln,
                                          char *line,
                                          struct mmdx_wfdb_header *h)
{
    char *tok[6];
    size_t nt = tokenize(line, tok, 6, NULL);
    long v;
    double d;
    char *p;

    if (nt < 2)
        return mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, path, ln, "record line",
                          "expected \"name nsig [fs [nsamp]]\", got %zu "
                          "field(s)", nt);
    p = strchr(tok[0], '/');
    if (p) {
        *p++ = '\0';
        if (!mmdx__parse_long(p, &v) || v < 1 || !tok[0][0])
            return mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, path, ln,
                              "record.nseg",
                              "expected \"name/segments\" with a positive "
                              "count");
        if (v > MMDX_WFDB_MAX_SEGMENTS)
            return mmdx__fail(ctx, MMDX_E_LIMIT, STAGE, path, ln,
                              "record.nseg", "%ld segments, limit is %d", v,
                              MMDX_WFDB_MAX_SEGMENTS);
        h->nseg = (size_t)v;
    }
    h->name = mmdx__strdup(tok[0]);
    if (!h->name)
        return mmdx__nomem(ctx);
    if (!mmdx__parse_long(tok[1], &v) || v < 0)
        return mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, path, ln, "record.nsig",
                          "expected a count, got \"%.32s\"", tok[1]);
    if (v == 0)
        return mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, path, ln, "record.nsig",
                          "record has no signals");
    if (v > MMDX_WFDB_MAX_SIGNALS)
        return mmdx__fail(ctx, MMDX_E_LIMIT, STAGE, path, ln, "record.nsig",
                          "%ld signals, limit is %d", v,
                          MMDX_WFDB_MAX_SIGNALS);
    h->nsig = (size_t)v;
    h->fs_hz = 250.0; /* WFDB's default frame rate */
    h->nsamp = -1;
    if (nt >= 3) {
        char *slash = strchr(tok[2], '/');

        if (slash) {
            char *paren;

            *slash++ = '\0';
            paren = strchr(slash, '(');
            if (paren) {
                *paren = '\0';
                /* counter base value: parsed for validity, unused */
                p = strchr(paren + 1, ')');
                if (!p || p[1])
                    return mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, path, ln,
                                      "record.counter_base",
                                      "expected \"(base)\"");
                *p = '\0';
                if (!mmdx__parse_double(paren + 1, &d))
                    return mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, path, ln,
                                      "record.counter_base",
                                      "expected a number");
            }
            if (!mmdx__parse_double(slash, &d) || d <= 0)
                return mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, path, ln,
                                  "record.counter_freq",
                                  "expected a positive number");
            h->counter_hz = d;
        }
        if (!mmdx__parse_double(tok[2], &d))
            return mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, path, ln,
                              "record.fs", "expected a number, got \"%.32s\"",
                              tok[2]);
        if (d == 0)
            d = 250.0;
        if (!(d > 0) || d > MMDX_WFDB_MAX_FS_HZ)
            return mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, path, ln,
                              "record.fs",
                              "sampling rate %g Hz is outside (0, %g]", d,
                              MMDX_WFDB_MAX_FS_HZ);
        h->fs_hz = d;
    }
    if (nt >= 4) {
        if (!mmdx__parse_long(tok[3], &v) || v < 0)
            return mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, path, ln,
                              "record.nsamp",
                              "expected a sample count, got \"%.32s\"",
                              tok[3]);
        h->nsamp = v > 0 ? v : -1; /* 0 = unspecified */
    }
    if (nt >= 5) {
        h->base_time = mmdx__strdup(tok[4]);
        if (!h->base_time)
            return mmdx__nomem(ctx);
    }
    if (nt >= 6) {
        h->base_date = mmdx__strdup(tok[5]);
        if (!h->base_date)
            return mmdx__nomem(ctx);
    }
    return MMDX_OK;
}

/* Signal line: file fmt[xspf][:skew][+off] [gain[(base)][/units] [res
 * [zero [init [checksum [bsize [desc]]]]]]] */
static enum mmdx_status parse_signal_line(struct mmdx_ctx *ctx,
                                          const char *path, long ln,
                                          char *line, size_t idx,
                                          struct mmdx_wfdb_sig *s)
{
    char *tok[8], *rest, *p, *q, field[48];
    size_t nt = tokenize(line, tok, 8, &rest);
    long v;
    double d;
    bool base_given = false;

#define SIGFIELD(name) \
    (snprintf(field, sizeof(field), "signal[%zu]." name, idx), field)

    s->line = ln;
    s->spf = 1;
    if (nt < 2)
        return mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, path, ln,
                          SIGFIELD("format"),
                          "expected \"file format [gain ...]\"");
    s->file = mmdx__strdup(tok[0]);
    if (!s->file)
        return mmdx__nomem(ctx);
    /* format[xspf][:skew][+offset] */
    p = tok[1];
    q = p + strspn(p, "0123456789");
    {
        char save = *q;

        *q = '\0';
        if (!mmdx__parse_long(p, &v))
            return mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, path, ln,
                              SIGFIELD("format"), "expected a number");
        *q = save;
    }
    /* format 0 = a null signal ("~" file: layout headers of multi-segment
     * records describe their signals so) */
    if (!fmt_supported(v) && !(v == 0 && !strcmp(s->file, "~")))
        return mmdx__fail(ctx, MMDX_E_UNSUPPORTED, STAGE, path, ln,
                          SIGFIELD("format"),
                          "storage format %ld is not supported (8, 16, 24, "
                          "32, 61, 80, 160, 212, 310, 311 are)", v);
    s->fmt = (int)v;
    while (*q) {
        char kind = *q++;
        char *e = q + strspn(q, "-0123456789");
        char save = *e;

        *e = '\0';
        if (!mmdx__parse_long(q, &v))
            return mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, path, ln,
                              SIGFIELD("format"),
                              "bad modifier after the format number");
        *e = save;
        q = e;
        if (kind == 'x') {
            if (v < 1 || v > MMDX_WFDB_MAX_SPF)
                return mmdx__fail(ctx, MMDX_E_LIMIT, STAGE, path, ln,
                                  SIGFIELD("samples_per_frame"),
                                  "%ld is outside [1, %d]", v,
                                  MMDX_WFDB_MAX_SPF);
            s->spf = (int)v;
        } else if (kind == ':') {
            s->skew = v; /* alignment correction: ignored */
        } else if (kind == '+') {
            if (v < 0)
                return mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, path, ln,
                                  SIGFIELD("byte_offset"),
                                  "negative offset");
            s->byte_offset = v;
        } else {
            return mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, path, ln,
                              SIGFIELD("format"),
                              "unexpected '%c' after the format number",
                              kind);
        }
    }
    s->gain_adu_per_unit = MMDX_WFDB_DEFAULT_GAIN;
    mmdx__strlcpy(s->units, "mV", sizeof(s->units));
    s->adc_res_bits = 0;
    if (nt >= 3) {
        /* gain[(baseline)][/units] */
        p = tok[2];
        q = strchr(p, '/');
        if (q) {
            *q++ = '\0';
            if (!*q || strlen(q) >= sizeof(s->units))
                return mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, path, ln,
                                  SIGFIELD("units"),
                                  "expected 1 to %zu characters",
                                  sizeof(s->units) - 1);
            mmdx__strlcpy(s->units, q, sizeof(s->units));
        }
        q = strchr(p, '(');
        if (q) {
            char *e = strchr(q, ')');

            if (!e || e[1])
                return mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, path, ln,
                                  SIGFIELD("baseline"),
                                  "expected \"gain(baseline)\"");
            *q = '\0';
            *e = '\0';
            if (!mmdx__parse_long(q + 1, &v))
                return mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, path, ln,
                                  SIGFIELD("baseline"),
                                  "expected an integer");
            s->baseline_adu = (double)v;
            base_given = true;
        }
        if (!mmdx__parse_double(p, &d))
            return mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, path, ln,
                              SIGFIELD("gain"), "expected a number, got "
                              "\"%.32s\"", p);
        if (d < 0)
            return mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, path, ln,
                              SIGFIELD("gain"), "expected >= 0, got %g", d);
        if (d > 0) {
            s->gain_adu_per_unit = d;
            s->gain_given = true;
        }
    }
    if (nt >= 4) {
        if (!mmdx__parse_long(tok[3], &v) || v < 0 || v > 32)
            return mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, path, ln,
                              SIGFIELD("adc_resolution"),
                              "expected 0 to 32 bits");
        s->adc_res_bits = (int)v;
    }
    if (nt >= 5) {
        if (!mmdx__parse_long(tok[4], &v))
            return mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, path, ln,
                              SIGFIELD("adc_zero"), "expected an integer");
        s->adc_zero_adu = v;
    }
    if (!base_given)
        s->baseline_adu = (double)s->adc_zero_adu;
    if (nt >= 6) {
        if (!mmdx__parse_long(tok[5], &v))
            return mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, path, ln,
                              SIGFIELD("initial_value"),
                              "expected an integer");
        s->init_value_adu = v;
    }
    if (nt >= 7) {
        if (!mmdx__parse_long(tok[6], &v))
            return mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, path, ln,
                              SIGFIELD("checksum"), "expected an integer");
        s->checksum = v;
        s->has_checksum = true;
    }
    if (nt >= 8) {
        if (!mmdx__parse_long(tok[7], &v) || v < 0)
            return mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, path, ln,
                              SIGFIELD("block_size"),
                              "expected a count");
        s->block_size = v;
    }
    s->desc = mmdx__strdup(rest ? rest : "");
    if (!s->desc)
        return mmdx__nomem(ctx);
#undef SIGFIELD
    return MMDX_OK;
}

static enum mmdx_status add_comment(struct mmdx_ctx *ctx,
                                    struct mmdx_wfdb_header *h, long ln,
                                    const char *text)
{
    struct mmdx_wfdb_comment *c;
    size_t l;

    while (*text == '#' || is_space((unsigned char)*text))
        text++;
    l = strlen(text);
    while (l && is_space((unsigned char)text[l - 1]))
        l--;
    if (l == 0)
        return MMDX_OK;
    c = mmdx__realloc(h->comments, (h->ncomments + 1) * sizeof(*c));
    if (!c)
        return mmdx__nomem(ctx);
    h->comments = c;
    c[h->ncomments].line = ln;
    c[h->ncomments].text = mmdx__strndup(text, l);
    if (!c[h->ncomments].text)
        return mmdx__nomem(ctx);
    h->ncomments++;
    return MMDX_OK;
}

/* Segment line of a multi-segment header: "name nsamp". */
static enum mmdx_status parse_segment_line(struct mmdx_ctx *ctx,
                                           const char *path, long ln,
                                           char *line, size_t i,
                                           struct mmdx_wfdb_seg *g)
{
    char *tok[3];
    size_t nt = tokenize(line, tok, 3, NULL);
    char field[48];
    long v;

    snprintf(field, sizeof(field), "segment[%zu]", i);
    g->line = ln;
    if (nt != 2)
        return mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, path, ln, field,
                          "expected \"name samples\", got %zu field(s)", nt);
    if (strchr(tok[0], '/') || !strcmp(tok[0], ".") ||
        !strcmp(tok[0], "..") || strlen(tok[0]) > 200)
        return mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, path, ln, field,
                          "segment records must lie beside the header");
    if (!mmdx__parse_long(tok[1], &v) || v < 0)
        return mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, path, ln, field,
                          "expected a sample count, got \"%.32s\"", tok[1]);
    g->nsamp = v;
    g->name = mmdx__strdup(tok[0]);
    return g->name ? MMDX_OK : mmdx__nomem(ctx);
}

enum mmdx_status mmdx__wfdb_header_parse(struct mmdx_ctx *ctx,
                                         const char *path, const char *text,
                                         size_t len,
                                         struct mmdx_wfdb_header **out)
{
    struct mmdx_wfdb_header *h;
    char *line = NULL;
    size_t pos = 0, nsig_done = 0, nseg_done = 0;
    long ln = 0;
    bool have_record = false;
    enum mmdx_status st = MMDX_OK;

    *out = NULL;
    h = mmdx__calloc(1, sizeof(*h));
    line = mmdx__malloc(MMDX_WFDB_MAX_LINE + 1);
    if (!h || !line) {
        st = mmdx__nomem(ctx);
        goto out;
    }
    h->path = mmdx__strdup(path);
    h->dir = mmdx__path_dirname(path);
    if (!h->path || !h->dir) {
        st = mmdx__nomem(ctx);
        goto out;
    }
    h->nsamp = -1;
    while (pos < len) {
        size_t e = pos, l;
        char *p;

        while (e < len && text[e] != '\n')
            e++;
        l = e - pos;
        ln++;
        if (l > MMDX_WFDB_MAX_LINE) {
            st = mmdx__fail(ctx, MMDX_E_LIMIT, STAGE, path, ln, NULL,
                            "line longer than %d bytes", MMDX_WFDB_MAX_LINE);
            goto out;
        }
        memcpy(line, text + pos, l);
        line[l] = '\0';
        pos = e < len ? e + 1 : e;
        if (memchr(line, '\0', l)) {
            st = mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, path, ln, NULL,
                            "NUL byte in a text header");
            goto out;
        }
        p = line;
        while (is_space((unsigned char)*p))
            p++;
        if (*p == '\0')
            continue;
        if (*p == '#') {
            st = add_comment(ctx, h, ln, p);
            if (st)
                goto out;
            continue;
        }
        if (!have_record) {
            st = parse_record_line(ctx, path, ln, p, h);
            if (st)
                goto out;
            have_record = true;
            if (h->nseg)
                h->seg = mmdx__calloc(h->nseg, sizeof(*h->seg));
            else
                h->sig = mmdx__calloc(h->nsig, sizeof(*h->sig));
            if (!h->sig && !h->seg) {
                st = mmdx__nomem(ctx);
                goto out;
            }
            continue;
        }
        if (h->nseg) {
            if (nseg_done < h->nseg) {
                st = parse_segment_line(ctx, path, ln, p, nseg_done,
                                        &h->seg[nseg_done]);
                nseg_done++;
                if (st)
                    goto out;
            }
            continue;
        }
        if (nsig_done < h->nsig) {
            st = parse_signal_line(ctx, path, ln, p, nsig_done,
                                   &h->sig[nsig_done]);
            nsig_done++;
            if (st)
                goto out;
            continue;
        }
        /* anything after the signal lines that is not a comment: WFDB
         * ignores it, and so do we */
    }
    if (!have_record) {
        st = mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, path, ln, "record line",
                        "no record line");
        goto out;
    }
    if (h->nseg) {
        if (nseg_done < h->nseg)
            st = mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, path, ln, "segment",
                            "header declares %zu segments, has %zu segment "
                            "lines", h->nseg, nseg_done);
        goto out;
    }
    if (nsig_done < h->nsig) {
        st = mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, path, ln, "signal",
                        "header declares %zu signals, has %zu signal lines",
                        h->nsig, nsig_done);
        goto out;
    }
    /* signals sharing a file must be adjacent and share its format */
    {
        size_t i, j;

        for (i = 1; i < h->nsig; i++) {
            if (strcmp(h->sig[i].file, h->sig[i - 1].file) == 0) {
                if (h->sig[i].fmt != h->sig[i - 1].fmt) {
                    st = mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, path,
                                    h->sig[i].line, "format",
                                    "signals %zu and %zu share a file with "
                                    "different formats", i - 1, i);
                    goto out;
                }
                continue;
            }
            for (j = 0; j + 1 < i; j++)
                if (strcmp(h->sig[j].file, h->sig[i].file) == 0) {
                    st = mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, path,
                                    h->sig[i].line, "file",
                                    "signals of one file are not adjacent");
                    goto out;
                }
        }
    }
out:
    mmdx__free(line);
    if (st) {
        if (h) {
            h->nsig = h->sig ? h->nsig : 0;
            h->nseg = h->seg ? nseg_done : 0;
        }
        mmdx__wfdb_header_free(h);
        return st;
    }
    *out = h;
    return MMDX_OK;
}

enum mmdx_status mmdx__wfdb_header_read(struct mmdx_ctx *ctx,
                                        const char *path,
                                        struct mmdx_wfdb_header **out)
{
    char *text = NULL, *p = NULL;
    const char *use = path;
    size_t len, pl = strlen(path);
    enum mmdx_status st;

    *out = NULL;
    if (pl < 4 || strcmp(path + pl - 4, ".hea") != 0) {
        p = mmdx__malloc(pl + 5);
        if (!p)
            return mmdx__nomem(ctx);
        memcpy(p, path, pl);
        memcpy(p + pl, ".hea", 5);
        use = p;
    }
    st = mmdx__file_read(ctx, use, MMDX_WFDB_MAX_HEADER_BYTES, &text, &len);
    if (!st)
        st = mmdx__wfdb_header_parse(ctx, use, text, len, out);
    mmdx__free(text);
    mmdx__free(p);
    return st;
}

/* ---- signal files --------------------------------------------------------- */

/* Bytes holding n samples of a format (the last group may be partial). */
static uint64_t bytes_for(int fmt, uint64_t n)
{
    switch (fmt) {
    case 8: case 80: return n;
    case 16: case 61: case 160: return 2 * n;
    case 24: return 3 * n;
    case 32: return 4 * n;
    case 212: return (3 * n + 1) / 2;
    default: /* 310, 311 */
        return n / 3 * 4 + (n % 3) * 2;
    }
}

/* Samples held in b bytes. */
static uint64_t samples_in(int fmt, uint64_t b)
{
    switch (fmt) {
    case 8: case 80: return b;
    case 16: case 61: case 160: return b / 2;
    case 24: return b / 3;
    case 32: return b / 4;
    case 212: return b * 2 / 3;
    default:
        return b / 4 * 3 + (b % 4) / 2;
    }
}

#define BLOCK_FRAMES 3072 /* a multiple of 6: packed groups never split */

struct group {
    FILE *fp;
    char *path;
    int fmt;
    size_t first, nsig;     /* signals [first, first + nsig) */
    size_t frame_samples;   /* sum of spf */
    unsigned char *raw;     /* one block of bytes */
    int32_t *adu;           /* one block of samples, file order */
};

struct mmdx_wfdb_reader {
    struct mmdx_ctx *ctx;
    const struct mmdx_wfdb_header *h;
    struct group *g;
    size_t ng;
    size_t frames;          /* total frames */
    size_t pos;             /* frames handed out */
    size_t blk_pos, blk_len;/* position/length (frames) in the current block */
    float **blk;            /* per signal: BLOCK_FRAMES * spf values */
    long *last;             /* per signal: last sample (format 8) */
    double *scale, *offset; /* per signal: phys = adu * scale + offset */
    int64_t *sum;           /* per signal: running checksum */
};

size_t mmdx__wfdb_reader_frames(const struct mmdx_wfdb_reader *r)
{
    return r->frames;
}

void mmdx__wfdb_reader_free(struct mmdx_wfdb_reader *r)
{
    size_t i;

    if (!r)
        return;
    for (i = 0; i < r->ng; i++) {
        if (r->g[i].fp)
            fclose(r->g[i].fp);
        mmdx__free(r->g[i].path);
        mmdx__free(r->g[i].raw);
        mmdx__free(r->g[i].adu);
    }
    mmdx__free(r->g);
    if (r->blk)
        for (i = 0; i < r->h->nsig; i++)
            mmdx__free(r->blk[i]);
    mmdx__free(r->blk);
    mmdx__free(r->last);
    mmdx__free(r->scale);
    mmdx__free(r->offset);
    mmdx__free(r->sum);
    mmdx__free(r);
}

/* Open the signal file of s (its path beside the header given as path):
 * the one place that decides which files a header may name, shared by the
 * reader and by mmdx__wfdb_files. */
static enum mmdx_status open_signal_file(struct mmdx_ctx *ctx,
                                         const struct mmdx_wfdb_header *h,
                                         const struct mmdx_wfdb_sig *s,
                                         const char *path, FILE **fp,
                                         struct stat *sb)
{
    *fp = NULL;
    if (strchr(s->file, '/') || !strcmp(s->file, "~"))
        return mmdx__fail(ctx, MMDX_E_UNSUPPORTED, STAGE, h->path, s->line,
                          "file", "signal files must lie beside the header");
    *fp = fopen(path, "rb");
    if (!*fp)
        return mmdx__fail(ctx, errno == ENOENT ? MMDX_E_NOTFOUND : MMDX_E_IO,
                          STAGE, path, 0, NULL, "cannot open: %s (named on "
                          "%s line %ld)", strerror(errno),
                          mmdx__path_basename(h->path), s->line);
    if (fstat(fileno(*fp), sb) < 0 || !S_ISREG(sb->st_mode))
        return mmdx__fail(ctx, MMDX_E_IO, STAGE, path, 0, NULL,
                          "not a regular file");
    return MMDX_OK;
}

enum mmdx_status mmdx__wfdb_reader_new(struct mmdx_ctx *ctx,
                                       const struct mmdx_wfdb_header *h,
                                       struct mmdx_wfdb_reader **out)
{
    struct mmdx_wfdb_reader *r;
    enum mmdx_status st = MMDX_OK;
    size_t i, gi;
    bool frames_known = h->nsamp > 0;
    uint64_t frames = frames_known ? (uint64_t)h->nsamp : UINT64_MAX;

    *out = NULL;
    if (h->nseg)
        return mmdx__fail(ctx, MMDX_E_UNSUPPORTED, STAGE, h->path, 0,
                          "record.nseg",
                          "a multi-segment header has no signal files of "
                          "its own (its segments are records)");
    r = mmdx__calloc(1, sizeof(*r));
    if (!r)
        return mmdx__nomem(ctx);
    r->ctx = ctx;
    r->h = h;
    r->g = mmdx__calloc(h->nsig, sizeof(*r->g));
    r->blk = mmdx__calloc(h->nsig, sizeof(*r->blk));
    r->last = mmdx__calloc(h->nsig, sizeof(*r->last));
    r->scale = mmdx__calloc(h->nsig, sizeof(*r->scale));
    r->offset = mmdx__calloc(h->nsig, sizeof(*r->offset));
    r->sum = mmdx__calloc(h->nsig, sizeof(*r->sum));
    if (!r->g || !r->blk || !r->last || !r->scale || !r->offset || !r->sum) {
        st = mmdx__nomem(ctx);
        goto out;
    }
    for (i = 0; i < h->nsig; i++) {
        const struct mmdx_wfdb_sig *s = &h->sig[i];
        double u = mmdx__wfdb_unit_to_mv(s->units);

        if (u == 0)
            u = 1.0; /* not a voltage: keep the header's units */
        r->scale[i] = u / s->gain_adu_per_unit;
        r->offset[i] = -s->baseline_adu * r->scale[i];
        r->last[i] = s->init_value_adu;
        r->blk[i] = mmdx__malloc(sizeof(float) * BLOCK_FRAMES *
                                 (size_t)s->spf);
        if (!r->blk[i]) {
            st = mmdx__nomem(ctx);
            goto out;
        }
        if (i == 0 || strcmp(s->file, h->sig[i - 1].file) != 0) {
            r->g[r->ng].first = i;
            r->g[r->ng].fmt = s->fmt;
            r->ng++;
        }
        r->g[r->ng - 1].nsig++;
        r->g[r->ng - 1].frame_samples += (size_t)s->spf;
    }
    for (gi = 0; gi < r->ng; gi++) {
        struct group *g = &r->g[gi];
        const struct mmdx_wfdb_sig *s = &h->sig[g->first];
        struct stat sb;
        uint64_t avail, need_min, need_max, n;

        g->path = mmdx__path_join(h->dir, s->file);
        g->raw = mmdx__malloc(bytes_for(g->fmt, (uint64_t)BLOCK_FRAMES *
                                                    g->frame_samples) + 4);
        g->adu = mmdx__malloc(sizeof(int32_t) * BLOCK_FRAMES *
                              g->frame_samples);
        if (!g->path || !g->raw || !g->adu) {
            st = mmdx__nomem(ctx);
            goto out;
        }
        st = open_signal_file(ctx, h, s, g->path, &g->fp, &sb);
        if (st)
            goto out;
        if ((uint64_t)sb.st_size < (uint64_t)s->byte_offset) {
            st = mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, g->path, 0,
                            "byte_offset", "file (%lld bytes) is shorter "
                            "than the header's byte offset %ld",
                            (long long)sb.st_size, s->byte_offset);
            goto out;
        }
        avail = (uint64_t)sb.st_size - (uint64_t)s->byte_offset;
        if (frames_known) {
            n = frames * g->frame_samples;
            need_min = bytes_for(g->fmt, n);
            /* a partial last group may be padded to a whole one */
            need_max = bytes_for(g->fmt, (n + 5) / 6 * 6);
            if (avail < need_min) {
                st = mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, g->path, 0,
                                "nsamp", "truncated: header says %llu "
                                "samples per signal, the file holds %llu "
                                "(%llu bytes, %llu needed)",
                                (unsigned long long)frames,
                                (unsigned long long)(samples_in(g->fmt,
                                                                avail) /
                                                     g->frame_samples),
                                (unsigned long long)avail,
                                (unsigned long long)need_min);
                goto out;
            }
            if (avail > need_max) {
                st = mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, g->path, 0,
                                "nsamp", "size mismatch: the header says "
                                "%llu samples per signal (%llu bytes), the "
                                "file has %llu bytes",
                                (unsigned long long)frames,
                                (unsigned long long)need_min,
                                (unsigned long long)avail);
                goto out;
            }
        } else {
            n = samples_in(g->fmt, avail) / g->frame_samples;
            if (n < frames)
                frames = n;
        }
        if (s->byte_offset &&
            fseek(g->fp, s->byte_offset, SEEK_SET) != 0) {
            st = mmdx__fail(ctx, MMDX_E_IO, STAGE, g->path, 0, NULL,
                            "cannot seek: %s", strerror(errno));
            goto out;
        }
    }
    if (frames > SIZE_MAX / 8)
        frames = 0;
    r->frames = (size_t)frames;
out:
    if (st) {
        mmdx__wfdb_reader_free(r);
        return st;
    }
    *out = r;
    return MMDX_OK;
}

/* Decode n samples of raw bytes into adu[]. */
static void decode(int fmt, const unsigned char *b, size_t n, int32_t *adu)
{
    size_t i;

    switch (fmt) {
    case 8:
        for (i = 0; i < n; i++)
            adu[i] = (int8_t)b[i]; /* differences, integrated later */
        break;
    case 80:
        for (i = 0; i < n; i++)
            adu[i] = (int32_t)b[i] - 128;
        break;
    case 16:
        for (i = 0; i < n; i++)
            adu[i] = (int16_t)(uint16_t)(b[2 * i] | (b[2 * i + 1] << 8));
        break;
    case 61:
        for (i = 0; i < n; i++)
            adu[i] = (int16_t)(uint16_t)((b[2 * i] << 8) | b[2 * i + 1]);
        break;
    case 160:
        for (i = 0; i < n; i++)
            adu[i] = (int32_t)(b[2 * i] | (b[2 * i + 1] << 8)) - 32768;
        break;
    case 24:
        for (i = 0; i < n; i++) {
            uint32_t v = (uint32_t)b[3 * i] | ((uint32_t)b[3 * i + 1] << 8) |
                         ((uint32_t)b[3 * i + 2] << 16);

            adu[i] = (int32_t)(v << 8) >> 8;
        }
        break;
    case 32:
        for (i = 0; i < n; i++)
            adu[i] = (int32_t)((uint32_t)b[4 * i] |
                               ((uint32_t)b[4 * i + 1] << 8) |
                               ((uint32_t)b[4 * i + 2] << 16) |
                               ((uint32_t)b[4 * i + 3] << 24));
        break;
    case 212:
        /* two 12-bit samples in three bytes; the middle byte holds the
         * high nibbles (first sample's in its low half) */
        for (i = 0; i + 1 < n; i += 2) {
            const unsigned char *p = b + i / 2 * 3;
            int32_t a = p[0] | ((p[1] & 0x0f) << 8);
            int32_t c = p[2] | ((p[1] & 0xf0) << 4);

            adu[i] = a >= 2048 ? a - 4096 : a;
            adu[i + 1] = c >= 2048 ? c - 4096 : c;
        }
        if (i < n) {
            const unsigned char *p = b + i / 2 * 3;
            int32_t a = p[0] | ((p[1] & 0x0f) << 8);

            adu[i] = a >= 2048 ? a - 4096 : a;
        }
        break;
    case 310:
        /* three 10-bit samples in two little-endian 16-bit words: bits
         * 1-10 of each word hold the first two, the third is split over
         * the words' top five bits (low half from the first word) */
        for (i = 0; i < n; i += 3) {
            const unsigned char *p = b + i / 3 * 4;
            uint32_t w0 = (uint32_t)(p[0] | (p[1] << 8));
            uint32_t w1 = i + 1 < n ? (uint32_t)(p[2] | (p[3] << 8)) : 0;
            int32_t v[3];
            size_t k;

            v[0] = (int32_t)((w0 >> 1) & 0x3ff);
            v[1] = (int32_t)((w1 >> 1) & 0x3ff);
            v[2] = (int32_t)(((w0 >> 11) & 0x1f) | (((w1 >> 11) & 0x1f) << 5));
            for (k = 0; k < 3 && i + k < n; k++)
                adu[i + k] = v[k] >= 512 ? v[k] - 1024 : v[k];
        }
        break;
    default: /* 311: three 10-bit samples in one little-endian 32-bit word */
        for (i = 0; i < n; i += 3) {
            const unsigned char *p = b + i / 3 * 4;
            uint32_t w = (uint32_t)p[0] | ((uint32_t)p[1] << 8);
            size_t k;

            if (i + 1 < n)
                w |= ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
            for (k = 0; k < 3 && i + k < n; k++) {
                int32_t v = (int32_t)((w >> (10 * k)) & 0x3ff);

                adu[i + k] = v >= 512 ? v - 1024 : v;
            }
        }
        break;
    }
}

/* Fill the per-signal block buffers with the next block of frames. */
static enum mmdx_status fill_block(struct mmdx_wfdb_reader *r)
{
    size_t frames = r->frames - r->pos, gi;

    if (frames > BLOCK_FRAMES)
        frames = BLOCK_FRAMES;
    for (gi = 0; gi < r->ng; gi++) {
        struct group *g = &r->g[gi];
        size_t ns = frames * g->frame_samples;
        size_t nb = (size_t)bytes_for(g->fmt, ns), f, k, si;

        if (nb && fread(g->raw, 1, nb, g->fp) != nb)
            return mmdx__fail(r->ctx, MMDX_E_IO, STAGE, g->path, 0, NULL,
                              "short read (file changed or truncated?)");
        decode(g->fmt, g->raw, ns, g->adu);
        k = 0;
        for (f = 0; f < frames; f++)
            for (si = g->first; si < g->first + g->nsig; si++) {
                const struct mmdx_wfdb_sig *s = &r->h->sig[si];
                float *dst = r->blk[si] + f * (size_t)s->spf;
                int j;

                for (j = 0; j < s->spf; j++, k++) {
                    long v = g->adu[k];

                    if (g->fmt == 8) {
                        v += r->last[si];
                        r->last[si] = v;
                    }
                    r->sum[si] += v;
                    dst[j] = (float)((double)v * r->scale[si] +
                                     r->offset[si]);
                }
            }
    }
    r->blk_pos = 0;
    r->blk_len = frames;
    return MMDX_OK;
}

enum mmdx_status mmdx__wfdb_reader_read(struct mmdx_wfdb_reader *r,
                                        size_t max_frames, float *const *out,
                                        size_t *got)
{
    size_t done = 0, s;
    enum mmdx_status st;

    while (done < max_frames) {
        size_t take;

        if (r->blk_pos == r->blk_len) {
            if (r->pos == r->frames)
                break;
            st = fill_block(r);
            if (st) {
                *got = done;
                return st;
            }
        }
        take = r->blk_len - r->blk_pos;
        if (take > max_frames - done)
            take = max_frames - done;
        for (s = 0; s < r->h->nsig; s++)
            if (out[s]) {
                size_t spf = (size_t)r->h->sig[s].spf;

                memcpy(out[s] + done * spf, r->blk[s] + r->blk_pos * spf,
                       take * spf * sizeof(float));
            }
        r->blk_pos += take;
        r->pos += take;
        done += take;
    }
    *got = done;
    return MMDX_OK;
}

/* After a whole record: compare each signal's 16-bit sum to the header. */
static enum mmdx_status check_sums(struct mmdx_wfdb_reader *r)
{
    size_t i;

    for (i = 0; i < r->h->nsig; i++) {
        const struct mmdx_wfdb_sig *s = &r->h->sig[i];
        int16_t got = (int16_t)(uint16_t)((uint64_t)r->sum[i] & 0xffff);
        char field[48];

        if (!s->has_checksum)
            continue;
        if ((int16_t)(uint16_t)((unsigned long)s->checksum & 0xffff) != got) {
            snprintf(field, sizeof(field), "signal[%zu].checksum", i);
            return mmdx__fail(r->ctx, MMDX_E_FORMAT, STAGE, r->h->path,
                              s->line, field,
                              "data checksum %d does not match the header's "
                              "%ld (corrupt signal file?)", got,
                              s->checksum);
        }
    }
    return MMDX_OK;
}

static bool label_wanted(const char *label, const char *w)
{
    if (mmdx__strcasecmp(label, w) == 0)
        return true;
    return mmdx__strcasecmp(w, "II") == 0 &&
           mmdx__strcasecmp(label, "MLII") == 0;
}

/* ---- lazy signals: samples read on demand, sequentially -------------- */
struct wfdb_src {
    struct mmdx_signal_src base;
    struct mmdx_ctx *ctx;
    struct mmdx_wfdb_header *h;
    struct mmdx_wfdb_reader *r;
    size_t pos;              /* next frame the reader delivers */
    float *buf;              /* one chunk of one signal */
    float **dst;             /* per header signal: NULL or buf */
    size_t nsel;
    size_t sig[];            /* header signal of each channel */
};

#define LAZY_CHUNK 65536

static void wfdb_src_close(struct mmdx_signal_src *src)
{
    struct wfdb_src *w = (struct wfdb_src *)src;

    mmdx__wfdb_reader_free(w->r);
    mmdx__wfdb_header_free(w->h);
    mmdx__free(w->buf);
    mmdx__free(w->dst);
    mmdx__free(w);
}

/* Channel ch, frames [first, first + n): sequential reads are streamed;
 * going back reopens the files (correct, slow). */
static enum mmdx_status wfdb_src_read(struct mmdx_signal_src *src, size_t ch,
                                      size_t first, size_t n, double *out)
{
    struct wfdb_src *w = (struct wfdb_src *)src;
    size_t s = w->sig[ch], i, done = 0;
    enum mmdx_status st;

    if (first < w->pos) {
        mmdx__wfdb_reader_free(w->r);
        w->r = NULL;
        w->pos = 0;
        st = mmdx__wfdb_reader_new(w->ctx, w->h, &w->r);
        if (st)
            return st;
    }
    memset(w->dst, 0, w->h->nsig * sizeof(*w->dst));
    while (w->pos < first) { /* skip */
        size_t m = first - w->pos < LAZY_CHUNK ? first - w->pos : LAZY_CHUNK,
               got;

        st = mmdx__wfdb_reader_read(w->r, m, w->dst, &got);
        if (st)
            return st;
        if (got == 0)
            break;
        w->pos += got;
    }
    w->dst[s] = w->buf;
    while (done < n) {
        size_t m = n - done < LAZY_CHUNK ? n - done : LAZY_CHUNK, got;

        st = mmdx__wfdb_reader_read(w->r, m, w->dst, &got);
        if (st)
            return st;
        if (got == 0)
            return mmdx__fail(w->ctx, MMDX_E_IO, STAGE, w->h->path, 0, NULL,
                              "record ended at frame %zu", w->pos);
        for (i = 0; i < got; i++)
            out[done + i] = w->buf[i];
        done += got;
        w->pos += got;
    }
    return MMDX_OK;
}

static enum mmdx_status make_lazy(struct mmdx_ctx *ctx, const char *path,
                                  const size_t *order, size_t nsel,
                                  struct mmdx_signal_src **out)
{
    struct wfdb_src *w;
    enum mmdx_status st;

    *out = NULL;
    w = mmdx__calloc(1, sizeof(*w) + nsel * sizeof(size_t));
    if (!w)
        return mmdx__nomem(ctx);
    w->base.read = wfdb_src_read;
    w->base.close = wfdb_src_close;
    w->ctx = ctx;
    w->nsel = nsel;
    memcpy(w->sig, order, nsel * sizeof(size_t));
    st = mmdx__wfdb_header_read(ctx, path, &w->h);
    if (!st)
        st = mmdx__wfdb_reader_new(ctx, w->h, &w->r);
    if (!st) {
        w->buf = mmdx__malloc(LAZY_CHUNK * sizeof(float));
        w->dst = mmdx__calloc(w->h->nsig, sizeof(*w->dst));
        if (!w->buf || !w->dst)
            st = mmdx__nomem(ctx);
    }
    if (st) {
        wfdb_src_close(&w->base);
        return st;
    }
    *out = &w->base;
    return MMDX_OK;
}

/* ---- multi-segment records -------------------------------------------- */

/* Read segment g of h (its own single-segment header beside h). */
static enum mmdx_status read_segment(struct mmdx_ctx *ctx,
                                     const struct mmdx_wfdb_header *h,
                                     const struct mmdx_wfdb_seg *g,
                                     struct mmdx_wfdb_header **out)
{
    char *p = mmdx__path_join(h->dir, g->name);
    enum mmdx_status st;

    *out = NULL;
    if (!p)
        return mmdx__nomem(ctx);
    st = mmdx__wfdb_header_read(ctx, p, out);
    mmdx__free(p);
    if (!st && (*out)->nseg) {
        st = mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, h->path, g->line,
                        "segment", "segment %s is itself a multi-segment "
                        "record", g->name);
        mmdx__wfdb_header_free(*out);
        *out = NULL;
    }
    return st;
}

enum mmdx_status mmdx__wfdb_layout(struct mmdx_ctx *ctx,
                                   const struct mmdx_wfdb_header *h,
                                   struct mmdx_wfdb_header **out,
                                   bool *variable)
{
    enum mmdx_status st;
    size_t i;
    bool var = false;

    *out = NULL;
    if (variable)
        *variable = false;
    if (!h->nseg)
        return MMDX_OK;
    i = 0;
    if (h->seg[0].nsamp == 0 && strcmp(h->seg[0].name, "~") != 0) {
        var = true;
    } else {
        while (i < h->nseg &&
               (h->seg[i].nsamp == 0 || !strcmp(h->seg[i].name, "~")))
            i++;
        if (i == h->nseg)
            return mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, h->path, 0,
                              "segment", "no segment holds samples");
    }
    st = read_segment(ctx, h, &h->seg[i], out);
    if (st)
        return st;
    if ((*out)->nsig != h->nsig) {
        st = mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, h->path, h->seg[i].line,
                        "segment", "%s describes %zu signals, the record "
                        "line %zu", h->seg[i].name, (*out)->nsig, h->nsig);
        mmdx__wfdb_header_free(*out);
        *out = NULL;
        return st;
    }
    if (variable)
        *variable = var;
    return MMDX_OK;
}

/* ---- the files a record is read from --------------------------------- */

/* The signal files of single-segment header h, each once, checked and
 * opened as the reader opens them. */
static enum mmdx_status signal_files(struct mmdx_ctx *ctx,
                                     const struct mmdx_wfdb_header *h,
                                     mmdx_wfdb_file_fn fn, void *user)
{
    enum mmdx_status st = MMDX_OK;
    size_t i;

    for (i = 0; i < h->nsig && !st; i++) {
        const struct mmdx_wfdb_sig *s = &h->sig[i];
        struct stat sb;
        FILE *fp = NULL;
        char *path;

        if (i > 0 && strcmp(s->file, h->sig[i - 1].file) == 0)
            continue; /* one file holds adjacent signals */
        path = mmdx__path_join(h->dir, s->file);
        if (!path)
            return mmdx__nomem(ctx);
        st = open_signal_file(ctx, h, s, path, &fp, &sb);
        if (fp)
            fclose(fp);
        if (!st)
            st = fn(user, s->file, path);
        mmdx__free(path);
    }
    return st;
}

enum mmdx_status mmdx__wfdb_files(struct mmdx_ctx *ctx, const char *path,
                                  mmdx_wfdb_file_fn fn, void *user)
{
    struct mmdx_wfdb_header *h = NULL, *lay = NULL;
    enum mmdx_status st;
    size_t i;

    st = mmdx__wfdb_header_read(ctx, path, &h);
    if (st)
        return st;
    st = fn(user, mmdx__path_basename(h->path), h->path);
    if (!st && !h->nseg)
        st = signal_files(ctx, h, fn, user);
    if (!st && h->nseg) {
        /* as load_multi: the layout (or first) segment's header, then
         * every segment that holds samples, "~" gaps read nothing */
        st = mmdx__wfdb_layout(ctx, h, &lay, NULL);
        if (!st)
            st = fn(user, mmdx__path_basename(lay->path), lay->path);
        for (i = 0; i < h->nseg && !st; i++) {
            const struct mmdx_wfdb_seg *g = &h->seg[i];
            struct mmdx_wfdb_header *sh = NULL;

            if (g->nsamp == 0 || !strcmp(g->name, "~"))
                continue;
            st = read_segment(ctx, h, g, &sh);
            if (!st)
                st = fn(user, mmdx__path_basename(sh->path), sh->path);
            if (!st)
                st = signal_files(ctx, sh, fn, user);
            mmdx__wfdb_header_free(sh);
        }
    }
    mmdx__wfdb_header_free(lay);
    mmdx__wfdb_header_free(h);
    return st;
}

/* Which signals: every wanted label in order, first match each (all of
 * them when want is NULL), into order[0..*nsel). None found is an error
 * that lists both the wanted leads and the record's. */
static enum mmdx_status select_leads(struct mmdx_ctx *ctx, const char *path,
                                     const char (*labels)[32], size_t nsig,
                                     const char *const *want, size_t nwant,
                                     size_t *order, size_t *nsel)
{
    size_t i, k, n = 0;
    struct mmdx_dstr have, w;
    enum mmdx_status st;

    if (!want) {
        for (i = 0; i < nsig; i++)
            order[n++] = i;
    } else {
        for (k = 0; k < nwant; k++)
            for (i = 0; i < nsig; i++) {
                size_t j;
                bool dup = false;

                if (!label_wanted(labels[i], want[k]))
                    continue;
                for (j = 0; j < n; j++)
                    dup |= order[j] == i;
                if (!dup)
                    order[n++] = i;
                break;
            }
    }
    *nsel = n;
    if (n)
        return MMDX_OK;
    mmdx__dstr_init(&have, 512);
    mmdx__dstr_init(&w, 256);
    for (i = 0; i < nsig; i++)
        mmdx__dstr_addf(&have, "%s%s", i ? "," : "", labels[i]);
    for (k = 0; k < nwant; k++)
        mmdx__dstr_addf(&w, "%s%s", k ? "," : "", want[k]);
    st = mmdx__fail(ctx, MMDX_E_NOTFOUND, STAGE, path, 0, "lead",
                    "none of the wanted leads (%s) is in the record "
                    "(it has %s)", w.s, have.s);
    mmdx__dstr_fini(&have);
    mmdx__dstr_fini(&w);
    return st;
}

/* The selected layout signals order[0..nsel) of record h, concatenated over
 * its segments into sig (already holding nsel zeroed channels of total
 * samples each). */
static enum mmdx_status fill_segments(struct mmdx_ctx *ctx,
                                      const struct mmdx_wfdb_header *h,
                                      const struct mmdx_wfdb_header *lay,
                                      bool var, const size_t *order,
                                      size_t nsel, struct mmdx_signal *sig)
{
    size_t gi, k, j, off = 0;
    enum mmdx_status st = MMDX_OK;

    for (gi = 0; gi < h->nseg && !st; gi++) {
        const struct mmdx_wfdb_seg *g = &h->seg[gi];
        struct mmdx_wfdb_header *sh = NULL;
        struct mmdx_wfdb_reader *r = NULL;
        float **dst = NULL;
        size_t got = 0, n = (size_t)g->nsamp;

        if (n == 0 || !strcmp(g->name, "~")) {
            off += n; /* layout header or gap: zeros */
            continue;
        }
        st = read_segment(ctx, h, g, &sh);
        if (st)
            break;
        if (fabs(sh->fs_hz - h->fs_hz) > 1e-9 * h->fs_hz)
            st = mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, h->path, g->line,
                            "segment", "segment %s is sampled at %g Hz, the "
                            "record at %g Hz", g->name, sh->fs_hz, h->fs_hz);
        else if (sh->nsamp > 0 && sh->nsamp != g->nsamp)
            st = mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, h->path, g->line,
                            "segment", "segment %s holds %ld samples, the "
                            "record says %ld", g->name, sh->nsamp, g->nsamp);
        else if (!var && sh->nsig != lay->nsig)
            st = mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, h->path, g->line,
                            "segment", "segment %s has %zu signals, the "
                            "layout %zu (fixed layout)", g->name, sh->nsig,
                            lay->nsig);
        if (!st) {
            sh->nsamp = g->nsamp;
            dst = mmdx__calloc(sh->nsig, sizeof(*dst));
            if (!dst)
                st = mmdx__nomem(ctx);
        }
        for (k = 0; k < nsel && !st; k++) {
            char want[32], lab[32];

            if (!var) {
                j = order[k];
            } else {
                mmdx__label_normalise(lay->sig[order[k]].desc, want,
                                      sizeof(want));
                for (j = 0; j < sh->nsig; j++) {
                    mmdx__label_normalise(sh->sig[j].desc, lab, sizeof(lab));
                    if (!mmdx__strcasecmp(lab, want))
                        break;
                }
                if (j == sh->nsig)
                    continue; /* absent from this segment: zeros */
            }
            if (sh->sig[j].spf != 1)
                st = mmdx__fail(ctx, MMDX_E_UNSUPPORTED, STAGE, sh->path,
                                sh->sig[j].line, "spf",
                                "several samples per frame in a segment");
            else if (!dst[j])
                dst[j] = sig->ch[k].data + off;
        }
        if (!st)
            st = mmdx__wfdb_reader_new(ctx, sh, &r);
        if (!st)
            st = mmdx__wfdb_reader_read(r, n, dst, &got);
        if (!st && got != n)
            st = mmdx__fail(ctx, MMDX_E_IO, STAGE, sh->path, 0, NULL,
                            "read %zu of %zu frames", got, n);
        if (!st) {
            for (j = 0; j < sh->nsig; j++)
                if (!dst[j])
                    sh->sig[j].has_checksum = false;
            st = check_sums(r);
        }
        mmdx__wfdb_reader_free(r);
        mmdx__free(dst);
        mmdx__wfdb_header_free(sh);
        off += n;
    }
    return st;
}

static enum mmdx_status load_multi(struct mmdx_ctx *ctx,
                                   const struct mmdx_wfdb_header *h,
                                   const char *const *want, size_t nwant,
                                   struct mmdx_signal **out)
{
    struct mmdx_wfdb_header *lay = NULL;
    struct mmdx_signal *sig = NULL;
    char (*labels)[32] = NULL;
    size_t *order = NULL, nsel = 0, i, k, total = 0, cells;
    enum mmdx_status st;
    bool var = false;

    *out = NULL;
    st = mmdx__wfdb_layout(ctx, h, &lay, &var);
    if (st)
        return st;
    labels = mmdx__calloc(lay->nsig, sizeof(*labels));
    order = mmdx__calloc(lay->nsig, sizeof(*order));
    sig = mmdx__calloc(1, sizeof(*sig));
    if (sig)
        sig->ch = mmdx__calloc(lay->nsig, sizeof(*sig->ch));
    if (!labels || !order || !sig || !sig->ch) {
        st = mmdx__nomem(ctx);
        goto out;
    }
    for (i = 0; i < lay->nsig; i++)
        mmdx__label_normalise(lay->sig[i].desc, labels[i], sizeof(labels[i]));
    st = select_leads(ctx, h->path, (const char (*)[32])labels, lay->nsig,
                      want, nwant, order, &nsel);
    if (st)
        goto out;
    for (i = 0; i < h->nseg; i++) {
        if ((uint64_t)h->seg[i].nsamp > MMDX_WFDB_MAX_MULTISEG_SAMPLES ||
            total > MMDX_WFDB_MAX_MULTISEG_SAMPLES)
            break;
        total += (size_t)h->seg[i].nsamp;
    }
    if (i < h->nseg || !mmdx__mul_size(total, nsel, &cells) ||
        cells > MMDX_WFDB_MAX_MULTISEG_SAMPLES) {
        st = mmdx__fail(ctx, MMDX_E_LIMIT, STAGE, h->path, 0, "nsamp",
                        "multi-segment records are read into memory: at "
                        "most %zu samples in all",
                        MMDX_WFDB_MAX_MULTISEG_SAMPLES);
        goto out;
    }
    if (h->nsamp > 0 && (uint64_t)h->nsamp != (uint64_t)total) {
        st = mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, h->path, 0,
                        "record.nsamp", "segments hold %zu samples, the "
                        "record line says %ld", total, h->nsamp);
        goto out;
    }
    for (k = 0; k < nsel; k++) {
        struct mmdx_channel *c = &sig->ch[k];
        const struct mmdx_wfdb_sig *s = &lay->sig[order[k]];

        c->data = mmdx__calloc(total ? total : 1, sizeof(float));
        if (!c->data) {
            st = mmdx__nomem(ctx);
            goto out;
        }
        sig->nch = k + 1;
        c->n = total;
        c->fs_hz = h->fs_hz;
        mmdx__strlcpy(c->label, labels[order[k]], sizeof(c->label));
        mmdx__strlcpy(c->raw_label, s->desc, sizeof(c->raw_label));
        mmdx__strlcpy(c->unit,
                      mmdx__wfdb_unit_to_mv(s->units) != 0 ? "mV" : s->units,
                      sizeof(c->unit));
    }
    st = fill_segments(ctx, h, lay, var, order, nsel, sig);
    if (st)
        goto out;
    sig->format = MMDX_FMT_WFDB_HEADER;
    sig->duration_s = (double)total / h->fs_hz;
    *out = sig;
    sig = NULL;
out:
    mmdx__signal_free(sig);
    mmdx__free(labels);
    mmdx__free(order);
    mmdx__wfdb_header_free(lay);
    return st;
}

enum mmdx_status mmdx__wfdb_load(struct mmdx_ctx *ctx, const char *path,
                                 const char *const *want, size_t nwant,
                                 struct mmdx_signal **out,
                                 struct mmdx_wfdb_header **hdr_out)
{
    return mmdx__wfdb_load_ex(ctx, path, want, nwant, SIZE_MAX, out,
                              hdr_out);
}

enum mmdx_status mmdx__wfdb_load_ex(struct mmdx_ctx *ctx, const char *path,
                                    const char *const *want, size_t nwant,
                                    size_t lazy_above,
                                    struct mmdx_signal **out,
                                    struct mmdx_wfdb_header **hdr_out)
{
    struct mmdx_wfdb_header *h = NULL;
    struct mmdx_wfdb_reader *r = NULL;
    struct mmdx_signal *sig = NULL;
    float **dst = NULL;
    char (*labels)[32] = NULL;
    size_t i, k, got, nsel = 0;
    enum mmdx_status st;

    *out = NULL;
    if (hdr_out)
        *hdr_out = NULL;
    st = mmdx__wfdb_header_read(ctx, path, &h);
    if (st)
        return st;
    if (h->nseg) {
        st = load_multi(ctx, h, want, nwant, out);
        if (st || !hdr_out)
            mmdx__wfdb_header_free(h);
        else
            *hdr_out = h;
        return st;
    }
    labels = mmdx__calloc(h->nsig, sizeof(*labels));
    dst = mmdx__calloc(h->nsig, sizeof(*dst));
    sig = mmdx__calloc(1, sizeof(*sig));
    if (!labels || !dst || !sig) {
        st = mmdx__nomem(ctx);
        goto out;
    }
    for (i = 0; i < h->nsig; i++)
        mmdx__label_normalise(h->sig[i].desc, labels[i], sizeof(labels[i]));
    /* which signals: every wanted label in order, first match each */
    sig->ch = mmdx__calloc(h->nsig, sizeof(*sig->ch));
    if (!sig->ch) {
        st = mmdx__nomem(ctx);
        goto out;
    }
    {
        size_t order[MMDX_WFDB_MAX_SIGNALS];

        st = select_leads(ctx, h->path, (const char (*)[32])labels, h->nsig,
                          want, nwant, order, &nsel);
        if (st)
            goto out;
        st = mmdx__wfdb_reader_new(ctx, h, &r);
        if (st)
            goto out;
        {
            size_t total;
            bool spf1 = true;

            for (k = 0; k < nsel; k++)
                spf1 &= h->sig[order[k]].spf == 1;
            if (spf1 && (!mmdx__mul_size(r->frames, nsel, &total) ||
                         total > lazy_above)) {
                st = make_lazy(ctx, h->path, order, nsel, &sig->src);
                if (st)
                    goto out;
                for (k = 0; k < nsel; k++) {
                    struct mmdx_channel *c = &sig->ch[k];
                    const struct mmdx_wfdb_sig *s = &h->sig[order[k]];

                    c->n = r->frames;
                    c->fs_hz = h->fs_hz;
                    mmdx__strlcpy(c->label, labels[order[k]],
                                  sizeof(c->label));
                    mmdx__strlcpy(c->raw_label, s->desc,
                                  sizeof(c->raw_label));
                    mmdx__strlcpy(c->unit,
                                  mmdx__wfdb_unit_to_mv(s->units) != 0
                                      ? "mV"
                                      : s->units,
                                  sizeof(c->unit));
                }
                sig->nch = nsel;
                sig->format = MMDX_FMT_WFDB_HEADER;
                sig->duration_s = (double)r->frames / h->fs_hz;
                goto out;
            }
        }
        for (k = 0; k < nsel; k++) {
            struct mmdx_channel *c = &sig->ch[k];
            const struct mmdx_wfdb_sig *s = &h->sig[order[k]];
            size_t n;

            if (!mmdx__mul_size(r->frames, (size_t)s->spf, &n) ||
                n > SIZE_MAX / sizeof(float)) {
                st = mmdx__fail(ctx, MMDX_E_LIMIT, STAGE, h->path, s->line,
                                "nsamp", "record too long");
                goto out;
            }
            c->data = mmdx__malloc(n ? n * sizeof(float) : 1);
            if (!c->data) {
                st = mmdx__nomem(ctx);
                goto out;
            }
            sig->nch = k + 1;
            c->n = n;
            c->fs_hz = h->fs_hz * s->spf;
            mmdx__strlcpy(c->label, labels[order[k]], sizeof(c->label));
            mmdx__strlcpy(c->raw_label, s->desc, sizeof(c->raw_label));
            mmdx__strlcpy(c->unit,
                          mmdx__wfdb_unit_to_mv(s->units) != 0 ? "mV"
                                                               : s->units,
                          sizeof(c->unit));
            dst[order[k]] = c->data;
        }
    }
    st = mmdx__wfdb_reader_read(r, r->frames, dst, &got);
    if (st)
        goto out;
    if (got != r->frames) {
        st = mmdx__fail(ctx, MMDX_E_IO, STAGE, h->path, 0, NULL,
                        "read %zu of %zu frames", got, r->frames);
        goto out;
    }
    if (!want) /* checksums cover every signal of the record */
        st = check_sums(r);
    else
        for (i = 0; i < h->nsig && !st; i++)
            if (!dst[i])
                h->sig[i].has_checksum = false;
    if (!st && want)
        st = check_sums(r);
    if (st)
        goto out;
    sig->format = MMDX_FMT_WFDB_HEADER;
    sig->duration_s = (double)r->frames / h->fs_hz;
out:
    mmdx__wfdb_reader_free(r);
    mmdx__free(dst);
    mmdx__free(labels);
    if (st) {
        mmdx__signal_free(sig);
        mmdx__wfdb_header_free(h);
        return st;
    }
    *out = sig;
    if (hdr_out)
        *hdr_out = h;
    else
        mmdx__wfdb_header_free(h);
    return MMDX_OK;
}
