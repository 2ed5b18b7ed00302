/*
 * test_provenance.c - provenance_testdriver: the digest of a patient's
 * inputs (a WFDB record = its header and every file the reader reads; a
 * folder = its files), --resume and run.xml seeing signal-file changes,
 * and the shard of a Slurm array task.
 *
 * Reference digests were computed with GNU coreutils 9.1 (`sha256sum A B
 * | sha256sum`, names in C-locale order) on the same bytes.
 */
#include "core/common.h"
#include "io/wfdb.h"
#include "pipeline/provenance.h"
#include "mmdx/mmdx.h"
#include "test_util.h"

static void write_bytes(const char *dir, const char *name, const void *data,
                        size_t len)
{
    char *p = mmdx__path_join(dir, name);
    FILE *fp;

    assert_non_null(p);
    fp = fopen(p, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(data, 1, len, fp), len);
    fclose(fp);
    mmdx__free(p);
}

static char *slurp(const char *dir, const char *name)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *p = mmdx__path_join(dir, name), *data = NULL;
    size_t len;

    if (mmdx__file_read(ctx, p, 1 << 24, &data, &len) != MMDX_OK)
        data = NULL;
    mmdx__free(p);
    mmdx_ctx_free(ctx);
    return data;
}

static enum mmdx_status digest(struct mmdx_ctx *ctx, const char *dir,
                               const char *name, enum mmdx_modality m,
                               char hex[MMDX_SHA256_HEX])
{
    char *p = mmdx__path_join(dir, name);
    enum mmdx_status st;

    assert_non_null(p);
    mmdx_ctx_clear_error(ctx);
    st = mmdx__input_sha256(ctx, m, p, hex);
    mmdx__free(p);
    return st;
}

/* A record whose two signals live in two files (.dat and .xyz). */
static const char *two_file_header =
    "r 2 250 4\n"
    "r.dat 16 200 12 0 0 0 0 II\n"
    "r.xyz 16 200 12 0 0 0 0 V1\n";

/* Names mmdx__wfdb_files reports, joined by spaces. */
static enum mmdx_status collect(void *user, const char *name,
                                const char *path)
{
    struct mmdx_dstr *d = user;

    assert_non_null(strstr(path, name));
    mmdx__dstr_addf(d, "%s%s", d->len ? " " : "", name);
    return MMDX_OK;
}

/* ---- WFDB records ----------------------------------------------------- */

/* Ensure that a WFDB record's digest is the listing of its header and
 * both signal files (the coreutils reference), that it is the same when
 * nothing changed, and that editing the .dat or the .xyz changes it while
 * a file the header does not name (the .atr) does not. */
static void input_sha256__wfdb_record__covers_signal_files(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *dir = test_tmpdir();
    char h1[MMDX_SHA256_HEX], h2[MMDX_SHA256_HEX], hx[MMDX_SHA256_HEX];

    (void)state;
    test_write(dir, "r.hea", two_file_header);
    test_write(dir, "r.dat", "dat bytes");
    test_write(dir, "r.xyz", "xyz bytes");
    assert_int_equal(digest(ctx, dir, "r.hea", MMDX_MOD_ECG, h1), MMDX_OK);
    assert_string_equal(h1, "88950b29fcc847b07e1c84789b830638"
                            "2e7430ac44de549b85da1dccf217d35f");
    assert_int_equal(digest(ctx, dir, "r.hea", MMDX_MOD_ECG, h2), MMDX_OK);
    assert_string_equal(h1, h2);
    /* not read by the pipeline's reader: not part of the input */
    test_write(dir, "r.atr", "annotations");
    assert_int_equal(digest(ctx, dir, "r.hea", MMDX_MOD_ECG, h2), MMDX_OK);
    assert_string_equal(h1, h2);
    test_write(dir, "r.xyz", "xyz bytes!");
    assert_int_equal(digest(ctx, dir, "r.hea", MMDX_MOD_ECG, hx), MMDX_OK);
    assert_string_equal(hx, "7093a0d1887f70c80660e072d4aec12f"
                            "738054f72e8d459a48b3323bc5672f57");
    test_write(dir, "r.xyz", "xyz bytes");
    test_write(dir, "r.dat", "dat bytez");
    assert_int_equal(digest(ctx, dir, "r.hea", MMDX_MOD_ECG, h2), MMDX_OK);
    assert_string_not_equal(h2, h1);
    assert_string_not_equal(h2, hx);
    /* the same file in another column is one file (EEG reads EDF only) */
    assert_int_equal(digest(ctx, dir, "r.hea", MMDX_MOD_EEG, h2), MMDX_OK);
    assert_string_equal(h2, "6a4cfdeb5c8d50c390736f6cf8ee607e"
                            "db7788f0ca651e093af49ecbd44855e8");
    test_rmtree(dir);
    mmdx_ctx_free(ctx);
}

