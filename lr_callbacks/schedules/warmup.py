"""Warmup: a wrapper usable in front of any schedule, and the two warmup recipes."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

from .base import Schedule, check_fits, check_peak, resolve_floor
from .bound import BoundSchedule
from .families import Cosine
from .lengths import Horizon, Length, check_length, check_number
from .phases import Phase, with_hold

_DECAY_SHAPES = {"linear": "linear", "cosine": "cosine", "1-sqrt": "1-sqrt"}


def _with_event(phase: Phase, event: str) -> Phase:
    return phase if phase.event else dataclasses.replace(phase, event=event)


@dataclass(frozen=True)
class Warmup(Schedule):
    """Linear warmup in front of any schedule, which then runs on its own clock.

    ``lr(t) = inner(0) * (r + (1 - r) * t / W)`` for ``t < W``, then ``inner(t - W)``
    with ``inner`` bound to ``T - W`` steps (``r = start_ratio``). With the default
    ``r = 0`` update 0 gets LR 0, as in HF; ``start_ratio=0.01`` makes it useful.

    Example:
        >>> from lr_callbacks.schedules import Constant
        >>> lr = Warmup(Constant(peak_lr=1.0), warmup=4).bind(total_steps=10)
        >>> [lr(t) for t in range(6)]
        [0.0, 0.25, 0.5, 0.75, 1.0, 1.0]
    """

    name: ClassVar[str] = "with_warmup"
    schedule: Schedule
    warmup: Length
    start_ratio: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.schedule, Schedule):
            raise TypeError(
                f"with_warmup: schedule must be a schedule spec; got schedule={self.schedule!r}. "
                f"Pass e.g. cosine(peak_lr=3e-4)."
            )
        check_length("with_warmup", "warmup", self.warmup)
        check_number(
            "with_warmup",
            "start_ratio",
            self.start_ratio,
            low=0.0,
            low_open=False,
            high=1.0,
            fix="The warmup starts at start_ratio * peak.",
        )

    @property
    def peak_lr(self) -> float:  # type: ignore[override]
        return self.schedule.peak_lr

    def _phases(self, horizon: Horizon) -> list[Phase]:
        return warmup_phases("with_warmup", self.schedule, self.warmup, self.start_ratio, horizon)


def warmup_phases(
    owner: str, inner: Schedule, warmup: Length, start_ratio: float, horizon: Horizon
) -> list[Phase]:
    """The warmup leg followed by ``inner`` on a local clock starting at the warmup's end."""
    steps = horizon.resolve(owner, "warmup", warmup)
    rest = None
    if horizon.total_steps is not None:
        check_fits(owner, "warmup", steps, horizon.total_steps)
        rest = horizon.total_steps - steps
    inner_phases = inner._phases(Horizon(rest or None, horizon.steps_per_epoch)) if rest != 0 else []
    shifted = [p.shifted(steps) for p in inner_phases if p.end > p.start]
    if steps == 0:
        return shifted
    top = BoundSchedule(with_hold(shifted))(steps) if shifted else inner.peak_lr
    ramp = Phase("warmup", 0, steps, "linear", top * start_ratio, top)
    return [ramp, *([_with_event(shifted[0], "warmup_end"), *shifted[1:]] if shifted else [])]


@dataclass(frozen=True)
class WarmupCosine(Schedule):
    """Linear warmup then cosine decay: the standard LLM schedule.

    ``lr(t) = peak * t / W`` for ``t < W``, then
    ``floor + (peak - floor) * cos½((t - W) / (T - W))``; the floor is reached at
    ``t = T``. Equals HF ``get_cosine_schedule_with_warmup`` (and with a floor,
    ``get_cosine_with_min_lr_schedule_with_warmup``). Warm up over 1-5% of the run.

    Example:
        >>> lr = WarmupCosine(peak_lr=1.0, warmup=2).bind(total_steps=10)
        >>> [round(lr(t), 4) for t in (0, 1, 2, 6, 9)]
        [0.0, 0.5, 1.0, 0.5, 0.0381]
    """

    name: ClassVar[str] = "warmup_cosine"
    peak_lr: float
    warmup: Length
    min_lr: float | None = None
    min_lr_ratio: float | None = None

    def __post_init__(self) -> None:
        check_peak("warmup_cosine", self.peak_lr)
        check_length("warmup_cosine", "warmup", self.warmup)
        resolve_floor("warmup_cosine", self.peak_lr, self.min_lr, self.min_lr_ratio)

    def _phases(self, horizon: Horizon) -> list[Phase]:
        horizon.total("warmup_cosine", "the cosine decay length")
        inner = Cosine(self.peak_lr, self.min_lr, self.min_lr_ratio)
        return warmup_phases("warmup_cosine", inner, self.warmup, 0.0, horizon)


