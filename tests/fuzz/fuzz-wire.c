/*
 * fuzz-wire.c — fuzz target for the frame and batch decoders (common/wire.c): the bytes
 * any peer can send to the coordinator or a worker.
 *
 * Properties checked on every input (abort() on violation):
 *  - decoding never reads outside the input (inputs arrive in exact-size buffers) and
 *    fails only with WR_EMALFORMED and a message, leaving the out-parameter untouched;
 *  - a frame that decodes re-encodes to a frame that decodes to the same header (compared
 *    as packed protobuf) and the same body bytes;
 *  - a DATA body that decodes as a batch re-encodes to exactly the same bytes (the batch
 *    layout has one encoding per batch), and that decodes again to an equal batch,
 *    value by value, doubles bit for bit;
 *  - a batch accepted with no column expectation is accepted with its own column count,
 *    and refused with any other.
 * Replayed by fuzz-main.c as an ordinary test, or built with -fsanitize=fuzzer.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_LEN (1u << 20)
#define MAX_ROWS 4096
#define MAX_STRING_BYTES (1u << 20)

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz-wire: property violated: %s\n", what);
        abort();
    }
}

static void pack(const ProtobufCMessage *m, wr_buf *out)
{
    wr_buf_init(out, 0);
    check(wr_buf_reserve(out, protobuf_c_message_get_packed_size(m) + 1) == WR_OK, "oom");
    out->len = protobuf_c_message_pack(m, (uint8_t *)out->p);
}

static const ProtobufCMessage *header_of(const wr_frame *f)
{
    switch (f->type) {
    case WR_FRAME_CONTROL:
        return &f->control->base;
    case WR_FRAME_DATA:
        return &f->data->base;
    default:
        return &f->credit->base;
    }
}

static void check_same_header(const wr_frame *a, const wr_frame *b)
{
    wr_buf x, y;
    check(a->type == b->type, "round trip changed the frame type");
    pack(header_of(a), &x);
    pack(header_of(b), &y);
    check(x.len == y.len && memcmp(x.p, y.p, x.len) == 0, "round trip changed the header");
    wr_buf_fini(&x);
    wr_buf_fini(&y);
}

static void check_same_batch(const wr_batch *a, const wr_batch *b)
{
    check(a->kind == b->kind && a->value == b->value, "round trip changed kind or value");
    if (a->kind != WR_BATCH_DATA) {
        check(b->nrows == 0, "control batch with rows");
        return;
    }
    check(a->ncols == b->ncols && a->nrows == b->nrows, "round trip changed the shape");
    for (int r = 0; r < a->nrows; r++) {
        check(a->event_time[r] == b->event_time[r], "round trip changed an event time");
        for (int c = 0; c < a->ncols; c++) {
            const wr_value *x = a->values + (size_t)r * (size_t)a->ncols + c;
            const wr_value *y = b->values + (size_t)r * (size_t)b->ncols + c;
            check(x->type == y->type, "round trip changed a type");
            switch (x->type) {
            case WR_T_NULL:
                break;
            case WR_T_STRING:
                check(x->len == y->len && (x->len == 0 || memcmp(x->u.s, y->u.s, x->len) == 0),
                      "round trip changed a string");
                break;
            case WR_T_BOOL:
                check(x->u.i == 0 || x->u.i == 1, "bool neither 0 nor 1");
                /* fall through */
            default: /* doubles bit for bit */
                check(memcmp(&x->u, &y->u, sizeof x->u) == 0, "round trip changed a value");
            }
        }
    }
}

static wr_err decode_batch(const uint8_t *p, size_t len, int expect_ncols, wr_batch **out)
{
    wr_batch *sentinel = (wr_batch *)(uintptr_t)1, *b = sentinel;
    wr_errbuf eb;
    wr_err e;

    eb.msg[0] = '\0';
    e = wr_batch_decode(p, len, expect_ncols, MAX_ROWS, MAX_STRING_BYTES, &b, &eb);
    if (e != WR_OK) {
        check(e == WR_EMALFORMED, "batch: unexpected error code");
        check(eb.msg[0] != '\0', "batch: failure without a message");
        check(b == sentinel, "batch: out-parameter set on failure");
        return e;
    }
    check(b != NULL && b != sentinel, "batch: success without a batch");
    *out = b;
    return e;
}

