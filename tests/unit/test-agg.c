/*
 * test-agg.c — aggregate accumulators: every function against a direct computation over
 * random records (with NULLs, ties, duplicates, NaN and -0), merge equals adding
 * everything, the fixed and general paths agree, overflow, the byte layout, and
 * malformed accumulators (truncated, corrupted, garbage).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "agg.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Input columns. */
enum { C_K, C_L, C_D, C_S, C_T, C_B, C_TS, NCOLS };

#define HEAD                                                                                       \
    "name: j\n"                                                                                    \
    "sources:\n"                                                                                   \
    "  - name: s\n"                                                                                \
    "    kafka: {brokers: b, topic: t}\n"                                                          \
    "    schema: {k: string, l: long?, d: double?, s: string?, t: timestamp_ms?, b: bool?, "       \
    "ts: timestamp_ms}\n"                                                                          \
    "    event_time: {field: ts}\n"                                                                \
    "pipeline:\n"                                                                                  \
    "  - key_by: k\n"                                                                              \
    "  - window: {tumbling: 1m}\n"
#define SINK                                                                                       \
    "sinks:\n"                                                                                     \
    "  - kafka: {brokers: b, topic: out}\n"

/* Every function over every type it accepts. */
static const char all_aggs[] = "  - aggregate:\n"
                               "      c: count()\n"
                               "      sum_l: sum(l)\n"
                               "      sum_d: sum(d)\n"
                               "      avg_l: avg(l)\n"
                               "      avg_d: avg(d)\n"
                               "      min_l: min(l)\n"
                               "      max_l: max(l)\n"
                               "      min_d: min(d)\n"
                               "      max_d: max(d)\n"
                               "      min_s: min(s)\n"
                               "      max_s: max(s)\n"
                               "      min_t: min(t)\n"
                               "      max_t: max(t)\n"
                               "      cd_l: count_distinct(l)\n"
                               "      cd_d: count_distinct(d)\n"
                               "      cd_s: count_distinct(s)\n"
                               "      cd_t: count_distinct(t)\n"
                               "      cd_b: count_distinct(b)\n"
                               "      first_l: first(l)\n"
                               "      last_l: last(l)\n"
                               "      first_d: first(d)\n"
                               "      last_d: last(d)\n"
                               "      first_s: first(s)\n"
                               "      last_s: last(s)\n"
                               "      first_t: first(t)\n"
                               "      last_t: last(t)\n"
                               "      first_b: first(b)\n"
                               "      last_b: last(b)\n";

/* Only aggregates with a fixed-size accumulator. */
static const char fixed_aggs[] = "  - aggregate:\n"
                                 "      c: count()\n"
                                 "      sum_l: sum(l)\n"
                                 "      sum_d: sum(d)\n"
                                 "      avg_l: avg(l)\n"
                                 "      avg_d: avg(d)\n"
                                 "      min_l: min(l)\n"
                                 "      max_l: max(l)\n"
                                 "      min_d: min(d)\n"
                                 "      max_d: max(d)\n"
                                 "      min_t: min(t)\n"
                                 "      max_t: max(t)\n"
                                 "      first_l: first(l)\n"
                                 "      last_l: last(l)\n"
                                 "      first_d: first(d)\n"
                                 "      last_d: last(d)\n"
                                 "      first_t: first(t)\n"
                                 "      last_t: last(t)\n"
                                 "      first_b: first(b)\n"
                                 "      last_b: last(b)\n";

typedef struct fixture {
    wr_job_spec *spec;
    const wr_op_spec *op;
    wr_aggs *a;
} fixture;

static fixture load(const char *aggs)
{
    char text[4096];
    fixture f = {0};
    wr_spec_diags d = {0};
    wr_err err;

    snprintf(text, sizeof text, "%s%s%s", HEAD, aggs, SINK);
    err = wr_spec_parse("t.yaml", text, strlen(text), &f.spec, &d);
    for (int i = 0; i < d.n; i++)
        fprintf(stderr, "%d:%d: %s: %s\n", d.items[i].loc.line, d.items[i].loc.col, d.items[i].path,
                d.items[i].msg);
    wr_spec_diags_fini(&d);
    assert_int_equal(err, WR_OK);
    f.op = &f.spec->ops[f.spec->n_ops - 1];
    assert_int_equal(f.op->kind, WR_OP_AGGREGATE);
    f.a = wr_aggs_new(f.op);
    assert_non_null(f.a);
    return f;
}

static void unload(fixture *f)
{
    wr_aggs_free(f->a);
    wr_spec_free(f->spec);
}

/* ---- random records ------------------------------------------------------------------ */

typedef struct trow {
    wr_value v[NCOLS];
    char sbuf[8];
} trow;

static uint64_t rng_state;

