/*
 * csv_parser.c - streaming RFC 4180 CSV decoder
 *
 * A byte-level state machine. Every byte goes through two independent steps:
 * the UTF-8 validator (only bytes >= 0x80, or any byte while a multi-byte
 * sequence is open) and the CSV state machine. Runs of plain ASCII inside a
 * field are copied in one go (the hot path). Nothing depends on where chunks
 * are cut: the only cross-chunk state is the struct below (a pending CR, an
 * open UTF-8 sequence, a pending `"`, a partial byte-order mark).
 *
 * Error reports are deduplicated so one broken record cannot flood the
 * caller: "invalid UTF-8" at most once per physical line, each syntax error
 * kind at most once per record.
 *
 * Invariants: rec holds the current record's unquoted bytes, fields back to
 * back; fstart[i] is where field i starts; the current field is the last
 * one. Both are bounded by the limits, which are checked before growing.
 */
#include "codec/csv_parser.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"

enum state {
    S_LINE_START,    /* start of a physical line, outside any record */
    S_LINE_START_CR, /* line start, saw CR: empty line if LF follows */
    S_COMMENT,       /* skipping a comment line */
    S_FIELD_START,   /* in a record, the current field is begun and empty */
    S_UNQUOTED,      /* inside an unquoted field */
    S_UNQUOTED_CR,   /* unquoted field, saw CR: record end if LF follows */
    S_QUOTED,        /* inside a quoted field */
    S_QUOTED_QUOTE,  /* quoted field, saw `"`: escape or closing quote */
    S_AFTER_QUOTE_CR /* closing quote then CR */
};

/* syntax error kinds, each reported at most once per record */
#define SYN_QUOTE_IN_UNQUOTED 1u
#define SYN_TEXT_AFTER_QUOTE 2u
#define SYN_UNTERMINATED 4u

/* byte classes for the fast paths: a byte whose class has the state's bit stops the run */
#define CL_STOP_UNQUOTED 1u
#define CL_STOP_QUOTED 2u
#define CL_STOP_COMMENT 4u

static const unsigned char bom[3] = {0xEF, 0xBB, 0xBF};

struct csv_parser {
    struct csv_limits lim;
    csv_record_fn on_record;
    csv_error_fn on_error;
    void *ctx;

    enum state state;
    int dead;     /* a fatal error happened: no more input */
    int finished; /* csv_parser_finish() was called */
    size_t bom_n; /* bytes of the BOM matched so far; 3 = decided */
    int bom_done;

    size_t line;     /* current physical line, 1-based */
    size_t rec_line; /* line the current record started on */
    size_t q_line;   /* line the current quoted field opened on */
    int rec_err;     /* an error was reported in the current record */
    unsigned rec_syn;

    /* UTF-8 validator */
    unsigned u8_need; /* continuation bytes still expected */
    unsigned char u8_lo, u8_hi;
    size_t u8_line;     /* line the open sequence started on */
    size_t u8_err_line; /* last line an UTF-8 error was reported for */

    /* current record */
    char *rec;
    size_t rec_len, rec_alloc;
    size_t *fstart;
    struct csv_field *fields;
    size_t nfields, fields_alloc;
};

/* CL_* bits per byte: LF 7, CR 1, '"' 3, ',' 1, 0x80..0xFF 7 (UTF-8 is checked byte-wise) */
/* clang-format off */
static const unsigned char byte_class[256] = {
    /* 0x00 */ 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 1, 0, 0,
    /* 0x10 */ 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    /* 0x20 */ 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
    /* 0x30 */ 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    /* 0x40 */ 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    /* 0x50 */ 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    /* 0x60 */ 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    /* 0x70 */ 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    /* 0x80 */ 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
    /* 0x90 */ 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
    /* 0xA0 */ 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
    /* 0xB0 */ 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
    /* 0xC0 */ 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
    /* 0xD0 */ 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
    /* 0xE0 */ 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
    /* 0xF0 */ 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
};
/* clang-format on */

struct csv_parser *
csv_parser_new(const struct csv_limits *lim, csv_record_fn on_record, csv_error_fn on_error,
               void *ctx)
{
    struct csv_parser *p = xcalloc(1, sizeof(*p));

    p->lim = *lim;
    p->on_record = on_record;
    p->on_error = on_error;
    p->ctx = ctx;
    p->state = S_LINE_START;
    p->line = 1;
    return p;
}

void
csv_parser_free(struct csv_parser *p)
{
    if (!p)
        return;
    free(p->rec);
    free(p->fstart);
    free(p->fields);
    free(p);
}

