#!/usr/bin/env python3
"""Amazon Connect bridge: records per second through POST /v1/bridges/amazon-connect, each committed.

A floor of `--agents` agents (1,000) whose calls go ringing, talking, on hold, talking and ended
(After Call Work for those Available), as Amazon Connect's agent event stream records of the
shape Amazon documents (a STATE_CHANGE with the agent's snapshot, Tests/Fixtures/amazon-connect),
posted as Kinesis batches of `--batch` (500) records the way the forwarding function posts them:
`--concurrency` (1) batches in flight, one per Kinesis shard. The answer comes once every
change of the batch is committed (SQLite, synced), so records/s is the bridge end to end. The
client runs on the same machine and builds each batch before the clock starts.

  python3 Benchmarks/amazon_connect.py [--agents 1000] [--rounds 10] [--batch 500] [--binary .build/release/huddled]
"""
import base64
import copy
import json
import ssl
import statistics
import sys
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "Prove/lib"))
import huddle as H  # noqa: E402

FIXTURE = Path(__file__).resolve().parent.parent / "Tests/Fixtures/amazon-connect/contact-states.json"
STATES = ["CONNECTING", "CONNECTED", "CONNECTED_ONHOLD", "CONNECTED", "ENDED"]


def records(agents: int, rounds: int) -> list[dict]:
    template = json.loads(FIXTURE.read_text())["CONNECTED"]
    out = []
    for step in range(rounds * len(STATES)):
        state = STATES[step % len(STATES)]
        for i in range(agents):
            r = copy.deepcopy(template)
            r["AgentARN"] = r["AgentARN"].rsplit("/", 1)[0] + f"/agent-{i:05d}"
            r["EventId"] = f"{step:04d}{i:05d}-bench"
            r["EventTimestamp"] = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
            for snap in ("CurrentAgentSnapshot", "PreviousAgentSnapshot"):
                r[snap]["Configuration"]["Username"] = f"agent{i}"
            contact = r["CurrentAgentSnapshot"]["Contacts"][0]
            contact["State"] = state
            contact["ContactId"] = f"call-{i}-{step // len(STATES)}"
            out.append(r)
    return out


def scenario(h: H.Harness, args):
    d = h.daemon()
    h.team_add(d.data, H.TEAM)
    bot = h.user_add(d.data, "connect-bridge", "bot")
    for i in range(args.agents):
        h.user_add(d.data, f"agent{i}", "agent")
    sam = h.user_add(d.data, "sam", "supervisor")
    d.start()
    sup = d.connect(name="sam")
    sup.hello(sam)
    sup.call("policy.set", {"team": H.TEAM, "policy": {"min_available": 0}, "comment": "bridge benchmark"})
    all_records = records(args.agents, args.rounds)
    bodies = []
    for k in range(0, len(all_records), args.batch):
        chunk = all_records[k:k + args.batch]
        bodies.append(json.dumps({"Records": [
            {"kinesis": {"sequenceNumber": str(k + j), "data": base64.b64encode(json.dumps(r).encode()).decode()}}
            for j, r in enumerate(chunk)]}).encode())
    context = ssl.create_default_context(cafile=d.cert)
    url = f"https://127.0.0.1:{d.http_port}/v1/bridges/amazon-connect"
    latencies, applied, lock = [], [0], threading.Lock()

    def post(body):
        request = urllib.request.Request(url, data=body, method="POST", headers={
            "Content-Type": "application/json", "Authorization": "Bearer " + bot})
        t0 = time.perf_counter()
        with urllib.request.urlopen(request, timeout=120, context=context) as answer:
            result = json.loads(answer.read())
        with lock:
            latencies.append(time.perf_counter() - t0)
            applied[0] += result["applied"]
            H.check(not result["errors"], f"errors: {result['errors'][:3]}")

    queue = list(bodies)

    def worker():
        while True:
            with lock:
                if not queue:
                    return
                body = queue.pop(0)
            post(body)

    # The bot's bucket allows 20 requests/s: a batch of 500 is one request.
    start = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(args.concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    rate = applied[0] / elapsed
    h.figure("records applied / s", f"{rate:,.0f} ({applied[0]:,} records in {elapsed:.2f} s)")
    h.figure("batch answer p50 / max (ms)",
             f"{statistics.median(latencies) * 1000:.1f} / {max(latencies) * 1000:.1f}")
    print(json.dumps({"bench": "amazon_connect", "agents": args.agents, "records": applied[0], "batch": args.batch,
                      "concurrency": args.concurrency, "records_per_s": round(rate),
                      "batch_p50_ms": round(statistics.median(latencies) * 1000, 1),
                      "batch_max_ms": round(max(latencies) * 1000, 1), "rss_kib": d.rss_kib()}), flush=True)
    d.stop()


def main():
    p = H.parser(__doc__.splitlines()[0])
    p.add_argument("--agents", type=int, default=1000)
    p.add_argument("--rounds", type=int, default=10, help="calls per agent (five records each)")
    p.add_argument("--batch", type=int, default=500, help="records per Kinesis batch")
    p.add_argument("--concurrency", type=int, default=1, help="batches in flight (one per shard)")
    args = p.parse_args()
    H.run("amazon_connect", args, scenario, default_time_limit=900)


if __name__ == "__main__":
    main()
