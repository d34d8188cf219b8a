/*
 * test-wire.c — frames and batches on the wire: every message round trips, and every
 * way a peer can send something wrong is refused with WR_EMALFORMED and a reason.
 *
 * With WEIR_WRITE_WIRE_SEEDS=DIR set, the seed frames of the fuzz corpus
 * (tests/fuzz/corpus/wire) are (re)written into DIR; the seeds test checks that the
 * committed ones still decode.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "wire.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LEN WR_WIRE_MAX_MESSAGE_DEFAULT
#define SEED_DIR "../fuzz/corpus/wire"

/* ---------------------------------------------------------------- fixtures */

/* Messages built on the stack, pointing at each other; fill() wires them up. */
typedef struct fixture {
    Weir__Register reg;
    Weir__Stats stats;
    Weir__TaskReport reports[2];
    Weir__TaskReport *report_ptrs[2];
    Weir__Heartbeat hb;
    Weir__RegisterAck ack;
    Weir__SubtaskPlacement places[3];
    Weir__SubtaskPlacement *place_ptrs[3];
    Weir__PartitionAssignment parts[4];
    Weir__PartitionAssignment *part_ptrs[4];
    Weir__Deploy deploy;
    Weir__Cancel cancel;
    Weir__Reregister rereg;
    Weir__DataHeader dh;
    Weir__Credit credit;
} fixture;

static void fill(fixture *f)
{
    static const Weir__Register reg = WEIR__REGISTER__INIT;
    static const Weir__Stats stats = WEIR__STATS__INIT;
    static const Weir__TaskReport tr = WEIR__TASK_REPORT__INIT;
    static const Weir__Heartbeat hb = WEIR__HEARTBEAT__INIT;
    static const Weir__RegisterAck ack = WEIR__REGISTER_ACK__INIT;
    static const Weir__SubtaskPlacement sp = WEIR__SUBTASK_PLACEMENT__INIT;
    static const Weir__PartitionAssignment pa = WEIR__PARTITION_ASSIGNMENT__INIT;
    static const Weir__Deploy dep = WEIR__DEPLOY__INIT;
    static const Weir__Cancel can = WEIR__CANCEL__INIT;
    static const Weir__Reregister rr = WEIR__REREGISTER__INIT;
    static const Weir__DataHeader dh = WEIR__DATA_HEADER__INIT;
    static const Weir__Credit cr = WEIR__CREDIT__INIT;

    f->reg = reg;
    f->reg.worker_id = "worker-1:7200";
    f->reg.data_address = "tcp://10.0.0.2:7200";
    f->reg.slots = 8;
    f->reg.host = "host one";
    f->reg.version = "0.3.0";

    f->stats = stats;
    f->stats.records_in = 1000;
    f->stats.records_out = 990;
    f->stats.dead_letters = 10;
    f->stats.watermark = INT64_MIN;
    f->stats.windowed = 1;
    f->stats.backpressured_ms = UINT64_MAX;

    for (int i = 0; i < 2; i++) {
        f->reports[i] = tr;
        f->reports[i].job_id = i ? "job-b" : "job-a";
        f->reports[i].attempt = (uint32_t)i + 1;
        f->reports[i].state = i ? WEIR__TASK_STATE__TASK_FAILED : WEIR__TASK_STATE__TASK_RUNNING;
        f->reports[i].message = i ? "source 'clicks': \"broker\" down\n" : "";
        f->reports[i].stats = i ? NULL : &f->stats;
        f->report_ptrs[i] = &f->reports[i];
    }
    f->hb = hb;
    f->hb.worker_id = "worker-1:7200";
    f->hb.seq = 42;
    f->hb.n_tasks = 2;
    f->hb.tasks = f->report_ptrs;

    f->ack = ack;
    f->ack.worker_id = "worker-1:7200";
    f->ack.heartbeat_interval_ms = 500;

    for (int i = 0; i < 3; i++) {
        f->places[i] = sp;
        f->places[i].subtask = (uint32_t)(2 - i); /* any order */
        f->places[i].worker_id = i == 1 ? "worker-2" : "worker-1";
        f->places[i].data_address = i == 1 ? "tcp://10.0.0.3:7200" : "tcp://10.0.0.2:7200";
        f->place_ptrs[i] = &f->places[i];
    }
    for (int i = 0; i < 4; i++) {
        f->parts[i] = pa;
        f->parts[i].partition = 3 - i;
        f->parts[i].subtask = (uint32_t)(i % 3);
        f->parts[i].start_offset = i * 100;
        f->parts[i].stop_offset = i == 2 ? 5000 : -1;
        f->part_ptrs[i] = &f->parts[i];
    }
    f->deploy = dep;
    f->deploy.job_id = "clicks-per-user";
    f->deploy.attempt = 3;
    f->deploy.spec_yaml = "name: clicks-per-user\nsource: {kind: kafka}\n";
    f->deploy.spec_name = "jobs/clicks.yaml";
    f->deploy.parallelism = 3;
    f->deploy.n_placement = 3;
    f->deploy.placement = f->place_ptrs;
    f->deploy.n_partitions = 4;
    f->deploy.partitions = f->part_ptrs;

    f->cancel = can;
    f->cancel.job_id = "clicks-per-user";
    f->cancel.attempt = 3;

    f->rereg = rr;
    f->rereg.reason = "unknown worker after coordinator restart";

    f->dh = dh;
    f->dh.job_id = "clicks-per-user";
    f->dh.attempt = 3;
    f->dh.from_subtask = 1;
    f->dh.to_subtask = 2;
    f->dh.reply_address = "tcp://10.0.0.2:7200";

    f->credit = cr;
    f->credit.job_id = "clicks-per-user";
    f->credit.attempt = 3;
    f->credit.from_subtask = 2;
    f->credit.to_subtask = 0;
    f->credit.credits = 16;
}

static Weir__Control control_of(fixture *f, Weir__Control__BodyCase which)
{
    Weir__Control c = WEIR__CONTROL__INIT;
    c.body_case = which;
    switch (which) {
    case WEIR__CONTROL__BODY_REGISTER:
        c.register_ = &f->reg;
        break;
    case WEIR__CONTROL__BODY_HEARTBEAT:
        c.heartbeat = &f->hb;
        break;
    case WEIR__CONTROL__BODY_TASK_REPORT:
        c.task_report = &f->reports[1];
        break;
    case WEIR__CONTROL__BODY_REGISTER_ACK:
        c.register_ack = &f->ack;
        break;
    case WEIR__CONTROL__BODY_DEPLOY:
        c.deploy = &f->deploy;
        break;
    case WEIR__CONTROL__BODY_CANCEL:
        c.cancel = &f->cancel;
        break;
    case WEIR__CONTROL__BODY_REREGISTER:
        c.reregister = &f->rereg;
        break;
    default:
        break;
    }
    return c;
}

