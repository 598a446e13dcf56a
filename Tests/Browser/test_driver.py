#!/usr/bin/python3
"""Self-test of driver.py: a tiny site on 127.0.0.1 (an ephemeral port, a strict CSP, a button,
a form, a cookie), driven through driver.py's standard input and output with every command.

    /usr/bin/python3 Tests/Browser/test_driver.py [-v]

Also checks that the driver leaves no process behind, whether it is told to quit, its standard
input closes, or it gets SIGTERM (with SIGTERM blocked, as Foundation's Process may pass it on)
or SIGKILL. Prints how long a driver start and a screenshot take.
"""

import http.server
import json
import os
import queue
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
DRIVER = os.path.join(HERE, "driver.py")
PYTHON = "/usr/bin/python3"  # Debian's, the one python3-selenium is for

CSP = "default-src 'self'"

PAGES = {
    "/": """<!doctype html>
<html><head><title>Self-test</title><script src="/app.js"></script></head>
<body>
  <h1 id="heading">Huddle self-test</h1>
  <button id="go" type="button">Go</button>
  <p id="out"></p>
  <p class="item">one</p><p class="item">two</p><p class="item">three</p>
  <form id="login" action="/welcome" method="get">
    <input id="name" name="name">
    <input id="pass" name="pass" type="password">
    <button id="send" type="submit">Sign in</button>
  </form>
</body></html>""",
    # Same origin, so the CSP lets it run.
    "/app.js": """
document.addEventListener('DOMContentLoaded', () => {
  document.querySelector('#go').addEventListener('click', () => {
    document.querySelector('#out').textContent = 'clicked';
    console.log('button clicked');
  });
  setTimeout(() => {
    const late = document.createElement('p');
    late.id = 'late';
    late.textContent = 'arrived';
    document.body.append(late);
  }, 300);
});
""",
    # An inline script: the CSP must refuse it, and the refusal must reach `console`.
    "/inline": """<!doctype html>
<html><head><title>Inline</title></head>
<body><script>document.title = 'inline ran';</script><p id="still">still here</p></body></html>""",
}


class Site(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        path, _, query = self.path.partition("?")
        if path == "/favicon.ico":
            self.send_response(204)
            self.end_headers()
            return
        if path == "/welcome":
            fields = dict(part.split("=", 1) for part in query.split("&") if "=" in part)
            body = f'<!doctype html><title>Welcome</title><p id="hello">Hello {fields.get("name", "")}</p>'
        elif path in PAGES:
            body = PAGES[path]
        else:
            self.send_error(404)
            return
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/javascript" if path.endswith(".js") else "text/html; charset=utf-8")
        self.send_header("Content-Security-Policy", CSP)
        if path == "/":
            self.send_header("Set-Cookie", "visit=1; Path=/; HttpOnly; SameSite=Strict")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *arguments):
        pass


class Driver:
    """driver.py in a child process, spoken to one line at a time."""

    def __init__(self, arguments=(), preexec_fn=None):
        began = time.monotonic()
        self.process = subprocess.Popen(
            [PYTHON, DRIVER, *arguments],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
            preexec_fn=preexec_fn,
        )
        self.lines = queue.Queue()
        self.stderr = []
        threading.Thread(target=self._read, args=(self.process.stdout, self.lines.put, True), daemon=True).start()
        threading.Thread(target=self._read, args=(self.process.stderr, self.stderr.append, False), daemon=True).start()
        self.version = self.ask({"cmd": "version"}, timeout=60)
        self.start_seconds = time.monotonic() - began

    @staticmethod
    def _read(stream, put, mark_end):
        for line in stream:
            put(line.decode())
        if mark_end:
            put(None)

    def send_line(self, text):
        self.process.stdin.write(text.encode() + b"\n")
        self.process.stdin.flush()

    def answer(self, timeout=30):
        line = self.lines.get(timeout=timeout)
        if line is None:
            raise AssertionError(f"driver.py ended; stderr: {''.join(self.stderr)[-2000:]}")
        return json.loads(line)

    def raw(self, command, timeout=30):
        self.send_line(json.dumps(command))
        return self.answer(timeout)

    def ask(self, command, timeout=30):
        reply = self.raw(command, timeout)
        if not reply.get("ok"):
            raise AssertionError(f"{command} failed: {reply}")
        return reply["value"]

    def finish(self):
        """Quits (if still running) and closes the pipes."""
        if self.process.poll() is None:
            try:
                self.raw({"cmd": "quit"}, timeout=15)
            except (OSError, queue.Empty, AssertionError):
                self.process.kill()
        self.process.wait(15)
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            try:
                stream.close()
            except OSError:
                pass

    def processes(self):
        """PIDs of driver.py and everything below it."""
        children = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat", "rb") as stat:
                        children.setdefault(int(stat.read().rsplit(b")", 1)[1].split()[1]), []).append(int(entry))
                except OSError:
                    pass
        found, todo = [self.process.pid], [self.process.pid]
        while todo:
            for child in children.get(todo.pop(), []):
                found.append(child)
                todo.append(child)
        return found


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        return False


