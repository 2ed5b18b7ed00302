/*
 * wfdb_ann.c - MIT-format annotation files (.atr and friends).
 *
 * The file is a sequence of little-endian 16-bit words: the top 6 bits are
 * a code A, the low 10 bits a value I. A in 1..49 starts an annotation of
 * that type, I samples after the previous one. Pseudo-codes: SKIP (59,
 * then a 32-bit interval as two words, high word first), NUM (60), SUB
 * (61), CHN (62) and AUX (63, I bytes of text padded to an even length)
 * modify the annotation they follow (SKIP the one it precedes); A = I = 0
 * ends the file. chan and num carry over from one annotation to the next;
 * subtype and aux do not.
 */
#include "core/common.h"
#include "io/wfdb.h"

#define STAGE "io.wfdb.ann"

enum { C_SKIP = 59, C_NUM = 60, C_SUB = 61, C_CHN = 62, C_AUX = 63,
       C_MAX = 49 };

static const char *const mnemonics[C_MAX + 1] = {
    " ", "N", "L", "R", "a", "V", "F", "J", "A", "S", "E", "j", "/", "Q",
    "~", "[15]", "|", "[17]", "s", "T", "*", "D", "\"", "=", "p", "B", "^",
    "t", "+", "u", "?", "!", "[", "]", "e", "n", "@", "x", "f", "(", ")",
    "r", "[42]", "[43]", "[44]", "[45]", "[46]", "[47]", "[48]", "[49]"
};

const char *mmdx__wfdb_ann_mnemonic(int code)
{
    if (code < 0 || code > C_MAX)
        return "[?]";
    return mnemonics[code];
}

int mmdx__wfdb_ann_code(const char *m)
{
    int i;

    for (i = 1; i <= C_MAX; i++)
        if (strcmp(m, mnemonics[i]) == 0)
            return i;
    return -1;
}

bool mmdx__wfdb_ann_is_beat(int code)
{
    /* N L R B A a J S V r F e j n E / f Q ? (ANSI/AAMI EC57, WFDB isqrs) */
    switch (code) {
    case 1: case 2: case 3: case 25: case 8: case 4: case 7: case 9:
    case 5: case 41: case 6: case 34: case 11: case 35: case 10: case 12:
    case 38: case 13: case 30:
        return true;
    default:
        return false;
    }
}

void mmdx__wfdb_annset_fini(struct mmdx_wfdb_annset *s)
{
    size_t i;

    for (i = 0; i < s->n; i++)
        mmdx__free(s->a[i].aux);
    mmdx__free(s->a);
    memset(s, 0, sizeof(*s));
}

static enum mmdx_status grow(struct mmdx_ctx *ctx, struct mmdx_wfdb_annset *s)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 256;
        struct mmdx_wfdb_ann *a;

        if (cap > SIZE_MAX / sizeof(*a))
            return mmdx__nomem(ctx);
        a = mmdx__realloc(s->a, cap * sizeof(*a));
        if (!a)
            return mmdx__nomem(ctx);
        s->a = a;
        s->cap = cap;
    }
    return MMDX_OK;
}

enum mmdx_status mmdx__wfdb_annset_add(struct mmdx_ctx *ctx,
                                       struct mmdx_wfdb_annset *s,
                                       long long sample, int code,
                                       const char *aux)
{
    struct mmdx_wfdb_ann *a;
    enum mmdx_status st = grow(ctx, s);

    if (st)
        return st;
    a = &s->a[s->n];
    memset(a, 0, sizeof(*a));
    a->sample = sample;
    a->code = code;
    if (aux) {
        a->aux = mmdx__strdup(aux);
        if (!a->aux)
            return mmdx__nomem(ctx);
    }
    s->n++;
    return MMDX_OK;
}

static int sext10(unsigned v)
{
    return v & 0x200 ? (int)v - 1024 : (int)v;
}

enum mmdx_status mmdx__wfdb_ann_parse(struct mmdx_ctx *ctx, const char *path,
                                      const unsigned char *d, size_t len,
                                      struct mmdx_wfdb_annset *out)
{
    size_t pos = 0;
    long long t = 0;
    int chan = 0, num = 0;
    enum mmdx_status st = MMDX_OK;

