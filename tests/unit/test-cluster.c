/*
 * test-cluster.c — the coordinator's state machine stepped with simulated time: job
 * lifecycle, failure detection, restarts and the restart strategy (backoff, failure rate,
 * placement after a failure), cancel, stale deployments, slot accounting (including a
 * randomized model check with an independent recount), checkpoints driven by the cluster
 * and jobs restored after a coordinator restart.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "cluster.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- fixture helpers ---------------------------------------------------------------- */

static wr_cluster *new_cluster(void)
{
    wr_cluster_config cfg;
    wr_cluster *c;
    wr_cluster_config_defaults(&cfg);
    cfg.id_seed = 42;
    c = wr_cluster_new(&cfg);
    assert_non_null(c);
    return c;
}

static void reg(wr_cluster *c, int64_t now, const char *id, int slots)
{
    wr_errbuf eb;
    char addr[64];
    snprintf(addr, sizeof addr, "tcp://%s:7000", id);
    assert_int_equal(wr_cluster_register(c, now, id, addr, slots, "host", "0.1.0", &eb), WR_OK);
}

/* Submits a job of parallelism P reading partitions 0..nparts-1; id: the job's id. */
static void submit(wr_cluster *c, int64_t now, int P, int nparts, char id[WR_CLUSTER_ID_MAX])
{
    wr_cpart parts[32];
    wr_csubmit s = {"clicks-per-user", "name: x\n", "x", P, parts, nparts, NULL, NULL};
    wr_errbuf eb;
    assert_true(nparts <= 32);
    for (int k = 0; k < nparts; k++) {
        parts[k].partition = k;
        parts[k].subtask = 99;
        parts[k].start = 100 + k;
        parts[k].stop = -1;
    }
    assert_int_equal(wr_cluster_submit(c, now, &s, id, &eb), WR_OK);
}

/* The next action other than SAVE_JOB (a hint to persist the job, tested on its own). */
static bool next_action(wr_cluster *c, wr_caction *a)
{
    while (wr_cluster_next_action(c, a))
        if (a->kind != WR_CACT_SAVE_JOB)
            return true;
    return false;
}

/* Takes every queued action into a (at most max) and returns how many. */
static int drain(wr_cluster *c, wr_caction *a, int max)
{
    int n = 0;
    wr_caction tmp;
    while (next_action(c, n < max ? &a[n] : &tmp))
        n++;
    assert_true(n <= max);
    return n;
}

static void no_actions(wr_cluster *c)
{
    wr_caction a;
    assert_false(next_action(c, &a));
}

static void expect_action(const wr_caction *a, wr_caction_kind kind, int worker, const char *job,
                          uint32_t attempt)
{
    assert_int_equal(a->kind, kind);
    assert_int_equal(a->worker, worker);
    if (job) {
        assert_string_equal(a->job_id, job);
        assert_int_equal(a->attempt, attempt);
    }
}

static void report(wr_cluster *c, int64_t now, const char *worker, const char *job,
                   uint32_t attempt, wr_ctask_state st, const char *msg)
{
    wr_creport r;
    memset(&r, 0, sizeof r);
    r.job_id = job;
    r.attempt = attempt;
    r.state = st;
    r.message = msg;
    r.stats.watermark = INT64_MIN;
    wr_cluster_report(c, now, worker, &r);
}

static bool beat(wr_cluster *c, int64_t now, const char *worker)
{
    return wr_cluster_heartbeat(c, now, worker, NULL, 0);
}

static const wr_cjob *job(wr_cluster *c, const char *id)
{
    const wr_cjob *j = wr_cluster_find_job(c, id);
    assert_non_null(j);
    return j;
}

static int used(wr_cluster *c, int w)
{
    return wr_cluster_worker(c, w)->used;
}

static const wr_cdeploy *deploy_on(const wr_cjob *j, int w)
{
    for (int d = 0; d < j->ndeploys; d++)
        if (j->deploys[d].worker == w)
            return &j->deploys[d];
    return NULL;
}

/* ---- lifecycle ---------------------------------------------------------------------- */

static void a_job_runs_from_created_to_finished_and_gives_its_slots_back(void **state)
{
    wr_cluster *c = new_cluster();
    char id[WR_CLUSTER_ID_MAX];
    wr_caction a[8];
    const wr_cjob *j;
    wr_errbuf eb;

    reg(c, 0, "w0", 2);
    reg(c, 0, "w1", 2);
    assert_int_equal(drain(c, a, 8), 2);
    expect_action(&a[0], WR_CACT_REGISTER_ACK, 0, NULL, 0);
    expect_action(&a[1], WR_CACT_REGISTER_ACK, 1, NULL, 0);
    assert_string_equal(wr_cluster_worker(c, 1)->address, "tcp://w1:7000");
    assert_true(wr_cluster_worker(c, 1)->alive);

    submit(c, 10, 3, 7, id);
    assert_int_equal(strlen(id), 12);
    assert_int_equal(strspn(id, "0123456789abcdef"), 12);
    j = job(c, id);
    assert_ptr_equal(wr_cluster_job(c, 0), j);
    assert_int_equal(wr_cluster_njobs(c), 1);
    assert_string_equal(j->name, "clicks-per-user");
    assert_int_equal(j->state, WR_CJOB_RUNNING);
    assert_int_equal(j->attempt, 1);
    assert_int_equal(j->restarts, 0);
    assert_int_equal(j->submitted_at, 10);
    /* 3 subtasks on 2 x 2 free slots: w0, w1, w0 */
    assert_int_equal(j->worker_of[0], 0);
    assert_int_equal(j->worker_of[1], 1);
    assert_int_equal(j->worker_of[2], 0);
    for (int k = 0; k < 7; k++) {
        assert_int_equal(j->parts[k].subtask, k % 3);
        assert_int_equal(j->parts[k].start, 100 + k);
    }
    assert_int_equal(j->ndeploys, 2);
    assert_int_equal(deploy_on(j, 0)->state, WR_CTASK_DEPLOYING);
    assert_int_equal(used(c, 0), 2);
    assert_int_equal(used(c, 1), 1);
    assert_int_equal(drain(c, a, 8), 2);
    expect_action(&a[0], WR_CACT_DEPLOY, 0, id, 1);
    expect_action(&a[1], WR_CACT_DEPLOY, 1, id, 1);

    {
        wr_creport r = {id, 1, WR_CTASK_RUNNING, NULL, {0}, 0};
        r.stats.watermark = INT64_MIN;
        assert_true(wr_cluster_heartbeat(c, 500, "w0", &r, 1));
        assert_true(wr_cluster_heartbeat(c, 500, "w1", &r, 1));
    }
    assert_int_equal(deploy_on(j, 0)->state, WR_CTASK_RUNNING);
    assert_int_equal(deploy_on(j, 1)->state, WR_CTASK_RUNNING);
    no_actions(c);

    report(c, 900, "w0", id, 1, WR_CTASK_FINISHED, NULL);
    assert_int_equal(j->state, WR_CJOB_RUNNING);
    assert_int_equal(used(c, 0), 0);
    assert_int_equal(used(c, 1), 1);
    report(c, 1000, "w1", id, 1, WR_CTASK_FINISHED, NULL);
    assert_int_equal(j->state, WR_CJOB_FINISHED);
    assert_int_equal(j->state_since, 1000);
    assert_null(j->failure);
    assert_int_equal(used(c, 1), 0);
    no_actions(c);

    assert_int_equal(wr_cluster_cancel(c, 1100, id, &eb), WR_EINVAL);
    char want[128];
    snprintf(want, sizeof want, "job '%s' is already FINISHED", id);
    assert_string_equal(eb.msg, want);
    wr_cluster_free(c);
}

static void job_ids_are_deterministic_for_a_seed_and_distinct(void **state)
{
    wr_cluster *a = new_cluster(), *b = new_cluster();
    char ids[20][WR_CLUSTER_ID_MAX], other[WR_CLUSTER_ID_MAX];

    for (int i = 0; i < 20; i++) {
        submit(a, i, 1, 0, ids[i]);
        submit(b, i, 1, 0, other);
        assert_string_equal(ids[i], other);
        assert_int_equal(strlen(ids[i]), 12);
        assert_int_equal(strspn(ids[i], "0123456789abcdef"), 12);
        for (int k = 0; k < i; k++)
            assert_string_not_equal(ids[k], ids[i]);
        assert_int_equal(job(a, ids[i])->state, WR_CJOB_CREATED); /* no workers */
    }
    for (int i = 0; i < 20; i++)
        assert_ptr_equal(wr_cluster_job(a, i), wr_cluster_find_job(a, ids[i]));
    assert_null(wr_cluster_find_job(a, "000000000000"));
    assert_null(wr_cluster_job(a, 20));
    wr_cluster_free(a);
    wr_cluster_free(b);
    wr_cluster_free(NULL);
}

static void a_job_submitted_before_any_worker_deploys_at_the_tick_after_registration(void **state)
{
    wr_cluster *c = new_cluster();
    char id[WR_CLUSTER_ID_MAX];
    wr_caction a[4];
    const wr_cjob *j;

    submit(c, 0, 2, 2, id);
    j = job(c, id);
    assert_int_equal(j->state, WR_CJOB_CREATED);
    assert_int_equal(j->attempt, 0);
    assert_int_equal(j->worker_of[0], -1);
    no_actions(c);
    wr_cluster_tick(c, 50);
    assert_int_equal(j->state, WR_CJOB_CREATED);

    reg(c, 100, "w0", 4);
    assert_int_equal(drain(c, a, 4), 1);
    expect_action(&a[0], WR_CACT_REGISTER_ACK, 0, NULL, 0);
    assert_int_equal(j->state, WR_CJOB_CREATED);

    wr_cluster_tick(c, 101);
    assert_int_equal(j->state, WR_CJOB_RUNNING);
    assert_int_equal(j->state_since, 101);
    assert_int_equal(j->attempt, 1);
    assert_int_equal(used(c, 0), 2);
    assert_int_equal(drain(c, a, 4), 1);
    expect_action(&a[0], WR_CACT_DEPLOY, 0, id, 1);
    wr_cluster_free(c);
}

/* ---- failures and restarts ---------------------------------------------------------- */

