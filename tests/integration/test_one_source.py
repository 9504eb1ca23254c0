"""One source for what the server and the page share (issue 12): the page reads the race's linked
settings, its milestone and the goodness widget's step cap from the server's own constants, embed.js
keeps no copy of the widget names, and the package carries its templates and static files."""

from __future__ import annotations

import html
import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import app
from app.config import Settings
from app.engine.demos import GOODNESS_MAX_STEPS
from app.engine.race import TARGET_ACCURACY
from app.web.widget_settings import RACE_QUERY, WIDGETS

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


def test_the_wheel_carries_every_template_and_static_file(tmp_path):
    """`pip install` of the wheel gives a server that runs from any directory: every file under
    app/templates and app/static is in it (pyproject's package data)."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        timeout=240,
    )
    (wheel,) = tmp_path.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for directory in ("templates", "static"):
        files = [p for p in (PACKAGE / directory).rglob("*") if p.is_file() and "__pycache__" not in p.parts]
        assert files
        missing = [str(p.relative_to(ROOT)) for p in files if p.relative_to(ROOT).as_posix() not in names]
        assert not missing, f"not in the wheel: {missing}"