/* A batch of three rows with every value type, nulls, empty strings and edge values. */
static wr_batch *sample_batch(void)
{
    uint64_t nan_bits = 0x7ff8dead0000beefULL;
    double odd_nan;
    wr_batch *b = wr_batch_new(6, 3, 64);
    wr_value rows[3][6];

    memcpy(&odd_nan, &nan_bits, sizeof odd_nan);
    rows[0][0] = wr_value_str("alice", 5);
    rows[0][1] = wr_value_long(INT64_MIN);
    rows[0][2] = wr_value_double(-0.0);
    rows[0][3] = wr_value_bool(true);
    rows[0][4] = wr_value_ts(1700000000000);
    rows[0][5] = wr_value_null();
    rows[1][0] = wr_value_str("", 0);
    rows[1][1] = wr_value_long(INT64_MAX);
    rows[1][2] = wr_value_double(odd_nan);
    rows[1][3] = wr_value_bool(false);
    rows[1][4] = wr_value_ts(-1);
    rows[1][5] = wr_value_str("z\0\xff\"", 4);
    rows[2][0] = wr_value_null();
    rows[2][1] = wr_value_null();
    rows[2][2] = wr_value_double(INFINITY);
    rows[2][3] = wr_value_null();
    rows[2][4] = wr_value_null();
    rows[2][5] = wr_value_long(0);
    assert_non_null(b);
    b->value = 77;
    assert_int_equal(wr_batch_append(b, rows[0], 1000), WR_OK);
    assert_int_equal(wr_batch_append(b, rows[1], INT64_MIN), WR_OK);
    assert_int_equal(wr_batch_append(b, rows[2], INT64_MAX), WR_OK);
    return b;
}

static void assert_same_batch(const wr_batch *a, const wr_batch *b)
{
    assert_int_equal(a->kind, b->kind);
    assert_true(a->value == b->value);
    if (a->kind != WR_BATCH_DATA)
        return;
    assert_int_equal(a->ncols, b->ncols);
    assert_int_equal(a->nrows, b->nrows);
    for (int r = 0; r < a->nrows; r++) {
        assert_true(a->event_time[r] == b->event_time[r]);
        for (int c = 0; c < a->ncols; c++) {
            const wr_value *x = a->values + (size_t)r * (size_t)a->ncols + c;
            const wr_value *y = b->values + (size_t)r * (size_t)b->ncols + c;
            assert_int_equal(x->type, y->type);
            switch (x->type) {
            case WR_T_STRING:
                assert_int_equal(x->len, y->len);
                if (x->len)
                    assert_memory_equal(x->u.s, y->u.s, x->len);
                break;
            case WR_T_NULL:
                break;
            default: /* doubles bit for bit */
                assert_memory_equal(&x->u, &y->u, sizeof x->u);
            }
        }
    }
}

/* Packs a protobuf message into a fresh wr_buf for comparing two messages. */
static void packed(const ProtobufCMessage *m, wr_buf *out)
{
    wr_buf_init(out, 0);
    assert_int_equal(wr_buf_reserve(out, protobuf_c_message_get_packed_size(m) + 1), WR_OK);
    out->len = protobuf_c_message_pack(m, (uint8_t *)out->p);
}

static void assert_same_message(const ProtobufCMessage *a, const ProtobufCMessage *b)
{
    wr_buf x, y;
    packed(a, &x);
    packed(b, &y);
    assert_int_equal(x.len, y.len);
    assert_memory_equal(x.p, y.p, x.len);
    wr_buf_fini(&x);
    wr_buf_fini(&y);
}

/* Decodes bytes that must fail, and checks the message contains `needle`. */
static void assert_frame_rejected(const void *p, size_t len, size_t max_len, const char *needle)
{
    wr_frame f;
    wr_errbuf eb = {{0}};
    memset(&f, 0xab, sizeof f);
    assert_int_equal(wr_wire_decode(p, len, max_len, &f, &eb), WR_EMALFORMED);
    if (!strstr(eb.msg, needle))
        fail_msg("error \"%s\" does not mention \"%s\"", eb.msg, needle);
    assert_true(f.control == (void *)(uintptr_t)0xabababababababab); /* out untouched */
}

static void assert_control_rejected(const Weir__Control *c, const char *needle)
{
    wr_buf b;
    wr_buf_init(&b, 0);
    assert_int_equal(wr_wire_encode_control(c, &b), WR_OK);
    assert_frame_rejected(b.p, b.len, MAX_LEN, needle);
    wr_buf_fini(&b);
}

static void assert_batch_rejected(const void *p, size_t len, int expect_ncols, int max_rows,
                                  size_t max_sb, const char *needle)
{
    wr_batch *out = (wr_batch *)(uintptr_t)1;
    wr_errbuf eb = {{0}};
    assert_int_equal(wr_batch_decode(p, len, expect_ncols, max_rows, max_sb, &out, &eb),
                     WR_EMALFORMED);
    assert_true(out == (wr_batch *)(uintptr_t)1);
    if (!strstr(eb.msg, needle))
        fail_msg("error \"%s\" does not mention \"%s\"", eb.msg, needle);
}

static void put_le(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* ---------------------------------------------------------------- round trips */

static void every_control_body_round_trips(void **state)
{
    static const Weir__Control__BodyCase bodies[] = {
        WEIR__CONTROL__BODY_REGISTER,    WEIR__CONTROL__BODY_HEARTBEAT,
        WEIR__CONTROL__BODY_TASK_REPORT, WEIR__CONTROL__BODY_REGISTER_ACK,
        WEIR__CONTROL__BODY_DEPLOY,      WEIR__CONTROL__BODY_CANCEL,
        WEIR__CONTROL__BODY_REREGISTER,
    };
    fixture fx;
    wr_buf b;

    fill(&fx);
    wr_buf_init(&b, 0);
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        Weir__Control c = control_of(&fx, bodies[i]);
        wr_frame f;
        wr_errbuf eb;

        assert_int_equal(wr_wire_encode_control(&c, &b), WR_OK);
        assert_memory_equal(b.p, "WR\x01\x01", 4);
        if (wr_wire_decode(b.p, b.len, MAX_LEN, &f, &eb) != WR_OK)
            fail_msg("body %d: %s", (int)bodies[i], eb.msg);
        assert_int_equal(f.type, WR_FRAME_CONTROL);
        assert_non_null(f.control);
        assert_null(f.data);
        assert_null(f.credit);
        assert_int_equal(f.body_len, 0);
        assert_int_equal(f.control->body_case, bodies[i]);
        assert_same_message(&c.base, &f.control->base);
        wr_frame_fini(&f);
        assert_null(f.control);
    }
    wr_buf_fini(&b);
}

