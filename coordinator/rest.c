/*
 * rest.c — the REST API of docs/rest-api.md (rest.h): routing, request bodies, and the
 * JSON shapes of jobs, workers and stats (cJSON).
 *
 * Request flow (loop thread): MHD calls on_request once with the headers (a body
 * announced over WR_REST_MAX_BODY is refused with 413 right there), then once per body
 * chunk (collected into a wr_buf capped at WR_REST_MAX_BODY; an unannounced larger body
 * is drained and refused), then once more to answer. Every answer is one JSON object.
 * Beyond docs/rest-api.md: POST /v1/jobs/ID/stop (wr_cluster_stop; answers as cancel).
 *
 * Checkpoints (GET /v1/jobs/ID/checkpoints, and the "checkpoints" object of a job) are
 * read from the job's checkpoint coordinator (checkpoint.h), whose times are the
 * cluster's monotonic clock: they are shown as wall-clock ms (+ env.wall_offset_ms).
 */
#include "rest.h"

#include "buf.h"
#include "checkpoint.h"
#include "kafka.h"
#include "log.h"
#include "plan.h"
#include "spec.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define REST_NAME_MAX 256 /* longest `name` query parameter */

struct wr_rest {
    wr_rest_env env;
    uv_loop_t *loop;
    struct MHD_Daemon *mhd;
    int port;
    uv_poll_t poll;
    uv_timer_t timer;
    bool handles;
};

typedef struct req {
    wr_buf body;
    bool too_big;
} req;

/* ---------------------------------------------------------------- responses */

static enum MHD_Result reply_json(struct MHD_Connection *conn, unsigned status, cJSON *obj,
                                  const char *location)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;
    char *text = obj ? cJSON_PrintUnformatted(obj) : NULL;
    size_t len;

    cJSON_Delete(obj);
    if (!text)
        return MHD_NO; /* out of memory: MHD closes the connection */
    len = strlen(text);
    {
        char *t = realloc(text, len + 2);
        if (!t) {
            free(text);
            return MHD_NO;
        }
        text = t;
        text[len++] = '\n';
        text[len] = '\0';
    }
    resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    if (location)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, location);
    ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result reply_error(struct MHD_Connection *conn, unsigned status, const char *fmt,
                                   ...) __attribute__((format(printf, 3, 4)));

static enum MHD_Result reply_error(struct MHD_Connection *conn, unsigned status, const char *fmt,
                                   ...)
{
    cJSON *o = cJSON_CreateObject();
    char *msg = NULL;
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vasprintf(&msg, fmt, ap);
    va_end(ap);
    if (!o || n < 0 || !cJSON_AddStringToObject(o, "error", msg)) {
        free(msg);
        cJSON_Delete(o);
        return MHD_NO;
    }
    free(msg);
    return reply_json(conn, status, o, NULL);
}

/* ---------------------------------------------------------------- JSON shapes */

static void add_u64(cJSON *o, const char *k, uint64_t v)
{
    cJSON_AddNumberToObject(o, k, (double)v);
}

static void add_str_or_null(cJSON *o, const char *k, const char *v)
{
    if (v)
        cJSON_AddStringToObject(o, k, v);
    else
        cJSON_AddNullToObject(o, k);
}

static cJSON *stats_json(const wr_cstats *s)
{
    cJSON *o = cJSON_CreateObject();

    if (!o)
        return NULL;
    add_u64(o, "records_in", s->records_in);
    add_u64(o, "records_out", s->records_out);
    add_u64(o, "filtered", s->filtered);
    add_u64(o, "dead_letters", s->dead_letters);
    add_u64(o, "bytes_in", s->bytes_in);
    add_u64(o, "late_records", s->late_records);
    add_u64(o, "late_updates", s->late_updates);
    add_u64(o, "windows_fired", s->windows_fired);
    add_u64(o, "retractions", s->retractions);
    add_u64(o, "state_evictions", s->state_evictions);
    add_u64(o, "state_db_writes", s->state_db_writes);
    add_u64(o, "state_db_reads", s->state_db_reads);
    add_u64(o, "state_cache_bytes", s->state_cache_bytes);
    if (s->watermark == INT64_MIN)
        cJSON_AddNullToObject(o, "watermark");
    else
        cJSON_AddNumberToObject(o, "watermark", (double)s->watermark);
    cJSON_AddBoolToObject(o, "windowed", s->windowed);
    add_u64(o, "backpressured_ms", s->backpressured_ms);
    return o;
}

