/*
 * test-checkpoint.c — the checkpoint coordinator stepped with simulated time: trigger
 * timing, acknowledgements, timeouts and declines, the failure count, retention and the
 * reference counts of shared files (checked against a model that recomputes them from the
 * retained checkpoints), corrupt checkpoints, a coordinator restart, and a randomized run
 * of thousands of events checked against an independent model.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "checkpoint.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- fixture helpers ---------------------------------------------------------------- */

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

static wr_ckc *new_ckc(int64_t interval, int64_t timeout, int64_t min_pause, int retained,
                       int tolerable, int ntasks, int64_t next_id)
{
    wr_ckc_config cfg;
    wr_ckc *ck;

    wr_ckc_config_defaults(&cfg);
    cfg.interval_ms = interval;
    cfg.timeout_ms = timeout;
    cfg.min_pause_ms = min_pause;
    cfg.retained = retained;
    cfg.tolerable_failures = tolerable;
    ck = wr_ckc_new(&cfg, ntasks, next_id);
    assert_non_null(ck);
    return ck;
}

typedef struct act {
    wr_cka_kind kind;
    int64_t id;
    char str[256]; /* DELETE: path; FAIL_JOB: reason */
} act;

/* Takes every queued action (copying the strings) and returns how many. */
static int drain(wr_ckc *ck, act *out, int max)
{
    wr_cka a;
    int n = 0;

    while (wr_ckc_next_action(ck, &a)) {
        assert_true(n < max);
        out[n].kind = a.kind;
        out[n].id = a.id;
        out[n].str[0] = '\0';
        if (a.kind == WR_CKA_DELETE) {
            assert_non_null(a.path);
            assert_null(a.reason);
            snprintf(out[n].str, sizeof out[n].str, "%s", a.path);
        } else if (a.kind == WR_CKA_FAIL_JOB) {
            assert_non_null(a.reason);
            assert_null(a.path);
            snprintf(out[n].str, sizeof out[n].str, "%s", a.reason);
        } else {
            assert_null(a.path);
            assert_null(a.reason);
        }
        n++;
    }
    return n;
}

static void no_actions(wr_ckc *ck)
{
    wr_cka a;
    assert_false(wr_ckc_next_action(ck, &a));
}

static void expect_one(wr_ckc *ck, wr_cka_kind kind, int64_t id)
{
    act a[4];
    assert_int_equal(drain(ck, a, 4), 1);
    assert_int_equal(a[0].kind, kind);
    assert_int_equal(a[0].id, id);
}

/* Every task acknowledges id with the same shared paths (NULL-terminated list). */
static void ack_all(wr_ckc *ck, int64_t now, uint32_t attempt, int64_t id, int ntasks,
                    const char *const *shared)
{
    int n = 0;
    while (shared && shared[n])
        n++;
    for (int t = 0; t < ntasks; t++) {
        char blob[32];
        int len = snprintf(blob, sizeof blob, "ack %" PRId64 "/%d", id, t);
        assert_true(wr_ckc_ack(ck, now, attempt, id, t, blob, (size_t)len, shared, n, 100, 10));
    }
}

/* ---- trigger timing ------------------------------------------------------------------ */

static void triggers_come_an_interval_after_start_and_after_the_previous_trigger(void **state)
{
    wr_ckc *ck = new_ckc(1000, 600000, 0, 3, 3, 1, 1);
    const wr_ck_entry *e;

    /* nothing before start */
    wr_ckc_tick(ck, 0);
    wr_ckc_tick(ck, 50000);
    no_actions(ck);
    assert_false(wr_ckc_running(ck));
    assert_int_equal(wr_ckc_count(ck), 0);

    wr_ckc_start(ck, 10000, 1);
    assert_true(wr_ckc_running(ck));
    wr_ckc_tick(ck, 10999);
    no_actions(ck);
    wr_ckc_tick(ck, 11000);
    expect_one(ck, WR_CKA_TRIGGER, 1);
    e = wr_ckc_find(ck, 1);
    assert_non_null(e);
    assert_int_equal(e->status, WR_CK_PENDING);
    assert_string_equal(wr_ck_status_name(e->status), "IN_PROGRESS");
    assert_int_equal(e->trigger_ms, 11000);
    assert_int_equal(e->end_ms, 0);
    assert_int_equal(e->attempt, 1);
    assert_int_equal(e->ntasks, 1);
    assert_int_equal(e->nacks, 0);
    assert_int_equal(wr_ckc_next_id(ck), 2);

    /* the interval passed, but one is pending */
    wr_ckc_tick(ck, 12500);
    no_actions(ck);
    ack_all(ck, 12600, 1, 1, 1, NULL);
    expect_one(ck, WR_CKA_COMPLETE, 1);
    /* 11000 + 1000 is long past: the next comes at once */
    wr_ckc_tick(ck, 12600);
    expect_one(ck, WR_CKA_TRIGGER, 2);
    ack_all(ck, 12700, 1, 2, 1, NULL);
    expect_one(ck, WR_CKA_COMPLETE, 2);
    wr_ckc_tick(ck, 13599);
    no_actions(ck);
    wr_ckc_tick(ck, 13600);
    expect_one(ck, WR_CKA_TRIGGER, 3);

    /* stop: the pending one fails without counting, nothing more is triggered */
    wr_ckc_stop(ck, 13700, "job canceled");
    assert_false(wr_ckc_running(ck));
    e = wr_ckc_find(ck, 3);
    assert_int_equal(e->status, WR_CK_FAILED);
    assert_string_equal(e->reason, "job canceled");
    assert_int_equal(e->end_ms, 13700);
    assert_int_equal(wr_ckc_failures(ck), 0);
    wr_ckc_tick(ck, 1000000);
    no_actions(ck);

    /* a new start: again interval after start, for the new attempt */
    wr_ckc_start(ck, 2000000, 2);
    wr_ckc_tick(ck, 2000999);
    no_actions(ck);
    wr_ckc_tick(ck, 2001000);
    expect_one(ck, WR_CKA_TRIGGER, 4);
    assert_int_equal(wr_ckc_find(ck, 4)->attempt, 2);
    wr_ckc_free(ck);
}

static void the_next_trigger_waits_min_pause_after_the_previous_end(void **state)
{
    wr_ckc *ck = new_ckc(1000, 600000, 800, 3, 3, 1, 1);

    wr_ckc_start(ck, 0, 1);
    wr_ckc_tick(ck, 1000);
    expect_one(ck, WR_CKA_TRIGGER, 1);
    ack_all(ck, 1900, 1, 1, 1, NULL);
    expect_one(ck, WR_CKA_COMPLETE, 1);
    /* interval says 2000, min pause says 1900 + 800 */
    wr_ckc_tick(ck, 2000);
    wr_ckc_tick(ck, 2699);
    no_actions(ck);
    wr_ckc_tick(ck, 2700);
    expect_one(ck, WR_CKA_TRIGGER, 2);
    /* a quick one: the interval (3700) is later than the pause (2750 + 800) */
    ack_all(ck, 2750, 1, 2, 1, NULL);
    expect_one(ck, WR_CKA_COMPLETE, 2);
    wr_ckc_tick(ck, 3699);
    no_actions(ck);
    wr_ckc_tick(ck, 3700);
    expect_one(ck, WR_CKA_TRIGGER, 3);
    /* a failed one counts as ended too */
    wr_ckc_decline(ck, 4500, 1, 3, "task 0 declined: snapshot failed", false);
    no_actions(ck);
    wr_ckc_tick(ck, 5299);
    no_actions(ck);
    wr_ckc_tick(ck, 5300);
    expect_one(ck, WR_CKA_TRIGGER, 4);
    wr_ckc_free(ck);
}