static int
in_record(const struct csv_parser *p)
{
    return p->state != S_COMMENT;
}

static void
report(struct csv_parser *p, size_t line, const char *detail)
{
    if (p->on_error)
        p->on_error(p->ctx, line, detail);
}

static void
syntax_error(struct csv_parser *p, unsigned kind, size_t line, const char *detail)
{
    p->rec_err = 1;
    if (p->rec_syn & kind)
        return;
    p->rec_syn |= kind;
    report(p, line, detail);
}

static void
utf8_error(struct csv_parser *p, size_t line)
{
    if (in_record(p))
        p->rec_err = 1;
    if (line == p->u8_err_line)
        return;
    p->u8_err_line = line;
    report(p, line, "invalid UTF-8");
}

/*
 * Validate one byte; c >= 0x80, or any byte while a sequence is open. Strict:
 * no overlongs (C0, C1, E0 80..9F, F0 80..8F), no surrogates (ED A0..BF),
 * nothing above U+10FFFF (F4 90.., F5..FF).
 */
static void
utf8_step(struct csv_parser *p, unsigned char c)
{
    if (p->u8_need) {
        if (c >= p->u8_lo && c <= p->u8_hi) {
            p->u8_need--;
            p->u8_lo = 0x80;
            p->u8_hi = 0xBF;
            return;
        }
        /* truncated sequence: report it, then look at c afresh */
        p->u8_need = 0;
        utf8_error(p, p->u8_line);
        if (c < 0x80)
            return;
    }
    p->u8_lo = 0x80;
    p->u8_hi = 0xBF;
    p->u8_line = p->line;
    if (c >= 0xC2 && c <= 0xDF) {
        p->u8_need = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
        p->u8_need = 2;
        if (c == 0xE0)
            p->u8_lo = 0xA0;
        else if (c == 0xED)
            p->u8_hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        p->u8_need = 3;
        if (c == 0xF0)
            p->u8_lo = 0x90;
        else if (c == 0xF4)
            p->u8_hi = 0x8F;
    } else {
        utf8_error(p, p->line);
    }
}

static void
grow_fields(struct csv_parser *p)
{
    size_t n = p->fields_alloc ? p->fields_alloc * 2 : 16;

    if (n > p->lim.max_columns)
        n = p->lim.max_columns;
    p->fstart = xrealloc(p->fstart, n * sizeof(*p->fstart));
    p->fields = xrealloc(p->fields, n * sizeof(*p->fields));
    p->fields_alloc = n;
}

/* Start a new (empty) field; the column limit is checked first. */
static enum err
field_begin(struct csv_parser *p, char *errbuf, size_t errlen)
{
    if (p->nfields >= p->lim.max_columns) {
        p->dead = 1;
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "line %zu: more than %zu columns",
                       p->rec_line, p->lim.max_columns);
    }
    if (p->nfields == p->fields_alloc)
        grow_fields(p);
    p->fstart[p->nfields++] = p->rec_len;
    return ERR_OK;
}

/* Append to the current field; the field limit is checked before growing. */
static enum err
field_append(struct csv_parser *p, const void *data, size_t n, char *errbuf, size_t errlen)
{
    size_t cur = p->rec_len - p->fstart[p->nfields - 1];
    size_t need;

    if (n > p->lim.max_field_bytes || cur > p->lim.max_field_bytes - n) {
        p->dead = 1;
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "line %zu: field exceeds %zu bytes",
                       p->rec_line, p->lim.max_field_bytes);
    }
    need = p->rec_len + n;
    if (need > p->rec_alloc) {
        size_t a = p->rec_alloc ? p->rec_alloc : 256;

        while (a < need)
            a *= 2;
        p->rec = xrealloc(p->rec, a);
        p->rec_alloc = a;
    }
    memcpy(p->rec + p->rec_len, data, n);
    p->rec_len += n;
    return ERR_OK;
}

static enum err
append_byte(struct csv_parser *p, unsigned char c, char *errbuf, size_t errlen)
{
    return field_append(p, &c, 1, errbuf, errlen);
}

static enum err
record_begin(struct csv_parser *p, char *errbuf, size_t errlen)
{
    p->rec_line = p->line;
    p->rec_len = 0;
    p->nfields = 0;
    return field_begin(p, errbuf, errlen);
}

