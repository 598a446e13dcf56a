#!/usr/bin/python3
"""A headless Chromium for Huddle's browser tests, driven through Selenium.

Run with Debian's interpreter (python3-selenium is installed for it only):

    /usr/bin/python3 Tests/Browser/driver.py [--window-size 1280,800]

Reads one JSON command a line on standard input and writes exactly one JSON answer a line on
standard output, `{"ok": true, "value": ...}` or `{"ok": false, "error": "..."}`; a bad command is
answered with an error, never a crash. Commands (see COMMANDS below): get, wait, js, text, count,
click, type, submit, keys, focused, screenshot, window, cookies, set_cookie, delete_cookies,
console, version, quit.

Chromium is quit when standard input closes, on `quit`, and on SIGTERM; whatever it left behind
is killed by PID, and a guard process kills Chromium's process group should this one die by
SIGKILL, so a test run leaves no browser processes. Everything Chromium writes goes into a
temporary folder of its own, removed at the end.

Only Debian's chromium and chromium-driver are used: the driver path is given explicitly, so
Selenium never looks for (or downloads) a browser or a driver of its own. HUDDLE_CHROMEDRIVER_LOG=
PATH makes chromedriver write a verbose log there.
"""

import argparse
import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading

# Foundation's Process (which starts this driver) watches each child's exit through a socket
# that later children inherit: held open here (and by the guard forked from us), it would keep
# the test from ever seeing the daemon it started before us exit. Only stdin, stdout and stderr
# are ours.
os.closerange(3, 65536)
import time
import traceback

CHROMEDRIVER = "/usr/bin/chromedriver"
# The real binary rather than Debian's /usr/bin/chromium wrapper, which adds flags meant for a
# desktop (extensions, GPU rasterization) from /etc/chromium.d.
CHROMIUM_CANDIDATES = ["/usr/lib/chromium/chromium", "/usr/bin/chromium"]

PAGE_LOAD_TIMEOUT_S = 30
SCRIPT_TIMEOUT_S = 30
POLL_INTERVAL_S = 0.05

PR_SET_CHILD_SUBREAPER = 36


class Terminated(BaseException):
    """SIGTERM arrived: leave whatever is running (not caught by a command's `except Exception`)."""


class CommandError(Exception):
    """A command that cannot be carried out; its message is the answer's error."""


def log(message):
    print(f"driver.py: {message}", file=sys.stderr, flush=True)


def prctl(option, value):
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(option, value, 0, 0, 0)
    except (OSError, AttributeError):
        pass  # not Linux: the cleanup at exit still kills what it finds


def start_guard(workspace):
    """Forks a guard that kills Chromium's process group and removes `workspace` when this
    driver ends, however it ends: SIGKILL included, after which Chromium (a child of
    chromedriver, which listens on a TCP port) would live on. The guard holds the read end of a
    pipe that only this process writes to; end of file means the driver is gone. Returns the
    guard's PID and the write end (for the group ids).
    """
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid != 0:
        os.close(read_end)
        return pid, write_end
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # ^C in a terminal: the driver goes first
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):  # the test's pipes must see end of file when the driver exits
            os.dup2(devnull, fd)
        os.closerange(3, read_end)
        os.closerange(read_end + 1, os.sysconf("SC_OPEN_MAX"))
        groups = b""
        while chunk := os.read(read_end, 256):
            groups += chunk
        for group in groups.split():
            try:
                os.killpg(int(group), signal.SIGKILL)
            except OSError:
                pass  # already gone: the driver quit it
        for _ in range(20):  # what is killed may still be closing its files
            shutil.rmtree(workspace, ignore_errors=True)
            if not os.path.exists(workspace):
                break
            time.sleep(0.1)
    finally:
        os._exit(0)