static void a_silent_worker_is_lost_after_the_timeout_and_the_job_restarts_elsewhere(void **state)
{
    wr_cluster *c = new_cluster();
    char id[WR_CLUSTER_ID_MAX];
    wr_caction a[8];
    const wr_cjob *j;

    reg(c, 0, "w0", 2);
    reg(c, 0, "w1", 2);
    reg(c, 0, "w2", 2);
    drain(c, a, 8);
    submit(c, 0, 3, 3, id);
    j = job(c, id);
    assert_int_equal(j->ndeploys, 3);
    assert_int_equal(drain(c, a, 8), 3);

    assert_true(beat(c, 1000, "w0"));
    assert_true(beat(c, 1000, "w1"));
    wr_cluster_tick(c, 5000); /* w2 silent for exactly the timeout: still alive */
    assert_true(wr_cluster_worker(c, 2)->alive);
    assert_int_equal(j->state, WR_CJOB_RUNNING);
    no_actions(c);

    wr_cluster_tick(c, 5001);
    assert_false(wr_cluster_worker(c, 2)->alive);
    assert_int_equal(used(c, 2), 0);
    assert_true(wr_cluster_worker(c, 0)->alive);
    assert_int_equal(j->state, WR_CJOB_FAILING);
    assert_string_equal(j->failure, "worker w2 lost: no heartbeat for 5.0 s");
    assert_int_equal(deploy_on(j, 2)->state, WR_CTASK_FAILED);
    assert_int_equal(drain(c, a, 8), 2);
    expect_action(&a[0], WR_CACT_CANCEL, 0, id, 1);
    expect_action(&a[1], WR_CACT_CANCEL, 1, id, 1);
    assert_false(beat(c, 5002, "w2")); /* lost: must register again */

    report(c, 5050, "w0", id, 1, WR_CTASK_CANCELED, NULL);
    assert_int_equal(j->state, WR_CJOB_FAILING);
    assert_int_equal(used(c, 0), 0);
    report(c, 5100, "w1", id, 1, WR_CTASK_CANCELED, NULL);
    assert_int_equal(j->state, WR_CJOB_RESTARTING);
    assert_int_equal(j->restart_at, 6100);
    assert_int_equal(used(c, 1), 0);
    assert_int_equal(j->restarts, 0);

    assert_true(beat(c, 6000, "w0"));
    assert_true(beat(c, 6000, "w1"));
    wr_cluster_tick(c, 6099);
    assert_int_equal(j->state, WR_CJOB_RESTARTING);
    no_actions(c);
    wr_cluster_tick(c, 6100);
    assert_int_equal(j->state, WR_CJOB_RUNNING);
    assert_int_equal(j->attempt, 2);
    assert_int_equal(j->restarts, 1);
    assert_int_equal(j->ndeploys, 2);
    assert_null(deploy_on(j, 2));
    assert_int_equal(used(c, 0) + used(c, 1), 3);
    assert_int_equal(drain(c, a, 8), 2);
    expect_action(&a[0], WR_CACT_DEPLOY, 0, id, 2);
    expect_action(&a[1], WR_CACT_DEPLOY, 1, id, 2);
    assert_string_equal(j->failure, "worker w2 lost: no heartbeat for 5.0 s"); /* kept */

    /* the lost worker comes back as a fresh process: alive, empty, usable */
    reg(c, 6200, "w2", 2);
    assert_true(wr_cluster_worker(c, 2)->alive);
    assert_int_equal(used(c, 2), 0);
    assert_int_equal(j->state, WR_CJOB_RUNNING);
    assert_int_equal(drain(c, a, 8), 1);
    expect_action(&a[0], WR_CACT_REGISTER_ACK, 2, NULL, 0);
    wr_cluster_free(c);
}

static void a_job_that_fails_more_often_than_max_restarts_fails_with_the_last_reason(void **state)
{
    wr_cluster_config cfg;
    wr_cluster *c;
    char id[WR_CLUSTER_ID_MAX];
    wr_caction a[8];
    const wr_cjob *j;
    int64_t t = 0;

    wr_cluster_config_defaults(&cfg);
    cfg.max_restarts = 2;
    cfg.restart_multiplier = 1.0; /* a fixed delay here; backoff has its own test */
    cfg.restart_delay_ms = 250;
    c = wr_cluster_new(&cfg);
    reg(c, 0, "w0", 1);
    submit(c, 0, 1, 1, id);
    j = job(c, id);
    for (uint32_t attempt = 1; attempt <= 3; attempt++) {
        assert_int_equal(j->state, WR_CJOB_RUNNING);
        assert_int_equal(j->attempt, attempt);
        assert_int_equal(j->restarts, (int)attempt - 1);
        assert_int_equal(used(c, 0), 1);
        t += 100;
        report(c, t, "w0", id, attempt, WR_CTASK_FAILED, "source 'clicks': broker down");
        assert_int_equal(used(c, 0), 0);
        if (attempt == 3)
            break;
        /* the only deployment failed: nothing to cancel, straight to RESTARTING */
        assert_int_equal(j->state, WR_CJOB_RESTARTING);
        assert_string_equal(j->failure, "worker w0: source 'clicks': broker down");
        assert_int_equal(j->restart_at, t + 250);
        assert_true(beat(c, t + 249, "w0"));
        wr_cluster_tick(c, t + 249);
        assert_int_equal(j->state, WR_CJOB_RESTARTING);
        t += 250;
        wr_cluster_tick(c, t);
    }
    assert_int_equal(j->state, WR_CJOB_FAILED);
    assert_int_equal(j->restarts, 2);
    assert_string_equal(j->failure,
                        "restarted 2 times; last failure: worker w0: source 'clicks': broker down");
    assert_int_equal(drain(c, a, 8), 4); /* ack + 3 deploys, no cancel */
    expect_action(&a[3], WR_CACT_DEPLOY, 0, id, 3);
    wr_cluster_tick(c, t + 10000);
    assert_int_equal(j->state, WR_CJOB_FAILED);
    no_actions(c);
    wr_cluster_free(c);
}

static void a_failed_deployment_cancels_the_others_and_keeps_the_first_reason(void **state)
{
    wr_cluster *c = new_cluster();
    char id[WR_CLUSTER_ID_MAX];
    wr_caction a[8];
    const wr_cjob *j;

    reg(c, 0, "w0", 1);
    reg(c, 0, "w1", 1);
    reg(c, 0, "w2", 1);
    submit(c, 0, 3, 0, id);
    j = job(c, id);
    drain(c, a, 8);
    report(c, 10, "w0", id, 1, WR_CTASK_RUNNING, NULL);
    report(c, 20, "w1", id, 1, WR_CTASK_FAILED, "source 'clicks': offset out of range");
    assert_int_equal(j->state, WR_CJOB_FAILING);
    assert_int_equal(j->state_since, 20);
    assert_string_equal(j->failure, "worker w1: source 'clicks': offset out of range");
    assert_string_equal(deploy_on(j, 1)->message, "source 'clicks': offset out of range");
    assert_int_equal(drain(c, a, 8), 2);
    expect_action(&a[0], WR_CACT_CANCEL, 0, id, 1);
    expect_action(&a[1], WR_CACT_CANCEL, 2, id, 1);
    /* w0 still runs it (the Cancel crossed its heartbeat, or got lost): cancel again */
    {
        wr_creport r = {id, 1, WR_CTASK_RUNNING, NULL, {0}, 0};
        assert_true(wr_cluster_heartbeat(c, 25, "w0", &r, 1));
    }
    assert_int_equal(drain(c, a, 8), 1);
    expect_action(&a[0], WR_CACT_CANCEL, 0, id, 1);
    assert_int_equal(j->state, WR_CJOB_FAILING);
    /* a consequence of the first failure does not replace it */
    report(c, 30, "w2", id, 1, WR_CTASK_FAILED, "exchange: peer closed");
    assert_string_equal(j->failure, "worker w1: source 'clicks': offset out of range");
    assert_int_equal(j->state, WR_CJOB_FAILING);
    report(c, 40, "w0", id, 1, WR_CTASK_CANCELED, NULL);
    assert_int_equal(j->state, WR_CJOB_RESTARTING);
    for (int w = 0; w < 3; w++)
        assert_int_equal(used(c, w), 0);
    no_actions(c);
    wr_cluster_free(c);
}

static void a_worker_registering_again_fails_what_ran_there(void **state)
{
    wr_cluster *c = new_cluster();
    char id[WR_CLUSTER_ID_MAX];
    wr_caction a[8];
    const wr_cjob *j;

    reg(c, 0, "w0", 2);
    reg(c, 0, "w1", 2);
    submit(c, 0, 4, 4, id);
    j = job(c, id);
    drain(c, a, 8);
    assert_int_equal(used(c, 0), 2);

    {
        wr_errbuf eb;
        assert_int_equal(wr_cluster_register(c, 700, "w0", "tcp://new:7001", 3, "h2", "0.2.0", &eb),
                         WR_OK);
    }
    assert_int_equal(wr_cluster_nworkers(c), 2); /* the same worker, same index */
    assert_int_equal(wr_cluster_find_worker(c, "w0"), 0);
    assert_string_equal(wr_cluster_worker(c, 0)->address, "tcp://new:7001");
    assert_string_equal(wr_cluster_worker(c, 0)->version, "0.2.0");
    assert_int_equal(wr_cluster_worker(c, 0)->slots, 3);
    assert_int_equal(wr_cluster_worker(c, 0)->last_heartbeat, 700);
    assert_int_equal(wr_cluster_worker(c, 0)->registered_at, 700);
    assert_int_equal(used(c, 0), 0);
    assert_int_equal(j->state, WR_CJOB_FAILING);
    assert_string_equal(j->failure, "worker w0 restarted");
    assert_int_equal(drain(c, a, 8), 2);
    expect_action(&a[0], WR_CACT_REGISTER_ACK, 0, NULL, 0);
    expect_action(&a[1], WR_CACT_CANCEL, 1, id, 1);

    report(c, 800, "w1", id, 1, WR_CTASK_CANCELED, NULL);
    assert_int_equal(j->state, WR_CJOB_RESTARTING);
    /* w1 is placed again only once heard from after the failure (its report counts not) */
    wr_cluster_tick(c, 1800);
    assert_int_equal(j->state, WR_CJOB_RESTARTING);
    assert_true(beat(c, 1800, "w1"));
    wr_cluster_tick(c, 1800);
    assert_int_equal(j->state, WR_CJOB_RUNNING);
    assert_int_equal(j->attempt, 2);
    /* 3 + 2 free: w0, w1, w0, w1 */
    assert_int_equal(used(c, 0), 2);
    assert_int_equal(used(c, 1), 2);

    /* registering again with nothing on it changes no job */
    reg(c, 1900, "w2", 1);
    assert_int_equal(j->state, WR_CJOB_RUNNING);
    wr_cluster_free(c);
}

