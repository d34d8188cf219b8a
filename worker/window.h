/*
 * window.h — the keyed window operator: a pure state machine over a wr_state store.
 *
 * Input: records (the window's input row and its event time) and watermarks. Output,
 * through callbacks: window results (rows of the aggregate step's output schema: the
 * key_by fields, window_start, window_end, then the aggregates), retractions of
 * results a later record superseded under another window_start (sessions), and
 * records too late for any window. No I/O, no clock: tests drive it with simulated
 * event time.
 *
 * Semantics (docs/windows.md explains them with examples; they match Flink's event-time
 * windows with allowed lateness):
 *   - Windows are [start, end). Tumbling windows of size S start at multiples of S
 *     (from the epoch). Sliding windows of size S every D (S a multiple of D) end at
 *     multiples of D. Sessions: a record at t opens [t, t + gap); sessions of one key
 *     that overlap or touch merge into one.
 *   - A window fires (emits its result) when the watermark W reaches its end (W >= end),
 *     once, if it holds at least one record.
 *   - Allowed lateness L: a window's state is kept until W >= end + L. A record for a
 *     window that has fired but is still kept updates it and re-emits the result at
 *     once (same key and window_start, new values).
 *   - A record whose every window is past end + L is too late: it goes to the late
 *     callback (and the late counter) and changes nothing.
 *   - Sliding windows are sliced: a record updates one slice of length D; a window's
 *     result combines its S/D slices when it fires.
 *   - When W >= end + L the window's state is deleted.
 *
 * State layout (namespace = int64, see state.h; key bytes = the group key encoded by
 * wr_window_key_encode):
 *   tumbling/sliding: ns = slice end, value = the slice's accumulator;
 *   session: ns = WR_STATE_NS_GLOBAL, value = the key's open sessions; and one timer
 *            entry (empty value) per key at ns = each time the key needs attention
 *            (a session's end, and its end + L).
 *
 * Thread: the subtask's. Not thread-safe.
 */
#ifndef WR_WINDOW_H
#define WR_WINDOW_H

#include "agg.h"
#include "buf.h"
#include "error.h"
#include "spec.h"
#include "state.h"

#include <stdint.h>

typedef struct wr_window_op wr_window_op;

typedef struct wr_window_out {
    void *arg;
    /* A result: row = aggregate out_schema values, valid only during the call. A
     * non-OK return stops the operator and is returned by the call that emitted. */
    wr_err (*emit)(void *arg, const wr_value *row, wr_errbuf *eb);
    /* A result previously emitted for this key with this window_start no longer holds
     * (a late record merged its session into one that starts earlier). row has the key
     * fields, window_start and window_end of the old result; the aggregate values are
     * NULL. May be NULL when the caller does not care. */
    wr_err (*retract)(void *arg, const wr_value *row, wr_errbuf *eb);
    /* A record too late for every window: the window's input row and its event time. */
    wr_err (*late)(void *arg, const wr_value *row, int64_t event_time, wr_errbuf *eb);
} wr_window_out;

typedef struct wr_window_stats {
    uint64_t records;    /* records added to a window */
    uint64_t fired;      /* results emitted when the watermark passed a window's end */
    uint64_t late_fired; /* results re-emitted because of a record within allowed lateness */
    uint64_t retracted;  /* results retracted (sessions) */
    uint64_t too_late;   /* records past every window's allowed lateness */
    int64_t watermark;   /* the operator's current watermark */
} wr_window_stats;

/* A window operator for spec->ops[window_op] (kind WR_OP_WINDOW) followed by the
 * aggregate spec->ops[window_op + 1]. Its input rows have the window's in_schema;
 * key_cols/n_keys are the key_by fields in that schema. Keys go to key group
 * wr_keygroup_of(wr_key_hash(row, key_cols, n_keys), max_parallelism), which must be
 * in the store's range. st is used, not owned; out is copied. Fails with WR_ENOMEM.
 * scratch_bytes bounds the string bytes of one result row. */
wr_err wr_window_new(const wr_job_spec *spec, int window_op, const int *key_cols, int n_keys,
                     wr_state *st, const wr_window_out *out, size_t scratch_bytes,
                     wr_window_op **res, wr_errbuf *eb);
void wr_window_free(wr_window_op *w);

/* Adds one record. Errors: from the callbacks, the state store (WR_EIO), or aggregate
 * evaluation (WR_EEVAL, e.g. a sum overflow, naming the aggregate, key and window). */
wr_err wr_window_process(wr_window_op *w, const wr_value *row, int64_t event_time, wr_errbuf *eb);

/* Moves the watermark to wm (ignored unless it is higher than the current one): fires
 * every window whose end is <= wm, in order of window end, then deletes the state of
 * windows with end + L <= wm. WR_WM_MAX (INT64_MAX) fires everything. */
wr_err wr_window_advance(wr_window_op *w, int64_t wm, wr_errbuf *eb);

void wr_window_get_stats(const wr_window_op *w, wr_window_stats *out);

/* After its store was restored from a checkpoint (before any other call): sets the
 * operator's watermark to wm without firing anything (the checkpoint was taken after
 * every window up to wm had fired) and rebuilds its in-memory index of live slices from
 * the store's namespaces (wr_state_each_ns). */
wr_err wr_window_restore(wr_window_op *w, int64_t wm, wr_errbuf *eb);

/* The state key bytes for the group key row[key_cols[0..n)] appended to out (cleared
 * first): a self-delimiting, type-tagged encoding, equal keys ⇔ equal bytes. Fails with
 * WR_ETOOBIG at out's cap. */
wr_err wr_window_key_encode(const wr_value *row, const int *key_cols, int n, wr_buf *out);
/* Decodes n key values from key bytes into vals (strings point into key). Fails with
 * WR_EMALFORMED. */
wr_err wr_window_key_decode(const void *key, size_t klen, int n, wr_value *vals);

#endif
