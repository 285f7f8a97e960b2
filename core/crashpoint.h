/*
 * crashpoint.h - named points where a test makes the process die at once
 *
 * Crash tests need ingestd to die exactly between two steps (say, after an
 * import's commit and before its file is moved), as kill -9 could make it
 * die there. Code marks such a step with crashpoint("import.after_commit");
 * INGESTD_TEST_CRASH_AT=<name> (read by config.c, armed by main before any
 * thread starts) makes that call log one line and SIGKILL the process. A
 * point that is not armed costs one load and compare. Names are
 * "<module>.<step>"; every point in use is listed in core/README.md.
 *
 * Thread-safety: crashpoint_arm() once, from main, before threads start;
 * crashpoint() from any thread afterwards.
 */
#ifndef INGESTD_CRASHPOINT_H
#define INGESTD_CRASHPOINT_H

/* Arm the point called `name` (copied; NULL or "" arms none). */
void crashpoint_arm(const char *name);
/* When `name` is armed: log "crash point <name>" and SIGKILL this process; else nothing. */
void crashpoint(const char *name);

#endif
