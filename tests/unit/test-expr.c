/*
 * test-expr.c — the expression compiler and evaluator (common/expr.c).
 *
 * Every expected value below is worked out by hand from the semantics in expr.h and
 * docs/expressions.md, not by calling the code under test. Two rows are used: row1 has
 * every optional field null, row2 has them all set. The schema:
 *
 *   0 l: long = 7          5 ol: long?         (row2: -3)
 *   1 d: double = 2.5      6 od: double?       (row2: 0.5)
 *   2 s: string = "Hello World"   7 os: string? (row2: "abc")
 *   3 b: bool = true       8 ob: bool?         (row2: false)
 *   4 t: timestamp_ms = 1700000000123 (2023-11-14T22:13:20.123Z)   9 ot: timestamp_ms? (row2: 1000)
 *  10 amount: long = 100  11 name: string = "weir"  12 `order id`: long = 42
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "expr.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NFIELDS 13

typedef struct fixture {
    wr_schema schema;
    wr_value row1[NFIELDS];
    wr_value row2[NFIELDS];
    char mem[4096];
    wr_arena scratch;
} fixture;

static int setup(void **state)
{
    static const struct {
        const char *name;
        wr_type type;
        bool optional;
    } fields[NFIELDS] = {
        {"l", WR_T_LONG, false},        {"d", WR_T_DOUBLE, false},    {"s", WR_T_STRING, false},
        {"b", WR_T_BOOL, false},        {"t", WR_T_TIMESTAMP, false}, {"ol", WR_T_LONG, true},
        {"od", WR_T_DOUBLE, true},      {"os", WR_T_STRING, true},    {"ob", WR_T_BOOL, true},
        {"ot", WR_T_TIMESTAMP, true},   {"amount", WR_T_LONG, false}, {"name", WR_T_STRING, false},
        {"order id", WR_T_LONG, false},
    };
    fixture *f = calloc(1, sizeof *f);

    assert_non_null(f);
    for (int i = 0; i < NFIELDS; i++)
        assert_true(wr_schema_add(&f->schema, fields[i].name, fields[i].type, fields[i].optional));
    f->row1[0] = wr_value_long(7);
    f->row1[1] = wr_value_double(2.5);
    f->row1[2] = wr_value_str("Hello World", 11);
    f->row1[3] = wr_value_bool(true);
    f->row1[4] = wr_value_ts(1700000000123);
    for (int i = 5; i <= 9; i++)
        f->row1[i] = wr_value_null();
    f->row1[10] = wr_value_long(100);
    f->row1[11] = wr_value_str("weir", 4);
    f->row1[12] = wr_value_long(42);
    memcpy(f->row2, f->row1, sizeof f->row1);
    f->row2[5] = wr_value_long(-3);
    f->row2[6] = wr_value_double(0.5);
    f->row2[7] = wr_value_str("abc", 3);
    f->row2[8] = wr_value_bool(false);
    f->row2[9] = wr_value_ts(1000);
    wr_arena_init(&f->scratch, f->mem, sizeof f->mem);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    wr_schema_fini(&f->schema);
    free(f);
    return 0;
}

/* ---- helpers: compile + evaluate one expression and compare ---------------------- */

static wr_expr *compile_ok(fixture *f, const char *src)
{
    wr_expr *e = NULL;
    wr_errbuf eb = {{0}};
    wr_err err = wr_expr_compile(src, &f->schema, &e, &eb);

    if (err != WR_OK)
        fail_msg("%s: expected to compile, got %s: %s", src, wr_strerror(err), eb.msg);
    return e;
}

/* Evaluates src over row; fails the test on error. The result is copied into *out and,
 * for strings, into text (the expression that may own it is freed). */
static wr_type eval_ok(fixture *f, const char *src, const wr_value *row, wr_value *out, char *text,
                       size_t cap)
{
    wr_expr *e = compile_ok(f, src);
    wr_errbuf eb = {{0}};
    wr_type t = wr_expr_type(e);
    wr_err err;

    wr_arena_reset(&f->scratch);
    err = wr_expr_eval(e, row, &f->scratch, out, &eb);
    if (err != WR_OK) {
        wr_expr_free(e);
        fail_msg("%s: expected a value, got %s: %s", src, wr_strerror(err), eb.msg);
    }
    if (out->type == WR_T_STRING) {
        assert_true(out->len < cap);
        if (out->len)
            memcpy(text, out->u.s, out->len);
        text[out->len] = '\0';
    }
    wr_expr_free(e);
    return t;
}

static void check_long(fixture *f, const char *src, const wr_value *row, int64_t want)
{
    wr_value v;
    char text[256];
    wr_type t = eval_ok(f, src, row, &v, text, sizeof text);

    if (t != WR_T_LONG || v.type != WR_T_LONG || v.u.i != want)
        fail_msg("%s: expected long %" PRId64 ", got type %s value type %s value %" PRId64, src,
                 want, wr_type_name(t), wr_type_name((wr_type)v.type), v.u.i);
}

static void check_ts(fixture *f, const char *src, const wr_value *row, int64_t want)
{
    wr_value v;
    char text[256];
    wr_type t = eval_ok(f, src, row, &v, text, sizeof text);

    if (t != WR_T_TIMESTAMP || v.type != WR_T_TIMESTAMP || v.u.i != want)
        fail_msg("%s: expected timestamp %" PRId64 ", got %s %" PRId64, src, want,
                 wr_type_name((wr_type)v.type), v.u.i);
}

static void check_double(fixture *f, const char *src, const wr_value *row, double want)
{
    wr_value v;
    char text[256];
    wr_type t = eval_ok(f, src, row, &v, text, sizeof text);

    if (t != WR_T_DOUBLE || v.type != WR_T_DOUBLE ||
        !(v.u.d == want || (isnan(want) && isnan(v.u.d))) ||
        (!isnan(want) && signbit(v.u.d) != signbit(want)))
        fail_msg("%s: expected double %.17g, got %s %.17g", src, want,
                 wr_type_name((wr_type)v.type), v.u.d);
}

static void check_bool(fixture *f, const char *src, const wr_value *row, bool want)
{
    wr_value v;
    char text[256];
    wr_type t = eval_ok(f, src, row, &v, text, sizeof text);

    if (t != WR_T_BOOL || v.type != WR_T_BOOL || v.u.i != (want ? 1 : 0))
        fail_msg("%s: expected %s, got %s %" PRId64, src, want ? "true" : "false",
                 wr_type_name((wr_type)v.type), v.u.i);
}

