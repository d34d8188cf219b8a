/*
 * test-state.c — the keyed state store: a randomized comparison with an in-test model
 * (with a large cache and with a 4 KiB one, so most state lives in RocksDB), sorted
 * iteration across cache and disk, reopen, disk reads only where needed, the memory
 * budget, deletes of evicted entries, and open errors. Every case works in a fresh
 * mkdtemp directory under /tmp and removes it at the end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "state.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define KG_FIRST 3
#define KG_LAST 7

/* ---- helpers ---- */

typedef struct tmp {
    char root[64]; /* mkdtemp directory */
    char db[96];   /* the store's directory inside it */
} tmp;

static void tmp_make(tmp *t)
{
    strcpy(t->root, "/tmp/weir-test-state-XXXXXX");
    assert_non_null(mkdtemp(t->root));
    snprintf(t->db, sizeof t->db, "%s/db", t->root);
}

static void tmp_remove(tmp *t)
{
    wr_errbuf eb;
    assert_int_equal(wr_state_remove_dir(t->root, &eb), WR_OK);
    assert_int_equal(access(t->root, F_OK), -1);
    assert_int_equal(errno, ENOENT);
}

static void check(wr_err e, const wr_errbuf *eb)
{
    if (e != WR_OK)
        fail_msg("%s: %s", wr_strerror(e), eb->msg);
}

static wr_state *open_store(const char *dir, size_t budget)
{
    wr_state_options o = {0};
    wr_state *st = NULL;
    wr_errbuf eb;
    o.dir = dir;
    o.column_family = "window";
    o.cache_bytes = budget;
    o.write_buffer_bytes = 1 << 20;
    o.block_cache_bytes = 1 << 20;
    o.kg_first = KG_FIRST;
    o.kg_last = KG_LAST;
    check(wr_state_open(&o, &st, &eb), &eb);
    return st;
}

static wr_state_stats stats(wr_state *st)
{
    wr_state_stats s;
    wr_state_get_stats(st, &s);
    return s;
}

/* Sets (kg, ns, key) to the NUL-terminated string val. */
static void put(wr_state *st, int kg, int64_t ns, const char *key, const char *val)
{
    wr_state_entry *e;
    wr_errbuf eb;
    check(wr_state_lookup(st, kg, ns, key, strlen(key), true, &e, &eb), &eb);
    assert_non_null(e);
    check(wr_state_set(st, e, val, strlen(val), &eb), &eb);
}

/* The value of (kg, ns, key) as a string in buf, or NULL if absent. */
static const char *get(wr_state *st, int kg, int64_t ns, const char *key, char *buf, size_t cap)
{
    wr_state_entry *e;
    wr_errbuf eb;
    const char *v;
    size_t len;
    check(wr_state_lookup(st, kg, ns, key, strlen(key), false, &e, &eb), &eb);
    if (!e)
        return NULL;
    v = wr_state_value(e, &len);
    assert_true(len < cap);
    memcpy(buf, v, len);
    buf[len] = 0;
    return buf;
}

static void del(wr_state *st, int kg, int64_t ns, const char *key)
{
    wr_state_entry *e;
    wr_errbuf eb;
    check(wr_state_lookup(st, kg, ns, key, strlen(key), false, &e, &eb), &eb);
    assert_non_null(e);
    wr_state_remove(st, e);
}

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

static size_t rng_below(uint64_t *s, size_t n)
{
    return (size_t)(rng_next(s) % n);
}

/* ---- the randomized model test ---- */

#define NKEYS 300
#define NNS 24
#define MAXV 600

typedef struct mkey {
    int kg;
    size_t len;
    unsigned char b[12];
} mkey;

typedef struct mval {
    bool present;
    size_t len;
    unsigned char b[MAXV];
} mval;

typedef struct model {
    mkey keys[NKEYS];
    int64_t ns[NNS];
    mval v[NNS][NKEYS];
    bool maybe[NNS];  /* had an entry since its last drop: the store may report it */
    int order[NKEYS]; /* key indexes in (kg, bytes) order */
} model;