class DriverTests(unittest.TestCase):
    timings = {}

    @classmethod
    def setUpClass(cls):
        cls.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Site)
        threading.Thread(target=cls.server.serve_forever, daemon=True).start()
        cls.base = f"http://127.0.0.1:{cls.server.server_address[1]}"
        cls.screenshots = tempfile.mkdtemp(prefix="huddle-driver-test-")
        # The daemon serves HTTPS with a certificate it generated itself: so does this.
        cert, key = os.path.join(cls.screenshots, "cert.pem"), os.path.join(cls.screenshots, "key.pem")
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
            check=True, capture_output=True,
        )
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        cls.tls_server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Site)
        cls.tls_server.socket = context.wrap_socket(cls.tls_server.socket, server_side=True)
        threading.Thread(target=cls.tls_server.serve_forever, daemon=True).start()
        cls.tls_base = f"https://127.0.0.1:{cls.tls_server.server_address[1]}"
        cls.driver = Driver()
        cls.timings["driver start (to the first answer)"] = cls.driver.start_seconds

    @classmethod
    def tearDownClass(cls):
        cls.driver.finish()
        for server in (cls.server, cls.tls_server):
            server.shutdown()
            server.server_close()
        shutil.rmtree(cls.screenshots)

    def ask(self, command, timeout=30):
        return self.driver.ask(command, timeout)

    def error(self, command):
        reply = self.driver.raw(command)
        self.assertFalse(reply["ok"], reply)
        self.assertIsInstance(reply["error"], str)
        return reply["error"]

    def home(self):
        self.ask({"cmd": "delete_cookies"})
        return self.ask({"cmd": "get", "url": self.base + "/"})

    def test_version(self):
        self.assertTrue(self.driver.version["browser"].split(".")[0].isdigit(), self.driver.version)
        self.assertEqual(self.driver.version["browser"], self.driver.version["driver"])

    def test_get_text_count_js(self):
        page = self.home()
        self.assertEqual(page, {"url": self.base + "/", "title": "Self-test", "status": 200})
        self.assertEqual(self.ask({"cmd": "get", "url": self.base + "/missing"})["status"], 404)
        self.assertEqual(self.ask({"cmd": "get", "url": "about:blank"}), {"url": "about:blank", "title": "", "status": None})
        self.home()
        self.assertEqual(self.ask({"cmd": "text", "css": "#heading"}), "Huddle self-test")
        self.assertIsNone(self.ask({"cmd": "text", "css": "#nothing"}))
        self.assertEqual(self.ask({"cmd": "count", "css": ".item"}), 3)
        self.assertEqual(self.ask({"cmd": "count", "css": ".none"}), 0)
        self.assertEqual(self.ask({"cmd": "js", "js": "return [1, 'two', {three: 3}, null, true]"}), [1, "two", {"three": 3}, None, True])
        self.assertEqual(self.ask({"cmd": "js", "js": "return document.querySelector('h1')"}), '<h1 id="heading">Huddle self-test</h1>')

    def test_self_signed_https(self):
        self.assertEqual(self.ask({"cmd": "get", "url": self.tls_base + "/"}), {"url": self.tls_base + "/", "title": "Self-test", "status": 200})
        self.assertEqual(self.ask({"cmd": "wait", "js": "return document.querySelector('#late')?.textContent"}), "arrived")

    def test_unreachable_page_is_an_error(self):
        with socket.socket() as unused:
            unused.bind(("127.0.0.1", 0))
            port = unused.getsockname()[1]
        self.assertIn("ERR_CONNECTION_REFUSED", self.error({"cmd": "get", "url": f"http://127.0.0.1:{port}/"}))

    def test_wait(self):
        self.home()
        self.assertEqual(self.ask({"cmd": "wait", "js": "return document.querySelector('#late')?.textContent", "timeout": 10}), "arrived")
        self.assertEqual(self.ask({"cmd": "wait", "js": "return []", "timeout": 1}), [], "truthy as JavaScript has it")
        began = time.monotonic()
        error = self.error({"cmd": "wait", "js": "return document.querySelectorAll('.item').length > 5 ? 1 : 0", "timeout": 0.5})
        self.assertLess(time.monotonic() - began, 5)
        self.assertIn("not truthy within 0.5 s (last value 0)", error)
        error = self.error({"cmd": "wait", "js": "return missing.thing", "timeout": 0.3})
        self.assertIn("missing is not defined", error)

    def test_click_and_console(self):
        self.home()
        self.ask({"cmd": "console"})  # what loading the page logged
        self.ask({"cmd": "click", "css": "#go"})
        self.assertEqual(self.ask({"cmd": "text", "css": "#out"}), "clicked")
        entries = self.ask({"cmd": "console"})
        self.assertTrue(any("button clicked" in entry["message"] and entry["level"] == "INFO" for entry in entries), entries)
        self.assertEqual(self.ask({"cmd": "console"}), [], "entries are given once")

    def test_type_and_submit(self):
        self.home()
        self.ask({"cmd": "type", "css": "#name", "text": "alice"})
        self.ask({"cmd": "type", "css": "#name", "text": "bob", "clear": True})
        self.assertEqual(self.ask({"cmd": "js", "js": "return document.querySelector('#name').value"}), "bob")
        self.ask({"cmd": "submit", "css": "#name"})
        self.assertEqual(self.ask({"cmd": "wait", "js": "return document.querySelector('#hello')?.textContent"}), "Hello bob")
        self.assertIn("/welcome?name=bob", self.ask({"cmd": "js", "js": "return location.href"}))
        self.assertIn("is not in a form", self.error({"cmd": "submit", "css": "#hello"}))

    def test_keys_and_focused(self):
        self.home()
        self.ask({"cmd": "click", "css": "#name"})
        self.assertTrue(self.ask({"cmd": "focused"}).startswith('<input id="name"'))
        self.ask({"cmd": "keys", "keys": ["c", "a", "t"]})
        self.ask({"cmd": "keys", "keys": ["TAB"]})
        self.assertTrue(self.ask({"cmd": "focused"}).startswith('<input id="pass"'))
        self.ask({"cmd": "keys", "keys": ["SHIFT+TAB"]})
        self.assertTrue(self.ask({"cmd": "focused"}).startswith('<input id="name"'))
        self.ask({"cmd": "keys", "keys": ["TAB", "TAB"]})
        self.assertTrue(self.ask({"cmd": "focused"}).startswith('<button id="send"'))
        self.ask({"cmd": "keys", "keys": ["ENTER"]})
        self.assertEqual(self.ask({"cmd": "wait", "js": "return document.querySelector('#hello')?.textContent"}), "Hello cat")

    def test_screenshot_and_window(self):
        self.home()
        self.assertEqual(self.ask({"cmd": "window", "width": 1024, "height": 700, "viewport": True}), {"width": 1024, "height": 700})
        path = os.path.join(self.screenshots, "nested", "home.png")
        began = time.monotonic()
        self.assertEqual(self.ask({"cmd": "screenshot", "path": path}), path)
        self.timings["screenshot (1024x700)"] = time.monotonic() - began
        with open(path, "rb") as file:
            header = file.read(24)
        self.assertEqual(header[:8], b"\x89PNG\r\n\x1a\n")
        self.assertEqual(struct.unpack(">II", header[16:24]), (1024, 700))
        window = self.ask({"cmd": "window", "width": 1280, "height": 800})
        self.assertEqual(window["width"], 1280)
        self.assertLessEqual(window["height"], 800)

    def test_cookies(self):
        self.home()
        cookies = self.ask({"cmd": "cookies"})
        self.assertEqual(len(cookies), 1, cookies)
        visit = cookies[0]
        self.assertEqual((visit["name"], visit["value"], visit["httpOnly"], visit["secure"], visit["sameSite"]), ("visit", "1", True, False, "Strict"))
        self.assertEqual(self.ask({"cmd": "js", "js": "return document.cookie"}), "", "HttpOnly is not visible to scripts")
        self.assertIsNone(self.ask({"cmd": "set_cookie", "name": "theme", "value": "dark", "sameSite": "Lax"}))
        self.assertEqual(self.ask({"cmd": "js", "js": "return document.cookie"}), "theme=dark")
        self.assertEqual(sorted(cookie["name"] for cookie in self.ask({"cmd": "cookies"})), ["theme", "visit"])
        self.ask({"cmd": "delete_cookies"})
        self.assertEqual(self.ask({"cmd": "cookies"}), [])

    def test_csp_violation_reaches_console(self):
        self.home()
        self.ask({"cmd": "console"})
        page = self.ask({"cmd": "get", "url": self.base + "/inline"})
        self.assertEqual(page["title"], "Inline", "the inline script must not have run")
        self.assertEqual(self.ask({"cmd": "text", "css": "#still"}), "still here")
        entries = self.ask({"cmd": "console"})
        violations = [entry for entry in entries if "Content Security Policy" in entry["message"]]
        self.assertTrue(violations, entries)
        self.assertEqual(violations[0]["level"], "SEVERE")
        self.assertIn("default-src 'self'", violations[0]["message"])

    def test_bad_commands_are_answered(self):
        self.home()
        self.driver.send_line("not json")
        self.assertIn("not JSON", self.driver.answer()["error"])
        self.driver.send_line("")
        self.assertFalse(self.driver.answer()["ok"])
        self.driver.send_line("[1, 2]")
        self.assertIn("JSON object", self.driver.answer()["error"])
        self.assertIn("unknown command 'fly'", self.error({"cmd": "fly"}))
        self.assertIn("needs `url`", self.error({"cmd": "get"}))
        self.assertIn("needs `width`", self.error({"cmd": "window", "width": "wide", "height": 3}))
        self.assertIn("no element matches '#missing'", self.error({"cmd": "click", "css": "#missing"}))
        self.assertIn("no element matches", self.error({"cmd": "type", "css": "#missing", "text": "x"}))
        self.assertIn("'##' is not a valid selector", self.error({"cmd": "count", "css": "##"}))
        self.assertIn("boom", self.error({"cmd": "js", "js": "throw new Error('boom')"}))
        # Still serving after all that.
        self.assertEqual(self.ask({"cmd": "count", "css": ".item"}), 3)


