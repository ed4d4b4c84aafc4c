"""Metric sinks: the LR curve beside the loss, at every update, in TensorBoard, W&B and JSON Lines.

A metric sink is an alert sink (``emit(alert)``, ``close()``) that also has
``log_metrics(step, metrics)`` and, optionally, ``log_run(info)``. The controller calls them
on rank 0 only: ``log_run`` once at train start (schedule spec, lengths, groups), then per
update ``lr/group{i}``, ``lr_log10/group{i}``, ``loss``, ``loss_smoothed`` with its band
``loss_smoothed/lower`` and ``loss_smoothed/upper`` (EMA ± 2 EMA-std), ``alert_level``
(0 none, 1 info, 2 warning, 3 error, 4 critical), and after an evaluation ``val_loss``.
Each sink prefixes the names with ``lr_callbacks/``.

The sinks are duck-typed: they call methods of a client they are given (a
``SummaryWriter`` or tensorboardX writer, a ``wandb`` run) and import no third-party
library, so the Lightning adapter can hand over ``TensorBoardLogger.experiment`` or
``WandbLogger.experiment`` as they are. A failing sink never stops training: the
controller runs them behind a `FanoutSink`, which reports each sink's first failure once.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import IO, Any

from lr_callbacks.diagnostics.alert import Alert
from lr_callbacks.sinks import format_alert

PREFIX = "lr_callbacks/"
WANDB_LEVELS = {"info": "INFO", "warning": "WARN", "error": "ERROR", "critical": "ERROR"}
ALERT_COLUMNS = ["step", "rule", "severity", "message", "cause", "advice"]
_log = logging.getLogger("lr_callbacks")


def is_metric_sink(sink: object) -> bool:
    """True when ``sink`` takes per-update metrics (it has ``log_metrics``)."""
    return callable(getattr(sink, "log_metrics", None))


def alert_level(alerts: Sequence[Alert]) -> int:
    """0 without alerts, else 1 + the highest severity rank (1 info .. 4 critical)."""
    return max((alert.severity.rank + 1 for alert in alerts), default=0)


class LossSmoother:
    """Exponential moving average of the loss and of its squared deviation (non-finite losses skipped).

    ``mean += alpha * (x - mean)``; ``var = (1 - alpha) * (var + alpha * (x - mean_old)**2)``;
    the band is ``mean ± width * sqrt(var)``. It starts at the first finite loss.

    Example:
        >>> smoother = LossSmoother(alpha=0.5)
        >>> [smoother.update(x)[0] for x in (4.0, 2.0, float("nan"), 2.0)]
        [4.0, 3.0, 3.0, 2.5]
    """

    def __init__(self, alpha: float = 0.1, width: float = 2.0) -> None:
        if not 0 < alpha <= 1:
            raise ValueError(f"LossSmoother: alpha must be in (0, 1]; got alpha={alpha!r}. Try 0.1.")
        self.alpha, self.width = alpha, width
        self.mean: float | None = None
        self.var = 0.0

    def update(self, loss: float) -> tuple[float, float, float] | None:
        """Feed one loss; returns ``(mean, lower, upper)``, or ``None`` before any finite loss."""
        if math.isfinite(loss):
            if self.mean is None:
                self.mean = loss
            else:
                diff = loss - self.mean
                self.mean += self.alpha * diff
                self.var = (1 - self.alpha) * (self.var + self.alpha * diff * diff)
        if self.mean is None:
            return None
        half = self.width * math.sqrt(self.var)
        return self.mean, self.mean - half, self.mean + half


def update_metrics(
    loss: float, lrs: Sequence[float] | None, smoother: LossSmoother, level: int
) -> dict[str, float]:
    """The metrics of one update, as the controller sends them to every metric sink."""
    metrics: dict[str, float] = {}
    for index, lr in enumerate(lrs or ()):
        metrics[f"lr/group{index}"] = float(lr)
        metrics[f"lr_log10/group{index}"] = math.log10(lr) if lr > 0 else math.nan
    metrics["loss"] = float(loss)
    smoothed = smoother.update(float(loss))
    if smoothed is not None:
        mean, lower, upper = smoothed
        metrics.update({"loss_smoothed": mean, "loss_smoothed/lower": lower, "loss_smoothed/upper": upper})
    metrics["alert_level"] = float(level)
    return metrics


def alert_markdown(alert: Alert) -> str:
    """An alert as Markdown for TensorBoard's Text tab: rule, step, message, cause, advice."""
    lines = [
        f"**{alert.rule}** ({alert.severity.value}) at step {alert.step}",
        "",
        f"- seen: {alert.message}",
    ]
    if alert.cause:
        lines.append(f"- cause: {alert.cause}")
    if alert.advice:
        lines.append(f"- advice: {alert.advice}")
    return "\n".join(lines)


