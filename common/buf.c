/*
 * buf.c — growable, capped byte buffer.
 */
#include "buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void wr_buf_init(wr_buf *b, size_t max)
{
    b->p = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max ? max : SIZE_MAX;
}

void wr_buf_fini(wr_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

wr_err wr_buf_reserve(wr_buf *b, size_t n)
{
    size_t want, ncap;
    char *np;

    if (n > b->max - b->len)
        return WR_ETOOBIG;
    want = b->len + n;
    if (want <= b->cap)
        return WR_OK;
    ncap = b->cap ? b->cap : 256;
    while (ncap < want)
        ncap = ncap > SIZE_MAX / 2 ? want : ncap * 2;
    np = realloc(b->p, ncap);
    if (!np)
        return WR_ENOMEM;
    b->p = np;
    b->cap = ncap;
    return WR_OK;
}

wr_err wr_buf_append(wr_buf *b, const void *data, size_t n)
{
    wr_err e = wr_buf_reserve(b, n);
    if (e)
        return e;
    if (n)
        memcpy(b->p + b->len, data, n);
    b->len += n;
    return WR_OK;
}

wr_err wr_buf_putc(wr_buf *b, char c)
{
    if (b->len < b->cap && b->len < b->max) {
        b->p[b->len++] = c;
        return WR_OK;
    }
    return wr_buf_append(b, &c, 1);
}

wr_err wr_buf_printf(wr_buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;
    wr_err e;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return WR_EINVAL;
    e = wr_buf_reserve(b, (size_t)n + 1);
    if (e)
        return e;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return WR_OK;
}