static const int64_t model_ns[NNS] = {INT64_MIN,
                                      -1000000007,
                                      -65536,
                                      -256,
                                      -5,
                                      -1,
                                      0,
                                      1,
                                      2,
                                      3,
                                      7,
                                      255,
                                      256,
                                      1000,
                                      65535,
                                      1700000000000,
                                      1700000060000,
                                      1700000120000,
                                      INT64_MAX / 2,
                                      INT64_MAX - 2,
                                      INT64_MAX - 1,
                                      WR_STATE_NS_GLOBAL,
                                      -2,
                                      42};

static int cmp_key(const mkey *a, const mkey *b)
{
    size_t n = a->len < b->len ? a->len : b->len;
    int r;
    if (a->kg != b->kg)
        return a->kg < b->kg ? -1 : 1;
    r = n ? memcmp(a->b, b->b, n) : 0;
    if (r)
        return r;
    return a->len < b->len ? -1 : a->len > b->len;
}

static const model *sort_model;
static int cmp_order(const void *x, const void *y)
{
    return cmp_key(&sort_model->keys[*(const int *)x], &sort_model->keys[*(const int *)y]);
}

static void model_init(model *m, uint64_t *rng)
{
    static const unsigned char alphabet[] = {0x00, 0x01, 'a', 'b', 0x7f, 0x80, 0xff};
    memset(m, 0, sizeof *m);
    memcpy(m->ns, model_ns, sizeof m->ns);
    for (int i = 0; i < NKEYS; i++) {
        mkey *k = &m->keys[i];
        bool dup;
        do {
            k->kg = KG_FIRST + (int)rng_below(rng, KG_LAST - KG_FIRST + 1);
            k->len = i == 0 ? 0 : 1 + rng_below(rng, sizeof k->b);
            for (size_t j = 0; j < k->len; j++)
                k->b[j] = alphabet[rng_below(rng, sizeof alphabet)];
            dup = false;
            for (int j = 0; j < i && !dup; j++)
                dup = m->keys[j].len == k->len && memcmp(m->keys[j].b, k->b, k->len) == 0;
        } while (dup);
        m->order[i] = i;
    }
    sort_model = m;
    qsort(m->order, NKEYS, sizeof m->order[0], cmp_order);
}

static int model_find_key(const model *m, int kg, const void *key, size_t klen)
{
    for (int i = 0; i < NKEYS; i++) {
        const mkey *k = &m->keys[i];
        if (k->kg == kg && k->len == klen && (klen == 0 || memcmp(k->b, key, klen) == 0))
            return i;
    }
    return -1;
}

static void check_value(const mval *mv, const void *val, size_t vlen)
{
    assert_true(mv->present);
    assert_int_equal(vlen, mv->len);
    if (vlen)
        assert_memory_equal(val, mv->b, vlen);
}

/* Iterates namespace n (sorted or not) and compares with the model. */
static void check_iteration(wr_state *st, const model *m, int n, bool sorted)
{
    wr_state_iter *it;
    wr_errbuf eb;
    wr_err err;
    int kg, pos = 0, expected = 0;
    const void *key, *val;
    size_t klen, vlen;
    bool seen[NKEYS] = {false};

    for (int i = 0; i < NKEYS; i++)
        expected += m->v[n][i].present;
    check(wr_state_iter_new(st, m->ns[n], sorted, &it, &eb), &eb);
    while (wr_state_iter_next(it, &kg, &key, &klen, &val, &vlen, &err, &eb)) {
        int k = model_find_key(m, kg, key, klen);
        assert_true(k >= 0);
        assert_false(seen[k]);
        seen[k] = true;
        check_value(&m->v[n][k], val, vlen);
        if (sorted) {
            while (!m->v[n][m->order[pos]].present)
                pos++;
            assert_int_equal(m->order[pos], k);
            pos++;
        }
        expected--;
    }
    check(err, &eb);
    assert_int_equal(expected, 0);
    wr_state_iter_free(it);
}