static void registration_checks_its_arguments(void **state)
{
    wr_cluster *c = new_cluster();
    wr_errbuf eb;
    char longid[100];

    memset(longid, 'x', sizeof longid - 1);
    longid[sizeof longid - 1] = '\0';
    assert_int_equal(wr_cluster_register(c, 0, "", "a", 1, "h", "v", &eb), WR_EINVAL);
    assert_int_equal(wr_cluster_register(c, 0, longid, "a", 1, "h", "v", &eb), WR_EINVAL);
    assert_int_equal(wr_cluster_register(c, 0, "w0", "a", 0, "h", "v", &eb), WR_EINVAL);
    assert_string_equal(eb.msg, "worker 'w0' offers 0 slots; it needs at least 1");
    assert_int_equal(wr_cluster_nworkers(c), 0);
    no_actions(c);
    /* NULL strings are stored as empty ones */
    assert_int_equal(wr_cluster_register(c, 0, "w0", NULL, 1, NULL, NULL, &eb), WR_OK);
    assert_string_equal(wr_cluster_worker(c, 0)->host, "");
    assert_null(wr_cluster_worker(c, 1));
    assert_int_equal(wr_cluster_find_worker(c, "w9"), -1);
    wr_cluster_free(c);
}

/* ---- cancel ------------------------------------------------------------------------- */

static void cancel_in_every_state(void **state)
{
    wr_cluster *c = new_cluster();
    char created[WR_CLUSTER_ID_MAX], running[WR_CLUSTER_ID_MAX], failing[WR_CLUSTER_ID_MAX],
        restarting[WR_CLUSTER_ID_MAX], failed[WR_CLUSTER_ID_MAX];
    wr_caction a[16];
    wr_errbuf eb;
    const wr_cjob *j;
    char want[128];

    /* CREATED: canceled at once, nothing to tell anyone */
    submit(c, 0, 1, 0, created);
    assert_int_equal(wr_cluster_cancel(c, 1, created, &eb), WR_OK);
    assert_int_equal(job(c, created)->state, WR_CJOB_CANCELED);
    assert_int_equal(job(c, created)->state_since, 1);
    no_actions(c);
    assert_int_equal(wr_cluster_cancel(c, 2, created, &eb), WR_EINVAL);
    snprintf(want, sizeof want, "job '%s' is already CANCELED", created);
    assert_string_equal(eb.msg, want);

    reg(c, 10, "w0", 4);
    reg(c, 10, "w1", 4);
    wr_cluster_tick(c, 11);
    assert_int_equal(job(c, created)->state, WR_CJOB_CANCELED); /* not deployed later */
    drain(c, a, 16);

    /* RUNNING: CANCELING with a Cancel to each deployment, CANCELED when all confirmed */
    submit(c, 20, 2, 0, running);
    j = job(c, running);
    drain(c, a, 16);
    report(c, 25, "w0", running, 1, WR_CTASK_RUNNING, NULL);
    assert_int_equal(wr_cluster_cancel(c, 30, running, &eb), WR_OK);
    assert_int_equal(j->state, WR_CJOB_CANCELING);
    assert_int_equal(drain(c, a, 16), 2);
    expect_action(&a[0], WR_CACT_CANCEL, 0, running, 1);
    expect_action(&a[1], WR_CACT_CANCEL, 1, running, 1);
    assert_int_equal(wr_cluster_cancel(c, 31, running, &eb), WR_OK); /* again: no-op */
    assert_int_equal(j->state, WR_CJOB_CANCELING);
    no_actions(c);
    report(c, 40, "w0", running, 1, WR_CTASK_CANCELED, NULL);
    assert_int_equal(j->state, WR_CJOB_CANCELING);
    assert_int_equal(used(c, 0), 0);
    assert_int_equal(used(c, 1), 1);
    report(c, 41, "w1", running, 1, WR_CTASK_FAILED, "interrupted"); /* also terminal */
    assert_int_equal(j->state, WR_CJOB_CANCELED);
    assert_int_equal(used(c, 1), 0);
    assert_null(j->failure);
    no_actions(c);

    /* FAILING: CANCELING, and CANCELED (not RESTARTING) once the others stopped */
    submit(c, 50, 2, 0, failing);
    j = job(c, failing);
    drain(c, a, 16);
    report(c, 55, "w0", failing, 1, WR_CTASK_FAILED, "boom");
    assert_int_equal(j->state, WR_CJOB_FAILING);
    drain(c, a, 16);
    assert_int_equal(wr_cluster_cancel(c, 56, failing, &eb), WR_OK);
    assert_int_equal(j->state, WR_CJOB_CANCELING);
    assert_int_equal(drain(c, a, 16), 1);
    expect_action(&a[0], WR_CACT_CANCEL, 1, failing, 1);
    report(c, 57, "w1", failing, 1, WR_CTASK_CANCELED, NULL);
    assert_int_equal(j->state, WR_CJOB_CANCELED);
    wr_cluster_tick(c, 5000);
    assert_int_equal(j->state, WR_CJOB_CANCELED);
    no_actions(c);

    /* RESTARTING: canceled at once, never redeployed */
    assert_true(beat(c, 5000, "w0"));
    assert_true(beat(c, 5000, "w1"));
    submit(c, 5000, 1, 0, restarting);
    j = job(c, restarting);
    drain(c, a, 16);
    report(c, 5001, "w0", restarting, 1, WR_CTASK_FAILED, "boom");
    assert_int_equal(j->state, WR_CJOB_RESTARTING);
    assert_int_equal(wr_cluster_cancel(c, 5002, restarting, &eb), WR_OK);
    assert_int_equal(j->state, WR_CJOB_CANCELED);
    wr_cluster_tick(c, 9000);
    assert_int_equal(j->state, WR_CJOB_CANCELED);
    assert_int_equal(j->attempt, 1);
    no_actions(c);

    /* FAILED and unknown */
    {
        wr_cluster_config cfg;
        wr_cluster *c2;
        wr_cluster_config_defaults(&cfg);
        cfg.max_restarts = 0;
        c2 = wr_cluster_new(&cfg);
        reg(c2, 0, "w0", 1);
        submit(c2, 0, 1, 0, failed);
        report(c2, 1, "w0", failed, 1, WR_CTASK_FAILED, "boom");
        assert_int_equal(job(c2, failed)->state, WR_CJOB_FAILED);
        assert_string_equal(job(c2, failed)->failure,
                            "restarted 0 times; last failure: worker w0: boom");
        assert_int_equal(wr_cluster_cancel(c2, 2, failed, &eb), WR_EINVAL);
        snprintf(want, sizeof want, "job '%s' is already FAILED", failed);
        assert_string_equal(eb.msg, want);
        wr_cluster_free(c2);
    }
    assert_int_equal(wr_cluster_cancel(c, 9001, "nope", &eb), WR_ENOTFOUND);
    assert_string_equal(eb.msg, "unknown job 'nope'");
    wr_cluster_free(c);
}

/* ---- stale deployments and unknown workers ------------------------------------------ */

static void a_worker_running_a_deployment_the_cluster_gave_up_on_is_told_to_cancel_it(void **state)
{
    wr_cluster *c = new_cluster();
    char id[WR_CLUSTER_ID_MAX], done[WR_CLUSTER_ID_MAX];
    wr_caction a[16];
    const wr_cjob *j;

    reg(c, 0, "w0", 2);
    reg(c, 0, "w1", 2);
    submit(c, 0, 2, 0, id);
    j = job(c, id);
    report(c, 10, "w1", id, 1, WR_CTASK_FAILED, "boom");
    report(c, 11, "w0", id, 1, WR_CTASK_CANCELED, NULL);
    /* after a failure only workers heard from since are placed */
    assert_true(beat(c, 500, "w0"));
    assert_true(beat(c, 500, "w1"));
    wr_cluster_tick(c, 1011);
    assert_int_equal(j->attempt, 2);
    drain(c, a, 16);

    /* attempt 1 still running on w0 (say the Cancel was lost): cancel it again */
    {
        wr_creport r[2] = {{id, 1, WR_CTASK_RUNNING, NULL, {0}, 0},
                           {id, 2, WR_CTASK_DEPLOYING, NULL, {0}, 0}};
        assert_true(wr_cluster_heartbeat(c, 1100, "w0", r, 2));
    }
    assert_int_equal(drain(c, a, 16), 1);
    expect_action(&a[0], WR_CACT_CANCEL, 0, id, 1);
    assert_int_equal(deploy_on(j, 0)->state, WR_CTASK_DEPLOYING);
    /* a stale report of an end is fine: nothing to do */
    report(c, 1101, "w0", id, 1, WR_CTASK_CANCELED, NULL);
    report(c, 1101, "w0", id, 1, WR_CTASK_FAILED, "late");
    assert_int_equal(j->state, WR_CJOB_RUNNING);
    no_actions(c);

    /* an unknown job, and a job the cluster does not run on that worker */
    report(c, 1200, "w0", "feedfeedfeed", 3, WR_CTASK_RUNNING, NULL);
    assert_int_equal(drain(c, a, 16), 1);
    expect_action(&a[0], WR_CACT_CANCEL, 0, "feedfeedfeed", 3);

    submit(c, 1300, 1, 0, done); /* one subtask: on w0 or w1 */
    drain(c, a, 16);
    {
        int w = job(c, done)->worker_of[0], other = 1 - w;
        const char *wid = wr_cluster_worker(c, w)->id;
        const char *oid = wr_cluster_worker(c, other)->id;
        report(c, 1301, oid, done, 1, WR_CTASK_RUNNING, NULL);
        assert_int_equal(drain(c, a, 16), 1);
        expect_action(&a[0], WR_CACT_CANCEL, other, done, 1);
        /* a finished job whose worker still says it runs */
        report(c, 1302, wid, done, 1, WR_CTASK_FINISHED, NULL);
        assert_int_equal(job(c, done)->state, WR_CJOB_FINISHED);
        report(c, 1303, wid, done, 1, WR_CTASK_RUNNING, NULL);
        assert_int_equal(job(c, done)->state, WR_CJOB_FINISHED);
        assert_int_equal(deploy_on(job(c, done), w)->state, WR_CTASK_FINISHED);
        assert_int_equal(drain(c, a, 16), 1);
        expect_action(&a[0], WR_CACT_CANCEL, w, done, 1);
    }
    wr_cluster_free(c);
}

static void heartbeats_from_unknown_or_lost_workers_are_refused(void **state)
{
    wr_cluster *c = new_cluster();
    wr_caction a[4];
    wr_creport r = {"abcabcabcabc", 1, WR_CTASK_RUNNING, NULL, {0}, 0};

    assert_false(beat(c, 0, "ghost"));
    assert_false(wr_cluster_heartbeat(c, 0, "ghost", &r, 1));
    report(c, 0, "ghost", "abcabcabcabc", 1, WR_CTASK_RUNNING, NULL);
    assert_int_equal(wr_cluster_nworkers(c), 0);
    no_actions(c); /* not even a Cancel: the worker must register first */

    reg(c, 0, "w0", 1);
    drain(c, a, 4);
    assert_true(beat(c, 3000, "w0"));
    assert_int_equal(wr_cluster_worker(c, 0)->last_heartbeat, 3000);
    wr_cluster_tick(c, 8000);
    assert_true(wr_cluster_worker(c, 0)->alive);
    wr_cluster_tick(c, 8001);
    assert_false(wr_cluster_worker(c, 0)->alive);
    assert_false(beat(c, 8002, "w0"));
    assert_false(wr_cluster_worker(c, 0)->alive);
    assert_int_equal(wr_cluster_worker(c, 0)->last_heartbeat, 3000);
    reg(c, 8003, "w0", 1);
    assert_true(beat(c, 8004, "w0"));
    wr_cluster_free(c);
}

