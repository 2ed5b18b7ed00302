/*
 * dicom_dcmtk.cc - the only C++ file of mmdx: a shim over DCMTK behind the
 * plain C API of io/dicom.h.
 *
 * Rules kept here: every extern "C" entry catches every exception and
 * turns it into a status + error on the context; DCMTK's own logging is
 * switched off; the decoders (RLE, JPEG, JPEG-LS) and encoders (RLE,
 * JPEG-LS) are registered once per process under std::call_once; pixel
 * data is never opened with CIF_UsePartialAccessToPixelData (DCMTK 3.6.7
 * crashes on a mutated RLE file on that path); declared sizes are checked
 * before a pixel buffer is allocated. Input is always parsed through a
 * DCMTK file stream (buffers through an in-memory file), so that element
 * lengths are checked against the bytes present before DCMTK allocates. No identifying value is ever put in an error: those
 * attributes are handed back as idfields.
 */
#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dctk.h"
#include "dcmtk/dcmdata/dcistrmb.h"
#include "dcmtk/dcmdata/dcistrmf.h"
#include "dcmtk/dcmdata/dcfcache.h"
#include "dcmtk/dcmdata/dcrledrg.h"
#include "dcmtk/dcmdata/dcrleerg.h"
#include "dcmtk/dcmdata/dcrlerp.h"
#include "dcmtk/dcmdata/dcuid.h"
#include "dcmtk/dcmdata/dcostrmb.h"
#include "dcmtk/dcmdata/dcpixseq.h"
#include "dcmtk/dcmdata/dcpxitem.h"
#include "dcmtk/dcmjpeg/djdecode.h"
#include "dcmtk/dcmjpls/djdecode.h"
#include "dcmtk/dcmjpls/djencode.h"
#include "dcmtk/dcmjpls/djrparam.h"
#include "dcmtk/oflog/oflog.h"

#include <cerrno>
#ifdef __SSE2__
#include <emmintrin.h>
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif
#endif
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <climits>
#include <cmath>
#include <fcntl.h>
#include <memory>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <new>
#include <string>
#include <vector>

#include "io/dicom.h"

/* The few core (C) functions the shim uses; common.h itself is not
 * included because config.h and DCMTK's osconfig.h define the same
 * autoconf macros. These declarations match common.h. */
extern "C" {
void *mmdx__malloc(size_t size);
void *mmdx__calloc(size_t n, size_t size);
char *mmdx__strdup(const char *s);
void mmdx__free(void *ptr);
enum mmdx_status mmdx__fail_at(struct mmdx_ctx *ctx, enum mmdx_status st,
                               const char *stage, const char *path,
                               long line, const char *field,
                               const char *src_file, int src_line,
                               const char *fmt, ...);
enum mmdx_status mmdx__file_read(struct mmdx_ctx *ctx, const char *path,
                                 size_t max_bytes, char **out, size_t *len);
enum mmdx_status mmdx__file_write_atomic(struct mmdx_ctx *ctx,
                                         const char *path, const void *data,
                                         size_t len);
bool mmdx__parse_double(const char *s, double *out);
bool mmdx__parse_long(const char *s, long *out);
int mmdx__simd_level(void);
bool mmdx__ctx_has_error(const struct mmdx_ctx *ctx);
void mmdx__buf_unref(struct mmdx_buf **b);
/* dicom.c: waveform signal construction (struct mmdx_signal is C-side) */
struct mmdx_signal *mmdx__dicom_sig_new(size_t nch);
float *mmdx__dicom_sig_channel(struct mmdx_signal *s, size_t i,
                               const char *raw_label, double fs_hz,
                               size_t n);
void mmdx__signal_free(struct mmdx_signal *s);
}

#define STAGE "io.dicom"
#define FAIL(ctx, st, path, field, ...)                                      \
    mmdx__fail_at((ctx), (st), STAGE, (path), 0, (field), __FILE__,         \
                  __LINE__, __VA_ARGS__)

/* enum mmdx_id_kind values (pipeline/stage.h), repeated as ints here. */
enum {
    K_NAME = 1, K_NUMBER, K_DATE, K_ADDRESS, K_TELECOM, K_INSTITUTION,
    K_FREE_TEXT, K_PRIVATE, K_OTHER
};

/* ---- one-time set-up ----------------------------------------------------------- */

static std::once_flag codecs_once;

static void codecs_register(void)
{
    OFLog::configure(OFLogger::OFF_LOG_LEVEL);
    DcmRLEDecoderRegistration::registerCodecs();
    DJDecoderRegistration::registerCodecs(EDC_photometricInterpretation);
    DJLSDecoderRegistration::registerCodecs();
    DcmRLEEncoderRegistration::registerCodecs();
    DJLSEncoderRegistration::registerCodecs();
}

static void setup(void)
{
    std::call_once(codecs_once, codecs_register);
}

/* ---- small helpers --------------------------------------------------------------- */

static void copy_str(char *dst, size_t size, const char *src)
{
    size_t n = src ? strlen(src) : 0;

    if (n >= size)
        n = size - 1;
    if (n)
        memcpy(dst, src, n);
    dst[n] = '\0';
}

/* Trim DICOM padding (spaces, NULs) from both ends. */
static std::string trim(const OFString &s)
{
    size_t b = 0, e = s.length();

    while (b < e && (s[b] == ' ' || s[b] == '\0'))
        b++;
    while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\0'))
        e--;
    return std::string(s.c_str() + b, e - b);
}

static const char *tag_name(const DcmTagKey &key, char *buf, size_t size)
{
    DcmTag tag(key);
    const char *name = tag.getTagName();

    if (!name || !strcmp(name, DcmTag_ERROR_TagName))
        name = "Unknown";
    snprintf(buf, size, "%s (%04X,%04X)", name, key.getGroup(),
             key.getElement());
    return buf;
}

/*
 * The top-level elements of a data set that read_header() asks for, found
 * in one walk over its elements: DCMTK's findAndGet*() searches the
 * element list from its start for each look-up (about 30 look-ups over
 * ~110 elements per file). Tags not in the list are looked up as usual.
 */
static const DcmTagKey top_keys[] = {
    DCM_SOPClassUID, DCM_Modality, DCM_Manufacturer,
    DCM_LossyImageCompression, DCM_BodyPartExamined, DCM_SliceThickness,
    DCM_SpacingBetweenSlices, DCM_ImagerPixelSpacing,
    DCM_SeriesInstanceUID, DCM_InstanceNumber, DCM_ImagePositionPatient,
    DCM_ImageOrientationPatient, DCM_SamplesPerPixel,
    DCM_PhotometricInterpretation, DCM_PlanarConfiguration,
    DCM_NumberOfFrames, DCM_Rows, DCM_Columns, DCM_PixelSpacing,
    DCM_BitsAllocated, DCM_BitsStored, DCM_HighBit, DCM_PixelRepresentation,
    DCM_RescaleIntercept, DCM_RescaleSlope,
    DCM_SharedFunctionalGroupsSequence, DCM_PerFrameFunctionalGroupsSequence,
    DCM_FloatPixelData, DCM_PixelData };

enum { N_TOP_KEYS = sizeof(top_keys) / sizeof(top_keys[0]) };

struct top_index {
    DcmItem *item;
    DcmElement *el[N_TOP_KEYS];

    explicit top_index(DcmItem *it) : item(it)
    {
        DcmObject *obj = NULL;

        for (int k = 0; k < N_TOP_KEYS; k++)
            el[k] = NULL;
        if (!it)
            return;
        while ((obj = it->nextInContainer(obj)) != NULL) {
            const DcmTagKey key = obj->getTag().getXTag();

            for (int k = 0; k < N_TOP_KEYS; k++)
                if (top_keys[k] == key) {
                    if (!el[k])
                        el[k] = static_cast<DcmElement *>(obj);
                    break;
                }
        }
    }

    /* true when key is in the list: *e is its element, NULL when absent */
    bool find(const DcmTagKey &key, DcmElement **e) const
    {
        for (int k = 0; k < N_TOP_KEYS; k++)
            if (top_keys[k] == key) {
                *e = el[k];
                return true;
            }
        return false;
    }
};

/* Where an attribute is looked up: an item, or an indexed data set. */
struct at {
    DcmItem *it;
    const top_index *ix;

    at(DcmItem *i) : it(i), ix(NULL) {}
    at(const top_index &x) : it(x.item), ix(&x) {}

    /* true when the index answers: *e is the element or NULL */
    bool indexed(const DcmTagKey &key, DcmElement **e) const
    {
        return ix && ix->find(key, e);
    }
};

/* A string attribute, trimmed; found = false when absent. */
static std::string get_str(const at &a, const DcmTagKey &key, bool *found)
{
    OFString v;
    DcmElement *el = NULL;

    if (found)
        *found = false;
    if (!a.it)
        return std::string();
    if (a.indexed(key, &el)) {
        if (!el || el->getOFStringArray(v).bad())
            return std::string();
    } else if (a.it->findAndGetOFStringArray(key, v).bad()) {
        return std::string();
    }
    if (found)
        *found = true;
    return trim(v);
}

/*
 * A numeric (DS/IS) value number idx, parsed strictly. Returns 0 absent,
 * 1 ok, -1 present but not a number (the caller decides whether that is
 * fatal).
 */
static int get_num(const at &a, const DcmTagKey &key, unsigned long idx,
                   double *out)
{
    OFString v;
    DcmElement *el = NULL;

    if (!a.it)
        return 0;
    if (a.indexed(key, &el)) {
        if (!el || el->getOFString(v, idx).bad())
            return 0;
    } else if (a.it->findAndGetOFString(key, v, idx).bad()) {
        return 0;
    }
    std::string t = trim(v);
    if (t.empty())
        return 0;
    return mmdx__parse_double(t.c_str(), out) ? 1 : -1;
}

static int get_u16(const at &a, const DcmTagKey &key, unsigned *out)
{
    Uint16 v;
    DcmElement *el = NULL;

    if (!a.it)
        return 0;
    if (a.indexed(key, &el)) {
        if (!el || el->getUint16(v).bad())
            return 0;
    } else if (a.it->findAndGetUint16(key, v).bad()) {
        return 0;
    }
    *out = v;
    return 1;
}

/* Item idx of sequence key in it, or NULL. */
static DcmItem *seq_item(const at &a, const DcmTagKey &key, long idx)
{
    DcmItem *sub = NULL;
    DcmElement *el = NULL;

    if (!a.it || (a.indexed(key, &el) && !el) ||
        a.it->findAndGetSequenceItem(key, sub, idx).bad())
        return NULL;
    return sub;
}

/* ---- identifying attributes (PS3.15 Annex E basic profile, abridged) ------------ */

struct id_tag {
    Uint16 g, e;
    int kind;
};

static const id_tag id_tags[] = {
    { 0x0010, 0x0010, K_NAME },        /* PatientName */
    { 0x0010, 0x0020, K_NUMBER },      /* PatientID */
    { 0x0010, 0x0021, K_NUMBER },      /* IssuerOfPatientID */
    { 0x0010, 0x1000, K_NUMBER },      /* OtherPatientIDs */
    { 0x0010, 0x1001, K_NAME },        /* OtherPatientNames */
    { 0x0010, 0x1005, K_NAME },        /* PatientBirthName */
    { 0x0010, 0x1060, K_NAME },        /* PatientMotherBirthName */
    { 0x0010, 0x0030, K_DATE },        /* PatientBirthDate */
    { 0x0010, 0x0032, K_DATE },        /* PatientBirthTime */
    { 0x0010, 0x1040, K_ADDRESS },     /* PatientAddress */
    { 0x0010, 0x2154, K_TELECOM },     /* PatientTelephoneNumbers */
    { 0x0010, 0x2155, K_TELECOM },     /* PatientTelecomInformation */
    { 0x0010, 0x1090, K_NUMBER },      /* MedicalRecordLocator */
    { 0x0010, 0x4000, K_FREE_TEXT },   /* PatientComments */
    { 0x0010, 0x21B0, K_FREE_TEXT },   /* AdditionalPatientHistory */
    { 0x0038, 0x0010, K_NUMBER },      /* AdmissionID */
    { 0x0008, 0x0050, K_NUMBER },      /* AccessionNumber */
    { 0x0020, 0x0010, K_NUMBER },      /* StudyID */
    { 0x0040, 0x1001, K_NUMBER },      /* RequestedProcedureID */
    { 0x0018, 0x1000, K_NUMBER },      /* DeviceSerialNumber */
    { 0x0008, 0x0080, K_INSTITUTION }, /* InstitutionName */
    { 0x0008, 0x0081, K_ADDRESS },     /* InstitutionAddress */
    { 0x0008, 0x1040, K_INSTITUTION }, /* InstitutionalDepartmentName */
    { 0x0008, 0x1010, K_INSTITUTION }, /* StationName */
    { 0x0008, 0x0090, K_NAME },        /* ReferringPhysicianName */
    { 0x0008, 0x0092, K_ADDRESS },     /* ReferringPhysicianAddress */
    { 0x0008, 0x0094, K_TELECOM },     /* ReferringPhysicianTelephoneNumbers */
    { 0x0008, 0x1048, K_NAME },        /* PhysiciansOfRecord */
    { 0x0008, 0x1050, K_NAME },        /* PerformingPhysicianName */
    { 0x0008, 0x1060, K_NAME },        /* NameOfPhysiciansReadingStudy */
    { 0x0008, 0x1070, K_NAME },        /* OperatorsName */
    { 0x0032, 0x1032, K_NAME },        /* RequestingPhysician */
    { 0x0040, 0x0006, K_NAME },        /* ScheduledPerformingPhysicianName */
    { 0x0040, 0xA123, K_NAME },        /* PersonName (SR, waveform) */
    { 0x0008, 0x0012, K_DATE },        /* InstanceCreationDate */
    { 0x0008, 0x0020, K_DATE },        /* StudyDate */
    { 0x0008, 0x0021, K_DATE },        /* SeriesDate */
    { 0x0008, 0x0022, K_DATE },        /* AcquisitionDate */
    { 0x0008, 0x0023, K_DATE },        /* ContentDate */
    { 0x0008, 0x002A, K_DATE },        /* AcquisitionDateTime */
    { 0x0008, 0x0030, K_DATE },        /* StudyTime */
    { 0x0008, 0x0031, K_DATE },        /* SeriesTime */
    { 0x0008, 0x0032, K_DATE },        /* AcquisitionTime */
    { 0x0008, 0x0033, K_DATE },        /* ContentTime */
    { 0x0032, 0x4000, K_FREE_TEXT },   /* StudyComments */
    { 0x0020, 0x4000, K_FREE_TEXT },   /* ImageComments */
    /* more of PS3.15 Table E.1-1 (added by the deid area) */
    { 0x0008, 0x0013, K_DATE },        /* InstanceCreationTime */
    { 0x0008, 0x009C, K_NAME },        /* ConsultingPhysicianName */
    { 0x0008, 0x4000, K_FREE_TEXT },   /* IdentifyingComments */
    { 0x0010, 0x2180, K_FREE_TEXT },   /* Occupation */
    { 0x0010, 0x2297, K_NAME },        /* ResponsiblePerson */
    { 0x0018, 0x1012, K_DATE },        /* DateOfSecondaryCapture */
    { 0x0018, 0x1014, K_DATE },        /* TimeOfSecondaryCapture */
    { 0x0038, 0x0300, K_ADDRESS },     /* CurrentPatientLocation */
    { 0x0040, 0x0241, K_INSTITUTION }, /* PerformedStationAETitle */
    { 0x0040, 0x0242, K_INSTITUTION }, /* PerformedStationName */
    { 0x0040, 0x0243, K_INSTITUTION }, /* PerformedLocation */
    { 0x0040, 0x0244, K_DATE },        /* PerformedProcedureStepStartDate */
    { 0x0040, 0x0245, K_DATE },        /* PerformedProcedureStepStartTime */
    { 0x0040, 0x0250, K_DATE },        /* PerformedProcedureStepEndDate */
    { 0x0040, 0x0251, K_DATE },        /* PerformedProcedureStepEndTime */
    { 0x0040, 0x0253, K_NUMBER },      /* PerformedProcedureStepID */
    { 0x0040, 0x0280, K_FREE_TEXT },   /* CommentsOnThePerformedProcedureStep */
    { 0x0040, 0x2008, K_NAME },        /* OrderEnteredBy */
    { 0x0040, 0x2016, K_NUMBER },      /* PlacerOrderNumberImagingServiceRequest */
    { 0x0040, 0x2017, K_NUMBER },      /* FillerOrderNumberImagingServiceRequest */
    { 0x0040, 0x2400, K_FREE_TEXT },   /* ImagingServiceRequestComments */
    { 0x0070, 0x0084, K_NAME },        /* ContentCreatorName */
    { 0x0028, 0x0301, K_OTHER },       /* BurnedInAnnotation (when YES) */
    { 0x0012, 0x0062, K_OTHER },       /* PatientIdentityRemoved */
    { 0x0012, 0x0063, K_OTHER },       /* DeidentificationMethod */
    { 0x0010, 0x1010, K_OTHER },       /* PatientAge (only when >= 90Y) */
};

#define N_ID_TAGS (sizeof(id_tags) / sizeof(id_tags[0]))

/* The entry of id_tags for (g, e), or N_ID_TAGS: a binary search over the
 * tags sorted once (every element of every file is looked up). */
static size_t id_tag_index(Uint16 g, Uint16 e)
{
    struct sorted_tags {
        uint32_t key[N_ID_TAGS];
        size_t at[N_ID_TAGS];
        sorted_tags()
        {
            for (size_t i = 0; i < N_ID_TAGS; i++) {
                size_t j = i;
                uint32_t k = static_cast<uint32_t>(id_tags[i].g) << 16 |
                             id_tags[i].e;

                for (; j > 0 && key[j - 1] > k; j--) {
                    key[j] = key[j - 1];
                    at[j] = at[j - 1];
                }
                key[j] = k;
                at[j] = i;
            }
        }
    };
    static const sorted_tags s;  /* built once, thread-safe (C++11) */
    uint32_t k = static_cast<uint32_t>(g) << 16 | e;
    size_t lo = 0, hi = N_ID_TAGS;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (s.key[mid] < k)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < N_ID_TAGS && s.key[lo] == k ? s.at[lo] : N_ID_TAGS;
}

struct id_list {
    std::vector<mmdx_dicom_idfield> v;
    std::vector<unsigned> seen_private;  /* groups already reported */
    bool seen[N_ID_TAGS];

    id_list() { memset(seen, 0, sizeof(seen)); }
    ~id_list()
    {
        for (size_t i = 0; i < v.size(); i++)
            if (v[i].value) {
                memset(v[i].value, 0, strlen(v[i].value));
                mmdx__free(v[i].value);
            }
    }
    bool add(const char *field, int kind, const std::string &value)
    {
        mmdx_dicom_idfield f;

        memset(&f, 0, sizeof(f));
        copy_str(f.field, sizeof(f.field), field);
        f.kind = kind;
        f.value = mmdx__strdup(value.c_str());
        if (!f.value)
            return false;
        try {
            v.push_back(f);
        } catch (...) {
            mmdx__free(f.value);
            throw;
        }
        return true;
    }
    /* Hand the list to C: *out is mmdx__malloc'd. */
    bool take(mmdx_dicom_idfield **out, size_t *n)
    {
        *out = NULL;
        *n = 0;
        if (v.empty())
            return true;
        *out = static_cast<mmdx_dicom_idfield *>(
            mmdx__calloc(v.size(), sizeof(mmdx_dicom_idfield)));
        if (!*out)
            return false;
        memcpy(*out, v.data(), v.size() * sizeof(mmdx_dicom_idfield));
        *n = v.size();
        v.clear();
        return true;
    }
};

static bool age_at_least_90(const std::string &s)
{
    /* "nnnY" (also D/W/M, which are never >= 90 years) */
    if (s.size() == 4 && s[3] == 'Y') {
        long y;
        std::string d = s.substr(0, 3);

        return mmdx__parse_long(d.c_str(), &y) && y >= 90;
    }
    return false;
}

