/*
 * test_webhook.c - webhook signing, the CloudEvent body, and the retry schedule
 *
 * The expected signatures were computed apart from this code, with the
 * openssl command line (the commands are beside each value), and one is the
 * published example of the Standard Webhooks specification. The body is
 * pinned byte for byte: every attempt of a change must sign the same bytes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <string.h>

#include "clients/webhook.h"
#include "jobs/outbox.h"

#define EV_ID "0f6f5c1e-6a9b-4b8f-9a53-2b1d2f3c4d5e"
#define BODY                                                                                       \
    "{\"specversion\":\"1.0\",\"id\":\"" EV_ID "\",\"source\":\"/api/v1/merges\","                 \
    "\"type\":\"io.ingestd.merge.completed\",\"subject\":\"7c0a4d2e-1b2c-4d3e-8f4a-"               \
    "5b6c7d8e9f00\",\"time\":\"2026-12-06T23:21:49.024Z\",\"datacontenttype\":"                    \
    "\"application/json\",\"data\":{\"added\":5}}"

static void
test_body_is_pinned(void **state)
{
    struct webhook_event ev = {EV_ID,
                               "/api/v1/merges",
                               "io.ingestd.merge.completed",
                               "7c0a4d2e-1b2c-4d3e-8f4a-5b6c7d8e9f00",
                               "2026-12-06T23:21:49.024Z",
                               "{\"added\": 5}"};
    struct buf out;
    char errbuf[ERRBUF_SIZE];

    (void)state;
    buf_init(&out, 0);
    assert_int_equal(webhook_event_body(&ev, &out, errbuf, sizeof(errbuf)), ERR_OK);
    assert_string_equal(out.data, BODY);
    /* no subject: the member is absent, not null */
    buf_reset(&out);
    ev.subject = NULL;
    assert_int_equal(webhook_event_body(&ev, &out, errbuf, sizeof(errbuf)), ERR_OK);
    assert_null(strstr(out.data, "subject"));
    /* stored data that is not JSON is an internal error, never a half body */
    buf_reset(&out);
    ev.data = "{broken";
    assert_int_equal(webhook_event_body(&ev, &out, errbuf, sizeof(errbuf)), ERR_INTERNAL);
    assert_int_equal(out.len, 0);
    buf_release(&out);
}

static void
test_ingestd_signature(void **state)
{
    struct webhook_signer s;
    char errbuf[ERRBUF_SIZE];
    char sig[WEBHOOK_SIG_HEX_LEN + 1];

    (void)state;
    assert_int_equal(webhook_signer_init(&s, "it-is-a-secret", errbuf, sizeof(errbuf)), ERR_OK);
    /* printf '%s' "$BODY" | openssl dgst -sha256 -hmac 'it-is-a-secret' */
    webhook_sign_ingestd(&s, BODY, strlen(BODY), sig);
    assert_string_equal(sig,
                        "sha256=1b6a98f2fd0398d76270e5a0e01c232d153cad11af568157bf3fcd60c7e1d818");
    /* printf 'hello' | openssl dgst -sha256 -hmac 's3cret' */
    webhook_signer_release(&s);
    assert_int_equal(webhook_signer_init(&s, "s3cret", errbuf, sizeof(errbuf)), ERR_OK);
    webhook_sign_ingestd(&s, "hello", 5, sig);
    assert_string_equal(sig,
                        "sha256=e5a01537481fa0b2c697f787c7aff885412cf0760d08e08502259b39d2d6ae68");
    webhook_signer_release(&s);
}

static void
test_standard_signature_plain_secret(void **state)
{
    struct webhook_signer s;
    char errbuf[ERRBUF_SIZE];
    char sig[WEBHOOK_SIG_STD_LEN + 1];

    (void)state;
    assert_int_equal(webhook_signer_init(&s, "it-is-a-secret", errbuf, sizeof(errbuf)), ERR_OK);
    /* printf '%s' "$ID.1765063309.$BODY" | openssl dgst -sha256 -hmac 'it-is-a-secret' -binary
     * | base64 */
    webhook_sign_standard(&s, EV_ID, 1765063309LL, BODY, strlen(BODY), sig);
    assert_string_equal(sig, "v1,h6mJYLRm64TvkQBB9CTZjCHuFvSQn2HSgbsfM6NCEd0=");
    /* printf 'msg_1.1700000000.hello' | openssl dgst -sha256 -hmac 's3cret' -binary | base64 */
    webhook_signer_release(&s);
    assert_int_equal(webhook_signer_init(&s, "s3cret", errbuf, sizeof(errbuf)), ERR_OK);
    webhook_sign_standard(&s, "msg_1", 1700000000LL, "hello", 5, sig);
    assert_string_equal(sig, "v1,/XRJWV2dkd7YlFCf+7id2umVfsPKyGzOUZe4xj6Lb4s=");
    webhook_signer_release(&s);
}

