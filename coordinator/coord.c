/*
 * coord.c — the coordinator's event loop (coord.h): one libuv loop on its own thread
 * owns the cluster state machine; the nng control endpoint (ctl.c) and the REST server
 * (rest.c) feed it events, and this file turns the cluster's actions into messages.
 *
 * Every event goes the same way: call the cluster (register, heartbeat, report, submit,
 * cancel, tick), then after_event(): send every queued action and log what changed
 * (workers lost, jobs changing state, with the reason), by comparing the states seen
 * before with the states now. Jobs and workers are never removed from the cluster and
 * keep their index, so the comparison is by index.
 */
#include "coord.h"

#include "checkpoint.h"
#include "ckstore.h"
#include "ctl.h"
#include "log.h"
#include "rest.h"
#include "spec.h"
#include "store.h"
#include "wire.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#define COORD_TICK_MS 100
#define COORD_UNKNOWN_MAX 256 /* worker ids remembered for "log once" */
#define COORD_SENT_LOG 8      /* Cancel/Stop per worker remembered for "log once" */
#define COORD_MAX_STORES 16   /* checkpoint storages open at once (one per distinct URL) */

/* A Cancel or Stop already logged for a worker: the cluster sends them again while the
 * worker still reports the deployment running, and those repeats are logged at debug. */
typedef struct sent_key {
    wr_caction_kind kind;
    uint32_t attempt;
    char job[WR_CLUSTER_ID_MAX];
} sent_key;

typedef struct pipe_owner {
    uint32_t pipe;
    char worker[WR_CLUSTER_ID_MAX];
} pipe_owner;

struct wr_coord {
    char *listen;
    char *http;
    wr_coord_options opts;
    wr_cluster *cluster;
    wr_ctl *ctl;
    wr_rest *rest;
    int http_port;

    uv_loop_t loop;
    bool loop_init;
    uv_async_t wake; /* nng thread → loop: messages queued */
    uv_async_t stop;
    uv_timer_t tick;
    uv_thread_t thread;
    bool running;
    int64_t wall_offset; /* wall-clock ms = monotonic ms + this */

    /* loop thread only */
    wr_cjob_state *job_state; /* as last logged, by job index */
    int njob_state;
    bool *worker_alive; /* by worker index */
    int nworker_alive;
    pipe_owner *pipes; /* which worker speaks on which connection (for TaskReport) */
    int npipes;
    char **unknown; /* unknown workers whose heartbeats were logged */
    int nunknown;
    sent_key (*sent)[COORD_SENT_LOG]; /* by worker index, a ring */
    int nsent;
    wr_cstore *store; /* the data dir; NULL without one */
    char *data_dir, *ck_storage;
    wr_ckstore *stores[COORD_MAX_STORES]; /* checkpoint storages, opened on first use */
    int nstores;
};

static int64_t mono_ms(void)
{
    return (int64_t)(uv_hrtime() / 1000000u);
}

static int64_t wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void wr_coord_options_defaults(wr_coord_options *o)
{
    uint64_t seed = 0;

    memset(o, 0, sizeof *o);
    o->listen = "tcp://0.0.0.0:7100";
    o->http = "127.0.0.1:8081";
    wr_cluster_config_defaults(&o->cluster);
    /* job ids must differ between coordinator runs */
    if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) != (ssize_t)sizeof seed)
        seed = (uint64_t)wall_ms() ^ ((uint64_t)getpid() << 32) ^ uv_hrtime();
    o->cluster.id_seed = seed;
    o->kafka_timeout_ms = 10000;
    o->max_message = WR_WIRE_MAX_MESSAGE_DEFAULT;
}

/* ---------------------------------------------------------------- actions */

static wr_err send_to(wr_coord *c, int wi, const Weir__Control *m)
{
    const wr_cworker *w = wr_cluster_worker(c->cluster, wi);
    wr_errbuf eb;
    wr_err e;

    if (!w || !w->address)
        return WR_ENOTFOUND;
    e = wr_ctl_send(c->ctl, wi, w->id, w->address, m, &eb);
    if (e != WR_OK)
        wr_log(WR_LOG_WARN, "coordinator", "%s", eb.msg);
    return e;
}

/* ---------------------------------------------------------------- checkpoints */

/* The storage at url, opened once and kept (NULL with a logged error). */
static wr_ckstore *storage(wr_coord *c, const char *url)
{
    wr_ckstore *s;
    wr_errbuf eb;

    if (!url || !*url)
        return NULL;
    for (int i = 0; i < c->nstores; i++)
        if (!strcmp(wr_ckstore_url(c->stores[i]), url))
            return c->stores[i];
    if (wr_ckstore_open(url, &s, &eb) != WR_OK) {
        wr_log(WR_LOG_ERROR, "coordinator", "%s", eb.msg);
        return NULL;
    }
    if (c->nstores == COORD_MAX_STORES) {
        wr_ckstore_free(c->stores[0]);
        memmove(c->stores, c->stores + 1, (COORD_MAX_STORES - 1) * sizeof *c->stores);
        c->nstores--;
    }
    c->stores[c->nstores++] = s;
    return s;
}

/* The acks of checkpoint e (packed CheckpointAcks), unpacked; NULL entries for tasks that
 * did not ack (never, for a completed one). Free with free_acks. */
static Weir__CheckpointAck **unpack_acks(const wr_ck_entry *e)
{
    Weir__CheckpointAck **v = calloc((size_t)e->ntasks + 1, sizeof *v);

    for (int i = 0; v && i < e->ntasks; i++)
        if (e->blobs[i])
            v[i] = weir__checkpoint_ack__unpack(NULL, e->blob_lens[i], e->blobs[i]);
    return v;
}

static void free_acks(Weir__CheckpointAck **v, int n)
{
    for (int i = 0; v && i < n; i++)
        if (v[i])
            weir__checkpoint_ack__free_unpacked(v[i], NULL);
    free(v);
}

