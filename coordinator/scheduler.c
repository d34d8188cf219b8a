/*
 * scheduler.c — placement of a job's subtasks on workers and of Kafka partitions on
 * source subtasks (see scheduler.h for the rules).
 *
 * Placement is a greedy "water filling" over free slots: each subtask goes to the alive
 * worker with the most free slots left at that moment, so after placement no worker that
 * received a subtask has fewer than (the most free slots left anywhere) - 1. On equal
 * workers this spreads the job evenly. O(P * nworkers), which is small: P is a job's
 * parallelism and nworkers the cluster size.
 */
#include "scheduler.h"

#include "plan.h"

#include <stdlib.h>

wr_err wr_sched_place(const wr_sched_worker *workers, int nworkers, int P, int *out, wr_errbuf *eb)
{
    int64_t free_total = 0;
    int alive = 0;
    int *left, *here;

    if (P < 1)
        return wr_fail(eb, WR_EINVAL, "parallelism must be at least 1, not %d", P);
    if (nworkers < 0 || (nworkers > 0 && !workers) || !out)
        return wr_fail(eb, WR_EINVAL, "invalid worker list");
    for (int w = 0; w < nworkers; w++) {
        if (!workers[w].alive)
            continue;
        alive++;
        if (workers[w].slots > workers[w].used)
            free_total += workers[w].slots - workers[w].used;
    }
    if (free_total < P)
        return wr_fail(eb, WR_ENOTFOUND,
                       "not enough free slots: the job needs %d, the cluster has %lld free on "
                       "%d alive worker(s)",
                       P, (long long)free_total, alive);

    left = calloc((size_t)nworkers, sizeof *left);
    here = calloc((size_t)nworkers, sizeof *here);
    if (!left || !here) {
        free(left);
        free(here);
        return wr_fail(eb, WR_ENOMEM, "out of memory placing %d subtasks", P);
    }
    for (int w = 0; w < nworkers; w++)
        left[w] = workers[w].alive && workers[w].slots > workers[w].used
                      ? workers[w].slots - workers[w].used
                      : 0;

    for (int i = 0; i < P; i++) {
        int best = -1;
        for (int w = 0; w < nworkers; w++) {
            if (left[w] <= 0)
                continue;
            /* strictly better only: on a full tie the lower index (seen first) wins */
            if (best < 0 || left[w] > left[best] || (left[w] == left[best] && here[w] < here[best]))
                best = w;
        }
        /* free_total >= P guarantees a worker with a free slot */
        left[best]--;
        here[best]++;
        out[i] = best;
    }
    free(left);
    free(here);
    return WR_OK;
}

void wr_sched_assign_partitions(const int32_t *partitions, int npartitions, int P, int *owner)
{
    for (int k = 0; k < npartitions; k++)
        owner[k] = wr_plan_partition_owner(partitions[k], P);
}
