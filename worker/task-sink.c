/*
 * task-sink.c — stage 1: one subtask that takes batches from its inbox, runs the
 * operators after the exchange, and writes every result to every sink.
 *
 * Without a window the operators are a stateless chain and each record is written as
 * it comes. With a window the subtask runs, in order: the filters between key_by and
 * the window (a chain), the window operator (worker/window.c) over this subtask's
 * state store (worker/state.c, one RocksDB per subtask), and the operators after the
 * aggregate (a chain) on each result. Watermarks arrive in-band on every input
 * channel; the subtask's watermark is their minimum (worker/watermark.c), and each
 * advance fires the windows it completes.
 *
 * Output: at_least_once, produced asynchronously through the job's shared, idempotent
 * producers; the job flushes them before it reports FINISHED, and any failed delivery
 * fails the job. Each record is JSON. Its Kafka message key is the sink's `key` field
 * (as text) when set; for window results otherwise the JSON array of the group key and
 * window_start (["alice",1700000040000]), so consumers can upsert. A session result a
 * later record superseded under another window_start is retracted with a tombstone (a
 * null value under the old key). Records too late for every window go to `late_data`
 * (JSON of the window's input record, with headers) and are counted either way.
 *
 * Checkpoints: barriers arrive in-band, one per input channel. The aligner
 * (worker/aligner.c) blocks each channel that delivered barrier N until every live
 * channel has; then the subtask flushes the sink producers (everything emitted before
 * the barrier is in Kafka), takes the synchronous part of its snapshot (cache flush and
 * RocksDB checkpoint, worker/snapshot.c), queues the upload for the job's uploader
 * thread, unblocks its channels and goes on. On start it restores the state of the
 * checkpoint the deployment names (from the local copy or storage, every file checked)
 * and the window operator's watermark.
 *
 * Thread: its own. Blocks in wr_producer_send when librdkafka's queue
 * (limits.producer_queue_kbytes) is full, which stops it taking batches, which blocks
 * the senders: backpressure all the way to the Kafka consumer.
 */
#include "aligner.h"
#include "chain.h"
#include "fault.h"
#include "deadline.h"
#include "job-internal.h"
#include "json.h"
#include "keygroup.h"
#include "log.h"
#include "state.h"
#include "watermark.h"
#include "window.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct snk {
    wr_job *job;
    wr_task *t;
    const wr_schema *schema; /* what the sinks write */
    wr_chain *chain;         /* no window: every operator; window: those before it */
    wr_chain *post;          /* window: the operators after the aggregate */
    int window_op;           /* -1: none */
    int n_keys;
    wr_state *state;
    wr_window_op *window;
    wr_wm_merge *wm;
    wr_buf json;
    wr_buf key;
    wr_buf wkey; /* the window result's default message key */
    uint64_t late_logged;
    uint64_t n_filtered; /* results dropped after the aggregate, published per batch */
    long slow_batch_us;  /* fault injection: WEIR_FAULT_SLOW_BATCH_US (tests only) */
    wr_aligner *al;      /* checkpoints on */
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
    default:
        wr_json_encode_value(key, v);
    }
}

/* Writes row (the sinks' schema) to every sink. dkey: the message key for sinks
 * without a `key` field (NULL: none). */
static wr_err write_record(snk *k, const wr_value *row, const wr_buf *dkey, wr_errbuf *eb)
{
    const wr_job_spec *spec = k->job->spec;

    wr_buf_clear(&k->json);
    if (wr_json_encode(k->schema, row, &k->json) != WR_OK)
        return wr_fail(eb, WR_ETOOBIG, "sink: cannot encode an output record as JSON");
    for (int i = 0; i < spec->n_sinks; i++) {
        const wr_sink_spec *ss = &spec->sinks[i];
        const void *kp = dkey ? dkey->p : NULL;
        size_t kl = dkey ? dkey->len : 0;
        wr_err e;
        if (ss->key_col >= 0) {
            kp = NULL;
            kl = 0;
            if (row[ss->key_col].type != WR_T_NULL) {
                key_text(&k->key, &row[ss->key_col]);
                kp = k->key.p;
                kl = k->key.len;
            }
        }
        e = wr_producer_send(k->job->sinks[i], kp, kl, k->json.p, k->json.len, NULL, eb);
        if (e)
            return e;
    }
    return WR_OK;
}

