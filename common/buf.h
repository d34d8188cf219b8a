/*
 * buf.h — two small memory helpers used on the per-record path.
 *
 * wr_arena: a bump allocator over a caller-owned fixed buffer. It never grows, so a
 * full arena is an explicit, bounded condition (wr_arena_alloc returns NULL) rather
 * than hidden memory growth. Reset it to reuse the buffer.
 *
 * wr_buf: a growable byte buffer with a hard cap. Appends that would exceed the cap
 * fail with WR_ETOOBIG instead of growing further.
 */
#ifndef WR_BUF_H
#define WR_BUF_H

#include "error.h"

#include <stddef.h>
#include <stdint.h>

typedef struct wr_arena {
    char *base;
    size_t cap;
    size_t used;
} wr_arena;

static inline void wr_arena_init(wr_arena *a, void *mem, size_t cap)
{
    a->base = (char *)mem;
    a->cap = cap;
    a->used = 0;
}
static inline void wr_arena_reset(wr_arena *a)
{
    a->used = 0;
}
/* Returns n bytes (unaligned, for byte data) or NULL if the arena lacks room. */
static inline char *wr_arena_alloc(wr_arena *a, size_t n)
{
    char *p;
    if (n > a->cap - a->used)
        return NULL;
    p = a->base + a->used;
    a->used += n;
    return p;
}

typedef struct wr_buf {
    char *p;
    size_t len;
    size_t cap;
    size_t max; /* hard cap on len; 0 means SIZE_MAX */
} wr_buf;

/* Initialises an empty buffer that may grow to max bytes (0: unbounded). */
void wr_buf_init(wr_buf *b, size_t max);
/* Frees the memory; b is left empty and reusable. */
void wr_buf_fini(wr_buf *b);
static inline void wr_buf_clear(wr_buf *b)
{
    b->len = 0;
}
/* Makes room for n more bytes. WR_ETOOBIG past max, WR_ENOMEM if allocation fails. */
wr_err wr_buf_reserve(wr_buf *b, size_t n);
wr_err wr_buf_append(wr_buf *b, const void *data, size_t n);
wr_err wr_buf_putc(wr_buf *b, char c);
wr_err wr_buf_printf(wr_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