static void check_str(fixture *f, const char *src, const wr_value *row, const char *want)
{
    wr_value v;
    char text[1024];
    wr_type t = eval_ok(f, src, row, &v, text, sizeof text);

    if (t != WR_T_STRING || v.type != WR_T_STRING || v.len != strlen(want) ||
        memcmp(text, want, v.len) != 0)
        fail_msg("%s: expected '%s', got %s '%s'", src, want, wr_type_name((wr_type)v.type),
                 v.type == WR_T_STRING ? text : "");
}

/* A null result of static type `type`. */
static void check_null(fixture *f, const char *src, const wr_value *row, wr_type type)
{
    wr_value v;
    char text[256];
    wr_type t = eval_ok(f, src, row, &v, text, sizeof text);

    if (v.type != WR_T_NULL || t != type)
        fail_msg("%s: expected a null %s, got a %s of static type %s", src, wr_type_name(type),
                 wr_type_name((wr_type)v.type), wr_type_name(t));
}

static void check_eval_error(fixture *f, const char *src, const wr_value *row, const char *msg)
{
    wr_expr *e = compile_ok(f, src);
    wr_errbuf eb = {{0}};
    wr_value v = wr_value_long(12345); /* must be left alone on failure */
    wr_err err;

    wr_arena_reset(&f->scratch);
    err = wr_expr_eval(e, row, &f->scratch, &v, &eb);
    wr_expr_free(e);
    if (err != WR_EEVAL || strcmp(eb.msg, msg) != 0)
        fail_msg("%s: expected evaluation error '%s', got %s: '%s'", src, msg, wr_strerror(err),
                 err ? eb.msg : "");
    assert_int_equal(v.type, WR_T_LONG);
    assert_int_equal(v.u.i, 12345);
}

static void check_compile_error(fixture *f, const char *src, wr_err want, const char *msg)
{
    wr_expr *e = (wr_expr *)&e; /* must be left alone on failure */
    wr_errbuf eb = {{0}};
    wr_err err = wr_expr_compile(src, &f->schema, &e, &eb);

    if (err == WR_OK) {
        wr_expr_free(e);
        fail_msg("%s: expected compile error '%s', but it compiled", src, msg);
    }
    if (err != want || strcmp(eb.msg, msg) != 0)
        fail_msg("%s: expected %s '%s', got %s '%s'", src, wr_strerror(want), msg, wr_strerror(err),
                 eb.msg);
    assert_ptr_equal(e, (wr_expr *)&e);
}

static void check_nullable(fixture *f, const char *src, bool want)
{
    wr_expr *e = compile_ok(f, src);
    bool got = wr_expr_nullable(e);

    wr_expr_free(e);
    if (got != want)
        fail_msg("%s: expected nullable=%d, got %d", src, want, got);
}

/* ---- arithmetic ------------------------------------------------------------------- */

static void long_arithmetic_follows_precedence_and_associativity(void **state)
{
    fixture *f = *state;
    const wr_value *r = f->row1;

    check_long(f, "l * 2 + 1", r, 15);
    check_long(f, "1 + l * 2", r, 15);
    check_long(f, "l + 2 * 3", r, 13);
    check_long(f, "(l + 2) * 3", r, 27);
    check_long(f, "l - 10", r, -3);
    check_long(f, "l - 2 - 3", r, 2);
    check_long(f, "l / 2", r, 3);
    check_long(f, "l / 2 / 2", r, 1);
    check_long(f, "-l / 2", r, -3);
    check_long(f, "l % 3", r, 1);
    check_long(f, "-l % 3", r, -1);
    check_long(f, "l % -3", r, 1);
    check_long(f, "--l", r, 7);
    check_long(f, "-(-l)", r, 7);
    check_long(f, "amount - l * 2 + `order id` % 5", r, 100 - 14 + 2);
    check_long(f, "l\n+\t1", r, 8);
}

static void mixing_long_and_double_promotes_to_double(void **state)
{
    fixture *f = *state;
    const wr_value *r = f->row1;

    check_double(f, "l + d", r, 9.5);
    check_double(f, "d - l", r, -4.5);
    check_double(f, "l * 0.5", r, 3.5);
    check_double(f, "l / 2.0", r, 3.5);
    check_double(f, "l % 2.5", r, 2.0);
    check_double(f, "d % 1", r, 0.5);
    check_double(f, "-d", r, -2.5);
    check_double(f, "d * d", r, 6.25);
    check_double(f, "1.5e3 + .5", r, 1500.5);
    check_double(f, "2E-2", r, 0.02);
    check_double(f, "1.", r, 1.0);
}

static void double_division_by_zero_follows_ieee(void **state)
{
    fixture *f = *state;
    const wr_value *r = f->row1;

    check_double(f, "d / 0", r, INFINITY);
    check_double(f, "-d / 0.0", r, -INFINITY);
    check_double(f, "(d - d) / 0", r, NAN);
    check_double(f, "d % 0", r, NAN);
    check_bool(f, "(d - d) / 0 == (d - d) / 0", r, false);
    check_bool(f, "(d - d) / 0 != (d - d) / 0", r, true);
}

static void division_by_zero_is_an_eval_error(void **state)
{
    fixture *f = *state;
    const wr_value *r = f->row1;

    check_eval_error(f, "l / 0", r, "division by zero");
    check_eval_error(f, "l % 0", r, "division by zero");
    check_eval_error(f, "amount / (l - 7)", r, "division by zero");
    /* a constant division by zero compiles and fails only when evaluated */
    check_eval_error(f, "1 / 0", r, "division by zero");
}

static void integer_overflow_is_an_eval_error(void **state)
{
    fixture *f = *state;
    const wr_value *r = f->row1;

    check_eval_error(f, "9223372036854775807 + l", r, "integer overflow in '+'");
    check_eval_error(f, "-9223372036854775807 - l", r, "integer overflow in '-'");
    check_eval_error(f, "l * 2000000000000000000", r, "integer overflow in '*'");
    /* l - 7 - 9223372036854775807 - 1 is the most negative long */
    check_eval_error(f, "(l - 7 - 9223372036854775807 - 1) / -1", r, "integer overflow in '/'");
    check_eval_error(f, "-(l - 7 - 9223372036854775807 - 1)", r, "integer overflow in '-'");
    check_eval_error(f, "abs(l - 7 - 9223372036854775807 - 1)", r, "integer overflow in abs()");
    check_eval_error(f, "t + 9223372036854775000", r, "integer overflow in '+'");
    check_long(f, "(l - 7 - 9223372036854775807 - 1) % -1", r, 0);
    check_long(f, "9223372036854775800 + l", r, INT64_MAX);
    check_long(f, "l * 1317624576693539401", r, INT64_MAX);
}

