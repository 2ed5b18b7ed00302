/*
 * file.c - whole-file reads with a size limit, atomic writes, folders.
 *
 * Outputs sit next to clinical data, so files are created 0640 and folders
 * 0750 whatever the umask (fchmod after creation, not umask games, which
 * would race between threads).
 */
#include "core/common.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

enum mmdx_status mmdx__file_read(struct mmdx_ctx *ctx, const char *path,
                                 size_t max_bytes, char **out, size_t *len)
{
    struct stat sb;
    char *data = NULL;
    size_t cap, got = 0;
    int fd;
    enum mmdx_status st = MMDX_OK;

    *out = NULL;
    *len = 0;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return mmdx__fail(ctx, errno == ENOENT ? MMDX_E_NOTFOUND : MMDX_E_IO,
                          NULL, path, 0, NULL, "cannot open: %s",
                          strerror(errno));
    if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
        st = mmdx__fail(ctx, MMDX_E_IO, NULL, path, 0, NULL,
                        "not a regular file");
        goto out;
    }
    if ((uint64_t)sb.st_size > max_bytes) {
        st = mmdx__fail(ctx, MMDX_E_LIMIT, NULL, path, 0, NULL,
                        "file is %lld bytes, limit is %zu",
                        (long long)sb.st_size, max_bytes);
        goto out;
    }
    cap = (size_t)sb.st_size + 1;
    data = mmdx__malloc(cap);
    if (!data) {
        st = mmdx__nomem(ctx);
        goto out;
    }
    for (;;) {
        ssize_t n = read(fd, data + got, cap - 1 - got);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            st = mmdx__fail(ctx, MMDX_E_IO, NULL, path, 0, NULL,
                            "read failed: %s", strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        got += (size_t)n;
        if (got == cap - 1)
            break; /* a file that grew meanwhile is read to its old size */
    }
    data[got] = '\0';
    *out = data;
    *len = got;
    data = NULL;
out:
    mmdx__free(data);
    close(fd);
    return st;
}

enum mmdx_status mmdx__file_write_atomic(struct mmdx_ctx *ctx,
                                         const char *path, const void *data,
                                         size_t len)
{
    char *tmp;
    size_t plen = strlen(path), off = 0;
    int fd;
    enum mmdx_status st = MMDX_OK;

    tmp = mmdx__malloc(plen + 32);
    if (!tmp)
        return mmdx__nomem(ctx);
    snprintf(tmp, plen + 32, "%s.tmp.XXXXXX", path);
    fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        st = mmdx__fail(ctx, MMDX_E_IO, NULL, path, 0, NULL,
                        "cannot create temporary file: %s", strerror(errno));
        mmdx__free(tmp);
        return st;
    }
    if (fchmod(fd, MMDX_FILE_MODE) < 0)
        goto io_error;
    while (off < len) {
        ssize_t n = write(fd, (const char *)data + off, len - off);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            goto io_error;
        off += (size_t)n;
    }
    if (fsync(fd) < 0)
        goto io_error;
    if (close(fd) < 0) {
        fd = -1;
        goto io_error;
    }
    fd = -1;
    if (rename(tmp, path) < 0)
        goto io_error;
    mmdx__free(tmp);
    return MMDX_OK;
io_error:
    st = mmdx__fail(ctx, MMDX_E_IO, NULL, path, 0, NULL, "write failed: %s",
                    strerror(errno));
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    mmdx__free(tmp);
    return st;
}

enum mmdx_status mmdx__mkdir_p(struct mmdx_ctx *ctx, const char *path)
{
    char *p = mmdx__strdup(path);
    char *s;
    enum mmdx_status st = MMDX_OK;

