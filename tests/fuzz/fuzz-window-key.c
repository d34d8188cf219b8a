/*
 * fuzz-window-key.c — fuzz target for the window state key codec (worker/window.c):
 * wr_window_key_decode on arbitrary bytes, as read back from RocksDB, for n = 0..4 keys.
 *
 * Properties checked on every input (abort() on violation):
 *  - decoding never reads outside the input (inputs arrive in exact-size buffers), and
 *    decoded strings point inside it;
 *  - decode(encode(x)) == x for every decoded x up to the encoding's normalisation of
 *    doubles: -0.0 comes back as +0.0 and every NaN as the quiet NaN 0x7ff8000000000000
 *    (equal keys must give equal bytes, so the encoder folds them); everything else,
 *    doubles included, comes back bit for bit;
 *  - encode(decode(b)) == b holds exactly when b is canonical: the decoder accepts
 *    non-minimal string-length varints (0x80 0x00 for 0) and the key bits of -0.0 and of
 *    any NaN, which re-encode shorter or as the canonical bits. So the check is: if no
 *    decoded double is -0.0 or a non-canonical NaN and the re-encoding has b's length
 *    (a non-minimal varint is always longer), the bytes are identical; otherwise they
 *    differ and the re-encoding is no longer than b. Re-encoding is a fixpoint;
 *  - encode fails with WR_ETOOBIG, writing nothing, when its buffer's cap is one byte
 *    short.
 * Replayed by fuzz-main.c as an ordinary test, or built with -fsanitize=fuzzer.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "window.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_KEYS 4
#define CANON_NAN UINT64_C(0x7ff8000000000000)

static void check(bool ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz-window-key: property violated: %s\n", what);
        abort();
    }
}

static uint64_t bits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

/* The bits the encoding keeps for d: -0.0 → +0.0, every NaN → CANON_NAN. */
static uint64_t canon_bits(double d)
{
    if (isnan(d))
        return CANON_NAN;
    if (d == 0.0)
        return 0;
    return bits(d);
}

/* True if a (decoded from b) and c (decoded from encode(a)) agree as the encoding
 * promises. */
static bool same_key_value(const wr_value *a, const wr_value *c)
{
    if (a->type != c->type)
        return false;
    switch ((wr_type)a->type) {
    case WR_T_NULL:
        return true;
    case WR_T_DOUBLE:
        return bits(c->u.d) == canon_bits(a->u.d);
    case WR_T_STRING:
        return a->len == c->len && (a->len == 0 || memcmp(a->u.s, c->u.s, a->len) == 0);
    default:
        return a->u.i == c->u.i;
    }
}

static void roundtrip(const uint8_t *data, size_t size, int n, const wr_value *vals)
{
    static const int cols[MAX_KEYS] = {0, 1, 2, 3};
    wr_value again[MAX_KEYS];
    bool canonical = true;
    wr_buf b, b2, small;
    wr_err e;

    for (int i = 0; i < n; i++) {
        check(vals[i].type <= WR_T_TIMESTAMP, "decoded an unknown type");
        if (vals[i].type == WR_T_STRING && vals[i].len)
            check((const uint8_t *)vals[i].u.s >= data &&
                      (const uint8_t *)vals[i].u.s + vals[i].len <= data + size,
                  "a decoded string points outside the key");
        if (vals[i].type == WR_T_BOOL)
            check(vals[i].u.i == 0 || vals[i].u.i == 1, "a bool is neither 0 nor 1");
        if (vals[i].type == WR_T_DOUBLE && bits(vals[i].u.d) != canon_bits(vals[i].u.d))
            canonical = false;
    }

    wr_buf_init(&b, 0);
    check(wr_window_key_encode(vals, cols, n, &b) == WR_OK, "encoding a decoded key failed");
    check(b.len <= size, "the re-encoding is longer than the key");
    if (canonical && b.len == size)
        check(size == 0 || memcmp(b.p, data, size) == 0,
              "a canonical key does not re-encode to its bytes");
    else
        check(b.len != size || memcmp(b.p, data, size) != 0,
              "a non-canonical key re-encodes to its own bytes");

    /* decode(encode(x)) == x, doubles normalised */
    check(wr_window_key_decode(b.p, b.len, n, again) == WR_OK, "an encoded key does not decode");
    for (int i = 0; i < n; i++)
        check(same_key_value(&vals[i], &again[i]), "the round trip changed a value");
    for (int k = 0; k <= MAX_KEYS; k++)
        if (k != n)
            check(wr_window_key_decode(b.p, b.len, k, again) == WR_EMALFORMED,
                  "an encoded key also decodes with another number of keys");

    /* the canonical encoding is a fixpoint */
    check(wr_window_key_decode(b.p, b.len, n, again) == WR_OK, "decode");
    wr_buf_init(&b2, 0);
    check(wr_window_key_encode(again, cols, n, &b2) == WR_OK, "encode");
    check(b2.len == b.len && (b.len == 0 || memcmp(b.p, b2.p, b.len) == 0),
          "re-encoding is not a fixpoint");

    /* the cap (0 would mean no cap) */
    if (b.len > 1) {
        wr_buf_init(&small, b.len - 1);
        e = wr_window_key_encode(vals, cols, n, &small);
        check(e == WR_ETOOBIG && small.len == 0, "a one-byte-short cap did not give WR_ETOOBIG");
        wr_buf_fini(&small);
    }
    wr_buf_init(&small, b.len ? b.len : 1);
    check(wr_window_key_encode(vals, cols, n, &small) == WR_OK && small.len == b.len,
          "an exact cap failed");
    wr_buf_fini(&small);

    wr_buf_fini(&b2);
    wr_buf_fini(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int decoded = 0;

    for (int n = 0; n <= MAX_KEYS; n++) {
        wr_value vals[MAX_KEYS + 1];
        /* a sentinel past the n values: decoding must not write it */
        vals[n].type = 0xee;
        if (wr_window_key_decode(data, size, n, vals) != WR_OK) {
            check(vals[n].type == 0xee, "decode wrote past n values");
            continue;
        }
        check(vals[n].type == 0xee, "decode wrote past n values");
        decoded++;
        roundtrip(data, size, n, vals);
    }
    /* every value is self-delimiting, so at most one n fits the whole key */
    check(decoded <= 1, "a key decodes with two different numbers of keys");
    return 0;
}
