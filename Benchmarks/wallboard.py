#!/usr/bin/env python3
"""The wallboard: a 1,000-agent board in headless Chromium under load, and event streams per daemon.

Two parts (`--part board`, `--part streams`, or both by default):

board   A supervisor signed in to /board (the sign-in form, as a person does) watching a team of
        `--agents` (1,000) agents while a supervisor session forces `--rate` (50) status changes
        a second on random agents for `--seconds` (60). Measured in the page: the longest
        main-thread task (the Long Tasks API: every task over 50 ms is reported), the time from
        the change's request to the frame that shows it (a MutationObserver sees the row's note
        change inside the render; a MessageChannel message posted then runs once that frame has
        been painted), and the page's memory (JS heap after a forced garbage collection, DOM
        nodes, listeners: DevTools' Performance.getMetrics) at the start and at the end. The
        request's own round trip (the commit, synced) is reported beside it: the time to paint
        includes it.

streams How many open event streams one daemon carries, and what each costs: `--streams`
        (1000,2000,5000) streams opened with a supervisor's bearer token (as a script would),
        each read to the end by an asyncio TLS client; the daemon's RSS before, with all of them
        idle, and after `--busy-seconds` (20) at 10 changes/s; KiB per stream beside the
        protocol port's figure for an idle TLS connection (`huddle-bench memory`: 26 KiB).

  python3 Benchmarks/wallboard.py [--part board|streams] [--binary .build/release/huddled]

Chromium, chromium-driver and python3-selenium come from Debian (Scripts/test installs them);
run it with /usr/bin/python3. One JSON line per part is printed at the end.
"""
import asyncio
import json
import os
import random
import resource
import ssl
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "Prove/lib"))
import huddle as H  # noqa: E402

STATUSES = ["available", "break", "lunch", "after_call_work", "meeting", "training", "admin"]
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM = "/usr/lib/chromium/chromium"
# The protocol port's memory per idle TLS connection, `huddle-bench memory` (10,000 sessions),
# Benchmarks/results/2026-12-07-a524484-vs-18bab98-ab.jsonl.
PROTOCOL_KIB_PER_CONNECTION = 26.2

# Installed in the page once it is ready: long tasks, and the paint of each benchmark note.
PROBE = r"""
window.__bench = { long: [], paints: {} };
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) window.__bench.long.push([e.startTime, e.duration]);
}).observe({ type: 'longtask', buffered: false });
const channel = new MessageChannel();
let waiting = [];
channel.port1.onmessage = () => {
  const t = Date.now();
  for (const id of waiting) window.__bench.paints[id] = t;
  waiting = [];
};
new MutationObserver((records) => {
  let seen = false;
  for (const r of records) {
    const node = r.target.nodeType === 3 ? r.target.parentNode : r.target;
    const note = node && node.closest ? node.closest('.note') : null;
    if (!note) continue;
    const m = /^b(\d+)$/.exec(note.textContent.trim());
    if (m && !(m[1] in window.__bench.paints)) { waiting.push(m[1]); seen = true; }
  }
  if (seen) channel.port2.postMessage(0);
}).observe(document.body, { subtree: true, childList: true, characterData: true });
"""


def percentile(values, p):
    values = sorted(values)
    if not values:
        return None
    k = min(len(values) - 1, max(0, round(p / 100 * (len(values) - 1))))
    return values[k]


def floor(h: H.Harness, agents: int, config: dict):
    d = h.daemon(config=config)
    h.team_add(d.data, H.TEAM)
    t0 = time.monotonic()
    for i in range(agents):
        h.user_add(d.data, f"agent{i:04d}", "agent")
    sam = h.user_add(d.data, "sam", "supervisor")
    h.log(f"{agents} agents added in {time.monotonic() - t0:.0f} s")
    d.start()
    sup = d.connect(name="sam")
    sup.hello(sam)
    sup.call("policy.set", {"team": H.TEAM, "policy": {"min_available": 0, "max_on_break": agents},
                            "comment": "wallboard benchmark"})
    return d, sam, sup


