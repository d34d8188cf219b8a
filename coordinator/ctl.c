/*
 * ctl.c — the coordinator's nng control endpoint (ctl.h): a PULL listener whose
 * receive callback decodes and vets every frame before anything else sees it, and one
 * PUSH dialer per worker with an in-order send queue.
 *
 * Receive path (nng threads): recv_cb → vet() → queue → notify. Send path: the owner's
 * thread encodes and queues; the peer's aio callback (nng thread) sends the next queued
 * message when the previous one completed. `mu` guards the receive queue, `smu` every
 * peer's send queue and flags.
 */
#include "ctl.h"

#include "log.h"

#include <arpa/inet.h>
#include <nng/nng.h>
#include <nng/protocol/pipeline0/pull.h>
#include <nng/protocol/pipeline0/push.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CTL_RECV_QUEUE_MAX 8192 /* accepted messages waiting for the loop */
#define CTL_SEND_QUEUE_MAX 256  /* messages waiting for one worker's connection */
#define CTL_SEND_TIMEOUT_MS 2000

typedef struct recv_node {
    struct recv_node *next;
    wr_ctl_msg msg;
} recv_node;

typedef struct peer {
    wr_ctl *ctl;
    char *address;
    char *worker_id;
    nng_socket sock;
    bool open;
    nng_aio *aio;
    /* under ctl->smu */
    bool busy;    /* aio holds a message in flight */
    bool closing; /* do not start another send */
    bool failing; /* the last send failed (log only the first failure) */
    nng_msg *queue[CTL_SEND_QUEUE_MAX];
    int qhead, qlen;
} peer;

struct wr_ctl {
    size_t max_message;
    void (*notify)(void *arg);
    void *notify_arg;
    char *listen_url;

    nng_socket pull;
    bool pull_open;
    nng_aio *raio;
    atomic_uint_fast64_t rejected;

    pthread_mutex_t mu; /* the receive queue and `closing` */
    bool closing;
    recv_node *head, *tail;
    int nqueued;
    bool dropping; /* the queue overflowed; logged once until it drains */

    pthread_mutex_t smu; /* peers' send state */
    peer **peers;
    int npeers;
};

/* ---------------------------------------------------------------- receiving */

/* The remote address of pipe p, for logs. */
static void format_peer(nng_pipe p, char *buf, size_t size)
{
    nng_sockaddr sa;
    char ip[INET6_ADDRSTRLEN];

    if (nng_pipe_get_addr(p, NNG_OPT_REMADDR, &sa) != 0) {
        snprintf(buf, size, "connection %u", (unsigned)nng_pipe_id(p));
        return;
    }
    switch (sa.s_family) {
    case NNG_AF_INET:
        inet_ntop(AF_INET, &sa.s_in.sa_addr, ip, sizeof ip);
        snprintf(buf, size, "%s:%u", ip, (unsigned)ntohs(sa.s_in.sa_port));
        break;
    case NNG_AF_INET6:
        inet_ntop(AF_INET6, sa.s_in6.sa_addr, ip, sizeof ip);
        snprintf(buf, size, "[%s]:%u", ip, (unsigned)ntohs(sa.s_in6.sa_port));
        break;
    case NNG_AF_IPC:
        snprintf(buf, size, "ipc://%s", sa.s_ipc.sa_path);
        break;
    case NNG_AF_INPROC:
        snprintf(buf, size, "inproc://%s", sa.s_inproc.sa_name);
        break;
    default:
        snprintf(buf, size, "connection %u", (unsigned)nng_pipe_id(p));
        break;
    }
}

static const char *frame_type_name(wr_frame_type t)
{
    switch (t) {
    case WR_FRAME_CONTROL:
        return "CONTROL";
    case WR_FRAME_DATA:
        return "DATA";
    case WR_FRAME_CREDIT:
        return "CREDIT";
    }
    return "unknown";
}

