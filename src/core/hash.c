/*
 * hash.c - SHA-256 of buffers, files and folders, through OpenSSL's EVP API
 * (a well-kept implementation, not a hand-written one).
 */
#include "core/common.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

struct mmdx_sha256 {
    EVP_MD_CTX *md;
};

enum mmdx_status mmdx__sha256_new(struct mmdx_ctx *ctx,
                                  struct mmdx_sha256 **out)
{
    struct mmdx_sha256 *h;

    *out = NULL;
    h = mmdx__calloc(1, sizeof(*h));
    if (!h)
        return mmdx__nomem(ctx);
    h->md = EVP_MD_CTX_new();
    if (!h->md || EVP_DigestInit_ex(h->md, EVP_sha256(), NULL) != 1) {
        mmdx__sha256_free(h);
        return mmdx__nomem(ctx);
    }
    *out = h;
    return MMDX_OK;
}

void mmdx__sha256_update(struct mmdx_sha256 *h, const void *data, size_t len)
{
    EVP_DigestUpdate(h->md, data, len);
}

void mmdx__sha256_final(struct mmdx_sha256 *h, char hex[MMDX_SHA256_HEX])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0, i;

    EVP_DigestFinal_ex(h->md, md, &n);
    for (i = 0; i < n && i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    hex[64] = '\0';
    mmdx__sha256_free(h);
}

void mmdx__sha256_free(struct mmdx_sha256 *h)
{
    if (!h)
        return;
    EVP_MD_CTX_free(h->md);
    mmdx__free(h);
}

enum mmdx_status mmdx__sha256_buf(struct mmdx_ctx *ctx, const void *data,
                                  size_t len, char hex[MMDX_SHA256_HEX])
{
    struct mmdx_sha256 *h;
    enum mmdx_status st = mmdx__sha256_new(ctx, &h);

    if (st)
        return st;
    mmdx__sha256_update(h, data, len);
    mmdx__sha256_final(h, hex);
    return MMDX_OK;
}

static enum mmdx_status hash_file_into(struct mmdx_ctx *ctx,
                                       struct mmdx_sha256 *h,
                                       const char *path)
{
    unsigned char buf[1 << 16];
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return mmdx__fail(ctx, MMDX_E_IO, NULL, path, 0, NULL,
                          "cannot open: %s", strerror(errno));
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            close(fd);
            return mmdx__fail(ctx, MMDX_E_IO, NULL, path, 0, NULL,
                              "read failed: %s", strerror(errno));
        }
        if (n == 0)
            break;
        mmdx__sha256_update(h, buf, (size_t)n);
    }
    close(fd);
    return MMDX_OK;
}

static int cmp_file(const void *a, const void *b)
{
    return strcmp(((const struct mmdx_sha256_file *)a)->name,
                  ((const struct mmdx_sha256_file *)b)->name);
}

/* A name as sha256sum writes it: backslash, CR and LF escaped (and then
 * the line starts with a backslash). */
static bool name_needs_escape(const char *name)
{
    return strpbrk(name, "\\\n\r") != NULL;
}

static void add_escaped_name(struct mmdx_sha256 *h, const char *name)
{
    const char *c;

    for (c = name; *c; c++) {
        if (*c == '\\')
            mmdx__sha256_update(h, "\\\\", 2);
        else if (*c == '\n')
            mmdx__sha256_update(h, "\\n", 2);
        else if (*c == '\r')
            mmdx__sha256_update(h, "\\r", 2);
        else
            mmdx__sha256_update(h, c, 1);
    }
}

enum mmdx_status mmdx__sha256_files(struct mmdx_ctx *ctx,
                                    struct mmdx_sha256_file *v, size_t n,
                                    char hex[MMDX_SHA256_HEX])
{
    struct mmdx_sha256 *list = NULL, *one = NULL;
    char fhex[MMDX_SHA256_HEX];
    enum mmdx_status st;
    size_t i;

    if (n > 1)
        qsort(v, n, sizeof(*v), cmp_file);
    st = mmdx__sha256_new(ctx, &list);
    for (i = 0; i < n && !st; i++) {
        if (i > 0 && strcmp(v[i].name, v[i - 1].name) == 0)
            continue; /* each name once */
        st = mmdx__sha256_new(ctx, &one);
        if (!st)
            st = hash_file_into(ctx, one, v[i].path);
        if (st)
            break;
        mmdx__sha256_final(one, fhex);
        one = NULL;
        if (name_needs_escape(v[i].name))
            mmdx__sha256_update(list, "\\", 1);
        mmdx__sha256_update(list, fhex, 64);
        mmdx__sha256_update(list, "  ", 2);
        if (name_needs_escape(v[i].name))
            add_escaped_name(list, v[i].name);
        else
            mmdx__sha256_update(list, v[i].name, strlen(v[i].name));
        mmdx__sha256_update(list, "\n", 1);
    }
    mmdx__sha256_free(one);
    if (st) {
        mmdx__sha256_free(list);
        return st;
    }
    mmdx__sha256_final(list, hex);
    return MMDX_OK;
}

/* A folder's digest lists its regular files (not sub-folders, not hidden
 * ones), so renaming, adding, removing or editing any slice changes it. */
static enum mmdx_status hash_dir(struct mmdx_ctx *ctx, const char *dir,
                                 char hex[MMDX_SHA256_HEX])
{
    struct mmdx_sha256_file *v = NULL;
    char **names;
    size_t n, i;
    enum mmdx_status st;

    st = mmdx__dir_list(ctx, NULL, dir,
                        MMDX_DIR_FILES_ONLY | MMDX_DIR_FULL_PATHS, 0,
                        &names, &n);
    if (st)
        return st;
    v = mmdx__calloc(n ? n : 1, sizeof(*v));
    if (!v)
        st = mmdx__nomem(ctx);
    for (i = 0; i < n && !st; i++) {
        v[i].name = mmdx__path_basename(names[i]);
        v[i].path = names[i];
    }
    if (!st)
        st = mmdx__sha256_files(ctx, v, n, hex);
    mmdx__free(v);
    mmdx__dir_list_free(names, n);
    return st;
}

enum mmdx_status mmdx__sha256_path(struct mmdx_ctx *ctx, const char *path,
                                   char hex[MMDX_SHA256_HEX])
{
    struct mmdx_sha256 *h;
    enum mmdx_status st;

    if (mmdx__is_dir(path))
        return hash_dir(ctx, path, hex);
    st = mmdx__sha256_new(ctx, &h);
    if (st)
        return st;
    st = hash_file_into(ctx, h, path);
    if (st) {
        mmdx__sha256_free(h);
        return st;
    }
    mmdx__sha256_final(h, hex);
    return MMDX_OK;
}
