"""Migration presets: our schedule from an anchor's own arguments, with its conventions.

``from_torch``, ``from_hf``, ``from_timm`` and ``from_keras`` take the name and the
arguments a user already has in their torch / HF / timm / Keras code and return the
schedule spec that gives the same LR for every update ``t`` of the run (the value the
anchor applies to update ``t``: torch/HF read before ``scheduler.step()``, timm after
``step_update(t)``, Keras ``schedule(t)``). Each builder's docstring lists how the
anchor's conventions differ from ours and the anchor's known quirks, which are
documented here, never silently copied; an anchor behaviour we cannot express raises
a ``ValueError`` that says what to change. ``integrations/test_schedule_parity.py``
runs the real anchors and checks every preset to a relative error of 1e-12.
"""

from __future__ import annotations

import inspect
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .base import Schedule
from .lengths import check_number
from .piecewise import Piecewise

Builder = Callable[..., Schedule]


def dispatch(owner: str, builders: Mapping[str, Builder], name: str, kwargs: Mapping[str, Any]) -> Schedule:
    """Call the builder registered under ``name`` with ``kwargs``, checking names first.

    Raises:
        ValueError: ``name`` is not one of ``builders`` (the message lists them).
        TypeError: an argument the anchor does not take, or a required one missing.
    """
    builder = builders.get(name) if isinstance(name, str) else None
    if builder is None:
        raise ValueError(
            f"{owner}: name must be one of {', '.join(builders)}; got name={name!r}. "
            f"Use the anchor's own spelling (case-sensitive)."
        )
    params = inspect.signature(builder).parameters
    accepted = [p for p in params if p != "peak_lr"]
    for key in kwargs:
        if key not in params:
            raise TypeError(
                f"{owner}({name!r}): arguments are {', '.join(accepted)}; got {key}={kwargs[key]!r}. "
                f"Remove it or check its spelling."
            )
    for param in params.values():
        if param.default is inspect.Parameter.empty and param.name not in kwargs:
            raise TypeError(
                f"{owner}({name!r}): {param.name} is required; got {param.name}=<missing>. "
                f"Pass {param.name}= as you would to the anchor."
            )
    return builder(**kwargs)


def count(owner: str, name: str, value: object, minimum: int = 1) -> int:
    """Validate a whole number of steps (``>= minimum``); integral floats are accepted."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(
            f"{owner}: {name} must be a whole number of steps >= {minimum}; got {name}={value!r}. "
            f"Pass an int."
        )
    return value


def factor(owner: str, name: str, value: object, *, zero: bool = False, fix: str = "") -> float:
    """Validate a multiplicative factor in ``(0, 1]`` (``[0, 1]`` with ``zero=True``)."""
    return check_number(owner, name, value, low=0.0, low_open=not zero, high=1.0, fix=fix)


def floor_at_most(owner: str, name: str, value: object, peak_lr: float) -> float:
    """Validate an absolute floor in ``[0, peak_lr]``."""
    return check_number(
        owner,
        name,
        value,
        low=0.0,
        low_open=False,
        high=peak_lr,
        fix=f"It is an absolute LR and must not exceed peak_lr={peak_lr!r} (the anchor would rise to it).",
    )


def staircase(peak_lr: float, gamma: float, milestones: Iterable[int]) -> Piecewise:
    """``peak * gamma ** #{m <= t}``, a repeated milestone counting once per repeat."""
    counts = Counter(milestones)
    level = counts.pop(0, 0)
    bounds, values = [], [peak_lr * gamma**level]
    for bound in sorted(counts):
        level += counts[bound]
        bounds.append(bound)
        values.append(peak_lr * gamma**level)
    return Piecewise(tuple(bounds), tuple(values))


def from_torch(name: str, peak_lr: float, **kwargs: Any) -> Schedule:
    """Our schedule for a ``torch.optim.lr_scheduler`` class, from its own arguments.

    ``peak_lr`` is the optimizer's ``lr`` (for ``OneCycleLR``, ``max_lr``). Names:
    ``StepLR``, ``MultiStepLR``, ``ExponentialLR``, ``CosineAnnealingLR``,
    ``CosineAnnealingWarmRestarts``, ``OneCycleLR``, ``LinearLR``, ``PolynomialLR``,
    ``ConstantLR``. torch's "chainable" ``step()`` multiplies the current LR by a
    per-step ratio; ours is the closed form, equal to it within rounding (< 1e-12
    relative over 5000 steps) as long as nothing else writes ``group["lr"]``.
    See ``lr_callbacks.schedules.presets_torch`` for each class's quirks.

    Raises:
        ValueError: unknown name (the message lists the valid ones) or a bad value.
        TypeError: an argument the class does not take, or a required one missing.

    Example:
        >>> from_torch("StepLR", 0.1, step_size=30).to_spec()
        'step_decay(peak_lr=0.1, gamma=0.1, step_size=30)'
    """
    from .presets_torch import BUILDERS

    return dispatch("from_torch", BUILDERS, name, {"peak_lr": peak_lr, **kwargs})


