"""The digits figure in Chromium: draw with the mouse, choose a held-out digit with the keyboard,
the live run on real digits (train, its own nets reading a digit, a dropped socket restored)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from app.engine.digits_ready import ready_run
from app.web.digits_live import sample_data

from .test_accessibility import focus_by_tab, has_visible_focus
from .test_phone import SETTLED, Finger, centre


def open_figure(page):
    page.goto("/#digits")
    figure = page.locator('[data-widget="digits"]')
    figure.scroll_into_view_if_needed()
    expect(figure).to_have_attribute("data-ready", "true")
    expect(figure).to_have_attribute("data-loaded", "true")
    return figure


def draw(page, figure, points):
    pad = figure.locator('[data-ref="pad"]')
    pad.scroll_into_view_if_needed()
    box = pad.bounding_box()
    x, y, side = box["x"], box["y"], box["width"]
    page.mouse.move(x + points[0][0] * side, y + points[0][1] * side)
    page.mouse.down()
    for px, py in points[1:]:
        page.mouse.move(x + px * side, y + py * side, steps=4)
    page.mouse.up()


def rows(figure):
    return figure.locator('[data-ref="answer"] tbody tr')


def test_a_stroke_drawn_with_the_mouse_gets_ten_labels_goodness_before_any_training(page):
    figure = open_figure(page)
    draw(page, figure, [(0.5, 0.1), (0.52, 0.5), (0.5, 0.9)])
    expect(figure).to_have_attribute("data-ff-label", re.compile(r"^\d$"))
    expect(rows(figure)).to_have_count(10)
    assert figure.get_attribute("data-answer-source") == "ready"
    assert figure.get_attribute("data-step") == "0"  # nothing trained: the ready network answered
    totals = [float(rows(figure).nth(i).get_attribute("data-total")) for i in range(10)]
    winner = int(figure.get_attribute("data-ff-label"))
    assert totals[winner] == max(totals)
    expect(rows(figure).nth(winner)).to_have_class(re.compile("winner"))
    expect(figure.locator('[data-ref="answer-text"]')).to_contain_text(f"Forward-Forward reads {winner}")
    assert figure.locator('[data-ref="answer"] tbody tr').nth(0).locator(".bar").count() == 4
    assert page.watch.console_errors == []


def test_a_held_out_digit_chosen_with_the_keyboard_gets_the_engines_answer(page):
    figure = open_figure(page)
    button = figure.locator(".strip-digit").nth(5)
    page.locator("#digits-title").click()
    focus_by_tab(page, button)
    assert has_visible_focus(button)
    page.keyboard.press("Enter")
    index = int(button.get_attribute("data-heldout"))
    expect(figure).to_have_attribute("data-answer-for", f"heldout-{index}")
    expected = ready_run().infer(sample_data().test_images[index])
    expect(figure).to_have_attribute("data-ff-label", str(expected.label))
    assert figure.get_attribute("data-backprop-label") == str(expected.backprop_label)
    shown = [float(rows(figure).nth(i).get_attribute("data-total")) for i in range(10)]
    assert shown == pytest.approx(expected.totals, rel=1e-6)
    expect(button).to_have_attribute("aria-pressed", "true")


def test_the_live_run_trains_reads_with_its_own_nets_and_survives_a_dropped_socket(page):
    figure = open_figure(page)
    expect(figure).to_have_attribute("data-step", "0")
    figure.locator('[data-action="train"]').click()
    expect(figure).to_have_attribute("data-phase", "running")
    expect(figure).to_have_attribute("data-step", re.compile(r"^([3-9]\d|\d{3,})$"), timeout=30000)  # >= 30
    figure.locator('[data-action="pause"]').click()
    expect(figure).to_have_attribute("data-phase", "paused")
    step = int(figure.get_attribute("data-step"))
    assert figure.locator(".guess-ff").first.inner_text().startswith("FF ")
    # The goodness table: a row per FF layer, each a positive and a negative mean with its bar.
    rows = figure.locator('[data-ref="goodness"] tbody tr')
    expect(rows).to_have_count(2)
    for row in rows.all():
        values = [float(v) for v in row.locator(".bar-value").all_inner_texts()]
        assert len(values) == 2 and all(v >= 0 for v in values), values
    # The error readouts are percentages, the curve says the same.
    ff_error = figure.locator(".readout-ff-error").inner_text()
    assert re.fullmatch(r"\d+(\.\d+)?%", ff_error), ff_error
    assert ff_error in figure.locator('[data-ref="chart"]').get_attribute("aria-label")
    # The strip: a guess is marked wrong (a cross, the class, the spoken label) exactly when it is
    # not the digit's true label.
    for button in figure.locator(".strip-digit").all():
        label = int(re.search(r"a handwritten (\d)", button.get_attribute("aria-label")).group(1))
        for net, name in ((".guess-ff", "FF"), (".guess-bp", "backprop")):
            mark = button.locator(net)
            guess = int(re.search(r"(\d)", mark.inner_text()).group(1))
            wrong = guess != label
            assert ("✗" in mark.inner_text()) == wrong
            assert ("wrong" in (mark.get_attribute("class") or "")) == wrong
            assert f"{name} guesses {guess}, {'wrong' if wrong else 'right'}" in button.get_attribute("aria-label")
    figure.locator('input[name="digits-source"][value="live"]').check()
    figure.locator(".strip-digit").nth(0).click()
    expect(figure).to_have_attribute("data-answer-source", "live")
    expect(figure.locator('[data-ref="answer-text"]')).to_contain_text(f"at minibatch {step}")
    figure.evaluate("figure => figure.digitsDebug.dropConnection()")
    expect(figure.locator('[data-ref="connection"]')).to_have_text("Reconnected.", timeout=20000)
    figure.locator('[data-action="train"]').click()
    expect(figure).to_have_attribute("data-phase", "running")
    expect(figure).not_to_have_attribute("data-step", str(step))
    assert int(figure.get_attribute("data-step")) > step  # it went on from where it was, not from 0
    assert page.watch.console_errors == []


def test_a_finger_draws_on_the_pad_without_scrolling_the_page_and_a_swipe_elsewhere_scrolls(touch_page):
    page = touch_page
    figure = open_figure(page)
    finger = Finger(page)
    pad = figure.locator('[data-ref="pad"]')
    pad.evaluate("pad => pad.scrollIntoView({block: 'center'})")
    before = page.evaluate(SETTLED)
    x, y = centre(pad)
    finger.swipe(x, y - 40, dy=80)  # a finger's "1" on the pad
    expect(figure).to_have_attribute("data-ff-label", re.compile(r"^\d$"))
    assert page.evaluate(SETTLED) == before  # the stroke drew; the page stayed put
    assert figure.get_attribute("data-answer-for") == "drawing"
    chart = figure.locator('[data-ref="chart"]')
    chart.evaluate("chart => chart.scrollIntoView({block: 'center'})")
    before = page.evaluate(SETTLED)
    finger.swipe(*centre(chart), dy=-150)
    page.wait_for_function("before => window.scrollY > before", arg=before)
    assert page.evaluate("document.documentElement.scrollWidth") <= 375


def test_the_answer_is_announced_once_for_the_reader_and_a_near_tie_is_called_one(page):
    figure = open_figure(page)
    figure.locator(".strip-digit").nth(3).click()
    expect(figure.locator('[data-ref="announce"]')).to_contain_text("Forward-Forward reads")
    expect(figure.locator('[data-ref="announce"]')).to_contain_text("Backprop reads")
    verdicts = page.evaluate(
        """async () => {
            const { runnerUp } = await import('/static/js/widgets/digits/answer.js');
            return [runnerUp([1, 2, 10, 9.7], 2), runnerUp([1, 2, 10, 8], 2)];
        }"""
    )
    assert verdicts == [{"second": 3, "nearTie": True}, {"second": 3, "nearTie": False}]


def test_an_embed_link_starts_its_own_run_and_hides_what_it_is_told_to(page):
    page.goto("/embed/digits?seed=4&negatives=random&autoplay=1&controls=train,pause")
    figure = page.locator('[data-widget="digits"]')
    expect(figure).to_have_attribute("data-ready", "true")
    expect(figure).to_have_attribute("data-phase", "running")
    expect(figure).not_to_have_attribute("data-step", "0")
    assert figure.locator('[data-control="seed"]').input_value() == "4"
    expect(figure.locator('[data-embed-control="settings"]')).to_be_hidden()
    expect(figure.locator('[data-embed-control="source"]')).to_be_hidden()
    expect(figure.locator('[data-embed-control="pause"]')).to_be_visible()
    assert page.watch.console_errors == []
