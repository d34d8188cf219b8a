/*
 * weir.c — the `weir` command: dispatch to the verbs.
 */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef WEIR_VERSION
#define WEIR_VERSION "dev"
#endif

bool wr_cli_parse_int(const char *s, int lo, int hi, int *out)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return false;
    *out = (int)v;
    return true;
}

static int usage(FILE *f)
{
    fprintf(
        f, "usage: weir <command> [options]\n"
           "\n"
           "commands:\n"
           "  validate JOB.yaml               check a job file and print its plan\n"
           "  local JOB.yaml [--parallelism N] [--json]\n"
           "                                  run a job in this process\n"
           "  submit JOB.yaml [--parallelism N] [--wait [--timeout DUR]]\n"
           "                                  run a job on the cluster; prints its id\n"
           "  list                            the cluster's jobs\n"
           "  status JOB                      a job's state, counters and tasks\n"
           "  stop JOB                        finish a job: stop reading, write what is in flight\n"
           "  cancel JOB                      cancel a job\n"
           "  workers                         the registered workers and their slots\n"
           "  checkpoints JOB                 a job's checkpoint history\n"
           "  dev-kafka [--port P] [--topic NAME:PARTITIONS ...]\n"
           "                                  run an embedded Kafka-protocol broker\n"
           "  version                         print the version\n"
           "\n"
           "The cluster commands take --coordinator URL (default $WEIR_COORDINATOR,\n"
           "else http://127.0.0.1:8081) and --json (the coordinator's JSON answer).\n"
           "\n"
           "docs/cli.md describes every command.\n");
    return f == stderr ? 2 : 0;
}

/* The cluster verbs' common options may also come before the verb (`weir --coordinator
 * URL list`): moves them behind it, in place. */
static void hoist_common_opts(int argc, char **argv)
{
    int n = 1;

    for (;;) {
        if (n < argc && (!strcmp(argv[n], "--json") || !strncmp(argv[n], "--coordinator=", 14)))
            n++;
        else if (n + 1 < argc && !strcmp(argv[n], "--coordinator"))
            n += 2;
        else
            break;
    }
    /* argv[1..n) are options; rotate them behind the verb at argv[n] */
    if (n > 1 && n < argc) {
        char *verb = argv[n];
        memmove(argv + 2, argv + 1, (size_t)(n - 1) * sizeof *argv);
        argv[1] = verb;
    }
}

int main(int argc, char **argv)
{
    const char *verb;

    hoist_common_opts(argc, argv);
    if (argc < 2)
        return usage(stderr);
    verb = argv[1];
    if (!strcmp(verb, "validate"))
        return wr_cli_validate(argc - 2, argv + 2);
    if (!strcmp(verb, "local"))
        return wr_cli_local(argc - 2, argv + 2);
    if (!strcmp(verb, "submit"))
        return wr_cli_submit(argc - 2, argv + 2);
    if (!strcmp(verb, "list"))
        return wr_cli_list(argc - 2, argv + 2);
    if (!strcmp(verb, "status"))
        return wr_cli_status(argc - 2, argv + 2);
    if (!strcmp(verb, "cancel"))
        return wr_cli_cancel(argc - 2, argv + 2);
    if (!strcmp(verb, "stop"))
        return wr_cli_stop(argc - 2, argv + 2);
    if (!strcmp(verb, "workers"))
        return wr_cli_workers(argc - 2, argv + 2);
    if (!strcmp(verb, "checkpoints"))
        return wr_cli_checkpoints(argc - 2, argv + 2);
    if (!strcmp(verb, "dev-kafka"))
        return wr_cli_dev_kafka(argc - 2, argv + 2);
    if (!strcmp(verb, "version") || !strcmp(verb, "--version")) {
        printf("weir %s\n", WEIR_VERSION);
        return 0;
    }
    if (!strcmp(verb, "help") || !strcmp(verb, "--help") || !strcmp(verb, "-h"))
        return usage(stdout);
    fprintf(stderr, "weir: unknown command '%s' (try 'weir help')\n", verb);
    return 2;
}
