"""The article on a phone held in the hand (375 x 812, touch): the race fits one screen while it
trains and answers a tap where the reader is looking; a swipe that starts on a picture scrolls the
page unless it starts on a handle made for dragging; every control is a comfortable tap target."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from .test_race import data_point_position
from .widgets import mount_every_widget

RACE = "[data-widget=race]"
MIN_TARGET = 44  # CSS px: the smallest comfortable touch target (WCAG 2.5.5, Apple's and Android's guides)

ALL_IN_VIEW = """(selectors) => selectors.every((selector) => {
    const box = document.querySelector(selector).getBoundingClientRect();
    return box.height > 0 && box.top >= 0 && box.bottom <= window.innerHeight;
})"""


def in_view(page, *selectors) -> bool:
    return page.evaluate(ALL_IN_VIEW, list(selectors))


# The smallest common phone, a large one, and a small tablet in portrait: "375 x 812 and up".
@pytest.mark.parametrize("touch_page", [(375, 812), (414, 896), (600, 960)], indirect=True, ids=["375", "414", "600"])
def test_while_the_race_trains_the_step_counter_and_both_pictures_share_the_screen(touch_page):
    page = touch_page
    page.goto("/")
    race = page.locator(RACE)
    train = race.get_by_role("button", name="Train")
    # The reader has scrolled just far enough to see the Train button at the bottom of the screen.
    train.evaluate("button => button.scrollIntoView({block: 'end'})")
    expect(race).to_have_attribute("data-step", "0")
    train.tap()
    expect(race).to_have_attribute("data-phase", "running")
    watched = (f"{RACE} [data-ref=step]", f"{RACE} [data-ref=ff-canvas]", f"{RACE} [data-ref=bp-canvas]")
    page.wait_for_function(ALL_IN_VIEW, arg=list(watched))
    expect(race.get_by_role("button", name="Pause")).to_be_in_viewport()  # and the way to stop it

    # A tap on the Forward-Forward picture, mid-race: both nets' answers appear on this same screen.
    scrolled = page.evaluate("scrollY")
    race.locator("[data-ref=ff-canvas]").tap(position=data_point_position(race, 0.0, 0.0))
    expect(race.locator("[data-ref=ff-decision]")).to_be_visible()
    expect(race.locator("[data-ref=bp-decision]")).to_be_visible()
    assert in_view(page, *watched, f"{RACE} [data-ref=ff-decision]", f"{RACE} [data-ref=bp-decision]")
    assert page.evaluate("scrollY") == scrolled  # nothing had to scroll to show them
    assert page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size["width"]
    assert page.watch.console_errors == []


class Finger:
    """One finger on the touch screen, through the DevTools protocol's touch events: Chromium turns
    them into pointer events and scroll gestures exactly as it does a real touch screen's."""

    def __init__(self, page) -> None:
        self.page = page
        self.session = page.context.new_cdp_session(page)

    def swipe(self, x: float, y: float, dy: float, steps: int = 12) -> None:
        self.session.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": x, "y": y}]})
        for i in range(1, steps + 1):
            self.session.send(
                "Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": x, "y": y + dy * i / steps}]}
            )
        self.session.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})


SETTLED = """() => new Promise((settled) => {
    // The page has stopped moving (a fling after a swipe has run out): ten frames at one scrollY.
    let last = window.scrollY, still = 0;
    const frame = () => {
        still = window.scrollY === last ? still + 1 : 0;
        last = window.scrollY;
        if (still >= 10) settled(last); else requestAnimationFrame(frame);
    };
    requestAnimationFrame(frame);
})"""


def centre(locator) -> tuple[float, float]:
    box = locator.bounding_box()
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def test_a_swipe_on_a_picture_scrolls_the_page_and_only_the_handle_drags_the_vector(touch_page):
    page = touch_page
    page.goto("/")
    mount_every_widget(page)
    finger = Finger(page)
    # Every picture big enough to start a swipe on, the draggable plane and the race's included;
    # not the digits figure's drawing pad, where a finger draws (tests/e2e/test_digits.py).
    canvases = page.locator("[data-widget] canvas:not(.digits-pad)").filter(visible=True)
    swiped = 0
    for index in range(canvases.count()):
        canvas = canvases.nth(index)
        if canvas.bounding_box()["height"] < 60:
            continue
        canvas.evaluate("canvas => canvas.scrollIntoView({block: 'center'})")
        before = page.evaluate("scrollY")
        finger.swipe(*centre(canvas), dy=-150)
        page.wait_for_function("before => window.scrollY > before", arg=before)
        swiped += 1
    assert swiped >= 8

    figure = page.locator("[data-widget=normalization]")
    plane = figure.locator(".normalization-plane")
    plane.evaluate("plane => plane.scrollIntoView({block: 'center'})")
    start = figure.get_attribute("data-y")
    finger.swipe(*centre(plane), dy=-150)  # from the plane's centre: a scroll...
    assert figure.get_attribute("data-y") == start  # ...which leaves the vector alone

    page.evaluate(SETTLED)
    plane.evaluate("plane => plane.scrollIntoView({block: 'center'})")
    before = page.evaluate(SETTLED)
    handle = figure.locator("[data-ref=handle]")
    finger.swipe(*centre(handle), dy=-100)  # from the handle: a drag
    expect(figure).not_to_have_attribute("data-y", start)
    assert page.evaluate(SETTLED) == before
    assert page.watch.console_errors == []


TARGET_BOXES = """(root) => [...root.querySelectorAll(
        'button, select, textarea, summary, input:not([type=hidden])')]
    .filter((control) => control.getClientRects().length && getComputedStyle(control).visibility !== 'hidden')
    .map((control) => {
        // A radio or checkbox is pressed through the label around it.
        const target = ['radio', 'checkbox'].includes(control.type) ? control.closest('label') ?? control : control;
        const box = target.getBoundingClientRect();
        const name = control.getAttribute('aria-label') || control.labels?.[0]?.textContent.trim()
            || control.textContent.trim() || control.name || control.outerHTML.slice(0, 60);
        return { name, width: box.width, height: box.height };
    })"""


@pytest.mark.parametrize("path", ["/", "/embed/race", "/embed/label", "/embed/digits"])
def test_every_control_is_at_least_44_css_px_each_way_on_a_touch_screen(touch_page, path):
    page = touch_page
    page.goto(path)
    if path == "/":
        mount_every_widget(page)
        page.locator("details.embed-share summary").first.tap()  # the Embed panel's copy buttons too
        expect(page.locator("details.embed-share").first).to_have_attribute("data-ready", "true")
    else:
        expect(page.locator("[data-widget]")).to_have_attribute("data-ready", "true")
    controls = page.locator("main").evaluate(TARGET_BOXES)
    assert len(controls) >= (40 if path == "/" else 5)
    small = [c for c in controls if c["width"] < MIN_TARGET - 0.5 or c["height"] < MIN_TARGET - 0.5]
    assert small == [], small
