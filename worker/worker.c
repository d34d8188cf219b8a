/*
 * worker.c — the worker daemon's logic (see worker.h): registration, heartbeats,
 * deployments and the routing of received frames.
 */
#include "worker.h"
#include "ckstore.h"
#include "exchange.h"
#include "files.h"
#include "deadline.h"
#include "job-internal.h"
#include "job.h"
#include "kafka.h"
#include "log.h"
#include "net.h"
#include "plan.h"
#include "snapshot.h"
#include "spec.h"
#include "wire.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#ifndef WEIR_VERSION
#define WEIR_VERSION "dev"
#endif

#define REGISTER_RETRY_MS 1000
#define CONTROL_SEND_TIMEOUT_MS 1000
#define KEEP_ENDED_MS 30000 /* an ended deployment is still reported this long */
#define MAX_STASH 4096      /* credits that arrived before their deployment */

typedef struct deployment {
    struct wr_worker *w;
    char job_id[WR_WIRE_MAX_ID + 1];
    uint32_t attempt;
    wr_job_spec *spec;
    wr_plan plan;
    int P;
    char **addresses;
    char **worker_ids; /* of each subtask's worker */
    bool *here;
    wr_part_offsets *parts;
    int *part_subtask;
    int nparts;
    wr_exchange *x;
    /* checkpoints (ck_store NULL: off) */
    wr_ckstore *ck_store;
    char *ck_local_root;
    int64_t restore_id;
    int nrestore;
    wr_ck_restore *restore;
    wr_snap_handle *restore_state;
    /* under w->mu: */
    wr_job *job; /* while running: the net thread delivers into it */
    int state;   /* WEIR__TASK_STATE__* */
    char message[WR_ERRBUF_SIZE];
    wr_job_stats final;
    uint64_t final_bp_ms;
    bool ended;
    int64_t ended_at;
    int64_t corrupt_ck; /* FAILED restoring this checkpoint */
    bool cancel_requested;
    bool stop_requested;
    /* supervisor thread */
    pthread_t thread;
    bool thread_started;
    bool joined;
    struct deployment *next;
} deployment;

typedef struct stashed_credit {
    char job_id[WR_WIRE_MAX_ID + 1];
    uint32_t attempt;
    int from, to;
    uint32_t credits;
} stashed_credit;

typedef struct ctl_msg {
    Weir__Control *c;
    struct ctl_msg *next;
} ctl_msg;

struct wr_worker {
    wr_worker_options o;
    char *coordinator, *listen, *advertise, *id, *data_dir;
    char host[256];
    wr_net *net;
    uv_loop_t loop;
    uv_async_t wake;
    uv_timer_t hb_timer, reg_timer;
    pthread_t loop_thread;
    bool loop_started;
    pthread_mutex_t mu; /* everything below */
    deployment *deps;
    stashed_credit *stash;
    int nstash;
    ctl_msg *q_head, *q_tail;
    bool stopping;
    bool registered;
    int64_t hb_interval;
    uint64_t seq;
};

void wr_worker_options_defaults(wr_worker_options *o)
{
    memset(o, 0, sizeof *o);
    o->listen = "tcp://0.0.0.0:7200";
    o->slots = 2;
    o->max_message = WR_WIRE_MAX_MESSAGE_DEFAULT;
    o->kafka_timeout_ms = 10000;
    o->send_timeout_ms = 10000;
}

/* ------------------------------------------------------------------ sending control */

static void send_control(wr_worker *w, const Weir__Control *c)
{
    wr_buf buf;
    wr_errbuf eb;

    wr_buf_init(&buf, 0);
    if (wr_wire_encode_control(c, &buf) == WR_OK &&
        wr_net_send(w->net, w->coordinator, buf.p, buf.len, CONTROL_SEND_TIMEOUT_MS, &eb) != WR_OK)
        wr_log(WR_LOG_DEBUG, "worker", "coordinator %s: %s", w->coordinator, eb.msg);
    wr_buf_fini(&buf);
}

static void send_register(wr_worker *w)
{
    Weir__Control c = WEIR__CONTROL__INIT;
    Weir__Register r = WEIR__REGISTER__INIT;

    r.worker_id = w->id;
    r.data_address = w->advertise;
    r.slots = (uint32_t)w->o.slots;
    r.host = w->host;
    r.version = (char *)WEIR_VERSION;
    c.body_case = WEIR__CONTROL__BODY_REGISTER;
    c.register_ = &r;
    send_control(w, &c);
}

static void fill_stats(Weir__Stats *s, const wr_job_stats *st, uint64_t bp_ms)
{
    s->records_in = st->records_in;
    s->records_out = st->records_out;
    s->filtered = st->filtered;
    s->dead_letters = st->dead_letters;
    s->bytes_in = st->bytes_in;
    s->late_records = st->late_records;
    s->late_updates = st->late_updates;
    s->windows_fired = st->windows_fired;
    s->retractions = st->retractions;
    s->state_evictions = st->state_evictions;
    s->state_db_writes = st->state_db_writes;
    s->state_db_reads = st->state_db_reads;
    s->state_cache_bytes = st->state_cache_bytes;
    s->watermark = st->windowed ? st->watermark : INT64_MIN;
    s->windowed = st->windowed;
    s->backpressured_ms = bp_ms;
}

/* A deployment's report. Called with w->mu held. */
static void fill_report(deployment *d, Weir__TaskReport *r, Weir__Stats *s)
{
    wr_job_stats st;
    uint64_t bp;

    r->job_id = d->job_id;
    r->attempt = d->attempt;
    r->state = (Weir__TaskState)d->state;
    r->message = d->message;
    r->corrupt_checkpoint = (uint64_t)d->corrupt_ck;
    if (d->job) {
        wr_job_get_stats(d->job, &st);
        bp = wr_job_backpressured_ms(d->job);
    } else {
        st = d->final;
        bp = d->final_bp_ms;
    }
    fill_stats(s, &st, bp);
    r->stats = s;
}

