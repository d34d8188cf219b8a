/*
 * deadline.h — absolute deadlines for pthread_cond_timedwait on CLOCK_MONOTONIC (the
 * condition variables of channels, exchanges and jobs are created with that clock, so a
 * wall-clock jump cannot end a wait early), and the monotonic clock in milliseconds for
 * the durations the worker measures.
 */
#ifndef WR_DEADLINE_H
#define WR_DEADLINE_H

#include <stdint.h>
#include <time.h>

/* *ts = now (monotonic) + ms. */
static inline void wr_deadline_after(struct timespec *ts, int64_t ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (ms % 1000) * 1000000;
    if (ts->tv_nsec >= 1000000000) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000;
    }
}

/* Monotonic milliseconds (an arbitrary origin). */
static inline int64_t wr_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif
