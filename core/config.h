/*
 * config.h - configuration from the environment (OPERATIONS.md)
 *
 * config_load() reads every variable once at start; a bad value fails with
 * one line naming the variable. The struct is immutable afterwards and
 * shared read-only by all threads.
 */
#ifndef INGESTD_CONFIG_H
#define INGESTD_CONFIG_H

#include <stddef.h>

#include "core/err.h"

struct config {
    char *database_url; /* NULL = embedded PostgreSQL under data_dir */
    char *listen_host;  /* numeric IPv4/IPv6 address */
    int listen_port;    /* 0 = any free port */
    char *data_dir;
    int http_threads;
    int db_pool;
    size_t max_body_bytes;           /* decoded (and compressed) body limit */
    size_t max_columns;              /* CSV columns */
    size_t max_field_bytes;          /* CSV field */
    size_t max_rows;                 /* CSV data rows per upload */
    int merge_interval_s;            /* 0 = off */
    int inventory_streams;           /* data files of an inventory job staged at once */
    long long inventory_merge_below; /* a file's fewer new records join partition 0 */
    int request_timeout_s;           /* idle HTTP connection timeout */
    int shutdown_grace_s;            /* time in-flight requests get on SIGTERM */
};

/* Fill cfg from getenv(); on error errbuf holds "NAME: reason". */
enum err config_load(struct config *cfg, char *errbuf, size_t errlen);
void config_release(struct config *cfg);

#endif