static cJSON *job_summary_json(const wr_rest *r, const wr_cjob *j)
{
    cJSON *o = cJSON_CreateObject();

    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "id", j->id);
    cJSON_AddStringToObject(o, "name", j->name ? j->name : "");
    cJSON_AddStringToObject(o, "state", wr_cjob_state_name(j->state));
    cJSON_AddNumberToObject(o, "parallelism", j->parallelism);
    cJSON_AddNumberToObject(o, "attempt", j->attempt);
    cJSON_AddNumberToObject(o, "restarts", j->restarts);
    cJSON_AddNumberToObject(o, "submitted_ms", (double)(j->submitted_at + r->env.wall_offset_ms));
    return o;
}

/* One checkpoint of the history (docs/rest-api.md CHECKPOINT). */
static cJSON *checkpoint_json(const wr_rest *r, const wr_ck_entry *e)
{
    cJSON *o = cJSON_CreateObject();

    if (!o)
        return NULL;
    cJSON_AddNumberToObject(o, "id", (double)e->id);
    cJSON_AddStringToObject(o, "status", wr_ck_status_name(e->status));
    cJSON_AddNumberToObject(o, "attempt", e->attempt);
    cJSON_AddNumberToObject(o, "trigger_unix_ms", (double)(e->trigger_ms + r->env.wall_offset_ms));
    if (e->status == WR_CK_PENDING)
        cJSON_AddNullToObject(o, "duration_ms");
    else
        cJSON_AddNumberToObject(o, "duration_ms", (double)(e->end_ms - e->trigger_ms));
    add_u64(o, "state_bytes", e->state_bytes);
    add_u64(o, "uploaded_bytes", e->uploaded_bytes);
    cJSON_AddNumberToObject(o, "acks", e->nacks);
    cJSON_AddNumberToObject(o, "tasks", e->ntasks);
    cJSON_AddBoolToObject(o, "retained", e->retained);
    cJSON_AddBoolToObject(o, "corrupt", e->corrupt);
    add_str_or_null(o, "reason", e->reason);
    return o;
}

/* checkpoint_json(e), or JSON null when e is NULL. */
static cJSON *checkpoint_or_null(const wr_rest *r, const wr_ck_entry *e)
{
    return e ? checkpoint_json(r, e) : cJSON_CreateNull();
}

static void add_restored_from(cJSON *o, const wr_cjob *j)
{
    if (j->restored_from > 0)
        cJSON_AddNumberToObject(o, "restored_from", (double)j->restored_from);
    else
        cJSON_AddNullToObject(o, "restored_from");
}

/* A job's "checkpoints" object: the newest history entry, the checkpoint a restart would
 * restore, the one this attempt restored, and the consecutive failures. A job without a
 * checkpoint coordinator (none yet) has none of them. */
static cJSON *job_checkpoints_json(const wr_rest *r, const wr_cjob *j)
{
    const wr_ckc *ck = j->ck;
    int n = ck ? wr_ckc_count(ck) : 0;
    cJSON *o = cJSON_CreateObject();

    if (!o)
        return NULL;
    cJSON_AddItemToObject(o, "last", checkpoint_or_null(r, n > 0 ? wr_ckc_entry(ck, n - 1) : NULL));
    cJSON_AddItemToObject(o, "latest_completed",
                          checkpoint_or_null(r, ck ? wr_ckc_latest(ck) : NULL));
    add_restored_from(o, j);
    cJSON_AddNumberToObject(o, "consecutive_failures", ck ? wr_ckc_failures(ck) : 0);
    return o;
}