/* Ensure that a file shared by adjacent signals is listed once and that a
 * non-WFDB ECG (here plain text) keeps the file's own SHA-256. */
static void input_sha256__shared_file_and_other_formats__plain(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *dir = test_tmpdir(), *p;
    char hex[MMDX_SHA256_HEX];
    struct mmdx_dstr d;

    (void)state;
    test_write(dir, "s.hea", "s 2 250 4\ns.dat 212 200 12 0 0 0 0 II\n"
                             "s.dat 212 200 12 0 0 0 0 V1\n");
    test_write(dir, "s.dat", "x");
    mmdx__dstr_init(&d, 0);
    p = mmdx__path_join(dir, "s.hea");
    assert_int_equal(mmdx__wfdb_files(ctx, p, collect, &d), MMDX_OK);
    assert_string_equal(d.s, "s.hea s.dat");
    mmdx__dstr_fini(&d);
    mmdx__free(p);
    test_write(dir, "a.txt", "hello");
    assert_int_equal(digest(ctx, dir, "a.txt", MMDX_MOD_ECG, hex), MMDX_OK);
    assert_string_equal(hex, "2cf24dba5fb0a30e26e83b2ac5b9e29e"
                             "1b161e5c1fa7425e73043362938b9824");
    test_rmtree(dir);
    mmdx_ctx_free(ctx);
}

/* Ensure that a header naming a missing signal file is the reader's
 * E_NOTFOUND naming that file and the header line, one naming a file
 * outside its folder (relative or absolute) is refused before anything
 * is opened, and a folder in place of a signal file is E_IO. */
