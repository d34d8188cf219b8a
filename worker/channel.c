/*
 * channel.c — bounded per-sender FIFOs behind one lock per receiving task.
 *
 * One mutex per inbox is enough: traffic is per batch (hundreds of records), not per
 * record, so the lock is taken a few thousand times a second.
 */
#include "deadline.h"
#include "channel.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

typedef struct ring {
    wr_batch **slots;
    int head; /* next to take */
    int count;
    bool blocked;
} ring;

struct wr_inbox {
    pthread_mutex_t mu;
    pthread_cond_t data;  /* receiver waits here */
    pthread_cond_t space; /* senders wait here */
    int nchannels;
    int capacity;
    int next; /* round-robin start for recv */
    bool canceled;
    ring *rings;
};

wr_inbox *wr_inbox_new(int nchannels, int capacity)
{
    wr_inbox *in;
    pthread_condattr_t ca;

    if (nchannels < 1 || capacity < 1)
        return NULL;
    in = calloc(1, sizeof *in);
    if (!in)
        return NULL;
    in->rings = calloc((size_t)nchannels, sizeof *in->rings);
    if (!in->rings)
        goto err;
    for (int i = 0; i < nchannels; i++) {
        in->rings[i].slots = calloc((size_t)capacity, sizeof(wr_batch *));
        if (!in->rings[i].slots)
            goto err;
    }
    in->nchannels = nchannels;
    in->capacity = capacity;
    pthread_mutex_init(&in->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&in->data, &ca);
    pthread_cond_init(&in->space, &ca);
    pthread_condattr_destroy(&ca);
    return in;
err:
    if (in->rings) {
        for (int i = 0; i < nchannels; i++)
            free(in->rings[i].slots);
    }
    free(in->rings);
    free(in);
    return NULL;
}

void wr_inbox_free(wr_inbox *in)
{
    if (!in)
        return;
    for (int i = 0; i < in->nchannels; i++) {
        ring *r = &in->rings[i];
        for (int k = 0; k < r->count; k++)
            wr_batch_free(r->slots[(r->head + k) % in->capacity]);
        free(r->slots);
    }
    free(in->rings);
    pthread_mutex_destroy(&in->mu);
    pthread_cond_destroy(&in->data);
    pthread_cond_destroy(&in->space);
    free(in);
}

wr_err wr_inbox_send(wr_inbox *in, int ch, wr_batch *b)
{
    return wr_inbox_send_wait(in, ch, b, -1);
}

wr_err wr_inbox_send_wait(wr_inbox *in, int ch, wr_batch *b, int64_t timeout_ms)
{
    ring *r = &in->rings[ch];
    struct timespec deadline;

    if (timeout_ms >= 0)
        wr_deadline_after(&deadline, timeout_ms);
    pthread_mutex_lock(&in->mu);
    while (!in->canceled && r->count == in->capacity) {
        if (timeout_ms < 0) {
            pthread_cond_wait(&in->space, &in->mu);
        } else if (pthread_cond_timedwait(&in->space, &in->mu, &deadline) != 0) {
            pthread_mutex_unlock(&in->mu);
            return WR_ETIMEDOUT;
        }
    }
    if (in->canceled) {
        pthread_mutex_unlock(&in->mu);
        return WR_ECANCELED;
    }
    r->slots[(r->head + r->count) % in->capacity] = b;
    r->count++;
    pthread_cond_signal(&in->data);
    pthread_mutex_unlock(&in->mu);
    return WR_OK;
}

wr_err wr_inbox_try_send(wr_inbox *in, int ch, wr_batch *b)
{
    ring *r = &in->rings[ch];
    wr_err e = WR_OK;

    pthread_mutex_lock(&in->mu);
    if (in->canceled) {
        e = WR_ECANCELED;
    } else if (r->count == in->capacity) {
        e = WR_ETOOBIG;
    } else {
        r->slots[(r->head + r->count) % in->capacity] = b;
        r->count++;
        pthread_cond_signal(&in->data);
    }
    pthread_mutex_unlock(&in->mu);
    return e;
}

int wr_inbox_recv(wr_inbox *in, wr_batch **out, int64_t timeout_ms)
{
    struct timespec deadline;

    if (timeout_ms >= 0)
        wr_deadline_after(&deadline, timeout_ms);
    pthread_mutex_lock(&in->mu);
    for (;;) {
        if (in->canceled) {
            pthread_mutex_unlock(&in->mu);
            return -2;
        }
        for (int k = 0; k < in->nchannels; k++) {
            int ch = (in->next + k) % in->nchannels;
            ring *r = &in->rings[ch];
            if (r->count && !r->blocked) {
                *out = r->slots[r->head];
                r->head = (r->head + 1) % in->capacity;
                r->count--;
                in->next = (ch + 1) % in->nchannels;
                /* Several senders share one condition: wake them all so the one whose
                 * channel gained space is among them. */
                pthread_cond_broadcast(&in->space);
                pthread_mutex_unlock(&in->mu);
                return ch;
            }
        }
        if (timeout_ms < 0) {
            pthread_cond_wait(&in->data, &in->mu);
        } else if (pthread_cond_timedwait(&in->data, &in->mu, &deadline) == ETIMEDOUT) {
            pthread_mutex_unlock(&in->mu);
            return -1;
        }
    }
}

void wr_inbox_block(wr_inbox *in, int ch, bool blocked)
{
    pthread_mutex_lock(&in->mu);
    in->rings[ch].blocked = blocked;
    if (!blocked)
        pthread_cond_signal(&in->data);
    pthread_mutex_unlock(&in->mu);
}

void wr_inbox_cancel(wr_inbox *in)
{
    pthread_mutex_lock(&in->mu);
    in->canceled = true;
    pthread_cond_broadcast(&in->data);
    pthread_cond_broadcast(&in->space);
    pthread_mutex_unlock(&in->mu);
}

int wr_inbox_channels(const wr_inbox *in)
{
    return in->nchannels;
}

int wr_inbox_queued(wr_inbox *in)
{
    int n = 0;
    pthread_mutex_lock(&in->mu);
    for (int i = 0; i < in->nchannels; i++)
        n += in->rings[i].count;
    pthread_mutex_unlock(&in->mu);
    return n;
}
