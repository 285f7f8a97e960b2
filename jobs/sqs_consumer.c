/*
 * sqs_consumer.c - S3 event notifications from Amazon SQS queues into the catalog
 *
 * Each queue has one thread (thread.c) that loops: ReceiveMessage (long
 * poll), then one batch: every body is decoded on its own with
 * s3_events_decode() - the decoder of POST /api/v1/s3/events, with its
 * record cap - and sorted into
 *
 *   records   it held created/deleted events: they join the batch's records
 *   ignored   it decoded to no record (s3:TestEvent, an SNS subscription
 *             confirmation, event types that are neither created nor deleted)
 *   poison    it does not decode (not JSON, no known shape, too many records)
 *
 * The records of the whole batch go to s3_store_ingest() in one transaction,
 * exactly as one POST of those bodies would. Should the store refuse the data
 * itself (ERR_BAD_INPUT before anything is written: a sequencer that is not
 * hex, a key too long), the messages are ingested one by one instead and the
 * refused ones are poison too, so one bad message never holds back the rest. Only after it
 * committed, one DeleteMessageBatch removes the records and ignored messages (and poison ones with
 * INGESTD_SQS_POISON=delete). When the ingestion fails nothing is deleted: every message of the
 * batch becomes visible again after its visibility timeout and is received anew (a repeat is
 * counted as a duplicate by the store, so a redelivery after a commit whose delete was lost adds
 * nothing). Errors back off from 1 s, doubling up to 30 s.
 *
 * Visibility timeout: each receive asks for INGESTD_SQS_VISIBILITY_TIMEOUT
 * (default 60 s) and the consumer relies on that bound instead of extending
 * it with ChangeMessageVisibility: a batch is at most 10 messages of at most
 * 1 MiB, which one transaction ingests in far less. Should it take longer,
 * the messages are received again (here or by a replica) and the second
 * ingestion counts duplicates; correctness never depends on the bound.
 *
 * Counters live in the queue under its mutex, for sqs_consumers_status(),
 * and in the metrics registry. Log lines name the queue and message ids,
 * never bodies or receipt handles.
 */
#include "jobs/sqs_consumer.h"

#include <openssl/crypto.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codec/s3_event_decoder.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/metrics.h"
#include "jobs/s3_group.h"
#include "jobs/thread.h"
#include "storage/db.h"
#include "storage/s3_store.h"

#define SQS_MAX_QUEUES 16
#define SQS_MESSAGE_MAX_RECORDS 100000 /* as one POST /api/v1/s3/events */
#define SQS_BACKOFF_FIRST_MS 1000L
#define SQS_BACKOFF_MAX_MS 30000L
#define SQS_EMPTY_PAUSE_MS 1000L /* an empty receive faster than this is followed by a pause */

/* What became of a message; MSG_KEPT: its records were not committed, it stays in the queue */
enum msg_kind { MSG_RECORDS, MSG_IGNORED, MSG_POISON, MSG_KEPT };

struct sqs_stats {
    uint64_t received, ingested, ignored, failed, deleted, delete_failed, errors;
    uint64_t records, duplicates;
    long long last_receive_ms, last_commit_ms, last_error_ms; /* 0: never */
    char last_error[ERRBUF_SIZE];
};

struct sqs_queue {
    struct sqs_consumers *owner;
    char *url;
    char *name; /* the URL's last segment: the metrics label */
    struct thread *thread;
    pthread_mutex_t lock; /* guards stats */
    struct sqs_stats stats;
};

struct sqs_consumers {
    char *conninfo;
    struct sqs_consumer_config cfg; /* client strings point into the copies below */
    char *region, *access_key_id, *secret_access_key, *session_token, *endpoint_url;
    struct metrics *metrics;
    struct sqs_queue queues[SQS_MAX_QUEUES];
    size_t nqueues;
};

/* One received batch being processed. */
struct sqs_batch_work {
    struct sqs_receive rcv;
    struct s3_batch parts[SQS_MAX_BATCH];
    enum msg_kind kind[SQS_MAX_BATCH];
    struct s3_batch all;         /* the records of every MSG_RECORDS part, moved here */
    size_t first[SQS_MAX_BATCH]; /* message i's records: all.records[first[i]..+nrec[i]) */
    size_t nrec[SQS_MAX_BATCH];
    int committed; /* some records were committed */
};

/* ---- counters ----------------------------------------------------------- */

