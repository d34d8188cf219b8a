/*
 * rest.h — the coordinator's REST API (docs/rest-api.md) on libmicrohttpd, served on the
 * coordinator's libuv loop: MHD runs without a thread of its own (MHD_USE_EPOLL), its
 * epoll fd sits under a uv_poll and a uv_timer follows MHD_get_timeout. Every request is
 * handled on the loop thread, so it reads and changes the cluster state directly.
 *
 * The server owns nothing of the cluster: the coordinator passes a wr_rest_env with the
 * cluster, its clock and two hooks (drain the workers' queued messages before a
 * decision that waited; perform queued actions and log state changes after an event).
 */
#ifndef WR_REST_H
#define WR_REST_H

#include "cluster.h"
#include "error.h"

#include <stdint.h>
#include <uv.h>

/* Largest request body (the job file); 413 beyond. */
#define WR_REST_MAX_BODY (1u << 20)

typedef struct wr_rest_env {
    wr_cluster *cluster;
    int64_t kafka_timeout_ms;       /* wr_kafka_resolve_offsets at submit */
    int64_t wall_offset_ms;         /* wall-clock ms since the epoch = now() + this */
    int64_t (*now)(void);           /* monotonic ms, the cluster's clock */
    const char *checkpoint_storage; /* for jobs whose spec names none (NULL: none) */
    void (*drain)(void *arg);
    void (*after_event)(void *arg);
    void *arg;
} wr_rest_env;

typedef struct wr_rest wr_rest;

/* Binds "HOST:PORT" (port 0: any free port) and registers the server on loop, which
 * must not run yet or run on this thread. env is copied. Errors: WR_EINVAL "invalid
 * REST address 'x': expected HOST:PORT", WR_EIO "cannot serve the REST API on
 * HOST:PORT: Address already in use". */
wr_err wr_rest_start(uv_loop_t *loop, const char *http, const wr_rest_env *env, wr_rest **out,
                     wr_errbuf *eb);

/* The bound port. */
int wr_rest_port(const wr_rest *r);

/* Loop thread: closes the uv handles (call before the loop's last run). */
void wr_rest_close(wr_rest *r);

/* After the loop has stopped: stops the server and frees r. NULL is a no-op. */
void wr_rest_free(wr_rest *r);

#endif
