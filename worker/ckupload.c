/*
 * ckupload.c — a job's uploader thread: the asynchronous part of checkpoints.
 *
 * A stage-1 subtask takes the synchronous part of its snapshot (flush the cache, RocksDB
 * checkpoint into a local directory) with processing paused, queues the upload here and
 * goes on processing. This thread copies the new files to checkpoint storage
 * (wr_snapshotter_upload) and acknowledges the checkpoint with the state handle, or
 * declines it with the reason. Work is done in queue order, one item at a time; confirms
 * (a checkpoint completed) go through the same queue, so they never race an upload of the
 * same snapshotter.
 *
 * Memory: at most one item per stage-1 subtask per checkpoint in flight; the checkpoint
 * coordinator has one checkpoint pending at a time, and a timed-out one is followed by at
 * most tolerable_failures more before the job fails, so the queue stays small.
 */
#include "deadline.h"
#include "job-internal.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static void run_one(wr_job *job, const wr_upload *u)
{
    wr_task *t = u->t;
    wr_snap_handle h;
    wr_errbuf eb;
    int64_t t0 = wr_mono_ms();

    if (u->confirm) {
        wr_snapshotter_confirm(t->snap, u->id);
        return;
    }
    memset(&h, 0, sizeof h);
    if (wr_snapshotter_upload(t->snap, u->id, &h, &eb) != WR_OK) {
        wr_log(WR_LOG_WARN, "checkpoint", "job %s subtask %d: checkpoint %lld: upload failed: %s",
               job->opt.job_id ? job->opt.job_id : job->spec->name, t->subtask, (long long)u->id,
               eb.msg);
        wr_job_decline(job, u->id, t->subtask, eb.msg, false);
        return;
    }
    {
        wr_ck_ack a = {.id = u->id,
                       .subtask = t->subtask,
                       .stage = 1,
                       .state = &h,
                       .watermark = u->watermark,
                       .kg_first = t->kg_first,
                       .kg_last = t->kg_last,
                       .alignment_ms = u->alignment_ms,
                       .sync_ms = u->sync_ms,
                       .async_ms = (uint64_t)(wr_mono_ms() - t0)};
        wr_job_ack(job, &a);
    }
    wr_snap_handle_fini(&h);
}

static void *uploader_main(void *arg)
{
    wr_job *job = arg;

    pthread_mutex_lock(&job->up_mu);
    for (;;) {
        wr_upload *u;
        while (!job->up_head && !job->up_stop)
            pthread_cond_wait(&job->up_cond, &job->up_mu);
        if (job->up_stop)
            break;
        u = job->up_head;
        job->up_head = u->next;
        if (!job->up_head)
            job->up_tail = NULL;
        pthread_mutex_unlock(&job->up_mu);
        if (!wr_job_canceled(job))
            run_one(job, u);
        free(u);
        pthread_mutex_lock(&job->up_mu);
    }
    pthread_mutex_unlock(&job->up_mu);
    return NULL;
}

wr_err wr_uploader_start(wr_job *job, wr_errbuf *eb)
{
    if (pthread_create(&job->uploader, NULL, uploader_main, job) != 0)
        return wr_fail(eb, WR_ENOMEM, "cannot start the checkpoint uploader thread");
    job->uploader_started = true;
    return WR_OK;
}

bool wr_uploader_push(wr_job *job, const wr_upload *u)
{
    wr_upload *n = malloc(sizeof *n);

    if (!n)
        return false;
    *n = *u;
    n->next = NULL;
    pthread_mutex_lock(&job->up_mu);
    if (job->up_tail)
        job->up_tail->next = n;
    else
        job->up_head = n;
    job->up_tail = n;
    pthread_cond_signal(&job->up_cond);
    pthread_mutex_unlock(&job->up_mu);
    return true;
}

void wr_uploader_stop(wr_job *job)
{
    if (job->uploader_started) {
        pthread_mutex_lock(&job->up_mu);
        job->up_stop = true;
        pthread_cond_broadcast(&job->up_cond);
        pthread_mutex_unlock(&job->up_mu);
        pthread_join(job->uploader, NULL);
        job->uploader_started = false;
    }
    while (job->up_head) {
        wr_upload *u = job->up_head;
        job->up_head = u->next;
        free(u);
    }
    job->up_tail = NULL;
}