static void
count(struct sqs_queue *q, const char *outcome, uint64_t *field, uint64_t n)
{
    const char *labels[] = {q->name, outcome};

    if (n == 0)
        return;
    pthread_mutex_lock(&q->lock);
    *field += n;
    pthread_mutex_unlock(&q->lock);
    metrics_add(q->owner->metrics, M_SQS_MESSAGES, labels, (double)n);
}

/* An error of kind receive, database or delete: counted, remembered, logged. */
static void
count_error(struct sqs_queue *q, const char *kind, const char *msg)
{
    const char *labels[] = {q->name, kind};

    char text[ERRBUF_SIZE];
    size_t i;

    /* printable ASCII only: the text goes into JSON (status route, log) as is */
    for (i = 0; msg[i] && i < sizeof(text) - 1; i++)
        text[i] = (unsigned char)msg[i] >= 0x20 && (unsigned char)msg[i] < 0x7F ? msg[i] : '?';
    text[i] = '\0';
    pthread_mutex_lock(&q->lock);
    q->stats.errors++;
    q->stats.last_error_ms = clock_real_ms();
    memcpy(q->stats.last_error, text, i + 1);
    pthread_mutex_unlock(&q->lock);
    metrics_add(q->owner->metrics, M_SQS_ERRORS, labels, 1);
    log_json(LOG_WARN, "sqs queue error",
             json_pack("{s:s,s:s,s:s}", "queue", q->name, "kind", kind, "error", text));
}

static void
stamp(struct sqs_queue *q, long long *field)
{
    pthread_mutex_lock(&q->lock);
    *field = clock_real_ms();
    pthread_mutex_unlock(&q->lock);
}

/* ---- one batch -------------------------------------------------------- */

/* Decode every body; move the records of the good ones into w->all. */
static void
batch_decode(struct sqs_queue *q, struct sqs_batch_work *w)
{
    char errbuf[ERRBUF_SIZE];
    size_t i, total = 0, at = 0;
    struct sqs_message *m;

    for (i = 0; i < w->rcv.n; i++) {
        m = &w->rcv.messages[i];
        if (s3_events_decode(m->body, m->body_len, SQS_MESSAGE_MAX_RECORDS, &w->parts[i], errbuf,
                             sizeof(errbuf))) {
            w->kind[i] = MSG_POISON;
            log_json(LOG_WARN, "sqs message does not decode",
                     json_pack("{s:s,s:s,s:s,s:I}", "queue", q->name, "message_id", m->message_id,
                               "error", errbuf, "receive_count", (json_int_t)m->receive_count));
            continue;
        }
        w->kind[i] = w->parts[i].nrecords ? MSG_RECORDS : MSG_IGNORED;
        total += w->parts[i].nrecords;
    }
    w->all.records = total ? xmalloc(total * sizeof(*w->all.records)) : NULL;
    for (i = 0; i < w->rcv.n; i++) {
        if (w->kind[i] != MSG_RECORDS)
            continue;
        memcpy(w->all.records + at, w->parts[i].records,
               w->parts[i].nrecords * sizeof(*w->all.records));
        w->first[i] = at;
        w->nrec[i] = w->parts[i].nrecords;
        at += w->parts[i].nrecords;
        w->parts[i].nrecords = 0; /* the strings belong to w->all now */
    }
    w->all.nrecords = total;
}

static void
batch_release(struct sqs_batch_work *w)
{
    size_t i;

    for (i = 0; i < SQS_MAX_BATCH; i++)
        s3_batch_release(&w->parts[i]);
    s3_batch_release(&w->all);
    sqs_receive_release(&w->rcv);
}

/* Ingest recs[0..n) in one transaction; on success the records and duplicates are counted. */
static enum err
ingest_records(struct sqs_queue *q, struct db *db, const struct s3_record *recs, size_t n,
               char *errbuf, size_t errlen)
{
    struct s3_ingest_part part = {recs, n, {0, 0}};
    struct s3_ingest_result r;
    const char *ingested[] = {"ingested"}, *dups[] = {"duplicate"};
    enum err rc;

    rc = db_ensure(db, errbuf, errlen);
    if (!rc) /* with the batches of POST /api/v1/s3/events waiting, in one transaction */
        rc = s3_group_ingest(q->owner->cfg.group, db, &part, errbuf, errlen);
    if (rc)
        return rc;
    r = part.result;
    pthread_mutex_lock(&q->lock);
    q->stats.records += r.ingested;
    q->stats.duplicates += r.duplicates;
    q->stats.last_commit_ms = clock_real_ms();
    pthread_mutex_unlock(&q->lock);
    metrics_add(q->owner->metrics, M_S3_RECORDS, ingested, (double)r.ingested);
    metrics_add(q->owner->metrics, M_S3_RECORDS, dups, (double)r.duplicates);
    return ERR_OK;
}

