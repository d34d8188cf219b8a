#!/usr/bin/env python3
"""`weir dev-kafka`: announces its bootstrap address, serves any librdkafka client
(kcat here), relays a fixed --port, and stops cleanly on SIGINT and SIGTERM."""
import signal
import socket
import subprocess

from harness import WEIR, DevKafka, check, consume, main, produce


def kcat_can_produce_and_read_back_through_the_announced_address():
    with DevKafka({"t": 3}) as k:
        produce(k.bootstrap, "t", 2, ["one", "two"])
        got = [(m["partition"], m["offset"], m["payload"]) for m in consume(k.bootstrap, "t")]
    check(got == [(2, 0, "one"), (2, 1, "two")], f"read back {got}")


def a_fixed_port_relays_to_the_mock_broker():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # the port is free now; dev-kafka takes it next
    p = subprocess.Popen([WEIR, "dev-kafka", "--port", str(port), "--topic", "r:1"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        for line in p.stdout:
            lines.append(line)
            if line.strip() == "ready":
                break
        check(f"bootstrap: 127.0.0.1:{port}\n" in lines, f"announced {lines}")
        produce(f"127.0.0.1:{port}", "r", 0, ["via relay"])
        got = [m["payload"] for m in consume(f"127.0.0.1:{port}", "r")]
        check(got == ["via relay"], f"read back {got}")
    finally:
        p.send_signal(signal.SIGINT)
        rc = p.wait(timeout=30)
    check(rc == 0, f"exit {rc} after SIGINT")


def sigint_and_sigterm_stop_it_cleanly():
    for sig in (signal.SIGINT, signal.SIGTERM):
        k = DevKafka({"t": 1})
        k.proc.send_signal(sig)
        rc = k.proc.wait(timeout=30)
        err = k.proc.stderr.read()
        check(rc == 0, f"exit {rc} after {sig.name}: {err}")
        check("stopping" in err, f"no stop message: {err}")


def a_busy_port_is_a_clear_error():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    port = s.getsockname()[1]
    try:
        r = subprocess.run([WEIR, "dev-kafka", "--port", str(port)], capture_output=True,
                           text=True, timeout=60)
    finally:
        s.close()
    check(r.returncode != 0 and f"cannot listen on 127.0.0.1:{port}" in r.stderr,
          f"({r.returncode}) {r.stderr}")


if __name__ == "__main__":
    main([
        kcat_can_produce_and_read_back_through_the_announced_address,
        a_fixed_port_relays_to_the_mock_broker,
        sigint_and_sigterm_stop_it_cleanly,
        a_busy_port_is_a_clear_error,
    ])
