"""The article page as a whole: it loads, every figure starts, nothing is fetched from elsewhere."""

from __future__ import annotations

from playwright.sync_api import expect


def test_the_page_loads_every_widget_with_no_console_error_and_no_foreign_request(page):
    response = page.goto("/")
    assert response is not None and response.ok
    widgets = page.locator("[data-widget]")
    assert widgets.count() >= 1
    # Widgets start when scrolled into view, so visit each one as a reader scrolling down would.
    for index in range(widgets.count()):
        widget = widgets.nth(index)
        widget.scroll_into_view_if_needed()
        expect(widget).to_have_attribute("data-ready", "true")
    # The race has talked to the server over its socket and drawn the untrained nets.
    expect(page.locator("[data-widget=race]")).to_have_attribute("data-step", "0")
    page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
    assert page.watch.console_errors == []
    assert page.watch.foreign_requests == []


def test_the_page_fits_a_phone_without_sideways_scrolling(phone_page):
    phone_page.goto("/")
    race = phone_page.locator("[data-widget=race]")
    race.scroll_into_view_if_needed()
    expect(race).to_have_attribute("data-step", "0")
    assert phone_page.evaluate("document.documentElement.scrollWidth") <= 375
    assert phone_page.watch.console_errors == []