def tensorboard_layout(prefix: str = PREFIX) -> dict[str, dict[str, list[Any]]]:
    """The Custom Scalars layout: LR (log10) and loss on one axis, the loss band, LR per group."""
    p = re.escape(prefix)
    return {
        prefix.rstrip("/"): {
            "LR (log10) and loss, one axis; alert level marks the alerts": [
                "Multiline",
                [
                    f"^{p}loss$",
                    f"^{p}loss_smoothed$",
                    f"^{p}val_loss$",
                    f"^{p}lr_log10/",
                    f"^{p}alert_level$",
                ],
            ],
            "Smoothed loss with its margin (EMA ± 2 std)": [
                "Margin",
                [f"{prefix}loss_smoothed", f"{prefix}loss_smoothed/lower", f"{prefix}loss_smoothed/upper"],
            ],
            "Learning rate per param group": ["Multiline", [f"^{p}lr/"]],
        }
    }


def _require(owner: str, name: str, client: object, methods: Sequence[str], fix: str) -> None:
    missing = [m for m in methods if not callable(getattr(client, m, None))]
    if missing:
        raise TypeError(f"{owner}: {name} needs the methods {list(methods)}; got {name}={client!r}. {fix}.")


class TensorBoardSink:
    """Writes the metrics as scalars, the Custom Scalars layout once, and each alert to the Text tab.

    Args:
        writer: a ``SummaryWriter`` (torch or tensorboardX), e.g. Lightning's
            ``TensorBoardLogger.experiment`` or HF's ``TensorBoardCallback.tb_writer``.
        close_writer: close the writer at ``close()`` (when this sink owns it); otherwise flush it.
        prefix: the tag prefix.
        step_offset: added to every step written, to share the host's axis (HF logs update ``t``
            at ``global_step = t + 1``).
    """

    def __init__(
        self, writer: Any, *, close_writer: bool = False, prefix: str = PREFIX, step_offset: int = 0
    ) -> None:
        _require("TensorBoardSink", "writer", writer, ("add_scalar", "add_text"), "Pass a SummaryWriter")
        self.writer, self.close_writer, self.prefix = writer, close_writer, prefix
        self.step_offset = step_offset
        self._layout_written = False

    def log_run(self, info: Mapping[str, Any]) -> None:
        """Record the schedule and run lengths as text at step 0."""
        rows = "\n".join(f"- {key}: {value}" for key, value in info.items())
        self.writer.add_text(self.prefix + "run", rows, 0)

    def log_metrics(self, step: int, metrics: Mapping[str, float]) -> None:
        """One scalar per metric at ``step``; the layout after the first ones."""
        for key, value in metrics.items():
            self.writer.add_scalar(self.prefix + key, value, step + self.step_offset)
        if not self._layout_written:
            self._layout_written = True
            if callable(getattr(self.writer, "add_custom_scalars", None)):
                self.writer.add_custom_scalars(tensorboard_layout(self.prefix))

    def emit(self, alert: Alert) -> None:
        """Add the alert to the Text tab and flush, so it is on disk at once."""
        self.writer.add_text(self.prefix + "alerts", alert_markdown(alert), alert.step + self.step_offset)
        self._flush()

    def _flush(self) -> None:
        if callable(getattr(self.writer, "flush", None)):
            self.writer.flush()

    def close(self) -> None:
        """Flush (or close, when the sink owns the writer)."""
        if self.close_writer and callable(getattr(self.writer, "close", None)):
            self.writer.close()
        else:
            self._flush()


