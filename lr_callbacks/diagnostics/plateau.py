"""`plateau`: no real improvement for a long stretch early in training."""

from __future__ import annotations

import bisect
import math

from lr_callbacks.diagnostics.alert import Alert, Severity
from lr_callbacks.diagnostics.base import RateLimiter, Rule
from lr_callbacks.diagnostics.context import EMA_BETA, NEVER, Observation, RunContext
from lr_callbacks.diagnostics.text import fmt_num, lr_clause
from lr_callbacks.diagnostics.validate import check_float, check_int

_OWNER = "PlateauRule"


class PlateauRule(Rule):
    """Fires when the smoothed loss stops improving early in training.

    Two tests, either of which makes a plateau:

    - *No new best*: the smoothed loss has not beaten its best by `min_delta`
      (relative, torch ReduceLROnPlateau's "rel" mode) for
      ``max(patience, patience_fraction * steps since the start)`` steps; the patience
      grows with the run, so a healthy power-law curve, which slows down as it goes,
      does not count as a plateau.
    - *Stalled rate*: the improvement rate has fallen to under `rate_fraction` of the
      run's own best rate. The rate is the drop of the smoothed log-loss per e-fold of
      steps over the last ``1 - 1/rate_span`` of the run (steps counted from the start
      or the last LR event; at least `patience` steps long), i.e. minus the log-log
      slope of the curve: constant on a healthy power law, however slow, and near zero
      on a plateau. A slow creep (2% per ~1000 steps) keeps resetting the first test's
      best while its patience grows with the run, so it never fires; its rate is still
      a tenth of the descent's. The test needs a real earlier descent (the best rate
      times ``log(rate_span)`` at least `min_drop`; a loss that never moved is the
      first test's, or `slow_progress`'s), and the rate must sit under the threshold by
      `noise_z` standard errors: the error of a rate comes from the noise of the smoothed
      loss at both ends of the window (estimated from how the smoothed loss moves between
      checks), so a noisy run (batch 4-16, log-loss spread 0.2-0.4) needs a much longer
      stall than a quiet one before the rule claims it stopped improving.

    Early means while the LR is still at least `min_lr_fraction` of its peak and no
    LR decay has happened: a flat loss under a decayed LR is normal convergence. A
    loss that never moved also counts (it is stuck from the start; `slow_progress`
    says the same from the LR side). The tests restart at every LR event. One alert
    per plateau: an alert disarms both tests; a new best re-arms the first, a rate
    back above the threshold (by `noise_z` standard errors) re-arms the second; repeats are rate-limited (every 4
    patience, doubling).

    Args:
        patience: minimum flat stretch, in steps.
        patience_fraction: flat stretch as a fraction of the steps since the start.
        min_delta: relative improvement that counts.
        min_lr_fraction: LR / peak LR below which a flat loss is normal convergence.
        min_history: finite observations (after warmup) before the start.
        check_every: steps between checks.
        rate_fraction: rate / best rate below which the progress has stalled.
        rate_span: the rate window is [t / rate_span, t] in steps since the origin.
        min_drop: relative drop the best rate must stand for before the rate test applies.
        noise_z: the rate must be this many of its own standard errors under the threshold.
    """

    name = "plateau"
    _state_keys = (
        "due", "start_step", "best", "best_step", "event_step", "armed", "limiter",
        "origin", "mark_steps", "mark_emas", "peak_rate", "rate_armed", "noise", "last_obs",
        "last_ema",
    )  # fmt: skip

    def __init__(
        self,
        patience: int = 300,
        patience_fraction: float = 0.5,
        min_delta: float = 0.02,
        min_lr_fraction: float = 0.5,
        min_history: int = 64,
        check_every: int = 25,
        rate_fraction: float = 0.1,
        rate_span: float = 3.0,
        min_drop: float = 0.05,
        noise_z: float = 2.0,
    ) -> None:
        self.patience = check_int(_OWNER, "patience", patience, 1)
        self.patience_fraction = check_float(_OWNER, "patience_fraction", patience_fraction, 0.0, 10.0)
        self.min_delta = check_float(_OWNER, "min_delta", min_delta, 0.0, 1.0)
        self.min_lr_fraction = check_float(_OWNER, "min_lr_fraction", min_lr_fraction, 0.0, 1.0)
        self.min_history = check_int(_OWNER, "min_history", min_history, 0)
        self.check_every = check_int(_OWNER, "check_every", check_every, 1)
        self.rate_fraction = check_float(_OWNER, "rate_fraction", rate_fraction, 0.0, 1.0)
        self.rate_span = check_float(_OWNER, "rate_span", rate_span, 1.0)
        self.min_drop = check_float(_OWNER, "min_drop", min_drop, 0.0, 1.0)
        self.noise_z = check_float(_OWNER, "noise_z", noise_z, -1.0)
        self._log_delta = math.log(1.0 - self.min_delta)
        self._min_rate = -math.log(1.0 - self.min_drop) / math.log(self.rate_span)
        self._due = 0
        self._start_step = NEVER
        self._best = 0.0
        self._best_step = NEVER
        self._event_step = NEVER
        self._armed = True
        self._limiter = RateLimiter(4 * self.patience)
        self._origin = NEVER  # step the rate test counts from: the first step or last LR event
        self._mark_steps: list[int] = []  # geometric checkpoints (steps since the origin) ...
        self._mark_emas: list[float] = []  # ... and the smoothed log-loss there
        self._peak_rate = 0.0
        self._rate_armed = True  # the rate test fires on entering a stall, once
        self._noise = 0.0  # variance of the smoothed log-loss from noise, estimated at checks
        self._last_obs = 0
        self._last_ema = 0.0
        self._rate: list[float] | None = None  # [rate, from step] of the last check

    @property
    def due(self) -> int:
        """The next step this rule needs to see; the Monitor skips calls before it."""
        return self._due

    def update(self, obs: Observation, context: RunContext) -> list[Alert]:
        """Track the best smoothed loss and the improvement rate every `check_every` steps."""
        step = obs.step
        if step < self._due:
            return []
        self._due = step + self.check_every
        ema = context.ema
        if self._origin == NEVER:
            self._origin = step
        if self._start_step == NEVER:
            if context.num_obs > self.min_history and context.warmed_up(step):
                self._start_step = step
                self._best, self._best_step = ema, step
                self._mark(step, ema)
                self._last_obs, self._last_ema = context.num_obs, ema
            return []
        if context.last_event_step > self._event_step:  # restart the test after LR events
            self._event_step = context.last_event_step
            self._best, self._best_step, self._armed = ema, step, True
            self._origin, self._peak_rate, self._rate_armed = self._event_step, 0.0, True
            self._mark_steps, self._mark_emas = [], []
        self._track_noise(context.num_obs, ema)
        stalled = self._stalled(step, ema)
        if ema < self._best + self._log_delta:
            self._best, self._best_step, self._armed = ema, step, True
            return []
        if not self._early(context):
            return []
        flat = step - self._best_step
        stalled = stalled and self._rate_armed
        flat_long = flat >= max(self.patience, self.patience_fraction * (step - self._start_step))
        if not (stalled or (self._armed and flat_long)):
            return []
        self._armed = self._rate_armed = False
        if not self._limiter.allow(step):
            return []
        return [self._make(obs, context, flat, stalled)]

    def _mark(self, step: int, ema: float) -> None:
        """Keep the smoothed loss at geometrically spaced steps (5% apart): O(log t) state."""
        since = step - self._origin + 1
        marks = self._mark_steps
        if not marks or since >= 1.05 * marks[-1]:
            marks.append(since)
            self._mark_emas.append(ema)

    def _track_noise(self, num_obs: int, ema: float) -> None:
        """Variance of the EMA's noise from its moves between checks: for white noise,
        EMA_t - EMA_{t-k} has variance 2 var(EMA) (1 - beta^k); a trend only adds to it."""
        k = num_obs - self._last_obs
        if k > 0:
            d = ema - self._last_ema
            sample = d * d / (2.0 * (1.0 - EMA_BETA**k))
            self._noise = sample if self._noise == 0.0 else self._noise + (sample - self._noise) / 16.0
        self._last_obs, self._last_ema = num_obs, ema

    def _stalled(self, step: int, ema: float) -> bool:
        """Record this check; True when the rate over [t / rate_span, t] is under
        `rate_fraction` of the best rate seen since the origin."""
        self._rate = None
        since = step - self._origin + 1
        target = since / self.rate_span
        marks = self._mark_steps
        i = bisect.bisect_left(marks, target)
        stalled = False
        if i < len(marks) and marks[i] <= 1.1 * target and since - marks[i] >= self.patience:
            span = math.log(since / marks[i])
            rate = (self._mark_emas[i] - ema) / span
            noise = math.sqrt(2.0 * self._noise) / span  # std of the rate from the EMA's noise
            peak = self._peak_rate
            limit, margin = self.rate_fraction * peak, self.noise_z * noise
            stalled = peak >= self._min_rate and rate + margin < limit
            if rate - margin > limit:
                self._rate_armed = True  # clearly moving again: a later stall is a new plateau
            self._rate = [rate, float(marks[i] + self._origin - 1)]
            if rate > peak:
                self._peak_rate = rate
        self._mark(step, ema)
        return stalled

    def _early(self, context: RunContext) -> bool:
        if context.num_decays:
            return False
        lr, peak = context.lr, context.peak_lr
        return lr is None or peak is None or lr >= self.min_lr_fraction * peak

    def _make(self, obs: Observation, context: RunContext, flat: int, stalled: bool) -> Alert:
        best, now = math.exp(self._best), math.exp(context.ema)
        if stalled and self._rate is not None:
            rate, since = self._rate
            per_doubling = 1.0 - math.exp(-rate * math.log(2.0))
            peak_doubling = 1.0 - math.exp(-self._peak_rate * math.log(2.0))
            seen = (
                f"smoothed loss {fmt_num(now)} has nearly stopped improving: "
                f"{100 * per_doubling:.1f}% per doubling of the steps since step {int(since)}, "
                f"against {100 * peak_doubling:.0f}% while it was falling"
            )
        else:
            seen = (
                f"smoothed loss {fmt_num(now)} has not improved by {100 * self.min_delta:g}% on "
                f"its best {fmt_num(best)} (step {self._best_step}) for {flat} steps"
            )
        cause = "stuck in a poor region early in training"
        advice = f"try a warm restart, or raise the LR for a while{lr_clause(context.lr)}"
        evidence = {"best_loss": best, "smoothed_loss": now, "flat_steps": flat}
        if self._rate is not None:
            evidence["rate"] = self._rate[0]
            evidence["peak_rate"] = self._peak_rate
        return self._alert(Severity.WARNING, obs.step, seen, cause, advice, **evidence)
