/*
 * scheduler.h — where a job's subtasks run and which Kafka partitions each reads.
 *
 * Pure functions over a snapshot of the workers: no I/O, no clocks, deterministic.
 *
 * Placement spreads a job over the workers: subtask i goes to the alive worker with the
 * most free slots left, ties broken by the fewest subtasks of this job already there,
 * then by the lower worker index. 4 subtasks on 3 workers with 2 free slots each give
 * 2, 1, 1. One slot runs one subtask index of the job (its source subtask and its
 * window/sink subtask share the slot, as Flink's slot sharing does).
 *
 * Partitions: partition p is read by source subtask p mod P (wr_plan_partition_owner),
 * so every subtask gets ⌊n/P⌋ or ⌈n/P⌉ partitions and the assignment is explicit: no
 * consumer-group rebalancing.
 */
#ifndef WR_SCHEDULER_H
#define WR_SCHEDULER_H

#include "error.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct wr_sched_worker {
    int slots; /* total */
    int used;  /* taken by running jobs */
    bool alive;
} wr_sched_worker;

/* Places P subtasks on the workers: out[i] = index of subtask i's worker. Does not
 * change the workers. Returns WR_ENOTFOUND with "not enough free slots: the job needs P,
 * the cluster has F free on A alive worker(s)" when the alive workers' free slots are fewer
 * than P (out unchanged); WR_EINVAL if P < 1. */
wr_err wr_sched_place(const wr_sched_worker *workers, int nworkers, int P, int *out, wr_errbuf *eb);

/* owner[k] = the source subtask that reads partitions[k] (partition mod P). */
void wr_sched_assign_partitions(const int32_t *partitions, int npartitions, int P, int *owner);

#endif
