#!/usr/bin/env python3
"""Graceful shutdown under load: on SIGTERM every client is told `session.closing` `shutdown`,
every acknowledged change is in the history after a restart, and the daemon exits 0 within
--shutdown-timeout-s.

--connections sessions are opened (users of 8 sessions each, the default cap), all joined to the
team so that the shutdown happens while events fan out to all of them; --senders of them change
their status and post messages without pause (paced under the default rate limit). After
--load-s seconds of that, SIGTERM. Requests still in flight then may be answered with -32603 or
not at all (the protocol allows it once session.closing is queued); those are reported, and must
not be in the history if they were refused.
"""
import math
import signal
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "lib"))
import huddle as H  # noqa: E402

SESSIONS_PER_USER = 8  # the daemon's default cap


class Sender:
    def __init__(self, client: H.Client, name: str, rate: float):
        self.c, self.name, self.interval = client, name, 1.0 / rate
        self.acked: list[tuple[int, str, str]] = []  # (seq, field, tag)
        self.refused: list[tuple[int, str]] = []
        self.unanswered: list[float] = []  # when each request that never got an answer was sent
        self.errors: list[str] = []

    def run(self, stop: threading.Event):
        n = 0
        while not stop.is_set():
            n += 1
            tag = f"{self.name} #{n}"
            t0 = time.monotonic()
            try:
                if n % 2:
                    status = "available" if n % 4 == 1 else "after_call_work"
                    rid = self.c.send("status.set", {"status": status, "note": tag})
                    field = "note"
                else:
                    rid = self.c.send("message.send", {"team": H.TEAM, "text": tag})
                    field = "text"
                answer = self.c.wait_answer(rid, 30, "change")
            except H.Closed:
                # Sent, then the connection ended without an answer: not acknowledged.
                self.unanswered.append(t0)
                return
            except H.Failure as e:
                self.errors.append(str(e))
                return
            if "error" in answer:
                self.refused.append((answer["error"]["code"], tag))
                if answer["error"]["code"] != -32603:
                    self.errors.append(f"{self.name}: {answer['error']}")
            else:
                self.acked.append((answer["result"]["seq"], field, tag))
            time.sleep(max(0.0, self.interval - (time.monotonic() - t0)))
        self.c.read_until_closed(30)


