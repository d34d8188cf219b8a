/*
 * log.c — one structured line per event on stderr.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static int threshold(void)
{
    static int cached = -1;
    const char *s;

    if (cached >= 0)
        return cached;
    s = getenv("WEIR_LOG_LEVEL");
    cached = WR_LOG_INFO;
    if (s) {
        if (!strcasecmp(s, "debug"))
            cached = WR_LOG_DEBUG;
        else if (!strcasecmp(s, "warn"))
            cached = WR_LOG_WARN;
        else if (!strcasecmp(s, "error"))
            cached = WR_LOG_ERROR;
    }
    return cached;
}

int wr_log_enabled(wr_log_level level)
{
    return (int)level >= threshold();
}

void wr_log(wr_log_level level, const char *component, const char *fmt, ...)
{
    static const char *const names[] = {"DEBUG", "INFO", "WARN", "ERROR"};
    char line[2048];
    struct timespec ts;
    struct tm tm;
    size_t n;
    int k;
    va_list ap;

    if (!wr_log_enabled(level))
        return;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%S", &tm);
    k = snprintf(line + n, sizeof line - n, ".%03ldZ %s %s ", ts.tv_nsec / 1000000, names[level],
                 component);
    if (k > 0)
        n += (size_t)k;
    va_start(ap, fmt);
    k = vsnprintf(line + n, sizeof line - n, fmt, ap);
    va_end(ap);
    if (k > 0)
        n = n + (size_t)k >= sizeof line - 1 ? sizeof line - 2 : n + (size_t)k;
    line[n++] = '\n';
    if (write(STDERR_FILENO, line, n) < 0) {
        /* nowhere left to report it */
    }
}
