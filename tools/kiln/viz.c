/* tools/kiln/viz.c — kiln viz: one self-contained HTML page of what Kiln
 * did to a model (docs/viz.md).
 *
 * The graph after a pass (default: the final plan, from kiln_inspect) is
 * laid out by Graphviz's dot (libgvc, rendered to SVG in memory and
 * embedded): one box per node (op, type, model name), each kernel a
 * coloured cluster labelled with its kind, GEMM tile and thread split.
 * Beside it, the kernel table and the arena map: every temp buffer as a
 * rectangle of its offset x its lifetime in the schedule.  With --profile
 * the model is run with per-kernel timing and clusters are coloured by
 * their share of the run time.  Small inline JS: pan, zoom, search by
 * name; errors go into #js-errors, #js-status says "ok" once it ran (the
 * browser test reads both).  No network: nothing is loaded from outside.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <graphviz/cgraph.h>
#include <graphviz/gvc.h>

#include "tools.h"

/* ---- a growing string ---- */
typedef struct sbuf {
    char *s;
    size_t len, cap;
    bool oom;
} sbuf;

static void sb_add(sbuf *b, const char *s, size_t n)
{
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1) cap *= 2;
        char *ns = realloc(b->s, cap);
        if (!ns) {
            b->oom = true;
            return;
        }
        b->s = ns, b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = 0;
}

static void sb_puts(sbuf *b, const char *s) { sb_add(b, s, strlen(s)); }