class WandbSink:
    """Logs the metrics on one step axis, raises alerts with ``run.alert`` and keeps them in a table.

    Calls only ``run.define_metric``, ``run.log`` and ``run.alert`` (and ``run.finish`` when it
    owns the run). Every logged row carries the step under ``step_metric``: the host
    framework's key (Lightning ``"trainer/global_step"``, HF ``"train/global_step"``) or, by
    default, ``"lr_callbacks/step"``; ``lr_callbacks/*`` is defined against it. Each alert is
    raised with its W&B level (info INFO, warning WARN, error and critical ERROR), titled
    ``"lr_callbacks: <rule>"`` so that ``wait_duration`` throttles repeats of one rule, and logged
    as the table ``lr_callbacks/alerts`` (every alert so far), visible in an offline run too.

    Args:
        run: a ``wandb`` run (``wandb.run``, ``WandbLogger.experiment``...).
        step_metric: the step key to share, or ``None`` for ``"lr_callbacks/step"``.
        wait_duration: seconds W&B waits before notifying again about the same rule.
        table: the ``wandb.Table`` class (default: taken from the loaded ``wandb`` module).
        finish_run: call ``run.finish()`` at ``close()`` (when the sink owns the run).
        step_offset: added to every step logged (HF logs update ``t`` at ``t + 1``).
    """

    def __init__(
        self,
        run: Any,
        step_metric: str | None = None,
        *,
        wait_duration: float = 300.0,
        table: Any = None,
        finish_run: bool = False,
        prefix: str = PREFIX,
        step_offset: int = 0,
    ) -> None:
        _require("WandbSink", "run", run, ("define_metric", "log", "alert"), "Pass wandb.run or wandb.init()")
        if step_metric is not None and not isinstance(step_metric, str):
            raise TypeError(f"WandbSink: step_metric must be a str or None; got step_metric={step_metric!r}.")
        self.run, self.prefix, self.finish_run = run, prefix, finish_run
        self.own_step = step_metric is None
        self.step_metric = prefix + "step" if step_metric is None else step_metric
        self.wait_duration, self.step_offset = wait_duration, step_offset
        self.table = table if table is not None else getattr(sys.modules.get("wandb"), "Table", None)
        self.rows: list[list[Any]] = []
        self._defined = False

    def _define(self) -> None:
        if not self._defined:
            self._defined = True
            if self.own_step:
                self.run.define_metric(self.step_metric)
            self.run.define_metric(self.prefix + "*", step_metric=self.step_metric)

    def log_metrics(self, step: int, metrics: Mapping[str, float]) -> None:
        """One ``run.log`` per update: the metrics and the shared step."""
        self._define()
        row: dict[str, Any] = {self.prefix + key: value for key, value in metrics.items()}
        row[self.step_metric] = step + self.step_offset
        self.run.log(row)

    def emit(self, alert: Alert) -> None:
        """Log the alert table, then raise the alert."""
        self._define()
        data = alert.to_dict()
        self.rows.append([data[column] for column in ALERT_COLUMNS])
        if self.table is not None:
            table = self.table(columns=ALERT_COLUMNS, data=[list(row) for row in self.rows])
            self.run.log({self.prefix + "alerts": table, self.step_metric: alert.step + self.step_offset})
        title = f"lr_callbacks: {alert.rule}"[:63]
        level = WANDB_LEVELS[alert.severity.value]
        self.run.alert(title=title, text=format_alert(alert), level=level, wait_duration=self.wait_duration)

    def close(self) -> None:
        """Finish the run when the sink owns it."""
        if self.finish_run:
            self.run.finish()


