#!/usr/bin/env python3
"""Alert to webhook: from an agent's wellbeing break to the signed POST at a receiver, over loopback.

An agent takes a wellbeing break (`status.set` `break`, reason `abusive_call`); the alert is
committed with its notice in the same transaction, and the daemon's sender posts it (format
`json`, signed as Standard Webhooks says) to a receiver in this process, which answers 200 at
once. Measured per alert, from the moment the agent's request is sent: `answer` (the change is
committed) and `delivered` (the receiver has read the whole POST). The agent then goes back to
`available` (not timed) and the next break follows after a pause, so that each sample is one
alert on an otherwise quiet floor. With --targets N, N targets get each alert and `delivered` is
when the last of them arrived.

  python3 Benchmarks/notify_latency.py [--alerts 300] [--targets 1] [--binary .build/release/huddled]
"""
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "Prove/lib"))
import huddle as H  # noqa: E402


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p * (len(ordered) - 1))))]


class Sink:
    """Stamps each raise notice the moment its body has been read: alert id -> arrival times."""

    def __init__(self):
        self.arrivals: dict[int, list[float]] = {}
        self.changed = threading.Condition()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                now = time.perf_counter()
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
                notice = json.loads(body)
                if notice.get("type") == "alert.raised":
                    with sink.changed:
                        sink.arrivals.setdefault(notice["data"]["alert"], []).append(now)
                        sink.changed.notify_all()

        class Server(ThreadingHTTPServer):
            daemon_threads = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, alert: int, count: int, timeout: float) -> float | None:
        with self.changed:
            if not self.changed.wait_for(lambda: len(self.arrivals.get(alert, [])) >= count, timeout):
                return None
            return max(self.arrivals[alert][:count])


def scenario(h: H.Harness, args):
    sink = Sink()
    data = h.tmp / "data"
    h.team_add(data)
    agent = h.user_add(data, "alice", "agent")
    for i in range(args.targets):
        h.admin(data, "notify", "add", H.TEAM, "--url", f"http://127.0.0.1:{sink.port}/t{i}", "--format", "json",
                "--allow-http")
    # The benchmark goes faster than an agent may (20 requests a second by default).
    d = h.daemon(data=data, extra=["--notify-allow-http", "--rate-per-s", "1000", "--rate-burst", "1000"])
    d.start()
    c = d.connect()
    c.hello(agent, "bench-notify")
    c.join(H.TEAM)
    answers, delivered = [], []
    for n in range(args.warmup + args.alerts):
        t0 = time.perf_counter()
        c.call("status.set", {"status": "break", "reason": "abusive_call"}, timeout=10)
        t1 = time.perf_counter()
        alert = n + 1  # alert ids count from 1; nothing else raises alerts on this floor
        arrived = sink.wait(alert, args.targets, 15)
        H.check(arrived is not None, f"alert {alert}: its notice did not arrive within 15 s")
        c.call("status.set", {"status": "available"}, timeout=10)
        if n >= args.warmup:
            answers.append((t1 - t0) * 1000)
            delivered.append((arrived - t0) * 1000)
        time.sleep(args.pause)
    c.close()
    d.stop()
    result = {
        "bench": "notify_latency", "targets": args.targets, "alerts": args.alerts,
        "answer_p50_ms": round(percentile(answers, 0.5), 2), "answer_p99_ms": round(percentile(answers, 0.99), 2),
        "delivered_p50_ms": round(percentile(delivered, 0.5), 2),
        "delivered_p99_ms": round(percentile(delivered, 0.99), 2),
        "delivered_max_ms": round(max(delivered), 2),
    }
    for key, value in result.items():
        h.figure(key, value)
    if args.output:
        with open(args.output, "a") as f:
            f.write(json.dumps(result) + "\n")


def main():
    p = H.parser(__doc__.splitlines()[0])
    p.add_argument("--alerts", type=int, default=300)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--targets", type=int, default=1)
    p.add_argument("--pause", type=float, default=0.05, help="seconds between one alert's end and the next")
    p.add_argument("--output", help="append the figures as one JSON line to this file")
    args = p.parse_args()
    H.run("notify_latency", args, scenario, default_time_limit=600)


if __name__ == "__main__":
    main()
