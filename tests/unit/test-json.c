/*
 * test-json.c — the JSON record decoder and encoder (common/json.c).
 *
 * Inputs are copied into exactly-sized heap buffers before decoding, so AddressSanitizer
 * catches any read past the end of the document. Expected epoch milliseconds were
 * worked out by hand (the derivations are in the comments), not by the code under test.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

#define MAX_FIELDS 64

/* One schema, its decoder, an arena and a row. */
typedef struct fx {
    wr_schema schema;
    wr_json_decoder *dec;
    char mem[4096];
    wr_arena arena;
    wr_value row[MAX_FIELDS];
    wr_errbuf eb;
} fx;

/* spec: space-separated name:type pairs, e.g. "user:string amount:double? ts:timestamp_ms".
 * used: NULL for all fields. */
static void fx_init_used(fx *f, const char *spec, const bool *used)
{
    char copy[1024], *save = NULL;

    memset(f, 0, sizeof *f);
    assert_true(strlen(spec) < sizeof copy);
    strcpy(copy, spec);
    for (char *tok = strtok_r(copy, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
        char *colon = strrchr(tok, ':');
        wr_type t;
        bool opt = false;
        assert_non_null(colon);
        *colon = '\0';
        assert_true(wr_type_parse(colon + 1, &t, &opt));
        assert_true(wr_schema_add(&f->schema, tok, t, opt));
    }
    assert_true(f->schema.nfields <= MAX_FIELDS);
    f->dec = wr_json_decoder_new(&f->schema, used);
    assert_non_null(f->dec);
    wr_arena_init(&f->arena, f->mem, sizeof f->mem);
}

static void fx_init(fx *f, const char *spec)
{
    fx_init_used(f, spec, NULL);
}

static void fx_fini(fx *f)
{
    wr_json_decoder_free(f->dec);
    wr_schema_fini(&f->schema);
}

/* Decodes buf[0..len) from an exact-size heap copy. */
static wr_err fx_decode_n(fx *f, const char *buf, size_t len)
{
    char *copy = malloc(len ? len : 1);
    wr_err e;

    assert_non_null(copy);
    memcpy(copy, buf, len);
    f->eb.msg[0] = '\0';
    e = wr_json_decode(f->dec, copy, len, f->row, &f->arena, &f->eb);
    free(copy);
    return e;
}

static wr_err fx_decode(fx *f, const char *json)
{
    return fx_decode_n(f, json, strlen(json));
}

static void expect_ok(fx *f, const char *json)
{
    wr_err e = fx_decode(f, json);
    if (e != WR_OK)
        fail_msg("decoding %s: %s (%s)", json, wr_strerror(e), f->eb.msg);
}

static void expect_error(fx *f, const char *json, wr_err want, const char *msg)
{
    wr_err e = fx_decode(f, json);
    if (e != want || strcmp(f->eb.msg, msg) != 0)
        fail_msg("decoding %s: got %s \"%s\", want %s \"%s\"", json, wr_strerror(e), f->eb.msg,
                 wr_strerror(want), msg);
}

static void assert_str_value(const wr_value *v, const char *s, size_t len)
{
    assert_int_equal(v->type, WR_T_STRING);
    assert_int_equal(v->len, len);
    assert_memory_equal(v->u.s, s, len);
}

/* ---- conversions ---- */

static void every_field_type_converts_from_its_json_form(void **s)
{
    fx f;
    fx_init(&f, "user:string n:long amount:double ok:bool off:bool ts:timestamp_ms");
    expect_ok(&f, "{\"user\":\"ann\",\"n\":-42,\"amount\":12.5,\"ok\":true,\"off\":false,"
                  "\"ts\":1700000000000}");
    assert_str_value(&f.row[0], "ann", 3);
    assert_int_equal(f.row[1].type, WR_T_LONG);
    assert_int_equal(f.row[1].u.i, -42);
    assert_int_equal(f.row[2].type, WR_T_DOUBLE);
    assert_true(f.row[2].u.d == 12.5);
    assert_int_equal(f.row[3].type, WR_T_BOOL);
    assert_int_equal(f.row[3].u.i, 1);
    assert_int_equal(f.row[4].type, WR_T_BOOL);
    assert_int_equal(f.row[4].u.i, 0);
    assert_int_equal(f.row[5].type, WR_T_TIMESTAMP);
    assert_int_equal(f.row[5].u.i, 1700000000000LL);
    fx_fini(&f);
}

static void decoded_strings_live_in_the_arena_not_the_input(void **s)
{
    fx f;
    fx_init(&f, "user:string");
    expect_ok(&f, "{\"user\":\"bob\"}");
    assert_true(f.row[0].u.s >= f.mem && f.row[0].u.s < f.mem + sizeof f.mem);
    assert_int_equal(f.arena.used, 3);
    assert_str_value(&f.row[0], "bob", 3);
    fx_fini(&f);
}

static void double_field_reads_every_number_form_exactly(void **s)
{
    static const char *const texts[] = {
        "0",
        "-0",
        "1",
        "-7",
        "1.5",
        "0.1",
        "0.3",
        "1e3",
        "1E-2",
        "2.5e+10",
        "-0.000001",
        "123456789012345678",
        "9007199254740993",
        "123456789012345678901234567890",
        "3.141592653589793238462643383279",
        "2.2250738585072014e-308",
        "4.9406564584124654e-324",
        "1e-400",
        "1.7976931348623157e308",
        "0.1000000000000000055511151231257827021181583404541015625",
        "1e22",
        "1e23",
        "8.98846567431158e307",
    };
    fx f;
    fx_init(&f, "x:double");
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        char doc[256];
        double want = strtod(texts[i], NULL); /* the C library as the independent oracle */
        snprintf(doc, sizeof doc, "{\"x\":%s}", texts[i]);
        expect_ok(&f, doc);
        assert_int_equal(f.row[0].type, WR_T_DOUBLE);
        if (memcmp(&f.row[0].u.d, &want, sizeof want) != 0)
            fail_msg("%s decoded as %.17g, want %.17g", texts[i], f.row[0].u.d, want);
    }
    fx_fini(&f);
}

static void double_field_reads_a_very_long_number(void **s)
{
    char doc[600];
    size_t n;
    fx f;
    fx_init(&f, "x:double");
    strcpy(doc, "{\"x\":1.");
    n = strlen(doc);
    memset(doc + n, '0', 400);
    strcpy(doc + n + 400, "1}");
    expect_ok(&f, doc);
    assert_true(f.row[0].u.d == 1.0);
    assert_int_equal(f.arena.used, 0); /* scratch space only, returned */
    fx_fini(&f);
}

static void double_overflow_is_a_field_error(void **s)
{
    fx f;
    fx_init(&f, "x:double");
    expect_error(&f, "{\"x\":1e400}", WR_EMALFORMED,
                 "field 'x': number 1e400 out of range for double");
    expect_error(&f, "{\"x\":-1e99999999999999999999}", WR_EMALFORMED,
                 "field 'x': number -1e99999999999999999999 out of range for double");
    fx_fini(&f);
}

static void long_field_holds_the_whole_int64_range(void **s)
{
    fx f;
    fx_init(&f, "n:long");
    expect_ok(&f, "{\"n\":9223372036854775807}");
    assert_true(f.row[0].u.i == INT64_MAX);
    expect_ok(&f, "{\"n\":-9223372036854775808}");
    assert_true(f.row[0].u.i == INT64_MIN);
    expect_ok(&f, "{\"n\":0}");
    assert_true(f.row[0].u.i == 0);
    expect_ok(&f, "{\"n\":-0}");
    assert_true(f.row[0].u.i == 0);
    expect_ok(&f, "{\"n\":1000000000000000000}");
    assert_true(f.row[0].u.i == 1000000000000000000LL);
    fx_fini(&f);
}