static const char *control_body_name(Weir__Control__BodyCase b)
{
    switch (b) {
    case WEIR__CONTROL__BODY_REGISTER:
        return "Register";
    case WEIR__CONTROL__BODY_HEARTBEAT:
        return "Heartbeat";
    case WEIR__CONTROL__BODY_TASK_REPORT:
        return "TaskReport";
    case WEIR__CONTROL__BODY_REGISTER_ACK:
        return "RegisterAck";
    case WEIR__CONTROL__BODY_DEPLOY:
        return "Deploy";
    case WEIR__CONTROL__BODY_CANCEL:
        return "Cancel";
    case WEIR__CONTROL__BODY_REREGISTER:
        return "Reregister";
    case WEIR__CONTROL__BODY_STOP:
        return "Stop";
    case WEIR__CONTROL__BODY_TRIGGER_CHECKPOINT:
        return "TriggerCheckpoint";
    case WEIR__CONTROL__BODY_CHECKPOINT_COMPLETE:
        return "CheckpointComplete";
    case WEIR__CONTROL__BODY_CHECKPOINT_ACK:
        return "CheckpointAck";
    case WEIR__CONTROL__BODY_CHECKPOINT_DECLINE:
        return "CheckpointDecline";
    default:
        return "an empty Control";
    }
}

static void reject(wr_ctl *c, nng_pipe p, const char *peer_name, const char *reason)
{
    atomic_fetch_add(&c->rejected, 1);
    wr_log(WR_LOG_WARN, "coordinator", "rejected a frame from %s: %s; closing the connection",
           peer_name, reason);
    nng_pipe_close(p);
}

/* Decodes and vets one received message (nng thread). Takes ownership of msg. */
static void vet(wr_ctl *c, nng_msg *msg)
{
    nng_pipe p = nng_msg_get_pipe(msg);
    char reason[WR_ERRBUF_SIZE + 64];
    recv_node *n;
    wr_errbuf eb;
    wr_frame f;
    bool wake = false;

    n = calloc(1, sizeof *n);
    if (!n) {
        nng_msg_free(msg);
        return;
    }
    format_peer(p, n->msg.peer, sizeof n->msg.peer);
    n->msg.pipe = nng_pipe_id(p);
    if (wr_wire_decode(nng_msg_body(msg), nng_msg_len(msg), c->max_message, &f, &eb) != WR_OK) {
        reject(c, p, n->msg.peer, eb.msg);
        goto out_free;
    }
    if (f.type != WR_FRAME_CONTROL) {
        snprintf(reason, sizeof reason, "a coordinator accepts only CONTROL frames, not %s",
                 frame_type_name(f.type));
        reject(c, p, n->msg.peer, reason);
        wr_frame_fini(&f);
        goto out_free;
    }
    switch (f.control->body_case) {
    case WEIR__CONTROL__BODY_REGISTER:
    case WEIR__CONTROL__BODY_HEARTBEAT:
    case WEIR__CONTROL__BODY_TASK_REPORT:
    case WEIR__CONTROL__BODY_CHECKPOINT_ACK:
    case WEIR__CONTROL__BODY_CHECKPOINT_DECLINE:
        break;
    default:
        snprintf(reason, sizeof reason, "a coordinator does not accept %s",
                 control_body_name(f.control->body_case));
        reject(c, p, n->msg.peer, reason);
        wr_frame_fini(&f);
        goto out_free;
    }
    nng_msg_free(msg);
    n->msg.frame = f;

    pthread_mutex_lock(&c->mu);
    if (c->nqueued >= CTL_RECV_QUEUE_MAX) {
        if (!c->dropping)
            wr_log(WR_LOG_WARN, "coordinator",
                   "control queue full (%d messages): dropping messages until it drains",
                   CTL_RECV_QUEUE_MAX);
        c->dropping = true;
        pthread_mutex_unlock(&c->mu);
        wr_frame_fini(&n->msg.frame);
        free(n);
        return;
    }
    if (c->tail)
        c->tail->next = n;
    else
        c->head = n;
    c->tail = n;
    c->nqueued++;
    wake = !c->closing;
    pthread_mutex_unlock(&c->mu);
    if (wake && c->notify)
        c->notify(c->notify_arg);
    return;

out_free:
    nng_msg_free(msg);
    free(n);
}

