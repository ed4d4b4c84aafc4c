"""``from_hf`` builders: one per HF ``get_scheduler`` name (see ``presets``).

Common to all: HF's warmup is ``t / W`` from 0 (update 0 gets LR 0), HF's curves
are multipliers of each group's LR (ratios are kept, as in ``group_lrs``), and HF's
cosines rise again after ``num_training_steps`` where ours hold the floor.
"""

from __future__ import annotations

from .base import Schedule, check_peak
from .families import Constant, Cosine, CosineRestarts
from .hold import HoldAfter
from .legs import InverseSqrt, Linear, Polynomial
from .lengths import check_number
from .presets import Builder, count, floor_at_most
from .warmup import Warmup, WarmupStableDecay


def _warm(inner: Schedule, warmup: int) -> Schedule:
    return Warmup(inner, warmup) if warmup else inner


def _decay_steps(owner: str, warmup: object, total: object) -> tuple[int, int]:
    """``(W, T - W)``, checking ``W >= 0`` and ``T > W``."""
    warm = count(owner, "num_warmup_steps", warmup, minimum=0)
    if total is None:
        raise ValueError(
            f"{owner}: needs num_training_steps; got num_training_steps=None. Pass the run's optimizer updates."
        )
    steps = count(owner, "num_training_steps", total, minimum=warm + 1)
    return warm, steps - warm


def _half_cosine(owner: str, num_cycles: object) -> None:
    if num_cycles != 0.5:
        raise ValueError(
            f"{owner}: only one half-cosine is supported; got num_cycles={num_cycles!r}. "
            f"Use num_cycles=0.5, or 'cosine_with_restarts' for several cycles."
        )


def _ratio(owner: str, peak_lr: float, min_lr: float | None, min_lr_rate: float | None) -> float:
    if (min_lr is None) == (min_lr_rate is None):
        raise ValueError(
            f"{owner}: give exactly one of min_lr or min_lr_rate; got min_lr={min_lr!r}, "
            f"min_lr_rate={min_lr_rate!r}. min_lr_rate is the floor as a fraction of the LR."
        )
    if min_lr is not None:
        return floor_at_most(owner, "min_lr", min_lr, peak_lr) / peak_lr
    return check_number(owner, "min_lr_rate", min_lr_rate, low=0.0, low_open=False, high=1.0)


def constant(peak_lr: float, num_warmup_steps: int = 0, num_training_steps: int | None = None) -> Schedule:
    """``constant``: ``peak``. HF ignores ``num_warmup_steps`` here, and so do we."""
    return Constant(check_peak("from_hf('constant')", peak_lr))


def constant_with_warmup(
    peak_lr: float, num_warmup_steps: int = 0, num_training_steps: int | None = None
) -> Schedule:
    """``constant_with_warmup``: ``peak * t / W`` for ``t < W``, then ``peak``."""
    owner = "from_hf('constant_with_warmup')"
    warm = count(owner, "num_warmup_steps", num_warmup_steps, minimum=0)
    return _warm(Constant(check_peak(owner, peak_lr)), warm)


def linear(peak_lr: float, num_warmup_steps: int = 0, num_training_steps: int | None = None) -> Schedule:
    """``linear``: warmup, then ``peak * (T - t) / (T - W)``; 0 from ``t = T`` (never trained on)."""
    owner = "from_hf('linear')"
    warm, decay = _decay_steps(owner, num_warmup_steps, num_training_steps)
    return _warm(Linear(check_peak(owner, peak_lr), decay_steps=decay), warm)


def cosine(
    peak_lr: float, num_warmup_steps: int = 0, num_training_steps: int | None = None, num_cycles: float = 0.5
) -> Schedule:
    """``cosine``: warmup, then ``peak * cos½((t - W) / (T - W))``; HF rises again after ``T``.

    Only ``num_cycles=0.5`` (one half-cosine, the default) is supported.
    """
    owner = "from_hf('cosine')"
    warm, decay = _decay_steps(owner, num_warmup_steps, num_training_steps)
    _half_cosine(owner, num_cycles)
    return _warm(Cosine(check_peak(owner, peak_lr), decay_steps=decay), warm)


