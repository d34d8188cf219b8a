/*
 * cluster-cmds.c — the verbs that talk to a running coordinator over its REST API
 * (docs/rest-api.md): `weir submit`, `list`, `status`, `cancel`, `stop`, `workers`,
 * `checkpoints`.
 *
 * Every verb takes `--coordinator URL` (else $WEIR_COORDINATOR, else
 * http://127.0.0.1:8081) and `--json` (print the server's JSON body, on one line,
 * instead of a table). Each does one request with cli/http.c, checks that the answer is
 * a JSON object, and renders it; any failure is one line on stderr and exit 1 (bad
 * usage: exit 2). Tables are plain aligned columns, like `kubectl get`. Strings from
 * the server have their control characters replaced before they reach the terminal.
 *
 * Out of memory while rendering is reported and ends the process (exit 1): the CLI has
 * nothing to clean up, and responses are bounded by WR_HTTP_MAX_BODY.
 */
#include "cli-job.h"
#include "cli.h"
#include "http.h"

#include <cjson/cJSON.h>

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_COORDINATOR "http://127.0.0.1:8081"
#define WAIT_POLL_MS 200
#define WAIT_RETRY_MS 30000     /* submit --wait: how long to retry a silent coordinator */
#define WAIT_RETRY_POLL_MS 1000 /* ... and how often */
/* POST /v1/jobs answers only after the coordinator has checked the job's brokers and
 * topics, which it bounds by its --kafka-timeout (default 10 s): allow for more. */
#define SUBMIT_TIMEOUT_MS 120000

/* ---- small helpers --------------------------------------------------------------- */

static void oom(void)
{
    fprintf(stderr, "weir: out of memory\n");
    exit(1);
}

static char *xstrdup(const char *s)
{
    char *d = strdup(s);
    if (!d)
        oom();
    return d;
}

/* A copy of s fit for a terminal and a table cell: control characters become '?'. */
static char *clean_dup(const char *s)
{
    char *d = xstrdup(s);
    for (char *p = d; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    return d;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {.tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* "5.2 s", "2m05s", "3h07m", "2d04h". */
static void fmt_duration(char *buf, size_t cap, double ms)
{
    long long s;

    if (ms < 0)
        ms = 0;
    if (ms < 60000) {
        snprintf(buf, cap, "%.1f s", ms / 1000.0);
        return;
    }
    s = (long long)(ms / 1000.0);
    if (s < 3600)
        snprintf(buf, cap, "%lldm%02llds", s / 60, s % 60);
    else if (s < 86400)
        snprintf(buf, cap, "%lldh%02lldm", s / 3600, s % 3600 / 60);
    else
        snprintf(buf, cap, "%lldd%02lldh", s / 86400, s % 86400 / 3600);
}

/* A short duration: "412ms", "1.3s", then as fmt_duration ("2m05s", "3h07m"). */
static void fmt_short_duration(char *buf, size_t cap, double ms)
{
    if (ms < 0)
        ms = 0;
    if (ms < 1000)
        snprintf(buf, cap, "%.0fms", floor(ms));
    else if (ms < 60000)
        snprintf(buf, cap, "%.1fs", floor(ms / 100) / 10);
    else
        fmt_duration(buf, cap, ms);
}

/* A byte count: "512 B", "12.3 KiB", "12.3 MiB", "1.0 GiB", "2.5 TiB". */
static void fmt_bytes(char *buf, size_t cap, double n)
{
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
    int u = -1;

    if (n < 1024) {
        snprintf(buf, cap, "%.0f B", n < 0 ? 0 : n);
        return;
    }
    while (n >= 1024 && u < 4) {
        n /= 1024;
        u++;
    }
    snprintf(buf, cap, "%.1f %s", n, units[u]);
}

static double wall_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec * 1000 + (double)(ts.tv_nsec / 1000000);
}

/* Parses "30s", "500ms", "5m", "1h", "1.5s" or plain seconds into ms (> 0). */
static bool parse_duration(const char *s, int64_t *out)
{
    char *end;
    double v, unit;

    errno = 0;
    v = strtod(s, &end);
    if (errno || end == s || !(v > 0))
        return false;
    if (!*end || !strcmp(end, "s"))
        unit = 1000;
    else if (!strcmp(end, "ms"))
        unit = 1;
    else if (!strcmp(end, "m"))
        unit = 60000;
    else if (!strcmp(end, "h"))
        unit = 3600000;
    else
        return false;
    v *= unit;
    if (v < 1 || v > 365.0 * 86400000)
        return false;
    *out = (int64_t)v;
    return true;
}

/* ---- JSON access: missing or mistyped fields render as "-" --------------------- */

static const char *jstr(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static bool jnum(const cJSON *o, const char *key, double *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v))
        return false;
    *out = v->valuedouble;
    return true;
}

/* key's value as an integer ("-" when absent). */
static void fmt_int(char *buf, size_t cap, const cJSON *o, const char *key)
{
    double v;

    if (!jnum(o, key, &v))
        snprintf(buf, cap, "-");
    else if (fabs(v) < 9.2e18)
        snprintf(buf, cap, "%lld", (long long)v);
    else
        snprintf(buf, cap, "%.0f", v);
}

/* key's string, cleaned, or "-"; the caller frees. */
static char *str_or_dash(const cJSON *o, const char *key)
{
    const char *s = jstr(o, key);
    return clean_dup(s && *s ? s : "-");
}

/* ---- tables ----------------------------------------------------------------------- */

typedef struct table {
    int ncols;
    int nrows; /* including the header */
    int cap;
    char **cells; /* nrows * ncols, owned */
} table;

/* Adds a row of t->ncols strings (copied, cleaned). */
static void table_row(table *t, ...)
{
    va_list ap;

    if (t->nrows == t->cap) {
        int cap = t->cap ? t->cap * 2 : 16;
        char **c = realloc(t->cells, (size_t)cap * (size_t)t->ncols * sizeof *c);
        if (!c)
            oom();
        t->cells = c;
        t->cap = cap;
    }
    va_start(ap, t);
    for (int i = 0; i < t->ncols; i++)
        t->cells[t->nrows * t->ncols + i] = clean_dup(va_arg(ap, const char *));
    va_end(ap);
    t->nrows++;
}

/* Display width: code points, so that UTF-8 names line up. */
static int text_width(const char *s)
{
    int w = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xc0) != 0x80)
            w++;
    return w;
}

