/*
 * config_internal.h - what the files of the configuration share (not for outside core/config*)
 *
 * config.c loads and releases struct config; config_env.c reads one
 * variable; config_lists.c loads the list-valued settings; config_settings.c
 * holds the table of known settings. Not thread-safe (getenv): everything
 * here runs inside config_load() or the table walks, before threads start.
 */
#ifndef INGESTD_CONFIG_INTERNAL_H
#define INGESTD_CONFIG_INTERNAL_H

#include <stddef.h>

#include "core/config.h"
#include "core/err.h"

/* ---- config_env.c: one variable each; errors name the variable ---- */

/* An integer from min to max; def when unset or empty. */
enum err config_env_int(const char *name, long def, long min, long max, long *out, char *errbuf,
                        size_t errlen);
/* A size from min to max; def when unset or empty. */
enum err config_env_size(const char *name, size_t def, size_t min, size_t max, size_t *out,
                         char *errbuf, size_t errlen);
/* Whole seconds ("3600") or a number with one unit s, m, h, d ("90d"); def when unset. */
enum err config_env_duration(const char *name, long long def, long long *out, char *errbuf,
                             size_t errlen);
/* The variable's value, NULL when unset or empty (borrowed from the environment). */
const char *config_env_str(const char *name);
/* 1 when s is printable ASCII without spaces and without any character of banned. */
int config_env_printable(const char *s, const char *banned);
/* 1 for http(s)://host[:port][/path], host a name, an IPv4 address or [IPv6]. */
int config_env_endpoint(const char *v);
/*
 * A secret from NAME or NAME_FILE (malloc'd into *out; NULL when neither is
 * set; both set is an error). The value never appears in a message.
 */
enum err config_env_secret(const char *name, char **out, char *errbuf, size_t errlen);
/*
 * The next entry of a comma-separated list at *p, blanks and tabs around it
 * dropped (it may be empty): 1 with *entry (borrowed, not NUL-terminated)
 * and *len set and *p moved past its comma (NULL after the last); 0 when *p
 * is NULL. Start with *p = the value.
 */
int config_env_next(const char **p, const char **entry, size_t *len);

/* ---- config_lists.c: each fills its fields of cfg (freed by config_release) ---- */

enum err config_lists_cors(struct config *cfg, char *errbuf, size_t errlen);
enum err config_lists_exports(struct config *cfg, char *errbuf, size_t errlen);
enum err config_lists_sqs(struct config *cfg, char *errbuf, size_t errlen);
enum err config_lists_links_url(struct config *cfg, char *errbuf, size_t errlen);
enum err config_lists_imports(struct config *cfg, char *errbuf, size_t errlen);
enum err config_lists_webhooks(struct config *cfg, char *errbuf, size_t errlen);

#endif
