"""One source for what the server and the page share (issue 12): the page reads the race's linked
settings, its milestone, the bounds and defaults of every race and digits control and the goodness
widget's step cap from the server's own constants, a template left without one fails instead of
guessing, embed.js keeps no copy of the widget names, and the package carries its templates and
static files."""

from __future__ import annotations

import html
import json
import math
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from jinja2 import UndefinedError

import app
import app.web.pages as pages
from app.config import Settings
from app.engine.demos import GOODNESS_MAX_STEPS
from app.engine.digits import DigitsSettings
from app.engine.race import TARGET_ACCURACY, RaceSettings
from app.web.digits_live import LiveDigitsSettings
from app.web.widget_settings import DIGITS_QUERY, RACE_QUERY, WIDGETS

PACKAGE = Path(app.__file__).resolve().parent
ROOT = PACKAGE.parent


def attribute(page: str, selector: str, name: str) -> str:
    """The attribute `name` of the first element whose opening tag contains `selector`."""
    tag = re.search(rf"<[^>]*{re.escape(selector)}[^>]*>", page)
    assert tag, selector
    value = re.search(rf"""{name}=(?:"([^"]*)"|'([^']*)')""", tag.group(0))
    assert value, (selector, name)
    return html.unescape(value.group(1) if value.group(1) is not None else value.group(2))


@pytest.mark.parametrize("path", ["/", "/embed/race", "/embed/goodness"])
def test_pages_carry_the_engines_constants(client, path):
    page = client.get(path).text
    if 'data-widget="race"' in page:
        assert json.loads(attribute(page, 'data-widget="race"', "data-linked-settings")) == list(RACE_QUERY)
        assert float(attribute(page, 'data-widget="race"', "data-target-accuracy")) == TARGET_ACCURACY
    if 'data-widget="goodness"' in page:
        assert int(attribute(page, 'data-widget="goodness"', "data-max-steps")) == GOODNESS_MAX_STEPS


def test_no_javascript_copies_the_servers_constants():
    """The values the page used to copy are nowhere in its modules or in embed.js."""
    scripts = {path: path.read_text() for path in (PACKAGE / "static").rglob("*.js")}
    target = re.compile(r"(?<![\d.])0\.95(?!\d)")
    cap = re.compile(rf"=\s*{GOODNESS_MAX_STEPS}\b")
    for path, text in scripts.items():
        assert not target.search(text) and not cap.search(text), path
    embed = re.sub(r"/\*.*?\*/|//[^\n]*", "", (PACKAGE / "static" / "embed.js").read_text(), flags=re.S)
    for slug in WIDGETS:
        assert f'"{slug}"' not in embed, f"embed.js names the widget {slug!r}: the server owns the names"
    for name in RACE_QUERY:
        assert f'"{name}"' not in embed, f"embed.js names the setting {name!r}"


def test_templates_and_static_files_are_found_inside_the_package():
    settings = Settings()
    assert settings.templates_dir == PACKAGE / "templates" and (settings.templates_dir / "index.html").is_file()
    assert settings.static_dir == PACKAGE / "static" and (settings.static_dir / "embed.js").is_file()


# --- every race and digits control is the engine's: bounds, defaults and choices, never a copy


class Controls(HTMLParser):
    """The page's form controls: {key: attributes} for each <input> and <select> (keyed by its id,
    else its data-control, else its name), and each <select>'s options and selected option."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: dict[str, dict] = {}
        self.select: dict | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "select" or (tag == "input" and a.get("type") != "radio"):  # radios: choices, no bounds
            key = a.get("id") or a.get("data-control") or a.get("name")
            assert key not in self.found, f"two controls named {key}"
            self.found[key] = a
            if tag == "select":
                self.select = a
                a["options"], a["selected"] = [], []
        elif tag == "option" and self.select is not None:
            self.select["options"].append(a["value"])
            if "selected" in a:
                self.select["selected"].append(a["value"])

    def handle_endtag(self, tag):
        if tag == "select":
            self.select = None


def controls(page: str, widget: str) -> dict[str, dict]:
    """The controls of the widget's figure on `page`."""
    start = page.index(f'data-widget="{widget}"')
    parser = Controls()
    parser.feed(page[page.rindex("<figure", 0, start) : page.index("</figure>", start)])
    return parser.found


