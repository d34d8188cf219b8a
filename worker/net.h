/*
 * net.h — a worker's nng endpoint: one PULL socket every peer and the coordinator send
 * frames to, and one PUSH socket per destination address for what this worker sends.
 *
 * Received messages are decoded with wr_wire_decode (the one size-checked decoder) on a
 * receive thread and handed to the callback. A message that does not decode, or that the
 * callback refuses, closes the connection it came on and is counted; the worker keeps
 * serving everyone else. Every socket has NNG_OPT_RECVMAXSZ = max_message.
 *
 * Order: frames from one sending thread to one address arrive in order (one PUSH socket
 * and one connection per address). A lost connection may lose what was in flight: the
 * lost-connection callback lets the worker fail the deployments that sent there, and the
 * coordinator restarts the job (at-least-once until checkpoints).
 *
 * Threads: wr_net_send from any thread; the callback runs on the receive thread.
 */
#ifndef WR_NET_H
#define WR_NET_H

#include "error.h"
#include "wire.h"

#include <stddef.h>
#include <stdint.h>

typedef struct wr_net wr_net;

/* Called for each decoded frame. It may take f->control (set it to NULL). Returns false if
 * the frame breaks the protocol: the connection is then closed. */
typedef bool (*wr_net_frame_fn)(void *arg, wr_frame *f, const char *peer);

/* Listens at url ("tcp://0.0.0.0:7200"). Errors name the address. */
wr_err wr_net_start(const char *url, size_t max_message, wr_net_frame_fn fn, void *arg,
                    wr_net **out, wr_errbuf *eb);

/* Sends one encoded frame to address (a PUSH socket per address, dialed on first use,
 * reconnecting in the background). Blocks up to send_timeout_ms while the connection is
 * down or its buffers are full; WR_ETIMEDOUT / WR_EIO with the reason. */
wr_err wr_net_send(wr_net *n, const char *address, const void *frame, size_t len,
                   int64_t send_timeout_ms, wr_errbuf *eb);

/* Called (on an nng thread) when an established connection to `address` closes: a peer
 * died, the network failed, or the peer refused a frame. Frames in flight on it may be
 * lost, so whoever sent data there must not go on as if nothing happened. */
typedef void (*wr_net_lost_fn)(void *arg, const char *address);
void wr_net_on_lost(wr_net *n, wr_net_lost_fn fn, void *arg);

/* Messages refused so far (failed to decode or refused by the callback). */
uint64_t wr_net_rejected(const wr_net *n);

/* Closes every socket, joins the receive thread. NULL is a no-op. */
void wr_net_free(wr_net *n);

#endif
