/*
 * dev-kafka.c — `weir dev-kafka`: an embedded Kafka-protocol broker for development
 * and tests, built on librdkafka's mock cluster.
 *
 * The mock brokers listen on 127.0.0.1 at ports the mock picks. With --port P (default
 * 9092) a small libuv TCP relay listens on 127.0.0.1:P and forwards to the first mock
 * broker, so clients can bootstrap from a fixed address; the metadata they receive then
 * points them at the brokers' own ports on 127.0.0.1. --port 0 skips the relay and
 * prints the mock's own bootstrap list.
 *
 * Limits (librdkafka's mock, documented in docs/dev-kafka.md): in memory only; about
 * 5 MB kept per partition (older messages are dropped); transactions are accepted but
 * read_committed isolation is not enforced and producers are not fenced.
 *
 * Thread: runs a libuv loop on the calling thread until SIGINT or SIGTERM.
 */
#include "cli.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define RELAY_PAUSE_BYTES (1 << 20) /* stop reading a side while 1 MiB waits to be written */

typedef struct relay_conn relay_conn;

typedef struct side {
    uv_tcp_t tcp;
    relay_conn *conn;
    struct side *peer;
    bool reading;
} side;

struct relay_conn {
    side client;
    side upstream;
    uv_connect_t connect;
    int open_handles;
};

typedef struct devkafka {
    uv_loop_t loop;
    uv_tcp_t listener;
    bool relay;
    struct sockaddr_in upstream;
    uv_signal_t sigint, sigterm;
} devkafka;

static void conn_handle_closed(uv_handle_t *h)
{
    side *s = h->data;
    if (--s->conn->open_handles == 0)
        free(s->conn);
}

static void conn_close(relay_conn *c)
{
    if (!uv_is_closing((uv_handle_t *)&c->client.tcp))
        uv_close((uv_handle_t *)&c->client.tcp, conn_handle_closed);
    if (!uv_is_closing((uv_handle_t *)&c->upstream.tcp))
        uv_close((uv_handle_t *)&c->upstream.tcp, conn_handle_closed);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    buf->base = malloc(suggested);
    buf->len = buf->base ? suggested : 0;
}

typedef struct write_req {
    uv_write_t req;
    uv_buf_t buf;
    side *to;
} write_req;

static void read_cb(uv_stream_t *stream, ssize_t n, const uv_buf_t *buf);

static void write_cb(uv_write_t *req, int status)
{
    write_req *w = (write_req *)req;
    side *to = w->to;
    free(w->buf.base);
    free(w);
    if (status < 0) {
        conn_close(to->conn);
        return;
    }
    /* resume the side that feeds `to` once its queue drained */
    if (!to->peer->reading && !uv_is_closing((uv_handle_t *)&to->peer->tcp) &&
        uv_stream_get_write_queue_size((uv_stream_t *)&to->tcp) < RELAY_PAUSE_BYTES) {
        to->peer->reading = true;
        uv_read_start((uv_stream_t *)&to->peer->tcp, alloc_cb, read_cb);
    }
}

static void read_cb(uv_stream_t *stream, ssize_t n, const uv_buf_t *buf)
{
    side *from = stream->data;
    side *to = from->peer;
    write_req *w;

    if (n <= 0) {
        free(buf->base);
        if (n < 0)
            conn_close(from->conn);
        return;
    }
    w = malloc(sizeof *w);
    if (!w) {
        free(buf->base);
        conn_close(from->conn);
        return;
    }
    w->buf = uv_buf_init(buf->base, (unsigned)n);
    w->to = to;
    if (uv_write(&w->req, (uv_stream_t *)&to->tcp, &w->buf, 1, write_cb) < 0) {
        free(buf->base);
        free(w);
        conn_close(from->conn);
        return;
    }
    if (uv_stream_get_write_queue_size((uv_stream_t *)&to->tcp) >= RELAY_PAUSE_BYTES) {
        uv_read_stop(stream);
        from->reading = false;
    }
}

