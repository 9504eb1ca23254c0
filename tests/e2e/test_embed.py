"""Widgets embedded in a course page on another origin, as a teacher would do it: they load, size
themselves, train inside their frames, and are refused by hosts the framing setting leaves out.
Also the article's side of sharing: Embed snippets, copy, and settings carried in the URL."""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from app.web.widget_settings import WIDGETS
from tests.e2e.conftest import ARTIFACTS, start_server, stop_server

RACE_TIMEOUT_MS = 90_000


def frame_of(page, selector: str):
    return page.locator(selector).element_handle().content_frame()


def wait_until_sized(page, selector: str, timeout_s: float = 30) -> int:
    """Poll (with a deadline) until the iframe is exactly as tall as the page inside it reports."""
    deadline = time.monotonic() + timeout_s
    last = None
    # Chromium throttles rendering (ResizeObserver included) in cross-origin frames far from the
    # viewport; a reader scrolling to the frame lifts it, and so does this.
    page.locator(selector).scroll_into_view_if_needed()
    while time.monotonic() < deadline:
        frame = frame_of(page, selector)
        if frame is not None:
            inner = frame.evaluate(
                "() => [Number(document.documentElement.dataset.reportedHeight || 0),"
                " Math.ceil(document.body.getBoundingClientRect().height)]"
            )
            outer = page.locator(selector).evaluate("el => el.getBoundingClientRect().height")
            last = (inner, outer)
            if inner[0] > 0 and inner[0] == inner[1] and math.isclose(outer, inner[0], abs_tol=0.5):
                return inner[0]
        page.wait_for_timeout(100)  # a polling interval, not synchronisation: the loop checks the state
    raise AssertionError(f"{selector} never matched its content's height: (reported, content), frame = {last}")


def screenshot_whole_page(page, path: Path) -> None:
    """A full-page screenshot that shows every frame: Chromium paints an out-of-process frame only
    near the viewport, so the viewport is made as tall as the page (same width, same layout)."""
    size = page.viewport_size
    height = page.evaluate("() => document.documentElement.scrollHeight")
    page.set_viewport_size({"width": size["width"], "height": height})
    page.screenshot(path=str(path))
    page.set_viewport_size(size)


def course_page_body(app: str) -> str:
    return f"""
<main>
  <h1>Week 3: learning without backprop</h1>
  <p>Before the lecture, press Train and watch both networks learn.</p>
  <script src="{app}/static/embed.js" defer></script>
  <ff-widget name="race" seed="3" speed="50" autoplay="1" controls="train,pause,reset"></ff-widget>
  <p>Then try the goodness layer: ten positive steps, then ten negative ones.</p>
  <iframe id="goodness-frame" src="{app}/embed/goodness?theta=3" title="Goodness layer"
          width="100%" height="200" style="border:0"></iframe>
</main>"""


def test_a_course_page_on_another_origin_embeds_two_widgets(browser, live_server, course_site):
    site = course_site()
    url = site.publish("week3.html", course_page_body(live_server))
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    problems, hosts = [], set()
    page.on("console", lambda m: m.type == "error" and problems.append(m.text))
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("request", lambda r: hosts.add(r.url.split("/")[2]))
    try:
        page.goto(url)
        race_selector, goodness_selector = "ff-widget iframe", "#goodness-frame"
        # The race: inserted by <ff-widget>, sized to its content, and it trains to the end by itself.
        expect(page.locator(race_selector)).to_have_attribute(
            "src", f"{live_server}/embed/race?seed=3&speed=50&autoplay=1&controls=train%2Cpause%2Creset"
        )
        race = page.frame_locator(race_selector)
        expect(race.locator("[data-widget=race]")).to_have_attribute("data-ready", "true")
        trained = race.locator("[data-ref=step]").filter(has_text="step 900 / 900")
        try:
            trained.wait_for(timeout=RACE_TIMEOUT_MS)
        except Exception as error:  # say where it stopped: phase, step, connection, status line
            root = race.locator("[data-widget=race]")
            state = [root.get_attribute(name) for name in ("data-phase", "data-step", "data-connection")]
            raise AssertionError(
                f"the race stopped at {state}: {race.locator('[data-ref=status]').inner_text()!r}"
            ) from error
        expect(race.locator("#race-seed")).to_have_value("3")
        expect(race.locator("[data-action=step]")).to_be_hidden()  # controls=train,pause,reset
        expect(race.locator("[data-action=train]")).to_be_visible()
        race_height = wait_until_sized(page, race_selector)
        assert race_height != 480  # <ff-widget>'s first guess

        # The goodness layer: a plain iframe, resized by embed.js from 200 px to its content.
        page.locator(goodness_selector).scroll_into_view_if_needed()
        goodness = page.frame_locator(goodness_selector)
        expect(goodness.locator("[data-widget=goodness]")).to_have_attribute("data-theta", "3")
        goodness.locator("[data-action=step-10]").click()
        expect(goodness.locator("[data-widget=goodness]")).to_have_attribute("data-step", "10")
        assert wait_until_sized(page, goodness_selector) > 200
        screenshot_whole_page(page, ARTIFACTS / "embed-course-1280.png")

        # On a phone the widgets reflow taller, and the frames follow.
        page.set_viewport_size({"width": 375, "height": 812})
        phone_height = wait_until_sized(page, race_selector)
        assert phone_height > race_height
        wait_until_sized(page, goodness_selector)
        screenshot_whole_page(page, ARTIFACTS / "embed-course-375.png")
        assert page.evaluate("() => document.documentElement.scrollWidth") <= 375

        assert problems == []
        course_host, app_host = site.origin.split("/")[2], live_server.split("/")[2]
        assert hosts <= {course_host, app_host}, f"requests left the two servers: {hosts}"
    finally:
        context.close()


