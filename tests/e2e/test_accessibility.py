"""Accessibility of the article: axe-core finds nothing, every control works from the keyboard with
a visible focus, canvases describe their state, animations respect the reader and the viewport."""

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from .widgets import mount_every_widget


def test_axe_finds_no_violations_on_the_article(browser, live_server):
    context = browser.new_context(
        base_url=live_server, viewport={"width": 1280, "height": 900}, reduced_motion="reduce"
    )
    page = context.new_page()
    try:
        page.goto("/")
        mount_every_widget(page)
        results = Axe().run(page)
        assert results.violations_count == 0, results.generate_report()
    finally:
        context.close()


def test_axe_finds_no_violations_at_phone_width(phone_page):
    phone_page.goto("/")
    mount_every_widget(phone_page)
    results = Axe().run(phone_page)
    assert results.violations_count == 0, results.generate_report()


def test_axe_finds_no_violations_on_a_touch_screen(touch_page):
    # A coarse pointer switches on the larger touch targets (the CSS's pointer: coarse rules).
    touch_page.goto("/")
    assert touch_page.evaluate("matchMedia('(pointer: coarse)').matches")
    mount_every_widget(touch_page)
    results = Axe().run(touch_page)
    assert results.violations_count == 0, results.generate_report()


def focus_by_tab(page, locator, limit=400):
    """Press Tab until `locator` has focus: proves it is in the tab order."""
    for _ in range(limit):
        if locator.evaluate("el => el === document.activeElement"):
            return
        page.keyboard.press("Tab")
    raise AssertionError("never reached by Tab")


def has_visible_focus(locator):
    return locator.evaluate(
        "el => el.matches(':focus-visible') && getComputedStyle(el).outlineStyle !== 'none'"
        " && parseFloat(getComputedStyle(el).outlineWidth) >= 2"
    )


def test_keyboard_alone_drives_every_article_widget(browser, live_server):
    context = browser.new_context(base_url=live_server, reduced_motion="reduce")
    page = context.new_page()
    try:
        page.goto("/")
        mount_every_widget(page)
        page.locator("h1").click()  # start tabbing from the top

        steps = page.locator('[data-widget="steps"]')
        step_button = steps.locator('[data-action="step"]')
        focus_by_tab(page, step_button)
        assert has_visible_focus(step_button)
        canvas = steps.locator('.steps-pane[data-algorithm="backprop"] canvas')
        before = canvas.get_attribute("aria-label")
        page.keyboard.press("Enter")
        expect(steps).to_have_attribute("data-tick", "1")
        page.keyboard.press("Space")
        expect(steps).to_have_attribute("data-tick", "2")
        assert canvas.get_attribute("aria-label") != before

        goodness = page.locator('[data-widget="goodness"]')
        ten = goodness.locator('[data-action="step-10"]')
        focus_by_tab(page, ten)
        assert has_visible_focus(ten)
        page.keyboard.press("Enter")
        expect(goodness).to_have_attribute("data-step", "10")
        theta = goodness.locator('[data-control="theta"]')
        focus_by_tab(page, theta)
        page.keyboard.press("End")
        # The slider's range is the engine's GOODNESS_THETA_RANGE, so its top is a theta the server accepts.
        expect(goodness.locator(".theta-value")).to_have_text("10.0")
        expect(theta).to_have_attribute("aria-valuetext", "theta 10.0")

        plane = page.locator(".normalization-plane")
        focus_by_tab(page, plane)
        assert has_visible_focus(plane)
        label = plane.get_attribute("aria-label")
        page.keyboard.press("ArrowUp")
        assert plane.get_attribute("aria-label") != label
        expect(page.locator("#normalization-description")).to_contain_text("goodness")

        labels = page.locator('[data-widget="label"]')
        radio = labels.locator('input[name="negative-label"]:checked')
        focus_by_tab(page, radio)
        page.keyboard.press("ArrowRight")
        expect(labels).to_have_attribute("data-negative-label", "4")
        expect(page.locator("#label-text-negative")).to_contain_text("“4”")
    finally:
        context.close()


def test_animation_pauses_when_scrolled_out_of_view(page):
    page.goto("/")
    steps = page.locator('[data-widget="steps"]')
    steps.scroll_into_view_if_needed()
    expect(steps).to_have_attribute("data-loaded", "true")
    steps.locator('[data-control="speed"]').fill("4")
    expect(steps).to_have_attribute("data-playing", "true")  # autoplay without reduced motion
    page.locator("#references-title").scroll_into_view_if_needed()
    expect(steps).to_have_attribute("data-visible", "false")
    # Let 30 animation frames pass: a running clock at 4x would advance several moments.
    frozen = steps.get_attribute("data-tick")
    page.evaluate("""() => new Promise((done) => {
        let frames = 0;
        const tick = () => (++frames >= 30 ? done() : requestAnimationFrame(tick));
        requestAnimationFrame(tick);
    })""")
    assert steps.get_attribute("data-tick") == frozen
    steps.scroll_into_view_if_needed()
    expect(steps).to_have_attribute("data-visible", "true")
    expect(steps).not_to_have_attribute("data-tick", frozen)
