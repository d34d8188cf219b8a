/*
 * main.c — weir-coordinator: flags (and their WEIR_* environment variables) into
 * wr_coord_options, wr_coord_start, then wait for SIGINT/SIGTERM and shut down cleanly.
 *
 * Every flag can also come from the environment; a flag wins over its variable. A bad
 * value is one line on stderr and exit status 2.
 */
#include "coord.h"
#include "log.h"
#include "spec.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <nng/nng.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef WEIR_VERSION
#define WEIR_VERSION "dev"
#endif

static const char usage[] =
    "usage: weir-coordinator [flags]\n"
    "\n"
    "  --listen URL              nng URL workers connect to (WEIR_COORDINATOR_LISTEN;\n"
    "                            default tcp://0.0.0.0:7100)\n"
    "  --http HOST:PORT          REST API address, port 0 = any free port (WEIR_HTTP;\n"
    "                            default 127.0.0.1:8081)\n"
    "  --heartbeat-timeout DUR   a worker silent this long is lost (WEIR_HEARTBEAT_TIMEOUT;\n"
    "                            default 5s)\n"
    "  --heartbeat-interval DUR  how often workers heartbeat (WEIR_HEARTBEAT_INTERVAL;\n"
    "                            default 1s)\n"
    "  --data-dir DIR            keep jobs and checkpoint metadata here, so a restarted\n"
    "                            coordinator resumes its jobs (WEIR_DATA_DIR; default: none,\n"
    "                            in memory only)\n"
    "  --checkpoint-storage URL  checkpoint storage for jobs that name none, e.g.\n"
    "                            file:///mnt/weir/checkpoints (WEIR_CHECKPOINT_STORAGE)\n"
    "  --restart-delay DUR       first wait before restarting a failed job; doubles with\n"
    "                            each consecutive restart (WEIR_RESTART_DELAY; default 1s)\n"
    "  --restart-delay-max DUR   cap of that wait (WEIR_RESTART_DELAY_MAX; default 1m)\n"
    "  --max-failures N          failures of one job within --failure-interval that FAIL it\n"
    "                            for good (WEIR_MAX_FAILURES; default 10)\n"
    "  --failure-interval DUR    (WEIR_FAILURE_INTERVAL; default 5m)\n"
    "  --max-restarts N          restarts of one job in all before it FAILS, -1 = no limit\n"
    "                            (WEIR_MAX_RESTARTS; default -1)\n"
    "  --slot-timeout DUR        longest wait for free slots (WEIR_SLOT_TIMEOUT; default 1m)\n"
    "  --kafka-timeout DUR       Kafka checks at submit (WEIR_KAFKA_TIMEOUT; default 10s)\n"
    "  --max-message BYTES       largest message accepted from workers, e.g. 16MiB\n"
    "                            (WEIR_MAX_MESSAGE; default 16MiB)\n"
    "  --version, --help\n"
    "\n"
    "DUR is 500ms, 5s, 1m, ... (a plain number is milliseconds).\n"
    "Logs go to stderr; WEIR_LOG_LEVEL=debug|info|warn|error.\n";

enum {
    OPT_LISTEN = 256,
    OPT_HTTP,
    OPT_HB_TIMEOUT,
    OPT_HB_INTERVAL,
    OPT_RESTART_DELAY,
    OPT_MAX_RESTARTS,
    OPT_SLOT_TIMEOUT,
    OPT_KAFKA_TIMEOUT,
    OPT_MAX_MESSAGE,
    OPT_DATA_DIR,
    OPT_CK_STORAGE,
    OPT_RESTART_DELAY_MAX,
    OPT_MAX_FAILURES,
    OPT_FAILURE_INTERVAL,
    OPT_VERSION,
    OPT_HELP,
};