/* Walk every element (sequences included) and collect identifying ones.
 * Returns false on out-of-memory. */
static bool collect_ids(DcmItem *item, id_list &ids, int depth)
{
    DcmObject *obj = NULL;

    if (depth > 16)
        return true;
    /* element after element (getElement(i) walks the list from its start
     * each time) */
    while ((obj = item->nextInContainer(obj)) != NULL) {
        DcmElement *el = static_cast<DcmElement *>(obj);
        DcmTagKey key = el->getTag().getXTag();
        Uint16 g = key.getGroup(), e = key.getElement();

        if (el->ident() == EVR_SQ) {
            DcmSequenceOfItems *sq = static_cast<DcmSequenceOfItems *>(el);

            for (unsigned long k = 0; k < sq->card(); k++)
                if (!collect_ids(sq->getItem(k), ids, depth + 1))
                    return false;
        }
        if ((g & 1) && g > 0x0008) {
            /* Private: one idfield per group, for its first data element
             * that holds something; the field names that element. */
            bool dup = false;

            for (size_t k = 0; k < ids.seen_private.size(); k++)
                dup = dup || ids.seen_private[k] == g;
            if (!dup && e >= 0x1000) {
                char field[64];
                OFString v;
                std::string t;
                DcmEVR vr = el->ident();

                if (vr == EVR_SQ || vr == EVR_OB || vr == EVR_OW ||
                    vr == EVR_UN || vr == EVR_OF || vr == EVR_OD ||
                    vr == EVR_OL || vr == EVR_UT || vr == EVR_UNKNOWN)
                    t = el->getLength() ? "(private binary data)" : "";
                else if (el->getOFStringArray(v).good())
                    t = trim(v);
                if (t.empty())
                    continue;
                if (t.size() > 256)
                    t.resize(256);
                snprintf(field, sizeof(field), "Private (%04X,%04X)", g, e);
                ids.seen_private.push_back(g);
                if (!ids.add(field, K_PRIVATE, t))
                    return false;
            }
            continue;
        }
        /* the tag is looked up first: the strings below are constructed
         * only for an identifying element, not once per table entry */
        size_t t = id_tag_index(g, e);

        if (t == N_ID_TAGS || ids.seen[t])
            continue;
        {
            OFString v;
            std::string s;
            char field[64];

            if (el->ident() == EVR_SQ || el->getOFStringArray(v).bad())
                continue;
            s = trim(v);
            if (s.empty())
                continue;
            if (g == 0x0028 && e == 0x0301 && s != "YES")
                continue;
            if (g == 0x0010 && e == 0x1010 && !age_at_least_90(s))
                continue;
            ids.seen[t] = true;
            if (!ids.add(tag_name(key, field, sizeof(field)), id_tags[t].kind,
                         s))
                return false;
        }
    }
    return true;
}

/* ---- parsing ------------------------------------------------------------------------ */

/* What must outlive the DcmFileFormat read from it (large values load
 * from it on first use): the descriptor of an anonymous memory file, or
 * the file's bytes read into memory. Declare it before the
 * DcmFileFormat, so that it is released after. */
struct fd_guard {
    int fd = -1;
    unsigned char *data = nullptr;
    size_t len = 0;
    fd_guard() = default;
    fd_guard(const fd_guard &) = delete;
    fd_guard &operator=(const fd_guard &) = delete;
    ~fd_guard()
    {
        if (fd >= 0)
            close(fd);
        mmdx__free(data);
    }
};

/*
 * A whole file held in memory, as DCMTK's input stream: the same answers
 * as DCMTK's file producer (avail: the bytes left; eos: none left; skip
 * and read stop at the end; putback no further than the start), so
 * DCMTK checks every declared length against the bytes left exactly as
 * when it reads the file, and postpones large values (pixel data) the
 * same way - their factory reads them back from memory. Parsing then
 * costs no stdio call per element (DCMTK's file producer asks ftell for
 * every avail() and eos()) and the file is opened once, not three times.
 */
class mem_producer : public DcmProducer {
  public:
    mem_producer(const unsigned char *p, offile_off_t n, offile_off_t at)
        : p_(p), n_(n), pos_(at < n ? at : n)
    {
    }
    OFBool good() const override { return status_.good(); }
    OFCondition status() const override { return status_; }
    OFBool eos() override { return pos_ >= n_; }
    offile_off_t avail() override { return n_ - pos_; }
    offile_off_t read(void *buf, offile_off_t len) override
    {
        offile_off_t k = len < n_ - pos_ ? len : n_ - pos_;

        if (!status_.good() || !buf || k <= 0)
            return 0;
        memcpy(buf, p_ + pos_, static_cast<size_t>(k));
        pos_ += k;
        return k;
    }
    offile_off_t skip(offile_off_t len) override
    {
        offile_off_t k = len < n_ - pos_ ? len : n_ - pos_;

        if (!status_.good() || k <= 0)
            return 0;
        pos_ += k;
        return k;
    }
    void putback(offile_off_t num) override
    {
        if (!status_.good() || !num)
            return;
        if (num <= pos_)
            pos_ -= num;
        else
            status_ = EC_PutbackFailed;
    }

  private:
    const unsigned char *p_;
    offile_off_t n_, pos_;
    OFCondition status_ = EC_Normal;
};

class mem_stream;

class mem_factory : public DcmInputStreamFactory {
  public:
    mem_factory(const unsigned char *p, offile_off_t n, offile_off_t at)
        : p_(p), n_(n), at_(at)
    {
    }
    DcmInputStream *create() const override;
    DcmInputStreamFactory *clone() const override
    {
        return new mem_factory(p_, n_, at_);
    }
    DcmInputStreamFactoryType ident() const override
    {
        /* not a file; DCMTK 3.6.7 does not look at it */
        return DFT_DcmInputTempFileStreamFactory;
    }

  private:
    const unsigned char *p_;
    offile_off_t n_, at_;
};

class mem_stream : public DcmInputStream {
  public:
    mem_stream(const unsigned char *p, offile_off_t n, offile_off_t at = 0)
        : DcmInputStream(&prod_), /* only the pointer is kept */
          prod_(p, n, at), p_(p), n_(n), at_(at)
    {
    }
    DcmInputStreamFactory *newFactory() const override
    {
        /* none while a compression filter reads (as DCMTK's file
         * stream): values are then loaded at once */
        if (currentProducer() != &prod_)
            return nullptr;
        return new mem_factory(p_, n_, at_ + tell());
    }
    /* the next byte and how many are left */
    const unsigned char *here() const { return p_ + at_ + tell(); }
    offile_off_t left() const { return n_ - (at_ + tell()); }

  private:
    mem_producer prod_;
    const unsigned char *p_;
    offile_off_t n_, at_;
};

DcmInputStream *mem_factory::create() const
{
    return new mem_stream(p_, n_, at_);
}

/* Files up to this size are parsed from memory (mem_stream); larger
 * ones through DCMTK's file stream, so that a large multi-frame file is
 * not held twice. */
#define MEM_PARSE_MAX (64u << 20)

/* Read fspath whole into keep.data when it is a regular file of at most
 * MEM_PARSE_MAX bytes: 1 then; 0 (nothing kept) otherwise or on a read
 * error - the caller then takes the file stream, which reports errors;
 * -1 when out of memory. */
static int read_whole(const char *fspath, fd_guard &keep)
{
    struct stat sb;
    int fd = open(fspath, O_RDONLY | O_CLOEXEC);
    size_t got = 0;
    unsigned char *buf;

    if (fd < 0)
        return 0;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size <= 0 ||
        static_cast<uint64_t>(sb.st_size) > MEM_PARSE_MAX) {
        close(fd);
        return 0;
    }
    buf = static_cast<unsigned char *>(
        mmdx__malloc(static_cast<size_t>(sb.st_size)));
    if (!buf) {
        close(fd);
        return -1;
    }
    while (got < static_cast<size_t>(sb.st_size)) {
        ssize_t k = ::read(fd, buf + got,
                           static_cast<size_t>(sb.st_size) - got);

        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        got += static_cast<size_t>(k);
    }
    close(fd);
    if (got != static_cast<size_t>(sb.st_size)) {
        mmdx__free(buf);
        return 0;
    }
    keep.data = buf;
    keep.len = got;
    return 1;
}

/* Inflated bytes a stop-tag parse (mmdx__dicom_kind) needs at most. */
#define INFLATE_STOP_BYTES (1u << 20)

/*
 * Inflate the deflated dataset of fspath (raw deflate, PS3.5 A.5) from
 * byte off to the end into an anonymous memory file of at most maxb bytes,
 * whose path goes to mpath[64] and descriptor to keep. DCMTK then reads it
 * like any file: through its own inflating filter it cannot postpone
 * values, and loads each one at its declared length before finding out
 * that the data ends (a 4 KB file declaring a 3.7 GB element had it
 * reserve 3.7 GB). A stream that ends early is passed on as far as it
 * goes (DCMTK decides whether the dataset is whole); corrupt data is
 * E_FORMAT, more than maxb bytes E_LIMIT (with cut, the first maxb bytes
 * are kept instead: enough for a parse that stops early).
 */
static enum mmdx_status inflate_dataset(struct mmdx_ctx *ctx,
                                        const char *path, const char *fspath,
                                        uint64_t off, uint64_t maxb, bool cut,
                                        fd_guard &keep, char *mpath)
{
    std::vector<unsigned char> in(1u << 16), out(1u << 16);
    uint64_t total = 0;
    z_stream zs;
    FILE *fp;
    int zr = Z_OK;
    enum mmdx_status st = MMDX_OK;

    keep.fd = memfd_create("mmdx-inflated", MFD_CLOEXEC);
    if (keep.fd < 0)
        return FAIL(ctx, MMDX_E_IO, path, NULL, "memfd_create: %s",
                    strerror(errno));
    snprintf(mpath, 64, "/proc/self/fd/%d", keep.fd);
    fp = fopen(fspath, "rb");
    if (!fp)
        return FAIL(ctx, MMDX_E_IO, path, NULL, "cannot open: %s",
                    strerror(errno));
    if (fseeko(fp, static_cast<off_t>(off), SEEK_SET) != 0) {
        fclose(fp);
        return FAIL(ctx, MMDX_E_IO, path, NULL, "cannot seek: %s",
                    strerror(errno));
    }
    memset(&zs, 0, sizeof(zs));
    if (inflateInit2(&zs, -15) != Z_OK) {
        fclose(fp);
        return FAIL(ctx, MMDX_E_NOMEM, path, NULL, "out of memory (zlib)");
    }
    while (!st && zr != Z_STREAM_END) {
        size_t n = fread(in.data(), 1, in.size(), fp);

        if (n == 0) {
            if (ferror(fp))
                st = FAIL(ctx, MMDX_E_IO, path, NULL, "read error");
            break;  /* ends early: DCMTK judges what came */
        }
        zs.next_in = in.data();
        zs.avail_in = static_cast<uInt>(n);
        do {
            size_t have, done = 0;

            zs.next_out = out.data();
            zs.avail_out = static_cast<uInt>(out.size());
            zr = inflate(&zs, Z_NO_FLUSH);
            if (zr == Z_NEED_DICT || zr == Z_DATA_ERROR ||
                zr == Z_MEM_ERROR || zr == Z_STREAM_ERROR) {
                st = zr == Z_MEM_ERROR
                         ? FAIL(ctx, MMDX_E_NOMEM, path, NULL,
                                "out of memory (zlib)")
                         : FAIL(ctx, MMDX_E_FORMAT, path,
                                "TransferSyntaxUID (0002,0010)",
                                "deflated dataset: corrupt deflate data "
                                "(%s)", zs.msg ? zs.msg : "zlib error");
                break;
            }
            have = out.size() - zs.avail_out;
            if (total + have > maxb && cut) {
                have = static_cast<size_t>(maxb - total);
                zr = Z_STREAM_END;  /* the rest is not needed */
            } else if (total + have > maxb) {
                st = FAIL(ctx, MMDX_E_LIMIT, path,
                          "TransferSyntaxUID (0002,0010)",
                          "deflated dataset inflates to more than the "
                          "limit of %llu bytes",
                          static_cast<unsigned long long>(maxb));
                break;
            }
            total += have;
            while (done < have) {
                ssize_t w = write(keep.fd, out.data() + done, have - done);

                if (w < 0 && errno == EINTR)
                    continue;
                if (w <= 0) {
                    st = FAIL(ctx, MMDX_E_IO, path, NULL,
                              "cannot buffer the inflated dataset: %s",
                              strerror(errno));
                    break;
                }
                done += static_cast<size_t>(w);
            }
        } while (!st && zr != Z_STREAM_END && zs.avail_out == 0);
    }
    inflateEnd(&zs);
    fclose(fp);
    return st;
}

/* What a failed parse left in the element el: its value declared longer
 * than the bytes left after it (what DCMTK's stream for the postponed
 * value has left; for a value DCMTK tried to load, the size of the input)
 * goes into msg as a sentence; false otherwise. */
static bool overrun(DcmElement *el, uint64_t size, bool inflated, char *msg,
                    size_t msize)
{
    Uint32 len = el->getLengthField();
    const DcmInputStreamFactory *fac = el->getInputStream();
    const char *what = inflated ? "inflated dataset" : "file";

    if (len == DCM_UndefinedLength)
        return false;
    if (fac) {
        DcmInputStream *s = fac->create();
        long long left = -1;

        if (s) {
            if (s->good())
                left = static_cast<long long>(s->avail());
            delete s;
        }
        if (left < 0 || len <= static_cast<unsigned long long>(left))
            return false;
        snprintf(msg, msize, "declared length %lu bytes exceeds the %lld "
                 "bytes left in the %s", static_cast<unsigned long>(len),
                 left, what);
        return true;
    }
    if (el->valueLoaded() || len <= size)
        return false;
    snprintf(msg, msize, "declared length %lu bytes exceeds the %llu bytes "
             "of the %s", static_cast<unsigned long>(len),
             static_cast<unsigned long long>(size), what);
    return true;
}

/*
 * After a failed parse: the element whose declared length runs past the
 * end of the input, named in field[128], what is wrong in msg (false when
 * there is none).
 * DCMTK inserts an element before reading its value and skips over values
 * longer than DCM_MaxReadLength (4 KB) to load them on first use, so the
 * culprit is in the tree, unloaded, with a stream that has fewer bytes
 * left than it declares; nothing of that size was allocated. Every element
 * is looked at: the lists are sorted by tag, not by position.
 */
static bool find_overrun(DcmItem *it, int depth, uint64_t size,
                         bool inflated, E_TransferSyntax xfer, char *field,
                         char *msg, size_t msize)
{
    unsigned long i, n;

    if (!it || depth > 64)
        return false;
    n = it->card();
    for (i = 0; i < n; i++) {
        DcmElement *el = it->getElement(i);

        if (!el)
            continue;
        tag_name(el->getTag(), field, 96);
        if (el->ident() == EVR_SQ) {
            DcmSequenceOfItems *sq = static_cast<DcmSequenceOfItems *>(el);
            const char *what = inflated ? "inflated dataset" : "file";
            unsigned long k;
            char sqf[96];

            snprintf(sqf, sizeof(sqf), "%s", field);
            for (k = 0; k < sq->card(); k++) {
                DcmItem *item = sq->getItem(k);

                if (find_overrun(item, depth + 1, size, inflated, xfer,
                                 field, msg, msize))
                    return true;
                /* an item (a container: nothing allocated) declaring
                 * more than the whole input */
                if (item && item->getLengthField() != DCM_UndefinedLength &&
                    item->getLengthField() > size) {
                    snprintf(field, 128, "%s item %lu", sqf, k + 1);
                    snprintf(msg, msize, "declared length %lu bytes exceeds "
                             "the %llu bytes of the %s",
                             static_cast<unsigned long>(
                                 item->getLengthField()),
                             static_cast<unsigned long long>(size), what);
                    return true;
                }
            }
            if (sq->getLengthField() != DCM_UndefinedLength &&
                sq->getLengthField() > size) {
                snprintf(field, 128, "%s", sqf);
                snprintf(msg, msize, "declared length %lu bytes exceeds the "
                         "%llu bytes of the %s",
                         static_cast<unsigned long>(sq->getLengthField()),
                         static_cast<unsigned long long>(size), what);
                return true;
            }
            continue;
        }
        if (el->ident() == EVR_PixelData &&
            el->getLengthField() == DCM_UndefinedLength) {
            /* encapsulated: the fragments */
            DcmPixelSequence *seq = NULL;
            unsigned long k;

            if (static_cast<DcmPixelData *>(el)
                    ->getEncapsulatedRepresentation(xfer, NULL, seq)
                    .bad() ||
                !seq)
                continue;
            for (k = 0; k < seq->card(); k++) {
                DcmPixelItem *pi = NULL;
                size_t fl = strlen(field);

                if (seq->getItem(pi, k).bad() || !pi)
                    continue;
                snprintf(field + fl, 128 - fl, " item %lu", k + 1);
                if (overrun(pi, size, inflated, msg, msize))
                    return true;
                field[fl] = '\0';
            }
            continue;
        }
        if (overrun(el, size, inflated, msg, msize))
            return true;
    }
    return false;
}

/*
 * Parse the file fspath into ff: a Part 10 file (preamble, "DICM", File
 * Meta), or a bare dataset. Always through a file stream: DCMTK then
 * checks every declared length against the bytes left in the file before
 * allocating (values longer than DCM_MaxReadLength, 4 KB, are skipped
 * over and only loaded when used; a memory stream would load whatever a
 * hostile length says), and an element declaring more than is left is an
 * error naming it. A deflated dataset is inflated first into an anonymous
 * memory file held by keep (declare keep before ff), for the same checks.
 * path names the input in messages. With a stop tag, parsing of the main
 * dataset ends at the first element at or beyond it. An inflated dataset
 * may hold max_inflated bytes (0: MMDX_DICOM_MAX_FILE_BYTES, like a file).
 */
