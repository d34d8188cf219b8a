/*
 * test-window.c — the keyed window operator with simulated event time: tumbling,
 * sliding and session windows, firing at the watermark, allowed lateness (late updates,
 * too-late records, state cleanup, session retractions), the key encoding, malformed
 * state, errors, and a randomized comparison against a reference model written here
 * (with a 4 KiB state cache, so state spills to RocksDB).
 *
 * Every test opens a fresh state store in a mkdtemp directory and removes it at the end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "keygroup.h"
#include "window.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Input columns. */
enum { C_USER, C_REGION, C_V, C_NAME, C_TS, NCOLS };

#define SPEC_FMT                                                                                   \
    "name: w\n"                                                                                    \
    "sources:\n"                                                                                   \
    "  - name: s\n"                                                                                \
    "    kafka: {brokers: b, topic: t}\n"                                                          \
    "    schema: {user: string, region: long, v: long, name: string, ts: timestamp_ms}\n"          \
    "    event_time: {field: ts}\n"                                                                \
    "pipeline:\n"                                                                                  \
    "  - key_by: %s\n"                                                                             \
    "  - window: %s\n"                                                                             \
    "  - aggregate: %s\n"                                                                          \
    "sinks:\n"                                                                                     \
    "  - kafka: {brokers: b, topic: o}\n"

#define AGGS_FIXED "{c: count(), s: sum(v), lo: min(v), hi: max(v)}"
#define AGGS_VAR "{c: count(), s: sum(v), top: max(name), d: count_distinct(v)}"

#define MAXV 4

/* One captured output row. */
typedef struct rec {
    char key[64];
    int64_t start, end;
    int64_t v[MAXV];
    char s[MAXV][16];
    bool null[MAXV];
} rec;

typedef struct late_rec {
    char key[64];
    int64_t ts;
} late_rec;

typedef struct fx {
    char dir[64];
    wr_job_spec *spec;
    wr_state *st;
    wr_window_op *w;
    int n_keys, n_aggs;
    int64_t wm;   /* the watermark last passed to the operator */
    size_t early; /* results emitted before the watermark reached their end */
    size_t bad_retract;
    rec *emits;
    size_t n_emits, cap_emits;
    rec *retracts;
    size_t n_retracts, cap_retracts;
    late_rec *lates;
    size_t n_lates, cap_lates;
    wr_err fail_emit; /* returned by the emit callback when set */
} fx;

static void *grow(void *p, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap)
        return p;
    *cap = *cap ? *cap * 2 : 64;
    p = realloc(p, *cap * elem);
    if (!p)
        abort();
    return p;
}

static void key_text(const wr_value *row, int n, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && used < size; i++) {
        const wr_value *v = &row[i];
        int r;
        if (v->type == WR_T_STRING)
            r = snprintf(buf + used, size - used, "%s%.*s", i ? "|" : "", (int)v->len, v->u.s);
        else if (v->type == WR_T_NULL)
            r = snprintf(buf + used, size - used, "%snull", i ? "|" : "");
        else
            r = snprintf(buf + used, size - used, "%s%lld", i ? "|" : "", (long long)v->u.i);
        used += r > 0 ? (size_t)r : 0;
    }
}

static void to_rec(const fx *f, const wr_value *row, rec *r)
{
    memset(r, 0, sizeof *r);
    key_text(row, f->n_keys, r->key, sizeof r->key);
    r->start = row[f->n_keys].u.i;
    r->end = row[f->n_keys + 1].u.i;
    for (int i = 0; i < f->n_aggs && i < MAXV; i++) {
        const wr_value *v = &row[f->n_keys + 2 + i];
        if (v->type == WR_T_NULL)
            r->null[i] = true;
        else if (v->type == WR_T_STRING)
            snprintf(r->s[i], sizeof r->s[i], "%.*s", (int)v->len, v->u.s);
        else
            r->v[i] = v->u.i;
    }
}

static wr_err cb_emit(void *arg, const wr_value *row, wr_errbuf *eb)
{
    fx *f = arg;
    rec r;
    to_rec(f, row, &r);
    if (row[f->n_keys].type != WR_T_TIMESTAMP || row[f->n_keys + 1].type != WR_T_TIMESTAMP ||
        r.end > f->wm)
        f->early++;
    f->emits = grow(f->emits, &f->cap_emits, f->n_emits, sizeof *f->emits);
    f->emits[f->n_emits++] = r;
    if (f->fail_emit)
        return wr_fail(eb, f->fail_emit, "the sink refused the result");
    return WR_OK;
}

static wr_err cb_retract(void *arg, const wr_value *row, wr_errbuf *eb)
{
    fx *f = arg;
    rec r;
    to_rec(f, row, &r);
    for (int i = 0; i < f->n_aggs; i++) {
        if (row[f->n_keys + 2 + i].type != WR_T_NULL)
            f->bad_retract++;
    }
    f->retracts = grow(f->retracts, &f->cap_retracts, f->n_retracts, sizeof *f->retracts);
    f->retracts[f->n_retracts++] = r;
    return WR_OK;
}

static wr_err cb_late(void *arg, const wr_value *row, int64_t ts, wr_errbuf *eb)
{
    fx *f = arg;
    late_rec l;
    key_text(row, 1, l.key, sizeof l.key);
    l.ts = ts;
    f->lates = grow(f->lates, &f->cap_lates, f->n_lates, sizeof *f->lates);
    f->lates[f->n_lates++] = l;
    return WR_OK;
}

