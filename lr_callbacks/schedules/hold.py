"""Hold: run a schedule for a fixed number of steps, then keep its final LR."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from .base import Schedule
from .bound import BoundSchedule
from .lengths import Horizon, Length, check_length
from .phases import Phase, with_hold


@dataclass(frozen=True)
class HoldAfter(Schedule):
    """``schedule`` bound to ``steps`` steps, then its final LR for the rest of the run.

    The inner schedule sees a run of exactly ``steps`` updates whatever the real ``T``
    (longer or shorter), so its curve does not stretch with the run: e.g. cosine
    restarts limited to the cycles that fit in ``steps`` (timm ``cycle_limit``).

    Example:
        >>> from lr_callbacks.schedules import CosineRestarts
        >>> inner = CosineRestarts(peak_lr=1.0, cycle_steps=2)
        >>> lr = HoldAfter(inner, steps=4).bind(total_steps=8)
        >>> [round(lr(t), 3) for t in range(8)]
        [1.0, 0.5, 1.0, 0.5, 0.0, 0.0, 0.0, 0.0]
    """

    name: ClassVar[str] = "hold_after"
    schedule: Schedule
    steps: Length

    def __post_init__(self) -> None:
        if not isinstance(self.schedule, Schedule):
            raise TypeError(
                f"hold_after: schedule must be a schedule spec; got schedule={self.schedule!r}. "
                f"Pass e.g. cosine_restarts(peak_lr=0.1, cycle_steps=1000)."
            )
        check_length("hold_after", "steps", self.steps)

    @property
    def peak_lr(self) -> float:  # type: ignore[override]
        return self.schedule.peak_lr

    def _phases(self, horizon: Horizon) -> list[Phase]:
        steps = horizon.resolve("hold_after", "steps", self.steps)
        if steps < 1:
            raise ValueError(
                f"hold_after: steps must resolve to at least 1 step; got steps={self.steps!r} ({steps} steps). "
                f"Use a longer hold_after steps."
            )
        kept = [p for p in self.schedule._phases(Horizon(steps, horizon.steps_per_epoch)) if p.start < steps]
        if kept and kept[-1].end > steps:
            final = BoundSchedule(with_hold(kept))(steps)
            kept.append(Phase("hold", steps, math.inf, "constant", final, final))
        return kept
