/*
 * test_openapi_html.c - the build-time renderer of GET /docs (openapi/)
 *
 * md_render() on the Markdown constructs openapi.yaml uses (and on markup
 * that must stay text), then the openapi_html tool (OPENAPI_HTML_BIN) on a
 * small document: $refs followed, schema names linked, tags in order,
 * untagged operations under "Other", strings escaped; and its failure on
 * input that is not an OpenAPI document.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/buf.h"
#include "openapi/markdown.h"

static char *
md(const char *text, int tight)
{
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);

    assert_non_null(f);
    md_render(f, text, strlen(text), tight);
    fclose(f);
    return out;
}

static void
want_md(const char *text, int tight, const char *html)
{
    char *got = md(text, tight);

    if (strcmp(got, html) != 0)
        fail_msg("markdown:\n%s\ngot:\n%s\nwant:\n%s", text, got, html);
    free(got);
}

static void
test_markdown_inline(void **state)
{
    (void)state;
    want_md("plain text", 1, "plain text");
    want_md("plain text", 0, "<p>plain text</p>");
    want_md("a `code <b>` b", 1, "a <code>code &lt;b&gt;</code> b");
    want_md("**bold with `code`** and *em*", 1,
            "<strong>bold with <code>code</code></strong> and <em>em</em>");
    want_md("wildcards * and ? stay", 1, "wildcards * and ? stay");
    want_md("request_id and snake_case_names", 1, "request_id and snake_case_names");
    want_md("[RFC](https://example.org/a?b=1&c=2) [rel](/docs#x) [bad](javascript:alert(1))", 1,
            "<a href=\"https://example.org/a?b=1&amp;c=2\">RFC</a> <a href=\"/docs#x\">rel</a> "
            "bad");
    want_md("<script>alert('x')</script> & \"q\"", 1,
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;");
    want_md("\\*not em\\*", 1, "*not em*");
    want_md("`unclosed", 1, "`unclosed");
}

static void
test_markdown_blocks(void **state)
{
    (void)state;
    want_md("one\ntwo\n\nthree\n", 0, "<p>one\ntwo</p><p>three</p>");
    want_md("## Errors\n\nEvery error.", 0, "<h3>Errors</h3><p>Every error.</p>");
    /* a list may interrupt a paragraph; items continue on indented lines */
    want_md("Framing:\n- first item\n  continued\n- second\n", 0,
            "<p>Framing:</p><ul><li>first item\ncontinued</li><li>second</li></ul>");
    want_md("- outer\n  - inner a\n  - inner b\n- next\n", 0,
            "<ul><li><p>outer</p><ul><li>inner a</li><li>inner b</li></ul></li>"
            "<li>next</li></ul>");
    want_md("1. one\n2. two\n", 0, "<ol><li>one</li><li>two</li></ol>");
    want_md("```\na <b>\n  b\n```\nafter", 0,
            "<pre><code>a &lt;b&gt;\n  b\n</code></pre><p>after</p>");
    want_md("", 0, "");
}

static const char doc[] = "openapi: 3.1.0\n"
                          "info:\n"
                          "  title: t<i>x</i>\n"
                          "  version: 9.9\n"
                          "  description: Hello **world**.\n"
                          "tags:\n"
                          "  - name: Second\n"
                          "  - name: First\n"
                          "    description: The first tag.\n"
                          "paths:\n"
                          "  /a/{id}:\n"
                          "    parameters:\n"
                          "      - $ref: '#/components/parameters/Id'\n"
                          "    get:\n"
                          "      tags: [First]\n"
                          "      operationId: getA\n"
                          "      summary: Get an <A>\n"
                          "      x-scope: read\n"
                          "      responses:\n"
                          "        '200':\n"
                          "          $ref: '#/components/responses/Thing'\n"
                          "        '404':\n"
                          "          $ref: '#/components/responses/Thing'\n"
                          "          description: Not there.\n"
                          "  /b:\n"
                          "    post:\n"
                          "      tags: [Second]\n"
                          "      operationId: postB\n"
                          "      security: []\n"
                          "      requestBody:\n"
                          "        required: true\n"
                          "        content:\n"
                          "          application/json:\n"
                          "            schema:\n"
                          "              type: array\n"
                          "              items:\n"
                          "                $ref: '#/components/schemas/Thing'\n"
                          "      responses:\n"
                          "        '204':\n"
                          "          description: Done.\n"
                          "  /c:\n"
                          "    delete:\n"
                          "      responses:\n"
                          "        '204':\n"
                          "          description: Gone.\n"
                          "components:\n"
                          "  parameters:\n"
                          "    Id:\n"
                          "      name: id\n"
                          "      in: path\n"
                          "      required: true\n"
                          "      schema:\n"
                          "        type: string\n"
                          "        format: uuid\n"
                          "  responses:\n"
                          "    Thing:\n"
                          "      description: A thing.\n"
                          "      headers:\n"
                          "        X-Request-Id:\n"
                          "          schema:\n"
                          "            type: string\n"
                          "      content:\n"
                          "        application/json:\n"
                          "          schema:\n"
                          "            $ref: '#/components/schemas/Thing'\n"
                          "  schemas:\n"
                          "    Thing:\n"
                          "      type: object\n"
                          "      required: [name]\n"
                          "      properties:\n"
                          "        name:\n"
                          "          type: [string, 'null']\n"
                          "          description: The `name`.\n"
                          "        kind:\n"
                          "          type: string\n"
                          "          enum: [a, b]\n";

