"""Browser-test fixtures: a real server in a subprocess and Debian's Chromium through Playwright."""

from __future__ import annotations

import functools
import http.server
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from bench._browser import CHROMIUM_ARGS, find_chromium

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"


def pytest_collection_modifyitems(items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.e2e)


def chromium_executable() -> str:
    """Debian's Chromium (or $CHROMIUM_PATH); never Playwright's own browser download."""
    found = find_chromium()
    if found is None:
        pytest.fail("Chromium not found: run `make chromium` (Debian) or set CHROMIUM_PATH", pytrace=False)
    return found


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(env_overrides: dict[str, str] | None = None, *, port: int | None = None):
    """Start `python -m app serve` on a free loopback port; return (process, base_url)."""
    port = port or free_port()
    env = {**os.environ, **(env_overrides or {})}
    # A file, not a pipe: nobody reads a pipe during the run, and once its 64 KB of access log
    # fill up the server blocks on its next log line and every later test times out.
    log = tempfile.TemporaryFile(mode="w+")
    process = subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    process.log = log
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # readiness poll, not a synchronising sleep
        if process.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"server exited early:\n{log.read()}")
        try:
            with urllib.request.urlopen(base_url + "/healthz", timeout=1) as response:
                if response.status == 200:
                    return process, base_url
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("server did not answer /healthz within 30 s")


def stop_server(process) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture(scope="session")
def live_server():
    """Base URL of a real uvicorn serving the app for the whole browser session."""
    process, base_url = start_server()
    yield base_url
    stop_server(process)


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    chromium = playwright.chromium.launch(executable_path=chromium_executable(), args=CHROMIUM_ARGS)
    yield chromium
    chromium.close()
    playwright.stop()


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


class PageWatch:
    """What a page did that a student would notice went wrong: console errors, off-site requests."""

    def __init__(self, page, base_url: str):
        self.console_errors: list[str] = []
        self.foreign_requests: list[str] = []
        page.on("console", lambda msg: msg.type == "error" and self.console_errors.append(msg.text))
        page.on("pageerror", lambda exc: self.console_errors.append(str(exc)))
        page.on("request", lambda req: self._check(req.url, base_url))

    def _check(self, url: str, base_url: str) -> None:
        host = base_url.split("//", 1)[1]
        if url.startswith(("data:", "blob:")):
            return
        if host not in url.split("//", 1)[-1].split("/", 1)[0]:
            self.foreign_requests.append(url)


def _new_page(browser, live_server, width: int, height: int):
    context = browser.new_context(viewport={"width": width, "height": height}, base_url=live_server)
    page = context.new_page()
    page.watch = PageWatch(page, live_server)
    return context, page


@pytest.fixture
def page(browser, live_server):
    """A desktop-width page (1280 px) with `page.watch` collecting console errors."""
    context, page = _new_page(browser, live_server, 1280, 900)
    yield page
    context.close()


@pytest.fixture
def phone_page(browser, live_server):
    """A phone-width page (375 px)."""
    context, page = _new_page(browser, live_server, 375, 812)
    yield page
    context.close()


# -- appended for the race widget's tests ---------------------------------------------------------


@pytest.fixture(scope="module")
def idle_server():
    """A second server whose race sessions time out after 2 s without a message, so the widget's
    handling of the server's idle close (code 1001) can be watched without a 15-minute wait."""
    process, base_url = start_server({"FF_IDLE_TIMEOUT_S": "2"})
    yield base_url
    stop_server(process)


@pytest.fixture
def idle_page(browser, idle_server):
    """A desktop-width page on `idle_server`, with `page.watch` like `page`."""
    context, page = _new_page(browser, idle_server, 1280, 900)
    yield page
    context.close()


@pytest.fixture
def touch_page(browser, live_server, request):
    """A phone as a student holds it: 375 x 812 (or the (width, height) a test parametrizes it
    with, indirectly), touch screen, mobile viewport, reduced motion (so a scroll the page makes is
    instant and a tap's coordinates hold still)."""
    width, height = getattr(request, "param", (375, 812))
    context = browser.new_context(
        viewport={"width": width, "height": height},
        base_url=live_server,
        has_touch=True,
        is_mobile=True,
        reduced_motion="reduce",
    )
    page = context.new_page()
    page.watch = PageWatch(page, live_server)
    yield page
    context.close()


# -- a course site on another origin, for the embedding tests -------------------------------------


class CourseSite:
    """A stand-in for Moodle or a course's static site: plain HTML files on another port."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "favicon.ico").write_bytes(b"")  # so the browser's favicon request is no console error
        handler = functools.partial(QuietHandler, directory=str(root))
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def publish(self, name: str, body: str) -> str:
        (self.root / name).write_text(
            '<!doctype html><html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>Week 3: learning without backprop</title></head><body>{body}</body></html>"
        )
        return f"{self.origin}/{name}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep pytest's output for failures
        pass


@pytest.fixture
def course_site(tmp_path_factory):
    sites = []

    def make() -> CourseSite:
        sites.append(CourseSite(tmp_path_factory.mktemp("course")))
        return sites[-1]

    yield make
    for site in sites:
        site.close()
