/* cmd_ecg_quality.c - `mmdx ecg-quality FILE...`: signal quality of every
 * ECG lead, and the windows that no lead covers. */
#include "core/common.h"
#include "cli/cli.h"

struct qctx {
    const char *file;
};

static enum mmdx_status print_lead(void *user,
                                   const struct mmdx_ecg_lead_quality *q)
{
    const struct qctx *c = user;
    char fs[32], sqi[32];

    if (isnan(q->sqi))
        snprintf(sqi, sizeof(sqi), "NA");
    else
        snprintf(sqi, sizeof(sqi), "%.3f", q->sqi);
    snprintf(fs, sizeof(fs), "%g", q->fs_hz);
    printf("%s\t%s\t%s\t%ld\t%ld\t%s\t%ld\t%s\n", c->file, q->label, fs,
           q->windows, q->good, sqi, q->beats, q->analysed ? "yes" : "no");
    return MMDX_OK;
}

static int ecg_quality_main(int argc, char **argv)
{
    struct mmdx_ctx *ctx;
    const char *lead = NULL;
    int i, rc = EXIT_ALL_OK;

    for (i = 1; i < argc && argv[i][0] == '-'; i++) {
        if (!strcmp(argv[i], "--lead") && i + 1 < argc)
            lead = argv[++i];
        else if (!strcmp(argv[i], "--"))
            break;
        else
            return cli_usage("ecg-quality", "unknown option '%s'", argv[i]);
    }
    if (i < argc && !strcmp(argv[i], "--"))
        i++;
    if (i >= argc)
        return cli_usage("ecg-quality", "no input file given");
    ctx = cli_ctx();
    printf("file\tlead\tfs_hz\twindows\tgood\tsqi\tbeats\tanalysed\n");
    for (; i < argc; i++) {
        struct qctx c;
        long nw = 0, bad = 0;

        c.file = mmdx__path_basename(argv[i]);
        mmdx_ctx_clear_error(ctx);
        if (mmdx_ecg_quality(ctx, argv[i], lead, print_lead, &c, &nw,
                             &bad) != MMDX_OK) {
            fflush(stdout);
            cli_error("ecg-quality", ctx);
            rc = EXIT_SOME_FAILED;
            continue;
        }
        printf("%s\t*\t-\t%ld\t%ld\t-\t-\t-\n", c.file, nw, nw - bad);
    }
    mmdx_ctx_free(ctx);
    return rc;
}

const struct cli_cmd cli_cmd_ecg_quality = {
    "ecg-quality", "signal quality of every ECG lead",
    "usage: mmdx ecg-quality [--lead L] FILE...\n\n"
    "Streams every ECG lead of each FILE (WFDB record or .hea, HL7 aECG\n"
    "XML, EDF, DICOM waveform) through the R-peak detector and the quality\n"
    "windows of ecg.features and prints a TSV:\n"
    "  file lead fs_hz windows good sqi beats analysed\n"
    "one row per lead: 10 s windows, those usable (they look like ECG: sd\n"
    "at least 10 uV, range at most 10 mV, kurtosis above 3; and the lead's\n"
    "beats give 25-220 bpm), sqi = good/windows, and 'yes' for the lead\n"
    "ecg.features takes its features from (lead L, default II, which also\n"
    "matches MLII, unless its SQI is under 0.8 and another lead's is at\n"
    "least that). A last row per file, lead '*', counts the windows usable\n"
    "on at least one lead. ECG leads are recognised by label (I-III,\n"
    "aVR/aVL/aVF, V1-V6, MLII, X/Y/Z or vx/vy/vz, ECG/EKG...); a file with\n"
    "none (an EEG-only EDF) is refused, as by ecg-detect. Exit status 3\n"
    "when a file cannot be read or has no ECG lead.\n",
    ecg_quality_main
};
