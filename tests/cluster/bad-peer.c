/*
 * bad-peer.c — a misbehaving peer for the coordinator's (or a worker's) nng endpoint.
 *
 *   bad-peer URL MODE [MAX_MESSAGE]
 *
 * Dials URL with a PUSH socket, sends one bad message and waits up to 5 s for the other
 * side to drop the connection. MODE:
 *   garbage     256 random bytes
 *   oversized   MAX_MESSAGE + 1 bytes (default 16MiB, the daemons' default --max-message)
 *   truncated   a valid Control{Register} frame cut short by 3 bytes
 *   wrong-type  a valid DATA frame (a coordinator accepts only CONTROL frames)
 *   register    a valid Control{Register} frame (only a coordinator accepts it: the wrong
 *               type for a worker, which takes DATA frames on the same address)
 * Prints what happened; exits 0 if the connection was dropped, 1 if not, 2 on usage or
 * setup errors.
 */
#include "batch.h"
#include "buf.h"
#include "spec.h"
#include "wire.h"

#include <nng/nng.h>
#include <nng/protocol/pipeline0/push.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static bool connected, dropped;

static void on_pipe(nng_pipe p, nng_pipe_ev ev, void *arg)
{
    pthread_mutex_lock(&mu);
    if (ev == NNG_PIPE_EV_ADD_POST)
        connected = true;
    else if (ev == NNG_PIPE_EV_REM_POST)
        dropped = true;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

/* Waits until *flag or timeout_ms; returns *flag. */
static bool wait_for(bool *flag, int timeout_ms)
{
    struct timespec ts;
    bool v;

    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&mu);
    while (!*flag && pthread_cond_timedwait(&cv, &mu, &ts) == 0)
        ;
    v = *flag;
    pthread_mutex_unlock(&mu);
    return v;
}

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Builds the bad message of `mode` into b. */
static bool build(const char *mode, size_t max_message, wr_buf *b)
{
    if (!strcmp(mode, "garbage")) {
        srand((unsigned)time(NULL));
        for (int i = 0; i < 256; i++)
            if (wr_buf_putc(b, (char)(rand() & 0xff)) != WR_OK)
                return false;
        b->p[0] = 'X'; /* never the "WR" magic, whatever rand() says */
        return true;
    }
    if (!strcmp(mode, "oversized")) {
        if (wr_buf_reserve(b, max_message + 1) != WR_OK)
            return false;
        memset(b->p, 'x', max_message + 1);
        b->len = max_message + 1;
        return true;
    }
    if (!strcmp(mode, "truncated") || !strcmp(mode, "register")) {
        Weir__Control m = WEIR__CONTROL__INIT;
        Weir__Register r = WEIR__REGISTER__INIT;

        r.worker_id = "bad-peer";
        r.data_address = "tcp://127.0.0.1:1";
        r.slots = 1;
        r.host = "bad-peer";
        r.version = "0";
        m.body_case = WEIR__CONTROL__BODY_REGISTER;
        m.register_ = &r;
        if (wr_wire_encode_control(&m, b) != WR_OK || b->len < 4)
            return false;
        if (!strcmp(mode, "truncated"))
            b->len -= 3;
        return true;
    }
    if (!strcmp(mode, "wrong-type")) {
        Weir__DataHeader h = WEIR__DATA_HEADER__INIT;
        wr_batch *batch = wr_batch_new_control(WR_BATCH_WATERMARK, 1000);
        bool ok;

        if (!batch)
            return false;
        h.job_id = "bad-peer-job";
        h.attempt = 1;
        h.reply_address = "tcp://127.0.0.1:1";
        ok = wr_wire_encode_data(&h, batch, b) == WR_OK;
        wr_batch_free(batch);
        return ok;
    }
    return false;
}

int main(int argc, char **argv)
{
    size_t max_message = WR_WIRE_MAX_MESSAGE_DEFAULT;
    const char *url, *mode;
    nng_socket s;
    nng_msg *msg;
    int64_t t0;
    wr_buf b;
    int rv;

    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: bad-peer URL garbage|oversized|truncated|wrong-type|register "
                        "[MAX_MESSAGE]\n");
        return 2;
    }
    url = argv[1];
    mode = argv[2];
    if (argc == 4) {
        int64_t v;
        if (!wr_parse_size(argv[3], &v) || v <= 0) {
            fprintf(stderr, "bad-peer: '%s' is not a size\n", argv[3]);
            return 2;
        }
        max_message = (size_t)v;
    }
    wr_buf_init(&b, 0);
    if (!build(mode, max_message, &b)) {
        fprintf(stderr, "bad-peer: unknown mode '%s' (or out of memory)\n", mode);
        wr_buf_fini(&b);
        return 2;
    }

    if ((rv = nng_push0_open(&s)) != 0 ||
        (rv = nng_pipe_notify(s, NNG_PIPE_EV_ADD_POST, on_pipe, NULL)) != 0 ||
        (rv = nng_pipe_notify(s, NNG_PIPE_EV_REM_POST, on_pipe, NULL)) != 0 ||
        (rv = nng_dial(s, url, NULL, 0)) != 0) {
        fprintf(stderr, "bad-peer: cannot dial %s: %s\n", url, nng_strerror(rv));
        wr_buf_fini(&b);
        return 2;
    }
    if (!wait_for(&connected, 5000)) {
        fprintf(stderr, "bad-peer: no connection to %s within 5 s\n", url);
        nng_close(s);
        wr_buf_fini(&b);
        return 2;
    }
    if ((rv = nng_msg_alloc(&msg, b.len)) != 0) {
        fprintf(stderr, "bad-peer: %s\n", nng_strerror(rv));
        nng_close(s);
        wr_buf_fini(&b);
        return 2;
    }
    memcpy(nng_msg_body(msg), b.p, b.len);
    t0 = now_ms();
    if ((rv = nng_sendmsg(s, msg, 0)) != 0) {
        nng_msg_free(msg);
        printf("bad-peer %s: send failed: %s\n", mode, nng_strerror(rv));
    } else {
        printf("bad-peer %s: sent %zu bytes to %s\n", mode, b.len, url);
    }
    wr_buf_fini(&b);

    if (wait_for(&dropped, 5000)) {
        printf("bad-peer %s: the peer dropped the connection after %lld ms\n", mode,
               (long long)(now_ms() - t0));
        nng_close(s);
        return 0;
    }
    printf("bad-peer %s: the connection is still open after 5 s\n", mode);
    nng_close(s);
    return 1;
}
