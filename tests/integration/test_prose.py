"""The article's prose is our own: no run of ten consecutive words of the rendered pages' visible text
may also appear in the source article the project was built from (../shared/seed/000_*.txt).

Facts and figures carry over from the source; sentences do not. The pages are rendered by the real
app, so the widgets' partials and everything the templates compute count too. Citations (the
references and credits footer) are left out: a paper's title is quoted, not written.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import unicodedata
from html.parser import HTMLParser
from pathlib import Path

import pytest

from app.engine.cpu import cpu_model
from app.engine.race import Race, RaceSettings
from app.web import scorecard
from app.web.widget_settings import WIDGETS

ROOT = Path(__file__).resolve().parents[2]
SEED_DIR = ROOT.parent / "shared" / "seed"
RUN = 10  # words

# Elements whose content a reader never sees as text, and the citations aside.
SKIPPED = {"script", "style", "template", "noscript", "head"}
SKIPPED_CLASSES = {("footer", "references")}
# Elements that separate words: text on either side of them never runs together into one word.
BLOCKS = {
    "address",
    "article",
    "aside",
    "blockquote",
    "br",
    "caption",
    "dd",
    "details",
    "dialog",
    "div",
    "dl",
    "dt",
    "fieldset",
    "figcaption",
    "figure",
    "footer",
    "form",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "hr",
    "li",
    "main",
    "nav",
    "ol",
    "option",
    "output",
    "p",
    "section",
    "select",
    "summary",
    "table",
    "tbody",
    "td",
    "tfoot",
    "th",
    "thead",
    "tr",
    "ul",
    "button",
    "label",
    "legend",
    "canvas",
    "svg",
    "img",
    "input",
    "textarea",
    "meter",
    "progress",
}

DASHES = dict.fromkeys(map(ord, "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d"), "-")
QUOTES = {
    **dict.fromkeys(map(ord, "\u2018\u2019\u201a\u201b\u2032\uff07`"), "'"),
    **dict.fromkeys(map(ord, "\u201c\u201d\u201e\u201f\u2033\uff02"), '"'),
}
# A word: letters and digits, with an apostrophe, hyphen, full stop or comma kept only *inside* it
# ("don't", "forward-only", "1.36", "2,000"); every other character separates words.
WORD = re.compile(r"[^\W_]+(?:['\-.,][^\W_]+)*")


def words(text: str) -> list[str]:
    text = unicodedata.normalize("NFKC", text).translate(DASHES).translate(QUOTES).lower()
    return WORD.findall(text)


class VisibleText(HTMLParser):
    """The text a reader sees in <body>: skipped elements' content dropped, blocks kept apart."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping: list = []  # [tag, open count] while inside a skipped element

    def handle_starttag(self, tag, attrs):
        if self.skipping:
            if tag == self.skipping[0]:
                self.skipping[1] += 1
            return
        classes = set((dict(attrs).get("class") or "").split())
        if tag in SKIPPED or any(tag == name and cls in classes for name, cls in SKIPPED_CLASSES):
            self.skipping = [tag, 1]
        elif tag in BLOCKS:
            self.parts.append("\n")

    def handle_startendtag(self, tag, attrs):
        if not self.skipping and tag in BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if self.skipping:
            if tag == self.skipping[0]:
                self.skipping[1] -= 1
                if self.skipping[1] == 0:
                    self.skipping = []
            return
        if tag in BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data):
        if not self.skipping:
            self.parts.append(data)


def visible_text(html: str) -> str:
    parser = VisibleText()
    parser.feed(html)
    parser.close()
    return "".join(parser.parts)


def shared_runs(page: list[str], source_runs: set[tuple[str, ...]], n: int = RUN) -> list[str]:
    """Every maximal stretch of `page` all of whose n-word windows occur in the source."""
    hits = [i for i in range(len(page) - n + 1) if tuple(page[i : i + n]) in source_runs]
    stretches: list[list[int]] = []
    for i in hits:
        if stretches and i <= stretches[-1][1]:
            stretches[-1][1] = i + n
        else:
            stretches.append([i, i + n])
    return [" ".join(page[start:end]) for start, end in stretches]


