"""The `Alert` a rule emits and its `Severity`."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

EvidenceValue = int | float | str

_SEVERITY_NAMES = frozenset({"info", "warning", "error", "critical"})
_FIELDS = ("rule", "severity", "step", "message", "cause", "advice", "evidence")


class Severity(str, Enum):
    """How urgent an alert is; serialised as its lowercase name.

    Example:
        >>> Severity("error") is Severity.ERROR
        True
        >>> Severity.INFO < Severity.CRITICAL
        True
    """

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """0 for info up to 3 for critical."""
        return _RANKS[self]

    @property
    def log_level(self) -> int:
        """The `logging` level an alert of this severity is logged at (WARNING or above)."""
        return _LOG_LEVELS[self]

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return self.rank < other.rank


_RANKS = {Severity.INFO: 0, Severity.WARNING: 1, Severity.ERROR: 2, Severity.CRITICAL: 3}
# Alerts are runtime events the user must see with a default logging setup, so even an
# info alert is logged at WARNING; the Alert on the record keeps the real severity.
_LOG_LEVELS = {
    Severity.INFO: logging.WARNING,
    Severity.WARNING: logging.WARNING,
    Severity.ERROR: logging.ERROR,
    Severity.CRITICAL: logging.CRITICAL,
}


def _clean_evidence(evidence: Mapping[str, Any]) -> dict[str, EvidenceValue]:
    clean: dict[str, EvidenceValue] = {}
    for key, value in evidence.items():
        if not isinstance(key, str):
            raise TypeError(f"Alert: evidence keys must be str; got key={key!r}. Use a str key.")
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise TypeError(
                f"Alert: evidence values must be int, float or str; got {key}={value!r}. "
                "Convert it to one of those."
            )
        if isinstance(value, float) and not math.isfinite(value):
            value = str(value)  # strict JSON has no NaN/Inf
        clean[key] = value
    return clean


@dataclass(frozen=True)
class Alert:
    """One diagnosis: what was seen, its likely cause and the remedy.

    Args:
        rule: the public rule name (``"spike"``, ``"divergence"``...).
        severity: a `Severity` (a lowercase string is accepted).
        step: the optimizer step the alert is about.
        message: what was seen, with numbers.
        cause: the likely cause, naming a schedule event when one explains it.
        advice: the remedy, with the current LR when known.
        evidence: the numbers behind the alert (int, float or str values;
            non-finite floats are stored as strings so the alert stays strict JSON).

    Example:
        >>> a = Alert("spike", "info", 3012, "loss 4.1, 3.2x the recent mean",
        ...           "LR step decay at step 3000, x0.1, 12 steps earlier",
        ...           "brief instability after an LR change is normal", {"z": 9.5})
        >>> Alert.from_dict(a.to_dict()) == a
        True
        >>> a.to_dict()["severity"]
        'info'
    """

    rule: str
    severity: Severity
    step: int
    message: str
    cause: str = ""
    advice: str = ""
    evidence: dict[str, EvidenceValue] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.severity not in _SEVERITY_NAMES:
            raise ValueError(
                f"Alert: severity must be one of {sorted(_SEVERITY_NAMES)}; got "
                f"severity={self.severity!r}. Use a Severity member or its lowercase name."
            )
        object.__setattr__(self, "severity", Severity(self.severity))
        if isinstance(self.step, bool) or not isinstance(self.step, int):
            raise TypeError(f"Alert: step must be an int; got step={self.step!r}. Pass an int.")
        object.__setattr__(self, "evidence", _clean_evidence(self.evidence))

    def to_dict(self) -> dict[str, Any]:
        """A strict-JSON dict; `from_dict` reverses it."""
        return {
            "rule": self.rule,
            "severity": self.severity.value,
            "step": self.step,
            "message": self.message,
            "cause": self.cause,
            "advice": self.advice,
            "evidence": dict(self.evidence),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Alert:
        """Rebuild an alert from `to_dict` output; unknown or missing keys raise ValueError."""
        missing = [k for k in _FIELDS if k not in data]
        unknown = [k for k in data if k not in _FIELDS]
        if missing or unknown:
            raise ValueError(
                f"Alert.from_dict: expected keys {list(_FIELDS)}; got missing={missing}, "
                f"unknown={unknown}. Pass the output of Alert.to_dict()."
            )
        return cls(**{k: data[k] for k in _FIELDS})
