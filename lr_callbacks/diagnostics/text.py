"""Number and event wording shared by the rules' messages."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_KIND_WORDS = {
    "warmup_end": "end of warmup",
    "decay": "LR step decay",
    "decay_start": "start of the LR decay phase",
    "restart": "warm restart (LR reset to its peak)",
    "lr_change": "LR change",
    "resume": "resume from a checkpoint",
}


def fmt_lr(lr: float) -> str:
    """Short scientific notation for an LR.

    Example:
        >>> fmt_lr(0.003), fmt_lr(2.5e-4), fmt_lr(0.3), fmt_lr(1.0)
        ('3e-3', '2.5e-4', '0.3', '1')
    """
    if lr == 0:
        return "0"
    if 0.01 <= abs(lr) < 1000:
        return f"{lr:.3g}"
    mantissa, exponent = f"{lr:.2e}".split("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    power = int(exponent)
    return mantissa if power == 0 else f"{mantissa}e{power}"


def fmt_num(value: float) -> str:
    """Three significant digits, e.g. 2.31 or 0.000123."""
    return f"{value:.3g}"


def lr_clause(lr: float | None) -> str:
    """'; it is 3e-3 now' when the LR is known, else ''."""
    return "" if lr is None else f"; it is {fmt_lr(lr)} now"


def describe_event(event: Mapping[str, Any], step: int) -> str:
    """'LR step decay at step 3000, x0.1, 12 steps earlier'.

    Example:
        >>> describe_event({"step": 3000, "kind": "decay", "factor": 0.1}, 3012)
        'LR step decay at step 3000, x0.1, 12 steps earlier'
    """
    words = _KIND_WORDS.get(str(event["kind"]), str(event["kind"]))
    text = f"{words} at step {event['step']}"
    factor = event.get("factor")
    if factor is not None:
        text += f", x{factor:.3g}"
    ago = step - int(event["step"])
    return text + (f", {ago} steps earlier" if ago != 1 else ", 1 step earlier")
