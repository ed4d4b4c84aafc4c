"""``from_timm`` builders: timm's cosine, step and multistep schedulers (see ``presets``).

Common to all: update-mode stepping (``t_in_epochs=False``, ``step_update(t)``), so
every length is in updates. timm's warmup runs from the absolute ``warmup_lr_init``
(shared by all param groups: a group whose LR is below it warms *down*); ours starts
at the same fraction ``warmup_lr_init / peak_lr`` of every group's LR, equal to timm
for the first group. Only ``warmup_prefix=True`` warmups are reproduced: without the
prefix timm overlays the warmup on a curve that already started, so the LR drops
at the end of the warmup and the peak is never reached. We refuse that curve.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from .base import Schedule, check_peak
from .families import Cosine, CosineRestarts, StepDecay
from .hold import HoldAfter
from .lengths import check_number
from .presets import Builder, count, factor, floor_at_most, staircase
from .warmup import Warmup


def _warm(owner: str, inner: Schedule, peak: float, warmup_t: int, init: float, prefix: bool) -> Schedule:
    steps = count(owner, "warmup_t", warmup_t, minimum=0)
    start = floor_at_most(owner, "warmup_lr_init", init, peak)
    if steps == 0:
        return inner
    if not prefix:
        raise ValueError(
            f"{owner}: only warmup_prefix=True warmups can be reproduced; got warmup_prefix={prefix!r}. "
            f"Without the prefix timm's LR drops at the end of the warmup and never reaches the peak; "
            f"pass warmup_prefix=True (and shorten t_initial / decay_t by warmup_t to keep the same end)."
        )
    return Warmup(inner, steps, start_ratio=start / peak)


def cosine_lr_scheduler(
    peak_lr: float,
    t_initial: int,
    lr_min: float = 0.0,
    cycle_mul: float = 1.0,
    cycle_decay: float = 1.0,
    cycle_limit: int = 1,
    warmup_t: int = 0,
    warmup_lr_init: float = 0.0,
    warmup_prefix: bool = False,
    k_decay: float = 1.0,
    noise_range_t: object = None,
) -> Schedule:
    """``CosineLRScheduler``: ``cycle_limit`` cosine cycles of ``t_initial * cycle_mul**i``, then ``lr_min``.

    Cycle ``i`` runs from ``peak * cycle_decay**i`` to ``lr_min`` (absolute, shared by
    groups; ours keeps ratios, equal for the first group). With the prefix, the
    cycles start after ``warmup_t``. ``k_decay != 1`` and noise are refused. The
    timm factory's default ``cycle_decay=0.1`` differs from the class default 1.0:
    pass the value your scheduler was built with.
    """
    owner = "from_timm('CosineLRScheduler')"
    peak = check_peak(owner, peak_lr)
    first = count(owner, "t_initial", t_initial)
    floor = floor_at_most(owner, "lr_min", lr_min, peak)
    if k_decay != 1.0 or noise_range_t is not None:
        raise ValueError(
            f"{owner}: k_decay and noise are not reproduced; got k_decay={k_decay!r}, "
            f"noise_range_t={noise_range_t!r}. Use k_decay=1.0 and noise_range_t=None."
        )
    inner = _cycles(owner, peak, first, floor, cycle_mul, cycle_decay, cycle_limit)
    return _warm(owner, inner, peak, warmup_t, warmup_lr_init, warmup_prefix)


def _cycles(
    owner: str, peak: float, first: int, floor: float, mul: float, decay: float, limit: int
) -> Schedule:
    limit = count(owner, "cycle_limit", limit)
    mul = check_number(
        owner, "cycle_mul", mul, low=1.0, low_open=False, high=1e6, fix="Cycles must not shrink."
    )
    decay = factor(
        owner, "cycle_decay", decay, fix="Each cycle's peak is cycle_decay times the previous one."
    )
    if limit == 1:
        return Cosine(peak, min_lr=floor or None, decay_steps=first)
    length = first * limit if mul == 1.0 else first * (mul**limit - 1) / (mul - 1)
    if not float(length).is_integer():
        raise ValueError(
            f"{owner}: the {limit} cycles must end on a whole step; got cycle_mul={mul!r} "
            f"(they end at step {length:g}). Pick t_initial and cycle_mul whose cycles have whole lengths."
        )
    return HoldAfter(CosineRestarts(peak, first, mul, decay, min_lr=floor or None), math.floor(length))


def step_lr_scheduler(
    peak_lr: float,
    decay_t: int,
    decay_rate: float = 1.0,
    warmup_t: int = 0,
    warmup_lr_init: float = 0.0,
    warmup_prefix: bool = True,
) -> Schedule:
    """``StepLRScheduler``: ``peak * decay_rate ** (t' // decay_t)``, ``t' = t - warmup_t`` (prefix).

    The class default is ``warmup_prefix=True`` (the timm factory passes False).
    ``decay_t`` must be whole updates (timm accepts fractions).
    """
    owner = "from_timm('StepLRScheduler')"
    peak = check_peak(owner, peak_lr)
    size = count(owner, "decay_t", decay_t)
    inner = StepDecay(peak, factor(owner, "decay_rate", decay_rate), step_size=size)
    return _warm(owner, inner, peak, warmup_t, warmup_lr_init, warmup_prefix)


def multi_step_lr_scheduler(
    peak_lr: float,
    decay_t: Iterable[int],
    decay_rate: float = 1.0,
    warmup_t: int = 0,
    warmup_lr_init: float = 0.0,
    warmup_prefix: bool = True,
) -> Schedule:
    """``MultiStepLRScheduler``: decays at ``m - 1`` for each milestone ``m`` (one step early).

    timm's quirk, reproduced: it counts milestones ``<= t' + 1``, so ``decay_t=[30, 60]``
    decays at ``t' = 29`` and ``59``, one update (or epoch) before torch's
    ``MultiStepLR``; a repeated milestone decays once per repeat. ``decay_t`` must be
    sorted (timm assumes it). With a warmup, every milestone must be >= 2 (timm would
    warm up to the undecayed LR and then drop at once).
    """
    owner = "from_timm('MultiStepLRScheduler')"
    peak = check_peak(owner, peak_lr)
    given = [count(owner, "decay_t", m, minimum=0) for m in decay_t]
    if given != sorted(given) or (warmup_t and given and given[0] < 2):
        raise ValueError(
            f"{owner}: decay_t must be sorted, and >= 2 with a warmup; got decay_t={given!r}. "
            f"Sort the milestones (timm assumes it) and start them after the warmup."
        )
    inner = staircase(peak, factor(owner, "decay_rate", decay_rate), [max(m - 1, 0) for m in given])
    return _warm(owner, inner, peak, warmup_t, warmup_lr_init, warmup_prefix)


BUILDERS: dict[str, Builder] = {
    "CosineLRScheduler": cosine_lr_scheduler,
    "StepLRScheduler": step_lr_scheduler,
    "MultiStepLRScheduler": multi_step_lr_scheduler,
}
