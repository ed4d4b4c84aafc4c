"""Golden values per family, worked out by hand from each docstring's formula.

Notation as in the docstrings: ``cos½(u) = (1 + cos(pi u)) / 2``. Values are written
as numbers where they are exact, and as the docstring formula otherwise (never by
calling the library). Each table covers step 0, the warmup boundary, a midpoint,
the last step ``T - 1`` and steps after the end.
"""

from __future__ import annotations

import math

import pytest

from lr_callbacks.schedules import (
    Constant,
    Cosine,
    CosineRestarts,
    Exponential,
    InverseSqrt,
    Linear,
    OneCycle,
    Polynomial,
    Sequence,
    StepDecay,
    Sweep,
    Warmup,
    WarmupCosine,
    WarmupStableDecay,
    parse,
)


def half_cos(u: float) -> float:
    return 0.5 * (1.0 + math.cos(math.pi * u))


def cos_from(a: float, b: float, u: float) -> float:
    """From ``a`` at ``u=0`` to ``b`` at ``u=1`` along the half cosine."""
    return b + (a - b) * half_cos(u)


START, FINAL = 1.0 / 25, 1.0 / 25 / 1e4  # one-cycle defaults with peak 1

GOLDEN = [
    # id, spec, T, steps_per_epoch, {t: lr}
    (
        "constant",
        Constant(peak_lr=0.003),
        100,
        None,
        {0: 0.003, 50: 0.003, 99: 0.003, 100: 0.003, 10**6: 0.003},
    ),
    (
        "step_decay-size",
        StepDecay(peak_lr=1.0, gamma=0.5, step_size=3),
        10,
        None,
        {0: 1.0, 2: 1.0, 3: 0.5, 5: 0.5, 6: 0.25, 9: 0.125, 10: 0.125, 12: 0.0625},
    ),
    (
        "step_decay-milestones",
        StepDecay(peak_lr=0.1, gamma=0.1, milestones=(30, 60)),
        90,
        None,
        {0: 0.1, 29: 0.1, 30: 0.01, 45: 0.01, 59: 0.01, 60: 0.001, 89: 0.001, 90: 0.001, 10**6: 0.001},
    ),
    (
        "step_decay-epochs",
        StepDecay(peak_lr=1.0, gamma=0.1, step_size="2ep"),
        30,
        5,
        {0: 1.0, 9: 1.0, 10: 0.1, 19: 0.1, 20: 0.01, 29: 0.01},
    ),
    (
        "step_decay-epoch-milestones",
        StepDecay(peak_lr=1.0, gamma=0.1, milestones=("1.5ep", "3ep")),
        40,
        10,
        {0: 1.0, 14: 1.0, 15: 0.1, 29: 0.1, 30: 0.01, 39: 0.01, 100: 0.01},
    ),
    (
        "cosine",
        Cosine(peak_lr=1.0),
        10,
        None,
        {0: 1.0, 5: 0.5, 9: half_cos(0.9), 10: 0.0, 11: 0.0, 1000: 0.0},
    ),
    (
        "cosine-min_lr",
        Cosine(peak_lr=1.0, min_lr=0.2),
        10,
        None,
        {0: 1.0, 5: 0.6, 9: 0.2 + 0.8 * half_cos(0.9), 10: 0.2, 50: 0.2},
    ),
    (
        "cosine-min_lr_ratio",
        Cosine(peak_lr=2.0, min_lr_ratio=0.1),
        100,
        None,
        {0: 2.0, 50: 1.1, 99: 0.2 + 1.8 * half_cos(0.99), 100: 0.2, 101: 0.2},
    ),
    (
        "cosine-decay_steps",
        Cosine(peak_lr=1.0, decay_steps=4),
        10,
        None,
        {0: 1.0, 1: half_cos(0.25), 2: 0.5, 4: 0.0, 9: 0.0, 10: 0.0},
    ),
    (
        "cosine_restarts-mult1",
        CosineRestarts(peak_lr=1.0, cycle_steps=4),
        12,
        None,
        {0: 1.0, 2: 0.5, 3: half_cos(0.75), 4: 1.0, 6: 0.5, 8: 1.0, 11: half_cos(0.75), 12: 0.0, 99: 0.0},
    ),
    (
        "cosine_restarts-mult2",
        CosineRestarts(peak_lr=1.0, cycle_steps=2, cycle_mult=2),
        14,
        None,
        {0: 1.0, 1: 0.5, 2: 1.0, 4: 0.5, 5: half_cos(0.75), 6: 1.0, 10: 0.5, 13: half_cos(7 / 8), 14: 0.0},
    ),
    (
        "cosine_restarts-decay-floor",
        CosineRestarts(peak_lr=1.0, cycle_steps=4, cycle_decay=0.5, min_lr=0.1),
        12,
        None,
        {0: 1.0, 2: 0.55, 4: 0.5, 6: 0.3, 8: 0.25, 10: 0.175, 11: 0.1 + 0.15 * half_cos(0.75), 12: 0.1},
    ),
    (
        "warmup_cosine",
        WarmupCosine(peak_lr=1.0, warmup=2),
        10,
        None,
        {0: 0.0, 1: 0.5, 2: 1.0, 6: 0.5, 9: half_cos(7 / 8), 10: 0.0, 20: 0.0},
    ),
    (
        "warmup_cosine-fraction-ratio",
        WarmupCosine(peak_lr=1.0, warmup=0.2, min_lr_ratio=0.1),
        10,
        None,
        {0: 0.0, 1: 0.5, 2: 1.0, 6: 0.55, 9: 0.1 + 0.9 * half_cos(7 / 8), 10: 0.1},
    ),
    (
        "warmup_cosine-min_lr",
        WarmupCosine(peak_lr=2.0, warmup=4, min_lr=0.5),
        24,
        None,
        {0: 0.0, 2: 1.0, 4: 2.0, 14: 1.25, 23: 0.5 + 1.5 * half_cos(19 / 20), 24: 0.5},
    ),
    # one-cycle, torch positions: rise on [0, pT - 1], anneal on [pT - 1, T - 1]
    (
        "one_cycle-cos",
        OneCycle(peak_lr=1.0),
        20,
        None,
        {
            0: START,
            2: cos_from(START, 1.0, 2 / 5),
            5: 1.0,
            12: FINAL + (1.0 - FINAL) * 0.5,
            19: FINAL,
            20: FINAL,
            100: FINAL,
        },
    ),
    (
        "one_cycle-linear",
        OneCycle(peak_lr=1.0, anneal="linear"),
        20,
        None,
        {0: START, 2: START + (1 - START) * 0.4, 5: 1.0, 12: 1.0 + (FINAL - 1.0) * 0.5, 19: FINAL, 30: FINAL},
    ),
    (
        "one_cycle-three-linear",
        OneCycle(peak_lr=1.0, pct_start=0.25, anneal="linear", three_phase=True),
        24,
        None,
        # rise [0, 5], fall [5, 10] back to the start, annihilate [10, 23]
        {0: START, 5: 1.0, 8: 1.0 + (START - 1.0) * 0.6, 10: START, 23: FINAL, 24: FINAL},
    ),
    (
        "one_cycle-three-cos",
        OneCycle(peak_lr=2.0, pct_start=0.25, div_factor=10, final_div_factor=100, three_phase=True),
        24,
        None,
        {0: 0.2, 5: 2.0, 10: 0.2, 16: cos_from(0.2, 0.002, 6 / 13), 23: 0.002, 24: 0.002},
    ),
    (
        "wsd-linear",
        WarmupStableDecay(peak_lr=1.0, warmup=2, decay=4),
        10,
        None,
        {0: 0.0, 1: 0.5, 2: 1.0, 4: 1.0, 6: 1.0, 7: 0.75, 8: 0.5, 9: 0.25, 10: 0.0, 99: 0.0},
    ),
    (
        "wsd-cosine",
        WarmupStableDecay(peak_lr=1.0, warmup=2, decay=4, decay_shape="cosine"),
        10,
        None,
        {0: 0.0, 2: 1.0, 6: 1.0, 7: half_cos(0.25), 8: 0.5, 9: half_cos(0.75), 10: 0.0},
    ),
    (
        "wsd-1-sqrt",
        WarmupStableDecay(peak_lr=1.0, warmup=2, decay=4, decay_shape="1-sqrt"),
        10,
        None,
        {0: 0.0, 2: 1.0, 6: 1.0, 7: 0.5, 8: 1.0 - math.sqrt(0.5), 9: 1.0 - math.sqrt(0.75), 10: 0.0},
    ),
    (
        "wsd-decay-fraction-floor",
        WarmupStableDecay(peak_lr=1.0, warmup=0.2, decay=0.4, min_lr=0.2),
        10,
        None,
        {0: 0.2, 1: 0.6, 2: 1.0, 5: 1.0, 6: 1.0, 8: 0.6, 9: 0.4, 10: 0.2},
    ),
    (
        "wsd-explicit-stable",
        WarmupStableDecay(peak_lr=1.0, warmup=2, stable=3, decay=4),
        10,
        None,
        {0: 0.0, 2: 1.0, 4: 1.0, 5: 1.0, 6: 0.75, 7: 0.5, 9: 0.0, 10: 0.0},
    ),
    ("linear", Linear(peak_lr=1.0), 4, None, {0: 1.0, 1: 0.75, 2: 0.5, 3: 0.25, 4: 0.0, 9: 0.0}),
    (
        "linear-ratio-decay_steps",
        Linear(peak_lr=1.0, min_lr_ratio=0.5, decay_steps=2),
        8,
        None,
        {0: 1.0, 1: 0.75, 2: 0.5, 7: 0.5, 8: 0.5},
    ),
    (
        "polynomial",
        Polynomial(peak_lr=1.0, power=2),
        4,
        None,
        {0: 1.0, 1: 0.5625, 2: 0.25, 3: 0.0625, 4: 0.0, 5: 0.0},
    ),
    (
        "polynomial-sqrt-floor",
        Polynomial(peak_lr=1.0, power=0.5, min_lr=0.1),
        4,
        None,
        {0: 1.0, 2: 0.1 + 0.9 * math.sqrt(0.5), 3: 0.1 + 0.9 * 0.5, 4: 0.1, 40: 0.1},
    ),
    (
        "exponential",
        Exponential(peak_lr=1.0, gamma=0.5),
        10,
        None,
        {0: 1.0, 1: 0.5, 3: 0.125, 9: 2.0**-9, 10: 2.0**-10, 20: 2.0**-20},
    ),
    (
        "inverse_sqrt",
        InverseSqrt(peak_lr=1.0, timescale=4),
        20,
        None,
        {0: 1.0, 4: 1 / math.sqrt(2), 12: 0.5, 19: 1 / math.sqrt(23 / 4), 60: 0.25},
    ),
    (
        "sweep-exp",
        Sweep(start_lr=1e-4, end_lr=1.0, num_steps=5),
        5,
        None,
        {0: 1e-4, 1: 1e-3, 2: 1e-2, 3: 1e-1, 4: 1.0, 10: 1.0},
    ),
    (
        "sweep-exp-from-T",
        Sweep(start_lr=1e-6, end_lr=1e-2),
        9,
        None,
        {0: 1e-6, 2: 1e-5, 4: 1e-4, 8: 1e-2, 9: 1e-2},
    ),
    (
        "sweep-linear",
        Sweep(start_lr=0.1, end_lr=1.0, num_steps=10, mode="linear"),
        10,
        None,
        {0: 0.1, 3: 0.4, 6: 0.7, 9: 1.0, 20: 1.0},
    ),
    (
        "with_warmup-constant",
        Warmup(Constant(peak_lr=1.0), warmup=4),
        10,
        None,
        {0: 0.0, 1: 0.25, 2: 0.5, 3: 0.75, 4: 1.0, 9: 1.0, 10: 1.0},
    ),
    (
        "with_warmup-start_ratio",
        Warmup(Constant(peak_lr=1.0), warmup=4, start_ratio=0.2),
        10,
        None,
        {0: 0.2, 2: 0.6, 3: 0.8, 4: 1.0, 9: 1.0},
    ),
    (
        "with_warmup-cosine-local-clock",
        Warmup(Cosine(peak_lr=1.0), warmup=2),
        10,
        None,
        # the cosine is bound to T - W = 8 steps on its own clock
        {0: 0.0, 1: 0.5, 2: 1.0, 4: half_cos(0.25), 6: 0.5, 9: half_cos(7 / 8), 10: 0.0},
    ),
    (
        "with_warmup-step_decay",
        Warmup(StepDecay(peak_lr=1.0, gamma=0.5, step_size=3), warmup=2, start_ratio=0.5),
        10,
        None,
        {0: 0.5, 1: 0.75, 2: 1.0, 4: 1.0, 5: 0.5, 7: 0.5, 8: 0.25, 9: 0.25},
    ),
    (
        "with_warmup-one_cycle",
        Warmup(OneCycle(peak_lr=1.0), warmup=5, start_ratio=0.5),
        25,
        None,
        # ramps to one-cycle's start LR, then one-cycle over 20 steps on its own clock
        {0: START / 2, 5: START, 10: 1.0, 17: FINAL + (1.0 - FINAL) * 0.5, 24: FINAL, 25: FINAL},
    ),
    (
        "sequence-local-clocks",
        Sequence((Linear(peak_lr=1.0, min_lr=0.5, decay_steps=4), Cosine(peak_lr=0.5)), lengths=(4,)),
        12,
        None,
        {
            0: 1.0,
            2: 0.75,
            4: 0.5,
            6: 0.5 * half_cos(0.25),
            8: 0.25,
            11: 0.5 * half_cos(7 / 8),
            12: 0.0,
        },
    ),
    (
        "sequence-fraction-lengths",
        Sequence((Constant(peak_lr=1.0), Cosine(peak_lr=1.0)), lengths=(0.25,)),
        8,
        None,
        {0: 1.0, 1: 1.0, 2: 1.0, 3: half_cos(1 / 6), 5: 0.5, 8: 0.0},
    ),
    (
        "sequence-allow_jump",
        Sequence((Constant(peak_lr=1.0), Cosine(peak_lr=0.5)), lengths=(2,), allow_jump=True),
        6,
        None,
        {0: 1.0, 1: 1.0, 2: 0.5, 4: 0.25, 6: 0.0},
    ),
    (
        "sequence-three-pieces",
        Sequence(
            (Linear(peak_lr=1.0, min_lr=0.5, decay_steps=2), Constant(peak_lr=0.5), Linear(peak_lr=0.5)),
            lengths=(2, 3),
        ),
        9,
        None,
        {0: 1.0, 1: 0.75, 2: 0.5, 4: 0.5, 5: 0.5, 7: 0.25, 9: 0.0},
    ),
]


