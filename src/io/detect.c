/*
 * detect.c - input format detection from content (DICM magic, EDF/BDF
 * header, WFDB record line, XML root element and namespace, NIfTI-1
 * header plain or gzip-compressed), never from the file name alone.
 */
#include "core/common.h"
#include "io/mask.h"
#include "mmdx/format.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#define SNIFF_BYTES 8192

static const char *const fmt_names[MMDX_FMT_COUNT_] = {
    "unknown", "dicom", "dicom-series", "wfdb", "wfdb-annotations", "edf",
    "edf+", "bdf", "bdf+", "fhir-xml", "ccda-xml", "mmdx-record-xml",
    "aecg-xml", "pipeline-xml", "nifti"
};

const char *mmdx_format_name(enum mmdx_format f)
{
    return (unsigned)f < MMDX_FMT_COUNT_ ? fmt_names[f] : "unknown";
}

const char *mmdx_format_modality(enum mmdx_format f)
{
    switch (f) {
    case MMDX_FMT_DICOM:
    case MMDX_FMT_DICOM_DIR:
        return "image";
    case MMDX_FMT_WFDB_HEADER:
    case MMDX_FMT_WFDB_ANNOT:
    case MMDX_FMT_AECG_XML:
        return "ecg";
    case MMDX_FMT_EDF:
    case MMDX_FMT_EDFPLUS:
    case MMDX_FMT_BDF:
    case MMDX_FMT_BDFPLUS:
        return "eeg";
    case MMDX_FMT_FHIR_XML:
    case MMDX_FMT_CCDA_XML:
    case MMDX_FMT_MMDX_RECORD_XML:
        return "record";
    default:
        return NULL;
    }
}

static ssize_t read_head(const char *path, unsigned char *buf, size_t n)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    size_t got = 0;

    if (fd < 0)
        return -1;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);

        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    return (ssize_t)got;
}

static bool is_dicom(const unsigned char *b, size_t n)
{
    if (n >= 132 && memcmp(b + 128, "DICM", 4) == 0)
        return true;
    /* Preamble-less files (no meta header) start with a group 0x0008 tag in
     * little endian, e.g. (0008,0005) or (0008,0016); require a plausible
     * explicit VR or implicit length too. */
    if (n >= 8 && b[0] == 0x08 && b[1] == 0x00 && b[3] == 0x00 &&
        (b[2] == 0x05 || b[2] == 0x08 || b[2] == 0x12 || b[2] == 0x16 ||
         b[2] == 0x00))
        return true;
    return false;
}

/* Whether b[0..n) holds only bytes of set (a C string). */
static bool all_in(const unsigned char *b, size_t n, const char *set)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (!b[i] || !strchr(set, b[i]))
            return false;
    return true;
}

/*
 * EDF: 256-byte header of ASCII fields; version "0" padded. BDF: 0xFF
 * "BIOSEMI". Beyond the version, the fixed parts must mostly look right:
 * at least 4 of start date and time (dd.mm.yy, hh.mm.ss: dots in place),
 * header bytes, record count, record duration and signal count (numbers).
 * So one malformed field (a header_bytes of "garbage!") still reads as
 * EDF and the reader names that field, while text that merely starts
 * with "0" does not.
 */
static enum mmdx_format edf_kind(const unsigned char *b, size_t n)
{
    bool bdf;
    int fit = 0;

    if (n < 256)
        return MMDX_FMT_UNKNOWN;
    if (b[0] == 0xFF && memcmp(b + 1, "BIOSEMI", 7) == 0)
        bdf = true;
    else if (memcmp(b, "0       ", 8) == 0)
        bdf = false;
    else
        return MMDX_FMT_UNKNOWN;
    fit += b[170] == '.' && b[173] == '.';            /* start date */
    fit += b[178] == '.' && b[181] == '.';            /* start time */
    fit += all_in(b + 184, 8, " 0123456789");         /* header bytes */
    fit += all_in(b + 236, 8, " -0123456789");        /* records */
    fit += all_in(b + 244, 8, " +-.0123456789eE");    /* record duration */
    fit += all_in(b + 252, 4, " 0123456789");         /* signals */
    if (fit < 4)
        return MMDX_FMT_UNKNOWN;
    if (memcmp(b + 192, "EDF+", 4) == 0 || memcmp(b + 192, "BDF+", 4) == 0)
        return bdf ? MMDX_FMT_BDFPLUS : MMDX_FMT_EDFPLUS;
    return bdf ? MMDX_FMT_BDF : MMDX_FMT_EDF;
}

