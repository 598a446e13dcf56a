#!/usr/bin/env python3
"""Alert notices through faults: every notice the outbox holds is delivered, in order per target, whatever the receivers and the daemon do.

Five targets on a real HTTP receiver on loopback (Tests/Receivers/notice_receiver.py): one that
answers 200, one that answers 503 three times first, a Slack one that answers 429 with
Retry-After first, one that hangs on its first post (the 10 s timeout, then a retry), and one
that answers 410 Gone (disabled at once). Agents take wellbeing breaks and a supervisor
acknowledges them, so that alerts and acknowledgments keep coming; meanwhile the daemon is
SIGKILLed and restarted (--kills times) and the receiver goes down for a while and comes back.

Then, for every notice in the daemon's outbox (`notices` in SQLite): the receiver got it with a
2xx, under its own webhook-id (a second copy only ever under the same id), and the receiver
saw each target's notices first delivered in the outbox's order; nothing is left pending
except on the disabled target, where everything after the 410 was given up. The floor never
waited: the slowest status change answered while receivers failed and hung is printed and must
stay under a second.
"""
import json
import random
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "lib"))
import huddle as H  # noqa: E402

RECEIVER = Path(__file__).resolve().parent.parent / "Tests/Receivers/notice_receiver.py"
PLAN = {
    "/good": ["200"],
    "/flaky": ["503", "503", "503", "200"],
    "/slack": ["429:1", "200"],
    "/hang": ["hang", "200"],
    "/gone": ["410"],
}
FORMATS = {"/good": "json", "/flaky": "json", "/slack": "slack", "/hang": "teams", "/gone": "json"}


