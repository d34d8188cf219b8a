/*
 * cluster.c — the coordinator's pure state machine: workers, jobs, deployments and the
 * actions that follow from them (see cluster.h for the lifecycle).
 *
 * Invariants kept by every event:
 *   - a worker's `used` is the number of subtasks of the non-terminal deployments of the
 *     current attempts placed on it (a lost worker has none: they are marked FAILED);
 *   - a terminal job has only terminal deployments; a RUNNING, FAILING or CANCELING job
 *     moves on as soon as its deployments allow it (all FINISHED, all terminal).
 * Deployments are terminal (FINISHED, FAILED, CANCELED) for good: a later report cannot
 * revive one, and a worker that says it still runs one is sent a Cancel.
 *
 * Memory: jobs are heap objects held by pointer so that a wr_cjob stays at one address
 * for the life of the cluster; workers live in one array (indexes are stable). Running out
 * of memory while queueing an action drops that action (there is no caller to tell from a
 * tick); everything else reports WR_ENOMEM or retries at the next tick.
 */
#include "cluster.h"

#include "scheduler.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct wr_cluster {
    wr_cluster_config cfg;
    uint64_t id_state; /* splitmix64 */

    wr_cworker *workers;
    int nworkers, capworkers;

    wr_cjob **jobs;
    int njobs, capjobs;

    wr_caction *actions; /* FIFO: [head, nactions) */
    int head, nactions, capactions;
};

/* ---- names ---- */

void wr_cluster_config_defaults(wr_cluster_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->heartbeat_timeout_ms = 5000;
    cfg->heartbeat_interval_ms = 1000;
    cfg->restart_delay_ms = 1000;
    cfg->restart_delay_max_ms = 60000;
    cfg->restart_multiplier = 2.0;
    cfg->restart_reset_ms = 600000;
    cfg->max_failures_per_interval = 10;
    cfg->failure_rate_interval_ms = 300000;
    cfg->max_restarts = -1;
    cfg->slot_timeout_ms = 60000;
    cfg->id_seed = 0;
}

const char *wr_cjob_state_name(wr_cjob_state s)
{
    switch (s) {
    case WR_CJOB_CREATED:
        return "CREATED";
    case WR_CJOB_RUNNING:
        return "RUNNING";
    case WR_CJOB_FAILING:
        return "FAILING";
    case WR_CJOB_RESTARTING:
        return "RESTARTING";
    case WR_CJOB_CANCELING:
        return "CANCELING";
    case WR_CJOB_CANCELED:
        return "CANCELED";
    case WR_CJOB_FAILED:
        return "FAILED";
    case WR_CJOB_FINISHED:
        return "FINISHED";
    }
    return "UNKNOWN";
}

bool wr_cjob_state_terminal(wr_cjob_state s)
{
    return s == WR_CJOB_CANCELED || s == WR_CJOB_FAILED || s == WR_CJOB_FINISHED;
}

const char *wr_ctask_state_name(wr_ctask_state s)
{
    switch (s) {
    case WR_CTASK_UNKNOWN:
        return "UNKNOWN";
    case WR_CTASK_DEPLOYING:
        return "DEPLOYING";
    case WR_CTASK_RUNNING:
        return "RUNNING";
    case WR_CTASK_FINISHED:
        return "FINISHED";
    case WR_CTASK_FAILED:
        return "FAILED";
    case WR_CTASK_CANCELED:
        return "CANCELED";
    }
    return "UNKNOWN";
}

static bool task_terminal(wr_ctask_state s)
{
    return s == WR_CTASK_FINISHED || s == WR_CTASK_FAILED || s == WR_CTASK_CANCELED;
}

static bool task_active(wr_ctask_state s)
{
    return s == WR_CTASK_DEPLOYING || s == WR_CTASK_RUNNING;
}

/* ---- small helpers ---- */

static char *dup_or_empty(const char *s)
{
    return strdup(s ? s : "");
}

