/*
 * error.h — weir's one error enum and its string table.
 *
 * Every fallible function in weir returns a wr_err (WR_OK == 0). Where the cause
 * matters to a person (which field, which line, which partition), the function also
 * takes a wr_errbuf and writes one human-readable sentence into it. Libraries in
 * common/ never log: they return errors and the daemons log them once.
 */
#ifndef WR_ERROR_H
#define WR_ERROR_H

#include <stddef.h>

#define WR_ERRORS(X)                                                                               \
    X(WR_OK, "success")                                                                            \
    X(WR_EINVAL, "invalid argument")                                                               \
    X(WR_ENOMEM, "out of memory")                                                                  \
    X(WR_EMALFORMED, "malformed input")                                                            \
    X(WR_ESPEC, "invalid job spec")                                                                \
    X(WR_ETYPE, "type error")                                                                      \
    X(WR_EEVAL, "evaluation error")                                                                \
    X(WR_ETOOBIG, "too large")                                                                     \
    X(WR_EIO, "input/output error")                                                                \
    X(WR_EKAFKA, "kafka error")                                                                    \
    X(WR_ENOTFOUND, "not found")                                                                   \
    X(WR_ECLOSED, "closed")                                                                        \
    X(WR_ETIMEDOUT, "timed out")                                                                   \
    X(WR_ECANCELED, "canceled")                                                                    \
    X(WR_EUNSUPPORTED, "unsupported")                                                              \
    X(WR_ECORRUPT, "checksum mismatch")

typedef enum wr_err {
#define WR_ERR_ENUM(name, text) name,
    WR_ERRORS(WR_ERR_ENUM)
#undef WR_ERR_ENUM
        WR_ERR__COUNT
} wr_err;

/* Returns a static, never-NULL description of err (also for out-of-range values). */
const char *wr_strerror(wr_err err);

/* A place for the one sentence that explains an error. Functions that take one write
 * it only when they fail; msg is always NUL-terminated. */
#define WR_ERRBUF_SIZE 512
typedef struct wr_errbuf {
    char msg[WR_ERRBUF_SIZE];
} wr_errbuf;

/* Formats into eb (if eb is not NULL) and returns err, so callers can write
 * `return wr_fail(eb, WR_EMALFORMED, "field '%s': ...", name);`. */
wr_err wr_fail(wr_errbuf *eb, wr_err err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefixes eb->msg with a formatted context ("source 'clicks': " + old message). */
void wr_errbuf_prefix(wr_errbuf *eb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
