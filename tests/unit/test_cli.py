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


# --- a bad command line, whatever the command: one line on stderr, exit code 2 -----------------

BAD_COMMAND_LINES = [
    (["digits", "--bogus"], "python -m app digits", "--bogus"),
    (["digits", "--epochs"], "python -m app digits", "--epochs"),
    (["digits", "--negatives", "wrong"], "python -m app digits", "negatives"),
    (["digits", "--json", "stray"], "python -m app digits", "stray"),
    (["race", "--bogus"], "python -m app race", "--bogus"),
    (["race", "--steps"], "python -m app race", "--steps"),
    (["race", "--steps", "many"], "python -m app race", "many"),
    (["serve", "--bogus"], "python -m app serve", "--bogus"),
    (["serve", "--port", "x"], "python -m app serve", "--port"),
    (["serve", "--workers", "0"], "python -m app serve", "workers"),
    (["serve", "--port", "99999"], "python -m app serve", "--port"),
    (["serve", "--port", "-1"], "python -m app serve", "--port"),
    (["bench", "--only", "nope"], "python -m app bench", "nope"),
    (["bench", "--only"], "python -m app bench", "--only"),
    ([], "python -m app", "COMMAND"),
    (["nope"], "python -m app", "nope"),
]


def assert_one_line_error(returncode, out, err, prog, word):
    assert returncode == 2
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"{prog}: error: ") and word in lines[0]
    assert "usage:" not in err and "Traceback" not in err
    assert out == ""


@pytest.mark.parametrize("argv, prog, word", BAD_COMMAND_LINES)
def test_a_bad_command_line_is_one_line_and_exit_code_2(argv, prog, word, capsys):
    from app.__main__ import main

    code = main(argv)
    captured = capsys.readouterr()
    assert_one_line_error(code, captured.out, captured.err, prog, word)


@pytest.mark.parametrize("argv, prog, word", [BAD_COMMAND_LINES[0], BAD_COMMAND_LINES[5]])
def test_a_bad_command_line_is_one_line_through_the_real_entry_point(argv, prog, word):
    result = run_app(*argv)
    assert_one_line_error(result.returncode, result.stdout, result.stderr, prog, word)


def test_help_still_prints_usage_and_exits_0():
    result = run_app("digits", "--help")
    assert result.returncode == 0 and "usage: python -m app digits" in result.stdout and result.stderr == ""


# --- digits: progress on stderr, stdout clean ------------------------------------------------------

# The smallest run the command allows that still has several minibatches per epoch.
TINY_DIGITS = ("digits", "--epochs", "2", "--hidden", "8", "--batch", "400", "--json")


def test_digits_progress_is_plain_lines_on_stderr_when_it_is_not_a_terminal():
    result = run_app(*TINY_DIGITS)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)  # stdout holds the JSON object and nothing else
    assert report["epochs"] == 2
    lines = result.stderr.splitlines()
    assert "\r" not in result.stderr and "\033" not in result.stderr
    done = [line for line in lines if " done, " in line]
    assert [line.split(",")[0] for line in done] == ["digits: epoch 1/2 done", "digits: epoch 2/2 done"]
    assert done[-1].split(", ")[1] == "100% of the minibatches"
    assert all(line.startswith("digits: epoch ") for line in lines)


def test_digits_draws_a_bar_on_a_terminal_and_keeps_stdout_clean():
    import re
    import select
    import time

    master, slave = os.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "app", *TINY_DIGITS],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=slave,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    os.close(slave)
    terminal = b""
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 1.0)
            if not ready:
                if process.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the child closed the terminal's other end
                break
            if not chunk:
                break
            terminal += chunk
        out, _ = process.communicate(timeout=60)
    finally:
        os.close(master)
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, terminal
    assert json.loads(out)["epochs"] == 2  # the bar never reaches stdout
    text = terminal.decode()
    bars = re.findall(r"\r\[(#*)(\.*)\] epoch +(\d+\.\d\d)/2", text)
    assert bars, text
    assert all(len(filled) + len(empty) == 30 for filled, empty, _ in bars)
    assert ("#" * 30, "", "2.00") in bars  # drawn at the end of the last epoch
    assert text.endswith("\r\033[K")  # and wiped before the program ends


def test_serving_beyond_loopback_without_a_public_origin_warns_the_operator(monkeypatch, capsys):
    import uvicorn

    from app.__main__ import main

    served: list[str] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: served.append(options["host"]))
    monkeypatch.delenv("FF_PUBLIC_ORIGIN", raising=False)
    assert main(["serve", "--host", "0.0.0.0", "--port", "0"]) == 0
    assert "without FF_PUBLIC_ORIGIN" in capsys.readouterr().err
    assert main(["serve", "--host", "127.0.0.1", "--port", "0"]) == 0
    assert capsys.readouterr().err == ""
    monkeypatch.setenv("FF_PUBLIC_ORIGIN", "https://ff.example.edu")
    assert main(["serve", "--host", "0.0.0.0", "--port", "0"]) == 0
    assert capsys.readouterr().err == ""
    assert served == ["0.0.0.0", "127.0.0.1", "0.0.0.0"]