static fx *fx_open(const char *keys, const char *window, const char *aggs, size_t cache)
{
    fx *f = calloc(1, sizeof *f);
    char text[2048];
    wr_spec_diags d = {0};
    wr_errbuf eb = {{0}};
    wr_state_options o = {0};
    wr_window_out out;
    const wr_op_spec *kop;

    assert_non_null(f);
    f->wm = INT64_MIN;
    snprintf(text, sizeof text, SPEC_FMT, keys, window, aggs);
    if (wr_spec_parse("t.yaml", text, strlen(text), &f->spec, &d) != WR_OK) {
        for (int i = 0; i < d.n; i++)
            fprintf(stderr, "%d:%d: %s: %s\n", d.items[i].loc.line, d.items[i].loc.col,
                    d.items[i].path, d.items[i].msg);
        wr_spec_diags_fini(&d);
        fail_msg("spec does not parse");
    }
    strcpy(f->dir, "/tmp/test-window-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    o.dir = f->dir;
    o.column_family = "window";
    o.cache_bytes = cache;
    o.kg_first = 0;
    o.kg_last = f->spec->max_parallelism - 1;
    if (wr_state_open(&o, &f->st, &eb) != WR_OK)
        fail_msg("wr_state_open: %s", eb.msg);
    kop = &f->spec->ops[0];
    f->n_keys = kop->n_keys;
    f->n_aggs = f->spec->ops[2].n_aggs;
    out = (wr_window_out){.arg = f, .emit = cb_emit, .retract = cb_retract, .late = cb_late};
    if (wr_window_new(f->spec, 1, kop->key_cols, kop->n_keys, f->st, &out, 65536, &f->w, &eb) !=
        WR_OK)
        fail_msg("wr_window_new: %s", eb.msg);
    return f;
}

static void fx_close(fx *f)
{
    wr_errbuf eb;
    wr_window_free(f->w);
    wr_state_close(f->st);
    assert_int_equal(wr_state_remove_dir(f->dir, &eb), WR_OK);
    wr_spec_free(f->spec);
    free(f->emits);
    free(f->retracts);
    free(f->lates);
    free(f);
}

static void mkrow(wr_value *row, const char *user, int64_t region, int64_t v, const char *name,
                  int64_t ts)
{
    row[C_USER] = wr_value_str(user, (uint32_t)strlen(user));
    row[C_REGION] = wr_value_long(region);
    row[C_V] = wr_value_long(v);
    row[C_NAME] = wr_value_str(name, (uint32_t)strlen(name));
    row[C_TS] = wr_value_ts(ts);
}

static wr_err try_add(fx *f, const char *user, int64_t region, int64_t v, const char *name,
                      int64_t ts, wr_errbuf *eb)
{
    wr_value row[NCOLS];
    mkrow(row, user, region, v, name, ts);
    return wr_window_process(f->w, row, ts, eb);
}

static void add(fx *f, const char *user, int64_t v, int64_t ts)
{
    wr_errbuf eb = {{0}};
    if (try_add(f, user, 0, v, "n", ts, &eb) != WR_OK)
        fail_msg("wr_window_process: %s", eb.msg);
}

static void adv(fx *f, int64_t wm)
{
    wr_errbuf eb = {{0}};
    if (wm > f->wm)
        f->wm = wm;
    if (wr_window_advance(f->w, wm, &eb) != WR_OK)
        fail_msg("wr_window_advance: %s", eb.msg);
}

static wr_window_stats stats(const fx *f)
{
    wr_window_stats s;
    wr_window_get_stats(f->w, &s);
    return s;
}

/* The last result emitted for (key, start), or NULL. */
static const rec *last_emit(const fx *f, const char *key, int64_t start)
{
    for (size_t i = f->n_emits; i-- > 0;) {
        if (strcmp(f->emits[i].key, key) == 0 && f->emits[i].start == start)
            return &f->emits[i];
    }
    return NULL;
}

static void assert_result(const rec *r, int64_t end, int64_t c, int64_t s, int64_t lo, int64_t hi)
{
    assert_non_null(r);
    assert_int_equal(r->end, end);
    assert_int_equal(r->v[0], c);
    assert_int_equal(r->v[1], s);
    assert_int_equal(r->v[2], lo);
    assert_int_equal(r->v[3], hi);
}

static bool store_empty(fx *f)
{
    int64_t ns;
    wr_state_iter *it;
    int kg;
    const void *k, *v;
    size_t kl, vl;
    wr_err err = WR_OK;
    bool any;

    if (!wr_state_min_ns(f->st, &ns))
        return true;
    /* a namespace whose entries were all removed may be reported once */
    assert_int_equal(wr_state_iter_new(f->st, ns, false, &it, NULL), WR_OK);
    any = wr_state_iter_next(it, &kg, &k, &kl, &v, &vl, &err, NULL);
    wr_state_iter_free(it);
    assert_int_equal(err, WR_OK);
    return !any;
}

/* ---- tumbling ---- */

static void tumbling_windows_give_count_sum_min_and_max_per_key(void **state)
{
    fx *f = fx_open("user", "{tumbling: 10s}", AGGS_FIXED, 1 << 20);
    add(f, "alice", 5, 1000);
    add(f, "alice", -3, 9999);
    add(f, "alice", 7, 10000);
    add(f, "bob", 2, 500);
    adv(f, 9999);
    assert_int_equal(f->n_emits, 0);
    adv(f, 10000);
    assert_int_equal(f->n_emits, 2);
    assert_result(last_emit(f, "alice", 0), 10000, 2, 2, -3, 5);
    assert_result(last_emit(f, "bob", 0), 10000, 1, 2, 2, 2);
    adv(f, 20000);
    assert_int_equal(f->n_emits, 3);
    assert_result(last_emit(f, "alice", 10000), 20000, 1, 7, 7, 7);
    assert_int_equal(stats(f).records, 4);
    assert_int_equal(stats(f).fired, 3);
    assert_int_equal(stats(f).late_fired, 0);
    assert_int_equal(stats(f).watermark, 20000);
    assert_int_equal(f->early, 0);
    fx_close(f);
}

static void keys_in_several_key_groups_each_get_their_own_result(void **state)
{
    fx *f = fx_open("[user, region]", "{tumbling: 1s}", AGGS_FIXED, 1 << 20);
    bool seen_kg[128] = {0};
    int n_kg = 0;

    for (int i = 0; i < 20; i++) {
        char user[16];
        wr_value row[NCOLS];
        int cols[2] = {C_USER, C_REGION};
        wr_errbuf eb;
        int kg;
        snprintf(user, sizeof user, "u%d", i);
        mkrow(row, user, i % 3, 0, "n", 0);
        kg = wr_keygroup_of(wr_key_hash(row, cols, 2), 128);
        if (!seen_kg[kg]) {
            seen_kg[kg] = true;
            n_kg++;
        }
        for (int j = 0; j <= i; j++)
            assert_int_equal(try_add(f, user, i % 3, j, "n", 999 - j, &eb), WR_OK);
    }
    assert_true(n_kg >= 10);
    adv(f, 1000);
    assert_int_equal(f->n_emits, 20);
    for (int i = 0; i < 20; i++) {
        char key[32];
        snprintf(key, sizeof key, "u%d|%d", i, i % 3);
        assert_result(last_emit(f, key, 0), 1000, i + 1, i * (i + 1) / 2, 0, i);
    }
    fx_close(f);
}

static void out_of_order_records_within_the_watermark_land_in_their_windows(void **state)
{
    fx *f = fx_open("user", "{tumbling: 10s}", AGGS_FIXED, 1 << 20);
    add(f, "a", 1, 12000);
    adv(f, 7000); /* bounded out-of-orderness 5 s */
    add(f, "a", 2, 3000);
    add(f, "a", 3, 9000);
    add(f, "a", 4, 14000);
    adv(f, 9000);
    assert_int_equal(f->n_emits, 0);
    add(f, "a", 5, 1000);
    add(f, "a", 6, 11000);
    adv(f, 10000);
    assert_int_equal(f->n_emits, 1);
    assert_result(last_emit(f, "a", 0), 10000, 3, 10, 2, 5);
    adv(f, 20000);
    assert_result(last_emit(f, "a", 10000), 20000, 3, 11, 1, 6);
    assert_int_equal(f->n_lates, 0);
    assert_int_equal(f->early, 0);
    fx_close(f);
}

static void a_window_fires_once_exactly_when_the_watermark_reaches_its_end(void **state)
{
    fx *f = fx_open("user", "{tumbling: 10s}", AGGS_FIXED, 1 << 20);
    add(f, "a", 1, 5000);
    add(f, "a", 1, 35000);
    adv(f, 9999);
    assert_int_equal(f->n_emits, 0);
    adv(f, 10000);
    assert_int_equal(f->n_emits, 1);
    adv(f, 15000);
    adv(f, 5000); /* lower: ignored */
    assert_int_equal(stats(f).watermark, 15000);
    adv(f, 39999); /* the empty windows [10 s, 20 s) and [20 s, 30 s) emit nothing */
    assert_int_equal(f->n_emits, 1);
    adv(f, 40000);
    assert_int_equal(f->n_emits, 2);
    assert_result(last_emit(f, "a", 30000), 40000, 1, 1, 1, 1);
    adv(f, 1000000);
    assert_int_equal(f->n_emits, 2);
    assert_int_equal(stats(f).fired, 2);
    fx_close(f);
}

static void the_end_of_input_watermark_fires_every_window_even_at_the_int64_limits(void **state)
{
    const int64_t S = 60000;
    fx *f = fx_open("user", "{tumbling: 1m}", AGGS_FIXED, 1 << 20);
    int64_t r_min = ((INT64_MIN % S) + S) % S;

    add(f, "a", 1, -1);
    add(f, "a", 2, -60001);
    add(f, "a", 3, INT64_MIN);
    add(f, "a", 4, INT64_MAX);
    add(f, "a", 5, INT64_MAX - 1);
    add(f, "a", 6, 0);
    add(f, "a", 7, 1000000000000);
    adv(f, INT64_MIN + 5); /* nothing ends this early */
    assert_int_equal(f->n_emits, 0);
    adv(f, INT64_MAX - 1); /* every window but the last */
    assert_int_equal(f->n_emits, 5);
    adv(f, INT64_MAX);
    assert_int_equal(f->n_emits, 6);
    assert_result(last_emit(f, "a", -60000), 0, 1, 1, 1, 1);
    assert_result(last_emit(f, "a", -120000), -60000, 1, 2, 2, 2);
    /* the true start is below INT64_MIN: saturated */
    assert_result(last_emit(f, "a", INT64_MIN), INT64_MIN + (S - r_min), 1, 3, 3, 3);
    /* the true end is past INT64_MAX: saturated; both records share the window */
    assert_result(last_emit(f, "a", INT64_MAX - INT64_MAX % S), INT64_MAX, 2, 9, 4, 5);
    assert_result(last_emit(f, "a", 0), 60000, 1, 6, 6, 6);
    assert_result(last_emit(f, "a", 1000000000000 / S * S), 1000000000000 / S * S + S, 1, 7, 7, 7);
    assert_true(store_empty(f));
    add(f, "a", 8, INT64_MAX); /* after the end of input everything is too late */
    assert_int_equal(f->n_lates, 1);
    assert_int_equal(stats(f).too_late, 1);
    assert_int_equal(f->early, 0);
    fx_close(f);
}

/* ---- sliding ---- */

static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

static int64_t rnd(uint64_t *s, int64_t n)
{
    return (int64_t)(rng_next(s) % (uint64_t)n);
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static void sliding_sums_equal_a_brute_force_computation_per_window(void **state)
{
    enum { N = 600, KEYS = 5 };
    fx *f = fx_open("user", "{sliding: {size: 10s, slide: 2s}}", AGGS_FIXED, 1 << 20);
    struct {
        int key;
        int64_t v, ts;
    } recs[N];
    uint64_t seed = 42;
    int64_t base = -20000, maxts = INT64_MIN;
    size_t expected = 0;

    for (int i = 0; i < N; i++) {
        char user[8];
        recs[i].key = (int)rnd(&seed, KEYS);
        recs[i].v = rnd(&seed, 1000) - 500;
        recs[i].ts = base - rnd(&seed, 3000);
        base += rnd(&seed, 200);
        snprintf(user, sizeof user, "k%d", recs[i].key);
        add(f, user, recs[i].v, recs[i].ts);
        if (recs[i].ts > maxts)
            maxts = recs[i].ts;
        if (i % 10 == 9)
            adv(f, maxts - 3000);
    }
    adv(f, INT64_MAX);
    assert_int_equal(f->n_lates, 0);
    for (int k = 0; k < KEYS; k++) {
        char user[8];
        snprintf(user, sizeof user, "k%d", k);
        for (int64_t e = -40000; e <= base + 12000; e += 2000) {
            int64_t c = 0, sum = 0, lo = INT64_MAX, hi = INT64_MIN;
            const rec *r = last_emit(f, user, e - 10000);
            for (int i = 0; i < N; i++) {
                if (recs[i].key != k || recs[i].ts < e - 10000 || recs[i].ts >= e)
                    continue;
                c++;
                sum += recs[i].v;
                lo = recs[i].v < lo ? recs[i].v : lo;
                hi = recs[i].v > hi ? recs[i].v : hi;
            }
            if (c == 0) {
                assert_null(r);
                continue;
            }
            expected++;
            assert_result(r, e, c, sum, lo, hi);
        }
    }
    assert_int_equal(f->n_emits, expected); /* each window exactly once */
    assert_int_equal(f->early, 0);
    assert_true(store_empty(f));
    fx_close(f);
}

/* ---- sessions ---- */

static void two_sessions_bridged_by_a_record_merge_into_one(void **state)
{
    fx *f = fx_open("user", "{session: {gap: 5s}}", AGGS_FIXED, 1 << 20);
    add(f, "a", 1, 0);     /* [0, 5000) */
    add(f, "a", 2, 8000);  /* [8000, 13000) */
    add(f, "b", 9, 20000); /* another key */
    adv(f, 4000);
    add(f, "a", 3, 4000); /* [4000, 9000) touches both */
    adv(f, 12999);
    assert_int_equal(f->n_emits, 0);
    adv(f, 13000);
    assert_int_equal(f->n_emits, 1);
    assert_result(last_emit(f, "a", 0), 13000, 3, 6, 1, 3);
    adv(f, INT64_MAX);
    assert_int_equal(f->n_emits, 2);
    assert_result(last_emit(f, "b", 20000), 25000, 1, 9, 9, 9);
    assert_int_equal(f->n_retracts, 0);
    assert_int_equal(f->early, 0);
    assert_true(store_empty(f));
    fx_close(f);
}

static void records_further_apart_than_the_gap_are_separate_sessions(void **state)
{
    fx *f = fx_open("user", "{session: {gap: 5s}}", AGGS_FIXED, 1 << 20);
    add(f, "a", 1, 0);
    add(f, "a", 2, 5001);
    add(f, "a", 4, 3000); /* extends the first: [0, 8000) now touches [5001, 10001) */
    adv(f, INT64_MAX);
    assert_int_equal(f->n_emits, 1);
    assert_result(last_emit(f, "a", 0), 10001, 3, 7, 1, 4);
    fx_close(f);

    f = fx_open("user", "{session: {gap: 5s}}", AGGS_FIXED, 1 << 20);
    add(f, "a", 1, 0);
    add(f, "a", 2, 5001);
    add(f, "a", 3, 20000);
    adv(f, 10000);
    assert_int_equal(f->n_emits, 1);
    assert_result(last_emit(f, "a", 0), 5000, 1, 1, 1, 1);
    adv(f, 10001);
    assert_result(last_emit(f, "a", 5001), 10001, 1, 2, 2, 2);
    adv(f, INT64_MAX);
    assert_int_equal(f->n_emits, 3);
    assert_result(last_emit(f, "a", 20000), 25000, 1, 3, 3, 3);
    fx_close(f);
}

static void sessions_that_touch_merge(void **state)
{
    fx *f = fx_open("user", "{session: {gap: 5s}}", AGGS_FIXED, 1 << 20);
    add(f, "a", 1, 0);     /* [0, 5000) */
    add(f, "a", 2, 5000);  /* [5000, 10000): starts where the first ends */
    add(f, "a", 3, -5000); /* [-5000, 0): ends where the merged one starts */
    adv(f, INT64_MAX);
    assert_int_equal(f->n_emits, 1);
    assert_result(last_emit(f, "a", -5000), 10000, 3, 6, 1, 3);
    fx_close(f);
}

/* ---- lateness ---- */

static void a_late_record_within_allowed_lateness_updates_and_re_emits_its_window(void **state)
{
    fx *f = fx_open("user", "{tumbling: 10s, allowed_lateness: 5s}", AGGS_FIXED, 1 << 20);
    add(f, "a", 1, 1000);
    adv(f, 10000);
    assert_int_equal(f->n_emits, 1);
    add(f, "a", 4, 2000);
    assert_int_equal(f->n_emits, 2);
    assert_result(&f->emits[1], 10000, 2, 5, 1, 4);
    assert_int_equal(f->emits[1].start, 0);
    adv(f, 14999);
    add(f, "a", -1, 3000);
    assert_int_equal(f->n_emits, 3);
    assert_result(&f->emits[2], 10000, 3, 4, -1, 4);
    add(f, "b", 7, 9999); /* no record of b yet: its window fires late */
    assert_int_equal(f->n_emits, 4);
    assert_result(last_emit(f, "b", 0), 10000, 1, 7, 7, 7);
    assert_int_equal(stats(f).late_fired, 3);
    assert_int_equal(stats(f).fired, 1);
    assert_int_equal(f->early, 0);
    fx_close(f);
}

static void a_record_past_end_plus_lateness_goes_to_late_data_and_is_counted(void **state)
{
    fx *f = fx_open("user", "{tumbling: 10s, allowed_lateness: 5s}", AGGS_FIXED, 1 << 20);
    add(f, "a", 1, 1000);
    adv(f, 15000);
    assert_int_equal(f->n_emits, 1);
    add(f, "a", 2, 9999);
    add(f, "zed", 3, -5);
    add(f, "a", 4, 10000); /* the next window is still open */
    assert_int_equal(f->n_emits, 1);
    assert_int_equal(f->n_lates, 2);
    assert_string_equal(f->lates[0].key, "a");
    assert_int_equal(f->lates[0].ts, 9999);
    assert_string_equal(f->lates[1].key, "zed");
    assert_int_equal(f->lates[1].ts, -5);
    assert_int_equal(stats(f).too_late, 2);
    assert_int_equal(stats(f).records, 2);
    adv(f, INT64_MAX);
    assert_result(last_emit(f, "a", 0), 10000, 1, 1, 1, 1); /* unchanged */
    assert_result(last_emit(f, "a", 10000), 20000, 1, 4, 4, 4);
    fx_close(f);

    /* without lateness, the window's end is the bound */
    f = fx_open("user", "{sliding: {size: 4s, slide: 2s}}", AGGS_FIXED, 1 << 20);
    adv(f, 4000);
    add(f, "a", 1, 1999); /* windows end at 2000 and 4000: both past */
    add(f, "a", 2, 2000); /* windows end at 4000 and 6000: 6000 still open */
    assert_int_equal(f->n_lates, 1);
    assert_int_equal(f->lates[0].ts, 1999);
    assert_int_equal(f->n_emits, 0); /* the window ending at 4000 is gone: no late update */
    adv(f, 6000);
    assert_int_equal(f->n_emits, 1);
    assert_result(last_emit(f, "a", 2000), 6000, 1, 2, 2, 2);
    fx_close(f);
}

static void window_state_is_deleted_once_the_watermark_passes_end_plus_lateness(void **state)
{
    int64_t ns;
    wr_state_stats ss;
    fx *f = fx_open("user", "{tumbling: 10s, allowed_lateness: 5s}", AGGS_FIXED, 1 << 20);

    add(f, "a", 1, 1000);
    add(f, "b", 1, 2000);
    assert_true(wr_state_min_ns(f->st, &ns));
    assert_int_equal(ns, 10000);
    adv(f, 10000);
    adv(f, 14999);
    assert_true(wr_state_min_ns(f->st, &ns));
    assert_int_equal(ns, 10000);
    adv(f, 15000);
    assert_false(wr_state_min_ns(f->st, &ns));
    wr_state_get_stats(f->st, &ss);
    assert_int_equal(ss.namespaces, 0);
    assert_int_equal(ss.entries, 0);
    fx_close(f);

    /* sliding: a slice lives until its last window is past end + L */
    f = fx_open("user", "{sliding: {size: 6s, slide: 2s}, allowed_lateness: 1s}", AGGS_FIXED,
                1 << 20);
    add(f, "a", 1, 500); /* slice ending at 2000; windows end at 2000, 4000, 6000 */
    adv(f, 6999);
    assert_int_equal(f->n_emits, 3);
    assert_true(wr_state_min_ns(f->st, &ns));
    assert_int_equal(ns, 2000);
    adv(f, 7000);
    assert_false(wr_state_min_ns(f->st, &ns));
    fx_close(f);

    /* sessions: the key's entry and its timers */
    f = fx_open("user", "{session: {gap: 1s}, allowed_lateness: 2s}", AGGS_FIXED, 1 << 20);
    add(f, "a", 1, 0);
    adv(f, 1000);
    assert_int_equal(f->n_emits, 1);
    assert_true(wr_state_min_ns(f->st, &ns));
    assert_int_equal(ns, 3000); /* the cleanup timer */
    adv(f, 2999);
    add(f, "a", 2, 500); /* within lateness */
    assert_int_equal(f->n_emits, 2);
    adv(f, 3000);
    assert_false(store_empty(f)); /* the late update moved the cleanup to 1500 + 2000 */
    adv(f, 3500);
    assert_true(store_empty(f));
    add(f, "a", 3, 500);
    assert_int_equal(f->n_lates, 1);
    fx_close(f);
}

static void a_late_record_bridging_two_fired_sessions_retracts_the_later_one(void **state)
{
    fx *f = fx_open("user", "{session: {gap: 1s}, allowed_lateness: 10s}", AGGS_FIXED, 1 << 20);
    add(f, "a", 1, 0);    /* [0, 1000) */
    add(f, "a", 2, 2000); /* [2000, 3000) */
    adv(f, 5000);
    assert_int_equal(f->n_emits, 2);
    add(f, "a", 3, 1000); /* [1000, 2000) touches both */
    assert_int_equal(f->n_retracts, 1);
    assert_string_equal(f->retracts[0].key, "a");
    assert_int_equal(f->retracts[0].start, 2000);
    assert_int_equal(f->retracts[0].end, 3000);
    assert_int_equal(f->bad_retract, 0);
    assert_int_equal(f->n_emits, 3);
    assert_result(&f->emits[2], 3000, 3, 6, 1, 3);
    assert_int_equal(f->emits[2].start, 0);
    assert_int_equal(stats(f).retracted, 1);
    assert_int_equal(stats(f).late_fired, 1);
    /* a late record that starts a merged session earlier retracts the old start */
    add(f, "a", 4, -500);
    assert_int_equal(f->n_retracts, 2);
    assert_int_equal(f->retracts[1].start, 0);
    assert_result(last_emit(f, "a", -500), 3000, 4, 10, 1, 4);
    adv(f, INT64_MAX);
    assert_int_equal(f->n_emits, 4);
    assert_true(store_empty(f));
    fx_close(f);
}

static void a_session_record_is_too_late_only_when_its_merged_session_is(void **state)
{
    fx *f = fx_open("user", "{session: {gap: 1s}, allowed_lateness: 1s}", AGGS_FIXED, 1 << 20);
    add(f, "a", 1, 5000); /* [5000, 6000) */
    adv(f, 6500);
    assert_int_equal(f->n_emits, 1);
    add(f, "a", 2, 4500); /* alone [4500, 5500) is too late, merged [4500, 6000) is not */
    assert_int_equal(f->n_lates, 0);
    assert_int_equal(f->n_retracts, 1);
    assert_result(last_emit(f, "a", 4500), 6000, 2, 3, 1, 2);
    add(f, "a", 3, 3000); /* [3000, 4000): nothing to merge with */
    add(f, "b", 3, 4000); /* no session */
    assert_int_equal(f->n_lates, 2);
    assert_int_equal(stats(f).too_late, 2);
    fx_close(f);
}

static void a_timer_namespace_with_more_keys_than_one_chunk_is_handled_completely(void **state)
{
    enum { KEYS = 3000 };
    fx *f = fx_open("user", "{session: {gap: 1s}, allowed_lateness: 1s}", AGGS_FIXED, 4096);
    wr_state_stats ss;
    for (int i = 0; i < KEYS; i++) {
        char user[16];
        snprintf(user, sizeof user, "user-%d", i);
        add(f, user, i, 0); /* every key has timers at 1000 and 2000 */
    }
    adv(f, 1000);
    assert_int_equal(f->n_emits, KEYS);
    for (int i = 0; i < KEYS; i += 97) {
        char user[16];
        snprintf(user, sizeof user, "user-%d", i);
        assert_result(last_emit(f, user, 0), 1000, 1, i, i, i);
    }
    add(f, "user-7", 1, 999); /* extends the session to [0, 1999): open again */
    assert_int_equal(f->n_emits, KEYS);
    adv(f, 2000);
    assert_int_equal(f->n_emits, KEYS + 1);
    assert_result(last_emit(f, "user-7", 0), 1999, 2, 8, 1, 7);
    assert_false(store_empty(f)); /* kept until 1999 + 1000 */
    adv(f, 2999);
    assert_true(store_empty(f));
    wr_state_get_stats(f->st, &ss);
    assert_true(ss.evictions > 0);
    assert_int_equal(stats(f).fired, KEYS + 1);
    fx_close(f);
}

/* ---- the randomized comparison with a reference model ---- */

typedef struct magg {
    int64_t c, s, lo, hi;
    char top[8];
    uint8_t seen[26]; /* v in [-100, 100] */
} magg;

typedef struct mwin {
    int key;
    int64_t start, end;
    bool fired;
    magg a;
} mwin;

typedef struct resmap {
    rec *r;
    size_t n, cap;
} resmap;

typedef struct model {
    wr_window_kind kind;
    int64_t S, D, G, L, W;
    bool var;
    mwin *w;
    size_t n, cap;
    resmap res;
    size_t n_emits, n_retracts;
    late_rec *lates;
    size_t n_lates, cap_lates;
} model;

static const char *const names[] = {"ant", "bee", "cat", "dog", "eel"};

static void magg_add(magg *a, int64_t v, const char *name)
{
    if (a->c == 0 || v < a->lo)
        a->lo = v;
    if (a->c == 0 || v > a->hi)
        a->hi = v;
    if (strcmp(name, a->top) > 0)
        strcpy(a->top, name);
    a->c++;
    a->s += v;
    a->seen[(v + 100) / 8] |= (uint8_t)(1u << ((v + 100) % 8));
}

static void magg_merge(magg *a, const magg *b)
{
    if (b->c == 0)
        return;
    if (a->c == 0 || b->lo < a->lo)
        a->lo = b->lo;
    if (a->c == 0 || b->hi > a->hi)
        a->hi = b->hi;
    if (strcmp(b->top, a->top) > 0)
        strcpy(a->top, b->top);
    a->c += b->c;
    a->s += b->s;
    for (size_t i = 0; i < sizeof a->seen; i++)
        a->seen[i] |= b->seen[i];
}

static void res_put(resmap *m, const rec *r)
{
    for (size_t i = 0; i < m->n; i++) {
        if (strcmp(m->r[i].key, r->key) == 0 && m->r[i].start == r->start) {
            m->r[i] = *r;
            return;
        }
    }
    m->r = grow(m->r, &m->cap, m->n, sizeof *m->r);
    m->r[m->n++] = *r;
}

static void res_del(resmap *m, const char *key, int64_t start)
{
    for (size_t i = 0; i < m->n; i++) {
        if (strcmp(m->r[i].key, key) == 0 && m->r[i].start == start) {
            m->r[i] = m->r[--m->n];
            return;
        }
    }
}

static void model_emit(model *m, const mwin *w)
{
    rec r;
    memset(&r, 0, sizeof r);
    snprintf(r.key, sizeof r.key, "k%d", w->key);
    r.start = w->start;
    r.end = w->end;
    r.v[0] = w->a.c;
    r.v[1] = w->a.s;
    if (m->var) {
        int d = 0;
        for (size_t i = 0; i < sizeof w->a.seen; i++)
            d += __builtin_popcount(w->a.seen[i]);
        strcpy(r.s[2], w->a.top);
        r.v[3] = d;
    } else {
        r.v[2] = w->a.lo;
        r.v[3] = w->a.hi;
    }
    res_put(&m->res, &r);
    m->n_emits++;
}

static mwin *model_new_win(model *m, int key, int64_t start, int64_t end)
{
    mwin *w;
    m->w = grow(m->w, &m->cap, m->n, sizeof *m->w);
    w = &m->w[m->n++];
    memset(w, 0, sizeof *w);
    w->key = key;
    w->start = start;
    w->end = end;
    return w;
}

static void model_late(model *m, int key, int64_t t)
{
    m->lates = grow(m->lates, &m->cap_lates, m->n_lates, sizeof *m->lates);
    snprintf(m->lates[m->n_lates].key, sizeof m->lates[0].key, "k%d", key);
    m->lates[m->n_lates++].ts = t;
}

/* Windows as sets of records: every window containing t that is still kept gets it. */
static void model_record_windows(model *m, int key, int64_t t, int64_t v, const char *name)
{
    int64_t first = floor_div(t, m->D) * m->D + m->D; /* the smallest end > t */
    bool any = false;
    for (int64_t e = first; e <= t + m->S; e += m->D)
        any |= e + m->L > m->W;
    if (!any) {
        model_late(m, key, t);
        return;
    }
    for (int64_t e = first; e <= t + m->S; e += m->D) {
        mwin *w = NULL;
        if (e + m->L <= m->W)
            continue;
        for (size_t i = 0; i < m->n && !w; i++) {
            if (m->w[i].key == key && m->w[i].end == e)
                w = &m->w[i];
        }
        if (!w)
            w = model_new_win(m, key, e - m->S, e);
        magg_add(&w->a, v, name);
        if (e <= m->W)
            model_emit(m, w);
    }
}

static void model_record_session(model *m, int key, int64_t t, int64_t v, const char *name)
{
    int64_t ms = t, me = t + m->G;
    magg acc;
    mwin *nw;

    for (size_t i = 0; i < m->n; i++) {
        mwin *w = &m->w[i];
        if (w->key == key && w->start <= t + m->G && t <= w->end) {
            ms = w->start < ms ? w->start : ms;
            me = w->end > me ? w->end : me;
        }
    }
    if (me + m->L <= m->W) {
        model_late(m, key, t);
        return;
    }
    memset(&acc, 0, sizeof acc);
    /* merge every intersecting session, oldest start first */
    for (;;) {
        size_t best = m->n;
        for (size_t i = 0; i < m->n; i++) {
            mwin *w = &m->w[i];
            if (w->key == key && w->start <= t + m->G && t <= w->end &&
                (best == m->n || w->start < m->w[best].start))
                best = i;
        }
        if (best == m->n)
            break;
        magg_merge(&acc, &m->w[best].a);
        if (m->w[best].fired && m->w[best].start != ms) {
            char k[16];
            snprintf(k, sizeof k, "k%d", key);
            res_del(&m->res, k, m->w[best].start);
            m->n_retracts++;
        }
        m->w[best] = m->w[--m->n];
    }
    magg_add(&acc, v, name);
    nw = model_new_win(m, key, ms, me);
    nw->a = acc;
    if (me <= m->W) {
        nw->fired = true;
        model_emit(m, nw);
    }
}

static void model_advance(model *m, int64_t W1)
{
    if (W1 <= m->W)
        return;
    for (size_t i = 0; i < m->n; i++) {
        mwin *w = &m->w[i];
        if (m->kind == WR_WINDOW_SESSION ? !w->fired && w->end <= W1
                                         : w->end > m->W && w->end <= W1) {
            w->fired = true;
            model_emit(m, w);
        }
    }
    m->W = W1;
    for (size_t i = 0; i < m->n;) {
        if (m->w[i].end + m->L <= W1 || W1 == INT64_MAX)
            m->w[i] = m->w[--m->n];
        else
            i++;
    }
}

static void compare_maps(const resmap *a, const resmap *b)
{
    assert_int_equal(a->n, b->n);
    for (size_t i = 0; i < a->n; i++) {
        const rec *x = &a->r[i], *y = NULL;
        for (size_t j = 0; j < b->n && !y; j++) {
            if (strcmp(b->r[j].key, x->key) == 0 && b->r[j].start == x->start)
                y = &b->r[j];
        }
        if (!y)
            fail_msg("result for %s at %lld missing", x->key, (long long)x->start);
        if (x->end != y->end || memcmp(x->v, y->v, sizeof x->v) != 0 ||
            memcmp(x->s, y->s, sizeof x->s) != 0)
            fail_msg("result for %s at %lld: end %lld/%lld count %lld/%lld sum %lld/%lld "
                     "v2 %lld/%lld v3 %lld/%lld s2 %s/%s",
                     x->key, (long long)x->start, (long long)x->end, (long long)y->end,
                     (long long)x->v[0], (long long)y->v[0], (long long)x->v[1], (long long)y->v[1],
                     (long long)x->v[2], (long long)y->v[2], (long long)x->v[3], (long long)y->v[3],
                     x->s[2], y->s[2]);
    }
}

/* The operator's outputs in the order they happened, applied with upsert/retract
 * semantics: emits and retracts carry their global order through one counter. */
static size_t out_seq;
static size_t *emit_seq, *retract_seq;
static size_t cap_emit_seq, cap_retract_seq;

static wr_err seq_emit(void *arg, const wr_value *row, wr_errbuf *eb)
{
    fx *f = arg;
    emit_seq = grow(emit_seq, &cap_emit_seq, f->n_emits, sizeof *emit_seq);
    emit_seq[f->n_emits] = out_seq++;
    return cb_emit(arg, row, eb);
}

static wr_err seq_retract(void *arg, const wr_value *row, wr_errbuf *eb)
{
    fx *f = arg;
    retract_seq = grow(retract_seq, &cap_retract_seq, f->n_retracts, sizeof *retract_seq);
    retract_seq[f->n_retracts] = out_seq++;
    return cb_retract(arg, row, eb);
}

static void replay(const fx *f, resmap *m)
{
    size_t i = 0, j = 0;
    while (i < f->n_emits || j < f->n_retracts) {
        if (j == f->n_retracts || (i < f->n_emits && emit_seq[i] < retract_seq[j])) {
            rec r = f->emits[i++];
            for (int k = f->n_aggs; k < MAXV; k++)
                r.null[k] = false;
            res_put(m, &r);
        } else {
            res_del(m, f->retracts[j].key, f->retracts[j].start);
            j++;
        }
    }
}

static void run_random(const char *window, wr_window_kind kind, int64_t S, int64_t D, int64_t G,
                       int64_t L, bool var, uint64_t seed)
{
    enum { N = 2500, KEYS = 20 };
    fx *f = fx_open("user", window, var ? AGGS_VAR : AGGS_FIXED, 4096);
    wr_window_out out = {.arg = f, .emit = seq_emit, .retract = seq_retract, .late = cb_late};
    model m = {.kind = kind, .S = S, .D = D, .G = G, .L = L, .W = INT64_MIN, .var = var};
    resmap got = {0};
    wr_errbuf eb = {{0}};
    wr_state_stats ss;
    wr_window_stats ws;
    int64_t base = 0, maxts = 0;

    /* the same operator, with outputs that record their global order */
    wr_window_free(f->w);
    assert_int_equal(
        wr_window_new(f->spec, 1, f->spec->ops[0].key_cols, 1, f->st, &out, 65536, &f->w, &eb),
        WR_OK);
    out_seq = 0;
    for (int i = 0; i < N; i++) {
        int64_t r = rnd(&seed, 100);
        if (r < 8) {
            int64_t wm = maxts - 300 - rnd(&seed, 800);
            adv(f, wm);
            model_advance(&m, wm);
        } else if (r < 9) {
            int64_t wm = maxts + rnd(&seed, 1000);
            adv(f, wm);
            model_advance(&m, wm);
        } else {
            int key = (int)rnd(&seed, KEYS);
            int64_t v = rnd(&seed, 201) - 100;
            const char *name = names[rnd(&seed, 5)];
            int64_t t = base + rnd(&seed, 1000) - 300;
            char user[8];
            if (r < 12)
                t = base - rnd(&seed, 3000); /* well behind */
            base += rnd(&seed, 40);
            if (t > maxts)
                maxts = t;
            snprintf(user, sizeof user, "k%d", key);
            if (try_add(f, user, 0, v, name, t, &eb) != WR_OK)
                fail_msg("wr_window_process: %s", eb.msg);
            if (kind == WR_WINDOW_SESSION)
                model_record_session(&m, key, t, v, name);
            else
                model_record_windows(&m, key, t, v, name);
        }
    }
    adv(f, INT64_MAX);
    model_advance(&m, INT64_MAX);

    replay(f, &got);
    compare_maps(&m.res, &got);
    wr_window_get_stats(f->w, &ws);
    assert_int_equal(f->n_emits, m.n_emits);
    assert_int_equal(ws.fired + ws.late_fired, m.n_emits);
    assert_int_equal(f->n_retracts, m.n_retracts);
    assert_int_equal(ws.retracted, m.n_retracts);
    assert_int_equal(f->n_lates, m.n_lates);
    assert_int_equal(ws.too_late, m.n_lates);
    for (size_t i = 0; i < m.n_lates; i++) {
        assert_string_equal(f->lates[i].key, m.lates[i].key);
        assert_int_equal(f->lates[i].ts, m.lates[i].ts);
    }
    assert_true(m.n_lates > 0);
    assert_true(m.n_emits > 100);
    assert_int_equal(f->early, 0);
    wr_state_get_stats(f->st, &ss);
    assert_true(ss.evictions > 0); /* the state did not fit in the cache */
    assert_true(store_empty(f));
    free(m.w);
    free(m.res.r);
    free(m.lates);
    free(got.r);
    free(emit_seq);
    free(retract_seq);
    emit_seq = retract_seq = NULL;
    cap_emit_seq = cap_retract_seq = 0;
    fx_close(f);
}

static void the_operator_matches_a_reference_model_on_random_out_of_order_streams(void **state)
{
    for (uint64_t seed = 1; seed <= 3; seed++) {
        run_random("{tumbling: 1s}", WR_WINDOW_TUMBLING, 1000, 1000, 0, 0, false, seed * 7919);
        run_random("{tumbling: 1s, allowed_lateness: 500ms}", WR_WINDOW_TUMBLING, 1000, 1000, 0,
                   500, seed & 1, seed * 7919 + 1);
        run_random("{sliding: {size: 1s, slide: 250ms}, allowed_lateness: 300ms}",
                   WR_WINDOW_SLIDING, 1000, 250, 0, 300, !(seed & 1), seed * 7919 + 2);
        run_random("{sliding: {size: 2s, slide: 500ms}}", WR_WINDOW_SLIDING, 2000, 500, 0, 0, false,
                   seed * 7919 + 3);
        run_random("{session: {gap: 200ms}}", WR_WINDOW_SESSION, 0, 0, 200, 0, seed & 1,
                   seed * 7919 + 4);
        run_random("{session: {gap: 150ms}, allowed_lateness: 400ms}", WR_WINDOW_SESSION, 0, 0, 150,
                   400, !(seed & 1), seed * 7919 + 5);
    }
}

/* ---- aggregates with a variable-size accumulator ---- */

static void variable_size_aggregates_update_late_and_merge_across_slices(void **state)
{
    fx *f = fx_open("user", "{sliding: {size: 4s, slide: 2s}, allowed_lateness: 3s}", AGGS_VAR,
                    1 << 20);
    wr_errbuf eb;
    assert_int_equal(try_add(f, "a", 0, 1, "bee", 500, &eb), WR_OK);
    assert_int_equal(try_add(f, "a", 0, 1, "ant", 2500, &eb), WR_OK);
    assert_int_equal(try_add(f, "a", 0, 2, "cat", 3000, &eb), WR_OK);
    adv(f, 4000);
    assert_int_equal(f->n_emits, 2); /* windows ending 2000 and 4000 */
    assert_string_equal(last_emit(f, "a", 0)->s[2], "cat");
    assert_int_equal(last_emit(f, "a", 0)->v[3], 2);
    assert_int_equal(try_add(f, "a", 0, 7, "dog", 1000, &eb), WR_OK);
    /* late: the windows ending 2000 and 4000 are re-emitted */
    assert_int_equal(f->n_emits, 4);
    assert_int_equal(last_emit(f, "a", -2000)->v[0], 2);
    assert_string_equal(last_emit(f, "a", -2000)->s[2], "dog");
    assert_int_equal(last_emit(f, "a", 0)->v[0], 4);
    assert_int_equal(last_emit(f, "a", 0)->v[1], 11);
    assert_int_equal(last_emit(f, "a", 0)->v[3], 3);
    adv(f, INT64_MAX);
    assert_int_equal(last_emit(f, "a", 2000)->v[0], 2);
    assert_string_equal(last_emit(f, "a", 2000)->s[2], "cat");
    assert_true(store_empty(f));
    fx_close(f);
}

/* ---- key encoding ---- */

static void key_bytes_round_trip_and_equal_keys_have_equal_bytes(void **state)
{
    char big[300];
    wr_value row[8], back[8];
    int cols[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    wr_buf a, b;

    memset(big, 'x', sizeof big);
    row[0] = wr_value_null();
    row[1] = wr_value_bool(true);
    row[2] = wr_value_long(-42);
    row[3] = wr_value_double(-0.0);
    row[4] = wr_value_str("", 0);
    row[5] = wr_value_str(big, sizeof big);
    row[6] = wr_value_ts(INT64_MIN);
    row[7] = wr_value_double(2.5);
    wr_buf_init(&a, 0);
    wr_buf_init(&b, 0);
    assert_int_equal(wr_window_key_encode(row, cols, 8, &a), WR_OK);
    assert_int_equal(wr_window_key_decode(a.p, a.len, 8, back), WR_OK);
    for (int i = 0; i < 8; i++)
        assert_true(wr_value_equal(&row[i], &back[i]));
    assert_ptr_equal(back[5].u.s, a.p + (a.len - 9 - 9 - sizeof big)); /* into the key */

    /* -0.0 and 0.0 are one key; 1 as long, timestamp, string differ */
    row[3] = wr_value_double(0.0);
    assert_int_equal(wr_window_key_encode(row, cols, 8, &b), WR_OK);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.p, b.p, a.len);
    row[0] = wr_value_long(1);
    row[1] = wr_value_ts(1);
    row[2] = wr_value_str("1", 1);
    assert_int_equal(wr_window_key_encode(row, cols, 1, &a), WR_OK);
    assert_int_equal(wr_window_key_encode(row, cols + 1, 1, &b), WR_OK);
    assert_false(a.len == b.len && memcmp(a.p, b.p, a.len) == 0);
    assert_int_equal(wr_window_key_encode(row, cols + 2, 1, &b), WR_OK);
    assert_false(a.len == b.len && memcmp(a.p, b.p, a.len) == 0);

    /* longs sort numerically as bytes */
    row[0] = wr_value_long(-5);
    row[1] = wr_value_long(3);
    assert_int_equal(wr_window_key_encode(row, cols, 1, &a), WR_OK);
    assert_int_equal(wr_window_key_encode(row, cols + 1, 1, &b), WR_OK);
    assert_true(memcmp(a.p, b.p, a.len) < 0);

    /* the buffer's cap */
    wr_buf_fini(&b);
    wr_buf_init(&b, 16);
    assert_int_equal(wr_window_key_encode(row, cols, 1, &b), WR_OK);
    row[0] = wr_value_str(big, sizeof big);
    assert_int_equal(wr_window_key_encode(row, cols, 1, &b), WR_ETOOBIG);
    wr_buf_fini(&a);
    wr_buf_fini(&b);
}

static void malformed_key_bytes_are_rejected_without_crashing(void **state)
{
    wr_value row[3], back[3];
    int cols[3] = {0, 1, 2};
    wr_buf a;
    uint64_t seed = 99;
    unsigned char junk[32];

    row[0] = wr_value_str("alice", 5);
    row[1] = wr_value_long(7);
    row[2] = wr_value_bool(false);
    wr_buf_init(&a, 0);
    assert_int_equal(wr_window_key_encode(row, cols, 3, &a), WR_OK);
    for (size_t n = 0; n < a.len; n++)
        assert_int_equal(wr_window_key_decode(a.p, n, 3, back), WR_EMALFORMED);
    assert_int_equal(wr_window_key_decode(a.p, a.len, 2, back), WR_EMALFORMED); /* trailing */
    assert_int_equal(wr_window_key_decode(a.p, a.len, 4, back), WR_EMALFORMED);
    a.p[a.len - 1] = 2; /* a bool that is neither 0 nor 1 */
    assert_int_equal(wr_window_key_decode(a.p, a.len, 3, back), WR_EMALFORMED);
    a.p[0] = 9; /* unknown tag */
    assert_int_equal(wr_window_key_decode(a.p, a.len, 3, back), WR_EMALFORMED);
    assert_int_equal(wr_window_key_decode("\x04\xff\xff\xff\xff\xff\x01", 7, 1, back),
                     WR_EMALFORMED); /* overlong varint */
    assert_int_equal(wr_window_key_decode("\x04\x05"
                                          "ab",
                                          4, 1, back),
                     WR_EMALFORMED);
    assert_int_equal(wr_window_key_decode("", 0, 0, back), WR_OK);
    for (int i = 0; i < 200000; i++) {
        size_t n = (size_t)rnd(&seed, sizeof junk + 1);
        for (size_t j = 0; j < n; j++)
            junk[j] = (unsigned char)(rnd(&seed, 4) ? rnd(&seed, 7) : rnd(&seed, 256));
        (void)wr_window_key_decode(junk, n, (int)rnd(&seed, 4), back);
    }
    wr_buf_fini(&a);
}

/* ---- malformed state and errors ---- */

static void put_raw(fx *f, const char *user, int64_t ns, const void *val, size_t len)
{
    wr_value row[NCOLS];
    int cols[1] = {C_USER};
    wr_buf k;
    wr_state_entry *e;
    int kg;
    mkrow(row, user, 0, 0, "n", 0);
    wr_buf_init(&k, 0);
    assert_int_equal(wr_window_key_encode(row, cols, 1, &k), WR_OK);
    kg = wr_keygroup_of(wr_key_hash(row, cols, 1), f->spec->max_parallelism);
    assert_int_equal(wr_state_lookup(f->st, kg, ns, k.p, k.len, true, &e, NULL), WR_OK);
    assert_int_equal(wr_state_set(f->st, e, val, len, NULL), WR_OK);
    wr_buf_fini(&k);
}

static void malformed_session_lists_and_accumulators_in_state_are_errors(void **state)
{
    static const struct {
        const char *bytes;
        size_t len;
    } bad[] = {
        {"\x01", 1},                     /* shorter than a count */
        {"\x05\x00\x00\x00garbage", 11}, /* count larger than the bytes */
        {"\x01\x00\x00\x00"
         "0123456701234567\x00\xff\xff\xff\xff",
         25}, /* acc past the end */
        {"\x01\x00\x00\x00"
         "0123456701234567\x07\x00\x00\x00\x00",
         25},                     /* fired flag 7 */
        {"\x00\x00\x00\x00z", 5}, /* trailing bytes */
    };
    wr_errbuf eb;

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fx *f = fx_open("user", "{session: {gap: 1s}}", AGGS_FIXED, 1 << 20);
        put_raw(f, "a", WR_STATE_NS_GLOBAL, bad[i].bytes, bad[i].len);
        assert_int_equal(try_add(f, "a", 0, 1, "n", 0, &eb), WR_EMALFORMED);
        fx_close(f);
    }
    {
        /* a timer pointing at a malformed list fails the watermark */
        fx *f = fx_open("user", "{session: {gap: 1s}}", AGGS_FIXED, 1 << 20);
        put_raw(f, "a", WR_STATE_NS_GLOBAL, bad[1].bytes, bad[1].len);
        put_raw(f, "a", 1000, "", 0);
        assert_int_equal(wr_window_advance(f->w, 2000, &eb), WR_EMALFORMED);
        fx_close(f);
    }
    {
        /* a fixed-size accumulator of the wrong size */
        fx *f = fx_open("user", "{tumbling: 1s}", AGGS_FIXED, 1 << 20);
        put_raw(f, "a", 1000, "abc", 3);
        assert_int_equal(try_add(f, "a", 0, 1, "n", 500, &eb), WR_EMALFORMED);
        fx_close(f);
    }
    {
        /* a variable-size accumulator that is garbage: found when the window fires */
        fx *f = fx_open("user", "{tumbling: 1s}", AGGS_VAR, 1 << 20);
        add(f, "b", 1, 500);
        put_raw(f, "a", 1000, "\x07\x07\x07\x07\x07\x07\x07\x07\x07\x07\x07", 11);
        assert_int_equal(wr_window_advance(f->w, 1000, &eb), WR_EMALFORMED);
        fx_close(f);
    }
}

static void a_sum_overflow_fails_naming_the_aggregate_key_and_window(void **state)
{
    fx *f = fx_open("user", "{tumbling: 10s}", AGGS_FIXED, 1 << 20);
    wr_errbuf eb = {{0}};
    add(f, "alice", INT64_MAX, 1000);
    assert_int_equal(try_add(f, "alice", 0, 1, "n", 2000, &eb), WR_EEVAL);
    assert_non_null(strstr(eb.msg, "'s'"));
    assert_non_null(strstr(eb.msg, "alice"));
    assert_non_null(strstr(eb.msg, "[0, 10000)"));
    fx_close(f);

    /* sliding: the overflow shows when slices merge */
    f = fx_open("user", "{sliding: {size: 4s, slide: 2s}}", AGGS_FIXED, 1 << 20);
    add(f, "bob", INT64_MAX, 1000);
    add(f, "bob", 1, 3000);
    assert_int_equal(wr_window_advance(f->w, 2000, &eb), WR_OK);
    f->wm = 4000;
    assert_int_equal(wr_window_advance(f->w, 4000, &eb), WR_EEVAL);
    assert_non_null(strstr(eb.msg, "bob"));
    assert_non_null(strstr(eb.msg, "[0, 4000)"));
    fx_close(f);
}

static void a_callback_error_stops_the_operator_and_is_returned(void **state)
{
    fx *f = fx_open("user", "{tumbling: 10s, allowed_lateness: 10s}", AGGS_FIXED, 1 << 20);
    wr_errbuf eb = {{0}};
    add(f, "a", 1, 1000);
    add(f, "b", 1, 1000);
    f->fail_emit = WR_ECANCELED;
    f->wm = 10000;
    assert_int_equal(wr_window_advance(f->w, 10000, &eb), WR_ECANCELED);
    assert_string_equal(eb.msg, "the sink refused the result");
    assert_int_equal(f->n_emits, 1);
    assert_int_equal(try_add(f, "a", 0, 1, "n", 2000, &eb), WR_ECANCELED); /* late update */
    fx_close(f);
}

static void a_bad_window_spec_is_refused(void **state)
{
    fx *f = fx_open("user", "{tumbling: 10s}", AGGS_FIXED, 1 << 20);
    wr_window_out out = {.emit = cb_emit, .late = cb_late};
    wr_window_op *w = NULL;
    wr_errbuf eb;
    int col = 0;
    assert_int_equal(wr_window_new(f->spec, 0, &col, 1, f->st, &out, 0, &w, &eb), WR_EINVAL);
    assert_int_equal(wr_window_new(f->spec, 2, &col, 1, f->st, &out, 0, &w, &eb), WR_EINVAL);
    out.late = NULL;
    assert_int_equal(wr_window_new(f->spec, 1, &col, 1, f->st, &out, 0, &w, &eb), WR_EINVAL);
    assert_null(w);
    fx_close(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tumbling_windows_give_count_sum_min_and_max_per_key),
        cmocka_unit_test(keys_in_several_key_groups_each_get_their_own_result),
        cmocka_unit_test(out_of_order_records_within_the_watermark_land_in_their_windows),
        cmocka_unit_test(a_window_fires_once_exactly_when_the_watermark_reaches_its_end),
        cmocka_unit_test(the_end_of_input_watermark_fires_every_window_even_at_the_int64_limits),
        cmocka_unit_test(sliding_sums_equal_a_brute_force_computation_per_window),
        cmocka_unit_test(two_sessions_bridged_by_a_record_merge_into_one),
        cmocka_unit_test(records_further_apart_than_the_gap_are_separate_sessions),
        cmocka_unit_test(sessions_that_touch_merge),
        cmocka_unit_test(a_late_record_within_allowed_lateness_updates_and_re_emits_its_window),
        cmocka_unit_test(a_record_past_end_plus_lateness_goes_to_late_data_and_is_counted),
        cmocka_unit_test(window_state_is_deleted_once_the_watermark_passes_end_plus_lateness),
        cmocka_unit_test(a_late_record_bridging_two_fired_sessions_retracts_the_later_one),
        cmocka_unit_test(a_session_record_is_too_late_only_when_its_merged_session_is),
        cmocka_unit_test(a_timer_namespace_with_more_keys_than_one_chunk_is_handled_completely),
        cmocka_unit_test(the_operator_matches_a_reference_model_on_random_out_of_order_streams),
        cmocka_unit_test(variable_size_aggregates_update_late_and_merge_across_slices),
        cmocka_unit_test(key_bytes_round_trip_and_equal_keys_have_equal_bytes),
        cmocka_unit_test(malformed_key_bytes_are_rejected_without_crashing),
        cmocka_unit_test(malformed_session_lists_and_accumulators_in_state_are_errors),
        cmocka_unit_test(a_sum_overflow_fails_naming_the_aggregate_key_and_window),
        cmocka_unit_test(a_callback_error_stops_the_operator_and_is_returned),
        cmocka_unit_test(a_bad_window_spec_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