static void integer_beyond_int64_is_out_of_range_for_long(void **s)
{
    fx f;
    fx_init(&f, "n:long");
    expect_error(&f, "{\"n\":9223372036854775808}", WR_EMALFORMED,
                 "field 'n': integer out of range for long");
    expect_error(&f, "{\"n\":-9223372036854775809}", WR_EMALFORMED,
                 "field 'n': integer out of range for long");
    expect_error(&f, "{\"n\":18446744073709551616}", WR_EMALFORMED,
                 "field 'n': integer out of range for long");
    expect_error(&f, "{\"n\":99999999999999999999999}", WR_EMALFORMED,
                 "field 'n': integer out of range for long");
    fx_fini(&f);
}

static void long_field_rejects_fractions_and_exponents(void **s)
{
    fx f;
    fx_init(&f, "n:long");
    expect_error(&f, "{\"n\":1.0}", WR_EMALFORMED,
                 "field 'n': expected long, got non-integer number 1.0");
    expect_error(&f, "{\"n\":1e3}", WR_EMALFORMED,
                 "field 'n': expected long, got non-integer number 1e3");
    fx_fini(&f);
}

static void wrong_json_kinds_are_field_errors_that_name_the_field(void **s)
{
    fx f;
    fx_init(&f, "amount:double n:long name:string ok:bool ts:timestamp_ms");
    expect_error(&f, "{\"amount\":\"12\"}", WR_EMALFORMED,
                 "field 'amount': expected double, got string");
    expect_error(&f, "{\"n\":true}", WR_EMALFORMED, "field 'n': expected long, got boolean");
    expect_error(&f, "{\"name\":12}", WR_EMALFORMED, "field 'name': expected string, got number");
    expect_error(&f, "{\"ok\":1}", WR_EMALFORMED, "field 'ok': expected bool, got number");
    expect_error(&f, "{\"ok\":\"true\"}", WR_EMALFORMED, "field 'ok': expected bool, got string");
    expect_error(&f, "{\"name\":{\"a\":[1]}}", WR_EMALFORMED,
                 "field 'name': expected string, got object");
    expect_error(&f, "{\"amount\":[1,2]}", WR_EMALFORMED,
                 "field 'amount': expected double, got array");
    expect_error(&f, "{\"ts\":false}", WR_EMALFORMED,
                 "field 'ts': expected timestamp_ms, got boolean");
    fx_fini(&f);
}

static void first_field_error_is_the_one_reported(void **s)
{
    fx f;
    fx_init(&f, "a:long b:long");
    expect_error(&f, "{\"a\":\"x\",\"b\":\"y\"}", WR_EMALFORMED,
                 "field 'a': expected long, got string");
    fx_fini(&f);
}

/* ---- timestamps ---- */

static void timestamp_field_reads_integer_epoch_milliseconds(void **s)
{
    fx f;
    fx_init(&f, "ts:timestamp_ms");
    expect_ok(&f, "{\"ts\":0}");
    assert_int_equal(f.row[0].type, WR_T_TIMESTAMP);
    assert_true(f.row[0].u.i == 0);
    expect_ok(&f, "{\"ts\":-86400000}");
    assert_true(f.row[0].u.i == -86400000);
    expect_ok(&f, "{\"ts\":9223372036854775807}");
    assert_true(f.row[0].u.i == INT64_MAX);
    expect_error(&f, "{\"ts\":1.5}", WR_EMALFORMED,
                 "field 'ts': expected timestamp_ms, got non-integer number 1.5");
    expect_error(&f, "{\"ts\":9223372036854775808}", WR_EMALFORMED,
                 "field 'ts': integer out of range for timestamp_ms");
    fx_fini(&f);
}

static int64_t ts_of(fx *f, const char *text)
{
    char doc[256];
    snprintf(doc, sizeof doc, "{\"ts\":\"%s\"}", text);
    expect_ok(f, doc);
    assert_int_equal(f->row[0].type, WR_T_TIMESTAMP);
    return f->row[0].u.i;
}

static void rfc3339_timestamps_match_hand_computed_epoch_milliseconds(void **s)
{
    fx f;
    fx_init(&f, "ts:timestamp_ms");
    assert_true(ts_of(&f, "1970-01-01T00:00:00Z") == 0);
    /* 1970..1999 is 30 years with 7 leap days (72..96): 2000-01-01 is day 10957;
     * + 31 (Jan) + 28 = day 11016 = 2000-02-29 -> 11016 * 86400000 = 951782400000 */
    assert_true(ts_of(&f, "2000-02-29T00:00:00Z") == 951782400000LL);
    assert_true(ts_of(&f, "2000-03-01T00:00:00Z") == 951868800000LL);
    /* 2026-01-01: 56 years * 365 + 14 leap days (72..2024) = day 20454; Jan..Oct is 304
     * days, + 20 -> day 20778 -> 1795219200 s; + 10 h = 1795255200 s */
    assert_true(ts_of(&f, "2026-11-21T10:00:00.123Z") == 1795255200123LL);
    /* +02:00 means 2 h earlier in UTC: 1795255200 - 7200 */
    assert_true(ts_of(&f, "2026-11-21T10:00:00.123+02:00") == 1795248000123LL);
    /* -05:30 means 5.5 h later in UTC: 1795255200 + 19800 */
    assert_true(ts_of(&f, "2026-11-21T10:00:00-05:30") == 1795275000000LL);
    assert_true(ts_of(&f, "2026-11-21T10:00:00+00:00") == 1795255200000LL);
    assert_true(ts_of(&f, "2026-11-21T10:00:00-00:00") == 1795255200000LL);
    /* 2024-01-01 = day 19723 (54 years, 13 leap days); + 31 + 28 = day 19782 (Feb 29) */
    assert_true(ts_of(&f, "2024-02-29T12:00:00Z") == 19782LL * 86400000 + 12 * 3600000);
    /* before the epoch: one millisecond before it */
    assert_true(ts_of(&f, "1969-12-31T23:59:59.999Z") == -1);
    /* 1900 is not a leap year: 1900-03-01 is 25508 days before the epoch */
    assert_true(ts_of(&f, "1900-03-01T00:00:00Z") == -25508LL * 86400000);
    assert_true(ts_of(&f, "0001-01-01T00:00:00Z") == -62135596800000LL);
    assert_true(ts_of(&f, "9999-12-31T23:59:59.999Z") == 253402300799999LL);
    fx_fini(&f);
}

static void rfc3339_fractions_are_truncated_to_milliseconds(void **s)
{
    fx f;
    fx_init(&f, "ts:timestamp_ms");
    assert_true(ts_of(&f, "1970-01-01T00:00:01.5Z") == 1500);
    assert_true(ts_of(&f, "1970-01-01T00:00:01.05Z") == 1050);
    assert_true(ts_of(&f, "1970-01-01T00:00:01.123456789Z") == 1123);
    assert_true(ts_of(&f, "1970-01-01T00:00:01.999999Z") == 1999);
    assert_true(ts_of(&f, "1970-01-01T00:00:00.000Z") == 0);
    fx_fini(&f);
}

static void rfc3339_accepts_lowercase_t_and_z_a_space_and_leap_seconds(void **s)
{
    fx f;
    fx_init(&f, "ts:timestamp_ms");
    assert_true(ts_of(&f, "1970-01-01t00:00:01z") == 1000);
    assert_true(ts_of(&f, "1970-01-01 00:00:01Z") == 1000);
    /* 2016-12-31T23:59:60Z counts as 2017-01-01T00:00:00Z (POSIX time) */
    assert_true(ts_of(&f, "2016-12-31T23:59:60Z") == ts_of(&f, "2017-01-01T00:00:00Z"));
    /* escapes in the string are undone before parsing */
    assert_true(ts_of(&f, "1970-01-01T00:00:01\\u005a") == 1000);
    fx_fini(&f);
}

