/*
 * job.c — the in-process job runtime: checks, wiring, threads, completion.
 */
#include "deadline.h"
#include "job-internal.h"
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_KAFKA_TIMEOUT_MS 10000

void wr_job_fail(wr_job *job, wr_err err, const char *msg)
{
    pthread_mutex_lock(&job->mu);
    if (job->first_err == WR_OK) {
        job->first_err = err ? err : WR_EINVAL;
        snprintf(job->first_msg, sizeof job->first_msg, "%s", msg);
    }
    atomic_store(&job->canceled, true);
    if (job->exchange)
        wr_exchange_cancel(job->exchange);
    for (int i = 0; job->inboxes && i < job->plan.parallelism; i++) {
        if (job->inboxes[i])
            wr_inbox_cancel(job->inboxes[i]);
    }
    pthread_cond_broadcast(&job->cond);
    pthread_mutex_unlock(&job->mu);
}

static void *task_thread(void *arg)
{
    wr_task *t = arg;
    wr_job *job = t->job;

    if (t->stage == 0)
        wr_source_task_main(t);
    else
        wr_sink_task_main(t);
    pthread_mutex_lock(&job->mu);
    job->running--;
    pthread_cond_broadcast(&job->cond);
    pthread_mutex_unlock(&job->mu);
    return NULL;
}

/* Gives each source subtask here its partitions and where it reads them: the deployment's
 * assignment in cluster mode, else resolved from Kafka now. */
static wr_err source_layout(wr_job *job, wr_errbuf *eb)
{
    wr_part_offsets *resolved = NULL;
    const wr_part_offsets *parts = job->opt.parts;
    int nparts = job->opt.nparts, P = job->plan.parallelism;
    wr_err e = WR_OK;

    if (!parts) {
        e = wr_kafka_resolve_offsets(job->spec, job->opt.kafka_timeout_ms, &resolved, &nparts, eb);
        if (e)
            return e;
        parts = resolved;
    }
    job->npartitions = 0;
    for (int k = 0; k < nparts; k++) {
        if (parts[k].partition >= job->npartitions)
            job->npartitions = parts[k].partition + 1;
    }
    for (int s = 0; s < P; s++) {
        wr_task *t = &job->tasks[s];
        t->parts = calloc((size_t)nparts + 1, sizeof *t->parts);
        t->start = calloc((size_t)nparts + 1, sizeof *t->start);
        t->stop = calloc((size_t)nparts + 1, sizeof *t->stop);
        if (!t->parts || !t->start || !t->stop) {
            e = wr_fail(eb, WR_ENOMEM, "out of memory");
            goto out;
        }
    }
    for (int k = 0; k < nparts; k++) {
        int owner = job->opt.part_subtask ? job->opt.part_subtask[k]
                                          : wr_plan_partition_owner(parts[k].partition, P);
        wr_task *t;
        int i;

        if (owner < 0 || owner >= P) {
            e = wr_fail(eb, WR_EINVAL, "partition %d is assigned to subtask %d of %d",
                        (int)parts[k].partition, owner, P);
            goto out;
        }
        t = &job->tasks[owner];
        i = t->nparts++;
        t->parts[i] = parts[k].partition;
        t->start[i] = parts[k].start;
        /* -1: nothing to read in this partition (the task marks it done at once) */
        if (parts[k].stop < 0)
            t->stop[i] = INT64_MAX;
        else
            t->stop[i] = parts[k].start >= parts[k].stop ? -1 : parts[k].stop;
    }
out:
    free(resolved);
    return e;
}

static bool has_window(const wr_job_spec *spec)
{
    for (int i = 0; i < spec->n_ops; i++) {
        if (spec->ops[i].kind == WR_OP_WINDOW)
            return true;
    }
    return false;
}

/* Creates the job's private state directory: <state.dir or $TMPDIR or /tmp>/weir-<job>-XXXXXX.
 * weir local keeps no checkpoints yet, so the state is thrown away with the job. */
static wr_err make_state_dir(wr_job *job, wr_errbuf *eb)
{
    const char *base = job->opt.state_root ? job->opt.state_root : job->spec->state.dir;
    char path[4096];

    if (!base)
        base = getenv("TMPDIR");
    if (!base || !*base)
        base = "/tmp";
    snprintf(path, sizeof path, "%s/weir-%s-XXXXXX", base, job->spec->name);
    if (!mkdtemp(path))
        return wr_fail(eb, WR_EIO, "state.dir: cannot create a state directory in '%s': %s", base,
                       strerror(errno));
    job->state_dir = strdup(path);
    if (!job->state_dir)
        return wr_fail(eb, WR_ENOMEM, "out of memory");
    return WR_OK;
}