/* Two iterators over one namespace open at once, advanced in turn. */
static void check_two_iterators(wr_state *st, const model *m, int n)
{
    wr_state_iter *a, *b;
    wr_errbuf eb;
    wr_err err;
    int kg, count = 0, ca = 0, cb = 0;
    const void *key, *val;
    size_t klen, vlen;
    bool more_a = true, more_b = true;

    for (int i = 0; i < NKEYS; i++)
        count += m->v[n][i].present;
    check(wr_state_iter_new(st, m->ns[n], true, &a, &eb), &eb);
    check(wr_state_iter_new(st, m->ns[n], false, &b, &eb), &eb);
    while (more_a || more_b) {
        if (more_a && (more_a = wr_state_iter_next(a, &kg, &key, &klen, &val, &vlen, &err, &eb)))
            ca++;
        check(err, &eb);
        if (more_b && (more_b = wr_state_iter_next(b, &kg, &key, &klen, &val, &vlen, &err, &eb))) {
            int k = model_find_key(m, kg, key, klen);
            assert_true(k >= 0);
            check_value(&m->v[n][k], val, vlen);
            cb++;
        }
        check(err, &eb);
    }
    assert_int_equal(ca, count);
    assert_int_equal(cb, count);
    wr_state_iter_free(a);
    wr_state_iter_free(b);
}

static void check_min_ns(wr_state *st, const model *m)
{
    bool any = false, got;
    int64_t min = 0, ns = 0;
    uint64_t nonempty = 0, maybe = 0;
    wr_state_stats s = stats(st);

    for (int n = 0; n < NNS; n++) {
        bool has = false;
        for (int i = 0; i < NKEYS && !has; i++)
            has = m->v[n][i].present;
        if (has) {
            nonempty++;
            if (!any || m->ns[n] < min)
                min = m->ns[n];
            any = true;
        }
        maybe += m->maybe[n];
    }
    got = wr_state_min_ns(st, &ns);
    if (any) {
        assert_true(got);
        assert_true(ns <= min);
    }
    if (got) {
        bool known = false;
        for (int n = 0; n < NNS; n++)
            known |= m->maybe[n] && m->ns[n] == ns;
        assert_true(known);
    }
    assert_true(s.namespaces >= nonempty);
    assert_true(s.namespaces <= maybe);
}

static void fill_random(unsigned char *b, size_t len, uint64_t *rng)
{
    for (size_t i = 0; i < len; i++)
        b[i] = (unsigned char)rng_next(rng);
}

static size_t random_len(uint64_t *rng)
{
    size_t r = rng_below(rng, 100);
    if (r < 10)
        return 0;
    if (r < 80)
        return 1 + rng_below(rng, 40);
    if (r < 97)
        return 1 + rng_below(rng, 200);
    return 1 + rng_below(rng, MAXV);
}

/* Adds the counters of st (which restart at each open) to total. */
static void add_stats(wr_state_stats *total, wr_state *st)
{
    wr_state_stats s = stats(st);
    total->evictions += s.evictions;
    total->db_writes += s.db_writes;
    total->db_reads += s.db_reads;
    total->db_hits += s.db_hits;
}

