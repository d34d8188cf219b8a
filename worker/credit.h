/*
 * credit.h — credit-based flow control of one channel between workers, as pure state.
 *
 * The receiver owns a queue of `capacity` batches for the channel (its wr_inbox ring). It
 * grants the sender `capacity` credits when the channel opens; the sender spends one per
 * batch and never sends without one; each batch the receiver takes off the queue earns the
 * sender a credit back. Credits go back in groups of `capacity / 4` (at least 1) to save
 * messages; this never stalls the channel, because the credits the receiver is still
 * holding back are fewer than the capacity:
 *
 *   sender credits + batches in flight + batches queued + credits held back = capacity
 *
 * so the queue can never overflow and, when it is empty and nothing is in flight, the
 * sender holds at least capacity - capacity/4 + 1 > 0 credits. tests/unit/test-credit.c
 * checks both against a random interleaving of sends, deliveries, takes and grants.
 */
#ifndef WR_CREDIT_H
#define WR_CREDIT_H

#include <stdbool.h>
#include <stdint.h>

typedef struct wr_credit_tx {
    int64_t credits; /* batches the sender may still send */
} wr_credit_tx;

typedef struct wr_credit_rx {
    int capacity;
    int group;   /* credits are returned `group` at a time */
    int pending; /* taken batches whose credits are held back */
} wr_credit_rx;

static inline void wr_credit_tx_init(wr_credit_tx *tx)
{
    tx->credits = 0;
}

/* Spends a credit for one batch; false (and nothing spent) if there is none. */
static inline bool wr_credit_tx_take(wr_credit_tx *tx)
{
    if (tx->credits <= 0)
        return false;
    tx->credits--;
    return true;
}

static inline void wr_credit_tx_add(wr_credit_tx *tx, uint32_t n)
{
    tx->credits += n;
}

/* Initialises the receiver of a channel with a queue of `capacity` (>= 1) batches and
 * returns the credits to grant at once (= capacity). */
int wr_credit_rx_init(wr_credit_rx *rx, int capacity);

/* The receiver took one batch off the queue; returns the credits to grant now (0 when
 * held back). */
int wr_credit_rx_taken(wr_credit_rx *rx);

#endif