static const struct option longopts[] = {
    {"listen", required_argument, NULL, OPT_LISTEN},
    {"http", required_argument, NULL, OPT_HTTP},
    {"heartbeat-timeout", required_argument, NULL, OPT_HB_TIMEOUT},
    {"heartbeat-interval", required_argument, NULL, OPT_HB_INTERVAL},
    {"restart-delay", required_argument, NULL, OPT_RESTART_DELAY},
    {"max-restarts", required_argument, NULL, OPT_MAX_RESTARTS},
    {"slot-timeout", required_argument, NULL, OPT_SLOT_TIMEOUT},
    {"kafka-timeout", required_argument, NULL, OPT_KAFKA_TIMEOUT},
    {"max-message", required_argument, NULL, OPT_MAX_MESSAGE},
    {"data-dir", required_argument, NULL, OPT_DATA_DIR},
    {"checkpoint-storage", required_argument, NULL, OPT_CK_STORAGE},
    {"restart-delay-max", required_argument, NULL, OPT_RESTART_DELAY_MAX},
    {"max-failures", required_argument, NULL, OPT_MAX_FAILURES},
    {"failure-interval", required_argument, NULL, OPT_FAILURE_INTERVAL},
    {"version", no_argument, NULL, OPT_VERSION},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

/* The environment variable of each flag (same order as the OPT_ values). */
static const struct {
    int opt;
    const char *env;
} envs[] = {
    {OPT_LISTEN, "WEIR_COORDINATOR_LISTEN"},     {OPT_HTTP, "WEIR_HTTP"},
    {OPT_HB_TIMEOUT, "WEIR_HEARTBEAT_TIMEOUT"},  {OPT_HB_INTERVAL, "WEIR_HEARTBEAT_INTERVAL"},
    {OPT_RESTART_DELAY, "WEIR_RESTART_DELAY"},   {OPT_MAX_RESTARTS, "WEIR_MAX_RESTARTS"},
    {OPT_SLOT_TIMEOUT, "WEIR_SLOT_TIMEOUT"},     {OPT_KAFKA_TIMEOUT, "WEIR_KAFKA_TIMEOUT"},
    {OPT_MAX_MESSAGE, "WEIR_MAX_MESSAGE"},       {OPT_DATA_DIR, "WEIR_DATA_DIR"},
    {OPT_CK_STORAGE, "WEIR_CHECKPOINT_STORAGE"}, {OPT_RESTART_DELAY_MAX, "WEIR_RESTART_DELAY_MAX"},
    {OPT_MAX_FAILURES, "WEIR_MAX_FAILURES"},     {OPT_FAILURE_INTERVAL, "WEIR_FAILURE_INTERVAL"},
};

/* "5s", "500ms", "1m", or a plain number of milliseconds. */
static bool parse_dur(const char *s, int64_t *out)
{
    const char *p = s;

    if (!*p)
        return false;
    while (isdigit((unsigned char)*p))
        p++;
    if (!*p) {
        char *end;
        long long v;
        errno = 0;
        v = strtoll(s, &end, 10);
        if (errno || *end)
            return false;
        *out = v;
        return true;
    }
    return wr_parse_duration_ms(s, out);
}

/* Applies one setting; `what` is "--flag" or "ENV_VAR" for the error. */
static bool apply(wr_coord_options *o, int opt, const char *v, const char *what)
{
    int64_t x;
    char *end;
    long n;

    switch (opt) {
    case OPT_LISTEN:
        if (!*v)
            goto bad_str;
        o->listen = v;
        return true;
    case OPT_HTTP:
        if (!*v)
            goto bad_str;
        o->http = v;
        return true;
    case OPT_DATA_DIR:
        if (!*v)
            goto bad_str;
        o->data_dir = v;
        return true;
    case OPT_CK_STORAGE:
        if (!*v)
            goto bad_str;
        o->checkpoint_storage = v;
        return true;
    case OPT_MAX_RESTARTS:
    case OPT_MAX_FAILURES:
        errno = 0;
        n = strtol(v, &end, 10);
        if (errno || *end || end == v || n < -1 || n > 1000000) {
            fprintf(stderr, "weir-coordinator: %s: '%s' is not a number from -1 to 1000000\n", what,
                    v);
            return false;
        }
        if (opt == OPT_MAX_RESTARTS)
            o->cluster.max_restarts = (int)n;
        else
            o->cluster.max_failures_per_interval = (int)n;
        return true;
    case OPT_MAX_MESSAGE:
        if (!wr_parse_size(v, &x) || x < 1024 || x > (1ll << 31)) {
            fprintf(stderr,
                    "weir-coordinator: %s: '%s' is not a size from 1KiB to 2GiB (e.g. 16MiB)\n",
                    what, v);
            return false;
        }
        o->max_message = (size_t)x;
        return true;
    default:
        break;
    }
    if (!parse_dur(v, &x) || x < 0 || x > 7ll * 24 * 3600 * 1000 ||
        (x == 0 && opt != OPT_RESTART_DELAY)) {
        fprintf(stderr, "weir-coordinator: %s: '%s' is not a duration (e.g. 500ms, 5s, 1m)\n", what,
                v);
        return false;
    }
    switch (opt) {
    case OPT_HB_TIMEOUT:
        o->cluster.heartbeat_timeout_ms = x;
        break;
    case OPT_HB_INTERVAL:
        o->cluster.heartbeat_interval_ms = x;
        break;
    case OPT_RESTART_DELAY:
        o->cluster.restart_delay_ms = x;
        break;
    case OPT_RESTART_DELAY_MAX:
        o->cluster.restart_delay_max_ms = x;
        break;
    case OPT_FAILURE_INTERVAL:
        o->cluster.failure_rate_interval_ms = x;
        break;
    case OPT_SLOT_TIMEOUT:
        o->cluster.slot_timeout_ms = x;
        break;
    case OPT_KAFKA_TIMEOUT:
        o->kafka_timeout_ms = x;
        break;
    default:
        break;
    }
    return true;

bad_str:
    fprintf(stderr, "weir-coordinator: %s: must not be empty\n", what);
    return false;
}

/* Returns -1 to go on, else the exit status. */
static int parse_args(int argc, char **argv, wr_coord_options *o)
{
    int opt;

    for (size_t i = 0; i < sizeof envs / sizeof envs[0]; i++) {
        const char *v = getenv(envs[i].env);
        if (v && !apply(o, envs[i].opt, v, envs[i].env))
            return 2;
    }
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        char what[64];

        switch (opt) {
        case OPT_VERSION:
            printf("weir-coordinator %s\n", WEIR_VERSION);
            return 0;
        case OPT_HELP:
            fputs(usage, stdout);
            return 0;
        case '?':
            if (optopt)
                fprintf(stderr, "weir-coordinator: %s needs a value (see --help)\n",
                        argv[optind - 1]);
            else
                fprintf(stderr, "weir-coordinator: unknown flag '%s' (see --help)\n",
                        argv[optind - 1]);
            return 2;
        default:
            snprintf(what, sizeof what, "--%s", longopts[opt - OPT_LISTEN].name);
            if (!apply(o, opt, optarg, what))
                return 2;
            break;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "weir-coordinator: unexpected argument '%s' (see --help)\n", argv[optind]);
        return 2;
    }
    if (o->cluster.heartbeat_interval_ms >= o->cluster.heartbeat_timeout_ms) {
        fprintf(stderr,
                "weir-coordinator: --heartbeat-interval (%lld ms) must be shorter than "
                "--heartbeat-timeout (%lld ms)\n",
                (long long)o->cluster.heartbeat_interval_ms,
                (long long)o->cluster.heartbeat_timeout_ms);
        return 2;
    }
    return -1;
}

