/*
 * exchange.c — remote channels of a deployment with credits (see exchange.h).
 */
#include "deadline.h"
#include "exchange.h"
#include "credit.h"
#include "wire.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct wr_exchange {
    wr_net *net;
    char job_id[WR_WIRE_MAX_ID + 1];
    uint32_t attempt;
    int P;
    char **addr;
    bool *local;
    char *self;
    int capacity;
    int64_t send_timeout_ms;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool canceled;
    wr_credit_tx *tx; /* [from * P + to], from local, to remote */
    wr_credit_rx *rx; /* [from * P + to], from remote, to local */
    wr_buf *bufs;     /* one encode buffer per local sender */
    atomic_uint_fast64_t waited_ns;
};

static wr_err send_frame(wr_exchange *x, const char *address, const wr_buf *buf, wr_errbuf *eb);

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

wr_exchange *wr_exchange_new(wr_net *net, const char *job_id, uint32_t attempt, int parallelism,
                             const char *const *addresses, const bool *local, int capacity,
                             const char *self_address, int64_t send_timeout_ms)
{
    wr_exchange *x = calloc(1, sizeof *x);
    size_t pp = (size_t)parallelism * (size_t)parallelism;

    if (!x)
        return NULL;
    x->net = net;
    snprintf(x->job_id, sizeof x->job_id, "%s", job_id);
    x->attempt = attempt;
    x->P = parallelism;
    x->capacity = capacity;
    x->send_timeout_ms = send_timeout_ms;
    pthread_mutex_init(&x->mu, NULL);
    {
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&x->cv, &ca);
        pthread_condattr_destroy(&ca);
    }
    x->addr = calloc((size_t)parallelism, sizeof *x->addr);
    x->local = calloc((size_t)parallelism, sizeof *x->local);
    x->tx = calloc(pp, sizeof *x->tx);
    x->rx = calloc(pp, sizeof *x->rx);
    x->bufs = calloc((size_t)parallelism, sizeof *x->bufs);
    x->self = strdup(self_address);
    if (!x->addr || !x->local || !x->tx || !x->rx || !x->bufs || !x->self) {
        wr_exchange_free(x);
        return NULL;
    }
    for (int i = 0; i < parallelism; i++) {
        x->local[i] = local[i];
        wr_buf_init(&x->bufs[i], 0);
        if (!(x->addr[i] = strdup(addresses[i]))) {
            wr_exchange_free(x);
            return NULL;
        }
    }
    for (size_t i = 0; i < pp; i++) {
        wr_credit_tx_init(&x->tx[i]);
        wr_credit_rx_init(&x->rx[i], capacity);
    }
    return x;
}

void wr_exchange_free(wr_exchange *x)
{
    if (!x)
        return;
    for (int i = 0; x->addr && i < x->P; i++)
        free(x->addr[i]);
    for (int i = 0; x->bufs && i < x->P; i++)
        wr_buf_fini(&x->bufs[i]);
    free(x->addr);
    free(x->local);
    free(x->tx);
    free(x->rx);
    free(x->bufs);
    free(x->self);
    pthread_mutex_destroy(&x->mu);
    pthread_cond_destroy(&x->cv);
    free(x);
}

const char *wr_exchange_job_id(const wr_exchange *x)
{
    return x->job_id;
}

uint32_t wr_exchange_attempt(const wr_exchange *x)
{
    return x->attempt;
}

bool wr_exchange_is_local(const wr_exchange *x, int subtask)
{
    return subtask >= 0 && subtask < x->P && x->local[subtask];
}

bool wr_exchange_uses(const wr_exchange *x, const char *address)
{
    for (int i = 0; i < x->P; i++) {
        if (!x->local[i] && !strcmp(x->addr[i], address))
            return true;
    }
    return false;
}

