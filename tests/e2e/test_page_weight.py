"""Page weight and laziness: what loads before the first interaction stays under 200 KB, nothing
comes from another site, and each widget's module is fetched only when it scrolls into view."""

from playwright.sync_api import expect

BUDGET_BYTES = 200 * 1024
LAZY_WIDGETS = ("steps", "goodness", "normalization", "label", "digits")


def load_without_scrolling(page):
    loaded = []  # (url, uncompressed body bytes)
    page.on(
        "requestfinished",
        lambda request: loaded.append((request.url, len(request.response().body()) if request.response() else 0)),
    )
    page.goto("/", wait_until="networkidle")
    return loaded


def test_everything_loaded_before_the_first_interaction_fits_the_budget(page):
    loaded = load_without_scrolling(page)
    total = sum(size for _, size in loaded)
    report = "\n".join(f"{size:>8} {url}" for url, size in sorted(loaded, key=lambda item: -item[1]))
    assert total <= BUDGET_BYTES, f"{total} bytes loaded before any interaction:\n{report}"
    assert any(url.endswith("/") for url, _ in loaded)
    assert page.watch.foreign_requests == []
    assert page.watch.console_errors == []


def test_each_widget_module_is_requested_only_when_scrolled_to(page):
    loaded = load_without_scrolling(page)
    urls = [url for url, _ in loaded]
    for name in LAZY_WIDGETS:
        assert not any(f"/widgets/{name}.js" in url for url in urls), f"{name}.js loaded before scrolling"
    for name in LAZY_WIDGETS:
        figure = page.locator(f'[data-widget="{name}"]')
        with page.expect_request(lambda request, name=name: f"/widgets/{name}.js" in request.url):
            figure.scroll_into_view_if_needed()
        expect(figure).to_have_attribute("data-ready", "true")
    # The digits are data for one figure: they too wait for it.
    assert not any("digits.json" in url for url in urls)
    assert page.watch.foreign_requests == []
    assert page.watch.console_errors == []