static void interval_zero_never_triggers_and_ids_start_at_next_id(void **state)
{
    wr_ckc_config cfg;
    wr_ckc *ck = new_ckc(0, 600000, 0, 3, 3, 2, 1);

    wr_ckc_start(ck, 0, 1);
    for (int64_t t = 0; t < 10000000; t += 99999)
        wr_ckc_tick(ck, t);
    no_actions(ck);
    assert_int_equal(wr_ckc_count(ck), 0);
    wr_ckc_free(ck);

    ck = new_ckc(500, 600000, 0, 3, 3, 2, 7);
    assert_int_equal(wr_ckc_next_id(ck), 7);
    wr_ckc_start(ck, 0, 1);
    wr_ckc_tick(ck, 500);
    expect_one(ck, WR_CKA_TRIGGER, 7);
    assert_int_equal(wr_ckc_next_id(ck), 8);
    /* a second start of the running attempt changes nothing */
    wr_ckc_start(ck, 600, 1);
    assert_int_equal(wr_ckc_find(ck, 7)->status, WR_CK_PENDING);
    /* a start of a new attempt abandons the old attempt's checkpoint, not counted */
    wr_ckc_start(ck, 700, 2);
    assert_int_equal(wr_ckc_find(ck, 7)->status, WR_CK_FAILED);
    assert_string_equal(wr_ckc_find(ck, 7)->reason, "attempt 1 was replaced by attempt 2");
    assert_int_equal(wr_ckc_failures(ck), 0);
    wr_ckc_tick(ck, 1199);
    no_actions(ck);
    wr_ckc_tick(ck, 1200);
    expect_one(ck, WR_CKA_TRIGGER, 8);
    wr_ckc_free(ck);

    /* defaults, and zeros that are not meaningful become defaults */
    wr_ckc_config_defaults(&cfg);
    assert_int_equal(cfg.interval_ms, 0);
    assert_int_equal(cfg.timeout_ms, 600000);
    assert_int_equal(cfg.min_pause_ms, 0);
    assert_int_equal(cfg.retained, 3);
    assert_int_equal(cfg.tolerable_failures, 3);
    assert_int_equal(cfg.history, 50);
    cfg.interval_ms = 10;
    cfg.timeout_ms = 0;
    cfg.retained = 0;
    cfg.history = 0;
    ck = wr_ckc_new(&cfg, 1, 1);
    wr_ckc_start(ck, 0, 1);
    wr_ckc_tick(ck, 10);
    expect_one(ck, WR_CKA_TRIGGER, 1);
    wr_ckc_tick(ck, 600009);
    no_actions(ck);
    wr_ckc_tick(ck, 600010); /* the default timeout */
    assert_int_equal(wr_ckc_find(ck, 1)->status, WR_CK_FAILED);
    assert_string_equal(wr_ckc_find(ck, 1)->reason, "timed out after 600.0 s");
    wr_ckc_free(ck);

    assert_null(wr_ckc_new(&cfg, 0, 1));
    assert_null(wr_ckc_new(&cfg, 1, 0));
    wr_ckc_free(NULL);
    assert_string_equal(wr_ck_status_name(WR_CK_COMPLETED), "COMPLETED");
    assert_string_equal(wr_ck_status_name(WR_CK_FAILED), "FAILED");
}

/* ---- acknowledgements ---------------------------------------------------------------- */

static void a_checkpoint_completes_when_every_task_acked_and_other_acks_are_ignored(void **state)
{
    wr_ckc *ck = new_ckc(1000, 600000, 0, 3, 3, 3, 1);
    const char *files0[] = {"j/shared/s0-a1-1.sst", "j/shared/s0-a1-2.sst"};
    const char *files2[] = {"j/shared/s2-a1-1.sst"};
    char blob[16];
    const wr_ck_entry *e;

    wr_ckc_start(ck, 0, 1);
    assert_false(wr_ckc_ack(ck, 5, 1, 1, 0, "x", 1, NULL, 0, 0, 0)); /* nothing pending */
    wr_ckc_tick(ck, 1000);
    expect_one(ck, WR_CKA_TRIGGER, 1);

    memcpy(blob, "task-0-ack", 11);
    assert_true(wr_ckc_ack(ck, 1100, 1, 1, 0, blob, 11, files0, 2, 1000, 300));
    memset(blob, 'x', sizeof blob); /* the blob was copied */
    /* duplicates, other attempts, other ids and tasks out of range are ignored */
    assert_false(wr_ckc_ack(ck, 1110, 1, 1, 0, "again", 6, files0, 2, 1000, 300));
    assert_false(wr_ckc_ack(ck, 1120, 2, 1, 1, "other attempt", 14, NULL, 0, 1, 1));
    assert_false(wr_ckc_ack(ck, 1130, 1, 2, 1, "other id", 9, NULL, 0, 1, 1));
    assert_false(wr_ckc_ack(ck, 1140, 1, 0, 1, "no id", 6, NULL, 0, 1, 1));
    assert_false(wr_ckc_ack(ck, 1150, 1, 1, 3, "task 3", 7, NULL, 0, 1, 1));
    assert_false(wr_ckc_ack(ck, 1160, 1, 1, -1, "task -1", 8, NULL, 0, 1, 1));
    assert_true(wr_ckc_ack(ck, 1200, 1, 1, 2, "task-2-ack", 11, files2, 1, 500, 500));
    no_actions(ck);
    e = wr_ckc_find(ck, 1);
    assert_int_equal(e->status, WR_CK_PENDING);
    assert_int_equal(e->nacks, 2);
    assert_null(e->blobs[1]);
    /* shared files of a pending checkpoint are not counted yet */
    assert_int_equal(wr_ckc_refs(ck, files0[0]), 0);
    assert_null(wr_ckc_latest(ck));

    /* an empty blob is an ack too */
    assert_true(wr_ckc_ack(ck, 1300, 1, 1, 1, NULL, 0, NULL, 0, 0, 0));
    expect_one(ck, WR_CKA_COMPLETE, 1);
    e = wr_ckc_find(ck, 1);
    assert_int_equal(e->status, WR_CK_COMPLETED);
    assert_int_equal(e->end_ms, 1300);
    assert_int_equal(e->nacks, 3);
    assert_int_equal(e->state_bytes, 1500);
    assert_int_equal(e->uploaded_bytes, 800);
    assert_true(e->retained);
    assert_false(e->corrupt);
    assert_null(e->reason);
    assert_int_equal(e->blob_lens[0], 11);
    assert_memory_equal(e->blobs[0], "task-0-ack", 11);
    assert_non_null(e->blobs[1]);
    assert_int_equal(e->blob_lens[1], 0);
    assert_memory_equal(e->blobs[2], "task-2-ack", 11);
    assert_ptr_equal(wr_ckc_latest(ck), e);
    assert_int_equal(wr_ckc_refs(ck, files0[0]), 1);
    assert_int_equal(wr_ckc_refs(ck, files0[1]), 1);
    assert_int_equal(wr_ckc_refs(ck, files2[0]), 1);
    assert_int_equal(wr_ckc_refs(ck, "j/shared/unknown.sst"), 0);
    assert_int_equal(wr_ckc_refs(ck, NULL), 0);
    /* late acks of a completed checkpoint are ignored */
    assert_false(wr_ckc_ack(ck, 1400, 1, 1, 1, "late", 4, NULL, 0, 0, 0));
    assert_int_equal(wr_ckc_count(ck), 1);
    assert_ptr_equal(wr_ckc_entry(ck, 0), e);
    assert_null(wr_ckc_entry(ck, 1));
    assert_null(wr_ckc_entry(ck, -1));
    assert_null(wr_ckc_find(ck, 2));
    wr_ckc_free(ck);
}

