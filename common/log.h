/*
 * log.h — structured log lines for the daemons and the CLI (never called from common/
 * library code, which returns errors instead).
 *
 * One line per event on stderr: `2026-11-21T10:00:00.123Z INFO worker msg key=value ...`.
 * The level threshold comes from WEIR_LOG_LEVEL (debug, info, warn, error; default info).
 */
#ifndef WR_LOG_H
#define WR_LOG_H

typedef enum wr_log_level {
    WR_LOG_DEBUG,
    WR_LOG_INFO,
    WR_LOG_WARN,
    WR_LOG_ERROR,
} wr_log_level;

/* Thread-safe: a line is written with one write(2). */
void wr_log(wr_log_level level, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* True if messages at level would be written. */
int wr_log_enabled(wr_log_level level);

#endif
