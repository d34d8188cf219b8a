#!/usr/bin/env python3
"""Backpressure across workers. Two workers with one slot each run the keyed window job
at parallelism 2, so each worker runs one source subtask and one window subtask and
about half of the records cross to the other worker. Both are deliberately slow
consumers (WEIR_FAULT_SLOW_BATCH_US: every window/sink subtask sleeps per data batch),
and the input is tens of MB. Credit-based flow control must then hold the sources back
instead of piling records up in memory:

- nothing is lost: the output equals the reference model exactly (one message per key);
- the sources waited for credit: the job's `backpressured_ms` > 0;
- each worker's peak RSS (VmHWM) grows, from its peak after a small warm-up run of the
  same job, by no more than what flow control lets it hold (allowance_bytes below) —
  which is less than the input each worker reads, so holding the input (what ignoring
  credits would do: the sources read at full speed) breaks the bound.

The warm-up run makes the measurement about buffering: it already paid for what any
run of the job costs once (RocksDB, librdkafka clients, threads, allocator arenas).
User names are long (~110 bytes) so that the records crossing the exchange carry most
of the input's bytes. The measured numbers are printed."""
import os
import time

from cluster import (ASAN, COORDINATOR_BIN, WEIR, WORKER_BIN, Cluster, check,
                     check_placement, check_window_output, consume, gen_events, max_lag,
                     produce_all, reference, require_binaries, run_tests, wait_until,
                     window_job)

KIB = 1024
MIB = 1024 * KIB

NPARTS = 18
# ~153 bytes per event: ~3.5 MiB per partition (the mock keeps ~5 MB), 63 MiB in all,
# so each worker's source subtask reads ~32 MiB.
NEVENTS = 432000
NUSERS = 100      # few keys: the window state stays in the cache (RocksDB stays quiet)
USER_PAD = 100
BOUND_MS = 5000
P = 2
# ~1000 data batches of 32 KiB per window subtask at 15 ms each: the run takes ~19 s
# (measured, release and ASan alike), the windows take ~2 MiB/s each, far less than
# the sources could read, and the sources waited for credit for most of it
# (backpressured_ms ~17-18 s summed over the two sources).
SLOW_BATCH_US = 15000

# The job's memory knobs, set explicitly (and small) so that the bound below is
# computed from them and is well under the input.
CONSUMER_QUEUE_KIB = 2048     # librdkafka prefetch per source subtask
FETCH_BYTES = 1 * MIB         # librdkafka fetch.max.bytes: one fetch response in flight
PARTITION_FETCH_BYTES = 256 * KIB  # max.partition.fetch.bytes
PRODUCER_QUEUE_KIB = 2048     # the sink's librdkafka buffer
CHANNEL_BATCHES = 4           # credits per channel
BATCH_BYTES = 32 * KIB        # string bytes per batch (the default)
STATE_MEMORY = 2 * MIB        # write-back cache of the whole job
WRITE_BUFFER = 512 * KIB      # RocksDB memtable per window subtask
BLOCK_CACHE = 512 * KIB       # RocksDB block cache per window subtask
EXTRA = (f"limits: {{consumer_queue_kbytes: {CONSUMER_QUEUE_KIB}, "
         f"producer_queue_kbytes: {PRODUCER_QUEUE_KIB}, "
         f"channel_batches: {CHANNEL_BATCHES}, batch_bytes: {BATCH_BYTES // KIB}KiB}}\n"
         f"state: {{memory: {STATE_MEMORY // KIB}KiB, write_buffer: {WRITE_BUFFER // KIB}KiB, "
         f"block_cache: {BLOCK_CACHE // KIB}KiB}}\n")
SRC_EXTRA = (f", properties: {{fetch.max.bytes: {FETCH_BYTES}, "
             f"max.partition.fetch.bytes: {PARTITION_FETCH_BYTES}}}")


def allowance_bytes():
    """What one worker (one source subtask, one window subtask) may hold beyond what the
    warm-up run already made it hold, with credits respected:
    - channels: its window subtask has P input channels (one per source subtask; the
      local one in-process) with at most CHANNEL_BATCHES batches each, and its source
      subtask sends on P channels; a batch holds up to BATCH_BYTES of strings plus
      per-record overhead (counted as the same again); x2 for batches being filled,
      encoded and decoded around them;
    - Kafka: the consumer prefetch queue, one fetch response in flight, the producer's
      buffer for the output;
    - state: its share of the cache, two memtables, the block cache;
    - 12 MiB for allocator fragmentation and slack.
    That is 23.5 MiB. Measured (2 cores): +10 to +15 MiB over the warm-up peak (warm-up
    peak ~22-33 MiB, idle ~15 MiB).
    Under ASan (shadow memory, redzones) all of it, like any pile-up, costs about twice:
    47 MiB allowed, +20 to +21.5 MiB measured."""
    channels = 2 * (2 * P * CHANNEL_BATCHES) * (2 * BATCH_BYTES)
    kafka = 2 * CONSUMER_QUEUE_KIB * KIB + FETCH_BYTES + PRODUCER_QUEUE_KIB * KIB
    state = STATE_MEMORY // P + 2 * WRITE_BUFFER + BLOCK_CACHE
    total = channels + kafka + state + 12 * MIB
    return total * (2 if ASAN else 1)


