#!/usr/bin/env python3
"""SIGKILL under load: no acknowledged change is ever lost, and replay after a restart is exact.

Ten agents (status.set, one in flight each) and one supervisor (message.send) keep their own log
of every acknowledged change while the daemon is SIGKILLed at random moments. After each kill
and restart (same data folder, same ports when they can be bound again), an admin connection
fetches the whole team history and checks that every acknowledged change is there, at its seq,
with its content, once; and each client rejoins with since={epoch, seq} from the last seq it saw
and must get recovered: true with a replay that has no gap and no duplicate.
"""
import random
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "lib"))
import huddle as H  # noqa: E402


class Coordinator:
    """What the workers need to know about the daemon's life: which run it is in, and its port."""

    def __init__(self, port):
        self.cond = threading.Condition()
        self.gen, self.port, self.up = 1, port, True
        self.stop = False
        self.joined: dict[int, set] = {}  # gen -> workers that rejoined in that run
        self.down: dict[int, set] = {}  # gen -> workers that saw that run's connection end

    def mark(self, table, gen, name):
        with self.cond:
            table.setdefault(gen, set()).add(name)
            self.cond.notify_all()

    def wait_for(self, predicate, timeout):
        with self.cond:
            return self.cond.wait_for(predicate, timeout)


class Worker:
    """One client process-like thread: its own connection, its own log of acknowledged changes."""

    def __init__(self, name, token, kind, coord, cafile, problems):
        self.name, self.token, self.kind = name, token, kind
        self.coord, self.cafile, self.problems = coord, cafile, problems
        self.acks: list[tuple[int, str]] = []  # (seq, note or text), in the order acknowledged
        self.lock = threading.Lock()  # acks are read by the main thread between runs
        self.since = None  # {epoch, seq}: the last team-stream position this worker processed
        self.counter = 0
        self.replays = self.replayed_events = self.not_recovered = 0
        self.gaps_seen = 0

    def problem(self, text):
        with self.lock:
            self.problems.append(f"{self.name}: {text}")

    def run(self):
        gen = 0
        while not self.coord.stop:
            # Wait for a run of the daemon this worker has not been in yet. Not for `up`: a run
            # may already be killed when this thread wakes, and it must still report that run down.
            if not self.coord.wait_for(lambda: self.coord.stop or self.coord.gen > gen, 60):
                self.problem("the daemon did not come back within 60 s")
                return
            if self.coord.stop:
                return
            gen, port = self.coord.gen, self.coord.port
            try:
                self.session(gen, port)
            except H.Closed:
                pass
            except (OSError, H.Failure, H.RPCError) as e:
                if self.coord.gen == gen and self.coord.up and not self.coord.stop:
                    self.problem(f"run {gen}: {e}")
            if not self.coord.stop and self.coord.gen == gen and self.coord.up:
                # The connection ended while the daemon was meant to be up: not our kill.
                self.problem(f"run {gen}: connection ended while the daemon was up")
            self.coord.mark(self.coord.down, gen, self.name)

    def session(self, gen, port):
        client = H.Client(port, self.cafile, name=self.name)
        try:
            client.hello(self.token, "prove-sigkill")
            joined = client.join(H.TEAM, since=self.since)
            if self.since is not None:
                self.replays += 1
                self.replayed_events += joined["seq"] - self.since["seq"]
                self.replayed_events += joined.get("supervisors_seq", 0) - self.since.get("supervisors_seq", 0)
                if not joined["recovered"]:
                    self.not_recovered += 1
                    self.problem(f"run {gen}: join since {self.since} answered recovered: false "
                                 f"(epoch {joined['epoch']}, seq {joined['seq']})")
            self.coord.mark(self.coord.joined, gen, self.name)
            while not self.coord.stop:
                self.counter += 1
                tag = f"{self.name} #{self.counter}"
                if self.kind == "agent":
                    status = "available" if self.counter % 2 else "after_call_work"
                    result = client.call("status.set", {"status": status, "note": tag}, timeout=30)
                else:
                    result = client.call("message.send", {"team": H.TEAM, "text": tag}, timeout=30)
                with self.lock:
                    self.acks.append((result["seq"], tag))
                self.remember(client)
        finally:
            self.remember(client)
            with self.lock:
                if client.gaps or client.duplicates:
                    self.gaps_seen += len(client.gaps) + len(client.duplicates)
                    self.problems.extend(client.gaps + client.duplicates)
            client.close()

    def remember(self, client):
        seq = client.last_seq.get((H.TEAM, "team"))
        if seq is not None and H.TEAM in client.epoch:
            self.since = {"epoch": client.epoch[H.TEAM], "seq": seq}
            sup = client.last_seq.get((H.TEAM, "supervisors"))
            if sup is not None:  # a supervisor replays both streams and must say where it was in each
                self.since["supervisors_seq"] = sup