static void report_now(wr_worker *w, deployment *d)
{
    Weir__Control c = WEIR__CONTROL__INIT;
    Weir__TaskReport r = WEIR__TASK_REPORT__INIT;
    Weir__Stats s = WEIR__STATS__INIT;

    pthread_mutex_lock(&w->mu);
    fill_report(d, &r, &s);
    c.body_case = WEIR__CONTROL__BODY_TASK_REPORT;
    c.task_report = &r;
    /* encode under the lock (the strings are the deployment's), send outside */
    {
        wr_buf buf;
        wr_errbuf eb;
        wr_buf_init(&buf, 0);
        wr_err e = wr_wire_encode_control(&c, &buf);
        pthread_mutex_unlock(&w->mu);
        if (e == WR_OK && wr_net_send(w->net, w->coordinator, buf.p, buf.len,
                                      CONTROL_SEND_TIMEOUT_MS, &eb) != WR_OK)
            wr_log(WR_LOG_DEBUG, "worker", "coordinator %s: %s", w->coordinator, eb.msg);
        wr_buf_fini(&buf);
    }
}

static void send_heartbeat(wr_worker *w)
{
    Weir__Control c = WEIR__CONTROL__INIT;
    Weir__Heartbeat hb = WEIR__HEARTBEAT__INIT;
    Weir__TaskReport *reports = NULL, **rp = NULL;
    Weir__Stats *stats = NULL;
    wr_buf buf;
    wr_errbuf eb;
    wr_err e;
    int n = 0, i = 0;

    pthread_mutex_lock(&w->mu);
    for (deployment *d = w->deps; d; d = d->next)
        n++;
    if (n) {
        reports = calloc((size_t)n, sizeof *reports);
        rp = calloc((size_t)n, sizeof *rp);
        stats = calloc((size_t)n, sizeof *stats);
    }
    if (n && (!reports || !rp || !stats)) {
        pthread_mutex_unlock(&w->mu);
        goto out;
    }
    for (deployment *d = w->deps; d; d = d->next, i++) {
        weir__task_report__init(&reports[i]);
        weir__stats__init(&stats[i]);
        fill_report(d, &reports[i], &stats[i]);
        rp[i] = &reports[i];
    }
    hb.worker_id = w->id;
    hb.seq = ++w->seq;
    hb.data_address = w->advertise;
    hb.slots = (uint32_t)w->o.slots;
    hb.host = w->host;
    hb.version = (char *)WEIR_VERSION;
    hb.n_tasks = (size_t)n;
    hb.tasks = rp;
    c.body_case = WEIR__CONTROL__BODY_HEARTBEAT;
    c.heartbeat = &hb;
    wr_buf_init(&buf, 0);
    e = wr_wire_encode_control(&c, &buf);
    pthread_mutex_unlock(&w->mu);
    if (e == WR_OK &&
        wr_net_send(w->net, w->coordinator, buf.p, buf.len, CONTROL_SEND_TIMEOUT_MS, &eb) != WR_OK)
        wr_log(WR_LOG_DEBUG, "worker", "heartbeat to %s: %s", w->coordinator, eb.msg);
    wr_buf_fini(&buf);
out:
    free(reports);
    free(rp);
    free(stats);
}

/* ------------------------------------------------------------------ deployments */

static void deployment_free(deployment *d)
{
    if (!d)
        return;
    wr_exchange_free(d->x);
    for (int i = 0; d->addresses && i < d->P; i++)
        free(d->addresses[i]);
    for (int i = 0; d->worker_ids && i < d->P; i++)
        free(d->worker_ids[i]);
    free(d->addresses);
    free(d->worker_ids);
    free(d->here);
    free(d->parts);
    free(d->part_subtask);
    for (int i = 0; d->restore_state && i < d->nrestore; i++)
        wr_snap_handle_fini(&d->restore_state[i]);
    free(d->restore_state);
    free(d->restore);
    free(d->ck_local_root);
    wr_ckstore_free(d->ck_store);
    if (d->spec)
        wr_spec_free(d->spec);
    free(d);
}

/* ------------------------------------------------------------------ checkpoints */

static deployment *find_deployment(wr_worker *w, const char *job_id, uint32_t attempt);