static void upstream_connected(uv_connect_t *req, int status)
{
    relay_conn *c = req->data;
    if (status < 0) {
        fprintf(stderr, "weir dev-kafka: relay cannot reach the mock broker: %s\n",
                uv_strerror(status));
        conn_close(c);
        return;
    }
    c->client.reading = c->upstream.reading = true;
    uv_read_start((uv_stream_t *)&c->client.tcp, alloc_cb, read_cb);
    uv_read_start((uv_stream_t *)&c->upstream.tcp, alloc_cb, read_cb);
}

static void on_accept(uv_stream_t *server, int status)
{
    devkafka *d = server->data;
    relay_conn *c;

    if (status < 0)
        return;
    c = calloc(1, sizeof *c);
    if (!c)
        return;
    c->client.conn = c->upstream.conn = c;
    c->client.peer = &c->upstream;
    c->upstream.peer = &c->client;
    uv_tcp_init(&d->loop, &c->client.tcp);
    uv_tcp_init(&d->loop, &c->upstream.tcp);
    c->client.tcp.data = &c->client;
    c->upstream.tcp.data = &c->upstream;
    c->open_handles = 2;
    if (uv_accept(server, (uv_stream_t *)&c->client.tcp) < 0) {
        conn_close(c);
        return;
    }
    uv_tcp_nodelay(&c->client.tcp, 1);
    uv_tcp_nodelay(&c->upstream.tcp, 1);
    c->connect.data = c;
    if (uv_tcp_connect(&c->connect, &c->upstream.tcp, (const struct sockaddr *)&d->upstream,
                       upstream_connected) < 0)
        conn_close(c);
}

static void on_signal(uv_signal_t *sig, int signum)
{
    devkafka *d = sig->data;
    fprintf(stderr, "weir dev-kafka: %s, stopping\n", signum == SIGINT ? "SIGINT" : "SIGTERM");
    uv_stop(&d->loop);
}

static void close_walk(uv_handle_t *h, void *arg)
{
    devkafka *d = arg;
    if (uv_is_closing(h))
        return;
    if (h->type == UV_TCP && h != (uv_handle_t *)&d->listener) {
        side *s = h->data;
        conn_close(s->conn);
    } else {
        uv_close(h, NULL);
    }
}

static int usage(void)
{
    fprintf(stderr, "usage: weir dev-kafka [--port P] [--brokers N] [--topic NAME:PARTITIONS ...]\n"
                    "  --port P     bootstrap port on 127.0.0.1 (default 9092; 0: the mock's own)\n"
                    "  --brokers N  number of mock brokers (default 1)\n"
                    "  --topic T:N  create topic T with N partitions (repeatable)\n");
    return 2;
}

