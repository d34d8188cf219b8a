/*
 * test-scheduler.c — subtask placement and partition assignment, with fixed cases and a
 * property test over random clusters checked against properties, not the same greedy.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "scheduler.h"

#include <stdio.h>
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

static void count_per_worker(const int *out, int P, int nworkers, int *counts)
{
    memset(counts, 0, (size_t)nworkers * sizeof *counts);
    for (int i = 0; i < P; i++) {
        assert_true(out[i] >= 0 && out[i] < nworkers);
        counts[out[i]]++;
    }
}

static void four_subtasks_on_three_equal_workers_spread_two_one_one(void **state)
{
    wr_sched_worker w[3] = {{2, 0, true}, {2, 0, true}, {2, 0, true}};
    int out[4], counts[3];
    wr_errbuf eb;

    assert_int_equal(wr_sched_place(w, 3, 4, out, &eb), WR_OK);
    /* one each round-robin, then back to the lowest index */
    assert_int_equal(out[0], 0);
    assert_int_equal(out[1], 1);
    assert_int_equal(out[2], 2);
    assert_int_equal(out[3], 0);
    count_per_worker(out, 4, 3, counts);
    assert_int_equal(counts[0], 2);
    assert_int_equal(counts[1], 1);
    assert_int_equal(counts[2], 1);
    /* the workers themselves are not changed */
    for (int i = 0; i < 3; i++)
        assert_int_equal(w[i].used, 0);
}

static void the_worker_with_the_most_free_slots_is_filled_first(void **state)
{
    /* free: 1, 3, 2 */
    wr_sched_worker w[3] = {{4, 3, true}, {3, 0, true}, {2, 0, true}};
    int out[3], counts[3];
    wr_errbuf eb;

    assert_int_equal(wr_sched_place(w, 3, 3, out, &eb), WR_OK);
    assert_int_equal(out[0], 1); /* 3 free */
    assert_int_equal(out[1], 2); /* 2 vs 2 free: fewer of this job's subtasks wins */
    assert_int_equal(out[2], 1); /* 2 free vs 1, 1 */
    count_per_worker(out, 3, 3, counts);
    assert_int_equal(counts[0], 0);
    assert_int_equal(counts[1], 2);
    assert_int_equal(counts[2], 1);
}

static void dead_workers_get_nothing_even_with_the_most_free_slots(void **state)
{
    wr_sched_worker w[3] = {{8, 0, false}, {2, 0, true}, {8, 0, false}};
    int out[2];
    wr_errbuf eb;

    assert_int_equal(wr_sched_place(w, 3, 2, out, &eb), WR_OK);
    assert_int_equal(out[0], 1);
    assert_int_equal(out[1], 1);
}

static void a_job_that_fits_exactly_uses_every_free_slot(void **state)
{
    wr_sched_worker w[3] = {{3, 1, true}, {1, 0, true}, {4, 1, true}};
    int out[6], counts[3];
    wr_errbuf eb;

    assert_int_equal(wr_sched_place(w, 3, 6, out, &eb), WR_OK);
    count_per_worker(out, 6, 3, counts);
    assert_int_equal(counts[0], 2);
    assert_int_equal(counts[1], 1);
    assert_int_equal(counts[2], 3);
}

static void too_few_free_slots_is_an_error_that_says_how_many_and_leaves_out_alone(void **state)
{
    /* 1 + 0 (overcommitted counts as 0) free on 2 alive; the dead worker does not count */
    wr_sched_worker w[3] = {{2, 1, true}, {1, 2, true}, {10, 0, false}};
    int out[3] = {-7, -7, -7};
    wr_errbuf eb;

    assert_int_equal(wr_sched_place(w, 3, 3, out, &eb), WR_ENOTFOUND);
    assert_string_equal(eb.msg, "not enough free slots: the job needs 3, the cluster has 1 free "
                                "on 2 alive worker(s)");
    for (int i = 0; i < 3; i++)
        assert_int_equal(out[i], -7);

    assert_int_equal(wr_sched_place(NULL, 0, 1, out, &eb), WR_ENOTFOUND);
    assert_string_equal(eb.msg, "not enough free slots: the job needs 1, the cluster has 0 free "
                                "on 0 alive worker(s)");
    assert_int_equal(wr_sched_place(w, 3, 0, out, &eb), WR_EINVAL);
}