wr_err wr_job_start(const wr_job_spec *spec, const wr_job_options *opt, wr_job **out, wr_errbuf *eb)
{
    wr_job *job;
    wr_err e;
    int P;

    e = wr_plan_check_supported(spec, eb);
    if (e)
        return e;
    job = calloc(1, sizeof *job);
    if (!job)
        return wr_fail(eb, WR_ENOMEM, "out of memory");
    job->spec = spec;
    job->opt = opt ? *opt : (wr_job_options){0};
    if (job->opt.kafka_timeout_ms <= 0)
        job->opt.kafka_timeout_ms = DEFAULT_KAFKA_TIMEOUT_MS;
    pthread_mutex_init(&job->mu, NULL);
    pthread_mutex_init(&job->up_mu, NULL);
    pthread_cond_init(&job->up_cond, NULL);
    {
        /* deadlines on the monotonic clock: a wall-clock jump must not end a wait early */
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&job->cond, &ca);
        pthread_condattr_destroy(&ca);
    }
    e = wr_plan_build(spec, job->opt.parallelism, &job->plan, eb);
    if (e)
        goto err;
    P = job->plan.parallelism;
    job->ntasks = 2 * P;
    job->tasks = calloc((size_t)job->ntasks, sizeof *job->tasks);
    job->inboxes = calloc((size_t)P, sizeof *job->inboxes);
    job->sinks = calloc((size_t)spec->n_sinks, sizeof *job->sinks);
    if (!job->tasks || !job->inboxes || !job->sinks) {
        e = wr_fail(eb, WR_ENOMEM, "out of memory");
        goto err;
    }
    job->exchange = job->opt.exchange;
    for (int i = 0; i < job->ntasks; i++) {
        job->tasks[i].job = job;
        job->tasks[i].stage = i < P ? 0 : 1;
        job->tasks[i].subtask = i % P;
        job->tasks[i].here = !job->opt.run_here || job->opt.run_here[i % P];
        job->tasks[i].window_stats.watermark = INT64_MIN;
    }
    e = source_layout(job, eb);
    if (e)
        goto err;
    for (int i = 0; i < spec->n_sinks; i++) {
        char what[160];
        snprintf(what, sizeof what, "sink '%s'", spec->sinks[i].name);
        e = wr_producer_new(&spec->sinks[i].kafka, what, spec->limits.producer_queue_kbytes,
                            job->opt.kafka_timeout_ms, &job->sinks[i], eb);
        if (e)
            goto err;
    }
    if (spec->has_dead_letter) {
        e = wr_producer_new(&spec->dead_letter, "dead_letter", spec->limits.producer_queue_kbytes,
                            job->opt.kafka_timeout_ms, &job->dlq, eb);
        if (e)
            goto err;
    }
    if (spec->has_late_data) {
        e = wr_producer_new(&spec->late_data, "late_data", spec->limits.producer_queue_kbytes,
                            job->opt.kafka_timeout_ms, &job->late, eb);
        if (e)
            goto err;
    }
    if (has_window(spec)) {
        e = make_state_dir(job, eb);
        if (e)
            goto err;
    }
    if (wr_job_checkpointing(job) && job->state_dir) {
        e = wr_uploader_start(job, eb);
        if (e)
            goto err;
    }
    for (int i = 0; i < P; i++) {
        if (!job->tasks[P + i].here)
            continue;
        job->inboxes[i] = wr_inbox_new(P, (int)spec->limits.channel_batches);
        if (!job->inboxes[i]) {
            e = wr_fail(eb, WR_ENOMEM, "out of memory");
            goto err;
        }
    }
    /* Sinks first, so sources always find their consumers running. */
    for (int i = job->ntasks - 1; i >= 0; i--) {
        if (!job->tasks[i].here)
            continue;
        pthread_mutex_lock(&job->mu);
        job->running++;
        pthread_mutex_unlock(&job->mu);
        if (pthread_create(&job->tasks[i].thread, NULL, task_thread, &job->tasks[i]) != 0) {
            pthread_mutex_lock(&job->mu);
            job->running--;
            pthread_mutex_unlock(&job->mu);
            wr_job_fail(job, WR_ENOMEM, "cannot start a task thread");
            break;
        }
        job->tasks[i].started = true;
    }
    wr_log(WR_LOG_INFO, "job", "job '%s' running: parallelism %d, %d source partition(s)",
           spec->name, P, job->npartitions);
    *out = job;
    return WR_OK;
err:
    wr_job_free(job);
    return e;
}

void wr_job_stop(wr_job *job)
{
    atomic_store(&job->stop_requested, true);
}