static const wr_cdeploy *deploy_on(const wr_cjob *j, int worker)
{
    for (int i = 0; i < j->ndeploys; i++)
        if (j->deploys[i].worker == worker)
            return &j->deploys[i];
    return NULL;
}

static cJSON *job_json(const wr_rest *r, const wr_cjob *j)
{
    const wr_cluster *cl = r->env.cluster;
    cJSON *o = job_summary_json(r, j), *tasks, *deps;
    wr_cstats total;

    if (!o)
        return NULL;
    add_str_or_null(o, "failure", j->failure);
    cJSON_AddNumberToObject(o, "state_ms", (double)(r->env.now() - j->state_since));

    tasks = cJSON_AddArrayToObject(o, "tasks");
    for (int i = 0; tasks && i < j->parallelism; i++) {
        int wi = j->worker_of ? j->worker_of[i] : -1;
        const wr_cworker *w = wi >= 0 ? wr_cluster_worker(cl, wi) : NULL;
        const wr_cdeploy *d = w ? deploy_on(j, wi) : NULL;
        cJSON *t = cJSON_CreateObject(), *parts;

        if (!t)
            break;
        cJSON_AddItemToArray(tasks, t);
        cJSON_AddNumberToObject(t, "subtask", i);
        add_str_or_null(t, "worker", w ? w->id : NULL);
        add_str_or_null(t, "address", w ? w->address : NULL);
        add_str_or_null(t, "state", d ? wr_ctask_state_name(d->state) : NULL);
        parts = cJSON_AddArrayToObject(t, "partitions");
        for (int k = 0; parts && k < j->nparts; k++)
            if (j->parts[k].subtask == i)
                cJSON_AddItemToArray(parts, cJSON_CreateNumber(j->parts[k].partition));
    }

    deps = cJSON_AddArrayToObject(o, "deployments");
    for (int i = 0; deps && i < j->ndeploys; i++) {
        const wr_cdeploy *d = &j->deploys[i];
        const wr_cworker *w = wr_cluster_worker(cl, d->worker);
        cJSON *t = cJSON_CreateObject();

        if (!t)
            break;
        cJSON_AddItemToArray(deps, t);
        add_str_or_null(t, "worker", w ? w->id : NULL);
        cJSON_AddStringToObject(t, "state", wr_ctask_state_name(d->state));
        add_str_or_null(t, "message", d->message);
        cJSON_AddItemToObject(t, "stats", stats_json(&d->stats));
    }
    wr_cluster_job_stats(j, &total);
    cJSON_AddItemToObject(o, "stats", stats_json(&total));
    cJSON_AddItemToObject(o, "checkpoints", job_checkpoints_json(r, j));
    return o;
}

static cJSON *worker_json(const wr_rest *r, const wr_cworker *w)
{
    cJSON *o = cJSON_CreateObject();

    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "id", w->id);
    add_str_or_null(o, "address", w->address);
    add_str_or_null(o, "host", w->host);
    add_str_or_null(o, "version", w->version);
    cJSON_AddStringToObject(o, "state", w->alive ? "ALIVE" : "LOST");
    cJSON_AddNumberToObject(o, "slots", w->slots);
    cJSON_AddNumberToObject(o, "slots_used", w->used);
    cJSON_AddNumberToObject(o, "last_heartbeat_ms_ago", (double)(r->env.now() - w->last_heartbeat));
    return o;
}

/* ---------------------------------------------------------------- endpoints */

static enum MHD_Result get_jobs(wr_rest *r, struct MHD_Connection *conn)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *a = o ? cJSON_AddArrayToObject(o, "jobs") : NULL;
    int n = wr_cluster_njobs(r->env.cluster);

    if (!a) {
        cJSON_Delete(o);
        return MHD_NO;
    }
    for (int i = 0; i < n; i++)
        cJSON_AddItemToArray(a, job_summary_json(r, wr_cluster_job(r->env.cluster, i)));
    return reply_json(conn, MHD_HTTP_OK, o, NULL);
}

