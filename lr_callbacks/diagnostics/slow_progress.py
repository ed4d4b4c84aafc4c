"""`slow_progress`: the loss falls far too slowly for the LR to be right."""

from __future__ import annotations

import math

from lr_callbacks.diagnostics.alert import Alert, Severity
from lr_callbacks.diagnostics.base import Rule
from lr_callbacks.diagnostics.context import NEVER, Observation, RunContext
from lr_callbacks.diagnostics.state import from_json_float, to_json_float
from lr_callbacks.diagnostics.text import fmt_num, lr_clause
from lr_callbacks.diagnostics.validate import check_float, check_int

_OWNER = "SlowProgressRule"
_DORMANT = 1 << 62


class SlowProgressRule(Rule):
    """Fires when the smoothed loss has barely dropped since shortly after warmup.

    The reference point is the smoothed loss `reference_steps` finite steps after
    warmup. From `min_steps` (and 5% of the planned steps, when known) on, every
    `check_every` steps, the drop since the reference must reach
    ``max(min_drop, drop_per_doubling * log2(step / reference_step))``: a healthy
    run's loss follows a power law and loses ~5% per doubling of steps; a far too
    low LR loses ~0.3% in 500 steps. Only while the LR is at least `min_lr_fraction`
    of its peak (a decayed LR is meant to be slow). Once the loss has dropped by
    `enough_drop`, the rule rests. It fires once; when the divergence rule fired
    before, it reports the collapse of a too-high LR instead of a too-low one.

    Args:
        min_steps: first step checked.
        min_drop: relative drop below which progress is too slow.
        drop_per_doubling: expected relative drop per doubling of the step.
        enough_drop: drop after which the rule stops checking.
        min_lr_fraction: LR / peak LR below which slowness is expected.
        reference_steps: finite steps after warmup where the reference is taken.
        check_every: steps between checks.
    """

    name = "slow_progress"
    _state_keys = ("due", "ref_step", "ref_ema", "first_step")

    def __init__(
        self,
        min_steps: int = 300,
        min_drop: float = 0.05,
        drop_per_doubling: float = 0.01,
        enough_drop: float = 0.2,
        min_lr_fraction: float = 0.5,
        reference_steps: int = 20,
        check_every: int = 50,
    ) -> None:
        self.min_steps = check_int(_OWNER, "min_steps", min_steps, 1)
        self.min_drop = check_float(_OWNER, "min_drop", min_drop, 0.0, 1.0)
        self.drop_per_doubling = check_float(_OWNER, "drop_per_doubling", drop_per_doubling, 0.0, 1.0)
        self.enough_drop = check_float(_OWNER, "enough_drop", enough_drop, self.min_drop, 1.0)
        self.min_lr_fraction = check_float(_OWNER, "min_lr_fraction", min_lr_fraction, 0.0, 1.0)
        self.reference_steps = check_int(_OWNER, "reference_steps", reference_steps, 1)
        self.check_every = check_int(_OWNER, "check_every", check_every, 1)
        self._due = 0
        self._ref_step: int | None = None
        self._ref_ema = 0.0
        self._first_step = NEVER

    @property
    def due(self) -> int:
        """The next step this rule needs to see; the Monitor skips calls before it."""
        return self._due

    def update(self, obs: Observation, context: RunContext) -> list[Alert]:
        """Check the drop of the smoothed loss every `check_every` steps."""
        step = obs.step
        if step < self._due:
            return []
        if self._first_step == NEVER:
            self._first_step = step
        if self._ref_step is None:
            self._take_reference(step, context)
            return []
        self._due = step + self.check_every
        drop = 1.0 - math.exp(context.ema - self._ref_ema)
        if drop >= self.enough_drop:
            self._due = _DORMANT
            return []
        if drop >= self._needed(step) or not self._lr_high(context):
            return []
        self._due = _DORMANT
        return [self._make(obs, context, drop)]

    def _take_reference(self, step: int, context: RunContext) -> None:
        if not context.warmed_up(step) or context.num_obs < self.reference_steps:
            self._due = step + 1
            return
        self._ref_step, self._ref_ema = step, context.ema
        start = max(self.min_steps, 2 * (step - self._first_step) + self._first_step)
        if context.total_steps is not None:
            start = max(start, context.total_steps // 20)
        self._due = start

    def _needed(self, step: int) -> float:
        assert self._ref_step is not None
        span = (step - self._first_step + 1) / (self._ref_step - self._first_step + 1)
        return max(self.min_drop, self.drop_per_doubling * math.log2(max(span, 1.0)))

    def _lr_high(self, context: RunContext) -> bool:
        if context.lr is None or context.peak_lr is None:
            return True
        return context.lr >= self.min_lr_fraction * context.peak_lr

    def _make(self, obs: Observation, context: RunContext, drop: float) -> Alert:
        now, then = math.exp(context.ema), math.exp(self._ref_ema)
        seen = (
            f"smoothed loss went from {fmt_num(then)} (step {self._ref_step}) to "
            f"{fmt_num(now)} (step {obs.step}): {100 * drop:.1f}% drop"
        )
        exploded = context.fired.get("divergence", NEVER)
        if exploded > NEVER:
            cause = f"the loss exploded (step {exploded}) and collapsed: the LR is too HIGH"
            advice = f"reduce the LR 3-10x{lr_clause(context.lr)}"
        else:
            cause = "LR too low, or a data-loading bug (labels, shuffling, frozen weights)"
            advice = (
                f"raise the LR 3-10x{lr_clause(context.lr)}; check the data pipeline "
                "(labels match inputs, shuffling, parameters not frozen, LR not 0)"
            )
        evidence = {"drop": drop, "reference_loss": then, "smoothed_loss": now}
        return self._alert(Severity.WARNING, obs.step, seen, cause, advice, **evidence)

    def state_dict(self) -> dict[str, object]:
        """Counters as strict JSON."""
        state = super().state_dict()
        state["ref_ema"] = to_json_float(self._ref_ema)
        return state

    def load_state_dict(self, state: dict[str, object]) -> None:
        """Restore `state_dict` output; rejects missing or unknown keys by name."""
        super().load_state_dict(state)
        self._ref_ema = from_json_float(self._ref_ema, 0.0)