/* The default key of a window result row: JSON array of the group key, window_start. */
static wr_err window_key(snk *k, const wr_value *row, wr_errbuf *eb)
{
    wr_err e = WR_OK;

    wr_buf_clear(&k->wkey);
    e = wr_buf_putc(&k->wkey, '[');
    for (int i = 0; i <= k->n_keys && !e; i++) { /* the keys, then window_start */
        if (i > 0)
            e = wr_buf_putc(&k->wkey, ',');
        if (!e)
            e = wr_json_encode_value(&k->wkey, &row[i]);
    }
    if (!e)
        e = wr_buf_putc(&k->wkey, ']');
    if (e)
        return wr_fail(eb, e, "sink: a window result's key is too long");
    return WR_OK;
}

static wr_err on_result(void *arg, const wr_value *row, wr_errbuf *eb)
{
    snk *k = arg;
    const wr_value *out;
    wr_err e;

    switch (wr_chain_run(k->post, row, &out, eb)) {
    case WR_CHAIN_DROP:
        k->n_filtered++;
        return WR_OK;
    case WR_CHAIN_ERROR:
        return WR_EEVAL;
    case WR_CHAIN_EMIT:
        break;
    }
    /* the key comes from the aggregate's row, which the chain leaves untouched */
    e = window_key(k, row, eb);
    if (e)
        return e;
    return write_record(k, out, &k->wkey, eb);
}

/* A superseded session result: a tombstone under its old key, to the sinks that use
 * the default key (a sink with its own `key` field cannot name the old result). */
static wr_err on_retract(void *arg, const wr_value *row, wr_errbuf *eb)
{
    snk *k = arg;
    const wr_job_spec *spec = k->job->spec;
    wr_err e = window_key(k, row, eb);

    for (int i = 0; i < spec->n_sinks && !e; i++) {
        if (spec->sinks[i].key_col < 0)
            e = wr_producer_send(k->job->sinks[i], k->wkey.p, k->wkey.len, NULL, 0, NULL, eb);
    }
    return e;
}

static void add_header_i64(rd_kafka_headers_t *h, const char *name, int64_t v)
{
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%" PRId64, v);
    rd_kafka_header_add(h, name, -1, buf, n);
}

static wr_err on_late(void *arg, const wr_value *row, int64_t ts, wr_errbuf *eb)
{
    snk *k = arg;
    wr_job *job = k->job;
    const wr_job_spec *spec = job->spec;
    wr_window_stats ws;
    rd_kafka_headers_t *h;
    wr_err e;

    atomic_fetch_add_explicit(&job->late_records, 1, memory_order_relaxed);
    if (!job->late) {
        if (k->late_logged++ == 0)
            wr_log(WR_LOG_WARN, "window",
                   "records later than allowed_lateness are counted (late_records) and "
                   "dropped: configure late_data to keep them");
        return WR_OK;
    }
    wr_window_get_stats(k->window, &ws);
    wr_buf_clear(&k->json);
    if (wr_json_encode(&spec->ops[k->window_op].in_schema, row, &k->json) != WR_OK)
        return wr_fail(eb, WR_ETOOBIG, "late_data: cannot encode a late record as JSON");
    h = rd_kafka_headers_new(4);
    rd_kafka_header_add(h, "weir.job", -1, spec->name, -1);
    rd_kafka_header_add(h, "weir.error", -1, "later than the window's allowed_lateness", -1);
    add_header_i64(h, "weir.late.event_time", ts);
    add_header_i64(h, "weir.late.watermark", ws.watermark);
    e = wr_producer_send(job->late, NULL, 0, k->json.p, k->json.len, h, eb);
    if (e)
        rd_kafka_headers_destroy(h);
    return e;
}

/* Publishes this subtask's window and state counters for wr_job_get_stats. */
static void publish_stats(snk *k)
{
    wr_task *t = k->t;

    if (!k->window)
        return;
    pthread_mutex_lock(&k->job->mu);
    wr_window_get_stats(k->window, &t->window_stats);
    wr_state_get_stats(k->state, &t->state_stats);
    pthread_mutex_unlock(&k->job->mu);
}

static wr_err advance(snk *k, bool moved, wr_wm w, wr_errbuf *eb)
{
    if (!moved || !k->window)
        return WR_OK;
    return wr_window_advance(k->window, w.time, eb);
}