/* Skip blank and comment (#) lines from b[i]; the index of the first
 * other line's first non-blank byte (n when none). */
static size_t wfdb_next_line(const unsigned char *b, size_t n, size_t i)
{
    while (i < n) {
        while (i < n && (b[i] == ' ' || b[i] == '\t'))
            i++;
        if (i < n && (b[i] == '#' || b[i] == '\n' || b[i] == '\r')) {
            while (i < n && b[i] != '\n')
                i++;
            i++;
            continue;
        }
        break;
    }
    return i < n ? i : n;
}

/* Whether the line at b[i] is a WFDB signal specification: a signal file
 * name (with an extension, "~", or starting with the record's name rec of
 * reclen bytes), then a storage format WFDB defines (optionally followed
 * by x, :, +). */
static bool wfdb_signal_line(const unsigned char *b, size_t n, size_t i,
                             const unsigned char *rec, size_t reclen)
{
    static const long fmts[] = { 0,   8,   16,  24,  32,  61,  80,
                                 160, 212, 310, 311, 508, 516, 524 };
    size_t j, k;
    long v = 0;
    bool named;

    j = i;
    while (i < n && b[i] > ' ')
        i++;
    if (i == j || i >= n || (b[i] != ' ' && b[i] != '\t'))
        return false;
    named = memchr(b + j, '.', i - j) || (i - j == 1 && b[j] == '~') ||
            (i - j >= reclen && memcmp(b + j, rec, reclen) == 0);
    if (!named)
        return false;
    while (i < n && (b[i] == ' ' || b[i] == '\t'))
        i++;
    j = i;
    while (i < n && b[i] >= '0' && b[i] <= '9' && i - j < 4)
        v = v * 10 + (b[i++] - '0');
    if (i == j || (i < n && !(b[i] == ' ' || b[i] == '\t' || b[i] == '\n' ||
                              b[i] == '\r' || b[i] == 'x' || b[i] == ':' ||
                              b[i] == '+')))
        return false;
    for (k = 0; k < MMDX_ARRAY_SIZE(fmts); k++)
        if (fmts[k] == v)
            return true;
    return false;
}

/* WFDB header: comment lines (#) then "name[/nseg] nsig [fs[/cfs][(base)]
 * [nsamp [time [date]]]]". A record line whose signal count is not a
 * number still makes a WFDB header when the next line is a signal
 * specification (so the reader names the bad field). */
static bool is_wfdb_header(const unsigned char *b, size_t n)
{
    size_t i, j, name, namelen;
    bool multi = false;

    for (j = 0; j < n; j++)
        if (b[j] == 0 || (b[j] < 0x20 && b[j] != '\n' && b[j] != '\r' &&
                          b[j] != '\t'))
            return false;
    i = wfdb_next_line(b, n, 0);
    if (i >= n)
        return false;
    j = i;
    while (i < n && (isalnum_ascii(b[i]) || b[i] == '_' || b[i] == '-'))
        i++;
    if (i == j)
        return false;
    name = j;
    namelen = i - j;
    if (i < n && b[i] == '/') { /* multi-segment */
        i++;
        if (i >= n || !(b[i] >= '0' && b[i] <= '9'))
            return false;
        while (i < n && b[i] >= '0' && b[i] <= '9')
            i++;
        multi = true;
    }
    if (i >= n || (b[i] != ' ' && b[i] != '\t'))
        return false;
    while (i < n && (b[i] == ' ' || b[i] == '\t'))
        i++;
    j = i;
    while (i < n && b[i] >= '0' && b[i] <= '9')
        i++;
    if (multi) /* "name/nseg" is distinctive enough on its own */
        return true;
    if (i > j && (i >= n || b[i] == ' ' || b[i] == '\t' || b[i] == '\n' ||
                  b[i] == '\r'))
        return true;
    /* the signal count is malformed: judge by the line after */
    while (i < n && b[i] != '\n')
        i++;
    i = wfdb_next_line(b, n, i);
    return i < n && wfdb_signal_line(b, n, i, b + name, namelen);
}

