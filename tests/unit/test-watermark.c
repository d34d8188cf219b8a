/*
 * test-watermark.c — watermark generation per source subtask (bounded out-of-orderness,
 * idleness, finished partitions) and merging per task input, with simulated time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "watermark.h"

#include <stdlib.h>

static wr_wm cur(wr_wm_source *w, int64_t now)
{
    return wr_wm_source_current(w, now);
}

static void expect_wm(wr_wm got, int64_t time, bool idle)
{
    assert_int_equal(got.time, time);
    assert_int_equal(got.idle, idle);
}

/* ---- source ---------------------------------------------------------------------------- */

static void a_partition_watermark_is_its_max_event_time_minus_the_bound(void **state)
{
    wr_wm_source *w = wr_wm_source_new(1, 100, 0, 0);

    assert_non_null(w);
    expect_wm(cur(w, 0), WR_WM_MIN, false);
    wr_wm_source_observe(w, 0, 1000, 1);
    expect_wm(cur(w, 1), 900, false);
    wr_wm_source_observe(w, 0, 950, 2); /* out of order: the max stays 1000 */
    expect_wm(cur(w, 2), 900, false);
    wr_wm_source_observe(w, 0, 1500, 3);
    expect_wm(cur(w, 3), 1400, false);
    wr_wm_source_free(w);
}

static void a_zero_bound_gives_the_max_event_time_itself(void **state)
{
    wr_wm_source *w = wr_wm_source_new(1, 0, 0, 0);

    wr_wm_source_observe(w, 0, -5, 0); /* event times before 1970 are fine */
    expect_wm(cur(w, 0), -5, false);
    wr_wm_source_free(w);
}

static void the_subtask_watermark_is_the_minimum_over_its_partitions(void **state)
{
    wr_wm_source *w = wr_wm_source_new(3, 10, 0, 0);

    wr_wm_source_observe(w, 0, 3000, 0);
    wr_wm_source_observe(w, 1, 1000, 0);
    expect_wm(cur(w, 0), WR_WM_MIN, false); /* partition 2 has no record yet */
    wr_wm_source_observe(w, 2, 2000, 0);
    expect_wm(cur(w, 0), 990, false);
    wr_wm_source_observe(w, 1, 5000, 0);
    expect_wm(cur(w, 0), 1990, false);
    wr_wm_source_observe(w, 2, 9000, 0);
    expect_wm(cur(w, 0), 2990, false);
    wr_wm_source_free(w);
}

static void a_partition_without_records_holds_the_watermark_at_min_until_idle_timeout(void **state)
{
    wr_wm_source *w = wr_wm_source_new(2, 0, 5000, 1000); /* created at 1000 */

    wr_wm_source_observe(w, 0, 700, 1000);
    wr_wm_source_observe(w, 0, 800, 5000);
    expect_wm(cur(w, 5999), WR_WM_MIN, false);
    /* partition 1: 5000 ms since creation; partition 0 had a record 1000 ms ago */
    expect_wm(cur(w, 6000), 800, false);
    wr_wm_source_free(w);
}

static void without_an_idle_timeout_an_empty_partition_holds_the_watermark_forever(void **state)
{
    wr_wm_source *w = wr_wm_source_new(2, 0, 0, 0);

    for (int64_t now = 0; now < INT64_MAX / 4; now += INT64_MAX / 64) {
        wr_wm_source_observe(w, 0, now, now);
        expect_wm(cur(w, now), WR_WM_MIN, false);
    }
    wr_wm_source_free(w);
}

