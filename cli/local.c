/*
 * local.c — `weir local JOB.yaml`: run a whole job in this process, as a one-worker
 * cluster.
 *
 * The process starts an embedded coordinator (coord.h; the REST API on a free port of
 * 127.0.0.1, the worker endpoint on nng's inproc transport) and one embedded worker
 * (worker.h) with as many slots as the job's parallelism, submits the job through the REST
 * API and follows it there — the same code paths as weir-coordinator + weir-worker, only
 * without TCP between them. A local job is not restarted after a failure (max restarts 0).
 *
 * Progress goes to stderr every 2 s; the final summary to stderr, or as one JSON object on
 * stdout with --json. SIGINT/SIGTERM stop the job gracefully (sources stop reading,
 * everything in flight is written, sinks flush); a second signal cancels.
 * Exit status: 0 finished, 1 failed, 2 bad usage or job file.
 */
#include "cli-job.h"
#include "cli.h"
#include "coord.h"
#include "http.h"
#include "log.h"
#include "plan.h"
#include "worker.h"

#include <cjson/cJSON.h>
#include <malloc.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define POLL_MS 100
#define PROGRESS_MS 2000

static volatile sig_atomic_t signals_seen;

static void on_signal(int sig)
{
    (void)sig;
    signals_seen++;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Window state allocates and frees an entry per (key, window); glibc's default trims each
 * thread's heap as soon as 128 KiB are free at its top and maps it again moments later
 * (page faults, TLB shootdowns to the other cores). A long-running stream processor keeps
 * what it freed: trim only above 64 MiB. The memory bound is unchanged: the state cache's
 * budget counts what is live, and freed memory is reused. */
static void tune_malloc(void)
{
    mallopt(M_TRIM_THRESHOLD, 64 << 20);
    mallopt(M_TOP_PAD, 16 << 20);
}

static int usage(void)
{
    fprintf(stderr, "usage: weir local JOB.yaml [--parallelism N] [--kafka-timeout MS] [--json]\n");
    return 2;
}

/* The job's counters, from GET /v1/jobs/ID. */
typedef struct local_stats {
    char state[32];
    char failure[1024];
    uint64_t records_in, records_out, filtered, dead_letters, bytes_in;
    uint64_t late_records, late_updates, windows_fired, retractions;
    uint64_t state_evictions, state_db_writes, state_db_reads, state_cache_bytes;
    int64_t watermark;
    bool windowed;
    int partitions;
} local_stats;

static uint64_t num(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) && v->valuedouble > 0 ? (uint64_t)v->valuedouble : 0;
}

static bool parse_job(const char *body, local_stats *st)
{
    cJSON *j = cJSON_Parse(body);
    const cJSON *s, *v, *tasks;

    if (!j)
        return false;
    memset(st, 0, sizeof *st);
    v = cJSON_GetObjectItemCaseSensitive(j, "state");
    snprintf(st->state, sizeof st->state, "%s", cJSON_IsString(v) ? v->valuestring : "?");
    v = cJSON_GetObjectItemCaseSensitive(j, "failure");
    if (cJSON_IsString(v))
        snprintf(st->failure, sizeof st->failure, "%s", v->valuestring);
    s = cJSON_GetObjectItemCaseSensitive(j, "stats");
    st->watermark = INT64_MIN;
    if (cJSON_IsObject(s)) {
        st->records_in = num(s, "records_in");
        st->records_out = num(s, "records_out");
        st->filtered = num(s, "filtered");
        st->dead_letters = num(s, "dead_letters");
        st->bytes_in = num(s, "bytes_in");
        st->late_records = num(s, "late_records");
        st->late_updates = num(s, "late_updates");
        st->windows_fired = num(s, "windows_fired");
        st->retractions = num(s, "retractions");
        st->state_evictions = num(s, "state_evictions");
        st->state_db_writes = num(s, "state_db_writes");
        st->state_db_reads = num(s, "state_db_reads");
        st->state_cache_bytes = num(s, "state_cache_bytes");
        st->windowed = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(s, "windowed"));
        v = cJSON_GetObjectItemCaseSensitive(s, "watermark");
        if (cJSON_IsNumber(v)) {
            /* JSON numbers are doubles: the extremes mean "none" and "end of input" */
            if (v->valuedouble >= 9.2e18)
                st->watermark = INT64_MAX;
            else if (v->valuedouble <= -9.2e18)
                st->watermark = INT64_MIN;
            else
                st->watermark = (int64_t)v->valuedouble;
        }
    }
    tasks = cJSON_GetObjectItemCaseSensitive(j, "tasks");
    if (cJSON_IsArray(tasks)) {
        const cJSON *t;
        cJSON_ArrayForEach(t, tasks)
        {
            st->partitions += cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(t, "partitions"));
        }
    }
    cJSON_Delete(j);
    return true;
}

static bool terminal(const char *state)
{
    return !strcmp(state, "FINISHED") || !strcmp(state, "FAILED") || !strcmp(state, "CANCELED");
}