static void invalid_rfc3339_timestamps_are_field_errors_quoting_the_text(void **s)
{
    static const char *const bad[] = {
        "2026-13-01",
        "2026-13-01T00:00:00Z",
        "2026-00-10T00:00:00Z",
        "2023-02-29T00:00:00Z", /* not a leap year */
        "1900-02-29T00:00:00Z", /* divisible by 100, not by 400 */
        "2026-04-31T00:00:00Z",
        "2026-01-00T00:00:00Z",
        "2026-01-01T24:00:00Z",
        "2026-01-01T23:60:00Z",
        "2026-01-01T23:59:61Z",
        "2026-01-01T00:00:00",
        "2026-01-01T00:00:00.Z",
        "2026-01-01T00:00:00+2:00",
        "2026-01-01T00:00:00+24:00",
        "2026-01-01T00:00:00+02:60",
        "2026-01-01T00:00:00+0200",
        "2026-01-01T00:00:00Zx",
        "2026-1-01T00:00:00Z",
        "26-01-01T00:00:00Z",
        "2026-01-01X00:00:00Z",
        "",
        "yesterday",
    };
    fx f;
    fx_init(&f, "ts:timestamp_ms");
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char doc[128], msg[128];
        snprintf(doc, sizeof doc, "{\"ts\":\"%s\"}", bad[i]);
        snprintf(msg, sizeof msg, "field 'ts': not an RFC 3339 timestamp: '%s'", bad[i]);
        expect_error(&f, doc, WR_EMALFORMED, msg);
    }
    fx_fini(&f);
}

static void a_long_bad_timestamp_is_quoted_shortened(void **s)
{
    char doc[256];
    fx f;
    fx_init(&f, "ts:timestamp_ms");
    snprintf(doc, sizeof doc, "{\"ts\":\"%0100d\"}", 7);
    expect_error(&f, doc, WR_EMALFORMED,
                 "field 'ts': not an RFC 3339 timestamp: "
                 "'0000000000000000000000000000000000000000000000000000000000000000...'");
    fx_fini(&f);
}

/* ---- missing, null, unused, duplicate ---- */

static void missing_required_field_is_an_error(void **s)
{
    fx f;
    fx_init(&f, "user:string n:long?");
    expect_error(&f, "{\"n\":1}", WR_EMALFORMED, "missing required field 'user'");
    expect_error(&f, "{}", WR_EMALFORMED, "missing required field 'user'");
    fx_fini(&f);
}

static void null_for_a_required_field_is_an_error(void **s)
{
    fx f;
    fx_init(&f, "user:string");
    expect_error(&f, "{\"user\":null}", WR_EMALFORMED, "field 'user': null for a required field");
    fx_fini(&f);
}

static void missing_or_null_optional_fields_are_null(void **s)
{
    fx f;
    fx_init(&f, "a:string? b:long? c:double? d:bool? e:timestamp_ms?");
    expect_ok(&f, "{\"a\":null,\"c\":null,\"e\":null}");
    for (int i = 0; i < 5; i++) {
        assert_int_equal(f.row[i].type, WR_T_NULL);
        assert_int_equal(f.row[i].len, 0);
    }
    expect_ok(&f, "{}");
    for (int i = 0; i < 5; i++)
        assert_int_equal(f.row[i].type, WR_T_NULL);
    fx_fini(&f);
}

static void unused_fields_are_null_and_never_converted(void **s)
{
    const bool used[] = {true, false, false};
    fx f;
    fx_init_used(&f, "user:string n:long ts:timestamp_ms", used);
    /* n has the wrong kind and ts is missing, but neither is used */
    expect_ok(&f, "{\"n\":\"not a number\",\"user\":\"x\"}");
    assert_str_value(&f.row[0], "x", 1);
    assert_int_equal(f.row[1].type, WR_T_NULL);
    assert_int_equal(f.row[2].type, WR_T_NULL);
    assert_int_equal(f.arena.used, 1);
    fx_fini(&f);
}

static void unused_members_are_still_validated(void **s)
{
    fx f;
    fx_init(&f, "user:string");
    expect_error(&f, "{\"user\":\"a\",\"junk\":[1,2,}]}", WR_EMALFORMED,
                 "invalid JSON at byte 24: expected a value");
    expect_error(&f, "{\"junk\":{\"k\":\"\\q\"},\"user\":\"a\"}", WR_EMALFORMED,
                 "invalid JSON at byte 14: invalid escape '\\q' in string");
    expect_error(&f, "{\"junk\":01,\"user\":\"a\"}", WR_EMALFORMED,
                 "invalid JSON at byte 9: invalid number: leading zeros are not allowed");
    fx_fini(&f);
}

static void unknown_members_of_every_kind_are_skipped(void **s)
{
    fx f;
    fx_init(&f, "user:string");
    expect_ok(&f, " {\"a\":{\"b\":[1,-2.5e3,\"x\\\"]\",{},[],true,false,null,{\"c\":{}}]},"
                  "\"e\\u00e9\":\"\\ud83d\\ude00\",\"n\":0,\"user\" : \"u\" ,\"z\":[[[]]]} \n\t\r");
    assert_str_value(&f.row[0], "u", 1);
    fx_fini(&f);
}

static void duplicate_member_last_one_wins(void **s)
{
    fx f;
    fx_init(&f, "user:string n:long?");
    expect_ok(&f, "{\"user\":\"first\",\"n\":1,\"user\":\"second\",\"n\":null}");
    assert_str_value(&f.row[0], "second", 6);
    assert_int_equal(f.row[1].type, WR_T_NULL);
    expect_ok(&f, "{\"user\":null,\"user\":\"x\"}");
    assert_str_value(&f.row[0], "x", 1);
    expect_error(&f, "{\"user\":\"x\",\"user\":null}", WR_EMALFORMED,
                 "field 'user': null for a required field");
    fx_fini(&f);
}

static void escaped_key_matches_its_field(void **s)
{
    fx f;
    fx_init(&f, "user:string gr\xc3\xb6\xc3\x9f"
                "e:long? emoji\xf0\x9f\x98\x80:bool?");
    expect_ok(&f, "{\"\\u0075ser\":\"a\",\"gr\\u00f6\\u00DFe\":3,\"emoji\\ud83d\\ude00\":true}");
    assert_str_value(&f.row[0], "a", 1);
    assert_int_equal(f.row[1].u.i, 3);
    assert_int_equal(f.row[2].u.i, 1);
    expect_ok(&f, "{\"us\\u0065r\":\"b\"}");
    assert_str_value(&f.row[0], "b", 1);
    expect_ok(&f, "{\"use\\/r\":\"x\",\"user\":\"c\",\"use\\r\":1,\"\\u0075se\":1}");
    assert_str_value(&f.row[0], "c", 1);
    expect_ok(&f, "{\"gr\xc3\xb6\xc3\x9f"
                  "e\":4,\"user\":\"d\"}");
    assert_int_equal(f.row[1].u.i, 4);
    fx_fini(&f);
}

static void many_fields_with_similar_names_are_all_found(void **s)
{
    char spec[2048] = "", doc[4096] = "{";
    fx f;
    /* same length, same first and last byte: they all share one hash */
    for (int i = 0; i < 40; i++) {
        char part[64];
        snprintf(part, sizeof part, "%sf%02dx:long", i ? " " : "", i);
        strcat(spec, part);
        snprintf(part, sizeof part, "%s\"f%02dx\":%d", i ? "," : "", 39 - i, 39 - i);
        strcat(doc, part);
    }
    strcat(doc, ",\"f40x\":1,\"f0x\":2}");
    fx_init(&f, spec);
    expect_ok(&f, doc);
    for (int i = 0; i < 40; i++)
        assert_int_equal(f.row[i].u.i, i);
    fx_fini(&f);
}