static enum MHD_Result get_job(wr_rest *r, struct MHD_Connection *conn, const char *id)
{
    const wr_cjob *j = wr_cluster_find_job(r->env.cluster, id);

    if (!j)
        return reply_error(conn, MHD_HTTP_NOT_FOUND, "unknown job '%s'", id);
    return reply_json(conn, MHD_HTTP_OK, job_json(r, j), NULL);
}

/* GET /v1/jobs/ID/checkpoints: counts over the kept history, the history newest first. */
static enum MHD_Result get_checkpoints(wr_rest *r, struct MHD_Connection *conn, const char *id)
{
    const wr_cjob *j = wr_cluster_find_job(r->env.cluster, id);
    int n, completed = 0, failed = 0, pending = 0;
    cJSON *o, *counts, *hist;

    if (!j)
        return reply_error(conn, MHD_HTTP_NOT_FOUND, "unknown job '%s'", id);
    n = j->ck ? wr_ckc_count(j->ck) : 0;
    o = cJSON_CreateObject();
    if (!o)
        return MHD_NO;
    cJSON_AddStringToObject(o, "job", j->id);
    counts = cJSON_AddObjectToObject(o, "counts");
    add_restored_from(o, j);
    cJSON_AddItemToObject(o, "latest_completed",
                          checkpoint_or_null(r, j->ck ? wr_ckc_latest(j->ck) : NULL));
    hist = cJSON_AddArrayToObject(o, "history");
    for (int i = n - 1; i >= 0; i--) {
        const wr_ck_entry *e = wr_ckc_entry(j->ck, i);

        completed += e->status == WR_CK_COMPLETED;
        failed += e->status == WR_CK_FAILED;
        pending += e->status == WR_CK_PENDING;
        if (hist)
            cJSON_AddItemToArray(hist, checkpoint_json(r, e));
    }
    if (!counts || !hist) {
        cJSON_Delete(o);
        return MHD_NO;
    }
    cJSON_AddNumberToObject(counts, "completed", completed);
    cJSON_AddNumberToObject(counts, "failed", failed);
    cJSON_AddNumberToObject(counts, "in_progress", pending);
    return reply_json(conn, MHD_HTTP_OK, o, NULL);
}

/* POST /v1/jobs/ID/cancel (DELETE /v1/jobs/ID), or POST /v1/jobs/ID/stop (graceful). */
static enum MHD_Result end_job(wr_rest *r, struct MHD_Connection *conn, const char *id, bool stop)
{
    const wr_cjob *j;
    wr_errbuf eb;
    wr_err e;
    cJSON *o;

    if (stop)
        e = wr_cluster_stop(r->env.cluster, r->env.now(), id, &eb);
    else
        e = wr_cluster_cancel(r->env.cluster, r->env.now(), id, &eb);
    r->env.after_event(r->env.arg);
    if (e == WR_ENOTFOUND)
        return reply_error(conn, MHD_HTTP_NOT_FOUND, "%s", eb.msg);
    if (e != WR_OK)
        return reply_error(conn, MHD_HTTP_CONFLICT, "%s", eb.msg);
    j = wr_cluster_find_job(r->env.cluster, id);
    o = cJSON_CreateObject();
    if (!o || !j) {
        cJSON_Delete(o);
        return MHD_NO;
    }
    cJSON_AddStringToObject(o, "id", j->id);
    cJSON_AddStringToObject(o, "state", wr_cjob_state_name(j->state));
    return reply_json(conn, MHD_HTTP_ACCEPTED, o, NULL);
}

static enum MHD_Result get_workers(wr_rest *r, struct MHD_Connection *conn)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *a = o ? cJSON_AddArrayToObject(o, "workers") : NULL;
    int n = wr_cluster_nworkers(r->env.cluster);

    if (!a) {
        cJSON_Delete(o);
        return MHD_NO;
    }
    for (int i = 0; i < n; i++)
        cJSON_AddItemToArray(a, worker_json(r, wr_cluster_worker(r->env.cluster, i)));
    return reply_json(conn, MHD_HTTP_OK, o, NULL);
}

