/*
 * batch.c — record batch allocation and appends.
 */
#include "batch.h"

#include <stdlib.h>
#include <string.h>

wr_batch *wr_batch_new(int ncols, int cap_rows, size_t arena_bytes)
{
    size_t nvals, head, vals_sz, ts_sz;
    wr_batch *b;
    char *mem;

    if (ncols < 0 || cap_rows <= 0 || cap_rows > (1 << 20) || ncols > 4096)
        return NULL;
    nvals = (size_t)cap_rows * (size_t)(ncols ? ncols : 1);
    head = (sizeof(wr_batch) + 15) & ~(size_t)15;
    vals_sz = nvals * sizeof(wr_value);
    ts_sz = (size_t)cap_rows * sizeof(int64_t);
    mem = malloc(head + vals_sz + ts_sz + arena_bytes);
    if (!mem)
        return NULL;
    b = (wr_batch *)mem;
    b->kind = WR_BATCH_DATA;
    b->value = 0;
    b->ncols = ncols;
    b->cap_rows = cap_rows;
    b->nrows = 0;
    b->values = (wr_value *)(mem + head);
    b->event_time = (int64_t *)(mem + head + vals_sz);
    wr_arena_init(&b->arena, mem + head + vals_sz + ts_sz, arena_bytes);
    return b;
}

wr_batch *wr_batch_new_control(wr_batch_kind kind, int64_t value)
{
    wr_batch *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->kind = kind;
    b->value = value;
    return b;
}

void wr_batch_free(wr_batch *b)
{
    free(b);
}

size_t wr_row_string_bytes(const wr_value *row, int ncols)
{
    size_t n = 0;
    for (int i = 0; i < ncols; i++) {
        if (row[i].type == WR_T_STRING)
            n += row[i].len;
    }
    return n;
}

wr_err wr_batch_append(wr_batch *b, const wr_value *row, int64_t event_time)
{
    wr_value *dst;
    size_t need;
    char *p;

    if (b->nrows >= b->cap_rows)
        return WR_ETOOBIG;
    need = wr_row_string_bytes(row, b->ncols);
    if (need > b->arena.cap - b->arena.used)
        return WR_ETOOBIG;
    dst = wr_batch_row(b, b->nrows);
    memcpy(dst, row, sizeof *dst * (size_t)b->ncols);
    for (int i = 0; i < b->ncols; i++) {
        if (dst[i].type == WR_T_STRING && dst[i].len) {
            p = wr_arena_alloc(&b->arena, dst[i].len);
            memcpy(p, row[i].u.s, row[i].len);
            dst[i].u.s = p;
        }
    }
    b->event_time[b->nrows] = event_time;
    b->nrows++;
    return WR_OK;
}