static void empty_schema_accepts_any_object(void **s)
{
    fx f;
    fx_init(&f, "");
    expect_ok(&f, "{}");
    expect_ok(&f, "{\"a\":[1,{\"b\":null}]}");
    expect_error(&f, "[]", WR_EMALFORMED,
                 "invalid JSON at byte 0: expected '{': a record must be a JSON object");
    fx_fini(&f);
}

/* ---- strings ---- */

static void escapes_are_undone_into_the_arena(void **s)
{
    fx f;
    fx_init(&f, "s:string");
    expect_ok(&f, "{\"s\":\"a\\\"b\\\\c\\/d\\be\\ff\\ng\\rh\\ti\"}");
    assert_str_value(&f.row[0], "a\"b\\c/d\be\ff\ng\rh\ti", 17);
    expect_ok(&f, "{\"s\":\"\\u00e9\\u20AC\\ud83d\\ude00\\u0041\"}");
    assert_str_value(&f.row[0],
                     "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"
                     "A",
                     10);
    expect_ok(&f, "{\"s\":\"nul\\u0000inside\"}");
    assert_str_value(&f.row[0], "nul\0inside", 10);
    expect_ok(&f, "{\"s\":\"\"}");
    assert_int_equal(f.row[0].type, WR_T_STRING);
    assert_int_equal(f.row[0].len, 0);
    fx_fini(&f);
}

static void surrogate_pairs_become_one_four_byte_character(void **s)
{
    fx f;
    fx_init(&f, "s:string");
    /* U+10000 and U+10FFFF, the ends of the supplementary planes */
    expect_ok(&f, "{\"s\":\"\\uD800\\uDC00\\uDBFF\\uDFFF\"}");
    assert_str_value(&f.row[0], "\xf0\x90\x80\x80\xf4\x8f\xbf\xbf", 8);
    fx_fini(&f);
}

static void raw_utf8_passes_through(void **s)
{
    const char *text = "\xc3\xa9 \xe2\x82\xac \xef\xbf\xbf \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf \x7f";
    char doc[128];
    fx f;
    fx_init(&f, "s:string");
    snprintf(doc, sizeof doc, "{\"s\":\"%s\"}", text);
    expect_ok(&f, doc);
    assert_str_value(&f.row[0], text, strlen(text));
    fx_fini(&f);
}

static void invalid_utf8_is_rejected_at_its_byte(void **s)
{
    static const struct {
        const char *bytes;
        int at; /* index of the offending byte within bytes */
    } cases[] = {
        {"\x80", 0},
        {"\xc0\xaf", 0},
        {"\xc1\xbf", 0},
        {"\xe0\x80\x80", 0},
        {"\xed\xa0\x80", 0},
        {"\xf0\x80\x80\x80", 0},
        {"\xf4\x90\x80\x80", 0},
        {"\xf5\x80\x80\x80", 0},
        {"\xff", 0},
        {"\xe2\x82", 0},
        {"ab\xc3", 2},
        {"\xc3\x28", 0},
        {"ok\xc3\xa9\xe2\x28\xa1", 4},
    };
    const bool unused[] = {false};
    fx f, g;
    fx_init(&f, "s:string");
    fx_init_used(&g, "s:string", unused);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char doc[64], msg[128];
        uint8_t bad = (uint8_t)cases[i].bytes[cases[i].at];
        /* in a value: the string body starts at byte 6 of {"s":" */
        snprintf(doc, sizeof doc, "{\"s\":\"%s\"}", cases[i].bytes);
        snprintf(msg, sizeof msg, "invalid JSON at byte %d: invalid UTF-8 byte 0x%02x in string",
                 6 + cases[i].at, bad);
        expect_error(&f, doc, WR_EMALFORMED, msg);
        expect_error(&g, doc, WR_EMALFORMED, msg);
        /* in a key: the key body starts at byte 8 of {"s":1," */
        snprintf(doc, sizeof doc, "{\"s\":1,\"%s\":1}", cases[i].bytes);
        snprintf(msg, sizeof msg, "invalid JSON at byte %d: invalid UTF-8 byte 0x%02x in string",
                 8 + cases[i].at, bad);
        expect_error(&f, doc, WR_EMALFORMED, msg);
        expect_error(&g, doc, WR_EMALFORMED, msg);
    }
    fx_fini(&f);
    fx_fini(&g);
}

/* ---- syntax errors ---- */

