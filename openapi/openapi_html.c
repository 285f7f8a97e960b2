/*
 * openapi_html.c - render openapi.yaml as one static HTML page (GET /docs)
 *
 *   openapi_html openapi.yaml docs.html
 *
 * A build-time tool (CMake runs it; cmake/embed.cmake then compiles the page
 * into the binary), so the API reference needs neither Node.js at build time
 * nor JavaScript in the browser. It reads the document with libyaml's
 * document loader and writes: the title, version and description; per tag,
 * every operation (method, path, summary, scope, description, parameters,
 * request body, responses with status codes, media types and schema names);
 * then every schema of components/schemas with its properties. Local $refs
 * (#/components/...) are followed; schema references become links.
 *
 * Descriptions are CommonMark; markdown.c renders the subset openapi.yaml
 * uses. Everything from the document is HTML-escaped. The output is a function of
 * the input only (no timestamp), so its ETag changes exactly when the
 * document does. Inline CSS, no script, no external asset.
 *
 * Exit status 0, or 1 with a message on stderr (unreadable or malformed
 * input, a failed write).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "markdown.h"

struct gen {
    yaml_document_t doc;
    yaml_node_t *root;
    FILE *out;
};

static const char *const http_methods[] = {"get",     "put",  "post",  "delete", "patch",
                                           "options", "head", "trace", NULL};

/* ---- the YAML tree ---- */

static yaml_node_t *
node_at(struct gen *g, int id)
{
    return yaml_document_get_node(&g->doc, id);
}

