/*
 * kafka.h — librdkafka plumbing shared by the source, the sinks and dead letters:
 * client configuration from a job spec, topic checks with clear errors, and
 * producers whose delivery reports are counted.
 */
#ifndef WR_KAFKA_H
#define WR_KAFKA_H

#include "error.h"
#include "spec.h"

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

/* A new client of `type` for the brokers of k, with k's extra properties applied
 * after weir's own defaults (`extra` is a NULL-terminated list of key, value pairs set
 * before the user's). `what` names the spec block in errors ("sources[0].kafka"). */
rd_kafka_t *wr_kafka_client_new(rd_kafka_type_t type, const wr_kafka_spec *k, const char *what,
                                const char *const *extra, void *opaque,
                                void (*dr_cb)(rd_kafka_t *, const rd_kafka_message_t *, void *),
                                wr_errbuf *eb);

/* Checks that the brokers answer and `topic` exists, within timeout_ms. On success sets
 * *npartitions. Errors: "cannot reach Kafka brokers at HOST: REASON",
 * "topic 'x' does not exist at HOST". */
wr_err wr_kafka_topic_check(rd_kafka_t *rk, const char *brokers, const char *topic,
                            int64_t timeout_ms, int *npartitions, wr_errbuf *eb);

/* Where a job's source reads each partition. */
typedef struct wr_part_offsets {
    int32_t partition;
    int64_t start; /* first offset, or RD_KAFKA_OFFSET_BEGINNING (-2) for `start: earliest`
                    * of an unbounded source; always a real offset when stop >= 0 */
    int64_t stop;  /* -1: unbounded; else read up to (excluding) stop; start >= stop: nothing */
} wr_part_offsets;

/* Resolves the job's input: checks brokers and topic (errors as wr_kafka_topic_check,
 * prefixed "source 'NAME': "), lists its partitions and resolves `start:` and `stop:` to
 * offsets, so that every attempt of a job reads the same range. *out is malloc'd, with *n
 * entries in partition order. */
wr_err wr_kafka_resolve_offsets(const wr_job_spec *spec, int64_t timeout_ms, wr_part_offsets **out,
                                int *n, wr_errbuf *eb);

/* A producer shared by several threads, with counted deliveries. The first failed
 * delivery's reason is kept. */
typedef struct wr_producer {
    rd_kafka_t *rk;
    rd_kafka_topic_t *rkt;
    char *topic;
    char *what; /* "sink 'x'" / "dead_letter" for messages */
    atomic_uint_fast64_t delivered;
    atomic_uint_fast64_t failed;
    pthread_mutex_t mu;
    char first_error[256];
} wr_producer;

/* Creates an idempotent (acks=all) producer for k after checking its topic exists. */
wr_err wr_producer_new(const wr_kafka_spec *k, const char *what, int64_t queue_kbytes,
                       int64_t timeout_ms, wr_producer **out, wr_errbuf *eb);
/* Produces a copy of value/key (and takes ownership of hdrs on success; hdrs may be
 * NULL). When the local queue is full it serves delivery reports and retries, so a slow
 * broker backpressures the caller. Returns WR_EKAFKA with the reason otherwise. */
wr_err wr_producer_send(wr_producer *p, const void *key, size_t keylen, const void *value,
                        size_t len, rd_kafka_headers_t *hdrs, wr_errbuf *eb);
/* Waits until every queued message is delivered or failed (timeout_ms). Returns
 * WR_EKAFKA if any delivery failed or the timeout passed, with the reason. */
wr_err wr_producer_flush(wr_producer *p, int64_t timeout_ms, wr_errbuf *eb);
void wr_producer_free(wr_producer *p);

#endif
