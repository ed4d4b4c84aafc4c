"""Argument checks shared by the rules and the Monitor (messages name the argument)."""

from __future__ import annotations

from typing import Any


def check_int(owner: str, name: str, value: Any, minimum: int) -> int:
    """Return `value` if it is an int >= `minimum`, else raise with a fix."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{owner}: {name} must be an int; got {name}={value!r}. Pass a whole number.")
    if value < minimum:
        raise ValueError(
            f"{owner}: {name} must be an int >= {minimum}; got {name}={value!r}. "
            f"Pass a value of at least {minimum}."
        )
    return value


def check_float(owner: str, name: str, value: Any, low: float, high: float = float("inf")) -> float:
    """Return `value` as a float if low < value < high (open interval), else raise."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{owner}: {name} must be a number; got {name}={value!r}. Pass a float.")
    if not low < value < high:
        bounds = f"> {low:g}" if high == float("inf") else f"in ({low:g}, {high:g})"
        raise ValueError(
            f"{owner}: {name} must be a finite number {bounds}; got {name}={value!r}. Pass a value {bounds}."
        )
    return float(value)


def check_bool(owner: str, name: str, value: Any) -> bool:
    """Return `value` if it is a bool, else raise TypeError."""
    if not isinstance(value, bool):
        raise TypeError(f"{owner}: {name} must be True or False; got {name}={value!r}.")
    return value
