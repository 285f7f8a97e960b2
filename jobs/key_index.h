/*
 * key_index.h - the thread that builds the catalog's key segments indexes
 *
 * Every interval it builds, one partition at a time, the GIN index of
 * s3_key_segments(key) that a partition of s3_objects lacks
 * (storage/s3_key_index.h), with its own connection, so that key patterns
 * starting with a wildcard read an index instead of the partition. Builds
 * happen after an inventory's commit, never inside it; an apply cancels a
 * build under way, which starts again at the next interval. Every replica
 * may run one: the partitions' lock lets one build at a time.
 */
#ifndef INGESTD_KEY_INDEX_H
#define INGESTD_KEY_INDEX_H

struct key_index;

/* Start the thread (interval_s > 0); conninfo is copied. */
struct key_index *key_index_start(const char *conninfo, int interval_s);
/* Stop it, cancelling a build under way (the next start builds it again); NULL-safe. */
void key_index_stop(struct key_index *k);

#endif
