/*
 * test-aligner.c — checkpoint barrier alignment, stepped with simulated time: fixed cases
 * for each rule of aligner.h and a randomized check of the exactly-once cut against an
 * independent model of what every channel carries.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "aligner.h"

#include <string.h>

static uint64_t rng_state;

static uint64_t rnd(void)
{
    uint64_t z = (rng_state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static int rnd_in(int lo, int hi)
{
    return lo + (int)(rnd() % (uint64_t)(hi - lo + 1));
}

static bool chance(int percent)
{
    return rnd_in(1, 100) <= percent;
}

static void expect_nothing(wr_align_result r)
{
    assert_false(r.snapshot);
    assert_int_equal(r.aborted, 0);
}

static void expect_blocked(const wr_aligner *a, int n, const bool *want)
{
    for (int c = 0; c < n; c++)
        assert_int_equal(wr_aligner_blocked(a, c), want[c]);
}

/* ---- fixed cases --------------------------------------------------------------------- */

static void with_one_channel_a_barrier_completes_at_once(void **state)
{
    wr_aligner *a = wr_aligner_new(1);
    wr_align_result r;

    assert_non_null(a);
    assert_int_equal(wr_aligner_current(a), 0);
    assert_int_equal(wr_aligner_last(a), 0);

    r = wr_aligner_barrier(a, 0, 1, 1000);
    assert_true(r.snapshot);
    assert_int_equal(r.id, 1);
    assert_int_equal(r.aborted, 0);
    assert_int_equal(r.alignment_ms, 0);
    assert_true(wr_aligner_blocked(a, 0)); /* until the snapshot is taken */
    assert_int_equal(wr_aligner_last(a), 1);
    assert_int_equal(wr_aligner_current(a), 0);
    wr_aligner_done(a);
    assert_false(wr_aligner_blocked(a, 0));

    r = wr_aligner_barrier(a, 0, 2, 2000);
    assert_true(r.snapshot);
    assert_int_equal(r.id, 2);
    wr_aligner_done(a);
    assert_int_equal(wr_aligner_last(a), 2);
    wr_aligner_free(a);
}

static void four_channels_block_one_by_one_and_snapshot_with_the_last_barrier(void **state)
{
    wr_aligner *a = wr_aligner_new(4);
    const int order[4] = {2, 0, 3, 1};
    const int64_t at[4] = {100, 130, 170, 250};
    bool want[4] = {false, false, false, false};
    wr_align_result r;

    for (int k = 0; k < 3; k++) {
        r = wr_aligner_barrier(a, order[k], 5, at[k]);
        expect_nothing(r);
        want[order[k]] = true;
        expect_blocked(a, 4, want);
        assert_int_equal(wr_aligner_current(a), 5);
        assert_int_equal(wr_aligner_last(a), 0);
    }
    r = wr_aligner_barrier(a, order[3], 5, at[3]);
    assert_true(r.snapshot);
    assert_int_equal(r.id, 5);
    assert_int_equal(r.aborted, 0);
    assert_int_equal(r.alignment_ms, 250 - 100);
    /* every channel stays blocked while the snapshot is taken */
    for (int c = 0; c < 4; c++)
        assert_true(wr_aligner_blocked(a, c));
    assert_int_equal(wr_aligner_last(a), 5);
    assert_int_equal(wr_aligner_current(a), 0);

    wr_aligner_done(a);
    for (int c = 0; c < 4; c++)
        assert_false(wr_aligner_blocked(a, c));
    /* a second done changes nothing */
    wr_aligner_done(a);
    assert_int_equal(wr_aligner_last(a), 5);

    /* done() during an alignment does not unblock its channels */
    expect_nothing(wr_aligner_barrier(a, 1, 6, 300));
    wr_aligner_done(a);
    assert_true(wr_aligner_blocked(a, 1));
    assert_int_equal(wr_aligner_current(a), 6);
    wr_aligner_free(a);
}

