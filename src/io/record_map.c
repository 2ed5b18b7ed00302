/*
 * record_map.c - string hash map (FNV-1a, linear probing, load <= 1/2).
 */
#include "core/common.h"
#include "io/record_map.h"

static uint32_t fnv1a(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    size_t i;

    for (i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 16777619u;
    }
    return h;
}

void mmdx__strmap_init(struct mmdx_strmap *m)
{
    memset(m, 0, sizeof(*m));
}

void mmdx__strmap_init_borrowed(struct mmdx_strmap *m)
{
    memset(m, 0, sizeof(*m));
    m->borrow = true;
}

void mmdx__strmap_fini(struct mmdx_strmap *m)
{
    size_t i;

    for (i = 0; i < m->cap && !m->borrow; i++)
        mmdx__free(m->v[i].key);
    mmdx__free(m->v);
    memset(m, 0, sizeof(*m));
}

static struct mmdx_strmap_ent *slot(struct mmdx_strmap_ent *v, size_t cap,
                                    const char *key, size_t klen,
                                    uint32_t h)
{
    size_t i = h & (cap - 1);

    for (;;) {
        struct mmdx_strmap_ent *e = &v[i];

        if (!e->key ||
            (e->hash == h && e->klen == klen && memcmp(e->key, key, klen) == 0))
            return e;
        i = (i + 1) & (cap - 1);
    }
}

static enum mmdx_status rehash(struct mmdx_strmap *m, size_t ncap)
{
    struct mmdx_strmap_ent *nv = mmdx__calloc(ncap, sizeof(*nv));
    size_t i;

    if (!nv)
        return MMDX_E_NOMEM;
    for (i = 0; i < m->cap; i++)
        if (m->v[i].key)
            *slot(nv, ncap, m->v[i].key, m->v[i].klen, m->v[i].hash) =
                m->v[i];
    mmdx__free(m->v);
    m->v = nv;
    m->cap = ncap;
    return MMDX_OK;
}

enum mmdx_status mmdx__strmap_put(struct mmdx_strmap *m, const char *key,
                                  size_t klen, void *val)
{
    uint32_t h = fnv1a(key, klen);
    struct mmdx_strmap_ent *e;
    char *k;

    if ((m->n + 1) * 2 > m->cap) {
        size_t ncap = m->cap ? m->cap * 2 : 64;

        if (ncap < m->cap || rehash(m, ncap))
            return MMDX_E_NOMEM;
    }
    e = slot(m->v, m->cap, key, klen, h);
    if (e->key)
        return MMDX_OK;
    k = m->borrow ? (char *)key : mmdx__strndup(key, klen);
    if (!k)
        return MMDX_E_NOMEM;
    e->key = k;
    e->klen = klen;
    e->hash = h;
    e->val = val;
    m->n++;
    return MMDX_OK;
}

void *mmdx__strmap_get(const struct mmdx_strmap *m, const char *key,
                       size_t klen)
{
    struct mmdx_strmap_ent *e;

    if (!m->cap)
        return NULL;
    e = slot(m->v, m->cap, key, klen, fnv1a(key, klen));
    return e->key ? e->val : NULL;
}

void **mmdx__strmap_ref(struct mmdx_strmap *m, const char *key, size_t klen)
{
    struct mmdx_strmap_ent *e;

    if (!m->cap)
        return NULL;
    e = slot(m->v, m->cap, key, klen, fnv1a(key, klen));
    return e->key ? &e->val : NULL;
}