static uint64_t rnd(void)
{
    uint64_t z = (rng_state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static int64_t rnd_in(int64_t lo, int64_t hi)
{
    return lo + (int64_t)(rnd() % (uint64_t)(hi - lo + 1));
}

/* Small domains, so values repeat (count_distinct overlap, min/max ties) and event
 * times tie (first/last). Doubles are multiples of 1/4, so sums are exact. */
static void gen_row(trow *r)
{
    static const char alpha[] = "ab\xff";
    bool null;

    memset(r, 0, sizeof *r);
    r->v[C_K] = wr_value_str("key", 3);
    null = rnd() % 5 == 0;
    r->v[C_L] = null ? wr_value_null() : wr_value_long(rnd_in(-40, 40));
    null = rnd() % 5 == 0;
    if (null) {
        r->v[C_D] = wr_value_null();
    } else {
        switch (rnd() % 30) {
        case 0:
            r->v[C_D] = wr_value_double(NAN);
            break;
        case 1:
            r->v[C_D] = wr_value_double(-0.0);
            break;
        case 2:
            r->v[C_D] = wr_value_double(-NAN);
            break;
        default:
            r->v[C_D] = wr_value_double((double)rnd_in(-60, 60) / 4);
        }
    }
    null = rnd() % 5 == 0;
    if (null) {
        r->v[C_S] = wr_value_null();
    } else {
        uint32_t len = (uint32_t)rnd_in(0, 3);
        for (uint32_t i = 0; i < len; i++)
            r->sbuf[i] = alpha[rnd() % 3];
        r->v[C_S] = wr_value_str(r->sbuf, len);
    }
    null = rnd() % 5 == 0;
    r->v[C_T] = null ? wr_value_null() : wr_value_ts(rnd_in(-20, 20) * 1000);
    null = rnd() % 5 == 0;
    r->v[C_B] = null ? wr_value_null() : wr_value_bool(rnd() % 2);
    r->v[C_TS] = wr_value_ts(rnd_in(0, 12));
}

/* Copies a row, pointing its string at the copy's own buffer. */
static void copy_row(trow *dst, const trow *src)
{
    *dst = *src;
    if (dst->v[C_S].type == WR_T_STRING && src->v[C_S].u.s == src->sbuf)
        dst->v[C_S].u.s = dst->sbuf;
}

static int64_t row_ts(const trow *r)
{
    return r->v[C_TS].u.i;
}

/* ---- the reference: a direct computation over the list -------------------------------- */

static int cmp_vals(const wr_value *a, const wr_value *b)
{
    if (a->type == WR_T_STRING) {
        size_t m = a->len < b->len ? a->len : b->len;
        int c = m ? memcmp(a->u.s, b->u.s, m) : 0;
        if (c)
            return c;
        return (a->len > b->len) - (a->len < b->len);
    }
    if (a->type == WR_T_DOUBLE) {
        bool an = isnan(a->u.d), bn = isnan(b->u.d); /* NaN sorts above everything */
        if (an || bn)
            return an - bn;
        return (a->u.d > b->u.d) - (a->u.d < b->u.d);
    }
    return (a->u.i > b->u.i) - (a->u.i < b->u.i);
}

/* Equal for count_distinct: all NaNs are one value, -0 is 0. */
static bool same_distinct(const wr_value *a, const wr_value *b)
{
    if (a->type == WR_T_DOUBLE && isnan(a->u.d) && isnan(b->u.d))
        return true;
    return wr_value_equal(a, b);
}

static wr_value reference(const wr_agg_spec *s, const trow *rows, int n)
{
    int cnt = 0, best = -1;
    int64_t lsum = 0;
    double dsum = 0;

    if (s->func == WR_AGG_COUNT)
        return wr_value_long(n);
    for (int i = 0; i < n; i++) {
        const wr_value *v = &rows[i].v[s->arg_col];
        if (v->type == WR_T_NULL)
            continue;
        switch (s->func) {
        case WR_AGG_SUM:
        case WR_AGG_AVG:
            if (v->type == WR_T_LONG) {
                lsum += v->u.i;
                dsum += (double)v->u.i;
            } else {
                dsum += v->u.d;
            }
            break;
        case WR_AGG_MIN:
            if (best < 0 || cmp_vals(v, &rows[best].v[s->arg_col]) < 0)
                best = i;
            break;
        case WR_AGG_MAX:
            if (best < 0 || cmp_vals(v, &rows[best].v[s->arg_col]) > 0)
                best = i;
            break;
        case WR_AGG_COUNT_DISTINCT: {
            bool seen = false;
            for (int j = 0; j < i && !seen; j++)
                seen = same_distinct(v, &rows[j].v[s->arg_col]);
            if (!seen)
                cnt++;
            continue; /* cnt counts distinct values here */
        }
        case WR_AGG_FIRST: /* smallest event time, earliest added */
            if (best < 0 || row_ts(&rows[i]) < row_ts(&rows[best]))
                best = i;
            break;
        case WR_AGG_LAST: /* largest event time, latest added */
            if (best < 0 || row_ts(&rows[i]) >= row_ts(&rows[best]))
                best = i;
            break;
        default:
            break;
        }
        cnt++;
    }
    if (s->func == WR_AGG_COUNT_DISTINCT)
        return wr_value_long(cnt);
    if (cnt == 0)
        return wr_value_null();
    if (s->func == WR_AGG_SUM)
        return s->out_type == WR_T_LONG ? wr_value_long(lsum) : wr_value_double(dsum);
    if (s->func == WR_AGG_AVG)
        return wr_value_double(dsum / cnt);
    return rows[best].v[s->arg_col];
}

static bool same_value(const wr_value *a, const wr_value *b)
{
    if (a->type == WR_T_DOUBLE && b->type == WR_T_DOUBLE && isnan(a->u.d) && isnan(b->u.d))
        return true;
    return wr_value_equal(a, b);
}

static void print_value(const char *what, const wr_value *v)
{
    switch ((wr_type)v->type) {
    case WR_T_NULL:
        fprintf(stderr, "  %s: NULL\n", what);
        break;
    case WR_T_DOUBLE:
        fprintf(stderr, "  %s: double %g\n", what, v->u.d);
        break;
    case WR_T_STRING:
        fprintf(stderr, "  %s: string '%.*s'\n", what, (int)v->len, v->u.s);
        break;
    default:
        fprintf(stderr, "  %s: %s %lld\n", what, wr_type_name((wr_type)v->type), (long long)v->u.i);
    }
}

/* The results of acc equal the reference over rows[0..n). */
static void expect_results(const fixture *f, const void *acc, size_t len, const trow *rows, int n)
{
    wr_value res[64];
    wr_errbuf eb = {{0}};

    assert_true(f->op->n_aggs <= 64);
    assert_int_equal(wr_aggs_result(f->a, acc, len, res, &eb), WR_OK);
    for (int i = 0; i < f->op->n_aggs; i++) {
        wr_value want = reference(&f->op->aggs[i], rows, n);
        if (!same_value(&res[i], &want)) {
            fprintf(stderr, "aggregate '%s' over %d records:\n", f->op->aggs[i].name, n);
            print_value("got ", &res[i]);
            print_value("want", &want);
            fail();
        }
        if (res[i].type != WR_T_NULL)
            assert_int_equal(res[i].type, f->op->aggs[i].out_type);
    }
}

/* Adds rows[0..n) one by one on the general path; acc (cap 0) gets the result. */
static void add_all(const fixture *f, wr_buf *acc, const trow *rows, int n)
{
    wr_buf tmp;
    wr_errbuf eb;

    wr_buf_init(&tmp, 0);
    for (int i = 0; i < n; i++) {
        assert_int_equal(
            wr_aggs_add(f->a, acc->p, acc->len, rows[i].v, row_ts(&rows[i]), &tmp, &eb), WR_OK);
        wr_buf b = *acc;
        *acc = tmp;
        tmp = b;
    }
    wr_buf_fini(&tmp);
}

/* ---- cases --------------------------------------------------------------------------- */

static void every_aggregate_matches_a_direct_computation_over_random_records(void **state)
{
    fixture f = load(all_aggs);
    trow rows[300];

    assert_false(wr_aggs_fixed(f.a));
    assert_int_equal(wr_aggs_count(f.a), f.op->n_aggs);
    for (uint64_t seed = 1; seed <= 40; seed++) {
        int n = (int)(seed * 7 % 300);
        wr_buf acc;

        rng_state = seed;
        for (int i = 0; i < n; i++)
            gen_row(&rows[i]);
        wr_buf_init(&acc, 0);
        add_all(&f, &acc, rows, n);
        expect_results(&f, acc.p, acc.len, rows, n);
        wr_buf_fini(&acc);
    }
    unload(&f);
}

static void results_are_correct_after_every_single_record(void **state)
{
    fixture f = load(all_aggs);
    trow rows[60];
    wr_buf acc, tmp;
    wr_errbuf eb;

    rng_state = 99;
    wr_buf_init(&acc, 0);
    wr_buf_init(&tmp, 0);
    for (int i = 0; i < 60; i++) {
        wr_buf b;
        gen_row(&rows[i]);
        assert_int_equal(wr_aggs_add(f.a, acc.p, acc.len, rows[i].v, row_ts(&rows[i]), &tmp, &eb),
                         WR_OK);
        b = acc;
        acc = tmp;
        tmp = b;
        expect_results(&f, acc.p, acc.len, rows, i + 1);
    }
    wr_buf_fini(&acc);
    wr_buf_fini(&tmp);
    unload(&f);
}

static void merging_two_random_halves_equals_adding_every_record(void **state)
{
    fixture f = load(all_aggs);
    static trow all[200], xs[200], ys[200], cat[200];

    for (uint64_t seed = 1; seed <= 60; seed++) {
        int n, nx = 0, ny = 0;
        wr_buf x, y, m;
        wr_errbuf eb;

        rng_state = seed * 1000;
        n = (int)rnd_in(0, 200);
        for (int i = 0; i < n; i++)
            gen_row(&all[i]);
        /* a random split, not contiguous: the reference is x's records then y's */
        for (int i = 0; i < n; i++) {
            if (rnd() % 2)
                copy_row(&xs[nx++], &all[i]);
            else
                copy_row(&ys[ny++], &all[i]);
        }
        for (int i = 0; i < nx; i++)
            copy_row(&cat[i], &xs[i]);
        for (int i = 0; i < ny; i++)
            copy_row(&cat[nx + i], &ys[i]);
        wr_buf_init(&x, 0);
        wr_buf_init(&y, 0);
        wr_buf_init(&m, 0);
        add_all(&f, &x, xs, nx);
        add_all(&f, &y, ys, ny);
        assert_int_equal(wr_aggs_merge(f.a, x.p, x.len, y.p, y.len, &m, &eb), WR_OK);
        expect_results(&f, m.p, m.len, cat, n);
        /* merging with an empty accumulator (length 0) changes nothing */
        assert_int_equal(wr_aggs_merge(f.a, m.p, m.len, NULL, 0, &x, &eb), WR_OK);
        assert_int_equal(x.len, m.len);
        assert_memory_equal(x.p, m.p, m.len);
        assert_int_equal(wr_aggs_merge(f.a, NULL, 0, m.p, m.len, &y, &eb), WR_OK);
        assert_int_equal(y.len, m.len);
        assert_memory_equal(y.p, m.p, m.len);
        wr_buf_fini(&x);
        wr_buf_fini(&y);
        wr_buf_fini(&m);
    }
    unload(&f);
}

static void merge_gives_first_ties_to_x_and_last_ties_to_y(void **state)
{
    fixture f = load("  - aggregate: {f: first(s), l: last(s), fl: first(l), ll: last(l)}\n");
    trow r[2];
    wr_buf x, y, m;
    wr_errbuf eb;
    wr_value res[4];

    memset(r, 0, sizeof r);
    r[0].v[C_S] = wr_value_str("x", 1);
    r[0].v[C_L] = wr_value_long(1);
    r[0].v[C_TS] = wr_value_ts(5);
    r[1].v[C_S] = wr_value_str("y", 1);
    r[1].v[C_L] = wr_value_long(2);
    r[1].v[C_TS] = wr_value_ts(5);
    wr_buf_init(&x, 0);
    wr_buf_init(&y, 0);
    wr_buf_init(&m, 0);
    add_all(&f, &x, &r[0], 1);
    add_all(&f, &y, &r[1], 1);
    assert_int_equal(wr_aggs_merge(f.a, x.p, x.len, y.p, y.len, &m, &eb), WR_OK);
    assert_int_equal(wr_aggs_result(f.a, m.p, m.len, res, &eb), WR_OK);
    assert_int_equal(res[0].len, 1);
    assert_memory_equal(res[0].u.s, "x", 1);
    assert_int_equal(res[1].len, 1);
    assert_memory_equal(res[1].u.s, "y", 1);
    assert_int_equal(res[2].u.i, 1);
    assert_int_equal(res[3].u.i, 2);
    /* the other way round, the other values win */
    assert_int_equal(wr_aggs_merge(f.a, y.p, y.len, x.p, x.len, &m, &eb), WR_OK);
    assert_int_equal(wr_aggs_result(f.a, m.p, m.len, res, &eb), WR_OK);
    assert_memory_equal(res[0].u.s, "y", 1);
    assert_memory_equal(res[1].u.s, "x", 1);
    assert_int_equal(res[2].u.i, 2);
    assert_int_equal(res[3].u.i, 1);
    wr_buf_fini(&x);
    wr_buf_fini(&y);
    wr_buf_fini(&m);
    unload(&f);
}

static void merging_is_associative_over_three_slices(void **state)
{
    fixture f = load(all_aggs);
    trow rows[90];
    wr_buf p[3], ab, ab_c, bc, a_bc;
    wr_errbuf eb;

    rng_state = 7;
    for (int i = 0; i < 90; i++)
        gen_row(&rows[i]);
    for (int i = 0; i < 3; i++) {
        wr_buf_init(&p[i], 0);
        add_all(&f, &p[i], rows + 30 * i, 30);
    }
    wr_buf_init(&ab, 0);
    wr_buf_init(&ab_c, 0);
    wr_buf_init(&bc, 0);
    wr_buf_init(&a_bc, 0);
    assert_int_equal(wr_aggs_merge(f.a, p[0].p, p[0].len, p[1].p, p[1].len, &ab, &eb), WR_OK);
    assert_int_equal(wr_aggs_merge(f.a, ab.p, ab.len, p[2].p, p[2].len, &ab_c, &eb), WR_OK);
    assert_int_equal(wr_aggs_merge(f.a, p[1].p, p[1].len, p[2].p, p[2].len, &bc, &eb), WR_OK);
    assert_int_equal(wr_aggs_merge(f.a, p[0].p, p[0].len, bc.p, bc.len, &a_bc, &eb), WR_OK);
    expect_results(&f, ab_c.p, ab_c.len, rows, 90);
    expect_results(&f, a_bc.p, a_bc.len, rows, 90);
    for (int i = 0; i < 3; i++)
        wr_buf_fini(&p[i]);
    wr_buf_fini(&ab);
    wr_buf_fini(&ab_c);
    wr_buf_fini(&bc);
    wr_buf_fini(&a_bc);
    unload(&f);
}

static void the_fixed_path_and_the_general_path_agree_byte_for_byte(void **state)
{
    fixture f = load(fixed_aggs);
    trow rows[200];
    size_t size = wr_aggs_size(f.a);
    unsigned char *acc = malloc(size);
    wr_buf g, tmp;
    wr_errbuf eb;

    assert_true(wr_aggs_fixed(f.a));
    assert_non_null(acc);
    for (uint64_t seed = 1; seed <= 10; seed++) {
        rng_state = seed * 31;
        wr_aggs_init(f.a, acc);
        wr_buf_init(&g, 0);
        wr_buf_init(&tmp, 0);
        for (int i = 0; i < 200; i++) {
            wr_buf b;
            gen_row(&rows[i]);
            assert_int_equal(wr_aggs_add_fixed(f.a, acc, rows[i].v, row_ts(&rows[i]), &eb), WR_OK);
            assert_int_equal(wr_aggs_add(f.a, g.p, g.len, rows[i].v, row_ts(&rows[i]), &tmp, &eb),
                             WR_OK);
            b = g;
            g = tmp;
            tmp = b;
            assert_int_equal(g.len, size);
            assert_memory_equal(g.p, acc, size);
        }
        expect_results(&f, acc, size, rows, 200);
        wr_buf_fini(&g);
        wr_buf_fini(&tmp);
    }
    free(acc);
    unload(&f);
}

static void fixed_is_true_only_without_strings_in_the_tail_or_count_distinct(void **state)
{
    static const struct {
        const char *aggs;
        bool fixed;
    } cases[] = {
        {"  - aggregate: {c: count()}\n", true},
        {"  - aggregate: {a: sum(l), b: avg(d), c: min(t), d: max(d)}\n", true},
        {"  - aggregate: {a: first(l), b: last(b), c: first(d), d: last(t)}\n", true},
        {"  - aggregate: {c: count(), m: min(s)}\n", false},
        {"  - aggregate: {c: count(), m: max(s)}\n", false},
        {"  - aggregate: {c: count(), m: first(s)}\n", false},
        {"  - aggregate: {c: count(), m: last(s)}\n", false},
        {"  - aggregate: {c: count(), m: count_distinct(l)}\n", false},
        {"  - aggregate: {c: count(), m: count_distinct(b)}\n", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fixture f = load(cases[i].aggs);
        assert_int_equal(wr_aggs_fixed(f.a), cases[i].fixed);
        unload(&f);
    }
}

static void an_empty_accumulator_is_null_except_counts_which_are_zero(void **state)
{
    fixture f = load(all_aggs);
    size_t size = wr_aggs_size(f.a);
    unsigned char *acc = malloc(size);
    wr_value res[64];
    wr_errbuf eb;

    assert_non_null(acc);
    wr_aggs_init(f.a, acc);
    for (int pass = 0; pass < 2; pass++) {
        /* length 0 and an initialised accumulator mean the same */
        assert_int_equal(wr_aggs_result(f.a, acc, pass ? size : 0, res, &eb), WR_OK);
        for (int i = 0; i < f.op->n_aggs; i++) {
            wr_agg_func fn = f.op->aggs[i].func;
            if (fn == WR_AGG_COUNT || fn == WR_AGG_COUNT_DISTINCT) {
                assert_int_equal(res[i].type, WR_T_LONG);
                assert_int_equal(res[i].u.i, 0);
            } else {
                assert_int_equal(res[i].type, WR_T_NULL);
            }
        }
    }
    free(acc);
    unload(&f);
}

static void null_arguments_are_skipped_but_count_counts_records(void **state)
{
    fixture f = load(all_aggs);
    trow r;
    wr_buf acc;
    wr_value res[64];
    wr_errbuf eb;

    memset(&r, 0, sizeof r);
    r.v[C_K] = wr_value_str("k", 1);
    r.v[C_TS] = wr_value_ts(1);
    wr_buf_init(&acc, 0);
    add_all(&f, &acc, &r, 1);
    add_all(&f, &acc, &r, 1);
    assert_int_equal(wr_aggs_result(f.a, acc.p, acc.len, res, &eb), WR_OK);
    for (int i = 0; i < f.op->n_aggs; i++) {
        wr_agg_func fn = f.op->aggs[i].func;
        if (fn == WR_AGG_COUNT)
            assert_int_equal(res[i].u.i, 2);
        else if (fn == WR_AGG_COUNT_DISTINCT)
            assert_int_equal(res[i].u.i, 0);
        else
            assert_int_equal(res[i].type, WR_T_NULL);
    }
    wr_buf_fini(&acc);
    unload(&f);
}

static void string_results_point_into_the_accumulator(void **state)
{
    fixture f = load("  - aggregate: {a: min(s), b: max(s), c: first(s), d: last(s)}\n");
    trow r[3];
    wr_buf acc;
    wr_value res[4];
    wr_errbuf eb;
    const char *words[] = {"pear", "apple", "zebra"};

    memset(r, 0, sizeof r);
    for (int i = 0; i < 3; i++) {
        r[i].v[C_S] = wr_value_str(words[i], (uint32_t)strlen(words[i]));
        r[i].v[C_TS] = wr_value_ts(10 - i);
    }
    wr_buf_init(&acc, 0);
    add_all(&f, &acc, r, 3);
    assert_int_equal(wr_aggs_result(f.a, acc.p, acc.len, res, &eb), WR_OK);
    for (int i = 0; i < 4; i++) {
        assert_true(res[i].u.s >= acc.p && res[i].u.s + res[i].len <= acc.p + acc.len);
    }
    assert_int_equal(res[0].len, 5);
    assert_memory_equal(res[0].u.s, "apple", 5);
    assert_memory_equal(res[1].u.s, "zebra", 5);
    assert_memory_equal(res[2].u.s, "zebra", 5); /* ts 8, the earliest */
    assert_memory_equal(res[3].u.s, "pear", 4);  /* ts 10, the latest */
    wr_buf_fini(&acc);
    unload(&f);
}

static void count_distinct_orders_extreme_values_and_counts_nan_once(void **state)
{
    fixture f = load("  - aggregate: {l: count_distinct(l), d: count_distinct(d), "
                     "mn: min(d), mx: max(d), ml: min(l), xl: max(l)}\n");
    static const int64_t longs[] = {INT64_MAX, INT64_MIN, -1, 0, 1, INT64_MIN, INT64_MAX, 0};
    static const double dbls[] = {0.0, -0.0, NAN, -NAN, INFINITY, -INFINITY, 1e308, -1e-308, 0.0};
    trow r[9];
    wr_buf acc;
    wr_value res[6];
    wr_errbuf eb;

    memset(r, 0, sizeof r);
    for (int i = 0; i < 9; i++) {
        r[i].v[C_L] = i < 8 ? wr_value_long(longs[i]) : wr_value_null();
        r[i].v[C_D] = wr_value_double(dbls[i]);
    }
    wr_buf_init(&acc, 0);
    add_all(&f, &acc, r, 9);
    assert_int_equal(wr_aggs_result(f.a, acc.p, acc.len, res, &eb), WR_OK);
    assert_int_equal(res[0].u.i, 5); /* MIN, -1, 0, 1, MAX */
    assert_int_equal(res[1].u.i, 6); /* 0, NaN, inf, -inf, 1e308, -1e-308 */
    assert_true(res[2].u.d == -INFINITY);
    assert_true(isnan(res[3].u.d)); /* NaN sorts above everything */
    assert_int_equal(res[4].u.i, INT64_MIN);
    assert_int_equal(res[5].u.i, INT64_MAX);
    wr_buf_fini(&acc);
    unload(&f);
}

static void a_sum_that_overflows_fails_naming_the_aggregate_and_leaves_acc_unchanged(void **state)
{
    fixture f = load("  - aggregate: {c: count(), total: sum(l), m: max(l)}\n");
    size_t size = wr_aggs_size(f.a);
    unsigned char *acc = malloc(size), *copy = malloc(size);
    wr_value row[NCOLS] = {{.u.i = 0}};
    wr_errbuf eb = {{0}};
    wr_buf out, out2;

    assert_non_null(acc);
    assert_non_null(copy);
    wr_aggs_init(f.a, acc);
    row[C_L] = wr_value_long(INT64_MAX - 1);
    assert_int_equal(wr_aggs_add_fixed(f.a, acc, row, 0, &eb), WR_OK);
    memcpy(copy, acc, size);
    row[C_L] = wr_value_long(2);
    assert_int_equal(wr_aggs_add_fixed(f.a, acc, row, 0, &eb), WR_EEVAL);
    assert_non_null(strstr(eb.msg, "sum(l) overflows a 64-bit integer"));
    assert_non_null(strstr(eb.msg, "'total'"));
    assert_memory_equal(acc, copy, size); /* count(), before it in the spec, too */
    /* the general path fails the same way */
    wr_buf_init(&out, 0);
    eb.msg[0] = '\0';
    assert_int_equal(wr_aggs_add(f.a, acc, size, row, 0, &out, &eb), WR_EEVAL);
    assert_non_null(strstr(eb.msg, "sum(l) overflows"));
    assert_memory_equal(acc, copy, size);
    /* exactly INT64_MAX is fine */
    row[C_L] = wr_value_long(1);
    assert_int_equal(wr_aggs_add_fixed(f.a, acc, row, 0, &eb), WR_OK);
    /* merging two large sums overflows too */
    wr_buf_init(&out2, 0);
    assert_int_equal(wr_aggs_merge(f.a, acc, size, acc, size, &out2, &eb), WR_EEVAL);
    assert_non_null(strstr(eb.msg, "sum(l) overflows"));
    /* and downwards */
    wr_aggs_init(f.a, acc);
    row[C_L] = wr_value_long(INT64_MIN);
    assert_int_equal(wr_aggs_add_fixed(f.a, acc, row, 0, &eb), WR_OK);
    memcpy(copy, acc, size);
    row[C_L] = wr_value_long(-1);
    assert_int_equal(wr_aggs_add_fixed(f.a, acc, row, 0, &eb), WR_EEVAL);
    assert_memory_equal(acc, copy, size);
    wr_buf_fini(&out);
    wr_buf_fini(&out2);
    free(acc);
    free(copy);
    unload(&f);
}

/* A count at INT64_MAX (the largest the decoder accepts from state) cannot take one more
 * record: both add paths fail with WR_EEVAL instead of writing a count the decoder would
 * then reject. Found by tests/fuzz/fuzz-agg.c. */
static void a_count_at_int64_max_fails_to_add_instead_of_wrapping(void **state)
{
    fixture f = load("  - aggregate: {c: count(), a: avg(l)}\n");
    size_t size = wr_aggs_size(f.a);
    unsigned char *acc = malloc(size), *copy = malloc(size);
    wr_value row[NCOLS] = {{.u.i = 0}}, res[2];
    wr_errbuf eb = {{0}};
    wr_buf out;

    assert_non_null(acc);
    assert_non_null(copy);
    wr_buf_init(&out, 0);
    for (int which = 0; which < 2; which++) { /* 0: count()'s count, 1: avg's */
        wr_aggs_init(f.a, acc);
        row[C_L] = wr_value_long(1);
        assert_int_equal(wr_aggs_add_fixed(f.a, acc, row, 0, &eb), WR_OK);
        memset(acc + 8 + (which ? 16 : 0), 0xff, 7); /* count(): slot 8; avg's count: 24 */
        acc[8 + (which ? 16 : 0) + 7] = 0x7f;
        assert_int_equal(wr_aggs_result(f.a, acc, size, res, &eb), WR_OK);
        memcpy(copy, acc, size);
        eb.msg[0] = '\0';
        assert_int_equal(wr_aggs_add_fixed(f.a, acc, row, 0, &eb), WR_EEVAL);
        assert_non_null(strstr(eb.msg, which ? "'a'" : "'c'"));
        assert_non_null(strstr(eb.msg, "overflows a 64-bit integer"));
        assert_memory_equal(acc, copy, size);
        assert_int_equal(wr_aggs_add(f.a, acc, size, row, 0, &out, &eb), WR_EEVAL);
        /* avg skips a NULL argument, so only count() is in the way then */
        row[C_L] = wr_value_null();
        assert_int_equal(wr_aggs_add_fixed(f.a, acc, row, 0, &eb), which ? WR_OK : WR_EEVAL);
    }
    wr_buf_fini(&out);
    free(acc);
    free(copy);
    unload(&f);
}

/* The byte layout is persisted in checkpoints: pin it. */
static void the_accumulator_layout_is_stable(void **state)
{
    fixture f = load("  - aggregate: {c: count(), s: sum(l), f: first(s), d: count_distinct(l)}\n");
    trow r[3];
    wr_buf acc;
    static const unsigned char want[] = {
        1,    1,    1,    1,    0,    0,    0,    0,    /* has[4], padding to 8 */
        3,    0,    0,    0,    0,    0,    0,    0,    /* count() = 3 */
        0xfb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, /* sum(l) = -5 */
        4,    0,    0,    0,    0,    0,    0,    0,    /* first(s): event time 4 */
        2,    0,    0,    0,    0,    0,    0,    0,    /* ... L = 2 */
        2,    0,    0,    0,    0,    0,    0,    0,    /* count_distinct(l): N = 2 */
        16,   0,    0,    0,    0,    0,    0,    0,    /* ... L = 16 */
        'h',  'i',                                      /* first(s) = "hi" */
        0xfa, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, /* -6 ^ 2^63 */
        1,    0,    0,    0,    0,    0,    0,    0x80, /* 1 ^ 2^63 */
    };

    memset(r, 0, sizeof r);
    r[0].v[C_L] = wr_value_long(1);
    r[0].v[C_S] = wr_value_str("yo", 2);
    r[0].v[C_TS] = wr_value_ts(9);
    r[1].v[C_L] = wr_value_long(-6);
    r[1].v[C_S] = wr_value_str("hi", 2);
    r[1].v[C_TS] = wr_value_ts(4);
    r[2].v[C_L] = wr_value_null();
    r[2].v[C_S] = wr_value_str("ho", 2);
    r[2].v[C_TS] = wr_value_ts(4);
    assert_int_equal(wr_aggs_size(f.a), 8 + 8 + 8 + 16 + 16);
    wr_buf_init(&acc, 0);
    add_all(&f, &acc, r, 3);
    assert_int_equal(acc.len, sizeof want);
    assert_memory_equal(acc.p, want, sizeof want);
    wr_buf_fini(&acc);
    unload(&f);
}

static void the_output_cap_is_reported_as_too_big(void **state)
{
    fixture f = load("  - aggregate: {m: max(s)}\n");
    trow r;
    wr_buf out;
    wr_errbuf eb;

    memset(&r, 0, sizeof r);
    r.v[C_S] = wr_value_str("0123456789", 10);
    wr_buf_init(&out, wr_aggs_size(f.a) + 9);
    assert_int_equal(wr_aggs_add(f.a, NULL, 0, r.v, 0, &out, &eb), WR_ETOOBIG);
    wr_buf_fini(&out);
    unload(&f);
}

/* Every decoder on (acc, len): returns its error, or WR_OK if all accepted it. */
static wr_err decode_all(const fixture *f, const void *acc, size_t len)
{
    wr_value res[64], row[NCOLS] = {{.u.i = 0}};
    wr_buf out;
    wr_errbuf eb;
    wr_err e1, e2, e3, e4;

    row[C_S] = wr_value_str("b", 1);
    row[C_L] = wr_value_long(3);
    row[C_D] = wr_value_double(1.5);
    wr_buf_init(&out, 0);
    e1 = wr_aggs_result(f->a, acc, len, res, &eb);
    e2 = wr_aggs_add(f->a, acc, len, row, 3, &out, &eb);
    e3 = wr_aggs_merge(f->a, acc, len, NULL, 0, &out, &eb);
    e4 = wr_aggs_merge(f->a, NULL, 0, acc, len, &out, &eb);
    wr_buf_fini(&out);
    assert_int_equal(e1, e2);
    assert_int_equal(e1, e3);
    assert_int_equal(e1, e4);
    return e1;
}

static void truncated_accumulators_are_malformed(void **state)
{
    fixture f = load(all_aggs);
    trow rows[50];
    wr_buf acc;

    rng_state = 5;
    for (int i = 0; i < 50; i++)
        gen_row(&rows[i]);
    wr_buf_init(&acc, 0);
    add_all(&f, &acc, rows, 50);
    assert_int_equal(decode_all(&f, acc.p, acc.len), WR_OK);
    for (size_t len = 1; len < acc.len; len++) {
        /* a copy of exactly len bytes, so ASan sees any read past the end */
        char *p = malloc(len);
        assert_non_null(p);
        memcpy(p, acc.p, len);
        assert_int_equal(decode_all(&f, p, len), WR_EMALFORMED);
        free(p);
    }
    /* and one byte too many */
    assert_int_equal(wr_buf_putc(&acc, 0), WR_OK);
    assert_int_equal(decode_all(&f, acc.p, acc.len), WR_EMALFORMED);
    wr_buf_fini(&acc);
    unload(&f);
}

static void corrupted_accumulators_are_malformed_or_harmless_never_a_crash(void **state)
{
    fixture f = load(all_aggs);
    trow rows[40];
    wr_buf acc;
    int malformed = 0;

    rng_state = 11;
    for (int i = 0; i < 40; i++)
        gen_row(&rows[i]);
    wr_buf_init(&acc, 0);
    add_all(&f, &acc, rows, 40);
    for (size_t i = 0; i < acc.len; i++) {
        static const unsigned char flips[] = {0x01, 0x80, 0xff};
        for (size_t k = 0; k < sizeof flips; k++) {
            char *p = malloc(acc.len);
            wr_err e;
            assert_non_null(p);
            memcpy(p, acc.p, acc.len);
            p[i] = (char)(p[i] ^ flips[k]);
            e = decode_all(&f, p, acc.len);
            assert_true(e == WR_OK || e == WR_EMALFORMED);
            malformed += e == WR_EMALFORMED;
            free(p);
        }
    }
    /* every flip of the fixed part's structure is caught; most flips overall are */
    assert_true(malformed > (int)acc.len);
    wr_buf_fini(&acc);
    unload(&f);
}

static void garbage_is_malformed(void **state)
{
    fixture f = load(all_aggs);
    size_t size = wr_aggs_size(f.a);

    rng_state = 3;
    for (int t = 0; t < 500; t++) {
        size_t len = (size_t)rnd_in(1, (int64_t)size * 2);
        char *p = malloc(len);
        assert_non_null(p);
        for (size_t i = 0; i < len; i++)
            p[i] = (char)rnd();
        assert_int_equal(decode_all(&f, p, len), WR_EMALFORMED);
        free(p);
    }
    unload(&f);
}

static void specific_corruptions_are_malformed(void **state)
{
    fixture f = load("  - aggregate: {c: count(), m: min(s), d: count_distinct(l), "
                     "e: count_distinct(s)}\n");
    trow r[3];
    wr_buf acc;
    char *p;
    size_t tail;

    memset(r, 0, sizeof r);
    for (int i = 0; i < 3; i++) {
        r[i].v[C_L] = wr_value_long(i);
        r[i].sbuf[0] = (char)('a' + i);
        r[i].v[C_S] = wr_value_str(r[i].sbuf, 1);
    }
    wr_buf_init(&acc, 0);
    add_all(&f, &acc, r, 3);
    assert_int_equal(decode_all(&f, acc.p, acc.len), WR_OK);
    tail = wr_aggs_size(f.a);
    assert_int_equal(acc.len, tail + 1 + 3 * 8 + 3 * 5);
    p = malloc(acc.len);
    assert_non_null(p);
#define CORRUPT(stmt)                                                                              \
    do {                                                                                           \
        memcpy(p, acc.p, acc.len);                                                                 \
        stmt;                                                                                      \
        assert_int_equal(decode_all(&f, p, acc.len), WR_EMALFORMED);                               \
    } while (0)
    CORRUPT(p[0] = 2);                              /* has flag */
    CORRUPT(p[5] = 1);                              /* padding */
    CORRUPT(p[8] = 0);                              /* count 0 with has set */
    CORRUPT(p[15] = (char)0x80);                    /* negative count */
    CORRUPT(p[16] = 2);                             /* min(s) length past the segments */
    CORRUPT(p[24] = 4);                             /* count_distinct(l) N wrong */
    CORRUPT(p[32] = 17);                            /* count_distinct(l) L wrong */
    CORRUPT(p[tail + 1] = 5);                       /* keys out of order */
    CORRUPT(memcpy(p + tail + 9, p + tail + 1, 8)); /* duplicate key */
    CORRUPT(p[tail + 25] = 9);                      /* string entry length past the end */
    CORRUPT(p[tail + 29] = 'z');                    /* string entries out of order */
#undef CORRUPT
    free(p);
    wr_buf_fini(&acc);
    unload(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_aggregate_matches_a_direct_computation_over_random_records),
        cmocka_unit_test(results_are_correct_after_every_single_record),
        cmocka_unit_test(merging_two_random_halves_equals_adding_every_record),
        cmocka_unit_test(merge_gives_first_ties_to_x_and_last_ties_to_y),
        cmocka_unit_test(merging_is_associative_over_three_slices),
        cmocka_unit_test(the_fixed_path_and_the_general_path_agree_byte_for_byte),
        cmocka_unit_test(fixed_is_true_only_without_strings_in_the_tail_or_count_distinct),
        cmocka_unit_test(an_empty_accumulator_is_null_except_counts_which_are_zero),
        cmocka_unit_test(null_arguments_are_skipped_but_count_counts_records),
        cmocka_unit_test(string_results_point_into_the_accumulator),
        cmocka_unit_test(count_distinct_orders_extreme_values_and_counts_nan_once),
        cmocka_unit_test(a_sum_that_overflows_fails_naming_the_aggregate_and_leaves_acc_unchanged),
        cmocka_unit_test(a_count_at_int64_max_fails_to_add_instead_of_wrapping),
        cmocka_unit_test(the_accumulator_layout_is_stable),
        cmocka_unit_test(the_output_cap_is_reported_as_too_big),
        cmocka_unit_test(truncated_accumulators_are_malformed),
        cmocka_unit_test(corrupted_accumulators_are_malformed_or_harmless_never_a_crash),
        cmocka_unit_test(garbage_is_malformed),
        cmocka_unit_test(specific_corruptions_are_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
