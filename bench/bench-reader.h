/*
 * bench-reader.h — the Kafka reading shared by the hand-written baselines, so every
 * baseline consumes exactly the same way (and with the same librdkafka settings as
 * weir's source: see worker/task-source.c): one consumer, every partition of the topic
 * assigned explicitly from the beginning, read up to the high watermarks found at
 * start, `queued.max.messages.kbytes` 65536 and `queued.min.messages` 10 000 000 (to
 * avoid librdkafka 2.0.2's 1 s fetch backoff; docs/benchmarks.md).
 *
 * Header-only (static functions) so the bench scripts build each baseline from one .c.
 */
#ifndef BENCH_READER_H
#define BENCH_READER_H

#include <librdkafka/rdkafka.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct bench_reader {
    rd_kafka_t *rk;
    rd_kafka_queue_t *q;
    int64_t *stop; /* per partition: end offset, -1 once done */
    int nparts;
    int ndone;
} bench_reader;

static bool bench_conf_set(rd_kafka_conf_t *conf, const char *k, const char *v)
{
    char err[512];
    if (rd_kafka_conf_set(conf, k, v, err, sizeof err) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "baseline: %s=%s: %s\n", k, v, err);
        return false;
    }
    return true;
}

static void bench_reader_close(bench_reader *r)
{
    if (r->q)
        rd_kafka_queue_destroy(r->q);
    if (r->rk) {
        rd_kafka_assign(r->rk, NULL);
        rd_kafka_consumer_close(r->rk);
        rd_kafka_destroy(r->rk);
    }
    free(r->stop);
}

/* Opens the consumer and assigns every partition of topic up to its current end. With
 * from_zero, a partition whose low watermark is not 0 is an error (the mock broker
 * dropped data). Returns false after printing why. */
static bool bench_reader_open(bench_reader *r, const char *brokers, const char *topic,
                              bool from_zero)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_partition_list_t *assignment = NULL;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_topic_t *rkt;
    char err[512];
    bool ok = false;

    *r = (bench_reader){0};
    if (!bench_conf_set(conf, "bootstrap.servers", brokers) ||
        !bench_conf_set(conf, "group.id", "bench-baseline") ||
        !bench_conf_set(conf, "enable.auto.commit", "false") ||
        !bench_conf_set(conf, "enable.auto.offset.store", "false") ||
        !bench_conf_set(conf, "auto.offset.reset", "earliest") ||
        !bench_conf_set(conf, "queued.max.messages.kbytes", "65536") ||
        !bench_conf_set(conf, "queued.min.messages", "10000000") ||
        !bench_conf_set(conf, "log_level", "4")) {
        rd_kafka_conf_destroy(conf);
        return false;
    }
    r->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (!r->rk) {
        fprintf(stderr, "baseline: %s\n", err);
        return false;
    }
    rkt = rd_kafka_topic_new(r->rk, topic, NULL);
    if (rd_kafka_metadata(r->rk, 0, rkt, &md, 10000) || md->topic_cnt != 1 || md->topics[0].err ||
        md->topics[0].partition_cnt == 0) {
        fprintf(stderr, "baseline: cannot read metadata of topic '%s'\n", topic);
        if (md)
            rd_kafka_metadata_destroy(md);
        rd_kafka_topic_destroy(rkt);
        return false;
    }
    r->nparts = md->topics[0].partition_cnt;
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);

    r->stop = calloc((size_t)r->nparts, sizeof *r->stop);
    assignment = rd_kafka_topic_partition_list_new(r->nparts);
    if (!r->stop)
        goto out;
    for (int p = 0; p < r->nparts; p++) {
        int64_t lo, hi;
        rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(r->rk, topic, p, &lo, &hi, 10000);
        if (e) {
            fprintf(stderr, "baseline: watermarks of %s [%d]: %s\n", topic, p, rd_kafka_err2str(e));
            goto out;
        }
        if (from_zero && lo != 0) {
            fprintf(stderr,
                    "baseline: %s [%d] low watermark is %" PRId64
                    ", not 0: the broker dropped data (use more partitions)\n",
                    topic, p, lo);
            goto out;
        }
        r->stop[p] = hi;
        if (lo >= hi) {
            r->stop[p] = -1; /* empty: done at once */
            r->ndone++;
        }
        rd_kafka_topic_partition_list_add(assignment, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    }
    if (rd_kafka_assign(r->rk, assignment)) {
        fprintf(stderr, "baseline: assign failed\n");
        goto out;
    }
    r->q = rd_kafka_queue_get_consumer(r->rk);
    ok = true;
out:
    rd_kafka_topic_partition_list_destroy(assignment);
    return ok;
}

static bool bench_reader_done(const bench_reader *r)
{
    return r->ndone >= r->nparts;
}

/* True if m is a record to process: not an error/EOF event, inside its partition's
 * range; marks partitions done as their last record arrives. */
static bool bench_reader_take(bench_reader *r, const rd_kafka_message_t *m)
{
    int32_t p = m->partition;

    if (m->err) {
        if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
            fprintf(stderr, "baseline: %s\n", rd_kafka_message_errstr(m));
        return false;
    }
    if (p < 0 || p >= r->nparts || r->stop[p] < 0 || m->offset >= r->stop[p])
        return false;
    if (m->offset + 1 >= r->stop[p]) {
        r->stop[p] = -1;
        r->ndone++;
    }
    return true;
}

#endif