/* ---- slots -------------------------------------------------------------------------- */

static void a_job_waiting_longer_than_slot_timeout_for_slots_fails(void **state)
{
    wr_cluster *c = new_cluster();
    char id[WR_CLUSTER_ID_MAX], id2[WR_CLUSTER_ID_MAX];
    wr_caction a[8];
    const wr_cjob *j;

    reg(c, 0, "w0", 1);
    submit(c, 0, 2, 0, id);
    j = job(c, id);
    assert_int_equal(j->state, WR_CJOB_CREATED);
    for (int64_t t = 1000; t <= 60000; t += 1000) {
        assert_true(beat(c, t, "w0"));
        wr_cluster_tick(c, t);
    }
    assert_int_equal(j->state, WR_CJOB_CREATED);
    wr_cluster_tick(c, 60001);
    assert_int_equal(j->state, WR_CJOB_FAILED);
    assert_string_equal(j->failure, "not enough free slots: the job needs 2, the cluster has 1 "
                                    "free on 1 alive worker(s) for 60 s");

    /* RESTARTING waits from restart_at, and says what failed before */
    reg(c, 60001, "w1", 1);
    submit(c, 60001, 2, 0, id2);
    j = job(c, id2);
    assert_int_equal(j->state, WR_CJOB_RUNNING);
    assert_int_equal(drain(c, a, 8), 4);
    for (int64_t t = 61000; t <= 65000; t += 1000) {
        assert_true(beat(c, t, "w0"));
        wr_cluster_tick(c, t);
    }
    assert_true(beat(c, 65002, "w0"));
    wr_cluster_tick(c, 65002); /* w1 silent since 60001 */
    assert_int_equal(j->state, WR_CJOB_FAILING);
    report(c, 65003, "w0", id2, 1, WR_CTASK_CANCELED, NULL);
    assert_int_equal(j->state, WR_CJOB_RESTARTING);
    assert_int_equal(j->restart_at, 66003);
    for (int64_t t = 66003; t <= 126003; t += 1000) {
        assert_true(beat(c, t, "w0"));
        wr_cluster_tick(c, t);
    }
    assert_int_equal(j->state, WR_CJOB_RESTARTING); /* 60 s after restart_at: still waiting */
    assert_int_equal(j->attempt, 1);
    wr_cluster_tick(c, 126004);
    assert_int_equal(j->state, WR_CJOB_FAILED);
    assert_string_equal(j->failure, "not enough free slots: the job needs 2, the cluster has 1 "
                                    "free on 1 alive worker(s) for 60 s; last failure: worker "
                                    "w1 lost: no heartbeat for 5.0 s");
    wr_cluster_free(c);
}

static void slots_freed_by_one_job_let_a_waiting_job_deploy(void **state)
{
    wr_cluster *c = new_cluster();
    char first[WR_CLUSTER_ID_MAX], second[WR_CLUSTER_ID_MAX];
    wr_caction a[8];

    reg(c, 0, "w0", 3);
    submit(c, 0, 2, 0, first);
    submit(c, 0, 2, 0, second);
    assert_int_equal(job(c, second)->state, WR_CJOB_CREATED);
    wr_cluster_tick(c, 100);
    assert_int_equal(job(c, second)->state, WR_CJOB_CREATED);
    report(c, 200, "w0", first, 1, WR_CTASK_FINISHED, NULL);
    assert_int_equal(used(c, 0), 0);
    wr_cluster_tick(c, 300);
    assert_int_equal(job(c, second)->state, WR_CJOB_RUNNING);
    assert_int_equal(used(c, 0), 2);
    assert_int_equal(drain(c, a, 8), 3);
    expect_action(&a[2], WR_CACT_DEPLOY, 0, second, 1);
    wr_cluster_free(c);
}

/* ---- restart strategy --------------------------------------------------------------- */

/* A cluster with one 1-slot worker w0 and the restart strategy in cfg. */
static wr_cluster *new_cluster_with(wr_cluster_config *cfg)
{
    wr_cluster *c;
    cfg->id_seed = 42;
    c = wr_cluster_new(cfg);
    assert_non_null(c);
    reg(c, 0, "w0", 1);
    return c;
}

/* The only deployment (on w0) of the job's current attempt fails `ran` ms after it was
 * deployed: the job must be RESTARTING until exactly failure + want_delay, and run the
 * next attempt from then on (w0 heard from in between). */
static void fail_after(wr_cluster *c, const char *id, int64_t ran, int64_t want_delay)
{
    const wr_cjob *j = job(c, id);
    uint32_t attempt = j->attempt;
    int64_t t = j->deployed_at + ran;

    assert_int_equal(j->state, WR_CJOB_RUNNING);
    report(c, t, "w0", id, attempt, WR_CTASK_FAILED, "boom");
    assert_int_equal(j->state, WR_CJOB_RESTARTING);
    assert_int_equal(j->restart_at, t + want_delay);
    assert_true(beat(c, j->restart_at - 1, "w0"));
    wr_cluster_tick(c, j->restart_at - 1);
    assert_int_equal(j->state, WR_CJOB_RESTARTING);
    wr_cluster_tick(c, t + want_delay);
    assert_int_equal(j->state, WR_CJOB_RUNNING);
    assert_int_equal(j->attempt, attempt + 1);
    assert_int_equal(j->deployed_at, t + want_delay);
}

static void
consecutive_restarts_back_off_exponentially_up_to_the_cap_and_reset_after_a_good_run(void **state)
{
    wr_cluster_config cfg;
    wr_cluster *c;
    char id[WR_CLUSTER_ID_MAX];

    wr_cluster_config_defaults(&cfg);
    cfg.restart_delay_ms = 1000;
    cfg.restart_multiplier = 2.0;
    cfg.restart_delay_max_ms = 5000;
    cfg.restart_reset_ms = 10000;
    cfg.max_failures_per_interval = 100; /* the failure rate has its own test */
    c = new_cluster_with(&cfg);
    submit(c, 0, 1, 1, id);

    fail_after(c, id, 0, 1000);
    fail_after(c, id, 9999, 2000); /* one ms short of a reset: the backoff goes on */
    fail_after(c, id, 0, 4000);
    fail_after(c, id, 0, 5000); /* 8000, capped */
    fail_after(c, id, 0, 5000);
    fail_after(c, id, 10000, 1000); /* ran restart_reset_ms: back to restart_delay */
    fail_after(c, id, 0, 2000);
    assert_int_equal(job(c, id)->restarts, 7);
    wr_cluster_free(c);
}

static void more_failures_than_the_rate_limit_within_the_interval_fail_the_job(void **state)
{
    wr_cluster_config cfg;
    wr_cluster *c;
    char id[WR_CLUSTER_ID_MAX];
    const wr_cjob *j;

    wr_cluster_config_defaults(&cfg);
    cfg.restart_delay_ms = 100;
    cfg.restart_multiplier = 1.0;
    cfg.max_failures_per_interval = 2;
    cfg.failure_rate_interval_ms = 10000;
    c = new_cluster_with(&cfg);
    submit(c, 0, 1, 1, id);
    j = job(c, id);

    fail_after(c, id, 10, 100); /* 1 failure within 10 s */
    fail_after(c, id, 10, 100); /* 2: at the limit, still restarts */
    report(c, j->deployed_at + 10, "w0", id, j->attempt, WR_CTASK_FAILED, "boom");
    assert_int_equal(j->state, WR_CJOB_FAILED);
    assert_string_equal(j->failure, "3 failures within 10 s exceed the failure rate limit "
                                    "(max 2); last failure: worker w0: boom");
    assert_int_equal(j->restarts, 2);
    wr_cluster_tick(c, 100000);
    assert_int_equal(j->state, WR_CJOB_FAILED);
    wr_cluster_free(c);
}

static void failures_spread_wider_than_the_interval_restart_without_a_total_limit(void **state)
{
    wr_cluster_config cfg;
    wr_cluster *c;
    char id[WR_CLUSTER_ID_MAX];

    wr_cluster_config_defaults(&cfg);
    cfg.restart_delay_ms = 100;
    cfg.restart_multiplier = 1.0;
    cfg.max_failures_per_interval = 2;
    cfg.failure_rate_interval_ms = 10000;
    cfg.max_restarts = -1;
    c = new_cluster_with(&cfg);
    submit(c, 0, 1, 1, id);

    /* a failure every 6 s: never more than 2 within 10 s */
    for (int i = 0; i < 25; i++)
        fail_after(c, id, 5900, 100);
    assert_int_equal(job(c, id)->restarts, 25);
    assert_int_equal(job(c, id)->attempt, 26);
    wr_cluster_free(c);
}

/* ---- placement after a failure ------------------------------------------------------ */

static void after_a_failure_only_workers_heard_from_since_are_placed(void **state)
{
    wr_cluster *c = new_cluster();
    char id[WR_CLUSTER_ID_MAX];
    wr_caction a[8];
    const wr_cjob *j;

    reg(c, 0, "w0", 1);
    reg(c, 0, "w1", 1);
    reg(c, 0, "w2", 1);
    submit(c, 0, 2, 2, id);
    j = job(c, id);
    assert_int_equal(j->worker_of[0], 0);
    assert_int_equal(j->worker_of[1], 1);
    drain(c, a, 8);

    assert_true(beat(c, 90, "w1")); /* before the failure: does not count */
    report(c, 100, "w0", id, 1, WR_CTASK_FAILED, "boom");
    assert_int_equal(j->failed_at, 100);
    report(c, 150, "w1", id, 1, WR_CTASK_CANCELED, NULL); /* a report is no heartbeat */
    assert_int_equal(j->state, WR_CJOB_RESTARTING);
    assert_int_equal(j->restart_at, 1150);
    assert_true(beat(c, 1000, "w2"));
    drain(c, a, 8);

    /* w0 and w1 are not LOST yet, but only w2 was heard from: 1 slot for 2 subtasks */
    wr_cluster_tick(c, 1150);
    assert_true(wr_cluster_worker(c, 0)->alive);
    assert_true(wr_cluster_worker(c, 1)->alive);
    assert_int_equal(j->state, WR_CJOB_RESTARTING);
    assert_int_equal(j->attempt, 1);
    no_actions(c);

    /* w0 registers again (a fresh process): heard from */
    reg(c, 1200, "w0", 1);
    wr_cluster_tick(c, 1200);
    assert_int_equal(j->state, WR_CJOB_RUNNING);
    assert_int_equal(j->attempt, 2);
    assert_int_equal(j->worker_of[0], 0);
    assert_int_equal(j->worker_of[1], 2);
    assert_null(deploy_on(j, 1));
    assert_int_equal(used(c, 1), 0);
    assert_int_equal(drain(c, a, 8), 3);
    expect_action(&a[0], WR_CACT_REGISTER_ACK, 0, NULL, 0);
    expect_action(&a[1], WR_CACT_DEPLOY, 0, id, 2);
    expect_action(&a[2], WR_CACT_DEPLOY, 2, id, 2);
    wr_cluster_free(c);
}