static enum mmdx_status parse_file(struct mmdx_ctx *ctx, const char *path,
                                   const char *fspath, DcmFileFormat &ff,
                                   fd_guard &keep,
                                   const DcmTagKey &stop = DCM_UndefinedTagKey,
                                   uint64_t max_inflated = 0)
{
    OFCondition c;
    unsigned char b[132];
    size_t len = 0;
    struct stat sb;
    uint64_t size = 0;
    bool part10, inflated = false;
    enum mmdx_status st;
    std::unique_ptr<DcmInputStream> isp;
    /* from memory when the values will be read; a stop-tag parse reads
     * only the start of the file, and the yes/no probes (no ctx) must
     * not turn a failed allocation into "no": the file stream for both */
    int whole = stop == DCM_UndefinedTagKey && ctx ? read_whole(fspath, keep)
                                                   : 0;

    if (whole < 0)
        return FAIL(ctx, MMDX_E_NOMEM, NULL, NULL, "out of memory");
    if (whole) {
        size = keep.len;
        len = keep.len < sizeof(b) ? keep.len : sizeof(b);
        memcpy(b, keep.data, len);
        isp.reset(new (std::nothrow) mem_stream(
            keep.data, static_cast<offile_off_t>(keep.len)));
        if (!isp)
            return FAIL(ctx, MMDX_E_NOMEM, NULL, NULL, "out of memory");
    } else {
        FILE *fp = fopen(fspath, "rb");

        if (!fp)
            return FAIL(ctx, MMDX_E_IO, path, NULL, "cannot open: %s",
                        strerror(errno));
        if (fstat(fileno(fp), &sb) == 0)
            size = static_cast<uint64_t>(sb.st_size);
        len = fread(b, 1, sizeof(b), fp);
        fclose(fp);
        if (len >= 8)
            isp.reset(new (std::nothrow) DcmInputFileStream(fspath));
        if (len >= 8 && !isp)
            return FAIL(ctx, MMDX_E_NOMEM, NULL, NULL, "out of memory");
    }
    if (len < 8)
        return FAIL(ctx, MMDX_E_FORMAT, path, NULL,
                    "not a DICOM file (%zu bytes)", len);
    part10 = len >= 132 && memcmp(b + 128, "DICM", 4) == 0;
    DcmInputStream &is = *isp;
    if (is.status().bad())
        return FAIL(ctx, MMDX_E_IO, path, NULL, "cannot open: %s",
                    is.status().text());
    if (part10) {
        ff.transferInit();
        /* the File Meta first (as ff.read would), to see whether the
         * dataset is deflated; ff.read then goes on with the dataset */
        c = ff.getMetaInfo() ? ff.getMetaInfo()->read(is, EXS_Unknown,
                                                      EGL_noChange,
                                                      DCM_MaxReadLength)
                             : EC_IllegalCall;
        if (c.good()) {
            OFString uid;

            if (ff.getMetaInfo()
                    ->findAndGetOFString(DCM_TransferSyntaxUID, uid)
                    .good() &&
                DcmXfer(uid.c_str()).getStreamCompression() == ESC_zlib)
                inflated = true;
        }
        if (c.good() && inflated) {
            char mpath[64];
            DcmDataset *ds = ff.getDataset();

            st = inflate_dataset(ctx, path, fspath,
                                 static_cast<uint64_t>(is.tell()),
                                 stop != DCM_UndefinedTagKey
                                     ? INFLATE_STOP_BYTES
                                 : max_inflated ? max_inflated
                                                : MMDX_DICOM_MAX_FILE_BYTES,
                                 stop != DCM_UndefinedTagKey, keep, mpath);
            if (st) {
                ff.transferEnd();
                return st;
            }
            if (fstat(keep.fd, &sb) == 0)
                size = static_cast<uint64_t>(sb.st_size);
            DcmInputFileStream ms(mpath);
            if (ms.status().bad()) {
                ff.transferEnd();
                return FAIL(ctx, MMDX_E_IO, path, NULL,
                            "cannot reopen the inflated dataset: %s",
                            ms.status().text());
            }
            c = ds->readUntilTag(ms, EXS_LittleEndianExplicit, EGL_noChange,
                                 DCM_MaxReadLength, stop);
        } else if (c.good()) {
            c = ff.readUntilTag(is, EXS_Unknown, EGL_noChange,
                                DCM_MaxReadLength, stop);
        }
        ff.transferEnd();
    } else {
        DcmDataset *ds = ff.getDataset();
        /* no meta header: explicit VR when bytes 4-5 look like a VR */
        bool expl = b[4] >= 'A' && b[4] <= 'Z' && b[5] >= 'A' && b[5] <= 'Z';

        ds->transferInit();
        c = ds->readUntilTag(is, expl ? EXS_LittleEndianExplicit
                                      : EXS_LittleEndianImplicit,
                             EGL_noChange, DCM_MaxReadLength, stop);
        ds->transferEnd();
    }
    if (c.bad()) {
        /* an element declaring more than is left, by name */
        char field[128], msg[160];
        E_TransferSyntax x = ff.getDataset()->getOriginalXfer();

        if (find_overrun(ff.getDataset(), 0, size, inflated, x, field, msg,
                         sizeof(msg)) ||
            (ff.getMetaInfo() &&
             find_overrun(ff.getMetaInfo(), 0, size, false,
                          EXS_LittleEndianExplicit, field, msg,
                          sizeof(msg)))) {
            if (!part10)
                return FAIL(ctx, MMDX_E_FORMAT, path, field,
                            "no DICOM preamble and File Meta (\"DICM\" at "
                            "byte 128), and not a readable bare dataset "
                            "either (%s)", msg);
            return FAIL(ctx, MMDX_E_FORMAT, path, field, "%s", msg);
        }
    }
    if (!part10 && c.bad())
        return FAIL(ctx, MMDX_E_FORMAT, path, NULL,
                    "no DICOM preamble and File Meta (\"DICM\" at byte 128), "
                    "and not a readable bare dataset either (%s)", c.text());
    if (c == EC_StreamNotifyClient || c == EC_InvalidStream)
        return FAIL(ctx, MMDX_E_FORMAT, path, NULL,
                    "truncated or corrupt: the data ends inside an element "
                    "or an element length is wrong (%s)", c.text());
    if (c.bad())
        return FAIL(ctx, MMDX_E_FORMAT, path, NULL, "cannot parse: %s",
                    c.text());
    if (part10 && ff.getMetaInfo() &&
        !ff.getMetaInfo()->tagExists(DCM_TransferSyntaxUID))
        return FAIL(ctx, MMDX_E_FORMAT, path, "TransferSyntaxUID (0002,0010)",
                    "the File Meta Information lacks the transfer syntax");
    return MMDX_OK;
}

/* Label Map Segmentation Storage (DICOM 2024, Supplement 243); DCMTK
 * 3.6.7 predates it. */
#define MMDX_UID_LABELMAP_SEG "1.2.840.10008.5.1.4.1.1.66.7"

/* A SEG or an RTSTRUCT by SOPClassUID, else by Modality. */
static enum mmdx_dicom_kind kind_of(const char *sop, const char *mod)
{
    if (!strcmp(sop, UID_SegmentationStorage) ||
        !strcmp(sop, MMDX_UID_LABELMAP_SEG))
        return MMDX_DICOM_KIND_SEG;
    if (!strcmp(sop, UID_RTStructureSetStorage))
        return MMDX_DICOM_KIND_RTSTRUCT;
    if (!strcmp(mod, "SEG"))
        return MMDX_DICOM_KIND_SEG;
    if (!strcmp(mod, "RTSTRUCT"))
        return MMDX_DICOM_KIND_RTSTRUCT;
    return MMDX_DICOM_KIND_OTHER;
}

static enum mmdx_dicom_kind dataset_kind(DcmDataset *ds)
{
    return kind_of(get_str(ds, DCM_SOPClassUID, NULL).c_str(),
                   get_str(ds, DCM_Modality, NULL).c_str());
}

struct frame_geom {
    double pos[3];
    bool has_pos;
    double slope, intercept;
};

/* Everything read from the header that decoding needs. */
struct header {
    E_TransferSyntax xfer;
    unsigned rows, cols, spp, bits_alloc, bits_stored, high_bit, pixrep,
        planar;
    unsigned long frames;
    std::string photometric;
    bool stored = false;  /* MMDX_DICOM_STORED_VALUES, one-sample image */
    double slope, intercept;
    std::vector<frame_geom> fg;
};

static bool is_j2k(E_TransferSyntax x)
{
    return x == EXS_JPEG2000LosslessOnly || x == EXS_JPEG2000 ||
           x == EXS_JPEG2000MulticomponentLosslessOnly ||
           x == EXS_JPEG2000Multicomponent;
}

/* Orientation: 6 direction cosines, checked unit length and orthogonal. */
static bool read_orientation(const at &it, struct mmdx_image *img)
{
    double o[6];

    for (unsigned long k = 0; k < 6; k++)
        if (get_num(it, DCM_ImageOrientationPatient, k, &o[k]) != 1)
            return false;
    double lr = sqrt(o[0] * o[0] + o[1] * o[1] + o[2] * o[2]);
    double lc = sqrt(o[3] * o[3] + o[4] * o[4] + o[5] * o[5]);
    if (fabs(lr - 1) > 0.01 || fabs(lc - 1) > 0.01 ||
        fabs(o[0] * o[3] + o[1] * o[4] + o[2] * o[5]) > 0.01)
        return false;
    for (int k = 0; k < 3; k++) {
        img->row_cos[k] = o[k] / lr;
        img->col_cos[k] = o[3 + k] / lc;
    }
    img->normal[0] = img->row_cos[1] * img->col_cos[2] -
                     img->row_cos[2] * img->col_cos[1];
    img->normal[1] = img->row_cos[2] * img->col_cos[0] -
                     img->row_cos[0] * img->col_cos[2];
    img->normal[2] = img->row_cos[0] * img->col_cos[1] -
                     img->row_cos[1] * img->col_cos[0];
    img->has_orientation = true;
    return true;
}

static bool read_position(const at &it, double pos[3])
{
    for (unsigned long k = 0; k < 3; k++)
        if (get_num(it, DCM_ImagePositionPatient, k, &pos[k]) != 1)
            return false;
    return true;
}

/* Rescale from an item (top level or a PixelValueTransformation item). */
static void read_rescale(const at &it, double *slope, double *intercept)
{
    double v;

    if (get_num(it, DCM_RescaleSlope, 0, &v) == 1 && v != 0)
        *slope = v;
    if (get_num(it, DCM_RescaleIntercept, 0, &v) == 1)
        *intercept = v;
}

static void read_spacing(const at &it, struct mmdx_image *img)
{
    double r, c, t;

    if (get_num(it, DCM_PixelSpacing, 0, &r) == 1 &&
        get_num(it, DCM_PixelSpacing, 1, &c) == 1 && r > 0 && c > 0) {
        img->spacing_mm[1] = r;  /* between rows: along y */
        img->spacing_mm[0] = c;  /* between columns: along x */
    }
    if (get_num(it, DCM_SliceThickness, 0, &t) == 1 && t > 0)
        img->slice_thickness_mm = t;
    if (get_num(it, DCM_SpacingBetweenSlices, 0, &t) == 1 && t > 0)
        img->spacing_mm[2] = t;
}

/* Read the header into h and img; no pixel allocation. */
static enum mmdx_status read_header(struct mmdx_ctx *ctx, const char *path,
                                    DcmFileFormat &ff,
                                    const struct mmdx_dicom_limits *lim,
                                    unsigned flags, struct header &h,
                                    struct mmdx_dicom_file *f)
{
    DcmDataset *ds = ff.getDataset();
    DcmMetaInfo *meta = ff.getMetaInfo();
    struct mmdx_image *img = f->img;
    std::string s;
    bool found;
    const top_index ix(ds);

    h.xfer = ds->getOriginalXfer();
    {
        DcmXfer x(h.xfer);
        std::string uid = get_str(meta, DCM_TransferSyntaxUID, &found);

        if (h.xfer == EXS_Unknown && found)
            return FAIL(ctx, MMDX_E_UNSUPPORTED, path, "TransferSyntaxUID",
                        "unsupported transfer syntax %s", uid.c_str());
        copy_str(img->transfer_syntax, sizeof(img->transfer_syntax),
                 found && !uid.empty() ? uid.c_str() : x.getXferID());
        /* a deflated dataset was inflated before DCMTK read it (see
         * parse_file): it reads as explicit VR little endian, the File
         * Meta says what the file is */
        DcmXfer mx(uid.c_str());
        copy_str(img->transfer_syntax_name, sizeof(img->transfer_syntax_name),
                 found && mx.getStreamCompression() != ESC_none
                     ? mx.getXferName()
                     : x.getXferName());
        img->lossy = x.isEncapsulated() && !x.isLossless();
    }
    copy_str(img->modality, sizeof(img->modality),
             get_str(ix, DCM_Modality, NULL).c_str());
    copy_str(img->sop_class, sizeof(img->sop_class),
             get_str(ix, DCM_SOPClassUID, NULL).c_str());
    copy_str(img->body_part, sizeof(img->body_part),
             get_str(ix, DCM_BodyPartExamined, NULL).c_str());
    copy_str(img->manufacturer, sizeof(img->manufacturer),
             get_str(ix, DCM_Manufacturer, NULL).c_str());
    if (get_str(ix, DCM_LossyImageCompression, NULL) == "01")
        img->lossy = true;
    img->is_segmentation = !strcmp(img->sop_class, UID_SegmentationStorage) ||
                           !strcmp(img->sop_class, MMDX_UID_LABELMAP_SEG);
    copy_str(f->series_uid, sizeof(f->series_uid),
             get_str(ix, DCM_SeriesInstanceUID, NULL).c_str());
    s = get_str(ix, DCM_InstanceNumber, &found);
    {
        long in;

        f->instance_number = LONG_MIN;
        if (!s.empty() && mmdx__parse_long(s.c_str(), &in))
            f->instance_number = in;
    }

    {
        DcmElement *el = NULL;

        f->has_pixels = (ix.find(DCM_PixelData, &el) && el) ||
                        (ix.find(DCM_FloatPixelData, &el) && el);
    }
    if (!f->has_pixels)
        return MMDX_OK;

    if (!get_u16(ix, DCM_Rows, &h.rows) || !h.rows)
        return FAIL(ctx, MMDX_E_FORMAT, path, "Rows (0028,0010)",
                    "missing or zero");
    if (!get_u16(ix, DCM_Columns, &h.cols) || !h.cols)
        return FAIL(ctx, MMDX_E_FORMAT, path, "Columns (0028,0011)",
                    "missing or zero");
    if (!get_u16(ix, DCM_SamplesPerPixel, &h.spp))
        h.spp = 1;
    if (!get_u16(ix, DCM_BitsAllocated, &h.bits_alloc))
        return FAIL(ctx, MMDX_E_FORMAT, path, "BitsAllocated (0028,0100)",
                    "missing");
    if (!get_u16(ix, DCM_BitsStored, &h.bits_stored))
        h.bits_stored = h.bits_alloc;
    if (!get_u16(ix, DCM_HighBit, &h.high_bit))
        h.high_bit = h.bits_stored - 1;
    if (!get_u16(ix, DCM_PixelRepresentation, &h.pixrep))
        h.pixrep = 0;
    if (!get_u16(ix, DCM_PlanarConfiguration, &h.planar))
        h.planar = 0;
    h.photometric = get_str(ix, DCM_PhotometricInterpretation, NULL);
    if (h.photometric.empty())
        h.photometric = h.spp == 3 ? "RGB" : "MONOCHROME2";
    s = get_str(ix, DCM_NumberOfFrames, &found);
    h.frames = 1;
    if (found && !s.empty()) {
        long nf;

        if (!mmdx__parse_long(s.c_str(), &nf) || nf < 1)
            return FAIL(ctx, MMDX_E_FORMAT, path,
                        "NumberOfFrames (0028,0008)",
                        "expected a positive integer, got \"%.16s\"",
                        s.c_str());
        h.frames = static_cast<unsigned long>(nf);
    }
    if (h.bits_alloc != 1 && h.bits_alloc != 8 && h.bits_alloc != 16 &&
        h.bits_alloc != 32)
        return FAIL(ctx, MMDX_E_UNSUPPORTED, path, "BitsAllocated (0028,0100)",
                    "unsupported value %u (1, 8, 16 or 32)", h.bits_alloc);
    if (h.bits_stored < 1 || h.bits_stored > h.bits_alloc ||
        h.high_bit >= h.bits_alloc || h.high_bit + 1 < h.bits_stored)
        return FAIL(ctx, MMDX_E_FORMAT, path, "BitsStored (0028,0101)",
                    "inconsistent: BitsAllocated %u, BitsStored %u, "
                    "HighBit %u", h.bits_alloc, h.bits_stored, h.high_bit);
    if (h.spp != 1 && h.spp != 3)
        return FAIL(ctx, MMDX_E_UNSUPPORTED, path,
                    "SamplesPerPixel (0028,0002)",
                    "unsupported value %u (1 or 3)", h.spp);
    if (h.pixrep > 1)
        return FAIL(ctx, MMDX_E_FORMAT, path,
                    "PixelRepresentation (0028,0103)", "expected 0 or 1, "
                    "got %u", h.pixrep);
    {
        const std::string &p = h.photometric;
        bool mono = p == "MONOCHROME1" || p == "MONOCHROME2";
        bool color = p == "RGB" || p == "YBR_FULL" || p == "YBR_FULL_422" ||
                     p == "YBR_ICT" || p == "YBR_RCT";

        if (!(mono && h.spp == 1) && !(color && h.spp == 3) &&
            !(p == "PALETTE COLOR" && h.spp == 1))
            return FAIL(ctx, MMDX_E_UNSUPPORTED, path,
                        "PhotometricInterpretation (0028,0004)",
                        "unsupported \"%.20s\" with %u samples per pixel",
                        p.c_str(), h.spp);
        copy_str(img->photometric, sizeof(img->photometric), p.c_str());
        /* stored values: one channel of what the file holds, whatever
         * the one-sample photometric says about showing it */
        h.stored = (flags & MMDX_DICOM_STORED_VALUES) && h.spp == 1;
    }
    /* palette colour shown as RGB: three channels */
    const bool rgb_palette = h.photometric == "PALETTE COLOR" && !h.stored;
    {
        /* Absurd sizes are refused here, before anything is allocated. */
        uint64_t maxv = lim && lim->max_voxels ? lim->max_voxels
                                               : MMDX_DICOM_MAX_VOXELS;
        uint64_t nch = rgb_palette ? 3 : h.spp;
        uint64_t n = static_cast<uint64_t>(h.rows) * h.cols;

        /* named after what is too large: a single frame (Rows, Columns)
         * or the frames together */
        if (n > maxv / nch)
            return FAIL(ctx, MMDX_E_LIMIT, path,
                        "Rows (0028,0010), Columns (0028,0011)",
                        "declared frame of %u x %u x %u values (of %lu) "
                        "exceeds the limit of %llu", h.cols, h.rows,
                        (unsigned)nch, h.frames, (unsigned long long)maxv);
        if (h.frames > maxv || n * h.frames > maxv / nch)
            return FAIL(ctx, MMDX_E_LIMIT, path, "NumberOfFrames (0028,0008)",
                        "declared image of %u x %u x %lu x %u values exceeds "
                        "the limit of %llu", h.cols, h.rows, h.frames,
                        (unsigned)nch, (unsigned long long)maxv);
    }
    img->rows = h.rows;
    img->cols = h.cols;
    img->nx = h.cols;
    img->ny = h.rows;
    img->nz = h.frames;
    img->nc = rgb_palette ? 3 : h.spp;
    img->bits_allocated = h.bits_alloc;
    img->bits_stored = h.bits_stored;
    img->pixel_signed = h.pixrep == 1;
    f->frames = static_cast<unsigned>(h.frames);
    f->samples_per_pixel = h.spp;

    /* Geometry and rescale: top level, then enhanced functional groups
     * (shared, then per frame). */
    h.slope = 1;
    h.intercept = 0;
    read_rescale(ix, &h.slope, &h.intercept);
    read_spacing(ix, img);
    if (std::isnan(img->spacing_mm[0])) {
        double r, c;

        if (get_num(ix, DCM_ImagerPixelSpacing, 0, &r) == 1 &&
            get_num(ix, DCM_ImagerPixelSpacing, 1, &c) == 1 && r > 0 &&
            c > 0) {
            img->spacing_mm[1] = r;
            img->spacing_mm[0] = c;
        }
    }
    read_orientation(ix, img);
    DcmItem *shared = seq_item(ix, DCM_SharedFunctionalGroupsSequence, 0);
    if (shared) {
        read_spacing(seq_item(shared, DCM_PixelMeasuresSequence, 0), img);
        read_rescale(seq_item(shared, DCM_PixelValueTransformationSequence, 0),
                     &h.slope, &h.intercept);
        if (!img->has_orientation)
            read_orientation(seq_item(shared, DCM_PlaneOrientationSequence, 0),
                             img);
    }
    h.fg.resize(h.frames);
    {
        double pos[3];
        bool top = read_position(ix, pos);

        for (unsigned long k = 0; k < h.frames; k++) {
            frame_geom &g = h.fg[k];
            DcmItem *pf = seq_item(ix, DCM_PerFrameFunctionalGroupsSequence,
                                   static_cast<long>(k));

            g.slope = h.slope;
            g.intercept = h.intercept;
            g.has_pos = false;
            if (top && h.frames == 1) {
                memcpy(g.pos, pos, sizeof(pos));
                g.has_pos = true;
            }
            if (pf) {
                DcmItem *pp = seq_item(pf, DCM_PlanePositionSequence, 0);

                if (pp && read_position(pp, g.pos))
                    g.has_pos = true;
                read_rescale(seq_item(pf, DCM_PixelValueTransformationSequence,
                                      0), &g.slope, &g.intercept);
                if (k == 0) {
                    read_spacing(seq_item(pf, DCM_PixelMeasuresSequence, 0),
                                 img);
                    if (!img->has_orientation)
                        read_orientation(
                            seq_item(pf, DCM_PlaneOrientationSequence, 0),
                            img);
                }
            }
        }
    }
    if (h.stored) {
        /* no modality LUT: the values are the stored ones */
        h.slope = 1;
        h.intercept = 0;
        for (size_t k = 0; k < h.fg.size(); k++) {
            h.fg[k].slope = 1;
            h.fg[k].intercept = 0;
        }
    }
    img->rescale_slope = h.fg.empty() ? h.slope : h.fg[0].slope;
    img->rescale_intercept = h.fg.empty() ? h.intercept : h.fg[0].intercept;
    {
        bool all = !h.fg.empty();

        for (size_t k = 0; k < h.fg.size(); k++)
            all = all && h.fg[k].has_pos;
        if (all) {
            img->pos_mm = static_cast<double *>(
                mmdx__calloc(h.fg.size() * 3, sizeof(double)));
            if (!img->pos_mm)
                return FAIL(ctx, MMDX_E_NOMEM, NULL, NULL, "out of memory");
            for (size_t k = 0; k < h.fg.size(); k++)
                memcpy(img->pos_mm + 3 * k, h.fg[k].pos, 3 * sizeof(double));
        }
    }
    if (!strcmp(img->modality, "CT") && !h.stored)
        copy_str(img->units, sizeof(img->units), "HU");
    return MMDX_OK;
}

