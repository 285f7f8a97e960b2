/*
 * auth.h - bearer tokens with scopes (OPERATIONS.md "Auth")
 *
 * A token set is read from INGESTD_API_TOKENS ("scope:token,...") and/or the
 * file INGESTD_API_TOKENS_FILE (one "scope:token" per line, '#' comments,
 * blank lines ignored). A token may be given as "scope:sha256:<64 hex>" so
 * that only its SHA-256 sits in the configuration. Scopes are ordered:
 * read < write < admin, each including the ones before.
 *
 * Only SHA-256 digests of tokens are kept. A presented token is hashed once
 * and compared with every entry in constant time (CRYPTO_memcmp, no early
 * exit), so neither the token nor which entry matched shows in the timing.
 * Error messages name the variable (or file) and the entry number, never a
 * token.
 *
 * struct auth is immutable once built. struct auth_keeper holds the current
 * set for all threads and swaps in a new one on reload (SIGHUP): checks take
 * a read lock, a reload the write lock.
 */
#ifndef INGESTD_AUTH_H
#define INGESTD_AUTH_H

#include <stddef.h>

#include "core/err.h"

enum auth_scope { AUTH_OPEN = 0, AUTH_READ = 1, AUTH_WRITE = 2, AUTH_ADMIN = 3 };

struct auth;

/*
 * Build a token set from `list` (comma-separated, may be NULL) and the file
 * at `file_path` (may be NULL). Both NULL gives *out = NULL: auth is off.
 * ERR_BAD_INPUT for a malformed entry ("INGESTD_API_TOKENS: entry 2: ..."),
 * ERR_UNAVAILABLE when the file cannot be read; *out is NULL then.
 */
enum err auth_new(const char *list, const char *file_path, struct auth **out, char *errbuf,
                  size_t errlen);
void auth_free(struct auth *a); /* NULL-safe */
/* Number of tokens in the set. */
size_t auth_count(const struct auth *a);

/* "read", "write", "admin" -> the scope; NULL -> AUTH_OPEN; anything else -> -1. */
int auth_scope_parse(const char *name);
/* The name of a scope ("read"...), "open" for AUTH_OPEN. */
const char *auth_scope_name(enum auth_scope scope);

/*
 * May a request with this Authorization header value (NULL when absent) use
 * a route that needs `need`? ERR_OK when yes (always for AUTH_OPEN),
 * ERR_UNAUTHORIZED without a known token (Bearer <token>, or Basic with any
 * user name and the token as password), ERR_FORBIDDEN when the token's scope
 * is below `need`.
 */
enum err auth_check(const struct auth *a, const char *authorization, enum auth_scope need);

/* ---- the process's current set ---- */

struct auth_keeper;

/* Takes ownership of `initial` (may be NULL: auth off). */
struct auth_keeper *auth_keeper_new(struct auth *initial);
void auth_keeper_free(struct auth_keeper *k); /* NULL-safe */
/* auth_check against the current set; ERR_OK for every route when auth is off. */
enum err auth_keeper_check(struct auth_keeper *k, const char *authorization, enum auth_scope need);
/* Replace the current set (ownership of `next` is taken; NULL turns auth off). */
void auth_keeper_swap(struct auth_keeper *k, struct auth *next);
/* 1 while a token set is in force. */
int auth_keeper_enabled(struct auth_keeper *k);

#endif