static void run_model(size_t budget, int steps, uint64_t seed, wr_state_stats *final)
{
    tmp t;
    model *m = malloc(sizeof *m);
    uint64_t rng = seed;
    unsigned char buf[MAXV];
    wr_state *st;
    wr_state_stats total = {0};
    wr_errbuf eb;

    assert_non_null(m);
    tmp_make(&t);
    model_init(m, &rng);
    st = open_store(t.db, budget);

    for (int step = 0; step < steps; step++) {
        int n = (int)rng_below(&rng, NNS), k = (int)rng_below(&rng, NKEYS);
        const mkey *key = &m->keys[k];
        mval *mv = &m->v[n][k];
        size_t r = rng_below(&rng, 1000), vlen;
        wr_state_entry *e;
        unsigned char *v;

        if (r < 300) { /* lookup */
            check(wr_state_lookup(st, key->kg, m->ns[n], key->b, key->len, false, &e, &eb), &eb);
            if (!mv->present) {
                assert_null(e);
            } else {
                assert_non_null(e);
                v = wr_state_value(e, &vlen);
                check_value(mv, v, vlen);
            }
        } else if (r < 560) { /* create or update, then set */
            size_t len = random_len(&rng);
            check(wr_state_lookup(st, key->kg, m->ns[n], key->b, key->len, true, &e, &eb), &eb);
            assert_non_null(e);
            v = wr_state_value(e, &vlen);
            if (mv->present) {
                check_value(mv, v, vlen);
            } else {
                assert_int_equal(vlen, 0);
                mv->present = true;
                mv->len = 0;
                m->maybe[n] = true;
            }
            if (vlen > 1 && rng_below(&rng, 4) == 0) {
                /* from the entry's own value: drop its first byte */
                check(wr_state_set(st, e, v + 1, vlen - 1, &eb), &eb);
                memmove(mv->b, mv->b + 1, vlen - 1);
                mv->len = vlen - 1;
            } else {
                fill_random(buf, len, &rng);
                check(wr_state_set(st, e, buf, len, &eb), &eb);
                if (len)
                    memcpy(mv->b, buf, len);
                mv->len = len;
            }
            v = wr_state_value(e, &vlen);
            check_value(mv, v, vlen);
        } else if (r < 660) { /* change in place */
            check(wr_state_lookup(st, key->kg, m->ns[n], key->b, key->len, false, &e, &eb), &eb);
            assert_true(!e == !mv->present);
            if (e) {
                v = wr_state_value(e, &vlen);
                if (vlen) {
                    size_t at = rng_below(&rng, vlen);
                    v[at]++;
                    mv->b[at]++;
                    wr_state_touch(st, e);
                }
            }
        } else if (r < 800) { /* remove */
            check(wr_state_lookup(st, key->kg, m->ns[n], key->b, key->len, false, &e, &eb), &eb);
            assert_true(!e == !mv->present);
            if (e) {
                wr_state_remove(st, e);
                mv->present = false;
                check(wr_state_lookup(st, key->kg, m->ns[n], key->b, key->len, false, &e, &eb),
                      &eb);
                assert_null(e);
            }
        } else if (r < 830) { /* create and remove at once */
            check(wr_state_lookup(st, key->kg, m->ns[n], key->b, key->len, true, &e, &eb), &eb);
            assert_non_null(e);
            wr_state_remove(st, e);
            mv->present = false;
            m->maybe[n] = true;
        } else if (r < 880) {
            check_iteration(st, m, n, true);
        } else if (r < 930) {
            check_iteration(st, m, n, false);
        } else if (r < 940) {
            check_two_iterators(st, m, n);
        } else if (r < 950) {
            check(wr_state_drop_ns(st, m->ns[n], &eb), &eb);
            for (int i = 0; i < NKEYS; i++)
                m->v[n][i].present = false;
            m->maybe[n] = false;
            check_iteration(st, m, n, false);
        } else if (r < 965) {
            check(wr_state_flush(st, &eb), &eb);
        } else if (r < 967) { /* flush, close, reopen */
            check(wr_state_flush(st, &eb), &eb);
            add_stats(&total, st);
            wr_state_close(st);
            st = open_store(t.db, budget);
        } else { /* min_ns, then drop the smallest namespace if it is empty (a "fire") */
            int64_t ns;
            if (wr_state_min_ns(st, &ns)) {
                int mn = -1;
                bool empty = true;
                for (int i = 0; i < NNS; i++)
                    if (m->ns[i] == ns)
                        mn = i;
                assert_true(mn >= 0);
                for (int i = 0; i < NKEYS; i++)
                    empty &= !m->v[mn][i].present;
                if (empty) {
                    check(wr_state_drop_ns(st, ns, &eb), &eb);
                    m->maybe[mn] = false;
                }
            }
        }

        assert_true(stats(st).cache_bytes <= budget);
        check_min_ns(st, m);
        if (step % 2000 == 1999) {
            for (int i = 0; i < NNS; i++)
                check_iteration(st, m, i, i % 2 == 0);
        }
    }
    for (int i = 0; i < NNS; i++)
        check_iteration(st, m, i, true);
    /* Everything survives a flush and a reopen. */
    check(wr_state_flush(st, &eb), &eb);
    add_stats(&total, st);
    *final = total;
    wr_state_close(st);
    st = open_store(t.db, budget);
    for (int i = 0; i < NNS; i++)
        check_iteration(st, m, i, i % 2 == 1);
    check_min_ns(st, m);
    wr_state_close(st);
    tmp_remove(&t);
    free(m);
}

