"""What a reader downloads: the article's bytes on the wire for a first visit and a repeat visit
(Debian's Chromium, every widget scrolled into view), and the bytes of one default race over the
websocket.

    python bench/page_bytes.py

The server runs as `python -m app serve` in its own process on loopback; every wait is bounded."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.engine.cpu import cpu_model  # noqa: E402  (after the path fix, for a direct run)

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
WIDGETS = ("steps", "goodness", "normalization", "label", "race")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server() -> tuple[subprocess.Popen, str]:
    port = free_port()
    log = tempfile.TemporaryFile(mode="w+")
    process = subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "--port", str(port)], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=1):
                return process, base
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("the server did not start within 60 s")


def visit_bytes(base: str) -> dict:
    """Bytes on the wire (headers included, as Chromium counts them) for a first and a repeat visit."""
    from playwright.sync_api import expect, sync_playwright

    chromium = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        cdp = context.new_cdp_session(page)
        cdp.send("Network.enable")
        counted: dict[str, int] = {}
        requests: dict[str, str] = {}
        cdp.on("Network.requestWillBeSent", lambda e: requests.__setitem__(e["requestId"], e["request"]["url"]))
        cdp.on(
            "Network.loadingFinished",
            lambda e: counted.__setitem__(requests.get(e["requestId"], e["requestId"]), int(e["encodedDataLength"])),
        )

        def visit() -> dict:
            counted.clear()
            page.goto(base + "/", wait_until="load")
            for name in WIDGETS:
                figure = page.locator(f'[data-widget="{name}"]')
                figure.scroll_into_view_if_needed()
                expect(figure).to_have_attribute("data-ready", "true", timeout=30_000)
            page.wait_for_load_state("networkidle")
            return {
                "requests": len(counted),
                "bytes": sum(counted.values()),
                "html": sum(v for k, v in counted.items() if k.rstrip("/") == base),
            }

        first = visit()
        repeat = visit()
        browser.close()
    return {"first": first, "repeat": repeat}


async def race_bytes(base: str) -> dict:
    """The default race, start to finish, as the page runs it: every message's bytes."""
    import websockets

    url = base.replace("http", "ws", 1) + "/ws/race"
    total = frames = 0
    async with websockets.connect(url, compression=None, max_size=2**22) as ws:
        await ws.send(json.dumps({"type": "start", "settings": {}}))
        async with asyncio.timeout(300):
            while True:
                text = await ws.recv()
                total += len(text.encode() if isinstance(text, str) else text)
                message = json.loads(text)
                frames += message["type"] == "frame"
                if message["type"] == "state" and message.get("done"):
                    break
    return {"messages_bytes": total, "frames": frames}


def main() -> None:
    process, base = start_server()
    try:
        visits = visit_bytes(base)
        race = asyncio.run(race_bytes(base))
    finally:
        process.terminate()
        process.wait(timeout=30)
    print(f"# page and race bytes on {cpu_model()} (loopback; Chromium counts headers too)")
    print("| what | requests | bytes on the wire |")
    print("| --- | ---: | ---: |")
    for name in ("first", "repeat"):
        visit = visits[name]
        print(
            f"| {name} visit, every widget mounted | {visit['requests']} "
            f"| {visit['bytes']:,} (HTML {visit['html']:,}) |"
        )
    print(f"| one default race ({race['frames']} frames) | 1 websocket | {race['messages_bytes']:,} |")


if __name__ == "__main__":
    main()