static void input_sha256__bad_signal_files__reader_errors(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *dir = test_tmpdir(), *p;
    char hex[MMDX_SHA256_HEX];
    struct mmdx_dstr d;
    const struct mmdx_error *e;

    (void)state;
    test_write(dir, "m.hea", "m 1 250 4\nnope.dat 16 200 12 0 0 0 0 II\n");
    assert_int_equal(digest(ctx, dir, "m.hea", MMDX_MOD_ECG, hex),
                     MMDX_E_NOTFOUND);
    e = mmdx_ctx_last_error(ctx);
    p = mmdx__path_join(dir, "nope.dat");
    assert_string_equal(e->path, p);
    mmdx__free(p);
    assert_error_has(ctx, "cannot open: No such file or directory (named "
                          "on m.hea line 2)");

    test_write(dir, "t.hea", "t 1 250 4\n../t.dat 16 200 12 0 0 0 0 II\n");
    test_write(dir, "t.dat", "beside, but not what the header names");
    assert_int_equal(digest(ctx, dir, "t.hea", MMDX_MOD_ECG, hex),
                     MMDX_E_UNSUPPORTED);
    e = mmdx_ctx_last_error(ctx);
    assert_string_equal(e->field, "file");
    assert_int_equal(e->line, 2);
    assert_error_has(ctx, "signal files must lie beside the header");

    test_write(dir, "a.hea", "a 1 250 4\n/etc/hostname 16 200 12 0 0 0 0 "
                             "II\n");
    mmdx__dstr_init(&d, 0);
    p = mmdx__path_join(dir, "a.hea");
    mmdx_ctx_clear_error(ctx);
    assert_int_equal(mmdx__wfdb_files(ctx, p, collect, &d),
                     MMDX_E_UNSUPPORTED);
    assert_string_equal(d.s, "a.hea"); /* nothing else reached */
    mmdx__dstr_fini(&d);
    mmdx__free(p);

    p = mmdx__path_join(dir, "sub");
    assert_int_equal(mkdir(p, 0750), 0);
    mmdx__free(p);
    test_write(dir, "f.hea", "f 1 250 4\nsub 16 200 12 0 0 0 0 II\n");
    assert_int_equal(digest(ctx, dir, "f.hea", MMDX_MOD_ECG, hex),
                     MMDX_E_IO);
    assert_error_has(ctx, "not a regular file");

    /* a header the reader cannot parse is all it reads: the header's own
     * SHA-256 (printf 'r x 250\nr.dat 16\n' | sha256sum), no error */
    test_write(dir, "bad.hea", "r x 250\nr.dat 16\n");
    assert_int_equal(digest(ctx, dir, "bad.hea", MMDX_MOD_ECG, hex),
                     MMDX_OK);
    assert_string_equal(hex, "9974b08cc64ffaf0a2d2abc6f1018a7d"
                             "25f3fd915755d2d9e46900dd678aa8ef");
    test_rmtree(dir);
    mmdx_ctx_free(ctx);
}

/* A multi-segment record: a layout header, two segments with samples, a
 * "~" gap between them. */
static char *make_multiseg(void)
{
    static const unsigned char zeros[8] = { 0 };
    char *dir = test_tmpdir();

    test_write(dir, "m.hea", "m/4 1 250 8\nm_lay 0\nm_1 4\n~ 2\nm_2 2\n");
    test_write(dir, "m_lay.hea", "m_lay 1 250 0\n~ 0 200 12 0 0 0 0 II\n");
    test_write(dir, "m_1.hea", "m_1 1 250 4\nm_1.dat 16 200 12 0 0 0 0 II\n");
    test_write(dir, "m_2.hea", "m_2 1 250 2\nm_2.dat 16 200 12 0 0 0 0 II\n");
    write_bytes(dir, "m_1.dat", zeros, 8);
    write_bytes(dir, "m_2.dat", zeros, 4);
    return dir;
}

/* Ensure that a multi-segment record's files are the ones its reader
 * reads (master, layout and segment headers, each segment's signal
 * file), and that editing a later segment's signal file changes the
 * digest while a stray file beside it does not. */
static void input_sha256__multi_segment__every_segment(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *dir = make_multiseg(), *p;
    char h1[MMDX_SHA256_HEX], h2[MMDX_SHA256_HEX];
    struct mmdx_signal *sig = NULL;
    struct mmdx_dstr d;
    static const unsigned char one[4] = { 1, 0, 0, 0 };

    (void)state;
    p = mmdx__path_join(dir, "m.hea");
    /* the fixture is a record the reader reads */
    assert_int_equal(mmdx__wfdb_load(ctx, p, NULL, 0, &sig, NULL), MMDX_OK);
    assert_int_equal(sig->ch[0].n, 8);
    mmdx__signal_free(sig);
    mmdx__dstr_init(&d, 0);
    assert_int_equal(mmdx__wfdb_files(ctx, p, collect, &d), MMDX_OK);
    assert_string_equal(d.s, "m.hea m_lay.hea m_1.hea m_1.dat m_2.hea "
                             "m_2.dat");
    mmdx__dstr_fini(&d);
    mmdx__free(p);
    assert_int_equal(digest(ctx, dir, "m.hea", MMDX_MOD_ECG, h1), MMDX_OK);
    test_write(dir, "m_3.dat", "not named by any segment");
    assert_int_equal(digest(ctx, dir, "m.hea", MMDX_MOD_ECG, h2), MMDX_OK);
    assert_string_equal(h1, h2);
    write_bytes(dir, "m_2.dat", one, 4);
    assert_int_equal(digest(ctx, dir, "m.hea", MMDX_MOD_ECG, h2), MMDX_OK);
    assert_string_not_equal(h1, h2);
    /* a missing segment header is the reader's error */
    p = mmdx__path_join(dir, "m_2.hea");
    assert_int_equal(unlink(p), 0);
    mmdx__free(p);
    assert_int_equal(digest(ctx, dir, "m.hea", MMDX_MOD_ECG, h2),
                     MMDX_E_NOTFOUND);
    test_rmtree(dir);
    mmdx_ctx_free(ctx);
}

