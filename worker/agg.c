/*
 * agg.c — aggregate functions over byte-string accumulators (see agg.h).
 *
 * Accumulator layout, version 1. Integers are little-endian; a double is its IEEE-754
 * binary64 bit pattern, stored as a little-endian 64-bit integer. n is the number of
 * aggregates; everything is in spec order.
 *
 *   offset 0   has[n]: one byte per aggregate, 1 once it has seen a non-NULL argument
 *              (count(): a record), else 0; then zero bytes up to H = n rounded up to 8.
 *   offset H   one slot per aggregate:
 *                count()                   8   i64 count
 *                sum(long)                 8   i64 sum
 *                sum(double)               8   f64 sum
 *                avg(long|double)         16   f64 sum, i64 count
 *                min/max(long|timestamp)   8   i64 value
 *                min/max(double)           8   f64 value
 *                min/max(string)           8   u64 L: the length of its tail segment
 *                count_distinct(any)      16   u64 N: distinct values, u64 L
 *                first/last(bool|long|ts) 16   i64 event time, i64 value (bool: 0 or 1)
 *                first/last(double)       16   i64 event time, f64 value
 *                first/last(string)       16   i64 event time, u64 L
 *              The fixed part ends at S = wr_aggs_size().
 *   offset S   the tail: one segment per min/max/first/last(string) and count_distinct,
 *              in spec order, each exactly its slot's L bytes, nothing after the last:
 *                min/max/first/last(string)  the string's bytes (L <= UINT32_MAX)
 *                count_distinct(bool|long|timestamp|double)
 *                              N 8-byte keys, L = 8 N, strictly increasing as u64:
 *                              bool/long/ts: value XOR 2^63; double: the bits with
 *                              -0 → +0 and every NaN → 0x7ff8000000000000, then mapped
 *                              to a total order (sign set: ~bits; else bits | 2^63).
 *                count_distinct(string)
 *                              N entries (u32 length, bytes), strictly increasing
 *                              bytewise (a proper prefix sorts first).
 *
 * A slot whose has byte is 0 is all zero bytes (count and count_distinct have has = 1
 * exactly when their count is non-zero), so the empty accumulator is S zero bytes and
 * length 0 stands for it. Decoders check all of this (they read accumulators from
 * disk) and fail with WR_EMALFORMED; only wr_aggs_add_fixed trusts acc, which the
 * caller has written with wr_aggs_init or this module.
 *
 * Numbers: sum(long) and counts fail with WR_EEVAL rather than wrap; doubles compare
 * in a total order with NaN above everything and -0 equal to +0, and count_distinct
 * counts all NaNs as one value and -0 as +0. Merging double sums and averages adds two
 * partial sums, so it equals adding every record up to rounding.
 */
#include "agg.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SIGN64 ((uint64_t)1 << 63)
#define CANON_NAN UINT64_C(0x7ff8000000000000)

/* How one aggregate is stored. */
typedef enum kind {
    K_COUNT,
    K_SUM_L,
    K_SUM_D,
    K_AVG_L,
    K_AVG_D,
    K_MIN_L,
    K_MAX_L,
    K_MIN_D,
    K_MAX_D,
    K_MIN_S, /* strings and count_distinct live in the tail */
    K_MAX_S,
    K_FIRST_8,
    K_LAST_8,
    K_FIRST_S,
    K_LAST_S,
    K_DISTINCT_8,
    K_DISTINCT_S,
} kind;

typedef struct agg agg;
/* Adds the record row at ts to the fixed slot of g in acc (a fixed aggregate). */
typedef void (*add_fn)(const agg *g, uint8_t *acc, const wr_value *row, int64_t ts);

struct agg {
    kind k;
    int col;       /* argument's column, -1 for count() */
    wr_type in;    /* argument type (WR_T_NULL for count()) */
    wr_type out;   /* result type */
    size_t has;    /* index of its has byte */
    size_t off;    /* offset of its slot */
    bool var;      /* has a tail segment */
    size_t lenoff; /* var: offset of the segment length L within the slot */
    size_t cntoff; /* count() and avg: offset of the count within the slot */
    add_fn add;    /* fixed-slot handler (NULL when var) */
    char *name;    /* output field */
    char *arg;     /* argument field name ("" for count()) */
    const char *fn;
};

struct wr_aggs {
    int n;
    bool fixed;
    size_t hdr;  /* H */
    size_t size; /* S */
    int n_sums;  /* sum(long) aggregates: checked for overflow before any slot changes */
    int *sums;
    int n_counts; /* count() and avg aggregates: their counts are checked for overflow too */
    int *counts;
    uint8_t *zero; /* an empty accumulator, size bytes (at least 1 allocated) */
    agg *aggs;
};

/* ---- little-endian access ---------------------------------------------------------- */

static inline uint64_t ld64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

static inline void st64(uint8_t *p, uint64_t v)
{
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    memcpy(p, &v, 8);
}

