/*
 * cohort.c - DIR/index.html at the end of `mmdx run`: the patient table
 * (sortable, linking to each report), the risk distribution with cohort
 * percentiles, and the patients that failed with the reasons from
 * DIR/errors.tsv.
 *
 * Reads only what the run wrote: patients/<id>/report.tsv (one row from
 * the report stage), patients/<id>/status and the merged errors.tsv.
 */
#include "core/common.h"
#include "mmdx/pipeline.h"
#include "pipeline/stage.h"
#include "report/report.h"
#include "report/report_int.h"

#define INDEX_MAX_ROWS 50000   /* table rows written; the rest counted */
#define ROW_MAX_BYTES 4096

struct prow {
    const char *id;
    char status[16];        /* ok / partial / failed / "" (not run) */
    double risk, score, pct;
    char band[16];
    char used[64], missing[64], failed[64];
    long nflags, nerrors;
    bool has_report;
};

/* Split a TSV line in place; returns the number of fields. */
static size_t split_tabs(char *line, char **f, size_t max)
{
    size_t k = 0;
    char *s = line;

    line[strcspn(line, "\r\n")] = '\0';
    while (k < max) {
        char *t = strchr(s, '\t');

        f[k++] = s;
        if (!t)
            break;
        *t = '\0';
        s = t + 1;
    }
    return k;
}

static double num_or_nan(const char *s)
{
    double v;

    return mmdx__parse_double(s, &v) ? v : NAN;
}

static enum mmdx_status read_small(struct mmdx_ctx *ctx, const char *dir,
                                   const char *id, const char *name,
                                   char **data)
{
    char *d = mmdx__path_join(dir, id), *f = d ? mmdx__path_join(d, name)
                                               : NULL;
    size_t len;
    enum mmdx_status st = MMDX_OK;

    *data = NULL;
    if (!f)
        st = mmdx__nomem(ctx);
    else if (mmdx__is_file(f))
        st = mmdx__file_read(ctx, f, ROW_MAX_BYTES, data, &len);
    if (st && st != MMDX_E_NOMEM) {
        /* an odd per-patient file makes an empty row, not a failed run */
        mmdx_ctx_clear_error(ctx);
        st = MMDX_OK;
    }
    mmdx__free(f);
    mmdx__free(d);
    return st;
}

static enum mmdx_status load_row(struct mmdx_ctx *ctx, const char *pdir,
                                 struct prow *r)
{
    char *data = NULL, *f[16];
    enum mmdx_status st;

    r->risk = r->score = r->pct = NAN;
    st = read_small(ctx, pdir, r->id, "status", &data);
    if (!st && data) {
        const char *s = strstr(data, "\nstatus ");

        if (s) {
            s += 8;
            mmdx__strlcpy(r->status, s,
                          strcspn(s, "\n") + 1 < sizeof(r->status)
                              ? strcspn(s, "\n") + 1 : sizeof(r->status));
        }
    }
    mmdx__freep(&data);
    if (!st)
        st = read_small(ctx, pdir, r->id, "report.tsv", &data);
    if (!st && data && split_tabs(data, f, 16) >= 9) {
        r->has_report = true;
        r->risk = num_or_nan(f[1]);
        mmdx__strlcpy(r->band, f[2], sizeof(r->band));
        r->score = num_or_nan(f[3]);
        mmdx__strlcpy(r->used, f[4], sizeof(r->used));
        mmdx__strlcpy(r->missing, f[5], sizeof(r->missing));
        mmdx__strlcpy(r->failed, f[6], sizeof(r->failed));
        if (!mmdx__parse_long(f[7], &r->nflags))
            r->nflags = 0;
        if (!mmdx__parse_long(f[8], &r->nerrors))
            r->nerrors = 0;
    }
    mmdx__free(data);
    return st;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y ? 1 : 0;
}

/* Percentile of v among sorted[0..n): share below plus half the ties. */
static double percentile(const double *sorted, size_t n, double v)
{
    size_t lo = 0, hi = n, below, upto;

    while (lo < hi) {
        size_t mid = (lo + hi) / 2;

        if (sorted[mid] < v)
            lo = mid + 1;
        else
            hi = mid;
    }
    below = lo;
    hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;

        if (sorted[mid] <= v)
            lo = mid + 1;
        else
            hi = mid;
    }
    upto = lo;
    return n ? 100.0 * ((double)below + 0.5 * (double)(upto - below)) /
                   (double)n
             : NAN;
}

