#!/usr/bin/env python3
"""Sample click events for the demo, one JSON object per line on stdout, forever
(or --count N). About 1 in 40 lines is malformed on purpose, to show dead letters.

Event time runs --speed times faster than the wall clock (default 6: a one-minute
window closes every 10 s), a few events are up to 3 s out of order (within the demo
job's bound), and about 1 in 60 is two minutes late, to show late data."""
import json
import random
import sys
import time

rnd = random.Random(42)
users = ["Alice", "Bob", "Carol", "Dave", "Eve", "Mallory"]
urls = ["/", "/cart", "/checkout", "/health", "/product/7", "/product/9"]
count = int(sys.argv[sys.argv.index("--count") + 1]) if "--count" in sys.argv else None
rate = float(sys.argv[sys.argv.index("--rate") + 1]) if "--rate" in sys.argv else 20.0
speed = float(sys.argv[sys.argv.index("--speed") + 1]) if "--speed" in sys.argv else 6.0
start = time.time()
i = 0


def event_time():
    now = start + (time.time() - start) * speed
    ts = int(now * 1000)
    if i % 60 == 59:
        return ts - 120000  # two minutes late: past the window and its lateness
    if rnd.random() < 0.2:
        return ts - rnd.randrange(3000)  # out of order, within max_out_of_orderness
    return ts


def main():
    global i
    while count is None or i < count:
        if i % 40 == 39:
            line = '{"user": "Zed", "url": "/broken", "amount": ' # malformed: cut short
        else:
            line = json.dumps({
                "user": rnd.choice(users),
                "url": rnd.choice(urls),
                "ts": event_time(),
                "amount": round(rnd.choice([0, rnd.uniform(1, 120)]), 2),
            })
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
        i += 1
        time.sleep(1.0 / rate)  # pacing for people watching; not a test


try:
    main()
except (KeyboardInterrupt, BrokenPipeError):
    pass
