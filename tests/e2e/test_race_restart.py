"""A server restart as the race widget sees it: the server closes the socket with 1012 (service
restart, what a draining replica sends), the page reconnects at once, says "Reconnected", never
"Connection lost", and its race goes on from the same step with the very frames an uninterrupted
run has, byte for byte.

The socket is relayed through Playwright's websocket routing, so the test can close the page's
side with 1012 exactly as uvicorn's drain does, at a moment it chooses, while every byte in both
directions still comes from the real server."""

from __future__ import annotations

import json
import re
import threading
import time

from playwright.sync_api import Page, WebSocketRoute, expect

from app.engine.race import RaceSettings
from app.web.engine_worker import Item, Workshop
from app.web.readiness import SERVICE_RESTART
from app.web.wire import WireDecoder

RACE = "[data-widget=race]"
RESTART_AT_STEP = 300  # close the socket once the page has been sent a frame this far in
SPEED = 6


class Relay:
    """Every /ws/race connection of the page, relayed to the real server and recorded."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.routes: list[WebSocketRoute] = []
        self.from_server: list[list[str]] = []  # per connection, the texts the server sent (frames decoded)
        self.from_page: list[list[dict]] = []
        self.opened_at: list[float] = []

    def __call__(self, route: WebSocketRoute) -> None:
        server = route.connect_to_server()
        decoder = WireDecoder()  # the page asks for binary frames: decoded as its own decoder does
        index = len(self.routes)
        with self.lock:
            self.routes.append(route)
            self.from_server.append([])
            self.from_page.append([])
            self.opened_at.append(time.monotonic())

        def down(message: str | bytes) -> None:
            self.from_server[index].append(message if isinstance(message, str) else decoder.decode(message))
            route.send(message)

        def up(message: str | bytes) -> None:
            self.from_page[index].append(json.loads(message))
            server.send(message)

        server.on_message(down)
        route.on_message(up)

    def frames(self, index: int) -> list[str]:
        return [text for text in self.from_server[index] if json.loads(text)["type"] == "frame"]


def reference_frames(settings: dict, steps: list[int]) -> dict[int, str]:
    """The uninterrupted run's frame texts, computed straight through by the engine code the server's
    workers run (a race is a pure function of its settings)."""
    chosen = {key: value for key, value in settings.items() if key != "speed"}
    race_settings = RaceSettings(**chosen)
    result = Workshop(1).work(Item(("reference",), race_settings, frames=sorted(steps)), deadline=None)
    return result.frames


def test_a_service_restart_close_reconnects_at_once_and_the_race_goes_on_byte_for_byte(page: Page):
    relay = Relay()
    page.route_web_socket(re.compile(r"/ws/race$"), relay)
    page.goto(f"/embed/race?seed=11&speed={SPEED}")
    race = page.locator(RACE)
    expect(race).to_have_attribute("data-ready", "true")
    expect(race).to_have_attribute("data-step", "0")
    # Every text the status line shows, in order (a MutationObserver, so a short-lived one counts too).
    page.evaluate(
        """(selector) => {
          const status = document.querySelector(selector + " [data-ref=status]");
          window.statusLines = [];
          new MutationObserver(() => window.statusLines.push(status.textContent))
            .observe(status, {childList: true, characterData: true, subtree: true});
        }""",
        RACE,
    )
    steps = int(race.get_attribute("data-steps"))
    race.get_by_role("button", name="Train").click()

    deadline = time.monotonic() + 60
    while not any(json.loads(text)["step"] >= RESTART_AT_STEP for text in relay.frames(0)):
        assert time.monotonic() < deadline, "the race did not reach the restart point"
        page.wait_for_timeout(20)  # lets Playwright deliver the relayed messages
    closed_at = time.monotonic()
    relay.routes[0].close(code=SERVICE_RESTART, reason="service restart")

    expect(race.locator("[data-ref=step]")).to_have_text(f"step {steps} / {steps}", timeout=60_000)
    lines = page.evaluate("window.statusLines")
    assert len(relay.routes) == 2, "the page should have opened exactly one new socket"
    assert not [line for line in lines if "Connection lost" in line or "next try" in line], lines
    assert any(line.startswith("Reconnected: your race is back at step") for line in lines), lines
    # No backoff: the new socket was asked for straight away (backoff's shortest wait is 250 ms).
    assert relay.opened_at[1] - closed_at < 0.25, relay.opened_at[1] - closed_at

    # The restore asked for the step the page had shown last, then went on.
    start = next(message for message in relay.from_page[1] if message["type"] == "start")
    shown_before = [json.loads(text)["step"] for text in relay.frames(0)]
    assert start["at_step"] in shown_before and start["at_step"] >= RESTART_AT_STEP - SPEED * 10
    assert {"type": "resume"} in relay.from_page[1]

    # Byte for byte: every frame of both connections is the uninterrupted run's frame for its step,
    # and together they cover the run's frame steps (every SPEED-th, and the last) with none missing.
    received: dict[int, list[str]] = {}
    for index in (0, 1):
        for text in relay.frames(index):
            received.setdefault(json.loads(text)["step"], []).append(text)
    settings = next(message for message in relay.from_page[0] if message["type"] == "start")["settings"]
    expected_steps = {min(step, steps) for step in range(0, steps + SPEED, SPEED)}
    assert set(received) == expected_steps, sorted(set(received) ^ expected_steps)
    reference = reference_frames(settings, sorted(expected_steps))
    for step, texts in received.items():
        assert all(text == reference[step] for text in texts), f"step {step} differs from the uninterrupted run"
    assert page.watch.console_errors == []
