/*
 * main.c — weir-worker: flags and environment, then the worker (worker.h) until SIGINT or
 * SIGTERM. docs/configuration.md lists every flag.
 */
#include "log.h"
#include "spec.h"
#include "wire.h"
#include "worker.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef WEIR_VERSION
#define WEIR_VERSION "dev"
#endif

static int usage(FILE *f)
{
    fprintf(f,
            "usage: weir-worker --coordinator URL [options]\n"
            "  --coordinator URL         the coordinator's worker endpoint, e.g.\n"
            "                            tcp://coordinator:7100 (WEIR_COORDINATOR_ADDRESS)\n"
            "  --listen URL              where this worker listens (WEIR_WORKER_LISTEN;\n"
            "                            default tcp://0.0.0.0:7200)\n"
            "  --advertise URL           the address others dial (WEIR_WORKER_ADVERTISE;\n"
            "                            default: --listen with 0.0.0.0 replaced by 127.0.0.1)\n"
            "  --id NAME                 worker id (WEIR_WORKER_ID; default HOSTNAME:PORT)\n"
            "  --slots N                 subtasks it runs at once (WEIR_WORKER_SLOTS; default 2)\n"
            "  --data-dir DIR            state of running jobs (WEIR_WORKER_DATA_DIR; default:\n"
            "                            the job's state.dir, $TMPDIR or /tmp)\n"
            "  --heartbeat-interval DUR  (WEIR_HEARTBEAT_INTERVAL; default: the coordinator's)\n"
            "  --kafka-timeout DUR       Kafka checks and flushes (WEIR_KAFKA_TIMEOUT; 10s)\n"
            "  --send-timeout DUR        longest wait to hand a frame to a peer\n"
            "                            (WEIR_SEND_TIMEOUT; default 10s)\n"
            "  --max-message SIZE        largest frame accepted (WEIR_MAX_MESSAGE; 16MiB)\n"
            "  --version\n");
    return f == stderr ? 2 : 0;
}

/* The value of a flag: argv, else the environment variable, else NULL. */
static const char *opt(int argc, char **argv, const char *flag, const char *env)
{
    for (int i = 1; i + 1 < argc; i++) {
        if (!strcmp(argv[i], flag))
            return argv[i + 1];
    }
    return getenv(env);
}

static bool duration(const char *flag, const char *v, int64_t *out)
{
    if (!v)
        return true;
    if (!wr_parse_duration_ms(v, out) || *out <= 0) {
        fprintf(stderr, "weir-worker: %s: '%s' is not a duration (e.g. 500ms, 5s)\n", flag, v);
        return false;
    }
    return true;
}

static const char *const known[] = {"--coordinator",
                                    "--listen",
                                    "--advertise",
                                    "--id",
                                    "--slots",
                                    "--data-dir",
                                    "--heartbeat-interval",
                                    "--kafka-timeout",
                                    "--send-timeout",
                                    "--max-message",
                                    NULL};

int main(int argc, char **argv)
{
    wr_worker_options o;
    wr_worker *w;
    wr_errbuf eb;
    const char *v;
    int64_t size;
    sigset_t set;
    int sig;

    for (int i = 1; i < argc; i++) {
        bool ok = false;
        if (!strcmp(argv[i], "--version") || !strcmp(argv[i], "version")) {
            printf("weir-worker %s\n", WEIR_VERSION);
            return 0;
        }
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            return usage(stdout);
        for (int k = 0; known[k]; k++)
            ok |= !strcmp(argv[i], known[k]);
        if (!ok || i + 1 >= argc) {
            fprintf(stderr, "weir-worker: %s '%s' (try --help)\n",
                    ok ? "missing value for" : "unknown option", argv[i]);
            return 2;
        }
        i++;
    }
    wr_worker_options_defaults(&o);
    o.coordinator = opt(argc, argv, "--coordinator", "WEIR_COORDINATOR_ADDRESS");
    if (!o.coordinator) {
        fprintf(stderr, "weir-worker: --coordinator URL is required (e.g. tcp://localhost:7100)\n");
        return 2;
    }
    if ((v = opt(argc, argv, "--listen", "WEIR_WORKER_LISTEN")))
        o.listen = v;
    o.advertise = opt(argc, argv, "--advertise", "WEIR_WORKER_ADVERTISE");
    o.id = opt(argc, argv, "--id", "WEIR_WORKER_ID");
    o.data_dir = opt(argc, argv, "--data-dir", "WEIR_WORKER_DATA_DIR");
    if ((v = opt(argc, argv, "--slots", "WEIR_WORKER_SLOTS"))) {
        char *end;
        long n = strtol(v, &end, 10);
        if (*end || n < 1 || n > 4096) {
            fprintf(stderr, "weir-worker: --slots: '%s' is not 1..4096\n", v);
            return 2;
        }
        o.slots = (int)n;
    }
    if (!duration("--heartbeat-interval",
                  opt(argc, argv, "--heartbeat-interval", "WEIR_HEARTBEAT_INTERVAL"),
                  &o.heartbeat_interval_ms) ||
        !duration("--kafka-timeout", opt(argc, argv, "--kafka-timeout", "WEIR_KAFKA_TIMEOUT"),
                  &o.kafka_timeout_ms) ||
        !duration("--send-timeout", opt(argc, argv, "--send-timeout", "WEIR_SEND_TIMEOUT"),
                  &o.send_timeout_ms))
        return 2;
    if ((v = opt(argc, argv, "--max-message", "WEIR_MAX_MESSAGE"))) {
        if (!wr_parse_size(v, &size) || size < 4096 || size > (1LL << 31)) {
            fprintf(stderr, "weir-worker: --max-message: '%s' is not a size of 4KiB..2GiB\n", v);
            return 2;
        }
        o.max_message = (size_t)size;
    }

    /* signals are taken by sigwait below, not by any thread */
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (wr_worker_start(&o, &w, &eb) != WR_OK) {
        fprintf(stderr, "weir-worker: %s\n", eb.msg);
        return 1;
    }
    fprintf(stderr, "weir-worker: %s ready, data at %s, coordinator %s\n", wr_worker_id(w),
            wr_worker_address(w), o.coordinator);
    sigwait(&set, &sig);
    wr_log(WR_LOG_INFO, "worker", "signal %d: stopping (running jobs are canceled)", sig);
    wr_worker_free(w);
    return 0;
}
