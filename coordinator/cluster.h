/* clang-format off: the lifecycle diagram is wider in bytes than in columns */
/*
 * cluster.h — the coordinator's brain: workers, jobs, their lifecycle and failure
 * detection, as a pure state machine.
 *
 * Inputs are events with the current time in ms (simulated in tests): a worker registers
 * or heartbeats, a worker reports a deployment's state, a user submits or cancels a job,
 * time passes (wr_cluster_tick). Outputs are actions the I/O layer performs
 * (wr_cluster_next_action): send a RegisterAck, a Deploy or a Cancel to a worker. There is
 * no I/O, no clock and no randomness inside; job ids come from the configured seed.
 *
 * Job lifecycle (Flink's names):
 *
 *   CREATED ──(enough free slots: deploy attempt 1)──▶ RUNNING ──(every worker FINISHED)──▶
 * FINISHED │                                                │ │ slot_timeout │ a deployment FAILED,
 * or its worker lost ▼                                                ▼ FAILED ◀──(restarts >
 * max_restarts, or no slots    FAILING ──(cancel sent to the others; all within slot_timeout)──
 * RESTARTING ◀──     terminal or lost)──┘ │ restart_delay passed and slots free: attempt+1
 *                                         └──────────────────────────────▶ RUNNING
 *   cancel: CREATED/RESTARTING → CANCELED at once; RUNNING/FAILING → CANCELING (Cancel sent
 *   to every worker of the attempt) → CANCELED when all are terminal or lost.
 *
 * A deployment is the subtasks of one attempt of one job on one worker. Without
 * checkpoints (until issue 5) a restart starts from the job's resolved start offsets, so
 * output is at-least-once across restarts.
 *
 * Failure detection: a worker whose last heartbeat (or registration) is older than
 * heartbeat_timeout_ms at a tick is LOST: its slots are no longer counted and each of its
 * deployments in a live job fails with "worker W lost: no heartbeat for 5.0 s". A worker
 * that registers again with the same id is ALIVE again (with none of its old
 * deployments: a registration means a fresh process, so any deployment the cluster still
 * placed there has failed). A heartbeat from an unknown or lost worker returns false: the
 * I/O layer tells it to register again. A heartbeat or report for a deployment the cluster
 * does not consider live (old attempt, ended job) while the worker says it RUNS makes the
 * cluster send that worker a Cancel for it; so does one for a deployment the cluster is
 * stopping (a FAILING or CANCELING job), so that a lost Cancel is sent again.
 *
 * Threads: none; the caller serialises all calls (the coordinator's loop thread).
 */
/* clang-format on */
#ifndef WR_CLUSTER_H
#define WR_CLUSTER_H

#include "checkpoint.h"
#include "error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WR_CLUSTER_ID_MAX 64

#define WR_CK_PATH_MAX 1100 /* storage paths in actions */

typedef struct wr_cluster_config {
    int64_t heartbeat_timeout_ms;  /* default 5000 */
    int64_t heartbeat_interval_ms; /* told to workers in RegisterAck; default 1000 */
    /* Restart strategy (Flink's exponential-delay plus a failure-rate limit): the n-th
     * consecutive restart waits restart_delay × multiplier^(n-1), at most
     * restart_delay_max; a job that ran restart_reset_ms without failing starts again
     * at restart_delay. More than max_failures_per_interval failures within
     * failure_rate_interval_ms, or more than max_restarts restarts in all, fail it. */
    int64_t restart_delay_ms;         /* default 1000 */
    int64_t restart_delay_max_ms;     /* default 60000 */
    double restart_multiplier;        /* default 2.0 */
    int64_t restart_reset_ms;         /* default 600000 */
    int max_failures_per_interval;    /* default 10 */
    int64_t failure_rate_interval_ms; /* default 300000 */
    int max_restarts;                 /* default -1: no limit beyond the failure rate */
    int64_t slot_timeout_ms;          /* default 60000: longest wait for free slots */
    uint64_t id_seed;                 /* job ids */
} wr_cluster_config;

/* Fills in the defaults above. */
void wr_cluster_config_defaults(wr_cluster_config *cfg);

typedef enum wr_cjob_state {
    WR_CJOB_CREATED,
    WR_CJOB_RUNNING,
    WR_CJOB_FAILING,
    WR_CJOB_RESTARTING,
    WR_CJOB_CANCELING,
    WR_CJOB_CANCELED,
    WR_CJOB_FAILED,
    WR_CJOB_FINISHED,
} wr_cjob_state;
const char *wr_cjob_state_name(wr_cjob_state s); /* "RUNNING", ... */
bool wr_cjob_state_terminal(wr_cjob_state s);    /* CANCELED, FAILED, FINISHED */

/* A deployment's state, as workers report it (values match proto weir.TaskState). */
typedef enum wr_ctask_state {
    WR_CTASK_UNKNOWN = 0,
    WR_CTASK_DEPLOYING = 1,
    WR_CTASK_RUNNING = 2,
    WR_CTASK_FINISHED = 3,
    WR_CTASK_FAILED = 4,
    WR_CTASK_CANCELED = 5,
} wr_ctask_state;
const char *wr_ctask_state_name(wr_ctask_state s);