static void complete_comes_before_the_discard_of_the_checkpoint_it_replaces(void **state)
{
    wr_ckc *ck = new_ckc(1000, 600000, 0, 1, 3, 2, 1);
    const char *f1[] = {"j/shared/a", "j/shared/b", NULL};
    const char *f2[] = {"j/shared/b", "j/shared/c", "j/shared/b", NULL}; /* b twice */
    act a[8];

    wr_ckc_start(ck, 0, 1);
    wr_ckc_tick(ck, 1000);
    expect_one(ck, WR_CKA_TRIGGER, 1);
    ack_all(ck, 1100, 1, 1, 2, f1);
    expect_one(ck, WR_CKA_COMPLETE, 1);
    wr_ckc_tick(ck, 2000);
    expect_one(ck, WR_CKA_TRIGGER, 2);
    ack_all(ck, 2100, 1, 2, 2, f2);
    assert_int_equal(drain(ck, a, 8), 3);
    assert_int_equal(a[0].kind, WR_CKA_COMPLETE);
    assert_int_equal(a[0].id, 2);
    assert_int_equal(a[1].kind, WR_CKA_DISCARD);
    assert_int_equal(a[1].id, 1);
    assert_int_equal(a[2].kind, WR_CKA_DELETE);
    assert_string_equal(a[2].str, "j/shared/a");
    /* a path named by several tasks (and twice by one) counts once per checkpoint */
    assert_int_equal(wr_ckc_refs(ck, "j/shared/a"), 0);
    assert_int_equal(wr_ckc_refs(ck, "j/shared/b"), 1);
    assert_int_equal(wr_ckc_refs(ck, "j/shared/c"), 1);
    assert_false(wr_ckc_find(ck, 1)->retained);
    assert_int_equal(wr_ckc_find(ck, 1)->status, WR_CK_COMPLETED);
    assert_int_equal(wr_ckc_latest(ck)->id, 2);
    wr_ckc_free(ck);
}

/* ---- failures ------------------------------------------------------------------------ */

static void too_many_consecutive_timeouts_fail_the_job_exactly_once(void **state)
{
    wr_ckc *ck = new_ckc(1000, 10000, 0, 3, 3, 2, 4);
    int64_t now = 0;
    act a[8];
    int n;

    wr_ckc_start(ck, now, 1);
    wr_ckc_tick(ck, 1000);
    expect_one(ck, WR_CKA_TRIGGER, 4);
    for (int64_t id = 4; id <= 6; id++) {
        const wr_ck_entry *e;
        int64_t trig = wr_ckc_find(ck, id)->trigger_ms;
        /* one task acks, the other never does */
        assert_true(wr_ckc_ack(ck, trig + 10, 1, id, 0, "a", 1, NULL, 0, 0, 0));
        wr_ckc_tick(ck, trig + 9999);
        no_actions(ck);
        wr_ckc_tick(ck, trig + 10000);
        e = wr_ckc_find(ck, id);
        assert_int_equal(e->status, WR_CK_FAILED);
        assert_string_equal(e->reason, "timed out after 10.0 s");
        assert_string_equal(wr_ck_status_name(e->status), "FAILED");
        assert_int_equal(e->end_ms, trig + 10000);
        assert_int_equal(e->nacks, 1);
        assert_int_equal(wr_ckc_failures(ck), (int)(id - 3));
        /* the interval passed long ago: the next one comes in the same tick */
        expect_one(ck, WR_CKA_TRIGGER, id + 1);
        now = trig + 10000;
    }
    /* an ack that arrives after the timeout, before the tick saw it, is too late */
    assert_false(wr_ckc_ack(ck, now + 10000, 1, 7, 0, "late", 4, NULL, 0, 0, 0));
    assert_int_equal(wr_ckc_find(ck, 7)->status, WR_CK_FAILED);
    assert_int_equal(wr_ckc_failures(ck), 4);
    n = drain(ck, a, 8);
    assert_int_equal(n, 1);
    assert_int_equal(a[0].kind, WR_CKA_FAIL_JOB);
    assert_string_equal(a[0].str, "checkpoint 7 failed: timed out after 10.0 s; 4 consecutive "
                                  "failed checkpoints exceed checkpoint.tolerable_failures (3)");
    /* no more triggers, no second FAIL_JOB, until the next start */
    for (int64_t t = now + 10000; t < now + 1000000; t += 777)
        wr_ckc_tick(ck, t);
    no_actions(ck);
    wr_ckc_stop(ck, now + 1000000, "job failed");
    no_actions(ck);
    /* the restarted job gets a fresh count */
    wr_ckc_start(ck, now + 2000000, 2);
    assert_int_equal(wr_ckc_failures(ck), 0);
    wr_ckc_tick(ck, now + 2001000);
    expect_one(ck, WR_CKA_TRIGGER, 8);
    wr_ckc_free(ck);

    /* tolerable 0: the first failure fails the job */
    ck = new_ckc(1000, 10000, 0, 3, 0, 1, 1);
    wr_ckc_start(ck, 0, 1);
    wr_ckc_tick(ck, 1000);
    expect_one(ck, WR_CKA_TRIGGER, 1);
    wr_ckc_decline(ck, 1500, 1, 1, "task 0 declined: upload failed", false);
    n = drain(ck, a, 8);
    assert_int_equal(n, 1);
    assert_int_equal(a[0].kind, WR_CKA_FAIL_JOB);
    assert_string_equal(a[0].str, "checkpoint 1 failed: task 0 declined: upload failed; 1 failed "
                                  "checkpoint exceeds checkpoint.tolerable_failures (0)");
    wr_ckc_free(ck);
}

static void declines_count_a_completion_resets_and_stops_do_not_count(void **state)
{
    wr_ckc *ck = new_ckc(1000, 10000, 0, 3, 2, 2, 1);
    int64_t t = 0;
    int64_t id = 1;

    wr_ckc_start(ck, 0, 1);
    /* two declines (the limit is 2: not exceeded) */
    for (int k = 1; k <= 2; k++) {
        t += 1000;
        wr_ckc_tick(ck, t);
        expect_one(ck, WR_CKA_TRIGGER, id);
        /* declines of another attempt or id are ignored */
        wr_ckc_decline(ck, t + 1, 2, id, "other attempt", false);
        wr_ckc_decline(ck, t + 1, 1, id + 1, "other id", false);
        assert_int_equal(wr_ckc_find(ck, id)->status, WR_CK_PENDING);
        wr_ckc_decline(ck, t + 2, 1, id, "task 1 declined: disk full", false);
        assert_int_equal(wr_ckc_find(ck, id)->status, WR_CK_FAILED);
        assert_string_equal(wr_ckc_find(ck, id)->reason, "task 1 declined: disk full");
        assert_int_equal(wr_ckc_find(ck, id)->end_ms, t + 2);
        assert_int_equal(wr_ckc_failures(ck), k);
        id++;
    }
    /* a completion resets the count */
    t += 1000;
    wr_ckc_tick(ck, t);
    expect_one(ck, WR_CKA_TRIGGER, id);
    ack_all(ck, t + 5, 1, id, 2, NULL);
    expect_one(ck, WR_CKA_COMPLETE, id);
    assert_int_equal(wr_ckc_failures(ck), 0);
    id++;

    /* a decline by a finished task does not count and stops triggering */
    t += 1000;
    wr_ckc_tick(ck, t);
    expect_one(ck, WR_CKA_TRIGGER, id);
    wr_ckc_decline(ck, t + 3, 1, id, "task 0 finished", true);
    assert_int_equal(wr_ckc_find(ck, id)->status, WR_CK_FAILED);
    assert_int_equal(wr_ckc_failures(ck), 0);
    assert_false(wr_ckc_running(ck));
    wr_ckc_tick(ck, t + 100000);
    no_actions(ck);
    id++;

    /* neither does a stop; three counted failures after that fail the job */
    wr_ckc_start(ck, t + 200000, 2);
    t += 200000;
    t += 1000;
    wr_ckc_tick(ck, t);
    expect_one(ck, WR_CKA_TRIGGER, id);
    wr_ckc_stop(ck, t + 1, NULL);
    assert_string_equal(wr_ckc_find(ck, id)->reason, "the job stopped");
    assert_int_equal(wr_ckc_failures(ck), 0);
    no_actions(ck);
    id++;
    wr_ckc_start(ck, t + 10, 2);
    t += 10;
    for (int k = 1; k <= 3; k++) {
        act a[4];
        t += 1000;
        wr_ckc_tick(ck, t);
        expect_one(ck, WR_CKA_TRIGGER, id);
        wr_ckc_decline(ck, t + 1, 2, id, "task 1 declined: disk full", false);
        assert_int_equal(wr_ckc_failures(ck), k);
        if (k < 3) {
            no_actions(ck);
        } else {
            assert_int_equal(drain(ck, a, 4), 1);
            assert_int_equal(a[0].kind, WR_CKA_FAIL_JOB);
            assert_int_equal(a[0].id, id);
        }
        id++;
    }
    wr_ckc_free(ck);
}