static void decoded_deploy_and_heartbeat_carry_their_fields(void **state)
{
    fixture fx;
    Weir__Control c;
    wr_frame f;
    wr_errbuf eb;
    wr_buf b;

    fill(&fx);
    wr_buf_init(&b, 0);
    c = control_of(&fx, WEIR__CONTROL__BODY_DEPLOY);
    assert_int_equal(wr_wire_encode_control(&c, &b), WR_OK);
    assert_int_equal(wr_wire_decode(b.p, b.len, MAX_LEN, &f, &eb), WR_OK);
    assert_string_equal(f.control->deploy->job_id, "clicks-per-user");
    assert_int_equal(f.control->deploy->parallelism, 3);
    assert_int_equal(f.control->deploy->n_placement, 3);
    assert_string_equal(f.control->deploy->placement[1]->data_address, "tcp://10.0.0.3:7200");
    assert_int_equal(f.control->deploy->n_partitions, 4);
    assert_int_equal(f.control->deploy->partitions[2]->stop_offset, 5000);
    assert_int_equal(f.control->deploy->partitions[3]->stop_offset, -1);
    assert_string_equal(f.control->deploy->spec_yaml, fx.deploy.spec_yaml);
    wr_frame_fini(&f);

    c = control_of(&fx, WEIR__CONTROL__BODY_HEARTBEAT);
    assert_int_equal(wr_wire_encode_control(&c, &b), WR_OK);
    assert_int_equal(wr_wire_decode(b.p, b.len, MAX_LEN, &f, &eb), WR_OK);
    assert_int_equal(f.control->heartbeat->n_tasks, 2);
    assert_true(f.control->heartbeat->tasks[0]->stats->watermark == INT64_MIN);
    assert_true(f.control->heartbeat->tasks[0]->stats->backpressured_ms == UINT64_MAX);
    assert_null(f.control->heartbeat->tasks[1]->stats);
    assert_string_equal(f.control->heartbeat->tasks[1]->message, fx.reports[1].message);
    wr_frame_fini(&f);
    wr_buf_fini(&b);
}

static void a_data_frame_round_trips_every_value_type(void **state)
{
    fixture fx;
    wr_batch *b = sample_batch(), *back;
    wr_frame f;
    wr_errbuf eb;
    wr_buf buf;

    fill(&fx);
    wr_buf_init(&buf, 0);
    assert_int_equal(wr_wire_encode_data(&fx.dh, b, &buf), WR_OK);
    assert_int_equal(wr_wire_decode(buf.p, buf.len, MAX_LEN, &f, &eb), WR_OK);
    assert_int_equal(f.type, WR_FRAME_DATA);
    assert_non_null(f.data);
    assert_same_message(&fx.dh.base, &f.data->base);
    assert_true(f.body > (const uint8_t *)buf.p &&
                f.body + f.body_len == (uint8_t *)buf.p + buf.len);
    if (wr_batch_decode(f.body, f.body_len, 6, 3, 9, &back, &eb) != WR_OK)
        fail_msg("%s", eb.msg);
    assert_same_batch(b, back);
    assert_int_equal(back->cap_rows, 3); /* sized exactly */
    assert_int_equal(back->arena.cap, 9);
    assert_int_equal(back->arena.used, 9);
    /* strings live in the batch, not in the frame */
    assert_true(wr_batch_row(back, 0)[0].u.s >= back->arena.base &&
                wr_batch_row(back, 0)[0].u.s < back->arena.base + back->arena.cap);
    wr_batch_free(back);
    wr_frame_fini(&f);
    wr_batch_free(b);
    wr_buf_fini(&buf);
}

static void batch_bytes_are_little_endian_as_documented(void **state)
{
    wr_batch *b = wr_batch_new(2, 1, 8);
    wr_value row[2] = {wr_value_long(0x0102030405060708), wr_value_str("hi", 2)};
    static const uint8_t want[] = {
        0,                                   /* kind DATA */
        9,    0,    0, 0, 0, 0,   0,   0,    /* value */
        2,    0,                             /* ncols */
        1,    0,    0, 0,                    /* nrows */
        2,    0,    0, 0,                    /* string bytes */
        0xe8, 0x03, 0, 0, 0, 0,   0,   0,    /* event time 1000 */
        2,    8,    7, 6, 5, 4,   3,   2, 1, /* LONG */
        4,    2,    0, 0, 0, 'h', 'i',       /* STRING */
    };
    wr_buf buf;

    b->value = 9;
    assert_int_equal(wr_batch_append(b, row, 1000), WR_OK);
    wr_buf_init(&buf, 0);
    assert_int_equal(wr_buf_append(&buf, "xy", 2), WR_OK); /* encode appends */
    assert_int_equal(wr_batch_encode(b, &buf), WR_OK);
    assert_int_equal(buf.len, 2 + sizeof want);
    assert_memory_equal(buf.p + 2, want, sizeof want);
    wr_buf_fini(&buf);
    wr_batch_free(b);
}

static void control_batches_and_empty_data_batches_round_trip(void **state)
{
    static const wr_batch_kind kinds[] = {WR_BATCH_WATERMARK, WR_BATCH_IDLE, WR_BATCH_BARRIER,
                                          WR_BATCH_END};
    wr_buf buf;
    wr_batch *b, *back;
    wr_errbuf eb;

    wr_buf_init(&buf, 0);
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        b = wr_batch_new_control(kinds[i], INT64_MIN + (int64_t)i);
        wr_buf_clear(&buf);
        assert_int_equal(wr_batch_encode(b, &buf), WR_OK);
        assert_int_equal(buf.len, 19);
        assert_int_equal(wr_batch_decode(buf.p, buf.len, 5, 0, 0, &back, &eb), WR_OK);
        assert_same_batch(b, back);
        assert_int_equal(back->nrows, 0);
        wr_batch_free(back);
        wr_batch_free(b);
    }
    b = wr_batch_new(3, 4, 0);
    wr_buf_clear(&buf);
    assert_int_equal(wr_batch_encode(b, &buf), WR_OK);
    assert_int_equal(wr_batch_decode(buf.p, buf.len, 3, 0, 0, &back, &eb), WR_OK);
    assert_int_equal(back->kind, WR_BATCH_DATA);
    assert_int_equal(back->nrows, 0);
    assert_int_equal(back->ncols, 3);
    wr_batch_free(back);
    wr_batch_free(b);
    wr_buf_fini(&buf);
}

