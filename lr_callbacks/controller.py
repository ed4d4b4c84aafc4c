"""The controller: the one engine every framework adapter drives.

Adapters translate framework events into calls here and carry the results back into
the framework's own controls; every decision (which LR, which alert, whether to
stop) is taken here, the same way in every framework.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .dashboards import LossSmoother, alert_level, is_metric_sink, update_metrics
from .diagnostics import EVENT_KINDS, RULE_NAMES, Alert, Monitor, Severity
from .schedules import BoundSchedule, Schedule, lint, parse
from .sinks import FanoutSink

logger = logging.getLogger("lr_callbacks")

ScheduleLike = str | Schedule | Callable[[float], float] | None

STATE_VERSION = 1
_LR_CHUNK = 256  # updates whose LRs are computed together (see Controller.lrs)


class StopTraining(RuntimeError):
    """Raised (when asked for) when the monitor decides to stop; carries the deciding ``Alert``."""

    def __init__(self, alert: Alert | None):
        self.alert = alert
        super().__init__(f"lr_callbacks stopped training: {alert.message if alert else 'stop requested'}")


def resolve_schedule(schedule: ScheduleLike) -> Schedule | Callable[[float], float] | None:
    """A spec string, a schedule spec, any ``t -> lr`` callable, or ``None`` (the user's own scheduler)."""
    if schedule is None or isinstance(schedule, Schedule):
        return schedule
    if isinstance(schedule, str):
        return parse(schedule)
    if callable(schedule):
        return schedule
    raise TypeError(
        f"LRCallback: schedule must be a spec string, a schedule, a callable t -> lr, or None; got "
        f"schedule={schedule!r}. Example: 'warmup_cosine(peak_lr=3e-4, warmup=0.05)'."
    )


class Controller:
    """Binds the schedule, sets per-group LRs, feeds the Monitor, decides when to stop.

    Args:
        schedule: a spec string, a ``Schedule``, a callable ``t -> lr``, or ``None`` to leave
            the LR to the user's own scheduler and only log and diagnose.
        rules: the diagnostics rules (default: every rule with its calibrated defaults).
        sinks: where alerts go (default: the ``lr_callbacks.alerts`` logger); metric sinks
            (``TensorBoardSink``, ``WandbSink``, ``JsonlMetricsSink``: see ``lr_callbacks.dashboards``)
            also get the LR, loss and alert level of every update. Only rank 0 uses them.
        stop_on: the rules whose alert stops training (default: ``nonfinite``).
        total_steps: the run's total optimizer updates, when the framework cannot tell.
        steps_per_epoch: optimizer updates per epoch, for lengths given in epochs.
    """

    def __init__(
        self,
        schedule: ScheduleLike = None,
        *,
        rules: Sequence[Any] | None = None,
        sinks: Sequence[Any] | None = None,
        stop_on: Sequence[str] = ("nonfinite",),
        total_steps: int | None = None,
        steps_per_epoch: int | None = None,
    ):
        self.schedule = resolve_schedule(schedule)
        self.total_steps = _check_optional_int("total_steps", total_steps)
        self.steps_per_epoch = _check_optional_int("steps_per_epoch", steps_per_epoch)
        self._rules, self._stop_on = rules, tuple(stop_on)
        Monitor(rules, sinks, self._stop_on)  # validate the arguments now, in the user's names
        # Metric sinks sit behind one fanout, which also takes their alerts: one failure report per sink.
        self._sinks = [sink for sink in sinks or () if not is_metric_sink(sink)]
        self._metrics = FanoutSink([sink for sink in sinks or () if is_metric_sink(sink)])
        self._smoother = LossSmoother()
        self._run_info: dict[str, Any] | None = None
        self.monitor: Monitor | None = None
        self.bound: Callable[[float], float] | None = None
        self.base_lrs: list[float] = [1.0]
        self._chunk: tuple[Any, list[float], int, list[tuple[float, ...]]] | None = None
        self.rank, self.world_size = 0, 1
        self._pending_state: Mapping[str, Any] | None = None
        self._pending_smoother: Sequence[Any] | None = None

    @property
    def is_main(self) -> bool:
        """Only rank 0 writes metrics and emits alerts."""
        return self.rank == 0

    def start(
        self,
        total_steps: int | None,
        steps_per_epoch: int | None,
        base_lrs: Sequence[float],
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        """Bind the schedule to the run (before update 0); user-given lengths win over the framework's."""
        self.rank, self.world_size = rank, world_size
        total = self.total_steps or total_steps
        per_epoch = self.steps_per_epoch or steps_per_epoch
        self.base_lrs = _check_base_lrs(base_lrs)
        self.bound = self._bind(total, per_epoch)
        # Each start is a fresh diagnosis, unless a state was loaded (a resume) before it.
        state = self._pending_state
        # Every rank runs the rules (a NaN on any rank must stop all); only rank 0 has sinks.
        sinks = [*self._sinks, self._metrics] if self.is_main else []
        self.monitor = Monitor(self._rules, sinks, self._stop_on, total_steps=total, log=self.is_main)
        if state is not None:
            self.monitor.load_state_dict(dict(state))
            self._pending_state = None
        if isinstance(self.bound, BoundSchedule):
            if total is not None:  # an open-ended run: the monitor derives LR changes from the LRs it sees
                # Events the rules have no use for (one-cycle's peak) stay out of the diagnosis.
                events = [e.to_dict() for e in self.bound.events(0, total) if e.kind in EVENT_KINDS]
                self.monitor.add_events(events)
            if self.is_main:
                for item in lint(self.bound):
                    logger.warning("lr_callbacks schedule lint [%s]: %s", item.code, item.message)
        self._smoother = LossSmoother()
        if self._pending_smoother is not None:  # the dashboards' smoothed loss goes on where it was
            self._smoother.mean, self._smoother.var = self._pending_smoother
            self._pending_smoother = None
        self._run_info = self._describe(total, per_epoch)
        if self.is_main:
            self._metrics.log_run(self._run_info)

    def _describe(self, total: int | None, per_epoch: int | None) -> dict[str, Any]:
        schedule = self.schedule
        spec = (
            schedule.to_spec() if isinstance(schedule, Schedule) else getattr(schedule, "__qualname__", None)
        )
        return {
            "schedule": spec, "total_steps": total, "steps_per_epoch": per_epoch,
            "base_lrs": list(self.base_lrs), "world_size": self.world_size,
        }  # fmt: skip

    def add_metric_sink(self, sink: Any) -> None:
        """Send every update's metrics and every alert to ``sink`` too (rank 0 only; any time).

        Raises:
            TypeError: ``sink`` has no ``log_metrics``, ``emit`` or ``close`` method.
        """
        if not all(callable(getattr(sink, m, None)) for m in ("log_metrics", "emit", "close")):
            raise TypeError(
                f"Controller.add_metric_sink: the sink needs log_metrics, emit and close methods; got "
                f"sink={sink!r}. Use a sink from lr_callbacks.dashboards."
            )
        self._metrics.sinks.append(sink)
        if self._run_info is not None and self.is_main:
            self._metrics.call("log_run", self._run_info, sinks=[sink])

    def _bind(self, total: int | None, per_epoch: int | None) -> Callable[[float], float] | None:
        if not isinstance(self.schedule, Schedule):
            return self.schedule
        try:
            return self.schedule.bind(total_steps=total, steps_per_epoch=per_epoch)
        except ValueError as error:
            # Name the callback's argument, not the schedule's bind(), in what the user can act on.
            if total is None and "total_steps=None" in str(error):
                raise ValueError(
                    f"LRCallback: the schedule {self.schedule.to_spec()} needs the run's total number of optimizer "
                    f"updates, and the framework cannot tell it (e.g. an iterable dataset or max_steps=-1); got "
                    f"total_steps=None. Pass LRCallback(..., total_steps=N)."
                ) from None
            if per_epoch is None and "steps_per_epoch=None" in str(error):
                raise ValueError(
                    f"LRCallback: the schedule {self.schedule.to_spec()} has lengths in epochs, and the framework "
                    f"cannot tell the optimizer updates per epoch; got steps_per_epoch=None. Pass "
                    f"LRCallback(..., steps_per_epoch=K)."
                ) from None
            raise

    def lrs(self, t: int) -> list[float] | None:
        """The LR of every param group for update ``t``, or ``None`` when the user schedules the LR.

        A built-in schedule is evaluated ``_LR_CHUNK`` updates at a time (the same scalar calls,
        so the same values): a training step evicts the schedule's code and data from the CPU's
        caches, and one call per update cost several times its warm cost.
        """
        chunk = self._chunk
        if chunk is not None and chunk[0] is self.bound and chunk[1] is self.base_lrs and t.__class__ is int:
            i = t - chunk[2]
            if 0 <= i < len(chunk[3]):
                return list(chunk[3][i])
        if self.bound is None:
            return None
        # Only a built-in schedule is pure, so safe to evaluate ahead (a user's callable may not be).
        if isinstance(self.bound, BoundSchedule) and t.__class__ is int:
            rows = self._lrs_ahead(t)
            if rows:
                self._chunk = (self.bound, self.base_lrs, t, rows)
                return list(rows[0])
        return self._group_lrs(t, float(self.bound(t)))

    def _group_lrs(self, t: int, lr: float) -> list[float]:
        if not math.isfinite(lr) or lr < 0:
            raise ValueError(
                f"LRCallback: the schedule must give a finite LR >= 0; got lr={lr!r} at step {t}."
            )
        if len(self.base_lrs) == 1:
            return [lr]
        reference = self.base_lrs[0]
        # Group 0 gets the schedule exactly; the others keep their ratio to it.
        return [lr, *(lr * base / reference for base in self.base_lrs[1:])]

    def _lrs_ahead(self, t: int) -> list[tuple[float, ...]]:
        """The rows of updates ``t, t+1, ...`` up to the chunk's end or the first that would raise."""
        bound, rows = self.bound, []
        assert bound is not None
        for step in range(t, t + _LR_CHUNK):
            try:
                rows.append(tuple(self._group_lrs(step, float(bound(step)))))
            except (ValueError, ArithmeticError):  # raised again, by the one-step path, at that update
                break
        return rows

    def _running(self) -> Monitor:
        if self.monitor is None:
            raise RuntimeError("LRCallback: training has not started; call start() before observing losses.")
        return self.monitor

    def observe(
        self,
        t: int,
        loss: float,
        lrs: Sequence[float] | None = None,
        grad_norm: float | None = None,
        batch_index: int | None = None,
    ) -> list[Alert]:
        """Record the loss of update ``t`` (and the LRs it used); returns the new alerts."""
        monitor = self.monitor if self.monitor is not None else self._running()
        new = monitor.observe(t, loss, lrs, grad_norm, batch_index)
        if self._metrics.sinks and self.rank == 0:
            self._metrics.log_metrics(t, update_metrics(loss, lrs, self._smoother, alert_level(new)))
        return new

    def observe_eval(self, t: int, metrics: Mapping[str, float]) -> list[Alert]:
        """Record evaluation metrics measured after update ``t``."""
        new = self._running().observe_eval(t, metrics) or []
        if self._metrics.sinks and self.is_main:
            values = {"val_loss": float(metrics.get("val_loss", metrics.get("loss", math.nan)))}
            if new:  # the update's own point already says 0 when the evaluation raised nothing
                values["alert_level"] = float(alert_level(new))
            self._metrics.log_metrics(t, values)
        return new

    @property
    def should_stop(self) -> bool:
        """This process's stop decision (adapters reduce it across ranks)."""
        return self.monitor is not None and bool(self.monitor.should_stop)

    @property
    def alerts(self) -> list[Alert]:
        """Every alert so far."""
        return list(self.monitor.alerts) if self.monitor is not None else []

    def stop_alert(self) -> Alert | None:
        """The alert that decided the stop, if any."""
        stops = [a for a in self.alerts if a.rule in self._stop_on]
        return stops[0] if stops else None

    def stop_code(self) -> tuple[int, int]:
        """``(code, step)`` of this rank's stop alert for a cross-rank reduction; ``(0, 0)`` if none.

        ``code`` is 1 + the index of the alert's rule in ``RULE_NAMES`` (unknown rules: ``len + 1``).
        """
        alert = self.stop_alert() if self.should_stop else None
        if alert is None:
            return (len(RULE_NAMES) + 1, 0) if self.should_stop else (0, 0)
        index = RULE_NAMES.index(alert.rule) if alert.rule in RULE_NAMES else len(RULE_NAMES)
        return index + 1, alert.step

    def decide_stop(self, rows: Sequence[Sequence[float]]) -> bool:
        """The run-wide stop from every rank's ``stop_code()`` (row ``r`` from rank ``r``).

        Adapters gather the rows with their framework's all-reduce; rank 0 reports the first
        rank that stopped when it did not stop itself.
        """
        stopped = [(rank, int(code), int(step)) for rank, (code, step) in enumerate(rows) if code > 0]
        if stopped:
            self.report_remote_stop(*stopped[0])
        return bool(stopped)

    def report_remote_stop(self, rank: int, code: int, step: int) -> None:
        """On rank 0: say which other rank stopped the run, and why (its own sinks stay silent)."""
        if not self.is_main or self.should_stop or self.monitor is None:
            return
        rule = RULE_NAMES[code - 1] if 0 < code <= len(RULE_NAMES) else "stop"
        alert = Alert(
            rule,
            Severity.CRITICAL,
            step,
            f"rank {rank} stopped training: its {rule} rule fired at step {step}",
            cause="seen on another process; every rank stops at the same step so that none waits forever",
            advice="look at that rank's data shard and loss at that step; if it is a NaN/Inf, reduce the LR "
            "3-10x or add gradient clipping",
            evidence={"rank": rank, "step": step},
        )
        self.monitor.report(alert)

    def state_dict(self) -> dict[str, Any]:
        """Strict-JSON state: the monitor's statistics and the dashboards' smoothed loss (the LR is
        recomputed from the step)."""
        monitor = self.monitor.state_dict() if self.monitor is not None else self._pending_state
        smoother = (
            [self._smoother.mean, self._smoother.var] if self.monitor is not None else self._pending_smoother
        )
        return {"version": STATE_VERSION, "monitor": monitor, "smoother": smoother}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what ``state_dict`` returned; rejects missing or unknown keys by name.

        ``smoother`` is optional: states saved before it existed resume with a fresh smoothed loss.
        """
        expected = {"version", "monitor"}
        missing, unknown = expected - set(state), set(state) - expected - {"smoother"}
        if missing or unknown:
            raise ValueError(
                f"Controller.load_state_dict: expected keys {sorted(expected)}; got missing={sorted(missing)}, "
                f"unknown={sorted(unknown)}. Pass the dict returned by state_dict()."
            )
        if state["version"] != STATE_VERSION:
            raise ValueError(
                f"Controller.load_state_dict: expected version={STATE_VERSION}; got "
                f"version={state['version']!r}. The checkpoint was written by another release."
            )
        smoother = state.get("smoother")
        if self.monitor is None:  # frameworks may restore callback state before training starts
            self._pending_state, self._pending_smoother = state["monitor"], smoother
        else:
            self.monitor.load_state_dict(dict(state["monitor"]))
            if smoother is not None:
                self._smoother.mean, self._smoother.var = smoother

    def close(self) -> None:
        """Flush and close every sink."""
        if self.monitor is not None:
            self.monitor.close()


def _check_base_lrs(base_lrs: Sequence[float]) -> list[float]:
    if not base_lrs:
        raise ValueError(
            "LRCallback: the optimizer has no param groups; got base_lrs=[]. Build the optimizer first."
        )
    reference = float(base_lrs[0])
    if not math.isfinite(reference) or reference <= 0:
        raise ValueError(
            f"LRCallback: param group 0 must start with a finite LR > 0 (the other groups keep their ratio to it); "
            f"got base_lrs={list(base_lrs)!r}. Give every group its initial LR when building the optimizer."
        )
    return [float(b) for b in base_lrs]


def _check_optional_int(name: str, value: int | None) -> int | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
        raise ValueError(
            f"LRCallback: {name} must be a positive int (optimizer updates) or None; got "
            f"{name}={value!r}. Count optimizer updates, not micro-batches."
        )
    return value