/* Prints t with columns three spaces apart and no trailing blanks, then frees it. */
static void table_print(table *t, FILE *f)
{
    int *width = calloc((size_t)t->ncols, sizeof *width);

    if (!width)
        oom();
    for (int r = 0; r < t->nrows; r++)
        for (int c = 0; c < t->ncols; c++) {
            int w = text_width(t->cells[r * t->ncols + c]);
            if (w > width[c])
                width[c] = w;
        }
    for (int r = 0; r < t->nrows; r++) {
        for (int c = 0; c < t->ncols; c++) {
            const char *cell = t->cells[r * t->ncols + c];
            if (c == t->ncols - 1)
                fprintf(f, "%s\n", cell);
            else
                fprintf(f, "%s%*s", cell, width[c] - text_width(cell) + 3, "");
        }
    }
    for (int i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    free(width);
    t->cells = NULL;
    t->nrows = t->cap = 0;
}

/* ---- options and requests ------------------------------------------------------ */

typedef struct cluster_opts {
    const char *coordinator; /* as the user gave it, for messages */
    wr_http_url url;
    bool json;
} cluster_opts;

/* If argv[*i] is --coordinator URL, --coordinator=URL or --json, consumes it and
 * returns 1; returns 0 for anything else and -1 when --coordinator has no value. */
static int common_opt(cluster_opts *o, int argc, char **argv, int *i)
{
    const char *a = argv[*i];

    if (!strcmp(a, "--json")) {
        o->json = true;
        return 1;
    }
    if (!strncmp(a, "--coordinator=", 14)) {
        o->coordinator = a + 14;
        return 1;
    }
    if (!strcmp(a, "--coordinator")) {
        if (*i + 1 >= argc)
            return -1;
        o->coordinator = argv[++*i];
        return 1;
    }
    return 0;
}

/* Picks the coordinator URL (option, environment, default) and parses it. Returns 0,
 * or prints why and returns 2. */
static int resolve_coordinator(cluster_opts *o, const char *verb)
{
    const char *env = getenv("WEIR_COORDINATOR");
    const char *from = "--coordinator";
    wr_errbuf eb;

    if (!o->coordinator && env && *env) {
        o->coordinator = env;
        from = "WEIR_COORDINATOR";
    }
    if (!o->coordinator)
        o->coordinator = DEFAULT_COORDINATOR;
    if (wr_http_parse_url(o->coordinator, &o->url, &eb) != WR_OK) {
        fprintf(stderr, "weir %s: %s: %s\n", verb, from, eb.msg);
        return 2;
    }
    return 0;
}

/* Prints the server's error message: one line as "weir: MSG"; several lines (a job's
 * errors, one per line, each naming file and line) as they are. */
static void print_server_error(const char *msg)
{
    char *m = xstrdup(msg);
    size_t n = strlen(m);

    while (n > 0 && (m[n - 1] == '\n' || m[n - 1] == '\r' || m[n - 1] == ' '))
        m[--n] = '\0';
    for (char *p = m; *p; p++)
        if (((unsigned char)*p < 0x20 && *p != '\n') || *p == 0x7f)
            *p = '?';
    if (strchr(m, '\n'))
        fprintf(stderr, "%s\n", m);
    else
        fprintf(stderr, "weir: %s\n", m);
    free(m);
}

enum { CALL_OK, CALL_FAILED, CALL_TRANSIENT };

/* Does one request (timeout_ms as wr_http_request; 0: the default 10 s) and checks the
 * answer: a 2xx status and a JSON object. On success returns CALL_OK and sets *json (the
 * caller deletes it) and, if raw is not NULL, *raw (the body; the caller finis it). On
 * failure prints one line and returns CALL_FAILED; but with quiet_transient, a failure
 * that may pass (no connection, no answer, HTTP 502/503/504) returns CALL_TRANSIENT
 * without printing. */
static int call(const cluster_opts *o, const char *method, const char *target,
                const char *content_type, const void *body, size_t body_len, int timeout_ms,
                bool quiet_transient, cJSON **json, wr_http_response *raw)
{
    wr_http_response resp;
    wr_errbuf eb;
    wr_err e;
    cJSON *doc;

    e = wr_http_request(&o->url, method, target, content_type, body, body_len, timeout_ms, &resp,
                        &eb);
    if (quiet_transient && (e == WR_EIO || e == WR_ETIMEDOUT || e == WR_ECLOSED))
        return CALL_TRANSIENT;
    if (quiet_transient && e == WR_OK &&
        (resp.status == 502 || resp.status == 503 || resp.status == 504)) {
        wr_http_response_fini(&resp);
        return CALL_TRANSIENT;
    }
    switch (e) {
    case WR_OK:
        break;
    case WR_EIO:
        fprintf(stderr, "weir: cannot reach the coordinator at %s: %s\n", o->coordinator, eb.msg);
        return 1;
    case WR_ETIMEDOUT:
    case WR_ECLOSED:
        fprintf(stderr, "weir: no answer from the coordinator at %s: %s\n", o->coordinator, eb.msg);
        return 1;
    default:
        fprintf(stderr, "weir: bad response from the coordinator at %s: %s\n", o->coordinator,
                eb.msg);
        return 1;
    }
    doc = cJSON_ParseWithLength(resp.body, resp.body_len);
    if (resp.status < 200 || resp.status > 299) {
        const char *msg = jstr(doc, "error");
        if (msg && *msg) {
            print_server_error(msg);
        } else {
            /* not our coordinator's error (a proxy?): show the start of what came */
            size_t n = strcspn(resp.body, "\r\n");
            char *head = clean_dup(resp.body);
            if (n > 120)
                n = 120;
            head[n] = '\0';
            fprintf(stderr, "weir: the coordinator at %s answered HTTP %d%s%s\n", o->coordinator,
                    resp.status, n ? ": " : "", head);
            free(head);
        }
        cJSON_Delete(doc);
        wr_http_response_fini(&resp);
        return 1;
    }
    if (!cJSON_IsObject(doc)) {
        fprintf(stderr,
                "weir: bad response from the coordinator at %s: %s %s%s: not a JSON "
                "object\n",
                o->coordinator, method, o->url.prefix, target);
        cJSON_Delete(doc);
        wr_http_response_fini(&resp);
        return 1;
    }
    *json = doc;
    if (raw)
        *raw = resp;
    else
        wr_http_response_fini(&resp);
    return 0;
}

/* Prints a JSON body on one line. Line breaks in a JSON text can only be whitespace
 * between tokens (strings must escape them), so replacing them keeps it valid. */
static void print_json_line(const wr_http_response *r)
{
    size_t n = r->body_len;

    while (n > 0 && (r->body[n - 1] == '\n' || r->body[n - 1] == '\r' || r->body[n - 1] == ' ' ||
                     r->body[n - 1] == '\t'))
        n--;
    for (size_t i = 0; i < n; i++)
        putchar(r->body[i] == '\n' || r->body[i] == '\r' ? ' ' : r->body[i]);
    putchar('\n');
    fflush(stdout);
}

/* A GET of target. With --json prints the body and returns 0 with *json NULL; otherwise
 * returns 0 with the object in *json (the caller deletes it) to render. 1: failed
 * (printed). */
static int get_or_print(const cluster_opts *o, const char *target, cJSON **json)
{
    wr_http_response raw;
    cJSON *doc;

    if (call(o, "GET", target, NULL, NULL, 0, 0, false, &doc, &raw))
        return 1;
    if (o->json) {
        print_json_line(&raw);
        cJSON_Delete(doc);
        doc = NULL;
    }
    wr_http_response_fini(&raw);
    *json = doc;
    return 0;
}

/* "/v1/jobs/<id, percent-encoded><suffix>", or false (printed) if it is too long. */
static bool job_target(char *buf, size_t cap, const char *id, const char *suffix)
{
    snprintf(buf, cap, "/v1/jobs/");
    if (!wr_http_url_encode(buf, cap, id) || strlen(buf) + strlen(suffix) >= cap) {
        fprintf(stderr, "weir: job id too long\n");
        return false;
    }
    strcat(buf, suffix);
    return true;
}

/* ---- weir list ------------------------------------------------------------------- */

static int list_usage(void)
{
    fprintf(stderr, "usage: weir list [--coordinator URL] [--json]\n");
    return 2;
}

int wr_cli_list(int argc, char **argv)
{
    cluster_opts o = {0};
    const cJSON *jobs, *j;
    table t = {.ncols = 6};
    cJSON *doc;
    int rc;

    for (int i = 0; i < argc; i++)
        if (common_opt(&o, argc, argv, &i) != 1)
            return list_usage();
    rc = resolve_coordinator(&o, "list");
    if (rc)
        return rc;
    if (get_or_print(&o, "/v1/jobs", &doc))
        return 1;
    if (!doc)
        return 0;
    jobs = cJSON_GetObjectItemCaseSensitive(doc, "jobs");
    if (!cJSON_IsArray(jobs)) {
        fprintf(stderr, "weir: bad response from the coordinator at %s: no \"jobs\" array\n",
                o.coordinator);
        cJSON_Delete(doc);
        return 1;
    }
    table_row(&t, "ID", "NAME", "STATE", "PARALLELISM", "ATTEMPT", "RESTARTS");
    cJSON_ArrayForEach(j, jobs)
    {
        char *id = str_or_dash(j, "id"), *name = str_or_dash(j, "name");
        char *state = str_or_dash(j, "state");
        char par[32], att[32], rst[32];

        fmt_int(par, sizeof par, j, "parallelism");
        fmt_int(att, sizeof att, j, "attempt");
        fmt_int(rst, sizeof rst, j, "restarts");
        table_row(&t, id, name, state, par, att, rst);
        free(id);
        free(name);
        free(state);
    }
    table_print(&t, stdout);
    cJSON_Delete(doc);
    return 0;
}

/* ---- weir status ----------------------------------------------------------------- */

static int status_usage(void)
{
    fprintf(stderr, "usage: weir status JOB [--coordinator URL] [--json]\n");
    return 2;
}

/* One "Key:   value" line of a block whose keys are padded to 17 columns. */
static void kv(const char *key, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void kv(const char *key, const char *fmt, ...)
{
    char val[1024];
    char *clean;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(val, sizeof val, fmt, ap);
    va_end(ap);
    clean = clean_dup(val);
    printf("%-17s%s\n", key, clean);
    free(clean);
}

static void fmt_wallclock(char *buf, size_t cap, double ms, bool with_ms)
{
    time_t secs = (time_t)(ms / 1000.0);
    unsigned frac = (unsigned)((long long)ms - (long long)secs * 1000) % 1000u;
    struct tm tm;
    char tmp[24], zone[16];

    if (!localtime_r(&secs, &tm) || !strftime(tmp, sizeof tmp, "%Y-%m-%d %H:%M:%S", &tm)) {
        snprintf(buf, cap, "%.0f", ms);
        return;
    }
    if (!strftime(zone, sizeof zone, "%Z", &tm))
        zone[0] = '\0';
    if (with_ms)
        snprintf(buf, cap, "%s.%03u %s", tmp, frac, zone);
    else
        snprintf(buf, cap, "%s %s", tmp, zone);
}

/* The checkpoint's id as "#12" ("#?" when missing). */
static void fmt_checkpoint_id(char *buf, size_t cap, const cJSON *ck)
{
    double id;

    if (jnum(ck, "id", &id))
        snprintf(buf, cap, "#%.0f", id);
    else
        snprintf(buf, cap, "#?");
}

/* The status lines about checkpoints: the newest checkpoint of the history, and the one
 * the current attempt restored. ck is the job's "checkpoints" object (or NULL). */
static void print_checkpoint_status(const cJSON *ck)
{
    const cJSON *last = cJSON_GetObjectItemCaseSensitive(ck, "last");
    const char *status = jstr(last, "status"), *reason = jstr(last, "reason");
    char id[48], age[64], took[64], size[48], up[48];
    double trigger, duration, v, failures;
    bool has_trigger, has_duration;

    if (!cJSON_IsObject(last)) {
        kv("Last checkpoint:", "none");
    } else {
        fmt_checkpoint_id(id, sizeof id, last);
        has_trigger = jnum(last, "trigger_unix_ms", &trigger);
        has_duration = jnum(last, "duration_ms", &duration);
        snprintf(age, sizeof age, "-");
        if (has_trigger)
            fmt_short_duration(age, sizeof age,
                               wall_now_ms() - trigger - (has_duration ? duration : 0));
        snprintf(took, sizeof took, "-");
        if (has_duration)
            fmt_short_duration(took, sizeof took, duration);
        snprintf(size, sizeof size, "-");
        if (jnum(last, "state_bytes", &v))
            fmt_bytes(size, sizeof size, v);
        snprintf(up, sizeof up, "-");
        if (jnum(last, "uploaded_bytes", &v))
            fmt_bytes(up, sizeof up, v);
        if (status && !strcmp(status, "IN_PROGRESS")) {
            char acks[32], tasks[32];
            fmt_int(acks, sizeof acks, last, "acks");
            fmt_int(tasks, sizeof tasks, last, "tasks");
            kv("Last checkpoint:", "%s IN_PROGRESS for %s, %s/%s tasks acknowledged", id, age, acks,
               tasks);
        } else if (status && !strcmp(status, "FAILED")) {
            char streak[48] = "";
            if (!jnum(ck, "consecutive_failures", &failures))
                failures = 0;
            if (failures > 1)
                snprintf(streak, sizeof streak, " (%.0f in a row)", failures);
            kv("Last checkpoint:", "%s FAILED %s ago, after %s: %s%s", id, age, took,
               reason && *reason ? reason : "no reason given", streak);
        } else {
            kv("Last checkpoint:", "%s %s %s ago, took %s, %s (uploaded %s)", id,
               status ? status : "-", age, took, size, up);
        }
    }
    if (jnum(ck, "restored_from", &v))
        kv("Restored from:", "#%.0f", v);
}

static void print_stats(const cJSON *st)
{
    static const struct {
        const char *key, *label;
    } rows[] = {
        {"records_in", "Records in:"},       {"records_out", "Records out:"},
        {"filtered", "Filtered:"},           {"dead_letters", "Dead letters:"},
        {"late_records", "Late records:"},   {"late_updates", "Late updates:"},
        {"windows_fired", "Windows fired:"},
    };
    const cJSON *wm;
    char buf[64], when[64];

    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        fmt_int(buf, sizeof buf, st, rows[i].key);
        kv(rows[i].label, "%s", buf);
    }
    wm = cJSON_GetObjectItemCaseSensitive(st, "watermark");
    if (!cJSON_IsNumber(wm) || wm->valuedouble <= -9.2e18) {
        kv("Watermark:", "none yet");
    } else if (wm->valuedouble >= 9.2e18) {
        kv("Watermark:", "end of input");
    } else {
        fmt_wallclock(when, sizeof when, wm->valuedouble, true);
        kv("Watermark:", "%lld (%s)", (long long)wm->valuedouble, when);
    }
}

static void print_tasks(const cJSON *tasks)
{
    table t = {.ncols = 5};
    const cJSON *task;

    if (!cJSON_IsArray(tasks) || cJSON_GetArraySize(tasks) == 0) {
        printf("No tasks scheduled.\n");
        return;
    }
    table_row(&t, "SUBTASK", "WORKER", "ADDRESS", "STATE", "PARTITIONS");
    cJSON_ArrayForEach(task, tasks)
    {
        const cJSON *parts = cJSON_GetObjectItemCaseSensitive(task, "partitions"), *p;
        char *worker = str_or_dash(task, "worker"), *addr = str_or_dash(task, "address");
        char *state = str_or_dash(task, "state");
        char sub[32], *plist;
        size_t len = 0, cap = 64;

        fmt_int(sub, sizeof sub, task, "subtask");
        plist = malloc(cap);
        if (!plist)
            oom();
        plist[0] = '\0';
        cJSON_ArrayForEach(p, parts)
        {
            char one[32];
            int n;
            if (!cJSON_IsNumber(p))
                continue;
            n = snprintf(one, sizeof one, "%s%lld", len ? "," : "", (long long)p->valuedouble);
            if (len + (size_t)n + 1 > cap) {
                char *g;
                cap = (len + (size_t)n + 1) * 2;
                g = realloc(plist, cap);
                if (!g)
                    oom();
                plist = g;
            }
            memcpy(plist + len, one, (size_t)n + 1);
            len += (size_t)n;
        }
        table_row(&t, sub, worker, addr, state, len ? plist : "-");
        free(plist);
        free(worker);
        free(addr);
        free(state);
    }
    table_print(&t, stdout);
}

int wr_cli_status(int argc, char **argv)
{
    cluster_opts o = {0};
    const char *job = NULL, *failure, *name, *state;
    const cJSON *st;
    char target[1024], buf[64], dur[64];
    double v;
    cJSON *doc;
    int rc;

    for (int i = 0; i < argc; i++) {
        int c = common_opt(&o, argc, argv, &i);
        if (c < 0 || (c == 0 && (argv[i][0] == '-' || job)))
            return status_usage();
        if (c == 0)
            job = argv[i];
    }
    if (!job || !*job)
        return status_usage();
    rc = resolve_coordinator(&o, "status");
    if (rc)
        return rc;
    if (!job_target(target, sizeof target, job, ""))
        return 1;
    if (get_or_print(&o, target, &doc))
        return 1;
    if (!doc)
        return 0;

    name = jstr(doc, "name");
    state = jstr(doc, "state");
    failure = jstr(doc, "failure");
    kv("Job:", "%s", jstr(doc, "id") ? jstr(doc, "id") : job);
    kv("Name:", "%s", name ? name : "-");
    if (jnum(doc, "state_ms", &v)) {
        fmt_duration(dur, sizeof dur, v);
        kv("State:", "%s for %s", state ? state : "-", dur);
    } else {
        kv("State:", "%s", state ? state : "-");
    }
    fmt_int(buf, sizeof buf, doc, "parallelism");
    kv("Parallelism:", "%s", buf);
    fmt_int(buf, sizeof buf, doc, "attempt");
    kv("Attempt:", "%s", buf);
    fmt_int(buf, sizeof buf, doc, "restarts");
    kv("Restarts:", "%s", buf);
    if (jnum(doc, "submitted_ms", &v)) {
        fmt_wallclock(buf, sizeof buf, v, false);
        kv("Submitted:", "%s", buf);
    }
    kv("Last failure:", "%s", failure && *failure ? failure : "none");
    print_checkpoint_status(cJSON_GetObjectItemCaseSensitive(doc, "checkpoints"));

    st = cJSON_GetObjectItemCaseSensitive(doc, "stats");
    printf("\n");
    if (cJSON_IsObject(st))
        print_stats(st);
    else
        printf("No statistics yet.\n");
    printf("\n");
    print_tasks(cJSON_GetObjectItemCaseSensitive(doc, "tasks"));
    cJSON_Delete(doc);
    return 0;
}

/* ---- weir checkpoints ------------------------------------------------------------- */

static int checkpoints_usage(void)
{
    fprintf(stderr, "usage: weir checkpoints JOB [--coordinator URL] [--json]\n");
    return 2;
}

/* The REASON cell: why it failed; for a completed checkpoint discarded because its state
 * failed a checksum, "corrupt: " and why; else "-". The caller frees. */
static char *checkpoint_reason(const cJSON *ck)
{
    const char *reason = jstr(ck, "reason");
    const cJSON *corrupt = cJSON_GetObjectItemCaseSensitive(ck, "corrupt");
    char *out;

    if (cJSON_IsTrue(corrupt)) {
        if (asprintf(&out, "corrupt: %s", reason && *reason ? reason : "discarded") < 0)
            oom();
        return out;
    }
    return clean_dup(reason && *reason ? reason : "-");
}

int wr_cli_checkpoints(int argc, char **argv)
{
    cluster_opts o = {0};
    const char *job = NULL;
    const cJSON *hist, *ck;
    table t = {.ncols = 8};
    char target[1024];
    cJSON *doc;
    double v;
    int rc;

    for (int i = 0; i < argc; i++) {
        int c = common_opt(&o, argc, argv, &i);
        if (c < 0 || (c == 0 && (argv[i][0] == '-' || job)))
            return checkpoints_usage();
        if (c == 0)
            job = argv[i];
    }
    if (!job || !*job)
        return checkpoints_usage();
    rc = resolve_coordinator(&o, "checkpoints");
    if (rc)
        return rc;
    if (!job_target(target, sizeof target, job, "/checkpoints"))
        return 1;
    if (get_or_print(&o, target, &doc))
        return 1;
    if (!doc)
        return 0;
    hist = cJSON_GetObjectItemCaseSensitive(doc, "history");
    if (!cJSON_IsArray(hist)) {
        fprintf(stderr, "weir: bad response from the coordinator at %s: no \"history\" array\n",
                o.coordinator);
        cJSON_Delete(doc);
        return 1;
    }
    if (jnum(doc, "restored_from", &v))
        printf("restored from checkpoint %.0f\n", v);
    if (cJSON_GetArraySize(hist) == 0) {
        printf("No checkpoints.\n");
        cJSON_Delete(doc);
        return 0;
    }
    table_row(&t, "ID", "STATUS", "ATTEMPT", "TRIGGERED", "DURATION", "SIZE", "UPLOADED", "REASON");
    cJSON_ArrayForEach(ck, hist)
    {
        char id[32], att[32], when[32], dur[32], size[32], up[32];
        char *status = str_or_dash(ck, "status"), *reason = checkpoint_reason(ck);

        fmt_int(id, sizeof id, ck, "id");
        fmt_int(att, sizeof att, ck, "attempt");
        snprintf(when, sizeof when, "-");
        if (jnum(ck, "trigger_unix_ms", &v)) {
            time_t secs = (time_t)(v / 1000);
            struct tm tm;
            if (localtime_r(&secs, &tm))
                strftime(when, sizeof when, "%H:%M:%S", &tm);
        }
        snprintf(dur, sizeof dur, "-");
        if (jnum(ck, "duration_ms", &v))
            fmt_short_duration(dur, sizeof dur, v);
        snprintf(size, sizeof size, "-");
        if (jnum(ck, "state_bytes", &v))
            fmt_bytes(size, sizeof size, v);
        snprintf(up, sizeof up, "-");
        if (jnum(ck, "uploaded_bytes", &v))
            fmt_bytes(up, sizeof up, v);
        table_row(&t, id, status, att, when, dur, size, up, reason);
        free(status);
        free(reason);
    }
    table_print(&t, stdout);
    cJSON_Delete(doc);
    return 0;
}

/* ---- weir cancel ------------------------------------------------------------------ */

static int cancel_usage(void)
{
    fprintf(stderr, "usage: weir cancel JOB [--coordinator URL] [--json]\n");
    return 2;
}

static int job_action(int argc, char **argv, const char *verb, const char *suffix,
                      const char *pending, int (*usage_fn)(void))
{
    cluster_opts o = {0};
    const char *job = NULL, *id, *state;
    wr_http_response raw;
    char target[1024];
    cJSON *doc;
    int rc;

    for (int i = 0; i < argc; i++) {
        int c = common_opt(&o, argc, argv, &i);
        if (c < 0 || (c == 0 && (argv[i][0] == '-' || job)))
            return usage_fn();
        if (c == 0)
            job = argv[i];
    }
    if (!job || !*job)
        return usage_fn();
    rc = resolve_coordinator(&o, verb);
    if (rc)
        return rc;
    if (!job_target(target, sizeof target, job, suffix))
        return 1;
    if (call(&o, "POST", target, NULL, NULL, 0, 0, false, &doc, &raw))
        return 1;
    if (o.json) {
        print_json_line(&raw);
    } else {
        char *cid, *cstate;
        id = jstr(doc, "id");
        state = jstr(doc, "state");
        cid = clean_dup(id ? id : job);
        cstate = clean_dup(state ? state : pending);
        printf("%s: %s\n", cid, cstate);
        free(cid);
        free(cstate);
    }
    wr_http_response_fini(&raw);
    cJSON_Delete(doc);
    return 0;
}

int wr_cli_cancel(int argc, char **argv)
{
    return job_action(argc, argv, "cancel", "/cancel", "CANCELING", cancel_usage);
}

static int stop_usage(void)
{
    fprintf(stderr, "usage: weir stop JOB [--coordinator URL] [--json]\n");
    return 2;
}

/* `weir stop JOB`: sources stop reading, everything in flight is written, sinks flush, and
 * the job FINISHES (open windows do not fire). */
int wr_cli_stop(int argc, char **argv)
{
    return job_action(argc, argv, "stop", "/stop", "RUNNING", stop_usage);
}

/* ---- weir workers ----------------------------------------------------------------- */

static int workers_usage(void)
{
    fprintf(stderr, "usage: weir workers [--coordinator URL] [--json]\n");
    return 2;
}

int wr_cli_workers(int argc, char **argv)
{
    cluster_opts o = {0};
    const cJSON *workers, *w;
    table t = {.ncols = 6};
    cJSON *doc;
    int rc;

    for (int i = 0; i < argc; i++)
        if (common_opt(&o, argc, argv, &i) != 1)
            return workers_usage();
    rc = resolve_coordinator(&o, "workers");
    if (rc)
        return rc;
    if (get_or_print(&o, "/v1/workers", &doc))
        return 1;
    if (!doc)
        return 0;
    workers = cJSON_GetObjectItemCaseSensitive(doc, "workers");
    if (!cJSON_IsArray(workers)) {
        fprintf(stderr, "weir: bad response from the coordinator at %s: no \"workers\" array\n",
                o.coordinator);
        cJSON_Delete(doc);
        return 1;
    }
    table_row(&t, "ID", "ADDRESS", "HOST", "STATE", "SLOTS", "LAST HEARTBEAT");
    cJSON_ArrayForEach(w, workers)
    {
        char *id = str_or_dash(w, "id"), *addr = str_or_dash(w, "address");
        char *host = str_or_dash(w, "host"), *state = str_or_dash(w, "state");
        char used[32], total[32], slots[80], hb[64];
        double ago;

        fmt_int(used, sizeof used, w, "slots_used");
        fmt_int(total, sizeof total, w, "slots");
        snprintf(slots, sizeof slots, "%s/%s", used, total);
        if (jnum(w, "last_heartbeat_ms_ago", &ago)) {
            fmt_duration(hb, sizeof hb - 4, ago);
            strcat(hb, " ago");
        } else {
            snprintf(hb, sizeof hb, "-");
        }
        table_row(&t, id, addr, host, state, slots, hb);
        free(id);
        free(addr);
        free(host);
        free(state);
    }
    table_print(&t, stdout);
    cJSON_Delete(doc);
    return 0;
}

/* ---- weir submit ------------------------------------------------------------------ */

static int submit_usage(void)
{
    fprintf(stderr, "usage: weir submit JOB.yaml [--parallelism N] [--wait [--timeout DUR]] "
                    "[--coordinator URL] [--json]\n");
    return 2;
}

/* Reads the whole file (at most WR_HTTP_MAX_BODY bytes) into *out (caller frees).
 * Returns 0, or prints why and returns 1. */
static int read_file(const char *path, char **out, size_t *out_len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t len = 0, cap = 0;

    if (!f) {
        fprintf(stderr, "weir submit: %s: %s\n", path, strerror(errno));
        return 1;
    }
    for (;;) {
        size_t n;
        if (cap - len < 4096) {
            char *g;
            cap = cap ? cap * 2 : 16384;
            if (cap > WR_HTTP_MAX_BODY + 1)
                cap = WR_HTTP_MAX_BODY + 1;
            if (cap - len == 0) {
                fprintf(stderr, "weir submit: %s: larger than %u MiB\n", path,
                        WR_HTTP_MAX_BODY >> 20);
                goto fail;
            }
            g = realloc(buf, cap);
            if (!g)
                oom();
            buf = g;
        }
        n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0) {
            if (ferror(f)) {
                fprintf(stderr, "weir submit: %s: %s\n", path, strerror(errno));
                goto fail;
            }
            break;
        }
    }
    fclose(f);
    *out = buf;
    *out_len = len;
    return 0;
fail:
    fclose(f);
    free(buf);
    return 1;
}