def test_embed_js_passes_settings_through_and_the_server_names_an_unknown_widget(browser, live_server, course_site):
    """embed.js keeps no copy of the widget names or settings: every attribute that is not the
    element's own (name, title, height, class, id, style, data-*, aria-*...) goes to the query, and
    the server, which owns the names, answers an unknown one inside the frame."""
    site = course_site()
    body = f"""
<script src="{live_server}/static/embed.js" defer></script>
<ff-widget id="known" class="wide" data-note="x" aria-label="a race" name="race" dataset="spiral" seed="4"
           title="The race" height="300"></ff-widget>
<ff-widget id="unknown" name="no-such-widget"></ff-widget>"""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        page.goto(site.publish("embeds.html", body))
        known = page.locator("#known iframe")
        expect(known).to_have_attribute("src", f"{live_server}/embed/race?dataset=spiral&seed=4")
        expect(known).to_have_attribute("title", "The race")
        unknown = page.frame_locator("#unknown iframe")
        message = unknown.locator("body")
        expect(message).to_contain_text("no-such-widget")
        for slug in WIDGETS:  # the server's list, not a copy in embed.js
            expect(message).to_contain_text(slug)
    finally:
        context.close()


@pytest.fixture
def narrow_server(course_site):
    """The app allowing exactly one course site to frame its widgets."""
    allowed = course_site()
    process, base_url = start_server({"FF_EMBED_FRAME_ANCESTORS": allowed.origin})
    yield base_url, allowed
    stop_server(process)


def test_a_host_the_frame_ancestors_setting_excludes_is_refused(browser, narrow_server, course_site):
    app, allowed = narrow_server
    other = course_site()
    body = f'<main><h1>Course</h1><iframe id="w" src="{app}/embed/label" title="Label figure"></iframe></main>'
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        # The site the setting names gets the widget...
        page.goto(allowed.publish("ok.html", body))
        expect(page.frame_locator("#w").locator("[data-widget=label]")).to_have_attribute("data-loaded", "true")
        # ...any other is refused by the browser, which reports the CSP frame-ancestors violation.
        with page.expect_console_message(lambda m: "frame-ancestors" in m.text) as refusal:
            page.goto(other.publish("refused.html", body))
        assert allowed.origin in refusal.value.text
        frame = frame_of(page, "#w")
        assert frame.url.startswith("chrome-error://") or frame.evaluate(
            "() => document.querySelector('[data-widget]') === null"
        )
    finally:
        context.close()


def mounted(page, slug: str):
    figure = page.locator(f'[data-widget="{slug}"]')
    expect(figure).to_have_attribute("data-ready", "true")
    if slug in ("steps", "normalization", "label"):
        expect(figure).to_have_attribute("data-loaded", "true")
    else:  # race: the untrained nets arrived over the socket; goodness: the server's first state
        expect(figure).to_have_attribute("data-step", "0")
    return figure