/* ---- retention and reference counts --------------------------------------------------- */

enum { MAXFILES = 1 << 16, MAXSETS = 4096, MAXT = 4, MAXLIVE = 12, MAXSET = MAXLIVE + 2 };

static const char *fname(int f)
{
    static char buf[4][48];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "job/shared/s-%d.sst", f);
    return buf[k];
}

static int fnum(const char *path)
{
    int f = -1;
    assert_int_equal(sscanf(path, "job/shared/s-%d.sst", &f), 1);
    assert_true(f >= 0 && f < MAXFILES);
    return f;
}

/* Per-task live files: what a task's RocksDB holds. A file leaves for good (its name is
 * never used again), as SST files do. */
typedef struct tasks {
    int ntasks;
    int live[MAXT][MAXLIVE];
    int nlive[MAXT];
    int nextf;
} tasks;

static int new_file(tasks *ts)
{
    assert_true(ts->nextf < MAXFILES);
    return ts->nextf++;
}

static void tasks_evolve(tasks *ts, int t)
{
    if (ts->nlive[t] > 0 && chance(50)) {
        int k = rnd_in(0, ts->nlive[t] - 1);
        ts->live[t][k] = ts->live[t][--ts->nlive[t]];
    }
    if (ts->nlive[t] < MAXLIVE && chance(70))
        ts->live[t][ts->nlive[t]++] = new_file(ts);
}

/* Task t's ack: its live files, sometimes one of them twice, sometimes a live file of
 * another task too. */
static int tasks_ack_files(const tasks *ts, int t, int *files)
{
    int n = 0, u = rnd_in(0, ts->ntasks - 1);
    for (int k = 0; k < ts->nlive[t]; k++)
        files[n++] = ts->live[t][k];
    if (n > 0 && chance(15)) {
        files[n] = files[rnd_in(0, n - 1)];
        n++;
    }
    if (ts->nlive[u] > 0 && chance(15))
        files[n++] = ts->live[u][rnd_in(0, ts->nlive[u] - 1)];
    return n;
}

static bool ack_files(wr_ckc *ck, int64_t now, uint32_t attempt, int64_t id, int t,
                      const int *files, int n)
{
    char names[MAXSET][48];
    const char *ptrs[MAXSET];
    char blob[32];
    int len = snprintf(blob, sizeof blob, "%" PRId64 ":%d", id, t);

    assert_true(n <= MAXSET);
    for (int k = 0; k < n; k++) {
        snprintf(names[k], sizeof names[k], "%s", fname(files[k]));
        ptrs[k] = names[k];
    }
    return wr_ckc_ack(ck, now, attempt, id, t, blob, (size_t)len, ptrs, n, 7, 3);
}

/* The model's view of one checkpoint: the distinct files its taken acks named. */
typedef struct mset {
    int64_t id;
    int n;
    int files[MAXT * MAXSET];
} mset;

static void mset_add(mset *s, int f)
{
    for (int k = 0; k < s->n; k++)
        if (s->files[k] == f)
            return;
    assert_true(s->n < MAXT * MAXSET);
    s->files[s->n++] = f;
}

/* The model's retained checkpoints (oldest first) and what it knows about files. */
typedef struct refmodel {
    mset *ret[MAXSETS];
    int nret;
    bool known[MAXFILES]; /* referenced by a retained checkpoint, not deleted yet */
    int known_list[MAXFILES];
    int nknown;
    bool deleted[MAXFILES]; /* a DELETE was seen */
    int cnt[MAXFILES];      /* scratch: counts recomputed from the retained sets */
    bool del_now[MAXFILES]; /* scratch */
} refmodel;

static void model_retire_oldest(refmodel *m)
{
    memmove(m->ret, m->ret + 1, (size_t)(m->nret - 1) * sizeof m->ret[0]);
    m->nret--;
}

static void model_remove(refmodel *m, int at)
{
    memmove(&m->ret[at], &m->ret[at + 1], (size_t)(m->nret - at - 1) * sizeof m->ret[0]);
    m->nret--;
}

/* After an event: recompute every count from the retained sets. The DELETEs seen (dels)
 * must be exactly the known files that no retained checkpoint names any more, except
 * those the pending checkpoint's acks name (`pending`, may be NULL): never one still
 * referenced, never twice. Every count the coordinator keeps must be the model's. */
static void check_refs(wr_ckc *ck, refmodel *m, const int *dels, int ndels, const bool *pending,
                       int nfiles)
{
    int kept = 0;

    for (int i = 0; i < m->nret; i++)
        for (int k = 0; k < m->ret[i]->n; k++)
            m->cnt[m->ret[i]->files[k]]++;
    for (int k = 0; k < ndels; k++) {
        int f = dels[k];
        assert_false(m->deleted[f]); /* never twice */
        assert_false(m->del_now[f]);
        assert_true(m->known[f]);            /* only a file a retained checkpoint used */
        assert_int_equal(m->cnt[f], 0);      /* never one still referenced */
        assert_false(pending && pending[f]); /* nor one a pending checkpoint names */
        m->del_now[f] = true;
        m->deleted[f] = true;
        assert_int_equal(wr_ckc_refs(ck, fname(f)), 0);
    }
    for (int i = 0; i < m->nknown; i++) {
        int f = m->known_list[i];
        if (m->cnt[f] == 0 && !(pending && pending[f]))
            assert_true(m->del_now[f]); /* deleted as soon as nothing uses it */
        if (m->del_now[f]) {
            m->known[f] = false;
            continue;
        }
        m->known_list[kept++] = f;
        assert_int_equal(wr_ckc_refs(ck, fname(f)), m->cnt[f]);
    }
    m->nknown = kept;
    for (int i = 0; i < m->nret; i++)
        for (int k = 0; k < m->ret[i]->n; k++) {
            int f = m->ret[i]->files[k];
            if (!m->known[f]) {
                m->known[f] = true;
                m->known_list[m->nknown++] = f;
                assert_int_equal(wr_ckc_refs(ck, fname(f)), m->cnt[f]);
            }
        }
    /* a few files chosen at random: counted exactly as the model says (mostly 0) */
    for (int k = 0; nfiles > 0 && k < 4; k++) {
        int f = rnd_in(0, nfiles - 1);
        assert_int_equal(wr_ckc_refs(ck, fname(f)), m->cnt[f]);
    }
    for (int i = 0; i < m->nret; i++)
        for (int k = 0; k < m->ret[i]->n; k++)
            m->cnt[m->ret[i]->files[k]] = 0;
    for (int k = 0; k < ndels; k++)
        m->del_now[dels[k]] = false;
}

