/*
 * test-channel.c — bounded inboxes: FIFO per channel, credit bound, fairness,
 * blocking channels, cancellation. Threads synchronise on events, never on sleeps.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "channel.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

static wr_batch *mark(int64_t v)
{
    return wr_batch_new_control(WR_BATCH_WATERMARK, v);
}

static void batches_come_out_of_a_channel_in_the_order_they_went_in(void **state)
{
    wr_inbox *in = wr_inbox_new(1, 8);
    wr_batch *b;
    for (int i = 0; i < 8; i++)
        assert_int_equal(wr_inbox_send(in, 0, mark(i)), WR_OK);
    for (int i = 0; i < 8; i++) {
        assert_int_equal(wr_inbox_recv(in, &b, 0), 0);
        assert_int_equal(b->value, i);
        wr_batch_free(b);
    }
    assert_int_equal(wr_inbox_recv(in, &b, 0), -1);
    wr_inbox_free(in);
}

static void recv_takes_from_channels_in_turn(void **state)
{
    wr_inbox *in = wr_inbox_new(3, 4);
    wr_batch *b;
    int seen[3] = {0};
    for (int ch = 0; ch < 3; ch++)
        for (int i = 0; i < 4; i++)
            wr_inbox_send(in, ch, mark(ch * 10 + i));
    /* 6 receives take 2 from each channel: nobody starves */
    for (int k = 0; k < 6; k++) {
        int ch = wr_inbox_recv(in, &b, 0);
        assert_true(ch >= 0);
        assert_int_equal(b->value, ch * 10 + seen[ch]);
        seen[ch]++;
        wr_batch_free(b);
    }
    assert_int_equal(seen[0], 2);
    assert_int_equal(seen[1], 2);
    assert_int_equal(seen[2], 2);
    wr_inbox_free(in); /* frees the 6 still queued */
}

static void a_blocked_channel_is_skipped_until_unblocked(void **state)
{
    wr_inbox *in = wr_inbox_new(2, 4);
    wr_batch *b;
    wr_inbox_send(in, 0, mark(1));
    wr_inbox_send(in, 1, mark(2));
    wr_inbox_block(in, 0, true);
    assert_int_equal(wr_inbox_recv(in, &b, 0), 1);
    wr_batch_free(b);
    assert_int_equal(wr_inbox_recv(in, &b, 0), -1); /* channel 0 has data but is blocked */
    wr_inbox_block(in, 0, false);
    assert_int_equal(wr_inbox_recv(in, &b, 0), 0);
    assert_int_equal(b->value, 1);
    wr_batch_free(b);
    wr_inbox_free(in);
}

typedef struct sender {
    wr_inbox *in;
    int n;
    atomic_int sent;
    atomic_int max_seen_queued;
    wr_err last;
} sender;

static void *send_many(void *arg)
{
    sender *s = arg;
    for (int i = 0; i < s->n; i++) {
        wr_batch *b = mark(i);
        s->last = wr_inbox_send(s->in, 0, b);
        if (s->last != WR_OK) {
            wr_batch_free(b);
            return NULL;
        }
        atomic_fetch_add(&s->sent, 1);
    }
    return NULL;
}

static void a_sender_never_has_more_than_capacity_batches_queued(void **state)
{
    enum { CAP = 3, N = 200 };
    sender s = {.in = wr_inbox_new(1, CAP), .n = N};
    pthread_t th;
    wr_batch *b;
    int64_t expect = 0;

    pthread_create(&th, NULL, send_many, &s);
    while (expect < N) {
        int q = wr_inbox_queued(s.in);
        assert_true(q <= CAP); /* the credit bound holds at every observation */
        assert_int_equal(wr_inbox_recv(s.in, &b, -1), 0);
        assert_int_equal(b->value, expect); /* nothing lost, nothing reordered */
        wr_batch_free(b);
        expect++;
    }
    pthread_join(th, NULL);
    assert_int_equal(atomic_load(&s.sent), N);
    wr_inbox_free(s.in);
}

static void cancel_wakes_a_sender_blocked_on_a_full_channel(void **state)
{
    sender s = {.in = wr_inbox_new(1, 1), .n = 2};
    pthread_t th;

    pthread_create(&th, NULL, send_many, &s);
    /* wait for the event: the first batch is queued; the second send must block */
    while (atomic_load(&s.sent) < 1)
        sched_yield();
    wr_inbox_cancel(s.in);
    pthread_join(th, NULL);
    assert_int_equal(atomic_load(&s.sent), 1);
    assert_int_equal(s.last, WR_ECANCELED);
    wr_batch *b;
    assert_int_equal(wr_inbox_recv(s.in, &b, -1), -2);
    wr_inbox_free(s.in);
}

static void recv_times_out_on_an_empty_inbox(void **state)
{
    wr_inbox *in = wr_inbox_new(2, 2);
    wr_batch *b = NULL;
    assert_int_equal(wr_inbox_recv(in, &b, 1), -1);
    assert_null(b);
    wr_inbox_free(in);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(batches_come_out_of_a_channel_in_the_order_they_went_in),
        cmocka_unit_test(recv_takes_from_channels_in_turn),
        cmocka_unit_test(a_blocked_channel_is_skipped_until_unblocked),
        cmocka_unit_test(a_sender_never_has_more_than_capacity_batches_queued),
        cmocka_unit_test(cancel_wakes_a_sender_blocked_on_a_full_channel),
        cmocka_unit_test(recv_times_out_on_an_empty_inbox),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
