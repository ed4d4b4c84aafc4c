"""Invariants that every built-in schedule keeps, run over an example of each (see conftest)."""

from __future__ import annotations

import itertools
import json
import math
import pickle

import numpy as np
import pytest

from lr_callbacks.schedules import Sweep, Warmup, WarmupStableDecay, from_dict, parse, registry

# Floating point may land one or two ulps outside [floor, peak] (``floor + (peak - floor) * 1``).
ULPS = 1e-12


def _curve(bound, total):
    return [bound(t) for t in range(total + 1)]


def test_example_list_covers_the_registry(all_examples):
    assert {example.spec.name for example in all_examples} == set(registry())


def test_finite_non_negative_and_within_bounds(example):
    bound = example.bind()
    for t, lr in enumerate(_curve(bound, 2 * example.total_steps)):
        assert math.isfinite(lr), (t, lr)
        assert lr >= 0.0, (t, lr)
        assert example.low * (1 - ULPS) <= lr <= example.high * (1 + ULPS), (t, lr)


def test_continuous_at_joins_in_the_phase_table(example):
    """Each phase ends where the next begins, except at designed jumps (decays, restarts)."""
    bound = example.bind()
    phases = bound.phases
    for left, right in itertools.pairwise(phases):
        if example.jumps and right.event in ("decay", "restart", None):
            continue
        assert left.value(right.start) == pytest.approx(right.value(right.start), rel=1e-9, abs=1e-15), (
            left.name,
            right.name,
        )


def test_no_step_jumps_more_than_its_neighbours_allow(example):
    """Black-box continuity: at every integer step the change is at most ~3x the adjacent changes."""
    if example.jumps:
        pytest.skip("jumps by design")
    lrs = np.array(_curve(example.bind(), example.total_steps + 2))
    diffs = np.abs(np.diff(lrs))
    for i in range(1, len(diffs) - 1):
        allowed = 3 * max(diffs[i - 1], diffs[i + 1]) + 1e-12 * example.high
        assert diffs[i] <= allowed, (i + 1, lrs[i], lrs[i + 1])


#: Scalar ``x ** y`` (libm pow) and numpy's ``power`` (SIMD on this machine) differ by one ulp.
POW_SHAPES = {"exponential", "polynomial", "sweep-exp"}


def test_vectorised_equals_scalar_bit_for_bit(example):
    bound = example.bind()
    steps = np.arange(example.total_steps + 50)
    vector = bound.values(steps)
    scalar = np.array([bound(int(t)) for t in steps])
    assert vector.dtype == np.float64
    if example.id in POW_SHAPES:  # documented: numpy's power may differ from libm's pow by an ulp
        vector = np.where(np.abs(vector - scalar) <= 2 * np.spacing(np.abs(scalar)), scalar, vector)
    mismatched = np.nonzero(vector != scalar)[0]
    assert mismatched.size == 0, [(int(t), vector[t], scalar[t]) for t in mismatched[:5]]


def test_vectorised_keeps_the_shape(example):
    bound = example.bind()
    grid = np.arange(12).reshape(3, 4)
    assert bound.values(grid).shape == (3, 4)
    assert bound.values(grid)[2, 3] == bound.values(np.arange(12))[11]


def test_evaluation_past_the_end_holds(example):
    bound = example.bind()
    far = [bound(t) for t in (10**7, 10**7 + 1, 10**9, 10**12)]
    if example.open_ended:
        assert far == sorted(far, reverse=True)  # keeps decaying, never rises
    else:
        assert far == [far[0]] * 4
        assert far[0] == bound(10 * example.total_steps + 3)


def _identical(a, b, total):
    return all(a(t) == b(t) for t in range(total + 1))


def test_pickle_round_trip_gives_the_same_curve(example):
    bound = example.bind()
    spec_back = pickle.loads(pickle.dumps(example.spec))
    bound_back = pickle.loads(pickle.dumps(bound))
    assert spec_back == example.spec
    assert _identical(bound, bound_back, example.total_steps)
    assert _identical(
        bound, spec_back.bind(example.total_steps, example.steps_per_epoch), example.total_steps
    )


def test_spec_string_round_trip_gives_the_same_curve(example):
    text = example.spec.to_spec()
    back = parse(text)
    assert back == example.spec
    assert back.to_spec() == text
    assert _identical(
        example.bind(), back.bind(example.total_steps, example.steps_per_epoch), example.total_steps
    )


def test_dict_round_trip_through_json_gives_the_same_curve(example):
    data = json.loads(json.dumps(example.spec.to_dict(), allow_nan=False))
    back = from_dict(data)
    assert back == example.spec
    assert _identical(
        example.bind(), back.bind(example.total_steps, example.steps_per_epoch), example.total_steps
    )


def test_repr_names_the_class_and_its_arguments(example):
    text = repr(example.spec)
    assert text.startswith(type(example.spec).__name__ + "(")
    assert any(
        key in text for key in ("peak_lr=", "start_lr=", "pieces=", "schedule=", "max_momentum=", "values=")
    )


def test_specs_are_frozen(example):
    field = next(iter(example.spec.__dataclass_fields__))
    with pytest.raises(AttributeError):
        setattr(example.spec, field, 1.0)


def test_warmup_in_front_of_a_schedule_with_an_empty_first_phase_is_continuous():
    lr = Warmup(WarmupStableDecay(peak_lr=1.0, warmup=0, decay=4), warmup=4).bind(12)
    assert [lr(t) for t in range(5)] == [0.0, 0.25, 0.5, 0.75, 1.0]


def test_sweep_lands_exactly_on_end_lr():
    lr = Sweep(start_lr=1e-7, end_lr=10.0, num_steps=100).bind()
    assert lr(99) == 10.0
    assert max(lr(t) for t in range(200)) <= 10.0