static void an_idle_partition_stops_holding_back_and_resumes_when_a_record_arrives(void **state)
{
    wr_wm_source *w = wr_wm_source_new(2, 0, 100, 0);

    wr_wm_source_observe(w, 0, 5000, 0);
    wr_wm_source_observe(w, 1, 3000, 0);
    expect_wm(cur(w, 0), 3000, false);
    /* partition 1 goes quiet; partition 0 keeps going */
    wr_wm_source_observe(w, 0, 6000, 60);
    expect_wm(cur(w, 99), 3000, false);
    wr_wm_source_observe(w, 0, 7000, 120);
    expect_wm(cur(w, 120), 7000, false);
    /* partition 1 is back, behind: the watermark does not go back, and holds */
    wr_wm_source_observe(w, 1, 4000, 130);
    expect_wm(cur(w, 130), 7000, false);
    wr_wm_source_observe(w, 0, 9000, 140);
    expect_wm(cur(w, 140), 7000, false);
    wr_wm_source_observe(w, 1, 8000, 150);
    expect_wm(cur(w, 150), 8000, false);
    /* and idleness is measured from its last record again */
    wr_wm_source_observe(w, 0, 9500, 240);
    expect_wm(cur(w, 249), 8000, false);
    expect_wm(cur(w, 250), 9500, false);
    wr_wm_source_free(w);
}

static void when_every_unfinished_partition_is_idle_the_subtask_is_idle_at_their_max(void **state)
{
    wr_wm_source *w = wr_wm_source_new(3, 10, 100, 0);

    wr_wm_source_observe(w, 0, 1000, 0);
    wr_wm_source_observe(w, 1, 4000, 0);
    wr_wm_source_observe(w, 2, 2000, 0);
    expect_wm(cur(w, 50), 990, false);
    expect_wm(cur(w, 100), 3990, true);
    /* a record wakes the subtask; the watermark stays where it was */
    wr_wm_source_observe(w, 0, 1500, 200);
    expect_wm(cur(w, 200), 3990, false);
    wr_wm_source_observe(w, 0, 5000, 210);
    expect_wm(cur(w, 210), 4990, false);
    /* idle again later, at a new max */
    expect_wm(cur(w, 310), 4990, true);
    wr_wm_source_free(w);
}

static void idle_partitions_without_records_make_an_idle_subtask_at_min(void **state)
{
    wr_wm_source *w = wr_wm_source_new(2, 0, 100, 0);

    expect_wm(cur(w, 100), WR_WM_MIN, true);
    wr_wm_source_free(w);
}

static void finished_partitions_no_longer_hold_the_watermark_back(void **state)
{
    wr_wm_source *w = wr_wm_source_new(3, 0, 0, 0);

    wr_wm_source_observe(w, 0, 100, 0);
    wr_wm_source_observe(w, 1, 200, 0);
    expect_wm(cur(w, 0), WR_WM_MIN, false);
    wr_wm_source_finish(w, 2); /* never had a record */
    expect_wm(cur(w, 0), 100, false);
    wr_wm_source_finish(w, 0);
    expect_wm(cur(w, 0), 200, false);
    wr_wm_source_finish(w, 1);
    expect_wm(cur(w, 0), WR_WM_MAX, false);
    expect_wm(cur(w, 1000000), WR_WM_MAX, false);
    wr_wm_source_free(w);
}

static void finished_partitions_are_not_counted_when_the_rest_are_idle(void **state)
{
    wr_wm_source *w = wr_wm_source_new(2, 0, 100, 0);

    wr_wm_source_observe(w, 0, 100, 0);
    wr_wm_source_observe(w, 1, 900, 0);
    wr_wm_source_finish(w, 1);
    expect_wm(cur(w, 50), 100, false);
    expect_wm(cur(w, 100), 100, true); /* partition 1's 900 does not count */
    wr_wm_source_free(w);
}

static void a_subtask_without_partitions_is_at_max_at_once(void **state)
{
    wr_wm_source *w = wr_wm_source_new(0, 1000, 100, 0);

    assert_non_null(w);
    expect_wm(cur(w, 0), WR_WM_MAX, false);
    wr_wm_source_free(w);
}