int main(int argc, char **argv)
{
    wr_coord_options o;
    wr_coord *c = NULL;
    sigset_t set;
    wr_errbuf eb;
    int rc, sig = 0;

    wr_coord_options_defaults(&o);
    rc = parse_args(argc, argv, &o);
    if (rc >= 0)
        return rc;

    /* Block the signals before any thread starts, so only sigwait below sees them. */
    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    if (wr_coord_start(&o, &c, &eb) != WR_OK) {
        fprintf(stderr, "weir-coordinator: %s\n", eb.msg);
        return 1;
    }
    {
        /* "127.0.0.1:0" → "127.0.0.1:PORT" */
        const char *colon = strrchr(o.http, ':');
        int hlen = colon ? (int)(colon - o.http) : (int)strlen(o.http);
        fprintf(stderr, "weir-coordinator: workers at %s, REST API at http://%.*s:%d\n",
                wr_coord_listen_url(c), hlen ? hlen : 7, hlen ? o.http : "0.0.0.0",
                wr_coord_http_port(c));
    }
    wr_log(WR_LOG_INFO, "coordinator", "weir-coordinator %s started", WEIR_VERSION);
    while (sigwait(&set, &sig) != 0)
        ;
    wr_log(WR_LOG_INFO, "coordinator", "%s: shutting down", strsignal(sig));
    wr_coord_free(c);
    nng_fini();
    return 0;
}
