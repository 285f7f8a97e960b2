/*
 * fuzz_export_spec.c - libFuzzer target: INGESTD_EXPORTS parsing
 *
 * Input: the variable's value (bytes up to the first NUL). Whatever it is,
 * parsing either fails with a message naming INGESTD_EXPORTS or gives
 * targets whose names hold no URL userinfo and are their own redaction,
 * and whose parts match their kind; the target aborts otherwise.
 *
 *   tests/fuzz/run.sh export_spec    (libFuzzer; corpus tests/fuzz/corpus/export_spec)
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/export_spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_target(const struct export_target *t)
{
    const char *auth = strstr(t->name, "://");
    char *again = export_spec_redact(t->name);

    if (strcmp(again, t->name) != 0)
        abort(); /* a name is already redacted */
    free(again);
    if (auth && memchr(auth + 3, '@', strcspn(auth + 3, "/?#")))
        abort(); /* no userinfo in a name */
    if (t->kind == EXPORT_S3 && (!t->bucket || !*t->bucket || !t->key || !*t->key))
        abort();
    if (t->kind == EXPORT_HTTP && !t->url)
        abort();
    if (t->kind == EXPORT_GIT && (!t->url || !t->path || !*t->path || t->path[0] == '/'))
        abort();
    if (t->kind == EXPORT_FILE && (!t->path || t->path[0] != '/'))
        abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = xmalloc(size + 1);
    struct export_target *v = NULL;
    char errbuf[ERRBUF_SIZE];
    size_t n = 0;
    size_t i;

    memcpy(s, data, size);
    s[size] = '\0';
    if (export_spec_parse(s, &v, &n, errbuf, sizeof(errbuf)) == ERR_OK) {
        if (n > EXPORT_SPEC_MAX_TARGETS)
            abort();
        for (i = 0; i < n; i++)
            check_target(&v[i]);
    } else if (strncmp(errbuf, "INGESTD_EXPORTS: ", 17) != 0 || v || n) {
        abort();
    }
    export_spec_free(v, n);
    free(s);
    return 0;
}