    memset(out, 0, sizeof(*out));
    while (pos + 2 <= len) {
        unsigned w = (unsigned)d[pos] | ((unsigned)d[pos + 1] << 8);
        unsigned a = w >> 10, i = w & 0x3ff;
        size_t at = pos;

        pos += 2;
        if (a == 0 && i == 0)
            return MMDX_OK;
        if (a == C_SKIP) {
            uint32_t hi, lo;

            if (pos + 4 > len) {
                st = mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, path, 0, "SKIP",
                                "truncated at byte %zu", at);
                goto fail;
            }
            hi = (uint32_t)d[pos] | ((uint32_t)d[pos + 1] << 8);
            lo = (uint32_t)d[pos + 2] | ((uint32_t)d[pos + 3] << 8);
            pos += 4;
            t += (int32_t)((hi << 16) | lo);
            continue;
        }
        if (a >= C_NUM) {
            struct mmdx_wfdb_ann *cur;

            if (out->n == 0) {
                st = mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, path, 0,
                                a == C_AUX ? "AUX" : "modifier",
                                "modifier before the first annotation at "
                                "byte %zu", at);
                goto fail;
            }
            cur = &out->a[out->n - 1];
            if (a == C_NUM) {
                num = sext10(i);
                cur->num = num;
            } else if (a == C_SUB) {
                cur->subtype = sext10(i);
            } else if (a == C_CHN) {
                chan = (int)i;
                cur->chan = chan;
            } else { /* AUX */
                if (pos + i > len) {
                    st = mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, path, 0,
                                    "AUX", "truncated: %u bytes of text "
                                    "announced at byte %zu", i, at);
                    goto fail;
                }
                mmdx__free(cur->aux);
                cur->aux = mmdx__strndup((const char *)d + pos, i);
                if (!cur->aux) {
                    st = mmdx__nomem(ctx);
                    goto fail;
                }
                pos += i + (i & 1);
            }
            continue;
        }
        /* an annotation (codes 50-58 are undefined but kept) */
        t += i;
        if (t < 0 || t > (long long)1 << 48) {
            st = mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, path, 0, "time",
                            "annotation time out of range at byte %zu", at);
            goto fail;
        }
        st = mmdx__wfdb_annset_add(ctx, out, t, (int)a, NULL);
        if (st)
            goto fail;
        out->a[out->n - 1].chan = chan;
        out->a[out->n - 1].num = num;
    }
    if (pos != len) {
        st = mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, path, 0, NULL,
                        "truncated: odd length %zu", len);
        goto fail;
    }
    return MMDX_OK; /* no end marker: accepted like WFDB does */
fail:
    mmdx__wfdb_annset_fini(out);
    return st;
}

enum mmdx_status mmdx__wfdb_ann_read(struct mmdx_ctx *ctx, const char *path,
                                     struct mmdx_wfdb_annset *out)
{
    char *data = NULL;
    size_t len;
    enum mmdx_status st;

    memset(out, 0, sizeof(*out));
    st = mmdx__file_read(ctx, path, MMDX_WFDB_MAX_ANN_BYTES, &data, &len);
    if (st)
        return st;
    st = mmdx__wfdb_ann_parse(ctx, path, (const unsigned char *)data, len,
                              out);
    mmdx__free(data);
    return st;
}

struct wbuf {
    unsigned char *p;
    size_t n, cap;
};

static bool put(struct wbuf *b, unsigned w)
{
    if (b->n + 2 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 1024;
        unsigned char *p = mmdx__realloc(b->p, cap);

        if (!p)
            return false;
        b->p = p;
        b->cap = cap;
    }
    b->p[b->n++] = (unsigned char)(w & 0xff);
    b->p[b->n++] = (unsigned char)((w >> 8) & 0xff);
    return true;
}

enum mmdx_status mmdx__wfdb_ann_encode(struct mmdx_ctx *ctx,
                                       const struct mmdx_wfdb_annset *s,
                                       unsigned char **out, size_t *len)
{
    struct wbuf b = { NULL, 0, 0 };
    long long prev = 0;
    int chan = 0, num = 0;
    size_t k;
    bool ok = true;

    *out = NULL;
    *len = 0;
    for (k = 0; k < s->n && ok; k++) {
        const struct mmdx_wfdb_ann *a = &s->a[k];
        long long dt = a->sample - prev;

        if (a->code < 1 || a->code > C_MAX || dt < 0 || dt > INT32_MAX ||
            a->chan < 0 || a->chan > 255 || a->num < -128 || a->num > 127 ||
            a->subtype < -128 || a->subtype > 127 ||
            (a->aux && strlen(a->aux) > 255)) {
            mmdx__free(b.p);
            return mmdx__fail(ctx, MMDX_E_INVAL, STAGE, NULL, 0, NULL,
                              "annotation %zu cannot be written (code %d, "
                              "time not increasing, or field out of range)",
                              k, a->code);
        }
        if (dt > 1023) {
            ok = put(&b, C_SKIP << 10) &&
                 put(&b, (unsigned)((uint64_t)dt >> 16) & 0xffff) &&
                 put(&b, (unsigned)dt & 0xffff);
            dt = 0;
        }
        ok = ok && put(&b, ((unsigned)a->code << 10) | (unsigned)dt);
        if (ok && a->subtype)
            ok = put(&b, (C_SUB << 10) | ((unsigned)a->subtype & 0x3ff));
        if (ok && a->chan != chan)
            ok = put(&b, (C_CHN << 10) | (unsigned)a->chan);
        if (ok && a->num != num)
            ok = put(&b, (C_NUM << 10) | ((unsigned)a->num & 0x3ff));
        if (ok && a->aux) {
            size_t l = strlen(a->aux), i;

            ok = put(&b, (C_AUX << 10) | (unsigned)l);
            for (i = 0; ok && i < l; i += 2)
                ok = put(&b, (unsigned char)a->aux[i] |
                                 (i + 1 < l ? (unsigned)(unsigned char)
                                                      a->aux[i + 1]
                                                  << 8
                                            : 0u));
        }
        chan = a->chan;
        num = a->num;
        prev = a->sample;
    }
    ok = ok && put(&b, 0);
    if (!ok) {
        mmdx__free(b.p);
        return mmdx__nomem(ctx);
    }
    *out = b.p;
    *len = b.n;
    return MMDX_OK;
}