static inline uint32_t ld32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline void st32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static inline uint64_t dbits(double d)
{
    uint64_t u;
    memcpy(&u, &d, 8);
    return u;
}

static inline double bitsd(uint64_t u)
{
    double d;
    memcpy(&d, &u, 8);
    return d;
}

static inline double ld_d(const uint8_t *p)
{
    return bitsd(ld64(p));
}

static inline void st_d(uint8_t *p, double d)
{
    st64(p, dbits(d));
}

/* The 8 raw bytes of a non-NULL bool/long/timestamp/double argument of type t. */
static inline uint64_t raw8(wr_type t, const wr_value *v)
{
    return t == WR_T_DOUBLE ? dbits(v->u.d) : (uint64_t)v->u.i;
}

/* ---- orders ------------------------------------------------------------------------ */

/* Total order on doubles: NaN above everything, -0 == +0. */
static inline int cmp_d(double a, double b)
{
    if (isnan(a))
        return isnan(b) ? 0 : 1;
    if (isnan(b))
        return -1;
    return (a > b) - (a < b);
}

static inline int cmp_i(int64_t a, int64_t b)
{
    return (a > b) - (a < b);
}

static int cmp_bytes(const void *a, size_t alen, const void *b, size_t blen)
{
    size_t m = alen < blen ? alen : blen;
    int c = m ? memcmp(a, b, m) : 0;

    if (c)
        return c < 0 ? -1 : 1;
    return (alen > blen) - (alen < blen);
}

/* The count_distinct key of a non-NULL fixed-size value (see the layout). */
static uint64_t distinct_key(wr_type t, const wr_value *v)
{
    uint64_t b;

    if (t != WR_T_DOUBLE)
        return (uint64_t)v->u.i ^ SIGN64;
    if (isnan(v->u.d))
        b = CANON_NAN;
    else if (v->u.d == 0)
        b = 0;
    else
        b = dbits(v->u.d);
    return (b & SIGN64) ? ~b : (b | SIGN64);
}

/* True if k is a key distinct_key can produce for type t. */
static bool distinct_key_ok(wr_type t, uint64_t k)
{
    uint64_t b;

    if (t == WR_T_BOOL)
        return k == SIGN64 || k == (SIGN64 | 1);
    if (t != WR_T_DOUBLE)
        return true;
    b = (k & SIGN64) ? (k & ~SIGN64) : ~k;
    if (b == (SIGN64 | 0)) /* -0 */
        return false;
    if ((b & ~SIGN64) > UINT64_C(0x7ff0000000000000)) /* a NaN */
        return b == CANON_NAN;
    return true;
}

/* ---- fixed-slot handlers (the hot path) -------------------------------------------- */

static void add_count(const agg *g, uint8_t *acc, const wr_value *row, int64_t ts)
{
    acc[g->has] = 1;
    st64(acc + g->off, ld64(acc + g->off) + 1); /* check_sums ruled out a wrap */
}

/* sum(long): the caller has checked for overflow, so the unsigned add is exact. */
static void add_sum_l(const agg *g, uint8_t *acc, const wr_value *row, int64_t ts)
{
    const wr_value *v = &row[g->col];
    if (v->type == WR_T_NULL)
        return;
    acc[g->has] = 1;
    st64(acc + g->off, ld64(acc + g->off) + (uint64_t)v->u.i);
}

static void add_sum_d(const agg *g, uint8_t *acc, const wr_value *row, int64_t ts)
{
    const wr_value *v = &row[g->col];
    if (v->type == WR_T_NULL)
        return;
    acc[g->has] = 1;
    st_d(acc + g->off, ld_d(acc + g->off) + v->u.d);
}

static void add_avg_l(const agg *g, uint8_t *acc, const wr_value *row, int64_t ts)
{
    const wr_value *v = &row[g->col];
    if (v->type == WR_T_NULL)
        return;
    acc[g->has] = 1;
    st_d(acc + g->off, ld_d(acc + g->off) + (double)v->u.i);
    st64(acc + g->off + 8, ld64(acc + g->off + 8) + 1);
}

static void add_avg_d(const agg *g, uint8_t *acc, const wr_value *row, int64_t ts)
{
    const wr_value *v = &row[g->col];
    if (v->type == WR_T_NULL)
        return;
    acc[g->has] = 1;
    st_d(acc + g->off, ld_d(acc + g->off) + v->u.d);
    st64(acc + g->off + 8, ld64(acc + g->off + 8) + 1);
}

static void add_min_l(const agg *g, uint8_t *acc, const wr_value *row, int64_t ts)
{
    const wr_value *v = &row[g->col];
    if (v->type == WR_T_NULL)
        return;
    if (!acc[g->has] || v->u.i < (int64_t)ld64(acc + g->off)) {
        acc[g->has] = 1;
        st64(acc + g->off, (uint64_t)v->u.i);
    }
}