/* ---- checkpoints -------------------------------------------------------------------- */

#define STORAGE "file:///var/lib/weir/checkpoints"

static wr_ckc_config ck_config(int64_t interval_ms)
{
    wr_ckc_config k;
    wr_ckc_config_defaults(&k);
    k.interval_ms = interval_ms;
    return k;
}

/* Submits a job of parallelism P (no partitions) with checkpoints as k says. */
static void submit_ck(wr_cluster *c, int64_t now, int P, const wr_ckc_config *k,
                      char id[WR_CLUSTER_ID_MAX])
{
    wr_csubmit s = {"clicks-per-user", "name: x\n", "x", P, NULL, 0, k, STORAGE};
    wr_errbuf eb;
    assert_int_equal(wr_cluster_submit(c, now, &s, id, &eb), WR_OK);
}

/* Every deployment of the job's current attempt reports RUNNING. */
static void all_run(wr_cluster *c, int64_t now, const char *id)
{
    const wr_cjob *j = job(c, id);
    for (int d = 0; d < j->ndeploys; d++)
        report(c, now, wr_cluster_worker(c, j->deploys[d].worker)->id, id, j->attempt,
               WR_CTASK_RUNNING, NULL);
}

/* Every alive worker heartbeats. */
static void beat_all(wr_cluster *c, int64_t now)
{
    for (int w = 0; w < wr_cluster_nworkers(c); w++)
        if (wr_cluster_worker(c, w)->alive)
            assert_true(beat(c, now, wr_cluster_worker(c, w)->id));
}

/* Task `task` of the current attempt acknowledges checkpoint ck with the blob "ack <task>". */
static void ack(wr_cluster *c, int64_t now, const char *id, int64_t ck, int task,
                const char *const *shared, int nshared)
{
    char blob[16];
    int n = snprintf(blob, sizeof blob, "ack %d", task);
    wr_cluster_ck_ack(c, now, id, job(c, id)->attempt, ck, task, blob, (size_t)n, shared, nshared,
                      100, 10);
}

/* Every one of the job's 2 x P tasks acknowledges checkpoint ck. */
static void ack_all(wr_cluster *c, int64_t now, const char *id, int64_t ck,
                    const char *const *shared, int nshared)
{
    for (int t = 0; t < 2 * job(c, id)->parallelism; t++)
        ack(c, now, id, ck, t, shared, nshared);
}

/* The queued actions are exactly one TRIGGER of checkpoint ck per deployment. */
static void expect_triggers(wr_cluster *c, const char *id, int64_t ck)
{
    const wr_cjob *j = job(c, id);
    wr_caction a[8];
    int n = drain(c, a, 8);
    assert_int_equal(n, j->ndeploys);
    for (int i = 0; i < n; i++) {
        expect_action(&a[i], WR_CACT_TRIGGER, j->deploys[i].worker, id, j->attempt);
        assert_int_equal(a[i].checkpoint_id, ck);
    }
}

/* The queued actions are exactly the completion of checkpoint ck. */
static void expect_complete(wr_cluster *c, const char *id, int64_t ck)
{
    wr_caction a[4];
    assert_int_equal(drain(c, a, 4), 1);
    expect_action(&a[0], WR_CACT_CK_COMPLETE, -1, id, job(c, id)->attempt);
    assert_int_equal(a[0].checkpoint_id, ck);
}

/* Triggers checkpoint ck at a tick at `now` and completes it 10 ms later. */
static void checkpoint(wr_cluster *c, int64_t now, const char *id, int64_t ck,
                       const char *const *shared, int nshared)
{
    wr_cluster_tick(c, now);
    expect_triggers(c, id, ck);
    ack_all(c, now + 10, id, ck, shared, nshared);
    expect_complete(c, id, ck);
}

static void checkpoints_are_triggered_every_interval_once_every_deployment_runs(void **state)
{
    wr_cluster *c = new_cluster();
    wr_ckc_config k = ck_config(500);
    char id[WR_CLUSTER_ID_MAX];
    wr_caction a[8];
    const wr_cjob *j;

    reg(c, 0, "w0", 1);
    reg(c, 0, "w1", 1);
    submit_ck(c, 0, 2, &k, id);
    j = job(c, id);
    assert_string_equal(j->checkpoint_storage, STORAGE);
    assert_int_equal(j->checkpoint.interval_ms, 500);
    assert_int_equal(drain(c, a, 8), 4); /* 2 acks, 2 deploys */

    /* w1 still deploys: nothing is triggered however long that takes */
    report(c, 10, "w0", id, 1, WR_CTASK_RUNNING, NULL);
    wr_cluster_tick(c, 1000);
    no_actions(c);

    /* both run from 1100: the first checkpoint one interval later, at both workers */
    report(c, 1100, "w1", id, 1, WR_CTASK_RUNNING, NULL);
    wr_cluster_tick(c, 1599);
    no_actions(c);
    wr_cluster_tick(c, 1600);
    expect_triggers(c, id, 1);
    ack_all(c, 1650, id, 1, NULL, 0);
    expect_complete(c, id, 1);
    wr_cluster_tick(c, 2099);
    no_actions(c);
    wr_cluster_tick(c, 2100);
    expect_triggers(c, id, 2);

    /* a pending checkpoint holds the next one back until it ends */
    wr_cluster_tick(c, 2600);
    no_actions(c);
    ack_all(c, 2700, id, 2, NULL, 0);
    expect_complete(c, id, 2);
    wr_cluster_tick(c, 2700);
    expect_triggers(c, id, 3);
    wr_cluster_free(c);
}

static void
a_checkpoint_completes_with_every_tasks_ack_and_unreferenced_files_are_deleted(void **state)
{
    wr_cluster *c = new_cluster();
    wr_ckc_config k = ck_config(500);
    const char *first[] = {"shared/a", "shared/b"}, *second[] = {"shared/b", "shared/c"};
    char id[WR_CLUSTER_ID_MAX];
    wr_caction a[8];
    const wr_cjob *j;
    const wr_ck_entry *e;

    k.retained = 1;
    reg(c, 0, "w0", 1);
    reg(c, 0, "w1", 1);
    submit_ck(c, 0, 2, &k, id);
    j = job(c, id);
    drain(c, a, 8);
    all_run(c, 0, id);
    wr_cluster_tick(c, 500);
    expect_triggers(c, id, 1);

    /* 3 of the 4 tasks (2 x P), a repeated ack and acks of another id or attempt: pending */
    for (int t = 0; t < 3; t++)
        ack(c, 510, id, 1, t, first, 2);
    ack(c, 511, id, 1, 0, first, 2);
    ack(c, 512, id, 2, 3, first, 2);
    wr_cluster_ck_ack(c, 513, id, 2, 1, 3, "x", 1, first, 2, 0, 0);
    no_actions(c);
    e = wr_ckc_find(j->ck, 1);
    assert_non_null(e);
    assert_int_equal(e->status, WR_CK_PENDING);
    assert_int_equal(e->nacks, 3);

    ack(c, 520, id, 1, 3, first, 2);
    expect_complete(c, id, 1);
    e = wr_ckc_find(j->ck, 1);
    assert_int_equal(e->status, WR_CK_COMPLETED);
    assert_int_equal(e->ntasks, 4);
    assert_int_equal(e->blob_lens[3], 5);
    assert_memory_equal(e->blobs[3], "ack 3", 5);
    assert_int_equal(e->state_bytes, 400);
    assert_int_equal(wr_ckc_refs(j->ck, "shared/a"), 1);

    /* retained 1: completing 2 discards 1 and deletes the file only 1 used */
    wr_cluster_tick(c, 1000);
    expect_triggers(c, id, 2);
    ack_all(c, 1010, id, 2, second, 2);
    assert_int_equal(drain(c, a, 8), 3);
    expect_action(&a[0], WR_CACT_CK_COMPLETE, -1, id, 1);
    assert_int_equal(a[0].checkpoint_id, 2);
    expect_action(&a[1], WR_CACT_CK_DISCARD, -1, id, 1);
    assert_int_equal(a[1].checkpoint_id, 1);
    expect_action(&a[2], WR_CACT_CK_DELETE, -1, id, 1);
    assert_string_equal(a[2].path, "shared/a");
    assert_int_equal(wr_ckc_refs(j->ck, "shared/b"), 1);
    wr_cluster_free(c);
}

static void a_failure_stops_checkpoints_and_the_next_attempt_restores_the_latest(void **state)
{
    wr_cluster *c = new_cluster();
    wr_ckc_config k = ck_config(500);
    char id[WR_CLUSTER_ID_MAX];
    wr_caction a[8];
    const wr_cjob *j;

    reg(c, 0, "w0", 1);
    reg(c, 0, "w1", 1);
    submit_ck(c, 0, 2, &k, id);
    j = job(c, id);
    assert_int_equal(j->restored_from, 0);
    drain(c, a, 8);
    all_run(c, 0, id);
    wr_cluster_tick(c, 500);
    expect_triggers(c, id, 1);

    /* attempt 1 fails with checkpoint 1 pending: it is abandoned, nothing more triggers */
    report(c, 600, "w0", id, 1, WR_CTASK_FAILED, "boom");
    assert_int_equal(j->state, WR_CJOB_FAILING);
    assert_int_equal(wr_ckc_find(j->ck, 1)->status, WR_CK_FAILED);
    assert_int_equal(wr_ckc_failures(j->ck), 0);
    assert_int_equal(drain(c, a, 8), 1);
    expect_action(&a[0], WR_CACT_CANCEL, 1, id, 1);
    wr_cluster_tick(c, 1100);
    no_actions(c);
    report(c, 1200, "w1", id, 1, WR_CTASK_CANCELED, NULL);
    assert_int_equal(j->state, WR_CJOB_RESTARTING);
    wr_cluster_tick(c, 1700);
    no_actions(c);

    /* none completed: attempt 2 starts afresh */
    beat_all(c, j->restart_at);
    wr_cluster_tick(c, j->restart_at);
    assert_int_equal(j->attempt, 2);
    assert_int_equal(j->restored_from, 0);
    assert_int_equal(drain(c, a, 8), 2);
    all_run(c, 2300, id);
    checkpoint(c, 2800, id, 2, NULL, 0);
    wr_cluster_tick(c, 3300);
    expect_triggers(c, id, 3);

    /* attempt 2 fails with 3 pending: attempt 3 restores 2 */
    report(c, 3400, "w1", id, 2, WR_CTASK_FAILED, "boom");
    report(c, 3500, "w0", id, 2, WR_CTASK_CANCELED, NULL);
    assert_int_equal(j->state, WR_CJOB_RESTARTING);
    assert_int_equal(drain(c, a, 8), 1); /* the Cancel */
    wr_cluster_tick(c, j->restart_at - 1);
    no_actions(c);
    beat_all(c, j->restart_at);
    wr_cluster_tick(c, j->restart_at);
    assert_int_equal(j->attempt, 3);
    assert_int_equal(j->restored_from, 2);
    assert_int_equal(drain(c, a, 8), 2);
    expect_action(&a[0], WR_CACT_DEPLOY, 0, id, 3);
    expect_action(&a[1], WR_CACT_DEPLOY, 1, id, 3);
    wr_cluster_free(c);
}