static void save_job(wr_coord *c, const wr_cjob *j)
{
    Weir__JobRecord r = WEIR__JOB_RECORD__INIT;
    Weir__PartitionAssignment *pa, **pap;
    wr_errbuf eb;

    if (!c->store)
        return;
    pa = calloc((size_t)j->nparts + 1, sizeof *pa);
    pap = calloc((size_t)j->nparts + 1, sizeof *pap);
    if (!pa || !pap)
        goto out;
    for (int k = 0; k < j->nparts; k++) {
        weir__partition_assignment__init(&pa[k]);
        pa[k].partition = j->parts[k].partition;
        pa[k].start_offset = j->parts[k].start;
        pa[k].stop_offset = j->parts[k].stop;
        pap[k] = &pa[k];
    }
    r.id = (char *)j->id;
    r.name = j->name;
    r.spec_yaml = j->spec_yaml;
    r.spec_name = j->spec_name;
    r.parallelism = (uint32_t)j->parallelism;
    r.n_partitions = (size_t)j->nparts;
    r.partitions = pap;
    r.state = (char *)wr_cjob_state_name(j->state);
    r.attempt = j->attempt;
    r.restarts = (uint32_t)j->restarts;
    r.failure = j->failure ? j->failure : "";
    r.submitted_unix_ms = j->submitted_at + c->wall_offset;
    r.next_checkpoint_id = (uint64_t)wr_ckc_next_id(j->ck);
    if (wr_cstore_save_job(c->store, &r, &eb) != WR_OK)
        wr_log(WR_LOG_ERROR, "coordinator", "job %s: cannot save its record: %s", j->id, eb.msg);
out:
    free(pa);
    free(pap);
}

/* Checkpoint a->checkpoint_id of the job completed: its metadata goes to the data dir
 * (atomically), then the attempt's workers hear of it. */
static void checkpoint_completed(wr_coord *c, const wr_caction *a)
{
    const wr_cjob *j = wr_cluster_find_job(c->cluster, a->job_id);
    const wr_ck_entry *e = j ? wr_ckc_find(j->ck, a->checkpoint_id) : NULL;
    Weir__CheckpointMeta m = WEIR__CHECKPOINT_META__INIT;
    Weir__Control msg = WEIR__CONTROL__INIT;
    Weir__CheckpointComplete cc = WEIR__CHECKPOINT_COMPLETE__INIT;
    Weir__CheckpointAck **acks;
    wr_errbuf eb;

    if (!e)
        return;
    acks = unpack_acks(e);
    if (!acks)
        return;
    for (int i = 0; i < e->ntasks; i++) {
        if (!acks[i]) {
            wr_log(WR_LOG_ERROR, "coordinator", "job %s: checkpoint %lld lacks an ack", j->id,
                   (long long)e->id);
            free_acks(acks, e->ntasks);
            return;
        }
    }
    m.job_id = (char *)j->id;
    m.checkpoint_id = (uint64_t)e->id;
    m.attempt = e->attempt;
    m.trigger_unix_ms = e->trigger_ms + c->wall_offset;
    m.duration_ms = e->end_ms - e->trigger_ms;
    m.state_bytes = e->state_bytes;
    m.uploaded_bytes = e->uploaded_bytes;
    m.n_acks = (size_t)e->ntasks;
    m.acks = acks;
    if (c->store && wr_cstore_save_checkpoint(c->store, &m, &eb) != WR_OK)
        wr_log(WR_LOG_ERROR, "coordinator", "job %s: checkpoint %lld: cannot save metadata: %s",
               j->id, (long long)e->id, eb.msg);
    free_acks(acks, e->ntasks);
    wr_log(WR_LOG_INFO, "coordinator",
           "job %s: checkpoint %lld completed in %lld ms: %llu bytes of state, %llu uploaded",
           j->id, (long long)e->id, (long long)(e->end_ms - e->trigger_ms),
           (unsigned long long)e->state_bytes, (unsigned long long)e->uploaded_bytes);
    cc.job_id = (char *)j->id;
    cc.attempt = a->attempt;
    cc.checkpoint_id = (uint64_t)e->id;
    msg.body_case = WEIR__CONTROL__BODY_CHECKPOINT_COMPLETE;
    msg.checkpoint_complete = &cc;
    for (int d = 0; d < j->ndeploys; d++)
        if (j->deploys[d].state == WR_CTASK_RUNNING)
            send_to(c, j->deploys[d].worker, &msg);
}

static void checkpoint_discarded(wr_coord *c, const wr_caction *a)
{
    const wr_cjob *j = wr_cluster_find_job(c->cluster, a->job_id);
    wr_ckstore *st = j ? storage(c, j->checkpoint_storage) : NULL;
    char dir[WR_CK_PATH_MAX];
    wr_errbuf eb;

    if (c->store &&
        wr_cstore_delete_checkpoint(c->store, a->job_id, (uint64_t)a->checkpoint_id, &eb) != WR_OK)
        wr_log(WR_LOG_WARN, "coordinator", "%s", eb.msg);
    snprintf(dir, sizeof dir, "%s/chk-%lld", a->job_id, (long long)a->checkpoint_id);
    if (st && wr_ckstore_delete_dir(st, dir, &eb) != WR_OK)
        wr_log(WR_LOG_WARN, "coordinator", "%s", eb.msg);
}

static void checkpoint_file_unused(wr_coord *c, const wr_caction *a)
{
    const wr_cjob *j = wr_cluster_find_job(c->cluster, a->job_id);
    wr_ckstore *st = j ? storage(c, j->checkpoint_storage) : NULL;
    wr_errbuf eb;

    if (st && wr_ckstore_delete(st, a->path, &eb) != WR_OK)
        wr_log(WR_LOG_WARN, "coordinator", "%s", eb.msg);
}

static void send_trigger(wr_coord *c, const wr_caction *a)
{
    Weir__Control m = WEIR__CONTROL__INIT;
    Weir__TriggerCheckpoint t = WEIR__TRIGGER_CHECKPOINT__INIT;

    t.job_id = (char *)a->job_id;
    t.attempt = a->attempt;
    t.checkpoint_id = (uint64_t)a->checkpoint_id;
    m.body_case = WEIR__CONTROL__BODY_TRIGGER_CHECKPOINT;
    m.trigger_checkpoint = &t;
    send_to(c, a->worker, &m);
}

