/* cmd_ecg_detect.c - `mmdx ecg-detect FILE --out PATH`: R peaks as TSV
 * and, with --wfdb, as a WFDB annotation file. */
#include "core/common.h"
#include "cli/cli.h"

static int ecg_detect_main(int argc, char **argv)
{
    struct mmdx_ctx *ctx;
    const char *lead = NULL, *out = NULL, *file = NULL;
    bool wfdb = false;
    size_t nb = 0;
    int i, rc = EXIT_ALL_OK;

    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--lead") && i + 1 < argc)
            lead = argv[++i];
        else if (!strcmp(argv[i], "--out") && i + 1 < argc)
            out = argv[++i];
        else if (!strcmp(argv[i], "--wfdb"))
            wfdb = true;
        else if (argv[i][0] == '-' && argv[i][1])
            return cli_usage("ecg-detect", "unknown option '%s'", argv[i]);
        else if (!file)
            file = argv[i];
        else
            return cli_usage("ecg-detect", "one input file only");
    }
    if (!file)
        return cli_usage("ecg-detect", "no input file given");
    if (!out)
        return cli_usage("ecg-detect", "--out PATH is required");
    ctx = cli_ctx();
    if (mmdx_ecg_detect(ctx, file, lead, wfdb ? NULL : out,
                        wfdb ? out : NULL, &nb) != MMDX_OK) {
        cli_error("ecg-detect", ctx);
        rc = EXIT_FATAL;
    } else {
        fprintf(stderr, "mmdx ecg-detect: %zu beats\n", nb);
    }
    mmdx_ctx_free(ctx);
    return rc;
}

const struct cli_cmd cli_cmd_ecg_detect = {
    "ecg-detect", "detect R peaks in an ECG and write them",
    "usage: mmdx ecg-detect FILE [--lead L] --out PATH [--wfdb]\n\n"
    "Detects R peaks on lead L (default II, which also matches MLII) of\n"
    "FILE (a WFDB record or .hea, HL7 aECG XML, EDF/EDF+ or a DICOM\n"
    "waveform) and writes PATH:\n"
    "  a TSV with the header 'sample time_s label' (label N), or with\n"
    "  --wfdb a WFDB annotation file in MIT format (one N per beat), which\n"
    "  PhysioNet's rdann and bxb read: name it RECORD.<annotator>, e.g.\n"
    "  100.qrs beside 100.hea, then 'bxb -r 100 -a atr qrs'.\n"
    "Samples are counted from 0 at the record start, at the lead's rate.\n",
    ecg_detect_main
};