static wr_err process_batch(snk *k, wr_batch *b, wr_errbuf *eb)
{
    uint64_t filtered = 0;
    wr_err e = WR_OK;

    for (int r = 0; r < b->nrows && !e; r++) {
        const wr_value *out;
        switch (wr_chain_run(k->chain, wr_batch_row(b, r), &out, eb)) {
        case WR_CHAIN_DROP:
            filtered++;
            break;
        case WR_CHAIN_ERROR:
            /* The original bytes are gone after the exchange: fail loudly rather than
             * dead-letter a record that no longer looks like its input. */
            e = WR_EEVAL;
            break;
        case WR_CHAIN_EMIT:
            if (k->window)
                e = wr_window_process(k->window, out, b->event_time[r], eb);
            else
                e = write_record(k, out, NULL, eb);
            break;
        }
    }
    atomic_fetch_add_explicit(&k->job->filtered, filtered, memory_order_relaxed);
    return e;
}

/* This subtask's entry in the checkpoint being restored, or NULL. */
static const wr_ck_restore *restore_entry(const snk *k)
{
    const wr_job_options *o = &k->job->opt;

    for (int i = 0; o->restore_id > 0 && i < o->nrestore; i++)
        if (o->restore[i].subtask == k->t->subtask)
            return &o->restore[i];
    return NULL;
}

/* Checkpoints on: the snapshotter of this subtask; restoring: its state files into dir
 * (every file checked first; a mismatch fails the job and names the checkpoint). */
static wr_err restore_files(snk *k, const char *dir, wr_errbuf *eb)
{
    wr_job *job = k->job;
    const wr_ck_restore *r = restore_entry(k);
    char local[4096];
    bool from_local = false;
    wr_snapshotter *snap;
    wr_err e;

    if (!wr_job_checkpointing(job))
        return WR_OK;
    snprintf(local, sizeof local, "%s/s%d", job->opt.ck_local_root, k->t->subtask);
    if (r && r->state) {
        e = wr_snap_restore(job->opt.ck_store, r->state, local, dir, &from_local, eb);
        if (e) {
            if (e == WR_ECORRUPT) {
                pthread_mutex_lock(&job->mu);
                job->corrupt_ck = job->opt.restore_id;
                pthread_mutex_unlock(&job->mu);
            }
            return e;
        }
        wr_log(WR_LOG_INFO, "checkpoint",
               "job %s subtask %d: restored checkpoint %lld (%llu bytes) from %s",
               job->opt.job_id ? job->opt.job_id : job->spec->name, k->t->subtask,
               (long long)job->opt.restore_id, (unsigned long long)r->state->state_bytes,
               from_local ? "its local copy" : "checkpoint storage");
    }
    snap =
        wr_snapshotter_new(job->opt.ck_store, job->opt.job_id ? job->opt.job_id : job->spec->name,
                           job->opt.attempt, k->t->subtask, local);
    if (!snap)
        return wr_fail(eb, WR_ENOMEM, "out of memory");
    if (r && r->state && (e = wr_snapshotter_seed(snap, r->state, eb)) != WR_OK) {
        wr_snapshotter_free(snap);
        return e;
    }
    pthread_mutex_lock(&job->mu);
    k->t->snap = snap;
    pthread_mutex_unlock(&job->mu);
    return WR_OK;
}

/* Restoring: the window operator's watermark and index. */
static wr_err restore_operator(snk *k, wr_errbuf *eb)
{
    const wr_ck_restore *r = restore_entry(k);

    if (!r || !r->state)
        return WR_OK;
    return wr_window_restore(k->window, r->watermark, eb);
}

/* Alignment of checkpoint id is complete: everything before the barrier goes to Kafka,
 * then the state is snapshotted and its upload queued (or the checkpoint acked at once
 * without keyed state). Processing is paused only for the flush and the local snapshot. */
