"""The embeddable widgets and their query-string settings, validated against the engine's bounds."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from app.config import speed_problem
from app.engine.demos import GOODNESS_THETA_RANGE
from app.engine.digits import DigitsSettings
from app.engine.race import RaceSettings

# The race settings a link may carry, in the order the widget's form shows them. Their ranges and
# choices are RaceSettings.BOUNDS / CHOICES; nothing here restates them.
RACE_QUERY = ("dataset", "seed", "theta", "learning_rate", "steps")
# The goodness widget's threshold slider moves in half steps (a UI choice, not the engine's);
# its range is the engine's GOODNESS_THETA_RANGE.
GOODNESS_THETA_STEP = 0.5
GOODNESS_THETA_DEFAULT = 2.0
# The live digits race's settings a link may carry; ranges and choices are DigitsSettings'.
DIGITS_QUERY = ("seed", "negatives")
DIGITS_HEIGHT, DIGITS_WIDE_HEIGHT = 2620, 1460

TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off"}
INTEGER = re.compile(r"[+-]?\d{1,20}")
NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|[+-]?(nan|inf|infinity)", re.IGNORECASE)


@dataclass(frozen=True)
class Widget:
    """One embeddable widget: its slug is its module name (app/static/js/widgets/<slug>.js)."""

    slug: str
    title: str
    # The frame height of the plain <iframe> snippet and the oEmbed answer: the embed page's height
    # at its tallest, measured in Chromium at every width from MIN_EMBED_WIDTH (a small phone) to
    # EMBED_WIDTH, touch and mouse, plus room for the longest messages (tests/e2e/test_embed_fit.py
    # holds it there). A frame this tall never scrolls inside, whatever width the course page gives it.
    height: int
    # The same at EMBED_WIDTH alone: enough for a course read only on wide screens (the README's table).
    wide_height: int
    controls: tuple[str, ...]  # names of its data-embed-control elements, for ?controls=
    settings: tuple[str, ...] = ()
    autoplay: bool = False  # whether ?autoplay=1 means anything to it


WIDGETS: dict[str, Widget] = {
    w.slug: w
    for w in (
        Widget(
            "race",
            "Forward-Forward against backprop, live",
            2300,
            1700,
            ("train", "pause", "step", "reset", "settings"),
            (*RACE_QUERY, "speed"),
            autoplay=True,
        ),
        Widget(
            "goodness",
            "Goodness: one layer's own goal",
            920,
            580,
            ("polarity", "step-1", "step-10", "reset", "theta"),
            ("theta",),
        ),
        Widget(
            "normalization", "Why the length has to go: normalizing between layers", 1060, 590, ("shorter", "longer")
        ),
        Widget(
            "steps",
            "One training step: backprop and Forward-Forward",
            1400,
            690,
            ("play", "step", "restart", "speed"),
            autoplay=True,
        ),
        Widget("label", "The label in the input", 900, 660, ("digit", "label")),
        Widget(
            "digits",
            "Real handwritten digits: FF and backprop learn, and you draw",
            DIGITS_HEIGHT,
            DIGITS_WIDE_HEIGHT,
            ("train", "pause", "reset", "settings", "clear", "source"),
            DIGITS_QUERY,
            autoplay=True,
        ),
    )
}
EMBED_WIDTH = 800  # the oEmbed width (CSS px); the frame fills its container up to it
MIN_EMBED_WIDTH = 320  # the narrowest frame the heights above are measured for (a small phone's page)


@dataclass
class WidgetQuery:
    """A widget's settings read from a query string: typed values, or the problems found."""

    widget: Widget
    values: dict = field(default_factory=dict)  # only the settings the query gave, typed
    controls: tuple[str, ...] | None = None  # None: all of them
    autoplay: bool = False
    errors: list[str] = field(default_factory=list)

    def query_string_values(self) -> dict[str, str]:
        """The validated query as text, in a stable order (for snippets and oEmbed html)."""
        out = {name: _text(value) for name, value in self.values.items()}
        if self.controls is not None:
            out["controls"] = ",".join(self.controls) or "none"
        if self.autoplay:
            out["autoplay"] = "1"
        return out


def _text(value: object) -> str:
    return format(value, "g") if isinstance(value, float) else str(value)


def _typed(text: str) -> int | float | str:
    """Numbers become numbers; anything else stays text, so the engine's check names it as given."""
    if INTEGER.fullmatch(text):
        return int(text)
    if NUMBER.fullmatch(text):
        return float(text)
    return text


def _checked_values(
    query: Mapping[str, str], names: Iterable[str], check: Callable[..., object]
) -> tuple[dict, list[str]]:
    """The settings `names` found in `query`, each checked on its own by `check(**{name: value})`
    (the engine's one bounds table), so one bad value is reported by name and the good ones apply."""
    values, errors = {}, []
    for name in names:
        if name not in query:
            continue
        value = _typed(query[name].strip())
        setting: dict[str, Any] = {name: value}  # any value: `check` refuses what is wrong
        try:
            check(**setting)
        except ValueError as invalid:
            errors.append(f"{invalid}.")
            continue
        values[name] = value
    return values, errors