static void add_max_l(const agg *g, uint8_t *acc, const wr_value *row, int64_t ts)
{
    const wr_value *v = &row[g->col];
    if (v->type == WR_T_NULL)
        return;
    if (!acc[g->has] || v->u.i > (int64_t)ld64(acc + g->off)) {
        acc[g->has] = 1;
        st64(acc + g->off, (uint64_t)v->u.i);
    }
}

static void add_min_d(const agg *g, uint8_t *acc, const wr_value *row, int64_t ts)
{
    const wr_value *v = &row[g->col];
    if (v->type == WR_T_NULL)
        return;
    if (!acc[g->has] || cmp_d(v->u.d, ld_d(acc + g->off)) < 0) {
        acc[g->has] = 1;
        st_d(acc + g->off, v->u.d);
    }
}

static void add_max_d(const agg *g, uint8_t *acc, const wr_value *row, int64_t ts)
{
    const wr_value *v = &row[g->col];
    if (v->type == WR_T_NULL)
        return;
    if (!acc[g->has] || cmp_d(v->u.d, ld_d(acc + g->off)) > 0) {
        acc[g->has] = 1;
        st_d(acc + g->off, v->u.d);
    }
}

/* first: strictly earlier replaces (the earlier-added wins ties). */
static void add_first_8(const agg *g, uint8_t *acc, const wr_value *row, int64_t ts)
{
    const wr_value *v = &row[g->col];
    if (v->type == WR_T_NULL)
        return;
    if (!acc[g->has] || ts < (int64_t)ld64(acc + g->off)) {
        acc[g->has] = 1;
        st64(acc + g->off, (uint64_t)ts);
        st64(acc + g->off + 8, raw8(g->in, v));
    }
}

/* last: as late or later replaces (the later-added wins ties). */
static void add_last_8(const agg *g, uint8_t *acc, const wr_value *row, int64_t ts)
{
    const wr_value *v = &row[g->col];
    if (v->type == WR_T_NULL)
        return;
    if (!acc[g->has] || ts >= (int64_t)ld64(acc + g->off)) {
        acc[g->has] = 1;
        st64(acc + g->off, (uint64_t)ts);
        st64(acc + g->off + 8, raw8(g->in, v));
    }
}

/* ---- compile ----------------------------------------------------------------------- */

static const char *func_name(wr_agg_func f)
{
    switch (f) {
    case WR_AGG_COUNT:
        return "count";
    case WR_AGG_SUM:
        return "sum";
    case WR_AGG_MIN:
        return "min";
    case WR_AGG_MAX:
        return "max";
    case WR_AGG_AVG:
        return "avg";
    case WR_AGG_COUNT_DISTINCT:
        return "count_distinct";
    case WR_AGG_FIRST:
        return "first";
    case WR_AGG_LAST:
        return "last";
    }
    return "?";
}

/* Chooses the storage kind, slot size and handler of g (func f over type g->in). */
static size_t classify(agg *g, wr_agg_func f)
{
    bool str = g->in == WR_T_STRING, dbl = g->in == WR_T_DOUBLE;

    switch (f) {
    case WR_AGG_COUNT:
        g->k = K_COUNT;
        g->add = add_count;
        return 8;
    case WR_AGG_SUM:
        g->k = dbl ? K_SUM_D : K_SUM_L;
        g->add = dbl ? add_sum_d : add_sum_l;
        return 8;
    case WR_AGG_AVG:
        g->k = dbl ? K_AVG_D : K_AVG_L;
        g->add = dbl ? add_avg_d : add_avg_l;
        return 16;
    case WR_AGG_MIN:
        g->k = str ? K_MIN_S : dbl ? K_MIN_D : K_MIN_L;
        g->add = str ? NULL : dbl ? add_min_d : add_min_l;
        return 8;
    case WR_AGG_MAX:
        g->k = str ? K_MAX_S : dbl ? K_MAX_D : K_MAX_L;
        g->add = str ? NULL : dbl ? add_max_d : add_max_l;
        return 8;
    case WR_AGG_COUNT_DISTINCT:
        g->k = str ? K_DISTINCT_S : K_DISTINCT_8;
        return 16;
    case WR_AGG_FIRST:
        g->k = str ? K_FIRST_S : K_FIRST_8;
        g->add = str ? NULL : add_first_8;
        return 16;
    case WR_AGG_LAST:
        g->k = str ? K_LAST_S : K_LAST_8;
        g->add = str ? NULL : add_last_8;
        return 16;
    }
    assert(!"unknown aggregate function");
    return 8;
}