static void on_checkpoint_ack(wr_coord *c, const Weir__CheckpointAck *k)
{
    const wr_cjob *j = wr_cluster_find_job(c->cluster, k->job_id);
    const char **shared = NULL;
    int nshared = 0;
    size_t len;
    uint8_t *blob;

    if (!j || (int)k->subtask >= j->parallelism)
        return;
    len = weir__checkpoint_ack__get_packed_size(k);
    blob = malloc(len ? len : 1);
    shared = calloc(k->n_files + 1, sizeof *shared);
    if (!blob || !shared)
        goto out;
    weir__checkpoint_ack__pack(k, blob);
    for (size_t i = 0; i < k->n_files; i++)
        if (k->files[i]->shared)
            shared[nshared++] = k->files[i]->path;
    wr_cluster_ck_ack(c->cluster, mono_ms(), k->job_id, k->attempt, (int64_t)k->checkpoint_id,
                      (int)(k->stage * (uint32_t)j->parallelism + k->subtask), blob, len,
                      (const char *const *)shared, nshared, k->state_bytes, k->uploaded_bytes);
out:
    free(blob);
    free(shared);
}

static void on_checkpoint_decline(wr_coord *c, const Weir__CheckpointDecline *d)
{
    if (!d->finished)
        wr_log(WR_LOG_WARN, "coordinator",
               "job %s attempt %u: subtask %u declined checkpoint %llu: %s", d->job_id, d->attempt,
               d->subtask, (unsigned long long)d->checkpoint_id, d->reason);
    wr_cluster_ck_decline(c->cluster, mono_ms(), d->job_id, d->attempt, (int64_t)d->checkpoint_id,
                          d->reason, d->finished);
}

static void send_deploy(wr_coord *c, const wr_caction *a)
{
    const wr_cjob *j = wr_cluster_find_job(c->cluster, a->job_id);
    Weir__SubtaskPlacement *pl = NULL, **plp = NULL;
    Weir__PartitionAssignment *pa = NULL, **pap = NULL;
    Weir__Deploy d = WEIR__DEPLOY__INIT;
    Weir__Control m = WEIR__CONTROL__INIT;
    const wr_cworker *target = wr_cluster_worker(c->cluster, a->worker);
    const wr_ck_entry *ck = NULL;
    Weir__CheckpointAck **acks = NULL, **restore = NULL;
    int mine = 0;

    if (!j || !target)
        return;
    if (j->restored_from > 0 && (ck = wr_ckc_find(j->ck, j->restored_from)) != NULL) {
        acks = unpack_acks(ck);
        restore = calloc((size_t)j->parallelism + 1, sizeof *restore);
        if (!acks || !restore) {
            wr_log(WR_LOG_ERROR, "coordinator", "job %s: out of memory restoring checkpoint %lld",
                   j->id, (long long)ck->id);
            goto out;
        }
    }
    pl = calloc((size_t)j->parallelism + 1, sizeof *pl);
    plp = calloc((size_t)j->parallelism + 1, sizeof *plp);
    pa = calloc((size_t)j->nparts + 1, sizeof *pa);
    pap = calloc((size_t)j->nparts + 1, sizeof *pap);
    if (!pl || !plp || !pa || !pap) {
        wr_log(WR_LOG_ERROR, "coordinator", "job %s: out of memory building its deployment", j->id);
        goto out;
    }
    for (int i = 0; i < j->parallelism; i++) {
        int wi = j->worker_of ? j->worker_of[i] : -1;
        const wr_cworker *w = wi >= 0 ? wr_cluster_worker(c->cluster, wi) : NULL;

        weir__subtask_placement__init(&pl[i]);
        pl[i].subtask = (uint32_t)i;
        if (w) {
            pl[i].worker_id = (char *)w->id;
            pl[i].data_address = w->address ? w->address : "";
        }
        mine += wi == a->worker;
        plp[i] = &pl[i];
    }
    for (int k = 0; k < j->nparts; k++) {
        weir__partition_assignment__init(&pa[k]);
        pa[k].partition = j->parts[k].partition;
        pa[k].subtask = (uint32_t)(j->parts[k].subtask < 0 ? 0 : j->parts[k].subtask);
        pa[k].start_offset = j->parts[k].start;
        pa[k].stop_offset = j->parts[k].stop;
        pap[k] = &pa[k];
        /* restoring: each partition from the offset its source subtask checkpointed */
        for (int t = 0; acks && t < j->parallelism; t++)
            for (size_t o = 0; acks[t] && o < acks[t]->n_offsets; o++)
                if (acks[t]->offsets[o]->partition == pa[k].partition)
                    pa[k].start_offset = acks[t]->offsets[o]->next_offset;
    }
    for (int t = 0; acks && t < j->parallelism; t++) {
        Weir__CheckpointAck *k = acks[j->parallelism + t];
        if (k)
            restore[d.n_restore++] = k;
    }
    if (ck) {
        d.restore_checkpoint = (uint64_t)ck->id;
        d.restore = restore;
    }
    if (j->checkpoint.interval_ms > 0 || ck)
        d.checkpoint_storage = j->checkpoint_storage;
    d.job_id = (char *)j->id;
    d.attempt = a->attempt;
    d.spec_yaml = j->spec_yaml ? j->spec_yaml : "";
    d.spec_name = j->spec_name ? j->spec_name : "job.yaml";
    d.parallelism = (uint32_t)j->parallelism;
    d.n_placement = (size_t)j->parallelism;
    d.placement = plp;
    d.n_partitions = (size_t)j->nparts;
    d.partitions = pap;
    m.body_case = WEIR__CONTROL__BODY_DEPLOY;
    m.deploy = &d;
    wr_log(WR_LOG_INFO, "coordinator",
           "job %s (%s) attempt %u: deploying %d subtask(s) to worker %s%s", j->id, j->name,
           a->attempt, mine, target->id, ck ? ", restoring its latest checkpoint" : "");
    send_to(c, a->worker, &m);
out:
    free_acks(acks, ck ? ck->ntasks : 0);
    free(restore);
    free(pl);
    free(plp);
    free(pa);
    free(pap);
}