static void an_ended_channel_counts_as_aligned_before_an_alignment(void **state)
{
    wr_aligner *a = wr_aligner_new(3);
    wr_align_result r;

    expect_nothing(wr_aligner_end(a, 1, 10));
    assert_false(wr_aligner_blocked(a, 1));
    expect_nothing(wr_aligner_barrier(a, 0, 1, 20));
    r = wr_aligner_barrier(a, 2, 1, 50);
    assert_true(r.snapshot);
    assert_int_equal(r.id, 1);
    assert_int_equal(r.alignment_ms, 30);
    assert_true(wr_aligner_blocked(a, 0));
    assert_false(wr_aligner_blocked(a, 1)); /* ended: nothing to block */
    assert_true(wr_aligner_blocked(a, 2));
    wr_aligner_done(a);
    /* an ended channel delivers nothing more: a late barrier on it is ignored */
    expect_nothing(wr_aligner_barrier(a, 1, 2, 60));
    assert_false(wr_aligner_blocked(a, 1));
    assert_int_equal(wr_aligner_current(a), 0);
    /* ending twice is ignored */
    expect_nothing(wr_aligner_end(a, 1, 70));
    wr_aligner_free(a);
}

static void a_channel_ending_during_an_alignment_can_complete_it(void **state)
{
    wr_aligner *a = wr_aligner_new(3);
    wr_align_result r;

    expect_nothing(wr_aligner_barrier(a, 0, 4, 10));
    expect_nothing(wr_aligner_barrier(a, 1, 4, 20));
    r = wr_aligner_end(a, 2, 45);
    assert_true(r.snapshot);
    assert_int_equal(r.id, 4);
    assert_int_equal(r.aborted, 0);
    assert_int_equal(r.alignment_ms, 35);
    assert_true(wr_aligner_blocked(a, 0));
    assert_true(wr_aligner_blocked(a, 1));
    assert_false(wr_aligner_blocked(a, 2));
    wr_aligner_done(a);
    assert_false(wr_aligner_blocked(a, 0));
    assert_false(wr_aligner_blocked(a, 1));
    assert_int_equal(wr_aligner_last(a), 4);
    wr_aligner_free(a);
}

static void when_every_other_channel_ended_a_barrier_completes_at_once(void **state)
{
    wr_aligner *a = wr_aligner_new(3);
    wr_align_result r;

    /* all but one ended: the barrier completes alone */
    expect_nothing(wr_aligner_end(a, 1, 5));
    expect_nothing(wr_aligner_end(a, 2, 6));
    r = wr_aligner_barrier(a, 0, 1, 10);
    assert_true(r.snapshot);
    assert_int_equal(r.id, 1);
    assert_int_equal(r.alignment_ms, 0);
    wr_aligner_done(a);

    /* the last live channel ends too: no alignment starts, nothing is blocked */
    expect_nothing(wr_aligner_end(a, 0, 20));
    for (int c = 0; c < 3; c++)
        assert_false(wr_aligner_blocked(a, c));
    assert_int_equal(wr_aligner_current(a), 0);
    assert_int_equal(wr_aligner_last(a), 1);
    wr_aligner_free(a);

    /* the channels that did not deliver the barrier all end, one by one: the last END
     * completes it */
    a = wr_aligner_new(3);
    expect_nothing(wr_aligner_barrier(a, 0, 2, 100));
    expect_nothing(wr_aligner_end(a, 1, 110));
    r = wr_aligner_end(a, 2, 130);
    assert_true(r.snapshot);
    assert_int_equal(r.id, 2);
    assert_int_equal(r.alignment_ms, 30);
    wr_aligner_done(a);
    wr_aligner_free(a);
}

