"""The guide's seven schedules, in closed form, as frozen specs.

Notation: ``t`` is the 0-based count of completed optimizer updates, ``T`` the
run's total updates, ``peak`` = ``peak_lr``, ``floor`` = ``min_lr`` (or
``min_lr_ratio * peak_lr``), ``cos½(u) = (1 + cos(pi u)) / 2``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import pairwise
from typing import ClassVar

from .base import Schedule, check_peak, resolve_floor
from .lengths import Horizon, Length, check_length, check_number
from .phases import Phase


@dataclass(frozen=True)
class Constant(Schedule):
    """``lr(t) = peak``: the baseline; fine for small models and prototyping with Adam.

    Example:
        >>> Constant(peak_lr=1e-3).bind()(123)
        0.001
    """

    name: ClassVar[str] = "constant"
    peak_lr: float

    def __post_init__(self) -> None:
        check_peak("constant", self.peak_lr)

    def _phases(self, horizon: Horizon) -> list[Phase]:
        return [Phase("constant", 0, math.inf, "constant", self.peak_lr, self.peak_lr)]


@dataclass(frozen=True)
class StepDecay(Schedule):
    """``lr(t) = peak * gamma ** k``, ``k`` = decays so far: every ``step_size`` or at ``milestones``.

    ``step_size`` and milestones are lengths (steps, fractions of ``T``, or epochs
    like ``"30ep"``); a milestone ``m`` decays the LR of update ``m`` onwards
    (torch ``StepLR``/``MultiStepLR``). The classic vision recipe is 90 epochs with
    ``milestones=["30ep", "60ep"], gamma=0.1``.

    Example:
        >>> lr = StepDecay(peak_lr=1.0, gamma=0.5, step_size=3).bind()
        >>> [lr(t) for t in range(7)]
        [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25]
    """

    name: ClassVar[str] = "step_decay"
    peak_lr: float
    gamma: float
    step_size: Length | None = None
    milestones: tuple[Length, ...] | None = None

    def __post_init__(self) -> None:
        check_peak("step_decay", self.peak_lr)
        check_number(
            "step_decay",
            "gamma",
            self.gamma,
            high=1.0,
            fix="gamma is the factor of each decay, e.g. 0.1.",
        )
        if (self.step_size is None) == (self.milestones is None):
            raise ValueError(
                f"step_decay: give exactly one of step_size or milestones; got step_size={self.step_size!r}, "
                f"milestones={self.milestones!r}. Use step_size=30 for a decay every 30 steps, or milestones=[30, 60]."
            )
        if self.step_size is not None:
            check_length("step_decay", "step_size", self.step_size)
            if self.step_size == 0:
                raise ValueError(
                    "step_decay: step_size must be at least 1 step; got step_size=0. Pass a positive step_size."
                )
        if self.milestones is not None:
            object.__setattr__(self, "milestones", tuple(self.milestones))
            for m in self.milestones:
                check_length("step_decay", "milestones", m)
            steps = [m for m in self.milestones if isinstance(m, int)]
            if len(steps) == len(self.milestones):
                _check_increasing(list(self.milestones), steps)

    def _phases(self, horizon: Horizon) -> list[Phase]:
        if self.step_size is not None:
            size = horizon.resolve("step_decay", "step_size", self.step_size)
            if size < 1:
                raise ValueError(
                    f"step_decay: step_size resolved to {size} steps; it must be at least 1. Use a longer step_size."
                )
            return [
                Phase(
                    "step decay",
                    0,
                    math.inf,
                    "staircase",
                    self.peak_lr,
                    0.0,
                    param=self.gamma,
                    step=size,
                )
            ]
        assert self.milestones is not None
        steps = [horizon.resolve("step_decay", "milestones", m) for m in self.milestones]
        _check_increasing(list(self.milestones), steps)
        bounds = [0, *steps, math.inf]
        return [
            Phase(
                f"stage {i}",
                a,
                b,
                "constant",
                self.peak_lr * self.gamma**i,
                self.peak_lr * self.gamma**i,
                event="decay" if i else None,
            )
            for i, (a, b) in enumerate(pairwise(bounds))
        ]


@dataclass(frozen=True)
class Cosine(Schedule):
    """``lr(t) = floor + (peak - floor) * cos½(t / D)``, ``D = decay_steps`` (default ``T``); held after.

    The default for most transformer training. Gives torch's closed-form
    ``CosineAnnealingLR(T_max=D, eta_min=min_lr)`` for ``t <= D`` (torch rises again
    after ``D``; this holds the floor). The floor is reached at ``t = D``.

    Example:
        >>> lr = Cosine(peak_lr=1.0).bind(total_steps=4)
        >>> [round(lr(t), 3) for t in range(5)]
        [1.0, 0.854, 0.5, 0.146, 0.0]
    """

    name: ClassVar[str] = "cosine"
    peak_lr: float
    min_lr: float | None = None
    min_lr_ratio: float | None = None
    decay_steps: Length | None = None

    def __post_init__(self) -> None:
        check_peak("cosine", self.peak_lr)
        resolve_floor("cosine", self.peak_lr, self.min_lr, self.min_lr_ratio)
        if self.decay_steps is not None:
            check_length("cosine", "decay_steps", self.decay_steps)

    def _phases(self, horizon: Horizon) -> list[Phase]:
        floor = resolve_floor("cosine", self.peak_lr, self.min_lr, self.min_lr_ratio)
        if self.decay_steps is None:
            length = horizon.total("cosine", "the decay length")
        else:
            length = horizon.resolve("cosine", "decay_steps", self.decay_steps)
        return [Phase("cosine decay", 0, length, "cosine", self.peak_lr, floor)]


@dataclass(frozen=True)
class CosineRestarts(Schedule):
    """Cosine cycles, each restarting at a (decayed) peak: SGDR.

    Cycle ``i`` lasts ``cycle_steps * cycle_mult**i`` steps and runs
    ``floor + (peak * cycle_decay**i - floor) * cos½(u)``. With ``cycle_decay=1``
    and an int ``cycle_mult`` it gives torch's ``CosineAnnealingWarmRestarts``:
    the restart happens at the step where the floor would be reached. Cycles are
    laid out to cover ``T``: the last cycle runs to its end, then the LR holds.

    Example:
        >>> lr = CosineRestarts(peak_lr=1.0, cycle_steps=2, cycle_mult=2).bind(total_steps=6)
        >>> [round(lr(t), 3) for t in range(6)]
        [1.0, 0.5, 1.0, 0.854, 0.5, 0.146]
    """

    name: ClassVar[str] = "cosine_restarts"
    peak_lr: float
    cycle_steps: Length
    cycle_mult: float = 1
    cycle_decay: float = 1
    min_lr: float | None = None
    min_lr_ratio: float | None = None

    def __post_init__(self) -> None:
        check_peak("cosine_restarts", self.peak_lr)
        check_length("cosine_restarts", "cycle_steps", self.cycle_steps)
        check_number(
            "cosine_restarts",
            "cycle_mult",
            self.cycle_mult,
            low=1.0,
            low_open=False,
            high=1e6,
            fix="Each cycle is cycle_mult times longer than the previous one (1 = equal cycles).",
        )
        check_number(
            "cosine_restarts",
            "cycle_decay",
            self.cycle_decay,
            high=1.0,
            fix="Each cycle's peak is cycle_decay times the previous one (1 = same peak).",
        )
        resolve_floor("cosine_restarts", self.peak_lr, self.min_lr, self.min_lr_ratio)

    def _phases(self, horizon: Horizon) -> list[Phase]:
        floor = resolve_floor("cosine_restarts", self.peak_lr, self.min_lr, self.min_lr_ratio)
        total = horizon.total("cosine_restarts", "laying out the cycles")
        first = horizon.resolve("cosine_restarts", "cycle_steps", self.cycle_steps)
        if first < 1:
            raise ValueError(
                f"cosine_restarts: cycle_steps resolved to {first} steps; it must be at least 1. Use a longer cycle."
            )
        phases, start, i = [], 0.0, 0
        while start < total:
            length = first * self.cycle_mult**i
            peak = self.peak_lr * self.cycle_decay**i
            phases.append(
                Phase(
                    f"cycle {i + 1}",
                    start,
                    start + length,
                    "cosine",
                    peak,
                    floor,
                    event="restart" if i else None,
                )
            )
            start, i = start + length, i + 1
        return phases


def _check_increasing(milestones: list[Length], steps: list[int]) -> None:
    if any(b <= a for a, b in pairwise(steps)) or (steps and steps[0] <= 0):
        raise ValueError(
            f"step_decay: milestones must be strictly increasing steps > 0; got milestones={milestones!r} "
            f"(resolved to {steps}). Sort them and drop duplicates (for a double decay use gamma**2)."
        )
