"""`oscillation`: the loss is noisier than the run's own history says is normal."""

from __future__ import annotations

import math

from lr_callbacks.diagnostics.alert import Alert, Severity
from lr_callbacks.diagnostics.base import RateLimiter, Rule
from lr_callbacks.diagnostics.context import NEVER, Observation, RunContext
from lr_callbacks.diagnostics.stats import residual_stats, window_sums
from lr_callbacks.diagnostics.text import lr_clause
from lr_callbacks.diagnostics.validate import check_float, check_int

_OWNER = "OscillationRule"
_HISTORY = 16


class OscillationRule(Rule):
    """Fires when the detrended log-loss is too spread for `consecutive` windows.

    Each window of `window` steps is fitted with a line; the std of the residuals
    (sigma_r, roughly the loss's coefficient of variation) measures the noise. The
    sign-change rate of differences cannot tell noise from health (it is ~2/3 in
    every run); sigma_r can: 0.1 at batch 64 against 0.5 at batch 2 in the
    reference calibration. A window is "noisy" when sigma_r > `max_residual_std`,
    or when it is `growth_ratio` x the median of the run's previous windows. The
    absolute test applies only while the smoothed loss is above `min_level_fraction`
    of its first value: once most samples are fitted, the per-batch loss is ruled by
    a few hard samples and its log spreads widely whatever the batch size (0.3-0.8
    in healthy batch-64 digit runs near 0.05 nats). The lag-1
    autocorrelation of the residuals says which remedy: strongly negative means
    an LR-driven back-and-forth (lower the LR), near zero means sampling noise
    (larger effective batch). Windows start after warmup and `min_history`
    steps, and skip `event_grace_steps` after each LR event.

    Args:
        window: steps per window.
        max_residual_std: absolute sigma_r above which a window is noisy.
        growth_ratio: sigma_r over the run's median that makes a window noisy.
        consecutive: noisy windows in a row that fire.
        min_history: finite observations before the first window.
        event_grace_steps: steps after an LR event that no window may include.
        cooldown_windows: base number of windows between two alerts.
        min_level_fraction: smoothed loss / first loss above which the absolute test holds.
        min_residual_std: sigma_r at or below which a window is never noisy (a loss that moves
            by 2% or less around its trend is not oscillating, whatever its history).
    """

    name = "oscillation"
    _state_keys = (
        "i", "start_step", "values", "history", "run", "limiter", "start_level",
    )  # fmt: skip

    def __init__(
        self,
        window: int = 100,
        max_residual_std: float = 0.3,
        growth_ratio: float = 2.0,
        consecutive: int = 3,
        min_history: int = 64,
        event_grace_steps: int = 64,
        cooldown_windows: int = 10,
        min_level_fraction: float = 0.25,
        min_residual_std: float = 0.02,
    ) -> None:
        self.window = check_int(_OWNER, "window", window, 8)
        self.max_residual_std = check_float(_OWNER, "max_residual_std", max_residual_std, 0.0)
        self.growth_ratio = check_float(_OWNER, "growth_ratio", growth_ratio, 1.0)
        self.consecutive = check_int(_OWNER, "consecutive", consecutive, 1)
        self.min_history = check_int(_OWNER, "min_history", min_history, 0)
        self.event_grace_steps = check_int(_OWNER, "event_grace_steps", event_grace_steps, 0)
        self.cooldown_windows = check_int(_OWNER, "cooldown_windows", cooldown_windows, 1)
        self._i = 0
        self._start_step = NEVER
        self._values = [0.0] * self.window
        self._history: list[float] = []
        self._run = 0
        self.min_residual_std = check_float(_OWNER, "min_residual_std", min_residual_std, 0.0)
        self.min_level_fraction = check_float(_OWNER, "min_level_fraction", min_level_fraction, 0.0, 1.0)
        self._log_level = math.log(self.min_level_fraction)
        self._limiter = RateLimiter(self.cooldown_windows * self.window)
        self._start_level: float | None = None

    def update(self, obs: Observation, context: RunContext) -> list[Alert]:
        """Store the log-loss in the current window; judge the window when it is full."""
        i = self._i
        if i == 0:
            if self._start_level is None:
                self._start_level = context.ema
            if context.num_obs <= self.min_history or not context.warmed_up(obs.step):
                return []
            self._start_step = obs.step
        self._values[i] = obs.log_loss
        i += 1
        if i < self.window:
            self._i = i
            return []
        self._i = 0
        return self._close(obs, context)

    def _close(self, obs: Observation, context: RunContext) -> list[Alert]:
        if context.last_event_step + self.event_grace_steps >= self._start_step:
            return []  # the window overlaps an LR event or the grace after it
        sigma, autocorr = residual_stats(self.window, *window_sums(self._values))
        history = self._history
        baseline = sorted(history)[len(history) // 2] if len(history) >= 4 else math.inf
        high = context.ema - (self._start_level or context.ema) >= self._log_level
        relative = sigma >= self.growth_ratio * baseline and sigma > self.min_residual_std
        noisy = (high and sigma > self.max_residual_std) or relative
        history.append(sigma)
        if len(history) > _HISTORY:
            del history[0]
        self._run = self._run + 1 if noisy else 0
        if self._run < self.consecutive or not self._limiter.allow(obs.step):
            return []
        return [self._make(obs, context, sigma, autocorr, baseline)]

    def _make(
        self, obs: Observation, context: RunContext, sigma: float, autocorr: float, base: float
    ) -> Alert:
        seen = (
            f"the loss is noisy: detrended log-loss std {sigma:.2f} over the last "
            f"{self._run} windows of {self.window} steps"
        )
        if math.isfinite(base):
            seen += f" (the run's usual level is {base:.2f})"
        if autocorr < -0.3:
            cause = f"the loss swings back and forth (lag-1 autocorrelation {autocorr:.2f})"
            cause += ": the LR is slightly too high"
            advice = f"lower the LR about 2x{lr_clause(context.lr)}"
        else:
            cause = "sampling noise: the batch is likely too small (the LR may be fine)"
            advice = (
                "use gradient accumulation for a larger effective batch, or lower the LR "
                f"slightly{lr_clause(context.lr)}"
            )
        evidence = {"residual_std": sigma, "autocorrelation": autocorr, "windows": self._run}
        if math.isfinite(base):
            evidence["usual_residual_std"] = base
        return self._alert(Severity.WARNING, obs.step, seen, cause, advice, **evidence)