static void
test_standard_signature_whsec(void **state)
{
    static const char payload[] = "{\"test\": 2432232314}";
    struct webhook_signer s;
    struct webhook_signer plain;
    char errbuf[ERRBUF_SIZE];
    char sig[WEBHOOK_SIG_STD_LEN + 1];
    char sig2[WEBHOOK_SIG_STD_LEN + 1];
    char hex[WEBHOOK_SIG_HEX_LEN + 1];

    (void)state;
    /* the Standard Webhooks specification's example (also: openssl dgst -sha256 -mac HMAC
     * -macopt hexkey:31f290f6bf06298aab4f08d43c3f082cf648a362da2da4b0 -binary | base64) */
    assert_int_equal(
        webhook_signer_init(&s, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", errbuf, sizeof(errbuf)),
        ERR_OK);
    webhook_sign_standard(&s, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330LL, payload,
                          strlen(payload), sig);
    assert_string_equal(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    /* X-Ingestd-Signature keys with the secret as configured, prefix and all */
    assert_int_equal(s.secret.len, strlen("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"));
    webhook_sign_ingestd(&s, payload, strlen(payload), hex);
    assert_int_equal(strlen(hex), WEBHOOK_SIG_HEX_LEN);
    webhook_signer_release(&s);
    /* padding: whsec_YWJjZA== is the key "abcd" (4 bytes, not 6) */
    assert_int_equal(webhook_signer_init(&s, "whsec_YWJjZA==", errbuf, sizeof(errbuf)), ERR_OK);
    assert_int_equal(webhook_signer_init(&plain, "abcd", errbuf, sizeof(errbuf)), ERR_OK);
    assert_int_equal(s.std_key.len, 4);
    webhook_sign_standard(&s, "m", 1, "x", 1, sig);
    webhook_sign_standard(&plain, "m", 1, "x", 1, sig2);
    assert_string_equal(sig, sig2);
    webhook_signer_release(&s);
    webhook_signer_release(&plain);
}

static void
test_bad_secrets(void **state)
{
    static const char *const bad[] = {"",           "whsec_",     "whsec_!!!!", "whsec_abc",
                                      "whsec_a=bc", "whsec_====", "whsec_YQ=",  NULL};
    struct webhook_signer s;
    char errbuf[ERRBUF_SIZE];
    size_t i;

    (void)state;
    for (i = 0; bad[i]; i++) {
        errbuf[0] = '\0';
        assert_int_equal(webhook_signer_init(&s, bad[i], errbuf, sizeof(errbuf)), ERR_BAD_INPUT);
        assert_true(errbuf[0] != '\0');
        /* the message never holds the secret */
        if (strlen(bad[i]) > 6)
            assert_null(strstr(errbuf, bad[i] + 6));
    }
    assert_int_equal(webhook_signer_init(&s, NULL, errbuf, sizeof(errbuf)), ERR_BAD_INPUT);
}

static void
test_backoff_schedule(void **state)
{
    long long total_min = 0;
    int k;

    (void)state;
    /* equal jitter: half fixed, half scaled */
    assert_int_equal(outbox_backoff_ms(10000, 1, 0.0), 5000);
    assert_int_equal(outbox_backoff_ms(10000, 1, 1.0), 10000);
    assert_int_equal(outbox_backoff_ms(10000, 3, 0.0), 20000);
    assert_int_equal(outbox_backoff_ms(10000, 3, 1.0), 40000);
    assert_int_equal(outbox_backoff_ms(100, 2, 0.5), 150);
    /* capped, and no overflow however many attempts */
    assert_int_equal(outbox_backoff_ms(10000, 1000, 1.0), OUTBOX_MAX_DELAY_MS);
    assert_int_equal(outbox_backoff_ms(3600000, 64, 1.0), OUTBOX_MAX_DELAY_MS);
    /* jitter outside [0, 1] is clamped */
    assert_int_equal(outbox_backoff_ms(1000, 1, -3.0), 500);
    assert_int_equal(outbox_backoff_ms(1000, 1, 7.0), 1000);
    /* the defaults (12 attempts, 10 s): even with the least jitter, >= 1 hour of retrying */
    for (k = 1; k < 12; k++)
        total_min += outbox_backoff_ms(10000, k, 0.0);
    assert_true(total_min >= 3600LL * 1000);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_body_is_pinned),
        cmocka_unit_test(test_ingestd_signature),
        cmocka_unit_test(test_standard_signature_plain_secret),
        cmocka_unit_test(test_standard_signature_whsec),
        cmocka_unit_test(test_bad_secrets),
        cmocka_unit_test(test_backoff_schedule),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
