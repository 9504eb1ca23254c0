"""How the test suite and the benchmarks launch a browser: Debian's Chromium (or $CHROMIUM_PATH),
never Playwright's own download, with the flags this machine needs (no sandbox as root, no GPU,
no background traffic)."""

from __future__ import annotations

import os
import shutil

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def find_chromium() -> str | None:
    """The first executable of $CHROMIUM_PATH, chromium, chromium-browser, google-chrome; None if none."""
    candidates = [
        os.environ.get("CHROMIUM_PATH"),
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
        shutil.which("google-chrome"),
    ]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def chromium_path() -> str:
    """find_chromium(), or an error that says how to get one."""
    found = find_chromium()
    if found is None:
        raise RuntimeError("Chromium not found: run `make chromium` (Debian) or set CHROMIUM_PATH")
    return found
