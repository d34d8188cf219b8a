/*
 * baseline-tumbling.c — the hand-written C loop that weir's keyed tumbling count is
 * compared with (bench/run-tumbling.sh), and the checker of weir's results.
 *
 * One librdkafka consumer with the same settings as bench/baseline-filter-map.c
 * (queued.max.messages.kbytes 65536 and queued.min.messages 10000000, so the byte bound
 * rules and librdkafka 2.0.2's 1 s fetch backoff is not hit; otherwise librdkafka's
 * defaults), explicitly assigned every partition of the topic from the beginning, reads
 * with rd_kafka_consume_batch_queue until every partition reaches the high watermark
 * read at start. For each message a minimal scanner (no general JSON parser; it stops
 * once it has both fields) finds "user" (a string) and "ts" (an integer), and the
 * count of (user, window start = ts rounded down to a multiple of --window-ms) goes up
 * by one in an open-addressing hash table (linear probing, keys in an arena, grown at
 * 3/4 load). At the end it walks the table once for the results: the number of (user,
 * window) pairs, the sum of the counts (must be the number of events) and an
 * order-independent checksum of (user, window start, count).
 *
 * With --results, it reads a topic of weir's results instead
 * ({"user":…,"window_start":…,"window_end":…,"clicks":…}), sums "clicks" per (user,
 * window_start), and prints the same three figures plus the number of duplicate
 * results, so the script can check that weir produced exactly the baseline's counts.
 * It fails if a partition's low watermark is not 0 (the mock broker dropped results).
 *
 * Prints one JSON line: records, keyed_windows, sum_counts, checksum, seconds (from
 * creating the client to the end of the results walk, like `weir local`'s seconds,
 * which run from job start to finish), and with --results also duplicates.
 */
#include "bench-reader.h"

#include <librdkafka/rdkafka.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define POLL_BATCH 1024

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xBF58476D1CE4E5B9ULL;
    x ^= x >> 27;
    x *= 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

static uint64_t key_hash(const char *s, size_t n, int64_t win)
{
    uint64_t h = 0xCBF29CE484222325ULL; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 0x100000001B3ULL;
    return mix64(h ^ mix64((uint64_t)win));
}

/* ---- the (user, window start) → count table ---- */

typedef struct slot {
    uint64_t hash; /* 0: empty (a real hash of 0 is stored as 1) */
    int64_t win;
    uint64_t count;
    uint32_t koff, klen; /* the user name in the arena */
} slot;

typedef struct table {
    slot *slots;
    size_t cap, used; /* cap a power of two */
    char *arena;
    size_t arena_len, arena_cap;
} table;

static bool table_init(table *t)
{
    t->cap = 1 << 16;
    t->used = 0;
    t->slots = calloc(t->cap, sizeof *t->slots);
    t->arena_cap = 1 << 20;
    t->arena_len = 0;
    t->arena = malloc(t->arena_cap);
    return t->slots && t->arena;
}

static bool table_grow(table *t)
{
    size_t cap = t->cap * 2;
    slot *s = calloc(cap, sizeof *s);
    if (!s)
        return false;
    for (size_t i = 0; i < t->cap; i++) {
        const slot *o = &t->slots[i];
        if (!o->hash)
            continue;
        size_t j = o->hash & (cap - 1);
        while (s[j].hash)
            j = (j + 1) & (cap - 1);
        s[j] = *o;
    }
    free(t->slots);
    t->slots = s;
    t->cap = cap;
    return true;
}

/* Adds n to the count of (user, win). Sets *existed if the pair was there. */
static bool table_add(table *t, const char *user, size_t ulen, int64_t win, uint64_t n,
                      bool *existed)
{
    uint64_t h = key_hash(user, ulen, win);
    size_t i;

    h = h ? h : 1;
    for (i = h & (t->cap - 1);; i = (i + 1) & (t->cap - 1)) {
        slot *s = &t->slots[i];
        if (!s->hash)
            break;
        if (s->hash == h && s->win == win && s->klen == ulen &&
            !memcmp(t->arena + s->koff, user, ulen)) {
            s->count += n;
            *existed = true;
            return true;
        }
    }
    *existed = false;
    if ((t->used + 1) * 4 > t->cap * 3) {
        if (!table_grow(t))
            return false;
        for (i = h & (t->cap - 1); t->slots[i].hash; i = (i + 1) & (t->cap - 1))
            ;
    }
    if (t->arena_len + ulen > t->arena_cap) {
        size_t cap =
            t->arena_cap * 2 > t->arena_len + ulen ? t->arena_cap * 2 : t->arena_len + ulen;
        char *a = realloc(t->arena, cap);
        if (!a || cap > UINT32_MAX)
            return false;
        t->arena = a;
        t->arena_cap = cap;
    }
    memcpy(t->arena + t->arena_len, user, ulen);
    t->slots[i] = (slot){
        .hash = h, .win = win, .count = n, .koff = (uint32_t)t->arena_len, .klen = (uint32_t)ulen};
    t->arena_len += ulen;
    t->used++;
    return true;
}

/* ---- the scanner ---- */

/* Parses a JSON integer (optional '-', digits); false if there is none. */
static bool parse_int(const char *p, const char *end, int64_t *out)
{
    bool neg = false;
    int64_t v = 0;
    if (p < end && *p == '-') {
        neg = true;
        p++;
    }
    if (p >= end || *p < '0' || *p > '9')
        return false;
    while (p < end && *p >= '0' && *p <= '9')
        v = v * 10 + (*p++ - '0');
    *out = neg ? -v : v;
    return true;
}