/* ---- pixels ----------------------------------------------------------------------- */

/* C allocations owned while C++ code may throw. */
struct file_guard {
    struct mmdx_dicom_file *f;
    explicit file_guard(struct mmdx_dicom_file *p) : f(p) {}
    ~file_guard() { mmdx__dicom_file_free(f); }
    struct mmdx_dicom_file *release()
    {
        struct mmdx_dicom_file *p = f;

        f = NULL;
        return p;
    }
};

struct conv {
    unsigned shift;
    uint32_t mask;
    bool sign;
    unsigned bits;
};

static conv make_conv(const header &h)
{
    conv c;

    c.shift = h.high_bit + 1 - h.bits_stored;
    c.bits = h.bits_stored;
    c.mask = h.bits_stored >= 32 ? 0xFFFFFFFFu : ((1u << h.bits_stored) - 1);
    c.sign = h.pixrep == 1;
    return c;
}

static inline int64_t stored(uint32_t raw, const conv &c)
{
    uint32_t v = (raw >> c.shift) & c.mask;

    if (c.sign && ((v >> (c.bits - 1)) & 1u))
        return static_cast<int64_t>(v) - (static_cast<int64_t>(1) << c.bits);
    return static_cast<int64_t>(v);
}

/* 16-bit stored values to floats: shift, mask, sign-extend (flip the
 * sign bit and subtract it: no branch), add. Eight words at a time with
 * SSE2 (x86-64 always has it); the scalar loop does the rest and is the
 * reference: both give the same values. */
static void words_to_float_sse2(const uint16_t *w, float *o, size_t n,
                                unsigned shift, uint32_t mask, int32_t sbit,
                                float add)
{
    size_t p = 0;

#ifdef __SSE2__
    {
        const __m128i cnt = _mm_cvtsi32_si128(static_cast<int>(shift));
        const __m128i m16 = _mm_set1_epi16(static_cast<short>(mask));
        const __m128i s16 = _mm_set1_epi16(static_cast<short>(sbit));
        const __m128i zero = _mm_setzero_si128();
        const __m128 a = _mm_set1_ps(add);

        for (; p + 8 <= n; p += 8) {
            __m128i v = _mm_loadu_si128(
                reinterpret_cast<const __m128i *>(w + p));
            __m128i lo, hi;

            v = _mm_and_si128(_mm_srl_epi16(v, cnt), m16);
            if (sbit) {
                /* at most 16 bits: the result fits a signed word */
                v = _mm_sub_epi16(_mm_xor_si128(v, s16), s16);
                lo = _mm_srai_epi32(_mm_unpacklo_epi16(v, v), 16);
                hi = _mm_srai_epi32(_mm_unpackhi_epi16(v, v), 16);
            } else {
                lo = _mm_unpacklo_epi16(v, zero);
                hi = _mm_unpackhi_epi16(v, zero);
            }
            _mm_storeu_ps(o + p, _mm_add_ps(_mm_cvtepi32_ps(lo), a));
            _mm_storeu_ps(o + p + 4, _mm_add_ps(_mm_cvtepi32_ps(hi), a));
        }
    }
#endif
    for (; p < n; p++) {
        int32_t v = static_cast<int32_t>(
            (static_cast<uint32_t>(w[p]) >> shift) & mask);

        o[p] = static_cast<float>((v ^ sbit) - sbit) + add;
    }
}

#if defined(__x86_64__) && defined(__GNUC__)
/* The same eight words at a time into a 256-bit register of floats
 * (AVX2: sign or zero extension to 32 bits in one step), for processors
 * that have it (chosen at run time); the same values. */
__attribute__((target("avx2"))) static void
words_to_float_avx2(const uint16_t *w, float *o, size_t n, unsigned shift,
                    uint32_t mask, int32_t sbit, float add)
{
    const __m128i cnt = _mm_cvtsi32_si128(static_cast<int>(shift));
    const __m128i m16 = _mm_set1_epi16(static_cast<short>(mask));
    const __m128i s16 = _mm_set1_epi16(static_cast<short>(sbit));
    const __m256 a = _mm256_set1_ps(add);
    size_t p = 0;

    for (; p + 8 <= n; p += 8) {
        __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i *>(w + p));
        __m256i x;

        v = _mm_and_si128(_mm_srl_epi16(v, cnt), m16);
        if (sbit)
            x = _mm256_cvtepi16_epi32(_mm_sub_epi16(_mm_xor_si128(v, s16),
                                                    s16));
        else
            x = _mm256_cvtepu16_epi32(v);
        _mm256_storeu_ps(o + p, _mm256_add_ps(_mm256_cvtepi32_ps(x), a));
    }
    if (p < n)
        words_to_float_sse2(w + p, o + p, n - p, shift, mask, sbit, add);
}

#endif

static void words_to_float(const uint16_t *w, float *o, size_t n,
                           unsigned shift, uint32_t mask, int32_t sbit,
                           float add)
{
#if defined(__x86_64__) && defined(__GNUC__)
    if (mmdx__simd_level() >= 1) { /* MMDX_SIMD_AVX2 */
        words_to_float_avx2(w, o, n, shift, mask, sbit, add);
        return;
    }
#endif
    words_to_float_sse2(w, o, n, shift, mask, sbit, add);
}

/* The range of stored values: for MONOCHROME1 inversion. */
static void stored_range(const conv &c, double *lo, double *hi)
{
    if (c.sign) {
        *lo = -std::ldexp(1.0, static_cast<int>(c.bits) - 1);
        *hi = std::ldexp(1.0, static_cast<int>(c.bits) - 1) - 1;
    } else {
        *lo = 0;
        *hi = std::ldexp(1.0, static_cast<int>(c.bits)) - 1;
    }
}

/* The red, green and blue palette LUTs' descriptors and data (read here,
 * written by the SEG fixture writer). */
static const DcmTagKey pal_desc[3] = {
    DCM_RedPaletteColorLookupTableDescriptor,
    DCM_GreenPaletteColorLookupTableDescriptor,
    DCM_BluePaletteColorLookupTableDescriptor };
static const DcmTagKey pal_data[3] = {
    DCM_RedPaletteColorLookupTableData,
    DCM_GreenPaletteColorLookupTableData,
    DCM_BluePaletteColorLookupTableData };

struct palette {
    std::vector<float> lut[3];
    long first;
};

static enum mmdx_status read_palette(struct mmdx_ctx *ctx, const char *path,
                                     DcmItem *ds, palette &pal)
{

    for (int c = 0; c < 3; c++) {
        Uint16 d[3];
        DcmElement *el = NULL;
        Uint16 *w = NULL;
        Uint8 *b = NULL;
        unsigned long n, bytes;

        for (unsigned long k = 0; k < 3; k++)
            if (ds->findAndGetUint16(pal_desc[c], d[k], k).bad())
                return FAIL(ctx, MMDX_E_FORMAT, path,
                            "RedPaletteColorLookupTableDescriptor (0028,1101)",
                            "PALETTE COLOR without a valid LUT descriptor");
        n = d[0] ? d[0] : 65536;
        pal.first = d[1];
        if (ds->findAndGetElement(pal_data[c], el).bad() || !el)
            return FAIL(ctx, MMDX_E_UNSUPPORTED, path,
                        "RedPaletteColorLookupTableData (0028,1201)",
                        "PALETTE COLOR without LUT data (segmented palettes "
                        "are not supported)");
        bytes = el->getLength();
        pal.lut[c].resize(n);
        if (d[2] == 8 && bytes >= n) {
            /* 8-bit entries: stored one per byte (some writers use one
             * per 16-bit word: low bytes then) */
            if (el->getUint8Array(b).bad() || !b)
                return FAIL(ctx, MMDX_E_FORMAT, path,
                            "RedPaletteColorLookupTableData (0028,1201)",
                            "unreadable LUT data");
            bool words = bytes >= 2 * n;
            for (unsigned long k = 0; k < n; k++)
                pal.lut[c][k] = words ? b[2 * k] : b[k];
        } else if (bytes >= 2 * n && el->getUint16Array(w).good() && w) {
            for (unsigned long k = 0; k < n; k++)
                pal.lut[c][k] = d[2] == 8 ? (w[k] & 0xFF) : w[k];
        } else {
            return FAIL(ctx, MMDX_E_FORMAT, path,
                        "RedPaletteColorLookupTableData (0028,1201)",
                        "LUT data holds %lu bytes for %lu entries", bytes, n);
        }
    }
    return MMDX_OK;
}

/*
 * Turn stored values into floats. src yields the raw sample value of
 * (frame, pixel index p, channel c). Writes img->vox.
 */
template <typename Get>
static void convert(const header &h, const std::string &photometric,
                    unsigned planar, const palette *pal,
                    struct mmdx_image *img, Get get)
{
    conv c = make_conv(h);
    size_t npix = static_cast<size_t>(h.rows) * h.cols;
    float *out = img->vox;

    for (unsigned long f = 0; f < h.frames; f++) {
        const frame_geom &g = h.fg[f];
        float *o = out + f * npix * img->nc;

        if (pal) {
            long nlut = static_cast<long>(pal->lut[0].size());

            for (size_t p = 0; p < npix; p++) {
                long i = static_cast<long>(stored(get(f, p, 0u), c)) -
                         pal->first;

                if (i < 0)
                    i = 0;
                if (i >= nlut)
                    i = nlut - 1;
                o[3 * p] = pal->lut[0][i];
                o[3 * p + 1] = pal->lut[1][i];
                o[3 * p + 2] = pal->lut[2][i];
            }
        } else if (h.spp == 3) {
            bool ybr = photometric == "YBR_FULL";

            for (size_t p = 0; p < npix; p++) {
                double s[3];

                for (unsigned k = 0; k < 3; k++)
                    s[k] = static_cast<double>(stored(
                        planar ? get(f, k * npix + p, 0u) : get(f, p, k), c));
                if (ybr) {
                    double y = s[0], cb = s[1] - 128, cr = s[2] - 128;

                    s[0] = y + 1.402 * cr;
                    s[1] = y - 0.344136 * cb - 0.714136 * cr;
                    s[2] = y + 1.772 * cb;
                    for (unsigned k = 0; k < 3; k++)
                        s[k] = s[k] < 0 ? 0 : s[k] > 255 ? 255 : s[k];
                }
                for (unsigned k = 0; k < 3; k++)
                    o[3 * p + k] = static_cast<float>(s[k]);
            }
        } else {
            double lo, hi, sum = 0;
            bool inv = photometric == "MONOCHROME1";

            stored_range(c, &lo, &hi);
            if (inv)
                sum = (g.slope * lo + g.intercept) + (g.slope * hi + g.intercept);
            for (size_t p = 0; p < npix; p++) {
                double v = g.slope * static_cast<double>(stored(get(f, p, 0u), c)) +
                           g.intercept;

                o[p] = static_cast<float>(inv ? sum - v : v);
            }
        }
    }
}

/* Split an encapsulated pixel sequence into one byte string per frame. */
static enum mmdx_status j2k_frames(struct mmdx_ctx *ctx, const char *path,
                                   DcmPixelSequence *seq, unsigned long nf,
                                   std::vector<std::vector<Uint8> > &frames)
{
    unsigned long nfrag = seq->card();
    std::vector<std::pair<Uint8 *, Uint32> > frag;

    for (unsigned long i = 1; i < nfrag; i++) {  /* item 0: offset table */
        DcmPixelItem *it = NULL;
        Uint8 *p = NULL;

        if (seq->getItem(it, i).bad() || !it)
            return FAIL(ctx, MMDX_E_FORMAT, path, "PixelData (7FE0,0010)",
                        "unreadable fragment %lu", i);
        Uint32 len = it->getLength();
        if (len && (it->getUint8Array(p).bad() || !p))
            return FAIL(ctx, MMDX_E_FORMAT, path, "PixelData (7FE0,0010)",
                        "unreadable fragment %lu", i);
        frag.push_back(std::make_pair(p, len));
    }
    if (frag.empty())
        return FAIL(ctx, MMDX_E_FORMAT, path, "PixelData (7FE0,0010)",
                    "encapsulated pixel data holds no fragment");
    frames.clear();
    for (size_t i = 0; i < frag.size(); i++) {
        const Uint8 *p = frag[i].first;
        Uint32 len = frag[i].second;
        bool start = len >= 2 && p[0] == 0xFF && p[1] == 0x4F;     /* SOC */
        bool jp2 = len >= 8 && p[4] == 'j' && p[5] == 'P';       /* JP2 box */

        if (nf == frag.size() || frames.empty() ||
            (nf > 1 && (start || jp2)))
            frames.push_back(std::vector<Uint8>());
        frames.back().insert(frames.back().end(), p, p + len);
    }
    if (frames.size() != nf)
        return FAIL(ctx, MMDX_E_FORMAT, path, "PixelData (7FE0,0010)",
                    "found %zu JPEG 2000 frames, NumberOfFrames says %lu",
                    frames.size(), nf);
    return MMDX_OK;
}

static enum mmdx_status decode_j2k(struct mmdx_ctx *ctx, const char *path,
                                   DcmDataset *ds, header &h,
                                   struct mmdx_image *img)
{
    DcmElement *el = NULL;
    DcmPixelSequence *seq = NULL;
    std::vector<std::vector<Uint8> > frames;
    enum mmdx_status st;
    size_t npix = static_cast<size_t>(h.rows) * h.cols;
    std::vector<int32_t> buf;
    std::string photometric = h.photometric;

    if (ds->findAndGetElement(DCM_PixelData, el).bad() || !el)
        return FAIL(ctx, MMDX_E_FORMAT, path, "PixelData (7FE0,0010)",
                    "missing");
    if (static_cast<DcmPixelData *>(el)
            ->getEncapsulatedRepresentation(h.xfer, NULL, seq)
            .bad() || !seq)
        return FAIL(ctx, MMDX_E_FORMAT, path, "PixelData (7FE0,0010)",
                    "JPEG 2000 transfer syntax but no encapsulated pixel "
                    "data");
    st = j2k_frames(ctx, path, seq, h.frames, frames);
    if (st)
        return st;
    if (h.bits_alloc < 8)
        return FAIL(ctx, MMDX_E_UNSUPPORTED, path, "BitsAllocated (0028,0100)",
                    "JPEG 2000 with %u bits allocated", h.bits_alloc);
    buf.resize(npix * h.spp * h.frames);
    for (unsigned long f = 0; f < h.frames; f++) {
        unsigned prec = 0;
        bool sgn = false;

        st = mmdx__j2k_decode(ctx, path, frames[f].data(), frames[f].size(),
                              h.rows, h.cols, h.spp,
                              buf.data() + f * npix * h.spp, &prec, &sgn);
        if (st)
            return st;
    }
    /* OpenJPEG applies the inverse colour transform of YBR_ICT/RCT. */
    if (photometric == "YBR_ICT" || photometric == "YBR_RCT" ||
        photometric == "YBR_FULL_422")
        photometric = "RGB";
    if (h.stored)
        photometric = "MONOCHROME2";   /* no palette, no inversion */
    /* The decoded values are the sample values; the header's
     * PixelRepresentation and BitsStored decide how they are read (as
     * pydicom does when codestream and header disagree). */
    h.high_bit = h.bits_stored - 1;
    palette pal;
    if (photometric == "PALETTE COLOR") {
        st = read_palette(ctx, path, ds, pal);
        if (st)
            return st;
    }
    const int32_t *b = buf.data();
    unsigned spp = h.spp;
    convert(h, photometric, 0, photometric == "PALETTE COLOR" ? &pal : NULL,
            img, [&](unsigned long f, size_t p, unsigned c) -> uint32_t {
                return static_cast<uint32_t>(b[(f * npix + p) * spp + c]);
            });
    return MMDX_OK;
}

/* When the value being read by cache's stream lies in memory (a file
 * parsed through mem_stream) in this machine's byte order, at an even
 * address: the start of the value, whose first done bytes the stream has
 * given and whose total bytes are all there. NULL otherwise. */
static const uint16_t *words_in_memory(DcmFileCache &cache, size_t done,
                                       size_t total, E_TransferSyntax x)
{
    mem_stream *ms = dynamic_cast<mem_stream *>(cache.getStream());
    const unsigned char *p;

    if (!ms || DcmXfer(x).getByteOrder() != gLocalByteOrder ||
        ms->left() < 0 ||
        static_cast<uint64_t>(ms->left()) + done < total)
        return NULL;
    p = ms->here() - done;
    if (reinterpret_cast<uintptr_t>(p) & 1)
        return NULL;
    return reinterpret_cast<const uint16_t *>(p);
}

/* 16-bit grey values (the common case: CT, MR) that the stream holds as
 * they are (not encapsulated): read from the file a slice of the value at
 * a time (DCMTK's getPartialValue: the whole value is not loaded into a
 * buffer of its own first) and turned into floats while the slice is in
 * cache. The values are those of convert(): shift, mask, sign-extend
 * (flip the sign bit and subtract it), then the modality LUT. */
static enum mmdx_status decode_words(struct mmdx_ctx *ctx, const char *path,
                                     DcmElement *el, const header &h,
                                     bool inv, struct mmdx_image *img)
{
    const size_t chunk = 32768;  /* words: 64 KiB, stays in L2 */
    std::unique_ptr<uint16_t[]> w;
    DcmFileCache probe_cache, cache;
    size_t npix = static_cast<size_t>(h.rows) * h.cols;
    conv cv = make_conv(h);
    int32_t sbit = cv.sign ? static_cast<int32_t>(1u << (cv.bits - 1)) : 0;
    const uint16_t *direct = NULL;
    uint16_t first;
    double lo, hi;

    if (!npix || !h.frames)
        return MMDX_OK;
    /* a file parsed from memory: the words straight from there, with no
     * scratch and no copy; the first word read opens the value's stream
     * (this also checks that the value can be read) */
    if (el->getPartialValue(&first, 0, 2, &probe_cache).bad())
        return FAIL(ctx, MMDX_E_FORMAT, path, "PixelData (7FE0,0010)",
                    "unreadable pixel data");
    direct = words_in_memory(probe_cache, 2, 2 * npix * h.frames, h.xfer);
    if (!direct) {
        w.reset(new (std::nothrow) uint16_t[chunk]);
        if (!w)
            return FAIL(ctx, MMDX_E_NOMEM, NULL, NULL, "out of memory");
    }
    stored_range(cv, &lo, &hi);
    for (unsigned long f = 0; f < h.frames; f++) {
        const frame_geom &g = h.fg[f];
        /* float(stored) + float(intercept) equals the rounded double sum
         * when both are integers below 2^24 */
        bool exact = g.slope == 1.0 && !inv &&
                     g.intercept == std::floor(g.intercept) &&
                     std::fabs(g.intercept) < 8388608.0;
        float add = exact ? static_cast<float>(g.intercept) : 0.0f;
        double sum = (g.slope * lo + g.intercept) + (g.slope * hi + g.intercept);

        for (size_t p = 0; p < npix; p += chunk) {
            size_t n = npix - p < chunk ? npix - p : chunk;
            float *o = img->vox + f * npix + p;
            const uint16_t *src = direct ? direct + f * npix + p : w.get();

            if (!direct &&
                el->getPartialValue(
                      w.get(), static_cast<Uint32>(2 * (f * npix + p)),
                      static_cast<Uint32>(2 * n), &cache)
                    .bad())
                return FAIL(ctx, MMDX_E_FORMAT, path, "PixelData (7FE0,0010)",
                            "unreadable pixel data");
            words_to_float(src, o, n, cv.shift, cv.mask, sbit, add);
            if (!exact)
                for (size_t k = 0; k < n; k++) {
                    double v = g.slope * o[k] + g.intercept;

                    o[k] = static_cast<float>(inv ? sum - v : v);
                }
        }
    }
    return MMDX_OK;
}