/* INFO the first time this Cancel/Stop goes to this worker, DEBUG for the repeats. */
static wr_log_level repeat_level(wr_coord *c, const wr_caction *a)
{
    sent_key *ring;
    int slot;

    if (a->worker >= c->nsent) {
        sent_key(*v)[COORD_SENT_LOG] = realloc(c->sent, (size_t)(a->worker + 1) * sizeof *v);
        if (!v)
            return WR_LOG_INFO;
        memset(v + c->nsent, 0, (size_t)(a->worker + 1 - c->nsent) * sizeof *v);
        c->sent = v;
        c->nsent = a->worker + 1;
    }
    ring = c->sent[a->worker];
    for (int i = 0; i < COORD_SENT_LOG; i++)
        if (ring[i].kind == a->kind && ring[i].attempt == a->attempt &&
            !strcmp(ring[i].job, a->job_id))
            return WR_LOG_DEBUG;
    for (int i = 1; i < COORD_SENT_LOG; i++) /* drop the oldest entry */
        ring[i - 1] = ring[i];
    slot = COORD_SENT_LOG - 1;
    ring[slot].kind = a->kind;
    ring[slot].attempt = a->attempt;
    snprintf(ring[slot].job, sizeof ring[slot].job, "%s", a->job_id);
    return WR_LOG_INFO;
}

static void perform_actions(wr_coord *c)
{
    wr_caction a;

    while (wr_cluster_next_action(c->cluster, &a)) {
        Weir__Control m = WEIR__CONTROL__INIT;
        Weir__RegisterAck ack = WEIR__REGISTER_ACK__INIT;
        Weir__Cancel cancel = WEIR__CANCEL__INIT;
        Weir__Stop stop = WEIR__STOP__INIT;
        Weir__Reregister rereg = WEIR__REREGISTER__INIT;
        const wr_cworker *w = wr_cluster_worker(c->cluster, a.worker);

        switch (a.kind) {
        case WR_CACT_CK_COMPLETE:
            checkpoint_completed(c, &a);
            continue;
        case WR_CACT_CK_DISCARD:
            checkpoint_discarded(c, &a);
            continue;
        case WR_CACT_CK_DELETE:
            checkpoint_file_unused(c, &a);
            continue;
        case WR_CACT_SAVE_JOB: {
            const wr_cjob *j = wr_cluster_find_job(c->cluster, a.job_id);
            if (j)
                save_job(c, j);
            continue;
        }
        default:
            break;
        }
        if (!w)
            continue;
        switch (a.kind) {
        case WR_CACT_TRIGGER:
            send_trigger(c, &a);
            break;
        case WR_CACT_CK_COMPLETE:
        case WR_CACT_CK_DISCARD:
        case WR_CACT_CK_DELETE:
        case WR_CACT_SAVE_JOB:
            break;
        case WR_CACT_REGISTER_ACK:
            ack.worker_id = (char *)w->id;
            ack.heartbeat_interval_ms = (uint32_t)c->opts.cluster.heartbeat_interval_ms;
            m.body_case = WEIR__CONTROL__BODY_REGISTER_ACK;
            m.register_ack = &ack;
            send_to(c, a.worker, &m);
            break;
        case WR_CACT_REREGISTER:
            rereg.reason = "the coordinator does not know this worker";
            m.body_case = WEIR__CONTROL__BODY_REREGISTER;
            m.reregister = &rereg;
            send_to(c, a.worker, &m);
            break;
        case WR_CACT_DEPLOY:
            send_deploy(c, &a);
            break;
        case WR_CACT_CANCEL:
            cancel.job_id = a.job_id;
            cancel.attempt = a.attempt;
            m.body_case = WEIR__CONTROL__BODY_CANCEL;
            m.cancel = &cancel;
            wr_log(repeat_level(c, &a), "coordinator", "job %s attempt %u: canceling on worker %s",
                   a.job_id, a.attempt, w->id);
            send_to(c, a.worker, &m);
            break;
        case WR_CACT_STOP:
            stop.job_id = a.job_id;
            stop.attempt = a.attempt;
            m.body_case = WEIR__CONTROL__BODY_STOP;
            m.stop = &stop;
            wr_log(repeat_level(c, &a), "coordinator", "job %s attempt %u: stopping on worker %s",
                   a.job_id, a.attempt, w->id);
            send_to(c, a.worker, &m);
            break;
        }
    }
}

/* A job FINISHED or was CANCELED: its checkpoints are of no more use (Flink's default
 * too): the job's storage directory and the metadata go. A FAILED job keeps them. */
static void drop_checkpoints(wr_coord *c, const wr_cjob *j)
{
    wr_ckstore *st = storage(c, j->checkpoint_storage);
    wr_errbuf eb;

    for (int i = 0; c->store && i < wr_ckc_count(j->ck); i++) {
        const wr_ck_entry *e = wr_ckc_entry(j->ck, i);
        if (e->status == WR_CK_COMPLETED &&
            wr_cstore_delete_checkpoint(c->store, j->id, (uint64_t)e->id, &eb) != WR_OK)
            wr_log(WR_LOG_WARN, "coordinator", "%s", eb.msg);
    }
    if (st && wr_ckstore_delete_dir(st, j->id, &eb) != WR_OK)
        wr_log(WR_LOG_WARN, "coordinator", "%s", eb.msg);
}