/* The `name` to send: the path as given, or its last SUBMIT_NAME_MAX bytes (from a
 * '/' if there is one) when longer, as the coordinator refuses longer names. */
#define SUBMIT_NAME_MAX 256
static const char *submit_name(const char *path)
{
    size_t n = strlen(path);
    const char *tail, *slash;

    if (n <= SUBMIT_NAME_MAX)
        return path;
    tail = path + n - SUBMIT_NAME_MAX;
    slash = strchr(tail, '/');
    return slash && slash[1] ? slash + 1 : tail;
}

static bool is_terminal(const char *state)
{
    return state &&
           (!strcmp(state, "FINISHED") || !strcmp(state, "FAILED") || !strcmp(state, "CANCELED"));
}

/* Polls the job until it ends or timeout_ms (0: no limit) passes, printing each change
 * of state to stderr. A coordinator that stops answering for a while (restarting, a
 * network blip) is retried for WAIT_RETRY_MS before giving up. Returns 0 if the job
 * FINISHED, else 1 (the reason printed). */
static int wait_for_job(const cluster_opts *o, const char *id, int64_t timeout_ms,
                        const char *timeout_text)
{
    int64_t deadline = timeout_ms ? now_ms() + timeout_ms : INT64_MAX, lost_since = 0;
    char target[1024], *last_state = NULL, *cid = clean_dup(id);
    double last_attempt = -1;
    wr_http_response raw = {0};
    cJSON *doc = NULL;
    int rc = 1;

    if (!job_target(target, sizeof target, id, ""))
        goto out;
    for (;;) {
        const char *state, *failure;
        double attempt = 0;

        bool give_up;
        int r;

        cJSON_Delete(doc);
        wr_http_response_fini(&raw);
        doc = NULL;
        give_up = lost_since &&
                  (now_ms() - lost_since >= WAIT_RETRY_MS || now_ms() + WAIT_POLL_MS > deadline);
        r = call(o, "GET", target, NULL, NULL, 0, 0, !give_up, &doc, &raw);
        if (r == CALL_TRANSIENT) {
            if (!lost_since) {
                lost_since = now_ms();
                fprintf(stderr, "weir: lost the coordinator at %s; retrying for up to %d s\n",
                        o->coordinator, WAIT_RETRY_MS / 1000);
            }
            sleep_ms(WAIT_RETRY_POLL_MS);
            continue;
        }
        if (r != CALL_OK)
            goto out;
        if (lost_since) {
            fprintf(stderr, "weir: the coordinator at %s answers again\n", o->coordinator);
            lost_since = 0;
        }
        state = jstr(doc, "state");
        failure = jstr(doc, "failure");
        if (!state) {
            fprintf(stderr,
                    "weir: bad response from the coordinator at %s: job without a "
                    "state\n",
                    o->coordinator);
            goto out;
        }
        jnum(doc, "attempt", &attempt);
        if (!last_state || strcmp(state, last_state) || attempt != last_attempt) {
            char *cs = clean_dup(state);
            fprintf(stderr, "%s: %s", cid, cs);
            if (attempt > 1)
                fprintf(stderr, " (attempt %.0f)", attempt);
            if (failure && *failure && !is_terminal(state)) {
                char *cf = clean_dup(failure);
                fprintf(stderr, ", last failure: %s", cf);
                free(cf);
            }
            fprintf(stderr, "\n");
            free(cs);
            free(last_state);
            last_state = xstrdup(state);
            last_attempt = attempt;
        }
        if (is_terminal(state)) {
            if (o->json)
                print_json_line(&raw);
            if (!strcmp(state, "FINISHED")) {
                rc = 0;
            } else if (!strcmp(state, "FAILED")) {
                char *cf = clean_dup(failure && *failure ? failure : "no reason given");
                fprintf(stderr, "weir: job %s FAILED: %s\n", cid, cf);
                free(cf);
            } else {
                fprintf(stderr, "weir: job %s was CANCELED\n", cid);
            }
            goto out;
        }
        if (now_ms() + WAIT_POLL_MS > deadline) {
            char *cs = clean_dup(state);
            fprintf(stderr, "weir: job %s is still %s after %s\n", cid, cs, timeout_text);
            free(cs);
            goto out;
        }
        sleep_ms(WAIT_POLL_MS);
    }
out:
    cJSON_Delete(doc);
    wr_http_response_fini(&raw);
    free(last_state);
    free(cid);
    return rc;
}