/* Counters of a deployment (mirror proto weir.Stats). */
typedef struct wr_cstats {
    uint64_t records_in, records_out, filtered, dead_letters, bytes_in;
    uint64_t late_records, late_updates, windows_fired, retractions;
    uint64_t state_evictions, state_db_writes, state_db_reads, state_cache_bytes;
    int64_t watermark; /* INT64_MIN: none yet */
    bool windowed;
    uint64_t backpressured_ms;
} wr_cstats;

typedef struct wr_cworker {
    char id[WR_CLUSTER_ID_MAX];
    char *address; /* data address (nng URL) */
    char *host;
    char *version;
    int slots;
    int used; /* slots taken by live deployments */
    bool alive;
    int64_t registered_at;
    int64_t last_heartbeat; /* ms; registration counts as one */
} wr_cworker;

typedef struct wr_cpart {
    int32_t partition;
    int subtask;
    int64_t start; /* first offset to read */
    int64_t stop;  /* -1: unbounded */
} wr_cpart;

/* One worker's share of the current attempt. */
typedef struct wr_cdeploy {
    int worker; /* index into the workers (stable: workers are never removed) */
    wr_ctask_state state;
    char *message; /* FAILED: why */
    wr_cstats stats;
} wr_cdeploy;

typedef struct wr_cjob {
    char id[WR_CLUSTER_ID_MAX];
    char *name;
    char *spec_yaml;
    char *spec_name;
    int parallelism;
    wr_cjob_state state;
    uint32_t attempt; /* 0 until first deployed */
    int restarts;
    char *failure; /* the last failure's reason (NULL if none) */
    int64_t submitted_at, state_since;
    int64_t waiting_since; /* CREATED/RESTARTING: since when it waits for slots */
    int64_t restart_at;    /* RESTARTING: not before */
    int *worker_of;        /* parallelism entries: the worker of each subtask, -1 if none */
    int nparts;
    wr_cpart *parts;
    bool stopping; /* a stop was requested for the current attempt */
    int ndeploys;  /* the current attempt's deployments, one per worker used */
    wr_cdeploy *deploys;
    struct wr_ckc *ck;        /* its checkpoint coordinator (checkpoint.h); never NULL */
    int64_t restored_from;    /* the checkpoint the current attempt restored (0: none) */
    char *checkpoint_storage; /* storage URL ("" when checkpoints are off) */
    wr_ckc_config checkpoint; /* as submitted */
    int64_t failed_at;        /* the last failure (0: none); workers must heartbeat after
                               * it to be placed again */
    int64_t deployed_at;      /* the current attempt's deployment */
    int consecutive;          /* restarts since the job last ran restart_reset_ms */
    int64_t *fail_times;      /* ring of the last max_failures_per_interval + 1 failures */
    int nfail_times;
} wr_cjob;

typedef struct wr_cluster wr_cluster;

wr_cluster *wr_cluster_new(const wr_cluster_config *cfg);
void wr_cluster_free(wr_cluster *c);

/* A worker registers (or registers again). Queues a REGISTER_ACK action. */
wr_err wr_cluster_register(wr_cluster *c, int64_t now, const char *id, const char *address,
                           int slots, const char *host, const char *version, wr_errbuf *eb);

/* One deployment's state as a worker reports it. */
typedef struct wr_creport {
    const char *job_id;
    uint32_t attempt;
    wr_ctask_state state;
    const char *message;
    wr_cstats stats;
    int64_t corrupt_checkpoint; /* FAILED restoring this checkpoint (checksum): never again */
} wr_creport;

/* A heartbeat with every deployment the worker runs. Returns false if the worker is
 * unknown or LOST (the caller then asks it to register again). */
bool wr_cluster_heartbeat(wr_cluster *c, int64_t now, const char *worker_id,
                          const wr_creport *reports, int nreports);
/* A state change sent at once by a worker (same rules as a heartbeat's reports). */
void wr_cluster_report(wr_cluster *c, int64_t now, const char *worker_id, const wr_creport *r);

typedef struct wr_csubmit {
    const char *name;
    const char *spec_yaml;
    const char *spec_name;
    int parallelism;       /* already resolved (flag or spec), 1..max_parallelism */
    const wr_cpart *parts; /* partition, start, stop; subtask is filled in by the cluster */
    int nparts;
    const wr_ckc_config *checkpoint; /* NULL: no checkpoints */
    const char *checkpoint_storage;  /* required when checkpoint->interval_ms > 0 */
} wr_csubmit;

/* Accepts a job (CREATED) and copies its id (NUL-terminated) to id_out. It is deployed
 * at once if slots are free, else at a later tick. */
wr_err wr_cluster_submit(wr_cluster *c, int64_t now, const wr_csubmit *s,
                         char id_out[WR_CLUSTER_ID_MAX], wr_errbuf *eb);

/* Cancels a job. WR_ENOTFOUND "unknown job 'x'"; WR_EINVAL "job 'x' is already FINISHED"
 * for a terminal job. */
