/*
 * job.h — running one job's tasks inside this process.
 *
 * wr_job_start() checks the job's Kafka topics (clear errors for unreachable brokers and
 * missing topics), creates the producers, the source subtasks (stage 0) and the sink
 * subtasks (stage 1) on their own threads, connected by bounded inboxes, and returns.
 * Bounded sources (`stop:`) finish by themselves; wr_job_stop() asks unbounded ones to
 * finish: sources stop reading and send END, every task drains, sinks flush. A job is
 * FINISHED when every task ended cleanly, FAILED on the first task error.
 *
 * Threads: the caller's thread owns the wr_job; every task has its own thread.
 */
#ifndef WR_JOB_H
#define WR_JOB_H

#include "error.h"
#include "spec.h"

#include <stdint.h>

typedef struct wr_job wr_job;

struct wr_exchange;
struct wr_part_offsets;
struct wr_ckstore;
struct wr_snap_handle;

/* One subtask's part of a checkpoint, as the job reports it (see wr_ck_callbacks). */
typedef struct wr_ck_ack {
    int64_t id;
    int subtask;
    int stage; /* 0: source (offsets), 1: window/sink (state) */
    int nparts;
    const int32_t *parts;               /* stage 0: the partitions it reads */
    const int64_t *offsets;             /* stage 0: the next offset of each, not yet in the state */
    const struct wr_snap_handle *state; /* stage 1 with keyed state; NULL otherwise */
    int64_t watermark;                  /* stage 1: the window operator's */
    int kg_first, kg_last;
    uint64_t alignment_ms, sync_ms, async_ms;
} wr_ck_ack;

/* Where a job's checkpoint acknowledgements go (the worker sends them on). Called from
 * task and uploader threads, never with a job lock held. */
typedef struct wr_ck_callbacks {
    void *arg;
    void (*ack)(void *arg, const wr_ck_ack *a);
    void (*decline)(void *arg, int64_t id, int subtask, const char *reason, bool finished);
} wr_ck_callbacks;

/* The restored state of one stage-1 subtask. */
typedef struct wr_ck_restore {
    int subtask;
    const struct wr_snap_handle *state; /* NULL: the subtask had no keyed state */
    int64_t watermark;
} wr_ck_restore;

typedef struct wr_job_options {
    int parallelism;          /* 0: the spec's */
    int64_t kafka_timeout_ms; /* broker/topic checks and final flushes; 0: 10000 */
    /* Cluster mode (a worker's deployment); all NULL in a job that runs whole here. */
    const struct wr_part_offsets *parts; /* the source's partitions and offsets (NULL:
                                          * resolved from Kafka at start) */
    const int *part_subtask;             /* nparts entries: the source subtask of each */
    int nparts;
    const bool *run_here;         /* parallelism entries: the subtask indexes that run in
                                   * this process (source and window/sink); NULL: all */
    struct wr_exchange *exchange; /* channels to the subtasks that run elsewhere */
    const char *state_root;       /* where the state directory goes (NULL: state.dir,
                                   * $TMPDIR or /tmp) */
    /* Checkpoints (docs/checkpoints.md); off when ck_store is NULL. */
    struct wr_ckstore *ck_store; /* used, not owned */
    const char *job_id;          /* names the storage directory */
    uint32_t attempt;
    const char *ck_local_root; /* local copies: <root>/s<subtask>/<id> */
    wr_ck_callbacks ck;
    int64_t restore_id;           /* 0: a fresh start */
    const wr_ck_restore *restore; /* nrestore entries (stage-1 subtasks that run here) */
    int nrestore;
} wr_job_options;

typedef struct wr_job_stats {
    uint64_t records_in;   /* consumed from the source */
    uint64_t filtered;     /* dropped by filters */
    uint64_t records_out;  /* delivered to sinks (per sink, summed) */
    uint64_t dead_letters; /* delivered to the dead-letter topic */
    uint64_t bytes_in;
    int partitions; /* source partitions */
    /* windows (zero without one) */
    bool windowed;
    uint64_t late_records;    /* later than allowed_lateness: to late_data, or dropped */
    uint64_t late_updates;    /* results re-emitted for records within allowed_lateness */
    uint64_t windows_fired;   /* results emitted when the watermark passed a window */
    uint64_t retractions;     /* session results retracted (tombstones) */
    uint64_t state_evictions; /* cache entries evicted to stay within state.memory */
    uint64_t state_db_writes; /* entries written to RocksDB */
    uint64_t state_db_reads;  /* RocksDB lookups (cache misses) */
    uint64_t state_cache_bytes;
    int64_t watermark; /* the lowest watermark of the window subtasks */
} wr_job_stats;

wr_err wr_job_start(const wr_job_spec *spec, const wr_job_options *opt, wr_job **out,
                    wr_errbuf *eb);

/* Asks the sources to stop reading and the job to drain and finish (idempotent,
 * async-signal-safe). */
void wr_job_stop(wr_job *job);

/* Waits up to timeout_ms (-1: forever) for the job to end. Returns WR_ETIMEDOUT if it
 * is still running, WR_OK if it finished, or the first task's error (eb says why). */
wr_err wr_job_wait(wr_job *job, int64_t timeout_ms, wr_errbuf *eb);

void wr_job_get_stats(wr_job *job, wr_job_stats *out);

/* Checkpoint id starts at this job's sources (any thread): each source here records its
 * offsets, emits barrier id and acks; sources that already finished ack at once with
 * their final offsets; stage-1 subtasks here that already finished decline (finished). */
void wr_job_trigger_checkpoint(wr_job *job, int64_t id);

/* Checkpoint id completed: local copies of older ones are dropped (any thread). */
void wr_job_checkpoint_complete(wr_job *job, int64_t id);

/* After the job failed: the checkpoint whose state failed its checksum while restoring
 * (0: none). */
int64_t wr_job_corrupt_checkpoint(wr_job *job);

/* Cancels every task (any thread); wr_job_wait then returns WR_ECANCELED. */
void wr_job_cancel(wr_job *job);

/* Cluster mode: a batch from source subtask `from` on another worker for stage-1 subtask
 * `to` here (the exchange's receive path). Never blocks: a sender holds a credit for
 * every batch, so a full channel means the peer broke the protocol (WR_ETOOBIG; the
 * batch stays the caller's). WR_EINVAL if `to` does not run here. */
wr_err wr_job_deliver(wr_job *job, int to, int from, struct wr_batch *b);

/* Cluster mode: the time source subtasks here spent waiting for credit (ms). */
uint64_t wr_job_backpressured_ms(wr_job *job);

/* Cancels whatever still runs, joins every thread and frees the job. NULL is a no-op. */
void wr_job_free(wr_job *job);

#endif