def run_job(c, k, name, src, out, parts):
    """Produces parts to src, runs the job (P=2) to FINISHED while sampling RSS; returns
    (status, seconds, input bytes, {worker: max sampled RSS})."""
    nbytes = produce_all(k.bootstrap, src, parts)
    job = window_job(name, k.bootstrap, src, out, bound_ms=BOUND_MS, extra=EXTRA,
                     src_extra=SRC_EXTRA)
    t0 = time.monotonic()
    sub, jid = c.submit_background(job, P, timeout_s=240)
    sampled = {wid: 0 for wid in c.workers}

    def ended():
        for wid, w in c.workers.items():
            sampled[wid] = max(sampled[wid], w.vm()["VmRSS"] * KIB)
        return sub.proc.poll() is not None
    wait_until(ended, 240, f"weir submit --wait ({name}) to return", interval=0.25)
    secs = time.monotonic() - t0
    st = c.status(jid)
    check(sub.proc.returncode == 0 and st.get("state") == "FINISHED",
          f"{name}: weir submit --wait exited {sub.proc.returncode}; job {st.get('state')}: "
          f"{st.get('failure')}; {sub.tail(5)}")
    check_placement(st, NPARTS, workers={"w1", "w2"})
    check_window_output(consume(k.bootstrap, out), reference(parts), duplicates_allowed=False)
    return st, secs, nbytes, sampled


def slow_consumers_backpressure_the_sources_and_memory_stays_bounded():
    require_binaries(WEIR, COORDINATOR_BIN, WORKER_BIN)
    with Cluster("backpressure") as c:
        k = c.start_kafka({"warm": NPARTS, "warm-out": 2, "clicks": NPARTS, "out": 2})
        c.start_coordinator()
        env = {"WEIR_FAULT_SLOW_BATCH_US": str(SLOW_BATCH_US)}
        if ASAN:
            # ASan keeps freed memory in a quarantine (256 MiB by default): RSS that says
            # nothing about weir. Keep it small so the bound still means something.
            env["ASAN_OPTIONS"] = (os.environ.get("ASAN_OPTIONS", "") +
                                   ":quarantine_size_mb=4:thread_local_quarantine_size_kb=64"
                                   ).lstrip(":")
        for i in (1, 2):
            c.start_worker(f"w{i}", slots=1, env=env)
        c.wait_workers_alive()
        idle = {wid: w.vm()["VmRSS"] * KIB for wid, w in c.workers.items()}

        warm = gen_events(30, 4000, nusers=NUSERS, nparts=NPARTS, bound_ms=BOUND_MS,
                          user_pad=USER_PAD)
        _, warm_s, _, _ = run_job(c, k, "backpressure-warmup", "warm", "warm-out", warm)
        base = {wid: w.vm()["VmHWM"] * KIB for wid, w in c.workers.items()}

        parts = gen_events(31, NEVENTS, nusers=NUSERS, nparts=NPARTS, bound_ms=BOUND_MS,
                           user_pad=USER_PAD)
        check(max(max_lag(e) for e in parts.values()) < BOUND_MS, "test data: a record is late")
        st, secs, nbytes, sampled = run_job(c, k, "backpressure-clicks", "clicks", "out", parts)
        peak = {wid: w.vm()["VmHWM"] * KIB for wid, w in c.workers.items()}
        stats = st.get("stats") or {}
        bp = stats.get("backpressured_ms")
        allow = allowance_bytes()
        per_worker_input = nbytes // P
        report = "; ".join(
            f"{wid}: idle {idle[wid] / MIB:.1f} MiB, after warm-up {base[wid] / MIB:.1f}, "
            f"peak {peak[wid] / MIB:.1f} (+{(peak[wid] - base[wid]) / MIB:.1f}), max sampled "
            f"RSS {sampled[wid] / MIB:.1f}" for wid in sorted(peak))
        print(f"     {NEVENTS} events, {nbytes / MIB:.1f} MiB in {NPARTS} partitions "
              f"({per_worker_input / MIB:.1f} MiB per worker); warm-up {warm_s:.1f} s, run "
              f"{secs:.1f} s; backpressured_ms {bp}; {report}; allowed growth "
              f"{allow / MIB:.1f} MiB{' (ASan x2)' if ASAN else ''}")
        check(stats.get("records_in") == NEVENTS,
              f"records_in {stats.get('records_in')}, expected {NEVENTS}")
        check(isinstance(bp, (int, float)) and bp > 0,
              f"backpressured_ms {bp!r}: the sources never waited for credit (stats: {stats})")
        # The bound proves something only if holding the input would break it (under
        # ASan, holding it would cost about twice, as the allowance does).
        check(allow < per_worker_input * (2 if ASAN else 1),
              f"test bug: allowance {allow / MIB:.1f} MiB is not below the input a worker "
              f"reads ({per_worker_input / MIB:.1f} MiB): the bound would prove nothing")
        over = {wid: f"+{(peak[wid] - base[wid]) / MIB:.1f} MiB" for wid in peak
                if peak[wid] - base[wid] > allow}
        check(not over, f"peak RSS grew by more than {allow / MIB:.1f} MiB over the warm-up "
              f"run's: {over} — is something buffering without credit?")


if __name__ == "__main__":
    run_tests([slow_consumers_backpressure_the_sources_and_memory_stays_bounded])