/* Job callback (task or uploader thread): a subtask's part of a checkpoint. */
static void ck_ack(void *arg, const wr_ck_ack *a)
{
    deployment *d = arg;
    Weir__Control c = WEIR__CONTROL__INIT;
    Weir__CheckpointAck k = WEIR__CHECKPOINT_ACK__INIT;
    Weir__SourceOffset *offs = NULL, **offp = NULL;
    Weir__StateFile *files = NULL, **filep = NULL;
    int nfiles = a->state ? a->state->nfiles : 0;

    offs = calloc((size_t)a->nparts + 1, sizeof *offs);
    offp = calloc((size_t)a->nparts + 1, sizeof *offp);
    files = calloc((size_t)nfiles + 1, sizeof *files);
    filep = calloc((size_t)nfiles + 1, sizeof *filep);
    if (!offs || !offp || !files || !filep)
        goto out; /* the checkpoint times out */
    k.job_id = d->job_id;
    k.attempt = d->attempt;
    k.checkpoint_id = (uint64_t)a->id;
    k.subtask = (uint32_t)a->subtask;
    k.stage = (uint32_t)a->stage;
    for (int i = 0; i < a->nparts; i++) {
        weir__source_offset__init(&offs[i]);
        offs[i].partition = a->parts[i];
        offs[i].next_offset = a->offsets[i];
        offp[i] = &offs[i];
    }
    k.n_offsets = (size_t)a->nparts;
    k.offsets = offp;
    if (a->state) {
        k.has_state = true;
        for (int i = 0; i < nfiles; i++) {
            const wr_snap_file *f = &a->state->files[i];
            weir__state_file__init(&files[i]);
            files[i].name = f->name;
            files[i].path = f->path;
            files[i].size = f->size;
            files[i].crc32 = f->crc;
            files[i].shared = f->shared;
            filep[i] = &files[i];
        }
        k.n_files = (size_t)nfiles;
        k.files = filep;
        k.state_bytes = a->state->state_bytes;
        k.uploaded_bytes = a->state->uploaded_bytes;
        k.kg_first = a->kg_first;
        k.kg_last = a->kg_last;
    }
    k.watermark = a->watermark;
    k.alignment_ms = a->alignment_ms;
    k.sync_ms = a->sync_ms;
    k.async_ms = a->async_ms;
    c.body_case = WEIR__CONTROL__BODY_CHECKPOINT_ACK;
    c.checkpoint_ack = &k;
    send_control(d->w, &c);
out:
    free(offs);
    free(offp);
    free(files);
    free(filep);
}

static void ck_decline(void *arg, int64_t id, int subtask, const char *reason, bool finished)
{
    deployment *d = arg;
    Weir__Control c = WEIR__CONTROL__INIT;
    Weir__CheckpointDecline k = WEIR__CHECKPOINT_DECLINE__INIT;

    k.job_id = d->job_id;
    k.attempt = d->attempt;
    k.checkpoint_id = (uint64_t)id;
    k.subtask = (uint32_t)subtask;
    k.reason = (char *)reason;
    k.finished = finished;
    c.body_case = WEIR__CONTROL__BODY_CHECKPOINT_DECLINE;
    c.checkpoint_decline = &k;
    send_control(d->w, &c);
}

/* The Deploy's checkpoint settings: storage, local copies, the state to restore. */
static bool deployment_checkpoints(deployment *d, const Weir__Deploy *m, wr_errbuf *eb)
{
    wr_worker *w = d->w;
    const char *base = w->data_dir;
    char root[4096];

    if (!m->checkpoint_storage || !*m->checkpoint_storage)
        return true;
    if (wr_ckstore_open(m->checkpoint_storage, &d->ck_store, eb) != WR_OK)
        return false;
    if (!base)
        base = d->spec->state.dir;
    if (!base)
        base = getenv("TMPDIR");
    if (!base || !*base)
        base = "/tmp";
    snprintf(root, sizeof root, "%s/weir-checkpoints/%s", base, d->job_id);
    if (!(d->ck_local_root = strdup(root)))
        goto oom;
    /* local copies of subtasks that now run elsewhere are of no use here */
    for (int i = 0; i < d->P; i++) {
        char sub[4200];
        wr_errbuf ignored;
        if (d->here[i])
            continue;
        snprintf(sub, sizeof sub, "%s/s%d", root, i);
        (void)wr_remove_tree(sub, &ignored);
    }
    d->restore_id = (int64_t)m->restore_checkpoint;
    if (m->n_restore == 0)
        return true;
    d->restore = calloc(m->n_restore, sizeof *d->restore);
    d->restore_state = calloc(m->n_restore, sizeof *d->restore_state);
    if (!d->restore || !d->restore_state)
        goto oom;
    d->nrestore = (int)m->n_restore;
    for (size_t i = 0; i < m->n_restore; i++) {
        const Weir__CheckpointAck *k = m->restore[i];
        wr_snap_handle *h = &d->restore_state[i];

        d->restore[i].subtask = (int)k->subtask;
        d->restore[i].watermark = k->watermark;
        if (!k->has_state)
            continue;
        h->checkpoint_id = (int64_t)k->checkpoint_id;
        h->state_bytes = k->state_bytes;
        h->files = calloc(k->n_files + 1, sizeof *h->files);
        if (!h->files)
            goto oom;
        for (size_t f = 0; f < k->n_files; f++) {
            wr_snap_file *x = &h->files[h->nfiles++];
            x->name = strdup(k->files[f]->name);
            x->path = strdup(k->files[f]->path);
            x->size = k->files[f]->size;
            x->crc = k->files[f]->crc32;
            x->shared = k->files[f]->shared;
            if (!x->name || !x->path)
                goto oom;
        }
        d->restore[i].state = h;
    }
    return true;
oom:
    wr_fail(eb, WR_ENOMEM, "out of memory");
    return false;
}

static void handle_trigger(wr_worker *w, const Weir__TriggerCheckpoint *m)
{
    deployment *d;

    pthread_mutex_lock(&w->mu);
    d = find_deployment(w, m->job_id, m->attempt);
    if (d && d->job && !d->ended)
        wr_job_trigger_checkpoint(d->job, (int64_t)m->checkpoint_id);
    pthread_mutex_unlock(&w->mu);
}

static void handle_ck_complete(wr_worker *w, const Weir__CheckpointComplete *m)
{
    deployment *d;

    pthread_mutex_lock(&w->mu);
    d = find_deployment(w, m->job_id, m->attempt);
    if (d && d->job && !d->ended)
        wr_job_checkpoint_complete(d->job, (int64_t)m->checkpoint_id);
    pthread_mutex_unlock(&w->mu);
}

