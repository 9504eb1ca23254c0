"""Fingerprints of races, to show an engine change leaves every float64 result bit-for-bit alone.

    python scripts/race_fingerprint.py --write before.json     # on the old code
    python scripts/race_fingerprint.py --compare before.json   # on the new code: lists differences
    python scripts/race_fingerprint.py --kernel columns ...    # the default kernel instead of "rows"

Races are built with `kernel="rows"` (the float64 layout kept bit for bit; app/engine/race.py)
unless --kernel says otherwise; code from before the kernels existed has only that layout.

For several settings and seeds it records, at a few steps, a hash of every net's parameters (the
optimizer state shows in the next checkpoint's), every snapshot field (grids and layer maps as
hashes of their bytes), the frame text the server would send, `train_accuracies()` and `infer()`
at a few points, and for the default settings `run_to_end`'s steps to 95%. Floats are recorded
with `float.hex`, so "equal" means the same bits."""

from __future__ import annotations

import argparse
import hashlib
import inspect
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.engine.race import Race, RaceSettings, run_to_end  # noqa: E402

SETTINGS = [
    RaceSettings(),
    RaceSettings(dataset="spiral", hidden_sizes=(8, 6, 5), grid_size=12),
    RaceSettings(dataset="xor", hidden_sizes=(7,), theta=0.5),
    RaceSettings(dataset="moons", optimizer="sgd", learning_rate=0.1),
    RaceSettings(ff_schedule="joint", ff_input_normalization="none", ff_inference="skip-first"),
    RaceSettings(ff_input_normalization="length", ff_inference="first", init_stream=3, noise=0.1),
]
SEEDS = (0, 1, 7, 123456)
CHECK_AT = (0, 1, 10, 100, 300)
POINTS = ((0.0, 0.0), (0.85, 0.0), (-0.3, 0.61), (1.4, -1.4))


def digest(*arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str((a.dtype, a.shape)).encode())
        h.update(a.tobytes())
    return h.hexdigest()[:20]


def exact(value):
    """Floats as hex (their exact bits), recursively through lists, tuples and dicts."""
    if isinstance(value, (float, np.floating)):
        return float(value).hex()
    if isinstance(value, (list, tuple)):
        return [exact(v) for v in value]
    if isinstance(value, dict):
        return {k: exact(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return digest(value)
    return value


def weights(race: Race) -> dict:
    return {"ff": digest(*(layer.params for layer in race.ff.layers)), "backprop": digest(*race.backprop.params)}


def snapshot_fields(race: Race) -> dict:
    snap = race.snapshot(grid=True)
    out = {name: exact(getattr(snap, name)) for name in snap.__dataclass_fields__ if name not in ("ff", "backprop")}
    out["ff"] = exact(list(vars(snap.ff).values()))
    out["backprop"] = exact(list(vars(snap.backprop).values()))
    short = race.snapshot(grid=False)
    out["short"] = exact(
        [
            list(vars(short.ff).values()),
            list(vars(short.backprop).values()),
            short.goodness_positive,
            short.goodness_negative,
        ]
    )
    try:
        from app.web.frames import frame_text

        out["frame"] = hashlib.sha256(frame_text(snap, race.settings.steps, race.settings.theta).encode()).hexdigest()[
            :20
        ]
    except ImportError:
        pass
    out["grids"] = exact(list(race.decision_grids()))
    out["train_accuracies"] = exact(list(race.train_accuracies()))
    out["infer"] = [exact(vars(race.infer(x, y))) for x, y in POINTS]
    return out


def make_race(settings: RaceSettings, kernel: str) -> Race:
    if "kernel" in inspect.signature(Race).parameters:
        return Race(settings, kernel=kernel)  # type: ignore[call-arg]
    if kernel != "rows":
        raise SystemExit("this checkout's Race has only the row layout")
    return Race(settings)


def fingerprint(kernel: str = "rows") -> dict:
    result = {}
    for settings in SETTINGS:
        for seed in SEEDS:
            s = settings.replace(seed=seed)
            race = make_race(s, kernel)
            entry = {}
            for step in CHECK_AT:
                while race.step_count < step:
                    race.step()
                entry[str(step)] = {"weights": weights(race), **snapshot_fields(race)}
            result[repr(s)] = entry
    for seed in SEEDS:
        run = run_to_end(make_race(RaceSettings(seed=seed), kernel))
        result[f"run_to_end seed={seed}"] = run.steps_to_target
    return result


def differences(old, new, path="") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for key in sorted(set(old) | set(new)):
            if key not in old or key not in new:
                out.append(f"{path}/{key}: only in {'new' if key in new else 'old'}")
            else:
                out += differences(old[key], new[key], f"{path}/{key}")
        return out
    return [] if old == new else [f"{path}: {old!r} -> {new!r}"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--write", type=Path)
    group.add_argument("--compare", type=Path)
    parser.add_argument("--verbose", action="store_true", help="print every difference in full")
    parser.add_argument("--kernel", default="rows", choices=("rows", "columns"), help="the races' kernel (rows)")
    args = parser.parse_args()
    now = fingerprint(args.kernel)
    if args.write:
        args.write.write_text(json.dumps(now, indent=1, sort_keys=True))
        print(f"wrote {len(now)} races to {args.write}")
        return 0
    found = differences(json.loads(args.compare.read_text()), json.loads(json.dumps(now)))
    checked = sum(1 for key in now if not key.startswith("run_to_end"))
    print(
        f"{checked} races x {len(CHECK_AT)} steps and {len(SEEDS)} runs to the end compared: {len(found)} differences"
    )
    fields: dict[str, int] = {}
    for line in found:
        field = line.split(":", 1)[0].rsplit("/", 1)[-1]
        fields[field] = fields.get(field, 0) + 1
    for field, count in sorted(fields.items()):
        print(f"  {field}: {count} differ")
    if args.verbose:
        for line in found:
            print("  " + line)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
