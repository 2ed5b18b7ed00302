/* cmd_inspect.c - `mmdx inspect FILE...`: what a file is, by content. */
#include "core/common.h"
#include "cli/cli.h"

struct kvctx {
    const char *file;
};

/* One TSV cell: a tab, newline, carriage return or backslash in it (a
 * file name may hold any) written as \t, \n, \r, \\ so that every row
 * keeps its three columns. */
static void put_cell(const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '\t':
            fputs("\\t", stdout);
            break;
        case '\n':
            fputs("\\n", stdout);
            break;
        case '\r':
            fputs("\\r", stdout);
            break;
        case '\\':
            fputs("\\\\", stdout);
            break;
        default:
            putchar(*s);
        }
    }
}

static void print_kv(void *user, const char *key, const char *value)
{
    struct kvctx *k = user;

    put_cell(k->file);
    putchar('\t');
    put_cell(key);
    putchar('\t');
    put_cell(value);
    putchar('\n');
}

/* deid: identifying fields are named on stderr, never shown */
static void warn_idfield(void *user, const struct mmdx_deid_finding *f)
{
    MMDX_UNUSED(user);
    fflush(stdout);
    fprintf(stderr, "mmdx inspect: warning: %s: %s: identifying (%s); "
            "value not shown\n", f->file, f->field, f->rule);
}

static struct mmdx_deid_checker *deid_checker(struct mmdx_ctx *ctx,
                                              struct mmdx_pipeline **pipe)
{
    struct mmdx_deid_checker *chk = NULL;
    char *defpipe = cli_default_pipeline(ctx);

    if (defpipe && !mmdx_pipeline_load(ctx, defpipe, pipe) &&
        !mmdx_deid_checker_new(ctx, *pipe, &chk)) {
        mmdx__free(defpipe);
        return chk;
    }
    fprintf(stderr, "mmdx inspect: warning: identifying fields not "
            "checked (default pipeline unusable)\n");
    mmdx_ctx_clear_error(ctx);
    mmdx__free(defpipe);
    return NULL;
}

static int inspect_main(int argc, char **argv)
{
    struct mmdx_ctx *ctx;
    struct mmdx_pipeline *pipe = NULL;
    struct mmdx_deid_checker *chk;
    int i, rc = EXIT_ALL_OK;

    if (argc < 2)
        return cli_usage("inspect", "no file given");
    ctx = cli_ctx();
    chk = deid_checker(ctx, &pipe);
    for (i = 1; i < argc; i++) {
        struct kvctx k = { argv[i] };

        mmdx_ctx_clear_error(ctx);
        if (mmdx_inspect(ctx, argv[i], print_kv, &k) != MMDX_OK) {
            fflush(stdout);
            cli_error("inspect", ctx);
            rc = EXIT_SOME_FAILED;
        } else if (chk) {
            struct mmdx_deid_counts dc;

            memset(&dc, 0, sizeof(dc));
            mmdx_deid_check_path(chk, argv[i], warn_idfield, NULL, NULL,
                                 &dc);
            mmdx_ctx_clear_error(ctx);
        }
    }
    mmdx_deid_checker_free(chk);
    mmdx_pipeline_free(pipe);
    mmdx_ctx_free(ctx);
    return rc;
}

const struct cli_cmd cli_cmd_inspect = {
    "inspect", "tell what input files are, by content",
    "usage: mmdx inspect FILE...\n\n"
    "Detects each file's format from its content (DICOM, WFDB header,\n"
    "EDF/EDF+/BDF, FHIR, C-CDA, aECG, mmdx XML) and prints one line per fact:\n"
    "  FILE<TAB>KEY<TAB>VALUE\n"
    "(a tab, newline, carriage return or backslash in a cell is written\n"
    "\\t, \\n, \\r, \\\\). Keys always include format, modality, bytes\n"
    "and sha256; readers add dimensions, rates, channel labels and counts.\n"
    "No identifying value is\n"
    "printed; identifying fields are named in warnings on stderr (rules of\n"
    "the default pipeline's check.deid, see 'mmdx help deid-check').\n"
    "Unreadable or unknown files get one error line on stderr and\n"
    "exit status 3.\n",
    inspect_main
};