static const struct {
    const char *doc;
    const char *msg;
} syntax_cases[] = {
    {"", "invalid JSON at byte 0: unexpected end of input (expected a JSON object)"},
    {" \n", "invalid JSON at byte 2: unexpected end of input (expected a JSON object)"},
    {"[1]", "invalid JSON at byte 0: expected '{': a record must be a JSON object"},
    {"\"a\"", "invalid JSON at byte 0: expected '{': a record must be a JSON object"},
    {"42", "invalid JSON at byte 0: expected '{': a record must be a JSON object"},
    {"null", "invalid JSON at byte 0: expected '{': a record must be a JSON object"},
    {"\xef\xbb\xbf{}", "invalid JSON at byte 0: expected '{': a record must be a JSON object"},
    {"{", "invalid JSON at byte 1: unexpected end of input (expected a string key or '}')"},
    {"{,}", "invalid JSON at byte 1: expected a string key or '}'"},
    {"{a:1}", "invalid JSON at byte 1: expected a string key or '}'"},
    {"{'a':1}", "invalid JSON at byte 1: expected a string key or '}'"},
    {"{/**/}", "invalid JSON at byte 1: expected a string key or '}'"},
    {"{\"a\"", "invalid JSON at byte 4: unexpected end of input (expected ':' after object key)"},
    {"{\"a\" 1}", "invalid JSON at byte 5: expected ':' after object key"},
    {"{\"a\"=1}", "invalid JSON at byte 4: expected ':' after object key"},
    {"{\"a\":}", "invalid JSON at byte 5: expected a value"},
    {"{\"a\":", "invalid JSON at byte 5: unexpected end of input (expected a value)"},
    {"{\"a\":1", "invalid JSON at byte 6: unexpected end of input "
                 "(expected ',' or '}' after object member)"},
    {"{\"a\":1 \"b\":2}", "invalid JSON at byte 7: expected ',' or '}' after object member"},
    {"{\"a\":1]", "invalid JSON at byte 6: expected ',' or '}' after object member"},
    {"{\"a\":1,}", "invalid JSON at byte 7: expected a string key after ','"},
    {"{\"a\":1,,\"b\":2}", "invalid JSON at byte 7: expected a string key after ','"},
    {"{\"a\":[1,]}", "invalid JSON at byte 8: expected a value"},
    {"{\"a\":[1 2]}", "invalid JSON at byte 8: expected ',' or ']' after array element"},
    {"{\"a\":[1}", "invalid JSON at byte 7: expected ',' or ']' after array element"},
    {"{\"a\":[", "invalid JSON at byte 6: unexpected end of input (expected a value)"},
    {"{\"a\":{\"b\" 1}}", "invalid JSON at byte 10: expected ':' after object key"},
    {"{\"a\":{\"b\":1,}}", "invalid JSON at byte 12: expected a string key after ','"},
    {"{\"a\":{1:2}}", "invalid JSON at byte 6: expected a string key or '}'"},
    {"{\"a\":tru}", "invalid JSON at byte 5: invalid literal (expected true, false or null)"},
    {"{\"a\":True}", "invalid JSON at byte 5: expected a value"},
    {"{\"a\":nul", "invalid JSON at byte 5: invalid literal (expected true, false or null)"},
    {"{\"a\":fals}", "invalid JSON at byte 5: invalid literal (expected true, false or null)"},
    {"{\"a\":truex}", "invalid JSON at byte 9: expected ',' or '}' after object member"},
    {"{\"a\":NaN}", "invalid JSON at byte 5: expected a value"},
    {"{\"a\":Infinity}", "invalid JSON at byte 5: expected a value"},
    {"{\"a\":01}", "invalid JSON at byte 6: invalid number: leading zeros are not allowed"},
    {"{\"a\":-01}", "invalid JSON at byte 7: invalid number: leading zeros are not allowed"},
    {"{\"a\":-}", "invalid JSON at byte 6: invalid number: expected a digit after '-'"},
    {"{\"a\":-a}", "invalid JSON at byte 6: invalid number: expected a digit after '-'"},
    {"{\"a\":+1}", "invalid JSON at byte 5: expected a value"},
    {"{\"a\":.5}", "invalid JSON at byte 5: expected a value"},
    {"{\"a\":1.}", "invalid JSON at byte 7: invalid number: expected a digit after '.'"},
    {"{\"a\":1.e5}", "invalid JSON at byte 7: invalid number: expected a digit after '.'"},
    {"{\"a\":1e}", "invalid JSON at byte 7: invalid number: expected a digit in the exponent"},
    {"{\"a\":1e+}", "invalid JSON at byte 8: invalid number: expected a digit in the exponent"},
    {"{\"a\":1", "invalid JSON at byte 6: unexpected end of input "
                 "(expected ',' or '}' after object member)"},
    {"{\"a\":1.", "invalid JSON at byte 7: unexpected end of input "
                  "(invalid number: expected a digit after '.')"},
    {"{\"a\":0x10}", "invalid JSON at byte 6: expected ',' or '}' after object member"},
    {"{\"a\":1.5.3}", "invalid JSON at byte 8: expected ',' or '}' after object member"},
    {"{\"a\":\"x}", "invalid JSON at byte 5: unterminated string"},
    {"{\"a\":\"x\\", "invalid JSON at byte 5: unterminated string"},
    {"{\"a", "invalid JSON at byte 1: unterminated string"},
    {"{\"a\":\"\\x\"}", "invalid JSON at byte 6: invalid escape '\\x' in string"},
    {"{\"a\":\"\\U0041\"}", "invalid JSON at byte 6: invalid escape '\\U' in string"},
    {"{\"a\":\"\\\x01\"}", "invalid JSON at byte 6: invalid escape in string"},
    {"{\"a\":\"\\u12G4\"}", "invalid JSON at byte 6: invalid \\u escape: expected 4 hex digits"},
    {"{\"a\":\"\\u12\"}", "invalid JSON at byte 6: invalid \\u escape: expected 4 hex digits"},
    {"{\"a\":\"\\u", "invalid JSON at byte 6: invalid \\u escape: expected 4 hex digits"},
    {"{\"a\":\"\\ud800\"}", "invalid JSON at byte 6: unpaired high surrogate \\uD800 in string"},
    {"{\"a\":\"\\uDBFFx\"}", "invalid JSON at byte 6: unpaired high surrogate \\uDBFF in string"},
    {"{\"a\":\"\\ud800\\u0041\"}",
     "invalid JSON at byte 6: unpaired high surrogate \\uD800 in string"},
    {"{\"a\":\"\\ud800\\ud800\"}",
     "invalid JSON at byte 6: unpaired high surrogate \\uD800 in string"},
    {"{\"a\":\"\\udc00\"}", "invalid JSON at byte 6: unpaired low surrogate \\uDC00 in string"},
    {"{\"a\":\"x\ny\"}",
     "invalid JSON at byte 7: control character 0x0a in string (must be escaped)"},
    {"{\"a\":\"\t\"}",
     "invalid JSON at byte 6: control character 0x09 in string (must be escaped)"},
    {"{\"a\x1f\":1}", "invalid JSON at byte 3: control character 0x1f in string (must be escaped)"},
    {"{\"a\":1}x", "invalid JSON at byte 7: unexpected data after the top-level object"},
    {"{\"a\":1} {}", "invalid JSON at byte 8: unexpected data after the top-level object"},
    {"{}\n,", "invalid JSON at byte 3: unexpected data after the top-level object"},
};

static void each_syntax_error_names_its_byte_offset(void **s)
{
    const bool unused[] = {false};
    fx used_a, unused_a, long_a;
    fx_init(&used_a, "a:string?");
    fx_init_used(&unused_a, "a:string?", unused);
    fx_init(&long_a, "a:long? b:long?"); /* a string value would also be a field error */
    for (size_t i = 0; i < sizeof syntax_cases / sizeof syntax_cases[0]; i++) {
        expect_error(&used_a, syntax_cases[i].doc, WR_EMALFORMED, syntax_cases[i].msg);
        expect_error(&unused_a, syntax_cases[i].doc, WR_EMALFORMED, syntax_cases[i].msg);
        expect_error(&long_a, syntax_cases[i].doc, WR_EMALFORMED, syntax_cases[i].msg);
    }
    fx_fini(&used_a);
    fx_fini(&unused_a);
    fx_fini(&long_a);
}

static void a_nul_byte_is_never_part_of_the_json(void **s)
{
    fx f;
    fx_init(&f, "a:long?");
    assert_int_equal(fx_decode_n(&f, "{\"a\":1}\0", 8), WR_EMALFORMED);
    assert_string_equal(f.eb.msg,
                        "invalid JSON at byte 7: unexpected data after the top-level object");
    assert_int_equal(fx_decode_n(&f, "{\"a\":\"\0\"}", 9), WR_EMALFORMED);
    assert_string_equal(
        f.eb.msg, "invalid JSON at byte 6: control character 0x00 in string (must be escaped)");
    fx_fini(&f);
}

static void syntax_error_wins_over_an_earlier_field_error(void **s)
{
    fx f;
    fx_init(&f, "n:long user:string");
    expect_error(&f, "{\"n\":\"x\",\"user\":\"a\",\"b\":}", WR_EMALFORMED,
                 "invalid JSON at byte 24: expected a value");
    /* and over a missing required field */
    expect_error(&f, "{\"n\":1", WR_EMALFORMED,
                 "invalid JSON at byte 6: unexpected end of input "
                 "(expected ',' or '}' after object member)");
    fx_fini(&f);
}

/* Builds {"a": <levels nested arrays around 1>} into buf. */
static char *nested(int levels)
{
    size_t n = 0;
    char *buf = malloc((size_t)levels * 2 + 16);
    assert_non_null(buf);
    n += (size_t)sprintf(buf, "{\"a\":");
    for (int i = 0; i < levels; i++)
        buf[n++] = '[';
    buf[n++] = '1';
    for (int i = 0; i < levels; i++)
        buf[n++] = ']';
    buf[n++] = '}';
    buf[n] = '\0';
    return buf;
}