static enum mmdx_status decode_native(struct mmdx_ctx *ctx, const char *path,
                                      DcmDataset *ds, header &h,
                                      struct mmdx_image *img)
{
    DcmXfer x(h.xfer);
    DcmElement *el = NULL;
    Uint8 *bytes = NULL;
    unsigned long len;
    std::string photometric;
    unsigned planar = 0;

    if (gLocalByteOrder != EBO_LittleEndian)
        return FAIL(ctx, MMDX_E_UNSUPPORTED, path, NULL,
                    "big-endian hosts are not supported");
    if (x.isEncapsulated()) {
        OFCondition c = ds->chooseRepresentation(EXS_LittleEndianExplicit,
                                                 NULL);
        E_TransferSyntax t = h.xfer;
        bool known = t == EXS_RLELossless || t == EXS_JPEGProcess1 ||
                     t == EXS_JPEGProcess2_4 || t == EXS_JPEGProcess14 ||
                     t == EXS_JPEGProcess14SV1 || t == EXS_JPEGLSLossless ||
                     t == EXS_JPEGLSLossy;

        if (!known)
            return FAIL(ctx, MMDX_E_UNSUPPORTED, path,
                        "TransferSyntaxUID (0002,0010)",
                        "unsupported transfer syntax %s (%s)", x.getXferID(),
                        x.getXferName());
        if (c.bad() || !ds->canWriteXfer(EXS_LittleEndianExplicit))
            return FAIL(ctx, MMDX_E_FORMAT, path, "PixelData (7FE0,0010)",
                        "corrupt %s pixel data: the decoder failed (%s)",
                        x.getXferName(), c.text());
    }
    /* Decoders may have changed these (YCbCr JPEG is returned as RGB). */
    photometric = get_str(ds, DCM_PhotometricInterpretation, NULL);
    if (photometric.empty())
        photometric = h.photometric;
    if (h.stored)
        photometric = "MONOCHROME2";   /* no palette, no inversion */
    {
        unsigned v;

        if (get_u16(ds, DCM_PlanarConfiguration, &v))
            planar = v;
    }
    if (h.spp == 3 && photometric != "RGB" && photometric != "YBR_FULL")
        return FAIL(ctx, MMDX_E_UNSUPPORTED, path,
                    "PhotometricInterpretation (0028,0004)",
                    "unsupported \"%.20s\" for %s pixel data",
                    photometric.c_str(), x.getXferName());
    if (h.spp == 3 && h.bits_alloc != 8 && photometric == "YBR_FULL")
        return FAIL(ctx, MMDX_E_UNSUPPORTED, path,
                    "PhotometricInterpretation (0028,0004)",
                    "YBR_FULL with %u bits", h.bits_alloc);
    if (ds->findAndGetElement(DCM_PixelData, el).bad() || !el)
        return FAIL(ctx, MMDX_E_UNSUPPORTED, path, "PixelData (7FE0,0010)",
                    "no integer pixel data");
    len = el->getLength();
    if (!x.isEncapsulated() && h.bits_alloc == 16 && h.spp == 1 &&
        photometric != "PALETTE COLOR" && h.bits_stored >= 1 &&
        h.high_bit + 1 >= h.bits_stored && h.high_bit < 16) {
        uint64_t need = static_cast<uint64_t>(h.rows) * h.cols * h.frames * 2;

        if (len < need)
            return FAIL(ctx, MMDX_E_FORMAT, path, "PixelData (7FE0,0010)",
                        "holds %lu bytes, the declared %u x %u x %lu image "
                        "needs %llu", len, h.cols, h.rows, h.frames,
                        (unsigned long long)need);
        return decode_words(ctx, path, el, h, photometric == "MONOCHROME1",
                            img);
    }
    if (el->getVR() == EVR_OW) {
        Uint16 *w = NULL;

        if (len && (el->getUint16Array(w).bad() || !w))
            return FAIL(ctx, MMDX_E_FORMAT, path, "PixelData (7FE0,0010)",
                        "unreadable pixel data");
        bytes = reinterpret_cast<Uint8 *>(w);
    } else if (len && (el->getUint8Array(bytes).bad() || !bytes)) {
        return FAIL(ctx, MMDX_E_FORMAT, path, "PixelData (7FE0,0010)",
                    "unreadable pixel data");
    }
    {
        uint64_t bits = static_cast<uint64_t>(h.rows) * h.cols * h.spp *
                        h.frames * h.bits_alloc;
        uint64_t need = (bits + 7) / 8;

        if (len < need)
            return FAIL(ctx, MMDX_E_FORMAT, path, "PixelData (7FE0,0010)",
                        "holds %lu bytes, the declared %u x %u x %lu image "
                        "needs %llu", len, h.cols, h.rows, h.frames,
                        (unsigned long long)need);
    }
    palette pal;
    if (photometric == "PALETTE COLOR") {
        enum mmdx_status st = read_palette(ctx, path, ds, pal);

        if (st)
            return st;
    }
    const palette *pp = photometric == "PALETTE COLOR" ? &pal : NULL;
    size_t per_frame = static_cast<size_t>(h.rows) * h.cols * h.spp;
    const Uint8 *b = bytes;
    unsigned spp = h.spp;

    switch (h.bits_alloc) {
    case 1:
        convert(h, photometric, planar, pp, img,
                [&](unsigned long f, size_t p, unsigned c) -> uint32_t {
                    size_t i = f * per_frame + p * spp + c;
                    return (b[i >> 3] >> (i & 7)) & 1u;
                });
        break;
    case 8:
        convert(h, photometric, planar, pp, img,
                [&](unsigned long f, size_t p, unsigned c) -> uint32_t {
                    return b[f * per_frame + p * spp + c];
                });
        break;
    case 16:
        if (h.spp == 1 && !pp && h.bits_stored >= 1 &&
            h.high_bit + 1 >= h.bits_stored && h.high_bit < 16 &&
            reinterpret_cast<uintptr_t>(b) % alignof(uint16_t) == 0) {
            /* the common case (CT, MR): tight loops the compiler can
             * vectorise; the same value as stored() and convert(): shift,
             * mask, then sign-extend by flipping the sign bit and
             * subtracting it (no branch) */
            size_t npix = static_cast<size_t>(h.rows) * h.cols;
            conv cv = make_conv(h);
            unsigned shift = cv.shift;
            uint32_t mask = cv.mask;
            int32_t sbit = cv.sign ? static_cast<int32_t>(1u << (cv.bits - 1))
                                   : 0;
            double lo, hi;
            bool inv = photometric == "MONOCHROME1";

            stored_range(cv, &lo, &hi);
            for (unsigned long f = 0; f < h.frames; f++) {
                const frame_geom &g = h.fg[f];
                const Uint8 *src = b + 2 * f * npix;
                float *o = img->vox + f * npix;
                /* float(stored) + float(intercept) equals the rounded
                 * double sum when both are integers below 2^24 */
                bool exact = g.slope == 1.0 && !inv &&
                             g.intercept == std::floor(g.intercept) &&
                             std::fabs(g.intercept) < 8388608.0;
                float add = exact ? static_cast<float>(g.intercept) : 0.0f;

                /* host order is little endian (checked above): read the
                 * words directly */
                const uint16_t *w = reinterpret_cast<const uint16_t *>(src);

                words_to_float(w, o, npix, shift, mask, sbit, add);
                if (!exact) {
                    double sum = (g.slope * lo + g.intercept) +
                                 (g.slope * hi + g.intercept);

                    for (size_t p = 0; p < npix; p++) {
                        double v = g.slope * o[p] + g.intercept;

                        o[p] = static_cast<float>(inv ? sum - v : v);
                    }
                }
            }
            break;
        }
        convert(h, photometric, planar, pp, img,
                [&](unsigned long f, size_t p, unsigned c) -> uint32_t {
                    size_t i = 2 * (f * per_frame + p * spp + c);
                    return static_cast<uint32_t>(b[i]) |
                           (static_cast<uint32_t>(b[i + 1]) << 8);
                });
        break;
    default:
        convert(h, photometric, planar, pp, img,
                [&](unsigned long f, size_t p, unsigned c) -> uint32_t {
                    size_t i = 4 * (f * per_frame + p * spp + c);
                    return static_cast<uint32_t>(b[i]) |
                           (static_cast<uint32_t>(b[i + 1]) << 8) |
                           (static_cast<uint32_t>(b[i + 2]) << 16) |
                           (static_cast<uint32_t>(b[i + 3]) << 24);
                });
        break;
    }
    if (photometric == "YBR_FULL" || pp)
        copy_str(img->photometric, sizeof(img->photometric), "RGB");
    return MMDX_OK;
}

static enum mmdx_status read_impl(struct mmdx_ctx *ctx, const char *path,
                                  const char *fspath,
                                  const struct mmdx_dicom_limits *lim,
                                  unsigned flags,
                                  const struct mmdx_dicom_dest *dest,
                                  struct mmdx_dicom_file **out)
{
    fd_guard keep;  /* before ff: closed after it */
    DcmFileFormat ff;
    header h;
    enum mmdx_status st;
    file_guard g(static_cast<struct mmdx_dicom_file *>(
        mmdx__calloc(1, sizeof(struct mmdx_dicom_file))));

    if (!g.f)
        return FAIL(ctx, MMDX_E_NOMEM, NULL, NULL, "out of memory");
    g.f->img = mmdx__image_new();
    if (!g.f->img)
        return FAIL(ctx, MMDX_E_NOMEM, NULL, NULL, "out of memory");
    st = parse_file(ctx, path, fspath, ff, keep, DCM_UndefinedTagKey,
                    lim ? lim->max_file_bytes : 0);
    if (st)
        return st;
    if (flags & MMDX_DICOM_SKIP_MASKS) {
        g.f->kind = dataset_kind(ff.getDataset());
        if (g.f->kind != MMDX_DICOM_KIND_OTHER) {
            *out = g.release();
            return MMDX_OK;
        }
    }
    {
        id_list ids;

        if (!collect_ids(ff.getDataset(), ids, 0) ||
            !ids.take(&g.f->ids, &g.f->nids))
            return FAIL(ctx, MMDX_E_NOMEM, NULL, NULL, "out of memory");
    }
    st = read_header(ctx, path, ff, lim, flags, h, g.f);
    if (st)
        return st;
    g.f->kind = kind_of(g.f->img->sop_class, g.f->img->modality);
    if (!g.f->has_pixels) {
        if (flags & MMDX_DICOM_HEADER_ONLY) {
            *out = g.release();
            return MMDX_OK;
        }
        return FAIL(ctx, MMDX_E_UNSUPPORTED, path, "PixelData (7FE0,0010)",
                    "not an image: no pixel data (SOP class %s)",
                    g.f->img->sop_class[0] ? g.f->img->sop_class : "unknown");
    }
    if (!(flags & MMDX_DICOM_HEADER_ONLY)) {
        struct mmdx_image *img = g.f->img;
        size_t nx = img->nx, ny = img->ny, nz = img->nz;

        uint64_t maxv = lim && lim->max_voxels ? lim->max_voxels
                                               : MMDX_DICOM_MAX_VOXELS;
        float *room = NULL;
        struct mmdx_buf *rb = NULL;

        img->nx = img->ny = img->nz = 0;
        /* the caller's room (a series' block), or a block of its own;
         * not zeroed: both decoders write every value (and the image is
         * dropped if they fail) */
        if (dest && dest->fn &&
            mmdx__image_size_ok(nx, ny, nz, img->nc, maxv))
            room = dest->fn(dest->user, nx, ny, nz, img->nc, &rb);
        if (room) {
            mmdx__buf_unref(&img->buf);
            img->buf = rb;
            img->vox = room;
            img->nx = nx;
            img->ny = ny;
            img->nz = nz;
        } else {
            st = mmdx__image_alloc_uninit(ctx, img, nx, ny, nz, img->nc,
                                          maxv);
            if (st)
                return st;
        }
        st = is_j2k(h.xfer) ? decode_j2k(ctx, path, ff.getDataset(), h, img)
                            : decode_native(ctx, path, ff.getDataset(), h, img);
        if (st)
            return st;
    }
    *out = g.release();
    return MMDX_OK;
}

/* ---- C entry points ------------------------------------------------------------------ */

/* One guarded call into the shim. */
static enum mmdx_status read_guarded(struct mmdx_ctx *ctx, const char *path,
                                     const char *fspath,
                                     const struct mmdx_dicom_limits *limits,
                                     unsigned flags,
                                     struct mmdx_dicom_file **out,
                                     const struct mmdx_dicom_dest *dest = NULL)
{
    *out = NULL;
    try {
        setup();
        return read_impl(ctx, path, fspath, limits, flags, dest, out);
    } catch (const std::bad_alloc &) {
        return FAIL(ctx, MMDX_E_NOMEM, path, NULL, "out of memory in DCMTK");
    } catch (...) {
        return FAIL(ctx, MMDX_E_INTERNAL, path, NULL,
                    "DCMTK raised an exception");
    }
}

/* data[0..len) as an anonymous in-memory file: its descriptor in *fd
 * (close it) and its /proc path in fspath[64], so that DCMTK reads it like
 * any file and its file-stream length checks apply. */
static enum mmdx_status memfile(struct mmdx_ctx *ctx, const char *path,
                                const char *name, const void *data,
                                size_t len, int *fd, char *fspath)
{
    const char *p = static_cast<const char *>(data);
    size_t done = 0;

    *fd = memfd_create(name, MFD_CLOEXEC);
    if (*fd < 0)
        return FAIL(ctx, MMDX_E_IO, path, NULL, "memfd_create: %s",
                    strerror(errno));
    while (done < len) {
        ssize_t w = write(*fd, p + done, len - done);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            close(*fd);
            *fd = -1;
            return FAIL(ctx, MMDX_E_IO, path, NULL, "cannot buffer: %s",
                        strerror(errno));
        }
        done += static_cast<size_t>(w);
    }
    snprintf(fspath, 64, "/proc/self/fd/%d", *fd);
    return MMDX_OK;
}

extern "C" enum mmdx_status
mmdx__dicom_read_mem(struct mmdx_ctx *ctx, const char *path, const void *data,
                     size_t len, const struct mmdx_dicom_limits *limits,
                     unsigned flags, struct mmdx_dicom_file **out)
{
    /* Through an anonymous in-memory file, so that DCMTK's file-stream
     * length checks apply (see parse_file). */
    char fspath[64];
    int fd;
    enum mmdx_status st;

    *out = NULL;
    st = memfile(ctx, path, "mmdx-dicom", data, len, &fd, fspath);
    if (st)
        return st;
    st = read_guarded(ctx, path, fspath, limits, flags, out);
    close(fd);
    return st;
}

/* A path given to a reader: it must be a regular file of at most maxb
 * bytes (checked before DCMTK opens it). */
static enum mmdx_status check_input_file(struct mmdx_ctx *ctx,
                                         const char *path, uint64_t maxb)
{
    struct stat sb;

    if (stat(path, &sb) != 0)
        return FAIL(ctx, errno == ENOENT ? MMDX_E_NOTFOUND : MMDX_E_IO, path,
                    NULL, "cannot read: %s", strerror(errno));
    if (!S_ISREG(sb.st_mode))
        return FAIL(ctx, MMDX_E_IO, path, NULL, "not a regular file");
    if (static_cast<uint64_t>(sb.st_size) > maxb)
        return FAIL(ctx, MMDX_E_LIMIT, path, NULL,
                    "file of %lld bytes exceeds the limit of %llu",
                    static_cast<long long>(sb.st_size),
                    static_cast<unsigned long long>(maxb));
    return MMDX_OK;
}

extern "C" enum mmdx_status
mmdx__dicom_read_file_to(struct mmdx_ctx *ctx, const char *path,
                         const struct mmdx_dicom_limits *limits,
                         unsigned flags, const struct mmdx_dicom_dest *dest,
                         struct mmdx_dicom_file **out)
{
    uint64_t maxb = limits && limits->max_file_bytes
                        ? limits->max_file_bytes
                        : MMDX_DICOM_MAX_FILE_BYTES;
    enum mmdx_status st;

    *out = NULL;
    st = check_input_file(ctx, path, maxb);
    if (st)
        return st;
    return read_guarded(ctx, path, path, limits, flags, out, dest);
}

extern "C" enum mmdx_status
mmdx__dicom_read_file(struct mmdx_ctx *ctx, const char *path,
                      const struct mmdx_dicom_limits *limits, unsigned flags,
                      struct mmdx_dicom_file **out)
{
    return mmdx__dicom_read_file_to(ctx, path, limits, flags, NULL, out);
}

/* ---- writer ---------------------------------------------------------------------------- */

static std::string fmt_ds(double v)
{
    char b[32];

    /* DS holds at most 16 characters */
    snprintf(b, sizeof(b), "%.10g", v);
    if (strlen(b) > 16)
        snprintf(b, sizeof(b), "%.6g", v);
    return b;
}

static enum mmdx_status put(struct mmdx_ctx *ctx, const char *path,
                            DcmDataset *ds, const DcmTagKey &key,
                            const std::string &v)
{
    OFCondition c = ds->putAndInsertString(key, v.c_str());
    char field[64];

    if (c.bad())
        return FAIL(ctx, MMDX_E_INTERNAL, path,
                    tag_name(key, field, sizeof(field)), "cannot set: %s",
                    c.text());
    return MMDX_OK;
}

/* The patient, study and series attributes every object our writers
 * make (CT, RTSTRUCT, SEG) carries: the given UIDs, patient id, instance
 * number and manufacturer, the other type 2 attributes empty, series 1. */
static enum mmdx_status put_fixture_ids(struct mmdx_ctx *ctx,
                                        const char *path, DcmDataset *ds,
                                        const char *patient_id,
                                        const char *sop, const char *study,
                                        const char *series,
                                        const std::string &instance,
                                        const char *manufacturer)
{
    const struct {
        DcmTagKey key;
        const char *v;
    } attrs[] = {
        { DCM_SOPInstanceUID, sop },
        { DCM_StudyInstanceUID, study },
        { DCM_SeriesInstanceUID, series },
        { DCM_PatientName, "" },
        { DCM_PatientID, patient_id },
        { DCM_PatientBirthDate, "" },
        { DCM_PatientSex, "" },
        { DCM_StudyDate, "" },
        { DCM_StudyTime, "" },
        { DCM_ReferringPhysicianName, "" },
        { DCM_StudyID, "" },
        { DCM_AccessionNumber, "" },
        { DCM_SeriesNumber, "1" },
        { DCM_InstanceNumber, instance.c_str() },
        { DCM_Manufacturer, manufacturer },
    };
    enum mmdx_status st = MMDX_OK;

    for (size_t i = 0; i < sizeof(attrs) / sizeof(attrs[0]) && !st; i++)
        st = put(ctx, path, ds, attrs[i].key, attrs[i].v);
    return st;
}

/* Serialise a file format into memory in the given transfer syntax, then
 * write it atomically (0640). */
