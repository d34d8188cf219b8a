/*
 * task-sink.c — stage 1: one subtask that takes batches from its inbox, runs the
 * operators after the exchange, and writes every record to every sink.
 *
 * at_least_once: records are produced asynchronously through the job's shared,
 * idempotent producers; the job flushes them before it reports FINISHED, and any failed
 * delivery fails the job. The output record is JSON; the Kafka message key is the
 * sink's `key` field (as text) when set.
 *
 * Thread: its own. Blocks in wr_producer_send when librdkafka's queue
 * (limits.producer_queue_kbytes) is full, which stops it taking batches, which blocks
 * the senders: backpressure all the way to the Kafka consumer.
 */
#include "chain.h"
#include "job-internal.h"
#include "json.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct snk {
    wr_job *job;
    wr_task *t;
    const wr_schema *schema;
    wr_chain *chain;
    wr_buf json;
    wr_buf key;
} snk;

/* The Kafka message key for v: strings as they are, other types as JSON text. */
static void key_text(wr_buf *key, const wr_value *v)
{
    wr_buf_clear(key);
    switch ((wr_type)v->type) {
    case WR_T_STRING:
        wr_buf_append(key, v->u.s, v->len);
        break;
    case WR_T_NULL:
        break;
    case WR_T_BOOL:
        wr_buf_printf(key, "%s", v->u.i ? "true" : "false");
        break;
    case WR_T_DOUBLE:
        wr_buf_printf(key, "%.17g", v->u.d);
        break;
    default:
        wr_buf_printf(key, "%" PRId64, v->u.i);
    }
}

static bool write_record(snk *k, const wr_value *row)
{
    const wr_job_spec *spec = k->job->spec;
    wr_errbuf eb;

    wr_buf_clear(&k->json);
    if (wr_json_encode(k->schema, row, &k->json) != WR_OK) {
        wr_job_fail(k->job, WR_ETOOBIG, "sink: cannot encode an output record as JSON");
        return false;
    }
    for (int i = 0; i < spec->n_sinks; i++) {
        const wr_sink_spec *ss = &spec->sinks[i];
        const void *kp = NULL;
        size_t kl = 0;
        if (ss->key_col >= 0 && row[ss->key_col].type != WR_T_NULL) {
            key_text(&k->key, &row[ss->key_col]);
            kp = k->key.p;
            kl = k->key.len;
        }
        if (wr_producer_send(k->job->sinks[i], kp, kl, k->json.p, k->json.len, NULL, &eb) !=
            WR_OK) {
            wr_job_fail(k->job, WR_EKAFKA, eb.msg);
            return false;
        }
    }
    return true;
}

static bool process_batch(snk *k, wr_batch *b)
{
    uint64_t filtered = 0;
    bool ok = true;
    wr_errbuf eb;
    for (int r = 0; r < b->nrows; r++) {
        const wr_value *out;
        switch (wr_chain_run(k->chain, wr_batch_row(b, r), &out, &eb)) {
        case WR_CHAIN_DROP:
            filtered++;
            continue;
        case WR_CHAIN_ERROR:
            /* The original bytes are gone after the exchange: fail loudly rather than
             * dead-letter a record that no longer looks like its input. */
            wr_job_fail(k->job, WR_EEVAL, eb.msg);
            ok = false;
            break;
        case WR_CHAIN_EMIT:
            ok = write_record(k, out);
            break;
        }
        if (!ok)
            break;
    }
    atomic_fetch_add_explicit(&k->job->filtered, filtered, memory_order_relaxed);
    if (!ok)
        return false;
    for (int i = 0; i < k->job->spec->n_sinks; i++)
        rd_kafka_poll(k->job->sinks[i]->rk, 0);
    return true;
}

void *wr_sink_task_main(void *arg)
{
    wr_task *t = arg;
    wr_job *job = t->job;
    wr_inbox *in = job->inboxes[t->subtask];
    int ends = 0, senders = wr_inbox_channels(in);
    wr_errbuf eb;
    snk k;

    memset(&k, 0, sizeof k);
    k.job = job;
    k.t = t;
    k.schema = job->plan.stages[1].out_schema;
    wr_buf_init(&k.json, 0);
    wr_buf_init(&k.key, 0);
    if (wr_chain_new(job->spec, job->plan.stages[1].first_op, job->plan.stages[1].n_ops,
                     (size_t)job->spec->limits.max_record_bytes + 4096, &k.chain, &eb) != WR_OK) {
        wr_job_fail(job, WR_EUNSUPPORTED, eb.msg);
        goto out;
    }
    while (ends < senders) {
        wr_batch *b;
        int ch = wr_inbox_recv(in, &b, 100);
        if (ch == -2)
            break;
        if (ch == -1) {
            for (int i = 0; i < job->spec->n_sinks; i++)
                rd_kafka_poll(job->sinks[i]->rk, 0);
            continue;
        }
        if (b->kind == WR_BATCH_END) {
            ends++;
        } else if (b->kind == WR_BATCH_DATA && !process_batch(&k, b)) {
            wr_batch_free(b);
            break;
        }
        wr_batch_free(b);
    }
out:
    wr_chain_free(k.chain);
    wr_buf_fini(&k.json);
    wr_buf_fini(&k.key);
    return NULL;
}
