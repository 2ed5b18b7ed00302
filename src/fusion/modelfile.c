/*
 * modelfile.c - the model file: versioned, endian-safe, checksummed.
 *
 *   0   "MMDXMODL"                magic, 8 bytes
 *   8   u32 format version        MMDX_MODEL_FORMAT
 *   12  u32 flags                 0
 *   16  u64 payload length L      bytes
 *   24  payload                   fields below, little-endian
 *   24+L  64 hex digits           SHA-256 of bytes [0, 24+L)
 *
 * Integers are written byte by byte little-endian, floats as their IEEE
 * bit patterns the same way, strings as u32 length + bytes, so a file is
 * identical whatever the host. Every field is range-checked on reading;
 * a file that fails any check is refused as E_MODEL naming the field.
 */
#include "core/common.h"
#include "fusion/fusion.h"

#define STAGE "fusion.model"
#define HEADER_LEN 24
#define TRAILER_LEN 64
#define MAX_MODEL_BYTES ((size_t)1 << 31)

/* ---- writing --------------------------------------------------------- */

struct wbuf {
    struct mmdx_dstr d;
    enum mmdx_status st;
};

static void put_bytes(struct wbuf *w, const void *p, size_t n)
{
    if (!w->st)
        w->st = mmdx__dstr_add(&w->d, p, n);
}

static void put_u32(struct wbuf *w, uint32_t v)
{
    unsigned char b[4];
    int i;

    for (i = 0; i < 4; i++)
        b[i] = (unsigned char)(v >> (8 * i));
    put_bytes(w, b, 4);
}

static void put_u64(struct wbuf *w, uint64_t v)
{
    unsigned char b[8];
    int i;

    for (i = 0; i < 8; i++)
        b[i] = (unsigned char)(v >> (8 * i));
    put_bytes(w, b, 8);
}

static void put_f32(struct wbuf *w, float f)
{
    uint32_t v;

    memcpy(&v, &f, 4);
    put_u32(w, v);
}

static void put_f64(struct wbuf *w, double f)
{
    uint64_t v;

    memcpy(&v, &f, 8);
    put_u64(w, v);
}

static void put_str(struct wbuf *w, const char *s)
{
    size_t n = strlen(s);

    put_u32(w, (uint32_t)n);
    put_bytes(w, s, n);
}

enum mmdx_status mmdx__model_serialise(struct mmdx_ctx *ctx,
                                       const struct mmdx__model *m,
                                       struct mmdx_dstr *out)
{
    struct wbuf w;
    const struct mmdx__provenance *p = &m->prov;
    char hex[MMDX_SHA256_HEX];
    size_t i, plen;

    mmdx__dstr_init(&w.d, MAX_MODEL_BYTES);
    w.st = MMDX_OK;
    put_bytes(&w, MMDX_MODEL_MAGIC, 8);
    put_u32(&w, MMDX_MODEL_FORMAT);
    put_u32(&w, 0);
    put_u64(&w, 0);                 /* payload length, patched below */

