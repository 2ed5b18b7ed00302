/*
 * bench_record.c - records parsed and featurised per second, beside the
 * bare libxml2 parse rate of the same documents, in the same run.
 *
 *   bench_record [--repeats R] [--min-ms MS] FILE...
 *
 * For each file (read into memory once) and each of R repeats, three
 * loops run back to back, each for at least MS milliseconds of CPU time:
 *   bare   xmlReadMemory (same parser options as mmdx) + xmlFreeDoc
 *   parse  the hardened mmdx parse (mmdx__xml_read_mem)
 *   read   mmdx__record_read_mem alone (parse + extraction + identifying
 *          fields), to show where the time goes
 *   full   mmdx__record_read_mem (hardened parse + extraction, identifying
 *          fields collected as load.record does) + record.features + free
 * Times are per-thread CPU time (CLOCK_THREAD_CPUTIME_ID), so other load
 * on the machine inflates them less than wall time would. Per file the
 * medians over repeats are printed; per format (cda / fhir / mmdx) the
 * ratio full/bare of the summed medians. The target is full/bare <= 1.25.
 */
#include "core/common.h"
#include "core/xml.h"
#include "io/record.h"
#include "pipeline/stage.h"

#include <time.h>

extern const struct mmdx_stage_def mmdx__stage_record_features;

static const struct mmdx_class bench_cls = { "bench", NULL };

static double cpu_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_d);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

enum mode { BARE, PARSE, READ, FULL };

struct job {
    struct mmdx_ctx *ctx;
    struct mmdx_stage *feat;
    const char *path, *data;
    size_t len;
};

static int once(const struct job *j, enum mode m)
{
    int flags = XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING |
                XML_PARSE_NOCDATA | XML_PARSE_NOBLANKS;
    xmlDocPtr doc;
    struct mmdx_record *r;
    struct mmdx_patient p;

    switch (m) {
    case BARE:
        doc = xmlReadMemory(j->data, (int)j->len, NULL, NULL, flags);
        if (!doc)
            return -1;
        xmlFreeDoc(doc);
        return 0;
    case PARSE:
        if (mmdx__xml_read_mem(j->ctx, j->path, j->data, j->len, NULL, &doc))
            return -1;
        xmlFreeDoc(doc);
        return 0;
    case READ:
        if (mmdx__record_read_mem(j->ctx, j->path, j->data, j->len,
                                  MMDX_RECORD_IDFIELDS, &r))
            return -1;
        mmdx__record_free(r);
        return 0;
    case FULL:
        if (mmdx__record_read_mem(j->ctx, j->path, j->data, j->len,
                                  MMDX_RECORD_IDFIELDS, &r))
            return -1;
        memset(&p, 0, sizeof(p));
        p.ctx = j->ctx;
        mmdx__patient_set_slot(&p, MMDX_SLOT_RECORD, r, mmdx__record_free_v);
        if (j->feat->def->process(j->feat, &p)) {
            mmdx__patient_fini(&p);
            return -1;
        }
        mmdx__patient_fini(&p);
        return 0;
    }
    return -1;
}

/* Seconds per document: loop until min_s of CPU time has passed. */
static double per_doc(const struct job *j, enum mode m, double min_s)
{
    double t0 = cpu_s(), t;
    long n = 0;

    do {
        if (once(j, m))
            return NAN;
        n++;
        t = cpu_s() - t0;
    } while (t < min_s);
    return t / (double)n;
}

int main(int argc, char **argv)
{
    struct mmdx_ctx *ctx = NULL;
    struct mmdx_stage feat;
    int repeats = 7, i, a = 1;
    double min_s = 0.15;
    static const char *const fmt_names[3] = { "fhir", "cda", "mmdx" };
    double sum[3][4];
    int nfiles[3] = { 0, 0, 0 };

    memset(sum, 0, sizeof(sum));
    for (; a < argc && strncmp(argv[a], "--", 2) == 0; a += 2) {
        long v;

        if (a + 1 >= argc || !mmdx__parse_long(argv[a + 1], &v) || v < 1) {
            fprintf(stderr, "bench_record: bad value for %s\n", argv[a]);
            return 2;
        }
        if (strcmp(argv[a], "--repeats") == 0)
            repeats = (int)(v > 99 ? 99 : v);
        else if (strcmp(argv[a], "--min-ms") == 0)
            min_s = (double)v / 1000.0;
        else {
            fprintf(stderr, "bench_record: unknown option %s\n", argv[a]);
            return 2;
        }
    }
    if (a >= argc) {
        fprintf(stderr, "usage: bench_record [--repeats R] [--min-ms MS] "
                        "FILE...\n");
        return 2;
    }
    if (mmdx_ctx_new(&ctx) || mmdx_ctx_set_datadir(ctx, MMDX_SRCDIR))
        return 1;
    memset(&feat, 0, sizeof(feat));
    feat.cls = &bench_cls;
    feat.def = &mmdx__stage_record_features;
    feat.ctx = ctx;
    feat.priv = mmdx__calloc(1, feat.def->priv_size);
    if (!feat.priv || feat.def->init(&feat)) {
        char buf[512];

        fprintf(stderr, "bench_record: %s\n",
                mmdx_error_format(mmdx_ctx_last_error(ctx), buf,
                                  sizeof(buf)));
        return 1;
    }
    printf("file\tbytes\tbare_docs_s\tparse_docs_s\tread_docs_s\t"
           "full_docs_s\tfull_over_bare\n");
    for (; a < argc; a++) {
        struct job j = { ctx, &feat, argv[a], NULL, 0 };
        double t[4][99], med[4];
        struct mmdx_record *r;
        char *data;
        size_t len;
        int m, f;

        if (mmdx__file_read(ctx, argv[a], MMDX_XML_MAX_BYTES, &data, &len)) {
            fprintf(stderr, "bench_record: cannot read %s\n", argv[a]);
            return 1;
        }
        j.data = data;
        j.len = len;
        if (mmdx__record_read_mem(ctx, argv[a], data, len, 0, &r)) {
            char buf[512];

            fprintf(stderr, "bench_record: %s\n",
                    mmdx_error_format(mmdx_ctx_last_error(ctx), buf,
                                      sizeof(buf)));
            return 1;
        }
        f = r->source == MMDX_RECORD_SRC_FHIR  ? 0
            : r->source == MMDX_RECORD_SRC_CDA ? 1
                                               : 2;
        mmdx__record_free(r);
        for (i = 0; i < repeats; i++)
            for (m = BARE; m <= FULL; m++)
                t[m][i] = per_doc(&j, (enum mode)m, min_s);
        for (m = BARE; m <= FULL; m++) {
            med[m] = median(t[m], repeats);
            sum[f][m] += med[m];
        }
        nfiles[f]++;
        printf("%s\t%zu\t%.0f\t%.0f\t%.0f\t%.0f\t%.3f\n",
               mmdx__path_basename(argv[a]), len, 1 / med[BARE],
               1 / med[PARSE], 1 / med[READ], 1 / med[FULL],
               med[FULL] / med[BARE]);
        mmdx__free(data);
    }
    for (i = 0; i < 3; i++)
        if (nfiles[i])
            printf("# %s: %d file(s): full/bare = %.3f (hardened parse/bare "
                   "= %.3f, read/bare = %.3f), target <= 1.25\n",
                   fmt_names[i], nfiles[i], sum[i][FULL] / sum[i][BARE],
                   sum[i][PARSE] / sum[i][BARE], sum[i][READ] / sum[i][BARE]);
    feat.def->fini(&feat);
    mmdx__free(feat.priv);
    mmdx_ctx_free(ctx);
    return 0;
}