static void nesting_is_limited_to_the_maximum_depth(void **s)
{
    const bool unused[] = {false};
    char msg[128], *ok = nested(WR_JSON_MAX_DEPTH - 1), *deep = nested(WR_JSON_MAX_DEPTH);
    char objs[512];
    size_t n = 0;
    fx f, g;
    fx_init(&f, "a:string?");
    fx_init_used(&g, "a:string?", unused);
    /* the top-level object is level 1, so 63 arrays inside it reach the limit */
    expect_ok(&g, ok);
    expect_error(&f, ok, WR_EMALFORMED, "field 'a': expected string, got array");
    /* the 64th array is level 65; it starts at byte 5 + 63 */
    snprintf(msg, sizeof msg, "invalid JSON at byte %d: nesting deeper than %d levels",
             5 + WR_JSON_MAX_DEPTH - 1, WR_JSON_MAX_DEPTH);
    expect_error(&f, deep, WR_EMALFORMED, msg);
    expect_error(&g, deep, WR_EMALFORMED, msg);
    /* the same with objects, including an empty one at the bottom */
    for (int i = 0; i < WR_JSON_MAX_DEPTH; i++)
        n += (size_t)sprintf(objs + n, "{\"k\":");
    objs[n - 5] = '\0';
    strcat(objs, "{}");
    for (int i = 1; i < WR_JSON_MAX_DEPTH; i++)
        strcat(objs, "}");
    expect_ok(&g, objs); /* 63 objects with keys + 1 empty = 64 levels */
    objs[n - 5] = '\0';
    strcat(objs, "{\"k\":{}}");
    for (int i = 1; i < WR_JSON_MAX_DEPTH; i++)
        strcat(objs, "}");
    snprintf(msg, sizeof msg, "invalid JSON at byte %zu: nesting deeper than %d levels", n,
             WR_JSON_MAX_DEPTH);
    expect_error(&g, objs, WR_EMALFORMED, msg);
    free(ok);
    free(deep);
    fx_fini(&f);
    fx_fini(&g);
}

static void very_deep_input_fails_without_recursing(void **s)
{
    size_t levels = 100000, n = 0;
    char *buf = malloc(levels + 16);
    fx f;
    fx_init(&f, "a:long?");
    assert_non_null(buf);
    n += (size_t)sprintf(buf, "{\"b\":");
    memset(buf + n, '[', levels);
    n += levels;
    assert_int_equal(fx_decode_n(&f, buf, n), WR_EMALFORMED);
    free(buf);
    fx_fini(&f);
}

/* ---- arena and failure state ---- */

static void a_full_arena_is_too_big_and_leaves_it_untouched(void **s)
{
    char small[8];
    wr_value row[2];
    wr_errbuf eb;
    wr_arena a;
    fx f;
    fx_init(&f, "s:string t:string?");
    wr_arena_init(&a, small, sizeof small);
    a.used = 2;
    assert_int_equal(wr_json_decode(f.dec, "{\"s\":\"1234567\"}", 15, row, &a, &eb), WR_ETOOBIG);
    assert_string_equal(eb.msg, "field 's': no room in the record arena (7 bytes needed, 6 free)");
    assert_int_equal(a.used, 2);
    assert_int_equal(row[0].type, WR_T_NULL);
    /* exactly full is fine */
    assert_int_equal(wr_json_decode(f.dec, "{\"s\":\"123456\"}", 14, row, &a, &eb), WR_OK);
    assert_int_equal(a.used, 8);
    assert_memory_equal(row[0].u.s, "123456", 6);
    /* an escaped string that is longer than the room but unescapes into it */
    a.used = 2;
    assert_int_equal(wr_json_decode(f.dec, "{\"s\":\"\\u00e9\\u00e9\\u00e9\"}", 26, row, &a, &eb),
                     WR_OK);
    assert_int_equal(a.used, 8);
    a.used = 3;
    assert_int_equal(wr_json_decode(f.dec, "{\"s\":\"\\u00e9\\u00e9\\u00e9\"}", 26, row, &a, &eb),
                     WR_ETOOBIG);
    assert_string_equal(eb.msg, "field 's': no room in the record arena (6 bytes needed, 5 free)");
    assert_int_equal(a.used, 3);
    /* no arena at all: only empty strings fit */
    assert_int_equal(wr_json_decode(f.dec, "{\"s\":\"\"}", 8, row, NULL, &eb), WR_OK);
    assert_int_equal(row[0].len, 0);
    assert_int_equal(wr_json_decode(f.dec, "{\"s\":\"x\"}", 9, row, NULL, &eb), WR_ETOOBIG);
    fx_fini(&f);
}

static void field_errors_win_over_a_full_arena(void **s)
{
    char small[4];
    wr_value row[2];
    wr_errbuf eb;
    wr_arena a;
    fx f;
    fx_init(&f, "s:string n:long");
    wr_arena_init(&a, small, sizeof small);
    assert_int_equal(wr_json_decode(f.dec, "{\"s\":\"123456\",\"n\":true}", 23, row, &a, &eb),
                     WR_EMALFORMED);
    assert_string_equal(eb.msg, "field 'n': expected long, got boolean");
    /* and a full arena wins over a missing field: retrying with room will tell */
    assert_int_equal(wr_json_decode(f.dec, "{\"s\":\"123456\"}", 14, row, &a, &eb), WR_ETOOBIG);
    fx_fini(&f);
}

static void a_failed_decode_leaves_nulls_and_the_arena_as_it_was(void **s)
{
    fx f;
    fx_init(&f, "a:string b:string n:long");
    f.arena.used = 10;
    expect_error(&f, "{\"a\":\"xx\",\"b\":\"yy\",\"n\":\"z\"}", WR_EMALFORMED,
                 "field 'n': expected long, got string");
    assert_int_equal(f.arena.used, 10);
    for (int i = 0; i < 3; i++)
        assert_int_equal(f.row[i].type, WR_T_NULL);
    expect_error(&f, "{\"a\":\"xx\",\"b\":\"yy\"}", WR_EMALFORMED, "missing required field 'n'");
    assert_int_equal(f.arena.used, 10);
    fx_fini(&f);
}

static void a_null_errbuf_is_allowed(void **s)
{
    fx f;
    fx_init(&f, "n:long");
    assert_int_equal(wr_json_decode(f.dec, "{", 1, f.row, &f.arena, NULL), WR_EMALFORMED);
    assert_int_equal(wr_json_decode(f.dec, "{\"n\":\"\"}", 8, f.row, &f.arena, NULL),
                     WR_EMALFORMED);
    assert_int_equal(wr_json_decode(f.dec, "{}", 2, f.row, &f.arena, NULL), WR_EMALFORMED);
    assert_int_equal(wr_json_decode(f.dec, NULL, 0, f.row, &f.arena, NULL), WR_EMALFORMED);
    fx_fini(&f);
}

/* ---- encoder ---- */

static void encode_str(wr_buf *b, const char *s, size_t len)
{
    wr_buf_clear(b);
    assert_int_equal(wr_json_encode_string(b, s, len), WR_OK);
    assert_true(wr_buf_putc(b, '\0') == WR_OK);
    b->len--;
}

static void encoder_escapes_quotes_backslashes_and_control_characters(void **s)
{
    wr_buf b;
    wr_buf_init(&b, 0);
    encode_str(&b, "a\"b\\c/d", 7);
    assert_string_equal(b.p, "\"a\\\"b\\\\c/d\"");
    encode_str(&b, "\n\r\t\b\f\x01\x1f\x7f", 8);
    assert_string_equal(b.p, "\"\\n\\r\\t\\u0008\\u000c\\u0001\\u001f\x7f\"");
    encode_str(&b, "x\0y", 3);
    assert_string_equal(b.p, "\"x\\u0000y\"");
    encode_str(&b, "", 0);
    assert_string_equal(b.p, "\"\"");
    encode_str(&b, NULL, 0);
    assert_string_equal(b.p, "\"\"");
    wr_buf_fini(&b);
}

