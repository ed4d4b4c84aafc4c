"""What every rule shares: the `Rule` base, rate limiting and state handling."""

from __future__ import annotations

from typing import Any, ClassVar, Protocol, runtime_checkable

from lr_callbacks.diagnostics.alert import Alert, EvidenceValue, Severity
from lr_callbacks.diagnostics.context import NEVER, Observation, RunContext
from lr_callbacks.diagnostics.state import check_state_keys


@runtime_checkable
class RuleProtocol(Protocol):
    """Anything with these members can run inside a `Monitor`."""

    @property
    def name(self) -> str: ...

    def update(self, obs: Observation, context: RunContext) -> list[Alert]: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class RateLimiter:
    """Allows one alert per `interval` steps; the interval doubles on quick repeats.

    A repeat within twice the current interval doubles it; a longer quiet stretch
    resets it to `base`.

    Example:
        >>> limiter = RateLimiter(100)
        >>> [limiter.allow(s) for s in (0, 50, 100, 250, 500, 1000)]
        [True, False, True, False, True, True]
    """

    def __init__(self, base: int) -> None:
        self.base = base
        self.interval = base
        self.last = NEVER

    def allow(self, step: int) -> bool:
        """True (and record `step`) when an alert at `step` may go out."""
        gap = step - self.last
        if gap < self.interval:
            return False
        self.interval = self.interval * 2 if gap < 2 * self.interval else self.base
        self.last = step
        return True

    def state(self) -> list[int]:
        """[last, interval] for a state dict."""
        return [self.last, self.interval]

    def load(self, state: list[int]) -> None:
        """Reverse `state`."""
        self.last, self.interval = int(state[0]), int(state[1])


class Rule:
    """Base of the built-in rules.

    Subclasses set `name`, the dispatch flags and `_state_keys` (attribute names,
    without the leading underscore, holding strict-JSON counters and statistics),
    and implement `update`. The Monitor calls `update` for finite training steps when
    `on_finite`, for steps with a NaN/Inf loss or grad norm when `on_nonfinite`, and
    for evaluations (``obs.val_loss`` set) when `on_eval`. A rule that only needs
    to look every N steps may expose a ``due`` property (the next step it must see);
    the Monitor then skips its calls before that step.
    """

    name: ClassVar[str] = ""
    on_finite: ClassVar[bool] = True
    on_nonfinite: ClassVar[bool] = False
    on_eval: ClassVar[bool] = False
    _state_keys: ClassVar[tuple[str, ...]] = ()

    def update(self, obs: Observation, context: RunContext) -> list[Alert]:
        """Look at one observation; return the alerts it triggers (usually none)."""
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        """Counters and statistics as strict JSON, with a "version" key."""
        state: dict[str, Any] = {"version": 1}
        for key in self._state_keys:
            value = getattr(self, "_" + key)
            state[key] = value.state() if isinstance(value, RateLimiter) else _copy(value)
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore `state_dict` output; rejects missing or unknown keys by name."""
        check_state_keys(type(self).__name__, state, ("version", *self._state_keys))
        for key in self._state_keys:
            current = getattr(self, "_" + key)
            if isinstance(current, RateLimiter):
                current.load(state[key])
            else:
                setattr(self, "_" + key, _copy(state[key]))

    def _alert(
        self,
        severity: Severity,
        step: int,
        message: str,
        cause: str,
        advice: str,
        **evidence: EvidenceValue,
    ) -> Alert:
        return Alert(self.name, severity, step, message, cause, advice, evidence)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def _copy(value: Any) -> Any:
    if isinstance(value, list):
        return list(value)
    if isinstance(value, dict):
        return dict(value)
    return value


def lr_event_within(context: RunContext, step: int, window: int) -> bool:
    """True when an LR event (decay, restart, LR change, resume) happened <= `window` steps ago."""
    return 0 <= step - context.last_event_step <= window
