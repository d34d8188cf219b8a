/*
 * fuzz-expr.c — fuzz target for the expression compiler and evaluator (common/expr.c).
 *
 * Compiles the input (as a NUL-terminated copy) against a fixed schema with every type,
 * some fields optional; if it compiles, evaluates it over a few rows with a small scratch
 * arena, so the "scratch full" path is reached too. Besides "no crash, no leak, no UB" it
 * checks the contract: compile errors start with "column N: ", results have the static
 * type, a non-nullable expression never yields null, and evaluation errors are WR_EEVAL.
 */
#include "expr.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NFIELDS 12
#define NROWS 3

static void build_schema(wr_schema *s)
{
    static const struct {
        const char *name;
        wr_type type;
        bool optional;
    } fields[NFIELDS] = {
        {"l", WR_T_LONG, false},      {"d", WR_T_DOUBLE, false},    {"s", WR_T_STRING, false},
        {"b", WR_T_BOOL, false},      {"t", WR_T_TIMESTAMP, false}, {"ol", WR_T_LONG, true},
        {"od", WR_T_DOUBLE, true},    {"os", WR_T_STRING, true},    {"ob", WR_T_BOOL, true},
        {"ot", WR_T_TIMESTAMP, true}, {"amount", WR_T_LONG, false}, {"user id", WR_T_STRING, false},
    };
    for (int i = 0; i < NFIELDS; i++) {
        if (!wr_schema_add(s, fields[i].name, fields[i].type, fields[i].optional))
            abort();
    }
}

static void build_rows(wr_value rows[NROWS][NFIELDS])
{
    static const char long_text[] = "The quick brown fox jumps over the lazy dog, twice over, "
                                    "and then some more text to fill the scratch arena quickly.";

    /* row 0: ordinary values, optionals null */
    rows[0][0] = wr_value_long(7);
    rows[0][1] = wr_value_double(2.5);
    rows[0][2] = wr_value_str("Hello World", 11);
    rows[0][3] = wr_value_bool(true);
    rows[0][4] = wr_value_ts(1700000000123);
    for (int i = 5; i <= 9; i++)
        rows[0][i] = wr_value_null();
    rows[0][10] = wr_value_long(100);
    rows[0][11] = wr_value_str("u-42", 4);
    /* row 1: extremes, optionals set */
    rows[1][0] = wr_value_long(INT64_MIN);
    rows[1][1] = wr_value_double(-0.0);
    rows[1][2] = wr_value_str("", 0);
    rows[1][3] = wr_value_bool(false);
    rows[1][4] = wr_value_ts(INT64_MAX);
    rows[1][5] = wr_value_long(INT64_MAX);
    rows[1][6] = wr_value_double(1e308);
    rows[1][7] = wr_value_str("12", 2);
    rows[1][8] = wr_value_bool(true);
    rows[1][9] = wr_value_ts(INT64_MIN);
    rows[1][10] = wr_value_long(-1);
    rows[1][11] = wr_value_str("\xff\x00z", 3);
    /* row 2: NaN, long strings */
    rows[2][0] = wr_value_long(0);
    rows[2][1] = wr_value_double(__builtin_nan(""));
    rows[2][2] = wr_value_str(long_text, (uint32_t)strlen(long_text));
    rows[2][3] = wr_value_bool(true);
    rows[2][4] = wr_value_ts(-1);
    rows[2][5] = wr_value_long(-1);
    rows[2][6] = wr_value_null();
    rows[2][7] = wr_value_str("-9223372036854775808", 20);
    rows[2][8] = wr_value_null();
    rows[2][9] = wr_value_ts(0);
    rows[2][10] = wr_value_long(3);
    rows[2][11] = wr_value_str("1.5e3", 5);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    wr_schema schema = {0};
    wr_value rows[NROWS][NFIELDS];
    char *src = malloc(size + 1);
    wr_expr *e = NULL;
    wr_errbuf eb;
    wr_err err;

    if (!src)
        return 0;
    memcpy(src, data, size);
    src[size] = '\0';
    build_schema(&schema);
    build_rows(rows);

    err = wr_expr_compile(src, &schema, &e, &eb);
    if (err != WR_OK) {
        if ((err != WR_ESPEC && err != WR_ETYPE && err != WR_ENOMEM) ||
            strncmp(eb.msg, "column ", 7) != 0)
            abort();
    } else {
        bool used[NFIELDS] = {false};
        wr_type type = wr_expr_type(e);
        bool nullable = wr_expr_nullable(e);

        if (type == WR_T_NULL)
            abort();
        wr_expr_mark_fields(e, used);
        for (int r = 0; r < NROWS; r++) {
            char mem[128];
            wr_arena scratch;
            wr_value out;
            wr_arena_init(&scratch, mem, r == 2 ? 16 : sizeof mem);
            err = wr_expr_eval(e, rows[r], &scratch, &out, &eb);
            if (err == WR_OK) {
                if (out.type == WR_T_NULL ? !nullable : out.type != type)
                    abort();
                if (out.type == WR_T_STRING && out.len > 0 && !out.u.s)
                    abort();
            } else if (err != WR_EEVAL || eb.msg[0] == '\0') {
                abort();
            }
        }
        wr_expr_free(e);
    }
    wr_schema_fini(&schema);
    free(src);
    return 0;
}
