"""The label-in-the-input figure: the positive and negative images are one real digit that differ
only in the one-hot label written into the first 10 pixels."""

import json
from pathlib import Path

from playwright.sync_api import expect

LABEL = '[data-widget="label"]'
DIGITS = Path(__file__).resolve().parents[2] / "app" / "static" / "data" / "digits.json"

READ_PIXELS = """f => ['.digit-positive', '.digit-negative'].map((selector) => {
  const canvas = f.querySelector(selector);
  const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  const ink = [];
  for (let i = 0; i < data.length; i += 4) ink.push(255 - data[i]);  // drawn dark on paper
  return ink;
})"""


def open_label(page):
    page.goto("/")
    figure = page.locator(LABEL)
    figure.scroll_into_view_if_needed()
    expect(figure).to_have_attribute("data-loaded", "true")
    return figure


def test_positive_and_negative_differ_only_in_the_first_ten_pixels(page):
    figure = open_label(page)
    digits = {d["label"]: d["pixels"] for d in json.loads(DIGITS.read_text())["digits"]}
    for digit, wrong in ((7, 3), (2, 9), (0, 1)):
        figure.locator('[data-control="digit"]').select_option(str(digit))
        figure.get_by_label(str(wrong), exact=True).check()
        expect(figure).to_have_attribute("data-negative-label", str(wrong))
        expect(figure).to_have_attribute("data-positive-label", str(digit))
        positive, negative = figure.evaluate(READ_PIXELS)
        assert len(positive) == len(negative) == 28 * 28
        differing = [i for i in range(28 * 28) if positive[i] != negative[i]]
        assert differing == sorted([digit, wrong]), differing
        assert positive[:10] == [255 if i == digit else 0 for i in range(10)]
        assert negative[:10] == [255 if i == wrong else 0 for i in range(10)]
        # Everything after the label is the real handwritten digit from the data file.
        assert positive[10:] == digits[digit][10:]
        expect(figure.locator(".label-negative .label-strip li.lit")).to_have_text(str(wrong))


def test_the_true_label_cannot_be_chosen_for_the_negative(page):
    figure = open_label(page)
    figure.locator('[data-control="digit"]').select_option("3")  # 3 was the chosen wrong label
    expect(figure).to_have_attribute("data-positive-label", "3")
    expect(figure).not_to_have_attribute("data-negative-label", "3")
    expect(figure.get_by_label("3", exact=True)).to_be_disabled()
    expect(page.locator("#label-text-negative")).to_contain_text("the same 3")


def test_a_failed_load_says_so_and_switches_the_controls_off(page):
    page.route("**/static/**/data/digits.json*", lambda route: route.fulfill(status=503, body="busy"))
    page.goto("/")
    figure = page.locator(LABEL)
    figure.scroll_into_view_if_needed()
    expect(figure).to_have_attribute("data-loaded", "error")
    expect(figure).to_contain_text("could not be loaded")
    expect(figure.locator('[data-control="digit"]')).to_be_disabled()
    for radio in figure.locator('input[name="negative-label"]').all():
        expect(radio).to_be_disabled()
