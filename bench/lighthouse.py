"""Lighthouse (mobile profile, Debian's Chromium) on the article: performance, accessibility and
best-practices scores, and the metrics behind performance. A benchmark, never a test.

    python bench/lighthouse.py            # installs bench/lighthouse/ from its lockfile on first use

Needs Node.js and npm (the npm registry); lighthouse 12 is the last line that runs on Node 20."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from app.engine.cpu import cpu_model  # noqa: E402  (after the path fix, for a direct run)
from bench._browser import CHROMIUM_ARGS  # noqa: E402
from bench.page_bytes import start_server  # noqa: E402

TOOL = HERE / "lighthouse"
CHROME_FLAGS = " ".join(["--headless=new", *CHROMIUM_ARGS])
METRICS = (
    "first-contentful-paint",
    "largest-contentful-paint",
    "total-blocking-time",
    "cumulative-layout-shift",
    "speed-index",
)


def lighthouse_binary() -> Path:
    binary = TOOL / "node_modules" / ".bin" / "lighthouse"
    if not binary.exists():
        if not shutil.which("npm"):
            raise SystemExit("lighthouse needs Node.js and npm; neither is on PATH")
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=TOOL, check=True)
    return binary


def main() -> None:
    binary = lighthouse_binary()
    chromium = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
    process, base = start_server()
    try:
        with tempfile.TemporaryDirectory() as scratch:
            report = Path(scratch) / "report.json"
            subprocess.run(
                [
                    str(binary),
                    base + "/",
                    f"--chrome-path={chromium}",
                    f"--chrome-flags={CHROME_FLAGS}",
                    "--only-categories=performance,accessibility,best-practices",
                    "--output=json",
                    f"--output-path={report}",
                    "--quiet",
                ],
                check=True,
                timeout=300,
            )
            result = json.loads(report.read_text())
    finally:
        process.terminate()
        process.wait(timeout=30)
    print(
        f"# lighthouse {result['lighthouseVersion']}, {result['configSettings']['formFactor']} profile "
        f"(simulated throttling), {chromium} on {cpu_model()}"
    )
    print("| category | score |")
    print("| --- | ---: |")
    for category in result["categories"].values():
        print(f"| {category['title']} | {round(category['score'] * 100)} |")
    for name in METRICS:
        audit = result["audits"][name]
        print(f"- {audit['title']}: {audit['displayValue']}")
    failing = [
        audit["title"]
        for audit in result["audits"].values()
        if audit.get("score") is not None
        and audit["score"] < 0.9
        and audit.get("scoreDisplayMode") in ("binary", "numeric")
    ]
    if failing:
        print("- audits below 0.9: " + "; ".join(failing))


if __name__ == "__main__":
    main()
