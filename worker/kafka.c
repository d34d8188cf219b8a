/*
 * kafka.c — librdkafka client setup, topic checks and counted producers.
 */
#include "kafka.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    wr_log(level <= 3   ? WR_LOG_ERROR
           : level <= 4 ? WR_LOG_WARN
                        : WR_LOG_DEBUG,
           "kafka", "%s: %s (%s)", fac, buf, rd_kafka_name(rk));
}

rd_kafka_t *wr_kafka_client_new(rd_kafka_type_t type, const wr_kafka_spec *k, const char *what,
                                const char *const *extra, void *opaque,
                                void (*dr_cb)(rd_kafka_t *, const rd_kafka_message_t *, void *),
                                wr_errbuf *eb)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char err[512];
    rd_kafka_t *rk;

    if (rd_kafka_conf_set(conf, "bootstrap.servers", k->brokers, err, sizeof err) !=
        RD_KAFKA_CONF_OK)
        goto bad;
    /* librdkafka logs only warnings and worse, through weir's logger. */
    rd_kafka_conf_set(conf, "log_level", "4", err, sizeof err);
    rd_kafka_conf_set_log_cb(conf, log_cb);
    for (int i = 0; extra && extra[i]; i += 2) {
        if (rd_kafka_conf_set(conf, extra[i], extra[i + 1], err, sizeof err) != RD_KAFKA_CONF_OK)
            goto bad;
    }
    for (int i = 0; i < k->n_props; i++) {
        if (rd_kafka_conf_set(conf, k->prop_keys[i], k->prop_vals[i], err, sizeof err) !=
            RD_KAFKA_CONF_OK) {
            wr_fail(eb, WR_ESPEC, "%s.properties.%s: %s", what, k->prop_keys[i], err);
            rd_kafka_conf_destroy(conf);
            return NULL;
        }
    }
    if (opaque)
        rd_kafka_conf_set_opaque(conf, opaque);
    if (dr_cb)
        rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rk = rd_kafka_new(type, conf, err, sizeof err);
    if (!rk) {
        wr_fail(eb, WR_EKAFKA, "%s: cannot create Kafka client: %s", what, err);
        rd_kafka_conf_destroy(conf); /* rd_kafka_new frees conf only on success */
        return NULL;
    }
    return rk;
bad:
    wr_fail(eb, WR_EKAFKA, "%s: %s", what, err);
    rd_kafka_conf_destroy(conf);
    return NULL;
}

wr_err wr_kafka_topic_check(rd_kafka_t *rk, const char *brokers, const char *topic,
                            int64_t timeout_ms, int *npartitions, wr_errbuf *eb)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    rd_kafka_resp_err_t err;
    wr_err ret = WR_OK;

    if (!rkt)
        return wr_fail(eb, WR_EKAFKA, "topic '%s': %s", topic,
                       rd_kafka_err2str(rd_kafka_last_error()));
    err = rd_kafka_metadata(rk, 0, rkt, &md, (int)timeout_ms);
    if (err) {
        ret = wr_fail(eb, WR_EKAFKA, "cannot reach Kafka brokers at %s within %lld ms: %s", brokers,
                      (long long)timeout_ms, rd_kafka_err2str(err));
    } else if (md->topic_cnt != 1 || md->topics[0].err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
               (md->topics[0].err == 0 && md->topics[0].partition_cnt == 0)) {
        ret = wr_fail(eb, WR_ENOTFOUND, "topic '%s' does not exist at %s", topic, brokers);
    } else if (md->topics[0].err) {
        ret = wr_fail(eb, WR_EKAFKA, "topic '%s' at %s: %s", topic, brokers,
                      rd_kafka_err2str(md->topics[0].err));
    } else {
        *npartitions = md->topics[0].partition_cnt;
    }
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    return ret;
}

static void producer_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    wr_producer *p = opaque;

    if (!m->err) {
        atomic_fetch_add(&p->delivered, 1);
        return;
    }
    if (atomic_fetch_add(&p->failed, 1) == 0) {
        pthread_mutex_lock(&p->mu);
        snprintf(p->first_error, sizeof p->first_error, "%s", rd_kafka_err2str(m->err));
        pthread_mutex_unlock(&p->mu);
    }
}

wr_err wr_producer_new(const wr_kafka_spec *k, const char *what, int64_t queue_kbytes,
                       int64_t timeout_ms, wr_producer **out, wr_errbuf *eb)
{
    char qk[32];
    const char *extra[] = {
        "enable.idempotence",         "true", "linger.ms", "5", "allow.auto.create.topics", "false",
        "queue.buffering.max.kbytes", qk,     NULL};
    wr_producer *p = calloc(1, sizeof *p);
    int nparts;
    wr_err e;

    if (!p)
        return wr_fail(eb, WR_ENOMEM, "%s: out of memory", what);
    snprintf(qk, sizeof qk, "%lld", (long long)queue_kbytes);
    pthread_mutex_init(&p->mu, NULL);
    p->topic = strdup(k->topic);
    p->what = strdup(what);
    p->rk = wr_kafka_client_new(RD_KAFKA_PRODUCER, k, what, extra, p, producer_dr, eb);
    if (!p->rk) {
        e = WR_EKAFKA;
        goto err;
    }
    e = wr_kafka_topic_check(p->rk, k->brokers, k->topic, timeout_ms, &nparts, eb);
    if (e) {
        wr_errbuf_prefix(eb, "%s: ", what);
        goto err;
    }
    p->rkt = rd_kafka_topic_new(p->rk, k->topic, NULL);
    if (!p->rkt) {
        e = wr_fail(eb, WR_EKAFKA, "%s: topic '%s': %s", what, k->topic,
                    rd_kafka_err2str(rd_kafka_last_error()));
        goto err;
    }
    *out = p;
    return WR_OK;
err:
    wr_producer_free(p);
    return e;
}