/* Find the root element's local name and namespace in the first bytes of
 * an XML document without building a tree. */
static bool xml_root(const unsigned char *b, size_t n, char *name,
                     size_t nsize, char *ns, size_t nssize)
{
    size_t i = 0;

    if (n >= 3 && b[0] == 0xEF && b[1] == 0xBB && b[2] == 0xBF)
        i = 3;
    for (;;) {
        while (i < n && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' ||
                         b[i] == '\n'))
            i++;
        if (i >= n || b[i] != '<')
            return false;
        if (i + 1 < n && (b[i + 1] == '?' || b[i + 1] == '!')) {
            /* declaration, comment or DOCTYPE: skip to '>' (comments to
             * "-->") */
            if (i + 3 < n && b[i + 2] == '-' && b[i + 3] == '-') {
                const unsigned char *e = memmem(b + i + 4, n - i - 4, "-->", 3);

                if (!e)
                    return false;
                i = (size_t)(e - b) + 3;
            } else {
                while (i < n && b[i] != '>')
                    i++;
                i++;
            }
            continue;
        }
        break;
    }
    i++;
    {
        size_t s = i, colon = 0, k;
        char prefix[64] = "";

        while (i < n && b[i] != ' ' && b[i] != '>' && b[i] != '/' &&
               b[i] != '\t' && b[i] != '\r' && b[i] != '\n') {
            if (b[i] == ':')
                colon = i;
            i++;
        }
        if (i == s || i >= n)
            return false;
        if (colon) {
            k = colon - s < sizeof(prefix) - 1 ? colon - s : sizeof(prefix) - 1;
            memcpy(prefix, b + s, k);
            prefix[k] = '\0';
            s = colon + 1;
        }
        k = i - s < nsize - 1 ? i - s : nsize - 1;
        memcpy(name, b + s, k);
        name[k] = '\0';
        /* the matching xmlns or xmlns:prefix attribute */
        ns[0] = '\0';
        while (i < n && b[i] != '>') {
            char want[80];
            size_t wl;

            if (prefix[0])
                snprintf(want, sizeof(want), "xmlns:%s=", prefix);
            else
                snprintf(want, sizeof(want), "xmlns=");
            wl = strlen(want);
            if (i + wl + 1 < n && memcmp(b + i, want, wl) == 0 &&
                (i == 0 || b[i - 1] == ' ' || b[i - 1] == '\n' ||
                 b[i - 1] == '\t' || b[i - 1] == '\r')) {
                unsigned char q = b[i + wl];
                size_t vs = i + wl + 1, ve = vs;

                while (ve < n && b[ve] != q)
                    ve++;
                k = ve - vs < nssize - 1 ? ve - vs : nssize - 1;
                memcpy(ns, b + vs, k);
                ns[k] = '\0';
                break;
            }
            i++;
        }
    }
    return true;
}

static enum mmdx_format xml_kind(const unsigned char *b, size_t n)
{
    char name[128], ns[256];

