/*
 * buf.h - growable byte buffer with a hard cap
 *
 * struct buf is embedded by its owner: buf_init() / buf_release(). The data is
 * always NUL-terminated (not counted in len) so it can be used as a C string
 * when it holds text. Growth beyond `cap` (0 = no cap) fails with
 * ERR_TOO_LARGE before anything is allocated. Allocation failure aborts.
 * Not thread-safe; one owner at a time.
 */
#ifndef INGESTD_BUF_H
#define INGESTD_BUF_H

#include <stdarg.h>
#include <stddef.h>

#include "core/err.h"

struct buf {
    char *data;
    size_t len;
    size_t alloc;
    size_t cap; /* maximum len, 0 = unlimited */
};

void buf_init(struct buf *b, size_t cap);
void buf_release(struct buf *b);
void buf_reset(struct buf *b); /* len = 0, keeps memory */

/* Ensure room for `extra` more bytes; ERR_TOO_LARGE past the cap. */
enum err buf_reserve(struct buf *b, size_t extra);
enum err buf_append(struct buf *b, const void *data, size_t len);
enum err buf_append_str(struct buf *b, const char *s);
enum err buf_append_char(struct buf *b, char c);
enum err buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
enum err buf_vprintf(struct buf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/*
 * Append the NUL-terminated UTF-8 text s as a JSON string: quoted, with '"',
 * '\\' and the control characters escaped, everything else as is (what
 * jansson writes without JSON_ENSURE_ASCII).
 */
enum err buf_append_json_string(struct buf *b, const char *s);

/* Hand the data to the caller (who free()s it) and reset b to empty. */
char *buf_take(struct buf *b, size_t *len);

/*
 * A consumer of a byte stream (a decoded body, an S3 object, a rendered
 * file): it receives the bytes in order, in chunks of any size, and returns
 * ERR_OK to go on or an error (with errbuf filled) that stops the producer,
 * which returns that error.
 */
typedef enum err (*byte_sink_fn)(void *ctx, const char *data, size_t len, char *errbuf,
                                 size_t errlen);

/* Allocation helpers that abort on failure. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

#endif
