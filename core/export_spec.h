/*
 * export_spec.h - the targets of INGESTD_EXPORTS, parsed and named safely
 *
 * INGESTD_EXPORTS is a comma-separated list; each entry is one target the
 * effective repos.csv is published to after every new generation:
 *
 *   /abs/path/effective-repos.csv          a file (written atomically)
 *   s3://bucket/key                        an S3 object
 *   http(s)://[user:pass@]host/path        an HTTP PUT (Artifactory)
 *   <remote>.git:path/in/repo              a Git repository: the remote is
 *                                          git@host:org/repo.git, ssh://...,
 *                                          https://host/org/repo.git,
 *                                          file:///srv/repo.git or a local
 *                                          path /srv/repo.git
 *
 * An entry whose text holds ".git:" followed by a path is a Git target (the
 * last such split wins); otherwise the scheme decides. Every target has a
 * `name`: the entry without credentials (userinfo, query and fragment of a
 * URL dropped), which is what logs, metrics, the API and PostgreSQL see.
 * Two entries with one name are an error. Pure: no I/O, no globals.
 */
#ifndef INGESTD_EXPORT_SPEC_H
#define INGESTD_EXPORT_SPEC_H

#include <stddef.h>

#include "core/err.h"

#define EXPORT_SPEC_MAX_TARGETS 32
#define EXPORT_SPEC_MAX_ENTRY 2048

enum export_kind {
    EXPORT_FILE,
    EXPORT_S3,
    EXPORT_HTTP,
    EXPORT_GIT,
};

struct export_target {
    enum export_kind kind;
    char *spec;   /* the entry as configured: may hold credentials, never logged */
    char *name;   /* the entry without credentials: logged, shown, the stored key */
    char *path;   /* FILE: the absolute path; GIT: the file's path in the repository */
    char *bucket; /* S3 */
    char *key;    /* S3 */
    char *url;    /* HTTP: the URL as configured (userinfo = Basic auth); GIT: the remote */
};

/*
 * Parse list into a new array of *n targets (*out, free with
 * export_spec_free). An empty or NULL list gives 0 targets. On a bad entry
 * ERR_BAD_INPUT with "entry N: reason" in errbuf; the reason never repeats
 * the entry's credentials.
 */
enum err export_spec_parse(const char *list, struct export_target **out, size_t *n, char *errbuf,
                           size_t errlen);
/* Free an array from export_spec_parse; NULL-safe. */
void export_spec_free(struct export_target *targets, size_t n);

/* The kind as a word: "file", "s3", "http", "git". */
const char *export_kind_name(enum export_kind kind);

/*
 * url without userinfo, query and fragment, as a new string: what may be
 * shown of a URL or of an scp-like Git remote (user@host:path keeps its user,
 * which is never a secret there).
 */
char *export_spec_redact(const char *url);

#endif
