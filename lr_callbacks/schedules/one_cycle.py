"""One-cycle (Leslie Smith): rise to the peak, then anneal far below the start."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .base import Schedule, check_peak
from .lengths import Horizon, check_number
from .phases import Phase

_ANNEAL = {"cos": "cosine", "linear": "torch_linear"}


def _check_shape(owner: str, pct_start: float, anneal: str, three_phase: bool) -> None:
    high = 0.5 if three_phase else 1.0
    check_number(
        owner,
        "pct_start",
        pct_start,
        high=high,
        high_open=True,
        fix=f"It is the fraction of the run spent rising (must be < {high:g}"
        + (" with three_phase=True)." if three_phase else ")."),
    )
    if anneal not in _ANNEAL:
        raise ValueError(
            f"{owner}: anneal must be 'cos' or 'linear'; got anneal={anneal!r}. Pick one of them."
        )
    if not isinstance(three_phase, bool):
        raise TypeError(f"{owner}: three_phase must be True or False; got three_phase={three_phase!r}.")


def _legs(total: int, pct_start: float, three_phase: bool) -> list[tuple[str, float, float]]:
    """torch ``OneCycleLR`` positions: the peak at ``pct * T - 1``, the end at ``T - 1``."""
    up = float(pct_start * total) - 1
    if three_phase:
        down = float(2 * pct_start * total) - 2
        return [("rise", 0.0, up), ("fall", up, down), ("annihilate", down, float(total - 1))]
    return [("rise", 0.0, up), ("anneal", up, float(total - 1))]


@dataclass(frozen=True)
class OneCycle(Schedule):
    """One-cycle: from ``peak/div_factor`` up to ``peak``, then down to ``start/final_div_factor``.

    Phases, with torch ``OneCycleLR`` positions (``p = pct_start``): rise on
    ``[0, pT - 1]``, anneal on ``[pT - 1, T - 1]`` (``cos`` or ``linear``); with
    ``three_phase`` the LR falls back to the start at ``2pT - 2`` and is then
    annihilated to the minimum at ``T - 1``. Identical to torch's ``OneCycleLR``
    for the same arguments (per group, with a list ``max_lr``), except that past
    ``T - 1`` the LR holds instead of raising. ``momentum_schedule()`` gives the
    matching momentum / beta1 curve. Good for fine-tuning and short runs.

    Example:
        >>> lr = OneCycle(peak_lr=1.0).bind(total_steps=10)
        >>> [round(lr(t), 3) for t in (0, 2, 9)]
        [0.04, 1.0, 0.0]
    """

    name: ClassVar[str] = "one_cycle"
    peak_lr: float
    pct_start: float = 0.3
    div_factor: float = 25.0
    final_div_factor: float = 1e4
    anneal: str = "cos"
    three_phase: bool = False

    def __post_init__(self) -> None:
        check_peak("one_cycle", self.peak_lr)
        _check_shape("one_cycle", self.pct_start, self.anneal, self.three_phase)
        check_number(
            "one_cycle",
            "div_factor",
            self.div_factor,
            low=1.0,
            low_open=False,
            fix="The start LR is peak_lr / div_factor (torch default 25).",
        )
        check_number(
            "one_cycle",
            "final_div_factor",
            self.final_div_factor,
            low=1.0,
            low_open=False,
            fix="The final LR is the start LR / final_div_factor (torch default 1e4).",
        )

    def _phases(self, horizon: Horizon) -> list[Phase]:
        total = horizon.total("one_cycle", "placing the peak")
        start = self.peak_lr / self.div_factor
        lows = {
            "rise": (start, self.peak_lr),
            "anneal": (self.peak_lr, start / self.final_div_factor),
            "fall": (self.peak_lr, start),
            "annihilate": (start, start / self.final_div_factor),
        }
        shape = _ANNEAL[self.anneal]
        return [
            Phase(name, a, b, shape, *lows[name], event="peak" if name in ("anneal", "fall") else None)
            for name, a, b in _legs(total, self.pct_start, self.three_phase)
        ]

    def momentum_schedule(self, base_momentum: float = 0.85, max_momentum: float = 0.95) -> OneCycleMomentum:
        """The momentum (or Adam beta1) curve that mirrors this LR curve (torch ``cycle_momentum``)."""
        return OneCycleMomentum(max_momentum, base_momentum, self.pct_start, self.anneal, self.three_phase)


@dataclass(frozen=True)
class OneCycleMomentum(Schedule):
    """The momentum curve of one-cycle: ``max -> base`` while the LR rises, ``base -> max`` after.

    In three-phase mode it returns to ``max`` at ``2pT - 2`` and stays there
    (torch ``OneCycleLR``). ``max_momentum`` is the largest value.

    Example:
        >>> m = OneCycle(peak_lr=1.0).momentum_schedule().bind(total_steps=10)
        >>> [round(m(t), 3) for t in (0, 2, 9)]
        [0.95, 0.85, 0.95]
    """

    name: ClassVar[str] = "one_cycle_momentum"
    max_momentum: float = 0.95
    base_momentum: float = 0.85
    pct_start: float = 0.3
    anneal: str = "cos"
    three_phase: bool = False

    @property
    def peak_lr(self) -> float:  # type: ignore[override]
        return self.max_momentum

    def __post_init__(self) -> None:
        check_number(
            "one_cycle_momentum", "max_momentum", self.max_momentum, low=0.0, low_open=False, high=1.0
        )
        check_number(
            "one_cycle_momentum",
            "base_momentum",
            self.base_momentum,
            low=0.0,
            low_open=False,
            high=self.max_momentum,
            fix="base_momentum must not exceed max_momentum.",
        )
        _check_shape("one_cycle_momentum", self.pct_start, self.anneal, self.three_phase)

    def _phases(self, horizon: Horizon) -> list[Phase]:
        total = horizon.total("one_cycle_momentum", "placing the peak")
        high, low = self.max_momentum, self.base_momentum
        values = {
            "rise": (high, low),
            "anneal": (low, high),
            "fall": (low, high),
            "annihilate": (high, high),
        }
        shape = _ANNEAL[self.anneal]
        return [
            Phase(name, a, b, shape, *values[name])
            for name, a, b in _legs(total, self.pct_start, self.three_phase)
        ]