static const char *
scalar(const yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* The value of `key` in mapping m, or NULL. */
static yaml_node_t *
map_get(struct gen *g, const yaml_node_t *m, const char *key)
{
    yaml_node_pair_t *p;

    if (!m || m->type != YAML_MAPPING_NODE)
        return NULL;
    for (p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        const char *k = scalar(node_at(g, p->key));

        if (k && strcmp(k, key) == 0)
            return node_at(g, p->value);
    }
    return NULL;
}

static const char *
map_str(struct gen *g, const yaml_node_t *m, const char *key)
{
    return scalar(map_get(g, m, key));
}

static size_t
seq_len(const yaml_node_t *s)
{
    return s && s->type == YAML_SEQUENCE_NODE
               ? (size_t)(s->data.sequence.items.top - s->data.sequence.items.start)
               : 0;
}

static yaml_node_t *
seq_at(struct gen *g, const yaml_node_t *s, size_t i)
{
    return node_at(g, s->data.sequence.items.start[i]);
}

/* Follow a local JSON pointer ("#/components/schemas/Event"); NULL when it leads nowhere. */
static yaml_node_t *
pointer(struct gen *g, const char *ref)
{
    yaml_node_t *n = g->root;
    char seg[256];
    const char *p;

    if (strncmp(ref, "#/", 2) != 0)
        return NULL;
    p = ref + 2;
    while (n && *p) {
        size_t len = 0;

        while (*p && *p != '/' && len + 1 < sizeof(seg)) {
            if (p[0] == '~' && (p[1] == '0' || p[1] == '1')) {
                seg[len++] = p[1] == '0' ? '~' : '/';
                p += 2;
            } else {
                seg[len++] = *p++;
            }
        }
        seg[len] = '\0';
        n = map_get(g, n, seg);
        if (*p == '/')
            p++;
    }
    return n;
}

/* n itself, or what its $ref points to (followed up to 16 times). */
static yaml_node_t *
resolve(struct gen *g, yaml_node_t *n)
{
    int hops = 0;
    const char *ref;

    while (n && hops++ < 16 && (ref = map_str(g, n, "$ref")))
        n = pointer(g, ref);
    return n;
}

/* ---- output ---- */

static void
put(struct gen *g, const char *s)
{
    fputs(s, g->out);
}

static void
esc_n(struct gen *g, const char *s, size_t n)
{
    md_escape(g->out, s, n);
}

static void
esc(struct gen *g, const char *s)
{
    if (s)
        esc_n(g, s, strlen(s));
}

/* An id attribute value: letters, digits, - _ . kept, anything else '-'. */
static void
put_id(struct gen *g, const char *prefix, const char *s)
{
    put(g, prefix);
    for (; s && *s; s++) {
        char c = *s;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '-' || c == '_' || c == '.';

        fputc(ok ? c : '-', g->out);
    }
}

static void
md(struct gen *g, const char *text, int tight)
{
    if (text)
        md_render(g->out, text, strlen(text), tight);
}

/* ---- schemas ---- */

static void schema_type(struct gen *g, yaml_node_t *s);

static void
schema_list(struct gen *g, yaml_node_t *seq, const char *label)
{
    size_t i;

    fprintf(g->out, "%s ", label);
    for (i = 0; i < seq_len(seq); i++) {
        put(g, i ? ", " : "");
        schema_type(g, seq_at(g, seq, i));
    }
}

/* The type of a schema in a few words: a link for a named schema. */
static void
schema_type(struct gen *g, yaml_node_t *s)
{
    const char *ref = map_str(g, s, "$ref");
    yaml_node_t *type;
    yaml_node_t *en;
    size_t i;

    if (ref && strncmp(ref, "#/components/schemas/", 21) == 0) {
        put_id(g, "<a href=\"#", "schema-");
        put_id(g, "", ref + 21);
        put(g, "\">");
        esc(g, ref + 21);
        put(g, "</a>");
        return;
    }
    s = resolve(g, s);
    if (!s || s->type != YAML_MAPPING_NODE) {
        put(g, "any");
        return;
    }
    type = map_get(g, s, "type");
    if (map_get(g, s, "oneOf")) {
        schema_list(g, map_get(g, s, "oneOf"), "one of");
    } else if (map_get(g, s, "anyOf")) {
        schema_list(g, map_get(g, s, "anyOf"), "any of");
    } else if (map_get(g, s, "allOf")) {
        schema_list(g, map_get(g, s, "allOf"), "all of");
    } else if (scalar(type) && strcmp(scalar(type), "array") == 0) {
        put(g, "array of ");
        schema_type(g, map_get(g, s, "items"));
    } else if (scalar(type)) {
        esc(g, scalar(type));
    } else if (seq_len(type)) {
        for (i = 0; i < seq_len(type); i++) {
            put(g, i ? " | " : "");
            esc(g, scalar(seq_at(g, type, i)));
        }
    } else {
        put(g, map_get(g, s, "properties") ? "object" : "any");
    }
    if (map_str(g, s, "format")) {
        put(g, " <span class=\"fmt\">(");
        esc(g, map_str(g, s, "format"));
        put(g, ")</span>");
    }
    en = map_get(g, s, "enum");
    for (i = 0; i < seq_len(en); i++) {
        put(g, i ? " | " : ": ");
        put(g, "<code>");
        esc(g, scalar(seq_at(g, en, i)) ? scalar(seq_at(g, en, i)) : "null");
        put(g, "</code>");
    }
}

static int
in_required(struct gen *g, yaml_node_t *schema, const char *name)
{
    yaml_node_t *req = map_get(g, schema, "required");
    size_t i;

    for (i = 0; i < seq_len(req); i++) {
        const char *r = scalar(seq_at(g, req, i));

        if (r && strcmp(r, name) == 0)
            return 1;
    }
    return 0;
}

static void
schema_properties(struct gen *g, yaml_node_t *schema)
{
    yaml_node_t *props = map_get(g, schema, "properties");
    yaml_node_pair_t *p;

    if (!props || props->type != YAML_MAPPING_NODE)
        return;
    put(g, "<table><thead><tr><th>property</th><th>type</th><th>description</th></tr></thead>"
           "<tbody>\n");
    for (p = props->data.mapping.pairs.start; p < props->data.mapping.pairs.top; p++) {
        const char *name = scalar(node_at(g, p->key));
        yaml_node_t *v = node_at(g, p->value);

        put(g, "<tr><td><code>");
        esc(g, name);
        put(g, "</code>");
        if (name && in_required(g, schema, name))
            put(g, " <span class=\"req\">required</span>");
        put(g, "</td><td>");
        schema_type(g, v);
        put(g, "</td><td>");
        md(g, map_str(g, resolve(g, v), "description"), 1);
        put(g, "</td></tr>\n");
    }
    put(g, "</tbody></table>\n");
}

static void
render_schemas(struct gen *g)
{
    yaml_node_t *schemas = map_get(g, map_get(g, g->root, "components"), "schemas");
    yaml_node_pair_t *p;

    if (!schemas || schemas->type != YAML_MAPPING_NODE)
        return;
    put(g, "<section id=\"schemas\"><h2>Schemas</h2>\n");
    for (p = schemas->data.mapping.pairs.start; p < schemas->data.mapping.pairs.top; p++) {
        const char *name = scalar(node_at(g, p->key));
        yaml_node_t *s = resolve(g, node_at(g, p->value));

        put_id(g, "<article class=\"schema\" id=\"", "schema-");
        put_id(g, "", name);
        put(g, "\"><h3>");
        esc(g, name);
        put(g, "</h3><p class=\"type\">");
        schema_type(g, s);
        put(g, "</p>");
        md(g, map_str(g, s, "description"), 0);
        schema_properties(g, s);
        put(g, "</article>\n");
    }
    put(g, "</section>\n");
}

/* ---- operations ---- */

/* The parameter of `ops` (a sequence) with name and in of p, or NULL. */
static yaml_node_t *
param_in(struct gen *g, yaml_node_t *ops, yaml_node_t *p)
{
    size_t i;

    for (i = 0; i < seq_len(ops); i++) {
        yaml_node_t *q = resolve(g, seq_at(g, ops, i));
        const char *n1 = map_str(g, q, "name");
        const char *i1 = map_str(g, q, "in");

        if (n1 && i1 && map_str(g, p, "name") && map_str(g, p, "in") &&
            strcmp(n1, map_str(g, p, "name")) == 0 && strcmp(i1, map_str(g, p, "in")) == 0)
            return q;
    }
    return NULL;
}

static void
param_row(struct gen *g, yaml_node_t *p)
{
    const char *req = map_str(g, p, "required");

    put(g, "<tr><td><code>");
    esc(g, map_str(g, p, "name"));
    put(g, "</code>");
    if (req && strcmp(req, "true") == 0)
        put(g, " <span class=\"req\">required</span>");
    put(g, "</td><td>");
    esc(g, map_str(g, p, "in"));
    put(g, "</td><td>");
    schema_type(g, map_get(g, p, "schema"));
    put(g, "</td><td>");
    md(g, map_str(g, p, "description"), 1);
    put(g, "</td></tr>\n");
}

/* Path-level parameters (unless the operation overrides them), then the operation's. */
static void
render_params(struct gen *g, yaml_node_t *path_params, yaml_node_t *op_params)
{
    size_t i;

    if (!seq_len(path_params) && !seq_len(op_params))
        return;
    put(g, "<h4>Parameters</h4><table><thead><tr><th>name</th><th>in</th><th>type</th>"
           "<th>description</th></tr></thead><tbody>\n");
    for (i = 0; i < seq_len(path_params); i++) {
        yaml_node_t *p = resolve(g, seq_at(g, path_params, i));

        if (!param_in(g, op_params, p))
            param_row(g, p);
    }
    for (i = 0; i < seq_len(op_params); i++)
        param_row(g, resolve(g, seq_at(g, op_params, i)));
    put(g, "</tbody></table>\n");
}

/* Media types of a `content` mapping with their schemas. */
static void
render_content(struct gen *g, yaml_node_t *content)
{
    yaml_node_pair_t *p;

    if (!content || content->type != YAML_MAPPING_NODE)
        return;
    for (p = content->data.mapping.pairs.start; p < content->data.mapping.pairs.top; p++) {
        yaml_node_t *schema = map_get(g, node_at(g, p->value), "schema");

        put(g, "<div class=\"media\"><code>");
        esc(g, scalar(node_at(g, p->key)));
        put(g, "</code>");
        if (schema) {
            put(g, ": ");
            schema_type(g, schema);
        }
        put(g, "</div>");
    }
}

static void
render_body(struct gen *g, yaml_node_t *body)
{
    const char *req;

    body = resolve(g, body);
    if (!body)
        return;
    req = map_str(g, body, "required");
    put(g, "<h4>Request body");
    if (req && strcmp(req, "true") == 0)
        put(g, " <span class=\"req\">required</span>");
    put(g, "</h4>");
    md(g, map_str(g, body, "description"), 0);
    render_content(g, map_get(g, body, "content"));
}

static void
response_row(struct gen *g, const char *status, yaml_node_t *raw)
{
    yaml_node_t *r = resolve(g, raw);
    const char *desc = map_str(g, raw, "description");
    yaml_node_t *headers = map_get(g, r, "headers");
    yaml_node_pair_t *p;

    put_id(g, "<tr><td><code class=\"status s", status);
    put(g, "\">");
    esc(g, status);
    put(g, "</code></td><td>");
    md(g, desc ? desc : map_str(g, r, "description"), 1);
    put(g, "</td><td>");
    render_content(g, map_get(g, r, "content"));
    put(g, "</td><td>");
    if (headers && headers->type == YAML_MAPPING_NODE) {
        for (p = headers->data.mapping.pairs.start; p < headers->data.mapping.pairs.top; p++) {
            put(g, p == headers->data.mapping.pairs.start ? "" : ", ");
            put(g, "<code>");
            esc(g, scalar(node_at(g, p->key)));
            put(g, "</code>");
        }
    }
    put(g, "</td></tr>\n");
}

static void
render_responses(struct gen *g, yaml_node_t *responses)
{
    yaml_node_pair_t *p;

    if (!responses || responses->type != YAML_MAPPING_NODE)
        return;
    put(g, "<h4>Responses</h4><table><thead><tr><th>status</th><th>description</th>"
           "<th>content</th><th>headers</th></tr></thead><tbody>\n");
    for (p = responses->data.mapping.pairs.start; p < responses->data.mapping.pairs.top; p++)
        response_row(g, scalar(node_at(g, p->key)), node_at(g, p->value));
    put(g, "</tbody></table>\n");
}

/* Who may call it: x-scope, or "no authentication" for `security: []`. */
static void
render_access(struct gen *g, yaml_node_t *op)
{
    const char *scope = map_str(g, op, "x-scope");
    yaml_node_t *sec = map_get(g, op, "security");

    if (scope) {
        put(g, "<p class=\"access\">Scope <code>");
        esc(g, scope);
        put(g, "</code></p>");
    } else if (sec && sec->type == YAML_SEQUENCE_NODE && seq_len(sec) == 0) {
        put(g, "<p class=\"access\">No authentication</p>");
    }
}

/* <span class="m m-get">GET</span> */
static void
put_method(struct gen *g, const char *method)
{
    const char *m;

    put_id(g, "<span class=\"m m-", method);
    put(g, "\">");
    for (m = method; *m; m++)
        fputc(*m >= 'a' && *m <= 'z' ? *m - 'a' + 'A' : *m, g->out);
    put(g, "</span>");
}

static void
render_op(struct gen *g, const char *path, const char *method, yaml_node_t *op,
          yaml_node_t *path_params)
{
    const char *id = map_str(g, op, "operationId");

    put_id(g, "<article class=\"op\" id=\"", "op-");
    put_id(g, "", id ? id : path);
    put(g, "\"><h3>");
    put_method(g, method);
    put(g, " <code class=\"path\">");
    esc(g, path);
    put(g, "</code> <span class=\"summary\">");
    esc(g, map_str(g, op, "summary"));
    put(g, "</span></h3>\n");
    render_access(g, op);
    md(g, map_str(g, op, "description"), 0);
    render_params(g, path_params, map_get(g, op, "parameters"));
    render_body(g, map_get(g, op, "requestBody"));
    render_responses(g, map_get(g, op, "responses"));
    put(g, "</article>\n");
}

static int
is_method(const char *k)
{
    size_t i;

    for (i = 0; k && http_methods[i]; i++)
        if (strcmp(k, http_methods[i]) == 0)
            return 1;
    return 0;
}

/* The first tag of an operation ("" when it has none). */
static const char *
op_tag(struct gen *g, yaml_node_t *op)
{
    yaml_node_t *tags = map_get(g, op, "tags");

    return seq_len(tags) && scalar(seq_at(g, tags, 0)) ? scalar(seq_at(g, tags, 0)) : "";
}

/*
 * Call fn for every operation whose first tag is `tag`, in document order.
 * fn NULL: just count them.
 */
typedef void (*op_fn)(struct gen *g, const char *path, const char *method, yaml_node_t *op,
                      yaml_node_t *path_params);

static size_t
each_op(struct gen *g, const char *tag, op_fn fn)
{
    yaml_node_t *paths = map_get(g, g->root, "paths");
    yaml_node_pair_t *p;
    yaml_node_pair_t *q;
    size_t n = 0;

    if (!paths || paths->type != YAML_MAPPING_NODE)
        return 0;
    for (p = paths->data.mapping.pairs.start; p < paths->data.mapping.pairs.top; p++) {
        const char *path = scalar(node_at(g, p->key));
        yaml_node_t *item = resolve(g, node_at(g, p->value));

        if (!item || item->type != YAML_MAPPING_NODE)
            continue;
        for (q = item->data.mapping.pairs.start; q < item->data.mapping.pairs.top; q++) {
            const char *method = scalar(node_at(g, q->key));
            yaml_node_t *op = node_at(g, q->value);

            if (!is_method(method) || strcmp(op_tag(g, op), tag) != 0)
                continue;
            n++;
            if (fn)
                fn(g, path, method, op, map_get(g, item, "parameters"));
        }
    }
    return n;
}

static void
nav_op(struct gen *g, const char *path, const char *method, yaml_node_t *op,
       yaml_node_t *path_params)
{
    const char *id = map_str(g, op, "operationId");

    (void)path_params;
    put_id(g, "<li><a href=\"#", "op-");
    put_id(g, "", id ? id : path);
    put(g, "\">");
    put_method(g, method);
    put(g, " ");
    esc(g, path);
    put(g, "</a></li>\n");
}

/* The tag names in document order, then "" for untagged operations. */
static void
tag_names(struct gen *g, const char **names, size_t max, size_t *n)
{
    yaml_node_t *tags = map_get(g, g->root, "tags");
    size_t i;

    *n = 0;
    for (i = 0; i < seq_len(tags) && *n + 1 < max; i++) {
        const char *t = map_str(g, seq_at(g, tags, i), "name");

        if (t)
            names[(*n)++] = t;
    }
    names[(*n)++] = "";
}

static const char page_css[] =
    ":root{color-scheme:light dark;--fg:#1f2328;--muted:#59636e;--bg:#fff;--card:#f6f8fa;"
    "--line:#d1d9e0;--link:#0969da}"
    "@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--muted:#9198a1;--bg:#0d1117;"
    "--card:#151b23;--line:#3d444d;--link:#4493f8}}"
    "body{font:14px/1.5 system-ui,sans-serif;color:var(--fg);background:var(--bg);margin:0}"
    "a{color:var(--link)}code,pre{font:12.5px ui-monospace,monospace}"
    "pre{background:var(--card);padding:8px;overflow:auto}"
    ".wrap{display:grid;grid-template-columns:280px minmax(0,1fr)}"
    "nav{position:sticky;top:0;height:100vh;overflow:auto;border-right:1px solid var(--line);"
    "padding:12px;box-sizing:border-box;font-size:13px}nav ul{list-style:none;padding:0;"
    "margin:0 0 10px}nav li{margin:2px 0;white-space:nowrap;overflow:hidden;"
    "text-overflow:ellipsis}nav a{text-decoration:none}nav h2{font-size:13px;margin:10px 0 4px}"
    "main{padding:16px 32px;max-width:1100px}"
    "h1{margin:0 0 4px}h2{border-bottom:1px solid var(--line);padding-bottom:4px;margin-top:32px}"
    "h3{font-size:16px;margin:0 0 6px}h4{margin:14px 0 4px;font-size:13px;color:var(--muted)}"
    ".op,.schema{border:1px solid var(--line);border-radius:6px;padding:12px 16px;"
    "margin:14px 0}.summary{font-weight:normal}.access{color:var(--muted);margin:0}"
    ".m{display:inline-block;min-width:52px;text-align:center;border-radius:4px;"
    "font:bold 11px ui-monospace,monospace;padding:2px 4px;color:#fff;background:#6e7781}"
    ".m-get{background:#1a7f37}.m-post{background:#0969da}.m-put{background:#9a6700}"
    ".m-delete{background:#cf222e}.m-head{background:#8250df}"
    "nav .m{min-width:44px;font-size:10px;padding:0 2px}"
    "table{border-collapse:collapse;width:100%;margin:4px 0}th,td{text-align:left;"
    "vertical-align:top;padding:4px 8px;border-bottom:1px solid var(--line)}"
    "th{font-size:12px;color:var(--muted)}td p{margin:0 0 4px}td ul{margin:0;padding-left:18px}"
    ".req{font-size:11px;color:#cf222e}.fmt{color:var(--muted)}.type{color:var(--muted)}"
    "@media (max-width:800px){.wrap{display:block}nav{position:static;height:auto;"
    "border:0}}";

static void
render_nav(struct gen *g, const char **tags, size_t ntags)
{
    size_t i;

    put(g, "<nav><p><a href=\"#top\"><strong>");
    esc(g, map_str(g, map_get(g, g->root, "info"), "title"));
    put(g, "</strong></a></p>\n");
    for (i = 0; i < ntags; i++) {
        if (!each_op(g, tags[i], NULL))
            continue;
        put_id(g, "<h2><a href=\"#", "tag-");
        put_id(g, "", tags[i][0] ? tags[i] : "other");
        put(g, "\">");
        esc(g, tags[i][0] ? tags[i] : "Other");
        put(g, "</a></h2><ul>\n");
        each_op(g, tags[i], nav_op);
        put(g, "</ul>\n");
    }
    put(g, "<h2><a href=\"#schemas\">Schemas</a></h2></nav>\n");
}

static void
render_intro(struct gen *g)
{
    yaml_node_t *info = map_get(g, g->root, "info");
    yaml_node_t *servers = map_get(g, g->root, "servers");
    size_t i;

    put(g, "<header id=\"top\"><h1>");
    esc(g, map_str(g, info, "title"));
    put(g, " <small id=\"api-version\">");
    esc(g, map_str(g, info, "version"));
    put(g, "</small></h1><p>");
    esc(g, map_str(g, info, "summary"));
    put(g, "</p><p>Rendered from <a href=\"/openapi.yaml\">openapi.yaml</a> when the binary "
           "was built. <a href=\"/\">Status page</a>.</p>");
    for (i = 0; i < seq_len(servers); i++) {
        put(g, i ? ", " : "<p>Servers: ");
        put(g, "<code>");
        esc(g, map_str(g, seq_at(g, servers, i), "url"));
        put(g, "</code>");
        put(g, i + 1 == seq_len(servers) ? "</p>" : "");
    }
    md(g, map_str(g, info, "description"), 0);
    put(g, "</header>\n");
}

static void
render_page(struct gen *g)
{
    const char *tags[64];
    yaml_node_t *tlist = map_get(g, g->root, "tags");
    size_t ntags;
    size_t i;
    size_t k;

    tag_names(g, tags, sizeof(tags) / sizeof(tags[0]), &ntags);
    put(g, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
           "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>");
    esc(g, map_str(g, map_get(g, g->root, "info"), "title"));
    put(g, " API reference</title><link rel=\"icon\" href=\"data:,\"><style>");
    put(g, page_css);
    put(g, "</style></head>\n<body><div class=\"wrap\">\n");
    render_nav(g, tags, ntags);
    put(g, "<main>\n");
    render_intro(g);
    for (i = 0; i < ntags; i++) {
        if (!each_op(g, tags[i], NULL))
            continue;
        put_id(g, "<section id=\"", "tag-");
        put_id(g, "", tags[i][0] ? tags[i] : "other");
        put(g, "\"><h2>");
        esc(g, tags[i][0] ? tags[i] : "Other");
        put(g, "</h2>");
        for (k = 0; k < seq_len(tlist); k++) {
            yaml_node_t *t = seq_at(g, tlist, k);

            if (map_str(g, t, "name") && strcmp(map_str(g, t, "name"), tags[i]) == 0)
                md(g, map_str(g, t, "description"), 0);
        }
        put(g, "\n");
        each_op(g, tags[i], render_op);
        put(g, "</section>\n");
    }
    render_schemas(g);
    put(g, "</main></div></body></html>\n");
}

int
main(int argc, char **argv)
{
    yaml_parser_t parser;
    struct gen g;
    FILE *in = NULL;
    int loaded = 0;
    int status = 1;

    memset(&g, 0, sizeof(g));
    if (argc != 3) {
        fprintf(stderr, "usage: openapi_html openapi.yaml out.html\n");
        return 2;
    }
    in = fopen(argv[1], "rb");
    if (!in) {
        perror(argv[1]);
        return 1;
    }
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_file(&parser, in);
    if (!yaml_parser_load(&parser, &g.doc)) {
        fprintf(stderr, "%s:%zu: %s\n", argv[1], parser.problem_mark.line + 1,
                parser.problem ? parser.problem : "cannot parse");
        goto out;
    }
    loaded = 1;
    g.root = yaml_document_get_root_node(&g.doc);
    if (!g.root || g.root->type != YAML_MAPPING_NODE || !map_get(&g, g.root, "paths")) {
        fprintf(stderr, "%s: not an OpenAPI document (no top-level paths)\n", argv[1]);
        goto out;
    }
    g.out = fopen(argv[2], "wb");
    if (!g.out) {
        perror(argv[2]);
        goto out;
    }
    render_page(&g);
    if (ferror(g.out) | fclose(g.out)) {
        perror(argv[2]);
        remove(argv[2]);
        goto out;
    }
    status = 0;
out:
    if (loaded)
        yaml_document_delete(&g.doc);
    yaml_parser_delete(&parser);
    fclose(in);
    return status;
}
