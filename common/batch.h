/*
 * batch.h — record batches: the unit that moves between tasks.
 *
 * A batch carries up to cap_rows records of one schema (row-major wr_value array)
 * plus the string bytes they point to, in one allocation. Control batches carry no
 * records: a watermark, a checkpoint barrier, or the end of a channel's stream. The
 * same type crosses in-process queues and (serialised) the network, so operators never
 * care where their input came from.
 *
 * Ownership: whoever holds the pointer owns the batch; sending it over a channel
 * hands it over. Batches are not thread-safe and need not be.
 */
#ifndef WR_BATCH_H
#define WR_BATCH_H

#include "buf.h"
#include "value.h"

#include <stdint.h>

typedef enum wr_batch_kind {
    WR_BATCH_DATA = 0,
    WR_BATCH_WATERMARK, /* value = event time in ms: the sender's watermark, sender active */
    WR_BATCH_IDLE,      /* value = event time in ms: the sender's watermark; it is idle until
                         * its next WATERMARK (see worker/watermark.h) */
    WR_BATCH_BARRIER,   /* value = checkpoint id */
    WR_BATCH_END,       /* the sender will send nothing more on this channel */
} wr_batch_kind;

typedef struct wr_batch {
    wr_batch_kind kind;
    int64_t value; /* control payload, see wr_batch_kind */
    int ncols;
    int cap_rows;
    int nrows;
    wr_value *values;    /* cap_rows * ncols */
    int64_t *event_time; /* cap_rows; the record's event time (ms), INT64_MIN if none */
    wr_arena arena;      /* string bytes of the records */
} wr_batch;

/* A data batch for up to cap_rows records of ncols values with arena_bytes of string
 * space, in one allocation. Returns NULL on OOM or bad sizes. */
wr_batch *wr_batch_new(int ncols, int cap_rows, size_t arena_bytes);
/* A control batch (kind != WR_BATCH_DATA). Returns NULL on OOM. */
wr_batch *wr_batch_new_control(wr_batch_kind kind, int64_t value);
void wr_batch_free(wr_batch *b);

static inline wr_value *wr_batch_row(wr_batch *b, int i)
{
    return b->values + (size_t)i * (size_t)b->ncols;
}

/* Bytes of string data a row needs in a batch arena. */
size_t wr_row_string_bytes(const wr_value *row, int ncols);

/* Copies row (ncols values, strings into the arena) as the batch's next record.
 * Returns WR_ETOOBIG, leaving the batch unchanged, if rows or arena are full. */
wr_err wr_batch_append(wr_batch *b, const wr_value *row, int64_t event_time);

#endif