static void the_most_negative_long_can_be_written_as_a_literal(void **state)
{
    fixture *f = *state;

    check_long(f, "-9223372036854775808", f->row1, INT64_MIN);
    check_long(f, "9223372036854775807", f->row1, INT64_MAX);
    check_compile_error(f, "9223372036854775808", WR_ESPEC,
                        "column 1: integer 9223372036854775808 is out of range for long");
    check_compile_error(f, "l + -9223372036854775809", WR_ESPEC,
                        "column 6: integer -9223372036854775809 is out of range for long");
    check_compile_error(f, "1e999", WR_ESPEC, "column 1: number 1e999 is out of range for double");
}

static void timestamps_add_and_subtract_longs_and_each_other(void **state)
{
    fixture *f = *state;

    check_ts(f, "t + 1000", f->row1, 1700000001123);
    check_ts(f, "1000 + t", f->row1, 1700000001123);
    check_ts(f, "t - 123", f->row1, 1700000000000);
    check_long(f, "t - t", f->row1, 0);
    check_long(f, "t - ot", f->row2, 1700000000123 - 1000);
    check_null(f, "t - ot", f->row1, WR_T_LONG);
    check_null(f, "ot + 5", f->row1, WR_T_TIMESTAMP);
    check_bool(f, "t > 1700000000000", f->row1, true);
    check_bool(f, "1700000000123 == t", f->row1, true);
    check_bool(f, "t <= ot", f->row2, false);
    check_bool(f, "t >= t", f->row1, true);
    check_compile_error(f, "l - t", WR_ETYPE,
                        "column 3: cannot apply '-' to long and timestamp_ms");
    check_compile_error(f, "t * 2", WR_ETYPE,
                        "column 3: cannot apply '*' to timestamp_ms and long");
    check_compile_error(f, "t + t", WR_ETYPE,
                        "column 3: cannot apply '+' to timestamp_ms and timestamp_ms");
    check_compile_error(f, "t + 1.5", WR_ETYPE,
                        "column 3: cannot apply '+' to timestamp_ms and double");
    check_compile_error(f, "t < 1.5", WR_ETYPE,
                        "column 3: cannot compare timestamp_ms with double using '<'");
    check_compile_error(f, "-t", WR_ETYPE,
                        "column 2: operand of unary '-' must be a number, got timestamp_ms");
}

/* ---- comparisons ------------------------------------------------------------------ */

static void every_comparison_operator_works_on_numbers(void **state)
{
    fixture *f = *state;
    const wr_value *r = f->row1;

    check_bool(f, "l == 7", r, true);
    check_bool(f, "l != 7", r, false);
    check_bool(f, "l < 8", r, true);
    check_bool(f, "l <= 7", r, true);
    check_bool(f, "l > 7", r, false);
    check_bool(f, "l >= 8", r, false);
    check_bool(f, "l < d", r, false);
    check_bool(f, "d < l", r, true);
    check_bool(f, "l == 7.0", r, true);
    check_bool(f, "d >= 2.5", r, true);
    check_bool(f, "d > 2.5", r, false);
    check_bool(f, "-1 < 0", r, true);
    check_bool(f, "-9223372036854775808 < 9223372036854775807", r, true);
}

static void strings_compare_bytewise(void **state)
{
    fixture *f = *state;
    const wr_value *r = f->row1;

    check_bool(f, "s == 'Hello World'", r, true);
    check_bool(f, "s != \"Hello World\"", r, false);
    check_bool(f, "'abc' < 'abd'", r, true);
    check_bool(f, "'ab' < 'abc'", r, true);
    check_bool(f, "'b' > 'abc'", r, true);
    check_bool(f, "'Z' < 'a'", r, true);
    check_bool(f, "'\\u00e9' > 'z'", r, true);
    check_bool(f, "'' < 'a'", r, true);
    check_bool(f, "'abc' >= 'abc'", r, true);
    check_bool(f, "'abc' <= 'abb'", r, false);
    check_bool(f, "name == 'weir'", r, true);
    check_bool(f, "s > name", r, false);
    check_compile_error(f, "s < 1", WR_ETYPE,
                        "column 3: cannot compare string with long using '<'");
}

static void bools_compare_only_for_equality(void **state)
{
    fixture *f = *state;

    check_bool(f, "b == true", f->row1, true);
    check_bool(f, "b != false", f->row1, true);
    check_bool(f, "b == false", f->row1, false);
    check_compile_error(f, "b < true", WR_ETYPE,
                        "column 3: bools can only be compared with '==' and '!=', not '<'");
    check_compile_error(f, "b == 1", WR_ETYPE,
                        "column 3: cannot compare bool with long using '=='");
}

/* ---- logic and nulls -------------------------------------------------------------- */

static void and_or_follow_three_valued_logic(void **state)
{
    fixture *f = *state;
    const wr_value *r = f->row1; /* ob is null */

    check_null(f, "ob && true", r, WR_T_BOOL);
    check_bool(f, "ob && false", r, false);
    check_bool(f, "false && ob", r, false);
    check_null(f, "true && ob", r, WR_T_BOOL);
    check_null(f, "ob && ob", r, WR_T_BOOL);
    check_bool(f, "ob || true", r, true);
    check_null(f, "ob || false", r, WR_T_BOOL);
    check_bool(f, "true || ob", r, true);
    check_null(f, "false || ob", r, WR_T_BOOL);
    check_null(f, "ob || ob", r, WR_T_BOOL);
    check_null(f, "!ob", r, WR_T_BOOL);
    check_bool(f, "b && true", r, true);
    check_bool(f, "b && !b", r, false);
    check_bool(f, "!b || b", r, true);
    check_bool(f, "!b || !b", r, false);
    check_bool(f, "!!b", r, true);
    check_bool(f, "ob && true", f->row2, false);
    check_bool(f, "ob || true", f->row2, true);
    check_bool(f, "null && false", r, false);
    check_null(f, "null || false", r, WR_T_BOOL);
    /* && binds tighter than || */
    check_bool(f, "true || false && false", r, true);
    check_bool(f, "(true || false) && false", r, false);
}

static void and_or_do_not_evaluate_the_right_side_when_the_left_decides(void **state)
{
    fixture *f = *state;

    check_bool(f, "!b && l / 0 == 1", f->row1, false);
    check_bool(f, "b || l / 0 == 1", f->row1, true);
    check_eval_error(f, "b && l / 0 == 1", f->row1, "division by zero");
    check_eval_error(f, "ob || l / 0 == 1", f->row1, "division by zero");
}