wr_aggs *wr_aggs_new(const wr_op_spec *op)
{
    wr_aggs *a = calloc(1, sizeof *a);
    size_t off;

    if (!a)
        return NULL;
    assert(op->kind == WR_OP_AGGREGATE && op->n_aggs >= 0);
    a->n = op->n_aggs;
    a->fixed = true;
    a->aggs = calloc(a->n ? (size_t)a->n : 1, sizeof *a->aggs);
    a->sums = calloc(a->n ? (size_t)a->n : 1, sizeof *a->sums);
    a->counts = calloc(a->n ? (size_t)a->n : 1, sizeof *a->counts);
    if (!a->aggs || !a->sums || !a->counts)
        goto fail;
    a->hdr = off = ((size_t)a->n + 7) & ~(size_t)7;
    for (int i = 0; i < a->n; i++) {
        const wr_agg_spec *s = &op->aggs[i];
        agg *g = &a->aggs[i];
        const char *arg = "";

        g->col = s->arg_col;
        g->out = s->out_type;
        if (s->arg_col >= 0) {
            assert(s->arg_col < op->in_schema.nfields);
            g->in = op->in_schema.fields[s->arg_col].type;
            arg = op->in_schema.fields[s->arg_col].name;
        } else {
            assert(s->func == WR_AGG_COUNT);
            g->in = WR_T_NULL;
        }
        g->fn = func_name(s->func);
        g->name = strdup(s->name ? s->name : "?");
        g->arg = strdup(arg);
        if (!g->name || !g->arg)
            goto fail;
        g->has = (size_t)i;
        g->off = off;
        off += classify(g, s->func);
        g->var = g->add == NULL;
        g->lenoff = g->k == K_MIN_S || g->k == K_MAX_S ? 0 : 8;
        if (g->var)
            a->fixed = false;
        if (g->k == K_SUM_L)
            a->sums[a->n_sums++] = i;
        if (g->k == K_COUNT || g->k == K_AVG_L || g->k == K_AVG_D) {
            g->cntoff = g->k == K_COUNT ? 0 : 8;
            a->counts[a->n_counts++] = i;
        }
    }
    a->size = off;
    a->zero = calloc(off ? off : 1, 1);
    if (!a->zero)
        goto fail;
    return a;
fail:
    wr_aggs_free(a);
    return NULL;
}

void wr_aggs_free(wr_aggs *a)
{
    if (!a)
        return;
    if (a->aggs) {
        for (int i = 0; i < a->n; i++) {
            free(a->aggs[i].name);
            free(a->aggs[i].arg);
        }
    }
    free(a->aggs);
    free(a->sums);
    free(a->counts);
    free(a->zero);
    free(a);
}

bool wr_aggs_fixed(const wr_aggs *a)
{
    return a->fixed;
}

size_t wr_aggs_size(const wr_aggs *a)
{
    return a->size;
}

int wr_aggs_count(const wr_aggs *a)
{
    return a->n;
}

void wr_aggs_init(const wr_aggs *a, void *acc)
{
    memset(acc, 0, a->size);
}

/* ---- errors ------------------------------------------------------------------------ */

static wr_err sum_overflow(const agg *g, wr_errbuf *eb)
{
    return wr_fail(eb, WR_EEVAL, "aggregate '%s': %s(%s) overflows a 64-bit integer", g->name,
                   g->fn, g->arg);
}

static wr_err count_overflow(const agg *g, wr_errbuf *eb)
{
    return wr_fail(eb, WR_EEVAL, "aggregate '%s': the count of %s(%s) overflows a 64-bit integer",
                   g->name, g->fn, g->arg);
}

static wr_err bad(const agg *g, wr_errbuf *eb, const char *why)
{
    if (g)
        return wr_fail(eb, WR_EMALFORMED, "malformed accumulator: aggregate '%s' (%s(%s)): %s",
                       g->name, g->fn, g->arg, why);
    return wr_fail(eb, WR_EMALFORMED, "malformed accumulator: %s", why);
}

/* Checks the sum(long) slots of acc (trusted) against row: WR_EEVAL on overflow. And the
 * counts: a count read from state may be INT64_MAX (the decoder accepts it), and one more
 * record must fail rather than wrap it. */
static wr_err check_sums(const wr_aggs *a, const uint8_t *acc, const wr_value *row, wr_errbuf *eb)
{
    for (int k = 0; k < a->n_counts; k++) {
        const agg *g = &a->aggs[a->counts[k]];

        if (ld64(acc + g->off + g->cntoff) >= INT64_MAX &&
            (g->k == K_COUNT || row[g->col].type != WR_T_NULL))
            return count_overflow(g, eb);
    }
    for (int k = 0; k < a->n_sums; k++) {
        const agg *g = &a->aggs[a->sums[k]];
        const wr_value *v = &row[g->col];
        int64_t r;

        if (v->type != WR_T_NULL && acc[g->has] &&
            __builtin_add_overflow((int64_t)ld64(acc + g->off), v->u.i, &r))
            return sum_overflow(g, eb);
    }
    return WR_OK;
}

wr_err wr_aggs_add_fixed(const wr_aggs *a, void *acc, const wr_value *row, int64_t ts,
                         wr_errbuf *eb)
{
    uint8_t *p = acc;
    wr_err err;

    assert(a->fixed);
    if ((a->n_sums || a->n_counts) && (err = check_sums(a, p, row, eb)) != WR_OK)
        return err;
    for (int i = 0; i < a->n; i++)
        a->aggs[i].add(&a->aggs[i], p, row, ts);
    return WR_OK;
}

