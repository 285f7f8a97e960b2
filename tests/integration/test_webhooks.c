/*
 * test_webhooks.c - webhook deliveries from the real binary to a real receiver
 *
 * A receiver thread of this test serves HTTP on loopback. For every request
 * it checks, with its own OpenSSL calls, both signatures (X-Ingestd-Signature
 * over the body with the secret as configured; the Standard Webhooks
 * webhook-signature over "id.timestamp.body" with the key a whsec_ secret
 * decodes to), the webhook-timestamp, and the CloudEvents members; it
 * counts attempts and 2xx answers per webhook-id, so a lost or duplicated
 * delivery shows. It can answer 200, 500 or 410, or be down (its listening
 * socket closed: connection refused).
 *
 * Tests: deliveries survive a receiver that fails and is down for a while
 * (none lost, none twice), with the merge and job objects as the API shows
 * them; 410 stops a delivery and the retry route revives it; a merge whose
 * commit fails announces nothing; kill -9 between the commit and the
 * delivery, restart: delivered once; two replicas on one database deliver
 * each change once; a receiver that hangs and one that refuses cost a log
 * line and a metric, never a merge's time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/hex.h"
#include "harness.h"

/* a secret in the Standard Webhooks form: the key is the base64's 24 bytes */
#define SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define CSV_HEAD "origin,path,branch,cloneUrl,changeset,publishUri\n"
#define MAX_SEEN 256
#define WAIT_MS 60000 /* retries double from 50 ms: generous on a loaded machine */

/* ---- the receiver --------------------------------------------------------- */

enum rmode { RECV_OK, RECV_500, RECV_410, RECV_DOWN };

struct seen {
    char id[64];
    char type[64];
    char subject[64];
    char *data; /* the event's data, JSON text */
    int attempts;
    int ok; /* 2xx answers */
};

struct receiver {
    int port;
    int fd; /* listening; owned by the thread */
    atomic_int mode;
    atomic_int stop;
    long delay_ms; /* before a 2xx answer */
    pthread_t thread;
    pthread_mutex_t lock;
    struct seen seen[MAX_SEEN];
    int nseen;
    int requests;
    int bad; /* requests that failed a check */
    char bad_why[256];
};

static int
listen_on(int port)
{
    struct sockaddr_in a;
    socklen_t alen = sizeof(a);
    int one = 1;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((uint16_t)port);
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, 64) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &alen) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int
sock_port(int fd)
{
    struct sockaddr_in a;
    socklen_t alen = sizeof(a);

    getsockname(fd, (struct sockaddr *)&a, &alen);
    return ntohs(a.sin_port);
}

/* The value of header `name` in the header block `h` (copied into out); 0 when absent. */
static int
header(const char *h, const char *name, char *out, size_t outlen)
{
    size_t n = strlen(name);
    const char *p = h;

    while ((p = strstr(p, "\r\n")) != NULL) {
        p += 2;
        if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
            const char *v = p + n + 1;
            size_t len;

            while (*v == ' ')
                v++;
            len = strcspn(v, "\r\n");
            snprintf(out, outlen, "%.*s", (int)len, v);
            return 1;
        }
    }
    return 0;
}

/* Read one request into b: headers, then Content-Length bytes. *body points into b. */
static int
read_request(int c, struct buf *b, const char **body, size_t *body_len)
{
    char chunk[8192];
    char cl[32];
    char *end;
    ssize_t n;

    for (;;) {
        n = read(c, chunk, sizeof(chunk));
        if (n <= 0)
            return -1;
        buf_append(b, chunk, (size_t)n);
        end = strstr(b->data, "\r\n\r\n");
        if (!end)
            continue;
        *body = end + 4;
        if (!header(b->data, "Content-Length", cl, sizeof(cl)))
            return -1;
        *body_len = strtoul(cl, NULL, 10);
        if ((size_t)(b->data + b->len - *body) >= *body_len)
            return 0;
    }
}

/* The string member key of o, "" when it is not one. */
static const char *
jstr(json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));

    return v ? v : "";
}

static void
bad(struct receiver *r, const char *why, const char *detail)
{
    r->bad++;
    snprintf(r->bad_why, sizeof(r->bad_why), "%s: %.180s", why, detail ? detail : "");
}

