#!/usr/bin/env python3
"""Filter + map through `weir dev-kafka` and `weir local`, at parallelism 1 and 4, and
with 1 % malformed input: the output topic must equal what an independent model of the
job (written here in Python) computes from the same input, and every bad record must be
in the dead-letter topic with its original bytes, topic, partition and offset."""
import json
import random

from harness import DevKafka, check, consume, main, produce, run_local, write_job

PARTITIONS = 4
N = 6000

JOB = """
name: it-filter-map
parallelism: 1
limits: {{max_record_bytes: 4KiB}}
sources:
  - name: clicks
    kafka: {{brokers: "{b}", topic: clicks, stop: latest}}
    schema: {{user: string, url: string, ts: timestamp_ms, amount: double, qty: long, note: string?}}
pipeline:
  - filter: "amount > 0 && url != '/health'"
  - map:
      user: "lower(user)"
      url: url
      ts: ts
      amount_cents: "amount * 100"
      label: "concat(user, ':', url)"
      per_qty: "100 / qty"
      note: "coalesce(note, 'none')"
sinks:
  - kafka: {{brokers: "{b}", topic: {out}}}
{dlq}
"""


def make_events(seed, n):
    rnd = random.Random(seed)
    urls = ["/a", "/b", "/health", "/c?x=1", "/d/\u00e9t\u00e9"]
    events = []
    for i in range(n):
        e = {
            "user": "User%d%s" % (rnd.randrange(300), rnd.choice(["", "X", "Ab"])),
            "url": rnd.choice(urls),
            "ts": 1700000000000 + i * 37,
            "amount": round(rnd.uniform(-50, 500), 2) if rnd.random() < 0.9 else rnd.randrange(-5, 50),
            "qty": rnd.randrange(1, 10),
        }
        if rnd.random() < 0.3:
            e["note"] = "n%d" % rnd.randrange(10)
        if rnd.random() < 0.1:
            e["extra"] = {"nested": [1, 2, {"deep": "skip me"}]}  # unused: skipped, still valid
        events.append(e)
    return events


def model(events):
    """The job, computed independently: filter, then the map's projection."""
    out = []
    for e in events:
        if not (e["amount"] > 0 and e["url"] != "/health"):
            continue
        out.append({
            "user": e["user"].lower(),
            "url": e["url"],
            "ts": e["ts"],
            "amount_cents": float(e["amount"]) * 100,
            "label": e["user"] + ":" + e["url"],
            "per_qty": 100 // e["qty"],
            "note": e.get("note", "none"),
        })
    return out


def canon(rec):
    """A comparable form: numbers as floats (JSON does not tell 350 from 350.0)."""
    norm = {k: float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v
            for k, v in rec.items()}
    return json.dumps(norm, sort_keys=True)


def spread(values):
    """Round-robin over partitions: returns {partition: [values...]}."""
    parts = {p: [] for p in range(PARTITIONS)}
    for i, v in enumerate(values):
        parts[i % PARTITIONS].append(v)
    return parts


def run_and_compare(parallelism):
    events = make_events(parallelism, N)
    with DevKafka({"clicks": PARTITIONS, "out": 3}) as k:
        for p, vals in spread([json.dumps(e) for e in events]).items():
            produce(k.bootstrap, "clicks", p, vals)
        job = write_job(JOB.format(b=k.bootstrap, out="out", dlq=""))
        rc, stats, err = run_local(job, "--parallelism", str(parallelism))
        check(rc == 0, f"weir local failed ({rc}): {err}")
        got = [json.loads(m["payload"]) for m in consume(k.bootstrap, "out")]
    want = model(events)
    check(stats["records_in"] == N, f"records_in {stats['records_in']} != {N}")
    check(stats["records_out"] == len(want), f"records_out {stats['records_out']} != {len(want)}")
    check(stats["filtered"] == N - len(want), f"filtered {stats['filtered']} != {N - len(want)}")
    check(stats["dead_letters"] == 0, "unexpected dead letters")
    g, w = sorted(map(canon, got)), sorted(map(canon, want))
    if g != w:
        missing = set(w) - set(g)
        extra = set(g) - set(w)
        raise AssertionError(f"output differs from the model: {len(got)} vs {len(want)} records; "
                             f"e.g. missing {list(missing)[:2]}, unexpected {list(extra)[:2]}")


def filter_and_map_at_parallelism_1_equal_the_model():
    run_and_compare(1)


