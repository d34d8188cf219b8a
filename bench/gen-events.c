/*
 * gen-events.c — writes N deterministic JSON events to a Kafka topic for the
 * filter+map throughput benchmark (bench/run-filter-map.sh).
 *
 * Each event is compact JSON of about 65 bytes, e.g.
 *   {"user":"U01234","url":"/p/17","ts":1700000000123,"amount":12.50}
 * drawn from a seeded xorshift PRNG, so the same seed gives the same bytes: about 1 %
 * have url "/health", about 5 % an amount <= 0, half the users are upper-case. Events
 * go round-robin over the topic's partitions (event i to partition i % P).
 *
 * All events are formatted into one buffer first and produced without copying, so the
 * producer runs as fast as librdkafka batches. Afterwards the watermarks of every
 * partition are checked: low must still be 0 (the mock broker keeps about 5 MB per
 * partition and silently drops older data) and the highs must sum to N; otherwise it
 * fails with status 1.
 *
 * Prints one JSON line: events, expected_passed (events that pass the benchmark's
 * filter `amount > 0 && url != '/health'`), bytes, seconds.
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
 * *passes when the event passes `amount > 0 && url != '/health'`. */
static int format_event(uint64_t *rng, uint64_t i, char *out, bool *passes)
{
    uint64_t r = rng_next(rng);
    unsigned user = (unsigned)(r % 100000);
    bool upper = (r >> 20) & 1;
    bool health = (r >> 21) % 100 == 0;
    bool nonpos = (r >> 28) % 100 < 5;
    unsigned page = (unsigned)((r >> 36) % 100);
    int64_t ts = 1700000000000LL + (int64_t)i * 3;
    long cents;
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

static int usage(void)
{
    fprintf(stderr, "usage: gen-events --brokers HOST:PORT [--topic T] [--count N] "
                    "[--partitions P] [--seed S]\n");
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
        else
            return usage();
    }
    if (!brokers || count == 0 || partitions <= 0)
        return usage();

    /* Format everything up front: producing then never waits on snprintf. */
    buf = malloc(count * EVENT_MAX);
    len = malloc(count * sizeof *len);
    if (!buf || !len) {
        fprintf(stderr, "gen-events: out of memory for %" PRIu64 " events\n", count);
        return 1;
    }
    {
        uint64_t rng = seed ? seed : 1;
        for (uint64_t i = 0; i < count; i++) {
            bool p;
            len[i] = (uint32_t)format_event(&rng, i, buf + i * EVENT_MAX, &p);
            passed += p;
            total_bytes += len[i];
        }
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
           ",\"seconds\":%.3f}\n",
           count, passed, total_bytes, t1 - t0);
    rc = 0;
out:
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
    free(buf);
    free(len);
    return rc;
}