__attribute__((format(printf, 2, 3))) static void sb_printf(sbuf *b, const char *fmt, ...)
{
    char tmp[2048];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof tmp) {
        sb_add(b, tmp, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) {
        b->oom = true;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    sb_add(b, big, (size_t)n);
    free(big);
}

/* Text for HTML (and attributes). */
static void sb_html(sbuf *b, const char *s)
{
    for (; *s; s++) switch (*s) {
        case '<': sb_puts(b, "&lt;"); break;
        case '>': sb_puts(b, "&gt;"); break;
        case '&': sb_puts(b, "&amp;"); break;
        case '"': sb_puts(b, "&quot;"); break;
        case '\'': sb_puts(b, "&#39;"); break;
        default:
            if ((unsigned char)*s >= 32) sb_add(b, s, 1);
        }
}

/* Text for a Graphviz label: backslash escapes (\n, \l) are Graphviz's. */
static void label_text(char *out, size_t n, const char *s, size_t max)
{
    size_t k = 0, len = strlen(s);
    if (len > max) s += len - max + 2, out[k++] = '.', out[k++] = '.';
    for (; *s && k + 2 < n; s++) out[k++] = (*s == '\\' || (unsigned char)*s < 32) ? '/' : *s;
    out[k] = 0;
}

static const char *fmt_bytes(char *buf, size_t n, int64_t v)
{
    if (v >= (1 << 20)) snprintf(buf, n, "%.2f MiB", (double)v / (1 << 20));
    else if (v >= 1024) snprintf(buf, n, "%.1f KiB", (double)v / 1024);
    else snprintf(buf, n, "%lld B", (long long)v);
    return buf;
}

/* Cluster fill by kernel kind (pale, so node text stays readable). */
static const char *kind_color(const char *kind)
{
    if (!strncmp(kind, "conv", 4)) return "#cfe3ff";
    if (!strncmp(kind, "gemm", 4)) return "#d9f2d0";
    if (!strcmp(kind, "loop")) return "#fff1c2";
    if (!strcmp(kind, "reduction")) return "#f6d6f0";
    if (!strcmp(kind, "movement")) return "#e4e4e4";
    if (!strcmp(kind, "copy")) return "#eeeeee";
    if (!strcmp(kind, "control")) return "#ffe0cc";
    return "#e0f4f4";
}

/* White -> orange -> red by share of the run time (0..1). */
static void heat_color(char *out, size_t n, double share)
{
    double t = share <= 0 ? 0 : share >= 0.25 ? 1 : share / 0.25; /* a quarter of the time is full red */
    int r = 255, g = (int)(250 - 190 * t), b = (int)(240 - 210 * t);
    snprintf(out, n, "#%02x%02x%02x", r, g, b);
}

static void kernel_caption(const kiln_kernel_info *k, char *out, size_t n)
{
    size_t at = (size_t)snprintf(out, n, "k%d %s", k->index, k->kind);
    if (k->mr && at < n) at += (size_t)snprintf(out + at, n - at, " tile %dx%d", k->mr, k->nr);
    if (k->threads > 1 && at < n)
        at += (size_t)snprintf(out + at, n - at, k->split_units ? " split %lld/%dt" : " 1 thread", (long long)k->split_units,
                               k->threads);
    (void)at;
}

/* ---- the graph, through Graphviz ---- */
static char *layout_svg(const kiln_plan_info *pi, const prof_result *prof, size_t *len_out)
{
    GVC_t *gvc = gvContext();
    if (!gvc) return NULL;
    Agraph_t *g = agopen("kiln", Agdirected, NULL);
    agattr(g, AGRAPH, "rankdir", "TB");
    agattr(g, AGRAPH, "fontname", "Helvetica");
    agattr(g, AGRAPH, "fontsize", "11");
    agattr(g, AGRAPH, "nodesep", "0.25");
    agattr(g, AGRAPH, "ranksep", "0.3");
    agattr(g, AGRAPH, "style", "");
    agattr(g, AGRAPH, "fillcolor", "");
    agattr(g, AGRAPH, "color", "");
    agattr(g, AGRAPH, "label", "");
    agattr(g, AGRAPH, "id", "");
    agattr(g, AGRAPH, "class", "");
    agattr(g, AGRAPH, "tooltip", "");
    agattr(g, AGRAPH, "labeljust", "l");
    agattr(g, AGNODE, "shape", "box");
    agattr(g, AGNODE, "style", "rounded,filled");
    agattr(g, AGNODE, "fillcolor", "white");
    agattr(g, AGNODE, "fontname", "Helvetica");
    agattr(g, AGNODE, "fontsize", "9");
    agattr(g, AGNODE, "height", "0.3");
    agattr(g, AGNODE, "margin", "0.06,0.02");
    agattr(g, AGNODE, "label", "");
    agattr(g, AGNODE, "id", "");
    agattr(g, AGNODE, "class", "");
    agattr(g, AGNODE, "tooltip", "");
    agattr(g, AGEDGE, "arrowsize", "0.5");
    agattr(g, AGEDGE, "color", "#777777");
    Agraph_t **clusters = calloc((size_t)pi->n_kernels + 1, sizeof *clusters);
    Agnode_t **nodes = calloc((size_t)pi->n_nodes + 1, sizeof *nodes);
    int max_id = 0;
    for (int i = 0; i < pi->n_nodes; i++) max_id = pi->nodes[i].id > max_id ? pi->nodes[i].id : max_id;
    int *index_of = calloc((size_t)max_id + 1, sizeof *index_of);
    if (!clusters || !nodes || !index_of) {
        free(clusters), free(nodes), free(index_of);
        agclose(g);
        gvFreeContext(gvc);
        return NULL;
    }
    for (int i = 0; i < pi->n_nodes; i++) index_of[pi->nodes[i].id] = i;
    char buf[512], a[128], b[128];
    for (int k = 0; k < pi->n_kernels; k++) {
        const kiln_kernel_info *ki = &pi->kernels[k];
        snprintf(buf, sizeof buf, "cluster_k%d", k);
        Agraph_t *c = clusters[k] = agsubg(g, buf, 1);
        char cap[160], color[16];
        kernel_caption(ki, cap, sizeof cap);
        if (prof) {
            heat_color(color, sizeof color, prof->kernels[k].share);
            snprintf(buf, sizeof buf, "%s  %.1f%%", cap, 100 * prof->kernels[k].share);
        } else {
            snprintf(color, sizeof color, "%s", kind_color(ki->kind));
            snprintf(buf, sizeof buf, "%s", cap);
        }
        agsafeset(c, "label", buf, "");
        agsafeset(c, "style", "filled,rounded", "");
        agsafeset(c, "fillcolor", color, "");
        agsafeset(c, "color", "#999999", "");
        snprintf(buf, sizeof buf, "k%d", k);
        agsafeset(c, "id", buf, "");
        agsafeset(c, "class", "kernel", "");
        snprintf(buf, sizeof buf, "kernel %d (%s): %s", k, ki->kind, ki->ops);
        agsafeset(c, "tooltip", buf, "");
    }
    for (int i = 0; i < pi->n_nodes; i++) {
        const kiln_node_info *n = &pi->nodes[i];
        if (!tool_flags.show_consts && !strcmp(n->op, "const")) continue;
        Agraph_t *parent = n->kernel >= 0 ? clusters[n->kernel] : g;
        snprintf(buf, sizeof buf, "n%d", n->id);
        Agnode_t *v = nodes[i] = agnode(parent, buf, 1);
        label_text(a, sizeof a, n->name, 34);
        snprintf(buf, sizeof buf, "%s\\n%s%s%s", n->op, n->type, *a ? "\\n" : "", a);
        agsafeset(v, "label", buf, "");
        snprintf(buf, sizeof buf, "n%d", n->id);
        agsafeset(v, "id", buf, "");
        agsafeset(v, "class", "irnode", "");
        label_text(b, sizeof b, n->name, 120);
        snprintf(buf, sizeof buf, "%%%d %s %s %s%s%s", n->id, n->op, n->type, b, *n->store ? " store " : "", n->store);
        agsafeset(v, "tooltip", buf, "");
        if (!strcmp(n->op, "param")) agsafeset(v, "fillcolor", "#c8f0c8", "");
        else if (!strcmp(n->store, "fetch")) agsafeset(v, "fillcolor", "#ffd0d0", "");
        else if (!strcmp(n->op, "const")) agsafeset(v, "fillcolor", "#eeeeee", "");
        else if (n->kernel < 0) agsafeset(v, "fillcolor", "#f4f4f4", "");
    }
    for (int i = 0; i < pi->n_nodes; i++) {
        const kiln_node_info *n = &pi->nodes[i];
        if (!nodes[i]) continue;
        for (int j = 0; j < n->n_in; j++) {
            int src = n->in[j] <= max_id ? index_of[n->in[j]] : -1;
            if (src >= 0 && nodes[src]) agedge(g, nodes[src], nodes[i], NULL, 1);
        }
    }
    char *out = NULL;
    unsigned int len = 0;
    if (gvLayout(gvc, g, "dot") == 0) {
        char *data = NULL;
        if (gvRenderData(gvc, g, "svg", &data, &len) == 0 && data) {
            out = malloc((size_t)len + 1);
            if (out) memcpy(out, data, len), out[len] = 0;
            gvFreeRenderData(data);
        }
        gvFreeLayout(gvc, g);
    }
    agclose(g);
    gvFreeContext(gvc);
    free(clusters), free(nodes), free(index_of);
    *len_out = len;
    return out;
}

/* ---- the arena map ---- */
static void arena_svg(sbuf *h, const kiln_plan_info *pi)
{
    int W = 560, H = 300, L = 64, T = 10, B = 28;
    int steps = pi->n_kernels > 0 ? pi->n_kernels : 1;
    double sx = (double)(W - L - 10) / steps, sy = pi->temp_size > 0 ? (double)(H - T - B) / (double)pi->temp_size : 0;
    char x[32];
    sb_printf(h, "<svg id=\"arena\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\">\n", W, H, W, H);
    sb_printf(h, "<rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"#fafafa\" stroke=\"#bbb\"/>\n", L, T, sx * steps, H - T - B);
    for (int i = 0; i < pi->n_buffers; i++) {
        const kiln_buffer_info *bi = &pi->buffers[i];
        double h0 = (double)bi->bytes * sy;
        unsigned hue = (unsigned)(bi->node * 47) % 360;
        char fill[32];
        if (bi->scratch) snprintf(fill, sizeof fill, "#f4a04a");
        else snprintf(fill, sizeof fill, "hsl(%u,55%%,62%%)", hue);
        sb_printf(h, "<rect class=\"buf%s\" id=\"%s%d\" data-node=\"%d\" x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" "
                     "fill=\"%s\" stroke=\"#333\" stroke-width=\"0.3\"><title>",
                  bi->scratch ? " scratch" : "", bi->scratch ? "s" : "b", bi->node, bi->node, L + bi->first * sx,
                  T + (double)bi->offset * sy, (bi->last - bi->first + 1) * sx, h0 < 1 ? 1 : h0, fill);
        sb_printf(h, "%s %%%d ", bi->scratch ? "scratch of" : "value", bi->node);
        sb_html(h, bi->name);
        sb_printf(h, ": %s at +%lld, kernels %d..%d</title></rect>\n", fmt_bytes(x, sizeof x, bi->bytes),
                  (long long)bi->offset, bi->first, bi->last);
    }
    sb_printf(h, "<text x=\"%d\" y=\"%d\" font-size=\"10\" text-anchor=\"end\">0</text>\n", L - 4, T + 8);
    sb_printf(h, "<text x=\"%d\" y=\"%d\" font-size=\"10\" text-anchor=\"end\">%s</text>\n", L - 4, H - B,
              fmt_bytes(x, sizeof x, pi->temp_size));
    sb_printf(h, "<text x=\"%d\" y=\"%d\" font-size=\"10\">kernel 0</text>\n", L, H - B + 14);
    sb_printf(h, "<text x=\"%d\" y=\"%d\" font-size=\"10\" text-anchor=\"end\">kernel %d</text>\n", W - 10, H - B + 14, steps - 1);
    sb_printf(h, "<text x=\"%d\" y=\"%d\" font-size=\"10\" text-anchor=\"middle\">schedule (kernels) &#8594;  offset &#8595;</text>\n",
              (L + W) / 2, H - 4);
    sb_puts(h, "</svg>\n");
}

static const char page_css[] =
    "*{box-sizing:border-box}body{margin:0;font:13px Helvetica,Arial,sans-serif;color:#222;display:flex;flex-direction:column;height:100vh}"
    "header{padding:6px 10px;background:#263238;color:#fff;display:flex;gap:14px;align-items:center;flex-wrap:wrap}"
    "header b{font-size:15px}header input{padding:3px 6px;width:220px}header span{opacity:.85}"
    "main{flex:1;display:flex;min-height:0}#graph{flex:1;overflow:hidden;position:relative;background:#fff;cursor:grab}"
    "#graph svg{position:absolute;left:0;top:0;transform-origin:0 0}"
    "aside{width:600px;overflow:auto;border-left:1px solid #ccc;padding:8px;background:#fcfcfc}"
    "table{border-collapse:collapse;font-size:11px;width:100%}td,th{border-bottom:1px solid #e4e4e4;padding:2px 4px;text-align:left}"
    "th{background:#eee;position:sticky;top:0}tr.sel{background:#ffe98a}td.n{text-align:right}"
    ".hit polygon,.hit path{stroke:#e00!important;stroke-width:3px!important}#js-errors{color:#b00;white-space:pre-wrap}"
    "h3{margin:10px 0 4px}.legend span{display:inline-block;padding:1px 6px;margin:1px;border:1px solid #aaa;border-radius:3px;font-size:11px}"
    "#info{font-size:12px;min-height:2em;margin:4px 0}";

static const char page_js[] =
    "(function(){\n"
    "var errs=document.getElementById('js-errors');\n"
    "function err(m){errs.textContent+=m+'\\n';}\n"
    "window.onerror=function(m,s,l,c,e){err('error: '+m+' at '+l+':'+c);return false;};\n"
    "window.addEventListener('unhandledrejection',function(e){err('rejection: '+e.reason);});\n"
    "var box=document.getElementById('graph'),svg=box.querySelector('svg');\n"
    "var s=1,tx=0,ty=0;\n"
    "function apply(){svg.style.transform='translate('+tx+'px,'+ty+'px) scale('+s+')';}\n"
    "function fit(){var w=svg.getBBox?svg.width.baseVal.value:1000,h=svg.height.baseVal.value;"
    "var bw=box.clientWidth,bh=box.clientHeight;s=Math.min(bw/w,bh/h,1.5);if(!(s>0))s=1;"
    "tx=(bw-w*s)/2;ty=Math.max(0,(bh-h*s)/2);if(h*s>bh){ty=10;s=Math.max(s,Math.min(1,bw/w));tx=(bw-w*s)/2;}apply();}\n"
    "box.addEventListener('wheel',function(e){e.preventDefault();var r=box.getBoundingClientRect(),"
    "mx=e.clientX-r.left,my=e.clientY-r.top,f=e.deltaY<0?1.15:1/1.15;tx=mx-(mx-tx)*f;ty=my-(my-ty)*f;s*=f;apply();},{passive:false});\n"
    "var drag=null;box.addEventListener('mousedown',function(e){drag=[e.clientX-tx,e.clientY-ty];box.style.cursor='grabbing';});\n"
    "window.addEventListener('mouseup',function(){drag=null;box.style.cursor='grab';});\n"
    "window.addEventListener('mousemove',function(e){if(drag){tx=e.clientX-drag[0];ty=e.clientY-drag[1];apply();}});\n"
    "function center(el){var b=el.getBBox(),ctm=el.getCTM(),sv=svg.getCTM();if(!b||!ctm)return;"
    "var p=svg.createSVGPoint();p.x=b.x+b.width/2;p.y=b.y+b.height/2;var q=p.matrixTransform(sv.inverse().multiply(ctm));"
    /* user units are Graphviz points; the svg's CSS box is in px (width/viewBox) */
    "var vb=svg.viewBox&&svg.viewBox.baseVal,k=vb&&vb.width?svg.width.baseVal.value/vb.width:1;"
    "s=Math.max(s,1);tx=box.clientWidth/2-q.x*k*s;ty=box.clientHeight/2-q.y*k*s;apply();"
    /* checked (the browser test reads #js-errors): the element is now in the middle */
    "var r=el.getBoundingClientRect(),c=box.getBoundingClientRect();"
    "if(Math.abs(r.left+r.width/2-c.left-c.width/2)>2||Math.abs(r.top+r.height/2-c.top-c.height/2)>2)"
    "err('centring '+el.id+' missed the middle by '+Math.round(r.left+r.width/2-c.left-c.width/2)+','+Math.round(r.top+r.height/2-c.top-c.height/2)+' px');}\n"
    "var info=document.getElementById('info');\n"
    "function title(el){var t=el.querySelector('title');var a=el.querySelector('a');"
    "return (a&&a.getAttribute('xlink:title'))||(t?t.textContent:'');}\n"
    "function select(id){document.querySelectorAll('.hit').forEach(function(e){e.classList.remove('hit');});"
    "document.querySelectorAll('tr.sel').forEach(function(e){e.classList.remove('sel');});"
    "var el=document.getElementById(id);if(!el)return;el.classList.add('hit');info.textContent=title(el);center(el);"
    "var row=document.getElementById('kt-'+id);if(row){row.classList.add('sel');row.scrollIntoView({block:'nearest'});}}\n"
    "var q=document.getElementById('search'),count=document.getElementById('hits');\n"
    "function search(){var v=q.value.trim().toLowerCase();document.querySelectorAll('.hit').forEach(function(e){e.classList.remove('hit');});"
    "if(!v){count.textContent='';return;}var first=null,n=0;"
    "document.querySelectorAll('g.irnode,g.kernel').forEach(function(g){if(title(g).toLowerCase().indexOf(v)>=0){g.classList.add('hit');n++;if(!first)first=g;}});"
    "count.textContent=n+' match'+(n==1?'':'es');if(first){center(first);info.textContent=title(first);}}\n"
    "q.addEventListener('input',search);q.addEventListener('keydown',function(e){if(e.key==='Enter')search();});\n"
    "document.querySelectorAll('#kernel-table tr[data-k]').forEach(function(r){r.addEventListener('click',function(){select('k'+r.dataset.k);});});\n"
    "document.querySelectorAll('g.irnode,g.kernel').forEach(function(g){g.addEventListener('click',function(e){e.stopPropagation();select(g.id);});});\n"
    "document.querySelectorAll('#arena rect.buf').forEach(function(r){r.addEventListener('click',function(){select('n'+r.dataset.node);});});\n"
    "document.getElementById('fit').addEventListener('click',fit);\n"
    "fit();\n"
    "if(location.hash.indexOf('#q=')==0){q.value=decodeURIComponent(location.hash.slice(3));search();}\n" /* page.html#q=NAME: a search as a link */
    "document.getElementById('js-status').textContent='ok';\n"
    "})();\n";

static bool write_page(const char *path, const char *model, const kiln_plan_info *pi, const prof_result *prof, const char *svg)
{
    sbuf h = {0};
    char x[32], y[32], z[32], w[32], v[32];
    sb_puts(&h, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>kiln viz: ");
    sb_html(&h, model);
    sb_printf(&h, "</title>\n<style>%s</style></head><body>\n<header><b>kiln viz</b><span>", page_css);
    sb_html(&h, model);
    sb_printf(&h, " &middot; after %s &middot; -O%d &middot; %d thread%s &middot; %d nodes &middot; %d kernels &middot; temp %s"
                  " &middot; weights %s</span>",
              pi->after, pi->opt_level, pi->threads, pi->threads == 1 ? "" : "s", pi->n_nodes, pi->n_kernels,
              fmt_bytes(x, sizeof x, pi->temp_size), fmt_bytes(y, sizeof y, pi->const_bytes));
    sb_puts(&h, "<input id=\"search\" type=\"search\" placeholder=\"search node or kernel name\"><span id=\"hits\"></span>"
                "<button id=\"fit\">fit</button><span>status: <span id=\"js-status\">not run</span></span></header>\n");
    sb_puts(&h, "<main><div id=\"graph\">\n");
    const char *start = svg ? strstr(svg, "<svg") : NULL;
    if (start) sb_puts(&h, start);
    else sb_puts(&h, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"10\" height=\"10\"></svg>");
    sb_puts(&h, "</div>\n<aside>\n<pre id=\"js-errors\"></pre><div id=\"info\">click a node, kernel or buffer</div>\n");
    if (pi->planned) {
        sb_puts(&h, "<div class=\"legend\">");
        const char *kinds[] = {"conv", "gemm", "loop", "reduction", "movement", "control"};
        if (prof) sb_puts(&h, "coloured by share of run time: <span style=\"background:#fffaf0\">0%</span>"
                               "<span style=\"background:#ff9d78\">12%</span><span style=\"background:#ff3c1e\">&ge;25%</span>");
        else
            for (int i = 0; i < 6; i++) sb_printf(&h, "<span style=\"background:%s\">%s</span>", kind_color(kinds[i]), kinds[i]);
        sb_puts(&h, "</div>\n");
    }
    sb_printf(&h, "<h3>Memory</h3><div>temp arena %s in %d buffers &middot; weights %s &middot; feeds %s &middot; fetches %s"
                  " &middot; state %s</div>\n",
              fmt_bytes(x, sizeof x, pi->temp_size), pi->n_buffers, fmt_bytes(y, sizeof y, pi->const_bytes),
              fmt_bytes(z, sizeof z, pi->feed_bytes), fmt_bytes(w, sizeof w, pi->fetch_bytes),
              fmt_bytes(v, sizeof v, pi->state_bytes));
    if (pi->assigned) {
        sb_puts(&h, "<h3>Arena map</h3><div style=\"font-size:11px\">each temp buffer: offset (down) &times; lifetime in the "
                    "schedule (across); orange: kernel scratch</div>\n");
        arena_svg(&h, pi);
    } else sb_puts(&h, "<div>(no buffers yet: bufassign has not run at this pass)</div>\n");
    if (prof)
        sb_printf(&h, "<h3>Profile</h3><div id=\"profile\">%d runs, %.1f us per run in kernels; peak %.1f GFLOP/s per core, %.1f GB/s</div>\n",
                  prof->iters, prof->total_seconds * 1e6, prof->peak_gflops, prof->peak_gbps);
    sb_puts(&h, "<h3>Kernels</h3>\n<table id=\"kernel-table\"><tr><th>#</th><th>kernel</th><th>kind</th><th>ops</th>"
                "<th>tile</th><th>split</th><th>MFLOP</th><th>bytes</th>");
    if (prof) sb_puts(&h, "<th>us</th><th>%time</th>");
    sb_puts(&h, "</tr>\n");
    for (int k = 0; k < pi->n_kernels; k++) {
        const kiln_kernel_info *ki = &pi->kernels[k];
        if (prof) { /* the browser test checks the cluster's fill against these */
            char color[16];
            heat_color(color, sizeof color, prof->kernels[k].share);
            sb_printf(&h, "<tr id=\"kt-k%d\" data-k=\"%d\" data-share=\"%.6f\" data-fill=\"%s\"><td class=\"n\">%d</td><td>", k,
                      k, prof->kernels[k].share, color, k);
        } else sb_printf(&h, "<tr id=\"kt-k%d\" data-k=\"%d\"><td class=\"n\">%d</td><td>", k, k, k);
        sb_html(&h, ki->name);
        sb_printf(&h, "</td><td>%s</td><td>", ki->kind);
        sb_html(&h, ki->ops);
        sb_puts(&h, "</td><td>");
        if (ki->mr) sb_printf(&h, "%dx%d%s", ki->mr, ki->nr, ki->pack_b_runtime ? " packB" : "");
        sb_puts(&h, "</td><td>");
        if (ki->threads > 1) sb_printf(&h, "%lld", (long long)ki->split_units);
        else sb_puts(&h, "-");
        sb_printf(&h, "</td><td class=\"n\">%.3f</td><td class=\"n\">%s</td>", (double)ki->flops / 1e6,
                  fmt_bytes(x, sizeof x, ki->bytes));
        if (prof) sb_printf(&h, "<td class=\"n\">%.2f</td><td class=\"n\">%.1f</td>", prof->kernels[k].seconds * 1e6,
                            100 * prof->kernels[k].share);
        sb_puts(&h, "</tr>\n");
    }
    sb_puts(&h, "</table>\n</aside></main>\n<script>\n");
    sb_puts(&h, page_js);
    sb_puts(&h, "</script>\n</body></html>\n");
    if (h.oom) {
        free(h.s);
        return fprintf(stderr, "kiln: out of memory writing %s\n", path), false;
    }
    FILE *f = fopen(path, "w");
    bool ok = f && fwrite(h.s, 1, h.len, f) == h.len;
    if (f && fclose(f)) ok = false;
    if (!ok) fprintf(stderr, "kiln: %s: cannot write: %s\n", path, strerror(errno));
    free(h.s);
    return ok;
}

int cmd_viz(tool_args *a)
{
    if (!a->out) return fprintf(stderr, "kiln: viz needs -o FILE.html\n"), 2;
    const char *after = a->opt->dump_after;
    a->opt->dump_after = NULL;
    a->opt->profile = 0;
    if (after && !strcmp(after, "all")) return fprintf(stderr, "kiln: viz --after names one pass, not 'all'\n"), 2;
    kiln_plan_info *pi;
    kiln_status *st = kiln_inspect(a->m, a->opt, after, &pi);
    if (st) {
        fprintf(stderr, "kiln: %s\n", kiln_status_message(st));
        kiln_status_free(st);
        return 1;
    }
    prof_result prof, *pr = NULL;
    kiln_program *p = NULL;
    int rc = 0;
    if (tool_flags.profile) { /* the final plan, run with timing */
        if (after && strcmp(after, "bufassign")) {
            fprintf(stderr, "kiln: viz --profile shows the final plan: drop --after %s\n", after);
            rc = 2;
        }
        a->opt->profile = 1;
        if (!rc && (st = kiln_jit(a->m, a->opt, &p))) {
            fprintf(stderr, "kiln: %s\n", kiln_status_message(st));
            kiln_status_free(st);
            rc = 1;
        }
        void **ins = NULL, *state = NULL, **outs = NULL;
        if (!rc) {
            int nf = kiln_program_num_fetches(p);
            outs = calloc((size_t)nf + 1, sizeof *outs);
            for (int i = 0; outs && i < nf; i++) outs[i] = aligned_alloc(64, (kiln_program_fetch(p, i).bytes + 64) & ~(size_t)63);
            for (int i = 0; outs && i < nf; i++)
                if (!outs[i]) rc = 1;
            if (!outs) rc = 1;
            if (rc) fprintf(stderr, "kiln: out of memory\n");
        }
        if (!rc && tool_feeds(a, p, &ins, &state) &&
            profile_measure(p, (const void *const *)ins, outs, state, tool_flags.iters ? tool_flags.iters : 20, &prof)) {
            kiln_plan_info_free(pi);
            pi = NULL; /* the program's plan: the kernels its counters follow */
            pr = &prof;
        } else if (!rc) rc = 1;
        if (p) tool_feeds_free(p, ins, state);
        for (int i = 0; outs && p && i < kiln_program_num_fetches(p); i++) free(outs[i]);
        free(outs);
    }
    const kiln_plan_info *shown = pr ? pr->plan : pi;
    size_t len = 0;
    char *svg = rc ? NULL : layout_svg(shown, pr, &len);
    if (!rc && !svg) fprintf(stderr, "kiln: Graphviz could not lay out the graph\n"), rc = 1;
    if (!rc && !write_page(a->out, a->model, shown, pr, svg)) rc = 1;
    if (!rc)
        printf("kiln: wrote %s (%d nodes, %d kernels, %d buffers, temp %lld bytes%s)\n", a->out, shown->n_nodes,
               shown->n_kernels, shown->n_buffers, (long long)shown->temp_size, pr ? ", profiled" : "");
    free(svg);
    if (pr) profile_result_free(pr);
    kiln_plan_info_free(pi);
    kiln_program_free(p);
    return rc;
}