@dataclass(frozen=True)
class WarmupStableDecay(Schedule):
    """Warmup-stable-decay (WSD): warm up, hold the peak, then decay to the floor.

    Warmup ``floor -> peak`` over ``W``; stable at ``peak`` for
    ``S = T - W - D`` (or ``stable``); decay ``peak -> floor`` over ``D`` with
    ``decay_shape`` ``linear`` (``1 - u``), ``cosine`` (``cos½(u)``) or ``1-sqrt``
    (``1 - sqrt(u)``); the floor after. ``decay`` is a length: steps, or a
    fraction of the whole run (``decay=0.2``: the last 20%). Equals HF
    ``get_wsd_schedule`` with the same phase lengths (HF also starts the warmup at
    the floor). Popular for LLM pre-training: most learning happens in the stable
    phase, the final decay refines; decays under ~5-10% of the run are too short.

    Example:
        >>> lr = WarmupStableDecay(peak_lr=1.0, warmup=2, decay=4).bind(total_steps=10)
        >>> [lr(t) for t in range(11)]
        [0.0, 0.5, 1.0, 1.0, 1.0, 1.0, 1.0, 0.75, 0.5, 0.25, 0.0]
    """

    name: ClassVar[str] = "wsd"
    peak_lr: float
    warmup: Length
    decay: Length
    decay_shape: str = "linear"
    min_lr: float | None = None
    min_lr_ratio: float | None = None
    stable: Length | None = None

    def __post_init__(self) -> None:
        check_peak("wsd", self.peak_lr)
        check_length("wsd", "warmup", self.warmup)
        check_length("wsd", "decay", self.decay)
        if self.stable is not None:
            check_length("wsd", "stable", self.stable)
        if self.decay_shape not in _DECAY_SHAPES:
            raise ValueError(
                f"wsd: decay_shape must be one of {sorted(_DECAY_SHAPES)}; got "
                f"decay_shape={self.decay_shape!r}. Pick one of them."
            )
        resolve_floor("wsd", self.peak_lr, self.min_lr, self.min_lr_ratio)

    def _phases(self, horizon: Horizon) -> list[Phase]:
        floor = resolve_floor("wsd", self.peak_lr, self.min_lr, self.min_lr_ratio)
        warm = horizon.resolve("wsd", "warmup", self.warmup)
        decay = horizon.resolve("wsd", "decay", self.decay)
        if decay < 1:
            raise ValueError(
                f"wsd: decay must resolve to at least 1 step; got decay={self.decay!r} ({decay} steps). "
                f"Without a decay the LR never reaches the floor: use with_warmup(constant(...)) for that."
            )
        if self.stable is None:
            total = horizon.total("wsd", "the length of the stable phase (or pass stable=)")
            check_fits("wsd", "warmup + decay", warm + decay, total)
            stable = total - warm - decay
        else:
            stable = horizon.resolve("wsd", "stable", self.stable)
        top = warm + stable
        return [
            Phase("warmup", 0, warm, "linear", floor, self.peak_lr),
            Phase("stable", warm, top, "constant", self.peak_lr, self.peak_lr, event="warmup_end"),
            Phase(
                "decay",
                top,
                top + decay,
                _DECAY_SHAPES[self.decay_shape],
                self.peak_lr,
                floor,
                event="decay_start",
            ),
        ]