static void recv_cb(void *arg)
{
    wr_ctl *c = arg;
    int rv = nng_aio_result(c->raio);
    bool closing;

    if (rv == NNG_ECLOSED || rv == NNG_ECANCELED)
        return;
    if (rv == 0)
        vet(c, nng_aio_get_msg(c->raio));
    else
        wr_log(WR_LOG_WARN, "coordinator", "receive failed: %s", nng_strerror(rv));
    pthread_mutex_lock(&c->mu);
    closing = c->closing;
    pthread_mutex_unlock(&c->mu);
    if (!closing)
        nng_recv_aio(c->pull, c->raio);
}

/* "tcp://0.0.0.0:0" → "tcp://0.0.0.0:PORT" with the port the listener got. */
static char *bound_url(const char *url, nng_listener l)
{
    size_t n = strlen(url);
    int port = 0;
    char *s;

    if (strncmp(url, "tcp", 3) != 0 || n < 2 || strcmp(url + n - 2, ":0") != 0 ||
        nng_listener_get_int(l, NNG_OPT_TCP_BOUND_PORT, &port) != 0)
        return strdup(url);
    s = malloc(n + 8);
    if (s)
        snprintf(s, n + 8, "%.*s:%d", (int)(n - 2), url, port);
    return s;
}

wr_err wr_ctl_open(const char *listen, size_t max_message, void (*notify)(void *arg), void *arg,
                   wr_ctl **out, wr_errbuf *eb)
{
    nng_listener l;
    wr_ctl *c;
    int rv;

    c = calloc(1, sizeof *c);
    if (!c)
        return wr_fail(eb, WR_ENOMEM, "out of memory");
    c->max_message = max_message;
    c->notify = notify;
    c->notify_arg = arg;
    atomic_init(&c->rejected, 0);
    pthread_mutex_init(&c->mu, NULL);
    pthread_mutex_init(&c->smu, NULL);

    if ((rv = nng_pull0_open(&c->pull)) != 0)
        goto fail;
    c->pull_open = true;
    if ((rv = nng_socket_set_size(c->pull, NNG_OPT_RECVMAXSZ, max_message)) != 0 ||
        (rv = nng_aio_alloc(&c->raio, recv_cb, c)) != 0 ||
        (rv = nng_listener_create(&l, c->pull, listen)) != 0 ||
        (rv = nng_listener_set_size(l, NNG_OPT_RECVMAXSZ, max_message)) != 0 ||
        (rv = nng_listener_start(l, 0)) != 0)
        goto fail;
    c->listen_url = bound_url(listen, l);
    if (!c->listen_url) {
        rv = NNG_ENOMEM;
        goto fail;
    }
    nng_recv_aio(c->pull, c->raio);
    *out = c;
    return WR_OK;

fail:
    wr_ctl_free(c);
    return wr_fail(eb, rv == NNG_ENOMEM ? WR_ENOMEM : WR_EIO, "cannot listen on %s: %s", listen,
                   nng_strerror(rv));
}

const char *wr_ctl_listen_url(const wr_ctl *c)
{
    return c->listen_url;
}

bool wr_ctl_pop(wr_ctl *c, wr_ctl_msg *out)
{
    recv_node *n;

    pthread_mutex_lock(&c->mu);
    n = c->head;
    if (n) {
        c->head = n->next;
        if (!c->head)
            c->tail = NULL;
        c->nqueued--;
        if (c->nqueued == 0)
            c->dropping = false;
    }
    pthread_mutex_unlock(&c->mu);
    if (!n)
        return false;
    *out = n->msg;
    free(n);
    return true;
}

uint64_t wr_ctl_rejected(const wr_ctl *c)
{
    return atomic_load(&((wr_ctl *)c)->rejected);
}

void wr_ctl_close_listener(wr_ctl *c)
{
    pthread_mutex_lock(&c->mu);
    c->closing = true;
    pthread_mutex_unlock(&c->mu);
    if (c->raio)
        nng_aio_stop(c->raio);
    if (c->pull_open) {
        nng_close(c->pull);
        c->pull_open = false;
    }
}

