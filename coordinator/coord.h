/*
 * coord.h — weir-coordinator as a library: the daemon's event loop around the cluster
 * state machine (cluster.h), so that weir-coordinator and `weir local` run the same code.
 *
 * wr_coord_start() binds the worker endpoint (nng PULL at opts.listen; a PUSH socket per
 * registered worker, dialing its data address) and the REST API (libmicrohttpd at
 * opts.http), then runs a libuv loop on its own thread:
 *   - nng receive callbacks hand decoded Control messages to the loop (uv_async); a frame
 *     that fails wr_wire_decode closes the pipe it came on and is counted, never used;
 *   - a 100 ms timer drains those messages first, then calls wr_cluster_tick() and
 *     performs the queued actions (RegisterAck, Deploy, Cancel sends);
 *   - REST requests are served on the loop thread too (MHD's epoll fd under uv_poll), so
 *     the cluster state is only ever touched there. POST /v1/jobs parses the YAML
 *     (wr_spec_parse), plans it (wr_plan_build, for parallelism), resolves the source's
 *     partitions and offsets (wr_kafka_resolve_offsets) and calls wr_cluster_submit.
 */
#ifndef WR_COORD_H
#define WR_COORD_H

#include "cluster.h"
#include "error.h"

#include <stddef.h>
#include <stdint.h>

typedef struct wr_coord_options {
    const char *listen;             /* nng URL for workers; default "tcp://0.0.0.0:7100" */
    const char *http;               /* "HOST:PORT" for the REST API; default "127.0.0.1:8081";
                                     * port 0 picks a free port (wr_coord_http_port) */
    wr_cluster_config cluster;      /* wr_cluster_config_defaults() then flags */
    int64_t kafka_timeout_ms;       /* submit-time Kafka checks; default 10000 */
    size_t max_message;             /* NNG_OPT_RECVMAXSZ; default WR_WIRE_MAX_MESSAGE_DEFAULT */
    const char *data_dir;           /* jobs and checkpoint metadata survive restarts here (store.h);
                                     * NULL: kept in memory only */
    const char *checkpoint_storage; /* for jobs whose spec names none; NULL: none */
} wr_coord_options;

typedef struct wr_coord wr_coord;

/* Fills in every default. */
void wr_coord_options_defaults(wr_coord_options *o);

/* Binds both endpoints, loads the data directory (jobs that were running restart from
 * their latest checkpoint once workers register) and starts the loop thread. Errors name the
 * address ("cannot listen on tcp://0.0.0.0:7100: Address in use"). */
wr_err wr_coord_start(const wr_coord_options *o, wr_coord **out, wr_errbuf *eb);

/* The bound REST port (useful with port 0). */
int wr_coord_http_port(const wr_coord *c);

/* The workers' URL as bound ("tcp://0.0.0.0:0" shows the port the listener got). */
const char *wr_coord_listen_url(const wr_coord *c);

/* Frames that failed to decode so far (and whose connections were closed). */
uint64_t wr_coord_rejected_frames(const wr_coord *c);

/* Stops the loop, closes the sockets, joins the thread and frees everything. */
void wr_coord_free(wr_coord *c);

#endif