def descendants():
    """PIDs of every process below this one (chromedriver, Chromium and its helpers)."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
    found, queue = [], [os.getpid()]
    while queue:
        for child in children.get(queue.pop(), []):
            found.append(child)
            queue.append(child)
    return found


def start_browser(width, height, guard, workspace):
    # Imported here so that a missing python3-selenium is reported as such, on stderr.
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    if not os.access(CHROMEDRIVER, os.X_OK):
        raise RuntimeError(f"{CHROMEDRIVER} is missing: install Debian's chromium-driver")
    binary = next((path for path in CHROMIUM_CANDIDATES if os.access(path, os.X_OK)), None)
    if binary is None:
        raise RuntimeError("Chromium is missing: install Debian's chromium")

    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for argument in [
        "--headless=new",
        "--no-sandbox",  # the tests run as root
        "--disable-gpu",
        "--disable-dev-shm-usage",
        f"--window-size={width},{height}",
        "--ignore-certificate-errors",  # the daemon's generated self-signed certificate
        "--force-device-scale-factor=1",  # screenshots in CSS pixels
        "--lang=en-US",
        "--no-proxy-server",  # the pages under test are on loopback
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-extensions",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-breakpad",
        "--password-store=basic",
    ]:
        options.add_argument(argument)
    options.set_capability("acceptInsecureCerts", True)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})

    chromedriver_log = os.environ.get("HUDDLE_CHROMEDRIVER_LOG")
    # Everything chromedriver and Chromium write (the profile, the singleton socket, crash
    # reports) goes into the workspace, which is removed at the end whatever happens.
    environment = dict(os.environ)
    for variable, folder in [("TMPDIR", "tmp"), ("XDG_CONFIG_HOME", "config"), ("XDG_CACHE_HOME", "cache")]:
        environment[variable] = os.path.join(workspace, folder)
        os.makedirs(environment[variable])
    service = Service(
        CHROMEDRIVER,
        env=environment,
        log_path=chromedriver_log,
        service_args=["--verbose"] if chromedriver_log else None,
        # A process group of its own (chromedriver, Chromium and its helpers), whose id
        # chromedriver tells the guard before it runs (the pipe closes on exec).
        popen_kw={"process_group": 0, "preexec_fn": lambda: os.write(guard, f"{os.getpid()}\n".encode())},
    )
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(PAGE_LOAD_TIMEOUT_S)
    driver.set_script_timeout(SCRIPT_TIMEOUT_S)
    return driver


def plain(value):
    """What Selenium returned, as JSON: elements become their opening HTML."""
    from selenium.webdriver.remote.webelement import WebElement

    if isinstance(value, WebElement):
        return (value.get_attribute("outerHTML") or "")[:200]
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    return value


def describe(error):
    """One readable line or two for an exception, without chromedriver's native stack trace."""
    message = getattr(error, "msg", None) or str(error) or type(error).__name__
    message = message.split("\n  (Session info:")[0].split("\nStacktrace:")[0].strip()
    return f"{type(error).__name__}: {message}"


def need(command, key, kind):
    value = command.get(key)
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise CommandError(f"`{command.get('cmd')}` needs `{key}` ({getattr(kind, '__name__', kind)})")
    return value


def element(driver, command):
    from selenium.common.exceptions import NoSuchElementException
    from selenium.webdriver.common.by import By

    css = need(command, "css", str)
    try:
        return driver.find_element(By.CSS_SELECTOR, css)
    except NoSuchElementException:
        raise CommandError(f"no element matches {css!r}")


def key_sequence(name):
    """`TAB`, `ENTER`, `SHIFT+TAB`, `ARROW_DOWN`… (Selenium's `Keys` names); anything else is
    typed as it is."""
    from selenium.webdriver.common.keys import Keys

    parts = name.split("+") if len(name) > 1 else [name]
    keys = [getattr(Keys, part.upper(), None) if len(part) > 1 else part for part in parts]
    if any(key is None for key in keys):
        return [], name
    return keys[:-1], keys[-1]


def cmd_get(driver, command):
    """Loads a page (waiting for its load event); answers where it ended up (after redirects),
    its title and the HTTP status of its last response (null for about: and data: pages)."""
    url = need(command, "url", str)
    driver.get(url)
    page = driver.execute_script(
        "const navigation = performance.getEntriesByType('navigation')[0];"
        "return {title: document.title, status: navigation ? navigation.responseStatus : null,"
        "  failed: document.documentURI.startsWith('chrome-error:'),"
        "  code: document.querySelector('.error-code')?.textContent ?? ''};"
    )
    if page["failed"]:  # Chromium shows its error page, and Selenium calls that a success
        raise CommandError(f"cannot load {url}: {page['code'] or 'network error'}")
    return {"url": driver.current_url, "title": page["title"], "status": page["status"] or None}


def cmd_wait(driver, command):
    script = need(command, "js", str)
    timeout = command.get("timeout", 10)
    if not isinstance(timeout, (int, float)) or isinstance(timeout, bool):
        raise CommandError("`wait` needs a numeric `timeout` (seconds)")
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            value = plain(driver.execute_script(script))
            if js_truthy(value):
                return value
            last = f"last value {json.dumps(value)}"
        except Exception as error:  # a page still loading: an element not there yet
            last = f"last error {describe(error)}"
        if time.monotonic() >= deadline:
            raise CommandError(f"not truthy within {timeout} s ({last}): {script}")
        time.sleep(POLL_INTERVAL_S)


