/*
 * baseline-filter-map.c — the hand-written C loop that weir's filter+map job is
 * compared with (bench/run-filter-map.sh).
 *
 * One librdkafka consumer, explicitly assigned every partition of the topic from the
 * beginning (group.id set because librdkafka wants one, no commits), reads with
 * rd_kafka_consume_batch_queue until every partition reaches the high watermark read
 * at start. For each message a minimal scanner (no general JSON parser, no escapes
 * beyond skipping them) finds user, url, ts and amount, applies
 * `amount > 0 && url != '/health'`, and computes what the map computes: lower(user)
 * into a stack buffer and amount * 100. It counts the records that pass and folds the
 * map's values into a checksum so the work cannot be optimized away. It produces
 * nothing.
 *
 * The consumer uses the same queued.max.messages.kbytes as weir's default
 * (limits.consumer_queue_kbytes: 65536, queued.min.messages 10000000), otherwise
 * librdkafka's defaults.
 *
 * Prints one JSON line: records, passed, seconds (from creating the client to the
 * last record, like `weir local`'s seconds, which run from job start to finish).
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

typedef struct event {
    const char *user, *url;
    size_t user_len, url_len;
    int64_t ts;
    double amount;
    bool has_user, has_url, has_ts, has_amount;
} event;

/* Scans one flat JSON object of strings and numbers; returns false if it is not one. */
static bool scan_event(const char *p, size_t n, event *ev)
{
    const char *end = p + n;

    memset(ev, 0, sizeof *ev);
    while (p < end && *p != '{')
        p++;
    p++;
    for (;;) {
        const char *key, *val;
        size_t klen, vlen;
        bool str;

        while (p < end && (*p == ' ' || *p == ','))
            p++;
        if (p >= end || *p == '}')
            return true;
        if (*p != '"')
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
            vlen = (size_t)(p - val);
            p++;
        } else {
            val = p;
            while (p < end && *p != ',' && *p != '}')
                p++;
            vlen = (size_t)(p - val);
        }
        if (klen == 4 && !memcmp(key, "user", 4) && str) {
            ev->user = val;
            ev->user_len = vlen;
            ev->has_user = true;
        } else if (klen == 3 && !memcmp(key, "url", 3) && str) {
            ev->url = val;
            ev->url_len = vlen;
            ev->has_url = true;
        } else if (klen == 2 && !memcmp(key, "ts", 2) && !str) {
            int64_t v = 0;
            for (size_t i = 0; i < vlen && val[i] >= '0' && val[i] <= '9'; i++)
                v = v * 10 + (val[i] - '0');
            ev->ts = v;
            ev->has_ts = true;
        } else if (klen == 6 && !memcmp(key, "amount", 6) && !str) {
            char num[64];
            if (vlen == 0 || vlen >= sizeof num)
                return false;
            memcpy(num, val, vlen);
            num[vlen] = '\0';
            ev->amount = strtod(num, NULL);
            ev->has_amount = true;
        }
    }
}

static int usage(void)
{
    fprintf(stderr, "usage: baseline-filter-map --brokers HOST:PORT [--topic T]\n");
    return 2;
}

int main(int argc, char **argv)
{
    const char *brokers = NULL, *topic = "events";
    rd_kafka_message_t *msgs[POLL_BATCH];
    bench_reader r = {0};
    int rc = 1;
    uint64_t records = 0, passed = 0, bad = 0, checksum = 0;
    double t0, t1;

    for (int i = 1; i < argc; i++) {
        if (i + 1 >= argc)
            return usage();
        if (!strcmp(argv[i], "--brokers"))
            brokers = argv[++i];
        else if (!strcmp(argv[i], "--topic"))
            topic = argv[++i];
        else
            return usage();
    }
    if (!brokers)
        return usage();

    t0 = now_s();
    if (!bench_reader_open(&r, brokers, topic, false))
        goto out;

    while (!bench_reader_done(&r)) {
        ssize_t n = rd_kafka_consume_batch_queue(r.q, 100, msgs, POLL_BATCH);
        if (n < 0) {
            fprintf(stderr, "baseline: consume failed\n");
            goto out;
        }
        for (ssize_t i = 0; i < n; i++) {
            rd_kafka_message_t *m = msgs[i];
            event ev;

            if (!bench_reader_take(&r, m)) {
                rd_kafka_message_destroy(m);
                continue;
            }
            records++;
            if (!scan_event(m->payload, m->len, &ev) || !ev.has_user || !ev.has_url ||
                !ev.has_amount || !ev.has_ts) {
                bad++;
                rd_kafka_message_destroy(m);
                continue;
            }
            /* filter: amount > 0 && url != '/health' */
            if (ev.amount > 0 && !(ev.url_len == 7 && !memcmp(ev.url, "/health", 7))) {
                /* map: user: lower(user), url, ts, amount_cents: amount * 100 */
                char user[256];
                size_t ul = ev.user_len < sizeof user ? ev.user_len : sizeof user - 1;
                double cents = ev.amount * 100;
                for (size_t k = 0; k < ul; k++) {
                    char c = ev.user[k];
                    user[k] = c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
                }
                user[ul] = '\0';
                checksum += (uint64_t)(unsigned char)user[ul > 0 ? ul - 1 : 0] + (uint64_t)cents +
                            (uint64_t)ev.ts + ev.url_len;
                passed++;
            }
            rd_kafka_message_destroy(m);
        }
    }
    t1 = now_s();
    if (bad) {
        fprintf(stderr, "baseline: %" PRIu64 " record(s) could not be scanned\n", bad);
        goto out;
    }
    printf("{\"records\":%" PRIu64 ",\"passed\":%" PRIu64 ",\"seconds\":%.3f,\"checksum\":%" PRIu64
           "}\n",
           records, passed, t1 - t0, checksum);
    fflush(stdout);
    rc = 0;
out:
    bench_reader_close(&r);
    return rc;
}