static void null_propagates_through_operators_and_functions(void **state)
{
    fixture *f = *state;
    const wr_value *r = f->row1;

    check_null(f, "ol + 1", r, WR_T_LONG);
    check_null(f, "l - ol", r, WR_T_LONG);
    check_null(f, "od * 2", r, WR_T_DOUBLE);
    check_null(f, "ol / 0", r, WR_T_LONG); /* null, not a division error */
    check_null(f, "l % ol", r, WR_T_LONG);
    check_null(f, "-ol", r, WR_T_LONG);
    check_null(f, "ol == 1", r, WR_T_BOOL);
    check_null(f, "os < 'a'", r, WR_T_BOOL);
    check_null(f, "od >= d", r, WR_T_BOOL);
    check_null(f, "lower(os)", r, WR_T_STRING);
    check_null(f, "upper(os)", r, WR_T_STRING);
    check_null(f, "length(os)", r, WR_T_LONG);
    check_null(f, "concat(s, os)", r, WR_T_STRING);
    check_null(f, "abs(ol)", r, WR_T_LONG);
    check_null(f, "abs(od)", r, WR_T_DOUBLE);
    check_null(f, "starts_with(os, 'a')", r, WR_T_BOOL);
    check_null(f, "ends_with(s, os)", r, WR_T_BOOL);
    check_null(f, "contains(os, 'a')", r, WR_T_BOOL);
    check_null(f, "to_string(ol)", r, WR_T_STRING);
    check_null(f, "to_long(os)", r, WR_T_LONG);
    check_null(f, "to_double(ol)", r, WR_T_DOUBLE);
    check_null(f, "ot + 1", r, WR_T_TIMESTAMP);
    check_null(f, "l + null", r, WR_T_LONG);
    check_null(f, "null == null", r, WR_T_BOOL);
    check_null(f, "lower(null)", r, WR_T_STRING);
    /* the same expressions over row2, where the optional fields are set */
    check_long(f, "ol + 1", f->row2, -2);
    check_double(f, "od * 2", f->row2, 1.0);
    check_str(f, "concat(s, os)", f->row2, "Hello Worldabc");
    check_long(f, "abs(ol)", f->row2, 3);
}

static void if_chooses_a_branch_and_treats_a_null_condition_as_false(void **state)
{
    fixture *f = *state;
    const wr_value *r = f->row1;

    check_long(f, "if(b, 1, 2)", r, 1);
    check_long(f, "if(!b, 1, 2)", r, 2);
    check_long(f, "if(ob, 1, 2)", r, 2);
    check_long(f, "if(l > 5, l, 0)", r, 7);
    check_double(f, "if(b, 1, 2.5)", r, 1.0);
    check_double(f, "if(!b, 1, 2.5)", r, 2.5);
    check_str(f, "if(b, s, 'x')", r, "Hello World");
    check_long(f, "if(b, l, null)", r, 7);
    check_null(f, "if(!b, l, null)", r, WR_T_LONG);
    check_long(f, "if(b, 1, l / 0)", r, 1);
    check_ts(f, "if(b, t, ot)", r, 1700000000123);
    check_compile_error(f, "if(l, 1, 2)", WR_ETYPE,
                        "column 4: argument 1 of if() must be bool, got long");
    check_compile_error(f, "if(b, 1, 'x')", WR_ETYPE,
                        "column 10: the branches of if() must have compatible types, got long and "
                        "string");
    check_compile_error(f, "if(b, t, 1)", WR_ETYPE,
                        "column 10: the branches of if() must have compatible types, got "
                        "timestamp_ms and long");
    check_compile_error(f, "if(b, 1)", WR_ETYPE, "column 1: if() takes 3 arguments, got 2");
    check_compile_error(f, "if(b, null, null)", WR_ETYPE,
                        "column 1: the expression is always null, so it has no type");
}

static void coalesce_returns_the_first_non_null_argument(void **state)
{
    fixture *f = *state;

    check_long(f, "coalesce(ol, 5)", f->row1, 5);
    check_long(f, "coalesce(ol, 5)", f->row2, -3);
    check_long(f, "coalesce(l)", f->row1, 7);
    check_double(f, "coalesce(ol, od, 1.5)", f->row1, 1.5);
    check_double(f, "coalesce(ol, od, 1.5)", f->row2, -3.0);
    check_double(f, "coalesce(od, ol, 1)", f->row2, 0.5);
    check_str(f, "coalesce(null, os, s)", f->row1, "Hello World");
    check_str(f, "coalesce(null, os, s)", f->row2, "abc");
    check_null(f, "coalesce(ol, od)", f->row1, WR_T_DOUBLE);
    check_long(f, "coalesce(ol, l / 0)", f->row2, -3);
    check_ts(f, "coalesce(ot, t)", f->row2, 1000);
    check_compile_error(f, "coalesce(os, ol)", WR_ETYPE,
                        "column 14: argument 2 of coalesce() is long, which does not go with "
                        "string");
    check_compile_error(f, "coalesce()", WR_ETYPE,
                        "column 1: coalesce() takes at least 1 argument, got 0");
}

static void is_null_is_true_only_for_null(void **state)
{
    fixture *f = *state;

    check_bool(f, "is_null(ol)", f->row1, true);
    check_bool(f, "is_null(ol)", f->row2, false);
    check_bool(f, "is_null(l)", f->row1, false);
    check_bool(f, "is_null(null)", f->row1, true);
    check_bool(f, "is_null(ol + 1)", f->row1, true);
    check_bool(f, "is_null(ol + 1)", f->row2, false);
    check_bool(f, "is_null(ob || true)", f->row1, false);
}

/* ---- functions -------------------------------------------------------------------- */

static void string_functions_work_on_bytes(void **state)
{
    fixture *f = *state;
    const wr_value *r = f->row1;

    check_str(f, "lower(s)", r, "hello world");
    check_str(f, "upper(s)", r, "HELLO WORLD");
    check_str(f, "upper(lower(s))", r, "HELLO WORLD");
    check_str(f, "lower('\\u00c4B1_')", r,
              "\xc3\x84"
              "b1_"); /* ASCII letters only */
    check_str(f, "upper('')", r, "");
    check_long(f, "length(s)", r, 11);
    check_long(f, "length('\\u00e9')", r, 2);
    check_long(f, "length('')", r, 0);
    check_bool(f, "starts_with(s, 'Hello')", r, true);
    check_bool(f, "starts_with(s, 'World')", r, false);
    check_bool(f, "starts_with(s, '')", r, true);
    check_bool(f, "starts_with('a', 'abc')", r, false);
    check_bool(f, "ends_with(s, 'World')", r, true);
    check_bool(f, "ends_with(s, 'Hello')", r, false);
    check_bool(f, "ends_with('', '')", r, true);
    check_bool(f, "ends_with('c', 'abc')", r, false);
    check_bool(f, "contains(s, 'o W')", r, true);
    check_bool(f, "contains(s, 'xyz')", r, false);
    check_bool(f, "contains(s, '')", r, true);
    check_bool(f, "contains('', 'a')", r, false);
    check_bool(f, "contains(s, 'World!')", r, false);
    check_compile_error(f, "lower(l)", WR_ETYPE,
                        "column 7: argument 1 of lower() must be string, got long");
    check_compile_error(f, "length(b)", WR_ETYPE,
                        "column 8: argument 1 of length() must be string, got bool");
    check_compile_error(f, "contains(s, 1)", WR_ETYPE,
                        "column 13: argument 2 of contains() must be string, got long");
    check_compile_error(f, "starts_with(s)", WR_ETYPE,
                        "column 1: starts_with() takes 2 arguments, got 1");
}