/* Logs lost workers and job state changes since the last call. */
static void log_changes(wr_coord *c, int64_t now)
{
    int nw = wr_cluster_nworkers(c->cluster), nj = wr_cluster_njobs(c->cluster);

    if (nw > c->nworker_alive) {
        bool *v = realloc(c->worker_alive, (size_t)nw * sizeof *v);
        if (v) {
            for (int i = c->nworker_alive; i < nw; i++)
                v[i] = wr_cluster_worker(c->cluster, i)->alive;
            c->worker_alive = v;
            c->nworker_alive = nw;
        }
    }
    for (int i = 0; i < c->nworker_alive; i++) {
        const wr_cworker *w = wr_cluster_worker(c->cluster, i);
        if (c->worker_alive[i] && !w->alive)
            wr_log(WR_LOG_WARN, "coordinator", "worker %s lost: no heartbeat for %.1f s", w->id,
                   (double)(now - w->last_heartbeat) / 1000.0);
        c->worker_alive[i] = w->alive;
    }

    if (nj > c->njob_state) {
        wr_cjob_state *v = realloc(c->job_state, (size_t)nj * sizeof *v);
        if (!v)
            return;
        for (int i = c->njob_state; i < nj; i++) {
            const wr_cjob *j = wr_cluster_job(c->cluster, i);
            wr_log(WR_LOG_INFO, "coordinator", "job %s (%s) %s: parallelism %d, %d partition(s)",
                   j->id, j->name,
                   j->attempt > 0 || j->state != WR_CJOB_CREATED ? "loaded from the data dir"
                                                                 : "submitted",
                   j->parallelism, j->nparts);
            v[i] = WR_CJOB_CREATED;
        }
        c->job_state = v;
        c->njob_state = nj;
    }
    for (int i = 0; i < c->njob_state; i++) {
        const wr_cjob *j = wr_cluster_job(c->cluster, i);
        wr_cjob_state was = c->job_state[i];
        char why[WR_ERRBUF_SIZE] = "";

        if (j->state == was)
            continue;
        switch (j->state) {
        case WR_CJOB_FAILING:
        case WR_CJOB_FAILED:
            if (j->failure)
                snprintf(why, sizeof why, ": %s", j->failure);
            break;
        case WR_CJOB_RESTARTING:
            snprintf(why, sizeof why, ": restart %d in %.1f s%s", j->restarts + 1,
                     (double)(j->restart_at > now ? j->restart_at - now : 0) / 1000.0,
                     wr_ckc_latest(j->ck) ? " from its latest checkpoint" : "");
            break;
        case WR_CJOB_RUNNING:
            snprintf(why, sizeof why, ": attempt %u", j->attempt);
            break;
        default:
            break;
        }
        wr_log(j->state == WR_CJOB_FAILING || j->state == WR_CJOB_FAILED ? WR_LOG_WARN
                                                                         : WR_LOG_INFO,
               "coordinator", "job %s (%s) %s → %s%s", j->id, j->name, wr_cjob_state_name(was),
               wr_cjob_state_name(j->state), why);
        c->job_state[i] = j->state;
        if (j->state == WR_CJOB_FINISHED || j->state == WR_CJOB_CANCELED)
            drop_checkpoints(c, j);
    }
}

/* After every event: perform the actions it queued and log what changed. */
static void after_event(void *arg)
{
    wr_coord *c = arg;

    log_changes(c, mono_ms());
    perform_actions(c);
}

/* ---------------------------------------------------------------- messages */

static void set_pipe_owner(wr_coord *c, uint32_t pipe, const char *worker)
{
    for (int i = 0; i < c->npipes; i++) {
        if (!strcmp(c->pipes[i].worker, worker)) {
            c->pipes[i].pipe = pipe;
            return;
        }
    }
    {
        pipe_owner *v = realloc(c->pipes, (size_t)(c->npipes + 1) * sizeof *v);
        if (!v)
            return;
        c->pipes = v;
        v[c->npipes].pipe = pipe;
        snprintf(v[c->npipes].worker, sizeof v[c->npipes].worker, "%s", worker);
        c->npipes++;
    }
}

static const char *pipe_owner_of(const wr_coord *c, uint32_t pipe)
{
    for (int i = 0; i < c->npipes; i++)
        if (c->pipes[i].pipe == pipe)
            return c->pipes[i].worker;
    return NULL;
}

/* True the first time an unknown worker id is seen (bounded memory). */
static bool first_unknown(wr_coord *c, const char *id)
{
    char *s;

    for (int i = 0; i < c->nunknown; i++)
        if (!strcmp(c->unknown[i], id))
            return false;
    if (c->nunknown >= COORD_UNKNOWN_MAX)
        return false;
    if (!c->unknown && !(c->unknown = calloc(COORD_UNKNOWN_MAX, sizeof *c->unknown)))
        return true;
    if ((s = strdup(id)))
        c->unknown[c->nunknown++] = s;
    return true;
}

static void forget_unknown(wr_coord *c, const char *id)
{
    for (int i = 0; i < c->nunknown; i++) {
        if (!strcmp(c->unknown[i], id)) {
            free(c->unknown[i]);
            c->unknown[i] = c->unknown[--c->nunknown];
            return;
        }
    }
}

static void to_cstats(const Weir__Stats *s, wr_cstats *out)
{
    memset(out, 0, sizeof *out);
    out->watermark = INT64_MIN;
    if (!s)
        return;
    out->records_in = s->records_in;
    out->records_out = s->records_out;
    out->filtered = s->filtered;
    out->dead_letters = s->dead_letters;
    out->bytes_in = s->bytes_in;
    out->late_records = s->late_records;
    out->late_updates = s->late_updates;
    out->windows_fired = s->windows_fired;
    out->retractions = s->retractions;
    out->state_evictions = s->state_evictions;
    out->state_db_writes = s->state_db_writes;
    out->state_db_reads = s->state_db_reads;
    out->state_cache_bytes = s->state_cache_bytes;
    out->watermark = s->watermark;
    out->windowed = s->windowed;
    out->backpressured_ms = s->backpressured_ms;
}

static void to_creport(const Weir__TaskReport *t, wr_creport *out)
{
    int st = (int)t->state;

    out->job_id = t->job_id;
    out->attempt = t->attempt;
    out->state =
        st >= WR_CTASK_UNKNOWN && st <= WR_CTASK_CANCELED ? (wr_ctask_state)st : WR_CTASK_UNKNOWN;
    out->message = t->message && *t->message ? t->message : NULL;
    out->corrupt_checkpoint = (int64_t)t->corrupt_checkpoint;
    to_cstats(t->stats, &out->stats);
}