def js_truthy(value):
    """JavaScript's truthiness of a value as JSON brought it back: `[]` and `{}` are true."""
    if isinstance(value, bool) or value is None:
        return bool(value)
    if isinstance(value, (int, float, str)):
        return value != 0 and value != ""
    return True


def cmd_js(driver, command):
    return plain(driver.execute_script(need(command, "js", str)))


def cmd_text(driver, command):
    return driver.execute_script(
        "const e = document.querySelector(arguments[0]); return e ? e.textContent : null;",
        need(command, "css", str),
    )


def cmd_count(driver, command):
    return driver.execute_script("return document.querySelectorAll(arguments[0]).length;", need(command, "css", str))


def cmd_click(driver, command):
    element(driver, command).click()
    return None


def cmd_type(driver, command):
    target = element(driver, command)
    if command.get("clear"):
        target.clear()
    target.send_keys(need(command, "text", str))
    return None


def cmd_submit(driver, command):
    # requestSubmit, as pressing the form's button would: the constraint validation, then the
    # submit event (which a page's script may cancel), then the navigation.
    submitted = driver.execute_script(
        "const form = arguments[0].closest('form');"
        "if (!form) return false;"
        "form.requestSubmit(); return true;",
        element(driver, command),
    )
    if not submitted:
        raise CommandError(f"{command['css']!r} is not in a form")
    return None


def cmd_keys(driver, command):
    from selenium.webdriver.common.action_chains import ActionChains

    names = need(command, "keys", list)
    if not all(isinstance(name, str) and name for name in names):
        raise CommandError("`keys` needs a list of key names (TAB, ENTER, SHIFT+TAB, …) or text")
    actions = ActionChains(driver)
    for name in names:
        modifiers, key = key_sequence(name)
        for modifier in modifiers:
            actions.key_down(modifier)
        actions.send_keys(key)
        for modifier in reversed(modifiers):
            actions.key_up(modifier)
    actions.perform()
    return None


def cmd_focused(driver, command):
    return driver.execute_script(
        "const e = document.activeElement; return e ? e.outerHTML.slice(0, 200) : null;"
    )


def cmd_screenshot(driver, command):
    path = os.path.abspath(need(command, "path", str))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as file:
        file.write(driver.get_screenshot_as_png())
    return path


def cmd_window(driver, command):
    """Sizes the window (as --window-size does); with `"viewport": true` the page's viewport
    instead, which headless Chromium makes smaller than the window. Returns the viewport."""
    width, height = need(command, "width", int), need(command, "height", int)
    viewport = "return {width: window.innerWidth, height: window.innerHeight};"
    driver.set_window_size(width, height)
    inner = driver.execute_script(viewport)
    if command.get("viewport") and (inner["width"], inner["height"]) != (width, height):
        driver.set_window_size(2 * width - inner["width"], 2 * height - inner["height"])
        inner = driver.execute_script(viewport)
    return inner


def cmd_cookies(driver, command):
    return [
        {
            "name": cookie.get("name"),
            "value": cookie.get("value"),
            "path": cookie.get("path"),
            "httpOnly": cookie.get("httpOnly", False),
            "secure": cookie.get("secure", False),
            "sameSite": cookie.get("sameSite"),
            "expiry": cookie.get("expiry"),
        }
        for cookie in driver.get_cookies()
    ]


def cmd_set_cookie(driver, command):
    cookie = {"name": need(command, "name", str), "value": need(command, "value", str)}
    for key in ["path", "domain", "secure", "httpOnly", "sameSite", "expiry"]:
        if command.get(key) is not None:
            cookie[key] = command[key]
    driver.add_cookie(cookie)
    return None


def cmd_delete_cookies(driver, command):
    driver.delete_all_cookies()
    return None


def cmd_console(driver, command):
    return [
        {"level": entry.get("level"), "message": entry.get("message"), "source": entry.get("source")}
        for entry in driver.get_log("browser")
    ]


def cmd_version(driver, command):
    capabilities = driver.capabilities
    return {
        "browser": capabilities.get("browserVersion"),
        "driver": capabilities.get("chrome", {}).get("chromedriverVersion", "").split(" ")[0],
    }


