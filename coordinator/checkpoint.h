/*
 * checkpoint.h — the checkpoint coordinator of one job: a pure state machine (no I/O, no
 * clock: time is an argument; tests drive it with simulated time).
 *
 * It decides when to trigger checkpoint N, collects one acknowledgement per task (the
 * job has `ntasks` = 2 × parallelism: every source subtask and every stage-1 subtask),
 * completes, times out or fails checkpoints, keeps the `retained` newest completed ones,
 * and counts references to shared storage files so that a file is deleted exactly when
 * no retained checkpoint uses it any more. The caller (cluster.c / coord.c) performs the
 * actions: it sends triggers, writes metadata, notifies workers and deletes files.
 *
 * Rules:
 *   - Nothing is triggered unless started (wr_ckc_start: every deployment of the attempt
 *     runs) and interval_ms > 0. The first trigger comes interval_ms after start; the
 *     next when no checkpoint is pending, interval_ms after the previous trigger and
 *     min_pause_ms after the previous checkpoint ended (completed or failed).
 *   - At most one checkpoint is pending. It completes when every task acknowledged it
 *     (a second ack of the same task is ignored; acks of another attempt or id are
 *     ignored). It fails when timeout_ms passed since its trigger, or a task declined.
 *   - Failures count as consecutive failures; a completion resets the count. When the
 *     count exceeds tolerable_failures the job must fail: a FAIL_JOB action, and the
 *     coordinator stops triggering until the next start. A checkpoint abandoned because
 *     the job stopped (wr_ckc_stop) or declined with `finished` does not count.
 *   - Completed checkpoints: the newest `retained` are kept; older ones are discarded:
 *     each of their shared files loses a reference, files reaching zero are deleted.
 *     A completed checkpoint marked corrupt is discarded the same way and never
 *     returned by wr_ckc_latest.
 *   - Ids grow by one per trigger, starting at the next_id given to wr_ckc_new.
 *   - History: the newest `history` entries (any status) are kept for `weir checkpoints`;
 *     older ones are forgotten (completed retained ones are always kept).
 *
 * Threads: none; the caller serialises all calls.
 */
#ifndef WR_CHECKPOINT_H
#define WR_CHECKPOINT_H

#include "error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct wr_ckc_config {
    int64_t interval_ms;    /* 0: off */
    int64_t timeout_ms;     /* default 600000 */
    int64_t min_pause_ms;   /* default 0 */
    int retained;           /* default 3, >= 1 */
    int tolerable_failures; /* consecutive failed checkpoints tolerated; default 3 */
    int history;            /* history entries kept; default 50 */
} wr_ckc_config;

void wr_ckc_config_defaults(wr_ckc_config *cfg);

typedef enum wr_ck_status {
    WR_CK_PENDING,
    WR_CK_COMPLETED,
    WR_CK_FAILED,
} wr_ck_status;
const char *wr_ck_status_name(wr_ck_status s); /* "IN_PROGRESS", "COMPLETED", "FAILED" */

typedef struct wr_ck_entry {
    int64_t id;
    uint32_t attempt;
    wr_ck_status status;
    int64_t trigger_ms;      /* the caller's clock */
    int64_t end_ms;          /* completed or failed; 0 while pending */
    uint64_t state_bytes;    /* sum over the acks */
    uint64_t uploaded_bytes; /* sum over the acks */
    char *reason;            /* FAILED: why; also set when a completed one was marked corrupt */
    bool retained;           /* COMPLETED and still kept (restorable unless corrupt) */
    bool corrupt;
    int nacks; /* tasks that acknowledged */
    int ntasks;
    /* per task (ntasks entries): its ack as the caller gave it (NULL until acked) */
    void **blobs;
    size_t *blob_lens;
} wr_ck_entry;

typedef enum wr_cka_kind {
    WR_CKA_TRIGGER,  /* id: send TriggerCheckpoint to the attempt's workers */
    WR_CKA_COMPLETE, /* id: write its metadata (entry's blobs), then tell the workers */
    WR_CKA_DISCARD,  /* id: a completed checkpoint no longer kept: delete its metadata and
                      * its private storage directory */
    WR_CKA_DELETE,   /* path: a shared storage file no retained checkpoint uses */
    WR_CKA_FAIL_JOB, /* reason: too many consecutive failed checkpoints */
} wr_cka_kind;

