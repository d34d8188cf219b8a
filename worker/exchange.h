/*
 * exchange.h — the channels of one deployment (one attempt of one job on this worker) to
 * and from subtasks on other workers, with credit-based flow control (credit.h).
 *
 * Sending (a source subtask's thread): wr_exchange_send waits for a credit on the channel
 * from → to, encodes the batch as a DATA frame and sends it to the worker of `to`.
 * Receiving: the worker's receive thread hands DATA frames to wr_job_deliver (which never
 * blocks, as the sender held a credit) and CREDIT frames to wr_exchange_credit. When a
 * window/sink subtask takes a batch that came from another worker it calls
 * wr_exchange_taken, which returns credits to the sender in groups.
 *
 * Memory: per remote channel at most limits.channel_batches batches are queued at the
 * receiver, and a sender holds at most one encoded batch at a time.
 */
#ifndef WR_EXCHANGE_H
#define WR_EXCHANGE_H

#include "batch.h"
#include "error.h"
#include "net.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct wr_exchange wr_exchange;

/* addresses: parallelism entries, the data address of each subtask's worker; local[i]
 * true for the subtasks that run here. capacity = limits.channel_batches. */
wr_exchange *wr_exchange_new(wr_net *net, const char *job_id, uint32_t attempt, int parallelism,
                             const char *const *addresses, const bool *local, int capacity,
                             const char *self_address, int64_t send_timeout_ms);
void wr_exchange_free(wr_exchange *x);

const char *wr_exchange_job_id(const wr_exchange *x);
uint32_t wr_exchange_attempt(const wr_exchange *x);
bool wr_exchange_is_local(const wr_exchange *x, int subtask);
/* True if a subtask of this deployment runs at `address` (another worker). */
bool wr_exchange_uses(const wr_exchange *x, const char *address);

/* Sends b from local source subtask `from` to remote subtask `to`, waiting up to
 * timeout_ms (-1: as long as it takes) for a credit. On WR_OK the batch is freed. On
 * WR_ETIMEDOUT (no credit in time) or WR_ECANCELED the batch stays the caller's; on a
 * send error (WR_EIO, eb says why) too. */
wr_err wr_exchange_send(wr_exchange *x, int from, int to, wr_batch *b, int64_t timeout_ms,
                        wr_errbuf *eb);

/* Grants every remote sender its initial credits for the local subtasks: call once the
 * local inboxes exist. */
wr_err wr_exchange_open(wr_exchange *x, wr_errbuf *eb);

/* A CREDIT frame for channel from → to (from local). */
void wr_exchange_credit(wr_exchange *x, int from, int to, uint32_t credits);

/* Local subtask `to` took a batch that came from remote subtask `from`. */
wr_err wr_exchange_taken(wr_exchange *x, int from, int to, wr_errbuf *eb);

/* Wakes and fails every waiting sender (the deployment is canceled). */
void wr_exchange_cancel(wr_exchange *x);

/* Total time senders waited for credit, in ms. */
uint64_t wr_exchange_backpressured_ms(wr_exchange *x);

#endif
