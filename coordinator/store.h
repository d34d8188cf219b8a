/*
 * store.h — the coordinator's data directory: its jobs and the metadata of their
 * completed checkpoints, written atomically (temp file, fsync, rename, fsync of the
 * directory) so that a coordinator killed at any moment finds either the old or the new
 * version of each file after a restart.
 *
 * Layout:
 *   <dir>/jobs/<job>/job.pb        weir.JobRecord, rewritten on every change
 *   <dir>/jobs/<job>/chk-<id>.pb   weir.CheckpointMeta of a retained completed checkpoint
 *
 * Loading never fails because of one bad file: an unreadable or undecodable file is
 * logged with its path and the reason and skipped (a job without a readable job.pb is
 * skipped whole). So is a file that does not belong where it lies (a job.pb of another
 * job id, a chk-<id>.pb of another job or id). Temporary files of an interrupted write
 * (`*.tmp-<pid>`) are ignored.
 *
 * Job ids become directory names: 1 to 128 of [A-Za-z0-9_-]; anything else is refused
 * with WR_EINVAL by every function taking one. Errors name the path and the reason.
 *
 * Threads: none; the coordinator's loop thread calls it.
 */
#ifndef WR_STORE_H
#define WR_STORE_H

#include "error.h"
#include "weir.pb-c.h"

#include <stddef.h>
#include <stdint.h>

typedef struct wr_cstore wr_cstore;

/* Opens (creating <dir>/jobs). Errors name the directory. */
wr_err wr_cstore_open(const char *dir, wr_cstore **out, wr_errbuf *eb);
void wr_cstore_free(wr_cstore *s);
const char *wr_cstore_dir(const wr_cstore *s);

/* Writes (or replaces) <dir>/jobs/<r->id>/job.pb, creating the job's directory. */
wr_err wr_cstore_save_job(wr_cstore *s, const Weir__JobRecord *r, wr_errbuf *eb);
/* Removes a job's directory with everything in it (renamed to jobs/.del-<job> first, so
 * that a crash leaves the whole job or nothing; wr_cstore_load removes such leftovers).
 * A job that is not stored is fine (WR_OK). */
wr_err wr_cstore_delete_job(wr_cstore *s, const char *job_id, wr_errbuf *eb);

/* Writes <dir>/jobs/<m->job_id>/chk-<m->checkpoint_id>.pb. The job must be saved first
 * (WR_ENOTFOUND otherwise: a late checkpoint of a deleted job is not resurrected);
 * checkpoint id 0 is WR_EINVAL. */
wr_err wr_cstore_save_checkpoint(wr_cstore *s, const Weir__CheckpointMeta *m, wr_errbuf *eb);
/* Removes chk-<id>.pb; one that does not exist is fine (WR_OK). */
wr_err wr_cstore_delete_checkpoint(wr_cstore *s, const char *job_id, uint64_t id, wr_errbuf *eb);

/* One job as loaded: the record and its checkpoints, oldest first. Owned by the store's
 * caller through wr_cstore_loaded_free. */
typedef struct wr_cstore_job {
    Weir__JobRecord *job;
    Weir__CheckpointMeta **checkpoints;
    size_t ncheckpoints;
} wr_cstore_job;

/* Loads every job (in job-id order); *jobs is freed with wr_cstore_loaded_free (also when
 * *njobs is 0). Fails only when <dir>/jobs cannot be listed or memory runs out. */
wr_err wr_cstore_load(wr_cstore *s, wr_cstore_job **jobs, size_t *njobs, wr_errbuf *eb);
void wr_cstore_loaded_free(wr_cstore_job *jobs, size_t njobs);

#endif
