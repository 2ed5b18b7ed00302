/* test_core.c - core_testdriver: errors, strings, files, hashing, XML. */
#include "core/common.h"
#include "core/xml.h"
#include "test_util.h"

#include <dirent.h>

/* Ensure that status names and descriptions come from the one list. */
static void status__names__from_map(void **state)
{
    (void)state;
    assert_string_equal(mmdx_status_name(MMDX_OK), "OK");
    assert_string_equal(mmdx_status_name(MMDX_E_FORMAT), "E_FORMAT");
    assert_string_equal(mmdx_status_str(MMDX_E_NOMEM), "out of memory");
    assert_string_equal(mmdx_status_name((enum mmdx_status)999),
                        "E_UNKNOWN");
    assert_int_equal(MMDX_E_SCHEMA, 8); /* numbers are permanent */
}

/* Ensure that the first error wins and the format names file, line,
 * stage and field. */
static void error__first_wins__formatted(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char buf[512];

    (void)state;
    assert_int_equal(mmdx__fail(ctx, MMDX_E_FORMAT, "io.wfdb", "a/100.hea",
                                3, "signal[1].gain", "expected > 0, got %s",
                                "\"-200\""),
                     MMDX_E_FORMAT);
    mmdx__fail(ctx, MMDX_E_IO, NULL, "other", 0, NULL, "later");
    assert_int_equal(mmdx_ctx_last_error(ctx)->status, MMDX_E_FORMAT);
    assert_string_equal(
        mmdx_error_format(mmdx_ctx_last_error(ctx), buf, sizeof(buf)),
        "a/100.hea:3: io.wfdb: signal[1].gain: expected > 0, got \"-200\"");
    mmdx_ctx_clear_error(ctx);
    assert_int_equal(mmdx_ctx_last_error(ctx)->status, MMDX_OK);
    mmdx_ctx_free(ctx);
}

/* Ensure that bounded strings refuse to grow past their limit. */
static void dstr__limit__refused(void **state)
{
    struct mmdx_dstr d;

    (void)state;
    mmdx__dstr_init(&d, 8);
    assert_int_equal(mmdx__dstr_adds(&d, "1234"), MMDX_OK);
    assert_int_equal(mmdx__dstr_addf(&d, "%d", 5678), MMDX_OK);
    assert_int_equal(mmdx__dstr_adds(&d, "9"), MMDX_E_LIMIT);
    assert_string_equal(d.s, "12345678");
    mmdx__dstr_reset(&d);
    assert_int_equal(mmdx__dstr_add_xml(&d, "<a&\""), MMDX_E_LIMIT);
    mmdx__dstr_fini(&d);
    mmdx__dstr_init(&d, 0);
    assert_int_equal(mmdx__dstr_add_xml(&d, "a<b>&\"'"), MMDX_OK);
    assert_string_equal(d.s, "a&lt;b&gt;&amp;&quot;&#39;");
    mmdx__dstr_fini(&d);
}

/* Ensure that numbers format one way and parse strictly. */
static void numbers__format_parse__strict(void **state)
{
    char b[32];
    double v;
    long l;

    (void)state;
    assert_string_equal(mmdx__fmt_double(NAN, b), "NA");
    assert_string_equal(mmdx__fmt_double(-0.0, b), "0");
    assert_string_equal(mmdx__fmt_double(1.0 / 3, b), "0.333333333");
    assert_true(mmdx__parse_double(" 2.5 ", &v));
    assert_true(v == 2.5);
    assert_false(mmdx__parse_double("2.5x", &v));
    assert_false(mmdx__parse_double("", &v));
    assert_false(mmdx__parse_double("nan", &v));
    assert_false(mmdx__parse_double("1e999", &v));
    assert_true(mmdx__parse_long("-12", &l));
    assert_int_equal(l, -12);
    assert_false(mmdx__parse_long("12.0", &l));
    assert_false(mmdx__parse_long("99999999999999999999", &l));
}

/* Ensure that files are written 0640 and folders 0750 whatever the umask,
 * and that the atomic writer leaves no temporary behind. */