/* Ensure that every allocation failure while hashing a multi-segment
 * record is MMDX_E_NOMEM (and leaks nothing under ASan). */
static void input_sha256__oom_loop__nomem(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *dir = make_multiseg(), *p;
    char hex[MMDX_SHA256_HEX];
    unsigned long n;

    (void)state;
    p = mmdx__path_join(dir, "m.hea");
    assert_non_null(p);
    for (n = 1; n < 2000; n++) {
        enum mmdx_status st;

        mmdx_ctx_clear_error(ctx);
        mmdx__alloc_fail_at(n);
        st = mmdx__input_sha256(ctx, MMDX_MOD_ECG, p, hex);
        mmdx__alloc_fail_at(0);
        if (st == MMDX_OK)
            break;
        assert_int_equal(st, MMDX_E_NOMEM);
    }
    assert_true(n > 10 && n < 2000);
    mmdx__free(p);
    test_rmtree(dir);
    mmdx_ctx_free(ctx);
}

/* ---- folders and the listing ------------------------------------------ */

/* Ensure that a folder's digest lists its regular files as sha256sum does
 * (a backslash in a name escaped; the coreutils reference), hidden files
 * and sub-folders left out. */
static void sha256_path__folder__sha256sum_listing(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *dir = test_tmpdir(), *p;
    char hex[MMDX_SHA256_HEX];

    (void)state;
    test_write(dir, "a\\b", "one");
    test_write(dir, "b", "two");
    test_write(dir, ".hidden", "left out");
    p = mmdx__path_join(dir, "sub");
    assert_int_equal(mkdir(p, 0750), 0);
    mmdx__free(p);
    test_write(dir, "sub/c", "left out");
    assert_int_equal(digest(ctx, dir, ".", MMDX_MOD_IMAGE, hex), MMDX_OK);
    assert_string_equal(hex, "633edbbb05b33702e8fd5613146d3762"
                             "4b54ab218a06db1eb8268550338a9cdc");
    test_rmtree(dir);
    mmdx_ctx_free(ctx);
}

/* Ensure that the listing sorts by name, reads a repeated name once, and
 * that no file at all is the digest of the empty listing. */