static void a_stopping_job_triggers_no_more_checkpoints(void **state)
{
    wr_cluster *c = new_cluster();
    wr_ckc_config k = ck_config(500);
    char id[WR_CLUSTER_ID_MAX];
    wr_caction a[8];
    wr_errbuf eb;
    const wr_cjob *j;

    reg(c, 0, "w0", 1);
    reg(c, 0, "w1", 1);
    submit_ck(c, 0, 2, &k, id);
    j = job(c, id);
    drain(c, a, 8);
    all_run(c, 0, id);
    wr_cluster_tick(c, 500);
    expect_triggers(c, id, 1);

    assert_int_equal(wr_cluster_stop(c, 600, id, &eb), WR_OK);
    assert_int_equal(drain(c, a, 8), 2);
    expect_action(&a[0], WR_CACT_STOP, 0, id, 1);
    expect_action(&a[1], WR_CACT_STOP, 1, id, 1);
    assert_int_equal(wr_ckc_find(j->ck, 1)->status, WR_CK_FAILED);
    ack_all(c, 610, id, 1, NULL, 0); /* too late: abandoned */
    all_run(c, 700, id);             /* still running while it drains */
    for (int64_t t = 1000; t <= 4000; t += 500) {
        beat_all(c, t);
        wr_cluster_tick(c, t);
    }
    assert_int_equal(j->state, WR_CJOB_RUNNING);
    no_actions(c);
    assert_int_equal(wr_ckc_next_id(j->ck), 2);
    wr_cluster_free(c);
}

static void submit_refuses_checkpoints_without_storage(void **state)
{
    wr_cluster *c = new_cluster();
    wr_ckc_config k = ck_config(500);
    wr_csubmit s = {"j", "y", "n", 1, NULL, 0, &k, NULL};
    char id[WR_CLUSTER_ID_MAX] = "untouched";
    wr_errbuf eb;

    assert_int_equal(wr_cluster_submit(c, 0, &s, id, &eb), WR_EINVAL);
    assert_string_equal(eb.msg, "checkpoint.storage: checkpoints are on (interval 500 ms) but no "
                                "storage is set (in the job or the coordinator's "
                                "--checkpoint-storage)");
    s.checkpoint_storage = "";
    assert_int_equal(wr_cluster_submit(c, 0, &s, id, &eb), WR_EINVAL);
    assert_string_equal(id, "untouched");
    assert_int_equal(wr_cluster_njobs(c), 0);
    /* checkpoints off: no storage needed */
    k.interval_ms = 0;
    assert_int_equal(wr_cluster_submit(c, 0, &s, id, &eb), WR_OK);
    wr_cluster_free(c);
}

/* Whether a[0..n) holds an action of kind for checkpoint ck (path: CK_DELETE's). */
static bool has_action(const wr_caction *a, int n, wr_caction_kind kind, int64_t ck,
                       const char *path)
{
    for (int i = 0; i < n; i++)
        if (a[i].kind == kind && (path ? strcmp(a[i].path, path) == 0 : a[i].checkpoint_id == ck))
            return true;
    return false;
}

static void a_corrupt_checkpoint_is_never_restored_again(void **state)
{
    wr_cluster *c = new_cluster();
    wr_ckc_config k = ck_config(500);
    const char *f1[] = {"shared/1"}, *f2[] = {"shared/2"};
    char id[WR_CLUSTER_ID_MAX];
    wr_caction a[8];
    wr_creport r;
    const wr_cjob *j;
    int n;

    reg(c, 0, "w0", 1);
    submit_ck(c, 0, 1, &k, id);
    j = job(c, id);
    drain(c, a, 8);
    all_run(c, 0, id);
    checkpoint(c, 500, id, 1, f1, 1);
    checkpoint(c, 1000, id, 2, f2, 1);
    report(c, 1100, "w0", id, 1, WR_CTASK_FAILED, "boom");
    beat_all(c, j->restart_at);
    wr_cluster_tick(c, j->restart_at);
    assert_int_equal(j->attempt, 2);
    assert_int_equal(j->restored_from, 2);
    drain(c, a, 8);

    /* attempt 2 cannot restore 2 (checksum): attempt 3 restores 1 */
    memset(&r, 0, sizeof r);
    r.job_id = id;
    r.attempt = 2;
    r.state = WR_CTASK_FAILED;
    r.message = "checkpoint 2: checksum mismatch in shared/2";
    r.corrupt_checkpoint = 2;
    wr_cluster_report(c, 2200, "w0", &r);
    assert_int_equal(j->state, WR_CJOB_RESTARTING);
    assert_true(wr_ckc_find(j->ck, 2)->corrupt);
    assert_false(wr_ckc_find(j->ck, 2)->retained);
    beat_all(c, j->restart_at);
    wr_cluster_tick(c, j->restart_at);
    assert_int_equal(j->attempt, 3);
    assert_int_equal(j->restored_from, 1);
    n = drain(c, a, 8);
    assert_true(has_action(a, n, WR_CACT_CK_DISCARD, 2, NULL));
    assert_true(has_action(a, n, WR_CACT_CK_DELETE, 0, "shared/2"));
    assert_false(has_action(a, n, WR_CACT_CK_DELETE, 0, "shared/1"));

    /* another failure: still 1, and the next checkpoint id is not 2 again */
    report(c, j->deployed_at + 10, "w0", id, 3, WR_CTASK_FAILED, "boom");
    beat_all(c, j->restart_at);
    wr_cluster_tick(c, j->restart_at);
    assert_int_equal(j->attempt, 4);
    assert_int_equal(j->restored_from, 1);
    drain(c, a, 8);
    all_run(c, j->deployed_at, id);
    checkpoint(c, j->deployed_at + 500, id, 3, NULL, 0);
    wr_cluster_free(c);
}

static void too_many_failed_checkpoints_fail_the_attempt_and_it_restarts(void **state)
{
    wr_cluster *c = new_cluster();
    wr_ckc_config k = ck_config(500);
    char id[WR_CLUSTER_ID_MAX];
    wr_caction a[8];
    const wr_cjob *j;

    k.timeout_ms = 300;
    k.tolerable_failures = 1;
    reg(c, 0, "w0", 1);
    reg(c, 0, "w1", 1);
    submit_ck(c, 0, 2, &k, id);
    j = job(c, id);
    drain(c, a, 8);
    all_run(c, 0, id);

    /* one declined checkpoint is tolerated */
    wr_cluster_tick(c, 500);
    expect_triggers(c, id, 1);
    wr_cluster_ck_decline(c, 510, id, 1, 1, "task 1: state upload failed", false);
    assert_int_equal(wr_ckc_failures(j->ck), 1);
    assert_int_equal(j->state, WR_CJOB_RUNNING);
    no_actions(c);

    /* a second one in a row (a timeout) is not */
    wr_cluster_tick(c, 1000);
    expect_triggers(c, id, 2);
    wr_cluster_tick(c, 1299);
    assert_int_equal(j->state, WR_CJOB_RUNNING);
    no_actions(c);
    wr_cluster_tick(c, 1300);
    assert_int_equal(j->state, WR_CJOB_FAILING);
    assert_string_equal(j->failure, "checkpoint 2 failed: timed out after 0.3 s; 2 consecutive "
                                    "failed checkpoints exceed checkpoint.tolerable_failures (1)");
    assert_int_equal(j->failed_at, 1300);
    assert_int_equal(drain(c, a, 8), 2);
    expect_action(&a[0], WR_CACT_CANCEL, 0, id, 1);
    expect_action(&a[1], WR_CACT_CANCEL, 1, id, 1);

    /* it restarts as for any failure, and checkpoints again with a fresh count */
    report(c, 1310, "w0", id, 1, WR_CTASK_CANCELED, NULL);
    report(c, 1320, "w1", id, 1, WR_CTASK_CANCELED, NULL);
    assert_int_equal(j->state, WR_CJOB_RESTARTING);
    assert_int_equal(j->restart_at, 2320);
    beat_all(c, 2320);
    wr_cluster_tick(c, 2320);
    assert_int_equal(j->state, WR_CJOB_RUNNING);
    assert_int_equal(j->attempt, 2);
    assert_int_equal(j->restarts, 1);
    drain(c, a, 8);
    all_run(c, 2400, id);
    assert_int_equal(wr_ckc_failures(j->ck), 0);
    wr_cluster_tick(c, 2900);
    expect_triggers(c, id, 3);
    wr_cluster_free(c);
}

/* ---- coordinator restart ------------------------------------------------------------ */

/* A record of a job of parallelism 1 with checkpoints 3 and 5 completed. */
static void restore(wr_cluster *c, int64_t now, const char *id, wr_cjob_state st,
                    int64_t next_checkpoint_id)
{
    static const char *const f3[] = {"shared/a"}, *const f5[] = {"shared/a", "shared/b"};
    static const void *const blobs[] = {"ack 0", "ack 1"};
    static const size_t lens[] = {5, 5};
    static const wr_ckc_config k = {500, 600000, 0, 3, 3, 50};
    const wr_crestored_ck cks[] = {
        {3, 2, 1000, 1100, blobs, lens, f3, 1, 10, 10},
        {5, 2, 2000, 2100, blobs, lens, f5, 2, 20, 10},
    };
    wr_crestore r;
    wr_errbuf eb;

    memset(&r, 0, sizeof r);
    r.id = id;
    r.submit = (wr_csubmit){"clicks-per-user", "name: x\n", "x", 1, NULL, 0, &k, STORAGE};
    r.state = st;
    r.attempt = 2;
    r.restarts = 1;
    r.submitted_at = 77;
    r.next_checkpoint_id = next_checkpoint_id;
    r.checkpoints = cks;
    r.ncheckpoints = 2;
    assert_int_equal(wr_cluster_restore_job(c, now, &r, &eb), WR_OK);
}