static void on_register(wr_coord *c, const wr_ctl_msg *msg, const Weir__Register *r)
{
    bool known = wr_cluster_find_worker(c->cluster, r->worker_id) >= 0;
    int slots = r->slots > INT_MAX ? INT_MAX : (int)r->slots;
    wr_errbuf eb;

    if (wr_cluster_register(c->cluster, mono_ms(), r->worker_id, r->data_address, slots, r->host,
                            r->version, &eb) != WR_OK) {
        wr_log(WR_LOG_WARN, "coordinator", "registration of worker '%s' from %s refused: %s",
               r->worker_id, msg->peer, eb.msg);
        return;
    }
    set_pipe_owner(c, msg->pipe, r->worker_id);
    forget_unknown(c, r->worker_id);
    wr_log(WR_LOG_INFO, "coordinator", "worker %s %s: %s, %d slot(s), host %s, version %s",
           r->worker_id, known ? "registered again" : "registered", r->data_address, slots, r->host,
           r->version);
}

static void on_heartbeat(wr_coord *c, const wr_ctl_msg *msg, const Weir__Heartbeat *h)
{
    wr_creport *reports = NULL;
    int n = (int)h->n_tasks, wi;
    bool ok;

    if (n > 0 && !(reports = calloc((size_t)n, sizeof *reports)))
        return;
    for (int i = 0; i < n; i++)
        to_creport(h->tasks[i], &reports[i]);
    ok = wr_cluster_heartbeat(c->cluster, mono_ms(), h->worker_id, reports, n);
    wi = wr_cluster_find_worker(c->cluster, h->worker_id);
    if (!ok && wi < 0 && *h->data_address && h->slots > 0) {
        /* A worker this coordinator never saw (it restarted): the heartbeat says what a
         * Register would, and there is no address to ask for one. */
        wr_errbuf eb;
        if (wr_cluster_register(c->cluster, mono_ms(), h->worker_id, h->data_address, (int)h->slots,
                                h->host, h->version, &eb) == WR_OK) {
            wr_log(WR_LOG_INFO, "coordinator",
                   "worker %s registered from its heartbeat: %s, %u slot(s) (this coordinator "
                   "had not seen it)",
                   h->worker_id, h->data_address, h->slots);
            forget_unknown(c, h->worker_id);
            ok = wr_cluster_heartbeat(c->cluster, mono_ms(), h->worker_id, reports, n);
        } else {
            wr_log(WR_LOG_WARN, "coordinator", "heartbeat of worker '%s' from %s refused: %s",
                   h->worker_id, msg->peer, eb.msg);
        }
    }
    free(reports);
    if (ok) {
        set_pipe_owner(c, msg->pipe, h->worker_id);
        return;
    }
    if (wi >= 0) {
        /* known but LOST: it can be reached at its data address */
        Weir__Control m = WEIR__CONTROL__INIT;
        Weir__Reregister rr = WEIR__REREGISTER__INIT;

        rr.reason = "the coordinator marked this worker lost";
        m.body_case = WEIR__CONTROL__BODY_REREGISTER;
        m.reregister = &rr;
        wr_log(WR_LOG_DEBUG, "coordinator", "heartbeat from lost worker %s: asking it to register",
               h->worker_id);
        send_to(c, wi, &m);
    } else if (first_unknown(c, h->worker_id)) {
        wr_log(WR_LOG_WARN, "coordinator",
               "heartbeat from unknown worker '%s' (%s): its address is unknown, waiting for it "
               "to register",
               h->worker_id, msg->peer);
    }
}

static void on_task_report(wr_coord *c, const wr_ctl_msg *msg, const Weir__TaskReport *t)
{
    const char *worker = pipe_owner_of(c, msg->pipe);
    wr_creport r;

    if (!worker) {
        wr_log(WR_LOG_DEBUG, "coordinator",
               "task report for job %s from %s, a connection no worker registered on: ignored",
               t->job_id, msg->peer);
        return;
    }
    to_creport(t, &r);
    wr_cluster_report(c->cluster, mono_ms(), worker, &r);
    if (r.corrupt_checkpoint > 0) {
        const wr_cjob *j = wr_cluster_find_job(c->cluster, t->job_id);
        const wr_ck_entry *next = j ? wr_ckc_latest(j->ck) : NULL;
        char then[64] = "no checkpoint is left to restore";
        if (next)
            snprintf(then, sizeof then, "the next attempt restores checkpoint %lld",
                     (long long)next->id);
        wr_log(WR_LOG_ERROR, "coordinator",
               "job %s: checkpoint %lld failed its checksum on worker %s (%s): it is never "
               "restored again; %s",
               t->job_id, (long long)r.corrupt_checkpoint, worker,
               r.message ? r.message : "checksum mismatch", then);
    }
}

/* Loop thread: handles every queued worker message. */
static void drain(void *arg)
{
    wr_coord *c = arg;
    wr_ctl_msg msg;

    while (wr_ctl_pop(c->ctl, &msg)) {
        const Weir__Control *m = msg.frame.control;

        switch (m->body_case) {
        case WEIR__CONTROL__BODY_REGISTER:
            on_register(c, &msg, m->register_);
            break;
        case WEIR__CONTROL__BODY_HEARTBEAT:
            on_heartbeat(c, &msg, m->heartbeat);
            break;
        case WEIR__CONTROL__BODY_TASK_REPORT:
            on_task_report(c, &msg, m->task_report);
            break;
        case WEIR__CONTROL__BODY_CHECKPOINT_ACK:
            on_checkpoint_ack(c, m->checkpoint_ack);
            break;
        case WEIR__CONTROL__BODY_CHECKPOINT_DECLINE:
            on_checkpoint_decline(c, m->checkpoint_decline);
            break;
        default: /* ctl.c let through only the five above */
            break;
        }
        wr_frame_fini(&msg.frame);
        after_event(c);
    }
}

/* ---------------------------------------------------------------- the loop */

static void on_wake(uv_async_t *h)
{
    drain(h->data);
}

static void on_tick(uv_timer_t *h)
{
    wr_coord *c = h->data;

    drain(c); /* messages that arrived while the loop was busy count first */
    wr_cluster_tick(c->cluster, mono_ms());
    after_event(c);
}

