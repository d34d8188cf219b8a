/*
 * worker.h — weir-worker as a library, so that the weir-worker daemon and `weir local`
 * run the same code.
 *
 * A worker listens at its data address (net.h) for the coordinator's Deploy/Cancel and for
 * its peers' data and credit frames, registers with the coordinator (again whenever told
 * to, or when no RegisterAck came within a second), heartbeats with the state and
 * counters of every deployment, and runs each deployment — the subtasks of one attempt of
 * one job placed on it — as a wr_job (job.h) whose channels to subtasks on other workers
 * go through a wr_exchange (exchange.h). Subtasks on the same worker use the in-process
 * channels.
 *
 * Threads: a libuv loop thread (timers, control messages), the net receive thread (data
 * and credits go straight to the deployments), one supervisor thread per deployment
 * (start, wait, report), and the deployments' task threads.
 */
#ifndef WR_WORKER_H
#define WR_WORKER_H

#include "error.h"

#include <stddef.h>
#include <stdint.h>

typedef struct wr_worker_options {
    const char *coordinator;       /* nng URL of the coordinator (required) */
    const char *listen;            /* default "tcp://0.0.0.0:7200" */
    const char *advertise;         /* the address others dial; default: listen with a
                                    * wildcard host replaced by 127.0.0.1 */
    const char *id;                /* default: host name + ":" + port */
    int slots;                     /* default 2 */
    const char *data_dir;          /* where deployments keep state; default: the job's
                                    * state.dir, $TMPDIR or /tmp */
    size_t max_message;            /* NNG_OPT_RECVMAXSZ; default WR_WIRE_MAX_MESSAGE_DEFAULT */
    int64_t kafka_timeout_ms;      /* default 10000 */
    int64_t heartbeat_interval_ms; /* 0: what the coordinator says (RegisterAck) */
    int64_t send_timeout_ms;       /* longest wait to hand a frame to a peer; default 10000 */
} wr_worker_options;

typedef struct wr_worker wr_worker;

void wr_worker_options_defaults(wr_worker_options *o);

/* Listens, starts the loop and sends the first Register. Errors name the address. */
wr_err wr_worker_start(const wr_worker_options *o, wr_worker **out, wr_errbuf *eb);

/* This worker's id and advertised address. */
const char *wr_worker_id(const wr_worker *w);
const char *wr_worker_address(const wr_worker *w);

/* Frames refused so far (see net.h). */
uint64_t wr_worker_rejected_frames(const wr_worker *w);

/* Cancels every deployment, stops the loop, joins every thread and frees the worker. */
void wr_worker_free(wr_worker *w);

#endif
