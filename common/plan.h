/*
 * plan.h — from a checked job spec to a physical plan.
 *
 * The pipeline runs in two stages of `parallelism` subtasks each:
 *   stage 0: source → the stateless operators before key_by (fused, one thread)
 *   stage 1: the operators after key_by (windows, aggregates, ...) → sinks
 * Between them is an exchange: HASH by key group when the pipeline has key_by,
 * otherwise FORWARD (subtask i of stage 0 feeds subtask i of stage 1). Kafka
 * partitions are assigned to source subtasks explicitly (partition p → subtask
 * p mod parallelism); there is no consumer-group rebalancing.
 *
 * Everything here is pure: no I/O but wr_plan_print's FILE.
 */
#ifndef WR_PLAN_H
#define WR_PLAN_H

#include "error.h"
#include "spec.h"

#include <stdio.h>

typedef enum wr_exchange_kind {
    WR_EXCHANGE_FORWARD,
    WR_EXCHANGE_HASH,
} wr_exchange_kind;

typedef struct wr_stage {
    int parallelism;
    int first_op; /* pipeline operators [first_op, first_op + n_ops) run fused here */
    int n_ops;
    bool reads_source;
    bool writes_sinks;
    const wr_schema *in_schema;  /* schema entering the stage's first operator */
    const wr_schema *out_schema; /* schema leaving the stage */
} wr_stage;

typedef struct wr_plan {
    int parallelism;
    int max_parallelism;
    wr_exchange_kind exchange; /* between stage 0 and stage 1 */
    const int *key_cols;       /* HASH: key columns in stage 0's output schema */
    int n_keys;
    int nstages; /* always 2 */
    wr_stage stages[2];
} wr_plan;

/* Builds the plan for spec with the given parallelism (0: the spec's). The plan points
 * into spec, which must outlive it. Fails with WR_EINVAL if parallelism is out of range
 * (1..max_parallelism). */
wr_err wr_plan_build(const wr_job_spec *spec, int parallelism, wr_plan *out, wr_errbuf *eb);

/* Sets used[i] for each field of the source schema that the job reads: fields that
 * expressions, key_by, aggregates or event time refer to, and every field that reaches
 * the sinks unchanged. used has one entry per source field; all are overwritten. */
void wr_plan_used_source_fields(const wr_job_spec *spec, bool *used);

/* The source subtask that reads partition p. */
static inline int wr_plan_partition_owner(int32_t partition, int parallelism)
{
    return (int)(partition % parallelism);
}

/* Refuses what this build of weir cannot run yet, with the field named (WR_EUNSUPPORTED):
 * `delivery: exactly_once` until checkpoints exist. Checked at submit, by `weir local`
 * and by the worker. */
wr_err wr_plan_check_supported(const wr_job_spec *spec, wr_errbuf *eb);

/* Prints the plan for people: stages, operators, exchange, key-group ranges. */
void wr_plan_print(const wr_plan *plan, const wr_job_spec *spec, FILE *f);

#endif
