"""The normalization drag: goodness follows the vector's length, the next layer only its direction;
and the browser's formula is the engine's."""

import json

import pytest
from playwright.sync_api import expect

from app.engine.demos import next_layer_response, normalization_layer

NORMALIZATION = '[data-widget="normalization"]'


def open_plane(page):
    page.goto("/")
    figure = page.locator(NORMALIZATION)
    figure.scroll_into_view_if_needed()
    expect(figure).to_have_attribute("data-loaded", "true")
    return figure


def reading(figure):
    data = figure.evaluate(
        "f => ({y: f.dataset.y, goodness: f.dataset.goodness, response: f.dataset.response,"
        " normalized: f.dataset.normalized})"
    )
    return {
        "y": json.loads(data["y"]),
        "goodness": float(data["goodness"]),
        "response": json.loads(data["response"]),
        "normalized": json.loads(data["normalized"]),
    }


def test_moving_along_the_ray_changes_goodness_but_not_the_next_layer(page):
    figure = open_plane(page)
    plane = figure.locator(".normalization-plane")
    plane.focus()
    start = reading(figure)
    page.keyboard.press("+")
    expect(figure).not_to_have_attribute("data-goodness", str(start["goodness"]))
    longer = reading(figure)
    page.keyboard.press("-")
    page.keyboard.press("-")
    page.keyboard.press("-")
    shorter = reading(figure)
    for moved in (longer, shorter):
        assert moved["goodness"] != pytest.approx(start["goodness"], rel=1e-3)
        assert moved["response"] == pytest.approx(start["response"], abs=1e-7)
        assert moved["normalized"] == pytest.approx(start["normalized"], abs=1e-7)
        # still on the same ray: y is a positive multiple of where it started
        assert moved["y"][0] * start["y"][1] == pytest.approx(moved["y"][1] * start["y"][0], abs=1e-9)
    assert longer["goodness"] > start["goodness"] > shorter["goodness"]
    # The buttons do the same for readers who do not use the keyboard shortcut.
    figure.locator('[data-action="longer"]').click()
    assert reading(figure)["response"] == pytest.approx(start["response"], abs=1e-7)
    # The text alternative follows the vector.
    assert f"goodness {shorter['goodness']:.2f}" not in plane.get_attribute("aria-label")


def test_turning_the_vector_changes_the_response(page):
    figure = open_plane(page)
    figure.locator(".normalization-plane").focus()
    start = reading(figure)
    for _ in range(8):
        page.keyboard.press("ArrowLeft")
    turned = reading(figure)
    assert turned["y"][0] == pytest.approx(start["y"][0] - 0.8)
    assert turned["response"] != pytest.approx(start["response"], abs=1e-3)


def test_dragging_and_clicking_put_the_vector_under_the_pointer(page):
    figure = open_plane(page)
    plane = figure.locator(".normalization-plane")
    box = plane.bounding_box()
    scale = box["width"] / 5.0  # the plane spans [-2.5, 2.5] on both axes

    def screen(y1, y2):
        return box["x"] + (y1 + 2.5) * scale, box["y"] + (2.5 - y2) * scale

    page.mouse.click(*screen(-1.0, 2.0))
    assert reading(figure)["y"] == pytest.approx([-1.0, 2.0], abs=0.05)
    page.mouse.move(*screen(-1.0, 2.0))
    page.mouse.down()
    page.mouse.move(*screen(0.5, -1.5), steps=8)
    page.mouse.up()
    dragged = reading(figure)
    assert dragged["y"] == pytest.approx([0.5, -1.5], abs=0.05)
    assert dragged["goodness"] == pytest.approx(0.5**2 + 1.5**2, abs=0.2)


def test_the_browser_formula_matches_the_engine(page):
    figure = open_plane(page)
    # The weights in the page are the engine's.
    in_page = json.loads(figure.get_attribute("data-next-layer"))
    assert in_page == json.loads(json.dumps(normalization_layer()))
    vectors = [[1.2, 0.8], [2.4, 1.6], [-0.3, 2.0], [0.0, -1.0], [1e-3, 5e-4], [-2.5, -0.1], [0.0, 0.0]]
    browser = page.evaluate(
        """async ([layer, vectors]) => {
             const module = await import('/static/js/widgets/normalization.js');
             return vectors.map((y) => module.nextLayerResponse(layer, y));
           }""",
        [in_page, vectors],
    )
    for y, response in zip(vectors, browser, strict=True):
        assert response == pytest.approx(next_layer_response(y), abs=1e-12), y
