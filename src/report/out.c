/*
 * out.c - the report writers' sticky output buffer.
 */
#include "core/common.h"
#include "report/report_int.h"

void rout_init(struct rout *o)
{
    mmdx__dstr_init(&o->d, 0);
    o->st = MMDX_OK;
}

void rout_fini(struct rout *o)
{
    mmdx__dstr_fini(&o->d);
}

void rout_adds(struct rout *o, const char *s)
{
    if (!o->st)
        o->st = mmdx__dstr_adds(&o->d, s);
}

void rout_addf(struct rout *o, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    int n;

    if (o->st)
        return;
    va_start(ap, fmt);
    n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n < 0) {
        o->st = MMDX_E_INTERNAL;
        return;
    }
    if ((size_t)n < sizeof(buf)) {
        o->st = mmdx__dstr_add(&o->d, buf, (size_t)n);
        return;
    }
    /* rare long line: format straight into the buffer */
    va_start(ap, fmt);
    {
        char *big = mmdx__malloc((size_t)n + 1);

        if (!big) {
            o->st = MMDX_E_NOMEM;
        } else {
            vsnprintf(big, (size_t)n + 1, fmt, ap);
            o->st = mmdx__dstr_add(&o->d, big, (size_t)n);
            mmdx__free(big);
        }
    }
    va_end(ap);
}

void rout_esc(struct rout *o, const char *s)
{
    if (!o->st)
        o->st = mmdx__dstr_add_xml(&o->d, s ? s : "");
}

void rout_num(struct rout *o, double v, int decimals)
{
    if (!isfinite(v))
        rout_adds(o, "NA");
    else
        rout_addf(o, "%.*f", decimals, v);
}

void rout_g(struct rout *o, double v)
{
    char buf[32];

    rout_adds(o, mmdx__fmt_double(v, buf));
}

void rout_base64(struct rout *o, const unsigned char *data, size_t len)
{
    static const char tab[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char chunk[4 * 256 + 1];
    size_t i, k = 0;

    for (i = 0; i < len && !o->st; i += 3) {
        unsigned v = (unsigned)data[i] << 16;

        if (i + 1 < len)
            v |= (unsigned)data[i + 1] << 8;
        if (i + 2 < len)
            v |= data[i + 2];
        chunk[k++] = tab[(v >> 18) & 63];
        chunk[k++] = tab[(v >> 12) & 63];
        chunk[k++] = i + 1 < len ? tab[(v >> 6) & 63] : '=';
        chunk[k++] = i + 2 < len ? tab[v & 63] : '=';
        if (k == 4 * 256) {
            o->st = mmdx__dstr_add(&o->d, chunk, k);
            k = 0;
        }
    }
    if (k && !o->st)
        o->st = mmdx__dstr_add(&o->d, chunk, k);
}

const char mmdx__report_probe_js[] =
    "<script>(function(){var e=0;window.addEventListener('error',"
    "function(){e++;document.body.setAttribute('data-errors',e);});"
    "function probe(){var s=document.querySelectorAll('svg.plot'),ok=0;"
    "for(var i=0;i<s.length;i++){var r=s[i].getBoundingClientRect(),"
    "w=s[i].width.baseVal.value;if(r.width>0&&r.height>0&&"
    "Math.abs(r.width-w)<1&&s[i].childElementCount>2)ok++;}"
    "document.body.setAttribute('data-plots',ok+'/'+s.length);"
    "document.body.setAttribute('data-errors',e);}"
    "if(document.readyState==='complete')probe();"
    "else window.addEventListener('load',probe);})();</script>\n";