/* The window line of the progress log: watermark, results, lateness, state. */
static void log_window_stats(const local_stats *st)
{
    char wm[32];

    if (st->watermark == INT64_MIN)
        snprintf(wm, sizeof wm, "none yet");
    else if (st->watermark == INT64_MAX)
        snprintf(wm, sizeof wm, "end of input");
    else
        snprintf(wm, sizeof wm, "%lld", (long long)st->watermark);
    wr_log(WR_LOG_INFO, "local",
           "windows: watermark %s, %llu fired, %llu late updates, %llu too late, state %llu "
           "KiB cached, %llu evicted, %llu RocksDB writes, %llu reads",
           wm, (unsigned long long)st->windows_fired, (unsigned long long)st->late_updates,
           (unsigned long long)st->late_records, (unsigned long long)(st->state_cache_bytes / 1024),
           (unsigned long long)st->state_evictions, (unsigned long long)st->state_db_writes,
           (unsigned long long)st->state_db_reads);
}

/* Reads the whole job file (the body of the submit request). */
static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t cap = 0, n = 0;

    if (!f)
        return NULL;
    for (;;) {
        if (n + 4096 > cap) {
            char *nb = realloc(buf, cap = 2 * cap + 8192);
            if (!nb) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
        }
        size_t r = fread(buf + n, 1, cap - n - 1, f);
        n += r;
        if (r == 0)
            break;
    }
    fclose(f);
    buf[n] = 0;
    *len = n;
    return buf;
}

/* One request to the embedded coordinator; the error field of a failed one into eb. */
static wr_err call(const wr_http_url *url, const char *method, const char *target, const char *body,
                   size_t len, wr_http_response *r, wr_errbuf *eb)
{
    wr_err e = wr_http_request(url, method, target, body ? "application/yaml" : NULL, body, len,
                               60000, r, eb);
    if (e)
        return e;
    if (r->status >= 300) {
        cJSON *j = cJSON_Parse(r->body);
        const cJSON *msg = j ? cJSON_GetObjectItemCaseSensitive(j, "error") : NULL;
        wr_fail(eb, WR_EINVAL, "%s", cJSON_IsString(msg) ? msg->valuestring : r->body);
        cJSON_Delete(j);
        wr_http_response_fini(r);
        return WR_EINVAL;
    }
    return WR_OK;
}