static void concat_converts_every_type_to_text(void **state)
{
    fixture *f = *state;
    const wr_value *r = f->row1;

    check_str(f, "concat(s, '|', l, '|', d, '|', b, '|', t)", r,
              "Hello World|7|2.5|true|2023-11-14T22:13:20.123Z");
    check_str(f, "concat(name)", r, "weir");
    check_str(f, "concat(!b, -5, '')", r, "false-5");
    check_str(f, "concat(0.1)", r, "0.1");
    check_str(f, "concat(0.1 + 0.2)", r, "0.30000000000000004");
    check_str(f, "concat(1 / 3.0)", r, "0.3333333333333333");
    check_str(f, "concat(100.0, ' ', 1e21, ' ', -0.0)", r, "100 1e+21 -0");
    check_str(f, "concat(d / 0, d * 0 / 0 == 1)", r, "inffalse");
    check_compile_error(f, "concat()", WR_ETYPE,
                        "column 1: concat() takes at least 1 argument, got 0");
}

static void to_string_formats_each_type(void **state)
{
    fixture *f = *state;
    const wr_value *r = f->row1;

    check_str(f, "to_string(s)", r, "Hello World");
    check_str(f, "to_string(l)", r, "7");
    check_str(f, "to_string(-9223372036854775808)", r, "-9223372036854775808");
    check_str(f, "to_string(d)", r, "2.5");
    check_str(f, "to_string(b)", r, "true");
    check_str(f, "to_string(t)", r, "2023-11-14T22:13:20.123Z");
    check_str(f, "to_string(-d * 1e300 * 1e10)", r, "-inf");
    check_str(f, "to_string(1e-7 * d)", r, "2.5e-07");
    /* built from a field so the evaluator formats them, not the constant folder */
    check_str(f, "to_string(ot)", f->row2, "1970-01-01T00:00:01.000Z");
    check_str(f, "to_string(ot - 1001)", f->row2, "1969-12-31T23:59:59.999Z");
    check_str(f, "to_string(ot - 1000 + 951782400000)", f->row2, "2000-02-29T00:00:00.000Z");
    check_str(f, "to_string(ot - 1000 + 253402300799999)", f->row2, "9999-12-31T23:59:59.999Z");
}

static void to_long_converts_or_names_the_bad_value(void **state)
{
    fixture *f = *state;
    const wr_value *r = f->row1;

    check_long(f, "to_long('42')", r, 42);
    check_long(f, "to_long('-17')", r, -17);
    check_long(f, "to_long('+5')", r, 5);
    check_long(f, "to_long('-9223372036854775808')", r, INT64_MIN);
    check_long(f, "to_long(d)", r, 2);
    check_long(f, "to_long(-d)", r, -2);
    check_long(f, "to_long(b)", r, 1);
    check_long(f, "to_long(!b)", r, 0);
    check_long(f, "to_long(t)", r, 1700000000123);
    check_long(f, "to_long(l)", r, 7);
}

static void to_long_rejects_what_is_not_a_long(void **state)
{
    fixture *f = *state;

    check_eval_error(f, "to_long(s)", f->row1, "to_long(): 'Hello World' is not an integer");
    check_eval_error(f, "to_long(os)", f->row2, "to_long(): 'abc' is not an integer");
    check_eval_error(f, "to_long('12x')", f->row1, "to_long(): '12x' is not an integer");
    check_eval_error(f, "to_long('')", f->row1, "to_long(): '' is not an integer");
    check_eval_error(f, "to_long(' 1')", f->row1, "to_long(): ' 1' is not an integer");
    check_eval_error(f, "to_long('-')", f->row1, "to_long(): '-' is not an integer");
    check_eval_error(f, "to_long('1.5')", f->row1, "to_long(): '1.5' is not an integer");
    check_eval_error(f, "to_long('9223372036854775808')", f->row1,
                     "to_long(): '9223372036854775808' is out of the range of long");
    check_eval_error(f, "to_long(d * 1e19)", f->row1,
                     "to_long(): 2.5e+19 is out of the range of long");
    check_eval_error(f, "to_long((d - d) / 0)", f->row1,
                     "to_long(): nan is out of the range of long");
}

static void to_double_converts_numbers_bools_timestamps_and_decimal_text(void **state)
{
    fixture *f = *state;
    const wr_value *r = f->row1;

    check_double(f, "to_double('1.5e3')", r, 1500.0);
    check_double(f, "to_double('-.5')", r, -0.5);
    check_double(f, "to_double('7')", r, 7.0);
    check_double(f, "to_double(l)", r, 7.0);
    check_double(f, "to_double(d)", r, 2.5);
    check_double(f, "to_double(b)", r, 1.0);
    check_double(f, "to_double(t)", r, 1700000000123.0);
    check_eval_error(f, "to_double(s)", r, "to_double(): 'Hello World' is not a number");
    check_eval_error(f, "to_double('inf')", r, "to_double(): 'inf' is not a number");
    check_eval_error(f, "to_double('0x10')", r, "to_double(): '0x10' is not a number");
    check_eval_error(f, "to_double('1.5 ')", r, "to_double(): '1.5 ' is not a number");
    check_eval_error(f, "to_double('')", r, "to_double(): '' is not a number");
}

static void abs_works_on_longs_and_doubles(void **state)
{
    fixture *f = *state;

    check_long(f, "abs(-l)", f->row1, 7);
    check_long(f, "abs(l)", f->row1, 7);
    check_double(f, "abs(-d)", f->row1, 2.5);
    check_double(f, "abs(d - 3)", f->row1, 0.5);
    check_compile_error(f, "abs(s)", WR_ETYPE,
                        "column 5: argument 1 of abs() must be a number, got string");
    check_compile_error(f, "abs(l, l)", WR_ETYPE, "column 1: abs() takes 1 argument, got 2");
}

