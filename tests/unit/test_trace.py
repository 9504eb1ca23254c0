"""Step trace: the events of one real training step, with bytes measured from the arrays held."""

import numpy as np

from app.engine.backprop import BackpropMLP
from app.engine.datasets import make_dataset
from app.engine.ff import FFNetwork
from app.engine.optim import Adam
from app.engine.trace import EVENT_KINDS, NO_RECORDER, StepRecorder


class MeasuringRecorder(StepRecorder):
    """Also checks, at each event, that bytes_held is the sum of .nbytes of the arrays the step holds."""

    def record(self, kind, *args, **kwargs):
        super().record(kind, *args, **kwargs)
        assert self.events[-1].bytes_held == sum(a.nbytes for a in self.held.values())
        assert all(isinstance(a, np.ndarray) for a in self.held.values())


def run_ff(recorder, seed=0):
    data = make_dataset("disk-ring", n=16, seed=seed)
    net = FFNetwork((8, 8, 8), 2, 2.0, Adam(0.03), np.random.default_rng(seed))
    net.train_step(data.x, data.y, np.random.default_rng(seed), recorder=recorder)
    return net


def run_backprop(recorder, seed=0):
    data = make_dataset("disk-ring", n=16, seed=seed)
    net = BackpropMLP((2, 8, 8, 8, 2), Adam(0.03), np.random.default_rng(seed))
    net.train_step(data.x, data.y, recorder=recorder)
    return net


def test_recording_does_not_change_the_step():
    for run in (run_ff, run_backprop):
        a, b = run(NO_RECORDER), run(MeasuringRecorder())
        params = (lambda n: [layer.params for layer in n.layers]) if run is run_ff else (lambda n: n.params)
        for x, y in zip(params(a), params(b), strict=True):
            np.testing.assert_array_equal(x, y)


def test_backprop_keeps_everything_then_updates_in_reverse_order():
    rec = MeasuringRecorder()
    run_backprop(rec)
    kinds = [e.kind for e in rec.events]
    assert set(kinds) <= set(EVENT_KINDS)
    updates = [e.layer for e in rec.events if e.kind == "update"]
    assert updates == [4, 3, 2, 1]
    first_update = kinds.index("update")
    loss_at = kinds.index("loss")
    assert loss_at < first_update
    assert all(e.kind not in ("release",) for e in rec.events[:first_update])
    assert [e.layer for e in rec.events if e.kind == "keep"] == [1, 2, 3]
    # Memory peaks before the first update and falls to nothing as the sweep frees each layer.
    peak_at = int(np.argmax([e.bytes_held for e in rec.events]))
    assert peak_at < first_update and rec.events[-1].bytes_held == 0


def test_ff_updates_each_layer_as_each_pass_flows_and_holds_little():
    rec = MeasuringRecorder()
    run_ff(rec)
    passes = [e.polarity for e in rec.events if e.kind == "pass"]
    assert passes == ["positive", "negative"]
    updates = [(e.polarity, e.layer) for e in rec.events if e.kind == "update"]
    assert updates == [
        ("positive", 1),
        ("positive", 2),
        ("positive", 3),
        ("negative", 1),
        ("negative", 2),
        ("negative", 3),
    ]
    # Each layer is updated before the next layer's forward: no waiting for a round trip.
    order = [(e.kind, e.polarity, e.layer) for e in rec.events if e.kind in ("forward", "update")]
    assert order == [(k, p, n) for p in ("positive", "negative") for n in (1, 2, 3) for k in ("forward", "update")]
    # Never more than one layer's input and output alive at a time.
    assert max(len(e.held) for e in rec.events) <= 2
    assert rec.events[-1].bytes_held == 0


def test_ff_holds_less_than_backprop_for_the_same_net():
    ff, bp = MeasuringRecorder(), MeasuringRecorder()
    run_ff(ff)
    run_backprop(bp)
    assert ff.peak_bytes < bp.peak_bytes