int wr_cli_local(int argc, char **argv)
{
    const char *path = NULL;
    int parallelism = 0, timeout_ms = 0, rc, handled = 0;
    bool json = false;
    wr_job_spec *spec;
    wr_coord_options co;
    wr_worker_options wo;
    wr_coord *coord = NULL;
    wr_worker *worker = NULL;
    wr_http_url url;
    wr_http_response r;
    local_stats st = {0};
    char coord_url[128], worker_url[128], base[64], target[1024], name_q[600], id[128];
    char *body = NULL;
    size_t body_len = 0;
    wr_errbuf eb;
    struct sigaction sa;
    double t0, elapsed, last_progress;

    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--parallelism") && i + 1 < argc) {
            if (!wr_cli_parse_int(argv[++i], 1, 32768, &parallelism)) {
                fprintf(stderr, "weir local: --parallelism: '%s' is not 1..32768\n", argv[i]);
                return 2;
            }
        } else if (!strcmp(argv[i], "--kafka-timeout") && i + 1 < argc) {
            if (!wr_cli_parse_int(argv[++i], 1, 3600000, &timeout_ms)) {
                fprintf(stderr, "weir local: --kafka-timeout: '%s' is not 1..3600000 ms\n",
                        argv[i]);
                return 2;
            }
        } else if (!strcmp(argv[i], "--json")) {
            json = true;
        } else if (argv[i][0] == '-' || path) {
            return usage();
        } else {
            path = argv[i];
        }
    }
    if (!path)
        return usage();
    rc = wr_cli_load_job(path, &spec);
    if (rc)
        return rc;
    if (wr_plan_check_supported(spec, &eb) != WR_OK) {
        fprintf(stderr, "weir local: %s: %s\n", path, eb.msg);
        wr_spec_free(spec);
        return 2;
    }
    if (!parallelism)
        parallelism = spec->parallelism;
    body = read_file(path, &body_len);
    if (!body) {
        fprintf(stderr, "weir local: cannot read %s\n", path);
        wr_spec_free(spec);
        return 2;
    }

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    t0 = now_s();
    tune_malloc();
    snprintf(coord_url, sizeof coord_url, "inproc://weir-local-coordinator-%d", (int)getpid());
    snprintf(worker_url, sizeof worker_url, "inproc://weir-local-worker-%d", (int)getpid());
    wr_coord_options_defaults(&co);
    co.listen = coord_url;
    co.http = "127.0.0.1:0";
    co.cluster.max_restarts = 0;
    if (timeout_ms)
        co.kafka_timeout_ms = timeout_ms;
    wr_worker_options_defaults(&wo);
    wo.coordinator = coord_url;
    wo.listen = worker_url;
    wo.advertise = worker_url;
    wo.id = "local";
    wo.slots = parallelism;
    if (timeout_ms)
        wo.kafka_timeout_ms = timeout_ms;
    rc = 1;
    if (wr_coord_start(&co, &coord, &eb) != WR_OK || wr_worker_start(&wo, &worker, &eb) != WR_OK) {
        fprintf(stderr, "weir local: %s\n", eb.msg);
        goto out;
    }
    snprintf(base, sizeof base, "http://127.0.0.1:%d", wr_coord_http_port(coord));
    wr_http_parse_url(base, &url, &eb);

    name_q[0] = 0;
    wr_http_url_encode(name_q, sizeof name_q, path);
    snprintf(target, sizeof target, "/v1/jobs?parallelism=%d&name=%s", parallelism, name_q);
    if (call(&url, "POST", target, body, body_len, &r, &eb) != WR_OK) {
        fprintf(stderr, "weir local: %s: %s\n", path, eb.msg);
        goto out;
    }
    {
        cJSON *j = cJSON_Parse(r.body);
        const cJSON *v = j ? cJSON_GetObjectItemCaseSensitive(j, "id") : NULL;
        snprintf(id, sizeof id, "%s", cJSON_IsString(v) ? v->valuestring : "");
        cJSON_Delete(j);
        wr_http_response_fini(&r);
    }
    if (!id[0]) {
        fprintf(stderr, "weir local: the coordinator returned no job id\n");
        goto out;
    }

    last_progress = now_s();
    for (;;) {
        snprintf(target, sizeof target, "/v1/jobs/%s", id);
        if (call(&url, "GET", target, NULL, 0, &r, &eb) != WR_OK) {
            fprintf(stderr, "weir local: %s\n", eb.msg);
            goto out;
        }
        parse_job(r.body, &st);
        wr_http_response_fini(&r);
        if (terminal(st.state))
            break;
        if (signals_seen > handled) {
            handled = signals_seen;
            snprintf(target, sizeof target, "/v1/jobs/%s/%s", id, handled == 1 ? "stop" : "cancel");
            wr_log(handled == 1 ? WR_LOG_INFO : WR_LOG_WARN, "local", "%s",
                   handled == 1 ? "stopping: finishing records in flight (signal again to cancel)"
                                : "canceling");
            if (call(&url, "POST", target, NULL, 0, &r, &eb) == WR_OK)
                wr_http_response_fini(&r);
        }
        if (now_s() - last_progress >= PROGRESS_MS / 1000.0) {
            last_progress = now_s();
            wr_log(WR_LOG_INFO, "local", "%s: %llu in, %llu out, %llu filtered, %llu dead letters",
                   st.state, (unsigned long long)st.records_in, (unsigned long long)st.records_out,
                   (unsigned long long)st.filtered, (unsigned long long)st.dead_letters);
            if (st.windowed)
                log_window_stats(&st);
        }
        usleep(POLL_MS * 1000);
    }
    elapsed = now_s() - t0;
    if (json) {
        printf("{\"job\":\"%s\",\"state\":\"%s\",\"records_in\":%llu,\"records_out\":%llu,"
               "\"filtered\":%llu,\"dead_letters\":%llu,\"bytes_in\":%llu,\"partitions\":%d,"
               "\"late_records\":%llu,\"late_updates\":%llu,\"windows_fired\":%llu,"
               "\"retractions\":%llu,\"state_evictions\":%llu,\"state_db_writes\":%llu,"
               "\"state_db_reads\":%llu,\"watermark\":%lld,\"seconds\":%.3f}\n",
               spec->name, !strcmp(st.state, "FINISHED") ? "FINISHED" : "FAILED",
               (unsigned long long)st.records_in, (unsigned long long)st.records_out,
               (unsigned long long)st.filtered, (unsigned long long)st.dead_letters,
               (unsigned long long)st.bytes_in, st.partitions, (unsigned long long)st.late_records,
               (unsigned long long)st.late_updates, (unsigned long long)st.windows_fired,
               (unsigned long long)st.retractions, (unsigned long long)st.state_evictions,
               (unsigned long long)st.state_db_writes, (unsigned long long)st.state_db_reads,
               (long long)st.watermark, elapsed);
        fflush(stdout);
    }
    if (st.windowed)
        log_window_stats(&st);
    if (strcmp(st.state, "FINISHED")) {
        fprintf(stderr, "weir local: job '%s' %s: %s\n", spec->name,
                !strcmp(st.state, "CANCELED") ? "CANCELED" : "FAILED",
                st.failure[0] ? st.failure : "canceled");
        rc = 1;
    } else {
        fprintf(stderr,
                "weir local: job '%s' FINISHED in %.2f s: %llu records in, %llu out, %llu "
                "filtered, %llu dead letters\n",
                spec->name, elapsed, (unsigned long long)st.records_in,
                (unsigned long long)st.records_out, (unsigned long long)st.filtered,
                (unsigned long long)st.dead_letters);
        rc = 0;
    }
out:
    wr_worker_free(worker);
    wr_coord_free(coord);
    free(body);
    wr_spec_free(spec);
    return rc;
}
