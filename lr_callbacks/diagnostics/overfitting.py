"""`overfitting`: validation loss rises while training loss falls (not an LR problem)."""

from __future__ import annotations

import math

from lr_callbacks.diagnostics.alert import Alert, Severity
from lr_callbacks.diagnostics.base import Rule
from lr_callbacks.diagnostics.context import NEVER, Observation, RunContext
from lr_callbacks.diagnostics.state import from_json_float, to_json_float
from lr_callbacks.diagnostics.text import fmt_num
from lr_callbacks.diagnostics.validate import check_float, check_int

_OWNER = "OverfittingRule"


class OverfittingRule(Rule):
    """Fires at an evaluation when validation loss keeps rising while training loss falls.

    All must hold: no new best validation loss for `patience` evaluations
    (Keras/Lightning patience, counted in evaluations); the validation loss is at
    least ``1 + min_rise`` x its best; the smoothed training loss fell by at least
    `min_train_drop` since the best evaluation. Not reported while the divergence
    or slow-progress rule fired since that best (then it is an LR problem). One
    alert until a new best.

    Args:
        patience: evaluations without a new best.
        min_rise: relative rise of validation loss over its best.
        min_train_drop: relative fall of the smoothed training loss since the best.

    Example:
        >>> from lr_callbacks.diagnostics.context import Observation, RunContext
        >>> rule, context, fired = OverfittingRule(), RunContext(), []
        >>> for step in range(1000):
        ...     context.advance(step, None, math.log(2.0 * 0.999 ** step))
        ...     if step % 100 == 99:
        ...         obs = Observation(step, math.nan)
        ...         obs.val_loss = 1.5 if step < 400 else 1.5 + step / 1000
        ...         fired += [a.step for a in rule.update(obs, context)]
        >>> fired
        [499]
    """

    name = "overfitting"
    on_finite = False
    on_eval = True
    _state_keys = ("best", "best_step", "ema_at_best", "wait", "armed")

    def __init__(self, patience: int = 3, min_rise: float = 0.05, min_train_drop: float = 0.02) -> None:
        self.patience = check_int(_OWNER, "patience", patience, 1)
        self.min_rise = check_float(_OWNER, "min_rise", min_rise, 0.0)
        self.min_train_drop = check_float(_OWNER, "min_train_drop", min_train_drop, 0.0, 1.0)
        self._log_rise = math.log(1.0 + self.min_rise)
        self._log_drop = math.log(1.0 - self.min_train_drop)
        self._best = math.inf
        self._best_step = NEVER
        self._ema_at_best = 0.0
        self._wait = 0
        self._armed = True

    def update(self, obs: Observation, context: RunContext) -> list[Alert]:
        """Judge one evaluation (``obs.val_loss``); training steps are ignored."""
        value = obs.val_loss
        if value is None or not math.isfinite(value) or context.num_obs == 0:
            return []
        val = math.log(value) if value > 1e-12 else math.log(1e-12)
        if val < self._best:
            self._best, self._best_step, self._wait = val, obs.step, 0
            self._ema_at_best, self._armed = context.ema, True
            return []
        self._wait += 1
        if not self._armed or self._wait < self.patience or val - self._best < self._log_rise:
            return []
        if context.ema - self._ema_at_best > self._log_drop or self._lr_problem(context):
            return []
        self._armed = False
        return [self._make(obs, context, value)]

    def _lr_problem(self, context: RunContext) -> bool:
        fired = context.fired
        return max(fired.get("divergence", NEVER), fired.get("slow_progress", NEVER)) >= (self._best_step)

    def _make(self, obs: Observation, context: RunContext, value: float) -> Alert:
        best = math.exp(self._best)
        train_then, train_now = math.exp(self._ema_at_best), math.exp(context.ema)
        seen = (
            f"validation loss {fmt_num(value)} is {value / best:.2f}x its best {fmt_num(best)} "
            f"(step {self._best_step}) while the training loss fell from {fmt_num(train_then)} "
            f"to {fmt_num(train_now)}"
        )
        cause = "overfitting: not an LR problem"
        advice = (
            f"stop training (the best model was at step {self._best_step}) or regularise: "
            "weight decay, dropout, data augmentation, more data; keep the LR as it is"
        )
        evidence = {"val_loss": value, "best_val_loss": best, "best_step": self._best_step}
        return self._alert(Severity.WARNING, obs.step, seen, cause, advice, **evidence)

    def state_dict(self) -> dict[str, object]:
        """Counters as strict JSON (None for a best not yet seen)."""
        state = super().state_dict()
        state["best"] = to_json_float(self._best)
        return state

    def load_state_dict(self, state: dict[str, object]) -> None:
        """Restore `state_dict` output; rejects missing or unknown keys by name."""
        super().load_state_dict(state)
        self._best = from_json_float(self._best, math.inf)