@pytest.mark.parametrize(
    ("spec", "total", "per_epoch", "table"), [g[1:] for g in GOLDEN], ids=[g[0] for g in GOLDEN]
)
def test_golden_values(spec, total, per_epoch, table):
    bound = spec.bind(total, per_epoch)
    got = {t: bound(t) for t in table}
    assert got == pytest.approx(table, rel=1e-12, abs=1e-18)


@pytest.mark.parametrize(
    ("spec", "total", "per_epoch", "table"), [g[1:] for g in GOLDEN], ids=[g[0] for g in GOLDEN]
)
def test_golden_values_survive_the_spec_string(spec, total, per_epoch, table):
    bound = parse(spec.to_spec()).bind(total, per_epoch)
    assert {t: bound(t) for t in table} == pytest.approx(table, rel=1e-12, abs=1e-18)


def test_docstring_examples_hold_at_their_stated_steps():
    """The numbers the docstrings print, restated: a drift in either shows here."""
    assert [Cosine(peak_lr=1.0).bind(4)(t) for t in range(5)] == pytest.approx(
        [1.0, half_cos(0.25), 0.5, half_cos(0.75), 0.0], rel=1e-12, abs=1e-18
    )


def test_momentum_mirrors_the_lr_curve():
    """max -> base while the LR rises, base -> max while it anneals (torch cycle_momentum)."""
    momentum = OneCycle(peak_lr=1.0).momentum_schedule().bind(20)
    expected = {0: 0.95, 2: cos_from(0.95, 0.85, 2 / 5), 5: 0.85, 12: 0.9, 19: 0.95, 40: 0.95}
    assert {t: momentum(t) for t in expected} == pytest.approx(expected, rel=1e-12)


