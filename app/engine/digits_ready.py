"""The live digits figure's network, and a ready-trained copy of it that ships with the app.

The drawing pad must answer the moment the page opens, before any reader has trained anything, so
the repository carries the weights of one finished run: LIVE_SETTINGS (784-200-200, the recipe of
app.engine.digits otherwise unchanged) at seed 0, trained to its end by scripts/make_ready_digits.py,
stored as float16 (the nets compute in float32 and float64; float16 weights change no held-out
answer, see docs/digits.md) in app/engine/data/digits_ready.npz, checked by its sha256.

Why 200-200 rather than the engine's 500-500 default: the live figure streams one minibatch and one
held-out check per frame, 20 frames a second, for every run being watched, on a 2-core server;
docs/digits.md has the measured costs and errors of 100-100 to 500-500.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from app.engine.digits import DigitsRun, DigitsSettings
from app.engine.mnist import DigitData, file_sha256, load_sample, write_npz

LIVE_HIDDEN = (200, 200)
LIVE_SETTINGS = DigitsSettings(hidden=LIVE_HIDDEN)
READY_SEED = 0
READY_PATH = Path(__file__).resolve().parent / "data" / "digits_ready.npz"
# sha256 of the committed file; scripts/make_ready_digits.py prints it.
READY_SHA256 = "8c78eaf3a6aedfd89bc96cb412c1cb9b02dac83b2e3c28d8fb718f4926ca67b7"


def ready_arrays(run: DigitsRun) -> dict[str, np.ndarray]:
    """What the file stores: every weight matrix as float16, and the settings' seed and epochs."""
    arrays = {name: matrix.astype(np.float16) for name, matrix in run.weights().items()}
    arrays["seed"] = np.array(run.settings.seed, dtype=np.int64)
    arrays["batches"] = np.array(run.batches_done, dtype=np.int64)
    return arrays


def train_ready(seed: int = READY_SEED, data: DigitData | None = None) -> DigitsRun:
    run = DigitsRun(LIVE_SETTINGS.replace(seed=seed), data)
    while not run.done:
        run.train_epoch()
    return run


def write_ready(path: Path = READY_PATH, seed: int = READY_SEED) -> DigitsRun:
    """Train, and write the weights with the held-out errors of the stored (float16) weights, which
    the article quotes (tests/unit/test_digits_ready.py recomputes them from the file)."""
    run = train_ready(seed)
    arrays = ready_arrays(run)
    stored = DigitsRun(run.settings, run.data)
    stored.load_weights({name: arrays[name] for name in run.weights()})
    errors = stored.evaluate(full=True)
    arrays["test_error_ff"] = np.array(errors.ff_error, dtype=np.float64)
    arrays["test_error_backprop"] = np.array(errors.backprop_error, dtype=np.float64)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_npz(path, arrays)
    return run


@dataclass(frozen=True)
class ReadyFacts:
    """What the page says about the ready network (from the file)."""

    seed: int
    hidden: tuple[int, ...]
    epochs: int
    batches: int
    test_error_ff: float
    test_error_backprop: float


@lru_cache(maxsize=1)
def ready_facts(path: Path = READY_PATH) -> ReadyFacts:
    with np.load(path, allow_pickle=False) as archive:
        scalar = {
            name: archive[name].reshape(-1)[0] for name in ("seed", "batches", "test_error_ff", "test_error_backprop")
        }
    return ReadyFacts(
        int(scalar["seed"]),
        LIVE_HIDDEN,
        LIVE_SETTINGS.epochs,
        int(scalar["batches"]),
        float(scalar["test_error_ff"]),
        float(scalar["test_error_backprop"]),
    )


def read_ready(path: Path = READY_PATH, data: DigitData | None = None) -> DigitsRun:
    """A DigitsRun of LIVE_SETTINGS holding the file's weights (its training state is fresh: it is
    for inference, not for training on)."""
    with np.load(path, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    seed = int(arrays.pop("seed").reshape(-1)[0])
    for name in ("batches", "test_error_ff", "test_error_backprop"):
        arrays.pop(name)
    run = DigitsRun(LIVE_SETTINGS.replace(seed=seed), data)
    run.load_weights(arrays)
    return run


@lru_cache(maxsize=1)
def ready_run() -> DigitsRun:
    """The shipped network, loaded once per process (about 0.1 s)."""
    return read_ready(READY_PATH, load_sample())


def ready_file_sha256() -> str:
    return file_sha256(READY_PATH)