static enum MHD_Result get_health(struct MHD_Connection *conn)
{
    cJSON *o = cJSON_CreateObject();

    if (!o)
        return MHD_NO;
    cJSON_AddStringToObject(o, "status", "ok");
    return reply_json(conn, MHD_HTTP_OK, o, NULL);
}

/* Every spec error, one "FILE:LINE:COL: field: message" per line. */
static enum MHD_Result reply_spec_errors(struct MHD_Connection *conn, const char *name, wr_err e,
                                         const wr_spec_diags *diags)
{
    enum MHD_Result ret;
    wr_buf b;

    if (diags->n == 0)
        return reply_error(conn, MHD_HTTP_BAD_REQUEST, "%s: %s", name, wr_strerror(e));
    wr_buf_init(&b, 0);
    for (int i = 0; i < diags->n; i++) {
        char line[1024];
        wr_spec_diag_format(name, &diags->items[i], line, sizeof line);
        if (wr_buf_printf(&b, "%s%s", i ? "\n" : "", line) != WR_OK) {
            wr_buf_fini(&b);
            return MHD_NO;
        }
    }
    ret = reply_error(conn, MHD_HTTP_BAD_REQUEST, "%.*s", (int)b.len, b.p);
    wr_buf_fini(&b);
    return ret;
}

static bool parse_parallelism(const char *s, int *out)
{
    char *end;
    long v;

    if (!s || !*s) {
        *out = 0;
        return true;
    }
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || *end || v < 0 || v > 1000000 || end == s)
        return false;
    *out = (int)v;
    return true;
}

