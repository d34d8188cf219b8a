/*
 * error.c — string table for wr_err and the wr_errbuf helpers.
 */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const err_text[] = {
#define WR_ERR_TEXT(name, text) text,
    WR_ERRORS(WR_ERR_TEXT)
#undef WR_ERR_TEXT
};

const char *wr_strerror(wr_err err)
{
    if ((int)err < 0 || err >= WR_ERR__COUNT)
        return "unknown error";
    return err_text[err];
}

wr_err wr_fail(wr_errbuf *eb, wr_err err, const char *fmt, ...)
{
    if (eb) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(eb->msg, sizeof eb->msg, fmt, ap);
        va_end(ap);
    }
    return err;
}

void wr_errbuf_prefix(wr_errbuf *eb, const char *fmt, ...)
{
    char head[WR_ERRBUF_SIZE];
    char old[WR_ERRBUF_SIZE];
    va_list ap;

    if (!eb)
        return;
    va_start(ap, fmt);
    vsnprintf(head, sizeof head, fmt, ap);
    va_end(ap);
    memcpy(old, eb->msg, sizeof old);
    old[sizeof old - 1] = '\0';
    {
        size_t hl = strlen(head), ol = strlen(old);
        if (hl > sizeof eb->msg - 1)
            hl = sizeof eb->msg - 1;
        if (ol > sizeof eb->msg - 1 - hl)
            ol = sizeof eb->msg - 1 - hl;
        memcpy(eb->msg, head, hl);
        memcpy(eb->msg + hl, old, ol);
        eb->msg[hl + ol] = '\0';
    }
}