/*
 * Ingest w->all in one transaction. When the store refuses the data itself
 * (ERR_BAD_INPUT: a sequencer that is not hex, a key too long - a fault of
 * one message, found before anything is written), each message is ingested
 * on its own so that only the refused ones become poison. A database failure
 * is returned; messages whose records did not commit become MSG_KEPT.
 */
static enum err
batch_ingest(struct sqs_queue *q, struct db *db, struct sqs_batch_work *w)
{
    char errbuf[ERRBUF_SIZE];
    enum err rc, failure = ERR_OK;
    size_t i;

    if (w->all.nrecords == 0)
        return ERR_OK;
    rc = ingest_records(q, db, w->all.records, w->all.nrecords, errbuf, sizeof(errbuf));
    if (rc != ERR_BAD_INPUT) {
        if (rc)
            count_error(q, "database", errbuf);
        w->committed = !rc;
        return rc;
    }
    for (i = 0; i < w->rcv.n; i++) {
        if (w->kind[i] != MSG_RECORDS)
            continue;
        if (failure) {
            w->kind[i] = MSG_KEPT;
            continue;
        }
        rc =
            ingest_records(q, db, w->all.records + w->first[i], w->nrec[i], errbuf, sizeof(errbuf));
        if (rc == ERR_BAD_INPUT) {
            w->kind[i] = MSG_POISON;
            count(q, "failed", &q->stats.failed, 1);
            log_json(LOG_WARN, "sqs message refused by the catalog",
                     json_pack("{s:s,s:s,s:s}", "queue", q->name, "message_id",
                               w->rcv.messages[i].message_id, "error", errbuf));
        } else if (rc) {
            w->kind[i] = MSG_KEPT;
            failure = rc;
            count_error(q, "database", errbuf);
        } else {
            w->committed = 1;
        }
    }
    return failure;
}

/* After the commit: DeleteMessageBatch of what is done with; counts the outcome. */
static void
batch_delete(struct sqs_queue *q, struct sqs_client *c, struct sqs_batch_work *w)
{
    const char *handles[SQS_MAX_BATCH];
    struct sqs_batch_result res;
    char errbuf[ERRBUF_SIZE];
    size_t i, n = 0, ok = 0;

    for (i = 0; i < w->rcv.n; i++)
        if (w->kind[i] == MSG_RECORDS || w->kind[i] == MSG_IGNORED ||
            (w->kind[i] == MSG_POISON && q->owner->cfg.poison_delete))
            handles[n++] = w->rcv.messages[i].receipt_handle;
    if (n == 0)
        return;
    if (sqs_client_delete_batch(c, q->url, handles, n, &res, errbuf, sizeof(errbuf))) {
        count_error(q, "delete", errbuf);
        count(q, "delete_failed", &q->stats.delete_failed, n);
        return;
    }
    for (i = 0; i < n; i++)
        ok += res.ok[i] ? 1 : 0;
    count(q, "deleted", &q->stats.deleted, ok);
    count(q, "delete_failed", &q->stats.delete_failed, n - ok);
    if (res.nfailed)
        count_error(q, "delete", res.first_failure);
}

/*
 * One received batch: decode, ingest, delete. Returns a database failure
 * (the caller backs off); the messages whose records committed are deleted
 * all the same, the others stay.
 */