static enum mmdx_status write_fileformat(struct mmdx_ctx *ctx,
                                         const char *path, DcmFileFormat &ff,
                                         E_TransferSyntax xfer)
{
    std::vector<char> bytes;
    std::vector<char> chunk(1 << 16);
    DcmOutputBufferStream os(chunk.data(), chunk.size());
    OFCondition c;

    ff.transferInit();
    do {
        void *b = NULL;
        offile_off_t n = 0;

        c = ff.write(os, xfer, EET_ExplicitLength, NULL);
        os.flushBuffer(b, n);
        bytes.insert(bytes.end(), static_cast<char *>(b),
                     static_cast<char *>(b) + n);
    } while (c == EC_StreamNotifyClient);
    ff.transferEnd();
    if (c.bad())
        return FAIL(ctx, MMDX_E_INTERNAL, path, NULL, "cannot serialise: %s",
                    c.text());
    return mmdx__file_write_atomic(ctx, path, bytes.data(), bytes.size());
}

/* The transfer syntax a writer was asked for, into *xfer. */
static enum mmdx_status ts_xfer(struct mmdx_ctx *ctx, const char *path,
                                enum mmdx_dicom_ts ts, E_TransferSyntax *xfer)
{
    if (ts == MMDX_DICOM_TS_EXPLICIT_LE)
        *xfer = EXS_LittleEndianExplicit;
    else if (ts == MMDX_DICOM_TS_RLE)
        *xfer = EXS_RLELossless;
    else if (ts == MMDX_DICOM_TS_JPEGLS)
        *xfer = EXS_JPEGLSLossless;
    else
        return FAIL(ctx, MMDX_E_INVAL, path, NULL,
                    "unknown transfer syntax %d", static_cast<int>(ts));
    return MMDX_OK;
}

/* Encode the dataset's pixel data for xfer (RLE or JPEG-LS lossless;
 * nothing to do for explicit VR little endian). */
static enum mmdx_status encode_pixels(struct mmdx_ctx *ctx, const char *path,
                                      DcmDataset *ds, E_TransferSyntax xfer)
{
    if (xfer == EXS_LittleEndianExplicit)
        return MMDX_OK;
    DcmRLERepresentationParameter rle;
    DJLSRepresentationParameter jls(0, OFTrue);
    const DcmRepresentationParameter *rp =
        xfer == EXS_RLELossless
            ? static_cast<const DcmRepresentationParameter *>(&rle)
            : static_cast<const DcmRepresentationParameter *>(&jls);
    OFCondition c = ds->chooseRepresentation(xfer, rp);

    if (c.bad() || !ds->canWriteXfer(xfer))
        return FAIL(ctx, MMDX_E_INTERNAL, path, "PixelData (7FE0,0010)",
                    "cannot encode as %s: %s", DcmXfer(xfer).getXferName(),
                    c.text());
    return MMDX_OK;
}

static enum mmdx_status write_impl(struct mmdx_ctx *ctx, const char *path,
                                   const struct mmdx_dicom_ct *w)
{
    DcmFileFormat ff;
    DcmDataset *ds = ff.getDataset();
    char study[100], series[100], sop[100], frame[100];
    enum mmdx_status st = MMDX_OK;
    E_TransferSyntax xfer = EXS_LittleEndianExplicit;
    const double *o = w->orientation;
    bool axial = true;

    for (int k = 0; k < 6; k++)
        axial = axial && o[k] == 0;
    st = ts_xfer(ctx, path, w->ts, &xfer);
    if (st)
        return st;
    copy_str(study, sizeof(study), w->study_uid);
    copy_str(series, sizeof(series), w->series_uid);
    copy_str(sop, sizeof(sop), w->sop_uid);
    if (!w->study_uid)
        dcmGenerateUniqueIdentifier(study, SITE_STUDY_UID_ROOT);
    if (!w->series_uid)
        dcmGenerateUniqueIdentifier(series, SITE_SERIES_UID_ROOT);
    if (!w->sop_uid)
        dcmGenerateUniqueIdentifier(sop, SITE_INSTANCE_UID_ROOT);
    /* One frame of reference per series, derived from it. */
    snprintf(frame, sizeof(frame), "%.60s.1", series);
    if (strlen(frame) > 64)
        dcmGenerateUniqueIdentifier(frame, SITE_SERIES_UID_ROOT);

    struct {
        DcmTagKey key;
        std::string v;
    } attrs[] = {
        { DCM_SOPClassUID, UID_CTImageStorage },
        { DCM_FrameOfReferenceUID, frame },
        { DCM_Modality, "CT" },
        { DCM_ImageType, "ORIGINAL\\PRIMARY\\AXIAL" },
        { DCM_PositionReferenceIndicator, "" },
        { DCM_KVP, "" },
        { DCM_AcquisitionNumber, "" },
        { DCM_ImagePositionPatient,
          fmt_ds(w->position_mm[0]) + "\\" + fmt_ds(w->position_mm[1]) +
              "\\" + fmt_ds(w->position_mm[2]) },
        { DCM_ImageOrientationPatient,
          axial ? std::string("1\\0\\0\\0\\1\\0")
                : fmt_ds(o[0]) + "\\" + fmt_ds(o[1]) + "\\" + fmt_ds(o[2]) +
                      "\\" + fmt_ds(o[3]) + "\\" + fmt_ds(o[4]) + "\\" +
                      fmt_ds(o[5]) },
        { DCM_SliceThickness, fmt_ds(w->slice_thickness_mm) },
        { DCM_PixelSpacing,
          fmt_ds(w->pixel_spacing_mm[0]) + "\\" +
              fmt_ds(w->pixel_spacing_mm[1]) },
        { DCM_PhotometricInterpretation, "MONOCHROME2" },
        { DCM_RescaleIntercept, fmt_ds(w->intercept) },
        { DCM_RescaleSlope, fmt_ds(w->slope) },
        { DCM_RescaleType, "HU" },
    };
    for (size_t i = 0; i < sizeof(attrs) / sizeof(attrs[0]) && !st; i++)
        st = put(ctx, path, ds, attrs[i].key, attrs[i].v);
    if (!st)
        st = put_fixture_ids(ctx, path, ds, w->patient_id, sop, study,
                             series, std::to_string(w->instance_number),
                             "mmdx synthetic");
    if (st)
        return st;
    if (ds->putAndInsertUint16(DCM_SamplesPerPixel, 1).bad() ||
        ds->putAndInsertUint16(DCM_Rows, static_cast<Uint16>(w->rows)).bad() ||
        ds->putAndInsertUint16(DCM_Columns, static_cast<Uint16>(w->cols)).bad() ||
        ds->putAndInsertUint16(DCM_BitsAllocated, 16).bad() ||
        ds->putAndInsertUint16(DCM_BitsStored, 16).bad() ||
        ds->putAndInsertUint16(DCM_HighBit, 15).bad() ||
        ds->putAndInsertUint16(DCM_PixelRepresentation, 1).bad() ||
        ds->putAndInsertUint16Array(
              DCM_PixelData, reinterpret_cast<const Uint16 *>(w->pixels),
              static_cast<unsigned long>(w->rows) * w->cols).bad())
        return FAIL(ctx, MMDX_E_INTERNAL, path, "PixelData (7FE0,0010)",
                    "cannot set the image attributes");
    for (size_t i = 0; i < w->nextra; i++) {
        DcmTag tag(w->extra[i].group, w->extra[i].element);
        char field[64];

        if (!w->extra[i].value)
            continue;
        if (tag.getEVR() == EVR_UN || tag.getEVR() == EVR_UNKNOWN ||
            (w->extra[i].group & 1))
            tag.setVR(EVR_LO);
        if (tag.getEVR() == EVR_SQ || tag.getEVR() == EVR_OB ||
            tag.getEVR() == EVR_OW)
            return FAIL(ctx, MMDX_E_INVAL, path,
                        tag_name(tag, field, sizeof(field)),
                        "extra attributes must have a string VR");
        if (ds->putAndInsertString(tag, w->extra[i].value).bad())
            return FAIL(ctx, MMDX_E_INVAL, path,
                        tag_name(tag, field, sizeof(field)),
                        "cannot set the extra attribute");
    }
    st = encode_pixels(ctx, path, ds, xfer);
    if (st)
        return st;
    return write_fileformat(ctx, path, ff, xfer);
}

extern "C" enum mmdx_status
mmdx__dicom_write_ct(struct mmdx_ctx *ctx, const char *path,
                     const struct mmdx_dicom_ct *w)
{
    if (!w || !w->pixels || !w->rows || !w->cols || w->rows > 65535 ||
        w->cols > 65535 || !w->patient_id || !w->patient_id[0] ||
        !(w->pixel_spacing_mm[0] > 0) || !(w->pixel_spacing_mm[1] > 0) ||
        !(w->slope != 0) || !std::isfinite(w->slope) ||
        !std::isfinite(w->intercept))
        return FAIL(ctx, MMDX_E_INVAL, path, NULL,
                    "invalid CT slice description (pixels, size, pseudonym, "
                    "spacing > 0 and a non-zero slope are required)");
    try {
        setup();
        return write_impl(ctx, path, w);
    } catch (const std::bad_alloc &) {
        return FAIL(ctx, MMDX_E_NOMEM, path, NULL, "out of memory in DCMTK");
    } catch (...) {
        return FAIL(ctx, MMDX_E_INTERNAL, path, NULL,
                    "DCMTK raised an exception");
    }
}

/* ---- ECG waveform ----------------------------------------------------------------------- */

static double unit_to_mv(const std::string &u)
{
    if (u == "uV" || u == "UV" || u == "microvolt")
        return 1e-3;
    if (u == "mV" || u == "MV" || u == "millivolt")
        return 1;
    if (u == "V" || u == "volt")
        return 1e3;
    return NAN;
}

static enum mmdx_status wave_impl(struct mmdx_ctx *ctx, const char *path,
                                  struct mmdx_dicom_waveform *out)
{
    enum mmdx_status st;
    fd_guard keep;  /* before ff: closed after it */
    DcmFileFormat ff;

    st = parse_file(ctx, path, path, ff, keep);
    if (st)
        return st;
    DcmDataset *ds = ff.getDataset();
    {
        id_list ids;

        if (!collect_ids(ds, ids, 0) || !ids.take(&out->ids, &out->nids))
            return FAIL(ctx, MMDX_E_NOMEM, NULL, NULL, "out of memory");
    }
    DcmSequenceOfItems *wseq = NULL;
    if (ds->findAndGetSequence(DCM_WaveformSequence, wseq).bad() || !wseq ||
        !wseq->card())
        return FAIL(ctx, MMDX_E_UNSUPPORTED, path,
                    "WaveformSequence (5400,0100)",
                    "not a waveform: no multiplex group");
    DcmItem *grp = NULL;
    for (unsigned long i = 0; i < wseq->card() && !grp; i++)
        if (get_str(wseq->getItem(i), DCM_MultiplexGroupLabel, NULL) ==
            "RHYTHM")
            grp = wseq->getItem(i);
    for (unsigned long i = 0; i < wseq->card() && !grp; i++)
        if (get_str(wseq->getItem(i), DCM_WaveformOriginality, NULL) ==
            "ORIGINAL")
            grp = wseq->getItem(i);
    if (!grp)
        grp = wseq->getItem(0);
    copy_str(out->group_label, sizeof(out->group_label),
             get_str(grp, DCM_MultiplexGroupLabel, NULL).c_str());

    unsigned nch = 0, bits = 0;
    Uint32 ns = 0;
    double fs = 0;
    if (!get_u16(grp, DCM_NumberOfWaveformChannels, &nch) || !nch ||
        nch > 256)
        return FAIL(ctx, MMDX_E_FORMAT, path,
                    "NumberOfWaveformChannels (003A,0005)",
                    "missing or out of range 1..256");
    if (grp->findAndGetUint32(DCM_NumberOfWaveformSamples, ns).bad() || !ns ||
        ns > 100000000u)
        return FAIL(ctx, MMDX_E_FORMAT, path,
                    "NumberOfWaveformSamples (003A,0010)",
                    "missing or out of range 1..1e8");
    if (get_num(grp, DCM_SamplingFrequency, 0, &fs) != 1 || !(fs > 0) ||
        fs > 1e6)
        return FAIL(ctx, MMDX_E_FORMAT, path, "SamplingFrequency (003A,001A)",
                    "missing or not a positive frequency up to 1 MHz");
    if (!get_u16(grp, DCM_WaveformBitsAllocated, &bits) ||
        (bits != 8 && bits != 16 && bits != 32))
        return FAIL(ctx, MMDX_E_UNSUPPORTED, path,
                    "WaveformBitsAllocated (5400,1004)",
                    "missing or not 8, 16 or 32");
    std::string interp = get_str(grp, DCM_WaveformSampleInterpretation, NULL);
    bool sgn = interp == "SS" || interp == "SB" || interp == "SL";
    if (!sgn && interp != "US" && interp != "UB" && interp != "UL")
        return FAIL(ctx, MMDX_E_UNSUPPORTED, path,
                    "WaveformSampleInterpretation (5400,1006)",
                    "unsupported \"%.8s\" (SB, UB, SS, US, SL, UL)",
                    interp.c_str());
    DcmElement *el = NULL;
    Uint8 *raw = NULL;
    if (grp->findAndGetElement(DCM_WaveformData, el).bad() || !el)
        return FAIL(ctx, MMDX_E_FORMAT, path, "WaveformData (5400,1010)",
                    "missing");
    unsigned long have = el->getLength();
    uint64_t need = static_cast<uint64_t>(nch) * ns * (bits / 8);
    if (have < need)
        return FAIL(ctx, MMDX_E_FORMAT, path, "WaveformData (5400,1010)",
                    "holds %lu bytes, %u channels x %lu samples need %llu",
                    have, nch, static_cast<unsigned long>(ns),
                    static_cast<unsigned long long>(need));
    if (el->getVR() == EVR_OW) {
        Uint16 *w16 = NULL;

        if (el->getUint16Array(w16).bad() || !w16)
            return FAIL(ctx, MMDX_E_FORMAT, path, "WaveformData (5400,1010)",
                        "unreadable");
        raw = reinterpret_cast<Uint8 *>(w16);
    } else if (el->getUint8Array(raw).bad() || !raw) {
        return FAIL(ctx, MMDX_E_FORMAT, path, "WaveformData (5400,1010)",
                    "unreadable");
    }
    out->sig = mmdx__dicom_sig_new(nch);
    if (!out->sig)
        return FAIL(ctx, MMDX_E_NOMEM, NULL, NULL, "out of memory");
    for (unsigned c = 0; c < nch; c++) {
        DcmItem *cd = seq_item(grp, DCM_ChannelDefinitionSequence,
                               static_cast<long>(c));
        std::string label, unit;
        double sens = 1, corr = 1, base = 0, k;
        char lab[32];

        if (cd) {
            label = get_str(seq_item(cd, DCM_ChannelSourceSequence, 0),
                            DCM_CodeMeaning, NULL);
            unit = get_str(seq_item(cd, DCM_ChannelSensitivityUnitsSequence, 0),
                           DCM_CodeValue, NULL);
            if (get_num(cd, DCM_ChannelSensitivity, 0, &sens) == -1 ||
                get_num(cd, DCM_ChannelSensitivityCorrectionFactor, 0,
                        &corr) == -1 ||
                get_num(cd, DCM_ChannelBaseline, 0, &base) == -1)
                return FAIL(ctx, MMDX_E_FORMAT, path,
                            "ChannelDefinitionSequence (003A,0200)",
                            "channel %u: sensitivity, correction or baseline "
                            "is not a number", c + 1);
        }
        if (label.empty()) {
            snprintf(lab, sizeof(lab), "ch%u", c + 1);
            label = lab;
        }
        k = unit.empty() ? 1e-3 : unit_to_mv(unit);  /* default uV */
        if (std::isnan(k))
            return FAIL(ctx, MMDX_E_UNSUPPORTED, path,
                        "ChannelSensitivityUnitsSequence (003A,0211)",
                        "channel %u: unit \"%.16s\" is not a voltage", c + 1,
                        unit.c_str());
        float *dst = mmdx__dicom_sig_channel(out->sig, c, label.c_str(), fs,
                                             ns);
        if (!dst)
            return FAIL(ctx, MMDX_E_NOMEM, NULL, NULL, "out of memory");
        double scale = sens * corr * k;
        for (Uint32 i = 0; i < ns; i++) {
            size_t j = static_cast<size_t>(i) * nch + c;
            double v;

            if (bits == 8)
                v = sgn ? static_cast<double>(static_cast<int8_t>(raw[j]))
                        : raw[j];
            else if (bits == 16) {
                uint16_t u = static_cast<uint16_t>(raw[2 * j] |
                                                   (raw[2 * j + 1] << 8));
                v = sgn ? static_cast<double>(static_cast<int16_t>(u)) : u;
            } else {
                uint32_t u = static_cast<uint32_t>(raw[4 * j]) |
                             (static_cast<uint32_t>(raw[4 * j + 1]) << 8) |
                             (static_cast<uint32_t>(raw[4 * j + 2]) << 16) |
                             (static_cast<uint32_t>(raw[4 * j + 3]) << 24);
                v = sgn ? static_cast<double>(static_cast<int32_t>(u)) : u;
            }
            dst[i] = static_cast<float>((v + base) * scale);
        }
    }
    return MMDX_OK;
}

extern "C" enum mmdx_status
mmdx__dicom_read_waveform(struct mmdx_ctx *ctx, const char *path,
                          struct mmdx_dicom_waveform *out)
{
    enum mmdx_status st;

    memset(out, 0, sizeof(*out));
    try {
        setup();
        st = wave_impl(ctx, path, out);
    } catch (const std::bad_alloc &) {
        st = FAIL(ctx, MMDX_E_NOMEM, path, NULL, "out of memory in DCMTK");
    } catch (...) {
        st = FAIL(ctx, MMDX_E_INTERNAL, path, NULL,
                  "DCMTK raised an exception");
    }
    if (st)
        mmdx__dicom_waveform_fini(out);
    return st;
}

/* ---- RT Structure Set ---------------------------------------------------------------------
 *
 * Only geometry is read: the chosen ROI's contours as patient-coordinate
 * points. The rasterisation onto an image is C code (mask_rtstruct.c).
 * ROI names are compared but never put in a message (they are free text
 * typed at the planning system). */