static void retention_deletes_a_file_exactly_when_no_retained_checkpoint_uses_it(void **state)
{
    enum { NCK = 300, NTASKS = 3, RETAINED = 2 };
    wr_ckc *ck = new_ckc(1000, 600000, 0, RETAINED, 3, NTASKS, 1);
    static refmodel m;
    static mset sets[NCK + 1];
    tasks ts = {0};
    int64_t now = 0;
    int total_dels = 0;

    memset(&m, 0, sizeof m);
    rng_state = 0xc0ffee;
    ts.ntasks = NTASKS;
    wr_ckc_start(ck, 0, 1);
    for (int64_t id = 1; id <= NCK; id++) {
        act a[128];
        int n, dels[128], ndels = 0, ndiscard = 0;
        mset *s = &sets[id];

        for (int t = 0; t < NTASKS; t++)
            for (int k = rnd_in(0, 3); k > 0; k--)
                tasks_evolve(&ts, t);
        now += 1000;
        wr_ckc_tick(ck, now);
        expect_one(ck, WR_CKA_TRIGGER, id);
        memset(s, 0, sizeof *s);
        s->id = id;
        for (int t = 0; t < NTASKS; t++) {
            int files[MAXSET], nf = tasks_ack_files(&ts, t, files);
            for (int k = 0; k < nf; k++)
                mset_add(s, files[k]);
            assert_true(ack_files(ck, now + 10 + t, 1, id, t, files, nf));
            if (t < NTASKS - 1)
                no_actions(ck);
        }
        n = drain(ck, a, 128);
        assert_true(n >= 1);
        assert_int_equal(a[0].kind, WR_CKA_COMPLETE);
        assert_int_equal(a[0].id, id);
        for (int k = 1; k < n; k++) {
            if (a[k].kind == WR_CKA_DISCARD) {
                /* exactly the one falling out of retention, before its DELETEs */
                assert_int_equal(ndels, 0);
                assert_int_equal(a[k].id, id - RETAINED);
                ndiscard++;
            } else {
                assert_int_equal(a[k].kind, WR_CKA_DELETE);
                dels[ndels++] = fnum(a[k].str);
            }
        }
        assert_int_equal(ndiscard, id > RETAINED ? 1 : 0);
        /* the model: the newest RETAINED completed ones */
        m.ret[m.nret++] = s;
        if (m.nret > RETAINED)
            model_retire_oldest(&m);
        check_refs(ck, &m, dels, ndels, NULL, ts.nextf);
        total_dels += ndels;
        assert_int_equal(wr_ckc_latest(ck)->id, id);
        assert_true(wr_ckc_find(ck, id - 1 > 0 ? id - 1 : id)->retained);
        /* history (50 by default): the newest 50 are kept, older ones (not retained)
         * forgotten */
        for (int64_t old = 1; old <= id; old++) {
            if (old > id - 50)
                assert_non_null(wr_ckc_find(ck, old));
            else
                assert_null(wr_ckc_find(ck, old));
        }
        assert_true(wr_ckc_count(ck) <= 50);
    }
    assert_true(total_dels > 100);
    wr_ckc_free(ck);
}

/* ---- corrupt checkpoints --------------------------------------------------------------- */

static void complete_one(wr_ckc *ck, int64_t *now, int64_t id, int ntasks,
                         const char *const *shared)
{
    act a[16];
    *now += 1000;
    wr_ckc_tick(ck, *now);
    expect_one(ck, WR_CKA_TRIGGER, id);
    ack_all(ck, *now + 1, 1, id, ntasks, shared);
    assert_true(drain(ck, a, 16) >= 1);
    assert_int_equal(a[0].kind, WR_CKA_COMPLETE);
    assert_int_equal(a[0].id, id);
}

static void a_corrupt_checkpoint_is_discarded_and_latest_falls_back(void **state)
{
    wr_ckc *ck = new_ckc(1000, 600000, 0, 3, 3, 2, 1);
    const char *f1[] = {"a", "b", NULL}, *f2[] = {"b", "c", NULL}, *f3[] = {"c", "d", NULL};
    int64_t now = 0;
    const wr_ck_entry *e;
    act a[8];

    wr_ckc_start(ck, 0, 1);
    complete_one(ck, &now, 1, 2, f1);
    complete_one(ck, &now, 2, 2, f2);
    complete_one(ck, &now, 3, 2, f3);
    assert_int_equal(wr_ckc_latest(ck)->id, 3);
    assert_int_equal(wr_ckc_refs(ck, "c"), 2);

    wr_ckc_mark_corrupt(ck, 3, "chk-3/a1-s0/MANIFEST: checksum mismatch");
    assert_int_equal(drain(ck, a, 8), 2);
    assert_int_equal(a[0].kind, WR_CKA_DISCARD);
    assert_int_equal(a[0].id, 3);
    assert_int_equal(a[1].kind, WR_CKA_DELETE);
    assert_string_equal(a[1].str, "d"); /* only 3 used d; c is still 2's */
    e = wr_ckc_find(ck, 3);
    assert_true(e->corrupt);
    assert_false(e->retained);
    assert_int_equal(e->status, WR_CK_COMPLETED);
    assert_string_equal(e->reason, "chk-3/a1-s0/MANIFEST: checksum mismatch");
    assert_int_equal(wr_ckc_latest(ck)->id, 2);
    assert_int_equal(wr_ckc_refs(ck, "c"), 1);
    assert_int_equal(wr_ckc_refs(ck, "d"), 0);

    /* marking it again, or an unknown id, does nothing */
    wr_ckc_mark_corrupt(ck, 3, "again");
    wr_ckc_mark_corrupt(ck, 99, "unknown");
    no_actions(ck);
    assert_string_equal(wr_ckc_find(ck, 3)->reason, "chk-3/a1-s0/MANIFEST: checksum mismatch");

    wr_ckc_mark_corrupt(ck, 2, "bad");
    assert_int_equal(drain(ck, a, 8), 2);
    assert_int_equal(a[0].kind, WR_CKA_DISCARD);
    assert_int_equal(a[0].id, 2);
    assert_string_equal(a[1].str, "c");
    assert_int_equal(wr_ckc_latest(ck)->id, 1);

    wr_ckc_mark_corrupt(ck, 1, "bad");
    assert_int_equal(drain(ck, a, 8), 3);
    assert_int_equal(a[0].kind, WR_CKA_DISCARD);
    assert_int_equal(a[0].id, 1);
    assert_int_equal(a[1].kind, WR_CKA_DELETE);
    assert_int_equal(a[2].kind, WR_CKA_DELETE);
    assert_true((strcmp(a[1].str, "a") == 0 && strcmp(a[2].str, "b") == 0) ||
                (strcmp(a[1].str, "b") == 0 && strcmp(a[2].str, "a") == 0));
    assert_null(wr_ckc_latest(ck)); /* every retained one is corrupt */

    /* a new completion is the latest again */
    complete_one(ck, &now, 4, 2, f1);
    assert_int_equal(wr_ckc_latest(ck)->id, 4);
    assert_int_equal(wr_ckc_refs(ck, "a"), 1);
    wr_ckc_free(ck);
}