def cosine_with_restarts(
    peak_lr: float, num_warmup_steps: int = 0, num_training_steps: int | None = None, num_cycles: int = 1
) -> Schedule:
    """``cosine_with_restarts``: ``num_cycles`` equal hard-restart cosines over ``T - W``; 0 after ``T``.

    ``(T - W) / num_cycles`` must be whole steps (HF splits fractionally; we refuse that).
    """
    owner = "from_hf('cosine_with_restarts')"
    warm, decay = _decay_steps(owner, num_warmup_steps, num_training_steps)
    cycles = count(owner, "num_cycles", num_cycles)
    if decay % cycles:
        raise ValueError(
            f"{owner}: num_training_steps - num_warmup_steps = {decay} must be a multiple of num_cycles; "
            f"got num_cycles={num_cycles!r}. Pick num_cycles dividing {decay}, or adjust num_warmup_steps."
        )
    peak = check_peak(owner, peak_lr)
    inner = (
        HoldAfter(CosineRestarts(peak, decay // cycles), decay)
        if cycles > 1
        else Cosine(peak, decay_steps=decay)
    )
    return _warm(inner, warm)


def polynomial(
    peak_lr: float,
    num_warmup_steps: int = 0,
    num_training_steps: int | None = None,
    lr_end: float = 1e-7,
    power: float = 1.0,
) -> Schedule:
    """``polynomial``: warmup, then ``lr_end + (peak - lr_end) * (1 - u) ** power``; ``lr_end`` after ``T``.

    HF converts ``lr_end`` with ``optimizer.defaults["lr"]``: a group with LR ``g``
    ends at ``lr_end * g / peak`` (ratios kept, as in ``group_lrs``).
    """
    owner = "from_hf('polynomial')"
    warm, decay = _decay_steps(owner, num_warmup_steps, num_training_steps)
    peak = check_peak(owner, peak_lr)
    end = floor_at_most(owner, "lr_end", lr_end, peak)
    exponent = check_number(owner, "power", power, high=100.0, fix="power=1 is a linear decay.")
    return _warm(Polynomial(peak, exponent, min_lr=end or None, decay_steps=decay), warm)


def inverse_sqrt(
    peak_lr: float,
    num_warmup_steps: int = 0,
    num_training_steps: int | None = None,
    timescale: int | None = None,
) -> Schedule:
    """``inverse_sqrt``: warmup, then ``peak / sqrt((t - W + tau) / tau)``, ``tau = timescale or W or 10000``."""
    owner = "from_hf('inverse_sqrt')"
    warm = count(owner, "num_warmup_steps", num_warmup_steps, minimum=0)
    tau = count(owner, "timescale", timescale) if timescale is not None else (warm or 10_000)
    return _warm(InverseSqrt(check_peak(owner, peak_lr), tau), warm)


def cosine_with_min_lr(
    peak_lr: float,
    num_warmup_steps: int = 0,
    num_training_steps: int | None = None,
    num_cycles: float = 0.5,
    min_lr: float | None = None,
    min_lr_rate: float | None = None,
) -> Schedule:
    """``cosine_with_min_lr``: as ``cosine`` down to ``min_lr`` (floor reached at ``t = T``, rises after).

    HF converts an absolute ``min_lr`` to a rate with ``optimizer.defaults["lr"]``, so
    every group's floor is proportional to its LR (``group_lrs`` does the same).
    """
    owner = "from_hf('cosine_with_min_lr')"
    warm, decay = _decay_steps(owner, num_warmup_steps, num_training_steps)
    _half_cosine(owner, num_cycles)
    peak = check_peak(owner, peak_lr)
    ratio = _ratio(owner, peak, min_lr, min_lr_rate)
    return _warm(Cosine(peak, min_lr_ratio=ratio or None, decay_steps=decay), warm)


def cosine_warmup_with_min_lr(
    peak_lr: float,
    num_warmup_steps: int = 0,
    num_training_steps: int | None = None,
    num_cycles: float = 0.5,
    min_lr: float | None = None,
    min_lr_rate: float | None = None,
    warmup_lr_rate: float | None = None,
) -> Schedule:
    """``cosine_warmup_with_min_lr`` (HF's ``..._lr_rate``): inclusive ends, no wasted update 0.

    Warmup ``(t + 1) / W`` (or from ``warmup_lr_rate`` linearly), peak at ``t = W - 1``;
    cosine on ``u = (t - W + 1) / (T - W)``, floor at the last update ``t = T - 1``,
    held after (HF rises). Needs ``num_warmup_steps >= 1`` (HF's ``W = 0`` starts the
    decay one step before update 0) and, with ``warmup_lr_rate``, ``W >= 2``.
    """
    owner = "from_hf('cosine_warmup_with_min_lr')"
    warm, decay = _decay_steps(owner, num_warmup_steps, num_training_steps)
    _half_cosine(owner, num_cycles)
    peak = check_peak(owner, peak_lr)
    ratio = _ratio(owner, peak, min_lr, min_lr_rate)
    minimum = 1 if warmup_lr_rate is None else 2
    count(owner, "num_warmup_steps", warm, minimum=minimum)
    start = 1.0 / warm if warmup_lr_rate is None else _start(owner, warmup_lr_rate)
    inner = Cosine(peak, min_lr_ratio=ratio or None, decay_steps=decay)
    return Warmup(inner, warm - 1, start_ratio=start) if warm > 1 else inner


def _start(owner: str, rate: float) -> float:
    return check_number(owner, "warmup_lr_rate", rate, low=0.0, low_open=False, high=1.0)


def warmup_stable_decay(
    peak_lr: float,
    num_warmup_steps: int = 0,
    num_training_steps: int | None = None,
    *,
    num_decay_steps: int,
    num_stable_steps: int | None = None,
    warmup_type: str = "linear",
    decay_type: str = "cosine",
    min_lr_ratio: float = 0.0,
    num_cycles: float = 0.5,
) -> Schedule:
    """``warmup_stable_decay`` (``get_wsd_schedule``): ``wsd`` with the same phase lengths.

    HF starts the warmup at the floor ``min_lr_ratio * peak`` (so does ``wsd``);
    ``num_stable_steps`` wins over ``num_training_steps`` when both are given (HF warns).
    Only ``warmup_type="linear"`` is supported (``cosine``/``1-sqrt`` warmups raise),
    and ``num_cycles=0.5`` for the cosine decay. The floor is reached at ``W + S + D``.
    """
    owner = "from_hf('warmup_stable_decay')"
    warm = count(owner, "num_warmup_steps", num_warmup_steps, minimum=0)
    decay = count(owner, "num_decay_steps", num_decay_steps)
    if warmup_type != "linear":
        raise ValueError(
            f"{owner}: warmup_type must be 'linear'; got warmup_type={warmup_type!r}. Use 'linear'."
        )
    if decay_type not in ("linear", "cosine", "1-sqrt"):
        raise ValueError(
            f"{owner}: decay_type must be 'linear', 'cosine' or '1-sqrt'; got decay_type={decay_type!r}. "
            f"Pick one of them."
        )
    if decay_type == "cosine":
        _half_cosine(owner, num_cycles)
    stable = _stable(owner, warm, decay, num_training_steps, num_stable_steps)
    ratio = check_number(owner, "min_lr_ratio", min_lr_ratio, low=0.0, low_open=False, high=1.0)
    peak = check_peak(owner, peak_lr)
    return WarmupStableDecay(peak, warm, decay, decay_type, min_lr_ratio=ratio or None, stable=stable)


def _stable(owner: str, warm: int, decay: int, total: int | None, stable: int | None) -> int:
    if stable is not None:
        return count(owner, "num_stable_steps", stable, minimum=0)
    if total is None:
        raise ValueError(
            f"{owner}: needs num_training_steps or num_stable_steps; got both None. Pass num_training_steps=N."
        )
    return count(owner, "num_training_steps", total, minimum=warm + decay) - warm - decay


BUILDERS: dict[str, Builder] = {
    "linear": linear,
    "cosine": cosine,
    "cosine_with_restarts": cosine_with_restarts,
    "polynomial": polynomial,
    "constant": constant,
    "constant_with_warmup": constant_with_warmup,
    "inverse_sqrt": inverse_sqrt,
    "cosine_with_min_lr": cosine_with_min_lr,
    "cosine_warmup_with_min_lr": cosine_warmup_with_min_lr,
    "warmup_stable_decay": warmup_stable_decay,
}