static void a_credit_frame_round_trips(void **state)
{
    fixture fx;
    wr_frame f;
    wr_errbuf eb;
    wr_buf b;

    fill(&fx);
    wr_buf_init(&b, 0);
    assert_int_equal(wr_wire_encode_credit(&fx.credit, &b), WR_OK);
    assert_int_equal(wr_wire_decode(b.p, b.len, MAX_LEN, &f, &eb), WR_OK);
    assert_int_equal(f.type, WR_FRAME_CREDIT);
    assert_non_null(f.credit);
    assert_null(f.control);
    assert_int_equal(f.credit->credits, 16);
    assert_int_equal(f.credit->from_subtask, 2);
    assert_same_message(&fx.credit.base, &f.credit->base);
    wr_frame_fini(&f);
    wr_frame_fini(&f); /* twice is harmless */
    wr_buf_fini(&b);
}

static void encoding_respects_the_buffer_cap(void **state)
{
    fixture fx;
    wr_batch *b = sample_batch();
    wr_buf buf;

    fill(&fx);
    wr_buf_init(&buf, 40);
    assert_int_equal(wr_wire_encode_data(&fx.dh, b, &buf), WR_ETOOBIG);
    assert_int_equal(buf.len, 0);
    wr_buf_fini(&buf);
    wr_batch_free(b);
}

/* ---------------------------------------------------------------- frame rejections */

/* Every proper prefix of a valid frame is refused: by the frame decoder, or for a DATA
 * frame cut inside its body, by the batch decoder. Run under ASan this also shows no
 * prefix is read past its end (each is copied into an exact-size allocation). */
static void every_truncation_of_a_valid_frame_is_refused(void **state)
{
    fixture fx;
    wr_batch *b = sample_batch();
    wr_buf frames[3];
    Weir__Control c;

    fill(&fx);
    c = control_of(&fx, WEIR__CONTROL__BODY_DEPLOY);
    for (int i = 0; i < 3; i++)
        wr_buf_init(&frames[i], 0);
    assert_int_equal(wr_wire_encode_control(&c, &frames[0]), WR_OK);
    assert_int_equal(wr_wire_encode_data(&fx.dh, b, &frames[1]), WR_OK);
    assert_int_equal(wr_wire_encode_credit(&fx.credit, &frames[2]), WR_OK);
    for (int i = 0; i < 3; i++) {
        for (size_t n = 0; n < frames[i].len; n++) {
            uint8_t *copy = malloc(n ? n : 1);
            wr_frame f;
            wr_errbuf eb;
            wr_batch *back;

            memcpy(copy, frames[i].p, n);
            if (wr_wire_decode(copy, n, MAX_LEN, &f, &eb) == WR_OK) {
                assert_int_equal(f.type, WR_FRAME_DATA);
                assert_int_equal(wr_batch_decode(f.body, f.body_len, 6, 100, 100, &back, &eb),
                                 WR_EMALFORMED);
                wr_frame_fini(&f);
            } else {
                assert_true(eb.msg[0] != '\0');
            }
            free(copy);
        }
        wr_buf_fini(&frames[i]);
    }
    wr_batch_free(b);
}

static void bad_magic_version_and_type_are_refused(void **state)
{
    fixture fx;
    wr_buf b;

    fill(&fx);
    wr_buf_init(&b, 0);
    assert_int_equal(wr_wire_encode_credit(&fx.credit, &b), WR_OK);
    b.p[0] = 'X';
    assert_frame_rejected(b.p, b.len, MAX_LEN, "magic");
    b.p[0] = 'W';
    b.p[2] = 2;
    assert_frame_rejected(b.p, b.len, MAX_LEN, "version 2");
    b.p[2] = 1;
    b.p[3] = 0;
    assert_frame_rejected(b.p, b.len, MAX_LEN, "unknown type 0");
    b.p[3] = 4;
    assert_frame_rejected(b.p, b.len, MAX_LEN, "unknown type 4");
    b.p[3] = 3;
    assert_frame_rejected(b.p, 7, MAX_LEN, "prefix");
    assert_frame_rejected(NULL, 0, MAX_LEN, "prefix");
    wr_buf_fini(&b);
}

static void a_header_length_beyond_the_frame_is_refused(void **state)
{
    uint8_t frame[120] = "WR\x01\x01";

    frame[4] = frame[5] = frame[6] = frame[7] = 0xff;
    assert_frame_rejected(frame, sizeof frame, MAX_LEN,
                          "header length 4294967295 exceeds the 112 bytes");
    frame[4] = frame[5] = 0;
    frame[6] = 0x0f;
    frame[7] = 0xa0;
    assert_frame_rejected(frame, sizeof frame, MAX_LEN, "header length 4000 exceeds");
    frame[6] = 0;
    frame[7] = 113;
    assert_frame_rejected(frame, sizeof frame, MAX_LEN, "header length 113 exceeds");
}

static void a_frame_longer_than_the_limit_is_refused(void **state)
{
    fixture fx;
    wr_frame f;
    wr_errbuf eb;
    wr_buf b;

    fill(&fx);
    wr_buf_init(&b, 0);
    assert_int_equal(wr_wire_encode_credit(&fx.credit, &b), WR_OK);
    assert_frame_rejected(b.p, b.len, b.len - 1, "exceed the limit");
    assert_int_equal(wr_wire_decode(b.p, b.len, b.len, &f, &eb), WR_OK); /* exactly is fine */
    wr_frame_fini(&f);
    wr_buf_fini(&b);
}

static void a_header_that_is_not_protobuf_is_refused(void **state)
{
    uint8_t frame[] = "WR\x01\x01\x00\x00\x00\x03\x0a\x05z"; /* field 1, length 5, 1 byte */
    assert_frame_rejected(frame, 11, MAX_LEN, "does not parse");
    frame[3] = 3;
    assert_frame_rejected(frame, 11, MAX_LEN, "Credit header does not parse");
}

static void unknown_fields_are_kept_but_invalid_field_numbers_are_refused(void **state)
{
    /* Control{cancel(6){job_id(1)="j", field 15 = 1}}: a newer peer's field */
    static const uint8_t newer[] = {'W', 'R', 1, 1, 0, 0, 0, 7, 0x32, 5, 0x0a, 1, 'j', 0x78, 1};
    /* the same with field number 0, written as the two-byte varint 0x80 0x00 */
    static const uint8_t zero[] = {'W', 'R', 1, 1, 0, 0, 0, 8, 0x32, 6, 0x0a, 1, 'j', 0x80, 0, 5};
    wr_frame f;
    wr_errbuf eb;

    assert_int_equal(wr_wire_decode(newer, sizeof newer, MAX_LEN, &f, &eb), WR_OK);
    assert_string_equal(f.control->cancel->job_id, "j");
    wr_frame_fini(&f);
    assert_frame_rejected(zero, sizeof zero, MAX_LEN,
                          "CONTROL header has a field with an invalid number");
}

