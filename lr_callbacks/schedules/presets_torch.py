"""``from_torch`` builders: one per ``torch.optim.lr_scheduler`` class (see ``presets``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .base import Schedule, check_peak
from .compose import Sequence
from .families import Constant, Cosine, CosineRestarts, StepDecay
from .legs import Exponential, Linear, Polynomial
from .lengths import check_number
from .one_cycle import OneCycle
from .presets import Builder, count, floor_at_most, staircase
from .presets import factor as check_factor
from .warmup import Warmup


def step_lr(peak_lr: float, step_size: int, gamma: float = 0.1) -> Schedule:
    """``StepLR``: ``peak * gamma ** (t // step_size)``. torch allows ``gamma > 1``; we refuse it."""
    owner = "from_torch('StepLR')"
    check_peak(owner, peak_lr)
    size = count(owner, "step_size", step_size)
    return StepDecay(peak_lr, check_factor(owner, "gamma", gamma), step_size=size)


def multi_step_lr(peak_lr: float, milestones: Iterable[int], gamma: float = 0.1) -> Schedule:
    """``MultiStepLR``: ``peak * gamma ** #{m <= t}``.

    Quirks reproduced: torch keeps milestones in a ``Counter``, so a repeated milestone
    decays by ``gamma`` once per repeat (``[2, 5, 5]`` gives ``gamma**3`` at 5) and a
    milestone 0 already applies at ``t = 0``; order does not matter. Such milestones
    give a ``piecewise`` spec, plain ones a ``step_decay`` spec.
    """
    owner = "from_torch('MultiStepLR')"
    check_peak(owner, peak_lr)
    gamma = check_factor(owner, "gamma", gamma)
    steps = sorted(count(owner, "milestones", m, minimum=0) for m in milestones)
    if steps and steps[0] > 0 and len(set(steps)) == len(steps):
        return StepDecay(peak_lr, gamma, milestones=tuple(steps))
    return staircase(peak_lr, gamma, steps)


def exponential_lr(peak_lr: float, gamma: float) -> Schedule:
    """``ExponentialLR``: ``peak * gamma ** t`` (torch allows ``gamma > 1``; we refuse it)."""
    owner = "from_torch('ExponentialLR')"
    check_peak(owner, peak_lr)
    return Exponential(peak_lr, check_factor(owner, "gamma", gamma))


def cosine_annealing_lr(peak_lr: float, T_max: int, eta_min: float = 0.0) -> Schedule:
    """``CosineAnnealingLR``: ``eta_min + (peak - eta_min) * cos½(t / T_max)`` for ``t <= T_max``.

    Differences: torch's curve is periodic and rises back to ``peak`` at ``2 T_max``;
    ours holds ``eta_min`` after ``T_max``. torch's ``eta_min`` is one absolute floor
    shared by every param group (a group whose LR is below it rises); ours keeps each
    group's proportion (``group_lrs``), equal to torch only with ``eta_min=0``.
    """
    owner = "from_torch('CosineAnnealingLR')"
    check_peak(owner, peak_lr)
    length = count(owner, "T_max", T_max)
    floor = floor_at_most(owner, "eta_min", eta_min, peak_lr)
    return Cosine(peak_lr, min_lr=floor or None, decay_steps=length)


def cosine_annealing_warm_restarts(
    peak_lr: float, T_0: int, T_mult: int = 1, eta_min: float = 0.0
) -> Schedule:
    """``CosineAnnealingWarmRestarts`` stepped once per update (no fractional epochs).

    Cycle ``i`` lasts ``T_0 * T_mult**i``; the restart happens at the step where the
    floor would be reached, so at whole steps ``eta_min`` is never applied. torch
    restarts forever; ours lays out the cycles that cover the bound ``total_steps``
    (bind it). Absolute ``eta_min``: as for ``CosineAnnealingLR``.
    """
    owner = "from_torch('CosineAnnealingWarmRestarts')"
    check_peak(owner, peak_lr)
    first = count(owner, "T_0", T_0)
    mult = count(owner, "T_mult", T_mult)
    floor = floor_at_most(owner, "eta_min", eta_min, peak_lr)
    return CosineRestarts(peak_lr, first, cycle_mult=mult, min_lr=floor or None)


def one_cycle_lr(
    peak_lr: float,
    total_steps: int | None = None,
    epochs: int | None = None,
    steps_per_epoch: int | None = None,
    pct_start: float = 0.3,
    anneal_strategy: str = "cos",
    cycle_momentum: bool = True,
    base_momentum: float = 0.85,
    max_momentum: float = 0.95,
    div_factor: float = 25.0,
    final_div_factor: float = 1e4,
    three_phase: bool = False,
) -> Schedule:
    """``OneCycleLR`` with ``peak_lr`` as its (scalar) ``max_lr``: ``one_cycle``, same positions.

    Bind the result with ``total_steps`` (or ``epochs * steps_per_epoch``), as given
    here: the peak sits at ``pct_start * T - 1`` and the end at ``T - 1``. Differences
    and quirks: past ``T - 1`` torch extrapolates once and then raises ("Tried to step
    ... times"), ours holds; with ``pct_start * T < 1`` torch starts mid-anneal (so do
    we), and with ``pct_start * T == 1`` torch divides by zero at ``t = 0`` (we start at
    the peak). A scalar ``max_lr`` makes torch give every group the same LR; a list
    keeps ratios, which is what ``group_lrs(t, max_lrs)`` gives. The momentum /
    beta1 curve is ``.momentum_schedule(base_momentum, max_momentum)``.
    """
    owner = "from_torch('OneCycleLR')"
    _one_cycle_horizon(owner, total_steps, epochs, steps_per_epoch)
    if not isinstance(cycle_momentum, bool):
        raise TypeError(
            f"{owner}: cycle_momentum must be True or False; got cycle_momentum={cycle_momentum!r}."
        )
    check_number(owner, "base_momentum", base_momentum, low=0.0, low_open=False, high=1.0)
    check_number(owner, "max_momentum", max_momentum, low=0.0, low_open=False, high=1.0)
    return OneCycle(peak_lr, pct_start, div_factor, final_div_factor, anneal_strategy, three_phase)


def _one_cycle_horizon(owner: str, total_steps: Any, epochs: Any, steps_per_epoch: Any) -> int:
    if total_steps is not None:
        return count(owner, "total_steps", total_steps)
    if epochs is None or steps_per_epoch is None:
        raise ValueError(
            f"{owner}: give total_steps, or epochs and steps_per_epoch; got total_steps=None, "
            f"epochs={epochs!r}, steps_per_epoch={steps_per_epoch!r}. Pass total_steps=N (and bind with it)."
        )
    return count(owner, "epochs", epochs) * count(owner, "steps_per_epoch", steps_per_epoch)


def linear_lr(
    peak_lr: float, start_factor: float = 1.0 / 3, end_factor: float = 1.0, total_iters: int = 5
) -> Schedule:
    """``LinearLR``: ``peak * (s + (e - s) * min(t, N) / N)``, then held at ``peak * e``.

    torch requires ``0 < start_factor <= 1`` and ``0 <= end_factor <= 1``, so it cannot
    start at 0. Quirk refused: with ``total_iters=0`` torch keeps ``start_factor``
    forever (not ``end_factor``); pass ``total_iters >= 1``.
    """
    owner = "from_torch('LinearLR')"
    check_peak(owner, peak_lr)
    start = check_factor(
        owner, "start_factor", start_factor, fix="torch refuses 0; use from_hf warmups for 0."
    )
    end = check_factor(owner, "end_factor", end_factor, zero=True)
    steps = count(owner, "total_iters", total_iters)
    if start == end:
        return Constant(peak_lr * start)
    if start < end:
        return Warmup(Constant(peak_lr * end), steps, start_ratio=start / end)
    return Linear(peak_lr * start, min_lr=peak_lr * end or None, decay_steps=steps)


def polynomial_lr(peak_lr: float, total_iters: int = 5, power: float = 1.0) -> Schedule:
    """``PolynomialLR``: ``peak * (1 - min(t, N) / N) ** power``, 0 from ``t = N`` on (no floor).

    Quirk refused: with ``total_iters=0`` torch never decays; pass ``total_iters >= 1``.
    """
    owner = "from_torch('PolynomialLR')"
    check_peak(owner, peak_lr)
    steps = count(owner, "total_iters", total_iters)
    exponent = check_number(owner, "power", power, high=100.0, fix="power=1 is a linear decay.")
    return Polynomial(peak_lr, exponent, decay_steps=steps)


def constant_lr(peak_lr: float, factor: float = 1.0 / 3, total_iters: int = 5) -> Schedule:
    """``ConstantLR``: ``peak * factor`` for ``t < N``, then ``peak`` (a jump, not a plain constant).

    Quirks refused: ``factor=0`` makes torch divide by zero at ``t = N``, and
    ``total_iters=0`` keeps ``factor`` forever; pass ``0 < factor`` and ``total_iters >= 1``.
    """
    owner = "from_torch('ConstantLR')"
    check_peak(owner, peak_lr)
    low = check_factor(owner, "factor", factor, fix="torch divides by zero at total_iters when factor=0.")
    steps = count(owner, "total_iters", total_iters)
    if low == 1.0:
        return Constant(peak_lr)
    return Sequence((Constant(peak_lr * low), Constant(peak_lr)), lengths=(steps,), allow_jump=True)


BUILDERS: dict[str, Builder] = {
    "StepLR": step_lr,
    "MultiStepLR": multi_step_lr,
    "ExponentialLR": exponential_lr,
    "CosineAnnealingLR": cosine_annealing_lr,
    "CosineAnnealingWarmRestarts": cosine_annealing_warm_restarts,
    "OneCycleLR": one_cycle_lr,
    "LinearLR": linear_lr,
    "PolynomialLR": polynomial_lr,
    "ConstantLR": constant_lr,
}
