/*
 * main.c — weir-coordinator. In this version jobs run in one process with
 * `weir local`; scheduling, checkpoint coordination and the REST API come with the
 * cluster (docs/architecture.md, "Roadmap").
 */
#include <stdio.h>
#include <string.h>

#ifndef WEIR_VERSION
#define WEIR_VERSION "dev"
#endif

int main(int argc, char **argv)
{
    if (argc > 1 && (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version"))) {
        printf("weir-coordinator %s\n", WEIR_VERSION);
        return 0;
    }
    fprintf(argc > 1 && strcmp(argv[1], "--help") ? stderr : stdout,
            "usage: weir-coordinator --version\n"
            "This version runs jobs in one process with `weir local JOB.yaml`; cluster mode\n"
            "(weir-coordinator + weir-worker) is not part of this version.\n");
    return argc > 1 && !strcmp(argv[1], "--help") ? 0 : 2;
}