int wr_cli_dev_kafka(int argc, char **argv)
{
    int port = 9092, nbrokers = 1, ntopics = 0;
    char **topics = calloc((size_t)argc + 1, sizeof *topics);
    rd_kafka_conf_t *conf;
    rd_kafka_t *rk;
    rd_kafka_mock_cluster_t *mc;
    devkafka d;
    char err[512];
    const char *boot;
    int rc = 1;

    if (!topics)
        return 1;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--port") && i + 1 < argc) {
            if (!wr_cli_parse_int(argv[++i], 0, 65535, &port)) {
                fprintf(stderr, "weir dev-kafka: --port: '%s' is not a port number\n", argv[i]);
                free(topics);
                return 2;
            }
        } else if (!strcmp(argv[i], "--brokers") && i + 1 < argc) {
            if (!wr_cli_parse_int(argv[++i], 1, 16, &nbrokers)) {
                fprintf(stderr, "weir dev-kafka: --brokers: '%s' is not 1..16\n", argv[i]);
                free(topics);
                return 2;
            }
        } else if (!strcmp(argv[i], "--topic") && i + 1 < argc) {
            topics[ntopics++] = argv[++i];
        } else {
            free(topics);
            return usage();
        }
    }

    conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "3", err, sizeof err);
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk) {
        fprintf(stderr, "weir dev-kafka: %s\n", err);
        rd_kafka_conf_destroy(conf);
        free(topics);
        return 1;
    }
    mc = rd_kafka_mock_cluster_new(rk, nbrokers);
    if (!mc) {
        fprintf(stderr, "weir dev-kafka: cannot create the mock cluster\n");
        goto out_rk;
    }
    /* Advertise Metadata v4 so clients' allow.auto.create.topics=false is honoured:
     * weir's own consumers then see a missing topic as missing, like on a real broker. */
    rd_kafka_mock_set_apiversion(mc, 3 /* Metadata */, 0, 4);
    for (int i = 0; i < ntopics; i++) {
        char *colon = strrchr(topics[i], ':');
        int parts = 1;
        if (colon) {
            *colon = '\0';
            if (!wr_cli_parse_int(colon + 1, 1, 10000, &parts) || !topics[i][0]) {
                fprintf(stderr, "weir dev-kafka: --topic '%s:%s': expected NAME:PARTITIONS\n",
                        topics[i], colon + 1);
                rc = 2;
                goto out_mc;
            }
        }
        if (rd_kafka_mock_topic_create(mc, topics[i], parts, 1)) {
            fprintf(stderr, "weir dev-kafka: cannot create topic '%s'\n", topics[i]);
            goto out_mc;
        }
    }
    boot = rd_kafka_mock_cluster_bootstraps(mc);

    memset(&d, 0, sizeof d);
    uv_loop_init(&d.loop);
    if (port != 0) {
        struct sockaddr_in addr;
        char host[256];
        char *comma, *colon;
        int up_port = 0, r;

        /* the relay forwards to the first broker of "127.0.0.1:A,127.0.0.1:B" */
        snprintf(host, sizeof host, "%s", boot);
        if ((comma = strchr(host, ',')) != NULL)
            *comma = '\0';
        if ((colon = strrchr(host, ':')) != NULL) {
            up_port = atoi(colon + 1);
            *colon = '\0';
        }
        uv_ip4_addr(host, up_port, &d.upstream);
        uv_tcp_init(&d.loop, &d.listener);
        d.listener.data = &d;
        uv_ip4_addr("127.0.0.1", port, &addr);
        r = uv_tcp_bind(&d.listener, (const struct sockaddr *)&addr, 0);
        if (r == 0)
            r = uv_listen((uv_stream_t *)&d.listener, 128, on_accept);
        if (r < 0) {
            fprintf(stderr,
                    "weir dev-kafka: cannot listen on 127.0.0.1:%d: %s (use --port to "
                    "pick another port, or --port 0)\n",
                    port, uv_strerror(r));
            uv_close((uv_handle_t *)&d.listener, NULL);
            uv_run(&d.loop, UV_RUN_DEFAULT);
            uv_loop_close(&d.loop);
            goto out_mc;
        }
        d.relay = true;
    }
    uv_signal_init(&d.loop, &d.sigint);
    uv_signal_init(&d.loop, &d.sigterm);
    d.sigint.data = d.sigterm.data = &d;
    uv_signal_start(&d.sigint, on_signal, SIGINT);
    uv_signal_start(&d.sigterm, on_signal, SIGTERM);

    printf("weir dev-kafka: librdkafka mock cluster, %d broker(s), in memory, about 5 MB kept "
           "per partition, no transactional isolation\n",
           nbrokers);
    if (d.relay)
        printf("bootstrap: 127.0.0.1:%d\n", port);
    else
        printf("bootstrap: %s\n", boot);
    for (int i = 0; i < ntopics; i++)
        printf("topic: %s\n", topics[i]);
    printf("ready\n");
    fflush(stdout);

    uv_run(&d.loop, UV_RUN_DEFAULT);
    uv_walk(&d.loop, close_walk, &d);
    uv_run(&d.loop, UV_RUN_DEFAULT);
    uv_loop_close(&d.loop);
    rc = 0;
out_mc:
    rd_kafka_mock_cluster_destroy(mc);
out_rk:
    rd_kafka_destroy(rk);
    free(topics);
    return rc;
}
