"""The guide's starting learning rates, as data: where to begin before a range test refines it.

Adam-like optimizers (Adam, AdamW, ...):

==================  ===============
scenario            starting LR
==================  ===============
``llm_pretraining``  1e-4 .. 3e-4
``llm_finetuning``   1e-5 .. 5e-5
``lora``             1e-4 .. 3e-4
``cnn_scratch``      1e-3
``cnn_finetuning``   1e-4
==================  ===============

SGD (with or without momentum): 10-100x the Adam value, i.e. ``(10 * low, 100 * high)``.
"""

from __future__ import annotations

import math

__all__ = [
    "FAR_FACTOR",
    "OPTIMIZERS",
    "STARTING_LR",
    "check_peak_lr",
    "check_scenario",
    "optimizer_family",
    "recommended_lr_range",
    "starting_lr_warning",
]

#: (low, high) starting LR for Adam-like optimizers, per scenario
STARTING_LR: dict[str, tuple[float, float]] = {
    "llm_pretraining": (1e-4, 3e-4),
    "llm_finetuning": (1e-5, 5e-5),
    "lora": (1e-4, 3e-4),
    "cnn_scratch": (1e-3, 1e-3),
    "cnn_finetuning": (1e-4, 1e-4),
}
OPTIMIZERS = ("adam", "sgd")
#: how far outside the range (as a factor) an LR must be before ``check_peak_lr`` warns
FAR_FACTOR = 10.0
_SGD_LOW, _SGD_HIGH = 10.0, 100.0


def recommended_lr_range(scenario: str, optimizer: str = "adam") -> tuple[float, float]:
    """The guide's starting LR ``(low, high)`` for ``scenario`` and the optimizer family.

    Raises:
        ValueError: unknown scenario or optimizer family (the message lists the valid ones).

    Example:
        >>> recommended_lr_range("llm_finetuning")
        (1e-05, 5e-05)
        >>> recommended_lr_range("cnn_scratch", optimizer="sgd")
        (0.01, 0.1)
    """
    return _range("recommended_lr_range", scenario, optimizer)


def _range(owner: str, scenario: str, optimizer: str) -> tuple[float, float]:
    low, high = STARTING_LR[_scenario(owner, scenario)]
    if _optimizer(owner, optimizer) == "sgd":
        return _round(low * _SGD_LOW), _round(high * _SGD_HIGH)
    return low, high


def check_peak_lr(peak_lr: float, scenario: str, optimizer: str = "adam") -> str | None:
    """A warning when ``peak_lr`` is more than 10x outside the guide's range, else ``None``.

    Raises:
        TypeError: ``peak_lr`` is not a number.
        ValueError: ``peak_lr`` is not finite and positive, or the scenario or optimizer is unknown.

    Example:
        >>> check_peak_lr(3e-5, "llm_finetuning") is None
        True
        >>> print(check_peak_lr(1e-2, "llm_finetuning"))
        peak_lr=0.01 is 200x above the usual starting LR for llm_finetuning with adam (1e-05 .. 5e-05); \
a loss spike or divergence is likely. Lower it, or confirm it with a range test.
    """
    if isinstance(peak_lr, bool) or not isinstance(peak_lr, (int, float)):
        raise TypeError(f"check_peak_lr: peak_lr must be a number; got peak_lr={peak_lr!r}. E.g. 3e-4.")
    if not (math.isfinite(peak_lr) and peak_lr > 0):
        raise ValueError(
            f"check_peak_lr: peak_lr must be a finite number > 0; got peak_lr={peak_lr!r}. E.g. 3e-4."
        )
    low, high = _range("check_peak_lr", scenario, optimizer)
    where = f"the usual starting LR for {scenario} with {optimizer} ({low:g} .. {high:g})"
    if peak_lr > high * FAR_FACTOR:
        return (
            f"peak_lr={peak_lr:g} is {peak_lr / high:.0f}x above {where}; a loss spike or divergence "
            f"is likely. Lower it, or confirm it with a range test."
        )
    if peak_lr < low / FAR_FACTOR:
        return (
            f"peak_lr={peak_lr:g} is {low / peak_lr:.0f}x below {where}; training will likely be "
            f"very slow. Raise it, or confirm it with a range test."
        )
    return None


def _scenario(owner: str, scenario: object) -> str:
    if not isinstance(scenario, str) or scenario not in STARTING_LR:
        raise ValueError(
            f"{owner}: scenario must be one of {sorted(STARTING_LR)}; got scenario={scenario!r}. "
            f"Pick the closest one."
        )
    return scenario


def _optimizer(owner: str, optimizer: object) -> str:
    if not isinstance(optimizer, str) or optimizer.lower() not in OPTIMIZERS:
        raise ValueError(
            f"{owner}: optimizer must be one of {list(OPTIMIZERS)} (the family: 'adam' covers "
            f"Adam, AdamW and the like); got optimizer={optimizer!r}. Pass 'adam' or 'sgd'."
        )
    return optimizer.lower()


def _round(value: float) -> float:
    # 1e-3 * 10 is 0.010000000000000002 in binary; the table's values have few digits.
    return float(f"{value:.12g}")


_ADAM_LIKE = ("adam", "lamb", "lion", "adafactor", "sophia", "rmsprop")


def optimizer_family(name: str) -> str | None:
    """``"sgd"`` or ``"adam"`` for an optimizer class name (``"SGD"``, ``"AdamW"``, ...), else ``None``.

    Adaptive optimizers (Adam, AdamW, NAdam, RAdam, LAMB, Adafactor, RMSprop, ...) count as
    Adam-like; a name the table cannot place gives ``None`` (no advice rather than wrong advice).

    Example:
        >>> optimizer_family("AdamW"), optimizer_family("SGD"), optimizer_family("Shampoo")
        ('adam', 'sgd', None)
    """
    lowered = name.lower()
    if "sgd" in lowered:
        return "sgd"
    return "adam" if any(key in lowered for key in _ADAM_LIKE) else None


def check_scenario(owner: str, scenario: object) -> str | None:
    """Validate an ``LRCallback(scenario=...)`` argument (``None`` is allowed: no advice).

    Raises:
        ValueError: an unknown scenario (the message lists the valid ones).
    """
    return None if scenario is None else _scenario(owner, scenario)


def starting_lr_warning(scenario: str | None, peak_lr: float | None, optimizer_name: str) -> str | None:
    """The callbacks' train-start advice: ``check_peak_lr`` for the optimizer's family, else ``None``.

    ``None`` when no scenario was given, the peak LR is unknown (a bare callable schedule), or
    the optimizer class is not in the table's families.

    Example:
        >>> print(starting_lr_warning("llm_finetuning", 1e-3, "AdamW"))
        peak_lr=0.001 is 20x above the usual starting LR for llm_finetuning with adam (1e-05 .. 5e-05); \
a loss spike or divergence is likely. Lower it, or confirm it with a range test.
    """
    family = optimizer_family(optimizer_name)
    if scenario is None or peak_lr is None or family is None or not peak_lr > 0:
        return None
    return check_peak_lr(float(peak_lr), scenario, family)
