/*
 * sqs_response.c - Amazon SQS answers in the AWS JSON 1.0 protocol (pure)
 *
 * Each document is parsed once with jansson (no NUL in strings) and checked
 * member by member; strings are copied out (xstrndup) only after the whole
 * message checked out, so a rejected answer owns nothing. Texts that come
 * from the server and end up in messages (codes, failure messages) keep
 * printable ASCII only: anything else becomes '?'.
 *
 * Pure: no I/O, no globals. Thread-safety: none needed.
 */
#include "codec/sqs_response.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"

/* Copy src (n bytes) into dst (size dstlen) as printable ASCII, cut to fit. */
static void
copy_printable(char *dst, size_t dstlen, const char *src, size_t n)
{
    size_t i;

    if (dstlen == 0)
        return;
    if (n > dstlen - 1)
        n = dstlen - 1;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)src[i];

        dst[i] = c >= 0x20 && c < 0x7F ? (char)c : '?';
    }
    dst[n] = '\0';
}

static json_t *
load(const char *doc, size_t len, char *errbuf, size_t errlen)
{
    json_error_t jerr;
    json_t *root = json_loadb(doc ? doc : "", len, 0, &jerr);

    if (!root) {
        err_set(ERR_BAD_INPUT, errbuf, errlen, "invalid json at line %d column %d: %s", jerr.line,
                jerr.column, jerr.text);
        return NULL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        err_set(ERR_BAD_INPUT, errbuf, errlen, "not a json object");
        return NULL;
    }
    return root;
}

/* A string member of at most max bytes, non-empty; NULL otherwise. */
static json_t *
short_string(json_t *obj, const char *name, size_t max)
{
    json_t *s = json_object_get(obj, name);

    if (!json_is_string(s) || json_string_length(s) == 0 || json_string_length(s) > max)
        return NULL;
    return s;
}

/* Attributes.ApproximateReceiveCount ("3", as SQS sends it, or 3); 0 when absent or odd. */
static long
receive_count(json_t *msg)
{
    json_t *v = json_object_get(json_object_get(msg, "Attributes"), "ApproximateReceiveCount");
    const char *s;
    char *end = NULL;
    long n;

    if (json_is_integer(v))
        return json_integer_value(v) > 0 && json_integer_value(v) < 1000000000
                   ? (long)json_integer_value(v)
                   : 0;
    s = json_string_value(v);
    if (!s)
        return 0;
    n = strtol(s, &end, 10);
    return end != s && *end == '\0' && n > 0 && n < 1000000000 ? n : 0;
}

/* Check message i of a receive answer and copy it into m. */
static enum err
take_message(json_t *msg, size_t i, struct sqs_message *m, char *errbuf, size_t errlen)
{
    json_t *id, *handle, *body;

    if (!json_is_object(msg))
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "message %zu is not an object", i);
    id = short_string(msg, "MessageId", SQS_MESSAGE_ID_MAX);
    handle = short_string(msg, "ReceiptHandle", SQS_RECEIPT_MAX);
    body = json_object_get(msg, "Body");
    if (!id)
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "message %zu: no usable MessageId", i);
    if (!handle)
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "message %zu: no usable ReceiptHandle", i);
    if (!json_is_string(body))
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "message %zu: Body is not a string", i);
    m->message_id = xstrndup(json_string_value(id), json_string_length(id));
    m->receipt_handle = xstrndup(json_string_value(handle), json_string_length(handle));
    m->body_len = json_string_length(body);
    m->body = xstrndup(json_string_value(body), m->body_len);
    m->receive_count = receive_count(msg);
    return ERR_OK;
}

enum err
sqs_response_receive(const char *doc, size_t len, size_t max_messages, struct sqs_receive *out,
                     char *errbuf, size_t errlen)
{
    json_t *root, *messages;
    enum err rc = ERR_OK;
    size_t i;

    memset(out, 0, sizeof(*out));
    if (max_messages > SQS_MAX_BATCH)
        max_messages = SQS_MAX_BATCH;
    root = load(doc, len, errbuf, errlen);
    if (!root)
        return ERR_BAD_INPUT;
    messages = json_object_get(root, "Messages");
    if (!messages || json_is_null(messages))
        goto out;
    if (!json_is_array(messages)) {
        rc = err_set(ERR_BAD_INPUT, errbuf, errlen, "Messages is not an array");
        goto out;
    }
    if (json_array_size(messages) > max_messages) {
        rc = err_set(ERR_BAD_INPUT, errbuf, errlen, "%zu messages, at most %zu asked for",
                     json_array_size(messages), max_messages);
        goto out;
    }
    for (i = 0; i < json_array_size(messages); i++) {
        rc = take_message(json_array_get(messages, i), i, &out->messages[i], errbuf, errlen);
        if (rc)
            goto out;
        out->n = i + 1;
    }
out:
    json_decref(root);
    if (rc)
        sqs_receive_release(out);
    return rc;
}