static deployment *find_deployment(wr_worker *w, const char *job_id, uint32_t attempt)
{
    for (deployment *d = w->deps; d; d = d->next) {
        if (d->attempt == attempt && !strcmp(d->job_id, job_id))
            return d;
    }
    return NULL;
}

static void *supervise(void *arg)
{
    deployment *d = arg;
    wr_worker *w = d->w;
    wr_job_options jo = {0};
    wr_job *job = NULL;
    wr_errbuf eb;
    wr_err e;
    bool cancel;

    jo.parallelism = d->P;
    jo.kafka_timeout_ms = w->o.kafka_timeout_ms;
    jo.parts = d->parts;
    jo.part_subtask = d->part_subtask;
    jo.nparts = d->nparts;
    jo.run_here = d->here;
    jo.exchange = d->x;
    jo.state_root = w->data_dir;
    jo.ck_store = d->ck_store;
    jo.job_id = d->job_id;
    jo.attempt = d->attempt;
    jo.ck_local_root = d->ck_local_root;
    jo.ck = (wr_ck_callbacks){.arg = d, .ack = ck_ack, .decline = ck_decline};
    jo.restore_id = d->restore_id;
    jo.restore = d->restore;
    jo.nrestore = d->nrestore;
    e = wr_job_start(d->spec, &jo, &job, &eb);
    if (e) {
        wr_log(WR_LOG_WARN, "worker", "job %s attempt %u: cannot start: %s", d->job_id, d->attempt,
               eb.msg);
        pthread_mutex_lock(&w->mu);
        d->state = WEIR__TASK_STATE__TASK_FAILED;
        snprintf(d->message, sizeof d->message, "%s", eb.msg);
        d->ended = true;
        d->ended_at = wr_mono_ms();
        pthread_mutex_unlock(&w->mu);
        report_now(w, d);
        return NULL;
    }
    pthread_mutex_lock(&w->mu);
    d->job = job;
    d->state = WEIR__TASK_STATE__TASK_RUNNING;
    cancel = d->cancel_requested;
    if (d->stop_requested)
        wr_job_stop(job);
    pthread_mutex_unlock(&w->mu);
    if (cancel)
        wr_job_cancel(job);
    else if (wr_exchange_open(d->x, &eb) != WR_OK)
        wr_job_fail(job, WR_EIO, eb.msg);
    report_now(w, d);

    e = wr_job_wait(job, -1, &eb);

    pthread_mutex_lock(&w->mu);
    wr_job_get_stats(job, &d->final);
    d->final_bp_ms = wr_job_backpressured_ms(job);
    d->job = NULL; /* no more deliveries */
    if (e == WR_OK) {
        d->state = WEIR__TASK_STATE__TASK_FINISHED;
        d->message[0] = 0;
    } else if (d->cancel_requested) {
        d->state = WEIR__TASK_STATE__TASK_CANCELED;
        d->message[0] = 0;
    } else {
        d->state = WEIR__TASK_STATE__TASK_FAILED;
        snprintf(d->message, sizeof d->message, "%s", eb.msg);
        d->corrupt_ck = wr_job_corrupt_checkpoint(job);
    }
    d->ended = true;
    d->ended_at = wr_mono_ms();
    pthread_mutex_unlock(&w->mu);
    wr_exchange_cancel(d->x);
    wr_job_free(job);
    wr_log(e == WR_OK || d->cancel_requested ? WR_LOG_INFO : WR_LOG_WARN, "worker",
           "job %s attempt %u: %s%s%s", d->job_id, d->attempt,
           e == WR_OK            ? "FINISHED"
           : d->cancel_requested ? "CANCELED"
                                 : "FAILED",
           d->message[0] ? ": " : "", d->message);
    report_now(w, d);
    return NULL;
}