class Changes:
    """Forces status changes on random agents at `rate` a second from one supervisor session,
    pipelined (a request does not wait for the one before it), and keeps each one's send time
    and answer time."""

    def __init__(self, sup: H.Client, agents: int, rate: float, seconds: float, first: int = 0):
        self.sup, self.agents, self.rate, self.seconds = sup, agents, rate, seconds
        self.statuses = STATUSES
        self.sent: dict[int, float] = {}
        self.user: dict[int, str] = {}
        self.answered: dict[int, float] = {}
        self.next = first
        self.errors = 0
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        rng = random.Random(7)
        start = time.time()
        ids = {}
        n = int(self.rate * self.seconds)
        for k in range(n):
            due = start + k / self.rate
            while True:
                now = time.time()
                if now >= due:
                    break
                self.collect(ids, max(0.0, due - now))
            change = self.next
            self.next += 1
            params = {"user": f"agent{rng.randrange(self.agents):04d}", "status": rng.choice(self.statuses),
                      "note": f"b{change}"}
            self.sent[change] = time.time()
            self.user[change] = params["user"]
            ids[self.sup.send("status.force", params)] = change
        deadline = time.time() + 30
        while ids and time.time() < deadline:
            self.collect(ids, 0.5)

    def collect(self, ids, timeout):
        message = self.sup.read_message(timeout)
        if message is None or "id" not in message:
            return
        change = ids.pop(message["id"], None)
        if change is None:
            return
        if "error" in message:
            self.errors += 1
        else:
            self.answered[change] = time.time()


def browser(width=1920, height=1080):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM if os.access(CHROMIUM, os.X_OK) else "/usr/bin/chromium"
    for argument in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     f"--window-size={width},{height}", "--ignore-certificate-errors", "--no-proxy-server",
                     "--no-first-run", "--disable-extensions", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", "--password-store=basic",
                     "--enable-precise-memory-info", f"--user-data-dir={tempfile.mkdtemp(prefix='huddle-bench-chromium-')}"]:
        options.add_argument(argument)
    options.set_capability("acceptInsecureCerts", True)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def page_memory(driver) -> dict:
    driver.execute_cdp_cmd("HeapProfiler.enable", {})
    driver.execute_cdp_cmd("HeapProfiler.collectGarbage", {})
    metrics = {m["name"]: m["value"] for m in driver.execute_cdp_cmd("Performance.getMetrics", {})["metrics"]}
    return {"js_heap_kib": round(metrics["JSHeapUsedSize"] / 1024), "nodes": int(metrics["Nodes"]),
            "listeners": int(metrics["JSEventListeners"])}