static void a_restored_running_job_restarts_from_its_newest_checkpoint(void **state)
{
    wr_cluster *c = new_cluster();
    wr_caction a[8];
    const wr_cjob *j;

    restore(c, 10000, "0123456789ab", WR_CJOB_RUNNING, 7);
    j = job(c, "0123456789ab");
    assert_int_equal(j->state, WR_CJOB_RESTARTING);
    assert_int_equal(j->attempt, 2);
    assert_int_equal(j->restarts, 1);
    assert_int_equal(j->submitted_at, 77);
    assert_int_equal(j->restart_at, 10000);
    assert_string_equal(j->failure, "coordinator restarted");
    assert_int_equal(wr_ckc_refs(j->ck, "shared/a"), 2);
    no_actions(c);
    wr_cluster_tick(c, 10000); /* no worker yet */
    assert_int_equal(j->state, WR_CJOB_RESTARTING);

    reg(c, 10100, "w0", 1);
    wr_cluster_tick(c, 10100);
    assert_int_equal(j->state, WR_CJOB_RUNNING);
    assert_int_equal(j->attempt, 3);
    assert_int_equal(j->restarts, 2); /* the redeployment counts as a restart */
    assert_int_equal(j->restored_from, 5);
    assert_int_equal(drain(c, a, 8), 2);
    expect_action(&a[0], WR_CACT_REGISTER_ACK, 0, NULL, 0);
    expect_action(&a[1], WR_CACT_DEPLOY, 0, "0123456789ab", 3);

    /* checkpoint ids go on from the record's next id */
    all_run(c, 10200, "0123456789ab");
    wr_cluster_tick(c, 10700);
    expect_triggers(c, "0123456789ab", 7);
    wr_cluster_free(c);
}

static void restored_checkpoint_ids_never_go_back_below_the_newest_checkpoint(void **state)
{
    wr_cluster *c = new_cluster();

    restore(c, 0, "0123456789ab", WR_CJOB_RUNNING, 4); /* a record older than checkpoint 5 */
    assert_int_equal(wr_ckc_next_id(job(c, "0123456789ab")->ck), 6);
    wr_cluster_free(c);
}

static void a_restored_terminal_job_stays_terminal(void **state)
{
    wr_cluster *c = new_cluster();
    wr_caction a[8];
    wr_errbuf eb;
    const wr_cjob *j;

    restore(c, 10000, "0123456789ab", WR_CJOB_FINISHED, 7);
    j = job(c, "0123456789ab");
    assert_int_equal(j->state, WR_CJOB_FINISHED);
    assert_null(j->failure);
    reg(c, 10100, "w0", 1);
    wr_cluster_tick(c, 10100);
    assert_int_equal(j->state, WR_CJOB_FINISHED);
    assert_int_equal(j->attempt, 2);
    assert_int_equal(used(c, 0), 0);
    assert_int_equal(drain(c, a, 8), 1);
    expect_action(&a[0], WR_CACT_REGISTER_ACK, 0, NULL, 0);
    assert_int_equal(wr_cluster_cancel(c, 10200, "0123456789ab", &eb), WR_EINVAL);
    assert_string_equal(eb.msg, "job '0123456789ab' is already FINISHED");
    wr_cluster_free(c);
}

/* ---- stats -------------------------------------------------------------------------- */

static void job_stats_sum_the_deployments_and_take_the_lowest_watermark(void **state)
{
    wr_cluster *c = new_cluster();
    char id[WR_CLUSTER_ID_MAX];
    wr_cstats s;
    const wr_cjob *j;
    wr_creport r;

    reg(c, 0, "w0", 1);
    reg(c, 0, "w1", 1);
    reg(c, 0, "w2", 1);
    submit(c, 0, 3, 0, id);
    j = job(c, id);
    wr_cluster_job_stats(j, &s);
    assert_int_equal(s.records_in, 0);
    assert_false(s.windowed);
    assert_true(s.watermark == INT64_MIN);

    memset(&r, 0, sizeof r);
    r.job_id = id;
    r.attempt = 1;
    r.state = WR_CTASK_RUNNING;
    r.stats.records_in = 10;
    r.stats.records_out = 3;
    r.stats.windows_fired = 2;
    r.stats.backpressured_ms = 7;
    r.stats.watermark = 500;
    r.stats.windowed = true;
    wr_cluster_report(c, 1, "w0", &r);
    r.stats.records_in = 5;
    r.stats.late_records = 1;
    r.stats.watermark = 300;
    wr_cluster_report(c, 1, "w1", &r);
    r.stats.records_in = 100;
    r.stats.windowed = false; /* no windows: not part of the watermark */
    r.stats.watermark = 1;
    wr_cluster_report(c, 1, "w2", &r);

    wr_cluster_job_stats(j, &s);
    assert_int_equal(s.records_in, 115);
    assert_int_equal(s.records_out, 9);
    assert_int_equal(s.windows_fired, 6);
    assert_int_equal(s.late_records, 2);
    assert_int_equal(s.backpressured_ms, 21);
    assert_true(s.windowed);
    assert_true(s.watermark == 300);

    /* a windowed deployment without a watermark yet holds the job's back */
    r.stats.windowed = true;
    r.stats.watermark = INT64_MIN;
    wr_cluster_report(c, 2, "w2", &r);
    wr_cluster_job_stats(j, &s);
    assert_true(s.watermark == INT64_MIN);
    wr_cluster_free(c);
}

/* ---- names and argument checks ------------------------------------------------------ */

static void stop_asks_every_deployment_to_drain_and_the_job_finishes(void **state)
{
    wr_cluster *c = new_cluster();
    wr_caction a[16];
    char id[WR_CLUSTER_ID_MAX], other[WR_CLUSTER_ID_MAX];
    wr_errbuf eb;
    int n;
    (void)state;

    reg(c, 0, "w0", 2);
    reg(c, 0, "w1", 2);
    submit(c, 0, 2, 4, id);
    drain(c, a, 16);
    report(c, 10, "w0", id, 1, WR_CTASK_RUNNING, NULL);
    report(c, 10, "w1", id, 1, WR_CTASK_RUNNING, NULL);
    assert_int_equal(wr_cluster_stop(c, 20, id, &eb), WR_OK);
    n = drain(c, a, 16);
    assert_int_equal(n, 2); /* one STOP per deployment */
    for (int i = 0; i < n; i++) {
        assert_int_equal(a[i].kind, WR_CACT_STOP);
        assert_string_equal(a[i].job_id, id);
        assert_int_equal(a[i].attempt, 1);
    }
    /* stopping twice sends nothing new; the job runs until its deployments finish */
    assert_int_equal(wr_cluster_stop(c, 21, id, &eb), WR_OK);
    no_actions(c);
    assert_int_equal(job(c, id)->state, WR_CJOB_RUNNING);
    report(c, 30, "w0", id, 1, WR_CTASK_FINISHED, NULL);
    assert_int_equal(job(c, id)->state, WR_CJOB_RUNNING);
    report(c, 31, "w1", id, 1, WR_CTASK_FINISHED, NULL);
    assert_int_equal(job(c, id)->state, WR_CJOB_FINISHED);
    assert_int_equal(used(c, 0) + used(c, 1), 0);
    /* a finished job cannot be stopped; an unknown one is named */
    assert_int_equal(wr_cluster_stop(c, 40, id, &eb), WR_EINVAL);
    assert_int_equal(wr_cluster_stop(c, 40, "nope", &eb), WR_ENOTFOUND);
    assert_string_equal(eb.msg, "unknown job 'nope'");
    /* a job waiting for slots has nothing in flight: stopping it cancels it */
    submit(c, 50, 8, 1, other);
    assert_int_equal(job(c, other)->state, WR_CJOB_CREATED);
    assert_int_equal(wr_cluster_stop(c, 51, other, &eb), WR_OK);
    assert_int_equal(job(c, other)->state, WR_CJOB_CANCELED);
    wr_cluster_free(c);
}

static void states_have_their_flink_names_and_three_are_terminal(void **state)
{
    static const char *names[] = {"CREATED",   "RUNNING",  "FAILING", "RESTARTING",
                                  "CANCELING", "CANCELED", "FAILED",  "FINISHED"};
    for (int s = WR_CJOB_CREATED; s <= WR_CJOB_FINISHED; s++) {
        assert_string_equal(wr_cjob_state_name((wr_cjob_state)s), names[s]);
        assert_int_equal(wr_cjob_state_terminal((wr_cjob_state)s), s >= WR_CJOB_CANCELED);
    }
    assert_string_equal(wr_ctask_state_name(WR_CTASK_UNKNOWN), "UNKNOWN");
    assert_string_equal(wr_ctask_state_name(WR_CTASK_DEPLOYING), "DEPLOYING");
    assert_string_equal(wr_ctask_state_name(WR_CTASK_RUNNING), "RUNNING");
    assert_string_equal(wr_ctask_state_name(WR_CTASK_FINISHED), "FINISHED");
    assert_string_equal(wr_ctask_state_name(WR_CTASK_FAILED), "FAILED");
    assert_string_equal(wr_ctask_state_name(WR_CTASK_CANCELED), "CANCELED");
}

static void submit_rejects_a_bad_parallelism_or_partition_list_and_keeps_nothing(void **state)
{
    wr_cluster *c = wr_cluster_new(NULL); /* defaults */
    char id[WR_CLUSTER_ID_MAX] = "untouched";
    wr_cpart bad = {-1, 0, 0, -1};
    wr_csubmit s = {"j", "y", "n", 0, NULL, 0, NULL, NULL};
    wr_errbuf eb;

    assert_int_equal(wr_cluster_submit(c, 0, &s, id, &eb), WR_EINVAL);
    assert_string_equal(eb.msg, "parallelism must be at least 1, not 0");
    s.parallelism = 2;
    s.nparts = 3;
    assert_int_equal(wr_cluster_submit(c, 0, &s, id, &eb), WR_EINVAL);
    s.parts = &bad;
    s.nparts = 1;
    assert_int_equal(wr_cluster_submit(c, 0, &s, id, &eb), WR_EINVAL);
    assert_string_equal(id, "untouched");
    assert_int_equal(wr_cluster_njobs(c), 0);
    /* the defaults apply: a CREATED job fails after 60 s without slots */
    s.nparts = 0;
    assert_int_equal(wr_cluster_submit(c, 0, &s, id, &eb), WR_OK);
    wr_cluster_tick(c, 60000);
    assert_int_equal(job(c, id)->state, WR_CJOB_CREATED);
    wr_cluster_tick(c, 60001);
    assert_int_equal(job(c, id)->state, WR_CJOB_FAILED);
    wr_cluster_free(c);
}