void
sqs_receive_release(struct sqs_receive *r)
{
    size_t i;

    if (!r)
        return;
    for (i = 0; i < r->n; i++) {
        free(r->messages[i].message_id);
        free(r->messages[i].receipt_handle);
        free(r->messages[i].body);
    }
    memset(r, 0, sizeof(*r));
}

/* The index of an entry id "0".."n-1" (n <= 10: one digit), or -1. */
static int
entry_index(json_t *entry, size_t n)
{
    const char *id = json_string_value(json_object_get(entry, "Id"));

    if (!id || id[0] < '0' || id[0] > '9' || id[1] != '\0' || (size_t)(id[0] - '0') >= n)
        return -1;
    return id[0] - '0';
}

/* "Code: message" of a Failed entry into out. */
static void
failure_text(json_t *entry, char *out, size_t outlen)
{
    const char *code = json_string_value(json_object_get(entry, "Code"));
    const char *msg = json_string_value(json_object_get(entry, "Message"));
    char text[SQS_FAILURE_TEXT_MAX];

    snprintf(text, sizeof(text), "%s: %s", code ? code : "(no code)", msg ? msg : "");
    copy_printable(out, outlen, text, strlen(text));
}

/* Mark the entries of list (Successful: failed_list 0; Failed: 1) in out. */
static enum err
mark_entries(json_t *list, int failed_list, struct sqs_batch_result *out, char *errbuf,
             size_t errlen)
{
    const char *name = failed_list ? "Failed" : "Successful";
    json_t *entry;
    size_t i;
    int idx;

    if (!list || json_is_null(list))
        return ERR_OK;
    if (!json_is_array(list))
        return err_set(ERR_BAD_INPUT, errbuf, errlen, "%s is not an array", name);
    json_array_foreach(list, i, entry)
    {
        idx = entry_index(entry, out->n);
        if (idx < 0)
            return err_set(ERR_BAD_INPUT, errbuf, errlen, "%s[%zu]: not an id of the request", name,
                           i);
        if (out->ok[idx] || out->failed[idx])
            return err_set(ERR_BAD_INPUT, errbuf, errlen, "entry %d listed twice", idx);
        if (!failed_list) {
            out->ok[idx] = 1;
            continue;
        }
        out->failed[idx] = 1;
        if (out->nfailed++ == 0)
            failure_text(entry, out->first_failure, sizeof(out->first_failure));
    }
    return ERR_OK;
}

enum err
sqs_response_batch(const char *doc, size_t len, size_t n, struct sqs_batch_result *out,
                   char *errbuf, size_t errlen)
{
    json_t *root;
    enum err rc;

    memset(out, 0, sizeof(*out));
    out->n = n > SQS_MAX_BATCH ? SQS_MAX_BATCH : n;
    root = load(doc, len, errbuf, errlen);
    if (!root)
        return ERR_BAD_INPUT;
    rc = mark_entries(json_object_get(root, "Successful"), 0, out, errbuf, errlen);
    if (!rc)
        rc = mark_entries(json_object_get(root, "Failed"), 1, out, errbuf, errlen);
    json_decref(root);
    if (rc) {
        memset(out, 0, sizeof(*out));
        out->n = n > SQS_MAX_BATCH ? SQS_MAX_BATCH : n;
    }
    return rc;
}

/* The first string member among names, or NULL. */
static json_t *
first_string(json_t *obj, const char *a, const char *b)
{
    json_t *v = json_object_get(obj, a);

    return json_is_string(v)
               ? v
               : (json_is_string(json_object_get(obj, b)) ? json_object_get(obj, b) : NULL);
}

int
sqs_response_error(const char *doc, size_t len, char *code, size_t codelen, char *message,
                   size_t msglen)
{
    json_t *root, *type, *msg;
    const char *t, *hash;
    int rc = -1;

    if (codelen)
        code[0] = '\0';
    if (msglen)
        message[0] = '\0';
    root = load(doc, len, NULL, 0);
    if (!root)
        return -1;
    type = first_string(root, "__type", "code");
    msg = first_string(root, "message", "Message");
    if (type) {
        t = json_string_value(type);
        hash = strrchr(t, '#');
        if (hash)
            t = hash + 1;
        copy_printable(code, codelen, t, strlen(t));
        rc = 0;
    }
    if (msg) {
        copy_printable(message, msglen, json_string_value(msg), json_string_length(msg));
        rc = 0;
    }
    json_decref(root);
    return rc;
}