static bool ieq(const std::string &a, const char *b)
{
    size_t n = strlen(b);

    if (a.size() != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        char x = a[i], y = b[i];

        if (x >= 'A' && x <= 'Z')
            x = static_cast<char>(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z')
            y = static_cast<char>(y - 'A' + 'a');
        if (x != y)
            return false;
    }
    return true;
}

static bool looks_rtstruct(DcmDataset *ds)
{
    return dataset_kind(ds) == MMDX_DICOM_KIND_RTSTRUCT;
}

/* Parse ContourData ("x\y\z\x\...") strictly into dst (3 * npts values). */
static enum mmdx_status parse_contour(struct mmdx_ctx *ctx, const char *path,
                                      const char *field, const OFString &s,
                                      double *dst, size_t nvals)
{
    size_t i = 0, k = 0, n = s.length();
    const char *p = s.c_str();

    while (k < nvals) {
        char tok[40];
        size_t b = i, e;
        double v;

        while (i < n && p[i] != '\\')
            i++;
        e = i;
        while (b < e && (p[b] == ' ' || p[b] == '\0'))
            b++;
        while (e > b && (p[e - 1] == ' ' || p[e - 1] == '\0'))
            e--;
        if (e - b == 0 || e - b >= sizeof(tok))
            return FAIL(ctx, MMDX_E_FORMAT, path, field,
                        "value %zu is empty or longer than a decimal string",
                        k + 1);
        memcpy(tok, p + b, e - b);
        tok[e - b] = '\0';
        if (!mmdx__parse_double(tok, &v) || !std::isfinite(v) ||
            std::fabs(v) > 1e7)
            return FAIL(ctx, MMDX_E_FORMAT, path, field,
                        "value %zu is not a coordinate in mm", k + 1);
        dst[k++] = v;
        if (i >= n)
            break;
        i++;   /* past the backslash */
    }
    if (k != nvals || i < n)
        return FAIL(ctx, MMDX_E_FORMAT, path, field,
                    "holds %s values than 3 x NumberOfContourPoints (%zu)",
                    k != nvals ? "fewer" : "more", nvals);
    return MMDX_OK;
}

static enum mmdx_status rt_impl(struct mmdx_ctx *ctx, const char *path,
                                const char *fspath, const char *roi_name,
                                struct mmdx_dicom_rtstruct *out)
{
    fd_guard keep;  /* before ff: closed after it */
    DcmFileFormat ff;
    enum mmdx_status st = parse_file(ctx, path, fspath, ff, keep);
    char field[96];

    if (st)
        return st;
    DcmDataset *ds = ff.getDataset();
    {
        id_list ids;

        if (!collect_ids(ds, ids, 0) || !ids.take(&out->ids, &out->nids))
            return FAIL(ctx, MMDX_E_NOMEM, NULL, NULL, "out of memory");
    }
    if (!looks_rtstruct(ds))
        return FAIL(ctx, MMDX_E_UNSUPPORTED, path, "SOPClassUID (0008,0016)",
                    "not an RT Structure Set");
    DcmSequenceOfItems *rois = NULL;
    if (ds->findAndGetSequence(DCM_StructureSetROISequence, rois).bad() ||
        !rois || !rois->card())
        return FAIL(ctx, MMDX_E_FORMAT, path,
                    "StructureSetROISequence (3006,0020)",
                    "missing or empty: the file defines no ROI");
    out->nroi = rois->card();
    long pick = -1;
    if (!roi_name || !roi_name[0]) {
        pick = 0;
    } else {
        for (unsigned long i = 0; i < rois->card() && pick < 0; i++)
            if (get_str(rois->getItem(i), DCM_ROIName, NULL) == roi_name)
                pick = static_cast<long>(i);
        for (unsigned long i = 0; i < rois->card() && pick < 0; i++)
            if (ieq(get_str(rois->getItem(i), DCM_ROIName, NULL), roi_name))
                pick = static_cast<long>(i);
        if (pick < 0)
            return FAIL(ctx, MMDX_E_NOTFOUND, path, "ROIName (3006,0026)",
                        "no ROI of the requested name among the %zu ROIs of "
                        "StructureSetROISequence", out->nroi);
    }
    out->roi_index = static_cast<size_t>(pick);
    double num;
    snprintf(field, sizeof(field),
             "StructureSetROISequence[%ld].ROINumber (3006,0022)", pick + 1);
    if (get_num(rois->getItem(static_cast<unsigned long>(pick)),
                DCM_ROINumber, 0, &num) != 1 ||
        num != std::floor(num) || std::fabs(num) > 1e9)
        return FAIL(ctx, MMDX_E_FORMAT, path, field,
                    "missing or not an integer");
    out->roi_number = static_cast<long>(num);

    DcmSequenceOfItems *rcs = NULL;
    DcmItem *rc = NULL;
    if (ds->findAndGetSequence(DCM_ROIContourSequence, rcs).good() && rcs)
        for (unsigned long i = 0; i < rcs->card() && !rc; i++) {
            double r;

            if (get_num(rcs->getItem(i), DCM_ReferencedROINumber, 0, &r) ==
                    1 &&
                r == num)
                rc = rcs->getItem(i);
        }
    if (!rc)
        return FAIL(ctx, MMDX_E_FORMAT, path, "ROIContourSequence (3006,0039)",
                    "no item references ROINumber %ld", out->roi_number);
    DcmSequenceOfItems *cs = NULL;
    if (rc->findAndGetSequence(DCM_ContourSequence, cs).bad() || !cs ||
        !cs->card())
        return MMDX_OK;   /* an ROI without contours: empty, said later */
    if (cs->card() > MMDX_RT_MAX_CONTOURS)
        return FAIL(ctx, MMDX_E_LIMIT, path, "ContourSequence (3006,0040)",
                    "%lu contours exceed the limit of %u", cs->card(),
                    MMDX_RT_MAX_CONTOURS);
    out->c = static_cast<mmdx_rt_contour *>(
        mmdx__calloc(cs->card(), sizeof(mmdx_rt_contour)));
    if (!out->c)
        return FAIL(ctx, MMDX_E_NOMEM, NULL, NULL, "out of memory");
    for (unsigned long i = 0; i < cs->card(); i++) {
        DcmItem *ci = cs->getItem(i);
        mmdx_rt_contour *c = &out->c[out->ncontours];
        std::string type = get_str(ci, DCM_ContourGeometricType, NULL);
        DcmElement *el = NULL;
        OFString data;
        double np;
        int got;
        size_t vm;

        out->ncontours++;
        snprintf(field, sizeof(field),
                 "ContourSequence[%lu].NumberOfContourPoints (3006,0046)",
                 i + 1);
        got = get_num(ci, DCM_NumberOfContourPoints, 0, &np);
        if (got == -1 || (got == 1 && (np < 1 || np != std::floor(np))))
            return FAIL(ctx, MMDX_E_FORMAT, path, field,
                        "not a positive integer");
        snprintf(field, sizeof(field),
                 "ContourSequence[%lu].ContourData (3006,0050)", i + 1);
        if (ci->findAndGetElement(DCM_ContourData, el).bad() || !el)
            return FAIL(ctx, MMDX_E_FORMAT, path, field, "missing");
        if (el->getLength() > 40ul * 3 * MMDX_RT_MAX_POINTS)
            return FAIL(ctx, MMDX_E_LIMIT, path, field,
                        "%lu bytes exceed the limit", 
                        static_cast<unsigned long>(el->getLength()));
        vm = el->getVM();
        if (got == 0)
            np = static_cast<double>(vm / 3);
        if (vm % 3 || vm / 3 != static_cast<size_t>(np) || !vm)
            return FAIL(ctx, MMDX_E_FORMAT, path, field,
                        "%zu values: not 3 x NumberOfContourPoints (%.0f)",
                        vm, np);
        if (np > MMDX_RT_MAX_POINTS ||
            out->npoints + static_cast<size_t>(np) > MMDX_RT_MAX_POINTS)
            return FAIL(ctx, MMDX_E_LIMIT, path, field,
                        "more than %u contour points in the ROI",
                        MMDX_RT_MAX_POINTS);
        c->npts = static_cast<size_t>(np);
        c->closed = type == "CLOSED_PLANAR" || type == "CLOSEDPLANAR_XOR";
        c->pts_mm = static_cast<double *>(
            mmdx__malloc(3 * c->npts * sizeof(double)));
        if (!c->pts_mm)
            return FAIL(ctx, MMDX_E_NOMEM, NULL, NULL, "out of memory");
        out->npoints += c->npts;
        if (el->getOFStringArray(data).bad())
            return FAIL(ctx, MMDX_E_FORMAT, path, field, "unreadable");
        st = parse_contour(ctx, path, field, data, c->pts_mm, 3 * c->npts);
        if (st)
            return st;
    }
    return MMDX_OK;
}

static enum mmdx_status rt_guarded(struct mmdx_ctx *ctx, const char *path,
                                   const char *fspath, const char *roi_name,
                                   struct mmdx_dicom_rtstruct *out)
{
    enum mmdx_status st;

    memset(out, 0, sizeof(*out));
    try {
        setup();
        st = rt_impl(ctx, path, fspath, roi_name, out);
    } catch (const std::bad_alloc &) {
        st = FAIL(ctx, MMDX_E_NOMEM, path, NULL, "out of memory in DCMTK");
    } catch (...) {
        st = FAIL(ctx, MMDX_E_INTERNAL, path, NULL,
                  "DCMTK raised an exception");
    }
    if (st)
        mmdx__dicom_rtstruct_fini(out);
    return st;
}

extern "C" void mmdx__dicom_rtstruct_fini(struct mmdx_dicom_rtstruct *rt)
{
    if (!rt)
        return;
    for (size_t i = 0; i < rt->ncontours; i++)
        mmdx__free(rt->c[i].pts_mm);
    mmdx__free(rt->c);
    mmdx__dicom_ids_free(rt->ids, rt->nids);
    memset(rt, 0, sizeof(*rt));
}

extern "C" enum mmdx_status
mmdx__dicom_read_rtstruct(struct mmdx_ctx *ctx, const char *path,
                          const char *roi_name,
                          struct mmdx_dicom_rtstruct *out)
{
    enum mmdx_status st;

    memset(out, 0, sizeof(*out));
    st = check_input_file(ctx, path, MMDX_DICOM_MAX_FILE_BYTES);
    if (st)
        return st;
    return rt_guarded(ctx, path, path, roi_name, out);
}

extern "C" enum mmdx_status
mmdx__dicom_read_rtstruct_mem(struct mmdx_ctx *ctx, const char *path,
                              const void *data, size_t len,
                              const char *roi_name,
                              struct mmdx_dicom_rtstruct *out)
{
    char fspath[64];
    int fd;
    enum mmdx_status st;

    memset(out, 0, sizeof(*out));
    st = memfile(ctx, path, "mmdx-rtstruct", data, len, &fd, fspath);
    if (st)
        return st;
    st = rt_guarded(ctx, path, fspath, roi_name, out);
    close(fd);
    return st;
}

extern "C" enum mmdx_dicom_kind mmdx__dicom_kind(const char *path)
{
    struct stat sb;

    if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode) ||
        static_cast<uint64_t>(sb.st_size) > MMDX_DICOM_MAX_FILE_BYTES)
        return MMDX_DICOM_KIND_OTHER;
    try {
        fd_guard keep;  /* before ff: closed after it */
        DcmFileFormat ff;

        setup();
        /* SOPClassUID (0008,0016) and Modality (0008,0060) are all it
         * needs: stop before (0008,0061) */
        if (parse_file(NULL, path, path, ff, keep, DcmTagKey(0x0008, 0x0061)))
            return MMDX_DICOM_KIND_OTHER;
        return dataset_kind(ff.getDataset());
    } catch (...) {
        return MMDX_DICOM_KIND_OTHER;
    }
}

extern "C" bool mmdx__dicom_is_rtstruct(const char *path)
{
    struct stat sb;

    if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode) ||
        static_cast<uint64_t>(sb.st_size) > MMDX_DICOM_MAX_FILE_BYTES)
        return false;
    try {
        fd_guard keep;  /* before ff: closed after it */
        DcmFileFormat ff;

        setup();
        if (parse_file(NULL, path, path, ff, keep))
            return false;
        return looks_rtstruct(ff.getDataset());
    } catch (...) {
        return false;
    }
}

static enum mmdx_status rt_write_impl(struct mmdx_ctx *ctx, const char *path,
                                      const struct mmdx_dicom_rt_write *w)
{
    DcmFileFormat ff;
    DcmDataset *ds = ff.getDataset();
    char study[100], series[100], sop[100], frame[100];
    enum mmdx_status st = MMDX_OK;

    dcmGenerateUniqueIdentifier(study, SITE_STUDY_UID_ROOT);
    dcmGenerateUniqueIdentifier(series, SITE_SERIES_UID_ROOT);
    dcmGenerateUniqueIdentifier(sop, SITE_INSTANCE_UID_ROOT);
    if (w->frame_uid)
        copy_str(frame, sizeof(frame), w->frame_uid);
    else
        dcmGenerateUniqueIdentifier(frame, SITE_SERIES_UID_ROOT);
    struct {
        DcmTagKey key;
        std::string v;
    } attrs[] = {
        { DCM_SOPClassUID, UID_RTStructureSetStorage },
        { DCM_Modality, "RTSTRUCT" },
        { DCM_StructureSetLabel, "mmdx" },
        { DCM_StructureSetDate, "" },
        { DCM_StructureSetTime, "" },
    };
    for (size_t i = 0; i < sizeof(attrs) / sizeof(attrs[0]) && !st; i++)
        st = put(ctx, path, ds, attrs[i].key, attrs[i].v);
    if (!st)
        st = put_fixture_ids(ctx, path, ds, w->patient_id, sop, study,
                             series, "1", "mmdx test fixture");
    if (st)
        return st;
    {
        DcmItem *it = NULL;

        if (ds->findOrCreateSequenceItem(
                  DCM_ReferencedFrameOfReferenceSequence, it, -2).bad() ||
            it->putAndInsertString(DCM_FrameOfReferenceUID, frame).bad())
            return FAIL(ctx, MMDX_E_INTERNAL, path, NULL,
                        "cannot build ReferencedFrameOfReferenceSequence");
    }
    for (size_t r = 0; r < w->nroi; r++) {
        const mmdx_dicom_rt_roi *roi = &w->rois[r];
        std::string num = std::to_string(r + 1);
        DcmItem *ss = NULL, *rc = NULL, *ob = NULL;

        if (ds->findOrCreateSequenceItem(DCM_StructureSetROISequence, ss,
                                         -2).bad() ||
            ss->putAndInsertString(DCM_ROINumber, num.c_str()).bad() ||
            ss->putAndInsertString(DCM_ReferencedFrameOfReferenceUID,
                                   frame).bad() ||
            ss->putAndInsertString(DCM_ROIName,
                                   roi->name ? roi->name : "").bad() ||
            ss->putAndInsertString(DCM_ROIGenerationAlgorithm,
                                   "MANUAL").bad() ||
            ds->findOrCreateSequenceItem(DCM_ROIContourSequence, rc,
                                         -2).bad() ||
            rc->putAndInsertString(DCM_ROIDisplayColor, "255\\0\\0").bad() ||
            rc->putAndInsertString(DCM_ReferencedROINumber,
                                   num.c_str()).bad() ||
            ds->findOrCreateSequenceItem(DCM_RTROIObservationsSequence, ob,
                                         -2).bad() ||
            ob->putAndInsertString(DCM_ObservationNumber, num.c_str()).bad() ||
            ob->putAndInsertString(DCM_ReferencedROINumber,
                                   num.c_str()).bad() ||
            ob->putAndInsertString(DCM_RTROIInterpretedType, "GTV").bad() ||
            ob->putAndInsertString(DCM_ROIInterpreter, "").bad())
            return FAIL(ctx, MMDX_E_INTERNAL, path, NULL,
                        "cannot build the ROI sequences");
        for (size_t c = 0; c < roi->ncontours; c++) {
            DcmItem *ci = NULL;
            std::string data;

            for (size_t k = 0; k < 3 * roi->npts[c]; k++) {
                if (k)
                    data += "\\";
                data += fmt_ds(roi->pts_mm[c][k]);
            }
            if (rc->findOrCreateSequenceItem(DCM_ContourSequence, ci,
                                             -2).bad() ||
                ci->putAndInsertString(DCM_ContourGeometricType,
                                       roi->geometric_type
                                           ? roi->geometric_type
                                           : "CLOSED_PLANAR").bad() ||
                ci->putAndInsertString(
                      DCM_NumberOfContourPoints,
                      std::to_string(roi->npts[c]).c_str()).bad() ||
                ci->putAndInsertOFStringArray(DCM_ContourData,
                                              data.c_str()).bad())
                return FAIL(ctx, MMDX_E_INTERNAL, path, NULL,
                            "cannot build ContourSequence");
        }
    }

    return write_fileformat(ctx, path, ff, EXS_LittleEndianExplicit);
}

extern "C" enum mmdx_status
mmdx__dicom_write_rtstruct(struct mmdx_ctx *ctx, const char *path,
                           const struct mmdx_dicom_rt_write *w)
{
    if (!w || !w->patient_id || !w->patient_id[0] || (w->nroi && !w->rois))
        return FAIL(ctx, MMDX_E_INVAL, path, NULL,
                    "invalid RT structure set description (pseudonym and "
                    "ROIs are required)");
    try {
        setup();
        return rt_write_impl(ctx, path, w);
    } catch (const std::bad_alloc &) {
        return FAIL(ctx, MMDX_E_NOMEM, path, NULL, "out of memory in DCMTK");
    } catch (...) {
        return FAIL(ctx, MMDX_E_INTERNAL, path, NULL,
                    "DCMTK raised an exception");
    }
}

/* ---- Segmentation (SEG) ----------------------------------------------------------------
 *
 * The segment structure only (PS3.3 C.8.20 Segmentation IOD): which
 * segments SegmentSequence defines, and which segment each frame belongs
 * to through the Segment Identification functional group macro
 * (ReferencedSegmentNumber in the Per-frame Functional Groups, or the
 * Shared ones). Pixels go through read_impl like any multi-frame image;
 * matching frames to an image is C code (mask_seg.c). Segment labels are
 * compared, never put in a message. */

static bool looks_seg(DcmDataset *ds)
{
    return dataset_kind(ds) == MMDX_DICOM_KIND_SEG;
}

/* ReferencedSegmentNumber of a functional-groups item: 1 found, 0 absent,
 * -1 present but unreadable. */
static int ref_segment(DcmItem *fg, long *out)
{
    DcmItem *si = seq_item(fg, DCM_SegmentIdentificationSequence, 0);
    unsigned v;

    if (!si)
        return 0;
    if (!get_u16(si, DCM_ReferencedSegmentNumber, &v))
        return -1;
    *out = static_cast<long>(v);
    return 1;
}

static enum mmdx_status seg_impl(struct mmdx_ctx *ctx, const char *path,
                                 const char *fspath,
                                 struct mmdx_dicom_seg *out)
{
    fd_guard keep;  /* before ff: closed after it */
    DcmFileFormat ff;
    enum mmdx_status st = parse_file(ctx, path, fspath, ff, keep);
    char field[128];

