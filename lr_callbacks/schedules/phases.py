"""Phase tables: the one representation every bound schedule evaluates.

A bound schedule is a sorted table of phases ``[start, end)``. Inside a phase the
LR moves from ``lr_start`` (at ``start``) to ``lr_end`` (at ``end``) along a shape;
after the last phase the LR holds its final value. Scalar evaluation is a binary
search plus one closed-form expression, vectorised evaluation does the same with
numpy, and ``describe()``, ``events()`` and the lints read the same table, so they
cannot disagree with the curve.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

#: Shapes: how the LR moves inside a phase, ``u = (t - start) / (end - start)``.
SHAPES = (
    "constant",
    "linear",
    "torch_linear",
    "cosine",
    "1-sqrt",
    "poly",
    "exp",
    "staircase",
    "inverse_sqrt",
    "callable",
)


@dataclass(frozen=True)
class Phase:
    """One piece of a schedule.

    Args:
        name: what the phase is ("warmup", "cosine decay", "cycle 2", ...).
        start: first step of the phase (may be fractional for one-cycle's torch positions).
        end: the step where ``lr_end`` is reached (``math.inf`` for an open phase).
        shape: one of ``SHAPES``.
        lr_start: the LR at ``start``.
        lr_end: the LR at ``end``.
        param: the shape's parameter (power, gamma, timescale), if any.
        step: the staircase period, if any.
        event: the schedule event that happens at ``start`` ("warmup_end", "decay",
            "decay_start", "restart", "peak") or ``None``.
        fn: for ``shape="callable"``, the user's ``t -> lr`` on the phase's local clock.
    """

    name: str
    start: float
    end: float
    shape: str
    lr_start: float
    lr_end: float
    param: float = 1.0
    step: float = 1.0
    event: str | None = None
    fn: Callable[[float], float] | None = field(default=None, compare=False)

    def shifted(self, offset: float) -> Phase:
        """The same phase on a clock that starts ``offset`` steps later."""
        return Phase(
            self.name,
            self.start + offset,
            self.end + offset,
            self.shape,
            self.lr_start,
            self.lr_end,
            self.param,
            self.step,
            self.event,
            self.fn,
        )

    def value(self, t: float) -> float:
        """The LR at step ``t`` (``start <= t``)."""
        return _SCALAR[self.shape](self, t)


def _linear(p: Phase, t: float) -> float:
    # Interpolate from the end nearer zero so that a leg ending (or starting) at 0
    # keeps full relative precision at its last (first) steps.
    span = p.end - p.start
    if abs(p.lr_end) >= abs(p.lr_start):
        return p.lr_start + (p.lr_end - p.lr_start) * ((t - p.start) / span)
    return p.lr_end + (p.lr_start - p.lr_end) * ((p.end - t) / span)


def _torch_linear(p: Phase, t: float) -> float:
    # torch OneCycleLR's own expression, kept for bit-exact migration.
    return (p.lr_end - p.lr_start) * ((t - p.start) / (p.end - p.start)) + p.lr_start


def _cosine(p: Phase, t: float) -> float:
    u = (t - p.start) / (p.end - p.start)
    return p.lr_end + (p.lr_start - p.lr_end) * (0.5 * (1.0 + math.cos(math.pi * u)))


def _sqrt(p: Phase, t: float) -> float:
    u = (t - p.start) / (p.end - p.start)
    return p.lr_end + (p.lr_start - p.lr_end) * (1.0 - math.sqrt(u))


def _poly(p: Phase, t: float) -> float:
    remaining = (p.end - t) / (p.end - p.start)
    return p.lr_end + (p.lr_start - p.lr_end) * math.pow(remaining, p.param)


_SCALAR: dict[str, Callable[[Phase, float], float]] = {
    "constant": lambda p, t: p.lr_start,
    "linear": _linear,
    "torch_linear": _torch_linear,
    "cosine": _cosine,
    "1-sqrt": _sqrt,
    "poly": _poly,
    "exp": lambda p, t: p.lr_start * p.param ** (t - p.start),
    "staircase": lambda p, t: p.lr_start * p.param ** math.floor((t - p.start) / p.step),
    "inverse_sqrt": lambda p, t: p.lr_start * (1.0 / math.sqrt((t - p.start + p.param) / p.param)),
    "callable": lambda p, t: float(p.fn(t - p.start)) if p.fn is not None else p.lr_start,
}


def _vector(p: Phase, t: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    # The same operations, in the same order, as the scalar shapes above (so the results are
    # the same bits), done in place on one work array to keep 10M-step evaluations fast.
    import numpy as np

    span = p.end - p.start
    a, b = p.lr_start, p.lr_end
    if p.shape == "constant":
        return np.full_like(t, a)
    if p.shape in ("linear", "torch_linear", "cosine", "1-sqrt") and not (
        p.shape == "linear" and abs(b) < abs(a)
    ):
        x = np.subtract(t, p.start)
        x /= span
        if p.shape == "cosine":
            x *= np.pi
            np.cos(x, out=x)
            x += 1.0
            x *= 0.5
        elif p.shape == "1-sqrt":
            np.sqrt(x, out=x)
            np.subtract(1.0, x, out=x)
        if p.shape in ("linear", "torch_linear"):
            x *= b - a
            x += a
        else:
            x *= a - b
            x += b
        return x
    if p.shape == "linear":
        x = np.subtract(p.end, t)
        x /= span
        x *= a - b
        x += b
        return x
    if p.shape == "poly":
        return b + (a - b) * ((p.end - t) / span) ** p.param
    if p.shape == "exp":
        return a * p.param ** (t - p.start)
    if p.shape == "staircase":
        return a * p.param ** np.floor((t - p.start) / p.step)
    if p.shape == "inverse_sqrt":
        return a * (1.0 / np.sqrt((t - p.start + p.param) / p.param))
    return np.array([p.value(float(x)) for x in t], dtype=np.float64)


@dataclass(frozen=True)
class ScheduleEvent:
    """A schedule event at a step, as plain data for the diagnostics.

    Args:
        step: the first update that sees the new regime.
        kind: "warmup_end", "decay", "decay_start", "restart" or "peak".
        description: a sentence for alerts ("LR step decay x0.1").
        factor: LR after / LR before the event, or ``None`` where it is not a jump.
    """

    step: int
    kind: str
    description: str
    factor: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The event as the dict the diagnostics take."""
        return {
            "step": self.step,
            "kind": self.kind,
            "description": self.description,
            "factor": self.factor,
        }


def with_hold(phases: Sequence[Phase]) -> list[Phase]:
    """Drop empty phases and append a hold phase at the final LR after a finite end."""
    kept = [p for p in phases if p.end > p.start]
    if not kept:
        raise ValueError("Schedule: the schedule has no phase of positive length; check its lengths.")
    last = kept[-1]
    if math.isfinite(last.end):
        final = (
            last.value(last.end) if last.shape in ("staircase", "inverse_sqrt", "callable") else last.lr_end
        )
        kept.append(Phase("end", last.end, math.inf, "constant", final, final))
    return kept
