/*
 * tail.h - `ingestd tail`: follow the journal of changes of a running server
 */
#ifndef INGESTD_TAIL_H
#define INGESTD_TAIL_H

/*
 * Run `ingestd tail [--url URL] [--type T]... [--after ID] [--json]
 * [--count N]` (argv[0] is "tail"): long-poll GET /api/v1/feed?format=json
 * and print one line per change (--json: the change as compact JSON; else
 * "id time type subject"), resuming from the last cursor after any error.
 * The token comes from INGESTD_TOKEN. Runs until killed, or until N lines
 * (--count). Exit status 0 after --count, 2 for bad usage or a 4xx answer.
 */
int tail_main(int argc, char **argv);

#endif
