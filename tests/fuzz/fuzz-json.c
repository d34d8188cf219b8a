/*
 * fuzz-json.c — fuzz target for the JSON record decoder and encoder (common/json.c).
 *
 * Properties checked on every input (abort() on violation):
 *  - decoding never reads outside the input (inputs arrive in exact-size buffers) and,
 *    when it fails, leaves a row of nulls and the arena as it was;
 *  - a record that decodes re-encodes to JSON that decodes to the same values
 *    (doubles bit for bit, including the sign of zero);
 *  - a decoder that uses only some fields agrees with the full one on those fields;
 *  - a smaller arena either gives the same values or WR_ETOOBIG, nothing else;
 *  - the string encoder turns any bytes, valid UTF-8 or not, into a valid JSON string.
 * Replayed by fuzz-main.c as an ordinary test, or built with -fsanitize=fuzzer.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NFIELDS 10

static const struct {
    const char *name;
    wr_type type;
    bool optional;
} fields[NFIELDS] = {
    {"s", WR_T_STRING, false},    {"n", WR_T_LONG, false},      {"d", WR_T_DOUBLE, false},
    {"b", WR_T_BOOL, false},      {"t", WR_T_TIMESTAMP, false}, {"os", WR_T_STRING, true},
    {"on", WR_T_LONG, true},      {"od", WR_T_DOUBLE, true},    {"ob", WR_T_BOOL, true},
    {"ot", WR_T_TIMESTAMP, true},
};

static const bool some_used[NFIELDS] = {true,  false, true,  false, true,
                                        false, true,  false, true,  false};

static void check(bool ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz-json: property violated: %s\n", what);
        abort();
    }
}

static bool same(const wr_value *a, const wr_value *b)
{
    if (!wr_value_equal(a, b))
        return false;
    return a->type != WR_T_DOUBLE || memcmp(&a->u.d, &b->u.d, sizeof a->u.d) == 0;
}

static bool all_null(const wr_value *row)
{
    for (int i = 0; i < NFIELDS; i++)
        if (row[i].type != WR_T_NULL)
            return false;
    return true;
}

/* Decodes with an arena of `cap` bytes that starts one byte in, checking the failure
 * contract. Returns the result; the strings in row point into *mem (caller frees). */
static wr_err decode(const wr_json_decoder *d, const char *buf, size_t len, size_t cap,
                     wr_value *row, char **mem)
{
    wr_arena a;
    wr_errbuf eb;
    wr_err e;

    *mem = malloc(cap + 1);
    check(*mem != NULL, "out of memory");
    wr_arena_init(&a, *mem, cap + 1);
    a.used = 1;
    e = wr_json_decode(d, buf, len, row, &a, &eb);
    if (e != WR_OK) {
        check(e == WR_EMALFORMED || e == WR_ETOOBIG, "unexpected error code");
        check(a.used == 1, "arena not restored after a failure");
        check(all_null(row), "row not all null after a failure");
        check(eb.msg[0] != '\0', "failure without a message");
    }
    return e;
}

static void check_string_encoder(const uint8_t *data, size_t size)
{
    wr_schema sc = {0};
    wr_json_decoder *d;
    wr_value row[1];
    wr_buf b;
    char *mem;

    check(wr_schema_add(&sc, "x", WR_T_STRING, false), "out of memory");
    d = wr_json_decoder_new(&sc, NULL);
    check(d != NULL, "out of memory");
    wr_buf_init(&b, 0);
    check(wr_buf_append(&b, "{\"x\":", 5) == WR_OK, "append");
    check(wr_json_encode_string(&b, (const char *)data, size) == WR_OK, "encode string");
    check(wr_buf_putc(&b, '}') == WR_OK, "append");
    check(decode(d, b.p, b.len, b.len, row, &mem) == WR_OK, "encoded string is not valid JSON");
    check(row[0].len >= size, "encoded string lost bytes");
    free(mem);
    wr_buf_fini(&b);
    wr_json_decoder_free(d);
    wr_schema_fini(&sc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    wr_schema sc = {0};
    wr_json_decoder *full, *part;
    wr_value row[NFIELDS], again[NFIELDS], prow[NFIELDS];
    char *mem, *mem2, *mem3;
    wr_buf b;
    wr_err e;

    for (int i = 0; i < NFIELDS; i++)
        check(wr_schema_add(&sc, fields[i].name, fields[i].type, fields[i].optional),
              "out of memory");
    full = wr_json_decoder_new(&sc, NULL);
    part = wr_json_decoder_new(&sc, some_used);
    check(full && part, "out of memory");
    wr_buf_init(&b, 0);

    /* strings never need more room than the input they came from */
    e = decode(full, buf, size, size, row, &mem);
    check(e != WR_ETOOBIG, "an arena as large as the input was too small");
    if (e == WR_OK) {
        check(wr_json_encode(&sc, row, &b) == WR_OK, "encode");
        check(decode(full, b.p, b.len, b.len, again, &mem2) == WR_OK,
              "the encoding of a decoded record does not decode");
        for (int i = 0; i < NFIELDS; i++)
            check(same(&row[i], &again[i]), "round trip changed a value");
        free(mem2);

        check(decode(part, buf, size, size, prow, &mem2) == WR_OK,
              "a decoder using fewer fields rejected a record the full one accepted");
        for (int i = 0; i < NFIELDS; i++)
            check(some_used[i] ? same(&row[i], &prow[i]) : prow[i].type == WR_T_NULL,
                  "partial decoder disagrees");
        free(mem2);

        e = decode(full, buf, size, size / 3, prow, &mem3);
        check(e == WR_OK || e == WR_ETOOBIG, "a small arena changed the verdict");
        if (e == WR_OK)
            for (int i = 0; i < NFIELDS; i++)
                check(same(&row[i], &prow[i]), "a small arena changed a value");
        free(mem3);
    }
    free(mem);

    check_string_encoder(data, size);

    wr_buf_fini(&b);
    wr_json_decoder_free(part);
    wr_json_decoder_free(full);
    wr_schema_fini(&sc);
    return 0;
}
