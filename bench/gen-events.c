/*
 * gen-events.c — writes N deterministic JSON events to a Kafka topic for the
 * throughput benchmarks (bench/run-filter-map.sh, bench/run-tumbling.sh).
 *
 * Each event is compact JSON of about 65 bytes, e.g.
 *   {"user":"U01234","url":"/p/17","ts":1700000000123,"amount":12.50}
 * drawn from a seeded xorshift PRNG, so the same seed gives the same bytes: about 1 %
 * have url "/health", about 5 % an amount <= 0, half the users are upper-case. Events
 * go round-robin over the topic's partitions (event i to partition i % P).
 *
 * Event time: by default event i has ts = 1700000000000 + 3 i (in order). Options for
 * the windowed benchmark (the defaults keep the bytes above unchanged):
 *   --users U        user ids 0 .. U-1 (default 100000)
 *   --lower-users    every user name lower-case, so there are U distinct keys, not 2 U
 *   --span-ms S      spread the N events evenly over S ms: ts_i = T0 + i S / N
 *   --disorder-ms D  subtract a pseudo-random 0 .. D-1 ms from each ts (drawn from a
 *                    hash of i and the seed, so the other fields stay the same). Within
 *                    a partition, an event is then at most D-1 ms older than the newest
 *                    before it, so a watermark bound of D ms makes no event late.
 *   --window-ms W    also count the distinct (user, W-ms tumbling window) pairs, i.e.
 *                    the results a keyed tumbling count must produce when no event is
 *                    late: printed as expected_keyed_windows.
 *
 * All events are formatted into one buffer first and produced without copying, so the
 * producer runs as fast as librdkafka batches. Afterwards the watermarks of every
 * partition are checked: low must still be 0 (the mock broker keeps about 5 MB per
 * partition and silently drops older data) and the highs must sum to N; otherwise it
 * fails with status 1.
 *
 * Prints one JSON line: events, expected_passed (events that pass the benchmark's
 * filter `amount > 0 && url != '/health'`), bytes, seconds, the event-time range
 * (ts_min, ts_max) and, with --window-ms, windows (distinct window starts) and
 * expected_keyed_windows.
 */
#include <librdkafka/rdkafka.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define EVENT_MAX 96

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct gen_opts {
    unsigned users;       /* user ids 0 .. users-1 */
    bool lower_users;     /* no upper-case user names */
    uint64_t span_ms;     /* 0: ts step 3 ms */
    uint64_t disorder_ms; /* 0: in order */
    uint64_t seed;
    uint64_t count;
} gen_opts;