/* Checks the batch properties; returns the decoded batch (or NULL if it does not decode). */
static wr_batch *check_batch(const uint8_t *p, size_t len)
{
    wr_batch *b, *again, *strict;
    wr_buf enc;

    if (decode_batch(p, len, -1, &b) != WR_OK)
        return NULL;
    wr_buf_init(&enc, 0);
    check(wr_batch_encode(b, &enc) == WR_OK, "a decoded batch does not encode");
    check(enc.len == len && memcmp(enc.p, p, len) == 0,
          "a decoded batch re-encodes to different bytes");
    check(decode_batch((const uint8_t *)enc.p, enc.len, -1, &again) == WR_OK,
          "the encoding of a decoded batch does not decode");
    check_same_batch(b, again);
    wr_batch_free(again);
    if (b->kind == WR_BATCH_DATA) {
        check(decode_batch(p, len, b->ncols, &strict) == WR_OK,
              "refused with its own column count");
        wr_batch_free(strict);
        check(decode_batch(p, len, b->ncols + 1, &strict) == WR_EMALFORMED,
              "accepted with another column count");
    }
    wr_buf_fini(&enc);
    return b;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    wr_frame f, g;
    wr_batch *b = NULL;
    wr_errbuf eb;
    wr_buf enc;
    wr_err e;

    /* Any bytes at all, also as a batch body on their own. */
    wr_batch_free(check_batch(data, size));

    memset(&f, 0xab, sizeof f);
    eb.msg[0] = '\0';
    e = wr_wire_decode(data, size, MAX_LEN, &f, &eb);
    if (e != WR_OK) {
        check(e == WR_EMALFORMED, "frame: unexpected error code");
        check(eb.msg[0] != '\0', "frame: failure without a message");
        check(f.control == (void *)(uintptr_t)0xabababababababab, "frame: out set on failure");
        return 0;
    }
    check(f.type == WR_FRAME_DATA ? f.body_len > 0 : f.body_len == 0, "frame: body rule");
    check(f.body_len <= size && (f.body_len == 0 || f.body + f.body_len == data + size),
          "frame: body not at the end of the input");
    wr_buf_init(&enc, 0);
    switch (f.type) {
    case WR_FRAME_CONTROL:
        check(f.control && !f.data && !f.credit, "frame: wrong header set");
        check(wr_wire_encode_control(f.control, &enc) == WR_OK, "control does not encode");
        break;
    case WR_FRAME_CREDIT:
        check(f.credit && !f.control && !f.data, "frame: wrong header set");
        check(wr_wire_encode_credit(f.credit, &enc) == WR_OK, "credit does not encode");
        break;
    default:
        check(f.data && !f.control && !f.credit, "frame: wrong header set");
        /* Only a body that is a batch can be re-encoded through the API. */
        b = check_batch(f.body, f.body_len);
        if (b)
            check(wr_wire_encode_data(f.data, b, &enc) == WR_OK, "data does not encode");
        break;
    }
    if (enc.len) {
        e = wr_wire_decode(enc.p, enc.len, SIZE_MAX, &g, &eb);
        if (e != WR_OK)
            fprintf(stderr, "fuzz-wire: re-encoded frame: %s\n", eb.msg);
        check(e == WR_OK, "the encoding of a decoded frame does not decode");
        check_same_header(&f, &g);
        check(g.body_len == f.body_len &&
                  (f.body_len == 0 || memcmp(g.body, f.body, f.body_len) == 0),
              "round trip changed the body");
        wr_frame_fini(&g);
    }
    wr_batch_free(b);
    wr_buf_fini(&enc);
    wr_frame_fini(&f);
    return 0;
}