@pytest.mark.parametrize("slug", list(WIDGETS))
def test_each_embed_page_is_accessible_quiet_and_self_contained(page, slug):
    page.goto(f"/embed/{slug}")
    mounted(page, slug)
    results = Axe().run(page)
    assert results.violations_count == 0, results.generate_report()
    assert page.watch.console_errors == []
    assert page.watch.foreign_requests == []
    # Nothing fights auto-height: nothing hangs below the body whose height the frame reports.
    assert page.evaluate(
        "() => document.documentElement.scrollHeight === Math.max(innerHeight,"
        " Math.ceil(document.body.getBoundingClientRect().height))"
    )


def test_embed_controls_and_autoplay_follow_the_query(page):
    page.goto("/embed/steps?controls=none")
    figure = mounted(page, "steps")
    expect(figure).to_have_attribute("data-playing", "false")  # autoplay is off by default
    for control in WIDGETS["steps"].controls:
        expect(figure.locator(f'[data-embed-control="{control}"]')).to_be_hidden()
    page.goto("/embed/steps?autoplay=1&controls=play,restart")
    figure = mounted(page, "steps")
    expect(figure).to_have_attribute("data-playing", "true")
    expect(figure.locator('[data-embed-control="play"]')).to_be_visible()
    expect(figure.locator('[data-embed-control="speed"]')).to_be_hidden()


def test_a_bad_embed_query_shows_its_message_in_the_frame(page):
    response = page.goto("/embed/race?theta=99")
    assert response.status == 400
    expect(page.get_by_role("heading", level=1)).to_have_text("This widget can't be shown")
    expect(page.locator(".embed-problems")).to_contain_text("theta must be a number in [0.05, 50.0]")
    # Chromium logs the 400 itself; nothing else may go wrong on the page.
    assert all("status of 400" in error for error in page.watch.console_errors), page.watch.console_errors


def test_the_article_link_reproduces_a_run_and_its_embed_snippet_carries_it(browser, live_server):
    context = browser.new_context(base_url=live_server, viewport={"width": 1280, "height": 900})
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    page = context.new_page()
    try:
        page.goto("/?dataset=spiral&seed=3#race")
        race = mounted(page, "race")
        expect(race.locator("#race-dataset")).to_have_value("spiral")
        expect(race.locator("#race-seed")).to_have_value("3")

        # The Embed disclosure: keyboard-operable, focus goes to the code, which has the run's settings.
        share = race.locator("details.embed-share")
        share.locator("summary").focus()
        page.keyboard.press("Enter")
        expect(share).to_have_attribute("data-ready", "true")
        code = share.get_by_label("Frame: works in Moodle, Canvas and any HTML page")
        expect(code).to_be_focused()
        expected_src = (
            f"{live_server}/embed/race?dataset=spiral&amp;seed=3&amp;theta=2&amp;learning_rate=0.03&amp;steps=900"
        )
        assert code.input_value().startswith(f'<iframe src="{expected_src}"')
        element_code = share.get_by_label("Or the script and element, which size the frame to fit")
        assert '<ff-widget name="race" dataset="spiral" seed="3"' in element_code.input_value()
        assert f'src="{live_server}/static/embed.js"' in element_code.input_value()
        share.get_by_role("button", name="Copy frame code").click()
        expect(share.get_by_role("status")).to_have_text("Copied to the clipboard.")
        assert page.evaluate("() => navigator.clipboard.readText()") == code.input_value()
        page.keyboard.press("Escape")
        expect(share).not_to_have_attribute("open", "")
        expect(share.locator("summary")).to_be_focused()

        # Changing the run updates the address; opening that address reproduces it.
        race.locator("#race-seed").fill("5")
        race.get_by_role("button", name="Train").click()
        page.wait_for_function("() => new URL(location.href).searchParams.get('seed') === '5'")
        assert page.url.endswith("#race") and "dataset=spiral" in page.url
        link = page.url
        page.goto("about:blank")  # a fresh document: going to the same URL would only scroll
        page.goto(link)
        race = mounted(page, "race")
        expect(race.locator("#race-seed")).to_have_value("5")
        expect(race.locator("#race-dataset")).to_have_value("spiral")
    finally:
        context.close()


def test_every_article_widget_offers_an_embed_snippet(page):
    page.goto("/")
    for slug in WIDGETS:
        figure = page.locator(f'[data-widget="{slug}"]')
        figure.scroll_into_view_if_needed()
        share = figure.locator("details.embed-share")
        share.locator("summary").click()
        expect(share).to_have_attribute("data-ready", "true")
        assert f"/embed/{slug}" in share.locator("textarea").first.input_value()
    assert page.watch.console_errors == []
