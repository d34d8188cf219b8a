/*
 * task-source.c — stage 0: one Kafka source subtask with its fused stateless chain.
 *
 * Per subtask: a librdkafka consumer with an explicit assignment (no group
 * rebalancing), the JSON decoder, the operator chain up to key_by, and one open
 * output batch per downstream subtask. Records that cannot be decoded or evaluated go
 * to the dead-letter topic with their original bytes; without a dead-letter topic the
 * job fails, naming topic, partition and offset — a record is never dropped silently.
 *
 * Event time: a source with `event_time` tracks one watermark per partition
 * (worker/watermark.c) and, whenever the subtask's watermark or idleness changes, sends
 * it in-band to every downstream subtask right after the records it covers (at each
 * flush), so a watermark never overtakes a record on a channel. When every partition of a
 * bounded source is finished the watermark is WR_WM_MAX, which fires every window; a
 * stop requested by the user ends the channels without it.
 *
 * Checkpoints: when the job's trigger (wr_job_trigger_checkpoint) is newer than the last
 * barrier this subtask emitted, it flushes its open batches and watermark, flushes the
 * dead-letter producer, sends barrier N on every output channel after everything it read
 * so far, and acknowledges N with the next offset of each partition: the records before
 * the barrier are exactly those below these offsets.
 *
 * Thread: its own. Blocks in wr_job_send when a downstream channel has no credit,
 * which stops consumption; librdkafka's prefetch queue is bounded by
 * limits.consumer_queue_kbytes, so memory stays bounded under backpressure.
 */
#include "chain.h"
#include "deadline.h"
#include "job-internal.h"
#include "json.h"
#include "keygroup.h"
#include "log.h"
#include "watermark.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define POLL_BATCH 1024
#define POLL_TIMEOUT_MS 100
#define LINGER_MS 50
#define PAUSE_AFTER_MS 200

typedef struct src {
    wr_task *t;
    wr_job *job;
    const wr_job_spec *spec;
    const wr_source_spec *source;
    rd_kafka_t *rk;
    rd_kafka_queue_t *q;
    wr_json_decoder *dec;
    wr_chain *chain;
    char *decode_mem;
    wr_arena decode_arena;
    wr_value *row;
    int ntargets;
    wr_batch **out; /* one open batch per target subtask */
    int ncols_out;
    int64_t *next; /* next offset per local partition */
    bool *done;
    int ndone;
    int *local_of; /* partition id → local index, -1 if not ours */
    int64_t last_flush_ms;
    int64_t now; /* monotonic ms, read once per poll */
    wr_wm_source *wm;
    wr_wm sent; /* the last watermark sent downstream */
    /* counted locally, published to the job once per poll (no shared cache line per
     * record) */
    uint64_t n_in, n_bytes, n_filtered;
    uint64_t pauses; /* times the partitions were paused for backpressure */
    int64_t last_barrier;
} src;

static void publish_counts(src *s)
{
    atomic_fetch_add_explicit(&s->job->records_in, s->n_in, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->job->bytes_in, s->n_bytes, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->job->filtered, s->n_filtered, memory_order_relaxed);
    s->n_in = s->n_bytes = s->n_filtered = 0;
}

/* Pauses (true) or resumes fetching from this subtask's partitions. */
static void pause_partitions(src *s, bool pause)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(s->t->nparts);

    for (int i = 0; i < s->t->nparts; i++)
        rd_kafka_topic_partition_list_add(l, s->source->kafka.topic, s->t->parts[i]);
    if (pause)
        rd_kafka_pause_partitions(s->rk, l);
    else
        rd_kafka_resume_partitions(s->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
}

/* Sends b downstream. When the target has no room (no credit) for PAUSE_AFTER_MS, the
 * subtask pauses its Kafka partitions while it waits, so librdkafka stops fetching and
 * drops what it prefetched: a slow consumer holds back the source, not memory. */
static bool send_batch(src *s, int target, wr_batch *b)
{
    wr_err e = wr_job_send(s->job, s->t->subtask, target, b, PAUSE_AFTER_MS);

    if (e == WR_ETIMEDOUT) {
        s->pauses++;
        pause_partitions(s, true);
        e = wr_job_send(s->job, s->t->subtask, target, b, -1);
        pause_partitions(s, false);
    }
    return e == WR_OK;
}

