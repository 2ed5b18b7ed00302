/*
 * fuzz_record.c - libFuzzer harness for the record readers (FHIR R4 XML,
 * C-CDA / CDA, mmdx record XML with its schema check) and, when a record
 * reads, the record.features stage on it. Every seventh input runs with
 * an allocation failure injected; a failure must always be reported on
 * the context.
 */
#include "core/common.h"
#include "io/record.h"
#include "pipeline/stage.h"
#include "fuzz_util.h"

extern const struct mmdx_stage_def mmdx__stage_record_features;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct mmdx_class fuzz_cls = { "fuzz", NULL };
static struct mmdx_ctx *stage_ctx;
static struct mmdx_stage feat;
static bool feat_ok;

/* The features stage is built once (its code sets are per worker). */
static void feat_init(void)
{
    if (stage_ctx)
        return;
    if (mmdx_ctx_new(&stage_ctx) ||
        mmdx_ctx_set_datadir(stage_ctx, MMDX_SRCDIR))
        abort();
    feat.cls = &fuzz_cls;
    feat.def = &mmdx__stage_record_features;
    feat.ctx = stage_ctx;
    feat.priv = mmdx__calloc(1, feat.def->priv_size);
    if (!feat.priv || feat.def->init(&feat) != MMDX_OK)
        abort();
    feat_ok = true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static unsigned long iter;
    struct mmdx_ctx *ctx = NULL;
    struct mmdx_record *r = NULL;
    enum mmdx_status st;
    bool oom = ++iter % 7 == 0;

    feat_init();
    if (mmdx_ctx_new(&ctx) || mmdx_ctx_set_datadir(ctx, MMDX_SRCDIR))
        abort();
    if (oom)
        mmdx__alloc_fail_at(1 + (unsigned long)(size % 97));
    st = mmdx__record_read_mem(ctx, "fuzz.xml", (const char *)data, size,
                               MMDX_RECORD_IDFIELDS, &r);
    mmdx__alloc_fail_at(0);
    fuzz_check_error(ctx, st);
    if (st == MMDX_OK && feat_ok) {
        struct mmdx_patient p;
        struct mmdx_date ref;
        const struct mmdx_feature *age;
        double years;
        enum mmdx_age_class cls;

        memset(&p, 0, sizeof(p));
        p.ctx = stage_ctx;
        p.study_date = iter % 2 ? mmdx__strdup("2020-06") : NULL;
        /* the age rules load.record applies: never an age of 90 or more
         * (or a negative one) classed as an ordinary age */
        if (!mmdx__record_ref_date(r, p.study_date, &ref))
            abort();
        cls = mmdx__record_age(&r->birth, &ref, &years);
        if ((cls == MMDX_AGE_OK && !(years >= 0 && years < 90)) ||
            (cls == MMDX_AGE_90_PLUS && !(years >= 0 && years <= 130)) ||
            (cls == MMDX_AGE_TOO_OLD && !(years > 130)))
            abort();
        mmdx__patient_set_slot(&p, MMDX_SLOT_RECORD, r, mmdx__record_free_v);
        r = NULL;
        mmdx_ctx_clear_error(stage_ctx);
        st = feat.def->process(&feat, &p);
        fuzz_check_error(stage_ctx, st);
        /* the age feature is Safe Harbor's: 90 at most */
        age = st ? NULL
                 : mmdx__featset_get(&p.features, "record.demo.age_years");
        if (age && !isnan(age->value) && !(age->value >= 0 &&
                                           age->value <= 90))
            abort();
        mmdx__patient_fini(&p);
    }
    mmdx__record_free(r);
    mmdx_ctx_free(ctx);
    return 0;
}