/* ---- decoding ---------------------------------------------------------------------- */

static bool all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i])
            return false;
    }
    return true;
}

/* Checks the count_distinct segment seg[0..len) of g holding n values. */
static wr_err check_distinct(const agg *g, const uint8_t *seg, uint64_t len, uint64_t n,
                             wr_errbuf *eb)
{
    if (g->k == K_DISTINCT_8) {
        if (len % 8 != 0 || len / 8 != n)
            return bad(g, eb, "the distinct values do not fill their segment");
        for (uint64_t i = 0; i < n; i++) {
            uint64_t k = ld64(seg + 8 * i);
            if (!distinct_key_ok(g->in, k))
                return bad(g, eb, "a distinct value is not a canonical key");
            if (i > 0 && k <= ld64(seg + 8 * (i - 1)))
                return bad(g, eb, "the distinct values are not strictly increasing");
        }
        return WR_OK;
    }
    {
        const uint8_t *p = seg, *prev = NULL, *end = seg + len;
        uint32_t prevlen = 0;

        for (uint64_t i = 0; i < n; i++) {
            uint32_t l;
            if ((size_t)(end - p) < 4)
                return bad(g, eb, "a distinct value is truncated");
            l = ld32(p);
            if ((size_t)(end - p) - 4 < l)
                return bad(g, eb, "a distinct value is truncated");
            if (prev && cmp_bytes(prev, prevlen, p + 4, l) >= 0)
                return bad(g, eb, "the distinct values are not strictly increasing");
            prev = p + 4;
            prevlen = l;
            p += 4 + (size_t)l;
        }
        if (p != end)
            return bad(g, eb, "bytes after the last distinct value");
    }
    return WR_OK;
}

/* Checks that acc[0..len) is an accumulator of a (len 0: empty). */
static wr_err check(const wr_aggs *a, const uint8_t *acc, size_t len, wr_errbuf *eb)
{
    size_t rem;

    if (len == 0)
        return WR_OK;
    if (len < a->size)
        return bad(NULL, eb, "shorter than its fixed part");
    for (int i = 0; i < a->n; i++) {
        if (acc[i] > 1)
            return bad(&a->aggs[i], eb, "its has flag is neither 0 nor 1");
    }
    if (!all_zero(acc + a->n, a->hdr - (size_t)a->n))
        return bad(NULL, eb, "non-zero padding");
    rem = len - a->size;
    for (int i = 0; i < a->n; i++) {
        const agg *g = &a->aggs[i];
        const uint8_t *s = acc + g->off;
        bool has = acc[g->has];
        uint64_t n, l;

        switch (g->k) {
        case K_COUNT:
            n = ld64(s);
            if (n > INT64_MAX)
                return bad(g, eb, "negative count");
            if (has != (n != 0))
                return bad(g, eb, "its has flag disagrees with its count");
            break;
        case K_AVG_L:
        case K_AVG_D:
            n = ld64(s + 8);
            if (n > INT64_MAX)
                return bad(g, eb, "negative count");
            if (has != (n != 0))
                return bad(g, eb, "its has flag disagrees with its count");
            if (!has && ld64(s) != 0)
                return bad(g, eb, "an empty slot is not zero");
            break;
        case K_SUM_L:
        case K_SUM_D:
        case K_MIN_L:
        case K_MAX_L:
        case K_MIN_D:
        case K_MAX_D:
            if (!has && ld64(s) != 0)
                return bad(g, eb, "an empty slot is not zero");
            break;
        case K_FIRST_8:
        case K_LAST_8:
            if (!has && !all_zero(s, 16))
                return bad(g, eb, "an empty slot is not zero");
            if (g->in == WR_T_BOOL && ld64(s + 8) > 1)
                return bad(g, eb, "a bool is neither 0 nor 1");
            break;
        case K_MIN_S:
        case K_MAX_S:
        case K_FIRST_S:
        case K_LAST_S:
            l = ld64(s + g->lenoff);
            if (!has && !all_zero(s, g->lenoff + 8))
                return bad(g, eb, "an empty slot is not zero");
            if (l > UINT32_MAX)
                return bad(g, eb, "a string longer than 4 GiB");
            if (l > rem)
                return bad(g, eb, "its string runs past the end");
            rem -= (size_t)l;
            break;
        case K_DISTINCT_8:
        case K_DISTINCT_S: {
            wr_err err;
            n = ld64(s);
            l = ld64(s + 8);
            if (has != (n != 0))
                return bad(g, eb, "its has flag disagrees with its count");
            if (l > rem)
                return bad(g, eb, "its distinct values run past the end");
            if (n > l / (g->k == K_DISTINCT_8 ? 8 : 4))
                return bad(g, eb, "more distinct values than its segment can hold");
            err = check_distinct(g, acc + len - rem, l, n, eb);
            if (err)
                return err;
            rem -= (size_t)l;
            break;
        }
        }
    }
    if (rem != 0)
        return bad(NULL, eb, "bytes after the last segment");
    return WR_OK;
}