def same(shown: str, expected: float) -> bool:
    return math.isclose(float(shown), expected, rel_tol=0, abs_tol=1e-12)


def assert_number_input(control: dict, low: float, high: float, value: float, *, integer: bool) -> None:
    assert same(control["min"], low) and same(control["max"], high), control
    assert same(control["value"], value), control
    step = float(control["step"])
    if integer:
        assert step == 1, control
    else:
        # A float setting steps from its lower bound so that its default and its upper bound are
        # whole steps away (HTML's validation refuses a value between steps).
        assert step > 0
        for reachable in (value, high):
            count = (reachable - low) / step
            assert math.isclose(count, round(count), abs_tol=1e-6), (control, reachable)


RACE_INPUT_IDS = {"seed": "race-seed", "theta": "race-theta", "learning_rate": "race-learning-rate", "steps": "steps"}


@pytest.mark.parametrize("path", ["/", "/embed/race"])
def test_the_race_controls_are_the_engines_bounds_and_defaults(make_client, path):
    client = make_client(steps_per_frame=7, max_steps_per_frame=30)  # the server's speed, not the usual
    page = client.get(path).text
    found = controls(page, "race")
    bounds, defaults = RaceSettings.bounds(), RaceSettings()
    dataset = found["race-dataset"]
    assert dataset["options"] == list(RaceSettings.CHOICES["dataset"])
    assert dataset["selected"] == [defaults.dataset]
    for name in RACE_QUERY:
        if name in RaceSettings.CHOICES:
            continue
        low, high, default = bounds[name]
        control = found[RACE_INPUT_IDS[name]]
        if control.get("type") == "hidden":  # steps: not editable, but carried with its bounds
            assert same(control["min"], low) and same(control["max"], high) and same(control["value"], default)
        else:
            assert_number_input(control, low, high, default, integer=isinstance(default, int))
    assert_number_input(found["race-speed"], 1, 30, 7, integer=True)
    assert int(attribute(page, 'data-widget="race"', "data-steps")) == defaults.steps
    assert set(RACE_INPUT_IDS) | {"dataset"} == set(RACE_QUERY)  # every linked setting was checked


def test_the_race_controls_follow_the_engines_table(client, monkeypatch):
    """Bounds the engine changes show on the page at once: nothing in the templates restates them."""
    monkeypatch.setitem(RaceSettings.BOUNDS, "theta", (0.25, 20.0))
    monkeypatch.setitem(RaceSettings.BOUNDS, "steps", (1, 1234))
    monkeypatch.setattr(RaceSettings, "CHOICES", {**RaceSettings.CHOICES, "dataset": ("disk-ring", "xor")})
    found = controls(client.get("/").text, "race")
    assert (found["race-theta"]["min"], found["race-theta"]["max"], found["race-theta"]["step"]) == (
        "0.25",
        "20.0",
        "0.25",
    )
    assert found["steps"]["max"] == "1234"
    assert found["race-dataset"]["options"] == ["disk-ring", "xor"]


@pytest.mark.parametrize("path", ["/", "/embed/digits"])
def test_the_digits_controls_are_the_engines_bounds_and_defaults(client, path):
    found = controls(client.get(path).text, "digits")
    defaults = LiveDigitsSettings()
    low, high = DigitsSettings.BOUNDS["seed"]
    assert_number_input(found["seed"], low, high, defaults.seed, integer=True)
    negatives = found["negatives"]
    assert negatives["options"] == list(DigitsSettings.CHOICES["negatives"])
    assert negatives["selected"] == [defaults.negatives]
    assert set(DIGITS_QUERY) == {"seed", "negatives"}  # every setting a link may carry was checked


def test_the_digits_seed_follows_the_engines_table(client, monkeypatch):
    monkeypatch.setitem(DigitsSettings.BOUNDS, "seed", (0, 999))
    assert controls(client.get("/embed/digits").text, "digits")["seed"]["max"] == "999"