static void finalize(wr_job *job)
{
    wr_errbuf eb;

    if (job->finalized)
        return;
    job->finalized = true;
    if (job->first_err != WR_OK)
        return;
    for (int i = 0; i < job->spec->n_sinks; i++) {
        if (wr_producer_flush(job->sinks[i], job->opt.kafka_timeout_ms, &eb) != WR_OK) {
            wr_job_fail(job, WR_EKAFKA, eb.msg);
            return;
        }
    }
    if (job->dlq && wr_producer_flush(job->dlq, job->opt.kafka_timeout_ms, &eb) != WR_OK) {
        wr_job_fail(job, WR_EKAFKA, eb.msg);
        return;
    }
    if (job->late && wr_producer_flush(job->late, job->opt.kafka_timeout_ms, &eb) != WR_OK)
        wr_job_fail(job, WR_EKAFKA, eb.msg);
}

wr_err wr_job_wait(wr_job *job, int64_t timeout_ms, wr_errbuf *eb)
{
    struct timespec deadline;
    wr_err e;

    if (timeout_ms >= 0)
        wr_deadline_after(&deadline, timeout_ms);
    pthread_mutex_lock(&job->mu);
    while (job->running > 0) {
        if (timeout_ms < 0) {
            pthread_cond_wait(&job->cond, &job->mu);
        } else if (pthread_cond_timedwait(&job->cond, &job->mu, &deadline) != 0) {
            pthread_mutex_unlock(&job->mu);
            return WR_ETIMEDOUT;
        }
    }
    pthread_mutex_unlock(&job->mu);
    finalize(job);
    pthread_mutex_lock(&job->mu);
    e = job->first_err;
    if (e)
        wr_fail(eb, e, "%s", job->first_msg);
    pthread_mutex_unlock(&job->mu);
    return e;
}

void wr_job_get_stats(wr_job *job, wr_job_stats *out)
{
    memset(out, 0, sizeof *out);
    out->records_in = atomic_load(&job->records_in);
    out->filtered = atomic_load(&job->filtered);
    out->bytes_in = atomic_load(&job->bytes_in);
    out->partitions = job->npartitions;
    for (int i = 0; job->sinks && i < job->spec->n_sinks; i++) {
        if (job->sinks[i])
            out->records_out += atomic_load(&job->sinks[i]->delivered);
    }
    if (job->dlq)
        out->dead_letters = atomic_load(&job->dlq->delivered);
    out->late_records = atomic_load(&job->late_records);
    if (!job->state_dir)
        return;
    out->windowed = true;
    out->watermark = INT64_MAX;
    pthread_mutex_lock(&job->mu);
    for (int i = job->plan.parallelism; i < job->ntasks; i++) {
        const wr_task *t = &job->tasks[i];
        if (!t->here)
            continue;
        out->late_updates += t->window_stats.late_fired;
        out->windows_fired += t->window_stats.fired;
        out->retractions += t->window_stats.retracted;
        out->state_evictions += t->state_stats.evictions;
        out->state_db_writes += t->state_stats.db_writes;
        out->state_db_reads += t->state_stats.db_reads;
        out->state_cache_bytes += t->state_stats.cache_bytes;
        if (t->window_stats.watermark < out->watermark)
            out->watermark = t->window_stats.watermark;
    }
    pthread_mutex_unlock(&job->mu);
}

void wr_job_free(wr_job *job)
{
    if (!job)
        return;
    pthread_mutex_lock(&job->mu);
    bool running = job->running > 0;
    pthread_mutex_unlock(&job->mu);
    if (running)
        wr_job_fail(job, WR_ECANCELED, "job canceled");
    for (int i = 0; job->tasks && i < job->ntasks; i++) {
        if (job->tasks[i].started)
            pthread_join(job->tasks[i].thread, NULL);
    }
    wr_uploader_stop(job); /* before the snapshotters it uses go */
    for (int i = 0; job->tasks && i < job->ntasks; i++) {
        free(job->tasks[i].parts);
        free(job->tasks[i].start);
        free(job->tasks[i].stop);
        free(job->tasks[i].final_next);
        wr_snapshotter_free(job->tasks[i].snap);
    }
    for (int i = 0; job->inboxes && i < job->plan.parallelism; i++)
        wr_inbox_free(job->inboxes[i]);
    for (int i = 0; job->sinks && i < job->spec->n_sinks; i++)
        wr_producer_free(job->sinks[i]);
    wr_producer_free(job->dlq);
    wr_producer_free(job->late);
    if (job->state_dir) {
        wr_errbuf eb;
        if (wr_state_remove_dir(job->state_dir, &eb) != WR_OK)
            wr_log(WR_LOG_WARN, "job", "%s", eb.msg);
        free(job->state_dir);
    }
    free(job->tasks);
    free(job->inboxes);
    free(job->sinks);
    pthread_mutex_destroy(&job->mu);
    pthread_cond_destroy(&job->cond);
    pthread_mutex_destroy(&job->up_mu);
    pthread_cond_destroy(&job->up_cond);
    free(job);
}

