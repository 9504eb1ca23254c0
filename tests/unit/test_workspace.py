"""The thread's work memory (app/engine/workspace.py): temporaries share one arena, results do not,
threads never share, and races computed in turn in one thread give each its own numbers."""

import threading

import numpy as np

from app.engine.race import Race, RaceSettings
from app.engine.workspace import ALIGN, Workspace, workspace


def test_temporaries_of_different_passes_share_the_arena_and_keep_their_shapes():
    space = Workspace()
    a, b = space.temporaries("pass a", (((3, 4), np.float64), ((5,), np.float32)))
    (c,) = space.temporaries("pass b", (((2, 2), np.float64),))
    assert (a.shape, a.dtype, b.shape, b.dtype, c.shape) == ((3, 4), np.float64, (5,), np.float32, (2, 2))
    # Both passes start at the arena's start: pass b's array is pass a's first memory.
    assert np.shares_memory(a, c)
    # Within a pass, arrays never overlap, and each starts on a cache line.
    assert not np.shares_memory(a, b)
    assert a.ctypes.data % ALIGN == 0 and b.ctypes.data % ALIGN == 0
    assert space.temporaries("pass a", ()) is not None  # the same key: the same views, specs not re-read
    again = space.temporaries("pass a", (((3, 4), np.float64), ((5,), np.float32)))
    assert again[0] is a and again[1] is b


def test_the_arena_grows_and_old_views_stay_valid_memory():
    space = Workspace()
    (small,) = space.temporaries("small", (((10,), np.float64),))
    small[:] = 7.0
    (large,) = space.temporaries("large", (((100_000,), np.float64),))
    large[:] = 1.0
    assert space.nbytes >= 800_000
    np.testing.assert_array_equal(small, 7.0)  # the old arena lives while a view of it does
    (small_again,) = space.temporaries("small", (((10,), np.float64),))
    assert np.shares_memory(small_again, large)  # rebuilt on the new arena


def test_results_have_memory_of_their_own():
    space = Workspace()
    table = space.result(("table", 3), (3, 8))
    (temporary,) = space.temporaries("pass", (((3, 8), np.float64),))
    assert not np.shares_memory(table, temporary)
    assert space.result(("table", 3), (3, 8)) is table
    assert not np.shares_memory(space.result(("other", 3), (3, 8)), table)


def test_each_thread_has_its_own_workspace():
    seen = []
    thread = threading.Thread(target=lambda: seen.append(workspace()))
    thread.start()
    thread.join()
    assert seen[0] is not workspace()
    assert workspace() is workspace()


def test_races_computed_in_turn_in_one_thread_each_keep_their_own_numbers():
    settings = [RaceSettings(seed=s) for s in (1, 2)] + [RaceSettings(seed=3, hidden_sizes=(7, 5, 6), grid_size=12)]
    alone = []
    for s in settings:
        race = Race(s)
        race.advance_to(40)
        alone.append(race.snapshot())
    together = [Race(s) for s in settings]
    for step in range(40):
        for race in together:  # interleaved step by step, with snapshots in between
            race.step()
            if step % 7 == 0:
                race.snapshot()
    for race, expected in zip(together, alone, strict=True):
        got = race.snapshot()
        assert (got.ff, got.backprop) == (expected.ff, expected.backprop)
        assert (got.goodness_positive, got.goodness_negative) == (
            expected.goodness_positive,
            expected.goodness_negative,
        )
        assert got.ff_layer_test_accuracy == expected.ff_layer_test_accuracy
        np.testing.assert_array_equal(got.grid_ff, expected.grid_ff)
        np.testing.assert_array_equal(got.layer_maps, expected.layer_maps)


def test_a_snapshot_keeps_no_view_of_the_workspace():
    race = Race(RaceSettings(seed=5))
    race.advance_to(10)
    first = race.snapshot()
    kept = [first.grid_ff.copy(), first.grid_backprop.copy(), first.layer_maps.copy()]
    other = Race(RaceSettings(seed=6, dataset="spiral"))
    other.advance_to(10)
    other.snapshot()
    race.advance_to(30)
    race.snapshot()
    for array, copy in zip([first.grid_ff, first.grid_backprop, first.layer_maps], kept, strict=True):
        np.testing.assert_array_equal(array, copy)


def test_races_with_the_same_grid_share_its_inputs():
    a, b = Race(RaceSettings(seed=1)), Race(RaceSettings(seed=2, dataset="moons"))
    other = Race(RaceSettings(seed=1, grid_size=16))
    assert a._evaluator.ff_grid_columns is b._evaluator.ff_grid_columns
    assert a._evaluator.bp_grid_columns is b._evaluator.bp_grid_columns
    assert other._evaluator.ff_grid_columns is not a._evaluator.ff_grid_columns
    assert not a._evaluator.ff_grid_columns.flags.writeable


def test_a_thread_meeting_many_settings_keeps_bounded_memory():
    # A client may cycle through settings (layer widths, grid sizes): the thread's kept arrays stay
    # within KEPT_BYTES plus its arena, and the shared zeros are one array per dtype.
    from app.engine import columns
    from app.engine.workspace import KEPT_BYTES, TEMPORARY_KEYS

    def run_in_thread(target):
        thread = threading.Thread(target=target)
        thread.start()
        thread.join()

    seen = {}

    def cycle():
        for index, (width, grid) in enumerate((w, g) for w in (3, 9, 17, 33, 64) for g in (8, 24, 64, 96)):
            race = Race(RaceSettings(seed=index, hidden_sizes=(width, width, width), grid_size=grid, steps=2))
            race.step()
            race.snapshot()
        space = workspace()
        seen["kept"] = space._kept_bytes
        seen["views"] = len(space._temporaries)
        seen["arena"] = space._arena.nbytes

    run_in_thread(cycle)
    assert seen["kept"] <= KEPT_BYTES
    assert seen["views"] <= TEMPORARY_KEYS
    # The arena holds the largest pass: 64 units + 1 over 96 x 96 x 2 grid rows in float32, doubled at most.
    assert seen["arena"] <= 4 * (65 + 64) * 96 * 96 * 2 * 4
    assert len(columns._ZEROS) <= 2  # float64 and float32
    assert len(columns._ZERO_VIEWS) <= columns.ZERO_VIEWS_KEPT


def test_results_evicted_from_the_workspace_stay_valid_where_they_are_held(monkeypatch):
    from app.engine import workspace as module

    monkeypatch.setattr(module, "KEPT_BYTES", 1000)
    space = Workspace()
    first = space.result("a", (100,))  # 800 bytes
    first[:] = 5.0
    second = space.result("b", (100,))  # evicts "a"
    second[:] = 7.0
    assert space._kept_bytes <= 1000
    np.testing.assert_array_equal(first, 5.0)  # still valid memory for whoever holds it
    assert space.result("a", (100,)) is not first  # made again when asked for again