static void sha256_files__order_and_repeats__fixed(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *dir = test_tmpdir(), *pa, *pb;
    char h1[MMDX_SHA256_HEX], h2[MMDX_SHA256_HEX];
    struct mmdx_sha256_file v[3];

    (void)state;
    test_write(dir, "r.dat", "dat bytes");
    test_write(dir, "r.hea", two_file_header);
    pa = mmdx__path_join(dir, "r.dat");
    pb = mmdx__path_join(dir, "r.hea");
    v[0].name = "r.hea";
    v[0].path = pb;
    v[1].name = "r.dat";
    v[1].path = pa;
    v[2].name = "r.dat";
    v[2].path = pa;
    assert_int_equal(mmdx__sha256_files(ctx, v, 3, h1), MMDX_OK);
    v[0].name = "r.dat"; /* sorted: r.dat, r.dat, r.hea */
    v[1].name = "r.hea";
    v[1].path = pb;
    assert_int_equal(mmdx__sha256_files(ctx, v, 2, h2), MMDX_OK);
    assert_string_equal(h1, h2);
    /* sha256sum r.dat r.hea | sha256sum */
    assert_string_equal(h1, "cbe6e71c3382d0d46c215f277e3fd22b"
                            "4c81b4166f055b385ee918c632d58469");
    assert_int_equal(mmdx__sha256_files(ctx, v, 0, h2), MMDX_OK);
    assert_string_equal(h2, "e3b0c44298fc1c149afbf4c8996fb924"
                            "27ae41e4649b934ca495991b7852b855");
    mmdx__free(pa);
    mmdx__free(pb);
    test_rmtree(dir);
    mmdx_ctx_free(ctx);
}

/* ---- the runner -------------------------------------------------------- */

static const char *load_pipeline =
    "<?xml version=\"1.0\"?>\n"
    "<pipeline xmlns=\"urn:mmdx:pipeline:1\" name=\"t\" format=\"1\">\n"
    "  <stage name=\"load.ecg\"/>\n"
    "</pipeline>\n";

static void run(const char *dir, bool resume, struct mmdx_run_summary *sum)
{
    struct mmdx_ctx *ctx = test_ctx();
    struct mmdx_run_opts o;
    char *man = mmdx__path_join(dir, "manifest.tsv");
    char *pipe = mmdx__path_join(dir, "p.xml");
    char *out = mmdx__path_join(dir, "out");

    memset(&o, 0, sizeof(o));
    o.pipeline = pipe;
    o.manifest = man;
    o.out = out;
    o.jobs = 1;
    o.resume = resume;
    assert_int_equal(mmdx_run(ctx, &o, sum), MMDX_OK);
    mmdx__free(man);
    mmdx__free(pipe);
    mmdx__free(out);
    mmdx_ctx_free(ctx);
}

/* The "input ecg" digest of patient P1's status file. */
static void status_digest(const char *dir, char hex[MMDX_SHA256_HEX])
{
    char *s = slurp(dir, "out/patients/P1/status"), *at;

    assert_non_null(s);
    at = strstr(s, "\ninput ecg ");
    assert_non_null(at);
    mmdx__strlcpy(hex, at + 11, MMDX_SHA256_HEX);
    mmdx__free(s);
}

/* Ensure that --resume redoes a patient whose .dat or .xyz changed, that
 * run.xml records the new digest, that unchanged files give the same
 * digest run after run, and that a missing signal file is an error row
 * for that patient naming the file (and is never resumed). */