static void encoder_keeps_valid_utf8_and_replaces_invalid_bytes(void **s)
{
    wr_buf b;
    wr_buf_init(&b, 0);
    encode_str(&b, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9);
    assert_string_equal(b.p, "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"");
    encode_str(&b,
               "a\xff"
               "b",
               3);
    assert_string_equal(b.p, "\"a\\ufffdb\"");
    encode_str(&b, "\xe2\x82", 2); /* truncated sequence: each byte replaced */
    assert_string_equal(b.p, "\"\\ufffd\\ufffd\"");
    encode_str(&b, "\xed\xa0\x80", 3); /* an encoded surrogate */
    assert_string_equal(b.p, "\"\\ufffd\\ufffd\\ufffd\"");
    encode_str(&b,
               "\xc0\xaf"
               "ok",
               4); /* overlong '/' */
    assert_string_equal(b.p, "\"\\ufffd\\ufffdok\"");
    wr_buf_fini(&b);
}

static void encoder_output_of_every_byte_decodes_back(void **s)
{
    char all[256];
    wr_buf b;
    fx f;
    fx_init(&f, "s:string");
    for (int i = 0; i < 256; i++)
        all[i] = (char)i;
    wr_buf_init(&b, 0);
    assert_int_equal(wr_buf_append(&b, "{\"s\":", 5), WR_OK);
    assert_int_equal(wr_json_encode_string(&b, all, 128), WR_OK); /* ASCII: unchanged */
    assert_int_equal(wr_buf_putc(&b, '}'), WR_OK);
    assert_int_equal(fx_decode_n(&f, b.p, b.len), WR_OK);
    assert_str_value(&f.row[0], all, 128);
    wr_buf_clear(&b);
    assert_int_equal(wr_buf_append(&b, "{\"s\":", 5), WR_OK);
    assert_int_equal(wr_json_encode_string(&b, all, 256), WR_OK); /* high half replaced */
    assert_int_equal(wr_buf_putc(&b, '}'), WR_OK);
    assert_int_equal(fx_decode_n(&f, b.p, b.len), WR_OK);
    assert_int_equal(f.row[0].len, 128 + 128 * 3);
    assert_memory_equal(f.row[0].u.s, all, 128);
    assert_memory_equal(f.row[0].u.s + 128, "\xef\xbf\xbd", 3);
    wr_buf_fini(&b);
    fx_fini(&f);
}

static void encoder_writes_fields_in_schema_order(void **s)
{
    wr_value row[7];
    wr_buf b;
    fx f;
    fx_init(&f, "user:string n:long x:double ok:bool ts:timestamp_ms opt:string? "
                "q\"uote:long");
    row[0] = wr_value_str("ann", 3);
    row[1] = wr_value_long(INT64_MIN);
    row[2] = wr_value_double(1.5);
    row[3] = wr_value_bool(true);
    row[4] = wr_value_ts(1700000000000LL);
    row[5] = wr_value_null();
    row[6] = wr_value_long(INT64_MAX);
    wr_buf_init(&b, 0);
    assert_int_equal(wr_buf_append(&b, "prefix ", 7), WR_OK);
    assert_int_equal(wr_json_encode(&f.schema, row, &b), WR_OK);
    assert_int_equal(wr_buf_putc(&b, '\0'), WR_OK);
    assert_string_equal(b.p, "prefix {\"user\":\"ann\",\"n\":-9223372036854775808,\"x\":1.5,"
                             "\"ok\":true,\"ts\":1700000000000,\"opt\":null,"
                             "\"q\\\"uote\":9223372036854775807}");
    wr_buf_fini(&b);
    fx_fini(&f);
}

static const char *encode_double(wr_buf *b, double d)
{
    wr_schema sc = {0};
    wr_value v = wr_value_double(d);
    assert_true(wr_schema_add(&sc, "x", WR_T_DOUBLE, true));
    wr_buf_clear(b);
    assert_int_equal(wr_json_encode(&sc, &v, b), WR_OK);
    assert_int_equal(wr_buf_putc(b, '\0'), WR_OK);
    wr_schema_fini(&sc);
    return b->p;
}

static void encoder_writes_doubles_in_their_shortest_round_trip_form(void **s)
{
    wr_buf b;
    wr_buf_init(&b, 0);
    assert_string_equal(encode_double(&b, 0.1), "{\"x\":0.1}");
    assert_string_equal(encode_double(&b, 1.5), "{\"x\":1.5}");
    assert_string_equal(encode_double(&b, 1.0 / 3), "{\"x\":0.3333333333333333}");
    assert_string_equal(encode_double(&b, 0.1 + 0.2), "{\"x\":0.30000000000000004}");
    assert_string_equal(encode_double(&b, 3.0), "{\"x\":3}"); /* integral: no ".0" */
    assert_string_equal(encode_double(&b, -42.0), "{\"x\":-42}");
    assert_string_equal(encode_double(&b, 0.0), "{\"x\":0}");
    assert_string_equal(encode_double(&b, -0.0), "{\"x\":-0}");
    assert_string_equal(encode_double(&b, 9007199254740992.0), "{\"x\":9007199254740992}");
    assert_string_equal(encode_double(&b, 1e300), "{\"x\":1e+300}");
    assert_string_equal(encode_double(&b, 1.5e-7), "{\"x\":1.5e-07}");
    assert_string_equal(encode_double(&b, DBL_MAX), "{\"x\":1.7976931348623157e+308}");
    assert_string_equal(encode_double(&b, NAN), "{\"x\":null}");
    assert_string_equal(encode_double(&b, INFINITY), "{\"x\":null}");
    assert_string_equal(encode_double(&b, -INFINITY), "{\"x\":null}");
    wr_buf_fini(&b);
}

static uint64_t rng_state;

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void encoded_doubles_read_back_bit_for_bit(void **s)
{
    wr_buf b;
    wr_buf_init(&b, 0);
    rng_state = 0x2545F4914F6CDD1DULL;
    for (int i = 0; i < 20000; i++) {
        uint64_t bits = rng();
        double d, back;
        const char *text;
        memcpy(&d, &bits, sizeof d);
        if (!isfinite(d))
            continue;
        text = encode_double(&b, d);
        back = strtod(text + 5, NULL); /* the C library, not our decoder */
        if (memcmp(&back, &d, sizeof d) != 0 && !(d == 0 && back == 0))
            fail_msg("%.17g encoded as %s", d, text);
    }
    wr_buf_fini(&b);
}

static void encoder_fails_cleanly_past_the_buffer_cap(void **s)
{
    wr_value row[1] = {wr_value_str("a long string value", 19)};
    wr_buf b;
    fx f;
    fx_init(&f, "s:string");
    wr_buf_init(&b, 16);
    assert_int_equal(wr_buf_append(&b, "ab", 2), WR_OK);
    assert_int_equal(wr_json_encode(&f.schema, row, &b), WR_ETOOBIG);
    assert_int_equal(b.len, 2);
    assert_int_equal(wr_json_encode_string(&b, "\x01\x01\x01", 3), WR_ETOOBIG);
    assert_int_equal(b.len, 2);
    wr_buf_fini(&b);
    fx_fini(&f);
}

/* A random string: mostly ASCII, some control characters and escapes, some multi-byte
 * characters (all valid UTF-8, so it survives the round trip unchanged). */
static size_t random_utf8(char *out, size_t max)
{
    size_t n = 0, want = rng() % max;
    while (n + 4 <= want) {
        uint64_t r = rng() % 10;
        if (r < 5) {
            out[n++] = (char)(0x20 + rng() % 0x60);
        } else if (r == 5) {
            out[n++] = (char)(rng() % 0x20);
        } else if (r == 6) {
            out[n++] = rng() % 2 ? '"' : '\\';
        } else {
            uint8_t u[4];
            uint32_t cp;
            do
                cp = (uint32_t)(0x80 + rng() % 0x10FF80);
            while (cp >= 0xD800 && cp <= 0xDFFF);
            if (cp < 0x800) {
                u[0] = (uint8_t)(0xC0 | cp >> 6);
                u[1] = (uint8_t)(0x80 | (cp & 0x3F));
                memcpy(out + n, u, 2);
                n += 2;
            } else if (cp < 0x10000) {
                u[0] = (uint8_t)(0xE0 | cp >> 12);
                u[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
                u[2] = (uint8_t)(0x80 | (cp & 0x3F));
                memcpy(out + n, u, 3);
                n += 3;
            } else {
                u[0] = (uint8_t)(0xF0 | cp >> 18);
                u[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3F));
                u[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
                u[3] = (uint8_t)(0x80 | (cp & 0x3F));
                memcpy(out + n, u, 4);
                n += 4;
            }
        }
    }
    return n;
}

static void random_rows_survive_encode_then_decode(void **s)
{
    static const int64_t edge[] = {0,
                                   1,
                                   -1,
                                   INT64_MAX,
                                   INT64_MIN,
                                   INT64_MAX - 1,
                                   INT64_MIN + 1,
                                   9007199254740993LL,
                                   -1000000000000LL};
    char strs[2][200];
    wr_buf b;
    fx f;
    fx_init(&f, "s:string l:long d:double b:bool t:timestamp_ms "
                "os:string? ol:long? od:double? ob:bool? ot:timestamp_ms?");
    wr_buf_init(&b, 0);
    rng_state = 0x9E3779B97F4A7C15ULL;
    for (int iter = 0; iter < 3000; iter++) {
        wr_value row[10];
        for (int i = 0; i < 10; i++) {
            bool null = i >= 5 && rng() % 3 == 0;
            uint64_t r = rng();
            double d;
            if (null) {
                row[i] = wr_value_null();
                continue;
            }
            switch (i % 5) {
            case 0: {
                size_t n = random_utf8(strs[i / 5], sizeof strs[0]);
                row[i] = wr_value_str(strs[i / 5], (uint32_t)n);
                break;
            }
            case 1:
                row[i] = wr_value_long(r % 4 ? (int64_t)r : edge[r % 9]);
                break;
            case 2:
                do {
                    uint64_t bits = rng();
                    memcpy(&d, &bits, sizeof d);
                    if (r % 3 == 0)
                        d = (double)(int64_t)(bits % 2000001) / 1000 - 1000;
                } while (!isfinite(d));
                row[i] = wr_value_double(d);
                break;
            case 3:
                row[i] = wr_value_bool(r & 1);
                break;
            default:
                row[i] = wr_value_ts(r % 2 ? (int64_t)(r >> 20) : edge[r % 9]);
            }
        }
        wr_buf_clear(&b);
        assert_int_equal(wr_json_encode(&f.schema, row, &b), WR_OK);
        wr_arena_reset(&f.arena);
        if (fx_decode_n(&f, b.p, b.len) != WR_OK)
            fail_msg("row %d: %.*s: %s", iter, (int)b.len, b.p, f.eb.msg);
        for (int i = 0; i < 10; i++) {
            if (!wr_value_equal(&row[i], &f.row[i]))
                fail_msg("row %d field %d differs after %.*s", iter, i, (int)b.len, b.p);
            if (row[i].type == WR_T_DOUBLE && signbit(row[i].u.d) != signbit(f.row[i].u.d))
                fail_msg("row %d field %d lost the sign of zero", iter, i);
        }
    }
    wr_buf_fini(&b);
    fx_fini(&f);
}

static void decoder_new_copies_the_used_mask(void **s)
{
    bool used[2] = {false, true};
    fx f;
    fx_init_used(&f, "a:long b:long", used);
    used[0] = true; /* the caller's array need not outlive the decoder */
    expect_ok(&f, "{\"b\":2}");
    assert_int_equal(f.row[0].type, WR_T_NULL);
    assert_int_equal(f.row[1].u.i, 2);
    wr_json_decoder_free(NULL);
    fx_fini(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_field_type_converts_from_its_json_form),
        cmocka_unit_test(decoded_strings_live_in_the_arena_not_the_input),
        cmocka_unit_test(double_field_reads_every_number_form_exactly),
        cmocka_unit_test(double_field_reads_a_very_long_number),
        cmocka_unit_test(double_overflow_is_a_field_error),
        cmocka_unit_test(long_field_holds_the_whole_int64_range),
        cmocka_unit_test(integer_beyond_int64_is_out_of_range_for_long),
        cmocka_unit_test(long_field_rejects_fractions_and_exponents),
        cmocka_unit_test(wrong_json_kinds_are_field_errors_that_name_the_field),
        cmocka_unit_test(first_field_error_is_the_one_reported),
        cmocka_unit_test(timestamp_field_reads_integer_epoch_milliseconds),
        cmocka_unit_test(rfc3339_timestamps_match_hand_computed_epoch_milliseconds),
        cmocka_unit_test(rfc3339_fractions_are_truncated_to_milliseconds),
        cmocka_unit_test(rfc3339_accepts_lowercase_t_and_z_a_space_and_leap_seconds),
        cmocka_unit_test(invalid_rfc3339_timestamps_are_field_errors_quoting_the_text),
        cmocka_unit_test(a_long_bad_timestamp_is_quoted_shortened),
        cmocka_unit_test(missing_required_field_is_an_error),
        cmocka_unit_test(null_for_a_required_field_is_an_error),
        cmocka_unit_test(missing_or_null_optional_fields_are_null),
        cmocka_unit_test(unused_fields_are_null_and_never_converted),
        cmocka_unit_test(unused_members_are_still_validated),
        cmocka_unit_test(unknown_members_of_every_kind_are_skipped),
        cmocka_unit_test(duplicate_member_last_one_wins),
        cmocka_unit_test(escaped_key_matches_its_field),
        cmocka_unit_test(many_fields_with_similar_names_are_all_found),
        cmocka_unit_test(empty_schema_accepts_any_object),
        cmocka_unit_test(escapes_are_undone_into_the_arena),
        cmocka_unit_test(surrogate_pairs_become_one_four_byte_character),
        cmocka_unit_test(raw_utf8_passes_through),
        cmocka_unit_test(invalid_utf8_is_rejected_at_its_byte),
        cmocka_unit_test(each_syntax_error_names_its_byte_offset),
        cmocka_unit_test(a_nul_byte_is_never_part_of_the_json),
        cmocka_unit_test(syntax_error_wins_over_an_earlier_field_error),
        cmocka_unit_test(nesting_is_limited_to_the_maximum_depth),
        cmocka_unit_test(very_deep_input_fails_without_recursing),
        cmocka_unit_test(a_full_arena_is_too_big_and_leaves_it_untouched),
        cmocka_unit_test(field_errors_win_over_a_full_arena),
        cmocka_unit_test(a_failed_decode_leaves_nulls_and_the_arena_as_it_was),
        cmocka_unit_test(a_null_errbuf_is_allowed),
        cmocka_unit_test(encoder_escapes_quotes_backslashes_and_control_characters),
        cmocka_unit_test(encoder_keeps_valid_utf8_and_replaces_invalid_bytes),
        cmocka_unit_test(encoder_output_of_every_byte_decodes_back),
        cmocka_unit_test(encoder_writes_fields_in_schema_order),
        cmocka_unit_test(encoder_writes_doubles_in_their_shortest_round_trip_form),
        cmocka_unit_test(encoded_doubles_read_back_bit_for_bit),
        cmocka_unit_test(encoder_fails_cleanly_past_the_buffer_cap),
        cmocka_unit_test(random_rows_survive_encode_then_decode),
        cmocka_unit_test(decoder_new_copies_the_used_mask),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