static void a_file_a_pending_checkpoint_names_is_kept_until_it_ends(void **state)
{
    wr_ckc *ck = new_ckc(1000, 600000, 0, 3, 3, 2, 1);
    const char *f1[] = {"a", "b", NULL};
    const char *fa[] = {"a", "n"};
    int64_t now = 0;
    act a[8];

    wr_ckc_start(ck, 0, 1);
    complete_one(ck, &now, 1, 2, f1);
    now += 1000;
    wr_ckc_tick(ck, now);
    expect_one(ck, WR_CKA_TRIGGER, 2);
    assert_true(wr_ckc_ack(ck, now + 1, 1, 2, 0, "x", 1, fa, 2, 0, 0));
    /* 1 is corrupt while 2, which names a, is pending: b goes, a waits */
    wr_ckc_mark_corrupt(ck, 1, "bad");
    assert_int_equal(drain(ck, a, 8), 2);
    assert_int_equal(a[0].kind, WR_CKA_DISCARD);
    assert_string_equal(a[1].str, "b");
    assert_int_equal(wr_ckc_refs(ck, "a"), 0);
    /* 2 completes: a is counted again, never deleted */
    assert_true(wr_ckc_ack(ck, now + 2, 1, 2, 1, "y", 1, NULL, 0, 0, 0));
    expect_one(ck, WR_CKA_COMPLETE, 2);
    assert_int_equal(wr_ckc_refs(ck, "a"), 1);
    assert_int_equal(wr_ckc_refs(ck, "n"), 1);

    /* the same, but the pending one fails: a is deleted then */
    now += 1000;
    wr_ckc_tick(ck, now);
    expect_one(ck, WR_CKA_TRIGGER, 3);
    assert_true(wr_ckc_ack(ck, now + 1, 1, 3, 0, "x", 1, fa, 2, 0, 0));
    wr_ckc_mark_corrupt(ck, 2, "bad");
    expect_one(ck, WR_CKA_DISCARD, 2);
    assert_int_equal(wr_ckc_refs(ck, "a"), 0);
    wr_ckc_decline(ck, now + 5, 1, 3, "task 1 declined: upload failed", false);
    assert_int_equal(drain(ck, a, 8), 2);
    assert_int_equal(a[0].kind, WR_CKA_DELETE);
    assert_int_equal(a[1].kind, WR_CKA_DELETE);
    assert_true((strcmp(a[0].str, "a") == 0 && strcmp(a[1].str, "n") == 0) ||
                (strcmp(a[0].str, "n") == 0 && strcmp(a[1].str, "a") == 0));
    assert_null(wr_ckc_latest(ck));
    wr_ckc_free(ck);
}

/* ---- coordinator restart ------------------------------------------------------------- */

static void restored_checkpoints_count_their_files_and_set_the_next_id(void **state)
{
    wr_ckc *ck = new_ckc(1000, 600000, 0, 2, 3, 2, 1);
    const void *blobs[2] = {"meta-0", "meta-1"};
    const size_t lens[2] = {7, 7};
    const char *f5[] = {"a", "b"}, *f8[] = {"b", "c"}, *f9[] = {"c", "d", "c"};
    const wr_ck_entry *e;
    act a[8];

    assert_int_equal(wr_ckc_add_completed(ck, 5, 1, 100, 200, blobs, lens, f5, 2, 10, 5), WR_OK);
    no_actions(ck);
    assert_int_equal(wr_ckc_next_id(ck), 6);
    assert_int_equal(wr_ckc_latest(ck)->id, 5);
    assert_int_equal(wr_ckc_refs(ck, "a"), 1);
    assert_int_equal(wr_ckc_add_completed(ck, 8, 2, 300, 400, blobs, lens, f8, 2, 10, 5), WR_OK);
    assert_int_equal(wr_ckc_refs(ck, "b"), 2);
    no_actions(ck);
    /* a third one with retained 2: 5 is discarded, a deleted */
    assert_int_equal(wr_ckc_add_completed(ck, 9, 2, 500, 600, blobs, lens, f9, 3, 10, 5), WR_OK);
    assert_int_equal(drain(ck, a, 8), 2);
    assert_int_equal(a[0].kind, WR_CKA_DISCARD);
    assert_int_equal(a[0].id, 5);
    assert_int_equal(a[1].kind, WR_CKA_DELETE);
    assert_string_equal(a[1].str, "a");
    assert_int_equal(wr_ckc_refs(ck, "b"), 1);
    assert_int_equal(wr_ckc_refs(ck, "c"), 2);
    assert_int_equal(wr_ckc_refs(ck, "d"), 1);
    assert_int_equal(wr_ckc_next_id(ck), 10);

    e = wr_ckc_latest(ck);
    assert_int_equal(e->id, 9);
    assert_int_equal(e->attempt, 2);
    assert_int_equal(e->status, WR_CK_COMPLETED);
    assert_int_equal(e->trigger_ms, 500);
    assert_int_equal(e->end_ms, 600);
    assert_int_equal(e->nacks, 2);
    assert_int_equal(e->state_bytes, 10);
    assert_int_equal(e->uploaded_bytes, 5);
    assert_memory_equal(e->blobs[1], "meta-1", 7);
    assert_int_equal(e->blob_lens[0], 7);

    /* not newer: refused, nothing changes */
    assert_int_equal(wr_ckc_add_completed(ck, 9, 2, 0, 0, blobs, lens, NULL, 0, 0, 0), WR_EINVAL);
    assert_int_equal(wr_ckc_add_completed(ck, 7, 2, 0, 0, blobs, lens, NULL, 0, 0, 0), WR_EINVAL);
    assert_int_equal(wr_ckc_count(ck), 3);

    /* triggering continues after the restored ids */
    wr_ckc_start(ck, 1000, 3);
    wr_ckc_tick(ck, 2000);
    expect_one(ck, WR_CKA_TRIGGER, 10);
    ack_all(ck, 2100, 3, 10, 2, NULL);
    assert_int_equal(drain(ck, a, 8), 3);
    assert_int_equal(a[0].kind, WR_CKA_COMPLETE);
    assert_int_equal(a[1].kind, WR_CKA_DISCARD);
    assert_int_equal(a[1].id, 8);
    assert_string_equal(a[2].str, "b");
    /* a pending checkpoint: adding is refused */
    wr_ckc_tick(ck, 3100);
    expect_one(ck, WR_CKA_TRIGGER, 11);
    assert_int_equal(wr_ckc_add_completed(ck, 20, 2, 0, 0, NULL, NULL, NULL, 0, 0, 0), WR_EINVAL);
    wr_ckc_free(ck);

    /* a next_id beyond the restored ones stays */
    ck = new_ckc(1000, 600000, 0, 2, 3, 1, 20);
    assert_int_equal(wr_ckc_add_completed(ck, 5, 1, 0, 0, NULL, NULL, NULL, 0, 0, 0), WR_OK);
    assert_int_equal(wr_ckc_next_id(ck), 20);
    assert_null(wr_ckc_latest(ck)->blobs[0]);
    wr_ckc_free(ck);
}

/* ---- randomized: thousands of events against a model --------------------------------- */

typedef struct rmodel {
    bool running, job_failed;
    uint32_t attempt;
    int64_t start, last_trigger, last_end;
    bool triggered, ended;
    int failures;
    int64_t pending; /* 0: none */
    int64_t pending_trigger;
    uint32_t pending_attempt;
    bool acked[MAXT];
    bool pfiles[MAXFILES]; /* files named by the pending one's taken acks */
    mset *pset;
    int64_t last_id; /* the newest triggered id */
    int64_t trig_ids[MAXSETS];
    int ntrig;
    refmodel refs;
} rmodel;

typedef struct rconfig {
    uint64_t seed;
    int nevents, ntasks, retained, tolerable, history;
    int64_t interval, timeout, min_pause;
} rconfig;

typedef struct rstats {
    int completed, failed, fail_jobs, corrupt, deferred, deletes;
} rstats;

static int64_t model_due(const rmodel *m, const rconfig *c)
{
    int64_t due = (m->triggered ? m->last_trigger : m->start) + c->interval;
    if (m->ended && m->last_end + c->min_pause > due)
        due = m->last_end + c->min_pause;
    return due;
}

enum { EV_TICK, EV_ACK, EV_DECLINE, EV_STOP, EV_START, EV_CORRUPT };

