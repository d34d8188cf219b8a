/*
 * local.c — `weir local JOB.yaml`: run a whole job in this process.
 *
 * Progress goes to stderr every 2 s; the final summary to stderr, or as one JSON
 * object on stdout with --json. SIGINT/SIGTERM stop the job gracefully (sources stop
 * reading, everything in flight is written, sinks flush); a second signal cancels.
 * Exit status: 0 finished, 1 failed, 2 bad usage or job file.
 */
#include "cli-job.h"
#include "cli.h"
#include "job.h"
#include "log.h"

#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

/* The window line of the progress log: watermark, results, lateness, state. */
static void log_window_stats(const wr_job_stats *st)
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

int wr_cli_local(int argc, char **argv)
{
    const char *path = NULL;
    wr_job_options opt = {0};
    bool json = false;
    wr_job_spec *spec;
    wr_job *job;
    wr_job_stats st;
    wr_errbuf eb;
    wr_err e;
    struct sigaction sa;
    double t0, elapsed;
    int rc, handled = 0, timeout_ms = 0;

    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--parallelism") && i + 1 < argc) {
            if (!wr_cli_parse_int(argv[++i], 1, 32768, &opt.parallelism)) {
                fprintf(stderr, "weir local: --parallelism: '%s' is not 1..32768\n", argv[i]);
                return 2;
            }
        } else if (!strcmp(argv[i], "--kafka-timeout") && i + 1 < argc) {
            if (!wr_cli_parse_int(argv[++i], 1, 3600000, &timeout_ms)) {
                fprintf(stderr, "weir local: --kafka-timeout: '%s' is not 1..3600000 ms\n",
                        argv[i]);
                return 2;
            }
            opt.kafka_timeout_ms = timeout_ms;
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

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    t0 = now_s();
    tune_malloc();
    e = wr_job_start(spec, &opt, &job, &eb);
    if (e) {
        fprintf(stderr, "weir local: %s: %s\n", path, eb.msg);
        wr_spec_free(spec);
        return e == WR_EUNSUPPORTED || e == WR_ESPEC ? 2 : 1;
    }
    for (;;) {
        e = wr_job_wait(job, 2000, &eb);
        if (e != WR_ETIMEDOUT)
            break;
        if (signals_seen > handled) {
            handled = signals_seen;
            if (handled == 1) {
                wr_log(WR_LOG_INFO, "local",
                       "stopping: finishing records in flight (signal "
                       "again to cancel)");
                wr_job_stop(job);
            } else {
                wr_log(WR_LOG_WARN, "local", "canceling");
                break;
            }
        }
        wr_job_get_stats(job, &st);
        wr_log(WR_LOG_INFO, "local", "running: %llu in, %llu out, %llu filtered, %llu dead letters",
               (unsigned long long)st.records_in, (unsigned long long)st.records_out,
               (unsigned long long)st.filtered, (unsigned long long)st.dead_letters);
        if (st.windowed)
            log_window_stats(&st);
    }
    elapsed = now_s() - t0;
    wr_job_get_stats(job, &st);
    if (e == WR_ETIMEDOUT) {
        e = WR_ECANCELED;
        snprintf(eb.msg, sizeof eb.msg, "canceled");
    }
    if (json) {
        printf("{\"job\":\"%s\",\"state\":\"%s\",\"records_in\":%llu,\"records_out\":%llu,"
               "\"filtered\":%llu,\"dead_letters\":%llu,\"bytes_in\":%llu,\"partitions\":%d,"
               "\"late_records\":%llu,\"late_updates\":%llu,\"windows_fired\":%llu,"
               "\"retractions\":%llu,\"state_evictions\":%llu,\"state_db_writes\":%llu,"
               "\"state_db_reads\":%llu,\"watermark\":%lld,\"seconds\":%.3f}\n",
               spec->name, e ? "FAILED" : "FINISHED", (unsigned long long)st.records_in,
               (unsigned long long)st.records_out, (unsigned long long)st.filtered,
               (unsigned long long)st.dead_letters, (unsigned long long)st.bytes_in, st.partitions,
               (unsigned long long)st.late_records, (unsigned long long)st.late_updates,
               (unsigned long long)st.windows_fired, (unsigned long long)st.retractions,
               (unsigned long long)st.state_evictions, (unsigned long long)st.state_db_writes,
               (unsigned long long)st.state_db_reads, (long long)st.watermark, elapsed);
        fflush(stdout);
    }
    if (st.windowed)
        log_window_stats(&st);
    if (e) {
        fprintf(stderr, "weir local: job '%s' FAILED: %s\n", spec->name, eb.msg);
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
    wr_job_free(job);
    wr_spec_free(spec);
    return rc;
}
