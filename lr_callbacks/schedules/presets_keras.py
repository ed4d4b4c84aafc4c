"""``from_keras`` builders: ``keras.optimizers.schedules`` classes (see ``presets``).

Common to all: Keras schedules are absolute LRs (one per optimizer); ours scale to
other param groups by ratio. They see ``optimizer.iterations``, which counts
micro-batches under gradient accumulation, so give lengths in the same unit you
give Keras. Keras computes in ``floatx`` (float32 unless changed); ours in float64.
"""

from __future__ import annotations

from collections.abc import Iterable

from .base import Schedule, check_peak
from .families import Cosine, CosineRestarts, StepDecay
from .legs import Exponential, Polynomial
from .lengths import check_number
from .piecewise import Piecewise
from .presets import Builder, count, factor, floor_at_most
from .warmup import Warmup


def cosine_decay(
    initial_learning_rate: float,
    decay_steps: int,
    alpha: float = 0.0,
    name: str = "CosineDecay",
    warmup_target: float | None = None,
    warmup_steps: int = 0,
) -> Schedule:
    """``CosineDecay``: optional linear warmup ``initial -> warmup_target``, then a cosine to ``alpha * peak``.

    Keras's ``decay_steps`` excludes the warmup: the floor is reached at
    ``warmup_steps + decay_steps`` and held. Without ``warmup_target`` Keras ignores
    ``warmup_steps`` (so do we). The floor ``alpha`` is a ratio of the peak.
    """
    owner = "from_keras('CosineDecay')"
    start = check_number(owner, "initial_learning_rate", initial_learning_rate, low=0.0, low_open=False)
    steps = count(owner, "decay_steps", decay_steps)
    ratio = check_number(owner, "alpha", alpha, low=0.0, low_open=False, high=1.0)
    if warmup_target is None:
        return Cosine(check_peak(owner, start), min_lr_ratio=ratio or None, decay_steps=steps)
    peak = check_peak(owner, warmup_target)
    inner = Cosine(peak, min_lr_ratio=ratio or None, decay_steps=steps)
    warm = count(owner, "warmup_steps", warmup_steps, minimum=0)
    init = floor_at_most(owner, "initial_learning_rate", start, peak)
    return Warmup(inner, warm, start_ratio=init / peak) if warm else inner


def exponential_decay(
    initial_learning_rate: float,
    decay_steps: int,
    decay_rate: float,
    staircase: bool = False,
    name: str = "ExponentialDecay",
) -> Schedule:
    """``ExponentialDecay``: ``initial * decay_rate ** (t / decay_steps)`` (``floor`` of it if ``staircase``).

    The continuous form becomes ``exponential`` with ``gamma = decay_rate ** (1 /
    decay_steps)``; growth (``decay_rate > 1``) is refused.
    """
    owner = "from_keras('ExponentialDecay')"
    peak = check_peak(owner, initial_learning_rate)
    steps = count(owner, "decay_steps", decay_steps)
    rate = factor(
        owner, "decay_rate", decay_rate, fix="The LR is multiplied by decay_rate every decay_steps."
    )
    if staircase:
        return StepDecay(peak, rate, step_size=steps)
    return Exponential(peak, rate ** (1.0 / steps))


def piecewise_constant_decay(
    boundaries: Iterable[int], values: Iterable[float], name: str = "PiecewiseConstant"
) -> Schedule:
    """``PiecewiseConstantDecay``: ``values[i]`` while ``boundaries[i-1] < t <= boundaries[i]``.

    Keras's quirk, reproduced: the value changes at ``t = b + 1``, one step after
    torch's ``MultiStepLR`` and ``piecewise`` (we pass ``b + 1`` as our boundary).
    """
    owner = "from_keras('PiecewiseConstantDecay')"
    bounds = tuple(count(owner, "boundaries", b, minimum=0) + 1 for b in boundaries)
    return Piecewise(bounds, tuple(values))


def polynomial_decay(
    initial_learning_rate: float,
    decay_steps: int,
    end_learning_rate: float = 0.0001,
    power: float = 1.0,
    cycle: bool = False,
    name: str = "PolynomialDecay",
) -> Schedule:
    """``PolynomialDecay``: ``end + (initial - end) * (1 - t / decay_steps) ** power``, then ``end``.

    ``cycle=True`` (restart with a longer decay) is refused; so is an ``end`` above ``initial``.
    """
    owner = "from_keras('PolynomialDecay')"
    peak = check_peak(owner, initial_learning_rate)
    steps = count(owner, "decay_steps", decay_steps)
    end = floor_at_most(owner, "end_learning_rate", end_learning_rate, peak)
    exponent = check_number(owner, "power", power, high=100.0, fix="power=1 is a linear decay.")
    if cycle:
        raise ValueError(f"{owner}: cycle=True is not reproduced; got cycle={cycle!r}. Use cycle=False.")
    return Polynomial(peak, exponent, min_lr=end or None, decay_steps=steps)


def cosine_decay_restarts(
    initial_learning_rate: float,
    first_decay_steps: int,
    t_mul: float = 2.0,
    m_mul: float = 1.0,
    alpha: float = 0.0,
    name: str = "SGDRDecay",
) -> Schedule:
    """``CosineDecayRestarts``: cycles of ``first_decay_steps * t_mul**i``, peak ``m_mul**i``; bind with ``T``.

    Keras restarts cycle ``i`` at ``alpha + (1 - alpha) * m_mul**i`` of the initial
    LR, ours at ``m_mul**i``: the same only if ``alpha == 0`` or ``m_mul == 1``; other
    combinations raise. Keras restarts forever; ours lays out the cycles that cover
    the bound ``total_steps``.
    """
    owner = "from_keras('CosineDecayRestarts')"
    peak = check_peak(owner, initial_learning_rate)
    first = count(owner, "first_decay_steps", first_decay_steps)
    mult = check_number(
        owner, "t_mul", t_mul, low=1.0, low_open=False, high=1e6, fix="Cycles must not shrink."
    )
    decay = factor(owner, "m_mul", m_mul, fix="Each cycle's peak is m_mul times the previous one.")
    ratio = check_number(owner, "alpha", alpha, low=0.0, low_open=False, high=1.0)
    if ratio and decay != 1.0:
        raise ValueError(
            f"{owner}: alpha > 0 with m_mul != 1 restarts at alpha + (1 - alpha) * m_mul**i, which "
            f"cosine_restarts does not express; got alpha={alpha!r}, m_mul={m_mul!r}. Use alpha=0 or m_mul=1."
        )
    return CosineRestarts(peak, first, mult, decay, min_lr_ratio=ratio or None)


BUILDERS: dict[str, Builder] = {
    "CosineDecay": cosine_decay,
    "ExponentialDecay": exponential_decay,
    "PiecewiseConstantDecay": piecewise_constant_decay,
    "PolynomialDecay": polynomial_decay,
    "CosineDecayRestarts": cosine_decay_restarts,
}
