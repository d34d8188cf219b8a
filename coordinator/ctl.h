/*
 * ctl.h — the coordinator's control endpoint on nng: one PULL socket every worker pushes
 * its Register / Heartbeat / TaskReport frames to, and one PUSH socket per worker that
 * carries RegisterAck / Deploy / Cancel / Reregister back to the worker's data address.
 *
 * Receiving runs on nng's threads: each message is decoded with wr_wire_decode (bounded
 * by max_message, which is also the socket's NNG_OPT_RECVMAXSZ). A frame that fails to
 * decode, is not a CONTROL frame, or carries a body a coordinator does not accept
 * (RegisterAck, Deploy, Cancel, Reregister) is logged with the peer's address and the
 * reason, counted (wr_ctl_rejected) and its connection is closed; nothing of it is used.
 * Accepted messages go to a bounded queue, and notify(arg) is called (from an nng
 * thread) so that the owner's loop can drain it with wr_ctl_pop.
 *
 * Sending is asynchronous: wr_ctl_send encodes the message, queues it on the worker's
 * PUSH socket (dialed in the background, re-dialed when the address changes) and
 * returns at once; a send that fails or times out (2 s) is logged, never fatal — a dead
 * worker is found by its missing heartbeats.
 *
 * Threads: wr_ctl_open/close_listener/free and wr_ctl_send/pop are called from one
 * thread at a time (the coordinator's loop thread, or the thread that owns the loop
 * before it starts and after it stops); wr_ctl_rejected from any thread.
 */
#ifndef WR_CTL_H
#define WR_CTL_H

#include "error.h"
#include "wire.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct wr_ctl wr_ctl;

/* One accepted control message. */
typedef struct wr_ctl_msg {
    wr_frame frame; /* type CONTROL, body Register, Heartbeat or TaskReport; wr_frame_fini */
    uint32_t pipe;  /* the connection it came on (nng pipe id): TaskReport carries no
                     * worker id, so the owner attributes it by connection */
    char peer[160]; /* the remote address, for logs */
} wr_ctl_msg;

/* Opens the PULL socket listening at `listen`. notify(arg) is called from an nng thread
 * whenever a message was queued. Fails with WR_EIO and "cannot listen on URL: REASON". */
wr_err wr_ctl_open(const char *listen, size_t max_message, void (*notify)(void *arg), void *arg,
                   wr_ctl **out, wr_errbuf *eb);

/* The listen URL with the port the listener got (a ":0" URL shows the real port). */
const char *wr_ctl_listen_url(const wr_ctl *c);

/* Takes the oldest queued message (false if none). The caller owns out->frame. */
bool wr_ctl_pop(wr_ctl *c, wr_ctl_msg *out);

/* Frames rejected so far (their connections were closed). Any thread. */
uint64_t wr_ctl_rejected(const wr_ctl *c);

/* Queues m for worker `peer` (a stable index chosen by the caller, e.g. the cluster's
 * worker index) at `address`, dialing it first if needed (or again if the address
 * changed). worker_id is for logs. Returns WR_OK once queued; errors (address cannot
 * be dialed, encoding) are also logged by the caller. Delivery failures later are
 * logged here. */
wr_err wr_ctl_send(wr_ctl *c, int peer, const char *worker_id, const char *address,
                   const Weir__Control *m, wr_errbuf *eb);

/* Stops receiving: closes the PULL socket and waits for its callbacks; notify is never
 * called after it returns. Queued messages stay poppable. */
void wr_ctl_close_listener(wr_ctl *c);

/* Closes everything (the listener too, if still open) and frees queued messages. NULL
 * is a no-op. */
void wr_ctl_free(wr_ctl *c);

#endif
