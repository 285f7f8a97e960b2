/*
 * markdown.h - descriptions of openapi.yaml (CommonMark, a subset) as HTML
 *
 * For the build-time tool openapi_html; markdown.c says which subset.
 */
#ifndef INGESTD_MARKDOWN_H
#define INGESTD_MARKDOWN_H

#include <stddef.h>
#include <stdio.h>

/* Write s[0..n) with & < > " ' escaped. */
void md_escape(FILE *out, const char *s, size_t n);

/*
 * Write the blocks of the Markdown text s[0..n) as HTML. With `tight`, a
 * text that is a single paragraph is written without <p> (list items,
 * table cells).
 */
void md_render(FILE *out, const char *s, size_t n, int tight);

#endif