static void on_stop(uv_async_t *h)
{
    wr_coord *c = h->data;

    uv_timer_stop(&c->tick);
    uv_close((uv_handle_t *)&c->tick, NULL);
    uv_close((uv_handle_t *)&c->wake, NULL);
    uv_close((uv_handle_t *)&c->stop, NULL);
    wr_rest_close(c->rest);
}

static void run_loop(void *arg)
{
    wr_coord *c = arg;

    uv_run(&c->loop, UV_RUN_DEFAULT);
}

static void notify(void *arg)
{
    wr_coord *c = arg;

    uv_async_send(&c->wake);
}

static int64_t rest_now(void)
{
    return mono_ms();
}

/* Frees whatever was set up; the loop thread is not running. */
static void teardown(wr_coord *c)
{
    wr_ctl_free(c->ctl); /* closes the listener first: no more notify() */
    c->ctl = NULL;
    if (c->loop_init) {
        if (!uv_is_closing((uv_handle_t *)&c->stop)) {
            uv_close((uv_handle_t *)&c->tick, NULL);
            uv_close((uv_handle_t *)&c->wake, NULL);
            uv_close((uv_handle_t *)&c->stop, NULL);
            wr_rest_close(c->rest);
        }
        uv_run(&c->loop, UV_RUN_DEFAULT);
        uv_loop_close(&c->loop);
    }
    wr_rest_free(c->rest);
    wr_cluster_free(c->cluster);
    wr_cstore_free(c->store);
    for (int i = 0; i < c->nstores; i++)
        wr_ckstore_free(c->stores[i]);
    free(c->data_dir);
    free(c->ck_storage);
    for (int i = 0; i < c->nunknown; i++)
        free(c->unknown[i]);
    free(c->unknown);
    free(c->pipes);
    free(c->job_state);
    free(c->worker_alive);
    free(c->sent);
    free(c->listen);
    free(c->http);
    free(c);
}

static wr_cjob_state state_named(const char *name)
{
    for (int s = WR_CJOB_CREATED; s <= WR_CJOB_FINISHED; s++)
        if (name && !strcmp(name, wr_cjob_state_name((wr_cjob_state)s)))
            return (wr_cjob_state)s;
    return WR_CJOB_RESTARTING;
}

/* One job of the data dir back into the cluster (see wr_cluster_restore_job). */
static wr_err load_job(wr_coord *c, const wr_cstore_job *lj, int64_t now, wr_errbuf *eb)
{
    const Weir__JobRecord *r = lj->job;
    wr_job_spec *spec = NULL;
    wr_spec_diags diags = {0};
    wr_crestored_ck *cks = calloc(lj->ncheckpoints + 1, sizeof *cks);
    wr_cpart *parts = calloc(r->n_partitions + 1, sizeof *parts);
    void **blobs = NULL;
    size_t *lens = NULL;
    const char **shared = NULL;
    size_t nacks = 0, nfiles = 0, bi = 0, si = 0;
    wr_ckc_config ckcfg;
    wr_crestore cr;
    wr_err e = WR_ENOMEM;

    for (size_t i = 0; i < lj->ncheckpoints; i++) {
        nacks += lj->checkpoints[i]->n_acks;
        for (size_t a = 0; a < lj->checkpoints[i]->n_acks; a++)
            nfiles += lj->checkpoints[i]->acks[a]->n_files;
    }
    blobs = calloc(nacks + 1, sizeof *blobs);
    lens = calloc(nacks + 1, sizeof *lens);
    shared = calloc(nfiles + 1, sizeof *shared);
    if (!cks || !parts || !blobs || !lens || !shared) {
        wr_fail(eb, WR_ENOMEM, "out of memory loading job %s", r->id);
        goto out;
    }
    wr_ckc_config_defaults(&ckcfg);
    if (wr_spec_parse(r->spec_name, r->spec_yaml, strlen(r->spec_yaml), &spec, &diags) == WR_OK) {
        ckcfg.interval_ms = spec->checkpoint.interval_ms;
        ckcfg.timeout_ms = spec->checkpoint.timeout_ms;
        ckcfg.min_pause_ms = spec->checkpoint.min_pause_ms;
        ckcfg.retained = spec->checkpoint.retained;
        ckcfg.tolerable_failures = spec->checkpoint.tolerable_failures;
    }
    wr_spec_diags_fini(&diags);
    for (size_t k = 0; k < r->n_partitions; k++)
        parts[k] = (wr_cpart){r->partitions[k]->partition, -1, r->partitions[k]->start_offset,
                              r->partitions[k]->stop_offset};
    for (size_t i = 0; i < lj->ncheckpoints; i++) {
        const Weir__CheckpointMeta *m = lj->checkpoints[i];
        wr_crestored_ck *k = &cks[i];

        k->id = (int64_t)m->checkpoint_id;
        k->attempt = m->attempt;
        k->trigger_ms = m->trigger_unix_ms - c->wall_offset;
        k->end_ms = k->trigger_ms + m->duration_ms;
        k->state_bytes = m->state_bytes;
        k->uploaded_bytes = m->uploaded_bytes;
        k->blobs = (const void *const *)&blobs[bi];
        k->blob_lens = &lens[bi];
        k->shared = &shared[si];
        for (size_t a = 0; a < m->n_acks; a++) {
            const Weir__CheckpointAck *ack = m->acks[a];
            size_t idx = ack->stage * r->parallelism + ack->subtask;
            if (idx >= m->n_acks || blobs[bi + idx])
                continue;
            lens[bi + idx] = weir__checkpoint_ack__get_packed_size(ack);
            if (!(blobs[bi + idx] = malloc(lens[bi + idx] + 1))) {
                wr_fail(eb, WR_ENOMEM, "out of memory loading job %s", r->id);
                goto out;
            }
            weir__checkpoint_ack__pack(ack, blobs[bi + idx]);
            for (size_t f = 0; f < ack->n_files; f++)
                if (ack->files[f]->shared)
                    shared[si + (size_t)k->nshared++] = ack->files[f]->path;
        }
        bi += m->n_acks;
        si += (size_t)k->nshared;
    }
    memset(&cr, 0, sizeof cr);
    cr.id = r->id;
    cr.submit = (wr_csubmit){.name = r->name,
                             .spec_yaml = r->spec_yaml,
                             .spec_name = r->spec_name,
                             .parallelism = (int)r->parallelism,
                             .parts = parts,
                             .nparts = (int)r->n_partitions,
                             .checkpoint = &ckcfg,
                             .checkpoint_storage = spec && spec->checkpoint.storage
                                                       ? spec->checkpoint.storage
                                                       : c->ck_storage};
    cr.state = state_named(r->state);
    cr.attempt = r->attempt;
    cr.restarts = (int)r->restarts;
    cr.failure = r->failure;
    cr.submitted_at = r->submitted_unix_ms - c->wall_offset;
    cr.next_checkpoint_id = (int64_t)r->next_checkpoint_id;
    cr.checkpoints = cks;
    cr.ncheckpoints = (int)lj->ncheckpoints;
    e = wr_cluster_restore_job(c->cluster, now, &cr, eb);
    if (e == WR_OK)
        wr_log(WR_LOG_INFO, "coordinator", "job %s (%s) loaded from %s: %s, %zu checkpoint(s)",
               r->id, r->name, c->data_dir, r->state, lj->ncheckpoints);
out:
    for (size_t i = 0; blobs && i < nacks; i++)
        free(blobs[i]);
    free(blobs);
    free(lens);
    free(shared);
    free(cks);
    free(parts);
    wr_spec_free(spec);
    return e;
}

