"""docs/architecture.md's tree is the tree as it is: every module, script, stylesheet and template of
app/ has its line, everything the tree names exists, and each entry is one line (a name, then
what it is)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "architecture.md"
# Under app/: what the tree must list, file by file (data files are described by their folder's line).
LISTED = {"app": "*.py", "app/static": "*.js", "app/templates": "*.html", "app/static/css": "*.css"}
ENTRY = re.compile(r"(?P<indent>(?:  )*)(?P<name>\S+)(?: {2,}(?P<what>\S.*))?$")


def tree_lines(text: str) -> list[str]:
    """The lines of the doc's first fenced block: the tree."""
    block = re.search(r"^```\n(.*?)^```$", text, flags=re.S | re.M)
    assert block, "docs/architecture.md has no fenced tree"
    return block.group(1).splitlines()


def tree_entries(lines: list[str]) -> dict[str, str]:
    """{path relative to the repository: its description}, paths built from the indentation (two
    spaces a level, under the folder line above, whose name ends in '/')."""
    entries: dict[str, str] = {}
    folders: list[str] = []
    for number, line in enumerate(lines, start=1):
        match = ENTRY.fullmatch(line)
        assert match, f"tree line {number} is not `name  what it is` indented by two spaces a level: {line!r}"
        level = len(match["indent"]) // 2
        assert level <= len(folders), f"tree line {number} is indented below no folder: {line!r}"
        folders = folders[:level]
        path = "".join(folders) + match["name"]
        assert match["what"], f"tree line {number} ({path}) says nothing about it"
        assert path not in entries, f"{path} has two lines in the tree"
        entries[path] = match["what"]
        if path.endswith("/"):
            folders.append(match["name"])
        else:
            folders.append("")  # nothing may sit under a file: a deeper line then names a wrong path
    return entries


def test_the_tree_lists_every_module_script_stylesheet_and_template_of_the_package():
    listed = set(tree_entries(tree_lines(DOC.read_text())))
    missing = sorted(
        path.relative_to(ROOT).as_posix()
        for folder, pattern in LISTED.items()
        for path in (ROOT / folder).rglob(pattern)
        if "__pycache__" not in path.parts and path.relative_to(ROOT).as_posix() not in listed
    )
    assert not missing, f"in app/ but not in docs/architecture.md's tree: {missing}"


def test_everything_the_tree_names_exists():
    entries = tree_entries(tree_lines(DOC.read_text()))
    assert "app/engine/ff.py" in entries  # the parse found the tree's nesting
    wrong = [
        path for path in entries if not ((ROOT / path).is_dir() if path.endswith("/") else (ROOT / path).is_file())
    ]
    assert not wrong, f"docs/architecture.md's tree names what is not there: {wrong}"


def test_the_tree_parser_reads_nesting_and_refuses_a_continued_line():
    lines = [
        "app/        the package",
        "  web/      the web layer",
        "    pages.py  the article",
        "  config.py  settings",
    ]
    assert list(tree_entries(lines)) == ["app/", "app/web/", "app/web/pages.py", "app/config.py"]
    continued = [
        "app/        the package",
        "  config.py  the one settings table, whose text goes on",
        "             here",
    ]
    with pytest.raises(AssertionError, match="line 3"):
        tree_entries(continued)
