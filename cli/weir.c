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
    fprintf(f, "usage: weir <command> [options]\n"
               "\n"
               "commands:\n"
               "  validate JOB.yaml               check a job file and print its plan\n"
               "  local JOB.yaml [--parallelism N] [--json]\n"
               "                                  run a job in this process\n"
               "  dev-kafka [--port P] [--topic NAME:PARTITIONS ...]\n"
               "                                  run an embedded Kafka-protocol broker\n"
               "  version                         print the version\n"
               "\n"
               "docs/cli.md describes every command.\n");
    return f == stderr ? 2 : 0;
}

int main(int argc, char **argv)
{
    const char *verb;

    if (argc < 2)
        return usage(stderr);
    verb = argv[1];
    if (!strcmp(verb, "validate"))
        return wr_cli_validate(argc - 2, argv + 2);
    if (!strcmp(verb, "local"))
        return wr_cli_local(argc - 2, argv + 2);
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