static void runner__signal_file_changes__rerun(void **state)
{
    static const unsigned char zeros[8] = { 0 };
    static const unsigned char other[8] = { 9, 0, 0, 0, 0, 0, 0, 0 };
    char *dir = test_tmpdir(), *s, *p;
    char h0[MMDX_SHA256_HEX], h1[MMDX_SHA256_HEX], h2[MMDX_SHA256_HEX];
    char want[200];
    struct mmdx_run_summary sum;

    (void)state;
    test_write(dir, "p.xml", load_pipeline);
    test_write(dir, "manifest.tsv", "patient_id\tecg\nP1\tr.hea\n");
    test_write(dir, "r.hea", two_file_header);
    write_bytes(dir, "r.dat", zeros, 8);
    write_bytes(dir, "r.xyz", zeros, 8);
    run(dir, false, &sum);
    assert_int_equal(sum.ok, 1);
    status_digest(dir, h0);
    s = slurp(dir, "out/run.xml");
    snprintf(want, sizeof(want), "<input patient=\"P1\" modality=\"ecg\" "
                                 "sha256=\"%s\"/>", h0);
    assert_non_null(strstr(s, want));
    mmdx__free(s);
    /* unchanged: resumed, and a fresh run finds the same digest */
    run(dir, true, &sum);
    assert_int_equal(sum.skipped, 1);
    run(dir, false, &sum);
    status_digest(dir, h1);
    assert_string_equal(h0, h1);

    /* the .dat changes (its checksum no longer matches): redone */
    write_bytes(dir, "r.dat", other, 8);
    run(dir, true, &sum);
    assert_int_equal(sum.skipped, 0);
    assert_int_equal(sum.failed, 1);
    status_digest(dir, h1);
    assert_string_not_equal(h0, h1);
    s = slurp(dir, "out/run.xml");
    snprintf(want, sizeof(want), "sha256=\"%s\"", h1);
    assert_non_null(strstr(s, want));
    mmdx__free(s);
    s = slurp(dir, "out/errors.tsv");
    assert_non_null(strstr(s, "checksum"));
    mmdx__free(s);

    /* back to the original .dat, then the .xyz changes: redone again */
    write_bytes(dir, "r.dat", zeros, 8);
    run(dir, true, &sum);
    assert_int_equal(sum.ok, 1);
    status_digest(dir, h1);
    assert_string_equal(h0, h1);
    write_bytes(dir, "r.xyz", other, 8);
    run(dir, true, &sum);
    assert_int_equal(sum.skipped, 0);
    status_digest(dir, h2);
    assert_string_not_equal(h0, h2);

    /* the .xyz disappears: an error row naming it, for P1 only */
    p = mmdx__path_join(dir, "r.xyz");
    assert_int_equal(unlink(p), 0);
    run(dir, true, &sum);
    assert_int_equal(sum.failed, 1);
    s = slurp(dir, "out/errors.tsv");
    snprintf(want, sizeof(want), "P1\tecg\t%s\tload\tE_NOTFOUND\t", p);
    assert_non_null(strstr(s, want));
    assert_non_null(strstr(s, "named on r.hea line 3"));
    mmdx__free(s);
    run(dir, true, &sum);
    assert_int_equal(sum.skipped, 0); /* no digest: never resumed */
    mmdx__free(p);
    test_rmtree(dir);
}

/* ---- Slurm arrays ------------------------------------------------------- */

struct slurm_case {
    const char *id, *min, *max, *step, *count;
    enum mmdx_status want;
    unsigned k, n;
    const char *field; /* variable the error names */
};

/* Ensure that 0-based, 1-based and stepped arrays give each task its own
 * shard, that no task id gives the whole cohort (n = 0), and that
 * out-of-range, inconsistent and garbage values are usage errors naming
 * the variable. */
