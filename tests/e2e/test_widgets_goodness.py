"""The goodness layer: the engine's 8-unit layer, driven by the reader through POST /api/goodness."""

import math

from playwright.sync_api import expect

GOODNESS = '[data-widget="goodness"]'


def open_goodness(page):
    page.goto("/")
    figure = page.locator(GOODNESS)
    figure.scroll_into_view_if_needed()
    expect(figure).to_have_attribute("data-step", "0")
    return figure


def reading(figure):
    return figure.evaluate(
        "f => ({step: +f.dataset.step, goodness: +f.dataset.goodness,"
        " probability: +f.dataset.probability, pressure: +f.dataset.pressure,"
        " verdict: f.dataset.verdict})"
    )


def test_ten_positive_steps_raise_sigma_and_lower_the_pressure(page):
    figure = open_goodness(page)
    before = reading(figure)
    figure.get_by_label("positive (real)").check()
    figure.locator('[data-action="step-10"]').click()
    expect(figure).to_have_attribute("data-step", "10")
    after = reading(figure)
    assert after["goodness"] > before["goodness"]
    assert after["probability"] > before["probability"]
    assert after["pressure"] < before["pressure"]
    # What the reader sees agrees with the state.
    expect(figure.locator(".readout-probability")).to_have_text(f"{after['probability']:.3f}")
    expect(figure.locator(".readout-verdict")).to_contain_text(after["verdict"])
    assert page.watch.console_errors == []


def test_negative_steps_lower_goodness_and_the_verdict_follows(page):
    figure = open_goodness(page)
    figure.locator('[data-action="step-10"]').click()
    figure.locator('[data-action="step-10"]').click()
    expect(figure).to_have_attribute("data-step", "20")
    confident = reading(figure)
    figure.get_by_label("negative (fake)").check()
    for expected in (21, 22, 23):
        figure.locator('[data-action="step-1"]').click()
        expect(figure).to_have_attribute("data-step", str(expected))
    figure.locator('[data-action="step-10"]').click()
    expect(figure).to_have_attribute("data-step", "33")
    pushed_down = reading(figure)
    assert pushed_down["goodness"] < confident["goodness"]
    assert pushed_down["probability"] < confident["probability"]
    expect(figure).to_have_attribute("data-target", "negative")
    # The bars' text alternative follows the state.
    label = figure.locator(".goodness-bars").get_attribute("aria-label")
    assert "after 33 steps" in label and pushed_down["verdict"] in label


def test_theta_replays_the_history_and_reset_starts_over(page):
    figure = open_goodness(page)
    figure.locator('[data-action="step-10"]').click()
    expect(figure).to_have_attribute("data-step", "10")
    at_theta_2 = reading(figure)
    theta = figure.locator('[data-control="theta"]')
    theta.focus()
    for _ in range(4):
        page.keyboard.press("ArrowRight")  # 2.0 -> 4.0 in steps of 0.5
    expect(figure.locator(".theta-value")).to_have_text("4.0")
    # The same actions are replayed against the new threshold: still 10 steps, and what the
    # widget shows is sigma(G - theta) for theta = 4.
    expect(figure).to_have_attribute("data-theta", "4")
    expect(figure).to_have_attribute("data-step", "10")
    replayed = reading(figure)
    assert abs(replayed["probability"] - 1 / (1 + math.exp(-(replayed["goodness"] - 4.0)))) < 1e-9
    assert replayed["goodness"] != at_theta_2["goodness"]
    assert "threshold 4" in figure.locator(".goodness-bars").get_attribute("aria-label")
    figure.locator('[data-action="reset"]').click()
    expect(figure).to_have_attribute("data-step", "0")