static void the_source_watermark_saturates_instead_of_overflowing(void **state)
{
    wr_wm_source *w = wr_wm_source_new(1, 1000, 0, 0);
    wr_wm_source *z = wr_wm_source_new(1, 0, 0, 0);
    wr_wm_source *big = wr_wm_source_new(1, INT64_MAX, 0, 0);

    wr_wm_source_observe(w, 0, INT64_MIN + 5, 0);
    expect_wm(cur(w, 0), WR_WM_MIN, false);
    wr_wm_source_observe(w, 0, INT64_MIN + 1000, 0);
    expect_wm(cur(w, 0), WR_WM_MIN, false);
    wr_wm_source_observe(w, 0, INT64_MIN + 1001, 0);
    expect_wm(cur(w, 0), INT64_MIN + 1, false);
    wr_wm_source_observe(w, 0, INT64_MAX, 0);
    expect_wm(cur(w, 0), INT64_MAX - 1000, false);
    wr_wm_source_observe(z, 0, INT64_MAX, 0);
    expect_wm(cur(z, 0), WR_WM_MAX, false);
    wr_wm_source_observe(big, 0, -2, 0);
    expect_wm(cur(big, 0), WR_WM_MIN, false);
    wr_wm_source_observe(big, 0, 0, 0);
    expect_wm(cur(big, 0), INT64_MIN + 1, false);
    wr_wm_source_free(w);
    wr_wm_source_free(z);
    wr_wm_source_free(big);
}

static void idleness_survives_extreme_clock_values(void **state)
{
    wr_wm_source *w = wr_wm_source_new(1, 0, 10, INT64_MIN);

    wr_wm_source_observe(w, 0, 5, INT64_MIN);
    expect_wm(cur(w, INT64_MIN + 9), 5, false);
    expect_wm(cur(w, INT64_MAX), 5, true); /* elapsed saturates, no wrap */
    wr_wm_source_free(w);
}

static uint64_t rng = 1;

static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* A model of one partition, and of the subtask rule, written from the header. */
typedef struct model_part {
    bool seen, finished;
    int64_t max_ts, last_ms;
} model_part;

static wr_wm model_source(const model_part *p, int n, int64_t bound, int64_t idle_ms, int64_t now,
                          wr_wm prev)
{
    int64_t lo = INT64_MAX, hi = INT64_MIN; /* the random values are far from overflow */
    int open = 0, act = 0;
    wr_wm r;

    for (int i = 0; i < n; i++) {
        int64_t t;
        if (p[i].finished)
            continue;
        open++;
        t = p[i].seen ? p[i].max_ts - bound : INT64_MIN;
        if (idle_ms > 0 && now - p[i].last_ms >= idle_ms) {
            hi = t > hi ? t : hi;
        } else {
            act++;
            lo = t < lo ? t : lo;
        }
    }
    r.idle = open > 0 && act == 0;
    r.time = open == 0 ? WR_WM_MAX : act > 0 ? lo : hi;
    if (r.time < prev.time)
        r.time = prev.time;
    return r;
}

static void the_source_watermark_follows_the_rule_and_never_decreases(void **state)
{
    for (int round = 0; round < 100; round++) {
        int n = 1 + (int)(rnd() % 5);
        int64_t bound = (int64_t)(rnd() % 50), idle_ms = (int64_t)(rnd() % 3) * 40;
        int64_t now = (int64_t)(rnd() % 1000);
        wr_wm_source *w = wr_wm_source_new(n, bound, idle_ms, now);
        model_part p[8];
        wr_wm prev = {.time = WR_WM_MIN};

        for (int i = 0; i < n; i++)
            p[i] = (model_part){.last_ms = now};
        for (int step = 0; step < 400; step++) {
            int k = (int)(rnd() % (uint64_t)n);
            wr_wm got, want;

            now += (int64_t)(rnd() % 30);
            if (rnd() % 200 == 0) {
                wr_wm_source_finish(w, k);
                p[k].finished = true;
            } else if (rnd() % 3) {
                int64_t ts = (int64_t)(rnd() % 1000) + step * 3;
                wr_wm_source_observe(w, k, ts, now);
                p[k].max_ts = !p[k].seen || ts > p[k].max_ts ? ts : p[k].max_ts;
                p[k].seen = true;
                p[k].last_ms = now;
            }
            got = cur(w, now);
            want = model_source(p, n, bound, idle_ms, now, prev);
            expect_wm(got, want.time, want.idle);
            assert_true(got.time >= prev.time);
            prev = got;
        }
        wr_wm_source_free(w);
    }
}