static enum err
record_end(struct csv_parser *p, char *errbuf, size_t errlen)
{
    size_t i;
    enum err rc;

    for (i = 0; i < p->nfields; i++) {
        size_t end = i + 1 < p->nfields ? p->fstart[i + 1] : p->rec_len;

        p->fields[i].data = p->rec ? p->rec + p->fstart[i] : "";
        p->fields[i].len = end - p->fstart[i];
    }
    rc = p->on_record(p->ctx, p->rec_line, p->fields, p->nfields, p->rec_err, errbuf, errlen);
    p->rec_err = 0;
    p->rec_syn = 0;
    p->nfields = 0;
    p->rec_len = 0;
    p->state = S_LINE_START;
    if (rc)
        p->dead = 1;
    return rc;
}

/*
 * The state machine, one byte, in three parts by state. Each part may move
 * to a state that must look at the same byte again: it sets *redo.
 */
static enum err
step_line(struct csv_parser *p, unsigned char c, int *redo, char *errbuf, size_t errlen)
{
    enum err rc = ERR_OK;

    if (p->state == S_COMMENT) {
        if (c == '\n') {
            p->line++;
            p->state = S_LINE_START;
        }
    } else if (c == '\n') {
        p->line++; /* an empty line, LF or CRLF */
        p->state = S_LINE_START;
    } else if (p->state == S_LINE_START_CR) {
        /* a lone CR is data: it starts a record */
        rc = record_begin(p, errbuf, errlen);
        if (!rc)
            rc = append_byte(p, '\r', errbuf, errlen);
        p->state = S_UNQUOTED;
        *redo = 1;
    } else if (c == '\r') {
        p->state = S_LINE_START_CR;
    } else if (c == '#') {
        p->state = S_COMMENT;
    } else {
        rc = record_begin(p, errbuf, errlen);
        p->state = S_FIELD_START;
        *redo = 1;
    }
    return rc;
}

static enum err
step_unquoted(struct csv_parser *p, unsigned char c, int *redo, char *errbuf, size_t errlen)
{
    enum err rc = ERR_OK;

    switch (p->state) {
    case S_FIELD_START:
        if (c == '"') {
            p->q_line = p->line;
            p->state = S_QUOTED;
        } else {
            p->state = S_UNQUOTED;
            *redo = 1;
        }
        break;
    case S_UNQUOTED_CR:
    case S_AFTER_QUOTE_CR:
        if (c == '\n') {
            rc = record_end(p, errbuf, errlen);
            p->line++;
            break;
        }
        if (p->state == S_AFTER_QUOTE_CR)
            syntax_error(p, SYN_TEXT_AFTER_QUOTE, p->line, "text after closing quote");
        rc = append_byte(p, '\r', errbuf, errlen);
        p->state = S_UNQUOTED;
        *redo = 1;
        break;
    default: /* S_UNQUOTED */
        if (c == ',') {
            rc = field_begin(p, errbuf, errlen);
            p->state = S_FIELD_START;
        } else if (c == '\n') {
            rc = record_end(p, errbuf, errlen);
            p->line++;
        } else if (c == '\r') {
            p->state = S_UNQUOTED_CR;
        } else {
            if (c == '"')
                syntax_error(p, SYN_QUOTE_IN_UNQUOTED, p->line, "quote in unquoted field");
            rc = append_byte(p, c, errbuf, errlen);
        }
        break;
    }
    return rc;
}

static enum err
step_quoted(struct csv_parser *p, unsigned char c, int *redo, char *errbuf, size_t errlen)
{
    enum err rc = ERR_OK;

    if (p->state == S_QUOTED) {
        if (c == '"') {
            p->state = S_QUOTED_QUOTE;
            return ERR_OK;
        }
        if (c == '\n')
            p->line++;
        return append_byte(p, c, errbuf, errlen);
    }
    /* S_QUOTED_QUOTE */
    if (c == '"') {
        rc = append_byte(p, '"', errbuf, errlen);
        p->state = S_QUOTED;
    } else if (c == ',') {
        rc = field_begin(p, errbuf, errlen);
        p->state = S_FIELD_START;
    } else if (c == '\n') {
        rc = record_end(p, errbuf, errlen);
        p->line++;
    } else if (c == '\r') {
        p->state = S_AFTER_QUOTE_CR;
    } else {
        syntax_error(p, SYN_TEXT_AFTER_QUOTE, p->line, "text after closing quote");
        p->state = S_UNQUOTED;
        *redo = 1;
    }
    return rc;
}