def board_part(h: H.Harness, args) -> dict:
    d, sam, sup = floor(h, args.agents, {"rate-per-s": 1000, "rate-burst": 1000})
    base = f"https://127.0.0.1:{d.http_port}"
    driver = browser()
    try:
        driver.execute_cdp_cmd("Performance.enable", {})
        driver.get(f"{base}/login")
        field = driver.find_element("css selector", "input[name=token]")
        field.send_keys(sam)
        field.submit()
        t0 = time.monotonic()
        while driver.execute_script("return document.body.dataset.ready") != "1":
            H.check(time.monotonic() - t0 < 60, "the board did not become ready within 60 s")
            time.sleep(0.05)
        rows = driver.execute_script("return document.querySelectorAll('tr[data-user]').length")
        h.figure("board ready (s)", f"{time.monotonic() - t0:.2f} with {rows} rows")
        time.sleep(2)
        driver.execute_script(PROBE)
        # The probe must see a long task to be believed: one of 80 ms, made on purpose.
        driver.execute_script("setTimeout(() => { const end = performance.now() + 80; while (performance.now() < end) {} }, 0)")
        time.sleep(1)
        calibration = driver.execute_script("return window.__bench.long.splice(0)")
        H.check(any(duration >= 80 for _, duration in calibration), f"the long-task probe saw nothing: {calibration}")
        start = page_memory(driver)
        h.figure("page at start", start)
        changes = Changes(sup, args.agents, args.rate, args.seconds)
        h.log(f"{args.rate} changes/s for {args.seconds} s")
        changes.thread.start()
        changes.thread.join(args.seconds + 60)
        time.sleep(2)
        probe = driver.execute_script("return window.__bench")
        end = page_memory(driver)
        h.figure("page at end", end)
        # Flat or growing? Another half of the run, and the memory again: a row's note gets its
        # text node the first time it is set (most of the 1,000 rows, in the first minute).
        more = Changes(sup, args.agents, args.rate, args.seconds / 2, first=changes.next)
        more.thread.start()
        more.thread.join(args.seconds + 60)
        time.sleep(2)
        later = page_memory(driver)
        h.figure(f"page after {args.seconds / 2:.0f} s more", later)
        # The last state of every agent, on the screen or not.
        shown = driver.execute_script(
            "return Object.fromEntries(Array.from(document.querySelectorAll('tr[data-user]'))"
            ".map((tr) => [tr.dataset.user, tr.querySelector('.note').textContent.trim()]))")
        last = {}
        for batch in (changes, more):
            for c in sorted(batch.sent):
                if c in batch.answered:
                    last[batch.user[c]] = f"b{c}"
        stale = [u for u, note in last.items() if shown.get(u) != note]
        h.figure("agents whose row shows their last change", f"{len(last) - len(stale)} of {len(last)}")
        # A row far off the screen is not drawn, yet the browser's find-in-page still finds it.
        far = driver.execute_script(
            "const rows = Array.from(document.querySelectorAll('tr[data-user^=agent][hidden]'));"
            "return rows.length ? rows[rows.length - 1].dataset.user : null")
        H.check(far is not None, "no row was left undrawn: the window logic did nothing")
        found = driver.execute_script(
            f"return [window.find('{far}'), document.querySelector('tr[data-user=\"{far}\"]').hidden]")
        # window.find searches the text but, unlike the browser's own find bar (which headless
        # Chromium has not), does not reveal the row; the attribute is what the find bar reveals.
        h.figure("a row far off the screen", f"{far}: found by window.find {found[0]}, hidden={found[1]!r}")
        H.check(found == [True, "until-found"], f"{far} is not searchable while undrawn: {found}")
        H.check(not stale, f"{len(stale)} rows do not show their agent's last change, e.g. {stale[:3]}")
        driver.save_screenshot(str(h.tmp / "wallboard-bench.png"))
        if args.screenshot:
            driver.save_screenshot(args.screenshot)
    finally:
        driver.quit()
    paints = {int(k): v / 1000 for k, v in probe["paints"].items()}
    to_paint = [(paints[c] - s) * 1000 for c, s in changes.sent.items() if c in paints]
    round_trip = [(changes.answered[c] - s) * 1000 for c, s in changes.sent.items() if c in changes.answered]
    longest = max((duration for _, duration in probe["long"]), default=0.0)
    result = {
        "bench": "wallboard", "part": "board", "agents": args.agents, "rows": rows, "rate": args.rate,
        "seconds": args.seconds, "changes": len(changes.sent), "painted": len(to_paint), "errors": changes.errors,
        "long_tasks": len(probe["long"]), "longest_task_ms": round(longest, 1),
        "paint_p50_ms": round(percentile(to_paint, 50), 1), "paint_p99_ms": round(percentile(to_paint, 99), 1),
        "paint_max_ms": round(max(to_paint), 1),
        "request_p50_ms": round(percentile(round_trip, 50), 1), "request_p99_ms": round(percentile(round_trip, 99), 1),
        "page_start": start, "page_end": end, "page_later": later, "last_state_shown": len(last) - len(stale),
        "agents_changed": len(last), "daemon_rss_kib": d.rss_kib(),
    }
    h.figure("changes painted", f"{len(to_paint)} of {len(changes.sent)} ({changes.errors} refused)")
    h.figure("long tasks (> 50 ms)", f"{len(probe['long'])}, the longest {longest:.1f} ms")
    h.figure("request to paint p50 / p99 / max (ms)",
             f"{result['paint_p50_ms']} / {result['paint_p99_ms']} / {result['paint_max_ms']}")
    h.figure("the request's round trip (commit) p50 / p99 (ms)", f"{result['request_p50_ms']} / {result['request_p99_ms']}")
    # A change overtaken by the next one on the same agent within the page's frame (it renders
    # at most ten times a second) may never be painted: the row shows the newer one.
    last_by_user, overtaken = {}, set()
    for c in sorted(changes.sent):
        previous = last_by_user.get(changes.user[c])
        if previous is not None and changes.sent[c] - changes.sent[previous] < 0.5:
            overtaken.add(previous)
        last_by_user[changes.user[c]] = c
    missing = [c for c in changes.sent if c not in paints and c not in overtaken]
    result["overtaken"] = len(overtaken)
    H.check(not missing, f"{len(missing)} changes never painted (of {len(changes.sent)}; {len(overtaken)} overtaken)")
    d.stop()
    return result