/* ---- merge ----------------------------------------------------------------------------- */

static wr_wm active(int64_t t)
{
    wr_wm w = {.time = t, .idle = false};
    return w;
}

static wr_wm idle(int64_t t)
{
    wr_wm w = {.time = t, .idle = true};
    return w;
}

static void the_combined_watermark_is_the_minimum_over_channels(void **state)
{
    wr_wm_merge *m = wr_wm_merge_new(3);
    wr_wm out = {0};

    assert_non_null(m);
    assert_int_equal(wr_wm_merge_current(m), WR_WM_MIN);
    assert_false(wr_wm_merge_update(m, 0, active(100), &out));
    assert_false(wr_wm_merge_update(m, 1, active(300), &out));
    assert_true(wr_wm_merge_update(m, 2, active(200), &out));
    expect_wm(out, 100, false);
    assert_int_equal(wr_wm_merge_current(m), 100);
    assert_false(wr_wm_merge_update(m, 1, active(400), &out)); /* not the minimum */
    assert_true(wr_wm_merge_update(m, 0, active(500), &out));
    expect_wm(out, 200, false);
    wr_wm_merge_free(m);
}

static void an_idle_channel_does_not_hold_the_combined_watermark_back(void **state)
{
    wr_wm_merge *m = wr_wm_merge_new(2);
    wr_wm out = {0};

    assert_false(wr_wm_merge_update(m, 0, active(1000), &out));
    assert_true(wr_wm_merge_update(m, 1, idle(WR_WM_MIN), &out));
    expect_wm(out, 1000, false);
    /* the idle channel comes back behind: no step back, and it holds from now on */
    assert_false(wr_wm_merge_update(m, 1, active(500), &out));
    assert_int_equal(wr_wm_merge_current(m), 1000);
    assert_false(wr_wm_merge_update(m, 0, active(2000), &out));
    assert_true(wr_wm_merge_update(m, 1, active(1500), &out));
    expect_wm(out, 1500, false);
    wr_wm_merge_free(m);
}

static void when_every_channel_is_idle_the_combined_watermark_is_their_maximum(void **state)
{
    wr_wm_merge *m = wr_wm_merge_new(3);
    wr_wm out = {0};

    assert_false(wr_wm_merge_update(m, 0, idle(100), &out));
    assert_false(wr_wm_merge_update(m, 1, idle(700), &out));
    assert_true(wr_wm_merge_update(m, 2, idle(300), &out));
    expect_wm(out, 700, true);
    /* one channel turns active behind it: nothing moves back */
    assert_false(wr_wm_merge_update(m, 0, active(200), &out));
    assert_int_equal(wr_wm_merge_current(m), 700);
    assert_true(wr_wm_merge_update(m, 0, active(800), &out));
    expect_wm(out, 800, false);
    wr_wm_merge_free(m);
}