static enum err
batch_process(struct sqs_queue *q, struct sqs_client *c, struct db *db, struct sqs_batch_work *w)
{
    size_t i, records = 0, ignored = 0, poison = 0;
    const char *ignored_label[] = {"ignored"};
    enum err rc;

    batch_decode(q, w);
    for (i = 0; i < w->rcv.n; i++)
        poison += w->kind[i] == MSG_POISON;
    count(q, "failed", &q->stats.failed, poison);
    rc = batch_ingest(q, db, w);
    if (rc && !w->committed)
        return rc; /* nothing deleted: the batch comes back after its visibility timeout */
    for (i = 0; i < w->rcv.n; i++) {
        records += w->kind[i] == MSG_RECORDS;
        ignored += w->kind[i] == MSG_IGNORED;
        if (w->kind[i] == MSG_RECORDS || w->kind[i] == MSG_IGNORED)
            metrics_add(q->owner->metrics, M_S3_RECORDS, ignored_label,
                        (double)w->parts[i].ignored);
    }
    count(q, "ingested", &q->stats.ingested, records);
    count(q, "ignored", &q->stats.ignored, ignored);
    batch_delete(q, c, w);
    return rc;
}

/* ---- the thread ------------------------------------------------------- */

static int
stopping_cb(void *ud)
{
    return thread_stopping(ud);
}

static void
consumer_main(struct thread *t, void *arg)
{
    struct sqs_queue *q = arg;
    const struct sqs_consumer_config *cfg = &q->owner->cfg;
    struct sqs_client *c = sqs_client_new(&cfg->client);
    struct db *db = db_new(q->owner->conninfo);
    long backoff_ms = SQS_BACKOFF_FIRST_MS;
    char errbuf[ERRBUF_SIZE];
    struct sqs_batch_work w;
    long long started_ms;
    int empty;
    enum err rc;

    if (!c)
        abort();
    sqs_client_set_cancel(c, stopping_cb, t);
    log_json(LOG_INFO, "sqs consumer started", json_pack("{s:s}", "queue", q->name));
    while (!thread_stopping(t)) {
        memset(&w, 0, sizeof(w));
        started_ms = clock_mono_ms();
        rc = sqs_client_receive(c, q->url, SQS_MAX_BATCH, cfg->wait_s, cfg->visibility_s, &w.rcv,
                                errbuf, sizeof(errbuf));
        if (rc && thread_stopping(t))
            break;
        if (!rc) {
            stamp(q, &q->stats.last_receive_ms);
            count(q, "received", &q->stats.received, w.rcv.n);
            rc = w.rcv.n ? batch_process(q, c, db, &w) : ERR_OK;
        } else {
            count_error(q, "receive", errbuf);
        }
        empty = !rc && w.rcv.n == 0;
        batch_release(&w);
        if (!rc) {
            backoff_ms = SQS_BACKOFF_FIRST_MS;
            /* short polling (INGESTD_SQS_WAIT_TIME=0), or a server that does not wait:
             * at most one empty receive a second */
            if (empty && clock_mono_ms() - started_ms < SQS_EMPTY_PAUSE_MS)
                thread_wait(t, SQS_EMPTY_PAUSE_MS);
            continue;
        }
        thread_wait(t, backoff_ms);
        backoff_ms = backoff_ms * 2 > SQS_BACKOFF_MAX_MS ? SQS_BACKOFF_MAX_MS : backoff_ms * 2;
    }
    db_free(db);
    sqs_client_free(c);
}

/* ---- lifecycle and status ---------------------------------------------- */

/* Copy the settings; the client's strings point into s's own copies. */
static void
config_copy(struct sqs_consumers *s, const struct sqs_consumer_config *cfg)
{
    s->cfg = *cfg;
    s->cfg.queues = NULL;
    s->region = cfg->client.region ? xstrdup(cfg->client.region) : NULL;
    s->access_key_id = cfg->client.access_key_id ? xstrdup(cfg->client.access_key_id) : NULL;
    s->secret_access_key =
        cfg->client.secret_access_key ? xstrdup(cfg->client.secret_access_key) : NULL;
    s->session_token = cfg->client.session_token ? xstrdup(cfg->client.session_token) : NULL;
    s->endpoint_url = cfg->client.endpoint_url ? xstrdup(cfg->client.endpoint_url) : NULL;
    s->cfg.client.region = s->region;
    s->cfg.client.access_key_id = s->access_key_id;
    s->cfg.client.secret_access_key = s->secret_access_key;
    s->cfg.client.session_token = s->session_token;
    s->cfg.client.endpoint_url = s->endpoint_url;
}