/* ---- randomized model check --------------------------------------------------------- */

static uint64_t rng_state;

static uint64_t rnd(void)
{
    uint64_t z = (rng_state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static int rnd_below(int n)
{
    return (int)(rnd() % (uint64_t)n);
}

static bool task_done(wr_ctask_state s)
{
    return s == WR_CTASK_FINISHED || s == WR_CTASK_FAILED || s == WR_CTASK_CANCELED;
}

/* Recounts every worker's used slots from the jobs and checks the other invariants. */
static void check_model(wr_cluster *c)
{
    int nw = wr_cluster_nworkers(c);
    for (int w = 0; w < nw; w++) {
        const wr_cworker *wk = wr_cluster_worker(c, w);
        int count = 0;
        for (int i = 0; i < wr_cluster_njobs(c); i++) {
            const wr_cjob *j = wr_cluster_job(c, i);
            for (int d = 0; d < j->ndeploys; d++) {
                if (j->deploys[d].worker != w || task_done(j->deploys[d].state))
                    continue;
                for (int s = 0; s < j->parallelism; s++)
                    count += j->worker_of[s] == w;
            }
        }
        assert_int_equal(wk->used, count);
        assert_true(wk->used <= wk->slots);
        if (!wk->alive)
            assert_int_equal(wk->used, 0);
    }
    for (int i = 0; i < wr_cluster_njobs(c); i++) {
        const wr_cjob *j = wr_cluster_job(c, i);
        int live = 0, finished = 0;
        for (int d = 0; d < j->ndeploys; d++) {
            assert_true(j->deploys[d].worker >= 0 && j->deploys[d].worker < nw);
            live += !task_done(j->deploys[d].state);
            finished += j->deploys[d].state == WR_CTASK_FINISHED;
        }
        switch (j->state) {
        case WR_CJOB_CREATED:
            assert_int_equal(j->attempt, 0);
            assert_int_equal(j->ndeploys, 0);
            break;
        case WR_CJOB_RUNNING:
            assert_true(j->attempt >= 1);
            assert_true(finished < j->ndeploys);            /* else FINISHED */
            assert_int_equal(live + finished, j->ndeploys); /* a failure makes it FAILING */
            for (int s = 0; s < j->parallelism; s++)
                assert_non_null(deploy_on(j, j->worker_of[s]));
            break;
        case WR_CJOB_FAILING:
        case WR_CJOB_CANCELING:
            assert_true(live > 0); /* else it would have moved on */
            break;
        case WR_CJOB_FINISHED:
            assert_int_equal(finished, j->ndeploys);
            break;
        default:
            assert_int_equal(live, 0);
            break;
        }
        if (j->state == WR_CJOB_FAILED)
            assert_non_null(j->failure);
        assert_true(j->restarts <= 3);
        assert_true(j->restarts == 0 || j->attempt == (uint32_t)j->restarts + 1);
    }
}

static void used_slots_always_match_a_recount_over_random_events(void **state)
{
    static const char *ids[] = {"w0", "w1", "w2", "w3", "w4"};
    static const wr_ctask_state states[] = {WR_CTASK_DEPLOYING, WR_CTASK_RUNNING,
                                            WR_CTASK_RUNNING,   WR_CTASK_FINISHED,
                                            WR_CTASK_FAILED,    WR_CTASK_CANCELED};
    wr_cluster_config cfg;
    int transitions[WR_CJOB_FINISHED + 1] = {0};

    wr_cluster_config_defaults(&cfg);
    cfg.max_restarts = 3;
    cfg.slot_timeout_ms = 20000;
    rng_state = 7;
    for (int run = 0; run < 60; run++) {
        wr_cluster *c;
        int64_t now = 0;
        cfg.id_seed = (uint64_t)run;
        c = wr_cluster_new(&cfg);
        assert_non_null(c);
        for (int step = 0; step < 600; step++) {
            int nw = wr_cluster_nworkers(c), nj = wr_cluster_njobs(c);
            int kind = rnd_below(100);
            wr_errbuf eb;

            if (kind < 8) {
                const char *id = ids[rnd_below(5)];
                assert_int_equal(
                    wr_cluster_register(c, now, id, "tcp://x", 1 + rnd_below(4), "h", "v", &eb),
                    WR_OK);
            } else if (kind < 15 && nj < 40) {
                char id[WR_CLUSTER_ID_MAX];
                wr_cpart parts[6];
                wr_csubmit s = {"j", "y", "n", 1 + rnd_below(5), parts, rnd_below(7), NULL, NULL};
                for (int k = 0; k < s.nparts; k++) {
                    parts[k].partition = k;
                    parts[k].start = 0;
                    parts[k].stop = -1;
                }
                assert_int_equal(wr_cluster_submit(c, now, &s, id, &eb), WR_OK);
            } else if (kind < 19 && nj > 0) {
                const wr_cjob *j = wr_cluster_job(c, rnd_below(nj));
                char id[WR_CLUSTER_ID_MAX];
                wr_err want = wr_cjob_state_terminal(j->state) ? WR_EINVAL : WR_OK;
                snprintf(id, sizeof id, "%s", j->id);
                assert_int_equal(wr_cluster_cancel(c, now, id, &eb), want);
            } else if (kind < 70 && nw > 0 && nj > 0) {
                /* reports: mostly about a real deployment of the current attempt */
                wr_creport r[3];
                int n = 1 + rnd_below(3), w = rnd_below(nw);
                char wid[WR_CLUSTER_ID_MAX];
                snprintf(wid, sizeof wid, "%s", wr_cluster_worker(c, w)->id);
                for (int i = 0; i < n; i++) {
                    const wr_cjob *j = wr_cluster_job(c, rnd_below(nj));
                    memset(&r[i], 0, sizeof r[i]);
                    r[i].job_id = j->id;
                    r[i].attempt = j->attempt - (rnd_below(6) == 0);
                    r[i].state = states[rnd_below(6)];
                    r[i].message = "m";
                    r[i].stats.watermark = INT64_MIN;
                    if (j->ndeploys > 0 && rnd_below(4) != 0) {
                        w = j->deploys[rnd_below(j->ndeploys)].worker;
                        snprintf(wid, sizeof wid, "%s", wr_cluster_worker(c, w)->id);
                    }
                }
                if (rnd_below(2))
                    wr_cluster_heartbeat(c, now, wid, r, n);
                else
                    wr_cluster_report(c, now, wid, &r[0]);
            } else if (kind < 85 && nw > 0) {
                /* most workers keep beating; one that does not will be lost */
                for (int w = 0; w < nw; w++)
                    if (rnd_below(5) != 0 && wr_cluster_worker(c, w)->alive)
                        assert_true(beat(c, now, wr_cluster_worker(c, w)->id));
            } else {
                now += rnd_below(4000);
                wr_cluster_tick(c, now);
            }
            {
                wr_caction a;
                while (rnd_below(3) != 0 && next_action(c, &a)) {
                    assert_true(a.worker >= 0 && a.worker < wr_cluster_nworkers(c));
                    if (a.kind == WR_CACT_DEPLOY)
                        assert_non_null(wr_cluster_find_job(c, a.job_id));
                }
            }
            check_model(c);
        }
        for (int i = 0; i < wr_cluster_njobs(c); i++)
            transitions[wr_cluster_job(c, i)->state]++;
        wr_cluster_free(c);
    }
    /* the random walk reached every end state */
    assert_true(transitions[WR_CJOB_FINISHED] > 0);
    assert_true(transitions[WR_CJOB_FAILED] > 0);
    assert_true(transitions[WR_CJOB_CANCELED] > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_job_runs_from_created_to_finished_and_gives_its_slots_back),
        cmocka_unit_test(job_ids_are_deterministic_for_a_seed_and_distinct),
        cmocka_unit_test(a_job_submitted_before_any_worker_deploys_at_the_tick_after_registration),
        cmocka_unit_test(a_silent_worker_is_lost_after_the_timeout_and_the_job_restarts_elsewhere),
        cmocka_unit_test(a_job_that_fails_more_often_than_max_restarts_fails_with_the_last_reason),
        cmocka_unit_test(a_failed_deployment_cancels_the_others_and_keeps_the_first_reason),
        cmocka_unit_test(a_worker_registering_again_fails_what_ran_there),
        cmocka_unit_test(registration_checks_its_arguments),
        cmocka_unit_test(cancel_in_every_state),
        cmocka_unit_test(a_worker_running_a_deployment_the_cluster_gave_up_on_is_told_to_cancel_it),
        cmocka_unit_test(heartbeats_from_unknown_or_lost_workers_are_refused),
        cmocka_unit_test(a_job_waiting_longer_than_slot_timeout_for_slots_fails),
        cmocka_unit_test(slots_freed_by_one_job_let_a_waiting_job_deploy),
        cmocka_unit_test(
            consecutive_restarts_back_off_exponentially_up_to_the_cap_and_reset_after_a_good_run),
        cmocka_unit_test(more_failures_than_the_rate_limit_within_the_interval_fail_the_job),
        cmocka_unit_test(failures_spread_wider_than_the_interval_restart_without_a_total_limit),
        cmocka_unit_test(after_a_failure_only_workers_heard_from_since_are_placed),
        cmocka_unit_test(checkpoints_are_triggered_every_interval_once_every_deployment_runs),
        cmocka_unit_test(
            a_checkpoint_completes_with_every_tasks_ack_and_unreferenced_files_are_deleted),
        cmocka_unit_test(a_failure_stops_checkpoints_and_the_next_attempt_restores_the_latest),
        cmocka_unit_test(a_stopping_job_triggers_no_more_checkpoints),
        cmocka_unit_test(submit_refuses_checkpoints_without_storage),
        cmocka_unit_test(a_corrupt_checkpoint_is_never_restored_again),
        cmocka_unit_test(too_many_failed_checkpoints_fail_the_attempt_and_it_restarts),
        cmocka_unit_test(a_restored_running_job_restarts_from_its_newest_checkpoint),
        cmocka_unit_test(restored_checkpoint_ids_never_go_back_below_the_newest_checkpoint),
        cmocka_unit_test(a_restored_terminal_job_stays_terminal),
        cmocka_unit_test(job_stats_sum_the_deployments_and_take_the_lowest_watermark),
        cmocka_unit_test(stop_asks_every_deployment_to_drain_and_the_job_finishes),
        cmocka_unit_test(states_have_their_flink_names_and_three_are_terminal),
        cmocka_unit_test(submit_rejects_a_bad_parallelism_or_partition_list_and_keeps_nothing),
        cmocka_unit_test(used_slots_always_match_a_recount_over_random_events),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
