/*
 * ecg_eval.c - beat-by-beat comparison of detected beats with reference
 * annotations as ANSI/AAMI EC57 describes it (and PhysioNet's bxb does):
 * a 150 ms match window, one-to-one matching, the first 5 minutes of the
 * record left out of the statistics (the detector's learning period).
 */
#include "core/common.h"
#include "features/ecg_int.h"
#include "io/wfdb.h"
#include "mmdx/ecg.h"

static int64_t dist(int64_t a, int64_t b)
{
    return a > b ? a - b : b - a;
}

void mmdx__ecg_score(const int64_t *ref, size_t nref, const int64_t *test,
                     size_t ntest, int64_t start, int64_t window,
                     struct mmdx_ecg_score *out)
{
    size_t i = 0, j = 0;

    memset(out, 0, sizeof(*out));
    while (i < nref && ref[i] < start)
        i++;
    while (j < ntest && test[j] < start)
        j++;
    out->beats = (long)(nref - i);
    while (i < nref && j < ntest) {
        int64_t r = ref[i], t = test[j];

        if (t < r - window) {
            out->fp++;
            j++;
        } else if (t > r + window) {
            out->fn++;
            i++;
        } else if (i + 1 < nref && dist(t, ref[i + 1]) < dist(t, r)) {
            out->fn++; /* t belongs to the next reference beat */
            i++;
        } else if (j + 1 < ntest && dist(test[j + 1], r) < dist(t, r)) {
            out->fp++; /* the next test beat matches r better */
            j++;
        } else {
            out->tp++;
            i++;
            j++;
        }
    }
    out->fn += (long)(nref - i);
    out->fp += (long)(ntest - j);
}

enum mmdx_status mmdx_ecg_eval(struct mmdx_ctx *ctx, const char *record,
                               const char *lead, struct mmdx_ecg_eval_row *out)
{
    struct mmdx_signal *sig = NULL;
    struct mmdx_wfdb_annset ann = { NULL, 0, 0 };
    struct mmdx_qrs_beat *beats = NULL;
    int64_t *ref = NULL, *test = NULL;
    size_t nbeats = 0, nref = 0, i;
    char *atr = NULL;
    const char *want[1];
    struct mmdx_ecg_score sc;
    enum mmdx_status st;
    double fs;

    memset(out, 0, sizeof(*out));
    want[0] = lead && lead[0] ? lead : "II";
    st = mmdx__wfdb_load(ctx, record, want, 1, &sig, NULL);
    if (st == MMDX_E_NOTFOUND && !(lead && lead[0])) {
        /* no lead II: score the record's first signal */
        mmdx_ctx_clear_error(ctx);
        st = mmdx__wfdb_load(ctx, record, NULL, 0, &sig, NULL);
    }
    if (st)
        goto out;
    fs = sig->ch[0].fs_hz;
    {
        size_t l = strlen(record);

        if (l > 4 && strcmp(record + l - 4, ".hea") == 0)
            l -= 4;
        atr = mmdx__malloc(l + 5);
        if (!atr) {
            st = mmdx__nomem(ctx);
            goto out;
        }
        memcpy(atr, record, l);
        memcpy(atr + l, ".atr", 5);
    }
    st = mmdx__wfdb_ann_read(ctx, atr, &ann);
    if (st)
        goto out;
    st = mmdx__qrs_detect(ctx, sig->ch[0].data, sig->ch[0].n, fs, &beats,
                          &nbeats);
    if (st)
        goto out;
    ref = mmdx__malloc((ann.n + 1) * sizeof(*ref));
    test = mmdx__malloc((nbeats + 1) * sizeof(*test));
    if (!ref || !test) {
        st = mmdx__nomem(ctx);
        goto out;
    }
    for (i = 0; i < ann.n; i++)
        if (mmdx__wfdb_ann_is_beat(ann.a[i].code))
            ref[nref++] = ann.a[i].sample;
    for (i = 0; i < nbeats; i++)
        test[i] = beats[i].sample;
    mmdx__ecg_score(ref, nref, test, nbeats, (int64_t)lround(300.0 * fs),
                    (int64_t)lround(0.150 * fs), &sc);
    mmdx__strlcpy(out->record, mmdx__path_basename(record),
                  sizeof(out->record));
    out->beats = sc.beats;
    out->tp = sc.tp;
    out->fn = sc.fn;
    out->fp = sc.fp;
    out->se_pct = sc.tp + sc.fn ? 100.0 * (double)sc.tp /
                                      (double)(sc.tp + sc.fn)
                                : NAN;
    out->ppv_pct = sc.tp + sc.fp ? 100.0 * (double)sc.tp /
                                       (double)(sc.tp + sc.fp)
                                 : NAN;
out:
    mmdx__free(atr);
    mmdx__free(ref);
    mmdx__free(test);
    mmdx__free(beats);
    mmdx__wfdb_annset_fini(&ann);
    mmdx__signal_free(sig);
    return st;
}