    if (!xml_root(b, n, name, sizeof(name), ns, sizeof(ns)))
        return MMDX_FMT_UNKNOWN;
    if (strcmp(ns, "http://hl7.org/fhir") == 0)
        return MMDX_FMT_FHIR_XML;
    if (strcmp(ns, "urn:hl7-org:v3") == 0) {
        if (strcmp(name, "ClinicalDocument") == 0)
            return MMDX_FMT_CCDA_XML;
        if (strcmp(name, "AnnotatedECG") == 0)
            return MMDX_FMT_AECG_XML;
    }
    if (strcmp(ns, "urn:mmdx:record:1") == 0)
        return MMDX_FMT_MMDX_RECORD_XML;
    if (strcmp(ns, "urn:mmdx:pipeline:1") == 0)
        return MMDX_FMT_PIPELINE_XML;
    return MMDX_FMT_UNKNOWN;
}

static bool dir_has_dicom(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    bool found = false;
    unsigned char buf[SNIFF_BYTES];
    int tried = 0;

    if (!d)
        return false;
    while (!found && tried < 64 && (de = readdir(d)) != NULL) {
        char *full;
        ssize_t n;

        if (de->d_name[0] == '.')
            continue;
        full = mmdx__path_join(dir, de->d_name);
        if (!full)
            break;
        if (mmdx__is_file(full)) {
            tried++;
            n = read_head(full, buf, 256);
            if (n > 0 && is_dicom(buf, (size_t)n))
                found = true;
        }
        mmdx__free(full);
    }
    closedir(d);
    return found;
}

enum mmdx_status mmdx_detect(struct mmdx_ctx *ctx, const char *path,
                             enum mmdx_format *fmt)
{
    unsigned char buf[SNIFF_BYTES];
    ssize_t n;
    enum mmdx_format f;

    *fmt = MMDX_FMT_UNKNOWN;
    if (mmdx__is_dir(path)) {
        if (dir_has_dicom(path))
            *fmt = MMDX_FMT_DICOM_DIR;
        return MMDX_OK;
    }
    if (!mmdx__is_file(path)) {
        struct stat sb;

        /* a device, FIFO or socket is there but is no input file (and is
         * not read: /dev/zero would never end) */
        if (stat(path, &sb) == 0)
            return mmdx__fail(ctx, MMDX_E_FORMAT, "detect", path, 0, NULL,
                              "not a regular file (a device, pipe or "
                              "socket)");
        return mmdx__fail(ctx, MMDX_E_NOTFOUND, "detect", path, 0, NULL,
                          "no such file");
    }
    n = read_head(path, buf, sizeof(buf));
    if (n < 0)
        return mmdx__fail(ctx, MMDX_E_IO, "detect", path, 0, NULL,
                          "cannot read: %s", strerror(errno));
    if (is_dicom(buf, (size_t)n)) {
        *fmt = MMDX_FMT_DICOM;
        return MMDX_OK;
    }
    if (mmdx__nifti_detect(buf, (size_t)n)) {
        *fmt = MMDX_FMT_NIFTI;   /* a mask, not an input modality */
        return MMDX_OK;
    }
    f = edf_kind(buf, (size_t)n);
    if (f != MMDX_FMT_UNKNOWN) {
        *fmt = f;
        return MMDX_OK;
    }
    f = xml_kind(buf, (size_t)n);
    if (f != MMDX_FMT_UNKNOWN) {
        *fmt = f;
        return MMDX_OK;
    }
    if (is_wfdb_header(buf, (size_t)n)) {
        *fmt = MMDX_FMT_WFDB_HEADER;
        return MMDX_OK;
    }
    return MMDX_OK;
}