async def open_streams(port: int, token: str, count: int, context: ssl.SSLContext, received: list[int],
                       events: dict[int, int]):
    """Opens `count` event streams, each read (and dropped) until cancelled; returns the tasks
    once every stream has its snapshot."""
    ready = asyncio.Semaphore(0)

    async def one(k: int):
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context, server_hostname="127.0.0.1")
        writer.write(f"GET /v1/teams/{H.TEAM}/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     f"Authorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n".encode())
        seen = b""
        while b"event: snapshot" not in seen:
            chunk = await reader.read(65536)
            if not chunk:
                raise H.Failure(f"stream {k} closed before its snapshot: {seen[:200]!r}")
            seen += chunk
        ready.release()
        events[k] = 0
        carry = b""
        try:
            while chunk := await reader.read(65536):
                received[0] += len(chunk)
                # Events after the snapshot; a "data: " split across two reads is counted once.
                events[k] += (carry + chunk).count(b"\ndata: ")
                carry = chunk[-6:]
        finally:
            writer.close()

    tasks = []
    for k in range(count):
        tasks.append(asyncio.create_task(one(k)))
        if k % 50 == 49:
            await asyncio.sleep(0)  # let handshakes progress instead of queueing thousands
    for _ in range(count):
        done_early = [t for t in tasks if t.done() and t.exception()]
        if done_early:
            raise done_early[0].exception()
        await asyncio.wait_for(ready.acquire(), 120)
    return tasks


def streams_part(h: H.Harness, args) -> dict:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    most = max(args.streams)
    config = {"rate-per-s": 1000, "rate-burst": 1000, "http-max-connections": most + 100,
              "http-max-event-streams": most, "http-max-event-streams-per-viewer": most, "max-connections": 1000}
    results = []
    for count in args.streams:
        d, sam, sup = floor(h, 25, config)
        context = ssl.create_default_context(cafile=d.cert)
        time.sleep(1)
        before = d.rss_kib()
        received = [0]
        events: dict[int, int] = {}

        async def scenario():
            t0 = time.monotonic()
            tasks = await open_streams(d.http_port, sam, count, context, received, events)
            opened = time.monotonic() - t0
            await asyncio.sleep(3)
            idle = d.rss_kib()
            changes = Changes(sup, 25, 10, args.busy_seconds)
            changes.thread.start()
            while changes.thread.is_alive():
                await asyncio.sleep(0.2)
            await asyncio.sleep(2)
            busy = d.rss_kib()
            ended = sum(1 for t in tasks if t.done())
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            return opened, idle, busy, changes, ended

        opened, idle, busy, changes, ended = asyncio.run(scenario())
        fewest = min(events.values())
        H.check(ended == 0, f"{ended} of {count} streams ended before the end")
        H.check(fewest >= len(changes.answered), f"a stream got {fewest} events of {len(changes.answered)} changes")
        row = {"streams": count, "open_s": round(opened, 1), "rss_before_kib": before, "rss_idle_kib": idle,
               "rss_busy_kib": busy, "kib_per_stream_idle": round((idle - before) / count, 1),
               "kib_per_stream_busy": round((busy - before) / count, 1), "changes": len(changes.answered),
               "bytes_received": received[0],
               "fewest_events_per_stream": fewest, "streams_ended_early": ended}
        h.figure(f"{count} streams", f"opened in {opened:.1f} s; {row['kib_per_stream_idle']} KiB each idle, "
                                     f"{row['kib_per_stream_busy']} KiB at 10 changes/s, every stream {fewest}+ events "
                                     f"(protocol: {PROTOCOL_KIB_PER_CONNECTION} KiB per idle TLS connection)")
        results.append(row)
        d.stop()
        # Each count gets a daemon of its own: a fresh data folder.
        h.daemons.remove(d)
        import shutil
        shutil.rmtree(d.data, ignore_errors=True)
    return {"bench": "wallboard", "part": "streams", "protocol_kib_per_connection": PROTOCOL_KIB_PER_CONNECTION,
            "results": results}


def scenario(h: H.Harness, args):
    lines = []
    if args.part in ("board", "all"):
        lines.append(board_part(h, args))
    if args.part in ("streams", "all"):
        lines.append(streams_part(h, args))
    for line in lines:
        line["huddled"] = h.binary
        line["load_average"] = os.getloadavg()[0]
        print(json.dumps(line), flush=True)


def main():
    p = H.parser(__doc__.splitlines()[0])
    p.add_argument("--part", choices=["board", "streams", "all"], default="all")
    p.add_argument("--agents", type=int, default=1000)
    p.add_argument("--rate", type=float, default=50, help="status changes a second (board)")
    p.add_argument("--seconds", type=float, default=60, help="how long the changes go on (board)")
    p.add_argument("--screenshot", default=None, help="also save the loaded board's screenshot here")
    p.add_argument("--streams", type=lambda s: [int(x) for x in s.split(",")], default=[1000, 2000, 5000])
    p.add_argument("--busy-seconds", type=float, default=20)
    args = p.parse_args()
    H.run("wallboard", args, scenario, default_time_limit=1800)


if __name__ == "__main__":
    main()
