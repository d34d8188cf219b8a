/*
 * channel.h — bounded in-process channels of record batches.
 *
 * A task's input is one wr_inbox holding one bounded FIFO per upstream sender
 * (a "channel"). A sender may queue at most `capacity` batches on its channel: these
 * are its credits, exactly as the network exchange will grant them, so a slow receiver
 * blocks its senders (backpressure) and memory stays bounded by
 * channels × capacity × batch size. Per-channel FIFOs keep what barrier alignment needs:
 * a receiver can block one channel (stop taking from it) while draining the others.
 *
 * Threads: any number of senders (one per channel) and one receiver. wr_inbox_cancel()
 * may be called from any thread and wakes everyone.
 */
#ifndef WR_CHANNEL_H
#define WR_CHANNEL_H

#include "batch.h"
#include "error.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct wr_inbox wr_inbox;

/* An inbox with nchannels channels of `capacity` batches each. NULL on OOM. */
wr_inbox *wr_inbox_new(int nchannels, int capacity);
/* Frees the inbox and any batches still queued. NULL is a no-op. */
void wr_inbox_free(wr_inbox *in);

/* Queues b on channel ch, blocking while the channel holds `capacity` batches.
 * On success the inbox owns b. Returns WR_ECANCELED (b still the caller's) if the inbox
 * was canceled. */
wr_err wr_inbox_send(wr_inbox *in, int ch, wr_batch *b);
/* The same, waiting at most timeout_ms (-1: forever): WR_ETIMEDOUT leaves b the caller's. */
wr_err wr_inbox_send_wait(wr_inbox *in, int ch, wr_batch *b, int64_t timeout_ms);

/* Queues b on channel ch without waiting: WR_ETOOBIG if the channel is full, WR_ECANCELED
 * if canceled (b stays the caller's in both cases). For senders that count their own
 * credits (the network exchange). */
wr_err wr_inbox_try_send(wr_inbox *in, int ch, wr_batch *b);

/* Takes the next batch from an unblocked, non-empty channel (round-robin across
 * channels), waiting up to timeout_ms (-1: forever). Returns the channel index and sets
 * *out; returns -1 on timeout, -2 if canceled. */
int wr_inbox_recv(wr_inbox *in, wr_batch **out, int64_t timeout_ms);

/* Stops (blocked = true) or resumes taking batches from channel ch (barrier alignment). */
void wr_inbox_block(wr_inbox *in, int ch, bool blocked);

/* Wakes all waiters; from now on send and recv return WR_ECANCELED / -2. */
void wr_inbox_cancel(wr_inbox *in);

int wr_inbox_channels(const wr_inbox *in);
/* Batches currently queued on all channels (for backpressure metrics). */
int wr_inbox_queued(wr_inbox *in);

#endif