static const char script[] =
    "<script>(function(){"
    "var t=document.getElementById('patients');if(!t)return;"
    "var hs=t.tHead.rows[0].cells;"
    "for(var i=0;i<hs.length;i++)(function(c){hs[c].style.cursor='pointer';"
    "hs[c].title='sort';hs[c].onclick=function(){"
    "var b=t.tBodies[0],rows=Array.prototype.slice.call(b.rows),"
    "d=hs[c].getAttribute('data-dir')==='a'?-1:1;"
    "hs[c].setAttribute('data-dir',d>0?'a':'d');"
    "rows.sort(function(x,y){var u=x.cells[c].getAttribute('data-v'),"
    "v=y.cells[c].getAttribute('data-v');"
    "if(u===null){u=x.cells[c].textContent;v=y.cells[c].textContent;"
    "return d*u.localeCompare(v);}"
    "u=parseFloat(u);v=parseFloat(v);if(isNaN(u))u=-1e300;if(isNaN(v))"
    "v=-1e300;return d*(u-v);});"
    "rows.forEach(function(r){b.appendChild(r);});};})(i);"
    "})();</script>\n";

static void cell_num(struct rout *o, double v, double shown_scale,
                     int decimals)
{
    rout_adds(o, "<td class=\"num\" data-v=\"");
    rout_g(o, v);
    rout_adds(o, "\">");
    rout_num(o, v * shown_scale, decimals);
    rout_adds(o, "</td>");
}