wr_err wr_producer_send(wr_producer *p, const void *key, size_t keylen, const void *value,
                        size_t len, rd_kafka_headers_t *hdrs, wr_errbuf *eb)
{
    for (;;) {
        rd_kafka_resp_err_t err;
        if (hdrs)
            err = rd_kafka_producev(
                p->rk, RD_KAFKA_V_RKT(p->rkt), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                RD_KAFKA_V_VALUE((void *)value, len), RD_KAFKA_V_KEY(key, keylen),
                RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_END);
        else
            err = rd_kafka_producev(
                p->rk, RD_KAFKA_V_RKT(p->rkt), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                RD_KAFKA_V_VALUE((void *)value, len), RD_KAFKA_V_KEY(key, keylen), RD_KAFKA_V_END);
        if (!err)
            return WR_OK;
        if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            rd_kafka_poll(p->rk, 50); /* backpressure: wait for deliveries */
            continue;
        }
        return wr_fail(eb, WR_EKAFKA, "%s: cannot produce to topic '%s': %s", p->what, p->topic,
                       rd_kafka_err2str(err));
    }
}

wr_err wr_producer_flush(wr_producer *p, int64_t timeout_ms, wr_errbuf *eb)
{
    rd_kafka_resp_err_t err = rd_kafka_flush(p->rk, (int)timeout_ms);

    if (atomic_load(&p->failed)) {
        pthread_mutex_lock(&p->mu);
        wr_fail(eb, WR_EKAFKA, "%s: %llu record(s) could not be delivered to topic '%s': %s",
                p->what, (unsigned long long)atomic_load(&p->failed), p->topic, p->first_error);
        pthread_mutex_unlock(&p->mu);
        return WR_EKAFKA;
    }
    if (err)
        return wr_fail(eb, WR_EKAFKA,
                       "%s: %d record(s) still undelivered to topic '%s' after %lld ms: %s",
                       p->what, rd_kafka_outq_len(p->rk), p->topic, (long long)timeout_ms,
                       rd_kafka_err2str(err));
    return WR_OK;
}

void wr_producer_free(wr_producer *p)
{
    if (!p)
        return;
    if (p->rkt)
        rd_kafka_topic_destroy(p->rkt);
    if (p->rk)
        rd_kafka_destroy(p->rk);
    pthread_mutex_destroy(&p->mu);
    free(p->topic);
    free(p->what);
    free(p);
}

wr_err wr_kafka_resolve_offsets(const wr_job_spec *spec, int64_t timeout_ms, wr_part_offsets **out,
                                int *n, wr_errbuf *eb)
{
    const wr_source_spec *src = &spec->sources[spec->input_source];
    const wr_kafka_spec *k = &src->kafka;
    const char *extra[] = {"group.id", "weir.metadata", "allow.auto.create.topics", "false", NULL};
    wr_part_offsets *parts = NULL;
    rd_kafka_t *rk;
    int nparts = 0;
    wr_err e;

    *out = NULL;
    *n = 0;
    rk = wr_kafka_client_new(RD_KAFKA_CONSUMER, k, "source", extra, NULL, NULL, eb);
    if (!rk)
        return WR_EKAFKA;
    e = wr_kafka_topic_check(rk, k->brokers, k->topic, timeout_ms, &nparts, eb);
    if (e) {
        wr_errbuf_prefix(eb, "source '%s': ", src->name);
        goto out;
    }
    parts = calloc((size_t)nparts, sizeof *parts);
    if (!parts) {
        e = wr_fail(eb, WR_ENOMEM, "out of memory");
        goto out;
    }
    for (int32_t p = 0; p < nparts; p++) {
        bool bounded = k->stop != WR_OFFSETS_NONE;
        int64_t lo = 0, hi = 0, start, stop = -1;

        if (bounded || k->start != WR_OFFSETS_EARLIEST) {
            rd_kafka_resp_err_t err =
                rd_kafka_query_watermark_offsets(rk, k->topic, p, &lo, &hi, (int)timeout_ms);
            if (err) {
                e = wr_fail(eb, WR_EKAFKA,
                            "source '%s': cannot read the offsets of topic '%s' partition %d: %s",
                            src->name, k->topic, (int)p, rd_kafka_err2str(err));
                goto out;
            }
        }
        if (k->stop == WR_OFFSETS_LATEST) {
            stop = hi;
        } else if (k->stop == WR_OFFSETS_EXPLICIT) {
            stop = hi; /* partitions not listed end where they end now */
            for (int j = 0; j < k->n_stop_offsets; j++) {
                if (k->stop_offsets[j].partition == p)
                    stop = k->stop_offsets[j].offset;
            }
        }
        if (k->start == WR_OFFSETS_LATEST)
            start = hi;
        else if (bounded)
            start = lo;
        else
            start = RD_KAFKA_OFFSET_BEGINNING;
        if (k->start == WR_OFFSETS_EXPLICIT) {
            start = lo;
            for (int j = 0; j < k->n_start_offsets; j++) {
                if (k->start_offsets[j].partition == p && k->start_offsets[j].offset > start)
                    start = k->start_offsets[j].offset;
            }
        }
        parts[p] = (wr_part_offsets){.partition = p, .start = start, .stop = stop};
    }
    *out = parts;
    *n = nparts;
    parts = NULL;
out:
    free(parts);
    rd_kafka_destroy(rk);
    return e;
}