/* ---------------------------------------------------------------- sending */

static nng_msg *peer_pop(peer *p)
{
    nng_msg *m;

    if (p->qlen == 0)
        return NULL;
    m = p->queue[p->qhead];
    p->qhead = (p->qhead + 1) % CTL_SEND_QUEUE_MAX;
    p->qlen--;
    return m;
}

/* nng thread: one send finished; start the next one. */
static void send_cb(void *arg)
{
    peer *p = arg;
    wr_ctl *c = p->ctl;
    int rv = nng_aio_result(p->aio);
    nng_msg *next = NULL;

    if (rv != 0)
        nng_msg_free(nng_aio_get_msg(p->aio));
    pthread_mutex_lock(&c->smu);
    if (rv != 0 && rv != NNG_ECANCELED && rv != NNG_ECLOSED) {
        wr_log(p->failing ? WR_LOG_DEBUG : WR_LOG_WARN, "coordinator",
               "cannot send to worker %s at %s: %s", p->worker_id, p->address, nng_strerror(rv));
        p->failing = true;
    } else if (rv == 0) {
        p->failing = false;
    }
    if (!p->closing)
        next = peer_pop(p);
    p->busy = next != NULL;
    pthread_mutex_unlock(&c->smu);
    if (next) {
        nng_aio_set_msg(p->aio, next);
        nng_aio_set_timeout(p->aio, CTL_SEND_TIMEOUT_MS);
        nng_send_aio(p->sock, p->aio);
    }
}

/* Closes p's socket and drops whatever it still had to send (owner's thread). */
static void peer_close(wr_ctl *c, peer *p)
{
    nng_msg *m;

    pthread_mutex_lock(&c->smu);
    p->closing = true;
    pthread_mutex_unlock(&c->smu);
    if (p->aio)
        nng_aio_stop(p->aio); /* waits for send_cb; it frees the message in flight */
    if (p->open)
        nng_close(p->sock);
    if (p->aio)
        nng_aio_free(p->aio);
    p->aio = NULL;
    p->open = false;
    while ((m = peer_pop(p)))
        nng_msg_free(m);
    p->busy = false;
    p->closing = false;
    p->failing = false;
}

static wr_err peer_dial(wr_ctl *c, peer *p, wr_errbuf *eb)
{
    int rv;

    if ((rv = nng_push0_open(&p->sock)) != 0)
        return wr_fail(eb, WR_EIO, "cannot dial worker %s at %s: %s", p->worker_id, p->address,
                       nng_strerror(rv));
    if ((rv = nng_socket_set_ms(p->sock, NNG_OPT_SENDTIMEO, CTL_SEND_TIMEOUT_MS)) != 0 ||
        (rv = nng_socket_set_size(p->sock, NNG_OPT_RECVMAXSZ, c->max_message)) != 0 ||
        (rv = nng_aio_alloc(&p->aio, send_cb, p)) != 0 ||
        /* non-blocking: nng keeps (re)connecting in the background */
        (rv = nng_dial(p->sock, p->address, NULL, NNG_FLAG_NONBLOCK)) != 0) {
        nng_close(p->sock);
        if (p->aio)
            nng_aio_free(p->aio);
        p->aio = NULL;
        return wr_fail(eb, WR_EIO, "cannot dial worker %s at %s: %s", p->worker_id, p->address,
                       nng_strerror(rv));
    }
    p->open = true;
    return WR_OK;
}