static void bodies_are_required_exactly_on_data_frames(void **state)
{
    fixture fx;
    Weir__Control c;
    wr_batch *batch = wr_batch_new_control(WR_BATCH_END, 0);
    wr_buf b;

    fill(&fx);
    c = control_of(&fx, WEIR__CONTROL__BODY_CANCEL);
    wr_buf_init(&b, 0);
    assert_int_equal(wr_wire_encode_control(&c, &b), WR_OK);
    assert_int_equal(wr_buf_putc(&b, 0), WR_OK);
    assert_frame_rejected(b.p, b.len, MAX_LEN, "1 bytes after the header of a CONTROL frame");
    assert_int_equal(wr_wire_encode_credit(&fx.credit, &b), WR_OK);
    assert_int_equal(wr_buf_append(&b, "abc", 3), WR_OK);
    assert_frame_rejected(b.p, b.len, MAX_LEN, "CREDIT");
    assert_int_equal(wr_wire_encode_data(&fx.dh, batch, &b), WR_OK);
    assert_frame_rejected(b.p, b.len - 19, MAX_LEN, "without a batch");
    wr_buf_fini(&b);
    wr_batch_free(batch);
}

static void a_control_without_a_body_is_refused(void **state)
{
    Weir__Control c = WEIR__CONTROL__INIT;
    assert_control_rejected(&c, "Control: no body");
}

static void ids_must_be_short_printable_tokens(void **state)
{
    static const char *const bad[] = {"",         "job one",  "job\"one",    "job'one", "jobs/one",
                                      "job\\one", "job\tone", "caf\xc3\xa9", "del\x7f"};
    char longid[WR_WIRE_MAX_ID + 2];
    fixture fx;
    Weir__Control c;
    wr_frame f;
    wr_errbuf eb;
    wr_buf b;

    fill(&fx);
    c = control_of(&fx, WEIR__CONTROL__BODY_CANCEL);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fx.cancel.job_id = (char *)bad[i];
        assert_control_rejected(&c, "Cancel: job_id");
    }
    memset(longid, 'a', sizeof longid - 1);
    longid[sizeof longid - 1] = '\0';
    fx.cancel.job_id = longid;
    assert_control_rejected(&c, "257 bytes long");
    longid[WR_WIRE_MAX_ID] = '\0'; /* exactly the limit is fine */
    wr_buf_init(&b, 0);
    assert_int_equal(wr_wire_encode_control(&c, &b), WR_OK);
    assert_int_equal(wr_wire_decode(b.p, b.len, MAX_LEN, &f, &eb), WR_OK);
    wr_frame_fini(&f);

    fx.cancel.job_id = "ok-job_1.2:x";
    c = control_of(&fx, WEIR__CONTROL__BODY_REGISTER);
    fx.reg.worker_id = "w/1";
    assert_control_rejected(&c, "Register: worker_id has byte 0x2f at offset 1");
    fx.reg.worker_id = "w1";
    longid[WR_WIRE_MAX_ID] = 'a';
    fx.reg.data_address = longid;
    assert_control_rejected(&c, "Register: data_address is 257 bytes long");
    fx.reg.data_address = "";
    assert_control_rejected(&c, "Register: data_address is empty");
    fx.reg.data_address = "tcp://a b";
    assert_control_rejected(&c, "data_address has byte 0x20");

    c = control_of(&fx, WEIR__CONTROL__BODY_HEARTBEAT);
    fx.reports[1].job_id = "";
    assert_control_rejected(&c, "Heartbeat: task 1: job_id is empty");
    fx.reports[1].job_id = "j";
    fx.reports[0].state = (Weir__TaskState)9;
    assert_control_rejected(&c, "unknown task state 9");

    c = control_of(&fx, WEIR__CONTROL__BODY_REGISTER_ACK);
    fx.ack.worker_id = "";
    assert_control_rejected(&c, "RegisterAck: worker_id is empty");

    fx.dh.job_id = "a job";
    assert_int_equal(wr_wire_encode_credit(&fx.credit, &b), WR_OK);
    {
        wr_batch *batch = wr_batch_new_control(WR_BATCH_END, 0);
        assert_int_equal(wr_wire_encode_data(&fx.dh, batch, &b), WR_OK);
        assert_frame_rejected(b.p, b.len, MAX_LEN, "DataHeader: job_id has byte 0x20");
        fx.dh.job_id = "job";
        fx.dh.reply_address = "";
        assert_int_equal(wr_wire_encode_data(&fx.dh, batch, &b), WR_OK);
        assert_frame_rejected(b.p, b.len, MAX_LEN, "DataHeader: reply_address is empty");
        fx.dh.reply_address = "tcp://x:1";
        fx.dh.to_subtask = 32768;
        assert_int_equal(wr_wire_encode_data(&fx.dh, batch, &b), WR_OK);
        assert_frame_rejected(b.p, b.len, MAX_LEN, "to_subtask 32768 is out of range");
        wr_batch_free(batch);
    }
    fx.credit.job_id = "";
    assert_int_equal(wr_wire_encode_credit(&fx.credit, &b), WR_OK);
    assert_frame_rejected(b.p, b.len, MAX_LEN, "Credit: job_id is empty");
    wr_buf_fini(&b);
}

static void register_slots_and_credits_are_range_checked(void **state)
{
    fixture fx;
    Weir__Control c;
    wr_frame f;
    wr_errbuf eb;
    wr_buf b;

    fill(&fx);
    c = control_of(&fx, WEIR__CONTROL__BODY_REGISTER);
    fx.reg.slots = 0;
    assert_control_rejected(&c, "Register: slots 0 is out of range (1..4096)");
    fx.reg.slots = 4097;
    assert_control_rejected(&c, "slots 4097");
    fx.reg.slots = 4096;
    {
        char host[300];
        memset(host, 'h', sizeof host - 1);
        host[sizeof host - 1] = '\0';
        fx.reg.host = host;
        assert_control_rejected(&c, "Register: host is 299 bytes long");
        fx.reg.host = "";
    }
    wr_buf_init(&b, 0);
    assert_int_equal(wr_wire_encode_control(&c, &b), WR_OK);
    assert_int_equal(wr_wire_decode(b.p, b.len, MAX_LEN, &f, &eb), WR_OK);
    wr_frame_fini(&f);

    fx.credit.credits = 0;
    assert_int_equal(wr_wire_encode_credit(&fx.credit, &b), WR_OK);
    assert_frame_rejected(b.p, b.len, MAX_LEN, "Credit: credits 0 is out of range (1..65536)");
    fx.credit.credits = 65537;
    assert_int_equal(wr_wire_encode_credit(&fx.credit, &b), WR_OK);
    assert_frame_rejected(b.p, b.len, MAX_LEN, "credits 65537");
    fx.credit.credits = 65536;
    fx.credit.from_subtask = 40000;
    assert_int_equal(wr_wire_encode_credit(&fx.credit, &b), WR_OK);
    assert_frame_rejected(b.p, b.len, MAX_LEN, "Credit: from_subtask 40000");
    wr_buf_fini(&b);
}

