"""`Monitor`: runs the rules over a stream of training observations."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from lr_callbacks.diagnostics.alert import Alert, Severity
from lr_callbacks.diagnostics.base import RuleProtocol
from lr_callbacks.diagnostics.context import Observation, RunContext
from lr_callbacks.diagnostics.rules import RULE_NAMES, default_rules
from lr_callbacks.diagnostics.state import check_state_keys
from lr_callbacks.diagnostics.validate import check_bool, check_int

_INF = math.inf
_log = math.log
_NEVER_DUE = 1 << 62
_LOG_FLOOR = math.log(1e-12)
_SEVERITIES = {s.value: s for s in Severity}
_STATE_KEYS = ("version", "context", "rules", "alerts", "stopped")


class Monitor:
    """Runs the diagnostic rules on each training step and sends their alerts to sinks.

    Call `observe` once per optimizer step (and `observe_eval` after each evaluation);
    named schedule events go in through `add_events`, while LR changes > 1.5x and the
    end of warmup are also derived from the observed LR of group 0. Non-finite
    steps reach only the rules that ask for them, so they never poison the
    statistics. Every alert is logged on ``lr_callbacks.alerts`` (see `LoggingSink`;
    ``log=False`` on non-zero ranks) and then sent to `sinks`; a failing sink never
    stops the run. `report` records an alert made elsewhere (e.g. another rank's stop).

    Stop policy: `should_stop` turns True once an alert matches `stop_on`; each
    entry is a rule name (``"nonfinite"``) or a severity (``"critical"``, meaning
    that severity or above).

    Args:
        rules: rule objects (default: one of each built-in rule with calibrated defaults).
        sinks: extra alert sinks (e.g. `JsonlSink`, `CallableSink`).
        stop_on: rule names and/or severities that set `should_stop`.
        total_steps: planned optimizer updates, when known (some rules use it).
        log: also log every alert on ``lr_callbacks.alerts`` (off on non-zero ranks).

    Example:
        >>> monitor = Monitor()
        >>> for step in range(3):
        ...     new = monitor.observe(step, [2.3, 2.2, float("nan")][step], lrs=[3e-3])
        >>> [(a.rule, a.step) for a in monitor.alerts], monitor.should_stop
        ([('nonfinite', 2)], True)
    """

    def __init__(
        self,
        rules: Iterable[RuleProtocol] | None = None,
        sinks: Iterable[Any] | None = None,
        stop_on: Iterable[str] = ("nonfinite",),
        total_steps: int | None = None,
        log: bool = True,
    ) -> None:
        from lr_callbacks.sinks import FanoutSink, LoggingSink

        chosen: list[RuleProtocol] = list(default_rules()) if rules is None else list(rules)
        self.rules = _check_rules(chosen)
        self.stop_on = _check_stop_on(stop_on, [r.name for r in self.rules])
        if total_steps is not None:
            check_int("Monitor", "total_steps", total_steps, 1)
        self.context = RunContext(total_steps)
        self.log = check_bool("Monitor", "log", log)
        self._sink = FanoutSink([*([LoggingSink()] if log else []), *(sinks or ())])
        self.alerts: list[Alert] = []
        self.should_stop = False
        self._obs = Observation()
        self._eval_obs = Observation()
        finite = [r for r in self.rules if getattr(r, "on_finite", True)]
        self._finite_updates = [r.update for r in finite if not hasattr(r, "due")]
        self._cadenced = [r for r in finite if hasattr(r, "due")]
        self._next_due = 0
        self._bad_updates = [r.update for r in self.rules if getattr(r, "on_nonfinite", True)]
        self._eval_updates = [r.update for r in self.rules if getattr(r, "on_eval", True)]

    def add_events(self, events: Iterable[Mapping[str, Any]]) -> None:
        """Add schedule events (dicts with step, kind, description, factor); duplicates are
        ignored, so re-adding the schedule's events after a resume is safe."""
        self.context.add_events([dict(e) for e in events])

    def observe(
        self,
        step: int,
        loss: float,
        lrs: Sequence[float] | float | None = None,
        grad_norm: float | None = None,
        batch_index: int | None = None,
    ) -> list[Alert]:
        """Feed one optimizer step; returns the alerts it triggered (usually none).

        Args:
            step: optimizer updates completed before this one (0-based).
            loss: this update's training loss (NaN/Inf is reported, never averaged in).
            lrs: the LR of each param group (a list, or one float); group 0 is watched.
            grad_norm: the global gradient norm, when known (NaN/Inf is reported).
            batch_index: the batch's index in its epoch, quoted by spike alerts.
        """
        obs, context = self._obs, self.context
        obs.step, obs.loss, obs.grad_norm, obs.batch_index = step, loss, grad_norm, batch_index
        lr: float | None
        if lrs is None or lrs.__class__ is float:
            lr = lrs
        else:
            lr = float(lrs) if isinstance(lrs, int | float) else lrs[0]
        obs.lr = lr
        new: list[Alert] = []
        if -_INF < loss < _INF and (grad_norm is None or -_INF < grad_norm < _INF):
            x = obs.log_loss = _log(loss) if loss > 1e-12 else _LOG_FLOOR
            context.advance(step, lr, x)
            context.last_finite_loss = loss
            context.last_finite_step = step
            for update in self._finite_updates:
                found = update(obs, context)
                if found:
                    new += found
            if step >= self._next_due:
                new += self._run_cadenced(obs)
        else:
            obs.log_loss = math.nan
            context.advance(step, lr, None)
            for update in self._bad_updates:
                new += update(obs, context)
        if new:
            self._emit(new)
        return new

    def _run_cadenced(self, obs: Observation) -> list[Alert]:
        """Rules with a `due` step (they check every N steps) are called only when due."""
        new: list[Alert] = []
        for rule in self._cadenced:
            new += rule.update(obs, self.context)
        self._next_due = min((rule.due for rule in self._cadenced), default=_NEVER_DUE)
        return new

    def observe_eval(self, step: int, metrics: Mapping[str, float]) -> list[Alert]:
        """Feed one evaluation, after `observe` of the same step; the validation loss is read
        from "val_loss" or "loss"."""
        value = metrics.get("val_loss", metrics.get("loss"))
        if value is None:
            raise ValueError(
                "Monitor.observe_eval: metrics must hold 'val_loss' or 'loss'; got "
                f"metrics keys={sorted(metrics)!r}. Pass the validation loss under 'val_loss'."
            )
        obs = self._eval_obs
        obs.step, obs.val_loss, obs.lr = step, float(value), self.context.lr
        new: list[Alert] = []
        for update in self._eval_updates:
            new += update(obs, self.context)
        if new:
            self._emit(new)
        return new

    def report(self, alert: Alert) -> None:
        """Record and send an alert raised outside the rules (e.g. another rank's stop)."""
        if not isinstance(alert, Alert):
            raise TypeError(f"Monitor.report: expected an Alert; got alert={alert!r}.")
        self._emit([alert])

    def _emit(self, new: list[Alert]) -> None:
        fired = self.context.fired
        for alert in new:
            self.alerts.append(alert)
            fired[alert.rule] = alert.step
            self._sink.emit(alert)
            if not self.should_stop and self._stops(alert):
                self.should_stop = True

    def _stops(self, alert: Alert) -> bool:
        if alert.rule in self.stop_on:
            return True
        return any(alert.severity.rank >= s.rank for s in self.stop_on.values() if s)

    def state_dict(self) -> dict[str, Any]:
        """Context, every rule's state and the alerts so far, as strict JSON."""
        return {
            "version": 1,
            "context": self.context.state_dict(),
            "rules": {rule.name: rule.state_dict() for rule in self.rules},
            "alerts": [alert.to_dict() for alert in self.alerts],
            "stopped": self.should_stop,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore `state_dict` output; the rules must be the same as when it was saved."""
        check_state_keys("Monitor", state, _STATE_KEYS)
        names = [rule.name for rule in self.rules]
        if sorted(state["rules"]) != sorted(names):
            raise ValueError(
                f"Monitor.load_state_dict: state holds rules {sorted(state['rules'])}; this "
                f"Monitor runs {sorted(names)}. Build the Monitor with the same rules."
            )
        self.context.load_state_dict(state["context"])
        for rule in self.rules:
            rule.load_state_dict(state["rules"][rule.name])
        self.alerts = [Alert.from_dict(a) for a in state["alerts"]]
        self._next_due = 0
        self.should_stop = bool(state["stopped"])

    def close(self) -> None:
        """Close every sink (flushes files)."""
        self._sink.close()


def _check_rules(rules: list[RuleProtocol]) -> list[RuleProtocol]:
    names = []
    for rule in rules:
        if not isinstance(rule, RuleProtocol):
            raise TypeError(
                f"Monitor: each rule needs name, update, state_dict and load_state_dict; got "
                f"rule={rule!r}. Subclass lr_callbacks.diagnostics.Rule."
            )
        names.append(rule.name)
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(
            f"Monitor: rule names must be unique; got rules named {duplicates!r} twice. "
            "Pass one rule per name."
        )
    return rules


def _check_stop_on(stop_on: Iterable[str], names: list[str]) -> dict[str, Severity | None]:
    if isinstance(stop_on, str):
        raise TypeError(
            f"Monitor: stop_on must be a list of names; got stop_on={stop_on!r}. "
            f"Write stop_on=({stop_on!r},)."
        )
    policy: dict[str, Severity | None] = {}
    for entry in stop_on:
        if entry not in _SEVERITIES and entry not in names and entry not in RULE_NAMES:
            raise ValueError(
                f"Monitor: stop_on entries must be rule names {sorted(names)} or severities "
                f"{sorted(_SEVERITIES)}; got stop_on entry {entry!r}. Fix the spelling."
            )
        policy[entry] = _SEVERITIES.get(entry)
    return policy