/* The pending checkpoint P ended during the last event (entry e): the model follows,
 * and checks the FAIL_JOB action when the failures exceed the tolerance. */
static void model_pending_ended(rmodel *m, const rconfig *c, rstats *st, const wr_ck_entry *e,
                                int64_t now, bool timed_out, bool counted_decline, const act *a,
                                int n, int64_t *want_discards, int *nwant)
{
    int64_t P = m->pending;

    if (e->id) /* (still in the history) */
        assert_int_equal(e->end_ms, now);
    m->pending = 0;
    m->ended = true;
    m->last_end = now;
    memset(m->pfiles, 0, sizeof m->pfiles);
    if (e->status == WR_CK_COMPLETED) {
        for (int t = 0; t < c->ntasks; t++)
            assert_true(m->acked[t]);
        assert_int_equal(e->nacks, c->ntasks);
        assert_true(e->retained);
        m->failures = 0;
        m->refs.ret[m->refs.nret++] = m->pset;
        if (m->refs.nret > c->retained) {
            want_discards[(*nwant)++] = m->refs.ret[0]->id;
            model_retire_oldest(&m->refs);
        }
        st->completed++;
        return;
    }
    assert_int_equal(e->status, WR_CK_FAILED);
    st->failed++;
    if (timed_out && e->id) {
        char want[64];
        snprintf(want, sizeof want, "timed out after %.1f s", (double)c->timeout / 1000.0);
        assert_string_equal(e->reason, want);
    }
    if (!(timed_out || counted_decline))
        return;
    if (++m->failures > c->tolerable && !m->job_failed) {
        char want[256];
        bool found = false;
        assert_int_not_equal(e->id, 0); /* no trigger followed: still in the history */
        m->job_failed = true;
        if (m->failures == 1)
            snprintf(want, sizeof want,
                     "checkpoint %" PRId64 " failed: %s; 1 failed checkpoint exceeds "
                     "checkpoint.tolerable_failures (%d)",
                     P, e->reason, c->tolerable);
        else
            snprintf(want, sizeof want,
                     "checkpoint %" PRId64 " failed: %s; %d consecutive failed checkpoints "
                     "exceed checkpoint.tolerable_failures (%d)",
                     P, e->reason, m->failures, c->tolerable);
        for (int k = 0; k < n; k++)
            if (a[k].kind == WR_CKA_FAIL_JOB) {
                assert_false(found);
                assert_string_equal(a[k].str, want);
                assert_int_equal(a[k].id, P);
                found = true;
            }
        assert_true(found);
        st->fail_jobs++;
    }
}

/* The history as the coordinator shows it, against the model. */
static void check_history(wr_ckc *ck, const rmodel *m, const rconfig *c)
{
    int cnt = wr_ckc_count(ck), npending = 0, nret = 0;
    int64_t prev = 0;

    assert_true(cnt <= c->history + c->retained);
    for (int i = 0; i < cnt; i++) {
        const wr_ck_entry *e = wr_ckc_entry(ck, i);
        assert_true(e->id > prev); /* ids strictly increasing */
        prev = e->id;
        if (e->status == WR_CK_PENDING) {
            npending++;
            assert_int_equal(e->id, m->pending);
            assert_int_equal(i, cnt - 1);
        }
        if (e->retained) {
            bool in = false;
            for (int k = 0; k < m->refs.nret; k++)
                in |= m->refs.ret[k]->id == e->id;
            assert_true(in);
            assert_false(e->corrupt);
            assert_int_equal(e->status, WR_CK_COMPLETED);
            nret++;
        } else if (e->status != WR_CK_PENDING) {
            /* kept only while among the newest `history` */
            assert_true(i >= cnt - c->history);
        }
    }
    assert_int_equal(npending, m->pending ? 1 : 0);
    assert_int_equal(nret, m->refs.nret);
    for (int k = m->ntrig - 1; k >= 0 && k >= m->ntrig - c->history; k--)
        assert_non_null(wr_ckc_find(ck, m->trig_ids[k]));
    if (m->refs.nret > 0)
        assert_int_equal(wr_ckc_latest(ck)->id, m->refs.ret[m->refs.nret - 1]->id);
    else
        assert_null(wr_ckc_latest(ck));
}