static void a_deploy_must_place_every_subtask_exactly_once(void **state)
{
    fixture fx;
    Weir__Control c;

    fill(&fx);
    c = control_of(&fx, WEIR__CONTROL__BODY_DEPLOY);
    fx.places[2].subtask = 2; /* subtask 2 at [0] and [2], subtask 0 missing */
    assert_control_rejected(&c, "Deploy: placement lists subtask 2 twice");
    fx.places[2].subtask = 3;
    assert_control_rejected(&c, "Deploy: placement subtask 3 is out of range (0..2)");
    fx.places[2].subtask = 0;
    fx.deploy.n_placement = 2;
    assert_control_rejected(&c, "placement has 2 entries for a parallelism of 3");
    fx.deploy.n_placement = 3;
    fx.deploy.parallelism = 0;
    fx.deploy.n_placement = 0;
    assert_control_rejected(&c, "Deploy: parallelism 0 is out of range (1..32768)");
    fx.deploy.parallelism = 32769;
    assert_control_rejected(&c, "parallelism 32769");
    fx.deploy.parallelism = 3;
    fx.deploy.n_placement = 3;
    fx.places[1].worker_id = "";
    assert_control_rejected(&c, "Deploy: placement worker_id is empty");
    fx.places[1].worker_id = "w2";
    fx.places[1].data_address = "tcp://\"x\"";
    assert_control_rejected(&c, "Deploy: placement data_address has byte 0x22");
    fx.places[1].data_address = "tcp://x:1";
    fx.parts[3].partition = 1;
    assert_control_rejected(&c, "Deploy: partitions list partition 1 twice");
    fx.parts[3].partition = -1;
    assert_control_rejected(&c, "Deploy: partition -1 is negative");
    fx.parts[3].partition = 0;
    fx.parts[0].subtask = 3;
    assert_control_rejected(&c, "Deploy: partition subtask 3 is out of range");
    fx.parts[0].subtask = 0;
    fx.deploy.job_id = "..";
    assert_control_rejected(&c, "Deploy: job_id \"..\" is not allowed as an id");
    fx.deploy.job_id = "a..b";
    {
        wr_buf b;
        wr_frame f;
        wr_errbuf eb;
        wr_buf_init(&b, 0);
        assert_int_equal(wr_wire_encode_control(&c, &b), WR_OK);
        assert_int_equal(wr_wire_decode(b.p, b.len, MAX_LEN, &f, &eb), WR_OK);
        wr_frame_fini(&f);
        wr_buf_fini(&b);
    }
}

/* The checkpoint messages: round trips, and the checks that keep a peer's file names and
 * storage paths from escaping their directories. */
static void checkpoint_messages_round_trip_and_refuse_bad_files(void **state)
{
    Weir__Control c = WEIR__CONTROL__INIT;
    Weir__CheckpointAck k = WEIR__CHECKPOINT_ACK__INIT;
    Weir__StateFile f = WEIR__STATE_FILE__INIT, *fp = &f;
    Weir__SourceOffset o = WEIR__SOURCE_OFFSET__INIT, *op = &o;
    Weir__TriggerCheckpoint t = WEIR__TRIGGER_CHECKPOINT__INIT;
    Weir__CheckpointDecline d = WEIR__CHECKPOINT_DECLINE__INIT;
    wr_buf b;
    wr_frame fr;
    wr_errbuf eb;

    (void)state;
    k.job_id = "j1";
    k.attempt = 2;
    k.checkpoint_id = 7;
    k.subtask = 1;
    k.stage = 1;
    k.has_state = true;
    k.kg_first = 32;
    k.kg_last = 63;
    f.name = "000012.sst";
    f.path = "j1/shared/s1-a2-000012.sst";
    f.size = 4096;
    f.crc32 = 0xdeadbeef;
    f.shared = true;
    k.n_files = 1;
    k.files = &fp;
    o.partition = 3;
    o.next_offset = 1234;
    k.n_offsets = 1;
    k.offsets = &op;
    c.body_case = WEIR__CONTROL__BODY_CHECKPOINT_ACK;
    c.checkpoint_ack = &k;
    wr_buf_init(&b, 0);
    assert_int_equal(wr_wire_encode_control(&c, &b), WR_OK);
    assert_int_equal(wr_wire_decode(b.p, b.len, MAX_LEN, &fr, &eb), WR_OK);
    assert_same_message(&c.base, &fr.control->base);
    wr_frame_fini(&fr);
    wr_buf_fini(&b);

    f.name = "../CURRENT";
    assert_control_rejected(&c, "CheckpointAck: file 0 has a bad name");
    f.name = "000012.sst";
    f.path = "/etc/passwd";
    assert_control_rejected(&c, "has a bad storage path");
    f.path = "j1/../../x";
    assert_control_rejected(&c, "has a bad storage path");
    f.path = "j1/shared/s1-a2-000012.sst";
    k.kg_last = 70000;
    assert_control_rejected(&c, "key groups [32, 70000] out of range");
    k.kg_last = 63;
    k.stage = 2;
    assert_control_rejected(&c, "stage 2 is not 0 or 1");
    k.stage = 1;
    k.checkpoint_id = 0;
    assert_control_rejected(&c, "CheckpointAck: checkpoint_id 0");

    t.job_id = "j1";
    t.attempt = 1;
    t.checkpoint_id = 0;
    c.body_case = WEIR__CONTROL__BODY_TRIGGER_CHECKPOINT;
    c.trigger_checkpoint = &t;
    assert_control_rejected(&c, "TriggerCheckpoint: checkpoint_id 0");

    d.job_id = "j1";
    d.subtask = 40000;
    d.reason = "disk full";
    c.body_case = WEIR__CONTROL__BODY_CHECKPOINT_DECLINE;
    c.checkpoint_decline = &d;
    assert_control_rejected(&c, "CheckpointDecline: subtask 40000 is out of range");
}

