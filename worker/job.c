/*
 * job.c — the in-process job runtime: checks, wiring, threads, completion.
 */
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

/* Reads the source topic's partitions and, for bounded sources, where each ends. */
static wr_err source_layout(wr_job *job, wr_errbuf *eb)
{
    const wr_source_spec *src = &job->spec->sources[job->spec->input_source];
    const wr_kafka_spec *k = &src->kafka;
    const char *extra[] = {"group.id", "weir.metadata", "allow.auto.create.topics", "false", NULL};
    int64_t timeout = job->opt.kafka_timeout_ms;
    rd_kafka_t *rk;
    wr_err e;
    int P = job->plan.parallelism;

    rk = wr_kafka_client_new(RD_KAFKA_CONSUMER, k, "source", extra, NULL, NULL, eb);
    if (!rk)
        return WR_EKAFKA;
    e = wr_kafka_topic_check(rk, k->brokers, k->topic, timeout, &job->npartitions, eb);
    if (e) {
        wr_errbuf_prefix(eb, "source '%s': ", src->name);
        goto out;
    }
    for (int s = 0; s < P; s++) {
        wr_task *t = &job->tasks[s];
        t->parts = calloc((size_t)job->npartitions, sizeof *t->parts);
        t->stop = calloc((size_t)job->npartitions, sizeof *t->stop);
        if (!t->parts || !t->stop) {
            e = wr_fail(eb, WR_ENOMEM, "out of memory");
            goto out;
        }
    }
    for (int32_t p = 0; p < job->npartitions; p++) {
        wr_task *t = &job->tasks[wr_plan_partition_owner(p, P)];
        int64_t stop = INT64_MAX, lo = 0, hi = 0, start;
        int i = t->nparts++;

        t->parts[i] = p;
        if (k->stop != WR_OFFSETS_NONE || k->start == WR_OFFSETS_LATEST) {
            rd_kafka_resp_err_t err =
                rd_kafka_query_watermark_offsets(rk, k->topic, p, &lo, &hi, (int)timeout);
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
        start = k->start == WR_OFFSETS_LATEST ? hi : lo;
        if (k->start == WR_OFFSETS_EXPLICIT) {
            for (int j = 0; j < k->n_start_offsets; j++) {
                if (k->start_offsets[j].partition == p && k->start_offsets[j].offset > start)
                    start = k->start_offsets[j].offset;
            }
        }
        /* -1: nothing to read in this partition (the task marks it done at once) */
        t->stop[i] = stop != INT64_MAX && start >= stop ? -1 : stop;
    }
out:
    rd_kafka_destroy(rk);
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
    const char *base = job->spec->state.dir;
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

static wr_err check_supported(const wr_job_spec *spec, wr_errbuf *eb)
{
    for (int i = 0; i < spec->n_sinks; i++) {
        if (spec->sinks[i].kafka.delivery == WR_DELIVERY_EXACTLY_ONCE)
            return wr_fail(eb, WR_EUNSUPPORTED,
                           "sinks[%d].kafka.delivery: exactly_once needs checkpoints, which this "
                           "build of weir does not have yet; use at_least_once",
                           i);
    }
    return WR_OK;
}

wr_err wr_job_start(const wr_job_spec *spec, const wr_job_options *opt, wr_job **out, wr_errbuf *eb)
{
    wr_job *job;
    wr_err e;
    int P;

    e = check_supported(spec, eb);
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
    for (int i = 0; i < job->ntasks; i++) {
        job->tasks[i].job = job;
        job->tasks[i].stage = i < P ? 0 : 1;
        job->tasks[i].subtask = i % P;
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
    for (int i = 0; i < P; i++) {
        job->inboxes[i] = wr_inbox_new(P, (int)spec->limits.channel_batches);
        if (!job->inboxes[i]) {
            e = wr_fail(eb, WR_ENOMEM, "out of memory");
            goto err;
        }
    }
    /* Sinks first, so sources always find their consumers running. */
    for (int i = job->ntasks - 1; i >= 0; i--) {
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

    clock_gettime(CLOCK_MONOTONIC, &deadline);
    if (timeout_ms >= 0) {
        deadline.tv_sec += timeout_ms / 1000;
        deadline.tv_nsec += (timeout_ms % 1000) * 1000000;
        if (deadline.tv_nsec >= 1000000000) {
            deadline.tv_sec++;
            deadline.tv_nsec -= 1000000000;
        }
    }
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
        free(job->tasks[i].parts);
        free(job->tasks[i].stop);
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
    free(job);
}