static void partitions_go_to_subtask_p_mod_parallelism_in_balanced_shares(void **state)
{
    int32_t parts[64];
    int owner[64];

    for (int n = 0; n <= 64; n++) {
        for (int k = 0; k < n; k++)
            parts[k] = k;
        for (int P = 1; P <= 12; P++) {
            int share[12] = {0};
            wr_sched_assign_partitions(parts, n, P, owner);
            for (int k = 0; k < n; k++) {
                assert_int_equal(owner[k], k % P);
                share[owner[k]]++;
            }
            for (int s = 0; s < P; s++) {
                assert_true(share[s] == n / P || share[s] == (n + P - 1) / P);
            }
        }
    }
    /* a subset of partitions (not 0..n-1) still follows p mod P */
    {
        int32_t some[4] = {7, 2, 12, 5};
        wr_sched_assign_partitions(some, 4, 5, owner);
        assert_int_equal(owner[0], 2);
        assert_int_equal(owner[1], 2);
        assert_int_equal(owner[2], 2);
        assert_int_equal(owner[3], 0);
    }
}

/* Random clusters: the placement is checked against what it must satisfy rather than a
 * second copy of the greedy. */
static void random_placements_respect_free_slots_and_fill_the_emptiest_workers(void **state)
{
    enum { MAXW = 9, MAXP = 40 };
    rng_state = 0x5c4ed;
    for (int round = 0; round < 20000; round++) {
        wr_sched_worker w[MAXW];
        int nw = rnd_in(0, MAXW), P = rnd_in(1, MAXP);
        int free0[MAXW], left[MAXW], counts[MAXW], out[MAXP];
        int total = 0, nalive = 0;
        bool equal = true;
        wr_errbuf eb;
        wr_err err;

        for (int i = 0; i < nw; i++) {
            w[i].slots = rnd_in(1, 8);
            w[i].used = rnd_in(0, w[i].slots + 1); /* sometimes overcommitted */
            w[i].alive = rnd() % 5 != 0;
            free0[i] = w[i].alive && w[i].slots > w[i].used ? w[i].slots - w[i].used : 0;
            total += free0[i];
            nalive += w[i].alive;
            if (i > 0 && free0[i] != free0[0])
                equal = false;
        }
        for (int i = 0; i < MAXP; i++)
            out[i] = -1;
        err = wr_sched_place(w, nw, P, out, &eb);
        if (total < P) {
            char want[WR_ERRBUF_SIZE];
            assert_int_equal(err, WR_ENOTFOUND);
            snprintf(want, sizeof want,
                     "not enough free slots: the job needs %d, the cluster has %d free on %d "
                     "alive worker(s)",
                     P, total, nalive);
            assert_string_equal(eb.msg, want);
            for (int i = 0; i < MAXP; i++)
                assert_int_equal(out[i], -1);
            continue;
        }
        assert_int_equal(err, WR_OK);
        count_per_worker(out, P, nw, counts);
        {
            int sum = 0;
            for (int i = 0; i < nw; i++) {
                assert_true(counts[i] <= free0[i]); /* never beyond the free slots */
                if (!w[i].alive)
                    assert_int_equal(counts[i], 0);
                left[i] = free0[i] - counts[i];
                sum += counts[i];
            }
            assert_int_equal(sum, P);
        }
        /* Water filling: a worker that got a subtask had, when it got its last one, at least
         * as many free slots as any other worker had then (and so has now). */
        for (int a = 0; a < nw; a++)
            for (int b = 0; b < nw; b++)
                if (counts[a] > 0 && w[b].alive)
                    assert_true(left[a] + 1 >= left[b]);
        /* On equal workers this is an even spread: nobody gets 2 more than a worker that
         * still had free slots. */
        if (equal)
            for (int a = 0; a < nw; a++)
                for (int b = 0; b < nw; b++)
                    if (left[b] > 0)
                        assert_true(counts[a] <= counts[b] + 1);
        /* deterministic */
        {
            int again[MAXP];
            assert_int_equal(wr_sched_place(w, nw, P, again, &eb), WR_OK);
            assert_memory_equal(again, out, (size_t)P * sizeof *out);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(four_subtasks_on_three_equal_workers_spread_two_one_one),
        cmocka_unit_test(the_worker_with_the_most_free_slots_is_filled_first),
        cmocka_unit_test(dead_workers_get_nothing_even_with_the_most_free_slots),
        cmocka_unit_test(a_job_that_fits_exactly_uses_every_free_slot),
        cmocka_unit_test(too_few_free_slots_is_an_error_that_says_how_many_and_leaves_out_alone),
        cmocka_unit_test(partitions_go_to_subtask_p_mod_parallelism_in_balanced_shares),
        cmocka_unit_test(random_placements_respect_free_slots_and_fill_the_emptiest_workers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
