/*
 * net.c — the worker's nng sockets (see net.h).
 */
#include "net.h"
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

typedef struct peer {
    struct wr_net *net;
    char *address;
    nng_socket sock;
    pthread_mutex_t send_mu; /* one sender at a time keeps a thread's frames in order */
} peer;

struct wr_net {
    nng_socket pull;
    size_t max_message;
    wr_net_frame_fn fn;
    void *arg;
    pthread_t thread;
    bool thread_started;
    pthread_mutex_t mu; /* peers */
    peer **peers;
    int npeers, cap_peers;
    atomic_uint_fast64_t rejected;
    pthread_mutex_t lost_mu; /* lost_fn, closing */
    wr_net_lost_fn lost_fn;
    void *lost_arg;
    bool closing;
};

void wr_net_on_lost(wr_net *n, wr_net_lost_fn fn, void *arg)
{
    pthread_mutex_lock(&n->lost_mu);
    n->lost_fn = fn;
    n->lost_arg = arg;
    pthread_mutex_unlock(&n->lost_mu);
}

static void on_pipe_removed(nng_pipe pipe, nng_pipe_ev ev, void *arg)
{
    peer *p = arg;
    wr_net *n = p->net;
    (void)pipe;
    (void)ev;
    pthread_mutex_lock(&n->lost_mu);
    if (!n->closing && n->lost_fn)
        n->lost_fn(n->lost_arg, p->address);
    pthread_mutex_unlock(&n->lost_mu);
}

/* "10.0.0.2:51234" for log lines; "?" when nng does not say. */
static void pipe_peer(nng_pipe p, char *buf, size_t size)
{
    nng_sockaddr sa;

    snprintf(buf, size, "?");
    if (nng_pipe_get_addr(p, NNG_OPT_REMADDR, &sa) != 0)
        return;
    if (sa.s_family == NNG_AF_INET) {
        char ip[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &sa.s_in.sa_addr, ip, sizeof ip);
        snprintf(buf, size, "%s:%u", ip, (unsigned)ntohs(sa.s_in.sa_port));
    } else if (sa.s_family == NNG_AF_INET6) {
        char ip[INET6_ADDRSTRLEN];
        inet_ntop(AF_INET6, sa.s_in6.sa_addr, ip, sizeof ip);
        snprintf(buf, size, "[%s]:%u", ip, (unsigned)ntohs(sa.s_in6.sa_port));
    } else if (sa.s_family == NNG_AF_INPROC) {
        snprintf(buf, size, "inproc");
    }
}

static void *recv_main(void *arg)
{
    wr_net *n = arg;

    for (;;) {
        nng_msg *msg;
        wr_frame f;
        wr_errbuf eb;
        char peer_name[80];
        nng_pipe p;
        int rv = nng_recvmsg(n->pull, &msg, 0);

        if (rv == NNG_ECLOSED)
            break;
        if (rv != 0)
            continue;
        p = nng_msg_get_pipe(msg);
        pipe_peer(p, peer_name, sizeof peer_name);
        if (wr_wire_decode(nng_msg_body(msg), nng_msg_len(msg), n->max_message, &f, &eb) != WR_OK) {
            atomic_fetch_add(&n->rejected, 1);
            wr_log(WR_LOG_WARN, "net", "closing the connection from %s: %s", peer_name, eb.msg);
            nng_pipe_close(p);
            nng_msg_free(msg);
            continue;
        }
        if (!n->fn(n->arg, &f, peer_name)) {
            atomic_fetch_add(&n->rejected, 1);
            nng_pipe_close(p);
        }
        wr_frame_fini(&f);
        nng_msg_free(msg);
    }
    return NULL;
}

wr_err wr_net_start(const char *url, size_t max_message, wr_net_frame_fn fn, void *arg,
                    wr_net **out, wr_errbuf *eb)
{
    wr_net *n = calloc(1, sizeof *n);
    int rv;

    if (!n)
        return wr_fail(eb, WR_ENOMEM, "out of memory");
    n->max_message = max_message;
    n->fn = fn;
    n->arg = arg;
    pthread_mutex_init(&n->mu, NULL);
    pthread_mutex_init(&n->lost_mu, NULL);
    if ((rv = nng_pull0_open(&n->pull)) != 0) {
        free(n);
        return wr_fail(eb, WR_EIO, "cannot open a socket: %s", nng_strerror(rv));
    }
    nng_socket_set_size(n->pull, NNG_OPT_RECVMAXSZ, max_message);
    if ((rv = nng_listen(n->pull, url, NULL, 0)) != 0) {
        nng_close(n->pull);
        pthread_mutex_destroy(&n->mu);
        free(n);
        return wr_fail(eb, WR_EIO, "cannot listen on %s: %s", url, nng_strerror(rv));
    }
    if (pthread_create(&n->thread, NULL, recv_main, n) != 0) {
        nng_close(n->pull);
        pthread_mutex_destroy(&n->mu);
        free(n);
        return wr_fail(eb, WR_ENOMEM, "cannot start the receive thread");
    }
    n->thread_started = true;
    *out = n;
    return WR_OK;
}

