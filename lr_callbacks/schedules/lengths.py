"""Lengths in a schedule: steps, fractions of the run, or epochs, resolved once.

A length is one of:

* an ``int``: a number of optimizer updates (steps);
* a ``float`` in ``(0, 1)``: a fraction of the run's total updates ``T`` (``1.0`` is
  refused: it would read like one step; say ``T`` in steps instead);
* a ``str`` ``"<number>ep"`` (also ``"<number> epochs"``): epochs, resolved with the
  number of optimizer updates per epoch.

Rounding rule (the only one): a fraction or an epoch count is resolved to the
nearest whole step, halves rounded up: ``floor(x + 0.5)``, with ``x`` first rounded to
9 decimals so that binary noise cannot move a half (``0.29 * 50`` is 14.5, so 15).
``warmup=0.05`` with ``T=1010`` is 51 steps (50.5 rounds up); ``"1.5ep"`` with 100 steps
per epoch is 150.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

Length = int | float | str

_EPOCHS = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(?:ep|epoch|epochs)\s*$")


def check_number(
    owner: str,
    name: str,
    value: object,
    *,
    low: float = 0.0,
    low_open: bool = True,
    high: float = math.inf,
    high_open: bool = False,
    fix: str = "",
) -> float:
    """Validate a real number in a range and return it as a float.

    Raises:
        TypeError: ``value`` is not a real number (booleans are refused).
        ValueError: ``value`` is not finite or lies outside the range.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{owner}: {name} must be a number; got {name}={value!r}. {fix}".rstrip())
    number = float(value)
    below = number <= low if low_open else number < low
    above = number >= high if high_open else number > high
    if not math.isfinite(number) or below or above:
        raise ValueError(
            f"{owner}: {name} must be a finite number {_range(low, low_open, high, high_open)}; "
            f"got {name}={value!r}. {fix}".rstrip()
        )
    return number


def _range(low: float, low_open: bool, high: float, high_open: bool) -> str:
    if math.isinf(high):
        return f"{'>' if low_open else '>='} {low:g}"
    return f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"


def check_int(owner: str, name: str, value: object, low: int, fix: str = "") -> int:
    """Validate an int ``>= low``.

    Raises:
        TypeError: ``value`` is not an int (booleans are refused).
        ValueError: ``value < low``.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{owner}: {name} must be an int; got {name}={value!r}. {fix}".rstrip())
    if value < low:
        raise ValueError(f"{owner}: {name} must be an int >= {low}; got {name}={value!r}. {fix}".rstrip())
    return value


def check_length(owner: str, name: str, value: object) -> Length:
    """Validate the form of a length (steps, fraction or epochs) without resolving it.

    Raises:
        TypeError: ``value`` is not an int, a float or an epoch string.
        ValueError: a negative step count, a fraction outside ``(0, 1)``, or a
            malformed epoch string.
    """
    fix = "Give steps as an int (500), a fraction of the run as a float in (0, 1) (0.05), or epochs as a string ('2ep')."
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise TypeError(f"{owner}: {name} must be a length; got {name}={value!r}. {fix}")
    if isinstance(value, int) and value < 0:
        raise ValueError(f"{owner}: {name} must be >= 0 steps; got {name}={value!r}. {fix}")
    if isinstance(value, float) and not (0.0 < value < 1.0):
        raise ValueError(
            f"{owner}: {name} as a float is a fraction of the run and must be in (0, 1); got {name}={value!r}. {fix}"
        )
    if isinstance(value, str) and not _EPOCHS.match(value):
        raise ValueError(
            f"{owner}: {name} as a string must be a number of epochs like '2ep'; got {name}={value!r}. {fix}"
        )
    return value


@dataclass(frozen=True)
class Horizon:
    """The run's facts a schedule is bound against.

    Args:
        total_steps: total optimizer updates ``T`` of the run, or ``None`` if unknown.
        steps_per_epoch: optimizer updates per epoch, or ``None`` if unknown.
    """

    total_steps: int | None = None
    steps_per_epoch: int | None = None

    def __post_init__(self) -> None:
        for name in ("total_steps", "steps_per_epoch"):
            if getattr(self, name) is not None:
                check_int(
                    "Schedule.bind",
                    name,
                    getattr(self, name),
                    1,
                    "Pass the number of optimizer updates (not micro-batches).",
                )

    def total(self, owner: str, why: str) -> int:
        """Return ``T`` or raise a clear error saying why it is needed."""
        if self.total_steps is None:
            raise ValueError(
                f"{owner}: needs the run's total number of optimizer updates for {why}; got total_steps=None. "
                f"Bind it with .bind(total_steps=N) (the callbacks take it from the framework or from total_steps=)."
            )
        return self.total_steps

    def resolve(self, owner: str, name: str, value: Length) -> int:
        """Resolve a length to whole steps by the module's rounding rule."""
        if isinstance(value, int):
            return value
        if isinstance(value, float):
            return _round_half_up(value * self.total(owner, f"{name}={value!r} (a fraction of the run)"))
        match = _EPOCHS.match(value)
        if match is None:  # validated at construction; kept for direct callers
            raise ValueError(f"{owner}: {name} must be a length; got {name}={value!r}.")
        if self.steps_per_epoch is None:
            raise ValueError(
                f"{owner}: {name}={value!r} is in epochs and needs the number of optimizer updates per epoch; "
                f"got steps_per_epoch=None. Bind with .bind(total_steps=N, steps_per_epoch=K)."
            )
        return _round_half_up(float(match.group(1)) * self.steps_per_epoch)


def _round_half_up(x: float) -> int:
    return math.floor(round(x, 9) + 0.5)