static void cell_text(struct rout *o, const char *s)
{
    rout_adds(o, "<td>");
    rout_esc(o, s);
    rout_adds(o, "</td>");
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* errors.tsv rows of failed patients, with the file column left out and
 * the file name inside the message replaced. */
static void failed_section(struct rout *o, struct mmdx_ctx *ctx,
                           const char *out_dir, const char **fid,
                           size_t nfailed)
{
    char *path = mmdx__path_join(out_dir, "errors.tsv"), *data = NULL, *s;
    size_t len, shown = 0, nf = nfailed;

    rout_addf(o, "<h2>Failed patients (%zu)</h2>\n", nfailed);
    if (!nfailed) {
        rout_adds(o, "<p>No patient failed.</p>\n");
        mmdx__free(path);
        return;
    }
    if (!path) {
        o->st = MMDX_E_NOMEM;
        return;
    }
    if (!mmdx__is_file(path) ||
        mmdx__file_read(ctx, path, (size_t)256 << 20, &data, &len)) {
        mmdx_ctx_clear_error(ctx);
        rout_adds(o, "<p>errors.tsv could not be read.</p>\n");
        mmdx__free(path);
        return;
    }
    qsort(fid, nf, sizeof(*fid), cmp_str);
    rout_adds(o, "<table id=\"failed\"><thead><tr><th>patient</th>"
                 "<th>modality</th><th>stage</th><th>code</th><th>reason</th>"
                 "</tr></thead><tbody>\n");
    /* skip the header line */
    s = strchr(data, '\n');
    s = s ? s + 1 : data + len;
    while (*s && shown < INDEX_MAX_ROWS) {
        char *nl = strchr(s, '\n'), *f[6], msg[2048], *hit;
        bool failed = false;

        if (nl)
            *nl = '\0';
        if (split_tabs(s, f, 6) == 6) {
            /* rows of failed patients only */
            const char *key = f[0];

            failed = bsearch(&key, fid, nf, sizeof(*fid), cmp_str) != NULL;
            if (failed) {
                mmdx__strlcpy(msg, f[5], sizeof(msg));
                while (f[2][0] && (hit = strstr(msg, f[2])) != NULL) {
                    char tail[2048];

                    mmdx__strlcpy(tail, hit + strlen(f[2]), sizeof(tail));
                    mmdx__strlcpy(hit, "[input file]",
                                  sizeof(msg) - (size_t)(hit - msg));
                    mmdx__strlcpy(hit + 12, tail,
                                  sizeof(msg) - (size_t)(hit - msg) - 12);
                }
                rout_adds(o, "<tr>");
                cell_text(o, f[0]);
                cell_text(o, f[1]);
                cell_text(o, f[3]);
                cell_text(o, f[4]);
                cell_text(o, msg);
                rout_adds(o, "</tr>\n");
                shown++;
            }
        }
        if (!nl)
            break;
        s = nl + 1;
    }
    rout_adds(o, "</tbody></table>\n");
    mmdx__free(data);
    mmdx__free(path);
}

static const char css[] =
    "body{font-family:sans-serif;margin:24px auto;max-width:1100px;"
    "color:#222}h1{font-size:22px}h2{font-size:17px;border-bottom:2px solid "
    "#ddd}.notice{background:#fff3cd;border:1px solid #e0c36a;"
    "padding:6px 10px;font-weight:bold}table{border-collapse:collapse;"
    "font-size:13px}td,th{border:1px solid #ddd;padding:3px 7px;"
    "text-align:left}th{background:#f4f4f4}td.num{text-align:right}"
    ".muted{color:#777}svg.plot{display:block;margin:6px 0}"
    ".band-high{color:#cb181d;font-weight:bold}.band-moderate{color:#b8860b}"
    "@media print{body{margin:0;max-width:none}}";

/*
 * Fill the cohort section of one patient's report.html: its percentile
 * among this run's risks and its risk drawn on the cohort's distribution.
 * Reports without the markers (no risk) are left alone.
 */
static enum mmdx_status patient_cohort_section(struct mmdx_ctx *ctx,
                                               const char *pdir,
                                               const char *id,
                                               const double *sorted,
                                               size_t nrisk)
{
    char *d = mmdx__path_join(pdir, id), *path = NULL, *html = NULL;
    char *a, *b;
    struct prow r;
    struct rout o;
    size_t len;
    enum mmdx_status st = MMDX_OK;

    rout_init(&o);
    memset(&r, 0, sizeof(r));
    r.id = id;
    if (d)
        path = mmdx__path_join(d, "report.html");
    if (!path) {
        st = mmdx__nomem(ctx);
        goto out;
    }
    if (!mmdx__is_file(path))
        goto out;
    st = load_row(ctx, pdir, &r);
    if (st || !isfinite(r.risk))
        goto out;
    st = mmdx__file_read(ctx, path, (size_t)256 << 20, &html, &len);
    if (st)
        goto out;
    a = strstr(html, REPORT_COHORT_OPEN);
    b = a ? strstr(a, REPORT_COHORT_CLOSE) : NULL;
    if (!a || !b)
        goto out;
    o.st = mmdx__dstr_add(&o.d, html,
                          (size_t)(a - html) + strlen(REPORT_COHORT_OPEN));
    rout_addf(&o, "<div>Cohort percentile: <b>%.0f</b> (among the %zu "
                  "patients of this run with a risk; share with a lower "
                  "risk plus half the ties)</div>",
              percentile(sorted, nrisk, r.risk), nrisk);
    mmdx__svg_hist(&o, "risk-vs-cohort", sorted, nrisk, r.risk,
                   "calibrated risk");
    rout_adds(&o, b);
    st = o.st;
    if (st == MMDX_E_NOMEM)
        mmdx__nomem(ctx);
    if (!st)
        st = mmdx__file_write_atomic(ctx, path, o.d.s, o.d.len);
out:
    rout_fini(&o);
    mmdx__free(html);
    mmdx__free(path);
    mmdx__free(d);
    return st;
}

enum mmdx_status mmdx__report_cohort(struct mmdx_ctx *ctx,
                                     const char *out_dir,
                                     const char *const *ids, size_t nids,
                                     const struct mmdx_pipeline *pipe)
{
    const char **fid = NULL;
    double *sorted = NULL;
    char *pdir = NULL, *path = NULL;
    size_t i, nrisk = 0, nfailed = 0, counts[4] = { 0 };
    struct rout o;
    bool has_report = false;
    enum mmdx_status st = MMDX_OK;

    for (i = 0; i < mmdx__pipeline_nstages(pipe); i++)
        if (strcmp(mmdx__pipeline_stage_name(pipe, i), "report") == 0)
            has_report = true;
    if (!has_report)
        return MMDX_OK;
    rout_init(&o);
    /* memory: 8 bytes a patient for the risks and a pointer per failed
     * patient; rows are read again for the table (at most
     * INDEX_MAX_ROWS of them) */
    sorted = mmdx__calloc(nids ? nids : 1, sizeof(*sorted));
    fid = mmdx__calloc(nids ? nids : 1, sizeof(*fid));
    pdir = mmdx__path_join(out_dir, "patients");
    path = mmdx__path_join(out_dir, "index.html");
    if (!sorted || !fid || !pdir || !path) {
        st = mmdx__nomem(ctx);
        goto out;
    }
    for (i = 0; i < nids && !st; i++) {
        struct prow r;

        memset(&r, 0, sizeof(r));
        r.id = ids[i];
        st = load_row(ctx, pdir, &r);
        if (isfinite(r.risk))
            sorted[nrisk++] = r.risk;
        if (strcmp(r.status, "failed") == 0)
            fid[nfailed++] = ids[i];
        counts[strcmp(r.status, "ok") == 0        ? 0
               : strcmp(r.status, "partial") == 0 ? 1
               : strcmp(r.status, "failed") == 0  ? 2
                                                  : 3]++;
    }
    if (st)
        goto out;
    qsort(sorted, nrisk, sizeof(*sorted), cmp_double);
    for (i = 0; i < nids && !st && nrisk; i++)
        st = patient_cohort_section(ctx, pdir, ids[i], sorted, nrisk);
    if (st)
        goto out;

    rout_adds(&o, "<!DOCTYPE html>\n<html lang=\"en\"><head>"
                  "<meta charset=\"utf-8\"><meta http-equiv=\""
                  "Content-Security-Policy\" content=\"default-src 'none'; "
                  "style-src 'unsafe-inline'; img-src data:; script-src "
                  "'unsafe-inline'\"><title>mmdx cohort</title><style>");
    rout_adds(&o, css);
    rout_adds(&o, "</style></head><body>\n<h1>Cohort overview</h1>\n"
                  "<div class=\"notice\">For research use; not a medical "
                  "device.</div>\n<p>Pipeline <b>");
    rout_esc(&o, mmdx_pipeline_name(pipe));
    rout_adds(&o, "</b> <span class=\"muted\">sha256 ");
    rout_esc(&o, mmdx_pipeline_hash(pipe));
    rout_addf(&o, "</span>, mmdx %s.</p>\n", mmdx_version());
    rout_addf(&o, "<p>%zu patients: %zu ok, %zu partial (a modality "
                  "missing its result), %zu failed%s.</p>\n",
              nids, counts[0], counts[1], counts[2],
              counts[3] ? ", some not run" : "");
    rout_addf(&o, "<h2>Risk distribution</h2>\n");
    if (nrisk) {
        mmdx__svg_hist(&o, "risk-distribution", sorted, nrisk, NAN,
                       "calibrated risk");
        rout_addf(&o, "<p class=\"muted\">%zu patients with a risk; "
                      "percentiles in the table are relative to them "
                      "(share with a lower risk plus half the ties).</p>\n",
                  nrisk);
    } else {
        rout_adds(&o, "<p>No patient has a risk (no fusion.risk stage in "
                      "the pipeline, or it produced none).</p>\n");
    }
    rout_adds(&o, "<h2>Patients</h2>\n<p class=\"muted\">Click a column "
                  "header to sort.</p>\n<table id=\"patients\"><thead><tr>"
                  "<th>patient</th><th>status</th><th>risk (%)</th>"
                  "<th>percentile</th><th>band</th><th>CHA\xe2\x82\x82"
                  "DS\xe2\x82\x82-VASc</th><th>modalities used</th>"
                  "<th>missing</th><th>failed</th><th>flags</th>"
                  "<th>errors</th></tr></thead><tbody>\n");
    for (i = 0; i < nids && i < INDEX_MAX_ROWS && !st; i++) {
        struct prow row, *r = &row;

        memset(&row, 0, sizeof(row));
        row.id = ids[i];
        st = load_row(ctx, pdir, &row);
        if (isfinite(row.risk))
            row.pct = percentile(sorted, nrisk, row.risk);

        rout_adds(&o, "<tr><td>");
        if (r->has_report) {
            rout_adds(&o, "<a href=\"patients/");
            rout_esc(&o, r->id);
            rout_adds(&o, "/report.html\">");
            rout_esc(&o, r->id);
            rout_adds(&o, "</a>");
        } else {
            rout_esc(&o, r->id);
        }
        rout_adds(&o, "</td>");
        cell_text(&o, r->status[0] ? r->status : "not run");
        cell_num(&o, r->risk, 100, 1);
        cell_num(&o, r->pct, 1, 0);
        rout_addf(&o, "<td class=\"band-%s\">",
                  strcmp(r->band, "high") == 0       ? "high"
                  : strcmp(r->band, "moderate") == 0 ? "moderate"
                                                     : "other");
        rout_esc(&o, r->has_report ? r->band : "");
        rout_adds(&o, "</td>");
        cell_num(&o, r->score, 1, 0);
        cell_text(&o, r->used);
        cell_text(&o, r->missing);
        cell_text(&o, r->failed);
        cell_num(&o, r->has_report ? (double)r->nflags : NAN, 1, 0);
        cell_num(&o, r->has_report ? (double)r->nerrors : NAN, 1, 0);
        rout_adds(&o, "</tr>\n");
    }
    rout_adds(&o, "</tbody></table>\n");
    if (nids > INDEX_MAX_ROWS)
        rout_addf(&o, "<p>The first %d patients are listed; all are in "
                      "features.tsv and errors.tsv.</p>\n", INDEX_MAX_ROWS);
    failed_section(&o, ctx, out_dir, fid, nfailed);
    rout_adds(&o, script);
    rout_adds(&o, mmdx__report_probe_js);
    rout_adds(&o, "</body></html>\n");
    if (!st)
        st = o.st;
    if (st == MMDX_E_NOMEM)
        mmdx__nomem(ctx);
    else if (st)
        mmdx__fail(ctx, st, "report", path, 0, NULL, "index too large");
    if (!st)
        st = mmdx__file_write_atomic(ctx, path, o.d.s, o.d.len);
out:
    rout_fini(&o);
    mmdx__free(fid);
    mmdx__free(sorted);
    mmdx__free(pdir);
    mmdx__free(path);
    return st;
}
