/*
 * main.c — weir-worker. In this version a worker runs jobs only inside `weir local`
 * (the same runtime, linked into the CLI); registering with a coordinator and taking
 * deployed tasks over nng comes with the cluster (docs/architecture.md, "Roadmap").
 */
#include <stdio.h>
#include <string.h>

#ifndef WEIR_VERSION
#define WEIR_VERSION "dev"
#endif

int main(int argc, char **argv)
{
    if (argc > 1 && (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version"))) {
        printf("weir-worker %s\n", WEIR_VERSION);
        return 0;
    }
    fprintf(argc > 1 && strcmp(argv[1], "--help") ? stderr : stdout,
            "usage: weir-worker --version\n"
            "This version runs jobs in one process with `weir local JOB.yaml`; cluster mode\n"
            "(weir-coordinator + weir-worker) is not part of this version.\n");
    return argc > 1 && !strcmp(argv[1], "--help") ? 0 : 2;
}
