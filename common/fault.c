/*
 * fault.c — see fault.h.
 */
#include "fault.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_POINTS 8

typedef struct fpoint {
    char name[32];
    long at, seen;
} fpoint;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static fpoint points[MAX_POINTS];
static int npoints;

static void parse(void)
{
    const char *v = getenv("WEIR_FAULT_KILL_AT");
    char buf[256], *save = NULL;

    if (!v || !*v)
        return;
    snprintf(buf, sizeof buf, "%s", v);
    for (char *tok = strtok_r(buf, ",", &save); tok && npoints < MAX_POINTS;
         tok = strtok_r(NULL, ",", &save)) {
        char *colon = strchr(tok, ':');
        fpoint *p = &points[npoints++];
        p->at = 1;
        if (colon) {
            *colon = 0;
            p->at = strtol(colon + 1, NULL, 10);
            if (p->at < 1)
                p->at = 1;
        }
        snprintf(p->name, sizeof p->name, "%s", tok);
    }
}

void wr_fault(const char *point)
{
    pthread_once(&once, parse);
    if (npoints == 0)
        return;
    pthread_mutex_lock(&mu);
    for (int i = 0; i < npoints; i++) {
        if (strcmp(points[i].name, point) != 0)
            continue;
        if (++points[i].seen == points[i].at) {
            fprintf(stderr, "weir: fault injection: killing this process at '%s' (%ld)\n", point,
                    points[i].at);
            fflush(stderr);
            kill(getpid(), SIGKILL);
        }
    }
    pthread_mutex_unlock(&mu);
}
