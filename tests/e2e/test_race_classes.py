"""The race says what the classes are on the data set on screen: the legend, the pictures' text
alternatives, the readouts' verdicts and the spoken sentences name them for every data set, and the
legend names them before any script has run."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from app.engine.datasets import CLASS_NAMES

from .test_race import RACE, data_point_position, open_race, race_messages


def other_names(dataset: str) -> list[str]:
    """Class names of the other data sets that are not also words of this one's."""
    own = " ".join(CLASS_NAMES[dataset])
    return [
        name
        for other, names in CLASS_NAMES.items()
        if other != dataset
        for name in names
        if not re.search(rf"\b{re.escape(name)}\b", own)
    ]


@pytest.mark.parametrize("dataset", list(CLASS_NAMES))
def test_each_data_set_is_described_with_its_own_class_names(page, dataset):
    messages = race_messages(page)
    race = open_race(page)
    a, b = CLASS_NAMES[dataset]
    race.get_by_label("Dataset").select_option(dataset)
    race.get_by_role("button", name="Reset").click()
    expect(race.locator("[data-ref=ff-canvas]")).to_have_attribute("aria-label", re.compile(rf"on {dataset}, step 0 "))
    expect(race.locator("[data-ref=legend-a]")).to_have_text(f"class A ({a})")
    expect(race.locator("[data-ref=legend-b]")).to_have_text(f"class B ({b})")
    expect(race.locator("[data-ref=legend-shade]")).to_have_text(f"shading: the net's P(class A: {a})")
    assert [m["classes"] for m in messages if m["type"] == "race"][-1] == [a, b]  # what the server said
    for net in ("ff", "bp"):
        label = race.locator(f"[data-ref={net}-canvas]").get_attribute("aria-label")
        assert f"class A ({a})" in label and f"class B ({b})" in label, label

    # Any point will do: even the untrained nets answer, and the answer names the class.
    race.locator("[data-ref=ff-canvas]").click(position=data_point_position(race, 0.3, 0.2))
    expect(race.locator("[data-ref=ff-readout]")).to_contain_text("at step 0")
    verdict = re.compile(rf"^(class A \({re.escape(a)}\)|class B \({re.escape(b)}\))$")
    expect(race.locator("[data-ref=ff-decision]")).to_have_text(verdict)
    expect(race.locator("[data-ref=bp-decision]")).to_have_text(verdict)
    spoken = race.locator("[data-ref=milestones]")
    expect(spoken).to_contain_text(re.compile(rf"Forward-Forward .*class [AB] \(({re.escape(a)}|{re.escape(b)})\)"))
    expect(race.locator("[data-ref=ff-canvas]")).to_have_attribute(
        "aria-label", re.compile(rf"is classified class [AB] \(({re.escape(a)}|{re.escape(b)})\)")
    )

    # Nothing still speaks of another data set's classes.
    said = " ".join(
        [
            race.locator("[data-ref=legend]").inner_text(),
            race.locator("[data-ref=ff-readout]").inner_text(),
            race.locator("[data-ref=bp-readout]").inner_text(),
            spoken.inner_text(),
            race.locator("[data-ref=ff-canvas]").get_attribute("aria-label"),
            *[m.get_attribute("aria-label") for m in race.locator(".race-layer-map").all()],
        ]
    )
    said = said.replace("hollow ring", "")  # the marker's shape, not disk-ring's class
    for name in other_names(dataset):
        assert not re.search(rf"\b{re.escape(name)}\b", said), f"{name!r} said while {dataset} is on screen"
    assert page.watch.console_errors == []


def test_training_a_new_data_set_announces_its_classes(page):
    race = open_race(page)
    race.get_by_label("Dataset").select_option("moons")
    race.get_by_role("button", name="Train").click()
    a, b = CLASS_NAMES["moons"]
    expect(race.locator("[data-ref=milestones]")).to_have_text(
        f"Race started on moons: class A ({a}) against class B ({b})."
    )
    expect(race.locator("[data-ref=legend-a]")).to_have_text(f"class A ({a})")


def test_the_legend_names_the_linked_data_sets_classes_before_any_script_runs(browser, live_server):
    context = browser.new_context(base_url=live_server, java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto("/?dataset=xor#race")
        a, b = CLASS_NAMES["xor"]
        legend = page.locator(f"{RACE} [data-ref=legend]")
        expect(legend).to_contain_text(f"class A ({a}): filled dot")
        expect(legend).to_contain_text(f"class B ({b}): hollow ring")
        expect(legend).to_contain_text(f"shading: the net's P(class A: {a})")
    finally:
        context.close()