static void random_operations_match_a_model_with_a_large_cache(void **state)
{
    wr_state_stats s;
    run_model(64 << 20, 30000, 1, &s);
    assert_int_equal(s.evictions, 0);
}

static void random_operations_match_a_model_with_a_4_kib_cache(void **state)
{
    wr_state_stats s;
    run_model(4096, 30000, 2, &s);
    /* The tiny cache really pushed state to RocksDB and read it back. */
    assert_true(s.evictions > 1000);
    assert_true(s.db_reads > 1000);
    assert_true(s.db_hits > 1000);
    assert_true(s.db_writes > 1000);
}

/* ---- focused cases ---- */

static void sorted_iteration_is_in_key_group_then_key_order_across_cache_and_disk(void **state)
{
    tmp t;
    wr_state *st;
    wr_state_iter *it;
    wr_errbuf eb;
    wr_err err;
    int kg, i = 0;
    const void *key, *val;
    size_t klen, vlen;
    static const struct {
        int kg;
        const char *key, *val;
    } want[] = {
        {3, "", "empty key"}, {3, "a", "a3 cached"}, {3, "ab", "ab3 disk"}, {3, "b", "b3 disk"},
        {4, "a", "a4 disk"},  {5, "aa", "aa5"},      {5, "ab", "ab5"},      {7, "zz", "zz7"},
    };

    tmp_make(&t);
    st = open_store(t.db, 1 << 20);
    /* On disk (flushed, then evicted by a reopen): */
    put(st, 3, 10, "ab", "ab3 disk");
    put(st, 3, 10, "b", "b3 disk");
    put(st, 4, 10, "a", "a4 disk");
    put(st, 3, 10, "a", "a3 old");
    put(st, 5, 10, "gone", "removed later");
    put(st, 5, 10, "ab", "ab5");
    put(st, 3, 11, "a", "another namespace");
    put(st, 3, 9, "a", "another namespace");
    check(wr_state_flush(st, &eb), &eb);
    wr_state_close(st);
    st = open_store(t.db, 1 << 20);
    /* In the cache: new, overwriting the disk, removing from the disk. */
    put(st, 7, 10, "zz", "zz7");
    put(st, 5, 10, "aa", "aa5");
    put(st, 3, 10, "", "empty key");
    put(st, 3, 10, "a", "a3 cached");
    del(st, 5, 10, "gone");

    for (int pass = 0; pass < 2; pass++) {
        i = 0;
        check(wr_state_iter_new(st, 10, true, &it, &eb), &eb);
        while (wr_state_iter_next(it, &kg, &key, &klen, &val, &vlen, &err, &eb)) {
            assert_true(i < (int)(sizeof want / sizeof want[0]));
            assert_int_equal(kg, want[i].kg);
            assert_int_equal(klen, strlen(want[i].key));
            assert_memory_equal(key, want[i].key, klen);
            assert_int_equal(vlen, strlen(want[i].val));
            assert_memory_equal(val, want[i].val, vlen);
            i++;
        }
        check(err, &eb);
        wr_state_iter_free(it);
        assert_int_equal(i, sizeof want / sizeof want[0]);
        check(wr_state_flush(st, &eb), &eb); /* second pass: everything on disk and cached */
    }
    wr_state_close(st);
    tmp_remove(&t);
}