wr_err wr_cluster_cancel(wr_cluster *c, int64_t now, const char *job_id, wr_errbuf *eb);

/* Stops a job gracefully (`weir stop`): every deployment of a RUNNING job gets a STOP
 * action (sources stop reading, everything in flight is written, sinks flush) and the job
 * is FINISHED when they all report FINISHED. A job that runs nothing (CREATED,
 * RESTARTING) is CANCELED. Errors as wr_cluster_cancel. A failure while stopping fails
 * over as usual, and the new attempt is not stopped. */
wr_err wr_cluster_stop(wr_cluster *c, int64_t now, const char *job_id, wr_errbuf *eb);

/* Time passes: lost workers, restarts, scheduling of waiting jobs, slot timeouts. */
void wr_cluster_tick(wr_cluster *c, int64_t now);

typedef enum wr_caction_kind {
    WR_CACT_REGISTER_ACK,
    WR_CACT_REREGISTER, /* (never queued by the cluster itself; the I/O layer's own) */
    WR_CACT_DEPLOY,     /* restoring j->restored_from when not 0 */
    WR_CACT_CANCEL,
    WR_CACT_STOP,        /* job_id, attempt */
    WR_CACT_TRIGGER,     /* worker, job_id, attempt, checkpoint_id */
    WR_CACT_CK_COMPLETE, /* job_id, attempt, checkpoint_id: persist its metadata, then
                          * tell the attempt's workers (worker: -1) */
    WR_CACT_CK_DISCARD,  /* job_id, checkpoint_id: delete its metadata and private files */
    WR_CACT_CK_DELETE,   /* job_id, path: a shared storage file nothing references */
    WR_CACT_SAVE_JOB,    /* job_id: its record changed (persist it) */
} wr_caction_kind;

typedef struct wr_caction {
    wr_caction_kind kind;
    int worker;                     /* index: where to send it (-1: none) */
    char job_id[WR_CLUSTER_ID_MAX]; /* DEPLOY, CANCEL, ... */
    uint32_t attempt;               /* DEPLOY, CANCEL, ... */
    int64_t checkpoint_id;          /* TRIGGER, CK_* */
    char path[WR_CK_PATH_MAX];      /* CK_DELETE */
} wr_caction;

/* Takes the next queued action (FIFO). For DEPLOY, the job (wr_cluster_find_job) has the
 * placement, partitions and spec to send; it is valid at least until the next event. */
bool wr_cluster_next_action(wr_cluster *c, wr_caction *out);

/* A worker acknowledged checkpoint id for task `task` (stage 0: subtask; stage 1:
 * parallelism + subtask); see wr_ckc_ack. */
void wr_cluster_ck_ack(wr_cluster *c, int64_t now, const char *job_id, uint32_t attempt, int64_t id,
                       int task, const void *blob, size_t blob_len, const char *const *shared,
                       int nshared, uint64_t state_bytes, uint64_t uploaded_bytes);
/* A worker declined checkpoint id (see wr_ckc_decline). */
void wr_cluster_ck_decline(wr_cluster *c, int64_t now, const char *job_id, uint32_t attempt,
                           int64_t id, const char *reason, bool finished);

/* A job read back from the coordinator's data directory after a restart. A job that was
 * not terminal is RESTARTING at once (restart_at = now; attempt and restarts go on from
 * the record), restoring its latest completed checkpoint; a terminal one is kept for
 * listing. checkpoints: its completed checkpoints, oldest first (see wr_ckc_add_completed). */
typedef struct wr_crestored_ck {
    int64_t id;
    uint32_t attempt;
    int64_t trigger_ms, end_ms; /* on the caller's clock */
    const void *const *blobs;   /* 2 × parallelism acks */
    const size_t *blob_lens;
    const char *const *shared;
    int nshared;
    uint64_t state_bytes, uploaded_bytes;
} wr_crestored_ck;

typedef struct wr_crestore {
    const char *id;
    wr_csubmit submit;
    wr_cjob_state state;
    uint32_t attempt;
    int restarts;
    const char *failure;
    int64_t submitted_at;
    int64_t next_checkpoint_id;
    const wr_crestored_ck *checkpoints;
    int ncheckpoints;
} wr_crestore;

wr_err wr_cluster_restore_job(wr_cluster *c, int64_t now, const wr_crestore *r, wr_errbuf *eb);

/* Read-only views (valid until the next event call). */
int wr_cluster_nworkers(const wr_cluster *c);
const wr_cworker *wr_cluster_worker(const wr_cluster *c, int i);
int wr_cluster_find_worker(const wr_cluster *c, const char *id); /* index or -1 */
int wr_cluster_njobs(const wr_cluster *c);
const wr_cjob *wr_cluster_job(const wr_cluster *c, int i); /* in submission order */
const wr_cjob *wr_cluster_find_job(const wr_cluster *c, const char *id);
/* The job's counters: the sum over the current attempt's deployments (watermark: the
 * lowest of the windowed ones). */
void wr_cluster_job_stats(const wr_cjob *j, wr_cstats *out);

#endif
