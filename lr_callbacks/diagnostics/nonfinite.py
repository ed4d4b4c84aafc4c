"""`nonfinite`: the loss (or grad norm) is NaN or Inf."""

from __future__ import annotations

import math

from lr_callbacks.diagnostics.alert import Alert, Severity
from lr_callbacks.diagnostics.base import Rule, lr_event_within
from lr_callbacks.diagnostics.context import NEVER, Observation, RunContext
from lr_callbacks.diagnostics.text import describe_event, fmt_num, lr_clause
from lr_callbacks.diagnostics.validate import check_bool


class NonFiniteRule(Rule):
    """Fires at once, from step 0, on a NaN/Inf training loss, grad norm or val loss.

    One alert per run of consecutive non-finite steps (a NaN that stays NaN is one
    problem), severity critical. The Monitor stops on it by default.

    Args:
        check_grad_norm: also treat a non-finite grad norm as a fault.

    Example:
        >>> from lr_callbacks.diagnostics.context import Observation, RunContext
        >>> rule, context = NonFiniteRule(), RunContext()
        >>> [a.step for a in rule.update(Observation(7, float("nan"), 3e-3), context)]
        [7]
    """

    name = "nonfinite"
    on_finite = False
    on_nonfinite = True
    on_eval = True
    _state_keys = ("last_bad_step", "num_streaks")

    def __init__(self, check_grad_norm: bool = True) -> None:
        self.check_grad_norm = check_bool("NonFiniteRule", "check_grad_norm", check_grad_norm)
        self._last_bad_step = NEVER
        self._num_streaks = 0

    def update(self, obs: Observation, context: RunContext) -> list[Alert]:
        """Alert on the first step of each run of non-finite values."""
        if obs.val_loss is not None:
            return self._check_eval(obs, context)
        bad_loss = not math.isfinite(obs.loss)
        grad = obs.grad_norm
        bad_grad = self.check_grad_norm and grad is not None and not math.isfinite(grad)
        if not (bad_loss or bad_grad):
            return []
        continuing = context.last_finite_step < self._last_bad_step
        self._last_bad_step = obs.step
        if continuing:
            return []
        self._num_streaks += 1
        what = f"loss is {obs.loss}" if bad_loss else f"grad norm is {grad}"
        return [self._make(obs, context, what)]

    def _check_eval(self, obs: Observation, context: RunContext) -> list[Alert]:
        value = obs.val_loss
        if value is None or math.isfinite(value):
            return []
        return [self._make(obs, context, f"validation loss is {value}")]

    def _make(self, obs: Observation, context: RunContext, what: str) -> Alert:
        last = context.last_finite_loss
        seen = f"{what} at step {obs.step}"
        if last is not None:
            seen += f" (last finite loss {fmt_num(last)} at step {context.last_finite_step})"
        event = context.last_event
        kind, factor = (event or {}).get("kind"), (event or {}).get("factor") or 0.0
        if (
            event is not None
            and (kind == "restart" or factor > 1.0)
            and lr_event_within(context, obs.step, 200)
        ):
            # Only an LR increase (a restart, a jump up, the end of a warmup) can make it too high.
            cause = f"{describe_event(event, obs.step)}; the LR is likely too high after it"
        else:
            cause = "LR too high, a numerical overflow (fp16) or a corrupt batch"
        batch = "" if obs.batch_index is None else f" (batch index {obs.batch_index})"
        advice = (
            f"reduce the LR 3-10x{lr_clause(context.lr)}; check the batch at step "
            f"{obs.step}{batch} for corrupt values; add gradient clipping; under fp16 "
            "check the loss scaling or use bf16"
        )
        return self._alert(
            Severity.CRITICAL, obs.step, seen, cause, advice,
            loss=obs.loss, streak=self._num_streaks,
        )  # fmt: skip