def from_hf(
    name: str,
    peak_lr: float,
    num_warmup_steps: int = 0,
    num_training_steps: int | None = None,
    **scheduler_specific_kwargs: Any,
) -> Schedule:
    """Our schedule for an HF ``transformers.get_scheduler`` name, from the same arguments.

    ``peak_lr`` is the optimizer's ``lr`` (HF's ``optimizer.defaults["lr"]``, which
    HF uses to convert ``min_lr`` and ``lr_end``). Names: ``linear``, ``cosine``,
    ``cosine_with_restarts``, ``polynomial``, ``constant``, ``constant_with_warmup``,
    ``inverse_sqrt``, ``cosine_with_min_lr``, ``cosine_warmup_with_min_lr``,
    ``warmup_stable_decay``. Every length is pinned to ``num_training_steps``, so the
    curve does not change with the ``total_steps`` it is bound to. See
    ``lr_callbacks.schedules.presets_hf`` for each name's quirks.

    Raises:
        ValueError: unknown name (listing the valid ones) or a bad value.
        TypeError: an argument the name does not take, or a required one missing.

    Example:
        >>> lr = from_hf("cosine", 1.0, num_warmup_steps=2, num_training_steps=10).bind(total_steps=10)
        >>> [round(lr(t), 4) for t in (0, 1, 2, 6, 9)]
        [0.0, 0.5, 1.0, 0.5, 0.0381]
    """
    from .presets_hf import BUILDERS

    arguments = {"peak_lr": peak_lr, "num_warmup_steps": num_warmup_steps, **scheduler_specific_kwargs}
    return dispatch("from_hf", BUILDERS, name, {**arguments, "num_training_steps": num_training_steps})


def from_timm(name: str, peak_lr: float, **kwargs: Any) -> Schedule:
    """Our schedule for a timm scheduler class stepped per update (``step_update``).

    ``peak_lr`` is the optimizer's ``lr``. Names: ``CosineLRScheduler``,
    ``StepLRScheduler``, ``MultiStepLRScheduler``; lengths are in updates (timm with
    ``t_in_epochs=False``). See ``lr_callbacks.schedules.presets_timm`` for quirks
    (multistep decays one step early; non-prefix warmup is refused).

    Raises:
        ValueError: unknown name (listing the valid ones) or a bad value.
        TypeError: an argument the class does not take, or a required one missing.

    Example:
        >>> from_timm("MultiStepLRScheduler", 1.0, decay_t=[2, 5], decay_rate=0.1).to_spec()
        'piecewise(boundaries=[1, 4], values=[1.0, 0.1, 0.010000000000000002])'
    """
    from .presets_timm import BUILDERS

    return dispatch("from_timm", BUILDERS, name, {"peak_lr": peak_lr, **kwargs})


def from_keras(name: str, **kwargs: Any) -> Schedule:
    """Our schedule for a ``keras.optimizers.schedules`` class, from its constructor arguments.

    Names: ``CosineDecay``, ``ExponentialDecay``, ``PiecewiseConstantDecay``,
    ``PolynomialDecay``, ``CosineDecayRestarts``. Keras evaluates in its ``floatx``
    (float32 by default); ours is float64, equal to Keras with ``floatx="float64"``
    to 1e-12 and to default Keras to float32 rounding. Keras counts
    ``optimizer.iterations``, which advances on every micro-batch under gradient
    accumulation. See ``lr_callbacks.schedules.presets_keras`` for quirks.

    Raises:
        ValueError: unknown name (listing the valid ones) or a bad value.
        TypeError: an argument the class does not take, or a required one missing.

    Example:
        >>> lr = from_keras("PiecewiseConstantDecay", boundaries=[2, 5], values=[1.0, 0.1, 0.01]).bind()
        >>> [lr(t) for t in range(7)]
        [1.0, 1.0, 1.0, 0.1, 0.1, 0.1, 0.01]
    """
    from .presets_keras import BUILDERS

    return dispatch("from_keras", BUILDERS, name, kwargs)