/* Checks a Deploy and builds its deployment; NULL with eb set when it cannot run. */
static deployment *deployment_new(wr_worker *w, const Weir__Deploy *m, wr_errbuf *eb)
{
    deployment *d = calloc(1, sizeof *d);
    wr_spec_diags diags = {0};
    int P = (int)m->parallelism, nlocal = 0;

    if (!d) {
        wr_fail(eb, WR_ENOMEM, "out of memory");
        return NULL;
    }
    d->w = w;
    snprintf(d->job_id, sizeof d->job_id, "%s", m->job_id);
    d->attempt = m->attempt;
    d->P = P;
    d->state = WEIR__TASK_STATE__TASK_DEPLOYING;
    if (wr_spec_parse(m->spec_name && *m->spec_name ? m->spec_name : "job.yaml", m->spec_yaml,
                      strlen(m->spec_yaml), &d->spec, &diags) != WR_OK) {
        char line[WR_ERRBUF_SIZE] = "invalid job";
        if (diags.n > 0)
            wr_spec_diag_format(m->spec_name, &diags.items[0], line, sizeof line);
        wr_fail(eb, WR_ESPEC, "%s", line);
        wr_spec_diags_fini(&diags);
        goto fail;
    }
    wr_spec_diags_fini(&diags);
    if (wr_plan_build(d->spec, P, &d->plan, eb) != WR_OK)
        goto fail;
    d->addresses = calloc((size_t)P, sizeof *d->addresses);
    d->worker_ids = calloc((size_t)P, sizeof *d->worker_ids);
    d->here = calloc((size_t)P, sizeof *d->here);
    d->parts = calloc(m->n_partitions + 1, sizeof *d->parts);
    d->part_subtask = calloc(m->n_partitions + 1, sizeof *d->part_subtask);
    if (!d->addresses || !d->worker_ids || !d->here || !d->parts || !d->part_subtask) {
        wr_fail(eb, WR_ENOMEM, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < m->n_placement; i++) {
        const Weir__SubtaskPlacement *pl = m->placement[i];
        d->addresses[pl->subtask] = strdup(pl->data_address);
        d->worker_ids[pl->subtask] = strdup(pl->worker_id);
        if (!d->addresses[pl->subtask] || !d->worker_ids[pl->subtask]) {
            wr_fail(eb, WR_ENOMEM, "out of memory");
            goto fail;
        }
        d->here[pl->subtask] = !strcmp(pl->worker_id, w->id);
        nlocal += d->here[pl->subtask];
    }
    if (nlocal == 0) {
        wr_fail(eb, WR_EINVAL, "no subtask of this deployment is placed on worker %s", w->id);
        goto fail;
    }
    d->nparts = (int)m->n_partitions;
    for (size_t i = 0; i < m->n_partitions; i++) {
        const Weir__PartitionAssignment *pa = m->partitions[i];
        if ((int)pa->subtask >= P) {
            wr_fail(eb, WR_EINVAL, "partition %d is assigned to subtask %u of %d", pa->partition,
                    pa->subtask, P);
            goto fail;
        }
        d->parts[i] = (wr_part_offsets){pa->partition, pa->start_offset, pa->stop_offset};
        d->part_subtask[i] = (int)pa->subtask;
    }
    if (!deployment_checkpoints(d, m, eb))
        goto fail;
    d->x = wr_exchange_new(w->net, d->job_id, d->attempt, P, (const char *const *)d->addresses,
                           d->here, (int)d->spec->limits.channel_batches, w->advertise,
                           w->o.send_timeout_ms);
    if (!d->x) {
        wr_fail(eb, WR_ENOMEM, "out of memory");
        goto fail;
    }
    return d;
fail:
    deployment_free(d);
    return NULL;
}

static void report_rejected(wr_worker *w, const Weir__Deploy *m, const char *why)
{
    Weir__Control c = WEIR__CONTROL__INIT;
    Weir__TaskReport r = WEIR__TASK_REPORT__INIT;
    Weir__Stats s = WEIR__STATS__INIT;

    r.job_id = m->job_id;
    r.attempt = m->attempt;
    r.state = WEIR__TASK_STATE__TASK_FAILED;
    r.message = (char *)why;
    s.watermark = INT64_MIN;
    r.stats = &s;
    c.body_case = WEIR__CONTROL__BODY_TASK_REPORT;
    c.task_report = &r;
    send_control(w, &c);
}

static void handle_deploy(wr_worker *w, const Weir__Deploy *m)
{
    deployment *d;
    wr_errbuf eb;

    pthread_mutex_lock(&w->mu);
    d = find_deployment(w, m->job_id, m->attempt);
    pthread_mutex_unlock(&w->mu);
    if (d)
        return; /* a duplicate */
    d = deployment_new(w, m, &eb);
    if (!d) {
        wr_log(WR_LOG_WARN, "worker", "job %s attempt %u: refused: %s", m->job_id, m->attempt,
               eb.msg);
        report_rejected(w, m, eb.msg);
        return;
    }
    pthread_mutex_lock(&w->mu);
    d->next = w->deps;
    w->deps = d;
    /* credits that arrived before this Deploy */
    for (int i = 0; i < w->nstash;) {
        stashed_credit *s = &w->stash[i];
        if (s->attempt == d->attempt && !strcmp(s->job_id, d->job_id)) {
            wr_exchange_credit(d->x, s->from, s->to, s->credits);
            w->stash[i] = w->stash[--w->nstash];
        } else {
            i++;
        }
    }
    pthread_mutex_unlock(&w->mu);
    wr_log(WR_LOG_INFO, "worker", "job %s (%s) attempt %u: deploying", d->job_id, d->spec->name,
           d->attempt);
    if (pthread_create(&d->thread, NULL, supervise, d) != 0) {
        pthread_mutex_lock(&w->mu);
        d->state = WEIR__TASK_STATE__TASK_FAILED;
        snprintf(d->message, sizeof d->message, "cannot start a thread");
        d->ended = true;
        d->ended_at = wr_mono_ms();
        pthread_mutex_unlock(&w->mu);
        report_now(w, d);
        return;
    }
    d->thread_started = true;
}

static void handle_cancel(wr_worker *w, const Weir__Cancel *m)
{
    deployment *d;

    pthread_mutex_lock(&w->mu);
    d = find_deployment(w, m->job_id, m->attempt);
    if (d && !d->ended) {
        d->cancel_requested = true;
        if (d->job)
            wr_job_cancel(d->job);
        wr_exchange_cancel(d->x);
    }
    pthread_mutex_unlock(&w->mu);
    if (d)
        wr_log(WR_LOG_INFO, "worker", "job %s attempt %u: cancel requested", m->job_id, m->attempt);
}

static void handle_stop(wr_worker *w, const Weir__Stop *m)
{
    deployment *d;

    pthread_mutex_lock(&w->mu);
    d = find_deployment(w, m->job_id, m->attempt);
    if (d && !d->ended) {
        d->stop_requested = true;
        if (d->job)
            wr_job_stop(d->job);
    }
    pthread_mutex_unlock(&w->mu);
    if (d)
        wr_log(WR_LOG_INFO, "worker", "job %s attempt %u: stop requested", m->job_id, m->attempt);
}

/* Joins ended supervisors and frees deployments ended long ago. Loop thread. */
static void reap(wr_worker *w, bool all)
{
    int64_t now = wr_mono_ms();
    deployment **pp, *gone = NULL;

    pthread_mutex_lock(&w->mu);
    pp = &w->deps;
    while (*pp) {
        deployment *d = *pp;
        if (d->ended && (all || now - d->ended_at > KEEP_ENDED_MS)) {
            *pp = d->next;
            d->next = gone;
            gone = d;
        } else {
            pp = &d->next;
        }
    }
    pthread_mutex_unlock(&w->mu);
    while (gone) {
        deployment *d = gone;
        gone = d->next;
        if (d->thread_started && !d->joined)
            pthread_join(d->thread, NULL);
        deployment_free(d);
    }
}

/* ------------------------------------------------------------------ the loop */

static void on_heartbeat(uv_timer_t *t)
{
    wr_worker *w = t->data;
    bool registered;

    pthread_mutex_lock(&w->mu);
    registered = w->registered;
    pthread_mutex_unlock(&w->mu);
    if (registered)
        send_heartbeat(w);
    reap(w, false);
}

static void on_register_timer(uv_timer_t *t)
{
    wr_worker *w = t->data;
    bool registered;

    pthread_mutex_lock(&w->mu);
    registered = w->registered;
    pthread_mutex_unlock(&w->mu);
    if (!registered)
        send_register(w);
}

static void handle_control(wr_worker *w, Weir__Control *c)
{
    switch (c->body_case) {
    case WEIR__CONTROL__BODY_REGISTER_ACK: {
        int64_t iv = w->o.heartbeat_interval_ms;
        bool first;
        if (iv <= 0)
            iv = c->register_ack->heartbeat_interval_ms ? c->register_ack->heartbeat_interval_ms
                                                        : 1000;
        pthread_mutex_lock(&w->mu);
        first = !w->registered;
        w->registered = true;
        w->hb_interval = iv;
        pthread_mutex_unlock(&w->mu);
        uv_timer_start(&w->hb_timer, on_heartbeat, (uint64_t)iv, (uint64_t)iv);
        if (first)
            wr_log(WR_LOG_INFO, "worker", "registered with %s as %s (%d slots, data at %s)",
                   w->coordinator, w->id, w->o.slots, w->advertise);
        send_heartbeat(w);
        break;
    }
    case WEIR__CONTROL__BODY_REREGISTER:
        wr_log(WR_LOG_INFO, "worker", "the coordinator asks to register again: %s",
               c->reregister->reason);
        pthread_mutex_lock(&w->mu);
        w->registered = false;
        pthread_mutex_unlock(&w->mu);
        send_register(w);
        break;
    case WEIR__CONTROL__BODY_DEPLOY:
        handle_deploy(w, c->deploy);
        break;
    case WEIR__CONTROL__BODY_CANCEL:
        handle_cancel(w, c->cancel);
        break;
    case WEIR__CONTROL__BODY_STOP:
        handle_stop(w, c->stop);
        break;
    case WEIR__CONTROL__BODY_TRIGGER_CHECKPOINT:
        handle_trigger(w, c->trigger_checkpoint);
        break;
    case WEIR__CONTROL__BODY_CHECKPOINT_COMPLETE:
        handle_ck_complete(w, c->checkpoint_complete);
        break;
    default:
        break;
    }
}

static void on_close(uv_handle_t *h)
{
    (void)h;
}

static void on_wake(uv_async_t *a)
{
    wr_worker *w = a->data;

    for (;;) {
        ctl_msg *m;
        bool stopping;
        pthread_mutex_lock(&w->mu);
        m = w->q_head;
        if (m) {
            w->q_head = m->next;
            if (!w->q_head)
                w->q_tail = NULL;
        }
        stopping = w->stopping;
        pthread_mutex_unlock(&w->mu);
        if (stopping) {
            while (m) {
                ctl_msg *next;
                weir__control__free_unpacked(m->c, NULL);
                pthread_mutex_lock(&w->mu);
                next = w->q_head;
                if (next) {
                    w->q_head = next->next;
                    if (!w->q_head)
                        w->q_tail = NULL;
                }
                pthread_mutex_unlock(&w->mu);
                free(m);
                m = next;
            }
            uv_close((uv_handle_t *)&w->hb_timer, on_close);
            uv_close((uv_handle_t *)&w->reg_timer, on_close);
            uv_close((uv_handle_t *)&w->wake, on_close);
            return;
        }
        if (!m)
            return;
        handle_control(w, m->c);
        weir__control__free_unpacked(m->c, NULL);
        free(m);
    }
}

static void *loop_main(void *arg)
{
    wr_worker *w = arg;
    uv_run(&w->loop, UV_RUN_DEFAULT);
    return NULL;
}

/* ------------------------------------------------------------------ received frames */

static bool on_data(wr_worker *w, const wr_frame *f, const char *peer)
{
    const Weir__DataHeader *h = f->data;
    deployment *d;
    wr_batch *b = NULL;
    wr_errbuf eb;
    bool ok = true;

    pthread_mutex_lock(&w->mu);
    d = find_deployment(w, h->job_id, h->attempt);
    if (!d || !d->job) { /* an ended or unknown attempt: its data is moot */
        pthread_mutex_unlock(&w->mu);
        return true;
    }
    if ((int)h->to_subtask >= d->P || (int)h->from_subtask >= d->P || !d->here[h->to_subtask] ||
        d->here[h->from_subtask]) {
        snprintf(eb.msg, sizeof eb.msg,
                 "data from %s for job %s: channel %u → %u is not one of ours", peer, h->job_id,
                 h->from_subtask, h->to_subtask);
        ok = false;
    } else if (wr_batch_decode(
                   f->body, f->body_len, d->plan.stages[0].out_schema->nfields,
                   (int)d->spec->limits.batch_records,
                   (size_t)(d->spec->limits.batch_bytes + d->spec->limits.max_record_bytes + 4096),
                   &b, &eb) != WR_OK) {
        wr_errbuf_prefix(&eb, "data from %s for job %s: ", peer, h->job_id);
        ok = false;
    } else {
        wr_err e = wr_job_deliver(d->job, (int)h->to_subtask, (int)h->from_subtask, b);
        if (e == WR_OK) {
            b = NULL;
        } else if (e == WR_ETOOBIG) {
            snprintf(eb.msg, sizeof eb.msg,
                     "data from %s for job %s: subtask %u sent more batches than its credit", peer,
                     h->job_id, h->from_subtask);
            ok = false;
        }
    }
    if (!ok) {
        wr_log(WR_LOG_WARN, "worker", "closing the connection: %s", eb.msg);
        wr_job_fail(d->job, WR_EMALFORMED, eb.msg);
    }
    pthread_mutex_unlock(&w->mu);
    wr_batch_free(b);
    return ok;
}

static bool on_credit(wr_worker *w, const wr_frame *f)
{
    const Weir__Credit *c = f->credit;
    deployment *d;

    pthread_mutex_lock(&w->mu);
    d = find_deployment(w, c->job_id, c->attempt);
    if (d) {
        if ((int)c->from_subtask < d->P && (int)c->to_subtask < d->P)
            wr_exchange_credit(d->x, (int)c->from_subtask, (int)c->to_subtask, c->credits);
    } else {
        stashed_credit *s;
        if (w->nstash == MAX_STASH) /* drop the oldest: it belongs to no deployment */
            memmove(w->stash, w->stash + 1, sizeof *w->stash * (MAX_STASH - 1)), w->nstash--;
        s = &w->stash[w->nstash++];
        snprintf(s->job_id, sizeof s->job_id, "%s", c->job_id);
        s->attempt = c->attempt;
        s->from = (int)c->from_subtask;
        s->to = (int)c->to_subtask;
        s->credits = c->credits;
    }
    pthread_mutex_unlock(&w->mu);
    return true;
}

static bool on_frame(void *arg, wr_frame *f, const char *peer)
{
    wr_worker *w = arg;
    ctl_msg *m;

    switch (f->type) {
    case WR_FRAME_DATA:
        return on_data(w, f, peer);
    case WR_FRAME_CREDIT:
        return on_credit(w, f);
    case WR_FRAME_CONTROL:
        break;
    default:
        return false;
    }
    switch (f->control->body_case) {
    case WEIR__CONTROL__BODY_REGISTER_ACK:
    case WEIR__CONTROL__BODY_REREGISTER:
    case WEIR__CONTROL__BODY_DEPLOY:
    case WEIR__CONTROL__BODY_CANCEL:
    case WEIR__CONTROL__BODY_STOP:
    case WEIR__CONTROL__BODY_TRIGGER_CHECKPOINT:
    case WEIR__CONTROL__BODY_CHECKPOINT_COMPLETE:
        break;
    default:
        wr_log(WR_LOG_WARN, "worker", "closing the connection from %s: a worker takes no %s", peer,
               f->control->body_case == WEIR__CONTROL__BODY_REGISTER         ? "Register"
               : f->control->body_case == WEIR__CONTROL__BODY_HEARTBEAT      ? "Heartbeat"
               : f->control->body_case == WEIR__CONTROL__BODY_TASK_REPORT    ? "TaskReport"
               : f->control->body_case == WEIR__CONTROL__BODY_CHECKPOINT_ACK ? "CheckpointAck"
                                                                             : "CheckpointDecline");
        return false;
    }
    m = calloc(1, sizeof *m);
    if (!m)
        return true;
    m->c = f->control;
    f->control = NULL;
    pthread_mutex_lock(&w->mu);
    if (w->stopping) { /* the loop is closing its handles: too late */
        pthread_mutex_unlock(&w->mu);
        weir__control__free_unpacked(m->c, NULL);
        free(m);
        return true;
    }
    if (w->q_tail)
        w->q_tail->next = m;
    else
        w->q_head = m;
    w->q_tail = m;
    /* under the lock: the loop closes `wake` only after seeing `stopping` */
    uv_async_send(&w->wake);
    pthread_mutex_unlock(&w->mu);
    return true;
}

/* A connection to another worker closed: frames this worker sent there may be lost, so
 * every running deployment that sends there fails now (and the job restarts) rather than
 * going on with a hole in its data. */
static void on_lost(void *arg, const char *address)
{
    wr_worker *w = arg;

    pthread_mutex_lock(&w->mu);
    for (deployment *d = w->deps; d; d = d->next) {
        const char *peer = address;
        char msg[WR_ERRBUF_SIZE];
        if (!d->job || d->ended || d->cancel_requested || !wr_exchange_uses(d->x, address))
            continue;
        for (int i = 0; i < d->P; i++) {
            if (!d->here[i] && !strcmp(d->addresses[i], address))
                peer = d->worker_ids[i];
        }
        snprintf(msg, sizeof msg,
                 "the connection to worker %s (%s) was lost; records in flight to it may be lost",
                 peer, address);
        wr_log(WR_LOG_WARN, "worker", "job %s attempt %u: %s", d->job_id, d->attempt, msg);
        wr_job_fail(d->job, WR_EIO, msg);
    }
    pthread_mutex_unlock(&w->mu);
}

/* ------------------------------------------------------------------ lifecycle */

static char *advertise_default(const char *listen)
{
    const char *p = strstr(listen, "://");
    char buf[512];

    if (!p)
        return strdup(listen);
    p += 3;
    if (!strncmp(p, "0.0.0.0:", 8))
        snprintf(buf, sizeof buf, "%.*s127.0.0.1%s", (int)(p - listen), listen, p + 7);
    else if (*p == '*' || *p == ':')
        snprintf(buf, sizeof buf, "%.*s127.0.0.1%s", (int)(p - listen), listen,
                 *p == '*' ? p + 1 : p);
    else
        snprintf(buf, sizeof buf, "%s", listen);
    return strdup(buf);
}

wr_err wr_worker_start(const wr_worker_options *o, wr_worker **out, wr_errbuf *eb)
{
    wr_worker *w;
    wr_err e;

    if (!o->coordinator || !*o->coordinator)
        return wr_fail(eb, WR_EINVAL, "no coordinator address (--coordinator)");
    w = calloc(1, sizeof *w);
    if (!w)
        return wr_fail(eb, WR_ENOMEM, "out of memory");
    w->o = *o;
    if (!w->o.listen)
        w->o.listen = "tcp://0.0.0.0:7200";
    if (w->o.slots <= 0)
        w->o.slots = 2;
    if (!w->o.max_message)
        w->o.max_message = WR_WIRE_MAX_MESSAGE_DEFAULT;
    if (w->o.kafka_timeout_ms <= 0)
        w->o.kafka_timeout_ms = 10000;
    if (w->o.send_timeout_ms <= 0)
        w->o.send_timeout_ms = 10000;
    pthread_mutex_init(&w->mu, NULL);
    if (gethostname(w->host, sizeof w->host - 1) != 0)
        snprintf(w->host, sizeof w->host, "localhost");
    w->coordinator = strdup(o->coordinator);
    w->listen = strdup(w->o.listen);
    w->advertise = o->advertise ? strdup(o->advertise) : advertise_default(w->o.listen);
    if (o->id) {
        w->id = strdup(o->id);
    } else {
        const char *port = strrchr(w->o.listen, ':');
        char buf[300];
        snprintf(buf, sizeof buf, "%s:%s", w->host, port ? port + 1 : "0");
        w->id = strdup(buf);
    }
    w->data_dir = o->data_dir ? strdup(o->data_dir) : NULL;
    w->stash = calloc(MAX_STASH, sizeof *w->stash);
    if (!w->coordinator || !w->listen || !w->advertise || !w->id || !w->stash ||
        (o->data_dir && !w->data_dir)) {
        wr_worker_free(w);
        return wr_fail(eb, WR_ENOMEM, "out of memory");
    }
    e = wr_net_start(w->listen, w->o.max_message, on_frame, w, &w->net, eb);
    if (e) {
        wr_worker_free(w);
        return e;
    }
    wr_net_on_lost(w->net, on_lost, w);
    uv_loop_init(&w->loop);
    uv_async_init(&w->loop, &w->wake, on_wake);
    w->wake.data = w;
    uv_timer_init(&w->loop, &w->hb_timer);
    w->hb_timer.data = w;
    uv_timer_init(&w->loop, &w->reg_timer);
    w->reg_timer.data = w;
    uv_timer_start(&w->reg_timer, on_register_timer, 0, REGISTER_RETRY_MS);
    if (pthread_create(&w->loop_thread, NULL, loop_main, w) != 0) {
        uv_close((uv_handle_t *)&w->hb_timer, NULL);
        uv_close((uv_handle_t *)&w->reg_timer, NULL);
        uv_close((uv_handle_t *)&w->wake, NULL);
        uv_run(&w->loop, UV_RUN_DEFAULT);
        uv_loop_close(&w->loop);
        wr_worker_free(w);
        return wr_fail(eb, WR_ENOMEM, "cannot start the worker's loop thread");
    }
    w->loop_started = true;
    wr_log(WR_LOG_INFO, "worker", "worker %s: data at %s (listening on %s), coordinator %s", w->id,
           w->advertise, w->listen, w->coordinator);
    *out = w;
    return WR_OK;
}

const char *wr_worker_id(const wr_worker *w)
{
    return w->id;
}

const char *wr_worker_address(const wr_worker *w)
{
    return w->advertise;
}

uint64_t wr_worker_rejected_frames(const wr_worker *w)
{
    return w->net ? wr_net_rejected(w->net) : 0;
}

void wr_worker_free(wr_worker *w)
{
    if (!w)
        return;
    if (w->loop_started) {
        pthread_mutex_lock(&w->mu);
        w->stopping = true;
        pthread_mutex_unlock(&w->mu);
        uv_async_send(&w->wake);
        pthread_join(w->loop_thread, NULL);
        uv_loop_close(&w->loop);
    }
    /* cancel what runs, wait for the supervisors (they still report through the net) */
    pthread_mutex_lock(&w->mu);
    for (deployment *d = w->deps; d; d = d->next) {
        if (!d->ended) {
            d->cancel_requested = true;
            if (d->job)
                wr_job_cancel(d->job);
            if (d->x)
                wr_exchange_cancel(d->x);
        }
    }
    pthread_mutex_unlock(&w->mu);
    for (deployment *d = w->deps; d; d = d->next) {
        if (d->thread_started && !d->joined) {
            pthread_join(d->thread, NULL);
            d->joined = true;
        }
    }
    wr_net_free(w->net);
    while (w->deps) {
        deployment *d = w->deps;
        w->deps = d->next;
        deployment_free(d);
    }
    while (w->q_head) {
        ctl_msg *m = w->q_head;
        w->q_head = m->next;
        weir__control__free_unpacked(m->c, NULL);
        free(m);
    }
    free(w->stash);
    free(w->coordinator);
    free(w->listen);
    free(w->advertise);
    free(w->id);
    free(w->data_dir);
    pthread_mutex_destroy(&w->mu);
    free(w);
}
