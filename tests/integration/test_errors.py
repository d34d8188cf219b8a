#!/usr/bin/env python3
"""Bad input at the edges: a bad job file, an unreachable broker, missing topics, and a
malformed record with no dead-letter topic. Each must end with a clear one-line reason
and a non-zero exit, never a hang, a crash or a silently dropped record."""
import json

from harness import DevKafka, check, main, produce, run_local, run_weir, write_job

GOOD = """name: e
sources:
  - name: clicks
    kafka: {{brokers: "{b}", topic: {src}, stop: latest}}
    schema: {{user: string, amount: double}}
pipeline:
  - filter: "amount > 0"
sinks:
  - kafka: {{brokers: "{b}", topic: {out}}}
"""


def a_bad_job_file_is_refused_with_file_line_and_field():
    job = write_job("name: e\nparalellism: 2\nsources: []\nsinks: []\n")
    rc, out, err = run_weir("validate", job)
    check(rc == 2, f"validate exit {rc}, expected 2")
    check(f"{job}:2:1: paralellism: unknown field" in err or f"{job}:2:1:" in err and "paralellism" in err,
          f"error does not name file, line and field: {err}")
    rc, stats, err = run_local(job)
    check(rc == 2 and "paralellism" in err, f"local accepted a bad job ({rc}): {err}")


def an_expression_type_error_names_the_line_and_the_problem():
    job = write_job(GOOD.format(b="127.0.0.1:1", src="clicks", out="o").replace(
        '"amount > 0"', '"amount + 1"'))
    rc, out, err = run_weir("validate", job)
    check(rc == 2, f"validate exit {rc}")
    check(":7:" in err and "filter" in err and "bool" in err, f"unclear error: {err}")


def validate_prints_the_plan_with_key_groups():
    job = write_job(GOOD.format(b="127.0.0.1:1", src="clicks", out="o").replace(
        '  - filter: "amount > 0"', '  - filter: "amount > 0"\n  - key_by: user'))
    rc, out, err = run_weir("validate", job, "--parallelism", "2")
    check(rc == 0, f"validate failed: {err}")
    check("key groups 0-63" in out and "key groups 64-127" in out, f"no key-group ranges: {out}")
    check("filter" in out and "key_by" in out, f"operators missing from the plan: {out}")


def an_unreachable_broker_fails_fast_with_its_address():
    job = write_job(GOOD.format(b="127.0.0.1:1", src="clicks", out="o"))
    rc, stats, err = run_local(job, "--kafka-timeout", "2000")
    check(rc == 1, f"exit {rc}, expected 1: {err}")
    check("cannot reach Kafka brokers at 127.0.0.1:1" in err, f"unclear error: {err}")


def a_missing_source_topic_is_named():
    with DevKafka({"out": 1}) as k:
        job = write_job(GOOD.format(b=k.bootstrap, src="nope", out="out"))
        rc, stats, err = run_local(job, "--kafka-timeout", "5000")
    check(rc == 1 and "topic 'nope' does not exist" in err, f"({rc}) unclear error: {err}")


def a_missing_sink_topic_is_named():
    with DevKafka({"clicks": 1}) as k:
        job = write_job(GOOD.format(b=k.bootstrap, src="clicks", out="missing-out"))
        rc, stats, err = run_local(job, "--kafka-timeout", "5000")
    check(rc == 1 and "topic 'missing-out' does not exist" in err and "sink" in err,
          f"({rc}) unclear error: {err}")


def without_a_dead_letter_topic_a_bad_record_fails_the_job_naming_where_it_is():
    with DevKafka({"clicks": 1, "out": 1}) as k:
        produce(k.bootstrap, "clicks", 0, [json.dumps({"user": "a", "amount": 1.0})] * 3
                + ['{"user": "a", "amount": "lots"}'])
        job = write_job(GOOD.format(b=k.bootstrap, src="clicks", out="out"))
        rc, stats, err = run_local(job)
    check(rc == 1, f"exit {rc}, expected 1")
    check("topic clicks partition 0 offset 3" in err and "field 'amount'" in err,
          f"error does not locate the record: {err}")
    check(stats is not None and stats["state"] == "FAILED", f"stats: {stats}")


def an_unbounded_job_stops_gracefully_on_sigint_with_everything_written():
    import signal
    import subprocess
    from harness import WEIR, consume
    with DevKafka({"clicks": 2, "out": 1}) as k:
        produce(k.bootstrap, "clicks", 0, [json.dumps({"user": "a", "amount": i + 1.0})
                                           for i in range(50)])
        job = write_job(GOOD.format(b=k.bootstrap, src="clicks", out="out")
                        .replace(", stop: latest", ""))
        p = subprocess.Popen([WEIR, "local", job, "--json"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        try:
            # the event to wait for: all 50 records are in the output topic
            for _ in range(600):
                if len(consume(k.bootstrap, "out")) >= 50 or p.poll() is not None:
                    break
            check(p.poll() is None, "the unbounded job ended by itself")
            p.send_signal(signal.SIGINT)
            out, err = p.communicate(timeout=60)
        finally:
            if p.poll() is None:
                p.kill()
        got = consume(k.bootstrap, "out")
    check(p.returncode == 0, f"exit {p.returncode} after SIGINT: {err}")
    stats = json.loads(out.strip().splitlines()[-1])
    check(stats["state"] == "FINISHED" and stats["records_out"] == 50, f"stats {stats}")
    check(len(got) == 50, f"{len(got)} records in the output topic, expected 50")


if __name__ == "__main__":
    main([
        an_unbounded_job_stops_gracefully_on_sigint_with_everything_written,
        a_bad_job_file_is_refused_with_file_line_and_field,
        an_expression_type_error_names_the_line_and_the_problem,
        validate_prints_the_plan_with_key_groups,
        an_unreachable_broker_fails_fast_with_its_address,
        a_missing_source_topic_is_named,
        a_missing_sink_topic_is_named,
        without_a_dead_letter_topic_a_bad_record_fails_the_job_naming_where_it_is,
    ])
