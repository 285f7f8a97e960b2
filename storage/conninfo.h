/*
 * conninfo.h - DATABASE_URL's text: checked, and shown without its secrets
 *
 * A libpq connection string ("host=... dbname=...") or URL
 * ("postgresql://user:password@host/db") may hold a password, so nothing
 * here ever puts the text itself into a message. Parsing is libpq's own
 * (PQconninfoParse), so what is accepted here is what libpq connects with.
 *
 * Thread-safety: every function is thread-safe (no state).
 */
#ifndef INGESTD_CONNINFO_H
#define INGESTD_CONNINFO_H

#include <stddef.h>

#include "core/err.h"

/*
 * ERR_OK when libpq parses conninfo; else ERR_BAD_INPUT and errbuf holds
 * "<var>: ..." (var names where the text came from, e.g. DATABASE_URL), a
 * message that never quotes the text.
 */
enum err conninfo_check(const char *conninfo, const char *var, char *errbuf, size_t errlen);

/*
 * The options of conninfo as key=value pairs (values quoted as libpq reads
 * them), each secret one (password, sslpassword: the options libpq marks
 * as secret) as <redacted>. Unparsable text gives "<redacted: not a valid
 * connection string>". The caller frees the result.
 */
char *conninfo_redacted(const char *conninfo);

/*
 * Copy msg (a libpq message about a connection with conninfo) into out,
 * replacing every occurrence of a secret option's value with <redacted>, and
 * each run of blanks and line breaks with one space (none at either end).
 */
void conninfo_scrub(const char *conninfo, const char *msg, char *out, size_t outlen);

#endif
