"""Property tests: random valid parameters for every family never crash and stay in bounds."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lr_callbacks.schedules import (
    Constant,
    Cosine,
    CosineRestarts,
    Exponential,
    InverseSqrt,
    Linear,
    OneCycle,
    OneCycleMomentum,
    Polynomial,
    Sequence,
    StepDecay,
    Sweep,
    Warmup,
    WarmupCosine,
    WarmupStableDecay,
    from_dict,
    parse,
)

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ULPS = 1e-12

peaks = st.floats(1e-7, 10.0)
totals = st.integers(1, 100_000)
ratios = st.floats(0.0, 1.0)
fractions = st.floats(1e-3, 1.0, exclude_max=True)


def _round(x: float) -> int:
    return math.floor(x + 0.5)


@st.composite
def floors(draw, peak):
    """(min_lr, min_lr_ratio, absolute floor) with at most one of the two given."""
    kind = draw(st.sampled_from(["none", "abs", "ratio"]))
    if kind == "abs":
        value = draw(st.floats(0.0, 1.0)) * peak
        return {"min_lr": value}, value
    if kind == "ratio":
        ratio = draw(ratios)
        return {"min_lr_ratio": ratio}, peak * ratio
    return {}, 0.0


@st.composite
def length_within(draw, total, low=0):
    """A length (steps, or a fraction of T) that resolves to an int in [low, total]."""
    if draw(st.booleans()):
        return draw(st.integers(low, total))
    fraction = draw(fractions)
    if _round(fraction * total) < low:
        return max(low, 0) if low <= total else total
    return fraction


@st.composite
def cases(draw):
    """(spec, total_steps, low, high, open_ended) for a random family."""
    total = draw(totals)
    peak = draw(peaks)
    family = draw(
        st.sampled_from(
            [
                "constant",
                "step_decay",
                "cosine",
                "cosine_restarts",
                "warmup_cosine",
                "one_cycle",
                "one_cycle_momentum",
                "wsd",
                "with_warmup",
                "linear",
                "polynomial",
                "exponential",
                "inverse_sqrt",
                "sweep",
                "sequence",
            ]
        )
    )
    if family == "constant":
        return Constant(peak_lr=peak), total, peak, peak, False
    if family == "step_decay":
        gamma = draw(st.floats(1e-3, 1.0))
        if draw(st.booleans()):
            return (
                StepDecay(peak_lr=peak, gamma=gamma, step_size=draw(st.integers(1, total))),
                total,
                0.0,
                peak,
                True,
            )
        milestones = tuple(sorted(draw(st.sets(st.integers(1, total), min_size=1, max_size=5))))
        return StepDecay(peak_lr=peak, gamma=gamma, milestones=milestones), total, 0.0, peak, False
    if family in ("cosine", "linear", "polynomial"):
        kwargs, floor = draw(floors(peak))
        if draw(st.booleans()):
            kwargs["decay_steps"] = draw(st.integers(1, 2 * total))
        if family == "cosine":
            return Cosine(peak_lr=peak, **kwargs), total, floor, peak, False
        if family == "linear":
            return Linear(peak_lr=peak, **kwargs), total, floor, peak, False
        power = draw(st.floats(0.1, 10.0))
        return Polynomial(peak_lr=peak, power=power, **kwargs), total, floor, peak, False
    if family == "cosine_restarts":
        kwargs, floor = draw(floors(peak))
        cycle = draw(st.integers(max(1, total // 50), total))
        mult = draw(st.sampled_from([1, 2, 1.5, 3.0]))
        decay = draw(st.floats(0.1, 1.0, exclude_max=True))
        spec = CosineRestarts(peak_lr=peak, cycle_steps=cycle, cycle_mult=mult, cycle_decay=decay, **kwargs)
        return spec, total, (floor if decay == 1.0 else 0.0), peak, False
    if family == "warmup_cosine":
        kwargs, _ = draw(floors(peak))
        return (
            WarmupCosine(peak_lr=peak, warmup=draw(length_within(total)), **kwargs),
            total,
            0.0,
            peak,
            False,
        )
    if family == "one_cycle":
        three = draw(st.booleans())
        pct = draw(st.floats(0.01, 0.49 if three else 0.99))
        div = draw(st.floats(1.0, 1e4))
        final = draw(st.floats(1.0, 1e5))
        anneal = draw(st.sampled_from(["cos", "linear"]))
        spec = OneCycle(
            peak_lr=peak,
            pct_start=pct,
            div_factor=div,
            final_div_factor=final,
            anneal=anneal,
            three_phase=three,
        )
        return spec, total, peak / div / final, peak, False
    if family == "one_cycle_momentum":
        high = draw(st.floats(0.0, 1.0))
        low = draw(st.floats(0.0, 1.0)) * high
        three = draw(st.booleans())
        pct = draw(st.floats(0.01, 0.49 if three else 0.99))
        spec = OneCycleMomentum(max_momentum=high, base_momentum=low, pct_start=pct, three_phase=three)
        return spec, total, low, high, False
    if family == "wsd":
        kwargs, floor = draw(floors(peak))
        warm = draw(st.integers(0, total - 1))
        decay = draw(st.integers(1, total - warm))
        if draw(st.booleans()) and 0 < decay < total:
            decay = decay / total if _round(decay / total * total) + warm <= total else decay
        shape = draw(st.sampled_from(["linear", "cosine", "1-sqrt"]))
        spec = WarmupStableDecay(peak_lr=peak, warmup=warm, decay=decay, decay_shape=shape, **kwargs)
        return spec, total, floor, peak, False
    if family == "with_warmup":
        inner = draw(st.sampled_from(["constant", "cosine", "step_decay"]))
        schedule = {
            "constant": Constant(peak_lr=peak),
            "cosine": Cosine(peak_lr=peak, min_lr_ratio=0.1),
            "step_decay": StepDecay(peak_lr=peak, gamma=0.5, step_size=max(1, total // 4)),
        }[inner]
        spec = Warmup(schedule, warmup=draw(length_within(total)), start_ratio=draw(ratios))
        return spec, total, 0.0, peak, inner == "step_decay"
    if family == "exponential":
        return Exponential(peak_lr=peak, gamma=draw(st.floats(1e-3, 1.0))), total, 0.0, peak, True
    if family == "inverse_sqrt":
        return InverseSqrt(peak_lr=peak, timescale=draw(st.integers(1, 100_000))), total, 0.0, peak, True
    if family == "sweep":
        start = draw(st.floats(1e-9, 1.0))
        end = start * draw(st.floats(1.001, 1e8))
        steps = draw(st.one_of(st.none(), st.integers(2, 100_000)))
        if steps is None and total < 2:
            total = 2
        mode = draw(st.sampled_from(["exp", "linear"]))
        # The exp sweep overshoots end_lr by ~steps ulps (xfail: test_sweep_lands_exactly_on_end_lr).
        slack = 1e-9 if mode == "exp" else 0.0
        return (
            Sweep(start_lr=start, end_lr=end, num_steps=steps, mode=mode),
            total,
            start,
            end * (1 + slack),
            False,
        )
    # sequence: hold the peak, then a cosine from it on its own clock
    total = max(total, 2)
    cut = draw(st.integers(1, total - 1))
    kwargs, floor = draw(floors(peak))
    spec = Sequence((Constant(peak_lr=peak), Cosine(peak_lr=peak, **kwargs)), lengths=(cut,))
    return spec, total, floor, peak, False


def _probe_steps(total: int) -> list[int]:
    picks = {0, 1, total // 3, total // 2, total - 1, total, total + 1, 2 * total, 10 * total + 7}
    return sorted(t for t in picks if t >= 0)


@SETTINGS
@given(cases())
def test_random_valid_schedules_are_finite_non_negative_and_bounded(case):
    spec, total, low, high, _ = case
    bound = spec.bind(total)
    steps = _probe_steps(total)
    scalar = [bound(t) for t in steps]
    vector = bound.values(np.asarray(steps))
    for t, lr, v in zip(steps, scalar, vector, strict=True):
        assert math.isfinite(lr) and lr >= 0.0, (t, lr)
        assert low * (1 - ULPS) - 1e-300 <= lr <= high * (1 + ULPS), (t, lr, low, high)
        assert v == pytest.approx(lr, rel=1e-12, abs=1e-300), t


@SETTINGS
@given(cases())
def test_random_schedules_round_trip_through_the_spec_string(case):
    spec, total = case[0], case[1]
    back = parse(spec.to_spec())
    assert back == spec
    # == cannot tell warmup=1 (one step) from warmup=1.0 (the whole run): compare the curves too.
    a, b = spec.bind(total), back.bind(total)
    assert all(a(t) == b(t) for t in _probe_steps(total))


@SETTINGS
@given(cases())
def test_random_schedules_round_trip_through_a_json_dict(case):
    spec, total = case[0], case[1]
    back = from_dict(json.loads(json.dumps(spec.to_dict(), allow_nan=False)))
    assert back == spec
    a, b = spec.bind(total), back.bind(total)
    assert all(a(t) == b(t) for t in _probe_steps(total))


@SETTINGS
@given(cases())
def test_random_schedules_hold_after_the_end(case):
    spec, total, _, _, open_ended = case
    if open_ended:
        return
    bound = spec.bind(total)
    far = bound(10**12)
    assert bound(10**12 + 12345) == far
    assert bound(10**15) == far
