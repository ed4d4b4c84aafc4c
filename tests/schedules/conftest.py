"""Shared examples for the schedule tests: one or more valid instances of every built-in.

Any test that takes an ``example`` argument runs once per entry of ``EXAMPLES``;
``test_every_builtin_has_an_example`` keeps the list in step with ``registry()``.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from lr_callbacks.schedules import (
    Constant,
    Cosine,
    CosineRestarts,
    Exponential,
    HoldAfter,
    InverseSqrt,
    Linear,
    OneCycle,
    OneCycleMomentum,
    Piecewise,
    Polynomial,
    Schedule,
    Sequence,
    StepDecay,
    Sweep,
    Warmup,
    WarmupCosine,
    WarmupStableDecay,
)


@dataclass(frozen=True)
class Example:
    """A valid schedule, the run it is bound to, and the range its LR must stay in."""

    id: str
    spec: Schedule
    total_steps: int
    low: float
    high: float
    steps_per_epoch: int | None = None
    open_ended: bool = False  # the formula keeps moving past T (no finite last phase)
    jumps: bool = False  # the LR may jump at a join by design (decays, restarts, allow_jump)

    def bind(self):
        return self.spec.bind(self.total_steps, self.steps_per_epoch)


EXAMPLES = [
    Example("constant", Constant(peak_lr=3e-4), 1000, 3e-4, 3e-4),
    Example(
        "step_decay-size",
        StepDecay(peak_lr=0.1, gamma=0.5, step_size=250),
        1000,
        0.0,
        0.1,
        open_ended=True,
        jumps=True,
    ),
    Example(
        "step_decay-milestones",
        StepDecay(peak_lr=0.1, gamma=0.1, milestones=("30ep", "60ep")),
        900,
        0.1 * 0.1 * 0.1,
        0.1,
        steps_per_epoch=10,
        jumps=True,
    ),
    Example("cosine", Cosine(peak_lr=3e-4, min_lr=1e-6), 1000, 1e-6, 3e-4),
    Example("cosine-ratio-decay", Cosine(peak_lr=1.0, min_lr_ratio=0.1, decay_steps=0.5), 999, 0.1, 1.0),
    Example("cosine_restarts", CosineRestarts(peak_lr=1e-3, cycle_steps=100), 1000, 0.0, 1e-3, jumps=True),
    Example(
        "cosine_restarts-mult-decay",
        CosineRestarts(peak_lr=1e-3, cycle_steps=50, cycle_mult=2, cycle_decay=0.5, min_lr_ratio=0.01),
        1000,
        1e-5,
        1e-3,
        jumps=True,
    ),
    Example("warmup_cosine", WarmupCosine(peak_lr=3e-4, warmup=0.05, min_lr_ratio=0.1), 1010, 0.0, 3e-4),
    Example("one_cycle", OneCycle(peak_lr=0.01), 1000, 0.01 / 25 / 1e4, 0.01),
    Example(
        "one_cycle-three-linear",
        OneCycle(peak_lr=0.01, pct_start=0.25, anneal="linear", three_phase=True),
        997,
        0.01 / 25 / 1e4,
        0.01,
    ),
    Example("one_cycle_momentum", OneCycleMomentum(max_momentum=0.95, base_momentum=0.85), 1000, 0.85, 0.95),
    Example(
        "one_cycle_momentum-three",
        OneCycleMomentum(max_momentum=0.95, base_momentum=0.85, pct_start=0.3, three_phase=True),
        1000,
        0.85,
        0.95,
    ),
    Example("wsd-linear", WarmupStableDecay(peak_lr=1e-3, warmup=100, decay=0.2), 1000, 0.0, 1e-3),
    Example(
        "wsd-cosine-floor",
        WarmupStableDecay(peak_lr=1e-3, warmup=50, decay=200, decay_shape="cosine", min_lr=1e-5),
        1000,
        1e-5,
        1e-3,
    ),
    Example(
        "wsd-1-sqrt-stable",
        WarmupStableDecay(peak_lr=1e-3, warmup=50, decay=150, decay_shape="1-sqrt", stable=800),
        1000,
        0.0,
        1e-3,
    ),
    Example(
        "with_warmup-cosine", Warmup(Cosine(peak_lr=1e-3), warmup=100, start_ratio=0.01), 1000, 0.0, 1e-3
    ),
    Example(
        "with_warmup-step_decay",
        Warmup(StepDecay(peak_lr=1e-3, gamma=0.1, milestones=(300, 600)), warmup=0.1),
        1000,
        0.0,
        1e-3,
        jumps=True,
    ),
    Example("linear", Linear(peak_lr=1e-3, min_lr_ratio=0.1), 1000, 1e-4, 1e-3),
    Example("polynomial", Polynomial(peak_lr=1e-3, power=1.5, min_lr=1e-5), 1000, 1e-5, 1e-3),
    Example("exponential", Exponential(peak_lr=1e-3, gamma=0.999), 1000, 0.0, 1e-3, open_ended=True),
    Example("inverse_sqrt", InverseSqrt(peak_lr=1e-3, timescale=100), 1000, 0.0, 1e-3, open_ended=True),
    Example("sweep-exp", Sweep(start_lr=1e-7, end_lr=10.0), 1000, 1e-7, 10.0),
    Example("sweep-linear", Sweep(start_lr=1e-4, end_lr=1.0, num_steps=500, mode="linear"), 1000, 1e-4, 1.0),
    Example(
        "sequence",
        Sequence((Linear(peak_lr=1e-3, min_lr=5e-4, decay_steps=300), Cosine(peak_lr=5e-4)), lengths=(0.3,)),
        1000,
        0.0,
        1e-3,
    ),
    Example(
        "sequence-jump",
        Sequence((Constant(peak_lr=1e-3), Constant(peak_lr=1e-4)), lengths=(500,), allow_jump=True),
        1000,
        1e-4,
        1e-3,
        jumps=True,
    ),
    Example(
        "piecewise",
        Piecewise(boundaries=(300, 700), values=(1e-3, 1e-4, 1e-5)),
        1000,
        1e-5,
        1e-3,
        jumps=True,
    ),
    Example(
        "hold_after",
        HoldAfter(CosineRestarts(peak_lr=1e-3, cycle_steps=200), steps=600),
        1000,
        0.0,
        1e-3,
        jumps=True,
    ),
]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "example" in metafunc.fixturenames:
        metafunc.parametrize("example", EXAMPLES, ids=[e.id for e in EXAMPLES])


@pytest.fixture
def all_examples() -> list[Example]:
    return EXAMPLES