static void file__atomic_write__modes(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *dir = test_tmpdir(), *sub, *f, *data;
    struct stat sb;
    size_t len;
    mode_t old = umask(0);

    (void)state;
    sub = mmdx__path_join(dir, "a/b/c");
    assert_int_equal(mmdx__mkdir_p(ctx, sub), MMDX_OK);
    assert_int_equal(stat(sub, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0750);
    f = mmdx__path_join(sub, "x.tsv");
    assert_int_equal(mmdx__file_write_atomic(ctx, f, "hello\n", 6), MMDX_OK);
    assert_int_equal(stat(f, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0640);
    umask(old);
    assert_int_equal(mmdx__file_read(ctx, f, 100, &data, &len), MMDX_OK);
    assert_int_equal(len, 6);
    assert_string_equal(data, "hello\n");
    mmdx__free(data);
    assert_int_equal(mmdx__file_read(ctx, f, 3, &data, &len), MMDX_E_LIMIT);
    assert_error_has(ctx, "limit is 3");
    {
        DIR *d = opendir(sub);
        struct dirent *de;
        int entries = 0;

        assert_non_null(d);
        while ((de = readdir(d)) != NULL) {
            if (de->d_name[0] == '.')
                continue;
            assert_null(strstr(de->d_name, ".tmp.")); /* no temporary left */
            entries++;
        }
        closedir(d);
        assert_int_equal(entries, 1);
    }
    mmdx__free(f);
    mmdx__free(sub);
    test_rmtree(dir);
    mmdx_ctx_free(ctx);
}

/* Ensure that a folder listing is sorted, skips dot files, keeps only
 * regular files and gives full paths when asked, refuses more entries than
 * the limit, names a missing folder, and fails cleanly on every
 * allocation. */
static void dir_list__flags_limit_oom__as_documented(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *dir = test_tmpdir(), *p, **v;
    const char *names[] = { "b.dcm", "a.dcm", ".hidden", "c" };
    size_t n, i;
    unsigned long k;
    enum mmdx_status st;

    (void)state;
    for (i = 0; i < 3; i++) {
        p = mmdx__path_join(dir, names[i]);
        assert_int_equal(mmdx__file_write_atomic(ctx, p, "x", 1), MMDX_OK);
        mmdx__free(p);
    }
    p = mmdx__path_join(dir, names[3]);
    assert_int_equal(mmdx__mkdir_p(ctx, p), MMDX_OK);
    mmdx__free(p);

    assert_int_equal(mmdx__dir_list(ctx, "t", dir, 0, 0, &v, &n), MMDX_OK);
    assert_int_equal(n, 3);
    assert_string_equal(v[0], "a.dcm");
    assert_string_equal(v[1], "b.dcm");
    assert_string_equal(v[2], "c");
    mmdx__dir_list_free(v, n);

    assert_int_equal(mmdx__dir_list(ctx, "t", dir,
                                    MMDX_DIR_FILES_ONLY | MMDX_DIR_FULL_PATHS,
                                    0, &v, &n), MMDX_OK);
    assert_int_equal(n, 2);
    p = mmdx__path_join(dir, "b.dcm");
    assert_string_equal(v[1], p);
    mmdx__free(p);
    mmdx__dir_list_free(v, n);

    assert_int_equal(mmdx__dir_list(ctx, "t", dir, MMDX_DIR_FILES_ONLY, 1,
                                    &v, &n), MMDX_E_LIMIT);
    assert_null(v);
    assert_int_equal(n, 0);
    assert_error_has(ctx, "more than 1 entries");
    mmdx_ctx_clear_error(ctx);

    p = mmdx__path_join(dir, "missing");
    assert_int_equal(mmdx__dir_list(ctx, "t", p, 0, 0, &v, &n), MMDX_E_IO);
    assert_error_has(ctx, "cannot open folder");
    mmdx_ctx_clear_error(ctx);
    mmdx__free(p);

    for (k = 1;; k++) {
        mmdx__alloc_fail_at(k);
        st = mmdx__dir_list(ctx, "t", dir, MMDX_DIR_FULL_PATHS, 0, &v, &n);
        mmdx__alloc_fail_at(0);
        mmdx_ctx_clear_error(ctx);
        if (st == MMDX_OK)
            break;
        assert_int_equal(st, MMDX_E_NOMEM);
        assert_null(v);
    }
    assert_int_equal(n, 3);
    mmdx__dir_list_free(v, n);
    test_rmtree(dir);
    mmdx_ctx_free(ctx);
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;

    return (x > y) - (x < y);
}

/* Ensure that selection gives the k-th smallest and partitions around it,
 * for every k of random arrays with many ties (reference: qsort). */
static void select_float__every_k__matches_sort(void **state)
{
    struct mmdx_rng r;
    float v[37], s[37];
    size_t n, k, i;

    (void)state;
    mmdx__rng_seed(&r, 42);
    for (n = 1; n <= 37; n += 4)
        for (k = 0; k < n; k++) {
            for (i = 0; i < n; i++)
                v[i] = s[i] = (float)(mmdx__rng_next(&r) % 7);
            qsort(s, n, sizeof(*s), cmp_float);
            assert_true(mmdx__select_float(v, n, k) == s[k]);
            assert_true(v[k] == s[k]);
            for (i = 0; i < k; i++)
                assert_true(v[i] <= v[k]);
            for (i = k + 1; i < n; i++)
                assert_true(v[i] >= v[k]);
        }
}

/* Ensure that SHA-256 matches the FIPS 180-2 test vector and that a
 * folder's hash changes when a file is renamed. */
static void sha256__vectors__match(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char hex[MMDX_SHA256_HEX], h1[MMDX_SHA256_HEX], h2[MMDX_SHA256_HEX];
    char *dir = test_tmpdir(), *a, *b;

    (void)state;
    assert_int_equal(mmdx__sha256_buf(ctx, "abc", 3, hex), MMDX_OK);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223"
                             "b00361a396177a9cb410ff61f20015ad");
    test_write(dir, "s1.dcm", "one");
    test_write(dir, "s2.dcm", "two");
    assert_int_equal(mmdx__sha256_path(ctx, dir, h1), MMDX_OK);
    a = mmdx__path_join(dir, "s2.dcm");
    b = mmdx__path_join(dir, "s3.dcm");
    assert_int_equal(rename(a, b), 0);
    assert_int_equal(mmdx__sha256_path(ctx, dir, h2), MMDX_OK);
    assert_string_not_equal(h1, h2);
    mmdx__free(a);
    mmdx__free(b);
    test_rmtree(dir);
    mmdx_ctx_free(ctx);
}

static const char bomb[] =
    "<?xml version=\"1.0\"?>\n"
    "<!DOCTYPE lolz [\n"
    " <!ENTITY lol \"lol\">\n"
    " <!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n"
    " <!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">\n"
    " <!ENTITY lol4 \"&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;\">\n"
    " <!ENTITY lol5 \"&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;\">\n"
    " <!ENTITY lol6 \"&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;\">\n"
    " <!ENTITY lol7 \"&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;\">\n"
    " <!ENTITY lol8 \"&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;\">\n"
    " <!ENTITY lol9 \"&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;\">\n"
    "]>\n<lolz>&lol9;</lolz>\n";

static const char xxe[] =
    "<?xml version=\"1.0\"?>\n"
    "<!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>\n"
    "<r>&x;</r>\n";

/* Ensure that a billion-laughs document is refused, quickly, with a clear
 * error. */
static void xml__billion_laughs__refused(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    struct mmdx_xml_opts o = { 0, 0, "io.test" };
    xmlDocPtr doc = NULL;

    (void)state;
    assert_int_equal(mmdx__xml_read_mem(ctx, "bomb.xml", bomb,
                                        strlen(bomb), &o, &doc),
                     MMDX_E_FORMAT);
    assert_null(doc);
    assert_error_has(ctx, "bomb.xml: io.test: DOCTYPE: entity declarations");
    mmdx_ctx_free(ctx);
}

/* Ensure that an external entity is never resolved. */
static void xml__external_entity__refused(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    xmlDocPtr doc = NULL;

    (void)state;
    assert_int_equal(mmdx__xml_read_mem(ctx, "xxe.xml", xxe, strlen(xxe),
                                        NULL, &doc),
                     MMDX_E_FORMAT);
    assert_null(doc);
    assert_error_has(ctx, "entity declarations are not allowed");
    mmdx_ctx_free(ctx);
}

/* Ensure that a too-deep document and a broken one give E_LIMIT and a
 * line-numbered E_FORMAT. */
static void xml__depth_and_syntax__errors(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    struct mmdx_xml_opts o = { 0, 8, "io.test" };
    xmlDocPtr doc = NULL;
    const char *deep = "<a><a><a><a><a><a><a><a><a><a></a></a></a></a></a>"
                       "</a></a></a></a></a>";
    const char *broken = "<r>\n<x>\n</r>\n";

    (void)state;
    assert_int_equal(mmdx__xml_read_mem(ctx, "deep.xml", deep, strlen(deep),
                                        &o, &doc),
                     MMDX_E_LIMIT);
    assert_error_has(ctx, "nesting deeper than 8");
    mmdx_ctx_clear_error(ctx);
    assert_int_equal(mmdx__xml_read_mem(ctx, "broken.xml", broken,
                                        strlen(broken), &o, &doc),
                     MMDX_E_FORMAT);
    assert_true(mmdx_ctx_last_error(ctx)->line >= 3);
    assert_error_has(ctx, "broken.xml:");
    mmdx_ctx_free(ctx);
}

/* Ensure that every allocation failure while reading an XML file (ours
 * and libxml2's, routed through our allocator by main) fails cleanly:
 * an error status, no document, no crash, no leak under ASan. */
static void xml__oom_loop__clean(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *dir = test_tmpdir(), *f;
    unsigned long n;

    (void)state;
    test_write(dir, "r.xml", "<r a=\"1\"><b>text</b><c/></r>");
    f = mmdx__path_join(dir, "r.xml");
    for (n = 1; n < 2000; n++) {
        xmlDocPtr doc = NULL;
        enum mmdx_status st;

        mmdx_ctx_clear_error(ctx);
        mmdx__alloc_fail_at(n);
        st = mmdx__xml_read_file(ctx, f, NULL, &doc);
        mmdx__alloc_fail_at(0);
        if (st == MMDX_OK) {
            assert_non_null(doc);
            xmlFreeDoc(doc);
            break;
        }
        assert_null(doc);
        assert_true(st == MMDX_E_NOMEM || st == MMDX_E_FORMAT);
        assert_int_equal(mmdx_ctx_last_error(ctx)->status, st);
    }
    assert_true(n > 3 && n < 2000); /* several failure points were hit */
    mmdx__free(f);
    test_rmtree(dir);
    mmdx_ctx_free(ctx);
}

static void *xml_malloc(size_t n) { return mmdx__malloc(n); }
static void *xml_realloc(void *p, size_t n) { return mmdx__realloc(p, n); }
static void xml_free(void *p) { mmdx__free(p); }
static char *xml_strdup(const char *s) { return mmdx__strdup(s); }

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(status__names__from_map),
        cmocka_unit_test(error__first_wins__formatted),
        cmocka_unit_test(dstr__limit__refused),
        cmocka_unit_test(numbers__format_parse__strict),
        cmocka_unit_test(file__atomic_write__modes),
        cmocka_unit_test(sha256__vectors__match),
        cmocka_unit_test(xml__billion_laughs__refused),
        cmocka_unit_test(xml__external_entity__refused),
        cmocka_unit_test(xml__depth_and_syntax__errors),
        cmocka_unit_test(xml__oom_loop__clean),
        cmocka_unit_test(dir_list__flags_limit_oom__as_documented),
        cmocka_unit_test(select_float__every_k__matches_sort),
    };

    /* libxml2's allocations go through ours so OOM loops reach them */
    xmlMemSetup(xml_free, xml_malloc, xml_realloc, xml_strdup);
    return cmocka_run_group_tests_name("core_testdriver", tests, NULL, NULL);
}
