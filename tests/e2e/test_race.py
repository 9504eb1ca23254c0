"""The race widget as a student uses it: train, read the accuracies, click a point, use only the
keyboard, lose the connection and get it back, on a desktop and on a phone."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import Page, expect

from app.web.wire import WireDecoder

RACE = "[data-widget=race]"
# Generous: the race is ~11 s at normal speed; CI machines can be several times slower.
RACE_TIMEOUT_MS = 90_000
PERCENT = re.compile(r"held-out (\d+(?:\.\d+)?)%")
NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
# The verdicts name the class and what it is on the data set shown: "class A (inner disk)".
CLASS_A = re.compile(r"^class A\b")
CLASS_B = re.compile(r"^class B\b")


def open_race(page: Page):
    """Open the article, bring the race into view and wait until it shows the untrained nets."""
    page.goto("/")
    race = page.locator(RACE)
    race.scroll_into_view_if_needed()
    expect(race).to_have_attribute("data-ready", "true")
    expect(race).to_have_attribute("data-step", "0")  # the preview frame arrived over the socket
    steps = race.get_attribute("data-steps")
    expect(race.locator("[data-ref=step]")).to_have_text(f"step 0 / {steps}")
    return race


def race_messages(page) -> list[dict]:
    """Every message the race's socket receives, parsed, in order (register before page.goto). Binary
    frames (app/web/wire.py) are decoded as the page decodes them, one decoder per connection."""
    messages: list[dict] = []

    def watch(socket):
        if "/ws/race" in socket.url:
            decoder = WireDecoder()

            def received(payload: str | bytes) -> None:
                messages.append(json.loads(decoder.decode(payload) if isinstance(payload, bytes) else payload))

            socket.on("framereceived", received)

    page.on("websocket", watch)
    return messages


def set_top_speed(race) -> None:
    """Most tests are about what happens after training; the speed slider gets them there fast."""
    speed = race.get_by_label("Speed")
    speed.fill(speed.get_attribute("max"))


def train_to_the_end(race, timeout: float = RACE_TIMEOUT_MS) -> str:
    steps = race.get_attribute("data-steps")
    race.get_by_role("button", name="Train").click()
    expect(race.locator("[data-ref=step]")).to_have_text(f"step {steps} / {steps}", timeout=timeout)
    return steps


def held_out(race, net: str) -> float:
    text = race.locator(f"[data-ref={net}-metrics]").inner_text()
    match = PERCENT.search(text)
    assert match, f"no held-out accuracy in {text!r}"
    return float(match.group(1))


def number(locator) -> float:
    return float(NUMBER.search(locator.inner_text()).group())


def data_point_position(race, x: float, y: float) -> dict:
    """Where data point (x, y) is on the FF canvas, from the extent the server sent."""
    canvas = race.locator("[data-ref=ff-canvas]")
    xmin, xmax, ymin, ymax = (float(v) for v in canvas.get_attribute("data-extent").split(","))
    left, top, side = (float(v) for v in canvas.get_attribute("data-plot").split(","))
    return {"x": left + (x - xmin) / (xmax - xmin) * side, "y": top + (ymax - y) / (ymax - ymin) * side}


def expect_inference(race, step: str) -> None:
    readout = race.locator("[data-ref=ff-readout]")
    expect(readout).to_contain_text(f"at step {step}")


def test_train_runs_the_race_to_the_end_with_both_nets_above_95_percent(page):
    race = open_race(page)
    steps = train_to_the_end(race)  # at the article's default speed, as a student would
    assert held_out(race, "ff") >= 95.0
    assert held_out(race, "bp") >= 95.0
    expect(race.locator("[data-ref=milestones]")).to_contain_text(f"Race finished at step {steps}")
    expect(race.locator("[data-ref=ff-canvas]")).to_have_attribute(
        "aria-label", re.compile(rf"step {steps} of {steps}: \d+\.\d% held-out accuracy")
    )
    expect(race.get_by_role("button", name="Pause")).to_have_attribute("aria-disabled", "true")
    assert page.watch.console_errors == []


def test_a_click_inside_the_disk_is_class_a_with_more_goodness_for_label_a(page):
    race = open_race(page)
    set_top_speed(race)
    steps = train_to_the_end(race)
    race.locator("[data-ref=ff-canvas]").click(position=data_point_position(race, 0.0, 0.0))

    expect_inference(race, steps)
    expect(race.locator("[data-ref=ff-decision]")).to_have_text(CLASS_A)
    total_a = number(race.locator("[data-ref=total-a]"))
    total_b = number(race.locator("[data-ref=total-b]"))
    assert total_a > total_b
    # One goodness row per layer plus the sum, each with a bar for label A and for label B.
    rows = race.locator("[data-ref=ff-readout] tbody tr")
    assert rows.count() >= 2
    assert race.locator("[data-ref=ff-readout] .race-bar").count() == 2 * rows.count()

    expect(race.locator("[data-ref=bp-decision]")).to_have_text(CLASS_A)
    probability_a = number(race.locator("[data-ref=prob-a]"))
    probability_b = number(race.locator("[data-ref=prob-b]"))
    assert probability_a > probability_b
    assert probability_a + probability_b == pytest.approx(1.0, abs=0.02)
    assert page.watch.console_errors == []


def test_a_click_on_the_ring_is_class_b(page):
    race = open_race(page)
    set_top_speed(race)
    train_to_the_end(race)
    canvas = race.locator("[data-ref=ff-canvas]")
    xmin, xmax, _, _ = (float(v) for v in canvas.get_attribute("data-extent").split(","))
    # Far along the x axis, well outside the inner disk: the ring's side of the boundary.
    canvas.click(position=data_point_position(race, xmin + 0.08 * (xmax - xmin), 0.0))
    expect(race.locator("[data-ref=ff-decision]")).to_have_text(CLASS_B)
    assert number(race.locator("[data-ref=total-b]")) > number(race.locator("[data-ref=total-a]"))


def test_keyboard_only_train_then_choose_a_point_with_arrows_and_enter(page):
    page.goto("/")
    race = page.locator(RACE)
    train = race.get_by_role("button", name="Train")
    canvas = race.locator("[data-ref=ff-canvas]")

    def tab_to(target, key: str = "Tab", limit: int = 300) -> None:
        for _ in range(limit):
            if target.evaluate("element => element === document.activeElement"):
                return
            page.keyboard.press(key)
        pytest.fail(f"{key} never reached {target}")

    tab_to(race.get_by_label("Speed"))  # the slider's End key is the keyboard's top speed
    page.keyboard.press("End")
    expect(race).to_have_attribute("data-step", "0")
    tab_to(train)  # on from the settings to the buttons below them
    steps = race.get_attribute("data-steps")
    page.keyboard.press("Enter")
    expect(race.locator("[data-ref=step]")).to_have_text(f"step {steps} / {steps}", timeout=RACE_TIMEOUT_MS)

    tab_to(canvas)
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowUp")
    page.keyboard.press("Enter")
    expect_inference(race, steps)
    # Three steps right and one up from the centre: x > 0 and y > 0 in the readout's point.
    point = re.search(r"Point \((-?[\d.]+), (-?[\d.]+)\)", race.locator("[data-ref=ff-readout]").inner_text())
    assert point and float(point.group(1)) > 0 and float(point.group(2)) > 0
    expect(race.locator("[data-ref=ff-decision]")).to_have_text(re.compile(r"class [AB]"))
    expect(canvas).to_be_focused()
    expect(canvas).to_have_attribute("aria-label", re.compile(r"Marked point .* is classified class [AB]"))
    expect(race.locator("[data-ref=milestones]")).to_contain_text("Forward-Forward says class")


def test_a_new_setting_then_train_starts_a_new_race_with_it(page):
    race = open_race(page)
    set_top_speed(race)
    race.get_by_label("Dataset").select_option("xor")
    expect(race.locator("[data-ref=settings-hint]")).to_contain_text("press Train")
    train_to_the_end(race)
    expect(race.locator("[data-ref=ff-canvas]")).to_have_attribute("aria-label", re.compile(r"on xor, step"))
    expect(race.locator("[data-ref=settings-hint]")).to_have_text("")


def test_enter_in_a_setting_presses_train_and_never_reloads_the_page(page):
    race = open_race(page)
    set_top_speed(race)
    page.evaluate("window.sameDocument = true")  # gone if anything reloads the page
    seed = race.get_by_label("Seed")
    seed.fill("7")
    seed.press("Enter")
    expect(race).to_have_attribute("data-phase", re.compile(r"running|finished"))
    page.wait_for_function("() => new URL(location.href).searchParams.get('seed') === '7'")
    assert page.evaluate("window.sameDocument") is True
    expect(seed).to_have_value("7")
    expect(seed).to_be_focused()


def test_an_out_of_range_setting_is_explained_and_not_sent(page):
    race = open_race(page)
    seed = race.get_by_label("Seed")
    seed.fill("-5")
    race.get_by_role("button", name="Train").click()
    expect(race.locator("[data-ref=form-error]")).to_contain_text("Seed must be a whole number from 0")
    expect(seed).to_have_attribute("aria-invalid", "true")
    expect(race.locator("[data-ref=step]")).to_have_text(re.compile(r"step 0 / "))


def drop_connection(page: Page) -> None:
    page.evaluate(f"document.querySelector('{RACE}').raceDebug.dropConnection()")


def test_a_dropped_connection_is_announced_and_the_finished_race_comes_back(page):
    race = open_race(page)
    set_top_speed(race)
    steps = train_to_the_end(race)
    status = race.locator("[data-ref=status]")

    drop_connection(page)
    expect(status).to_contain_text("Connection lost, reconnecting")
    expect(status).to_have_text(f"Reconnected: your race is back at step {steps}.", timeout=30_000)
    expect(race.locator("[data-ref=step]")).to_have_text(f"step {steps} / {steps}")

    # The server rebuilt the trained nets, so inference answers for the finished race again.
    race.locator("[data-ref=ff-canvas]").click(position=data_point_position(race, 0.0, 0.0))
    expect_inference(race, steps)
    expect(race.locator("[data-ref=ff-decision]")).to_have_text(CLASS_A)
    assert page.watch.console_errors == []


def test_a_dropped_connection_keeps_a_paused_race_at_its_step(page):
    # 53 is a prime above the top speed (50): no replay speed lands on it, the server must.
    race = open_race(page)
    step_button = race.get_by_role("button", name="Step")
    for expected in range(1, 54):
        step_button.click()
        expect(race).to_have_attribute("data-step", str(expected))

    drop_connection(page)
    expect(race.locator("[data-ref=status]")).to_contain_text("reconnecting")
    expect(race.locator("[data-ref=status]")).to_have_text("Reconnected: your race is back at step 53.", timeout=30_000)
    expect(race.locator("[data-ref=step]")).to_have_text(re.compile(r"step 53 / "))
    # Still paused there: one more Step moves to 54, not a running race.
    step_button.click()
    expect(race).to_have_attribute("data-step", "54")
    expect(race.get_by_role("button", name="Pause")).to_have_attribute("aria-disabled", "true")


@pytest.mark.parametrize("fixture, width", [("page", 1280), ("phone_page", 375)])
def test_screenshot_of_the_trained_race_with_an_inference(request, artifacts, fixture, width):
    page = request.getfixturevalue(fixture)
    race = open_race(page)
    set_top_speed(race)
    train_to_the_end(race)
    race.locator("[data-ref=ff-canvas]").click(position=data_point_position(race, 0.0, 0.0))
    expect(race.locator("[data-ref=ff-decision]")).to_have_text(CLASS_A)
    ff_box = race.locator("[data-ref=ff-canvas]").bounding_box()
    bp_box = race.locator("[data-ref=bp-canvas]").bounding_box()
    # Side by side at every width: on a phone too, so both pictures share the screen.
    assert ff_box["y"] == pytest.approx(bp_box["y"], abs=1)
    assert bp_box["x"] >= ff_box["x"] + ff_box["width"]
    assert page.evaluate("document.documentElement.scrollWidth") <= width  # no sideways scroll
    race.screenshot(path=str(artifacts / f"race-{width}.png"))


def test_scrolling_away_pauses_the_race_and_coming_back_resumes_it(page):
    race = open_race(page)
    race.get_by_role("button", name="Train").click()
    expect(race).to_have_attribute("data-phase", "running")
    # Far below the figure (the article is long; a spacer makes sure on any article length).
    page.evaluate("""() => {
        const spacer = document.createElement('div');
        spacer.style.height = '300vh';
        document.body.append(spacer);
        window.scrollTo(0, document.documentElement.scrollHeight);
    }""")
    expect(race).to_have_attribute("data-phase", "paused")
    paused_at = race.get_attribute("data-step")
    race.scroll_into_view_if_needed()
    expect(race).to_have_attribute("data-phase", re.compile(r"running|finished"))
    expect(race).not_to_have_attribute("data-step", paused_at)


def test_a_point_chosen_during_training_follows_the_race_to_its_end(page):
    race = open_race(page)
    steps = race.get_attribute("data-steps")
    race.get_by_role("button", name="Train").click()
    expect(race).to_have_attribute("data-phase", "running")
    race.locator("[data-ref=ff-canvas]").click(position=data_point_position(race, 0.0, 0.0))
    readout = race.locator("[data-ref=ff-readout]")
    expect(readout).to_contain_text(re.compile(r"at step \d+"))
    expect(race.locator("[data-ref=step]")).to_have_text(f"step {steps} / {steps}", timeout=RACE_TIMEOUT_MS)
    # The readout was refreshed as the nets learned and ends on the finished nets' answer.
    expect(readout).to_contain_text(f"at step {steps}")
    expect(race.locator("[data-ref=bp-readout]")).to_contain_text(f"at step {steps}")


def test_after_the_servers_idle_close_the_next_press_restores_the_race_and_does_its_job(idle_page):
    race = open_race(idle_page)
    step_button = race.get_by_role("button", name="Step")
    step_button.click()
    expect(race).to_have_attribute("data-step", "1")
    status = race.locator("[data-ref=status]")
    # The server closes the paused, silent session; the page must not hammer it with reconnects.
    expect(status).to_contain_text("closed after a long pause", timeout=15_000)
    expect(race).to_have_attribute("data-connection", "closed")

    step_button.click()  # the reader comes back: this press reconnects, restores, then steps
    expect(status).to_have_text("Reconnected: your race is back at step 1.", timeout=15_000)
    expect(race).to_have_attribute("data-step", "2")
    step_button.click()
    expect(race).to_have_attribute("data-step", "3")