def filter_and_map_at_parallelism_4_equal_the_model():
    run_and_compare(4)


def one_percent_malformed_input_goes_to_the_dead_letter_topic_and_nothing_else_changes():
    rnd = random.Random(7)
    events = make_events(3, N)
    values = [json.dumps(e) for e in events]
    bad_kinds = [
        ("not json at all", "invalid JSON"),
        ('{"user":"a","url":', "invalid JSON"),
        ('{"user":"a","url":"/a","ts":1,"qty":1}', "missing required field 'amount'"),
        ('{"user":"a","url":"/a","ts":1,"amount":"12","qty":1}', "field 'amount'"),
        ('{"user":"a","url":"/a","ts":1,"amount":1.5,"qty":1,"pad":"%s"}' % ("x" * 5000),
         "exceeds limits.max_record_bytes"),
        ('{"user":"a","url":"/a","ts":1,"amount":2.5,"qty":0}', "division by zero"),
    ]
    injected = {}  # index in values -> (bytes, expected reason)
    for idx in rnd.sample(range(N), N // 100):
        raw, reason = bad_kinds[len(injected) % len(bad_kinds)]
        values[idx] = raw
        injected[idx] = (raw, reason)
    good = [e for i, e in enumerate(events) if i not in injected]
    with DevKafka({"clicks": PARTITIONS, "out": 2, "dlq": 1}) as k:
        parts = spread(values)
        for p, vals in parts.items():
            produce(k.bootstrap, "clicks", p, vals)
        dlq = f'dead_letter: {{kafka: {{brokers: "{k.bootstrap}", topic: dlq}}}}'
        job = write_job(JOB.format(b=k.bootstrap, out="out", dlq=dlq))
        rc, stats, err = run_local(job, "--parallelism", "2")
        check(rc == 0, f"weir local failed ({rc}): {err}")
        got = [json.loads(m["payload"]) for m in consume(k.bootstrap, "out")]
        dead = consume(k.bootstrap, "dlq")
    check(stats["dead_letters"] == len(injected),
          f"dead_letters {stats['dead_letters']} != injected {len(injected)}")
    check(len(dead) == len(injected), f"{len(dead)} records in the dead-letter topic, "
          f"expected {len(injected)}")
    for m in dead:
        h = m["headers"]
        p, off = int(h["weir.source.partition"]), int(h["weir.source.offset"])
        idx = off * PARTITIONS + p  # inverse of spread()
        check(idx in injected, f"dead letter for partition {p} offset {off} was not injected")
        raw, reason = injected[idx]
        check(m["payload"] == raw, f"dead letter bytes changed at {p}/{off}")
        check(h["weir.source.topic"] == "clicks", "wrong source topic header")
        check(reason in h["weir.error"], f"reason '{h['weir.error']}' lacks '{reason}'")
    want = model(good)
    check(sorted(map(canon, got)) == sorted(map(canon, want)),
          f"valid output differs from the model: {len(got)} vs {len(want)}")


def key_by_shuffles_across_subtasks_without_losing_or_changing_records():
    """key_by makes a hash exchange: every record crosses to the subtask owning its key
    group, and the map after it runs there."""
    events = make_events(11, N)
    job_text = JOB.replace("  - map:\n", "  - key_by: user\n  - map:\n")
    check(job_text != JOB, "key_by not inserted")
    with DevKafka({"clicks": PARTITIONS, "out": 4}) as k:
        for p, vals in spread([json.dumps(e) for e in events]).items():
            produce(k.bootstrap, "clicks", p, vals)
        job = write_job(job_text.format(b=k.bootstrap, out="out", dlq=""))
        rc, stats, err = run_local(job, "--parallelism", "4")
        check(rc == 0, f"weir local failed ({rc}): {err}")
        got = [json.loads(m["payload"]) for m in consume(k.bootstrap, "out")]
    want = model(events)
    check(sorted(map(canon, got)) == sorted(map(canon, want)),
          f"output differs from the model: {len(got)} vs {len(want)}")


if __name__ == "__main__":
    main([
        key_by_shuffles_across_subtasks_without_losing_or_changing_records,
        filter_and_map_at_parallelism_1_equal_the_model,
        filter_and_map_at_parallelism_4_equal_the_model,
        one_percent_malformed_input_goes_to_the_dead_letter_topic_and_nothing_else_changes,
    ])