int wr_cli_submit(int argc, char **argv)
{
    cluster_opts o = {0};
    const char *path = NULL, *timeout_text = NULL;
    int parallelism = 0, rc;
    int64_t timeout_ms = 0;
    bool wait = false;
    wr_job_spec *spec;
    wr_http_response raw = {0};
    char target[4096], *body = NULL;
    const char *id;
    size_t body_len;
    cJSON *doc = NULL;

    for (int i = 0; i < argc; i++) {
        int c = common_opt(&o, argc, argv, &i);
        if (c < 0)
            return submit_usage();
        if (c == 1)
            continue;
        if (!strcmp(argv[i], "--parallelism") && i + 1 < argc) {
            if (!wr_cli_parse_int(argv[++i], 1, 32768, &parallelism)) {
                fprintf(stderr, "weir submit: --parallelism: '%s' is not 1..32768\n", argv[i]);
                return 2;
            }
        } else if (!strcmp(argv[i], "--wait")) {
            wait = true;
        } else if (!strcmp(argv[i], "--timeout") && i + 1 < argc) {
            timeout_text = argv[++i];
            if (!parse_duration(timeout_text, &timeout_ms)) {
                fprintf(stderr, "weir submit: --timeout: '%s' is not a duration (30s, 5m, 1h)\n",
                        timeout_text);
                return 2;
            }
        } else if (argv[i][0] == '-' || path) {
            return submit_usage();
        } else {
            path = argv[i];
        }
    }
    if (!path)
        return submit_usage();
    if (timeout_text && !wait) {
        fprintf(stderr, "weir submit: --timeout applies to --wait only\n");
        return 2;
    }
    rc = resolve_coordinator(&o, "submit");
    if (rc)
        return rc;
    /* An invalid file never reaches the coordinator: the same errors as `weir validate`. */
    rc = wr_cli_load_job(path, &spec);
    if (rc)
        return rc;
    wr_spec_free(spec);
    if (read_file(path, &body, &body_len))
        return 1;

    target[0] = '\0';
    if (parallelism)
        snprintf(target, sizeof target, "/v1/jobs?parallelism=%d&name=", parallelism);
    else
        snprintf(target, sizeof target, "/v1/jobs?name=");
    if (!wr_http_url_encode(target, sizeof target, submit_name(path))) {
        fprintf(stderr, "weir submit: %s: path too long\n", path);
        free(body);
        return 2;
    }
    rc = call(&o, "POST", target, "application/yaml", body, body_len, SUBMIT_TIMEOUT_MS, false,
              &doc, &raw);
    free(body);
    if (rc)
        return 1;
    id = jstr(doc, "id");
    if (!id || !*id) {
        fprintf(stderr, "weir: bad response from the coordinator at %s: no job id\n",
                o.coordinator);
        rc = 1;
        goto out;
    }
    if (o.json) {
        print_json_line(&raw);
    } else {
        char *cid = clean_dup(id);
        printf("%s\n", cid);
        fflush(stdout);
        free(cid);
    }
    if (wait)
        rc = wait_for_job(&o, id, timeout_ms, timeout_text ? timeout_text : "");
out:
    wr_http_response_fini(&raw);
    cJSON_Delete(doc);
    return rc;
}