COMMANDS = {
    "get": cmd_get,
    "wait": cmd_wait,
    "js": cmd_js,
    "text": cmd_text,
    "count": cmd_count,
    "click": cmd_click,
    "type": cmd_type,
    "submit": cmd_submit,
    "keys": cmd_keys,
    "focused": cmd_focused,
    "screenshot": cmd_screenshot,
    "window": cmd_window,
    "cookies": cmd_cookies,
    "set_cookie": cmd_set_cookie,
    "delete_cookies": cmd_delete_cookies,
    "console": cmd_console,
    "version": cmd_version,
}


def parse(text):
    """The command on a line, or None and what is wrong with it."""
    try:
        command = json.loads(text)
    except ValueError as error:
        return None, f"not JSON: {error}"
    if not isinstance(command, dict):
        return None, "a command is a JSON object with a `cmd`"
    return command, None


def run(driver, command):
    handler = COMMANDS.get(command.get("cmd"))
    if handler is None:
        return {"ok": False, "error": f"unknown command {command.get('cmd')!r}; known: {', '.join(COMMANDS)}, quit"}
    try:
        return {"ok": True, "value": handler(driver, command)}
    except CommandError as error:
        return {"ok": False, "error": str(error)}
    except Exception as error:
        return {"ok": False, "error": describe(error)}


def encode(reply):
    try:
        return json.dumps(reply, allow_nan=False)
    except (TypeError, ValueError) as error:
        return json.dumps({"ok": False, "error": f"the answer is not JSON: {error}"})


def shutdown(driver, guard, workspace):
    """Quits Chromium (bounded: a hung browser must not hang the exit), kills by PID whatever
    of it is left (sparing the guard), and removes the workspace."""
    started = set(descendants()) - {guard}
    if driver is not None:
        quitter = threading.Thread(target=lambda: driver.quit(), daemon=True)
        quitter.start()
        quitter.join(5)
    deadline = time.monotonic() + 2  # Chromium's helpers exit on their own just after it
    while time.monotonic() < deadline and any(alive(pid) for pid in started):
        time.sleep(0.05)
    for pid in (started | set(descendants())) - {guard}:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    # Reap what was reparented to this process (see PR_SET_CHILD_SUBREAPER) so that nothing is
    # left as a zombie either.
    for pid in started:
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
    shutil.rmtree(workspace, ignore_errors=True)


def alive(pid):
    """Running, or dead and not yet reaped by its parent (a zombie is done)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        return False


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--window-size", default="1280,800", help="W,H (default 1280,800)")
    arguments = parser.parse_args()
    try:
        width, height = (int(part) for part in arguments.window_size.split(","))
    except ValueError:
        parser.error("--window-size is W,H")

    # Started from Foundation's Process, this process may inherit blocked signals (and pass
    # them on to Chromium): unblock them so SIGTERM is heard. It may inherit other descriptors
    # of the test process too (another browser's pipes): close them, so that they see end of
    # file when their own driver goes.
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    os.closerange(3, os.sysconf("SC_OPEN_MAX"))

    def terminated(number, frame):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise Terminated()

    signal.signal(signal.SIGTERM, terminated)
    # Chromium's crash handlers leave their parent: they come back here, to be killed at the end.
    prctl(PR_SET_CHILD_SUBREAPER, 1)

    began = time.monotonic()
    workspace = tempfile.mkdtemp(prefix="huddle-browser-")
    guard, guard_pipe = start_guard(workspace)
    driver = None
    try:
        try:
            driver = start_browser(width, height, guard_pipe, workspace)
        except Exception as error:
            log(f"cannot start Chromium: {describe(error)}")
            return 2
        log(f"Chromium {driver.capabilities.get('browserVersion')} ready in {time.monotonic() - began:.2f} s")
        stdin = sys.stdin.buffer
        while True:
            line = stdin.readline()
            if not line:
                return 0
            command, problem = parse(line.decode("utf-8", errors="replace"))
            if command is not None and command.get("cmd") == "quit":
                shutdown(driver, guard, workspace)
                driver = None
                reply = {"ok": True, "value": None}
            else:
                reply = {"ok": False, "error": problem} if problem else run(driver, command)
            sys.stdout.write(encode(reply) + "\n")
            sys.stdout.flush()
            if driver is None:
                return 0
    except Terminated:
        log("SIGTERM: quitting Chromium")
        return 0
    except KeyboardInterrupt:
        log("interrupted: quitting Chromium")
        return 130
    except BrokenPipeError:
        return 0
    except Exception:
        log(f"unexpected error:\n{traceback.format_exc()}")
        return 1
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        shutdown(driver, guard, workspace)


if __name__ == "__main__":
    code = main()
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        pass
    # os._exit: no "Exception ignored … BrokenPipeError" at interpreter exit when the reader
    # has gone.
    os._exit(code)
