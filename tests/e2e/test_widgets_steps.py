"""The step animation follows the engine's recorded traces: backprop updates top-down after the
loss with its memory peaking first; FF updates as each pass flows and never stacks memory up."""

import json
import re
import urllib.request

from playwright.sync_api import expect

STEPS = '[data-widget="steps"]'


def open_steps(page):
    page.goto("/")
    figure = page.locator(STEPS)
    figure.scroll_into_view_if_needed()
    expect(figure).to_have_attribute("data-loaded", "true")
    return figure


def walk_every_moment(page, figure):
    """Restart, then press Step once per moment, reading what each side shows after each press."""
    figure.locator('[data-action="restart"]').click()
    expect(figure).to_have_attribute("data-tick", "0")
    total = int(figure.get_attribute("data-ticks"))
    seen = {"backprop": [], "forward-forward": []}
    step = figure.locator('[data-action="step"]')
    for moment in range(1, total + 1):
        step.click()
        expect(figure).to_have_attribute("data-tick", str(moment))
        for algorithm in seen:
            pane = figure.locator(f'.steps-pane[data-algorithm="{algorithm}"]')
            seen[algorithm].append(
                pane.evaluate(
                    "p => ({index: +p.dataset.eventIndex, kind: p.dataset.eventKind,"
                    " layer: p.dataset.eventLayer, polarity: p.dataset.eventPolarity, bytes: +p.dataset.bytesHeld})"
                )
            )
    return seen


def distinct_events(moments):
    # When one trace has ended its pane holds its last event; keep each event once.
    out, last = [], None
    for moment in moments:
        if moment["index"] != last:
            out.append(moment)
            last = moment["index"]
    return out


def test_backprop_updates_in_reverse_after_the_loss_and_memory_peaks_first(page, live_server):
    figure = open_steps(page)
    backprop = distinct_events(walk_every_moment(page, figure)["backprop"])

    with urllib.request.urlopen(live_server + "/api/trace?algorithm=backprop") as response:
        trace = json.load(response)
    assert [event["index"] for event in backprop] == [event["index"] for event in trace["events"]]

    updates = [int(event["layer"]) for event in backprop if event["kind"] == "update"]
    assert len(updates) >= 3
    assert updates == sorted(updates, reverse=True), f"backprop updated layers in order {updates}"
    first_update = next(i for i, event in enumerate(backprop) if event["kind"] == "update")
    loss_at = next(i for i, event in enumerate(backprop) if event["kind"] == "loss")
    assert loss_at < first_update
    peak = max(event["bytes"] for event in backprop)
    assert max(event["bytes"] for event in backprop[:first_update]) == peak
    assert all(event["bytes"] < peak for event in backprop[first_update + 1 :])
    # The meter shows the bytes: full at the peak, emptied at the end.
    assert backprop[-1]["bytes"] == 0


def test_forward_forward_updates_during_each_pass_and_never_accumulates_memory(page):
    figure = open_steps(page)
    seen = walk_every_moment(page, figure)
    ff = distinct_events(seen["forward-forward"])
    backprop = distinct_events(seen["backprop"])

    updates = [(event["polarity"], int(event["layer"])) for event in ff if event["kind"] == "update"]
    assert updates == [
        ("positive", 1),
        ("positive", 2),
        ("positive", 3),
        ("negative", 1),
        ("negative", 2),
        ("negative", 3),
    ]
    # Each layer updates before the next layer computes anything: no waiting for a round trip.
    order = [(event["kind"], event["layer"], event["polarity"]) for event in ff]
    for polarity in ("positive", "negative"):
        for layer in ("1", "2"):
            assert order.index(("update", layer, polarity)) < order.index(("forward", str(int(layer) + 1), polarity))
    # Memory at each layer's forward step is the same for every layer: nothing piles up.
    at_forward = {(e["polarity"], e["layer"]): e["bytes"] for e in ff if e["kind"] == "forward"}
    assert at_forward[("positive", "2")] == at_forward[("positive", "3")]
    backprop_forward = [e["bytes"] for e in backprop if e["kind"] == "forward"]
    assert backprop_forward == sorted(backprop_forward) and backprop_forward[0] < backprop_forward[-1]
    assert max(e["bytes"] for e in ff) < max(e["bytes"] for e in backprop)


def test_play_pause_restart_and_status_text_follow_the_clock(page):
    figure = open_steps(page)
    figure.locator('[data-action="restart"]').click()
    expect(figure).to_have_attribute("data-playing", "false")
    figure.locator('[data-control="speed"]').fill("4")
    figure.locator('[data-action="play"]').click()
    expect(figure).to_have_attribute("data-playing", "true")
    expect(figure).to_have_attribute("data-tick", re.compile(r"^(?!0$)\d+$"))
    figure.locator('[data-action="play"]').click()  # now labelled Pause
    expect(figure).to_have_attribute("data-playing", "false")
    paused_at = figure.get_attribute("data-tick")
    status = figure.locator('.steps-pane[data-algorithm="backprop"] .steps-status')
    expect(status).to_contain_text("Event ")
    figure.locator('[data-action="step"]').click()
    expect(figure).to_have_attribute("data-tick", str(int(paused_at) + 1))
    figure.locator('[data-action="restart"]').click()
    expect(figure).to_have_attribute("data-tick", "0")
    expect(status).to_contain_text("Before the step")
    assert page.watch.console_errors == []


def test_reduced_motion_means_no_autoplay(browser, live_server):
    context = browser.new_context(base_url=live_server, reduced_motion="reduce")
    page = context.new_page()
    try:
        figure = open_steps(page)
        expect(figure).to_have_attribute("data-playing", "false")
        expect(figure).to_have_attribute("data-tick", "0")
        figure.locator('[data-action="step"]').click()
        expect(figure).to_have_attribute("data-tick", "1")
    finally:
        context.close()