static void random_run(const rconfig *c, rstats *st)
{
    static rmodel m;
    static mset sets[MAXSETS];
    static tasks ts;
    int nsets = 0;
    wr_ckc_config cfg;
    wr_ckc *ck;
    int64_t now = 0;

    memset(&m, 0, sizeof m);
    memset(&ts, 0, sizeof ts);
    rng_state = c->seed;
    ts.ntasks = c->ntasks;
    wr_ckc_config_defaults(&cfg);
    cfg.interval_ms = c->interval;
    cfg.timeout_ms = c->timeout;
    cfg.min_pause_ms = c->min_pause;
    cfg.retained = c->retained;
    cfg.tolerable_failures = c->tolerable;
    cfg.history = c->history;
    ck = wr_ckc_new(&cfg, c->ntasks, 1);
    assert_non_null(ck);

    for (int ev = 0; ev < c->nevents; ev++) {
        int r = rnd_in(1, 1000), kind, n, ndels = 0, ndiscards = 0, nwant = 0, ntrig = 0;
        int dels[256];
        int64_t P = m.pending, want_discards[8], got_discards[8];
        bool timeout_checked = false, counted_decline = false, finished_decline = false;
        uint32_t start_attempt = 0;
        act a[256];

        /* the tasks' files change between events */
        if (chance(30))
            tasks_evolve(&ts, rnd_in(0, c->ntasks - 1));

        kind = r <= 450   ? EV_TICK
               : r <= 930 ? EV_ACK
               : r <= 955 ? EV_DECLINE
               : r <= 970 ? EV_STOP
               : r <= 990 ? EV_START
                          : EV_CORRUPT;
        switch (kind) {
        case EV_TICK:
            /* mostly short steps, sometimes past a timeout */
            now += chance(90) ? rnd_in(0, (int)c->interval / 2) : rnd_in(0, (int)c->timeout);
            wr_ckc_tick(ck, now);
            timeout_checked = true;
            break;
        case EV_ACK: {
            int t = rnd_in(0, c->ntasks - 1), files[MAXSET], nf;
            int64_t id = P ? P : m.last_id;
            uint32_t att = P ? m.pending_attempt : m.attempt;
            bool want, got;
            now += rnd_in(0, 50);
            if (chance(10))
                id += rnd_in(-1, 1);
            if (chance(5))
                att++;
            nf = tasks_ack_files(&ts, t, files);
            if (chance(3))
                t = chance(50) ? -1 : c->ntasks;
            want = P && id == P && att == m.pending_attempt && t >= 0 && t < c->ntasks &&
                   !m.acked[t] && now - m.pending_trigger < c->timeout;
            got = ack_files(ck, now, att, id, t, files, nf);
            assert_int_equal(got, want);
            if (got) {
                m.acked[t] = true;
                for (int k = 0; k < nf; k++) {
                    m.pfiles[files[k]] = true;
                    mset_add(m.pset, files[k]);
                }
            }
            timeout_checked = true;
            break;
        }
        case EV_DECLINE: {
            int64_t id = P ? P : m.last_id;
            bool fin = chance(20), matches;
            now += rnd_in(0, 50);
            if (chance(10))
                id++;
            matches = P && id == P && m.attempt == m.pending_attempt &&
                      now - m.pending_trigger < c->timeout;
            wr_ckc_decline(ck, now, m.attempt, id, "task 0 declined: upload failed", fin);
            counted_decline = matches && !fin;
            finished_decline = matches && fin;
            timeout_checked = true;
            break;
        }
        case EV_STOP:
            now += rnd_in(0, 50);
            wr_ckc_stop(ck, now, "stopped by the test");
            break;
        case EV_START:
            now += rnd_in(0, 50);
            start_attempt = chance(20) ? m.attempt : m.attempt + 1;
            wr_ckc_start(ck, now, start_attempt);
            break;
        case EV_CORRUPT: {
            int64_t id = m.refs.nret > 0 && chance(80) ? m.refs.ret[rnd_in(0, m.refs.nret - 1)]->id
                                                       : rnd_in(1, (int)m.last_id + 1);
            for (int i = 0; i < m.refs.nret; i++)
                if (m.refs.ret[i]->id == id) {
                    want_discards[nwant++] = id;
                    model_remove(&m.refs, i);
                    st->corrupt++;
                    break;
                }
            if (nwant && m.pending) {
                for (int i = 0; i < m.refs.nknown; i++) {
                    int f = m.refs.known_list[i];
                    bool used = false;
                    for (int j = 0; j < m.refs.nret && !used; j++)
                        for (int k = 0; k < m.refs.ret[j]->n && !used; k++)
                            used = m.refs.ret[j]->files[k] == f;
                    st->deferred += !used && m.pfiles[f];
                }
            }
            wr_ckc_mark_corrupt(ck, id, "checksum mismatch");
            /* as a restore would: from now on the tasks' files have new names */
            for (int t = 0; t < c->ntasks; t++)
                for (int k = 0; k < ts.nlive[t]; k++)
                    ts.live[t][k] = new_file(&ts);
            break;
        }
        }
        n = drain(ck, a, 256);

        /* the pending checkpoint may have ended (before anything is triggered) */
        if (P) {
            const wr_ck_entry *e = wr_ckc_find(ck, P);
            if (!e) {
                /* failed and forgotten at once: a newer one took its place in a history
                 * of one (a completed one would be retained) */
                static const wr_ck_entry gone = {.status = WR_CK_FAILED};
                assert_int_equal(c->history, 1);
                assert_true(n > 0 && a[n - 1].kind == WR_CKA_TRIGGER);
                e = &gone;
            }
            if (e->status != WR_CK_PENDING)
                model_pending_ended(&m, c, st, e, now,
                                    timeout_checked && now - m.pending_trigger >= c->timeout,
                                    counted_decline, a, n, want_discards, &nwant);
        }
        if (kind == EV_STOP || finished_decline)
            m.running = false;
        if (kind == EV_START && !(m.running && start_attempt == m.attempt)) {
            m.running = true;
            m.attempt = start_attempt;
            m.start = now;
            m.triggered = m.ended = false;
            if (m.job_failed) {
                m.job_failed = false;
                m.failures = 0;
            }
        }

        for (int k = 0; k < n; k++) {
            switch (a[k].kind) {
            case WR_CKA_TRIGGER:
                /* at most one pending: only when nothing is; when due; ids by one */
                assert_int_equal(m.pending, 0);
                assert_true(m.running && !m.job_failed && c->interval > 0);
                assert_true(now >= model_due(&m, c));
                assert_int_equal(a[k].id, m.last_id + 1);
                assert_int_equal(wr_ckc_find(ck, a[k].id)->attempt, m.attempt);
                assert_true(nsets < MAXSETS);
                m.last_id = a[k].id;
                m.pending = a[k].id;
                m.pending_trigger = now;
                m.pending_attempt = m.attempt;
                m.triggered = true;
                m.last_trigger = now;
                memset(m.acked, 0, sizeof m.acked);
                m.pset = &sets[nsets++];
                memset(m.pset, 0, sizeof *m.pset);
                m.pset->id = a[k].id;
                m.trig_ids[m.ntrig++] = a[k].id;
                ntrig++;
                break;
            case WR_CKA_COMPLETE:
                assert_int_equal(a[k].id, P);
                assert_int_equal(wr_ckc_find(ck, P)->status, WR_CK_COMPLETED);
                assert_int_equal(ntrig, 0);
                assert_int_equal(ndiscards, 0); /* COMPLETE comes before the DISCARD */
                break;
            case WR_CKA_DISCARD:
                assert_true(ndiscards < 8);
                assert_int_equal(ndels, 0);
                got_discards[ndiscards++] = a[k].id;
                break;
            case WR_CKA_DELETE:
                dels[ndels++] = fnum(a[k].str);
                break;
            case WR_CKA_FAIL_JOB:
                break; /* checked with the failure that caused it */
            }
        }
        assert_true(ntrig <= 1);
        /* DISCARD ids are exactly those falling out of retention (or corrupt) */
        assert_int_equal(ndiscards, nwant);
        for (int k = 0; k < nwant; k++)
            assert_int_equal(got_discards[k], want_discards[k]);
        st->deletes += ndels;

        check_refs(ck, &m.refs, dels, ndels, m.pending ? m.pfiles : NULL, ts.nextf);
        check_history(ck, &m, c);
        assert_int_equal(wr_ckc_failures(ck), m.failures);
        assert_int_equal(wr_ckc_next_id(ck), m.last_id + 1);
        assert_int_equal(wr_ckc_running(ck), m.running);
        /* due and idle after a tick: it must have triggered */
        if (kind == EV_TICK)
            assert_false(m.running && !m.job_failed && c->interval > 0 && !m.pending &&
                         now >= model_due(&m, c));
    }
    wr_ckc_free(ck);
}

static void random_events_keep_every_invariant(void **state)
{
    /* seed, events, tasks, retained, tolerable, history, interval, timeout, min pause */
    static const rconfig runs[] = {
        {0x5eed01, 30000, 3, 2, 3, 50, 1000, 10000, 0},
        {0x5eed02, 30000, 2, 1, 0, 3, 500, 4000, 300},
        {0x5eed03, 30000, 4, 3, 2, 5, 2000, 20000, 1500},
        {0x5eed04, 30000, 1, 2, 5, 1, 700, 3000, 0},
    };
    rstats total = {0};

    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
        rstats st = {0};
        random_run(&runs[i], &st);
        print_message("run %zu: %d completed, %d failed, %d job failures, %d corrupt, %d "
                      "deferred, %d deletes\n",
                      i, st.completed, st.failed, st.fail_jobs, st.corrupt, st.deferred,
                      st.deletes);
        /* each run went through the paths it is meant to check */
        assert_true(st.completed > 100);
        assert_true(st.failed > 100);
        assert_true(st.deletes > 50);
        total.fail_jobs += st.fail_jobs;
        total.corrupt += st.corrupt;
        total.deferred += st.deferred;
    }
    assert_true(total.fail_jobs > 10);
    assert_true(total.corrupt > 10);
    assert_true(total.deferred > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(triggers_come_an_interval_after_start_and_after_the_previous_trigger),
        cmocka_unit_test(the_next_trigger_waits_min_pause_after_the_previous_end),
        cmocka_unit_test(interval_zero_never_triggers_and_ids_start_at_next_id),
        cmocka_unit_test(a_checkpoint_completes_when_every_task_acked_and_other_acks_are_ignored),
        cmocka_unit_test(complete_comes_before_the_discard_of_the_checkpoint_it_replaces),
        cmocka_unit_test(too_many_consecutive_timeouts_fail_the_job_exactly_once),
        cmocka_unit_test(declines_count_a_completion_resets_and_stops_do_not_count),
        cmocka_unit_test(retention_deletes_a_file_exactly_when_no_retained_checkpoint_uses_it),
        cmocka_unit_test(a_corrupt_checkpoint_is_discarded_and_latest_falls_back),
        cmocka_unit_test(a_file_a_pending_checkpoint_names_is_kept_until_it_ends),
        cmocka_unit_test(restored_checkpoints_count_their_files_and_set_the_next_id),
        cmocka_unit_test(random_events_keep_every_invariant),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