static void a_large_deploy_is_checked_in_full(void **state)
{
    enum { P = 32768 };
    Weir__SubtaskPlacement *places = calloc(P, sizeof *places);
    Weir__SubtaskPlacement **ptrs = calloc(P, sizeof *ptrs);
    static const Weir__SubtaskPlacement sp = WEIR__SUBTASK_PLACEMENT__INIT;
    fixture fx;
    Weir__Control c;
    wr_frame f;
    wr_errbuf eb;
    wr_buf b;

    fill(&fx);
    for (int i = 0; i < P; i++) {
        places[i] = sp;
        places[i].subtask = (uint32_t)(P - 1 - i);
        places[i].worker_id = "w";
        places[i].data_address = "tcp://w:1";
        ptrs[i] = &places[i];
    }
    fx.deploy.parallelism = P;
    fx.deploy.n_placement = P;
    fx.deploy.placement = ptrs;
    fx.deploy.n_partitions = 0;
    c = control_of(&fx, WEIR__CONTROL__BODY_DEPLOY);
    wr_buf_init(&b, 0);
    assert_int_equal(wr_wire_encode_control(&c, &b), WR_OK);
    assert_int_equal(wr_wire_decode(b.p, b.len, MAX_LEN, &f, &eb), WR_OK);
    assert_int_equal(f.control->deploy->n_placement, P);
    wr_frame_fini(&f);
    places[P - 1].subtask = P - 1; /* last one repeats the first */
    assert_control_rejected(&c, "placement lists subtask 32767 twice");
    wr_buf_fini(&b);
    free(ptrs);
    free(places);
}

/* ---------------------------------------------------------------- batch rejections */

static void every_truncation_of_a_batch_is_refused(void **state)
{
    wr_batch *b = sample_batch();
    wr_buf buf;

    wr_buf_init(&buf, 0);
    assert_int_equal(wr_batch_encode(b, &buf), WR_OK);
    for (size_t n = 0; n < buf.len; n++) {
        uint8_t *copy = malloc(n ? n : 1);
        memcpy(copy, buf.p, n);
        assert_batch_rejected(copy, n, 6, 100, 100, "");
        free(copy);
    }
    wr_buf_fini(&buf);
    wr_batch_free(b);
}

static void trailing_bytes_after_a_batch_are_refused(void **state)
{
    wr_batch *b = sample_batch(), *c = wr_batch_new_control(WR_BATCH_BARRIER, 5);
    wr_buf buf;

    wr_buf_init(&buf, 0);
    assert_int_equal(wr_batch_encode(b, &buf), WR_OK);
    assert_int_equal(wr_buf_putc(&buf, 0), WR_OK);
    assert_batch_rejected(buf.p, buf.len, 6, 100, 100, "1 trailing bytes");
    wr_buf_clear(&buf);
    assert_int_equal(wr_batch_encode(c, &buf), WR_OK);
    assert_int_equal(wr_buf_append(&buf, "xx", 2), WR_OK);
    assert_batch_rejected(buf.p, buf.len, 6, 100, 100, "2 trailing bytes after a BARRIER");
    wr_buf_fini(&buf);
    wr_batch_free(c);
    wr_batch_free(b);
}

/* One row, one string column: header + event time + type + length + bytes. */
static size_t one_string_batch(uint8_t *p, uint32_t declared, uint32_t len, const char *s,
                               size_t have)
{
    memset(p, 0, 19);
    put_le(p + 9, 1, 2);
    put_le(p + 11, 1, 4);
    put_le(p + 15, declared, 4);
    put_le(p + 19, 5, 8);
    p[27] = WR_T_STRING;
    put_le(p + 28, len, 4);
    memcpy(p + 32, s, have);
    return 32 + have;
}

static void string_lengths_are_checked_against_the_bytes_and_the_header(void **state)
{
    uint8_t p[64];
    size_t n;
    wr_batch *b;
    wr_errbuf eb;

    n = one_string_batch(p, 3, 3, "abc", 3);
    assert_int_equal(wr_batch_decode(p, n, 1, 1, 3, &b, &eb), WR_OK);
    assert_memory_equal(wr_batch_row(b, 0)[0].u.s, "abc", 3);
    wr_batch_free(b);

    n = one_string_batch(p, 3, 0xffffffff, "abc", 3);
    assert_batch_rejected(p, n, 1, 1, 100, "string bytes");
    n = one_string_batch(p, 3, 4, "abc", 3);
    assert_batch_rejected(p, n, 1, 1, 100, "truncated in row 0 column 0");
    n = one_string_batch(p, 2, 3, "abc", 3); /* more than declared */
    assert_batch_rejected(p, n, 1, 1, 100, "exceed the 2 string bytes declared");
    n = one_string_batch(p, 3, 2, "abc", 2); /* fewer than declared */
    memcpy(p + n, "z", 1);
    assert_batch_rejected(p, n + 1, 1, 1, 100, "");
    n = one_string_batch(p, 4, 3, "abc", 3);
    p[n] = 0;
    assert_batch_rejected(p, n + 1, 1, 1, 100, "strings take 3 bytes, the header declares 4");
    n = one_string_batch(p, 3, 3, "abc", 3);
    assert_batch_rejected(p, n, 1, 1, 2, "3 string bytes, more than the limit of 2");
}

static void batch_limits_and_tags_are_enforced(void **state)
{
    wr_batch *b = sample_batch(), *c;
    wr_buf buf;
    wr_errbuf eb;
    uint8_t *p;

    wr_buf_init(&buf, 0);
    assert_int_equal(wr_batch_encode(b, &buf), WR_OK);
    p = (uint8_t *)buf.p;
    assert_batch_rejected(p, buf.len, 6, 2, 100, "3 rows, more than the limit of 2");
    assert_batch_rejected(p, buf.len, 6, -1, 100, "3 rows");
    assert_batch_rejected(p, buf.len, 5, 3, 100, "6 columns, expected 5");
    assert_batch_rejected(p, buf.len, 6, 3, 8, "9 string bytes, more than the limit of 8");
    assert_int_equal(wr_batch_decode(p, buf.len, -1, 3, 9, &c, &eb), WR_OK); /* any ncols */
    wr_batch_free(c);

    p[0] = 5;
    assert_batch_rejected(p, buf.len, 6, 3, 100, "unknown kind 5");
    p[0] = WR_BATCH_WATERMARK;
    assert_batch_rejected(p, buf.len, 6, 3, 100, "WATERMARK batch declares 6 columns");
    p[0] = 0;

    /* first value of row 0 sits after the 19-byte head and 8-byte event time */
    assert_int_equal(p[27], WR_T_STRING);
    p[27] = 6;
    assert_batch_rejected(p, buf.len, 6, 3, 100, "row 0 column 0: unknown value type 6");
    p[27] = WR_T_STRING;
    /* row 0: string "alice" (1+4+5), long (1+8), double (1+8), then bool */
    assert_int_equal(p[27 + 10 + 9 + 9], WR_T_BOOL);
    p[27 + 10 + 9 + 9 + 1] = 2;
    assert_batch_rejected(p, buf.len, 6, 3, 100, "row 0 column 3: bool byte 2 is not 0 or 1");
    p[27 + 10 + 9 + 9 + 1] = 1;

    put_le(p + 9, 4097, 2);
    assert_batch_rejected(p, buf.len, -1, 3, 100, "4097 columns, more than 4096");
    put_le(p + 9, 4096, 2);
    put_le(p + 11, 3, 4);
    assert_batch_rejected(p, buf.len, -1, 3, 100, "cannot fit");
    put_le(p + 9, 6, 2);
    put_le(p + 11, 0xffffffff, 4);
    assert_batch_rejected(p, buf.len, -1, INT32_MAX, 100, "4294967295 rows");
    put_le(p + 11, 1u << 20, 4);
    assert_batch_rejected(p, buf.len, -1, INT32_MAX, 100, "cannot fit");
    wr_buf_fini(&buf);
    wr_batch_free(b);
}

