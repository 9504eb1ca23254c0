"""The race over binary frames (app/web/wire.py, app/static/js/widgets/race/wire.js): what the page draws is
exactly the server's frame, after an uninterrupted race and after a reconnect's keyframe."""

from __future__ import annotations

import base64
import json

from playwright.sync_api import expect

from app.engine.race import Race, RaceSettings
from app.web.frames import frame_text
from app.web.wire import HEADER, KEY

from .test_race import RACE, open_race, race_messages, set_top_speed, train_to_the_end

SHOWN = "root => root.raceDebug.shown()"


def server_frame(settings: dict, step: int) -> dict:
    """The frame the server's JSON protocol sends at `step` of the run with these settings."""
    chosen = {key: value for key, value in settings.items() if key != "speed"}
    race = Race(RaceSettings(**chosen))
    race.advance_to(step)
    return json.loads(frame_text(race.snapshot(grid=True), race.settings.steps, race.settings.theta))


def assert_shows(shown: dict, frame: dict) -> None:
    assert shown["step"] == frame["step"]
    assert shown["grid"]["ff"] == list(base64.b64decode(frame["grid"]["ff"]))
    assert shown["grid"]["backprop"] == list(base64.b64decode(frame["grid"]["backprop"]))
    assert shown["layers"] == frame["layers"]


def test_the_page_draws_the_servers_maps_exactly_before_and_after_a_reconnect(page):
    binary: list[list[int]] = []  # per connection: the kind of every binary message

    def watch(socket) -> None:
        if "/ws/race" in socket.url:
            kinds: list[int] = []
            binary.append(kinds)
            socket.on("framereceived", lambda p: isinstance(p, bytes) and kinds.append(HEADER.unpack_from(p)[0]))

    page.on("websocket", watch)
    messages = race_messages(page)
    race = open_race(page)
    set_top_speed(race)
    steps = int(train_to_the_end(race))
    settings = [m for m in messages if m["type"] == "race"][-1]["settings"]
    expected = server_frame(settings, steps)
    assert_shows(race.evaluate(SHOWN), expected)
    frames = [m for m in messages if m["type"] == "frame"]
    assert frames[-1] == expected  # the decoded wire frame is the server's, field for field
    assert len(binary) == 1 and len(binary[0]) == len(frames)  # every frame came as a binary message
    assert binary[0][0] == KEY and set(binary[0][1:]) != {KEY}  # a keyframe, then deltas

    page.evaluate(f"document.querySelector('{RACE}').raceDebug.dropConnection()")
    expect(race.locator("[data-ref=status]")).to_have_text(
        f"Reconnected: your race is back at step {steps}.", timeout=30_000
    )
    assert len(binary) == 2 and binary[1][0] == KEY  # the new connection starts from a keyframe
    assert_shows(race.evaluate(SHOWN), expected)
    assert page.watch.console_errors == []
