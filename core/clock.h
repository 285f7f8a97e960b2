/*
 * clock.h - time for durations and for timestamps, and sleeping
 *
 * Durations and deadlines use the monotonic clock (clock_mono_ms), which
 * never jumps; wall-clock times that are stored or shown use the realtime
 * clock (clock_real_ms). Thread-safe.
 */
#ifndef INGESTD_CLOCK_H
#define INGESTD_CLOCK_H

#include <time.h>

/* Milliseconds on the monotonic clock (arbitrary origin): for durations only. */
long long clock_mono_ms(void);
/* Milliseconds since the Unix epoch (realtime clock): for timestamps. */
long long clock_real_ms(void);
/* Sleep ms milliseconds (ms <= 0 returns at once); resumes after signals. */
void clock_sleep_ms(long ms);
/*
 * The CLOCK_REALTIME time ms milliseconds from now, for
 * pthread_cond_timedwait() on a condition variable with the default clock.
 */
struct timespec clock_deadline_ms(long ms);

#endif