static void a_newer_barrier_abandons_the_current_alignment(void **state)
{
    wr_aligner *a = wr_aligner_new(3);
    wr_align_result r;

    expect_nothing(wr_aligner_barrier(a, 0, 3, 10));
    expect_nothing(wr_aligner_barrier(a, 1, 3, 20));
    /* channel 2's sender skipped 3: its barrier 4 abandons 3 */
    r = wr_aligner_barrier(a, 2, 4, 30);
    assert_false(r.snapshot);
    assert_int_equal(r.aborted, 3);
    assert_false(wr_aligner_blocked(a, 0));
    assert_false(wr_aligner_blocked(a, 1));
    assert_true(wr_aligner_blocked(a, 2));
    assert_int_equal(wr_aligner_current(a), 4);
    assert_int_equal(wr_aligner_last(a), 0);

    expect_nothing(wr_aligner_barrier(a, 0, 4, 45));
    r = wr_aligner_barrier(a, 1, 4, 70);
    assert_true(r.snapshot);
    assert_int_equal(r.id, 4);
    assert_int_equal(r.aborted, 0);
    assert_int_equal(r.alignment_ms, 70 - 30); /* from the first barrier 4, not 3 */
    wr_aligner_done(a);
    assert_int_equal(wr_aligner_last(a), 4);
    wr_aligner_free(a);

    /* abandoning and completing in one call: the other channel ended */
    a = wr_aligner_new(2);
    expect_nothing(wr_aligner_barrier(a, 0, 7, 10));
    /* channel 0 is blocked; a caller that still takes from it sees its barrier 9 */
    r = wr_aligner_barrier(a, 0, 9, 12);
    assert_int_equal(r.aborted, 7);
    assert_false(r.snapshot);
    assert_true(wr_aligner_blocked(a, 0));
    r = wr_aligner_end(a, 1, 15);
    assert_true(r.snapshot);
    assert_int_equal(r.id, 9);
    assert_int_equal(r.alignment_ms, 3);
    wr_aligner_done(a);
    wr_aligner_free(a);

    a = wr_aligner_new(2);
    expect_nothing(wr_aligner_end(a, 1, 1));
    /* with one live channel nothing is ever pending, so a newer id just completes */
    r = wr_aligner_barrier(a, 0, 2, 5);
    assert_true(r.snapshot);
    assert_int_equal(r.aborted, 0);
    wr_aligner_done(a);
    wr_aligner_free(a);
}

static void stale_duplicate_and_invalid_barriers_are_ignored(void **state)
{
    wr_aligner *a = wr_aligner_new(2);
    wr_align_result r;

    expect_nothing(wr_aligner_barrier(a, 0, 5, 10));
    r = wr_aligner_barrier(a, 1, 5, 20);
    assert_true(r.snapshot);
    wr_aligner_done(a);

    /* older than or equal to the last completed one */
    expect_nothing(wr_aligner_barrier(a, 0, 5, 30));
    expect_nothing(wr_aligner_barrier(a, 1, 4, 30));
    assert_false(wr_aligner_blocked(a, 0));
    assert_false(wr_aligner_blocked(a, 1));
    assert_int_equal(wr_aligner_current(a), 0);

    /* older than the one being aligned */
    expect_nothing(wr_aligner_barrier(a, 0, 8, 40));
    expect_nothing(wr_aligner_barrier(a, 1, 7, 41));
    assert_false(wr_aligner_blocked(a, 1));
    assert_int_equal(wr_aligner_current(a), 8);
    /* the same barrier twice on one channel */
    expect_nothing(wr_aligner_barrier(a, 0, 8, 42));
    assert_int_equal(wr_aligner_current(a), 8);
    /* invalid ids and channels */
    expect_nothing(wr_aligner_barrier(a, 1, 0, 43));
    expect_nothing(wr_aligner_barrier(a, 1, -3, 43));
    expect_nothing(wr_aligner_barrier(a, 2, 9, 43));
    expect_nothing(wr_aligner_barrier(a, -1, 9, 43));
    expect_nothing(wr_aligner_end(a, 2, 43));
    assert_false(wr_aligner_blocked(a, 2));
    assert_false(wr_aligner_blocked(a, -1));
    assert_int_equal(wr_aligner_current(a), 8);

    r = wr_aligner_barrier(a, 1, 8, 50);
    assert_true(r.snapshot);
    assert_int_equal(r.id, 8);
    assert_int_equal(r.alignment_ms, 10);
    wr_aligner_done(a);
    wr_aligner_free(a);

    assert_null(wr_aligner_new(0));
    assert_null(wr_aligner_new(-2));
    wr_aligner_free(NULL);
}

static void a_barrier_taken_before_done_counts_the_snapshot_as_taken(void **state)
{
    wr_aligner *a = wr_aligner_new(2);
    wr_align_result r;

    expect_nothing(wr_aligner_barrier(a, 0, 1, 10));
    r = wr_aligner_barrier(a, 1, 1, 20);
    assert_true(r.snapshot);
    /* a stale barrier in between changes nothing: both stay blocked */
    expect_nothing(wr_aligner_barrier(a, 0, 1, 21));
    assert_true(wr_aligner_blocked(a, 0));
    assert_true(wr_aligner_blocked(a, 1));
    /* the caller took from channel 0 without calling done: 1 is taken, 2 starts */
    expect_nothing(wr_aligner_barrier(a, 0, 2, 30));
    assert_true(wr_aligner_blocked(a, 0));
    assert_false(wr_aligner_blocked(a, 1));
    assert_int_equal(wr_aligner_current(a), 2);
    assert_int_equal(wr_aligner_last(a), 1);
    r = wr_aligner_barrier(a, 1, 2, 45);
    assert_true(r.snapshot);
    assert_int_equal(r.id, 2);
    assert_int_equal(r.alignment_ms, 15);
    wr_aligner_done(a);
    wr_aligner_free(a);
}