static void ended_channels_no_longer_hold_the_combined_watermark_back(void **state)
{
    wr_wm_merge *m = wr_wm_merge_new(3);
    wr_wm out = {0};

    wr_wm_merge_update(m, 0, active(100), &out);
    wr_wm_merge_update(m, 1, active(200), &out);
    assert_int_equal(wr_wm_merge_current(m), WR_WM_MIN);
    assert_true(wr_wm_merge_end(m, 2, &out));
    expect_wm(out, 100, false);
    assert_true(wr_wm_merge_end(m, 0, &out));
    expect_wm(out, 200, false);
    assert_false(wr_wm_merge_end(m, 0, &out)); /* twice is harmless */
    /* an ended channel's late watermarks are ignored */
    assert_false(wr_wm_merge_update(m, 0, active(50), &out));
    assert_int_equal(wr_wm_merge_current(m), 200);
    wr_wm_merge_free(m);
}

static void when_every_channel_has_ended_the_combined_watermark_stays(void **state)
{
    wr_wm_merge *m = wr_wm_merge_new(2);
    wr_wm out = {0};

    wr_wm_merge_update(m, 0, active(100), &out);
    wr_wm_merge_update(m, 1, active(200), &out);
    assert_int_equal(wr_wm_merge_current(m), 100);
    assert_true(wr_wm_merge_end(m, 0, &out));
    expect_wm(out, 200, false);
    /* the last channel ends (a graceful stop): nothing moves, nothing fires */
    assert_false(wr_wm_merge_end(m, 1, &out));
    assert_int_equal(wr_wm_merge_current(m), 200);
    wr_wm_merge_free(m);

    /* channels that stop before sending anything leave it at WR_WM_MIN */
    m = wr_wm_merge_new(2);
    assert_false(wr_wm_merge_end(m, 0, &out));
    assert_false(wr_wm_merge_end(m, 1, &out));
    assert_int_equal(wr_wm_merge_current(m), WR_WM_MIN);
    wr_wm_merge_free(m);
}

static void a_merge_without_channels_stays_at_min(void **state)
{
    wr_wm_merge *m = wr_wm_merge_new(0);

    assert_non_null(m);
    assert_int_equal(wr_wm_merge_current(m), WR_WM_MIN);
    wr_wm_merge_free(m);
}

static void a_finished_source_sends_max_and_fires_everything(void **state)
{
    wr_wm_merge *m = wr_wm_merge_new(2);
    wr_wm out = {0};

    wr_wm_merge_update(m, 0, active(100), &out);
    assert_true(wr_wm_merge_update(m, 1, active(WR_WM_MAX), &out));
    expect_wm(out, 100, false);
    assert_true(wr_wm_merge_update(m, 0, active(WR_WM_MAX), &out));
    expect_wm(out, WR_WM_MAX, false);
    assert_false(wr_wm_merge_end(m, 0, &out));
    assert_false(wr_wm_merge_end(m, 1, &out));
    assert_int_equal(wr_wm_merge_current(m), WR_WM_MAX);
    wr_wm_merge_free(m);
}

static void extreme_channel_watermarks_combine_without_overflow(void **state)
{
    wr_wm_merge *m = wr_wm_merge_new(2);
    wr_wm out = {0};

    assert_false(wr_wm_merge_update(m, 0, active(INT64_MIN), &out));
    assert_false(wr_wm_merge_update(m, 1, active(INT64_MAX), &out));
    assert_int_equal(wr_wm_merge_current(m), WR_WM_MIN);
    assert_true(wr_wm_merge_update(m, 0, active(INT64_MIN + 1), &out));
    expect_wm(out, INT64_MIN + 1, false);
    wr_wm_merge_free(m);
}

/* A model of the combining rule, written from the header's contract. */
typedef struct model_chan {
    int64_t time;
    bool idle, ended;
} model_chan;

static int64_t model_combined(const model_chan *c, int n, int64_t prev, bool *idle_out)
{
    int64_t lo = INT64_MAX, hi = INT64_MIN;
    int open = 0, act = 0;

    for (int i = 0; i < n; i++) {
        if (c[i].ended)
            continue;
        open++;
        if (c[i].idle) {
            hi = c[i].time > hi ? c[i].time : hi;
        } else {
            act++;
            lo = c[i].time < lo ? c[i].time : lo;
        }
    }
    *idle_out = open > 0 && act == 0;
    if (open == 0)
        return prev;
    if (act > 0)
        return lo > prev ? lo : prev;
    return hi > prev ? hi : prev;
}