def test_the_target_accuracy_on_the_page_is_the_engines(client, monkeypatch):
    """The 95% the article and the scorecard print is the engine's TARGET_ACCURACY."""
    page = client.get("/").text
    shown = f"{TARGET_ACCURACY:.0%}"
    assert f"Steps until {shown} accuracy" in page
    monkeypatch.setattr(pages, "TARGET_ACCURACY", 0.9)
    assert client.portal is not None
    figures = client.portal.call(client.app.state.scorecard.figures)  # the dict the page renders
    monkeypatch.setitem(figures, "target_accuracy", 0.9)
    page = client.get("/").text
    assert "Steps until 90% accuracy" in page and f"{shown} " not in page
    assert float(attribute(page, 'data-widget="race"', "data-target-accuracy")) == 0.9


@pytest.mark.parametrize(
    ("path", "name", "keys"),
    [
        ("/", "race_defaults", ("theta",)),
        ("/", "target_accuracy", ()),
        ("/embed/race", "race_query", ()),
        ("/embed/digits", "digits_defaults", ()),
    ],
)
def test_a_template_without_a_server_value_fails_instead_of_guessing(client, monkeypatch, path, name, keys):
    real = pages.page_context

    async def missing(request):
        values = await real(request)
        if keys:  # leave out one entry of the table, the table itself kept
            values[name] = {k: v for k, v in values[name].items() if k not in keys}
        else:
            del values[name]
        return values

    monkeypatch.setattr(pages, "page_context", missing)
    with pytest.raises((KeyError, UndefinedError)):
        client.get(path)


def test_a_missing_bound_fails_too(client, monkeypatch):
    real = pages.race_defaults

    def no_theta_max(settings):
        table = real(settings)
        del table["theta"]["max"]
        return table

    monkeypatch.setattr(pages, "race_defaults", no_theta_max)
    with pytest.raises(KeyError, match="max"):
        client.get("/")


def test_required_has_no_fallback():
    assert pages.required({"a": {"b": 3}}, "a", "b") == 3
    with pytest.raises(KeyError):
        pages.required({"a": {}}, "a", "b")


SERVER_LITERALS = {
    # What templates and scripts used to copy: the race's and the digits' bounds and defaults, the
    # milestone's target and the list of data sets (the server renders every one of these).
    "the default race's length": r"(?<![\w.])900(?![\w.])",
    "the race's step cap": r"(?<![\w.])5000(?![\w.])",
    "the largest seed": r"2147483647",
    "the default learning rate": r"(?<![\w.])0\.03(?![\w])",
    "the lowest learning rate": r"(?<![\w.])(0\.0001|1e-4)(?![\w])",
    "the target accuracy": r"(?<![\w.])(0\.95(?!\d)|95%)",
    "the target accuracy, by name": r"steps to 95",
    "the held-out bar the runs are counted against": r"(?<![\w.])(0\.97(?!\d)|97%)",
    "the goodness layer's width": r"(?<![\w.])8 units",
    "the step animation's depth": r"three hidden layers",
    "the live digits threshold": r"θ = <span[^>]*>\s*\d",
    "a threshold fallback in a script": r"theta\s*\?\?\s*\d",
    "the seed's lower bound": r"Math\.max\(0, Math\.floor",
}


def without_comments(path: Path) -> str:
    text = path.read_text()
    if path.suffix == ".html":
        return re.sub(r"\{#.*?#\}", "", text, flags=re.S)
    return re.sub(r"/\*.*?\*/|//[^\n]*", "", text, flags=re.S)


def test_no_template_or_script_holds_a_copy_of_the_servers_values():
    files = [*(PACKAGE / "templates").rglob("*.html"), *(PACKAGE / "static" / "js").rglob("*.js")]
    assert len(files) > 20
    copies = []
    for path in files:
        text = without_comments(path)
        copies += [
            f"{path.relative_to(PACKAGE)}: {what}"
            for what, literal in SERVER_LITERALS.items()
            if re.search(literal, text)
        ]
        datasets = [name for name in RaceSettings.CHOICES["dataset"] if re.search(rf"""["']{name}["']""", text)]
        if len(datasets) == len(RaceSettings.CHOICES["dataset"]) and path.suffix == ".js":
            copies.append(f"{path.relative_to(PACKAGE)}: the list of data sets")
    # The one template that needs the four data sets by name (the results prose) reads them from
    # the measured table; the race's menu is the engine's list.
    race = without_comments(PACKAGE / "templates" / "widgets" / "race.html")
    assert not any(f'"{name}"' in race for name in RaceSettings.CHOICES["dataset"]), "race.html lists data sets"
    assert not copies, "\n".join(copies)
