"""Piecewise constant: a value per interval between boundaries (optax ``piecewise_constant``)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import pairwise
from typing import ClassVar

from .base import Schedule
from .lengths import Horizon, Length, check_length, check_number
from .phases import Phase


@dataclass(frozen=True)
class Piecewise(Schedule):
    """``lr(t) = values[i]`` for ``boundaries[i-1] <= t < boundaries[i]``: any staircase.

    ``values`` has one more entry than ``boundaries``; the first applies from step 0,
    the last after the last boundary. A boundary ``b`` changes the LR of update ``b``
    onwards (torch/optax convention; Keras ``PiecewiseConstantDecay`` changes one step
    later, see ``presets.from_keras``). Boundaries are lengths (steps, fractions of
    ``T``, epochs) and must resolve to strictly increasing steps > 0. Values may rise
    or fall and may be 0; use it for hand-made staircases and migrated step schedules.

    Example:
        >>> lr = Piecewise(boundaries=(2, 5), values=(1.0, 0.1, 0.01)).bind()
        >>> [lr(t) for t in range(7)]
        [1.0, 1.0, 0.1, 0.1, 0.1, 0.01, 0.01]
    """

    name: ClassVar[str] = "piecewise"
    boundaries: tuple[Length, ...]
    values: tuple[float, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "boundaries", tuple(self.boundaries))
        object.__setattr__(self, "values", tuple(self.values))
        if len(self.values) != len(self.boundaries) + 1:
            raise ValueError(
                f"piecewise: give one more value than boundaries; got values={list(self.values)!r} for "
                f"boundaries={list(self.boundaries)!r}. values[0] applies before the first boundary."
            )
        for value in self.values:
            check_number("piecewise", "values", value, low=0.0, low_open=False, fix="Each value is an LR.")
        for boundary in self.boundaries:
            check_length("piecewise", "boundaries", boundary)

    @property
    def peak_lr(self) -> float:  # type: ignore[override]
        return max(self.values)

    def _phases(self, horizon: Horizon) -> list[Phase]:
        steps = [horizon.resolve("piecewise", "boundaries", b) for b in self.boundaries]
        if any(b <= a for a, b in pairwise(steps)) or (steps and steps[0] <= 0):
            raise ValueError(
                f"piecewise: boundaries must be strictly increasing steps > 0; got "
                f"boundaries={list(self.boundaries)!r} (resolved to {steps}). Sort them and merge duplicates."
            )
        bounds = [0, *steps, math.inf]
        return [
            Phase(f"piece {i}", a, b, "constant", value, value, event="decay" if i else None)
            for i, (value, (a, b)) in enumerate(zip(self.values, pairwise(bounds), strict=True))
        ]