static bool flush_target(src *s, int target)
{
    wr_batch *b = s->out[target];
    if (!b || b->nrows == 0)
        return true;
    s->out[target] = NULL;
    return send_batch(s, target, b);
}

/* Sends the subtask's watermark to every target if it changed since the last one. */
static bool send_watermark(src *s)
{
    wr_wm w;

    if (!s->wm)
        return true;
    w = wr_wm_source_current(s->wm, s->now);
    if (w.time == s->sent.time && w.idle == s->sent.idle)
        return true;
    for (int i = 0; i < s->ntargets; i++) {
        wr_batch *b = wr_batch_new_control(w.idle ? WR_BATCH_IDLE : WR_BATCH_WATERMARK, w.time);
        if (!b) {
            wr_job_fail(s->job, WR_ENOMEM, "source task: out of memory");
            return false;
        }
        if (!send_batch(s, i, b))
            return false;
    }
    s->sent = w;
    return true;
}

static bool flush_all(src *s)
{
    for (int i = 0; i < s->ntargets; i++) {
        if (!flush_target(s, i))
            return false;
    }
    s->last_flush_ms = wr_mono_ms();
    return send_watermark(s);
}

static void partition_done(src *s, int li)
{
    s->done[li] = true;
    s->ndone++;
    if (s->wm)
        wr_wm_source_finish(s->wm, li);
}

static wr_batch *new_out_batch(src *s)
{
    const wr_limits_spec *l = &s->spec->limits;
    return wr_batch_new(s->ncols_out, (int)l->batch_records, (size_t)l->batch_bytes);
}

/* Appends row to the batch for `target`, sending full batches on. */
static bool emit(src *s, int target, const wr_value *row, int64_t ts)
{
    if (!s->out[target] && !(s->out[target] = new_out_batch(s)))
        goto oom;
    if (wr_batch_append(s->out[target], row, ts) == WR_OK)
        return true;
    if (s->out[target]->nrows > 0) {
        if (!flush_target(s, target))
            return false;
        if (!(s->out[target] = new_out_batch(s)))
            goto oom;
        if (wr_batch_append(s->out[target], row, ts) == WR_OK)
            return true;
    }
    /* One record with more string bytes than a whole batch: a batch of its own
     * (its size is bounded by limits.max_record_bytes and the scratch space). */
    {
        wr_batch *big = wr_batch_new(s->ncols_out, 1, wr_row_string_bytes(row, s->ncols_out));
        if (!big)
            goto oom;
        wr_batch_append(big, row, ts);
        return send_batch(s, target, big);
    }
oom:
    wr_job_fail(s->job, WR_ENOMEM, "source task: out of memory for a record batch");
    return false;
}

static void add_header_i64(rd_kafka_headers_t *h, const char *name, int64_t v)
{
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%" PRId64, v);
    rd_kafka_header_add(h, name, -1, buf, n);
}

/* Sends m to the dead-letter topic with the reason, or fails the job if there is none. */
static bool dead_letter(src *s, const rd_kafka_message_t *m, const char *reason)
{
    const char *topic = rd_kafka_topic_name(m->rkt);
    rd_kafka_headers_t *orig = NULL, *h;
    wr_errbuf eb;

    if (!s->job->dlq) {
        char msg[WR_ERRBUF_SIZE];
        snprintf(msg, sizeof msg,
                 "source '%s': topic %s partition %d offset %" PRId64
                 ": %s (configure dead_letter to send such records there instead of failing)",
                 s->source->name, topic, (int)m->partition, m->offset, reason);
        wr_job_fail(s->job, WR_EMALFORMED, msg);
        return false;
    }
    if (rd_kafka_message_headers(m, &orig) == RD_KAFKA_RESP_ERR_NO_ERROR && orig)
        h = rd_kafka_headers_copy(orig);
    else
        h = rd_kafka_headers_new(6);
    rd_kafka_header_add(h, "weir.error", -1, reason, -1);
    rd_kafka_header_add(h, "weir.job", -1, s->spec->name, -1);
    rd_kafka_header_add(h, "weir.source", -1, s->source->name, -1);
    rd_kafka_header_add(h, "weir.source.topic", -1, topic, -1);
    add_header_i64(h, "weir.source.partition", m->partition);
    add_header_i64(h, "weir.source.offset", m->offset);
    if (wr_producer_send(s->job->dlq, m->key, m->key_len, m->payload, m->len, h, &eb) != WR_OK) {
        rd_kafka_headers_destroy(h);
        wr_job_fail(s->job, WR_EKAFKA, eb.msg);
        return false;
    }
    return true;
}

