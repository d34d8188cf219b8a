/*
 * job-internal.h — what the job runtime and its tasks share. Not a public API.
 */
#ifndef WR_JOB_INTERNAL_H
#define WR_JOB_INTERNAL_H

#include "channel.h"
#include "exchange.h"
#include "job.h"
#include "kafka.h"
#include "plan.h"
#include "snapshot.h"
#include "state.h"
#include "window.h"

#include <pthread.h>
#include <stdatomic.h>

typedef struct wr_task {
    struct wr_job *job;
    int stage;
    int subtask;
    pthread_t thread;
    bool started;
    /* source tasks: the partitions they read and where reading stops */
    int nparts;
    int32_t *parts;
    int64_t *start; /* per local partition: first offset (or RD_KAFKA_OFFSET_BEGINNING) */
    int64_t *stop;  /* per local partition: stop offset, INT64_MAX when unbounded */
    bool here;      /* runs in this process (cluster mode: placed on this worker) */
    /* stage-1 tasks with a window: their counters, published under job->mu */
    wr_window_stats window_stats;
    wr_state_stats state_stats;
    /* checkpoints, under job->mu: */
    bool ended;            /* the task's thread is done with its input */
    int64_t last_barrier;  /* source: the last checkpoint it emitted or acked */
    int64_t *final_next;   /* source, once ended cleanly: the next offset per partition */
    wr_snapshotter *snap;  /* stage 1 with keyed state (owned by the task; the uploader
                            * uses it until the job is freed) */
    int kg_first, kg_last; /* stage 1 */
} wr_task;

/* Work for the job's uploader thread (worker/ckupload.c). */
typedef struct wr_upload {
    wr_task *t;
    int64_t id;
    bool confirm; /* true: checkpoint id completed (drop older local copies), no upload */
    int64_t watermark;
    uint64_t alignment_ms, sync_ms;
    struct wr_upload *next;
} wr_upload;

struct wr_job {
    const wr_job_spec *spec;
    wr_plan plan;
    wr_job_options opt;
    atomic_bool stop_requested;
    atomic_bool canceled;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    int running; /* tasks still running */
    wr_err first_err;
    char first_msg[WR_ERRBUF_SIZE];
    bool finalized;
    int npartitions;
    wr_producer **sinks;   /* one per spec sink, shared by the sink subtasks */
    wr_producer *dlq;      /* NULL when no dead_letter is configured */
    wr_producer *late;     /* NULL when no late_data is configured */
    char *state_dir;       /* the job's state directory (windows), removed at the end */
    wr_inbox **inboxes;    /* stage-1 subtask i's input (NULL if it runs elsewhere); channel j =
                            * stage-0 subtask j */
    wr_exchange *exchange; /* cluster mode: channels to subtasks elsewhere; NULL otherwise */
    wr_task *tasks;        /* P source tasks then P sink tasks */
    int ntasks;
    /* checkpoints */
    _Atomic int64_t ck_trigger; /* the newest checkpoint triggered (0: none) */
    int64_t corrupt_ck;         /* under mu: restore failed its checksum */
    pthread_t uploader;
    bool uploader_started;
    pthread_mutex_t up_mu;
    pthread_cond_t up_cond;
    wr_upload *up_head, *up_tail;
    bool up_stop;
    atomic_uint_fast64_t records_in;
    atomic_uint_fast64_t filtered;
    atomic_uint_fast64_t bytes_in;
    atomic_uint_fast64_t late_records;
};

/* Records the job's first failure and cancels every task. Any thread. */
void wr_job_fail(struct wr_job *job, wr_err err, const char *msg);

/* True once the job failed or was canceled: tasks return as soon as they see it. */
static inline bool wr_job_canceled(struct wr_job *job)
{
    return atomic_load_explicit(&job->canceled, memory_order_relaxed);
}

/* Sends b from source subtask `from` to stage-1 subtask `to`, here or on another worker,
 * waiting up to timeout_ms (-1: forever) for room (credit). On WR_OK b is handed over; on
 * WR_ETIMEDOUT it stays the caller's; on any other error it is freed and the job failed. */
wr_err wr_job_send(struct wr_job *job, int from, int to, wr_batch *b, int64_t timeout_ms);

/* Stage-1 subtask `to` took a batch from channel `from`: returns its credit when the
 * sender is on another worker. False if that failed (the job is failed). */
bool wr_job_taken(struct wr_job *job, int from, int to);

/* Checkpoint plumbing (job.c): an ack or decline to the job's callbacks. */
void wr_job_ack(struct wr_job *job, const wr_ck_ack *a);
void wr_job_decline(struct wr_job *job, int64_t id, int subtask, const char *reason, bool finished);
static inline bool wr_job_checkpointing(const struct wr_job *job)
{
    return job->opt.ck_store != NULL;
}

/* The uploader thread (ckupload.c): uploads stage-1 snapshots and acks them, in order. */
wr_err wr_uploader_start(struct wr_job *job, wr_errbuf *eb);
/* Queues an upload or a confirm (copied). False if out of memory. */
bool wr_uploader_push(struct wr_job *job, const wr_upload *u);
/* Stops the thread, dropping queued work (the job ends). */
void wr_uploader_stop(struct wr_job *job);

/* Task bodies (thread entry points): task-source.c and task-sink.c. */
void *wr_source_task_main(void *arg);
void *wr_sink_task_main(void *arg);

#endif
