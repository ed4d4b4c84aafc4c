"""Helpers for `state_dict`/`load_state_dict` of the diagnostics objects."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any


def check_state_keys(owner: str, state: Any, keys: Iterable[str], version: int = 1) -> None:
    """Raise ValueError naming missing/unknown keys or a wrong version."""
    if not isinstance(state, Mapping):
        raise TypeError(f"{owner}.load_state_dict: state must be a dict; got {type(state)!r}.")
    expected = list(keys)
    missing = [k for k in expected if k not in state]
    unknown = [k for k in state if k not in expected]
    if missing or unknown:
        raise ValueError(
            f"{owner}.load_state_dict: state keys must be {expected}; got missing={missing}, "
            f"unknown={unknown}. Pass the output of {owner}.state_dict()."
        )
    if state["version"] != version:
        raise ValueError(
            f"{owner}.load_state_dict: expected version={version}; got "
            f"version={state['version']!r}. The state comes from another release."
        )


def to_json_float(value: float | None) -> float | None:
    """None for None, NaN or +-Inf; the float otherwise (strict JSON)."""
    if value is None or not math.isfinite(value):
        return None
    return value


def from_json_float(value: float | None, default: float) -> float:
    """Reverse `to_json_float` with the given stand-in for None."""
    return default if value is None else float(value)