static peer *get_peer(wr_net *n, const char *address, wr_err *err, wr_errbuf *eb)
{
    peer *p;
    int rv;

    pthread_mutex_lock(&n->mu);
    for (int i = 0; i < n->npeers; i++) {
        if (!strcmp(n->peers[i]->address, address)) {
            p = n->peers[i];
            pthread_mutex_unlock(&n->mu);
            return p;
        }
    }
    if (n->npeers == n->cap_peers) {
        int cap = n->cap_peers ? 2 * n->cap_peers : 8;
        peer **np = realloc(n->peers, sizeof *np * (size_t)cap);
        if (!np) {
            pthread_mutex_unlock(&n->mu);
            *err = wr_fail(eb, WR_ENOMEM, "out of memory");
            return NULL;
        }
        n->peers = np;
        n->cap_peers = cap;
    }
    p = calloc(1, sizeof *p);
    if (!p || !(p->address = strdup(address))) {
        free(p);
        pthread_mutex_unlock(&n->mu);
        *err = wr_fail(eb, WR_ENOMEM, "out of memory");
        return NULL;
    }
    if ((rv = nng_push0_open(&p->sock)) != 0) {
        free(p->address);
        free(p);
        pthread_mutex_unlock(&n->mu);
        *err = wr_fail(eb, WR_EIO, "cannot open a socket to %s: %s", address, nng_strerror(rv));
        return NULL;
    }
    p->net = n;
    nng_pipe_notify(p->sock, NNG_PIPE_EV_REM_POST, on_pipe_removed, p);
    nng_socket_set_size(p->sock, NNG_OPT_RECVMAXSZ, n->max_message);
    nng_socket_set_ms(p->sock, NNG_OPT_RECONNMINT, 50);
    nng_socket_set_ms(p->sock, NNG_OPT_RECONNMAXT, 1000);
    /* NONBLOCK: the dialer keeps retrying in the background until the peer listens */
    if ((rv = nng_dial(p->sock, address, NULL, NNG_FLAG_NONBLOCK)) != 0) {
        nng_close(p->sock);
        free(p->address);
        free(p);
        pthread_mutex_unlock(&n->mu);
        *err = wr_fail(eb, WR_EIO, "cannot connect to %s: %s", address, nng_strerror(rv));
        return NULL;
    }
    pthread_mutex_init(&p->send_mu, NULL);
    n->peers[n->npeers++] = p;
    pthread_mutex_unlock(&n->mu);
    return p;
}

wr_err wr_net_send(wr_net *n, const char *address, const void *frame, size_t len,
                   int64_t send_timeout_ms, wr_errbuf *eb)
{
    wr_err err = WR_EIO;
    peer *p = get_peer(n, address, &err, eb);
    nng_msg *msg;
    int rv;

    if (!p)
        return err;
    if (nng_msg_alloc(&msg, len) != 0)
        return wr_fail(eb, WR_ENOMEM, "out of memory");
    memcpy(nng_msg_body(msg), frame, len);
    pthread_mutex_lock(&p->send_mu);
    nng_socket_set_ms(p->sock, NNG_OPT_SENDTIMEO, (nng_duration)send_timeout_ms);
    rv = nng_sendmsg(p->sock, msg, 0);
    pthread_mutex_unlock(&p->send_mu);
    if (rv != 0) {
        nng_msg_free(msg);
        return wr_fail(eb, rv == NNG_ETIMEDOUT ? WR_ETIMEDOUT : WR_EIO, "cannot send to %s: %s",
                       address, nng_strerror(rv));
    }
    return WR_OK;
}

uint64_t wr_net_rejected(const wr_net *n)
{
    return atomic_load(&((wr_net *)n)->rejected);
}

void wr_net_free(wr_net *n)
{
    if (!n)
        return;
    pthread_mutex_lock(&n->lost_mu);
    n->closing = true;
    pthread_mutex_unlock(&n->lost_mu);
    nng_close(n->pull);
    if (n->thread_started)
        pthread_join(n->thread, NULL);
    for (int i = 0; i < n->npeers; i++) {
        nng_close(n->peers[i]->sock);
        pthread_mutex_destroy(&n->peers[i]->send_mu);
        free(n->peers[i]->address);
        free(n->peers[i]);
    }
    free(n->peers);
    pthread_mutex_destroy(&n->mu);
    pthread_mutex_destroy(&n->lost_mu);
    free(n);
}