static char *dup_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *dup_printf(const char *fmt, ...)
{
    va_list ap, ap2;
    char *s = NULL;
    int n;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    n = vsnprintf(NULL, 0, fmt, ap);
    if (n >= 0 && (s = malloc((size_t)n + 1)) != NULL)
        vsnprintf(s, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    va_end(ap);
    return s;
}

/* "5.0" for 5000 ms, "60" for 60000 ms: whole seconds without a fraction. */
static void fmt_seconds(char *buf, size_t n, int64_t ms)
{
    if (ms % 1000 == 0 && ms >= 10000)
        snprintf(buf, n, "%lld", (long long)(ms / 1000));
    else
        snprintf(buf, n, "%.1f", (double)ms / 1000.0);
}

static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static wr_caction *push_action(wr_cluster *c, wr_caction_kind kind, int worker, const char *job_id,
                               uint32_t attempt)
{
    wr_caction *a;

    if (c->head == c->nactions)
        c->head = c->nactions = 0;
    if (c->nactions == c->capactions) {
        if (c->head > 0) {
            memmove(c->actions, c->actions + c->head,
                    (size_t)(c->nactions - c->head) * sizeof *c->actions);
            c->nactions -= c->head;
            c->head = 0;
        } else {
            int cap = c->capactions ? c->capactions * 2 : 16;
            wr_caction *na = realloc(c->actions, (size_t)cap * sizeof *na);
            if (!na)
                return NULL; /* dropped: see the file comment */
            c->actions = na;
            c->capactions = cap;
        }
    }
    a = &c->actions[c->nactions++];
    memset(a, 0, sizeof *a);
    a->kind = kind;
    a->worker = worker;
    if (job_id)
        snprintf(a->job_id, sizeof a->job_id, "%s", job_id);
    a->attempt = attempt;
    return a;
}

static wr_cjob *find_job(const wr_cluster *c, const char *id)
{
    if (!id)
        return NULL;
    for (int i = 0; i < c->njobs; i++)
        if (strcmp(c->jobs[i]->id, id) == 0)
            return c->jobs[i];
    return NULL;
}

static int subtasks_on(const wr_cjob *j, int w)
{
    int n = 0;
    for (int i = 0; i < j->parallelism; i++)
        n += j->worker_of[i] == w;
    return n;
}

static wr_cdeploy *deploy_on(wr_cjob *j, int w)
{
    for (int d = 0; d < j->ndeploys; d++)
        if (j->deploys[d].worker == w)
            return &j->deploys[d];
    return NULL;
}

static void save_job(wr_cluster *c, const wr_cjob *j)
{
    push_action(c, WR_CACT_SAVE_JOB, -1, j->id, j->attempt);
}

static void set_state(wr_cluster *c, wr_cjob *j, int64_t now, wr_cjob_state s)
{
    j->state = s;
    j->state_since = now;
    if (s != WR_CJOB_RUNNING && wr_ckc_running(j->ck))
        wr_ckc_stop(j->ck, now, s == WR_CJOB_FINISHED ? "job finished" : "job no longer running");
    save_job(c, j);
}

/* Replaces j->failure with reason (owned; NULL keeps the old one). */
static void set_failure(wr_cjob *j, char *reason)
{
    if (!reason)
        return;
    free(j->failure);
    j->failure = reason;
}

static void free_deploys(wr_cjob *j)
{
    for (int d = 0; d < j->ndeploys; d++)
        free(j->deploys[d].message);
    free(j->deploys);
    j->deploys = NULL;
    j->ndeploys = 0;
}

static void free_job(wr_cjob *j)
{
    if (!j)
        return;
    free(j->name);
    free(j->spec_yaml);
    free(j->spec_name);
    free(j->failure);
    free(j->worker_of);
    free(j->parts);
    free(j->checkpoint_storage);
    free(j->fail_times);
    wr_ckc_free(j->ck);
    free_deploys(j);
    free(j);
}

/* ---- lifecycle ---- */

wr_cluster *wr_cluster_new(const wr_cluster_config *cfg)
{
    wr_cluster *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    if (cfg)
        c->cfg = *cfg;
    else
        wr_cluster_config_defaults(&c->cfg);
    c->id_state = c->cfg.id_seed;
    return c;
}

void wr_cluster_free(wr_cluster *c)
{
    if (!c)
        return;
    for (int w = 0; w < c->nworkers; w++) {
        free(c->workers[w].address);
        free(c->workers[w].host);
        free(c->workers[w].version);
    }
    free(c->workers);
    for (int i = 0; i < c->njobs; i++)
        free_job(c->jobs[i]);
    free(c->jobs);
    free(c->actions);
    free(c);
}

/* ---- job state machine ---- */

static bool all_terminal(const wr_cjob *j)
{
    for (int d = 0; d < j->ndeploys; d++)
        if (!task_terminal(j->deploys[d].state))
            return false;
    return true;
}

static bool all_running(const wr_cjob *j)
{
    for (int d = 0; d < j->ndeploys; d++)
        if (j->deploys[d].state != WR_CTASK_RUNNING)
            return false;
    return j->ndeploys > 0;
}

static bool all_finished(const wr_cjob *j)
{
    for (int d = 0; d < j->ndeploys; d++)
        if (j->deploys[d].state != WR_CTASK_FINISHED)
            return false;
    return j->ndeploys > 0;
}

/* Queues a Cancel to every deployment of the current attempt that is not terminal. */
static void cancel_live_deploys(wr_cluster *c, wr_cjob *j)
{
    for (int d = 0; d < j->ndeploys; d++)
        if (!task_terminal(j->deploys[d].state))
            push_action(c, WR_CACT_CANCEL, j->deploys[d].worker, j->id, j->attempt);
}

/* Failures of j within the failure-rate interval ending now. */
static int recent_failures(const wr_cluster *c, const wr_cjob *j, int64_t now)
{
    int n = 0;
    for (int i = 0; i < j->nfail_times; i++)
        n += now - j->fail_times[i] < c->cfg.failure_rate_interval_ms;
    return n;
}

/* Remembers a failure of j at `now` (for the failure rate and for placement). */
static void note_failure(wr_cluster *c, wr_cjob *j, int64_t now)
{
    int cap = c->cfg.max_failures_per_interval + 1;

    j->failed_at = now;
    if (cap < 1 || !j->fail_times)
        return;
    if (j->nfail_times < cap) {
        j->fail_times[j->nfail_times++] = now;
        return;
    }
    memmove(j->fail_times, j->fail_times + 1, (size_t)(cap - 1) * sizeof *j->fail_times);
    j->fail_times[cap - 1] = now;
}

/* The restart strategy, once a failed attempt has stopped everywhere: RESTARTING after
 * the backoff, or FAILED when the failure rate or max_restarts is exceeded. */
static void restart_or_fail(wr_cluster *c, wr_cjob *j, int64_t now)
{
    const wr_cluster_config *cfg = &c->cfg;
    int recent = recent_failures(c, j, now);
    char secs[32];
    int64_t delay;

    if (cfg->max_failures_per_interval >= 0 && recent > cfg->max_failures_per_interval) {
        fmt_seconds(secs, sizeof secs, cfg->failure_rate_interval_ms);
        set_failure(j, dup_printf("%d failures within %s s exceed the failure rate limit "
                                  "(max %d); last failure: %s",
                                  recent, secs, cfg->max_failures_per_interval,
                                  j->failure ? j->failure : "unknown"));
        set_state(c, j, now, WR_CJOB_FAILED);
        return;
    }
    if (cfg->max_restarts >= 0 && j->restarts >= cfg->max_restarts) {
        set_failure(j, dup_printf("restarted %d times; last failure: %s", j->restarts,
                                  j->failure ? j->failure : "unknown"));
        set_state(c, j, now, WR_CJOB_FAILED);
        return;
    }
    if (j->deployed_at && j->failed_at - j->deployed_at >= cfg->restart_reset_ms)
        j->consecutive = 0;
    delay = cfg->restart_delay_ms;
    for (int i = 0; i < j->consecutive && delay < cfg->restart_delay_max_ms; i++)
        delay = (int64_t)((double)delay *
                          (cfg->restart_multiplier > 1.0 ? cfg->restart_multiplier : 1.0));
    if (delay > cfg->restart_delay_max_ms)
        delay = cfg->restart_delay_max_ms;
    j->consecutive++;
    set_state(c, j, now, WR_CJOB_RESTARTING);
    j->restart_at = now + delay;
    j->waiting_since = j->restart_at;
}

/* Moves a FAILING or CANCELING job on once every deployment is terminal; a RUNNING job
 * once every deployment finished. */
static void job_settle(wr_cluster *c, wr_cjob *j, int64_t now)
{
    switch (j->state) {
    case WR_CJOB_RUNNING:
        if (all_finished(j))
            set_state(c, j, now, WR_CJOB_FINISHED);
        break;
    case WR_CJOB_FAILING:
        if (!all_terminal(j))
            break;
        restart_or_fail(c, j, now);
        break;
    case WR_CJOB_CANCELING:
        if (all_terminal(j))
            set_state(c, j, now, WR_CJOB_CANCELED);
        break;
    default:
        break;
    }
}

/* A deployment of j ended in `state` (reason: owned, the job's failure if it fails the
 * job). The caller has already released its slots. */
static void deploy_ended(wr_cluster *c, wr_cjob *j, int64_t now, wr_ctask_state state, char *reason)
{
    if (j->state == WR_CJOB_RUNNING && state != WR_CTASK_FINISHED) {
        set_failure(j, reason);
        reason = NULL;
        note_failure(c, j, now);
        set_state(c, j, now, WR_CJOB_FAILING);
        cancel_live_deploys(c, j);
    }
    free(reason);
    job_settle(c, j, now);
}

/* Marks the deployment d of j on a worker that is gone (lost or restarted) FAILED. The
 * caller accounts for the slots. */
static void deploy_gone(wr_cluster *c, wr_cjob *j, wr_cdeploy *d, int64_t now, const char *why)
{
    d->state = WR_CTASK_FAILED;
    free(d->message);
    d->message = strdup(why);
    deploy_ended(c, j, now, WR_CTASK_FAILED, strdup(why));
}

/* Fails every live deployment on worker w ("worker W lost: ..."). */
static void worker_gone(wr_cluster *c, int w, int64_t now, const char *why)
{
    for (int i = 0; i < c->njobs; i++) {
        wr_cjob *j = c->jobs[i];
        wr_cdeploy *d;
        if (wr_cjob_state_terminal(j->state))
            continue;
        d = deploy_on(j, w);
        if (!d || task_terminal(d->state))
            continue;
        c->workers[w].used -= subtasks_on(j, w);
        deploy_gone(c, j, d, now, why);
    }
}

/* Deploys the next attempt of j if the alive workers have enough free slots. On failure
 * (not enough slots, out of memory) nothing changes and eb says why. */
static wr_err try_deploy(wr_cluster *c, wr_cjob *j, int64_t now, wr_errbuf *eb)
{
    wr_sched_worker *sw = NULL;
    int *place = NULL, *owner = NULL;
    int32_t *pids = NULL;
    wr_cdeploy *deploys = NULL;
    int ndeploys = 0;
    wr_err err = WR_ENOMEM;

    sw = calloc((size_t)(c->nworkers ? c->nworkers : 1), sizeof *sw);
    place = calloc((size_t)j->parallelism, sizeof *place);
    owner = calloc((size_t)(j->nparts ? j->nparts : 1), sizeof *owner);
    pids = calloc((size_t)(j->nparts ? j->nparts : 1), sizeof *pids);
    if (!sw || !place || !owner || !pids) {
        wr_fail(eb, WR_ENOMEM, "out of memory deploying job '%s'", j->id);
        goto out;
    }
    for (int w = 0; w < c->nworkers; w++) {
        sw[w].slots = c->workers[w].slots;
        sw[w].used = c->workers[w].used;
        /* after a failure, only workers heard from since: a worker that died with the
         * attempt may not be known as lost yet */
        sw[w].alive = c->workers[w].alive &&
                      (j->failed_at == 0 || c->workers[w].last_heartbeat >= j->failed_at);
    }
    err = wr_sched_place(sw, c->nworkers, j->parallelism, place, eb);
    if (err)
        goto out;

    /* one deployment per distinct worker, in worker order */
    for (int w = 0; w < c->nworkers; w++)
        for (int i = 0; i < j->parallelism; i++)
            if (place[i] == w) {
                ndeploys++;
                break;
            }
    deploys = calloc((size_t)ndeploys, sizeof *deploys);
    if (!deploys) {
        err = wr_fail(eb, WR_ENOMEM, "out of memory deploying job '%s'", j->id);
        goto out;
    }
    ndeploys = 0;
    for (int w = 0; w < c->nworkers; w++) {
        int n = 0;
        for (int i = 0; i < j->parallelism; i++)
            n += place[i] == w;
        if (n == 0)
            continue;
        deploys[ndeploys].worker = w;
        deploys[ndeploys].state = WR_CTASK_DEPLOYING;
        deploys[ndeploys].stats.watermark = INT64_MIN;
        ndeploys++;
        c->workers[w].used += n;
    }

    /* from here on nothing fails */
    for (int k = 0; k < j->nparts; k++)
        pids[k] = j->parts[k].partition;
    wr_sched_assign_partitions(pids, j->nparts, j->parallelism, owner);
    for (int k = 0; k < j->nparts; k++)
        j->parts[k].subtask = owner[k];
    memcpy(j->worker_of, place, (size_t)j->parallelism * sizeof *place);
    free_deploys(j);
    j->deploys = deploys;
    j->ndeploys = ndeploys;
    deploys = NULL;
    j->attempt++;
    j->stopping = false;
    j->deployed_at = now;
    {
        const wr_ck_entry *latest = wr_ckc_latest(j->ck);
        j->restored_from = latest ? latest->id : 0;
    }
    set_state(c, j, now, WR_CJOB_RUNNING);
    for (int d = 0; d < j->ndeploys; d++)
        push_action(c, WR_CACT_DEPLOY, j->deploys[d].worker, j->id, j->attempt);
    err = WR_OK;
out:
    free(sw);
    free(place);
    free(owner);
    free(pids);
    free(deploys);
    return err;
}

/* ---- events ---- */

wr_err wr_cluster_register(wr_cluster *c, int64_t now, const char *id, const char *address,
                           int slots, const char *host, const char *version, wr_errbuf *eb)
{
    char *a, *h, *v;
    int w;

    if (!id || !*id)
        return wr_fail(eb, WR_EINVAL, "a worker needs an id");
    if (strlen(id) >= WR_CLUSTER_ID_MAX)
        return wr_fail(eb, WR_EINVAL, "worker id '%.20s...' is longer than %d characters", id,
                       WR_CLUSTER_ID_MAX - 1);
    if (slots < 1)
        return wr_fail(eb, WR_EINVAL, "worker '%s' offers %d slots; it needs at least 1", id,
                       slots);
    a = dup_or_empty(address);
    h = dup_or_empty(host);
    v = dup_or_empty(version);
    if (!a || !h || !v) {
        free(a);
        free(h);
        free(v);
        return wr_fail(eb, WR_ENOMEM, "out of memory registering worker '%s'", id);
    }

    w = wr_cluster_find_worker(c, id);
    if (w < 0) {
        if (c->nworkers == c->capworkers) {
            int cap = c->capworkers ? c->capworkers * 2 : 8;
            wr_cworker *nw = realloc(c->workers, (size_t)cap * sizeof *nw);
            if (!nw) {
                free(a);
                free(h);
                free(v);
                return wr_fail(eb, WR_ENOMEM, "out of memory registering worker '%s'", id);
            }
            c->workers = nw;
            c->capworkers = cap;
        }
        w = c->nworkers++;
        memset(&c->workers[w], 0, sizeof c->workers[w]);
        snprintf(c->workers[w].id, sizeof c->workers[w].id, "%s", id);
    } else {
        free(c->workers[w].address);
        free(c->workers[w].host);
        free(c->workers[w].version);
        c->workers[w].address = c->workers[w].host = c->workers[w].version = NULL;
    }
    {
        wr_cworker *wk = &c->workers[w];
        wk->address = a;
        wk->host = h;
        wk->version = v;
        wk->slots = slots;
        wk->registered_at = now;
        wk->last_heartbeat = now;
    }
    push_action(c, WR_CACT_REGISTER_ACK, w, NULL, 0);

    if (c->workers[w].alive) {
        /* a fresh process: whatever ran there is gone */
        char why[WR_CLUSTER_ID_MAX + 32];
        snprintf(why, sizeof why, "worker %s restarted", id);
        worker_gone(c, w, now, why);
    }
    c->workers[w].alive = true;
    c->workers[w].used = 0; /* already 0 by the invariant; a restart starts clean */
    return WR_OK;
}

static void pump_checkpoints(wr_cluster *c, wr_cjob *j, int64_t now);

static void apply_report(wr_cluster *c, int64_t now, int w, const wr_creport *r)
{
    wr_cjob *j = find_job(c, r->job_id);
    wr_cdeploy *d = NULL;
    wr_ctask_state was;

    if (j && !wr_cjob_state_terminal(j->state) && r->attempt == j->attempt)
        d = deploy_on(j, w);
    if (!d || task_terminal(d->state)) {
        /* not a deployment the cluster considers live: stop it if it runs */
        if (task_active(r->state) && r->job_id)
            push_action(c, WR_CACT_CANCEL, w, r->job_id, r->attempt);
        return;
    }
    /* being stopped but still running: the Cancel may have been lost, send it again */
    if ((j->state == WR_CJOB_FAILING || j->state == WR_CJOB_CANCELING) && task_active(r->state))
        push_action(c, WR_CACT_CANCEL, w, j->id, j->attempt);

    d->stats = r->stats;
    if (r->message && *r->message) {
        char *m = strdup(r->message);
        if (m) {
            free(d->message);
            d->message = m;
        }
    }
    was = d->state;
    if (r->state == WR_CTASK_UNKNOWN || r->state == was)
        return;
    if (task_active(r->state)) {
        d->state = r->state;
        if (r->state == WR_CTASK_RUNNING && j->state == WR_CJOB_RUNNING && !j->stopping &&
            all_running(j))
            wr_ckc_start(j->ck, now, j->attempt);
        return;
    }
    if (r->state == WR_CTASK_FAILED && r->corrupt_checkpoint > 0) {
        wr_ckc_mark_corrupt(j->ck, r->corrupt_checkpoint,
                            r->message && *r->message ? r->message : "checksum mismatch");
        pump_checkpoints(c, j, now);
    }
    if (!task_terminal(r->state))
        return; /* not a state we know */

    d->state = r->state;
    c->workers[w].used -= subtasks_on(j, w);
    {
        const char *id = c->workers[w].id;
        char *reason = NULL;
        if (r->state == WR_CTASK_FAILED)
            reason =
                dup_printf("worker %s: %s", id, r->message && *r->message ? r->message : "failed");
        else if (r->state == WR_CTASK_CANCELED)
            reason =
                dup_printf("worker %s: canceled%s%s", id, r->message && *r->message ? ": " : "",
                           r->message ? r->message : "");
        deploy_ended(c, j, now, r->state, reason);
    }
}

bool wr_cluster_heartbeat(wr_cluster *c, int64_t now, const char *worker_id,
                          const wr_creport *reports, int nreports)
{
    int w = wr_cluster_find_worker(c, worker_id);
    if (w < 0 || !c->workers[w].alive)
        return false;
    c->workers[w].last_heartbeat = now;
    for (int i = 0; i < nreports; i++)
        apply_report(c, now, w, &reports[i]);
    return true;
}

void wr_cluster_report(wr_cluster *c, int64_t now, const char *worker_id, const wr_creport *r)
{
    int w = wr_cluster_find_worker(c, worker_id);
    if (w < 0 || !c->workers[w].alive || !r)
        return;
    apply_report(c, now, w, r);
}

/* A job from a submission (no id, state CREATED); NULL on OOM. */
static wr_cjob *new_job(wr_cluster *c, const wr_csubmit *s)
{
    wr_cjob *j = calloc(1, sizeof *j);
    wr_ckc_config ckcfg;
    int nfail = c->cfg.max_failures_per_interval + 1;

    if (!j)
        return NULL;
    if (s->checkpoint)
        ckcfg = *s->checkpoint;
    else {
        wr_ckc_config_defaults(&ckcfg);
        ckcfg.interval_ms = 0;
    }
    j->checkpoint = ckcfg;
    j->name = dup_or_empty(s->name);
    j->spec_yaml = dup_or_empty(s->spec_yaml);
    j->spec_name = dup_or_empty(s->spec_name);
    j->checkpoint_storage = dup_or_empty(s->checkpoint_storage);
    j->parallelism = s->parallelism;
    j->worker_of = malloc((size_t)s->parallelism * sizeof *j->worker_of);
    j->nparts = s->nparts;
    j->parts = calloc((size_t)(s->nparts ? s->nparts : 1), sizeof *j->parts);
    j->fail_times = calloc((size_t)(nfail > 0 ? nfail : 1), sizeof *j->fail_times);
    j->ck = wr_ckc_new(&ckcfg, 2 * s->parallelism, 1);
    if (!j->name || !j->spec_yaml || !j->spec_name || !j->worker_of || !j->parts ||
        !j->checkpoint_storage || !j->fail_times || !j->ck) {
        free_job(j);
        return NULL;
    }
    for (int i = 0; i < s->parallelism; i++)
        j->worker_of[i] = -1;
    for (int k = 0; k < s->nparts; k++) {
        j->parts[k] = s->parts[k];
        j->parts[k].subtask = -1;
    }
    return j;
}

static void next_job_id(wr_cluster *c, char id[WR_CLUSTER_ID_MAX])
{
    do
        snprintf(id, WR_CLUSTER_ID_MAX, "%012" PRIx64,
                 splitmix64(&c->id_state) & UINT64_C(0xffffffffffff));
    while (find_job(c, id));
}

wr_err wr_cluster_submit(wr_cluster *c, int64_t now, const wr_csubmit *s,
                         char id_out[WR_CLUSTER_ID_MAX], wr_errbuf *eb)
{
    wr_cjob *j;
    wr_errbuf ignored;

    if (!s || s->parallelism < 1)
        return wr_fail(eb, WR_EINVAL, "parallelism must be at least 1, not %d",
                       s ? s->parallelism : 0);
    if (s->nparts < 0 || (s->nparts > 0 && !s->parts))
        return wr_fail(eb, WR_EINVAL, "invalid partition list");
    for (int k = 0; k < s->nparts; k++)
        if (s->parts[k].partition < 0)
            return wr_fail(eb, WR_EINVAL, "invalid partition %d", (int)s->parts[k].partition);
    if (c->njobs == c->capjobs) {
        int cap = c->capjobs ? c->capjobs * 2 : 8;
        wr_cjob **nj = realloc(c->jobs, (size_t)cap * sizeof *nj);
        if (!nj)
            return wr_fail(eb, WR_ENOMEM, "out of memory submitting a job");
        c->jobs = nj;
        c->capjobs = cap;
    }
    if (s->checkpoint && s->checkpoint->interval_ms > 0 &&
        (!s->checkpoint_storage || !*s->checkpoint_storage))
        return wr_fail(eb, WR_EINVAL,
                       "checkpoint.storage: checkpoints are on (interval %lld ms) but no storage "
                       "is set (in the job or the coordinator's --checkpoint-storage)",
                       (long long)s->checkpoint->interval_ms);
    j = new_job(c, s);
    if (!j)
        return wr_fail(eb, WR_ENOMEM, "out of memory submitting a job");
    j->state = WR_CJOB_CREATED;
    j->submitted_at = j->state_since = j->waiting_since = now;
    next_job_id(c, j->id);
    c->jobs[c->njobs++] = j;

    (void)try_deploy(c, j, now, &ignored); /* else a later tick deploys it */
    snprintf(id_out, WR_CLUSTER_ID_MAX, "%s", j->id);
    return WR_OK;
}

wr_err wr_cluster_cancel(wr_cluster *c, int64_t now, const char *job_id, wr_errbuf *eb)
{
    wr_cjob *j = find_job(c, job_id);
    if (!j)
        return wr_fail(eb, WR_ENOTFOUND, "unknown job '%s'", job_id ? job_id : "");
    switch (j->state) {
    case WR_CJOB_CREATED:
    case WR_CJOB_RESTARTING:
        set_state(c, j, now, WR_CJOB_CANCELED);
        break;
    case WR_CJOB_RUNNING:
    case WR_CJOB_FAILING:
        set_state(c, j, now, WR_CJOB_CANCELING);
        cancel_live_deploys(c, j);
        job_settle(c, j, now);
        break;
    case WR_CJOB_CANCELING:
        break; /* already on its way */
    case WR_CJOB_CANCELED:
    case WR_CJOB_FAILED:
    case WR_CJOB_FINISHED:
        return wr_fail(eb, WR_EINVAL, "job '%s' is already %s", j->id,
                       wr_cjob_state_name(j->state));
    }
    return WR_OK;
}

wr_err wr_cluster_stop(wr_cluster *c, int64_t now, const char *job_id, wr_errbuf *eb)
{
    wr_cjob *j = find_job(c, job_id);
    if (!j)
        return wr_fail(eb, WR_ENOTFOUND, "unknown job '%s'", job_id ? job_id : "");
    switch (j->state) {
    case WR_CJOB_CREATED:
    case WR_CJOB_RESTARTING:
        /* nothing runs: there is nothing in flight to finish */
        set_state(c, j, now, WR_CJOB_CANCELED);
        break;
    case WR_CJOB_RUNNING:
        if (j->stopping)
            break;
        j->stopping = true;
        wr_ckc_stop(j->ck, now, "job stopping");
        for (int i = 0; i < j->ndeploys; i++) {
            if (!task_terminal(j->deploys[i].state))
                push_action(c, WR_CACT_STOP, j->deploys[i].worker, j->id, j->attempt);
        }
        break;
    case WR_CJOB_FAILING:
    case WR_CJOB_CANCELING:
        break; /* it ends anyway */
    case WR_CJOB_CANCELED:
    case WR_CJOB_FAILED:
    case WR_CJOB_FINISHED:
        return wr_fail(eb, WR_EINVAL, "job '%s' is already %s", j->id,
                       wr_cjob_state_name(j->state));
    }
    return WR_OK;
}

/* A job that waits for slots: deploys it, or fails it once it waited too long. */
static void schedule_waiting(wr_cluster *c, wr_cjob *j, int64_t now)
{
    wr_errbuf eb;
    char secs[32];
    bool restarting = j->state == WR_CJOB_RESTARTING;

    eb.msg[0] = '\0';
    if (restarting && now < j->restart_at)
        return;
    if (try_deploy(c, j, now, &eb) == WR_OK) {
        if (restarting)
            j->restarts++;
        return;
    }
    if (now - j->waiting_since <= c->cfg.slot_timeout_ms)
        return;
    fmt_seconds(secs, sizeof secs, c->cfg.slot_timeout_ms);
    if (restarting && j->failure)
        set_failure(j, dup_printf("%s for %s s; last failure: %s", eb.msg, secs, j->failure));
    else
        set_failure(j, dup_printf("%s for %s s", eb.msg, secs));
    set_state(c, j, now, WR_CJOB_FAILED);
}

void wr_cluster_tick(wr_cluster *c, int64_t now)
{
    for (int w = 0; w < c->nworkers; w++) {
        wr_cworker *wk = &c->workers[w];
        char why[WR_CLUSTER_ID_MAX + 64], secs[32];
        int64_t silent = now - wk->last_heartbeat;

        if (!wk->alive || silent <= c->cfg.heartbeat_timeout_ms)
            continue;
        wk->alive = false;
        fmt_seconds(secs, sizeof secs, silent);
        snprintf(why, sizeof why, "worker %s lost: no heartbeat for %s s", wk->id, secs);
        worker_gone(c, w, now, why);
        c->workers[w].used = 0;
    }
    for (int i = 0; i < c->njobs; i++) {
        wr_cjob *j = c->jobs[i];
        if (j->state == WR_CJOB_CREATED || j->state == WR_CJOB_RESTARTING)
            schedule_waiting(c, j, now);
        wr_ckc_tick(j->ck, now);
        pump_checkpoints(c, j, now);
    }
}

/* ---- checkpoints ---- */

/* Turns the checkpoint coordinator's actions into the cluster's. */
static void pump_checkpoints(wr_cluster *c, wr_cjob *j, int64_t now)
{
    wr_cka a;

    while (wr_ckc_next_action(j->ck, &a)) {
        wr_caction *x;
        switch (a.kind) {
        case WR_CKA_TRIGGER:
            for (int d = 0; d < j->ndeploys; d++) {
                if (task_terminal(j->deploys[d].state))
                    continue;
                x = push_action(c, WR_CACT_TRIGGER, j->deploys[d].worker, j->id, j->attempt);
                if (x)
                    x->checkpoint_id = a.id;
            }
            save_job(c, j); /* the next checkpoint id */
            break;
        case WR_CKA_COMPLETE:
            x = push_action(c, WR_CACT_CK_COMPLETE, -1, j->id, j->attempt);
            if (x)
                x->checkpoint_id = a.id;
            break;
        case WR_CKA_DISCARD:
            x = push_action(c, WR_CACT_CK_DISCARD, -1, j->id, j->attempt);
            if (x)
                x->checkpoint_id = a.id;
            break;
        case WR_CKA_DELETE:
            x = push_action(c, WR_CACT_CK_DELETE, -1, j->id, j->attempt);
            if (x)
                snprintf(x->path, sizeof x->path, "%s", a.path ? a.path : "");
            break;
        case WR_CKA_FAIL_JOB:
            if (j->state == WR_CJOB_RUNNING) {
                set_failure(j, dup_or_empty(a.reason));
                note_failure(c, j, now);
                set_state(c, j, now, WR_CJOB_FAILING);
                cancel_live_deploys(c, j);
                job_settle(c, j, now);
            }
            break;
        }
    }
}

void wr_cluster_ck_ack(wr_cluster *c, int64_t now, const char *job_id, uint32_t attempt, int64_t id,
                       int task, const void *blob, size_t blob_len, const char *const *shared,
                       int nshared, uint64_t state_bytes, uint64_t uploaded_bytes)
{
    wr_cjob *j = find_job(c, job_id);
    if (!j)
        return;
    wr_ckc_ack(j->ck, now, attempt, id, task, blob, blob_len, shared, nshared, state_bytes,
               uploaded_bytes);
    pump_checkpoints(c, j, now);
}

void wr_cluster_ck_decline(wr_cluster *c, int64_t now, const char *job_id, uint32_t attempt,
                           int64_t id, const char *reason, bool finished)
{
    wr_cjob *j = find_job(c, job_id);
    if (!j)
        return;
    wr_ckc_decline(j->ck, now, attempt, id, reason ? reason : "declined", finished);
    pump_checkpoints(c, j, now);
}

wr_err wr_cluster_restore_job(wr_cluster *c, int64_t now, const wr_crestore *r, wr_errbuf *eb)
{
    wr_cjob *j;

    if (!r || !r->id || !*r->id || strlen(r->id) >= WR_CLUSTER_ID_MAX)
        return wr_fail(eb, WR_EINVAL, "restoring a job without a valid id");
    if (find_job(c, r->id))
        return wr_fail(eb, WR_EINVAL, "job '%s' is already known", r->id);
    if (r->submit.parallelism < 1)
        return wr_fail(eb, WR_EINVAL, "job '%s': parallelism %d", r->id, r->submit.parallelism);
    if (c->njobs == c->capjobs) {
        int cap = c->capjobs ? c->capjobs * 2 : 8;
        wr_cjob **nj = realloc(c->jobs, (size_t)cap * sizeof *nj);
        if (!nj)
            return wr_fail(eb, WR_ENOMEM, "out of memory restoring job '%s'", r->id);
        c->jobs = nj;
        c->capjobs = cap;
    }
    j = new_job(c, &r->submit);
    if (!j)
        return wr_fail(eb, WR_ENOMEM, "out of memory restoring job '%s'", r->id);
    snprintf(j->id, sizeof j->id, "%s", r->id);
    if (r->next_checkpoint_id > 1) {
        /* ids continue after the last one triggered, completed or not */
        wr_ckc *nc = wr_ckc_new(&j->checkpoint, 2 * j->parallelism, r->next_checkpoint_id);
        if (!nc) {
            free_job(j);
            return wr_fail(eb, WR_ENOMEM, "out of memory restoring job '%s'", r->id);
        }
        wr_ckc_free(j->ck);
        j->ck = nc;
    }
    for (int i = 0; i < r->ncheckpoints; i++) {
        const wr_crestored_ck *k = &r->checkpoints[i];
        wr_err e = wr_ckc_add_completed(j->ck, k->id, k->attempt, k->trigger_ms, k->end_ms,
                                        k->blobs, k->blob_lens, k->shared, k->nshared,
                                        k->state_bytes, k->uploaded_bytes);
        if (e) {
            free_job(j);
            return wr_fail(eb, e, "job '%s': cannot restore checkpoint %lld", r->id,
                           (long long)k->id);
        }
    }
    j->attempt = r->attempt;
    j->restarts = r->restarts;
    j->submitted_at = r->submitted_at;
    if (r->failure && *r->failure)
        set_failure(j, strdup(r->failure));
    c->jobs[c->njobs++] = j;
    pump_checkpoints(c, j, now); /* retention of what was loaded */
    if (wr_cjob_state_terminal(r->state)) {
        j->state = r->state;
        j->state_since = now;
        return WR_OK;
    }
    if (!j->failure)
        set_failure(j, strdup("coordinator restarted"));
    j->failed_at = now;
    set_state(c, j, now, WR_CJOB_RESTARTING);
    j->restart_at = now;
    j->waiting_since = now;
    return WR_OK;
}

bool wr_cluster_next_action(wr_cluster *c, wr_caction *out)
{
    if (c->head == c->nactions)
        return false;
    *out = c->actions[c->head++];
    return true;
}

/* ---- views ---- */

int wr_cluster_nworkers(const wr_cluster *c)
{
    return c->nworkers;
}

const wr_cworker *wr_cluster_worker(const wr_cluster *c, int i)
{
    return i >= 0 && i < c->nworkers ? &c->workers[i] : NULL;
}

int wr_cluster_find_worker(const wr_cluster *c, const char *id)
{
    if (!id)
        return -1;
    for (int w = 0; w < c->nworkers; w++)
        if (strcmp(c->workers[w].id, id) == 0)
            return w;
    return -1;
}

int wr_cluster_njobs(const wr_cluster *c)
{
    return c->njobs;
}

const wr_cjob *wr_cluster_job(const wr_cluster *c, int i)
{
    return i >= 0 && i < c->njobs ? c->jobs[i] : NULL;
}

const wr_cjob *wr_cluster_find_job(const wr_cluster *c, const char *id)
{
    return find_job(c, id);
}

void wr_cluster_job_stats(const wr_cjob *j, wr_cstats *out)
{
    wr_cstats s;
    int64_t wm = INT64_MAX;

    memset(&s, 0, sizeof s);
    for (int d = 0; d < j->ndeploys; d++) {
        const wr_cstats *x = &j->deploys[d].stats;
        s.records_in += x->records_in;
        s.records_out += x->records_out;
        s.filtered += x->filtered;
        s.dead_letters += x->dead_letters;
        s.bytes_in += x->bytes_in;
        s.late_records += x->late_records;
        s.late_updates += x->late_updates;
        s.windows_fired += x->windows_fired;
        s.retractions += x->retractions;
        s.state_evictions += x->state_evictions;
        s.state_db_writes += x->state_db_writes;
        s.state_db_reads += x->state_db_reads;
        s.state_cache_bytes += x->state_cache_bytes;
        s.backpressured_ms += x->backpressured_ms;
        if (x->windowed) {
            s.windowed = true;
            if (x->watermark < wm)
                wm = x->watermark;
        }
    }
    s.watermark = s.windowed ? wm : INT64_MIN;
    *out = s;
}