    put_u32(&w, m->arch);
    put_u32(&w, m->pool);
    put_u32(&w, m->head);
    put_u32(&w, (uint32_t)m->hid);
    put_u32(&w, (uint32_t)m->emb);
    put_u32(&w, (uint32_t)m->head_hid);
    put_u32(&w, m->inter);
    put_u32(&w, (uint32_t)m->nmod);
    for (i = 0; i < m->nmod; i++) {
        put_str(&w, m->mod_names[i]);
        put_u32(&w, (uint32_t)m->mod_len[i]);
    }
    put_u32(&w, (uint32_t)m->ngroup);
    for (i = 0; i < m->ngroup; i++) {
        put_u32(&w, (uint32_t)m->grp_mod0[i]);
        put_u32(&w, (uint32_t)m->grp_nmod[i]);
    }
    put_u32(&w, (uint32_t)m->nfeat);
    for (i = 0; i < m->nfeat; i++) {
        put_str(&w, m->feat_names[i]);
        put_f32(&w, m->center[i]);
        put_f32(&w, m->scale[i]);
    }
    put_u32(&w, (uint32_t)m->nparam);
    for (i = 0; i < m->nparam; i++)
        put_f32(&w, m->param[i]);
    put_f64(&w, m->platt_a);
    put_f64(&w, m->platt_b);
    put_f64(&w, m->prior);
    put_f64(&w, m->band_lo);
    put_f64(&w, m->band_hi);
    put_str(&w, p->features_sha256);
    put_str(&w, p->labels_sha256);
    put_str(&w, p->version);
    put_u64(&w, p->seed);
    put_u32(&w, p->epochs);
    put_u32(&w, p->best_epoch);
    put_u64(&w, p->n_train);
    put_u64(&w, p->n_valid);
    put_u64(&w, p->n_test);
    put_f64(&w, p->auroc_train);
    put_f64(&w, p->auroc_valid);
    put_f64(&w, p->auroc_test);
    put_f64(&w, p->lr);
    put_f64(&w, p->weight_decay);
    put_f64(&w, p->align_weight);
    put_f64(&w, p->mod_dropout);
    put_u32(&w, p->batch);
    put_u32(&w, p->patience);
    if (w.st) {
        mmdx__dstr_fini(&w.d);
        return w.st == MMDX_E_NOMEM
                   ? mmdx__nomem(ctx)
                   : mmdx__fail(ctx, w.st, STAGE, NULL, 0, NULL,
                                "model too large to write");
    }
    plen = w.d.len - HEADER_LEN;
    for (i = 0; i < 8; i++)
        w.d.s[16 + i] = (char)(unsigned char)((uint64_t)plen >> (8 * i));
    if (mmdx__sha256_buf(ctx, w.d.s, w.d.len, hex)) {
        mmdx__dstr_fini(&w.d);
        return mmdx__nomem(ctx);
    }
    put_bytes(&w, hex, 64);
    if (w.st) {
        mmdx__dstr_fini(&w.d);
        return mmdx__nomem(ctx);
    }
    *out = w.d;
    return MMDX_OK;
}

enum mmdx_status mmdx__model_save(struct mmdx_ctx *ctx,
                                  const struct mmdx__model *m,
                                  const char *path)
{
    struct mmdx_dstr d;
    enum mmdx_status st;

    st = mmdx__model_serialise(ctx, m, &d);
    if (st)
        return st;
    st = mmdx__file_write_atomic(ctx, path, d.s, d.len);
    if (!st)
        st = mmdx__sha256_buf(ctx, d.s, d.len,
                              ((struct mmdx__model *)(uintptr_t)m)->sha256);
    mmdx__dstr_fini(&d);
    return st;
}

/* ---- reading ------------------------------------------------------------ */

struct rbuf {
    const unsigned char *p, *end;
    bool bad;
};

static uint32_t get_u32(struct rbuf *r)
{
    uint32_t v = 0;
    int i;

    if (r->bad || r->end - r->p < 4) {
        r->bad = true;
        return 0;
    }
    for (i = 0; i < 4; i++)
        v |= (uint32_t)r->p[i] << (8 * i);
    r->p += 4;
    return v;
}

static uint64_t get_u64(struct rbuf *r)
{
    uint64_t v = 0;
    int i;

    if (r->bad || r->end - r->p < 8) {
        r->bad = true;
        return 0;
    }
    for (i = 0; i < 8; i++)
        v |= (uint64_t)r->p[i] << (8 * i);
    r->p += 8;
    return v;
}

static float get_f32(struct rbuf *r)
{
    uint32_t v = get_u32(r);
    float f;

    memcpy(&f, &v, 4);
    return f;
}

static double get_f64(struct rbuf *r)
{
    uint64_t v = get_u64(r);
    double f;

    memcpy(&f, &v, 8);
    return f;
}