class LifecycleTests(unittest.TestCase):
    """However the driver ends, nothing of Chromium is left."""

    def assertAllGone(self, pids, within=10):
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            left = [pid for pid in pids if alive(pid)]
            if not left and not os.path.exists(self.workspace):
                return
            time.sleep(0.1)
        self.fail(f"still running: {left}; workspace left: {os.path.exists(self.workspace)}")

    def started(self, **options):
        driver = Driver(**options)
        driver.ask({"cmd": "get", "url": "about:blank"})
        pids = driver.processes()
        self.assertGreater(len(pids), 3, "driver.py, chromedriver and Chromium's processes")
        self.workspace = self.workspace_of(pids)
        self.assertTrue(os.path.isdir(self.workspace), self.workspace)
        return driver, pids

    @staticmethod
    def workspace_of(pids):
        """The folder chromedriver and Chromium write in (their TMPDIR), removed at the end."""
        for pid in pids:
            try:
                with open(f"/proc/{pid}/environ", "rb") as file:
                    variables = dict(item.split(b"=", 1) for item in file.read().split(b"\0") if b"=" in item)
            except OSError:
                continue
            if b"huddle-browser-" in variables.get(b"TMPDIR", b""):
                return os.path.dirname(variables[b"TMPDIR"].decode())
        raise AssertionError("no process with the driver's workspace as TMPDIR")

    def test_quit(self):
        driver, pids = self.started()
        self.assertIsNone(driver.ask({"cmd": "quit"}))
        self.assertEqual(driver.process.wait(10), 0)
        self.assertIsNone(driver.lines.get(timeout=5), "nothing after the answer to quit")
        driver.finish()
        self.assertAllGone(pids)

    def test_end_of_input(self):
        driver, pids = self.started(arguments=["--window-size", "800,600"])
        self.assertEqual(driver.ask({"cmd": "js", "js": "return window.innerWidth"}), 800)
        driver.process.stdin.close()
        self.assertEqual(driver.process.wait(15), 0)
        driver.finish()
        self.assertAllGone(pids)

    def test_sigterm_while_busy_with_sigterm_blocked_on_entry(self):
        driver, pids = self.started(preexec_fn=lambda: signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGTERM]))
        driver.send_line(json.dumps({"cmd": "wait", "js": "return false", "timeout": 60}))
        time.sleep(0.5)
        began = time.monotonic()
        driver.process.terminate()
        self.assertEqual(driver.process.wait(15), 0)
        self.assertLess(time.monotonic() - began, 12)
        driver.finish()
        self.assertAllGone(pids)

    def test_sigkill(self):
        driver, pids = self.started()
        driver.process.kill()
        driver.finish()
        self.assertAllGone(pids)


def tearDownModule():
    print()
    for name, seconds in DriverTests.timings.items():
        print(f"  {name}: {seconds:.2f} s")


if __name__ == "__main__":
    unittest.main()
