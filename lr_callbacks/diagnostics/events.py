"""Schedule events: plain dicts ``{"step", "kind", "description", "factor"}``."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

EVENT_KINDS = ("warmup_end", "decay", "decay_start", "restart", "lr_change", "resume")
# Events after which the loss may legitimately jump: every kind except the warmup end.
LR_EVENT_KINDS = frozenset(EVENT_KINDS) - {"warmup_end"}
_KEYS = ("step", "kind", "description", "factor")

Event = dict[str, Any]


def make_event(step: int, kind: str, description: str = "", factor: float | None = None) -> Event:
    """Build an event dict.

    Example:
        >>> make_event(3000, "decay", "step decay", 0.1)
        {'step': 3000, 'kind': 'decay', 'description': 'step decay', 'factor': 0.1}
    """
    return {"step": step, "kind": kind, "description": description, "factor": factor}


def check_event(event: Any, where: str = "Monitor.add_events") -> Event:
    """Validate one event mapping and return a clean copy."""
    if not isinstance(event, Mapping):
        raise TypeError(f"{where}: each event must be a dict; got event={event!r}.")
    unknown = sorted(set(event) - set(_KEYS))
    if "step" not in event or "kind" not in event or unknown:
        raise ValueError(
            f"{where}: an event needs keys 'step' and 'kind' (and optionally 'description', "
            f"'factor'); got event={dict(event)!r}. Fix the event dict."
        )
    step, kind, factor = event["step"], event["kind"], event.get("factor")
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise ValueError(f"{where}: event step must be an int >= 0; got step={step!r}.")
    if kind not in EVENT_KINDS:
        raise ValueError(
            f"{where}: event kind must be one of {list(EVENT_KINDS)}; got kind={kind!r}. "
            "Use one of the listed kinds."
        )
    if factor is not None and (
        isinstance(factor, bool) or not isinstance(factor, int | float) or not math.isfinite(factor)
    ):
        raise ValueError(f"{where}: event factor must be a finite number or None; got factor={factor!r}.")
    description = str(event.get("description", ""))
    return make_event(step, kind, description, None if factor is None else float(factor))