static enum err
step(struct csv_parser *p, unsigned char c, char *errbuf, size_t errlen)
{
    enum err rc = ERR_OK;
    int redo = 1;

    while (redo && !rc) {
        redo = 0;
        switch (p->state) {
        case S_LINE_START:
        case S_LINE_START_CR:
        case S_COMMENT:
            rc = step_line(p, c, &redo, errbuf, errlen);
            break;
        case S_FIELD_START:
        case S_UNQUOTED:
        case S_UNQUOTED_CR:
        case S_AFTER_QUOTE_CR:
            rc = step_unquoted(p, c, &redo, errbuf, errlen);
            break;
        case S_QUOTED:
        case S_QUOTED_QUOTE:
            rc = step_quoted(p, c, &redo, errbuf, errlen);
            break;
        }
    }
    return rc;
}

/* Length of the run at s that the current state can take without looking. */
static size_t
plain_run(const struct csv_parser *p, const unsigned char *s, size_t len)
{
    unsigned stop;
    size_t j = 0;

    if (p->u8_need)
        return 0;
    if (p->state == S_UNQUOTED)
        stop = CL_STOP_UNQUOTED;
    else if (p->state == S_QUOTED)
        stop = CL_STOP_QUOTED;
    else if (p->state == S_COMMENT)
        stop = CL_STOP_COMMENT;
    else
        return 0;
    while (j < len && !(byte_class[s[j]] & stop))
        j++;
    return j;
}

/* Run bytes (after BOM handling) through the validator and the machine. */
static enum err
process(struct csv_parser *p, const unsigned char *s, size_t len, char *errbuf, size_t errlen)
{
    size_t i = 0;
    enum err rc = ERR_OK;

    while (i < len) {
        size_t run = plain_run(p, s + i, len - i);
        unsigned char c;

        if (run) {
            if (p->state != S_COMMENT) {
                rc = field_append(p, s + i, run, errbuf, errlen);
                if (rc)
                    goto out;
            }
            i += run;
            if (i == len)
                break;
        }
        c = s[i++];
        if (c >= 0x80 || p->u8_need)
            utf8_step(p, c);
        rc = step(p, c, errbuf, errlen);
        if (rc)
            goto out;
    }
out:
    return rc;
}

enum err
csv_parser_feed(struct csv_parser *p, const char *data, size_t len, char *errbuf, size_t errlen)
{
    const unsigned char *s = (const unsigned char *)data;
    enum err rc = ERR_OK;

    if (p->dead || p->finished) {
        rc = err_set(ERR_BAD_INPUT, errbuf, errlen, "parser stopped");
        goto out;
    }
    while (!p->bom_done && len) {
        if (*s == bom[p->bom_n]) {
            p->bom_n++;
            s++;
            len--;
            if (p->bom_n == sizeof(bom))
                p->bom_done = 1;
            continue;
        }
        /* not a BOM: what matched so far is ordinary data */
        p->bom_done = 1;
        rc = process(p, bom, p->bom_n, errbuf, errlen);
        if (rc)
            goto out;
    }
    rc = process(p, s, len, errbuf, errlen);
out:
    return rc;
}

enum err
csv_parser_finish(struct csv_parser *p, char *errbuf, size_t errlen)
{
    enum err rc = ERR_OK;

    if (p->dead || p->finished) {
        rc = err_set(ERR_BAD_INPUT, errbuf, errlen, "parser stopped");
        goto out;
    }
    if (!p->bom_done) {
        p->bom_done = 1;
        rc = process(p, bom, p->bom_n, errbuf, errlen);
        if (rc)
            goto out;
    }
    p->finished = 1;
    if (p->u8_need) {
        p->u8_need = 0;
        utf8_error(p, p->u8_line);
    }
    switch (p->state) {
    case S_LINE_START:
    case S_COMMENT:
        goto out;
    case S_LINE_START_CR:
        rc = record_begin(p, errbuf, errlen);
        if (!rc)
            rc = append_byte(p, '\r', errbuf, errlen);
        break;
    case S_AFTER_QUOTE_CR:
        syntax_error(p, SYN_TEXT_AFTER_QUOTE, p->line, "text after closing quote");
        rc = append_byte(p, '\r', errbuf, errlen);
        break;
    case S_UNQUOTED_CR:
        rc = append_byte(p, '\r', errbuf, errlen);
        break;
    case S_QUOTED:
        syntax_error(p, SYN_UNTERMINATED, p->q_line, "unterminated quoted field");
        break;
    case S_FIELD_START:
    case S_UNQUOTED:
    case S_QUOTED_QUOTE:
        break;
    }
    if (rc)
        goto out;
    rc = record_end(p, errbuf, errlen);
out:
    return rc;
}