static enum MHD_Result submit_job(wr_rest *r, struct MHD_Connection *conn, req *q)
{
    const char *name = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "name");
    const char *par = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "parallelism");
    char id[WR_CLUSTER_ID_MAX], location[WR_CLUSTER_ID_MAX + 16];
    wr_spec_diags diags = {0};
    wr_part_offsets *offs = NULL;
    wr_cpart *parts = NULL;
    wr_job_spec *spec = NULL;
    enum MHD_Result ret;
    const wr_cjob *j;
    int parallelism, n = 0;
    wr_csubmit s;
    wr_ckc_config ckcfg;
    wr_errbuf eb;
    wr_plan plan;
    wr_err e;
    cJSON *o;

    if (!name || !*name)
        name = "job.yaml";
    if (strlen(name) > REST_NAME_MAX)
        return reply_error(conn, MHD_HTTP_BAD_REQUEST, "name: longer than %d characters",
                           REST_NAME_MAX);
    if (!parse_parallelism(par, &parallelism))
        return reply_error(conn, MHD_HTTP_BAD_REQUEST, "parallelism: '%s' is not a whole number",
                           par);
    if (q->body.len == 0)
        return reply_error(conn, MHD_HTTP_BAD_REQUEST,
                           "empty request body: send the job file (YAML)");

    e = wr_spec_parse(name, q->body.p, q->body.len, &spec, &diags);
    if (e != WR_OK) {
        ret = reply_spec_errors(conn, name, e, &diags);
        goto out;
    }
    if (wr_plan_build(spec, parallelism, &plan, &eb) != WR_OK) {
        ret = reply_error(conn, MHD_HTTP_BAD_REQUEST, "%s: %s", name, eb.msg);
        goto out;
    }
    /* Blocks the loop for up to kafka_timeout_ms; workers' messages wait in the queue
     * and are handled (drain) before the job is accepted. */
    if (wr_kafka_resolve_offsets(spec, r->env.kafka_timeout_ms, &offs, &n, &eb) != WR_OK) {
        ret = reply_error(conn, MHD_HTTP_BAD_REQUEST, "%s", eb.msg);
        goto out;
    }
    r->env.drain(r->env.arg);
    parts = calloc(n > 0 ? (size_t)n : 1, sizeof *parts);
    if (!parts || wr_buf_putc(&q->body, '\0') != WR_OK) {
        ret = reply_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        goto out;
    }
    for (int i = 0; i < n; i++) {
        parts[i].partition = offs[i].partition;
        parts[i].subtask = -1;
        parts[i].start = offs[i].start;
        parts[i].stop = offs[i].stop;
    }
    {
        wr_ckc_config_defaults(&ckcfg);
        ckcfg.interval_ms = spec->checkpoint.interval_ms;
        ckcfg.timeout_ms = spec->checkpoint.timeout_ms;
        ckcfg.min_pause_ms = spec->checkpoint.min_pause_ms;
        ckcfg.retained = spec->checkpoint.retained;
        ckcfg.tolerable_failures = spec->checkpoint.tolerable_failures;
    }
    s = (wr_csubmit){.name = spec->name,
                     .spec_yaml = q->body.p,
                     .spec_name = name,
                     .parallelism = plan.parallelism,
                     .parts = parts,
                     .nparts = n,
                     .checkpoint = &ckcfg,
                     .checkpoint_storage = spec->checkpoint.storage ? spec->checkpoint.storage
                                                                    : r->env.checkpoint_storage};
    e = wr_cluster_submit(r->env.cluster, r->env.now(), &s, id, &eb);
    r->env.after_event(r->env.arg);
    if (e != WR_OK) {
        ret = reply_error(conn,
                          e == WR_EINVAL ? MHD_HTTP_BAD_REQUEST : MHD_HTTP_INTERNAL_SERVER_ERROR,
                          "%s", eb.msg);
        goto out;
    }
    j = wr_cluster_find_job(r->env.cluster, id);
    o = cJSON_CreateObject();
    if (!o || !j) {
        cJSON_Delete(o);
        ret = MHD_NO;
        goto out;
    }
    cJSON_AddStringToObject(o, "id", j->id);
    cJSON_AddStringToObject(o, "name", j->name ? j->name : "");
    cJSON_AddStringToObject(o, "state", wr_cjob_state_name(j->state));
    snprintf(location, sizeof location, "/v1/jobs/%s", j->id);
    ret = reply_json(conn, MHD_HTTP_CREATED, o, location);

out:
    free(parts);
    free(offs);
    wr_spec_diags_fini(&diags);
    wr_spec_free(spec);
    return ret;
}

static enum MHD_Result not_allowed(struct MHD_Connection *conn, const char *method, const char *url)
{
    return reply_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "%s is not allowed on %s", method, url);
}