/* The length of g's tail segment in a checked accumulator. */
static size_t seg_len(const agg *g, const uint8_t *acc)
{
    return (size_t)ld64(acc + g->off + g->lenoff);
}

/* ---- general path ------------------------------------------------------------------ */

/* Appends n bytes to out; the slot pointers of out must be re-read afterwards. */
static wr_err put(wr_buf *out, const void *p, size_t n)
{
    return wr_buf_append(out, p, n);
}

/* Adds v to the count_distinct segment seg[0..len) of g, appending the new segment to
 * out; sets *added when v was new. */
static wr_err distinct_add(const agg *g, const uint8_t *seg, size_t len, const wr_value *v,
                           wr_buf *out, bool *added)
{
    size_t pos;
    wr_err err;

    *added = false;
    if (g->k == K_DISTINCT_8) {
        uint64_t key = distinct_key(g->in, v);
        size_t lo = 0, hi = len / 8;
        uint8_t kb[8];

        while (lo < hi) { /* first index whose key is >= key */
            size_t mid = lo + (hi - lo) / 2;
            if (ld64(seg + 8 * mid) < key)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo < len / 8 && ld64(seg + 8 * lo) == key)
            return put(out, seg, len);
        pos = 8 * lo;
        st64(kb, key);
        if ((err = put(out, seg, pos)) || (err = put(out, kb, 8)))
            return err;
    } else {
        /* Variable-size entries: a linear scan (the copy below is linear anyway). */
        uint8_t lb[4];
        int c = 1;

        pos = 0;
        while (pos < len) {
            uint32_t l = ld32(seg + pos);
            c = cmp_bytes(seg + pos + 4, l, v->u.s, v->len);
            if (c >= 0)
                break;
            pos += 4 + (size_t)l;
        }
        if (pos < len && c == 0)
            return put(out, seg, len);
        st32(lb, v->len);
        if ((err = put(out, seg, pos)) || (err = put(out, lb, 4)) ||
            (err = put(out, v->u.s, v->len)))
            return err;
    }
    *added = true;
    return put(out, seg + pos, len - pos);
}

/* Adds row at ts to the variable aggregate g: old is the checked source accumulator,
 * seg its segment; appends the new segment to out and updates g's slot there. */
static wr_err add_var(const agg *g, const uint8_t *old, const uint8_t *seg, const wr_value *row,
                      int64_t ts, wr_buf *out)
{
    const wr_value *v = &row[g->col];
    size_t len = seg_len(g, old);
    bool has = old[g->has], take;
    uint8_t *slot;
    wr_err err;

    if (v->type == WR_T_NULL)
        return put(out, seg, len);
    switch (g->k) {
    case K_MIN_S:
    case K_MAX_S: {
        int c = has ? cmp_bytes(v->u.s, v->len, seg, len) : 0;
        take = !has || (g->k == K_MIN_S ? c < 0 : c > 0);
        break;
    }
    case K_FIRST_S:
        take = !has || ts < (int64_t)ld64(old + g->off);
        break;
    case K_LAST_S:
        take = !has || ts >= (int64_t)ld64(old + g->off);
        break;
    default: { /* count_distinct */
        bool added;
        if ((err = distinct_add(g, seg, len, v, out, &added)) != WR_OK)
            return err;
        if (added) {
            slot = (uint8_t *)out->p + g->off;
            out->p[g->has] = 1;
            st64(slot, ld64(slot) + 1);
            st64(slot + 8, ld64(slot + 8) + (g->k == K_DISTINCT_8 ? 8 : 4 + (uint64_t)v->len));
        }
        return WR_OK;
    }
    }
    if (!take)
        return put(out, seg, len);
    if ((err = put(out, v->u.s, v->len)) != WR_OK)
        return err;
    slot = (uint8_t *)out->p + g->off;
    out->p[g->has] = 1;
    if (g->lenoff)
        st64(slot, (uint64_t)ts);
    st64(slot + g->lenoff, v->len);
    return WR_OK;
}

wr_err wr_aggs_add(const wr_aggs *a, const void *acc, size_t len, const wr_value *row, int64_t ts,
                   wr_buf *out, wr_errbuf *eb)
{
    const uint8_t *p = acc, *tail;
    wr_err err;

    if ((err = check(a, p, len, eb)) != WR_OK)
        return err;
    if (len == 0) {
        p = a->zero;
        len = a->size;
    }
    if ((err = check_sums(a, p, row, eb)) != WR_OK)
        return err;
    wr_buf_clear(out);
    if ((err = wr_buf_append(out, p, a->size)) != WR_OK)
        return err;
    for (int i = 0; i < a->n; i++) {
        const agg *g = &a->aggs[i];
        if (!g->var)
            g->add(g, (uint8_t *)out->p, row, ts);
    }
    tail = p + a->size;
    for (int i = 0; i < a->n; i++) {
        const agg *g = &a->aggs[i];
        if (!g->var)
            continue;
        if ((err = add_var(g, p, tail, row, ts, out)) != WR_OK)
            return err;
        tail += seg_len(g, p);
    }
    return WR_OK;
}