/* The checks of one request; 0 when it passes (else r->bad says why). Under r->lock. */
static int
verify(struct receiver *r, const char *head, const char *body, size_t len, json_t **event)
{
    static const unsigned char *const b64key = (const unsigned char *)SECRET + 6;
    unsigned char key[64];
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    char hex[65];
    char want[128];
    char got[256];
    char id[128];
    char ts[64];
    struct buf msg;
    int keylen;
    json_t *ev;

    *event = NULL;
    if (!header(head, "Content-Type", got, sizeof(got)) ||
        strncmp(got, "application/cloudevents+json", 28) != 0)
        return bad(r, "content type", got), -1;
    /* X-Ingestd-Signature: the secret as configured, prefix and all */
    HMAC(EVP_sha256(), SECRET, (int)strlen(SECRET), (const unsigned char *)body, len, mac, &maclen);
    hex_encode(hex, mac, maclen);
    snprintf(want, sizeof(want), "sha256=%s", hex);
    if (!header(head, "X-Ingestd-Signature", got, sizeof(got)) || strcmp(got, want) != 0)
        return bad(r, "X-Ingestd-Signature", got), -1;
    /* Standard Webhooks: key = base64-decoded part after whsec_ */
    if (!header(head, "webhook-id", id, sizeof(id)) ||
        !header(head, "webhook-timestamp", ts, sizeof(ts)))
        return bad(r, "webhook-id/timestamp missing", head), -1;
    if (llabs(strtoll(ts, NULL, 10) - (long long)time(NULL)) > 300)
        return bad(r, "webhook-timestamp not now", ts), -1;
    keylen = EVP_DecodeBlock(key, b64key, (int)strlen((const char *)b64key));
    buf_init(&msg, 0);
    buf_printf(&msg, "%s.%s.", id, ts);
    buf_append(&msg, body, len);
    HMAC(EVP_sha256(), key, keylen, (const unsigned char *)msg.data, msg.len, mac, &maclen);
    buf_release(&msg);
    memcpy(want, "v1,", 3);
    EVP_EncodeBlock((unsigned char *)want + 3, mac, (int)maclen);
    if (!header(head, "webhook-signature", got, sizeof(got)) || strcmp(got, want) != 0)
        return bad(r, "webhook-signature", got), -1;
    /* CloudEvents 1.0, structured */
    ev = json_loadb(body, len, 0, NULL);
    if (!ev || strcmp(jstr(ev, "specversion"), "1.0") != 0 || strcmp(jstr(ev, "id"), id) != 0 ||
        !json_is_string(json_object_get(ev, "source")) ||
        strncmp(jstr(ev, "type"), "io.ingestd.", 11) != 0 ||
        !th_is_ts(json_string_value(json_object_get(ev, "time"))) ||
        strcmp(jstr(ev, "datacontenttype"), "application/json") != 0 ||
        !json_is_object(json_object_get(ev, "data"))) {
        json_decref(ev);
        return bad(r, "not a CloudEvent", body), -1;
    }
    *event = ev;
    return 0;
}

/* Count the attempt of event ev (answered 2xx when ok). Under r->lock. */
static void
record(struct receiver *r, json_t *ev, int ok)
{
    const char *id = json_string_value(json_object_get(ev, "id"));
    struct seen *s = NULL;
    int i;

    for (i = 0; i < r->nseen; i++)
        if (strcmp(r->seen[i].id, id) == 0)
            s = &r->seen[i];
    if (!s && r->nseen < MAX_SEEN) {
        s = &r->seen[r->nseen++];
        snprintf(s->id, sizeof(s->id), "%s", id);
        snprintf(s->type, sizeof(s->type), "%s", json_string_value(json_object_get(ev, "type")));
        snprintf(s->subject, sizeof(s->subject), "%s", jstr(ev, "subject"));
        s->data = json_dumps(json_object_get(ev, "data"), JSON_COMPACT);
    }
    if (!s)
        return;
    s->attempts++;
    s->ok += ok;
}

static void
serve_one(struct receiver *r, int c)
{
    struct timeval tv = {5, 0};
    struct buf b;
    const char *body = NULL;
    size_t len = 0;
    json_t *ev = NULL;
    char answer[128];
    int status;
    int mode = atomic_load(&r->mode);

    setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    buf_init(&b, 0);
    if (read_request(c, &b, &body, &len) != 0) {
        buf_release(&b);
        return;
    }
    if (mode == RECV_DOWN) { /* went down while this connection waited: no answer */
        buf_release(&b);
        return;
    }
    status = mode == RECV_500 ? 500 : mode == RECV_410 ? 410 : 200;
    if (status == 200 && r->delay_ms)
        th_sleep_ms(r->delay_ms);
    pthread_mutex_lock(&r->lock);
    r->requests++;
    if (verify(r, b.data, body, len, &ev) == 0)
        record(r, ev, status == 200);
    pthread_mutex_unlock(&r->lock);
    json_decref(ev);
    snprintf(answer, sizeof(answer),
             "HTTP/1.1 %d X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", status);
    if (write(c, answer, strlen(answer)) < 0)
        perror("receiver write");
    buf_release(&b);
}