    if (st)
        return st;
    DcmDataset *ds = ff.getDataset();
    if (!looks_seg(ds))
        return FAIL(ctx, MMDX_E_UNSUPPORTED, path, "SOPClassUID (0008,0016)",
                    "not a Segmentation");
    std::string type = get_str(ds, DCM_SegmentationType, NULL);
    if (type == "FRACTIONAL") {
        unsigned mx;

        out->fractional = true;
        if (!get_u16(ds, DCM_MaximumFractionalValue, &mx) || mx == 0)
            return FAIL(ctx, MMDX_E_FORMAT, path,
                        "MaximumFractionalValue (0062,000E)",
                        "missing or zero in a FRACTIONAL segmentation");
        out->max_fractional = mx;
    } else if (type == "LABELMAP") {
        out->labelmap = true;
    } else if (type != "BINARY") {
        return FAIL(ctx, MMDX_E_UNSUPPORTED, path,
                    "SegmentationType (0062,0001)",
                    "expected BINARY, FRACTIONAL or LABELMAP, got \"%.16s\"",
                    type.c_str());
    }
    DcmSequenceOfItems *segs = NULL;
    if (ds->findAndGetSequence(DCM_SegmentSequence, segs).bad() || !segs ||
        !segs->card())
        return FAIL(ctx, MMDX_E_FORMAT, path, "SegmentSequence (0062,0002)",
                    "missing or empty: the object defines no segment");
    if (segs->card() > 65535)
        return FAIL(ctx, MMDX_E_LIMIT, path, "SegmentSequence (0062,0002)",
                    "%lu segments exceed the limit of 65535", segs->card());
    out->seg = static_cast<mmdx_dicom_seg_segment *>(
        mmdx__calloc(segs->card(), sizeof(mmdx_dicom_seg_segment)));
    if (!out->seg)
        return FAIL(ctx, MMDX_E_NOMEM, NULL, NULL, "out of memory");
    for (unsigned long i = 0; i < segs->card(); i++) {
        DcmItem *it = segs->getItem(i);
        mmdx_dicom_seg_segment *sg = &out->seg[out->nseg];
        unsigned num;

        out->nseg++;
        snprintf(field, sizeof(field),
                 "SegmentSequence[%lu].SegmentNumber (0062,0004)", i + 1);
        if (!get_u16(it, DCM_SegmentNumber, &num) || num == 0)
            return FAIL(ctx, MMDX_E_FORMAT, path, field,
                        "missing or zero (segments are numbered from 1)");
        for (size_t k = 0; k + 1 < out->nseg; k++)
            if (out->seg[k].number == static_cast<long>(num))
                return FAIL(ctx, MMDX_E_FORMAT, path, field,
                            "segment number %u is defined twice", num);
        sg->number = static_cast<long>(num);
        {
            /* a code is printable; keep it only when it looks like one */
            DcmItem *tc = seq_item(it, DCM_SegmentedPropertyTypeCodeSequence,
                                   0);
            std::string code = get_str(tc, DCM_CodingSchemeDesignator, NULL) +
                               ":" + get_str(tc, DCM_CodeValue, NULL);
            bool plain = code.size() > 2 && code.size() < sizeof(sg->type_code);

            for (size_t k = 0; k < code.size() && plain; k++) {
                char c = code[k];

                plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                        (c >= '0' && c <= '9') || c == '.' || c == '-' ||
                        c == '_' || c == ':';
            }
            if (plain && code[0] != ':' && code[code.size() - 1] != ':')
                copy_str(sg->type_code, sizeof(sg->type_code), code.c_str());
        }
        sg->label = mmdx__strdup(get_str(it, DCM_SegmentLabel, NULL).c_str());
        if (!sg->label)
            return FAIL(ctx, MMDX_E_NOMEM, NULL, NULL, "out of memory");
    }
    {
        std::string s = get_str(ds, DCM_NumberOfFrames, NULL);
        long nf = 1;

        if (!s.empty() && (!mmdx__parse_long(s.c_str(), &nf) || nf < 1))
            return FAIL(ctx, MMDX_E_FORMAT, path,
                        "NumberOfFrames (0028,0008)",
                        "expected a positive integer, got \"%.16s\"",
                        s.c_str());
        if (static_cast<unsigned long>(nf) > MMDX_SEG_MAX_FRAMES)
            return FAIL(ctx, MMDX_E_LIMIT, path, "NumberOfFrames (0028,0008)",
                        "%ld frames exceed the limit of %u", nf,
                        MMDX_SEG_MAX_FRAMES);
        out->nframes = static_cast<size_t>(nf);
    }
    DcmSequenceOfItems *pfs = NULL;
    if (ds->findAndGetSequence(DCM_PerFrameFunctionalGroupsSequence, pfs)
            .bad())
        pfs = NULL;
    if (pfs && pfs->card() != out->nframes)
        return FAIL(ctx, MMDX_E_FORMAT, path,
                    "PerFrameFunctionalGroupsSequence (5200,9230)",
                    "%lu items for %zu frames", pfs->card(), out->nframes);
    long shared = 0;
    int got = ref_segment(seq_item(ds, DCM_SharedFunctionalGroupsSequence, 0),
                          &shared);
    if (got < 0)
        return FAIL(ctx, MMDX_E_FORMAT, path,
                    "SharedFunctionalGroupsSequence.SegmentIdentification"
                    "Sequence.ReferencedSegmentNumber (0062,000B)",
                    "unreadable");
    if (!got && out->nseg == 1)
        shared = out->seg[0].number;
    out->frame_segment = static_cast<long *>(
        mmdx__calloc(out->nframes, sizeof(long)));
    if (!out->frame_segment)
        return FAIL(ctx, MMDX_E_NOMEM, NULL, NULL, "out of memory");
    for (size_t f = 0; f < out->nframes; f++) {
        long ref = shared;
        bool known = false;

        snprintf(field, sizeof(field),
                 "PerFrameFunctionalGroupsSequence[%zu].SegmentIdentification"
                 "Sequence.ReferencedSegmentNumber (0062,000B)", f + 1);
        got = pfs ? ref_segment(pfs->getItem(static_cast<unsigned long>(f)),
                                &ref)
                  : 0;
        if (got < 0)
            return FAIL(ctx, MMDX_E_FORMAT, path, field, "unreadable");
        if (out->labelmap) {
            out->frame_segment[f] = 0;   /* every segment, by value */
            continue;
        }
        if (!got && !shared)
            return FAIL(ctx, MMDX_E_FORMAT, path, field,
                        "missing: frame %zu names no segment (and %zu "
                        "segments are defined)", f + 1, out->nseg);
        for (size_t k = 0; k < out->nseg && !known; k++)
            known = out->seg[k].number == ref;
        if (!known)
            return FAIL(ctx, MMDX_E_FORMAT, path, field,
                        "frame %zu references segment %ld, which "
                        "SegmentSequence does not define", f + 1, ref);
        out->frame_segment[f] = ref;
    }
    return MMDX_OK;
}

extern "C" void mmdx__dicom_seg_fini(struct mmdx_dicom_seg *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nseg; i++)
        mmdx__free(s->seg[i].label);
    mmdx__free(s->seg);
    mmdx__free(s->frame_segment);
    memset(s, 0, sizeof(*s));
}

static enum mmdx_status seg_guarded(struct mmdx_ctx *ctx, const char *path,
                                    const char *fspath,
                                    struct mmdx_dicom_seg *out)
{
    enum mmdx_status st;

    memset(out, 0, sizeof(*out));
    try {
        setup();
        st = seg_impl(ctx, path, fspath, out);
    } catch (const std::bad_alloc &) {
        st = FAIL(ctx, MMDX_E_NOMEM, path, NULL, "out of memory in DCMTK");
    } catch (...) {
        st = FAIL(ctx, MMDX_E_INTERNAL, path, NULL,
                  "DCMTK raised an exception");
    }
    if (st)
        mmdx__dicom_seg_fini(out);
    return st;
}

extern "C" enum mmdx_status
mmdx__dicom_read_seg(struct mmdx_ctx *ctx, const char *path,
                     struct mmdx_dicom_seg *out)
{
    enum mmdx_status st;

    memset(out, 0, sizeof(*out));
    st = check_input_file(ctx, path, MMDX_DICOM_MAX_FILE_BYTES);
    if (st)
        return st;
    return seg_guarded(ctx, path, path, out);
}

extern "C" enum mmdx_status
mmdx__dicom_read_seg_mem(struct mmdx_ctx *ctx, const char *path,
                         const void *data, size_t len,
                         struct mmdx_dicom_seg *out)
{
    char fspath[64];
    int fd;
    enum mmdx_status st;

    memset(out, 0, sizeof(*out));
    st = memfile(ctx, path, "mmdx-seg", data, len, &fd, fspath);
    if (st)
        return st;
    st = seg_guarded(ctx, path, fspath, out);
    close(fd);
    return st;
}

/* The palette of a PALETTE COLOR label map fixture: entries 0..the
 * largest value, 16 bits each, colours that are not the values (so that a
 * reader taking colours for segment numbers gets them wrong); with
 * MMDX_SEG_PALETTE_BAD_LUT descriptors of 2 values and data half as long
 * as declared. */
static enum mmdx_status put_seg_palette(struct mmdx_ctx *ctx,
                                        const char *path, DcmDataset *ds,
                                        const struct mmdx_dicom_seg_write *w)
{
    size_t n = static_cast<size_t>(w->rows) * w->cols * w->nframes;
    unsigned top = 0;
    bool bad = w->palette == MMDX_SEG_PALETTE_BAD_LUT;

    for (size_t i = 0; i < n; i++) {
        unsigned v = w->frames16 ? w->frames16[i] : w->frames[i];

        top = v > top ? v : top;
    }
    /* the descriptor's first value counts entries; 0 means 65536 */
    Uint16 d[3] = { static_cast<Uint16>(top + 1), 0, 16 };
    std::vector<Uint16> lut(static_cast<size_t>(top) + 1);
    for (int c = 0; c < 3; c++) {
        for (size_t k = 0; k < lut.size(); k++)
            lut[k] = static_cast<Uint16>((k * 40503u + 9973u * (c + 1)) ^
                                         0xA5A5u);
        DcmUnsignedShort *el =
            new DcmUnsignedShort(DcmTag(pal_desc[c], EVR_US));
        if (el->putUint16Array(d, bad ? 2 : 3).bad() ||
            ds->insert(el, OFTrue).bad()) {
            delete el;
            return FAIL(ctx, MMDX_E_INTERNAL, path,
                        "RedPaletteColorLookupTableDescriptor (0028,1101)",
                        "cannot set");
        }
        if (ds->putAndInsertUint16Array(
                  pal_data[c], lut.data(),
                  static_cast<unsigned long>(
                      bad ? (lut.size() + 1) / 2 : lut.size())).bad())
            return FAIL(ctx, MMDX_E_INTERNAL, path,
                        "RedPaletteColorLookupTableData (0028,1201)",
                        "cannot set");
    }
    return MMDX_OK;
}

static enum mmdx_status seg_write_impl(struct mmdx_ctx *ctx, const char *path,
                                       const struct mmdx_dicom_seg_write *w)
{
    DcmFileFormat ff;
    DcmDataset *ds = ff.getDataset();
    char study[100], series[100], sop[100], frame[100];
    enum mmdx_status st = MMDX_OK;
    const double *o = w->orientation;
    bool axial = true;
    size_t npix = static_cast<size_t>(w->rows) * w->cols;
    E_TransferSyntax xfer = EXS_LittleEndianExplicit;

    for (int k = 0; k < 6; k++)
        axial = axial && o[k] == 0;
    st = ts_xfer(ctx, path, w->ts, &xfer);
    if (st)
        return st;
    dcmGenerateUniqueIdentifier(study, SITE_STUDY_UID_ROOT);
    dcmGenerateUniqueIdentifier(series, SITE_SERIES_UID_ROOT);
    dcmGenerateUniqueIdentifier(sop, SITE_INSTANCE_UID_ROOT);
    dcmGenerateUniqueIdentifier(frame, SITE_SERIES_UID_ROOT);
    std::string orient =
        axial ? std::string("1\\0\\0\\0\\1\\0")
              : fmt_ds(o[0]) + "\\" + fmt_ds(o[1]) + "\\" + fmt_ds(o[2]) +
                    "\\" + fmt_ds(o[3]) + "\\" + fmt_ds(o[4]) + "\\" +
                    fmt_ds(o[5]);
    struct {
        DcmTagKey key;
        std::string v;
    } attrs[] = {
        { DCM_SOPClassUID, w->labelmap ? MMDX_UID_LABELMAP_SEG
                                       : UID_SegmentationStorage },
        { DCM_FrameOfReferenceUID, frame },
        { DCM_Modality, "SEG" },
        { DCM_ImageType, "DERIVED\\PRIMARY" },
        { DCM_ContentLabel, "MMDX" },
        { DCM_PhotometricInterpretation,
          w->palette ? "PALETTE COLOR" : "MONOCHROME2" },
        { DCM_LossyImageCompression, "00" },
        { DCM_SegmentationType, w->labelmap     ? "LABELMAP"
                                : w->fractional ? "FRACTIONAL"
                                                : "BINARY" },
        { DCM_NumberOfFrames, std::to_string(w->nframes) },
    };
    for (size_t i = 0; i < sizeof(attrs) / sizeof(attrs[0]) && !st; i++)
        st = put(ctx, path, ds, attrs[i].key, attrs[i].v);
    if (!st)
        st = put_fixture_ids(ctx, path, ds, w->patient_id, sop, study,
                             series, "1", "mmdx test fixture");
    if (st)
        return st;
    if (w->fractional &&
        (put(ctx, path, ds, DCM_SegmentationFractionalType, "PROBABILITY") ||
         ds->putAndInsertUint16(DCM_MaximumFractionalValue, 255).bad()))
        return FAIL(ctx, MMDX_E_INTERNAL, path, NULL,
                    "cannot set the fractional attributes");
    for (size_t s = 0; s < w->nseg; s++) {
        DcmItem *it = NULL, *tc = NULL;

        if (ds->findOrCreateSequenceItem(DCM_SegmentSequence, it, -2).bad() ||
            it->putAndInsertUint16(DCM_SegmentNumber,
                                   static_cast<Uint16>(
                                       w->numbers ? w->numbers[s]
                                                  : static_cast<long>(s + 1)))
                .bad() ||
            it->putAndInsertString(DCM_SegmentLabel,
                                   w->labels && w->labels[s] ? w->labels[s]
                                                             : "").bad() ||
            it->putAndInsertString(DCM_SegmentAlgorithmType,
                                   "MANUAL").bad() ||
            (w->type_codes && w->type_codes[s] &&
             (it->findOrCreateSequenceItem(
                    DCM_SegmentedPropertyTypeCodeSequence, tc, -2).bad() ||
              tc->putAndInsertString(DCM_CodeValue,
                                     w->type_codes[s]).bad() ||
              tc->putAndInsertString(DCM_CodingSchemeDesignator,
                                     "SCT").bad() ||
              tc->putAndInsertString(DCM_CodeMeaning, "").bad())))
            return FAIL(ctx, MMDX_E_INTERNAL, path,
                        "SegmentSequence (0062,0002)", "cannot build");
    }
    {
        DcmItem *sh = NULL, *pm = NULL, *po = NULL;
        std::string sp = fmt_ds(w->pixel_spacing_mm[0]) + "\\" +
                         fmt_ds(w->pixel_spacing_mm[1]);

        if (ds->findOrCreateSequenceItem(DCM_SharedFunctionalGroupsSequence,
                                         sh, -2).bad() ||
            sh->findOrCreateSequenceItem(DCM_PixelMeasuresSequence, pm,
                                         -2).bad() ||
            pm->putAndInsertString(DCM_PixelSpacing, sp.c_str()).bad() ||
            pm->putAndInsertString(DCM_SliceThickness,
                                   fmt_ds(w->slice_thickness_mm).c_str())
                .bad() ||
            sh->findOrCreateSequenceItem(DCM_PlaneOrientationSequence, po,
                                         -2).bad() ||
            po->putAndInsertString(DCM_ImageOrientationPatient,
                                   orient.c_str()).bad())
            return FAIL(ctx, MMDX_E_INTERNAL, path,
                        "SharedFunctionalGroupsSequence (5200,9229)",
                        "cannot build");
        if (w->shared_segment && !w->labelmap) {
            DcmItem *si = NULL;

            if (sh->findOrCreateSequenceItem(
                      DCM_SegmentIdentificationSequence, si, -2).bad() ||
                si->putAndInsertUint16(
                      DCM_ReferencedSegmentNumber,
                      static_cast<Uint16>(w->nframes ? w->frame_segment[0]
                                                     : 1)).bad())
                return FAIL(ctx, MMDX_E_INTERNAL, path,
                            "SegmentIdentificationSequence (0062,000A)",
                            "cannot build");
        }
    }
    for (size_t f = 0; f < w->nframes; f++) {
        DcmItem *pf = NULL, *si = NULL, *pp = NULL;

        if (ds->findOrCreateSequenceItem(DCM_PerFrameFunctionalGroupsSequence,
                                         pf, -2).bad())
            return FAIL(ctx, MMDX_E_INTERNAL, path,
                        "PerFrameFunctionalGroupsSequence (5200,9230)",
                        "cannot build");
        if (!w->shared_segment && !w->labelmap &&
            (pf->findOrCreateSequenceItem(DCM_SegmentIdentificationSequence,
                                          si, -2).bad() ||
             si->putAndInsertUint16(
                   DCM_ReferencedSegmentNumber,
                   static_cast<Uint16>(w->frame_segment[f])).bad()))
            return FAIL(ctx, MMDX_E_INTERNAL, path,
                        "SegmentIdentificationSequence (0062,000A)",
                        "cannot build");
        if (w->frame_pos_mm) {
            const double *p = w->frame_pos_mm + 3 * f;
            std::string v = fmt_ds(p[0]) + "\\" + fmt_ds(p[1]) + "\\" +
                            fmt_ds(p[2]);

            if (pf->findOrCreateSequenceItem(DCM_PlanePositionSequence, pp,
                                             -2).bad() ||
                pp->putAndInsertString(DCM_ImagePositionPatient,
                                       v.c_str()).bad())
                return FAIL(ctx, MMDX_E_INTERNAL, path,
                            "PlanePositionSequence (0020,9113)",
                            "cannot build");
        }
    }
    bool bytes = w->fractional || w->labelmap;
    unsigned bits = w->frames16 ? 16 : bytes ? 8 : 1;
    if (ds->putAndInsertUint16(DCM_SamplesPerPixel, 1).bad() ||
        ds->putAndInsertUint16(DCM_Rows, static_cast<Uint16>(w->rows)).bad() ||
        ds->putAndInsertUint16(DCM_Columns,
                               static_cast<Uint16>(w->cols)).bad() ||
        ds->putAndInsertUint16(DCM_BitsAllocated,
                               static_cast<Uint16>(bits)).bad() ||
        ds->putAndInsertUint16(DCM_BitsStored,
                               static_cast<Uint16>(bits)).bad() ||
        ds->putAndInsertUint16(DCM_HighBit,
                               static_cast<Uint16>(bits - 1)).bad() ||
        ds->putAndInsertUint16(DCM_PixelRepresentation, 0).bad())
        return FAIL(ctx, MMDX_E_INTERNAL, path, NULL,
                    "cannot set the image attributes");
    if (w->frames16) {
        if (ds->putAndInsertUint16Array(
                  DCM_PixelData, w->frames16,
                  static_cast<unsigned long>(npix * w->nframes)).bad())
            return FAIL(ctx, MMDX_E_INTERNAL, path, "PixelData (7FE0,0010)",
                        "cannot set");
    } else {
        /* BINARY: frames packed one after the other, bit i of the
         * object is bit (i mod 8) of byte i / 8, padded to an even
         * length (PS3.5 8.1.1, PS3.3 C.8.20.2) */
        size_t n = npix * w->nframes;
        size_t len = bytes ? n : (n + 7) / 8;
        std::vector<Uint8> px(len + (len & 1), 0);

        for (size_t i = 0; i < n; i++) {
            if (bytes)
                px[i] = w->frames[i];
            else if (w->frames[i])
                px[i >> 3] = static_cast<Uint8>(px[i >> 3] | (1u << (i & 7)));
        }
        if (ds->putAndInsertUint8Array(DCM_PixelData, px.data(),
                                       static_cast<unsigned long>(px.size()))
                .bad())
            return FAIL(ctx, MMDX_E_INTERNAL, path, "PixelData (7FE0,0010)",
                        "cannot set");
    }
    if (w->palette == MMDX_SEG_PALETTE_LUT ||
        w->palette == MMDX_SEG_PALETTE_BAD_LUT) {
        st = put_seg_palette(ctx, path, ds, w);
        if (st)
            return st;
    }
    st = encode_pixels(ctx, path, ds, xfer);
    if (st)
        return st;
    return write_fileformat(ctx, path, ff, xfer);
}

extern "C" enum mmdx_status
mmdx__dicom_write_seg(struct mmdx_ctx *ctx, const char *path,
                      const struct mmdx_dicom_seg_write *w)
{
    if (!w || !w->patient_id || !w->patient_id[0] || !w->rows || !w->cols ||
        w->rows > 65535 || w->cols > 65535 || !w->nseg || w->nseg > 65535 ||
        !w->nframes || (!w->frames && !w->frames16) ||
        (!w->frame_segment && !w->labelmap) ||
        ((w->frames16 || w->palette) && !w->labelmap) ||
        !(w->pixel_spacing_mm[0] > 0) || !(w->pixel_spacing_mm[1] > 0))
        return FAIL(ctx, MMDX_E_INVAL, path, NULL,
                    "invalid segmentation description (pseudonym, size, "
                    "segments, frames and their segments are required)");
    if (w->palette < MMDX_SEG_PALETTE_NONE ||
        w->palette > MMDX_SEG_PALETTE_BAD_LUT)
        return FAIL(ctx, MMDX_E_INVAL, path, NULL, "unknown palette kind %d",
                    w->palette);
    for (size_t s = 0; w->numbers && s < w->nseg; s++)
        if (w->numbers[s] < 1 || w->numbers[s] > 65535)
            return FAIL(ctx, MMDX_E_INVAL, path, NULL,
                        "segment number %ld out of 1..65535", w->numbers[s]);
    try {
        setup();
        return seg_write_impl(ctx, path, w);
    } catch (const std::bad_alloc &) {
        return FAIL(ctx, MMDX_E_NOMEM, path, NULL, "out of memory in DCMTK");
    } catch (...) {
        return FAIL(ctx, MMDX_E_INTERNAL, path, NULL,
                    "DCMTK raised an exception");
    }
}