def test_words_are_normalised_alike():
    assert words("Don\u2019t \u201cpush\u201d G \u2014 it's 1.36%, 2,000 units; forward\u2013only.") == [
        "don't",
        "push",
        "g",
        "it's",
        "1.36",
        "2,000",
        "units",
        "forward-only",
    ]


def test_visible_text_drops_what_a_reader_never_reads():
    html = (
        "<html><head><title>T</title></head><body><p>one <em>two</em></p><script>x()</script>"
        "<style>p{}</style><template><p>hidden</p></template><noscript>n</noscript>"
        "<footer class='references'><p>cited <footer>inner</footer> words</p></footer>"
        "<td>three</td><td>four</td><br>five</body></html>"
    )
    assert words(visible_text(html)) == ["one", "two", "three", "four", "five"]


def test_shared_runs_are_merged_into_maximal_stretches():
    source = "a b c d e f g".split()
    runs = {tuple(source[i : i + 3]) for i in range(len(source) - 2)}
    assert shared_runs("x a b c d y b c d z".split(), runs, n=3) == ["a b c d", "b c d"]
    assert shared_runs("x y z".split(), runs, n=3) == []


def source_article() -> list[str]:
    found = sorted(SEED_DIR.glob("000_*.txt")) if SEED_DIR.is_dir() else []
    if not found:
        pytest.skip(
            f"the source article is not here ({SEED_DIR}/000_*.txt is missing, as on a "
            "developer's machine without the shared folder), so there is nothing to compare against"
        )
    return words(found[0].read_text(encoding="utf-8"))


PAGES = ["/"] + [f"/embed/{slug}" for slug in WIDGETS]


def test_no_ten_word_run_of_the_source_article_appears_on_any_page(client):
    source = source_article()
    source_runs = {tuple(source[i : i + RUN]) for i in range(len(source) - RUN + 1)}
    report = []
    for path in PAGES:
        response = client.get(path)
        assert response.status_code == 200, path
        page = words(visible_text(response.text))
        assert len(page) > 20, f"{path} shows almost no text: the extraction is broken"
        report += [f"{path}: \u201c{run}\u201d" for run in shared_runs(page, source_runs)]
    assert not report, (
        f"{len(report)} run(s) of {RUN}+ words shared with the source article; "
        "say these in the page's own words:\n" + "\n".join(report)
    )


# Text the scripts build (readouts, milestones, announcements) never reaches the server-rendered
# HTML above: every string literal of app/static/js is checked instead, each literal on its own and
# a template literal's ${...} parts as breaks between words.
JS_STRING = re.compile(r"""`(?:[^`\\]|\\.)*`|"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'""", re.S)


def script_texts() -> list[list[str]]:
    texts = []
    for path in sorted((ROOT / "app" / "static" / "js").rglob("*.js")):
        source = re.sub(r"/\*.*?\*/|(?<![:\\])//[^\n]*", " ", path.read_text(), flags=re.S)
        for literal in JS_STRING.findall(source):
            parts = re.split(r"\$\{[^}]*\}", literal[1:-1])
            texts += [words(part) for part in parts]
    return texts


def test_script_strings_are_found():
    texts = [" ".join(t) for t in script_texts()]
    assert any("held out" in text or "held-out" in text for text in texts)
    assert len(texts) > 200


def test_no_ten_word_run_of_the_source_article_appears_in_the_scripts_text():
    source = source_article()
    source_runs = {tuple(source[i : i + RUN]) for i in range(len(source) - RUN + 1)}
    report = [f"\u201c{run}\u201d" for text in script_texts() for run in shared_runs(text, source_runs)]
    assert not report, f"script text shared with the source article: {report}"


# --- the figures the prose quotes come from the engine's own files, and the page survives without them