static uint64_t splitmix64(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

static uint64_t rng_next(uint64_t *s)
{
    /* xorshift64* */
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* Formats event i into out (at least EVENT_MAX bytes); returns its length. Sets
 * *passes when the event passes `amount > 0 && url != '/health'`, and *key (user id,
 * case bit in bit 32) and *ts. */
static int format_event(const gen_opts *o, uint64_t *rng, uint64_t i, char *out, bool *passes,
                        uint64_t *key, int64_t *ts_out)
{
    uint64_t r = rng_next(rng);
    unsigned user = (unsigned)(r % o->users);
    bool upper = !o->lower_users && ((r >> 20) & 1);
    bool health = (r >> 21) % 100 == 0;
    bool nonpos = (r >> 28) % 100 < 5;
    unsigned page = (unsigned)((r >> 36) % 100);
    int64_t ts = o->span_ms ? 1700000000000LL + (int64_t)(i * o->span_ms / o->count)
                            : 1700000000000LL + (int64_t)i * 3;
    long cents;

    if (o->disorder_ms)
        ts -= (int64_t)(splitmix64(i ^ (o->seed * 0x9E3779B97F4A7C15ULL)) % o->disorder_ms);
    *key = (uint64_t)user | (uint64_t)upper << 32;
    *ts_out = ts;
    char url[16];

    if (nonpos)
        cents = -(long)((r >> 44) % 10000); /* -99.99 .. 0.00 */
    else
        cents = 1 + (long)((r >> 44) % 99999); /* 0.01 .. 999.99 */
    if (health)
        snprintf(url, sizeof url, "/health");
    else
        snprintf(url, sizeof url, "/p/%u", page);
    *passes = !health && cents > 0;
    return snprintf(out, EVENT_MAX,
                    "{\"user\":\"%c%05u\",\"url\":\"%s\",\"ts\":%" PRId64
                    ",\"amount\":%s%ld.%02ld}",
                    upper ? 'U' : 'u', user, url, ts, cents < 0 ? "-" : "", labs(cents) / 100,
                    labs(cents) % 100);
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    uint64_t *failed = opaque;
    (void)rk;
    if (m->err) {
        if (*failed == 0)
            fprintf(stderr, "gen-events: delivery failed: %s\n", rd_kafka_err2str(m->err));
        (*failed)++;
    }
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

static int usage(void)
{
    fprintf(stderr, "usage: gen-events --brokers HOST:PORT [--topic T] [--count N] "
                    "[--partitions P] [--seed S] [--users U] [--lower-users] [--span-ms S] "
                    "[--disorder-ms D] [--window-ms W]\n");
    return 2;
}

static bool conf_set(rd_kafka_conf_t *conf, const char *k, const char *v)
{
    char err[512];
    if (rd_kafka_conf_set(conf, k, v, err, sizeof err) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "gen-events: %s=%s: %s\n", k, v, err);
        return false;
    }
    return true;
}

int main(int argc, char **argv)
{
    const char *brokers = NULL, *topic = "events";
    uint64_t count = 2000000, seed = 42, failed = 0, passed = 0, total_bytes = 0;
    uint64_t users = 100000, span_ms = 0, disorder_ms = 0, window_ms = 0;
    uint64_t keyed_windows = 0, windows = 0;
    int64_t ts_min = INT64_MAX, ts_max = INT64_MIN;
    uint64_t *pairs = NULL; /* with --window-ms: (window index << 33) | key, per event */
    bool lower_users = false;
    gen_opts o;
    int partitions = 32, rc = 1;
    rd_kafka_conf_t *conf;
    rd_kafka_t *rk;
    rd_kafka_topic_t *rkt;
    char err[512];
    char *buf;
    uint32_t *len;
    double t0, t1;
    int64_t hi_sum = 0;

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--lower-users")) {
            lower_users = true;
            continue;
        }
        if (i + 1 >= argc)
            return usage();
        if (!strcmp(argv[i], "--brokers"))
            brokers = argv[++i];
        else if (!strcmp(argv[i], "--topic"))
            topic = argv[++i];
        else if (!strcmp(argv[i], "--count"))
            count = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--partitions"))
            partitions = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--seed"))
            seed = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--users"))
            users = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--span-ms"))
            span_ms = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--disorder-ms"))
            disorder_ms = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--window-ms"))
            window_ms = strtoull(argv[++i], NULL, 10);
        else
            return usage();
    }
    if (!brokers || count == 0 || partitions <= 0 || users == 0 || users > 100000 ||
        span_ms > UINT64_MAX / count || (window_ms && window_ms < 1000))
        return usage(); /* user names have 5 digits; window indexes must fit in 31 bits */
    o = (gen_opts){.users = (unsigned)users,
                   .lower_users = lower_users,
                   .span_ms = span_ms,
                   .disorder_ms = disorder_ms,
                   .seed = seed,
                   .count = count};

    /* Format everything up front: producing then never waits on snprintf. */
    buf = malloc(count * EVENT_MAX);
    len = malloc(count * sizeof *len);
    if (window_ms)
        pairs = malloc(count * sizeof *pairs);
    if (!buf || !len || (window_ms && !pairs)) {
        fprintf(stderr, "gen-events: out of memory for %" PRIu64 " events\n", count);
        return 1;
    }
    {
        uint64_t rng = seed ? seed : 1;
        for (uint64_t i = 0; i < count; i++) {
            bool p;
            uint64_t key;
            int64_t ts;
            len[i] = (uint32_t)format_event(&o, &rng, i, buf + i * EVENT_MAX, &p, &key, &ts);
            passed += p;
            total_bytes += len[i];
            ts_min = ts < ts_min ? ts : ts_min;
            ts_max = ts > ts_max ? ts : ts_max;
            if (pairs)
                pairs[i] = (uint64_t)floor_div(ts, (int64_t)window_ms) << 33 | key;
        }
    }
    if (pairs) {
        /* distinct (key, window) pairs and distinct windows, from the sorted pairs */
        qsort(pairs, count, sizeof *pairs, cmp_u64);
        for (uint64_t i = 0; i < count; i++) {
            if (i == 0 || pairs[i] != pairs[i - 1])
                keyed_windows++;
            if (i == 0 || pairs[i] >> 33 != pairs[i - 1] >> 33)
                windows++;
        }
        free(pairs);
    }

    conf = rd_kafka_conf_new();
    if (!conf_set(conf, "bootstrap.servers", brokers) || !conf_set(conf, "linger.ms", "20") ||
        !conf_set(conf, "batch.num.messages", "10000") ||
        !conf_set(conf, "batch.size", "1000000") ||
        !conf_set(conf, "queue.buffering.max.messages", "2000000") ||
        !conf_set(conf, "queue.buffering.max.kbytes", "1048576") ||
        !conf_set(conf, "compression.type", "none") || !conf_set(conf, "acks", "1") ||
        !conf_set(conf, "log_level", "4"))
        return 1;
    rd_kafka_conf_set_opaque(conf, &failed);
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk) {
        fprintf(stderr, "gen-events: %s\n", err);
        return 1;
    }
    rkt = rd_kafka_topic_new(rk, topic, NULL);

    t0 = now_s();
    for (uint64_t i = 0; i < count;) {
        /* flags 0: librdkafka neither copies nor frees; buf outlives the flush */
        if (rd_kafka_produce(rkt, (int32_t)(i % (uint64_t)partitions), 0, buf + i * EVENT_MAX,
                             len[i], NULL, 0, NULL) == 0) {
            i++;
            if ((i & 0xffff) == 0)
                rd_kafka_poll(rk, 0);
            continue;
        }
        if (rd_kafka_last_error() != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            fprintf(stderr, "gen-events: produce: %s\n", rd_kafka_err2str(rd_kafka_last_error()));
            goto out;
        }
        rd_kafka_poll(rk, 10);
    }
    if (rd_kafka_flush(rk, 120000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "gen-events: flush timed out, %d message(s) undelivered\n",
                rd_kafka_outq_len(rk));
        goto out;
    }
    t1 = now_s();
    if (failed) {
        fprintf(stderr, "gen-events: %" PRIu64 " message(s) failed\n", failed);
        goto out;
    }

    for (int p = 0; p < partitions; p++) {
        int64_t lo = -1, hi = -1;
        rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, 10000);
        if (e) {
            fprintf(stderr, "gen-events: watermarks of %s [%d]: %s\n", topic, p,
                    rd_kafka_err2str(e));
            goto out;
        }
        if (lo != 0) {
            fprintf(stderr,
                    "gen-events: FAIL: %s [%d] low watermark is %" PRId64
                    ", not 0: the broker dropped data (mock keeps ~5 MB per partition); use "
                    "fewer events or more partitions\n",
                    topic, p, lo);
            goto out;
        }
        hi_sum += hi;
    }
    if (hi_sum != (int64_t)count) {
        fprintf(stderr,
                "gen-events: FAIL: high watermarks of %s sum to %" PRId64 ", expected %" PRIu64
                " (was the topic empty before?)\n",
                topic, hi_sum, count);
        goto out;
    }
    printf("{\"events\":%" PRIu64 ",\"expected_passed\":%" PRIu64 ",\"bytes\":%" PRIu64
           ",\"seconds\":%.3f,\"ts_min\":%" PRId64 ",\"ts_max\":%" PRId64,
           count, passed, total_bytes, t1 - t0, ts_min, ts_max);
    if (window_ms)
        printf(",\"window_ms\":%" PRIu64 ",\"windows\":%" PRIu64
               ",\"expected_keyed_windows\":%" PRIu64,
               window_ms, windows, keyed_windows);
    printf("}\n");
    rc = 0;
out:
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
    free(buf);
    free(len);
    return rc;
}