/* ---- literals --------------------------------------------------------------------- */

static void string_literals_support_both_quotes_and_escapes(void **state)
{
    fixture *f = *state;
    const wr_value *r = f->row1;
    wr_value v;
    char text[16];

    check_str(f, "'it\\'s'", r, "it's");
    check_str(f, "\"say \\\"hi\\\"\"", r, "say \"hi\"");
    check_str(f, "\"it's\"", r, "it's");
    check_str(f, "'a\\nb\\tc\\rd\\\\e\\/f'", r, "a\nb\tc\rd\\e/f");
    check_str(f, "'\\x41\\u00e9\\u20ac'", r, "A\xc3\xa9\xe2\x82\xac");
    eval_ok(f, "'a\\0b'", r, &v, text, sizeof text);
    assert_int_equal(v.len, 3);
    assert_memory_equal(text, "a\0b", 3);
    check_compile_error(f, "'a\\q'", WR_ESPEC, "column 3: invalid escape '\\q' in string");
    check_compile_error(f, "s + '\\xZZ'", WR_ESPEC, "column 6: invalid escape '\\xZZ' in string");
    check_compile_error(f, "'\\ud800'", WR_ESPEC, "column 2: invalid escape '\\ud800' in string");
    check_compile_error(f, "'\\u12'", WR_ESPEC, "column 2: invalid escape '\\u12' in string");
    check_compile_error(f, "'abc", WR_ESPEC, "column 1: unterminated string");
    check_compile_error(f, "l == \"abc\\\"", WR_ESPEC, "column 6: unterminated string");
}

static void backquotes_name_fields_that_are_not_identifiers(void **state)
{
    fixture *f = *state;

    check_long(f, "`order id` + 1", f->row1, 43);
    check_long(f, "`l` * 2", f->row1, 14);
    check_compile_error(f, "`nope`", WR_ETYPE, "column 1: unknown field 'nope'");
    check_compile_error(f, "l + ``", WR_ESPEC, "column 5: empty `quoted field name`");
    check_compile_error(f, "`order id", WR_ESPEC, "column 1: unterminated `quoted field name`");
}

static void keywords_are_literals(void **state)
{
    fixture *f = *state;

    check_bool(f, "true", f->row1, true);
    check_bool(f, "false", f->row1, false);
    check_compile_error(f, "null", WR_ETYPE,
                        "column 1: the expression is always null, so it has no type");
    check_compile_error(f, "  (null + null)", WR_ETYPE,
                        "column 3: the expression is always null, so it has no type");
}

/* ---- compile errors --------------------------------------------------------------- */

static void syntax_errors_name_the_column(void **state)
{
    fixture *f = *state;

    check_compile_error(f, "", WR_ESPEC, "column 1: the expression is empty");
    check_compile_error(f, "   ", WR_ESPEC, "column 4: the expression is empty");
    check_compile_error(f, "l +", WR_ESPEC,
                        "column 4: expected a value, a field or '(', got end of input");
    check_compile_error(f, "(l + 1", WR_ESPEC,
                        "column 7: expected ')' to close the '(' at column 1, got end of input");
    check_compile_error(f, "l * (l + 1 l", WR_ESPEC,
                        "column 12: expected ')' to close the '(' at column 5, got 'l'");
    check_compile_error(f, "lower(s", WR_ESPEC,
                        "column 8: expected ',' or ')' in the call of lower(), got end of input");
    check_compile_error(f, "lower(s,)", WR_ESPEC,
                        "column 9: expected a value, a field or '(', got ')'");
    check_compile_error(f, "l )", WR_ESPEC, "column 3: unmatched ')'");
    check_compile_error(f, "l l", WR_ESPEC, "column 3: unexpected 'l' after a complete expression");
    check_compile_error(f, "l = 1", WR_ESPEC, "column 3: unexpected '='; use '==' to compare");
    check_compile_error(f, "b & b", WR_ESPEC, "column 3: unexpected '&'; use '&&' for 'and'");
    check_compile_error(f, "b | b", WR_ESPEC, "column 3: unexpected '|'; use '||' for 'or'");
    check_compile_error(f, "l # 1", WR_ESPEC, "column 3: unexpected character '#'");
    check_compile_error(f, "l \xff", WR_ESPEC, "column 3: unexpected byte 0xff");
    check_compile_error(f, "1 < l < 3", WR_ESPEC,
                        "column 7: comparisons cannot be chained; join them with '&&' (a < b && b "
                        "< c)");
    check_compile_error(f, "12abc", WR_ESPEC, "column 1: invalid number '12abc'");
    check_compile_error(f, "l + 1.2.3", WR_ESPEC, "column 5: invalid number '1.2.3'");
    check_compile_error(f, "*", WR_ESPEC, "column 1: expected a value, a field or '(', got '*'");
}

static void type_errors_name_the_column(void **state)
{
    fixture *f = *state;

    check_compile_error(f, "amount > 0 && amout < 5", WR_ETYPE,
                        "column 15: unknown field 'amout' (did you mean 'amount'?)");
    check_compile_error(f, "zzz", WR_ETYPE, "column 1: unknown field 'zzz'");
    check_compile_error(f, "l && b", WR_ETYPE, "column 1: operands of '&&' must be bool, got long");
    check_compile_error(f, "b || s", WR_ETYPE,
                        "column 6: operands of '||' must be bool, got string");
    check_compile_error(f, "1 + lowr(s)", WR_ETYPE,
                        "column 5: unknown function 'lowr' (did you mean 'lower'?)");
    check_compile_error(f, "frobnicate(s)", WR_ETYPE, "column 1: unknown function 'frobnicate'");
    check_compile_error(f, "l + lower(s, s)", WR_ETYPE,
                        "column 5: lower() takes 1 argument, got 2");
    check_compile_error(f, "s + 1", WR_ETYPE,
                        "column 3: cannot apply '+' to string and long; use concat() for text");
    check_compile_error(f, "b * 2", WR_ETYPE, "column 3: cannot apply '*' to bool and long");
    check_compile_error(f, "!l", WR_ETYPE, "column 2: operand of '!' must be bool, got long");
    check_compile_error(f, "-s", WR_ETYPE,
                        "column 2: operand of unary '-' must be a number, got string");
}

