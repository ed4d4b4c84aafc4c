"""Lints: legal schedules that are probably not what the user meant.

Each lint has a stable ``code``; the CLI prints them, the callbacks log them once
at train start. None of them stops training.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .bound import BoundSchedule
from .phases import Phase

#: A decay shorter than this fraction of the run rarely anneals enough (MiniCPM, Hägele et al.).
MIN_DECAY_FRACTION = 0.05
#: Transformers should warm up for at least this many updates.
MIN_TRANSFORMER_WARMUP = 100


@dataclass(frozen=True)
class Lint:
    """One foot-gun found in a bound schedule.

    Args:
        code: stable identifier ("zero_lr_at_start", ...).
        message: what was found, with numbers, and what to do.
    """

    code: str
    message: str


def lint(schedule: BoundSchedule) -> list[Lint]:
    """Every lint that applies to ``schedule``.

    Example:
        >>> from lr_callbacks.schedules import parse
        >>> [x.code for x in lint(parse("warmup_cosine(peak_lr=1e-3, warmup=10)").bind(1000))]
        ['zero_lr_at_start', 'short_warmup']
    """
    found: list[Lint] = []
    for check in _CHECKS:
        found.extend(check(schedule))
    return found


def _zero_start(s: BoundSchedule) -> list[Lint]:
    if s(0) != 0.0:
        return []
    return [
        Lint(
            "zero_lr_at_start",
            "the LR of update 0 is 0, so the first update is wasted; start the warmup above 0 "
            "(with_warmup(..., start_ratio=0.01)) if that matters.",
        )
    ]


def _wsd_total(s: BoundSchedule) -> list[Lint]:
    spec, total = s.spec, s.total_steps
    if getattr(spec, "name", "") != "wsd" or getattr(spec, "stable", None) is None or total is None:
        return []
    end = max(p.end for p in s.phases if p.name == "decay") if any(p.name == "decay" for p in s.phases) else 0
    if end == total:
        return []
    return [
        Lint(
            "wsd_length_mismatch",
            f"warmup + stable + decay = {end:g} steps but the run has total_steps={total}; "
            f"the LR {'holds the floor for the last ' + str(total - end) if end < total else 'is cut before the decay ends'}. "
            f"Drop stable= to make the decay end with the run.",
        )
    ]


def _one_cycle_legs(s: BoundSchedule) -> list[Lint]:
    if getattr(s.spec, "name", "") not in ("one_cycle", "one_cycle_momentum") or s.total_steps is None:
        return []
    pct = float(getattr(s.spec, "pct_start", 0.3))
    if pct * s.total_steps - 1 >= 1:
        return []
    return [
        Lint(
            "one_cycle_short_leg",
            f"the rising leg of one-cycle is pct_start*T - 1 = {pct * s.total_steps - 1:g} "
            f"steps (< 1), so the LR starts on the way down; raise pct_start or total_steps.",
        )
    ]


def _floor_above_peak(s: BoundSchedule) -> list[Lint]:
    bad = [
        p for p in s.phases if p.shape == "cosine" and p.lr_end > p.lr_start and p.name.startswith("cycle")
    ]
    if not bad:
        return []
    return [
        Lint(
            "floor_above_peak",
            f"{bad[0].name} peaks at {bad[0].lr_start:.3g}, below the floor {bad[0].lr_end:.3g} "
            f"(cycle_decay shrank it): the LR rises during that cycle. Lower the floor or raise cycle_decay.",
        )
    ]


def _decaying(p: Phase) -> bool:
    return p.shape not in ("constant", "callable") and p.lr_end < p.lr_start and p.name != "rise"


def _short_decay(s: BoundSchedule) -> list[Lint]:
    total = s.total_steps
    decays = [
        p for p in s.phases if _decaying(p) and p.end != float("inf") and not p.name.startswith("cycle")
    ]
    if total is None or not decays:
        return []
    length = sum(min(p.end, total) - p.start for p in decays)
    if length >= MIN_DECAY_FRACTION * total:
        return []
    return [
        Lint(
            "short_decay",
            f"the decay lasts {length:g} steps, {100 * length / total:.1f}% of the run "
            f"(< {100 * MIN_DECAY_FRACTION:g}%): too short to anneal well; 10-20% is typical for WSD.",
        )
    ]


def _short_warmup(s: BoundSchedule) -> list[Lint]:
    warm = [p for p in s.phases if p.name == "warmup"]
    if not warm or warm[0].end >= MIN_TRANSFORMER_WARMUP:
        return []
    return [
        Lint(
            "short_warmup",
            f"the warmup is {warm[0].end:g} steps; transformers need at least "
            f"{MIN_TRANSFORMER_WARMUP} (ideally 1-5% of the run). Fine for small CNNs/MLPs.",
        )
    ]


def _past_horizon(s: BoundSchedule) -> list[Lint]:
    total = s.total_steps
    late = [
        p
        for p in s.phases
        if total is not None
        and p.start < total < p.end != float("inf")
        and p.shape != "constant"
        and not p.name.startswith("cycle")
    ]
    if not late:
        return []
    return [
        Lint(
            "ends_after_run",
            f"the {late[0].name} ends at step {late[0].end:g}, after the run (total_steps={total}): "
            f"the LR never reaches {late[0].lr_end:.3g}. Check decay_steps / total_steps.",
        )
    ]


_CHECKS: tuple[Callable[[BoundSchedule], list[Lint]], ...] = (
    _zero_start,
    _wsd_total,
    _one_cycle_legs,
    _floor_above_peak,
    _short_decay,
    _short_warmup,
    _past_horizon,
)
