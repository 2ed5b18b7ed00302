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

/* A folder's hash covers the sorted names and contents of its regular
 * files (not sub-folders), so renaming or editing any slice changes it. */
static enum mmdx_status hash_dir_into(struct mmdx_ctx *ctx,
                                      struct mmdx_sha256 *h, const char *dir)
{
    char **names;
    size_t n, i;
    enum mmdx_status st;

    st = mmdx__dir_list(ctx, NULL, dir,
                        MMDX_DIR_FILES_ONLY | MMDX_DIR_FULL_PATHS, 0,
                        &names, &n);
    for (i = 0; i < n && !st; i++) {
        const char *base = mmdx__path_basename(names[i]);

        mmdx__sha256_update(h, base, strlen(base) + 1);
        st = hash_file_into(ctx, h, names[i]);
    }
    mmdx__dir_list_free(names, n);
    return st;
}

enum mmdx_status mmdx__sha256_path(struct mmdx_ctx *ctx, const char *path,
                                   char hex[MMDX_SHA256_HEX])
{
    struct mmdx_sha256 *h;
    enum mmdx_status st = mmdx__sha256_new(ctx, &h);

    if (st)
        return st;
    if (mmdx__is_dir(path))
        st = hash_dir_into(ctx, h, path);
    else
        st = hash_file_into(ctx, h, path);
    if (st) {
        mmdx__sha256_free(h);
        return st;
    }
    mmdx__sha256_final(h, hex);
    return MMDX_OK;
}