typedef struct wr_cka {
    wr_cka_kind kind;
    int64_t id;
    const char *path;   /* DELETE; valid until the next call other than next_action */
    const char *reason; /* FAIL_JOB; same lifetime */
} wr_cka;

typedef struct wr_ckc wr_ckc;

/* ntasks >= 1; next_id >= 1. NULL on OOM. The config is copied (defaults for zeros where
 * zero is not meaningful: timeout, retained, history). */
wr_ckc *wr_ckc_new(const wr_ckc_config *cfg, int ntasks, int64_t next_id);
void wr_ckc_free(wr_ckc *ck);

/* The tasks of `attempt` all run from now on: triggering starts (see rules). */
void wr_ckc_start(wr_ckc *ck, int64_t now, uint32_t attempt);
/* The tasks stopped (failure, cancel, stop, finish): a pending checkpoint fails with
 * `reason` without counting as a failure; nothing is triggered until the next start. */
void wr_ckc_stop(wr_ckc *ck, int64_t now, const char *reason);
bool wr_ckc_running(const wr_ckc *ck);

/* Time passes: trigger or time out. */
void wr_ckc_tick(wr_ckc *ck, int64_t now);

/* Task `task` (0..ntasks-1) of `attempt` acknowledged checkpoint id. blob (copied) is the
 * ack as the caller will want it back (COMPLETE, wr_ck_entry.blobs); shared lists the
 * storage paths of the shared files it references (copied). Returns true if the ack was
 * taken, false if ignored (unknown id, not pending, other attempt, task out of range,
 * duplicate). May complete the checkpoint (tick-free). */
bool wr_ckc_ack(wr_ckc *ck, int64_t now, uint32_t attempt, int64_t id, int task, const void *blob,
                size_t blob_len, const char *const *shared, int nshared, uint64_t state_bytes,
                uint64_t uploaded_bytes);

/* A task declined checkpoint id: it fails with reason (counted unless `finished`, which
 * also stops triggering as wr_ckc_stop does). Ignored unless id is pending for attempt. */
void wr_ckc_decline(wr_ckc *ck, int64_t now, uint32_t attempt, int64_t id, const char *reason,
                    bool finished);

/* Adds a completed checkpoint loaded from metadata (coordinator restart), oldest first,
 * before any other event: its shared files count as referenced; retention applies. Ids
 * after it continue from max(next_id, id + 1). WR_ENOMEM or WR_EINVAL (id not newer). */
wr_err wr_ckc_add_completed(wr_ckc *ck, int64_t id, uint32_t attempt, int64_t trigger_ms,
                            int64_t end_ms, const void *const *blobs, const size_t *blob_lens,
                            const char *const *shared, int nshared, uint64_t state_bytes,
                            uint64_t uploaded_bytes);

/* Marks a retained completed checkpoint corrupt (its state failed a checksum): it is
 * discarded (DISCARD and DELETE actions as for retention) and never restored. */
void wr_ckc_mark_corrupt(wr_ckc *ck, int64_t id, const char *reason);

/* The newest retained, non-corrupt completed checkpoint, or NULL. */
const wr_ck_entry *wr_ckc_latest(const wr_ckc *ck);
/* The next id that will be triggered. */
int64_t wr_ckc_next_id(const wr_ckc *ck);
/* Consecutive failed checkpoints now. */
int wr_ckc_failures(const wr_ckc *ck);

/* History, oldest first. */
int wr_ckc_count(const wr_ckc *ck);
const wr_ck_entry *wr_ckc_entry(const wr_ckc *ck, int i);
const wr_ck_entry *wr_ckc_find(const wr_ckc *ck, int64_t id);

/* Takes the next action (FIFO). */
bool wr_ckc_next_action(wr_ckc *ck, wr_cka *out);

/* References currently counted for a shared path (tests). */
int wr_ckc_refs(const wr_ckc *ck, const char *path);

#endif
