/*
 * snapshot.h — a subtask's keyed-state snapshots: local RocksDB checkpoints, incremental
 * upload to checkpoint storage, and restore.
 *
 * Taking checkpoint N has two parts:
 *   1. wr_snapshotter_take (the subtask's thread, processing paused): wr_state_checkpoint
 *      writes every dirty cache entry to RocksDB, and RocksDB's checkpoint hard-links the
 *      live SST files (and copies MANIFEST, CURRENT, OPTIONS) into <local_root>/<N>.
 *   2. wr_snapshotter_upload (an uploader thread, processing continues): every SST file
 *      of <local_root>/<N> that this snapshotter has not stored before is copied to
 *      <job>/shared/s<subtask>-a<attempt>-<name>; SST files already stored (uploaded for
 *      an earlier checkpoint of this snapshotter, or part of the checkpoint it was
 *      restored from) are referenced, not copied; the other files go to
 *      <job>/chk-<N>/a<attempt>-s<subtask>/<name>. The handle lists every file with its
 *      storage path, size and crc32; uploaded_bytes counts only what was copied, so it
 *      follows the changed state, not the total.
 * An SST file's name never changes its content within one RocksDB instance, and a
 * restored instance gets a new attempt number, so storage names never collide.
 *
 * Local copies: <local_root>/<N> stays after the upload so that a restore on the same
 * worker needs no download; wr_snapshotter_confirm(N) deletes the local copies older
 * than N (N itself stays).
 *
 * Restore (wr_snap_restore): every file of the handle is checked (size and crc32) before
 * the target directory is used; a local copy is used when every file in it checks out,
 * else the files come from storage. Any mismatch is WR_ECORRUPT naming the checkpoint
 * and the file; nothing partial is left in the target directory.
 *
 * Threads: take and upload may run at the same time (for different checkpoints) on
 * different threads; each of them one call at a time.
 */
#ifndef WR_SNAPSHOT_H
#define WR_SNAPSHOT_H

#include "ckstore.h"
#include "error.h"
#include "state.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct wr_snap_file {
    char *name; /* file name in the RocksDB directory, e.g. "000012.sst" */
    char *path; /* storage path */
    uint64_t size;
    uint32_t crc;
    bool shared; /* an SST file (may be referenced by later checkpoints) */
} wr_snap_file;

typedef struct wr_snap_handle {
    int64_t checkpoint_id;
    int nfiles;
    wr_snap_file *files;
    uint64_t state_bytes;    /* sum of the files' sizes */
    uint64_t uploaded_bytes; /* bytes copied to storage for this checkpoint */
} wr_snap_handle;

/* Frees the handle's files and zeroes it. */
void wr_snap_handle_fini(wr_snap_handle *h);

typedef struct wr_snapshotter wr_snapshotter;

/* A snapshotter for one subtask of one attempt. store is used, not owned. job_id names
 * the storage directory; local_root is created if missing. NULL on OOM. */
wr_snapshotter *wr_snapshotter_new(wr_ckstore *store, const char *job_id, uint32_t attempt,
                                   int subtask, const char *local_root);
void wr_snapshotter_free(wr_snapshotter *s);

/* After a restore: the handle's shared files are in storage already (reference them). */
wr_err wr_snapshotter_seed(wr_snapshotter *s, const wr_snap_handle *restored, wr_errbuf *eb);

/* Part 1 (see above) into <local_root>/<id>. */
wr_err wr_snapshotter_take(wr_snapshotter *s, wr_state *st, int64_t id, wr_errbuf *eb);

/* Part 2: uploads checkpoint id (taken before) and fills *out (fini it). On failure the
 * local copy of id is removed. Reaches wr_fault("upload") after the first file copied
 * when more follow. */
wr_err wr_snapshotter_upload(wr_snapshotter *s, int64_t id, wr_snap_handle *out, wr_errbuf *eb);

/* Checkpoint id completed: local copies of older checkpoints are deleted. */
void wr_snapshotter_confirm(wr_snapshotter *s, int64_t id);

/* Drops the local copy of checkpoint id (it failed or was abandoned). */
void wr_snapshotter_drop(wr_snapshotter *s, int64_t id);

/* Materialises handle h into dir (must not exist yet; created) for wr_state_open: from
 * <local_root>/<h->checkpoint_id> if present and every file checks out (local_root may be
 * NULL), else from storage. *from_local says which. WR_ECORRUPT names the file. */
wr_err wr_snap_restore(wr_ckstore *store, const wr_snap_handle *h, const char *local_root,
                       const char *dir, bool *from_local, wr_errbuf *eb);

#endif
