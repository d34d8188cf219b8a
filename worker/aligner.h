/*
 * aligner.h — checkpoint barrier alignment for a task with several input channels: a
 * pure state machine (no I/O, no clock: time is an argument).
 *
 * Checkpoint barriers arrive in-band, one per channel per checkpoint, in increasing id
 * order on each channel. When channel c delivers barrier N the task must stop taking
 * from c (records behind the barrier belong to the next checkpoint) until every other
 * live channel has delivered N too; then the task snapshots its state, forwards/acks,
 * and calls wr_aligner_done, which unblocks every channel.
 *
 * Rules:
 *   - A channel that has ended (END) counts as having delivered every barrier.
 *   - A barrier newer than the one being aligned (its sender skipped an abandoned
 *     checkpoint) abandons the current alignment: every channel is unblocked, the result
 *     names the abandoned id, and alignment of the newer id starts with this channel.
 *   - A barrier older than the current or last completed one is ignored (stale).
 *   - With one channel a barrier completes alignment at once.
 * After each call the caller applies wr_aligner_blocked() to its channels.
 */
#ifndef WR_ALIGNER_H
#define WR_ALIGNER_H

#include <stdbool.h>
#include <stdint.h>

typedef struct wr_aligner wr_aligner;

typedef struct wr_align_result {
    bool snapshot;        /* every live channel delivered `id`: snapshot now, then done */
    int64_t id;           /* the checkpoint to snapshot (when snapshot) */
    int64_t aborted;      /* > 0: alignment of this checkpoint was abandoned */
    int64_t alignment_ms; /* when snapshot: first barrier of id → last one */
} wr_align_result;

wr_aligner *wr_aligner_new(int nchannels); /* NULL on OOM or nchannels < 1 */
void wr_aligner_free(wr_aligner *a);

/* Barrier `id` (>= 1) on channel ch at time now (ms). */
wr_align_result wr_aligner_barrier(wr_aligner *a, int ch, int64_t id, int64_t now);
/* Channel ch ended (no more barriers or data). May complete an alignment. */
wr_align_result wr_aligner_end(wr_aligner *a, int ch, int64_t now);
/* The snapshot of the completed alignment is taken: unblocks every channel. */
void wr_aligner_done(wr_aligner *a);

bool wr_aligner_blocked(const wr_aligner *a, int ch);
/* The checkpoint being aligned (0: none). */
int64_t wr_aligner_current(const wr_aligner *a);
/* The last checkpoint whose alignment completed (0: none). */
int64_t wr_aligner_last(const wr_aligner *a);

#endif
