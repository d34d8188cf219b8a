/*
 * wire.h — the bytes weir's processes exchange: frames, and record batches inside them.
 *
 * Every nng message between coordinator and workers, and between workers, is one frame
 * (proto/weir.proto gives the layout):
 *
 *   "WR" | version 1 | type (1 byte) | header length (4 bytes BE) | header | body
 *
 * type CONTROL: header = weir.Control, no body.
 * type DATA:    header = weir.DataHeader, body = one record batch (wr_batch_encode).
 * type CREDIT:  header = weir.Credit, no body.
 *
 * wr_wire_decode() is the one place received bytes are turned into messages. It checks
 * the frame against max_len and every length against the bytes present before reading,
 * unpacks the header with protobuf-c, and checks what protobuf cannot (a Control has a
 * body; ids are non-empty and not absurdly long; strings are valid for their use). A
 * frame that fails is WR_EMALFORMED with a message naming what is wrong; the caller then
 * closes the connection it came on and never uses any part of it.
 *
 * Batch body layout (all integers little endian):
 *   kind u8 | value i64 | ncols u16 | nrows u32 | string_bytes u32 |
 *   nrows × (event_time i64 | ncols × value)
 *   value = type u8, then nothing (NULL) | u8 0/1 (BOOL) | i64 (LONG, TIMESTAMP) |
 *           f64 bits (DOUBLE) | len u32 + bytes (STRING)
 * A control batch (kind != DATA) has ncols = nrows = string_bytes = 0.
 *
 * Pure: no I/O, no global state. Any thread.
 */
#ifndef WR_WIRE_H
#define WR_WIRE_H

#include "batch.h"
#include "buf.h"
#include "error.h"
#include "weir.pb-c.h"

#include <stddef.h>
#include <stdint.h>

#define WR_WIRE_VERSION 1
#define WR_WIRE_PREFIX 8 /* "WR", version, type, header length */
/* Default receive limit of every nng socket (NNG_OPT_RECVMAXSZ); a setting in both
 * daemons (--max-message). A batch of the default limits is about 40 KiB. */
#define WR_WIRE_MAX_MESSAGE_DEFAULT (16u << 20)
/* Longest job id, worker id or address accepted in a frame. */
#define WR_WIRE_MAX_ID 256

typedef enum wr_frame_type {
    WR_FRAME_CONTROL = 1,
    WR_FRAME_DATA = 2,
    WR_FRAME_CREDIT = 3,
} wr_frame_type;

typedef struct wr_frame {
    wr_frame_type type;
    Weir__Control *control; /* CONTROL; owned, freed by wr_frame_fini */
    Weir__DataHeader *data; /* DATA */
    Weir__Credit *credit;   /* CREDIT */
    const uint8_t *body;    /* DATA: the batch bytes, pointing into the decoded buffer */
    size_t body_len;
} wr_frame;

/* Decodes one received frame of len bytes (len > max_len is an error too). On success
 * *out holds the header message; free it with wr_frame_fini. On WR_EMALFORMED, eb says
 * what is wrong (e.g. "frame: header length 4000 exceeds the 120 bytes received") and
 * nothing needs freeing. */
wr_err wr_wire_decode(const void *buf, size_t len, size_t max_len, wr_frame *out, wr_errbuf *eb);
void wr_frame_fini(wr_frame *f);

/* Encode a whole frame into out (cleared first). WR_ENOMEM / WR_ETOOBIG from wr_buf. */
wr_err wr_wire_encode_control(const Weir__Control *c, wr_buf *out);
wr_err wr_wire_encode_credit(const Weir__Credit *c, wr_buf *out);
wr_err wr_wire_encode_data(const Weir__DataHeader *h, const wr_batch *b, wr_buf *out);

/* Appends batch b's body to out. */
wr_err wr_batch_encode(const wr_batch *b, wr_buf *out);

/* Decodes a batch body into a new batch sized exactly for it. expect_ncols >= 0 requires
 * that many columns (data batches); max_rows and max_string_bytes bound what a peer can
 * make us allocate (the job's limits.batch_records / batch_bytes). WR_EMALFORMED with the
 * reason on anything inconsistent: unknown kind or type, truncated, trailing bytes, more
 * rows or string bytes than declared or allowed. */
wr_err wr_batch_decode(const void *buf, size_t len, int expect_ncols, int max_rows,
                       size_t max_string_bytes, wr_batch **out, wr_errbuf *eb);

#endif
