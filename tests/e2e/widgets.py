"""Helpers shared by the article's browser tests: bring every widget on the page to life."""

from playwright.sync_api import expect

WIDGETS = ("steps", "goodness", "normalization", "label", "race", "digits")


def mount_every_widget(page):
    """Scroll each widget into view (they mount lazily) and wait until each has its data."""
    for name in WIDGETS:
        figure = page.locator(f'[data-widget="{name}"]')
        figure.scroll_into_view_if_needed()
        expect(figure).to_have_attribute("data-ready", "true")
    for name in ("steps", "normalization", "label", "digits"):
        expect(page.locator(f'[data-widget="{name}"]')).to_have_attribute("data-loaded", "true")
    expect(page.locator('[data-widget="goodness"]')).to_have_attribute("data-step", "0")