/* The peer for index i at address, dialed. */
static wr_err get_peer(wr_ctl *c, int i, const char *worker_id, const char *address, peer **out,
                       wr_errbuf *eb)
{
    peer *p = NULL;
    char *s;

    if (i < 0)
        return wr_fail(eb, WR_EINVAL, "bad worker index %d", i);
    if (i >= c->npeers) {
        peer **v = realloc(c->peers, (size_t)(i + 1) * sizeof *v);
        if (!v)
            return wr_fail(eb, WR_ENOMEM, "out of memory");
        memset(v + c->npeers, 0, (size_t)(i + 1 - c->npeers) * sizeof *v);
        c->peers = v;
        c->npeers = i + 1;
    }
    p = c->peers[i];
    if (!p) {
        p = calloc(1, sizeof *p);
        if (!p)
            return wr_fail(eb, WR_ENOMEM, "out of memory");
        p->ctl = c;
        c->peers[i] = p;
    }
    if (!p->worker_id || strcmp(p->worker_id, worker_id) != 0) {
        if (!(s = strdup(worker_id)))
            return wr_fail(eb, WR_ENOMEM, "out of memory");
        pthread_mutex_lock(&c->smu); /* send_cb logs it */
        free(p->worker_id);
        p->worker_id = s;
        pthread_mutex_unlock(&c->smu);
    }
    if (p->address && strcmp(p->address, address) != 0) {
        peer_close(c, p);
        free(p->address);
        p->address = NULL;
    }
    if (!p->address && !(p->address = strdup(address)))
        return wr_fail(eb, WR_ENOMEM, "out of memory");
    if (!p->open) {
        wr_err e = peer_dial(c, p, eb);
        if (e != WR_OK)
            return e;
    }
    *out = p;
    return WR_OK;
}

wr_err wr_ctl_send(wr_ctl *c, int i, const char *worker_id, const char *address,
                   const Weir__Control *m, wr_errbuf *eb)
{
    nng_msg *msg = NULL;
    bool start = false;
    wr_buf b;
    peer *p = NULL;
    wr_err e;
    int rv;

    wr_buf_init(&b, c->max_message);
    e = wr_wire_encode_control(m, &b);
    if (e != WR_OK) {
        wr_buf_fini(&b);
        return wr_fail(eb, e, "cannot encode %s for worker %s: %s (limit %zu bytes)",
                       control_body_name(m->body_case), worker_id, wr_strerror(e), c->max_message);
    }
    e = get_peer(c, i, worker_id, address, &p, eb);
    if (e == WR_OK) {
        if ((rv = nng_msg_alloc(&msg, b.len)) != 0)
            e = wr_fail(eb, WR_ENOMEM, "out of memory");
        else
            memcpy(nng_msg_body(msg), b.p, b.len);
    }
    wr_buf_fini(&b);
    if (e != WR_OK)
        return e;

    pthread_mutex_lock(&c->smu);
    if (!p->busy) {
        p->busy = true;
        start = true;
    } else if (p->qlen < CTL_SEND_QUEUE_MAX) {
        p->queue[(p->qhead + p->qlen) % CTL_SEND_QUEUE_MAX] = msg;
        p->qlen++;
        msg = NULL;
    }
    pthread_mutex_unlock(&c->smu);
    if (start) {
        nng_aio_set_msg(p->aio, msg);
        nng_aio_set_timeout(p->aio, CTL_SEND_TIMEOUT_MS);
        nng_send_aio(p->sock, p->aio);
    } else if (msg) {
        nng_msg_free(msg);
        return wr_fail(eb, WR_ETOOBIG, "send queue of worker %s at %s is full (%d messages)",
                       worker_id, address, CTL_SEND_QUEUE_MAX);
    }
    return WR_OK;
}

void wr_ctl_free(wr_ctl *c)
{
    recv_node *n, *next;

    if (!c)
        return;
    wr_ctl_close_listener(c);
    if (c->raio)
        nng_aio_free(c->raio);
    for (int i = 0; i < c->npeers; i++) {
        peer *p = c->peers[i];
        if (!p)
            continue;
        peer_close(c, p);
        free(p->address);
        free(p->worker_id);
        free(p);
    }
    free(c->peers);
    for (n = c->head; n; n = next) {
        next = n->next;
        wr_frame_fini(&n->msg.frame);
        free(n);
    }
    free(c->listen_url);
    pthread_mutex_destroy(&c->mu);
    pthread_mutex_destroy(&c->smu);
    free(c);
}