def scenario(h: H.Harness, args):
    data = h.tmp / "data"
    h.team_add(data)
    idle = args.connections - args.senders
    users = [(f"u{i:03d}", h.user_add(data, f"u{i:03d}", "agent")) for i in range(math.ceil(idle / SESSIONS_PER_USER))]
    sender_users = [(f"s{i:02d}", h.user_add(data, f"s{i:02d}", "agent")) for i in range(args.senders)]
    d = h.daemon(data, config={"shutdown-timeout-s": args.shutdown_timeout_s})
    d.start()
    admin = (data / "admin.token").read_text().strip()

    clients: list[H.Client] = []
    for i in range(idle):
        name, token = users[i // SESSIONS_PER_USER]
        c = d.connect(name=f"{name}/{i % SESSIONS_PER_USER}")
        c.hello(token, "prove-shutdown")
        c.join(H.TEAM)
        clients.append(c)
    senders = []
    for name, token in sender_users:
        c = d.connect(name=name)
        c.hello(token, "prove-shutdown")
        c.join(H.TEAM)
        clients.append(c)
        senders.append(Sender(c, name, args.rate))
    h.log(f"{len(clients)} sessions open and joined")

    stop = threading.Event()
    readers = [H.thread(c.read_until_closed, args.load_s + args.shutdown_timeout_s + 30) for c in clients[:idle]]
    writers = [H.thread(s.run, stop) for s in senders]
    time.sleep(args.load_s)
    rss = d.rss_kib()

    t0 = time.monotonic()
    d.signal(signal.SIGTERM)
    rc = d.wait(args.shutdown_timeout_s + 10)
    took = time.monotonic() - t0
    stop.set()
    H.check(rc is not None, f"huddled still running {args.shutdown_timeout_s + 10} s after SIGTERM")
    for t in readers + writers:
        t.join(30)
    h.figure("sessions", len(clients))
    h.figure("daemon RSS before SIGTERM (MiB)", round(rss / 1024, 1))
    h.figure("seconds from SIGTERM to exit", round(took, 3))
    h.figure("exit code", rc)
    reasons: dict[str, int] = {}
    for c in clients:
        reasons[str(c.closing_reason)] = reasons.get(str(c.closing_reason), 0) + 1
    h.figure("session.closing reasons", reasons)
    acked = [(s.name, a) for s in senders for a in s.acked]
    h.figure("acknowledged changes", len(acked))
    h.figure("refused at shutdown (-32603)", sum(len(s.refused) for s in senders))
    # A request that reached the daemon before SIGTERM must be answered before session.closing;
    # one sent around the signal may legitimately arrive after it and go unanswered.
    early = [t for s in senders for t in s.unanswered if t < t0 - 0.2]
    h.figure("unanswered, sent after SIGTERM (or within 200 ms before)", sum(len(s.unanswered) for s in senders) - len(early))
    h.figure("unanswered, sent more than 200 ms before SIGTERM", len(early))
    gaps = [g for c in clients for g in c.gaps + c.duplicates]
    h.figure("stream gaps or duplicates", len(gaps))

    H.check(rc == 0, f"huddled exited {rc} after SIGTERM, expected 0")
    H.check(took <= args.shutdown_timeout_s + 1.5,
            f"exit took {took:.2f} s, over the shutdown timeout of {args.shutdown_timeout_s} s")
    H.check(reasons.get("shutdown", 0) == len(clients), f"not every session got session.closing shutdown: {reasons}")
    H.check(not early, f"{len(early)} requests sent well before SIGTERM were never answered")
    errors = [e for s in senders for e in s.errors]
    H.check(not errors, "; ".join(errors[:5]))
    H.check(not gaps, "; ".join(gaps[:5]))

    d.start()
    v = d.connect(name="verifier")
    v.hello(admin, "prove-verifier")
    upto = v.join(H.TEAM)["seq"]
    events = H.fetch_history(v, H.TEAM, upto)
    v.close()
    problems = H.check_history(events, upto)
    by_seq = {e["seq"]: e for e in events}
    lost = 0
    for name, (seq, field, tag) in acked:
        e = by_seq.get(seq)
        if e is None or e.get("user") != name or e.get(field) != tag:
            lost += 1
            if lost <= 5:
                problems.append(f"acknowledged change lost: {name} seq {seq} {tag!r}; history has {e}")
    stored = {e.get("note") or e.get("text") for e in events}
    for s in senders:
        for code, tag in s.refused:
            if tag in stored:
                problems.append(f"refused with {code} but stored: {tag!r}")
    h.figure("lost acknowledged changes", lost)
    H.check(not problems, "; ".join(problems[:5]))
    rc = d.stop()
    H.check(rc == 0, f"huddled exited {rc} after the second SIGTERM")


def main():
    p = H.parser(__doc__.splitlines()[0])
    p.add_argument("--connections", type=int, default=200, help="sessions open at SIGTERM (default 200)")
    p.add_argument("--senders", type=int, default=4, help="of which constantly sending changes (default 4)")
    p.add_argument("--rate", type=float, default=15, help="changes per second per sender (default 15, limit 20)")
    p.add_argument("--load-s", type=float, default=5, help="seconds of load before SIGTERM (default 5)")
    p.add_argument("--shutdown-timeout-s", type=int, default=10, help="the daemon's shutdown-timeout-s (default 10)")
    args = p.parse_args()
    if args.connections <= args.senders:
        p.error("--connections must be more than --senders")
    H.run("shutdown", args, scenario, default_time_limit=120 + args.load_s + args.connections * 0.1)


if __name__ == "__main__":
    main()