def race_values(query: Mapping[str, str]) -> tuple[dict, list[str]]:
    """The race settings in `query`, each checked by RaceSettings."""
    return _checked_values(query, RACE_QUERY, RaceSettings)


def digits_values(query: Mapping[str, str]) -> tuple[dict, list[str]]:
    """The live digits race's settings in `query`, each checked by DigitsSettings."""
    return _checked_values(query, DIGITS_QUERY, DigitsSettings)


def _speed(text: str, max_speed: int) -> tuple[int | None, str | None]:
    value = _typed(text.strip())
    problem = speed_problem(value, max_speed)
    if isinstance(value, int) and problem is None:
        return value, None
    return None, problem


def _goodness_theta(text: str) -> tuple[float | None, str | None]:
    low, high = GOODNESS_THETA_RANGE
    value = _typed(text.strip())
    ok = (
        isinstance(value, (int, float))
        and math.isfinite(value)
        and low <= value <= high
        and float(value / GOODNESS_THETA_STEP).is_integer()
    )
    if ok:
        return float(value), None
    return None, f"theta must be a multiple of {GOODNESS_THETA_STEP} in [{low}, {high}]; got {text!r}."


def _controls(widget: Widget, text: str) -> tuple[tuple[str, ...] | None, str | None]:
    words = [word.strip() for word in text.split(",") if word.strip()]
    if words in (["none"], []):
        return (), None
    if words == ["all"]:
        return None, None
    unknown = [word for word in words if word not in widget.controls]
    if unknown:
        return None, (
            f"controls must be all, none, or a comma-separated list of {', '.join(widget.controls)}; got {text!r}."
        )
    return tuple(dict.fromkeys(words)), None


def _autoplay(text: str) -> tuple[bool, str | None]:
    word = text.strip().lower()
    if word in TRUE_WORDS or word in FALSE_WORDS:
        return word in TRUE_WORDS, None
    return False, f"autoplay must be 1 or 0; got {text!r}."


def widget_query(widget: Widget, query: Mapping[str, str], *, max_speed: int) -> WidgetQuery:
    """Read one widget's settings. Parameters it doesn't know are ignored on purpose: hosts add
    their own (pym.js's childId, parentUrl, ...), and refusing them would break those hosts."""
    result = WidgetQuery(widget)
    if widget.slug == "race":
        result.values, result.errors = race_values(query)
        if "speed" in query:
            speed, error = _speed(query["speed"], max_speed)
            if error:
                result.errors.append(error)
            else:
                result.values["speed"] = speed
    if widget.slug == "digits":
        result.values, result.errors = digits_values(query)
    if widget.slug == "goodness" and "theta" in query:
        theta, error = _goodness_theta(query["theta"])
        if error:
            result.errors.append(error)
        else:
            result.values["theta"] = theta
    if "controls" in query:
        result.controls, error = _controls(widget, query["controls"])
        if error:
            result.errors.append(error)
    if "autoplay" in query:
        result.autoplay, error = _autoplay(query["autoplay"])
        if error:
            result.errors.append(error)
    return result


def allowed_parameters(widget: Widget, max_speed: int) -> list[tuple[str, str]]:
    """(parameter, what it accepts) for the error page, read from the same tables as the checks."""
    bounds = RaceSettings.bounds()
    rows = []
    for name in widget.settings:
        if name in RaceSettings.CHOICES and widget.slug == "race":
            rows.append((name, "one of " + ", ".join(RaceSettings.CHOICES[name])))
        elif name == "speed":
            rows.append((name, f"an integer in [1, {max_speed}]"))
        elif widget.slug == "digits" and name in DigitsSettings.CHOICES:
            rows.append((name, "one of " + ", ".join(DigitsSettings.CHOICES[name])))
        elif widget.slug == "digits":
            low, high = DigitsSettings.BOUNDS[name]
            rows.append((name, f"an integer in [{low}, {high}]"))
        elif widget.slug == "goodness" and name == "theta":
            low, high = GOODNESS_THETA_RANGE
            rows.append((name, f"a multiple of {GOODNESS_THETA_STEP} in [{low}, {high}]"))
        else:
            low, high, default = bounds[name]
            kind = "an integer" if isinstance(default, int) else "a number"
            rows.append((name, f"{kind} in [{low}, {high}]"))
    rows.append(("controls", "all, none, or a comma-separated list of " + ", ".join(widget.controls)))
    if widget.autoplay:
        rows.append(("autoplay", "1 or 0 (default 0)"))
    return rows