static void a_namespace_on_disk_is_found_again_after_close_and_reopen(void **state)
{
    tmp t;
    wr_state *st;
    wr_errbuf eb;
    char buf[64];
    int64_t ns;

    tmp_make(&t);
    st = open_store(t.db, 1 << 20);
    put(st, 3, -5, "k", "minus five");
    put(st, 7, 1000, "k", "thousand");
    put(st, 5, WR_STATE_NS_GLOBAL, "k", "global");
    put(st, 4, INT64_MIN, "k", "min");
    check(wr_state_drop_ns(st, INT64_MIN, &eb), &eb); /* never written: just forgotten */
    check(wr_state_flush(st, &eb), &eb);
    put(st, 4, -100, "k", "dirty, discarded by close");
    wr_state_close(st);

    st = open_store(t.db, 1 << 20);
    assert_int_equal(stats(st).namespaces, 3);
    assert_int_equal(stats(st).entries, 0);
    assert_true(wr_state_min_ns(st, &ns));
    assert_int_equal(ns, -5);
    assert_string_equal(get(st, 3, -5, "k", buf, sizeof buf), "minus five");
    assert_string_equal(get(st, 7, 1000, "k", buf, sizeof buf), "thousand");
    assert_string_equal(get(st, 5, WR_STATE_NS_GLOBAL, "k", buf, sizeof buf), "global");
    assert_null(get(st, 4, -100, "k", buf, sizeof buf));
    assert_null(get(st, 4, INT64_MIN, "k", buf, sizeof buf));

    /* Dropping the smallest namespace on disk reveals the next one, also after reopen. */
    check(wr_state_drop_ns(st, -5, &eb), &eb);
    assert_true(wr_state_min_ns(st, &ns));
    assert_int_equal(ns, 1000);
    wr_state_close(st);
    st = open_store(t.db, 1 << 20);
    assert_int_equal(stats(st).namespaces, 2);
    assert_true(wr_state_min_ns(st, &ns));
    assert_int_equal(ns, 1000);
    assert_null(get(st, 3, -5, "k", buf, sizeof buf));
    check(wr_state_drop_ns(st, 1000, &eb), &eb);
    check(wr_state_drop_ns(st, WR_STATE_NS_GLOBAL, &eb), &eb);
    assert_false(wr_state_min_ns(st, &ns));
    wr_state_close(st);
    st = open_store(t.db, 1 << 20);
    assert_false(wr_state_min_ns(st, &ns));
    wr_state_close(st);
    tmp_remove(&t);
}

static void lookups_in_namespaces_never_written_to_disk_do_not_read_rocksdb(void **state)
{
    tmp t;
    wr_state *st;
    wr_errbuf eb;
    char key[32], buf[64];

    tmp_make(&t);
    st = open_store(t.db, 1 << 20);
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof key, "key-%d", i);
        assert_null(get(st, KG_FIRST + i % 5, i % 50, key, buf, sizeof buf));
        put(st, KG_FIRST + i % 5, i % 50, key, "v");
        assert_null(get(st, KG_FIRST + i % 5, 1000 + i, key, buf, sizeof buf));
    }
    assert_int_equal(stats(st).db_reads, 0);

    /* Namespace 7 goes to disk; misses there read RocksDB, misses elsewhere do not. */
    check(wr_state_flush(st, &eb), &eb);
    assert_null(get(st, 3, 7, "absent", buf, sizeof buf));
    assert_int_equal(stats(st).db_reads, 1);
    assert_int_equal(stats(st).db_hits, 0);
    assert_null(get(st, 3, 5000, "absent", buf, sizeof buf));
    put(st, 3, 5000, "new", "v");
    assert_int_equal(stats(st).db_reads, 1);
    wr_state_close(st);
    tmp_remove(&t);
}

