"""`spike`: a sudden jump of the loss mid-run, explained by an LR event or a bad batch."""

from __future__ import annotations

import math
from typing import Any

from lr_callbacks.diagnostics.alert import Alert, Severity
from lr_callbacks.diagnostics.base import RateLimiter, Rule, lr_event_within
from lr_callbacks.diagnostics.context import NEVER, Observation, RunContext
from lr_callbacks.diagnostics.text import describe_event, fmt_num, lr_clause
from lr_callbacks.diagnostics.validate import check_float, check_int

_OWNER = "SpikeRule"


class SpikeRule(Rule):
    """Fires when one log-loss is `z_threshold` standard deviations above the last `window`.

    The test is OLMo-core's (6 sigma over 128 steps, from 64 values on) plus a guard
    that the loss is at least `min_ratio` x the rolling mean. The alert waits until
    the spike resolves (at most `recovery_steps`), then says what it was:
    within `event_window` steps after an LR event, expected instability (info);
    back to normal quickly, likely a bad batch, with the step and batch index
    (warning); still high for `persist_steps` steps or never back, a jump the LR
    does not recover from (error). A spike enters the window clipped to the
    threshold, so it does not hide the next one. Within `event_window` steps after an
    LR event, a level that climbs over a few steps to `event_jump_ratio` x (and 3
    sigma above) the pre-event mean counts as a spike too: an LR increase raises the
    loss over ~10 steps more than in one.

    Args:
        window: number of past log-losses in the rolling mean and std.
        min_history: values needed (after warmup) before any verdict.
        z_threshold: standard deviations above the mean that make a spike.
        min_ratio: the loss must also be at least this multiple of the rolling mean.
        event_window: steps after an LR event within which a spike is expected.
        recovery_steps: steps the loss has to come back before it counts as a jump.
        persist_steps: consecutive high steps that make it a jump, not a spike.
        cooldown_steps: base interval between two spike alerts (doubles on repeats).
        event_jump_ratio: post-event level over the pre-event mean that counts as a jump.
        big_ratio: a jump of at least this multiple of the rolling mean needs only `big_z`.
        big_z: standard deviations such a big jump must also clear.

    Example:
        >>> from lr_callbacks.diagnostics.context import NEVER, Observation, RunContext
        >>> rule, context, fired = SpikeRule(), RunContext(), []
        >>> for step in range(300):
        ...     loss = 50.0 if step == 200 else 2.0 + 0.1 * math.sin(step)
        ...     obs = Observation(step, loss)
        ...     context.advance(step, None, obs.log_loss)
        ...     fired += rule.update(obs, context)
        >>> [(a.step, a.severity.value) for a in fired]
        [(200, 'warning')]
    """

    name = "spike"
    _state_keys = (
        "buffer", "index", "count", "sum", "sumsq", "pending", "limiter", "event_step", "watch",
    )  # fmt: skip

    def __init__(
        self,
        window: int = 128,
        min_history: int = 64,
        z_threshold: float = 6.0,
        min_ratio: float = 1.1,
        event_window: int = 64,
        recovery_steps: int = 50,
        persist_steps: int = 5,
        cooldown_steps: int = 10,
        event_jump_ratio: float = 1.25,
        big_ratio: float = 10.0,
        big_z: float = 4.0,
    ) -> None:
        self.window = check_int(_OWNER, "window", window, 8)
        self.min_history = check_int(_OWNER, "min_history", min_history, 2)
        if self.min_history > self.window:
            raise ValueError(
                f"{_OWNER}: min_history must be <= window={self.window}; got "
                f"min_history={min_history!r}. Lower min_history or raise window."
            )
        self.z_threshold = check_float(_OWNER, "z_threshold", z_threshold, 0.0)
        self.min_ratio = check_float(_OWNER, "min_ratio", min_ratio, 1.0)
        self.event_window = check_int(_OWNER, "event_window", event_window, 0)
        self.recovery_steps = check_int(_OWNER, "recovery_steps", recovery_steps, 1)
        self.persist_steps = check_int(_OWNER, "persist_steps", persist_steps, 1)
        self.cooldown_steps = check_int(_OWNER, "cooldown_steps", cooldown_steps, 1)
        self.event_jump_ratio = check_float(_OWNER, "event_jump_ratio", event_jump_ratio, 1.0)
        self._log_jump = math.log(self.event_jump_ratio)
        self.big_ratio = check_float(_OWNER, "big_ratio", big_ratio, 1.0)
        self.big_z = check_float(_OWNER, "big_z", big_z, 0.0)
        self._log_big = math.log(self.big_ratio)
        self._big_z2 = self.big_z**2
        self._event_step = NEVER
        self._watch: list[float] | None = None  # [pre-event mean, std, fast EMA]
        self._z2 = self.z_threshold**2
        self._log_ratio = math.log(self.min_ratio)
        self._buffer = [0.0] * self.window
        self._index = 0
        self._count = 0
        self._sum = 0.0
        self._sumsq = 0.0
        self._pending: dict[str, Any] | None = None
        self._limiter = RateLimiter(self.cooldown_steps)

    def update(self, obs: Observation, context: RunContext) -> list[Alert]:
        """Test the new log-loss against the rolling window, then add it to the window."""
        x = obs.log_loss
        alerts: list[Alert] = []
        if self._pending is not None:
            alerts = self._follow(obs, context, x)  # may reset the window
        n = self._count
        if context.last_event_step != self._event_step:
            self._see_event(context.last_event_step, n)
        if n >= self.min_history:
            mean = self._sum / n
            var = self._sumsq / n - mean * mean
            d = x - mean
            if self._watch is not None:
                self._watch_level(obs, x)
            if d > self._log_ratio and context.warmed_up(obs.step):
                dd = d * d
                if dd > self._z2 * var:
                    clip = self.z_threshold
                elif d >= self._log_big and dd > self._big_z2 * var:
                    clip = self.big_z  # an order of magnitude, clear of wide log-noise
                else:
                    clip = 0.0
                if clip:
                    std = math.sqrt(var) if var > 0.0 else 0.0
                    if self._pending is None:
                        self._start(obs, mean, std, d)
                    x = mean + clip * std  # clip so the spike does not hide the next
        if n < self.window:  # filling the window
            self._buffer[n] = x
            self._count = n + 1
            self._sum += x
            self._sumsq += x * x
            return alerts
        i = self._index
        old = self._buffer[i]
        self._buffer[i] = x
        self._index = i + 1 if i + 1 < self.window else 0
        self._sum += x - old
        self._sumsq += x * x - old * old
        return alerts

    def _see_event(self, event_step: int, n: int) -> None:
        """Snapshot the level before an LR event, to catch a jump of the level after it."""
        self._event_step = event_step
        self._watch = None
        if n >= self.min_history:
            mean = self._sum / n
            std = math.sqrt(max(self._sumsq / n - mean * mean, 0.0))
            self._watch = [mean, std, mean]

    def _watch_level(self, obs: Observation, x: float) -> None:
        """After an LR change the loss tends to step up over a few steps rather than spike
        in one: a fast EMA (about 3 steps) above the pre-event level also counts."""
        watch = self._watch
        assert watch is not None
        if obs.step - self._event_step > self.event_window:
            self._watch = None
            return
        mean, std, fast = watch
        fast = watch[2] = 0.7 * fast + 0.3 * x
        if self._pending is None and fast - mean >= max(self._log_jump, 3.0 * std):
            self._start(obs, mean, std, x - mean)
            self._watch = None

    def _start(self, obs: Observation, mean: float, std: float, d: float) -> None:
        self._pending = {
            "step": obs.step, "batch_index": obs.batch_index, "mean": mean, "std": std,
            "loss": obs.loss, "z": d / std if std > 0.0 else None, "high_run": 0,
        }  # fmt: skip

    def _follow(self, obs: Observation, context: RunContext, x: float) -> list[Alert]:
        pending = self._pending
        assert pending is not None
        above = x - pending["mean"]
        if above <= max(self._log_ratio, pending["std"]):
            return self._resolve(obs, context, "recovered")
        if above >= max(self._log_ratio, 3.0 * pending["std"]):
            pending["high_run"] += 1
            if pending["high_run"] >= self.persist_steps:
                return self._resolve(obs, context, "persists")
        else:
            pending["high_run"] = 0
        if obs.step - pending["step"] >= self.recovery_steps:
            return self._resolve(obs, context, "persists")
        return []

    def _resolve(self, obs: Observation, context: RunContext, outcome: str) -> list[Alert]:
        pending = self._pending
        assert pending is not None
        self._pending = None
        if outcome == "persists":  # the level moved: re-learn it instead of alerting again
            self._index = self._count = 0
            self._sum = self._sumsq = 0.0
        if not self._limiter.allow(pending["step"]):
            return []
        return [self._make(pending, obs.step, context, outcome)]

    def _make(self, pending: dict[str, Any], now: int, context: RunContext, outcome: str) -> Alert:
        step, loss, mean = pending["step"], pending["loss"], math.exp(pending["mean"])
        z = pending["z"]
        seen = f"loss jumped to {fmt_num(loss)} at step {step}, {loss / mean:.1f}x the recent mean"
        seen += f" {fmt_num(mean)}" + ("" if z is None else f" (z={z:.1f})")
        later = now - step
        plural = "" if later == 1 else "s"
        seen += f"; back to normal {later} step{plural} later" if outcome == "recovered" else ""
        seen += "; it stays high" if outcome != "recovered" else ""
        event = context.last_event
        if event is not None and lr_event_within(context, step, self.event_window):
            severity, cause, advice = self._after_event(event, step, outcome, context)
        elif outcome == "recovered":
            severity, cause, advice = self._bad_batch(pending)
        else:
            severity = Severity.ERROR
            cause = "the loss jumped and does not come back: the LR is likely too high"
            advice = (
                f"reduce the LR 3-10x{lr_clause(context.lr)}; add gradient clipping, or "
                f"restart from a checkpoint before step {step} and skip the batches around it"
            )
        evidence = {"loss": loss, "recent_mean": mean, "z": -1.0 if z is None else z}
        if pending["batch_index"] is not None:
            evidence["batch_index"] = pending["batch_index"]
        return self._alert(severity, step, seen, cause, advice, **evidence)

    def _after_event(
        self, event: dict[str, Any], step: int, outcome: str, context: RunContext
    ) -> tuple[Severity, str, str]:
        cause = f"{describe_event(event, step)}; brief instability right after an LR change"
        if outcome == "recovered":
            return Severity.INFO, cause + " is expected", "no action needed: the loss settled"
        advice = f"soften the LR change or lower the LR after it{lr_clause(context.lr)}"
        return Severity.WARNING, cause + " that has not settled", advice

    def _bad_batch(self, pending: dict[str, Any]) -> tuple[Severity, str, str]:
        step, index = pending["step"], pending["batch_index"]
        where = f"step {step}" + ("" if index is None else f", batch index {index}")
        cause = f"likely a bad batch ({where}): the loss came straight back"
        previous = "" if index is None else f" and the one before (batch index {index - 1})"
        advice = (
            f"inspect the batch at {where}{previous} for corrupt or mislabelled samples; "
            "skip it if it recurs; the LR needs no change"
        )
        return Severity.WARNING, cause, advice