static void *
receiver_main(void *arg)
{
    struct receiver *r = arg;

    while (!atomic_load(&r->stop)) {
        int down = atomic_load(&r->mode) == RECV_DOWN;
        struct pollfd p;

        if (down && r->fd >= 0) {
            close(r->fd);
            r->fd = -1;
        }
        if (!down && r->fd < 0)
            r->fd = listen_on(r->port);
        if (r->fd < 0) {
            th_sleep_ms(20);
            continue;
        }
        p.fd = r->fd;
        p.events = POLLIN;
        if (poll(&p, 1, 50) == 1) {
            int c = accept(r->fd, NULL, NULL);

            if (c >= 0) {
                serve_one(r, c);
                close(c);
            }
        }
    }
    if (r->fd >= 0)
        close(r->fd);
    return NULL;
}

static struct receiver *
receiver_start(long delay_ms)
{
    struct receiver *r = calloc(1, sizeof(*r));

    assert_non_null(r);
    r->fd = listen_on(0);
    assert_true(r->fd >= 0);
    r->port = sock_port(r->fd);
    r->delay_ms = delay_ms;
    atomic_store(&r->mode, RECV_OK);
    pthread_mutex_init(&r->lock, NULL);
    assert_int_equal(pthread_create(&r->thread, NULL, receiver_main, r), 0);
    return r;
}