static wr_err load_jobs(wr_coord *c, wr_errbuf *eb)
{
    wr_cstore_job *jobs = NULL;
    size_t n = 0;
    int64_t now = mono_ms();
    wr_err e = wr_cstore_load(c->store, &jobs, &n, eb);

    if (e)
        return e;
    for (size_t i = 0; i < n; i++) {
        wr_errbuf jeb;
        if (load_job(c, &jobs[i], now, &jeb) != WR_OK)
            wr_log(WR_LOG_ERROR, "coordinator", "%s: job %s not loaded: %s", c->data_dir,
                   jobs[i].job->id, jeb.msg);
    }
    wr_cstore_loaded_free(jobs, n);
    return WR_OK;
}

wr_err wr_coord_start(const wr_coord_options *o, wr_coord **out, wr_errbuf *eb)
{
    wr_rest_env env;
    wr_coord *c;
    wr_err e;

    c = calloc(1, sizeof *c);
    if (!c)
        return wr_fail(eb, WR_ENOMEM, "out of memory");
    c->opts = *o;
    c->listen = strdup(o->listen ? o->listen : "tcp://0.0.0.0:7100");
    c->http = strdup(o->http ? o->http : "127.0.0.1:8081");
    c->opts.listen = c->listen;
    c->opts.http = c->http;
    if (!c->opts.max_message)
        c->opts.max_message = WR_WIRE_MAX_MESSAGE_DEFAULT;
    c->cluster = wr_cluster_new(&c->opts.cluster);
    if (!c->listen || !c->http || !c->cluster) {
        teardown(c);
        return wr_fail(eb, WR_ENOMEM, "out of memory");
    }
    c->wall_offset = wall_ms() - mono_ms();
    if (o->checkpoint_storage && !(c->ck_storage = strdup(o->checkpoint_storage))) {
        teardown(c);
        return wr_fail(eb, WR_ENOMEM, "out of memory");
    }
    if (o->data_dir) {
        if (!(c->data_dir = strdup(o->data_dir))) {
            teardown(c);
            return wr_fail(eb, WR_ENOMEM, "out of memory");
        }
        if ((e = wr_cstore_open(o->data_dir, &c->store, eb)) != WR_OK ||
            (e = load_jobs(c, eb)) != WR_OK) {
            teardown(c);
            return e;
        }
    }

    if (uv_loop_init(&c->loop) != 0) {
        teardown(c);
        return wr_fail(eb, WR_EIO, "cannot create the event loop");
    }
    c->loop_init = true;
    uv_async_init(&c->loop, &c->wake, on_wake);
    uv_async_init(&c->loop, &c->stop, on_stop);
    uv_timer_init(&c->loop, &c->tick);
    c->wake.data = c->stop.data = c->tick.data = c;

    e = wr_ctl_open(c->listen, c->opts.max_message, notify, c, &c->ctl, eb);
    if (e != WR_OK) {
        teardown(c);
        return e;
    }
    env = (wr_rest_env){.cluster = c->cluster,
                        .kafka_timeout_ms = c->opts.kafka_timeout_ms,
                        .wall_offset_ms = c->wall_offset,
                        .now = rest_now,
                        .checkpoint_storage = c->ck_storage,
                        .drain = drain,
                        .after_event = after_event,
                        .arg = c};
    e = wr_rest_start(&c->loop, c->http, &env, &c->rest, eb);
    if (e != WR_OK) {
        teardown(c);
        return e;
    }
    c->http_port = wr_rest_port(c->rest);
    uv_timer_start(&c->tick, on_tick, COORD_TICK_MS, COORD_TICK_MS);
    if (uv_thread_create(&c->thread, run_loop, c) != 0) {
        teardown(c);
        return wr_fail(eb, WR_EIO, "cannot start the coordinator thread");
    }
    c->running = true;
    *out = c;
    return WR_OK;
}

int wr_coord_http_port(const wr_coord *c)
{
    return c->http_port;
}

const char *wr_coord_listen_url(const wr_coord *c)
{
    return wr_ctl_listen_url(c->ctl);
}

uint64_t wr_coord_rejected_frames(const wr_coord *c)
{
    return wr_ctl_rejected(c->ctl);
}

void wr_coord_free(wr_coord *c)
{
    if (!c)
        return;
    if (c->running) {
        wr_ctl_close_listener(c->ctl); /* no notify() (uv_async_send) from here on */
        uv_async_send(&c->stop);
        uv_thread_join(&c->thread);
        c->running = false;
    }
    teardown(c);
}
