/* dstr.c - bounded growable strings and the number formats of our tables. */
#include "core/common.h"

#include <strings.h>

void mmdx__dstr_init(struct mmdx_dstr *d, size_t max)
{
    static char empty[1];

    d->s = empty;
    d->len = 0;
    d->cap = 0;
    d->max = max ? max : (size_t)1 << 30;
}

void mmdx__dstr_fini(struct mmdx_dstr *d)
{
    if (d->cap)
        mmdx__free(d->s);
    mmdx__dstr_init(d, d->max);
}

void mmdx__dstr_reset(struct mmdx_dstr *d)
{
    d->len = 0;
    if (d->cap)
        d->s[0] = '\0';
}

static enum mmdx_status grow(struct mmdx_dstr *d, size_t need)
{
    size_t cap;
    char *p;

    if (need > d->max)
        return MMDX_E_LIMIT;
    if (need + 1 <= d->cap)
        return MMDX_OK;
    cap = d->cap ? d->cap : 64;
    while (cap < need + 1)
        cap *= 2;
    p = mmdx__realloc(d->cap ? d->s : NULL, cap);
    if (!p)
        return MMDX_E_NOMEM;
    if (!d->cap)
        p[0] = '\0';
    d->s = p;
    d->cap = cap;
    return MMDX_OK;
}

enum mmdx_status mmdx__dstr_add(struct mmdx_dstr *d, const char *s, size_t n)
{
    size_t need;
    enum mmdx_status st;

    if (!mmdx__add_size(d->len, n, &need))
        return MMDX_E_LIMIT;
    st = grow(d, need);
    if (st)
        return st;
    memcpy(d->s + d->len, s, n);
    d->len = need;
    d->s[d->len] = '\0';
    return MMDX_OK;
}

enum mmdx_status mmdx__dstr_adds(struct mmdx_dstr *d, const char *s)
{
    return mmdx__dstr_add(d, s, strlen(s));
}

enum mmdx_status mmdx__dstr_addf(struct mmdx_dstr *d, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    int n;
    enum mmdx_status st;

    va_start(ap, fmt);
    n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0)
        return MMDX_E_INVAL;
    if ((size_t)n < sizeof(small))
        return mmdx__dstr_add(d, small, (size_t)n);
    st = grow(d, d->len + (size_t)n);
    if (st)
        return st;
    va_start(ap, fmt);
    vsnprintf(d->s + d->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    d->len += (size_t)n;
    return MMDX_OK;
}

enum mmdx_status mmdx__dstr_add_xml(struct mmdx_dstr *d, const char *s)
{
    enum mmdx_status st = MMDX_OK;
    const char *run = s;

    for (; *s && !st; s++) {
        const char *rep = NULL;

        switch (*s) {
        case '&': rep = "&amp;"; break;
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '"': rep = "&quot;"; break;
        case '\'': rep = "&#39;"; break;
        default:
            /* Control characters other than tab/newline are not XML. */
            if ((unsigned char)*s < 0x20 && *s != '\t' && *s != '\n')
                rep = "?";
            break;
        }
        if (rep) {
            st = mmdx__dstr_add(d, run, (size_t)(s - run));
            if (!st)
                st = mmdx__dstr_adds(d, rep);
            run = s + 1;
        }
    }
    if (!st)
        st = mmdx__dstr_add(d, run, strlen(run));
    return st;
}

char *mmdx__dstr_take(struct mmdx_dstr *d)
{
    char *s;

    if (!d->cap)
        return mmdx__strdup("");
    s = d->s;
    mmdx__dstr_init(d, d->max);
    return s;
}

const char *mmdx__fmt_double(double v, char *buf)
{
    if (isnan(v))
        return "NA";
    if (isinf(v))
        return v > 0 ? "inf" : "-inf";
    if (v == 0)
        v = 0; /* no "-0" in tables */
    snprintf(buf, 32, "%.9g", v);
    return buf;
}

bool mmdx__parse_double(const char *s, double *out)
{
    char *end;
    double v;

    while (*s == ' ' || *s == '\t')
        s++;
    if (!*s)
        return false;
    errno = 0;
    v = strtod(s, &end);
    if (end == s || errno == ERANGE)
        return false;
    while (*end == ' ' || *end == '\t')
        end++;
    if (*end || !isfinite(v))
        return false;
    *out = v;
    return true;
}

bool mmdx__parse_long(const char *s, long *out)
{
    char *end;
    long v;

    while (*s == ' ' || *s == '\t')
        s++;
    if (!*s)
        return false;
    errno = 0;
    v = strtol(s, &end, 10);
    if (end == s || errno == ERANGE)
        return false;
    while (*end == ' ' || *end == '\t')
        end++;
    if (*end)
        return false;
    *out = v;
    return true;
}

bool mmdx__snprintf(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    return n >= 0 && (size_t)n < size;
}

void mmdx__strlcpy(char *dst, const char *src, size_t size)
{
    size_t n;

    if (size == 0)
        return;
    n = strnlen(src, size - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
}

int mmdx__strcasecmp(const char *a, const char *b)
{
    return strcasecmp(a, b);
}

int mmdx__strncasecmp(const char *a, const char *b, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        int ca = tolower_ascii((unsigned char)a[i]);
        int cb = tolower_ascii((unsigned char)b[i]);

        if (ca != cb || !ca)
            return ca - cb;
    }
    return 0;
}