static void nesting_deeper_than_the_limit_is_rejected(void **state)
{
    fixture *f = *state;
    char src[4096];
    size_t n;
    wr_expr *e;

    /* 128 parentheses are fine, 129 are not */
    n = 0;
    for (int i = 0; i < 128; i++)
        src[n++] = '(';
    src[n++] = 'l';
    for (int i = 0; i < 128; i++)
        src[n++] = ')';
    src[n] = '\0';
    check_long(f, src, f->row1, 7);
    memmove(src + 1, src, n + 1);
    src[0] = '(';
    strcat(src, ")");
    check_compile_error(f, src, WR_ESPEC, "column 129: expression nested deeper than 128 levels");

    /* so are long chains of operators: the tree is one level deeper per operator */
    strcpy(src, "l");
    for (int i = 0; i < 127; i++)
        strcat(src, "+1");
    check_long(f, src, f->row1, 7 + 127);
    strcat(src, "+1");
    check_compile_error(f, src, WR_ESPEC, "column 256: expression nested deeper than 128 levels");

    /* and unary operators */
    n = 0;
    for (int i = 0; i < 200; i++)
        src[n++] = '!';
    src[n++] = 'b';
    src[n] = '\0';
    check_compile_error(f, src, WR_ESPEC, "column 129: expression nested deeper than 128 levels");

    /* a call may take as many arguments as there are stack slots */
    strcpy(src, "concat(l");
    for (int i = 1; i < 128; i++)
        strcat(src, ",l");
    strcat(src, ")");
    e = compile_ok(f, src);
    wr_expr_free(e);
    src[strlen(src) - 1] = '\0';
    strcat(src, ",l)");
    check_compile_error(f, src, WR_ESPEC, "column 264: concat() has more than 128 arguments");
}

/* ---- static properties ------------------------------------------------------------ */

static void nullability_follows_the_schema_and_the_operators(void **state)
{
    fixture *f = *state;

    check_nullable(f, "l", false);
    check_nullable(f, "ol", true);
    check_nullable(f, "l + 1", false);
    check_nullable(f, "l + ol", true);
    check_nullable(f, "l + null", true);
    check_nullable(f, "-ol", true);
    check_nullable(f, "lower(os)", true);
    check_nullable(f, "lower(s)", false);
    check_nullable(f, "concat(s, os)", true);
    check_nullable(f, "to_string(ol)", true);
    check_nullable(f, "b && b", false);
    check_nullable(f, "ob && b", true);
    check_nullable(f, "b || ob", true);
    check_nullable(f, "coalesce(ol, od)", true);
    check_nullable(f, "coalesce(ol, 1)", false);
    check_nullable(f, "coalesce(ol, l, od)", false);
    check_nullable(f, "is_null(ol)", false);
    check_nullable(f, "is_null(null)", false);
    check_nullable(f, "if(b, l, ol)", true);
    check_nullable(f, "if(ob, l, 1)", false);
    check_nullable(f, "if(true, 1, null)", false); /* folded to 1 */
    check_nullable(f, "'x'", false);
}

static void the_static_type_is_the_result_type(void **state)
{
    fixture *f = *state;
    static const struct {
        const char *src;
        wr_type type;
    } cases[] = {
        {"l", WR_T_LONG},
        {"l + d", WR_T_DOUBLE},
        {"t + 1", WR_T_TIMESTAMP},
        {"t - t", WR_T_LONG},
        {"s", WR_T_STRING},
        {"l < 1", WR_T_BOOL},
        {"null + 1.5", WR_T_DOUBLE},
        {"coalesce(null, ol)", WR_T_LONG},
        {"abs(d)", WR_T_DOUBLE},
        {"to_string(l)", WR_T_STRING},
        {"length(s)", WR_T_LONG},
        {"if(b, ot, null)", WR_T_TIMESTAMP},
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        wr_expr *e = compile_ok(f, cases[i].src);
        wr_type t = wr_expr_type(e);
        wr_expr_free(e);
        if (t != cases[i].type)
            fail_msg("%s: expected type %s, got %s", cases[i].src, wr_type_name(cases[i].type),
                     wr_type_name(t));
    }
}

static void mark_fields_sets_exactly_the_fields_read(void **state)
{
    fixture *f = *state;
    bool used[NFIELDS] = {false};
    wr_expr *e = compile_ok(f, "l + amount > 3 && is_null(os) || `order id` == 1");

    used[1] = true; /* entries for fields not read are left alone */
    wr_expr_mark_fields(e, used);
    wr_expr_free(e);
    for (int i = 0; i < NFIELDS; i++) {
        bool want = i == 0 || i == 1 || i == 10 || i == 7 || i == 12;
        if (used[i] != want)
            fail_msg("field %d: expected used=%d", i, want);
    }
}

/* ---- evaluation mechanics --------------------------------------------------------- */

static void string_results_go_into_the_scratch_arena(void **state)
{
    fixture *f = *state;
    wr_expr *e = compile_ok(f, "concat(upper(s), '!')");
    wr_errbuf eb = {{0}};
    wr_value v;

    wr_arena_reset(&f->scratch);
    assert_int_equal(wr_expr_eval(e, f->row1, &f->scratch, &v, &eb), WR_OK);
    assert_int_equal(v.type, WR_T_STRING);
    assert_int_equal(v.len, 12);
    assert_memory_equal(v.u.s, "HELLO WORLD!", 12);
    assert_true(v.u.s >= f->mem && v.u.s + v.len <= f->mem + sizeof f->mem);
    assert_int_equal(f->scratch.used, 11 + 12); /* upper's result, then concat's */
    wr_expr_free(e);

    /* an input string passed through is not copied */
    e = compile_ok(f, "if(b, s, 'x')");
    wr_arena_reset(&f->scratch);
    assert_int_equal(wr_expr_eval(e, f->row1, &f->scratch, &v, &eb), WR_OK);
    assert_ptr_equal(v.u.s, f->row1[2].u.s);
    assert_int_equal(f->scratch.used, 0);
    wr_expr_free(e);
}

