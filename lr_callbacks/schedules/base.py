"""The base of every built-in schedule: a frozen, serialisable spec that binds to a run."""

from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar

from .bound import BoundSchedule
from .lengths import Horizon, check_number
from .phases import Phase, with_hold


class Schedule:
    """A schedule spec: frozen parameters, no state, no optimizer.

    Subclasses are frozen dataclasses with a spec ``name`` and a ``_phases(horizon)``
    method. ``bind(total_steps, steps_per_epoch)`` resolves every length once and
    returns the pure ``t -> lr`` function (a ``BoundSchedule``). Specs round-trip
    through ``to_spec()``/``parse()`` and ``to_dict()``/``from_dict()``.
    """

    name: ClassVar[str] = ""
    peak_lr: float

    def _phases(self, horizon: Horizon) -> list[Phase]:
        raise NotImplementedError

    def bind(self, total_steps: int | None = None, steps_per_epoch: int | None = None) -> BoundSchedule:
        """Resolve lengths against the run and return the closed-form schedule.

        Raises:
            ValueError: ``total_steps`` is needed but missing, or a length does not fit in it.
        """
        horizon = Horizon(total_steps, steps_per_epoch)
        return BoundSchedule(with_hold(self._phases(horizon)), self, total_steps)

    def to_dict(self) -> dict[str, Any]:
        """The spec as plain JSON-able data: ``{"name": ..., <non-default fields>}``."""
        out: dict[str, Any] = {"name": self.name}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if f.default is not dataclasses.MISSING and value == f.default:
                continue
            out[f.name] = _plain(value)
        return out

    def to_spec(self) -> str:
        """The spec string, e.g. ``warmup_cosine(peak_lr=0.0003, warmup=0.05)``."""
        from .spec import format_spec

        return format_spec(self.to_dict())

    def __str__(self) -> str:
        return self.to_spec()


def _plain(value: Any) -> Any:
    if isinstance(value, Schedule):
        return value.to_dict()
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if callable(value):
        raise TypeError(
            f"Schedule.to_dict: a Python callable cannot be written as a spec; got {value!r}. "
            f"Use built-in schedules in sequence(...) to make it serialisable."
        )
    return value


def resolve_floor(owner: str, peak_lr: float, min_lr: float | None, min_lr_ratio: float | None) -> float:
    """The absolute floor from ``min_lr`` or ``min_lr_ratio`` (at most one may be given)."""
    if min_lr is not None and min_lr_ratio is not None:
        raise ValueError(
            f"{owner}: give the floor as min_lr or as min_lr_ratio, not both; got min_lr={min_lr!r}, "
            f"min_lr_ratio={min_lr_ratio!r}. Keep one of them."
        )
    if min_lr_ratio is not None:
        ratio = check_number(
            owner,
            "min_lr_ratio",
            min_lr_ratio,
            low=0.0,
            low_open=False,
            high=1.0,
            fix="It is the floor as a fraction of peak_lr.",
        )
        return peak_lr * ratio
    if min_lr is None:
        return 0.0
    floor = check_number(
        owner,
        "min_lr",
        min_lr,
        low=0.0,
        low_open=False,
        fix="It is the absolute LR the schedule decays to.",
    )
    if floor > peak_lr:
        raise ValueError(
            f"{owner}: min_lr must not exceed peak_lr={peak_lr!r}; got min_lr={min_lr!r}. "
            f"Lower min_lr, or give it as min_lr_ratio (a fraction of peak_lr)."
        )
    return floor


def check_peak(owner: str, peak_lr: object) -> float:
    """Validate ``peak_lr``: a finite positive number."""
    return check_number(
        owner, "peak_lr", peak_lr, fix="Pass the LR at the top of the schedule, e.g. peak_lr=3e-4."
    )


def check_fits(owner: str, name: str, steps: int, total: int, what: str = "the run") -> None:
    """A resolved length must fit in the run."""
    if steps > total:
        raise ValueError(
            f"{owner}: {name} must not exceed {what} (total_steps={total}); got {name}={steps} steps. "
            f"Shorten {name}, or check total_steps."
        )


INF = math.inf