static void the_combined_watermark_follows_the_rule_and_never_decreases(void **state)
{
    for (int round = 0; round < 100; round++) {
        int n = 1 + (int)(rnd() % 6);
        wr_wm_merge *m = wr_wm_merge_new(n);
        model_chan c[8];
        int64_t prev = WR_WM_MIN;

        for (int i = 0; i < n; i++)
            c[i] = (model_chan){.time = WR_WM_MIN};
        for (int step = 0; step < 300; step++) {
            int ch = (int)(rnd() % (uint64_t)n);
            wr_wm out = {0};
            bool adv, want_idle;
            int64_t want;

            if (rnd() % 60 == 0) {
                adv = wr_wm_merge_end(m, ch, &out);
                c[ch].ended = true;
            } else {
                int64_t base = c[ch].time == WR_WM_MIN ? step : c[ch].time;
                int64_t t = base + (int64_t)(rnd() % 40) - 10; /* sometimes behind */
                bool id = rnd() % 4 == 0;
                adv = wr_wm_merge_update(m, ch, id ? idle(t) : active(t), &out);
                if (!c[ch].ended) {
                    c[ch].time = t > c[ch].time ? t : c[ch].time;
                    c[ch].idle = id;
                }
            }
            want = model_combined(c, n, prev, &want_idle);
            assert_int_equal(wr_wm_merge_current(m), want);
            assert_int_equal(adv, want > prev);
            if (adv) {
                expect_wm(out, want, want_idle);
            }
            prev = want;
        }
        wr_wm_merge_free(m);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_partition_watermark_is_its_max_event_time_minus_the_bound),
        cmocka_unit_test(a_zero_bound_gives_the_max_event_time_itself),
        cmocka_unit_test(the_subtask_watermark_is_the_minimum_over_its_partitions),
        cmocka_unit_test(a_partition_without_records_holds_the_watermark_at_min_until_idle_timeout),
        cmocka_unit_test(without_an_idle_timeout_an_empty_partition_holds_the_watermark_forever),
        cmocka_unit_test(an_idle_partition_stops_holding_back_and_resumes_when_a_record_arrives),
        cmocka_unit_test(when_every_unfinished_partition_is_idle_the_subtask_is_idle_at_their_max),
        cmocka_unit_test(idle_partitions_without_records_make_an_idle_subtask_at_min),
        cmocka_unit_test(finished_partitions_no_longer_hold_the_watermark_back),
        cmocka_unit_test(finished_partitions_are_not_counted_when_the_rest_are_idle),
        cmocka_unit_test(a_subtask_without_partitions_is_at_max_at_once),
        cmocka_unit_test(the_source_watermark_saturates_instead_of_overflowing),
        cmocka_unit_test(idleness_survives_extreme_clock_values),
        cmocka_unit_test(the_source_watermark_follows_the_rule_and_never_decreases),
        cmocka_unit_test(the_combined_watermark_is_the_minimum_over_channels),
        cmocka_unit_test(an_idle_channel_does_not_hold_the_combined_watermark_back),
        cmocka_unit_test(when_every_channel_is_idle_the_combined_watermark_is_their_maximum),
        cmocka_unit_test(ended_channels_no_longer_hold_the_combined_watermark_back),
        cmocka_unit_test(when_every_channel_has_ended_the_combined_watermark_stays),
        cmocka_unit_test(a_merge_without_channels_stays_at_min),
        cmocka_unit_test(a_finished_source_sends_max_and_fires_everything),
        cmocka_unit_test(extreme_channel_watermarks_combine_without_overflow),
        cmocka_unit_test(the_combined_watermark_follows_the_rule_and_never_decreases),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