static void a_full_scratch_arena_is_an_eval_error(void **state)
{
    fixture *f = *state;
    char small[8];
    wr_arena a;
    wr_errbuf eb = {{0}};
    wr_value v;
    wr_expr *e = compile_ok(f, "upper(s)");

    wr_arena_init(&a, small, sizeof small);
    assert_int_equal(wr_expr_eval(e, f->row1, &a, &v, &eb), WR_EEVAL);
    assert_string_equal(eb.msg, "string result of upper() needs 11 bytes, more than the 8 left "
                                "in the 8-byte scratch space");
    assert_int_equal(wr_expr_eval(e, f->row1, NULL, &v, &eb), WR_EEVAL);
    assert_string_equal(eb.msg, "string result of upper() needs 11 bytes, more than the 0 left "
                                "in the 0-byte scratch space");
    wr_expr_free(e);

    e = compile_ok(f, "concat(name, name)");
    wr_arena_init(&a, small, sizeof small);
    assert_int_equal(wr_expr_eval(e, f->row1, &a, &v, &eb), WR_OK); /* exactly 8 bytes */
    assert_int_equal(v.len, 8);
    assert_memory_equal(v.u.s, "weirweir", 8);
    assert_int_equal(wr_expr_eval(e, f->row1, &a, &v, &eb), WR_EEVAL); /* not reset: full */
    assert_string_equal(eb.msg, "string result of concat() needs 8 bytes, more than the 0 left "
                                "in the 8-byte scratch space");
    wr_expr_free(e);

    e = compile_ok(f, "to_string(t)");
    wr_arena_init(&a, small, sizeof small);
    assert_int_equal(wr_expr_eval(e, f->row1, &a, &v, &eb), WR_EEVAL);
    assert_string_equal(eb.msg, "string result of to_string() needs 24 bytes, more than the 8 "
                                "left in the 8-byte scratch space");
    wr_expr_free(e);

    /* constant strings are folded at compile time and need no scratch */
    e = compile_ok(f, "concat(upper('ab'), 1 + 2, lower('C'))");
    assert_int_equal(wr_expr_eval(e, f->row1, NULL, &v, &eb), WR_OK);
    assert_int_equal(v.len, 4);
    assert_memory_equal(v.u.s, "AB3c", 4);
    wr_expr_free(e);
}

static void values_that_contradict_the_schema_are_eval_errors(void **state)
{
    fixture *f = *state;
    wr_value row[NFIELDS];

    memcpy(row, f->row1, sizeof row);
    row[0] = wr_value_str("7", 1);
    check_eval_error(f, "l + 1", row, "field 'l' holds a string but the schema says long");
    row[0] = wr_value_null();
    check_eval_error(f, "l + 1", row, "field 'l' is null but the schema says it is not optional");
}

/* Counts allocations while `counting` is set, through ASan's hooks when built with ASan. */
#if defined(__SANITIZE_ADDRESS__)
#define HAVE_ASAN_HOOKS 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HAVE_ASAN_HOOKS 1
#endif
#endif
#ifdef HAVE_ASAN_HOOKS
int __sanitizer_install_malloc_and_free_hooks(void (*malloc_hook)(const volatile void *, size_t),
                                              void (*free_hook)(const volatile void *));
static volatile bool counting;
static volatile long allocations;
static void count_malloc(const volatile void *p, size_t n)
{
    if (counting)
        allocations++;
}
static void count_free(const volatile void *p)
{
}
#endif

static void evaluation_does_not_allocate(void **state)
{
    fixture *f = *state;
    wr_expr *e = compile_ok(f, "if(contains(lower(concat(s, ' ', l, ' ', d, ' ', t, ' ', b)), "
                               "'world') && coalesce(ol, 0) + amount * 2 > 10 || is_null(os), "
                               "upper(concat(name, to_string(d / 3))), to_string(to_long('12')))");
    wr_errbuf eb = {{0}};
    wr_value v;

#ifdef HAVE_ASAN_HOOKS
    static bool installed;
    if (!installed)
        installed = __sanitizer_install_malloc_and_free_hooks(count_malloc, count_free) != 0;
    allocations = 0;
    counting = true;
#endif
    for (int i = 0; i < 100000; i++) {
        const wr_value *row = (i & 1) ? f->row2 : f->row1;
        wr_arena_reset(&f->scratch);
        if (wr_expr_eval(e, row, &f->scratch, &v, &eb) != WR_OK)
            fail_msg("evaluation %d failed: %s", i, eb.msg);
    }
#ifdef HAVE_ASAN_HOOKS
    counting = false;
    assert_int_equal(allocations, 0);
#endif
    assert_int_equal(v.type, WR_T_STRING);
    assert_int_equal(v.len, strlen("WEIR0.8333333333333334"));
    assert_memory_equal(v.u.s, "WEIR0.8333333333333334", v.len);
    wr_expr_free(e);
}

static void freeing_null_is_a_no_op(void **state)
{
    wr_expr_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(long_arithmetic_follows_precedence_and_associativity),
        cmocka_unit_test(mixing_long_and_double_promotes_to_double),
        cmocka_unit_test(double_division_by_zero_follows_ieee),
        cmocka_unit_test(division_by_zero_is_an_eval_error),
        cmocka_unit_test(integer_overflow_is_an_eval_error),
        cmocka_unit_test(the_most_negative_long_can_be_written_as_a_literal),
        cmocka_unit_test(timestamps_add_and_subtract_longs_and_each_other),
        cmocka_unit_test(every_comparison_operator_works_on_numbers),
        cmocka_unit_test(strings_compare_bytewise),
        cmocka_unit_test(bools_compare_only_for_equality),
        cmocka_unit_test(and_or_follow_three_valued_logic),
        cmocka_unit_test(and_or_do_not_evaluate_the_right_side_when_the_left_decides),
        cmocka_unit_test(null_propagates_through_operators_and_functions),
        cmocka_unit_test(if_chooses_a_branch_and_treats_a_null_condition_as_false),
        cmocka_unit_test(coalesce_returns_the_first_non_null_argument),
        cmocka_unit_test(is_null_is_true_only_for_null),
        cmocka_unit_test(string_functions_work_on_bytes),
        cmocka_unit_test(concat_converts_every_type_to_text),
        cmocka_unit_test(to_string_formats_each_type),
        cmocka_unit_test(to_long_converts_or_names_the_bad_value),
        cmocka_unit_test(to_long_rejects_what_is_not_a_long),
        cmocka_unit_test(to_double_converts_numbers_bools_timestamps_and_decimal_text),
        cmocka_unit_test(abs_works_on_longs_and_doubles),
        cmocka_unit_test(string_literals_support_both_quotes_and_escapes),
        cmocka_unit_test(backquotes_name_fields_that_are_not_identifiers),
        cmocka_unit_test(keywords_are_literals),
        cmocka_unit_test(syntax_errors_name_the_column),
        cmocka_unit_test(type_errors_name_the_column),
        cmocka_unit_test(nesting_deeper_than_the_limit_is_rejected),
        cmocka_unit_test(nullability_follows_the_schema_and_the_operators),
        cmocka_unit_test(the_static_type_is_the_result_type),
        cmocka_unit_test(mark_fields_sets_exactly_the_fields_read),
        cmocka_unit_test(string_results_go_into_the_scratch_arena),
        cmocka_unit_test(a_full_scratch_arena_is_an_eval_error),
        cmocka_unit_test(values_that_contradict_the_schema_are_eval_errors),
        cmocka_unit_test(evaluation_does_not_allocate),
        cmocka_unit_test(freeing_null_is_a_no_op),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
