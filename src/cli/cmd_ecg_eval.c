/* cmd_ecg_eval.c - `mmdx ecg-eval RECORD...`: R-peak detection scored
 * against reference annotations (ANSI/AAMI EC57, like PhysioNet's bxb). */
#include "core/common.h"
#include "cli/cli.h"

static void pct(double v, char *buf, size_t size)
{
    if (isnan(v))
        snprintf(buf, size, "NA");
    else
        snprintf(buf, size, "%.2f", v);
}

static int ecg_eval_main(int argc, char **argv)
{
    struct mmdx_ctx *ctx;
    const char *lead = NULL;
    long beats = 0, tp = 0, fn = 0, fp = 0;
    int i, rc = EXIT_ALL_OK;
    char se[16], ppv[16];

    for (i = 1; i < argc && argv[i][0] == '-'; i++) {
        if (!strcmp(argv[i], "--lead") && i + 1 < argc)
            lead = argv[++i];
        else if (!strcmp(argv[i], "--"))
            break;
        else
            return cli_usage("ecg-eval", "unknown option '%s'", argv[i]);
    }
    if (i < argc && !strcmp(argv[i], "--"))
        i++;
    if (i >= argc)
        return cli_usage("ecg-eval", "no record given");
    ctx = cli_ctx();
    printf("record\tbeats\ttp\tfn\tfp\tse_pct\tppv_pct\n");
    for (; i < argc; i++) {
        struct mmdx_ecg_eval_row r;

        mmdx_ctx_clear_error(ctx);
        if (mmdx_ecg_eval(ctx, argv[i], lead, &r) != MMDX_OK) {
            fflush(stdout);
            cli_error("ecg-eval", ctx);
            rc = EXIT_SOME_FAILED;
            continue;
        }
        pct(r.se_pct, se, sizeof(se));
        pct(r.ppv_pct, ppv, sizeof(ppv));
        printf("%s\t%ld\t%ld\t%ld\t%ld\t%s\t%s\n", r.record, r.beats, r.tp,
               r.fn, r.fp, se, ppv);
        beats += r.beats;
        tp += r.tp;
        fn += r.fn;
        fp += r.fp;
    }
    pct(tp + fn ? 100.0 * (double)tp / (double)(tp + fn) : NAN, se,
        sizeof(se));
    pct(tp + fp ? 100.0 * (double)tp / (double)(tp + fp) : NAN, ppv,
        sizeof(ppv));
    printf("gross\t%ld\t%ld\t%ld\t%ld\t%s\t%s\n", beats, tp, fn, fp, se, ppv);
    mmdx_ctx_free(ctx);
    return rc;
}

const struct cli_cmd cli_cmd_ecg_eval = {
    "ecg-eval", "score R-peak detection on annotated WFDB records",
    "usage: mmdx ecg-eval [--lead L] RECORD...\n\n"
    "Detects beats on lead L (default II, which also matches MLII; else\n"
    "the first signal) of each WFDB RECORD (path without extension) and\n"
    "compares them beat by beat with the reference annotations in\n"
    "RECORD.atr as ANSI/AAMI EC57 and PhysioNet's bxb do: beat codes\n"
    "N L R B A a J S V r F e j n E / f Q ?, a 150 ms match window, the\n"
    "first 5 minutes excluded. Prints a TSV:\n"
    "  record beats tp fn fp se_pct ppv_pct\n"
    "one row per record and a last row 'gross' (sums over the records).\n"
    "Exit status 3 when a record cannot be read.\n",
    ecg_eval_main
};
