"""Safe first presses: a press made while a widget is still loading is never lost and never reloads
the page. Before the scripts run the buttons are disabled and say "Loading…"; from then on a press
is held until the widget is ready and then carried out, on a slow phone connection and inside a
course page's frame alike."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from app.web.widget_settings import WIDGETS

RACE = "[data-widget=race]"
RACE_MODULE = "**/js/widgets/race.js"
# A phone on a slow mobile connection: 150 ms each way, about 1.6 Mbit/s down, 750 kbit/s up.
SLOW_PHONE_NETWORK = {
    "offline": False,
    "latency": 150,
    "downloadThroughput": 1_600_000 / 8,
    "uploadThroughput": 750_000 / 8,
}


def throttle(page) -> None:
    session = page.context.new_cdp_session(page)
    session.send("Network.enable")
    session.send("Network.emulateNetworkConditions", SLOW_PHONE_NETWORK)


class Held:
    """Requests matching `pattern` are held until release(): a module or data "still loading" for
    exactly as long as the test needs, whatever the machine's speed."""

    def __init__(self, page, pattern: str) -> None:
        self.routes = []
        page.route(pattern, lambda route: self.routes.append(route))

    def release(self) -> None:
        for route in self.routes:
            route.continue_()
        self.routes.clear()


def navigations(page, frame_name: str | None = None) -> list[str]:
    """Every navigation of the page's main frame (or of the frame called `frame_name`): a reload
    or a submitted form would add one."""
    seen = []
    page.on(
        "framenavigated",
        lambda frame: (
            seen.append(frame.url)
            if (frame == page.main_frame if frame_name is None else frame.name == frame_name)
            else None
        ),
    )
    return seen


def slow_phone(browser, live_server):
    context = browser.new_context(
        viewport={"width": 375, "height": 812}, base_url=live_server, has_touch=True, is_mobile=True
    )
    page = context.new_page()
    throttle(page)
    return context, page


def test_train_tapped_the_moment_the_race_comes_into_view_on_a_slow_phone_trains_without_reload(browser, live_server):
    context, page = slow_phone(browser, live_server)
    try:
        visits = navigations(page)
        module = Held(page, RACE_MODULE)
        page.goto("/", wait_until="domcontentloaded")
        race = page.locator(RACE)
        with page.expect_request(RACE_MODULE):
            race.get_by_role("button", name="Train").scroll_into_view_if_needed()
        # The race has just come into view and its module is on its way: the reader taps at once.
        race.get_by_role("button", name="Train").tap()
        expect(race).to_have_attribute("data-ready", "loading")
        expect(race.locator("[data-loading-note]")).to_contain_text("“Train” will happen as soon as")
        module.release()
        expect(race).to_have_attribute("data-ready", "true", timeout=30_000)
        expect(race).to_have_attribute("data-phase", re.compile(r"running|finished"), timeout=30_000)
        expect(race).to_have_attribute("data-step", re.compile(r"^[1-9][0-9]*$"), timeout=30_000)
        expect(race.locator("[data-loading-note]")).to_be_hidden()
        assert len(visits) == 1 and "?" not in page.url, visits  # no reload, no settings in the address
    finally:
        context.close()


def test_train_tapped_inside_a_course_pages_frame_while_it_loads_trains_without_reload(
    browser, live_server, course_site
):
    site = course_site()
    url = site.publish(
        "race.html",
        f"""<main><h1>Week 3</h1>
        <iframe name="race" src="{live_server}/embed/race" title="The race" width="800"
                height="{WIDGETS["race"].height}" style="border:0;max-width:100%"></iframe></main>""",
    )
    context, page = slow_phone(browser, live_server)
    try:
        visits = navigations(page, frame_name="race")
        module = Held(page, RACE_MODULE)
        with page.expect_request(RACE_MODULE):
            page.goto(url, wait_until="domcontentloaded")
        frame = page.frame_locator("iframe[name=race]")
        race = frame.locator(RACE)
        race.get_by_role("button", name="Train").tap()
        expect(race.locator("[data-loading-note]")).to_contain_text("“Train” will happen")
        module.release()
        expect(race).to_have_attribute("data-phase", re.compile(r"running|finished"), timeout=30_000)
        expect(race).to_have_attribute("data-step", re.compile(r"^[1-9][0-9]*$"), timeout=30_000)
        assert len(visits) == 1 and "?" not in visits[0], visits  # the frame never reloaded
    finally:
        context.close()


def test_before_the_scripts_run_the_buttons_say_loading_and_no_press_or_enter_reloads(page):
    visits = navigations(page)
    main_module = Held(page, "**/js/main.js")
    # Module scripts run before DOMContentLoaded, so the page is only "committed" while main.js is held.
    page.goto("/embed/race", wait_until="commit")
    race = page.locator(RACE)
    train = race.get_by_role("button", name="Train")
    expect(race.get_by_label("Seed")).to_be_visible()  # the page has rendered, and waits for main.js
    expect(train).to_be_disabled()
    expect(race.locator("[data-loading-note]")).to_have_text("Loading the race…")
    train.click(force=True)  # refused, visibly: a disabled button does nothing
    race.get_by_label("Seed").press("Enter")  # and there is no form for Enter to submit
    main_module.release()
    expect(train).to_be_enabled()
    expect(race).to_have_attribute("data-ready", "true")
    expect(race).to_have_attribute("data-phase", "paused")  # the untrained race, waiting for Train
    assert len(visits) == 1 and "?" not in page.url, visits
    assert page.watch.console_errors == []


# Each widget's press, made while the widget still loads (its module, or the data it needs), and
# what shows it was carried out once the widget was ready.
HELD_PRESSES = [
    ("goodness", "**/js/widgets/goodness.js", "10 steps", "data-step", "10"),
    ("steps", "**/api/trace?*", "Step", "data-tick", "1"),
    ("normalization", "**/js/widgets/normalization.js", "Longer", "data-goodness", re.compile(r"^3\.25")),
    # The live digits race: Train pressed while its module loads starts the run once it is ready.
    ("digits", "**/js/widgets/digits.js", "Train", "data-phase", "running"),
]


@pytest.mark.parametrize("slug, pattern, button, attribute, value", HELD_PRESSES)
def test_a_press_on_any_widget_while_it_loads_is_carried_out_when_it_is_ready(
    browser, live_server, slug, pattern, button, attribute, value
):
    # Reduced motion: the step animation doesn't play by itself, so its one step is the press's.
    context = browser.new_context(base_url=live_server, reduced_motion="reduce")
    page = context.new_page()
    try:
        held = Held(page, pattern)
        page.goto("/")
        figure = page.locator(f'[data-widget="{slug}"]')
        with page.expect_request(pattern):
            figure.scroll_into_view_if_needed()
        figure.get_by_role("button", name=button, exact=True).click()
        expect(figure.locator("[data-loading-note]")).to_contain_text(f"“{button}” will happen")
        held.release()
        expect(figure).to_have_attribute("data-ready", "true")
        expect(figure).to_have_attribute(attribute, value)
    finally:
        context.close()
