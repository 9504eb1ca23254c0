"""What a reader downloads: the article's bytes on the wire for a first visit and a repeat visit
(Debian's Chromium, every widget scrolled into view), and the bytes of one default race over the
websocket: as the page receives it (binary frames, app/web/wire.py) and as JSON text frames.

    python bench/page_bytes.py

The server runs as `python -m app serve` in its own process on loopback; every wait is bounded."""

from __future__ import annotations

import asyncio
import json
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
from app.web.widget_settings import WIDGETS  # noqa: E402  (every widget the article mounts)
from bench._browser import CHROMIUM_ARGS, chromium_path  # noqa: E402


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

    chromium = chromium_path()
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


def page_race_bytes(base: str) -> dict:
    """The article's race as a reader runs it in Chromium: the preview it shows on scrolling into view
    (start, reset) and Train at the default settings and speed, to the last step; every message the
    page's socket receives, its websocket framing included."""
    from playwright.sync_api import expect, sync_playwright

    chromium = chromium_path()
    sizes: list[tuple[bool, int]] = []  # (binary, payload bytes)

    def watch(socket) -> None:
        if "/ws/race" in socket.url:
            socket.on(
                "framereceived",
                lambda p: sizes.append((isinstance(p, bytes), len(p if isinstance(p, bytes) else p.encode()))),
            )

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("websocket", watch)
        page.goto(base + "/", wait_until="load")
        race = page.locator('[data-widget="race"]')
        race.scroll_into_view_if_needed()
        expect(race).to_have_attribute("data-step", "0", timeout=30_000)
        steps = race.get_attribute("data-steps")
        race.get_by_role("button", name="Train").click()
        expect(race.locator("[data-ref=step]")).to_have_text(f"step {steps} / {steps}", timeout=120_000)
        browser.close()
    return {
        "messages_bytes": sum(size + frame_header_bytes(size) for _, size in sizes),
        "binary_messages": sum(binary for binary, _ in sizes),
        "messages": len(sizes),
    }


def frame_header_bytes(payload: int) -> int:
    """The websocket framing of one unmasked server message (RFC 6455, 5.2)."""
    return 2 if payload < 126 else 4 if payload < 65536 else 10


async def race_bytes(base: str, binary: bool) -> dict:
    """The default race (900 steps, 4 steps per frame), start to finish: every message's bytes, its
    websocket framing included. `binary`: as the page receives it (subprotocol ff-race-delta.1,
    binary frames decoded and checked against a JSON client's); else JSON text frames."""
    import websockets

    from app.web.wire import SUBPROTOCOL, WireDecoder

    url = base.replace("http", "ws", 1) + "/ws/race"
    total = frames = 0
    decoder = WireDecoder()
    texts: list[str] = []
    protocols = [SUBPROTOCOL] if binary else None
    async with websockets.connect(url, compression=None, max_size=2**22, subprotocols=protocols) as ws:
        assert ws.subprotocol == (SUBPROTOCOL if binary else None)
        await ws.send(json.dumps({"type": "start", "settings": {}}))
        async with asyncio.timeout(300):
            while True:
                data = await ws.recv()
                size = len(data.encode() if isinstance(data, str) else data)
                total += size + frame_header_bytes(size)
                text = decoder.decode(data) if isinstance(data, bytes) else data
                message = json.loads(text)
                if message["type"] == "frame":
                    frames += 1
                    texts.append(text)
                if message["type"] == "state" and message.get("done"):
                    break
    return {"messages_bytes": total, "frames": frames, "texts": texts}


def main() -> None:
    process, base = start_server()
    try:
        visits = visit_bytes(base)
        race = asyncio.run(race_bytes(base, binary=True))
        plain = asyncio.run(race_bytes(base, binary=False))
        on_page = page_race_bytes(base)
        if race["texts"] != plain["texts"]:
            raise SystemExit("the binary frames did not decode to the JSON frames")
    finally:
        process.terminate()
        process.wait(timeout=30)
    print(f"# page and race bytes on {cpu_model()} (loopback; Chromium counts headers too)")
    print("| what | resources loaded (cache hits included) | bytes on the wire |")
    print("| --- | ---: | ---: |")
    for name in ("first", "repeat"):
        visit = visits[name]
        print(
            f"| {name} visit, every widget mounted | {visit['requests']} "
            f"| {visit['bytes']:,} (HTML {visit['html']:,}) |"
        )
    print(
        f"| one default race ({race['frames']} frames, binary frames as the page gets them) | 1 websocket "
        f"| {race['messages_bytes']:,} |"
    )
    print(f"| the same race as JSON text frames (other clients) | 1 websocket | {plain['messages_bytes']:,} |")
    print(
        f"| the article's race in Chromium: preview, then Train to the end ({on_page['messages']} messages, "
        f"{on_page['binary_messages']} binary) | 1 websocket | {on_page['messages_bytes']:,} |"
    )


if __name__ == "__main__":
    main()