class Receiver:
    def __init__(self, h: H.Harness, port: int):
        self.h, self.port = h, port
        self.log = h.tmp / "receiver.jsonl"
        self.proc = None

    def start(self):
        port_file = self.h.tmp / "receiver.port"
        port_file.unlink(missing_ok=True)
        self.proc = self.h.spawn(
            [sys.executable, str(RECEIVER), str(port_file), str(self.log), json.dumps(PLAN), str(self.port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not port_file.exists():
            H.check(time.monotonic() < deadline and self.proc.poll() is None, "the receiver did not start")
            time.sleep(0.02)

    def stop(self):
        self.proc.kill()
        self.proc.wait(5)

    def requests(self):
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines() if line.strip()]


def scenario(h: H.Harness, args):
    rng = random.Random(args.seed)
    # A port below the ephemeral range: nothing else on the machine is given it while it is down.
    receiver = Receiver(h, rng.randrange(20000, 30000))
    receiver.start()
    data = h.tmp / "data"
    h.team_add(data)
    agents = [h.user_add(data, f"agent{i}", "agent") for i in range(args.agents)]
    sam = h.user_add(data, "sam", "supervisor")
    for path, fmt in FORMATS.items():
        h.admin(data, "notify", "add", H.TEAM, "--url", f"http://127.0.0.1:{receiver.port}{path}", "--format", fmt,
                "--allow-http")
    d = h.daemon(data=data, extra=["--notify-allow-http"])
    d.start()
    supervisor = d.connect()
    supervisor.hello(sam, "prove-notify")
    supervisor.call("policy.set", {"team": H.TEAM, "policy": {"min_available": 0, "max_on_break": 100},
                                   "comment": "breaks for everyone"})

    slowest = [0.0]
    stop = threading.Event()
    problems: list[str] = []

    def floor_work(token, name):
        """Wellbeing breaks back to back; every answer timed. Reconnects after each kill."""
        while not stop.is_set():
            try:
                c = d.connect()
                c.hello(token, "prove-notify")
                c.join(H.TEAM)
                while not stop.is_set():
                    for status, extra in (("break", {"reason": "abusive_call"}), ("available", {})):
                        t0 = time.monotonic()
                        c.call("status.set", {"status": status, **extra}, timeout=10)
                        slowest[0] = max(slowest[0], time.monotonic() - t0)
                    time.sleep(args.pause)
            except (OSError, H.Closed, H.Failure, H.RPCError):
                time.sleep(0.2)  # the daemon was killed: come back with the next run

    def acknowledge():
        """The supervisor answers every wellbeing alert it sees (its acknowledgment is notified too)."""
        while not stop.is_set():
            try:
                c = d.connect()
                c.hello(sam, "prove-notify-sup")
                joined = c.join(H.TEAM)
                for alert in joined["snapshot"].get("alerts", []):
                    c.call("alert.ack", {"alert": alert["alert"], "note": "on it"}, timeout=10)
                while not stop.is_set():
                    msg = c.read_message(0.5)
                    if msg and msg.get("method") == "event" and msg["params"].get("type") == "alert":
                        try:
                            c.call("alert.ack", {"alert": msg["params"]["alert"], "note": "on it"}, timeout=10)
                        except H.RPCError:
                            pass  # closed meanwhile
            except (OSError, H.Closed, H.Failure, H.RPCError):
                time.sleep(0.2)

    threads = [threading.Thread(target=floor_work, args=(t, f"agent{i}"), daemon=True) for i, t in enumerate(agents)]
    threads.append(threading.Thread(target=acknowledge, daemon=True))
    supervisor.close()
    for t in threads:
        t.start()

    for k in range(args.kills):
        time.sleep(rng.uniform(1.0, args.max_interval))
        d.kill9()
        if k == args.kills // 2:
            receiver.stop()
            h.log("the receiver is down")
            time.sleep(2)
            receiver.start()
            h.log("the receiver is back")
        d.start(port=d.port, http_port=d.http_port)
        h.log(f"kill {k + 1}: restarted")
    time.sleep(args.load_s)
    stop.set()
    for t in threads:
        t.join(15)

    # Everything pending must go out: the flaky targets' backoff is a few seconds, the hang's
    # retry comes after its 10 s timeout.
    db = data / "huddle.sqlite"
    deadline = time.monotonic() + args.drain_s
    while True:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            pending = conn.execute("SELECT COUNT(*) FROM notices WHERE state = 'pending'").fetchone()[0]
        if pending == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    H.check(pending == 0, f"{pending} notices still pending {args.drain_s} s after the load stopped")
    d.stop()

    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        rows = conn.execute(
            "SELECT n.id, n.webhook_id, n.state, n.attempts, t.url FROM notices n JOIN notify_targets t ON t.id = n.target_id "
            "ORDER BY n.id").fetchall()
        disabled = conn.execute("SELECT url FROM notify_targets WHERE disabled_at IS NOT NULL").fetchall()
    got = receiver.requests()
    delivered_ids = {r["headers"].get("webhook-id") for r in got if r["answer"] in ("200", "202")}
    by_path: dict[str, list] = {}
    for nid, wid, state, attempts, url in rows:
        by_path.setdefault("/" + url.rsplit("/", 1)[1], []).append((nid, wid, state, attempts))
    H.check([u for (u,) in disabled] == [f"http://127.0.0.1:{receiver.port}/gone"], f"disabled targets: {disabled}")
    for path, notices in by_path.items():
        if path == "/gone":
            H.check(notices[0][2] == "given_up" and all(n[2] == "given_up" for n in notices),
                    f"/gone: {[(n[1], n[2]) for n in notices]}")
            continue
        for nid, wid, state, attempts in notices:
            H.check(state == "delivered", f"{path}: notice {wid} is {state} after {attempts} tries")
            H.check(wid in delivered_ids, f"{path}: notice {wid} is delivered in the outbox but the receiver never got it")
        # In order per target: the first 2xx of each notice comes in outbox order.
        first_ok = {}
        for r in got:
            wid = r["headers"].get("webhook-id")
            if r["path"] == path and r["answer"] in ("200", "202") and wid not in first_ok:
                first_ok[wid] = r["at"]
        order = [first_ok[n[1]] for n in notices]
        H.check(order == sorted(order), f"{path}: notices delivered out of order")
    # A webhook-id the outbox does not know would be a notice made up or mislabelled.
    known = {r[1] for r in rows}
    strangers = {r["headers"].get("webhook-id") for r in got} - known
    H.check(not strangers, f"the receiver got webhook-ids the outbox does not know: {sorted(strangers)[:5]}")
    copies = sum(1 for r in got if r["answer"] in ("200", "202")) - len(delivered_ids)
    h.figure("notices in the outbox", len(rows))
    h.figure("delivered", sum(1 for r in rows if r[2] == "delivered"))
    h.figure("given up (the 410 target)", sum(1 for r in rows if r[2] == "given_up"))
    h.figure("posts the receiver got", len(got))
    h.figure("second copies of a delivered notice (same webhook-id)", copies)
    h.figure("kills", args.kills)
    h.figure("slowest status change answered (s)", round(slowest[0], 3))
    H.check(len(rows) >= 10, f"only {len(rows)} notices: the load made too few alerts")
    H.check(slowest[0] < 1.0, f"a status change took {slowest[0]:.2f} s while receivers failed")


def main():
    p = H.parser(__doc__.splitlines()[0])
    p.add_argument("--agents", type=int, default=2, help="agents taking wellbeing breaks")
    p.add_argument("--kills", type=int, default=4, help="SIGKILLs of the daemon during the load")
    p.add_argument("--max-interval", type=float, default=4.0, help="longest time between kills (s)")
    p.add_argument("--load-s", type=float, default=3.0, help="load after the last kill (s)")
    p.add_argument("--pause", type=float, default=4.0, help="pause between an agent's breaks (s): Slack takes one post a second")
    p.add_argument("--drain-s", type=float, default=90.0, help="time allowed to deliver what is pending at the end")
    args = p.parse_args()
    H.run("notify_faults", args, scenario, default_time_limit=240)


if __name__ == "__main__":
    main()