def test_momentum_linear_three_phase_returns_to_max_and_stays():
    momentum = (
        OneCycle(peak_lr=1.0, pct_start=0.25, anneal="linear", three_phase=True)
        .momentum_schedule(base_momentum=0.8, max_momentum=0.9)
        .bind(24)
    )
    expected = {0: 0.9, 5: 0.8, 8: 0.8 + 0.1 * 0.6, 10: 0.9, 17: 0.9, 23: 0.9, 30: 0.9}
    assert {t: momentum(t) for t in expected} == pytest.approx(expected, rel=1e-12)


def test_sequence_rejects_a_jump_at_a_join():
    with pytest.raises(
        ValueError, match=r"jumps at the join before piece 1 \(step 2\): 1 -> 0\.5.*allow_jump"
    ):
        Sequence((Constant(peak_lr=1.0), Cosine(peak_lr=0.5)), lengths=(2,)).bind(6)


def test_sequence_join_check_uses_the_first_piece_at_its_end():
    # Linear reaches its floor 0.5 at local t=4, exactly where the next piece starts: continuous.
    spec = Sequence((Linear(peak_lr=1.0, min_lr=0.5, decay_steps=4), Constant(peak_lr=0.5)), lengths=(4,))
    assert spec.bind(10)(4) == 0.5
    # Cut at 3 instead, the first piece ends at 0.625: that join jumps.
    with pytest.raises(ValueError, match=r"step 3\): 0\.625 -> 0\.5"):
        Sequence((Linear(peak_lr=1.0, min_lr=0.5, decay_steps=4), Constant(peak_lr=0.5)), lengths=(3,)).bind(
            10
        )


def test_sequence_whose_lengths_fill_the_run():
    lr = Sequence((Constant(peak_lr=1.0), Cosine(peak_lr=1.0)), lengths=(10,)).bind(10)
    assert [lr(t) for t in (0, 9)] == [1.0, 1.0]