def test_the_race_results_table_is_rendered_from_the_recipe_measurement(client):
    from app.web.measured import measured_figures

    recipe = measured_figures().get("datasets")
    if not recipe:
        pytest.skip("app/web/datasets.json is missing: the page leaves the table out")
    html = client.get("/").text
    for row in recipe["datasets"]:
        cells = [
            f"{net['mean'] * 100:.1f}% ({net['min'] * 100:.1f}%)"
            for net in (row["ff"], row["backprop"], *row["ff_layers"])
        ]
        start = html.index(f'<tr data-dataset="{row["dataset"]}">')
        shown = words(visible_text(html[start : html.index("</tr>", start)]))
        assert all(" ".join(words(cell)) in " ".join(shown) for cell in cells), (row["dataset"], shown)
    assert recipe["command"] in html


def test_claims_the_article_no_longer_makes(client):
    text = " ".join(words(visible_text(client.get("/").text)))
    for claim in (
        "much the same boundary",
        "small fully connected nets",
        "cifar",
        "find something new",
        "add something of its own",
    ):
        assert claim not in text, claim
    assert "1.36" in text and "2,000 relus" in text and "60 epochs" in text


def test_the_article_renders_without_the_measured_files(make_client, monkeypatch):
    monkeypatch.setattr("app.web.pages.measured_figures", lambda: {})
    response = make_client().get("/")
    assert response.status_code == 200
    assert 'data-results="datasets"' not in response.text
    assert 'data-measure="steps-to-95"' in response.text  # the start-up single run stands in


# --- the scorecard's measured rows: the machine, the command that measures them again, the work


def scorecard_note(page: str) -> str:
    start = page.rindex("<p", 0, page.index('data-scorecard="provenance"'))
    return " ".join(words(visible_text(page[start : page.index("</p>", start)])))


def test_the_scorecard_names_the_machine_and_the_command_behind_its_figures(client):
    note = scorecard_note(client.get("/").text)
    assert " ".join(words(f"on {cpu_model()} ({os.cpu_count()} CPUs)")) in note
    assert " ".join(words(scorecard.COMMAND)) in note
    figures = client.get("/api/scorecard").json()
    assert (figures["cpu"], figures["cpus"], figures["command"]) == (cpu_model(), os.cpu_count(), scorecard.COMMAND)


def test_the_scorecards_command_reproduces_its_figures(client):
    """The command the page names measures the same figures (the times aside, which vary)."""
    served = client.get("/api/scorecard").json()
    command = scorecard.COMMAND.split()
    assert command[:3] == ["python", "-m", "app"]
    run = subprocess.run(
        [sys.executable, *command[1:], "--", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    measured = json.loads(run.stdout[run.stdout.index("{") :])  # after the runner's "== bench/..." line
    for name in ("peak_bytes_per_step", "steps_to_95_percent", "target_accuracy", "step_points", "trace_network"):
        assert measured[name] == served[name], name
    assert measured["cpu"] == served["cpu"] and measured["command"] == served["command"]
    assert measured["ff_step_microseconds"] > 0 and measured["backprop_step_microseconds"] > 0


def test_the_scorecard_says_an_ff_step_updates_every_layer_twice(client, monkeypatch):
    """The page's sentence, and the engine doing what it says: in one race step FF's optimizer
    updates its whole net twice (a positive pass, then a negative pass), backprop's once."""
    race = Race(RaceSettings())
    updates = {"ff": 0, "backprop": 0}
    for name in updates:
        optimizer = getattr(race, name).optimizer
        real = optimizer.update

        def counted(*args, name=name, real=real):
            updates[name] += 1
            return real(*args)

        monkeypatch.setattr(optimizer, "update", counted)
    race.step()
    assert updates == {"ff": 2, "backprop": 1}
    note = scorecard_note(client.get("/").text)
    for said in (
        "one FF step is a positive pass and a negative pass over the batch, so it updates every layer twice",
        "while a backprop step updates each layer once",
    ):
        assert " ".join(words(said)) in note, said