static bool process(src *s, const rd_kafka_message_t *m)
{
    const wr_limits_spec *l = &s->spec->limits;
    int li =
        m->partition >= 0 && m->partition < s->job->npartitions ? s->local_of[m->partition] : -1;
    const wr_value *out;
    int64_t ts = INT64_MIN;
    wr_errbuf eb;

    if (li < 0 || s->done[li] || m->offset >= s->t->stop[li])
        return true; /* not ours, or past a bounded source's end: not read */
    s->n_in++;
    s->n_bytes += m->len;
    s->next[li] = m->offset + 1;
    if (s->next[li] >= s->t->stop[li])
        partition_done(s, li);
    if ((int64_t)m->len > l->max_record_bytes) {
        snprintf(eb.msg, sizeof eb.msg,
                 "record of %zu bytes exceeds limits.max_record_bytes (%lld)", m->len,
                 (long long)l->max_record_bytes);
        return dead_letter(s, m, eb.msg);
    }
    wr_arena_reset(&s->decode_arena);
    if (wr_json_decode(s->dec, m->payload, m->len, s->row, &s->decode_arena, &eb) != WR_OK)
        return dead_letter(s, m, eb.msg);
    if (s->source->has_event_time) {
        const wr_value *tv = &s->row[s->source->event_time_col];
        if (tv->type == WR_T_NULL) {
            snprintf(eb.msg, sizeof eb.msg, "event time field '%s' is null",
                     s->source->schema.fields[s->source->event_time_col].name);
            return dead_letter(s, m, eb.msg);
        }
        ts = tv->u.i;
        wr_wm_source_observe(s->wm, li, ts, s->now);
    }
    switch (wr_chain_run(s->chain, s->row, &out, &eb)) {
    case WR_CHAIN_DROP:
        s->n_filtered++;
        return true;
    case WR_CHAIN_ERROR:
        return dead_letter(s, m, eb.msg);
    case WR_CHAIN_EMIT:
        break;
    }
    if (s->job->plan.exchange == WR_EXCHANGE_HASH) {
        const wr_plan *p = &s->job->plan;
        int kg = wr_keygroup_of(wr_key_hash(out, p->key_cols, p->n_keys), p->max_parallelism);
        return emit(s, wr_keygroup_subtask(kg, p->max_parallelism, p->parallelism), out, ts);
    }
    return emit(s, s->t->subtask, out, ts);
}

