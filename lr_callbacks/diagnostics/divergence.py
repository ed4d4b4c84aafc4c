"""`divergence`: the smoothed loss climbs far above its best."""

from __future__ import annotations

import math

from lr_callbacks.diagnostics.alert import Alert, Severity
from lr_callbacks.diagnostics.base import Rule, lr_event_within
from lr_callbacks.diagnostics.context import Observation, RunContext
from lr_callbacks.diagnostics.state import from_json_float, to_json_float
from lr_callbacks.diagnostics.text import describe_event, fmt_num, lr_clause
from lr_callbacks.diagnostics.validate import check_float, check_int

_OWNER = "DivergenceRule"


class DivergenceRule(Rule):
    """Fires when the smoothed loss rises to `ratio` x its running best.

    The smoothed loss is the context's robust EMA of the log-loss (beta 0.98), so a
    single bad batch moves it little while a real explosion does. Active from the
    second step: a far too high LR explodes within the first steps. Severity error;
    critical once the ratio reaches `critical_ratio` ("diverged"); warning while
    within `event_grace_steps` after an LR event. One alert per episode (a second
    one on escalation to critical); the episode ends when the ratio falls below
    `rearm_ratio`. Within `event_grace_steps` after a spike alert (a bad batch knocks the
    weights), a first-level alert is a warning that names the spike.

    Args:
        ratio: smoothed loss over its best that fires (calibrated: 1.5).
        critical_ratio: ratio that makes the alert critical (4, as Lightning's lr_find).
        rearm_ratio: ratio below which a new episode may fire.
        event_grace_steps: steps after an LR event during which it is only a warning.
        min_steps: finite observations needed before the rule can fire.

    Example:
        >>> from lr_callbacks.diagnostics.context import Observation, RunContext
        >>> rule, context = DivergenceRule(), RunContext()
        >>> fired = []
        >>> for step in range(40):
        ...     obs = Observation(step, 2.3 * 1.1 ** step, 0.5)
        ...     context.advance(step, obs.lr, obs.log_loss)
        ...     fired += [a.step for a in rule.update(obs, context)]
        >>> fired
        [9, 27]
    """

    name = "divergence"
    _state_keys = ("best", "best_step", "level", "max_ratio")

    def __init__(
        self,
        ratio: float = 1.5,
        critical_ratio: float = 4.0,
        rearm_ratio: float = 1.2,
        event_grace_steps: int = 64,
        min_steps: int = 2,
    ) -> None:
        self.ratio = check_float(_OWNER, "ratio", ratio, 1.0)
        self.critical_ratio = check_float(_OWNER, "critical_ratio", critical_ratio, self.ratio)
        self.rearm_ratio = check_float(_OWNER, "rearm_ratio", rearm_ratio, 1.0, self.ratio)
        self.event_grace_steps = check_int(_OWNER, "event_grace_steps", event_grace_steps, 0)
        self.min_steps = check_int(_OWNER, "min_steps", min_steps, 1)
        self._log_ratio = math.log(self.ratio)
        self._log_critical = math.log(self.critical_ratio)
        self._log_rearm = math.log(self.rearm_ratio)
        self._best = math.inf
        self._best_step = 0
        self._level = 0  # 0 quiet, 1 error fired, 2 critical fired in this episode
        self._max_ratio = 1.0

    def update(self, obs: Observation, context: RunContext) -> list[Alert]:
        """Compare the context's smoothed log-loss with its best so far."""
        ema = context.ema
        if ema < self._best:
            self._best, self._best_step = ema, obs.step
            return []
        rise = ema - self._best
        if rise < self._log_ratio:
            if self._level and rise < self._log_rearm:
                self._level = 0
            return []
        return self._fire(obs, context, rise)

    def _fire(self, obs: Observation, context: RunContext, rise: float) -> list[Alert]:
        self._max_ratio = max(self._max_ratio, math.exp(rise))
        level = 2 if rise >= self._log_critical else 1
        if level <= self._level or context.num_obs < self.min_steps:
            return []
        self._level = level
        return [self._make(obs, context, math.exp(rise), level)]

    def _make(self, obs: Observation, context: RunContext, ratio: float, level: int) -> Alert:
        smoothed, best = math.exp(context.ema), math.exp(self._best)
        seen = (
            f"smoothed loss {fmt_num(smoothed)} is {ratio:.2f}x its best {fmt_num(best)} "
            f"(step {self._best_step})"
        )
        severity = Severity.CRITICAL if level == 2 else Severity.ERROR
        event = context.last_event
        spike = context.fired.get("spike")
        if level == 1 and spike is not None and 0 <= obs.step - spike <= self.event_grace_steps:
            # A bad batch knocks the weights: the loss may take a while to come back, LR or not.
            cause = (
                f"the loss has not come back to its best since the spike at step {spike} (likely a bad "
                f"batch); if it keeps climbing, the LR is too high"
            )
            severity = Severity.WARNING
        elif event is not None and lr_event_within(context, obs.step, self.event_grace_steps):
            cause = f"{describe_event(event, obs.step)}; the new LR is too high for this phase"
            severity = Severity.WARNING if level == 1 else severity
        elif level == 2:
            cause = "the run diverged: the LR is far too high"
        else:
            cause = "LR too high: the loss is climbing away from its best"
        advice = (
            f"reduce the peak LR 3-10x{lr_clause(context.lr)}; add or tighten gradient "
            "clipping; under fp16 check for overflow"
        )
        return self._alert(
            severity, obs.step, seen, cause, advice,
            ratio=ratio, smoothed_loss=smoothed, best_loss=best, best_step=self._best_step,
        )  # fmt: skip

    def state_dict(self) -> dict[str, object]:
        """Counters and statistics as strict JSON (None for a best not yet seen)."""
        state = super().state_dict()
        state["best"] = to_json_float(self._best)
        return state

    def load_state_dict(self, state: dict[str, object]) -> None:
        """Restore `state_dict` output; rejects missing or unknown keys by name."""
        super().load_state_dict(state)
        self._best = from_json_float(self._best, math.inf)