/* ---- checkpoints ---- */

void wr_job_ack(wr_job *job, const wr_ck_ack *a)
{
    if (job->opt.ck.ack)
        job->opt.ck.ack(job->opt.ck.arg, a);
}

void wr_job_decline(wr_job *job, int64_t id, int subtask, const char *reason, bool finished)
{
    if (job->opt.ck.decline)
        job->opt.ck.decline(job->opt.ck.arg, id, subtask, reason, finished);
}

void wr_job_trigger_checkpoint(wr_job *job, int64_t id)
{
    int P = job->plan.parallelism;
    /* what ended tasks answer, collected under the lock and sent after it */
    int nacks = 0, ndeclines = 0;
    int *acks = calloc((size_t)P, sizeof *acks), *declines = calloc((size_t)P, sizeof *declines);

    if (!acks || !declines || !wr_job_checkpointing(job)) {
        free(acks);
        free(declines);
        return;
    }
    pthread_mutex_lock(&job->mu);
    if (id > atomic_load(&job->ck_trigger))
        atomic_store(&job->ck_trigger, id);
    for (int i = 0; i < P; i++) {
        wr_task *src = &job->tasks[i], *snk = &job->tasks[P + i];
        if (src->here && src->ended && src->final_next && src->last_barrier < id) {
            src->last_barrier = id;
            acks[nacks++] = i;
        }
        if (snk->here && snk->ended)
            declines[ndeclines++] = i;
    }
    pthread_mutex_unlock(&job->mu);
    for (int k = 0; k < nacks; k++) {
        wr_task *t = &job->tasks[acks[k]];
        wr_ck_ack a = {.id = id,
                       .subtask = t->subtask,
                       .stage = 0,
                       .nparts = t->nparts,
                       .parts = t->parts,
                       .offsets = t->final_next};
        wr_job_ack(job, &a);
    }
    for (int k = 0; k < ndeclines; k++)
        wr_job_decline(job, id, declines[k], "the subtask has finished", true);
    free(acks);
    free(declines);
}

void wr_job_checkpoint_complete(wr_job *job, int64_t id)
{
    int P = job->plan.parallelism;

    if (!job->uploader_started)
        return;
    for (int i = 0; i < P; i++) {
        wr_task *t = &job->tasks[P + i];
        wr_upload u = {.t = t, .id = id, .confirm = true};
        bool has;
        pthread_mutex_lock(&job->mu);
        has = t->here && t->snap;
        pthread_mutex_unlock(&job->mu);
        if (has)
            (void)wr_uploader_push(job, &u); /* out of memory: old copies stay a while */
    }
}

int64_t wr_job_corrupt_checkpoint(wr_job *job)
{
    int64_t id;
    pthread_mutex_lock(&job->mu);
    id = job->corrupt_ck;
    pthread_mutex_unlock(&job->mu);
    return id;
}

void wr_job_cancel(wr_job *job)
{
    wr_job_fail(job, WR_ECANCELED, "canceled");
}

wr_err wr_job_send(wr_job *job, int from, int to, wr_batch *b, int64_t timeout_ms)
{
    wr_errbuf eb;
    wr_err e;

    if (job->inboxes[to]) {
        e = wr_inbox_send_wait(job->inboxes[to], from, b, timeout_ms);
        if (e == WR_ETIMEDOUT)
            return e;
        if (e)
            wr_batch_free(b);
        return e;
    }
    e = wr_exchange_send(job->exchange, from, to, b, timeout_ms, &eb);
    if (e == WR_ETIMEDOUT)
        return e;
    if (e) {
        wr_batch_free(b);
        if (e != WR_ECANCELED)
            wr_job_fail(job, e, eb.msg);
    }
    return e;
}

bool wr_job_taken(wr_job *job, int from, int to)
{
    wr_errbuf eb;

    if (!job->exchange || job->tasks[from].here)
        return true;
    if (wr_exchange_taken(job->exchange, from, to, &eb) != WR_OK) {
        wr_job_fail(job, WR_EIO, eb.msg);
        return false;
    }
    return true;
}

wr_err wr_job_deliver(wr_job *job, int to, int from, wr_batch *b)
{
    int P = job->plan.parallelism;

    if (to < 0 || to >= P || from < 0 || from >= P || !job->inboxes[to] || job->tasks[from].here)
        return WR_EINVAL;
    return wr_inbox_try_send(job->inboxes[to], from, b);
}

uint64_t wr_job_backpressured_ms(wr_job *job)
{
    return job->exchange ? wr_exchange_backpressured_ms(job->exchange) : 0;
}
