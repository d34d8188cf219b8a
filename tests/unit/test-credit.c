/*
 * test-credit.c — credit-based flow control (worker/credit.h) against a simulation of one
 * channel: a sender with credits, frames in flight both ways, and a receiver queue of
 * `capacity` batches taken at random moments. Checks, after every step of many random
 * interleavings, that the queue never exceeds its capacity, that the conservation law
 * holds, and that the channel never stalls (whenever nothing is in flight and the queue is
 * empty, the sender holds a credit).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "credit.h"

static uint64_t rng_state = 42;

static uint64_t rnd(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void test_initial_grant_is_capacity(void **state)
{
    wr_credit_rx rx;
    (void)state;
    assert_int_equal(wr_credit_rx_init(&rx, 16), 16);
    assert_int_equal(rx.group, 4);
    assert_int_equal(wr_credit_rx_init(&rx, 1), 1);
    assert_int_equal(rx.group, 1);
    assert_int_equal(wr_credit_rx_init(&rx, 0), 1); /* never a dead channel */
}

static void test_grants_in_groups(void **state)
{
    wr_credit_rx rx;
    (void)state;
    wr_credit_rx_init(&rx, 16);
    assert_int_equal(wr_credit_rx_taken(&rx), 0);
    assert_int_equal(wr_credit_rx_taken(&rx), 0);
    assert_int_equal(wr_credit_rx_taken(&rx), 0);
    assert_int_equal(wr_credit_rx_taken(&rx), 4);
    assert_int_equal(rx.pending, 0);
}

static void test_sender_never_sends_without_credit(void **state)
{
    wr_credit_tx tx;
    (void)state;
    wr_credit_tx_init(&tx);
    assert_false(wr_credit_tx_take(&tx));
    wr_credit_tx_add(&tx, 2);
    assert_true(wr_credit_tx_take(&tx));
    assert_true(wr_credit_tx_take(&tx));
    assert_false(wr_credit_tx_take(&tx));
    assert_int_equal(tx.credits, 0);
}

/* One random run of the channel. */
static void run_channel(int capacity, int steps)
{
    wr_credit_tx tx;
    wr_credit_rx rx;
    int data_in_flight = 0, queued = 0, delivered = 0, sent = 0;
    int credit_msgs[4096], ncredit = 0; /* credit frames in flight, FIFO */
    int credits_in_flight = 0;

    wr_credit_tx_init(&tx);
    credit_msgs[ncredit++] = wr_credit_rx_init(&rx, capacity);
    credits_in_flight = capacity;
    for (int step = 0; step < steps; step++) {
        switch (rnd() % 4) {
        case 0: /* the sender sends when it may */
            if (wr_credit_tx_take(&tx)) {
                data_in_flight++;
                sent++;
            }
            break;
        case 1: /* a data frame arrives */
            if (data_in_flight > 0) {
                data_in_flight--;
                queued++;
            }
            break;
        case 2: /* the receiver takes a batch */
            if (queued > 0) {
                int n;
                queued--;
                delivered++;
                n = wr_credit_rx_taken(&rx);
                if (n > 0) {
                    assert_true(ncredit < 4096);
                    credit_msgs[ncredit++] = n;
                    credits_in_flight += n;
                }
            }
            break;
        case 3: /* a credit frame arrives */
            if (ncredit > 0) {
                int n = credit_msgs[0];
                for (int i = 1; i < ncredit; i++)
                    credit_msgs[i - 1] = credit_msgs[i];
                ncredit--;
                credits_in_flight -= n;
                wr_credit_tx_add(&tx, (uint32_t)n);
            }
            break;
        }
        /* the queue is bounded by its capacity */
        assert_true(queued <= capacity);
        /* conservation: every credit is somewhere */
        assert_int_equal(tx.credits + credits_in_flight + data_in_flight + queued + rx.pending,
                         capacity);
        /* no stall: with nothing in flight and nothing queued the sender can send */
        if (data_in_flight == 0 && queued == 0 && ncredit == 0)
            assert_true(tx.credits > 0);
    }
    assert_true(sent > steps / 40); /* it did move */
    (void)delivered;
}

static void test_random_interleavings(void **state)
{
    (void)state;
    for (int run = 0; run < 300; run++)
        run_channel(1 + (int)(rnd() % 40), 5000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_initial_grant_is_capacity),
        cmocka_unit_test(test_grants_in_groups),
        cmocka_unit_test(test_sender_never_sends_without_credit),
        cmocka_unit_test(test_random_interleavings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