/* Scans one flat JSON object of strings and numbers for the string field skey and the
 * integer fields ikey1 (and ikey2 unless NULL); stops as soon as it has them all.
 * Returns false if they are not all there or the text is not such an object. */
static bool scan_fields(const char *p, size_t n, const char *skey, const char **sval, size_t *slen,
                        const char *ikey1, int64_t *ival1, const char *ikey2, int64_t *ival2)
{
    const char *end = p + n;
    size_t sk = strlen(skey), ik1 = strlen(ikey1), ik2 = ikey2 ? strlen(ikey2) : 0;
    int need = ikey2 ? 3 : 2;

    while (p < end && *p != '{')
        p++;
    p++;
    while (need > 0) {
        const char *key, *val;
        size_t klen;
        bool str;

        while (p < end && (*p == ' ' || *p == ','))
            p++;
        if (p >= end || *p != '"')
            return false;
        key = ++p;
        while (p < end && *p != '"')
            p++;
        if (p >= end)
            return false;
        klen = (size_t)(p - key);
        p++;
        while (p < end && (*p == ' ' || *p == ':'))
            p++;
        if (p >= end)
            return false;
        str = *p == '"';
        if (str) {
            val = ++p;
            while (p < end && *p != '"')
                p += *p == '\\' ? 2 : 1;
            if (p >= end)
                return false;
            if (klen == sk && !memcmp(key, skey, sk)) {
                *sval = val;
                *slen = (size_t)(p - val);
                need--;
            }
            p++;
        } else {
            val = p;
            while (p < end && *p != ',' && *p != '}')
                p++;
            if (klen == ik1 && !memcmp(key, ikey1, ik1)) {
                if (!parse_int(val, p, ival1))
                    return false;
                need--;
            } else if (ikey2 && klen == ik2 && !memcmp(key, ikey2, ik2)) {
                if (!parse_int(val, p, ival2))
                    return false;
                need--;
            }
        }
    }
    return true;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

static int usage(void)
{
    fprintf(stderr, "usage: baseline-tumbling --brokers HOST:PORT [--topic T] [--window-ms W] "
                    "[--results]\n");
    return 2;
}

int main(int argc, char **argv)
{
    const char *brokers = NULL, *topic = "events";
    int64_t window_ms = 60000;
    bool results = false;
    rd_kafka_message_t *msgs[POLL_BATCH];
    bench_reader r = {0};
    int rc = 1;
    uint64_t records = 0, bad = 0, dups = 0, sum = 0, checksum = 0;
    table t;
    double t0, t1;

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--results")) {
            results = true;
            continue;
        }
        if (i + 1 >= argc)
            return usage();
        if (!strcmp(argv[i], "--brokers"))
            brokers = argv[++i];
        else if (!strcmp(argv[i], "--topic"))
            topic = argv[++i];
        else if (!strcmp(argv[i], "--window-ms"))
            window_ms = strtoll(argv[++i], NULL, 10);
        else
            return usage();
    }
    if (!brokers || window_ms <= 0)
        return usage();

    t0 = now_s();
    if (!table_init(&t)) {
        fprintf(stderr, "baseline: out of memory\n");
        return 1;
    }
    if (!bench_reader_open(&r, brokers, topic, results))
        goto out;

    while (!bench_reader_done(&r)) {
        ssize_t n = rd_kafka_consume_batch_queue(r.q, 100, msgs, POLL_BATCH);
        if (n < 0) {
            fprintf(stderr, "baseline: consume failed\n");
            goto out;
        }
        for (ssize_t i = 0; i < n; i++) {
            rd_kafka_message_t *m = msgs[i];
            const char *user = NULL;
            size_t ulen = 0;
            int64_t ts = 0, win, cnt = 1;
            bool ok, existed;

            if (!bench_reader_take(&r, m)) {
                rd_kafka_message_destroy(m);
                continue;
            }
            records++;
            if (results) {
                ok = scan_fields(m->payload, m->len, "user", &user, &ulen, "window_start", &win,
                                 "clicks", &cnt) &&
                     cnt > 0;
            } else {
                ok = scan_fields(m->payload, m->len, "user", &user, &ulen, "ts", &ts, NULL, NULL);
                win = floor_div(ts, window_ms) * window_ms;
            }
            if (!ok) {
                bad++;
                rd_kafka_message_destroy(m);
                continue;
            }
            if (!table_add(&t, user, ulen, win, (uint64_t)cnt, &existed)) {
                fprintf(stderr, "baseline: out of memory\n");
                goto out;
            }
            dups += existed && results;
            rd_kafka_message_destroy(m);
        }
    }
    /* the results: one walk over the table */
    for (size_t i = 0; i < t.cap; i++) {
        const slot *s = &t.slots[i];
        if (!s->hash)
            continue;
        sum += s->count;
        checksum += mix64(s->hash ^ s->count * 0x9E3779B97F4A7C15ULL);
    }
    t1 = now_s();
    if (bad) {
        fprintf(stderr, "baseline: %" PRIu64 " record(s) could not be scanned\n", bad);
        goto out;
    }
    printf("{\"records\":%" PRIu64 ",\"keyed_windows\":%zu,\"sum_counts\":%" PRIu64
           ",\"checksum\":%" PRIu64 ",\"seconds\":%.3f",
           records, t.used, sum, checksum, t1 - t0);
    if (results)
        printf(",\"duplicates\":%" PRIu64, dups);
    printf("}\n");
    fflush(stdout);
    rc = 0;
out:
    bench_reader_close(&r);
    free(t.slots);
    free(t.arena);
    return rc;
}