/* ---- randomized: the exactly-once cut ----------------------------------------------- *
 *
 * Each simulated source s writes one FIFO (channel s) of tokens: data items, barriers with
 * increasing ids (a source may skip an id, as a sender does for an abandoned checkpoint),
 * and maybe a final END (a channel without END simply runs dry). A receiver takes tokens
 * from unblocked channels in random order and follows the aligner.
 *
 * The model, computed from the FIFOs alone: for checkpoint N, channel c's cut is the
 * data items before its first barrier with id >= N (all its items if it has none). N can
 * complete only if every channel carries barrier N as its first barrier >= N, or carries
 * no barrier >= N and ends; and then it must: every channel delivers N before anything
 * newer (a channel that delivered N is blocked until N is done), so nothing abandons it.
 * At the snapshot of N the items consumed from each channel must be exactly its cut:
 * channels are FIFOs, so this is the count of items taken. */

enum { TOK_DATA, TOK_BARRIER, TOK_END };

typedef struct tok {
    int kind;
    int64_t id;
} tok;

enum { MAXSRC = 6, MAXID = 8, MAXTOK = 80 };

typedef struct fifo {
    tok t[MAXTOK];
    int n, head;
    bool has_end;
} fifo;

static void make_source(fifo *f, int nids)
{
    memset(f, 0, sizeof *f);
    for (int id = 1; id <= nids; id++) {
        int items = rnd_in(0, 3);
        for (int k = 0; k < items; k++)
            f->t[f->n++] = (tok){TOK_DATA, 0};
        if (chance(80))
            f->t[f->n++] = (tok){TOK_BARRIER, id};
    }
    for (int k = rnd_in(0, 3); k > 0; k--)
        f->t[f->n++] = (tok){TOK_DATA, 0};
    if (chance(25)) /* ends (or runs dry) early */
        f->n = rnd_in(0, f->n);
    if (chance(85)) {
        f->t[f->n++] = (tok){TOK_END, 0};
        f->has_end = true;
    }
}

/* Items before channel f's first barrier >= N; *first: that barrier's id (0: none). */
static int cut(const fifo *f, int64_t N, int64_t *first)
{
    int items = 0;
    *first = 0;
    for (int k = 0; k < f->n; k++) {
        if (f->t[k].kind == TOK_BARRIER && f->t[k].id >= N) {
            *first = f->t[k].id;
            break;
        }
        if (f->t[k].kind == TOK_DATA)
            items++;
    }
    return items;
}

static bool carries(const fifo *f, int64_t N)
{
    for (int k = 0; k < f->n; k++)
        if (f->t[k].kind == TOK_BARRIER && f->t[k].id == N)
            return true;
    return false;
}

static bool can_complete(const fifo *srcs, int nsrc, int64_t N)
{
    bool somewhere = false;
    for (int c = 0; c < nsrc; c++) {
        int64_t first;
        cut(&srcs[c], N, &first);
        if (first != 0 && first != N)
            return false;
        if (first == 0 && !srcs[c].has_end)
            return false;
        somewhere |= carries(&srcs[c], N);
    }
    return somewhere;
}