wr_err wr_exchange_send(wr_exchange *x, int from, int to, wr_batch *b, int64_t timeout_ms,
                        wr_errbuf *eb)
{
    wr_credit_tx *tx = &x->tx[(size_t)from * (size_t)x->P + (size_t)to];
    Weir__DataHeader h = WEIR__DATA_HEADER__INIT;
    wr_buf *buf = &x->bufs[from];
    struct timespec deadline;
    int64_t t0 = 0;
    wr_err e;

    pthread_mutex_lock(&x->mu);
    if (!x->canceled && tx->credits <= 0) {
        t0 = mono_ns();
        if (timeout_ms >= 0)
            wr_deadline_after(&deadline, timeout_ms);
        while (!x->canceled && tx->credits <= 0) {
            if (timeout_ms < 0) {
                pthread_cond_wait(&x->cv, &x->mu);
            } else if (pthread_cond_timedwait(&x->cv, &x->mu, &deadline) != 0) {
                break;
            }
        }
        atomic_fetch_add(&x->waited_ns, (uint_fast64_t)(mono_ns() - t0));
    }
    if (x->canceled) {
        pthread_mutex_unlock(&x->mu);
        return wr_fail(eb, WR_ECANCELED, "canceled");
    }
    if (!wr_credit_tx_take(tx)) {
        pthread_mutex_unlock(&x->mu);
        return wr_fail(eb, WR_ETIMEDOUT, "no credit from subtask %d", to);
    }
    pthread_mutex_unlock(&x->mu);

    h.job_id = x->job_id;
    h.attempt = x->attempt;
    h.from_subtask = (uint32_t)from;
    h.to_subtask = (uint32_t)to;
    h.reply_address = x->self;
    e = wr_wire_encode_data(&h, b, buf);
    if (e)
        return wr_fail(eb, e, "cannot encode a batch for subtask %d", to);
    e = send_frame(x, x->addr[to], buf, eb);
    if (e)
        return e;
    wr_batch_free(b);
    return WR_OK;
}

/* Hands a frame to the peer's connection in 100 ms slices, so that a cancel (a peer
 * died, the job fails over) ends the wait at once instead of after send_timeout_ms. */
static wr_err send_frame(wr_exchange *x, const char *address, const wr_buf *buf, wr_errbuf *eb)
{
    int64_t waited = 0;

    for (;;) {
        bool canceled;
        wr_err e = wr_net_send(x->net, address, buf->p, buf->len, 100, eb);
        if (e != WR_ETIMEDOUT)
            return e;
        waited += 100;
        pthread_mutex_lock(&x->mu);
        canceled = x->canceled;
        pthread_mutex_unlock(&x->mu);
        if (canceled)
            return wr_fail(eb, WR_ECANCELED, "canceled");
        if (waited >= x->send_timeout_ms)
            return e;
    }
}

static wr_err send_credit(wr_exchange *x, int from, int to, int n, wr_errbuf *eb)
{
    Weir__Credit c = WEIR__CREDIT__INIT;
    wr_buf buf;
    wr_err e;

    c.job_id = x->job_id;
    c.attempt = x->attempt;
    c.from_subtask = (uint32_t)from;
    c.to_subtask = (uint32_t)to;
    c.credits = (uint32_t)n;
    wr_buf_init(&buf, 0);
    e = wr_wire_encode_credit(&c, &buf);
    if (e == WR_OK)
        e = send_frame(x, x->addr[from], &buf, eb);
    else
        wr_fail(eb, e, "cannot encode a credit");
    wr_buf_fini(&buf);
    return e;
}

wr_err wr_exchange_open(wr_exchange *x, wr_errbuf *eb)
{
    for (int to = 0; to < x->P; to++) {
        if (!x->local[to])
            continue;
        for (int from = 0; from < x->P; from++) {
            wr_err e;
            if (x->local[from])
                continue;
            e = send_credit(x, from, to, x->capacity, eb);
            if (e)
                return e;
        }
    }
    return WR_OK;
}

void wr_exchange_credit(wr_exchange *x, int from, int to, uint32_t credits)
{
    if (from < 0 || from >= x->P || to < 0 || to >= x->P)
        return;
    pthread_mutex_lock(&x->mu);
    wr_credit_tx_add(&x->tx[(size_t)from * (size_t)x->P + (size_t)to], credits);
    pthread_cond_broadcast(&x->cv);
    pthread_mutex_unlock(&x->mu);
}

wr_err wr_exchange_taken(wr_exchange *x, int from, int to, wr_errbuf *eb)
{
    int n;

    /* only the subtask `to`'s thread touches its rx entries: no lock needed */
    n = wr_credit_rx_taken(&x->rx[(size_t)from * (size_t)x->P + (size_t)to]);
    if (n == 0)
        return WR_OK;
    return send_credit(x, from, to, n, eb);
}

void wr_exchange_cancel(wr_exchange *x)
{
    pthread_mutex_lock(&x->mu);
    x->canceled = true;
    pthread_cond_broadcast(&x->cv);
    pthread_mutex_unlock(&x->mu);
}

uint64_t wr_exchange_backpressured_ms(wr_exchange *x)
{
    return atomic_load(&x->waited_ns) / 1000000;
}
