#!/usr/bin/env python3
"""Alert latency: from an agent's status change to the supervisor's screen, over TLS.

An agent ends an abusive call and takes a wellbeing break (`status.set` `break` with reason
`abusive_call`); a supervisor who watches the team gets a `wellbeing_break` alert on the
supervisors' stream. Measured, per change, from the moment the agent's request is sent:
- `answer`: the agent's result (the change is committed: SQLite, synced);
- `status`: the supervisor receives the `status` event (team stream);
- `alert`: the supervisor receives the `alert` event.
The agent then goes back to `available` (not timed) and the next change follows after a pause,
so each sample is one change on an otherwise quiet floor, as on a real one. Client and daemon
share the machine; the Python client adds some tens of microseconds to each figure.

  python3 Benchmarks/alert_latency.py [--changes 300] [--binary .build/release/huddled]
"""
import json
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "Prove/lib"))
import huddle as H  # noqa: E402


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p * (len(ordered) - 1))))]


class Watcher:
    """The supervisor's connection, read by a thread of its own: each event is stamped the moment
    its line is read, whatever the main thread is doing."""

    def __init__(self, client: H.Client):
        self.client = client
        self.seen: dict[tuple[str, str], float] = {}
        self.changed = threading.Condition()
        self.stop = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop:
            try:
                msg = self.client.read_message(0.5)
            except H.Closed:
                return
            if msg is None or msg.get("method") != "event":
                continue
            now = time.perf_counter()
            p = msg["params"]
            key = None
            if p.get("type") == "status" and p.get("status") == "break":
                key = ("status", p["user"])
            elif p.get("type") == "alert" and p.get("kind") == "wellbeing_break":
                key = ("alert", p["user"])
            if key:
                with self.changed:
                    self.seen[key] = now
                    self.changed.notify_all()

    def wait(self, key, timeout: float) -> float:
        with self.changed:
            H.check(self.changed.wait_for(lambda: key in self.seen, timeout), f"no {key} within {timeout} s")
            return self.seen.pop(key)


def scenario(h: H.Harness, args):
    d = h.daemon()
    h.team_add(d.data, H.TEAM)
    agents = [h.user_add(d.data, f"agent{i}", "agent") for i in range(args.agents)]
    sam = h.user_add(d.data, "sam", "supervisor")
    d.start()
    sup = d.connect(name="sam")
    sup.hello(sam)
    sup.call("policy.set", {"team": H.TEAM, "policy": {"min_available": 0, "max_on_break": 1000,
                                                        "wellbeing": {"escalate_after_s": 86400}},
                            "comment": "alert latency benchmark"})
    sup.join(H.TEAM)
    peers = []
    for i, token in enumerate(agents):
        c = d.connect(name=f"agent{i}")
        c.hello(token)
        c.call("status.set", {"status": "available"})
        peers.append(c)
    watcher = Watcher(sup)
    time.sleep(0.5)

    samples = {"answer": [], "status": [], "alert": []}
    for n in range(args.changes):
        agent, user = peers[n % len(peers)], f"agent{n % len(peers)}"
        t0 = time.perf_counter()
        agent.call("status.set", {"status": "break", "reason": "abusive_call"}, timeout=10)
        samples["answer"].append(time.perf_counter() - t0)
        samples["status"].append(watcher.wait(("status", user), 10) - t0)
        samples["alert"].append(watcher.wait(("alert", user), 10) - t0)
        agent.call("status.set", {"status": "available"})
        time.sleep(args.pause)
    watcher.stop = True

    summary = {}
    for key, values in samples.items():
        ms = [v * 1000 for v in values]
        row = {"p50_ms": round(statistics.median(ms), 3), "p90_ms": round(percentile(ms, 0.9), 3),
               "p99_ms": round(percentile(ms, 0.99), 3), "max_ms": round(max(ms), 3)}
        summary[key] = row
        h.figure(f"{key} (ms) p50 / p90 / p99 / max",
                 f"{row['p50_ms']} / {row['p90_ms']} / {row['p99_ms']} / {row['max_ms']}")
    print(json.dumps({"bench": "alert_latency", "changes": args.changes, "transport": "tls", "results": summary}),
          flush=True)
    watcher.thread.join(2)
    d.stop()


def main():
    p = H.parser(__doc__.splitlines()[0])
    p.add_argument("--changes", type=int, default=300, help="wellbeing breaks to time")
    p.add_argument("--agents", type=int, default=10, help="agents taking turns")
    p.add_argument("--pause", type=float, default=0.02, help="seconds between changes")
    args = p.parse_args()
    H.run("alert_latency", args, scenario, default_time_limit=60 + args.changes * (args.pause + 0.5))


if __name__ == "__main__":
    main()