static void
receiver_free(struct receiver *r)
{
    int i;

    if (!r)
        return;
    atomic_store(&r->stop, 1);
    pthread_join(r->thread, NULL);
    for (i = 0; i < r->nseen; i++)
        free(r->seen[i].data);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

/* Events the receiver answered 2xx at least once; *dups those answered 2xx more than once. */
static int
delivered(struct receiver *r, int *dups)
{
    int n = 0;
    int d = 0;
    int i;

    pthread_mutex_lock(&r->lock);
    for (i = 0; i < r->nseen; i++) {
        n += r->seen[i].ok > 0;
        d += r->seen[i].ok > 1;
    }
    pthread_mutex_unlock(&r->lock);
    if (dups)
        *dups = d;
    return n;
}

static int
requests(struct receiver *r)
{
    int n;

    pthread_mutex_lock(&r->lock);
    n = r->requests;
    pthread_mutex_unlock(&r->lock);
    return n;
}

/* Wait until n events were delivered; fails the test after WAIT_MS. */
static void
wait_delivered(struct receiver *r, int n)
{
    long until = th_now_ms() + WAIT_MS;

    while (delivered(r, NULL) < n && th_now_ms() < until)
        th_sleep_ms(20);
    if (delivered(r, NULL) < n)
        fail_msg("%d of %d events delivered after %d ms (%d requests, bad %d: %s)",
                 delivered(r, NULL), n, WAIT_MS, requests(r), r->bad, r->bad_why);
}

/* Every event delivered exactly once, and every request passed the checks. */
static void
assert_once(struct receiver *r, int n)
{
    int dups = 0;

    th_sleep_ms(500); /* a duplicate would come now */
    assert_int_equal(delivered(r, &dups), n);
    assert_int_equal(dups, 0);
    if (r->bad)
        fail_msg("%d requests failed the checks: %s", r->bad, r->bad_why);
}

/* The seen event of type whose subject is subject (borrowed); NULL when none. */
static struct seen *
seen_of(struct receiver *r, const char *type, const char *subject)
{
    int i;

    for (i = 0; i < r->nseen; i++)
        if (strcmp(r->seen[i].type, type) == 0 && strcmp(r->seen[i].subject, subject) == 0)
            return &r->seen[i];
    return NULL;
}

/* ---- ingestd ---------------------------------------------------------------- */

static struct th_ingestd *
start_ingestd(const struct th_pg *pg, const char *urls, const char *const *more)
{
    char *u = th_strf("INGESTD_WEBHOOK_URLS=%s", urls);
    const char *env[16];
    struct th_ingestd *p;
    int k = 0;

    /* the test's own settings first: getenv() takes the first of a name */
    while (more && *more && k < 8)
        env[k++] = *more++;
    env[k++] = u;
    env[k++] = "INGESTD_WEBHOOK_SECRET=" SECRET;
    env[k++] = "INGESTD_WEBHOOK_BACKOFF_MS=50";
    env[k++] = "INGESTD_WEBHOOK_ATTEMPTS=40";
    env[k++] = "INGESTD_WEBHOOK_TIMEOUT_MS=2000";
    env[k++] = "AWS_ENDPOINT_URL=http://127.0.0.1:1";
    env[k++] = "AWS_REGION=us-east-1";
    env[k] = NULL;
    p = th_ingestd_start(th_pg_url(pg), env);
    free(u);
    return p;
}

static char *
hook_url(const struct receiver *r)
{
    return th_strf("http://127.0.0.1:%d/hook", r->port);
}

/* Upload one event of a new key n; then merge through `merge_at`. The merge's id (malloc'd). */
static char *
change(const struct th_ingestd *up, const struct th_ingestd *merge_at, int n)
{
    char *csv =
        th_strf(CSV_HEAD "https://a.example/r%d.git,r%d,main,u,c%d,https://p/r%d\n", n, n, n, n);
    struct th_resp r = th_post_csv(th_ingestd_base(up), "/api/v1/events", csv, NULL);
    json_t *j;
    char *id;

    assert_int_equal(r.status, 201);
    th_resp_release(&r);
    free(csv);
    r = th_request("POST", th_ingestd_base(merge_at), "/api/v1/merges", NULL, NULL, 0);
    assert_int_equal(r.status, 200);
    j = th_resp_json(&r);
    assert_true(json_integer_value(json_object_get(j, "added")) == 1);
    id = strdup(th_jstr(j, "id"));
    json_decref(j);
    th_resp_release(&r);
    return id;
}

/* Wait until `sql` gives want (a count); fails the test after WAIT_MS. */
static void
wait_sql(const struct th_pg *pg, const char *sql, long long want)
{
    long until = th_now_ms() + WAIT_MS;

    while (th_pg_ll(pg, sql) != want && th_now_ms() < until)
        th_sleep_ms(50);
    if (th_pg_ll(pg, sql) != want) {
        char *rows = th_pg_scalar(pg, "SELECT string_agg(format('%s %s attempts=%s status=%s "
                                      "error=%s next_in=%s', url, status, attempts, "
                                      "last_status, last_error, next_attempt_at - "
                                      "clock_timestamp()), E'\\n') FROM webhook_deliveries");

        fail_msg("%s: %lld, want %lld; deliveries:\n%s", sql, th_pg_ll(pg, sql), want,
                 rows ? rows : "none");
    }
}

/* The value of a metric line's start `series` ("name{labels}") in /metrics; 0 when absent. */
static double
metric(const struct th_ingestd *p, const char *series)
{
    struct th_resp r = th_get(th_ingestd_base(p), "/metrics", NULL);
    char *line = th_strf("\n%s", series); /* a sample's line, not its # HELP */
    char *at = strstr(r.body ? r.body : "", line);
    double v = at ? strtod(at + strlen(line), NULL) : 0;

    free(line);

    th_resp_release(&r);
    return v;
}

/* GET path as JSON (200 expected). */
static json_t *
get_json(const struct th_ingestd *p, const char *path)
{
    struct th_resp r = th_get(th_ingestd_base(p), path, NULL);
    json_t *j;

    if (r.status != 200)
        fail_msg("GET %s: %ld %s", path, r.status, r.body ? r.body : "");
    j = th_resp_json(&r);
    th_resp_release(&r);
    return j;
}

/* The event's data equals what GET path answers now. */
static void
assert_data_is(struct seen *s, const struct th_ingestd *p, const char *path)
{
    json_t *api = get_json(p, path);
    json_t *data;

    assert_non_null(s);
    data = json_loads(s->data, 0, NULL);
    if (!json_equal(data, api)) {
        char *a = json_dumps(api, JSON_COMPACT);
        fail_msg("data %s\nis not GET %s: %s", s->data, path, a);
    }
    json_decref(data);
    json_decref(api);
}

/* ---- tests ---------------------------------------------------------------- */

/*
 * Merges and inventory jobs announced with the objects the API shows; the
 * receiver fails (500), then is down (refused), then recovers: every
 * change arrives, once. Dry runs and merges that change nothing are not
 * announced. The list route's filters and pages.
 */
static void
test_retried_none_lost_none_twice(void **state)
{
    struct th_pg *pg = th_pg_start();
    struct receiver *r = receiver_start(0);
    char *url = hook_url(r);
    struct th_ingestd *p = start_ingestd(pg, url, NULL);
    const char *base = th_ingestd_base(p);
    char *ids[4];
    struct th_resp resp;
    json_t *j;
    char *path;
    int i;

    (void)state;
    ids[0] = change(p, p, 0);
    wait_delivered(r, 1);
    path = th_strf("/api/v1/merges/%s", ids[0]);
    assert_data_is(seen_of(r, "io.ingestd.merge.completed", ids[0]), p, path);
    free(path);
    /* a dry run and a merge of nothing change nothing: not announced */
    resp = th_post_json(base, "/api/v1/merges", "{\"dry_run\":true}", NULL);
    assert_int_equal(resp.status, 200);
    th_resp_release(&resp);
    resp = th_request("POST", base, "/api/v1/merges", NULL, NULL, 0);
    assert_int_equal(resp.status, 200);
    th_resp_release(&resp);
    assert_int_equal(
        th_pg_ll(pg, "SELECT count(*) FROM changes WHERE type = 'io.ingestd.merge.completed'"), 1);

    /* failing, then down: attempts are retried, nothing is lost */
    atomic_store(&r->mode, RECV_500);
    ids[1] = change(p, p, 1);
    ids[2] = change(p, p, 2);
    wait_sql(pg,
             "SELECT count(*) FROM webhook_deliveries WHERE attempts >= 2 AND status = "
             "'pending' AND last_status = 500",
             2);
    atomic_store(&r->mode, RECV_DOWN);
    ids[3] = change(p, p, 3);
    /* all three pending, tried twice or more, and refused (no status) */
    wait_sql(pg,
             "SELECT (count(*) = 3 AND bool_and(attempts >= 2) AND count(*) FILTER (WHERE "
             "last_status IS NULL AND last_error LIKE '%127.0.0.1%') >= 1)::int "
             "FROM webhook_deliveries WHERE status = 'pending'",
             1);
    j = get_json(p, "/api/v1/webhooks/deliveries?status=pending");
    assert_int_equal(json_array_size(json_object_get(j, "items")), 3);
    json_decref(j);
    assert_true(metric(p, "ingestd_webhook_deliveries_total{outcome=\"retry\"} ") >= 6);
    assert_true(metric(p, "ingestd_webhook_deliveries_pending ") == 3);
    atomic_store(&r->mode, RECV_OK);
    wait_delivered(r, 4);
    assert_once(r, 4);
    for (i = 1; i < 4; i++) {
        path = th_strf("/api/v1/merges/%s", ids[i]);
        assert_data_is(seen_of(r, "io.ingestd.merge.completed", ids[i]), p, path);
        free(path);
    }
    wait_sql(pg, "SELECT count(*) FROM webhook_deliveries WHERE status = 'delivered'", 4);
    assert_true(metric(p, "ingestd_webhook_deliveries_total{outcome=\"delivered\"} ") == 4);

    /* the list: newest first, paged by `before`, filtered by status; bad input is 400 */
    j = get_json(p, "/api/v1/webhooks/deliveries?limit=3");
    assert_int_equal(json_array_size(json_object_get(j, "items")), 3);
    assert_string_equal(th_jstr(json_array_get(json_object_get(j, "items"), 0), "subject"), ids[3]);
    assert_string_equal(th_jstr(json_array_get(json_object_get(j, "items"), 0), "url"), url);
    path = strdup(th_jstr(j, "next"));
    json_decref(j);
    j = get_json(p, path);
    assert_int_equal(json_array_size(json_object_get(j, "items")), 1);
    assert_true(json_is_null(json_object_get(j, "next")));
    assert_string_equal(th_jstr(json_array_get(json_object_get(j, "items"), 0), "subject"), ids[0]);
    json_decref(j);
    free(path);
    j = get_json(p, "/api/v1/webhooks/deliveries?status=failed");
    assert_int_equal(json_array_size(json_object_get(j, "items")), 0);
    json_decref(j);
    {
        static const char *const bad_lists[] = {
            "/api/v1/webhooks/deliveries?status=lost",
            "/api/v1/webhooks/deliveries?limit=0",
            "/api/v1/webhooks/deliveries?statu=failed",
            "/api/v1/webhooks/deliveries?before=not-a-uuid",
            "/api/v1/webhooks/deliveries?before=00000000-0000-0000-0000-000000000000",
            NULL};

        for (i = 0; bad_lists[i]; i++) {
            resp = th_get(base, bad_lists[i], NULL);
            if (resp.status != 400)
                fail_msg("GET %s: %ld, want 400", bad_lists[i], resp.status);
            th_resp_release(&resp);
        }
    }
    for (i = 0; i < 4; i++)
        free(ids[i]);
    th_ingestd_free(p);
    free(url);
    receiver_free(r);
    th_pg_free(pg);
}

/* An inventory job that succeeds and one that fails are announced with their job objects. */
static void
test_inventory_jobs_announced(void **state)
{
    static const char ok_manifest[] =
        "{\"sourceBucket\":\"src\",\"destinationBucket\":\"arn:aws:s3:::inv-dest\","
        "\"fileFormat\":\"CSV\",\"fileSchema\":\"Bucket, Key\",\"files\":[]}";
    static const char bad_manifest[] =
        "{\"sourceBucket\":\"src2\",\"destinationBucket\":\"arn:aws:s3:::inv-dest\","
        "\"fileFormat\":\"CSV\",\"fileSchema\":\"Bucket, Key\",\"files\":[{\"key\":"
        "\"d/data.csv.gz\",\"size\":10,\"MD5checksum\":\"0123456789abcdef0123456789abcdef\"}]}";
    struct th_pg *pg = th_pg_start();
    struct receiver *r = receiver_start(0);
    char *url = hook_url(r);
    struct th_ingestd *p = start_ingestd(pg, url, NULL);
    const char *base = th_ingestd_base(p);
    struct th_resp resp;
    char *ok_id;
    char *bad_id;
    char *path;
    json_t *j;

    (void)state;
    resp = th_post_json(base, "/api/v1/s3/inventories?wait=true", ok_manifest, NULL);
    assert_int_equal(resp.status, 200);
    j = th_resp_json(&resp);
    ok_id = strdup(th_jstr(j, "id"));
    json_decref(j);
    th_resp_release(&resp);
    /* S3 refuses (AWS_ENDPOINT_URL port 1): the job fails */
    resp = th_post_json(base, "/api/v1/s3/inventories?wait=true", bad_manifest, NULL);
    assert_int_equal(resp.status, 502);
    th_resp_release(&resp);
    bad_id = th_pg_scalar(pg, "SELECT id FROM inventory_jobs WHERE status = 'failed'");
    assert_non_null(bad_id);
    wait_delivered(r, 2);
    assert_once(r, 2);
    path = th_strf("/api/v1/s3/inventories/%s", ok_id);
    assert_data_is(seen_of(r, "io.ingestd.inventory.succeeded", ok_id), p, path);
    free(path);
    path = th_strf("/api/v1/s3/inventories/%s", bad_id);
    assert_data_is(seen_of(r, "io.ingestd.inventory.failed", bad_id), p, path);
    free(path);
    free(ok_id);
    free(bad_id);
    th_ingestd_free(p);
    free(url);
    receiver_free(r);
    th_pg_free(pg);
}

/* 410 stops a delivery at once; the retry route sends it again; bad ids and states. */
static void
test_gone_and_retry(void **state)
{
    struct th_pg *pg = th_pg_start();
    struct receiver *r = receiver_start(0);
    char *url = hook_url(r);
    struct th_ingestd *p = start_ingestd(pg, url, NULL);
    const char *base = th_ingestd_base(p);
    struct th_resp resp;
    char *merge;
    char *id;
    char *path;
    json_t *j;

    (void)state;
    atomic_store(&r->mode, RECV_410);
    merge = change(p, p, 0);
    wait_sql(pg,
             "SELECT count(*) FROM webhook_deliveries WHERE status = 'gone' AND attempts = 1 "
             "AND last_status = 410",
             1);
    th_sleep_ms(500);
    assert_int_equal(requests(r), 1); /* never again */
    assert_int_equal(delivered(r, NULL), 0);
    assert_true(metric(p, "ingestd_webhook_deliveries_total{outcome=\"gone\"} ") == 1);
    id = th_pg_scalar(pg, "SELECT id FROM webhook_deliveries");
    atomic_store(&r->mode, RECV_OK);
    path = th_strf("/api/v1/webhooks/deliveries/%s/retry", id);
    resp = th_request("POST", base, path, NULL, NULL, 0);
    assert_int_equal(resp.status, 200);
    j = th_resp_json(&resp);
    assert_string_equal(th_jstr(j, "status"), "pending");
    assert_int_equal(th_jint(j, "attempts"), 0);
    json_decref(j);
    th_resp_release(&resp);
    wait_delivered(r, 1);
    assert_once(r, 1);
    wait_sql(pg, "SELECT count(*) FROM webhook_deliveries WHERE status = 'delivered'", 1);
    /* delivered: 409; unknown: 404; not a UUID: 404 */
    resp = th_request("POST", base, path, NULL, NULL, 0);
    assert_int_equal(resp.status, 409);
    th_resp_release(&resp);
    resp = th_request("POST", base,
                      "/api/v1/webhooks/deliveries/00000000-0000-0000-0000-000000000000/retry",
                      NULL, NULL, 0);
    assert_int_equal(resp.status, 404);
    th_resp_release(&resp);
    resp = th_request("POST", base, "/api/v1/webhooks/deliveries/x'--/retry", NULL, NULL, 0);
    assert_int_equal(resp.status, 404);
    th_resp_release(&resp);
    resp = th_request("GET", base, path, NULL, NULL, 0);
    assert_int_equal(resp.status, 405);
    th_resp_release(&resp);
    resp = th_request("POST", base, path, NULL, "{}", 2); /* takes no body */
    assert_int_equal(resp.status, 400);
    th_resp_release(&resp);
    free(path);
    free(id);
    free(merge);
    th_ingestd_free(p);
    free(url);
    receiver_free(r);
    th_pg_free(pg);
}

/* A merge whose COMMIT fails, after its change was journaled, announces nothing. */
static void
test_rolled_back_merge_announces_nothing(void **state)
{
    struct th_pg *pg = th_pg_start();
    struct receiver *r = receiver_start(0);
    char *url = hook_url(r);
    struct th_ingestd *p = start_ingestd(pg, url, NULL);
    const char *base = th_ingestd_base(p);
    struct th_resp resp;
    char *id;

    (void)state;
    /* fails every transaction that changed the effective file, at its COMMIT */
    PQclear(th_pg_exec(pg, "CREATE FUNCTION fail_at_commit() RETURNS trigger LANGUAGE plpgsql "
                           "AS $$BEGIN RAISE EXCEPTION 'injected failure at commit'; END$$"));
    PQclear(th_pg_exec(pg, "CREATE CONSTRAINT TRIGGER fail_at_commit AFTER UPDATE ON "
                           "effective_meta DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE "
                           "FUNCTION fail_at_commit()"));
    resp = th_post_csv(base, "/api/v1/events",
                       CSV_HEAD "https://a.example/f.git,f,main,u,c1,https://p/f\n", NULL);
    assert_int_equal(resp.status, 201);
    th_resp_release(&resp);
    resp = th_request("POST", base, "/api/v1/merges", NULL, NULL, 0);
    assert_true(resp.status >= 500);
    th_resp_release(&resp);
    th_sleep_ms(1000);
    assert_int_equal(requests(r), 0);
    assert_int_equal(
        th_pg_ll(pg, "SELECT count(*) FROM changes WHERE type = 'io.ingestd.merge.completed'"), 0);
    assert_int_equal(th_pg_ll(pg, "SELECT count(*) FROM webhook_deliveries"), 0);
    assert_int_equal(th_pg_ll(pg, "SELECT count(*) FROM merges"), 0);
    /* without the failure the same merge commits and is announced, once */
    PQclear(th_pg_exec(pg, "DROP TRIGGER fail_at_commit ON effective_meta"));
    resp = th_request("POST", base, "/api/v1/merges", NULL, NULL, 0);
    assert_int_equal(resp.status, 200);
    th_resp_release(&resp);
    wait_delivered(r, 1);
    assert_once(r, 1);
    id = th_pg_scalar(pg, "SELECT id FROM merges");
    assert_non_null(seen_of(r, "io.ingestd.merge.completed", id));
    free(id);
    th_ingestd_free(p);
    free(url);
    receiver_free(r);
    th_pg_free(pg);
}

/* kill -9 after the merge committed, before its delivery got through: delivered once after. */
static void
test_kill9_between_commit_and_delivery(void **state)
{
    struct th_pg *pg = th_pg_start();
    struct receiver *r = receiver_start(0);
    char *url = hook_url(r);
    struct th_ingestd *p = start_ingestd(pg, url, NULL);
    char *merge;

    (void)state;
    atomic_store(&r->mode, RECV_DOWN);
    merge = change(p, p, 0);
    /* committed, tried, still pending */
    wait_sql(pg,
             "SELECT count(*) FROM webhook_deliveries WHERE status = 'pending' AND "
             "attempts >= 1",
             1);
    th_ingestd_kill9(p);
    atomic_store(&r->mode, RECV_OK);
    th_ingestd_restart(p);
    wait_delivered(r, 1);
    assert_once(r, 1);
    assert_non_null(seen_of(r, "io.ingestd.merge.completed", merge));
    wait_sql(pg, "SELECT count(*) FROM webhook_deliveries WHERE status = 'delivered'", 1);
    free(merge);
    th_ingestd_free(p);
    free(url);
    receiver_free(r);
    th_pg_free(pg);
}

/* Two replicas on one database, both sending: each change is delivered once, by one of them. */
static void
test_two_replicas_deliver_once(void **state)
{
    enum { CHANGES = 16 };
    struct th_pg *pg = th_pg_start();
    struct receiver *r = receiver_start(40); /* slow answers widen any race */
    char *url = hook_url(r);
    struct th_ingestd *a = start_ingestd(pg, url, NULL);
    struct th_ingestd *b = start_ingestd(pg, url, NULL);
    int i;

    (void)state;
    for (i = 0; i < CHANGES; i++)
        free(change(i % 2 ? a : b, i % 3 ? b : a, i));
    wait_delivered(r, CHANGES);
    assert_once(r, CHANGES);
    assert_int_equal(requests(r), CHANGES); /* not one attempt more */
    wait_sql(pg,
             "SELECT count(*) FROM webhook_deliveries WHERE status = 'delivered' AND "
             "attempts = 1",
             CHANGES);
    assert_true(metric(a, "ingestd_webhook_deliveries_total{outcome=\"delivered\"} ") +
                    metric(b, "ingestd_webhook_deliveries_total{outcome=\"delivered\"} ") ==
                CHANGES);
    th_ingestd_free(a);
    th_ingestd_free(b);
    free(url);
    receiver_free(r);
    th_pg_free(pg);
}

/*
 * A receiver that accepts and never answers (the attempt's timeout) and one
 * that refuses: log lines and metrics, failed after the last attempt; the
 * merges take no longer, the working receiver gets its delivery.
 */
static void
test_hanging_and_unreachable(void **state)
{
    struct th_pg *pg = th_pg_start();
    struct receiver *r = receiver_start(0);
    int hang = listen_on(0); /* never accepted: the kernel completes the handshake */
    int gone = listen_on(0);
    int gone_port = sock_port(gone);
    char *urls;
    const char *const more[] = {"INGESTD_WEBHOOK_TIMEOUT_MS=500", "INGESTD_WEBHOOK_ATTEMPTS=2",
                                NULL};
    struct th_ingestd *p;
    long t0;
    char *merge;
    char *log;
    char *err;

    (void)state;
    close(gone); /* nothing listens there now: connection refused */
    urls = th_strf("http://127.0.0.1:%d/hang?token=t0ps3cr3t,http://127.0.0.1:%d/x, "
                   "http://127.0.0.1:%d/hook",
                   sock_port(hang), gone_port, r->port);
    p = start_ingestd(pg, urls, more);
    t0 = th_now_ms();
    merge = change(p, p, 0);
    assert_true(th_now_ms() - t0 < 1500); /* the upload and the merge do not wait for receivers */
    wait_delivered(r, 1);
    wait_sql(pg, "SELECT count(*) FROM webhook_deliveries WHERE status = 'failed' AND attempts = 2",
             2);
    err = th_pg_scalar(pg, "SELECT last_error FROM webhook_deliveries WHERE url LIKE '%/hang%'");
    assert_non_null(strstr(err, "timeout after 500 ms"));
    assert_null(strstr(err, "t0ps3cr3t"));
    free(err);
    assert_int_equal(th_pg_ll(pg, "SELECT count(*) FROM webhook_deliveries WHERE status = 'failed' "
                                  "AND last_status IS NULL"),
                     2);
    assert_true(metric(p, "ingestd_webhook_deliveries_total{outcome=\"failed\"} ") == 2);
    assert_true(metric(p, "ingestd_webhook_deliveries_total{outcome=\"retry\"} ") == 2);
    /* the next merge is as quick */
    t0 = th_now_ms();
    free(change(p, p, 1));
    assert_true(th_now_ms() - t0 < 1500);
    wait_delivered(r, 2);
    assert_once(r, 2);
    log = th_read_file(th_ingestd_log(p), NULL);
    assert_non_null(strstr(log, "\"msg\":\"webhook delivery failed\""));
    assert_non_null(strstr(log, "\"msg\":\"webhook attempt failed, retrying\""));
    {
        char *target = th_strf("\"target\":\"http://127.0.0.1:%d\"", gone_port);

        assert_non_null(strstr(log, target));
        free(target);
    }
    assert_null(strstr(log, "t0ps3cr3t"));
    assert_null(strstr(log, "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"));
    assert_null(strstr(log, "/hang"));
    free(log);
    free(merge);
    th_ingestd_free(p);
    close(hang);
    free(urls);
    receiver_free(r);
    th_pg_free(pg);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_retried_none_lost_none_twice),
        cmocka_unit_test(test_inventory_jobs_announced),
        cmocka_unit_test(test_gone_and_retry),
        cmocka_unit_test(test_rolled_back_merge_announces_nothing),
        cmocka_unit_test(test_kill9_between_commit_and_delivery),
        cmocka_unit_test(test_two_replicas_deliver_once),
        cmocka_unit_test(test_hanging_and_unreachable),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