static void the_budget_holds_after_every_operation_except_for_one_oversized_entry(void **state)
{
    const size_t budget = 16 << 10;
    tmp t;
    wr_state *st;
    wr_state_entry *e;
    wr_errbuf eb;
    char key[32], val[300], buf[400];
    static char big[40 << 10];

    tmp_make(&t);
    st = open_store(t.db, budget);
    memset(val, 'v', sizeof val - 1);
    val[sizeof val - 1] = 0;
    for (int i = 0; i < 2000; i++) {
        snprintf(key, sizeof key, "key-%d", i);
        check(wr_state_lookup(st, KG_FIRST + i % 5, i % 7, key, strlen(key), true, &e, &eb), &eb);
        assert_true(stats(st).cache_bytes <= budget);
        /* growing values: 1, then up to 299 bytes */
        check(wr_state_set(st, e, val + sizeof val - 2 - (size_t)(i % 298), (size_t)(i % 298) + 1,
                           &eb),
              &eb);
        assert_true(stats(st).cache_bytes <= budget);
        if (i % 3 == 0) {
            check(wr_state_set(st, e, val, sizeof val - 1, &eb), &eb);
            assert_true(stats(st).cache_bytes <= budget);
        }
    }
    assert_true(stats(st).evictions > 0);
    assert_true(stats(st).cache_bytes > budget / 2);

    /* One entry bigger than the budget: it alone stays, over budget. */
    memset(big, 'B', sizeof big);
    check(wr_state_lookup(st, 3, 1, "big", 3, true, &e, &eb), &eb);
    check(wr_state_set(st, e, big, sizeof big, &eb), &eb);
    assert_true(stats(st).cache_bytes > budget);
    assert_int_equal(stats(st).entries, 1);
    {
        size_t len;
        const char *v = wr_state_value(e, &len);
        assert_int_equal(len, sizeof big);
        assert_memory_equal(v, big, len);
    }
    /* The next insert evicts it, and the budget holds again. */
    put(st, 3, 1, "small", "s");
    assert_true(stats(st).cache_bytes <= budget);
    snprintf(key, sizeof key, "key-%d", 1999);
    assert_non_null(get(st, KG_FIRST + 1999 % 5, 1999 % 7, key, buf, sizeof buf));
    assert_true(stats(st).cache_bytes <= budget);
    check(wr_state_lookup(st, 3, 1, "big", 3, false, &e, &eb), &eb);
    assert_non_null(e);
    {
        size_t len;
        const char *v = wr_state_value(e, &len);
        assert_int_equal(len, sizeof big);
        assert_memory_equal(v, big, len);
    }
    wr_state_close(st);
    tmp_remove(&t);
}

/* Pushes everything out of a 4 KiB cache by touching other keys. */
static void churn(wr_state *st, int64_t ns)
{
    char key[32];
    for (int i = 0; i < 200; i++) {
        snprintf(key, sizeof key, "churn-%d", i);
        put(st, 4, ns, key, "some value bytes");
    }
}

static void removing_an_evicted_entry_and_looking_it_up_again_returns_absent(void **state)
{
    tmp t;
    wr_state *st;
    wr_errbuf eb;
    char buf[64];
    uint64_t evictions;

    tmp_make(&t);
    st = open_store(t.db, 4096);
    put(st, 3, 1, "x", "value of x");
    put(st, 3, 2, "y", "value of y");
    evictions = stats(st).evictions;
    churn(st, 1);
    churn(st, 2);
    assert_true(stats(st).evictions > evictions + 100);

    /* x was evicted: read back from RocksDB, removed, absent at once */
    assert_string_equal(get(st, 3, 1, "x", buf, sizeof buf), "value of x");
    del(st, 3, 1, "x");
    assert_null(get(st, 3, 1, "x", buf, sizeof buf));
    /* ... after its tombstone was evicted too */
    churn(st, 1);
    assert_null(get(st, 3, 1, "x", buf, sizeof buf));
    /* ... and after a flush and a reopen */
    check(wr_state_flush(st, &eb), &eb);
    assert_null(get(st, 3, 1, "x", buf, sizeof buf));
    wr_state_close(st);
    st = open_store(t.db, 4096);
    assert_null(get(st, 3, 1, "x", buf, sizeof buf));

    /* y: removed, then the tombstone flushed before any eviction */
    assert_string_equal(get(st, 3, 2, "y", buf, sizeof buf), "value of y");
    del(st, 3, 2, "y");
    check(wr_state_flush(st, &eb), &eb);
    assert_null(get(st, 3, 2, "y", buf, sizeof buf));
    churn(st, 2);
    assert_null(get(st, 3, 2, "y", buf, sizeof buf));
    /* a removed key can be created again, empty */
    put(st, 3, 2, "y", "again");
    churn(st, 2);
    assert_string_equal(get(st, 3, 2, "y", buf, sizeof buf), "again");
    wr_state_close(st);
    tmp_remove(&t);
}

