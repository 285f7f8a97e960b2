/*
 * harness_browser.h - a real headless Chromium for the integration tests (prefix th_browser_)
 *
 * th_browser_start() runs Debian's `chromium --headless` with a new profile
 * in a temp dir and drives it over the DevTools protocol on a pipe
 * (--remote-debugging-pipe: JSON messages separated by NUL bytes on file
 * descriptors 3 and 4), so no port, no WebSocket and no npm package is
 * involved. th_browser_load() navigates one tab and waits for the load
 * event, recording what a person would see in the browser's console:
 *
 *   problems  console API calls of any level (the pages under test run no
 *             script, so any call is unexpected), uncaught exceptions, log
 *             entries of level warning or error (Content-Security-Policy
 *             violations, failed resource loads, ...), network requests that
 *             failed, and responses with a status of 400 or more;
 *   requests  every URL the page requested (to check that nothing came from
 *             elsewhere).
 *
 * The chromium binary is $CHROMIUM, else /usr/bin/chromium; when there is
 * none the current test fails (./dev.sh test installs the Debian package).
 * Failure policy as in harness.h: what makes the test unable to go on fails
 * it (fail_msg). One browser per test at a time, used from its thread only.
 */
#ifndef INGESTD_TEST_HARNESS_BROWSER_H
#define INGESTD_TEST_HARNESS_BROWSER_H

#include <jansson.h>

struct th_browser;

/* What one page load showed. Release with th_page_release. */
struct th_page {
    long status;      /* HTTP status of the document, 0 when it had none (data: URLs) */
    json_t *problems; /* array of strings, one per problem, empty when none */
    json_t *requests; /* array of the URLs requested, the document first */
    json_t *notes;    /* array of log entries of level verbose/info (not problems) */
};

/* Start chromium and open one tab; fails the test when chromium is missing or does not answer. */
struct th_browser *th_browser_start(void);
/*
 * Navigate the tab to url and wait (up to 30 s) for its load event, then
 * 300 ms more for late console messages. Fills *out (always).
 */
void th_browser_load(struct th_browser *b, const char *url, struct th_page *out);
/*
 * Evaluate a JavaScript expression in the loaded page (DevTools' own
 * evaluation: the page's Content-Security-Policy does not apply) and return
 * its value as JSON (caller json_decref()s); fails the test when it throws.
 */
json_t *th_browser_eval(struct th_browser *b, const char *expression);
/* th_browser_eval of an expression that yields a string, as a malloc'd copy; fails otherwise. */
char *th_browser_eval_str(struct th_browser *b, const char *expression);
/* Write a PNG screenshot of the viewport (1280x900) to path; fails the test on error. */
void th_browser_screenshot(struct th_browser *b, const char *path);
/* Close the browser (SIGKILL to its process group after 10 s), remove its temp dir; NULL-safe. */
void th_browser_free(struct th_browser *b);

/* All problems on one line each, for a failure message (malloc'd). */
char *th_page_problems_text(const struct th_page *p);
void th_page_release(struct th_page *p);

#endif
