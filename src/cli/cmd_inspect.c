/* cmd_inspect.c - `mmdx inspect FILE...`: what a file is, by content. */
#include "core/common.h"
#include "cli/cli.h"

struct kvctx {
    const char *file;
};

static void print_kv(void *user, const char *key, const char *value)
{
    struct kvctx *k = user;

    printf("%s\t%s\t%s\n", k->file, key, value);
}

static int inspect_main(int argc, char **argv)
{
    struct mmdx_ctx *ctx;
    int i, rc = EXIT_ALL_OK;

    if (argc < 2)
        return cli_usage("inspect", "no file given");
    ctx = cli_ctx();
    for (i = 1; i < argc; i++) {
        struct kvctx k = { argv[i] };

        mmdx_ctx_clear_error(ctx);
        if (mmdx_inspect(ctx, argv[i], print_kv, &k) != MMDX_OK) {
            fflush(stdout);
            cli_error("inspect", ctx);
            rc = EXIT_SOME_FAILED;
        }
    }
    mmdx_ctx_free(ctx);
    return rc;
}

const struct cli_cmd cli_cmd_inspect = {
    "inspect", "tell what input files are, by content",
    "usage: mmdx inspect FILE...\n\n"
    "Detects each file's format from its content (DICOM, WFDB header,\n"
    "EDF/EDF+/BDF, FHIR, C-CDA, aECG, mmdx XML) and prints one line per fact:\n"
    "  FILE<TAB>KEY<TAB>VALUE\n"
    "Keys always include format, modality, bytes and sha256; readers add\n"
    "dimensions, rates, channel labels and counts. No identifying value is\n"
    "printed. Unreadable or unknown files get one error line on stderr and\n"
    "exit status 3.\n",
    inspect_main
};