static void drop_ns_deletes_a_namespace_in_the_cache_and_on_disk(void **state)
{
    tmp t;
    wr_state *st;
    wr_errbuf eb;
    char key[32], buf[64];
    int64_t ns;

    tmp_make(&t);
    st = open_store(t.db, 64 << 10);
    /* Namespace 5: key group 4 holds many keys (range delete), the others a few. */
    for (int i = 0; i < 300; i++) {
        snprintf(key, sizeof key, "k%03d", i);
        put(st, i < 250 ? 4 : KG_FIRST + i % 5, 5, key, "v");
        put(st, i < 250 ? 4 : KG_FIRST + i % 5, 6, key, "neighbour");
        put(st, KG_LAST, WR_STATE_NS_GLOBAL, key, "global");
        put(st, KG_LAST, WR_STATE_NS_GLOBAL - 1, key, "global-1");
    }
    check(wr_state_flush(st, &eb), &eb);
    put(st, 3, 5, "cached only", "v");
    check(wr_state_drop_ns(st, 5, &eb), &eb);
    check(wr_state_drop_ns(st, WR_STATE_NS_GLOBAL, &eb), &eb);
    for (int i = 0; i < 300; i++) {
        snprintf(key, sizeof key, "k%03d", i);
        assert_null(get(st, i < 250 ? 4 : KG_FIRST + i % 5, 5, key, buf, sizeof buf));
        assert_null(get(st, KG_LAST, WR_STATE_NS_GLOBAL, key, buf, sizeof buf));
        assert_string_equal(get(st, i < 250 ? 4 : KG_FIRST + i % 5, 6, key, buf, sizeof buf),
                            "neighbour");
        assert_string_equal(get(st, KG_LAST, WR_STATE_NS_GLOBAL - 1, key, buf, sizeof buf),
                            "global-1");
    }
    assert_null(get(st, 3, 5, "cached only", buf, sizeof buf));
    assert_int_equal(stats(st).namespaces, 2);
    assert_true(wr_state_min_ns(st, &ns));
    assert_int_equal(ns, 6);
    wr_state_close(st);
    st = open_store(t.db, 64 << 10);
    assert_int_equal(stats(st).namespaces, 2);
    assert_true(wr_state_min_ns(st, &ns));
    assert_int_equal(ns, 6);
    wr_state_close(st);
    tmp_remove(&t);
}

static void opening_a_store_in_a_regular_file_fails_with_a_message_naming_the_path(void **state)
{
    tmp t;
    wr_state_options o = {0};
    wr_state *st = (wr_state *)&o; /* must stay untouched */
    wr_errbuf eb = {{0}};
    FILE *f;

    tmp_make(&t);
    f = fopen(t.db, "w");
    assert_non_null(f);
    fputs("not a directory\n", f);
    fclose(f);
    o.dir = t.db;
    o.column_family = "window";
    o.kg_first = 0;
    o.kg_last = 9;
    assert_int_equal(wr_state_open(&o, &st, &eb), WR_EIO);
    assert_ptr_equal(st, (wr_state *)&o);
    assert_non_null(strstr(eb.msg, t.db));

    o.dir = "/nonexistent-weir-parent/db";
    assert_int_equal(wr_state_open(&o, &st, &eb), WR_EIO);
    assert_non_null(strstr(eb.msg, o.dir));

    o.dir = t.root;
    o.kg_first = 5;
    o.kg_last = 4;
    assert_int_equal(wr_state_open(&o, &st, &eb), WR_EINVAL);
    assert_ptr_equal(st, (wr_state *)&o);
    tmp_remove(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(random_operations_match_a_model_with_a_large_cache),
        cmocka_unit_test(random_operations_match_a_model_with_a_4_kib_cache),
        cmocka_unit_test(sorted_iteration_is_in_key_group_then_key_order_across_cache_and_disk),
        cmocka_unit_test(a_namespace_on_disk_is_found_again_after_close_and_reopen),
        cmocka_unit_test(lookups_in_namespaces_never_written_to_disk_do_not_read_rocksdb),
        cmocka_unit_test(the_budget_holds_after_every_operation_except_for_one_oversized_entry),
        cmocka_unit_test(removing_an_evicted_entry_and_looking_it_up_again_returns_absent),
        cmocka_unit_test(drop_ns_deletes_a_namespace_in_the_cache_and_on_disk),
        cmocka_unit_test(opening_a_store_in_a_regular_file_fails_with_a_message_naming_the_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