/* A string of at most max bytes, printable ASCII without tab, into a new
 * allocation (*out) or a fixed buffer (fixed, size max + 1). */
static enum mmdx_status get_str(struct rbuf *r, size_t max, char **out,
                                char *fixed)
{
    uint32_t n = get_u32(r);
    uint32_t i;

    if (r->bad || n > max || (size_t)(r->end - r->p) < n) {
        r->bad = true;
        return MMDX_E_MODEL;
    }
    for (i = 0; i < n; i++)
        if (r->p[i] < 0x21 || r->p[i] > 0x7e) {
            r->bad = true;
            return MMDX_E_MODEL;
        }
    if (fixed) {
        memcpy(fixed, r->p, n);
        fixed[n] = '\0';
    } else {
        *out = mmdx__strndup((const char *)r->p, n);
        if (!*out)
            return MMDX_E_NOMEM;
    }
    r->p += n;
    return MMDX_OK;
}

#define BAD(field, ...)                                                       \
    do {                                                                      \
        st = mmdx__fail(ctx, MMDX_E_MODEL, STAGE, path, 0, field,            \
                        __VA_ARGS__);                                         \
        goto fail;                                                            \
    } while (0)
#define NEED(cond, field, ...)                                                \
    do {                                                                      \
        if (r.bad)                                                            \
            BAD(field, "model file truncated inside the payload");           \
        if (!(cond))                                                          \
            BAD(field, __VA_ARGS__);                                          \
    } while (0)
#define STR(max, outp, fixed, field)                                          \
    do {                                                                      \
        enum mmdx_status s_ = get_str(&r, (max), (outp), (fixed));           \
        if (s_ == MMDX_E_NOMEM) {                                             \
            st = mmdx__nomem(ctx);                                            \
            goto fail;                                                        \
        }                                                                     \
        if (s_)                                                               \
            BAD(field, "bad or truncated string");                            \
    } while (0)

