/*
 * watermark.h — event-time watermarks: generated per source partition, combined per
 * task input. Pure state machines: the caller passes the time (monotonic ms), so tests
 * drive them with simulated time.
 *
 * A watermark W asserts that no more records with event time < W are expected; a
 * window [start, end) is complete when W >= end. Like Flink's bounded-out-of-orderness
 * strategy, a partition's watermark is (max event time seen − max_out_of_orderness),
 * so a record up to max_out_of_orderness behind the newest one is never late.
 *
 * Idleness: a partition with no record for idle_timeout ms (idle_timeout > 0) stops
 * holding its subtask's watermark back until it gets a record again. A partition that
 * reached the end of a bounded source is finished and never holds it back again; when
 * every partition is finished the watermark is WR_WM_MAX, which fires every window.
 * A subtask whose every unfinished partition is idle is itself idle: its watermark moves
 * up to the most advanced of its partitions' watermarks (as Flink's input valve does
 * when all its channels are idle), and downstream inputs ignore it until it sends an
 * active watermark again.
 *
 * Watermarks only move forward: the outputs never decrease, even when an idle input
 * comes back with an older watermark (its records may then be late, as in Flink).
 */
#ifndef WR_WATERMARK_H
#define WR_WATERMARK_H

#include <stdbool.h>
#include <stdint.h>

#define WR_WM_MIN INT64_MIN /* nothing known yet */
#define WR_WM_MAX INT64_MAX /* the end of event time: the input is finished */

typedef struct wr_wm {
    int64_t time; /* WR_WM_MIN .. WR_WM_MAX */
    bool idle;
} wr_wm;

/* ---- per source subtask: its partitions → one watermark ---- */

typedef struct wr_wm_source wr_wm_source;

/* For nparts partitions (0 is allowed: the watermark is WR_WM_MAX at once), starting
 * at now_ms. idle_timeout_ms 0: partitions never become idle. NULL on OOM. */
wr_wm_source *wr_wm_source_new(int nparts, int64_t max_out_of_orderness_ms, int64_t idle_timeout_ms,
                               int64_t now_ms);
void wr_wm_source_free(wr_wm_source *w);

/* A record with event time ts arrived from local partition part (0 .. nparts-1). */
void wr_wm_source_observe(wr_wm_source *w, int part, int64_t ts, int64_t now_ms);
/* Local partition part reached its end (bounded source). */
void wr_wm_source_finish(wr_wm_source *w, int part);
/* The subtask's watermark at now_ms: the minimum over unfinished, non-idle partitions
 * (each max ts − bound, WR_WM_MIN before its first record), never lower than the
 * previous result; when every unfinished partition is idle: idle, with the maximum
 * over them (never lower than before); WR_WM_MAX when every partition is finished. */
wr_wm wr_wm_source_current(wr_wm_source *w, int64_t now_ms);

/* ---- per task input: its channels → one watermark ---- */

typedef struct wr_wm_merge wr_wm_merge;

/* For nchannels input channels, each WR_WM_MIN and active at first. NULL on OOM. */
wr_wm_merge *wr_wm_merge_new(int nchannels);
void wr_wm_merge_free(wr_wm_merge *m);

/* Channel ch sent watermark in (its time, and whether the sender is now idle).
 * Returns true and sets *out when the combined watermark advanced. The combined value
 * is the minimum over channels that are neither idle nor ended; when every channel
 * that has not ended is idle, the maximum over those; never decreasing. */
bool wr_wm_merge_update(wr_wm_merge *m, int ch, wr_wm in, wr_wm *out);
/* Channel ch ended (no more batches): it no longer holds the watermark back. Returns
 * true and sets *out when that advanced the combined watermark. When every channel has
 * ended, the watermark stays where it is (an input that stops early, e.g. on a
 * graceful stop, must not fire windows; a finished bounded source sends WR_WM_MAX
 * first). */
bool wr_wm_merge_end(wr_wm_merge *m, int ch, wr_wm *out);
/* The current combined watermark. */
int64_t wr_wm_merge_current(const wr_wm_merge *m);

#endif