static void random_runs_snapshot_exactly_the_items_before_each_barrier(void **state)
{
    int completed_total = 0, aborted_total = 0;

    rng_state = 0xa11613;
    for (int run = 0; run < 5000; run++) {
        fifo src[MAXSRC];
        int nsrc = rnd_in(1, MAXSRC), nids = rnd_in(1, MAXID);
        int consumed[MAXSRC] = {0};
        int64_t last_barrier[MAXSRC] = {0}; /* newest barrier taken from the channel */
        bool ended[MAXSRC] = {false};
        int64_t first_arrival[MAXID + 1] = {0};
        int64_t expected[MAXID], got[MAXID];
        int nexpected = 0, ngot = 0;
        int64_t now = 1000, prev_aborted = 0;
        wr_aligner *a;

        for (int c = 0; c < nsrc; c++)
            make_source(&src[c], nids);
        for (int64_t N = 1; N <= nids; N++)
            if (can_complete(src, nsrc, N))
                expected[nexpected++] = N;

        a = wr_aligner_new(nsrc);
        assert_non_null(a);
        for (;;) {
            int ready[MAXSRC], nready = 0, c;
            int64_t current = wr_aligner_current(a);
            wr_align_result r = {0};
            tok t;

            /* what a channel's blocking means, stated from what the receiver saw */
            for (c = 0; c < nsrc; c++) {
                bool should = !ended[c] && current != 0 && last_barrier[c] == current;
                assert_int_equal(wr_aligner_blocked(a, c), should);
                if (!wr_aligner_blocked(a, c) && src[c].head < src[c].n)
                    ready[nready++] = c;
            }
            assert_true(current == 0 || current > wr_aligner_last(a));
            if (nready == 0)
                break;
            c = ready[rnd_in(0, nready - 1)];
            t = src[c].t[src[c].head++];
            now += rnd_in(1, 5);
            if (t.kind == TOK_DATA) {
                consumed[c]++;
                continue;
            }
            if (t.kind == TOK_BARRIER) {
                last_barrier[c] = t.id;
                if (first_arrival[t.id] == 0)
                    first_arrival[t.id] = now;
                r = wr_aligner_barrier(a, c, t.id, now);
            } else {
                ended[c] = true;
                r = wr_aligner_end(a, c, now);
            }
            if (r.aborted) {
                /* the alignment that was running, never one that completes */
                assert_int_equal(r.aborted, current);
                assert_true(r.aborted > prev_aborted);
                assert_false(can_complete(src, nsrc, r.aborted));
                prev_aborted = r.aborted;
                aborted_total++;
            }
            if (!r.snapshot)
                continue;
            assert_true(ngot < nexpected);
            assert_int_equal(r.id, expected[ngot]);
            got[ngot++] = r.id;
            assert_int_equal(r.alignment_ms, now - first_arrival[r.id]);
            assert_int_equal(wr_aligner_last(a), r.id);
            for (int k = 0; k < nsrc; k++) {
                int64_t first;
                /* the cut: exactly the items before barrier N (or all of an ended
                 * channel's items) have been consumed */
                assert_int_equal(consumed[k], cut(&src[k], r.id, &first));
                assert_true(first == r.id || (first == 0 && ended[k]));
                assert_int_equal(wr_aligner_blocked(a, k), !ended[k]);
            }
            wr_aligner_done(a);
            completed_total++;
        }
        /* every checkpoint the model says must complete did */
        assert_int_equal(ngot, nexpected);
        assert_int_equal(wr_aligner_last(a), nexpected ? got[nexpected - 1] : 0);
        /* the receiver stopped with work left only behind an alignment that waits for a
         * channel that ran dry without END */
        for (int c = 0; c < nsrc; c++) {
            if (src[c].head == src[c].n)
                continue;
            assert_true(wr_aligner_blocked(a, c));
            {
                bool dry = false;
                for (int k = 0; k < nsrc; k++)
                    dry |= !src[k].has_end && src[k].head == src[k].n && !wr_aligner_blocked(a, k);
                assert_true(dry);
            }
        }
        wr_aligner_free(a);
    }
    /* the runs exercised both outcomes */
    assert_true(completed_total > 5000);
    assert_true(aborted_total > 500);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(with_one_channel_a_barrier_completes_at_once),
        cmocka_unit_test(four_channels_block_one_by_one_and_snapshot_with_the_last_barrier),
        cmocka_unit_test(an_ended_channel_counts_as_aligned_before_an_alignment),
        cmocka_unit_test(a_channel_ending_during_an_alignment_can_complete_it),
        cmocka_unit_test(when_every_other_channel_ended_a_barrier_completes_at_once),
        cmocka_unit_test(a_newer_barrier_abandons_the_current_alignment),
        cmocka_unit_test(stale_duplicate_and_invalid_barriers_are_ignored),
        cmocka_unit_test(a_barrier_taken_before_done_counts_the_snapshot_as_taken),
        cmocka_unit_test(random_runs_snapshot_exactly_the_items_before_each_barrier),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