static bool hex64(const char *s)
{
    size_t i;

    if (!s[0])
        return true;        /* unknown */
    for (i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return s[64] == '\0';
}

enum mmdx_status mmdx__model_parse(struct mmdx_ctx *ctx, const char *path,
                                   const unsigned char *data, size_t len,
                                   struct mmdx__model *m)
{
    struct rbuf r;
    struct mmdx__provenance *p = &m->prov;
    char hex[MMDX_SHA256_HEX];
    uint64_t plen;
    uint32_t ver, i, n;
    size_t sum;
    enum mmdx_status st = MMDX_OK;

    memset(m, 0, sizeof(*m));
    if (len < 8 || memcmp(data, MMDX_MODEL_MAGIC, 8))
        return mmdx__fail(ctx, MMDX_E_MODEL, STAGE, path, 0, "magic",
                          "not an mmdx model file");
    r.p = data + 8;
    r.end = data + len;
    r.bad = false;
    ver = get_u32(&r);
    if (r.bad)
        return mmdx__fail(ctx, MMDX_E_MODEL, STAGE, path, 0, "header",
                          "model file truncated in its header");
    if (ver != MMDX_MODEL_FORMAT)
        return mmdx__fail(ctx, MMDX_E_MODEL, STAGE, path, 0, "version",
                          "model file format %u; this mmdx reads format %u",
                          ver, MMDX_MODEL_FORMAT);
    (void)get_u32(&r);
    plen = get_u64(&r);
    if (r.bad || len < HEADER_LEN + TRAILER_LEN ||
        plen != (uint64_t)(len - HEADER_LEN - TRAILER_LEN))
        return mmdx__fail(ctx, MMDX_E_MODEL, STAGE, path, 0, "length",
                          "model file is %zu bytes; its header announces "
                          "%llu (truncated or extended)",
                          len, (unsigned long long)plen + HEADER_LEN +
                                   TRAILER_LEN);
    st = mmdx__sha256_buf(ctx, data, len - TRAILER_LEN, hex);
    if (st)
        return st;
    if (memcmp(hex, data + len - TRAILER_LEN, 64))
        return mmdx__fail(ctx, MMDX_E_MODEL, STAGE, path, 0, "checksum",
                          "SHA-256 checksum mismatch: the model file is "
                          "corrupt");
    r.end = data + len - TRAILER_LEN;

    m->arch = get_u32(&r);
    m->pool = get_u32(&r);
    m->head = get_u32(&r);
    m->hid = get_u32(&r);
    m->emb = get_u32(&r);
    m->head_hid = get_u32(&r);
    m->inter = get_u32(&r);
    NEED(m->arch <= MMDX_ARCH_SINGLE && m->pool <= MMDX_POOL_ATTENTION &&
             m->head <= MMDX_HEAD_MLP && m->hid <= MMDX_FUSION_MAX_WIDTH &&
             m->emb >= 1 && m->emb <= MMDX_FUSION_MAX_WIDTH &&
             m->head_hid <= MMDX_FUSION_MAX_WIDTH && m->inter <= 1,
         "architecture", "unknown architecture values");
    n = get_u32(&r);
    NEED(n >= 1 && n <= MMDX_FUSION_MAX_MOD, "modalities",
         "%u modalities (1..%d)", n, MMDX_FUSION_MAX_MOD);
    m->mod_names = mmdx__calloc(n, sizeof(char *));
    m->mod_start = mmdx__calloc(n, sizeof(size_t));
    m->mod_len = mmdx__calloc(n, sizeof(size_t));
    m->grp_mod0 = mmdx__calloc(n, sizeof(size_t));
    m->grp_nmod = mmdx__calloc(n, sizeof(size_t));
    if (!m->mod_names || !m->mod_start || !m->mod_len || !m->grp_mod0 ||
        !m->grp_nmod) {
        st = mmdx__nomem(ctx);
        goto fail;
    }
    m->nmod = n;
    for (i = 0, sum = 0; i < n; i++) {
        STR(MMDX_FTAB_MAX_NAME, &m->mod_names[i], NULL, "modalities");
        m->mod_len[i] = get_u32(&r);
        m->mod_start[i] = sum;
        NEED(m->mod_len[i] >= 1 && m->mod_len[i] <= MMDX_FTAB_MAX_COLS &&
                 !strchr(m->mod_names[i], '.') && m->mod_names[i][0] &&
                 (i == 0 || strcmp(m->mod_names[i - 1], m->mod_names[i]) < 0),
             "modalities", "modality %u is invalid or out of order", i);
        sum += m->mod_len[i];
    }
    m->ngroup = get_u32(&r);
    NEED(m->ngroup >= 1 && m->ngroup <= m->nmod, "groups",
         "%zu encoders for %zu modalities", m->ngroup, m->nmod);
    for (i = 0; i < m->ngroup; i++) {
        m->grp_mod0[i] = get_u32(&r);
        m->grp_nmod[i] = get_u32(&r);
    }
    NEED(true, "groups", "-");
    m->nfeat = get_u32(&r);
    NEED(m->nfeat == sum && m->nfeat <= MMDX_FTAB_MAX_COLS, "features",
         "%zu features; the modalities hold %zu", m->nfeat, sum);
    m->feat_names = mmdx__calloc(m->nfeat, sizeof(char *));
    m->center = mmdx__calloc(m->nfeat, sizeof(float));
    m->scale = mmdx__calloc(m->nfeat, sizeof(float));
    if (!m->feat_names || !m->center || !m->scale) {
        st = mmdx__nomem(ctx);
        goto fail;
    }
    for (i = 0, n = 0; i < m->nfeat; i++) {
        const char *mod;
        size_t ml;

        while (n < m->nmod && i >= m->mod_start[n] + m->mod_len[n])
            n++;
        STR(MMDX_FTAB_MAX_NAME, &m->feat_names[i], NULL, "features");
        m->center[i] = get_f32(&r);
        m->scale[i] = get_f32(&r);
        mod = m->mod_names[n];
        ml = strlen(mod);
        NEED(!strncmp(m->feat_names[i], mod, ml) &&
                 m->feat_names[i][ml] == '.' &&
                 (i == 0 ||
                  strcmp(m->feat_names[i - 1], m->feat_names[i]) < 0),
             m->feat_names[i],
             "feature name not of its modality or out of order");
        NEED(isfinite(m->center[i]) && isfinite(m->scale[i]) &&
                 m->scale[i] > 0.0f,
             m->feat_names[i], "bad standardisation values");
    }
    n = get_u32(&r);
    NEED(n <= MMDX_FUSION_MAX_PARAMS && (size_t)(r.end - r.p) / 4 >= n,
         "parameters", "%u parameters do not fit the file", n);
    m->nparam = n;
    m->param = mmdx__malloc((n ? n : 1) * sizeof(float));
    if (!m->param) {
        st = mmdx__nomem(ctx);
        goto fail;
    }
    for (i = 0; i < n; i++) {
        m->param[i] = get_f32(&r);
        NEED(isfinite(m->param[i]), "parameters",
             "parameter %u is not finite", i);
    }
    m->platt_a = get_f64(&r);
    m->platt_b = get_f64(&r);
    m->prior = get_f64(&r);
    m->band_lo = get_f64(&r);
    m->band_hi = get_f64(&r);
    NEED(isfinite(m->platt_a) && isfinite(m->platt_b), "calibration",
         "calibration not finite");
    NEED(m->prior > 0 && m->prior < 1 && m->band_lo >= 0 &&
             m->band_lo <= m->band_hi && m->band_hi <= 1,
         "bands", "prior or risk bands out of range");
    STR(64, NULL, p->features_sha256, "provenance");
    STR(64, NULL, p->labels_sha256, "provenance");
    STR(sizeof(p->version) - 1, NULL, p->version, "provenance");
    NEED(hex64(p->features_sha256) && hex64(p->labels_sha256), "provenance",
         "input hashes are not SHA-256 hex digests");
    p->seed = get_u64(&r);
    p->epochs = get_u32(&r);
    p->best_epoch = get_u32(&r);
    p->n_train = get_u64(&r);
    p->n_valid = get_u64(&r);
    p->n_test = get_u64(&r);
    p->auroc_train = get_f64(&r);
    p->auroc_valid = get_f64(&r);
    p->auroc_test = get_f64(&r);
    p->lr = get_f64(&r);
    p->weight_decay = get_f64(&r);
    p->align_weight = get_f64(&r);
    p->mod_dropout = get_f64(&r);
    p->batch = get_u32(&r);
    p->patience = get_u32(&r);
    NEED(r.p == r.end, "payload", "%zu unexpected bytes after the fields",
         (size_t)(r.end - r.p));
    st = mmdx__model_layout(ctx, m);
    if (st == MMDX_E_NOMEM)
        goto fail;
    if (st) {
        mmdx_ctx_clear_error(ctx);
        BAD("architecture",
            "architecture does not match its parameters or modalities");
    }
    mmdx__strlcpy(m->sha256, "", sizeof(m->sha256));
    return MMDX_OK;
fail:
    mmdx__model_fini(m);
    return st;
}

enum mmdx_status mmdx__model_load(struct mmdx_ctx *ctx, const char *path,
                                  struct mmdx__model *m)
{
    char *data;
    size_t len;
    enum mmdx_status st;

    memset(m, 0, sizeof(*m));
    st = mmdx__file_read(ctx, path, MAX_MODEL_BYTES, &data, &len);
    if (st)
        return st;
    st = mmdx__model_parse(ctx, path, (const unsigned char *)data, len, m);
    if (!st)
        st = mmdx__sha256_buf(ctx, data, len, m->sha256);
    if (st)
        mmdx__model_fini(m);
    mmdx__free(data);
    return st;
}