/* ---- merge ------------------------------------------------------------------------- */

/* Merges the fixed slot of g from x and y (both checked) into o (a copy of x's). */
static wr_err merge_fixed(const agg *g, const uint8_t *x, const uint8_t *y, uint8_t *o,
                          wr_errbuf *eb)
{
    const uint8_t *xs = x + g->off, *ys = y + g->off;
    uint8_t *os = o + g->off;
    bool hx = x[g->has], hy = y[g->has], take;
    uint64_t n;
    int64_t r;

    if (!hy)
        return WR_OK; /* o already holds x's */
    switch (g->k) {
    case K_COUNT:
        n = ld64(xs) + ld64(ys); /* both <= INT64_MAX: no unsigned wrap */
        if (n > INT64_MAX)
            return count_overflow(g, eb);
        st64(os, n);
        break;
    case K_SUM_L:
        if (__builtin_add_overflow((int64_t)ld64(xs), (int64_t)ld64(ys), &r))
            return sum_overflow(g, eb);
        st64(os, (uint64_t)r);
        break;
    case K_SUM_D:
        st_d(os, hx ? ld_d(xs) + ld_d(ys) : ld_d(ys));
        break;
    case K_AVG_L:
    case K_AVG_D:
        n = ld64(xs + 8) + ld64(ys + 8);
        if (n > INT64_MAX)
            return count_overflow(g, eb);
        st_d(os, hx ? ld_d(xs) + ld_d(ys) : ld_d(ys));
        st64(os + 8, n);
        break;
    case K_MIN_L:
    case K_MAX_L: {
        int c = cmp_i((int64_t)ld64(ys), (int64_t)ld64(xs));
        take = !hx || (g->k == K_MIN_L ? c < 0 : c > 0);
        if (take)
            memcpy(os, ys, 8);
        break;
    }
    case K_MIN_D:
    case K_MAX_D: {
        int c = cmp_d(ld_d(ys), ld_d(xs));
        take = !hx || (g->k == K_MIN_D ? c < 0 : c > 0);
        if (take)
            memcpy(os, ys, 8);
        break;
    }
    case K_FIRST_8:
    case K_LAST_8: {
        int64_t tx = (int64_t)ld64(xs), ty = (int64_t)ld64(ys);
        take = !hx || (g->k == K_FIRST_8 ? ty < tx : ty >= tx);
        if (take)
            memcpy(os, ys, 16);
        break;
    }
    default:
        assert(!"not a fixed aggregate");
        break;
    }
    o[g->has] = 1;
    return WR_OK;
}

/* Linear merge of two checked count_distinct segments into out; *n gets the count. */
static wr_err distinct_merge(const agg *g, const uint8_t *xs, size_t xl, const uint8_t *ys,
                             size_t yl, wr_buf *out, uint64_t *n)
{
    size_t i = 0, j = 0;
    wr_err err;

    *n = 0;
    if (g->k == K_DISTINCT_8) {
        while (i < xl || j < yl) {
            const uint8_t *e;
            if (j >= yl || (i < xl && ld64(xs + i) <= ld64(ys + j))) {
                if (j < yl && ld64(xs + i) == ld64(ys + j))
                    j += 8;
                e = xs + i;
                i += 8;
            } else {
                e = ys + j;
                j += 8;
            }
            if ((err = put(out, e, 8)) != WR_OK)
                return err;
            (*n)++;
        }
        return WR_OK;
    }
    while (i < xl || j < yl) {
        const uint8_t *e;
        size_t el;
        int c;

        if (i >= xl)
            c = 1;
        else if (j >= yl)
            c = -1;
        else
            c = cmp_bytes(xs + i + 4, ld32(xs + i), ys + j + 4, ld32(ys + j));
        if (c <= 0) {
            e = xs + i;
            el = 4 + (size_t)ld32(e);
            i += el;
            if (c == 0)
                j += 4 + (size_t)ld32(ys + j);
        } else {
            e = ys + j;
            el = 4 + (size_t)ld32(e);
            j += el;
        }
        if ((err = put(out, e, el)) != WR_OK)
            return err;
        (*n)++;
    }
    return WR_OK;
}

