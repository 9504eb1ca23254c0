"""What the race shows about Forward-Forward's inside, and that it shows it honestly: a goodness
map per layer and label with each layer's own held-out accuracy, readout bars on one scale, totals
printed until they differ, near ties called near ties, and the two nets' losses never on one axis."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import expect

from .test_race import data_point_position, open_race, race_messages, set_top_speed, train_to_the_end

LETTERS = "AB"


def last_frame(messages, step: int) -> dict:
    return [m for m in messages if m["type"] == "frame" and m["step"] == step][-1]


def two(value: float) -> str:
    """Two decimals as the page prints them (format.js's fixed: never "-0.00")."""
    text = f"{value:.2f}"
    return text[1:] if text == "-0.00" else text


def percent(value: float) -> str:
    return f"{value * 100:.1f}%"


def printed(totals: list[float]) -> list[str]:
    """The totals as the readout must print them: 2 decimals, more until different ones differ (to 6)."""
    for digits in range(2, 7):
        texts = [f"{t:.{digits}f}" for t in totals]
        pairs = list(zip(totals, texts, strict=True))
        if all(a == b or ta != tb for a, ta in pairs for b, tb in pairs):
            break
    return texts


def race_socket(page) -> list:
    """The race's websocket(s), newest last (register before page.goto)."""
    sockets: list = []
    page.on("websocket", lambda socket: "/ws/race" in socket.url and sockets.append(socket))
    return sockets


def ask(race, sockets, position: dict | None = None, point: tuple[float, float] | None = None) -> dict:
    """Click the FF picture at `position` (CSS pixels), or ask about `point` (data coordinates,
    finer than a click can aim); return the server's answer once the readout shows it."""

    def is_inference(payload: str | bytes) -> bool:  # frames arrive as bytes (binary), the rest as text
        return isinstance(payload, str) and '"type":"inference"' in payload

    with sockets[-1].expect_event("framereceived", is_inference) as event:
        if position is not None:
            race.locator("[data-ref=ff-canvas]").click(position=position)
        else:
            race.evaluate("(root, [x, y]) => root.raceDebug.choose(x, y)", list(point))
    answer = json.loads(event.value)
    expect(race.locator("[data-ref=ff-readout]")).to_contain_text(
        f"Point ({two(answer['x'])}, {two(answer['y'])}) at step {answer['step']}"
    )
    return answer


MAP_PIXELS = """maps => maps.map((canvas) => {
    const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
    const colours = new Set();
    for (let i = 0; i < data.length; i += 4) colours.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
    return {url: canvas.toDataURL(), colours: colours.size};
})"""


def test_each_layer_shows_its_goodness_maps_and_its_own_held_out_accuracy(page):
    messages = race_messages(page)
    race = open_race(page)
    maps = race.locator(".race-layer-map")
    expect(maps.first).to_have_attribute("aria-label", re.compile(r", step 0:"))
    early = maps.evaluate_all(MAP_PIXELS)

    set_top_speed(race)
    steps = int(train_to_the_end(race))
    expect(maps.first).to_have_attribute("aria-label", re.compile(rf", step {steps}:"))
    frame = last_frame(messages, steps)
    layers = len(frame["layers"]["goodness"])
    labels = len(frame["layers"]["goodness"][0])
    accuracies = frame["ff"]["layer_test_accuracy"]
    assert layers >= 2 and labels == 2 and len(accuracies) == layers

    expect(maps).to_have_count(layers * labels)
    late = maps.evaluate_all(MAP_PIXELS)
    for before, after in zip(early, late, strict=True):
        assert after["colours"] > 1, "a blank layer map"
        assert after["url"] != before["url"], "a layer map did not change with training"

    # Each layer's own accuracy, beside its maps, in the FF metrics and in each map's text alternative.
    expect(race.locator(".race-layers-accuracy")).to_have_text([f"held-out {percent(a)}" for a in accuracies])
    metrics = race.locator("[data-ref=ff-metrics]")
    for layer, accuracy in enumerate(accuracies):
        expect(metrics).to_contain_text(f"layer {layer + 1} {percent(accuracy)}")
        for label in range(labels):
            canvas = race.locator(f".race-layer-map[data-layer='{layer}'][data-label='{label}']")
            expect(canvas).to_have_attribute("role", "img")
            description = canvas.get_attribute("aria-label")
            assert description.startswith(f"Layer {layer + 1} with label {LETTERS[label]} (")
            assert f"Layer {layer + 1} alone classifies {percent(accuracy)} of the held-out points" in description
    # One colour scale for every map, and its legend prints its top value.
    expect(race.locator("[data-ref=layers-max]")).to_contain_text(f"{frame['layers']['scale']:.2f}")
    assert page.watch.console_errors == []


BARS = """bars => bars.map((bar) => ({
    width: bar.getBoundingClientRect().width,
    track: bar.parentElement.getBoundingClientRect().width,
    outlined: parseFloat(getComputedStyle(bar).borderLeftWidth) + parseFloat(getComputedStyle(bar).borderRightWidth),
}))"""


def test_every_goodness_bar_in_the_readout_is_drawn_to_one_scale(page):
    sockets = race_socket(page)
    race = open_race(page)
    set_top_speed(race)
    train_to_the_end(race)
    readout = race.locator("[data-ref=ff-readout]")
    for x, y in [(0.0, 0.0), (0.95, 0.3)]:
        answer = ask(race, sockets, data_point_position(race, x, y))
        ff = answer["ff"]
        # Row by row as the table shows them: each layer (label A, label B), then the totals.
        values = [ff["goodness"][label][layer] for layer in range(len(ff["goodness"][0])) for label in (0, 1)]
        values += ff["totals"]
        bars = readout.locator(".race-bar").evaluate_all(BARS)
        assert len(bars) == len(values)
        largest = max(range(len(values)), key=lambda i: values[i])
        per_unit = bars[largest]["width"] / bars[largest]["track"] / values[largest]
        for value, bar in zip(values, bars, strict=True):
            # An outlined bar is never narrower than its two borders.
            expected = max(per_unit * value * bar["track"], bar["outlined"])
            assert bar["width"] == pytest.approx(expected, abs=1.5), (value, bars, values)
        expect(readout.locator("caption")).to_contain_text("All bars share one scale")


def test_the_totals_are_printed_until_they_differ_even_near_the_decision_boundary(page):
    sockets = race_socket(page)
    race = open_race(page)
    set_top_speed(race)
    train_to_the_end(race)
    canvas = race.locator("[data-ref=ff-canvas]")
    decision = race.locator("[data-ref=ff-readout] .race-decision")

    shown = []

    def check(position: dict | None = None, point: tuple[float, float] | None = None) -> dict:
        """The printed totals and the words for the server's answer."""
        answer = ask(race, sockets, position, point)
        totals = answer["ff"]["totals"]
        texts = printed(totals)
        expect(race.locator("[data-ref=total-a]")).to_have_text(texts[0])
        expect(race.locator("[data-ref=total-b]")).to_have_text(texts[1])
        shown.append(texts)
        if texts[0] == texts[1]:
            expect(decision).to_contain_text("equal total goodness")
        if abs(totals[0] - totals[1]) < 0.02 * max(totals):
            expect(decision).to_contain_text("near tie")
            expect(race.locator("[data-ref=milestones]")).to_contain_text("near tie")
        else:
            expect(decision).not_to_contain_text("near tie")
        return answer

    # A click in the disk's centre (class A) and one on the ring (class B), then a bisection along
    # y = 0 between them, in data coordinates: the last points sit on the boundary, where the two
    # totals are as close as the engine makes them.
    xmin, xmax, _, _ = (float(v) for v in canvas.get_attribute("data-extent").split(","))
    inside = check(position=data_point_position(race, 0.0, 0.0))
    outside = check(position=data_point_position(race, xmin + 0.08 * (xmax - xmin), 0.0))
    assert inside["ff"]["label"] != outside["ff"]["label"]
    (lo, y), hi = (inside["x"], inside["y"]), outside["x"]
    for _ in range(24):
        middle = (lo + hi) / 2
        if check(point=(middle, y))["ff"]["label"] == inside["ff"]["label"]:
            lo = middle
        else:
            hi = middle
    # Close calls really were printed with more than two decimals.
    assert max(len(text.split(".")[1]) for texts in shown for text in texts) > 2, shown
    assert page.watch.console_errors == []


RENDER = """async (cases) => {
    const { renderForwardForward } = await import("/static/js/widgets/race/readout.js");
    const { inferenceSentence } = await import("/static/js/widgets/race/describe.js");
    return cases.map((ff) => {
        const inference = { x: 0.5, y: -0.25, step: 7, ff,
                            backprop: { probabilities: [0.6, 0.4], label: 0 } };
        const box = document.createElement("div");
        renderForwardForward(box, inference, ["inner disk", "ring"]);
        return {
            totals: [...box.querySelectorAll("[data-ref^=total-]")].map((n) => n.textContent),
            decision: box.querySelector(".race-decision").textContent,
            rows: [...box.querySelectorAll("tbody th")].map((n) => n.textContent),
            widths: [...box.querySelectorAll(".race-bar")].map((n) => parseFloat(n.style.width)),
            sentence: inferenceSentence(inference, ["inner disk", "ring"]),
        };
    });
}"""


def test_ties_near_ties_and_uncounted_layers_are_said_as_they_are(page):
    """The readout's rules on made-up answers, down to the sixth decimal (no engine run needed)."""
    open_race(page)

    def ff(totals, goodness=None, summed=None):
        goodness = goodness or [[t / 2, t / 2] for t in totals]
        return {
            "goodness": goodness,
            "totals": totals,
            "label": max(range(2), key=lambda i: totals[i]),
            "layers_summed": summed if summed is not None else [0, 1],
        }

    equal, fourth, near, clear, uncounted = page.evaluate(
        RENDER,
        [
            ff([3.14159261, 3.14159268]),
            ff([2.00012, 2.00041]),
            ff([5.0, 4.95]),
            ff([5.0, 4.8]),
            ff([1.5, 0.5], goodness=[[9.0, 1.5], [4.0, 0.5]], summed=[1]),
        ],
    )
    assert equal["totals"] == ["3.141593", "3.141593"]
    assert "equal total goodness" in equal["decision"] and "total (equal)" in equal["rows"]
    assert fourth["totals"] == ["2.0001", "2.0004"]
    assert "near tie" in fourth["decision"] and "near tie" in fourth["sentence"]
    assert near["totals"] == ["5.00", "4.95"]
    assert "near tie" in near["decision"] and "near tie" in near["sentence"]
    assert "class A (inner disk)" in near["decision"] and "class A (inner disk)" in near["sentence"]
    assert clear["totals"] == ["5.00", "4.80"]
    assert "near tie" not in clear["decision"] and "near tie" not in clear["sentence"]
    # Layer 1 left out of the sum: marked, and its bar (9.0, larger than any total) sets the one scale.
    assert uncounted["rows"][0] == "layer 1 not counted" and uncounted["rows"][1] == "layer 2"
    assert uncounted["widths"] == pytest.approx([100 * v / 9.0 for v in (9.0, 4.0, 1.5, 0.5, 1.5, 0.5)], abs=0.01)
    assert "in layer 2 (the only layer the rule counts)" in uncounted["decision"]


CURVE_PIXELS = """(canvas) => {
    const style = getComputedStyle(document.documentElement);
    const rgb = (name) => {
        const probe = document.createElement("canvas").getContext("2d");
        probe.fillStyle = style.getPropertyValue(name).trim();
        const hex = probe.fillStyle;
        return [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
    };
    const colours = { ff: rgb("--ff"), backprop: rgb("--backprop") };
    const { width, height } = canvas;
    const data = canvas.getContext("2d").getImageData(0, 0, width, height).data;
    const thirds = [0, 1, 2].map(() => ({ ff: 0, backprop: 0 }));
    for (let y = 0; y < height; y += 1) {
        for (let x = 0; x < width; x += 1) {
            const i = 4 * (y * width + x);
            for (const [net, [r, g, b]] of Object.entries(colours)) {
                if (Math.abs(data[i] - r) + Math.abs(data[i + 1] - g) + Math.abs(data[i + 2] - b) < 60) {
                    thirds[Math.min(2, Math.floor((3 * x) / width))][net] += 1;
                }
            }
        }
    }
    return thirds;
}"""


def test_the_two_nets_losses_are_never_drawn_on_one_axis(page):
    messages = race_messages(page)
    race = open_race(page)
    set_top_speed(race)
    steps = int(train_to_the_end(race))
    frame = last_frame(messages, steps)
    chart = race.locator("[data-ref=chart]")
    label = re.compile(
        rf"Forward-Forward loss \(sum of layer losses\) {frame['ff']['loss']:.3f}; "
        rf"backprop loss \(cross-entropy\) {frame['backprop']['loss']:.3f}"
    )
    expect(chart).to_have_attribute("aria-label", label)
    assert "not compared" in chart.get_attribute("aria-label")
    expect(race.locator(".race-chart-note")).to_be_visible()
    expect(race.locator(".race-chart-note")).to_contain_text("each has its own panel and axis")

    # On a desktop the three panels sit in a row: accuracy (both nets), FF's loss, backprop's loss.
    accuracy, ff_loss, backprop_loss = chart.evaluate(CURVE_PIXELS)
    assert accuracy["ff"] > 0 and accuracy["backprop"] > 0
    assert ff_loss["ff"] > 0 and ff_loss["backprop"] == 0
    assert backprop_loss["backprop"] > 0 and backprop_loss["ff"] == 0
