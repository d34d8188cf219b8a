/*
 * value.h — the typed values records are made of, and schemas that name them.
 *
 * A record is an array of wr_value, one per schema field, in schema order. Values
 * are 16 bytes and never own memory: a string points into an arena that belongs to
 * whoever holds the record (a batch, an evaluator's scratch, a test's stack).
 * Timestamps are milliseconds since the Unix epoch, stored in u.i.
 */
#ifndef WR_VALUE_H
#define WR_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum wr_type {
    WR_T_NULL = 0, /* the type of a null value; never a declared field type */
    WR_T_BOOL,
    WR_T_LONG,
    WR_T_DOUBLE,
    WR_T_STRING,
    WR_T_TIMESTAMP,
} wr_type;

/* Returns the spec spelling of t: "bool", "long", "double", "string", "timestamp_ms", "null". */
const char *wr_type_name(wr_type t);

/* Parses a type name as written in a job spec schema. Accepts string, long (also int,
 * int64), double (also float, float64), bool (also boolean), timestamp_ms. A trailing
 * '?' marks the field optional (nullable) and sets *optional. Returns false if unknown. */
bool wr_type_parse(const char *s, wr_type *out, bool *optional);

typedef struct wr_value {
    union {
        int64_t i;     /* LONG, TIMESTAMP, BOOL (0 or 1) */
        double d;      /* DOUBLE */
        const char *s; /* STRING: not NUL-terminated, see len */
    } u;
    uint32_t len; /* STRING: byte length */
    uint8_t type; /* wr_type; WR_T_NULL means the value is null */
} wr_value;

static inline wr_value wr_value_null(void)
{
    wr_value v = {.type = WR_T_NULL};
    return v;
}
static inline wr_value wr_value_long(int64_t i)
{
    wr_value v = {.u.i = i, .type = WR_T_LONG};
    return v;
}
static inline wr_value wr_value_double(double d)
{
    wr_value v = {.u.d = d, .type = WR_T_DOUBLE};
    return v;
}
static inline wr_value wr_value_bool(bool b)
{
    wr_value v = {.u.i = b ? 1 : 0, .type = WR_T_BOOL};
    return v;
}
static inline wr_value wr_value_ts(int64_t ms)
{
    wr_value v = {.u.i = ms, .type = WR_T_TIMESTAMP};
    return v;
}
static inline wr_value wr_value_str(const char *s, uint32_t len)
{
    wr_value v = {.u.s = s, .len = len, .type = WR_T_STRING};
    return v;
}

/* True if a and b are both null, or have the same type and equal contents. */
bool wr_value_equal(const wr_value *a, const wr_value *b);

typedef struct wr_field {
    char *name;    /* owned */
    wr_type type;  /* never WR_T_NULL */
    bool optional; /* may be null */
} wr_field;

typedef struct wr_schema {
    int nfields;
    wr_field *fields; /* owned array of nfields */
} wr_schema;

/* Appends a field (name is copied). Returns false on allocation failure. */
bool wr_schema_add(wr_schema *s, const char *name, wr_type type, bool optional);
/* Returns the index of the field called name[0..len), or -1. */
int wr_schema_find(const wr_schema *s, const char *name, size_t len);
/* Deep copy into *dst (which is overwritten). Returns false on allocation failure. */
bool wr_schema_copy(wr_schema *dst, const wr_schema *src);
/* Frees the fields; leaves s empty. Safe on an empty (zeroed) schema. */
void wr_schema_fini(wr_schema *s);

#endif