static wr_err take_snapshot(snk *k, int64_t id, int64_t alignment_ms, wr_errbuf *eb)
{
    wr_job *job = k->job;
    wr_task *t = k->t;
    int64_t t0 = wr_mono_ms();
    wr_window_stats ws;
    wr_err e;

    for (int i = 0; i < job->spec->n_sinks; i++)
        if ((e = wr_producer_flush(job->sinks[i], job->opt.kafka_timeout_ms, eb)) != WR_OK)
            return e;
    if (job->late && (e = wr_producer_flush(job->late, job->opt.kafka_timeout_ms, eb)) != WR_OK)
        return e;
    if (!k->window || !t->snap) {
        wr_ck_ack a = {.id = id,
                       .subtask = t->subtask,
                       .stage = 1,
                       .alignment_ms = (uint64_t)alignment_ms,
                       .sync_ms = (uint64_t)(wr_mono_ms() - t0)};
        wr_job_ack(job, &a);
        return WR_OK;
    }
    if (wr_snapshotter_take(t->snap, k->state, id, eb) != WR_OK) {
        wr_log(WR_LOG_WARN, "checkpoint", "subtask %d: checkpoint %lld: %s", t->subtask,
               (long long)id, eb->msg);
        wr_job_decline(job, id, t->subtask, eb->msg, false);
        return WR_OK;
    }
    wr_fault("snapshot");
    wr_window_get_stats(k->window, &ws);
    {
        wr_upload u = {.t = t,
                       .id = id,
                       .watermark = ws.watermark,
                       .alignment_ms = (uint64_t)alignment_ms,
                       .sync_ms = (uint64_t)(wr_mono_ms() - t0)};
        if (!wr_uploader_push(job, &u)) {
            wr_snapshotter_drop(t->snap, id);
            wr_job_decline(job, id, t->subtask, "out of memory queueing the upload", false);
        }
    }
    return WR_OK;
}

/* Follows the aligner's decision: block channels, snapshot when aligned. */
static wr_err on_align(snk *k, wr_inbox *in, wr_align_result r, wr_errbuf *eb)
{
    int n = wr_inbox_channels(in);
    bool waiting = false;
    wr_err e = WR_OK;

    if (r.snapshot) {
        e = take_snapshot(k, r.id, r.alignment_ms, eb);
        wr_aligner_done(k->al);
    }
    for (int ch = 0; ch < n; ch++) {
        bool b = wr_aligner_blocked(k->al, ch);
        wr_inbox_block(in, ch, b);
        waiting |= b;
    }
    if (waiting)
        wr_fault("align");
    return e;
}

static wr_err snk_init(snk *k, wr_task *t, wr_errbuf *eb)
{
    wr_job *job = t->job;
    const wr_job_spec *spec = job->spec;
    const wr_stage *st = &job->plan.stages[1];
    size_t scratch = (size_t)spec->limits.max_record_bytes + 4096;
    int first = st->first_op, end = st->first_op + st->n_ops;
    wr_err e;

    memset(k, 0, sizeof *k);
    k->job = job;
    k->t = t;
    k->schema = st->out_schema;
    {
        /* A deliberately slow consumer for the backpressure tests: this subtask sleeps
         * that many microseconds per data batch it takes. */
        const char *slow = getenv("WEIR_FAULT_SLOW_BATCH_US");
        k->slow_batch_us = slow ? strtol(slow, NULL, 10) : 0;
        if (k->slow_batch_us < 0 || k->slow_batch_us > 10000000)
            k->slow_batch_us = 0;
    }
    k->window_op = -1;
    wr_buf_init(&k->json, 0);
    wr_buf_init(&k->key, 0);
    wr_buf_init(&k->wkey, scratch);
    for (int i = first; i < end; i++) {
        if (spec->ops[i].kind == WR_OP_WINDOW)
            k->window_op = i;
    }
    if (k->window_op < 0)
        return wr_chain_new(spec, first, st->n_ops, scratch, &k->chain, eb);

    e = wr_chain_new(spec, first, k->window_op - first, scratch, &k->chain, eb);
    if (!e)
        e = wr_chain_new(spec, k->window_op + 2, end - (k->window_op + 2), scratch, &k->post, eb);
    if (e)
        return e;
    {
        char dir[4096];
        wr_state_options so = {0};
        wr_window_out out = {.arg = k, .emit = on_result, .retract = on_retract, .late = on_late};
        snprintf(dir, sizeof dir, "%s/subtask-%d", job->state_dir, t->subtask);
        so.dir = dir;
        so.column_family = "window";
        so.cache_bytes = (size_t)(spec->state.memory_bytes / job->plan.parallelism);
        so.write_buffer_bytes = (size_t)spec->state.write_buffer_bytes;
        so.block_cache_bytes = (size_t)spec->state.block_cache_bytes;
        wr_keygroup_range(t->subtask, job->plan.max_parallelism, job->plan.parallelism,
                          &so.kg_first, &so.kg_last);
        k->n_keys = job->plan.n_keys;
        t->kg_first = so.kg_first;
        t->kg_last = so.kg_last;
        e = restore_files(k, dir, eb);
        if (!e)
            e = wr_state_open(&so, &k->state, eb);
        if (!e)
            e = wr_window_new(spec, k->window_op, job->plan.key_cols, job->plan.n_keys, k->state,
                              &out, scratch, &k->window, eb);
        if (!e)
            e = restore_operator(k, eb);
        if (e)
            return e;
    }
    k->wm = wr_wm_merge_new(wr_inbox_channels(job->inboxes[t->subtask]));
    if (!k->wm)
        return wr_fail(eb, WR_ENOMEM, "out of memory");
    return WR_OK;
}

