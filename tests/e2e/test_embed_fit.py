"""The Embed button's frame fits its widget wherever a course page shows it: the height in the plain
<iframe> snippet (and in the oEmbed answer) is at least the embed page's own height at every width
from a small phone to the frame's full width, with touch-sized controls and with a mouse's."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from app.web.widget_settings import EMBED_WIDTH, MIN_EMBED_WIDTH, WIDGETS

# A small phone's page is 320 px wide; below 640 px the figures stack, so the tallest width is one of
# the narrow ones; 800 px is the frame's full width.
WIDTHS = (MIN_EMBED_WIDTH, 375, 414, 480, 639, EMBED_WIDTH)
BODY_HEIGHT = "() => Math.ceil(document.body.getBoundingClientRect().height)"
# What the measured height leaves out: the race's longest sentences (a tie's), a settings hint, an
# error, a reconnecting notice. The snippet's height may exceed the measurement by this, not more.
SPARE = 0.12


def tallest_state(page, slug: str) -> int:
    """The embed page's height once the widget shows the most it will (a point classified, steps
    taken, every moment of the step animation visited)."""
    figure = page.locator(f'[data-widget="{slug}"]')
    expect(figure).to_have_attribute("data-ready", "true")
    height = 0
    if slug == "race":
        figure.get_by_role("button", name="Step").click()
        expect(figure).to_have_attribute("data-step", "1")
        figure.evaluate("race => race.raceDebug.choose(0, 0)")
        expect(figure.locator("[data-ref=bp-decision]")).to_be_visible()
    elif slug == "digits":  # its answer table filled: a held-out digit read by the ready network
        expect(figure).to_have_attribute("data-loaded", "true")
        figure.locator(".strip-digit").first.click()
        expect(figure).to_have_attribute("data-ff-label", re.compile(r"\d"))
    elif slug == "goodness":
        figure.get_by_role("button", name="10 steps").click()
        expect(figure).to_have_attribute("data-step", "10")
    else:
        expect(figure).to_have_attribute("data-loaded", "true")
    if slug == "steps":  # its status sentences differ in length from moment to moment
        step = figure.get_by_role("button", name="Step", exact=True)
        for moment in range(1, int(figure.get_attribute("data-ticks")) + 1):
            step.click()
            expect(figure).to_have_attribute("data-tick", str(moment))
            height = max(height, page.evaluate(BODY_HEIGHT))
    return max(height, page.evaluate(BODY_HEIGHT))


@pytest.fixture(scope="module")
def embed_heights(browser, live_server):
    """{slug: {(width, touch): height}} for every widget, width and kind of pointer."""
    heights = {slug: {} for slug in WIDGETS}
    for width in WIDTHS:
        for touch in (False, True):
            context = browser.new_context(
                base_url=live_server,
                viewport={"width": width, "height": 800},
                has_touch=touch,
                is_mobile=touch,
                reduced_motion="reduce",
            )
            page = context.new_page()
            try:
                for slug in WIDGETS:
                    page.goto(f"/embed/{slug}")
                    heights[slug][(width, touch)] = tallest_state(page, slug)
                    assert page.evaluate("document.documentElement.scrollWidth") <= width, (slug, width)
            finally:
                context.close()
    return heights


@pytest.mark.parametrize("slug", list(WIDGETS))
def test_the_snippet_height_fits_the_widget_from_a_small_phone_to_full_width(embed_heights, slug):
    measured = embed_heights[slug]
    tallest = max(measured.values())
    widget = WIDGETS[slug]
    report = f"{slug}: height {widget.height}, measured {sorted(measured.items())}"
    assert tallest <= widget.height, report
    assert widget.height <= tallest * (1 + SPARE), f"more spare than needed: {report}"
    # The full-width figure the README quotes, for a course read only on wide screens.
    wide = max(measured[(EMBED_WIDTH, touch)] for touch in (False, True))
    assert wide <= widget.wide_height <= wide * (1 + SPARE), report