/* Merges the variable aggregate g: appends its segment to out and sets its slot. */
static wr_err merge_var(const agg *g, const uint8_t *x, const uint8_t *xseg, const uint8_t *y,
                        const uint8_t *yseg, wr_buf *out)
{
    size_t xl = seg_len(g, x), yl = seg_len(g, y);
    bool hx = x[g->has], hy = y[g->has], take;
    uint8_t *slot;
    wr_err err;

    switch (g->k) {
    case K_MIN_S:
    case K_MAX_S: {
        int c = hx && hy ? cmp_bytes(yseg, yl, xseg, xl) : 0;
        take = hy && (!hx || (g->k == K_MIN_S ? c < 0 : c > 0));
        break;
    }
    case K_FIRST_S:
    case K_LAST_S: {
        int64_t tx = (int64_t)ld64(x + g->off), ty = (int64_t)ld64(y + g->off);
        take = hy && (!hx || (g->k == K_FIRST_S ? ty < tx : ty >= tx));
        break;
    }
    default: { /* count_distinct */
        size_t start = out->len;
        uint64_t n;
        if ((err = distinct_merge(g, xseg, xl, yseg, yl, out, &n)) != WR_OK)
            return err;
        slot = (uint8_t *)out->p + g->off;
        out->p[g->has] = n != 0;
        st64(slot, n);
        st64(slot + 8, out->len - start);
        return WR_OK;
    }
    }
    if (!take)
        return put(out, xseg, xl); /* out's slot is already x's */
    if ((err = put(out, yseg, yl)) != WR_OK)
        return err;
    memcpy(out->p + g->off, y + g->off, g->lenoff + 8);
    out->p[g->has] = 1;
    return WR_OK;
}

wr_err wr_aggs_merge(const wr_aggs *a, const void *x, size_t xlen, const void *y, size_t ylen,
                     wr_buf *out, wr_errbuf *eb)
{
    const uint8_t *xp = x, *yp = y, *xt, *yt;
    wr_err err;

    if ((err = check(a, xp, xlen, eb)) != WR_OK || (err = check(a, yp, ylen, eb)) != WR_OK)
        return err;
    if (xlen == 0)
        xp = a->zero;
    if (ylen == 0)
        yp = a->zero;
    wr_buf_clear(out);
    if ((err = wr_buf_append(out, xp, a->size)) != WR_OK)
        return err;
    for (int i = 0; i < a->n; i++) {
        const agg *g = &a->aggs[i];
        if (!g->var && (err = merge_fixed(g, xp, yp, (uint8_t *)out->p, eb)) != WR_OK)
            return err;
    }
    xt = xp + a->size;
    yt = yp + a->size;
    for (int i = 0; i < a->n; i++) {
        const agg *g = &a->aggs[i];
        if (!g->var)
            continue;
        if ((err = merge_var(g, xp, xt, yp, yt, out)) != WR_OK)
            return err;
        xt += seg_len(g, xp);
        yt += seg_len(g, yp);
    }
    return WR_OK;
}

/* ---- results ----------------------------------------------------------------------- */

/* A value of type t from 8 raw bytes. */
static wr_value value8(wr_type t, uint64_t raw)
{
    switch (t) {
    case WR_T_DOUBLE:
        return wr_value_double(bitsd(raw));
    case WR_T_BOOL:
        return wr_value_bool(raw != 0);
    case WR_T_TIMESTAMP:
        return wr_value_ts((int64_t)raw);
    default:
        return wr_value_long((int64_t)raw);
    }
}

wr_err wr_aggs_result(const wr_aggs *a, const void *acc, size_t len, wr_value *out, wr_errbuf *eb)
{
    const uint8_t *p = acc, *tail;
    wr_err err;

    if ((err = check(a, p, len, eb)) != WR_OK)
        return err;
    if (len == 0)
        p = a->zero;
    tail = p + a->size;
    for (int i = 0; i < a->n; i++) {
        const agg *g = &a->aggs[i];
        const uint8_t *s = p + g->off;
        bool has = p[g->has];
        wr_value v = wr_value_null();

        switch (g->k) {
        case K_COUNT:
            v = wr_value_long((int64_t)ld64(s));
            break;
        case K_DISTINCT_8:
        case K_DISTINCT_S:
            v = wr_value_long((int64_t)ld64(s));
            break;
        case K_AVG_L:
        case K_AVG_D:
            if (has)
                v = wr_value_double(ld_d(s) / (double)ld64(s + 8));
            break;
        case K_SUM_L:
        case K_SUM_D:
        case K_MIN_L:
        case K_MAX_L:
        case K_MIN_D:
        case K_MAX_D:
            if (has)
                v = value8(g->out, ld64(s));
            break;
        case K_FIRST_8:
        case K_LAST_8:
            if (has)
                v = value8(g->out, ld64(s + 8));
            break;
        case K_MIN_S:
        case K_MAX_S:
        case K_FIRST_S:
        case K_LAST_S:
            if (has)
                v = wr_value_str((const char *)tail, (uint32_t)seg_len(g, p));
            break;
        }
        if (g->var)
            tail += seg_len(g, p);
        out[i] = v;
    }
    return WR_OK;
}