/* The aligner, when checkpoints are on (also for subtasks without a window). */
static wr_err snk_init_aligner(snk *k, wr_errbuf *eb)
{
    if (!wr_job_checkpointing(k->job))
        return WR_OK;
    k->al = wr_aligner_new(wr_inbox_channels(k->job->inboxes[k->t->subtask]));
    return k->al ? WR_OK : wr_fail(eb, WR_ENOMEM, "out of memory");
}

static void snk_fini(snk *k)
{
    wr_job *job = k->job;
    int64_t pending = k->al ? wr_aligner_current(k->al) : 0;

    pthread_mutex_lock(&job->mu);
    k->t->ended = true;
    pthread_mutex_unlock(&job->mu);
    if (pending > 0 && !wr_job_canceled(job))
        wr_job_decline(job, pending, k->t->subtask, "the subtask has finished", true);
    wr_aligner_free(k->al);
    publish_stats(k);
    wr_window_free(k->window);
    wr_state_close(k->state);
    wr_wm_merge_free(k->wm);
    wr_chain_free(k->chain);
    wr_chain_free(k->post);
    wr_buf_fini(&k->json);
    wr_buf_fini(&k->key);
    wr_buf_fini(&k->wkey);
}

static void poll_sinks(wr_job *job)
{
    for (int i = 0; i < job->spec->n_sinks; i++)
        rd_kafka_poll(job->sinks[i]->rk, 0);
    if (job->late)
        rd_kafka_poll(job->late->rk, 0);
}

void *wr_sink_task_main(void *arg)
{
    wr_task *t = arg;
    wr_job *job = t->job;
    wr_inbox *in = job->inboxes[t->subtask];
    int ends = 0, senders = wr_inbox_channels(in);
    wr_errbuf eb;
    wr_err e;
    snk k;

    e = snk_init(&k, t, &eb);
    if (!e)
        e = snk_init_aligner(&k, &eb);
    if (e) {
        wr_job_fail(job, e, eb.msg);
        goto out;
    }
    while (ends < senders && !e) {
        wr_batch *b;
        wr_wm w = {0};
        bool moved = false;
        int ch = wr_inbox_recv(in, &b, 100);
        if (ch == -2)
            break;
        if (ch == -1) {
            poll_sinks(job);
            continue;
        }
        if (!wr_job_taken(job, ch, t->subtask)) {
            wr_batch_free(b);
            break;
        }
        switch (b->kind) {
        case WR_BATCH_END:
            ends++;
            if (k.wm)
                moved = wr_wm_merge_end(k.wm, ch, &w);
            if (k.al)
                e = on_align(&k, in, wr_aligner_end(k.al, ch, wr_mono_ms()), &eb);
            break;
        case WR_BATCH_BARRIER:
            if (k.al)
                e = on_align(&k, in, wr_aligner_barrier(k.al, ch, b->value, wr_mono_ms()), &eb);
            break;
        case WR_BATCH_WATERMARK:
        case WR_BATCH_IDLE:
            if (k.wm)
                moved =
                    wr_wm_merge_update(k.wm, ch, (wr_wm){b->value, b->kind == WR_BATCH_IDLE}, &w);
            break;
        case WR_BATCH_DATA:
            if (k.slow_batch_us)
                usleep((useconds_t)k.slow_batch_us);
            e = process_batch(&k, b, &eb);
            poll_sinks(job);
            break;
        default:
            break;
        }
        wr_batch_free(b);
        if (!e)
            e = advance(&k, moved, w, &eb);
        if (k.n_filtered) {
            atomic_fetch_add_explicit(&job->filtered, k.n_filtered, memory_order_relaxed);
            k.n_filtered = 0;
        }
        publish_stats(&k);
    }
    if (e)
        wr_job_fail(job, e, eb.msg);
out:
    snk_fini(&k);
    return NULL;
}
