"""The legs schedules are built from, and the LR range test's sweep."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from .base import Schedule, check_peak, resolve_floor
from .lengths import Horizon, Length, check_int, check_length, check_number
from .phases import Phase


def _decay_length(owner: str, horizon: Horizon, decay_steps: Length | None) -> int:
    if decay_steps is None:
        return horizon.total(owner, "the decay length (or pass decay_steps=)")
    steps = horizon.resolve(owner, "decay_steps", decay_steps)
    if steps < 1:
        raise ValueError(
            f"{owner}: decay_steps resolved to {steps} steps; it must be at least 1. Use a longer decay."
        )
    return steps


@dataclass(frozen=True)
class Linear(Schedule):
    """``lr(t) = peak + (floor - peak) * t / D``, ``D = decay_steps`` (default ``T``); held after.

    Example:
        >>> lr = Linear(peak_lr=1.0).bind(total_steps=4)
        >>> [lr(t) for t in range(5)]
        [1.0, 0.75, 0.5, 0.25, 0.0]
    """

    name: ClassVar[str] = "linear"
    peak_lr: float
    min_lr: float | None = None
    min_lr_ratio: float | None = None
    decay_steps: Length | None = None

    def __post_init__(self) -> None:
        check_peak(self.name, self.peak_lr)
        resolve_floor(self.name, self.peak_lr, self.min_lr, self.min_lr_ratio)
        if self.decay_steps is not None:
            check_length(self.name, "decay_steps", self.decay_steps)

    def _phases(self, horizon: Horizon) -> list[Phase]:
        floor = resolve_floor(self.name, self.peak_lr, self.min_lr, self.min_lr_ratio)
        length = _decay_length(self.name, horizon, self.decay_steps)
        return [Phase("linear decay", 0, length, "linear", self.peak_lr, floor)]


@dataclass(frozen=True)
class Polynomial(Schedule):
    """``lr(t) = floor + (peak - floor) * (1 - t / D) ** power``; held after ``D``.

    torch ``PolynomialLR(total_iters=D, power)`` and HF's polynomial decay (after its warmup).

    Example:
        >>> lr = Polynomial(peak_lr=1.0, power=2).bind(total_steps=4)
        >>> [lr(t) for t in range(5)]
        [1.0, 0.5625, 0.25, 0.0625, 0.0]
    """

    name: ClassVar[str] = "polynomial"
    peak_lr: float
    power: float = 1.0
    min_lr: float | None = None
    min_lr_ratio: float | None = None
    decay_steps: Length | None = None

    def __post_init__(self) -> None:
        check_peak(self.name, self.peak_lr)
        check_number(self.name, "power", self.power, high=100.0, fix="power=1 is a linear decay.")
        resolve_floor(self.name, self.peak_lr, self.min_lr, self.min_lr_ratio)
        if self.decay_steps is not None:
            check_length(self.name, "decay_steps", self.decay_steps)

    def _phases(self, horizon: Horizon) -> list[Phase]:
        floor = resolve_floor(self.name, self.peak_lr, self.min_lr, self.min_lr_ratio)
        length = _decay_length(self.name, horizon, self.decay_steps)
        return [Phase("polynomial decay", 0, length, "poly", self.peak_lr, floor, param=self.power)]


@dataclass(frozen=True)
class Exponential(Schedule):
    """``lr(t) = peak * gamma ** t`` (torch ``ExponentialLR``); it never stops decaying.

    Example:
        >>> lr = Exponential(peak_lr=1.0, gamma=0.5).bind()
        >>> [lr(t) for t in range(4)]
        [1.0, 0.5, 0.25, 0.125]
    """

    name: ClassVar[str] = "exponential"
    peak_lr: float
    gamma: float

    def __post_init__(self) -> None:
        check_peak(self.name, self.peak_lr)
        check_number(
            self.name,
            "gamma",
            self.gamma,
            high=1.0,
            fix="gamma is the factor per step, e.g. 0.999.",
        )

    def _phases(self, horizon: Horizon) -> list[Phase]:
        return [Phase("exponential decay", 0, math.inf, "exp", self.peak_lr, 0.0, param=self.gamma)]


@dataclass(frozen=True)
class InverseSqrt(Schedule):
    """``lr(t) = peak / sqrt((t + tau) / tau)``, ``tau = timescale``: the original transformer decay.

    Example:
        >>> lr = InverseSqrt(peak_lr=1.0, timescale=4).bind()
        >>> [round(lr(t), 3) for t in (0, 4, 12)]
        [1.0, 0.707, 0.5]
    """

    name: ClassVar[str] = "inverse_sqrt"
    peak_lr: float
    timescale: int = 10_000

    def __post_init__(self) -> None:
        check_peak(self.name, self.peak_lr)
        check_int(self.name, "timescale", self.timescale, 1, "In steps; HF uses the warmup length, or 10000.")

    def _phases(self, horizon: Horizon) -> list[Phase]:
        return [
            Phase(
                "inverse-sqrt decay",
                0,
                math.inf,
                "inverse_sqrt",
                self.peak_lr,
                0.0,
                param=float(self.timescale),
            )
        ]


@dataclass(frozen=True)
class Sweep(Schedule):
    """The LR range test's sweep from ``start_lr`` to ``end_lr`` over ``num_steps`` (default ``T``).

    ``exp`` (default): ``start * (end / start) ** (t / (N - 1))``, a constant factor
    ``10 ** (log10(end / start) / (N - 1))`` per step; ``linear``:
    ``start + (end - start) * t / (N - 1)``. ``lr(N - 1) = end_lr``.

    Example:
        >>> lr = Sweep(start_lr=1e-4, end_lr=1.0, num_steps=5).bind()
        >>> [float(f"{lr(t):.3g}") for t in range(5)]
        [0.0001, 0.001, 0.01, 0.1, 1.0]
    """

    name: ClassVar[str] = "sweep"
    start_lr: float = 1e-7
    end_lr: float = 10.0
    num_steps: int | None = None
    mode: str = "exp"

    def __post_init__(self) -> None:
        check_number(self.name, "start_lr", self.start_lr)
        check_number(
            self.name,
            "end_lr",
            self.end_lr,
            low=self.start_lr,
            fix="The sweep rises: end_lr must be larger than start_lr.",
        )
        if self.num_steps is not None:
            check_int(
                self.name,
                "num_steps",
                self.num_steps,
                2,
                "A range test needs a few dozen steps (100 is typical).",
            )
        if self.mode not in ("exp", "linear"):
            raise ValueError(
                f"sweep: mode must be 'exp' or 'linear'; got mode={self.mode!r}. Pick one of them."
            )

    @property
    def peak_lr(self) -> float:  # type: ignore[override]
        return self.end_lr

    def _phases(self, horizon: Horizon) -> list[Phase]:
        steps = self.num_steps or horizon.total(self.name, "the sweep length (or pass num_steps=)")
        if steps < 2:
            raise ValueError(
                f"sweep: the sweep needs at least 2 steps; got total_steps={steps}. Pass num_steps= or a longer run."
            )
        if self.mode == "linear":
            return [Phase("sweep", 0, steps - 1, "linear", self.start_lr, self.end_lr)]
        factor = (self.end_lr / self.start_lr) ** (1.0 / (steps - 1))
        return [Phase("sweep", 0, steps - 1, "exp", self.start_lr, self.end_lr, param=factor)]
