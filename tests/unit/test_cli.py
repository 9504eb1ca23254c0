"""The race and bench commands, run as a user would: in a subprocess."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_app(*args, timeout=120):
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def test_help_lists_every_command():
    out = run_app("--help").stdout
    for command in ("serve", "race", "bench"):
        assert command in out


def test_race_json_has_the_documented_shape():
    result = run_app("race", "--seed", "2", "--steps", "150", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert set(report) == {"dataset", "seed", "steps", "train_seconds", "ff", "backprop"}
    assert (report["dataset"], report["seed"], report["steps"]) == ("disk-ring", 2, 150)
    assert report["train_seconds"] > 0
    for net in ("ff", "backprop"):
        assert set(report[net]) == {"train_accuracy", "test_accuracy", "steps_to_95"}
        steps_to_95 = report[net]["steps_to_95"]
        assert steps_to_95 is None or 1 <= steps_to_95 <= 150


def test_steps_to_95_is_null_when_never_reached():
    report = json.loads(run_app("race", "--steps", "1", "--json", "--learning-rate", "0.0001").stdout)
    assert report["ff"]["steps_to_95"] is None


def test_race_summary_without_json_has_no_progress_bar_when_piped():
    result = run_app("race", "--steps", "20")
    assert result.returncode == 0
    assert "Forward-Forward" in result.stdout and "Backprop" in result.stdout
    assert "\r" not in result.stdout


@pytest.mark.parametrize(
    "args, parameter",
    [
        (["--dataset", "nope"], "dataset"),
        (["--steps", "0"], "steps"),
        (["--theta", "-2"], "theta"),
        (["--theta", "0"], "theta"),
        (["--learning-rate", "9"], "learning_rate"),
        (["--seed", "-1"], "seed"),
    ],
)
def test_bad_race_arguments_give_one_line_and_exit_code_2(args, parameter):
    result = run_app("race", *args)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and parameter in lines[0]
    assert "Traceback" not in result.stderr


def test_bench_runs_scripts_in_name_order(tmp_path, monkeypatch):
    from app.commands import bench

    for name in ("b_second.py", "a_first.py", "_helper.py"):
        (tmp_path / name).write_text("import sys; print(__file__.rsplit('/', 1)[-1], sys.argv[1:])\n")
    monkeypatch.setattr(bench, "BENCH_DIR", tmp_path)
    assert [p.name for p in bench.scripts()] == ["a_first.py", "b_second.py"]
    with pytest.raises(ValueError, match="--only"):
        bench.scripts(["missing"])


def test_bench_forwards_arguments_to_its_scripts(tmp_path, monkeypatch, capfd):
    from app.commands import bench

    (tmp_path / "echo.py").write_text("import sys; print('got', sys.argv[1:])\n")
    monkeypatch.setattr(bench, "BENCH_DIR", tmp_path)
    parser = __import__("argparse").ArgumentParser()
    bench.configure(parser)
    assert bench.run(parser.parse_args(["--", "--quick"])) == 0
    assert "got ['--quick']" in capfd.readouterr().out