static wr_err assign(src *s, wr_errbuf *eb)
{
    const wr_kafka_spec *k = &s->source->kafka;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(s->t->nparts);
    rd_kafka_resp_err_t err;

    for (int i = 0; i < s->t->nparts; i++) {
        int32_t p = s->t->parts[i];
        rd_kafka_topic_partition_list_add(l, k->topic, p)->offset = s->t->start[i];
    }
    err = rd_kafka_assign(s->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (err)
        return wr_fail(eb, WR_EKAFKA, "source '%s': cannot assign partitions of topic '%s': %s",
                       s->source->name, k->topic, rd_kafka_err2str(err));
    return WR_OK;
}

static wr_err src_init(src *s, wr_task *t, wr_errbuf *eb)
{
    wr_job *job = t->job;
    const wr_job_spec *spec = job->spec;
    char group[256], qk[32];
    const char *extra[] = {"group.id", group, "enable.auto.commit", "false",
                           "enable.auto.offset.store", "false", "auto.offset.reset", "earliest",
                           "allow.auto.create.topics", "false", "queued.max.messages.kbytes", qk,
                           /* let the byte bound rule alone: librdkafka 2.0.2 stops fetching
                            * for a fixed 1 s when either bound is hit (its issue #2879) */
                           "queued.min.messages", "10000000", NULL};
    bool *used;
    wr_err e;
    size_t scratch;

    memset(s, 0, sizeof *s);
    s->t = t;
    s->job = job;
    s->spec = spec;
    s->source = &spec->sources[spec->input_source];
    s->ntargets = job->plan.parallelism;
    s->ncols_out = job->plan.stages[0].out_schema->nfields;
    snprintf(group, sizeof group, "weir.%s.source-%d", spec->name, t->subtask);
    snprintf(qk, sizeof qk, "%lld", (long long)spec->limits.consumer_queue_kbytes);
    s->rk =
        wr_kafka_client_new(RD_KAFKA_CONSUMER, &s->source->kafka, "source", extra, NULL, NULL, eb);
    if (!s->rk)
        return WR_EKAFKA;
    s->q = rd_kafka_queue_get_consumer(s->rk);
    used = calloc((size_t)s->source->schema.nfields, sizeof *used);
    if (!used)
        return wr_fail(eb, WR_ENOMEM, "out of memory");
    wr_plan_used_source_fields(spec, used);
    s->dec = wr_json_decoder_new(&s->source->schema, used);
    free(used);
    scratch = (size_t)spec->limits.max_record_bytes + 4096;
    s->decode_mem = malloc(scratch);
    s->row = calloc((size_t)s->source->schema.nfields, sizeof(wr_value));
    s->out = calloc((size_t)s->ntargets, sizeof *s->out);
    s->next = calloc((size_t)t->nparts + 1, sizeof *s->next);
    s->done = calloc((size_t)t->nparts + 1, sizeof *s->done);
    s->local_of = malloc(sizeof(int) * (size_t)job->npartitions);
    if (!s->dec || !s->decode_mem || !s->row || !s->out || !s->next || !s->done || !s->local_of)
        return wr_fail(eb, WR_ENOMEM, "out of memory");
    wr_arena_init(&s->decode_arena, s->decode_mem, scratch);
    for (int i = 0; i < job->npartitions; i++)
        s->local_of[i] = -1;
    if (s->source->has_event_time) {
        s->wm = wr_wm_source_new(t->nparts, s->source->max_out_of_orderness_ms,
                                 s->source->idle_timeout_ms, wr_mono_ms());
        if (!s->wm)
            return wr_fail(eb, WR_ENOMEM, "out of memory");
        s->sent = (wr_wm){WR_WM_MIN, false};
    }
    for (int i = 0; i < t->nparts; i++) {
        s->local_of[t->parts[i]] = i;
        s->next[i] = t->start[i]; /* what a checkpoint records until a record is read */
        if (t->stop[i] < 0)       /* nothing to read: see job.c */
            partition_done(s, i);
    }
    e = wr_chain_new(spec, job->plan.stages[0].first_op, job->plan.stages[0].n_ops, scratch,
                     &s->chain, eb);
    if (e)
        return e;
    return assign(s, eb);
}

static void src_fini(src *s)
{
    if (s->rk) {
        rd_kafka_assign(s->rk, NULL);
        if (s->q)
            rd_kafka_queue_destroy(s->q);
        rd_kafka_consumer_close(s->rk);
        rd_kafka_destroy(s->rk);
    }
    for (int i = 0; s->out && i < s->ntargets; i++)
        wr_batch_free(s->out[i]);
    free(s->out);
    wr_json_decoder_free(s->dec);
    wr_chain_free(s->chain);
    free(s->decode_mem);
    free(s->row);
    free(s->next);
    free(s->done);
    free(s->local_of);
    wr_wm_source_free(s->wm);
}

/* Checkpoint id: everything read so far goes downstream before barrier id, which goes on
 * every channel; then the offsets are acknowledged. */
static bool take_barrier(src *s, int64_t id)
{
    wr_errbuf eb;

    if (!flush_all(s))
        return false;
    if (s->job->dlq && wr_producer_flush(s->job->dlq, s->job->opt.kafka_timeout_ms, &eb) != WR_OK) {
        wr_job_fail(s->job, WR_EKAFKA, eb.msg);
        return false;
    }
    for (int i = 0; i < s->ntargets; i++) {
        wr_batch *b = wr_batch_new_control(WR_BATCH_BARRIER, id);
        if (!b) {
            wr_job_fail(s->job, WR_ENOMEM, "source task: out of memory");
            return false;
        }
        if (!send_batch(s, i, b))
            return false;
    }
    s->last_barrier = id;
    pthread_mutex_lock(&s->job->mu);
    s->t->last_barrier = id;
    pthread_mutex_unlock(&s->job->mu);
    {
        wr_ck_ack a = {.id = id,
                       .subtask = s->t->subtask,
                       .stage = 0,
                       .nparts = s->t->nparts,
                       .parts = s->t->parts,
                       .offsets = s->next};
        wr_job_ack(s->job, &a);
    }
    return true;
}

/* The subtask ended cleanly: from now on the job acks checkpoints for it with these
 * offsets (its channels ended, which counts as every barrier downstream). */
static void source_ended(src *s)
{
    int64_t *fin = malloc(sizeof *fin * ((size_t)s->t->nparts + 1));
    int64_t pending = 0;

    if (!fin)
        return; /* the checkpoints after this one fail; the job finishes anyway */
    memcpy(fin, s->next, sizeof *fin * (size_t)s->t->nparts);
    pthread_mutex_lock(&s->job->mu);
    s->t->ended = true;
    s->t->final_next = fin;
    if (atomic_load(&s->job->ck_trigger) > s->t->last_barrier) {
        pending = atomic_load(&s->job->ck_trigger);
        s->t->last_barrier = pending;
    }
    pthread_mutex_unlock(&s->job->mu);
    if (pending) {
        wr_ck_ack a = {.id = pending,
                       .subtask = s->t->subtask,
                       .stage = 0,
                       .nparts = s->t->nparts,
                       .parts = s->t->parts,
                       .offsets = fin};
        wr_job_ack(s->job, &a);
    }
}

/* Sends END on this subtask's channel of every downstream inbox. */
static void send_end(src *s)
{
    for (int i = 0; i < s->ntargets; i++) {
        wr_batch *b = wr_batch_new_control(WR_BATCH_END, 0);
        if (!b) {
            wr_job_fail(s->job, WR_ENOMEM, "source task: out of memory");
            return;
        }
        if (!send_batch(s, i, b))
            return;
    }
}

void *wr_source_task_main(void *arg)
{
    wr_task *t = arg;
    rd_kafka_message_t *msgs[POLL_BATCH];
    wr_errbuf eb;
    src s;

    if (src_init(&s, t, &eb) != WR_OK) {
        wr_job_fail(t->job, WR_EKAFKA, eb.msg);
        src_fini(&s);
        return NULL;
    }
    s.last_flush_ms = s.now = wr_mono_ms();
    while (!wr_job_canceled(s.job) && s.ndone < t->nparts &&
           !atomic_load_explicit(&s.job->stop_requested, memory_order_relaxed)) {
        ssize_t n = rd_kafka_consume_batch_queue(s.q, POLL_TIMEOUT_MS, msgs, POLL_BATCH);
        bool ok = true;
        s.now = wr_mono_ms();
        if (n < 0) {
            wr_job_fail(s.job, WR_EKAFKA, "source: consume failed");
            break;
        }
        for (ssize_t i = 0; i < n; i++) {
            rd_kafka_message_t *m = msgs[i];
            if (ok && m->err) {
                if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                    wr_log(WR_LOG_WARN, "source", "source '%s': %s", s.source->name,
                           rd_kafka_message_errstr(m));
            } else if (ok) {
                ok = process(&s, m);
            }
            rd_kafka_message_destroy(m);
        }
        publish_counts(&s);
        if (!ok)
            break;
        if (s.job->dlq)
            rd_kafka_poll(s.job->dlq->rk, 0);
        if ((n < POLL_BATCH || wr_mono_ms() - s.last_flush_ms >= LINGER_MS) && !flush_all(&s))
            break;
        {
            int64_t trig = atomic_load_explicit(&s.job->ck_trigger, memory_order_relaxed);
            if (trig > s.last_barrier && !take_barrier(&s, trig))
                break;
        }
    }
    s.now = wr_mono_ms();
    if (!wr_job_canceled(s.job) && flush_all(&s)) {
        send_end(&s);
        if (!wr_job_canceled(s.job) && wr_job_checkpointing(s.job))
            source_ended(&s);
    }
    src_fini(&s);
    return NULL;
}