def _json_value(value: float) -> float | str:
    # Strict JSON has no NaN/Inf; the readers parse these strings back.
    if math.isfinite(value):
        return value
    return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")


class JsonlMetricsSink:
    """Writes the run as JSON Lines that `lr-callbacks report` and `diagnose` read back.

    One object per line with a ``"type"``: ``"run"`` (schedule spec and lengths), ``"update"``
    (``step``, ``loss``, ``lr/group{i}``...), ``"eval"`` (``step``, ``val_loss``) and
    ``"alert"`` (the `Alert` fields, as `JsonlSink` writes them). Non-finite numbers are
    written as ``"NaN"``/``"Infinity"``. Alerts are flushed at once; updates every
    ``flush_every`` lines and at ``close()``.

    Args:
        path: the file to append to; its folder must exist.
        flush_every: flush after this many update lines.
    """

    def __init__(self, path: str | os.PathLike[str], *, flush_every: int = 100) -> None:
        if not isinstance(path, str | os.PathLike):
            raise TypeError(f"JsonlMetricsSink: path must be a str or path; got path={path!r}.")
        self.path, self.flush_every = os.fspath(path), flush_every
        self._file: IO[str] | None = None
        self._pending = 0

    def _write(self, record: Mapping[str, Any], flush: bool) -> None:
        if self._file is None:
            self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115
        self._file.write(json.dumps(record, allow_nan=False) + "\n")
        self._pending += 1
        if flush or self._pending >= self.flush_every:
            self._pending = 0
            self._file.flush()

    def log_run(self, info: Mapping[str, Any]) -> None:
        """The run's header line."""
        self._write({"type": "run", **info}, flush=True)

    def log_metrics(self, step: int, metrics: Mapping[str, float]) -> None:
        """One ``update`` (or ``eval``) line."""
        kind = "eval" if "val_loss" in metrics else "update"
        record = {"type": kind, "step": step, **{k: _json_value(v) for k, v in metrics.items()}}
        self._write(record, flush=False)

    def emit(self, alert: Alert) -> None:
        """One ``alert`` line, flushed."""
        self._write({"type": "alert", **alert.to_dict()}, flush=True)

    def close(self) -> None:
        """Flush and close (a later record reopens the file)."""
        if self._file is not None:
            file, self._file = self._file, None
            file.close()


def dashboard_sinks(
    *,
    writer: Any = None,
    tensorboard_dir: str | os.PathLike[str] | None = None,
    open_writer: Callable[[str], Any] | None = None,
    wandb_run: Any = None,
    wandb_step_metric: str | None = None,
    report_path: str | os.PathLike[str] | None = None,
) -> list[Any]:
    """The metric sinks an adapter's ``writer=``, ``tensorboard_dir=``, ``wandb_run=``, ``report_path=`` ask for.

    ``open_writer(log_dir)`` is the adapter's writer factory, called for ``tensorboard_dir``; a
    directory that cannot be written is logged once and training goes on without it.
    """
    sinks: list[Any] = []
    if writer is not None:
        sinks.append(TensorBoardSink(writer))
    if tensorboard_dir is not None and open_writer is not None:
        try:
            sinks.append(TensorBoardSink(open_writer(os.fspath(tensorboard_dir)), close_writer=True))
        except OSError as error:
            _log.error(
                "lr_callbacks: cannot write TensorBoard logs to %r (%s: %s); training goes on without them",
                os.fspath(tensorboard_dir), type(error).__name__, error,
            )  # fmt: skip
    if wandb_run is not None:
        sinks.append(WandbSink(wandb_run, wandb_step_metric))
    if report_path is not None:
        from lr_callbacks.run_report import RunRecorder

        sinks.append(RunRecorder(report_path))
    return sinks
