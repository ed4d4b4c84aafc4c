"""`plateau`: no real improvement for a long stretch early in training."""

from __future__ import annotations

import math

from lr_callbacks.diagnostics.alert import Alert, Severity
from lr_callbacks.diagnostics.base import RateLimiter, Rule
from lr_callbacks.diagnostics.context import NEVER, Observation, RunContext
from lr_callbacks.diagnostics.text import fmt_num, lr_clause
from lr_callbacks.diagnostics.validate import check_float, check_int

_OWNER = "PlateauRule"


class PlateauRule(Rule):
    """Fires when the smoothed loss stops improving early in training.

    No improvement means the smoothed loss has not beaten its best by `min_delta`
    (relative, torch ReduceLROnPlateau's "rel" mode) for
    ``max(patience, patience_fraction * steps since the start)`` steps; the patience
    grows with the run, so a healthy power-law curve, which slows down as it goes,
    does not count as a plateau. Early means while the LR is still at least
    `min_lr_fraction` of its peak and no LR decay has happened: a flat loss under a
    decayed LR is normal convergence. A loss that never moved also counts (it is
    stuck from the start; `slow_progress` says the same from the LR side). The test
    restarts at every LR event; one alert per plateau, and repeats rate-limited
    (every 4 patience, doubling).

    Args:
        patience: minimum flat stretch, in steps.
        patience_fraction: flat stretch as a fraction of the steps since the start.
        min_delta: relative improvement that counts.
        min_lr_fraction: LR / peak LR below which a flat loss is normal convergence.
        min_history: finite observations (after warmup) before the start.
        check_every: steps between checks.
    """

    name = "plateau"
    _state_keys = (
        "due", "start_step", "best", "best_step", "event_step", "armed", "limiter",
    )  # fmt: skip

    def __init__(
        self,
        patience: int = 300,
        patience_fraction: float = 0.5,
        min_delta: float = 0.02,
        min_lr_fraction: float = 0.5,
        min_history: int = 64,
        check_every: int = 25,
    ) -> None:
        self.patience = check_int(_OWNER, "patience", patience, 1)
        self.patience_fraction = check_float(_OWNER, "patience_fraction", patience_fraction, 0.0, 10.0)
        self.min_delta = check_float(_OWNER, "min_delta", min_delta, 0.0, 1.0)
        self.min_lr_fraction = check_float(_OWNER, "min_lr_fraction", min_lr_fraction, 0.0, 1.0)
        self.min_history = check_int(_OWNER, "min_history", min_history, 0)
        self.check_every = check_int(_OWNER, "check_every", check_every, 1)
        self._log_delta = math.log(1.0 - self.min_delta)
        self._due = 0
        self._start_step = NEVER
        self._best = 0.0
        self._best_step = NEVER
        self._event_step = NEVER
        self._armed = True
        self._limiter = RateLimiter(4 * self.patience)

    @property
    def due(self) -> int:
        """The next step this rule needs to see; the Monitor skips calls before it."""
        return self._due

    def update(self, obs: Observation, context: RunContext) -> list[Alert]:
        """Track the best smoothed loss every `check_every` steps."""
        step = obs.step
        if step < self._due:
            return []
        self._due = step + self.check_every
        ema = context.ema
        if self._start_step == NEVER:
            if context.num_obs > self.min_history and context.warmed_up(step):
                self._start_step = step
                self._best, self._best_step = ema, step
            return []
        if context.last_event_step > self._event_step:  # restart the test after LR events
            self._event_step = context.last_event_step
            self._best, self._best_step, self._armed = ema, step, True
        if ema < self._best + self._log_delta:
            self._best, self._best_step, self._armed = ema, step, True
            return []
        if not self._armed or not self._early(context):
            return []
        flat = step - self._best_step
        if flat < max(self.patience, self.patience_fraction * (step - self._start_step)):
            return []
        self._armed = False
        if not self._limiter.allow(step):
            return []
        return [self._make(obs, context, flat)]

    def _early(self, context: RunContext) -> bool:
        if context.num_decays:
            return False
        lr, peak = context.lr, context.peak_lr
        return lr is None or peak is None or lr >= self.min_lr_fraction * peak

    def _make(self, obs: Observation, context: RunContext, flat: int) -> Alert:
        best, now = math.exp(self._best), math.exp(context.ema)
        seen = (
            f"smoothed loss {fmt_num(now)} has not improved by {100 * self.min_delta:g}% on "
            f"its best {fmt_num(best)} (step {self._best_step}) for {flat} steps"
        )
        cause = "stuck in a poor region early in training"
        advice = f"try a warm restart, or raise the LR for a while{lr_clause(context.lr)}"
        evidence = {"best_loss": best, "smoothed_loss": now, "flat_steps": flat}
        return self._alert(Severity.WARNING, obs.step, seen, cause, advice, **evidence)
