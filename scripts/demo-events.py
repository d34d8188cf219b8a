#!/usr/bin/env python3
"""Sample click events for the demo, one JSON object per line on stdout, forever
(or --count N). About 1 in 40 lines is malformed on purpose, to show dead letters."""
import json
import random
import sys
import time

rnd = random.Random(42)
users = ["Alice", "Bob", "Carol", "Dave", "Eve", "Mallory"]
urls = ["/", "/cart", "/checkout", "/health", "/product/7", "/product/9"]
count = int(sys.argv[sys.argv.index("--count") + 1]) if "--count" in sys.argv else None
rate = float(sys.argv[sys.argv.index("--rate") + 1]) if "--rate" in sys.argv else 20.0
i = 0


def main():
    global i
    while count is None or i < count:
        if i % 40 == 39:
            line = '{"user": "Zed", "url": "/broken", "amount": ' # malformed: cut short
        else:
            line = json.dumps({
                "user": rnd.choice(users),
                "url": rnd.choice(urls),
                "ts": int(time.time() * 1000),
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