    if (!p)
        return mmdx__nomem(ctx);
    for (s = p + 1;; s++) {
        char c = *s;

        if (c != '/' && c != '\0')
            continue;
        *s = '\0';
        if (mkdir(p, MMDX_DIR_MODE) == 0) {
            if (chmod(p, MMDX_DIR_MODE) < 0) {
                st = mmdx__fail(ctx, MMDX_E_IO, NULL, p, 0, NULL,
                                "chmod failed: %s", strerror(errno));
                break;
            }
        } else if (errno != EEXIST || !mmdx__is_dir(p)) {
            st = mmdx__fail(ctx, MMDX_E_IO, NULL, p, 0, NULL,
                            "cannot create folder: %s", strerror(errno));
            break;
        }
        *s = c;
        if (c == '\0')
            break;
    }
    mmdx__free(p);
    return st;
}

bool mmdx__is_dir(const char *path)
{
    struct stat sb;

    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

bool mmdx__is_file(const char *path)
{
    struct stat sb;

    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

char *mmdx__path_join(const char *a, const char *b)
{
    size_t la, lb;
    char *p;

    if (b[0] == '/' || !a || !a[0] || strcmp(a, ".") == 0)
        return mmdx__strdup(b);
    la = strlen(a);
    lb = strlen(b);
    while (la > 1 && a[la - 1] == '/')
        la--;
    p = mmdx__malloc(la + lb + 2);
    if (!p)
        return NULL;
    memcpy(p, a, la);
    p[la] = '/';
    memcpy(p + la + 1, b, lb + 1);
    return p;
}

char *mmdx__path_dirname(const char *path)
{
    const char *slash = strrchr(path, '/');

    if (!slash)
        return mmdx__strdup(".");
    if (slash == path)
        return mmdx__strdup("/");
    return mmdx__strndup(path, (size_t)(slash - path));
}

const char *mmdx__path_basename(const char *path)
{
    const char *slash = strrchr(path, '/');

    return slash ? slash + 1 : path;
}

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void mmdx__dir_list_free(char **v, size_t n)
{
    while (n)
        mmdx__free(v[--n]);
    mmdx__free(v);
}

enum mmdx_status mmdx__dir_list(struct mmdx_ctx *ctx, const char *stage,
                                const char *dir, unsigned flags, size_t max,
                                char ***out, size_t *n)
{
    DIR *d;
    struct dirent *de;
    char **v = NULL;
    size_t cnt = 0, cap = 0;
    enum mmdx_status st = MMDX_OK;

    *out = NULL;
    *n = 0;
    d = opendir(dir);
    if (!d)
        return mmdx__fail(ctx, MMDX_E_IO, stage, dir, 0, NULL,
                          "cannot open folder: %s", strerror(errno));
    while ((de = readdir(d)) != NULL) {
        char *full = NULL;

        if (de->d_name[0] == '.')
            continue;
        if (flags & (MMDX_DIR_FILES_ONLY | MMDX_DIR_FULL_PATHS)) {
            full = mmdx__path_join(dir, de->d_name);
            if (!full) {
                st = mmdx__nomem(ctx);
                break;
            }
            if ((flags & MMDX_DIR_FILES_ONLY) && !mmdx__is_file(full)) {
                mmdx__free(full);
                continue;
            }
        }
        if (max && cnt >= max) {
            mmdx__free(full);
            st = mmdx__fail(ctx, MMDX_E_LIMIT, stage, dir, 0, NULL,
                            "more than %zu entries in the folder", max);
            break;
        }
        if (!(flags & MMDX_DIR_FULL_PATHS)) {
            mmdx__free(full);
            full = mmdx__strdup(de->d_name);
            if (!full) {
                st = mmdx__nomem(ctx);
                break;
            }
        }
        if (cnt == cap) {
            size_t ncap = cap ? cap * 2 : 32;
            char **nv = mmdx__realloc(v, ncap * sizeof(*nv));

            if (!nv) {
                mmdx__free(full);
                st = mmdx__nomem(ctx);
                break;
            }
            v = nv;
            cap = ncap;
        }
        v[cnt++] = full;
    }
    closedir(d);
    if (st) {
        mmdx__dir_list_free(v, cnt);
        return st;
    }
    if (cnt)
        qsort(v, cnt, sizeof(*v), cmp_entry);
    *out = v;
    *n = cnt;
    return MMDX_OK;
}