static enum MHD_Result route(wr_rest *r, struct MHD_Connection *conn, const char *url,
                             const char *method, req *q)
{
    bool get = !strcmp(method, MHD_HTTP_METHOD_GET);
    bool post = !strcmp(method, MHD_HTTP_METHOD_POST);
    bool del = !strcmp(method, MHD_HTTP_METHOD_DELETE);

    if (!strcmp(url, "/v1/health"))
        return get ? get_health(conn) : not_allowed(conn, method, url);
    if (!strcmp(url, "/v1/workers"))
        return get ? get_workers(r, conn) : not_allowed(conn, method, url);
    if (!strcmp(url, "/v1/jobs")) {
        if (get)
            return get_jobs(r, conn);
        return post ? submit_job(r, conn, q) : not_allowed(conn, method, url);
    }
    if (!strncmp(url, "/v1/jobs/", 9) && url[9]) {
        const char *id = url + 9, *slash = strchr(id, '/');
        char buf[WR_CLUSTER_ID_MAX];

        if (!slash) {
            if (get)
                return get_job(r, conn, id);
            return del ? end_job(r, conn, id, false) : not_allowed(conn, method, url);
        }
        if ((!strcmp(slash, "/cancel") || !strcmp(slash, "/stop") ||
             !strcmp(slash, "/checkpoints")) &&
            slash > id) {
            bool checkpoints = !strcmp(slash, "/checkpoints");

            if (checkpoints ? !get : !post)
                return not_allowed(conn, method, url);
            if ((size_t)(slash - id) >= sizeof buf)
                return reply_error(conn, MHD_HTTP_NOT_FOUND, "unknown job '%.*s'",
                                   (int)(slash - id), id);
            memcpy(buf, id, (size_t)(slash - id));
            buf[slash - id] = '\0';
            if (checkpoints)
                return get_checkpoints(r, conn, buf);
            return end_job(r, conn, buf, !strcmp(slash, "/stop"));
        }
    }
    return reply_error(conn, MHD_HTTP_NOT_FOUND, "no such endpoint: %s %s", method, url);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    wr_rest *r = cls;
    req *q = *con_cls;

    if (!q) {
        const char *cl =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        q = calloc(1, sizeof *q);
        if (!q)
            return MHD_NO;
        wr_buf_init(&q->body, WR_REST_MAX_BODY + 1); /* + the NUL added at submit */
        *con_cls = q;
        if (cl && strtoull(cl, NULL, 10) > WR_REST_MAX_BODY)
            return reply_error(conn, MHD_HTTP_CONTENT_TOO_LARGE,
                               "request body over %u bytes (1 MiB)", WR_REST_MAX_BODY);
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (!q->too_big && (q->body.len + *upload_data_size > WR_REST_MAX_BODY ||
                            wr_buf_append(&q->body, upload_data, *upload_data_size) != WR_OK)) {
            q->too_big = true;
            wr_buf_fini(&q->body);
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (q->too_big)
        return reply_error(conn, MHD_HTTP_CONTENT_TOO_LARGE, "request body over %u bytes (1 MiB)",
                           WR_REST_MAX_BODY);
    return route(r, conn, url, method, q);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    req *q = *con_cls;

    if (!q)
        return;
    wr_buf_fini(&q->body);
    free(q);
    *con_cls = NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char line[512];
    size_t n;

    vsnprintf(line, sizeof line, fmt, ap);
    n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    wr_log(WR_LOG_WARN, "coordinator", "http: %s", line);
}

/* ---------------------------------------------------------------- the loop */

static void on_timer(uv_timer_t *t);

/* Runs MHD and arms the timer for its next deadline (loop thread). */
static void run_mhd(wr_rest *r)
{
    MHD_UNSIGNED_LONG_LONG ms = 0;

    MHD_run(r->mhd);
    if (MHD_get_timeout(r->mhd, &ms) == MHD_YES) {
        /* at least 1 ms so a connection MHD wants served "now" cannot spin the loop;
         * at most 1 s so nothing waits long on a missed wake-up */
        if (ms < 1)
            ms = 1;
        if (ms > 1000)
            ms = 1000;
        uv_timer_start(&r->timer, on_timer, (uint64_t)ms, 0);
    } else {
        uv_timer_start(&r->timer, on_timer, 1000, 0);
    }
}

static void on_timer(uv_timer_t *t)
{
    run_mhd(t->data);
}

static void on_poll(uv_poll_t *p, int status, int events)
{
    run_mhd(p->data);
}

/* Parses "HOST:PORT" ("[::1]:8081", ":8081" = every address) and binds a listening
 * socket: *fd_out and *family. */
static wr_err bind_http(const char *http, int *fd_out, int *family, wr_errbuf *eb)
{
    struct addrinfo hints = {0}, *ai = NULL;
    char host[256], port[16];
    const char *colon = strrchr(http, ':');
    size_t hlen;
    int fd, rv, one = 1;
    char *end;
    long pv;

    if (!colon || !colon[1] || strlen(colon + 1) >= sizeof port) {
        return wr_fail(eb, WR_EINVAL, "invalid REST address '%s': expected HOST:PORT", http);
    }
    pv = strtol(colon + 1, &end, 10);
    if (*end || pv < 0 || pv > 65535) {
        return wr_fail(eb, WR_EINVAL, "invalid REST address '%s': port must be 0..65535", http);
    }
    snprintf(port, sizeof port, "%ld", pv);
    hlen = (size_t)(colon - http);
    if (hlen >= 2 && http[0] == '[' && http[hlen - 1] == ']') {
        http++;
        hlen -= 2;
    }
    if (hlen >= sizeof host) {
        return wr_fail(eb, WR_EINVAL, "invalid REST address '%s': host name too long", http);
    }
    memcpy(host, http, hlen);
    host[hlen] = '\0';

    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    rv = getaddrinfo(hlen ? host : NULL, port, &hints, &ai);
    if (rv != 0) {
        return wr_fail(eb, WR_EIO, "cannot serve the REST API on %s:%s: %s", host, port,
                       gai_strerror(rv));
    }
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 64) != 0) {
        int err = errno;
        if (fd >= 0)
            close(fd);
        freeaddrinfo(ai);
        return wr_fail(eb, WR_EIO, "cannot serve the REST API on %s:%s: %s", host, port,
                       strerror(err));
    }
    *family = ai->ai_family;
    freeaddrinfo(ai);
    *fd_out = fd;
    return WR_OK;
}

