"""A self-contained package (issue 12.6): the built wheel, installed on its own, serves the article and
its static files from any working directory; and the Dockerfile installs the dependencies before it
copies the code, so a code edit reuses the dependency layer."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import urllib.request
import zipfile
from pathlib import Path

import pytest

from integration.conftest import serve_in_subprocess

ROOT = Path(__file__).resolve().parents[2]
# What the wheel is built from: what the Dockerfile copies before its `pip install .`.
SOURCES = ("pyproject.toml", "README.md", "app")


def build_wheel(into: Path) -> Path:
    """The project's wheel, built from a copy of its sources under `into` (so nothing is written in
    the repository: no build/, no egg-info), without build isolation (offline)."""
    source = into / "source"
    source.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(ROOT / name, source / name)
    wheels = into / "wheels"
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
            str(wheels),
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    (wheel,) = wheels.glob("*.whl")
    return wheel


def get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.read()


def test_the_installed_wheel_serves_the_article_and_its_static_files_from_any_directory(tmp_path):
    wheel = build_wheel(tmp_path)
    names = set(zipfile.ZipFile(wheel).namelist())
    for directory in ("templates", "static"):  # pyproject's package data: every file, not only the linked ones
        files = [p for p in (ROOT / "app" / directory).rglob("*") if p.is_file() and "__pycache__" not in p.parts]
        assert files
        missing = [str(p.relative_to(ROOT)) for p in files if p.relative_to(ROOT).as_posix() not in names]
        assert not missing, f"not in the wheel: {missing}"
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-compile", "-q", "--target", str(site), str(wheel)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    elsewhere = tmp_path / "elsewhere"  # no app/, no templates, no static files here
    elsewhere.mkdir()
    # The installed copy comes first on the path (the dependencies are this environment's); no
    # setting points at templates or static files.
    env = {k: v for k, v in os.environ.items() if k not in ("FF_TEMPLATES_DIR", "FF_STATIC_DIR", "PYTHONPATH")}
    env["PYTHONPATH"] = str(site)
    found = subprocess.run(
        [sys.executable, "-c", "import app; print(app.__file__)"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert Path(found.stdout.strip()).parent == site / "app", "the test would not run the installed copy"

    server, base = serve_in_subprocess(log_path=tmp_path / "server.log", cwd=elsewhere, environ=env)
    try:
        status, page = get(base + "/")
        assert status == 200 and b"<html" in page
        assets = re.findall(r'(?:href|src)="(/static/[^"]+)"', page.decode())
        assert any(a.endswith(".css") for a in assets) and any(a.endswith(".js") for a in assets), assets
        for asset in [next(a for a in assets if a.endswith(".css")), next(a for a in assets if a.endswith(".js"))]:
            status, body = get(base + asset)
            relative = re.sub(r"^/static/(?:v/[^/]+/)?", "", asset)
            assert status == 200 and body == (site / "app" / "static" / relative).read_bytes(), asset
        status, body = get(base + "/static/embed.js")  # the stable address host pages use
        assert status == 200 and body == (site / "app" / "static" / "embed.js").read_bytes()
    finally:
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(5)


# -- the Dockerfile's layers -------------------------------------------------------------------


def instructions(dockerfile: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, its arguments) in order: comments dropped, `\\` continuations joined."""
    joined = re.sub(r"\\\n", " ", re.sub(r"^\s*#[^\n]*\n", "", dockerfile, flags=re.M))
    found = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, arguments = line.strip().partition(" ")
            found.append((keyword.upper(), arguments.strip()))
    return found


def copied(arguments: str) -> list[str]:
    """The sources of a COPY/ADD (its options and its destination left out)."""
    words = [w for w in shlex.split(arguments) if not w.startswith("--")]
    return words[:-1]


def dependency_layer_problems(dockerfile: str) -> list[str]:
    """Why a code edit would not reuse the dependency layer (empty when it would): the dependencies
    must be installed by a RUN that comes after a COPY of pyproject.toml and before any COPY of the
    code, and the package itself installed afterwards without dependencies."""
    steps = instructions(dockerfile)
    installs = [i for i, (k, a) in enumerate(steps) if k == "RUN" and "pip install" in a]
    dependencies = [i for i in installs if "--no-deps" not in steps[i][1]]
    if not dependencies:
        return ["no RUN installs the dependencies"]
    first = dependencies[0]
    problems = []
    before = [source for k, a in steps[:first] if k in ("COPY", "ADD") for source in copied(a)]
    if "pyproject.toml" not in before:
        problems.append("the dependencies are installed before pyproject.toml is copied")
    problems += [
        f"{source} is copied before the dependencies are installed" for source in before if source != "pyproject.toml"
    ]
    after = [
        (i, source) for i, (k, a) in enumerate(steps) if i > first and k in ("COPY", "ADD") for source in copied(a)
    ]
    code = [i for i, source in after if source in ("app", "app/", ".")]
    if not code:
        problems.append("the code is never copied after the dependencies")
    elif not any(i > code[0] and "--no-deps" in steps[i][1] for i in installs):
        problems.append("the package is not installed (without dependencies) after the code is copied")
    return problems


def test_the_dockerfile_installs_the_dependencies_before_it_copies_the_code():
    assert dependency_layer_problems((ROOT / "Dockerfile").read_text()) == []


@pytest.mark.parametrize(
    "dockerfile",
    [
        "FROM python:3.11-slim\nCOPY . .\nRUN pip install .\n",
        "FROM python:3.11-slim\nCOPY pyproject.toml ./\nCOPY app ./app\n# deps\nRUN pip install \\\n  -r req.txt\n"
        "RUN pip install --no-deps .\n",
        "FROM python:3.11-slim\nCOPY pyproject.toml ./\nRUN pip install -r req.txt\nCOPY app ./app\n",
    ],
    ids=["code-first", "code-before-dependencies", "package-never-installed"],
)
def test_the_layer_check_refuses_an_order_that_rebuilds_the_dependencies(dockerfile):
    assert dependency_layer_problems(dockerfile)