/* Add the queue url[0..len) (blanks trimmed); ignored when empty or past the cap. */
static void
queue_add(struct sqs_consumers *s, const char *url, size_t len)
{
    struct sqs_queue *q;
    const char *slash;

    while (len && (*url == ' ' || *url == '\t')) {
        url++;
        len--;
    }
    while (len && (url[len - 1] == ' ' || url[len - 1] == '\t'))
        len--;
    if (len == 0 || s->nqueues == SQS_MAX_QUEUES)
        return;
    q = &s->queues[s->nqueues++];
    q->owner = s;
    q->url = xstrndup(url, len);
    while (strlen(q->url) > 1 && q->url[strlen(q->url) - 1] == '/')
        q->url[strlen(q->url) - 1] = '\0';
    slash = strrchr(q->url, '/');
    q->name = xstrdup(slash ? slash + 1 : q->url);
    pthread_mutex_init(&q->lock, NULL);
}

struct sqs_consumers *
sqs_consumers_start(const char *conninfo, const struct sqs_consumer_config *cfg,
                    struct metrics *metrics)
{
    struct sqs_consumers *s;
    const char *p = cfg->queues, *comma;
    size_t i;

    if (!p || !*p)
        return NULL;
    s = xcalloc(1, sizeof(*s));
    s->conninfo = xstrdup(conninfo);
    s->metrics = metrics;
    config_copy(s, cfg);
    while (p) {
        comma = strchr(p, ',');
        queue_add(s, p, comma ? (size_t)(comma - p) : strlen(p));
        p = comma ? comma + 1 : NULL;
    }
    if (s->nqueues == 0) {
        sqs_consumers_stop(s);
        return NULL;
    }
    for (i = 0; i < s->nqueues; i++)
        s->queues[i].thread = thread_start(1, consumer_main, &s->queues[i]);
    return s;
}

void
sqs_consumers_stop(struct sqs_consumers *s)
{
    size_t i;

    if (!s)
        return;
    for (i = 0; i < s->nqueues; i++)
        thread_stop(s->queues[i].thread);
    for (i = 0; i < s->nqueues; i++) {
        pthread_mutex_destroy(&s->queues[i].lock);
        free(s->queues[i].url);
        free(s->queues[i].name);
    }
    free(s->conninfo);
    free(s->region);
    free(s->access_key_id);
    if (s->secret_access_key)
        OPENSSL_cleanse(s->secret_access_key, strlen(s->secret_access_key));
    free(s->secret_access_key);
    free(s->session_token);
    free(s->endpoint_url);
    free(s);
}

/* RFC 3339 UTC with milliseconds of ms since the epoch, or JSON null for 0. */
static json_t *
time_json(long long ms)
{
    char out[32];
    time_t sec = (time_t)(ms / 1000);
    struct tm tm;

    if (ms <= 0)
        return json_null();
    gmtime_r(&sec, &tm);
    strftime(out, sizeof(out), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + strlen(out), sizeof(out) - strlen(out), ".%03dZ", (int)(ms % 1000));
    return json_string(out);
}

static json_t *
queue_json(struct sqs_queue *q)
{
    struct sqs_stats st;

    pthread_mutex_lock(&q->lock);
    st = q->stats;
    pthread_mutex_unlock(&q->lock);
    return json_pack("{s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:o,s:o,s:o,s:o}", "url", q->url,
                     "name", q->name, "received", (json_int_t)st.received, "ingested",
                     (json_int_t)st.ingested, "ignored", (json_int_t)st.ignored, "failed",
                     (json_int_t)st.failed, "deleted", (json_int_t)st.deleted, "deleteFailed",
                     (json_int_t)st.delete_failed, "records", (json_int_t)st.records, "duplicates",
                     (json_int_t)st.duplicates, "errors", (json_int_t)st.errors, "lastReceiveAt",
                     time_json(st.last_receive_ms), "lastCommitAt", time_json(st.last_commit_ms),
                     "lastError", st.last_error[0] ? json_string(st.last_error) : json_null(),
                     "lastErrorAt", time_json(st.last_error_ms));
}

json_t *
sqs_consumers_status(struct sqs_consumers *s)
{
    json_t *queues = json_array();
    size_t i;

    if (!s)
        return json_pack("{s:o}", "queues", queues);
    for (i = 0; i < s->nqueues; i++)
        json_array_append_new(queues, queue_json(&s->queues[i]));
    return json_pack("{s:o,s:i,s:i,s:s}", "queues", queues, "waitTimeSeconds", s->cfg.wait_s,
                     "visibilityTimeout", s->cfg.visibility_s, "poisonMessages",
                     s->cfg.poison_delete ? "delete" : "keep");
}
