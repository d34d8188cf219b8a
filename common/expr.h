/*
 * expr.h — expressions for `filter` and `map`: parse and type-check once, evaluate
 * per record without allocating.
 *
 * Grammar (lowest to highest precedence):
 *   or:      and ('||' and)*
 *   and:     not ('&&' not)*
 *   cmp:     add (('=='|'!='|'<'|'<='|'>'|'>=') add)?
 *   add:     mul (('+'|'-') mul)*
 *   mul:     unary (('*'|'/'|'%') unary)*
 *   unary:   ('!'|'-') unary | primary
 *   primary: literal | field | func '(' args ')' | '(' or ')'
 * Literals: integers (long), decimals/exponents (double), 'single' or "double" quoted
 * strings with backslash escapes, true, false, null. A field is an identifier
 * [A-Za-z_][A-Za-z0-9_]* naming a field of the input schema, or `backquoted`.
 *
 * Types: long, double, bool, string, timestamp_ms (see value.h). long op double → double.
 * Integer overflow and division or modulo by zero are evaluation errors (the record
 * goes to the dead-letter output), never silent wrap-around.
 * Nulls: an operator or function with a null operand yields null, except &&, || (three-valued
 * logic, as SQL), coalesce(), is_null() and if(). A filter whose result is null drops the
 * record, as SQL's WHERE does.
 *
 * Functions: lower(s), upper(s), length(s), concat(x, ...), coalesce(x, ...), abs(n),
 * starts_with(s, p), ends_with(s, p), contains(s, p), if(cond, a, b), is_null(x),
 * to_string(x), to_long(x), to_double(x).
 *
 * A compiled wr_expr is immutable and may be evaluated from several threads at once.
 */
#ifndef WR_EXPR_H
#define WR_EXPR_H

#include "buf.h"
#include "error.h"
#include "value.h"

typedef struct wr_expr wr_expr;

/* Compiles src against the input schema `in` (which must outlive the expression).
 * On success *out is the compiled expression. On failure returns WR_ESPEC (syntax) or
 * WR_ETYPE (types, unknown field or function) and eb says what and where, starting with
 * the 1-based column in src: "column 8: unknown field 'amout'". */
wr_err wr_expr_compile(const char *src, const wr_schema *in, wr_expr **out, wr_errbuf *eb);

/* Frees e; NULL is a no-op. */
void wr_expr_free(wr_expr *e);

/* The static result type (never WR_T_NULL: a literal `null` alone is a type error)
 * and whether the result may be null at run time. */
wr_type wr_expr_type(const wr_expr *e);
bool wr_expr_nullable(const wr_expr *e);

/* Sets used[i] = true for every input field i the expression reads (used has one
 * entry per field of the input schema; other entries are left alone). */
void wr_expr_mark_fields(const wr_expr *e, bool *used);

/* Evaluates e over one record (`row` holds one value per input-schema field).
 * String results that are not input strings are written into `scratch`; the caller
 * resets the scratch arena between records. *out is set only on success.
 * Returns WR_EEVAL with a sentence in eb ("division by zero", "integer overflow in '+'",
 * "string result longer than the 4096-byte scratch space") on evaluation errors. */
wr_err wr_expr_eval(const wr_expr *e, const wr_value *row, wr_arena *scratch, wr_value *out,
                    wr_errbuf *eb);

#endif
