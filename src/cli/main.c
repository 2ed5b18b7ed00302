/*
 * main.c - the mmdx program: global options and subcommand dispatch.
 */
#include "core/common.h"
#include "cli/cli.h"

#include <pthread.h>
#include <unistd.h>

static int verbosity = 1;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

/* Areas add their subcommands in their own section (declared in their
 * cmd_*.c file and here). */
/* image */


/* ecg */
extern const struct cli_cmd cli_cmd_ecg_eval, cli_cmd_ecg_detect,
    cli_cmd_ecg_quality;

/* eeg */


/* record */


/* fusion */
extern const struct cli_cmd cli_cmd_train, cli_cmd_predict;

/* synth */
extern const struct cli_cmd cli_cmd_synth;

/* report */
extern const struct cli_cmd cli_cmd_validate;


/* deid */
extern const struct cli_cmd cli_cmd_deid_check;

static const struct cli_cmd *const commands[] = {
    &cli_cmd_run,
    &cli_cmd_features,
    &cli_cmd_inspect,
    &cli_cmd_manifest,
    &cli_cmd_stage,
    &cli_cmd_merge,
    /* image */


    /* ecg */
    &cli_cmd_ecg_eval,
    &cli_cmd_ecg_detect,
    &cli_cmd_ecg_quality,

    /* eeg */


    /* record */


    /* fusion */
    &cli_cmd_train,
    &cli_cmd_predict,

    /* synth */
    &cli_cmd_synth,

    /* report */
    &cli_cmd_validate,


    /* deid */
    &cli_cmd_deid_check,

    NULL
};

static void log_stderr(void *user, enum mmdx_log_level lvl,
                       const char *prefix, const char *msg)
{
    static const char *const names[] = { "error", "warning", "info",
                                         "debug" };

    MMDX_UNUSED(user);
    pthread_mutex_lock(&log_lock);
    if (prefix && prefix[0])
        fprintf(stderr, "mmdx: [%s] %s: %s\n", prefix, names[lvl], msg);
    else
        fprintf(stderr, "mmdx: %s: %s\n", names[lvl], msg);
    pthread_mutex_unlock(&log_lock);
}

void cli_set_verbosity(int level)
{
    verbosity = level;
}

/* The data folder: $MMDX_DATADIR, else the installed one, else (running
 * from a build tree) the source folder. */
static const char *find_datadir(void)
{
    const char *env = getenv("MMDX_DATADIR");

    if (env && env[0])
        return env;
    if (access(MMDX_PKGDATADIR "/schemas/pipeline.xsd", R_OK) == 0)
        return MMDX_PKGDATADIR;
    return MMDX_SRCDIR;
}

struct mmdx_ctx *cli_ctx(void)
{
    struct mmdx_ctx *ctx;

    if (mmdx_ctx_new(&ctx)) {
        fputs("mmdx: out of memory\n", stderr);
        exit(EXIT_FATAL);
    }
    if (mmdx_ctx_set_datadir(ctx, find_datadir())) {
        fputs("mmdx: out of memory\n", stderr);
        exit(EXIT_FATAL);
    }
    if (verbosity > 0)
        mmdx_ctx_set_log(ctx, log_stderr, NULL,
                         (enum mmdx_log_level)(verbosity >= 3 ? 3
                                               : verbosity));
    return ctx;
}

void cli_error(const char *cmd, struct mmdx_ctx *ctx)
{
    char buf[2400];

    fprintf(stderr, "mmdx %s: %s\n", cmd,
            mmdx_error_format(mmdx_ctx_last_error(ctx), buf, sizeof(buf)));
}

int cli_usage(const char *cmd, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "mmdx %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'mmdx help %s'.\n", cmd);
    return EXIT_USAGE;
}

char *cli_default_pipeline(struct mmdx_ctx *ctx)
{
    return mmdx__path_join(mmdx_ctx_datadir(ctx), "pipelines/default.xml");
}

static void print_help(FILE *fp)
{
    size_t i;

    fputs("usage: mmdx [--version] [--help] COMMAND [ARGS]\n\n"
          "Multimodal diagnostic research pipelines: DICOM images, ECG and "
          "EEG\nrecordings and XML patient records in, features, a fused "
          "risk and\nreports out. For research use; not a medical device.\n\n"
          "commands:\n", fp);
    for (i = 0; commands[i]; i++)
        fprintf(fp, "  %-12s %s\n", commands[i]->name, commands[i]->summary);
    fputs("\n'mmdx help COMMAND' describes one command.\n"
          "exit status: 0 all patients ok, 1 fatal error, 2 usage error,\n"
          "             3 some patients (or inputs) failed.\n", fp);
}

static const struct cli_cmd *find_cmd(const char *name)
{
    size_t i;

    for (i = 0; commands[i]; i++)
        if (strcmp(commands[i]->name, name) == 0)
            return commands[i];
    return NULL;
}

int main(int argc, char **argv)
{
    const struct cli_cmd *c;

    if (argc < 2) {
        print_help(stderr);
        return EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        print_help(stdout);
        return EXIT_ALL_OK;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("mmdx %s\n%s", mmdx_version(), mmdx_dependency_versions());
        return EXIT_ALL_OK;
    }
    if (!strcmp(argv[1], "help")) {
        if (argc < 3) {
            print_help(stdout);
            return EXIT_ALL_OK;
        }
        c = find_cmd(argv[2]);
        if (!c) {
            fprintf(stderr, "mmdx: unknown command '%s'\n", argv[2]);
            return EXIT_USAGE;
        }
        fputs(c->usage, stdout);
        return EXIT_ALL_OK;
    }
    c = find_cmd(argv[1]);
    if (!c) {
        fprintf(stderr, "mmdx: unknown command '%s' (see 'mmdx --help')\n",
                argv[1]);
        return EXIT_USAGE;
    }
    if (argc >= 3 && (!strcmp(argv[2], "--help") || !strcmp(argv[2], "-h"))) {
        fputs(c->usage, stdout);
        return EXIT_ALL_OK;
    }
    return c->main(argc - 1, argv + 1);
}