/* Run the tool on `yaml` (written to a temp file); *html gets its output or NULL. */
static int
run_tool(const char *yaml, char **html)
{
    char dir[] = "/tmp/toh.XXXXXX";
    char in[64];
    char out[64];
    struct buf b;
    char chunk[4096];
    FILE *f;
    pid_t pid;
    int status = -1;
    size_t n;

    assert_non_null(mkdtemp(dir));
    snprintf(in, sizeof(in), "%s/in.yaml", dir);
    snprintf(out, sizeof(out), "%s/out.html", dir);
    f = fopen(in, "w");
    assert_non_null(f);
    fputs(yaml, f);
    fclose(f);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        freopen("/dev/null", "w", stderr);
        execl(OPENAPI_HTML_BIN, OPENAPI_HTML_BIN, in, out, (char *)NULL);
        _exit(127);
    }
    waitpid(pid, &status, 0);
    *html = NULL;
    f = fopen(out, "r");
    if (f) {
        buf_init(&b, 0);
        while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
            buf_append(&b, chunk, n);
        fclose(f);
        buf_append_char(&b, '\0');
        *html = buf_take(&b, NULL);
    }
    unlink(in);
    unlink(out);
    rmdir(dir);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void
want_in(const char *html, const char *s)
{
    if (!strstr(html, s))
        fail_msg("not in the page: %s", s);
}

static void
test_tool_renders_document(void **state)
{
    char *html = NULL;

    (void)state;
    assert_int_equal(run_tool(doc, &html), 0);
    assert_non_null(html);
    want_in(html, "<title>t&lt;i&gt;x&lt;/i&gt; API reference</title>");
    want_in(html, "<small id=\"api-version\">9.9</small>");
    want_in(html, "<p>Hello <strong>world</strong>.</p>");
    /* tags in document order, untagged operations last */
    assert_true(strstr(html, "<section id=\"tag-Second\">") <
                strstr(html, "<section id=\"tag-First\">"));
    assert_true(strstr(html, "<section id=\"tag-First\">") <
                strstr(html, "<section id=\"tag-other\">"));
    want_in(html, "<p>The first tag.</p>");
    /* an operation: method, path, summary escaped, scope, path-level parameter */
    want_in(html, "<article class=\"op\" id=\"op-getA\"><h3><span class=\"m m-get\">GET</span> "
                  "<code class=\"path\">/a/{id}</code> <span class=\"summary\">Get an "
                  "&lt;A&gt;</span></h3>");
    want_in(html, "Scope <code>read</code>");
    want_in(html, "<tr><td><code>id</code> <span class=\"req\">required</span></td><td>path</td>"
                  "<td>string <span class=\"fmt\">(uuid)</span></td>");
    /* responses through $ref, a sibling description wins */
    want_in(html, "<code class=\"status s200\">200</code></td><td>A thing.</td><td><div "
                  "class=\"media\"><code>application/json</code>: <a "
                  "href=\"#schema-Thing\">Thing</a></div></td><td><code>X-Request-Id</code>");
    want_in(html, "<code class=\"status s404\">404</code></td><td>Not there.</td>");
    /* request body, security: [] */
    want_in(html, "<h4>Request body <span class=\"req\">required</span></h4>");
    want_in(html, "<code>application/json</code>: array of <a href=\"#schema-Thing\">Thing</a>");
    want_in(html, "No authentication");
    want_in(html, "<span class=\"m m-delete\">DELETE</span> <code class=\"path\">/c</code>");
    /* the schema */
    want_in(html, "<article class=\"schema\" id=\"schema-Thing\"><h3>Thing</h3>");
    want_in(html, "<td><code>name</code> <span class=\"req\">required</span></td><td>string | "
                  "null</td><td>The <code>name</code>.</td>");
    want_in(html, "<td>string: <code>a</code> | <code>b</code></td>");
    assert_null(strstr(html, "<script"));
    assert_null(strstr(html, "<i>"));
    free(html);
}

static void
test_tool_rejects_bad_input(void **state)
{
    char *html = NULL;

    (void)state;
    assert_int_equal(run_tool("openapi: 3.1.0\ninfo: {}\n", &html), 1); /* no paths */
    assert_null(html);
    assert_int_equal(run_tool("paths: [unclosed\n", &html), 1); /* not YAML */
    assert_null(html);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_markdown_inline),
        cmocka_unit_test(test_markdown_blocks),
        cmocka_unit_test(test_tool_renders_document),
        cmocka_unit_test(test_tool_rejects_bad_input),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