static void an_unencodable_batch_is_refused_by_the_encoder(void **state)
{
    wr_batch *b = wr_batch_new(1, 1, 0);
    wr_value v = wr_value_null();
    wr_buf buf;

    assert_int_equal(wr_batch_append(b, &v, 0), WR_OK);
    b->values[0].type = 9;
    wr_buf_init(&buf, 0);
    assert_int_equal(wr_buf_putc(&buf, 'x'), WR_OK);
    assert_int_equal(wr_batch_encode(b, &buf), WR_EINVAL);
    assert_int_equal(buf.len, 1);
    wr_buf_fini(&buf);
    wr_batch_free(b);
}

/* ---------------------------------------------------------------- fuzz seeds */

static void write_seed(const char *dir, const char *name, const wr_buf *b)
{
    char path[4096];
    FILE *f;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b->p, 1, b->len, f), b->len);
    fclose(f);
}

static void write_seeds(const char *dir)
{
    static const struct {
        const char *name;
        Weir__Control__BodyCase body;
    } controls[] = {
        {"control-register", WEIR__CONTROL__BODY_REGISTER},
        {"control-heartbeat", WEIR__CONTROL__BODY_HEARTBEAT},
        {"control-task-report", WEIR__CONTROL__BODY_TASK_REPORT},
        {"control-register-ack", WEIR__CONTROL__BODY_REGISTER_ACK},
        {"control-deploy", WEIR__CONTROL__BODY_DEPLOY},
        {"control-cancel", WEIR__CONTROL__BODY_CANCEL},
        {"control-reregister", WEIR__CONTROL__BODY_REREGISTER},
    };
    fixture fx;
    wr_batch *b = sample_batch(), *barrier = wr_batch_new_control(WR_BATCH_BARRIER, 12);
    wr_buf buf;

    fill(&fx);
    wr_buf_init(&buf, 0);
    for (size_t i = 0; i < sizeof controls / sizeof controls[0]; i++) {
        Weir__Control c = control_of(&fx, controls[i].body);
        assert_int_equal(wr_wire_encode_control(&c, &buf), WR_OK);
        write_seed(dir, controls[i].name, &buf);
    }
    assert_int_equal(wr_wire_encode_data(&fx.dh, b, &buf), WR_OK);
    write_seed(dir, "data-all-types", &buf);
    assert_int_equal(wr_wire_encode_data(&fx.dh, barrier, &buf), WR_OK);
    write_seed(dir, "data-barrier", &buf);
    assert_int_equal(wr_wire_encode_credit(&fx.credit, &buf), WR_OK);
    write_seed(dir, "credit", &buf);
    wr_buf_fini(&buf);
    wr_batch_free(barrier);
    wr_batch_free(b);
}

static void the_fuzz_seeds_are_valid_frames(void **state)
{
    const char *out = getenv("WEIR_WRITE_WIRE_SEEDS");
    DIR *dir;
    struct dirent *de;
    int n = 0;

    if (out && *out)
        write_seeds(out);
    dir = opendir(SEED_DIR);
    if (!dir)
        skip();
    while ((de = readdir(dir)) != NULL) {
        char path[4096];
        uint8_t data[4096];
        size_t len;
        FILE *f;
        wr_frame fr;
        wr_errbuf eb;

        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", SEED_DIR, de->d_name);
        f = fopen(path, "rb");
        assert_non_null(f);
        len = fread(data, 1, sizeof data, f);
        fclose(f);
        if (wr_wire_decode(data, len, MAX_LEN, &fr, &eb) != WR_OK)
            fail_msg("seed %s: %s", de->d_name, eb.msg);
        if (fr.type == WR_FRAME_DATA) {
            wr_batch *b;
            if (wr_batch_decode(fr.body, fr.body_len, -1, 1024, 1 << 20, &b, &eb) != WR_OK)
                fail_msg("seed %s: %s", de->d_name, eb.msg);
            wr_batch_free(b);
        }
        wr_frame_fini(&fr);
        n++;
    }
    closedir(dir);
    assert_true(n >= 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_control_body_round_trips),
        cmocka_unit_test(decoded_deploy_and_heartbeat_carry_their_fields),
        cmocka_unit_test(a_data_frame_round_trips_every_value_type),
        cmocka_unit_test(batch_bytes_are_little_endian_as_documented),
        cmocka_unit_test(control_batches_and_empty_data_batches_round_trip),
        cmocka_unit_test(a_credit_frame_round_trips),
        cmocka_unit_test(encoding_respects_the_buffer_cap),
        cmocka_unit_test(every_truncation_of_a_valid_frame_is_refused),
        cmocka_unit_test(bad_magic_version_and_type_are_refused),
        cmocka_unit_test(a_header_length_beyond_the_frame_is_refused),
        cmocka_unit_test(a_frame_longer_than_the_limit_is_refused),
        cmocka_unit_test(a_header_that_is_not_protobuf_is_refused),
        cmocka_unit_test(unknown_fields_are_kept_but_invalid_field_numbers_are_refused),
        cmocka_unit_test(bodies_are_required_exactly_on_data_frames),
        cmocka_unit_test(a_control_without_a_body_is_refused),
        cmocka_unit_test(ids_must_be_short_printable_tokens),
        cmocka_unit_test(register_slots_and_credits_are_range_checked),
        cmocka_unit_test(a_deploy_must_place_every_subtask_exactly_once),
        cmocka_unit_test(a_large_deploy_is_checked_in_full),
        cmocka_unit_test(checkpoint_messages_round_trip_and_refuse_bad_files),
        cmocka_unit_test(every_truncation_of_a_batch_is_refused),
        cmocka_unit_test(trailing_bytes_after_a_batch_are_refused),
        cmocka_unit_test(string_lengths_are_checked_against_the_bytes_and_the_header),
        cmocka_unit_test(batch_limits_and_tags_are_enforced),
        cmocka_unit_test(an_unencodable_batch_is_refused_by_the_encoder),
        cmocka_unit_test(the_fuzz_seeds_are_valid_frames),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
