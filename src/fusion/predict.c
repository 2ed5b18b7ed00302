/*
 * predict.c - applying a model: matching feature names, risks, exact
 * leave-modality-out contributions, gradient x input attributions, and
 * `mmdx predict` over a feature table of any size (streamed in chunks).
 */
#include "core/common.h"
#include "fusion/fusion.h"
#include "fusion/risk.h"

#include <cblas.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#define STAGE "fusion.predict"
#define CHUNK_ROWS 2048

const char *mmdx__risk_band(const struct mmdx__model *m, double risk)
{
    if (isnan(risk))
        return "none";
    return risk < m->band_lo ? "low" : risk < m->band_hi ? "moderate"
                                                           : "high";
}

static long find_name(char *const *v, size_t n, const char *name)
{
    size_t lo = 0, hi = n;

    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(v[mid], name);

        if (!c)
            return (long)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

static bool model_has_modality(const struct mmdx__model *m, const char *name)
{
    const char *dot = strchr(name, '.');
    size_t pl = dot ? (size_t)(dot - name) : strlen(name), k;

    for (k = 0; k < m->nmod; k++)
        if (strlen(m->mod_names[k]) == pl &&
            !strncmp(m->mod_names[k], name, pl))
            return true;
    return false;
}

enum mmdx_status mmdx__model_match(struct mmdx_ctx *ctx,
                                   const struct mmdx__model *m,
                                   const char *what, char *const *names,
                                   size_t n, size_t *map, bool require_all)
{
    unsigned char *seen;
    struct mmdx_dstr extra, missing;
    size_t j, nextra = 0, nmissing = 0;
    enum mmdx_status st = MMDX_OK;

    seen = mmdx__calloc(m->nfeat, 1);
    if (!seen)
        return mmdx__nomem(ctx);
    mmdx__dstr_init(&extra, 400);
    mmdx__dstr_init(&missing, 400);
    for (j = 0; j < n; j++) {
        long k = find_name(m->feat_names, m->nfeat, names[j]);

        map[j] = SIZE_MAX;
        if (k >= 0 && !seen[k]) {
            map[j] = (size_t)k;
            seen[k] = 1;
        } else if (k < 0 && model_has_modality(m, names[j])) {
            if (nextra++ < 3)
                mmdx__dstr_addf(&extra, "%s%s", nextra > 1 ? ", " : "",
                                names[j]);
        }
    }
    for (j = 0; j < m->nfeat && require_all; j++)
        if (!seen[j] && nmissing++ < 3)
            mmdx__dstr_addf(&missing, "%s%s", nmissing > 1 ? ", " : "",
                            m->feat_names[j]);
    if (nextra || nmissing) {
        if (nextra && nmissing)
            st = mmdx__fail(ctx, MMDX_E_MODEL, STAGE, what, 0, "features",
                            "feature names differ from the model's: %zu "
                            "not in the model (%s%s), %zu of the model "
                            "absent (%s%s)",
                            nextra, extra.s, nextra > 3 ? ", ..." : "",
                            nmissing, missing.s,
                            nmissing > 3 ? ", ..." : "");
        else if (nextra)
            st = mmdx__fail(ctx, MMDX_E_MODEL, STAGE, what, 0, "features",
                            "feature names differ from the model's: %zu "
                            "not in the model (%s%s)",
                            nextra, extra.s, nextra > 3 ? ", ..." : "");
        else
            st = mmdx__fail(ctx, MMDX_E_MODEL, STAGE, what, 0, "features",
                            "feature names differ from the model's: %zu "
                            "of the model absent (%s%s)",
                            nmissing, missing.s,
                            nmissing > 3 ? ", ..." : "");
    }
    mmdx__dstr_fini(&extra);
    mmdx__dstr_fini(&missing);
    mmdx__free(seen);
    return st;
}

static double calibrate(const struct mmdx__model *m, double z)
{
    return 1.0 / (1.0 + exp(-(m->platt_a * z + m->platt_b)));
}

struct topent {
    size_t j;
    double a;
};

static int cmp_top(const void *x, const void *y)
{
    double a = fabs(((const struct topent *)x)->a),
           b = fabs(((const struct topent *)y)->a);
    size_t i = ((const struct topent *)x)->j, k = ((const struct topent *)y)->j;

    if (a != b)
        return a < b ? 1 : -1;
    return (i > k) - (i < k);
}

enum mmdx_status mmdx__model_explain(struct mmdx_ctx *ctx,
                                     const struct mmdx__model *m,
                                     const float *raw, size_t rows,
                                     double *risk, double *logit,
                                     double *contrib, struct mmdx_risk *risks,
                                     bool top)
{
    struct mmdx__ws w;
    size_t cap = rows < CHUNK_ROWS ? rows : CHUNK_ROWS, i, b, k, F = m->nfeat;
    float *xs = NULL, *xk = NULL, *dx = NULL;
    unsigned char *pres = NULL, *pk = NULL;
    double *full = NULL;
    struct topent *ent = NULL;
    enum mmdx_status st;

    if (rows == 0)
        return MMDX_OK;
    st = mmdx__ws_init(ctx, &w, m, cap);
    if (st)
        return st;
    xs = mmdx__malloc(cap * F * sizeof(float));
    xk = mmdx__malloc(cap * F * sizeof(float));
    pres = mmdx__malloc(cap * m->nmod);
    pk = mmdx__malloc(cap * m->nmod);
    full = mmdx__malloc(cap * sizeof(double));
    if (top) {
        dx = mmdx__malloc(cap * F * sizeof(float));
        ent = mmdx__malloc(F * sizeof(*ent));
    }
    if (!xs || !xk || !pres || !pk || !full || (top && (!dx || !ent))) {
        st = mmdx__nomem(ctx);
        goto out;
    }
    for (i = 0; i < rows; i += cap) {
        size_t n = rows - i < cap ? rows - i : cap;

        mmdx__model_standardise(m, raw + i * F, F, n, xs, pres);
        mmdx__model_group_mask(m, pres, n, w.gmask);
        mmdx__model_forward(m, &w, xs, n);
        for (b = 0; b < n; b++) {
            bool any = false;

            for (k = 0; k < m->ngroup; k++)
                any = any || w.gmask[b * m->ngroup + k] != 0.0f;
            full[b] = any ? calibrate(m, w.logit[b]) : NAN;
            if (risk)
                risk[i + b] = full[b];
            if (logit)
                logit[i + b] = any ? w.logit[b] : NAN;
            if (risks) {
                struct mmdx_risk *r = &risks[i + b];

                memset(r, 0, sizeof(*r));
                r->risk = full[b];
                r->logit = any ? w.logit[b] : NAN;
                mmdx__strlcpy(r->band, mmdx__risk_band(m, full[b]),
                              sizeof(r->band));
                for (k = 0; k < MMDX_MOD_COUNT; k++)
                    r->contribution[k] = NAN;
                mmdx__strlcpy(r->contribution_method,
                              "leave-modality-out (exact, calibrated risk)",
                              sizeof(r->contribution_method));
                mmdx__strlcpy(r->attribution_method,
                              "gradient x (input - training median), logit",
                              sizeof(r->attribution_method));
                mmdx__strlcpy(r->model_sha256, m->sha256,
                              sizeof(r->model_sha256));
                snprintf(r->model_name, sizeof(r->model_name), "%s/%s",
                         mmdx__arch_name(m->arch),
                         m->pool == MMDX_POOL_ATTENTION ? "attention"
                                                        : "mean");
                for (k = 0; k < m->nmod; k++) {
                    int e = mmdx__modality_from_name(m->mod_names[k]);

                    if (e >= 0 && pres[b * m->nmod + k])
                        r->modalities |= 1u << e;
                }
            }
        }
        if (top && risks) {
            for (b = 0; b < n; b++)
                w.dlogit[b] = 1.0f;
            mmdx__model_backward_top(m, &w, n, NULL);
            mmdx__model_backward_enc(m, &w, xs, n, NULL, dx);
            for (b = 0; b < n; b++) {
                struct mmdx_risk *r = &risks[i + b];
                const float *rawr = raw + (i + b) * F;
                size_t ne = 0, t;

                if (isnan(full[b]))
                    continue;
                for (k = 0; k < F; k++) {
                    double a = (double)dx[b * F + k] * xs[b * F + k];

                    if (!isnan(rawr[k]) && a != 0.0) {
                        ent[ne].j = k;
                        ent[ne].a = a;
                        ne++;
                    }
                }
                qsort(ent, ne, sizeof(*ent), cmp_top);
                for (t = 0; t < ne && t < MMDX_RISK_TOP_FEATURES; t++) {
                    mmdx__strlcpy(r->top[t].name, m->feat_names[ent[t].j],
                                  sizeof(r->top[t].name));
                    r->top[t].value = rawr[ent[t].j];
                    r->top[t].attribution = ent[t].a;
                }
                r->ntop = t;
            }
        }
        /* leave each modality out in turn */
        for (k = 0; k < m->nmod && (contrib || risks); k++) {
            memcpy(xk, xs, n * F * sizeof(float));
            memcpy(pk, pres, n * m->nmod);
            for (b = 0; b < n; b++) {
                pk[b * m->nmod + k] = 0;
                memset(xk + b * F + m->mod_start[k], 0,
                       m->mod_len[k] * sizeof(float));
            }
            mmdx__model_group_mask(m, pk, n, w.gmask);
            mmdx__model_forward(m, &w, xk, n);
            for (b = 0; b < n; b++) {
                double c = NAN, without;
                size_t g;
                bool any = false;

                if (pres[b * m->nmod + k]) {
                    for (g = 0; g < m->ngroup; g++)
                        any = any || w.gmask[b * m->ngroup + g] != 0.0f;
                    without = any ? calibrate(m, w.logit[b]) : m->prior;
                    c = full[b] - without;
                }
                if (contrib)
                    contrib[(i + b) * m->nmod + k] = c;
                if (risks) {
                    int e = mmdx__modality_from_name(m->mod_names[k]);

                    if (e >= 0)
                        risks[i + b].contribution[e] = c;
                }
            }
        }
    }
out:
    mmdx__ws_fini(&w, m);
    mmdx__free(xs);
    mmdx__free(xk);
    mmdx__free(pres);
    mmdx__free(pk);
    mmdx__free(full);
    mmdx__free(dx);
    mmdx__free(ent);
    return st;
}

/* ---- mmdx predict ----------------------------------------------------- */

/* Risks and contributions in [-1, 1]: fixed, 6 decimals (1e-6 is far
 * below any meaningful risk difference, and formatting a million rows
 * with "%.9g" would cost more than scoring them); other values, NaN ("NA")
 * included, through the shared "%.9g". Not NUL-terminated; buf holds 32
 * bytes. Used by predict and the fusion.risk stage alike. */
size_t mmdx__fmt_prob(double v, char *buf)
{
    char tmp[32];
    long long u;
    size_t n = 0;
    int d;

    if (isnan(v) || v > 1.0 || v < -1.0) {
        const char *t = mmdx__fmt_double(v, tmp);   /* may be a literal */

        n = strlen(t);
        memcpy(buf, t, n);
        return n;
    }
    u = llround(fabs(v) * 1e6);
    if (v < 0 && u)
        buf[n++] = '-';
    buf[n++] = (char)('0' + u / 1000000);
    buf[n++] = '.';
    for (d = 100000; d >= 1; d /= 10)
        buf[n++] = (char)('0' + (u / d) % 10);
    return n;
}

struct outfile {
    FILE *fp;
    char *tmp, *path;
};

static enum mmdx_status out_open(struct mmdx_ctx *ctx, const char *path,
                                 struct outfile *o)
{
    int fd;
    size_t n = strlen(path) + 16;

    memset(o, 0, sizeof(*o));
    o->path = mmdx__strdup(path);
    o->tmp = mmdx__malloc(n);
    if (!o->path || !o->tmp)
        return mmdx__nomem(ctx);
    snprintf(o->tmp, n, "%s.tmp.XXXXXX", path);
    fd = mkostemp(o->tmp, O_CLOEXEC);
    if (fd < 0) {
        o->tmp[0] = '\0';
        return mmdx__fail(ctx, MMDX_E_IO, STAGE, path, 0, NULL,
                          "cannot create: %s", strerror(errno));
    }
    if (fchmod(fd, MMDX_FILE_MODE) < 0 || !(o->fp = fdopen(fd, "w"))) {
        close(fd);
        unlink(o->tmp);
        o->tmp[0] = '\0';
        return mmdx__fail(ctx, MMDX_E_IO, STAGE, path, 0, NULL,
                          "cannot create: %s", strerror(errno));
    }
    setvbuf(o->fp, NULL, _IOFBF, 1 << 20);
    return MMDX_OK;
}

static enum mmdx_status out_close(struct mmdx_ctx *ctx, struct outfile *o,
                                  bool commit)
{
    enum mmdx_status st = MMDX_OK;

    if (o->fp) {
        bool bad = ferror(o->fp) != 0;

        if (fflush(o->fp) || fsync(fileno(o->fp)))
            bad = true;
        if (fclose(o->fp))
            bad = true;
        o->fp = NULL;
        if (commit && !bad && rename(o->tmp, o->path) == 0) {
            /* committed */
        } else {
            if (commit)
                st = mmdx__fail(ctx, MMDX_E_IO, STAGE, o->path, 0, NULL,
                                "write failed: %s", strerror(errno));
            unlink(o->tmp);
        }
    }
    mmdx__free(o->tmp);
    mmdx__free(o->path);
    memset(o, 0, sizeof(*o));
    return st;
}

/* Column order of the contributions: the four standard modalities, then
 * any other modality of the model (so tables from models over standard
 * modalities match the merged risks.tsv of `mmdx run`). ord[c] = model
 * modality or SIZE_MAX (a standard modality the model lacks). */
static size_t contrib_columns(const struct mmdx__model *m, size_t *ord,
                              const char **names)
{
    size_t c = 0, k;
    int e;

    for (e = 0; e < MMDX_MOD_COUNT; e++) {
        names[c] = mmdx__modality_name((enum mmdx_modality)e);
        ord[c] = SIZE_MAX;
        for (k = 0; k < m->nmod; k++)
            if (!strcmp(m->mod_names[k], names[c]))
                ord[c] = k;
        c++;
    }
    for (k = 0; k < m->nmod; k++)
        if (mmdx__modality_from_name(m->mod_names[k]) < 0) {
            names[c] = m->mod_names[k];
            ord[c++] = k;
        }
    return c;
}

enum mmdx_status mmdx_fusion_predict(struct mmdx_ctx *ctx,
                                     const char *model_path,
                                     const char *features_path,
                                     const char *out_path,
                                     const char *top_path, size_t *nrows)
{
    struct mmdx__model m;
    struct mmdx__ftab_reader *rd = NULL;
    struct mmdx__idpool ids;
    struct outfile of, tf;
    size_t *map = NULL, ord[MMDX_MOD_COUNT + MMDX_FUSION_MAX_MOD];
    const char *cnames[MMDX_MOD_COUNT + MMDX_FUSION_MAX_MOD];
    size_t nc, got, b, c, total = 0, ncols;
    float *x = NULL;
    double *risk = NULL, *contrib = NULL;
    struct mmdx_risk *risks = NULL;
    char **names = NULL;
    enum mmdx_status st;

    openblas_set_num_threads(1);
    memset(&of, 0, sizeof(of));
    memset(&tf, 0, sizeof(tf));
    mmdx__idpool_init(&ids);
    if (nrows)
        *nrows = 0;
    st = mmdx__model_load(ctx, model_path, &m);
    if (st)
        return st;
    st = mmdx__ftab_open(ctx, features_path, &rd);
    if (st)
        goto out;
    ncols = mmdx__ftab_ncols(rd);
    map = mmdx__malloc((ncols + 1) * sizeof(size_t));
    names = mmdx__malloc((ncols + 1) * sizeof(char *));
    x = mmdx__malloc((size_t)CHUNK_ROWS * m.nfeat * sizeof(float));
    risk = mmdx__malloc(CHUNK_ROWS * sizeof(double));
    contrib = mmdx__malloc((size_t)CHUNK_ROWS * m.nmod * sizeof(double));
    if (top_path)
        risks = mmdx__malloc(CHUNK_ROWS * sizeof(*risks));
    if (!map || !names || !x || !risk || !contrib || (top_path && !risks)) {
        st = mmdx__nomem(ctx);
        goto out;
    }
    for (c = 0; c < ncols; c++)
        names[c] = (char *)(uintptr_t)mmdx__ftab_name(rd, c);
    st = mmdx__model_match(ctx, &m, features_path, names, ncols, map, true);
    if (st)
        goto out;
    nc = contrib_columns(&m, ord, cnames);
    st = out_open(ctx, out_path, &of);
    if (!st && top_path)
        st = out_open(ctx, top_path, &tf);
    if (st)
        goto out;
    fputs("patient_id\trisk\trisk_band", of.fp);
    for (c = 0; c < nc; c++)
        fprintf(of.fp, "\tcontrib_%s", cnames[c]);
    fputc('\n', of.fp);
    if (tf.fp)
        fputs("patient_id\trank\tfeature\tvalue\tattribution\n", tf.fp);
    for (;;) {
        mmdx__idpool_reset(&ids);
        st = mmdx__ftab_read(rd, CHUNK_ROWS, x, m.nfeat, map, &ids, &got);
        if (st || !got)
            break;
        st = mmdx__model_explain(ctx, &m, x, got, risk, NULL, contrib, risks,
                                 risks != NULL);
        if (st)
            break;
        for (b = 0; b < got; b++) {
            char line[64 + 16 * (MMDX_MOD_COUNT + MMDX_FUSION_MAX_MOD)];
            size_t n = 0;
            const char *band = mmdx__risk_band(&m, risk[b]);

            fputs(mmdx__idpool_get(&ids, b), of.fp);
            line[n++] = '\t';
            n += mmdx__fmt_prob(risk[b], line + n);
            line[n++] = '\t';
            memcpy(line + n, band, strlen(band));
            n += strlen(band);
            for (c = 0; c < nc; c++) {
                line[n++] = '\t';
                if (ord[c] == SIZE_MAX) {
                    memcpy(line + n, "NA", 2);
                    n += 2;
                } else {
                    n += mmdx__fmt_prob(contrib[b * m.nmod + ord[c]], line + n);
                }
            }
            line[n++] = '\n';
            fwrite(line, 1, n, of.fp);
            if (tf.fp) {
                size_t t;
                char v1[32], v2[32];

                for (t = 0; t < risks[b].ntop; t++)
                    fprintf(tf.fp, "%s\t%zu\t%s\t%s\t%s\n",
                            mmdx__idpool_get(&ids, b), t + 1,
                            risks[b].top[t].name,
                            mmdx__fmt_double(risks[b].top[t].value, v1),
                            mmdx__fmt_double(risks[b].top[t].attribution,
                                             v2));
            }
        }
        total += got;
    }
    if (!st)
        st = out_close(ctx, &of, true);
    if (!st && tf.fp)
        st = out_close(ctx, &tf, true);
    if (!st && nrows)
        *nrows = total;
out:
    out_close(ctx, &of, false);
    out_close(ctx, &tf, false);
    mmdx__ftab_close(rd);
    mmdx__idpool_fini(&ids);
    mmdx__free(map);
    mmdx__free(names);
    mmdx__free(x);
    mmdx__free(risk);
    mmdx__free(contrib);
    mmdx__free(risks);
    mmdx__model_fini(&m);
    return st;
}

/* ---- describe ---------------------------------------------------------- */

enum mmdx_status mmdx_fusion_model_describe(struct mmdx_ctx *ctx,
                                            const char *model_path,
                                            void (*emit)(void *user,
                                                         const char *key,
                                                         const char *value),
                                            void *user)
{
    struct mmdx__model m;
    char v[256], num[32];
    size_t k;
    enum mmdx_status st;

    st = mmdx__model_load(ctx, model_path, &m);
    if (st)
        return st;
    emit(user, "format", "mmdx model " "1");
    emit(user, "sha256", m.sha256);
    emit(user, "arch", mmdx__arch_name(m.arch));
    emit(user, "pool", m.pool == MMDX_POOL_ATTENTION ? "attention" : "mean");
    snprintf(v, sizeof(v), "%zu", m.nfeat);
    emit(user, "features", v);
    for (k = 0; k < m.nmod; k++) {
        snprintf(v, sizeof(v), "%s %zu features", m.mod_names[k],
                 m.mod_len[k]);
        emit(user, "modality", v);
    }
    snprintf(v, sizeof(v), "%zu", m.nparam);
    emit(user, "parameters", v);
    snprintf(v, sizeof(v), "%zu-%zu-%zu", m.hid, m.emb, m.head_hid);
    emit(user, "widths", v);
    snprintf(v, sizeof(v), "a=%s", mmdx__fmt_double(m.platt_a, num));
    snprintf(v + strlen(v), sizeof(v) - strlen(v), " b=%s",
             mmdx__fmt_double(m.platt_b, num));
    emit(user, "calibration", v);
    emit(user, "features_sha256", m.prov.features_sha256);
    emit(user, "labels_sha256", m.prov.labels_sha256);
    emit(user, "trained_by", m.prov.version);
    snprintf(v, sizeof(v), "%llu", (unsigned long long)m.prov.seed);
    emit(user, "seed", v);
    snprintf(v, sizeof(v), "%u (best %u)", m.prov.epochs, m.prov.best_epoch);
    emit(user, "epochs", v);
    snprintf(v, sizeof(v), "%llu/%llu/%llu",
             (unsigned long long)m.prov.n_train,
             (unsigned long long)m.prov.n_valid,
             (unsigned long long)m.prov.n_test);
    emit(user, "patients_train_valid_test", v);
    emit(user, "auroc_train", mmdx__fmt_double(m.prov.auroc_train, num));
    emit(user, "auroc_valid", mmdx__fmt_double(m.prov.auroc_valid, num));
    emit(user, "auroc_test", mmdx__fmt_double(m.prov.auroc_test, num));
    mmdx__model_fini(&m);
    return MMDX_OK;
}
