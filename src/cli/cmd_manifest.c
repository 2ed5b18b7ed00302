/* cmd_manifest.c - `mmdx manifest DIR`: write a cohort manifest by scan. */
#include "core/common.h"
#include "cli/cli.h"

static int manifest_main(int argc, char **argv)
{
    struct mmdx_ctx *ctx;
    const char *dir = NULL, *out = NULL;
    size_t n = 0;
    int i;
    enum mmdx_status st;

    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--out") || !strcmp(argv[i], "-o")) {
            if (++i >= argc)
                return cli_usage("manifest", "--out needs a file");
            out = argv[i];
        } else if (argv[i][0] == '-') {
            return cli_usage("manifest", "unknown option '%s'", argv[i]);
        } else if (!dir) {
            dir = argv[i];
        } else {
            return cli_usage("manifest", "one folder only");
        }
    }
    if (!dir)
        return cli_usage("manifest", "no folder given");
    ctx = cli_ctx();
    st = mmdx_manifest_scan(ctx, dir, out, &n);
    if (st && st != MMDX_E_MISMATCH) {
        cli_error("manifest", ctx);
        mmdx_ctx_free(ctx);
        return st == MMDX_E_USAGE ? EXIT_USAGE : EXIT_FATAL;
    }
    fprintf(stderr, "mmdx manifest: %zu patients written to %s%s\n", n,
            out ? out : dir, out ? "" : "/manifest.tsv");
    if (st)
        cli_error("manifest", ctx);
    mmdx_ctx_free(ctx);
    return st ? EXIT_SOME_FAILED : EXIT_ALL_OK;
}

const struct cli_cmd cli_cmd_manifest = {
    "manifest", "write a cohort manifest by scanning patient folders",
    "usage: mmdx manifest DIR [--out FILE]\n\n"
    "DIR holds one sub-folder per patient, named by its pseudonym. Each\n"
    "file's modality is detected by content: DICOM (a folder of several\n"
    "DICOM files is one series), WFDB (.hea), EDF/BDF (ECG or EEG by signal\n"
    "labels), aECG, FHIR, C-CDA and mmdx record XML. A DICOM SEG, DICOM\n"
    "RTSTRUCT or NIfTI-1 file (in the patient folder or its series\n"
    "sub-folder) is the patient's mask, never part of the image series.\n"
    "Writes DIR/manifest.tsv (or FILE) with columns patient_id image ecg\n"
    "eeg record mask mask_label label split; mask_label, label and split\n"
    "are left empty for you to fill. A patient with two files of one\n"
    "modality or several mask candidates gets that cell left empty (a\n"
    "warning names the folder) and exit status 3.\n\n"
    "The manifest's paths are written relative to its own folder, as\n"
    "`mmdx run` reads them, and may not leave it: FILE must therefore be\n"
    "in DIR or a folder above it (else exit status 2). What `mmdx run`\n"
    "would refuse is left out with a warning naming it (shown with\n"
    "\\xHH for bytes other than printable ASCII) and exit status 3: a\n"
    "folder whose name cannot be a patient_id (1-64 characters of A-Z a-z\n"
    "0-9 . _ -), a file or folder reached through a link that leads out\n"
    "of the manifest's folder or nowhere, a file that cannot be read (or\n"
    "is a pipe or device), an input whose name holds a control\n"
    "character. Hidden entries (.name) are ignored.\n",
    manifest_main
};