/* 10-20 electrode names (old and new) that mark an EEG recording. */
static bool label_is_eeg(const char *l)
{
    static const char *const el[] = {
        "FP1", "FP2", "FPZ", "F7", "F3", "FZ", "F4", "F8", "T3", "T4", "T5",
        "T6", "T7", "T8", "P7", "P8", "C3", "CZ", "C4", "P3", "PZ", "P4",
        "O1", "O2", "OZ", "A1", "A2", "M1", "M2", "AF3", "AF4", "FC1", "FC2",
        "FC5", "FC6", "CP1", "CP2", "CP5", "CP6", "PO3", "PO4", "F1", "F2",
        "C1", "C2", "P1", "P2", "FT9", "FT10", "TP9", "TP10"
    };
    char up[17];
    size_t i, k = 0;

    /* drop an "EEG " prefix and reference suffixes */
    if (mmdx__strncasecmp(l, "EEG", 3) == 0)
        l += 3;
    while (*l == ' ')
        l++;
    for (i = 0; l[i] && k < sizeof(up) - 1 && l[i] != '-' && l[i] != ' ';
         i++)
        up[k++] = (char)toupper_ascii(l[i]);
    up[k] = '\0';
    for (i = 0; i < MMDX_ARRAY_SIZE(el); i++)
        if (strcmp(up, el[i]) == 0)
            return true;
    return false;
}

static bool label_is_ecg(const char *l)
{
    static const char *const leads[] = {
        "I", "II", "III", "AVR", "AVL", "AVF", "V1", "V2", "V3", "V4", "V5",
        "V6", "MLII", "MLI", "MLIII", "ML2", "ECG", "EKG"
    };
    char up[17];
    size_t i, k = 0;

    if (mmdx__strncasecmp(l, "ECG", 3) == 0 || mmdx__strncasecmp(l, "EKG", 3) == 0)
        return true;
    for (i = 0; l[i] && k < sizeof(up) - 1 && l[i] != ' '; i++)
        up[k++] = (char)toupper_ascii(l[i]);
    up[k] = '\0';
    for (i = 0; i < MMDX_ARRAY_SIZE(leads); i++)
        if (strcmp(up, leads[i]) == 0)
            return true;
    return false;
}

const char *mmdx_detect_modality(struct mmdx_ctx *ctx, const char *path,
                                 enum mmdx_format *fmt)
{
    enum mmdx_format f;
    unsigned char *buf;
    ssize_t n;
    long ns, i;
    int neeg = 0, necg = 0;

    if (mmdx_detect(ctx, path, &f))
        return NULL;
    if (fmt)
        *fmt = f;
    if (f == MMDX_FMT_DICOM) {
        /* Waveform storage SOP classes (1.2.840.10008.5.1.4.1.1.9.*: 12-lead
         * and general ECG, ambulatory, ...) carry an ECG, not an image; the
         * class UID sits in the meta header near the start. */
        static const char wf[] = "1.2.840.10008.5.1.4.1.1.9.";
        unsigned char head[1024];
        ssize_t hn = read_head(path, head, sizeof(head));

        if (hn > 0 && memmem(head, (size_t)hn, wf, sizeof(wf) - 1))
            return "ecg";
        return mmdx_format_modality(f);
    }
    if (f != MMDX_FMT_EDF && f != MMDX_FMT_EDFPLUS && f != MMDX_FMT_BDF &&
        f != MMDX_FMT_BDFPLUS)
        return mmdx_format_modality(f);
    /* Told apart by labels: ECG leads and no 10-20 electrode -> ecg. */
    buf = mmdx__malloc(256 + 256 * 16);
    if (!buf)
        return mmdx_format_modality(f);
    n = read_head(path, buf, 256 + 256 * 16);
    if (n >= 256) {
        char tmp[5];

        memcpy(tmp, buf + 252, 4);
        tmp[4] = '\0';
        if (mmdx__parse_long(tmp, &ns) && ns > 0 && ns <= 256 &&
            n >= 256 + ns * 16) {
            for (i = 0; i < ns; i++) {
                char lab[17];
                size_t k = 16;

                memcpy(lab, buf + 256 + i * 16, 16);
                lab[16] = '\0';
                while (k && lab[k - 1] == ' ')
                    lab[--k] = '\0';
                if (label_is_eeg(lab))
                    neeg++;
                else if (label_is_ecg(lab))
                    necg++;
            }
        }
    }
    mmdx__free(buf);
    if (necg > 0 && neeg == 0)
        return "ecg";
    return "eeg";
}