static void slurm_shard__arrays__task_to_shard(void **state)
{
    static const struct slurm_case cases[] = {
        { NULL, NULL, NULL, NULL, NULL, MMDX_OK, 0, 0, NULL },
        { "", "1", "2", "1", "2", MMDX_OK, 0, 0, NULL },
        /* --array=0-3 */
        { "0", "0", "3", "1", "4", MMDX_OK, 0, 4, NULL },
        { "3", "0", "3", "1", "4", MMDX_OK, 3, 4, NULL },
        /* --array=1-2 (the QA report's case), with and without MAX/STEP */
        { "1", "1", "2", "1", "2", MMDX_OK, 0, 2, NULL },
        { "2", "1", "2", "1", "2", MMDX_OK, 1, 2, NULL },
        { "2", "1", NULL, NULL, "2", MMDX_OK, 1, 2, NULL },
        /* MIN absent = 0 */
        { "1", NULL, NULL, NULL, "2", MMDX_OK, 1, 2, NULL },
        { "2", NULL, NULL, NULL, "2", MMDX_E_USAGE, 0, 0,
          "SLURM_ARRAY_TASK_ID" },
        /* --array=0-10:2: six tasks, ids 0, 2, ..., 10 */
        { "10", "0", "10", "2", "6", MMDX_OK, 5, 6, NULL },
        { "4", "0", "10", "2", "6", MMDX_OK, 2, 6, NULL },
        { "3", "0", "10", "2", "6", MMDX_E_USAGE, 0, 0,
          "SLURM_ARRAY_TASK_ID" },
        /* the same array seen without STEP: COUNT does not match */
        { "10", "0", "10", NULL, "6", MMDX_E_USAGE, 0, 0,
          "SLURM_ARRAY_TASK_MAX" },
        { "10", "0", NULL, NULL, "6", MMDX_E_USAGE, 0, 0,
          "SLURM_ARRAY_TASK_ID" },
        /* --array=1,3,7: a list, no range of shards */
        { "3", "1", "7", "2", "3", MMDX_E_USAGE, 0, 0,
          "SLURM_ARRAY_TASK_MAX" },
        /* ID below MIN, garbage, negative, missing or zero COUNT */
        { "0", "1", "2", "1", "2", MMDX_E_USAGE, 0, 0,
          "SLURM_ARRAY_TASK_ID" },
        { "x1", "0", "1", "1", "2", MMDX_E_USAGE, 0, 0,
          "SLURM_ARRAY_TASK_ID" },
        { "1", "0", "1", "1", "2x", MMDX_E_USAGE, 0, 0,
          "SLURM_ARRAY_TASK_COUNT" },
        { "1", "-1", NULL, NULL, "2", MMDX_E_USAGE, 0, 0,
          "SLURM_ARRAY_TASK_MIN" },
        { "1", "0", NULL, "0", "2", MMDX_E_USAGE, 0, 0,
          "SLURM_ARRAY_TASK_STEP" },
        { "1", "0", NULL, NULL, NULL, MMDX_E_USAGE, 0, 0,
          "SLURM_ARRAY_TASK_COUNT" },
        { "0", "0", NULL, NULL, "0", MMDX_E_USAGE, 0, 0,
          "SLURM_ARRAY_TASK_COUNT" },
        { "0", "0", NULL, NULL, "99999999999", MMDX_E_USAGE, 0, 0,
          "SLURM_ARRAY_TASK_COUNT" },
    };
    struct mmdx_ctx *ctx = test_ctx();
    size_t i;

    (void)state;
    for (i = 0; i < MMDX_ARRAY_SIZE(cases); i++) {
        const struct slurm_case *c = &cases[i];
        struct mmdx_slurm_array a = { c->id, c->min, c->max, c->step,
                                      c->count };
        unsigned k = 7, n = 7;
        enum mmdx_status st;

        mmdx_ctx_clear_error(ctx);
        st = mmdx_slurm_shard(ctx, &a, &k, &n);
        if (st != c->want)
            fail_msg("case %zu: status %s, want %s", i,
                     mmdx_status_name(st), mmdx_status_name(c->want));
        if (k != c->k || n != c->n)
            fail_msg("case %zu: shard %u/%u, want %u/%u", i, k, n, c->k,
                     c->n);
        if (c->field) {
            assert_string_equal(mmdx_ctx_last_error(ctx)->field, c->field);
            assert_error_has(ctx, c->field);
            assert_error_has(ctx, "--shard K/N");
        }
    }
    mmdx_ctx_free(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(input_sha256__wfdb_record__covers_signal_files),
        cmocka_unit_test(input_sha256__shared_file_and_other_formats__plain),
        cmocka_unit_test(input_sha256__bad_signal_files__reader_errors),
        cmocka_unit_test(input_sha256__multi_segment__every_segment),
        cmocka_unit_test(input_sha256__oom_loop__nomem),
        cmocka_unit_test(sha256_path__folder__sha256sum_listing),
        cmocka_unit_test(sha256_files__order_and_repeats__fixed),
        cmocka_unit_test(runner__signal_file_changes__rerun),
        cmocka_unit_test(slurm_shard__arrays__task_to_shard),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
