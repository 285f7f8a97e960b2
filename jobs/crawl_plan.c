/*
 * crawl_plan.c - what a crawl writes for what S3 listed (see crawl_plan.h)
 *
 * Walks the listed keys and the gone keys together in byte order (a merge of
 * two sorted lists); per key it looks the catalog's versions up by binary
 * search (state->versions is sorted by key, then version id, as PostgreSQL
 * returned it under COLLATE "C").
 */
#include "jobs/crawl_plan.h"

#include <stdlib.h>
#include <string.h>

#include "codec/s3_fields.h"
#include "core/buf.h"

static int
version_cmp(const char *key, const char *version, const struct crawl_version *v)
{
    int c = strcmp(key, v->key);

    return c ? c : strcmp(version, v->version_id);
}

/* The catalog's latest record of key/version, or NULL. */
static const struct crawl_version *
find_version(const struct crawl_state *s, const char *key, const char *version)
{
    size_t lo = 0, hi = s->nversions;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = version_cmp(key, version, &s->versions[mid]);

        if (c == 0)
            return &s->versions[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

static int
touched(const struct crawl_state *s, const char *key)
{
    size_t lo = 0, hi = s->ntouched;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(key, s->touched[mid]);

        if (c == 0)
            return 1;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return 0;
}

/* Does any version of key have a current record? */
static int
key_has_current(const struct crawl_state *s, const char *key)
{
    size_t i;

    for (i = 0; i < s->nversions; i++)
        if (s->versions[i].current && strcmp(s->versions[i].key, key) == 0)
            return 1;
    return 0;
}

static const char *
entry_version(const struct s3_list_entry *e)
{
    return e->version_id ? e->version_id : "null";
}

static int
str_eq(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

/* 1 when the catalog already says what S3 listed for this entry. */
static int
unchanged(const struct s3_list_entry *e, const struct crawl_version *v, const char *etag)
{
    if (!v)
        return 0;
    if (e->is_delete_marker)
        return !v->created && v->delete_marker;
    if (!v->created || v->delete_marker || !str_eq(etag, v->etag))
        return 0;
    if (e->has_size != v->has_size || (e->has_size && (int64_t)e->size != v->size))
        return 0;
    return !v->storage_class || !e->storage_class ||
           strcmp(v->storage_class, e->storage_class) == 0;
}

static struct s3_record *
push(struct crawl_plan *p, size_t *alloc)
{
    struct s3_batch *b = &p->batch;

    if (b->nrecords == *alloc) {
        *alloc = *alloc ? *alloc * 2 : 64;
        b->records = xrealloc(b->records, *alloc * sizeof(*b->records));
    }
    memset(&b->records[b->nrecords], 0, sizeof(b->records[0]));
    return &b->records[b->nrecords++];
}

static void
add_gone(struct crawl_plan *p, size_t *alloc, const char *bucket, const char *key,
         const char *version)
{
    struct s3_record *r = push(p, alloc);

    r->event_type = S3_DELETED;
    r->bucket = xstrdup(bucket);
    r->key = xstrdup(key);
    r->version_id = xstrdup(version);
    r->reason = "Crawl";
    p->counts.deleted++;
}

static void
add_entry(struct crawl_plan *p, size_t *alloc, const char *bucket, const struct s3_list_entry *e,
          const char *etag)
{
    struct s3_record *r = push(p, alloc);
    char t[S3_TIME_BUF];

    r->event_type = e->is_delete_marker ? S3_DELETED : S3_CREATED;
    r->is_delete_marker = e->is_delete_marker;
    r->bucket = xstrdup(bucket);
    r->key = xstrdup(e->key);
    r->version_id = xstrdup(entry_version(e));
    r->has_size = e->has_size && e->size <= (uint64_t)INT64_MAX;
    r->size = r->has_size ? (int64_t)e->size : 0;
    r->etag = etag ? xstrdup(etag) : NULL;
    r->storage_class = e->storage_class ? xstrdup(e->storage_class) : NULL;
    if (e->last_modified && s3_time_normalise(e->last_modified, strlen(e->last_modified), t))
        r->last_modified = xstrdup(t);
    r->reason = "Crawl";
    p->counts.created++;
}

/* The entries e[0..n) of one key, oldest first by LastModified, the latest one last. */
static int
entry_order(const void *a, const void *b)
{
    const struct s3_list_entry *x = *(const struct s3_list_entry *const *)a;
    const struct s3_list_entry *y = *(const struct s3_list_entry *const *)b;

    if (x->is_latest != y->is_latest)
        return x->is_latest - y->is_latest;
    return strcmp(x->last_modified ? x->last_modified : "",
                  y->last_modified ? y->last_modified : "");
}

/* The listed entries of one key, after its gone records. */
static void
plan_entries(struct crawl_plan *p, size_t *alloc, const char *bucket, const struct s3_list_entry *e,
             size_t n, const struct crawl_state *s)
{
    const struct s3_list_entry **order = xcalloc(n, sizeof(*order));
    size_t before = p->batch.nrecords;
    struct buf etag;
    size_t i;

    buf_init(&etag, 0);
    for (i = 0; i < n; i++)
        order[i] = &e[i];
    qsort(order, n, sizeof(*order), entry_order);
    for (i = 0; i < n; i++) {
        const struct s3_list_entry *x = order[i];
        const struct crawl_version *v = find_version(s, x->key, entry_version(x));
        int last = i + 1 == n && x->is_latest;
        int emit;

        buf_reset(&etag);
        if (x->etag)
            s3_etag_append(&etag, x->etag, strlen(x->etag));
        emit = !unchanged(x, v, x->etag ? etag.data : NULL);
        if (!emit && last) /* the latest one also when the catalog's present disagrees */
            emit = p->batch.nrecords > before ||
                   (x->is_delete_marker ? key_has_current(s, x->key) : !v || !v->current);
        if (emit)
            add_entry(p, alloc, bucket, x, x->etag ? etag.data : NULL);
        else
            p->counts.unchanged++;
    }
    buf_release(&etag);
    free(order);
}

void
crawl_plan_make(const char *bucket, const struct s3_list_entry *entries, size_t n,
                const struct crawl_state *state, const struct crawl_pairs *gone,
                struct crawl_plan *out)
{
    size_t alloc = 0, kalloc = 0, i = 0, g = 0, j;

    memset(out, 0, sizeof(*out));
    out->counts.objects = (int64_t)n;
    while (i < n || g < gone->n) {
        const char *key;
        int c;

        if (i < n && g < gone->n)
            c = strcmp(entries[i].key, gone->keys[g]);
        else
            c = i < n ? -1 : 1;
        key = c <= 0 ? entries[i].key : gone->keys[g];
        for (j = i; c <= 0 && j < n && strcmp(entries[j].key, key) == 0; j++)
            ;
        if (touched(state, key)) {
            out->counts.unchanged += (int64_t)(c <= 0 ? j - i : 0);
        } else {
            for (; g < gone->n && strcmp(gone->keys[g], key) == 0; g++)
                add_gone(out, &alloc, bucket, key, gone->version_ids[g]);
            if (c <= 0)
                plan_entries(out, &alloc, bucket, &entries[i], j - i, state);
        }
        for (; g < gone->n && strcmp(gone->keys[g], key) == 0; g++)
            ;
        if (c <= 0)
            i = j;
        if (out->nkeys == kalloc) {
            kalloc = kalloc ? kalloc * 2 : 64;
            out->key_ends = xrealloc(out->key_ends, kalloc * sizeof(*out->key_ends));
        }
        out->key_ends[out->nkeys++] = out->batch.nrecords;
    }
}

void
crawl_plan_release(struct crawl_plan *p)
{
    s3_batch_release(&p->batch);
    free(p->key_ends);
    memset(p, 0, sizeof(*p));
}