def verify(h, daemon, workers, admin_token, problems, expect_epoch):
    """Every acknowledged change of every worker is in the history at its seq, with its text, once."""
    client = daemon.connect(name="verifier")
    try:
        client.hello(admin_token, "prove-verifier")
        joined = client.join(H.TEAM)
        if expect_epoch[0] is None:
            expect_epoch[0] = joined["epoch"]
        H.check(joined["epoch"] == expect_epoch[0], f"epoch changed from {expect_epoch[0]} to {joined['epoch']}")
        events = H.fetch_history(client, H.TEAM, upto=joined["seq"])
    finally:
        client.close()
    problems.extend(H.check_history(events, joined["seq"]))
    by_seq = {e["seq"]: e for e in events}
    tags_in_history = {}
    for e in events:
        tag = e.get("note") if e["type"] == "status" else e.get("text") if e["type"] == "message" else None
        if tag and "#" in tag:
            tags_in_history[tag] = tags_in_history.get(tag, 0) + 1
    doubled = [t for t, n in tags_in_history.items() if n > 1]
    if doubled:
        problems.append(f"{len(doubled)} changes applied twice, e.g. {doubled[:3]}")
    lost = 0
    total = 0
    for w in workers:
        with w.lock:
            acks = list(w.acks)
        seqs = [s for s, _ in acks]
        if seqs != sorted(seqs) or len(set(seqs)) != len(seqs):
            problems.append(f"{w.name}: acknowledged seqs are not strictly increasing")
        for seq, tag in acks:
            total += 1
            e = by_seq.get(seq)
            field = "note" if w.kind == "agent" else "text"
            if e is None or e.get(field) != tag or e.get("user") != w.name:
                lost += 1
                if lost <= 5:
                    problems.append(f"acknowledged change lost: {w.name} seq {seq} {tag!r}, history has {e}")
    return total, lost, joined["seq"]


def scenario(h: H.Harness, args):
    rng = random.Random(args.seed)
    data = h.tmp / "data"
    h.team_add(data)
    agents = [(f"a{i:02d}", h.user_add(data, f"a{i:02d}", "agent")) for i in range(1, args.agents + 1)]
    sender = ("sam", h.user_add(data, "sam", "supervisor"))
    # The rate limit is not what this proves: let each client go as fast as commits come back.
    d = h.daemon(data, config={"rate-per-s": 10000, "rate-burst": 20000})
    d.start()
    admin_token = (data / "admin.token").read_text().strip()
    cafile = d.cert  # the certificate is generated once and kept across restarts

    coord = Coordinator(d.port)
    problems: list[str] = []
    workers = [Worker(n, t, "agent", coord, cafile, problems) for n, t in agents]
    workers.append(Worker(sender[0], sender[1], "sender", coord, cafile, problems))
    threads = [H.thread(w.run, name=w.name) for w in workers]
    names = {w.name for w in workers}

    epoch = [None]
    same_port = restart_ms_total = 0
    for kill in range(1, args.kills + 1):
        gen = coord.gen
        # Random moments: mostly once everyone is working, sometimes in the middle of the
        # reconnect and replay that follow a restart.
        if rng.random() < 0.25:
            time.sleep(rng.uniform(0.0, 0.4))
        else:
            coord.wait_for(lambda: names <= coord.joined.get(gen, set()), 30)
            time.sleep(rng.uniform(0.2, args.max_interval))
        with coord.cond:
            coord.up = False
        d.kill9()
        t_killed = time.monotonic()
        # Acks can still be read from socket buffers after the kill: wait until every worker has
        # seen its connection end, so the set of acknowledged changes of this run is final.
        H.check(coord.wait_for(lambda: names <= coord.down.get(gen, set()), 30),
                f"kill {kill}: workers still connected 30 s after SIGKILL: {names - coord.down.get(gen, set())}")
        old_port, old_http = d.port, d.http_port
        try:
            d.start(port=old_port, http_port=old_http)
            same_port += 1
        except H.Failure:
            d.start()  # the port was taken meanwhile: workers reconnect to the new one
        restart_ms_total += (time.monotonic() - t_killed) * 1000
        total, lost, upto = verify(h, d, workers, admin_token, problems, epoch)
        h.log(f"kill {kill}/{args.kills}: {total} acknowledged changes so far, history at seq {upto}, lost {lost}")
        H.check(not problems, "; ".join(problems[:8]))
        with coord.cond:
            coord.gen, coord.port, coord.up = gen + 1, d.port, True
            coord.cond.notify_all()

    # Let the workers do their last rejoin and replay, then stop them and check the last run too.
    coord.wait_for(lambda: names <= coord.joined.get(coord.gen, set()), 30)
    time.sleep(0.5)
    with coord.cond:
        coord.stop = True
        coord.cond.notify_all()
    for t in threads:
        t.join(40)
    total, lost, upto = verify(h, d, workers, admin_token, problems, epoch)
    rc = d.stop()
    H.check(rc == 0, f"huddled exited {rc} after SIGTERM")

    h.figure("kills", args.kills)
    h.figure("restarts on the same ports", same_port)
    h.figure("mean kill-to-listening ms", round(restart_ms_total / args.kills))
    h.figure("acknowledged status changes", sum(len(w.acks) for w in workers if w.kind == "agent"))
    h.figure("acknowledged messages", sum(len(w.acks) for w in workers if w.kind == "sender"))
    h.figure("events in history", upto)
    h.figure("rejoins with since", sum(w.replays for w in workers))
    h.figure("replayed events", sum(w.replayed_events for w in workers))
    h.figure("recovered: false", sum(w.not_recovered for w in workers))
    h.figure("stream gaps or duplicates", sum(w.gaps_seen for w in workers))
    h.figure("lost acknowledged changes", lost)
    H.check(not problems, "; ".join(problems[:8]))
    H.check(lost == 0, f"{lost} acknowledged changes lost")
    H.check(sum(w.replays for w in workers) >= args.kills, "fewer rejoins than kills: replay was not exercised")


def main():
    p = H.parser(__doc__.splitlines()[0])
    p.add_argument("--kills", type=int, default=20, help="how many SIGKILLs (default 20)")
    p.add_argument("--agents", type=int, default=10, help="agents changing status (default 10)")
    p.add_argument("--max-interval", type=float, default=2.0,
                   help="longest load period between kills, seconds (default 2)")
    args = p.parse_args()
    H.run("sigkill", args, scenario, default_time_limit=60 + args.kills * (args.max_interval + 6))


if __name__ == "__main__":
    main()