static int bound_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;

    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        return -1;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return -1;
}

wr_err wr_rest_start(uv_loop_t *loop, const char *http, const wr_rest_env *env, wr_rest **out,
                     wr_errbuf *eb)
{
    const union MHD_DaemonInfo *info;
    unsigned flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
    int fd = -1, family = AF_INET;
    wr_rest *r;
    wr_err e;

    r = calloc(1, sizeof *r);
    if (!r)
        return wr_fail(eb, WR_ENOMEM, "out of memory");
    r->env = *env;
    r->loop = loop;
    /* Our own socket, so a failed bind says why (MHD only logs it). */
    e = bind_http(http, &fd, &family, eb);
    if (e != WR_OK) {
        free(r);
        return e;
    }
    r->port = bound_port(fd);
    if (family == AF_INET6)
        flags |= MHD_USE_IPv6;
    r->mhd =
        MHD_start_daemon(flags, 0, NULL, NULL, on_request, r, MHD_OPTION_EXTERNAL_LOGGER, mhd_log,
                         r, MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd, MHD_OPTION_NOTIFY_COMPLETED,
                         on_completed, r, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
                         MHD_OPTION_CONNECTION_LIMIT, (unsigned)128, MHD_OPTION_END);
    if (!r->mhd) {
        /* fd is not closed: whether MHD already closed it on this path is not
         * documented, and closing a number twice could close someone else's file */
        free(r);
        return wr_fail(eb, WR_EIO, "cannot serve the REST API on %s: libmicrohttpd failed to start",
                       http);
    }
    info = MHD_get_daemon_info(r->mhd, MHD_DAEMON_INFO_EPOLL_FD);
    if (!info || uv_poll_init(loop, &r->poll, info->epoll_fd) != 0) {
        MHD_stop_daemon(r->mhd);
        free(r);
        return wr_fail(eb, WR_EIO, "cannot serve the REST API on %s: no epoll fd", http);
    }
    uv_timer_init(loop, &r->timer);
    r->poll.data = r;
    r->timer.data = r;
    r->handles = true;
    uv_poll_start(&r->poll, UV_READABLE, on_poll);
    uv_timer_start(&r->timer, on_timer, 0, 0);
    *out = r;
    return WR_OK;
}

int wr_rest_port(const wr_rest *r)
{
    return r->port;
}

void wr_rest_close(wr_rest *r)
{
    if (!r || !r->handles)
        return;
    uv_close((uv_handle_t *)&r->poll, NULL);
    uv_close((uv_handle_t *)&r->timer, NULL);
    r->handles = false;
}

void wr_rest_free(wr_rest *r)
{
    if (!r)
        return;
    if (r->mhd)
        MHD_stop_daemon(r->mhd);
    free(r);
}
